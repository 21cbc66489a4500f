//! The charger's session fed a valid session's start (a recorded session of our car, up to a
//! point chosen by the input) and then arbitrary bytes, frames, time and connection closes: it
//! never panics, its deadlines lie after `now` once handled, a closed session demands nothing,
//! and every frame it sends decodes and re-encodes to the same bytes.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use units::Timestamp;
use v2g::Protocol;
use v2g::charger::Demand;
use v2g::evcc::EvccConfig;
use v2g::secc::{Secc, SeccConfig};
use v2g::sim::{Direction, Pair, Station};
use v2g::transcript::Transcript;
use v2g::wire::{Frame, Packet, PayloadType};

const PROTOCOLS: [Protocol; 3] = [Protocol::Din, Protocol::Iso2, Protocol::Iso20Dc];

fn start() -> Timestamp {
    Timestamp::from_unix_secs(1_750_000_000)
}

/// Timed frames of one session.
type Frames = Vec<(Timestamp, Vec<u8>)>;

/// Our car's requests in a complete session of each protocol, with when they arrived.
fn recorded() -> &'static [Frames; 3] {
    static RECORDED: OnceLock<[Frames; 3]> = OnceLock::new();
    RECORDED.get_or_init(|| {
        PROTOCOLS.map(|p| {
            let evcc = EvccConfig {
                protocols: vec![p],
                max_cycles: Some(3),
                ..EvccConfig::default()
            };
            let mut pair = Pair::new(SeccConfig::default(), evcc, [1; 32], start());
            pair.run(Duration::from_secs(60));
            pair.arrivals(Direction::ToCharger)
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let [p, k, rest @ ..] = data else { return };
    let p = usize::from(*p) % 3;
    let requests = &recorded()[p];
    let k = usize::from(*k) % (requests.len() + 1);
    let mut secc = Secc::new(Arc::new(SeccConfig::default()), [1; 32], start());
    let mut station = Station::default();
    let mut now = start();
    let mut sent = Vec::new();
    let mut feed = |secc: &mut Secc, station: &mut Station, now: Timestamp, bytes: &[u8]| {
        let status = station.status(now);
        secc.handle_data(now, bytes, &status);
        station.apply(now, secc.demand());
        while let Some(b) = secc.poll_transmit() {
            sent.push(b);
        }
    };
    for (t, bytes) in &requests[..k] {
        now = *t;
        feed(&mut secc, &mut station, now, bytes);
    }
    // Records `op, len, bytes[len]`.
    let mut rest = rest;
    while let [op, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (chunk, tail) = tail.split_at(n);
        rest = tail;
        match op % 6 {
            0 => feed(
                &mut secc,
                &mut station,
                now,
                &Frame::new(PayloadType::Exi, chunk.to_vec()).to_bytes(),
            ),
            1 => feed(
                &mut secc,
                &mut station,
                now,
                &Frame::new(PayloadType::Iso20Main, chunk.to_vec()).to_bytes(),
            ),
            2 => feed(
                &mut secc,
                &mut station,
                now,
                &Frame::new(PayloadType::Iso20Dc, chunk.to_vec()).to_bytes(),
            ),
            3 => feed(&mut secc, &mut station, now, chunk),
            4 => now += Duration::from_millis(u64::from(*len) * 100),
            _ => secc.handle_close(now),
        }
        if secc.poll_timeout().is_some_and(|t| t <= now) {
            secc.handle_timeout(now);
            assert!(secc.poll_timeout().is_none_or(|t| t > now));
        }
        if secc.is_closed() {
            assert_eq!(secc.demand(), Demand::OFF);
        }
        while secc.poll_event().is_some() {}
    }
    // Whatever the charger sent is a valid message of the session.
    let mut transcript = Transcript::new();
    for (_, req) in &requests[..k.min(1)] {
        let p = Packet::new_checked(&req[..]).unwrap();
        let _ = transcript.decode(&Frame::new(p.payload_type(), p.payload().to_vec()));
    }
    for bytes in sent {
        let p = Packet::new_checked(&bytes[..]).expect("whole frames");
        let frame = Frame::new(p.payload_type(), p.payload().to_vec());
        if let Ok(m) = transcript.decode(&frame) {
            assert_eq!(v2g_messages::encode(&m.document).unwrap(), frame.payload);
        }
    }
});
