/// A frame could not be read. Always the sender's fault (or the medium's): this crate never fails
/// on well-formed input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The buffer is shorter than the fields it must hold.
    #[error("truncated: {len} bytes, the message needs at least {need}")]
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        len: usize,
    },
    /// The Ethernet frame does not carry a HomePlug MME (ethertype other than 0x88E1).
    #[error("not a HomePlug frame: ethertype {0:#06x}")]
    EtherType(u16),
}

/// Fails with [`Error::Truncated`] unless `len >= need`.
pub(crate) fn need(len: usize, need: usize) -> Result<(), Error> {
    if len < need {
        Err(Error::Truncated { need, len })
    } else {
        Ok(())
    }
}
