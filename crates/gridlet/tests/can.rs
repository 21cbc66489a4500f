//! CAN devices in the daemon: a CAN BMS and a battery emulation on interfaces that do not exist
//! are reported and retried while the daemon keeps running and stops safely; CAN devices refuse
//! virtual time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[path = "support/daemon.rs"]
mod daemon;
use daemon::http;

const BIN: &str = env!("CARGO_BIN_EXE_gridlet");

const SITE: &str = r#"
[http]
listen = "127.0.0.1:0"

[grid_meter]
type = "sim"

[converter]
type = "sim"
max_charge_w = 3000
max_discharge_w = 3000

[battery]
type = "openinverter-can"
can = "gridlet-nope0"

[battery_emulation.inverter]
type = "byd-hvs"
can = "gridlet-nope1"
source = "auto"
"#;

#[test]
fn missing_can_interfaces_are_reported_and_the_daemon_runs_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("site.toml");
    std::fs::write(&path, SITE).unwrap();
    let mut child = Command::new(BIN)
        .args(["run", "--config", path.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut log = Vec::new();
    let mut addr: Option<SocketAddr> = None;
    let seen = |log: &[String], what: &str| log.iter().any(|l| l.contains(what));
    while !(addr.is_some()
        && seen(&log, "gridlet-nope0: cannot open")
        && seen(&log, "gridlet-nope1: cannot open"))
    {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("expected output missing: {log:#?}"));
        if let Some(rest) = line.split("listening on http://").nth(1) {
            addr = Some(rest.trim().parse().unwrap());
        }
        log.push(line);
    }
    let addr = addr.unwrap();
    // The site ticks on, without a BMS state.
    let body = loop {
        let (code, body) = http(addr, "GET", "/api/v1/status", "");
        if code == 200 {
            break body;
        }
        assert!(Instant::now() < deadline, "no status: {code} {body}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let st: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(st["site"]["battery"].is_null(), "{st}");
    assert!(st["site"]["controller"].is_object(), "{st}");
    // The emulation is listed among the devices: its inverter is not heard.
    let emulation = st["site"]["devices"]
        .as_array()
        .and_then(|d| {
            d.iter().find(|d| {
                d["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("battery_emulation."))
            })
        })
        .unwrap_or_else(|| panic!("no battery emulation in the devices: {st}"));
    assert_eq!(emulation["type"], "byd-hvs", "{emulation}");
    assert_eq!(emulation["health"], "stale", "{emulation}");
    assert_eq!(emulation["reason"], "inverter not heard", "{emulation}");
    assert!(
        child.try_wait().unwrap().is_none(),
        "the daemon must keep running"
    );
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "gridlet did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{log:#?}");
}

#[test]
fn can_devices_refuse_virtual_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("site.toml");
    std::fs::write(&path, SITE).unwrap();
    let out = Command::new(BIN)
        .args(["sim", "--config", path.to_str().unwrap(), "--until", "1h"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("run them with `gridlet run`"), "{err}");
}
