//! CM_START_ATTEN_CHAR.IND (0x606A): the EV announces its M-Sounds, sent C_EV_start_atten_char_inds
//! (3) times in a row (ISO 15118-3 Annex A, HomePlug Green PHY 1.1 §11.5.38).

use crate::view::view;
use crate::{MacAddr, RunId};

/// Field ranges within the MME payload.
pub mod field {
    use core::ops::Range;

    /// APPLICATION_TYPE.
    pub const APPLICATION_TYPE: Range<usize> = 0..1;
    /// SECURITY_TYPE.
    pub const SECURITY_TYPE: Range<usize> = 1..2;
    /// NUM_SOUNDS.
    pub const NUM_SOUNDS: Range<usize> = 2..3;
    /// Time_Out, in units of 100 ms.
    pub const TIME_OUT: Range<usize> = 3..4;
    /// RESP_TYPE.
    pub const RESP_TYPE: Range<usize> = 4..5;
    /// FORWARDING_STA.
    pub const FORWARDING_STA: Range<usize> = 5..11;
    /// RunID.
    pub const RUN_ID: Range<usize> = 11..19;
}

view! {
    /// A view of a CM_START_ATTEN_CHAR.IND payload.
    pub struct Ind, min_len = field::RUN_ID.end;
    /// APPLICATION_TYPE.
    application_type / set_application_type: u8 = field::APPLICATION_TYPE;
    /// SECURITY_TYPE.
    security_type / set_security_type: u8 = field::SECURITY_TYPE;
    /// NUM_SOUNDS the EV will send.
    num_sounds / set_num_sounds: u8 = field::NUM_SOUNDS;
    /// Time_Out in units of 100 ms (the EV echoes the EVSE's TT_EVSE_match_MNBC).
    time_out / set_time_out: u8 = field::TIME_OUT;
    /// RESP_TYPE.
    resp_type / set_resp_type: u8 = field::RESP_TYPE;
    /// FORWARDING_STA, the EV host's MAC.
    forwarding_sta / set_forwarding_sta: MacAddr = field::FORWARDING_STA;
    /// RunID.
    run_id / set_run_id: RunId = field::RUN_ID;
}

/// CM_START_ATTEN_CHAR.IND.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndRepr {
    /// APPLICATION_TYPE.
    pub application_type: u8,
    /// SECURITY_TYPE.
    pub security_type: u8,
    /// NUM_SOUNDS.
    pub num_sounds: u8,
    /// Time_Out in units of 100 ms.
    pub time_out: u8,
    /// RESP_TYPE.
    pub resp_type: u8,
    /// FORWARDING_STA.
    pub forwarding_sta: MacAddr,
    /// RunID.
    pub run_id: RunId,
}

impl IndRepr {
    /// Reads a checked view.
    pub fn parse<T: AsRef<[u8]>>(p: &Ind<T>) -> crate::Result<Self> {
        p.check_len()?;
        Ok(Self {
            application_type: p.application_type(),
            security_type: p.security_type(),
            num_sounds: p.num_sounds(),
            time_out: p.time_out(),
            resp_type: p.resp_type(),
            forwarding_sta: p.forwarding_sta(),
            run_id: p.run_id(),
        })
    }

    /// Payload bytes [`Self::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        field::RUN_ID.end
    }

    /// Writes into a view of at least [`Self::buffer_len`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Ind<T>) {
        p.set_application_type(self.application_type);
        p.set_security_type(self.security_type);
        p.set_num_sounds(self.num_sounds);
        p.set_time_out(self.time_out);
        p.set_resp_type(self.resp_type);
        p.set_forwarding_sta(self.forwarding_sta);
        p.set_run_id(self.run_id);
    }
}
