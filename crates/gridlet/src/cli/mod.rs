//! Command-line interface. Each subcommand lives in its own module and returns its exit code.

mod config;
mod ev;
mod evse;
mod plan;
mod plc;
mod plc_image;
mod plc_modem;
mod prices;
mod run;
mod sim;
mod slac;
mod v2g_common;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod exi;

/// gridlet: home energy controller and CCS DC charger.
#[derive(Debug, Parser)]
#[command(name = "gridlet", version = VERSION, about)]
pub(crate) struct Cli {
    /// More log output (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the simulated site (the built-in reference site, or --config).
    Sim(sim::SimArgs),
    /// Run the site described by a configuration file.
    Run(run::RunArgs),
    /// Check or print configuration files.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// The powerline modem (HomePlug Green PHY).
    Plc(plc::PlcArgs),
    /// SLAC alone: pair a charger's and a car's powerline modems.
    Slac(slac::SlacArgs),
    /// The CCS charger: SLAC, SDP and DIN 70121 / ISO 15118-2 / ISO 15118-20 sessions on a
    /// simulated power stage.
    Evse(evse::EvseArgs),
    /// A simulated car: SLAC, SDP and one V2G session (against our charger or a real one).
    Ev(ev::EvArgs),
    /// Decode, encode and check V2G EXI messages.
    #[command(subcommand)]
    Exi(exi::ExiCommand),
    /// Fetch and print the prices of the configured [prices] provider.
    Prices(prices::PricesArgs),
    /// Plan battery and car over a price horizon (a scenario file) and print the plan.
    Plan(plan::PlanArgs),
}

impl Cli {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        match self.command {
            Command::Sim(args) => sim::run(args),
            Command::Run(args) => run::run(args),
            Command::Config(cmd) => config::run(cmd),
            Command::Plc(args) => args.run(),
            Command::Slac(args) => args.run(),
            Command::Evse(args) => args.run(),
            Command::Ev(args) => args.run(),
            Command::Exi(c) => c.run(),
            Command::Prices(args) => prices::run(args),
            Command::Plan(args) => args.run(),
        }
    }
}

/// Parses the command line, runs the subcommand and returns its exit code.
pub fn main() -> ExitCode {
    use clap::Parser as _;
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match cli.run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `gridlet --version`: the package version and the commit it was built from (see `build.rs`).
pub(crate) const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("GRIDLET_COMMIT"),
    ")"
);

/// Exit code for a configuration the user must fix.
pub(crate) const EXIT_CONFIG: u8 = 2;

/// Logs go to stderr so that stdout stays machine-readable (JSON, hex).
pub(crate) fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => tracing_subscriber::filter::LevelFilter::INFO,
        1 => tracing_subscriber::filter::LevelFilter::DEBUG,
        _ => tracing_subscriber::filter::LevelFilter::TRACE,
    };
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    // RUST_LOG as `target=level` lists (`info,ccs=trace`): `Targets`, not `EnvFilter`, whose span
    // and field filters bring a regex engine (some 160 KB of the board binary) nobody here uses.
    // A RUST_LOG that does not parse is ignored, as EnvFilter's `try_from_default_env` did.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|s| s.parse::<tracing_subscriber::filter::Targets>().ok())
        .unwrap_or_else(|| tracing_subscriber::filter::Targets::new().with_default(default));
    if crate::systemd::stderr_is_journal() {
        // Under systemd: the journal stamps the time; the prefix gives each line its level.
        tracing_subscriber::fmt()
            .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE) // `filter` decides
            .with_ansi(false)
            .without_time()
            .event_format(crate::systemd::JournalLevel(
                tracing_subscriber::fmt::format()
                    .without_time()
                    .with_level(false)
                    .with_ansi(false),
            ))
            .with_writer(std::io::stderr)
            .finish()
            .with(filter)
            .init();
        return;
    }
    use std::io::IsTerminal as _;
    tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE) // `filter` decides
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .finish()
        .with(filter)
        .init();
}
