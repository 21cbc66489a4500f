//! HomePlug AV / Green PHY management messages (MMEs) on the wire, ethertype 0x88E1.
//!
//! This crate is wire formats only, in the style of smoltcp's `wire` module: no I/O, no state, no
//! clocks. For every message there is
//!
//! - a typed view (`Req<T>`, `Cnf<T>`, `Ind<T>`, `Rsp<T>` in the message's module) over a byte
//!   buffer `T: AsRef<[u8]>`, with `new_checked` / `check_len`, field-range constants in a `field`
//!   module, getters, and setters where `T: AsMut<[u8]>`. If `new_checked` (or `check_len`)
//!   returned `Ok`, no accessor or setter panics;
//! - a `Repr` (`ReqRepr`, ...) with `parse`, `emit` and `buffer_len`: the owned, canonical form.
//!
//! [`Frame`] is the view over a whole Ethernet frame (Ethernet header, MME header, payload) and
//! [`Repr`] / [`Message`] parse and emit whole frames. Message types this crate does not model are
//! kept as [`Message::Unknown`] with their raw payload, never dropped.
//!
//! Sources: the MME layouts are those of the HomePlug Green PHY 1.1 specification as used by
//! ISO 15118-3 (SLAC, Annex A) and of the Qualcomm Atheros vendor-specific MMEs of the QCA7000/7005
//! (OUI 00:B0:52), cross-checked against real captures (`testdata/slac/frames.txt`).

mod address;
mod error;
mod frame;
mod key;
mod mmtype;
mod view;

pub mod cm_atten_char;
pub mod cm_atten_profile;
pub mod cm_mnbc_sound;
pub mod cm_set_key;
pub mod cm_slac_match;
pub mod cm_slac_param;
pub mod cm_start_atten_char;
pub mod cm_validate;
pub mod vs_mod_nvm;
pub mod vs_module_operation;
pub mod vs_pl_link_status;
pub mod vs_rd_mod;
pub mod vs_rs_dev;
pub mod vs_sw_ver;
pub mod vs_wr_mod;
pub mod vs_write_execute_applet;

pub use address::{MacAddr, ParseMacAddrError, RunId, StationId};
pub use error::Error;
pub use frame::{ETHERTYPE_HOMEPLUG, Fmi, Frame, MIN_FRAME_LEN, Message, Repr, field};
pub use key::{Nid, Nmk, SecurityLevel};
pub use mmtype::{MmType, MmTypeKind, Mmv};
pub use view::WireField;

/// The Qualcomm Atheros OUI that opens every QCA vendor-specific MME payload (VS_*).
pub const QUALCOMM_OUI: [u8; 3] = [0x00, 0xB0, 0x52];

/// `Result` with this crate's [`Error`].
pub type Result<T> = core::result::Result<T, Error>;
