//! SML 1.04 (Smart Message Language, BSI TR-03109-1 Anlage IIIa / FNN "SML 1.04") as German
//! smart meters send it on their optical interface, unasked, every 1–4 s (9600 8N1): a transport
//! frame `1b1b1b1b 01010101 … 1b1b1b1b 1a <padding> <CRC16>` around an SML file of messages
//! (`SML_PublicOpen.Res`, `SML_GetList.Res` with the values, `SML_PublicClose.Res`), each with its
//! own CRC16.
//!
//! The transport (escaping, both CRCs) and the messages are decoded by the `sml-rs` crate; this
//! module is the sans-IO stream around it ([`SmlStream`]: bytes in, [`SmlReading`]s or errors
//! out) and the OBIS values a grid meter needs (IEC 62056-61): `1-0:1.8.0` import energy,
//! `1-0:2.8.0` export energy, `1-0:16.7.0` total active power (signed, import positive) and
//! `1-0:36.7.0`/`56.7.0`/`76.7.0` per phase, each scaled by `10^scaler` and checked against its
//! DLMS unit (27 = W, 30 = Wh). [`telegram`] writes telegrams (the test peers' meter).

use sml_rs::parser::common::Value;
use sml_rs::parser::complete::{File, MessageBody};
use sml_rs::transport::{DecodeErr, Decoder};
use sml_rs::util::ArrayBuf;

use crate::Measurements;

/// The longest transport frame kept (an eBZ DD3's is ~400 bytes; meters with many values send
/// up to ~1 KB); longer frames are an error, not an allocation.
pub const MAX_FRAME: usize = 4096;

/// OBIS codes (A, C, D, E; the channel B and F are not compared: meters write B = 0 or 1 and
/// F = 255 or 0).
pub mod obis {
    /// `1-0:1.8.0`: imported active energy, total.
    pub const IMPORT_ENERGY: [u8; 4] = [1, 1, 8, 0];
    /// `1-0:2.8.0`: exported active energy, total.
    pub const EXPORT_ENERGY: [u8; 4] = [1, 2, 8, 0];
    /// `1-0:16.7.0`: active power, total, signed (import positive).
    pub const POWER: [u8; 4] = [1, 16, 7, 0];
    /// `1-0:36.7.0`, `56.7.0`, `76.7.0`: active power L1, L2, L3.
    pub const POWER_PHASES: [[u8; 4]; 3] = [[1, 36, 7, 0], [1, 56, 7, 0], [1, 76, 7, 0]];
}

/// DLMS unit codes (IEC 62056-62).
const UNIT_W: u8 = 27;
const UNIT_WH: u8 = 30;

/// Why bytes from the meter gave no reading.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmlError {
    /// The transport frame is broken (CRC, escape sequence, padding).
    #[error("bad SML transport frame: {0}")]
    Transport(String),
    /// A frame longer than [`MAX_FRAME`].
    #[error("SML frame longer than {MAX_FRAME} bytes")]
    TooLong,
    /// Bytes between frames that are not SML (after the first frame: noise on the line).
    #[error("{0} bytes of noise between SML frames")]
    Noise(usize),
    /// The messages do not parse (a message CRC, a wrong type).
    #[error("bad SML message: {0}")]
    Message(String),
    /// No `SML_GetList.Res`.
    #[error("SML file without a value list (SML_GetList.Res)")]
    NoList,
    /// A value of the wrong type or unit.
    #[error("OBIS {obis}: {problem}")]
    Value {
        /// The OBIS code, `1-0:16.7.0`.
        obis: String,
        /// What is wrong.
        problem: String,
    },
    /// No total power: many meters send it only after their PIN was entered.
    #[error(
        "no active power (OBIS 1-0:16.7.0) in the telegram: enable the meter's full data set (PIN)"
    )]
    NoPower,
}

/// What one telegram said.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SmlReading {
    /// The meter's server id (its identification number), if sent.
    pub server_id: Vec<u8>,
    /// `1-0:16.7.0`, W.
    pub power_w: Option<f64>,
    /// `1-0:36.7.0` .. `76.7.0`, W.
    pub phases_w: [Option<f64>; 3],
    /// `1-0:1.8.0`, Wh.
    pub import_wh: Option<f64>,
    /// `1-0:2.8.0`, Wh.
    pub export_wh: Option<f64>,
}

impl SmlReading {
    /// The controller's values, or why there are none.
    pub fn measurements(&self) -> Result<Measurements, SmlError> {
        let power_w = self.power_w.ok_or(SmlError::NoPower)?;
        let [a, b, c] = self.phases_w;
        let phases_w = match (a, b, c) {
            (Some(a), Some(b), Some(c)) => Some([a, b, c]),
            _ => None,
        };
        Ok(Measurements {
            power_w,
            phases_w,
            import_wh: self.import_wh,
            export_wh: self.export_wh,
            ..Measurements::default()
        })
    }
}

fn obis_text(name: &[u8]) -> String {
    match name {
        [a, b, c, d, e, ..] => format!("{a}-{b}:{c}.{d}.{e}"),
        _ => format!("{name:02x?}"),
    }
}

fn number(v: &Value<'_>) -> Option<f64> {
    // Meter values are at most 48 bits in practice; f64 holds 53.
    #[allow(clippy::cast_precision_loss)]
    Some(match *v {
        Value::I8(x) => f64::from(x),
        Value::I16(x) => f64::from(x),
        Value::I32(x) => f64::from(x),
        Value::I64(x) => x as f64,
        Value::U8(x) => f64::from(x),
        Value::U16(x) => f64::from(x),
        Value::U32(x) => f64::from(x),
        Value::U64(x) => x as f64,
        Value::Bool(_) | Value::Bytes(_) | Value::List(_) => return None,
    })
}

/// Walks the type-length fields of an SML file and refuses one that does not fit: a list that
/// claims more elements than there are bytes left, a length field longer than 32 bits, a value
/// longer than the file. `sml-rs` 0.4 reserves a list's claimed length up front
/// (`Vec::with_capacity` in `parser::complete`) and lets long length fields wrap, so a corrupted
/// length would abort the daemon on the allocation (found by the `meter_sml` fuzz target). SML
/// is a prefix-encoded tree, so one linear pass meets every list's TL before its elements; a
/// valid file always passes.
fn check_list_lengths(payload: &[u8]) -> Result<(), SmlError> {
    let bad = |start: usize, what: String| {
        Err(SmlError::Message(format!(
            "type-length field at offset {start}: {what}"
        )))
    };
    let mut at = 0;
    while let Some(&first) = payload.get(at) {
        let start = at;
        let ty = (first >> 4) & 0x07;
        let mut len = u64::from(first & 0x0F);
        let mut more = first & 0x80 != 0;
        at += 1;
        while more {
            let Some(&b) = payload.get(at) else {
                return bad(start, "truncated".into());
            };
            len = (len << 4) | u64::from(b & 0x0F);
            more = b & 0x80 != 0;
            at += 1;
            if at - start > 8 {
                return bad(start, "longer than 32 bits".into());
            }
        }
        let left = (payload.len() - at) as u64;
        if ty == 7 {
            // A list: its elements follow, each at least one byte.
            if len > left {
                return bad(
                    start,
                    format!("a list that claims {len} elements in {left} bytes"),
                );
            }
        } else if first != 0x00 {
            // A primitive (0x00 is the end of a message): the length counts the TL bytes too.
            let tl = (at - start) as u64;
            match len.checked_sub(tl) {
                Some(body) if body <= left => at += usize::try_from(body).unwrap_or(usize::MAX),
                _ => return bad(start, format!("{len} bytes, {} left", left + tl)),
            }
        }
    }
    Ok(())
}

/// The values of a decoded SML file (the transport's payload).
pub fn parse_file(payload: &[u8]) -> Result<SmlReading, SmlError> {
    check_list_lengths(payload)?;
    let file: File<'_> = sml_rs::parser::complete::parse(payload)
        .map_err(|e| SmlError::Message(format!("{e:?}")))?;
    let mut reading = SmlReading::default();
    let mut list = false;
    for message in &file.messages {
        let MessageBody::GetListResponse(r) = &message.message_body else {
            continue;
        };
        list = true;
        reading.server_id = r.server_id.to_vec();
        for entry in &r.val_list {
            let name = entry.obj_name;
            let [a, _, c, d, e, ..] = *name else {
                continue;
            };
            let key = [a, c, d, e];
            let (slot, unit): (&mut Option<f64>, u8) = if key == obis::POWER {
                (&mut reading.power_w, UNIT_W)
            } else if key == obis::IMPORT_ENERGY {
                (&mut reading.import_wh, UNIT_WH)
            } else if key == obis::EXPORT_ENERGY {
                (&mut reading.export_wh, UNIT_WH)
            } else if let Some(p) = obis::POWER_PHASES.iter().position(|o| *o == key) {
                (&mut reading.phases_w[p], UNIT_W)
            } else {
                continue;
            };
            let bad = |problem: String| SmlError::Value {
                obis: obis_text(name),
                problem,
            };
            if let Some(u) = entry.unit
                && u != unit
            {
                return Err(bad(format!("unit {u}, expected {unit}")));
            }
            let raw = number(&entry.value)
                .ok_or_else(|| bad(format!("not a number: {:?}", entry.value)))?;
            let scaler = entry.scaler.unwrap_or(0);
            if !(-9..=9).contains(&scaler) {
                return Err(bad(format!("scaler {scaler} out of range")));
            }
            *slot = Some(raw * 10f64.powi(i32::from(scaler)));
        }
    }
    if !list {
        return Err(SmlError::NoList);
    }
    Ok(reading)
}

/// The byte stream from an optical head: [`push`](Self::push) bytes as they come, get each
/// telegram's reading or error. No I/O, no clock.
pub struct SmlStream {
    decoder: Decoder<ArrayBuf<MAX_FRAME>>,
    synced: bool,
}

impl std::fmt::Debug for SmlStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmlStream")
            .field("synced", &self.synced)
            .finish_non_exhaustive()
    }
}

impl Default for SmlStream {
    fn default() -> Self {
        Self::new()
    }
}

impl SmlStream {
    /// A stream that has seen nothing yet.
    pub fn new() -> Self {
        Self {
            decoder: Decoder::new(),
            synced: false,
        }
    }

    /// Feeds bytes; `out` gets one result per telegram (or per broken frame). Bytes before the
    /// first frame (a head plugged in mid-telegram) are skipped silently.
    pub fn push(&mut self, bytes: &[u8], mut out: impl FnMut(Result<SmlReading, SmlError>)) {
        for &b in bytes {
            match self.decoder.push_byte(b) {
                Ok(None) => {}
                Ok(Some(payload)) => {
                    self.synced = true;
                    out(parse_file(payload));
                }
                Err(DecodeErr::DiscardedBytes(n)) => {
                    if self.synced {
                        out(Err(SmlError::Noise(n)));
                    }
                }
                Err(DecodeErr::OutOfMemory) => {
                    self.decoder.reset();
                    out(Err(SmlError::TooLong));
                }
                Err(e) => out(Err(SmlError::Transport(format!("{e:?}")))),
            }
        }
    }
}

/// Writes SML: the meter side of the protocol, for test peers and the simulated meter.
pub mod write {
    /// CRC-16/X-25 (IBM-SDLC), as SML uses for messages and the transport frame.
    pub fn crc16(bytes: &[u8]) -> u16 {
        let mut crc: u16 = 0xFFFF;
        for &b in bytes {
            crc ^= u16::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0x8408
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn tl(out: &mut Vec<u8>, ty: u8, len: usize) {
        // One TL byte holds a length up to 15; longer ones take a second byte (bit 7 = more).
        if len < 16 {
            out.push((ty << 4) | u8::try_from(len).unwrap_or(15));
        } else {
            let len = len + 1; // the length counts both TL bytes
            out.push(0x80 | (ty << 4) | u8::try_from((len >> 4) & 0x0F).unwrap_or(0));
            out.push(u8::try_from(len & 0x0F).unwrap_or(0));
        }
    }

    /// An octet string.
    pub fn octets(out: &mut Vec<u8>, s: &[u8]) {
        tl(out, 0, s.len() + 1);
        out.extend_from_slice(s);
    }

    /// An unsigned integer in `n` bytes.
    pub fn unsigned(out: &mut Vec<u8>, v: u64, n: usize) {
        tl(out, 6, n + 1);
        out.extend_from_slice(&v.to_be_bytes()[8 - n..]);
    }

    /// A signed integer in `n` bytes.
    pub fn signed(out: &mut Vec<u8>, v: i64, n: usize) {
        tl(out, 5, n + 1);
        out.extend_from_slice(&v.to_be_bytes()[8 - n..]);
    }

    /// A list of `n` elements (the elements follow).
    pub fn list(out: &mut Vec<u8>, n: usize) {
        tl(out, 7, n);
    }

    /// An absent optional value.
    pub fn none(out: &mut Vec<u8>) {
        out.push(0x01);
    }

    /// One message: transaction id, group, abort-on-error, the body (tag and content already
    /// written by `body`), its CRC16 and the end-of-message byte.
    pub fn message(
        out: &mut Vec<u8>,
        transaction: &[u8],
        tag: u16,
        body: impl FnOnce(&mut Vec<u8>),
    ) {
        let start = out.len();
        list(out, 6);
        octets(out, transaction);
        unsigned(out, 0, 1);
        unsigned(out, 0, 1);
        list(out, 2);
        unsigned(out, u64::from(tag), 2);
        body(out);
        let crc = crc16(&out[start..]);
        // Sent low byte first (as meters do, and as sml-rs and libsml check it).
        out.push(0x63);
        out.extend_from_slice(&crc.to_le_bytes());
        out.push(0x00);
    }

    /// The transport frame around an SML file: escaped 1b1b1b1b, padding to 4 bytes, the
    /// end sequence with the padding count and the CRC16 over everything before it.
    pub fn transport(file: &[u8]) -> Vec<u8> {
        let mut out = vec![0x1b, 0x1b, 0x1b, 0x1b, 0x01, 0x01, 0x01, 0x01];
        let mut run = 0;
        for &b in file {
            out.push(b);
            run = if b == 0x1b { run + 1 } else { 0 };
            if run == 4 {
                out.extend_from_slice(&[0x1b; 4]);
                run = 0;
            }
        }
        let padding = (4 - out.len() % 4) % 4;
        out.extend(std::iter::repeat_n(0u8, padding));
        out.extend_from_slice(&[
            0x1b,
            0x1b,
            0x1b,
            0x1b,
            0x1a,
            u8::try_from(padding).unwrap_or(0),
        ]);
        let crc = crc16(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }
}

/// One value of a [`telegram`]: OBIS code (6 bytes), DLMS unit, scaler and the raw value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// `[A, B, C, D, E, F]`.
    pub obis: [u8; 6],
    /// DLMS unit (27 W, 30 Wh), or none.
    pub unit: Option<u8>,
    /// Power of ten.
    pub scaler: i8,
    /// The value.
    pub value: i64,
    /// Sent as signed (power) or unsigned (energy counters) integer of 4 or 8 bytes.
    pub signed: bool,
}

/// A whole telegram as an eBZ DD3 sends it: open response, the value list, close response, in
/// a transport frame.
pub fn telegram(server_id: &[u8], transaction: u8, entries: &[Entry]) -> Vec<u8> {
    use write::{list, message, none, octets, signed, unsigned};
    let mut file = Vec::new();
    // SML_PublicOpen.Res: codepage, clientId, reqFileId, serverId, refTime, smlVersion.
    message(&mut file, &[transaction, 0], 0x0101, |o| {
        list(o, 6);
        none(o);
        none(o);
        octets(o, &[transaction]);
        octets(o, server_id);
        none(o);
        none(o);
    });
    // SML_GetList.Res: clientId, serverId, listName, actSensorTime, valList, listSignature,
    // actGatewayTime.
    message(&mut file, &[transaction, 1], 0x0701, |o| {
        list(o, 7);
        none(o);
        octets(o, server_id);
        octets(o, &[1, 0, 98, 11, 0, 255]);
        // secIndex: the meter's seconds counter.
        list(o, 2);
        unsigned(o, 1, 1);
        unsigned(o, 12_345_678, 4);
        list(o, entries.len());
        for e in entries {
            list(o, 7);
            octets(o, &e.obis);
            none(o); // status
            none(o); // valTime
            match e.unit {
                Some(u) => unsigned(o, u64::from(u), 1),
                None => none(o),
            }
            signed(o, i64::from(e.scaler), 1);
            let n = if i32::try_from(e.value).is_ok() { 4 } else { 8 };
            if e.signed {
                signed(o, e.value, n);
            } else {
                unsigned(o, u64::try_from(e.value).unwrap_or(0), n);
            }
            none(o); // valueSignature
        }
        none(o);
        none(o);
    });
    // SML_PublicClose.Res: globalSignature.
    message(&mut file, &[transaction, 2], 0x0201, |o| {
        list(o, 1);
        none(o);
    });
    write::transport(&file)
}

/// The entries an eBZ DD3 sends for `m` (energies in 0.1 Wh, powers in 0.01 W).
#[allow(clippy::cast_possible_truncation)]
pub fn ebz_entries(m: &Measurements) -> Vec<Entry> {
    let energy = |c: u8, wh: f64| Entry {
        obis: [1, 0, c, 8, 0, 255],
        unit: Some(UNIT_WH),
        scaler: -1,
        value: (wh * 10.0).round() as i64,
        signed: false,
    };
    let power = |c: u8, w: f64| Entry {
        obis: [1, 0, c, 7, 0, 255],
        unit: Some(UNIT_W),
        scaler: -2,
        value: (w * 100.0).round() as i64,
        signed: true,
    };
    let mut e = vec![
        energy(1, m.import_wh.unwrap_or(0.0)),
        energy(2, m.export_wh.unwrap_or(0.0)),
        power(16, m.power_w),
    ];
    if let Some(p) = m.phases_w {
        e.extend([power(36, p[0]), power(56, p[1]), power(76, p[2])]);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Measurements {
        Measurements {
            power_w: -1234.56,
            phases_w: Some([-400.0, -434.56, -400.0]),
            import_wh: Some(4_321_500.1),
            export_wh: Some(1_234_250.0),
            ..Measurements::default()
        }
    }

    fn read_all(bytes: &[u8]) -> Vec<Result<SmlReading, SmlError>> {
        let mut s = SmlStream::new();
        let mut out = Vec::new();
        s.push(bytes, |r| out.push(r));
        out
    }

    #[test]
    fn a_list_longer_than_its_file_is_refused_before_sml_rs_allocates_it() {
        // The fuzzer's find: a value list whose multi-byte TL claims ~2^31 entries.
        let mut file = vec![
            0x76, 0x01, 0x62, 0x02, 0x62, 0x08, 0x72, 0x63, 0x07, 0x01, 0x77,
        ];
        file.extend_from_slice(&[0x03, 0x72, 0x63, 0x07, 0x72, 0x63, 0x01, 0x00, 0x72, 0x63]);
        file.extend_from_slice(&[0x01, 0x01, 0xfe, 0x8d, 0x8d, 0x8d, 0x8d, 0x8d, 0x8d, 0x03]);
        file.extend_from_slice(&[0x72, 0x42]);
        let e = parse_file(&file).unwrap_err();
        assert!(
            matches!(&e, SmlError::Message(m) if m.contains("claims")),
            "{e:?}"
        );
        // A whole telegram still passes the check.
        let t = telegram(b"\x0aEBZ", 1, &ebz_entries(&sample()));
        assert_eq!(read_all(&t).len(), 1);
    }

    #[test]
    fn crc16_is_x25() {
        // The CRC-16/X-25 check value (CRC catalogue): "123456789" -> 0x906E.
        assert_eq!(write::crc16(b"123456789"), 0x906E);
    }

    #[test]
    fn a_telegram_reads_back_in_one_piece_and_byte_by_byte() {
        let t = telegram(b"\x0aEBZ0001234", 7, &ebz_entries(&sample()));
        let r = read_all(&t);
        assert_eq!(r.len(), 1, "{r:?}");
        let reading = r[0].clone().unwrap();
        assert_eq!(reading.server_id, b"\x0aEBZ0001234");
        let m = reading.measurements().unwrap();
        assert!((m.power_w + 1234.56).abs() < 1e-9, "{m:?}");
        assert!((m.import_wh.unwrap() - 4_321_500.1).abs() < 1e-6);
        assert_eq!(m.export_wh, Some(1_234_250.0));
        assert!(m.phases_w.is_some());
        // Split anywhere, after noise: one reading each.
        let mut s = SmlStream::new();
        let mut n = 0;
        for b in b"\x00\x17garbage".iter().chain(&t).chain(&t) {
            s.push(&[*b], |r| {
                r.unwrap();
                n += 1;
            });
        }
        assert_eq!(n, 2);
    }

    #[test]
    fn broken_telegrams_are_errors_with_their_reason() {
        let t = telegram(b"\x0aEBZ", 1, &ebz_entries(&sample()));
        // A flipped bit in the values: the transport CRC.
        let mut bad = t.clone();
        bad[60] ^= 0x10;
        let r = read_all(&bad);
        assert!(
            matches!(&r[..], [Err(SmlError::Transport(e))] if e.contains("checksum")),
            "{r:?}"
        );
        // No power: the PIN hint.
        let only_energy: Vec<Entry> = ebz_entries(&sample())
            .into_iter()
            .filter(|e| e.obis[2] != 16)
            .collect();
        let r = read_all(&telegram(b"\x0aEBZ", 1, &only_energy));
        let e = r[0].clone().unwrap().measurements().unwrap_err();
        assert_eq!(e, SmlError::NoPower);
        // Power in Wh: a wrong unit.
        let mut wrong = ebz_entries(&sample());
        wrong[2].unit = Some(UNIT_WH);
        let r = read_all(&telegram(b"\x0aEBZ", 1, &wrong));
        assert!(
            matches!(&r[..], [Err(SmlError::Value { obis, .. })] if obis == "1-0:16.7.0"),
            "{r:?}"
        );
        // A frame that never ends: bounded, reported.
        let mut endless = t[..8].to_vec();
        endless.extend(std::iter::repeat_n(0x42, MAX_FRAME + 10));
        let r = read_all(&endless);
        assert_eq!(r, vec![Err(SmlError::TooLong)]);
        // After a good frame, noise is reported.
        let mut noisy = t.clone();
        noisy.extend_from_slice(b"xyz");
        noisy.extend_from_slice(&t);
        let r = read_all(&noisy);
        assert!(
            r.iter().any(|r| matches!(r, Err(SmlError::Noise(3)))),
            "{r:?}"
        );
    }
}
