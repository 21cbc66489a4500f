//! The `Sim*` backends: each device role as a view onto a [`SharedWorld`].

use devices::{
    BmsState, ButtonLed, ChargeLimits, ChargePoint, ChargePointStatus, Converter, ConverterCommand,
    ConverterStatus, DeviceError, GridMeter, GridReading, LedMode, PvInverter, PvStatus, Relay,
    Stamped,
};
use units::{PricePerKwh, Timestamp, Watts};

use crate::{RelayRef, SharedWorld, lock};

/// The simulated grid meter.
#[derive(Debug, Clone)]
pub struct SimGridMeter(pub SharedWorld);

impl GridMeter for SimGridMeter {
    fn reading(&self) -> Option<Stamped<GridReading>> {
        lock(&self.0).meter()
    }
}

/// A simulated PV inverter.
#[derive(Debug, Clone)]
pub struct SimPvInverter {
    /// The world.
    pub world: SharedWorld,
    /// Its array in the world.
    pub index: usize,
}

impl PvInverter for SimPvInverter {
    fn status(&self) -> Option<Stamped<PvStatus>> {
        lock(&self.world).pv_status(self.index)
    }

    fn set_limit(&mut self, now: Timestamp, limit: Option<Watts>) -> Result<(), DeviceError> {
        lock(&self.world).set_pv_limit(self.index, now, limit);
        Ok(())
    }

    fn safe_state(&mut self, _now: Timestamp) -> Result<(), DeviceError> {
        lock(&self.world).reset_pv_limit(self.index);
        Ok(())
    }
}

/// The simulated BMS.
#[derive(Debug, Clone)]
pub struct SimBms(pub SharedWorld);

impl devices::Bms for SimBms {
    fn state(&self) -> Option<Stamped<BmsState>> {
        lock(&self.0).bms()
    }
}

/// The simulated converter.
#[derive(Debug, Clone)]
pub struct SimConverter(pub SharedWorld);

impl Converter for SimConverter {
    fn status(&self) -> Option<Stamped<ConverterStatus>> {
        lock(&self.0).converter_status()
    }

    fn command(&mut self, now: Timestamp, cmd: ConverterCommand) -> Result<(), DeviceError> {
        lock(&self.0).command_converter(now, cmd);
        Ok(())
    }
}

/// A simulated relay.
#[derive(Debug, Clone)]
pub struct SimRelay {
    /// The world.
    pub world: SharedWorld,
    /// Which relay.
    pub which: RelayRef,
}

impl Relay for SimRelay {
    fn set(&mut self, _now: Timestamp, on: bool) -> Result<(), DeviceError> {
        lock(&self.world).set_relay(self.which, on);
        Ok(())
    }

    fn feedback(&self) -> Option<Stamped<bool>> {
        let world = lock(&self.world);
        world
            .relay(self.which)
            .map(|on| Stamped::new(world.now(), on))
    }
}

/// The simulated button with LED.
#[derive(Debug, Clone)]
pub struct SimButtonLed(pub SharedWorld);

impl ButtonLed for SimButtonLed {
    fn presses(&self) -> u64 {
        lock(&self.0).presses()
    }

    fn set_led(&mut self, _now: Timestamp, mode: LedMode) -> Result<(), DeviceError> {
        lock(&self.0).set_led(mode);
        Ok(())
    }
}

/// The simulated charge point and car.
#[derive(Debug, Clone)]
pub struct SimChargePoint(pub SharedWorld);

impl ChargePoint for SimChargePoint {
    fn status(&self) -> Option<Stamped<ChargePointStatus>> {
        lock(&self.0).charge_point_status()
    }

    fn set_limits(&mut self, now: Timestamp, limits: ChargeLimits) -> Result<(), DeviceError> {
        lock(&self.0).set_charge_limits(now, limits);
        Ok(())
    }
}

/// The simulated market price.
#[derive(Debug, Clone)]
pub struct SimTariff(pub SharedWorld);

impl devices::Tariff for SimTariff {
    fn prices(&self, from: Timestamp, to: Timestamp) -> Vec<devices::PriceSlot> {
        lock(&self.0).prices(from, to)
    }

    fn horizon(&self) -> Option<Timestamp> {
        lock(&self.0).price_horizon()
    }

    fn price_at(&self, t: Timestamp) -> Option<PricePerKwh> {
        lock(&self.0).price_at(t)
    }
}

/// The simulated control pilot of the CCS inlet.
#[derive(Debug, Clone)]
pub struct SimControlPilot(pub SharedWorld);

impl SimControlPilot {
    /// What the car does to the pilot (for a simulated pilot whose car is real: it is taken
    /// as plugged in while the car talks on the powerline).
    pub fn set_load(&self, load: crate::PilotLoad) {
        lock(&self.0).set_pilot_load(load);
    }
}

impl devices::ControlPilot for SimControlPilot {
    fn set_signal(
        &mut self,
        _now: Timestamp,
        signal: devices::PilotSignal,
    ) -> Result<(), DeviceError> {
        lock(&self.0).set_pilot_signal(signal);
        Ok(())
    }

    fn reading(&self) -> Option<Stamped<devices::PilotReading>> {
        lock(&self.0).pilot_reading()
    }
}

/// The simulated isolation monitor.
#[derive(Debug, Clone)]
pub struct SimIsolationMonitor(pub SharedWorld);

impl devices::IsolationMonitor for SimIsolationMonitor {
    fn set_testing(&mut self, _now: Timestamp, testing: bool) -> Result<(), DeviceError> {
        lock(&self.0).set_isolation_testing(testing);
        Ok(())
    }

    fn status(&self) -> Option<Stamped<devices::Isolation>> {
        lock(&self.0).isolation()
    }
}
