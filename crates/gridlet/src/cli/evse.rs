//! `gridlet evse`: the CCS charger on its powerline interface (SLAC, SDP, DIN 70121 / ISO
//! 15118-2 / ISO 15118-20 sessions) with a simulated power stage, until the charge-point work
//! puts the real one behind the same interface. Serves one session after another.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ccs::evse::{EvseEvent, EvseOptions, run_evse};
use ccs::presence::ChargerSlacEvent;
use ccs::session::{ServeEvent, ServeOptions};
use clap::Args;
use plc::TokioClock;
use tracing::{debug, info, warn};
use units::{Amps, Clock, SystemClock, Volts, Watts};
use v2g::charger::{Isolation, Limits, SimIsolationMonitor, SimPowerStage, SimPowerStageConfig};
use v2g::secc::{SeccConfig, SeccEvent, SessionEnd};
use v2g::sim::Station;
use v2g::{ControlMode, Selection};

use super::v2g_common::{amps, millis, protocols, signal, volts, watts};

/// Be the CCS charger: answer SLAC, SDP and V2G sessions on a powerline interface.
#[derive(Debug, Args)]
pub(crate) struct EvseArgs {
    /// The interface the powerline modem appears as.
    #[arg(long, default_value = "eth1")]
    iface: String,
    /// The V2G server's TCP port (default: random in 49152-65535).
    #[arg(long)]
    port: Option<u16>,
    /// Do not run SLAC (answer SDP only, for peers that start there, like Josev).
    #[arg(long)]
    no_slac: bool,
    /// After each SLAC match, wait until the car has joined our network (the modem reports a
    /// link, VS_PL_LINK_STATUS: Qualcomm modems only), and start over if it has not within
    /// TT_match_join.
    #[arg(long)]
    link: bool,
    /// Protocols offered, in our order of preference: din, iso2, iso20.
    #[arg(long, default_value = "iso20,iso2,din")]
    protocols: String,
    /// Pick the protocol by our order instead of the car's priorities.
    #[arg(long)]
    prefer_ours: bool,
    /// ISO 15118-20 control modes offered, preferred first: scheduled, dynamic.
    #[arg(long, default_value = "scheduled,dynamic")]
    control_modes: String,
    /// Stop after this many sessions (default: serve until stopped).
    #[arg(long)]
    sessions: Option<u32>,
    /// Answer authorization with Ongoing for this long after each connection.
    #[arg(long, value_parser = units::parse_duration, default_value = "0s")]
    auth_delay: Duration,
    /// Highest output voltage.
    #[arg(long, value_parser = volts, default_value = "500V")]
    max_voltage: Volts,
    /// Lowest output voltage.
    #[arg(long, value_parser = volts, default_value = "150V")]
    min_voltage: Volts,
    /// Highest charge current.
    #[arg(long, value_parser = amps, default_value = "25A")]
    max_current: Amps,
    /// Highest charge power.
    #[arg(long, value_parser = watts, default_value = "11kW")]
    max_power: Watts,
    /// Highest discharge power (0: no bidirectional power).
    #[arg(long, value_parser = watts, default_value = "11kW")]
    max_discharge_power: Watts,
    /// In ISO 15118-20 dynamic mode, transfer this power: positive charges the car, negative
    /// discharges it (default: as much as the car takes).
    #[arg(long, value_parser = watts, allow_hyphen_values = true)]
    setpoint: Option<Watts>,
    /// How long the simulated isolation test takes.
    #[arg(long, value_parser = units::parse_duration, default_value = "1s")]
    isolation_time: Duration,
    /// Print each session's summary as one JSON object a line.
    #[arg(long)]
    json: bool,
    /// Write every V2GTP frame of every session to this file, one JSON object a line
    /// (`session`, `from`: `charger`|`car`, `t_us`, `hex`).
    #[arg(long)]
    frames: Option<std::path::PathBuf>,
}

impl EvseArgs {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        runtime.block_on(self.serve())
    }

    async fn serve(self) -> anyhow::Result<ExitCode> {
        let control_modes = self
            .control_modes
            .split(',')
            .map(|m| match m.trim() {
                "scheduled" => Ok(ControlMode::Scheduled),
                "dynamic" => Ok(ControlMode::Dynamic),
                other => anyhow::bail!("--control-modes: {other:?} is not scheduled or dynamic"),
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let limits = Limits {
            max_voltage: self.max_voltage,
            min_voltage: self.min_voltage,
            max_current: self.max_current,
            min_current: Amps::ZERO,
            max_power: self.max_power,
            max_discharge_current: if self.max_discharge_power.0 > 0.0 {
                self.max_current
            } else {
                Amps::ZERO
            },
            max_discharge_power: self.max_discharge_power,
        };
        let secc = SeccConfig {
            protocols: protocols(&self.protocols).context("--protocols")?,
            selection: if self.prefer_ours {
                Selection::OurPreference
            } else {
                Selection::CarPriority
            },
            control_modes,
            ..SeccConfig::default()
        };
        let options = EvseOptions {
            iface: self.iface.clone(),
            port: self.port,
            slac: !self.no_slac,
            link_detection: self.link,
            serve: ServeOptions {
                secc: Arc::new(secc),
                authorization_delay: self.auth_delay,
                sessions: self.sessions,
            },
            iface_wait: Duration::from_secs(5),
        };
        let mut station = Station {
            stage: SimPowerStage::new(SimPowerStageConfig {
                limits,
                ..SimPowerStageConfig::default()
            }),
            imd: SimIsolationMonitor::new(self.isolation_time, Isolation::Valid),
            limits,
            setpoint: self.setpoint,
            ..Station::default()
        };
        let clock = TokioClock::new(SystemClock::new().now());
        let mut frames = match &self.frames {
            Some(path) => Some(std::io::BufWriter::new(
                std::fs::File::create(path).with_context(|| format!("{}", path.display()))?,
            )),
            None => None,
        };
        let mut session = 0u32;
        let mut failures = 0u32;
        let json = self.json;
        let shutdown = async {
            if let Err(e) = signal().await {
                warn!("{e:#}");
                std::future::pending::<()>().await;
            }
            info!("stopping");
        };
        run_evse(
            &options,
            &mut station,
            &clock,
            seeds()?,
            |event| match event {
                EvseEvent::Listening(addr) => {
                    info!(
                        "charger on {}: V2G at [{}]:{}",
                        options.iface,
                        addr.ip(),
                        addr.port()
                    );
                }
                EvseEvent::Slac(ChargerSlacEvent::Slac(e)) => match e {
                    slac::EvseEvent::Matched(m) => info!(
                        "SLAC: matched car {} in {:.1} ms",
                        m.ev_mac,
                        millis(m.duration())
                    ),
                    slac::EvseEvent::LinkUp {
                        ev_mac,
                        after_match,
                    } => info!(
                        "SLAC: car {ev_mac} joined our network {:.1} ms after the match",
                        millis(after_match)
                    ),
                    slac::EvseEvent::AttemptFailed { ev_mac, reason, .. } => {
                        warn!("SLAC: matching with {ev_mac} failed: {reason}");
                    }
                    slac::EvseEvent::Unmatched { ev_mac, reason } => {
                        warn!("SLAC: {ev_mac} unmatched: {reason:?}");
                    }
                    e => debug!("SLAC: {e:?}"),
                },
                EvseEvent::Slac(ChargerSlacEvent::CarGone(reason)) => {
                    info!("SLAC: the car has gone ({reason}); new network key for the next car");
                }
                EvseEvent::Serve(ServeEvent::Closed { paused }) => {
                    debug!("session {session}: connection closed (paused: {paused})");
                }
                EvseEvent::Sdp { peer, response } => {
                    debug!("SDP: answered {peer} with port {}", response.port);
                }
                EvseEvent::Serve(ServeEvent::Connected(peer)) => {
                    session += 1;
                    info!("session {session}: car connected from {peer}");
                }
                EvseEvent::Serve(ServeEvent::Frame {
                    from_charger,
                    at,
                    bytes,
                }) => {
                    if let Some(w) = frames.as_mut() {
                        let line = serde_json::json!({
                            "session": session,
                            "from": if from_charger { "charger" } else { "car" },
                            "t_us": at.as_unix_micros(),
                            "hex": hex::encode(&bytes),
                        });
                        if let Err(e) = writeln!(w, "{line}").and_then(|()| w.flush()) {
                            warn!("--frames: {e}");
                        }
                    }
                }
                EvseEvent::Serve(ServeEvent::Session(e)) => match e {
                    SeccEvent::Negotiated(n) => info!("session {session}: {}", n.protocol),
                    SeccEvent::SessionStarted {
                        session_id,
                        evcc_id,
                        resumed,
                    } => info!(
                        "session {session}: SessionID {session_id}, car {evcc_id}{}",
                        if resumed { " (resumed)" } else { "" }
                    ),
                    SeccEvent::State(state) => info!("session {session}: {state:?}"),
                    SeccEvent::Ev(ev) => debug!("session {session}: car {ev:?}"),
                    SeccEvent::Warning(w) => warn!("session {session}: {w}"),
                    SeccEvent::Ended(end) => {
                        if !end.reason.is_normal() {
                            failures += 1;
                        }
                        print_summary(session, &end, json);
                    }
                },
            },
            shutdown,
        )
        .await?;
        Ok(if failures == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}

fn print_summary(session: u32, end: &SessionEnd, json: bool) {
    if json {
        let line = serde_json::json!({
            "role": "evse",
            "session": session,
            "protocol": end.protocol.map(|p| p.name()),
            "session_id": end.session_id.as_ref().map(ToString::to_string),
            "requests": end.requests,
            "charge_loop_cycles": end.charge_loop_cycles,
            "charged_wh": end.charged.0,
            "discharged_wh": end.discharged.0,
            "duration_ms": millis(end.duration),
            "ok": end.reason.is_normal(),
            "reason": end.reason.to_string(),
            "fault": end.reason.party(),
        });
        println!("{line}");
    } else {
        println!(
            "session {session}: {}, {} requests, {} charge loop cycles, {:.1} Wh charged, \
             {:.1} Wh discharged, {:.1} s: {}",
            end.protocol
                .map_or("no protocol".to_owned(), |p| p.to_string()),
            end.requests,
            end.charge_loop_cycles,
            end.charged.0,
            end.discharged.0,
            end.duration.as_secs_f64(),
            end.reason
        );
    }
}

/// Fresh 32-byte seeds from the kernel (SessionIDs, SLAC keys). If a later read fails (it does
/// not once the first worked), the first seed with a counter is still unpredictable enough.
pub(crate) fn seeds() -> anyhow::Result<impl FnMut() -> [u8; 32]> {
    let master = ccs::entropy().context("reading /dev/urandom")?;
    let mut drawn = 0u64;
    Ok(move || {
        drawn += 1;
        ccs::entropy().unwrap_or_else(|_| {
            let mut seed = master;
            seed[..8].copy_from_slice(&drawn.to_le_bytes());
            seed
        })
    })
}
