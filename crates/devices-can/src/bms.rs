//! Reading a BMS on CAN: a sans-IO reader that turns frames into a [`BmsState`], and the
//! [`CanBms`] backend of the `devices` role whose I/O task feeds it.
//!
//! Staleness. The state is stamped with the time of its oldest part (a Pylontech state needs
//! 0x351, 0x355 and 0x356; an openinverter one its 0x1F4), and an openinverter PDO whose 2-bit
//! counter has not moved does not count as news. A state older than the timeout (2 s by default,
//! as the predecessor's `oi_bms.py`) is reported with both current limits at zero and its old
//! stamp, so the controller's own BMS timeout applies too. When fresh frames return, so do the
//! limits: nothing latches.

#[cfg(feature = "io")]
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use devices::{BmsState, Stamped};
#[cfg(feature = "io")]
use units::Clock;
use units::{Amps, Timestamp, Volts};

#[cfg(feature = "io")]
use crate::bus::{CanBus, CanLink};
use crate::frame::{CanFrame, Error};
use crate::{openinverter, pylontech};

/// Which protocol the BMS speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BmsProtocol {
    /// The openinverter BMS: PDOs at `pdo_base` and `pdo_base + 1`.
    OpenInverter {
        /// The first PDO's identifier (0x1F4 by default).
        pdo_base: u16,
    },
    /// The Pylontech / SMA / Victron low-voltage protocol.
    Pylontech,
}

/// What happened to one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// It updated the state.
    Fresh,
    /// It repeated its predecessor's counter: not news.
    Repeated,
    /// Not a frame this BMS sends (another node on the bus).
    Ignored,
}

/// Counts for the status page and tests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReaderStats {
    /// Frames that updated the state.
    pub fresh: u64,
    /// Frames with a repeated counter.
    pub repeated: u64,
    /// Frames of other nodes.
    pub ignored: u64,
    /// Frames that did not decode.
    pub invalid: u64,
    /// The last decoding error.
    pub last_error: Option<String>,
}

type At<T> = Option<(Timestamp, T)>;

/// The sans-IO reader: frames in, the newest state out.
#[derive(Debug, Clone)]
pub struct BmsReader {
    protocol: BmsProtocol,
    timeout: Duration,
    stats: ReaderStats,
    oi_limits: At<openinverter::Limits>,
    oi_cells: At<openinverter::Cells>,
    oi_counter: [Option<u8>; 2],
    py_limits: At<pylontech::Limits>,
    py_soc: At<pylontech::Soc>,
    py_meas: At<pylontech::Measurements>,
    py_alarms: Option<devices::BmsAlarms>,
    py_sma_alarms: Option<devices::BmsAlarms>,
    py_request: Option<pylontech::Request>,
}

impl BmsReader {
    /// A reader of `protocol` whose state goes stale after `timeout`.
    pub fn new(protocol: BmsProtocol, timeout: Duration) -> Self {
        Self {
            protocol,
            timeout,
            stats: ReaderStats::default(),
            oi_limits: None,
            oi_cells: None,
            oi_counter: [None; 2],
            py_limits: None,
            py_soc: None,
            py_meas: None,
            py_alarms: None,
            py_sma_alarms: None,
            py_request: None,
        }
    }

    /// The counts so far.
    pub fn stats(&self) -> &ReaderStats {
        &self.stats
    }

    /// Takes one frame received at `now`. A frame that does not decode is reported (and
    /// counted) and changes nothing.
    pub fn handle_frame(&mut self, now: Timestamp, frame: &CanFrame) -> Result<Handled, Error> {
        let r = self.decode(now, frame);
        match &r {
            Ok(Handled::Fresh) => self.stats.fresh += 1,
            Ok(Handled::Repeated) => self.stats.repeated += 1,
            Ok(Handled::Ignored) => self.stats.ignored += 1,
            Err(e) => {
                self.stats.invalid += 1;
                self.stats.last_error = Some(e.to_string());
            }
        }
        r
    }

    fn decode(&mut self, now: Timestamp, frame: &CanFrame) -> Result<Handled, Error> {
        match self.protocol {
            BmsProtocol::OpenInverter { pdo_base } => {
                let ours = [
                    crate::CanId::Standard(pdo_base),
                    crate::CanId::Standard(pdo_base.wrapping_add(1)),
                ];
                if !ours.contains(&frame.id()) {
                    return Ok(Handled::Ignored);
                }
                let repr = openinverter::Repr::parse(frame, pdo_base)?;
                let (slot, counter) = match repr {
                    openinverter::Repr::Limits(l) => (0, l.counter),
                    openinverter::Repr::Cells(c) => (1, c.counter),
                };
                if self.oi_counter[slot] == Some(counter) {
                    return Ok(Handled::Repeated);
                }
                self.oi_counter[slot] = Some(counter);
                match repr {
                    openinverter::Repr::Limits(l) => self.oi_limits = Some((now, l)),
                    openinverter::Repr::Cells(c) => self.oi_cells = Some((now, c)),
                }
                Ok(Handled::Fresh)
            }
            BmsProtocol::Pylontech => {
                let repr = match pylontech::Repr::parse(frame) {
                    Err(Error::UnknownId(_)) => return Ok(Handled::Ignored),
                    r => r?,
                };
                match repr {
                    pylontech::Repr::Limits(l) => self.py_limits = Some((now, l)),
                    pylontech::Repr::Soc(s) => self.py_soc = Some((now, s)),
                    pylontech::Repr::Measurements(m) => self.py_meas = Some((now, m)),
                    pylontech::Repr::Protection(p) => self.py_alarms = Some(p.alarms()),
                    pylontech::Repr::Alarms(a) => self.py_sma_alarms = Some(a.alarms()),
                    pylontech::Repr::Request(r) => self.py_request = Some(r),
                    pylontech::Repr::Manufacturer(..) => {}
                    // Another inverter's keep-alive: not ours to read.
                    pylontech::Repr::KeepAlive => return Ok(Handled::Ignored),
                }
                Ok(Handled::Fresh)
            }
        }
    }

    /// The newest complete state as the BMS reported it, stamped with its oldest part.
    pub fn state(&self) -> Option<Stamped<BmsState>> {
        match self.protocol {
            BmsProtocol::OpenInverter { .. } => {
                let (at, l) = self.oi_limits?;
                let cells = self.oi_cells.map(|(_, c)| c);
                Some(Stamped::new(
                    at,
                    BmsState {
                        soc_pct: l.soc,
                        voltage_v: l.voltage,
                        current_a: l.current,
                        max_charge_a: l.ccl,
                        max_discharge_a: l.dcl,
                        alarms: devices::BmsAlarms::NONE,
                        cell_min_v: cells.map(|c| c.min),
                        cell_max_v: cells.map(|c| c.max),
                        temperature_c: None,
                    },
                ))
            }
            BmsProtocol::Pylontech => {
                let (t1, l) = self.py_limits?;
                let (t2, s) = self.py_soc?;
                let (t3, m) = self.py_meas?;
                let mut alarms = self.py_alarms.unwrap_or_default();
                for a in self.py_sma_alarms.unwrap_or_default().iter() {
                    alarms.insert(a);
                }
                // 0x35C can forbid what 0x351 allows.
                let req = self.py_request;
                let charge_ok = req.is_none_or(|r| r.charge_enabled());
                let discharge_ok = req.is_none_or(|r| r.discharge_enabled());
                Some(Stamped::new(
                    t1.min(t2).min(t3),
                    BmsState {
                        soc_pct: s.soc_fine.unwrap_or(s.soc),
                        voltage_v: m.voltage,
                        current_a: m.current,
                        max_charge_a: if charge_ok {
                            l.charge_current
                        } else {
                            Amps::ZERO
                        },
                        max_discharge_a: if discharge_ok {
                            l.discharge_current
                        } else {
                            Amps::ZERO
                        },
                        alarms,
                        cell_min_v: None,
                        cell_max_v: None,
                        temperature_c: Some(m.temperature_c),
                    },
                ))
            }
        }
    }

    /// The state as the site should use it at `now`: with zero current limits once it is
    /// older than the timeout.
    pub fn state_at(&self, now: Timestamp) -> Option<Stamped<BmsState>> {
        let mut s = self.state()?;
        if s.age(now) > self.timeout {
            s.value.max_charge_a = Amps::ZERO;
            s.value.max_discharge_a = Amps::ZERO;
        }
        Some(s)
    }

    /// The charge voltage limit the BMS sends, if its protocol has one (Pylontech 0x351).
    pub fn charge_voltage(&self) -> Option<Volts> {
        self.py_limits.map(|(_, l)| l.charge_voltage)
    }
}

#[cfg(feature = "io")]
fn lock(m: &Mutex<BmsReader>) -> MutexGuard<'_, BmsReader> {
    // A panic elsewhere cannot leave the reader half-updated in a way that matters: its
    // fields are replaced whole.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The `devices::Bms` backend: a BMS on a CAN bus, read by its own I/O task
/// ([`BmsDriver::run`]).
#[cfg(feature = "io")]
#[derive(Debug, Clone)]
pub struct CanBms {
    reader: Arc<Mutex<BmsReader>>,
    clock: Arc<dyn Clock>,
}

#[cfg(feature = "io")]
impl CanBms {
    /// The backend and the driver that must run (spawned on a tokio runtime) to feed it.
    pub fn new(
        name: &str,
        protocol: BmsProtocol,
        timeout: Duration,
        link: CanLink,
        clock: Arc<dyn Clock>,
    ) -> (Self, BmsDriver) {
        let reader = Arc::new(Mutex::new(BmsReader::new(protocol, timeout)));
        (
            Self {
                reader: Arc::clone(&reader),
                clock: Arc::clone(&clock),
            },
            BmsDriver {
                name: name.to_owned(),
                reader,
                link,
                clock,
            },
        )
    }

    /// The reader's counts.
    pub fn stats(&self) -> ReaderStats {
        lock(&self.reader).stats().clone()
    }
}

#[cfg(feature = "io")]
impl devices::Bms for CanBms {
    fn state(&self) -> Option<Stamped<BmsState>> {
        lock(&self.reader).state_at(self.clock.now())
    }
}

/// The I/O task of a [`CanBms`].
#[cfg(feature = "io")]
#[derive(Debug)]
pub struct BmsDriver {
    name: String,
    reader: Arc<Mutex<BmsReader>>,
    link: CanLink,
    clock: Arc<dyn Clock>,
}

/// How long a driver waits before reopening a failed bus, at most.
#[cfg(feature = "io")]
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

#[cfg(feature = "io")]
impl BmsDriver {
    /// Reads the bus until the task is dropped: opens the link, reopens it with backoff when it
    /// fails (reported, never fatal), and reports undecodable frames (one log line per 10 s at
    /// most; every one is counted in the stats).
    pub async fn run(self) {
        let mut backoff = Duration::from_secs(1);
        loop {
            match self.link.open() {
                Ok(mut bus) => {
                    tracing::info!("{}: reading the BMS on {}", self.name, self.link.name());
                    backoff = Duration::from_secs(1);
                    let e = self.read(&mut bus).await;
                    tracing::warn!("{}: {e}; reopening in {backoff:?}", self.name);
                }
                Err(e) => tracing::warn!("{}: {e}; retrying in {backoff:?}", self.name),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Reads frames until the bus fails.
    pub async fn read<B: CanBus>(&self, bus: &mut B) -> crate::BusError {
        let mut last_warned: Option<Timestamp> = None;
        loop {
            match bus.recv().await {
                Ok(frame) => {
                    let now = self.clock.now();
                    if let Err(e) = lock(&self.reader).handle_frame(now, &frame) {
                        // One line per 10 s at most: a babbling node must not flood the log.
                        if last_warned
                            .is_none_or(|t| now.saturating_duration_since(t).as_secs() >= 10)
                        {
                            tracing::warn!("{}: ignored a frame: {e}", self.name);
                            last_warned = Some(now);
                        }
                    }
                }
                Err(e) if e.is_fatal() => return e,
                Err(e) => tracing::debug!("{}: {e}", self.name),
            }
        }
    }
}
