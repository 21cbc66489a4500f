//! Any MQTT payload to the JSON meter with the predecessor's paths and with a bare number:
//! never a panic; a reading is always finite.
#![no_main]

use devices_meters::MqttParams;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bare = MqttParams {
        power: String::new(),
        ..MqttParams::default()
    };
    for params in [MqttParams::default(), bare] {
        let Ok(meter) = params.json() else { return };
        if let Ok(m) = meter.decode(data) {
            assert!(m.power_w.is_finite());
        }
    }
});
