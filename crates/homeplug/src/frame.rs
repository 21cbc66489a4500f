//! Whole Ethernet frames carrying one MME: Ethernet header, MME header (MMV, MMTYPE, FMI), payload.

use crate::error::need;
use crate::{
    Error, MacAddr, MmType, Mmv, QUALCOMM_OUI, WireField, cm_atten_char, cm_atten_profile,
    cm_mnbc_sound, cm_set_key, cm_slac_match, cm_slac_param, cm_start_atten_char, cm_validate,
    vs_mod_nvm, vs_module_operation, vs_pl_link_status, vs_rd_mod, vs_rs_dev, vs_sw_ver, vs_wr_mod,
    vs_write_execute_applet,
};

/// Ethertype of HomePlug AV / Green PHY management messages.
pub const ETHERTYPE_HOMEPLUG: u16 = 0x88E1;

/// The shortest Ethernet frame without FCS. Shorter MMEs are padded with zeros to this length.
pub const MIN_FRAME_LEN: usize = 60;

/// Field ranges of the Ethernet and MME headers.
pub mod field {
    use core::ops::Range;

    /// Destination MAC (ODA).
    pub const DESTINATION: Range<usize> = 0..6;
    /// Source MAC (OSA).
    pub const SOURCE: Range<usize> = 6..12;
    /// Ethertype, big-endian (0x88E1).
    pub const ETHERTYPE: Range<usize> = 12..14;
    /// MMV.
    pub const MMV: Range<usize> = 14..15;
    /// MMTYPE, little-endian.
    pub const MMTYPE: Range<usize> = 15..17;
    /// FMI, present unless MMV is 0x00 (HomePlug AV 1.0).
    pub const FMI: Range<usize> = 17..19;
}

/// FMI, the fragmentation management information of MMV 1.1 and later headers: the first byte
/// holds the number of fragments minus one (high nibble) and this fragment's number (low nibble),
/// the second the fragmentation message sequence number. Every SLAC message is a single fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Fmi(pub [u8; 2]);

impl Fmi {
    /// A message in one fragment, sequence number 0.
    pub const UNFRAGMENTED: Self = Self([0, 0]);

    /// True if the message is split over several frames; this frame then holds only a part.
    pub const fn is_fragmented(self) -> bool {
        self.0[0] != 0
    }
}

/// A view of an Ethernet frame carrying a HomePlug MME.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wraps a buffer without checking its length; accessors may panic on a short one.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer, checking that the headers fit.
    pub fn new_checked(buffer: T) -> crate::Result<Self> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// Ensures that no accessor will panic: the Ethernet header and the whole MME header (whose
    /// length depends on the MMV) are present.
    pub fn check_len(&self) -> crate::Result<()> {
        let len = self.buffer.as_ref().len();
        need(len, field::MMTYPE.end)?;
        need(len, self.header_len())
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Destination MAC.
    pub fn dst(&self) -> MacAddr {
        MacAddr::read(&self.buffer.as_ref()[field::DESTINATION])
    }

    /// Source MAC.
    pub fn src(&self) -> MacAddr {
        MacAddr::read(&self.buffer.as_ref()[field::SOURCE])
    }

    /// Ethertype.
    pub fn ethertype(&self) -> u16 {
        u16::from_be_bytes(<[u8; 2]>::read(&self.buffer.as_ref()[field::ETHERTYPE]))
    }

    /// MMV.
    pub fn mmv(&self) -> Mmv {
        Mmv(self.buffer.as_ref()[field::MMV.start])
    }

    /// MMTYPE.
    pub fn mmtype(&self) -> MmType {
        MmType(u16::read(&self.buffer.as_ref()[field::MMTYPE]))
    }

    /// FMI ([`Fmi::UNFRAGMENTED`] for MMV 0x00, which has none).
    pub fn fmi(&self) -> Fmi {
        if self.mmv().has_fmi() {
            Fmi(<[u8; 2]>::read(&self.buffer.as_ref()[field::FMI]))
        } else {
            Fmi::UNFRAGMENTED
        }
    }

    /// Length of Ethernet plus MME header: 17 bytes for MMV 0x00, 19 with FMI.
    pub fn header_len(&self) -> usize {
        header_len(self.mmv())
    }

    /// The MME payload: everything after the header, padding included.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// Sets the destination MAC.
    pub fn set_dst(&mut self, value: MacAddr) {
        value.write(&mut self.buffer.as_mut()[field::DESTINATION]);
    }

    /// Sets the source MAC.
    pub fn set_src(&mut self, value: MacAddr) {
        value.write(&mut self.buffer.as_mut()[field::SOURCE]);
    }

    /// Sets the ethertype.
    pub fn set_ethertype(&mut self, value: u16) {
        value
            .to_be_bytes()
            .write(&mut self.buffer.as_mut()[field::ETHERTYPE]);
    }

    /// Sets the MMV. The header length follows it: set the MMV before the payload.
    pub fn set_mmv(&mut self, value: Mmv) {
        self.buffer.as_mut()[field::MMV.start] = value.0;
    }

    /// Sets the MMTYPE.
    pub fn set_mmtype(&mut self, value: MmType) {
        value.0.write(&mut self.buffer.as_mut()[field::MMTYPE]);
    }

    /// Sets the FMI; ignored for MMV 0x00, which has none.
    pub fn set_fmi(&mut self, value: Fmi) {
        if self.mmv().has_fmi() {
            value.0.write(&mut self.buffer.as_mut()[field::FMI]);
        }
    }

    /// The MME payload, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }
}

impl WireField for [u8; 2] {
    const LEN: usize = 2;
    fn read(bytes: &[u8]) -> Self {
        let mut out = [0; 2];
        let n = bytes.len().min(2);
        out[..n].copy_from_slice(&bytes[..n]);
        out
    }
    fn write(&self, bytes: &mut [u8]) {
        let n = bytes.len().min(2);
        bytes[..n].copy_from_slice(&self[..n]);
    }
}

const fn header_len(mmv: Mmv) -> usize {
    if mmv.has_fmi() {
        field::FMI.end
    } else {
        field::MMTYPE.end
    }
}

/// A whole frame: addresses, MME header and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repr {
    /// Destination MAC.
    pub dst: MacAddr,
    /// Source MAC.
    pub src: MacAddr,
    /// MMV as sent.
    pub mmv: Mmv,
    /// FMI as sent ([`Fmi::UNFRAGMENTED`] for MMV 0x00).
    pub fmi: Fmi,
    /// The message.
    pub message: Message,
}

impl Repr {
    /// A frame with the MMV the message is defined with ([`Message::default_mmv`]), unfragmented.
    pub fn new(dst: MacAddr, src: MacAddr, message: Message) -> Self {
        Self {
            dst,
            src,
            mmv: message.default_mmv(),
            fmi: Fmi::UNFRAGMENTED,
            message,
        }
    }

    /// Parses a checked frame. Unknown MMTYPEs, vendor MMEs of other vendors and fragments become
    /// [`Message::Unknown`]; a known message too short for its fields is an error.
    pub fn parse<T: AsRef<[u8]>>(frame: &Frame<T>) -> crate::Result<Self> {
        frame.check_len()?;
        let ethertype = frame.ethertype();
        if ethertype != ETHERTYPE_HOMEPLUG {
            return Err(Error::EtherType(ethertype));
        }
        let fmi = frame.fmi();
        let message = if fmi.is_fragmented() {
            Message::Unknown {
                mmtype: frame.mmtype(),
                payload: frame.payload().to_vec(),
            }
        } else {
            Message::parse(frame.mmtype(), frame.payload())?
        };
        Ok(Self {
            dst: frame.dst(),
            src: frame.src(),
            mmv: frame.mmv(),
            fmi,
            message,
        })
    }

    /// Parses raw bytes: [`Frame::new_checked`] then [`Self::parse`].
    pub fn parse_bytes(bytes: &[u8]) -> crate::Result<Self> {
        Self::parse(&Frame::new_checked(bytes)?)
    }

    /// Frame bytes [`Self::emit`] writes, padding to [`MIN_FRAME_LEN`] included.
    pub fn buffer_len(&self) -> usize {
        (header_len(self.mmv) + self.message.buffer_len()).max(MIN_FRAME_LEN)
    }

    /// Writes into a frame of at least [`Self::buffer_len`] bytes; bytes after the message up to
    /// [`Self::buffer_len`] are zeroed (padding).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut Frame<T>) {
        frame.set_dst(self.dst);
        frame.set_src(self.src);
        frame.set_ethertype(ETHERTYPE_HOMEPLUG);
        frame.set_mmv(self.mmv);
        frame.set_mmtype(self.message.mmtype());
        frame.set_fmi(self.fmi);
        let end = self.buffer_len() - frame.header_len();
        let payload = frame.payload_mut();
        let end = end.min(payload.len());
        payload[..end].fill(0);
        self.message.emit(&mut payload[..end]);
    }

    /// The frame as a new buffer of [`Self::buffer_len`] bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buf = vec![0; self.buffer_len()];
        self.emit(&mut Frame::new_unchecked(&mut buf[..]));
        buf
    }
}

macro_rules! messages {
    ($(
        $(#[$doc:meta])*
        $variant:ident($module:ident :: $repr:ident, $view:ident) = $mmtype:ident, $vendor:literal;
    )*) => {
        /// The message inside a frame, one variant per MMTYPE this crate models, in MMTYPE order.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Message {
            $($(#[$doc])* $variant($module::$repr),)*
            /// Any other MMTYPE, a vendor MME of another vendor, or a fragment: kept as it came.
            Unknown {
                /// MMTYPE.
                mmtype: MmType,
                /// The payload after the MME header, padding included.
                payload: Vec<u8>,
            },
        }

        impl Message {
            /// This message's MMTYPE.
            pub fn mmtype(&self) -> MmType {
                match self {
                    $(Self::$variant(_) => MmType::$mmtype,)*
                    Self::Unknown { mmtype, .. } => *mmtype,
                }
            }

            /// The MMV the message is defined with: 0x01 (AV 1.1) for the HomePlug CM_*
            /// messages, 0x00 (AV 1.0) for the Qualcomm VS_* ones.
            pub fn default_mmv(&self) -> Mmv {
                match self {
                    $(Self::$variant(_) => if $vendor { Mmv::AV_1_0 } else { Mmv::AV_1_1 },)*
                    Self::Unknown { mmtype, .. } => {
                        if mmtype.is_vendor_specific() { Mmv::AV_1_0 } else { Mmv::AV_1_1 }
                    }
                }
            }

            /// Parses a payload of the given MMTYPE.
            pub fn parse(mmtype: MmType, payload: &[u8]) -> crate::Result<Self> {
                match mmtype {
                    $(MmType::$mmtype if !$vendor || payload.starts_with(&QUALCOMM_OUI) => {
                        $module::$repr::parse(&$module::$view::new_unchecked(payload))
                            .map(Self::$variant)
                    })*
                    _ => Ok(Self::Unknown { mmtype, payload: payload.to_vec() }),
                }
            }

            /// Payload bytes [`Self::emit`] writes.
            pub fn buffer_len(&self) -> usize {
                match self {
                    $(Self::$variant(repr) => repr.buffer_len(),)*
                    Self::Unknown { payload, .. } => payload.len(),
                }
            }

            /// Writes the payload into a buffer of at least [`Self::buffer_len`] bytes.
            pub fn emit(&self, payload: &mut [u8]) {
                match self {
                    $(Self::$variant(repr) => repr.emit(&mut $module::$view::new_unchecked(payload)),)*
                    Self::Unknown { payload: raw, .. } => {
                        let n = raw.len().min(payload.len());
                        payload[..n].copy_from_slice(&raw[..n]);
                    }
                }
            }
        }
    };
}

messages! {
    /// CM_SET_KEY.REQ.
    SetKeyReq(cm_set_key::ReqRepr, Req) = CM_SET_KEY_REQ, false;
    /// CM_SET_KEY.CNF.
    SetKeyCnf(cm_set_key::CnfRepr, Cnf) = CM_SET_KEY_CNF, false;
    /// CM_SLAC_PARM.REQ.
    SlacParamReq(cm_slac_param::ReqRepr, Req) = CM_SLAC_PARAM_REQ, false;
    /// CM_SLAC_PARM.CNF.
    SlacParamCnf(cm_slac_param::CnfRepr, Cnf) = CM_SLAC_PARAM_CNF, false;
    /// CM_START_ATTEN_CHAR.IND.
    StartAttenCharInd(cm_start_atten_char::IndRepr, Ind) = CM_START_ATTEN_CHAR_IND, false;
    /// CM_ATTEN_CHAR.IND.
    AttenCharInd(cm_atten_char::IndRepr, Ind) = CM_ATTEN_CHAR_IND, false;
    /// CM_ATTEN_CHAR.RSP.
    AttenCharRsp(cm_atten_char::RspRepr, Rsp) = CM_ATTEN_CHAR_RSP, false;
    /// CM_MNBC_SOUND.IND.
    MnbcSoundInd(cm_mnbc_sound::IndRepr, Ind) = CM_MNBC_SOUND_IND, false;
    /// CM_VALIDATE.REQ.
    ValidateReq(cm_validate::ReqRepr, Req) = CM_VALIDATE_REQ, false;
    /// CM_VALIDATE.CNF.
    ValidateCnf(cm_validate::CnfRepr, Cnf) = CM_VALIDATE_CNF, false;
    /// CM_SLAC_MATCH.REQ.
    SlacMatchReq(cm_slac_match::ReqRepr, Req) = CM_SLAC_MATCH_REQ, false;
    /// CM_SLAC_MATCH.CNF.
    SlacMatchCnf(cm_slac_match::CnfRepr, Cnf) = CM_SLAC_MATCH_CNF, false;
    /// CM_ATTEN_PROFILE.IND.
    AttenProfileInd(cm_atten_profile::IndRepr, Ind) = CM_ATTEN_PROFILE_IND, false;
    /// VS_SW_VER.REQ.
    SwVerReq(vs_sw_ver::ReqRepr, Req) = VS_SW_VER_REQ, true;
    /// VS_SW_VER.CNF.
    SwVerCnf(vs_sw_ver::CnfRepr, Cnf) = VS_SW_VER_CNF, true;
    /// VS_RS_DEV.REQ.
    RsDevReq(vs_rs_dev::ReqRepr, Req) = VS_RS_DEV_REQ, true;
    /// VS_RS_DEV.CNF.
    RsDevCnf(vs_rs_dev::CnfRepr, Cnf) = VS_RS_DEV_CNF, true;
    /// VS_WR_MOD.REQ.
    WrModReq(vs_wr_mod::ReqRepr, Req) = VS_WR_MOD_REQ, true;
    /// VS_WR_MOD.CNF.
    WrModCnf(vs_wr_mod::CnfRepr, Cnf) = VS_WR_MOD_CNF, true;
    /// VS_RD_MOD.REQ.
    RdModReq(vs_rd_mod::ReqRepr, Req) = VS_RD_MOD_REQ, true;
    /// VS_RD_MOD.CNF.
    RdModCnf(vs_rd_mod::CnfRepr, Cnf) = VS_RD_MOD_CNF, true;
    /// VS_MOD_NVM.REQ.
    ModNvmReq(vs_mod_nvm::ReqRepr, Req) = VS_MOD_NVM_REQ, true;
    /// VS_MOD_NVM.CNF.
    ModNvmCnf(vs_mod_nvm::CnfRepr, Cnf) = VS_MOD_NVM_CNF, true;
    /// VS_MODULE_OPERATION.REQ.
    ModuleOperationReq(vs_module_operation::ReqRepr, Req) = VS_MODULE_OPERATION_REQ, true;
    /// VS_MODULE_OPERATION.CNF.
    ModuleOperationCnf(vs_module_operation::CnfRepr, Cnf) = VS_MODULE_OPERATION_CNF, true;
    /// VS_PL_LINK_STATUS.REQ.
    LinkStatusReq(vs_pl_link_status::ReqRepr, Req) = VS_PL_LINK_STATUS_REQ, true;
    /// VS_PL_LINK_STATUS.CNF.
    LinkStatusCnf(vs_pl_link_status::CnfRepr, Cnf) = VS_PL_LINK_STATUS_CNF, true;
    /// VS_WRITE_AND_EXECUTE_APPLET.REQ.
    WriteExecuteAppletReq(vs_write_execute_applet::ReqRepr, Req) = VS_WRITE_AND_EXECUTE_APPLET_REQ, true;
    /// VS_WRITE_AND_EXECUTE_APPLET.CNF.
    WriteExecuteAppletCnf(vs_write_execute_applet::CnfRepr, Cnf) = VS_WRITE_AND_EXECUTE_APPLET_CNF, true;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RunId;

    #[test]
    fn header_length_follows_mmv() {
        let mut buf = [0u8; 19];
        let mut frame = Frame::new_unchecked(&mut buf[..]);
        frame.set_mmv(Mmv::AV_1_0);
        assert_eq!(frame.header_len(), 17);
        frame.set_mmv(Mmv::AV_1_1);
        assert_eq!(frame.header_len(), 19);
        assert!(Frame::new_checked(&buf[..18]).is_err());
        assert_eq!(
            Frame::new_checked(&buf[..16]).unwrap_err(),
            Error::Truncated { need: 17, len: 16 }
        );
    }

    #[test]
    fn other_ethertypes_are_refused() {
        let mut bytes = Repr::new(
            MacAddr::BROADCAST,
            MacAddr([2, 0, 0, 0, 0, 2]),
            Message::SlacParamReq(cm_slac_param::ReqRepr::new(RunId([1; 8]))),
        )
        .to_bytes();
        bytes[12..14].copy_from_slice(&0x86DDu16.to_be_bytes());
        assert_eq!(Repr::parse_bytes(&bytes), Err(Error::EtherType(0x86DD)));
    }

    #[test]
    fn short_messages_are_padded_to_the_ethernet_minimum() {
        let repr = Repr::new(
            MacAddr::QCA_LOCAL,
            MacAddr([2, 0, 0, 0, 0, 1]),
            Message::SwVerReq(vs_sw_ver::ReqRepr::default()),
        );
        let bytes = repr.to_bytes();
        assert_eq!(bytes.len(), MIN_FRAME_LEN);
        assert_eq!(&bytes[14..20], &[0x00, 0x00, 0xA0, 0x00, 0xB0, 0x52]);
        assert_eq!(Repr::parse_bytes(&bytes).unwrap(), repr);
    }

    #[test]
    fn fragments_and_foreign_vendor_messages_are_kept_raw() {
        let mut bytes = Repr::new(
            MacAddr::BROADCAST,
            MacAddr([2, 0, 0, 0, 0, 2]),
            Message::SlacParamReq(cm_slac_param::ReqRepr::new(RunId([1; 8]))),
        )
        .to_bytes();
        bytes[17] = 0x10; // two fragments, this is the first
        let repr = Repr::parse_bytes(&bytes).unwrap();
        assert!(matches!(
            repr.message,
            Message::Unknown {
                mmtype: MmType::CM_SLAC_PARAM_REQ,
                ..
            }
        ));
        assert_eq!(repr.to_bytes(), bytes);

        // VS_SW_VER.CNF with a Lumissil OUI is not Qualcomm's message.
        let mut bytes = vec![0u8; 60];
        bytes[12..14].copy_from_slice(&ETHERTYPE_HOMEPLUG.to_be_bytes());
        bytes[15..17].copy_from_slice(&0xA001u16.to_le_bytes());
        bytes[17..20].copy_from_slice(&[0x00, 0x16, 0xE8]);
        let repr = Repr::parse_bytes(&bytes).unwrap();
        assert!(matches!(
            repr.message,
            Message::Unknown {
                mmtype: MmType::VS_SW_VER_CNF,
                ..
            }
        ));
        assert_eq!(repr.to_bytes(), bytes);
    }

    #[test]
    fn truncated_known_messages_are_errors() {
        let bytes = Repr::new(
            MacAddr::BROADCAST,
            MacAddr([2, 0, 0, 0, 0, 2]),
            Message::SlacParamReq(cm_slac_param::ReqRepr::new(RunId([1; 8]))),
        )
        .to_bytes();
        assert_eq!(
            Repr::parse_bytes(&bytes[..25]),
            Err(Error::Truncated { need: 10, len: 6 })
        );
    }

    /// One value of every modelled message, all fields non-default where the type allows.
    pub(crate) fn every_message() -> Vec<Message> {
        use crate::{Nid, Nmk, StationId};
        let mac = MacAddr([2, 0, 0, 0, 0, 2]);
        let run_id = RunId(*b"TESLA EV");
        let station = StationId([7; 17]);
        let applet_req = vs_write_execute_applet::ReqRepr {
            client_session: 0x1234_5678,
            server_session: 0,
            flags: vs_write_execute_applet::FLAG_ABSOLUTE | vs_write_execute_applet::FLAG_EXECUTE,
            mem_types: [1, 0, 0, 0, 0, 0, 0, 0],
            total_length: 3000,
            part_offset: 0x0100_0000 + 2800,
            start_address: 0x0100_0040,
            checksum: 0xDEAD_BEEF,
            image: (0..200u8).collect(),
        };
        vec![
            Message::SetKeyReq(cm_set_key::ReqRepr::set_nmk(Nmk([9; 16]), Nid([1; 7]))),
            Message::SetKeyCnf(cm_set_key::CnfRepr {
                result: 1,
                my_nonce: 0x1234_5678,
                your_nonce: 0xAAAA_AAAA,
                pid: 4,
                prn: 0x0102,
                pmn: 0xFF,
                cco_capability: 2,
            }),
            Message::SlacParamReq(cm_slac_param::ReqRepr::new(run_id)),
            Message::SlacParamCnf(cm_slac_param::CnfRepr {
                m_sound_target: MacAddr::BROADCAST,
                num_sounds: 10,
                time_out: 6,
                resp_type: 1,
                forwarding_sta: mac,
                application_type: 0,
                security_type: 0,
                run_id,
            }),
            Message::StartAttenCharInd(cm_start_atten_char::IndRepr {
                application_type: 0,
                security_type: 0,
                num_sounds: 10,
                time_out: 6,
                resp_type: 1,
                forwarding_sta: mac,
                run_id,
            }),
            Message::AttenCharInd(cm_atten_char::IndRepr {
                application_type: 0,
                security_type: 0,
                source_address: mac,
                run_id,
                source_id: station,
                resp_id: station,
                num_sounds: 10,
                aag: (0..58).collect(),
            }),
            Message::AttenCharRsp(cm_atten_char::RspRepr {
                application_type: 0,
                security_type: 0,
                source_address: mac,
                run_id,
                source_id: station,
                resp_id: station,
                result: 0,
            }),
            Message::MnbcSoundInd(cm_mnbc_sound::IndRepr {
                application_type: 0,
                security_type: 0,
                sender_id: station,
                count: 9,
                run_id,
                random: [0x5A; 16],
            }),
            Message::ValidateReq(cm_validate::ReqRepr {
                signal_type: 0,
                timer: 1,
                result: 1,
            }),
            Message::ValidateCnf(cm_validate::CnfRepr {
                signal_type: 0,
                toggle_num: 3,
                result: cm_validate::result::NOT_REQUIRED,
            }),
            Message::SlacMatchReq(cm_slac_match::ReqRepr {
                application_type: 0,
                security_type: 0,
                mvf_length: cm_slac_match::REQ_MVF_LENGTH,
                pev_id: station,
                pev_mac: mac,
                evse_id: station,
                evse_mac: MacAddr([2, 0, 0, 0, 0, 1]),
                run_id,
            }),
            Message::SlacMatchCnf(cm_slac_match::CnfRepr {
                application_type: 0,
                security_type: 0,
                mvf_length: cm_slac_match::CNF_MVF_LENGTH,
                pev_id: station,
                pev_mac: mac,
                evse_id: station,
                evse_mac: MacAddr([2, 0, 0, 0, 0, 1]),
                run_id,
                nid: Nid([1; 7]),
                nmk: Nmk([9; 16]),
            }),
            Message::AttenProfileInd(cm_atten_profile::IndRepr {
                pev_mac: mac,
                aag: vec![20; 58],
            }),
            Message::SwVerReq(vs_sw_ver::ReqRepr { cookie: 0x1234 }),
            Message::SwVerCnf(vs_sw_ver::CnfRepr {
                status: 0,
                device_id: 0x20,
                version: b"MAC-QCA7000-1.2.5\0".to_vec(),
            }),
            Message::RsDevReq(vs_rs_dev::ReqRepr),
            Message::RsDevCnf(vs_rs_dev::CnfRepr { status: 0 }),
            Message::LinkStatusReq(vs_pl_link_status::ReqRepr),
            Message::LinkStatusCnf(vs_pl_link_status::CnfRepr {
                status: 0,
                link_status: 1,
            }),
            Message::WriteExecuteAppletReq(applet_req.clone()),
            Message::WriteExecuteAppletCnf(vs_write_execute_applet::CnfRepr::accept(&applet_req)),
            Message::WrModReq(vs_wr_mod::ReqRepr {
                module: 0x02,
                access: 0,
                offset: 1024,
                checksum: 0xDEAD_BEEF,
                data: vec![7; 33],
            }),
            Message::WrModCnf(vs_wr_mod::CnfRepr {
                status: 0,
                module: 0x02,
                access: 0,
                length: 33,
                offset: 1024,
            }),
            Message::RdModReq(vs_rd_mod::ReqRepr {
                module: 0x02,
                access: 0,
                length: 1024,
                offset: 2048,
                secret: [3; 16],
            }),
            Message::RdModCnf(vs_rd_mod::CnfRepr {
                status: 0,
                module: 0x02,
                offset: 2048,
                checksum: 9,
                data: vec![1; 50],
            }),
            Message::ModNvmReq(vs_mod_nvm::ReqRepr { module: 0x02 }),
            Message::ModNvmCnf(vs_mod_nvm::CnfRepr {
                status: 0,
                module: 0x02,
            }),
            Message::ModuleOperationReq(vs_module_operation::ReqRepr {
                operation: vs_module_operation::Operation::Write {
                    session: 0x0102_0304,
                    index: 1,
                    module: vs_module_operation::ModuleId::FIRMWARE,
                    offset: 1400,
                    data: vec![0xAA; 40],
                },
            }),
            Message::ModuleOperationCnf(vs_module_operation::CnfRepr {
                status: 0,
                error: 0,
                outcome: vs_module_operation::Outcome::Read {
                    source: vs_module_operation::OP_READ_FLASH,
                    module: vs_module_operation::ModuleId::PARAMETERS,
                    offset: 0,
                    data: vec![0x55; 30],
                },
            }),
            Message::Unknown {
                mmtype: MmType(0x6060),
                payload: vec![1, 2, 3],
            },
        ]
    }

    #[test]
    fn every_message_round_trips() {
        let all = every_message();
        assert_eq!(all.len(), 30, "one per Message variant");
        for message in all {
            let repr = Repr::new(
                MacAddr([2, 0, 0, 0, 0, 1]),
                MacAddr([2, 0, 0, 0, 0, 2]),
                message,
            );
            let bytes = repr.to_bytes();
            let back = Repr::parse_bytes(&bytes).unwrap();
            match (&repr.message, &back.message) {
                // An unknown payload comes back with the frame's padding: it cannot be told apart.
                (Message::Unknown { payload: a, .. }, Message::Unknown { payload: b, .. }) => {
                    assert_eq!(&b[..a.len()], &a[..]);
                    assert!(b[a.len()..].iter().all(|&x| x == 0));
                }
                _ => assert_eq!(back, repr),
            }
            assert_eq!(back.to_bytes(), bytes);
        }
    }

    #[test]
    fn vendor_messages_use_mmv_1_0_and_slac_messages_1_1() {
        for message in every_message() {
            let expected = if message.mmtype().is_vendor_specific() {
                Mmv::AV_1_0
            } else {
                Mmv::AV_1_1
            };
            assert_eq!(message.default_mmv(), expected, "{}", message.mmtype());
        }
    }

    #[test]
    fn applet_parts_padded_as_plcboot_sends_them_read_as_the_part() {
        // plcboot always sends the 1400-byte image field; the part length says what counts.
        let mut payload = vec![0u8; vs_write_execute_applet::field::REQ_IMAGE.start + 1400];
        let mut req = vs_write_execute_applet::Req::new_checked(&mut payload[..]).unwrap();
        req.set_oui(QUALCOMM_OUI);
        req.set_client_session(7);
        req.set_part_length(3);
        req.set_part_offset(0x0100_0000);
        payload[51..54].copy_from_slice(&[0xAA, 0xBB, 0xCC]);
        let view = vs_write_execute_applet::Req::new_checked(&payload[..]).unwrap();
        let repr = vs_write_execute_applet::ReqRepr::parse(&view).unwrap();
        assert_eq!(repr.image, [0xAA, 0xBB, 0xCC]);
        assert_eq!(repr.part_offset, 0x0100_0000);
        assert_eq!(
            &payload[31..35],
            &[0x00, 0x00, 0x00, 0x01],
            "PART_OFFSET at 31, LE"
        );
        // A part length beyond the frame is refused, not read past.
        let mut short = payload[..60].to_vec();
        short[27..31].copy_from_slice(&100u32.to_le_bytes());
        let view = vs_write_execute_applet::Req::new_checked(&short[..]).unwrap();
        assert_eq!(
            vs_write_execute_applet::ReqRepr::parse(&view),
            Err(Error::Truncated { need: 151, len: 60 })
        );
    }

    #[test]
    fn firmware_version_text_stops_at_the_nul() {
        let cnf = vs_sw_ver::CnfRepr {
            status: 0,
            device_id: 0x20,
            version: b"PLC-EMU-1.0\0garbage".to_vec(),
        };
        assert_eq!(cnf.version_string(), "PLC-EMU-1.0");
        let cnf = vs_sw_ver::CnfRepr {
            version: b"PLC-EMU-1.0".to_vec(),
            ..cnf
        };
        assert_eq!(cnf.version_string(), "PLC-EMU-1.0");
    }

    #[test]
    fn views_read_back_what_setters_wrote() {
        let mut buf = [0u8; 66];
        let mut req = cm_slac_match::Req::new_checked(&mut buf[..]).unwrap();
        req.set_mvf_length(0x3E);
        req.set_pev_mac(MacAddr([2, 0, 0, 0, 0, 2]));
        req.set_run_id(RunId(*b"TESLA EV"));
        assert_eq!(req.mvf_length(), 0x3E);
        assert_eq!(req.pev_mac(), MacAddr([2, 0, 0, 0, 0, 2]));
        assert_eq!(req.run_id(), RunId(*b"TESLA EV"));
        assert_eq!(&buf[2..4], &[0x3E, 0x00], "little-endian");
        assert_eq!(&buf[50..58], b"TESLA EV");
        assert!(cm_slac_match::Req::new_checked(&buf[..65]).is_err());

        // Variable-length fields are checked against their declared count.
        let mut buf = [0u8; 12];
        buf[6] = 58; // NumGroups
        let ind = cm_atten_profile::Ind::new_checked(&buf[..]).unwrap();
        assert_eq!(
            ind.check_aag_len(),
            Err(Error::Truncated { need: 66, len: 12 })
        );
    }
}
