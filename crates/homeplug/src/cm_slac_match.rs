//! CM_SLAC_MATCH.REQ (0x607C) and CM_SLAC_MATCH.CNF (0x607D): the EV picks the EVSE it is plugged
//! into and the EVSE answers with the NID and NMK of its network (ISO 15118-3 Annex A, HomePlug
//! Green PHY 1.1 §11.5.44-45).

use crate::view::view;
use crate::{MacAddr, Nid, Nmk, RunId, StationId};

/// Field ranges within the MME payload.
pub mod field {
    use core::ops::Range;

    /// APPLICATION_TYPE.
    pub const APPLICATION_TYPE: Range<usize> = 0..1;
    /// SECURITY_TYPE.
    pub const SECURITY_TYPE: Range<usize> = 1..2;
    /// MVFLength: bytes of the MatchVarField that follows (0x3E REQ, 0x56 CNF).
    pub const MVF_LENGTH: Range<usize> = 2..4;
    /// PEV ID.
    pub const PEV_ID: Range<usize> = 4..21;
    /// PEV MAC.
    pub const PEV_MAC: Range<usize> = 21..27;
    /// EVSE ID.
    pub const EVSE_ID: Range<usize> = 27..44;
    /// EVSE MAC.
    pub const EVSE_MAC: Range<usize> = 44..50;
    /// RunID (the first 8 bytes of a 16-byte field).
    pub const RUN_ID: Range<usize> = 50..58;
    /// The reserved second half of the 16-byte RunID field.
    pub const RESERVED_1: Range<usize> = 58..66;
    /// CNF: NID (7 bytes of an 8-byte field).
    pub const CNF_NID: Range<usize> = 66..73;
    /// CNF: the reserved eighth byte of the NID field.
    pub const CNF_RESERVED_2: Range<usize> = 73..74;
    /// CNF: NMK.
    pub const CNF_NMK: Range<usize> = 74..90;
}

/// MVFLength of a CM_SLAC_MATCH.REQ: 62 bytes of MatchVarField.
pub const REQ_MVF_LENGTH: u16 = 0x3E;
/// MVFLength of a CM_SLAC_MATCH.CNF: 86 bytes of MatchVarField.
pub const CNF_MVF_LENGTH: u16 = 0x56;

view! {
    /// A view of a CM_SLAC_MATCH.REQ payload.
    pub struct Req, min_len = field::RESERVED_1.end;
    /// APPLICATION_TYPE.
    application_type / set_application_type: u8 = field::APPLICATION_TYPE;
    /// SECURITY_TYPE.
    security_type / set_security_type: u8 = field::SECURITY_TYPE;
    /// MVFLength.
    mvf_length / set_mvf_length: u16 = field::MVF_LENGTH;
    /// PEV ID.
    pev_id / set_pev_id: StationId = field::PEV_ID;
    /// PEV MAC.
    pev_mac / set_pev_mac: MacAddr = field::PEV_MAC;
    /// EVSE ID.
    evse_id / set_evse_id: StationId = field::EVSE_ID;
    /// EVSE MAC.
    evse_mac / set_evse_mac: MacAddr = field::EVSE_MAC;
    /// RunID.
    run_id / set_run_id: RunId = field::RUN_ID;
    /// Reserved bytes after the RunID.
    reserved / set_reserved: [u8; 8] = field::RESERVED_1;
}

view! {
    /// A view of a CM_SLAC_MATCH.CNF payload.
    pub struct Cnf, min_len = field::CNF_NMK.end;
    /// APPLICATION_TYPE.
    application_type / set_application_type: u8 = field::APPLICATION_TYPE;
    /// SECURITY_TYPE.
    security_type / set_security_type: u8 = field::SECURITY_TYPE;
    /// MVFLength.
    mvf_length / set_mvf_length: u16 = field::MVF_LENGTH;
    /// PEV ID.
    pev_id / set_pev_id: StationId = field::PEV_ID;
    /// PEV MAC.
    pev_mac / set_pev_mac: MacAddr = field::PEV_MAC;
    /// EVSE ID.
    evse_id / set_evse_id: StationId = field::EVSE_ID;
    /// EVSE MAC.
    evse_mac / set_evse_mac: MacAddr = field::EVSE_MAC;
    /// RunID.
    run_id / set_run_id: RunId = field::RUN_ID;
    /// Reserved bytes after the RunID.
    reserved / set_reserved: [u8; 8] = field::RESERVED_1;
    /// NID of the EVSE's network.
    nid / set_nid: Nid = field::CNF_NID;
    /// Reserved byte after the NID.
    reserved_2 / set_reserved_2: u8 = field::CNF_RESERVED_2;
    /// NMK of the EVSE's network.
    nmk / set_nmk: Nmk = field::CNF_NMK;
}

/// CM_SLAC_MATCH.REQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReqRepr {
    /// APPLICATION_TYPE.
    pub application_type: u8,
    /// SECURITY_TYPE.
    pub security_type: u8,
    /// MVFLength as sent ([`REQ_MVF_LENGTH`]).
    pub mvf_length: u16,
    /// PEV ID.
    pub pev_id: StationId,
    /// PEV MAC.
    pub pev_mac: MacAddr,
    /// EVSE ID.
    pub evse_id: StationId,
    /// EVSE MAC.
    pub evse_mac: MacAddr,
    /// RunID.
    pub run_id: RunId,
}

impl ReqRepr {
    /// Reads a checked view. The reserved bytes are not kept: they are sent as zeros.
    pub fn parse<T: AsRef<[u8]>>(p: &Req<T>) -> crate::Result<Self> {
        p.check_len()?;
        Ok(Self {
            application_type: p.application_type(),
            security_type: p.security_type(),
            mvf_length: p.mvf_length(),
            pev_id: p.pev_id(),
            pev_mac: p.pev_mac(),
            evse_id: p.evse_id(),
            evse_mac: p.evse_mac(),
            run_id: p.run_id(),
        })
    }

    /// Payload bytes [`Self::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        field::RESERVED_1.end
    }

    /// Writes into a view of at least [`Self::buffer_len`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Req<T>) {
        p.set_application_type(self.application_type);
        p.set_security_type(self.security_type);
        p.set_mvf_length(self.mvf_length);
        p.set_pev_id(self.pev_id);
        p.set_pev_mac(self.pev_mac);
        p.set_evse_id(self.evse_id);
        p.set_evse_mac(self.evse_mac);
        p.set_run_id(self.run_id);
        p.set_reserved([0; 8]);
    }
}

/// CM_SLAC_MATCH.CNF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CnfRepr {
    /// APPLICATION_TYPE.
    pub application_type: u8,
    /// SECURITY_TYPE.
    pub security_type: u8,
    /// MVFLength as sent ([`CNF_MVF_LENGTH`]).
    pub mvf_length: u16,
    /// PEV ID.
    pub pev_id: StationId,
    /// PEV MAC.
    pub pev_mac: MacAddr,
    /// EVSE ID.
    pub evse_id: StationId,
    /// EVSE MAC.
    pub evse_mac: MacAddr,
    /// RunID.
    pub run_id: RunId,
    /// NID.
    pub nid: Nid,
    /// NMK.
    pub nmk: Nmk,
}

impl CnfRepr {
    /// Reads a checked view. The reserved bytes are not kept: they are sent as zeros.
    pub fn parse<T: AsRef<[u8]>>(p: &Cnf<T>) -> crate::Result<Self> {
        p.check_len()?;
        Ok(Self {
            application_type: p.application_type(),
            security_type: p.security_type(),
            mvf_length: p.mvf_length(),
            pev_id: p.pev_id(),
            pev_mac: p.pev_mac(),
            evse_id: p.evse_id(),
            evse_mac: p.evse_mac(),
            run_id: p.run_id(),
            nid: p.nid(),
            nmk: p.nmk(),
        })
    }

    /// Payload bytes [`Self::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        field::CNF_NMK.end
    }

    /// Writes into a view of at least [`Self::buffer_len`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Cnf<T>) {
        p.set_application_type(self.application_type);
        p.set_security_type(self.security_type);
        p.set_mvf_length(self.mvf_length);
        p.set_pev_id(self.pev_id);
        p.set_pev_mac(self.pev_mac);
        p.set_evse_id(self.evse_id);
        p.set_evse_mac(self.evse_mac);
        p.set_run_id(self.run_id);
        p.set_reserved([0; 8]);
        p.set_nid(self.nid);
        p.set_reserved_2(0);
        p.set_nmk(self.nmk);
    }
}
