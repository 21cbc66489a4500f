//! What the tests that run the daemon (or a peer) as a process share.
#![allow(dead_code)] // Each test binary that includes it uses a part.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A child process killed and reaped when the test ends, however it ends.
pub(crate) struct Killed(pub(crate) Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free TCP port on loopback (bound and released).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .expect("local address")
        .port()
}

/// The built-in simulated site's config, `gridlet config example --preset sim` of `gridlet`.
pub(crate) fn sim_example(gridlet: &str) -> String {
    let out = Command::new(gridlet)
        .args(["config", "example", "--preset", "sim"])
        .output()
        .expect("gridlet config example");
    assert!(out.status.success(), "gridlet config example: {out:?}");
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Writes `config` to `dir/gridlet.toml`, has `gridlet config check` accept it (or fails the
/// test with its complaint) and runs `gridlet run` on it with the API on a free loopback port:
/// the daemon and its HTTP address.
pub(crate) fn run_checked(dir: &Path, config: &str) -> (Process, String) {
    let gridlet = env!("CARGO_BIN_EXE_gridlet");
    let path = dir.join("gridlet.toml");
    std::fs::write(&path, config).expect("config");
    let check = Command::new(gridlet)
        .args(["config", "check"])
        .arg(&path)
        .output()
        .expect("gridlet config check");
    assert!(
        check.status.success(),
        "{}\n{config}",
        String::from_utf8_lossy(&check.stderr)
    );
    let mut c = Command::new(gridlet);
    c.args(["run", "--config"])
        .arg(&path)
        .args(["--listen", "127.0.0.1:0"]);
    let mut daemon = Process::start("gridlet run", c);
    let http = daemon.http_address();
    (daemon, http)
}

/// Sends `kill -SIGNAL` (e.g. `-TERM`) to `child`; fails the test if that fails.
fn kill(child: &Child, signal: &str, name: &str) {
    let ok = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status();
    assert!(ok.is_ok_and(|s| s.success()), "kill {signal} {name}");
}

/// Waits (at most `limit`) for `child` to exit.
fn exit_within(child: &mut Child, limit: Duration, name: &str) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "{name} did not exit within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child process killed when dropped, its stdout and stderr lines on a channel.
pub(crate) struct Process {
    pub(crate) name: &'static str,
    pub(crate) child: Child,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Process {
    pub(crate) fn start(name: &'static str, mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        let (tx, lines) = mpsc::channel();
        for out in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Self {
            name,
            child,
            lines,
            log: Vec::new(),
        }
    }

    /// The first line from now on that contains `text`; fails the test, with every line seen,
    /// if none comes within `limit`.
    pub(crate) fn wait_for_line(&mut self, text: &str, limit: Duration) -> String {
        let end = Instant::now() + limit;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => break,
            }
        }
        panic!(
            "{}: no line with {text:?} within {limit:?}:\n{}",
            self.name,
            self.log.join("\n")
        );
    }

    /// The daemon's HTTP address from its `listening on http://ADDR` line (30 s at most).
    pub(crate) fn http_address(&mut self) -> String {
        let line = self.wait_for_line("listening on http://", Duration::from_secs(30));
        line.split("listening on http://")
            .nth(1)
            .expect("an address")
            .trim()
            .to_owned()
    }

    /// `kill SIGNAL`, e.g. `-TERM`.
    pub(crate) fn signal(&self, signal: &str) {
        kill(&self.child, signal, self.name);
    }

    /// Waits (at most `limit`) for the process to exit.
    pub(crate) fn exit_within(&mut self, limit: Duration) -> ExitStatus {
        exit_within(&mut self.child, limit, self.name)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `gridlet ARGS` whose stderr is scanned for the HTTP address it listens on.
pub(crate) struct Daemon {
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
    log: mpsc::Receiver<String>,
}

impl Daemon {
    pub(crate) fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gridlet"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting gridlet");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("gridlet did not report its HTTP address");
            if let Some(rest) = line.split("listening on http://").nth(1) {
                break rest.trim().parse().expect("an address");
            }
        };
        Self {
            child,
            addr,
            log: rx,
        }
    }

    /// `kill -SIG`, e.g. `TERM`.
    pub(crate) fn signal(&self, sig: &str) {
        kill(&self.child, &format!("-{sig}"), "gridlet");
    }

    /// Waits (20 s at most) for the daemon to exit: its exit status and what it logged since
    /// its HTTP address.
    pub(crate) fn wait(mut self) -> (ExitStatus, String) {
        let status = exit_within(&mut self.child, Duration::from_secs(20), "gridlet");
        // The process has exited; read its stderr to the end.
        let mut log = Vec::new();
        while let Ok(line) = self.log.recv_timeout(Duration::from_secs(5)) {
            log.push(line);
        }
        (status, log.join("\n"))
    }

    /// `kill -SIG`, then [`Daemon::wait`].
    pub(crate) fn kill(self, sig: &str) -> (ExitStatus, String) {
        self.signal(sig);
        self.wait()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An answer to [`exchange`].
pub(crate) struct Answer {
    /// The status line's code; `None` if none came.
    pub(crate) code: Option<u16>,
    /// The status line and the header lines.
    pub(crate) head: String,
    pub(crate) body: String,
}

impl Answer {
    /// The value of header `name` (case-insensitive), if present.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// One HTTP/1.1 exchange with `Connection: close` and `headers`, waiting at most `timeout` for
/// the answer. An error only if nothing listens at `addr` or it takes no request; a server that
/// answers early (413) and closes before the whole body is sent is no error.
pub(crate) fn exchange(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &[u8],
    timeout: Duration,
) -> std::io::Result<Answer> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(timeout))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    let _ = s.write_all(body);
    let mut response = Vec::new();
    let _ = s.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    Ok(Answer {
        code: head.split(' ').nth(1).and_then(|c| c.parse().ok()),
        head: head.to_owned(),
        body: body.to_owned(),
    })
}

/// A JSON request (10 s at most): the status code (0 without a status line) and the body.
pub(crate) fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let json = "Content-Type: application/json";
    let a = exchange(
        &addr.to_string(),
        method,
        path,
        &[json],
        body.as_bytes(),
        Duration::from_secs(10),
    )
    .unwrap_or_else(|e| panic!("{method} {path} to {addr}: {e}"));
    (a.code.unwrap_or(0), a.body)
}

/// The site's snapshot in `/api/v1/status` (the simulation's totals beside it are left out), or
/// `None` while the daemon does not answer it (2 s at most).
pub(crate) fn status(http: &str) -> Option<serde_json::Value> {
    let get = exchange(
        http,
        "GET",
        "/api/v1/status",
        &[],
        b"",
        Duration::from_secs(2),
    );
    let published: serde_json::Value = serde_json::from_str(&get.ok()?.body).ok()?;
    Some(published["site"].clone())
}

/// Polls the site's status until `check` holds; returns it and how long that took. Fails the
/// test, with the last status, after `limit`.
pub(crate) fn status_until(
    http: &str,
    limit: Duration,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> (serde_json::Value, Duration) {
    let start = Instant::now();
    let mut last = None;
    while start.elapsed() < limit {
        if let Some(s) = status(http) {
            if check(&s) {
                return (s, start.elapsed());
            }
            last = Some(s);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what}: not within {limit:?}; last status:\n{last:#?}");
}

/// The device `name` in the site's status, if it is listed.
pub(crate) fn find_device<'a>(
    s: &'a serde_json::Value,
    name: &str,
) -> Option<&'a serde_json::Value> {
    s["devices"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["name"] == name))
}

/// The device `name` in the site's status; fails the test if it is not listed.
pub(crate) fn device<'a>(s: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    find_device(s, name).unwrap_or_else(|| panic!("no device {name} in {s:#}"))
}
