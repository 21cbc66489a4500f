/// Why an image or PIB file was rejected. Always the file's fault (or the edit's, for
/// [`Error::Edit`]): well-formed input never fails. `module` counts the modules of an NVM chain
/// from 0, as open-plc-utils does in its messages; `offset` is a byte offset in the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ends inside a header or an image.
    #[error(
        "truncated {what} of module {module} at offset {offset:#x}: needs {need} bytes, {have} left"
    )]
    Truncated {
        /// "header" or "image".
        what: &'static str,
        /// Module index in the chain.
        module: usize,
        /// Where the header or image starts.
        offset: usize,
        /// Bytes needed.
        need: usize,
        /// Bytes left in the input from `offset`.
        have: usize,
    },
    /// Neither header version: not an NVM file, or a chain link points at garbage.
    #[error(
        "module {module} at offset {offset:#x}: not an NVM header (version word {word:#010x}; expected 0x60000000 or 1.1)"
    )]
    HeaderVersion {
        /// Module index.
        module: usize,
        /// Header offset.
        offset: usize,
        /// The first 32-bit word found there.
        word: u32,
    },
    /// A chain mixes header versions.
    #[error(
        "module {module} at offset {offset:#x}: header version differs from the chain's first module"
    )]
    MixedVersions {
        /// Module index.
        module: usize,
        /// Header offset.
        offset: usize,
    },
    /// The header's own checksum is wrong: a corrupt or hand-edited header.
    #[error("module {module} at offset {offset:#x}: bad header checksum")]
    HeaderChecksum {
        /// Module index.
        module: usize,
        /// Header offset.
        offset: usize,
    },
    /// The image's checksum (in its header) does not match its bytes.
    #[error(
        "module {module} at offset {offset:#x}: bad image checksum (header says {stored:#010x}, image gives {computed:#010x})"
    )]
    ImageChecksum {
        /// Module index.
        module: usize,
        /// Header offset.
        offset: usize,
        /// The checksum in the header.
        stored: u32,
        /// The checksum of the image bytes.
        computed: u32,
    },
    /// An image length that is not a whole number of 32-bit words (the checksum and the modem's
    /// loader work in words).
    #[error("module {module} at offset {offset:#x}: image length {length} is not a multiple of 4")]
    ImageLength {
        /// Module index.
        module: usize,
        /// Header offset.
        offset: usize,
        /// The image length in the header.
        length: u32,
    },
    /// A next/previous header link does not point where the chain continues.
    #[error(
        "module {module} at offset {offset:#x}: bad {which} header link {found:#x} (expected {expected:#x})"
    )]
    Link {
        /// Module index.
        module: usize,
        /// Header offset.
        offset: usize,
        /// "next" or "previous".
        which: &'static str,
        /// The link in the header.
        found: u32,
        /// Where it should point.
        expected: u32,
    },
    /// Bytes after the end of the chain in a file that should hold only the chain.
    #[error("{len} bytes after the end of the chain at offset {offset:#x}")]
    TrailingData {
        /// End of the chain.
        offset: usize,
        /// Extra bytes.
        len: usize,
    },
    /// A part given to merge is linked to other modules: not a file that split wrote.
    #[error("part {part}: module header is linked into a chain (split the file first)")]
    LinkedPart {
        /// Part index (from 0).
        part: usize,
    },
    /// Merge with no parts.
    #[error("nothing to merge")]
    NothingToMerge,
    /// A chain too long for the 32-bit offsets of its headers.
    #[error("chain too large: {0} bytes do not fit 32-bit header offsets")]
    TooLarge(usize),
    /// The flash dump holds no chain of the needed kind.
    #[error("no {0} found in the flash dump (no valid NVM chain holds one)")]
    NotInFlash(&'static str),
    /// An NVM file without a PIB module.
    #[error("the NVM file holds no PIB module")]
    NoPib,
    /// A PIB too short for its header or the field asked for.
    #[error("PIB is {len} bytes, too short for {what} (needs {need})")]
    PibTooShort {
        /// What needed the bytes.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// PIB length.
        len: usize,
    },
    /// A standalone (v1) PIB whose length field disagrees with the file.
    #[error("PIB length field says {field} bytes, the file has {len}")]
    PibLength {
        /// PIBLENGTH.
        field: usize,
        /// File length.
        len: usize,
    },
    /// The PIB's checksum is wrong.
    #[error("bad PIB checksum (stored {stored:#010x}, computed {computed:#010x})")]
    PibChecksum {
        /// Stored checksum.
        stored: u32,
        /// Computed checksum.
        computed: u32,
    },
    /// The preferred NID in the PIB is not the one its NMK derives.
    #[error("PIB's preferred NID {found} is not the NID of its NMK ({expected})")]
    PibNid {
        /// The NID in the PIB.
        found: String,
        /// The NID derived from the PIB's NMK.
        expected: String,
    },
    /// An `offset type value` edit that cannot be applied.
    #[error("edit: {0}")]
    Edit(String),
}
