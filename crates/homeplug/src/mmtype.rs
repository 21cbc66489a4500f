use core::fmt;

/// MMV, the management message version (first byte of the MME header).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Mmv(pub u8);

impl Mmv {
    /// 0x00, HomePlug AV 1.0: no FMI field. The QCA vendor-specific MMEs use it.
    pub const AV_1_0: Self = Self(0x00);
    /// 0x01, HomePlug AV 1.1 / Green PHY: FMI follows the MMTYPE. All SLAC messages use it.
    pub const AV_1_1: Self = Self(0x01);
    /// 0x02, HomePlug AV 2.0.
    pub const AV_2_0: Self = Self(0x02);

    /// True if the header carries the 2-byte FMI field (every version after AV 1.0).
    pub const fn has_fmi(self) -> bool {
        self.0 != Self::AV_1_0.0
    }
}

impl fmt::Debug for Mmv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::AV_1_0 => f.write_str("Mmv(AV 1.0)"),
            Self::AV_1_1 => f.write_str("Mmv(AV 1.1)"),
            Self::AV_2_0 => f.write_str("Mmv(AV 2.0)"),
            Self(other) => write!(f, "Mmv({other:#04x})"),
        }
    }
}

/// The two low bits of an MMTYPE: which leg of an exchange a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MmTypeKind {
    /// `.REQ`, 0b00.
    Req,
    /// `.CNF`, 0b01.
    Cnf,
    /// `.IND`, 0b10.
    Ind,
    /// `.RSP`, 0b11.
    Rsp,
}

/// MMTYPE, the 16-bit management message type (little-endian on the wire). The three high bits
/// are the category (0b011 station-to-station, 0b101 vendor-specific, ...), the two low bits the
/// [`MmTypeKind`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MmType(pub u16);

macro_rules! mmtypes {
    ($($(#[$doc:meta])* $name:ident = $value:literal, $text:literal;)*) => {
        impl MmType {
            $($(#[$doc])* pub const $name: Self = Self($value);)*

            /// The message's name as the specifications write it, if this crate knows it.
            pub fn name(self) -> Option<&'static str> {
                match self {
                    $(Self::$name => Some($text),)*
                    _ => None,
                }
            }
        }
    };
}

mmtypes! {
    /// CM_SET_KEY.REQ, 0x6008: program a key (the NMK) into a station.
    CM_SET_KEY_REQ = 0x6008, "CM_SET_KEY.REQ";
    /// CM_SET_KEY.CNF, 0x6009.
    CM_SET_KEY_CNF = 0x6009, "CM_SET_KEY.CNF";
    /// CM_SLAC_PARM.REQ, 0x6064: the EV opens a matching run.
    CM_SLAC_PARAM_REQ = 0x6064, "CM_SLAC_PARM.REQ";
    /// CM_SLAC_PARM.CNF, 0x6065: the EVSE's sounding parameters.
    CM_SLAC_PARAM_CNF = 0x6065, "CM_SLAC_PARM.CNF";
    /// CM_START_ATTEN_CHAR.IND, 0x606A: the EV announces its sounds.
    CM_START_ATTEN_CHAR_IND = 0x606A, "CM_START_ATTEN_CHAR.IND";
    /// CM_ATTEN_CHAR.IND, 0x606E: the EVSE reports the averaged attenuation profile.
    CM_ATTEN_CHAR_IND = 0x606E, "CM_ATTEN_CHAR.IND";
    /// CM_ATTEN_CHAR.RSP, 0x606F.
    CM_ATTEN_CHAR_RSP = 0x606F, "CM_ATTEN_CHAR.RSP";
    /// CM_MNBC_SOUND.IND, 0x6076: one M-Sound.
    CM_MNBC_SOUND_IND = 0x6076, "CM_MNBC_SOUND.IND";
    /// CM_VALIDATE.REQ, 0x6078: optional validation by control-pilot toggling.
    CM_VALIDATE_REQ = 0x6078, "CM_VALIDATE.REQ";
    /// CM_VALIDATE.CNF, 0x6079.
    CM_VALIDATE_CNF = 0x6079, "CM_VALIDATE.CNF";
    /// CM_SLAC_MATCH.REQ, 0x607C: the EV chooses this EVSE.
    CM_SLAC_MATCH_REQ = 0x607C, "CM_SLAC_MATCH.REQ";
    /// CM_SLAC_MATCH.CNF, 0x607D: the EVSE hands over NID and NMK.
    CM_SLAC_MATCH_CNF = 0x607D, "CM_SLAC_MATCH.CNF";
    /// CM_ATTEN_PROFILE.IND, 0x6086: a modem reports to its host the attenuation of one sound.
    CM_ATTEN_PROFILE_IND = 0x6086, "CM_ATTEN_PROFILE.IND";
    /// VS_SW_VER.REQ, 0xA000 (Qualcomm): firmware version.
    VS_SW_VER_REQ = 0xA000, "VS_SW_VER.REQ";
    /// VS_SW_VER.CNF, 0xA001 (Qualcomm).
    VS_SW_VER_CNF = 0xA001, "VS_SW_VER.CNF";
    /// VS_RS_DEV.REQ, 0xA01C (Qualcomm): reset the modem.
    VS_RS_DEV_REQ = 0xA01C, "VS_RS_DEV.REQ";
    /// VS_RS_DEV.CNF, 0xA01D (Qualcomm).
    VS_RS_DEV_CNF = 0xA01D, "VS_RS_DEV.CNF";
    /// VS_WR_MOD.REQ, 0xA020 (Qualcomm, INT6x00 path): write a module part into memory.
    VS_WR_MOD_REQ = 0xA020, "VS_WR_MOD.REQ";
    /// VS_WR_MOD.CNF, 0xA021 (Qualcomm).
    VS_WR_MOD_CNF = 0xA021, "VS_WR_MOD.CNF";
    /// VS_RD_MOD.REQ, 0xA024 (Qualcomm, INT6x00 path): read a module part.
    VS_RD_MOD_REQ = 0xA024, "VS_RD_MOD.REQ";
    /// VS_RD_MOD.CNF, 0xA025 (Qualcomm).
    VS_RD_MOD_CNF = 0xA025, "VS_RD_MOD.CNF";
    /// VS_MOD_NVM.REQ, 0xA028 (Qualcomm, INT6x00 path): burn the written module to flash.
    VS_MOD_NVM_REQ = 0xA028, "VS_MOD_NVM.REQ";
    /// VS_MOD_NVM.CNF, 0xA029 (Qualcomm).
    VS_MOD_NVM_CNF = 0xA029, "VS_MOD_NVM.CNF";
    /// VS_WRITE_AND_EXECUTE_APPLET.REQ, 0xA098 (Qualcomm): write a module part into a
    /// bootloader-mode modem's memory, and start it.
    VS_WRITE_AND_EXECUTE_APPLET_REQ = 0xA098, "VS_WRITE_AND_EXECUTE_APPLET.REQ";
    /// VS_WRITE_AND_EXECUTE_APPLET.CNF, 0xA099 (Qualcomm).
    VS_WRITE_AND_EXECUTE_APPLET_CNF = 0xA099, "VS_WRITE_AND_EXECUTE_APPLET.CNF";
    /// VS_MODULE_OPERATION.REQ, 0xA0B0 (Qualcomm): read a module, or write modules in a
    /// session and commit them to flash, on a modem whose firmware runs.
    VS_MODULE_OPERATION_REQ = 0xA0B0, "VS_MODULE_OPERATION.REQ";
    /// VS_MODULE_OPERATION.CNF, 0xA0B1 (Qualcomm).
    VS_MODULE_OPERATION_CNF = 0xA0B1, "VS_MODULE_OPERATION.CNF";
    /// VS_PL_LINK_STATUS.REQ, 0xA0B8 (Qualcomm): is the powerline link up?
    VS_PL_LINK_STATUS_REQ = 0xA0B8, "VS_PL_LINK_STATUS.REQ";
    /// VS_PL_LINK_STATUS.CNF, 0xA0B9 (Qualcomm).
    VS_PL_LINK_STATUS_CNF = 0xA0B9, "VS_PL_LINK_STATUS.CNF";
}

impl MmType {
    /// The leg of the exchange (two low bits).
    pub const fn kind(self) -> MmTypeKind {
        match self.0 & 0b11 {
            0b00 => MmTypeKind::Req,
            0b01 => MmTypeKind::Cnf,
            0b10 => MmTypeKind::Ind,
            _ => MmTypeKind::Rsp,
        }
    }

    /// The category, the three high bits (0b011 station-to-station, 0b101 vendor-specific, ...).
    pub const fn category(self) -> u8 {
        (self.0 >> 13) as u8
    }

    /// True for vendor-specific MMEs (0xA000..=0xBFFF), whose payload opens with a 3-byte OUI.
    pub const fn is_vendor_specific(self) -> bool {
        self.category() == 0b101
    }
}

impl fmt::Display for MmType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "MMTYPE {:#06x}", self.0),
        }
    }
}

impl fmt::Debug for MmType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MmType({:#06x}", self.0)?;
        if let Some(name) = self.name() {
            write!(f, " {name}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_categories() {
        assert_eq!(MmType::CM_SLAC_PARAM_REQ.kind(), MmTypeKind::Req);
        assert_eq!(MmType::CM_SLAC_PARAM_CNF.kind(), MmTypeKind::Cnf);
        assert_eq!(MmType::CM_MNBC_SOUND_IND.kind(), MmTypeKind::Ind);
        assert_eq!(MmType::CM_ATTEN_CHAR_RSP.kind(), MmTypeKind::Rsp);
        assert_eq!(MmType::CM_SLAC_MATCH_REQ.category(), 0b011);
        assert!(MmType::VS_SW_VER_CNF.is_vendor_specific());
        assert!(!MmType::CM_SET_KEY_REQ.is_vendor_specific());
        assert_eq!(MmType(0xA14E).to_string(), "MMTYPE 0xa14e");
        assert_eq!(MmType::CM_SLAC_PARAM_REQ.to_string(), "CM_SLAC_PARM.REQ");
    }
}
