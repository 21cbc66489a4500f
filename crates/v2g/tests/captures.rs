//! The kept captures of sessions with `gridlet evse` (`testdata/v2g/captures`, one per protocol
//! and car): every message of both sides decodes, every message the charger sent re-encodes to
//! exactly the bytes on the wire, and each session has a charge loop of at least 10 cycles and
//! ends with SessionStop.
#![allow(clippy::unwrap_used)] // A failing unwrap is a failing test.

use std::path::Path;

use testkit::{inet, pcap};
use v2g::transcript;
use v2g::wire::SdpResponse;
use v2g_messages::Schema;

#[test]
fn kept_captures_decode_and_the_charger_re_encodes_bit_exactly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/v2g/captures");
    let expected = [
        ("gridlet-din.pcap", Schema::Din),
        ("gridlet-iso2.pcap", Schema::Iso2),
        ("gridlet-iso20.pcap", Schema::Iso20),
        ("josev-din.pcap", Schema::Din),
        ("josev-iso2.pcap", Schema::Iso2),
        ("josev-iso20.pcap", Schema::Iso20),
    ];
    for (file, schema) in expected {
        let records = pcap::parse(&std::fs::read(dir.join(file)).unwrap()).unwrap();
        let sdp: Vec<SdpResponse> = inet::udp_datagrams(&records)
            .iter()
            .filter_map(|d| SdpResponse::parse(&d.payload).ok())
            .collect();
        let port = sdp
            .first()
            .unwrap_or_else(|| panic!("{file}: no SDP response"))
            .port;
        assert!(v2g::sdp::DYNAMIC_PORTS.contains(&port));
        let conns: Vec<_> = inet::tcp_connections(&records)
            .into_iter()
            .filter(|c| c.server.port() == port)
            .collect();
        assert_eq!(conns.len(), 1, "{file}");
        let session = transcript::session(&conns[0].from_client, &conns[0].from_server)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let mut from_charger = 0;
        for x in &session {
            if x.from_charger {
                x.round_trips().unwrap_or_else(|e| panic!("{file}: {e}"));
                from_charger += 1;
                let code = x.message.response_code().unwrap_or_default();
                assert!(code.starts_with("OK"), "{file}: {} {code}", x.message.name);
            }
        }
        assert_eq!(
            from_charger * 2,
            session.len(),
            "{file}: a response per request"
        );
        assert_eq!(session[2].message.schema, schema, "{file}");
        let cycles = session
            .iter()
            .filter(|x| ["CurrentDemandReq", "DC_ChargeLoopReq"].contains(&x.message.name.as_str()))
            .count();
        assert!(cycles >= 10, "{file}: {cycles} charge loop requests");
        assert_eq!(
            session[session.len() - 2].message.name,
            "SessionStopReq",
            "{file}"
        );
    }
}
