//! CM_SLAC_PARM.REQ (0x6064) and CM_SLAC_PARM.CNF (0x6065): the EV opens a matching run and each
//! EVSE that hears it answers with its sounding parameters (ISO 15118-3 Annex A, HomePlug Green
//! PHY 1.1 §11.5.36-37).
//!
//! ISO 15118-3 fixes SECURITY_TYPE to 0x00 (no security); the cipher-suite fields HomePlug Green
//! PHY appends for SECURITY_TYPE 0x01 are therefore not modelled and read as padding.

use crate::view::view;
use crate::{MacAddr, RunId};

/// Field ranges within the MME payload (after MMV, MMTYPE and FMI).
pub mod field {
    use core::ops::Range;

    /// REQ: APPLICATION_TYPE.
    pub const REQ_APPLICATION_TYPE: Range<usize> = 0..1;
    /// REQ: SECURITY_TYPE.
    pub const REQ_SECURITY_TYPE: Range<usize> = 1..2;
    /// REQ: RunID.
    pub const REQ_RUN_ID: Range<usize> = 2..10;

    /// CNF: M-SOUND_TARGET.
    pub const CNF_M_SOUND_TARGET: Range<usize> = 0..6;
    /// CNF: NUM_SOUNDS.
    pub const CNF_NUM_SOUNDS: Range<usize> = 6..7;
    /// CNF: Time_Out.
    pub const CNF_TIME_OUT: Range<usize> = 7..8;
    /// CNF: RESP_TYPE.
    pub const CNF_RESP_TYPE: Range<usize> = 8..9;
    /// CNF: FORWARDING_STA.
    pub const CNF_FORWARDING_STA: Range<usize> = 9..15;
    /// CNF: APPLICATION_TYPE.
    pub const CNF_APPLICATION_TYPE: Range<usize> = 15..16;
    /// CNF: SECURITY_TYPE.
    pub const CNF_SECURITY_TYPE: Range<usize> = 16..17;
    /// CNF: RunID.
    pub const CNF_RUN_ID: Range<usize> = 17..25;
}

/// APPLICATION_TYPE 0x00: PEV-EVSE association, the only value ISO 15118-3 uses.
pub const APPLICATION_TYPE_PEV_EVSE: u8 = 0x00;
/// SECURITY_TYPE 0x00: no security, the only value ISO 15118-3 uses.
pub const SECURITY_TYPE_NONE: u8 = 0x00;
/// RESP_TYPE 0x01: sounds are answered to another Green PHY station's host (the EV's).
pub const RESP_TYPE_OTHER_STATION: u8 = 0x01;

view! {
    /// A view of a CM_SLAC_PARM.REQ payload.
    pub struct Req, min_len = field::REQ_RUN_ID.end;
    /// APPLICATION_TYPE (0x00 PEV-EVSE association).
    application_type / set_application_type: u8 = field::REQ_APPLICATION_TYPE;
    /// SECURITY_TYPE (0x00 none).
    security_type / set_security_type: u8 = field::REQ_SECURITY_TYPE;
    /// RunID chosen by the EV for this run.
    run_id / set_run_id: RunId = field::REQ_RUN_ID;
}

view! {
    /// A view of a CM_SLAC_PARM.CNF payload.
    pub struct Cnf, min_len = field::CNF_RUN_ID.end;
    /// M-SOUND_TARGET, where the EV sends its sounds (broadcast).
    m_sound_target / set_m_sound_target: MacAddr = field::CNF_M_SOUND_TARGET;
    /// NUM_SOUNDS the EVSE expects (C_EV_match_MNBC).
    num_sounds / set_num_sounds: u8 = field::CNF_NUM_SOUNDS;
    /// Time_Out, TT_EVSE_match_MNBC in units of 100 ms.
    time_out / set_time_out: u8 = field::CNF_TIME_OUT;
    /// RESP_TYPE (0x01 other Green PHY station).
    resp_type / set_resp_type: u8 = field::CNF_RESP_TYPE;
    /// FORWARDING_STA, the EV host's MAC.
    forwarding_sta / set_forwarding_sta: MacAddr = field::CNF_FORWARDING_STA;
    /// APPLICATION_TYPE.
    application_type / set_application_type: u8 = field::CNF_APPLICATION_TYPE;
    /// SECURITY_TYPE.
    security_type / set_security_type: u8 = field::CNF_SECURITY_TYPE;
    /// RunID, echoed from the request.
    run_id / set_run_id: RunId = field::CNF_RUN_ID;
}

/// CM_SLAC_PARM.REQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReqRepr {
    /// APPLICATION_TYPE.
    pub application_type: u8,
    /// SECURITY_TYPE.
    pub security_type: u8,
    /// RunID.
    pub run_id: RunId,
}

impl ReqRepr {
    /// A request as ISO 15118-3 has the EV send it.
    pub const fn new(run_id: RunId) -> Self {
        Self {
            application_type: APPLICATION_TYPE_PEV_EVSE,
            security_type: SECURITY_TYPE_NONE,
            run_id,
        }
    }

    /// Reads a checked view.
    pub fn parse<T: AsRef<[u8]>>(p: &Req<T>) -> crate::Result<Self> {
        p.check_len()?;
        Ok(Self {
            application_type: p.application_type(),
            security_type: p.security_type(),
            run_id: p.run_id(),
        })
    }

    /// Payload bytes [`Self::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        field::REQ_RUN_ID.end
    }

    /// Writes into a view of at least [`Self::buffer_len`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Req<T>) {
        p.set_application_type(self.application_type);
        p.set_security_type(self.security_type);
        p.set_run_id(self.run_id);
    }
}

/// CM_SLAC_PARM.CNF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CnfRepr {
    /// M-SOUND_TARGET.
    pub m_sound_target: MacAddr,
    /// NUM_SOUNDS.
    pub num_sounds: u8,
    /// Time_Out in units of 100 ms.
    pub time_out: u8,
    /// RESP_TYPE.
    pub resp_type: u8,
    /// FORWARDING_STA.
    pub forwarding_sta: MacAddr,
    /// APPLICATION_TYPE.
    pub application_type: u8,
    /// SECURITY_TYPE.
    pub security_type: u8,
    /// RunID.
    pub run_id: RunId,
}

impl CnfRepr {
    /// Reads a checked view.
    pub fn parse<T: AsRef<[u8]>>(p: &Cnf<T>) -> crate::Result<Self> {
        p.check_len()?;
        Ok(Self {
            m_sound_target: p.m_sound_target(),
            num_sounds: p.num_sounds(),
            time_out: p.time_out(),
            resp_type: p.resp_type(),
            forwarding_sta: p.forwarding_sta(),
            application_type: p.application_type(),
            security_type: p.security_type(),
            run_id: p.run_id(),
        })
    }

    /// Payload bytes [`Self::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        field::CNF_RUN_ID.end
    }

    /// Writes into a view of at least [`Self::buffer_len`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Cnf<T>) {
        p.set_m_sound_target(self.m_sound_target);
        p.set_num_sounds(self.num_sounds);
        p.set_time_out(self.time_out);
        p.set_resp_type(self.resp_type);
        p.set_forwarding_sta(self.forwarding_sta);
        p.set_application_type(self.application_type);
        p.set_security_type(self.security_type);
        p.set_run_id(self.run_id);
    }
}
