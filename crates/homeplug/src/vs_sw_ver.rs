//! VS_SW_VER.REQ (0xA000) and VS_SW_VER.CNF (0xA001), Qualcomm Atheros vendor-specific: the
//! modem's firmware version string, what `int6klist` / `plctool -r` print. Sent to
//! [`MacAddr::QCA_LOCAL`](crate::MacAddr::QCA_LOCAL) (or broadcast) with MMV 0x00.

use crate::QUALCOMM_OUI;
use crate::error::need;
use crate::view::view;

/// Field ranges within the MME payload.
pub mod field {
    use core::ops::{Range, RangeFrom};

    /// OUI (00:B0:52).
    pub const OUI: Range<usize> = 0..3;
    /// REQ: cookie echoed by newer firmware.
    pub const REQ_COOKIE: Range<usize> = 3..7;
    /// CNF: MSTATUS (0x00 success).
    pub const CNF_STATUS: Range<usize> = 3..4;
    /// CNF: MDEVICEID, the chip family.
    pub const CNF_DEVICE_ID: Range<usize> = 4..5;
    /// CNF: MVERLENGTH.
    pub const CNF_VERSION_LEN: Range<usize> = 5..6;
    /// CNF: MVERSION, MVERLENGTH bytes of text, usually NUL-terminated.
    pub const CNF_VERSION: RangeFrom<usize> = 6..;
}

view! {
    /// A view of a VS_SW_VER.REQ payload.
    pub struct Req, min_len = field::REQ_COOKIE.end;
    /// OUI.
    oui / set_oui: [u8; 3] = field::OUI;
    /// Cookie.
    cookie / set_cookie: u32 = field::REQ_COOKIE;
}

view! {
    /// A view of a VS_SW_VER.CNF payload.
    pub struct Cnf, min_len = field::CNF_VERSION.start;
    /// OUI.
    oui / set_oui: [u8; 3] = field::OUI;
    /// MSTATUS, 0x00 success.
    status / set_status: u8 = field::CNF_STATUS;
    /// MDEVICEID, the chip family (e.g. 0x20 for the QCA7000 family).
    device_id / set_device_id: u8 = field::CNF_DEVICE_ID;
    /// MVERLENGTH.
    version_len / set_version_len: u8 = field::CNF_VERSION_LEN;
}

impl<T: AsRef<[u8]>> Cnf<T> {
    /// Ensures that no accessor, [`Self::version`] included, will panic.
    pub fn check_version_len(&self) -> crate::Result<()> {
        self.check_len()?;
        let end = field::CNF_VERSION.start + usize::from(self.version_len());
        need(self.buffer.as_ref().len(), end)
    }

    /// MVERSION, the raw MVERLENGTH bytes. Needs [`Self::check_version_len`].
    pub fn version(&self) -> &[u8] {
        let start = field::CNF_VERSION.start;
        &self.buffer.as_ref()[start..start + usize::from(self.version_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Cnf<T> {
    /// Sets MVERLENGTH and MVERSION; more than 255 bytes are cut.
    pub fn set_version(&mut self, version: &[u8]) {
        let n = version.len().min(255);
        self.set_version_len(n as u8);
        let start = field::CNF_VERSION.start;
        self.buffer.as_mut()[start..start + n].copy_from_slice(&version[..n]);
    }
}

/// VS_SW_VER.REQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReqRepr {
    /// Cookie (0 for firmware that ignores it).
    pub cookie: u32,
}

impl ReqRepr {
    /// Reads a checked view.
    pub fn parse<T: AsRef<[u8]>>(p: &Req<T>) -> crate::Result<Self> {
        p.check_len()?;
        Ok(Self { cookie: p.cookie() })
    }

    /// Payload bytes [`Self::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        field::REQ_COOKIE.end
    }

    /// Writes into a view of at least [`Self::buffer_len`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Req<T>) {
        p.set_oui(QUALCOMM_OUI);
        p.set_cookie(self.cookie);
    }
}

/// VS_SW_VER.CNF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CnfRepr {
    /// MSTATUS, 0x00 success.
    pub status: u8,
    /// MDEVICEID.
    pub device_id: u8,
    /// MVERSION as sent (at most 255 bytes, usually with a trailing NUL).
    pub version: Vec<u8>,
}

impl CnfRepr {
    /// Reads a view, checking that all MVERLENGTH bytes are present.
    pub fn parse<T: AsRef<[u8]>>(p: &Cnf<T>) -> crate::Result<Self> {
        p.check_version_len()?;
        Ok(Self {
            status: p.status(),
            device_id: p.device_id(),
            version: p.version().to_vec(),
        })
    }

    /// The firmware version as text: up to the first NUL, invalid UTF-8 replaced.
    pub fn version_string(&self) -> String {
        let end = self
            .version
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.version.len());
        String::from_utf8_lossy(&self.version[..end]).into_owned()
    }

    /// Payload bytes [`Self::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        field::CNF_VERSION.start + self.version.len().min(255)
    }

    /// Writes into a view of at least [`Self::buffer_len`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Cnf<T>) {
        p.set_oui(QUALCOMM_OUI);
        p.set_status(self.status);
        p.set_device_id(self.device_id);
        p.set_version(&self.version);
    }
}
