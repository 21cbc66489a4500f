//! `gridlet config check|example`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};

use crate::config;

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Check a configuration file; errors name FILE:LINE:COLUMN and exit with code 2.
    Check {
        /// The file.
        file: PathBuf,
    },
    /// Print an annotated example configuration.
    Example {
        /// Which installation.
        #[arg(long, value_enum, default_value_t = Preset::FoccciCape)]
        preset: Preset,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Preset {
    /// The openinverter FoccciCape on a BeagleBone.
    FoccciCape,
    /// The simulated reference site (what `gridlet sim` runs).
    Sim,
    /// The CCS charger on a real powerline interface (`eth1`) with simulated power hardware
    /// and house, for `gridlet run`.
    CcsSim,
}

pub(crate) fn run(cmd: ConfigCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ConfigCommand::Check { file } => match config::load(&file) {
            Ok(_) => {
                println!("{}: ok", file.display());
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("{e}");
                Ok(ExitCode::from(super::EXIT_CONFIG))
            }
        },
        ConfigCommand::Example { preset } => {
            print!(
                "{}",
                match preset {
                    Preset::FoccciCape => config::EXAMPLE_FOCCCI_CAPE,
                    Preset::Sim => config::EXAMPLE_SIM,
                    Preset::CcsSim => config::EXAMPLE_CCS_SIM,
                }
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
