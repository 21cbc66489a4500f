//! The daemon's MQTT front end against mosquitto (issue 11, "Done when" 3, end to end):
//! `gridlet sim` with `[mqtt]` announces its entities to Home Assistant, publishes live values,
//! takes a mode change on `gridlet/mode/set` (the API shows it), answers a malformed command on
//! `gridlet/error`, takes user settings (target SoC, V2H) on their `/set` topics (the settings API
//! shows them), answers refused values (the bridge's range, the control loop's check) on
//! `gridlet/error`, and says `offline` when it stops. The broker restart is tested in
//! `crates/mqtt/tests/mosquitto.rs`.
//!
//! Needs mosquitto and mosquitto-clients (apt, installed by `.ci/run`); without them the test
//! says why and passes, unless `CI=true`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A failing unwrap is a failing test.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "support/daemon.rs"]
mod daemon;
use daemon::{Killed, free_port};

const GRIDLET: &str = env!("CARGO_BIN_EXE_gridlet");

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args([
            "-c",
            &format!("command -v {tool} || test -x /usr/sbin/{tool}"),
        ])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn wait_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn status(http: &str) -> Option<serde_json::Value> {
    get(http, "/api/v1/status")
}

fn get(http: &str, path: &str) -> Option<serde_json::Value> {
    let mut s = TcpStream::connect(http).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    s.read_to_string(&mut response).ok()?;
    let (_, body) = response.split_once("\r\n\r\n")?;
    serde_json::from_str(body).ok()
}

/// `mosquitto_sub -v`: every message as (topic, payload).
struct Subscriber {
    _child: Killed,
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

impl Subscriber {
    fn start(port: u16) -> Self {
        let mut child = Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-v"])
            .args(["-t", "gridlet/#", "-t", "homeassistant/#"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto_sub starts");
        let out = child.stdout.take().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let (t, p) = line.split_once(' ').unwrap_or((&line, ""));
                s.lock().unwrap().push((t.to_owned(), p.to_owned()));
            }
        });
        Self {
            _child: Killed(child),
            seen,
        }
    }

    fn last(&self, topic: &str) -> Option<String> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .rev()
            .find(|(t, _)| t == topic)
            .map(|(_, p)| p.clone())
    }

    fn count(&self, topic: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| t == topic)
            .count()
    }

    fn wait(&self, what: &str, ok: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ok(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; seen: {:?}",
                self.seen
                    .lock()
                    .unwrap()
                    .iter()
                    .rev()
                    .take(20)
                    .collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn publish(port: u16, topic: &str, payload: &str) {
    let ok = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1"])
        .args(["-t", topic, "-m", payload])
        .status()
        .unwrap()
        .success();
    assert!(ok, "mosquitto_pub {topic}");
}

#[test]
fn the_simulated_site_on_mqtt_with_home_assistant_discovery() {
    let mosquitto = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let (Some(mosquitto), true, true) = (mosquitto, have("mosquitto_sub"), have("mosquitto_pub"))
    else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "mosquitto and mosquitto-clients are missing; CI must run this test"
        );
        eprintln!("SKIP: apt-get install mosquitto mosquitto-clients");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = dir.path().join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
    )
    .unwrap();
    let _broker = Killed(
        Command::new(mosquitto)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_port(port, "mosquitto");
    let sub = Subscriber::start(port);

    let example = Command::new(GRIDLET)
        .args(["config", "example", "--preset", "sim"])
        .output()
        .unwrap();
    assert!(example.status.success());
    let config = dir.path().join("site.toml");
    std::fs::write(
        &config,
        format!(
            "{}\n[mqtt]\nbroker = \"127.0.0.1:{port}\"\ninterval = \"500ms\"\n",
            String::from_utf8(example.stdout).unwrap()
        ),
    )
    .unwrap();
    let http_port = free_port();
    let http = format!("127.0.0.1:{http_port}");
    let mut daemon = Killed(
        Command::new(GRIDLET)
            .arg("sim")
            .arg("--config")
            .arg(&config)
            .args(["--listen", &http, "--speed", "10"])
            .arg("--settings")
            .arg(dir.path().join("settings.json"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_port(http_port, "gridlet");

    // Online, every entity announced, live values.
    sub.wait("online", |s| {
        s.last("gridlet/status").as_deref() == Some("online")
    });
    for (component, id) in [
        ("sensor", "grid_power"),
        ("sensor", "grid_import"),
        ("sensor", "pv_power"),
        ("sensor", "battery_soc"),
        ("select", "mode"),
        ("switch", "ev_enabled"),
        ("button", "button"),
    ] {
        let topic = format!("homeassistant/{component}/gridlet/{id}/config");
        sub.wait(&topic, |s| s.last(&topic).is_some());
        let d: serde_json::Value = serde_json::from_str(&sub.last(&topic).unwrap()).unwrap();
        assert_eq!(d["availability_topic"], "gridlet/status", "{topic}");
    }
    sub.wait("live grid power", |s| s.count("gridlet/grid_power") >= 3);
    let power: f64 = sub.last("gridlet/grid_power").unwrap().parse().unwrap();
    assert!(power.is_finite());
    sub.wait("the mode", |s| s.last("gridlet/mode").is_some());
    assert_eq!(
        sub.last("gridlet/mode").as_deref(),
        Some("self-consumption")
    );

    // A mode change through MQTT reaches the controller: the API and MQTT both show it.
    publish(port, "gridlet/mode/set", "hold");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mode = status(&http).map(|s| s["site"]["controller"]["mode"].clone());
        if mode.as_ref().and_then(|m| m.as_str()) == Some("hold") {
            break;
        }
        assert!(Instant::now() < deadline, "API mode still {mode:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    sub.wait("mode hold", |s| {
        s.last("gridlet/mode").as_deref() == Some("hold")
    });

    // A malformed command: an answer on gridlet/error, and the loop keeps running.
    publish(port, "gridlet/mode/set", "{\"mode\": 7}");
    sub.wait("the error answer", |s| s.last("gridlet/error").is_some());
    let answer: serde_json::Value =
        serde_json::from_str(&sub.last("gridlet/error").unwrap()).unwrap();
    assert_eq!(answer["topic"], "gridlet/mode/set");
    let before = sub.count("gridlet/grid_power");
    sub.wait("values after the refusal", |s| {
        s.count("gridlet/grid_power") > before
    });
    assert_eq!(
        status(&http).unwrap()["site"]["controller"]["mode"],
        "hold",
        "a refused command changes nothing"
    );

    // The user settings: retained states and Home Assistant entities for each.
    for (component, id, state_value) in [
        ("number", "ev_target_soc", "80"),
        ("number", "ev_max_current", "0"),
        ("switch", "v2h", "ON"),
        ("select", "override_hot_water", "auto"),
    ] {
        let topic = format!("homeassistant/{component}/gridlet/{id}/config");
        sub.wait(&topic, |s| s.last(&topic).is_some());
        let d: serde_json::Value = serde_json::from_str(&sub.last(&topic).unwrap()).unwrap();
        assert_eq!(d["command_topic"], format!("gridlet/{id}/set"), "{topic}");
        assert_eq!(d["state_topic"], format!("gridlet/{id}"), "{topic}");
        let state = format!("gridlet/{id}");
        sub.wait(&state, |s| s.last(&state).is_some());
        assert_eq!(sub.last(&state).as_deref(), Some(state_value), "{id}");
    }
    // A target SoC and V2H set over MQTT reach the settings the API shows.
    publish(port, "gridlet/ev_target_soc/set", "65");
    publish(port, "gridlet/v2h/set", "OFF");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = get(&http, "/api/v1/settings");
        if s.as_ref()
            .is_some_and(|s| s["ev_target_soc_pct"] == 65.0 && s["v2h"] == false)
        {
            break;
        }
        assert!(Instant::now() < deadline, "API settings still {s:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    sub.wait("target 65 and V2H off", |s| {
        s.last("gridlet/ev_target_soc").as_deref() == Some("65")
            && s.last("gridlet/v2h").as_deref() == Some("OFF")
    });
    // Refused values: out of range (by the bridge), and one the configuration does not allow
    // (by the control loop: with V2H on, the target may not be under the V2H floor of 40 %).
    publish(port, "gridlet/ev_target_soc/set", "150");
    sub.wait("the range refusal", |s| {
        s.last("gridlet/error").is_some_and(|a| a.contains("150"))
    });
    publish(port, "gridlet/v2h/set", "ON");
    sub.wait("V2H on", |s| s.last("gridlet/v2h").as_deref() == Some("ON"));
    publish(port, "gridlet/ev_target_soc/set", "20");
    sub.wait("the control loop's refusal", |s| {
        s.last("gridlet/error")
            .is_some_and(|a| a.contains("\"payload\":\"20\""))
    });
    let answer: serde_json::Value =
        serde_json::from_str(&sub.last("gridlet/error").unwrap()).unwrap();
    assert_eq!(answer["topic"], "gridlet/ev_target_soc/set");
    let settings = get(&http, "/api/v1/settings").unwrap();
    assert_eq!(settings["ev_target_soc_pct"], 65.0, "refused: unchanged");
    let before = sub.count("gridlet/grid_power");
    sub.wait("values after the refusals", |s| {
        s.count("gridlet/grid_power") > before
    });
    // Stored for the next start, as a change through the page is.
    let stored = dir.path().join("settings.json");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let file: Option<serde_json::Value> = std::fs::read(&stored)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        if file
            .as_ref()
            .is_some_and(|f| f["ev_target_soc_pct"] == 65.0 && f["v2h"] == true)
        {
            break;
        }
        assert!(Instant::now() < deadline, "stored settings: {file:?}");
        std::thread::sleep(Duration::from_millis(50));
    }

    // SIGTERM: offline before the process ends.
    let pid = daemon.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let exit = daemon.0.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    sub.wait("offline", |s| {
        s.last("gridlet/status").as_deref() == Some("offline")
    });
}
