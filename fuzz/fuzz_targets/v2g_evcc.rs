//! The car's session fed our charger's responses of a recorded session up to a point chosen by
//! the input, then arbitrary bytes, frames, time and closes: it never panics, its deadlines lie
//! after `now` once handled, and once it ends it has a summary and sends nothing more.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use units::Timestamp;
use v2g::Protocol;
use v2g::evcc::{Evcc, EvccConfig};
use v2g::secc::SeccConfig;
use v2g::sim::{Direction, Pair};
use v2g::wire::{Frame, PayloadType};

const PROTOCOLS: [Protocol; 3] = [Protocol::Din, Protocol::Iso2, Protocol::Iso20Dc];

fn start() -> Timestamp {
    Timestamp::from_unix_secs(1_750_000_000)
}

fn config(p: Protocol) -> EvccConfig {
    EvccConfig {
        protocols: vec![p],
        max_cycles: Some(3),
        ..EvccConfig::default()
    }
}

/// Timed frames of one session.
type Frames = Vec<(Timestamp, Vec<u8>)>;

/// The charger's responses in a complete session of each protocol, with when they arrived.
fn recorded() -> &'static [Frames; 3] {
    static RECORDED: OnceLock<[Frames; 3]> = OnceLock::new();
    RECORDED.get_or_init(|| {
        PROTOCOLS.map(|p| {
            let mut pair = Pair::new(SeccConfig::default(), config(p), [1; 32], start());
            pair.run(Duration::from_secs(60));
            pair.arrivals(Direction::ToCar)
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let [p, k, rest @ ..] = data else { return };
    let p = usize::from(*p) % 3;
    let responses = &recorded()[p];
    let k = usize::from(*k) % (responses.len() + 1);
    let mut evcc = Evcc::new(config(PROTOCOLS[p]), start());
    let mut now = start();
    for (t, bytes) in &responses[..k] {
        // Requests go out on time, as the driver would send them.
        while evcc.poll_timeout().is_some_and(|d| d <= *t) && !evcc.is_closed() {
            let d = evcc.poll_timeout().unwrap();
            evcc.handle_timeout(d);
        }
        now = *t;
        evcc.handle_data(now, bytes);
        while evcc.poll_transmit().is_some() {}
    }
    let mut rest = rest;
    while let [op, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (chunk, tail) = tail.split_at(n);
        rest = tail;
        let frame = |t| Frame::new(t, chunk.to_vec()).to_bytes();
        match op % 6 {
            0 => evcc.handle_data(now, &frame(PayloadType::Exi)),
            1 => evcc.handle_data(now, &frame(PayloadType::Iso20Main)),
            2 => evcc.handle_data(now, &frame(PayloadType::Iso20Dc)),
            3 => evcc.handle_data(now, chunk),
            4 => now += Duration::from_millis(u64::from(*len) * 10),
            _ => evcc.handle_close(now),
        }
        if evcc.poll_timeout().is_some_and(|t| t <= now) {
            evcc.handle_timeout(now);
            assert!(evcc.poll_timeout().is_none_or(|t| t > now));
        }
        while evcc.poll_transmit().is_some() {}
        while evcc.poll_event().is_some() {}
        if evcc.is_closed() {
            assert!(evcc.summary().is_some());
            assert!(evcc.poll_timeout().is_none());
        }
    }
});
