//! CM_SET_KEY.REQ (0x6008) and CM_SET_KEY.CNF (0x6009): a host programs the NMK (and NID) of the
//! network its modem shall join (HomePlug AV 1.1 §11.5.5-6; ISO 15118-3 uses it on both sides).
//!
//! Note on CNF Result: HomePlug defines 0x00 as success, but QCA7000/7005 modems answer 0x01 even
//! though they apply the key (seen in every capture we have), and Qualcomm's own tools treat 0x00
//! as a refusal. Callers should take any CNF as "the modem has the key".

use crate::view::view;
use crate::{Nid, Nmk};

/// Field ranges within the MME payload.
pub mod field {
    use core::ops::Range;

    /// REQ: Key Type. CNF: Result.
    pub const KEY_TYPE_OR_RESULT: Range<usize> = 0..1;
    /// My Nonce.
    pub const MY_NONCE: Range<usize> = 1..5;
    /// Your Nonce.
    pub const YOUR_NONCE: Range<usize> = 5..9;
    /// PID, protocol ID (0x04 HLE).
    pub const PID: Range<usize> = 9..10;
    /// PRN, protocol run number.
    pub const PRN: Range<usize> = 10..12;
    /// PMN, protocol message number.
    pub const PMN: Range<usize> = 12..13;
    /// CCo Capability.
    pub const CCO_CAPABILITY: Range<usize> = 13..14;
    /// REQ: NID.
    pub const REQ_NID: Range<usize> = 14..21;
    /// REQ: NewEKS, payload encryption key select (0x01 NMK known to the station).
    pub const REQ_NEW_EKS: Range<usize> = 21..22;
    /// REQ: NewKey.
    pub const REQ_NEW_KEY: Range<usize> = 22..38;
}

/// Key Type 0x01: NMK (AES-128).
pub const KEY_TYPE_NMK: u8 = 0x01;
/// PID 0x04: HLE protocol.
pub const PID_HLE: u8 = 0x04;
/// NewEKS 0x01: NMK known to the station.
pub const NEW_EKS_NMK: u8 = 0x01;

view! {
    /// A view of a CM_SET_KEY.REQ payload (with a 16-byte NewKey, as for an NMK).
    pub struct Req, min_len = field::REQ_NEW_KEY.end;
    /// Key Type.
    key_type / set_key_type: u8 = field::KEY_TYPE_OR_RESULT;
    /// My Nonce.
    my_nonce / set_my_nonce: u32 = field::MY_NONCE;
    /// Your Nonce.
    your_nonce / set_your_nonce: u32 = field::YOUR_NONCE;
    /// PID.
    pid / set_pid: u8 = field::PID;
    /// PRN.
    prn / set_prn: u16 = field::PRN;
    /// PMN.
    pmn / set_pmn: u8 = field::PMN;
    /// CCo Capability.
    cco_capability / set_cco_capability: u8 = field::CCO_CAPABILITY;
    /// NID.
    nid / set_nid: Nid = field::REQ_NID;
    /// NewEKS.
    new_eks / set_new_eks: u8 = field::REQ_NEW_EKS;
    /// NewKey.
    new_key / set_new_key: Nmk = field::REQ_NEW_KEY;
}

view! {
    /// A view of a CM_SET_KEY.CNF payload.
    pub struct Cnf, min_len = field::CCO_CAPABILITY.end;
    /// Result (see the module note on QCA modems).
    result / set_result: u8 = field::KEY_TYPE_OR_RESULT;
    /// My Nonce.
    my_nonce / set_my_nonce: u32 = field::MY_NONCE;
    /// Your Nonce.
    your_nonce / set_your_nonce: u32 = field::YOUR_NONCE;
    /// PID.
    pid / set_pid: u8 = field::PID;
    /// PRN.
    prn / set_prn: u16 = field::PRN;
    /// PMN.
    pmn / set_pmn: u8 = field::PMN;
    /// CCo Capability.
    cco_capability / set_cco_capability: u8 = field::CCO_CAPABILITY;
}

/// CM_SET_KEY.REQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReqRepr {
    /// Key Type.
    pub key_type: u8,
    /// My Nonce.
    pub my_nonce: u32,
    /// Your Nonce.
    pub your_nonce: u32,
    /// PID.
    pub pid: u8,
    /// PRN.
    pub prn: u16,
    /// PMN.
    pub pmn: u8,
    /// CCo Capability.
    pub cco_capability: u8,
    /// NID.
    pub nid: Nid,
    /// NewEKS.
    pub new_eks: u8,
    /// NewKey.
    pub new_key: Nmk,
}

impl ReqRepr {
    /// The request that programs an NMK and NID into the local modem, as ISO 15118-3 stations
    /// send it: no nonces, HLE protocol, station-only CCo capability.
    pub const fn set_nmk(nmk: Nmk, nid: Nid) -> Self {
        Self {
            key_type: KEY_TYPE_NMK,
            my_nonce: 0,
            your_nonce: 0,
            pid: PID_HLE,
            prn: 0,
            pmn: 0,
            cco_capability: 0,
            nid,
            new_eks: NEW_EKS_NMK,
            new_key: nmk,
        }
    }

    /// Reads a checked view.
    pub fn parse<T: AsRef<[u8]>>(p: &Req<T>) -> crate::Result<Self> {
        p.check_len()?;
        Ok(Self {
            key_type: p.key_type(),
            my_nonce: p.my_nonce(),
            your_nonce: p.your_nonce(),
            pid: p.pid(),
            prn: p.prn(),
            pmn: p.pmn(),
            cco_capability: p.cco_capability(),
            nid: p.nid(),
            new_eks: p.new_eks(),
            new_key: p.new_key(),
        })
    }

    /// Payload bytes [`Self::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        field::REQ_NEW_KEY.end
    }

    /// Writes into a view of at least [`Self::buffer_len`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Req<T>) {
        p.set_key_type(self.key_type);
        p.set_my_nonce(self.my_nonce);
        p.set_your_nonce(self.your_nonce);
        p.set_pid(self.pid);
        p.set_prn(self.prn);
        p.set_pmn(self.pmn);
        p.set_cco_capability(self.cco_capability);
        p.set_nid(self.nid);
        p.set_new_eks(self.new_eks);
        p.set_new_key(self.new_key);
    }
}

/// CM_SET_KEY.CNF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CnfRepr {
    /// Result.
    pub result: u8,
    /// My Nonce.
    pub my_nonce: u32,
    /// Your Nonce.
    pub your_nonce: u32,
    /// PID.
    pub pid: u8,
    /// PRN.
    pub prn: u16,
    /// PMN.
    pub pmn: u8,
    /// CCo Capability.
    pub cco_capability: u8,
}

impl CnfRepr {
    /// Reads a checked view.
    pub fn parse<T: AsRef<[u8]>>(p: &Cnf<T>) -> crate::Result<Self> {
        p.check_len()?;
        Ok(Self {
            result: p.result(),
            my_nonce: p.my_nonce(),
            your_nonce: p.your_nonce(),
            pid: p.pid(),
            prn: p.prn(),
            pmn: p.pmn(),
            cco_capability: p.cco_capability(),
        })
    }

    /// Payload bytes [`Self::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        field::CCO_CAPABILITY.end
    }

    /// Writes into a view of at least [`Self::buffer_len`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Cnf<T>) {
        p.set_result(self.result);
        p.set_my_nonce(self.my_nonce);
        p.set_your_nonce(self.your_nonce);
        p.set_pid(self.pid);
        p.set_prn(self.prn);
        p.set_pmn(self.pmn);
        p.set_cco_capability(self.cco_capability);
    }
}
