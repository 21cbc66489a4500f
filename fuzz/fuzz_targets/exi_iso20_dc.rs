//! Decoding arbitrary bytes as a `iso20-dc` document never panics nor hangs; whatever decodes
//! re-encodes, and decodes again to the same value. Decoding into the document the previous
//! input left (whatever root it has, even after a failed decode) gives the same result as a
//! fresh decode, error included: nothing of an earlier message survives.
#![no_main]

use std::sync::Mutex;

use libfuzzer_sys::fuzz_target;
use v2g_messages::iso20::dc as schema;

/// The document the previous input was decoded into.
static PREVIOUS: Mutex<Option<schema::Document>> = Mutex::new(None);

fuzz_target!(|data: &[u8]| {
    let fresh = schema::decode(data);
    let mut previous = PREVIOUS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(reused) = previous.as_mut() {
        let into = schema::decode_into(data, reused);
        assert_eq!(into.as_ref().err(), fresh.as_ref().err());
        if let Ok(doc) = &fresh {
            assert_eq!(reused, doc);
        }
    }
    if let Ok(doc) = fresh {
        let bytes = schema::encode(&doc).expect("a decoded document re-encodes");
        assert_eq!(
            schema::decode(&bytes).expect("re-encoded bytes decode"),
            doc
        );
        if previous.is_none() {
            *previous = Some(doc);
        }
    }
});
