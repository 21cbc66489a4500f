//! What `gridlet evse` and `gridlet ev` share: quantities on the command line, protocol lists,
//! signals, and the session summaries they print.

use std::time::Duration;

use anyhow::{Context, bail};
use v2g::Protocol;
use v2g::evcc::LatencyStats;

/// Parses a quantity such as `11kW`, `11 kW`, `11000`, `-3kW`, `420V`, `60kWh`: a number, an
/// optional `k` (×1000), and an optional unit that must be `unit` if given.
pub(crate) fn quantity(s: &str, unit: &str) -> Result<f64, String> {
    let t = s.trim();
    let t = t
        .strip_suffix(unit)
        .or_else(|| t.strip_suffix(&unit.to_lowercase()))
        .unwrap_or(t)
        .trim_end();
    let (number, scale) = match t.strip_suffix('k') {
        Some(n) => (n.trim_end(), 1000.0),
        None => (t, 1.0),
    };
    match number.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v * scale),
        _ => Err(format!(
            "{s:?} is not a quantity in {unit} (e.g. 11{unit}, 11k{unit})"
        )),
    }
}

/// Volts on the command line.
pub(crate) fn volts(s: &str) -> Result<units::Volts, String> {
    quantity(s, "V").map(units::Volts)
}

/// Amps on the command line.
pub(crate) fn amps(s: &str) -> Result<units::Amps, String> {
    quantity(s, "A").map(units::Amps)
}

/// Watts on the command line.
pub(crate) fn watts(s: &str) -> Result<units::Watts, String> {
    quantity(s, "W").map(units::Watts)
}

/// Watt-hours on the command line.
pub(crate) fn watt_hours(s: &str) -> Result<units::WattHours, String> {
    quantity(s, "Wh").map(units::WattHours)
}

/// Percent on the command line (`80` or `80%`).
pub(crate) fn percent(s: &str) -> Result<units::Percent, String> {
    let v = quantity(s, "%")?;
    if (0.0..=100.0).contains(&v) {
        Ok(units::Percent(v))
    } else {
        Err(format!("{s:?} is not between 0 and 100 %"))
    }
}

/// A comma-separated list of protocols (`din,iso2,iso20`), in order of preference.
pub(crate) fn protocols(s: &str) -> anyhow::Result<Vec<Protocol>> {
    let list: Vec<Protocol> = s
        .split(',')
        .map(|p| p.trim().parse::<Protocol>())
        .collect::<Result<_, _>>()?;
    if list.is_empty() {
        bail!("no protocol given");
    }
    Ok(list)
}

/// Completes on SIGINT or SIGTERM.
pub(crate) async fn signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

pub(crate) fn millis(d: Duration) -> f64 {
    // Whole microseconds: finer is noise, and 0.6759999999999999 is hard to read.
    (d.as_secs_f64() * 1e6).round() / 1000.0
}

/// Latency statistics as JSON (milliseconds).
pub(crate) fn latency_json(l: &LatencyStats) -> serde_json::Value {
    serde_json::json!({
        "count": l.count,
        "p50_ms": millis(l.p50),
        "p99_ms": millis(l.p99),
        "max_ms": millis(l.max),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_with_units_and_kilo() {
        assert_eq!(quantity("11kW", "W"), Ok(11_000.0));
        assert_eq!(quantity("11 kW", "W"), Ok(11_000.0));
        assert_eq!(quantity("-3kW", "W"), Ok(-3_000.0));
        assert_eq!(quantity("420", "V"), Ok(420.0));
        assert_eq!(quantity("420V", "V"), Ok(420.0));
        assert_eq!(quantity("60kWh", "Wh"), Ok(60_000.0));
        assert_eq!(quantity("2.5A", "A"), Ok(2.5));
        assert!(quantity("11kV", "W").is_err());
        assert!(quantity("lots", "W").is_err());
        assert!(quantity("NaN", "W").is_err());
        assert_eq!(percent("80%").unwrap().0, 80.0);
        assert!(percent("120").is_err());
    }

    #[test]
    fn protocol_lists_keep_their_order() {
        assert_eq!(
            protocols("iso20, din").unwrap(),
            vec![Protocol::Iso20Dc, Protocol::Din]
        );
        assert!(protocols("din,chademo").is_err());
    }
}
