//! Any register words as a commanded device's answers: SunSpec discovery walks any chain (ends,
//! or fails with a reason, within its model limit), and every protocol (SunSpec meter, inverter,
//! storage; Huawei PV, meter, LUNA; Sungrow SH) decodes any blocks without panicking, giving only
//! finite values, and its writes for any set-point stay within Modbus limits.
#![no_main]

use std::time::Duration;

use devices::ConverterCommand;
use devices_modbus::device::{DeviceValues, Protocol, Setpoints};
use devices_modbus::huawei::{Huawei, HuaweiRole};
use devices_modbus::sungrow::Sungrow;
use devices_modbus::sunspec::{MARKER, SunSpec, SunSpecRole};
use libfuzzer_sys::fuzz_target;
use units::Watts;

fn finite(v: &DeviceValues) {
    for x in [
        v.ac_power_w,
        v.pv_power_w,
        v.energy_wh,
        v.limit_pct,
        v.battery_power_w,
        v.soc_pct,
        v.dc_voltage_v,
    ]
    .into_iter()
    .flatten()
    {
        assert!(x.is_finite(), "{v:?}");
    }
    if let Some(m) = &v.meter
        && let Some(r) = m.grid_reading()
    {
        assert!(r.power_w.0.is_finite());
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let mut words = rest
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]));
    let mut take = |n: u16| -> Vec<u16> { (&mut words).take(usize::from(n)).collect() };
    let mut protocol: Box<dyn Protocol> = match (first & 0x3F) % 7 {
        0 => Box::new(SunSpec::new(
            SunSpecRole::Meter,
            None,
            8000.0,
            Duration::from_secs(30),
        )),
        1 => Box::new(SunSpec::new(
            SunSpecRole::Inverter,
            Some(0),
            8000.0,
            Duration::from_secs(30),
        )),
        2 => Box::new(SunSpec::new(
            SunSpecRole::Storage,
            None,
            0.0,
            Duration::from_secs(30),
        )),
        3 => Box::new(Huawei::new(
            HuaweiRole::Pv {
                rated_w: 10_000.0,
                feed_in_limit_w: Some(0.0),
            },
            Duration::ZERO,
        )),
        4 => Box::new(Huawei::new(HuaweiRole::Battery, Duration::ZERO)),
        5 => Box::new(Huawei::new(HuaweiRole::Meter, Duration::ZERO)),
        _ => Box::new(Sungrow),
    };
    // Discovery: each answer is an exception (a zero-length take) or the next words. Bit 7 of
    // the first byte answers the first read with the "SunS" marker and bit 6 maps header IDs onto
    // the models gridlet uses, so that the walk and the decoders behind it are reached at once.
    const IDS: [u16; 8] = [1, 103, 101, 123, 124, 203, 704, 0xFFFF];
    let mut next = protocol.discover(None);
    let mut steps = 0;
    while let Ok(Some(b)) = next {
        steps += 1;
        assert!(steps < 200, "discovery does not end");
        let mut w = take(b.count);
        if steps == 1 && first & 0x80 != 0 {
            w = MARKER.to_vec();
        } else if steps > 1
            && first & 0x40 != 0
            && let Some(id) = w.first_mut()
        {
            *id = IDS[usize::from(*id) % IDS.len()];
        }
        next = protocol.discover(Some((!w.is_empty()).then_some(&w[..])));
    }
    if next.is_err() {
        return;
    }
    let blocks: Vec<Vec<u16>> = protocol.reads().iter().map(|b| take(b.count)).collect();
    if let Ok(v) = protocol.decode(&blocks) {
        finite(&v);
    }
    for (limit, power, enabled) in [
        (None, 0.0, false),
        (Some(-5.0), 1e12, true),
        (Some(f64::MAX), -1e12, true),
        (Some(3000.0), f64::NAN, true),
    ] {
        let set = Setpoints {
            limit_w: limit,
            battery: ConverterCommand {
                enabled,
                power_w: Watts(power),
            },
        };
        if let Ok(writes) = protocol.writes(&set) {
            for w in writes {
                assert!(!w.words.is_empty() && w.words.len() <= 123);
            }
        }
    }
});
