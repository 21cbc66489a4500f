//! Every live value of a site [`Snapshot`], flattened into named numbers: what history stores,
//! `/metrics` exposes and InfluxDB receives. One function decides the names, so the three agree.

use std::time::Duration;

use devices::Stamped;
use site::Snapshot;
use units::Timestamp;

/// Readings older than this at the snapshot's time are not live any more: a device that went
/// silent leaves a gap in history instead of a flat line of its last value.
pub const STALE_AFTER: Duration = Duration::from_secs(30);

/// One live value. Its series key is `group.field` or, for one of several named devices,
/// `group.name.field` (`pv.roof.power_w`, `relay.hot_water.on`).
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// The kind of device or quantity (`grid`, `pv`, `battery`, `ev`, `relay`, ...).
    pub group: &'static str,
    /// The configured device name, for groups with several devices.
    pub name: Option<String>,
    /// The quantity with its unit (`power_w`, `soc_pct`, `on`).
    pub field: &'static str,
    /// The value (booleans are 0 and 1).
    pub value: f64,
}

impl Value {
    /// The series key: `group.field` or `group.name.field`.
    pub fn key(&self) -> String {
        match &self.name {
            Some(n) => format!("{}.{n}.{}", self.group, self.field),
            None => format!("{}.{}", self.group, self.field),
        }
    }

    /// The Prometheus metric name: `gridlet_group_field` (the device name is a label).
    pub fn metric(&self) -> String {
        format!("gridlet_{}_{}", self.group, self.field)
    }
}

/// The flows energy totals are made of, in W, from one snapshot; `None` where unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Flows {
    /// PV production (fresh inverters only), ≥ 0.
    pub pv_w: Option<f64>,
    /// Grid power, + = import.
    pub grid_w: Option<f64>,
    /// Home battery DC power (V × I from the BMS), + = charging.
    pub battery_w: Option<f64>,
    /// Car DC power at the inlet, + = into the car.
    pub car_w: Option<f64>,
    /// The house's own draw (everything but the home battery and the car), ≥ 0: see
    /// [`flows`] for how it is derived.
    pub house_w: Option<f64>,
    /// The price per kWh of imports.
    pub price: Option<f64>,
    /// The price per kWh paid for exports (feed-in), where the tariff knows one.
    pub feed_in: Option<f64>,
}

fn fresh<T>(s: &Option<Stamped<T>>, now: Timestamp) -> Option<&T> {
    s.as_ref().and_then(|s| s.fresh(now, STALE_AFTER))
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// The energy flows of a snapshot (fresh readings only).
///
/// No device measures the house, so its draw closes the AC balance: house = grid + PV − what
/// goes into the home battery and the car (signs as in [`Flows`]: grid + = import, battery and
/// car + = charging). Where a converter is configured, the battery and the car sit behind it
/// and its measured AC power is what they take, conversion losses included (the same as the
/// `house.power_w` series); without one, their DC powers stand in. Unknown when a term is
/// (a configured device without a fresh reading). A negative result is meters read at
/// different moments, not a house that produces: it counts as 0.
pub fn flows(s: &Snapshot) -> Flows {
    let now = s.time;
    let any_pv = s.pv.iter().any(|p| fresh(&p.status, now).is_some());
    let pv_w = any_pv.then_some(s.pv_power_w.0).and_then(finite);
    let grid_w = fresh(&s.grid, now).and_then(|g| finite(g.power_w.0));
    let battery_w = fresh(&s.battery, now).and_then(|b| finite(b.voltage_v.0 * b.current_a.0));
    let car_w = fresh(&s.charge_point, now).and_then(|c| finite(c.power_w.0));
    // A device that is not configured takes nothing; one that is but has gone silent is unknown.
    let known = |configured: bool, w: Option<f64>| if configured { w } else { Some(0.0) };
    let storage_w = if s.converter.is_some() {
        fresh(&s.converter, now).and_then(|c| finite(c.power_w.0))
    } else {
        known(s.battery.is_some(), battery_w)
            .zip(known(s.charge_point.is_some(), car_w))
            .map(|(b, c)| b + c)
    };
    let house_w = grid_w
        .zip(known(!s.pv.is_empty(), pv_w))
        .zip(storage_w)
        .map(|((g, pv), st)| (g + pv - st).max(0.0));
    Flows {
        pv_w,
        grid_w,
        battery_w,
        car_w,
        house_w,
        price: s.price.and_then(|p| finite(p.0)),
        feed_in: s.feed_in_price.and_then(|p| finite(p.0)),
    }
}

/// Every live value of `s`, in a stable order. Stale readings and non-finite numbers are left
/// out.
pub fn values(s: &Snapshot) -> Vec<Value> {
    let now = s.time;
    let mut out = Vec::with_capacity(48);
    let mut push = |group: &'static str, name: Option<&str>, field: &'static str, v: f64| {
        if v.is_finite() {
            out.push(Value {
                group,
                name: name.map(str::to_owned),
                field,
                value: v,
            });
        }
    };
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    let f = flows(s);
    if let Some(g) = fresh(&s.grid, now) {
        push("grid", None, "power_w", g.power_w.0);
        if let Some([l1, l2, l3]) = g.phases_w {
            push("grid", None, "l1_power_w", l1.0);
            push("grid", None, "l2_power_w", l2.0);
            push("grid", None, "l3_power_w", l3.0);
        }
        if let Some(e) = g.import_wh {
            push("grid", None, "import_wh", e.0);
        }
        if let Some(e) = g.export_wh {
            push("grid", None, "export_wh", e.0);
        }
    }
    if let Some(pv) = f.pv_w {
        push("pv", None, "power_w", pv);
    }
    for p in &s.pv {
        if let Some(st) = fresh(&p.status, now) {
            let name = Some(p.name.as_str());
            push("pv", name, "power_w", st.power_w.0);
            if let Some(l) = st.limit_w {
                push("pv", name, "limit_w", l.0);
            }
            if let Some(e) = st.energy_wh {
                push("pv", name, "energy_wh", e.0);
            }
        }
    }
    if let Some(b) = fresh(&s.battery, now) {
        push("battery", None, "soc_pct", b.soc_pct.0);
        push("battery", None, "voltage_v", b.voltage_v.0);
        push("battery", None, "current_a", b.current_a.0);
        push("battery", None, "power_w", b.voltage_v.0 * b.current_a.0);
        push("battery", None, "max_charge_a", b.max_charge_a.0);
        push("battery", None, "max_discharge_a", b.max_discharge_a.0);
        if let Some(v) = b.cell_min_v {
            push("battery", None, "cell_min_v", v.0);
        }
        if let Some(v) = b.cell_max_v {
            push("battery", None, "cell_max_v", v.0);
        }
        if let Some(t) = b.temperature_c {
            push("battery", None, "temperature_c", t);
        }
    }
    if let Some(c) = fresh(&s.converter, now) {
        push("converter", None, "power_w", c.power_w.0);
        if let Some(v) = c.dc_voltage_v {
            push("converter", None, "dc_voltage_v", v.0);
        }
        push("converter", None, "enabled", flag(c.enabled));
        push("converter", None, "fault", flag(c.fault));
    }
    // The house's own draw, closing the AC balance (see `flows`).
    if let Some(house) = f.house_w {
        push("house", None, "power_w", house);
    }
    if let Some(c) = fresh(&s.charge_point, now) {
        push("ev", None, "power_w", c.power_w.0);
        push(
            "ev",
            None,
            "plugged",
            flag(c.state != devices::ChargePointState::Unplugged),
        );
        push(
            "ev",
            None,
            "charging",
            flag(c.state == devices::ChargePointState::Ready),
        );
        if let Some(soc) = c.ev_soc_pct {
            push("ev", None, "soc_pct", soc.0);
        }
        if let Some(v) = c.dc_voltage_v {
            push("ev", None, "dc_voltage_v", v.0);
        }
        if let Some(a) = c.current_a {
            push("ev", None, "current_a", a.0);
        }
        push("ev", None, "session_energy_wh", c.session_energy_wh.0);
        push("ev", None, "max_charge_w", c.ev_max_charge_w.0);
        push("ev", None, "max_discharge_w", c.ev_max_discharge_w.0);
    }
    if let Some(on) = s.changeover {
        push("changeover", None, "on", flag(on));
    }
    for r in &s.relays {
        if let Some(on) = r.on {
            push("relay", Some(&r.name), "on", flag(on));
        }
    }
    if let Some(p) = f.price {
        push("price", None, "per_kwh", p);
    }
    let c = &s.controller;
    push("controller", None, "setpoint_w", c.setpoint_w.0);
    push("controller", None, "charge_limit_w", c.charge_limit_w.0);
    push(
        "controller",
        None,
        "discharge_limit_w",
        c.discharge_limit_w.0,
    );
    if let Some(l) = c.pv_limit_w {
        push("controller", None, "pv_limit_w", l.0);
    }
    push("controller", None, "ev_enabled", flag(c.ev_enabled));
    push("controller", None, "warnings", c.warnings.len() as f64);
    out
}
