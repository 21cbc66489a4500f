//! Any frame (2 bytes of identifier, then up to 8 data bytes): the Pylontech / SMA low-voltage
//! decoder, the BMS reader and the Pylontech emulation never panic, and what decodes re-emits to
//! a fixed point.
#![no_main]

use std::time::Duration;

use devices_can::{BmsProtocol, BmsReader, CanFrame, Emulation, Pylontech, Rating, pylontech};
use libfuzzer_sys::fuzz_target;
use units::{Amps, Timestamp, Volts};

fuzz_target!(|data: &[u8]| {
    let Some((id, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    // Mostly the protocol's identifiers (0x350–0x35F, 0x305), sometimes any.
    let raw = u16::from_le_bytes(*id);
    let id = match raw >> 14 {
        0 => 0x305,
        1 | 2 => 0x350 + (raw & 0xF),
        _ => raw & 0x7FF,
    };
    let Ok(frame) = CanFrame::standard(id, &rest[..rest.len().min(8)]) else {
        return;
    };
    let now = Timestamp::from_unix_secs(1);
    let mut reader = BmsReader::new(BmsProtocol::Pylontech, Duration::from_secs(2));
    let _ = reader.handle_frame(now, &frame);
    let _ = reader.state_at(now);
    let mut emulation = Pylontech::new(
        Rating {
            max_voltage: Volts(53.2),
            min_voltage: Volts(44.8),
            max_current: Amps(100.0),
            capacity_wh: 4800,
            source_timeout: Duration::from_secs(5),
        },
        now,
    );
    let _ = emulation.handle_frame(now, &frame);
    emulation.handle_timeout(now);
    while emulation.poll_transmit().is_some() {}
    let Ok(repr) = pylontech::Repr::parse(&frame) else {
        return;
    };
    let emitted = repr.emit();
    assert_eq!(emitted.id(), frame.id());
    let again = pylontech::Repr::parse(&emitted).expect("an emitted frame parses");
    assert_eq!(again, repr);
    assert_eq!(again.emit(), emitted);
});
