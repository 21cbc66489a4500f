//! `gridlet slac evse|ev`: SLAC alone, until the charger (`gridlet evse`) and the EV simulator
//! (`gridlet ev`) run it as their first stage.

use std::io::Read;
use std::ops::ControlFlow;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use homeplug::RunId;
use plc::{Link, RawLink, drive};
use slac::{Ev, EvConfig, EvEvent, Evse, EvseConfig, EvseEvent};
use tracing::{info, warn};
use units::{Clock, SystemClock};

use super::v2g_common::millis;

/// Match a charger and a car over their powerline modems (ISO 15118-3 SLAC).
#[derive(Debug, Args)]
pub(crate) struct SlacArgs {
    #[command(subcommand)]
    role: Role,
}

#[derive(Debug, Subcommand)]
enum Role {
    /// Be the charger: wait for cars, print each match (car MAC, NID/NMK, timing). Each car is
    /// taken as done once matched (or joined, with --link): the next gets a new key.
    Evse {
        #[command(flatten)]
        common: Common,
        /// After each match, wait until the car has joined our network (the modem reports a
        /// link, VS_PL_LINK_STATUS: Qualcomm modems only), and start over if it has not within
        /// TT_match_join.
        #[arg(long)]
        link: bool,
    },
    /// Be the car: match with the charger on the line, print the match.
    Ev {
        #[command(flatten)]
        common: Common,
        /// Use this RunID in every attempt, as 16 hex digits or 8 characters of text (Tesla
        /// sends "TESLA EV"); by default each attempt draws a random one.
        #[arg(long)]
        run_id: Option<String>,
    },
}

#[derive(Debug, Args)]
struct Common {
    /// The interface the powerline modem appears as.
    #[arg(long, default_value = "eth1")]
    iface: String,
    /// Stop after this many matches (0: never).
    #[arg(long, default_value_t = 1)]
    count: u32,
    /// Give up if no match came within this time, e.g. 30s; by default wait forever (the charger)
    /// or as the standard says (the car: TT_matching_repetition).
    #[arg(long, value_parser = units::parse_duration)]
    timeout: Option<Duration>,
    /// Print each match as one JSON object a line instead of text.
    #[arg(long)]
    json: bool,
}

impl SlacArgs {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        runtime.block_on(async {
            match self.role {
                Role::Evse { common, link } => run_evse(common, link).await,
                Role::Ev { common, run_id } => {
                    let run_id = run_id.as_deref().map(parse_run_id).transpose()?;
                    run_ev(common, run_id).await
                }
            }
        })
    }
}

fn parse_run_id(s: &str) -> anyhow::Result<RunId> {
    if s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        let mut id = [0u8; 8];
        for (i, byte) in id.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16)?;
        }
        return Ok(RunId(id));
    }
    match <[u8; 8]>::try_from(s.as_bytes()) {
        Ok(text) => Ok(RunId(text)),
        Err(_) => bail!("--run-id {s:?}: expected 16 hex digits or 8 characters of text"),
    }
}

/// 32 bytes from the kernel's CSPRNG: the seed of the state machines' RNG (NMKs, RunIDs).
fn seed() -> anyhow::Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .context("reading /dev/urandom")?;
    Ok(seed)
}

async fn with_limits(
    common: &Common,
    run: impl Future<Output = anyhow::Result<ExitCode>>,
) -> anyhow::Result<ExitCode> {
    let limit = async {
        match common.timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        result = run => result,
        () = limit => bail!(
            "{}: no match within {:?}",
            common.iface,
            common.timeout.unwrap_or_default()
        ),
        signal = tokio::signal::ctrl_c() => {
            signal.context("waiting for Ctrl-C")?;
            Ok(ExitCode::from(130))
        }
    }
}

async fn run_evse(common: Common, link_detection: bool) -> anyhow::Result<ExitCode> {
    let link = RawLink::open(&common.iface)?;
    let clock = SystemClock::new();
    let mut config = EvseConfig::new(link.mac(), seed()?);
    config.link_detection = link_detection;
    let mut evse = Evse::new(config, clock.now());
    // No control pilot here: behave as if a car were plugged in all the time.
    evse.handle_car_plugged(clock.now());
    info!(
        "charger {} on {} waiting for cars",
        link.mac(),
        common.iface
    );
    let mut matches = 0;
    let run = async {
        drive(&link, &clock, &mut evse, |evse, event| {
            let done = match event {
                EvseEvent::Matched(m) => {
                    print_evse_match(&common, &m);
                    !link_detection
                }
                EvseEvent::LinkUp {
                    ev_mac,
                    after_match,
                } => {
                    if common.json {
                        let json = serde_json::json!({
                            "role": "evse",
                            "link_up": ev_mac.to_string(),
                            "after_match_ms": millis(after_match),
                        });
                        println!("{json}");
                    } else {
                        println!(
                            "  link up     {:.1} ms after the match",
                            millis(after_match)
                        );
                    }
                    true
                }
                EvseEvent::Unmatched { ev_mac, reason } => {
                    warn!("{ev_mac} unmatched: {reason:?}");
                    false
                }
                EvseEvent::SlacInitTimeout => {
                    info!("no car started SLAC yet, still waiting");
                    evse.handle_car_plugged(clock.now());
                    false
                }
                EvseEvent::ModemSilent => {
                    warn!("the local modem did not confirm the key: cars will not reach us");
                    false
                }
                EvseEvent::AttemptFailed { ev_mac, reason, .. } => {
                    warn!("matching with {ev_mac} failed: {reason}");
                    false
                }
                other => {
                    info!("{other:?}");
                    false
                }
            };
            if done {
                matches += 1;
                if common.count != 0 && matches >= common.count {
                    return ControlFlow::Break(());
                }
                // SLAC alone has no later stage to wait for: the car is done once matched (and
                // joined, with --link), so a new key for the next car. `gridlet evse` keeps the
                // key until the car's session is over (`ccs::presence`).
                let now = clock.now();
                evse.handle_car_left(now);
                evse.handle_car_plugged(now);
            }
            ControlFlow::Continue(())
        })
        .await
        .with_context(|| format!("{}: link failed", common.iface))?;
        Ok(ExitCode::SUCCESS)
    };
    with_limits(&common, run).await
}

async fn run_ev(common: Common, run_id: Option<RunId>) -> anyhow::Result<ExitCode> {
    let link = RawLink::open(&common.iface)?;
    let clock = SystemClock::new();
    let mut config = EvConfig::new(link.mac(), seed()?);
    config.run_id = run_id;
    let mut ev = Ev::new(config);
    ev.handle_start(clock.now());
    info!(
        "car {} on {} looking for a charger",
        link.mac(),
        common.iface
    );
    let mut matches = 0;
    let mut failure = None;
    let run = async {
        drive(&link, &clock, &mut ev, |ev, event| {
            match event {
                EvEvent::Matched(m) => {
                    print_ev_match(&common, &m);
                    matches += 1;
                    if common.count != 0 && matches >= common.count {
                        return ControlFlow::Break(());
                    }
                    ev.handle_start(clock.now());
                }
                EvEvent::Failed { reason } => {
                    failure = Some(reason);
                    return ControlFlow::Break(());
                }
                EvEvent::AttemptFailed { reason, .. } => warn!("attempt failed: {reason}"),
                other => info!("{other:?}"),
            }
            ControlFlow::Continue(())
        })
        .await
        .with_context(|| format!("{}: link failed", common.iface))?;
        match failure {
            Some(reason) => bail!("{}: SLAC failed: {reason}", common.iface),
            None => Ok(ExitCode::SUCCESS),
        }
    };
    with_limits(&common, run).await
}

fn print_evse_match(common: &Common, m: &slac::EvseMatch) {
    if common.json {
        let json = serde_json::json!({
            "role": "evse",
            "iface": common.iface,
            "peer": m.ev_mac.to_string(),
            "run_id": m.run_id.to_string(),
            "nid": m.nid.to_string(),
            "nmk": m.nmk.to_string(),
            "sounds": m.sounds,
            "attenuation_db": m.attenuation_db,
            "duration_ms": millis(m.duration()),
        });
        println!("{json}");
    } else {
        println!("matched car {} on {}", m.ev_mac, common.iface);
        print_common(
            m.run_id,
            m.nid.to_string(),
            m.nmk.to_string(),
            m.sounds,
            m.attenuation_db,
        );
        println!(
            "  duration    {:.1} ms (CM_SLAC_PARM.REQ received to CM_SLAC_MATCH.CNF sent)",
            millis(m.duration())
        );
    }
}

fn print_ev_match(common: &Common, m: &slac::EvMatch) {
    if common.json {
        let json = serde_json::json!({
            "role": "ev",
            "iface": common.iface,
            "peer": m.evse_mac.to_string(),
            "run_id": m.run_id.to_string(),
            "nid": m.nid.to_string(),
            "nmk": m.nmk.to_string(),
            "sounds": m.sounds,
            "attenuation_db": m.attenuation_db,
            "attempts": m.attempts,
            "duration_ms": millis(m.duration()),
            "join_ms": millis(m.joined.saturating_duration_since(m.matched)),
        });
        println!("{json}");
    } else {
        println!("matched charger {} on {}", m.evse_mac, common.iface);
        print_common(
            m.run_id,
            m.nid.to_string(),
            m.nmk.to_string(),
            m.sounds,
            m.attenuation_db,
        );
        println!(
            "  duration    {:.1} ms (CM_SLAC_PARM.REQ sent to CM_SLAC_MATCH.CNF received), {} attempt(s)",
            millis(m.duration()),
            m.attempts
        );
        println!(
            "  joined      {:.1} ms later (CM_SET_KEY.CNF from the local modem)",
            millis(m.joined.saturating_duration_since(m.matched))
        );
    }
}

fn print_common(run_id: RunId, nid: String, nmk: String, sounds: u8, attenuation_db: f64) {
    println!("  run id      {run_id}");
    println!("  NID         {nid}");
    println!("  NMK         {nmk}");
    println!("  sounds      {sounds}, mean attenuation {attenuation_db:.1} dB");
}

#[cfg(test)]
mod tests {
    use homeplug::MacAddr;

    use super::*;

    #[test]
    fn run_ids_from_hex_or_text() {
        assert_eq!(parse_run_id("TESLA EV").unwrap(), RunId(*b"TESLA EV"));
        assert_eq!(
            parse_run_id("0200000000020001").unwrap(),
            RunId([2, 0, 0, 0, 0, 2, 0, 1])
        );
        assert!(parse_run_id("short").is_err());
    }

    #[test]
    fn mac_addresses_print_like_ip_link() {
        assert_eq!(MacAddr([2, 0, 0, 0, 0, 1]).to_string(), "02:00:00:00:00:01");
    }
}
