//! Any datagram to the Modbus UDP codec: parsing never panics; what parses is answered with a
//! well-formed response whose header length matches, for data and exception answers alike.
#![no_main]

use devices_modbus::udp::{emit, parse};
use devices_modbus::{ExceptionCode, Response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(req) = parse(data) else {
        return;
    };
    let count = match req.request {
        Some(devices_modbus::Request::ReadHoldingRegisters(_, c)) => c.min(125),
        _ => 1,
    };
    for answer in [
        Ok(Response::ReadHoldingRegisters(vec![0xBEEF; usize::from(count)])),
        Err(ExceptionCode::IllegalDataAddress),
    ] {
        let out = emit(&req, &answer);
        let len = usize::from(u16::from_be_bytes([out[4], out[5]]));
        assert_eq!(len, out.len() - 6);
        assert_eq!(&out[..2], &data[..2]);
        assert_eq!(out[6], req.unit);
    }
});
