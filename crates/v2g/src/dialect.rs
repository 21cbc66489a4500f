//! What the charger's and the car's state machines need to know of a protocol's messages, the
//! same way for DIN SPEC 70121, ISO 15118-2 and ISO 15118-20: how a message travels (V2GTP
//! payload type, where the header and its SessionID are), its name, which response answers a
//! request, and its ResponseCode. Everything here reads the generated accessors of
//! `v2g-messages` (`name()`, `response_name()`, `response_code()`, `header()`, `as_str()`).
//!
//! The rules built on it are the charger's [`crate::secc::envelope`] and the car's
//! [`crate::evcc::envelope`].
//!
//! `open` and `seal` are always inlined: messages are hundreds of bytes, and inlined they are
//! moved once instead of copied at each call (a charge loop request costs no more instructions
//! than before the envelope, `benches/charger.rs`).

use std::fmt;

use units::Timestamp;
use v2g_messages::iso20::common_messages as cm;
use v2g_messages::iso20::common_types::{MessageHeaderType, ResponseCodeType};
use v2g_messages::iso20::dc;

use crate::wire::{Frame, PayloadType, WireError};

/// One protocol's messages. Implemented by [`Din`], [`Iso2`] and [`Iso20`].
pub(crate) trait Dialect {
    /// A message: DIN 70121 and ISO 15118-2 the body of a V2G_Message, ISO 15118-20 a document.
    type Message: fmt::Debug;
    /// The ResponseCode enumeration.
    type Code: Copy + PartialEq + fmt::Debug;
    /// FAILED: a fault ends the session.
    const FAILED: Self::Code;
    /// FAILED_SequenceError: a request the state does not allow.
    const SEQUENCE_ERROR: Self::Code;
    /// FAILED_UnknownSession: a request with another SessionID.
    const UNKNOWN_SESSION: Self::Code;
    /// Whether a car may resume a paused session with its old SessionID (not in DIN 70121,
    /// [V2G-DC-393]).
    const RESUMABLE: bool;

    /// The message of a frame, with its name and the SessionID of its header.
    fn open(frame: &Frame) -> Result<Incoming<Self::Message>, Malformed>;
    /// The frame of `message` with `header`.
    fn seal(header: Header, message: Self::Message) -> Result<Frame, String>;
    /// The element name (`CurrentDemandReq`).
    fn name(message: &Self::Message) -> &'static str;
    /// For a request, the name of its response; `None` for any other message.
    fn response_name(message: &Self::Message) -> Option<&'static str>;
    /// The ResponseCode of a response.
    fn response_code(message: &Self::Message) -> Option<Self::Code>;
    /// The schema's name of a response code (`FAILED_SequenceError`).
    fn code_name(code: Self::Code) -> &'static str;
    /// SessionSetupReq or SessionSetupRes: the messages before there is a SessionID.
    fn is_session_setup(message: &Self::Message) -> bool;

    /// Whether a response code is positive: OK, OK_NewSessionEstablished, ... ([V2G-DC-388]; an
    /// ABB answers SessionSetup with plain OK). Warnings and failures are not.
    fn is_positive(code: Self::Code) -> bool {
        Self::code_name(code).starts_with("OK")
    }
}

/// A message as it arrived, before the envelope's rules let it through to a state table.
#[derive(Debug)]
pub(crate) struct Incoming<M> {
    pub(crate) message: M,
    /// Its element name.
    pub(crate) name: &'static str,
    /// The SessionID in its header.
    pub(crate) session_id: Vec<u8>,
}

/// What the header of a message carries.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub(crate) session_id: Vec<u8>,
    /// Seconds since the Unix epoch (ISO 15118-20 only).
    pub(crate) time: u64,
}

impl Header {
    pub(crate) fn new(session_id: Vec<u8>, now: Timestamp) -> Self {
        Self {
            session_id,
            time: unix_secs(now),
        }
    }
}

/// ISO 15118-20 times: seconds since the Unix epoch.
pub(crate) fn unix_secs(now: Timestamp) -> u64 {
    u64::try_from(now.as_unix_micros() / 1_000_000).unwrap_or(0)
}

/// A frame that is not a message of the dialect.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Malformed {
    /// The wrong V2GTP payload type.
    Framing(WireError),
    /// Not a valid EXI document of the schema, or not a message.
    Undecodable(String),
}

fn expect_payload(frame: &Frame, expected: PayloadType) -> Result<(), Malformed> {
    if frame.payload_type == expected {
        Ok(())
    } else {
        Err(Malformed::Framing(WireError::PayloadType {
            found: frame.payload_type,
            expected,
        }))
    }
}

/// DIN 70121 and ISO 15118-2 carry every message as the body of a V2G_Message whose header
/// holds the SessionID, EXI in payload type 0x8001. Their generated types are distinct (their
/// unit enumerations differ), so one macro writes both dialects.
macro_rules! v2g_message_dialect {
    ($dialect:ident, $schema:ident, $title:literal, $resumable:literal) => {
        #[doc = concat!($title, ": body elements of a V2G_Message.")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) struct $dialect;

        impl Dialect for $dialect {
            type Message = v2g_messages::$schema::BodyElement;
            type Code = v2g_messages::$schema::ResponseCodeType;
            const FAILED: Self::Code = Self::Code::Failed;
            const SEQUENCE_ERROR: Self::Code = Self::Code::FailedSequenceError;
            const UNKNOWN_SESSION: Self::Code = Self::Code::FailedUnknownSession;
            const RESUMABLE: bool = $resumable;

            #[inline(always)]
            fn open(frame: &Frame) -> Result<Incoming<Self::Message>, Malformed> {
                use v2g_messages::$schema::{Document, decode};
                expect_payload(frame, PayloadType::Exi)?;
                let msg = match decode(&frame.payload) {
                    Ok(Document::V2gMessage(msg)) => msg,
                    Ok(_) => return Err(Malformed::Undecodable("not a V2G_Message".into())),
                    Err(e) => return Err(Malformed::Undecodable(e.to_string())),
                };
                match msg.body.body_element {
                    Some(message) => Ok(Incoming {
                        name: message.name(),
                        message,
                        session_id: msg.header.session_id.0,
                    }),
                    None => Err(Malformed::Undecodable("V2G_Message without body".into())),
                }
            }

            #[inline(always)]
            fn seal(header: Header, message: Self::Message) -> Result<Frame, String> {
                use v2g_messages::$schema::{
                    BodyType, Document, MessageHeaderType, V2gMessage, encode,
                };
                let msg = Document::V2gMessage(V2gMessage {
                    header: MessageHeaderType {
                        session_id: header.session_id.into(),
                        notification: None,
                        signature: None,
                    },
                    body: BodyType {
                        body_element: Some(message),
                    },
                });
                encode(&msg)
                    .map(|bytes| Frame::new(PayloadType::Exi, bytes))
                    .map_err(|e| e.to_string())
            }

            fn name(message: &Self::Message) -> &'static str {
                message.name()
            }

            fn response_name(message: &Self::Message) -> Option<&'static str> {
                message.response_name()
            }

            fn response_code(message: &Self::Message) -> Option<Self::Code> {
                message.response_code()
            }

            fn code_name(code: Self::Code) -> &'static str {
                code.as_str()
            }

            fn is_session_setup(message: &Self::Message) -> bool {
                use v2g_messages::$schema::BodyElement as B;
                matches!(message, B::SessionSetupReq(_) | B::SessionSetupRes(_))
            }
        }
    };
}

v2g_message_dialect!(Din, din, "DIN SPEC 70121", false);
v2g_message_dialect!(Iso2, iso2, "ISO 15118-2", true);

/// ISO 15118-20 (DC): documents of CommonMessages (payload type 0x8002) and DC (0x8004), each
/// with its own header (SessionID and time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Iso20;

/// An ISO 15118-20 message of either schema.
#[derive(Debug)]
pub(crate) enum Iso20Message {
    Common(cm::Document),
    Dc(dc::Document),
}

impl Iso20Message {
    fn header_mut(&mut self) -> Option<&mut MessageHeaderType> {
        match self {
            Self::Common(d) => d.header_mut(),
            Self::Dc(d) => d.header_mut(),
        }
    }
}

impl Dialect for Iso20 {
    type Message = Iso20Message;
    type Code = ResponseCodeType;
    const FAILED: Self::Code = ResponseCodeType::Failed;
    const SEQUENCE_ERROR: Self::Code = ResponseCodeType::FailedSequenceError;
    const UNKNOWN_SESSION: Self::Code = ResponseCodeType::FailedUnknownSession;
    const RESUMABLE: bool = true;

    #[inline(always)]
    fn open(frame: &Frame) -> Result<Incoming<Self::Message>, Malformed> {
        let message = match frame.payload_type {
            PayloadType::Iso20Main => cm::decode(&frame.payload).map(Iso20Message::Common),
            PayloadType::Iso20Dc => dc::decode(&frame.payload).map(Iso20Message::Dc),
            found => {
                return Err(Malformed::Framing(WireError::PayloadType {
                    found,
                    expected: PayloadType::Iso20Main,
                }));
            }
        };
        let mut message = message.map_err(|e| Malformed::Undecodable(e.to_string()))?;
        let name = Self::name(&message);
        match message.header_mut() {
            Some(header) => Ok(Incoming {
                session_id: std::mem::take(&mut header.session_id.0),
                name,
                message,
            }),
            None => Err(Malformed::Undecodable(format!("{name} is not a message"))),
        }
    }

    #[inline(always)]
    fn seal(header: Header, mut message: Self::Message) -> Result<Frame, String> {
        if let Some(h) = message.header_mut() {
            *h = MessageHeaderType {
                session_id: header.session_id.into(),
                time_stamp: header.time,
                signature: None,
            };
        }
        match &message {
            Iso20Message::Common(d) => {
                cm::encode(d).map(|bytes| Frame::new(PayloadType::Iso20Main, bytes))
            }
            Iso20Message::Dc(d) => {
                dc::encode(d).map(|bytes| Frame::new(PayloadType::Iso20Dc, bytes))
            }
        }
        .map_err(|e| e.to_string())
    }

    fn name(message: &Self::Message) -> &'static str {
        match message {
            Iso20Message::Common(d) => d.name(),
            Iso20Message::Dc(d) => d.name(),
        }
    }

    fn response_name(message: &Self::Message) -> Option<&'static str> {
        match message {
            Iso20Message::Common(d) => d.response_name(),
            Iso20Message::Dc(d) => d.response_name(),
        }
    }

    fn response_code(message: &Self::Message) -> Option<Self::Code> {
        match message {
            Iso20Message::Common(d) => d.response_code(),
            Iso20Message::Dc(d) => d.response_code(),
        }
    }

    fn code_name(code: Self::Code) -> &'static str {
        code.as_str()
    }

    fn is_session_setup(message: &Self::Message) -> bool {
        matches!(
            message,
            Iso20Message::Common(
                cm::Document::SessionSetupReq(_) | cm::Document::SessionSetupRes(_)
            )
        )
    }
}
