//! The evening site on the simulated world that the site's safety tests and the runner's loop
//! tests (`crates/runner/src/tests.rs`, through `#[path]`) start from: no PV, a 1.5 kW house
//! running on the battery through a 5 kW converter, so the converter is busy when a test stops
//! or disturbs it.
#![allow(dead_code)] // Each test that includes it uses a part.

use controller::{ControlSettings, ControllerConfig, ConverterRating, SiteController};
use sim::{
    BatteryParams, ConverterParams, HouseParams, SharedWorld, SimBms, SimConverter, SimGridMeter,
    SimSettings, World,
};
use site::{Devices, Site};
use units::{Timestamp, Watts};

/// 18:00 on midsummer's day: evening, no PV.
pub(crate) fn start() -> Timestamp {
    Timestamp::parse_rfc3339("2026-06-21T18:00:00Z").expect("a valid time")
}

/// The world at [`start`] with a steady evening load well above zero (1.5 kW standby).
pub(crate) fn world() -> World {
    let settings = SimSettings {
        house: HouseParams {
            standby_w: Watts(1500.0),
            ..Default::default()
        },
        ..Default::default()
    };
    World::new(&settings, jiff::tz::TimeZone::UTC, start())
}

/// [`world`] as a [`battery_site`] from [`start`].
pub(crate) fn site() -> (Site, SharedWorld) {
    battery_site(world(), start())
}

/// `world` with a 5 kW converter on its battery, driven by a default controller from `now`:
/// the grid meter, the BMS and the converter are the simulated ones.
pub(crate) fn battery_site(world: World, now: Timestamp) -> (Site, SharedWorld) {
    battery_site_with(world, now, |w| Box::new(SimConverter(w)))
}

/// [`battery_site`] with the converter's backend made by `converter` from the shared world.
pub(crate) fn battery_site_with(
    mut world: World,
    now: Timestamp,
    converter: impl FnOnce(SharedWorld) -> Box<dyn devices::Converter>,
) -> (Site, SharedWorld) {
    world.set_battery(BatteryParams::default());
    world.set_converter(ConverterParams::default());
    let world = world.shared();
    let devices = Devices {
        grid_meter: Some(Box::new(SimGridMeter(world.clone()))),
        bms: Some(Box::new(SimBms(world.clone()))),
        converter: Some(converter(world.clone())),
        ..Default::default()
    };
    let cfg = ControllerConfig {
        control: ControlSettings::default(),
        converter: Some(ConverterRating {
            max_charge_w: Watts(5000.0),
            max_discharge_w: Watts(5000.0),
        }),
        battery: true,
        pv_rated: vec![],
        changeover: false,
        relays: vec![],
        timezone: jiff::tz::TimeZone::UTC,
    };
    let controller = SiteController::new(cfg, now).expect("a valid controller config");
    (Site::new(devices, controller), world)
}
