//! Builds the site from a configuration: one factory `match` per role, so the set of device
//! types is closed and checked by the compiler.

use anyhow::Context;
use devices::FixedTariff;
use devices_linux::{GpioButtonLed, GpioRelay};
use sim::{
    PriceModel, RelayRef, SharedWorld, SimBms, SimButtonLed, SimChargePoint, SimConverter,
    SimGridMeter, SimPvInverter, SimRelay, SimTariff, World,
};
use site::{Devices, Named, Site};
use units::Timestamp;

use crate::config::{
    BatteryConfig, ButtonConfig, ChargePointConfig, Config, ConverterConfig, GridMeterConfig,
    PvConfig, RelayDevice,
};

/// A built site, with the simulated world if any device is simulated.
#[derive(Debug)]
pub struct Assembled {
    pub site: Site,
    pub world: Option<SharedWorld>,
}

/// Builds the site at `start`.
pub fn assemble(cfg: &Config, start: Timestamp) -> anyhow::Result<Assembled> {
    let tz = cfg.timezone().map_err(anyhow::Error::msg)?;
    let world = World::new(&cfg.sim, tz, start).shared();
    let mut uses_world = false;
    let mut sim = || {
        uses_world = true;
        world.clone()
    };
    let mut d = Devices {
        grid_meter: cfg.grid_meter.as_ref().map(|m| match m {
            GridMeterConfig::Sim => Box::new(SimGridMeter(sim())) as Box<dyn devices::GridMeter>,
        }),
        ..Default::default()
    };
    for (name, pv) in &cfg.pv {
        let device: Box<dyn devices::PvInverter> = match pv {
            PvConfig::Sim(p) => {
                let w = sim();
                let index = sim::lock(&w).add_pv(*p);
                Box::new(SimPvInverter { world: w, index })
            }
        };
        d.pv.push(Named::new(name, device));
    }
    d.bms = cfg.battery.as_ref().map(|b| match b {
        BatteryConfig::Sim(p) => {
            let w = sim();
            sim::lock(&w).set_battery(*p);
            Box::new(SimBms(w)) as Box<dyn devices::Bms>
        }
    });
    d.converter = cfg.converter.as_ref().map(|c| match c {
        ConverterConfig::Sim(p) => {
            let w = sim();
            sim::lock(&w).set_converter(*p);
            Box::new(SimConverter(w)) as Box<dyn devices::Converter>
        }
    });
    d.charge_point = cfg.charge_point.as_ref().map(|c| match c {
        ChargePointConfig::Sim(p) => {
            let w = sim();
            sim::lock(&w).set_car(*p);
            Box::new(SimChargePoint(w)) as Box<dyn devices::ChargePoint>
        }
    });
    d.changeover = match &cfg.changeover {
        None => None,
        Some(RelayDevice::Sim(_)) => {
            let w = sim();
            sim::lock(&w).set_changeover();
            Some(Box::new(SimRelay {
                world: w,
                which: RelayRef::Changeover,
            }) as Box<dyn devices::Relay>)
        }
        Some(RelayDevice::Gpio(p)) => Some(Box::new(
            GpioRelay::open("changeover", p).context("changeover relay")?,
        )),
    };
    for (name, r) in &cfg.relay {
        let device: Box<dyn devices::Relay> = match &r.device {
            RelayDevice::Sim(load) => {
                let w = sim();
                let i = sim::lock(&w).add_relay(*load);
                Box::new(SimRelay {
                    world: w,
                    which: RelayRef::Load(i),
                })
            }
            RelayDevice::Gpio(p) => {
                Box::new(GpioRelay::open(name, p).with_context(|| format!("relay {name}"))?)
            }
        };
        d.relays.push(Named::new(name, device));
    }
    d.button = match &cfg.button {
        None => None,
        Some(ButtonConfig::Sim) => {
            Some(Box::new(SimButtonLed(sim())) as Box<dyn devices::ButtonLed>)
        }
        Some(ButtonConfig::Gpio(p)) => Some(Box::new(
            GpioButtonLed::open("button", p).context("button")?,
        )),
    };
    d.tariff = match cfg.price {
        PriceModel::None => None,
        PriceModel::Fixed { price } => {
            Some(Box::new(FixedTariff(price)) as Box<dyn devices::Tariff>)
        }
        PriceModel::SimMarket { .. } => {
            let w = sim();
            sim::lock(&w).set_price(cfg.price);
            Some(Box::new(SimTariff(w)) as Box<dyn devices::Tariff>)
        }
    };
    if let PriceModel::Fixed { .. } = cfg.price {
        // The simulated world books its energy at the same price.
        sim::lock(&world).set_price(cfg.price);
    }

    let controller =
        controller::SiteController::new(cfg.controller().map_err(anyhow::Error::msg)?, start)
            .context("controller configuration")?;
    Ok(Assembled {
        site: Site::new(d, controller),
        world: uses_world.then_some(world),
    })
}
