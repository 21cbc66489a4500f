//! Decode and encode speed: the charge loop messages (the hot path of a DC charging session) of
//! each protocol and the whole real-traffic corpus. `cargo bench -p v2g-messages`.
//!
//! The messages are the ones issue 9 compares against libcbv2g (EVerest's C codec), all from
//! `testdata/v2g`: a 23-byte DIN CurrentDemandReq of the corpus (Alpitronic session), the Ioniq's
//! 50-byte CurrentDemandReq and the HYC150's 43-byte CurrentDemandRes (V022, V023), the ISO
//! 15118-2 CurrentDemandReq vector V087 (52 bytes) and the ISO 15118-20 DC_ChargeLoopReq V134
//! (50 bytes).
#![allow(clippy::unwrap_used)] // A failing unwrap is a failing benchmark.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use v2g_messages::{Schema, decode, decode_into, encode, encode_into};

/// (benchmark name, schema, EXI stream in hex).
const MESSAGES: [(&str, Schema, &str); 5] = [
    (
        "din CurrentDemandReq 23B",
        Schema::Din,
        "809a02000000000ef04d44d0d1400500c814410c9cc020",
    ),
    (
        "din CurrentDemandReq Ioniq 50B",
        Schema::Din,
        "809a02000000000ca8919450d100000720406014010285010004061a01e04070c84c0000c083f01c06041c006040a19c3600",
    ),
    (
        "din CurrentDemandRes 43B",
        Schema::Din,
        "809a02000000000ca8919450e00040800001028660d80018098000060a1e80601030fe8f01020387719000",
    ),
    (
        "iso2 CurrentDemandReq 52B",
        Schema::Iso2,
        "809802275de64d834b5d1f10d100098086141380201081f04600861413802041428270040004082021c040810702e81081f04600",
    ),
    (
        "iso20-dc DC_ChargeLoopReq 50B",
        Schema::Iso20Dc,
        "803404667603d3222062a30abdd82c806200518402040b8690202808101404000a02080a010205008002804081402000a000",
    ),
];

fn bytes(hex: &str) -> Vec<u8> {
    exi::Bytes::from_hex(hex).unwrap().0
}

/// A schema's entry points.
struct Codec<D> {
    decode: fn(&[u8]) -> Result<D, v2g_messages::DecodeError>,
    decode_into: fn(&[u8], &mut D) -> Result<(), v2g_messages::DecodeError>,
    encode: fn(&D) -> Result<Vec<u8>, v2g_messages::EncodeError>,
    encode_into: fn(&D, &mut Vec<u8>) -> Result<(), v2g_messages::EncodeError>,
}

/// Benchmarks one message through its schema's own entry points: `decode`/`encode` return new
/// values; `decode_into`/`encode_into` reuse the caller's document and buffer, as a session
/// loop can (and as C codecs work).
fn message<D>(c: &mut Criterion, name: &str, input: &[u8], codec: &Codec<D>) {
    let doc = (codec.decode)(input).unwrap();
    assert_eq!(
        (codec.encode)(&doc).unwrap(),
        input,
        "{name} is not canonical"
    );
    c.bench_function(&format!("{name} decode"), |b| {
        b.iter(|| (codec.decode)(black_box(input)).unwrap())
    });
    let mut into = (codec.decode)(input).unwrap();
    c.bench_function(&format!("{name} decode_into"), |b| {
        b.iter(|| (codec.decode_into)(black_box(input), black_box(&mut into)).unwrap())
    });
    c.bench_function(&format!("{name} encode"), |b| {
        b.iter(|| (codec.encode)(black_box(&doc)).unwrap())
    });
    let mut out = Vec::new();
    c.bench_function(&format!("{name} encode_into"), |b| {
        b.iter(|| (codec.encode_into)(black_box(&doc), black_box(&mut out)).unwrap())
    });
}

fn charge_loop(c: &mut Criterion) {
    use v2g_messages::{din, iso2, iso20::dc};
    for (name, schema, hex) in MESSAGES {
        let input = bytes(hex);
        match schema {
            Schema::Din => message(
                c,
                name,
                &input,
                &Codec {
                    decode: din::decode,
                    decode_into: din::decode_into,
                    encode: din::encode,
                    encode_into: din::encode_into,
                },
            ),
            Schema::Iso2 => message(
                c,
                name,
                &input,
                &Codec {
                    decode: iso2::decode,
                    decode_into: iso2::decode_into,
                    encode: iso2::encode,
                    encode_into: iso2::encode_into,
                },
            ),
            Schema::Iso20Dc => message(
                c,
                name,
                &input,
                &Codec {
                    decode: dc::decode,
                    decode_into: dc::decode_into,
                    encode: dc::encode,
                    encode_into: dc::encode_into,
                },
            ),
            _ => unreachable!("no such message in MESSAGES"),
        }
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
        .map(|(s, b)| decode(*s, b).unwrap())
        .collect();
    let mut g = c.benchmark_group("corpus");
    g.throughput(Throughput::Elements(messages.len() as u64));
    g.bench_function("decode all", |b| {
        b.iter(|| {
            for (s, m) in &messages {
                black_box(decode(*s, black_box(m)).unwrap());
            }
        });
    });
    let mut into = docs.clone();
    g.bench_function("decode_into all", |b| {
        b.iter(|| {
            for ((s, m), d) in messages.iter().zip(&mut into) {
                decode_into(*s, black_box(m), black_box(d)).unwrap();
            }
        });
    });
    g.bench_function("encode all", |b| {
        b.iter(|| {
            for d in &docs {
                black_box(encode(black_box(d)).unwrap());
            }
        });
    });
    let mut out = Vec::new();
    g.bench_function("encode_into all", |b| {
        b.iter(|| {
            for d in &docs {
                encode_into(black_box(d), black_box(&mut out)).unwrap();
            }
        });
    });
    g.finish();
}

criterion_group!(benches, charge_loop, corpus);
criterion_main!(benches);
