//! Whether the machine can run a test, with the CI rule: outside CI a test that lacks something
//! prints why and passes vacuously; in CI (`CI=true`) that is a failure, so CI always really runs
//! every test.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// True when running under CI (`CI=true`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Reports a missing capability: panics in CI, otherwise prints `skipping <test>: <why>` and
/// returns `false` so the test can return early.
pub fn missing(test: &str, why: &str) -> bool {
    if in_ci() {
        panic!("{test}: cannot run in CI: {why}");
    }
    eprintln!("skipping {test}: {why}");
    false
}

/// True if this process runs as root (effective UID 0, read from /proc).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Uid:"))?;
            // Uid: real effective saved filesystem
            line.split_whitespace().nth(2).map(|euid| euid == "0")
        })
        .unwrap_or(false)
}

/// The path of `program` on `PATH`, if it is there.
pub fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Checks root and programs; returns `false` (after [`missing`]) if anything lacks.
pub fn require(test: &str, programs: &[&str]) -> bool {
    if !is_root() {
        return missing(test, "needs root (network namespaces, raw sockets)");
    }
    for program in programs {
        if find_program(program).is_none() {
            return missing(test, &format!("`{program}` is not installed (see .ci/run)"));
        }
    }
    true
}

/// The repository's `shared/tools` folder: `$GRIDLET_SHARED/tools` if set, else the first
/// `shared/tools` beside the workspace root or one of its ancestors (a clone has `shared/` next to
/// it; a worktree one level further up).
pub fn shared_tools() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("GRIDLET_SHARED") {
        let tools = PathBuf::from(dir).join("tools");
        return tools.join("netns-plc.sh").is_file().then_some(tools);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let workspace = workspace.canonicalize().unwrap_or(workspace);
    workspace
        .ancestors()
        .skip(1)
        .map(|dir| dir.join("shared/tools"))
        .find(|tools| tools.join("netns-plc.sh").is_file())
}

/// Runs a command to completion, returning whether it succeeded (output discarded).
pub fn succeeds(command: &mut Command) -> bool {
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The Python of the pymodbus venv that `.ci/run` installs (`$GRIDLET_PYMODBUS_VENV`, else
/// `/var/cache/gridlet/pymodbus-venv`) and the `programs` a test needs beside it (e.g. socat for
/// RTU on a pty pair); `None` (after [`missing`]) if pymodbus and pyserial do not import in it
/// or a program lacks.
pub fn pymodbus(test: &str, programs: &[&str]) -> Option<PathBuf> {
    let venv = std::env::var_os("GRIDLET_PYMODBUS_VENV").map_or_else(
        || PathBuf::from("/var/cache/gridlet/pymodbus-venv"),
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    if !Command::new(&python)
        .args(["-c", "import pymodbus, serial"])
        .status()
        .is_ok_and(|s| s.success())
    {
        let why = format!(
            "pymodbus is not installed in {} (see .ci/run)",
            venv.display()
        );
        missing(test, &why);
        return None;
    }
    for program in programs {
        if find_program(program).is_none() {
            missing(test, &format!("`{program}` is not installed (see .ci/run)"));
            return None;
        }
    }
    Some(python)
}
