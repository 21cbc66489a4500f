//! VS_RD_MOD.REQ (0xA024) and .CNF (0xA025), Qualcomm Atheros vendor-specific: the older
//! (INT6x00) way to read a module (firmware, PIB) from a running modem, 1024 bytes at a time,
//! each part with its checksum. QCA7000/7005 firmware uses VS_MODULE_OPERATION instead.
//!
//! Layout as open-plc-utils' `ReadParameters1` reads it; integers little-endian.

use crate::QUALCOMM_OUI;
use crate::error::need;
use crate::view::view;

/// Field ranges within the MME payload.
pub mod field {
    use core::ops::{Range, RangeFrom};

    /// OUI (00:B0:52).
    pub const OUI: Range<usize> = 0..3;
    /// REQ: MODULEID.
    pub const REQ_MODULE: Range<usize> = 3..4;
    /// REQ: MACCESS.
    pub const REQ_ACCESS: Range<usize> = 4..5;
    /// REQ: MLENGTH wanted.
    pub const REQ_LENGTH: Range<usize> = 5..7;
    /// REQ: MOFFSET.
    pub const REQ_OFFSET: Range<usize> = 7..11;
    /// REQ: MSECRET, 16 bytes.
    pub const REQ_SECRET: Range<usize> = 11..27;
    /// CNF: MSTATUS.
    pub const CNF_STATUS: Range<usize> = 3..4;
    /// CNF: reserved, 3 bytes.
    pub const CNF_RESERVED1: Range<usize> = 4..7;
    /// CNF: MODULEID.
    pub const CNF_MODULE: Range<usize> = 7..8;
    /// CNF: reserved.
    pub const CNF_RESERVED2: Range<usize> = 8..9;
    /// CNF: MLENGTH read.
    pub const CNF_LENGTH: Range<usize> = 9..11;
    /// CNF: MOFFSET read.
    pub const CNF_OFFSET: Range<usize> = 11..15;
    /// CNF: the NVM checksum of the data.
    pub const CNF_CHECKSUM: Range<usize> = 15..19;
    /// CNF: the data.
    pub const CNF_DATA: RangeFrom<usize> = 19..;
}

view! {
    /// A view of a VS_RD_MOD.REQ payload.
    pub struct Req, min_len = field::REQ_SECRET.end;
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
    /// MSECRET.
    secret / set_secret: [u8; 16] = field::REQ_SECRET;
}

view! {
    /// A view of a VS_RD_MOD.CNF payload.
    pub struct Cnf, min_len = field::CNF_DATA.start;
    /// OUI.
    oui / set_oui: [u8; 3] = field::OUI;
    /// MSTATUS.
    status / set_status: u8 = field::CNF_STATUS;
    /// MODULEID.
    module / set_module: u8 = field::CNF_MODULE;
    /// MLENGTH.
    length / set_length: u16 = field::CNF_LENGTH;
    /// MOFFSET.
    offset / set_offset: u32 = field::CNF_OFFSET;
    /// CHKSUM.
    checksum / set_checksum: u32 = field::CNF_CHECKSUM;
}

impl<T: AsRef<[u8]>> Cnf<T> {
    /// Ensures the MLENGTH data bytes are present.
    pub fn check_data_len(&self) -> crate::Result<()> {
        self.check_len()?;
        need(
            self.buffer.as_ref().len(),
            field::CNF_DATA.start + usize::from(self.length()),
        )
    }

    /// The data (call [`Self::check_data_len`] first).
    pub fn data(&self) -> &[u8] {
        let start = field::CNF_DATA.start;
        &self.buffer.as_ref()[start..start + usize::from(self.length())]
    }
}

/// VS_RD_MOD.REQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReqRepr {
    /// MODULEID.
    pub module: u8,
    /// MACCESS.
    pub access: u8,
    /// MLENGTH wanted.
    pub length: u16,
    /// MOFFSET.
    pub offset: u32,
    /// MSECRET.
    pub secret: [u8; 16],
}

impl ReqRepr {
    /// Reads a checked view.
    pub fn parse<T: AsRef<[u8]>>(p: &Req<T>) -> crate::Result<Self> {
        p.check_len()?;
        Ok(Self {
            module: p.module(),
            access: p.access(),
            length: p.length(),
            offset: p.offset(),
            secret: p.secret(),
        })
    }

    /// Payload bytes [`Self::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        field::REQ_SECRET.end
    }

    /// Writes into a view of at least [`Self::buffer_len`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Req<T>) {
        p.set_oui(QUALCOMM_OUI);
        p.set_module(self.module);
        p.set_access(self.access);
        p.set_length(self.length);
        p.set_offset(self.offset);
        p.set_secret(self.secret);
    }
}

/// VS_RD_MOD.CNF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CnfRepr {
    /// MSTATUS, 0 success.
    pub status: u8,
    /// MODULEID.
    pub module: u8,
    /// MOFFSET.
    pub offset: u32,
    /// CHKSUM of the data.
    pub checksum: u32,
    /// The data (its length is MLENGTH).
    pub data: Vec<u8>,
}

impl CnfRepr {
    /// Reads a checked view.
    pub fn parse<T: AsRef<[u8]>>(p: &Cnf<T>) -> crate::Result<Self> {
        p.check_data_len()?;
        Ok(Self {
            status: p.status(),
            module: p.module(),
            offset: p.offset(),
            checksum: p.checksum(),
            data: p.data().to_vec(),
        })
    }

    /// Payload bytes [`Self::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        field::CNF_DATA.start + self.data.len().min(usize::from(u16::MAX))
    }

    /// Writes into a view of at least [`Self::buffer_len`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Cnf<T>) {
        let data = &self.data[..self.data.len().min(usize::from(u16::MAX))];
        p.set_oui(QUALCOMM_OUI);
        p.set_status(self.status);
        p.buffer.as_mut()[field::CNF_RESERVED1].fill(0);
        p.set_module(self.module);
        p.buffer.as_mut()[field::CNF_RESERVED2].fill(0);
        p.set_length(data.len() as u16);
        p.set_offset(self.offset);
        p.set_checksum(self.checksum);
        let start = field::CNF_DATA.start;
        p.buffer.as_mut()[start..start + data.len()].copy_from_slice(data);
    }
}
