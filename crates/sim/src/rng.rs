//! Seeded randomness. Each model component draws from its own stream, derived from the site seed
//! and a fixed stream number, so adding a component never changes what another one does.

use rand::SeedableRng;

pub(crate) type SimRng = rand_chacha::ChaCha8Rng;

/// Stream numbers; never renumber, or every seeded run changes.
pub(crate) mod streams {
    pub(crate) const SKY: u64 = 1;
    pub(crate) const HOUSE: u64 = 2;
    pub(crate) const CAR: u64 = 3;
}

pub(crate) fn stream(seed: u64, stream: u64) -> SimRng {
    let mut rng = SimRng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}
