//! `gridlet prices`: what the configured `[prices]` provider returns, as a table or JSON.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde::Serialize;
use tariffs::Tariff as _;
use units::{Clock, Timestamp};

use crate::config;

#[derive(Debug, Args)]
pub(crate) struct PricesArgs {
    /// The configuration file with a [prices] table.
    #[arg(long, default_value = "/etc/gridlet/gridlet.toml")]
    config: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// One row.
#[derive(Debug, Serialize)]
struct Row {
    start: Timestamp,
    end: Timestamp,
    /// The provider's price, per kWh.
    spot: f64,
    /// The end-user price ([prices] formula).
    price: f64,
    /// The feed-in price, if export is paid.
    feed_in: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Report {
    provider: String,
    fetched_at: Option<Timestamp>,
    error: Option<String>,
    slots: Vec<Row>,
}

/// How far ahead a fixed or time-of-use tariff is shown.
const SHOW_AHEAD: Duration = Duration::from_secs(48 * 3600);

pub(crate) fn run(args: PricesArgs) -> anyhow::Result<ExitCode> {
    let cfg = match config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(super::EXIT_CONFIG));
        }
    };
    let Some(prices) = &cfg.prices else {
        eprintln!(
            "{}: no [prices] table (see `gridlet config example`)",
            args.config.display()
        );
        return Ok(ExitCode::from(super::EXIT_CONFIG));
    };
    let tz = cfg.timezone().map_err(anyhow::Error::msg)?;
    let built = prices.build(&tz).map_err(anyhow::Error::msg)?;
    let now = units::SystemClock::new().now();
    if let Some(mut fetcher) = built.fetcher {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(fetcher.step(now));
    }
    let feed = built.feed;
    let to = feed.horizon().unwrap_or(now + SHOW_AHEAD);
    let spot = feed.spot(now, to);
    let slots: Vec<Row> = spot
        .iter()
        .zip(feed.prices(now, to))
        .map(|(s, p)| Row {
            start: s.start,
            end: s.end,
            spot: s.price.0,
            price: p.price.0,
            feed_in: feed.feed_in(s.start, s.end).first().map(|f| f.price.0),
        })
        .collect();
    let status = feed.status();
    let report = Report {
        provider: status.provider,
        fetched_at: status.fetched_at,
        error: status.last_error,
        slots,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report, &tz);
    }
    if let Some(e) = &report.error {
        eprintln!("error: {e}");
        if report.slots.is_empty() {
            return Ok(ExitCode::FAILURE);
        }
        eprintln!("(showing the cached prices)");
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(r: &Report, tz: &jiff::tz::TimeZone) {
    let local = |t: Timestamp| {
        tz.to_datetime(t.to_jiff())
            .strftime("%a %Y-%m-%d %H:%M")
            .to_string()
    };
    println!(
        "{} prices{}",
        r.provider,
        r.fetched_at
            .map(|t| format!(", fetched {}", local(t)))
            .unwrap_or_default()
    );
    println!(
        "{:<20}  {:>5}  {:>10}  {:>10}  {:>10}",
        "start (local)", "min", "provider", "price", "feed-in"
    );
    for s in &r.slots {
        let minutes = s.end.saturating_duration_since(s.start).as_secs() / 60;
        let feed_in = s.feed_in.map_or("-".to_owned(), |f| format!("{f:.4}"));
        println!(
            "{:<20}  {:>5}  {:>10.4}  {:>10.4}  {:>10}",
            local(s.start),
            minutes,
            s.spot,
            s.price,
            feed_in
        );
    }
    println!("{} slots, prices per kWh", r.slots.len());
}
