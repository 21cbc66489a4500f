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
