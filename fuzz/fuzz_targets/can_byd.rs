//! Any frame (2 bytes of identifier, then up to 8 data bytes): the BYD HVS decoder and the BYD
//! emulation never panic, and what decodes re-emits to a fixed point.
#![no_main]

use std::time::Duration;

use devices_can::{BydHvs, CanFrame, Emulation, Rating, byd};
use libfuzzer_sys::fuzz_target;
use units::{Amps, Timestamp, Volts};

/// Every identifier of the protocol, both directions.
const IDS: [u16; 13] = [
    0x110, 0x150, 0x190, 0x1D0, 0x210, 0x250, 0x290, 0x2D0, 0x3D0, 0x151, 0x091, 0x0D1, 0x111,
];

fuzz_target!(|data: &[u8]| {
    let Some((id, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let raw = u16::from_le_bytes(*id);
    let id = if raw & 0x8000 != 0 {
        raw & 0x7FF
    } else {
        IDS[usize::from(raw) % IDS.len()]
    };
    let Ok(frame) = CanFrame::standard(id, &rest[..rest.len().min(8)]) else {
        return;
    };
    let now = Timestamp::from_unix_secs(1);
    let mut emulation = BydHvs::new(Rating {
        max_voltage: Volts(400.0),
        min_voltage: Volts(300.0),
        max_current: Amps(20.0),
        capacity_wh: 25_500,
        source_timeout: Duration::from_secs(5),
    });
    let _ = emulation.handle_frame(now, &frame);
    emulation.handle_timeout(now);
    while emulation.poll_transmit().is_some() {}
    let _ = emulation.poll_timeout();
    let Ok(repr) = byd::Repr::parse(&frame) else {
        return;
    };
    let emitted = repr.emit();
    assert_eq!(emitted.id(), frame.id());
    let again = byd::Repr::parse(&emitted).expect("an emitted frame parses");
    assert_eq!(again, repr);
    assert_eq!(again.emit(), emitted);
});
