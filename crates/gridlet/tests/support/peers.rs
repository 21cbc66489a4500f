//! The external programs the interop tests (and the memory bench) run as peers: mosquitto (the
//! pymodbus venv is `testkit::capability::pymodbus`). Needs `daemon.rs` included beside it as
//! `mod daemon`.
#![allow(dead_code)] // Each test binary that includes it uses a part.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::daemon::{Killed, free_port};

/// Debian's mosquitto (`/usr/sbin`), if it is installed.
pub(crate) fn mosquitto() -> Option<&'static str> {
    ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

/// A mosquitto broker on a free loopback port, anonymous and without persistence, killed when
/// dropped.
pub(crate) struct Mosquitto {
    pub(crate) port: u16,
    _child: Killed,
}

impl Mosquitto {
    /// Starts `program` with its config in `dir` and waits (20 s at most) until it listens.
    pub(crate) fn start(program: &str, dir: &Path) -> Self {
        let port = free_port();
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
        )
        .expect("mosquitto.conf");
        let child = Killed(
            Command::new(program)
                .arg("-c")
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting mosquitto"),
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            port,
            _child: child,
        }
    }
}
