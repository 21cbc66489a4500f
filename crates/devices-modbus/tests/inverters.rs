//! The commanded Modbus devices against pymodbus playing them (`tests/pymodbus/inverters.py`,
//! register maps written independently from ../shared), over Modbus TCP and over Modbus RTU on a
//! socat pty pair: SunSpec (discovery, meter 203, inverter 103 with 123 or 704, storage 124),
//! Huawei SUN2000 (derating, feed-in limit, LUNA battery, meter read-back), Sungrow SH (EMS mode).
//! Also their safe behaviour: stale set-points are replaced by the safe ones within the set-point
//! timeout, a lost controller lets the SunSpec device revert by itself, a device that stops
//! answering is reported and read again when it returns, garbage is reported with its reason.
//!
//! Needs pymodbus in a venv (`/var/cache/gridlet/pymodbus-venv` or `$GRIDLET_PYMODBUS_VENV`) and
//! socat, installed by `.ci/run`; without them the tests say why and pass, unless `CI=true`.

#![allow(clippy::unwrap_used)] // A failing unwrap is a failing test.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use devices::{
    Converter as _, ConverterCommand, GridMeter as _, Health, Monitored as _, PvInverter as _,
};
use devices_modbus::{InverterKind, InverterParams, ModbusDevice};
use tokio::process::{Child, Command};

#[path = "support/peers.rs"]
mod peers;
use peers::{Ptys, free_port, ptys, python, serving};
use units::{Clock as _, Watts};

/// A pymodbus device and, for RTU, its socat pty pair.
struct Peer {
    server: Option<Child>,
    _ptys: Option<Ptys>,
    python: PathBuf,
    args: Vec<String>,
    state: PathBuf,
    values: PathBuf,
    /// The `modbus = { ... }` of our side.
    modbus: String,
    _dir: tempfile::TempDir,
}

impl Peer {
    async fn start(
        python: PathBuf,
        device: &str,
        rtu: bool,
        extra: &[&str],
        values: serde_json::Value,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        let values_file = dir.path().join("values.json");
        std::fs::write(&values_file, values.to_string()).unwrap();
        let mut args = vec![
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/pymodbus/inverters.py")
                .to_string_lossy()
                .into_owned(),
            device.to_owned(),
            "--unit".into(),
            "3".into(),
            "--state".into(),
            state.to_string_lossy().into_owned(),
            "--values".into(),
            values_file.to_string_lossy().into_owned(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let (ptys, modbus) = if rtu {
            let p = ptys(dir.path()).await;
            args.extend(["--rtu".to_owned(), p.b.to_string_lossy().into_owned()]);
            let modbus = format!("rtu = \"{}\", unit = 3", p.a.display());
            (Some(p), modbus)
        } else {
            let addr = format!("127.0.0.1:{}", free_port());
            args.extend(["--tcp".to_owned(), addr.clone()]);
            (None, format!("tcp = \"{addr}\", unit = 3"))
        };
        let mut peer = Self {
            server: None,
            _ptys: ptys,
            python,
            args,
            state,
            values: values_file,
            modbus,
            _dir: dir,
        };
        peer.serve().await;
        peer
    }

    async fn serve(&mut self) {
        let mut c = Command::new(&self.python);
        c.args(&self.args);
        self.server = Some(serving(c).await);
    }

    async fn stop(&mut self) {
        if let Some(mut c) = self.server.take() {
            c.kill().await.unwrap();
        }
    }

    /// Changes the device's readings (Huawei): the server reads the values file again.
    fn set(&self, values: serde_json::Value) {
        let tmp = self.values.with_extension("tmp");
        std::fs::write(&tmp, values.to_string()).unwrap();
        std::fs::rename(&tmp, &self.values).unwrap();
    }

    fn state(&self) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(&self.state).unwrap()).unwrap()
    }

    fn reg(&self, addr: u16) -> i64 {
        self.state()["regs"][addr.to_string()]
            .as_i64()
            .unwrap_or(-1)
    }

    /// Waits up to `within` for `cond` on the state file.
    async fn until(&self, within: Duration, what: &str, cond: impl Fn(&Self) -> bool) {
        let t0 = tokio::time::Instant::now();
        while t0.elapsed() < within {
            if cond(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{what} not within {within:?}: {}", self.state());
    }

    fn open(&self, kind: InverterKind, extra: &str) -> ModbusDevice {
        let rating = match kind {
            InverterKind::SunSpecStorage | InverterKind::HuaweiLuna | InverterKind::SungrowSh => {
                "max_charge_w = 5000\nmax_discharge_w = 5000\n"
            }
            _ => "",
        };
        let params: InverterParams = toml::from_str(&format!(
            "modbus = {{ {} }}\npoll = \"200ms\"\nsetpoint_timeout = \"1s\"\n{rating}{extra}",
            self.modbus
        ))
        .unwrap();
        params
            .open(
                "dut",
                kind,
                Arc::new(units::SystemClock::new()),
                Duration::from_secs(5),
            )
            .unwrap()
    }
}

async fn until<T>(
    within: Duration,
    what: &str,
    dev: &ModbusDevice,
    f: impl Fn(&ModbusDevice) -> Option<T>,
) -> T {
    let t0 = tokio::time::Instant::now();
    while t0.elapsed() < within {
        if let Some(x) = f(dev) {
            return x;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let clock = units::SystemClock::new();
    panic!(
        "{what} not within {within:?}: {:?}",
        dev.device_status(clock.now())
    );
}

fn now() -> units::Timestamp {
    units::SystemClock::new().now()
}

/// Registers of the SunSpec image at base 40000: 1 (L 66) at 40002, 103 (L 50) at 40070, the
/// controls (123 L 24 or 704 L 59) at 40122, then 124 and 203.
const CONTROLS: u16 = 40122;
const fn m124(controls_len: u16) -> u16 {
    CONTROLS + 2 + controls_len
}

async fn sunspec_meter(test: &str, rtu: bool) {
    let Some(py) = python(test, rtu) else { return };
    let peer = Peer::start(py, "sunspec", rtu, &[], serde_json::json!({})).await;
    let meter = peer.open(InverterKind::SunSpecMeter, "");
    let r = until(Duration::from_secs(10), "a reading", &meter, |m| {
        m.reading()
    })
    .await;
    assert_eq!(r.value.power_w.0, -1234.5);
    assert_eq!(
        r.value.phases_w.unwrap().map(|w| w.0),
        [-400.0, -434.5, -400.0]
    );
    assert_eq!(r.value.import_wh.unwrap().0, 4_321_500.0);
    assert_eq!(r.value.export_wh.unwrap().0, 1_234_250.0);
    let v = meter.values().unwrap().value.meter.unwrap();
    use devices_modbus::Field;
    assert_eq!(v.get(Field::Frequency), Some(50.06));
    assert!((v.get(Field::VoltageL2).unwrap() - 229.3).abs() < 1e-9);
    assert_eq!(v.get(Field::VoltageL3), None, "0x8000: not implemented");
    assert_eq!(meter.device_status(now()).health, Health::Ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sunspec_meter_over_tcp() {
    sunspec_meter("sunspec_meter_over_tcp", false).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sunspec_meter_over_rtu() {
    sunspec_meter("sunspec_meter_over_rtu", true).await;
}

/// The feed-in limit through model 123, the fallback when set-points stop, and the inverter's
/// own revert when gridlet is gone.
async fn sunspec_inverter_123(test: &str, rtu: bool) {
    let Some(py) = python(test, rtu) else { return };
    // The marker at 0 too (a second image is not there): discovery must find it at 40000.
    let peer = Peer::start(py, "sunspec", rtu, &[], serde_json::json!({})).await;
    let mut inv = peer.open(
        InverterKind::SunSpecInverter,
        "rated_w = 8000\nrevert_timeout = \"2s\"\n",
    );
    let s = until(Duration::from_secs(10), "a status", &inv, |d| {
        devices::PvInverter::status(d)
    })
    .await;
    assert_eq!(s.value.power_w.0, 2345.6);
    assert_eq!(s.value.energy_wh.unwrap().0, 12_345_678.0);
    assert_eq!(s.value.limit_w, None);
    let v = inv.values().unwrap().value;
    assert_eq!((v.pv_power_w, v.dc_voltage_v), (Some(2500.0), Some(400.0)));
    assert_eq!(
        (v.running, v.fault),
        (Some(true), false),
        "St 4 (MPPT), Conn 1"
    );
    // 3000 W of 8000 W = 37.5 %, WMaxLimPct_SF −1: 375; revert after 2 s; enabled.
    let ena = CONTROLS + 9;
    inv.set_limit(now(), Some(Watts(3000.0))).unwrap();
    peer.until(Duration::from_secs(10), "the limit", |p| p.reg(ena) == 1)
        .await;
    assert_eq!(peer.reg(CONTROLS + 5), 375);
    assert_eq!(peer.reg(CONTROLS + 7), 2);
    inv.set_limit(now(), Some(Watts(3000.0))).unwrap();
    let s = until(Duration::from_secs(10), "the limit read back", &inv, |d| {
        devices::PvInverter::status(d).and_then(|s| s.value.limit_w)
    })
    .await;
    assert_eq!(s.0, 3000.0);
    // The controller stops: after the 1 s set-point timeout the fallback (unlimited) is written.
    let t0 = tokio::time::Instant::now();
    peer.until(Duration::from_secs(10), "the fallback", |p| p.reg(ena) == 0)
        .await;
    assert!(
        !peer.state()["reverted"].as_bool().unwrap(),
        "we lifted it, not the revert"
    );
    eprintln!(
        "{test}: fallback written {:?} after the last set-point",
        t0.elapsed()
    );
    // Limited again, then gridlet is gone: the inverter reverts by itself after 2 s.
    inv.set_limit(now(), Some(Watts(0.0))).unwrap();
    peer.until(Duration::from_secs(10), "the limit", |p| p.reg(ena) == 1)
        .await;
    assert_eq!(peer.reg(CONTROLS + 5), 0);
    drop(inv);
    peer.until(Duration::from_secs(10), "the revert", |p| {
        p.reg(ena) == 0 && p.state()["reverted"].as_bool().unwrap()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sunspec_inverter_123_over_tcp() {
    sunspec_inverter_123("sunspec_inverter_123_over_tcp", false).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sunspec_inverter_123_over_rtu() {
    sunspec_inverter_123("sunspec_inverter_123_over_rtu", true).await;
}

/// Model 704 is preferred over 123 where present; the marker at 50000.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sunspec_inverter_704_at_50000() {
    let Some(py) = python("sunspec_inverter_704_at_50000", false) else {
        return;
    };
    let peer = Peer::start(
        py,
        "sunspec",
        false,
        &["--controls", "704", "--base", "50000"],
        serde_json::json!({}),
    )
    .await;
    let mut inv = peer.open(
        InverterKind::SunSpecInverter,
        "rated_w = 8000\nrevert_timeout = \"3s\"\n",
    );
    until(Duration::from_secs(10), "a status", &inv, |d| {
        devices::PvInverter::status(d)
    })
    .await;
    let c = CONTROLS - 40000 + 50000;
    inv.set_limit(now(), Some(Watts(2000.0))).unwrap();
    peer.until(Duration::from_secs(10), "the limit", |p| p.reg(c + 14) == 1)
        .await;
    // 25 % at WMaxLimPct_SF −2; revert value 100 %, revert disables, after 3 s.
    assert_eq!(peer.reg(c + 15), 2500);
    assert_eq!(peer.reg(c + 16), 10000);
    assert_eq!(peer.reg(c + 17), 0);
    assert_eq!((peer.reg(c + 18), peer.reg(c + 19)), (0, 3));
    inv.set_limit(now(), None).unwrap();
    peer.until(Duration::from_secs(10), "no limit", |p| p.reg(c + 14) == 0)
        .await;
}

async fn sunspec_storage(test: &str, rtu: bool) {
    let Some(py) = python(test, rtu) else { return };
    let peer = Peer::start(py, "sunspec", rtu, &[], serde_json::json!({})).await;
    let mut bat = peer.open(InverterKind::SunSpecStorage, "");
    let m = m124(24);
    until(Duration::from_secs(10), "values", &bat, |d| d.values()).await;
    assert_eq!(bat.values().unwrap().value.soc_pct, Some(55.5));
    // +2500 W of WChaMax 5000 W: InWRte 50.0 %, OutWRte −50.0 % (SF −1), both limits active.
    bat.command(
        now(),
        ConverterCommand {
            enabled: true,
            power_w: Watts(2500.0),
        },
    )
    .unwrap();
    let st = until(Duration::from_secs(10), "charging", &bat, |d| {
        devices::Converter::status(d).filter(|s| s.value.power_w.0 > 0.0)
    })
    .await;
    assert_eq!(st.value.power_w.0, 2500.0);
    assert_eq!(peer.reg(m + 13), 500);
    assert_eq!(peer.reg(m + 12), i64::from((-500i16).cast_unsigned()));
    assert_eq!((peer.reg(m + 5), peer.reg(m + 15)), (3, 30));
    // Stale: 0 W within the set-point timeout.
    peer.until(Duration::from_secs(10), "0 W", |p| {
        p.reg(m + 13) == 0 && p.reg(m + 12) == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sunspec_storage_over_tcp() {
    sunspec_storage("sunspec_storage_over_tcp", false).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sunspec_storage_over_rtu() {
    sunspec_storage("sunspec_storage_over_rtu", true).await;
}

async fn huawei(test: &str, rtu: bool) {
    let Some(py) = python(test, rtu) else { return };
    let peer = Peer::start(py, "huawei", rtu, &[], serde_json::json!({})).await;
    let t0 = tokio::time::Instant::now();
    let mut pv = peer.open(
        InverterKind::HuaweiSun2000,
        "rated_w = 10000\nfeed_in_limit_w = 0\nconnect_delay = \"500ms\"\n",
    );
    // The feed-in limit (mode 6, 0 W) and no derating (10000 W) are written once connected.
    peer.until(Duration::from_secs(10), "the feed-in limit", |p| {
        p.reg(47415) == 6
    })
    .await;
    assert!(
        t0.elapsed() >= Duration::from_millis(500),
        "the quiet time after connecting"
    );
    assert_eq!((peer.reg(47416), peer.reg(47417)), (0, 0));
    assert_eq!((peer.reg(40126), peer.reg(40127)), (0, 10000));
    // The AC output is 32080's, and follows it.
    let s = until(Duration::from_secs(10), "a status", &pv, |d| {
        devices::PvInverter::status(d)
    })
    .await;
    assert_eq!(s.value.power_w.0, 4321.0);
    assert_eq!(s.value.rated_w.0, 10000.0);
    peer.set(serde_json::json!({"32080": 6789}));
    until(Duration::from_secs(10), "the new output", &pv, |d| {
        devices::PvInverter::status(d).filter(|s| s.value.power_w.0 == 6789.0)
    })
    .await;
    pv.set_limit(now(), Some(Watts(70000.0 / 10.0))).unwrap();
    peer.until(Duration::from_secs(10), "the derating", |p| {
        p.reg(40127) == 7000
    })
    .await;
    peer.until(Duration::from_secs(10), "the fallback", |p| {
        p.reg(40127) == 10000
    })
    .await;
    assert_eq!(pv.device_status(now()).health, Health::Ok);
    drop(pv);

    let meter = peer.open(InverterKind::HuaweiMeter, "connect_delay = \"0s\"\n");
    let r = until(Duration::from_secs(10), "a reading", &meter, |m| {
        m.reading()
    })
    .await;
    assert_eq!(r.value.power_w.0, -1500.0, "37113 counts export positive");
    drop(meter);

    let mut luna = peer.open(InverterKind::HuaweiLuna, "connect_delay = \"0s\"\n");
    luna.command(
        now(),
        ConverterCommand {
            enabled: true,
            power_w: Watts(-2000.0),
        },
    )
    .unwrap();
    peer.until(Duration::from_secs(10), "discharging", |p| {
        p.reg(47100) == 2 && p.reg(47250) == 2000
    })
    .await;
    // The status is the battery's reading (37765: 1800 W out, 37760: 55.5 %), not the 2000 W
    // set-point.
    let st = until(Duration::from_secs(10), "discharging", &luna, |d| {
        devices::Converter::status(d).filter(|s| s.value.enabled)
    })
    .await;
    assert_eq!(st.value.power_w.0, -1800.0);
    assert_eq!(luna.values().unwrap().value.soc_pct, Some(55.5));
    luna.command(
        now(),
        ConverterCommand {
            enabled: true,
            power_w: Watts(1500.0),
        },
    )
    .unwrap();
    peer.until(Duration::from_secs(10), "charging", |p| {
        p.reg(47100) == 1 && p.reg(47248) == 1500
    })
    .await;
    // Huawei's + = charging is ours.
    peer.set(serde_json::json!({"37765": 1480, "37760": 612}));
    let st = until(Duration::from_secs(10), "charging", &luna, |d| {
        devices::Converter::status(d).filter(|s| s.value.power_w.0 > 0.0)
    })
    .await;
    assert_eq!(st.value.power_w.0, 1480.0);
    assert_eq!(luna.values().unwrap().value.soc_pct, Some(61.2));
    // Stale: stop.
    peer.until(Duration::from_secs(10), "stop", |p| p.reg(47100) == 0)
        .await;

    // Garbage: a state of charge of 100.1 %, then an exception at 37765. Each is reported with
    // its reason, the last good reading keeps its stamp (it goes stale), and the device is read
    // again once it answers sensibly.
    let error = |want: &'static str| {
        move |d: &ModbusDevice| {
            let s = d.device_status(now());
            s.reason
                .filter(|r| s.health == Health::Error && r.contains(want))
        }
    };
    let good = devices::Converter::status(&luna).unwrap().at;
    peer.set(serde_json::json!({"37760": 1001}));
    let r = until(
        Duration::from_secs(10),
        "the bad SoC",
        &luna,
        error("37760"),
    )
    .await;
    assert!(r.contains("100.1 %, outside 0..=100"), "{r}");
    assert_eq!(devices::Converter::status(&luna).unwrap().at, good);
    peer.set(serde_json::json!({"37760": 600, "fail": [37765]}));
    let r = until(
        Duration::from_secs(10),
        "the exception",
        &luna,
        error("exception"),
    )
    .await;
    assert!(r.contains("37760+7"), "{r}");
    assert_eq!(devices::Converter::status(&luna).unwrap().at, good);
    peer.set(serde_json::json!({"37760": 600, "37765": -250, "fail": []}));
    let st = until(Duration::from_secs(10), "the recovery", &luna, |d| {
        devices::Converter::status(d).filter(|s| s.at > good)
    })
    .await;
    assert_eq!(st.value.power_w.0, -250.0);
    assert_eq!(luna.values().unwrap().value.soc_pct, Some(60.0));
    assert_eq!(luna.device_status(now()).health, Health::Ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huawei_over_tcp() {
    huawei("huawei_over_tcp", false).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huawei_over_rtu() {
    huawei("huawei_over_rtu", true).await;
}

async fn sungrow(test: &str, rtu: bool) {
    let Some(py) = python(test, rtu) else { return };
    let peer = Peer::start(py, "sungrow", rtu, &[], serde_json::json!({})).await;
    let mut sh = peer.open(InverterKind::SungrowSh, "");
    let (mode, cmd, power) = (13049, 13050, 13051);
    // Safe from the start: compulsory mode, stop, 0 W.
    peer.until(Duration::from_secs(10), "stop", |p| {
        p.reg(mode) == 2 && p.reg(cmd) == 0xCC
    })
    .await;
    sh.command(
        now(),
        ConverterCommand {
            enabled: true,
            power_w: Watts(3000.0),
        },
    )
    .unwrap();
    let st = until(Duration::from_secs(10), "charging", &sh, |d| {
        devices::Converter::status(d).filter(|s| s.value.power_w.0 > 0.0)
    })
    .await;
    assert_eq!((peer.reg(cmd), peer.reg(power)), (0xAA, 3000));
    assert_eq!(st.value.power_w.0, 3000.0);
    assert!(st.value.enabled, "Forced Run");
    assert_eq!(st.value.dc_voltage_v.unwrap().0, 399.5);
    sh.command(
        now(),
        ConverterCommand {
            enabled: true,
            power_w: Watts(-1000.0),
        },
    )
    .unwrap();
    peer.until(Duration::from_secs(10), "discharging", |p| {
        p.reg(cmd) == 0xBB && p.reg(power) == 1000
    })
    .await;
    // Shutdown: the safe state counts as held only once the device has acknowledged it and
    // been read since; the status before that is the discharging one.
    devices::Converter::safe_state(&mut sh, now()).unwrap();
    assert!(!devices::Converter::safe_state_held(&sh), "not written yet");
    until(Duration::from_secs(10), "the safe state held", &sh, |d| {
        devices::Converter::safe_state_held(d).then_some(())
    })
    .await;
    assert_eq!((peer.reg(cmd), peer.reg(power)), (0xCC, 0), "written first");
    let st = devices::Converter::status(&sh).unwrap();
    assert!(!st.value.enabled, "read after the write: {st:?}");
    assert_eq!(st.value.power_w.0, 0.0);
    sh.command(
        now(),
        ConverterCommand {
            enabled: true,
            power_w: Watts(-1000.0),
        },
    )
    .unwrap();
    peer.until(Duration::from_secs(10), "discharging again", |p| {
        p.reg(cmd) == 0xBB && p.reg(power) == 1000
    })
    .await;
    assert!(!devices::Converter::safe_state_held(&sh), "commanded again");
    sh.command(
        now(),
        ConverterCommand {
            enabled: false,
            power_w: Watts(-1000.0),
        },
    )
    .unwrap();
    peer.until(Duration::from_secs(10), "disabled", |p| {
        p.reg(cmd) == 0xCC && p.reg(power) == 0
    })
    .await;
    sh.command(
        now(),
        ConverterCommand {
            enabled: true,
            power_w: Watts(500.0),
        },
    )
    .unwrap();
    peer.until(Duration::from_secs(10), "charging", |p| p.reg(cmd) == 0xAA)
        .await;
    peer.until(Duration::from_secs(10), "stale: stop", |p| {
        p.reg(cmd) == 0xCC
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sungrow_over_tcp() {
    sungrow("sungrow_over_tcp", false).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sungrow_over_rtu() {
    sungrow("sungrow_over_rtu", true).await;
}

/// A device that stops answering is reported within 5 s and read again, by itself, once it
/// answers again; meanwhile its battery set-point is stale and the first write after the return
/// is the safe one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_device_is_reported_and_recovers() {
    let Some(py) = python("a_lost_device_is_reported_and_recovers", false) else {
        return;
    };
    let mut peer = Peer::start(py, "sungrow", false, &[], serde_json::json!({})).await;
    let mut sh = peer.open(InverterKind::SungrowSh, "");
    sh.command(
        now(),
        ConverterCommand {
            enabled: true,
            power_w: Watts(3000.0),
        },
    )
    .unwrap();
    peer.until(Duration::from_secs(10), "charging", |p| {
        p.reg(13050) == 0xAA
    })
    .await;
    peer.stop().await;
    let t0 = tokio::time::Instant::now();
    let status = until(Duration::from_secs(10), "the error", &sh, |d| {
        Some(d.device_status(now())).filter(|s| s.health == Health::Error)
    })
    .await;
    eprintln!(
        "lost device reported after {:?}: {:?}",
        t0.elapsed(),
        status.reason
    );
    assert!(status.reason.unwrap().contains("connect"), "names the link");
    peer.serve().await;
    until(Duration::from_secs(8), "the recovery", &sh, |d| {
        Some(()).filter(|()| d.device_status(now()).health == Health::Ok)
    })
    .await;
    // The server restarted with its defaults; the set-point is stale by now: stop is written.
    peer.until(Duration::from_secs(10), "stop", |p| {
        p.reg(13050) == 0xCC && p.state()["writes"].as_i64().unwrap() > 0
    })
    .await;
}

/// Garbage is reported with its reason: no SunSpec marker, a scale factor out of range, a
/// not-implemented total power.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_reported_with_its_reason() {
    let Some(py) = python("garbage_is_reported_with_its_reason", false) else {
        return;
    };
    let error = |want: &'static str| {
        move |d: &ModbusDevice| {
            let s = d.device_status(now());
            s.reason
                .filter(|r| s.health == Health::Error && r.contains(want))
        }
    };
    let peer = Peer::start(
        py.clone(),
        "sunspec",
        false,
        &[],
        serde_json::json!({"marker": 0}),
    )
    .await;
    let meter = peer.open(InverterKind::SunSpecMeter, "");
    let r = until(
        Duration::from_secs(10),
        "no marker",
        &meter,
        error("no SunSpec marker"),
    )
    .await;
    assert!(r.contains("40000, 0, 50000"), "{r}");
    drop(meter);
    let peer = Peer::start(
        py.clone(),
        "sunspec",
        false,
        &[],
        serde_json::json!({"203.W_SF": 12}),
    )
    .await;
    let meter = peer.open(InverterKind::SunSpecMeter, "");
    until(
        Duration::from_secs(10),
        "a bad scale factor",
        &meter,
        error("out of"),
    )
    .await;
    assert!(meter.reading().is_none());
    drop(meter);
    let peer = Peer::start(
        py.clone(),
        "sunspec",
        false,
        &[],
        serde_json::json!({"203.W": 0x8000, "203.WphA": 0x8000}),
    )
    .await;
    let meter = peer.open(InverterKind::SunSpecMeter, "");
    until(
        Duration::from_secs(10),
        "W not implemented",
        &meter,
        error("W is not implemented"),
    )
    .await;
    drop(meter);
}

/// A SunSpec meter that stops answering: its reading keeps its old stamp (the controller's
/// `meter_timeout` stops regulation on that), the health says error within 5 s, and readings
/// come back by themselves, with discovery run again on the new connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_sunspec_meter_keeps_its_stamp_and_recovers() {
    let Some(py) = python("a_lost_sunspec_meter_keeps_its_stamp_and_recovers", false) else {
        return;
    };
    let mut peer = Peer::start(py, "sunspec", false, &[], serde_json::json!({})).await;
    let meter = peer.open(InverterKind::SunSpecMeter, "");
    until(Duration::from_secs(10), "a reading", &meter, |m| {
        m.reading()
    })
    .await;
    peer.stop().await;
    let t0 = tokio::time::Instant::now();
    until(Duration::from_secs(10), "the error", &meter, |d| {
        Some(()).filter(|()| d.device_status(now()).health == Health::Error)
    })
    .await;
    eprintln!("lost meter reported after {:?}", t0.elapsed());
    let last = meter.reading().unwrap().at;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        meter.reading().unwrap().at,
        last,
        "no new stamp while it is silent"
    );
    peer.serve().await;
    let r = until(Duration::from_secs(8), "a new reading", &meter, |m| {
        m.reading().filter(|r| r.at > last)
    })
    .await;
    assert_eq!(r.value.power_w.0, -1234.5);
    assert_eq!(meter.device_status(now()).health, Health::Ok);
}
