//! The car alone: against a real charger's recorded responses (the Alpitronic HYC150 of the
//! Ioniq session, which sends a SessionID with 4 significant bytes), a Supercharger-like
//! charger with a 4-byte SessionID, and a charger that stops answering.
#![allow(clippy::unwrap_used)] // A failing unwrap is a failing test.

use std::sync::Arc;
use std::time::Duration;

use units::Timestamp;
use v2g::Protocol;
use v2g::evcc::{Evcc, EvccConfig, EvccError, EvccEvent};
use v2g::secc::{Secc, SeccConfig};
use v2g::sim::Station;
use v2g::wire::{Frame, Packet, PayloadType};
use v2g_messages::din::{
    self, BodyElement, BodyType, Document, MessageHeaderType, ResponseCodeType,
    SessionSetupResType, V2gMessage,
};

fn start() -> Timestamp {
    Timestamp::from_unix_secs(1_750_000_000)
}

fn vector(id: &str) -> Vec<u8> {
    let text = include_str!("../../../testdata/v2g/vectors.jsonl");
    let line = text
        .lines()
        .find(|l| l.contains(&format!("\"id\": \"{id}\"")))
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    hex::decode(v["exi"].as_str().unwrap()).unwrap()
}

fn din_car() -> Evcc {
    let config = EvccConfig {
        protocols: vec![Protocol::Din],
        ..EvccConfig::default()
    };
    Evcc::new(config, start())
}

/// The header SessionID of the car's next DIN request.
fn next_session_id(car: &mut Evcc) -> Vec<u8> {
    let bytes = car.poll_transmit().expect("a request");
    let packet = Packet::new_checked(&bytes[..]).unwrap();
    match din::decode(packet.payload()).unwrap() {
        Document::V2gMessage(m) => m.header.session_id.0,
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_car_follows_the_alpitronics_real_responses() {
    let mut car = din_car();
    let mut now = start();
    // supportedAppProtocolReq is out; the Alpitronic's answers follow (V002...V013).
    assert!(car.poll_transmit().is_some());
    for (id, then) in [
        ("V002", "SessionSetupReq"),
        ("V004", "ServiceDiscoveryReq"),
        ("V006", "ServicePaymentSelectionReq"),
        ("V008", "ContractAuthenticationReq"),
        ("V010", "ChargeParameterDiscoveryReq"),
        // Ongoing: the car asks again after its period.
        ("V012", "ChargeParameterDiscoveryReq"),
        ("V013", "CableCheckReq"),
        ("V015", "CableCheckReq"),
        ("V016", "PreChargeReq"),
    ] {
        now += Duration::from_millis(10);
        car.handle_data(now, &Frame::new(PayloadType::Exi, vector(id)).to_bytes());
        assert!(!car.is_closed(), "{id}: {:?}", car.summary());
        // The next request, at once or after the car's pause (Ongoing answers).
        let bytes = match car.poll_transmit() {
            Some(bytes) => bytes,
            None => {
                now = car.poll_timeout().unwrap();
                car.handle_timeout(now);
                car.poll_transmit()
                    .unwrap_or_else(|| panic!("{id}: no request"))
            }
        };
        // Its name, and that it carries the Alpitronic's SessionID.
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        let Document::V2gMessage(msg) = din::decode(packet.payload()).unwrap() else {
            panic!()
        };
        let body = serde_json::to_value(&msg.body).unwrap();
        assert!(
            body.as_object().unwrap().contains_key(then),
            "{id}: expected {then}, got {body}"
        );
        if id != "V002" {
            // Exactly the 8 bytes the Alpitronic sent, leading zeros and all.
            assert_eq!(hex::encode(&msg.header.session_id.0), "0000000032a24651");
        }
    }
    assert_eq!(car.evse().max_current, Some(units::Amps(200.0)));
    assert_eq!(car.evse().max_power, Some(units::Watts(74_400.0)));
}

#[test]
fn the_car_echoes_a_four_byte_session_id() {
    // A Tesla Supercharger sends 4 bytes; pyPLC padded them to 8 and got
    // FAILED_UnknownSession (shared/docs/ccs-research.md §7).
    let mut car = din_car();
    assert!(car.poll_transmit().is_some());
    car.handle_data(
        start(),
        &Frame::new(PayloadType::Exi, vector("V002")).to_bytes(),
    );
    assert_eq!(
        next_session_id(&mut car),
        vec![0; 8],
        "SessionSetupReq carries zeros"
    );
    let res = Document::V2gMessage(V2gMessage {
        header: MessageHeaderType {
            session_id: vec![0x32, 0xa2, 0x46, 0x51].into(),
            ..Default::default()
        },
        body: BodyType {
            body_element: Some(BodyElement::SessionSetupRes(SessionSetupResType {
                response_code: ResponseCodeType::OkNewSessionEstablished,
                evseid: vec![0].into(),
                date_time_now: None,
            })),
        },
    });
    let bytes = din::encode(&res).unwrap();
    car.handle_data(start(), &Frame::new(PayloadType::Exi, bytes).to_bytes());
    assert_eq!(next_session_id(&mut car), vec![0x32, 0xa2, 0x46, 0x51]);
}

#[test]
fn a_charger_that_stops_answering_times_the_car_out() {
    for (protocol, request, after) in [
        (
            Protocol::Din,
            "CurrentDemandReq",
            Duration::from_millis(250),
        ),
        (
            Protocol::Iso2,
            "CurrentDemandReq",
            Duration::from_millis(250),
        ),
        (
            Protocol::Iso20Dc,
            "DC_ChargeLoopReq",
            Duration::from_millis(500),
        ),
    ] {
        let config = EvccConfig {
            protocols: vec![protocol],
            ..EvccConfig::default()
        };
        let mut car = Evcc::new(config, start());
        let mut secc = Secc::new(Arc::new(SeccConfig::default()), [1; 32], start());
        let mut station = Station::default();
        let mut now = start();
        // Connected until the third charge loop response, then the charger is silent.
        let mut cycles = 0;
        while cycles < 3 {
            while let Some(bytes) = car.poll_transmit() {
                let status = station.status(now);
                secc.handle_data(now, &bytes, &status);
                station.apply(now, secc.demand());
                while let Some(res) = secc.poll_transmit() {
                    car.handle_data(now, &res);
                }
            }
            while let Some(e) = car.poll_event() {
                if let EvccEvent::Response { request: r, .. } = e
                    && r == request
                {
                    cycles += 1;
                }
            }
            now = car.poll_timeout().unwrap();
            car.handle_timeout(now);
        }
        let sent_at = now;
        assert!(car.poll_transmit().is_some(), "the next request is out");
        let deadline = car.poll_timeout().unwrap();
        assert_eq!(deadline.saturating_duration_since(sent_at), after);
        car.handle_timeout(deadline);
        assert!(car.is_closed());
        assert_eq!(
            car.summary().unwrap().result,
            Err(EvccError::Timeout { request, after }),
            "{protocol}"
        );
    }
}
