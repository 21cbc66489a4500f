//! Typed V2G messages and their EXI codec.
pub mod app_handshake;
pub mod din;
pub mod iso2;
pub mod iso20;
mod schema;
pub mod xmldsig;
pub use schema::{AnyDocument, Schema, UnknownSchema, decode, encode, from_json, to_json};
