//! A whole SPI flash dump (1 MB or 2 MB on the QCA7000/7005): several NVM chains at
//! flash-layout-dependent offsets, erased space (0xFF) between them.
//!
//! The chains are found by scanning every 32-bit aligned offset for a valid header (version and
//! checksum) that opens a chain ([`Chain::parse_prefix`] succeeds from there), then skipping the
//! chain. Each is given a role by what it holds: the chain with a PIB module is the PIB, the one
//! with a firmware module the firmware, and another chain the softloader. No offset is assumed,
//! so the same code reads the 1 MB and the 2 MB layouts, and any other.

use crate::nvm::{Chain, ImageType, V1_MAGIC};
use crate::{Error, Result};

/// What a chain in a flash dump is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChainRole {
    /// The applets the bootloader runs first (memory controller set-up, the NVM softloader).
    Softloader,
    /// The runtime firmware.
    Firmware,
    /// The Parameter Information Block.
    Pib,
}

impl ChainRole {
    /// File name `gridlet plc image split` writes the chain to.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Softloader => "softloader.nvm",
            Self::Firmware => "firmware.nvm",
            Self::Pib => "pib.pib",
        }
    }

    fn of(chain: &Chain) -> Self {
        if chain.contains(ImageType::PIB) {
            Self::Pib
        } else if chain.contains(ImageType::FIRMWARE) {
            Self::Firmware
        } else {
            Self::Softloader
        }
    }
}

/// One chain found in a dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedChain {
    /// Offset of its first header in the dump.
    pub offset: usize,
    /// Bytes it takes.
    pub len: usize,
    /// What it holds.
    pub role: ChainRole,
    /// The chain as found (links as in the flash).
    pub chain: Chain,
}

impl LocatedChain {
    /// The chain as a standalone file: what `nvmsplit` then `nvmmerge` make of the dump cut at
    /// this chain's offset (links redone from the chain's start).
    pub fn to_file(&self) -> Result<Vec<u8>> {
        let mut chain = self.chain.clone();
        chain.relink()?;
        Ok(chain.to_bytes())
    }
}

/// Every chain in a flash dump, in address order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FlashLayout {
    /// The chains found.
    pub chains: Vec<LocatedChain>,
}

impl FlashLayout {
    /// Scans a dump. Never fails: a dump without chains gives an empty layout, which
    /// [`FlashLayout::get`] then reports.
    pub fn scan(dump: &[u8]) -> Self {
        let mut chains = Vec::new();
        let mut pos = 0;
        while pos + 4 <= dump.len() {
            if looks_like_header(&dump[pos..])
                && let Ok((chain, len)) = Chain::parse_prefix(&dump[pos..])
            {
                chains.push(LocatedChain {
                    offset: pos,
                    len,
                    role: ChainRole::of(&chain),
                    chain,
                });
                pos += len.div_ceil(4) * 4;
                continue;
            }
            pos += 4;
        }
        Self { chains }
    }

    /// The first chain with this role.
    pub fn get(&self, role: ChainRole) -> Result<&LocatedChain> {
        self.chains
            .iter()
            .find(|c| c.role == role)
            .ok_or(Error::NotInFlash(match role {
                ChainRole::Softloader => "softloader",
                ChainRole::Firmware => "firmware",
                ChainRole::Pib => "PIB",
            }))
    }
}

/// Cheap pre-test before a full parse: the version word of either header version.
fn looks_like_header(b: &[u8]) -> bool {
    let word = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    word == V1_MAGIC || word == 0x0001_0001
}
