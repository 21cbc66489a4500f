//! `testdata/meters/`: one message of each meter in its wire format, as the peers send it (an
//! SMA EM 2.0 datagram, an eBZ DD3 SML telegram, the predecessor's `/ebz/readings` JSON). They
//! are the fuzz targets' seeds (`cargo xtask fuzz-seeds`) and pin the peers' output: a change
//! to the writers shows here. `GRIDLET_BLESS=1` rewrites them.

use std::path::PathBuf;

use devices_meters::sml::{SmlStream, ebz_entries, telegram};
use devices_meters::speedwire::{EmReading, Message, Repr, emeter_datagram};
use devices_meters::{Measurements, MqttParams};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/meters")
}

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

fn check(name: &str, bytes: &[u8]) -> Vec<u8> {
    let path = dir().join(name);
    if std::env::var_os("GRIDLET_BLESS").is_some() {
        std::fs::write(&path, bytes).expect("writing testdata");
    }
    let stored = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        stored, bytes,
        "{name} differs from what the writer makes now"
    );
    stored
}

#[test]
fn the_stored_messages_are_what_the_peers_send_and_decode() {
    let sma = check(
        "sma-em2.bin",
        &emeter_datagram(3_001_279_111, 1000, &sample()).to_bytes(),
    );
    let Ok(Message::Emeter(r)) = Repr::parse_bytes(&sma) else {
        panic!("sma-em2.bin is no meter datagram")
    };
    assert_eq!(
        EmReading::from_repr(&r).measurements(r.serial),
        Ok(sample())
    );

    let sml = check(
        "sml-ebz.bin",
        &telegram(b"\x0aEBZ0100507409", 1, &ebz_entries(&sample())),
    );
    let mut readings = Vec::new();
    SmlStream::new().push(&sml, |r| readings.push(r));
    let [Ok(r)] = &readings[..] else {
        panic!("{readings:?}")
    };
    let m = r.measurements().expect("a reading");
    assert_eq!((m.power_w, m.import_wh), (-1234.5, Some(4_321_500.0)));

    let json = check(
        "ebz-readings.json",
        br#"{"id":"1EBZ0100507409","etotal":4321.5,"ptotal":-1234.5,"pphase":[-400,-434.5,-400]}"#,
    );
    let m = MqttParams::default()
        .json()
        .expect("defaults")
        .decode(&json)
        .expect("a reading");
    assert_eq!((m.power_w, m.phases_w), (-1234.5, sample().phases_w));
}
