//! The meters' tokio tasks against peers on loopback: an SMA meter sending unicast (the serial
//! filter, garbage, a second meter on the same port), and an MQTT meter whose broker goes away
//! and comes back (mosquitto; without it the MQTT test says why and passes, unless `CI=true`).

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use devices::{GridMeter as _, Health, Monitored as _};
use devices_meters::speedwire::emeter_datagram;
use devices_meters::{Measurements, MqttParams, NetMeter, SmaEmParams};
use units::{Clock, SystemClock};

fn reading(power_w: f64) -> Measurements {
    Measurements {
        power_w,
        import_wh: Some(1000.0),
        export_wh: Some(2000.0),
        ..Measurements::default()
    }
}

/// Waits (real time, bounded) until `check` holds for the meter.
async fn until(meter: &NetMeter, what: &str, check: impl Fn(&NetMeter) -> bool) {
    for _ in 0..100 {
        if check(meter) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let clock = SystemClock::new();
    panic!(
        "{what}: not within 5 s; {:?}",
        meter.device_status(clock.now())
    );
}

fn health(meter: &NetMeter) -> (Health, String) {
    let s = meter.device_status(SystemClock::new().now());
    (s.health, s.reason.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sma_meter_on_unicast_is_read_filtered_and_survives_garbage() {
    let port = UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free port")
        .port();
    let params = SmaEmParams {
        listen: format!("127.0.0.1:{port}").parse().expect("address"),
        multicast: false,
        serial: Some(42),
        ..SmaEmParams::default()
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let meter = NetMeter::sma_em("grid_meter", &params, clock, Duration::from_secs(5))
        .expect("opening the meter");
    let peer = UdpSocket::bind("127.0.0.1:0").expect("peer");
    let send = |b: &[u8]| {
        peer.send_to(b, ("127.0.0.1", port)).expect("send");
    };
    // The socket is bound by the task: send until the first datagram is heard.
    let other = emeter_datagram(7, 0, &reading(99.0)).to_bytes();
    for _ in 0..100 {
        send(&other);
        if health(&meter).1.contains("serial 7") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (h, reason) = health(&meter);
    assert_eq!(h, Health::Error);
    assert!(
        reason.contains("not from the configured serial 42"),
        "{reason}"
    );
    assert!(meter.reading().is_none());

    send(&emeter_datagram(42, 1000, &reading(-321.5)).to_bytes());
    until(&meter, "our meter's reading", |m| {
        m.reading().is_some_and(|r| r.value.power_w.0 == -321.5)
    })
    .await;
    assert_eq!(health(&meter).0, Health::Ok);
    let r = meter.handle().reading().expect("the handle reads the same");
    assert_eq!(r.value.export_wh.map(|e| e.0), Some(2000.0));

    send(b"SMA\0\x00\x04\x02\xa0\x00\x00\x00\x01\x00\x40\x00\x10");
    until(&meter, "garbage reported", |m| {
        health(m).1.contains("datagram truncated")
    })
    .await;
    // The last good reading stays, with its old stamp, for the controller to judge.
    assert_eq!(meter.reading().map(|r| r.value.power_w.0), Some(-321.5));
    send(&emeter_datagram(42, 2000, &reading(100.0)).to_bytes());
    until(&meter, "good again", |m| {
        health(m).0 == Health::Ok && m.reading().is_some_and(|r| r.value.power_w.0 == 100.0)
    })
    .await;
}

struct Broker(Child);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn broker(mosquitto: &str, conf: &Path) -> Broker {
    let child = Command::new(mosquitto)
        .arg("-c")
        .arg(conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting mosquitto");
    Broker(child)
}

fn publish(port: u16, payload: &str) -> bool {
    // mosquitto_pub may be missing where only the broker is installed: a raw MQTT 3.1.1
    // CONNECT + PUBLISH (QoS 0) instead.
    use std::io::{Read as _, Write as _};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let connect = [
        0x10, 14, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 2, b'p', b'1',
    ];
    let mut ack = [0u8; 4];
    if s.write_all(&connect).is_err() || s.read_exact(&mut ack).is_err() {
        return false;
    }
    let topic = b"/ebz/readings";
    let mut p = vec![
        0x30,
        u8::try_from(2 + topic.len() + payload.len()).expect("short"),
    ];
    p.extend_from_slice(&u16::try_from(topic.len()).expect("short").to_be_bytes());
    p.extend_from_slice(topic);
    p.extend_from_slice(payload.as_bytes());
    s.write_all(&p).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mqtt_meter_comes_back_with_its_broker() {
    let test = "an_mqtt_meter_comes_back_with_its_broker";
    let Some(mosquitto) = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        testkit::capability::missing(test, "mosquitto is not installed (see .ci/run)");
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free port")
        .port();
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\n"),
    )
    .expect("conf");
    let params = MqttParams {
        broker: format!("127.0.0.1:{port}"),
        ..MqttParams::default()
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let meter = NetMeter::mqtt("grid_meter", &params, clock, Duration::from_secs(5))
        .expect("opening the meter");
    // No broker yet: reported, not fatal.
    until(&meter, "no broker reported", |m| {
        health(m).1.contains("broker 127.0.0.1")
    })
    .await;
    let b = broker(mosquitto, &conf);
    let mut seen = false;
    for i in 0..100 {
        publish(port, &format!(r#"{{"ptotal": {i}.5, "etotal": 1.25}}"#));
        if meter.reading().is_some() {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen, "no reading: {:?}", health(&meter));
    assert_eq!(
        meter.reading().and_then(|r| r.value.import_wh).map(|e| e.0),
        Some(1250.0)
    );
    // The broker goes away and comes back: the meter resubscribes by itself.
    drop(b);
    until(&meter, "broker loss reported", |m| {
        health(m).0 == Health::Error
    })
    .await;
    let _b = broker(mosquitto, &conf);
    let mut back = false;
    for _ in 0..100 {
        publish(port, r#"{"ptotal": -42}"#);
        if meter.reading().is_some_and(|r| r.value.power_w.0 == -42.0) {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "not back: {:?}", health(&meter));
    assert_eq!(health(&meter).0, Health::Ok);
}
