//! Decoding the frames of a recorded session (a capture, a log) without knowing its protocol in
//! advance: SupportedAppProtocol comes first; its request and response tell which schema the
//! later `0x8001` frames use (DIN 70121 or ISO 15118-2); `0x8002` and `0x8004` are always ISO
//! 15118-20 CommonMessages and DC.

use v2g_messages::{AnyDocument, Schema, app_handshake, decode, din, iso2};

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
        let code = match &self.document {
            AnyDocument::Handshake(d) => d.response_code().map(|c| c.as_str()),
            AnyDocument::Din(din::Document::V2gMessage(m)) => m
                .body
                .body_element
                .as_ref()?
                .response_code()
                .map(|c| c.as_str()),
            AnyDocument::Din(d) => d.response_code().map(|c| c.as_str()),
            AnyDocument::Iso2(iso2::Document::V2gMessage(m)) => m
                .body
                .body_element
                .as_ref()?
                .response_code()
                .map(|c| c.as_str()),
            AnyDocument::Iso2(d) => d.response_code().map(|c| c.as_str()),
            AnyDocument::Iso20(d) => d.response_code().map(|c| c.as_str()),
            AnyDocument::Iso20Dc(d) => d.response_code().map(|c| c.as_str()),
            AnyDocument::Iso20Ac(d) => d.response_code().map(|c| c.as_str()),
            AnyDocument::Iso20Acdp(d) => d.response_code().map(|c| c.as_str()),
            AnyDocument::Iso20Wpt(d) => d.response_code().map(|c| c.as_str()),
        };
        code.map(str::to_owned)
    }

    /// The JSON form of the document (the schema's element names).
    pub fn json(&self) -> serde_json::Value {
        v2g_messages::to_json(&self.document)
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or(serde_json::Value::Null)
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
        Ok(Message {
            schema,
            name: name(&document).to_owned(),
            document,
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

/// The element name of a document; of the body for a DIN 70121 or ISO 15118-2 V2G_Message
/// (empty without body).
fn name(document: &AnyDocument) -> &'static str {
    match document {
        AnyDocument::Din(din::Document::V2gMessage(m)) => {
            m.body.body_element.as_ref().map_or("", |b| b.name())
        }
        AnyDocument::Iso2(iso2::Document::V2gMessage(m)) => {
            m.body.body_element.as_ref().map_or("", |b| b.name())
        }
        AnyDocument::Handshake(d) => d.name(),
        AnyDocument::Din(d) => d.name(),
        AnyDocument::Iso2(d) => d.name(),
        AnyDocument::Iso20(d) => d.name(),
        AnyDocument::Iso20Dc(d) => d.name(),
        AnyDocument::Iso20Ac(d) => d.name(),
        AnyDocument::Iso20Acdp(d) => d.name(),
        AnyDocument::Iso20Wpt(d) => d.name(),
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
