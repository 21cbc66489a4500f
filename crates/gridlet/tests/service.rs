//! The `gridlet` binary as systemd runs it on the board: the sd_notify protocol through a fake
//! `NOTIFY_SOCKET` (READY, WATCHDOG from the tick loop, STATUS, STOPPING and the safe state on
//! SIGTERM), a stalled tick loop that stops the watchdog, `--version`, and least privilege: the
//! charger as an unprivileged user holding only `CAP_NET_RAW` (root, namespaces: see
//! `testkit::capability`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // A failing unwrap is a failing test.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use testkit::capability;
use testkit::netns::{Namespace, Powerline, Topology};

const BIN: &str = env!("CARGO_BIN_EXE_gridlet");

/// The service manager's side of sd_notify(3): a datagram socket that records every message
/// with the time it arrived.
struct NotifySocket {
    path: PathBuf,
    messages: Arc<Mutex<Vec<(Instant, String)>>>,
    _dir: tempfile::TempDir,
}

impl NotifySocket {
    fn bind() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let socket = UnixDatagram::bind(&path).unwrap();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let keep = Arc::clone(&messages);
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = socket.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                keep.lock().unwrap().push((Instant::now(), text));
            }
        });
        Self {
            path,
            messages,
            _dir: dir,
        }
    }

    fn messages(&self) -> Vec<(Instant, String)> {
        self.messages.lock().unwrap().clone()
    }

    /// Every assignment (`KEY=value` line) received so far, in order, with its arrival time.
    fn assignments(&self) -> Vec<(Instant, String)> {
        self.messages()
            .into_iter()
            .flat_map(|(at, m)| m.lines().map(|l| (at, l.to_owned())).collect::<Vec<_>>())
            .collect()
    }

    /// Waits until an assignment satisfies `pred`; returns it.
    fn wait_for(&self, what: &str, limit: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
        loop {
            if let Some((_, a)) = self.assignments().into_iter().find(|(_, a)| pred(a)) {
                return a;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within {limit:?}; received: {:?}",
                self.assignments()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Arrival times of the WATCHDOG=1 pings.
    fn pings(&self) -> Vec<Instant> {
        self.assignments()
            .into_iter()
            .filter(|(_, a)| a == "WATCHDOG=1")
            .map(|(at, _)| at)
            .collect()
    }
}

/// A `gridlet` process whose stderr lines are forwarded and searchable, its stdout collected.
struct Gridlet {
    child: Child,
    log: mpsc::Receiver<String>,
    all: Arc<Mutex<String>>,
    stdout: Option<std::thread::JoinHandle<String>>,
}

impl Gridlet {
    fn start(mut command: Command) -> Self {
        let mut child = command
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut out = String::new();
            let _ = stdout.read_to_string(&mut out);
            out
        });
        let stderr = child.stderr.take().unwrap();
        let (tx, log) = mpsc::channel();
        let all = Arc::new(Mutex::new(String::new()));
        let keep = Arc::clone(&all);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("  [gridlet] {line}");
                keep.lock().unwrap().push_str(&(line.clone() + "\n"));
                let _ = tx.send(line);
            }
        });
        Self {
            child,
            log,
            all,
            stdout: Some(stdout),
        }
    }

    fn wait_for_log(&self, text: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!("gridlet did not log {text:?}");
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// Waits for the exit (20 s at most); its status and the whole log.
    fn wait(self) -> (std::process::ExitStatus, String) {
        let (status, log, _) = self.wait_with_stdout();
        (status, log)
    }

    /// Waits for the exit (20 s at most); its status, the whole log and stdout.
    fn wait_with_stdout(mut self) -> (std::process::ExitStatus, String, String) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "gridlet did not exit");
            std::thread::sleep(Duration::from_millis(20));
        };
        let stdout = self.stdout.take().unwrap().join().unwrap_or_default();
        // stdout is at its end, so the process and its stderr are gone too; let the reader
        // thread take the last lines.
        std::thread::sleep(Duration::from_millis(100));
        let log = self.all.lock().unwrap().clone();
        (status, log, stdout)
    }
}

impl Drop for Gridlet {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The gaps between consecutive pings.
fn gaps(pings: &[Instant]) -> Vec<Duration> {
    pings.windows(2).map(|w| w[1] - w[0]).collect()
}

/// `gridlet sim` under a fake service manager with a 2 s watchdog: READY=1 with a status after
/// start-up; WATCHDOG=1 every second (never later than the timeout, never flooding) while
/// the loop runs; STATUS= follows the car's session; on SIGTERM STOPPING=1 comes first, then the
/// safe state, confirmed in the last status and in the report's actuators.
#[test]
fn the_service_manager_hears_ready_watchdog_status_and_stopping() {
    const WATCHDOG: Duration = Duration::from_secs(2);
    let notify = NotifySocket::bind();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.json");
    let mut command = Command::new(BIN);
    // Evening with the car plugged in: its CCS session holds the DC port and power flows.
    command
        .args(["sim", "--speed", "10", "--start", "2026-06-21T21:00"])
        .args(["--listen", "127.0.0.1:0"])
        .arg("--report")
        .arg(&report)
        .env("NOTIFY_SOCKET", &notify.path)
        .env("WATCHDOG_USEC", WATCHDOG.as_micros().to_string());
    let started = Instant::now();
    let gridlet = Gridlet::start(command);

    let first = notify.wait_for("READY=1", Duration::from_secs(10), |_| true);
    assert_eq!(first, "READY=1", "READY=1 comes first");
    let ready_at = notify.messages()[0].0;
    println!("READY=1 {:?} after start (test build)", ready_at - started);
    let status = notify.wait_for("a status", Duration::from_secs(1), |a| {
        a.starts_with("STATUS=")
    });
    assert!(
        status.starts_with("STATUS=mode self-consumption"),
        "{status}"
    );
    // The car's session shows in the status once power flows through the port.
    let car = notify.wait_for("the car's session", Duration::from_secs(20), |a| {
        a.starts_with("STATUS=") && a.contains("charging")
    });
    println!("{car}");
    // A few more seconds of pings.
    std::thread::sleep(Duration::from_secs(3));
    gridlet.signal("TERM");
    let (exit, log) = gridlet.wait();
    assert!(exit.success(), "{exit:?}\n{log}");

    let all = notify.assignments();
    let pings = notify.pings();
    let gaps = gaps(&pings);
    println!(
        "{} pings, gaps {:?}..{:?}",
        pings.len(),
        gaps.iter().min(),
        gaps.iter().max()
    );
    assert!(pings.len() >= 4, "{all:?}");
    for g in &gaps {
        // Later than the timeout: systemd would have killed the service.
        assert!(*g < WATCHDOG, "a ping came {g:?} after the one before");
        // Much earlier than half the timeout (ticks are 100 ms apart): a ping per tick, not at
        // the interval asked for.
        assert!(*g > WATCHDOG / 4, "pings {g:?} apart: flooding the manager");
    }
    // STOPPING=1 after the last ping, then the final status.
    let stopping = all
        .iter()
        .position(|(_, a)| a == "STOPPING=1")
        .unwrap_or_else(|| panic!("no STOPPING=1: {all:?}"));
    assert!(all[stopping..].iter().all(|(_, a)| a != "WATCHDOG=1"));
    let last = &all.last().unwrap().1;
    assert_eq!(last, "STATUS=stopped: safe state confirmed", "{all:?}");
    assert!(all[stopping + 1].1.starts_with("STATUS=stopping (SIGTERM)"));

    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["shutdown"]["cause"], "sigterm");
    assert_eq!(r["shutdown"]["safe"], true);
    let a = &r["actuators"];
    assert_eq!(a["converter"]["enabled"], false, "{a}");
    assert_eq!(a["converter"]["power_w"], 0.0);
    assert_eq!(a["changeover"], false);
    assert!(a["relays"].as_array().unwrap().iter().all(|r| r == false));
    assert_eq!(a["charge_limits"]["max_charge_w"], 0.0);
    assert_eq!(a["charge_limits"]["max_discharge_w"], 0.0);
}

/// A tick loop that hangs (fault injection: `GRIDLET_FAULT_STALL_TICK_AFTER`) stops the pings
/// although the process and its HTTP server live on: the watchdog is the loop's, not a timer's.
#[test]
fn a_stalled_tick_loop_stops_the_watchdog() {
    const WATCHDOG: Duration = Duration::from_millis(600);
    let notify = NotifySocket::bind();
    let mut command = Command::new(BIN);
    command
        .args(["sim", "--speed", "10", "--listen", "127.0.0.1:0"])
        .env("NOTIFY_SOCKET", &notify.path)
        .env("WATCHDOG_USEC", WATCHDOG.as_micros().to_string())
        .env("GRIDLET_FAULT_STALL_TICK_AFTER", "2s");
    let gridlet = Gridlet::start(command);
    let listening = gridlet.wait_for_log("listening on http://", Duration::from_secs(10));
    let addr = listening
        .split("listening on http://")
        .nth(1)
        .unwrap()
        .trim();
    gridlet.wait_for_log("the tick loop stalls", Duration::from_secs(10));
    // Pings sent before the stall (at least a tick before its log line) have arrived by now.
    std::thread::sleep(Duration::from_millis(200));
    let before = notify.pings();
    assert!(
        before.len() >= 2,
        "pings while the loop ran: {:?}",
        notify.assignments()
    );
    // Three timeouts later: no ping since the stall, yet the process answers HTTP.
    std::thread::sleep(WATCHDOG * 3);
    let after = notify.pings().len() - before.len();
    assert_eq!(after, 0, "{after} pings after the stall");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    use std::io::Write as _;
    write!(
        s,
        "GET /api/v1/status HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    println!(
        "{} pings before the stall; none in {:?} after it, while HTTP still answers",
        before.len(),
        WATCHDOG * 3
    );
}

/// `gridlet run` (the daemon, real time) with the simulated site: READY=1, pings at the
/// configured interval, STOPPING=1 and the confirmed safe state on SIGTERM, exit 0.
#[test]
fn the_daemon_notifies_the_service_manager() {
    const WATCHDOG: Duration = Duration::from_millis(1200);
    let notify = NotifySocket::bind();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("site.toml");
    let example = Command::new(BIN)
        .args(["config", "example", "--preset", "sim"])
        .output()
        .unwrap();
    let text = String::from_utf8(example.stdout).unwrap();
    // Ticks short enough for a watchdog of 1.2 s.
    let text = text.replacen("tick = \"1s\"", "tick = \"100ms\"", 1);
    assert!(text.contains("tick = \"100ms\""));
    std::fs::write(&config, text).unwrap();
    let mut command = Command::new(BIN);
    command
        .args(["run", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .env("NOTIFY_SOCKET", &notify.path)
        .env("WATCHDOG_USEC", WATCHDOG.as_micros().to_string());
    let gridlet = Gridlet::start(command);
    notify.wait_for("READY=1", Duration::from_secs(10), |a| a == "READY=1");
    let deadline = Instant::now() + Duration::from_secs(10);
    while notify.pings().len() < 4 {
        assert!(Instant::now() < deadline, "{:?}", notify.assignments());
        std::thread::sleep(Duration::from_millis(50));
    }
    gridlet.signal("TERM");
    let (exit, log) = gridlet.wait();
    assert!(exit.success(), "{exit:?}\n{log}");
    for g in gaps(&notify.pings()) {
        assert!(g < WATCHDOG, "a ping came {g:?} after the one before");
    }
    let all: Vec<String> = notify.assignments().into_iter().map(|(_, a)| a).collect();
    assert!(all.iter().any(|a| a == "STOPPING=1"), "{all:?}");
    assert_eq!(
        all.last().map(String::as_str),
        Some("STATUS=stopped: safe state confirmed")
    );
}

/// `gridlet --version` names the version and the commit it was built from.
#[test]
fn version_names_the_commit() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let expected = format!("gridlet {} (commit ", env!("CARGO_PKG_VERSION"));
    assert!(text.starts_with(&expected), "{text}");
    // Built from a git checkout (as here, unless from a tarball): HEAD's abbreviation.
    let git = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    match git {
        Ok(o) if o.status.success() && std::env::var_os("GRIDLET_COMMIT").is_none() => {
            let head = String::from_utf8(o.stdout).unwrap();
            assert_eq!(text.trim(), format!("{expected}{})", head.trim()));
        }
        _ => assert!(text.trim().ends_with(')'), "{text}"),
    }
}

/// Runs `program` in `ns` as an unprivileged user (nobody) holding exactly `caps` (e.g.
/// `["net_raw"]`), as the systemd unit does with `User=` and `AmbientCapabilities=`.
fn unprivileged(ns: Namespace, caps: &[&str], program: &str) -> Command {
    let set = std::iter::once("-all".to_owned())
        .chain(caps.iter().map(|c| format!("+{c}")))
        .collect::<Vec<_>>()
        .join(",");
    let mut command = ns.command("setpriv");
    command
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(format!("--inh-caps={set}"))
        .arg(format!("--ambient-caps={set}"))
        .arg(format!("--bounding-set={set}"))
        .arg(program);
    command
}

/// Where an unprivileged user can run the test binary from: a copy in a world-readable place
/// (the build directory may be in a home or under a restrictive umask).
fn world_readable_copy(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("gridlet");
    std::fs::copy(BIN, &path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Least privilege: as nobody without capabilities, `gridlet evse` fails with an error that names
/// `CAP_NET_RAW`; as nobody with only `CAP_NET_RAW`, it completes a DIN session with SLAC against
/// `gridlet ev` on the key-aware emulated powerline, and so does `gridlet run` with a CCS charge
/// point.
#[test]
fn the_charger_runs_as_nobody_with_only_cap_net_raw() {
    let test = "the_charger_runs_as_nobody_with_only_cap_net_raw";
    let Some(topology) = Topology::up(test, &["setpriv"], Powerline::Avln) else {
        return;
    };
    let bin = world_readable_copy(topology.workdir());
    let bin = bin.to_str().unwrap();

    // Without the capability: one line naming it, exit 1.
    let out = unprivileged(Namespace::Evse, &[], bin)
        .args(["evse", "--iface", "eth1", "--sessions", "1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        line.starts_with("error: eth1: opening a raw socket needs CAP_NET_RAW"),
        "{line}"
    );
    println!("without CAP_NET_RAW: {line}");

    // With it, a whole DIN session with SLAC.
    let mut charger = unprivileged(Namespace::Evse, &["net_raw"], bin);
    charger.args(["evse", "--iface", "eth1", "--sessions", "1", "--json"]);
    let charger = Gridlet::start(charger);
    charger.wait_for_log("charger on eth1", Duration::from_secs(15));
    let car = Namespace::Pev
        .command(BIN)
        .args(["ev", "--iface", "eth1", "--json", "--cycles", "10"])
        .args(["--protocol", "din"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let car_err = String::from_utf8_lossy(&car.stderr);
    assert!(car.status.success(), "gridlet ev failed:\n{car_err}");
    let summary: serde_json::Value = serde_json::from_slice(&car.stdout).unwrap();
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(summary["protocol"], "din");
    assert!(summary["charge_loop_cycles"].as_u64().unwrap() >= 10);
    let (exit, log, stdout) = charger.wait_with_stdout();
    assert!(exit.success(), "gridlet evse as nobody failed:\n{log}");
    assert!(log.contains("SLAC: matched"), "{log}");
    let session: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(session["ok"], true, "{session}");
    assert_eq!(session["protocol"], "din");
    println!(
        "as nobody with CAP_NET_RAW: DIN with SLAC, {} charge loop cycles",
        summary["charge_loop_cycles"]
    );

    // The daemon with its CCS charge point (`ccs-sim`: the real stack on eth1, simulated power
    // hardware), as the unit runs it: a DIN car with SLAC charges, SIGTERM stops it safely.
    let config = topology.workdir().join("ccs-sim.toml");
    let example = Command::new(BIN)
        .args(["config", "example", "--preset", "ccs-sim"])
        .output()
        .unwrap();
    std::fs::write(&config, &example.stdout).unwrap();
    std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let mut daemon = unprivileged(Namespace::Evse, &["net_raw"], bin);
    daemon
        .args(["run", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config);
    let daemon = Gridlet::start(daemon);
    daemon.wait_for_log("charge point: V2G server", Duration::from_secs(20));
    let car = Namespace::Pev
        .command(BIN)
        .args(["ev", "--iface", "eth1", "--json", "--cycles", "10"])
        .args(["--protocol", "din"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let car_err = String::from_utf8_lossy(&car.stderr);
    assert!(
        car.status.success(),
        "gridlet ev at the daemon failed:\n{car_err}"
    );
    let summary: serde_json::Value = serde_json::from_slice(&car.stdout).unwrap();
    assert_eq!(summary["ok"], true, "{summary}");
    assert!(summary["charge_loop_cycles"].as_u64().unwrap() >= 10);
    daemon.signal("TERM");
    let (exit, log) = daemon.wait();
    assert!(exit.success(), "the daemon as nobody failed:\n{log}");
    assert!(log.contains("charge point: SLAC matched car"), "{log}");
    assert!(log.contains("safe state confirmed"), "{log}");
    println!(
        "the daemon as nobody with CAP_NET_RAW: DIN with SLAC, {} charge loop cycles",
        summary["charge_loop_cycles"]
    );
}

/// Under systemd (stderr is the journal stream `JOURNAL_STREAM` names), every log line carries
/// its syslog priority for journald and no timestamp of its own; elsewhere lines stay as they
/// were.
#[test]
fn log_lines_carry_their_level_for_the_journal() {
    use std::os::unix::fs::MetadataExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stderr");
    let file = std::fs::File::create(&path).unwrap();
    let meta = file.metadata().unwrap();
    let out = Command::new(BIN)
        .args(["sim", "--until", "1h", "--speed", "max", "-v"])
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .env_remove("RUST_LOG")
        .stderr(file)
        .output()
        .unwrap();
    assert!(out.status.success());
    let log = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines.len() > 5, "{log}");
    for l in &lines {
        let prefixed = ["<3>", "<4>", "<6>", "<7>"]
            .iter()
            .any(|p| l.starts_with(p));
        assert!(prefixed, "no priority: {l}");
        let after = l.get(3..).unwrap_or_default();
        assert!(
            !after.starts_with(|c: char| c.is_ascii_digit()),
            "a timestamp of its own: {l}"
        );
    }
    assert!(lines.iter().any(|l| l.starts_with("<6>")), "{log}");
    assert!(lines.iter().any(|l| l.starts_with("<7>")), "{log}");

    // Another stream than the one named (a child of the service, say): plain lines.
    let out = Command::new(BIN)
        .args(["sim", "--until", "1h", "--speed", "max"])
        .env(
            "JOURNAL_STREAM",
            format!("{}:{}", meta.dev(), meta.ino() + 1),
        )
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.lines().all(|l| !l.starts_with('<')), "{err}");
}

/// `dist/gridlet.service` passes `systemd-analyze verify` without a warning (unknown keys and
/// bad values are warnings there, so the output must be empty), with the binary at a path that
/// exists here, and keeps the settings the board relies on.
#[test]
fn the_systemd_unit_verifies() {
    let test = "the_systemd_unit_verifies";
    if capability::find_program("systemd-analyze").is_none() {
        capability::missing(test, "`systemd-analyze` is not installed (see .ci/run)");
        return;
    }
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist/gridlet.service"),
    )
    .unwrap();
    for line in [
        "Type=notify",
        "WatchdogSec=10s",
        "Restart=on-failure",
        "User=gridlet",
        "AmbientCapabilities=CAP_NET_RAW",
        "CapabilityBoundingSet=CAP_NET_RAW",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "ReadWritePaths=/var/lib/gridlet",
        "StateDirectory=gridlet",
        "SystemCallFilter=@system-service",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} missing");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gridlet.service");
    std::fs::write(&path, unit.replace("/usr/bin/gridlet", BIN)).unwrap();
    // The man page is the package's (checked where it is installed); here only the unit.
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.trim().is_empty(),
        "systemd-analyze verify warns:\n{err}"
    );
}
