//! `gridlet sim`: the simulated site.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use units::{Clock, Timestamp};

use crate::drive::{DriveOptions, drive};
use crate::runner::{Outcome, Pace};
use crate::{assemble, config};

#[derive(Debug, Args)]
pub(crate) struct SimArgs {
    /// Configuration file; default: the built-in simulated reference site
    /// (`gridlet config example --preset sim`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Stop after this much simulated time (e.g. 24h) instead of running until stopped.
    #[arg(long, value_parser = units::parse_duration)]
    until: Option<Duration>,
    /// Simulated seconds per wall-clock second, or `max` for as fast as possible.
    #[arg(long, default_value = "1")]
    speed: Speed,
    /// Seed of the simulation's random processes (overrides [sim] seed).
    #[arg(long)]
    seed: Option<u64>,
    /// Simulated start: RFC 3339 (2026-06-21T00:00:00Z), a local date-time (2026-06-21T00:00),
    /// or `now`. Default: now, or with --until midnight of 2026-06-21 local (reproducible).
    #[arg(long)]
    start: Option<String>,
    /// Write a JSON report (energy totals in Wh, SoC, shutdown) to this file at the end.
    #[arg(long)]
    report: Option<PathBuf>,
    /// HTTP address for the web UI and API; default: the config's [http] listen, or none with
    /// --until.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Record history into this SQLite file (overrides [history] path; the other settings
    /// are the config's or the defaults).
    #[arg(long)]
    history: Option<PathBuf>,
    /// Keep the user's settings (the page's controls) in this file across runs (overrides
    /// [site] settings).
    #[arg(long)]
    settings: Option<PathBuf>,
    /// Run the --until span three times (planned operation, the threshold rules, charging at
    /// once on arrival) on the same weather, house and car trips, and print their costs and
    /// the saving (also in the --report file).
    #[arg(long, requires = "until")]
    compare: bool,
    /// With --compare: the price per kWh of energy the driver tops up at a public charger when
    /// a strategy let the car leave below its target.
    #[arg(long, requires = "compare", default_value_t = crate::compare::Valuation::default().public_per_kwh)]
    public_price: f64,
}

/// Simulation speed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Speed {
    Factor(f64),
    Max,
}

impl FromStr for Speed {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "max" {
            return Ok(Self::Max);
        }
        match s.parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 => Ok(Self::Factor(f)),
            _ => Err(format!("{s:?} is not a positive number or `max`")),
        }
    }
}

/// The reproducible default start for runs with --until.
const DEFAULT_START: &str = "2026-06-21T00:00:00";

fn parse_start(s: &str, tz: &jiff::tz::TimeZone) -> anyhow::Result<Timestamp> {
    if s == "now" {
        return Ok(units::SystemClock::new().now());
    }
    if let Ok(t) = Timestamp::parse_rfc3339(s) {
        return Ok(t);
    }
    let local: jiff::civil::DateTime = s
        .parse()
        .with_context(|| format!("--start {s:?}: expected RFC 3339, a local date-time or `now`"))?;
    let ts = tz
        .to_timestamp(local)
        .with_context(|| format!("--start {s:?} does not exist in the site's time zone"))?;
    Ok(Timestamp::from_jiff(ts))
}

#[derive(Serialize)]
struct ReportFile<'a> {
    #[serde(flatten)]
    report: sim::Report,
    /// The car's CCS sessions (a simulated car with the CCS charge point).
    charge_sessions: &'a [ccs::memory::SessionRecord],
    shutdown: &'a Outcome,
    actuators: sim::Actuators,
}

pub(crate) fn run(args: SimArgs) -> anyhow::Result<ExitCode> {
    let loaded = match &args.config {
        Some(path) => config::load(path),
        None => config::parse("built-in sim.toml", config::EXAMPLE_SIM),
    };
    let mut cfg = match loaded {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(super::EXIT_CONFIG));
        }
    };
    if let Some(seed) = args.seed {
        cfg.sim.seed = seed;
    }
    if let Some(path) = &args.history {
        crate::history_front::HistoryConfig::set_path(&mut cfg.history, path.clone());
    }
    if let Some(path) = &args.settings {
        cfg.site.settings = Some(path.clone());
    }
    let tz = cfg.timezone().map_err(anyhow::Error::msg)?;
    let start = match (&args.start, args.until) {
        (Some(s), _) => parse_start(s, &tz)?,
        (None, Some(_)) => parse_start(DEFAULT_START, &tz)?,
        (None, None) => units::SystemClock::new().now(),
    };
    if args.compare {
        let length = args.until.unwrap_or_default();
        let wall = std::time::Instant::now();
        anyhow::ensure!(
            args.public_price.is_finite() && args.public_price >= 0.0,
            "--public-price {} is not a price",
            args.public_price
        );
        let valuation = crate::compare::Valuation {
            public_per_kwh: args.public_price,
        };
        let cmp = crate::compare::compare(&cfg, start, length, valuation)?;
        println!("{cmp}");
        tracing::info!(
            "compared {length:?} three times in {:.1} s",
            wall.elapsed().as_secs_f64()
        );
        if let Some(path) = &args.report {
            let json = serde_json::to_string_pretty(&cmp)?;
            std::fs::write(path, json + "\n")
                .with_context(|| format!("cannot write the report to {}", path.display()))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let assembled = assemble::assemble(&cfg, start)?;
    let listen = match (args.listen, args.until) {
        (Some(addr), _) => Some(addr),
        (None, Some(_)) => None,
        (None, None) => Some(cfg.http.listen),
    };
    let pace = match args.speed {
        Speed::Max => Pace::Max { start },
        Speed::Factor(speed) => Pace::Virtual { start, speed },
    };
    let opts = DriveOptions {
        tick: cfg.site.tick,
        pace,
        until: args.until.map(|d| start + d),
        listen,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let wall = std::time::Instant::now();
    let driven = rt.block_on(drive(assembled, opts))?;
    let outcome = driven.outcome;
    let world = driven
        .world
        .context("the simulation has no simulated devices")?;
    let w = sim::lock(&world);
    let report = w.report();
    tracing::info!(
        "simulated {} to {} in {:.2} s: PV {:.1} kWh, load {:.1} kWh, import {:.1} kWh, export {:.1} kWh",
        report.start,
        report.end,
        wall.elapsed().as_secs_f64(),
        report.energy.pv / 1000.0,
        report.energy.load / 1000.0,
        report.energy.grid_import / 1000.0,
        report.energy.grid_export / 1000.0,
    );
    if let Some(path) = &args.report {
        let file = ReportFile {
            report,
            charge_sessions: &driven.charge_sessions,
            shutdown: &outcome,
            actuators: w.actuators(),
        };
        let json = serde_json::to_string_pretty(&file)?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("cannot write the report to {}", path.display()))?;
    }
    Ok(if outcome.safe {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
