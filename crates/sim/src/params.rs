//! The simulated devices' parameters checked as the configuration file gives them: each error
//! names the key relative to the device's table (`[pv.NAME]`, `[battery]`, ...), so the binary
//! points at its FILE:LINE:COLUMN.

use std::time::Duration;

use devices::config::{DeviceParams, FieldError};

use crate::{BatteryParams, CarParams, ConverterParams, InletParams, LoadParams, PvParams};

fn non_negative(key: &str, v: f64) -> Result<(), FieldError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(FieldError::new(key, "must be ≥ 0"))
    }
}

fn positive(key: &str, v: f64) -> Result<(), FieldError> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(FieldError::new(key, "must be > 0"))
    }
}

fn percent(key: &str, v: f64) -> Result<(), FieldError> {
    if (0.0..=100.0).contains(&v) {
        Ok(())
    } else {
        Err(FieldError::new(key, "must be within 0–100"))
    }
}

fn efficiency(key: &str, v: f64) -> Result<(), FieldError> {
    if v > 0.0 && v <= 1.0 {
        Ok(())
    } else {
        Err(FieldError::new(key, "must be in (0, 1]"))
    }
}

fn nonzero(key: &str, d: Duration) -> Result<(), FieldError> {
    if d.is_zero() {
        Err(FieldError::new(key, "must be longer than 0s"))
    } else {
        Ok(())
    }
}

impl DeviceParams for PvParams {
    fn validate(&self) -> Result<(), FieldError> {
        non_negative("kwp", self.kwp)?;
        non_negative("rated_w", self.rated_w.0)?;
        if !(0.0..=90.0).contains(&self.tilt_deg) {
            return Err(FieldError::new("tilt_deg", "must be within 0–90°"));
        }
        if !(0.0..=360.0).contains(&self.azimuth_deg) {
            return Err(FieldError::new("azimuth_deg", "must be within 0–360°"));
        }
        nonzero("limit_timeout", self.limit_timeout)?;
        match self.fallback_limit_w {
            Some(w) => non_negative("fallback_limit_w", w.0),
            None => Ok(()),
        }
    }
}

impl DeviceParams for BatteryParams {
    fn validate(&self) -> Result<(), FieldError> {
        positive("capacity_wh", self.capacity_wh.0)?;
        percent("initial_soc_pct", self.initial_soc_pct.0)?;
        positive("nominal_v", self.nominal_v.0)?;
        non_negative("max_charge_a", self.max_charge_a.0)?;
        non_negative("max_discharge_a", self.max_discharge_a.0)?;
        efficiency("efficiency", self.efficiency)?;
        non_negative("resistance_ohm", self.resistance_ohm)
    }
}

impl DeviceParams for ConverterParams {
    fn validate(&self) -> Result<(), FieldError> {
        non_negative("max_charge_w", self.max_charge_w.0)?;
        non_negative("max_discharge_w", self.max_discharge_w.0)?;
        efficiency("efficiency", self.efficiency)?;
        nonzero("setpoint_timeout", self.setpoint_timeout)
    }
}

impl DeviceParams for CarParams {
    fn validate(&self) -> Result<(), FieldError> {
        positive("capacity_wh", self.capacity_wh.0)?;
        percent("initial_soc_pct", self.initial_soc_pct.0)?;
        non_negative("max_charge_w", self.max_charge_w.0)?;
        non_negative("max_discharge_w", self.max_discharge_w.0)?;
        percent("min_soc_pct", self.min_soc_pct.0)?;
        non_negative("trip_wh", self.trip_wh.0)?;
        nonzero("limits_timeout", self.limits_timeout)
    }
}

impl DeviceParams for InletParams {
    fn validate(&self) -> Result<(), FieldError> {
        non_negative("precharge_source_v", self.precharge_source_v.0)?;
        nonzero("precharge_tau", self.precharge_tau)?;
        nonzero("bleed_tau", self.bleed_tau)
    }
}

impl DeviceParams for LoadParams {
    fn validate(&self) -> Result<(), FieldError> {
        non_negative("load_w", self.load_w.0)?;
        non_negative("drain_w", self.drain_w.0)?;
        match self.store_wh {
            Some(s) => positive("store_wh", s.0),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use units::{WattHours, Watts};

    #[test]
    fn the_defaults_are_valid() {
        PvParams::default().validate().unwrap();
        BatteryParams::default().validate().unwrap();
        ConverterParams::default().validate().unwrap();
        CarParams::default().validate().unwrap();
        InletParams::default().validate().unwrap();
        LoadParams::default().validate().unwrap();
    }

    #[test]
    fn errors_name_the_key() {
        let pv = PvParams {
            kwp: -1.0,
            ..PvParams::default()
        };
        assert_eq!(pv.validate().unwrap_err().key, "kwp");
        let pv = PvParams {
            rated_w: Watts(f64::NAN),
            ..PvParams::default()
        };
        assert_eq!(pv.validate().unwrap_err().key, "rated_w");
        let b = BatteryParams {
            capacity_wh: WattHours(0.0),
            ..BatteryParams::default()
        };
        assert_eq!(b.validate().unwrap_err().key, "capacity_wh");
        let c = ConverterParams {
            efficiency: 1.5,
            ..ConverterParams::default()
        };
        assert_eq!(c.validate().unwrap_err().key, "efficiency");
        let car = CarParams {
            min_soc_pct: units::Percent(120.0),
            ..CarParams::default()
        };
        assert_eq!(car.validate().unwrap_err().key, "min_soc_pct");
    }
}
