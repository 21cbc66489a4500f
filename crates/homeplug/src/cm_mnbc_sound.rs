//! CM_MNBC_SOUND.IND (0x6076): one M-Sound, broadcast C_EV_match_MNBC (10) times by the EV; each
//! EVSE's modem measures its attenuation (ISO 15118-3 Annex A, HomePlug Green PHY 1.1 §11.5.41).

use crate::view::view;
use crate::{RunId, StationId};

/// Field ranges within the MME payload.
pub mod field {
    use core::ops::Range;

    /// APPLICATION_TYPE.
    pub const APPLICATION_TYPE: Range<usize> = 0..1;
    /// SECURITY_TYPE.
    pub const SECURITY_TYPE: Range<usize> = 1..2;
    /// SenderID (the EV's VIN, zeros in practice).
    pub const SENDER_ID: Range<usize> = 2..19;
    /// Cnt, the number of sounds still to come.
    pub const CNT: Range<usize> = 19..20;
    /// RunID (the first 8 bytes of a 16-byte field).
    pub const RUN_ID: Range<usize> = 20..28;
    /// The reserved second half of the 16-byte RunID field.
    pub const RESERVED: Range<usize> = 28..36;
    /// RND, 16 random bytes.
    pub const RND: Range<usize> = 36..52;
}

view! {
    /// A view of a CM_MNBC_SOUND.IND payload.
    pub struct Ind, min_len = field::RND.end;
    /// APPLICATION_TYPE.
    application_type / set_application_type: u8 = field::APPLICATION_TYPE;
    /// SECURITY_TYPE.
    security_type / set_security_type: u8 = field::SECURITY_TYPE;
    /// SenderID.
    sender_id / set_sender_id: StationId = field::SENDER_ID;
    /// Cnt: sounds remaining after this one.
    count / set_count: u8 = field::CNT;
    /// RunID.
    run_id / set_run_id: RunId = field::RUN_ID;
    /// Reserved bytes after the RunID.
    reserved / set_reserved: [u8; 8] = field::RESERVED;
    /// RND.
    random / set_random: [u8; 16] = field::RND;
}

/// CM_MNBC_SOUND.IND.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndRepr {
    /// APPLICATION_TYPE.
    pub application_type: u8,
    /// SECURITY_TYPE.
    pub security_type: u8,
    /// SenderID.
    pub sender_id: StationId,
    /// Cnt: sounds remaining after this one.
    pub count: u8,
    /// RunID.
    pub run_id: RunId,
    /// RND.
    pub random: [u8; 16],
}

impl IndRepr {
    /// Reads a checked view. The reserved bytes are not kept: they are sent as zeros.
    pub fn parse<T: AsRef<[u8]>>(p: &Ind<T>) -> crate::Result<Self> {
        p.check_len()?;
        Ok(Self {
            application_type: p.application_type(),
            security_type: p.security_type(),
            sender_id: p.sender_id(),
            count: p.count(),
            run_id: p.run_id(),
            random: p.random(),
        })
    }

    /// Payload bytes [`Self::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        field::RND.end
    }

    /// Writes into a view of at least [`Self::buffer_len`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Ind<T>) {
        p.set_application_type(self.application_type);
        p.set_security_type(self.security_type);
        p.set_sender_id(self.sender_id);
        p.set_count(self.count);
        p.set_run_id(self.run_id);
        p.set_reserved([0; 8]);
        p.set_random(self.random);
    }
}
