//! The powerline test topology: `ccs_pev (eth1) <-> ccs_plc [plc-emu.py] <-> ccs_evse (eth1)`.
//!
//! [`Topology::up`] takes a machine-wide lock (an exclusive `flock` on a file in `/run/lock`, or
//! the temporary directory), builds the namespaces with `netns-plc.sh up`, starts `plc-emu.py` in
//! `ccs_plc` and waits until it answers a modem query. Dropping the topology stops the emulator,
//! removes the namespaces and releases the lock.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::capability::{self, missing, require};
use crate::pcap;

/// The fixed namespace names of `netns-plc.sh`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    /// The car's side, `eth1` with MAC 02:00:00:00:00:02.
    Pev,
    /// The powerline between them, where the emulator runs (ports `pp` and `pe`).
    Plc,
    /// The charger's side, `eth1` with MAC 02:00:00:00:00:01.
    Evse,
}

impl Namespace {
    /// The namespace's name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Pev => "ccs_pev",
            Self::Plc => "ccs_plc",
            Self::Evse => "ccs_evse",
        }
    }

    /// The MAC of `eth1` in this namespace (none in the powerline namespace).
    pub const fn mac(self) -> Option<&'static str> {
        match self {
            Self::Pev => Some("02:00:00:00:00:02"),
            Self::Plc => None,
            Self::Evse => Some("02:00:00:00:00:01"),
        }
    }

    /// A command that runs `program` inside this namespace (`ip netns exec`).
    pub fn command(self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", self.name()]).arg(program);
        command
    }
}

/// How the emulated powerline treats traffic that is not HomePlug management (SDP, V2G).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Powerline {
    /// As real modems do (`plc-emu.py --avln`): each modem starts with its own random key and
    /// IP traffic crosses only while both hold the same one (set by CM_SET_KEY.REQ), from
    /// 0.5 s after they first do. For every test that runs SLAC and then IP traffic.
    Avln,
    /// Every frame crosses whatever the keys, for peers that start at SDP without SLAC (Josev).
    Open,
}

/// The running topology. See the [module docs](self).
#[derive(Debug)]
pub struct Topology {
    tools: PathBuf,
    emulator: Child,
    workdir: PathBuf,
    _lock: File,
}

/// Programs every topology needs.
const BASE_PROGRAMS: &[&str] = &["ip", "ethtool", "python3", "bash"];

impl Topology {
    /// Brings the topology up for `test`, or returns `None` after reporting what is missing
    /// (see [`capability::missing`]: in CI that panics). `programs` are what the test itself
    /// runs besides the base tools (e.g. `pev`, `tcpdump`).
    pub fn up(test: &str, programs: &[&str], powerline: Powerline) -> Option<Self> {
        let all: Vec<&str> = BASE_PROGRAMS.iter().chain(programs).copied().collect();
        if !require(test, &all) {
            return None;
        }
        let Some(tools) = capability::shared_tools() else {
            missing(
                test,
                "shared/tools (netns-plc.sh, plc-emu.py) not found beside the repository",
            );
            return None;
        };
        let lock = lock();
        let workdir = std::env::temp_dir().join(format!("gridlet-netns-{}", std::process::id()));
        if let Err(e) = std::fs::create_dir_all(&workdir) {
            panic!("creating {}: {e}", workdir.display());
        }
        netns_script(&tools, "up");
        let log = File::create(workdir.join("plc-emu.log")).expect("emulator log file");
        let emulator = Namespace::Plc
            .command("python3")
            .arg("-u")
            .arg(tools.join("plc-emu.py"))
            .args(["pp", "pe"])
            .args(match powerline {
                Powerline::Avln => &["--avln"][..],
                Powerline::Open => &[],
            })
            .stdout(log.try_clone().expect("log file handle"))
            .stderr(log)
            .spawn()
            .expect("starting plc-emu.py");
        let topology = Self {
            tools,
            emulator,
            workdir,
            _lock: lock,
        };
        topology.wait_for_emulator();
        Some(topology)
    }

    /// A directory for this topology's files (logs, captures, configs); removed on drop.
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// The emulator's output so far.
    pub fn emulator_log(&self) -> String {
        std::fs::read_to_string(self.workdir.join("plc-emu.log")).unwrap_or_default()
    }

    /// Starts `tcpdump` on `eth1` in `ns`, capturing HomePlug frames both ways, and returns once
    /// it listens.
    pub fn capture(&self, ns: Namespace, name: &str) -> Capture {
        self.capture_filter(ns, name, &["ether", "proto", "0x88e1"])
    }

    /// Starts `tcpdump` on `eth1` in `ns` with a capture `filter` (tcpdump's expression, e.g.
    /// `ip6`), and returns once it listens.
    pub fn capture_filter(&self, ns: Namespace, name: &str, filter: &[&str]) -> Capture {
        let path = self.workdir.join(format!("{name}.pcap"));
        let mut child = ns
            .command("tcpdump")
            // Immediate mode: without it libpcap hands packets over in blocks, up to a second late,
            // and a capture stopped within that second misses its last frames.
            .args([
                "-i",
                "eth1",
                "-U",
                "-n",
                "--immediate-mode",
                "--time-stamp-precision=micro",
            ])
            .arg("-w")
            .arg(&path)
            .args(filter)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting tcpdump");
        let stderr = child.stderr.take().expect("tcpdump stderr");
        let mut lines = BufReader::new(stderr).lines();
        // tcpdump says "listening on eth1, ..." once its socket is open.
        match lines.next() {
            Some(Ok(line)) if line.contains("listening on") => {}
            other => panic!("tcpdump did not start: {other:?}"),
        }
        // Keep draining stderr so tcpdump never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Capture { child, path }
    }

    fn wait_for_emulator(&self) {
        // A modem query from the charger side; the emulator answers it itself.
        let probe = r#"
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88E1))
s.bind(("eth1", 0))
s.settimeout(0.2)
mac = s.getsockname()[4]
req = bytes.fromhex("00b052000001") + mac + bytes.fromhex("88e100") + bytes.fromhex("00a000b052")
s.send(req.ljust(60, b"\0"))
while True:
    f = s.recv(1514)
    if f[15:17] == bytes.fromhex("01a0"):
        sys.exit(0)
"#;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if capability::succeeds(Namespace::Evse.command("python3").args(["-c", probe])) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "plc-emu.py did not answer within 10 s; its log:\n{}",
            self.emulator_log()
        );
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        let _ = self.emulator.kill();
        let _ = self.emulator.wait();
        netns_script(&self.tools, "down");
        let _ = std::fs::remove_dir_all(&self.workdir);
    }
}

fn netns_script(tools: &Path, action: &str) {
    let status = Command::new("bash")
        .arg(tools.join("netns-plc.sh"))
        .arg(action)
        .status()
        .expect("running netns-plc.sh");
    assert!(status.success(), "netns-plc.sh {action} failed: {status}");
}

/// The machine-wide lock: the namespace names are fixed, so only one topology may exist at a
/// time, whichever test binary wants it.
fn lock() -> File {
    let dir = Path::new("/run/lock");
    let dir = if dir.is_dir() {
        dir.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let path = dir.join("gridlet-netns-plc.lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    file.lock()
        .unwrap_or_else(|e| panic!("locking {}: {e}", path.display()));
    file
}

/// A running `tcpdump`.
#[derive(Debug)]
pub struct Capture {
    child: Child,
    path: PathBuf,
}

impl Capture {
    /// Stops the capture like [`Capture::finish`] and copies the file to `keep`.
    pub fn finish_keeping(self, keep: &Path) -> Vec<pcap::Record> {
        let path = self.path.clone();
        let records = self.finish();
        if let Some(dir) = keep.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        std::fs::copy(&path, keep)
            .unwrap_or_else(|e| panic!("copying {} to {}: {e}", path.display(), keep.display()));
        records
    }

    /// Stops the capture (SIGINT, so tcpdump flushes) and reads what it captured.
    pub fn finish(mut self) -> Vec<pcap::Record> {
        // Let frames in flight reach the socket first.
        std::thread::sleep(Duration::from_millis(200));
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let _ = self.child.wait();
        let bytes = std::fs::read(&self.path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", self.path.display()));
        pcap::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", self.path.display()))
    }
}
