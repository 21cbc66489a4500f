//! The daemon's memory over a simulated week with every front end busy (issue 11, "Done when"
//! 6: under 20 MB RSS): the release build of `gridlet sim` on the built-in reference site at
//! `--speed max` (or `GRIDLET_MEM_SPEED`) with the planner on, recording `--history`,
//! publishing to a mosquitto it starts on a free port (`[mqtt]`), and a client holding the page
//! open as a browser does: `/` once, `/api/v1/status` every second, the plan, a day of history
//! and the energy totals every 10 s. VmRSS and VmHWM come from `/proc/<pid>/status`; a line per
//! simulated day, then the figures at the end of the week (taken before the daemon is stopped).
//!
//! `cargo bench -p gridlet --bench memory`. Needs mosquitto (apt); without it it says so and
//! exits. Not part of CI's test job (`cargo test` builds no benches). `GRIDLET_BIN` runs
//! another build of the daemon: `cargo build --release --bin gridlet`, then
//! `GRIDLET_BIN=target/release/gridlet cargo bench --profile dev -p gridlet --bench memory`
//! measures the release daemon without building the bench's dev-dependencies in release.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A failing unwrap is a failed run.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "../tests/support/daemon.rs"]
mod daemon;
#[path = "../tests/support/peers.rs"]
mod peers;
use daemon::{Killed, free_port, sim_example};
use peers::Mosquitto;

/// The daemon: `GRIDLET_BIN`, or the one cargo built with the bench.
fn gridlet() -> String {
    std::env::var("GRIDLET_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_gridlet").to_owned())
}
const START: &str = "2026-06-21T00:00:00Z";
const WEEK_S: f64 = 7.0 * 86_400.0;
const DAY_S: f64 = 86_400.0;
/// The target (issue 11).
const LIMIT_MB: f64 = 20.0;

/// One HTTP/1.1 GET with `Connection: close`: the status and the body.
fn get(addr: SocketAddr, path: &str) -> Option<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, buf[head_end + 4..].to_vec()))
}

/// `VmRSS`, `VmHWM`, `RssAnon` (heap, stacks) and `RssFile` (the program's code and the
/// libraries' pages it touched) of `pid`, in MB.
fn memory(pid: u32) -> Option<(f64, f64, f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = |key: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        line.split_whitespace().nth(1)?.parse::<f64>().ok()
    };
    Some((
        kb("VmRSS:")? / 1024.0,
        kb("VmHWM:")? / 1024.0,
        kb("RssAnon:")? / 1024.0,
        kb("RssFile:")? / 1024.0,
    ))
}

fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, Iterator::count)
}

/// The simulated seconds since the start, from the page's own status request.
#[derive(Debug, Default)]
struct Page {
    sim_s: f64,
    requests: u64,
    failed: u64,
    bytes: u64,
}

fn sim_seconds(body: &[u8]) -> Option<f64> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let t = v.get("site")?.get("time")?.as_str()?;
    let start: jiff::Timestamp = START.parse().ok()?;
    let now: jiff::Timestamp = t.parse().ok()?;
    Some(now.duration_since(start).as_secs_f64())
}

/// The page: what `web/index.html` fetches, at its intervals, plus the history and energy
/// views.
fn page(addr: SocketAddr, state: Arc<Mutex<Page>>, stop: Arc<AtomicBool>) {
    let account = |r: Option<(u16, Vec<u8>)>| {
        let mut p = state.lock().unwrap();
        p.requests += 1;
        match r {
            Some((200, body)) => {
                p.bytes += body.len() as u64;
                Some(body)
            }
            _ => {
                p.failed += 1;
                None
            }
        }
    };
    account(get(addr, "/"));
    let mut n: u64 = 0;
    while !stop.load(Ordering::SeqCst) {
        if let Some(body) = account(get(addr, "/api/v1/status"))
            && let Some(s) = sim_seconds(&body)
        {
            state.lock().unwrap().sim_s = s;
        }
        if n.is_multiple_of(10) {
            account(get(addr, "/api/v1/plan"));
            account(get(
                addr,
                "/api/v1/history?series=grid.power_w,battery.soc_pct,pv.power_w&from=24h",
            ));
            account(get(addr, "/api/v1/history?series=grid.power_w&from=7d"));
            account(get(addr, "/api/v1/energy?period=day"));
        }
        n += 1;
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn main() {
    if testkit::bench_filtered_out("memory") {
        return;
    }
    let Some(mosquitto) = peers::mosquitto() else {
        println!("memory: skipped: mosquitto is not installed (apt install mosquitto)");
        return;
    };
    let gridlet = gridlet();
    let speed = std::env::var("GRIDLET_MEM_SPEED").unwrap_or_else(|_| "max".to_owned());
    let dir = tempfile::tempdir().unwrap();

    let mqtt = Mosquitto::start(mosquitto, dir.path());
    let broker = format!("127.0.0.1:{}", mqtt.port);

    // The planner on as well (the example leaves it off): its solver re-plans the 48 h
    // horizon every 15 simulated minutes, the biggest allocation a busy daemon makes.
    let example = sim_example(&gridlet);
    let planner = "[planner]";
    let off = "enabled = false";
    let at = example.find(planner).expect("the example has [planner]");
    let off_at = at + example[at..].find(off).expect("[planner] enabled = false");
    let example = format!(
        "{}enabled = true{}",
        &example[..off_at],
        &example[off_at + off.len()..]
    );
    let config = dir.path().join("sim.toml");
    std::fs::write(
        &config,
        format!("{example}\n[mqtt]\nbroker = \"{broker}\"\n"),
    )
    .unwrap();
    let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let log = std::fs::File::create(dir.path().join("gridlet.log")).unwrap();
    let history = dir.path().join("history.sqlite");
    let wall = Instant::now();
    let mut daemon = Killed(
        Command::new(&gridlet)
            .arg("sim")
            .arg("--config")
            .arg(&config)
            .args(["--start", START, "--speed", &speed])
            .arg("--listen")
            .arg(http.to_string())
            .arg("--history")
            .arg(&history)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting gridlet sim"),
    );
    let pid = daemon.0.id();

    let state = Arc::new(Mutex::new(Page::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let up = Instant::now();
    while get(http, "/api/v1/status").is_none_or(|(c, _)| c != 200) {
        assert!(
            up.elapsed() < Duration::from_secs(30),
            "gridlet sim did not answer"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let client = {
        let (s, st) = (Arc::clone(&state), Arc::clone(&stop));
        std::thread::spawn(move || page(http, s, st))
    };

    println!(
        "memory: {gridlet} sim --speed {speed} --history, [mqtt] -> mosquitto on \
         {broker}, the page open on {http}"
    );
    println!(
        "{:>6} {:>8} {:>8} {:>10} {:>10} {:>8} {:>8} {:>8} {:>9}",
        "day",
        "wall s",
        "sim x",
        "VmRSS MB",
        "VmHWM MB",
        "anon MB",
        "file MB",
        "threads",
        "requests"
    );
    let mut next_day = 0.0;
    let (mut rss, mut hwm, mut anon, mut file);
    let mut rss_max = 0.0f64;
    let sim_end = loop {
        std::thread::sleep(Duration::from_millis(200));
        if let Ok(Some(status)) = daemon.0.try_wait() {
            panic!(
                "gridlet sim exited early ({status}); see {}",
                dir.path().join("gridlet.log").display()
            );
        }
        let Some((r, h, a, f)) = memory(pid) else {
            continue;
        };
        (rss, hwm, anon, file) = (r, h, a, f);
        rss_max = rss_max.max(r);
        let (sim_s, requests) = {
            let p = state.lock().unwrap();
            (p.sim_s, p.requests)
        };
        if sim_s >= next_day {
            let w = wall.elapsed().as_secs_f64();
            println!(
                "{:>6.2} {w:>8.1} {:>8.0} {rss:>10.1} {hwm:>10.1} {anon:>8.1} {file:>8.1} {:>8} \
                 {requests:>9}",
                sim_s / DAY_S,
                sim_s / w,
                threads(pid)
            );
            next_day = (sim_s / DAY_S).floor() * DAY_S + DAY_S;
        }
        if sim_s >= WEEK_S {
            break sim_s;
        }
    };
    let wall_s = wall.elapsed().as_secs_f64();
    let thread_count = threads(pid);
    stop.store(true, Ordering::SeqCst);
    // SIGTERM: the daemon's own shutdown (safe state, last history commit).
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let exit = daemon.0.wait().unwrap();
    client.join().unwrap();
    let p = state.lock().unwrap();
    let db_mb = [history.clone(), history.with_extension("sqlite-wal")]
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len() as f64 / 1e6)
        .sum::<f64>();
    println!(
        "memory: a simulated week ({:.2} d) in {wall_s:.1} s wall ({:.0}x real time); at the \
         end VmRSS {rss:.1} MB ({anon:.1} MB anonymous, {file:.1} MB file-backed: code), \
         VmHWM (peak) {hwm:.1} MB, highest VmRSS sampled {rss_max:.1} \
         MB, {thread_count} threads; the page made {} requests ({} failed, {:.1} MB); history \
         {db_mb:.1} MB on disk; the daemon exited with {exit}. Target: under {LIMIT_MB} MB: {}",
        sim_end / DAY_S,
        sim_end / wall_s,
        p.requests,
        p.failed,
        p.bytes as f64 / 1e6,
        if hwm < LIMIT_MB { "met" } else { "NOT MET" }
    );
}
