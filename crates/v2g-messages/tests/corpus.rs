//! Every message of the real-traffic corpus (`testdata/v2g/messages.jsonl`) decodes, and
//! re-encodes to exactly the same bytes (the canonical form libcbv2g also produces).

use v2g_messages::{Schema, decode, encode, from_json, to_json};

fn hex(s: &str) -> Vec<u8> {
    exi::Bytes::from_hex(s)
        .map(|b| b.0)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[derive(serde::Deserialize)]
struct Entry {
    schema: String,
    msg: String,
    exi: String,
    canonical: bool,
    source: String,
    reencoded: Option<String>,
}

#[test]
fn corpus_roundtrips_bit_exactly() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/v2g/messages.jsonl"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let mut failures = Vec::new();
    let mut n = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        n += 1;
        let e: Entry = serde_json::from_str(line).unwrap();
        let schema: Schema = e.schema.parse().unwrap();
        let input = hex(&e.exi);
        let doc = match decode(schema, &input) {
            Ok(d) => d,
            Err(err) => {
                failures.push(format!(
                    "{} {} ({}): decode: {err}",
                    e.schema, e.msg, e.source
                ));
                continue;
            }
        };
        let expected = if e.canonical {
            input.clone()
        } else {
            hex(e.reencoded.as_deref().unwrap())
        };
        match encode(&doc) {
            Ok(out) if out == expected => {}
            Ok(out) => failures.push(format!(
                "{} {} ({}): re-encoded {} differs",
                e.schema,
                e.msg,
                e.source,
                to_hex(&out)
            )),
            Err(err) => failures.push(format!(
                "{} {} ({}): encode: {err}",
                e.schema, e.msg, e.source
            )),
        }
        // The JSON form round-trips too.
        let json = to_json(&doc).unwrap();
        let back = from_json(schema, &json).unwrap_or_else(|err| panic!("{json}: {err}"));
        assert_eq!(back, doc, "JSON round trip of {}", e.source);
    }
    assert_eq!(n, 2463);
    assert!(
        failures.is_empty(),
        "{} of {n} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn to_hex(b: &[u8]) -> String {
    exi::Bytes::from(b).to_hex()
}

/// `decode_into` and `encode_into` reuse the caller's document and buffer: decoding every message
/// of the corpus, one after the other, into the same document (of whatever schema and root it
/// held last) gives what `decode` gives, so nothing of an earlier message survives, and
/// `encode_into` writes what `encode` writes.
#[test]
fn decoding_into_a_used_document_leaves_nothing_of_the_previous_message() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/v2g/messages.jsonl"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let entries: Vec<(Schema, Vec<u8>)> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let e: Entry = serde_json::from_str(l).unwrap();
            (e.schema.parse().unwrap(), hex(&e.exi))
        })
        .collect();
    // Forwards, then backwards, so that each message follows a different one each time.
    let order = (0..entries.len()).chain((0..entries.len()).rev());
    let mut doc = decode(Schema::Handshake, &hex("80400040")).unwrap();
    let mut out = Vec::new();
    for i in order {
        let (schema, input) = &entries[i];
        v2g_messages::decode_into(*schema, input, &mut doc).unwrap();
        assert_eq!(doc, decode(*schema, input).unwrap(), "message {i}");
        v2g_messages::encode_into(&doc, &mut out).unwrap();
        assert_eq!(out, encode(&doc).unwrap(), "message {i}");
    }
}
