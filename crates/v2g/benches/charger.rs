//! How long the charger's session takes per request, without sockets: the bound behind the
//! "answer within 2 ms" target (measured end to end in `gridlet/tests/v2g_interop.rs`).
//!
//! - `charge_loop_request/{din,iso2,iso20}`: one charge loop request (CurrentDemandReq,
//!   DC_ChargeLoopReq) in a running session: V2GTP parse, EXI decode, the state machine, EXI
//!   encode of the response, 100 ms of virtual time apart.
//! - `session/{din,iso2,iso20}`: a whole session of our car against our charger in memory,
//!   handshake to SessionStop with 20 charge loop cycles (both sides' work).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use units::Timestamp;
use v2g::Protocol;
use v2g::evcc::EvccConfig;
use v2g::secc::SeccConfig;
use v2g::sim::{Direction, Pair};
use v2g::transcript::Transcript;
use v2g::wire::{Frame, Packet};

const PROTOCOLS: [(Protocol, &str, &str); 3] = [
    (Protocol::Din, "din", "CurrentDemandReq"),
    (Protocol::Iso2, "iso2", "CurrentDemandReq"),
    (Protocol::Iso20Dc, "iso20", "DC_ChargeLoopReq"),
];

fn start() -> Timestamp {
    Timestamp::from_unix_secs(1_750_000_000)
}

fn car(protocol: Protocol, cycles: u32) -> EvccConfig {
    EvccConfig {
        protocols: vec![protocol],
        max_cycles: Some(cycles),
        ..EvccConfig::default()
    }
}

/// A session in its charge loop, and the car's last charge loop request (whole V2GTP frame).
fn in_charge_loop(protocol: Protocol, request: &str) -> (Pair, Vec<u8>) {
    let mut pair = Pair::new(
        SeccConfig::default(),
        car(protocol, 1_000_000),
        [7; 32],
        start(),
    );
    pair.run(Duration::from_secs(60));
    let mut transcript = Transcript::new();
    let mut last = None;
    for (_, direction, bytes) in pair.frames() {
        let packet = Packet::new_checked(bytes).expect("whole frames");
        let frame = Frame::new(packet.payload_type(), packet.payload().to_vec());
        let message = transcript.decode(&frame).expect("our own frames decode");
        if direction == Direction::ToCharger && message.name == request {
            last = Some(bytes.to_vec());
        }
    }
    let frame = last.unwrap_or_else(|| panic!("{protocol}: no {request} in 60 s"));
    assert!(
        !pair.secc.is_closed(),
        "{protocol}: the session is still on"
    );
    (pair, frame)
}

fn charge_loop_request(c: &mut Criterion) {
    let mut group = c.benchmark_group("charge_loop_request");
    for (protocol, name, request) in PROTOCOLS {
        let (mut pair, frame) = in_charge_loop(protocol, request);
        let mut now = pair.now;
        group.bench_function(name, |b| {
            b.iter(|| {
                now += Duration::from_millis(100);
                let status = pair.station.status(now);
                pair.secc.handle_data(now, black_box(&frame), &status);
                let response = pair.secc.poll_transmit().expect("a response");
                while pair.secc.poll_event().is_some() {}
                assert!(!pair.secc.is_closed());
                black_box(response)
            });
        });
    }
    group.finish();
}

fn session(c: &mut Criterion) {
    let mut group = c.benchmark_group("session");
    group.sample_size(20);
    for (protocol, name, _) in PROTOCOLS {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut pair =
                    Pair::new(SeccConfig::default(), car(protocol, 20), [7; 32], start());
                assert!(pair.run(Duration::from_secs(300)));
                black_box(pair.charger_frames.len())
            });
        });
    }
    group.finish();
}

criterion_group!(benches, charge_loop_request, session);
criterion_main!(benches);
