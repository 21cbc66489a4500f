//! A real SocketCAN round trip: builds `examples/vcan_roundtrip.rs` as a static binary and boots
//! it in a throwaway VM with a Debian kernel that has vcan (`shared/tools/can-vm.sh`, qemu TCG;
//! the test machines' kernels have no SocketCAN). Needs qemu-system-x86, cpio and apt-get
//! (installed by .ci/run); outside CI it skips, with the reason, when they are missing.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use testkit::capability::{find_program, missing, shared_tools};

#[test]
fn socketcan_round_trip_in_a_vm() {
    let test = "socketcan_round_trip_in_a_vm";
    let Some(tools) = shared_tools() else {
        missing(
            test,
            "shared/tools (can-vm.sh) not found beside the repository",
        );
        return;
    };
    for program in ["qemu-system-x86_64", "cpio", "apt-get"] {
        if find_program(program).is_none() {
            missing(test, &format!("`{program}` is not installed (see .ci/run)"));
            return;
        }
    }
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace.join("target"), PathBuf::from);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());

    // Static only in the final link: the dependencies are the test build's own, so this takes
    // seconds.
    let started = Instant::now();
    let status = Command::new(&cargo)
        .args([
            "rustc",
            "--quiet",
            "-p",
            "devices-can",
            "--example",
            "vcan_roundtrip",
        ])
        .args(["--", "-C", "target-feature=+crt-static"])
        .current_dir(&workspace)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the static test binary failed");
    let binary = target.join("debug/examples/vcan_roundtrip");
    let built = started.elapsed();

    let work = tempfile::tempdir().expect("a temporary directory");
    let started = Instant::now();
    let out = Command::new("sh")
        .arg(tools.join("can-vm.sh"))
        .arg(&binary)
        .env("W", work.path().join("vm"))
        .current_dir(work.path())
        .output()
        .expect("can-vm.sh runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    println!(
        "static build {:.1} s, VM (download, boot, test) {:.1} s",
        built.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        stdout.contains("CAN-VM OK") && stdout.contains("VM-TEST-EXIT=0"),
        "the round trip failed in the VM"
    );
}
