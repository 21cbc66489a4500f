//! BeagleBone Black/Green expansion header pins and the GPIO they carry.
//!
//! The AM335x has four GPIO banks of 32 lines; the kernel numbers GPIO `32·bank + line` and the
//! BeagleBone Debian images expose bank N as `/dev/gpiochipN` (check with `gpioinfo`; if your
//! kernel numbers them differently, configure `chip` and `line` instead of `pin`).

/// `(header pin, GPIO number)` for every header pin that can be a GPIO.
const PINS: &[(&str, u32)] = &[
    ("P8_03", 38),
    ("P8_04", 39),
    ("P8_05", 34),
    ("P8_06", 35),
    ("P8_07", 66),
    ("P8_08", 67),
    ("P8_09", 69),
    ("P8_10", 68),
    ("P8_11", 45),
    ("P8_12", 44),
    ("P8_13", 23),
    ("P8_14", 26),
    ("P8_15", 47),
    ("P8_16", 46),
    ("P8_17", 27),
    ("P8_18", 65),
    ("P8_19", 22),
    ("P8_20", 63),
    ("P8_21", 62),
    ("P8_22", 37),
    ("P8_23", 36),
    ("P8_24", 33),
    ("P8_25", 32),
    ("P8_26", 61),
    ("P8_27", 86),
    ("P8_28", 88),
    ("P8_29", 87),
    ("P8_30", 89),
    ("P8_31", 10),
    ("P8_32", 11),
    ("P8_33", 9),
    ("P8_34", 81),
    ("P8_35", 8),
    ("P8_36", 80),
    ("P8_37", 78),
    ("P8_38", 79),
    ("P8_39", 76),
    ("P8_40", 77),
    ("P8_41", 74),
    ("P8_42", 75),
    ("P8_43", 72),
    ("P8_44", 73),
    ("P8_45", 70),
    ("P8_46", 71),
    ("P9_11", 30),
    ("P9_12", 60),
    ("P9_13", 31),
    ("P9_14", 50),
    ("P9_15", 48),
    ("P9_16", 51),
    ("P9_17", 5),
    ("P9_18", 4),
    ("P9_19", 13),
    ("P9_20", 12),
    ("P9_21", 3),
    ("P9_22", 2),
    ("P9_23", 49),
    ("P9_24", 15),
    ("P9_25", 117),
    ("P9_26", 14),
    ("P9_27", 115),
    ("P9_28", 113),
    ("P9_29", 111),
    ("P9_30", 112),
    ("P9_31", 110),
    ("P9_41", 20),
    ("P9_42", 7),
];

/// The GPIO chip path and line offset of a header pin such as `P9_14` (also `p9.14`, `P9_4`).
pub fn beaglebone(name: &str) -> Option<(String, u32)> {
    let norm = name.trim().to_ascii_uppercase().replace(['.', '-'], "_");
    let (header, num) = norm.split_once('_')?;
    let num: u32 = num.parse().ok()?;
    let key = format!("{header}_{num:02}");
    PINS.iter()
        .find(|(p, _)| *p == key)
        .map(|(_, gpio)| (format!("/dev/gpiochip{}", gpio / 32), gpio % 32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn focccicape_pins() {
        // Relays, button LED and button read-back (openinverter FoccciCape).
        assert_eq!(beaglebone("P9_14"), Some(("/dev/gpiochip1".into(), 18)));
        assert_eq!(beaglebone("P9_16"), Some(("/dev/gpiochip1".into(), 19)));
        assert_eq!(beaglebone("P9_28"), Some(("/dev/gpiochip3".into(), 17)));
        assert_eq!(beaglebone("p9.30"), Some(("/dev/gpiochip3".into(), 16)));
        assert_eq!(beaglebone("P8_7"), Some(("/dev/gpiochip2".into(), 2)));
        assert_eq!(beaglebone("P9_1"), None, "ground");
        assert_eq!(beaglebone("P10_1"), None);
        assert_eq!(beaglebone("nonsense"), None);
    }

    #[test]
    fn table_has_no_duplicates() {
        let mut gpios: Vec<_> = PINS.iter().map(|(_, g)| g).collect();
        gpios.sort();
        gpios.dedup();
        assert_eq!(gpios.len(), PINS.len());
    }
}
