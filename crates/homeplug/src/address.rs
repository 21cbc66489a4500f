use core::fmt;
use core::str::FromStr;

/// An IEEE 802 MAC address (the Ethernet ODA/OSA and the MAC fields inside SLAC messages).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: Self = Self([0xFF; 6]);
    /// 00:00:00:00:00:00.
    pub const ZERO: Self = Self([0; 6]);
    /// 00:b0:52:00:00:01, the "local" address that Qualcomm Atheros modems (QCA7000/7005) answer
    /// on the host interface, whatever their own MAC: MMEs for the local modem go here.
    pub const QCA_LOCAL: Self = Self([0x00, 0xB0, 0x52, 0x00, 0x00, 0x01]);

    /// The six bytes.
    pub const fn octets(self) -> [u8; 6] {
        self.0
    }

    /// True for ff:ff:ff:ff:ff:ff.
    pub fn is_broadcast(self) -> bool {
        self == Self::BROADCAST
    }

    /// True for group addresses (the I/G bit set), broadcast included.
    pub fn is_multicast(self) -> bool {
        self.0[0] & 0x01 != 0
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A MAC address given as text was not six colon- or dash-separated hex octets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MAC address {0:?}: expected six hex octets like 02:00:00:00:00:01")]
pub struct ParseMacAddrError(String);

impl FromStr for MacAddr {
    type Err = ParseMacAddrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseMacAddrError(s.to_owned());
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for octet in &mut out {
            let part = parts.next().ok_or_else(err)?;
            if part.len() != 2 {
                return Err(err());
            }
            *octet = u8::from_str_radix(part, 16).map_err(|_| err())?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(Self(out))
    }
}

/// RunID: the 8-byte identifier of one SLAC matching run, chosen by the EV in CM_SLAC_PARM.REQ and
/// echoed in every later message of the run (ISO 15118-3 Annex A). Cars use their MAC plus a
/// counter, random bytes, or, like Tesla, the text "TESLA EV"; an EVSE must echo it unchanged.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RunId(pub [u8; 8]);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RunId({self})")
    }
}

/// A 17-byte station identifier (PEV_ID, EVSE_ID, SenderID, SOURCE_ID, RESP_ID): meant for a VIN or
/// EVSE ID, sent as all zeros by every car and charger in our captures.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StationId(pub [u8; 17]);

impl StationId {
    /// All zeros, what ISO 15118-3 stations send.
    pub const ZERO: Self = Self([0; 17]);
}

impl fmt::Debug for StationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Self::ZERO {
            return f.write_str("StationId(0)");
        }
        f.write_str("StationId(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_addresses_round_trip_through_text() {
        let mac: MacAddr = "02:00:00:00:00:0a".parse().unwrap();
        assert_eq!(mac, MacAddr([2, 0, 0, 0, 0, 10]));
        assert_eq!(mac.to_string(), "02:00:00:00:00:0a");
        assert_eq!("02-00-00-00-00-0A".parse::<MacAddr>().unwrap(), mac);
        for bad in [
            "",
            "02:00:00:00:00",
            "02:00:00:00:00:00:00",
            "2:00:00:00:00:00",
            "zz:00:00:00:00:00",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
        assert!(MacAddr::BROADCAST.is_broadcast() && MacAddr::BROADCAST.is_multicast());
        assert!(!mac.is_multicast());
    }

    #[test]
    fn run_id_prints_as_hex() {
        assert_eq!(RunId(*b"TESLA EV").to_string(), "5445534c41204556");
    }
}
