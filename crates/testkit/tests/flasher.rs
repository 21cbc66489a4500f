//! The sans-IO flasher (`flasher::Flasher`) against the module emulator, in memory on virtual
//! time: a blank module flashed from its bootloader, a running module re-flashed, an
//! interrupted flash that resumes, the PIB read and written, reset, key and status.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use flasher::{Event, Flasher, Images, Job, ModuleState, Reason, Timing};
use homeplug::vs_module_operation::{ModuleId, Operation};
use homeplug::{MacAddr, Message, Nmk};
use qca_image::synth;
use testkit::modem::ModuleEmulator;
use units::Timestamp;

const HOST: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const MODEM: MacAddr = MacAddr([0x00, 0xB0, 0x52, 0, 0, 9]);

fn images(seed: u64) -> Images {
    Images {
        softloader: Some(synth::softloader(seed).unwrap()),
        firmware: synth::firmware(seed + 10, 20_000).unwrap(),
        pib: synth::pib_file_with_manifest(seed + 20, 8192, MODEM).unwrap(),
    }
}

/// Runs the flasher against the emulator until it finishes; returns its events and when.
fn run(emu: &mut ModuleEmulator, job: Job) -> (Vec<Event>, Duration) {
    run_with(emu, job, 1)
}

/// [`run`], every answer delivered `copies` times (a medium that duplicates frames).
fn run_with(emu: &mut ModuleEmulator, job: Job, copies: usize) -> (Vec<Event>, Duration) {
    let start = Timestamp::from_unix_micros(1_000_000);
    let mut now = start;
    let mut f = Flasher::new(now, HOST, job, 0x5EED, Timing::default()).unwrap();
    let mut events = Vec::new();
    while !f.is_finished() {
        while let Some(repr) = f.poll_transmit() {
            for answer in emu.handle(&repr.to_bytes()) {
                for _ in 0..copies {
                    f.handle_frame(now, &answer);
                }
            }
        }
        events.extend(std::iter::from_fn(|| f.poll_event()));
        if f.is_finished() {
            break;
        }
        now = f.poll_timeout().expect("a deadline while waiting");
        f.handle_timeout(now);
    }
    events.extend(std::iter::from_fn(|| f.poll_event()));
    (events, now.saturating_duration_since(start))
}

fn flash_of(emu: &ModuleEmulator, m: ModuleId) -> Option<&Vec<u8>> {
    emu.flash.get(&m)
}

#[test]
fn a_blank_module_is_flashed_from_its_bootloader_verified_and_restarted() {
    let mut emu = ModuleEmulator::new(MODEM, "QCA7000-MAC-SOFTMAC-1.2.5.3207-00-20180627-CS");
    let imgs = images(1);
    let (events, _) = run(&mut emu, Job::Flash(imgs.clone()));
    assert_eq!(events.last(), Some(&Event::Done), "{events:?}");
    assert!(
        matches!(&events[0], Event::Found { version, mac, .. } if version == "BootLoader" && *mac == MODEM)
    );
    assert!(events.iter().any(|e| matches!(e, Event::Booted { .. })));
    for m in [
        ModuleId::SOFTLOADER,
        ModuleId::PARAMETERS,
        ModuleId::FIRMWARE,
    ] {
        assert!(events.contains(&Event::Verified(m)), "{m:?} verified");
    }
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Restarted { version } if version.starts_with("QCA7000")))
    );
    assert_eq!(
        flash_of(&emu, ModuleId::SOFTLOADER),
        imgs.softloader.as_ref()
    );
    assert_eq!(flash_of(&emu, ModuleId::FIRMWARE), Some(&imgs.firmware));
    assert_eq!(flash_of(&emu, ModuleId::PARAMETERS), Some(&imgs.pib));
    // The memory-controller applet and the firmware were started, in that order.
    assert_eq!(emu.started.len(), 2);
    assert!(!emu.in_bootloader());
}

#[test]
fn a_running_module_is_flashed_without_the_bootloader_and_unchanged_modules_are_skipped() {
    let mut emu = ModuleEmulator::new(MODEM, "FW-1");
    let old = images(1);
    run(&mut emu, Job::Flash(old.clone()));
    let received = emu.received.len();
    // New firmware and PIB, same softloader: the softloader's session is skipped.
    let mut new = images(2);
    new.softloader = old.softloader.clone();
    let (events, _) = run(&mut emu, Job::Flash(new.clone()));
    assert_eq!(events.last(), Some(&Event::Done), "{events:?}");
    assert!(events.contains(&Event::AlreadyInFlash(ModuleId::SOFTLOADER)));
    assert!(
        !emu.received[received..]
            .iter()
            .any(|r| matches!(r.message, Message::WriteExecuteAppletReq(_)))
    );
    assert_eq!(flash_of(&emu, ModuleId::FIRMWARE), Some(&new.firmware));
    assert_eq!(flash_of(&emu, ModuleId::PARAMETERS), Some(&new.pib));
}

#[test]
fn an_interrupted_flash_says_where_the_module_is_and_resumes() {
    let mut emu = ModuleEmulator::new(MODEM, "FW-1");
    let imgs = images(3);
    // Find how many frames the whole flash takes, then cut the power in the firmware writes.
    let mut probe = emu.clone();
    run(&mut probe, Job::Flash(imgs.clone()));
    let first_fw_write = probe
        .received
        .iter()
        .position(|r| matches!(&r.message, Message::ModuleOperationReq(req)
            if matches!(&req.operation, Operation::Write { module, .. } if *module == ModuleId::FIRMWARE)))
        .unwrap();
    emu.power_off_after(first_fw_write + 5);
    let (events, took) = run(&mut emu, Job::Flash(imgs.clone()));
    let Some(Event::Failed(failure)) = events.last() else {
        panic!("an interrupted flash fails: {events:?}");
    };
    assert!(matches!(failure.reason, Reason::NoAnswer { .. }));
    assert_eq!(
        failure.state,
        ModuleState::Partial {
            done: vec![ModuleId::SOFTLOADER],
            pending: vec![ModuleId::PARAMETERS, ModuleId::FIRMWARE],
        }
    );
    let text = failure.to_string();
    assert!(
        text.contains("run the same command again") || text.contains("Run the same command again"),
        "{text}"
    );
    // Virtual time (the test drives the clock): three attempts of one second; 10 s means the
    // retry loop is broken, not slow.
    assert!(took < Duration::from_secs(10), "{took:?}");
    // Power back: no firmware in flash, so the bootloader; the re-run skips the softloader.
    emu.power_cycle();
    assert!(emu.in_bootloader());
    let (events, _) = run(&mut emu, Job::Flash(imgs.clone()));
    assert_eq!(events.last(), Some(&Event::Done), "{events:?}");
    assert!(events.contains(&Event::AlreadyInFlash(ModuleId::SOFTLOADER)));
    assert_eq!(flash_of(&emu, ModuleId::FIRMWARE), Some(&imgs.firmware));
    assert_eq!(flash_of(&emu, ModuleId::PARAMETERS), Some(&imgs.pib));
}

#[test]
fn a_module_whose_flash_differs_from_the_file_is_rewritten() {
    let mut emu = ModuleEmulator::new(MODEM, "FW-1");
    let imgs = images(4);
    run(&mut emu, Job::Flash(imgs.clone()));
    // A flash that differs from the file (bit rot, another tool) is found by the read-back
    // before the session, and the session is written again.
    emu.flash.get_mut(&ModuleId::PARAMETERS).unwrap()[100] ^= 0xFF;
    let (events, _) = run(&mut emu, Job::Flash(imgs.clone()));
    assert_eq!(events.last(), Some(&Event::Done), "{events:?}");
    assert!(events.contains(&Event::Committed(vec![
        ModuleId::PARAMETERS,
        ModuleId::FIRMWARE
    ])));
    assert_eq!(flash_of(&emu, ModuleId::PARAMETERS), Some(&imgs.pib));
}

#[test]
fn the_pib_is_read_written_and_read_back() {
    let mut emu = ModuleEmulator::new(MODEM, "FW-1");
    let imgs = images(5);
    run(&mut emu, Job::Flash(imgs.clone()));
    let (events, _) = run(&mut emu, Job::ReadPib);
    assert!(events.contains(&Event::Pib(imgs.pib.clone())), "{events:?}");
    let mut pib = qca_image::Pib::parse(&imgs.pib).unwrap();
    pib.apply_evse_profile(MacAddr([0x04, 0x65, 0x65, 0xFF, 0xFF, 0]))
        .unwrap();
    let written = pib.to_bytes();
    let (events, _) = run(&mut emu, Job::WritePib(written.clone()));
    assert_eq!(events.last(), Some(&Event::Done), "{events:?}");
    assert!(events.contains(&Event::Verified(ModuleId::PARAMETERS)));
    let (events, _) = run(&mut emu, Job::ReadPib);
    assert!(
        events.contains(&Event::Pib(written)),
        "the restarted module runs the new PIB"
    );
    // The firmware was not touched.
    assert_eq!(flash_of(&emu, ModuleId::FIRMWARE), Some(&imgs.firmware));
}

#[test]
fn reset_key_and_status() {
    let mut emu = ModuleEmulator::new(MODEM, "FW-1");
    let (events, _) = run(&mut emu, Job::Status);
    assert!(matches!(&events[0], Event::Found { version, .. } if version == "BootLoader"));
    assert_eq!(events.last(), Some(&Event::Done));
    let (events, _) = run(&mut emu, Job::ReadPib);
    assert!(matches!(events.last(), Some(Event::Failed(f)) if f.reason == Reason::InBootloader));
    let imgs = images(6);
    run(&mut emu, Job::Flash(imgs.clone()));
    let (events, _) = run(&mut emu, Job::Status);
    assert!(events.contains(&Event::Pib(imgs.pib.clone())));
    assert!(events.contains(&Event::Link(false)));
    let (events, _) = run(&mut emu, Job::Reset);
    assert!(events.contains(&Event::Restarted {
        version: "FW-1".to_owned()
    }));
    let nmk = Nmk([0x42; 16]);
    let (events, _) = run(&mut emu, Job::SetKey(nmk));
    assert_eq!(events.last(), Some(&Event::Done));
    assert_eq!(emu.nmk, Some(nmk));
}

#[test]
fn bad_files_are_refused_before_anything_is_sent() {
    let mut imgs = images(7);
    imgs.firmware.truncate(1001);
    let err = Flasher::new(
        Timestamp::from_unix_micros(0),
        HOST,
        Job::Flash(imgs),
        1,
        Timing::default(),
    )
    .unwrap_err();
    assert_eq!(err.state, ModuleState::Unchanged);
    assert!(err.to_string().contains("firmware"), "{err}");
    let err = Flasher::new(
        Timestamp::from_unix_micros(0),
        HOST,
        Job::WritePib(vec![0; 64]),
        1,
        Timing::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("PIB"), "{err}");
}

#[test]
fn duplicated_answers_are_not_taken_for_the_next_request() {
    let mut emu = ModuleEmulator::new(MODEM, "FW-1");
    let imgs = images(8);
    let (events, _) = run_with(&mut emu, Job::Flash(imgs.clone()), 2);
    assert_eq!(events.last(), Some(&Event::Done), "{events:?}");
    assert_eq!(flash_of(&emu, ModuleId::FIRMWARE), Some(&imgs.firmware));
    assert_eq!(flash_of(&emu, ModuleId::PARAMETERS), Some(&imgs.pib));
}
