//! VS_RS_DEV.REQ (0xA01C) and VS_RS_DEV.CNF (0xA01D), Qualcomm Atheros vendor-specific: reset the
//! modem (it forgets its AVLN membership and restarts its firmware, which takes a few seconds).

use crate::QUALCOMM_OUI;
use crate::view::view;

/// Field ranges within the MME payload.
pub mod field {
    use core::ops::Range;

    /// OUI (00:B0:52).
    pub const OUI: Range<usize> = 0..3;
    /// CNF: MSTATUS (0x00 success).
    pub const CNF_STATUS: Range<usize> = 3..4;
}

view! {
    /// A view of a VS_RS_DEV.REQ payload.
    pub struct Req, min_len = field::OUI.end;
    /// OUI.
    oui / set_oui: [u8; 3] = field::OUI;
}

view! {
    /// A view of a VS_RS_DEV.CNF payload.
    pub struct Cnf, min_len = field::CNF_STATUS.end;
    /// OUI.
    oui / set_oui: [u8; 3] = field::OUI;
    /// MSTATUS, 0x00 success.
    status / set_status: u8 = field::CNF_STATUS;
}

/// VS_RS_DEV.REQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReqRepr;

impl ReqRepr {
    /// Reads a checked view.
    pub fn parse<T: AsRef<[u8]>>(p: &Req<T>) -> crate::Result<Self> {
        p.check_len()?;
        Ok(Self)
    }

    /// Payload bytes [`Self::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        field::OUI.end
    }

    /// Writes into a view of at least [`Self::buffer_len`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Req<T>) {
        p.set_oui(QUALCOMM_OUI);
    }
}

/// VS_RS_DEV.CNF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CnfRepr {
    /// MSTATUS, 0x00 success.
    pub status: u8,
}

impl CnfRepr {
    /// Reads a checked view.
    pub fn parse<T: AsRef<[u8]>>(p: &Cnf<T>) -> crate::Result<Self> {
        p.check_len()?;
        Ok(Self { status: p.status() })
    }

    /// Payload bytes [`Self::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        field::CNF_STATUS.end
    }

    /// Writes into a view of at least [`Self::buffer_len`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Cnf<T>) {
        p.set_oui(QUALCOMM_OUI);
        p.set_status(self.status);
    }
}
