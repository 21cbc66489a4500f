//! A DIN 70121 charge loop of `gridlet ev` against `gridlet evse`, with SLAC, over the netns
//! powerline (`plc-emu.py --avln`): the car times every CurrentDemandRes. Shared by the interop
//! test (the test build, checked against a bound that means broken) and the benchmark
//! `benches/v2g_latency.rs` (the release build, the figure we report).

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use testkit::netns::Namespace;

/// The charger's response times in the charge loop, as the car measured them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChargeLoop {
    /// CurrentDemandReq sent.
    pub(crate) count: u64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) max_ms: f64,
}

/// Which charger answers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Charger<'a> {
    /// `gridlet evse`: the charger alone, on a simulated power stage.
    Evse,
    /// `gridlet run --config FILE`: the daemon, its site running in the same process, with a
    /// CCS charge point (the `ccs-sim` preset).
    Daemon(&'a std::path::Path),
}

/// Runs `gridlet` (this path) as `charger` and as the car for `duration` of charge loop
/// (`30s`, `5m`), inside an already running topology. Panics with both programs' logs if either
/// fails.
pub(crate) fn run(gridlet: &str, charger: Charger<'_>, duration: &str) -> ChargeLoop {
    let loop_time = units::parse_duration(duration).expect("a duration such as 5m");
    let (mut charger, ready) = match charger {
        Charger::Evse => (
            spawn(
                Namespace::Evse,
                gridlet,
                &["evse", "--iface", "eth1", "--json", "--sessions", "1"],
            ),
            "charger on eth1",
        ),
        Charger::Daemon(config) => (
            spawn(
                Namespace::Evse,
                gridlet,
                &[
                    "run",
                    "--config",
                    &config.display().to_string(),
                    "--listen",
                    "127.0.0.1:0",
                ],
            ),
            "charge point: V2G server",
        ),
    };
    let daemon = ready.starts_with("charge point");
    let charger_log = forward("charger", &mut charger);
    wait_for(&charger_log, ready, Duration::from_secs(15));
    let mut car = spawn(
        Namespace::Pev,
        gridlet,
        &[
            "ev",
            "--iface",
            "eth1",
            "--json",
            "--protocol",
            "din",
            "--duration",
            duration,
        ],
    );
    let _car_log = forward("ev", &mut car);
    let mut out = String::new();
    let car_ok = finish(&mut car, loop_time + Duration::from_secs(60), &mut out);
    if daemon {
        // The daemon serves until stopped.
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &charger.id().to_string()])
            .status();
    }
    let mut charger_out = String::new();
    let charger_ok = finish(&mut charger, Duration::from_secs(15), &mut charger_out);
    assert!(car_ok, "gridlet ev failed: {out}");
    assert!(charger_ok, "gridlet evse failed: {charger_out}");
    let summary: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON summary");
    assert_eq!(summary["ok"], true, "{summary}");
    let l = &summary["charge_loop_latency"];
    let number = |key: &str| {
        l[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} in {summary}"))
    };
    ChargeLoop {
        count: l["count"].as_u64().expect("count"),
        p50_ms: number("p50_ms"),
        p99_ms: number("p99_ms"),
        max_ms: number("max_ms"),
    }
}

/// A running program, killed if still running when dropped (a failed assertion must not leave
/// it holding the namespace's interface for the next test).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl std::ops::Deref for Running {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

fn spawn(ns: Namespace, gridlet: &str, args: &[&str]) -> Running {
    Running(
        ns.command(gridlet)
            .args(args)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting gridlet"),
    )
}

/// Forwards a program's log lines to ours (prefixed) and to the returned channel.
fn forward(name: &'static str, child: &mut Child) -> mpsc::Receiver<String> {
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("  [{name}] {line}");
            let _ = tx.send(line);
        }
    });
    rx
}

fn wait_for(log: &mpsc::Receiver<String>, text: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match log.recv_timeout(left) {
            Ok(line) if line.contains(text) => return,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    panic!("gridlet did not log {text:?}");
}

/// Waits up to `limit` for the exit (killing it after), collecting stdout into `out`.
fn finish(child: &mut Child, limit: Duration, out: &mut String) -> bool {
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let ok = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status.success(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break false;
            }
        }
    };
    *out = reader.join().unwrap_or_default();
    ok
}
