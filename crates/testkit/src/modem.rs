//! A QCA7000/7005 module emulator for flasher tests, sans-IO: frames in, answer frames out, as a
//! modem on the host interface would give them. It models the bootloader path: it answers
//! VS_SW_VER with "BootLoader" until a firmware module has been started, takes module parts by
//! VS_WRITE_AND_EXECUTE_APPLET into its memory, and on a part that asks to execute checks the
//! module's image checksum over the bytes it received before "starting" it; VS_RS_DEV returns it
//! to the bootloader. Every frame it received is kept, so a test can compare the sequence a
//! flasher sent with another flasher's.

use std::collections::BTreeMap;

use homeplug::vs_write_execute_applet::{self as applet, FLAG_EXECUTE};
use homeplug::{MacAddr, Message, Repr, vs_rs_dev, vs_sw_ver};

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
        }
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

    /// Handles one frame from the host; returns the frames the module sends back.
    pub fn handle(&mut self, frame: &[u8]) -> Vec<Vec<u8>> {
        let Ok(repr) = Repr::parse_bytes(frame) else {
            return Vec::new();
        };
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
                self.running_firmware = false;
                Some(Message::RsDevCnf(vs_rs_dev::CnfRepr { status: 0 }))
            }
            Message::WriteExecuteAppletReq(req) if !self.running_firmware => {
                Some(Message::WriteExecuteAppletCnf(self.write_part(req)))
            }
            _ => None,
        };
        answer
            .map(|message| vec![Repr::new(repr.src, self.mac, message).to_bytes()])
            .unwrap_or_default()
    }

    fn write_part(&mut self, req: &applet::ReqRepr) -> applet::CnfRepr {
        let mut cnf = applet::CnfRepr::accept(req);
        for (i, byte) in req.image.iter().enumerate() {
            self.memory
                .insert(req.part_offset.wrapping_add(i as u32), *byte);
        }
        if req.flags & FLAG_EXECUTE != 0 {
            // The module ends with this part; it starts at end - total_length.
            let end = req.part_offset.wrapping_add(req.image.len() as u32);
            let address = end.wrapping_sub(req.total_length);
            let image: Option<Vec<u8>> = (0..req.total_length)
                .map(|i| self.memory.get(&address.wrapping_add(i)).copied())
                .collect();
            match image {
                Some(image) if checksum32(&image) == req.checksum => self.started.push(Started {
                    address,
                    entry: req.start_address,
                    image,
                }),
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
