//! AF_PACKET raw sockets, the way HomePlug frames reach a QCA7000/7005 on Linux (the modem shows
//! up as an Ethernet interface, `eth1` on the FoccciCape). This module is the one place in the
//! protocol stack that calls libc directly: socket options and addresses of packet sockets have no
//! safe wrapper in our dependencies.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use homeplug::{ETHERTYPE_HOMEPLUG, MacAddr};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::{Error, Link};

/// A raw socket bound to one interface and ethertype 0x88E1, registered with the tokio reactor.
/// It receives every HomePlug frame the interface receives (not the ones this host sends).
#[derive(Debug)]
pub struct RawLink {
    fd: AsyncFd<OwnedFd>,
    name: String,
    mac: MacAddr,
}

impl RawLink {
    /// Opens the interface. Needs `CAP_NET_RAW` (root, or the capability alone: then a missing
    /// one is [`Error::MissingCapability`]) and a tokio runtime with I/O enabled.
    pub fn open(iface: &str) -> Result<Self, Error> {
        let err = |op| {
            let iface = iface.to_owned();
            move |source| Error::Io { iface, op, source }
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(err("register with tokio")(io::Error::other(
                "no tokio runtime on this thread",
            )));
        }
        let ifindex = if_index(iface).map_err(err("find interface"))?;
        let fd = packet_socket().map_err(|source| {
            // Packet sockets need CAP_NET_RAW (packet(7)); say so rather than just "EPERM".
            if source.raw_os_error() == Some(libc::EPERM) {
                Error::MissingCapability {
                    iface: iface.to_owned(),
                    op: "opening a raw socket",
                    capability: "CAP_NET_RAW",
                    source,
                }
            } else {
                err("socket(AF_PACKET, SOCK_RAW)")(source)
            }
        })?;
        bind(&fd, ifindex).map_err(err("bind"))?;
        let mac = hardware_address(&fd, iface).map_err(err("read MAC address"))?;
        // SAFETY: `fd` is an open socket we own; the AsyncFd owns it from here on and nothing
        // else closes or replaces it.
        let fd =
            unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE | Interest::WRITABLE) }
                .map_err(|e| err("register with tokio")(e.into()))?;
        Ok(Self {
            fd,
            name: iface.to_owned(),
            mac,
        })
    }
}

impl Link for RawLink {
    fn mac(&self) -> MacAddr {
        self.mac
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, frame: &[u8]) -> io::Result<()> {
        let sent = self
            .fd
            .async_io(Interest::WRITABLE, |fd| {
                // SAFETY: the pointer and length describe `frame`, valid for the whole call.
                let n = unsafe {
                    libc::send(
                        fd.as_raw_fd(),
                        frame.as_ptr().cast(),
                        frame.len(),
                        libc::MSG_DONTWAIT,
                    )
                };
                usize::try_from(n).map_err(|_| io::Error::last_os_error())
            })
            .await?;
        if sent != frame.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("sent {sent} of {} bytes", frame.len()),
            ));
        }
        Ok(())
    }

    async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let (n, pkttype) = self
                .fd
                .async_io(Interest::READABLE, |fd| {
                    // SAFETY: sockaddr_ll is plain old data; all zeros is a valid value.
                    let mut addr: libc::sockaddr_ll = unsafe { mem::zeroed() };
                    let mut len = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
                    // SAFETY: `buf` and `addr` are valid for writes of the lengths given, and
                    // `len` tells the kernel the size of `addr`.
                    let n = unsafe {
                        libc::recvfrom(
                            fd.as_raw_fd(),
                            buf.as_mut_ptr().cast(),
                            buf.len(),
                            libc::MSG_DONTWAIT,
                            (&raw mut addr).cast(),
                            &mut len,
                        )
                    };
                    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
                    Ok((n, addr.sll_pkttype))
                })
                .await?;
            // A socket bound to one ethertype does not see its own frames, but be sure.
            if pkttype != libc::PACKET_OUTGOING {
                return Ok(n.min(buf.len()));
            }
        }
    }
}

fn if_index(iface: &str) -> io::Result<libc::c_int> {
    let name = CString::new(iface)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in interface name"))?;
    // SAFETY: `name` is a valid NUL-terminated string for the duration of the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return Err(io::Error::last_os_error());
    }
    libc::c_int::try_from(index).map_err(|_| io::Error::other("interface index out of range"))
}

fn protocol() -> u16 {
    ETHERTYPE_HOMEPLUG.to_be()
}

fn packet_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with constant arguments.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            libc::c_int::from(protocol()),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket() and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn bind(fd: &OwnedFd, ifindex: libc::c_int) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain old data; all zeros is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as libc::c_ushort;
    addr.sll_protocol = protocol();
    addr.sll_ifindex = ifindex;
    // SAFETY: `addr` is a valid sockaddr_ll and the length passed is its size.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&raw const addr).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn hardware_address(fd: &OwnedFd, iface: &str) -> io::Result<MacAddr> {
    // SAFETY: ifreq is plain old data; all zeros is a valid value.
    let mut req: libc::ifreq = unsafe { mem::zeroed() };
    let name = iface.as_bytes();
    if name.len() >= req.ifr_name.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name too long",
        ));
    }
    for (dst, &src) in req.ifr_name.iter_mut().zip(name) {
        *dst = src as libc::c_char;
    }
    // SAFETY: SIOCGIFHWADDR reads the NUL-terminated name from and writes the address into
    // `req`, which is valid for the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFHWADDR, &raw mut req) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: after SIOCGIFHWADDR succeeded, the union holds the hardware address.
    let data = unsafe { req.ifr_ifru.ifru_hwaddr.sa_data };
    let mut mac = [0u8; 6];
    for (dst, &src) in mac.iter_mut().zip(&data) {
        *dst = src as u8;
    }
    Ok(MacAddr(mac))
}
