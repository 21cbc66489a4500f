use std::io;
use std::sync::Arc;
use std::time::Duration;

use homeplug::MacAddr;
use slac::sim::{HostId, Powerline};
use tokio::sync::{Mutex, mpsc};
use units::Clock;

use crate::Link;

/// An in-process [`Link`]: frames go to and come from a [`PowerlineHub`].
#[derive(Debug)]
pub struct MemoryLink {
    mac: MacAddr,
    name: String,
    host: HostId,
    up: mpsc::UnboundedSender<(HostId, Vec<u8>)>,
    down: Mutex<mpsc::UnboundedReceiver<Vec<u8>>>,
}

impl MemoryLink {
    /// This link's station on the hub's [`Powerline`].
    pub fn host(&self) -> HostId {
        self.host
    }
}

impl Link for MemoryLink {
    fn mac(&self) -> MacAddr {
        self.mac
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, frame: &[u8]) -> io::Result<()> {
        self.up
            .send((self.host, frame.to_vec()))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "powerline hub stopped"))
    }

    async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        let frame =
            self.down.lock().await.recv().await.ok_or_else(|| {
                io::Error::new(io::ErrorKind::BrokenPipe, "powerline hub stopped")
            })?;
        let n = frame.len().min(buf.len());
        buf[..n].copy_from_slice(&frame[..n]);
        Ok(n)
    }
}

/// Runs a [`Powerline`] (stations with their local modems) as a tokio task and hands out
/// [`MemoryLink`]s to it.
#[derive(Debug)]
pub struct PowerlineHub {
    line: Arc<std::sync::Mutex<Powerline>>,
    up: mpsc::UnboundedSender<(HostId, Vec<u8>)>,
    up_rx: Option<mpsc::UnboundedReceiver<(HostId, Vec<u8>)>>,
    downs: Vec<(HostId, mpsc::UnboundedSender<Vec<u8>>)>,
}

impl PowerlineHub {
    /// A hub whose frames take `latency`.
    pub fn new(latency: Duration) -> Self {
        let (up, up_rx) = mpsc::unbounded_channel();
        Self {
            line: Arc::new(std::sync::Mutex::new(Powerline::new(latency))),
            up,
            up_rx: Some(up_rx),
            downs: Vec::new(),
        }
    }

    /// A charger station whose modem reports `profile` for each sound.
    pub fn attach_evse(&mut self, mac: MacAddr, profile: &[u8]) -> MemoryLink {
        let host = self.with_line(|l| l.attach_evse(mac, profile));
        self.link(mac, host)
    }

    /// A car station.
    pub fn attach_ev(&mut self, mac: MacAddr) -> MemoryLink {
        let host = self.with_line(|l| l.attach_ev(mac));
        self.link(mac, host)
    }

    /// The simulated line itself, to look at (its log, its modems' keys) while the hub runs.
    pub fn line(&self) -> Arc<std::sync::Mutex<Powerline>> {
        Arc::clone(&self.line)
    }

    /// Access to the simulated line (loss rules, the frame log).
    pub fn with_line<R>(&self, f: impl FnOnce(&mut Powerline) -> R) -> R {
        // A poisoned lock means a loss rule panicked in a test: carry on with the line as is.
        let mut line = self.line.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut line)
    }

    fn link(&mut self, mac: MacAddr, host: HostId) -> MemoryLink {
        let (down_tx, down_rx) = mpsc::unbounded_channel();
        self.downs.push((host, down_tx));
        MemoryLink {
            mac,
            name: format!("mem{}", self.downs.len() - 1),
            host,
            up: self.up.clone(),
            down: Mutex::new(down_rx),
        }
    }

    /// Starts carrying frames; the task ends when every link is dropped.
    pub fn spawn(mut self, clock: impl Clock + 'static) -> tokio::task::JoinHandle<()> {
        let Some(mut up_rx) = self.up_rx.take() else {
            return tokio::spawn(async {});
        };
        let line = Arc::clone(&self.line);
        let downs = std::mem::take(&mut self.downs);
        // Only the links keep the uplink open: the task ends when they are all gone.
        drop(self);
        tokio::spawn(async move {
            loop {
                let next = {
                    let line = line.lock().unwrap_or_else(|e| e.into_inner());
                    line.next_arrival()
                };
                let wait = next.map(|t| t.saturating_duration_since(clock.now()));
                tokio::select! {
                    frame = up_rx.recv() => {
                        let Some((from, bytes)) = frame else { return };
                        let mut line = line.lock().unwrap_or_else(|e| e.into_inner());
                        line.send(clock.now(), from, &bytes);
                    }
                    () = async {
                        match wait {
                            Some(d) => tokio::time::sleep(d).await,
                            None => std::future::pending().await,
                        }
                    } => {}
                }
                let now = clock.now();
                loop {
                    let arrived = line.lock().unwrap_or_else(|e| e.into_inner()).poll(now);
                    let Some((to, bytes)) = arrived else { break };
                    if let Some((_, tx)) = downs.iter().find(|(h, _)| *h == to) {
                        // A dropped link just misses its frames.
                        let _ = tx.send(bytes);
                    }
                }
            }
        })
    }
}
