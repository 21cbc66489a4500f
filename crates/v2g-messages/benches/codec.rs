//! Decode and encode speed: the DIN CurrentDemand loop messages (the hot path of a DC charging
//! session) and the whole real-traffic corpus. `cargo bench -p v2g-messages`.
#![allow(clippy::unwrap_used)] // A failing unwrap is a failing benchmark.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use v2g_messages::{Schema, din};

/// V022 and V023 of testdata/v2g/vectors.jsonl (Hyundai Ioniq <-> Alpitronic HYC150).
const CURRENT_DEMAND_REQ: &str = "809a02000000000ca8919450d100000720406014010285010004061a01e04070c84c0000c083f01c06041c006040a19c3600";
const CURRENT_DEMAND_RES: &str =
    "809a02000000000ca8919450e00040800001028660d80018098000060a1e80601030fe8f01020387719000";

fn bytes(hex: &str) -> Vec<u8> {
    exi::Bytes::from_hex(hex).unwrap().0
}

fn current_demand(c: &mut Criterion) {
    for (name, hex) in [
        ("CurrentDemandReq", CURRENT_DEMAND_REQ),
        ("CurrentDemandRes", CURRENT_DEMAND_RES),
    ] {
        let input = bytes(hex);
        let doc = din::decode(&input).unwrap();
        c.bench_function(&format!("din {name} decode"), |b| {
            b.iter(|| din::decode(black_box(&input)).unwrap())
        });
        c.bench_function(&format!("din {name} encode"), |b| {
            b.iter(|| din::encode(black_box(&doc)).unwrap())
        });
    }
}

fn corpus(c: &mut Criterion) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/v2g/messages.jsonl"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let messages: Vec<(Schema, Vec<u8>)> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["schema"].as_str().unwrap().parse().unwrap(),
                bytes(v["exi"].as_str().unwrap()),
            )
        })
        .collect();
    let docs: Vec<_> = messages
        .iter()
        .map(|(s, b)| v2g_messages::decode(*s, b).unwrap())
        .collect();
    let mut g = c.benchmark_group("corpus");
    g.throughput(Throughput::Elements(messages.len() as u64));
    g.bench_function("decode all", |b| {
        b.iter(|| {
            for (s, m) in &messages {
                black_box(v2g_messages::decode(*s, black_box(m)).unwrap());
            }
        });
    });
    g.bench_function("encode all", |b| {
        b.iter(|| {
            for d in &docs {
                black_box(v2g_messages::encode(black_box(d)).unwrap());
            }
        });
    });
    g.finish();
}

criterion_group!(benches, current_demand, corpus);
criterion_main!(benches);
