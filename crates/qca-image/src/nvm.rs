//! NVM files: a chain of modules, each a header followed by its image.
//!
//! Two header versions exist. Version 1 (INT6000/INT6300/INT6400, "Thunderbolt/Lightning") is 44
//! bytes and opens with the word `0x60000000`; its `next` link is the offset of the following
//! header, 0 on the last module. Version 2 (AR7400, QCA7000/7005, QCA7420, "Panther/Lynx") is 96
//! bytes and opens with major/minor version 1.1; it links both ways, `0xFFFFFFFF` marking either
//! end. Links are offsets from the start of the chain, every header follows its predecessor's
//! image directly, and every header and image carries a [`checksum32`](crate::checksum32).
//! All fields are little-endian.
//!
//! Split and merge follow open-plc-utils' `nvmsplit` and `nvmmerge` exactly: a split part is one
//! module with its links cleared and its header checksum redone; a merge relinks the parts in the
//! given order and copies the images unchanged.

use crate::{Error, Result, checksum32};

/// The first word of a version 1 header.
pub const V1_MAGIC: u32 = 0x6000_0000;
/// Length of a version 1 header.
pub const V1_HEADER_LEN: usize = 44;
/// Length of a version 2 header.
pub const V2_HEADER_LEN: usize = 96;
/// "No module" in a version 2 link.
pub const V2_NO_LINK: u32 = u32::MAX;

/// What a module's image is (the header's image type). Only the types this crate acts on have
/// names here; the rest are kept as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ImageType(pub u32);

impl ImageType {
    /// Generic image.
    pub const GENERIC: Self = Self(0x00);
    /// SDRAM configuration (Synopsys controller).
    pub const CONFIG_SYNOPSIS: Self = Self(0x01);
    /// SDRAM configuration (Denali controller).
    pub const CONFIG_DENALI: Self = Self(0x02);
    /// Applet for the Denali SDRAM controller.
    pub const APPLET_DENALI: Self = Self(0x03);
    /// The runtime firmware.
    pub const FIRMWARE: Self = Self(0x04);
    /// Custom module.
    pub const CUSTOM: Self = Self(0x06);
    /// Memory controller applet: the first thing the boot ROM runs.
    pub const MEMCTL: Self = Self(0x07);
    /// Advanced power management.
    pub const ADVPWRMGMT: Self = Self(0x08);
    /// The NVM softloader: the applet that writes flash for the bootloader.
    pub const SOFTLOADER: Self = Self(0x0B);
    /// Flash layout.
    pub const FLASH_LAYOUT: Self = Self(0x0C);
    /// Manifest (build information of the firmware).
    pub const MANIFEST: Self = Self(0x0E);
    /// The Parameter Information Block.
    pub const PIB: Self = Self(0x0F);

    /// A short name for listings.
    pub fn name(self) -> &'static str {
        match self.0 {
            0x00 => "generic",
            0x01 => "sdram-config-synopsis",
            0x02 => "sdram-config-denali",
            0x03 => "applet-denali",
            0x04 => "firmware",
            0x05 => "oas-client",
            0x06 => "custom",
            0x07 => "memctl",
            0x08 => "power-management",
            0x09 => "oas-client-ip-stack",
            0x0A => "oas-client-tr069",
            0x0B => "softloader",
            0x0C => "flash-layout",
            0x0E => "manifest",
            0x0F => "pib",
            _ => "unknown",
        }
    }
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// A version 1 header (44 bytes), all fields but its checksum, which [`HeaderV1::emit`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderV1 {
    /// Image address in ROM.
    pub rom_address: u32,
    /// Load address of the image.
    pub image_address: u32,
    /// Image length in bytes.
    pub image_length: u32,
    /// [`checksum32`] of the image.
    pub image_checksum: u32,
    /// Where execution starts.
    pub entry_point: u32,
    /// Header minor version.
    pub minor_version: u8,
    /// Image type.
    pub image_type: u8,
    /// Chips that skip this module.
    pub ignore_mask: u16,
    /// Module ID.
    pub module_id: u32,
    /// Module sub-ID.
    pub module_sub_id: u32,
    /// Offset of the next header from the chain's start; 0 on the last module.
    pub next_header: u32,
}

impl HeaderV1 {
    /// Reads a header from the start of `b` (at least [`V1_HEADER_LEN`] bytes), checking its
    /// version word and checksum. `module` and `offset` only go into errors.
    fn parse(b: &[u8], module: usize, offset: usize) -> Result<Self> {
        let b = &b[..V1_HEADER_LEN];
        if checksum32(b) != 0 {
            return Err(Error::HeaderChecksum { module, offset });
        }
        Ok(Self {
            rom_address: le32(b, 4),
            image_address: le32(b, 8),
            image_length: le32(b, 12),
            image_checksum: le32(b, 16),
            entry_point: le32(b, 20),
            minor_version: b[24],
            image_type: b[25],
            ignore_mask: le16(b, 26),
            module_id: le32(b, 28),
            module_sub_id: le32(b, 32),
            next_header: le32(b, 36),
        })
    }

    /// Writes the header, its checksum computed, into `b[..44]`.
    fn emit(&self, b: &mut [u8]) {
        put32(b, 0, V1_MAGIC);
        put32(b, 4, self.rom_address);
        put32(b, 8, self.image_address);
        put32(b, 12, self.image_length);
        put32(b, 16, self.image_checksum);
        put32(b, 20, self.entry_point);
        b[24] = self.minor_version;
        b[25] = self.image_type;
        put16(b, 26, self.ignore_mask);
        put32(b, 28, self.module_id);
        put32(b, 32, self.module_sub_id);
        put32(b, 36, self.next_header);
        put32(b, 40, 0);
        let sum = checksum32(&b[..V1_HEADER_LEN]);
        put32(b, 40, sum);
    }
}

/// A version 2 header (96 bytes), all fields but its checksum, which [`HeaderV2::emit`] computes.
/// Version 1.1 is the only one defined; the reserved bytes are kept so that a header re-emits
/// byte for byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderV2 {
    /// Which applets run this module.
    pub execute_mask: u32,
    /// Address of the image in flash.
    pub nvm_address: u32,
    /// Load address of the image.
    pub image_address: u32,
    /// Image length in bytes.
    pub image_length: u32,
    /// [`checksum32`] of the image.
    pub image_checksum: u32,
    /// Where execution starts.
    pub entry_point: u32,
    /// Offset of the next header from the chain's start; [`V2_NO_LINK`] on the last module.
    pub next_header: u32,
    /// Offset of the previous header; [`V2_NO_LINK`] on the first module.
    pub prev_header: u32,
    /// Image type.
    pub image_type: u32,
    /// Module ID.
    pub module_id: u16,
    /// Module sub-ID.
    pub module_sub_id: u16,
    /// Applet entry version.
    pub applet_entry_version: u16,
    /// Reserved bytes 46..92 (before the checksum), kept as found.
    pub reserved: [u8; 46],
}

impl HeaderV2 {
    fn parse(b: &[u8], module: usize, offset: usize) -> Result<Self> {
        let b = &b[..V2_HEADER_LEN];
        if checksum32(b) != 0 {
            return Err(Error::HeaderChecksum { module, offset });
        }
        let mut reserved = [0; 46];
        reserved.copy_from_slice(&b[46..92]);
        Ok(Self {
            execute_mask: le32(b, 4),
            nvm_address: le32(b, 8),
            image_address: le32(b, 12),
            image_length: le32(b, 16),
            image_checksum: le32(b, 20),
            entry_point: le32(b, 24),
            next_header: le32(b, 28),
            prev_header: le32(b, 32),
            image_type: le32(b, 36),
            module_id: le16(b, 40),
            module_sub_id: le16(b, 42),
            applet_entry_version: le16(b, 44),
            reserved,
        })
    }

    fn emit(&self, b: &mut [u8]) {
        put16(b, 0, 1);
        put16(b, 2, 1);
        put32(b, 4, self.execute_mask);
        put32(b, 8, self.nvm_address);
        put32(b, 12, self.image_address);
        put32(b, 16, self.image_length);
        put32(b, 20, self.image_checksum);
        put32(b, 24, self.entry_point);
        put32(b, 28, self.next_header);
        put32(b, 32, self.prev_header);
        put32(b, 36, self.image_type);
        put16(b, 40, self.module_id);
        put16(b, 42, self.module_sub_id);
        put16(b, 44, self.applet_entry_version);
        b[46..92].copy_from_slice(&self.reserved);
        put32(b, 92, 0);
        let sum = checksum32(&b[..V2_HEADER_LEN]);
        put32(b, 92, sum);
    }
}

/// A module header of either version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// 44-byte header, INT6x00.
    V1(HeaderV1),
    /// 96-byte header, AR7400 / QCA7000 and later.
    V2(HeaderV2),
}

impl Header {
    /// Reads the header at the start of `b`: its version from the first word (as open-plc-utils
    /// does: `0x60000000` is version 1, anything else must be version 1.1), then its checksum.
    /// `module` and `offset` (where `b` starts in the file) only go into errors.
    pub fn parse(b: &[u8], module: usize, offset: usize) -> Result<Self> {
        let truncated = |need| Error::Truncated {
            what: "header",
            module,
            offset,
            need,
            have: b.len(),
        };
        if b.len() < 4 {
            return Err(truncated(4));
        }
        let word = le32(b, 0);
        if word == V1_MAGIC {
            if b.len() < V1_HEADER_LEN {
                return Err(truncated(V1_HEADER_LEN));
            }
            return HeaderV1::parse(b, module, offset).map(Self::V1);
        }
        if le16(b, 0) != 1 || le16(b, 2) != 1 {
            return Err(Error::HeaderVersion {
                module,
                offset,
                word,
            });
        }
        if b.len() < V2_HEADER_LEN {
            return Err(truncated(V2_HEADER_LEN));
        }
        HeaderV2::parse(b, module, offset).map(Self::V2)
    }

    /// Header length: 44 or 96.
    pub fn len(&self) -> usize {
        match self {
            Self::V1(_) => V1_HEADER_LEN,
            Self::V2(_) => V2_HEADER_LEN,
        }
    }

    /// Never empty; here for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// 1 or 2.
    pub fn version(&self) -> u8 {
        match self {
            Self::V1(_) => 1,
            Self::V2(_) => 2,
        }
    }

    /// Image length in bytes.
    pub fn image_length(&self) -> u32 {
        match self {
            Self::V1(h) => h.image_length,
            Self::V2(h) => h.image_length,
        }
    }

    /// The image checksum the header holds.
    pub fn image_checksum(&self) -> u32 {
        match self {
            Self::V1(h) => h.image_checksum,
            Self::V2(h) => h.image_checksum,
        }
    }

    /// Sets the image checksum.
    pub fn set_image_checksum(&mut self, sum: u32) {
        match self {
            Self::V1(h) => h.image_checksum = sum,
            Self::V2(h) => h.image_checksum = sum,
        }
    }

    /// Image type.
    pub fn image_type(&self) -> ImageType {
        match self {
            Self::V1(h) => ImageType(u32::from(h.image_type)),
            Self::V2(h) => ImageType(h.image_type),
        }
    }

    /// The next-header link as stored.
    pub fn next_header(&self) -> u32 {
        match self {
            Self::V1(h) => h.next_header,
            Self::V2(h) => h.next_header,
        }
    }

    /// True when the next link marks the end of the chain.
    fn is_last(&self) -> bool {
        match self {
            Self::V1(h) => h.next_header == 0,
            Self::V2(h) => h.next_header == V2_NO_LINK,
        }
    }

    /// True when no link is set (a part written by split, ready for merge).
    pub fn is_unlinked(&self) -> bool {
        match self {
            Self::V1(h) => h.next_header == 0,
            Self::V2(h) => h.next_header == V2_NO_LINK && h.prev_header == V2_NO_LINK,
        }
    }

    /// Sets the links: `prev`/`next` are header offsets in the chain, `None` at the ends.
    fn set_links(&mut self, prev: Option<u32>, next: Option<u32>) {
        match self {
            Self::V1(h) => h.next_header = next.unwrap_or(0),
            Self::V2(h) => {
                h.prev_header = prev.unwrap_or(V2_NO_LINK);
                h.next_header = next.unwrap_or(V2_NO_LINK);
            }
        }
    }

    /// Writes the header with its checksum into `b[..self.len()]`.
    pub fn emit(&self, b: &mut [u8]) {
        match self {
            Self::V1(h) => h.emit(b),
            Self::V2(h) => h.emit(b),
        }
    }
}

/// One module: a header and its image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// The header (its image length always equals `image.len()` once built by this crate).
    pub header: Header,
    /// The image bytes.
    pub image: Vec<u8>,
}

impl Module {
    /// Bytes this module takes in a file.
    pub fn len(&self) -> usize {
        self.header.len() + self.image.len()
    }

    /// Never empty.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The module alone as a file, links cleared: what `nvmsplit` writes for it.
    pub fn to_part(&self) -> Vec<u8> {
        let mut header = self.header;
        header.set_links(None, None);
        let mut out = vec![0; self.len()];
        header.emit(&mut out);
        out[header.len()..].copy_from_slice(&self.image);
        out
    }
}

/// A chain of modules: an NVM file, or one of the chains in a flash dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// The modules in file order.
    pub modules: Vec<Module>,
}

impl Chain {
    /// Reads the chain that starts at `b[0]` and returns it with the number of bytes it takes;
    /// bytes after it are not looked at (a flash dump, or a file cut with `tail`). Checks what
    /// `nvmsplit` checks: header versions and checksums, and that each link points to where the
    /// chain continues. Image checksums are left to [`Chain::check`].
    pub fn parse_prefix(b: &[u8]) -> Result<(Self, usize)> {
        let mut modules = Vec::new();
        let mut pos = 0usize;
        let mut prev = V2_NO_LINK;
        loop {
            let module = modules.len();
            let header = Header::parse(&b[pos..], module, pos)?;
            if let Some(first) = modules.first().map(|m: &Module| m.header.version())
                && first != header.version()
            {
                return Err(Error::MixedVersions {
                    module,
                    offset: pos,
                });
            }
            if let Header::V2(h) = &header
                && h.prev_header != prev
            {
                return Err(Error::Link {
                    module,
                    offset: pos,
                    which: "previous",
                    found: h.prev_header,
                    expected: prev,
                });
            }
            let start = pos + header.len();
            let len = header.image_length() as usize;
            let have = b.len() - start;
            if len > have {
                return Err(Error::Truncated {
                    what: "image",
                    module,
                    offset: pos,
                    need: len,
                    have,
                });
            }
            let end = start + len;
            let last = header.is_last();
            let next = header.next_header();
            modules.push(Module {
                header,
                image: b[start..end].to_vec(),
            });
            if last {
                return Ok((Self { modules }, end));
            }
            if next as usize != end {
                return Err(Error::Link {
                    module,
                    offset: pos,
                    which: "next",
                    found: next,
                    expected: u32::try_from(end).unwrap_or(u32::MAX),
                });
            }
            prev = u32::try_from(pos).map_err(|_| Error::TooLarge(end))?;
            pos = end;
        }
    }

    /// Reads a whole NVM file and checks it as `chknvm` does: [`Chain::parse_prefix`], nothing
    /// after the chain, and [`Chain::check`].
    pub fn parse(b: &[u8]) -> Result<Self> {
        let (chain, len) = Self::parse_prefix(b)?;
        if len != b.len() {
            return Err(Error::TrailingData {
                offset: len,
                len: b.len() - len,
            });
        }
        chain.check()?;
        Ok(chain)
    }

    /// Checks every image: a whole number of words, and its checksum.
    pub fn check(&self) -> Result<()> {
        let mut offset = 0;
        for (module, m) in self.modules.iter().enumerate() {
            if !m.image.len().is_multiple_of(4) {
                return Err(Error::ImageLength {
                    module,
                    offset,
                    length: m.header.image_length(),
                });
            }
            let computed = checksum32(&m.image);
            let stored = m.header.image_checksum();
            if computed != stored {
                return Err(Error::ImageChecksum {
                    module,
                    offset,
                    stored,
                    computed,
                });
            }
            offset += m.len();
        }
        Ok(())
    }

    /// Bytes the chain takes.
    pub fn len(&self) -> usize {
        self.modules.iter().map(Module::len).sum()
    }

    /// True for a chain without modules (never the result of parsing).
    pub fn is_empty(&self) -> bool {
        self.modules.is_empty()
    }

    /// Header version of the chain (of its first module).
    pub fn version(&self) -> Option<u8> {
        self.modules.first().map(|m| m.header.version())
    }

    /// True when a module has this image type.
    pub fn contains(&self, kind: ImageType) -> bool {
        self.modules.iter().any(|m| m.header.image_type() == kind)
    }

    /// The chain as a file, links and image checksums as they are in the headers.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![0; self.len()];
        let mut pos = 0;
        for m in &self.modules {
            m.header.emit(&mut out[pos..]);
            let start = pos + m.header.len();
            out[start..start + m.image.len()].copy_from_slice(&m.image);
            pos = start + m.image.len();
        }
        out
    }

    /// One file per module, links cleared: what `nvmsplit` writes (as `NAME-00.nvm`, ...).
    pub fn split(&self) -> Vec<Vec<u8>> {
        self.modules.iter().map(Module::to_part).collect()
    }

    /// Sets every link to where the modules are (as `nvmmerge` does) and every image length to
    /// its image; fails if the chain does not fit 32-bit offsets.
    pub fn relink(&mut self) -> Result<()> {
        let total = self.len();
        if u32::try_from(total).is_err() {
            return Err(Error::TooLarge(total));
        }
        let count = self.modules.len();
        let mut pos = 0u32;
        let mut prev = None;
        for (i, m) in self.modules.iter_mut().enumerate() {
            let end = pos + m.len() as u32;
            let next = (i + 1 < count).then_some(end);
            m.header.set_links(prev, next);
            prev = Some(pos);
            pos = end;
        }
        Ok(())
    }
}

/// Joins parts into one chain file, as `nvmmerge` does: each part must start with an unlinked
/// module (what split writes); the modules are linked in the given order, header checksums
/// redone, images copied unchanged. Bytes after a part's image are ignored, as `nvmmerge`
/// ignores them. All parts must have the same header version.
pub fn merge<P: AsRef<[u8]>>(parts: &[P]) -> Result<Vec<u8>> {
    if parts.is_empty() {
        return Err(Error::NothingToMerge);
    }
    let mut modules = Vec::with_capacity(parts.len());
    for (part, bytes) in parts.iter().enumerate() {
        let b = bytes.as_ref();
        let header = Header::parse(b, part, 0)?;
        if let Some(first) = modules.first().map(|m: &Module| m.header.version())
            && first != header.version()
        {
            return Err(Error::MixedVersions {
                module: part,
                offset: 0,
            });
        }
        if !header.is_unlinked() {
            return Err(Error::LinkedPart { part });
        }
        let len = header.image_length() as usize;
        let have = b.len() - header.len();
        if len > have {
            return Err(Error::Truncated {
                what: "image",
                module: part,
                offset: 0,
                need: len,
                have,
            });
        }
        let image = b[header.len()..header.len() + len].to_vec();
        modules.push(Module { header, image });
    }
    let mut chain = Chain { modules };
    chain.relink()?;
    Ok(chain.to_bytes())
}

/// Builds a module from an image (its length and checksum filled in): for tests, tools and
/// emulators that need NVM files.
pub fn module_v2(image_type: ImageType, image: Vec<u8>) -> Module {
    let header = HeaderV2 {
        execute_mask: 0,
        nvm_address: 0,
        image_address: 0,
        image_length: image.len() as u32,
        image_checksum: checksum32(&image),
        entry_point: 0,
        next_header: V2_NO_LINK,
        prev_header: V2_NO_LINK,
        image_type: image_type.0,
        module_id: 0,
        module_sub_id: 0,
        applet_entry_version: 0,
        reserved: [0; 46],
    };
    Module {
        header: Header::V2(header),
        image,
    }
}

/// Builds a version 1 module, as [`module_v2`].
pub fn module_v1(image_type: u8, image: Vec<u8>) -> Module {
    let header = HeaderV1 {
        rom_address: 0,
        image_address: 0,
        image_length: image.len() as u32,
        image_checksum: checksum32(&image),
        entry_point: 0,
        minor_version: 0,
        image_type,
        ignore_mask: 0,
        module_id: 0,
        module_sub_id: 0,
        next_header: 0,
    };
    Module {
        header: Header::V1(header),
        image,
    }
}
