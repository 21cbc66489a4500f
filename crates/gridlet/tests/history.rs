//! History as users run it: `gridlet sim --history FILE` killed with SIGKILL while it records,
//! restarted on the same store, which is intact and has lost at most the last 10 s; the
//! history, energy and metrics endpoints; the daemon's memory after a simulated week.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use history::{Store, Sync};
use units::Timestamp;

#[path = "support/daemon.rs"]
mod daemon;
use daemon::{Daemon, Killed, free_port, sim_example};

const BIN: &str = env!("CARGO_BIN_EXE_gridlet");

/// A GET: the status code and the body.
fn http(addr: SocketAddr, path: &str) -> (u16, String) {
    daemon::http(addr, "GET", path, "")
}

/// The site's time of the newest snapshot.
fn site_time(d: &Daemon) -> Timestamp {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, body) = http(d.addr, "/api/v1/status");
        if code == 200 {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            return Timestamp::parse_rfc3339(v["site"]["time"].as_str().unwrap()).unwrap();
        }
        assert!(Instant::now() < deadline, "no status: {code} {body}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn secs(t: Timestamp) -> i64 {
    t.as_unix_micros().div_euclid(1_000_000)
}

/// The store after a crash: intact, and its newest 10 s sample.
fn check_store(path: &Path) -> i64 {
    let store = Store::open_reader(path).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    store.newest().unwrap().expect("no samples stored")
}

/// A config: the built-in simulated site with `[history]` settings.
fn sim_config(dir: &Path, history: &str) -> String {
    let path = dir.join("sim.toml");
    let text = sim_example(BIN) + "\n[history]\n" + history;
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn a_killed_daemon_leaves_an_intact_store_missing_at_most_the_last_10_s() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("h.sqlite");
    let store_arg = store.to_str().unwrap();
    let sim = |speed: &str, extra: &[&str]| {
        let mut args = vec!["sim", "--speed", speed, "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        Daemon::start(&args)
    };

    // Real time: a commit follows each 10 s sample. Kill it 3 samples in.
    let d = sim("1", &["--history", store_arg]);
    let start = site_time(&d);
    while site_time(&d) < start + Duration::from_secs(32) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let before_kill = site_time(&d);
    let (status, _) = d.kill("KILL");
    assert!(!status.success());
    let newest = check_store(&store);
    // The newest sample covers [newest, newest + 10 s); what came after it is lost.
    let lost = secs(before_kill) - (newest + 10);
    println!("SIGKILL at real-time speed: the last {lost} s lost");
    // 10 s of the open sample, the tick between status and kill, a commit under way.
    assert!(lost <= 12, "lost {lost} s");
    assert!(newest >= secs(start), "nothing of this run stored");

    // 600 times real time, committing every second: kill it while it writes.
    let config = sim_config(
        dir.path(),
        &format!("path = {store_arg:?}\ncommit_every = \"1s\"\n"),
    );
    let d = sim("600", &["--config", &config]);
    let t0 = site_time(&d);
    while site_time(&d) < t0 + Duration::from_secs(3600) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let before_kill = site_time(&d);
    d.kill("KILL");
    let newest2 = check_store(&store);
    let lost = secs(before_kill) - (newest2 + 10);
    // One commit a second of wall time: some 600 s of simulated time at most.
    println!("SIGKILL at 600x with commits every second: the last {lost} simulated s lost");
    assert!(newest2 > secs(t0) && lost <= 2 * 600, "lost {lost} s");

    // A third run on the same store serves what the others recorded, and stops cleanly.
    let d = sim("1", &["--history", store_arg]);
    let now = secs(site_time(&d));
    let from = newest - 3600;
    let (code, body) = http(
        d.addr,
        &format!(
            "/api/v1/history?series=grid.power_w,battery.soc_pct&from={from}&to={}&step=10",
            newest2 + 10
        ),
    );
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["resolution"], "raw");
    let grid = &v["series"][0];
    assert_eq!(grid["series"], "grid.power_w");
    let t = grid["t"].as_array().unwrap();
    assert!(
        t.iter().any(|t| t.as_i64() == Some(newest)),
        "the first run's samples"
    );
    assert!(
        t.iter().any(|t| t.as_i64() == Some(newest2)),
        "the second run's samples"
    );
    // The second run's hour in 1 min and 15 min buckets.
    let (code, body) = http(
        d.addr,
        &format!(
            "/api/v1/history?series=battery.soc_pct&from={}&to={}&step=15m",
            secs(t0),
            newest2
        ),
    );
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["resolution"], "quarter");
    // The quarters wholly inside the hour (the one open at the kill was lost with it).
    assert!(v["series"][0]["t"].as_array().unwrap().len() >= 2, "{body}");
    let (code, csv) = http(
        d.addr,
        &format!("/api/v1/history?series=grid.power_w&from={from}&format=csv&step=60"),
    );
    assert_eq!(code, 200);
    assert!(csv.starts_with("time,series,mean,min,max\n"), "{csv}");
    assert!(
        csv.lines().nth(1).unwrap().contains(",grid.power_w,"),
        "{csv}"
    );
    // Bad parameters: 400 naming the parameter.
    for (q, expect) in [
        ("series=grid.power_w&step=1", "step:"),
        ("series=grid.power_w&from=yesterday", "from:"),
        ("from=1h", "series:"),
        ("series=x&format=xml", "format:"),
        ("series=x&colour=red", "unknown field"),
    ] {
        let (code, body) = http(d.addr, &format!("/api/v1/history?{q}"));
        assert_eq!(code, 400, "{q}: {body}");
        assert!(body.contains(expect), "{q}: {body}");
    }
    let (code, body) = http(d.addr, "/api/v1/energy?period=day");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let today = v["totals"].as_array().unwrap().last().unwrap().clone();
    assert!(
        today["import_wh"].as_f64().unwrap() + today["pv_wh"].as_f64().unwrap() > 0.0,
        "{body}"
    );
    // The money of the day, in the configured currency: the simulated market prices every
    // tick, so the savings are the baseline less what was paid (no feed-in price: 0 earned).
    assert_eq!(v["currency"], "EUR", "{body}");
    let f = |k: &str| {
        today[k]
            .as_f64()
            .unwrap_or_else(|| panic!("{k} missing: {body}"))
    };
    assert!(f("house_wh") > 0.0 && f("priced_hours") > 0.0, "{body}");
    assert_eq!(f("export_revenue"), 0.0, "{body}");
    assert!(
        (f("savings") - (f("baseline_cost") - f("import_cost") + f("export_revenue"))).abs() < 1e-6,
        "{body}"
    );
    assert_eq!(http(d.addr, "/api/v1/energy?period=week").0, 400);
    let (code, series) = http(d.addr, "/api/v1/history/series");
    assert_eq!(code, 200);
    assert!(series.contains("\"pv.roof.power_w\""), "{series}");
    let (code, metrics) = http(d.addr, "/metrics");
    assert_eq!(code, 200);
    assert!(
        metrics.contains("# TYPE gridlet_grid_power_w gauge\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("gridlet_pv_power_w{name=\"roof\"} "),
        "{metrics}"
    );
    assert!(now > 0);
    let (status, log) = d.kill("TERM");
    assert!(status.success(), "{log}");
    check_store(&store);
}

#[test]
fn history_off_answers_404_and_metrics_still_work() {
    let d = Daemon::start(&["sim", "--speed", "1", "--listen", "127.0.0.1:0"]);
    site_time(&d);
    let (code, body) = http(d.addr, "/api/v1/history?series=grid.power_w");
    assert_eq!(code, 404);
    assert!(body.contains("[history]"), "{body}");
    let (code, metrics) = http(d.addr, "/metrics");
    assert_eq!(code, 200);
    assert!(metrics.contains("gridlet_battery_soc_pct "), "{metrics}");
}

fn rss_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The daemon's memory with history on after a simulated week: the figure is printed; the
/// bound asserted (64 MB) means broken (the target, 20 MB, is the release build's, which the
/// README's figure comes from).
#[test]
fn memory_after_a_simulated_week_with_history() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("h.sqlite");
    let mut child = Command::new(BIN)
        .args([
            "sim",
            "--speed",
            "max",
            "--until",
            "7d",
            "--history",
            store.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let started = Instant::now();
    let mut peak = 0;
    let mut rss = 0;
    while child.try_wait().unwrap().is_none() {
        if let (Some(p), Some(r)) = (rss_kib(pid, "VmHWM:"), rss_kib(pid, "VmRSS:")) {
            (peak, rss) = (p, r);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = child.wait().unwrap();
    assert!(status.success());
    let s = Store::open(&store, Sync::Normal).unwrap();
    let [raw, agg, days] = s.counts().unwrap();
    let bytes = std::fs::metadata(&store).unwrap().len();
    println!(
        "a simulated week in {:.1} s: RSS {} KiB at the end, peak {} KiB; store {} KiB \
         ({raw} raw rows, {agg} aggregates, {days} days)",
        started.elapsed().as_secs_f64(),
        rss,
        peak,
        bytes / 1024
    );
    assert!(days >= 7, "{days} days of energy totals");
    // Every minute of the week is there (no batch was dropped), and the 10 s samples of
    // the last two days (their retention).
    let minutes = s.buckets(history::Resolution::Minute).unwrap();
    assert!(minutes >= 7 * 1440 - 1, "{minutes} minutes");
    let samples = s.buckets(history::Resolution::Raw).unwrap();
    assert!(samples >= 2 * 8640 - 360 - 1, "{samples} samples");
    assert!(peak > 0 && peak < 64 * 1024, "peak RSS {peak} KiB");
}

/// VictoriaMetrics (Debian's `victoria-metrics`) on a free port with a throwaway store; `None`
/// (the test passes with the reason printed) when it is not installed, unless `CI=true`.
struct Victoria {
    _child: Killed,
    addr: SocketAddr,
}

impl Victoria {
    fn start(dir: &Path) -> Option<Self> {
        let port = free_port();
        let child = Command::new("victoria-metrics")
            .arg(format!("-storageDataPath={}", dir.join("vm").display()))
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg("-search.latencyOffset=0s")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "victoria-metrics: {e} (CI installs it: apt victoria-metrics)"
                );
                println!("skipped: victoria-metrics not available ({e})");
                return None;
            }
        };
        let v = Self {
            _child: Killed(child),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(v.addr).is_err() || http(v.addr, "/health").0 != 200 {
            assert!(Instant::now() < deadline, "victoria-metrics did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(v)
    }

    /// Every sample of `metric` as (Unix seconds, value).
    fn export(&self, metric: &str) -> Vec<(i64, f64)> {
        let (code, body) = http(
            self.addr,
            &format!("/api/v1/export?match[]={metric}&start=0&end=4102444800"),
        );
        assert_eq!(code, 200, "{body}");
        let mut out = Vec::new();
        for line in body.lines().filter(|l| l.starts_with('{')) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let ts = v["timestamps"].as_array().unwrap();
            let vals = v["values"].as_array().unwrap();
            for (t, x) in ts.iter().zip(vals) {
                out.push((t.as_i64().unwrap() / 1000, x.as_f64().unwrap()));
            }
        }
        out.sort_by_key(|s| s.0);
        out
    }
}

#[test]
fn the_influx_export_reaches_victoriametrics_over_v1_and_v2() {
    let dir = tempfile::tempdir().unwrap();
    let Some(vm) = Victoria::start(dir.path()) else {
        return;
    };
    for (n, api) in [
        (1, "api = \"v1\"\ndb = \"gridlet\"\n".to_owned()),
        (
            2,
            "api = \"v2\"\norg = \"home\"\nbucket = \"gridlet\"\ntoken = \"t0ken\"\n".to_owned(),
        ),
    ] {
        let store = dir.path().join(format!("h{n}.sqlite"));
        let measurement = format!("run{n}");
        let config = sim_config(
            dir.path(),
            &format!(
                "path = {:?}\ncommit_every = \"1s\"\n[history.influx]\nurl = \"http://{}\"\n\
                 {api}measurement = \"{measurement}\"\ntags = {{ site = \"test\" }}\n",
                store.to_str().unwrap(),
                vm.addr
            ),
        );
        let d = Daemon::start(&[
            "sim",
            "--speed",
            "600",
            "--listen",
            "127.0.0.1:0",
            "--config",
            &config,
        ]);
        let t0 = site_time(&d);
        while site_time(&d) < t0 + Duration::from_secs(1800) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let (status, log) = d.kill("TERM");
        assert!(status.success(), "{log}");
        assert!(!log.contains("history.influx"), "{log}");
        // What the store holds is what the server has, sample for sample.
        let mut s = Store::open_reader(&store).unwrap();
        let stored = s
            .query(
                "grid.power_w",
                history::Resolution::Raw,
                0,
                i64::MAX / 4,
                10,
            )
            .unwrap();
        assert!(stored.t.len() >= 150, "{} samples", stored.t.len());
        let metric = format!("{measurement}_grid.power_w");
        let deadline = Instant::now() + Duration::from_secs(20);
        let exported = loop {
            let e = vm.export(&metric);
            if e.len() >= stored.t.len() || Instant::now() > deadline {
                break e;
            }
            std::thread::sleep(Duration::from_millis(250));
        };
        println!(
            "{api:?}: {} samples stored, {} in VictoriaMetrics",
            stored.t.len(),
            exported.len()
        );
        assert_eq!(exported.len(), stored.t.len());
        for ((t, v), (st, sv)) in exported.iter().zip(stored.t.iter().zip(&stored.mean)) {
            assert_eq!(t, st);
            assert!(
                (v - sv).abs() <= 1e-6 * sv.abs().max(1.0),
                "{t}: {v} != {sv}"
            );
        }
    }
}

/// An InfluxDB server that accepts connections and never answers: the export waits on it in
/// its own task; the loop ticks on at its pace and the store is written.
#[test]
fn a_silent_influx_server_holds_up_neither_the_loop_nor_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let store = dir.path().join("h.sqlite");
    let config = sim_config(
        dir.path(),
        &format!(
            "path = {:?}\n[history.influx]\nurl = \"http://{}\"\ndb = \"gridlet\"\n",
            store.to_str().unwrap(),
            silent.local_addr().unwrap()
        ),
    );
    let d = Daemon::start(&[
        "sim",
        "--speed",
        "600",
        "--listen",
        "127.0.0.1:0",
        "--config",
        &config,
    ]);
    let t0 = site_time(&d);
    let wall = Instant::now();
    std::thread::sleep(Duration::from_secs(5));
    let simulated = site_time(&d).saturating_duration_since(t0);
    let elapsed = wall.elapsed();
    println!("{simulated:?} simulated in {elapsed:?} with a silent InfluxDB server");
    // 600 times the wall clock; half of that means the loop waited on something.
    assert!(
        simulated >= elapsed.mul_f64(300.0),
        "{simulated:?} in {elapsed:?}"
    );
    let (status, log) = d.kill("TERM");
    assert!(status.success(), "{log}");
    let newest = check_store(&store);
    assert!(
        newest >= secs(t0 + simulated) - 600,
        "the store lags: {newest}"
    );
}
