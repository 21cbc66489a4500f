//! NVM chains, flash dumps and PIBs: round trips, the layouts found without fixed offsets, and
//! every kind of malformed input rejected with the error that names it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use homeplug::{MacAddr, Nmk};
use qca_image::nvm::{self, Chain, ImageType};
use qca_image::pib::{self, DeviceRole, Edit, EditKind, Pib};
use qca_image::{ChainRole, Error, FlashLayout, checksum32, merge, synth};

const MAC: MacAddr = MacAddr([0x00, 0xB0, 0x52, 0x12, 0x34, 0x56]);

#[test]
fn chains_of_both_versions_parse_and_reemit_byte_for_byte() {
    for file in [
        synth::firmware(1, 40_000).unwrap(),
        synth::firmware_v1(2).unwrap(),
    ] {
        let chain = Chain::parse(&file).unwrap();
        assert_eq!(chain.modules.len(), 3);
        assert_eq!(chain.to_bytes(), file);
        assert_eq!(merge(&chain.split()).unwrap(), file);
        for part in chain.split() {
            // Each part is a one-module chain file of its own.
            Chain::parse(&part).unwrap();
        }
    }
}

#[test]
fn split_clears_links_and_merge_restores_them() {
    let file = synth::firmware(3, 5000).unwrap();
    let parts = Chain::parse(&file).unwrap().split();
    let first = nvm::Header::parse(&parts[1], 1, 0).unwrap();
    assert!(first.is_unlinked());
    // A linked chain is refused as a part.
    assert_eq!(merge(&[&file]), Err(Error::LinkedPart { part: 0 }));
    assert_eq!(merge::<&[u8]>(&[]), Err(Error::NothingToMerge));
    let mixed = [
        parts[0].clone(),
        synth::firmware_v1(4)
            .map(|f| Chain::parse(&f).unwrap().split()[0].clone())
            .unwrap(),
    ];
    assert!(matches!(
        merge(&mixed),
        Err(Error::MixedVersions { module: 1, .. })
    ));
}

#[test]
fn flash_layouts_are_found_wherever_the_chains_are() {
    let soft = synth::softloader(10).unwrap();
    let firm = synth::firmware(11, 300_000).unwrap();
    let pib = synth::pib_file(12, 16 * 1024, MAC).unwrap();
    for (size, offsets) in [
        (2 << 20, [0, 0x10000, 0xE0000]),
        (1 << 20, [0, 0x8000, 0x70000]),
        (1 << 20, [0x1000, 0x90000, 0x6000]),
    ] {
        let dump = synth::flash_dump(
            size,
            &[(offsets[0], &soft), (offsets[1], &firm), (offsets[2], &pib)],
        );
        let layout = FlashLayout::scan(&dump);
        assert_eq!(layout.chains.len(), 3);
        for (role, offset, file) in [
            (ChainRole::Softloader, offsets[0], &soft),
            (ChainRole::Firmware, offsets[1], &firm),
            (ChainRole::Pib, offsets[2], &pib),
        ] {
            let found = layout.get(role).unwrap();
            assert_eq!(found.offset, offset, "{role:?}");
            assert_eq!(&found.to_file().unwrap(), file);
        }
    }
    let erased = synth::flash_dump(1 << 20, &[]);
    assert!(FlashLayout::scan(&erased).chains.is_empty());
    assert_eq!(
        FlashLayout::scan(&erased).get(ChainRole::Pib),
        Err(Error::NotInFlash("PIB"))
    );
}

#[test]
fn malformed_chains_name_the_fault() {
    let file = synth::firmware(5, 4096).unwrap();
    // Truncated inside the last image and inside the first header.
    assert!(matches!(
        Chain::parse(&file[..file.len() - 3]),
        Err(Error::Truncated {
            what: "image",
            module: 2,
            ..
        })
    ));
    assert!(matches!(
        Chain::parse(&file[..50]),
        Err(Error::Truncated {
            what: "header",
            module: 0,
            ..
        })
    ));
    // A flipped bit in a header, then in an image.
    let mut bad = file.clone();
    bad[10] ^= 1;
    assert_eq!(
        Chain::parse(&bad),
        Err(Error::HeaderChecksum {
            module: 0,
            offset: 0
        })
    );
    let mut bad = file.clone();
    bad[200] ^= 0x80;
    assert!(matches!(
        Chain::parse(&bad),
        Err(Error::ImageChecksum { module: 0, .. })
    ));
    // Trailing bytes, and not an NVM file at all.
    let mut long = file.clone();
    long.extend_from_slice(&[0; 8]);
    assert!(matches!(
        Chain::parse(&long),
        Err(Error::TrailingData { len: 8, .. })
    ));
    assert!(matches!(
        Chain::parse(b"hello world"),
        Err(Error::HeaderVersion { .. })
    ));
    assert!(matches!(Chain::parse(&[]), Err(Error::Truncated { .. })));
}

#[test]
fn random_and_mutated_bytes_never_panic() {
    let seeds = [
        synth::firmware(6, 2000).unwrap(),
        synth::firmware_v1(7).unwrap(),
        synth::pib_file(8, 0x2100, MAC).unwrap(),
        synth::bare_pib(9, 0x2100, MAC),
    ];
    for i in 0..3000u64 {
        let base = &seeds[(i % 4) as usize];
        let noise = synth::bytes(i, 16);
        let mut b = base.clone();
        let at = usize::from(noise[0]) * 256 + usize::from(noise[1]);
        match noise[2] % 4 {
            0 => b.truncate(at % (b.len() + 1)),
            1 => {
                let at = at % b.len();
                b[at] ^= noise[3] | 1;
            }
            2 => b = synth::bytes(i, usize::from(noise[3]) * 4),
            _ => b[..8].copy_from_slice(&noise[8..16]),
        }
        let _ = Chain::parse(&b).map(|c| c.split());
        let _ = FlashLayout::scan(&b);
        if let Ok(mut p) = Pib::parse(&b) {
            let _ = p.check();
            let _ = p.apply_evse_profile(MAC);
            // What we write reads back, and writing it again is a fixed point.
            let bytes = p.to_bytes();
            let again = Pib::parse(&bytes).unwrap();
            assert!(
                again.to_bytes() == bytes,
                "case {i}: the written PIB is not a fixed point"
            );
        }
    }
}

#[test]
fn pib_fields_read_and_write() {
    let file = synth::pib_file(20, 16 * 1024, MAC).unwrap();
    let mut pib = Pib::parse(&file).unwrap();
    pib.check().unwrap();
    assert!(pib.is_nvm());
    assert_eq!(pib.mac().unwrap(), MAC);
    assert_eq!(pib.device_role().unwrap(), DeviceRole::Pev);
    assert_eq!(pib.hfid(pib::USER_HFID).unwrap(), "PEV");
    let nmk = Nmk([0x42; 16]);
    pib.set_nmk(nmk).unwrap();
    assert_eq!(pib.nmk().unwrap(), nmk);
    let out = pib.to_bytes();
    let reread = Pib::parse(&out).unwrap();
    reread.check().unwrap();
    assert_eq!(reread.nmk().unwrap(), nmk);
    Chain::parse(&out).unwrap();

    let mac = MacAddr([0x04, 0x65, 0x65, 0xFF, 0xFF, 0x00]);
    pib.apply_evse_profile(mac).unwrap();
    assert_eq!(pib.device_role().unwrap(), DeviceRole::Evse);
    assert_eq!(pib.hfid(pib::USER_HFID).unwrap(), "EVSE");
    assert_eq!(pib.get(0x1C98, EditKind::Long).unwrap(), "10240");
    assert_eq!(pib.get(0x1C9C, EditKind::Long).unwrap(), "102400");
    assert_eq!(
        pib.get(pib::MAC, EditKind::Mac).unwrap(),
        "04:65:65:FF:FF:00"
    );
    let once = pib.to_bytes();
    pib.apply_evse_profile(mac).unwrap();
    assert_eq!(pib.to_bytes(), once, "the profile is idempotent");
}

#[test]
fn bare_pibs_keep_their_own_checksum() {
    let file = synth::bare_pib(21, 0x2400, MAC);
    let mut pib = Pib::parse(&file).unwrap();
    pib.check().unwrap();
    assert!(!pib.is_nvm());
    pib.apply(&Edit::from_args(&["F4", "byte", "2"]).unwrap())
        .unwrap();
    let out = pib.to_bytes();
    assert_eq!(checksum32(&out), 0);
    Pib::parse(&out).unwrap().check().unwrap();
    // An edit that would point the length field past the file is refused (found by fuzzing).
    let before = pib.clone();
    let err = pib
        .apply(&Edit::from_args(&["4", "word", "0xFFFF"]).unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("length field"), "{err}");
    assert_eq!(pib, before);
    let mut bad = out.clone();
    bad[0x100] ^= 4;
    assert!(matches!(
        Pib::parse(&bad).unwrap().check(),
        Err(Error::PibChecksum { .. })
    ));
}

#[test]
fn malformed_pibs_name_the_fault() {
    let file = synth::pib_file(22, 0x2100, MAC).unwrap();
    let mut bad = file.clone();
    bad[nvm::V2_HEADER_LEN + pib::NMK] ^= 1;
    // Image checksum first, then (checksum fixed) the NID that no longer matches the NMK.
    let pib = Pib::parse(&bad).unwrap();
    assert!(matches!(pib.check(), Err(Error::ImageChecksum { .. })));
    let fixed = Pib::parse(&pib.to_bytes()).unwrap();
    assert!(matches!(fixed.check(), Err(Error::PibNid { .. })));
    // Not a PIB: a firmware chain, a version 1 file, a short block.
    let firmware = synth::firmware(23, 100).unwrap();
    assert_eq!(Pib::parse(&firmware), Err(Error::NoPib));
    assert_eq!(
        Pib::parse(&synth::firmware_v1(24).unwrap()),
        Err(Error::NoPib)
    );
    let short = synth::pib_file(25, 64, MAC).unwrap();
    assert!(matches!(
        Pib::parse(&short[..200]),
        Err(Error::Truncated { .. })
    ));
    // A PIB too short for the EVSE profile's fields is left untouched.
    let small = synth::pib_file(26, pib::FIXED_LEN, MAC).unwrap();
    let mut pib = Pib::parse(&small).unwrap();
    assert!(matches!(pib.apply_evse_profile(MAC), Err(Error::Edit(_))));
    assert_eq!(pib.to_bytes(), small);
}

#[test]
fn edits_read_like_setpib_arguments() {
    let file = synth::pib_file(30, 0x2100, MAC).unwrap();
    let mut pib = Pib::parse(&file).unwrap();
    pib.apply(
        &Edit::from_args(&[
            "0x200", "byte", "-1", "word", "0x1234", "huge", "0b101", "text", "ab", "data",
            "01:02", "skip", "2", "fill", "2", "zero", "1",
        ])
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        &pib.data()[0x200..0x215],
        &[
            0xFF,
            0x34,
            0x12,
            5,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            b'a',
            b'b',
            1,
            2,
            pib.data()[0x20F],
            pib.data()[0x210],
            0xFF,
            0xFF,
            0,
            pib.data()[0x214]
        ]
    );
    for (args, needle) in [
        (&["200", "byte", "256"][..], "does not fit"),
        (&["200", "nibble", "1"], "unknown type"),
        (&["200", "byte"], "type/value pairs"),
        (&["FFFFF", "byte", "1"], "past the PIB's end"),
        (&["20FF", "long", "1"], "needs 4 bytes"),
        (&["200", "mac", "00:11"], "not 6 bytes"),
        (&["zz", "byte", "1"], "not a number"),
    ] {
        let err = Edit::from_args(args)
            .and_then(|e| pib.clone().apply(&e))
            .unwrap_err();
        assert!(err.to_string().contains(needle), "{args:?}: {err}");
    }
    assert_eq!(pib::parse_number("0d12", None, 1).unwrap(), 12);
    let _ = ImageType::PIB.name();
}
