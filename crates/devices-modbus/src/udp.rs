//! Modbus over UDP as serial-to-Ethernet converters and pymodbus speak it: one MBAP-framed
//! request per datagram (Modbus Messaging on TCP/IP Implementation Guide v1.0b §3.1.3: the
//! 7-byte header, then the PDU). tokio-modbus has no UDP transport; a meter server needs only
//! reads, so this codec parses FC03/FC04 requests and emits their responses. Sans-IO.

use tokio_modbus::{ExceptionCode, Request, Response};

/// A datagram that is not a usable request. The sender is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Shorter than the MBAP header and a function code.
    #[error("datagram of {0} bytes is too short for a Modbus request")]
    Short(usize),
    /// Protocol identifier not 0 (not Modbus).
    #[error("protocol identifier {0} is not Modbus (0)")]
    Protocol(u16),
    /// The header's length disagrees with the datagram.
    #[error("header length {header} but {actual} bytes follow")]
    Length {
        /// What the header says (unit id + PDU).
        header: u16,
        /// What the datagram holds.
        actual: usize,
    },
}

/// A parsed request: transaction id, unit id, and the request (`None`: a function we do not
/// serve, answered with exception 01).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpRequest {
    /// Echoed in the response.
    pub transaction: u16,
    /// The addressed unit.
    pub unit: u8,
    /// The function code.
    pub function: u8,
    /// The request, if it is a read of registers.
    pub request: Option<Request<'static>>,
}

/// Parses one datagram.
pub fn parse(d: &[u8]) -> Result<UdpRequest, FrameError> {
    let [t0, t1, p0, p1, l0, l1, unit, function, pdu @ ..] = d else {
        return Err(FrameError::Short(d.len()));
    };
    let protocol = u16::from_be_bytes([*p0, *p1]);
    if protocol != 0 {
        return Err(FrameError::Protocol(protocol));
    }
    let header = u16::from_be_bytes([*l0, *l1]);
    if usize::from(header) != d.len() - 6 {
        return Err(FrameError::Length {
            header,
            actual: d.len() - 6,
        });
    }
    let request = match (function, pdu) {
        (3 | 4, [a0, a1, c0, c1]) => {
            let (addr, count) = (
                u16::from_be_bytes([*a0, *a1]),
                u16::from_be_bytes([*c0, *c1]),
            );
            Some(if *function == 3 {
                Request::ReadHoldingRegisters(addr, count)
            } else {
                Request::ReadInputRegisters(addr, count)
            })
        }
        _ => None,
    };
    Ok(UdpRequest {
        transaction: u16::from_be_bytes([*t0, *t1]),
        unit: *unit,
        function: *function,
        request,
    })
}

/// The response datagram to `req`.
pub fn emit(req: &UdpRequest, answer: &Result<Response, ExceptionCode>) -> Vec<u8> {
    let mut pdu = Vec::new();
    match answer {
        Ok(Response::ReadHoldingRegisters(w) | Response::ReadInputRegisters(w)) => {
            pdu.push(req.function);
            // At most 125 registers are ever served (the emulator refuses more).
            pdu.push(u8::try_from(w.len() * 2).unwrap_or(u8::MAX));
            for word in w {
                pdu.extend(word.to_be_bytes());
            }
        }
        Ok(_) => {
            pdu.extend([
                req.function | 0x80,
                u8::from(ExceptionCode::IllegalFunction),
            ]);
        }
        Err(e) => pdu.extend([req.function | 0x80, u8::from(*e)]),
    }
    let len = u16::try_from(pdu.len() + 1)
        .unwrap_or(u16::MAX)
        .to_be_bytes();
    let t = req.transaction.to_be_bytes();
    let mut out = vec![t[0], t[1], 0, 0, len[0], len[1], req.unit];
    out.extend(pdu);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inverters_poll_round_trips() {
        // 0B 03 08 36 00 50 (2102 x80, unit 11) in an MBAP header, transaction 7.
        let d = [0, 7, 0, 0, 0, 6, 11, 3, 0x08, 0x36, 0, 0x50];
        let r = parse(&d).unwrap();
        assert_eq!(r.request, Some(Request::ReadHoldingRegisters(2102, 80)));
        assert_eq!((r.transaction, r.unit), (7, 11));
        let out = emit(&r, &Ok(Response::ReadHoldingRegisters(vec![0x3F80, 0])));
        assert_eq!(out, [0, 7, 0, 0, 0, 7, 11, 3, 4, 0x3F, 0x80, 0, 0]);
        let out = emit(&r, &Err(ExceptionCode::IllegalDataAddress));
        assert_eq!(out, [0, 7, 0, 0, 0, 3, 11, 0x83, 2]);
    }

    #[test]
    fn garbage_is_an_error() {
        assert_eq!(parse(&[0, 1, 0]), Err(FrameError::Short(3)));
        assert_eq!(
            parse(&[0, 1, 0, 1, 0, 6, 11, 3, 0, 0, 0, 1]),
            Err(FrameError::Protocol(1))
        );
        assert_eq!(
            parse(&[0, 1, 0, 0, 0, 9, 11, 3, 0, 0, 0, 1]),
            Err(FrameError::Length {
                header: 9,
                actual: 6
            })
        );
        let r = parse(&[0, 1, 0, 0, 0, 3, 11, 6, 1]).unwrap();
        assert_eq!((r.function, r.request), (6, None));
    }
}
