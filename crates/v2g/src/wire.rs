//! V2GTP (the V2G Transfer Protocol header, ISO 15118-2 §7.8.3, ISO 15118-20 §7.8.3) and the SDP
//! messages (SECC Discovery Protocol, ISO 15118-2 §7.10.1) on the wire.
//!
//! Every V2G message travels behind an 8-byte header: protocol version `0x01`, its inverse
//! `0xFE`, the payload type (big endian) and the payload length (big endian). Over TCP the
//! headers delimit the messages; [`Decoder`] reassembles a byte stream into frames, rejecting a
//! wrong version or an oversized payload as soon as the header arrives.
//!
//! Like smoltcp's `wire`: [`Packet`] is a checked view over a buffer, [`Header`] the parsed
//! header (`parse`/`emit`), and the SDP messages are plain values with `parse`/`emit`.

use std::fmt;
use std::net::Ipv6Addr;

/// Length of the V2GTP header.
pub const HEADER_LEN: usize = 8;
/// V2GTP protocol version (ISO 15118-2 Table 9, ISO 15118-20 Table 13).
pub const VERSION: u8 = 0x01;
/// Its bitwise inverse, the second header byte.
pub const INVERSE_VERSION: u8 = 0xFE;
/// The payload size the charger accepts by default. EXI messages without certificates are a few
/// hundred bytes; EVerest's EvseV2G uses the same 8 KiB buffer (`DEFAULT_BUFFER_SIZE`).
pub const DEFAULT_MAX_PAYLOAD: u32 = 8192;

/// The V2GTP payload types (ISO 15118-2 Table 10, ISO 15118-20 Table 14); unknown values are
/// kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadType {
    /// 0x8001: an EXI-encoded message: SupportedAppProtocol, DIN 70121, ISO 15118-2.
    Exi,
    /// 0x8002: ISO 15118-20 main stream (CommonMessages).
    Iso20Main,
    /// 0x8003: ISO 15118-20 AC main stream.
    Iso20Ac,
    /// 0x8004: ISO 15118-20 DC main stream.
    Iso20Dc,
    /// 0x8005: ISO 15118-20 ACDP main stream.
    Iso20Acdp,
    /// 0x8006: ISO 15118-20 WPT main stream.
    Iso20Wpt,
    /// 0x8101: ISO 15118-20 schedule renegotiation.
    ScheduleRenegotiation,
    /// 0x8102: ISO 15118-20 metering confirmation.
    MeteringConfirmation,
    /// 0x8103: ISO 15118-20 ACDP system status.
    AcdpSystemStatus,
    /// 0x8104: ISO 15118-20 parking status.
    ParkingStatus,
    /// 0x9000: SDP request.
    SdpRequest,
    /// 0x9001: SDP response.
    SdpResponse,
    /// 0x9002: SDP request for wireless communication (ISO 15118-20, ACDP).
    SdpRequestWireless,
    /// 0x9003: SDP response for wireless communication.
    SdpResponseWireless,
    /// Any other value.
    Unknown(u16),
}

impl PayloadType {
    /// The value on the wire.
    pub const fn code(self) -> u16 {
        match self {
            Self::Exi => 0x8001,
            Self::Iso20Main => 0x8002,
            Self::Iso20Ac => 0x8003,
            Self::Iso20Dc => 0x8004,
            Self::Iso20Acdp => 0x8005,
            Self::Iso20Wpt => 0x8006,
            Self::ScheduleRenegotiation => 0x8101,
            Self::MeteringConfirmation => 0x8102,
            Self::AcdpSystemStatus => 0x8103,
            Self::ParkingStatus => 0x8104,
            Self::SdpRequest => 0x9000,
            Self::SdpResponse => 0x9001,
            Self::SdpRequestWireless => 0x9002,
            Self::SdpResponseWireless => 0x9003,
            Self::Unknown(code) => code,
        }
    }

    /// From the value on the wire.
    pub const fn from_code(code: u16) -> Self {
        match code {
            0x8001 => Self::Exi,
            0x8002 => Self::Iso20Main,
            0x8003 => Self::Iso20Ac,
            0x8004 => Self::Iso20Dc,
            0x8005 => Self::Iso20Acdp,
            0x8006 => Self::Iso20Wpt,
            0x8101 => Self::ScheduleRenegotiation,
            0x8102 => Self::MeteringConfirmation,
            0x8103 => Self::AcdpSystemStatus,
            0x8104 => Self::ParkingStatus,
            0x9000 => Self::SdpRequest,
            0x9001 => Self::SdpResponse,
            0x9002 => Self::SdpRequestWireless,
            0x9003 => Self::SdpResponseWireless,
            other => Self::Unknown(other),
        }
    }
}

impl fmt::Display for PayloadType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#06x}", self.code())
    }
}

/// A V2GTP header or frame that cannot be accepted. The peer sent it, so every variant is the
/// peer's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Fewer bytes than a header, or than the header announces.
    #[error("truncated V2GTP frame: {needed} bytes needed, {available} present")]
    Truncated {
        /// Bytes the frame needs.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
    /// Not protocol version 0x01/0xFE.
    #[error("V2GTP version {version:#04x}/{inverse:#04x}, expected 0x01/0xfe")]
    Version {
        /// First header byte.
        version: u8,
        /// Second header byte.
        inverse: u8,
    },
    /// The payload is longer than we accept.
    #[error("V2GTP payload of {len} bytes exceeds the limit of {max} bytes")]
    TooLong {
        /// Announced payload length.
        len: u32,
        /// Our limit.
        max: u32,
    },
    /// Not the payload type expected here (e.g. an SDP request on the TCP connection).
    #[error("V2GTP payload type {found}, expected {expected}")]
    PayloadType {
        /// What came.
        found: PayloadType,
        /// What was expected.
        expected: PayloadType,
    },
    /// A fixed-size message (SDP) with another payload length.
    #[error("V2GTP payload of {found} bytes, expected {expected} for this payload type")]
    Length {
        /// Announced length.
        found: u32,
        /// The message's size.
        expected: u32,
    },
}

/// A read-only view of a V2GTP frame. If [`Packet::new_checked`] succeeded, no accessor panics.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` after checking that it holds a header with the right version and the
    /// whole payload it announces (bytes beyond it are ignored).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let bytes = buffer.as_ref();
        let header = Header::parse(bytes)?;
        let needed = HEADER_LEN + header.payload_len as usize;
        if bytes.len() < needed {
            return Err(WireError::Truncated {
                needed,
                available: bytes.len(),
            });
        }
        Ok(Self { buffer })
    }

    /// The header.
    pub fn header(&self) -> Header {
        let b = self.buffer.as_ref();
        Header {
            payload_type: PayloadType::from_code(u16::from_be_bytes([b[2], b[3]])),
            payload_len: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// The payload type.
    pub fn payload_type(&self) -> PayloadType {
        self.header().payload_type
    }

    /// The payload (exactly as long as the header says).
    pub fn payload(&self) -> &[u8] {
        let len = self.header().payload_len as usize;
        &self.buffer.as_ref()[HEADER_LEN..HEADER_LEN + len]
    }
}

/// A parsed V2GTP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// What the payload is.
    pub payload_type: PayloadType,
    /// How long it is.
    pub payload_len: u32,
}

impl Header {
    /// Parses the first [`HEADER_LEN`] bytes of `bytes`, checking the version (a frame of
    /// another version cannot be delimited safely, so it is an error).
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let Some(h) = bytes.get(..HEADER_LEN) else {
            return Err(WireError::Truncated {
                needed: HEADER_LEN,
                available: bytes.len(),
            });
        };
        if h[0] != VERSION || h[1] != INVERSE_VERSION {
            return Err(WireError::Version {
                version: h[0],
                inverse: h[1],
            });
        }
        Ok(Self {
            payload_type: PayloadType::from_code(u16::from_be_bytes([h[2], h[3]])),
            payload_len: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
        })
    }

    /// The header's bytes.
    pub fn emit(&self) -> [u8; HEADER_LEN] {
        let t = self.payload_type.code().to_be_bytes();
        let l = self.payload_len.to_be_bytes();
        [VERSION, INVERSE_VERSION, t[0], t[1], l[0], l[1], l[2], l[3]]
    }
}

/// A whole frame: header and payload, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What the payload is.
    pub payload_type: PayloadType,
    /// The payload.
    pub payload: Vec<u8>,
}

impl Frame {
    /// A frame of `payload_type` carrying `payload`.
    pub fn new(payload_type: PayloadType, payload: Vec<u8>) -> Self {
        Self {
            payload_type,
            payload,
        }
    }

    /// The frame's bytes (header and payload).
    ///
    /// # Panics
    /// Never for a payload our encoder produced: payloads are far below 4 GiB.
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = Header {
            payload_type: self.payload_type,
            // A payload of 4 GiB cannot be built in memory on the targets we run on.
            payload_len: u32::try_from(self.payload.len()).unwrap_or(u32::MAX),
        };
        let mut out = Vec::with_capacity(HEADER_LEN + self.payload.len());
        out.extend_from_slice(&header.emit());
        out.extend_from_slice(&self.payload);
        out
    }
}

/// Reassembles V2GTP frames from a TCP byte stream.
///
/// Bytes go in with [`Decoder::push`], whole frames come out of [`Decoder::next_frame`]. A
/// header with a wrong version or a payload over the limit is an error as soon as its 8 bytes are
/// in: the decoder never buffers more than one frame of the allowed size.
#[derive(Debug, Clone)]
pub struct Decoder {
    buf: Vec<u8>,
    max_payload: u32,
}

impl Decoder {
    /// A decoder accepting payloads of up to `max_payload` bytes.
    pub fn new(max_payload: u32) -> Self {
        Self {
            buf: Vec::new(),
            max_payload,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes received but not yet returned as a frame (a partial frame).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed, or why the stream cannot
    /// go on (after an error the stream is out of step: close the connection).
    pub fn next_frame(&mut self) -> Result<Option<Frame>, WireError> {
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let header = Header::parse(&self.buf)?;
        if header.payload_len > self.max_payload {
            return Err(WireError::TooLong {
                len: header.payload_len,
                max: self.max_payload,
            });
        }
        let end = HEADER_LEN + header.payload_len as usize;
        if self.buf.len() < end {
            return Ok(None);
        }
        let payload = self.buf[HEADER_LEN..end].to_vec();
        self.buf.drain(..end);
        Ok(Some(Frame {
            payload_type: header.payload_type,
            payload,
        }))
    }
}

/// The Security byte of SDP (ISO 15118-2 Table 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Security {
    /// 0x00: secured with TLS.
    Tls,
    /// 0x10: no transport layer security.
    None,
    /// Any other value.
    Unknown(u8),
}

impl Security {
    /// The byte on the wire.
    pub const fn code(self) -> u8 {
        match self {
            Self::Tls => 0x00,
            Self::None => 0x10,
            Self::Unknown(b) => b,
        }
    }

    /// From the byte on the wire.
    pub const fn from_code(b: u8) -> Self {
        match b {
            0x00 => Self::Tls,
            0x10 => Self::None,
            other => Self::Unknown(other),
        }
    }
}

/// The Transport Protocol byte of SDP (ISO 15118-2 Table 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// 0x00: TCP, what V2G uses.
    Tcp,
    /// 0x10: UDP (reserved for future use by ISO 15118-2).
    Udp,
    /// Any other value.
    Unknown(u8),
}

impl Transport {
    /// The byte on the wire.
    pub const fn code(self) -> u8 {
        match self {
            Self::Tcp => 0x00,
            Self::Udp => 0x10,
            Self::Unknown(b) => b,
        }
    }

    /// From the byte on the wire.
    pub const fn from_code(b: u8) -> Self {
        match b {
            0x00 => Self::Tcp,
            0x10 => Self::Udp,
            other => Self::Unknown(other),
        }
    }
}

/// SDP request payload: what the car asks for (ISO 15118-2 §7.10.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdpRequest {
    /// With or without TLS.
    pub security: Security,
    /// TCP.
    pub transport: Transport,
}

impl SdpRequest {
    /// Payload length of an SDP request.
    pub const PAYLOAD_LEN: u32 = 2;
    /// Length of the whole datagram.
    pub const LEN: usize = HEADER_LEN + Self::PAYLOAD_LEN as usize;

    /// Parses a whole datagram (header and payload).
    pub fn parse(datagram: &[u8]) -> Result<Self, WireError> {
        let payload = sdp_payload(datagram, PayloadType::SdpRequest, Self::PAYLOAD_LEN)?;
        Ok(Self {
            security: Security::from_code(payload[0]),
            transport: Transport::from_code(payload[1]),
        })
    }

    /// The datagram.
    pub fn emit(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..HEADER_LEN].copy_from_slice(
            &Header {
                payload_type: PayloadType::SdpRequest,
                payload_len: Self::PAYLOAD_LEN,
            }
            .emit(),
        );
        out[HEADER_LEN] = self.security.code();
        out[HEADER_LEN + 1] = self.transport.code();
        out
    }
}

/// SDP response payload: where the charger's V2G server listens (ISO 15118-2 §7.10.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdpResponse {
    /// The charger's IPv6 address (its link-local address on the powerline interface).
    pub addr: Ipv6Addr,
    /// The TCP port (49152–65535: Josev and the Alpitronic-talking cars refuse others).
    pub port: u16,
    /// Whether that port speaks TLS.
    pub security: Security,
    /// TCP.
    pub transport: Transport,
}

impl SdpResponse {
    /// Payload length of an SDP response.
    pub const PAYLOAD_LEN: u32 = 20;
    /// Length of the whole datagram.
    pub const LEN: usize = HEADER_LEN + Self::PAYLOAD_LEN as usize;

    /// Parses a whole datagram (header and payload).
    pub fn parse(datagram: &[u8]) -> Result<Self, WireError> {
        let p = sdp_payload(datagram, PayloadType::SdpResponse, Self::PAYLOAD_LEN)?;
        let mut addr = [0u8; 16];
        addr.copy_from_slice(&p[..16]);
        Ok(Self {
            addr: Ipv6Addr::from(addr),
            port: u16::from_be_bytes([p[16], p[17]]),
            security: Security::from_code(p[18]),
            transport: Transport::from_code(p[19]),
        })
    }

    /// The datagram.
    pub fn emit(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..HEADER_LEN].copy_from_slice(
            &Header {
                payload_type: PayloadType::SdpResponse,
                payload_len: Self::PAYLOAD_LEN,
            }
            .emit(),
        );
        out[HEADER_LEN..HEADER_LEN + 16].copy_from_slice(&self.addr.octets());
        out[HEADER_LEN + 16..HEADER_LEN + 18].copy_from_slice(&self.port.to_be_bytes());
        out[HEADER_LEN + 18] = self.security.code();
        out[HEADER_LEN + 19] = self.transport.code();
        out
    }
}

/// The payload of an SDP datagram of `expected` type and fixed length. Bytes after the payload
/// are an error too: an SDP datagram is exactly one message.
fn sdp_payload(datagram: &[u8], expected: PayloadType, len: u32) -> Result<&[u8], WireError> {
    let header = Header::parse(datagram)?;
    if header.payload_type != expected {
        return Err(WireError::PayloadType {
            found: header.payload_type,
            expected,
        });
    }
    if header.payload_len != len {
        return Err(WireError::Length {
            found: header.payload_len,
            expected: len,
        });
    }
    let total = HEADER_LEN + len as usize;
    if datagram.len() != total {
        return Err(WireError::Truncated {
            needed: total,
            available: datagram.len(),
        });
    }
    Ok(&datagram[HEADER_LEN..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn real_sdp_request_and_response_parse_and_reemit() {
        // Ioniq <-> Alpitronic HYC150 (shared/slac/vectors.md S012, S013).
        let req = unhex("01fe9000000000021000");
        let parsed = SdpRequest::parse(&req).unwrap();
        assert_eq!(
            parsed,
            SdpRequest {
                security: Security::None,
                transport: Transport::Tcp
            }
        );
        assert_eq!(parsed.emit().to_vec(), req);

        let res = unhex("01fe900100000014fe8000000000000050ad92fffe07328bc7a61000");
        let parsed = SdpResponse::parse(&res).unwrap();
        assert_eq!(
            parsed.addr,
            "fe80::50ad:92ff:fe07:328b".parse::<Ipv6Addr>().unwrap()
        );
        // The Alpitronic's port: 51110.
        assert_eq!(parsed.port, 51110);
        assert_eq!(parsed.security, Security::None);
        assert_eq!(parsed.transport, Transport::Tcp);
        assert_eq!(parsed.emit().to_vec(), res);

        // The Tesla Model X asks for TLS first (S032).
        let tls = SdpRequest::parse(&unhex("01fe9000000000020000")).unwrap();
        assert_eq!(tls.security, Security::Tls);
    }

    #[test]
    fn sdp_errors_name_what_is_wrong() {
        assert_eq!(
            SdpRequest::parse(&unhex("02fd9000000000021000")),
            Err(WireError::Version {
                version: 2,
                inverse: 0xfd
            })
        );
        assert_eq!(
            SdpRequest::parse(&unhex("01fe9001000000021000")),
            Err(WireError::PayloadType {
                found: PayloadType::SdpResponse,
                expected: PayloadType::SdpRequest
            })
        );
        assert_eq!(
            SdpRequest::parse(&unhex("01fe900000000003100000")),
            Err(WireError::Length {
                found: 3,
                expected: 2
            })
        );
        assert_eq!(
            SdpRequest::parse(&unhex("01fe90000000000210")),
            Err(WireError::Truncated {
                needed: 10,
                available: 9
            })
        );
        assert!(SdpRequest::parse(&unhex("01fe900000000002100000")).is_err());
        assert!(SdpRequest::parse(&[]).is_err());
        // Unknown codes are kept, for the server to decide.
        let odd = SdpRequest::parse(&unhex("01fe9000000000024220")).unwrap();
        assert_eq!(
            (odd.security, odd.transport),
            (Security::Unknown(0x42), Transport::Unknown(0x20))
        );
        assert_eq!(odd.emit().to_vec(), unhex("01fe9000000000024220"));
    }

    #[test]
    fn packet_views_check_their_length() {
        let frame = unhex("01fe8001000000048040004099");
        let packet = Packet::new_checked(&frame[..]).unwrap();
        assert_eq!(packet.payload_type(), PayloadType::Exi);
        assert_eq!(packet.payload(), &unhex("80400040")[..]);
        assert_eq!(
            Packet::new_checked(&frame[..10]).unwrap_err(),
            WireError::Truncated {
                needed: 12,
                available: 10
            }
        );
    }

    #[test]
    fn payload_types_round_trip_including_unknown_ones() {
        for code in [
            0x8001, 0x8002, 0x8003, 0x8004, 0x8005, 0x8006, 0x8101, 0x8102, 0x8103, 0x8104, 0x9000,
            0x9001, 0x9002, 0x9003, 0x1234, 0xffff,
        ] {
            assert_eq!(PayloadType::from_code(code).code(), code);
        }
        assert_eq!(PayloadType::from_code(0x8004), PayloadType::Iso20Dc);
        assert_eq!(PayloadType::Iso20Dc.to_string(), "0x8004");
    }

    #[test]
    fn decoder_reassembles_frames_split_anywhere() {
        let a = Frame::new(PayloadType::Exi, vec![0x80, 0x40, 0x00, 0x40]);
        let b = Frame::new(PayloadType::Iso20Dc, (0..200).map(|i| i as u8).collect());
        let empty = Frame::new(PayloadType::Iso20Main, Vec::new());
        let mut stream = a.to_bytes();
        stream.extend(b.to_bytes());
        stream.extend(empty.to_bytes());
        for chunk in [1, 3, 7, 8, 9, 100, stream.len()] {
            let mut decoder = Decoder::new(DEFAULT_MAX_PAYLOAD);
            let mut frames = Vec::new();
            for piece in stream.chunks(chunk) {
                decoder.push(piece);
                while let Some(frame) = decoder.next_frame().unwrap() {
                    frames.push(frame);
                }
            }
            assert_eq!(frames, vec![a.clone(), b.clone(), empty.clone()], "{chunk}");
            assert_eq!(decoder.buffered(), 0);
        }
    }

    #[test]
    fn decoder_rejects_bad_headers_before_the_payload_arrives() {
        let mut decoder = Decoder::new(100);
        decoder.push(&unhex("01fe8001"));
        assert_eq!(decoder.next_frame(), Ok(None));
        // Announces 4 GiB: rejected at once, nothing is buffered for it.
        decoder.push(&unhex("ffffffff"));
        assert_eq!(
            decoder.next_frame(),
            Err(WireError::TooLong {
                len: u32::MAX,
                max: 100
            })
        );

        let mut decoder = Decoder::new(100);
        decoder.push(b"GET / HTTP/1.1\r\n");
        assert_eq!(
            decoder.next_frame(),
            Err(WireError::Version {
                version: b'G',
                inverse: b'E'
            })
        );

        // Exactly at the limit is fine.
        let mut decoder = Decoder::new(4);
        decoder.push(&Frame::new(PayloadType::Exi, vec![1, 2, 3, 4]).to_bytes());
        assert!(decoder.next_frame().unwrap().is_some());
    }
}
