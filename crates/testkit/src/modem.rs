//! A QCA7000/7005 module emulator for flasher tests, sans-IO: frames in, answer frames out, as a
//! modem on the host interface would give them ([`serve`] runs it on a raw socket).
//!
//! - The bootloader: VS_SW_VER answers "BootLoader"; VS_WRITE_AND_EXECUTE_APPLET parts go into
//!   its memory; a part that asks to execute has the module's image checksum checked over the
//!   bytes received before the module "starts". Parts that allow no memory type (what
//!   `plcboot` sends for the PIB) are the PIB file, kept apart. A module started once a PIB is
//!   loaded is the firmware: from then on the module runs it (a real module tells by the
//!   image; the emulator by the order `plcboot` loads them in: applet, PIB, firmware).
//! - The firmware: VS_SW_VER gives the firmware version; VS_MODULE_OPERATION reads modules from
//!   memory (the PIB it runs with) or flash, and takes write sessions: the modules announced
//!   with lengths and checksums, parts at their offsets, and on commit every module checked
//!   against its announced length and checksum before it goes into [`ModuleEmulator::flash`];
//!   CM_SET_KEY programs the NMK; VS_PL_LINK_STATUS says the link is down (no peer).
//! - VS_RS_DEV restarts it: from flash, it runs the firmware if the flash holds firmware and
//!   PIB, else the bootloader; an uncommitted session is lost.
//!
//! Every frame it received is kept, so a test can compare the sequence a flasher sent with
//! another flasher's. [`ModuleEmulator::power_off_after`] makes it fall silent after a number of
//! frames, as a module that lost power mid-flash; [`ModuleEmulator::power_cycle`] brings it
//! back with only its flash.

use std::collections::BTreeMap;

use homeplug::vs_module_operation::{self as modop, ModuleId, ModuleStatus, Operation, Outcome};
use homeplug::vs_write_execute_applet::{self as applet, FLAG_EXECUTE};
use homeplug::{MacAddr, Message, Nmk, Repr, cm_set_key, vs_pl_link_status, vs_rs_dev, vs_sw_ver};

/// MSTATUS of a VS_WRITE_AND_EXECUTE_APPLET.CNF refusing a part (the emulator's own code: the
/// real value is not documented; any non-zero status is a refusal).
pub const STATUS_REFUSED: u32 = 1;

/// A module the emulator started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// Its load address.
    pub address: u32,
    /// Its entry point.
    pub entry: u32,
    /// Its bytes as received.
    pub image: Vec<u8>,
}

/// The emulated module.
#[derive(Debug, Clone)]
pub struct ModuleEmulator {
    mac: MacAddr,
    firmware_version: String,
    /// Bytes written, by address.
    memory: BTreeMap<u32, u8>,
    /// Modules started, in order.
    pub started: Vec<Started>,
    /// Every frame received, parsed.
    pub received: Vec<Repr>,
    running_firmware: bool,
    /// The PIB file loaded by the bootloader (parts with no memory type), by offset.
    loaded_pib: BTreeMap<u32, u8>,
    /// The PIB file the firmware runs with.
    running_pib: Option<Vec<u8>>,
    /// Committed modules, whole files by module.
    pub flash: BTreeMap<ModuleId, Vec<u8>>,
    session: Option<Session>,
    /// The NMK last set by CM_SET_KEY.
    pub nmk: Option<Nmk>,
    /// Frames still answered before the module falls silent (`None`: never).
    power_left: Option<usize>,
}

/// An open write session.
#[derive(Debug, Clone)]
struct Session {
    id: u32,
    specs: Vec<modop::ModuleSpec>,
    data: Vec<Vec<u8>>,
}

impl ModuleEmulator {
    /// A blank module in bootloader mode with this MAC; `firmware_version` is what VS_SW_VER
    /// reports once the firmware runs (see [`Self::set_running`]).
    pub fn new(mac: MacAddr, firmware_version: &str) -> Self {
        Self {
            mac,
            firmware_version: firmware_version.to_owned(),
            memory: BTreeMap::new(),
            started: Vec::new(),
            received: Vec::new(),
            running_firmware: false,
            loaded_pib: BTreeMap::new(),
            running_pib: None,
            flash: BTreeMap::new(),
            session: None,
            nmk: None,
            power_left: None,
        }
    }

    /// Answers `frames` more frames, then nothing (a module that lost power).
    pub fn power_off_after(&mut self, frames: usize) {
        self.power_left = Some(frames);
    }

    /// Power back: memory and any open session are gone, the flash stays; the module starts
    /// from flash (see [`Self::restart`]).
    pub fn power_cycle(&mut self) {
        self.power_left = None;
        self.restart();
    }

    /// Starts from flash: the firmware if the flash holds firmware and PIB, else the bootloader.
    pub fn restart(&mut self) {
        self.memory.clear();
        self.loaded_pib.clear();
        self.session = None;
        let pib = self.flash.get(&ModuleId::PARAMETERS).cloned();
        self.running_firmware = pib.is_some() && self.flash.contains_key(&ModuleId::FIRMWARE);
        self.running_pib = if self.running_firmware { pib } else { None };
    }

    /// Marks the firmware as running (what starting the firmware module does on a real modem;
    /// the emulator cannot tell a firmware image from an applet by its bytes).
    pub fn set_running(&mut self, running: bool) {
        self.running_firmware = running;
    }

    /// True while in the bootloader.
    pub fn in_bootloader(&self) -> bool {
        !self.running_firmware
    }

    /// The PIB file the firmware runs with, if it runs.
    pub fn running_pib(&self) -> Option<&[u8]> {
        self.running_pib.as_deref()
    }

    /// Handles one frame from the host; returns the frames the module sends back.
    pub fn handle(&mut self, frame: &[u8]) -> Vec<Vec<u8>> {
        let Ok(repr) = Repr::parse_bytes(frame) else {
            return Vec::new();
        };
        if repr.dst != self.mac && repr.dst != MacAddr::QCA_LOCAL && !repr.dst.is_broadcast() {
            return Vec::new();
        }
        match &mut self.power_left {
            Some(0) => return Vec::new(),
            Some(n) => *n -= 1,
            None => {}
        }
        self.received.push(repr.clone());
        let answer = match &repr.message {
            Message::SwVerReq(_) => Some(Message::SwVerCnf(vs_sw_ver::CnfRepr {
                status: 0,
                device_id: 0x20,
                version: if self.running_firmware {
                    self.firmware_version.clone().into_bytes()
                } else {
                    b"BootLoader".to_vec()
                },
            })),
            Message::RsDevReq(_) => {
                self.restart();
                Some(Message::RsDevCnf(vs_rs_dev::CnfRepr { status: 0 }))
            }
            Message::WriteExecuteAppletReq(req) if !self.running_firmware => {
                Some(Message::WriteExecuteAppletCnf(self.write_part(req)))
            }
            Message::ModuleOperationReq(req) if self.running_firmware => Some(
                Message::ModuleOperationCnf(self.module_operation(&req.operation)),
            ),
            Message::SetKeyReq(req) if self.running_firmware => {
                self.nmk = Some(req.new_key);
                Some(Message::SetKeyCnf(cm_set_key::CnfRepr {
                    result: 0,
                    my_nonce: req.your_nonce,
                    your_nonce: req.my_nonce,
                    pid: req.pid,
                    prn: req.prn,
                    pmn: req.pmn,
                    cco_capability: req.cco_capability,
                }))
            }
            Message::LinkStatusReq(_) if self.running_firmware => {
                Some(Message::LinkStatusCnf(vs_pl_link_status::CnfRepr {
                    status: 0,
                    link_status: 0,
                }))
            }
            _ => None,
        };
        answer
            .map(|message| vec![Repr::new(repr.src, self.mac, message).to_bytes()])
            .unwrap_or_default()
    }

    fn module_operation(&mut self, op: &Operation) -> modop::CnfRepr {
        let (status, outcome) = match op {
            Operation::Read {
                source,
                module,
                length,
                offset,
            } => {
                let file = if *source == modop::OP_READ_FLASH {
                    self.flash.get(module).cloned()
                } else if *module == ModuleId::PARAMETERS {
                    self.running_pib.clone()
                } else {
                    self.flash.get(module).cloned()
                };
                let data = file.as_deref().map(|f| {
                    let start = (*offset as usize).min(f.len());
                    let end = (start + usize::from(*length).min(modop::MAX_PART)).min(f.len());
                    f[start..end].to_vec()
                });
                (
                    u16::from(data.is_none()),
                    Outcome::Read {
                        source: *source,
                        module: *module,
                        offset: *offset,
                        data: data.unwrap_or_default(),
                    },
                )
            }
            Operation::StartSession { session, modules } => {
                self.session = Some(Session {
                    id: *session,
                    specs: modules.clone(),
                    data: vec![Vec::new(); modules.len()],
                });
                (
                    0,
                    Outcome::StartSession {
                        session: *session,
                        modules: vec![ModuleStatus::default(); modules.len()],
                    },
                )
            }
            Operation::Write {
                session,
                index,
                module,
                offset,
                data,
            } => {
                let ok = self.session.as_mut().is_some_and(|s| {
                    let i = usize::from(*index);
                    let fits = s.id == *session
                        && s.specs.get(i).is_some_and(|spec| spec.module == *module)
                        && *offset as usize + data.len() <= s.specs[i].length as usize;
                    if fits {
                        let buf = &mut s.data[i];
                        let end = *offset as usize + data.len();
                        if buf.len() < end {
                            buf.resize(end, 0);
                        }
                        buf[*offset as usize..end].copy_from_slice(data);
                    }
                    fits
                });
                (
                    u16::from(!ok),
                    Outcome::Write {
                        session: *session,
                        index: *index,
                        module: *module,
                        length: u16::try_from(data.len()).unwrap_or(u16::MAX),
                        offset: *offset,
                    },
                )
            }
            Operation::Commit { session, code } => {
                let statuses: Vec<ModuleStatus> = match self.session.take() {
                    Some(s) if s.id == *session => {
                        let good: Vec<bool> = s
                            .specs
                            .iter()
                            .zip(&s.data)
                            .map(|(spec, data)| {
                                data.len() == spec.length as usize
                                    && checksum32(data) == spec.checksum
                            })
                            .collect();
                        if good.iter().all(|g| *g) {
                            for (spec, data) in s.specs.iter().zip(s.data) {
                                self.flash.insert(spec.module, data);
                            }
                        }
                        good.iter()
                            .map(|g| ModuleStatus {
                                status: u16::from(!g),
                                error: 0,
                            })
                            .collect()
                    }
                    _ => vec![ModuleStatus {
                        status: 1,
                        error: 0,
                    }],
                };
                (
                    u16::from(statuses.iter().any(|s| s.status != 0)),
                    Outcome::Commit {
                        session: *session,
                        code: *code,
                        modules: statuses,
                    },
                )
            }
            Operation::Other { op, body } => (
                1,
                Outcome::Other {
                    op: *op,
                    body: body.clone(),
                },
            ),
        };
        modop::CnfRepr {
            status,
            error: 0,
            outcome,
        }
    }

    fn write_part(&mut self, req: &applet::ReqRepr) -> applet::CnfRepr {
        let mut cnf = applet::CnfRepr::accept(req);
        let target = if req.mem_types[0] == 0 && req.flags & FLAG_EXECUTE == 0 {
            &mut self.loaded_pib
        } else {
            &mut self.memory
        };
        for (i, byte) in req.image.iter().enumerate() {
            target.insert(req.part_offset.wrapping_add(i as u32), *byte);
        }
        if req.flags & FLAG_EXECUTE != 0 {
            // The module ends with this part; it starts at end - total_length.
            let end = req.part_offset.wrapping_add(req.image.len() as u32);
            let address = end.wrapping_sub(req.total_length);
            let image: Option<Vec<u8>> = (0..req.total_length)
                .map(|i| self.memory.get(&address.wrapping_add(i)).copied())
                .collect();
            match image {
                Some(image) if checksum32(&image) == req.checksum => {
                    self.started.push(Started {
                        address,
                        entry: req.start_address,
                        image,
                    });
                    if !self.loaded_pib.is_empty() {
                        self.running_firmware = true;
                        self.running_pib = Some(self.loaded_pib.values().copied().collect());
                    }
                }
                _ => cnf.status = STATUS_REFUSED,
            }
        }
        cnf
    }
}

/// The NVM image checksum (one's complement of the XOR of the little-endian words), written here
/// again so that the emulator does not trust the code it tests.
fn checksum32(bytes: &[u8]) -> u32 {
    !bytes.chunks_exact(4).fold(0, |acc, w| {
        acc ^ u32::from_le_bytes([w[0], w[1], w[2], w[3]])
    })
}

/// The emulator answering on a network interface (a raw socket, see [`serve`]); stops when
/// dropped.
#[derive(Debug)]
pub struct Served {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs `emulator` on `iface` (an AF_PACKET socket for ethertype 0x88E1, e.g. one end of a veth
/// pair whose other end the flasher uses) in a thread of its own, until the returned handle is
/// dropped. Frames go to it in arrival order; its answers go out at once.
pub fn serve(
    iface: &str,
    emulator: std::sync::Arc<std::sync::Mutex<ModuleEmulator>>,
) -> Result<Served, plc::Error> {
    use plc::Link;

    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let (opened, open_result) = std::sync::mpsc::channel();
    let iface = iface.to_owned();
    let thread = std::thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                let _ = opened.send(Err(plc::Error::Io {
                    iface,
                    op: "start a runtime",
                    source: e,
                }));
                return;
            }
        };
        runtime.block_on(async move {
            let link = match plc::RawLink::open(&iface) {
                Ok(link) => {
                    let _ = opened.send(Ok(()));
                    link
                }
                Err(e) => {
                    let _ = opened.send(Err(e));
                    return;
                }
            };
            let mut buf = [0u8; 1522];
            loop {
                tokio::select! {
                    _ = &mut stopped => return,
                    received = link.recv(&mut buf) => {
                        let Ok(n) = received else { return };
                        let answers = match emulator.lock() {
                            Ok(mut emulator) => emulator.handle(&buf[..n]),
                            Err(_) => return,
                        };
                        for answer in answers {
                            if link.send(&answer).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        });
    });
    match open_result.recv() {
        Ok(Ok(())) => Ok(Served {
            stop: Some(stop),
            thread: Some(thread),
        }),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => {
            let _ = thread.join();
            Err(plc::Error::Io {
                iface: String::new(),
                op: "start the emulator thread",
                source: std::io::Error::other("the emulator thread ended"),
            })
        }
    }
}
