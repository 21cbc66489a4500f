//! Any register words as the answer to every built-in model's reads: decoding never panics,
//! gives only finite values, and what decodes serves (as the DTSU666-H emulation) without
//! panicking, with exactly the registers asked for.
#![no_main]

use std::time::Duration;

use devices::Stamped;
use devices_modbus::emulation::{Answer, Emulator};
use devices_modbus::model::{BUILTIN, Model};
use devices_modbus::{Request, Response};
use libfuzzer_sys::fuzz_target;
use units::Timestamp;

fuzz_target!(|data: &[u8]| {
    let words: Vec<u16> = data
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    let emulator = Emulator::new(
        Model::builtin("dtsu666-h").expect("built-in"),
        11,
        Duration::from_secs(5),
    );
    for (name, _) in BUILTIN {
        let model = Model::builtin(name).expect("built-in");
        let reads = model.reads();
        // Cut the words into the blocks, the last one possibly short.
        let mut rest = &words[..];
        let blocks: Vec<Vec<u16>> = reads
            .iter()
            .map(|r| {
                let n = rest.len().min(usize::from(r.count));
                let (b, tail) = rest.split_at(n);
                rest = tail;
                b.to_vec()
            })
            .collect();
        let Ok(values) = model.decode(&reads, &blocks) else {
            continue;
        };
        let _ = values.grid_reading();
        let now = Timestamp::from_unix_secs(1);
        for (addr, count) in [(2001, 1), (2102, 80), (2214, 10)] {
            match emulator.handle(
                now,
                11,
                &Request::ReadHoldingRegisters(addr, count),
                Some(Stamped::new(now, values)),
            ) {
                Answer::Respond(Response::ReadHoldingRegisters(w)) => {
                    assert_eq!(w.len(), usize::from(count));
                }
                other => panic!("the inverter's poll {addr}x{count} got {other:?}"),
            }
        }
    }
});
