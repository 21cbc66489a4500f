//! SunSpec devices, sans-IO: discovery (the "SunS" marker at 0, 40000 or 50000, then the chain
//! of model headers ID + L until ID 0xFFFF), the models gridlet uses as data (`models/sunspec.toml`:
//! inverters 101–103, meters 201–204, immediate controls 123, storage 124, DER AC controls 704),
//! point decoding with scale factors and not-implemented values, and the writes of a feed-in
//! limit (704 `WMaxLimPct`, else 123 `WMaxLimPct`, always with a revert timeout) and of a storage
//! set-point (124 `InWRte`/`OutWRte`).

use std::sync::OnceLock;
use std::time::Duration;

use devices::ConverterCommand;
use serde::Deserialize;

use crate::device::{Block, DeviceValues, Protocol, Setpoints, Write};
use crate::model::{Field, MeterValues, Table};

/// "SunS", the marker of a SunSpec register map (registers 40000–40001 usually).
pub const MARKER: [u16; 2] = [0x5375, 0x6E53];
/// Where the marker may be, in the order tried.
pub const BASES: [u16; 3] = [40000, 0, 50000];
/// The ID that ends the model chain.
pub const END: u16 = 0xFFFF;
/// A model chain longer than this is garbage (real devices have a handful).
const MAX_MODELS: usize = 64;
/// The most registers one read asks for (Modbus allows 125).
const MAX_READ: u16 = 125;

/// A point's layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PointType {
    /// Unsigned 16 bit; not implemented = 0xFFFF.
    Uint16,
    /// Signed 16 bit; not implemented = 0x8000.
    Int16,
    /// Enumeration; not implemented = 0xFFFF.
    Enum16,
    /// Bit field; not implemented = 0xFFFF.
    Bitfield16,
    /// Accumulator, two registers; not implemented = 0.
    Acc32,
    /// Unsigned 32 bit; not implemented = 0xFFFFFFFF.
    Uint32,
    /// Scale factor: the point's value × 10^sf; not implemented = 0x8000.
    Sunssf,
}

impl PointType {
    fn words(self) -> usize {
        match self {
            Self::Acc32 | Self::Uint32 => 2,
            _ => 1,
        }
    }

    /// The raw value of `w`, or `None` if it is the type's "not implemented" value.
    fn raw(self, w: &[u16]) -> Option<f64> {
        let w32 = || (u32::from(w[0]) << 16) | u32::from(w[1]);
        match self {
            Self::Uint16 | Self::Enum16 | Self::Bitfield16 => {
                (w[0] != 0xFFFF).then(|| f64::from(w[0]))
            }
            Self::Int16 | Self::Sunssf => (w[0] != 0x8000).then(|| f64::from(w[0].cast_signed())),
            Self::Acc32 => (w32() != 0).then(|| f64::from(w32())),
            Self::Uint32 => (w32() != u32::MAX).then(|| f64::from(w32())),
        }
    }
}

/// One point of a model table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Point {
    /// Its SunSpec name.
    pub name: String,
    /// Registers from the model's ID register.
    pub offset: u16,
    /// Layout.
    #[serde(rename = "type")]
    pub ty: PointType,
    /// The name of its scale factor point.
    pub sf: Option<String>,
    /// The meter field it fills (meters).
    pub field: Option<Field>,
    /// Further factor after the scale factor (Wh → kWh).
    #[serde(default = "one")]
    pub scale: f64,
}

fn one() -> f64 {
    1.0
}

/// What gridlet does with a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelRole {
    /// 101–103: AC output, DC input, energy.
    Inverter,
    /// 201–204: the grid meter.
    Meter,
    /// 123: WMaxLimPct, Conn.
    ImmediateControls,
    /// 124: battery charge/discharge rates.
    Storage,
    /// 704: WMaxLimPct (IEEE 1547).
    DerControls,
}

/// The table of one family of models.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelDef {
    /// The model IDs sharing this layout.
    pub ids: Vec<u16>,
    /// What it is for.
    pub role: ModelRole,
    /// The points used.
    pub points: Vec<Point>,
}

impl ModelDef {
    fn point(&self, name: &str) -> Option<&Point> {
        self.points.iter().find(|p| p.name == name)
    }

    /// Registers to read from the model's ID register to cover every point.
    fn span(&self) -> u16 {
        self.points
            .iter()
            .map(|p| p.offset + p.ty.words() as u16)
            .max()
            .unwrap_or(2)
    }

    /// The value of point `name` in `block` (read from the model's ID register), scaled;
    /// `Ok(None)` if the point or its scale factor is not implemented.
    pub fn value(&self, block: &[u16], name: &str) -> Result<Option<f64>, String> {
        let Some(p) = self.point(name) else {
            return Err(format!("model table has no point {name} (a bug of ours)"));
        };
        let Some(raw) = self.raw(block, p)? else {
            return Ok(None);
        };
        let Some(sf) = &p.sf else {
            return Ok(Some(raw * p.scale));
        };
        let Some(sf) = self.scale_factor(block, sf)? else {
            return Ok(None);
        };
        Ok(Some(scaled(raw, sf) * p.scale))
    }

    /// The scale factor point `name`: −10..=10, `None` if not implemented.
    pub fn scale_factor(&self, block: &[u16], name: &str) -> Result<Option<i32>, String> {
        let p = self
            .point(name)
            .ok_or_else(|| format!("model table has no point {name} (a bug of ours)"))?;
        match self.raw(block, p)? {
            None => Ok(None),
            Some(sf) if (-10.0..=10.0).contains(&sf) => Ok(Some(sf as i32)),
            Some(sf) => Err(format!("scale factor {name} = {sf} is out of −10..=10")),
        }
    }

    fn raw(&self, block: &[u16], p: &Point) -> Result<Option<f64>, String> {
        let at = usize::from(p.offset);
        let w = block
            .get(at..at + p.ty.words())
            .ok_or_else(|| format!("point {} at offset {} is outside the block", p.name, at))?;
        Ok(p.ty.raw(w))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Tables {
    model: Vec<ModelDef>,
}

/// The built-in model tables (`models/sunspec.toml`).
pub fn tables() -> &'static [ModelDef] {
    static TABLES: OnceLock<Vec<ModelDef>> = OnceLock::new();
    TABLES.get_or_init(|| {
        // The file is part of the crate and tested: a parse error is a bug of ours.
        #[allow(clippy::expect_used)]
        let t: Tables = toml::from_str(include_str!("../models/sunspec.toml"))
            .expect("models/sunspec.toml is valid");
        t.model
    })
}

/// The table of model `id`, if gridlet uses it.
pub fn def(id: u16) -> Option<&'static ModelDef> {
    tables().iter().find(|d| d.ids.contains(&id))
}

/// `raw` × 10^`sf`, dividing for negative factors so that 2293 × 10^−1 is exactly 229.3.
fn scaled(raw: f64, sf: i32) -> f64 {
    if sf < 0 {
        raw / 10f64.powi(-sf)
    } else {
        raw * 10f64.powi(sf)
    }
}

/// A model found by discovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelAt {
    /// Its ID.
    pub id: u16,
    /// The address of its ID register.
    pub addr: u16,
    /// Its length L (registers after the header).
    pub len: u16,
}

/// Discovery, sans-IO: [`next`](Self::next) says what to read, [`handle`](Self::handle) takes
/// the answer (words, or `None` for an exception).
#[derive(Debug, Clone)]
pub struct Discovery {
    bases: Vec<u16>,
    state: DiscoveryState,
    models: Vec<ModelAt>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum DiscoveryState {
    /// Looking for the marker at `bases[i]`.
    Marker(usize),
    /// Reading the header at this address.
    Header(u16),
    /// Done.
    Done,
}

impl Discovery {
    /// Looks at `base` only, or at 40000, 0 and 50000.
    pub fn new(base: Option<u16>) -> Self {
        Self {
            bases: base.map_or_else(|| BASES.to_vec(), |b| vec![b]),
            state: DiscoveryState::Marker(0),
            models: Vec::new(),
        }
    }

    /// The next read (address, count), `None` once the chain is walked.
    pub fn next(&self) -> Option<(u16, u16)> {
        match self.state {
            DiscoveryState::Marker(i) => Some((self.bases[i], 2)),
            DiscoveryState::Header(a) => Some((a, 2)),
            DiscoveryState::Done => None,
        }
    }

    /// The answer to [`next`](Self::next): its words, or `None` if the device refused (an
    /// exception). An error says why the device is not usable.
    pub fn handle(&mut self, answer: Option<&[u16]>) -> Result<(), String> {
        match self.state {
            DiscoveryState::Marker(i) => {
                if answer.is_some_and(|w| w.get(..2) == Some(&MARKER[..])) {
                    self.state = DiscoveryState::Header(self.bases[i] + 2);
                } else if i + 1 < self.bases.len() {
                    self.state = DiscoveryState::Marker(i + 1);
                } else {
                    let bases: Vec<String> = self.bases.iter().map(u16::to_string).collect();
                    return Err(format!(
                        "no SunSpec marker \"SunS\" at register {}",
                        bases.join(", ")
                    ));
                }
            }
            DiscoveryState::Header(addr) => {
                let Some(&[id, len]) = answer.and_then(|w| w.get(..2)) else {
                    return Err(format!("no model header at register {addr}"));
                };
                if id == END {
                    self.state = DiscoveryState::Done;
                    return Ok(());
                }
                if self.models.len() >= MAX_MODELS {
                    return Err(format!("more than {MAX_MODELS} models: no end marker"));
                }
                self.models.push(ModelAt { id, addr, len });
                let next = u32::from(addr) + 2 + u32::from(len);
                self.state = DiscoveryState::Header(u16::try_from(next).map_err(|_| {
                    format!("model {id} at {addr} with length {len} runs past register 65535")
                })?);
            }
            DiscoveryState::Done => {}
        }
        Ok(())
    }

    /// The models found, once done.
    pub fn models(&self) -> Option<&[ModelAt]> {
        (self.state == DiscoveryState::Done).then_some(&self.models[..])
    }
}

/// What a SunSpec device is used as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SunSpecRole {
    /// The grid meter (201–204).
    Meter,
    /// A PV inverter (101–103) with a feed-in limit (704, else 123).
    Inverter,
    /// A battery inverter (124) as the converter.
    Storage,
}

/// The models one role uses, found.
#[derive(Debug, Clone, Copy)]
struct Layout {
    main: (ModelAt, &'static ModelDef),
    control: Option<(ModelAt, &'static ModelDef)>,
}

/// A SunSpec device as a [`Protocol`].
#[derive(Debug)]
pub struct SunSpec {
    role: SunSpecRole,
    base: Option<u16>,
    discovery: Discovery,
    layout: Option<Layout>,
    /// Nameplate AC power (inverter) for the percentage of a limit in W.
    rated_w: f64,
    /// The revert timeout written with every set-point.
    revert: Duration,
    /// From the newest control block: its scale factor and, for storage, WChaMax.
    control_sf: Option<i32>,
    cha_max_w: Option<f64>,
}

impl SunSpec {
    /// A device used as `role`; `base` fixes the marker's address.
    pub fn new(role: SunSpecRole, base: Option<u16>, rated_w: f64, revert: Duration) -> Self {
        Self {
            role,
            base,
            discovery: Discovery::new(base),
            layout: None,
            rated_w,
            revert,
            control_sf: None,
            cha_max_w: None,
        }
    }

    fn pick(&self, models: &[ModelAt]) -> Result<Layout, String> {
        let find = |role: ModelRole| {
            models
                .iter()
                .find_map(|m| def(m.id).filter(|d| d.role == role).map(|d| (*m, d)))
        };
        let ids: Vec<String> = models.iter().map(|m| m.id.to_string()).collect();
        let missing = |what: &str| format!("no {what} among models [{}]", ids.join(", "));
        let layout = match self.role {
            SunSpecRole::Meter => Layout {
                main: find(ModelRole::Meter).ok_or_else(|| missing("meter model 201–204"))?,
                control: None,
            },
            SunSpecRole::Inverter => Layout {
                main: find(ModelRole::Inverter).ok_or_else(|| missing("inverter model 101–103"))?,
                control: Some(
                    find(ModelRole::DerControls)
                        .or_else(|| find(ModelRole::ImmediateControls))
                        .ok_or_else(|| missing("control model 704 or 123"))?,
                ),
            },
            SunSpecRole::Storage => Layout {
                main: find(ModelRole::Storage).ok_or_else(|| missing("storage model 124"))?,
                control: None,
            },
        };
        for (m, d) in std::iter::once(layout.main).chain(layout.control) {
            if d.span() > m.len + 2 {
                return Err(format!(
                    "model {} at {} is {} registers long, too short for its points",
                    m.id, m.addr, m.len
                ));
            }
        }
        Ok(layout)
    }

    fn block((m, d): (ModelAt, &ModelDef)) -> Block {
        Block {
            table: Table::Holding,
            addr: m.addr,
            count: d.span().min(m.len + 2).min(MAX_READ),
        }
    }

    fn percent_raw(&self, pct: f64) -> Result<u16, String> {
        let sf = self
            .control_sf
            .ok_or("the control model's scale factor is not implemented")?;
        Ok((pct / 10f64.powi(sf)).round().clamp(0.0, 65534.0) as u16)
    }

    fn limit_writes(
        &self,
        control: (ModelAt, &ModelDef),
        limit: Option<f64>,
    ) -> Result<Vec<Write>, String> {
        let (m, d) = control;
        let revert = self.revert.as_secs().clamp(1, 65_535) as u16;
        let pct = limit.map(|w| {
            if self.rated_w > 0.0 {
                (w / self.rated_w * 100.0).clamp(0.0, 100.0)
            } else {
                0.0
            }
        });
        Ok(match (d.role, pct) {
            // 123: WMaxLimPct (+5), WinTms (+6) 0, RvrtTms (+7), RmpTms (+8) 0, WMaxLim_Ena (+9).
            (ModelRole::ImmediateControls, Some(pct)) => vec![Write {
                addr: m.addr + 5,
                words: vec![self.percent_raw(pct)?, 0, revert, 0, 1],
            }],
            (ModelRole::ImmediateControls, None) => vec![Write {
                addr: m.addr + 9,
                words: vec![0],
            }],
            // 704: WMaxLimPct (+15), WMaxLimPctRvrt (+16) 100 %, WMaxLimPctEnaRvrt (+17) 0,
            // WMaxLimPctRvrtTms (+18, u32); then WMaxLimPctEna (+14) once the rest is in place.
            (ModelRole::DerControls, Some(pct)) => vec![
                Write {
                    addr: m.addr + 15,
                    words: vec![
                        self.percent_raw(pct)?,
                        self.percent_raw(100.0)?,
                        0,
                        0,
                        revert,
                    ],
                },
                Write {
                    addr: m.addr + 14,
                    words: vec![1],
                },
            ],
            (ModelRole::DerControls, None) => vec![Write {
                addr: m.addr + 14,
                words: vec![0],
            }],
            _ => vec![],
        })
    }

    fn storage_writes(&self, m: ModelAt, cmd: ConverterCommand) -> Result<Vec<Write>, String> {
        let revert = self.revert.as_secs().clamp(1, 65_535) as u16;
        let cha_max = self
            .cha_max_w
            .filter(|w| *w > 0.0)
            .ok_or("WChaMax is not implemented: cannot turn watts into a rate")?;
        let pct = if cmd.enabled {
            (cmd.power_w.0 / cha_max * 100.0).clamp(-100.0, 100.0)
        } else {
            0.0
        };
        let sf = self.control_sf.ok_or("InOutWRte_SF is not implemented")?;
        let raw =
            |p: f64| ((p / 10f64.powi(sf)).round().clamp(-32767.0, 32767.0) as i16).cast_unsigned();
        // Charging at p %: the window [−OutWRte, InWRte] pinned to [p, p]; discharging at p %:
        // [−p, −p]. 0 % pins the battery to idle.
        let (out, inw) = (raw(-pct), raw(pct));
        Ok(vec![
            Write {
                addr: m.addr + 12,
                words: vec![out, inw, 0, revert],
            },
            // StorCtl_Mod: charge (bit 0) and discharge (bit 1) limits active.
            Write {
                addr: m.addr + 5,
                words: vec![3],
            },
        ])
    }
}

impl Protocol for SunSpec {
    fn discover(&mut self, answer: Option<Option<&[u16]>>) -> Result<Option<Block>, String> {
        if let Some(answer) = answer {
            self.discovery.handle(answer)?;
        } else {
            self.discovery = Discovery::new(self.base);
            self.layout = None;
        }
        if let Some(models) = self.discovery.models() {
            self.layout = Some(self.pick(models)?);
            return Ok(None);
        }
        Ok(self.discovery.next().map(|(addr, count)| Block {
            table: Table::Holding,
            addr,
            count,
        }))
    }

    fn reads(&self) -> Vec<Block> {
        self.layout
            .iter()
            .flat_map(|l| std::iter::once(l.main).chain(l.control))
            .map(Self::block)
            .collect()
    }

    fn decode(&mut self, blocks: &[Vec<u16>]) -> Result<DeviceValues, String> {
        let layout = self.layout.ok_or("not discovered yet")?;
        let main = blocks.first().ok_or("no block read")?;
        let (m, d) = layout.main;
        // The ID must still be there: a device that rebooted into another map is rediscovered.
        if main.first() != Some(&m.id) {
            return Err(format!(
                "register {} no longer holds model ID {}",
                m.addr, m.id
            ));
        }
        let mut v = DeviceValues::default();
        let at = |what: &str, e: String| format!("model {} {what}: {e}", m.id);
        match self.role {
            SunSpecRole::Meter => {
                let mut mv = MeterValues::default();
                for p in &d.points {
                    if let Some(f) = p.field
                        && let Some(x) = d.value(main, &p.name).map_err(|e| at(&p.name, e))?
                    {
                        mv.set(f, x);
                    }
                }
                if mv.grid_reading().is_none() {
                    return Err(format!("model {}: W is not implemented", m.id));
                }
                v.meter = Some(mv);
            }
            SunSpecRole::Inverter => {
                v.ac_power_w = d.value(main, "W").map_err(|e| at("W", e))?;
                v.pv_power_w = d.value(main, "DCW").map_err(|e| at("DCW", e))?;
                v.energy_wh = d.value(main, "WH").map_err(|e| at("WH", e))?;
                v.dc_voltage_v = d.value(main, "DCV").map_err(|e| at("DCV", e))?;
                // St 7 = FAULT (SunSpec operating state).
                let st = d.value(main, "St").map_err(|e| at("St", e))?;
                v.fault = st == Some(7.0);
                v.running = st.map(|s| s == 4.0 || s == 5.0);
                if v.ac_power_w.is_none() {
                    return Err(format!("model {}: W is not implemented", m.id));
                }
                let (cm, cd) = layout.control.ok_or("no control model")?;
                let block = blocks.get(1).ok_or("no control block read")?;
                let ctl = |e: String| format!("model {}: {e}", cm.id);
                self.control_sf = cd.scale_factor(block, "WMaxLimPct_SF").map_err(ctl)?;
                let (ena, pct) = if cd.role == ModelRole::DerControls {
                    ("WMaxLimPctEna", "WMaxLimPct")
                } else {
                    ("WMaxLim_Ena", "WMaxLimPct")
                };
                // 123 Conn = 0: disconnected from the grid (by someone else: gridlet limits
                // with WMaxLimPct only), so not producing whatever W says.
                if cd.role == ModelRole::ImmediateControls
                    && cd.value(block, "Conn").map_err(ctl)? == Some(0.0)
                {
                    v.running = Some(false);
                }
                let on = cd.value(block, ena).map_err(ctl)? == Some(1.0);
                v.limit_pct = if on {
                    cd.value(block, pct).map_err(ctl)?
                } else {
                    None
                };
            }
            SunSpecRole::Storage => {
                self.control_sf = d
                    .scale_factor(main, "InOutWRte_SF")
                    .map_err(|e| at("", e))?;
                self.cha_max_w = d.value(main, "WChaMax").map_err(|e| at("WChaMax", e))?;
                v.soc_pct = d.value(main, "ChaState").map_err(|e| at("ChaState", e))?;
                v.dc_voltage_v = d.value(main, "InBatV").map_err(|e| at("InBatV", e))?;
                let mode = d
                    .value(main, "StorCtl_Mod")
                    .map_err(|e| at("StorCtl_Mod", e))?;
                let inw = d.value(main, "InWRte").map_err(|e| at("InWRte", e))?;
                let out = d.value(main, "OutWRte").map_err(|e| at("OutWRte", e))?;
                // 124 has no measured battery power: the set-point the device holds, read back.
                v.battery_power_w = match (mode, inw, out, self.cha_max_w) {
                    (Some(m), Some(i), Some(o), Some(max)) if m as u16 & 3 == 3 => {
                        Some(if i > 0.0 && o <= 0.0 {
                            i / 100.0 * max
                        } else if o > 0.0 && i <= 0.0 {
                            -o / 100.0 * max
                        } else {
                            0.0
                        })
                    }
                    _ => None,
                };
                // Following a set-point other than idle (the shutdown waits for idle).
                v.running = Some(v.battery_power_w.is_some_and(|p| p != 0.0));
            }
        }
        Ok(v)
    }

    fn writes(&self, set: &Setpoints) -> Result<Vec<Write>, String> {
        let Some(layout) = self.layout else {
            return Ok(vec![]);
        };
        match self.role {
            SunSpecRole::Meter => Ok(vec![]),
            SunSpecRole::Inverter => match layout.control {
                Some(c) => self.limit_writes(c, set.limit_w),
                None => Ok(vec![]),
            },
            SunSpecRole::Storage => self.storage_writes(layout.main.0, set.battery),
        }
    }

    fn refresh(&self) -> Duration {
        // Rewritten well within the revert timeout, so only a lost controller lets it expire.
        self.revert / 3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_parse_and_fit_one_read() {
        for d in tables() {
            assert!(d.span() <= MAX_READ, "{:?}", d.ids);
            for p in &d.points {
                if let Some(sf) = &p.sf {
                    assert!(d.point(sf).is_some(), "{:?} {}: no {sf}", d.ids, p.name);
                }
            }
        }
        assert_eq!(def(203).unwrap().role, ModelRole::Meter);
        assert_eq!(def(101).unwrap().role, ModelRole::Inverter);
        assert!(def(1).is_none());
    }

    #[test]
    fn discovery_walks_the_chain() {
        let mut d = Discovery::new(None);
        assert_eq!(d.next(), Some((40000, 2)));
        d.handle(None).unwrap();
        assert_eq!(d.next(), Some((0, 2)));
        d.handle(Some(&MARKER)).unwrap();
        assert_eq!(d.next(), Some((2, 2)));
        d.handle(Some(&[1, 66])).unwrap();
        assert_eq!(d.next(), Some((70, 2)));
        d.handle(Some(&[103, 50])).unwrap();
        assert_eq!(d.next(), Some((122, 2)));
        d.handle(Some(&[END, 0])).unwrap();
        assert_eq!(d.next(), None);
        assert_eq!(
            d.models().unwrap(),
            &[
                ModelAt {
                    id: 1,
                    addr: 2,
                    len: 66
                },
                ModelAt {
                    id: 103,
                    addr: 70,
                    len: 50
                }
            ]
        );
        let mut d = Discovery::new(Some(50000));
        assert!(d.handle(Some(&[0, 0])).unwrap_err().contains("50000"));
        let mut d = Discovery::new(Some(0));
        d.handle(Some(&MARKER)).unwrap();
        assert!(d.handle(Some(&[7, 65533])).unwrap_err().contains("65535"));
        let mut d = Discovery::new(Some(0));
        d.handle(Some(&MARKER)).unwrap();
        assert!(d.handle(Some(&[7])).is_err(), "short header");
    }

    #[test]
    fn points_scale_and_not_implemented_values_are_absent() {
        let d = def(203).unwrap();
        let mut b = vec![0u16; 107];
        b[18] = (-12345i16).cast_unsigned();
        b[22] = (-1i16).cast_unsigned();
        b[46] = 0x0041;
        b[47] = 0xF0DC; // 4321500 Wh
        b[54] = 0;
        assert_eq!(d.value(&b, "W").unwrap(), Some(-1234.5));
        assert_eq!(d.value(&b, "TotWhImp").unwrap(), Some(4321.5));
        b[19] = 0x8000;
        assert_eq!(d.value(&b, "WphA").unwrap(), None, "int16 not implemented");
        assert_eq!(d.value(&b, "TotWhExp").unwrap(), None, "acc32 0");
        b[22] = 0x8000;
        assert_eq!(d.value(&b, "W").unwrap(), None, "sf not implemented");
        b[22] = 11;
        assert!(d.value(&b, "W").unwrap_err().contains("out of"));
        assert!(d.value(&b[..10], "W").unwrap_err().contains("outside"));
    }
}
