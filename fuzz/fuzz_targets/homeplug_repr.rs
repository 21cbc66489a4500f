//! Any bytes: parsing never panics, and what parses re-emits to a fixed point.
#![no_main]

use homeplug::{Frame, Message, Repr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(repr) = Repr::parse_bytes(data) else {
        return;
    };
    let bytes = repr.to_bytes();
    assert_eq!(bytes.len(), repr.buffer_len());
    let again = Repr::parse_bytes(&bytes).expect("an emitted frame parses");
    // Unknown payloads absorb the padding, so only known messages compare equal as values.
    if !matches!(repr.message, Message::Unknown { .. }) {
        assert_eq!(again, repr);
    }
    assert_eq!(again.to_bytes(), bytes);
    let frame = Frame::new_checked(&bytes[..]).expect("an emitted frame is long enough");
    assert_eq!(frame.mmtype(), repr.message.mmtype());
});
