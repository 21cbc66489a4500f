//! Kernel RS485 mode (Linux `TIOCSRS485`, Documentation/driver-api/serial/serial-rs485.rst): the
//! only module of the crate with `unsafe`, one ioctl on a file descriptor we own.
#![allow(unsafe_code)]

use std::os::fd::AsRawFd;

use crate::link::Rs485Params;

const SER_RS485_ENABLED: u32 = 1 << 0;
const SER_RS485_RTS_ON_SEND: u32 = 1 << 1;
const SER_RS485_RTS_AFTER_SEND: u32 = 1 << 2;

/// `struct serial_rs485` of `<linux/serial.h>` (32 bytes).
#[repr(C)]
#[derive(Debug, Default)]
struct SerialRs485 {
    flags: u32,
    delay_rts_before_send: u32,
    delay_rts_after_send: u32,
    padding: [u32; 5],
}

/// Switches the port to RS485 mode. Fails (ENOTTY) on ports whose driver has no RS485 mode.
pub(crate) fn enable(port: &impl AsRawFd, p: &Rs485Params) -> std::io::Result<()> {
    let mut flags = SER_RS485_ENABLED;
    if p.rts_on_send {
        flags |= SER_RS485_RTS_ON_SEND;
    }
    if p.rts_after_send {
        flags |= SER_RS485_RTS_AFTER_SEND;
    }
    let conf = SerialRs485 {
        flags,
        delay_rts_before_send: p.delay_before_send_ms,
        delay_rts_after_send: p.delay_after_send_ms,
        ..SerialRs485::default()
    };
    // SAFETY: the descriptor is open for the duration of the call (borrowed from its owner);
    // TIOCSRS485 reads one `struct serial_rs485`, which `conf` is, laid out as in the kernel.
    let rc = unsafe { libc::ioctl(port.as_raw_fd(), libc::TIOCSRS485 as _, &raw const conf) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_without_rs485_mode_is_an_error_not_a_crash() {
        let f = std::fs::File::open("/dev/null").unwrap();
        assert!(enable(&f, &Rs485Params::default()).is_err());
        assert_eq!(size_of::<SerialRs485>(), 32);
    }
}
