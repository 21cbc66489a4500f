//! The MQTT front end against a real broker: Debian's mosquitto, started by the test on a free
//! port. Discovery for every entity, live values, commands (valid and refused), the last will,
//! and a broker restart.
//!
//! Needs `mosquitto` (apt). With CI=true a missing broker fails the test; elsewhere it is skipped
//! with a message.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A failing unwrap is a failing test.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mqtt::{Command, MqttSettings};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use tokio::process::{Child, Command as Process};
use tokio::sync::{mpsc, oneshot, watch};

fn mosquitto() -> Option<PathBuf> {
    ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .or_else(|| {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "mosquitto is missing (apt-get install mosquitto); CI must run this test"
            );
            eprintln!("SKIP: mosquitto is not installed (apt-get install mosquitto)");
            None
        })
}

struct Broker {
    child: Child,
}

impl Broker {
    async fn start(bin: &Path, dir: &Path, port: u16) -> Self {
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
        )
        .unwrap();
        let child = Process::new(bin)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("mosquitto starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen on {port}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self { child }
    }

    async fn stop(mut self) {
        self.child.kill().await.unwrap();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A subscriber to `#` that reconnects by itself, keeping every message it saw.
#[derive(Clone, Default)]
struct Observer {
    seen: Arc<Mutex<Vec<(Instant, String, String)>>>,
}

impl Observer {
    fn spawn(port: u16) -> (Self, AsyncClient) {
        let mut o = MqttOptions::new("observer", "127.0.0.1", port);
        o.set_keep_alive(Duration::from_secs(5));
        o.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut ev) = AsyncClient::new(o, 64);
        let me = Self::default();
        let seen = me.seen.clone();
        let sub = client.clone();
        tokio::spawn(async move {
            loop {
                match ev.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        sub.subscribe("#", QoS::AtLeastOnce).await.unwrap();
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let payload = String::from_utf8_lossy(&p.payload).into_owned();
                        seen.lock()
                            .unwrap()
                            .push((Instant::now(), p.topic, payload));
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        (me, client)
    }

    fn last(&self, topic: &str) -> Option<String> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .rev()
            .find(|(_, t, _)| t == topic)
            .map(|(_, _, p)| p.clone())
    }

    fn latest(&self) -> HashMap<String, String> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .map(|(_, t, p)| (t.clone(), p.clone()))
            .collect()
    }

    fn since(&self, t0: Instant, topic: &str) -> Option<(Instant, String)> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .find(|(at, t, _)| *at > t0 && t == topic)
            .map(|(at, _, p)| (*at, p.clone()))
    }

    async fn wait(&self, what: &str, timeout: Duration, mut ok: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + timeout;
        while !ok(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn snapshot(grid_w: f64) -> Value {
    json!({
        "site": {
            "time": "2026-11-27T12:00:00Z",
            "grid": {"power_w": grid_w, "import_wh": 1000.0, "export_wh": 20.0},
            "pv": [{"name": "roof", "status": {"power_w": 3000.0, "energy_wh": 500.0}}],
            "pv_power_w": 3000.0,
            "battery": {"soc_pct": 55.0, "voltage_v": 400.0, "current_a": 5.0,
                        "temperature_c": 21.0},
            "converter": {"power_w": -500.0},
            "charge_point": {"state": "charging", "protocol": "iso20", "ev_soc_pct": 40.0,
                             "power_w": 7000.0, "dc_voltage_v": 380.0, "current_a": 18.4,
                             "session_energy_wh": 1234.0},
            "price": 0.25,
            "relays": [{"name": "hot_water", "on": false}],
            "controller": {"mode": "self-consumption", "ev_enabled": true,
                           "behaviour": {"kind": "regulating"}, "setpoint_w": -500.0},
            "devices": [{"name": "grid_meter", "health": "ok"}]
        },
        "sim": {"led": "off"},
        "settings": {"mode": "self-consumption", "ev_enabled": true, "ev_target_soc_pct": 80.0,
                     "ev_max_current_a": null, "v2h": true,
                     "relays": {"hot_water": "auto"}}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_assistant_sees_every_entity_and_commands_work_across_a_broker_restart() {
    let Some(bin) = mosquitto() else { return };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let broker = Broker::start(&bin, dir.path(), port).await;
    let (observer, observer_client) = Observer::spawn(port);

    let mut settings = MqttSettings::new(format!("127.0.0.1:{port}").parse().unwrap());
    settings.interval = Duration::from_millis(100);
    settings.keep_alive = Duration::from_secs(5);
    settings.ev_current_max_a = Some(32.0);
    let (snap_tx, snap_rx) = watch::channel(Some(Arc::new(snapshot(100.0))));
    let (cmd_tx, mut cmd_rx) = mpsc::channel(8);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let front = tokio::spawn(mqtt::run(
        settings,
        "test".into(),
        snap_rx,
        |v: &Value| Ok(v.clone()),
        cmd_tx,
        Arc::new(units::SystemClock::new()),
        async {
            let _ = stop_rx.await;
        },
    ));
    // The runner publishes every tick; so does this feeder, with a changing grid power.
    let feeder = tokio::spawn(async move {
        for i in 0u32.. {
            snap_tx.send_replace(Some(Arc::new(snapshot(100.0 + f64::from(i)))));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });

    // Discovery for every entity of the snapshot, with the classes HA's energy dashboard needs.
    let expected = mqtt::entity::catalogue(&snapshot(0.0), "EUR", 32.0);
    assert!(expected.len() >= 25, "{} entities", expected.len());
    observer
        .wait("discovery", Duration::from_secs(10), |o| {
            let latest = o.latest();
            expected.iter().all(|e| {
                latest.contains_key(&format!(
                    "homeassistant/{}/gridlet/{}/config",
                    e.component.as_str(),
                    e.id
                ))
            })
        })
        .await;
    let latest = observer.latest();
    for e in &expected {
        let topic = format!(
            "homeassistant/{}/gridlet/{}/config",
            e.component.as_str(),
            e.id
        );
        let d: Value = serde_json::from_str(&latest[&topic]).unwrap();
        assert_eq!(d["unique_id"], format!("gridlet_{}", e.id), "{topic}");
        assert_eq!(d["availability_topic"], "gridlet/status");
        assert_eq!(d["device"]["identifiers"][0], "gridlet");
        if e.component.is_command() {
            assert_eq!(d["command_topic"], format!("gridlet/{}/set", e.id));
        }
        if e.component != mqtt::entity::Component::Button {
            assert_eq!(d["state_topic"], format!("gridlet/{}", e.id));
        }
    }
    let energy: Value =
        serde_json::from_str(&latest["homeassistant/sensor/gridlet/grid_import/config"]).unwrap();
    assert_eq!(
        (
            &energy["device_class"],
            &energy["state_class"],
            &energy["unit_of_measurement"]
        ),
        (&json!("energy"), &json!("total_increasing"), &json!("Wh"))
    );
    assert_eq!(latest["gridlet/status"], "online");
    assert_eq!(latest["gridlet/battery_power"], "2000");
    assert_eq!(latest["gridlet/ev_state"], "charging");
    assert_eq!(latest["gridlet/mode"], "self-consumption");

    // Live values keep coming.
    let t0 = Instant::now();
    let first = observer.since(t0, "gridlet/grid_power");
    observer
        .wait("live values", Duration::from_secs(5), |o| {
            o.since(t0, "gridlet/grid_power")
                .is_some_and(|(_, p)| Some(p) != first.as_ref().map(|f| f.1.clone()))
        })
        .await;

    // A command, and a malformed one answered on gridlet/error.
    observer_client
        .publish(
            "gridlet/mode/set",
            QoS::AtLeastOnce,
            false,
            "charge-from-grid",
        )
        .await
        .unwrap();
    let c = tokio::time::timeout(Duration::from_secs(5), cmd_rx.recv())
        .await
        .expect("the command arrives")
        .unwrap();
    assert_eq!(
        c.command,
        Command::SetMode(controller::Mode::ChargeFromGrid)
    );
    // The control loop's refusal (a value the configuration does not allow) is answered too.
    c.refuse("not now");
    observer
        .wait("the loop's refusal", Duration::from_secs(5), |o| {
            o.last("gridlet/error")
                .is_some_and(|a| a.contains("not now"))
        })
        .await;
    let answer: Value = serde_json::from_str(&observer.last("gridlet/error").unwrap()).unwrap();
    assert_eq!(answer["payload"], "charge-from-grid");
    let number: Value =
        serde_json::from_str(&latest["homeassistant/number/gridlet/ev_max_current/config"])
            .unwrap();
    assert_eq!(
        (&number["min"], &number["max"]),
        (&json!(0.0), &json!(32.0))
    );
    assert_eq!(latest["gridlet/ev_max_current"], "0", "no cap");
    assert_eq!(latest["gridlet/override_hot_water"], "auto");
    observer_client
        .publish("gridlet/mode/set", QoS::AtLeastOnce, false, "warp-speed")
        .await
        .unwrap();
    observer
        .wait("an error answer", Duration::from_secs(5), |o| {
            o.last("gridlet/error")
                .is_some_and(|a| a.contains("warp-speed"))
        })
        .await;
    let answer: Value = serde_json::from_str(&observer.last("gridlet/error").unwrap()).unwrap();
    assert_eq!(answer["topic"], "gridlet/mode/set");
    assert_eq!(answer["payload"], "warp-speed");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("self-consumption")
    );
    assert!(
        cmd_rx.try_recv().is_err(),
        "a refused command reaches nobody"
    );

    // The broker restarts (and forgets everything: no persistence). Publishing resumes, with
    // discovery again, within 10 s.
    broker.stop().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let restarted = Instant::now();
    let broker = Broker::start(&bin, dir.path(), port).await;
    observer
        .wait(
            "values after the broker's restart",
            Duration::from_secs(10),
            |o| {
                o.since(restarted, "gridlet/grid_power").is_some()
                    && o.since(restarted, "homeassistant/select/gridlet/mode/config")
                        .is_some()
            },
        )
        .await;
    let (at, _) = observer.since(restarted, "gridlet/grid_power").unwrap();
    println!(
        "publishing resumed {:.2} s after the broker restarted",
        (at - restarted).as_secs_f64()
    );

    // A clean stop says offline.
    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), front)
        .await
        .expect("the front end stops")
        .unwrap()
        .unwrap();
    observer
        .wait("offline on stop", Duration::from_secs(5), |o| {
            o.last("gridlet/status").as_deref() == Some("offline")
        })
        .await;
    feeder.abort();
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_publishes_the_last_will_when_gridlet_dies() {
    let Some(bin) = mosquitto() else { return };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let broker = Broker::start(&bin, dir.path(), port).await;
    let (observer, _client) = Observer::spawn(port);
    let settings = MqttSettings::new(format!("127.0.0.1:{port}").parse().unwrap());
    let (_snap_tx, snap_rx) = watch::channel(Some(Arc::new(snapshot(0.0))));
    let (cmd_tx, _cmd_rx) = mpsc::channel(8);
    let front = tokio::spawn(mqtt::run(
        settings,
        "test".into(),
        snap_rx,
        |v: &Value| Ok(v.clone()),
        cmd_tx,
        Arc::new(units::SystemClock::new()),
        std::future::pending(),
    ));
    observer
        .wait("online", Duration::from_secs(10), |o| {
            o.last("gridlet/status").as_deref() == Some("online")
        })
        .await;
    // Gone without a DISCONNECT, as when the process is killed: the broker sends the will.
    front.abort();
    observer
        .wait("the last will", Duration::from_secs(10), |o| {
            o.last("gridlet/status").as_deref() == Some("offline")
        })
        .await;
    broker.stop().await;
}
