//! `gridlet plc`: the powerline modem.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::plc_modem;

/// Query the powerline modem (QCA7000/7005) behind a network interface.
#[derive(Debug, Args)]
pub(crate) struct PlcArgs {
    #[command(subcommand)]
    command: PlcCommand,
}

#[derive(Debug, Subcommand)]
enum PlcCommand {
    /// Find the local modem: bootloader or firmware, version, MAC, role (from the PIB it runs
    /// with) and link, like int6klist and plctool.
    Status(plc_modem::Target),
    /// Flash softloader, firmware and PIB: from the bootloader (a blank module, as plcboot -F)
    /// or into the running firmware; verified by reading back, resumable by running it again.
    Flash(plc_modem::FlashArgs),
    /// Restart the module (VS_RS_DEV) and wait for its firmware.
    Reset(plc_modem::Target),
    /// Program the network membership key (CM_SET_KEY) into the local module.
    Key(plc_modem::KeyArgs),
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
            PlcCommand::Status(target) => plc_modem::status(&target),
            PlcCommand::Flash(args) => args.run(),
            PlcCommand::Reset(target) => plc_modem::reset(&target),
            PlcCommand::Key(args) => args.run(),
            PlcCommand::Image(command) => command.run(),
            PlcCommand::Pib(command) => command.run(),
        }
    }
}
