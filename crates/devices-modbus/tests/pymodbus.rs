//! Each Modbus device against pymodbus playing its peer, over Modbus TCP, over Modbus RTU on a
//! socat pty pair and over RTU frames on TCP (serial-to-Ethernet converters): the meters
//! (pymodbus serves the register map, written independently in `tests/pymodbus/peer.py`) and the
//! DTSU666-H emulation (pymodbus polls it as a SUN2000 does).
//!
//! Needs pymodbus in a venv (`/var/cache/gridlet/pymodbus-venv` or `$GRIDLET_PYMODBUS_VENV`) and
//! socat, installed by `.ci/run`; without them the tests say why and pass, unless `CI=true`.

#![allow(clippy::unwrap_used)] // A failing unwrap is a failing test.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use devices::{GridMeter as _, Health, Monitored as _, Stamped};
use devices_modbus::{
    EmulationParams, Field, MeterEmulation, MeterParams, MeterSource, MeterValues, ModbusMeter,
};
use tokio::process::{Child, Command};

#[path = "support/peers.rs"]
mod peers;
use peers::{free_port, ptys, python, serving};
use units::Clock as _;

fn peer() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pymodbus/peer.py")
}

/// Starts pymodbus as a meter server; returns when it serves.
async fn meter_server(python: &Path, model: &str, link: &[&str], unit: u8, values: &Path) -> Child {
    let mut c = Command::new(python);
    c.arg(peer())
        .args(["server", model])
        .args(link)
        .args(["--unit", &unit.to_string(), "--values"])
        .arg(values);
    serving(c).await
}

fn readings() -> serde_json::Value {
    serde_json::json!({
        "power": -1234.5, "power_l1": -400.0, "power_l2": -434.5, "power_l3": -400.0,
        "voltage_l1": 230.5, "voltage_l2": 229.25, "voltage_l3": 231.75,
        "current_l1": 1.75, "current_l2": 1.875, "current_l3": 1.75,
        "frequency": 50.0625, "import_kwh": 4321.5, "export_kwh": 1234.25,
    })
}

async fn meter_reads_its_peer(test: &str, model: &str, transport: &str) {
    let rtu = transport == "rtu";
    let Some(python) = python(test, rtu) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let values = dir.path().join("values.json");
    std::fs::write(&values, readings().to_string()).unwrap();
    let mut _ptys = None;
    let (_server, modbus) = if rtu {
        let p = ptys(dir.path()).await;
        let b = p.b.to_string_lossy().into_owned();
        let server = meter_server(&python, model, &["--rtu", &b], 7, &values).await;
        let modbus = format!("rtu = \"{}\", unit = 7", p.a.display());
        _ptys = Some(p);
        (server, modbus)
    } else if transport == "rtu-over-tcp" {
        let addr = format!("127.0.0.1:{}", free_port());
        let link = ["--rtu-over-tcp", addr.as_str()];
        let server = meter_server(&python, model, &link, 7, &values).await;
        (server, format!("rtu_over_tcp = \"{addr}\", unit = 7"))
    } else {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let server = meter_server(&python, model, &["--tcp", &addr], 7, &values).await;
        (server, format!("tcp = \"{addr}\", unit = 7"))
    };
    let params: MeterParams = toml::from_str(&format!("modbus = {{ {modbus} }}\n")).unwrap();
    let clock = Arc::new(units::SystemClock::new());
    let meter = ModbusMeter::open(
        "grid_meter",
        model,
        &params,
        clock.clone(),
        Duration::from_secs(5),
    )
    .unwrap();
    let mut got = None;
    for _ in 0..150 {
        if let Some(r) = meter.reading() {
            got = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = meter.device_status(clock.now());
    let r = got.unwrap_or_else(|| panic!("{model}: no reading: {status:?}"));
    assert_eq!(status.health, Health::Ok, "{status:?}");
    assert_eq!(r.value.power_w.0, -1234.5);
    assert_eq!(r.value.import_wh.map(|e| e.0), Some(4_321_500.0));
    assert_eq!(r.value.export_wh.map(|e| e.0), Some(1_234_250.0));
    let phases = r.value.phases_w.map(|p| p.map(|w| w.0));
    assert_eq!(phases, Some([-400.0, -434.5, -400.0]));
    let v = meter.handle().values().unwrap().value;
    // Scaled tables (the DTSU666's 0.1 V) round-trip through float32 within a hair.
    let close = |f: Field, x: f64| {
        let got = v.get(f).unwrap_or(f64::NAN);
        assert!((got - x).abs() < 1e-3, "{model} {f}: {got} != {x}");
    };
    close(Field::VoltageL2, 229.25);
    close(Field::CurrentL2, 1.875);
    close(Field::Frequency, 50.0625);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdm630_over_tcp() {
    meter_reads_its_peer("sdm630_over_tcp", "sdm630", "tcp").await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdm630_over_rtu() {
    meter_reads_its_peer("sdm630_over_rtu", "sdm630", "rtu").await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdm72_over_tcp() {
    meter_reads_its_peer("sdm72_over_tcp", "sdm72", "tcp").await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdm72_over_rtu() {
    meter_reads_its_peer("sdm72_over_rtu", "sdm72", "rtu").await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dtsu666_over_tcp() {
    meter_reads_its_peer("dtsu666_over_tcp", "dtsu666", "tcp").await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dtsu666_over_rtu() {
    meter_reads_its_peer("dtsu666_over_rtu", "dtsu666", "rtu").await;
}

/// A source with fixed values, always fresh.
#[derive(Debug)]
struct Fixed(Arc<units::SystemClock>);

impl MeterSource for Fixed {
    fn values(&self) -> Option<Stamped<MeterValues>> {
        let mut v = MeterValues::default();
        for (k, x) in readings().as_object().unwrap() {
            let f: Field = serde_json::from_value(serde_json::json!(k)).unwrap();
            v.set(f, x.as_f64().unwrap());
        }
        Some(Stamped::new(self.0.now(), v))
    }
}

async fn huawei_polls_the_emulation(test: &str, rtu: bool) {
    huawei_polls(test, if rtu { "rtu" } else { "tcp" }).await;
}

async fn huawei_polls(test: &str, transport: &str) {
    let rtu = transport == "rtu";
    let Some(python) = python(test, rtu) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut _ptys = None;
    let (modbus, peer_link) = if rtu {
        let p = ptys(dir.path()).await;
        let link = (
            format!("rtu = \"{}\"", p.a.display()),
            vec!["--rtu".to_owned(), p.b.to_string_lossy().into_owned()],
        );
        _ptys = Some(p);
        link
    } else if transport == "rtu-over-tcp" {
        let addr = format!("127.0.0.1:{}", free_port());
        (
            format!("rtu_over_tcp_listen = \"{addr}\""),
            vec!["--rtu-over-tcp".to_owned(), addr],
        )
    } else if transport == "udp" {
        let addr = format!("127.0.0.1:{}", free_port());
        (
            format!("udp_listen = \"{addr}\""),
            vec!["--udp".to_owned(), addr],
        )
    } else {
        let addr = format!("127.0.0.1:{}", free_port());
        (
            format!("tcp_listen = \"{addr}\""),
            vec!["--tcp".to_owned(), addr],
        )
    };
    // The default unit: 11, as the inverter expects.
    let params: EmulationParams = toml::from_str(&format!(
        "source = \"grid_meter\"\nmodbus = {{ {modbus} }}\n"
    ))
    .unwrap();
    let clock = Arc::new(units::SystemClock::new());
    let emulation = MeterEmulation::open(
        "meter_emulation.huawei",
        "dtsu666-h",
        &params,
        Arc::new(Fixed(clock.clone())),
        clock.clone(),
    )
    .unwrap();
    let out = Command::new(&python)
        .arg(peer())
        .arg("huawei")
        .args(&peer_link)
        .args(["--unit", "11", "--rounds", "3"])
        .output()
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&out.stdout);
    let rounds: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rounds.len(), 3, "{out}");
    for r in &rounds {
        assert!(r.get("error").is_none(), "{r}");
        for (k, v) in readings().as_object().unwrap() {
            assert_eq!(&r[k], v, "{k}: {r}");
        }
        assert_eq!(r["r2001"], 3);
        assert_eq!(
            r["r2214"],
            serde_json::json!([0, 0, 0, 0, 1, 1, 3, 11, 1, 1])
        );
    }
    assert_eq!(emulation.device_status(clock.now()).health, Health::Ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dtsu666_h_emulation_over_tcp() {
    huawei_polls_the_emulation("dtsu666_h_emulation_over_tcp", false).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dtsu666_h_emulation_over_rtu() {
    huawei_polls_the_emulation("dtsu666_h_emulation_over_rtu", true).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dtsu666_h_emulation_over_udp() {
    huawei_polls("dtsu666_h_emulation_over_udp", "udp").await;
}

/// A serial-to-Ethernet converter's RTU frames on TCP: our client against pymodbus's RTU framer
/// on a TCP server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdm630_over_rtu_over_tcp() {
    meter_reads_its_peer("sdm630_over_rtu_over_tcp", "sdm630", "rtu-over-tcp").await;
}
/// `rtu_over_tcp_listen`: pymodbus's TCP client with the RTU framer polls as a SUN2000 behind
/// a converter would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dtsu666_h_emulation_over_rtu_over_tcp() {
    huawei_polls("dtsu666_h_emulation_over_rtu_over_tcp", "rtu-over-tcp").await;
}
