//! Any bytes as a JSON price answer of every JSON provider (aWATTar, Tibber, Energi Data
//! Service, Octopus): parsing never panics, and what parses is a clean price list (sorted,
//! non-empty slots, no overlaps, finite prices).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tariffs::{PriceSlot, awattar, energidataservice, octopus, tibber};

fn check(slots: &[PriceSlot]) {
    for s in slots {
        assert!(s.start < s.end, "{s:?}");
        assert!(s.price.0.is_finite(), "{s:?}");
    }
    for w in slots.windows(2) {
        assert!(w[0].end <= w[1].start, "{w:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    for r in [
        awattar::parse(data),
        tibber::parse(data, None, tibber::Component::Total, 15),
        tibber::parse(data, Some("home"), tibber::Component::Energy, 60),
        energidataservice::parse(data, "DK1", energidataservice::Currency::Dkk),
        octopus::parse(data, true),
    ] {
        if let Ok(slots) = r {
            check(&slots);
        }
    }
});
