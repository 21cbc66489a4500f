//! Meter emulation: we play a meter on Modbus for an inverter that needs one for its own
//! feed-in limit. `dtsu666-h` is the CHINT DTSU666-H as a Huawei SUN2000 polls it (2001 ×1,
//! 2102 ×80, 2214 ×10; `models/dtsu666-h.toml`), fed from the site's grid meter.
//!
//! [`Emulator`] is the sans-IO core (a request and the source's newest values in, the answer
//! out); [`MeterEmulation`] serves it with tokio-modbus on TCP, RTU over TCP or RTU.

use std::sync::Arc;
use std::time::Duration;

use devices::{DeviceStatus, HealthCell, Monitored, Stamped};
use serde::Deserialize;
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};
use units::{Clock, Timestamp, duration_str};

use crate::link::{LinkParams, ParamError, ServerLink, open_serial};
use crate::meter::{MeterSource, OpenError};
use crate::model::{Field, MeterValues, Model, Table};

/// `[meter_emulation.NAME] type = "dtsu666-h"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmulationParams {
    /// The meter whose values are served: `grid_meter`.
    pub source: String,
    /// Where to serve (default unit: 11, the DTSU666-H's).
    pub modbus: LinkParams,
    /// Source values older than this are not served: the emulated meter goes silent, and the
    /// inverter falls back to its own "meter lost" behaviour instead of trusting old data.
    #[serde(default = "default_source_timeout", with = "duration_str")]
    pub source_timeout: Duration,
    /// `"converter"`: serve the grid meter minus our converter's own power (the charger's
    /// port), so the inverter limits feed-in as if our charger were not there.
    #[serde(default)]
    pub subtract: Option<Subtract>,
}

/// What the emulation takes off the source meter's power.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Subtract {
    /// The site's converter (AC side; + = charging its DC port, which the meter sees as load).
    Converter,
}

/// The source meter minus the converter's AC power. The power moves by the converter's; what
/// followed from the measured power (currents, apparent and reactive power, power factor) is
/// dropped so that [`complete`] derives it again. Assumes the converter is balanced over the
/// three phases. No value when either reading is missing or they lie more than `max_skew`
/// apart (the emulated meter then goes silent, as for a stale source).
pub struct WithoutConverter {
    /// The grid meter.
    pub meter: Arc<dyn MeterSource>,
    /// A reading handle on the converter.
    pub converter: std::sync::Mutex<Box<dyn devices::Converter>>,
    /// Readings further apart are not combined.
    pub max_skew: Duration,
}

impl std::fmt::Debug for WithoutConverter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithoutConverter").finish_non_exhaustive()
    }
}

impl MeterSource for WithoutConverter {
    fn values(&self) -> Option<Stamped<MeterValues>> {
        use Field::*;
        let m = self.meter.values()?;
        let c = self
            .converter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .status()?;
        let skew =
            m.at.saturating_duration_since(c.at)
                .max(c.at.saturating_duration_since(m.at));
        if skew > self.max_skew {
            return None;
        }
        let p = c.value.power_w.0;
        let mut v = m.value;
        for (f, share) in [
            (Power, p),
            (PowerL1, p / 3.0),
            (PowerL2, p / 3.0),
            (PowerL3, p / 3.0),
        ] {
            if let Some(x) = v.get(f) {
                v.set(f, x - share);
            }
        }
        for f in [
            CurrentL1,
            CurrentL2,
            CurrentL3,
            Apparent,
            ApparentL1,
            ApparentL2,
            ApparentL3,
            Reactive,
            ReactiveL1,
            ReactiveL2,
            ReactiveL3,
            PowerFactor,
            PowerFactorL1,
            PowerFactorL2,
            PowerFactorL3,
            Demand,
            DemandL1,
            DemandL2,
            DemandL3,
        ] {
            v.clear(f);
        }
        Some(Stamped::new(m.at.min(c.at), v))
    }
}

fn default_source_timeout() -> Duration {
    Duration::from_secs(5)
}

impl devices::config::DeviceParams for EmulationParams {
    fn validate(&self) -> Result<(), devices::config::FieldError> {
        self.check().map(drop).map_err(Into::into)
    }
}

impl EmulationParams {
    /// Checks the settings; the error's key is relative to the emulation's table.
    pub fn check(&self) -> Result<ServerLink, ParamError> {
        if self.source != "grid_meter" {
            return Err(ParamError::new(
                "source",
                "only \"grid_meter\" can be emulated",
            ));
        }
        if self.source_timeout.is_zero() || self.source_timeout > Duration::from_secs(60) {
            return Err(ParamError::new(
                "source_timeout",
                "must be between 1ms and 60s",
            ));
        }
        self.modbus.server()
    }
}

/// Fills what a served map needs but the source meter does not measure, from what it does
/// (a simulated or total-only meter): 230 V, 50 Hz, the total split evenly over the phases,
/// currents from power and voltage at unity power factor, averages and line voltages. Measured
/// values are never replaced.
pub fn complete(v: &MeterValues) -> MeterValues {
    use Field::*;
    let mut o = *v;
    let fill = |o: &mut MeterValues, f: Field, value: Option<f64>| {
        if o.get(f).is_none()
            && let Some(x) = value
        {
            o.set(f, x);
        }
    };
    let phases3 = |o: &MeterValues, fs: [Field; 3]| -> Option<[f64; 3]> {
        Some([o.get(fs[0])?, o.get(fs[1])?, o.get(fs[2])?])
    };
    const PH: [Field; 3] = [PowerL1, PowerL2, PowerL3];
    const U: [Field; 3] = [VoltageL1, VoltageL2, VoltageL3];
    const I: [Field; 3] = [CurrentL1, CurrentL2, CurrentL3];
    const S: [Field; 3] = [ApparentL1, ApparentL2, ApparentL3];
    const Q: [Field; 3] = [ReactiveL1, ReactiveL2, ReactiveL3];
    const PF: [Field; 3] = [PowerFactorL1, PowerFactorL2, PowerFactorL3];
    const D: [Field; 3] = [DemandL1, DemandL2, DemandL3];
    const IMP: [Field; 3] = [ImportKwhL1, ImportKwhL2, ImportKwhL3];
    const EXP: [Field; 3] = [ExportKwhL1, ExportKwhL2, ExportKwhL3];
    let sum = phases3(&o, PH).map(|p| p.iter().sum());
    fill(&mut o, Power, sum);
    let total = o.get(Power).unwrap_or(0.0);
    for f in PH {
        fill(&mut o, f, Some(total / 3.0));
    }
    for f in U {
        fill(&mut o, f, Some(230.0));
    }
    fill(&mut o, Frequency, Some(50.0));
    for k in 0..3 {
        let p = o.get(PH[k]).unwrap_or(0.0);
        let u = o.get(U[k]).unwrap_or(230.0);
        // A dead phase (0 V) carries no current.
        fill(&mut o, I[k], Some(if u > 0.0 { p.abs() / u } else { 0.0 }));
        let s = o.get(I[k]).unwrap_or(0.0) * u;
        fill(&mut o, S[k], Some(s.max(p.abs())));
        let s = o.get(S[k]).unwrap_or(0.0);
        fill(&mut o, Q[k], Some((s * s - p * p).max(0.0).sqrt()));
        fill(&mut o, PF[k], Some(if s > 0.0 { p / s } else { 1.0 }));
        fill(&mut o, D[k], Some(p));
    }
    let u = phases3(&o, U).unwrap_or([230.0; 3]);
    fill(&mut o, VoltageLnAvg, Some(u.iter().sum::<f64>() / 3.0));
    let sqrt3 = 3f64.sqrt();
    fill(&mut o, VoltageL12, Some((u[0] + u[1]) / 2.0 * sqrt3));
    fill(&mut o, VoltageL23, Some((u[1] + u[2]) / 2.0 * sqrt3));
    fill(&mut o, VoltageL31, Some((u[2] + u[0]) / 2.0 * sqrt3));
    let ll = phases3(&o, [VoltageL12, VoltageL23, VoltageL31]).unwrap_or([400.0; 3]);
    fill(&mut o, VoltageLlAvg, Some(ll.iter().sum::<f64>() / 3.0));
    for (tot, fs) in [(Apparent, S), (Reactive, Q)] {
        let s = phases3(&o, fs).map(|p| p.iter().sum());
        fill(&mut o, tot, s);
    }
    let s = o.get(Apparent).unwrap_or(0.0);
    fill(
        &mut o,
        PowerFactor,
        Some(if s > 0.0 { total / s } else { 1.0 }),
    );
    fill(&mut o, Demand, Some(total));
    for (tot, fs) in [(ImportKwh, IMP), (ExportKwh, EXP)] {
        let sum = phases3(&o, fs).map(|p| p.iter().sum());
        fill(&mut o, tot, sum);
        fill(&mut o, tot, Some(0.0));
        let t = o.get(tot).unwrap_or(0.0);
        for f in fs {
            fill(&mut o, f, Some(t / 3.0));
        }
    }
    o
}

/// What the emulator does with one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Answer this.
    Respond(Response),
    /// Answer with this exception.
    Exception(ExceptionCode),
    /// Say nothing: the request is for another unit, or the source is stale (a silent meter is
    /// what the inverter has a fail-safe for).
    Silent(Silence),
}

/// Why the emulator said nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Silence {
    /// Addressed to another unit.
    OtherUnit,
    /// The source's newest values are older than the source timeout, or there are none.
    SourceStale,
}

/// The sans-IO emulated meter: a model's served map at a unit address.
#[derive(Debug, Clone)]
pub struct Emulator {
    model: Model,
    unit: u8,
    source_timeout: Duration,
}

impl Emulator {
    /// Serves `model` as unit `unit`; source values older than `source_timeout` are not served.
    pub fn new(model: Model, unit: u8, source_timeout: Duration) -> Self {
        Self {
            model,
            unit,
            source_timeout,
        }
    }

    /// The unit address it answers to.
    pub fn unit(&self) -> u8 {
        self.unit
    }

    /// The answer at `now` to `request` for `slave`, from the source's newest values.
    pub fn handle(
        &self,
        now: Timestamp,
        slave: u8,
        request: &Request<'_>,
        source: Option<Stamped<MeterValues>>,
    ) -> Answer {
        if slave != self.unit {
            return Answer::Silent(Silence::OtherUnit);
        }
        let (addr, count) = match (request, self.model.table) {
            (Request::ReadHoldingRegisters(a, c), Table::Holding)
            | (Request::ReadInputRegisters(a, c), Table::Input) => (*a, *c),
            _ => return Answer::Exception(ExceptionCode::IllegalFunction),
        };
        if count == 0 || count > 125 {
            return Answer::Exception(ExceptionCode::IllegalDataValue);
        }
        let Some(source) = source.filter(|s| s.age(now) <= self.source_timeout) else {
            return Answer::Silent(Silence::SourceStale);
        };
        let image = self.model.image(&complete(&source.value), self.unit);
        let words: Option<Vec<u16>> = (u32::from(addr)..u32::from(addr) + u32::from(count))
            .map(|a| u16::try_from(a).ok().and_then(|a| image.get(&a).copied()))
            .collect();
        match (words, request) {
            (Some(w), Request::ReadInputRegisters(..)) => {
                Answer::Respond(Response::ReadInputRegisters(w))
            }
            (Some(w), _) => Answer::Respond(Response::ReadHoldingRegisters(w)),
            (None, _) => Answer::Exception(ExceptionCode::IllegalDataAddress),
        }
    }
}

/// A meter emulation serving on its link, with its health (`ok` while it serves fresh values,
/// `error` while its source is stale, `stale` when nobody has asked for a while).
#[derive(Debug)]
pub struct MeterEmulation {
    health: HealthCell,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MeterEmulation {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct Service {
    emulator: Arc<Emulator>,
    source: Arc<dyn MeterSource>,
    clock: Arc<dyn Clock>,
    health: HealthCell,
    source_name: Arc<str>,
}

impl tokio_modbus::server::Service for Service {
    type Request = SlaveRequest<'static>;
    type Response = Option<Response>;
    type Exception = ExceptionCode;
    type Future = std::future::Ready<Result<Self::Response, Self::Exception>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        std::future::ready(self.answer(req.slave, &req.request))
    }
}

impl Service {
    /// The answer to `request` for `slave`, noted in the health record.
    fn answer(&self, slave: u8, request: &Request<'_>) -> Result<Option<Response>, ExceptionCode> {
        let now = self.clock.now();
        match self
            .emulator
            .handle(now, slave, request, self.source.values())
        {
            Answer::Respond(r) => {
                self.health.ok(now);
                Ok(Some(r))
            }
            Answer::Exception(e) => {
                self.health.error(now, format!("refused {request:?}: {e}"));
                Err(e)
            }
            Answer::Silent(Silence::OtherUnit) => Ok(None),
            Answer::Silent(Silence::SourceStale) => {
                self.health.error(
                    now,
                    format!("silent: no fresh reading from {}", self.source_name),
                );
                Ok(None)
            }
        }
    }
}

impl MeterEmulation {
    /// Starts serving `model` for `name` on the current tokio runtime (entered, or running),
    /// fed by `source`. The socket is bound (or the serial port opened) before this returns,
    /// so a busy port is an error here.
    pub fn open(
        name: &str,
        model: &str,
        params: &EmulationParams,
        source: Arc<dyn MeterSource>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, EmulationError> {
        let link = params.check().map_err(|source| {
            EmulationError::Open(OpenError::Config {
                device: name.to_owned(),
                source,
            })
        })?;
        let model = Model::builtin(model).map_err(|source| {
            EmulationError::Open(OpenError::Model {
                device: name.to_owned(),
                source,
            })
        })?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| OpenError::NoRuntime {
            device: name.to_owned(),
        })?;
        let unit = params.modbus.unit.unwrap_or(model.default_unit);
        // The inverter polls every second or so: quiet for 10 s means it has stopped asking.
        let health = HealthCell::new(name, model.name.clone(), Duration::from_secs(10));
        let service = Service {
            emulator: Arc::new(Emulator::new(model, unit, params.source_timeout)),
            source,
            clock,
            health: health.clone(),
            source_name: params.source.as_str().into(),
        };
        let io = |e: std::io::Error| EmulationError::Io {
            device: name.to_owned(),
            link: link.to_string(),
            source: e,
        };
        let device = name.to_owned();
        let task = match &link {
            ServerLink::Tcp(addr) | ServerLink::RtuOverTcp(addr) => {
                let listener = std::net::TcpListener::bind(addr)
                    .and_then(|l| {
                        l.set_nonblocking(true)?;
                        let _runtime = runtime.enter();
                        tokio::net::TcpListener::from_std(l)
                    })
                    .map_err(io)?;
                let rtu = matches!(link, ServerLink::RtuOverTcp(_));
                runtime.spawn(async move {
                    let name = device.clone();
                    let on_error = move |e: std::io::Error| {
                        tracing::debug!("{name}: client connection ended: {e}");
                    };
                    let result = if rtu {
                        let server = tokio_modbus::server::rtu_over_tcp::Server::new(listener);
                        let on_connected = |stream, addr| {
                            let s = service.clone();
                            async move {
                                tokio_modbus::server::rtu_over_tcp::accept_tcp_connection(
                                    stream,
                                    addr,
                                    move |_| Ok(Some(s.clone())),
                                )
                            }
                        };
                        server.serve(&on_connected, on_error).await
                    } else {
                        let server = tokio_modbus::server::tcp::Server::new(listener);
                        let on_connected = |stream, addr| {
                            let s = service.clone();
                            async move {
                                tokio_modbus::server::tcp::accept_tcp_connection(
                                    stream,
                                    addr,
                                    move |_| Ok(Some(s.clone())),
                                )
                            }
                        };
                        server.serve(&on_connected, on_error).await
                    };
                    if let Err(e) = result {
                        tracing::error!("{device}: server stopped: {e}");
                    }
                })
            }
            ServerLink::Udp(addr) => {
                let socket = std::net::UdpSocket::bind(addr)
                    .and_then(|s| {
                        s.set_nonblocking(true)?;
                        let _runtime = runtime.enter();
                        tokio::net::UdpSocket::from_std(s)
                    })
                    .map_err(io)?;
                runtime.spawn(async move {
                    let mut buf = [0u8; 300];
                    loop {
                        let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        };
                        let req = match crate::udp::parse(buf.get(..n).unwrap_or(&[])) {
                            Ok(r) => r,
                            Err(e) => {
                                service
                                    .health
                                    .error(service.clock.now(), format!("{peer}: {e}"));
                                continue;
                            }
                        };
                        let answer = match &req.request {
                            Some(r) => service.answer(req.unit, r),
                            None if req.unit == service.emulator.unit() => {
                                Err(ExceptionCode::IllegalFunction)
                            }
                            None => Ok(None),
                        };
                        let answer = match answer {
                            Ok(None) => continue,
                            Ok(Some(r)) => Ok(r),
                            Err(e) => Err(e),
                        };
                        let out = crate::udp::emit(&req, &answer);
                        if let Err(e) = socket.send_to(&out, peer).await {
                            tracing::debug!("{device}: cannot answer {peer}: {e}");
                        }
                    }
                })
            }
            ServerLink::Rtu(serial) => {
                let port = {
                    let _runtime = runtime.enter();
                    open_serial(serial).map_err(io)?
                };
                let serial = serial.clone();
                let health = health.clone();
                let clock = service.clock.clone();
                runtime.spawn(async move {
                    let mut port = Some(port);
                    loop {
                        let p = match port.take() {
                            Some(p) => p,
                            None => match open_serial(&serial) {
                                Ok(p) => p,
                                Err(e) => {
                                    health.error(
                                        clock.now(),
                                        format!("{}: {e}", serial.path.display()),
                                    );
                                    tokio::time::sleep(Duration::from_secs(1)).await;
                                    continue;
                                }
                            },
                        };
                        let server = tokio_modbus::server::rtu::Server::new(p);
                        if let Err(e) = server.serve_forever(service.clone()).await {
                            // A garbled frame ends the codec's stream: reopen and go on.
                            tracing::debug!("{device}: {e}; reopening");
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                })
            }
        };
        Ok(Self { health, task })
    }
}

impl Monitored for MeterEmulation {
    fn device_status(&self, now: Timestamp) -> DeviceStatus {
        self.health.device_status(now)
    }
}

/// Why an emulation cannot start.
#[derive(Debug, thiserror::Error)]
pub enum EmulationError {
    /// Its settings.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// Its port or socket.
    #[error("{device}: cannot serve on {link}: {source}")]
    Io {
        /// The device.
        device: String,
        /// The link.
        link: String,
        /// What the system said.
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdm_like() -> MeterValues {
        let mut v = MeterValues::default();
        for (f, x) in [
            (Field::Power, -1500.0),
            (Field::PowerL1, -600.0),
            (Field::PowerL2, -500.0),
            (Field::PowerL3, -400.0),
            (Field::VoltageL1, 231.0),
            (Field::VoltageL2, 229.0),
            (Field::VoltageL3, 230.0),
            (Field::CurrentL1, 2.7),
            (Field::Frequency, 49.98),
            (Field::ImportKwh, 1234.5),
            (Field::ExportKwh, 678.9),
        ] {
            v.set(f, x);
        }
        v
    }

    fn f32_at(words: &[u16], base: u16, addr: u16) -> f32 {
        let i = usize::from(addr - base);
        f32::from_bits((u32::from(words[i]) << 16) | u32::from(words[i + 1]))
    }

    #[test]
    fn serves_the_huawei_polls_from_the_source() {
        let e = Emulator::new(
            Model::builtin("dtsu666-h").unwrap(),
            11,
            Duration::from_secs(5),
        );
        let now = Timestamp::from_unix_secs(100);
        let src = Some(Stamped::new(now, sdm_like()));
        let Answer::Respond(Response::ReadHoldingRegisters(w)) =
            e.handle(now, 11, &Request::ReadHoldingRegisters(2001, 1), src)
        else {
            panic!()
        };
        assert_eq!(w, [3]);
        let Answer::Respond(Response::ReadHoldingRegisters(w)) =
            e.handle(now, 11, &Request::ReadHoldingRegisters(2102, 80), src)
        else {
            panic!()
        };
        assert_eq!(w.len(), 80);
        assert_eq!(f32_at(&w, 2102, 2126), -1500.0);
        assert_eq!(f32_at(&w, 2102, 2128), -600.0);
        assert_eq!(f32_at(&w, 2102, 2110), 231.0);
        assert_eq!(f32_at(&w, 2102, 2102), 2.7);
        // Not measured: derived from power and voltage.
        assert!((f32_at(&w, 2102, 2104) - 500.0 / 229.0).abs() < 1e-4);
        assert_eq!(f32_at(&w, 2102, 2108), 230.0);
        assert_eq!(f32_at(&w, 2102, 2124), 49.98);
        assert_eq!(f32_at(&w, 2102, 2166), 1234.5);
        assert_eq!(f32_at(&w, 2102, 2174), 678.9);
        let Answer::Respond(Response::ReadHoldingRegisters(w)) =
            e.handle(now, 11, &Request::ReadHoldingRegisters(2214, 10), src)
        else {
            panic!()
        };
        assert_eq!(w, [0, 0, 0, 0, 1, 1, 3, 11, 1, 1]);
    }

    #[test]
    fn refuses_what_a_meter_would_refuse_and_goes_silent_when_the_source_is_stale() {
        let e = Emulator::new(
            Model::builtin("dtsu666-h").unwrap(),
            11,
            Duration::from_secs(5),
        );
        let now = Timestamp::from_unix_secs(100);
        let src = Some(Stamped::new(now, sdm_like()));
        let r = Request::ReadHoldingRegisters(2102, 80);
        assert_eq!(
            e.handle(now, 1, &r, src),
            Answer::Silent(Silence::OtherUnit)
        );
        assert_eq!(
            e.handle(now, 11, &Request::ReadHoldingRegisters(2180, 4), src),
            Answer::Exception(ExceptionCode::IllegalDataAddress)
        );
        assert_eq!(
            e.handle(now, 11, &Request::ReadHoldingRegisters(65535, 2), src),
            Answer::Exception(ExceptionCode::IllegalDataAddress)
        );
        assert_eq!(
            e.handle(now, 11, &Request::ReadInputRegisters(2102, 2), src),
            Answer::Exception(ExceptionCode::IllegalFunction)
        );
        assert_eq!(
            e.handle(now, 11, &Request::ReadHoldingRegisters(2102, 0), src),
            Answer::Exception(ExceptionCode::IllegalDataValue)
        );
        let later = now + Duration::from_secs(6);
        assert_eq!(
            e.handle(later, 11, &r, src),
            Answer::Silent(Silence::SourceStale)
        );
        assert_eq!(
            e.handle(now, 11, &r, None),
            Answer::Silent(Silence::SourceStale)
        );
    }

    #[derive(Debug)]
    struct Fixed(Stamped<MeterValues>);
    impl MeterSource for Fixed {
        fn values(&self) -> Option<Stamped<MeterValues>> {
            Some(self.0)
        }
    }
    #[derive(Debug)]
    struct Conv(Stamped<devices::ConverterStatus>);
    impl devices::Converter for Conv {
        fn status(&self) -> Option<Stamped<devices::ConverterStatus>> {
            Some(self.0)
        }
        fn command(
            &mut self,
            _: Timestamp,
            _: devices::ConverterCommand,
        ) -> Result<(), devices::DeviceError> {
            Ok(())
        }
        fn safe_state(&mut self, _: Timestamp) -> Result<(), devices::DeviceError> {
            Ok(())
        }
    }

    #[test]
    fn the_meter_minus_the_converter() {
        let now = Timestamp::from_unix_secs(100);
        let status = |at, w| {
            Stamped::new(
                at,
                devices::ConverterStatus {
                    power_w: units::Watts(w),
                    dc_voltage_v: None,
                    enabled: true,
                    fault: false,
                },
            )
        };
        let source = |c| WithoutConverter {
            meter: Arc::new(Fixed(Stamped::new(now, sdm_like()))),
            converter: std::sync::Mutex::new(Box::new(Conv(c))),
            max_skew: Duration::from_secs(2),
        };
        // Charging the port at 3 kW while exporting 1.5 kW: without us, 4.5 kW export.
        let v = source(status(now, 3000.0)).values().unwrap();
        assert_eq!(v.value.get(Field::Power), Some(-4500.0));
        assert_eq!(v.value.get(Field::PowerL1), Some(-1600.0));
        let c = complete(&v.value);
        assert!((c.get(Field::CurrentL1).unwrap() - 1600.0 / 231.0).abs() < 1e-9);
        assert_eq!(c.get(Field::ImportKwh), Some(1234.5));
        let later = now + Duration::from_secs(3);
        assert!(source(status(later, 0.0)).values().is_none());
    }

    #[test]
    fn a_total_only_source_is_completed_consistently() {
        let mut v = MeterValues::default();
        v.set(Field::Power, 690.0);
        let c = complete(&v);
        assert_eq!(c.get(Field::PowerL2), Some(230.0));
        assert_eq!(c.get(Field::CurrentL3), Some(1.0));
        assert_eq!(c.get(Field::PowerFactor), Some(1.0));
        assert_eq!(c.get(Field::Apparent), Some(690.0));
        assert_eq!(c.get(Field::ImportKwh), Some(0.0));
        // A meter that reads 0 V on a phase still yields a complete map.
        let mut v = MeterValues::default();
        v.set(Field::Power, 100.0);
        for f in [Field::VoltageL1, Field::VoltageL2, Field::VoltageL3] {
            v.set(f, 0.0);
        }
        let e = Emulator::new(
            Model::builtin("dtsu666-h").unwrap(),
            11,
            Duration::from_secs(5),
        );
        let now = Timestamp::from_unix_secs(1);
        let r = e.handle(
            now,
            11,
            &Request::ReadHoldingRegisters(2102, 80),
            Some(Stamped::new(now, v)),
        );
        assert!(matches!(r, Answer::Respond(_)), "{r:?}");
    }
}
