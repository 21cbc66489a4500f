//! The REST API's guard (issue 11, "Done when" 2): on a listener that is not loopback a write
//! without the `[http]` token gets 401 and with it 2xx; a 1 MB body gets 413; malformed bodies
//! get 4xx; writes beyond the rate limit get 429; and the control loop keeps running through all
//! of it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A failing unwrap is a failing test.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/daemon.rs"]
mod daemon;
use daemon::{Killed, exchange, free_port};

const GRIDLET: &str = env!("CARGO_BIN_EXE_gridlet");
const TOKEN: &str = "correct-horse-battery-staple";

/// One HTTP/1.1 exchange: status code and body.
fn request(addr: &str, method: &str, path: &str, headers: &[&str], body: &[u8]) -> (u16, String) {
    let a = exchange(addr, method, path, headers, body, Duration::from_secs(5)).unwrap();
    let code = a
        .code
        .unwrap_or_else(|| panic!("no HTTP answer to {method} {path}: {}", a.head));
    (code, a.body)
}

/// A GET's status and headers (names lower-case), and the body's length.
fn head(addr: &str, path: &str, headers: &[&str]) -> (u16, Vec<(String, String)>, usize) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut response = Vec::new();
    let _ = s.read_to_end(&mut response);
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head for {path}"));
    let text = String::from_utf8(response[..end].to_vec()).unwrap();
    let mut lines = text.lines();
    let code = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let fields = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (code, fields, response.len() - end - 4)
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn site(addr: &str) -> serde_json::Value {
    let (code, body) = request(addr, "GET", "/api/v1/status", &[], b"");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str::<serde_json::Value>(&body).unwrap()["site"].clone()
}

fn start(dir: &std::path::Path, listen: &str, http_table: &str) -> Killed {
    let example = Command::new(GRIDLET)
        .args(["config", "example", "--preset", "sim"])
        .output()
        .unwrap();
    let example = String::from_utf8(example.stdout).unwrap();
    let (before, after) = example.split_once("[http]\n").unwrap();
    let after = after.split_once('\n').unwrap().1; // the example's listen line
    let config = dir.join("site.toml");
    std::fs::write(&config, format!("{before}[http]\n{http_table}\n{after}")).unwrap();
    let port = listen.rsplit_once(':').unwrap().1.parse::<u16>().unwrap();
    let child = Command::new(GRIDLET)
        .arg("sim")
        .arg("--config")
        .arg(&config)
        .args(["--listen", listen, "--speed", "10"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // Serving once the first snapshot is out (503 before; 401 where reads are closed).
        if TcpStream::connect(("127.0.0.1", port)).is_ok()
            && request(
                &format!("127.0.0.1:{port}"),
                "GET",
                "/api/v1/status",
                &[],
                b"",
            )
            .0 != 503
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "gridlet did not serve on {listen}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Killed(child)
}

#[test]
fn writes_from_the_network_need_the_token_and_bad_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _daemon = start(
        dir.path(),
        &format!("0.0.0.0:{port}"),
        &format!("token = \"{TOKEN}\""),
    );
    let addr = format!("127.0.0.1:{port}");
    let auth = format!("Authorization: Bearer {TOKEN}");
    let json = "Content-Type: application/json";

    // Reads are open; writes need the token.
    assert_eq!(site(&addr)["controller"]["mode"], "self-consumption");
    let (code, body) = request(
        &addr,
        "POST",
        "/api/v1/mode",
        &[json],
        br#"{"mode":"hold"}"#,
    );
    assert_eq!(code, 401, "{body}");
    let wrong = format!("Authorization: Bearer {}x", &TOKEN[..TOKEN.len() - 1]);
    let (code, _) = request(
        &addr,
        "POST",
        "/api/v1/mode",
        &[json, &wrong],
        br#"{"mode":"hold"}"#,
    );
    assert_eq!(code, 401);
    assert_eq!(site(&addr)["controller"]["mode"], "self-consumption");
    let (code, body) = request(
        &addr,
        "POST",
        "/api/v1/mode",
        &[json, &auth],
        br#"{"mode":"hold"}"#,
    );
    assert!((200..300).contains(&code), "{code} {body}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while site(&addr)["controller"]["mode"] != "hold" {
        assert!(Instant::now() < deadline, "the mode did not change");
        std::thread::sleep(Duration::from_millis(50));
    }

    // 1 MB: refused before it is read, token or not.
    let big = vec![b' '; 1 << 20];
    for headers in [&[json][..], &[json, &auth][..]] {
        let (code, _) = request(&addr, "POST", "/api/v1/mode", headers, &big);
        assert_eq!(code, 413);
    }

    // Malformed bodies: 4xx with a reason, nothing changes.
    for bad in [
        &br#"{"mode":"warp"}"#[..],
        br#"{"mode":"off","extra":1}"#,
        b"{\"mode\":",
        b"\xff\xfe",
        b"",
    ] {
        let (code, body) = request(&addr, "POST", "/api/v1/mode", &[json, &auth], bad);
        assert!((400..500).contains(&code), "{bad:?}: {code} {body}");
    }
    let (code, _) = request(
        &addr,
        "POST",
        "/api/v1/ev",
        &[&auth],
        br#"{"enabled":true}"#,
    );
    assert!((400..500).contains(&code), "no content type: {code}");
    assert_eq!(site(&addr)["controller"]["mode"], "hold");

    // A write storm: the rate limit answers 429, the loop keeps ticking.
    let t0 = site(&addr)["time"].clone();
    let mut limited = 0;
    for _ in 0..60 {
        let (code, _) = request(
            &addr,
            "POST",
            "/api/v1/ev",
            &[json, &auth],
            br#"{"enabled":true}"#,
        );
        assert!(code == 202 || code == 429, "{code}");
        limited += usize::from(code == 429);
    }
    assert!(limited > 0, "60 writes in a burst were all accepted");
    std::thread::sleep(Duration::from_millis(300));
    assert_ne!(site(&addr)["time"], t0, "the control loop stalled");
}

#[test]
fn a_loopback_listener_takes_writes_without_a_token_and_closed_reads_need_it() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let _daemon = start(dir.path(), &addr, "");
    let (code, body) = request(
        &addr,
        "POST",
        "/api/v1/mode",
        &["Content-Type: application/json"],
        br#"{"mode":"off"}"#,
    );
    assert_eq!(code, 202, "{body}");

    // The page through the whole stack: gzipped when asked, revalidated with its ETag.
    let (code, fields, gz_len) = head(&addr, "/", &["Accept-Encoding: gzip"]);
    assert_eq!(code, 200);
    assert_eq!(field(&fields, "content-encoding"), Some("gzip"));
    assert_eq!(field(&fields, "vary"), Some("accept-encoding"));
    let etag = field(&fields, "etag").unwrap().to_owned();
    let (code, fields, plain_len) = head(&addr, "/", &[]);
    assert_eq!((code, field(&fields, "content-encoding")), (200, None));
    assert!(
        gz_len < plain_len / 2,
        "{gz_len} gzipped, {plain_len} plain"
    );
    let (code, _, len) = head(
        &addr,
        "/",
        &["Accept-Encoding: gzip", &format!("If-None-Match: {etag}")],
    );
    assert_eq!((code, len), (304, 0));

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _closed = start(
        dir.path(),
        &format!("0.0.0.0:{port}"),
        &format!("token = \"{TOKEN}\"\nopen_reads = false"),
    );
    let addr = format!("127.0.0.1:{port}");
    let (code, _) = request(&addr, "GET", "/api/v1/status", &[], b"");
    assert_eq!(code, 401);
    let (code, _) = request(
        &addr,
        "GET",
        "/api/v1/status",
        &[&format!("Authorization: Bearer {TOKEN}")],
        b"",
    );
    assert_eq!(code, 200);
}
