//! Our car against our charger, in memory on virtual time: complete sessions of every protocol
//! and the ways they go wrong (the car stops early, goes silent, breaks the sequence, sends a
//! wrong SessionID, the connection resets mid-charge loop), bidirectional power, and the
//! charger's safe state after each.
#![allow(clippy::unwrap_used)] // A failing unwrap is a failing test.

use std::time::Duration;

use units::{Amps, Timestamp, Watts};
use v2g::charger::{Authorization, Fault, Isolation, PowerDemand, SimIsolationMonitor};
use v2g::evcc::{Behaviour, EvccConfig, EvccError, EvccEvent};
use v2g::secc::{EndReason, SeccConfig, SeccEvent, SessionState};
use v2g::sim::{Direction, Pair, Station};
use v2g::transcript::{Message, Transcript};
use v2g::wire::{Frame, Packet};
use v2g::{ControlMode, Protocol};

const ALL: [Protocol; 3] = [Protocol::Din, Protocol::Iso2, Protocol::Iso20Dc];

fn start() -> Timestamp {
    Timestamp::from_unix_secs(1_750_000_000)
}

fn car(protocol: Protocol) -> EvccConfig {
    EvccConfig {
        protocols: vec![protocol],
        max_cycles: Some(20),
        ..EvccConfig::default()
    }
}

fn pair(protocol: Protocol, evcc: EvccConfig, station: Station) -> Pair {
    let _ = protocol;
    Pair::with_station(SeccConfig::default(), evcc, station, [7; 32], start())
}

/// Every frame of the session in order, decoded; checks that every frame the charger sent
/// re-encodes to the same bytes.
fn transcript(pair: &Pair) -> Vec<(bool, Message)> {
    let mut transcript = Transcript::new();
    pair.frames()
        .into_iter()
        .map(|(_, direction, bytes)| {
            let from_charger = direction == Direction::ToCar;
            let packet = Packet::new_checked(bytes).expect("a whole V2GTP frame");
            let frame = Frame::new(packet.payload_type(), packet.payload().to_vec());
            let msg = transcript.decode(&frame).expect("decodes");
            if from_charger {
                let again = v2g_messages::encode(&msg.document).expect("re-encodes");
                assert_eq!(again, frame.payload, "{} re-encodes bit-exactly", msg.name);
            }
            (from_charger, msg)
        })
        .collect()
}

fn responses(pair: &Pair) -> Vec<Message> {
    transcript(pair)
        .into_iter()
        .filter_map(|(from_charger, m)| from_charger.then_some(m))
        .collect()
}

fn requests(pair: &Pair) -> Vec<String> {
    transcript(pair)
        .into_iter()
        .filter_map(|(from_charger, m)| (!from_charger).then_some(m.name))
        .collect()
}

fn end(pair: &Pair) -> EndReason {
    pair.charger_end()
        .expect("the charger ended the session")
        .reason
        .clone()
}

fn car_result(pair: &Pair) -> Result<(), EvccError> {
    pair.evcc
        .summary()
        .expect("the car ended the session")
        .result
        .clone()
}

/// The safe state: the session demands nothing, the stage is off.
fn assert_safe(pair: &mut Pair) {
    assert_eq!(pair.secc.demand().power, PowerDemand::Off);
    assert!(!pair.secc.demand().isolation_test);
    // Give the stage time to ramp down.
    pair.advance(Duration::from_secs(2));
    assert!(pair.station.stage.is_off(), "{:?}", pair.station.stage);
}

fn charge_loop_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Iso20Dc => "DC_ChargeLoopReq",
        _ => "CurrentDemandReq",
    }
}

#[test]
fn every_protocol_charges_the_car_and_stops() {
    for protocol in ALL {
        let mut pair = pair(protocol, car(protocol), Station::default());
        assert!(
            pair.run(Duration::from_secs(120)),
            "{protocol}: both sides closed"
        );
        let end = pair.charger_end().unwrap().clone();
        assert_eq!(
            end.reason,
            EndReason::Stopped { pause: false },
            "{protocol}"
        );
        assert_eq!(end.protocol, Some(protocol));
        assert!(end.charge_loop_cycles >= 20, "{protocol}: {end:?}");
        assert!(end.charged.0 > 1.0, "{protocol}: {end:?}");
        let summary = pair.evcc.summary().unwrap().clone();
        assert_eq!(summary.result, Ok(()), "{protocol}");
        assert_eq!(summary.charge_loop_cycles, end.charge_loop_cycles);
        assert!(summary.soc_end > summary.soc_start);
        assert_eq!(summary.session_id.as_ref(), end.session_id.as_ref());
        // The charger's and the car's energy agree within what a cycle's sampling differs by.
        assert!(
            (summary.charged.0 - end.charged.0).abs() < 0.5,
            "{summary:?} {end:?}"
        );

        // The request sequence of the protocol, every response positive.
        let reqs = requests(&pair);
        let expected_start: &[&str] = match protocol {
            Protocol::Din => &[
                "supportedAppProtocolReq",
                "SessionSetupReq",
                "ServiceDiscoveryReq",
                "ServicePaymentSelectionReq",
                "ContractAuthenticationReq",
                "ChargeParameterDiscoveryReq",
                "CableCheckReq",
            ],
            Protocol::Iso2 => &[
                "supportedAppProtocolReq",
                "SessionSetupReq",
                "ServiceDiscoveryReq",
                "PaymentServiceSelectionReq",
                "AuthorizationReq",
                "ChargeParameterDiscoveryReq",
                "CableCheckReq",
            ],
            Protocol::Iso20Dc => &[
                "supportedAppProtocolReq",
                "SessionSetupReq",
                "AuthorizationSetupReq",
                "AuthorizationReq",
                "ServiceDiscoveryReq",
                "ServiceDetailReq",
                "ServiceSelectionReq",
                "DC_ChargeParameterDiscoveryReq",
                "ScheduleExchangeReq",
                "DC_CableCheckReq",
            ],
        };
        assert_eq!(&reqs[..expected_start.len()], expected_start, "{protocol}");
        assert_eq!(reqs.last().map(String::as_str), Some("SessionStopReq"));
        for res in responses(&pair) {
            let code = res.response_code().unwrap();
            assert!(code.starts_with("OK"), "{protocol}: {} {code}", res.name);
        }
        // The session went through its states in order.
        let states: Vec<SessionState> = pair
            .secc_events
            .iter()
            .filter_map(|e| match e {
                SeccEvent::State(s) => Some(*s),
                _ => None,
            })
            .collect();
        let charging = states.iter().position(|s| *s == SessionState::Charging);
        let precharge = states.iter().position(|s| *s == SessionState::PreCharge);
        let cable = states.iter().position(|s| *s == SessionState::CableCheck);
        assert!(
            cable < precharge && precharge < charging,
            "{protocol}: {states:?}"
        );
        assert_eq!(states.last(), Some(&SessionState::Ended));
        assert_safe(&mut pair);
    }
}

#[test]
fn iso20_dynamic_mode_charges_at_the_site_setpoint() {
    let evcc = EvccConfig {
        control_mode: ControlMode::Dynamic,
        ..car(Protocol::Iso20Dc)
    };
    let station = Station {
        setpoint: Some(Watts(4000.0)),
        ..Station::default()
    };
    let mut pair = pair(Protocol::Iso20Dc, evcc, station);
    // Into the charge loop, then let the current settle.
    assert!(
        pair.run_until(Duration::from_secs(30), |p| p.evcc.evse().present_current.0
            > 9.0)
    );
    // 4 kW at the measured voltage (the car's target voltage, 420 V, is only a limit).
    pair.advance(Duration::from_secs(1));
    let evse = *pair.evcc.evse();
    let power = evse.present_voltage.0 * evse.present_current.0;
    assert!((power - 4000.0).abs() < 40.0, "{evse:?}");
    assert!(pair.run(Duration::from_secs(60)));
    assert_eq!(end(&pair), EndReason::Stopped { pause: false });
    assert!(requests(&pair).iter().any(|r| r == "DC_ChargeLoopReq"));
    let loop_res = responses(&pair)
        .into_iter()
        .find(|m| m.name == "DC_ChargeLoopRes")
        .unwrap();
    assert!(loop_res.json()["DC_ChargeLoopRes"]["Dynamic_DC_CLResControlMode"].is_object());
}

#[test]
fn iso20_bpt_discharges_the_car_in_scheduled_mode() {
    let evcc = EvccConfig {
        discharge: true,
        battery: v2g::evcc::BatteryConfig {
            soc: units::Percent(70.0),
            ..Default::default()
        },
        ..car(Protocol::Iso20Dc)
    };
    let mut pair = pair(Protocol::Iso20Dc, evcc, Station::default());
    assert!(
        pair.run_until(Duration::from_secs(30), |p| p.evcc.evse().present_current.0
            < -20.0)
    );
    // Current flows out of the car, within the charger's discharge limit.
    let m = pair.station.stage.clone().measure(pair.now);
    assert!(m.current.0 < -20.0 && m.current.0 >= -25.0, "{m:?}");
    assert!(pair.run(Duration::from_secs(60)));
    assert_eq!(end(&pair), EndReason::Stopped { pause: false });
    let charger = pair.charger_end().unwrap();
    let summary = pair.evcc.summary().unwrap();
    assert!(
        charger.discharged.0 > 1.0 && charger.charged.0 < 0.1,
        "{charger:?}"
    );
    assert!(summary.discharged.0 > 1.0);
    assert!(summary.soc_end < summary.soc_start, "{summary:?}");
    // The car selected DC_BPT and asked for the discharge channel.
    let reqs = transcript(&pair);
    let selection = reqs
        .iter()
        .find(|(c, m)| !c && m.name == "ServiceSelectionReq")
        .unwrap();
    assert_eq!(
        selection.1.json()["ServiceSelectionReq"]["SelectedEnergyTransferService"]["ServiceID"],
        6
    );
    let delivery = reqs
        .iter()
        .find(|(c, m)| !c && m.name == "PowerDeliveryReq")
        .unwrap();
    assert_eq!(
        delivery.1.json()["PowerDeliveryReq"]["BPT_ChannelSelection"],
        "Discharge"
    );
    assert_safe(&mut pair);
}

#[test]
fn iso20_bpt_dynamic_mode_discharges_at_a_negative_setpoint() {
    let evcc = EvccConfig {
        control_mode: ControlMode::Dynamic,
        discharge: true,
        battery: v2g::evcc::BatteryConfig {
            soc: units::Percent(70.0),
            ..Default::default()
        },
        ..car(Protocol::Iso20Dc)
    };
    let station = Station {
        setpoint: Some(Watts(-3000.0)),
        ..Station::default()
    };
    let mut pair = pair(Protocol::Iso20Dc, evcc, station);
    assert!(
        pair.run_until(Duration::from_secs(30), |p| p.evcc.evse().present_current.0
            < -6.0)
    );
    pair.advance(Duration::from_secs(1));
    let evse = *pair.evcc.evse();
    let power = evse.present_voltage.0 * evse.present_current.0;
    assert!((power + 3000.0).abs() < 30.0, "{evse:?}");
    // The site changes its mind: charge 2 kW.
    pair.station.setpoint = Some(Watts(2000.0));
    assert!(
        pair.run_until(Duration::from_secs(5), |p| p.evcc.evse().present_current.0
            > 4.0)
    );
    assert!(pair.run(Duration::from_secs(60)));
    assert_eq!(end(&pair), EndReason::Stopped { pause: false });
    let charger = pair.charger_end().unwrap();
    assert!(
        charger.discharged.0 > 0.5 && charger.charged.0 > 0.1,
        "{charger:?}"
    );
}

#[test]
fn the_car_stops_early_after_charge_parameter_discovery() {
    // Some cars (FreeV2G #170) send SessionStopReq right after ChargeParameterDiscovery.
    for protocol in ALL {
        let evcc = EvccConfig {
            behaviour: Behaviour {
                stop_after_parameters: true,
                ..Behaviour::default()
            },
            ..car(protocol)
        };
        let mut pair = pair(protocol, evcc, Station::default());
        assert!(pair.run(Duration::from_secs(30)));
        assert_eq!(
            end(&pair),
            EndReason::Stopped { pause: false },
            "{protocol}"
        );
        assert_eq!(car_result(&pair), Ok(()));
        let reqs = requests(&pair);
        assert_eq!(reqs[reqs.len() - 1], "SessionStopReq");
        assert!(
            reqs[reqs.len() - 2].ends_with("ScheduleExchangeReq")
                || reqs[reqs.len() - 2].ends_with("ChargeParameterDiscoveryReq"),
            "{reqs:?}"
        );
        assert_eq!(pair.charger_end().unwrap().charge_loop_cycles, 0);
        assert_safe(&mut pair);
    }
}

#[test]
fn the_car_stops_early_in_the_charge_loop() {
    for protocol in ALL {
        let evcc = EvccConfig {
            max_cycles: Some(3),
            ..car(protocol)
        };
        let mut pair = pair(protocol, evcc, Station::default());
        assert!(pair.run(Duration::from_secs(30)));
        assert_eq!(end(&pair), EndReason::Stopped { pause: false });
        // Three cycles, then the ramp down to below 2 A before PowerDelivery(stop).
        let cycles = pair.charger_end().unwrap().charge_loop_cycles;
        assert!((3..=23).contains(&cycles), "{protocol}: {cycles}");
        assert_safe(&mut pair);
    }
}

#[test]
fn a_silent_car_loses_the_current_at_once_and_the_session_after_the_sequence_timeout() {
    for protocol in ALL {
        let evcc = EvccConfig {
            behaviour: Behaviour {
                silent_after_cycles: Some(10),
                ..Behaviour::default()
            },
            ..car(protocol)
        };
        let mut pair = pair(protocol, evcc, Station::default());
        assert!(
            pair.run_until(Duration::from_secs(30), |p| p.secc_events.iter().any(|e| {
                matches!(e, SeccEvent::Warning(w) if w.contains("power stage off"))
            }))
        );
        // Still connected, but no current: within the watchdog (1 s) of the last request.
        assert!(!pair.secc.is_closed());
        assert_eq!(pair.secc.demand().power, PowerDemand::Off);
        let silent_since = pair.car_frames.last().unwrap().0;
        assert!(
            pair.now.saturating_duration_since(silent_since)
                <= Duration::from_secs(1) + pair.latency
        );
        // Then the sequence timeout.
        assert!(pair.run_until(Duration::from_secs(120), |p| p.secc.is_closed()));
        assert_eq!(
            end(&pair),
            EndReason::Timeout {
                waiting_for: "request",
                after: Duration::from_secs(60)
            },
            "{protocol}"
        );
        let ended = pair.now.saturating_duration_since(silent_since);
        assert_eq!(ended, Duration::from_secs(60) + pair.latency);
        assert_safe(&mut pair);
    }
}

#[test]
fn a_request_out_of_sequence_gets_failed_sequence_error_and_ends_the_session() {
    for protocol in ALL {
        let evcc = EvccConfig {
            behaviour: Behaviour {
                skip_to_charge_loop: true,
                ..Behaviour::default()
            },
            ..car(protocol)
        };
        let mut pair = pair(protocol, evcc, Station::default());
        assert!(pair.run(Duration::from_secs(30)), "{protocol}");
        assert!(
            matches!(
                end(&pair),
                EndReason::SequenceError { request, .. } if request == charge_loop_name(protocol)
            ),
            "{protocol}: {:?}",
            end(&pair)
        );
        let last = responses(&pair).pop().unwrap();
        assert_eq!(last.name, charge_loop_name(protocol).replace("Req", "Res"));
        assert_eq!(
            last.response_code().as_deref(),
            Some("FAILED_SequenceError")
        );
        assert!(matches!(
            car_result(&pair),
            Err(EvccError::Refused { code, .. }) if code == "FAILED_SequenceError"
        ));
        assert_safe(&mut pair);
    }
}

#[test]
fn a_wrong_session_id_gets_failed_unknown_session_and_stops_the_current() {
    for protocol in ALL {
        let evcc = EvccConfig {
            behaviour: Behaviour {
                wrong_session_id_at_cycle: Some(5),
                ..Behaviour::default()
            },
            ..car(protocol)
        };
        let mut pair = pair(protocol, evcc, Station::default());
        assert!(pair.run(Duration::from_secs(30)));
        assert_eq!(
            end(&pair),
            EndReason::UnknownSession {
                request: charge_loop_name(protocol)
            }
        );
        let last = responses(&pair).pop().unwrap();
        assert_eq!(
            last.response_code().as_deref(),
            Some("FAILED_UnknownSession")
        );
        assert_eq!(pair.charger_end().unwrap().charge_loop_cycles, 4);
        assert_safe(&mut pair);
    }
}

#[test]
fn a_tcp_reset_mid_charge_loop_stops_the_power_and_the_next_session_works() {
    for protocol in ALL {
        let mut pair = pair(protocol, car(protocol), Station::default());
        assert!(pair.run_until(Duration::from_secs(30), |p| {
            p.evcc.evse().present_current.0 > 20.0
        }));
        pair.reset();
        assert_eq!(end(&pair), EndReason::ConnectionLost, "{protocol}");
        assert_eq!(car_result(&pair), Err(EvccError::ConnectionLost));
        assert_safe(&mut pair);
        // The same charger hardware serves the next car.
        let station = pair.station.clone();
        let now = pair.now;
        let mut next =
            Pair::with_station(SeccConfig::default(), car(protocol), station, [8; 32], now);
        assert!(next.run(Duration::from_secs(120)));
        assert_eq!(end(&next), EndReason::Stopped { pause: false });
        assert_ne!(
            next.charger_end().unwrap().session_id,
            pair.charger_end().unwrap().session_id,
            "a fresh SessionID"
        );
    }
}

#[test]
fn authorization_repeats_ongoing_until_the_site_decides() {
    for protocol in ALL {
        let station = Station {
            authorization: Authorization::Pending,
            ..Station::default()
        };
        let mut pair = pair(protocol, car(protocol), station);
        pair.advance(Duration::from_secs(3));
        pair.station.authorization = Authorization::Granted;
        assert!(pair.run(Duration::from_secs(120)));
        assert_eq!(end(&pair), EndReason::Stopped { pause: false });
        let auth = if protocol == Protocol::Din {
            "ContractAuthenticationRes"
        } else {
            "AuthorizationRes"
        };
        let processing: Vec<String> = responses(&pair)
            .iter()
            .filter(|m| m.name == auth)
            .map(|m| {
                let json = m.json().to_string();
                if json.contains("\"Ongoing\"") {
                    "Ongoing"
                } else {
                    "Finished"
                }
                .to_owned()
            })
            .collect();
        // About 3 s of repeats every 100 ms, then Finished.
        assert!(processing.len() > 20, "{protocol}: {processing:?}");
        assert!(
            processing[..processing.len() - 1]
                .iter()
                .all(|p| p == "Ongoing")
        );
        assert_eq!(processing.last().map(String::as_str), Some("Finished"));
    }
}

#[test]
fn a_denied_car_gets_failed_and_no_power() {
    for protocol in ALL {
        let station = Station {
            authorization: Authorization::Denied,
            ..Station::default()
        };
        let mut pair = pair(protocol, car(protocol), station);
        assert!(pair.run(Duration::from_secs(30)));
        assert_eq!(end(&pair), EndReason::NotAuthorized);
        assert_eq!(
            responses(&pair).pop().unwrap().response_code().as_deref(),
            Some("FAILED")
        );
        assert!(
            pair.demands
                .iter()
                .all(|(_, d)| d.power == PowerDemand::Off)
        );
    }
}

#[test]
fn cable_check_goes_from_isolation_monitoring_to_finished_valid_ready() {
    // The Audi Q4 stopped after Finished with EVSE_NotReady: Finished comes with EVSE_Ready
    // and Valid (shared/docs/ccs-research.md §7).
    for protocol in [Protocol::Din, Protocol::Iso2] {
        let mut pair = pair(protocol, car(protocol), Station::default());
        assert!(pair.run(Duration::from_secs(120)));
        let checks: Vec<serde_json::Value> = responses(&pair)
            .iter()
            .filter(|m| m.name == "CableCheckRes")
            .map(|m| m.json()["V2G_Message"]["Body"]["CableCheckRes"].clone())
            .collect();
        assert!(
            checks.len() >= 10,
            "1.5 s of tests at 100 ms: {}",
            checks.len()
        );
        let (last, ongoing) = checks.split_last().unwrap();
        for c in ongoing {
            assert_eq!(c["EVSEProcessing"], "Ongoing");
            assert_eq!(
                c["DC_EVSEStatus"]["EVSEStatusCode"],
                "EVSE_IsolationMonitoringActive"
            );
        }
        assert_eq!(last["EVSEProcessing"], "Finished");
        assert_eq!(last["DC_EVSEStatus"]["EVSEStatusCode"], "EVSE_Ready");
        assert_eq!(last["DC_EVSEStatus"]["EVSEIsolationStatus"], "Valid");
        // The isolation test ran at the car's maximum voltage (420 V), then the output was
        // discharged before pre-charge.
        let tests: Vec<_> = pair
            .demands
            .iter()
            .filter(|(_, d)| d.isolation_test)
            .collect();
        assert!(
            matches!(tests[0].1.power, PowerDemand::CableCheck { voltage } if voltage.0 == 420.0)
        );
    }
}

#[test]
fn an_isolation_fault_fails_the_cable_check() {
    for protocol in ALL {
        let station = Station {
            imd: SimIsolationMonitor::new(Duration::from_millis(500), Isolation::Fault),
            ..Station::default()
        };
        let mut pair = pair(protocol, car(protocol), station);
        assert!(pair.run(Duration::from_secs(30)));
        assert_eq!(end(&pair), EndReason::CableCheckFailed(Isolation::Fault));
        assert_eq!(
            responses(&pair).pop().unwrap().response_code().as_deref(),
            Some("FAILED")
        );
        assert_safe(&mut pair);
    }
}

#[test]
fn the_car_waits_in_precharge_until_the_voltage_is_there() {
    for protocol in ALL {
        let mut pair = pair(protocol, car(protocol), Station::default());
        assert!(pair.run(Duration::from_secs(120)));
        let t = transcript(&pair);
        let name = if protocol == Protocol::Iso20Dc {
            "DC_PreChargeRes"
        } else {
            "PreChargeRes"
        };
        let voltages: Vec<f64> = t
            .iter()
            .filter(|(c, m)| *c && m.name == name)
            .map(|(_, m)| value(&find(&m.json(), "EVSEPresentVoltage")))
            .collect();
        // The output comes from the isolation test voltage (420 V) down to the battery's
        // 357 V; the car asks again as long as it is more than 20 V away.
        let (last, before) = voltages.split_last().unwrap();
        assert!(before.len() >= 2, "{protocol}: {voltages:?}");
        assert!(
            before.iter().all(|v| (v - 357.0).abs() > 20.0),
            "{voltages:?}"
        );
        assert!((last - 357.0).abs() <= 20.0, "{voltages:?}");
        // PowerDelivery only after the last PreCharge.
        let names: Vec<&str> = t
            .iter()
            .filter(|(c, _)| !c)
            .map(|(_, m)| m.name.as_str())
            .collect();
        let last_pre = names
            .iter()
            .rposition(|n| n.ends_with("PreChargeReq"))
            .unwrap();
        assert_eq!(names[last_pre + 1], "PowerDeliveryReq");
    }
}

/// The number a PhysicalValue or RationalNumber in JSON stands for.
fn value(pv: &serde_json::Value) -> f64 {
    let exp = pv.get("Multiplier").or_else(|| pv.get("Exponent")).unwrap();
    pv["Value"].as_f64().unwrap() * 10f64.powi(exp.as_i64().unwrap() as i32)
}

fn find(v: &serde_json::Value, key: &str) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => m
            .get(key)
            .cloned()
            .or_else(|| m.values().map(|x| find(x, key)).find(|x| !x.is_null()))
            .unwrap_or(serde_json::Value::Null),
        _ => serde_json::Value::Null,
    }
}

#[test]
fn a_negative_precharge_voltage_is_ignored() {
    // The Skoda Enyaq asks for voltages below zero at first (EVerest's hack_skoda_enyaq).
    for protocol in ALL {
        let evcc = EvccConfig {
            behaviour: Behaviour {
                negative_precharge: true,
                ..Behaviour::default()
            },
            ..car(protocol)
        };
        let mut pair = pair(protocol, evcc, Station::default());
        assert!(pair.run(Duration::from_secs(120)));
        assert_eq!(end(&pair), EndReason::Stopped { pause: false });
        assert!(pair.secc_events.iter().any(|e| matches!(e,
            SeccEvent::Warning(w) if w.contains("pre-charge to -357"))));
        // No demand ever had a negative voltage.
        for (_, d) in &pair.demands {
            if let PowerDemand::PreCharge { voltage, .. } | PowerDemand::Deliver { voltage, .. } =
                d.power
            {
                assert!(voltage.0 >= 0.0);
            }
        }
    }
}

#[test]
fn the_charger_answers_every_request_without_waiting() {
    // PowerDelivery in particular: cars give up when it takes long (FreeV2G #250).
    for protocol in ALL {
        let mut pair = pair(protocol, car(protocol), Station::default());
        assert!(pair.run(Duration::from_secs(120)));
        let summary = pair.evcc.summary().unwrap();
        // Two one-way latencies of the in-memory connection, nothing more.
        assert_eq!(summary.latency.max, pair.latency * 2, "{protocol}");
        assert_eq!(pair.car_frames.len(), pair.charger_frames.len());
    }
}

#[test]
fn a_fault_stops_the_charge_loop_with_emergency_shutdown() {
    for protocol in ALL {
        let mut pair = pair(protocol, car(protocol), Station::default());
        assert!(
            pair.run_until(Duration::from_secs(30), |p| p.evcc.evse().present_current.0
                > 20.0)
        );
        let now = pair.now;
        pair.station.fail(now, Fault::EmergencyStop);
        assert!(pair.run(Duration::from_secs(10)));
        assert_eq!(end(&pair), EndReason::Fault(Fault::EmergencyStop));
        let last = responses(&pair).pop().unwrap();
        assert_eq!(last.response_code().as_deref(), Some("FAILED"));
        if protocol != Protocol::Iso20Dc {
            assert_eq!(
                find(&last.json(), "EVSEStatusCode"),
                "EVSE_EmergencyShutdown"
            );
        }
        assert_eq!(pair.secc.demand().power, PowerDemand::Off);
    }
}

#[test]
fn the_site_can_end_the_session_gracefully() {
    for protocol in ALL {
        let evcc = EvccConfig {
            max_cycles: None,
            ..car(protocol)
        };
        let mut pair = pair(protocol, evcc, Station::default());
        assert!(
            pair.run_until(Duration::from_secs(30), |p| p.evcc.evse().present_current.0
                > 20.0)
        );
        pair.station.stop = true;
        assert!(pair.run(Duration::from_secs(30)), "{protocol}");
        // The car ramps down, stops the power and ends the session itself.
        assert_eq!(end(&pair), EndReason::Stopped { pause: false });
        assert_eq!(car_result(&pair), Ok(()));
        assert!(pair.evcc.evse().stop_requested);
        assert_safe(&mut pair);
    }
}

#[test]
fn a_connection_without_requests_times_out_at_communication_setup() {
    use std::sync::Arc;
    use v2g::secc::Secc;
    let mut secc = Secc::new(Arc::new(SeccConfig::default()), [1; 32], start());
    let deadline = secc.poll_timeout().unwrap();
    assert_eq!(deadline, start() + Duration::from_secs(18));
    secc.handle_timeout(deadline - Duration::from_millis(1));
    assert!(!secc.is_closed());
    secc.handle_timeout(deadline);
    assert!(secc.is_closed());
    let ended = std::iter::from_fn(|| secc.poll_event())
        .find_map(|e| match e {
            SeccEvent::Ended(end) => Some(end.reason),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        ended,
        EndReason::Timeout {
            waiting_for: "SessionSetupReq",
            after: Duration::from_secs(18)
        }
    );
    assert_eq!(secc.demand().power, PowerDemand::Off);
    assert_eq!(secc.poll_timeout(), None);
}

#[test]
fn the_charge_limits_hold_whatever_the_car_asks() {
    let mut pair = pair(Protocol::Iso2, car(Protocol::Iso2), Station::default());
    pair.station.limits.max_power = Watts(3000.0);
    assert!(pair.run(Duration::from_secs(120)));
    for (_, d) in &pair.demands {
        if let PowerDemand::Deliver { current, .. } = d.power {
            assert!(current <= Amps(25.0));
        }
    }
    // The power the car saw: measured voltage times current, in every response.
    let loop_res: Vec<Message> = responses(&pair)
        .into_iter()
        .filter(|m| m.name == "CurrentDemandRes")
        .collect();
    for m in &loop_res {
        let v = value(&find(&m.json(), "EVSEPresentVoltage"));
        let i = value(&find(&m.json(), "EVSEPresentCurrent"));
        assert!(v * i <= 3000.0 * 1.01, "{v} V {i} A");
    }
    assert!(pair.evcc.summary().unwrap().result.is_ok());
    // The car asked for more: the charger said so.
    assert!(
        loop_res
            .iter()
            .any(|m| find(&m.json(), "EVSEPowerLimitAchieved") == true)
    );
}

#[test]
fn events_report_the_car() {
    let mut pair = pair(Protocol::Din, car(Protocol::Din), Station::default());
    assert!(pair.run(Duration::from_secs(120)));
    let ev = pair
        .secc_events
        .iter()
        .filter_map(|e| match e {
            SeccEvent::Ev(ev) => Some(ev),
            _ => None,
        })
        .next_back()
        .unwrap();
    assert_eq!(ev.max_voltage, Some(units::Volts(420.0)));
    assert_eq!(ev.max_current, Some(Amps(125.0)));
    assert!(ev.soc.is_some());
    assert!(pair.secc_events.iter().any(
        |e| matches!(e, SeccEvent::SessionStarted { evcc_id, .. } if evcc_id == "020000000002")
    ));
    assert!(
        pair.evcc_events
            .iter()
            .any(|e| matches!(e, EvccEvent::Charging))
    );
}
