//! The car fed frame by frame: chargers that misbehave, and frames that are not for it.

use std::time::Duration;

use homeplug::{
    MacAddr, Message, MmType, Nid, Nmk, Repr, RunId, StationId, cm_atten_char, cm_set_key,
    cm_slac_match, cm_slac_param,
};
use slac::timing::{C_EV_MATCH_RETRY, TT_EV_ATTEN_RESULTS, TT_MATCH_RESPONSE, TT_MATCHING_RATE};
use slac::{Ev, EvConfig, EvEvent, EvFailure};
use units::Timestamp;

const T0: Timestamp = Timestamp::from_unix_secs(1_750_000_000);
const ME: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
const CHARGER: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
const OTHER: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x09]);
const MODEM: MacAddr = MacAddr([0x02, 0x65, 0x65, 0, 0, 0x02]);

struct Harness {
    ev: Ev,
    now: Timestamp,
    out: Vec<Repr>,
    events: Vec<EvEvent>,
}

impl Harness {
    /// A car that has left its old network and sent its first CM_SLAC_PARM.REQ.
    fn started() -> (Self, RunId) {
        let mut h = Self {
            ev: Ev::new(EvConfig::new(ME, [3; 32])),
            now: T0,
            out: Vec::new(),
            events: Vec::new(),
        };
        h.ev.handle_start(T0);
        h.drain();
        assert_eq!(h.sent(MmType::CM_SET_KEY_REQ).len(), 1);
        h.feed(set_key_cnf());
        let run_id = h.last_run_id();
        (h, run_id)
    }

    fn drain(&mut self) {
        while let Some(r) = self.ev.poll_transmit() {
            self.out.push(r);
        }
        while let Some(e) = self.ev.poll_event() {
            self.events.push(e);
        }
    }

    fn feed(&mut self, repr: Repr) {
        self.ev.handle_frame(self.now, &repr.to_bytes());
        self.drain();
    }

    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = self.ev.poll_timeout().filter(|&t| t <= end) {
            self.now = self.now.max(t);
            self.ev.handle_timeout(self.now);
            self.drain();
        }
        self.now = end;
    }

    fn sent(&self, mmtype: MmType) -> Vec<Repr> {
        self.out
            .iter()
            .filter(|r| r.message.mmtype() == mmtype)
            .cloned()
            .collect()
    }

    fn last_run_id(&self) -> RunId {
        match self
            .sent(MmType::CM_SLAC_PARAM_REQ)
            .last()
            .map(|r| &r.message)
        {
            Some(Message::SlacParamReq(req)) => req.run_id,
            other => panic!("no CM_SLAC_PARM.REQ: {other:?}"),
        }
    }

    /// Parameters confirmed by `CHARGER`, all sounds sent, its report received.
    fn sounded(&mut self, run_id: RunId) {
        self.feed(param_cnf(CHARGER, run_id));
        self.advance(Duration::from_millis(260));
        assert_eq!(self.sent(MmType::CM_MNBC_SOUND_IND).len(), 10);
        self.feed(atten_char_ind(CHARGER, ME, run_id, 20));
        assert_eq!(self.sent(MmType::CM_ATTEN_CHAR_RSP).len(), 1);
    }
}

fn set_key_cnf() -> Repr {
    Repr::new(
        ME,
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

fn param_cnf(from: MacAddr, run_id: RunId) -> Repr {
    Repr::new(
        ME,
        from,
        Message::SlacParamCnf(cm_slac_param::CnfRepr {
            m_sound_target: MacAddr::BROADCAST,
            num_sounds: 10,
            time_out: 6,
            resp_type: 1,
            forwarding_sta: ME,
            application_type: 0,
            security_type: 0,
            run_id,
        }),
    )
}

fn atten_char_ind(from: MacAddr, car: MacAddr, run_id: RunId, db: u8) -> Repr {
    Repr::new(
        ME,
        from,
        Message::AttenCharInd(cm_atten_char::IndRepr {
            application_type: 0,
            security_type: 0,
            source_address: car,
            run_id,
            source_id: StationId::ZERO,
            resp_id: StationId::ZERO,
            num_sounds: 10,
            aag: vec![db; 58],
        }),
    )
}

fn match_cnf(from: MacAddr, car: MacAddr, run_id: RunId) -> Repr {
    Repr::new(
        ME,
        from,
        Message::SlacMatchCnf(cm_slac_match::CnfRepr {
            application_type: 0,
            security_type: 0,
            mvf_length: cm_slac_match::CNF_MVF_LENGTH,
            pev_id: StationId::ZERO,
            pev_mac: car,
            evse_id: StationId::ZERO,
            evse_mac: from,
            run_id,
            nid: Nid([5; 7]),
            nmk: Nmk([6; 16]),
        }),
    )
}

#[test]
fn the_whole_exchange_frame_by_frame() {
    let (mut h, run_id) = Harness::started();
    h.sounded(run_id);
    let req = h.sent(MmType::CM_SLAC_MATCH_REQ);
    let Message::SlacMatchReq(req) = &req[0].message else {
        panic!()
    };
    assert_eq!(
        (req.pev_mac, req.evse_mac, req.run_id),
        (ME, CHARGER, run_id)
    );
    assert_eq!(req.mvf_length, cm_slac_match::REQ_MVF_LENGTH);
    h.feed(match_cnf(CHARGER, ME, run_id));
    // The charger's key goes to the local modem.
    let keys = h.sent(MmType::CM_SET_KEY_REQ);
    let Message::SetKeyReq(key) = &keys[1].message else {
        panic!()
    };
    assert_eq!((key.new_key, key.nid), (Nmk([6; 16]), Nid([5; 7])));
    assert_eq!(keys[1].dst, MacAddr::QCA_LOCAL);
    assert!(
        h.ev.matched().is_none(),
        "joined only once the modem confirms"
    );
    h.feed(set_key_cnf());
    let m = h.ev.matched().expect("matched");
    assert_eq!(
        (m.evse_mac, m.attenuation_db, m.attempts),
        (CHARGER, 20.0, 1)
    );
    assert_eq!(h.ev.poll_timeout(), None);
}

#[test]
fn an_unconfirmed_match_is_requested_again_then_the_attempt_repeated() {
    let (mut h, run_id) = Harness::started();
    h.sounded(run_id);
    for _ in 0..C_EV_MATCH_RETRY {
        h.advance(TT_MATCH_RESPONSE);
    }
    assert_eq!(
        h.sent(MmType::CM_SLAC_MATCH_REQ).len(),
        1 + usize::from(C_EV_MATCH_RETRY)
    );
    h.advance(TT_MATCH_RESPONSE);
    assert!(matches!(
        h.events.last(),
        Some(EvEvent::AttemptFailed {
            reason: EvFailure::NoMatchCnf,
            ..
        })
    ));
    h.advance(TT_MATCHING_RATE);
    assert_ne!(h.last_run_id(), run_id, "a new attempt with a new RunID");
}

#[test]
fn frames_for_other_runs_cars_or_chargers_are_ignored() {
    let (mut h, run_id) = Harness::started();
    let other_run = RunId([0xEE; 8]);
    h.feed(param_cnf(CHARGER, other_run));
    assert!(h.sent(MmType::CM_START_ATTEN_CHAR_IND).is_empty());
    // Addressed to another car.
    let mut cnf = param_cnf(CHARGER, run_id);
    cnf.dst = OTHER;
    h.feed(cnf);
    assert!(h.sent(MmType::CM_START_ATTEN_CHAR_IND).is_empty());
    h.feed(param_cnf(CHARGER, run_id));
    assert_eq!(
        h.sent(MmType::CM_START_ATTEN_CHAR_IND).len(),
        1,
        "the first at once"
    );
    h.advance(Duration::from_millis(260));
    // Reports on another run or another car are not acknowledged.
    h.feed(atten_char_ind(CHARGER, ME, other_run, 20));
    h.feed(atten_char_ind(CHARGER, OTHER, run_id, 20));
    assert!(h.sent(MmType::CM_ATTEN_CHAR_RSP).is_empty());
    h.feed(atten_char_ind(CHARGER, ME, run_id, 20));
    // A confirmation from another charger, for another car or run, does not count.
    h.feed(match_cnf(OTHER, ME, run_id));
    h.feed(match_cnf(CHARGER, OTHER, run_id));
    h.feed(match_cnf(CHARGER, ME, other_run));
    assert_eq!(h.sent(MmType::CM_SET_KEY_REQ).len(), 1);
    h.feed(match_cnf(CHARGER, ME, run_id));
    assert_eq!(h.sent(MmType::CM_SET_KEY_REQ).len(), 2);
}

#[test]
fn a_report_of_zero_sounds_is_no_candidate() {
    let (mut h, run_id) = Harness::started();
    h.feed(param_cnf(CHARGER, run_id));
    h.advance(Duration::from_millis(260));
    let mut ind = atten_char_ind(CHARGER, ME, run_id, 20);
    if let Message::AttenCharInd(i) = &mut ind.message {
        i.num_sounds = 0;
    }
    h.feed(ind);
    // The only charger that answered heard nothing: no need to wait out TT_EV_atten_results.
    assert!(matches!(
        h.events.last(),
        Some(EvEvent::AttemptFailed {
            reason: EvFailure::NoAttenChar,
            ..
        })
    ));
    h.advance(TT_EV_ATTEN_RESULTS);
    assert!(h.sent(MmType::CM_SLAC_MATCH_REQ).is_empty());
}

#[test]
fn stopping_silences_the_car() {
    let (mut h, run_id) = Harness::started();
    h.feed(param_cnf(CHARGER, run_id));
    h.ev.handle_stop();
    h.drain();
    let before = h.out.len();
    h.advance(Duration::from_secs(20));
    assert_eq!(h.out.len(), before);
    assert_eq!(h.ev.poll_timeout(), None);
}
