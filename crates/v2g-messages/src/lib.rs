//! Typed V2G messages (SupportedAppProtocol, DIN SPEC 70121, ISO 15118-2:2013, ISO 15118-20)
//! and their EXI codec, generated from the schemas by `cargo xtask codegen`.
//!
//! Each schema is a module with the schema's types as plain structs (`Option` for optional
//! elements, `Vec` for repeated ones, enums for enumerations, choices and substitution groups),
//! a [`din::Document`]-like enum of its global elements, and `decode`/`encode`:
//!
//! ```
//! use v2g_messages::din::{
//!     self, BodyElement, BodyType, CurrentDemandReqType, DcEvStatusType, Document, MessageHeaderType,
//!     PhysicalValueType, UnitSymbolType, V2gMessage,
//! };
//!
//! let req = CurrentDemandReqType {
//!     dc_ev_status: DcEvStatusType { ev_ready: true, evresssoc: 57, ..Default::default() },
//!     ev_target_current: PhysicalValueType { multiplier: 0, unit: Some(UnitSymbolType::A), value: 100 },
//!     ev_target_voltage: PhysicalValueType { multiplier: 0, unit: Some(UnitSymbolType::V), value: 400 },
//!     ..Default::default()
//! };
//! let msg = Document::V2gMessage(V2gMessage {
//!     header: MessageHeaderType { session_id: vec![0, 0, 0, 0, 0x32, 0xa2, 0x46, 0x51].into(), ..Default::default() },
//!     body: BodyType { body_element: Some(BodyElement::CurrentDemandReq(req)) },
//! });
//! let exi = din::encode(&msg)?;          // the V2GTP payload
//! assert_eq!(din::decode(&exi)?, msg);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Names: Rust types are the schema type names in `UpperCamelCase` (`DC_EVStatusType` ->
//! [`din::DcEvStatusType`]), fields the element names in `snake_case`; the JSON form (serde)
//! keeps the schema's spelling. DIN and ISO 15118-2 types are distinct even where they look
//! alike (their unit enumerations differ: DIN `V` is index 5, ISO 15118-2 `V` index 4).
//!
//! Reading messages needs no tables: every enum of elements ([`din::Document`],
//! [`din::BodyElement`], ...) has `name()` (the schema's element name) and `response_name()`
//! (`FooReq` -> `FooRes`), and `response_code()` and `header()` where its members have them;
//! enumerations have `as_str()`. With the `proptest` feature, `strategies` has a proptest
//! strategy of every type.
//!
//! What is checked, what is not, and the limits (wildcard content, unbounded lists) are in
//! ARCHITECTURE.md, "EXI codec".

pub mod app_handshake;
pub mod din;
pub mod iso2;
pub mod iso20;
mod schema;
pub mod xmldsig;

pub use exi::{Bytes, DecodeError, DecodeErrorKind, EncodeError, EncodeErrorKind, Integer};
pub use schema::{
    AnyDocument, Schema, UnknownSchema, decode, decode_into, encode, encode_into, from_json,
    to_json,
};

/// Proptest strategies for every generated type, within the schema's facets: generated, only
/// for tests (here and in the crates that use the messages), so outside `src/` and behind the
/// `proptest` feature.
#[cfg(feature = "proptest")]
#[path = "../strategies/mod.rs"]
pub mod strategies;
