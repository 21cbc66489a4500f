//! The car's state machine fed arbitrary frames, control-pilot events and time: it never
//! panics, and its deadlines never lie in the past after a timeout was handled.
#![no_main]

use std::time::Duration;

use homeplug::MacAddr;
use libfuzzer_sys::fuzz_target;
use slac::{Ev, EvConfig};
use units::Timestamp;

fuzz_target!(|data: &[u8]| {
    let mut now = Timestamp::from_unix_secs(1_750_000_000);
    let mut ev = Ev::new(EvConfig::new(MacAddr([2, 0, 0, 0, 0, 2]), [0; 32]));
    ev.handle_start(now);
    // Input: a sequence of records `op, len, bytes[len]`.
    let mut rest = data;
    while let [op, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (chunk, tail) = tail.split_at(n);
        rest = tail;
        match op % 8 {
            0 => ev.handle_start(now),
            1 => ev.handle_stop(),
            2 => now += Duration::from_millis(u64::from(*len) * 10),
            _ => {
                // Frames come from a charger at 02:00:00:00:00:01 often enough to reach deep states.
                let mut frame = chunk.to_vec();
                if op % 8 == 3 && frame.len() >= 12 {
                    frame[..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
                    frame[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
                }
                ev.handle_frame(now, &frame);
            }
        }
        if ev.poll_timeout().is_some_and(|t| t <= now) {
            ev.handle_timeout(now);
            // Otherwise a driver would spin.
            assert!(ev.poll_timeout().is_none_or(|t| t > now));
        }
        while let Some(repr) = ev.poll_transmit() {
            let _ = repr.to_bytes();
        }
        while ev.poll_event().is_some() {}
    }
});
