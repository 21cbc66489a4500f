//! `gridlet plc flash|pib read|pib write|status` against the module emulator of the test kit
//! (`testkit::modem`) on a raw socket, and the same flash by Qualcomm's `plcboot -F` (Debian
//! plc-utils-extra) against the same emulator with the same files: the two frame sequences
//! (MME types, order, written parts with their offsets) are compared, and the emulator's flash
//! must equal the files afterwards. The emulator answers on one end of a veth pair in this
//! process's namespace; the flashers run in a namespace of their own on the other end.
//! Needs root, `ip` and `plcboot`: without them the tests say why and pass, unless `CI=true`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use homeplug::vs_module_operation::{ModuleId, Operation};
use homeplug::{MacAddr, Message};
use qca_image::synth;
use testkit::capability;
use testkit::modem::{ModuleEmulator, serve};

const BIN: &str = env!("CARGO_BIN_EXE_gridlet");
const MODEM: MacAddr = MacAddr([0x00, 0xB0, 0x52, 0x00, 0x33, 0x79]);

/// A namespace `gflashN` holding `gflNh`, whose peer `gflNm` stays here for the emulator.
struct Veth {
    ns: String,
    host: String,
    module: String,
}

impl Veth {
    fn up(n: u8) -> Self {
        let v = Self {
            ns: format!("gflash{n}"),
            host: format!("gfl{n}h"),
            module: format!("gfl{n}m"),
        };
        v.down();
        let ip = |args: &[&str]| {
            let ok = Command::new("ip").args(args).status().unwrap().success();
            assert!(ok, "ip {args:?}");
        };
        ip(&["netns", "add", &v.ns]);
        ip(&[
            "link", "add", &v.module, "type", "veth", "peer", "name", &v.host,
        ]);
        ip(&["link", "set", &v.module, "address", &MODEM.to_string()]);
        ip(&["link", "set", &v.host, "netns", &v.ns]);
        ip(&["link", "set", &v.module, "up"]);
        ip(&[
            "-n",
            &v.ns,
            "link",
            "set",
            &v.host,
            "address",
            "02:00:00:00:00:01",
        ]);
        ip(&["-n", &v.ns, "link", "set", &v.host, "up"]);
        v
    }

    fn down(&self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.module])
            .output();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ns, program])
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        self.down();
    }
}

fn ok(out: &Output, what: &str) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} failed: {text}");
    text
}

/// What a flasher did to the module, without what only asks (VS_SW_VER polls, module reads)
/// and without the run's cookie: the comparable frame sequence.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Applet {
        flags: u32,
        mem_types: [u8; 8],
        total_length: u32,
        offset: u32,
        start: u32,
        checksum: u32,
        data: Vec<u8>,
    },
    Session(Vec<(u16, u32, u32)>),
    Write {
        index: u8,
        module: u16,
        offset: u32,
        data: Vec<u8>,
    },
    Commit(u32),
    Reset,
    Other(String),
}

fn steps(emu: &ModuleEmulator) -> Vec<Step> {
    emu.received
        .iter()
        .filter_map(|r| match &r.message {
            Message::SwVerReq(_) => None,
            Message::WriteExecuteAppletReq(a) => Some(Step::Applet {
                flags: a.flags,
                mem_types: a.mem_types,
                total_length: a.total_length,
                offset: a.part_offset,
                start: a.start_address,
                checksum: a.checksum,
                data: a.image.clone(),
            }),
            Message::ModuleOperationReq(req) => match &req.operation {
                Operation::Read { .. } => None,
                Operation::StartSession { modules, .. } => Some(Step::Session(
                    modules
                        .iter()
                        .map(|m| (m.module.id, m.length, m.checksum))
                        .collect(),
                )),
                Operation::Write {
                    index,
                    module,
                    offset,
                    data,
                    ..
                } => Some(Step::Write {
                    index: *index,
                    module: module.id,
                    offset: *offset,
                    data: data.clone(),
                }),
                Operation::Commit { code, .. } => Some(Step::Commit(*code)),
                Operation::Other { op, .. } => Some(Step::Other(format!("MOD_OP {op:#x}"))),
            },
            Message::RsDevReq(_) => Some(Step::Reset),
            other => Some(Step::Other(other.mmtype().to_string())),
        })
        .collect()
}

fn names(steps: &[Step]) -> Vec<&'static str> {
    steps
        .iter()
        .map(|s| match s {
            Step::Applet { .. } => "applet",
            Step::Session(_) => "session",
            Step::Write { .. } => "write",
            Step::Commit(_) => "commit",
            Step::Reset => "reset",
            Step::Other(_) => "other",
        })
        .collect()
}

fn files(dir: &std::path::Path, seed: u64) -> [(std::path::PathBuf, Vec<u8>); 3] {
    let set = [
        ("softloader.nvm", synth::softloader(seed).unwrap()),
        ("firmware.nvm", synth::firmware(seed + 1, 30_000).unwrap()),
        (
            "evse.pib",
            synth::pib_file_with_manifest(seed + 2, 8192, MODEM).unwrap(),
        ),
    ];
    set.map(|(name, bytes)| {
        let path = dir.join(name);
        std::fs::write(&path, &bytes).unwrap();
        (path, bytes)
    })
}

fn check_flash(emu: &ModuleEmulator, files: &[(std::path::PathBuf, Vec<u8>); 3]) {
    for (module, (path, bytes)) in [
        ModuleId::SOFTLOADER,
        ModuleId::FIRMWARE,
        ModuleId::PARAMETERS,
    ]
    .into_iter()
    .zip(files)
    {
        assert!(
            emu.flash.get(&module) == Some(bytes),
            "the emulator's {module:?} is not {}",
            path.display()
        );
    }
}

#[test]
fn our_flash_sends_what_plcboot_sends_and_the_flash_holds_the_files() {
    let test = "our_flash_sends_what_plcboot_sends_and_the_flash_holds_the_files";
    if !capability::require(test, &["ip", "plcboot"]) {
        return;
    }
    let veth = Veth::up(1);
    let tmp = tempfile::tempdir().unwrap();
    let set = files(tmp.path(), 40);
    let path = |i: usize| set[i].0.to_str().unwrap().to_owned();
    let version = "QCA7000-MAC-SOFTMAC-1.2.5-EMU";

    // plcboot first.
    let emu = Arc::new(Mutex::new(ModuleEmulator::new(MODEM, version)));
    let served = serve(&veth.module, emu.clone()).unwrap();
    let started = std::time::Instant::now();
    let out = veth.run(
        "plcboot",
        &[
            "-i",
            &veth.host,
            "-t",
            "1000",
            "-F",
            "-S",
            &path(0),
            "-N",
            &path(1),
            "-P",
            &path(2),
        ],
    );
    let plcboot_took = started.elapsed();
    drop(served);
    let text = ok(&out, "plcboot");
    let theirs = emu.lock().unwrap().clone();
    println!("plcboot: {text}\n{:?}", names(&steps(&theirs)));
    check_flash(&theirs, &set);

    // Then ours, on a blank module again.
    let emu = Arc::new(Mutex::new(ModuleEmulator::new(MODEM, version)));
    let served = serve(&veth.module, emu.clone()).unwrap();
    let started = std::time::Instant::now();
    let out = veth.run(
        BIN,
        &[
            "plc",
            "flash",
            "--iface",
            &veth.host,
            "--softloader",
            &path(0),
            "--firmware",
            &path(1),
            "--pib",
            &path(2),
        ],
    );
    let ours_took = started.elapsed();
    drop(served);
    let text = ok(&out, "gridlet plc flash");
    println!("{text}");
    let ours = emu.lock().unwrap().clone();
    check_flash(&ours, &set);
    assert!(text.contains("verified  firmware"), "{text}");
    assert!(
        !ours.in_bootloader(),
        "ours leaves the module running its firmware"
    );

    let (theirs, ours) = (steps(&theirs), steps(&ours));
    println!(
        "plcboot: {} steps in {plcboot_took:?}; gridlet: {} steps in {ours_took:?}",
        theirs.len(),
        ours.len()
    );
    // The same writes in the same order; ours then restarts the module to check it boots
    // from flash (plcboot leaves it running from memory).
    assert_eq!(ours.last(), Some(&Step::Reset));
    let ours = &ours[..ours.len() - 1];
    assert_eq!(names(ours), names(&theirs));
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(a, b, "step {i} differs");
    }
    assert!(theirs.iter().any(|s| matches!(s, Step::Commit(_))));
}

#[test]
fn pib_round_trip_status_and_an_interrupted_flash_that_resumes() {
    let test = "pib_round_trip_status_and_an_interrupted_flash_that_resumes";
    if !capability::require(test, &["ip"]) {
        return;
    }
    let veth = Veth::up(2);
    let tmp = tempfile::tempdir().unwrap();
    let set = files(tmp.path(), 50);
    let path = |i: usize| set[i].0.to_str().unwrap().to_owned();
    let emu = Arc::new(Mutex::new(ModuleEmulator::new(MODEM, "FW-EMU")));
    let _served = serve(&veth.module, emu.clone()).unwrap();
    let flash = [
        "plc",
        "flash",
        "--iface",
        &veth.host,
        "--timeout",
        "300ms",
        "--softloader",
        &path(0),
        "--firmware",
        &path(1),
        "--pib",
        &path(2),
    ];

    // Status of a blank module.
    let text = ok(
        &veth.run(BIN, &["plc", "status", "--iface", &veth.host]),
        "status",
    );
    assert!(text.contains("mode      bootloader"), "{text}");
    assert!(text.contains(&format!("modem     {MODEM}")), "{text}");

    // Power lost in the middle of the firmware: a clear message, then a resumed flash.
    emu.lock().unwrap().power_off_after(60);
    let out = veth.run(BIN, &flash);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stderr}");
    assert!(
        stderr.contains("no answer to VS_MODULE_OPERATION.REQ"),
        "{stderr}"
    );
    assert!(stderr.contains("Run the same command again"), "{stderr}");
    assert!(stderr.contains("\"softloader\""), "{stderr}");
    emu.lock().unwrap().power_cycle();
    let text = ok(&veth.run(BIN, &flash), "the resumed flash");
    assert!(
        text.contains("skipped   softloader (already in flash)"),
        "{text}"
    );
    check_flash(&emu.lock().unwrap(), &set);

    // Status of the running module: firmware, role and link from its PIB.
    let text = ok(
        &veth.run(BIN, &["plc", "status", "--iface", &veth.host]),
        "status",
    );
    assert!(text.contains("firmware  FW-EMU"), "{text}");
    assert!(text.contains("role      "), "{text}");
    assert!(text.contains("link      down"), "{text}");

    // PIB: read, the EVSE profile applied to the file, written, read back.
    let read = tmp.path().join("read.pib");
    let read_s = read.to_str().unwrap();
    ok(
        &veth.run(
            BIN,
            &["plc", "pib", "read", "--iface", &veth.host, "--out", read_s],
        ),
        "pib read",
    );
    assert_eq!(std::fs::read(&read).unwrap(), set[2].1);
    ok(
        &veth.run(
            BIN,
            &["plc", "pib", "evse", read_s, "--mac", "04:65:65:ff:ff:00"],
        ),
        "pib evse",
    );
    let evse = std::fs::read(&read).unwrap();
    ok(
        &veth.run(BIN, &["plc", "pib", "write", "--iface", &veth.host, read_s]),
        "pib write",
    );
    let back = tmp.path().join("back.pib");
    ok(
        &veth.run(
            BIN,
            &[
                "plc",
                "pib",
                "read",
                "--iface",
                &veth.host,
                "--out",
                back.to_str().unwrap(),
            ],
        ),
        "pib read back",
    );
    assert_eq!(std::fs::read(&back).unwrap(), evse);
    assert_eq!(
        emu.lock().unwrap().flash.get(&ModuleId::PARAMETERS),
        Some(&evse)
    );

    // Key and reset.
    let text = ok(
        &veth.run(
            BIN,
            &[
                "plc",
                "key",
                "--iface",
                &veth.host,
                "--nmk",
                "b59319d7e8157ba001b018669ccee30d",
            ],
        ),
        "key",
    );
    assert!(text.contains("key set"), "{text}");
    assert_eq!(
        emu.lock().unwrap().nmk.map(|k| k.0[0]),
        Some(0xb5),
        "the emulator got the key"
    );
    let text = ok(
        &veth.run(BIN, &["plc", "reset", "--iface", &veth.host]),
        "reset",
    );
    assert!(text.contains("restarted: FW-EMU"), "{text}");
}
