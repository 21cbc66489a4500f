//! The CAN bus as the drivers see it: a small async trait with two backends, the kernel's
//! SocketCAN (through the `socketcan` crate) and an in-memory bus for tests and the simulation.

use std::future::Future;

use tokio::sync::broadcast;

use crate::frame::{CanFrame, CanId};

/// What went wrong on a bus. [`BusError::is_fatal`] tells a driver whether to reopen it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// The interface cannot be opened (missing, down, no permission, no kernel CAN).
    #[error("{iface}: cannot open: {source}")]
    Open {
        /// The interface.
        iface: String,
        /// What the kernel said.
        source: std::io::Error,
    },
    /// Reading or writing failed (the interface went away or is down).
    #[error("{iface}: {source}")]
    Io {
        /// The interface.
        iface: String,
        /// What the kernel said.
        source: std::io::Error,
    },
    /// The controller reported a bus error (error frame: bus-off, no ACK, wiring).
    #[error("{iface}: bus error reported by the controller: {what}")]
    ErrorFrame {
        /// The interface.
        iface: String,
        /// The error, as decoded.
        what: String,
    },
    /// A frame this crate does not handle arrived (remote frame), and was dropped.
    #[error("{iface}: dropped a {what}")]
    Unsupported {
        /// The interface.
        iface: String,
        /// What it was.
        what: &'static str,
    },
    /// The reader fell behind and `0` frames were lost (in-memory bus).
    #[error("fell behind, {0} frames lost")]
    Lagged(u64),
}

impl BusError {
    /// True if the bus is unusable and must be reopened.
    pub fn is_fatal(&self) -> bool {
        matches!(self, Self::Open { .. } | Self::Io { .. })
    }
}

/// A CAN bus: send and receive classic data frames.
///
/// `recv` must be cancel-safe (drivers `select!` it against their timers): a frame is either
/// returned or left for the next call.
pub trait CanBus: Send {
    /// Sends one frame.
    fn send(&mut self, frame: &CanFrame) -> impl Future<Output = Result<(), BusError>> + Send;
    /// The next frame sent by someone else on the bus.
    fn recv(&mut self) -> impl Future<Output = Result<CanFrame, BusError>> + Send;
}

/// An in-memory bus: every port receives the frames the other ports send (as on a real bus,
/// a port does not receive its own). Clones are the same bus.
#[derive(Debug, Clone)]
pub struct MemoryBus {
    tx: broadcast::Sender<(usize, CanFrame)>,
    next: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Default for MemoryBus {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBus {
    /// A new, empty bus.
    pub fn new() -> Self {
        Self {
            tx: broadcast::channel(1024).0,
            next: Default::default(),
        }
    }

    /// A new node on the bus. It receives frames sent after this call.
    pub fn port(&self) -> MemoryPort {
        MemoryPort {
            id: self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            tx: self.tx.clone(),
            rx: self.tx.subscribe(),
        }
    }
}

/// One node on a [`MemoryBus`].
#[derive(Debug)]
pub struct MemoryPort {
    id: usize,
    tx: broadcast::Sender<(usize, CanFrame)>,
    rx: broadcast::Receiver<(usize, CanFrame)>,
}

impl MemoryPort {
    /// The next frame if one is waiting (for tests that step by hand).
    pub fn try_recv(&mut self) -> Option<CanFrame> {
        loop {
            match self.rx.try_recv() {
                Ok((from, f)) if from != self.id => return Some(f),
                Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) => {}
                Err(_) => return None,
            }
        }
    }
}

impl CanBus for MemoryPort {
    async fn send(&mut self, frame: &CanFrame) -> Result<(), BusError> {
        // Nobody listening is not an error on CAN either (the frame is just not acknowledged).
        let _ = self.tx.send((self.id, *frame));
        Ok(())
    }

    async fn recv(&mut self) -> Result<CanFrame, BusError> {
        loop {
            match self.rx.recv().await {
                Ok((from, f)) if from != self.id => return Ok(f),
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => return Err(BusError::Lagged(n)),
                // We hold a sender ourselves, so the channel cannot close; wait forever.
                Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
            }
        }
    }
}

/// A SocketCAN interface (`can0`, `vcan0`), non-blocking on tokio.
///
/// The bitrate is the interface's (`ip link set can0 type can bitrate 500000`, or
/// `/etc/network/interfaces` on the board): all protocols here run at 500 kbit/s.
#[derive(Debug)]
pub struct SocketCanBus {
    iface: String,
    socket: socketcan::tokio::CanSocket,
}

impl SocketCanBus {
    /// Opens `iface`. Must be called inside a tokio runtime.
    pub fn open(iface: &str) -> Result<Self, BusError> {
        let socket = socketcan::tokio::CanSocket::open(iface).map_err(|source| BusError::Open {
            iface: iface.to_owned(),
            source,
        })?;
        Ok(Self {
            iface: iface.to_owned(),
            socket,
        })
    }

    /// The interface name.
    pub fn iface(&self) -> &str {
        &self.iface
    }
}

fn to_socketcan(frame: &CanFrame) -> Option<socketcan::CanFrame> {
    use socketcan::EmbeddedFrame;
    let id: socketcan::Id = match frame.id() {
        CanId::Standard(id) => socketcan::StandardId::new(id)?.into(),
        CanId::Extended(id) => socketcan::ExtendedId::new(id)?.into(),
    };
    socketcan::CanDataFrame::new(id, frame.data()).map(socketcan::CanFrame::Data)
}

impl CanBus for SocketCanBus {
    async fn send(&mut self, frame: &CanFrame) -> Result<(), BusError> {
        // Our frames always have valid ids and at most 8 bytes.
        let Some(f) = to_socketcan(frame) else {
            return Err(BusError::Unsupported {
                iface: self.iface.clone(),
                what: "frame the kernel cannot carry",
            });
        };
        self.socket
            .write_frame(f)
            .await
            .map_err(|source| BusError::Io {
                iface: self.iface.clone(),
                source,
            })
    }

    async fn recv(&mut self) -> Result<CanFrame, BusError> {
        use socketcan::EmbeddedFrame;
        let f = self
            .socket
            .read_frame()
            .await
            .map_err(|source| BusError::Io {
                iface: self.iface.clone(),
                source,
            })?;
        match f {
            socketcan::CanFrame::Data(d) => {
                let id = match d.id() {
                    socketcan::Id::Standard(s) => CanId::Standard(s.as_raw()),
                    socketcan::Id::Extended(e) => CanId::Extended(e.as_raw()),
                };
                // The kernel never hands out more than 8 bytes in a classic frame.
                CanFrame::new(id, d.data()).map_err(|_| BusError::Unsupported {
                    iface: self.iface.clone(),
                    what: "frame longer than 8 bytes",
                })
            }
            socketcan::CanFrame::Remote(_) => Err(BusError::Unsupported {
                iface: self.iface.clone(),
                what: "remote frame",
            }),
            socketcan::CanFrame::Error(e) => Err(BusError::ErrorFrame {
                iface: self.iface.clone(),
                what: e.into_error().to_string(),
            }),
        }
    }
}

/// Where a driver finds its bus: opened (again) by the driver, inside its runtime.
#[derive(Debug, Clone)]
pub enum CanLink {
    /// A SocketCAN interface by name.
    SocketCan(String),
    /// An in-memory bus.
    Memory(MemoryBus),
}

impl CanLink {
    /// Opens the link.
    pub fn open(&self) -> Result<AnyBus, BusError> {
        Ok(match self {
            Self::SocketCan(iface) => AnyBus::SocketCan(SocketCanBus::open(iface)?),
            Self::Memory(bus) => AnyBus::Memory(bus.port()),
        })
    }

    /// The name for messages.
    pub fn name(&self) -> &str {
        match self {
            Self::SocketCan(iface) => iface,
            Self::Memory(_) => "memory bus",
        }
    }
}

/// Either backend.
#[derive(Debug)]
pub enum AnyBus {
    /// SocketCAN.
    SocketCan(SocketCanBus),
    /// In memory.
    Memory(MemoryPort),
}

impl CanBus for AnyBus {
    async fn send(&mut self, frame: &CanFrame) -> Result<(), BusError> {
        match self {
            Self::SocketCan(b) => b.send(frame).await,
            Self::Memory(b) => b.send(frame).await,
        }
    }

    async fn recv(&mut self) -> Result<CanFrame, BusError> {
        match self {
            Self::SocketCan(b) => b.recv().await,
            Self::Memory(b) => b.recv().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_ports_hear_each_other_but_not_themselves() {
        let bus = MemoryBus::new();
        let (mut a, mut b, mut c) = (bus.port(), bus.port(), bus.port());
        let f = CanFrame::standard(0x351, &[1, 2]).unwrap();
        a.send(&f).await.unwrap();
        assert_eq!(b.recv().await.unwrap(), f);
        assert_eq!(c.recv().await.unwrap(), f);
        assert_eq!(a.try_recv(), None);
    }

    #[tokio::test]
    async fn opening_a_missing_interface_is_an_error_not_a_panic() {
        let e = SocketCanBus::open("gridlet-nope0").unwrap_err();
        assert!(e.is_fatal());
        assert!(
            e.to_string().starts_with("gridlet-nope0: cannot open"),
            "{e}"
        );
    }
}
