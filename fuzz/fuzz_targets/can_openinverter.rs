//! Any frame (2 bytes of identifier, then up to 8 data bytes): the openinverter BMS decoder and
//! the BMS reader never panic, and what decodes re-emits to a fixed point.
#![no_main]

use std::time::Duration;

use devices_can::{BmsProtocol, BmsReader, CanFrame, openinverter};
use libfuzzer_sys::fuzz_target;
use units::Timestamp;

fuzz_target!(|data: &[u8]| {
    let Some((id, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    // Mostly our two identifiers, sometimes any.
    let raw = u16::from_le_bytes(*id);
    let id = if raw & 0x8000 != 0 {
        raw & 0x7FF
    } else {
        0x1F4 + (raw & 1)
    };
    let Ok(frame) = CanFrame::standard(id, &rest[..rest.len().min(8)]) else {
        return;
    };
    let mut reader = BmsReader::new(
        BmsProtocol::OpenInverter {
            pdo_base: openinverter::PDO_BASE,
        },
        Duration::from_secs(2),
    );
    let _ = reader.handle_frame(Timestamp::from_unix_secs(1), &frame);
    let _ = reader.state_at(Timestamp::from_unix_secs(5));
    let Ok(repr) = openinverter::Repr::parse(&frame, openinverter::PDO_BASE) else {
        return;
    };
    let emitted = repr.emit(openinverter::PDO_BASE);
    assert_eq!(emitted.id(), frame.id());
    let again = openinverter::Repr::parse(&emitted, openinverter::PDO_BASE)
        .expect("an emitted frame parses");
    assert_eq!(again, repr);
});
