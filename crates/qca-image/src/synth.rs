//! Synthetic images for tests, fuzz seeds and the module emulator: NVM chains, PIBs and flash
//! dumps with the real formats' structure (headers, links, checksums, PIB fields) around
//! deterministic pseudo-random contents. They are not firmware and boot nothing.

use homeplug::{MacAddr, Nid, Nmk, SecurityLevel};

use crate::nvm::{Chain, ImageType, Module, module_v1, module_v2};
use crate::pib::{self, HFID_LEN};
use crate::{Result, checksum32};

/// `len` pseudo-random bytes from `seed` (xorshift64*).
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

fn chain(modules: Vec<Module>) -> Result<Vec<u8>> {
    let mut chain = Chain { modules };
    chain.relink()?;
    Ok(chain.to_bytes())
}

/// A version 2 softloader chain: a memory-controller applet and the NVM softloader.
pub fn softloader(seed: u64) -> Result<Vec<u8>> {
    chain(vec![
        module_v2(ImageType::MEMCTL, bytes(seed, 1024)),
        module_v2(ImageType::SOFTLOADER, bytes(seed + 1, 12 * 1024)),
    ])
}

/// A version 2 firmware chain: memory-controller applet, firmware, manifest.
pub fn firmware(seed: u64, len: usize) -> Result<Vec<u8>> {
    chain(vec![
        module_v2(ImageType::MEMCTL, bytes(seed, 1024)),
        module_v2(ImageType::FIRMWARE, bytes(seed + 1, len.div_ceil(4) * 4)),
        module_v2(ImageType::MANIFEST, bytes(seed + 2, 512)),
    ])
}

/// A version 1 (INT6x00) firmware chain of three modules.
pub fn firmware_v1(seed: u64) -> Result<Vec<u8>> {
    chain(vec![
        module_v1(0x01, bytes(seed, 256)),
        module_v1(0x03, bytes(seed + 1, 2048)),
        module_v1(0x04, bytes(seed + 2, 8192)),
    ])
}

/// A PIB block of `len` bytes (at least [`pib::FIXED_LEN`]), configured as a car's modem (SLAC
/// PEV, CCo auto) with this MAC, an NMK from the seed and the NID it derives, and HFIDs.
pub fn pib_block(seed: u64, len: usize, mac: MacAddr) -> Vec<u8> {
    let mut b = bytes(seed, len.max(pib::FIXED_LEN).div_ceil(4) * 4);
    let len = b.len();
    b[0..4].copy_from_slice(&[0x05, 0x00, 0x00, 0x00]);
    b[4..6].copy_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_le_bytes());
    b[6..12].fill(0);
    b[pib::MAC..pib::MAC + 6].copy_from_slice(&mac.0);
    for (offset, text) in [
        (pib::MANUFACTURER_HFID, "Synthetic Modem Co"),
        (pib::USER_HFID, "PEV"),
        (pib::NETWORK_HFID, "gridlet test network"),
    ] {
        let field = &mut b[offset..offset + HFID_LEN];
        field.fill(0);
        field[..text.len()].copy_from_slice(text.as_bytes());
    }
    let mut nmk = [0u8; 16];
    nmk.copy_from_slice(&b[pib::NMK..pib::NMK + 16]);
    let nid = Nid::from_nmk(&Nmk(nmk), SecurityLevel::SimpleConnect);
    b[pib::PREFERRED_NID..pib::PREFERRED_NID + 7].copy_from_slice(&nid.0);
    b[pib::CCO_SELECTION] = 0;
    if pib::SLAC_ENABLE < len {
        b[pib::SLAC_ENABLE] = 1;
    }
    b
}

/// A QCA7000 PIB file: an NVM chain with one PIB module.
pub fn pib_file(seed: u64, len: usize, mac: MacAddr) -> Result<Vec<u8>> {
    chain(vec![module_v2(ImageType::PIB, pib_block(seed, len, mac))])
}

/// A QCA7000 PIB file as the vendor ships them: a manifest module, then the PIB module (the
/// layout `plcboot` expects when it loads a PIB into a bootloader-mode modem).
pub fn pib_file_with_manifest(seed: u64, len: usize, mac: MacAddr) -> Result<Vec<u8>> {
    chain(vec![
        module_v2(ImageType::MANIFEST, bytes(seed + 7, 256)),
        module_v2(ImageType::PIB, pib_block(seed, len, mac)),
    ])
}

/// A bare (INT6x00-style) PIB with its own checksum.
pub fn bare_pib(seed: u64, len: usize, mac: MacAddr) -> Vec<u8> {
    let mut b = pib_block(seed, len, mac);
    let sum = checksum32(&b);
    b[8..12].copy_from_slice(&sum.to_le_bytes());
    b
}

/// A flash dump of `size` bytes, erased (0xFF), with `chains` written at their offsets.
pub fn flash_dump(size: usize, chains: &[(usize, &[u8])]) -> Vec<u8> {
    let mut dump = vec![0xFF; size];
    for (offset, chain) in chains {
        dump[*offset..*offset + chain.len()].copy_from_slice(chain);
    }
    dump
}
