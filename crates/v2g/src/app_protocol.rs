//! The protocols a V2G session can speak and their negotiation with SupportedAppProtocol
//! (ISO 15118-2 §8.2, the first message pair of every session, whatever the protocol).
//!
//! The car lists the protocols it speaks, each with a namespace, a version, a SchemaID of its
//! choice and a priority (1 = most preferred). The charger answers with the SchemaID of the one
//! it picks, or Failed_NoNegotiation.

use std::fmt;

use v2g_messages::app_handshake::{
    AppProtocolType, ResponseCodeType, SupportedAppProtocolReq, SupportedAppProtocolRes,
};

/// A V2G protocol this crate implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// DIN SPEC 70121:2014, DC charging (most cars on the road).
    Din,
    /// ISO 15118-2:2013, here DC with external payment.
    Iso2,
    /// ISO 15118-20:2022 DC, including bidirectional power transfer (DC_BPT).
    Iso20Dc,
}

impl Protocol {
    /// Every protocol, in the charger's default order of preference: ISO 15118-20 first (it can
    /// discharge the car), then ISO 15118-2, then DIN 70121.
    pub const ALL: [Self; 3] = [Self::Iso20Dc, Self::Iso2, Self::Din];

    /// The namespace that names it in SupportedAppProtocol.
    pub const fn namespace(self) -> &'static str {
        match self {
            Self::Din => "urn:din:70121:2012:MsgDef",
            Self::Iso2 => "urn:iso:15118:2:2013:MsgDef",
            Self::Iso20Dc => "urn:iso:std:iso:15118:-20:DC",
        }
    }

    /// Major and minor version of the schema we implement.
    pub const fn version(self) -> (u32, u32) {
        match self {
            Self::Din | Self::Iso2 => (2, 0),
            Self::Iso20Dc => (1, 0),
        }
    }

    /// The short name used on the command line (`din`, `iso2`, `iso20`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Din => "din",
            Self::Iso2 => "iso2",
            Self::Iso20Dc => "iso20",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Din => "DIN 70121",
            Self::Iso2 => "ISO 15118-2",
            Self::Iso20Dc => "ISO 15118-20 DC",
        })
    }
}

impl std::str::FromStr for Protocol {
    type Err = UnknownProtocol;

    fn from_str(s: &str) -> Result<Self, UnknownProtocol> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| UnknownProtocol(s.to_owned()))
    }
}

/// A protocol name that is none of `din`, `iso2`, `iso20`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown protocol {0:?} (expected din, iso2 or iso20)")]
pub struct UnknownProtocol(pub String);

/// How the charger picks among the protocols both sides speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selection {
    /// The car's priority decides (what the standard intends); our order breaks ties.
    #[default]
    CarPriority,
    /// Our order decides; the car's priority breaks ties. For a charger that should prefer
    /// ISO 15118-20 (V2H) even with cars that rank it lower.
    OurPreference,
}

/// The outcome of a negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The protocol of the session.
    pub protocol: Protocol,
    /// The SchemaID the car gave it.
    pub schema_id: u8,
    /// The car's minor version differs from ours (answered
    /// OK_SuccessfulNegotiationWithMinorDeviation).
    pub minor_deviation: bool,
}

/// The charger's answer to a SupportedAppProtocolReq, given the protocols it offers in order of
/// preference, and the protocol chosen (`None`: Failed_NoNegotiation).
pub fn negotiate(
    req: &SupportedAppProtocolReq,
    offered: &[Protocol],
    selection: Selection,
) -> (SupportedAppProtocolRes, Option<Negotiated>) {
    let rank = |p: Protocol| offered.iter().position(|o| *o == p).unwrap_or(usize::MAX);
    let candidates = req.app_protocol.iter().filter_map(|entry| {
        let protocol = offered
            .iter()
            .copied()
            .find(|p| p.namespace() == entry.protocol_namespace)?;
        // Another major version is another protocol (Josev and EVerest match the major only).
        (entry.version_number_major == protocol.version().0).then_some((protocol, entry))
    });
    let best = match selection {
        Selection::CarPriority => candidates.min_by_key(|(p, e)| (e.priority, rank(*p))),
        Selection::OurPreference => candidates.min_by_key(|(p, e)| (rank(*p), e.priority)),
    };
    match best {
        Some((protocol, entry)) => {
            let minor_deviation = entry.version_number_minor != protocol.version().1;
            let res = SupportedAppProtocolRes {
                response_code: if minor_deviation {
                    ResponseCodeType::OkSuccessfulNegotiationWithMinorDeviation
                } else {
                    ResponseCodeType::OkSuccessfulNegotiation
                },
                schema_id: Some(entry.schema_id),
            };
            let negotiated = Negotiated {
                protocol,
                schema_id: entry.schema_id,
                minor_deviation,
            };
            (res, Some(negotiated))
        }
        None => (
            SupportedAppProtocolRes {
                response_code: ResponseCodeType::FailedNoNegotiation,
                schema_id: None,
            },
            None,
        ),
    }
}

/// The car's SupportedAppProtocolReq for `protocols`, most preferred first (priority 1, 2, ...;
/// SchemaIDs 1, 2, ...).
pub fn request(protocols: &[Protocol]) -> SupportedAppProtocolReq {
    SupportedAppProtocolReq {
        app_protocol: protocols
            .iter()
            .zip(1u8..)
            .map(|(p, n)| AppProtocolType {
                protocol_namespace: p.namespace().to_owned(),
                version_number_major: p.version().0,
                version_number_minor: p.version().1,
                schema_id: n,
                priority: n,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use v2g_messages::app_handshake::{self, Document};

    use super::*;

    fn decode_req(hex: &str) -> SupportedAppProtocolReq {
        match app_handshake::decode(&hex::decode(hex).unwrap()).unwrap() {
            Document::SupportedAppProtocolReq(r) => r,
            other => panic!("{other:?}"),
        }
    }

    fn entry(ns: &str, major: u32, minor: u32, schema_id: u8, priority: u8) -> AppProtocolType {
        AppProtocolType {
            protocol_namespace: ns.to_owned(),
            version_number_major: major,
            version_number_minor: minor,
            schema_id,
            priority,
        }
    }

    #[test]
    fn the_ioniq_gets_din_and_the_answer_the_alpitronic_gave() {
        // V001 and V002 of the Ioniq <-> Alpitronic session.
        let req =
            decode_req("8000dbab9371d3234b71d1b981899189d191818991d26b9b3a232b30020000040040");
        let (res, negotiated) = negotiate(&req, &Protocol::ALL, Selection::CarPriority);
        assert_eq!(negotiated.unwrap().protocol, Protocol::Din);
        let bytes = app_handshake::encode(&Document::SupportedAppProtocolRes(res.clone())).unwrap();
        assert_eq!(hex::encode(bytes), "80400040");
    }

    #[test]
    fn real_cars_offers_resolve_as_expected() {
        let vectors = include_str!("../../../testdata/v2g/vectors.jsonl");
        let req = |id: &str| {
            let line = vectors
                .lines()
                .find(|l| l.contains(&format!("\"id\": \"{id}\"")))
                .unwrap();
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            decode_req(v["exi"].as_str().unwrap())
        };
        // Tesla Model Y: DIN plus its own namespace; we speak DIN.
        let (_, n) = negotiate(&req("V033"), &Protocol::ALL, Selection::CarPriority);
        assert_eq!(n.unwrap().protocol, Protocol::Din);
        // Polestar 2 and Audi Q4: DIN and ISO 15118-2; the car's priority decides...
        for id in ["V035", "V036"] {
            let r = req(id);
            let (_, n) = negotiate(&r, &Protocol::ALL, Selection::CarPriority);
            let best = r.app_protocol.iter().min_by_key(|e| e.priority).unwrap();
            assert_eq!(
                n.unwrap().protocol.namespace(),
                best.protocol_namespace,
                "{id}"
            );
            // ...unless we insist on our order.
            let (_, n) = negotiate(&r, &Protocol::ALL, Selection::OurPreference);
            assert_eq!(n.unwrap().protocol, Protocol::Iso2, "{id}");
            // A charger configured for DIN only gets DIN.
            let (_, n) = negotiate(&r, &[Protocol::Din], Selection::CarPriority);
            assert_eq!(n.unwrap().protocol, Protocol::Din, "{id}");
        }
        // BMW iX3: DIN with SchemaID 0.
        let (res, n) = negotiate(&req("V037"), &Protocol::ALL, Selection::CarPriority);
        assert_eq!(n.unwrap().schema_id, 0);
        assert_eq!(res.schema_id, Some(0));
    }

    #[test]
    fn no_common_protocol_fails_without_schema_id() {
        let req = SupportedAppProtocolReq {
            app_protocol: vec![entry("urn:tesla:din:2018:MsgDef", 2, 0, 1, 1)],
        };
        let (res, n) = negotiate(&req, &Protocol::ALL, Selection::CarPriority);
        assert_eq!(n, None);
        assert_eq!(res.response_code, ResponseCodeType::FailedNoNegotiation);
        assert_eq!(res.schema_id, None);
        // Offered, but not by us.
        let req = request(&[Protocol::Iso20Dc]);
        let (_, n) = negotiate(
            &req,
            &[Protocol::Din, Protocol::Iso2],
            Selection::CarPriority,
        );
        assert_eq!(n, None);
    }

    #[test]
    fn versions_decide_compatibility() {
        let ns = Protocol::Iso2.namespace();
        // Major 1 is ISO 15118-2:2010's numbering: not ours.
        let req = SupportedAppProtocolReq {
            app_protocol: vec![entry(ns, 1, 0, 4, 1)],
        };
        assert_eq!(
            negotiate(&req, &Protocol::ALL, Selection::CarPriority).1,
            None
        );
        // Same major, other minor: accepted with a deviation.
        let req = SupportedAppProtocolReq {
            app_protocol: vec![entry(ns, 2, 1, 4, 1)],
        };
        let (res, n) = negotiate(&req, &Protocol::ALL, Selection::CarPriority);
        assert!(n.unwrap().minor_deviation);
        assert_eq!(
            res.response_code,
            ResponseCodeType::OkSuccessfulNegotiationWithMinorDeviation
        );
        assert_eq!(res.schema_id, Some(4));
    }

    #[test]
    fn priorities_and_preferences_order_the_choice() {
        let req = SupportedAppProtocolReq {
            app_protocol: vec![
                entry(Protocol::Din.namespace(), 2, 0, 7, 1),
                entry(Protocol::Iso20Dc.namespace(), 1, 0, 9, 2),
            ],
        };
        let pick = |offered: &[Protocol], s| negotiate(&req, offered, s).1.unwrap();
        assert_eq!(
            pick(&Protocol::ALL, Selection::CarPriority).protocol,
            Protocol::Din
        );
        assert_eq!(pick(&Protocol::ALL, Selection::CarPriority).schema_id, 7);
        assert_eq!(
            pick(&Protocol::ALL, Selection::OurPreference).protocol,
            Protocol::Iso20Dc
        );
        assert_eq!(
            pick(
                &[Protocol::Din, Protocol::Iso20Dc],
                Selection::OurPreference
            )
            .protocol,
            Protocol::Din
        );
        // Equal priorities (a broken car): our order breaks the tie.
        let tie = SupportedAppProtocolReq {
            app_protocol: vec![
                entry(Protocol::Din.namespace(), 2, 0, 1, 1),
                entry(Protocol::Iso2.namespace(), 2, 0, 2, 1),
            ],
        };
        let (_, n) = negotiate(&tie, &Protocol::ALL, Selection::CarPriority);
        assert_eq!(n.unwrap().protocol, Protocol::Iso2);
    }

    #[test]
    fn our_requests_encode_and_name_every_protocol() {
        let req = request(&[Protocol::Iso20Dc, Protocol::Iso2, Protocol::Din]);
        let doc = Document::SupportedAppProtocolReq(req.clone());
        let bytes = app_handshake::encode(&doc).unwrap();
        assert_eq!(app_handshake::decode(&bytes).unwrap(), doc);
        let (_, n) = negotiate(&req, &Protocol::ALL, Selection::CarPriority);
        assert_eq!(n.unwrap().protocol, Protocol::Iso20Dc);
        for p in Protocol::ALL {
            assert_eq!(p.name().parse::<Protocol>().unwrap(), p);
        }
        assert!("iso15118".parse::<Protocol>().is_err());
    }
}
