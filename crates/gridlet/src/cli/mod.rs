//! Command-line interface. Each subcommand lives in its own module and returns its exit code.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod exi;

/// gridlet: home energy controller and CCS DC charger.
#[derive(Debug, Parser)]
#[command(name = "gridlet", version, about)]
pub(crate) struct Cli {
    /// More log output (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode, encode and check V2G EXI messages.
    #[command(subcommand)]
    Exi(exi::ExiCommand),
}

impl Cli {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        match self.command {
            Command::Exi(c) => c.run(),
        }
    }
}

/// Logs go to stderr so that stdout stays machine-readable (JSON, hex).
pub(crate) fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
