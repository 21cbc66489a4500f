//! The Parameter Information Block (PIB): the modem's configuration, read at boot.
//!
//! A QCA7000/7005 PIB file is an NVM chain (version 2 headers, see [`crate::nvm`]) with a module
//! of type [`ImageType::PIB`]; its integrity is that module's image checksum. Older INT6x00 PIBs
//! are a bare block whose header holds its length (offset 4) and checksum (offset 8); both kinds
//! are read here. Offsets in edits and fields are from the start of the PIB block.
//!
//! The fields a charger needs are named in [`FIELDS`], with offsets from Qualcomm's PIB layout for
//! the QCA7000 (the same offsets open-plc-utils' `evse.sh` profile and `piboffset.xml` use). Every
//! write leaves the file with valid checksums: the PIB module's image checksum and header
//! checksum (NVM file) or the block checksum (bare PIB), as `setpib` and `modpib` leave them.

use homeplug::{MacAddr, Nid, Nmk, SecurityLevel};

use crate::nvm::{Chain, ImageType, V1_MAGIC};
use crate::{Error, Result, checksum32};

/// Length of the fixed fields every PIB starts with (open-plc-utils' `simple_pib`): shorter
/// files are not PIBs.
pub const FIXED_LEN: usize = 0x1CC;
/// Length of an HFID field (human-friendly identifier): a NUL-padded string.
pub const HFID_LEN: usize = 64;

/// How a value is encoded, as in `setpib`/`getpib`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EditKind {
    /// u8.
    Byte,
    /// u16, little-endian.
    Word,
    /// u32, little-endian.
    Long,
    /// u64, little-endian.
    Huge,
    /// 64-byte NUL-padded string (at most 63 characters).
    Hfid,
    /// 6 bytes, `xx:xx:xx:xx:xx:xx`.
    Mac,
    /// 16 bytes, hex (colons optional).
    Key,
    /// The string's bytes, no terminator.
    Text,
    /// Hex bytes, any length.
    Data,
    /// N bytes of 0xFF.
    Fill,
    /// N bytes of 0x00.
    Zero,
    /// Skip N bytes.
    Skip,
}

impl EditKind {
    /// The `setpib` type name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Byte => "byte",
            Self::Word => "word",
            Self::Long => "long",
            Self::Huge => "huge",
            Self::Hfid => "hfid",
            Self::Mac => "mac",
            Self::Key => "key",
            Self::Text => "text",
            Self::Data => "data",
            Self::Fill => "fill",
            Self::Zero => "zero",
            Self::Skip => "skip",
        }
    }

    /// From a `setpib` type name.
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "byte" => Self::Byte,
            "word" => Self::Word,
            "long" => Self::Long,
            "huge" => Self::Huge,
            "hfid" => Self::Hfid,
            "mac" => Self::Mac,
            "key" => Self::Key,
            "text" => Self::Text,
            "data" => Self::Data,
            "fill" => Self::Fill,
            "zero" => Self::Zero,
            "skip" => Self::Skip,
            _ => {
                return Err(Error::Edit(format!(
                    "unknown type {name:?} (byte, word, long, huge, hfid, mac, key, text, data, fill, zero, skip)"
                )));
            }
        })
    }

    /// Size of a value of this kind, for the fixed-size kinds.
    pub fn fixed_len(self) -> Option<usize> {
        match self {
            Self::Byte => Some(1),
            Self::Word => Some(2),
            Self::Long => Some(4),
            Self::Huge => Some(8),
            Self::Hfid => Some(HFID_LEN),
            Self::Mac => Some(6),
            Self::Key => Some(16),
            _ => None,
        }
    }
}

/// One `type value` item of an edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditItem {
    /// How to encode.
    pub kind: EditKind,
    /// The value as text, as on `setpib`'s command line.
    pub value: String,
}

/// A raw edit as `setpib FILE OFFSET TYPE VALUE [TYPE VALUE]...` takes it: the items are written
/// one after the other from `offset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// Offset in the PIB.
    pub offset: usize,
    /// The items.
    pub items: Vec<EditItem>,
}

impl Edit {
    /// From `setpib`'s arguments after the file name: a hex offset ("0x" optional), then type/value
    /// pairs.
    pub fn from_args<S: AsRef<str>>(args: &[S]) -> Result<Self> {
        let (offset, rest) = args
            .split_first()
            .ok_or_else(|| Error::Edit("needs an offset".into()))?;
        let offset = parse_number(offset.as_ref(), Some(16), 4)? as usize;
        if rest.is_empty() || !rest.len().is_multiple_of(2) {
            return Err(Error::Edit(
                "needs type/value pairs after the offset, e.g. `74 hfid EVSE`".into(),
            ));
        }
        let items = rest
            .chunks_exact(2)
            .map(|p| {
                Ok(EditItem {
                    kind: EditKind::from_name(p[0].as_ref())?,
                    value: p[1].as_ref().to_owned(),
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self { offset, items })
    }

    fn single(offset: usize, kind: EditKind, value: &str) -> Self {
        Self {
            offset,
            items: vec![EditItem {
                kind,
                value: value.to_owned(),
            }],
        }
    }
}

/// A number as `setpib` reads it: optional `+`, `-` or `=`, then decimal, or `0x` hex, `0b`
/// binary, `0d` decimal; `base` forces one radix (offsets are hex). Negative values wrap, as in
/// C. Fails if the value does not fit `size` bytes.
pub fn parse_number(text: &str, base: Option<u32>, size: usize) -> Result<u64> {
    let bad = || Error::Edit(format!("{text:?} is not a number"));
    let mut s = text;
    let mut negative = false;
    if let Some(rest) = s.strip_prefix(['=', '+']) {
        s = rest;
    } else if let Some(rest) = s.strip_prefix('-') {
        s = rest;
        negative = true;
    }
    let mut radix = base.unwrap_or(10);
    for (prefix, r) in [
        ("0x", 16),
        ("0X", 16),
        ("0b", 2),
        ("0B", 2),
        ("0d", 10),
        ("0D", 10),
    ] {
        if let Some(rest) = s.strip_prefix(prefix) {
            if base.is_some_and(|b| b != r) {
                return Err(Error::Edit(format!(
                    "{text:?} is not base {radix} notation"
                )));
            }
            radix = r;
            s = rest;
            break;
        }
    }
    if s.is_empty() && !text.trim_start_matches(['=', '+', '-']).starts_with('0') {
        return Err(bad());
    }
    let limit = if size >= 8 {
        u64::MAX
    } else {
        (1u64 << (size * 8)) - 1
    };
    let mut value = 0u64;
    for c in s.chars() {
        let digit = c.to_digit(radix).ok_or_else(bad)?;
        value = value
            .checked_mul(u64::from(radix))
            .and_then(|v| v.checked_add(u64::from(digit)))
            .filter(|v| *v <= limit)
            .ok_or_else(|| Error::Edit(format!("{text:?} does not fit {} bits", size * 8)))?;
    }
    let value = if negative {
        value.wrapping_neg()
    } else {
        value
    };
    Ok(value & limit)
}

/// Hex bytes, colons between bytes optional.
fn parse_hex(text: &str, len: Option<usize>) -> Result<Vec<u8>> {
    let bad = || Error::Edit(format!("{text:?} is not hex bytes"));
    let digits: Vec<u8> = text.trim().bytes().filter(|b| *b != b':').collect();
    if !digits.len().is_multiple_of(2) {
        return Err(bad());
    }
    let bytes = digits
        .chunks_exact(2)
        .map(|p| {
            let hi = char::from(p[0]).to_digit(16).ok_or_else(bad)?;
            let lo = char::from(p[1]).to_digit(16).ok_or_else(bad)?;
            Ok((hi * 16 + lo) as u8)
        })
        .collect::<Result<Vec<u8>>>()?;
    if let Some(len) = len
        && bytes.len() != len
    {
        return Err(Error::Edit(format!("{text:?} is not {len} bytes")));
    }
    Ok(bytes)
}

/// SLAC role of the modem (PIB "SLAC enable").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceRole {
    /// 0: no SLAC.
    Disabled,
    /// 1: the car's modem.
    Pev,
    /// 2: the charger's modem.
    Evse,
    /// Any other value.
    Other(u8),
}

impl DeviceRole {
    /// From the PIB byte.
    pub fn from_byte(b: u8) -> Self {
        match b {
            0 => Self::Disabled,
            1 => Self::Pev,
            2 => Self::Evse,
            other => Self::Other(other),
        }
    }

    /// The PIB byte.
    pub fn to_byte(self) -> u8 {
        match self {
            Self::Disabled => 0,
            Self::Pev => 1,
            Self::Evse => 2,
            Self::Other(b) => b,
        }
    }
}

/// A named PIB field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PibField {
    /// Short name (`gridlet plc pib show` prints it).
    pub name: &'static str,
    /// Offset in the PIB.
    pub offset: usize,
    /// Encoding.
    pub kind: EditKind,
    /// What it means.
    pub doc: &'static str,
}

const fn field(name: &'static str, offset: usize, kind: EditKind, doc: &'static str) -> PibField {
    PibField {
        name,
        offset,
        kind,
        doc,
    }
}

/// Offset of the modem's MAC address.
pub const MAC: usize = 0x0C;
/// Offset of the DAK (device access key).
pub const DAK: usize = 0x12;
/// Offset of the manufacturer HFID.
pub const MANUFACTURER_HFID: usize = 0x24;
/// Offset of the NMK (network membership key).
pub const NMK: usize = 0x64;
/// Offset of the user HFID.
pub const USER_HFID: usize = 0x74;
/// Offset of the network (AVLN) HFID.
pub const NETWORK_HFID: usize = 0xB4;
/// Offset of the CCo selection: 0 auto, 1 never, 2 always, 3 user-assigned.
pub const CCO_SELECTION: usize = 0xF4;
/// Offset of the preferred NID (7 bytes).
pub const PREFERRED_NID: usize = 0xF8;
/// Offset of the SLAC enable byte: 0 off, 1 PEV, 2 EVSE.
pub const SLAC_ENABLE: usize = 0x1653;

/// The fields a charger's bring-up reads and writes (QCA7000 PIB layout).
pub const FIELDS: &[PibField] = &[
    field("mac", MAC, EditKind::Mac, "the modem's MAC address"),
    field("dak", DAK, EditKind::Key, "device access key"),
    field(
        "manufacturer-hfid",
        MANUFACTURER_HFID,
        EditKind::Hfid,
        "manufacturer HFID",
    ),
    field(
        "nmk",
        NMK,
        EditKind::Key,
        "network membership key (the AVLN's)",
    ),
    field("user-hfid", USER_HFID, EditKind::Hfid, "user HFID"),
    field(
        "network-hfid",
        NETWORK_HFID,
        EditKind::Hfid,
        "network (AVLN) HFID",
    ),
    field(
        "cco-selection",
        CCO_SELECTION,
        EditKind::Byte,
        "CCo: 0 auto, 1 never, 2 always, 3 user-assigned",
    ),
    field("coexistence", 0xF5, EditKind::Byte, "coexistence mode"),
    field(
        "powerline-frequency",
        0xF6,
        EditKind::Byte,
        "mains frequency detection",
    ),
    field(
        "avln-membership",
        0xFF,
        EditKind::Byte,
        "AVLN membership at boot: 0 no, 1 yes",
    ),
    field(
        "communications-media",
        0x109,
        EditKind::Byte,
        "0 powerline, 1 coax only",
    ),
    field(
        "slac-enable",
        SLAC_ENABLE,
        EditKind::Byte,
        "SLAC role: 0 off, 1 PEV, 2 EVSE",
    ),
    field(
        "background-pib-har",
        0x16D2,
        EditKind::Byte,
        "background PIB HAR: 0 off, 1 on",
    ),
    field(
        "fast-avln-associate",
        0x16D3,
        EditKind::Byte,
        "fast AVLN association: 0 off, 1 on",
    ),
    field(
        "low-speed-link",
        0x1C98,
        EditKind::Long,
        "low-speed link threshold",
    ),
    field(
        "high-speed-link",
        0x1C9C,
        EditKind::Long,
        "high-speed link threshold",
    ),
    field("dbc-enable", 0x1F80, EditKind::Byte, "DBC: 0 off, 1 on"),
    field(
        "simple-qos",
        0x2030,
        EditKind::Byte,
        "simple QoS: 0 off, 1 on",
    ),
];

/// The EVSE profile of the board's bring-up, in the order the manual sequence runs it (see
/// README, "Bringing up a new cape"): user HFID "EVSE", CCo always, SLAC as EVSE, the link
/// thresholds, DBC off, background PIB HAR off, fast AVLN association on. The MAC is set last.
pub fn evse_profile() -> Vec<Edit> {
    vec![
        Edit::single(USER_HFID, EditKind::Hfid, "EVSE"),
        Edit::single(CCO_SELECTION, EditKind::Byte, "2"),
        Edit::single(SLAC_ENABLE, EditKind::Byte, "2"),
        Edit {
            offset: 0x1C98,
            items: vec![
                EditItem {
                    kind: EditKind::Long,
                    value: "10240".into(),
                },
                EditItem {
                    kind: EditKind::Long,
                    value: "102400".into(),
                },
            ],
        },
        Edit::single(0x1F80, EditKind::Byte, "0"),
        Edit::single(0x16D2, EditKind::Byte, "0"),
        Edit::single(0x16D3, EditKind::Byte, "1"),
    ]
}

/// Where the PIB block sits in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Container {
    /// An NVM chain; the PIB is module `index`; `trailing` are bytes after the chain, kept.
    Nvm {
        chain: Chain,
        index: usize,
        trailing: Vec<u8>,
    },
    /// A bare PIB block (INT6x00): its own length and checksum fields.
    Bare(Vec<u8>),
}

/// A PIB file, read for inspection and editing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pib {
    container: Container,
}

impl Pib {
    /// Reads a PIB file: an NVM chain (first word 1.1) holding a PIB module, or a bare PIB
    /// block. Checks the structure (headers, links, lengths), not the PIB checksum and NID: see
    /// [`Pib::check`].
    pub fn parse(b: &[u8]) -> Result<Self> {
        if b.len() < 4 {
            return Err(Error::PibTooShort {
                what: "a PIB file",
                need: 4,
                len: b.len(),
            });
        }
        let word = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        if word == V1_MAGIC {
            // Version 1 NVM files carry firmware only; their PIBs are bare files.
            return Err(Error::NoPib);
        }
        let container = if word == 0x0001_0001 {
            let (chain, len) = Chain::parse_prefix(b)?;
            let index = chain
                .modules
                .iter()
                .position(|m| m.header.image_type() == ImageType::PIB)
                .ok_or(Error::NoPib)?;
            Container::Nvm {
                chain,
                index,
                trailing: b[len..].to_vec(),
            }
        } else {
            if b.len() < 12 {
                return Err(Error::PibTooShort {
                    what: "the PIB header",
                    need: 12,
                    len: b.len(),
                });
            }
            let field = usize::from(u16::from_le_bytes([b[4], b[5]]));
            if field > b.len() || field < 12 {
                return Err(Error::PibLength {
                    field,
                    len: b.len(),
                });
            }
            Container::Bare(b.to_vec())
        };
        let pib = Self { container };
        if pib.data().len() < FIXED_LEN {
            return Err(Error::PibTooShort {
                what: "the PIB's fixed fields",
                need: FIXED_LEN,
                len: pib.data().len(),
            });
        }
        Ok(pib)
    }

    /// The PIB block.
    pub fn data(&self) -> &[u8] {
        match &self.container {
            Container::Nvm { chain, index, .. } => &chain.modules[*index].image,
            Container::Bare(b) => b,
        }
    }

    fn data_mut(&mut self) -> &mut [u8] {
        match &mut self.container {
            Container::Nvm { chain, index, .. } => &mut chain.modules[*index].image,
            Container::Bare(b) => b,
        }
    }

    /// True for a PIB inside an NVM file (QCA7000/7005), false for a bare block.
    pub fn is_nvm(&self) -> bool {
        matches!(self.container, Container::Nvm { .. })
    }

    /// Checks what `chkpib` checks: the checksums (every module's image in an NVM file; the
    /// block's own for a bare PIB) and that the preferred NID is the one the NMK derives (with
    /// the security level the NID carries).
    pub fn check(&self) -> Result<()> {
        match &self.container {
            Container::Nvm { chain, .. } => chain.check()?,
            Container::Bare(b) => {
                let computed = checksum32(&b[..bare_len(b)]);
                if computed != 0 {
                    let stored = u32::from_le_bytes([b[8], b[9], b[10], b[11]]);
                    return Err(Error::PibChecksum {
                        stored,
                        computed: stored ^ !computed,
                    });
                }
            }
        }
        let found = self.preferred_nid()?;
        let expected = expected_nid(&self.nmk()?, found);
        if found != expected {
            return Err(Error::PibNid {
                found: found.to_string(),
                expected: expected.to_string(),
            });
        }
        Ok(())
    }

    /// The file with its checksums made valid for the current PIB contents.
    pub fn to_bytes(&self) -> Vec<u8> {
        match &self.container {
            Container::Nvm {
                chain,
                index,
                trailing,
            } => {
                let mut chain = chain.clone();
                let module = &mut chain.modules[*index];
                module.header.set_image_checksum(checksum32(&module.image));
                let mut out = chain.to_bytes();
                out.extend_from_slice(trailing);
                out
            }
            Container::Bare(b) => {
                let mut b = b.clone();
                let len = bare_len(&b);
                b[8..12].fill(0);
                let sum = checksum32(&b[..len]);
                b[8..12].copy_from_slice(&sum.to_le_bytes());
                b
            }
        }
    }

    fn bytes(&self, offset: usize, len: usize, what: &'static str) -> Result<&[u8]> {
        let data = self.data();
        offset
            .checked_add(len)
            .and_then(|end| data.get(offset..end))
            .ok_or(Error::PibTooShort {
                what,
                need: offset.saturating_add(len),
                len: data.len(),
            })
    }

    fn array<const N: usize>(&self, offset: usize, what: &'static str) -> Result<[u8; N]> {
        let mut out = [0; N];
        out.copy_from_slice(self.bytes(offset, N, what)?);
        Ok(out)
    }

    /// The modem's MAC address.
    pub fn mac(&self) -> Result<MacAddr> {
        self.array(MAC, "the MAC").map(MacAddr)
    }

    /// The NMK.
    pub fn nmk(&self) -> Result<Nmk> {
        self.array(NMK, "the NMK").map(Nmk)
    }

    /// The preferred NID.
    pub fn preferred_nid(&self) -> Result<Nid> {
        self.array(PREFERRED_NID, "the preferred NID").map(Nid)
    }

    /// An HFID field (at [`MANUFACTURER_HFID`], [`USER_HFID`] or [`NETWORK_HFID`]): the text up
    /// to the first NUL or non-printable byte.
    pub fn hfid(&self, offset: usize) -> Result<String> {
        let b = self.bytes(offset, HFID_LEN, "an HFID")?;
        Ok(printable_prefix(b))
    }

    /// The SLAC role.
    pub fn device_role(&self) -> Result<DeviceRole> {
        self.array::<1>(SLAC_ENABLE, "the SLAC role")
            .map(|[b]| DeviceRole::from_byte(b))
    }

    /// Sets the MAC address (as `modpib -M`).
    pub fn set_mac(&mut self, mac: MacAddr) -> Result<()> {
        self.bytes(MAC, 6, "the MAC")?;
        self.data_mut()[MAC..MAC + 6].copy_from_slice(&mac.0);
        Ok(())
    }

    /// Sets the NMK and the preferred NID it derives, keeping the NID's security level (as
    /// `modpib -N`).
    pub fn set_nmk(&mut self, nmk: Nmk) -> Result<()> {
        let old = self.preferred_nid()?;
        self.bytes(NMK, 16, "the NMK")?;
        let nid = expected_nid(&nmk, old);
        let data = self.data_mut();
        data[NMK..NMK + 16].copy_from_slice(&nmk.0);
        data[PREFERRED_NID..PREFERRED_NID + 7].copy_from_slice(&nid.0);
        Ok(())
    }

    /// Sets the SLAC role.
    pub fn set_device_role(&mut self, role: DeviceRole) -> Result<()> {
        self.bytes(SLAC_ENABLE, 1, "the SLAC role")?;
        self.data_mut()[SLAC_ENABLE] = role.to_byte();
        Ok(())
    }

    /// Applies a raw edit as `setpib` does; nothing changes if any item fails.
    pub fn apply(&mut self, edit: &Edit) -> Result<()> {
        let mut data = self.data().to_vec();
        if edit.offset >= data.len() {
            return Err(Error::Edit(format!(
                "offset {:#x} is past the PIB's end ({:#x} bytes)",
                edit.offset,
                data.len()
            )));
        }
        let mut at = edit.offset;
        for item in &edit.items {
            let bytes = encode(item, data.len() - at)?;
            match bytes {
                Encoded::Bytes(b) => {
                    data[at..at + b.len()].copy_from_slice(&b);
                    at += b.len();
                }
                Encoded::Skip(n) => at += n,
            }
        }
        if !self.is_nvm() {
            let field = usize::from(u16::from_le_bytes([data[4], data[5]]));
            if !(12..=data.len()).contains(&field) {
                return Err(Error::Edit(format!(
                    "the PIB length field would become {field}, outside 12..={}",
                    data.len()
                )));
            }
        }
        self.data_mut().copy_from_slice(&data);
        Ok(())
    }

    /// The EVSE profile and the MAC: exactly the bytes the manual setpib/modpib sequence gives.
    pub fn apply_evse_profile(&mut self, mac: MacAddr) -> Result<()> {
        let before = self.clone();
        let result = evse_profile()
            .iter()
            .try_for_each(|e| self.apply(e))
            .and_then(|()| self.set_mac(mac));
        if result.is_err() {
            *self = before;
        }
        result
    }

    /// Reads a value as `getpib OFFSET TYPE` prints it: decimal numbers, colon-separated upper
    /// case hex for `mac`/`key`, the printable text of an `hfid`.
    pub fn get(&self, offset: usize, kind: EditKind) -> Result<String> {
        let len = kind
            .fixed_len()
            .ok_or_else(|| Error::Edit(format!("{} has no fixed length", kind.name())))?;
        let b = self.bytes(offset, len, "the value")?;
        let le = |n: usize| {
            let mut v = [0u8; 8];
            v[..n].copy_from_slice(&b[..n]);
            u64::from_le_bytes(v)
        };
        Ok(match kind {
            EditKind::Byte => le(1).to_string(),
            EditKind::Word => le(2).to_string(),
            EditKind::Long => le(4).to_string(),
            EditKind::Huge => le(8).to_string(),
            EditKind::Hfid => printable_prefix(b),
            _ => b
                .iter()
                .map(|x| format!("{x:02X}"))
                .collect::<Vec<_>>()
                .join(":"),
        })
    }
}

/// The NID the NMK derives, with the level bits of `found` (chkpib keeps whatever high nibble
/// the stored NID has).
fn expected_nid(nmk: &Nmk, found: Nid) -> Nid {
    let mut nid = Nid::from_nmk(nmk, SecurityLevel::SimpleConnect);
    nid.0[6] = (nid.0[6] & 0x0F) | (found.0[6] & 0xF0);
    nid
}

/// The length a bare PIB's checksum covers: its length field, within the file (an edit may have
/// written any value there).
fn bare_len(b: &[u8]) -> usize {
    usize::from(u16::from_le_bytes([b[4], b[5]])).min(b.len())
}

fn printable_prefix(b: &[u8]) -> String {
    b.iter()
        .take_while(|c| (0x20..0x7F).contains(*c))
        .map(|c| char::from(*c))
        .collect()
}

enum Encoded {
    Bytes(Vec<u8>),
    Skip(usize),
}

fn encode(item: &EditItem, room: usize) -> Result<Encoded> {
    let v = item.value.as_str();
    let overflow = |need: usize| {
        Error::Edit(format!(
            "{} {v:?} needs {need} bytes, {room} left to the PIB's end",
            item.kind.name()
        ))
    };
    let number = |size: usize| -> Result<Encoded> {
        if room < size {
            return Err(overflow(size));
        }
        let n = parse_number(v, None, size)?;
        Ok(Encoded::Bytes(n.to_le_bytes()[..size].to_vec()))
    };
    let encoded = match item.kind {
        EditKind::Byte => number(1)?,
        EditKind::Word => number(2)?,
        EditKind::Long => number(4)?,
        EditKind::Huge => number(8)?,
        EditKind::Hfid => {
            let mut b = vec![0u8; HFID_LEN];
            let text = v.as_bytes();
            let n = text.len().min(HFID_LEN - 1);
            b[..n].copy_from_slice(&text[..n]);
            Encoded::Bytes(b)
        }
        EditKind::Mac => Encoded::Bytes(parse_hex(v, Some(6))?),
        EditKind::Key => Encoded::Bytes(parse_hex(v, Some(16))?),
        EditKind::Text => Encoded::Bytes(v.as_bytes().to_vec()),
        EditKind::Data => Encoded::Bytes(parse_hex(v, None)?),
        EditKind::Fill | EditKind::Zero | EditKind::Skip => {
            let n = parse_number(v, None, 8)?;
            let n = usize::try_from(n)
                .ok()
                .filter(|n| *n <= room)
                .ok_or_else(|| overflow(usize::try_from(n).unwrap_or(usize::MAX)))?;
            match item.kind {
                EditKind::Fill => Encoded::Bytes(vec![0xFF; n]),
                EditKind::Zero => Encoded::Bytes(vec![0; n]),
                _ => Encoded::Skip(n),
            }
        }
    };
    if let Encoded::Bytes(b) = &encoded
        && b.len() > room
    {
        return Err(overflow(b.len()));
    }
    Ok(encoded)
}
