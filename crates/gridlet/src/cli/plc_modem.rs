//! `gridlet plc flash|reset|key|status` and `gridlet plc pib read|write`: the powerline module
//! itself, over its host interface, through the sans-IO `flasher` driven by `plc::run_flasher`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use flasher::{Event, Failure, Flasher, Images, Job, Reason, Timing, module_name};
use homeplug::Nmk;
use plc::{Link, RawLink, TokioClock};
use units::{Clock, SystemClock};

/// The interface and how long to wait for each answer.
#[derive(Debug, Args)]
pub(crate) struct Target {
    /// The interface the module appears as.
    #[arg(long, default_value = "eth1")]
    iface: String,
    /// How long to wait for each answer before asking again (3 times), e.g. 500ms or 2s.
    #[arg(long, default_value = "1s", value_parser = units::parse_duration)]
    timeout: Duration,
}

/// `gridlet plc flash`.
#[derive(Debug, Args)]
pub(crate) struct FlashArgs {
    #[command(flatten)]
    target: Target,
    /// The softloader NVM file (flashed first; needed for a blank module).
    #[arg(long)]
    softloader: Option<PathBuf>,
    /// The firmware NVM file.
    #[arg(long)]
    firmware: PathBuf,
    /// The PIB file (e.g. after `gridlet plc pib evse`).
    #[arg(long)]
    pib: PathBuf,
}

/// `gridlet plc pib read`.
#[derive(Debug, Args)]
pub(crate) struct PibReadArgs {
    #[command(flatten)]
    target: Target,
    /// Write the PIB file here (default: show its fields).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// `gridlet plc pib write`.
#[derive(Debug, Args)]
pub(crate) struct PibWriteArgs {
    #[command(flatten)]
    target: Target,
    /// The PIB file to write to the module's flash.
    file: PathBuf,
}

/// `gridlet plc key`.
#[derive(Debug, Args)]
pub(crate) struct KeyArgs {
    #[command(flatten)]
    target: Target,
    /// The network membership key, 32 hex digits.
    #[arg(long)]
    nmk: String,
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Runs one job on the module behind `target`, printing progress; returns the events.
fn run(target: &Target, job: Job, progress: bool) -> anyhow::Result<Vec<Event>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let link = RawLink::open(&target.iface)?;
        let clock = TokioClock::new(SystemClock::new().now());
        let timing = Timing {
            answer: target.timeout,
            ..Timing::default()
        };
        // Tells this run's answers from a previous run's: the clock's microseconds will do.
        let cookie = clock.now().as_unix_micros() as u32 | 1;
        let mut flasher = Flasher::new(clock.now(), link.mac(), job, cookie, timing)
            .map_err(|f| anyhow::anyhow!("{f}"))?;
        let mut events = Vec::new();
        plc::run_flasher(&link, &mut flasher, &clock, |event| {
            if progress {
                print_progress(event);
            }
            events.push(event.clone());
        })
        .await?;
        Ok(events)
    })
}

fn print_progress(event: &Event) {
    match event {
        Event::Found { mac, version, .. } => println!("module    {mac} runs {version}"),
        Event::Booted { version } => println!("booted    {version} (from memory)"),
        Event::AlreadyInFlash(m) => println!("skipped   {} (already in flash)", module_name(*m)),
        Event::Committed(ms) => {
            let names: Vec<_> = ms.iter().map(|m| module_name(*m)).collect();
            println!("committed {}", names.join(" + "));
        }
        Event::Verified(m) => println!("verified  {} (read back from flash)", module_name(*m)),
        Event::Restarted { version } => println!("restarted {version} (from flash)"),
        _ => {}
    }
}

/// The failure of a job as the command's error, or nothing.
fn failure(events: &[Event]) -> Option<&Failure> {
    events.iter().find_map(|e| match e {
        Event::Failed(f) => Some(f),
        _ => None,
    })
}

fn finish(target: &Target, events: &[Event]) -> anyhow::Result<()> {
    match failure(events) {
        Some(f) => bail!("{}: {f}", target.iface),
        None => Ok(()),
    }
}

impl FlashArgs {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let images = Images {
            softloader: self.softloader.as_deref().map(read).transpose()?,
            firmware: read(&self.firmware)?,
            pib: read(&self.pib)?,
        };
        let events = run(&self.target, Job::Flash(images), true)?;
        finish(&self.target, &events)?;
        println!("done: the module runs the new firmware and PIB from flash");
        Ok(ExitCode::SUCCESS)
    }
}

impl PibReadArgs {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let events = run(&self.target, Job::ReadPib, false)?;
        finish(&self.target, &events)?;
        let Some(pib) = events.iter().find_map(|e| match e {
            Event::Pib(p) => Some(p),
            _ => None,
        }) else {
            bail!("{}: the module sent no PIB", self.target.iface);
        };
        match &self.out {
            Some(out) => {
                std::fs::write(out, pib).with_context(|| format!("writing {}", out.display()))?;
                println!("{}: {} bytes", out.display(), pib.len());
            }
            None => show_pib(pib),
        }
        Ok(ExitCode::SUCCESS)
    }
}

impl PibWriteArgs {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let pib = read(&self.file)?;
        let events = run(&self.target, Job::WritePib(pib), true)?;
        finish(&self.target, &events)?;
        println!("done: the module runs {} from flash", self.file.display());
        Ok(ExitCode::SUCCESS)
    }
}

impl KeyArgs {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let nmk = parse_nmk(&self.nmk)?;
        let events = run(&self.target, Job::SetKey(nmk), false)?;
        finish(&self.target, &events)?;
        if let Some(nid) = events.iter().find_map(|e| match e {
            Event::KeySet(nid) => Some(nid),
            _ => None,
        }) {
            println!("key set: NMK {}, NID {nid}", self.nmk.to_lowercase());
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// `gridlet plc reset`.
pub(crate) fn reset(target: &Target) -> anyhow::Result<ExitCode> {
    let events = run(target, Job::Reset, false)?;
    finish(target, &events)?;
    for e in &events {
        if let Event::Restarted { version } = e {
            println!("restarted: {version}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_nmk(text: &str) -> anyhow::Result<Nmk> {
    let bytes = hex::decode(text.trim()).context("--nmk: not hex")?;
    let key: [u8; 16] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| anyhow::anyhow!("--nmk: {} bytes, an NMK has 16", b.len()))?;
    Ok(Nmk(key))
}

fn show_pib(pib: &[u8]) {
    match qca_image::Pib::parse(pib) {
        Ok(p) => {
            if let Ok(mac) = p.mac() {
                println!("mac       {mac}");
            }
            if let Ok(role) = p.device_role() {
                println!("role      {role:?}");
            }
            if let Ok(nid) = p.preferred_nid() {
                println!("nid       {nid}");
            }
            if let Ok(hfid) = p.hfid(qca_image::pib::USER_HFID) {
                println!("user hfid {hfid}");
            }
        }
        Err(e) => println!("pib       unreadable: {e}"),
    }
}

/// `gridlet plc status`: bootloader or firmware, version, MAC, role (from the PIB it runs
/// with) and link. Past the module's identity, what it does not answer is shown as unknown.
pub(crate) fn status(target: &Target) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let host = runtime.block_on(async { RawLink::open(&target.iface).map(|l| l.mac()) })?;
    drop(runtime);
    let events = run(target, Job::Status, false)?;
    let Some(Event::Found {
        mac,
        device_id,
        version,
    }) = events.first()
    else {
        if let Some(Failure {
            reason: Reason::NoAnswer { .. },
            ..
        }) = failure(&events)
        {
            return Err(plc::Error::NoModem {
                iface: target.iface.clone(),
                timeout: target.timeout,
            }
            .into());
        }
        finish(target, &events)?;
        bail!("{}: no module found", target.iface);
    };
    println!("interface {} (host {host})", target.iface);
    println!("modem     {mac} (device id {device_id:#04x})");
    if version == flasher::BOOTLOADER {
        println!("mode      bootloader (no firmware runs: gridlet plc flash)");
        return Ok(ExitCode::SUCCESS);
    }
    println!("mode      firmware");
    println!("firmware  {version}");
    let mut link = "unknown (no answer)";
    for e in &events {
        match e {
            Event::Pib(pib) => show_pib(pib),
            Event::Unanswered(what) if what.starts_with("VS_MODULE") => {
                println!("role      unknown (the module did not answer the PIB read)");
            }
            Event::Link(up) => link = if *up { "up" } else { "down" },
            _ => {}
        }
    }
    println!("link      {link}");
    finish(target, &events)?;
    Ok(ExitCode::SUCCESS)
}
