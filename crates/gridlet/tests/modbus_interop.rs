//! The daemon with a Modbus grid meter and the Huawei meter emulation (issue 10, "Done when" 2):
//! `gridlet config example --preset sim` with `[grid_meter]` an SDM630 played by pymodbus at
//! 127.0.0.1:5020 and `[meter_emulation.huawei]` serving 127.0.0.1:5021, polled by pymodbus as
//! a SUN2000 polls its DTSU666-H. Then the meter stops answering (SIGSTOP) and comes back.
//!
//! Needs pymodbus in a venv (`/var/cache/gridlet/pymodbus-venv` or `$GRIDLET_PYMODBUS_VENV`,
//! installed by `.ci/run`); without it the test says why and passes, unless `CI=true`.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const GRIDLET: &str = env!("CARGO_BIN_EXE_gridlet");

fn python() -> Option<PathBuf> {
    let venv = std::env::var_os("GRIDLET_PYMODBUS_VENV").map_or_else(
        || PathBuf::from("/var/cache/gridlet/pymodbus-venv"),
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    let ok = Command::new(&python)
        .args(["-c", "import pymodbus, serial"])
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(python)
}

fn peer_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../devices-modbus/tests/pymodbus/peer.py")
}

/// A child process killed when dropped, its output lines on a channel.
struct Process {
    name: &'static str,
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Process {
    fn start(name: &'static str, mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        let (tx, lines) = mpsc::channel();
        for out in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Self {
            name,
            child,
            lines,
            log: Vec::new(),
        }
    }

    fn wait_for_line(&mut self, text: &str, limit: Duration) -> String {
        let end = Instant::now() + limit;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => break,
            }
        }
        panic!(
            "{}: no line with {text:?} within {limit:?}:\n{}",
            self.name,
            self.log.join("\n")
        );
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill").args([signal, &pid]).status();
        assert!(ok.is_ok_and(|s| s.success()), "kill {signal} {}", self.name);
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn status(http: &str) -> Option<serde_json::Value> {
    let mut s = TcpStream::connect(http).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET /api/v1/status HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    s.read_to_string(&mut response).ok()?;
    let (_, body) = response.split_once("\r\n\r\n")?;
    let published: serde_json::Value = serde_json::from_str(body).ok()?;
    // The site's snapshot; the simulation's totals beside it do not matter here.
    Some(published["site"].clone())
}

/// Polls the status until `check` holds; returns it and how long that took.
fn status_until(
    http: &str,
    limit: Duration,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> (serde_json::Value, Duration) {
    let start = Instant::now();
    let mut last = None;
    while start.elapsed() < limit {
        if let Some(s) = status(http) {
            if check(&s) {
                return (s, start.elapsed());
            }
            last = Some(s);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what}: not within {limit:?}; last status:\n{last:#?}");
}

fn device<'a>(s: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    s["devices"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["name"] == name))
        .unwrap_or_else(|| panic!("no device {name} in {s:#}"))
}

/// The controller warns of the stale meter and does not regulate on it: its behaviour says
/// why, unless it has already stopped for another reason (the run is on the wall clock, so the
/// simulated car may be changing the DC port over at this hour).
fn meter_stale(s: &serde_json::Value) -> bool {
    let behaviour = &s["controller"]["behaviour"];
    s["controller"]["warnings"]
        .as_array()
        .is_some_and(|w| w.iter().any(|w| w["kind"] == "meter-stale"))
        && (behaviour["reason"] == "meter-stale" || behaviour["kind"] == "stopped")
}

fn huawei_rounds(python: &Path, rounds: u32) -> Vec<serde_json::Value> {
    let out = Command::new(python)
        .arg(peer_script())
        .args(["huawei", "--tcp", "127.0.0.1:5021", "--unit", "11"])
        .args(["--rounds", &rounds.to_string()])
        .output()
        .expect("running the Huawei poller");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn the_daemon_reads_an_sdm630_and_serves_it_to_a_huawei_inverter() {
    let test = "the_daemon_reads_an_sdm630_and_serves_it_to_a_huawei_inverter";
    let Some(python) = python() else {
        testkit::capability::missing(
            test,
            "pymodbus is not installed in /var/cache/gridlet/pymodbus-venv (see .ci/run)",
        );
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let values = dir.path().join("sdm630.json");
    let meter = serde_json::json!({
        "power": -1234.5, "power_l1": -400.0, "power_l2": -434.5, "power_l3": -400.0,
        "voltage_l1": 230.5, "voltage_l2": 229.25, "voltage_l3": 231.75,
        "current_l1": 1.75, "current_l2": 1.875, "current_l3": 1.75,
        "frequency": 50.0625, "import_kwh": 4321.5, "export_kwh": 1234.25,
    });
    std::fs::write(&values, meter.to_string()).expect("values");
    let mut server = {
        let mut c = Command::new(&python);
        c.arg(peer_script())
            .args(["server", "sdm630", "--tcp", "127.0.0.1:5020", "--unit", "1"])
            .arg("--values")
            .arg(&values);
        Process::start("pymodbus SDM630", c)
    };
    server.wait_for_line("serving", Duration::from_secs(20));

    // The sim preset with the two tables, exactly as written there.
    let example = Command::new(GRIDLET)
        .args(["config", "example", "--preset", "sim"])
        .output()
        .expect("gridlet config example");
    let example = String::from_utf8(example.stdout).expect("utf-8");
    assert!(
        example.contains("[grid_meter]\ntype = \"sim\"\n"),
        "{example}"
    );
    let config = example.replace(
        "[grid_meter]\ntype = \"sim\"\n",
        "[grid_meter]\ntype = \"sdm630\"\nmodbus = { tcp = \"127.0.0.1:5020\", unit = 1 }\n",
    ) + "\n[meter_emulation.huawei]\ntype = \"dtsu666-h\"\nsource = \"grid_meter\"\nmodbus = { tcp_listen = \"127.0.0.1:5021\", unit = 11 }\n";
    let path = dir.path().join("gridlet.toml");
    std::fs::write(&path, &config).expect("config");
    let mut daemon = {
        let mut c = Command::new(GRIDLET);
        c.args(["run", "--config"])
            .arg(&path)
            .args(["--listen", "127.0.0.1:0"]);
        Process::start("gridlet run", c)
    };
    let line = daemon.wait_for_line("listening on http://", Duration::from_secs(30));
    let http = line
        .split("listening on http://")
        .nth(1)
        .expect("an address")
        .trim()
        .to_owned();

    let tick = Duration::from_secs(1);
    let (s, _) = status_until(&http, Duration::from_secs(10), "first reading", |s| {
        s["grid"]["power_w"] == -1234.5
    });
    assert_eq!(device(&s, "grid_meter")["health"], "ok", "{s:#}");
    assert_eq!(device(&s, "grid_meter")["type"], "sdm630");
    assert_eq!(s["grid"]["import_wh"], 4_321_500.0);

    // A new reading shows within one tick (plus the meter's poll period and a status fetch).
    let mut changed = meter.clone();
    changed["power"] = serde_json::json!(2500.25);
    std::fs::write(&values, changed.to_string()).expect("values");
    let (_, took) = status_until(&http, Duration::from_secs(5), "changed reading", |s| {
        s["grid"]["power_w"] == 2500.25
    });
    // The target is one tick; a figure, not an assertion on a shared machine (status_until's
    // 5 s is the bound that means broken).
    println!("modbus_interop: a new reading showed after {took:?} (target: {tick:?} + poll)");
    std::fs::write(&values, meter.to_string()).expect("values");
    status_until(&http, Duration::from_secs(5), "reading back", |s| {
        s["grid"]["power_w"] == -1234.5
    });

    // The inverter's polls: no exception, the meter's values.
    let rounds = huawei_rounds(&python, 5);
    assert_eq!(rounds.len(), 5);
    for r in &rounds {
        assert!(r.get("error").is_none(), "{r}");
        assert_eq!(r["power"], -1234.5, "{r}");
        for (k, v) in meter.as_object().expect("object") {
            assert_eq!(&r[k], v, "{k}: {r}");
        }
        assert_eq!(r["voltage_ln_avg"], 230.5);
        assert_eq!(r["r2001"], 3);
        assert_eq!(r["r2214"][7], 11, "{r}");
    }
    let (s, _) = status_until(&http, Duration::from_secs(3), "emulation ok", |s| {
        device(s, "meter_emulation.huawei")["health"] == "ok"
    });
    assert_eq!(device(&s, "meter_emulation.huawei")["type"], "dtsu666-h");

    // The meter stops answering: within 5 s (the meter timeout) plus a tick, the controller
    // stops regulating, and the device says why.
    server.signal("-STOP");
    let stopped = Instant::now();
    let (s, _) = status_until(&http, Duration::from_secs(8), "meter stale", meter_stale);
    // The target is 5 s + a tick; status_until's 8 s is the bound that means broken.
    println!(
        "modbus_interop: controller safe {:?} after the meter stopped",
        stopped.elapsed()
    );
    assert_eq!(s["controller"]["setpoint_w"], 0.0, "{s:#}");
    let (s, _) = status_until(&http, Duration::from_secs(5), "meter error", |s| {
        device(s, "grid_meter")["health"] == "error"
    });
    let reason = device(&s, "grid_meter")["reason"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(reason.contains("no answer within"), "{reason}");
    // Its emulation goes silent rather than serve old values.
    let r = huawei_rounds(&python, 1);
    assert!(r[0].get("error").is_some(), "{r:?}");

    // It answers again: the daemon recovers by itself.
    server.signal("-CONT");
    let (s, took) = status_until(&http, Duration::from_secs(15), "meter back", |s| {
        !meter_stale(s) && device(s, "grid_meter")["health"] == "ok"
    });
    assert_eq!(s["grid"]["power_w"], -1234.5);
    eprintln!("recovered {took:?} after the meter answered again");
    let rounds = huawei_rounds(&python, 2);
    assert!(rounds.iter().all(|r| r["power"] == -1234.5), "{rounds:?}");

    daemon.signal("-TERM");
    let _ = daemon.wait_for_line("safe state confirmed", Duration::from_secs(15));
}
