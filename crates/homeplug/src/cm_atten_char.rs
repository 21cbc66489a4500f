//! CM_ATTEN_CHAR.IND (0x606E) and CM_ATTEN_CHAR.RSP (0x606F): each EVSE reports to the EV the
//! attenuation profile it measured, averaged over the sounds it heard, and the EV acknowledges
//! (ISO 15118-3 Annex A, HomePlug Green PHY 1.1 §11.5.39-40).

use crate::error::need;
use crate::view::view;
use crate::{MacAddr, RunId, StationId};

/// Field ranges within the MME payload.
pub mod field {
    use core::ops::{Range, RangeFrom};

    /// APPLICATION_TYPE.
    pub const APPLICATION_TYPE: Range<usize> = 0..1;
    /// SECURITY_TYPE.
    pub const SECURITY_TYPE: Range<usize> = 1..2;
    /// SOURCE_ADDRESS, the EV host that sounded.
    pub const SOURCE_ADDRESS: Range<usize> = 2..8;
    /// RunID.
    pub const RUN_ID: Range<usize> = 8..16;
    /// SOURCE_ID.
    pub const SOURCE_ID: Range<usize> = 16..33;
    /// RESP_ID.
    pub const RESP_ID: Range<usize> = 33..50;
    /// IND: NUM_SOUNDS actually used for the profile.
    pub const IND_NUM_SOUNDS: Range<usize> = 50..51;
    /// IND: ATTEN_PROFILE.NumGroups.
    pub const IND_NUM_GROUPS: Range<usize> = 51..52;
    /// IND: ATTEN_PROFILE.AAG 1..NumGroups.
    pub const IND_AAG: RangeFrom<usize> = 52..;
    /// RSP: Result (0x00 success).
    pub const RSP_RESULT: Range<usize> = 50..51;
}

view! {
    /// A view of a CM_ATTEN_CHAR.IND payload.
    pub struct Ind, min_len = field::IND_AAG.start;
    /// APPLICATION_TYPE.
    application_type / set_application_type: u8 = field::APPLICATION_TYPE;
    /// SECURITY_TYPE.
    security_type / set_security_type: u8 = field::SECURITY_TYPE;
    /// SOURCE_ADDRESS, the EV host that sounded.
    source_address / set_source_address: MacAddr = field::SOURCE_ADDRESS;
    /// RunID.
    run_id / set_run_id: RunId = field::RUN_ID;
    /// SOURCE_ID.
    source_id / set_source_id: StationId = field::SOURCE_ID;
    /// RESP_ID.
    resp_id / set_resp_id: StationId = field::RESP_ID;
    /// NUM_SOUNDS the profile averages.
    num_sounds / set_num_sounds: u8 = field::IND_NUM_SOUNDS;
    /// ATTEN_PROFILE.NumGroups.
    num_groups / set_num_groups: u8 = field::IND_NUM_GROUPS;
}

impl<T: AsRef<[u8]>> Ind<T> {
    /// Ensures that no accessor, [`Self::aag`] included, will panic.
    pub fn check_aag_len(&self) -> crate::Result<()> {
        self.check_len()?;
        need(
            self.buffer.as_ref().len(),
            field::IND_AAG.start + usize::from(self.num_groups()),
        )
    }

    /// ATTEN_PROFILE.AAG, NumGroups attenuations in dB. Needs [`Self::check_aag_len`].
    pub fn aag(&self) -> &[u8] {
        let start = field::IND_AAG.start;
        &self.buffer.as_ref()[start..start + usize::from(self.num_groups())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ind<T> {
    /// Sets NumGroups and the groups. Needs room for them; more than 255 groups are cut.
    pub fn set_aag(&mut self, aag: &[u8]) {
        let n = aag.len().min(255);
        self.set_num_groups(n as u8);
        let start = field::IND_AAG.start;
        self.buffer.as_mut()[start..start + n].copy_from_slice(&aag[..n]);
    }
}

view! {
    /// A view of a CM_ATTEN_CHAR.RSP payload.
    pub struct Rsp, min_len = field::RSP_RESULT.end;
    /// APPLICATION_TYPE.
    application_type / set_application_type: u8 = field::APPLICATION_TYPE;
    /// SECURITY_TYPE.
    security_type / set_security_type: u8 = field::SECURITY_TYPE;
    /// SOURCE_ADDRESS, the EV host.
    source_address / set_source_address: MacAddr = field::SOURCE_ADDRESS;
    /// RunID.
    run_id / set_run_id: RunId = field::RUN_ID;
    /// SOURCE_ID.
    source_id / set_source_id: StationId = field::SOURCE_ID;
    /// RESP_ID.
    resp_id / set_resp_id: StationId = field::RESP_ID;
    /// Result, 0x00 success.
    result / set_result: u8 = field::RSP_RESULT;
}

/// CM_ATTEN_CHAR.RSP Result 0x00: success.
pub const RESULT_SUCCESS: u8 = 0x00;

/// CM_ATTEN_CHAR.IND.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndRepr {
    /// APPLICATION_TYPE.
    pub application_type: u8,
    /// SECURITY_TYPE.
    pub security_type: u8,
    /// SOURCE_ADDRESS.
    pub source_address: MacAddr,
    /// RunID.
    pub run_id: RunId,
    /// SOURCE_ID.
    pub source_id: StationId,
    /// RESP_ID.
    pub resp_id: StationId,
    /// NUM_SOUNDS.
    pub num_sounds: u8,
    /// ATTEN_PROFILE.AAG in dB (NumGroups entries, at most 255).
    pub aag: Vec<u8>,
}

impl IndRepr {
    /// Reads a view, checking that all NumGroups groups are present.
    pub fn parse<T: AsRef<[u8]>>(p: &Ind<T>) -> crate::Result<Self> {
        p.check_aag_len()?;
        Ok(Self {
            application_type: p.application_type(),
            security_type: p.security_type(),
            source_address: p.source_address(),
            run_id: p.run_id(),
            source_id: p.source_id(),
            resp_id: p.resp_id(),
            num_sounds: p.num_sounds(),
            aag: p.aag().to_vec(),
        })
    }

    /// Payload bytes [`Self::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        field::IND_AAG.start + self.aag.len().min(255)
    }

    /// Writes into a view of at least [`Self::buffer_len`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Ind<T>) {
        p.set_application_type(self.application_type);
        p.set_security_type(self.security_type);
        p.set_source_address(self.source_address);
        p.set_run_id(self.run_id);
        p.set_source_id(self.source_id);
        p.set_resp_id(self.resp_id);
        p.set_num_sounds(self.num_sounds);
        p.set_aag(&self.aag);
    }

    /// The mean attenuation over all groups in dB, or `None` without groups.
    pub fn mean_attenuation(&self) -> Option<f64> {
        if self.aag.is_empty() {
            return None;
        }
        let sum: u32 = self.aag.iter().map(|&a| u32::from(a)).sum();
        Some(f64::from(sum) / self.aag.len() as f64)
    }
}

/// CM_ATTEN_CHAR.RSP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RspRepr {
    /// APPLICATION_TYPE.
    pub application_type: u8,
    /// SECURITY_TYPE.
    pub security_type: u8,
    /// SOURCE_ADDRESS.
    pub source_address: MacAddr,
    /// RunID.
    pub run_id: RunId,
    /// SOURCE_ID.
    pub source_id: StationId,
    /// RESP_ID.
    pub resp_id: StationId,
    /// Result.
    pub result: u8,
}

impl RspRepr {
    /// Reads a checked view.
    pub fn parse<T: AsRef<[u8]>>(p: &Rsp<T>) -> crate::Result<Self> {
        p.check_len()?;
        Ok(Self {
            application_type: p.application_type(),
            security_type: p.security_type(),
            source_address: p.source_address(),
            run_id: p.run_id(),
            source_id: p.source_id(),
            resp_id: p.resp_id(),
            result: p.result(),
        })
    }

    /// Payload bytes [`Self::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        field::RSP_RESULT.end
    }

    /// Writes into a view of at least [`Self::buffer_len`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Rsp<T>) {
        p.set_application_type(self.application_type);
        p.set_security_type(self.security_type);
        p.set_source_address(self.source_address);
        p.set_run_id(self.run_id);
        p.set_source_id(self.source_id);
        p.set_resp_id(self.resp_id);
        p.set_result(self.result);
    }
}
