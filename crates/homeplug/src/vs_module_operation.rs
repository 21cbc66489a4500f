//! VS_MODULE_OPERATION.REQ (0xA0B0) and .CNF (0xA0B1), Qualcomm Atheros vendor-specific: how a
//! host reads and writes the modules (firmware, PIB, softloader) of a QCA7000/7005 whose firmware
//! runs. Reads go by module ID and offset, from memory (what runs) or flash; writes go in a
//! session: start it with the modules' lengths and checksums, write each module in parts, then
//! close it with a commit code, upon which the firmware checks every module and burns the flash.
//!
//! Layout as Qualcomm's open-plc-utils (`ModuleSession`, `ModuleWrite`, `ModuleCommit`,
//! `ModuleRead`) sends and reads it; all integers little-endian. After the OUI a request holds a
//! reserved word, NUM_OP_DATA (always 1), then one operation: MOD_OP, MOD_OP_DATA_LEN (the
//! operation's bytes from MOD_OP on), a reserved word and the operation's body. A confirmation
//! puts MSTATUS and ERR_REC_CODE before the same structure. `plcboot` pads write requests to a
//! 1400-byte data field and session requests to ten module specs; this crate emits what is used
//! and reads a padded one.

use crate::QUALCOMM_OUI;
use crate::WireField;
use crate::error::need;
use crate::view::view;

/// MOD_OP: read a module from memory (what runs).
pub const OP_READ_MEMORY: u16 = 0x00;
/// MOD_OP: read a module from flash.
pub const OP_READ_FLASH: u16 = 0x01;
/// MOD_OP: start a write session.
pub const OP_START_SESSION: u16 = 0x10;
/// MOD_OP: write a part of a module.
pub const OP_WRITE_MODULE: u16 = 0x11;
/// MOD_OP: close the session, committing what was written.
pub const OP_CLOSE_SESSION: u16 = 0x12;

/// MODULE_ID of the firmware (the whole firmware NVM file).
pub const MODULE_FIRMWARE: u16 = 0x7001;
/// MODULE_ID of the parameters (the PIB file).
pub const MODULE_PARAMETERS: u16 = 0x7002;
/// MODULE_ID of the softloader.
pub const MODULE_SOFTLOADER: u16 = 0x7003;

/// COMMIT_CODE bit: write even if the module's version is not newer.
pub const COMMIT_FORCE: u32 = 1 << 0;
/// COMMIT_CODE bit: do not reset after the commit.
pub const COMMIT_NORESET: u32 = 1 << 1;
/// COMMIT_CODE bit: the PIB becomes the factory PIB too.
pub const COMMIT_FACTORY_PIB: u32 = 1 << 31;

/// The largest part `plcboot` writes or reads in one message.
pub const MAX_PART: usize = 1400;

/// Field ranges within the MME payload.
pub mod field {
    use core::ops::{Range, RangeFrom};

    /// OUI (00:B0:52).
    pub const OUI: Range<usize> = 0..3;
    /// REQ: reserved.
    pub const REQ_RESERVED: Range<usize> = 3..7;
    /// REQ: NUM_OP_DATA (1).
    pub const REQ_NUM_OP_DATA: Range<usize> = 7..8;
    /// REQ: MOD_OP.
    pub const REQ_MOD_OP: Range<usize> = 8..10;
    /// REQ: MOD_OP_DATA_LEN, the operation's bytes from MOD_OP on.
    pub const REQ_MOD_OP_DATA_LEN: Range<usize> = 10..12;
    /// REQ: MOD_OP_RSVD.
    pub const REQ_MOD_OP_RSVD: Range<usize> = 12..16;
    /// REQ: the operation's body.
    pub const REQ_BODY: RangeFrom<usize> = 16..;

    /// CNF: MSTATUS (0 success).
    pub const CNF_STATUS: Range<usize> = 3..5;
    /// CNF: ERR_REC_CODE.
    pub const CNF_ERROR: Range<usize> = 5..7;
    /// CNF: reserved.
    pub const CNF_RESERVED: Range<usize> = 7..11;
    /// CNF: NUM_OP_DATA.
    pub const CNF_NUM_OP_DATA: Range<usize> = 11..12;
    /// CNF: MOD_OP.
    pub const CNF_MOD_OP: Range<usize> = 12..14;
    /// CNF: MOD_OP_DATA_LEN.
    pub const CNF_MOD_OP_DATA_LEN: Range<usize> = 14..16;
    /// CNF: MOD_OP_RSVD.
    pub const CNF_MOD_OP_RSVD: Range<usize> = 16..20;
    /// CNF: the operation's body.
    pub const CNF_BODY: RangeFrom<usize> = 20..;

    /// MOD_OP, MOD_OP_DATA_LEN and MOD_OP_RSVD: what MOD_OP_DATA_LEN counts before the body.
    pub const OP_HEADER_LEN: usize = 8;
}

view! {
    /// A view of a VS_MODULE_OPERATION.REQ payload (the common part; the body follows).
    pub struct Req, min_len = field::REQ_BODY.start;
    /// OUI.
    oui / set_oui: [u8; 3] = field::OUI;
    /// Reserved.
    reserved / set_reserved: u32 = field::REQ_RESERVED;
    /// NUM_OP_DATA.
    num_op_data / set_num_op_data: u8 = field::REQ_NUM_OP_DATA;
    /// MOD_OP.
    mod_op / set_mod_op: u16 = field::REQ_MOD_OP;
    /// MOD_OP_DATA_LEN.
    mod_op_data_len / set_mod_op_data_len: u16 = field::REQ_MOD_OP_DATA_LEN;
    /// MOD_OP_RSVD.
    mod_op_rsvd / set_mod_op_rsvd: u32 = field::REQ_MOD_OP_RSVD;
}

impl<T: AsRef<[u8]>> Req<T> {
    /// The operation's body as far as the buffer goes (padding included). Needs `check_len`.
    pub fn body(&self) -> &[u8] {
        &self.buffer.as_ref()[field::REQ_BODY]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Req<T> {
    /// The body, writable. Needs `check_len`.
    pub fn body_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::REQ_BODY]
    }
}

view! {
    /// A view of a VS_MODULE_OPERATION.CNF payload (the common part; the body follows).
    pub struct Cnf, min_len = field::CNF_BODY.start;
    /// OUI.
    oui / set_oui: [u8; 3] = field::OUI;
    /// MSTATUS.
    status / set_status: u16 = field::CNF_STATUS;
    /// ERR_REC_CODE.
    error / set_error: u16 = field::CNF_ERROR;
    /// Reserved.
    reserved / set_reserved: u32 = field::CNF_RESERVED;
    /// NUM_OP_DATA.
    num_op_data / set_num_op_data: u8 = field::CNF_NUM_OP_DATA;
    /// MOD_OP.
    mod_op / set_mod_op: u16 = field::CNF_MOD_OP;
    /// MOD_OP_DATA_LEN.
    mod_op_data_len / set_mod_op_data_len: u16 = field::CNF_MOD_OP_DATA_LEN;
    /// MOD_OP_RSVD.
    mod_op_rsvd / set_mod_op_rsvd: u32 = field::CNF_MOD_OP_RSVD;
}

impl<T: AsRef<[u8]>> Cnf<T> {
    /// The operation's body as far as the buffer goes (padding included). Needs `check_len`.
    pub fn body(&self) -> &[u8] {
        &self.buffer.as_ref()[field::CNF_BODY]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Cnf<T> {
    /// The body, writable. Needs `check_len`.
    pub fn body_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::CNF_BODY]
    }
}

/// A module as the firmware names it: MODULE_ID and MODULE_SUB_ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModuleId {
    /// MODULE_ID ([`MODULE_FIRMWARE`], [`MODULE_PARAMETERS`], [`MODULE_SOFTLOADER`], ...).
    pub id: u16,
    /// MODULE_SUB_ID (0 for those three).
    pub sub_id: u16,
}

impl ModuleId {
    /// The firmware.
    pub const FIRMWARE: Self = Self::new(MODULE_FIRMWARE);
    /// The PIB.
    pub const PARAMETERS: Self = Self::new(MODULE_PARAMETERS);
    /// The softloader.
    pub const SOFTLOADER: Self = Self::new(MODULE_SOFTLOADER);

    /// A module with sub-ID 0.
    pub const fn new(id: u16) -> Self {
        Self { id, sub_id: 0 }
    }
}

/// One module of a session: what the host will write, announced at its start (12 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModuleSpec {
    /// The module.
    pub module: ModuleId,
    /// MODULE_LENGTH, the whole file's length.
    pub length: u32,
    /// MODULE_CHKSUM, the whole file's NVM checksum.
    pub checksum: u32,
}

/// A module's outcome in a session's confirmation (MOD_STATUS, ERR_REC_CODE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ModuleStatus {
    /// MOD_STATUS, 0 success.
    pub status: u16,
    /// ERR_REC_CODE.
    pub error: u16,
}

/// The operation of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// Read up to `length` bytes of a module at `offset` ([`OP_READ_MEMORY`] or
    /// [`OP_READ_FLASH`] in `source`).
    Read {
        /// MOD_OP: memory or flash.
        source: u16,
        /// The module.
        module: ModuleId,
        /// MODULE_LENGTH: bytes wanted (at most [`MAX_PART`]).
        length: u16,
        /// MODULE_OFFSET.
        offset: u32,
    },
    /// Start a write session of these modules.
    StartSession {
        /// MOD_OP_SESSION_ID, the host's cookie.
        session: u32,
        /// The modules to be written.
        modules: Vec<ModuleSpec>,
    },
    /// Write one part of the session's module number `index`.
    Write {
        /// MOD_OP_SESSION_ID.
        session: u32,
        /// MODULE_IDX, the module's place in the session.
        index: u8,
        /// The module.
        module: ModuleId,
        /// MODULE_OFFSET within the module.
        offset: u32,
        /// The part (its length is MODULE_LENGTH).
        data: Vec<u8>,
    },
    /// Close the session and commit.
    Commit {
        /// MOD_OP_SESSION_ID.
        session: u32,
        /// COMMIT_CODE ([`COMMIT_FORCE`], [`COMMIT_NORESET`], [`COMMIT_FACTORY_PIB`]).
        code: u32,
    },
    /// Another MOD_OP, its body kept as MOD_OP_DATA_LEN gives it.
    Other {
        /// MOD_OP.
        op: u16,
        /// The body.
        body: Vec<u8>,
    },
}

/// The operation of a confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// What was read.
    Read {
        /// MOD_OP: memory or flash.
        source: u16,
        /// The module.
        module: ModuleId,
        /// MODULE_OFFSET of the data.
        offset: u32,
        /// The data (MODULE_LENGTH bytes; fewer than asked at the module's end).
        data: Vec<u8>,
    },
    /// The session started (or not: see the status).
    StartSession {
        /// MOD_OP_SESSION_ID.
        session: u32,
        /// One status per module.
        modules: Vec<ModuleStatus>,
    },
    /// A part was written.
    Write {
        /// MOD_OP_SESSION_ID.
        session: u32,
        /// MODULE_IDX.
        index: u8,
        /// The module.
        module: ModuleId,
        /// MODULE_LENGTH written.
        length: u16,
        /// MODULE_OFFSET written.
        offset: u32,
    },
    /// The session closed.
    Commit {
        /// MOD_OP_SESSION_ID.
        session: u32,
        /// COMMIT_CODE as requested.
        code: u32,
        /// One status per module.
        modules: Vec<ModuleStatus>,
    },
    /// Another MOD_OP.
    Other {
        /// MOD_OP.
        op: u16,
        /// The body.
        body: Vec<u8>,
    },
}

/// Reads fields one after another from a body, checking lengths.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    fn take(&mut self, n: usize) -> crate::Result<&'a [u8]> {
        let end = self.pos.saturating_add(n);
        need(self.bytes.len(), end)?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn read<F: WireField>(&mut self) -> crate::Result<F> {
        Ok(F::read(self.take(F::LEN)?))
    }

    fn module(&mut self) -> crate::Result<ModuleId> {
        Ok(ModuleId {
            id: self.read()?,
            sub_id: self.read()?,
        })
    }

    fn statuses(&mut self, count: u8) -> crate::Result<Vec<ModuleStatus>> {
        (0..count)
            .map(|_| {
                Ok(ModuleStatus {
                    status: self.read()?,
                    error: self.read()?,
                })
            })
            .collect()
    }
}

/// Writes fields one after another into a body of the right length.
struct Writer<'a> {
    bytes: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    fn new(bytes: &'a mut [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    fn put(&mut self, value: &[u8]) {
        self.bytes[self.pos..self.pos + value.len()].copy_from_slice(value);
        self.pos += value.len();
    }

    fn write<F: WireField>(&mut self, value: F) {
        value.write(&mut self.bytes[self.pos..self.pos + F::LEN]);
        self.pos += F::LEN;
    }

    fn module(&mut self, m: ModuleId) {
        self.write(m.id);
        self.write(m.sub_id);
    }

    fn statuses(&mut self, statuses: &[ModuleStatus]) {
        for s in statuses {
            self.write(s.status);
            self.write(s.error);
        }
    }
}

fn count(n: usize) -> u8 {
    u8::try_from(n).unwrap_or(u8::MAX)
}

/// Reserved bytes after a commit request's code, as `ModuleCommit` sends them.
const COMMIT_RESERVED: usize = 20;

impl Operation {
    fn op(&self) -> u16 {
        match self {
            Self::Read { source, .. } => *source,
            Self::StartSession { .. } => OP_START_SESSION,
            Self::Write { .. } => OP_WRITE_MODULE,
            Self::Commit { .. } => OP_CLOSE_SESSION,
            Self::Other { op, .. } => *op,
        }
    }

    fn body_len(&self) -> usize {
        match self {
            Self::Read { .. } => 10,
            Self::StartSession { modules, .. } => 5 + 12 * modules.len().min(255),
            Self::Write { data, .. } => 15 + data.len(),
            Self::Commit { .. } => 8 + COMMIT_RESERVED,
            Self::Other { body, .. } => body.len(),
        }
    }

    fn parse_body(op: u16, body: &[u8]) -> crate::Result<Self> {
        let mut r = Reader::new(body);
        Ok(match op {
            OP_READ_MEMORY | OP_READ_FLASH => Self::Read {
                source: op,
                module: r.module()?,
                length: r.read()?,
                offset: r.read()?,
            },
            OP_START_SESSION => {
                let session = r.read()?;
                let n: u8 = r.read()?;
                let modules = (0..n)
                    .map(|_| {
                        Ok(ModuleSpec {
                            module: r.module()?,
                            length: r.read()?,
                            checksum: r.read()?,
                        })
                    })
                    .collect::<crate::Result<_>>()?;
                Self::StartSession { session, modules }
            }
            OP_WRITE_MODULE => {
                let session = r.read()?;
                let index = r.read()?;
                let module = r.module()?;
                let length: u16 = r.read()?;
                let offset = r.read()?;
                let data = r.take(usize::from(length))?.to_vec();
                Self::Write {
                    session,
                    index,
                    module,
                    offset,
                    data,
                }
            }
            OP_CLOSE_SESSION => Self::Commit {
                session: r.read()?,
                code: r.read()?,
            },
            op => Self::Other {
                op,
                body: body.to_vec(),
            },
        })
    }

    fn emit_body(&self, body: &mut [u8]) {
        let mut w = Writer::new(body);
        match self {
            Self::Read {
                module,
                length,
                offset,
                ..
            } => {
                w.module(*module);
                w.write(*length);
                w.write(*offset);
            }
            Self::StartSession { session, modules } => {
                w.write(*session);
                w.write(count(modules.len()));
                for m in modules.iter().take(255) {
                    w.module(m.module);
                    w.write(m.length);
                    w.write(m.checksum);
                }
            }
            Self::Write {
                session,
                index,
                module,
                offset,
                data,
            } => {
                w.write(*session);
                w.write(*index);
                w.module(*module);
                w.write(u16::try_from(data.len()).unwrap_or(u16::MAX));
                w.write(*offset);
                w.put(data);
            }
            Self::Commit { session, code } => {
                w.write(*session);
                w.write(*code);
                w.put(&[0; COMMIT_RESERVED]);
            }
            Self::Other { body, .. } => w.put(body),
        }
    }
}

impl Outcome {
    fn op(&self) -> u16 {
        match self {
            Self::Read { source, .. } => *source,
            Self::StartSession { .. } => OP_START_SESSION,
            Self::Write { .. } => OP_WRITE_MODULE,
            Self::Commit { .. } => OP_CLOSE_SESSION,
            Self::Other { op, .. } => *op,
        }
    }

    fn body_len(&self) -> usize {
        match self {
            Self::Read { data, .. } => 10 + data.len(),
            Self::StartSession { modules, .. } => 5 + 4 * modules.len().min(255),
            Self::Write { .. } => 15,
            Self::Commit { modules, .. } => 9 + 4 * modules.len().min(255),
            Self::Other { body, .. } => body.len(),
        }
    }

    fn parse_body(op: u16, body: &[u8]) -> crate::Result<Self> {
        let mut r = Reader::new(body);
        Ok(match op {
            OP_READ_MEMORY | OP_READ_FLASH => {
                let module = r.module()?;
                let length: u16 = r.read()?;
                let offset = r.read()?;
                let data = r.take(usize::from(length))?.to_vec();
                Self::Read {
                    source: op,
                    module,
                    offset,
                    data,
                }
            }
            OP_START_SESSION => {
                let session = r.read()?;
                let n = r.read()?;
                Self::StartSession {
                    session,
                    modules: r.statuses(n)?,
                }
            }
            OP_WRITE_MODULE => Self::Write {
                session: r.read()?,
                index: r.read()?,
                module: r.module()?,
                length: r.read()?,
                offset: r.read()?,
            },
            OP_CLOSE_SESSION => {
                let session = r.read()?;
                let code = r.read()?;
                let n = r.read()?;
                Self::Commit {
                    session,
                    code,
                    modules: r.statuses(n)?,
                }
            }
            op => Self::Other {
                op,
                body: body.to_vec(),
            },
        })
    }

    fn emit_body(&self, body: &mut [u8]) {
        let mut w = Writer::new(body);
        match self {
            Self::Read {
                module,
                offset,
                data,
                ..
            } => {
                w.module(*module);
                w.write(u16::try_from(data.len()).unwrap_or(u16::MAX));
                w.write(*offset);
                w.put(data);
            }
            Self::StartSession { session, modules } => {
                w.write(*session);
                w.write(count(modules.len()));
                w.statuses(&modules[..modules.len().min(255)]);
            }
            Self::Write {
                session,
                index,
                module,
                length,
                offset,
            } => {
                w.write(*session);
                w.write(*index);
                w.module(*module);
                w.write(*length);
                w.write(*offset);
            }
            Self::Commit {
                session,
                code,
                modules,
            } => {
                w.write(*session);
                w.write(*code);
                w.write(count(modules.len()));
                w.statuses(&modules[..modules.len().min(255)]);
            }
            Self::Other { body, .. } => w.put(body),
        }
    }
}

/// The body as MOD_OP_DATA_LEN bounds it: a known operation reads what it needs from the whole
/// remainder (senders pad), an unknown one keeps exactly what the length says.
fn op_body(body: &[u8], data_len: u16, known: bool) -> crate::Result<&[u8]> {
    if known {
        return Ok(body);
    }
    let len = usize::from(data_len).saturating_sub(field::OP_HEADER_LEN);
    need(body.len(), len)?;
    Ok(&body[..len])
}

fn known(op: u16) -> bool {
    matches!(
        op,
        OP_READ_MEMORY | OP_READ_FLASH | OP_START_SESSION | OP_WRITE_MODULE | OP_CLOSE_SESSION
    )
}

fn data_len(body_len: usize) -> u16 {
    u16::try_from(body_len + field::OP_HEADER_LEN).unwrap_or(u16::MAX)
}

/// VS_MODULE_OPERATION.REQ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReqRepr {
    /// The operation.
    pub operation: Operation,
}

impl ReqRepr {
    /// Reads a checked view.
    pub fn parse<T: AsRef<[u8]>>(p: &Req<T>) -> crate::Result<Self> {
        p.check_len()?;
        let op = p.mod_op();
        let body = op_body(p.body(), p.mod_op_data_len(), known(op))?;
        Ok(Self {
            operation: Operation::parse_body(op, body)?,
        })
    }

    /// Payload bytes [`Self::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        field::REQ_BODY.start + self.operation.body_len()
    }

    /// Writes into a view of at least [`Self::buffer_len`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Req<T>) {
        p.set_oui(QUALCOMM_OUI);
        p.set_reserved(0);
        p.set_num_op_data(1);
        p.set_mod_op(self.operation.op());
        p.set_mod_op_data_len(data_len(self.operation.body_len()));
        p.set_mod_op_rsvd(0);
        let len = self.operation.body_len();
        self.operation.emit_body(&mut p.body_mut()[..len]);
    }
}

/// VS_MODULE_OPERATION.CNF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CnfRepr {
    /// MSTATUS, 0 success.
    pub status: u16,
    /// ERR_REC_CODE.
    pub error: u16,
    /// What was done.
    pub outcome: Outcome,
}

impl CnfRepr {
    /// Reads a checked view.
    pub fn parse<T: AsRef<[u8]>>(p: &Cnf<T>) -> crate::Result<Self> {
        p.check_len()?;
        let op = p.mod_op();
        let body = op_body(p.body(), p.mod_op_data_len(), known(op))?;
        Ok(Self {
            status: p.status(),
            error: p.error(),
            outcome: Outcome::parse_body(op, body)?,
        })
    }

    /// Payload bytes [`Self::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        field::CNF_BODY.start + self.outcome.body_len()
    }

    /// Writes into a view of at least [`Self::buffer_len`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Cnf<T>) {
        p.set_oui(QUALCOMM_OUI);
        p.set_status(self.status);
        p.set_error(self.error);
        p.set_reserved(0);
        p.set_num_op_data(1);
        p.set_mod_op(self.outcome.op());
        p.set_mod_op_data_len(data_len(self.outcome.body_len()));
        p.set_mod_op_rsvd(0);
        let len = self.outcome.body_len();
        self.outcome.emit_body(&mut p.body_mut()[..len]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip_req(op: Operation) {
        let repr = ReqRepr { operation: op };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Req::new_unchecked(&mut buf[..]));
        assert_eq!(ReqRepr::parse(&Req::new_unchecked(&buf[..])), Ok(repr));
    }

    #[test]
    fn every_operation_round_trips() {
        let m = ModuleId::PARAMETERS;
        round_trip_req(Operation::Read {
            source: OP_READ_FLASH,
            module: m,
            length: 1400,
            offset: 2800,
        });
        round_trip_req(Operation::StartSession {
            session: 7,
            modules: vec![
                ModuleSpec {
                    module: m,
                    length: 16,
                    checksum: 9,
                },
                ModuleSpec {
                    module: ModuleId::FIRMWARE,
                    length: 4000,
                    checksum: 1,
                },
            ],
        });
        round_trip_req(Operation::Write {
            session: 7,
            index: 1,
            module: m,
            offset: 1400,
            data: vec![1, 2, 3],
        });
        round_trip_req(Operation::Commit {
            session: 7,
            code: COMMIT_FORCE | COMMIT_NORESET | COMMIT_FACTORY_PIB,
        });
        round_trip_req(Operation::Other {
            op: 0x55,
            body: vec![9, 9],
        });
        for outcome in [
            Outcome::Read {
                source: OP_READ_MEMORY,
                module: m,
                offset: 0,
                data: vec![5; 100],
            },
            Outcome::StartSession {
                session: 3,
                modules: vec![ModuleStatus::default(); 2],
            },
            Outcome::Write {
                session: 3,
                index: 0,
                module: m,
                length: 1400,
                offset: 0,
            },
            Outcome::Commit {
                session: 3,
                code: 1,
                modules: vec![ModuleStatus {
                    status: 1,
                    error: 2,
                }],
            },
        ] {
            let repr = CnfRepr {
                status: 0,
                error: 0,
                outcome,
            };
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut Cnf::new_unchecked(&mut buf[..]));
            assert_eq!(CnfRepr::parse(&Cnf::new_unchecked(&buf[..])), Ok(repr));
        }
    }

    /// The write request as `ModuleWrite` lays it out: 1400 data bytes whatever the part's
    /// length, MOD_OP_DATA_LEN counting all of them.
    #[test]
    fn a_padded_write_reads_as_its_part() {
        let mut buf = vec![0u8; field::REQ_BODY.start + 15 + MAX_PART];
        buf[..3].copy_from_slice(&QUALCOMM_OUI);
        buf[7] = 1;
        buf[8..10].copy_from_slice(&OP_WRITE_MODULE.to_le_bytes());
        buf[10..12].copy_from_slice(&(23u16 + 1400).to_le_bytes());
        let body = &mut buf[16..];
        body[0..4].copy_from_slice(&0x1234_5678u32.to_le_bytes());
        body[4] = 0;
        body[5..7].copy_from_slice(&MODULE_PARAMETERS.to_le_bytes());
        body[9..11].copy_from_slice(&4u16.to_le_bytes());
        body[11..15].copy_from_slice(&1400u32.to_le_bytes());
        body[15..19].copy_from_slice(&[1, 2, 3, 4]);
        let repr = ReqRepr::parse(&Req::new_unchecked(&buf[..]));
        assert_eq!(
            repr,
            Ok(ReqRepr {
                operation: Operation::Write {
                    session: 0x1234_5678,
                    index: 0,
                    module: ModuleId::PARAMETERS,
                    offset: 1400,
                    data: vec![1, 2, 3, 4],
                }
            })
        );
    }

    #[test]
    fn short_bodies_are_errors() {
        let mut buf = [0u8; field::REQ_BODY.start + 3];
        buf[8..10].copy_from_slice(&OP_READ_FLASH.to_le_bytes());
        assert!(ReqRepr::parse(&Req::new_unchecked(&buf[..])).is_err());
        // A read confirmation claiming more data than it carries.
        let mut buf = [0u8; field::CNF_BODY.start + 10];
        buf[12..14].copy_from_slice(&OP_READ_MEMORY.to_le_bytes());
        buf[20 + 4..20 + 6].copy_from_slice(&100u16.to_le_bytes());
        assert!(CnfRepr::parse(&Cnf::new_unchecked(&buf[..])).is_err());
    }
}
