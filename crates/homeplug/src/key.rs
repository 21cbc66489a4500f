use core::fmt;

use sha2::{Digest, Sha256};

/// NMK, the 128-bit Network Membership Key of an AVLN (HomePlug AV logical network). The EVSE picks
/// a random one, programs it into its modem with CM_SET_KEY.REQ and hands it to the matched EV in
/// CM_SLAC_MATCH.CNF; the EV programs it into its own modem, and the two modems form a network.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Nmk(pub [u8; 16]);

/// NID, the 54-bit Network Identifier of an AVLN (7 bytes: 52 bits derived from the NMK, then a
/// 2-bit security level in bits 4..6 of the last byte).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Nid(pub [u8; 7]);

/// The security level carried in a NID (HomePlug AV 1.1 §4.4.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityLevel {
    /// 0b00, Simple Connect: what ISO 15118-3 uses.
    SimpleConnect,
    /// 0b01, Secure.
    Secure,
    /// 0b10 or 0b11, reserved.
    Reserved(u8),
}

impl Nid {
    /// Derives the NID of the network an NMK defines, as HomePlug AV 1.1 specifies: PBKDF1 with
    /// SHA-256, 5 iterations, no salt, over the NMK; the leftmost 52 bits of the result, followed by
    /// the security level. Real modems and chargers derive it this way (the Alpitronic HYC150 in
    /// our captures does), so a NID derived here identifies the same network as theirs.
    pub fn from_nmk(nmk: &Nmk, level: SecurityLevel) -> Self {
        let mut digest: [u8; 32] = Sha256::digest(nmk.0).into();
        for _ in 1..5 {
            digest = Sha256::digest(digest).into();
        }
        let level_bits = match level {
            SecurityLevel::SimpleConnect => 0b00,
            SecurityLevel::Secure => 0b01,
            SecurityLevel::Reserved(b) => b & 0b11,
        };
        let [d0, d1, d2, d3, d4, d5, d6, ..] = digest;
        Self([d0, d1, d2, d3, d4, d5, (level_bits << 4) | (d6 >> 4)])
    }

    /// The security level in bits 4..6 of the last byte.
    pub fn security_level(&self) -> SecurityLevel {
        match (self.0[6] >> 4) & 0b11 {
            0b00 => SecurityLevel::SimpleConnect,
            0b01 => SecurityLevel::Secure,
            other => SecurityLevel::Reserved(other),
        }
    }
}

fn hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

impl fmt::Display for Nmk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        hex(f, &self.0)
    }
}

// The NMK travels in clear text in CM_SLAC_MATCH.CNF, so printing it leaks nothing a listener on
// the powerline does not already see; logs need it to debug pairing.
impl fmt::Debug for Nmk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Nmk(")?;
        hex(f, &self.0)?;
        f.write_str(")")
    }
}

impl fmt::Display for Nid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        hex(f, &self.0)
    }
}

impl fmt::Debug for Nid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Nid(")?;
        hex(f, &self.0)?;
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nmk(s: &str) -> Nmk {
        Nmk(hex::decode(s).unwrap().try_into().unwrap())
    }

    #[test]
    fn nid_derivation_matches_real_equipment() {
        // NMK/NID pairs seen on the wire: an Alpitronic HYC150's CM_SLAC_MATCH.CNF (vector S009),
        // and the defaults of Qualcomm's open-plc-utils `evse` and `pev`.
        for (key, nid) in [
            ("a39d255b5770c42f3837471f5b39823a", "4ee9194d581702"),
            ("b59319d7e8157ba001b018669ccee30d", "026bcba5354e08"),
            ("50d3e4933f855b7040784df815aa8db7", "b0f2e695666b03"),
        ] {
            let derived = Nid::from_nmk(&nmk(key), SecurityLevel::SimpleConnect);
            assert_eq!(derived.to_string(), nid);
            assert_eq!(derived.security_level(), SecurityLevel::SimpleConnect);
        }
    }

    #[test]
    fn security_level_lands_in_bits_4_and_5() {
        let key = nmk("a39d255b5770c42f3837471f5b39823a");
        let nid = Nid::from_nmk(&key, SecurityLevel::Secure);
        assert_eq!(nid.0[6], 0x12);
        assert_eq!(nid.security_level(), SecurityLevel::Secure);
    }
}
