//! Decoding arbitrary bytes as a `handshake` document never panics nor hangs; whatever decodes
//! re-encodes, and decodes again to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use v2g_messages::app_handshake as schema;

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = schema::decode(data) {
        let bytes = schema::encode(&doc).expect("a decoded document re-encodes");
        assert_eq!(
            schema::decode(&bytes).expect("re-encoded bytes decode"),
            doc
        );
    }
});
