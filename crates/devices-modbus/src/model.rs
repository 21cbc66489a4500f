//! Register maps as data: a device model is a table of (register, type, scale, unit, field),
//! read from `models/*.toml`, so a new meter is a new table plus a test. The decoder here is
//! sans-IO: words in, values out. A meter's rows fill [`MeterValues`] ([`Field`]); a commanded
//! device's rows fill its [`DeviceValues`](crate::DeviceValues)
//! ([`DeviceField`](crate::device::DeviceField)): any [`Quantity`].

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::DeserializeOwned;

/// What a table's `field` names: where a decoded value goes.
pub trait Quantity: Copy + fmt::Display + DeserializeOwned {
    /// What one reading fills.
    type Values: Default;

    /// Stores `value` (SI units, scaled) as this quantity.
    fn put(self, values: &mut Self::Values, value: f64);
}

impl Quantity for Field {
    type Values = MeterValues;

    fn put(self, values: &mut MeterValues, value: f64) {
        values.set(self, value);
    }
}

/// The quantities a meter table can map a register to. The name in the table is the
/// snake_case variant name (`voltage_l1`, `import_kwh`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Field {
    VoltageL1,
    VoltageL2,
    VoltageL3,
    VoltageLnAvg,
    VoltageL12,
    VoltageL23,
    VoltageL31,
    VoltageLlAvg,
    CurrentL1,
    CurrentL2,
    CurrentL3,
    /// Total active power, W, positive = import.
    Power,
    PowerL1,
    PowerL2,
    PowerL3,
    Reactive,
    ReactiveL1,
    ReactiveL2,
    ReactiveL3,
    Apparent,
    ApparentL1,
    ApparentL2,
    ApparentL3,
    PowerFactor,
    PowerFactorL1,
    PowerFactorL2,
    PowerFactorL3,
    Frequency,
    /// Active power demand (the DTSU666-H's 2158..2164).
    Demand,
    DemandL1,
    DemandL2,
    DemandL3,
    ImportKwh,
    ImportKwhL1,
    ImportKwhL2,
    ImportKwhL3,
    ExportKwh,
    ExportKwhL1,
    ExportKwhL2,
    ExportKwhL3,
}

impl Field {
    /// Number of fields.
    pub const COUNT: usize = Self::ExportKwhL3 as usize + 1;
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// What one reading of a meter gave, in SI units (kWh for energies). `None`: not in the table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeterValues([Option<f64>; Field::COUNT]);

impl Default for MeterValues {
    fn default() -> Self {
        Self([None; Field::COUNT])
    }
}

impl MeterValues {
    /// The value of `field`.
    pub fn get(&self, field: Field) -> Option<f64> {
        self.0[field as usize]
    }

    /// Sets `field`.
    pub fn set(&mut self, field: Field, value: f64) {
        self.0[field as usize] = Some(value);
    }

    /// Forgets `field`.
    pub fn clear(&mut self, field: Field) {
        self.0[field as usize] = None;
    }

    /// The grid reading the controller uses, if the total (or every phase's) power is known.
    pub fn grid_reading(&self) -> Option<devices::GridReading> {
        use Field::*;
        let phases = match (self.get(PowerL1), self.get(PowerL2), self.get(PowerL3)) {
            (Some(a), Some(b), Some(c)) => Some([a, b, c]),
            _ => None,
        };
        let power = self.get(Power).or(phases.map(|p| p.iter().sum()))?;
        Some(devices::GridReading {
            power_w: units::Watts(power),
            phases_w: phases.map(|p| p.map(units::Watts)),
            import_wh: self.get(ImportKwh).map(|e| units::WattHours(e * 1000.0)),
            export_wh: self.get(ExportKwh).map(|e| units::WattHours(e * 1000.0)),
        })
    }
}

/// Which register table a model uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    /// Input registers: read with FC04.
    Input,
    /// Holding registers: read with FC03.
    Holding,
}

/// How a value is laid out in registers (big-endian words, high word first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    /// IEEE-754 binary32, two registers.
    F32,
    /// Unsigned 16 bit.
    U16,
    /// Signed 16 bit.
    I16,
    /// Unsigned 32 bit, two registers.
    U32,
    /// Signed 32 bit, two registers.
    I32,
}

impl ValueType {
    /// Registers it takes.
    pub fn words(self) -> u16 {
        match self {
            Self::U16 | Self::I16 => 1,
            Self::F32 | Self::U32 | Self::I32 => 2,
        }
    }

    /// The raw value of `words` (exactly [`words`](Self::words) long).
    pub fn decode(self, words: &[u16]) -> f64 {
        let w32 = || {
            let hi = u32::from(words.first().copied().unwrap_or(0));
            let lo = u32::from(words.get(1).copied().unwrap_or(0));
            (hi << 16) | lo
        };
        let w16 = words.first().copied().unwrap_or(0);
        match self {
            Self::F32 => f64::from(f32::from_bits(w32())),
            Self::U16 => f64::from(w16),
            Self::I16 => f64::from(w16.cast_signed()),
            Self::U32 => f64::from(w32()),
            Self::I32 => f64::from(w32().cast_signed()),
        }
    }

    /// The registers of `value` (rounded and saturated for integers).
    pub fn encode(self, value: f64) -> [u16; 2] {
        let split = |v: u32| [(v >> 16) as u16, v as u16];
        match self {
            Self::F32 => split((value as f32).to_bits()),
            Self::U16 => [value.round() as u16, 0],
            Self::I16 => [(value.round() as i16).cast_unsigned(), 0],
            Self::U32 => split(value.round() as u32),
            Self::I32 => split((value.round() as i32).cast_unsigned()),
        }
    }
}

fn one() -> f64 {
    1.0
}

/// One row of a table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Register<F = Field> {
    /// Protocol address (0-based, as on the wire).
    pub addr: u16,
    /// Layout.
    #[serde(rename = "type")]
    pub ty: ValueType,
    /// SI value = raw × scale (a negative scale flips a meter that counts export positive).
    #[serde(default = "one")]
    pub scale: f64,
    /// The SI unit after scaling, for people reading the table.
    pub unit: String,
    /// What it is.
    pub field: F,
    /// The plausible values `[min, max]` after scaling: a reading outside is garbage (a state
    /// of charge of 6553.5 %), reported instead of used.
    pub range: Option<[f64; 2]>,
}

/// A fixed register a server answers with (the DTSU666-H's 2001, 2214..2223).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Constant {
    /// Protocol address.
    pub addr: u16,
    /// A number, or `"unit"`: the configured unit address.
    pub value: ConstantValue,
    /// What it means.
    #[serde(default)]
    pub note: String,
}

/// A constant's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ConstantValue {
    /// This word.
    Word(u16),
    /// The configured unit address.
    Unit(UnitKeyword),
}

/// The keyword `"unit"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKeyword {
    /// The configured unit address.
    Unit,
}

/// A device model: its register table. See `models/*.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model<F = Field> {
    /// The type name in the configuration (`sdm630`).
    pub name: String,
    /// What device it is.
    pub description: String,
    /// Input or holding registers.
    pub table: Table,
    /// The most registers the device answers in one request.
    pub max_read: u16,
    /// Its factory unit address.
    pub default_unit: u8,
    /// The values.
    pub registers: Vec<Register<F>>,
    /// Fixed registers (servers only).
    #[serde(default)]
    pub constants: Vec<Constant>,
}

/// A table that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Not valid TOML for a model.
    #[error("model {name}: {message}")]
    Syntax {
        /// The model file's name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// Overlapping registers, a read block too long, a bad scale.
    #[error("model {name}: {message}")]
    Invalid {
        /// The model's name.
        name: String,
        /// What is wrong.
        message: String,
    },
}

/// A reading that cannot be used. Names the register and what was wrong with it: the device is
/// at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// The device answered fewer registers than asked for.
    #[error("asked for {asked} registers at {addr}, got {got}")]
    Short {
        /// The block's first address.
        addr: u16,
        /// Registers asked for.
        asked: u16,
        /// Registers received.
        got: usize,
    },
    /// A float register holds NaN or infinity.
    #[error("register {addr} ({field}) is not a number: {raw:?}")]
    NotFinite {
        /// The register.
        addr: u16,
        /// Its field.
        field: String,
        /// Its value.
        raw: f64,
    },
    /// A value outside its row's `range`.
    #[error("register {addr} ({field}) reads {value} {unit}, outside {min}..={max}")]
    OutOfRange {
        /// The register.
        addr: u16,
        /// Its field.
        field: String,
        /// Its value, scaled.
        value: f64,
        /// Its unit.
        unit: String,
        /// The least plausible value.
        min: f64,
        /// The greatest plausible value.
        max: f64,
    },
}

/// `raw` × `scale`, dividing by the gain where the scale is its inverse (0.1 = 1/10), so that
/// 1001 × 0.1 is exactly 100.1 and not 100.10000000000001.
fn scale(raw: f64, scale: f64) -> f64 {
    let gain = 1.0 / scale;
    if scale.abs() < 1.0 && gain == gain.round() {
        raw / gain
    } else {
        raw * scale
    }
}

/// One read request: `count` registers from `addr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Read {
    /// First address.
    pub addr: u16,
    /// Number of registers.
    pub count: u16,
}

/// The built-in models, by configuration type name.
pub const BUILTIN: &[(&str, &str)] = &[
    ("sdm630", include_str!("../models/sdm630.toml")),
    ("sdm72", include_str!("../models/sdm72.toml")),
    ("dtsu666", include_str!("../models/dtsu666.toml")),
    ("dtsu666-h", include_str!("../models/dtsu666-h.toml")),
];

impl Model<Field> {
    /// A built-in model by name.
    pub fn builtin(name: &str) -> Result<Self, ModelError> {
        let (_, src) =
            BUILTIN
                .iter()
                .find(|(n, _)| *n == name)
                .ok_or_else(|| ModelError::Syntax {
                    name: name.to_owned(),
                    message: "no such built-in model".into(),
                })?;
        Self::parse(name, src)
    }
}

impl<F: Quantity> Model<F> {
    /// Parses and checks a table.
    pub fn parse(name: &str, src: &str) -> Result<Self, ModelError> {
        let model: Self = toml::from_str(src).map_err(|e| ModelError::Syntax {
            name: name.to_owned(),
            message: e.to_string(),
        })?;
        model.check()?;
        Ok(model)
    }

    /// Checks a table: registers do not overlap, reads fit the device, scales and ranges are
    /// usable.
    pub fn check(&self) -> Result<(), ModelError> {
        let invalid = |message: String| ModelError::Invalid {
            name: self.name.clone(),
            message,
        };
        if self.max_read == 0 || self.max_read > 125 {
            return Err(invalid("max_read must be 1..=125 (Modbus limit)".into()));
        }
        let mut used = BTreeMap::new();
        let words = self
            .registers
            .iter()
            .map(|r| (r.addr, r.ty.words(), r.field.to_string()))
            .chain(self.constants.iter().map(|c| (c.addr, 1, c.note.clone())));
        for (addr, n, what) in words {
            for a in 0..n {
                let a = addr
                    .checked_add(a)
                    .ok_or_else(|| invalid(format!("{what} at {addr} runs past 65535")))?;
                if let Some(other) = used.insert(a, what.clone()) {
                    return Err(invalid(format!("register {a} is both {other} and {what}")));
                }
            }
        }
        for r in &self.registers {
            if !(r.scale.is_finite() && r.scale != 0.0) {
                return Err(invalid(format!(
                    "{}: scale must be finite and not 0",
                    r.field
                )));
            }
            if let Some([min, max]) = r.range
                && !(min.is_finite() && max.is_finite() && min <= max)
            {
                return Err(invalid(format!(
                    "{}: range must be [min, max] with finite min ≤ max",
                    r.field
                )));
            }
        }
        Ok(())
    }

    /// The read requests that cover every register: neighbours are merged (with the gaps
    /// between them) while the request stays within `max_read`.
    pub fn reads(&self) -> Vec<Read> {
        let mut spans: Vec<(u16, u16)> = self
            .registers
            .iter()
            .map(|r| (r.addr, r.addr + r.ty.words()))
            .collect();
        spans.sort_unstable();
        let mut reads: Vec<Read> = Vec::new();
        for (start, end) in spans {
            match reads.last_mut() {
                Some(last) if u32::from(end) - u32::from(last.addr) <= u32::from(self.max_read) => {
                    last.count = last.count.max(end - last.addr);
                }
                _ => reads.push(Read {
                    addr: start,
                    count: end - start,
                }),
            }
        }
        reads
    }

    /// Decodes the answers to [`reads`](Self::reads) (`blocks[i]` answers `reads[i]`).
    pub fn decode(&self, reads: &[Read], blocks: &[Vec<u16>]) -> Result<F::Values, DecodeError> {
        for (r, b) in reads.iter().zip(blocks) {
            if b.len() < usize::from(r.count) {
                return Err(DecodeError::Short {
                    addr: r.addr,
                    asked: r.count,
                    got: b.len(),
                });
            }
        }
        let mut values = F::Values::default();
        for reg in &self.registers {
            let Some((read, block)) = reads
                .iter()
                .zip(blocks)
                .find(|(r, _)| reg.addr >= r.addr && reg.addr + reg.ty.words() <= r.addr + r.count)
            else {
                continue;
            };
            let at = usize::from(reg.addr - read.addr);
            let words = block
                .get(at..at + usize::from(reg.ty.words()))
                .unwrap_or(&[]);
            let raw = reg.ty.decode(words);
            if !raw.is_finite() {
                return Err(DecodeError::NotFinite {
                    addr: reg.addr,
                    field: reg.field.to_string(),
                    raw,
                });
            }
            let value = scale(raw, reg.scale);
            if let Some([min, max]) = reg.range
                && !(min..=max).contains(&value)
            {
                return Err(DecodeError::OutOfRange {
                    addr: reg.addr,
                    field: reg.field.to_string(),
                    value,
                    unit: reg.unit.clone(),
                    min,
                    max,
                });
            }
            reg.field.put(&mut values, value);
        }
        Ok(values)
    }
}

impl Model<Field> {
    /// The register image of `values` as this table lays them out, plus the constants (`unit`
    /// filling `"unit"`): what a server answers. Fields without a value are left out.
    pub fn image(&self, values: &MeterValues, unit: u8) -> BTreeMap<u16, u16> {
        let mut image = BTreeMap::new();
        for c in &self.constants {
            let v = match c.value {
                ConstantValue::Word(w) => w,
                ConstantValue::Unit(_) => u16::from(unit),
            };
            image.insert(c.addr, v);
        }
        for reg in &self.registers {
            if let Some(v) = values.get(reg.field) {
                let words = reg.ty.encode(v / reg.scale);
                for (i, w) in words.iter().take(usize::from(reg.ty.words())).enumerate() {
                    image.insert(reg.addr + i as u16, *w);
                }
            }
        }
        image
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_tables_load_and_read_in_few_requests() {
        for (name, _) in BUILTIN {
            let m = Model::builtin(name).unwrap();
            assert_eq!(&m.name, name);
            for r in m.reads() {
                assert!(r.count <= m.max_read, "{name}: {r:?}");
            }
        }
        let sdm = Model::builtin("sdm630").unwrap();
        assert_eq!(
            sdm.reads(),
            [
                Read {
                    addr: 0,
                    count: 0x4C
                },
                Read {
                    addr: 0x15A,
                    count: 12
                }
            ]
        );
        let h = Model::builtin("dtsu666-h").unwrap();
        assert_eq!(
            h.reads(),
            [Read {
                addr: 2102,
                count: 80
            }]
        );
    }

    #[test]
    fn decode_scales_and_refuses_nan_and_short_answers() {
        let m = Model::builtin("dtsu666").unwrap();
        let reads = m.reads();
        let mut blocks: Vec<Vec<u16>> = reads.iter().map(|r| vec![0; r.count.into()]).collect();
        // 0x2012 power total, raw 12345.0 × 0.1 W; 0x2006 U L1 2301 × 0.1 V.
        let i = reads.iter().position(|r| r.addr == 0x2000).unwrap();
        let p = ValueType::F32.encode(12345.0);
        blocks[i][0x12..0x14].copy_from_slice(&p);
        blocks[i][0x06..0x08].copy_from_slice(&ValueType::F32.encode(2301.0));
        let v = m.decode(&reads, &blocks).unwrap();
        assert!((v.get(Field::Power).unwrap() - 1234.5).abs() < 1e-9);
        assert!((v.get(Field::VoltageL1).unwrap() - 230.1).abs() < 1e-9);
        assert_eq!(
            v.grid_reading().unwrap().power_w.0,
            v.get(Field::Power).unwrap()
        );

        blocks[i][0x12..0x14].copy_from_slice(&[0x7FC0, 0]);
        let e = m.decode(&reads, &blocks).unwrap_err();
        assert!(
            matches!(
                e,
                DecodeError::NotFinite {
                    addr: 0x2012,
                    ref field,
                    ..
                } if field == "Power"
            ),
            "{e}"
        );
        blocks[i].truncate(3);
        assert_eq!(
            m.decode(&reads, &blocks).unwrap_err().to_string(),
            format!("asked for {} registers at 8192, got 3", reads[i].count)
        );
    }

    #[test]
    fn value_types_round_trip() {
        for (ty, v) in [
            (ValueType::F32, -1234.5),
            (ValueType::U16, 65535.0),
            (ValueType::I16, -2.0),
            (ValueType::U32, 4_000_000_000.0),
            (ValueType::I32, -70_000.0),
        ] {
            let w = ty.encode(v);
            assert_eq!(ty.decode(&w[..usize::from(ty.words())]), v, "{ty:?}");
        }
        assert_eq!(ValueType::F32.encode(1.0), [0x3F80, 0]);
    }

    #[test]
    fn bad_tables_are_refused() {
        let src = "name = \"x\"\ndescription = \"\"\ntable = \"input\"\nmax_read = 10\ndefault_unit = 1\nregisters = [\n{ addr = 0, type = \"f32\", unit = \"V\", field = \"voltage_l1\" },\n{ addr = 1, type = \"f32\", unit = \"V\", field = \"voltage_l2\" }]\n";
        let e = Model::<Field>::parse("x", src).unwrap_err().to_string();
        assert_eq!(e, "model x: register 1 is both VoltageL1 and VoltageL2");
        let e = Model::<Field>::parse("x", "name = 1")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("model x:"), "{e}");
    }
}
