//! `gridlet plc`: the powerline modem.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use plc::{Link, RawLink, query_firmware};

/// Query the powerline modem (QCA7000/7005) behind a network interface.
#[derive(Debug, Args)]
pub(crate) struct PlcArgs {
    #[command(subcommand)]
    command: PlcCommand,
}

#[derive(Debug, Subcommand)]
enum PlcCommand {
    /// Find the local modem and print its MAC and firmware version (VS_SW_VER), like int6klist.
    Status {
        /// The interface the modem appears as.
        #[arg(long, default_value = "eth1")]
        iface: String,
        /// How long to wait for the modem's answer, e.g. 500ms or 2s.
        #[arg(long, default_value = "1s", value_parser = units::parse_duration)]
        timeout: Duration,
    },
    /// Image files: split, merge and check NVM files and SPI flash dumps.
    #[command(subcommand)]
    Image(super::plc_image::ImageCommand),
    /// The PIB in a file: show, check, set fields, apply the EVSE profile.
    #[command(subcommand)]
    Pib(super::plc_image::PibCommand),
}

impl PlcArgs {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        match self.command {
            PlcCommand::Status { iface, timeout } => status(&iface, timeout),
            PlcCommand::Image(command) => command.run(),
            PlcCommand::Pib(command) => command.run(),
        }
    }
}

fn status(iface: &str, timeout: Duration) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let link = RawLink::open(iface)?;
        let modem = query_firmware(&link, timeout).await?;
        println!("interface {iface} (host {})", link.mac());
        println!(
            "modem     {} (device id {:#04x})",
            modem.mac, modem.device_id
        );
        println!("firmware  {}", modem.firmware);
        Ok(ExitCode::SUCCESS)
    })
}
