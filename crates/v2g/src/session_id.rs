//! The V2G SessionID: 8 bytes the charger draws at SessionSetup and the car repeats in every
//! request header.

use std::fmt;

use rand_chacha::rand_core::RngCore;

/// A SessionID as the charger issued it.
///
/// Chargers in the field do not all send 8 bytes: a Tesla Supercharger sends 4, an Alpitronic
/// sends `0000000032a24651` (shared/docs/ccs-research.md §7; pyPLC lost sessions with
/// FAILED_UnknownSession by padding them). So IDs compare as numbers: leading zero bytes do not
/// count, and a car must echo exactly what it received.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct SessionId(pub Vec<u8>);

impl SessionId {
    /// No session: what a car sends before SessionSetup.
    pub fn zero() -> Self {
        Self(vec![0; 8])
    }

    /// A fresh random 8-byte ID. The first byte is never zero, so the ID never looks like "no
    /// session" and keeps its length even if a car strips leading zeros.
    pub fn random(rng: &mut impl RngCore) -> Self {
        let mut id = [0u8; 8];
        rng.fill_bytes(&mut id);
        if id[0] == 0 {
            id[0] = 1;
        }
        Self(id.to_vec())
    }

    /// Whether `other` (as a car sent it) names this session.
    pub fn matches(&self, other: &[u8]) -> bool {
        significant(&self.0) == significant(other)
    }

    /// Whether this is the zero ID (no session).
    pub fn is_zero(&self) -> bool {
        significant(&self.0).is_empty()
    }
}

fn significant(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::SeedableRng;

    use super::*;

    #[test]
    fn ids_are_fresh_eight_bytes_and_never_zero() {
        let mut rng = ChaCha20Rng::from_seed([7; 32]);
        let a = SessionId::random(&mut rng);
        let b = SessionId::random(&mut rng);
        assert_eq!(a.0.len(), 8);
        assert_ne!(a, b);
        assert_ne!(a.0[0], 0);
        assert!(!a.is_zero());
        assert!(SessionId::zero().is_zero());
        // Deterministic for a seed.
        assert_eq!(
            SessionId::random(&mut ChaCha20Rng::from_seed([7; 32])),
            a,
            "same seed, same id"
        );
    }

    #[test]
    fn short_ids_match_their_padded_form() {
        // The Alpitronic's ID with and without its leading zeros.
        let alpitronic = SessionId(vec![0, 0, 0, 0, 0x32, 0xa2, 0x46, 0x51]);
        assert!(alpitronic.matches(&[0x32, 0xa2, 0x46, 0x51]));
        assert!(alpitronic.matches(&[0, 0, 0, 0, 0x32, 0xa2, 0x46, 0x51]));
        assert!(!alpitronic.matches(&[0x32, 0xa2, 0x46, 0x52]));
        assert!(!alpitronic.matches(&[0x32, 0xa2, 0x46, 0x51, 0]));
        assert!(!alpitronic.matches(&[]));
        assert_eq!(alpitronic.to_string(), "0000000032a24651");
    }
}
