//! Decoding the frames of a recorded session (a capture, a log) without knowing its protocol in
//! advance: SupportedAppProtocol comes first; its request and response tell which schema the
//! later `0x8001` frames use (DIN 70121 or ISO 15118-2); `0x8002` and `0x8004` are always ISO
//! 15118-20 CommonMessages and DC.

use v2g_messages::{AnyDocument, Schema, app_handshake, decode};

use crate::app_protocol::Protocol;
use crate::wire::{Frame, PayloadType};

/// One decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its schema.
    pub schema: Schema,
    /// The document.
    pub document: AnyDocument,
    /// The element name (`CurrentDemandRes`, `DC_ChargeLoopReq`, ...).
    pub name: String,
}

impl Message {
    /// The ResponseCode, for responses.
    pub fn response_code(&self) -> Option<String> {
        let json = serde_json::to_value(&self.document).ok()?;
        find(&json, "ResponseCode")
    }

    /// The JSON form of the document (the schema's element names).
    pub fn json(&self) -> serde_json::Value {
        v2g_messages::to_json(&self.document)
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or(serde_json::Value::Null)
    }
}

/// Finds the first value of `key` anywhere in `v`, as a string.
fn find(v: &serde_json::Value, key: &str) -> Option<String> {
    match v {
        serde_json::Value::Object(map) => {
            if let Some(found) = map.get(key) {
                return Some(match found {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                });
            }
            map.values().find_map(|x| find(x, key))
        }
        serde_json::Value::Array(items) => items.iter().find_map(|x| find(x, key)),
        _ => None,
    }
}

/// Decodes the frames of one session in the order they were sent (both directions).
#[derive(Debug, Default)]
pub struct Transcript {
    offered: Vec<(String, u8)>,
    protocol: Option<Protocol>,
}

impl Transcript {
    /// A transcript at the start of a session.
    pub fn new() -> Self {
        Self::default()
    }

    /// The protocol, once the handshake was seen.
    pub fn protocol(&self) -> Option<Protocol> {
        self.protocol
    }

    /// Decodes the next frame.
    pub fn decode(&mut self, frame: &Frame) -> Result<Message, String> {
        let schema = match frame.payload_type {
            PayloadType::Exi => match self.protocol {
                None => Schema::Handshake,
                Some(Protocol::Din) => Schema::Din,
                Some(Protocol::Iso2) => Schema::Iso2,
                Some(Protocol::Iso20Dc) => Schema::Handshake,
            },
            PayloadType::Iso20Main => Schema::Iso20,
            PayloadType::Iso20Dc => Schema::Iso20Dc,
            other => return Err(format!("payload type {other} is not a V2G message")),
        };
        let document = decode(schema, &frame.payload).map_err(|e| format!("{schema}: {e}"))?;
        if let AnyDocument::Handshake(doc) = &document {
            self.handshake(doc);
        }
        let name = serde_json::to_value(&document)
            .ok()
            .and_then(|v| {
                // `{"Din": {"V2G_Message": {"Header": .., "Body": {"Name": ..}}}}` or
                // `{"Iso20Dc": {"Name": ..}}`.
                let inner = v.as_object()?.values().next()?.clone();
                let (key, value) = inner.as_object()?.iter().next()?;
                if key == "V2G_Message" {
                    value["Body"].as_object()?.keys().next().cloned()
                } else {
                    Some(key.clone())
                }
            })
            .unwrap_or_default();
        Ok(Message {
            schema,
            document,
            name,
        })
    }

    fn handshake(&mut self, doc: &app_handshake::Document) {
        match doc {
            app_handshake::Document::SupportedAppProtocolReq(req) => {
                self.offered = req
                    .app_protocol
                    .iter()
                    .map(|p| (p.protocol_namespace.clone(), p.schema_id))
                    .collect();
            }
            app_handshake::Document::SupportedAppProtocolRes(res) => {
                self.protocol = res.schema_id.and_then(|id| {
                    let (ns, _) = self.offered.iter().find(|(_, s)| *s == id)?;
                    Protocol::ALL.into_iter().find(|p| p.namespace() == ns)
                });
            }
        }
    }
}

/// Splits a byte stream (one direction of a TCP connection) into V2GTP frames; a trailing
/// partial frame is returned as the error.
pub fn frames(stream: &[u8]) -> Result<Vec<Frame>, String> {
    let mut decoder = crate::wire::Decoder::new(u32::MAX);
    decoder.push(stream);
    let mut out = Vec::new();
    while let Some(frame) = decoder.next_frame().map_err(|e| e.to_string())? {
        out.push(frame);
    }
    if decoder.buffered() > 0 {
        return Err(format!(
            "{} bytes of a partial frame at the end",
            decoder.buffered()
        ));
    }
    Ok(out)
}

/// One message of a recorded session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// Sent by the charger (else by the car).
    pub from_charger: bool,
    /// The frame as sent.
    pub frame: Frame,
    /// Decoded.
    pub message: Message,
}

impl Exchange {
    /// Whether the message re-encodes to exactly the bytes that were sent.
    pub fn round_trips(&self) -> Result<(), String> {
        let again = v2g_messages::encode(&self.message.document)
            .map_err(|e| format!("{}: re-encoding: {e}", self.message.name))?;
        if again == self.frame.payload {
            Ok(())
        } else {
            Err(format!(
                "{}: re-encodes to {} instead of {}",
                self.message.name,
                hex(&again),
                hex(&self.frame.payload)
            ))
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The messages of one session from the two byte streams of its TCP connection. V2G is
/// strictly request-response, so requests and responses alternate, starting with the car's.
pub fn session(from_car: &[u8], from_charger: &[u8]) -> Result<Vec<Exchange>, String> {
    let requests = frames(from_car).map_err(|e| format!("car: {e}"))?;
    let responses = frames(from_charger).map_err(|e| format!("charger: {e}"))?;
    let mut transcript = Transcript::new();
    let mut out = Vec::new();
    let mut responses = responses.into_iter();
    for request in requests {
        let message = transcript
            .decode(&request)
            .map_err(|e| format!("car: {e}"))?;
        out.push(Exchange {
            from_charger: false,
            frame: request,
            message,
        });
        if let Some(response) = responses.next() {
            let message = transcript
                .decode(&response)
                .map_err(|e| format!("charger: {e}"))?;
            out.push(Exchange {
                from_charger: true,
                frame: response,
                message,
            });
        }
    }
    if let Some(extra) = responses.next() {
        return Err(format!(
            "the charger sent more responses than requests (one of {} bytes)",
            extra.payload.len()
        ));
    }
    Ok(out)
}
