//! The charger's response time in the DIN 70121 charge loop, end to end: the release build of
//! `gridlet evse` and `gridlet ev` (with SLAC) in the network namespaces of
//! `shared/tools/netns-plc.sh`, the car timing every CurrentDemandRes through the emulated
//! powerline (`plc-emu.py --avln`). Target: p99 within 2 ms (a car gives up after 250 ms).
//!
//! `cargo bench -p gridlet --bench v2g_latency` (root; `GRIDLET_V2G_LATENCY_LOOP`, default 5m,
//! sets the length of the loop). Without root or the tools it says what is missing and exits.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A failing unwrap is a failed run.

#[path = "../tests/support/charge_loop.rs"]
mod charge_loop;

use testkit::netns::{Powerline, Topology};

fn main() {
    if testkit::bench_filtered_out("v2g_latency") {
        return;
    }
    let duration = std::env::var("GRIDLET_V2G_LATENCY_LOOP").unwrap_or_else(|_| "5m".to_owned());
    let Some(_topology) = Topology::up("v2g_latency", &[], Powerline::Avln) else {
        return;
    };
    let gridlet = env!("CARGO_BIN_EXE_gridlet");
    let l = charge_loop::run(gridlet, charge_loop::Charger::Evse, &duration);
    println!(
        "v2g_latency: gridlet evse: {} CurrentDemandReq over {duration} (release build, emulated \
         powerline): response time p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms (target p99 <= 2 ms)",
        l.count, l.p50_ms, l.p99_ms, l.max_ms
    );
    // The same through the daemon: the site's loop, HTTP and the simulated house in the same
    // process, the charge point's pilot task and its hardware on every request.
    let config = _topology.workdir().join("ccs-sim.toml");
    let example = std::process::Command::new(gridlet)
        .args(["config", "example", "--preset", "ccs-sim"])
        .output()
        .expect("gridlet config example");
    std::fs::write(&config, &example.stdout).expect("writing the config");
    let l = charge_loop::run(gridlet, charge_loop::Charger::Daemon(&config), &duration);
    println!(
        "v2g_latency: gridlet run (ccs-sim, site in the same process): {} CurrentDemandReq over \
         {duration}: response time p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms (target p99 <= 2 ms)",
        l.count, l.p50_ms, l.p99_ms, l.max_ms
    );
}
