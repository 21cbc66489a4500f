//! The car side of SLAC, for the EV simulator, the tests, and for testing real chargers.
//!
//! One attempt: CM_SLAC_PARM.REQ (broadcast), C_EV_start_atten_char_inds × CM_START_ATTEN_CHAR.IND
//! and C_EV_match_MNBC × CM_MNBC_SOUND.IND, TP_EV_batch_msg_interval apart; every charger that
//! heard the sounds reports CM_ATTEN_CHAR.IND, the car picks the one with the lowest attenuation
//! (the one it is plugged into), sends it CM_SLAC_MATCH.REQ and programs the NMK from the
//! confirmation into its own modem. Failed attempts are repeated after TT_matching_rate for
//! TT_matching_repetition.
//!
//! At start the car first programs a random NMK into its modem, so that it has left any network
//! it was in before (a previous charger's).

use std::collections::VecDeque;
use std::time::Duration;

use homeplug::{
    MacAddr, Message, Nid, Nmk, Repr, RunId, StationId, cm_atten_char, cm_mnbc_sound, cm_set_key,
    cm_slac_match, cm_slac_param, cm_start_atten_char,
};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use tracing::{debug, info, warn};
use units::Timestamp;

use crate::timing::{
    C_EV_MATCH_MNBC, C_EV_MATCH_RETRY, C_EV_START_ATTEN_CHAR_INDS, SET_KEY_ATTEMPTS,
    SET_KEY_TIMEOUT, TP_EV_BATCH_MSG_INTERVAL_MIN, TT_EV_ATTEN_RESULTS, TT_MATCH_RESPONSE,
    TT_MATCHING_RATE, TT_MATCHING_REPETITION,
};

/// How the car runs SLAC.
#[derive(Debug, Clone)]
pub struct EvConfig {
    /// The car host's MAC.
    pub mac: MacAddr,
    /// Where MMEs for the local modem go: [`MacAddr::QCA_LOCAL`] for QCA7000/7005.
    pub modem: MacAddr,
    /// Seed of the RNG for NMKs, RunIDs and sound payloads.
    pub seed: [u8; 32],
    /// C_EV_match_MNBC: sounds per attempt.
    pub num_sounds: u8,
    /// TP_EV_batch_msg_interval: pause between sounding frames (20–50 ms).
    pub batch_interval: Duration,
    /// TT_matching_repetition: how long failed attempts are repeated.
    pub matching_repetition: Duration,
    /// A fixed RunID, as some cars use (Tesla: "TESLA EV"); `None` draws one per attempt.
    pub run_id: Option<RunId>,
}

impl EvConfig {
    /// The standard's values, with the shortest batch interval.
    pub fn new(mac: MacAddr, seed: [u8; 32]) -> Self {
        Self {
            mac,
            modem: MacAddr::QCA_LOCAL,
            seed,
            num_sounds: C_EV_MATCH_MNBC,
            batch_interval: TP_EV_BATCH_MSG_INTERVAL_MIN,
            matching_repetition: TT_MATCHING_REPETITION,
            run_id: None,
        }
    }
}

/// The car matched with a charger and joined its network.
#[derive(Debug, Clone, PartialEq)]
pub struct EvMatch {
    /// The charger's host MAC.
    pub evse_mac: MacAddr,
    /// The RunID of the successful attempt.
    pub run_id: RunId,
    /// The network joined.
    pub nid: Nid,
    /// Its key.
    pub nmk: Nmk,
    /// The charger's mean attenuation over all groups, in dB.
    pub attenuation_db: f64,
    /// Sounds the charger averaged.
    pub sounds: u8,
    /// Attempts needed, this one included.
    pub attempts: u32,
    /// When this attempt's first CM_SLAC_PARM.REQ was sent.
    pub started: Timestamp,
    /// When CM_SLAC_MATCH.CNF arrived.
    pub matched: Timestamp,
    /// When the local modem confirmed the key (CM_SET_KEY.CNF).
    pub joined: Timestamp,
}

impl EvMatch {
    /// From the parameter request to the match confirmation.
    pub fn duration(&self) -> Duration {
        self.matched.saturating_duration_since(self.started)
    }
}

/// Why an attempt failed. All but [`EvFailure::ModemSilent`] are the charger's (or the
/// powerline's) doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EvFailure {
    /// No CM_SLAC_PARM.CNF to 1 + C_EV_match_retry requests.
    #[error("no charger answered CM_SLAC_PARM.REQ")]
    NoParamCnf,
    /// No usable CM_ATTEN_CHAR.IND within TT_EV_atten_results.
    #[error("no charger reported attenuation within TT_EV_atten_results")]
    NoAttenChar,
    /// No CM_SLAC_MATCH.CNF to 1 + C_EV_match_retry requests.
    #[error("the charger did not confirm CM_SLAC_MATCH.REQ")]
    NoMatchCnf,
    /// The local modem did not confirm the charger's key.
    #[error("the local modem did not answer CM_SET_KEY.REQ")]
    ModemSilent,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum EvEvent {
    /// A matching attempt began (CM_SLAC_PARM.REQ sent).
    AttemptStarted {
        /// Its RunID.
        run_id: RunId,
        /// 1 for the first.
        attempt: u32,
    },
    /// An attempt failed; another follows after TT_matching_rate unless
    /// TT_matching_repetition is over.
    AttemptFailed {
        /// Its RunID.
        run_id: RunId,
        /// Why.
        reason: EvFailure,
    },
    /// Matched and joined.
    Matched(EvMatch),
    /// Gave up.
    Failed {
        /// The last attempt's failure.
        reason: EvFailure,
    },
}

#[derive(Debug, Clone, Copy)]
struct Attempt {
    run_id: RunId,
    started: Timestamp,
}

#[derive(Debug)]
enum State {
    Idle,
    Leaving {
        nmk: Nmk,
        nid: Nid,
        sends: u8,
        deadline: Timestamp,
    },
    Param {
        attempt: Attempt,
        sends: u8,
        deadline: Timestamp,
    },
    Sounding {
        attempt: Attempt,
        target: MacAddr,
        time_out: u8,
        evses: Vec<MacAddr>,
        sent: u8,
        next: Timestamp,
        results_deadline: Timestamp,
        results: Vec<(MacAddr, cm_atten_char::IndRepr)>,
    },
    Matching {
        attempt: Attempt,
        evse: MacAddr,
        ind: cm_atten_char::IndRepr,
        sends: u8,
        deadline: Timestamp,
    },
    Joining {
        partial: EvMatch,
        sends: u8,
        deadline: Timestamp,
    },
    Matched(EvMatch),
    Waiting {
        until: Timestamp,
        reason: EvFailure,
    },
    Failed,
}

/// The car's SLAC state machine. See the [module docs](self).
#[derive(Debug)]
pub struct Ev {
    config: EvConfig,
    rng: ChaCha20Rng,
    state: State,
    first_attempt: Option<Timestamp>,
    attempts: u32,
    transmits: VecDeque<Repr>,
    events: VecDeque<EvEvent>,
}

impl Ev {
    /// A car that has not started matching.
    pub fn new(config: EvConfig) -> Self {
        Self {
            rng: ChaCha20Rng::from_seed(config.seed),
            config,
            state: State::Idle,
            first_attempt: None,
            attempts: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The match, once there is one.
    pub fn matched(&self) -> Option<&EvMatch> {
        match &self.state {
            State::Matched(m) => Some(m),
            _ => None,
        }
    }

    /// Plugged in (state B) and ready: leave any old network, then match. Restarts a running
    /// or finished matching from scratch.
    pub fn handle_start(&mut self, now: Timestamp) {
        self.first_attempt = None;
        self.attempts = 0;
        let mut nmk = Nmk::default();
        self.rng.fill_bytes(&mut nmk.0);
        let nid = Nid::from_nmk(&nmk, homeplug::SecurityLevel::SimpleConnect);
        self.send_set_key(nmk, nid);
        self.state = State::Leaving {
            nmk,
            nid,
            sends: 1,
            deadline: now + SET_KEY_TIMEOUT,
        };
    }

    /// Unplugged: stop whatever runs.
    pub fn handle_stop(&mut self) {
        self.state = State::Idle;
        self.transmits.clear();
    }

    /// A frame from the interface.
    pub fn handle_frame(&mut self, now: Timestamp, bytes: &[u8]) {
        let repr = match Repr::parse_bytes(bytes) {
            Ok(repr) => repr,
            Err(e) => {
                debug!("ignoring malformed frame: {e}");
                return;
            }
        };
        if repr.src == self.config.mac || !(repr.dst == self.config.mac || repr.dst.is_broadcast())
        {
            return;
        }
        let src = repr.src;
        match repr.message {
            Message::SetKeyCnf(_) => self.on_set_key_cnf(now),
            Message::SlacParamCnf(cnf) => self.on_slac_param_cnf(now, src, &cnf),
            Message::AttenCharInd(ind) => self.on_atten_char_ind(now, src, ind),
            Message::SlacMatchCnf(cnf) => self.on_slac_match_cnf(now, src, &cnf),
            other => debug!("ignoring {} from {src}", other.mmtype()),
        }
    }

    /// Deadlines up to `now` have passed.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        match &mut self.state {
            State::Leaving {
                nmk,
                nid,
                sends,
                deadline,
            } if *deadline <= now => {
                if *sends < SET_KEY_ATTEMPTS {
                    *sends += 1;
                    *deadline = now + SET_KEY_TIMEOUT;
                    let (nmk, nid) = (*nmk, *nid);
                    self.send_set_key(nmk, nid);
                } else {
                    // Matching can still work if the modem is merely slow to answer.
                    warn!(
                        "local modem {} did not answer CM_SET_KEY.REQ",
                        self.config.modem
                    );
                    self.start_attempt(now);
                }
            }
            State::Param {
                attempt,
                sends,
                deadline,
            } if *deadline <= now => {
                if *sends <= C_EV_MATCH_RETRY {
                    *sends += 1;
                    *deadline = now + TT_MATCH_RESPONSE;
                    let run_id = attempt.run_id;
                    self.send_param_req(run_id);
                } else {
                    self.fail_attempt(now, EvFailure::NoParamCnf);
                }
            }
            State::Sounding { .. } => self.sound(now),
            State::Matching {
                attempt,
                evse,
                sends,
                deadline,
                ..
            } if *deadline <= now => {
                if *sends <= C_EV_MATCH_RETRY {
                    *sends += 1;
                    *deadline = now + TT_MATCH_RESPONSE;
                    let (run_id, evse) = (attempt.run_id, *evse);
                    self.send_match_req(evse, run_id);
                } else {
                    self.fail_attempt(now, EvFailure::NoMatchCnf);
                }
            }
            State::Joining {
                partial,
                sends,
                deadline,
            } if *deadline <= now => {
                if *sends < SET_KEY_ATTEMPTS {
                    *sends += 1;
                    *deadline = now + SET_KEY_TIMEOUT;
                    let (nmk, nid) = (partial.nmk, partial.nid);
                    self.send_set_key(nmk, nid);
                } else {
                    warn!(
                        "local modem {} did not take the charger's key",
                        self.config.modem
                    );
                    self.state = State::Failed;
                    self.events.push_back(EvEvent::Failed {
                        reason: EvFailure::ModemSilent,
                    });
                }
            }
            State::Waiting { until, reason } if *until <= now => {
                let reason = *reason;
                if self.repetition_over(now) {
                    self.give_up(reason);
                } else {
                    self.start_attempt(now);
                }
            }
            _ => {}
        }
    }

    /// The next frame to send.
    pub fn poll_transmit(&mut self) -> Option<Repr> {
        self.transmits.pop_front()
    }

    /// When [`Self::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        match &self.state {
            State::Leaving { deadline, .. }
            | State::Param { deadline, .. }
            | State::Matching { deadline, .. }
            | State::Joining { deadline, .. } => Some(*deadline),
            State::Sounding {
                sent,
                next,
                results_deadline,
                ..
            } => {
                if *sent < self.sounding_frames() {
                    Some((*next).min(*results_deadline))
                } else {
                    Some(*results_deadline)
                }
            }
            State::Waiting { until, .. } => Some(*until),
            State::Idle | State::Matched(_) | State::Failed => None,
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<EvEvent> {
        self.events.pop_front()
    }

    fn sounding_frames(&self) -> u8 {
        C_EV_START_ATTEN_CHAR_INDS.saturating_add(self.config.num_sounds)
    }

    fn send_set_key(&mut self, nmk: Nmk, nid: Nid) {
        self.transmits.push_back(Repr::new(
            self.config.modem,
            self.config.mac,
            Message::SetKeyReq(cm_set_key::ReqRepr::set_nmk(nmk, nid)),
        ));
    }

    fn start_attempt(&mut self, now: Timestamp) {
        let run_id = self.config.run_id.unwrap_or_else(|| {
            let mut id = RunId::default();
            self.rng.fill_bytes(&mut id.0);
            id
        });
        self.attempts += 1;
        self.first_attempt.get_or_insert(now);
        self.events.push_back(EvEvent::AttemptStarted {
            run_id,
            attempt: self.attempts,
        });
        self.send_param_req(run_id);
        self.state = State::Param {
            attempt: Attempt {
                run_id,
                started: now,
            },
            sends: 1,
            deadline: now + TT_MATCH_RESPONSE,
        };
    }

    fn send_param_req(&mut self, run_id: RunId) {
        self.transmits.push_back(Repr::new(
            MacAddr::BROADCAST,
            self.config.mac,
            Message::SlacParamReq(cm_slac_param::ReqRepr::new(run_id)),
        ));
    }

    fn send_match_req(&mut self, evse: MacAddr, run_id: RunId) {
        self.transmits.push_back(Repr::new(
            evse,
            self.config.mac,
            Message::SlacMatchReq(cm_slac_match::ReqRepr {
                application_type: cm_slac_param::APPLICATION_TYPE_PEV_EVSE,
                security_type: cm_slac_param::SECURITY_TYPE_NONE,
                mvf_length: cm_slac_match::REQ_MVF_LENGTH,
                pev_id: StationId::ZERO,
                pev_mac: self.config.mac,
                evse_id: StationId::ZERO,
                evse_mac: evse,
                run_id,
            }),
        ));
    }

    fn repetition_over(&self, now: Timestamp) -> bool {
        self.first_attempt.is_some_and(|first| {
            now.saturating_duration_since(first) >= self.config.matching_repetition
        })
    }

    fn fail_attempt(&mut self, now: Timestamp, reason: EvFailure) {
        let run_id = match &self.state {
            State::Param { attempt, .. }
            | State::Sounding { attempt, .. }
            | State::Matching { attempt, .. } => attempt.run_id,
            _ => RunId::default(),
        };
        info!("SLAC attempt (run {run_id}) failed: {reason}");
        self.events
            .push_back(EvEvent::AttemptFailed { run_id, reason });
        let until = now + TT_MATCHING_RATE;
        if self.repetition_over(until) {
            self.give_up(reason);
        } else {
            self.state = State::Waiting { until, reason };
        }
    }

    fn give_up(&mut self, reason: EvFailure) {
        warn!("SLAC failed after {} attempts: {reason}", self.attempts);
        self.state = State::Failed;
        self.events.push_back(EvEvent::Failed { reason });
    }

    fn on_set_key_cnf(&mut self, now: Timestamp) {
        match &self.state {
            State::Leaving { .. } => self.start_attempt(now),
            State::Joining { partial, .. } => {
                let m = EvMatch {
                    joined: now,
                    ..partial.clone()
                };
                info!(
                    "matched with {} (run {}) in {:?}, {} attempt(s)",
                    m.evse_mac,
                    m.run_id,
                    m.duration(),
                    m.attempts
                );
                self.events.push_back(EvEvent::Matched(m.clone()));
                self.state = State::Matched(m);
            }
            _ => {}
        }
    }

    fn on_slac_param_cnf(&mut self, now: Timestamp, src: MacAddr, cnf: &cm_slac_param::CnfRepr) {
        match &mut self.state {
            State::Param { attempt, .. } if cnf.run_id == attempt.run_id => {
                let attempt = *attempt;
                // The EVSE names where the sounds go; anything but a group address would reach
                // that one station only.
                let target = if cnf.m_sound_target.is_multicast() {
                    cnf.m_sound_target
                } else {
                    MacAddr::BROADCAST
                };
                self.state = State::Sounding {
                    attempt,
                    target,
                    time_out: cnf.time_out,
                    evses: vec![src],
                    sent: 0,
                    next: now,
                    // [V2G3-A09-30]: the timer starts with the first CM_START_ATTEN_CHAR.IND,
                    // sent right now.
                    results_deadline: now + TT_EV_ATTEN_RESULTS,
                    results: Vec::new(),
                };
                self.sound(now);
            }
            State::Sounding { attempt, evses, .. } if cnf.run_id == attempt.run_id => {
                if !evses.contains(&src) {
                    evses.push(src);
                }
            }
            _ => debug!("ignoring CM_SLAC_PARM.CNF from {src} (run {})", cnf.run_id),
        }
    }

    /// Sends the sounding frames that are due, and decides once the results are in.
    fn sound(&mut self, now: Timestamp) {
        let total = self.sounding_frames();
        let State::Sounding {
            attempt,
            target,
            time_out,
            sent,
            next,
            results_deadline,
            ..
        } = &mut self.state
        else {
            return;
        };
        while *sent < total && *next <= now {
            let message = if *sent < C_EV_START_ATTEN_CHAR_INDS {
                Message::StartAttenCharInd(cm_start_atten_char::IndRepr {
                    application_type: cm_slac_param::APPLICATION_TYPE_PEV_EVSE,
                    security_type: cm_slac_param::SECURITY_TYPE_NONE,
                    num_sounds: self.config.num_sounds,
                    time_out: *time_out,
                    resp_type: cm_slac_param::RESP_TYPE_OTHER_STATION,
                    forwarding_sta: self.config.mac,
                    run_id: attempt.run_id,
                })
            } else {
                let mut random = [0u8; 16];
                self.rng.fill_bytes(&mut random);
                Message::MnbcSoundInd(cm_mnbc_sound::IndRepr {
                    application_type: cm_slac_param::APPLICATION_TYPE_PEV_EVSE,
                    security_type: cm_slac_param::SECURITY_TYPE_NONE,
                    sender_id: StationId::ZERO,
                    count: total - 1 - *sent,
                    run_id: attempt.run_id,
                    random,
                })
            };
            self.transmits
                .push_back(Repr::new(*target, self.config.mac, message));
            *sent += 1;
            *next = now + self.config.batch_interval;
        }
        let deadline_passed = *results_deadline <= now;
        self.decide_if_ready(now, deadline_passed);
    }

    fn on_atten_char_ind(&mut self, now: Timestamp, src: MacAddr, ind: cm_atten_char::IndRepr) {
        let mac = self.config.mac;
        let State::Sounding {
            attempt,
            evses,
            results,
            ..
        } = &mut self.state
        else {
            return;
        };
        if ind.run_id != attempt.run_id || ind.source_address != mac {
            debug!("ignoring CM_ATTEN_CHAR.IND from {src} for another run or car");
            return;
        }
        let run_id = attempt.run_id;
        if !evses.contains(&src) {
            evses.push(src);
        }
        results.retain(|(evse, _)| *evse != src);
        results.push((src, ind));
        self.transmits.push_back(Repr::new(
            src,
            mac,
            Message::AttenCharRsp(cm_atten_char::RspRepr {
                application_type: cm_slac_param::APPLICATION_TYPE_PEV_EVSE,
                security_type: cm_slac_param::SECURITY_TYPE_NONE,
                source_address: mac,
                run_id,
                source_id: StationId::ZERO,
                resp_id: StationId::ZERO,
                result: cm_atten_char::RESULT_SUCCESS,
            }),
        ));
        self.decide_if_ready(now, false);
    }

    /// Picks the charger with the lowest mean attenuation once every charger that answered has
    /// reported after our last sound, or when TT_EV_atten_results is over.
    fn decide_if_ready(&mut self, now: Timestamp, deadline_passed: bool) {
        let total = self.sounding_frames();
        let State::Sounding {
            attempt,
            evses,
            sent,
            results,
            ..
        } = &self.state
        else {
            return;
        };
        let all_in = *sent >= total && evses.iter().all(|e| results.iter().any(|(r, _)| r == e));
        if !(all_in || deadline_passed) {
            return;
        }
        let best = results
            .iter()
            .filter(|(_, ind)| ind.num_sounds > 0)
            .filter_map(|(evse, ind)| ind.mean_attenuation().map(|a| (a, *evse, ind)))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        let Some((_, evse, ind)) = best else {
            self.fail_attempt(now, EvFailure::NoAttenChar);
            return;
        };
        let (attempt, evse, ind) = (*attempt, evse, ind.clone());
        self.send_match_req(evse, attempt.run_id);
        self.state = State::Matching {
            attempt,
            evse,
            ind,
            sends: 1,
            deadline: now + TT_MATCH_RESPONSE,
        };
    }

    fn on_slac_match_cnf(&mut self, now: Timestamp, src: MacAddr, cnf: &cm_slac_match::CnfRepr) {
        let State::Matching {
            attempt, evse, ind, ..
        } = &self.state
        else {
            return;
        };
        if src != *evse || cnf.run_id != attempt.run_id || cnf.pev_mac != self.config.mac {
            debug!("ignoring CM_SLAC_MATCH.CNF from {src} for another run or car");
            return;
        }
        let partial = EvMatch {
            evse_mac: src,
            run_id: attempt.run_id,
            nid: cnf.nid,
            nmk: cnf.nmk,
            attenuation_db: ind.mean_attenuation().unwrap_or(0.0),
            sounds: ind.num_sounds,
            attempts: self.attempts,
            started: attempt.started,
            matched: now,
            joined: now,
        };
        self.send_set_key(cnf.nmk, cnf.nid);
        self.state = State::Joining {
            partial,
            sends: 1,
            deadline: now + SET_KEY_TIMEOUT,
        };
    }
}
