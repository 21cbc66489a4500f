//! VS_PL_LINK_STATUS.REQ (0xA0B8) and VS_PL_LINK_STATUS.CNF (0xA0B9), Qualcomm Atheros
//! vendor-specific: whether the modem has a powerline link to another station of its AVLN, the
//! "D-LINK ready" a charger can wait for after matching.

use crate::QUALCOMM_OUI;
use crate::view::view;

/// Field ranges within the MME payload.
pub mod field {
    use core::ops::Range;

    /// OUI (00:B0:52).
    pub const OUI: Range<usize> = 0..3;
    /// CNF: MSTATUS (0x00 success).
    pub const CNF_STATUS: Range<usize> = 3..4;
    /// CNF: LINKSTATUS (0x00 no link, 0x01 link up).
    pub const CNF_LINK_STATUS: Range<usize> = 4..5;
}

/// LINKSTATUS 0x01: the powerline link is up.
pub const LINK_UP: u8 = 0x01;

view! {
    /// A view of a VS_PL_LINK_STATUS.REQ payload.
    pub struct Req, min_len = field::OUI.end;
    /// OUI.
    oui / set_oui: [u8; 3] = field::OUI;
}

view! {
    /// A view of a VS_PL_LINK_STATUS.CNF payload.
    pub struct Cnf, min_len = field::CNF_LINK_STATUS.end;
    /// OUI.
    oui / set_oui: [u8; 3] = field::OUI;
    /// MSTATUS, 0x00 success.
    status / set_status: u8 = field::CNF_STATUS;
    /// LINKSTATUS.
    link_status / set_link_status: u8 = field::CNF_LINK_STATUS;
}

/// VS_PL_LINK_STATUS.REQ.
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

/// VS_PL_LINK_STATUS.CNF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CnfRepr {
    /// MSTATUS, 0x00 success.
    pub status: u8,
    /// LINKSTATUS.
    pub link_status: u8,
}

impl CnfRepr {
    /// Reads a checked view.
    pub fn parse<T: AsRef<[u8]>>(p: &Cnf<T>) -> crate::Result<Self> {
        p.check_len()?;
        Ok(Self {
            status: p.status(),
            link_status: p.link_status(),
        })
    }

    /// True if the modem reports a powerline link.
    pub const fn is_link_up(&self) -> bool {
        self.status == 0 && self.link_status == LINK_UP
    }

    /// Payload bytes [`Self::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        field::CNF_LINK_STATUS.end
    }

    /// Writes into a view of at least [`Self::buffer_len`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Cnf<T>) {
        p.set_oui(QUALCOMM_OUI);
        p.set_status(self.status);
        p.set_link_status(self.link_status);
    }
}
