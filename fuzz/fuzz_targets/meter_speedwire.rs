//! Any datagram to the SMA Speedwire decoder: parsing never panics; a parsed meter datagram
//! re-emits to bytes that parse to the same datagram, and its reading never panics either.
#![no_main]

use devices_meters::speedwire::{Datagram, EmReading, Message, Repr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let view = Datagram::new_unchecked(data);
    let _ = (view.group(), view.serial(), view.channels().count());
    let Ok(Message::Emeter(repr)) = Repr::parse_bytes(data) else {
        return;
    };
    let bytes = repr.to_bytes();
    assert_eq!(Repr::parse_bytes(&bytes), Ok(Message::Emeter(repr.clone())));
    let _ = EmReading::from_repr(&repr).grid_reading(repr.serial);
});
