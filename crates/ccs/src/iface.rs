//! What the V2G stack needs to know about the powerline interface: its index (the scope of
//! link-local addresses), its MAC, and its IPv6 link-local address, read from `/sys` and
//! `/proc` (no `unsafe`, no extra dependency).

use std::io;
use std::net::Ipv6Addr;
use std::time::Duration;

use homeplug::MacAddr;

/// Why an interface cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum IfaceError {
    /// It does not exist (or `/sys` is not mounted).
    #[error("{iface}: no such interface")]
    NotFound {
        /// The interface.
        iface: String,
        /// Reading `/sys/class/net/<iface>`.
        source: io::Error,
    },
    /// It has no usable IPv6 link-local address (IPv6 disabled, interface down, or duplicate
    /// address detection not finished in time).
    #[error("{iface}: no IPv6 link-local address{detail}")]
    NoLinkLocal {
        /// The interface.
        iface: String,
        /// What was found instead.
        detail: String,
    },
    /// A file had content we do not understand.
    #[error("{iface}: cannot parse {what}: {text:?}")]
    Parse {
        /// The interface.
        iface: String,
        /// What.
        what: &'static str,
        /// What was read.
        text: String,
    },
}

/// The interface's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iface {
    /// Its name (`eth1`).
    pub name: String,
    /// Its index: the scope ID of its link-local addresses.
    pub index: u32,
    /// Its MAC.
    pub mac: MacAddr,
    /// Its IPv6 link-local address.
    pub link_local: Ipv6Addr,
}

/// The `/proc/net/if_inet6` flag of an address still in duplicate address detection.
const IFA_F_TENTATIVE: u32 = 0x40;
/// Its scope value for link-local addresses.
const SCOPE_LINK: u32 = 0x20;

impl Iface {
    /// Reads the facts of `name`, waiting up to `wait` for its link-local address to become
    /// usable (an interface just brought up runs duplicate address detection for a second or
    /// two).
    pub async fn lookup(name: &str, wait: Duration) -> Result<Self, IfaceError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match Self::read(name) {
                Err(IfaceError::NoLinkLocal { .. }) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => return other,
            }
        }
    }

    /// Reads the facts of `name` now.
    pub fn read(name: &str) -> Result<Self, IfaceError> {
        let sys = |file: &str| {
            std::fs::read_to_string(format!("/sys/class/net/{name}/{file}")).map_err(|source| {
                IfaceError::NotFound {
                    iface: name.to_owned(),
                    source,
                }
            })
        };
        let parse = |what, text: &str| IfaceError::Parse {
            iface: name.to_owned(),
            what,
            text: text.to_owned(),
        };
        let index_text = sys("ifindex")?;
        let index: u32 = index_text
            .trim()
            .parse()
            .map_err(|_| parse("ifindex", &index_text))?;
        let mac_text = sys("address")?;
        let mac = parse_mac(mac_text.trim()).ok_or_else(|| parse("address", &mac_text))?;
        let inet6 = std::fs::read_to_string("/proc/net/if_inet6").unwrap_or_default();
        let link_local = link_local(&inet6, name).map_err(|detail| IfaceError::NoLinkLocal {
            iface: name.to_owned(),
            detail,
        })?;
        Ok(Self {
            name: name.to_owned(),
            index,
            mac,
            link_local,
        })
    }
}

fn parse_mac(s: &str) -> Option<MacAddr> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for byte in &mut mac {
        *byte = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(MacAddr(mac))
}

/// The usable link-local address of `iface` in the text of `/proc/net/if_inet6` (lines of
/// `address index prefix scope flags name`).
fn link_local(inet6: &str, iface: &str) -> Result<Ipv6Addr, String> {
    let mut tentative = false;
    for line in inet6.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [addr, _, _, scope, flags, name] = f[..] else {
            continue;
        };
        if name != iface || u32::from_str_radix(scope, 16) != Ok(SCOPE_LINK) {
            continue;
        }
        let Ok(bits) = u128::from_str_radix(addr, 16) else {
            continue;
        };
        if u32::from_str_radix(flags, 16).is_ok_and(|f| f & IFA_F_TENTATIVE != 0) {
            tentative = true;
            continue;
        }
        return Ok(Ipv6Addr::from(bits));
    }
    Err(if tentative {
        " (still tentative: duplicate address detection)".to_owned()
    } else {
        String::new()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INET6: &str = "\
fd000000000000000000000000000002 04 40 00 82     eth0
00000000000000000000000000000001 01 80 10 80       lo
fe8000000000000000fc00fffe000001 04 40 20 80     eth0
fe800000000000000000000000000009 05 40 20 c0     eth1
";

    #[test]
    fn finds_the_usable_link_local_address() {
        assert_eq!(
            link_local(INET6, "eth0"),
            Ok("fe80::fc:ff:fe00:1".parse().unwrap())
        );
        // eth1's address is still tentative.
        assert!(link_local(INET6, "eth1").unwrap_err().contains("tentative"));
        assert_eq!(link_local(INET6, "lo"), Err(String::new()));
        assert_eq!(link_local("garbage\n\n", "eth0"), Err(String::new()));
    }

    #[test]
    fn parses_macs() {
        assert_eq!(
            parse_mac("02:00:00:00:00:01"),
            Some(MacAddr([2, 0, 0, 0, 0, 1]))
        );
        assert_eq!(parse_mac("02:00:00:00:00"), None);
        assert_eq!(parse_mac("02:00:00:00:00:01:02"), None);
        assert_eq!(parse_mac("zz:00:00:00:00:01"), None);
    }

    #[test]
    fn loopback_has_no_link_local() {
        // Every Linux machine has `lo`, without a link-local address.
        match Iface::read("lo") {
            Err(IfaceError::NoLinkLocal { iface, .. }) => assert_eq!(iface, "lo"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            Iface::read("no-such-if0"),
            Err(IfaceError::NotFound { .. })
        ));
    }
}
