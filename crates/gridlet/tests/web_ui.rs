//! The page in a browser (issue 11, "Done when" 1), and the user's settings across restarts.
//!
//! `the_page_in_a_browser` runs `gridlet sim --speed 600 --history` and drives Debian's
//! chromium with playwright-core (npm, `tests/web/package.json`) through `tests/web/ui.mjs`:
//! live values, the mode and the car's charge limit through the page's controls (checked in
//! the API), the history chart drawn, and screenshots at a desktop and a phone viewport in
//! `artifacts/` at the repository's root. With `CI=true` a missing node, chromium or
//! playwright-core is a failure; otherwise the test says why it skips.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A failing unwrap is a failing test.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/daemon.rs"]
mod daemon;
use daemon::free_port;

const GRIDLET: &str = env!("CARGO_BIN_EXE_gridlet");

/// The running daemon, and the file its log goes to (a pipe nobody reads would fill up and
/// block it).
struct Daemon(Child, PathBuf);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Daemon {
    /// SIGTERM, and the exit within 10 s.
    fn stop(mut self) -> String {
        let pid = self.0.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let end = Instant::now() + Duration::from_secs(10);
        while self.0.try_wait().unwrap().is_none() {
            assert!(Instant::now() < end, "gridlet did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::fs::read_to_string(&self.1).unwrap()
    }
}

/// One HTTP/1.1 exchange: status code and body; `None` if nothing listens yet.
fn request(addr: &str, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    let mut response = Vec::new();
    let _ = s.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    let code = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_owned();
    Some((code, body))
}

fn settings(addr: &str) -> serde_json::Value {
    let (code, body) = request(addr, "GET", "/api/v1/settings", "").unwrap();
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// The simulated reference site with the planner on (the page's plan chart).
fn site_config(dir: &Path) -> PathBuf {
    let example = Command::new(GRIDLET)
        .args(["config", "example", "--preset", "sim"])
        .output()
        .unwrap();
    let example = String::from_utf8(example.stdout).unwrap();
    let (before, after) = example.split_once("[planner]").unwrap();
    let after = after.replacen("enabled = false", "enabled = true", 1);
    let path = dir.join("site.toml");
    std::fs::write(&path, format!("{before}[planner]{after}")).unwrap();
    path
}

/// `gridlet sim --speed 600` on a free port with history and settings in `dir`; returns once
/// the API answers.
fn start(dir: &Path) -> (Daemon, String) {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let config = site_config(dir);
    let log = dir.join(format!("gridlet-{port}.log"));
    let child = Command::new(GRIDLET)
        .arg("sim")
        .arg("--config")
        .arg(&config)
        // A summer morning: the sun is up in the screenshots.
        .args([
            "--speed",
            "600",
            "--start",
            "2026-06-21T08:00",
            "--listen",
            &addr,
        ])
        .arg("--history")
        .arg(dir.join("history.db"))
        .arg("--settings")
        .arg(dir.join("settings.json"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let daemon = Daemon(child, log);
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some((200, _)) = request(&addr, "GET", "/api/v1/status", "") {
            break;
        }
        assert!(Instant::now() < end, "gridlet sim did not answer on {addr}");
        std::thread::sleep(Duration::from_millis(100));
    }
    (daemon, addr)
}

/// Skips (without CI) or fails (CI=true) for a missing tool.
fn missing(what: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true: {what} (.ci/run installs it)");
    }
    eprintln!("skipped: {what}");
}

#[test]
fn the_page_in_a_browser() {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/web");
    let chromium = std::env::var("GRIDLET_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if Command::new("node").arg("--version").output().is_err() {
        return missing("node is not installed (Debian nodejs)");
    }
    if !Path::new(&chromium).exists() {
        return missing(&format!("{chromium} is not there (Debian chromium)"));
    }
    if !web.join("node_modules/playwright-core").is_dir() {
        return missing(&format!(
            "playwright-core is not installed: npm ci --prefix {}",
            web.display()
        ));
    }
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let artifacts = artifacts.canonicalize().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (daemon, addr) = start(dir.path());
    let mut node = Command::new("node")
        .arg(web.join("ui.mjs"))
        .arg(format!("http://{addr}"))
        .arg(&artifacts)
        .arg(&chromium)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(120);
    while node.try_wait().unwrap().is_none() {
        if Instant::now() > end {
            let _ = node.kill();
            panic!("the browser test took over 2 minutes");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = node.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ui.mjs failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    println!("{found:#}");
    // What the page set is what the daemon runs with.
    let s = settings(&addr);
    assert_eq!(s["mode"], "hold");
    assert_eq!(s["ev_target_soc_pct"], 65.0);
    for shot in found["screenshots"].as_array().unwrap() {
        let path = Path::new(shot.as_str().unwrap());
        let png = std::fs::read(path).unwrap();
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 10_000,
            "{path:?}"
        );
        println!("screenshot: {}", path.display());
    }
    daemon.stop();
}

/// Settings applied through the API survive a restart; one the configuration refuses is a
/// 422 that changes nothing; a corrupt file is reported and the configuration's values apply.
#[test]
fn settings_survive_a_restart_and_a_corrupt_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, addr) = start(dir.path());
    let patch = r#"{"mode": "charge-from-grid", "ev_enabled": false, "ev_target_soc_pct": 70,
        "ev_max_current_a": 16, "v2h": false, "relays": {"hot_water": "on"}}"#;
    let (code, body) = request(&addr, "POST", "/api/v1/settings", patch).unwrap();
    assert_eq!(code, 200, "{body}");
    // All or nothing: a bad relay name refuses the whole patch.
    let (code, body) = request(
        &addr,
        "POST",
        "/api/v1/settings",
        r#"{"mode": "off", "relays": {"sauna": "on"}}"#,
    )
    .unwrap();
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("sauna"), "{body}");
    for bad in [
        r#"{"ev_target_soc_pct": 150}"#,
        r#"{"ev_max_current_a": -3}"#,
        r#"{"mode": "turbo"}"#,
        r#"{"warp": 9}"#,
        "not json",
    ] {
        let (code, body) = request(&addr, "POST", "/api/v1/settings", bad).unwrap();
        assert!((400..500).contains(&code), "{bad}: {code} {body}");
    }
    let before = settings(&addr);
    assert_eq!(before["mode"], "charge-from-grid");
    assert_eq!(before["relays"]["hot_water"], "on");
    // The controller runs with them.
    let (_, status) = request(&addr, "GET", "/api/v1/status", "").unwrap();
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["site"]["controller"]["mode"], "charge-from-grid");
    assert_eq!(status["site"]["controller"]["ev_enabled"], false);
    daemon.stop();

    let (daemon, addr) = start(dir.path());
    assert_eq!(settings(&addr), before, "the settings survive a restart");
    daemon.stop();

    std::fs::write(
        dir.path().join("settings.json"),
        b"{\"mode\": \"hold\", \"ev_",
    )
    .unwrap();
    let (daemon, addr) = start(dir.path());
    let s = settings(&addr);
    assert_eq!(s["mode"], "self-consumption", "the configuration's mode");
    assert_eq!(s["ev_target_soc_pct"], 80.0);
    let log = daemon.stop();
    assert!(log.contains("corrupt"), "{log}");
}
