//! `gridlet run --config FILE`: the daemon.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use units::Clock;

use crate::drive::{DriveOptions, drive};
use crate::runner::Pace;
use crate::{assemble, config};

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The configuration file.
    #[arg(long)]
    config: PathBuf,
    /// HTTP address for the web UI and API (overrides [http] listen).
    #[arg(long)]
    listen: Option<SocketAddr>,
}

pub(crate) fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let cfg = match config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(super::EXIT_CONFIG));
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let start = units::SystemClock::new().now();
    // Devices with their own I/O tasks (Modbus) start on this runtime.
    let assembled = {
        let _runtime = rt.enter();
        assemble::assemble(&cfg, start)?
    };
    let opts = DriveOptions {
        tick: cfg.site.tick,
        pace: Pace::System,
        until: None,
        listen: Some(args.listen.unwrap_or(cfg.http.listen)),
    };
    let outcome = rt.block_on(drive(assembled, opts))?.outcome;
    Ok(if outcome.safe {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
