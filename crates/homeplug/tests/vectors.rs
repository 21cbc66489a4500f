//! The real frames of `testdata/slac/frames.txt` parse into the messages they are, and re-emit to
//! exactly the captured bytes.

use homeplug::{
    MacAddr, Message, MmType, Nid, Repr, RunId, SecurityLevel, StationId, cm_slac_match,
    cm_slac_param,
};

struct Vector {
    id: String,
    kind: String,
    bytes: Vec<u8>,
    name: String,
}

fn vectors() -> Vec<Vector> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/slac/frames.txt"
    );
    let text = std::fs::read_to_string(path).expect("testdata/slac/frames.txt");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (data, comment) = line
                .split_once('#')
                .expect("a comment with the message name");
            let mut fields = data.split_whitespace();
            let id = fields.next().expect("an id").to_owned();
            let kind = fields.next().expect("a kind").to_owned();
            let bytes = hex::decode(fields.next().expect("hex")).expect("valid hex");
            let name = comment
                .trim()
                .split(';')
                .next()
                .unwrap_or_default()
                .to_owned();
            Vector {
                id,
                kind,
                bytes,
                name,
            }
        })
        .collect()
}

fn frame(id: &str) -> Repr {
    let v = vectors()
        .into_iter()
        .find(|v| v.id == id)
        .expect("a vector with this id");
    Repr::parse_bytes(&v.bytes).expect("a valid frame")
}

#[test]
fn all_vectors_are_accounted_for() {
    let all = vectors();
    assert_eq!(all.len(), 33);
    assert_eq!(all.iter().filter(|v| v.kind == "mme").count(), 25);
    // The SDP entries are V2GTP payloads over UDP (the V2G crates parse them), not MMEs.
    for v in all.iter().filter(|v| v.kind == "sdp") {
        assert_eq!(
            &v.bytes[..2],
            &[0x01, 0xFE],
            "{}: V2GTP version and inverse",
            v.id
        );
        assert!(Repr::parse_bytes(&v.bytes).is_err(), "{}", v.id);
    }
}

#[test]
fn every_mme_parses_as_what_the_capture_says_and_re_emits_byte_for_byte() {
    for v in vectors().iter().filter(|v| v.kind == "mme") {
        let repr = Repr::parse_bytes(&v.bytes).unwrap_or_else(|e| panic!("{}: {e}", v.id));
        let mmtype = repr.message.mmtype();
        match mmtype.name() {
            // The vectors file writes CM_SLAC_PARAM where the spec writes CM_SLAC_PARM.
            Some(name) => assert_eq!(name.replace("PARM", "PARAM"), v.name, "{}", v.id),
            None => assert!(matches!(repr.message, Message::Unknown { .. }), "{}", v.id),
        }
        assert_eq!(repr.buffer_len(), v.bytes.len(), "{}", v.id);
        assert_eq!(
            hex::encode(repr.to_bytes()),
            hex::encode(&v.bytes),
            "{}",
            v.id
        );
    }
}

#[test]
fn the_charger_echoes_the_cars_run_id() {
    let Message::SlacParamReq(req) = frame("S001").message else {
        panic!()
    };
    let Message::SlacParamCnf(cnf) = frame("S002").message else {
        panic!()
    };
    assert_eq!(
        req,
        cm_slac_param::ReqRepr::new(RunId(hex_array("e00ee1ffd3e20000")))
    );
    assert_eq!(cnf.run_id, req.run_id);
    assert_eq!(cnf.m_sound_target, MacAddr::BROADCAST);
    assert_eq!((cnf.num_sounds, cnf.time_out, cnf.resp_type), (10, 6, 1));
    assert_eq!(cnf.forwarding_sta, MacAddr(hex_array("e00ee1ffd3e2")));

    // Tesla's RunID is the text "TESLA EV"; the charger must echo it (S030, S031).
    let Message::SlacParamReq(tesla) = frame("S029").message else {
        panic!()
    };
    assert_eq!(tesla.run_id, RunId(*b"TESLA EV"));
    let Message::AttenCharInd(ind) = frame("S030").message else {
        panic!()
    };
    assert_eq!(ind.run_id, RunId(*b"TESLA EV"));
    let Message::SlacMatchReq(m) = frame("S031").message else {
        panic!()
    };
    assert_eq!(m.run_id, RunId(*b"TESLA EV"));
}

#[test]
fn attenuation_messages_carry_58_groups() {
    let Message::AttenCharInd(ind) = frame("S006").message else {
        panic!()
    };
    assert_eq!((ind.num_sounds, ind.aag.len()), (10, 58));
    assert_eq!(ind.source_id, StationId::ZERO);
    let Message::AttenProfileInd(profile) = frame("S020").message else {
        panic!()
    };
    assert_eq!(profile.pev_mac, MacAddr(hex_array("0465650064c3")));
    assert_eq!(profile.aag.len(), 58);
    assert_eq!(
        (profile.aag[0], profile.aag[3], profile.aag[57]),
        (0x17, 0x23, 0x22)
    );
    let Message::MnbcSoundInd(sound) = frame("S004").message else {
        panic!()
    };
    assert_eq!((sound.count, sound.random), (9, [0xFF; 16]));
}

#[test]
fn match_confirmation_carries_the_network_key() {
    let Message::SlacMatchCnf(cnf) = frame("S009").message else {
        panic!()
    };
    assert_eq!(cnf.mvf_length, cm_slac_match::CNF_MVF_LENGTH);
    assert_eq!(cnf.nid.to_string(), "4ee9194d581702");
    assert_eq!(cnf.nmk.to_string(), "a39d255b5770c42f3837471f5b39823a");
    // The Alpitronic derived its NID from its NMK as HomePlug AV specifies.
    assert_eq!(
        Nid::from_nmk(&cnf.nmk, SecurityLevel::SimpleConnect),
        cnf.nid
    );
    let Message::SlacMatchReq(req) = frame("S008").message else {
        panic!()
    };
    assert_eq!(req.mvf_length, cm_slac_match::REQ_MVF_LENGTH);
    assert_eq!(req.evse_mac, MacAddr(hex_array("52ad9207328b")));
}

#[test]
fn qca_modems_answer_set_key_with_result_1() {
    for id in ["S011", "S015"] {
        let repr = frame(id);
        let Message::SetKeyCnf(cnf) = repr.message else {
            panic!()
        };
        assert_eq!(cnf.result, 1, "{id}");
    }
    let Message::SetKeyReq(req) = frame("S010").message else {
        panic!()
    };
    assert_eq!(req.new_key.to_string(), "a39d255b5770c42f3837471f5b39823a");
    assert_eq!(frame("S010").dst, MacAddr::QCA_LOCAL);
}

#[test]
fn unknown_vendor_messages_are_kept() {
    let repr = frame("S005");
    assert_eq!(repr.mmv, homeplug::Mmv::AV_1_0);
    let Message::Unknown { mmtype, payload } = repr.message else {
        panic!()
    };
    assert_eq!(mmtype, MmType(0xA14E));
    assert_eq!(&payload[..3], &homeplug::QUALCOMM_OUI);
}

fn hex_array<const N: usize>(s: &str) -> [u8; N] {
    hex::decode(s).expect("hex").try_into().expect("N bytes")
}
