//! Any bytes as an ENTSO-E A44 document: parsing never panics (XML, positions, resolutions,
//! curve A03 filling), and what parses is a clean price list at the wanted or finest resolution.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tariffs::entsoe;

fuzz_target!(|data: &[u8]| {
    for minutes in [15, 60] {
        if let Ok(slots) = entsoe::parse(data, minutes) {
            for s in &slots {
                assert!(s.start < s.end && s.price.0.is_finite(), "{s:?}");
                let len = s.end.as_unix_micros() - s.start.as_unix_micros();
                assert!([15, 30, 60].contains(&(len / 60_000_000)), "{s:?}");
            }
            for w in slots.windows(2) {
                assert!(w[0].end <= w[1].start, "{w:?}");
            }
        }
    }
});
