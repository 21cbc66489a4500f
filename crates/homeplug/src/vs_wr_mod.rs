//! VS_WR_MOD.REQ (0xA020) and .CNF (0xA021), Qualcomm Atheros vendor-specific: the older
//! (INT6x00) way to write a module into a running modem's memory, 1024 bytes at a time, each
//! part with its own checksum; VS_MOD_NVM then burns it to flash. QCA7000/7005 firmware uses
//! VS_MODULE_OPERATION instead.
//!
//! Layout as open-plc-utils' `WriteMOD` sends it; integers little-endian. The sender pads the
//! buffer to 1024 bytes; this crate emits the part alone and reads a padded one.

use crate::QUALCOMM_OUI;
use crate::error::need;
use crate::view::view;

/// The largest part in one request.
pub const MAX_PART: usize = 1024;

/// Field ranges within the MME payload.
pub mod field {
    use core::ops::{Range, RangeFrom};

    /// OUI (00:B0:52).
    pub const OUI: Range<usize> = 0..3;
    /// REQ: MODULEID.
    pub const REQ_MODULE: Range<usize> = 3..4;
    /// REQ: MACCESS.
    pub const REQ_ACCESS: Range<usize> = 4..5;
    /// REQ: MLENGTH.
    pub const REQ_LENGTH: Range<usize> = 5..7;
    /// REQ: MOFFSET.
    pub const REQ_OFFSET: Range<usize> = 7..11;
    /// REQ: MCHKSUM, the NVM checksum of this part.
    pub const REQ_CHECKSUM: Range<usize> = 11..15;
    /// REQ: the part.
    pub const REQ_DATA: RangeFrom<usize> = 15..;
    /// CNF: MSTATUS.
    pub const CNF_STATUS: Range<usize> = 3..4;
    /// CNF: MODULEID.
    pub const CNF_MODULE: Range<usize> = 4..5;
    /// CNF: MACCESS.
    pub const CNF_ACCESS: Range<usize> = 5..6;
    /// CNF: MLENGTH written.
    pub const CNF_LENGTH: Range<usize> = 6..8;
    /// CNF: MOFFSET written.
    pub const CNF_OFFSET: Range<usize> = 8..12;
}

view! {
    /// A view of a VS_WR_MOD.REQ payload.
    pub struct Req, min_len = field::REQ_DATA.start;
    /// OUI.
    oui / set_oui: [u8; 3] = field::OUI;
    /// MODULEID.
    module / set_module: u8 = field::REQ_MODULE;
    /// MACCESS.
    access / set_access: u8 = field::REQ_ACCESS;
    /// MLENGTH.
    length / set_length: u16 = field::REQ_LENGTH;
    /// MOFFSET.
    offset / set_offset: u32 = field::REQ_OFFSET;
    /// MCHKSUM.
    checksum / set_checksum: u32 = field::REQ_CHECKSUM;
}

impl<T: AsRef<[u8]>> Req<T> {
    /// Ensures the part's MLENGTH bytes are present.
    pub fn check_data_len(&self) -> crate::Result<()> {
        self.check_len()?;
        need(
            self.buffer.as_ref().len(),
            field::REQ_DATA.start + usize::from(self.length()),
        )
    }

    /// The part (call [`Self::check_data_len`] first).
    pub fn data(&self) -> &[u8] {
        let start = field::REQ_DATA.start;
        &self.buffer.as_ref()[start..start + usize::from(self.length())]
    }
}

view! {
    /// A view of a VS_WR_MOD.CNF payload.
    pub struct Cnf, min_len = field::CNF_OFFSET.end;
    /// OUI.
    oui / set_oui: [u8; 3] = field::OUI;
    /// MSTATUS.
    status / set_status: u8 = field::CNF_STATUS;
    /// MODULEID.
    module / set_module: u8 = field::CNF_MODULE;
    /// MACCESS.
    access / set_access: u8 = field::CNF_ACCESS;
    /// MLENGTH.
    length / set_length: u16 = field::CNF_LENGTH;
    /// MOFFSET.
    offset / set_offset: u32 = field::CNF_OFFSET;
}

/// VS_WR_MOD.REQ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReqRepr {
    /// MODULEID.
    pub module: u8,
    /// MACCESS.
    pub access: u8,
    /// MOFFSET.
    pub offset: u32,
    /// MCHKSUM.
    pub checksum: u32,
    /// The part (its length is MLENGTH).
    pub data: Vec<u8>,
}

impl ReqRepr {
    /// Reads a checked view.
    pub fn parse<T: AsRef<[u8]>>(p: &Req<T>) -> crate::Result<Self> {
        p.check_data_len()?;
        Ok(Self {
            module: p.module(),
            access: p.access(),
            offset: p.offset(),
            checksum: p.checksum(),
            data: p.data().to_vec(),
        })
    }

    /// Payload bytes [`Self::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        field::REQ_DATA.start + self.data.len().min(usize::from(u16::MAX))
    }

    /// Writes into a view of at least [`Self::buffer_len`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Req<T>) {
        let data = &self.data[..self.data.len().min(usize::from(u16::MAX))];
        p.set_oui(QUALCOMM_OUI);
        p.set_module(self.module);
        p.set_access(self.access);
        p.set_length(data.len() as u16);
        p.set_offset(self.offset);
        p.set_checksum(self.checksum);
        let start = field::REQ_DATA.start;
        p.buffer.as_mut()[start..start + data.len()].copy_from_slice(data);
    }
}

/// VS_WR_MOD.CNF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CnfRepr {
    /// MSTATUS, 0 success.
    pub status: u8,
    /// MODULEID.
    pub module: u8,
    /// MACCESS.
    pub access: u8,
    /// MLENGTH written.
    pub length: u16,
    /// MOFFSET written.
    pub offset: u32,
}

impl CnfRepr {
    /// Reads a checked view.
    pub fn parse<T: AsRef<[u8]>>(p: &Cnf<T>) -> crate::Result<Self> {
        p.check_len()?;
        Ok(Self {
            status: p.status(),
            module: p.module(),
            access: p.access(),
            length: p.length(),
            offset: p.offset(),
        })
    }

    /// Payload bytes [`Self::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        field::CNF_OFFSET.end
    }

    /// Writes into a view of at least [`Self::buffer_len`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Cnf<T>) {
        p.set_oui(QUALCOMM_OUI);
        p.set_status(self.status);
        p.set_module(self.module);
        p.set_access(self.access);
        p.set_length(self.length);
        p.set_offset(self.offset);
    }
}
