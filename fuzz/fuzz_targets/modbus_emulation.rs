//! Any request to the DTSU666-H emulation (unit, function, address, count, source age, source
//! values): never panics; an answer has exactly the registers asked for; only unit 11 is
//! answered, and only from a fresh source.
#![no_main]

use std::time::Duration;

use devices::Stamped;
use devices_modbus::emulation::{Answer, Emulator, Silence};
use devices_modbus::model::{Field, MeterValues, Model};
use devices_modbus::{Request, Response};
use libfuzzer_sys::fuzz_target;
use units::Timestamp;

const FIELDS: [Field; 6] = [
    Field::Power,
    Field::PowerL1,
    Field::VoltageL1,
    Field::CurrentL2,
    Field::Frequency,
    Field::ImportKwh,
];

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let unit = data[0];
    let addr = u16::from_be_bytes([data[1], data[2]]);
    let count = u16::from_be_bytes([data[3], data[4]]);
    let age = Duration::from_millis(u64::from(u16::from_be_bytes([data[5], data[6]])));
    let request = if data[7] & 1 == 0 {
        Request::ReadHoldingRegisters(addr, count)
    } else {
        Request::ReadInputRegisters(addr, count)
    };
    let mut values = MeterValues::default();
    for (f, c) in FIELDS.iter().zip(data[8..].chunks_exact(4)) {
        values.set(*f, f64::from(f32::from_be_bytes([c[0], c[1], c[2], c[3]])));
    }
    let emulator = Emulator::new(
        Model::builtin("dtsu666-h").expect("built-in"),
        11,
        Duration::from_secs(5),
    );
    let now = Timestamp::from_unix_secs(1000);
    let source = Some(Stamped::new(now - age, values));
    match emulator.handle(now, unit, &request, source) {
        Answer::Respond(Response::ReadHoldingRegisters(w)) => {
            assert_eq!(unit, 11);
            assert!(age <= Duration::from_secs(5));
            assert_eq!(w.len(), usize::from(count));
        }
        Answer::Respond(other) => panic!("unexpected response {other:?}"),
        Answer::Silent(Silence::OtherUnit) => assert_ne!(unit, 11),
        Answer::Silent(Silence::SourceStale) => assert!(age > Duration::from_secs(5)),
        Answer::Exception(_) => {}
    }
});
