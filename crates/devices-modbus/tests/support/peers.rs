//! What the tests against pymodbus (`inverters.rs`, `pymodbus.rs`) share: the venv's Python, free
//! ports, socat pty pairs and starting a pymodbus script until it serves.
#![allow(dead_code)] // Each test binary that includes it uses a part.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// The pymodbus venv's Python, and socat for RTU; `None` (the test says why) without them.
pub(crate) fn python(test: &str, rtu: bool) -> Option<PathBuf> {
    testkit::capability::pymodbus(test, if rtu { &["socat"] } else { &[] })
}

/// A free TCP port on localhost.
pub(crate) fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local address").port()
}

/// A socat pty pair: `a` for us, `b` for pymodbus.
pub(crate) struct Ptys {
    _socat: Child,
    pub(crate) a: PathBuf,
    pub(crate) b: PathBuf,
}

pub(crate) async fn ptys(dir: &Path) -> Ptys {
    let (a, b) = (dir.join("a"), dir.join("b"));
    let socat = Command::new("socat")
        .arg(format!("pty,raw,echo=0,link={}", a.display()))
        .arg(format!("pty,raw,echo=0,link={}", b.display()))
        .kill_on_drop(true)
        .spawn()
        .expect("socat");
    for _ in 0..100 {
        if a.exists() && b.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(a.exists() && b.exists(), "socat made no ptys");
    Ptys {
        _socat: socat,
        a,
        b,
    }
}

/// Starts a pymodbus script (killed when dropped); returns when it says it serves.
pub(crate) async fn serving(mut command: Command) -> Child {
    let mut child = command
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("pymodbus");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await;
    assert!(
        matches!(line, Ok(Ok(Some(ref l))) if l == "serving"),
        "{line:?}"
    );
    // A moment for the listener or the serial port to open after the message.
    tokio::time::sleep(Duration::from_millis(300)).await;
    child
}
