//! Qualcomm Atheros powerline modem images (QCA7000/7005, and the older INT6x00 NVM format): the
//! files a modem boots from, as bytes in and bytes out, with no I/O.
//!
//! - [`nvm`]: NVM files, a chain of modules (header + image) in either header version
//!   ([`HeaderV1`], 44 bytes, `0x60000000`; [`HeaderV2`], 96 bytes, version 1.1), their
//!   checksums, and the split/merge of a chain into parts and back.
//! - [`flash`]: a whole SPI flash dump (1 MB or 2 MB); finds the softloader, firmware and PIB
//!   chains by scanning for valid headers, not by fixed offsets.
//! - [`pib`]: the Parameter Information Block: parse, check, typed fields (MAC, NMK/NID, HFIDs,
//!   SLAC role...), raw `offset type value` edits, the EVSE profile, and the checksums rewritten.
//! - [`boot`]: the VS_WRITE_AND_EXECUTE_APPLET parts that load a module into a modem in
//!   bootloader mode, as `plcboot` cuts them.
//!
//! The formats follow Qualcomm's Open Powerline Toolkit (open-plc-utils) file formats, which are
//! the reference the tests compare against byte for byte (`nvmsplit`, `nvmmerge`, `chknvm`,
//! `setpib`, `modpib`, `chkpib`, `getpib`). Every parser takes untrusted bytes and fails with an
//! [`Error`] that says what is wrong and where, never a panic.

pub mod boot;
mod error;
pub mod flash;
pub mod nvm;
pub mod pib;
pub mod synth;

pub use error::Error;
pub use flash::{ChainRole, FlashLayout, LocatedChain};
pub use nvm::{Chain, Header, HeaderV1, HeaderV2, ImageType, Module, merge};
pub use pib::{DeviceRole, Edit, EditKind, Pib, PibField};

/// `Result` with this crate's [`Error`].
pub type Result<T> = core::result::Result<T, Error>;

/// The checksum of NVM headers, NVM images and PIBs: the one's complement of the XOR of the
/// little-endian 32-bit words. Trailing bytes that do not fill a word are not covered (the
/// modem's boot ROM and open-plc-utils both skip them). A block that holds its own checksum is
/// valid when this is zero over the whole block.
pub fn checksum32(bytes: &[u8]) -> u32 {
    !bytes.chunks_exact(4).fold(0u32, |acc, w| {
        acc ^ u32::from_le_bytes([w[0], w[1], w[2], w[3]])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_a_block_holding_its_checksum_is_zero() {
        let mut block = [
            0x12u8, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0, 0, 0, 0, 0xff,
        ];
        let sum = checksum32(&block[..8]);
        assert_eq!(sum, !(0x7856_3412 ^ 0xf0de_bc9a));
        block[8..12].copy_from_slice(&sum.to_le_bytes());
        // The trailing 0xff is outside every word.
        assert_eq!(checksum32(&block), 0);
        assert_eq!(checksum32(&[]), u32::MAX);
    }
}
