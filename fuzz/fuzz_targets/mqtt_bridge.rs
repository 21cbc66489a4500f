//! Any JSON as a published snapshot and any message on any topic as a command: the MQTT bridge
//! never panics; what it publishes from a snapshot is retained and under its prefixes; a command
//! is either queued or answered on `gridlet/error` (not retained), never both, never neither.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mqtt::{Bridge, MqttSettings, Outgoing};
use units::Timestamp;

fuzz_target!(|data: &[u8]| {
    let settings = MqttSettings::new("localhost:1883".parse().expect("a valid broker"));
    let mut b = Bridge::new(&settings, "fuzz");
    // The snapshot: the bytes up to the first 0, if they are JSON.
    let (snapshot, rest) = match data.iter().position(|&x| x == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    b.handle_connected(Timestamp::from_unix_secs(0));
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(snapshot) {
        b.handle_snapshot(Timestamp::from_unix_secs(1), v);
    }
    while let Some(o) = b.poll_transmit() {
        match o {
            Outgoing::Publish { topic, retain, .. } => {
                assert!(retain, "{topic}");
                assert!(
                    topic.starts_with("gridlet/") || topic.starts_with("homeassistant/"),
                    "{topic}"
                );
            }
            Outgoing::Subscribe(f) => assert_eq!(f, "gridlet/+/set"),
        }
    }
    // Then messages: topic up to the next 0, payload up to the one after.
    let mut parts = rest.split(|&x| x == 0);
    while let (Some(topic), Some(payload)) = (parts.next(), parts.next()) {
        let Ok(topic) = std::str::from_utf8(topic) else { continue };
        let topic = format!("gridlet/{topic}");
        b.handle_message(&topic, payload);
        let command = b.poll_command();
        let answer = b.poll_transmit();
        assert!(command.is_some() != answer.is_some(), "{topic}: {command:?} {answer:?}");
        if let Some(Outgoing::Publish { topic: t, retain, .. }) = answer {
            assert_eq!(t, "gridlet/error");
            assert!(!retain);
        }
        assert!(b.poll_command().is_none() && b.poll_transmit().is_none());
    }
});
