//! CM_ATTEN_PROFILE.IND (0x6086): a modem tells its own host the attenuation it measured for one
//! M-Sound of the EV with the given MAC, per group of OFDM carriers (58 groups on Green PHY). The
//! EVSE host averages these into CM_ATTEN_CHAR.IND (ISO 15118-3 Annex A).

use crate::MacAddr;
use crate::error::need;
use crate::view::view;

/// Field ranges within the MME payload.
pub mod field {
    use core::ops::{Range, RangeFrom};

    /// PEV MAC: the EV whose sound was measured.
    pub const PEV_MAC: Range<usize> = 0..6;
    /// NumGroups.
    pub const NUM_GROUPS: Range<usize> = 6..7;
    /// Reserved.
    pub const RESERVED: Range<usize> = 7..8;
    /// AAG 1..NumGroups, average attenuation per group in dB.
    pub const AAG: RangeFrom<usize> = 8..;
}

view! {
    /// A view of a CM_ATTEN_PROFILE.IND payload.
    pub struct Ind, min_len = field::AAG.start;
    /// The EV whose sound was measured.
    pev_mac / set_pev_mac: MacAddr = field::PEV_MAC;
    /// NumGroups.
    num_groups / set_num_groups: u8 = field::NUM_GROUPS;
}

impl<T: AsRef<[u8]>> Ind<T> {
    /// Ensures that no accessor, [`Self::aag`] included, will panic.
    pub fn check_aag_len(&self) -> crate::Result<()> {
        self.check_len()?;
        need(
            self.buffer.as_ref().len(),
            field::AAG.start + usize::from(self.num_groups()),
        )
    }

    /// AAG, NumGroups attenuations in dB. Needs [`Self::check_aag_len`].
    pub fn aag(&self) -> &[u8] {
        let start = field::AAG.start;
        &self.buffer.as_ref()[start..start + usize::from(self.num_groups())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ind<T> {
    /// Sets NumGroups and the groups. Needs room for them; more than 255 groups are cut.
    pub fn set_aag(&mut self, aag: &[u8]) {
        let n = aag.len().min(255);
        self.set_num_groups(n as u8);
        let start = field::AAG.start;
        self.buffer.as_mut()[start..start + n].copy_from_slice(&aag[..n]);
    }
}

/// CM_ATTEN_PROFILE.IND.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndRepr {
    /// The EV whose sound was measured.
    pub pev_mac: MacAddr,
    /// Average attenuation per carrier group in dB (NumGroups entries, at most 255).
    pub aag: Vec<u8>,
}

impl IndRepr {
    /// Reads a view, checking that all NumGroups groups are present.
    pub fn parse<T: AsRef<[u8]>>(p: &Ind<T>) -> crate::Result<Self> {
        p.check_aag_len()?;
        Ok(Self {
            pev_mac: p.pev_mac(),
            aag: p.aag().to_vec(),
        })
    }

    /// Payload bytes [`Self::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        field::AAG.start + self.aag.len().min(255)
    }

    /// Writes into a view of at least [`Self::buffer_len`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Ind<T>) {
        p.set_pev_mac(self.pev_mac);
        p.buffer.as_mut()[field::RESERVED].fill(0);
        p.set_aag(&self.aag);
    }
}
