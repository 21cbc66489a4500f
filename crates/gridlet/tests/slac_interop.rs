//! SLAC against real peers over real raw sockets, in the network namespaces of
//! `shared/tools/netns-plc.sh` with `plc-emu.py` emulating the powerline and both local modems:
//! Qualcomm's `pev` against our charger, our EV against Qualcomm's `evse`, our EV against our
//! charger, and `gridlet plc status`.
//!
//! Needs root, iproute2, ethtool, python3, tcpdump and Debian's `plc-utils-extra`. Without them
//! the tests say why and pass, unless `CI=true` (see `testkit::capability`).
//!
//! Timing is measured from the frames' kernel timestamps (tcpdump on the charger's or the car's
//! `eth1`) and printed; the tests assert only the standard's bounds: the charger answers within
//! TP_match_response (p99), and our EV's match fits `slac::timing::EV_MATCH_ATTEMPT_MAX`.
//!
//! The emulator runs with `--avln` (keys modelled as real modems do).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use homeplug::{MacAddr, Message, Repr, RunId};
use slac::timing::EV_MATCH_ATTEMPT_MAX;
use testkit::netns::{Namespace, Powerline, Topology};
use testkit::pcap::Record;

const GRIDLET: &str = env!("CARGO_BIN_EXE_gridlet");
const CHARGER: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
const CAR: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
/// The charger's answer to any request must come within TP_match_response (p99): a bound that
/// means broken, not a performance target. What ours achieves (a few hundred µs) is printed.
const RESPONSE_LIMIT: Duration = slac::timing::TP_MATCH_RESPONSE;

/// A running `gridlet slac ...`, with its stdout collected and its log lines forwarded.
struct Gridlet {
    child: Child,
    log: mpsc::Receiver<String>,
}

impl Gridlet {
    fn start(ns: Namespace, args: &[&str]) -> Self {
        let mut child = ns
            .command(GRIDLET)
            .args(args)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting gridlet");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("  [gridlet] {line}");
                let _ = tx.send(line);
            }
        });
        Self { child, log }
    }

    /// Waits for a log line containing `text`.
    fn wait_for_log(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(text) => return,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!("gridlet did not log {text:?}");
    }

    /// Waits for the process to exit and returns its stdout lines.
    fn finish(mut self, limit: Duration) -> (bool, Vec<String>) {
        let status = wait(&mut self.child, limit);
        let mut out = String::new();
        if let Some(mut stdout) = self.child.stdout.take() {
            let _ = stdout.read_to_string(&mut out);
        }
        (status, out.lines().map(str::to_owned).collect())
    }
}

/// Waits up to `limit` for a child, killing it after; true if it exited successfully.
fn wait(child: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

/// Runs a command to completion within `limit`.
fn run(mut command: Command, limit: Duration) -> (bool, Output) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let ok = wait(&mut child, limit);
    let status = child.wait().expect("exit status");
    let output = Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    };
    (ok, output)
}

fn json_lines(lines: &[String]) -> Vec<serde_json::Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn frames(records: &[Record]) -> Vec<(Duration, Repr)> {
    records
        .iter()
        .filter_map(|r| Some((r.timestamp, Repr::parse_bytes(&r.data).ok()?)))
        .collect()
}

/// How long the charger took to answer each request, from a capture on its own interface:
/// CM_SLAC_PARM.REQ to .CNF, the car's last sound (its modem's CM_ATTEN_PROFILE.IND) to
/// CM_ATTEN_CHAR.IND, CM_VALIDATE.REQ to .CNF, CM_SLAC_MATCH.REQ to .CNF.
fn charger_latencies(records: &[Record]) -> Vec<(&'static str, Duration)> {
    let mut pending: HashMap<(&'static str, MacAddr), Duration> = HashMap::new();
    let mut out = Vec::new();
    for (t, repr) in frames(records) {
        let from_charger = repr.src == CHARGER;
        let (request, car) = match &repr.message {
            Message::SlacParamReq(_) if !from_charger => ("CM_SLAC_PARM", repr.src),
            Message::AttenProfileInd(p) => ("sounds to CM_ATTEN_CHAR.IND", p.pev_mac),
            Message::ValidateReq(_) if !from_charger => ("CM_VALIDATE", repr.src),
            Message::SlacMatchReq(_) if !from_charger => ("CM_SLAC_MATCH", repr.src),
            Message::SlacParamCnf(_) if from_charger => {
                answer(&mut pending, &mut out, ("CM_SLAC_PARM", repr.dst), t);
                continue;
            }
            Message::AttenCharInd(_) if from_charger => {
                answer(
                    &mut pending,
                    &mut out,
                    ("sounds to CM_ATTEN_CHAR.IND", repr.dst),
                    t,
                );
                continue;
            }
            Message::ValidateCnf(_) if from_charger => {
                answer(&mut pending, &mut out, ("CM_VALIDATE", repr.dst), t);
                continue;
            }
            Message::SlacMatchCnf(_) if from_charger => {
                answer(&mut pending, &mut out, ("CM_SLAC_MATCH", repr.dst), t);
                continue;
            }
            _ => continue,
        };
        // A repeated request is timed from the latest copy; the profiles from the last sound.
        pending.insert((request, car), t);
    }
    out
}

fn answer(
    pending: &mut HashMap<(&'static str, MacAddr), Duration>,
    out: &mut Vec<(&'static str, Duration)>,
    key: (&'static str, MacAddr),
    t: Duration,
) {
    if let Some(asked) = pending.remove(&key) {
        out.push((key.0, t.saturating_sub(asked)));
    }
}

/// Our EV's matches from a capture on its own interface: per RunID, first CM_SLAC_PARM.REQ sent
/// to CM_SLAC_MATCH.CNF received.
fn ev_match_durations(records: &[Record]) -> Vec<Duration> {
    let mut started: HashMap<RunId, Duration> = HashMap::new();
    let mut out = Vec::new();
    for (t, repr) in frames(records) {
        match &repr.message {
            Message::SlacParamReq(req) if repr.src == CAR => {
                started.entry(req.run_id).or_insert(t);
            }
            Message::SlacMatchCnf(cnf) if repr.dst == CAR => {
                if let Some(t0) = started.remove(&cnf.run_id) {
                    out.push(t.saturating_sub(t0));
                }
            }
            _ => {}
        }
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Prints the latency figures and asserts the p99 limit.
fn check_latencies(test: &str, latencies: &[(&'static str, Duration)], matches: usize) {
    for kind in [
        "CM_SLAC_PARM",
        "sounds to CM_ATTEN_CHAR.IND",
        "CM_SLAC_MATCH",
    ] {
        let n = latencies.iter().filter(|(k, _)| *k == kind).count();
        assert!(
            n >= matches,
            "{test}: {n} {kind} answers for {matches} matches: {latencies:?}"
        );
    }
    let mut all: Vec<Duration> = latencies.iter().map(|(_, d)| *d).collect();
    all.sort();
    let p50 = percentile(&all, 50.0);
    let p99 = percentile(&all, 99.0);
    let max = all[all.len() - 1];
    println!(
        "{test}: charger response latency over {} requests: p50 {p50:?}, p99 {p99:?}, max {max:?}",
        all.len()
    );
    for (kind, d) in latencies {
        println!("  {kind}: {d:?}");
    }
    assert!(
        p99 <= RESPONSE_LIMIT,
        "{test}: p99 {p99:?} > {RESPONSE_LIMIT:?}"
    );
}

fn write_ini(topology: &Topology, name: &str) -> String {
    // No pauses between runs: the tools otherwise sleep 10 s to "settle" and 2 s to "charge".
    let path = topology.workdir().join(name);
    std::fs::write(&path, "[default]\nsettle time = 0\ncharge time = 0\n").expect("ini file");
    path.display().to_string()
}

#[test]
fn qualcomm_pev_matches_our_charger() {
    let test = "qualcomm_pev_matches_our_charger";
    let Some(topology) = Topology::up(test, &["pev", "tcpdump"], Powerline::Avln) else {
        return;
    };
    let ini = write_ini(&topology, "pev.ini");
    let capture = topology.capture(Namespace::Evse, "charger");
    const RUNS: usize = 5;
    let runs = RUNS.to_string();
    let charger = Gridlet::start(
        Namespace::Evse,
        &[
            "slac",
            "evse",
            "--iface",
            "eth1",
            "--json",
            "--count",
            &runs,
            "--timeout",
            "60s",
        ],
    );
    charger.wait_for_log("waiting for cars");
    let mut pev_keys = Vec::new();
    for _ in 0..RUNS {
        let mut pev = Namespace::Pev.command("pev");
        pev.args(["-i", "eth1", "-p", &ini, "-d"]);
        let (ok, output) = run(pev, Duration::from_secs(20));
        let log = String::from_utf8_lossy(&output.stderr).into_owned()
            + &String::from_utf8_lossy(&output.stdout);
        assert!(
            ok && log.contains("<-- CM_SLAC_MATCH.CNF"),
            "pev did not match:\n{log}"
        );
        // pev prints the NMK it got, then programs it into its modem.
        let nmk = log
            .lines()
            .find_map(|l| l.split("CM_SLAC_MATCH.CNF.MatchVarField.NMK ").nth(1))
            .expect("pev prints the NMK")
            .replace(':', "")
            .to_lowercase();
        pev_keys.push(nmk);
    }
    let (ok, lines) = charger.finish(Duration::from_secs(10));
    assert!(ok, "gridlet slac evse failed");
    let matches = json_lines(&lines);
    assert_eq!(matches.len(), RUNS);
    for (m, pev_nmk) in matches.iter().zip(&pev_keys) {
        assert_eq!(m["peer"], CAR.to_string());
        assert_eq!(m["nmk"].as_str(), Some(pev_nmk.as_str()), "pev got our key");
        assert_eq!(m["sounds"], 10);
    }
    // A new network key per car.
    assert_ne!(matches[0]["nmk"], matches[1]["nmk"]);
    check_latencies(test, &charger_latencies(&capture.finish()), RUNS);
}

#[test]
fn our_ev_matches_qualcomm_evse() {
    let test = "our_ev_matches_qualcomm_evse";
    let Some(topology) = Topology::up(test, &["evse", "tcpdump"], Powerline::Avln) else {
        return;
    };
    let ini = write_ini(&topology, "evse.ini");
    let capture = topology.capture(Namespace::Pev, "car");
    let mut evse = Namespace::Evse
        .command("evse")
        .args(["-i", "eth1", "-p", &ini, "-l"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting evse");
    let car = Gridlet::start(
        Namespace::Pev,
        &[
            "slac",
            "ev",
            "--iface",
            "eth1",
            "--json",
            "--timeout",
            "30s",
        ],
    );
    let (ok, lines) = car.finish(Duration::from_secs(40));
    let evse_done = wait(&mut evse, Duration::from_secs(10));
    assert!(ok, "gridlet slac ev failed");
    assert!(evse_done, "Qualcomm's evse did not finish its run");
    let [m] = &json_lines(&lines)[..] else {
        panic!("{lines:?}")
    };
    assert_eq!(m["peer"], CHARGER.to_string());
    // Qualcomm's evse hands out its configured default key.
    assert_eq!(m["nmk"], "b59319d7e8157ba001b018669ccee30d");
    assert_eq!(m["nid"], "026bcba5354e08");
    let durations = ev_match_durations(&capture.finish());
    let [d] = durations[..] else {
        panic!("{durations:?}")
    };
    println!(
        "{test}: our EV matched in {d:?} (from the car's capture; it reported {} ms), bound {EV_MATCH_ATTEMPT_MAX:?}",
        m["duration_ms"]
    );
    assert!(d <= EV_MATCH_ATTEMPT_MAX);
}

#[test]
fn our_ev_matches_our_charger() {
    let test = "our_ev_matches_our_charger";
    let Some(topology) = Topology::up(test, &["tcpdump"], Powerline::Avln) else {
        return;
    };
    let charger_capture = topology.capture(Namespace::Evse, "charger");
    let car_capture = topology.capture(Namespace::Pev, "car");
    // 34 matches give 102 timed answers, enough that the 99th percentile is not just the
    // maximum (a run takes about 0.3 s).
    const RUNS: usize = 34;
    let runs = RUNS.to_string();
    let charger = Gridlet::start(
        Namespace::Evse,
        &[
            "slac",
            "evse",
            "--iface",
            "eth1",
            "--json",
            "--count",
            &runs,
            "--timeout",
            "60s",
        ],
    );
    charger.wait_for_log("waiting for cars");
    let car = Gridlet::start(
        Namespace::Pev,
        &[
            "slac",
            "ev",
            "--iface",
            "eth1",
            "--json",
            "--count",
            &runs,
            "--timeout",
            "60s",
        ],
    );
    let (car_ok, car_lines) = car.finish(Duration::from_secs(90));
    let (charger_ok, charger_lines) = charger.finish(Duration::from_secs(10));
    assert!(car_ok && charger_ok, "car {car_ok}, charger {charger_ok}");
    let (cars, chargers) = (json_lines(&car_lines), json_lines(&charger_lines));
    assert_eq!((cars.len(), chargers.len()), (RUNS, RUNS));
    for (ev, evse) in cars.iter().zip(&chargers) {
        assert_eq!(
            (&ev["peer"], &evse["peer"]),
            (&CHARGER.to_string().into(), &CAR.to_string().into())
        );
        assert_eq!((&ev["nmk"], &ev["run_id"]), (&evse["nmk"], &evse["run_id"]));
        assert_eq!(ev["attempts"], 1);
    }
    check_latencies(test, &charger_latencies(&charger_capture.finish()), RUNS);
    let mut durations = ev_match_durations(&car_capture.finish());
    assert_eq!(durations.len(), RUNS);
    durations.sort();
    println!(
        "{test}: our EV's match (first CM_SLAC_PARM.REQ to CM_SLAC_MATCH.CNF, car's capture): \
         min {:?}, median {:?}, max {:?}; bound {EV_MATCH_ATTEMPT_MAX:?}",
        durations[0],
        durations[RUNS / 2],
        durations[RUNS - 1]
    );
    assert!(durations[RUNS - 1] <= EV_MATCH_ATTEMPT_MAX);
}

/// With link detection our charger waits, after each match, until its modem reports that the car
/// has joined the network: over the emulator's key-aware powerline that is once the car has
/// programmed the charger's key, plus the emulator's join time (0.5 s).
#[test]
fn our_charger_sees_each_car_join_its_network() {
    let test = "our_charger_sees_each_car_join_its_network";
    let Some(_topology) = Topology::up(test, &[], Powerline::Avln) else {
        return;
    };
    const CARS: usize = 2;
    let count = CARS.to_string();
    let charger = Gridlet::start(
        Namespace::Evse,
        &[
            "slac",
            "evse",
            "--iface",
            "eth1",
            "--json",
            "--link",
            "--count",
            &count,
            "--timeout",
            "60s",
        ],
    );
    charger.wait_for_log("waiting for cars");
    let mut car_keys = Vec::new();
    // One car after another; each keeps the charger's key in its modem when it is done.
    for _ in 0..CARS {
        let car = Gridlet::start(
            Namespace::Pev,
            &[
                "slac",
                "ev",
                "--iface",
                "eth1",
                "--json",
                "--timeout",
                "30s",
            ],
        );
        let (ok, lines) = car.finish(Duration::from_secs(40));
        assert!(ok, "gridlet slac ev failed");
        let [m] = &json_lines(&lines)[..] else {
            panic!("{lines:?}")
        };
        car_keys.push(m["nmk"].clone());
        // The charger reports the link before it takes the next car.
        std::thread::sleep(Duration::from_secs(2));
    }
    let (ok, lines) = charger.finish(Duration::from_secs(20));
    assert!(ok, "gridlet slac evse --link failed");
    let lines = json_lines(&lines);
    let matches: Vec<_> = lines.iter().filter(|l| l.get("nmk").is_some()).collect();
    let links: Vec<_> = lines
        .iter()
        .filter(|l| l.get("link_up").is_some())
        .collect();
    assert_eq!((matches.len(), links.len()), (CARS, CARS), "{lines:?}");
    for ((m, link), car_key) in matches.iter().zip(&links).zip(&car_keys) {
        assert_eq!(&m["nmk"], car_key);
        assert_eq!(link["link_up"], CAR.to_string());
        let after = link["after_match_ms"].as_f64().unwrap();
        println!("{test}: the car joined {after:.1} ms after the match");
        // Not before the emulator's join time; well within TT_match_join (12 s).
        assert!((500.0..12_000.0).contains(&after), "{link}");
    }
    assert_ne!(car_keys[0], car_keys[1], "a new key for the second car");
}

#[test]
fn plc_status_prints_the_emulated_modems_firmware() {
    let test = "plc_status_prints_the_emulated_modems_firmware";
    let Some(_topology) = Topology::up(test, &[], Powerline::Avln) else {
        return;
    };
    let mut status = Namespace::Evse.command(GRIDLET);
    status.args(["plc", "status", "--iface", "eth1"]);
    let (ok, output) = run(status, Duration::from_secs(10));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(ok, "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    println!("{stdout}");
    assert!(stdout.contains("firmware  PLC-EMU-1.0"), "{stdout}");
    assert!(stdout.contains("host 02:00:00:00:00:01"), "{stdout}");
    // The emulator's charger-side modem.
    assert!(stdout.contains("modem     02:65:65:00:00:e1"), "{stdout}");

    // An interface without a modem: a clear error and a non-zero exit.
    let mut status = Namespace::Evse.command(GRIDLET);
    status.args(["plc", "status", "--iface", "lo", "--timeout", "300ms"]);
    let (ok, output) = run(status, Duration::from_secs(10));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!ok && !output.status.success());
    assert!(
        stderr.contains("lo: no powerline modem answered VS_SW_VER.REQ within 300ms"),
        "{stderr}"
    );
}
