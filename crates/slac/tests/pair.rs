//! Our EV against our charger on a simulated powerline, on virtual time: the happy path, lost
//! frames, restarts, departures, several chargers, silent modems.

mod bench;

use std::time::Duration;

use bench::{Bench, EV_MAC, EVSE_MAC, T0, settle};
use homeplug::{MacAddr, Message, MmType, RunId};
use slac::evse::UnmatchReason;
use slac::timing::{
    C_EV_MATCH_MNBC, C_EV_START_ATTEN_CHAR_INDS, EV_MATCH_ATTEMPT_MAX,
    TP_EV_BATCH_MSG_INTERVAL_MAX, TP_EV_BATCH_MSG_INTERVAL_MIN, TT_EV_ATTEN_RESULTS,
    TT_EVSE_MATCH_MNBC, TT_EVSE_MATCH_SESSION, TT_EVSE_SLAC_INIT_MAX, TT_MATCH_JOIN,
    TT_MATCH_RESPONSE, TT_MATCHING_RATE, TT_MATCHING_REPETITION,
};
use slac::{EvConfig, EvEvent, EvFailure, EvseEvent, EvseFailure};

fn matched_pair() -> Bench {
    let mut bench = Bench::pair();
    settle(&mut bench);
    let now = bench.now;
    bench.ev().handle_start(now);
    assert!(bench.run_until_ev_matched(), "{:?}", bench.ev_events);
    bench
}

#[test]
fn our_ev_matches_our_charger_within_the_standards_timing() {
    let bench = matched_pair();
    let [ev] = &bench.ev_matches()[..] else {
        panic!("{:?}", bench.ev_events)
    };
    let [evse] = &bench.evse_matches(0)[..] else {
        panic!("{:?}", bench.evse_events)
    };
    assert_eq!((ev.evse_mac, evse.ev_mac), (EVSE_MAC, EV_MAC));
    assert_eq!(
        (ev.nmk, ev.nid, ev.run_id),
        (evse.nmk, evse.nid, evse.run_id)
    );
    assert_eq!(
        evse.nid,
        homeplug::Nid::from_nmk(&evse.nmk, homeplug::SecurityLevel::SimpleConnect)
    );
    assert_eq!(
        (ev.sounds, evse.sounds, ev.attempts),
        (C_EV_MATCH_MNBC, C_EV_MATCH_MNBC, 1)
    );
    // The charger averaged its modem's 58 real values.
    let mean = slac::sim::REAL_AAG
        .iter()
        .map(|&a| f64::from(a))
        .sum::<f64>()
        / 58.0;
    assert_eq!(ev.attenuation_db, mean);

    // Parameters (2 hops), 13 sounding frames 20 ms apart, the last profile, the report and the
    // match (4 hops) at 1 ms a hop: 246 ms, far inside the standard's bound.
    assert_eq!(ev.duration(), Duration::from_millis(2 + 12 * 20 + 4));
    assert!(ev.duration() <= EV_MATCH_ATTEMPT_MAX);
    assert!(ev.joined > ev.matched);

    // The charger answered each request at once (the 1 ms is the line's latency).
    let cnf = bench.sent(MmType::CM_SLAC_PARAM_CNF);
    let req = bench.sent(MmType::CM_SLAC_PARAM_REQ);
    assert_eq!(
        cnf[0].0.saturating_duration_since(req[0].0),
        Duration::from_millis(1)
    );
    let m_req = bench.sent(MmType::CM_SLAC_MATCH_REQ);
    let m_cnf = bench.sent(MmType::CM_SLAC_MATCH_CNF);
    assert_eq!(
        m_cnf[0].0.saturating_duration_since(m_req[0].0),
        Duration::from_millis(1)
    );

    // The car's sounding: 3 announcements then 10 sounds counting down, one batch interval apart.
    let starts = bench.sent(MmType::CM_START_ATTEN_CHAR_IND);
    let sounds = bench.sent(MmType::CM_MNBC_SOUND_IND);
    assert_eq!((starts.len(), sounds.len()), (3, 10));
    let counts: Vec<u8> = sounds
        .iter()
        .map(|(_, r, _)| match &r.message {
            Message::MnbcSoundInd(s) => s.count,
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(counts, (0..10).rev().collect::<Vec<u8>>());
    let times: Vec<Timestamp> = starts.iter().chain(&sounds).map(|s| s.0).collect();
    for w in times.windows(2) {
        let gap = w[1].saturating_duration_since(w[0]);
        assert!((TP_EV_BATCH_MSG_INTERVAL_MIN..=TP_EV_BATCH_MSG_INTERVAL_MAX).contains(&gap));
    }
    let Message::StartAttenCharInd(ind) = &starts[0].1.message else {
        panic!()
    };
    assert_eq!((ind.num_sounds, ind.time_out, ind.resp_type), (10, 6, 1));
}

use units::Timestamp;

#[test]
fn same_seeds_same_session() {
    let a = matched_pair();
    let b = matched_pair();
    assert_eq!(a.ev_matches(), b.ev_matches());
    assert_eq!(a.line.log(), b.line.log());
}

fn lose_first(mmtype: MmType) -> impl FnMut(slac::sim::HostId, &homeplug::Repr) -> bool {
    let mut lost = false;
    move |_, r| {
        if !lost && r.message.mmtype() == mmtype {
            lost = true;
            return true;
        }
        false
    }
}

fn match_with_loss(
    rule: impl FnMut(slac::sim::HostId, &homeplug::Repr) -> bool + Send + 'static,
) -> Bench {
    let mut bench = Bench::pair();
    settle(&mut bench);
    bench.line.set_loss(rule);
    let now = bench.now;
    bench.ev().handle_start(now);
    assert!(bench.run_until_ev_matched(), "{:#?}", bench.ev_events);
    assert_eq!(bench.evse_matches(0).len(), 1);
    bench
}

#[test]
fn a_lost_parameter_request_is_repeated_after_tt_match_response() {
    let bench = match_with_loss(lose_first(MmType::CM_SLAC_PARAM_REQ));
    let req = bench.sent(MmType::CM_SLAC_PARAM_REQ);
    assert_eq!(req.len(), 2);
    assert!(req[0].2 && !req[1].2);
    assert_eq!(
        req[1].0.saturating_duration_since(req[0].0),
        TT_MATCH_RESPONSE
    );
    assert_eq!(
        bench.ev_matches()[0].attempts,
        1,
        "a repeat, not a new attempt"
    );
}

#[test]
fn a_lost_parameter_confirmation_makes_the_charger_restart_the_session() {
    let bench = match_with_loss(lose_first(MmType::CM_SLAC_PARAM_CNF));
    assert_eq!(bench.sent(MmType::CM_SLAC_PARAM_CNF).len(), 2);
    let restarts: Vec<bool> = bench
        .evse_events
        .iter()
        .filter_map(|(_, _, e)| match e {
            EvseEvent::MatchingStarted { restart, .. } => Some(*restart),
            _ => None,
        })
        .collect();
    assert_eq!(restarts, [false, true]);
}

#[test]
fn lost_start_announcements_are_covered_by_the_sounds() {
    // All three CM_START_ATTEN_CHAR.IND lost: the first sound opens the window.
    let bench = match_with_loss(|_, r| r.message.mmtype() == MmType::CM_START_ATTEN_CHAR_IND);
    assert_eq!(bench.evse_matches(0)[0].sounds, C_EV_MATCH_MNBC);
}

#[test]
fn lost_sounds_are_averaged_without_after_tt_evse_match_mnbc() {
    let mut n = 0;
    let bench = match_with_loss(move |_, r| {
        if r.message.mmtype() == MmType::CM_MNBC_SOUND_IND {
            n += 1;
            return n % 4 == 0; // sounds 4 and 8
        }
        false
    });
    let m = &bench.evse_matches(0)[0];
    assert_eq!(m.sounds, 8);
    // With sounds missing the charger waits out TT_EVSE_match_MNBC from the first announcement.
    let start = bench.sent(MmType::CM_START_ATTEN_CHAR_IND)[0].0;
    let ind = bench.sent(MmType::CM_ATTEN_CHAR_IND)[0].0;
    assert_eq!(
        ind.saturating_duration_since(start),
        TT_EVSE_MATCH_MNBC + Duration::from_millis(1)
    );
    assert!(bench.ev_matches()[0].duration() <= EV_MATCH_ATTEMPT_MAX);
}

#[test]
fn a_lost_attenuation_report_is_repeated() {
    let bench = match_with_loss(lose_first(MmType::CM_ATTEN_CHAR_IND));
    let ind = bench.sent(MmType::CM_ATTEN_CHAR_IND);
    assert_eq!(ind.len(), 2);
    assert_eq!(
        ind[1].0.saturating_duration_since(ind[0].0),
        TT_MATCH_RESPONSE
    );
}

#[test]
fn a_lost_attenuation_acknowledgement_does_not_stop_the_match() {
    // The car goes on to CM_SLAC_MATCH.REQ at once; the charger takes it as the acknowledgement.
    let bench = match_with_loss(lose_first(MmType::CM_ATTEN_CHAR_RSP));
    assert_eq!(bench.sent(MmType::CM_ATTEN_CHAR_IND).len(), 1);
}

#[test]
fn a_lost_match_confirmation_is_sent_again_on_the_repeated_request() {
    let bench = match_with_loss(lose_first(MmType::CM_SLAC_MATCH_CNF));
    let req = bench.sent(MmType::CM_SLAC_MATCH_REQ);
    let cnf = bench.sent(MmType::CM_SLAC_MATCH_CNF);
    assert_eq!((req.len(), cnf.len()), (2, 2));
    assert_eq!(
        req[1].0.saturating_duration_since(req[0].0),
        TT_MATCH_RESPONSE
    );
    assert_eq!(cnf[0].1, cnf[1].1, "the same NMK both times");
    assert_eq!(bench.evse_matches(0).len(), 1);
}

#[test]
fn the_car_leaving_mid_way_ends_the_session_and_keeps_the_key() {
    let mut bench = Bench::pair();
    settle(&mut bench);
    let now = bench.now;
    bench.ev().handle_start(now);
    // Leave while sounding.
    bench.run_until(Duration::from_secs(1), |b| {
        b.sent(MmType::CM_MNBC_SOUND_IND).len() == 3
    });
    let nid = bench.evse().nid();
    let now = bench.now;
    bench.evse().handle_car_left(now);
    bench.run_for(Duration::from_secs(3));
    assert!(bench.evse_matches(0).is_empty());
    assert!(bench.ev_matches().is_empty());
    assert!(
        bench.sent(MmType::CM_ATTEN_CHAR_IND).is_empty(),
        "sounds after leaving are ignored"
    );
    // The car never had the key, so the charger keeps its network.
    assert_eq!(bench.evse().nid(), nid);
    assert_eq!(
        bench
            .sent(MmType::CM_SET_KEY_REQ)
            .iter()
            .filter(|s| s.1.src == EVSE_MAC)
            .count(),
        1
    );
    // The car's later attempts fall on deaf ears: an unplugged charger answers nothing.
    assert_eq!(bench.sent(MmType::CM_SLAC_PARAM_CNF).len(), 1);
}

#[test]
fn the_car_leaving_after_the_match_rotates_the_key() {
    let mut bench = matched_pair();
    let first = bench.evse_matches(0)[0].clone();
    let now = bench.now;
    bench.evse().handle_car_left(now);
    bench.ev().handle_stop();
    bench.run_for(Duration::from_millis(10));
    assert!(bench.evse_events.iter().any(|(_, _, e)| matches!(
        e,
        EvseEvent::Unmatched {
            ev_mac: EV_MAC,
            reason: UnmatchReason::CarLeft
        }
    )));
    assert_ne!(
        bench.evse().nid(),
        first.nid,
        "a new network after the car left"
    );
    assert!(bench.evse().matched().is_none());

    // Plugged in again: a new match, with the new key.
    let now = bench.now;
    bench.evse().handle_car_plugged(now);
    bench.ev().handle_start(now);
    bench.run_until(Duration::from_secs(5), |b| b.ev_matches().len() == 2);
    let second = &bench.evse_matches(0)[1];
    assert_ne!(second.nmk, first.nmk);
    assert_eq!(bench.ev_matches()[1].nmk, second.nmk);
}

#[test]
fn a_car_restarting_slac_after_the_match_is_served_again() {
    // Stellantis cars start SLAC again when the link does not come up quickly.
    let mut bench = matched_pair();
    let first = bench.evse_matches(0)[0].clone();
    let now = bench.now;
    bench.ev().handle_start(now);
    bench.run_until(Duration::from_secs(5), |b| b.ev_matches().len() == 2);
    assert!(bench.evse_events.iter().any(|(_, _, e)| matches!(
        e,
        EvseEvent::Unmatched {
            reason: UnmatchReason::SlacRestarted,
            ..
        }
    )));
    let second = &bench.evse_matches(0)[1];
    assert_ne!(second.run_id, first.run_id);
    assert_eq!(second.nmk, first.nmk, "same plug-in, same network");
}

#[test]
fn a_car_that_starts_late_still_matches() {
    // VW-group cars have been seen to start SLAC ~30 s after plug-in.
    let mut bench = Bench::pair();
    settle(&mut bench);
    bench.run_for(Duration::from_secs(30));
    let now = bench.now;
    bench.ev().handle_start(now);
    assert!(bench.run_until_ev_matched());
    assert!(
        !bench
            .evse_events
            .iter()
            .any(|(_, _, e)| *e == EvseEvent::SlacInitTimeout)
    );
}

#[test]
fn no_car_within_tt_evse_slac_init_is_reported_once_and_late_cars_are_still_served() {
    let mut bench = Bench::pair();
    settle(&mut bench);
    bench.run_for(TT_EVSE_SLAC_INIT_MAX + Duration::from_secs(5));
    let timeouts: Vec<Timestamp> = bench
        .evse_events
        .iter()
        .filter(|(_, _, e)| *e == EvseEvent::SlacInitTimeout)
        .map(|(t, _, _)| *t)
        .collect();
    assert_eq!(timeouts, [T0 + TT_EVSE_SLAC_INIT_MAX]);
    let now = bench.now;
    bench.ev().handle_start(now);
    assert!(bench.run_until_ev_matched());
}

#[test]
fn two_chargers_on_one_powerline_the_car_picks_the_closer_one() {
    let mut bench = Bench::empty(Duration::from_millis(1));
    let near = MacAddr([0x02, 0, 0, 0, 0, 0x0A]);
    let far = MacAddr([0x02, 0, 0, 0, 0, 0x0B]);
    bench.add_evse(far, &[40; 58]);
    bench.add_evse(near, &[12; 58]);
    bench.add_ev(EvConfig::new(EV_MAC, [2; 32]));
    for (_, evse) in &mut bench.evses {
        evse.handle_car_plugged(T0);
    }
    settle(&mut bench);
    let now = bench.now;
    bench.ev().handle_start(now);
    assert!(bench.run_until_ev_matched());
    assert_eq!(bench.ev_matches()[0].evse_mac, near);
    assert_eq!(bench.ev_matches()[0].attenuation_db, 12.0);
    assert_eq!(bench.evse_matches(1).len(), 1);
    // The far charger characterized too, then waited in vain for the car's choice.
    bench.run_for(TT_EVSE_MATCH_SESSION + Duration::from_secs(1));
    assert!(bench.evse_matches(0).is_empty());
    assert_eq!(bench.evse_failures(), [EvseFailure::NoMatchRequest]);
}

#[test]
fn a_tesla_style_fixed_run_id_is_echoed() {
    let mut bench = Bench::empty(Duration::from_millis(1));
    bench.add_evse(EVSE_MAC, &slac::sim::REAL_AAG);
    let mut config = EvConfig::new(EV_MAC, [2; 32]);
    config.run_id = Some(RunId(*b"TESLA EV"));
    bench.add_ev(config);
    bench.evse().handle_car_plugged(T0);
    settle(&mut bench);
    let now = bench.now;
    bench.ev().handle_start(now);
    assert!(bench.run_until_ev_matched());
    for (_, repr, _) in bench.sent(MmType::CM_SLAC_PARAM_CNF) {
        let Message::SlacParamCnf(cnf) = repr.message else {
            panic!()
        };
        assert_eq!(cnf.run_id, RunId(*b"TESLA EV"));
    }
}

#[test]
fn the_ev_gives_up_after_tt_matching_repetition_without_a_charger() {
    let mut bench = Bench::empty(Duration::from_millis(1));
    bench.add_ev(EvConfig::new(EV_MAC, [2; 32]));
    bench.ev().handle_start(T0);
    bench.run_for(TT_MATCHING_REPETITION + Duration::from_secs(5));
    let failed: Vec<&EvEvent> = bench
        .ev_events
        .iter()
        .map(|(_, _, e)| e)
        .filter(|e| matches!(e, EvEvent::AttemptFailed { .. } | EvEvent::Failed { .. }))
        .collect();
    let last = failed.last().unwrap();
    assert_eq!(
        **last,
        EvEvent::Failed {
            reason: EvFailure::NoParamCnf
        }
    );
    // Each attempt: 3 requests 200 ms apart, then TT_matching_rate: one attempt per second.
    let attempts = failed.len() - 1;
    let per_attempt = TT_MATCH_RESPONSE * 3 + TT_MATCHING_RATE;
    assert_eq!(
        attempts as u32,
        TT_MATCHING_REPETITION.as_millis() as u32 / per_attempt.as_millis() as u32
    );
    let reqs = bench.sent(MmType::CM_SLAC_PARAM_REQ);
    assert_eq!(reqs.len(), attempts * 3);
    // A new RunID per attempt.
    assert_ne!(reqs[0].1, reqs[3].1);
}

#[test]
fn a_charger_that_stops_answering_makes_the_ev_retry_the_whole_attempt() {
    // The charger answers the parameter request but loses every attenuation report.
    let bench = match_with_loss({
        let mut n = 0;
        move |_, r| {
            if r.message.mmtype() == MmType::CM_ATTEN_CHAR_IND {
                n += 1;
                return n <= 3;
            }
            false
        }
    });
    let m = &bench.ev_matches()[0];
    assert_eq!(m.attempts, 2);
    let failures: Vec<EvFailure> = bench
        .ev_events
        .iter()
        .filter_map(|(_, _, e)| match e {
            EvEvent::AttemptFailed { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect();
    assert_eq!(failures, [EvFailure::NoAttenChar]);
    // The charger repeated its report twice (C_EV_match_retry), then gave the session up... but
    // the car restarted first, replacing the session.
    let first = bench.sent(MmType::CM_START_ATTEN_CHAR_IND)[0].0;
    let second_req = bench.sent(MmType::CM_SLAC_PARAM_REQ)[1].0;
    assert_eq!(
        second_req.saturating_duration_since(first),
        TT_EV_ATTEN_RESULTS + TT_MATCHING_RATE
    );
}

#[test]
fn silent_modems_are_reported() {
    let mut bench = Bench::pair();
    let (evse_host, ev_host) = (bench.evses[0].0, bench.evs[0].0);
    bench.line.set_modem_answers(evse_host, false);
    bench.line.set_modem_answers(ev_host, false);
    let now = bench.now;
    bench.ev().handle_start(now);
    bench.run_for(Duration::from_secs(10));
    assert!(
        bench
            .evse_events
            .iter()
            .any(|(t, _, e)| *e == EvseEvent::ModemSilent && *t == T0 + Duration::from_secs(3))
    );
    // SLAC itself still works (it does not need the modem), but the car cannot join.
    assert_eq!(bench.evse_matches(0).len(), 1);
    assert!(bench.ev_events.iter().any(|(_, _, e)| *e
        == EvEvent::Failed {
            reason: EvFailure::ModemSilent
        }));
    assert!(bench.ev_matches().is_empty());
    assert_eq!(C_EV_START_ATTEN_CHAR_INDS, 3);
}

fn pair_with_link_detection() -> Bench {
    let mut bench = Bench::empty(Duration::from_millis(1));
    let mut config = slac::EvseConfig::new(EVSE_MAC, [100; 32]);
    config.link_detection = true;
    bench.add_evse_with(config, &slac::sim::REAL_AAG);
    bench.add_ev(EvConfig::new(EV_MAC, [2; 32]));
    bench.evse().handle_car_plugged(T0);
    settle(&mut bench);
    bench
}

#[test]
fn with_link_detection_the_charger_reports_when_the_car_joined() {
    let mut bench = pair_with_link_detection();
    let now = bench.now;
    bench.ev().handle_start(now);
    assert!(bench.run_until_ev_matched());
    bench.run_for(Duration::from_millis(500));
    let link_up: Vec<Duration> = bench
        .evse_events
        .iter()
        .filter_map(|(_, _, e)| match e {
            EvseEvent::LinkUp {
                ev_mac: EV_MAC,
                after_match,
            } => Some(*after_match),
            _ => None,
        })
        .collect();
    // The car's modem had the key 2 ms after the match; the next poll (answered after the 1 ms
    // latency) saw the link.
    assert_eq!(
        link_up,
        [slac::evse::LINK_STATUS_INTERVAL + Duration::from_millis(1)]
    );
    // Polling stopped once the link was up.
    let polls = bench.sent(MmType::VS_PL_LINK_STATUS_REQ).len();
    bench.run_for(Duration::from_secs(1));
    assert_eq!(bench.sent(MmType::VS_PL_LINK_STATUS_REQ).len(), polls);
}

#[test]
fn with_link_detection_a_car_that_never_joins_is_unmatched_after_tt_match_join() {
    let mut bench = pair_with_link_detection();
    // The car's modem never takes the key: the car matches but cannot join.
    let ev_host = bench.evs[0].0;
    bench.line.set_modem_answers(ev_host, false);
    let now = bench.now;
    bench.ev().handle_start(now);
    bench.run_for(TT_MATCH_JOIN + Duration::from_secs(5));
    let matched = bench.evse_matches(0)[0].matched;
    let unmatched: Vec<Timestamp> = bench
        .evse_events
        .iter()
        .filter(|(_, _, e)| {
            matches!(
                e,
                EvseEvent::Unmatched {
                    reason: UnmatchReason::NoLink,
                    ..
                }
            )
        })
        .map(|(t, _, _)| *t)
        .collect();
    assert_eq!(unmatched, [matched + TT_MATCH_JOIN]);
    assert!(bench.evse().matched().is_none());
    // The charger serves the car's next attempt.
    bench.line.set_modem_answers(ev_host, true);
    let now = bench.now;
    bench.ev().handle_start(now);
    assert!(bench.run_until_ev_matched());
    assert_eq!(bench.evse_matches(0).len(), 2);
}

#[test]
fn without_link_detection_the_modem_is_not_polled() {
    let bench = matched_pair();
    assert!(bench.sent(MmType::VS_PL_LINK_STATUS_REQ).is_empty());
}
