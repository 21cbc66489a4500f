//! Sans-IO management of a QCA7000/7005 powerline module over its host interface: flashing
//! (from the bootloader, as `plcboot -F` does, or into a running module), reading and writing
//! the PIB, reset, the network key, and the module's status. Frames and time in
//! ([`Flasher::handle_frame`], [`Flasher::handle_timeout`]), frames, deadlines and events out
//! ([`Flasher::poll_transmit`], [`Flasher::poll_timeout`], [`Flasher::poll_event`]); no socket,
//! no clock. `plc::run_flasher` drives it over a raw socket.
//!
//! Flashing, in the order `plcboot` uses (open-plc-utils `plcboot.c`, `InitDevice2`,
//! `BootDevice2`, `FlashDevice2`):
//!
//! 1. VS_SW_VER to the local-module address finds the module and whether it runs its
//!    bootloader ("BootLoader") or firmware.
//! 2. In the bootloader, VS_WRITE_AND_EXECUTE_APPLET loads the memory-controller applet of the
//!    firmware file (and starts it), the PIB file, then the firmware module (and starts it);
//!    VS_SW_VER is polled until the firmware answers.
//! 3. One VS_MODULE_OPERATION session per flash unit: the softloader alone (if given), then
//!    the PIB and the firmware together. A session starts with the modules' lengths and
//!    checksums, writes each module in 1400-byte parts and commits.
//! 4. Where `plcboot` stops, this flasher also verifies: before a session it reads the
//!    session's modules back from flash and skips the session if they already hold exactly
//!    these bytes (which makes a re-run resume after an interruption); after the commit it
//!    reads them back again and compares. Finally VS_RS_DEV restarts the module and VS_SW_VER
//!    waits until it runs the firmware from flash.
//!
//! A failure ends the run with a [`Failure`] that says what went wrong and what state the
//! module is left in ([`ModuleState`]), with the way back.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use homeplug::vs_module_operation::{
    self as modop, COMMIT_FACTORY_PIB, COMMIT_FORCE, COMMIT_NORESET, ModuleId, ModuleSpec,
    Operation, Outcome,
};
use homeplug::vs_write_execute_applet::{self as applet};
use homeplug::{
    MacAddr, Message, Nid, Nmk, Repr, SecurityLevel, cm_set_key, vs_pl_link_status, vs_rs_dev,
    vs_sw_ver,
};
use qca_image::ImageType;
use units::Timestamp;

/// What VS_SW_VER reports while the module runs its boot ROM.
pub const BOOTLOADER: &str = "BootLoader";

/// The COMMIT_CODE `plcboot -F` closes its sessions with: force, no reset, factory PIB too.
pub const COMMIT_CODE: u32 = COMMIT_FORCE | COMMIT_NORESET | COMMIT_FACTORY_PIB;

/// The pause between VS_SW_VER polls while a module still answers "BootLoader".
const POLL_PAUSE: Duration = Duration::from_millis(200);

/// How long to wait for what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// For one answer before the request is sent again.
    pub answer: Duration,
    /// How often a request is sent before the module counts as gone.
    pub attempts: u32,
    /// For a commit's answer (the module burns its flash first; `plcboot` allows 90 s).
    pub commit: Duration,
    /// For the firmware to answer after it was started or the module reset.
    pub start: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            answer: Duration::from_secs(1),
            attempts: 3,
            commit: Duration::from_secs(90),
            start: Duration::from_secs(30),
        }
    }
}

/// The files of a flash, each a whole NVM file as `nvmmerge` or `gridlet plc image split`
/// writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Images {
    /// The softloader chain (memory-controller applet + softloader); flashed first if given.
    pub softloader: Option<Vec<u8>>,
    /// The firmware chain (memory-controller applet, firmware, ...).
    pub firmware: Vec<u8>,
    /// The PIB file (usually manifest + PIB).
    pub pib: Vec<u8>,
}

/// What to do with the module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// Flash these images (from the bootloader or into the running firmware), verify, restart.
    Flash(Images),
    /// Read the PIB the firmware runs with ([`Event::Pib`]).
    ReadPib,
    /// Write a PIB file to flash, verify, restart.
    WritePib(Vec<u8>),
    /// Restart the module (VS_RS_DEV) and wait for its firmware.
    Reset,
    /// Program this network membership key (CM_SET_KEY.REQ; NID derived, simple connect).
    SetKey(Nmk),
    /// Find the module; if its firmware runs, read its PIB and link status.
    Status,
}

/// What the flasher reports, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The module answered VS_SW_VER.
    Found {
        /// Its MAC.
        mac: MacAddr,
        /// MDEVICEID.
        device_id: u8,
        /// Its version string ([`BOOTLOADER`] in the boot ROM).
        version: String,
    },
    /// The firmware loaded from the bootloader runs (from memory, not yet from flash).
    Booted {
        /// Its version.
        version: String,
    },
    /// The module's flash already held exactly this module: its session was skipped.
    AlreadyInFlash(ModuleId),
    /// A session was committed.
    Committed(Vec<ModuleId>),
    /// A module read back from flash equals what was written.
    Verified(ModuleId),
    /// The module restarted and runs this firmware.
    Restarted {
        /// Its version.
        version: String,
    },
    /// The PIB file read from memory.
    Pib(Vec<u8>),
    /// VS_PL_LINK_STATUS: true if the powerline link is up.
    Link(bool),
    /// The key was accepted.
    KeySet(Nid),
    /// A status query the module did not answer (only for [`Job::Status`], which goes on).
    Unanswered(String),
    /// The job is done.
    Done,
    /// The job failed; nothing more will happen.
    Failed(Failure),
}

/// Where a failed run left the module, and the way back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleState {
    /// Not found or nothing written: as it was before.
    Unchanged,
    /// In memory only (bootloader path); the flash is as it was.
    MemoryOnly,
    /// Some sessions committed and verified, the named modules not (yet) written; their
    /// flash holds what it held before.
    Partial {
        /// Committed and verified.
        done: Vec<ModuleId>,
        /// Not committed.
        pending: Vec<ModuleId>,
    },
    /// A commit was sent without a confirmation, or a read-back differs: these modules'
    /// flash is in doubt.
    InDoubt(Vec<ModuleId>),
    /// Everything is in flash and verified, but the module did not come back after the reset.
    FlashedNotRestarted,
}

impl fmt::Display for ModuleState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = |ids: &[ModuleId]| ids.iter().map(|m| module_name(*m)).collect::<Vec<_>>();
        match self {
            Self::Unchanged => f.write_str("the module is as it was: nothing was written"),
            Self::MemoryOnly => f.write_str(
                "nothing was written to flash (the images were only loaded into memory); \
                 power-cycle the module and run the same command again",
            ),
            Self::Partial { done, pending } => write!(
                f,
                "in flash and verified: {:?}; not written: {:?}, whose flash is unchanged. \
                 Run the same command again: it skips what is already in flash and resumes \
                 with the rest (a module left without firmware starts in its bootloader, \
                 which the flash command handles)",
                names(done),
                names(pending)
            ),
            Self::InDoubt(ids) => write!(
                f,
                "the flash of {:?} is in doubt (commit unconfirmed or read-back differs); do not \
                 power-cycle if avoidable, run the same command again: it reads the flash back \
                 and rewrites what differs; if the module then answers \"BootLoader\", flash \
                 it with --softloader as well",
                names(ids)
            ),
            Self::FlashedNotRestarted => f.write_str(
                "everything is in flash and verified, but the module did not answer after its \
                 reset; power-cycle it and check with `gridlet plc status`",
            ),
        }
    }
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    /// An input file is not what the job needs (the caller's fault).
    #[error("{0}")]
    BadImage(String),
    /// No answer to a request.
    #[error(
        "no answer to {what} after {attempts} attempts (is the module powered and on this interface?)"
    )]
    NoAnswer {
        /// The request.
        what: String,
        /// How often it was sent.
        attempts: u32,
    },
    /// The module refused a request.
    #[error("the module refused {what} (status {status:#x})")]
    Refused {
        /// The request.
        what: String,
        /// Its MSTATUS.
        status: u32,
    },
    /// The module's answer does not match the request (the module's fault).
    #[error("the module's answer to {0} does not match the request")]
    Mismatch(String),
    /// What was read back from flash differs from what was written.
    #[error("{module} read back from flash differs from the file at byte {offset}")]
    Verify {
        /// The module.
        module: String,
        /// The first differing byte (or where the module ended early).
        offset: usize,
    },
    /// The job needs the firmware but the module runs its bootloader.
    #[error(
        "the module runs its bootloader, not firmware: flash it first (gridlet plc flash --firmware F --pib F)"
    )]
    InBootloader,
    /// The firmware did not come up in time.
    #[error("the firmware did not answer within {0:?}")]
    NotStarted(Duration),
}

/// A failed run: why, and where it left the module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}; {state}")]
pub struct Failure {
    /// Why.
    pub reason: Reason,
    /// Where it left the module and the way back.
    pub state: ModuleState,
}

/// The usual name of a module.
pub fn module_name(m: ModuleId) -> &'static str {
    match m.id {
        modop::MODULE_FIRMWARE => "firmware",
        modop::MODULE_PARAMETERS => "PIB",
        modop::MODULE_SOFTLOADER => "softloader",
        _ => "module",
    }
}

/// One flash session: modules written and committed together.
type Session = Vec<(ModuleId, Vec<u8>)>;

/// What comes after the firmware answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterStart {
    Sessions,
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Probe,
    Applets {
        next: usize,
    },
    WaitStart {
        until: Timestamp,
        then: AfterStart,
    },
    /// Reading a session's module back from flash (`verify` after the commit, else before).
    ReadBack {
        session: usize,
        module: usize,
        verify: bool,
    },
    Start {
        session: usize,
    },
    Write {
        session: usize,
        module: usize,
        offset: usize,
    },
    Commit {
        session: usize,
    },
    Reset,
    ReadPib,
    LinkStatus,
    SetKey,
    Finished,
}

#[derive(Debug, Clone)]
struct Pending {
    message: Message,
    to: MacAddr,
    deadline: Timestamp,
    timeout: Duration,
    attempts: u32,
    /// Polls (SW_VER while waiting for a start) are answered or not: no failure on silence.
    poll: bool,
}

/// The sans-IO module manager. See the [crate docs](crate).
#[derive(Debug)]
pub struct Flasher {
    host: MacAddr,
    job: Job,
    cookie: u32,
    timing: Timing,
    phase: Phase,
    modem: MacAddr,
    bootloader: bool,
    applets: Vec<applet::ReqRepr>,
    sessions: Vec<Session>,
    done: Vec<ModuleId>,
    /// Bytes read so far of the module being read.
    read: Vec<u8>,
    pending: Option<Pending>,
    outbox: VecDeque<Repr>,
    events: VecDeque<Event>,
}

impl Flasher {
    /// A flasher on the host `host` for `job`, started at `now`; `cookie` tells this run's
    /// answers apart (a random or time-derived number). Checks the job's files first.
    pub fn new(
        now: Timestamp,
        host: MacAddr,
        job: Job,
        cookie: u32,
        timing: Timing,
    ) -> Result<Self, Failure> {
        let bad = |why: String| Failure {
            reason: Reason::BadImage(why),
            state: ModuleState::Unchanged,
        };
        let mut applets = Vec::new();
        let mut sessions = Vec::new();
        match &job {
            Job::Flash(images) => {
                for (name, file) in [("firmware", &images.firmware), ("PIB", &images.pib)]
                    .into_iter()
                    .chain(images.softloader.iter().map(|s| ("softloader", s)))
                {
                    check_file(name, file).map_err(bad)?;
                }
                let part = |kind: ImageType, what: &str| {
                    qca_image::boot::find_module(&images.firmware, kind)
                        .and_then(|m| qca_image::boot::applet_parts(&m, cookie))
                        .ok_or_else(|| {
                            bad(format!(
                                "the firmware file holds no version 2 {what} module to boot"
                            ))
                        })
                };
                applets.extend(part(ImageType::MEMCTL, "memory-controller applet")?);
                applets.extend(
                    qca_image::boot::pib_parts(&images.pib, cookie).ok_or_else(|| {
                        bad("the PIB file holds no version 2 PIB module".to_owned())
                    })?,
                );
                applets.extend(part(ImageType::FIRMWARE, "firmware")?);
                if let Some(soft) = &images.softloader {
                    sessions.push(vec![(ModuleId::SOFTLOADER, soft.clone())]);
                }
                sessions.push(vec![
                    (ModuleId::PARAMETERS, images.pib.clone()),
                    (ModuleId::FIRMWARE, images.firmware.clone()),
                ]);
            }
            Job::WritePib(pib) => {
                check_file("PIB", pib).map_err(bad)?;
                qca_image::Pib::parse(pib)
                    .and_then(|p| p.check())
                    .map_err(|e| bad(format!("PIB: {e}")))?;
                sessions.push(vec![(ModuleId::PARAMETERS, pib.clone())]);
            }
            Job::ReadPib | Job::Reset | Job::SetKey(_) | Job::Status => {}
        }
        let mut flasher = Self {
            host,
            job,
            cookie,
            timing,
            phase: Phase::Probe,
            modem: MacAddr::QCA_LOCAL,
            bootloader: false,
            applets,
            sessions,
            done: Vec::new(),
            read: Vec::new(),
            pending: None,
            outbox: VecDeque::new(),
            events: VecDeque::new(),
        };
        flasher.send(
            now,
            Message::SwVerReq(vs_sw_ver::ReqRepr::default()),
            timing.answer,
        );
        Ok(flasher)
    }

    /// True once [`Event::Done`] or [`Event::Failed`] was queued.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    /// A frame from the interface.
    pub fn handle_frame(&mut self, now: Timestamp, frame: &[u8]) {
        let Ok(repr) = Repr::parse_bytes(frame) else {
            return;
        };
        if repr.dst != self.host && !repr.dst.is_broadcast() {
            return;
        }
        let Some(pending) = &self.pending else {
            return;
        };
        if self.phase != Phase::Probe && repr.src != self.modem {
            return;
        }
        if !answers(&pending.message, &repr.message, self.cookie) {
            return;
        }
        self.pending = None;
        if self.phase == Phase::Probe {
            self.modem = repr.src;
        }
        self.on_answer(now, repr.message);
    }

    /// The deadline of [`Self::poll_timeout`] passed.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let max_attempts = self.attempts();
        let Some(pending) = &mut self.pending else {
            return;
        };
        if now < pending.deadline {
            return;
        }
        if let Phase::WaitStart { until, .. } = self.phase {
            if now >= until {
                let state = if self.phase_is_after_flash() {
                    ModuleState::FlashedNotRestarted
                } else {
                    ModuleState::MemoryOnly
                };
                return self.fail(Reason::NotStarted(self.timing.start), state);
            }
        } else if !pending.poll && pending.attempts >= max_attempts {
            let what = pending.message.mmtype().to_string();
            if self.job == Job::Status && self.phase == Phase::ReadPib {
                // Status is best effort past the module's identity: go on to the link.
                self.events.push_back(Event::Unanswered(what));
                self.phase = Phase::LinkStatus;
                return self.send_local(now, Message::LinkStatusReq(vs_pl_link_status::ReqRepr));
            }
            if self.job == Job::Status && self.phase == Phase::LinkStatus {
                self.events.push_back(Event::Unanswered(what));
                return self.finish();
            }
            let attempts = pending.attempts;
            let state = self.state_now();
            return self.fail(Reason::NoAnswer { what, attempts }, state);
        }
        pending.attempts += 1;
        pending.deadline = now + pending.timeout;
        let repr = Repr::new(pending.to, self.host, pending.message.clone());
        self.outbox.push_back(repr);
    }

    /// The next frame to send.
    pub fn poll_transmit(&mut self) -> Option<Repr> {
        self.outbox.pop_front()
    }

    /// When [`Self::handle_timeout`] wants to be called.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.pending.as_ref().map(|p| p.deadline)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn send(&mut self, now: Timestamp, message: Message, timeout: Duration) {
        self.send_to(now, self.modem, message, timeout, false);
    }

    /// To the local-module address: the queries the host's own module answers there (as SLAC
    /// stations send CM_SET_KEY), whatever its MAC.
    fn send_local(&mut self, now: Timestamp, message: Message) {
        self.send_to(now, MacAddr::QCA_LOCAL, message, self.timing.answer, false);
    }

    fn send_to(
        &mut self,
        now: Timestamp,
        to: MacAddr,
        message: Message,
        timeout: Duration,
        poll: bool,
    ) {
        self.outbox
            .push_back(Repr::new(to, self.host, message.clone()));
        self.pending = Some(Pending {
            message,
            to,
            deadline: now + timeout,
            timeout,
            attempts: 1,
            poll,
        });
    }

    fn fail(&mut self, reason: Reason, state: ModuleState) {
        self.pending = None;
        self.phase = Phase::Finished;
        self.events
            .push_back(Event::Failed(Failure { reason, state }));
    }

    fn finish(&mut self) {
        self.pending = None;
        self.phase = Phase::Finished;
        self.events.push_back(Event::Done);
    }

    fn phase_is_after_flash(&self) -> bool {
        self.done.len() == self.sessions.iter().map(Vec::len).sum::<usize>()
            && !self.sessions.is_empty()
    }

    /// How often the pending request is sent: once for what a status only shows if it can
    /// (a module that does not answer a PIB read will not answer it on the third try either).
    fn attempts(&self) -> u32 {
        if self.job == Job::Status && matches!(self.phase, Phase::ReadPib | Phase::LinkStatus) {
            1
        } else {
            self.timing.attempts
        }
    }

    /// Where the module is if the run stopped now.
    fn state_now(&self) -> ModuleState {
        let pending: Vec<ModuleId> = self
            .sessions
            .iter()
            .flatten()
            .map(|(m, _)| *m)
            .filter(|m| !self.done.contains(m))
            .collect();
        match &self.phase {
            Phase::Commit { session } => {
                ModuleState::InDoubt(self.sessions[*session].iter().map(|(m, _)| *m).collect())
            }
            Phase::ReadBack {
                session,
                verify: true,
                ..
            } => ModuleState::InDoubt(self.sessions[*session].iter().map(|(m, _)| *m).collect()),
            Phase::Reset if self.phase_is_after_flash() => ModuleState::FlashedNotRestarted,
            _ if self.done.is_empty() && self.bootloader => ModuleState::MemoryOnly,
            _ if self.done.is_empty() => ModuleState::Unchanged,
            _ => ModuleState::Partial {
                done: self.done.clone(),
                pending,
            },
        }
    }

    fn on_answer(&mut self, now: Timestamp, message: Message) {
        match (self.phase.clone(), message) {
            (Phase::Probe, Message::SwVerCnf(cnf)) => {
                let version = cnf.version_string();
                self.bootloader = version == BOOTLOADER;
                self.events.push_back(Event::Found {
                    mac: self.modem,
                    device_id: cnf.device_id,
                    version,
                });
                self.after_probe(now);
            }
            (Phase::Applets { next }, Message::WriteExecuteAppletCnf(cnf)) => {
                let sent = &self.applets[next];
                let what = "VS_WRITE_AND_EXECUTE_APPLET.REQ".to_owned();
                if cnf.status != 0 {
                    return self.fail(
                        Reason::Refused {
                            what,
                            status: cnf.status,
                        },
                        ModuleState::MemoryOnly,
                    );
                }
                if cnf.part_length as usize != sent.image.len()
                    || cnf.part_offset != sent.part_offset
                {
                    return self.fail(Reason::Mismatch(what), ModuleState::MemoryOnly);
                }
                self.next_applet(now, next + 1);
            }
            (Phase::WaitStart { until, then }, Message::SwVerCnf(cnf)) => {
                let version = cnf.version_string();
                if version == BOOTLOADER {
                    // Not up yet: ask again after a pause (sent by handle_timeout).
                    self.pending = Some(Pending {
                        message: Message::SwVerReq(vs_sw_ver::ReqRepr::default()),
                        to: self.modem,
                        deadline: (now + POLL_PAUSE).min(until),
                        timeout: self.timing.answer,
                        attempts: 0,
                        poll: true,
                    });
                    return;
                }
                match then {
                    AfterStart::Sessions => {
                        self.events.push_back(Event::Booted { version });
                        self.bootloader = false;
                        self.start_session(now, 0);
                    }
                    AfterStart::Done => {
                        self.events.push_back(Event::Restarted { version });
                        self.finish();
                    }
                }
            }
            (
                Phase::ReadBack {
                    session,
                    module,
                    verify,
                },
                Message::ModuleOperationCnf(cnf),
            ) => self.on_read_back(now, session, module, verify, cnf),
            (Phase::Start { session }, Message::ModuleOperationCnf(cnf)) => {
                if cnf.status != 0 {
                    let state = self.state_now();
                    return self.fail(
                        Reason::Refused {
                            what: "VS_MODULE_OPERATION start session".to_owned(),
                            status: u32::from(cnf.status),
                        },
                        state,
                    );
                }
                self.phase = Phase::Write {
                    session,
                    module: 0,
                    offset: 0,
                };
                self.send_write(now);
            }
            (
                Phase::Write {
                    session,
                    module,
                    offset,
                },
                Message::ModuleOperationCnf(cnf),
            ) => {
                let len = self.sessions[session][module].1.len();
                let part = (len - offset).min(modop::MAX_PART);
                let what = "VS_MODULE_OPERATION write".to_owned();
                if cnf.status != 0 {
                    let state = self.state_now();
                    return self.fail(
                        Reason::Refused {
                            what,
                            status: u32::from(cnf.status),
                        },
                        state,
                    );
                }
                match cnf.outcome {
                    Outcome::Write {
                        length, offset: o, ..
                    } if usize::from(length) == part && o as usize == offset => {}
                    _ => {
                        let state = self.state_now();
                        return self.fail(Reason::Mismatch(what), state);
                    }
                }
                let (module, offset) = if offset + part < len {
                    (module, offset + part)
                } else {
                    (module + 1, 0)
                };
                if module < self.sessions[session].len() {
                    self.phase = Phase::Write {
                        session,
                        module,
                        offset,
                    };
                    self.send_write(now);
                } else {
                    self.phase = Phase::Commit { session };
                    self.send(
                        now,
                        Message::ModuleOperationReq(modop::ReqRepr {
                            operation: Operation::Commit {
                                session: self.cookie,
                                code: COMMIT_CODE,
                            },
                        }),
                        self.timing.commit,
                    );
                }
            }
            (Phase::Commit { session }, Message::ModuleOperationCnf(cnf)) => {
                let ids: Vec<ModuleId> = self.sessions[session].iter().map(|(m, _)| *m).collect();
                if cnf.status != 0 {
                    // A refused commit burns nothing: the old flash stands.
                    return self.fail(
                        Reason::Refused {
                            what: "VS_MODULE_OPERATION commit".to_owned(),
                            status: u32::from(cnf.status),
                        },
                        ModuleState::Partial {
                            done: self.done.clone(),
                            pending: self
                                .sessions
                                .iter()
                                .flatten()
                                .map(|(m, _)| *m)
                                .filter(|m| !self.done.contains(m))
                                .collect(),
                        },
                    );
                }
                self.events.push_back(Event::Committed(ids));
                self.read_back(now, session, 0, true);
            }
            (Phase::Reset, Message::RsDevCnf(cnf)) => {
                if cnf.status != 0 {
                    let state = self.state_now();
                    return self.fail(
                        Reason::Refused {
                            what: "VS_RS_DEV.REQ".to_owned(),
                            status: u32::from(cnf.status),
                        },
                        state,
                    );
                }
                self.wait_start(now, AfterStart::Done);
            }
            (Phase::ReadPib, Message::ModuleOperationCnf(cnf)) => {
                if cnf.status != 0 {
                    return self.fail(
                        Reason::Refused {
                            what: "VS_MODULE_OPERATION read PIB".to_owned(),
                            status: u32::from(cnf.status),
                        },
                        ModuleState::Unchanged,
                    );
                }
                let Outcome::Read { data, .. } = cnf.outcome else {
                    return self.fail(
                        Reason::Mismatch("VS_MODULE_OPERATION read PIB".to_owned()),
                        ModuleState::Unchanged,
                    );
                };
                let last = data.len() < modop::MAX_PART;
                self.read.extend_from_slice(&data);
                if !last {
                    return self.send_read(now, ModuleId::PARAMETERS, modop::OP_READ_MEMORY);
                }
                self.events
                    .push_back(Event::Pib(std::mem::take(&mut self.read)));
                if self.job == Job::Status {
                    self.phase = Phase::LinkStatus;
                    self.send_local(now, Message::LinkStatusReq(vs_pl_link_status::ReqRepr));
                } else {
                    self.finish();
                }
            }
            (Phase::LinkStatus, Message::LinkStatusCnf(cnf)) => {
                self.events.push_back(Event::Link(cnf.link_status != 0));
                self.finish();
            }
            (Phase::SetKey, Message::SetKeyCnf(cnf)) => {
                if cnf.result != 0 {
                    return self.fail(
                        Reason::Refused {
                            what: "CM_SET_KEY.REQ".to_owned(),
                            status: u32::from(cnf.result),
                        },
                        ModuleState::Unchanged,
                    );
                }
                if let Job::SetKey(nmk) = &self.job {
                    let nid = Nid::from_nmk(nmk, SecurityLevel::SimpleConnect);
                    self.events.push_back(Event::KeySet(nid));
                }
                self.finish();
            }
            _ => {}
        }
    }

    fn after_probe(&mut self, now: Timestamp) {
        match (&self.job, self.bootloader) {
            (Job::Flash(_), true) => self.next_applet(now, 0),
            (Job::Flash(_) | Job::WritePib(_), false) => self.start_session(now, 0),
            (Job::Status, true) => self.finish(),
            (_, true) => self.fail(Reason::InBootloader, ModuleState::Unchanged),
            (Job::ReadPib | Job::Status, false) => {
                self.phase = Phase::ReadPib;
                self.read.clear();
                self.send_read(now, ModuleId::PARAMETERS, modop::OP_READ_MEMORY);
            }
            (Job::Reset, false) => self.reset(now),
            (Job::SetKey(nmk), false) => {
                let nid = Nid::from_nmk(nmk, SecurityLevel::SimpleConnect);
                let message = Message::SetKeyReq(cm_set_key::ReqRepr::set_nmk(*nmk, nid));
                self.phase = Phase::SetKey;
                self.send_local(now, message);
            }
        }
    }

    fn next_applet(&mut self, now: Timestamp, next: usize) {
        match self.applets.get(next) {
            Some(part) => {
                let message = Message::WriteExecuteAppletReq(part.clone());
                self.phase = Phase::Applets { next };
                self.send(now, message, self.timing.answer);
            }
            None => self.wait_start(now, AfterStart::Sessions),
        }
    }

    fn wait_start(&mut self, now: Timestamp, then: AfterStart) {
        self.phase = Phase::WaitStart {
            until: now + self.timing.start,
            then,
        };
        self.send_to(
            now,
            self.modem,
            Message::SwVerReq(vs_sw_ver::ReqRepr::default()),
            self.timing.answer,
            true,
        );
    }

    fn reset(&mut self, now: Timestamp) {
        self.phase = Phase::Reset;
        self.send(
            now,
            Message::RsDevReq(vs_rs_dev::ReqRepr),
            self.timing.answer,
        );
    }

    /// Before session `session`: read its modules back to see whether it is needed.
    fn start_session(&mut self, now: Timestamp, session: usize) {
        if session >= self.sessions.len() {
            return self.reset(now);
        }
        self.read_back(now, session, 0, false);
    }

    fn read_back(&mut self, now: Timestamp, session: usize, module: usize, verify: bool) {
        self.phase = Phase::ReadBack {
            session,
            module,
            verify,
        };
        self.read.clear();
        let id = self.sessions[session][module].0;
        self.send_read(now, id, modop::OP_READ_FLASH);
    }

    fn send_read(&mut self, now: Timestamp, module: ModuleId, source: u16) {
        let message = Message::ModuleOperationReq(modop::ReqRepr {
            operation: Operation::Read {
                source,
                module,
                length: modop::MAX_PART as u16,
                offset: u32::try_from(self.read.len()).unwrap_or(u32::MAX),
            },
        });
        self.send(now, message, self.timing.answer);
    }

    fn on_read_back(
        &mut self,
        now: Timestamp,
        session: usize,
        module: usize,
        verify: bool,
        cnf: modop::CnfRepr,
    ) {
        let (id, want) = {
            let (id, bytes) = &self.sessions[session][module];
            (*id, bytes.clone())
        };
        let data = match cnf.outcome {
            Outcome::Read { data, offset, .. }
                if cnf.status == 0 && offset as usize == self.read.len() =>
            {
                data
            }
            _ if !verify => {
                // Nothing readable there (a blank module): the session is needed.
                return self.begin_writes(now, session);
            }
            _ => {
                let state = ModuleState::InDoubt(vec![id]);
                return self.fail(
                    Reason::Verify {
                        module: module_name(id).to_owned(),
                        offset: self.read.len(),
                    },
                    state,
                );
            }
        };
        let start = self.read.len();
        let last = data.len() < modop::MAX_PART;
        self.read.extend_from_slice(&data);
        let end = self.read.len().min(want.len());
        let differs = self.read.len() > want.len()
            || self.read[start..end] != want[start.min(end)..end]
            || (last && self.read.len() != want.len());
        if differs {
            if !verify {
                return self.begin_writes(now, session);
            }
            let offset = self
                .read
                .iter()
                .zip(&want)
                .position(|(a, b)| a != b)
                .unwrap_or(self.read.len().min(want.len()));
            return self.fail(
                Reason::Verify {
                    module: module_name(id).to_owned(),
                    offset,
                },
                ModuleState::InDoubt(vec![id]),
            );
        }
        if !last {
            return self.send_read(now, id, modop::OP_READ_FLASH);
        }
        // This module is in flash as it should be.
        if verify {
            self.events.push_back(Event::Verified(id));
            self.done.push(id);
        }
        if module + 1 < self.sessions[session].len() {
            return self.read_back(now, session, module + 1, verify);
        }
        if !verify {
            for (m, _) in &self.sessions[session] {
                self.events.push_back(Event::AlreadyInFlash(*m));
                self.done.push(*m);
            }
        }
        self.start_session(now, session + 1);
    }

    fn begin_writes(&mut self, now: Timestamp, session: usize) {
        self.phase = Phase::Start { session };
        let modules = self.sessions[session]
            .iter()
            .map(|(module, bytes)| ModuleSpec {
                module: *module,
                length: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
                checksum: qca_image::checksum32(bytes),
            })
            .collect();
        self.send(
            now,
            Message::ModuleOperationReq(modop::ReqRepr {
                operation: Operation::StartSession {
                    session: self.cookie,
                    modules,
                },
            }),
            self.timing.answer,
        );
    }

    fn send_write(&mut self, now: Timestamp) {
        let Phase::Write {
            session,
            module,
            offset,
        } = self.phase
        else {
            return;
        };
        let (id, bytes) = &self.sessions[session][module];
        let end = (offset + modop::MAX_PART).min(bytes.len());
        let message = Message::ModuleOperationReq(modop::ReqRepr {
            operation: Operation::Write {
                session: self.cookie,
                index: u8::try_from(module).unwrap_or(u8::MAX),
                module: *id,
                offset: u32::try_from(offset).unwrap_or(u32::MAX),
                data: bytes[offset..end].to_vec(),
            },
        });
        self.send(now, message, self.timing.answer);
    }
}

/// Whether `answer` is the confirmation of `request` in this run.
fn answers(request: &Message, answer: &Message, cookie: u32) -> bool {
    match (request, answer) {
        (Message::SwVerReq(_), Message::SwVerCnf(_))
        | (Message::RsDevReq(_), Message::RsDevCnf(_))
        | (Message::LinkStatusReq(_), Message::LinkStatusCnf(_))
        | (Message::SetKeyReq(_), Message::SetKeyCnf(_)) => true,
        // A late answer to an earlier part (after a resend) must not pass for this part's.
        (Message::WriteExecuteAppletReq(r), Message::WriteExecuteAppletCnf(c)) => {
            c.client_session == cookie
                && c.part_offset == r.part_offset
                && c.total_length == r.total_length
                && c.checksum == r.checksum
                && c.part_length as usize == r.image.len()
        }
        (Message::ModuleOperationReq(r), Message::ModuleOperationCnf(c)) => {
            match (&r.operation, &c.outcome) {
                (
                    Operation::Read {
                        source,
                        module,
                        offset,
                        ..
                    },
                    Outcome::Read {
                        source: s,
                        module: m,
                        offset: o,
                        ..
                    },
                ) => source == s && module == m && (offset == o || c.status != 0),
                (Operation::Read { source, .. }, Outcome::Other { op, .. }) => {
                    // A refusal may come without the read's body.
                    c.status != 0 && source == op
                }
                (
                    Operation::Write {
                        session,
                        index,
                        offset,
                        ..
                    },
                    Outcome::Write {
                        session: s,
                        index: i,
                        offset: o,
                        ..
                    },
                ) => session == s && index == i && offset == o,
                (
                    Operation::StartSession { session, .. },
                    Outcome::StartSession { session: s, .. },
                )
                | (Operation::Commit { session, .. }, Outcome::Commit { session: s, .. }) => {
                    session == s
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// A file the module takes whole: not empty, whole 32-bit words (`ModuleSpec` in `plcboot`
/// refuses others), a valid version 2 NVM chain.
fn check_file(name: &str, file: &[u8]) -> Result<(), String> {
    if file.is_empty() || !file.len().is_multiple_of(4) {
        return Err(format!(
            "the {name} file is {} bytes, not a whole number of 32-bit words",
            file.len()
        ));
    }
    let chain = qca_image::Chain::parse(file).map_err(|e| format!("the {name} file: {e}"))?;
    if chain.version() != Some(2) {
        return Err(format!(
            "the {name} file is not a QCA7000/7005 (version 2) NVM file"
        ));
    }
    Ok(())
}
