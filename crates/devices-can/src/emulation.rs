//! Emulating a battery towards a hybrid inverter: sans-IO cores for BYD Battery-Box HVS and
//! Pylontech (low voltage), the choice of what they report (the home BMS, or during V2H the car
//! on the charge point), and the I/O task that runs a core on a bus.
//!
//! Safe state: while the data source is stale or missing, the emulated battery keeps talking but
//! allows 0 A of charge and discharge, so the inverter neither charges nor discharges it. After
//! shutdown it falls silent, and the inverter's own battery-communication timeout stops its
//! battery port.

use std::collections::VecDeque;
#[cfg(feature = "io")]
use std::sync::Arc;
use std::time::Duration;

use devices::{BmsAlarms, BmsState, ChargePointState, ChargePointStatus, Stamped};
use serde::Serialize;
#[cfg(feature = "io")]
use tokio::sync::watch;
#[cfg(feature = "io")]
use units::Clock;
use units::{Amps, Percent, Timestamp, Volts};

#[cfg(feature = "io")]
use crate::bus::{BusError, CanBus, CanLink};
use crate::frame::{CanFrame, Error};
use crate::{byd, pylontech};

/// What the emulated battery reports, before the emulation's own caps.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BatteryData {
    /// State of charge.
    pub soc: Percent,
    /// Pack voltage.
    pub voltage: Volts,
    /// Pack current, positive = charging.
    pub current: Amps,
    /// Charge current allowed, ≥ 0.
    pub max_charge: Amps,
    /// Discharge current allowed, ≥ 0.
    pub max_discharge: Amps,
    /// Temperature in °C, if known.
    pub temperature_c: Option<f64>,
    /// Active alarms.
    pub alarms: BmsAlarms,
}

impl BatteryData {
    /// From the home BMS.
    pub fn from_bms(s: &BmsState) -> Self {
        Self {
            soc: s.soc_pct,
            voltage: s.voltage_v,
            current: s.current_a,
            max_charge: s.max_charge_a,
            max_discharge: s.max_discharge_a,
            temperature_c: s.temperature_c,
            alarms: s.alarms,
        }
    }

    /// From the car on the charge point, while it is in the charge loop (`Ready`) and reports
    /// its voltage: its power limits turned into currents at its voltage. `None` otherwise.
    pub fn from_car(c: &ChargePointStatus) -> Option<Self> {
        if c.state != ChargePointState::Ready {
            return None;
        }
        let v = c.dc_voltage_v.filter(|v| v.0.is_finite() && v.0 > 1.0)?;
        let amps = |w: units::Watts| Amps((w.0 / v.0).max(0.0));
        Some(Self {
            // A car that does not say is treated as half full: the limits still come from it.
            soc: c.ev_soc_pct.unwrap_or(Percent(50.0)),
            voltage: v,
            current: c.current_a.unwrap_or(Amps::ZERO),
            max_charge: amps(c.ev_max_charge_w),
            max_discharge: amps(c.ev_max_discharge_w),
            temperature_c: None,
            alarms: BmsAlarms::NONE,
        })
    }
}

/// Where the emulated battery's data comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The home battery's BMS.
    #[default]
    Bms,
    /// The car on the charge point (V2H); no data (0 A) while no car is in the charge loop.
    ChargePoint,
    /// The car while it is in the charge loop, else the BMS (the predecessor's `bydcan.py`).
    Auto,
}

/// What the site last saw, for [`Source::select`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SourceInput {
    /// The home BMS.
    pub bms: Option<Stamped<BmsState>>,
    /// The charge point.
    pub charge_point: Option<Stamped<ChargePointStatus>>,
}

impl Source {
    /// The data to report.
    pub fn select(self, input: &SourceInput) -> Option<Stamped<BatteryData>> {
        let bms = || {
            input
                .bms
                .map(|s| Stamped::new(s.at, BatteryData::from_bms(&s.value)))
        };
        let car = || {
            input
                .charge_point
                .and_then(|c| BatteryData::from_car(&c.value).map(|d| Stamped::new(c.at, d)))
        };
        match self {
            Self::Bms => bms(),
            Self::ChargePoint => car(),
            Self::Auto => car().or_else(bms),
        }
    }
}

/// The emulated battery's fixed properties.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rating {
    /// Highest charge voltage (BYD 0x110, Pylontech CVL).
    pub max_voltage: Volts,
    /// Lowest discharge voltage (BYD 0x110, Pylontech DVL).
    pub min_voltage: Volts,
    /// Cap on both current limits (some inverters cannot handle large values).
    pub max_current: Amps,
    /// Capacity reported in the identification (BYD 0x250).
    pub capacity_wh: u32,
    /// Data older than this counts as none: 0 A.
    pub source_timeout: Duration,
}

/// How an emulation is doing.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EmulationStatus {
    /// The inverter was heard recently.
    pub inverter_alive: bool,
    /// The name the inverter gave (BYD 0x151).
    pub inverter_name: Option<String>,
    /// The data source is fresh (otherwise 0 A is reported).
    pub source_fresh: bool,
    /// Frames sent.
    pub sent: u64,
    /// Frames received that did not decode.
    pub invalid: u64,
    /// The last decoding error.
    pub last_error: Option<String>,
}

/// A sans-IO battery emulation.
pub trait Emulation: Send {
    /// Replaces the data to report.
    fn set_data(&mut self, data: Option<Stamped<BatteryData>>);
    /// Takes a frame received at `now`.
    fn handle_frame(&mut self, now: Timestamp, frame: &CanFrame) -> Result<(), Error>;
    /// Moves time to `now`: queues what is due.
    fn handle_timeout(&mut self, now: Timestamp);
    /// The next frame to send.
    fn poll_transmit(&mut self) -> Option<CanFrame>;
    /// When [`Emulation::handle_timeout`] must be called next, if at all.
    fn poll_timeout(&self) -> Option<Timestamp>;
    /// The status at `now`.
    fn status(&self, now: Timestamp) -> EmulationStatus;
}

/// The reported values at `now`: the data with the rating's caps, or 0 A when stale.
fn effective(
    data: Option<&Stamped<BatteryData>>,
    rating: &Rating,
    now: Timestamp,
) -> (BatteryData, bool) {
    let Some(d) = data else {
        return (BatteryData::default(), false);
    };
    let mut v = d.value;
    let cap = |a: Amps| {
        if a.0.is_finite() {
            Amps(a.0.clamp(0.0, rating.max_current.0))
        } else {
            Amps::ZERO
        }
    };
    let fresh = d.fresh(now, rating.source_timeout).is_some();
    if fresh && !v.alarms.any() {
        v.max_charge = cap(v.max_charge);
        v.max_discharge = cap(v.max_discharge);
    } else {
        v.max_charge = Amps::ZERO;
        v.max_discharge = Amps::ZERO;
    }
    (v, fresh)
}

/// BYD HVS: the 2 s, 10 s and 60 s frames while the inverter talks (heard within
/// [`BydHvs::INVERTER_TIMEOUT`]), and the identification whenever it asks (0x151 bit 0).
#[derive(Debug, Clone)]
pub struct BydHvs {
    rating: Rating,
    data: Option<Stamped<BatteryData>>,
    inverter_seen: Option<Timestamp>,
    inverter_name: Option<String>,
    /// Next due time of the 2 s, 10 s and 60 s groups, while the inverter is alive.
    due: Option<[Timestamp; 3]>,
    queue: VecDeque<CanFrame>,
    status: EmulationStatus,
}

impl BydHvs {
    /// Periods of the three groups: 0x110; 0x150, 0x1D0, 0x210; 0x190.
    pub const PERIODS: [Duration; 3] = [
        Duration::from_secs(2),
        Duration::from_secs(10),
        Duration::from_secs(60),
    ];
    /// Without a frame from the inverter for this long, the battery falls silent (as
    /// `bydcan.py`).
    pub const INVERTER_TIMEOUT: Duration = Duration::from_secs(15);

    /// A silent battery, waiting for the inverter.
    pub fn new(rating: Rating) -> Self {
        Self {
            rating,
            data: None,
            inverter_seen: None,
            inverter_name: None,
            due: None,
            queue: VecDeque::new(),
            status: EmulationStatus::default(),
        }
    }

    fn alive(&self, now: Timestamp) -> bool {
        self.inverter_seen
            .is_some_and(|t| now.saturating_duration_since(t) <= Self::INVERTER_TIMEOUT)
    }

    fn queue_group(&mut self, group: usize, now: Timestamp) {
        let (d, _) = effective(self.data.as_ref(), &self.rating, now);
        let frames: Vec<byd::Repr> = match group {
            0 => vec![byd::Repr::Limits(byd::Limits {
                max_voltage: self.rating.max_voltage,
                min_voltage: self.rating.min_voltage,
                max_discharge: d.max_discharge,
                max_charge: d.max_charge,
            })],
            1 => {
                let t = d.temperature_c.unwrap_or(20.0);
                vec![
                    byd::Repr::State(byd::State {
                        soc: d.soc,
                        soh: Percent(100.0),
                        max_discharge: d.max_discharge,
                        max_charge: d.max_charge,
                    }),
                    byd::Repr::Measurements(byd::Measurements {
                        voltage: d.voltage,
                        current: d.current,
                        temperature_c: t,
                    }),
                    byd::Repr::Temperatures { max_c: t, min_c: t },
                ]
            }
            _ => vec![byd::Repr::Alarms(byd::NO_ALARMS)],
        };
        self.queue.extend(frames.iter().map(byd::Repr::emit));
    }
}

impl Emulation for BydHvs {
    fn set_data(&mut self, data: Option<Stamped<BatteryData>>) {
        self.data = data;
    }

    fn handle_frame(&mut self, now: Timestamp, frame: &CanFrame) -> Result<(), Error> {
        let r = byd::Repr::parse(frame).and_then(|r| match r {
            byd::Repr::IdentifyRequest
            | byd::Repr::InverterName(_)
            | byd::Repr::InverterVoltage(_)
            | byd::Repr::InverterSoc(_)
            | byd::Repr::InverterTime(_) => Ok(r),
            // Another battery's frame: not for us.
            _ => Err(Error::UnknownId(frame.id())),
        });
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                self.status.invalid += 1;
                self.status.last_error = Some(e.to_string());
                return Err(e);
            }
        };
        if !self.alive(now) {
            // The inverter (re)appeared: start the schedule with every group at once.
            self.due = Some([now; 3]);
        }
        self.inverter_seen = Some(now);
        match r {
            byd::Repr::IdentifyRequest => {
                let ident = byd::Repr::identification(self.rating.capacity_wh);
                self.queue.extend(ident.iter().map(byd::Repr::emit));
            }
            byd::Repr::InverterName(n) => {
                let name: String = n
                    .iter()
                    .take_while(|c| **c != 0)
                    .map(|c| {
                        if c.is_ascii_graphic() || *c == b' ' {
                            *c as char
                        } else {
                            '?'
                        }
                    })
                    .collect();
                self.inverter_name = Some(name);
            }
            _ => {}
        }
        Ok(())
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        if !self.alive(now) {
            self.due = None;
            return;
        }
        let Some(mut due) = self.due else { return };
        for (group, period) in Self::PERIODS.iter().enumerate() {
            if due[group] <= now {
                self.queue_group(group, now);
                let next = due[group] + *period;
                // After a stall, resume the rhythm from now rather than send a burst.
                due[group] = if next <= now { now + *period } else { next };
            }
        }
        self.due = Some(due);
    }

    fn poll_transmit(&mut self) -> Option<CanFrame> {
        let f = self.queue.pop_front();
        if f.is_some() {
            self.status.sent += 1;
        }
        f
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        let next = self.due?.into_iter().min()?;
        // Also wake when the inverter times out, to stop the schedule.
        let silent = self.inverter_seen? + Self::INVERTER_TIMEOUT + Duration::from_millis(1);
        Some(next.min(silent))
    }

    fn status(&self, now: Timestamp) -> EmulationStatus {
        EmulationStatus {
            inverter_alive: self.alive(now),
            inverter_name: self.inverter_name.clone(),
            source_fresh: effective(self.data.as_ref(), &self.rating, now).1,
            ..self.status.clone()
        }
    }
}

/// Pylontech low voltage: 0x351, 0x355, 0x356, 0x359, 0x35C and 0x35E every second, from the
/// start (the inverter's 0x305 keep-alive is only watched).
#[derive(Debug, Clone)]
pub struct Pylontech {
    rating: Rating,
    data: Option<Stamped<BatteryData>>,
    inverter_seen: Option<Timestamp>,
    due: Timestamp,
    queue: VecDeque<CanFrame>,
    status: EmulationStatus,
}

impl Pylontech {
    /// The period of every frame.
    pub const PERIOD: Duration = Duration::from_secs(1);
    /// The inverter counts as present while its keep-alive is younger than this.
    pub const INVERTER_TIMEOUT: Duration = Duration::from_secs(3);
    /// The manufacturer sent in 0x35E.
    pub const MANUFACTURER: [u8; 8] = *b"PYLON   ";

    /// An emulation whose first frames are due at `now`.
    pub fn new(rating: Rating, now: Timestamp) -> Self {
        Self {
            rating,
            data: None,
            inverter_seen: None,
            due: now,
            queue: VecDeque::new(),
            status: EmulationStatus::default(),
        }
    }
}

impl Emulation for Pylontech {
    fn set_data(&mut self, data: Option<Stamped<BatteryData>>) {
        self.data = data;
    }

    fn handle_frame(&mut self, now: Timestamp, frame: &CanFrame) -> Result<(), Error> {
        match pylontech::Repr::parse(frame) {
            Ok(pylontech::Repr::KeepAlive) => {
                self.inverter_seen = Some(now);
                Ok(())
            }
            Ok(_) => {
                let e = Error::UnknownId(frame.id());
                self.status.invalid += 1;
                self.status.last_error = Some(format!("{e} (another battery on the bus?)"));
                Err(e)
            }
            Err(e) => {
                self.status.invalid += 1;
                self.status.last_error = Some(e.to_string());
                Err(e)
            }
        }
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        if self.due > now {
            return;
        }
        let (d, _) = effective(self.data.as_ref(), &self.rating, now);
        let mut request = 0;
        if d.max_charge.0 > 0.0 {
            request |= pylontech::Request::CHARGE_ENABLE;
        }
        if d.max_discharge.0 > 0.0 {
            request |= pylontech::Request::DISCHARGE_ENABLE;
        }
        let frames = [
            pylontech::Repr::Limits(pylontech::Limits {
                charge_voltage: self.rating.max_voltage,
                charge_current: d.max_charge,
                discharge_current: d.max_discharge,
                discharge_voltage: Some(self.rating.min_voltage),
            }),
            pylontech::Repr::Soc(pylontech::Soc {
                soc: d.soc,
                soh: Percent(100.0),
                soc_fine: None,
            }),
            pylontech::Repr::Measurements(pylontech::Measurements {
                voltage: d.voltage,
                current: d.current,
                temperature_c: d.temperature_c.unwrap_or(20.0),
            }),
            pylontech::Repr::Protection(pylontech::Protection::from_alarms(d.alarms)),
            pylontech::Repr::Request(pylontech::Request(request)),
            pylontech::Repr::Manufacturer(Self::MANUFACTURER, 8),
        ];
        self.queue.extend(frames.iter().map(pylontech::Repr::emit));
        let next = self.due + Self::PERIOD;
        self.due = if next <= now {
            now + Self::PERIOD
        } else {
            next
        };
    }

    fn poll_transmit(&mut self) -> Option<CanFrame> {
        let f = self.queue.pop_front();
        if f.is_some() {
            self.status.sent += 1;
        }
        f
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        Some(self.due)
    }

    fn status(&self, now: Timestamp) -> EmulationStatus {
        EmulationStatus {
            inverter_alive: self
                .inverter_seen
                .is_some_and(|t| now.saturating_duration_since(t) <= Self::INVERTER_TIMEOUT),
            inverter_name: None,
            source_fresh: effective(self.data.as_ref(), &self.rating, now).1,
            ..self.status.clone()
        }
    }
}

#[cfg(feature = "io")]
/// The I/O task of an emulation: reads its source, runs the core on the bus, reopens the bus
/// with backoff when it fails.
#[derive(Debug)]
pub struct EmulationDriver<E> {
    name: String,
    core: E,
    source: Source,
    input: watch::Receiver<SourceInput>,
    link: CanLink,
    clock: Arc<dyn Clock>,
    status: watch::Sender<EmulationStatus>,
}

#[cfg(feature = "io")]
impl<E: Emulation> EmulationDriver<E> {
    /// A driver for `core`, fed from `input` through `source`. Its status is published on the
    /// returned receiver.
    pub fn new(
        name: &str,
        core: E,
        source: Source,
        input: watch::Receiver<SourceInput>,
        link: CanLink,
        clock: Arc<dyn Clock>,
    ) -> (Self, watch::Receiver<EmulationStatus>) {
        let (status, rx) = watch::channel(EmulationStatus::default());
        (
            Self {
                name: name.to_owned(),
                core,
                source,
                input,
                link,
                clock,
                status,
            },
            rx,
        )
    }

    /// Runs until dropped.
    pub async fn run(mut self) {
        let mut backoff = Duration::from_secs(1);
        loop {
            match self.link.open() {
                Ok(mut bus) => {
                    tracing::info!("{}: emulating a battery on {}", self.name, self.link.name());
                    backoff = Duration::from_secs(1);
                    let e = self.serve(&mut bus).await;
                    tracing::warn!("{}: {e}; reopening in {backoff:?}", self.name);
                }
                Err(e) => tracing::warn!("{}: {e}; retrying in {backoff:?}", self.name),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(crate::bms::MAX_BACKOFF);
        }
    }

    /// Serves on `bus` until it fails.
    pub async fn serve<B: CanBus>(&mut self, bus: &mut B) -> BusError {
        let mut input_open = true;
        loop {
            let now = self.clock.now();
            let data = self.source.select(&self.input.borrow_and_update());
            self.core.set_data(data);
            if self.core.poll_timeout().is_some_and(|t| t <= now) {
                self.core.handle_timeout(now);
            }
            while let Some(f) = self.core.poll_transmit() {
                match bus.send(&f).await {
                    Ok(()) => {}
                    Err(e) if e.is_fatal() => return e,
                    Err(e) => tracing::debug!("{}: {e}", self.name),
                }
            }
            self.status.send_replace(self.core.status(now));
            let wait = self
                .core
                .poll_timeout()
                .map_or(Duration::from_secs(1), |t| t.saturating_duration_since(now));
            tokio::select! {
                r = bus.recv() => match r {
                    Ok(f) => {
                        if let Err(e) = self.core.handle_frame(self.clock.now(), &f) {
                            tracing::debug!("{}: ignored {f:?}: {e}", self.name);
                        }
                    }
                    Err(e) if e.is_fatal() => return e,
                    Err(e) => tracing::debug!("{}: {e}", self.name),
                },
                () = tokio::time::sleep(wait) => {}
                r = self.input.changed(), if input_open => input_open = r.is_ok(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Timestamp {
        Timestamp::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + ms)
    }

    fn rating() -> Rating {
        Rating {
            max_voltage: Volts(400.0),
            min_voltage: Volts(300.0),
            max_current: Amps(20.0),
            capacity_wh: 25_500,
            source_timeout: Duration::from_secs(5),
        }
    }

    fn data(at: Timestamp) -> Option<Stamped<BatteryData>> {
        Some(Stamped::new(
            at,
            BatteryData {
                soc: Percent(60.0),
                voltage: Volts(360.0),
                current: Amps(-3.0),
                max_charge: Amps(15.0),
                max_discharge: Amps(50.0),
                temperature_c: Some(21.0),
                alarms: BmsAlarms::NONE,
            },
        ))
    }

    fn drain(e: &mut impl Emulation) -> Vec<CanFrame> {
        std::iter::from_fn(|| e.poll_transmit()).collect()
    }

    fn ids(frames: &[CanFrame]) -> Vec<u32> {
        frames.iter().map(|f| f.id().raw()).collect()
    }

    /// Runs the core from `from` to `to` in 100 ms steps, like a driver would (waking at
    /// `poll_timeout`), collecting (time in ms, id) of everything sent.
    fn run(e: &mut BydHvs, from: u64, to: u64, out: &mut Vec<(u64, u32)>) {
        let mut ms = from;
        while ms <= to {
            if e.poll_timeout().is_some_and(|d| d <= t(ms)) {
                e.handle_timeout(t(ms));
            }
            for f in drain(e) {
                out.push((ms, f.id().raw()));
            }
            ms += 100;
        }
    }

    #[test]
    fn byd_is_silent_until_the_inverter_talks() {
        let mut e = BydHvs::new(rating());
        e.set_data(data(t(0)));
        assert_eq!(e.poll_timeout(), None);
        e.handle_timeout(t(5_000));
        assert!(drain(&mut e).is_empty());
    }

    #[test]
    fn byd_schedule_and_handshake_on_virtual_time() {
        let mut e = BydHvs::new(rating());
        e.set_data(data(t(0)));
        // The inverter asks for identification (0x151 bit 0) at t = 0.
        let ask = byd::Repr::IdentifyRequest.emit();
        e.handle_frame(t(0), &ask).unwrap();
        let ident = drain(&mut e);
        assert_eq!(
            ids(&ident),
            [0x250, 0x290, 0x2D0, 0x3D0, 0x3D0, 0x3D0, 0x3D0]
        );
        assert_eq!(ident[0].data()[4..6], [0x00, 0xFF], "25.5 kWh");
        // Keep the inverter alive with 0x091 every second, and run 61 s.
        let mut sent = Vec::new();
        for s in 0..=61u64 {
            e.handle_frame(
                t(s * 1000),
                &byd::Repr::InverterVoltage(Volts(360.0)).emit(),
            )
            .unwrap();
            e.set_data(data(t(s * 1000)));
            run(&mut e, s * 1000, s * 1000 + 900, &mut sent);
        }
        let times = |id: u32| -> Vec<u64> {
            sent.iter()
                .filter(|(_, i)| *i == id)
                .map(|(ms, _)| *ms)
                .collect()
        };
        assert_eq!(times(0x110), (0..=30).map(|k| k * 2000).collect::<Vec<_>>());
        for id in [0x150, 0x1D0, 0x210] {
            assert_eq!(
                times(id),
                [0, 10_000, 20_000, 30_000, 40_000, 50_000, 60_000]
            );
        }
        assert_eq!(times(0x190), [0, 60_000]);
        // A second identification request is answered again, at once.
        e.handle_frame(t(61_950), &ask).unwrap();
        assert_eq!(drain(&mut e).len(), 7);
    }

    #[test]
    fn byd_limits_follow_the_data_and_go_to_zero_when_stale() {
        let mut e = BydHvs::new(rating());
        e.set_data(data(t(0)));
        e.handle_frame(t(0), &byd::Repr::InverterTime(1).emit())
            .unwrap();
        e.handle_timeout(t(0));
        let frames = drain(&mut e);
        let Ok(byd::Repr::Limits(l)) = byd::Repr::parse(&frames[0]) else {
            panic!("0x110 first")
        };
        assert_eq!(l.max_charge, Amps(15.0));
        assert_eq!(l.max_discharge, Amps(20.0), "capped by the rating");
        assert_eq!(l.max_voltage, Volts(400.0));
        // No new data for 6 s (> 5 s source timeout): the next 0x110 allows nothing.
        e.handle_frame(t(5_000), &byd::Repr::InverterTime(2).emit())
            .unwrap();
        e.handle_timeout(t(6_000));
        let frames = drain(&mut e);
        let Ok(byd::Repr::Limits(l)) = byd::Repr::parse(&frames[0]) else {
            panic!("0x110")
        };
        assert_eq!((l.max_charge, l.max_discharge), (Amps::ZERO, Amps::ZERO));
        assert!(!e.status(t(6_000)).source_fresh);
        // Data returns: so do the limits.
        e.set_data(data(t(7_900)));
        e.handle_timeout(t(8_000));
        let Ok(byd::Repr::Limits(l)) = byd::Repr::parse(&drain(&mut e)[0]) else {
            panic!("0x110")
        };
        assert_eq!(l.max_charge, Amps(15.0));
    }

    #[test]
    fn byd_falls_silent_when_the_inverter_does() {
        let mut e = BydHvs::new(rating());
        e.set_data(data(t(0)));
        e.handle_frame(t(0), &byd::Repr::InverterTime(1).emit())
            .unwrap();
        let mut sent = Vec::new();
        run(&mut e, 0, 30_000, &mut sent);
        // Heard last at 0: frames until 15 s, none after.
        assert!(sent.iter().all(|(ms, _)| *ms <= 15_000), "{sent:?}");
        assert!(sent.iter().any(|(ms, _)| *ms == 14_000));
        assert_eq!(e.poll_timeout(), None);
        assert!(!e.status(t(30_000)).inverter_alive);
    }

    #[test]
    fn byd_reports_garbage_and_keeps_going() {
        let mut e = BydHvs::new(rating());
        let short = CanFrame::standard(0x151, &[]).unwrap();
        assert!(e.handle_frame(t(0), &short).is_err());
        let other = CanFrame::standard(0x110, &[0; 8]).unwrap();
        assert!(e.handle_frame(t(0), &other).is_err());
        assert_eq!(e.status(t(0)).invalid, 2);
        assert!(
            !e.status(t(0)).inverter_alive,
            "garbage is not a live inverter"
        );
        e.handle_frame(t(0), &byd::Repr::InverterName(*b"SH10RT\0").emit())
            .unwrap();
        assert_eq!(e.status(t(0)).inverter_name.as_deref(), Some("SH10RT"));
    }

    #[test]
    fn pylontech_sends_every_second_and_zeroes_limits_on_alarms() {
        let mut e = Pylontech::new(rating(), t(0));
        let mut d = data(t(0));
        e.set_data(d);
        e.handle_timeout(t(0));
        let frames = drain(&mut e);
        assert_eq!(ids(&frames), [0x351, 0x355, 0x356, 0x359, 0x35C, 0x35E]);
        let Ok(pylontech::Repr::Limits(l)) = pylontech::Repr::parse(&frames[0]) else {
            panic!()
        };
        assert_eq!(l.charge_current, Amps(15.0));
        assert_eq!(frames[4].data()[0], 0xC0, "charge and discharge enabled");
        assert_eq!(e.poll_timeout(), Some(t(1000)));
        e.handle_timeout(t(500));
        assert!(drain(&mut e).is_empty());
        if let Some(s) = &mut d {
            s.at = t(1000);
            s.value.alarms.insert(devices::BmsAlarm::OverTemperature);
        }
        e.set_data(d);
        e.handle_timeout(t(1000));
        let frames = drain(&mut e);
        assert_eq!(frames[4].data()[0], 0, "nothing enabled under an alarm");
        assert_eq!(frames[3].data()[0] & 0x08, 0x08, "over-temperature flag");
        assert!(!e.status(t(1000)).inverter_alive);
        e.handle_frame(t(1100), &pylontech::Repr::KeepAlive.emit())
            .unwrap();
        assert!(e.status(t(1100)).inverter_alive);
    }

    #[test]
    fn the_source_prefers_the_car_in_the_charge_loop() {
        let bms = BmsState {
            soc_pct: Percent(40.0),
            voltage_v: Volts(350.0),
            max_charge_a: Amps(10.0),
            max_discharge_a: Amps(10.0),
            ..BmsState::default()
        };
        let mut car = ChargePointStatus {
            state: ChargePointState::Connecting,
            ev_soc_pct: Some(Percent(70.0)),
            ev_max_charge_w: units::Watts(4000.0),
            ev_max_discharge_w: units::Watts(2000.0),
            dc_voltage_v: Some(Volts(400.0)),
            ..ChargePointStatus::default()
        };
        let mut input = SourceInput {
            bms: Some(Stamped::new(t(0), bms)),
            charge_point: Some(Stamped::new(t(0), car)),
        };
        let soc = |s: Source, i: &SourceInput| s.select(i).map(|d| d.value.soc);
        assert_eq!(soc(Source::Auto, &input), Some(Percent(40.0)));
        assert_eq!(soc(Source::ChargePoint, &input), None);
        car.state = ChargePointState::Ready;
        input.charge_point = Some(Stamped::new(t(0), car));
        let d = Source::Auto.select(&input).unwrap().value;
        assert_eq!(d.soc, Percent(70.0));
        assert_eq!((d.max_charge, d.max_discharge), (Amps(10.0), Amps(5.0)));
        assert_eq!(soc(Source::Bms, &input), Some(Percent(40.0)));
    }
}
