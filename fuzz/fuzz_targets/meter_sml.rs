//! Any bytes from an optical head to the SML stream (sml-rs's transport decoder and parser
//! inside): never a panic, every frame gives a reading or an error; the file parser alone too.
#![no_main]

use devices_meters::sml::{SmlStream, parse_file};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut stream = SmlStream::new();
    stream.push(data, |r| {
        if let Ok(r) = r {
            let _ = r.measurements();
        }
    });
    let _ = parse_file(data);
});
