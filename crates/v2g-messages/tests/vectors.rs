//! The annotated vectors of `testdata/v2g/vectors.jsonl` (transcribed from the shared
//! `vectors.md`): every one decodes and re-encodes bit-exactly, and the decoded field values
//! match the annotations (JSON pointer -> expected value; `null` means the field is absent).
//! V001–V032 are the complete real Hyundai Ioniq <-> Alpitronic HYC150 DIN 70121 session.

use v2g_messages::{Schema, decode, encode, to_json};

#[derive(serde::Deserialize)]
struct Vector {
    id: String,
    schema: String,
    exi: String,
    /// Canonical form of a non-canonical vector (a Tesla's trailing zero byte).
    reencoded: Option<String>,
    #[serde(default)]
    expect: serde_json::Map<String, serde_json::Value>,
}

#[test]
fn vectors_decode_to_the_annotated_values() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/v2g/vectors.jsonl"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let (mut vectors, mut fields) = (0, 0);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Vector = serde_json::from_str(line).unwrap();
        let schema: Schema = v.schema.parse().unwrap();
        let input = exi::Bytes::from_hex(&v.exi).unwrap().0;
        let doc = decode(schema, &input).unwrap_or_else(|e| panic!("{}: {e}", v.id));
        let canonical = v
            .reencoded
            .as_deref()
            .map_or_else(|| input.clone(), |r| exi::Bytes::from_hex(r).unwrap().0);
        assert_eq!(
            encode(&doc).unwrap(),
            canonical,
            "{} re-encodes bit-exactly",
            v.id
        );
        let json: serde_json::Value = serde_json::from_str(&to_json(&doc).unwrap()).unwrap();
        for (pointer, expected) in &v.expect {
            let actual = json.pointer(pointer);
            if expected.is_null() {
                assert!(
                    actual.is_none(),
                    "{} {pointer}: expected absent, got {actual:?}",
                    v.id
                );
            } else {
                assert_eq!(actual, Some(expected), "{} {pointer} in {json}", v.id);
            }
            fields += 1;
        }
        vectors += 1;
    }
    assert_eq!(vectors, 139);
    assert!(fields >= 290, "only {fields} field checks");
}

#[test]
fn ioniq_alpitronic_current_demand_in_rust_terms() {
    use v2g_messages::din::{self, BodyElement, Document, UnitSymbolType};
    // V022: CurrentDemandReq of the real Ioniq session.
    let input = exi::Bytes::from_hex(
        "809a02000000000ca8919450d100000720406014010285010004061a01e04070c84c0000c083f01c06041c006040a19c3600",
    )
    .unwrap();
    let Document::V2gMessage(msg) = din::decode(&input).unwrap() else {
        panic!("not a V2G_Message")
    };
    assert_eq!(
        msg.header.session_id.0,
        [0, 0, 0, 0, 0x32, 0xa2, 0x46, 0x51]
    );
    let Some(BodyElement::CurrentDemandReq(req)) = msg.body.body_element else {
        panic!("not a CurrentDemandReq")
    };
    assert!(req.dc_ev_status.ev_ready);
    assert_eq!(req.dc_ev_status.evresssoc, 57);
    assert_eq!(
        (
            req.ev_target_current.value,
            req.ev_target_current.multiplier
        ),
        (10, -1)
    );
    assert_eq!(req.ev_target_current.unit, Some(UnitSymbolType::A));
    assert_eq!(
        (req.ev_target_voltage.value, req.ev_target_voltage.unit),
        (3534, Some(UnitSymbolType::V))
    );
    assert_eq!(
        req.ev_maximum_power_limit.map(|p| (p.value, p.multiplier)),
        Some((9800, 1))
    );
}
