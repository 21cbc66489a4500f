//! IPv6 TCP and UDP out of captured Ethernet frames: the V2G sessions (TCP, reassembled per
//! connection and direction) and SDP (UDP datagrams) of a `tcpdump` capture. Enough for the
//! captures our tests make on veth interfaces: Ethernet II, IPv6 without extension headers.

use std::collections::BTreeMap;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::time::Duration;

use crate::pcap::Record;

const ETHERTYPE_IPV6: u16 = 0x86dd;
const TCP: u8 = 6;
const UDP: u8 = 17;
const SYN: u8 = 0x02;

/// One UDP datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// Capture time.
    pub timestamp: Duration,
    /// Sender.
    pub src: SocketAddrV6,
    /// Receiver.
    pub dst: SocketAddrV6,
    /// Payload.
    pub payload: Vec<u8>,
}

/// One TCP connection, both directions reassembled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The side that sent the first SYN (the client), or the first packet's sender.
    pub client: SocketAddrV6,
    /// The other side.
    pub server: SocketAddrV6,
    /// When its first packet was captured.
    pub start: Duration,
    /// What the client sent, in order.
    pub from_client: Vec<u8>,
    /// What the server sent, in order.
    pub from_server: Vec<u8>,
}

struct Packet<'a> {
    src: SocketAddrV6,
    dst: SocketAddrV6,
    protocol: u8,
    /// The transport header and payload.
    data: &'a [u8],
}

fn ipv6(frame: &[u8]) -> Option<Packet<'_>> {
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    if ethertype != ETHERTYPE_IPV6 {
        return None;
    }
    let ip = frame.get(14..)?;
    let payload_len = usize::from(u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]));
    let protocol = *ip.get(6)?;
    let addr = |at: usize| -> Option<Ipv6Addr> {
        let bytes: [u8; 16] = ip.get(at..at + 16)?.try_into().ok()?;
        Some(Ipv6Addr::from(bytes))
    };
    let (src, dst) = (addr(8)?, addr(24)?);
    let data = ip.get(40..40 + payload_len)?;
    let port = |at: usize| -> Option<u16> {
        Some(u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]))
    };
    Some(Packet {
        src: SocketAddrV6::new(src, port(0)?, 0, 0),
        dst: SocketAddrV6::new(dst, port(2)?, 0, 0),
        protocol,
        data,
    })
}

/// The UDP datagrams of a capture, in capture order.
pub fn udp_datagrams(records: &[Record]) -> Vec<Datagram> {
    records
        .iter()
        .filter_map(|r| {
            let p = ipv6(&r.data)?;
            (p.protocol == UDP).then(|| Datagram {
                timestamp: r.timestamp,
                src: p.src,
                dst: p.dst,
                payload: p.data.get(8..).unwrap_or_default().to_vec(),
            })
        })
        .collect()
}

/// Segments of one direction: sequence number to payload.
#[derive(Default)]
struct Direction {
    isn: Option<u32>,
    segments: BTreeMap<u64, Vec<u8>>,
    /// Sequence numbers unwrapped to 64 bits from the first one seen.
    first: Option<u32>,
}

impl Direction {
    fn add(&mut self, seq: u32, flags: u8, payload: &[u8]) {
        if flags & SYN != 0 {
            self.isn = Some(seq);
        }
        let first = *self.first.get_or_insert(seq);
        if !payload.is_empty() {
            let offset = u64::from(seq.wrapping_sub(first));
            self.segments
                .entry(offset)
                .or_insert_with(|| payload.to_vec());
        }
    }

    /// The byte stream: segments in order, retransmitted bytes once.
    fn stream(&self) -> Vec<u8> {
        let first = self.first.unwrap_or(0);
        let mut next = match self.isn {
            Some(isn) => u64::from(isn.wrapping_add(1).wrapping_sub(first)),
            None => self.segments.keys().next().copied().unwrap_or(0),
        };
        let mut out = Vec::new();
        for (&offset, data) in &self.segments {
            let end = offset + data.len() as u64;
            if end <= next {
                continue;
            }
            let skip = next.saturating_sub(offset) as usize;
            out.extend_from_slice(&data[skip..]);
            next = end;
        }
        out
    }
}

/// The TCP connections of a capture, in the order they started.
pub fn tcp_connections(records: &[Record]) -> Vec<Connection> {
    struct Building {
        client: SocketAddrV6,
        server: SocketAddrV6,
        start: Duration,
        up: Direction,
        down: Direction,
    }
    let mut connections: Vec<Building> = Vec::new();
    for r in records {
        let Some(p) = ipv6(&r.data) else { continue };
        if p.protocol != TCP || p.data.len() < 20 {
            continue;
        }
        let d = p.data;
        let seq = u32::from_be_bytes([d[4], d[5], d[6], d[7]]);
        let header = usize::from(d[12] >> 4) * 4;
        let flags = d[13];
        let payload = d.get(header..).unwrap_or_default();
        let existing = connections.iter_mut().rev().find(|c| {
            (c.client == p.src && c.server == p.dst) || (c.client == p.dst && c.server == p.src)
        });
        // A SYN without ACK from a known client starts a new connection on a reused port.
        let new_syn = flags & SYN != 0 && flags & 0x10 == 0;
        let conn = match existing {
            Some(c) if !(new_syn && c.up.isn.is_some()) => c,
            _ => {
                connections.push(Building {
                    client: p.src,
                    server: p.dst,
                    start: r.timestamp,
                    up: Direction::default(),
                    down: Direction::default(),
                });
                let last = connections.len() - 1;
                &mut connections[last]
            }
        };
        if p.src == conn.client {
            conn.up.add(seq, flags, payload);
        } else {
            conn.down.add(seq, flags, payload);
        }
    }
    connections
        .into_iter()
        .map(|c| Connection {
            client: c.client,
            server: c.server,
            start: c.start,
            from_client: c.up.stream(),
            from_server: c.down.stream(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(src: u16, dst: u16, seq: u32, flags: u8, payload: &[u8]) -> Record {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
        let mut ip = vec![0x60, 0, 0, 0];
        ip.extend_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
        ip.extend_from_slice(&[TCP, 64]);
        ip.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        ip.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        let mut tcp = Vec::new();
        tcp.extend_from_slice(&src.to_be_bytes());
        tcp.extend_from_slice(&dst.to_be_bytes());
        tcp.extend_from_slice(&seq.to_be_bytes());
        tcp.extend_from_slice(&[0, 0, 0, 0, 0x50, flags, 0, 0, 0, 0, 0, 0]);
        tcp.extend_from_slice(payload);
        f.extend(ip);
        f.extend(tcp);
        Record {
            timestamp: Duration::from_millis(u64::from(seq)),
            data: f,
        }
    }

    #[test]
    fn reassembles_out_of_order_and_retransmitted_segments() {
        let records = vec![
            frame(40000, 50000, 100, SYN, b""),
            frame(50000, 40000, 7, SYN | 0x10, b""),
            frame(40000, 50000, 101, 0x18, b"hel"),
            frame(40000, 50000, 107, 0x18, b"world"),
            frame(40000, 50000, 104, 0x18, b"lo "),
            // Retransmitted, overlapping.
            frame(40000, 50000, 101, 0x18, b"hello"),
            frame(50000, 40000, 8, 0x18, b"ok"),
            // A new connection from the same port.
            frame(40000, 50000, 9000, SYN, b""),
            frame(40000, 50000, 9001, 0x18, b"again"),
        ];
        let conns = tcp_connections(&records);
        assert_eq!(conns.len(), 2);
        assert_eq!(conns[0].from_client, b"hello world");
        assert_eq!(conns[0].from_server, b"ok");
        assert_eq!(conns[0].client.port(), 40000);
        assert_eq!(conns[1].from_client, b"again");
        assert!(udp_datagrams(&records).is_empty());
    }
}
