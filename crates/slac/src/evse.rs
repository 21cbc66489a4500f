//! The charger side of SLAC.
//!
//! The EVSE programs a fresh random NMK into its local modem (CM_SET_KEY), answers every car's
//! CM_SLAC_PARM.REQ, averages the attenuation profiles its modem reports for that car's sounds
//! (CM_ATTEN_PROFILE.IND) into CM_ATTEN_CHAR.IND, and answers CM_SLAC_MATCH.REQ with the NMK.
//!
//! On a shared powerline (several chargers in one building) a charger hears other cars too, and
//! cannot know which car is its own until one asks it to match: so it runs one matching session
//! per car in parallel, like the standard expects, and the first car that sends
//! CM_SLAC_MATCH.REQ to this charger wins.
//!
//! Optionally ([`EvseConfig::link_detection`]) the charger then asks its modem until the car has
//! joined the network (VS_PL_LINK_STATUS) and starts over if that takes longer than
//! TT_match_join.
//!
//! **The key stays until the car has gone.** From the match on, the car's modem joins the
//! network of the key it was given, and the charger's modem must keep that key: a modem given a
//! new key leaves the network, and the car's SDP and V2G traffic no longer reach the charger. So
//! the charger draws a new key only in [`Evse::handle_car_left`], which the application calls
//! once the car has gone: when the control pilot returns to state A (or before an E/F toggle
//! restarts SLAC), or, with no pilot, when the V2G stage says so (`ccs::presence`). A matched
//! car that restarts SLAC, or does not join within TT_match_join, keeps the key. The next car's
//! CM_SLAC_PARM.REQ is answered after the new CM_SET_KEY.REQ has gone to the modem.

use std::collections::VecDeque;
use std::time::Duration;

use homeplug::{
    MacAddr, Message, Nid, Nmk, Repr, RunId, StationId, cm_atten_char, cm_atten_profile,
    cm_mnbc_sound, cm_set_key, cm_slac_match, cm_slac_param, cm_start_atten_char, cm_validate,
    vs_pl_link_status,
};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use tracing::{debug, info, warn};
use units::Timestamp;

use crate::timing::{
    C_EV_MATCH_MNBC, C_EV_MATCH_RETRY, SET_KEY_ATTEMPTS, SET_KEY_TIMEOUT, TT_EVSE_MATCH_MNBC,
    TT_EVSE_MATCH_MNBC_FIELD, TT_EVSE_MATCH_SESSION, TT_EVSE_SLAC_INIT_MAX, TT_MATCH_JOIN,
    TT_MATCH_RESPONSE, TT_MATCH_SEQUENCE,
};

/// At most this many cars sound at the same time on one powerline segment; a further car
/// displaces the session that started first.
pub const MAX_SESSIONS: usize = 4;

/// How often a charger with link detection asks its modem whether the car joined
/// (VS_PL_LINK_STATUS). Not an ISO 15118-3 timer: a QCA modem answers in milliseconds, and ten
/// polls a second keep the delay to the next stage short.
pub const LINK_STATUS_INTERVAL: Duration = Duration::from_millis(100);

/// How the charger runs SLAC.
#[derive(Debug, Clone)]
pub struct EvseConfig {
    /// The charger host's MAC (the modem's host interface, `eth1` on the FoccciCape).
    pub mac: MacAddr,
    /// Where MMEs for the local modem go: [`MacAddr::QCA_LOCAL`] for QCA7000/7005.
    pub modem: MacAddr,
    /// Seed of the RNG that draws the NMKs. Use OS entropy in production.
    pub seed: [u8; 32],
    /// TT_EVSE_SLAC_init: how long after plug-in a car may take to start SLAC.
    pub slac_init_timeout: Duration,
    /// NUM_SOUNDS announced in CM_SLAC_PARM.CNF (C_EV_match_MNBC).
    pub num_sounds: u8,
    /// After a match, ask the local modem (VS_PL_LINK_STATUS, Qualcomm modems only) until the
    /// car has joined the network, and reset if it has not within TT_match_join. Off by default:
    /// modems of other vendors do not answer that message.
    pub link_detection: bool,
}

impl EvseConfig {
    /// The standard's values: TT_EVSE_SLAC_init at its upper bound (cars that start late, such as
    /// VW's, still match), C_EV_match_MNBC sounds, QCA local modem address.
    pub fn new(mac: MacAddr, seed: [u8; 32]) -> Self {
        Self {
            mac,
            modem: MacAddr::QCA_LOCAL,
            seed,
            slac_init_timeout: TT_EVSE_SLAC_INIT_MAX,
            num_sounds: C_EV_MATCH_MNBC,
            link_detection: false,
        }
    }
}

/// A car matched with this charger.
#[derive(Debug, Clone, PartialEq)]
pub struct EvseMatch {
    /// The car's host MAC (its address for everything that follows: SDP, V2G).
    pub ev_mac: MacAddr,
    /// The RunID of the matching run.
    pub run_id: RunId,
    /// The network the car was told to join.
    pub nid: Nid,
    /// Its key.
    pub nmk: Nmk,
    /// Attenuation profiles averaged into CM_ATTEN_CHAR.IND.
    pub sounds: u8,
    /// The mean attenuation over all carrier groups, in dB.
    pub attenuation_db: f64,
    /// When the car's CM_SLAC_PARM.REQ arrived.
    pub started: Timestamp,
    /// When CM_SLAC_MATCH.CNF was sent.
    pub matched: Timestamp,
}

impl EvseMatch {
    /// From the car's parameter request to our match confirmation.
    pub fn duration(&self) -> Duration {
        self.matched.saturating_duration_since(self.started)
    }
}

/// Why a matching session with one car ended without a match. All of them are the car's doing
/// (or the powerline's), except [`EvseFailure::NoSounds`] with sounds heard, which points at the
/// local modem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EvseFailure {
    /// The car sent no CM_START_ATTEN_CHAR.IND (nor sounds) within TT_match_sequence.
    #[error("the car did not start sounding within TT_match_sequence")]
    NoStartAttenChar,
    /// No attenuation profile arrived within TT_EVSE_match_MNBC.
    #[error(
        "no attenuation profile within TT_EVSE_match_MNBC ({sounds_heard} sounds heard; \
         with sounds heard, the local modem sent no CM_ATTEN_PROFILE.IND)"
    )]
    NoSounds {
        /// CM_MNBC_SOUND.IND frames the host received.
        sounds_heard: u8,
    },
    /// The car acknowledged none of our CM_ATTEN_CHAR.IND (sent 1 + C_EV_match_retry times).
    #[error("the car did not acknowledge CM_ATTEN_CHAR.IND")]
    NoAttenCharRsp,
    /// The car asked for no match within TT_EVSE_match_session (it chose another charger, or
    /// gave up).
    #[error("the car sent no CM_SLAC_MATCH.REQ within TT_EVSE_match_session")]
    NoMatchRequest,
    /// More cars started sounding than [`MAX_SESSIONS`].
    #[error("displaced by newer sessions")]
    Displaced,
}

/// Why a match ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnmatchReason {
    /// The control pilot says the car is gone.
    CarLeft,
    /// The matched car started SLAC again (some cars, Stellantis' for one, do when the link does
    /// not come up fast enough); its new run is being served.
    SlacRestarted,
    /// With link detection: the car did not join our network within TT_match_join. The
    /// charger waits for the car to start over.
    NoLink,
}

/// What happened, for the charger application and the logs.
#[derive(Debug, Clone, PartialEq)]
pub enum EvseEvent {
    /// The local modem confirmed the new key. `result` as sent: QCA modems say 1 on success.
    KeySet {
        /// The network now set.
        nid: Nid,
        /// CM_SET_KEY.CNF Result.
        result: u8,
    },
    /// The local modem did not answer CM_SET_KEY.REQ: it is missing, unpowered or on another
    /// interface. SLAC goes on, but cars will not reach this charger's network.
    ModemSilent,
    /// A car opened a matching run (answered with CM_SLAC_PARM.CNF).
    MatchingStarted {
        /// The car.
        ev_mac: MacAddr,
        /// Its RunID.
        run_id: RunId,
        /// The car already had a session, which this request restarted ([V2G3-A09-16]).
        restart: bool,
    },
    /// A matching session ended without match; the charger keeps listening.
    AttemptFailed {
        /// The car.
        ev_mac: MacAddr,
        /// Its RunID.
        run_id: RunId,
        /// Why.
        reason: EvseFailure,
    },
    /// Matched: the car has our NMK. Starts the next stage (SDP, V2G).
    Matched(EvseMatch),
    /// With link detection: the local modem reports a powerline link, the car has joined our
    /// network (D-LINK_READY).
    LinkUp {
        /// The car.
        ev_mac: MacAddr,
        /// Time from CM_SLAC_MATCH.CNF to the modem's report.
        after_match: Duration,
    },
    /// A match ended.
    Unmatched {
        /// The car.
        ev_mac: MacAddr,
        /// Why.
        reason: UnmatchReason,
    },
    /// No car started SLAC within TT_EVSE_SLAC_init after plug-in. The charger should toggle the
    /// control pilot through E/F for T_step_EF and call [`Evse::handle_car_plugged`] again
    /// ([V2G3-M06-07]); a late CM_SLAC_PARM.REQ is still served meanwhile.
    SlacInitTimeout,
}

#[derive(Debug)]
enum KeyState {
    Setting { attempts: u8, deadline: Timestamp },
    Set,
    Silent,
}

#[derive(Debug)]
struct Session {
    ev_mac: MacAddr,
    run_id: RunId,
    started: Timestamp,
    deadline: Timestamp,
    step: Step,
}

#[derive(Debug)]
enum Step {
    WaitStartAttenChar,
    Sounding(Sounding),
    WaitAttenCharRsp {
        ind: cm_atten_char::IndRepr,
        repeats: u8,
    },
    WaitMatchReq {
        ind: cm_atten_char::IndRepr,
    },
}

#[derive(Debug, Default)]
struct Sounding {
    expected: u8,
    sounds_heard: u8,
    profiles: u8,
    sums: Vec<u32>,
}

#[derive(Debug)]
enum Phase {
    Unplugged,
    Matching {
        init_deadline: Option<Timestamp>,
        sessions: Vec<Session>,
    },
    Matched {
        info: EvseMatch,
        cnf: cm_slac_match::CnfRepr,
        link: LinkState,
    },
}

#[derive(Debug, Clone, Copy)]
enum LinkState {
    /// Not watched (link detection off), or already up.
    Settled,
    Waiting {
        deadline: Timestamp,
        next_poll: Timestamp,
    },
}

/// The charger's SLAC state machine. See the [module docs](self).
#[derive(Debug)]
pub struct Evse {
    config: EvseConfig,
    rng: ChaCha20Rng,
    nmk: Nmk,
    nid: Nid,
    key: KeyState,
    key_handed_out: bool,
    phase: Phase,
    transmits: VecDeque<Repr>,
    events: VecDeque<EvseEvent>,
}

impl Evse {
    /// A charger with no car plugged in. It draws a random NMK and starts programming it into the
    /// local modem right away (the first [`Self::poll_transmit`] is the CM_SET_KEY.REQ).
    pub fn new(config: EvseConfig, now: Timestamp) -> Self {
        let rng = ChaCha20Rng::from_seed(config.seed);
        let mut evse = Self {
            config,
            rng,
            nmk: Nmk::default(),
            nid: Nid::default(),
            key: KeyState::Set,
            key_handed_out: false,
            phase: Phase::Unplugged,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        };
        evse.new_network(now);
        evse
    }

    /// The network (NID) currently handed to cars.
    pub fn nid(&self) -> Nid {
        self.nid
    }

    /// The matched car, if any.
    pub fn matched(&self) -> Option<&EvseMatch> {
        match &self.phase {
            Phase::Matched { info, .. } => Some(info),
            _ => None,
        }
    }

    /// The control pilot shows a car (state B) and the charger applies 5 % duty: SLAC may begin.
    /// Starts TT_EVSE_SLAC_init. Called again after an E/F toggle, it restarts that timer.
    pub fn handle_car_plugged(&mut self, now: Timestamp) {
        let init_deadline = Some(now + self.config.slac_init_timeout);
        match &mut self.phase {
            Phase::Unplugged => {
                self.phase = Phase::Matching {
                    init_deadline,
                    sessions: Vec::new(),
                };
            }
            Phase::Matching {
                init_deadline: d, ..
            } => *d = init_deadline,
            Phase::Matched { .. } => {}
        }
    }

    /// The control pilot shows no car (state A): drop every session and the match, and, if a car
    /// had our key, program a new one so that it cannot stay in our network ([V2G3-A09-121],
    /// HomePlug "leaving an AVLN").
    pub fn handle_car_left(&mut self, now: Timestamp) {
        if let Phase::Matched { info, .. } = &self.phase {
            self.events.push_back(EvseEvent::Unmatched {
                ev_mac: info.ev_mac,
                reason: UnmatchReason::CarLeft,
            });
        }
        self.phase = Phase::Unplugged;
        if self.key_handed_out {
            self.new_network(now);
        }
    }

    /// A frame from the interface. Anything that is not a HomePlug frame for us (our MAC or
    /// broadcast), or not for a session we run, is ignored.
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
            Message::SetKeyCnf(cnf) => self.on_set_key_cnf(cnf),
            Message::SlacParamReq(req) => self.on_slac_param_req(now, src, req),
            Message::StartAttenCharInd(ind) => self.on_start_atten_char(now, src, &ind),
            Message::MnbcSoundInd(ind) => self.on_mnbc_sound(now, src, &ind),
            Message::AttenProfileInd(ind) => self.on_atten_profile(now, &ind),
            Message::AttenCharRsp(rsp) => self.on_atten_char_rsp(now, src, &rsp),
            Message::ValidateReq(req) => self.on_validate_req(src, &req),
            Message::SlacMatchReq(req) => self.on_slac_match_req(now, src, &req),
            Message::LinkStatusCnf(cnf) => self.on_link_status_cnf(now, &cnf),
            other => debug!("ignoring {} from {src}", other.mmtype()),
        }
    }

    /// Deadlines up to `now` have passed.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if let KeyState::Setting { attempts, deadline } = self.key
            && deadline <= now
        {
            if attempts < SET_KEY_ATTEMPTS {
                self.send_set_key(now, attempts + 1);
            } else {
                warn!(
                    "local modem {} did not answer CM_SET_KEY.REQ",
                    self.config.modem
                );
                self.key = KeyState::Silent;
                self.events.push_back(EvseEvent::ModemSilent);
            }
        }
        if let Phase::Matched {
            info,
            link:
                LinkState::Waiting {
                    deadline,
                    next_poll,
                },
            ..
        } = &mut self.phase
        {
            if *deadline <= now {
                warn!(
                    "{} did not join our network within TT_match_join",
                    info.ev_mac
                );
                self.events.push_back(EvseEvent::Unmatched {
                    ev_mac: info.ev_mac,
                    reason: UnmatchReason::NoLink,
                });
                // The car retries matching ([TT_match_join]); it keeps our key meanwhile.
                self.phase = Phase::Matching {
                    init_deadline: Some(now + self.config.slac_init_timeout),
                    sessions: Vec::new(),
                };
            } else if *next_poll <= now {
                *next_poll = now + LINK_STATUS_INTERVAL;
                self.send_link_status_req();
            }
            return;
        }
        let Phase::Matching {
            init_deadline,
            sessions,
        } = &mut self.phase
        else {
            return;
        };
        if init_deadline.is_some_and(|d| d <= now) {
            *init_deadline = None;
            self.events.push_back(EvseEvent::SlacInitTimeout);
        }
        let mut failed = false;
        let mut i = 0;
        while i < sessions.len() {
            if sessions[i].deadline > now {
                i += 1;
                continue;
            }
            let session = &mut sessions[i];
            let failure = match &mut session.step {
                Step::WaitStartAttenChar => Some(EvseFailure::NoStartAttenChar),
                Step::Sounding(_) => {
                    finish_sounding(session, now, &mut self.transmits, self.config.mac).err()
                }
                Step::WaitAttenCharRsp { ind, repeats } => {
                    if *repeats < C_EV_MATCH_RETRY {
                        *repeats += 1;
                        self.transmits.push_back(Repr::new(
                            session.ev_mac,
                            self.config.mac,
                            Message::AttenCharInd(ind.clone()),
                        ));
                        session.deadline = now + TT_MATCH_RESPONSE;
                        None
                    } else {
                        Some(EvseFailure::NoAttenCharRsp)
                    }
                }
                Step::WaitMatchReq { .. } => Some(EvseFailure::NoMatchRequest),
            };
            match failure {
                Some(reason) => {
                    failed = true;
                    let session = sessions.remove(i);
                    info!(
                        "SLAC with {} (run {}) failed: {reason}",
                        session.ev_mac, session.run_id
                    );
                    self.events.push_back(EvseEvent::AttemptFailed {
                        ev_mac: session.ev_mac,
                        run_id: session.run_id,
                        reason,
                    });
                }
                None => i += 1,
            }
        }
        // Back to waiting for a car: one that gives up now is reported after TT_EVSE_SLAC_init.
        if failed && sessions.is_empty() && init_deadline.is_none() {
            *init_deadline = Some(now + self.config.slac_init_timeout);
        }
    }

    /// The next frame to send.
    pub fn poll_transmit(&mut self) -> Option<Repr> {
        self.transmits.pop_front()
    }

    /// When [`Self::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let key = match self.key {
            KeyState::Setting { deadline, .. } => Some(deadline),
            _ => None,
        };
        let phase = match &self.phase {
            Phase::Matching {
                init_deadline,
                sessions,
            } => sessions
                .iter()
                .map(|s| s.deadline)
                .chain(*init_deadline)
                .min(),
            Phase::Matched {
                link:
                    LinkState::Waiting {
                        deadline,
                        next_poll,
                    },
                ..
            } => Some((*deadline).min(*next_poll)),
            _ => None,
        };
        key.into_iter().chain(phase).min()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<EvseEvent> {
        self.events.pop_front()
    }

    fn new_network(&mut self, now: Timestamp) {
        (self.nmk, self.nid) = crate::random_network(&mut self.rng);
        self.key_handed_out = false;
        self.send_set_key(now, 1);
    }

    fn send_set_key(&mut self, now: Timestamp, attempts: u8) {
        self.transmits.push_back(Repr::new(
            self.config.modem,
            self.config.mac,
            Message::SetKeyReq(cm_set_key::ReqRepr::set_nmk(self.nmk, self.nid)),
        ));
        self.key = KeyState::Setting {
            attempts,
            deadline: now + SET_KEY_TIMEOUT,
        };
    }

    fn send_link_status_req(&mut self) {
        self.transmits.push_back(Repr::new(
            self.config.modem,
            self.config.mac,
            Message::LinkStatusReq(vs_pl_link_status::ReqRepr),
        ));
    }

    fn on_link_status_cnf(&mut self, now: Timestamp, cnf: &vs_pl_link_status::CnfRepr) {
        let Phase::Matched { info, link, .. } = &mut self.phase else {
            return;
        };
        if matches!(link, LinkState::Waiting { .. }) && cnf.is_link_up() {
            *link = LinkState::Settled;
            let after_match = now.saturating_duration_since(info.matched);
            info!(
                "{} joined our network {after_match:?} after the match",
                info.ev_mac
            );
            self.events.push_back(EvseEvent::LinkUp {
                ev_mac: info.ev_mac,
                after_match,
            });
        }
    }

    fn on_set_key_cnf(&mut self, cnf: cm_set_key::CnfRepr) {
        if matches!(self.key, KeyState::Setting { .. }) {
            info!("local modem set NID {} (result {})", self.nid, cnf.result);
            self.key = KeyState::Set;
            self.events.push_back(EvseEvent::KeySet {
                nid: self.nid,
                result: cnf.result,
            });
        }
    }

    fn on_slac_param_req(&mut self, now: Timestamp, src: MacAddr, req: cm_slac_param::ReqRepr) {
        if req.application_type != cm_slac_param::APPLICATION_TYPE_PEV_EVSE
            || req.security_type != cm_slac_param::SECURITY_TYPE_NONE
        {
            debug!("ignoring CM_SLAC_PARM.REQ from {src} for another application");
            return;
        }
        match &self.phase {
            Phase::Unplugged => {
                debug!("ignoring CM_SLAC_PARM.REQ from {src}: no car plugged in here");
                return;
            }
            Phase::Matched { info, .. } if info.ev_mac == src => {
                info!("matched car {src} restarts SLAC (run {})", req.run_id);
                self.events.push_back(EvseEvent::Unmatched {
                    ev_mac: src,
                    reason: UnmatchReason::SlacRestarted,
                });
                self.phase = Phase::Matching {
                    init_deadline: None,
                    sessions: Vec::new(),
                };
            }
            Phase::Matched { .. } => {
                debug!("ignoring CM_SLAC_PARM.REQ from {src}: matched with another car");
                return;
            }
            Phase::Matching { .. } => {}
        }
        let Phase::Matching {
            init_deadline,
            sessions,
        } = &mut self.phase
        else {
            return;
        };
        *init_deadline = None;
        // [V2G3-A09-16]: a repeated request restarts the car's session; a car that starts over
        // with a new RunID replaces its old one.
        let restart = match sessions.iter().position(|s| s.ev_mac == src) {
            Some(i) => {
                sessions.remove(i);
                true
            }
            None => false,
        };
        if sessions.len() >= MAX_SESSIONS {
            let oldest = sessions.remove(0);
            self.events.push_back(EvseEvent::AttemptFailed {
                ev_mac: oldest.ev_mac,
                run_id: oldest.run_id,
                reason: EvseFailure::Displaced,
            });
        }
        sessions.push(Session {
            ev_mac: src,
            run_id: req.run_id,
            started: now,
            deadline: now + TT_MATCH_SEQUENCE,
            step: Step::WaitStartAttenChar,
        });
        self.transmits.push_back(Repr::new(
            src,
            self.config.mac,
            Message::SlacParamCnf(cm_slac_param::CnfRepr {
                m_sound_target: MacAddr::BROADCAST,
                num_sounds: self.config.num_sounds,
                time_out: TT_EVSE_MATCH_MNBC_FIELD,
                resp_type: cm_slac_param::RESP_TYPE_OTHER_STATION,
                forwarding_sta: src,
                application_type: cm_slac_param::APPLICATION_TYPE_PEV_EVSE,
                security_type: cm_slac_param::SECURITY_TYPE_NONE,
                // Echoed unchanged, whatever it holds (Tesla: "TESLA EV").
                run_id: req.run_id,
            }),
        ));
        self.events.push_back(EvseEvent::MatchingStarted {
            ev_mac: src,
            run_id: req.run_id,
            restart,
        });
    }

    fn session(&mut self, ev_mac: MacAddr, run_id: RunId) -> Option<&mut Session> {
        match &mut self.phase {
            Phase::Matching { sessions, .. } => sessions
                .iter_mut()
                .find(|s| s.ev_mac == ev_mac && s.run_id == run_id),
            _ => None,
        }
    }

    fn on_start_atten_char(
        &mut self,
        now: Timestamp,
        src: MacAddr,
        ind: &cm_start_atten_char::IndRepr,
    ) {
        let default_sounds = self.config.num_sounds;
        let Some(session) = self.session(src, ind.run_id) else {
            debug!(
                "ignoring CM_START_ATTEN_CHAR.IND from {src} (run {}): no session",
                ind.run_id
            );
            return;
        };
        // The car sends it three times; only the first opens the window.
        if matches!(session.step, Step::WaitStartAttenChar) {
            let expected = if ind.num_sounds == 0 {
                default_sounds
            } else {
                ind.num_sounds
            };
            start_sounding(session, now, expected);
        }
    }

    fn on_mnbc_sound(&mut self, now: Timestamp, src: MacAddr, ind: &cm_mnbc_sound::IndRepr) {
        let default_sounds = self.config.num_sounds;
        let Some(session) = self.session(src, ind.run_id) else {
            return;
        };
        // All three CM_START_ATTEN_CHAR.IND lost: the first sound opens the window.
        if matches!(session.step, Step::WaitStartAttenChar) {
            start_sounding(session, now, default_sounds);
        }
        if let Step::Sounding(s) = &mut session.step {
            s.sounds_heard = s.sounds_heard.saturating_add(1);
        }
    }

    fn on_atten_profile(&mut self, now: Timestamp, ind: &cm_atten_profile::IndRepr) {
        let default_sounds = self.config.num_sounds;
        let mac = self.config.mac;
        let Phase::Matching { sessions, .. } = &mut self.phase else {
            return;
        };
        // The profile names the car but not the run: the car has at most one session.
        let Some(session) = sessions.iter_mut().find(|s| s.ev_mac == ind.pev_mac) else {
            debug!(
                "ignoring CM_ATTEN_PROFILE.IND for {}: no session",
                ind.pev_mac
            );
            return;
        };
        if matches!(session.step, Step::WaitStartAttenChar) {
            start_sounding(session, now, default_sounds);
        }
        let Step::Sounding(s) = &mut session.step else {
            return;
        };
        if ind.aag.is_empty() {
            return;
        }
        if s.sums.is_empty() {
            s.sums = vec![0; ind.aag.len()];
        }
        if s.sums.len() != ind.aag.len() {
            warn!(
                "CM_ATTEN_PROFILE.IND with {} groups after {}: ignored",
                ind.aag.len(),
                s.sums.len()
            );
            return;
        }
        for (sum, &a) in s.sums.iter_mut().zip(&ind.aag) {
            *sum += u32::from(a);
        }
        s.profiles = s.profiles.saturating_add(1);
        if s.profiles >= s.expected {
            // [V2G3-A09-44]: all sounds are in, no need to wait out TT_EVSE_match_MNBC.
            let _ = finish_sounding(session, now, &mut self.transmits, mac);
        }
    }

    fn on_atten_char_rsp(&mut self, now: Timestamp, src: MacAddr, rsp: &cm_atten_char::RspRepr) {
        let Some(session) = self.session(src, rsp.run_id) else {
            return;
        };
        if rsp.source_address != session.ev_mac {
            debug!(
                "ignoring CM_ATTEN_CHAR.RSP for another car ({})",
                rsp.source_address
            );
            return;
        }
        if rsp.result != cm_atten_char::RESULT_SUCCESS {
            debug!(
                "{src} answered CM_ATTEN_CHAR.IND with result {}",
                rsp.result
            );
        }
        if let Step::WaitAttenCharRsp { ind, .. } = &session.step {
            session.step = Step::WaitMatchReq { ind: ind.clone() };
            session.deadline = now + TT_EVSE_MATCH_SESSION;
        }
    }

    fn on_validate_req(&mut self, src: MacAddr, req: &cm_validate::ReqRepr) {
        let Phase::Matching { sessions, .. } = &self.phase else {
            return;
        };
        let known = sessions.iter().any(|s| {
            s.ev_mac == src
                && matches!(
                    s.step,
                    Step::WaitMatchReq { .. } | Step::WaitAttenCharRsp { .. }
                )
        });
        if !known {
            return;
        }
        // A single-connector charger has nothing to disambiguate: validation is declined
        // ([V2G3-A09-51] lets the EVSE do without), and the car proceeds to CM_SLAC_MATCH.REQ.
        self.transmits.push_back(Repr::new(
            src,
            self.config.mac,
            Message::ValidateCnf(cm_validate::CnfRepr {
                signal_type: req.signal_type,
                toggle_num: 0,
                result: cm_validate::result::NOT_REQUIRED,
            }),
        ));
    }

    fn on_slac_match_req(&mut self, now: Timestamp, src: MacAddr, req: &cm_slac_match::ReqRepr) {
        if let Phase::Matched { info, cnf, .. } = &self.phase {
            // Our confirmation got lost: the car repeats its request.
            if info.ev_mac == src && req.run_id == info.run_id {
                self.transmits.push_back(Repr::new(
                    src,
                    self.config.mac,
                    Message::SlacMatchCnf(*cnf),
                ));
            }
            return;
        }
        if req.evse_mac != self.config.mac || req.pev_mac != src {
            debug!(
                "ignoring CM_SLAC_MATCH.REQ from {src} for EVSE {}",
                req.evse_mac
            );
            return;
        }
        if req.application_type != cm_slac_param::APPLICATION_TYPE_PEV_EVSE
            || req.security_type != cm_slac_param::SECURITY_TYPE_NONE
        {
            return;
        }
        let (nmk, nid, mac) = (self.nmk, self.nid, self.config.mac);
        let Some(session) = self.session(src, req.run_id) else {
            debug!(
                "ignoring CM_SLAC_MATCH.REQ from {src} (run {}): no session",
                req.run_id
            );
            return;
        };
        // Accepted after the attenuation report, even if the car's CM_ATTEN_CHAR.RSP got lost.
        let ind = match &session.step {
            Step::WaitMatchReq { ind } | Step::WaitAttenCharRsp { ind, .. } => ind.clone(),
            _ => {
                debug!("ignoring CM_SLAC_MATCH.REQ from {src} before sounding finished");
                return;
            }
        };
        let cnf = cm_slac_match::CnfRepr {
            application_type: cm_slac_param::APPLICATION_TYPE_PEV_EVSE,
            security_type: cm_slac_param::SECURITY_TYPE_NONE,
            mvf_length: cm_slac_match::CNF_MVF_LENGTH,
            pev_id: req.pev_id,
            pev_mac: src,
            evse_id: StationId::ZERO,
            evse_mac: mac,
            run_id: req.run_id,
            nid,
            nmk,
        };
        let info = EvseMatch {
            ev_mac: src,
            run_id: req.run_id,
            nid,
            nmk,
            sounds: ind.num_sounds,
            attenuation_db: ind.mean_attenuation().unwrap_or(0.0),
            started: session.started,
            matched: now,
        };
        self.transmits
            .push_back(Repr::new(src, mac, Message::SlacMatchCnf(cnf)));
        info!(
            "matched with {src} (run {}) in {:?}",
            req.run_id,
            info.duration()
        );
        self.key_handed_out = true;
        self.events.push_back(EvseEvent::Matched(info.clone()));
        let link = if self.config.link_detection {
            self.send_link_status_req();
            LinkState::Waiting {
                deadline: now + TT_MATCH_JOIN,
                next_poll: now + LINK_STATUS_INTERVAL,
            }
        } else {
            LinkState::Settled
        };
        self.phase = Phase::Matched { info, cnf, link };
    }
}

fn start_sounding(session: &mut Session, now: Timestamp, expected: u8) {
    session.step = Step::Sounding(Sounding {
        expected,
        ..Sounding::default()
    });
    session.deadline = now + TT_EVSE_MATCH_MNBC;
}

/// Averages the collected profiles and sends CM_ATTEN_CHAR.IND ([V2G3-A09-19]); fails the session
/// if there was nothing to average.
fn finish_sounding(
    session: &mut Session,
    now: Timestamp,
    transmits: &mut VecDeque<Repr>,
    mac: MacAddr,
) -> Result<(), EvseFailure> {
    let Step::Sounding(s) = &session.step else {
        return Ok(());
    };
    if s.profiles == 0 {
        return Err(EvseFailure::NoSounds {
            sounds_heard: s.sounds_heard,
        });
    }
    let n = u32::from(s.profiles);
    let aag = s
        .sums
        .iter()
        .map(|&sum| u8::try_from((sum + n / 2) / n).unwrap_or(u8::MAX))
        .collect();
    let ind = cm_atten_char::IndRepr {
        application_type: cm_slac_param::APPLICATION_TYPE_PEV_EVSE,
        security_type: cm_slac_param::SECURITY_TYPE_NONE,
        source_address: session.ev_mac,
        run_id: session.run_id,
        source_id: StationId::ZERO,
        resp_id: StationId::ZERO,
        num_sounds: s.profiles,
        aag,
    };
    transmits.push_back(Repr::new(
        session.ev_mac,
        mac,
        Message::AttenCharInd(ind.clone()),
    ));
    session.step = Step::WaitAttenCharRsp { ind, repeats: 0 };
    session.deadline = now + TT_MATCH_RESPONSE;
    Ok(())
}
