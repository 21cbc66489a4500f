//! VS_MOD_NVM.REQ (0xA028) and .CNF (0xA029), Qualcomm Atheros vendor-specific: the older
//! (INT6x00) commit: burn the module written by VS_WR_MOD to flash. Layout as open-plc-utils'
//! `FlashNVM` sends it.

use crate::QUALCOMM_OUI;
use crate::view::view;

/// Field ranges within the MME payload.
pub mod field {
    use core::ops::Range;

    /// OUI (00:B0:52).
    pub const OUI: Range<usize> = 0..3;
    /// REQ: MODULEID.
    pub const REQ_MODULE: Range<usize> = 3..4;
    /// CNF: MSTATUS.
    pub const CNF_STATUS: Range<usize> = 3..4;
    /// CNF: MODULEID.
    pub const CNF_MODULE: Range<usize> = 4..5;
}

view! {
    /// A view of a VS_MOD_NVM.REQ payload.
    pub struct Req, min_len = field::REQ_MODULE.end;
    /// OUI.
    oui / set_oui: [u8; 3] = field::OUI;
    /// MODULEID.
    module / set_module: u8 = field::REQ_MODULE;
}

view! {
    /// A view of a VS_MOD_NVM.CNF payload.
    pub struct Cnf, min_len = field::CNF_MODULE.end;
    /// OUI.
    oui / set_oui: [u8; 3] = field::OUI;
    /// MSTATUS.
    status / set_status: u8 = field::CNF_STATUS;
    /// MODULEID.
    module / set_module: u8 = field::CNF_MODULE;
}

/// VS_MOD_NVM.REQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReqRepr {
    /// MODULEID.
    pub module: u8,
}

impl ReqRepr {
    /// Reads a checked view.
    pub fn parse<T: AsRef<[u8]>>(p: &Req<T>) -> crate::Result<Self> {
        p.check_len()?;
        Ok(Self { module: p.module() })
    }

    /// Payload bytes [`Self::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        field::REQ_MODULE.end
    }

    /// Writes into a view of at least [`Self::buffer_len`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Req<T>) {
        p.set_oui(QUALCOMM_OUI);
        p.set_module(self.module);
    }
}

/// VS_MOD_NVM.CNF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CnfRepr {
    /// MSTATUS, 0 success.
    pub status: u8,
    /// MODULEID.
    pub module: u8,
}

impl CnfRepr {
    /// Reads a checked view.
    pub fn parse<T: AsRef<[u8]>>(p: &Cnf<T>) -> crate::Result<Self> {
        p.check_len()?;
        Ok(Self {
            status: p.status(),
            module: p.module(),
        })
    }

    /// Payload bytes [`Self::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        field::CNF_MODULE.end
    }

    /// Writes into a view of at least [`Self::buffer_len`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Cnf<T>) {
        p.set_oui(QUALCOMM_OUI);
        p.set_status(self.status);
        p.set_module(self.module);
    }
}
