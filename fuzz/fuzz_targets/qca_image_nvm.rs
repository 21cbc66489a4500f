//! Any bytes as an NVM file or flash dump: parsing never panics; what parses re-emits byte for
//! byte, splits and merges back to itself; every chain a scan finds is a chain file of its own.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qca_image::{Chain, FlashLayout, merge};

fuzz_target!(|data: &[u8]| {
    if let Ok(chain) = Chain::parse(data) {
        assert_eq!(chain.to_bytes(), data);
        let parts = chain.split();
        // A chain's links are canonical once parsed strictly, so merge restores it.
        assert_eq!(merge(&parts).expect("split parts merge"), data);
    }
    if let Ok((chain, len)) = Chain::parse_prefix(data) {
        assert!(len <= data.len());
        assert_eq!(chain.len(), len);
        let _ = chain.check();
    }
    let _ = merge(&[data, data]);
    for found in FlashLayout::scan(data).chains {
        let file = found.to_file().expect("a found chain fits 32-bit offsets");
        let (again, len) = Chain::parse_prefix(&file).expect("a found chain re-parses");
        assert_eq!(len, file.len());
        assert_eq!(again.modules.len(), found.chain.modules.len());
    }
});
