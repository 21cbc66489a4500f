//! The SMA Energy Meter / Sunny Home Manager datagram (Speedwire, UDP 9522, multicast group
//! 239.12.255.254), after SMA's "SMA Energy Meter Protocol" (EMETER-Protokoll-TI-en-10):
//!
//! ```text
//! offset  size  field
//!  0      4     "SMA\0"
//!  4      2     tag 0 length = 4          6  2  tag 0x02A0 (group)     8  4  group (1)
//! 12      2     data length L (from the protocol id to the last channel)
//! 14      2     tag 0x0010 (data2)
//! 16      2     protocol id: 0x6069 energy meter
//! 18      2     SUSy ID (270 EM 1.0, 349 EM 2.0, 372 SHM 2.0)
//! 20      4     serial number
//! 24      4     ticker, ms
//! 28      ...   channels up to 16 + L: a 4-byte OBIS header [channel, index, kind, tariff],
//!               then 4 bytes (kind 4: actual value; kind 0: the software version) or
//!               8 bytes (kind 8: a counter)
//! 16 + L  4     end: length 0, tag 0
//! ```
//!
//! Everything is big-endian. Actual values are unsigned: powers in 0.1 W, currents in mA,
//! voltages in mV, the power factor in 0.001, the frequency in 0.001 Hz; counters in Ws. Import
//! (`P+`, index 1/21/41/61) and export (`P-`, index 2/22/42/62) are separate channels.
//!
//! [`Datagram`] is a view over the bytes (`check_len` once, then accessors that do not panic),
//! [`Repr`] the owned form with `parse`/`emit`, [`EmReading`] the meter's values in SI units.

use std::net::Ipv4Addr;

use devices::GridReading;
use units::{WattHours, Watts};

use crate::Measurements;

/// The UDP port SMA meters send to.
pub const PORT: u16 = 9522;
/// The multicast group SMA meters send to.
pub const GROUP: Ipv4Addr = Ipv4Addr::new(239, 12, 255, 254);
/// The protocol id of energy meter data (SMA EM, the Sunny Home Manager's meter).
pub const PROTOCOL_EMETER: u16 = 0x6069;

const MAGIC: [u8; 4] = *b"SMA\0";
const TAG_GROUP: u16 = 0x02A0;
const TAG_DATA2: u16 = 0x0010;
/// Bytes before the data: magic, the group tag, the data tag's length and id.
const HEADER_LEN: usize = 16;
/// Bytes of the data before the channels: protocol id, SUSy ID, serial, ticker.
const DATA_HEAD_LEN: usize = 12;
const END_LEN: usize = 4;

/// Why a datagram is not a usable meter datagram.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Not an SMA datagram at all.
    #[error("not an SMA Speedwire datagram (no \"SMA\\0\" at its start)")]
    NotSma,
    /// Shorter than its header says.
    #[error("datagram truncated: {need} bytes needed, {have} received")]
    Truncated {
        /// Bytes the header announces.
        need: usize,
        /// Bytes received.
        have: usize,
    },
    /// The group tag or the data tag is not where the layout has it.
    #[error("unexpected tag 0x{tag:04X} at offset {offset}")]
    Tag {
        /// The tag found.
        tag: u16,
        /// Where.
        offset: usize,
    },
    /// A channel runs past the data's end.
    #[error("channel 0x{header:08X} at offset {offset} runs past the data's end")]
    ChannelTruncated {
        /// The OBIS header.
        header: u32,
        /// Where it starts.
        offset: usize,
    },
    /// A channel of a kind whose length is not known (so the rest cannot be read).
    #[error("channel 0x{header:08X} at offset {offset} has unknown kind {kind}")]
    UnknownKind {
        /// The OBIS header.
        header: u32,
        /// Its kind byte.
        kind: u8,
        /// Where it starts.
        offset: usize,
    },
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// A channel's OBIS header: `[channel, index, kind, tariff]` (OBIS B, C, D, E).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Obis {
    /// OBIS B: 0 for measurements, 144 for the software version.
    pub channel: u8,
    /// OBIS C: the measurement (1 = P+ total, 21 = P+ L1, 32 = U L1, ...).
    pub index: u8,
    /// OBIS D: 4 = actual value, 8 = counter, 0 = the software version.
    pub kind: u8,
    /// OBIS E: tariff, 0.
    pub tariff: u8,
}

impl Obis {
    /// An actual value of measurement `index`.
    pub const fn actual(index: u8) -> Self {
        Self {
            channel: 0,
            index,
            kind: KIND_ACTUAL,
            tariff: 0,
        }
    }

    /// A counter of measurement `index`.
    pub const fn counter(index: u8) -> Self {
        Self {
            channel: 0,
            index,
            kind: KIND_COUNTER,
            tariff: 0,
        }
    }

    /// The software version's header, `0x90000000`.
    pub const VERSION: Self = Self {
        channel: 144,
        index: 0,
        kind: 0,
        tariff: 0,
    };

    fn from_u32(h: u32) -> Self {
        let [channel, index, kind, tariff] = h.to_be_bytes();
        Self {
            channel,
            index,
            kind,
            tariff,
        }
    }

    fn to_u32(self) -> u32 {
        u32::from_be_bytes([self.channel, self.index, self.kind, self.tariff])
    }

    /// Bytes of the value after this header, or `None` for an unknown kind.
    fn value_len(self) -> Option<usize> {
        match self.kind {
            KIND_ACTUAL | KIND_VERSION => Some(4),
            KIND_COUNTER => Some(8),
            _ => None,
        }
    }
}

const KIND_ACTUAL: u8 = 4;
const KIND_COUNTER: u8 = 8;
const KIND_VERSION: u8 = 0;

/// A channel's raw value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// A 4-byte value (actual values, the software version).
    U32(u32),
    /// An 8-byte counter.
    U64(u64),
}

impl Value {
    fn as_f64(self) -> f64 {
        match self {
            Self::U32(v) => f64::from(v),
            // Counters in Ws reach 2^53 only after 285,000 years at 1 MW.
            #[allow(clippy::cast_precision_loss)]
            Self::U64(v) => v as f64,
        }
    }
}

/// A view over the bytes of a datagram.
#[derive(Debug, Clone)]
pub struct Datagram<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Datagram<T> {
    /// The view, unchecked: accessors return `None` or nothing where the bytes are missing.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// The view, after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let d = Self::new_unchecked(buffer);
        d.check_len()?;
        Ok(d)
    }

    /// Checks the magic, the tags and that the announced data is all there.
    pub fn check_len(&self) -> Result<(), Error> {
        let b = self.buffer.as_ref();
        if b.get(..4) != Some(&MAGIC[..]) {
            return Err(Error::NotSma);
        }
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated {
                need: HEADER_LEN,
                have: b.len(),
            });
        }
        for (offset, want) in [(6, TAG_GROUP), (14, TAG_DATA2)] {
            let tag = be16(b, offset).unwrap_or(0);
            if tag != want {
                return Err(Error::Tag { tag, offset });
            }
        }
        let need = HEADER_LEN + usize::from(self.data_len());
        if b.len() < need || usize::from(self.data_len()) < 2 {
            return Err(Error::Truncated {
                need: need.max(HEADER_LEN + 2),
                have: b.len(),
            });
        }
        Ok(())
    }

    /// The group (offset 8).
    pub fn group(&self) -> u32 {
        be32(self.buffer.as_ref(), 8).unwrap_or(0)
    }

    /// The data's length (offset 12): from the protocol id to the last channel.
    pub fn data_len(&self) -> u16 {
        be16(self.buffer.as_ref(), 12).unwrap_or(0)
    }

    /// The protocol id (offset 16).
    pub fn protocol(&self) -> u16 {
        be16(self.buffer.as_ref(), 16).unwrap_or(0)
    }

    /// The sender's SUSy ID (offset 18).
    pub fn susy_id(&self) -> u16 {
        be16(self.buffer.as_ref(), 18).unwrap_or(0)
    }

    /// The sender's serial number (offset 20).
    pub fn serial(&self) -> u32 {
        be32(self.buffer.as_ref(), 20).unwrap_or(0)
    }

    /// The sender's ticker, ms (offset 24).
    pub fn ticker_ms(&self) -> u32 {
        be32(self.buffer.as_ref(), 24).unwrap_or(0)
    }

    /// The channels, in order; an item is an error where the rest cannot be read.
    pub fn channels(&self) -> Channels<'_> {
        let b = self.buffer.as_ref();
        let end = (HEADER_LEN + usize::from(self.data_len())).min(b.len());
        Channels {
            bytes: b.get(..end).unwrap_or(b),
            at: HEADER_LEN + DATA_HEAD_LEN,
        }
    }
}

/// The channels of a [`Datagram`].
#[derive(Debug, Clone)]
pub struct Channels<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Iterator for Channels<'_> {
    type Item = Result<(Obis, Value), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.bytes.len() {
            return None;
        }
        let offset = self.at;
        let Some(header) = be32(self.bytes, offset) else {
            self.at = self.bytes.len();
            return Some(Err(Error::ChannelTruncated { header: 0, offset }));
        };
        let obis = Obis::from_u32(header);
        let Some(len) = obis.value_len() else {
            self.at = self.bytes.len();
            return Some(Err(Error::UnknownKind {
                header,
                kind: obis.kind,
                offset,
            }));
        };
        let value = match len {
            4 => be32(self.bytes, offset + 4).map(Value::U32),
            _ => be64(self.bytes, offset + 4).map(Value::U64),
        };
        let Some(value) = value else {
            self.at = self.bytes.len();
            return Some(Err(Error::ChannelTruncated { header, offset }));
        };
        self.at = offset + 4 + len;
        Some(Ok((obis, value)))
    }
}

/// An energy meter datagram, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repr {
    /// The sender's SUSy ID.
    pub susy_id: u16,
    /// The sender's serial number.
    pub serial: u32,
    /// The sender's ticker, ms.
    pub ticker_ms: u32,
    /// The channels, in order.
    pub channels: Vec<(Obis, Value)>,
}

/// What a datagram carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Energy meter data (protocol 0x6069).
    Emeter(Repr),
    /// Another Speedwire protocol (inverter traffic, the Home Manager's 0x6081 to SMA chargers,
    /// discovery): not for a meter reader, not an error.
    Other {
        /// Its protocol id.
        protocol: u16,
    },
}

impl Repr {
    /// Parses a checked datagram.
    pub fn parse<T: AsRef<[u8]>>(d: &Datagram<T>) -> Result<Message, Error> {
        d.check_len()?;
        if d.protocol() != PROTOCOL_EMETER {
            return Ok(Message::Other {
                protocol: d.protocol(),
            });
        }
        if usize::from(d.data_len()) < DATA_HEAD_LEN {
            return Err(Error::Truncated {
                need: HEADER_LEN + DATA_HEAD_LEN,
                have: HEADER_LEN + usize::from(d.data_len()),
            });
        }
        let channels = d.channels().collect::<Result<Vec<_>, _>>()?;
        Ok(Message::Emeter(Self {
            susy_id: d.susy_id(),
            serial: d.serial(),
            ticker_ms: d.ticker_ms(),
            channels,
        }))
    }

    /// Parses bytes.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Message, Error> {
        Self::parse(&Datagram::new_unchecked(bytes))
    }

    fn data_len(&self) -> usize {
        DATA_HEAD_LEN
            + self
                .channels
                .iter()
                .map(|(o, _)| 4 + o.value_len().unwrap_or(4))
                .sum::<usize>()
    }

    /// The datagram's length.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.data_len() + END_LEN
    }

    /// Writes the datagram into `buffer`, which must be [`buffer_len`](Self::buffer_len) long
    /// or longer (what follows is left alone). A channel whose header's kind does not match
    /// its value is written with the value's size; the data length must fit 16 bits.
    pub fn emit(&self, buffer: &mut [u8]) -> usize {
        let data_len = u16::try_from(self.data_len()).unwrap_or(u16::MAX);
        let mut out = Vec::with_capacity(self.buffer_len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&TAG_GROUP.to_be_bytes());
        out.extend_from_slice(&1u32.to_be_bytes());
        out.extend_from_slice(&data_len.to_be_bytes());
        out.extend_from_slice(&TAG_DATA2.to_be_bytes());
        out.extend_from_slice(&PROTOCOL_EMETER.to_be_bytes());
        out.extend_from_slice(&self.susy_id.to_be_bytes());
        out.extend_from_slice(&self.serial.to_be_bytes());
        out.extend_from_slice(&self.ticker_ms.to_be_bytes());
        for (obis, value) in &self.channels {
            out.extend_from_slice(&obis.to_u32().to_be_bytes());
            match (obis.value_len(), value) {
                (Some(8), Value::U64(v)) => out.extend_from_slice(&v.to_be_bytes()),
                (Some(8), Value::U32(v)) => out.extend_from_slice(&u64::from(*v).to_be_bytes()),
                (_, Value::U32(v)) => out.extend_from_slice(&v.to_be_bytes()),
                (_, Value::U64(v)) => {
                    out.extend_from_slice(&u32::try_from(*v).unwrap_or(u32::MAX).to_be_bytes());
                }
            }
        }
        out.extend_from_slice(&[0; END_LEN]);
        let n = out.len().min(buffer.len());
        if let (Some(dst), Some(src)) = (buffer.get_mut(..n), out.get(..n)) {
            dst.copy_from_slice(src);
        }
        n
    }

    /// The datagram as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = vec![0; self.buffer_len()];
        self.emit(&mut b);
        b
    }

    /// The value of one channel.
    pub fn get(&self, obis: Obis) -> Option<Value> {
        self.channels
            .iter()
            .find(|(o, _)| *o == obis)
            .map(|(_, v)| *v)
    }
}

/// OBIS C of the measurements, per phase: L1 = base + 20, L2 = base + 40, L3 = base + 60.
mod index {
    pub(super) const IMPORT: u8 = 1;
    pub(super) const EXPORT: u8 = 2;
    pub(super) const POWER_FACTOR: u8 = 13;
    pub(super) const FREQUENCY: u8 = 14;
    pub(super) const CURRENT: u8 = 31 - 20;
    pub(super) const VOLTAGE: u8 = 32 - 20;
    pub(super) const PHASES: [u8; 3] = [20, 40, 60];
}

/// An energy meter's values in SI units, as far as the datagram has them.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EmReading {
    /// Import power, total (P+, W, ≥ 0).
    pub import_w: Option<f64>,
    /// Export power, total (P-, W, ≥ 0).
    pub export_w: Option<f64>,
    /// Import power per phase.
    pub import_phases_w: [Option<f64>; 3],
    /// Export power per phase.
    pub export_phases_w: [Option<f64>; 3],
    /// Voltages, V.
    pub voltages_v: [Option<f64>; 3],
    /// Currents, A.
    pub currents_a: [Option<f64>; 3],
    /// Power factor.
    pub power_factor: Option<f64>,
    /// Grid frequency, Hz (EM 2.0 and the Home Manager 2.0 only).
    pub frequency_hz: Option<f64>,
    /// Imported energy, Wh.
    pub import_wh: Option<f64>,
    /// Exported energy, Wh.
    pub export_wh: Option<f64>,
}

/// Why a parsed datagram gives no reading.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadingError {
    /// The total power is missing.
    #[error("datagram of serial {serial} has no total active power (OBIS 1.4.0 / 2.4.0)")]
    NoPower {
        /// The sender.
        serial: u32,
    },
}

impl EmReading {
    /// The values of a datagram.
    pub fn from_repr(r: &Repr) -> Self {
        let actual = |i: u8, div: f64| r.get(Obis::actual(i)).map(|v| v.as_f64() / div);
        let counter = |i: u8| r.get(Obis::counter(i)).map(|v| v.as_f64() / 3600.0);
        let per_phase = |base: u8, div: f64| index::PHASES.map(|p| actual(p + base, div));
        Self {
            import_w: actual(index::IMPORT, 10.0),
            export_w: actual(index::EXPORT, 10.0),
            import_phases_w: per_phase(index::IMPORT, 10.0),
            export_phases_w: per_phase(index::EXPORT, 10.0),
            voltages_v: per_phase(index::VOLTAGE, 1000.0),
            currents_a: per_phase(index::CURRENT, 1000.0),
            power_factor: actual(index::POWER_FACTOR, 1000.0),
            frequency_hz: actual(index::FREQUENCY, 1000.0),
            import_wh: counter(index::IMPORT),
            export_wh: counter(index::EXPORT),
        }
    }

    /// The reading for the controller (import positive), or why there is none.
    pub fn measurements(&self, serial: u32) -> Result<Measurements, ReadingError> {
        let (Some(import), Some(export)) = (self.import_w, self.export_w) else {
            return Err(ReadingError::NoPower { serial });
        };
        let phases: Option<Vec<f64>> = self
            .import_phases_w
            .iter()
            .zip(&self.export_phases_w)
            .map(|(i, e)| Some((*i)? - (*e)?))
            .collect();
        let all = |a: [Option<f64>; 3]| -> Option<[f64; 3]> { Some([a[0]?, a[1]?, a[2]?]) };
        Ok(Measurements {
            power_w: import - export,
            phases_w: phases.and_then(|p| p.try_into().ok()),
            voltages_v: all(self.voltages_v),
            currents_a: all(self.currents_a),
            frequency_hz: self.frequency_hz,
            import_wh: self.import_wh,
            export_wh: self.export_wh,
        })
    }

    /// The grid reading.
    pub fn grid_reading(&self, serial: u32) -> Result<GridReading, ReadingError> {
        self.measurements(serial).map(|m| m.grid_reading())
    }
}

/// The datagram an energy meter sends for `m` (the simulated counterpart and test peers):
/// every channel an SMA EM 2.0 sends for power, voltage, current and energy, power split into
/// P+ and P- by sign.
pub fn emeter_datagram(serial: u32, ticker_ms: u32, m: &Measurements) -> Repr {
    let w = |w: f64| Value::U32(to_u32(w * 10.0));
    let plus = |w: f64| if w > 0.0 { w } else { 0.0 };
    let minus = |w: f64| if w < 0.0 { -w } else { 0.0 };
    let ws = |wh: f64| Value::U64(to_u64(wh * 3600.0));
    let mut channels = vec![
        (Obis::actual(index::IMPORT), w(plus(m.power_w))),
        (Obis::counter(index::IMPORT), ws(m.import_wh.unwrap_or(0.0))),
        (Obis::actual(index::EXPORT), w(minus(m.power_w))),
        (Obis::counter(index::EXPORT), ws(m.export_wh.unwrap_or(0.0))),
    ];
    if let Some(f) = m.frequency_hz {
        channels.push((
            Obis::actual(index::FREQUENCY),
            Value::U32(to_u32(f * 1000.0)),
        ));
    }
    for (p, base) in index::PHASES.iter().enumerate() {
        if let Some(ph) = m.phases_w {
            channels.push((Obis::actual(base + index::IMPORT), w(plus(ph[p]))));
            channels.push((Obis::actual(base + index::EXPORT), w(minus(ph[p]))));
        }
        if let Some(i) = m.currents_a {
            channels.push((
                Obis::actual(base + index::CURRENT),
                Value::U32(to_u32(i[p] * 1000.0)),
            ));
        }
        if let Some(u) = m.voltages_v {
            channels.push((
                Obis::actual(base + index::VOLTAGE),
                Value::U32(to_u32(u[p] * 1000.0)),
            ));
        }
    }
    channels.push((Obis::VERSION, Value::U32(0x0200_1252)));
    Repr {
        susy_id: 349,
        serial,
        ticker_ms,
        channels,
    }
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn to_u32(v: f64) -> u32 {
    v.round().clamp(0.0, f64::from(u32::MAX)) as u32
}

#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]
fn to_u64(v: f64) -> u64 {
    v.round().clamp(0.0, u64::MAX as f64) as u64
}

impl Measurements {
    /// The controller's reading.
    pub fn grid_reading(&self) -> GridReading {
        GridReading {
            power_w: Watts(self.power_w),
            phases_w: self.phases_w.map(|p| p.map(Watts)),
            import_wh: self.import_wh.map(WattHours),
            export_wh: self.export_wh.map(WattHours),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Measurements {
        Measurements {
            power_w: -1234.5,
            phases_w: Some([-400.0, -434.5, -400.0]),
            voltages_v: Some([230.5, 229.25, 231.75]),
            currents_a: Some([1.75, 1.875, 1.75]),
            frequency_hz: Some(50.012),
            import_wh: Some(4_321_500.0),
            export_wh: Some(1_234_250.0),
        }
    }

    #[test]
    fn a_datagram_round_trips_and_reads_back_its_values() {
        let repr = emeter_datagram(3_001_234_567, 42, &sample());
        let bytes = repr.to_bytes();
        assert_eq!(bytes.len(), repr.buffer_len());
        assert_eq!(&bytes[..4], b"SMA\0");
        let Message::Emeter(back) = Repr::parse_bytes(&bytes).unwrap() else {
            panic!("not a meter datagram")
        };
        assert_eq!(back, repr);
        let m = EmReading::from_repr(&back)
            .measurements(back.serial)
            .unwrap();
        assert_eq!(m, sample());
    }

    /// A datagram written byte by byte from the protocol description (not by `emit`), so that
    /// the decoder's offsets are checked against the layout rather than against themselves.
    #[test]
    fn a_datagram_written_from_the_layout_decodes() {
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0x53, 0x4D, 0x41, 0x00,                         // "SMA\0"
            0x00, 0x04, 0x02, 0xA0, 0x00, 0x00, 0x00, 0x01, // tag 0x02A0, length 4: group 1
            0x00, 0x44, 0x00, 0x10,                         // data2 (0x0010), 68 bytes
            0x60, 0x69,                                     // protocol: energy meter
            0x01, 0x5D,                                     // SUSy ID 349 (EM 2.0)
            0xB2, 0xE3, 0xE2, 0x87,                         // serial 3001279111
            0x00, 0x00, 0x03, 0xE8,                         // ticker 1000 ms
            0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x30, 0x39, // 1.4.0 P+ 12345 × 0.1 W
            0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x36, 0xEE, 0x80, // 1.8.0 3600000 Ws
            0x00, 0x02, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, // 2.4.0 P- 0
            0x00, 0x02, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0E, 0x10, // 2.8.0 3600 Ws
            0x00, 0x20, 0x04, 0x00, 0x00, 0x03, 0x84, 0x6A, // 32.4.0 U L1 230506 mV
            0x90, 0x00, 0x00, 0x00, 0x02, 0x00, 0x12, 0x52, // software version 2.0.18.R
            0x00, 0x00, 0x00, 0x00,                         // end
        ];
        let d = Datagram::new_checked(bytes).unwrap();
        assert_eq!(
            (d.group(), d.protocol(), d.susy_id()),
            (1, PROTOCOL_EMETER, 349)
        );
        assert_eq!((d.serial(), d.ticker_ms()), (3_001_279_111, 1000));
        let Message::Emeter(r) = Repr::parse(&d).unwrap() else {
            panic!("not a meter datagram")
        };
        assert_eq!(r.channels.len(), 6);
        assert_eq!(r.to_bytes(), bytes, "emit writes the same layout");
        let e = EmReading::from_repr(&r);
        assert_eq!((e.import_w, e.export_w), (Some(1234.5), Some(0.0)));
        assert_eq!((e.import_wh, e.export_wh), (Some(1000.0), Some(1.0)));
        assert_eq!(e.voltages_v, [Some(230.506), None, None]);
        let m = e.measurements(r.serial).unwrap();
        assert_eq!((m.power_w, m.phases_w, m.voltages_v), (1234.5, None, None));
    }

    #[test]
    fn garbage_is_an_error_with_its_reason() {
        let good = emeter_datagram(1, 2, &sample()).to_bytes();
        assert_eq!(Repr::parse_bytes(b"HTTP/1.1"), Err(Error::NotSma));
        assert!(matches!(
            Repr::parse_bytes(&good[..20]),
            Err(Error::Truncated { .. })
        ));
        let mut bad = good.clone();
        bad[7] = 0xA1;
        assert_eq!(
            Repr::parse_bytes(&bad),
            Err(Error::Tag {
                tag: 0x02A1,
                offset: 6
            })
        );
        let mut bad = good.clone();
        bad[28 + 2] = 7; // the first channel's kind
        assert!(matches!(
            Repr::parse_bytes(&bad),
            Err(Error::UnknownKind { kind: 7, .. })
        ));
        // Data length one byte short of the last channel's value.
        let mut bad = good.clone();
        let len = u16::from_be_bytes([bad[12], bad[13]]) - 1;
        bad[12..14].copy_from_slice(&len.to_be_bytes());
        assert!(matches!(
            Repr::parse_bytes(&bad),
            Err(Error::ChannelTruncated { .. })
        ));
        let mut other = good;
        other[16..18].copy_from_slice(&0x6081u16.to_be_bytes());
        assert_eq!(
            Repr::parse_bytes(&other),
            Ok(Message::Other { protocol: 0x6081 })
        );
        let no_power = Repr {
            susy_id: 1,
            serial: 7,
            ticker_ms: 0,
            channels: vec![(Obis::actual(32), Value::U32(230_000))],
        };
        assert_eq!(
            EmReading::from_repr(&no_power).grid_reading(7),
            Err(ReadingError::NoPower { serial: 7 })
        );
    }
}
