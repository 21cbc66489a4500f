//! Test harness for gridlet's integration tests (a dev-dependency only).
//!
//! - [`netns::Topology`]: the three network namespaces of `shared/tools/netns-plc.sh` (car,
//!   powerline, charger, each end named `eth1`) with `plc-emu.py` emulating the powerline and
//!   the two local modems, behind a machine-wide lock so that test binaries never collide.
//! - [`capability`]: whether a test can run here; without `CI=true` a missing capability skips
//!   the test with a message, with `CI=true` it fails it.
//! - [`pcap`]: reads `tcpdump -w` captures, for timing measured from frame timestamps.
//! - [`inet`]: IPv6 TCP connections (reassembled) and UDP datagrams out of a capture.
//! - [`modem`]: a QCA7000 module emulator (bootloader path), frames in, frames out.

pub mod capability;
pub mod inet;
pub mod modem;
pub mod netns;
pub mod pcap;

/// For a bench binary with `harness = false`: whether `cargo bench`'s command line filters
/// `name` out (`cargo bench -- other` runs every bench binary with the filter `other`; the
/// `--bench` flag it always passes is no filter).
pub fn bench_filtered_out(name: &str) -> bool {
    std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .any(|a| !a.starts_with('-') && !name.contains(a.as_str()))
}
