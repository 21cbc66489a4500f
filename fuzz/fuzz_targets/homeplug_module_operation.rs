//! The module MMEs (VS_MODULE_OPERATION, and the older VS_WR_MOD, VS_RD_MOD, VS_MOD_NVM),
//! requests and confirmations, from any payload: parsing never panics, and what parses re-emits
//! to a fixed point (the first byte picks the MMTYPE, the rest follows the Qualcomm OUI, so the
//! fuzzer spends its time inside the bodies).
#![no_main]

use homeplug::{MacAddr, Message, MmType, QUALCOMM_OUI, Repr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let mmtype = [
        MmType::VS_MODULE_OPERATION_REQ,
        MmType::VS_MODULE_OPERATION_CNF,
        MmType::VS_WR_MOD_REQ,
        MmType::VS_WR_MOD_CNF,
        MmType::VS_RD_MOD_REQ,
        MmType::VS_RD_MOD_CNF,
        MmType::VS_MOD_NVM_REQ,
        MmType::VS_MOD_NVM_CNF,
    ][usize::from(pick % 8)];
    let mut payload = QUALCOMM_OUI.to_vec();
    payload.extend_from_slice(rest);
    let Ok(message) = Message::parse(mmtype, &payload) else {
        return;
    };
    assert!(!matches!(message, Message::Unknown { .. }));
    let repr = Repr::new(MacAddr::QCA_LOCAL, MacAddr([2, 0, 0, 0, 0, 1]), message);
    let bytes = repr.to_bytes();
    let again = Repr::parse_bytes(&bytes).expect("an emitted frame parses");
    assert_eq!(again, repr);
    assert_eq!(again.to_bytes(), bytes);
});
