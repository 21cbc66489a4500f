//! V2G over real sockets in the network namespaces of `shared/tools/netns-plc.sh` (with
//! `plc-emu.py` as the powerline): `gridlet ev` against `gridlet evse` with SLAC in every
//! protocol, Josev's EV simulator (DIN 70121, ISO 15118-2 DC, ISO 15118-20 DC_BPT) against
//! `gridlet evse`, and the charger's response time over a long CurrentDemand loop.
//!
//! Every session is captured on the charger's interface: every message the charger sent must
//! decode and re-encode to the same bytes. With `GRIDLET_KEEP_CAPTURES=DIR` the captures are
//! kept in DIR (`testdata/v2g/captures` holds one run per protocol made that way).
//!
//! Needs root, iproute2, ethtool, python3 and tcpdump; the Josev tests also Josev in a venv
//! (`$GRIDLET_JOSEV_VENV`, default `/var/cache/gridlet/josev-venv`, see `.ci/run`) and java.
//! Without them the tests say why and pass, unless `CI=true` (see `testkit::capability`).
//! `GRIDLET_V2G_LATENCY_LOOP` sets the length of the latency test's charge loop (default 1m).
//!
//! Every test that runs SLAC and then IP traffic runs the emulator with `--avln` (IP crosses only
//! while both modems hold one key, as with real modems); Josev, which starts at SDP, without.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A failing unwrap is a failing test.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use testkit::netns::{Capture, Namespace, Powerline, Topology};
use testkit::{capability, inet};
use v2g::transcript;

#[path = "support/charge_loop.rs"]
mod charge_loop;

const GRIDLET: &str = env!("CARGO_BIN_EXE_gridlet");

/// A running program, its stdout collected, its stderr forwarded and searchable.
struct Process {
    name: &'static str,
    child: Child,
    log: mpsc::Receiver<String>,
    stdout: Option<std::thread::JoinHandle<String>>,
    stderr_all: std::sync::Arc<std::sync::Mutex<String>>,
}

/// A test that fails midway must not leave its programs running (they would hold the
/// namespaces' interfaces and ports for the next test).
impl Drop for Process {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Process {
    fn start(name: &'static str, mut command: Command) -> Self {
        let mut child = command
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        let stderr = child.stderr.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let (tx, log) = mpsc::channel();
        let all = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let keep = all.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("  [{name}] {line}");
                if let Ok(mut all) = keep.lock() {
                    all.push_str(&line);
                    all.push('\n');
                }
                let _ = tx.send(line);
            }
        });
        let stdout = std::thread::spawn(move || {
            let mut out = String::new();
            let _ = stdout.read_to_string(&mut out);
            out
        });
        Self {
            name,
            child,
            log,
            stdout: Some(stdout),
            stderr_all: all,
        }
    }

    /// Waits for a log line containing `text` and returns it.
    fn wait_for_line(&self, text: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!("{} did not log {text:?}", self.name);
    }

    fn wait_for_log(&self, text: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(text) => return,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!("{} did not log {text:?}", self.name);
    }

    /// Waits up to `limit` for the exit (killing it after): success, stdout, stderr.
    fn finish(mut self, limit: Duration) -> (bool, String, String) {
        let deadline = Instant::now() + limit;
        let ok = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status.success(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => {
                    eprintln!("{} did not finish within {limit:?}: killed", self.name);
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break false;
                }
            }
        };
        let stdout = self
            .stdout
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let stderr = self
            .stderr_all
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        (ok, stdout, stderr)
    }
}

fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn evse(args: &[&str]) -> Process {
    let mut command = Namespace::Evse.command(GRIDLET);
    command
        .args(["evse", "--iface", "eth1", "--json"])
        .args(args);
    let evse = Process::start("evse", command);
    evse.wait_for_log("charger on eth1", Duration::from_secs(15));
    evse
}

fn capture(topology: &Topology, name: &str) -> Capture {
    topology.capture_filter(Namespace::Evse, name, &["ip6"])
}

/// Stops a capture, keeping it when asked to.
fn finish_capture(capture: Capture, name: &str) -> Vec<testkit::pcap::Record> {
    match std::env::var_os("GRIDLET_KEEP_CAPTURES") {
        Some(dir) => capture.finish_keeping(&PathBuf::from(dir).join(format!("{name}.pcap"))),
        None => capture.finish(),
    }
}

/// What a captured session shows.
struct Seen {
    protocol: String,
    charge_loop: usize,
    charger_messages: usize,
}

/// Checks the capture of one session: SDP was answered with a port of the dynamic range, the
/// TCP connection carries a complete session (charge loop, SessionStop OK), and every message
/// the charger sent decodes and re-encodes to the same bytes.
fn check_capture(name: &str, records: &[testkit::pcap::Record]) -> Seen {
    let sdp: Vec<_> = inet::udp_datagrams(records)
        .into_iter()
        .filter(|d| d.src.port() == 15118 || d.dst.port() == 15118)
        .collect();
    let responses: Vec<_> = sdp
        .iter()
        .filter_map(|d| v2g::wire::SdpResponse::parse(&d.payload).ok())
        .collect();
    assert!(!responses.is_empty(), "{name}: no SDP response captured");
    for r in &responses {
        assert!(v2g::sdp::DYNAMIC_PORTS.contains(&r.port), "{name}: {r:?}");
    }
    let conns: Vec<_> = inet::tcp_connections(records)
        .into_iter()
        .filter(|c| c.server.port() == responses[0].port)
        // The previous car's last segments (its FIN, the final ACK) may fall into this capture:
        // a connection is one the car sent requests on.
        .filter(|c| !c.from_client.is_empty())
        .collect();
    let [conn] = &conns[..] else {
        panic!("{name}: {} V2G connections captured", conns.len())
    };
    let session = transcript::session(&conn.from_client, &conn.from_server)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut charger_messages = 0;
    for x in session.iter().filter(|x| x.from_charger) {
        x.round_trips().unwrap_or_else(|e| panic!("{name}: {e}"));
        charger_messages += 1;
    }
    let names: Vec<&str> = session
        .iter()
        .filter(|x| !x.from_charger)
        .map(|x| x.message.name.as_str())
        .collect();
    let charge_loop = names
        .iter()
        .filter(|n| **n == "CurrentDemandReq" || **n == "DC_ChargeLoopReq")
        .count();
    let last = session.last().unwrap();
    assert_eq!(last.message.name, "SessionStopRes", "{name}");
    assert_eq!(
        last.message.response_code().as_deref(),
        Some("OK"),
        "{name}"
    );
    let protocol = match session.get(2).map(|x| x.message.schema) {
        Some(v2g_messages::Schema::Din) => "din",
        Some(v2g_messages::Schema::Iso2) => "iso2",
        Some(v2g_messages::Schema::Iso20) => "iso20",
        other => panic!("{name}: {other:?}"),
    };
    println!(
        "{name}: {} messages captured, {charger_messages} from the charger (all re-encode \
         bit-exactly), {charge_loop} charge loop requests",
        session.len()
    );
    Seen {
        protocol: protocol.to_owned(),
        charge_loop,
        charger_messages,
    }
}

/// One charger process serves four cars one after another, each with SLAC, over a powerline
/// whose modems carry IP traffic only within one network (`--avln`): the charger must keep the
/// key it gave each car until that car's session is over, and give the next car a new one.
#[test]
fn our_evse_serves_four_cars_in_turn_each_with_slac() {
    let test = "our_evse_serves_four_cars_in_turn_each_with_slac";
    let Some(topology) = Topology::up(test, &["tcpdump"], Powerline::Avln) else {
        return;
    };
    let runs: [(&str, &[&str]); 4] = [
        ("din", &[]),
        // Asks for TLS first, like the Audi Q4 (50 times): our plain offer comes at once.
        ("iso2", &["--tls-first", "50"]),
        // Bidirectional: the car discharges into the charger (V2H).
        ("iso20", &["--discharge", "--soc", "70"]),
        ("din", &[]),
    ];
    let charger = evse(&["--sessions", &runs.len().to_string()]);
    let mut keys = Vec::new();
    for (i, (protocol, extra)) in runs.iter().enumerate() {
        let name = format!("gridlet-{}-{protocol}", i + 1);
        let capture = capture(&topology, &name);
        let mut command = Namespace::Pev.command(GRIDLET);
        command
            .args(["ev", "--iface", "eth1", "--json", "--cycles", "12"])
            .args(["--protocol", protocol])
            .args(*extra);
        let (ok, out, err) = Process::start("ev", command).finish(Duration::from_secs(60));
        assert!(ok, "car {} ({protocol}): gridlet ev failed:\n{err}", i + 1);
        let [summary] = &json_lines(&out)[..] else {
            panic!("{out}")
        };
        assert_eq!(summary["ok"], true, "{summary}");
        assert_eq!(summary["protocol"], *protocol);
        assert!(summary["charge_loop_cycles"].as_u64().unwrap() >= 10);
        if summary["discharged_wh"].as_f64().unwrap_or(0.0) > 0.0 {
            assert!(summary["soc_end"].as_f64() < summary["soc_start"].as_f64());
        } else {
            assert!(summary["charged_wh"].as_f64().unwrap() > 1.0, "{summary}");
        }
        if extra.contains(&"--discharge") {
            assert!(
                summary["discharged_wh"].as_f64().unwrap() > 1.0,
                "{summary}"
            );
        }
        // The car's modem joins the charger's network 0.5 s after it has the key (the
        // emulator's join time): its first SDP requests are lost, a few at most.
        let requests = sdp_requests(&err);
        println!(
            "car {}: {protocol}: SDP answered after {requests} request(s), {} charge loop \
             cycles, response time p50 {} ms, p99 {} ms",
            i + 1,
            summary["charge_loop_cycles"],
            summary["charge_loop_latency"]["p50_ms"],
            summary["charge_loop_latency"]["p99_ms"]
        );
        assert!(
            requests <= 20,
            "car {}: SDP took {requests} requests",
            i + 1
        );
        keys.push(matched_key(&err));
        let seen = check_capture(&name, &finish_capture(capture, &name));
        assert_eq!(seen.protocol, *protocol);
        assert!(seen.charge_loop >= 10);
    }
    let (ok, out, err) = charger.finish(Duration::from_secs(15));
    assert!(ok, "gridlet evse failed:\n{err}");
    let sessions = json_lines(&out);
    assert_eq!(sessions.len(), runs.len());
    for (s, (protocol, _)) in sessions.iter().zip(runs) {
        assert_eq!(s["ok"], true, "{s}");
        assert_eq!(s["protocol"], protocol);
    }
    // SLAC before each session; a new key after each car but the last (the charger stops
    // after it).
    assert_eq!(
        err.matches("SLAC: matched car").count(),
        runs.len(),
        "{err}"
    );
    assert!(
        err.matches("SLAC: the car has gone (its session ended)")
            .count()
            >= runs.len() - 1,
        "{err}"
    );
    for pair in keys.windows(2) {
        assert_ne!(pair[0], pair[1], "every car gets its own network");
    }
}

/// How many SDP requests `gridlet ev` needed, from its log ("... (N request(s))").
fn sdp_requests(log: &str) -> u32 {
    log.lines()
        .find_map(|l| {
            let (_, tail) = l.split_once(" (")?;
            tail.strip_suffix(" request(s))")?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no SDP answer in the car's log:\n{log}"))
}

/// The network (NID) the car joined, from its log ("SLAC: matched charger MAC, network NID").
fn matched_key(log: &str) -> String {
    log.lines()
        .find_map(|l| {
            l.split_once("SLAC: matched charger ")?
                .1
                .split_once(", network ")
        })
        .map(|(_, nid)| nid.trim().to_owned())
        .unwrap_or_else(|| panic!("no SLAC match in the car's log:\n{log}"))
}

/// The Josev venv, or why there is none.
fn josev() -> Result<PathBuf, String> {
    let venv = std::env::var_os("GRIDLET_JOSEV_VENV").map_or_else(
        || PathBuf::from("/var/cache/gridlet/josev-venv"),
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    if !python.is_file() {
        return Err(format!(
            "Josev is not installed in {} (see .ci/run)",
            venv.display()
        ));
    }
    let certs = std::fs::read_dir(venv.join("lib"))
        .ok()
        .and_then(|mut d| d.next())
        .and_then(Result::ok)
        .map(|py| {
            py.path()
                .join("site-packages/iso15118/shared/pki/iso15118_20/certs")
        });
    if !certs.as_deref().is_some_and(Path::is_dir) {
        return Err("Josev's PKI is not created (see .ci/run)".to_owned());
    }
    Ok(python)
}

/// Josev's EV with `config` against our charger: a complete session with at least 10 charge
/// loop cycles, ended with SessionStop.
fn josev_session(test: &str, config: &str, protocol: &str) {
    // Josev starts at SDP without SLAC: its modem never gets our key.
    let Some(topology) = Topology::up(test, &["tcpdump", "java"], Powerline::Open) else {
        return;
    };
    let python = match josev() {
        Ok(p) => p,
        Err(why) => {
            capability::missing(test, &why);
            return;
        }
    };
    let config = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/v2g/josev")
        .join(config);
    let name = format!("josev-{protocol}");
    let capture = capture(&topology, &name);
    // With SLAC running: Josev starts at SDP, which is answered without a match.
    let charger = evse(&["--sessions", "1"]);
    let mut command = Namespace::Pev.command("env");
    command
        .args(["NETWORK_INTERFACE=eth1", "PYTHONUNBUFFERED=1"])
        .arg(&python)
        .args(["-m", "iso15118.evcc.main"])
        .arg(&config)
        // Josev reads `.env` from its working directory.
        .current_dir(topology.workdir());
    let (josev_ok, out, err) = Process::start("josev", command).finish(Duration::from_secs(120));
    // Josev logs to stdout.
    let josev_log = out + &err;
    let (ok, out, err) = charger.finish(Duration::from_secs(15));
    assert!(ok, "gridlet evse failed:\n{err}");
    let [session] = &json_lines(&out)[..] else {
        panic!("{out}")
    };
    assert_eq!(session["ok"], true, "{session}\n{josev_log}");
    assert_eq!(session["protocol"], protocol);
    let cycles = session["charge_loop_cycles"].as_u64().unwrap();
    assert!(cycles >= 10, "{session}");
    // Josev exits after a session that ended with SessionStopRes.
    assert!(
        josev_ok
            && josev_log.contains("SessionStopRes received")
            && !josev_log.lines().any(|l| l.starts_with("ERROR")),
        "Josev did not end well:\n{josev_log}"
    );
    let seen = check_capture(&name, &finish_capture(capture, &name));
    assert_eq!(seen.protocol, protocol);
    assert!(seen.charge_loop >= 10);
    println!(
        "{test}: Josev {protocol}: {cycles} charge loop cycles, {} charger messages, SessionStop",
        seen.charger_messages
    );
}

#[test]
fn josev_din_charges_at_our_evse() {
    josev_session("josev_din_charges_at_our_evse", "din.json", "din");
}

#[test]
fn josev_iso2_dc_charges_at_our_evse() {
    josev_session("josev_iso2_dc_charges_at_our_evse", "iso2-dc.json", "iso2");
}

#[test]
fn josev_iso20_dc_bpt_charges_at_our_evse() {
    josev_session(
        "josev_iso20_dc_bpt_charges_at_our_evse",
        "iso20-dc-bpt.json",
        "iso20",
    );
}

/// The charger answers every CurrentDemandReq in time over a long charge loop, measured by the
/// car over real TCP through the emulated powerline. This is the unoptimized test build on a
/// machine busy with other tests: the figures are printed, and only a bound that means broken
/// is asserted (p99 within 20 ms; a car gives up after 250 ms). The figure we report is the
/// release build's, from `cargo bench -p gridlet --bench v2g_latency` (target: p99 within 2 ms).
#[test]
fn our_evse_answers_current_demand_in_time() {
    let test = "our_evse_answers_current_demand_in_time";
    let Some(_topology) = Topology::up(test, &[], Powerline::Avln) else {
        return;
    };
    let duration = std::env::var("GRIDLET_V2G_LATENCY_LOOP").unwrap_or_else(|_| "1m".to_owned());
    let loop_time = units::parse_duration(&duration).expect("GRIDLET_V2G_LATENCY_LOOP");
    let l = charge_loop::run(GRIDLET, charge_loop::Charger::Evse, &duration);
    println!(
        "{test}: {} CurrentDemandReq over {duration} (test build): response time p50 {} ms, \
         p99 {} ms, max {} ms",
        l.count, l.p50_ms, l.p99_ms, l.max_ms
    );
    // About one request every 100 ms plus its response time.
    let expected = loop_time.as_secs_f64() / 0.1;
    assert!(l.count as f64 > expected * 0.9, "{l:?}");
    assert!(l.p99_ms <= 20.0, "{l:?}");
}

/// `gridlet run` with the `ccs-sim` preset in the charger's namespace: the CCS charge point
/// inside the daemon, with simulated pilot, relays, inlet, converter and house.
struct Daemon {
    process: Process,
    http: String,
}

impl Daemon {
    fn start(topology: &Topology) -> Self {
        let config = topology.workdir().join("ccs-sim.toml");
        let example = Command::new(GRIDLET)
            .args(["config", "example", "--preset", "ccs-sim"])
            .output()
            .expect("gridlet config example");
        std::fs::write(&config, &example.stdout).expect("writing the config");
        let mut command = Namespace::Evse.command(GRIDLET);
        command
            .args(["run", "--config"])
            .arg(&config)
            .args(["--listen", "127.0.0.1:0"]);
        let process = Process::start("daemon", command);
        let line = process.wait_for_line("listening on http://", Duration::from_secs(20));
        let http = line
            .split("listening on http://")
            .nth(1)
            .expect("an address")
            .trim()
            .to_owned();
        process.wait_for_log("charge point: V2G server", Duration::from_secs(15));
        Self { process, http }
    }

    /// SIGTERM; the daemon must put everything into its safe state and exit cleanly. Returns its
    /// log.
    fn stop(self) -> String {
        let pid = self.process.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let (ok, _, log) = self.process.finish(Duration::from_secs(15));
        assert!(ok, "the daemon did not stop cleanly:\n{log}");
        assert!(log.contains("safe state confirmed"), "{log}");
        log
    }

    /// `/api/v1/status`, fetched inside the charger's namespace.
    fn status(&self) -> Option<serde_json::Value> {
        let script = format!(
            "import urllib.request; print(urllib.request.urlopen('http://{}/api/v1/status', timeout=2).read().decode())",
            self.http
        );
        let out = Namespace::Evse
            .command("python3")
            .args(["-c", &script])
            .output()
            .ok()?;
        serde_json::from_slice(&out.stdout).ok()
    }
}

/// What the daemon's status showed of one session while its charge loop ran.
#[derive(Debug, Default)]
struct SeenInStatus {
    protocol: Option<String>,
    ready: bool,
    max_power_w: f64,
}

/// Polls the daemon's status while `car` runs; returns what it showed and the car's result.
fn watch_session(
    daemon: &Daemon,
    car: Process,
    limit: Duration,
) -> (SeenInStatus, bool, String, String) {
    let mut seen = SeenInStatus::default();
    let deadline = Instant::now() + limit;
    let mut car = Some(car);
    while Instant::now() < deadline {
        if let Some(st) = daemon.status() {
            let cp = &st["site"]["charge_point"];
            if cp["state"] == "ready" {
                seen.ready = true;
                seen.protocol = cp["protocol"].as_str().map(str::to_owned);
                let p = cp["power_w"].as_f64().unwrap_or(0.0).abs();
                seen.max_power_w = seen.max_power_w.max(p);
            }
        }
        if car
            .as_mut()
            .is_some_and(|c| matches!(c.child.try_wait(), Ok(Some(_))))
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let (ok, out, err) = car.take().unwrap().finish(Duration::from_secs(5));
    (seen, ok, out, err)
}

/// The daemon's charge point charges our `gridlet ev` (with SLAC, over the key-aware powerline)
/// and then Josev's EV (DIN 70121, then ISO 15118-20 DC_BPT, both starting at SDP): every
/// session reaches its charge loop (≥ 10 cycles) and ends with SessionStop, and the daemon's
/// status shows the session while it runs.
#[test]
fn the_daemons_charge_point_charges_our_ev_and_josev() {
    let test = "the_daemons_charge_point_charges_our_ev_and_josev";
    // Josev has no SLAC and its modem never gets our key: the open powerline for it, set up
    // below; first our car over the key-aware one.
    let Some(topology) = Topology::up(test, &["java"], Powerline::Avln) else {
        return;
    };
    let python = match josev() {
        Ok(p) => p,
        Err(why) => {
            capability::missing(test, &why);
            return;
        }
    };
    let daemon = Daemon::start(&topology);
    let mut command = Namespace::Pev.command(GRIDLET);
    command.args([
        "ev",
        "--iface",
        "eth1",
        "--json",
        "--protocol",
        "din",
        "--cycles",
        "15",
    ]);
    let (seen, ok, out, err) = watch_session(
        &daemon,
        Process::start("ev", command),
        Duration::from_secs(90),
    );
    assert!(ok, "gridlet ev at the daemon failed:\n{err}");
    let [summary] = &json_lines(&out)[..] else {
        panic!("{out}")
    };
    assert_eq!(summary["ok"], true, "{summary}");
    assert!(
        summary["charge_loop_cycles"].as_u64().unwrap() >= 10,
        "{summary}"
    );
    println!(
        "{test}: gridlet ev (DIN, SLAC): {} charge loop cycles; status showed {:?}",
        summary["charge_loop_cycles"], seen
    );
    assert!(seen.ready, "the status never showed the session ready");
    assert_eq!(seen.protocol.as_deref(), Some("din"));
    daemon.stop();
    drop(topology);

    for (config, protocol) in [("din.json", "din"), ("iso20-dc-bpt.json", "iso20")] {
        let Some(topology) = Topology::up(test, &["java"], Powerline::Open) else {
            return;
        };
        let daemon = Daemon::start(&topology);
        let config = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/v2g/josev")
            .join(config);
        let mut command = Namespace::Pev.command("env");
        command
            .args(["NETWORK_INTERFACE=eth1", "PYTHONUNBUFFERED=1"])
            .arg(&python)
            .args(["-m", "iso15118.evcc.main"])
            .arg(&config)
            .current_dir(topology.workdir());
        let (seen, josev_ok, out, err) = watch_session(
            &daemon,
            Process::start("josev", command),
            Duration::from_secs(150),
        );
        let josev_log = out + &err;
        println!("{test}: Josev {protocol}: status showed {seen:?}");
        assert!(
            josev_ok
                && josev_log.contains("SessionStopRes received")
                && !josev_log.lines().any(|l| l.starts_with("ERROR")),
            "Josev {protocol} did not end well:\n{josev_log}"
        );
        assert!(
            seen.ready,
            "{protocol}: the status never showed the session ready"
        );
        assert_eq!(seen.protocol.as_deref(), Some(protocol));
        let daemon_log = daemon.stop();
        // "session ended: the car stopped the session (N charge loop cycles, ...)"
        let cycles: u64 = daemon_log
            .lines()
            .find_map(|l| {
                let rest = l
                    .split("charge point: session ended: the car stopped the session (")
                    .nth(1)?;
                rest.split(' ').next()?.parse().ok()
            })
            .unwrap_or_else(|| panic!("{protocol}: no normal session end:\n{daemon_log}"));
        println!("{test}: Josev {protocol}: {cycles} charge loop cycles, SessionStop");
        assert!(cycles >= 10, "{protocol}: {cycles} charge loop cycles");
    }
}

/// The charger inside the daemon (its site's loop, HTTP and simulated house in the same process)
/// answers the charge loop in time too: printed, held to the bound that means broken. The
/// release figure: `cargo bench -p gridlet --bench v2g_latency`.
#[test]
fn the_daemons_charge_point_answers_current_demand_in_time() {
    let test = "the_daemons_charge_point_answers_current_demand_in_time";
    let Some(topology) = Topology::up(test, &[], Powerline::Avln) else {
        return;
    };
    let config = topology.workdir().join("ccs-sim.toml");
    let example = Command::new(GRIDLET)
        .args(["config", "example", "--preset", "ccs-sim"])
        .output()
        .expect("gridlet config example");
    std::fs::write(&config, &example.stdout).expect("writing the config");
    let l = charge_loop::run(GRIDLET, charge_loop::Charger::Daemon(&config), "30s");
    println!(
        "{test}: {} CurrentDemandReq over 30s (test build, site in the same process): \
         response time p50 {} ms, p99 {} ms, max {} ms",
        l.count, l.p50_ms, l.p99_ms, l.max_ms
    );
    assert!(l.count as f64 > 300.0 * 0.9, "{l:?}");
    assert!(l.p99_ms <= 20.0, "{l:?}");
}
