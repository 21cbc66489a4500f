//! Decoding arbitrary bytes as a `iso20` document never panics nor hangs; whatever decodes
//! re-encodes, and decodes again to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use v2g_messages::iso20::common_messages as schema;

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = schema::decode(data) {
        let bytes = schema::encode(&doc).expect("a decoded document re-encodes");
        assert_eq!(
            schema::decode(&bytes).expect("re-encoded bytes decode"),
            doc
        );
    }
});
