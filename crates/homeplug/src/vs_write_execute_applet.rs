//! VS_WRITE_AND_EXECUTE_APPLET.REQ (0xA098) and .CNF (0xA099), Qualcomm Atheros vendor-specific:
//! how a host boots a QCA7000/7005 that sits in its bootloader (no or a bad flash). The host writes
//! each NVM module's image into the modem's memory in parts, at the module's load address, and
//! the last part of an executable module starts it at its entry point: first the memory
//! controller applet and the softloader, then the firmware and the PIB.
//!
//! Layout as Qualcomm's `plcboot` (open-plc-utils) sends and reads it; all integers
//! little-endian. `plcboot` pads every request to a 1400-byte image field; this crate emits the
//! part alone and reads a padded one.

use crate::QUALCOMM_OUI;
use crate::error::need;
use crate::view::view;

/// FLAGS bit: start the module at `start_address` once this part is written.
pub const FLAG_EXECUTE: u32 = 1 << 0;
/// FLAGS bit: `part_offset` is an absolute memory address (what `plcboot` always sets).
pub const FLAG_ABSOLUTE: u32 = 1 << 1;
/// The largest part `plcboot` sends in one request.
pub const MAX_PART: usize = 1400;

/// Field ranges within the MME payload.
pub mod field {
    use core::ops::{Range, RangeFrom};

    /// OUI (00:B0:52).
    pub const OUI: Range<usize> = 0..3;
    /// REQ: the host's session cookie, echoed in the CNF.
    pub const REQ_CLIENT_SESSION: Range<usize> = 3..7;
    /// REQ: the modem's session (0 from the host).
    pub const REQ_SERVER_SESSION: Range<usize> = 7..11;
    /// REQ: FLAGS ([`super::FLAG_EXECUTE`], [`super::FLAG_ABSOLUTE`]).
    pub const REQ_FLAGS: Range<usize> = 11..15;
    /// REQ: allowed memory types (byte 0 = 1: SDRAM).
    pub const REQ_MEM_TYPES: Range<usize> = 15..23;
    /// REQ: the whole module's length.
    pub const REQ_TOTAL_LENGTH: Range<usize> = 23..27;
    /// REQ: this part's length.
    pub const REQ_PART_LENGTH: Range<usize> = 27..31;
    /// REQ: where this part goes (absolute address with [`super::FLAG_ABSOLUTE`]).
    pub const REQ_PART_OFFSET: Range<usize> = 31..35;
    /// REQ: the module's entry point.
    pub const REQ_START_ADDRESS: Range<usize> = 35..39;
    /// REQ: the module's image checksum (from its NVM header).
    pub const REQ_CHECKSUM: Range<usize> = 39..43;
    /// REQ: reserved, 8 bytes.
    pub const REQ_RESERVED: Range<usize> = 43..51;
    /// REQ: the part's bytes.
    pub const REQ_IMAGE: RangeFrom<usize> = 51..;

    /// CNF: MSTATUS (0 success).
    pub const CNF_STATUS: Range<usize> = 3..7;
    /// CNF: the host's cookie.
    pub const CNF_CLIENT_SESSION: Range<usize> = 7..11;
    /// CNF: the modem's session.
    pub const CNF_SERVER_SESSION: Range<usize> = 11..15;
    /// CNF: FLAGS as requested.
    pub const CNF_FLAGS: Range<usize> = 15..19;
    /// CNF: allowed memory types.
    pub const CNF_MEM_TYPES: Range<usize> = 19..27;
    /// CNF: the module's length.
    pub const CNF_TOTAL_LENGTH: Range<usize> = 27..31;
    /// CNF: the part's length as written.
    pub const CNF_PART_LENGTH: Range<usize> = 31..35;
    /// CNF: the part's offset as written.
    pub const CNF_PART_OFFSET: Range<usize> = 35..39;
    /// CNF: the entry point.
    pub const CNF_START_ADDRESS: Range<usize> = 39..43;
    /// CNF: the checksum.
    pub const CNF_CHECKSUM: Range<usize> = 43..47;
    /// CNF: reserved, 8 bytes.
    pub const CNF_RESERVED: Range<usize> = 47..55;
    /// CNF: where the part landed.
    pub const CNF_PART_ABSOLUTE: Range<usize> = 55..59;
    /// CNF: the absolute entry point.
    pub const CNF_START_ABSOLUTE: Range<usize> = 59..63;
}

view! {
    /// A view of a VS_WRITE_AND_EXECUTE_APPLET.REQ payload.
    pub struct Req, min_len = field::REQ_IMAGE.start;
    /// OUI.
    oui / set_oui: [u8; 3] = field::OUI;
    /// Host session cookie.
    client_session / set_client_session: u32 = field::REQ_CLIENT_SESSION;
    /// Modem session.
    server_session / set_server_session: u32 = field::REQ_SERVER_SESSION;
    /// FLAGS.
    flags / set_flags: u32 = field::REQ_FLAGS;
    /// Allowed memory types.
    mem_types / set_mem_types: [u8; 8] = field::REQ_MEM_TYPES;
    /// Module length.
    total_length / set_total_length: u32 = field::REQ_TOTAL_LENGTH;
    /// Part length.
    part_length / set_part_length: u32 = field::REQ_PART_LENGTH;
    /// Part offset.
    part_offset / set_part_offset: u32 = field::REQ_PART_OFFSET;
    /// Entry point.
    start_address / set_start_address: u32 = field::REQ_START_ADDRESS;
    /// Module image checksum.
    checksum / set_checksum: u32 = field::REQ_CHECKSUM;
}

impl<T: AsRef<[u8]>> Req<T> {
    /// Ensures the part's `part_length` bytes are present.
    pub fn check_image_len(&self) -> crate::Result<()> {
        self.check_len()?;
        let need_len = usize::try_from(self.part_length())
            .unwrap_or(usize::MAX)
            .saturating_add(field::REQ_IMAGE.start);
        need(self.buffer.as_ref().len(), need_len)
    }

    /// The part's bytes (call [`Self::check_image_len`] first).
    pub fn image(&self) -> &[u8] {
        let start = field::REQ_IMAGE.start;
        &self.buffer.as_ref()[start..start + self.part_length() as usize]
    }
}

view! {
    /// A view of a VS_WRITE_AND_EXECUTE_APPLET.CNF payload.
    pub struct Cnf, min_len = field::CNF_START_ABSOLUTE.end;
    /// OUI.
    oui / set_oui: [u8; 3] = field::OUI;
    /// MSTATUS.
    status / set_status: u32 = field::CNF_STATUS;
    /// Host session cookie.
    client_session / set_client_session: u32 = field::CNF_CLIENT_SESSION;
    /// Modem session.
    server_session / set_server_session: u32 = field::CNF_SERVER_SESSION;
    /// FLAGS.
    flags / set_flags: u32 = field::CNF_FLAGS;
    /// Allowed memory types.
    mem_types / set_mem_types: [u8; 8] = field::CNF_MEM_TYPES;
    /// Module length.
    total_length / set_total_length: u32 = field::CNF_TOTAL_LENGTH;
    /// Part length.
    part_length / set_part_length: u32 = field::CNF_PART_LENGTH;
    /// Part offset.
    part_offset / set_part_offset: u32 = field::CNF_PART_OFFSET;
    /// Entry point.
    start_address / set_start_address: u32 = field::CNF_START_ADDRESS;
    /// Checksum.
    checksum / set_checksum: u32 = field::CNF_CHECKSUM;
    /// Where the part landed.
    part_absolute / set_part_absolute: u32 = field::CNF_PART_ABSOLUTE;
    /// Absolute entry point.
    start_absolute / set_start_absolute: u32 = field::CNF_START_ABSOLUTE;
}

/// VS_WRITE_AND_EXECUTE_APPLET.REQ: one part of a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReqRepr {
    /// Host session cookie.
    pub client_session: u32,
    /// Modem session (0).
    pub server_session: u32,
    /// FLAGS.
    pub flags: u32,
    /// Allowed memory types.
    pub mem_types: [u8; 8],
    /// The module's length.
    pub total_length: u32,
    /// Where the part goes.
    pub part_offset: u32,
    /// The module's entry point.
    pub start_address: u32,
    /// The module's image checksum.
    pub checksum: u32,
    /// The part's bytes (its length is the part length).
    pub image: Vec<u8>,
}

impl ReqRepr {
    /// Reads a checked view.
    pub fn parse<T: AsRef<[u8]>>(p: &Req<T>) -> crate::Result<Self> {
        p.check_image_len()?;
        Ok(Self {
            client_session: p.client_session(),
            server_session: p.server_session(),
            flags: p.flags(),
            mem_types: p.mem_types(),
            total_length: p.total_length(),
            part_offset: p.part_offset(),
            start_address: p.start_address(),
            checksum: p.checksum(),
            image: p.image().to_vec(),
        })
    }

    /// Payload bytes [`Self::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        field::REQ_IMAGE.start + self.image.len()
    }

    /// Writes into a view of at least [`Self::buffer_len`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Req<T>) {
        p.set_oui(QUALCOMM_OUI);
        p.set_client_session(self.client_session);
        p.set_server_session(self.server_session);
        p.set_flags(self.flags);
        p.set_mem_types(self.mem_types);
        p.set_total_length(self.total_length);
        p.set_part_length(u32::try_from(self.image.len()).unwrap_or(u32::MAX));
        p.set_part_offset(self.part_offset);
        p.set_start_address(self.start_address);
        p.set_checksum(self.checksum);
        let b = p.buffer.as_mut();
        b[field::REQ_RESERVED].fill(0);
        let start = field::REQ_IMAGE.start;
        b[start..start + self.image.len()].copy_from_slice(&self.image);
    }
}

/// VS_WRITE_AND_EXECUTE_APPLET.CNF: the modem's answer to one part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CnfRepr {
    /// MSTATUS, 0 success.
    pub status: u32,
    /// Host session cookie, echoed.
    pub client_session: u32,
    /// Modem session.
    pub server_session: u32,
    /// FLAGS, echoed.
    pub flags: u32,
    /// Allowed memory types.
    pub mem_types: [u8; 8],
    /// The module's length.
    pub total_length: u32,
    /// The part's length as written.
    pub part_length: u32,
    /// The part's offset as written.
    pub part_offset: u32,
    /// The entry point.
    pub start_address: u32,
    /// The checksum.
    pub checksum: u32,
    /// Where the part landed.
    pub part_absolute: u32,
    /// Absolute entry point.
    pub start_absolute: u32,
}

impl CnfRepr {
    /// The answer a modem gives to `req` when it wrote the part (status 0, fields echoed, the
    /// part at its absolute address).
    pub fn accept(req: &ReqRepr) -> Self {
        Self {
            status: 0,
            client_session: req.client_session,
            server_session: req.server_session,
            flags: req.flags,
            mem_types: req.mem_types,
            total_length: req.total_length,
            part_length: u32::try_from(req.image.len()).unwrap_or(u32::MAX),
            part_offset: req.part_offset,
            start_address: req.start_address,
            checksum: req.checksum,
            part_absolute: req.part_offset,
            start_absolute: req.start_address,
        }
    }

    /// Reads a checked view.
    pub fn parse<T: AsRef<[u8]>>(p: &Cnf<T>) -> crate::Result<Self> {
        p.check_len()?;
        Ok(Self {
            status: p.status(),
            client_session: p.client_session(),
            server_session: p.server_session(),
            flags: p.flags(),
            mem_types: p.mem_types(),
            total_length: p.total_length(),
            part_length: p.part_length(),
            part_offset: p.part_offset(),
            start_address: p.start_address(),
            checksum: p.checksum(),
            part_absolute: p.part_absolute(),
            start_absolute: p.start_absolute(),
        })
    }

    /// Payload bytes [`Self::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        field::CNF_START_ABSOLUTE.end
    }

    /// Writes into a view of at least [`Self::buffer_len`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Cnf<T>) {
        p.set_oui(QUALCOMM_OUI);
        p.set_status(self.status);
        p.set_client_session(self.client_session);
        p.set_server_session(self.server_session);
        p.set_flags(self.flags);
        p.set_mem_types(self.mem_types);
        p.set_total_length(self.total_length);
        p.set_part_length(self.part_length);
        p.set_part_offset(self.part_offset);
        p.set_start_address(self.start_address);
        p.set_checksum(self.checksum);
        p.buffer.as_mut()[field::CNF_RESERVED].fill(0);
        p.set_part_absolute(self.part_absolute);
        p.set_start_absolute(self.start_absolute);
    }
}
