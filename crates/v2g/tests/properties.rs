//! Properties of the charger for any well-typed request (generated within the schema's facets
//! by `v2g_messages::strategies`), not only recorded traffic. Driven into a state of a session
//! (a recorded session of our car replayed up to that point), the charger answers an arbitrary
//! request with exactly one response, of the type matching the request (`FooReq` -> `FooRes`):
//! FAILED_UnknownSession for another SessionID (or before SessionSetup), FAILED on a fault,
//! FAILED_SequenceError exactly when the state does not allow the request, and after any
//! FAILED response the session is over. Through the request and the rest of the recorded
//! session, the demand stays safe: nothing once the session has ended, voltage and current
//! within the charger's limits.
#![allow(clippy::unwrap_used)] // A failing unwrap is a failing test.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use proptest::prelude::*;
use units::{Amps, Percent, Timestamp, Volts, Watts};
use v2g::charger::{ChargerStatus, Demand, Fault, PowerDemand};
use v2g::evcc::{BatteryConfig, EvccConfig};
use v2g::secc::{Secc, SeccConfig};
use v2g::sim::{Direction, Pair, Station};
use v2g::transcript::Transcript;
use v2g::wire::{Frame, Packet, PayloadType};
use v2g::{ControlMode, Protocol};
use v2g_messages::iso20::{common_messages as cm, dc};
use v2g_messages::strategies;
use v2g_messages::{din, iso2};

fn start() -> Timestamp {
    Timestamp::from_unix_secs(1_750_000_000)
}

/// A recorded session of our car: the requests as they arrived, their names, and the states
/// to test (the indexes of the requests the charger expected next, one per distinct state).
struct Recorded {
    protocol: Protocol,
    station: Station,
    requests: Vec<(Timestamp, Vec<u8>)>,
    names: Vec<String>,
    states: Vec<usize>,
}

/// The sessions: DIN 70121, ISO 15118-2, ISO 15118-20 DC in scheduled mode, and DC_BPT in
/// dynamic mode discharging at the site's setpoint.
#[derive(Debug, Clone, Copy)]
enum Session {
    Din,
    Iso2,
    Iso20,
    Iso20Bpt,
}

fn recorded(session: Session) -> &'static Recorded {
    static RECORDED: [OnceLock<Recorded>; 4] = [const { OnceLock::new() }; 4];
    RECORDED[session as usize].get_or_init(|| record(session))
}

fn record(session: Session) -> Recorded {
    let (protocol, control_mode, bpt) = match session {
        Session::Din => (Protocol::Din, ControlMode::Scheduled, false),
        Session::Iso2 => (Protocol::Iso2, ControlMode::Scheduled, false),
        Session::Iso20 => (Protocol::Iso20Dc, ControlMode::Scheduled, false),
        Session::Iso20Bpt => (Protocol::Iso20Dc, ControlMode::Dynamic, true),
    };
    let evcc = EvccConfig {
        protocols: vec![protocol],
        max_cycles: Some(3),
        control_mode,
        discharge: bpt,
        battery: BatteryConfig {
            soc: Percent(70.0),
            ..BatteryConfig::default()
        },
        ..EvccConfig::default()
    };
    let station = Station {
        setpoint: bpt.then_some(Watts(-3000.0)),
        ..Station::default()
    };
    let mut pair = Pair::with_station(
        SeccConfig::default(),
        evcc,
        station.clone(),
        [5; 32],
        start(),
    );
    assert!(
        pair.run(Duration::from_secs(60)),
        "{session:?}: the session ends"
    );
    let mut transcript = Transcript::new();
    let mut names = Vec::new();
    for (_, direction, bytes) in pair.frames() {
        let p = Packet::new_checked(bytes).unwrap();
        let m = transcript
            .decode(&Frame::new(p.payload_type(), p.payload().to_vec()))
            .unwrap();
        if direction == Direction::ToCharger {
            names.push(m.name);
        }
    }
    // Past the handshake, one state per (request before, request next).
    let mut states: Vec<usize> = Vec::new();
    for k in 1..names.len() {
        if !states
            .iter()
            .any(|&j| names[j - 1] == names[k - 1] && names[j] == names[k])
        {
            states.push(k);
        }
    }
    Recorded {
        protocol,
        station,
        requests: pair.arrivals(Direction::ToCharger),
        names,
        states,
    }
}

/// The requests each state allows, by the name of the request the car sent next in a normal
/// session (`next`) and the one before (`after`): the tables of DIN 70121 and ISO 15118-2 as
/// EVerest tabulates them (`din_server.hpp`, `iso_server.hpp`) and the ISO 15118-20 sequence.
fn allowed(protocol: Protocol, next: &str, after: &str, request: &str) -> bool {
    let stop = "SessionStopReq";
    let iso20 = protocol == Protocol::Iso20Dc;
    let precharge = if iso20 {
        "DC_PreChargeReq"
    } else {
        "PreChargeReq"
    };
    let charge_loop = if iso20 {
        "DC_ChargeLoopReq"
    } else {
        "CurrentDemandReq"
    };
    let set: Vec<&str> = match next {
        "SessionSetupReq" => vec![next],
        "ServiceDetailReq" | "ServiceSelectionReq" if iso20 => {
            vec!["ServiceDetailReq", "ServiceSelectionReq", stop]
        }
        "PaymentServiceSelectionReq" => vec!["ServiceDetailReq", next, stop],
        n if n == precharge && after != precharge => vec![n, stop],
        n if n == precharge || n == "PowerDeliveryReq" && after == precharge => {
            vec![precharge, "PowerDeliveryReq", stop]
        }
        // The charge loop: no SessionStopReq before PowerDeliveryReq stops the current.
        "CurrentDemandReq" | "DC_ChargeLoopReq" | "PowerDeliveryReq" => {
            vec![charge_loop, "PowerDeliveryReq"]
        }
        "SessionStopReq" if after.ends_with("WeldingDetectionReq") => vec![after, stop],
        n => vec![n, stop],
    };
    set.contains(&request)
}

/// A request of the protocol, framed by the test.
#[derive(Debug, Clone)]
enum Request {
    Din(din::BodyElement),
    Iso2(iso2::BodyElement),
    Common(cm::Document),
    Dc(dc::Document),
}

impl Request {
    fn name(&self) -> &'static str {
        match self {
            Self::Din(b) => b.name(),
            Self::Iso2(b) => b.name(),
            Self::Common(d) => d.name(),
            Self::Dc(d) => d.name(),
        }
    }

    fn response_name(&self) -> &'static str {
        match self {
            Self::Din(b) => b.response_name(),
            Self::Iso2(b) => b.response_name(),
            Self::Common(d) => d.response_name(),
            Self::Dc(d) => d.response_name(),
        }
        .unwrap()
    }

    /// The V2GTP frame with `session_id` in the header.
    fn frame(self, session_id: &[u8]) -> Frame {
        let id = session_id.to_vec();
        match self {
            Self::Din(body) => {
                let msg = din::Document::V2gMessage(din::V2gMessage {
                    header: din::MessageHeaderType {
                        session_id: id.into(),
                        ..Default::default()
                    },
                    body: din::BodyType {
                        body_element: Some(body),
                    },
                });
                Frame::new(PayloadType::Exi, din::encode(&msg).unwrap())
            }
            Self::Iso2(body) => {
                let msg = iso2::Document::V2gMessage(iso2::V2gMessage {
                    header: iso2::MessageHeaderType {
                        session_id: id.into(),
                        ..Default::default()
                    },
                    body: iso2::BodyType {
                        body_element: Some(body),
                    },
                });
                Frame::new(PayloadType::Exi, iso2::encode(&msg).unwrap())
            }
            Self::Common(mut doc) => {
                doc.header_mut().unwrap().session_id = id.into();
                Frame::new(PayloadType::Iso20Main, cm::encode(&doc).unwrap())
            }
            Self::Dc(mut doc) => {
                doc.header_mut().unwrap().session_id = id.into();
                Frame::new(PayloadType::Iso20Dc, dc::encode(&doc).unwrap())
            }
        }
    }
}

/// The name and response code of the one response frame, decoded as `request`'s protocol.
fn response(request: &Request, frame: &Frame) -> (&'static str, &'static str) {
    let (name, code) = match request {
        Request::Din(_) => match din::decode(&frame.payload).unwrap() {
            din::Document::V2gMessage(m) => {
                let body = m.body.body_element.unwrap();
                (body.name(), body.response_code().map(|c| c.as_str()))
            }
            other => (other.name(), None),
        },
        Request::Iso2(_) => match iso2::decode(&frame.payload).unwrap() {
            iso2::Document::V2gMessage(m) => {
                let body = m.body.body_element.unwrap();
                (body.name(), body.response_code().map(|c| c.as_str()))
            }
            other => (other.name(), None),
        },
        Request::Common(_) => {
            assert_eq!(frame.payload_type, PayloadType::Iso20Main);
            let doc = cm::decode(&frame.payload).unwrap();
            (doc.name(), doc.response_code().map(|c| c.as_str()))
        }
        Request::Dc(_) => {
            assert_eq!(frame.payload_type, PayloadType::Iso20Dc);
            let doc = dc::decode(&frame.payload).unwrap();
            (doc.name(), doc.response_code().map(|c| c.as_str()))
        }
    };
    (name, code.unwrap_or("no ResponseCode"))
}

/// The demand is safe: nothing once the session is over; otherwise voltage and current within
/// the limits the charger had when it decided (`status`).
fn assert_safe(
    secc: &Secc,
    status: &ChargerStatus,
    config: &SeccConfig,
) -> Result<(), TestCaseError> {
    let demand = secc.demand();
    if secc.is_closed() {
        prop_assert_eq!(demand, Demand::OFF);
    }
    let l = status.limits;
    let volts = |v: Volts| v.0 >= 0.0 && v <= l.max_voltage;
    match demand.power {
        PowerDemand::Off => {}
        PowerDemand::CableCheck { voltage } => prop_assert!(volts(voltage), "{demand:?}"),
        PowerDemand::PreCharge {
            voltage,
            current_limit,
        } => {
            prop_assert!(volts(voltage), "{demand:?}");
            prop_assert!(
                current_limit.0 >= 0.0 && current_limit <= config.precharge_current_limit,
                "{demand:?}"
            );
        }
        PowerDemand::Deliver { voltage, current } => {
            prop_assert!(volts(voltage), "{demand:?}");
            // Power converts at the measured voltage once the output is up, as the charger does.
            let at = if status.present.voltage.0 > 50.0 {
                status.present.voltage
            } else {
                voltage
            };
            let (max_current, max_power) = if current.0 >= 0.0 {
                (l.max_current, l.max_power)
            } else {
                (l.max_discharge_current, l.max_discharge_power)
            };
            let amps = Amps(current.0.abs());
            prop_assert!(amps <= max_current, "{demand:?} above {max_current}");
            prop_assert!(
                amps.0 * at.0 <= max_power.0 * (1.0 + 1e-9),
                "{demand:?} at {at} above {max_power}"
            );
        }
    }
    Ok(())
}

/// Feeds `frame` at `now`; returns the responses and the status the charger read.
fn feed(
    secc: &mut Secc,
    station: &mut Station,
    now: Timestamp,
    frame: &[u8],
) -> (Vec<Frame>, ChargerStatus) {
    let status = station.status(now);
    secc.handle_data(now, frame, &status);
    station.apply(now, secc.demand());
    while secc.poll_event().is_some() {}
    let mut out = Vec::new();
    while let Some(bytes) = secc.poll_transmit() {
        let p = Packet::new_checked(&bytes[..]).unwrap();
        out.push(Frame::new(p.payload_type(), p.payload().to_vec()));
    }
    (out, status)
}

/// A state of `session` (the index of the request the charger expects next) and a request:
/// any request, or half the time one the state allows (which the charger acts on).
fn state_and_request(
    session: Session,
    requests: BoxedStrategy<Request>,
) -> impl Strategy<Value = (usize, Request)> {
    let rec = recorded(session);
    proptest::sample::select(rec.states.clone()).prop_flat_map(move |k| {
        let allowed_here = requests
            .clone()
            .prop_filter("allowed in the state", move |r| {
                allowed(rec.protocol, &rec.names[k], &rec.names[k - 1], r.name())
            });
        (Just(k), prop_oneof![requests.clone(), allowed_here])
    })
}

/// One case: `request` in state `k` of `session` (before its `k`th request), with the
/// session's SessionID unless `wrong_id`, with a power stage fault if `fault`; then the rest of
/// the recorded session.
fn check(
    session: Session,
    (k, request): (usize, Request),
    wrong_id: Option<[u8; 8]>,
    fault: bool,
) -> Result<(), TestCaseError> {
    let rec = recorded(session);
    let config = SeccConfig::default();
    let mut secc = Secc::new(Arc::new(config.clone()), [5; 32], start());
    let mut station = rec.station.clone();
    for (t, bytes) in &rec.requests[..k] {
        let (responses, status) = feed(&mut secc, &mut station, *t, bytes);
        prop_assert_eq!(responses.len(), 1);
        assert_safe(&secc, &status, &config)?;
    }
    let now = rec.requests[k].0;
    let setup = request.name() == "SessionSetupReq";
    let session_id = secc.session_id().cloned();
    if let (Some(id), Some(wrong)) = (&session_id, wrong_id)
        && id.matches(&wrong)
    {
        return Ok(()); // Not wrong after all.
    }
    let known = session_id.is_some() && wrong_id.is_none();
    let header_id = match (wrong_id, session_id) {
        (Some(wrong), _) => wrong.to_vec(),
        (None, Some(id)) => id.0,
        (None, None) => vec![0; 8],
    };
    if fault {
        station.fail(now, Fault::Malfunction);
    }
    let name = request.name();
    let expected = request.response_name();
    let allowed = allowed(rec.protocol, &rec.names[k], &rec.names[k - 1], name);
    let frame = request.clone().frame(&header_id);
    let (responses, status) = feed(&mut secc, &mut station, now, &frame.to_bytes());
    let context = format!(
        "{session:?}: {name} before {} (after {})",
        rec.names[k],
        rec.names[k - 1]
    );
    let [res] = &responses[..] else {
        return Err(TestCaseError::fail(format!(
            "{context}: {} responses",
            responses.len()
        )));
    };
    let (got, code) = response(&request, res);
    prop_assert_eq!(got, expected, "{}", context);
    if !setup && !known {
        prop_assert_eq!(code, "FAILED_UnknownSession", "{}", context);
    } else if !setup && fault {
        prop_assert_eq!(code, "FAILED", "{}", context);
    } else if allowed {
        prop_assert!(
            code != "FAILED_SequenceError" && code != "FAILED_UnknownSession",
            "{context}: {code}"
        );
    } else {
        prop_assert_eq!(code, "FAILED_SequenceError", "{}", context);
    }
    if code.starts_with("FAILED") {
        prop_assert!(
            secc.is_closed(),
            "{context}: {code} but the session goes on"
        );
    } else if name != "SessionStopReq" {
        prop_assert!(!secc.is_closed(), "{context}: {code} but the session ended");
    }
    assert_safe(&secc, &status, &config)?;
    // The car carries on as recorded; whatever the charger makes of it, the demand stays safe.
    for (t, bytes) in &rec.requests[k + 1..] {
        let (responses, status) = feed(&mut secc, &mut station, *t, bytes);
        prop_assert!(responses.len() <= 1);
        assert_safe(&secc, &status, &config)?;
    }
    Ok(())
}

fn wrong_id() -> impl Strategy<Value = Option<[u8; 8]>> {
    proptest::option::weighted(0.1, any::<[u8; 8]>())
}

fn fault() -> impl Strategy<Value = bool> {
    proptest::bool::weighted(0.05)
}

fn din_request() -> BoxedStrategy<Request> {
    strategies::din::body_element_request()
        .prop_map(Request::Din)
        .boxed()
}

fn iso2_request() -> BoxedStrategy<Request> {
    strategies::iso2::body_element_request()
        .prop_map(Request::Iso2)
        .boxed()
}

fn iso20_request() -> BoxedStrategy<Request> {
    prop_oneof![
        strategies::iso20_common_messages::document_request().prop_map(Request::Common),
        strategies::iso20_dc::document_request().prop_map(Request::Dc),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn din_any_request_in_any_state(
        case in state_and_request(Session::Din, din_request()),
        wrong_id in wrong_id(),
        fault in fault(),
    ) {
        check(Session::Din, case, wrong_id, fault)?;
    }

    #[test]
    fn iso2_any_request_in_any_state(
        case in state_and_request(Session::Iso2, iso2_request()),
        wrong_id in wrong_id(),
        fault in fault(),
    ) {
        check(Session::Iso2, case, wrong_id, fault)?;
    }

    #[test]
    fn iso20_any_request_in_any_state(
        case in state_and_request(Session::Iso20, iso20_request()),
        wrong_id in wrong_id(),
        fault in fault(),
    ) {
        check(Session::Iso20, case, wrong_id, fault)?;
    }

    #[test]
    fn iso20_bpt_any_request_in_any_state(
        case in state_and_request(Session::Iso20Bpt, iso20_request()),
        wrong_id in wrong_id(),
        fault in fault(),
    ) {
        check(Session::Iso20Bpt, case, wrong_id, fault)?;
    }
}
