//! A device polled *and commanded* over Modbus (inverters, hybrid inverters, SunSpec meters).
//!
//! The vendor's behaviour is a sans-IO [`Protocol`]: what to read to find the register map
//! (SunSpec discovery), what to read each cycle, how the words decode, which writes apply a
//! set-point. [`ModbusDevice`] is the thin tokio task around it: it connects (with the device's
//! quiet time after connecting), discovers, polls every `poll`, publishes the newest stamped
//! values, keeps the health record, and writes the set-points the role traits left in its
//! [`SetpointWatchdog`]s — the safe ones once they are stale, so a stalled controller turns the
//! device to its safe state within the set-point timeout (5 s by default). Set-points are
//! written when they change and again every [`Protocol::refresh`], which for SunSpec is a third
//! of the revert timeout the device enforces itself when gridlet is gone.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use devices::{
    Converter, ConverterCommand, ConverterStatus, DeviceError, DeviceStatus, GridMeter,
    GridReading, HealthCell, Monitored, PvInverter, PvStatus, SetpointWatchdog, Stamped,
};
use tokio_modbus::client::{Context, Reader as _, Writer as _};
use tokio_modbus::slave::{Slave, SlaveContext as _};
use units::{Clock, Timestamp, WattHours, Watts};

use crate::link::{ClientLink, open_serial};
use crate::meter::OpenError;
use crate::model::{Field, MeterValues, Quantity, Table};

/// One read: `count` registers of `table` from `addr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// Input (FC04) or holding (FC03) registers.
    pub table: Table,
    /// First address (0-based, as on the wire).
    pub addr: u16,
    /// Registers.
    pub count: u16,
}

/// One write of holding registers (FC16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// First address.
    pub addr: u16,
    /// The words.
    pub words: Vec<u16>,
}

/// What one cycle read, in SI units; `None`: the device does not report it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DeviceValues {
    /// A meter's values (the SunSpec meters, the Huawei's meter read-back).
    pub meter: Option<MeterValues>,
    /// AC output, W, + = producing.
    pub ac_power_w: Option<f64>,
    /// PV (DC) input, W.
    pub pv_power_w: Option<f64>,
    /// Lifetime AC energy, Wh.
    pub energy_wh: Option<f64>,
    /// The output limit in effect, % of nameplate (`None`: not limited).
    pub limit_pct: Option<f64>,
    /// Battery power, W, + = charging.
    pub battery_power_w: Option<f64>,
    /// Battery state of charge, %.
    pub soc_pct: Option<f64>,
    /// DC (battery or PV) voltage, V.
    pub dc_voltage_v: Option<f64>,
    /// The device runs (produces, or follows battery set-points).
    pub running: Option<bool>,
    /// The device reports a fault.
    pub fault: bool,
}

/// What a commanded device's table row (`models/huawei.toml`) fills in [`DeviceValues`]; a
/// meter [`Field`] name fills [`DeviceValues::meter`]. Names are snake_case (`ac_power`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceField {
    /// AC output, W, + = producing.
    AcPower,
    /// PV (DC) input, W.
    PvPower,
    /// Lifetime AC energy, Wh.
    EnergyWh,
    /// Battery power, W, **+ = charging** (the [`Converter`] sign).
    BatteryPower,
    /// Battery state of charge, %.
    Soc,
    /// DC (battery or PV) voltage, V.
    DcVoltage,
    /// A meter value.
    #[serde(untagged)]
    Meter(Field),
}

impl std::fmt::Display for DeviceField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Meter(m) => m.fmt(f),
            other => std::fmt::Debug::fmt(other, f),
        }
    }
}

impl Quantity for DeviceField {
    type Values = DeviceValues;

    fn put(self, v: &mut DeviceValues, x: f64) {
        let slot = match self {
            Self::AcPower => &mut v.ac_power_w,
            Self::PvPower => &mut v.pv_power_w,
            Self::EnergyWh => &mut v.energy_wh,
            Self::BatteryPower => &mut v.battery_power_w,
            Self::Soc => &mut v.soc_pct,
            Self::DcVoltage => &mut v.dc_voltage_v,
            Self::Meter(field) => {
                v.meter.get_or_insert_default().set(field, x);
                return;
            }
        };
        *slot = Some(x);
    }
}

/// The set-points to write, already through their watchdogs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setpoints {
    /// AC output limit, W (`None`: unlimited).
    pub limit_w: Option<f64>,
    /// Battery command.
    pub battery: ConverterCommand,
}

/// A device's register behaviour, sans-IO.
pub trait Protocol: Send + Sync + 'static {
    /// Discovery after each connect. Called first with `None` (start over), then with each
    /// answer (`Some(None)`: an exception); returns the next read, `None` when done. An error
    /// says why the device cannot be used as configured.
    fn discover(&mut self, answer: Option<Option<&[u16]>>) -> Result<Option<Block>, String> {
        let _ = answer;
        Ok(None)
    }

    /// The reads of one cycle.
    fn reads(&self) -> Vec<Block>;

    /// Decodes one cycle's answers (one per [`reads`](Self::reads) block, in order).
    fn decode(&mut self, blocks: &[Vec<u16>]) -> Result<DeviceValues, String>;

    /// The writes that apply `set`.
    fn writes(&self, set: &Setpoints) -> Result<Vec<Write>, String>;

    /// How long the device must be left alone after connecting (Huawei: 1 s).
    fn quiet_after_connect(&self) -> Duration {
        Duration::ZERO
    }

    /// Unchanged set-points are written again this often.
    fn refresh(&self) -> Duration {
        Duration::from_secs(30)
    }
}

/// How the task runs a device.
#[derive(Debug, Clone)]
pub struct DriverSettings {
    /// Where it is.
    pub link: ClientLink,
    /// Its unit address.
    pub unit: u8,
    /// Per-exchange timeout.
    pub timeout: Duration,
    /// Failed exchanges retried at once before backing off.
    pub retries: u32,
    /// Poll period.
    pub poll: Duration,
    /// Readings are stale this long after the last good one.
    pub stale_after: Duration,
    /// Set-points fall back to the safe ones this long after the last one.
    pub setpoint_timeout: Duration,
    /// Nameplate AC power, W (status of a PV inverter).
    pub rated_w: f64,
    /// The PV limit of the safe state (`None`: unlimited).
    pub fallback_limit_w: Option<f64>,
}

#[derive(Debug)]
struct Shared {
    latest: Option<Stamped<DeviceValues>>,
    limit: SetpointWatchdog<Option<f64>>,
    battery: SetpointWatchdog<ConverterCommand>,
    /// The set-points the device holds (written and acknowledged).
    written: Option<Setpoints>,
    /// A poll completed after `written` was acknowledged: `latest` shows the device under it.
    read_since_write: bool,
}

/// A device on Modbus, usable as [`PvInverter`], [`Converter`] or [`GridMeter`] (whichever its
/// protocol serves) and [`Monitored`].
#[derive(Debug)]
pub struct ModbusDevice {
    name: String,
    shared: Arc<Mutex<Shared>>,
    health: HealthCell,
    rated_w: f64,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ModbusDevice {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ModbusDevice {
    /// Starts the device `name` of type `kind` on the current tokio runtime.
    pub fn open(
        name: &str,
        kind: &str,
        protocol: Box<dyn Protocol>,
        settings: DriverSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, OpenError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| OpenError::NoRuntime {
            device: name.to_owned(),
        })?;
        let shared = Arc::new(Mutex::new(Shared {
            latest: None,
            limit: SetpointWatchdog::new(settings.fallback_limit_w, settings.setpoint_timeout),
            battery: SetpointWatchdog::new(ConverterCommand::SAFE, settings.setpoint_timeout),
            written: None,
            read_since_write: false,
        }));
        let health = HealthCell::new(name, kind, settings.stale_after);
        let rated_w = settings.rated_w;
        let task = runtime.spawn(
            Driver {
                protocol,
                settings,
                clock,
                shared: shared.clone(),
                health: health.clone(),
            }
            .run(),
        );
        Ok(Self {
            name: name.to_owned(),
            shared,
            health,
            rated_w,
            task,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The newest values.
    pub fn values(&self) -> Option<Stamped<DeviceValues>> {
        self.lock().latest
    }

    /// The set-points the device acknowledged last.
    pub fn written(&self) -> Option<Setpoints> {
        self.lock().written
    }

    /// Its health record.
    pub fn health(&self) -> HealthCell {
        self.health.clone()
    }

    /// A handle on its meter values (the DTSU666-H emulation's source).
    pub fn share(&self) -> DeviceMeter {
        DeviceMeter(self.shared.clone())
    }

    fn failing(&self) -> Result<(), DeviceError> {
        // A command is only stored here; its fate is the task's. Report a broken link so the
        // controller's log says why its set-points have no effect.
        match self.health.last_error() {
            Some(reason) if self.health.last_good().is_none() => Err(DeviceError::Link {
                device: self.name.clone(),
                reason,
            }),
            _ => Ok(()),
        }
    }
}

/// Cheap handle on a [`ModbusDevice`]'s meter values.
#[derive(Debug, Clone)]
pub struct DeviceMeter(Arc<Mutex<Shared>>);

impl crate::meter::MeterSource for DeviceMeter {
    fn values(&self) -> Option<Stamped<MeterValues>> {
        let v = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .latest?;
        v.value.meter.map(|m| Stamped::new(v.at, m))
    }
}

impl PvInverter for ModbusDevice {
    fn status(&self) -> Option<Stamped<PvStatus>> {
        let s = self.lock();
        let v = s.latest?;
        let power = v.value.ac_power_w?;
        Some(Stamped::new(
            v.at,
            PvStatus {
                power_w: Watts(power.max(0.0)),
                limit_w: v.value.limit_pct.map(|p| Watts(p / 100.0 * self.rated_w)),
                rated_w: Watts(self.rated_w),
                energy_wh: v.value.energy_wh.map(WattHours),
            },
        ))
    }

    fn set_limit(&mut self, now: Timestamp, limit: Option<Watts>) -> Result<(), DeviceError> {
        self.lock().limit.set(now, limit.map(|w| w.0.max(0.0)));
        self.failing()
    }

    fn safe_state(&mut self, _now: Timestamp) -> Result<(), DeviceError> {
        self.lock().limit.reset();
        Ok(())
    }
}

impl Converter for ModbusDevice {
    fn status(&self) -> Option<Stamped<ConverterStatus>> {
        let s = self.lock();
        let v = s.latest?;
        Some(Stamped::new(
            v.at,
            ConverterStatus {
                power_w: Watts(v.value.battery_power_w?),
                dc_voltage_v: v.value.dc_voltage_v.map(units::Volts),
                enabled: v.value.running.unwrap_or(false),
                fault: v.value.fault,
            },
        ))
    }

    fn command(&mut self, now: Timestamp, cmd: ConverterCommand) -> Result<(), DeviceError> {
        self.lock().battery.set(now, cmd);
        self.failing()
    }

    fn safe_state(&mut self, _now: Timestamp) -> Result<(), DeviceError> {
        self.lock().battery.reset();
        Ok(())
    }

    /// The device acknowledged the safe command and was read after that (the task reads, then
    /// writes, each cycle: the next cycle's read is the first to show the device under it).
    fn safe_state_held(&self) -> bool {
        let s = self.lock();
        s.read_since_write
            && s.written
                .is_some_and(|w| w.battery == ConverterCommand::SAFE)
    }
}

impl GridMeter for ModbusDevice {
    fn reading(&self) -> Option<Stamped<GridReading>> {
        let v = self.lock().latest?;
        v.value.meter?.grid_reading().map(|r| Stamped::new(v.at, r))
    }
}

impl Monitored for ModbusDevice {
    fn device_status(&self, now: Timestamp) -> DeviceStatus {
        self.health.device_status(now)
    }
}

/// Reconnection back-off: 250 ms doubling to 5 s.
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Unusable answers in a row after which the device is connected and discovered again.
const REDISCOVER_AFTER: u32 = 3;

enum Failure {
    /// The link is in doubt: reconnect.
    Link(String),
    /// The device answered unusably: keep the link.
    Device(String),
}

struct Driver {
    protocol: Box<dyn Protocol>,
    settings: DriverSettings,
    clock: Arc<dyn Clock>,
    shared: Arc<Mutex<Shared>>,
    health: HealthCell,
}

impl Driver {
    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn connect(&self) -> Result<Context, String> {
        let slave = Slave(self.settings.unit);
        let link = &self.settings.link;
        let connecting = async {
            let ctx: std::io::Result<Context> = match link {
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
        match tokio::time::timeout(self.settings.timeout, connecting).await {
            Ok(Ok(ctx)) => Ok(ctx),
            Ok(Err(e)) => Err(format!("cannot connect ({link}): {e}")),
            Err(_) => Err(format!(
                "cannot connect ({link}): no answer within {:?}",
                self.settings.timeout
            )),
        }
    }

    /// One read; `Ok(Err(code))` is an exception.
    async fn read(
        &self,
        ctx: &mut Context,
        b: Block,
    ) -> Result<Result<Vec<u16>, tokio_modbus::ExceptionCode>, Failure> {
        let request = async {
            match b.table {
                Table::Input => ctx.read_input_registers(b.addr, b.count).await,
                Table::Holding => ctx.read_holding_registers(b.addr, b.count).await,
            }
        };
        let unit = self.settings.unit;
        match tokio::time::timeout(self.settings.timeout, request).await {
            Err(_) => Err(Failure::Link(format!(
                "no answer within {:?} (unit {unit}, registers {}+{})",
                self.settings.timeout, b.addr, b.count
            ))),
            Ok(Err(e)) => Err(Failure::Link(format!("{e} (unit {unit})"))),
            Ok(Ok(Err(code))) => Ok(Err(code)),
            Ok(Ok(Ok(words))) if words.len() != usize::from(b.count) => {
                Err(Failure::Device(format!(
                    "asked for {} registers at {}, got {}",
                    b.count,
                    b.addr,
                    words.len()
                )))
            }
            Ok(Ok(Ok(words))) => Ok(Ok(words)),
        }
    }

    async fn discover(&mut self, ctx: &mut Context) -> Result<(), Failure> {
        let mut next = self.protocol.discover(None).map_err(Failure::Device)?;
        while let Some(b) = next {
            let answer = self.read(ctx, b).await?;
            next = self
                .protocol
                .discover(Some(answer.as_deref().ok()))
                .map_err(Failure::Device)?;
        }
        Ok(())
    }

    async fn poll(&mut self, ctx: &mut Context) -> Result<DeviceValues, Failure> {
        let reads = self.protocol.reads();
        let mut blocks = Vec::with_capacity(reads.len());
        for b in reads {
            match self.read(ctx, b).await? {
                Ok(words) => blocks.push(words),
                Err(code) => {
                    return Err(Failure::Device(format!(
                        "exception {code} reading registers {}+{}",
                        b.addr, b.count
                    )));
                }
            }
        }
        self.protocol.decode(&blocks).map_err(Failure::Device)
    }

    async fn write(&self, ctx: &mut Context, writes: &[Write]) -> Result<(), Failure> {
        for w in writes {
            let request = ctx.write_multiple_registers(w.addr, &w.words);
            match tokio::time::timeout(self.settings.timeout, request).await {
                Err(_) => {
                    return Err(Failure::Link(format!(
                        "no answer within {:?} writing registers {}+{}",
                        self.settings.timeout,
                        w.addr,
                        w.words.len()
                    )));
                }
                Ok(Err(e)) => return Err(Failure::Link(e.to_string())),
                Ok(Ok(Err(code))) => {
                    return Err(Failure::Device(format!(
                        "exception {code} writing registers {}+{}",
                        w.addr,
                        w.words.len()
                    )));
                }
                Ok(Ok(Ok(()))) => {}
            }
        }
        Ok(())
    }

    /// Writes the effective set-points if they changed or are due again.
    async fn command(
        &mut self,
        ctx: &mut Context,
        last_write: &mut Option<tokio::time::Instant>,
    ) -> Result<(), Failure> {
        let now = self.clock.now();
        let (set, written) = {
            let s = self.lock();
            (
                Setpoints {
                    limit_w: s.limit.effective(now),
                    battery: s.battery.effective(now),
                },
                s.written,
            )
        };
        let due = last_write.is_none_or(|t| t.elapsed() >= self.protocol.refresh());
        if written == Some(set) && !due {
            return Ok(());
        }
        let writes = self.protocol.writes(&set).map_err(Failure::Device)?;
        {
            let mut s = self.lock();
            s.written = None;
            s.read_since_write = false;
        }
        self.write(ctx, &writes).await?;
        {
            let mut s = self.lock();
            s.written = Some(set);
            s.read_since_write = false;
        }
        *last_write = Some(tokio::time::Instant::now());
        Ok(())
    }

    async fn run(mut self) {
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
            tokio::time::sleep(self.protocol.quiet_after_connect()).await;
            ctx.set_slave(Slave(self.settings.unit));
            let mut broken = match self.discover(&mut ctx).await {
                Ok(()) => false,
                Err(Failure::Link(e) | Failure::Device(e)) => {
                    self.health.error(self.clock.now(), e);
                    failures += 1;
                    true
                }
            };
            let mut last_write = None;
            let mut unusable = 0;
            let mut next = tokio::time::Instant::now();
            while !broken {
                match self.poll(&mut ctx).await {
                    Ok(values) => {
                        let now = self.clock.now();
                        {
                            let mut s = self.lock();
                            s.latest = Some(Stamped::new(now, values));
                            s.read_since_write = s.written.is_some();
                        }
                        self.health.ok(now);
                        backoff = BACKOFF_MIN;
                        failures = 0;
                        unusable = 0;
                    }
                    Err(Failure::Device(e)) => {
                        self.health.error(self.clock.now(), e);
                        // A device that rebooted into another map (or at another address)
                        // answers garbage for good: connect and discover again.
                        unusable += 1;
                        if unusable >= REDISCOVER_AFTER {
                            failures += 1;
                            broken = true;
                        }
                    }
                    Err(Failure::Link(e)) => {
                        self.health.error(self.clock.now(), e);
                        failures += 1;
                        break;
                    }
                }
                if broken {
                    break;
                }
                match self.command(&mut ctx, &mut last_write).await {
                    Ok(()) => {}
                    Err(Failure::Device(e)) => self.health.error(self.clock.now(), e),
                    Err(Failure::Link(e)) => {
                        self.health.error(self.clock.now(), e);
                        failures += 1;
                        broken = true;
                    }
                }
                next += self.settings.poll;
                let now = tokio::time::Instant::now();
                if next < now {
                    next = now;
                }
                tokio::time::sleep_until(next).await;
            }
            // The device may reboot into another map: discover again on the next connection.
            {
                let mut s = self.lock();
                s.written = None;
                s.read_since_write = false;
            }
            let _ = tokio_modbus::client::Client::disconnect(&mut ctx).await;
            if failures > self.settings.retries {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}
