//! A meter polled over Modbus: its own I/O task reads the model's blocks every `poll`, publishes
//! the newest stamped values and keeps the health record; the [`GridMeter`] role only reads
//! what the task last published, so a slow or dead meter never delays the control tick.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use devices::{DeviceStatus, GridMeter, GridReading, HealthCell, Monitored, Stamped};
use serde::Deserialize;
use tokio_modbus::client::{Context, Reader as _};
use tokio_modbus::slave::{Slave, SlaveContext as _};
use units::{Clock, Timestamp, duration_str};

use crate::link::{ClientLink, LinkParams, ParamError, open_serial};
use crate::model::{Model, Read, Table};

/// `[grid_meter] type = "sdm630" | "sdm72" | "dtsu666"`: a meter on Modbus.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeterParams {
    /// Where it is.
    pub modbus: LinkParams,
    /// How often it is read.
    #[serde(default = "default_poll", with = "duration_str")]
    pub poll: Duration,
}

fn default_poll() -> Duration {
    Duration::from_millis(500)
}

impl MeterParams {
    /// Checks the settings; the error's key is relative to the meter's table.
    pub fn check(&self) -> Result<ClientLink, ParamError> {
        if self.poll < Duration::from_millis(50) || self.poll > Duration::from_secs(60) {
            return Err(ParamError::new("poll", "must be between 50ms and 60s"));
        }
        self.modbus.client()
    }
}

impl devices::config::DeviceParams for MeterParams {
    fn validate(&self) -> Result<(), devices::config::FieldError> {
        self.check().map(drop).map_err(Into::into)
    }
}

/// Why a meter cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A setting is wrong.
    #[error("{device}: {source}")]
    Config {
        /// The device's name.
        device: String,
        /// The setting.
        source: ParamError,
    },
    /// The model's table is broken (a bug of ours).
    #[error("{device}: {source}")]
    Model {
        /// The device's name.
        device: String,
        /// What is wrong.
        source: crate::model::ModelError,
    },
    /// The device's I/O needs a tokio runtime (the daemon, not the virtual-time simulation).
    #[error("{device}: Modbus devices run only in the daemon (gridlet run): no tokio runtime")]
    NoRuntime {
        /// The device's name.
        device: String,
    },
}

type Latest = Arc<Mutex<Option<Stamped<crate::model::MeterValues>>>>;

/// The newest values of a meter, shared with whoever needs more than the grid reading (the
/// meter emulation).
pub trait MeterSource: Send + Sync {
    /// The newest values, stamped.
    fn values(&self) -> Option<Stamped<crate::model::MeterValues>>;
}

/// Cheap handle on a [`ModbusMeter`]'s newest values.
#[derive(Debug, Clone)]
pub struct MeterHandle(Latest);

/// Any [`GridMeter`] as a source (a simulated meter): its power, phases and energies.
pub struct GridMeterSource(pub Mutex<Box<dyn GridMeter>>);

impl std::fmt::Debug for GridMeterSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GridMeterSource")
    }
}

impl MeterSource for GridMeterSource {
    fn values(&self) -> Option<Stamped<crate::model::MeterValues>> {
        use crate::model::Field;
        let r = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .reading()?;
        let mut v = crate::model::MeterValues::default();
        v.set(Field::Power, r.value.power_w.0);
        if let Some(p) = r.value.phases_w {
            for (f, w) in [Field::PowerL1, Field::PowerL2, Field::PowerL3]
                .into_iter()
                .zip(p)
            {
                v.set(f, w.0);
            }
        }
        if let Some(e) = r.value.import_wh {
            v.set(Field::ImportKwh, e.0 / 1000.0);
        }
        if let Some(e) = r.value.export_wh {
            v.set(Field::ExportKwh, e.0 / 1000.0);
        }
        Some(Stamped::new(r.at, v))
    }
}

impl MeterSource for MeterHandle {
    fn values(&self) -> Option<Stamped<crate::model::MeterValues>> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A meter on Modbus: the [`GridMeter`] role over the newest values its task read.
#[derive(Debug)]
pub struct ModbusMeter {
    latest: Latest,
    health: HealthCell,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ModbusMeter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ModbusMeter {
    /// Starts polling the meter `name` of type `model` on the current tokio runtime. Readings
    /// are stamped by `clock`; the meter counts as stale `stale_after` after its last good one.
    pub fn open(
        name: &str,
        model: &str,
        params: &MeterParams,
        clock: Arc<dyn Clock>,
        stale_after: Duration,
    ) -> Result<Self, OpenError> {
        let link = params.check().map_err(|source| OpenError::Config {
            device: name.to_owned(),
            source,
        })?;
        let model = Model::builtin(model).map_err(|source| OpenError::Model {
            device: name.to_owned(),
            source,
        })?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| OpenError::NoRuntime {
            device: name.to_owned(),
        })?;
        let latest = Latest::default();
        let health = HealthCell::new(name, model.name.clone(), stale_after);
        let poller = Poller {
            unit: params.modbus.unit.unwrap_or(model.default_unit),
            reads: model.reads(),
            model,
            link,
            timeout: params.modbus.timeout,
            retries: params.modbus.retries,
            poll: params.poll,
            clock,
            latest: latest.clone(),
            health: health.clone(),
        };
        let task = runtime.spawn(poller.run());
        Ok(Self {
            latest,
            health,
            task,
        })
    }

    /// A handle on the newest values.
    pub fn handle(&self) -> MeterHandle {
        MeterHandle(self.latest.clone())
    }

    /// Its health record.
    pub fn health(&self) -> HealthCell {
        self.health.clone()
    }
}

impl GridMeter for ModbusMeter {
    fn reading(&self) -> Option<Stamped<GridReading>> {
        let v = (*self.latest.lock().unwrap_or_else(PoisonError::into_inner))?;
        v.value.grid_reading().map(|r| Stamped::new(v.at, r))
    }
}

impl Monitored for ModbusMeter {
    fn device_status(&self, now: Timestamp) -> DeviceStatus {
        self.health.device_status(now)
    }
}

/// Reconnection back-off: 250 ms doubling to 5 s, so a meter that returns is read again within
/// 5 s.
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// What went wrong with one poll.
enum PollError {
    /// The link is in doubt (timeout, I/O error, a mismatched answer): reconnect.
    Link(String),
    /// The device answered, but unusably (an exception, NaN): keep the link.
    Device(String),
}

struct Poller {
    model: Model,
    reads: Vec<Read>,
    unit: u8,
    link: ClientLink,
    timeout: Duration,
    retries: u32,
    poll: Duration,
    clock: Arc<dyn Clock>,
    latest: Latest,
    health: HealthCell,
}

impl Poller {
    async fn connect(&self) -> Result<Context, String> {
        let slave = Slave(self.unit);
        let connecting = async {
            let ctx: std::io::Result<Context> = match &self.link {
                ClientLink::Tcp(addr) => {
                    let stream = tokio::net::TcpStream::connect(addr.as_str()).await?;
                    stream.set_nodelay(true)?;
                    Ok(tokio_modbus::client::tcp::attach_slave(stream, slave))
                }
                ClientLink::RtuOverTcp(addr) => {
                    let stream = tokio::net::TcpStream::connect(addr.as_str()).await?;
                    stream.set_nodelay(true)?;
                    Ok(tokio_modbus::client::rtu::attach_slave(stream, slave))
                }
                ClientLink::Rtu(s) => Ok(tokio_modbus::client::rtu::attach_slave(
                    open_serial(s)?,
                    slave,
                )),
            };
            ctx
        };
        match tokio::time::timeout(self.timeout, connecting).await {
            Ok(Ok(ctx)) => Ok(ctx),
            Ok(Err(e)) => Err(format!("cannot connect ({}): {}", self.link, e)),
            Err(_) => Err(format!(
                "cannot connect ({}): no answer within {:?}",
                self.link, self.timeout
            )),
        }
    }

    async fn poll_once(&self, ctx: &mut Context) -> Result<crate::model::MeterValues, PollError> {
        ctx.set_slave(Slave(self.unit));
        let mut blocks = Vec::with_capacity(self.reads.len());
        for r in &self.reads {
            let request = async {
                match self.model.table {
                    Table::Input => ctx.read_input_registers(r.addr, r.count).await,
                    Table::Holding => ctx.read_holding_registers(r.addr, r.count).await,
                }
            };
            let words = match tokio::time::timeout(self.timeout, request).await {
                Err(_) => {
                    return Err(PollError::Link(format!(
                        "no answer within {:?} (unit {}, registers {}+{})",
                        self.timeout, self.unit, r.addr, r.count
                    )));
                }
                Ok(Err(e)) => return Err(PollError::Link(format!("{e} (unit {})", self.unit))),
                Ok(Ok(Err(exception))) => {
                    return Err(PollError::Device(format!(
                        "exception {exception} reading registers {}+{}",
                        r.addr, r.count
                    )));
                }
                Ok(Ok(Ok(words))) => words,
            };
            blocks.push(words);
        }
        self.model
            .decode(&self.reads, &blocks)
            .map_err(|e| PollError::Device(e.to_string()))
    }

    async fn run(self) {
        let mut backoff = BACKOFF_MIN;
        let mut failures: u32 = 0;
        loop {
            let mut ctx = match self.connect().await {
                Ok(ctx) => ctx,
                Err(e) => {
                    self.health.error(self.clock.now(), e);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
            };
            let mut next = tokio::time::Instant::now();
            loop {
                match self.poll_once(&mut ctx).await {
                    Ok(values) => {
                        let now = self.clock.now();
                        *self.latest.lock().unwrap_or_else(PoisonError::into_inner) =
                            Some(Stamped::new(now, values));
                        self.health.ok(now);
                        backoff = BACKOFF_MIN;
                        failures = 0;
                    }
                    Err(PollError::Device(e)) => self.health.error(self.clock.now(), e),
                    Err(PollError::Link(e)) => {
                        self.health.error(self.clock.now(), e);
                        failures += 1;
                        break;
                    }
                }
                next += self.poll;
                let now = tokio::time::Instant::now();
                if next < now {
                    // Behind (slow device): poll again now, without a burst to catch up.
                    next = now;
                }
                tokio::time::sleep_until(next).await;
            }
            let _ = tokio_modbus::client::Client::disconnect(&mut ctx).await;
            if failures > self.retries {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}
