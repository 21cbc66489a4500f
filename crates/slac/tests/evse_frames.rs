//! The charger fed frame by frame: real cars' captured frames, and the cases a well-behaved EV
//! never produces (silence, strangers, other runs).

use std::time::Duration;

use homeplug::{
    MacAddr, Message, MmType, Repr, RunId, StationId, cm_atten_char, cm_atten_profile,
    cm_mnbc_sound, cm_set_key, cm_slac_match, cm_slac_param, cm_start_atten_char, cm_validate,
};
use slac::evse::{MAX_SESSIONS, UnmatchReason};
use slac::sim::REAL_AAG;
use slac::timing::{
    C_EV_MATCH_RETRY, SET_KEY_TIMEOUT, TT_EVSE_MATCH_MNBC, TT_EVSE_MATCH_SESSION,
    TT_EVSE_SLAC_INIT_MAX, TT_MATCH_RESPONSE, TT_MATCH_SEQUENCE,
};
use slac::{Evse, EvseConfig, EvseEvent, EvseFailure};
use units::Timestamp;

const T0: Timestamp = Timestamp::from_unix_secs(1_750_000_000);
const ME: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
const CAR: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
const RUN: RunId = RunId([1, 2, 3, 4, 5, 6, 7, 8]);
const MODEM: MacAddr = MacAddr([0x02, 0x65, 0x65, 0, 0, 0x01]);

/// A charger with its key set and a car plugged in, and what it has sent so far.
struct Harness {
    evse: Evse,
    now: Timestamp,
    out: Vec<(Timestamp, Repr)>,
    events: Vec<EvseEvent>,
}

impl Harness {
    fn new(mac: MacAddr) -> Self {
        let mut h = Self {
            evse: Evse::new(EvseConfig::new(mac, [7; 32]), T0),
            now: T0,
            out: Vec::new(),
            events: Vec::new(),
        };
        h.drain();
        let set_key = h.out.pop().expect("CM_SET_KEY.REQ at start");
        assert_eq!(set_key.1.dst, MacAddr::QCA_LOCAL);
        h.feed(modem_cnf(mac));
        assert!(matches!(
            h.events.pop(),
            Some(EvseEvent::KeySet { result: 1, .. })
        ));
        h.evse.handle_car_plugged(h.now);
        h
    }

    fn drain(&mut self) {
        while let Some(r) = self.evse.poll_transmit() {
            self.out.push((self.now, r));
        }
        while let Some(e) = self.evse.poll_event() {
            self.events.push(e);
        }
    }

    fn feed(&mut self, repr: Repr) {
        self.feed_bytes(&repr.to_bytes());
    }

    fn feed_bytes(&mut self, bytes: &[u8]) {
        self.evse.handle_frame(self.now, bytes);
        self.drain();
    }

    /// Advances virtual time, firing every deadline on the way.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = self.evse.poll_timeout().filter(|&t| t <= end) {
            self.now = self.now.max(t);
            self.evse.handle_timeout(self.now);
            self.drain();
        }
        self.now = end;
    }

    fn sent(&self, mmtype: MmType) -> Vec<Repr> {
        self.out
            .iter()
            .filter(|(_, r)| r.message.mmtype() == mmtype)
            .map(|(_, r)| r.clone())
            .collect()
    }

    fn failures(&self) -> Vec<EvseFailure> {
        self.events
            .iter()
            .filter_map(|e| match e {
                EvseEvent::AttemptFailed { reason, .. } => Some(*reason),
                _ => None,
            })
            .collect()
    }

    /// A whole well-formed run from `car` up to the attenuation report.
    fn sound(&mut self, car: MacAddr, run_id: RunId, sounds: u8) {
        self.feed(param_req(car, run_id));
        for _ in 0..3 {
            self.feed(start_atten_char(car, run_id));
        }
        for i in 0..sounds {
            self.feed(sound(car, run_id, sounds - 1 - i));
            self.feed(profile(car, &REAL_AAG));
        }
    }
}

fn modem_cnf(to: MacAddr) -> Repr {
    Repr::new(
        to,
        MODEM,
        Message::SetKeyCnf(cm_set_key::CnfRepr {
            result: 1,
            my_nonce: 0,
            your_nonce: 0,
            pid: 4,
            prn: 0,
            pmn: 0xFF,
            cco_capability: 0,
        }),
    )
}

fn param_req(car: MacAddr, run_id: RunId) -> Repr {
    Repr::new(
        MacAddr::BROADCAST,
        car,
        Message::SlacParamReq(cm_slac_param::ReqRepr::new(run_id)),
    )
}

fn start_atten_char(car: MacAddr, run_id: RunId) -> Repr {
    Repr::new(
        MacAddr::BROADCAST,
        car,
        Message::StartAttenCharInd(cm_start_atten_char::IndRepr {
            application_type: 0,
            security_type: 0,
            num_sounds: 10,
            time_out: 6,
            resp_type: 1,
            forwarding_sta: car,
            run_id,
        }),
    )
}

fn sound(car: MacAddr, run_id: RunId, count: u8) -> Repr {
    Repr::new(
        MacAddr::BROADCAST,
        car,
        Message::MnbcSoundInd(cm_mnbc_sound::IndRepr {
            application_type: 0,
            security_type: 0,
            sender_id: StationId::ZERO,
            count,
            run_id,
            random: [0xFF; 16],
        }),
    )
}

fn profile(car: MacAddr, aag: &[u8]) -> Repr {
    Repr::new(
        MacAddr::BROADCAST,
        MODEM,
        Message::AttenProfileInd(cm_atten_profile::IndRepr {
            pev_mac: car,
            aag: aag.to_vec(),
        }),
    )
}

fn atten_char_rsp(car: MacAddr, to: MacAddr, run_id: RunId) -> Repr {
    Repr::new(
        to,
        car,
        Message::AttenCharRsp(cm_atten_char::RspRepr {
            application_type: 0,
            security_type: 0,
            source_address: car,
            run_id,
            source_id: StationId::ZERO,
            resp_id: StationId::ZERO,
            result: 0,
        }),
    )
}

fn match_req(car: MacAddr, evse: MacAddr, run_id: RunId) -> Repr {
    Repr::new(
        evse,
        car,
        Message::SlacMatchReq(cm_slac_match::ReqRepr {
            application_type: 0,
            security_type: 0,
            mvf_length: cm_slac_match::REQ_MVF_LENGTH,
            pev_id: StationId::ZERO,
            pev_mac: car,
            evse_id: StationId::ZERO,
            evse_mac: evse,
            run_id,
        }),
    )
}

fn vector(id: &str) -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/slac/frames.txt"
    );
    let text = std::fs::read_to_string(path).expect("testdata/slac/frames.txt");
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{id} ")))
        .expect("the vector");
    hex::decode(line.split_whitespace().nth(2).expect("hex")).expect("valid hex")
}

#[test]
fn a_real_ioniq_run_replayed_matches_including_its_repeated_parameter_request() {
    // The Hyundai Ioniq's own frames from its session with an Alpitronic HYC150 (S001..S008),
    // replayed against a charger with the Alpitronic's MAC. The Ioniq sends CM_SLAC_PARM.REQ
    // twice; the second restarts the session cleanly.
    let alpitronic = MacAddr([0x52, 0xAD, 0x92, 0x07, 0x32, 0x8B]);
    let ioniq = MacAddr([0xE0, 0x0E, 0xE1, 0xFF, 0xD3, 0xE2]);
    let mut h = Harness::new(alpitronic);
    h.feed_bytes(&vector("S001"));
    h.advance(Duration::from_millis(20));
    h.feed_bytes(&vector("S001"));
    assert_eq!(h.sent(MmType::CM_SLAC_PARAM_CNF).len(), 2);
    // Our CNF to the Ioniq is byte for byte the Alpitronic's (S002).
    assert_eq!(
        h.sent(MmType::CM_SLAC_PARAM_CNF)[1].to_bytes(),
        vector("S002")
    );
    h.advance(Duration::from_millis(200));
    for _ in 0..3 {
        h.feed_bytes(&vector("S003"));
        h.advance(Duration::from_millis(20));
    }
    let sound = vector("S004");
    for count in (0..10u8).rev() {
        let mut s = sound.clone();
        s[14 + 5 + 19] = count; // Cnt
        h.feed_bytes(&s);
        h.feed(profile(ioniq, &REAL_AAG));
        h.advance(Duration::from_millis(20));
    }
    let ind = h.sent(MmType::CM_ATTEN_CHAR_IND);
    assert_eq!(ind.len(), 1);
    let Message::AttenCharInd(ind) = &ind[0].message else {
        panic!()
    };
    assert_eq!((ind.num_sounds, ind.aag.as_slice()), (10, &REAL_AAG[..]));
    // Same header and layout as the Alpitronic's report (S006), only the attenuation differs.
    assert_eq!(
        h.sent(MmType::CM_ATTEN_CHAR_IND)[0].to_bytes()[..71],
        vector("S006")[..71]
    );
    h.feed_bytes(&vector("S007"));
    h.advance(Duration::from_millis(890));
    h.feed_bytes(&vector("S008"));
    let cnf = h.sent(MmType::CM_SLAC_MATCH_CNF);
    assert_eq!(cnf.len(), 1);
    // Everything but NID and NMK as the Alpitronic sent it (S009).
    assert_eq!(cnf[0].to_bytes()[..85], vector("S009")[..85]);
    let matched = h.evse.matched().expect("matched").clone();
    assert_eq!((matched.ev_mac, matched.sounds), (ioniq, 10));
    assert_eq!(
        h.events
            .iter()
            .filter(|e| matches!(e, EvseEvent::MatchingStarted { restart: true, .. }))
            .count(),
        1
    );
}

#[test]
fn teslas_text_run_id_is_echoed() {
    let mut h = Harness::new(ME);
    h.feed_bytes(&vector("S029"));
    let cnf = h.sent(MmType::CM_SLAC_PARAM_CNF);
    let Message::SlacParamCnf(cnf) = &cnf[0].message else {
        panic!()
    };
    assert_eq!(cnf.run_id, RunId(*b"TESLA EV"));
    assert_eq!(
        cnf.forwarding_sta,
        MacAddr([0x98, 0xED, 0x5C, 0xB7, 0x2A, 0x40])
    );
    assert_eq!(h.sent(MmType::CM_SLAC_PARAM_CNF)[0].dst, cnf.forwarding_sta);
}

#[test]
fn a_full_run_then_match() {
    let mut h = Harness::new(ME);
    h.sound(CAR, RUN, 10);
    assert_eq!(
        h.sent(MmType::CM_ATTEN_CHAR_IND).len(),
        1,
        "sent as soon as all sounds are in"
    );
    h.feed(atten_char_rsp(CAR, ME, RUN));
    h.feed(match_req(CAR, ME, RUN));
    let cnf = h.sent(MmType::CM_SLAC_MATCH_CNF);
    let Message::SlacMatchCnf(cnf) = &cnf[0].message else {
        panic!()
    };
    assert_eq!((cnf.pev_mac, cnf.evse_mac, cnf.run_id), (CAR, ME, RUN));
    assert_eq!(cnf.mvf_length, cm_slac_match::CNF_MVF_LENGTH);
    assert_eq!(cnf.nid, h.evse.nid());
    assert!(matches!(h.events.last(), Some(EvseEvent::Matched(m)) if m.ev_mac == CAR));
    assert_eq!(h.evse.poll_timeout(), None, "nothing pending once matched");
}

#[test]
fn a_car_that_never_starts_sounding_fails_after_tt_match_sequence() {
    let mut h = Harness::new(ME);
    h.feed(param_req(CAR, RUN));
    h.advance(TT_MATCH_SEQUENCE - Duration::from_millis(1));
    assert!(h.failures().is_empty());
    h.advance(Duration::from_millis(1));
    assert_eq!(h.failures(), [EvseFailure::NoStartAttenChar]);
    // Clean restart: the next request is served as a new car.
    h.feed(param_req(CAR, RunId([9; 8])));
    assert_eq!(h.sent(MmType::CM_SLAC_PARAM_CNF).len(), 2);
    assert!(matches!(
        h.events.last(),
        Some(EvseEvent::MatchingStarted { restart: false, .. })
    ));
}

#[test]
fn a_car_that_never_sends_sounds_gets_no_report() {
    let mut h = Harness::new(ME);
    h.feed(param_req(CAR, RUN));
    h.feed(start_atten_char(CAR, RUN));
    h.advance(TT_EVSE_MATCH_MNBC);
    assert_eq!(h.failures(), [EvseFailure::NoSounds { sounds_heard: 0 }]);
    assert!(h.sent(MmType::CM_ATTEN_CHAR_IND).is_empty());
    // Waiting for the next car again, with TT_EVSE_SLAC_init restarted.
    assert_eq!(h.evse.poll_timeout(), Some(h.now + TT_EVSE_SLAC_INIT_MAX));
}

#[test]
fn sounds_without_profiles_point_at_the_local_modem() {
    let mut h = Harness::new(ME);
    h.feed(param_req(CAR, RUN));
    h.feed(start_atten_char(CAR, RUN));
    for count in (0..10).rev() {
        h.feed(sound(CAR, RUN, count));
    }
    h.advance(TT_EVSE_MATCH_MNBC);
    assert_eq!(h.failures(), [EvseFailure::NoSounds { sounds_heard: 10 }]);
}

#[test]
fn an_unacknowledged_report_is_repeated_c_ev_match_retry_times() {
    let mut h = Harness::new(ME);
    h.sound(CAR, RUN, 10);
    for _ in 0..C_EV_MATCH_RETRY {
        h.advance(TT_MATCH_RESPONSE);
    }
    assert_eq!(
        h.sent(MmType::CM_ATTEN_CHAR_IND).len(),
        1 + usize::from(C_EV_MATCH_RETRY)
    );
    h.advance(TT_MATCH_RESPONSE);
    assert_eq!(h.failures(), [EvseFailure::NoAttenCharRsp]);
}

#[test]
fn a_car_that_never_asks_to_match_fails_after_tt_evse_match_session() {
    let mut h = Harness::new(ME);
    h.sound(CAR, RUN, 10);
    h.feed(atten_char_rsp(CAR, ME, RUN));
    h.advance(TT_EVSE_MATCH_SESSION - Duration::from_millis(1));
    assert!(h.failures().is_empty());
    h.advance(Duration::from_millis(1));
    assert_eq!(h.failures(), [EvseFailure::NoMatchRequest]);
}

#[test]
fn validation_is_declined_as_not_required() {
    let mut h = Harness::new(ME);
    h.sound(CAR, RUN, 10);
    h.feed(atten_char_rsp(CAR, ME, RUN));
    h.feed(Repr::new(
        ME,
        CAR,
        Message::ValidateReq(cm_validate::ReqRepr {
            signal_type: 0,
            timer: 0,
            result: cm_validate::result::READY,
        }),
    ));
    let cnf = h.sent(MmType::CM_VALIDATE_CNF);
    let Message::ValidateCnf(cnf) = &cnf[0].message else {
        panic!()
    };
    assert_eq!(cnf.result, cm_validate::result::NOT_REQUIRED);
    h.feed(match_req(CAR, ME, RUN));
    assert!(h.evse.matched().is_some());
}

#[test]
fn frames_for_others_are_ignored() {
    let mut h = Harness::new(ME);
    let stranger = MacAddr([0x02, 0, 0, 0, 0, 0x99]);
    // Addressed to another station's MAC.
    let mut req = param_req(CAR, RUN);
    req.dst = stranger;
    h.feed(req);
    assert!(h.sent(MmType::CM_SLAC_PARAM_CNF).is_empty());
    // Our own frames echoed back.
    h.feed(param_req(ME, RUN));
    assert!(h.sent(MmType::CM_SLAC_PARAM_CNF).is_empty());
    // Another application.
    let mut other = param_req(CAR, RUN);
    if let Message::SlacParamReq(r) = &mut other.message {
        r.application_type = 1;
    }
    h.feed(other);
    assert!(h.sent(MmType::CM_SLAC_PARAM_CNF).is_empty());
    // Garbage and other protocols.
    h.feed_bytes(&[0xFF; 10]);
    h.feed_bytes(&vector("S005"));

    h.feed(param_req(CAR, RUN));
    // Another run's announcement and sounds do not open the window.
    h.feed(start_atten_char(CAR, RunId([9; 8])));
    h.feed(sound(CAR, RunId([9; 8]), 9));
    // Profiles of another car are not averaged in.
    h.feed(start_atten_char(CAR, RUN));
    for count in (0..10).rev() {
        h.feed(profile(stranger, &[90; 58]));
        h.feed(sound(CAR, RUN, count));
        h.feed(profile(CAR, &[20; 58]));
    }
    let ind = h.sent(MmType::CM_ATTEN_CHAR_IND);
    let Message::AttenCharInd(ind) = &ind[0].message else {
        panic!()
    };
    assert_eq!((ind.num_sounds, ind.aag[0]), (10, 20));
    // A match request for another run, for another charger, or from another car is ignored.
    h.feed(atten_char_rsp(CAR, ME, RUN));
    h.feed(match_req(CAR, ME, RunId([9; 8])));
    h.feed(match_req(CAR, stranger, RUN));
    let mut spoofed = match_req(CAR, ME, RUN);
    spoofed.src = stranger;
    h.feed(spoofed);
    assert!(h.sent(MmType::CM_SLAC_MATCH_CNF).is_empty());
    h.feed(match_req(CAR, ME, RUN));
    assert_eq!(h.sent(MmType::CM_SLAC_MATCH_CNF).len(), 1);
    // Once matched, another car's request is not answered.
    h.feed(param_req(stranger, RUN));
    assert_eq!(h.sent(MmType::CM_SLAC_PARAM_CNF).len(), 1);
}

#[test]
fn a_match_request_before_the_report_is_ignored() {
    let mut h = Harness::new(ME);
    h.feed(param_req(CAR, RUN));
    h.feed(match_req(CAR, ME, RUN));
    h.feed(start_atten_char(CAR, RUN));
    h.feed(match_req(CAR, ME, RUN));
    assert!(h.sent(MmType::CM_SLAC_MATCH_CNF).is_empty());
}

#[test]
fn an_unplugged_charger_ignores_slac() {
    let mut h = Harness::new(ME);
    h.evse.handle_car_left(h.now);
    h.drain();
    h.feed(param_req(CAR, RUN));
    assert!(h.sent(MmType::CM_SLAC_PARAM_CNF).is_empty());
    assert_eq!(h.evse.poll_timeout(), None);
}

#[test]
fn the_car_leaving_mid_way_drops_the_session() {
    let mut h = Harness::new(ME);
    h.feed(param_req(CAR, RUN));
    h.feed(start_atten_char(CAR, RUN));
    h.feed(sound(CAR, RUN, 9));
    h.feed(profile(CAR, &REAL_AAG));
    h.evse.handle_car_left(h.now);
    h.drain();
    h.advance(Duration::from_secs(60));
    assert!(
        h.out
            .iter()
            .all(|(_, r)| r.message.mmtype() == MmType::CM_SLAC_PARAM_CNF)
    );
    assert!(
        h.failures().is_empty(),
        "a departure is not a failed attempt"
    );
    assert!(
        !h.events
            .iter()
            .any(|e| matches!(e, EvseEvent::Unmatched { .. }))
    );
}

#[test]
fn the_matched_car_leaving_is_reported_and_the_key_changes() {
    let mut h = Harness::new(ME);
    h.sound(CAR, RUN, 10);
    h.feed(match_req(CAR, ME, RUN));
    let nid = h.evse.nid();
    h.evse.handle_car_left(h.now);
    h.drain();
    assert_eq!(
        h.events.last(),
        Some(&EvseEvent::Unmatched {
            ev_mac: CAR,
            reason: UnmatchReason::CarLeft
        })
    );
    assert_ne!(h.evse.nid(), nid);
    let set_key = h.sent(MmType::CM_SET_KEY_REQ);
    let Message::SetKeyReq(req) = &set_key[0].message else {
        panic!()
    };
    assert_eq!(req.nid, h.evse.nid());
    // An unanswered key is repeated, then reported.
    h.advance(SET_KEY_TIMEOUT * 3);
    assert_eq!(h.sent(MmType::CM_SET_KEY_REQ).len(), 3);
    assert_eq!(h.events.last(), Some(&EvseEvent::ModemSilent));
}

#[test]
fn the_matched_car_restarting_slac_is_served_again() {
    let mut h = Harness::new(ME);
    h.sound(CAR, RUN, 10);
    h.feed(match_req(CAR, ME, RUN));
    h.feed(param_req(CAR, RunId([9; 8])));
    assert_eq!(
        h.events[h.events.len() - 2],
        EvseEvent::Unmatched {
            ev_mac: CAR,
            reason: UnmatchReason::SlacRestarted
        }
    );
    assert!(h.evse.matched().is_none());
    assert_eq!(h.sent(MmType::CM_SLAC_PARAM_CNF).len(), 2);
}

#[test]
fn several_cars_sound_in_parallel_and_the_oldest_is_displaced_beyond_the_limit() {
    let mut h = Harness::new(ME);
    let cars: Vec<MacAddr> = (0..=MAX_SESSIONS as u8)
        .map(|i| MacAddr([0x02, 0, 0, 0, 1, i]))
        .collect();
    for car in &cars {
        h.feed(param_req(*car, RUN));
    }
    assert_eq!(h.failures(), [EvseFailure::Displaced]);
    // The newest cars are all still served.
    for car in &cars[1..] {
        h.feed(start_atten_char(*car, RUN));
    }
    for count in (0..10).rev() {
        for car in &cars[1..] {
            h.feed(sound(*car, RUN, count));
            h.feed(profile(*car, &REAL_AAG));
        }
    }
    assert_eq!(h.sent(MmType::CM_ATTEN_CHAR_IND).len(), MAX_SESSIONS);
    h.feed(match_req(cars[2], ME, RUN));
    assert_eq!(h.evse.matched().map(|m| m.ev_mac), Some(cars[2]));
}

#[test]
fn the_init_timer_restarts_when_the_charger_re_arms_it() {
    let mut h = Harness::new(ME);
    assert_eq!(h.evse.poll_timeout(), Some(T0 + TT_EVSE_SLAC_INIT_MAX));
    h.advance(TT_EVSE_SLAC_INIT_MAX);
    assert_eq!(h.events.last(), Some(&EvseEvent::SlacInitTimeout));
    assert_eq!(h.evse.poll_timeout(), None);
    // After its E/F toggle, the charger re-arms the timer.
    h.evse.handle_car_plugged(h.now);
    assert_eq!(h.evse.poll_timeout(), Some(h.now + TT_EVSE_SLAC_INIT_MAX));
}

#[test]
fn a_car_restarting_slac_mid_sounding_gets_a_clean_session() {
    // Stellantis cars start over with a new RunID; what was heard for the old run is dropped.
    let mut h = Harness::new(ME);
    h.feed(param_req(CAR, RUN));
    h.feed(start_atten_char(CAR, RUN));
    for count in (5..10).rev() {
        h.feed(sound(CAR, RUN, count));
        h.feed(profile(CAR, &[60; 58]));
    }
    let new_run = RunId(*b"RESTART!");
    h.sound(CAR, new_run, 10);
    let ind = h.sent(MmType::CM_ATTEN_CHAR_IND);
    let [
        Repr {
            message: Message::AttenCharInd(ind),
            ..
        },
    ] = &ind[..]
    else {
        panic!("{ind:?}")
    };
    assert_eq!((ind.run_id, ind.num_sounds), (new_run, 10));
    assert_eq!(ind.aag, REAL_AAG, "none of the old run's profiles");
    // The old run is gone: its match request is not answered, the new one's is.
    h.feed(match_req(CAR, ME, RUN));
    assert!(h.evse.matched().is_none());
    h.feed(match_req(CAR, ME, new_run));
    assert_eq!(h.evse.matched().map(|m| m.run_id), Some(new_run));
    assert!(h.failures().is_empty(), "a restart is not a failure");
}
