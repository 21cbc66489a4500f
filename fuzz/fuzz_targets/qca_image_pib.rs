//! Any bytes as a PIB file, and any text as a setpib-style edit: never a panic; what we write
//! reads back and is a fixed point; a failed edit changes nothing.
#![no_main]

use homeplug::MacAddr;
use libfuzzer_sys::fuzz_target;
use qca_image::{Edit, Pib};

fuzz_target!(|data: &[u8]| {
    // The first line, if any, is an edit; the rest (or everything) the file.
    let (edit, file) = match data.iter().position(|b| *b == b'\n') {
        Some(i) if i < 200 => (Some(String::from_utf8_lossy(&data[..i]).into_owned()), &data[i + 1..]),
        _ => (None, data),
    };
    let edit = edit.and_then(|text| {
        let args: Vec<&str> = text.split(' ').collect();
        Edit::from_args(&args).ok()
    });
    for bytes in [data, file] {
        let Ok(mut pib) = Pib::parse(bytes) else {
            continue;
        };
        let _ = pib.check();
        if let Some(edit) = &edit {
            let before = pib.clone();
            if pib.apply(edit).is_err() {
                assert_eq!(pib, before);
            }
        }
        let _ = pib.apply_evse_profile(MacAddr([2, 0, 0, 0, 0, 1]));
        let out = pib.to_bytes();
        let again = Pib::parse(&out).expect("a written PIB parses");
        assert_eq!(again.to_bytes(), out);
    }
});
