//! The module emulator against the bootloader path's plan (`qca_image::boot::applet_parts`):
//! every module of a synthetic softloader and firmware chain arrives whole and starts; a part
//! corrupted on the way is refused at the start; the emulator records the frame sequence.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use homeplug::vs_write_execute_applet::FLAG_EXECUTE;
use homeplug::{MacAddr, Message, Repr, vs_sw_ver};
use qca_image::boot::applet_parts;
use qca_image::nvm::{Chain, Header};
use qca_image::synth;
use testkit::modem::{ModuleEmulator, STATUS_REFUSED};

const HOST: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const MODEM: MacAddr = MacAddr([0x00, 0xB0, 0x52, 0, 0, 9]);

fn send(emu: &mut ModuleEmulator, message: Message) -> Message {
    let frame = Repr::new(MacAddr::QCA_LOCAL, HOST, message).to_bytes();
    let answers = emu.handle(&frame);
    assert_eq!(answers.len(), 1, "one answer per request");
    let answer = Repr::parse_bytes(&answers[0]).unwrap();
    assert_eq!((answer.dst, answer.src), (HOST, MODEM));
    answer.message
}

/// Loads every module of a chain at its own address, as a bootloader-path flasher does.
fn load(emu: &mut ModuleEmulator, chain: &mut Chain, base: u32) -> Vec<u32> {
    let mut statuses = Vec::new();
    let mut address = base;
    for module in &mut chain.modules {
        if let Header::V2(h) = &mut module.header {
            h.image_address = address;
            h.entry_point = address;
        }
        address += 0x10_0000;
        for part in applet_parts(module, 0xC0FFEE).unwrap() {
            let Message::WriteExecuteAppletCnf(cnf) =
                send(emu, Message::WriteExecuteAppletReq(part.clone()))
            else {
                panic!("not a VS_WRITE_AND_EXECUTE_APPLET.CNF");
            };
            assert_eq!(
                (cnf.client_session, cnf.part_offset),
                (0xC0FFEE, part.part_offset)
            );
            if part.flags & FLAG_EXECUTE != 0 {
                statuses.push(cnf.status);
            }
        }
    }
    statuses
}

#[test]
fn a_blank_module_boots_the_softloader_and_firmware_it_is_sent() {
    let mut emu = ModuleEmulator::new(MODEM, "MAC-QCA7000-1.1.0.730-04-20140815-CS");
    let Message::SwVerCnf(cnf) = send(&mut emu, Message::SwVerReq(vs_sw_ver::ReqRepr::default()))
    else {
        panic!("not a VS_SW_VER.CNF");
    };
    assert_eq!(cnf.version_string(), "BootLoader");

    let mut soft = Chain::parse(&synth::softloader(1).unwrap()).unwrap();
    let mut firmware = Chain::parse(&synth::firmware(2, 100_000).unwrap()).unwrap();
    assert_eq!(load(&mut emu, &mut soft, 0x0100_0000), [0, 0]);
    assert_eq!(load(&mut emu, &mut firmware, 0x0200_0000), [0, 0, 0]);
    let started: Vec<&[u8]> = emu.started.iter().map(|s| &s.image[..]).collect();
    let sent: Vec<&[u8]> = soft
        .modules
        .iter()
        .chain(&firmware.modules)
        .map(|m| &m.image[..])
        .collect();
    assert_eq!(started, sent, "every module arrived whole, in order");
    let parts: usize = sent.iter().map(|image| image.len().div_ceil(1400)).sum();
    assert_eq!(
        emu.received.len(),
        1 + parts,
        "VS_SW_VER, then one frame per part"
    );

    emu.set_running(true);
    let Message::SwVerCnf(cnf) = send(&mut emu, Message::SwVerReq(vs_sw_ver::ReqRepr::default()))
    else {
        panic!("not a VS_SW_VER.CNF");
    };
    assert!(cnf.version_string().starts_with("MAC-QCA7000"));
}

#[test]
fn a_module_corrupted_on_the_way_does_not_start() {
    let mut emu = ModuleEmulator::new(MODEM, "MAC-QCA7000");
    let mut chain = Chain::parse(&synth::softloader(3).unwrap()).unwrap();
    let module = &mut chain.modules[1];
    if let Header::V2(h) = &mut module.header {
        h.image_address = 0x0100_0000;
        h.entry_point = 0x0100_0000;
    }
    let mut parts = applet_parts(module, 1).unwrap();
    parts[2].image[5] ^= 0x40;
    let statuses: Vec<u32> = parts
        .into_iter()
        .map(
            |part| match send(&mut emu, Message::WriteExecuteAppletReq(part)) {
                Message::WriteExecuteAppletCnf(cnf) => cnf.status,
                other => panic!("unexpected {other:?}"),
            },
        )
        .collect();
    assert_eq!(statuses.last(), Some(&STATUS_REFUSED));
    assert!(statuses[..statuses.len() - 1].iter().all(|s| *s == 0));
    assert!(emu.started.is_empty());
    // Garbage and frames for nobody get no answer.
    assert!(emu.handle(&[0; 10]).is_empty());
}
