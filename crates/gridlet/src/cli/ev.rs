//! `gridlet ev`: a car on a powerline interface: SLAC, SDP, one V2G session with a battery
//! model, a summary. Works against `gridlet evse` and against real chargers.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use ccs::ev::{EvEvent, EvOptions, run_ev};
use clap::Args;
use plc::TokioClock;
use tracing::{debug, info, warn};
use units::{Amps, Clock, Percent, SystemClock, Volts, WattHours, Watts};
use v2g::ControlMode;
use v2g::evcc::{BatteryConfig, EvccConfig, EvccEvent, EvccSummary};
use v2g::sdp::SdpClientConfig;

use super::v2g_common::{
    amps, latency_json, millis, percent, protocols, signal, volts, watt_hours, watts,
};

/// Be a car: match, find the charger, charge (or discharge), report.
#[derive(Debug, Args)]
pub(crate) struct EvArgs {
    /// The interface the powerline modem appears as.
    #[arg(long, default_value = "eth1")]
    iface: String,
    /// The protocols offered, most preferred first: din, iso2, iso20 (comma-separated).
    #[arg(long, default_value = "iso20,iso2,din")]
    protocol: String,
    /// Discharge the battery into the charger (ISO 15118-20 DC_BPT, V2H).
    #[arg(long)]
    discharge: bool,
    /// ISO 15118-20 control mode: scheduled (the car sets the current) or dynamic (the
    /// charger decides).
    #[arg(long, default_value = "scheduled")]
    control_mode: String,
    /// Skip SLAC and start at SDP.
    #[arg(long)]
    no_slac: bool,
    /// Ask for TLS in the first N SDP requests, then without (an Audi Q4 asks 50 times).
    #[arg(long, default_value_t = 0)]
    tls_first: u32,
    /// Battery capacity.
    #[arg(long, value_parser = watt_hours, default_value = "60kWh")]
    capacity: WattHours,
    /// State of charge at the start.
    #[arg(long, value_parser = percent, default_value = "30")]
    soc: Percent,
    /// Stop charging at this SoC.
    #[arg(long, value_parser = percent, default_value = "80")]
    target_soc: Percent,
    /// Stop discharging at this SoC.
    #[arg(long, value_parser = percent, default_value = "20")]
    min_soc: Percent,
    /// Battery voltage at 0 % SoC.
    #[arg(long, value_parser = volts, default_value = "330V")]
    min_voltage: Volts,
    /// Battery voltage at 100 % SoC, the highest the car accepts.
    #[arg(long, value_parser = volts, default_value = "420V")]
    max_voltage: Volts,
    /// Highest charge current.
    #[arg(long, value_parser = amps, default_value = "125A")]
    max_current: Amps,
    /// Highest charge power.
    #[arg(long, value_parser = watts, default_value = "50kW")]
    max_power: Watts,
    /// Highest discharge current.
    #[arg(long, value_parser = amps, default_value = "30A")]
    max_discharge_current: Amps,
    /// Highest discharge power.
    #[arg(long, value_parser = watts, default_value = "11kW")]
    max_discharge_power: Watts,
    /// Leave the charge loop after this many cycles.
    #[arg(long)]
    cycles: Option<u32>,
    /// Leave the charge loop after this long, e.g. 5m.
    #[arg(long, value_parser = units::parse_duration)]
    duration: Option<Duration>,
    /// The charge loop period.
    #[arg(long, value_parser = units::parse_duration, default_value = "100ms")]
    period: Duration,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

impl EvArgs {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        runtime.block_on(self.charge())
    }

    async fn charge(self) -> anyhow::Result<ExitCode> {
        let control_mode = match self.control_mode.as_str() {
            "scheduled" => ControlMode::Scheduled,
            "dynamic" => ControlMode::Dynamic,
            other => anyhow::bail!("--control-mode: {other:?} is not scheduled or dynamic"),
        };
        let iface = ccs::iface::Iface::read(&self.iface).ok();
        let evcc = EvccConfig {
            protocols: protocols(&self.protocol).context("--protocol")?,
            // The EVCCID is the car's MAC, as cars send it.
            evcc_id: iface.map_or_else(|| vec![0x02, 0, 0, 0, 0, 0x02], |i| i.mac.0.to_vec()),
            battery: BatteryConfig {
                capacity: self.capacity,
                soc: self.soc,
                min_voltage: self.min_voltage,
                max_voltage: self.max_voltage,
                max_current: self.max_current,
                max_power: self.max_power,
                max_discharge_current: self.max_discharge_current,
                max_discharge_power: self.max_discharge_power,
                ..BatteryConfig::default()
            },
            target_soc: self.target_soc,
            max_cycles: self.cycles,
            max_duration: self.duration,
            discharge: self.discharge,
            min_soc: self.min_soc,
            control_mode,
            period: self.period,
            ..EvccConfig::default()
        };
        let options = EvOptions {
            iface: self.iface.clone(),
            slac: !self.no_slac,
            run_id: None,
            sdp: SdpClientConfig {
                tls_first: self.tls_first > 0,
                tls_requests: self.tls_first,
                ..SdpClientConfig::default()
            },
            evcc,
            connect_timeout: Duration::from_secs(5),
            iface_wait: Duration::from_secs(5),
        };
        let clock = TokioClock::new(SystemClock::new().now());
        let seed = ccs::entropy().context("reading /dev/urandom")?;
        let run = run_ev(&options, &clock, seed, |event| match event {
            EvEvent::Slac(e) => debug!("SLAC: {e:?}"),
            EvEvent::Found { response, requests } => info!(
                "SDP: charger at [{}]:{} after {requests} request(s)",
                response.addr, response.port
            ),
            EvEvent::Connected(addr) => info!("connected to {addr}"),
            EvEvent::Session(e) => match e {
                EvccEvent::Negotiated(p) => info!("protocol {p}"),
                EvccEvent::SessionStarted(id) => info!("SessionID {id}"),
                EvccEvent::Charging => info!("charge loop"),
                EvccEvent::Response { request, latency } => {
                    debug!("<-- response to {request} after {:.2} ms", millis(latency));
                }
                EvccEvent::Ended(_) => {}
            },
        });
        let summary = tokio::select! {
            r = run => r?,
            s = signal() => {
                s?;
                warn!("interrupted");
                return Ok(ExitCode::from(130));
            }
        };
        print_summary(&summary, self.json);
        Ok(if summary.result.is_ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}

fn print_summary(s: &EvccSummary, json: bool) {
    if json {
        let line = serde_json::json!({
            "role": "ev",
            "protocol": s.protocol.map(|p| p.name()),
            "session_id": s.session_id.as_ref().map(ToString::to_string),
            "requests": s.requests,
            "charge_loop_cycles": s.charge_loop_cycles,
            "charged_wh": s.charged.0,
            "discharged_wh": s.discharged.0,
            "soc_start": s.soc_start.0,
            "soc_end": s.soc_end.0,
            "duration_ms": millis(s.duration),
            "charge_loop_latency": latency_json(&s.charge_loop_latency),
            "latency": latency_json(&s.latency),
            "ok": s.result.is_ok(),
            "error": s.result.as_ref().err().map(ToString::to_string),
        });
        println!("{line}");
        return;
    }
    let l = &s.charge_loop_latency;
    println!(
        "{}: {} requests, {} charge loop cycles, {:.1} Wh charged, {:.1} Wh discharged, \
         SoC {:.2} % -> {:.2} %, {:.1} s",
        s.protocol
            .map_or("no protocol".to_owned(), |p| p.to_string()),
        s.requests,
        s.charge_loop_cycles,
        s.charged.0,
        s.discharged.0,
        s.soc_start.0,
        s.soc_end.0,
        s.duration.as_secs_f64()
    );
    println!(
        "  charger response time in the charge loop: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
        millis(l.p50),
        millis(l.p99),
        millis(l.max),
        l.count
    );
    match &s.result {
        Ok(()) => println!("  ended with SessionStop"),
        Err(e) => println!("  failed: {e}"),
    }
}
