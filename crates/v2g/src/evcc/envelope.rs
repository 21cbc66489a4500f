//! The car's rules for every request of every protocol, written once: a request goes out in
//! its protocol's header with the SessionID the charger gave; the answer must be the response
//! to that request ([`EvccError::Unexpected`] otherwise) with a positive response code
//! ([`EvccError::Refused`] otherwise); SessionSetupRes sets the SessionID, which the car then
//! echoes exactly as received (a Supercharger sends 4 bytes, shared/docs/ccs-research.md §7).
//!
//! A protocol ([`super::din`], [`super::iso2`], [`super::iso20`]) brings only its request
//! sequence ([`Sequence`]).

use std::fmt;
use std::time::Duration;

use units::Timestamp;

use super::{Car, EvccError, Next, Outgoing};
use crate::dialect::{Dialect, Header, Malformed};
use crate::session_id::SessionId;
use crate::wire::Frame;

/// The message type of a sequence's dialect.
pub(crate) type Message<S> = <<S as Sequence>::Dialect as Dialect>::Message;

/// One protocol's request sequence.
pub(crate) trait Sequence: fmt::Debug {
    type Dialect: Dialect;

    /// The next request, and how long to wait for its response.
    fn request(&mut self, car: &mut Car, now: Timestamp) -> (Message<Self>, Duration);

    /// The positive response to the last request.
    fn response(
        &mut self,
        car: &mut Car,
        now: Timestamp,
        response: &Message<Self>,
    ) -> Result<Next, EvccError>;
}

/// The next request of `seq`, ready to send.
pub(crate) fn send<S: Sequence>(
    seq: &mut S,
    car: &mut Car,
    now: Timestamp,
) -> Result<Outgoing, EvccError> {
    let (message, timeout) = seq.request(car, now);
    let name = S::Dialect::name(&message);
    let response = S::Dialect::response_name(&message).unwrap_or("a response");
    let header = Header::new(car.header_session_id(), now);
    let frame = S::Dialect::seal(header, message).map_err(EvccError::Encoding)?;
    Ok(Outgoing {
        name,
        response,
        frame,
        timeout,
    })
}

/// A frame answering `request`, whose response is `expected`.
pub(crate) fn receive<S: Sequence>(
    seq: &mut S,
    car: &mut Car,
    now: Timestamp,
    frame: &Frame,
    (request, expected): (&'static str, &'static str),
) -> Result<Next, EvccError> {
    // Borrowed where it was decoded: a message is hundreds of bytes.
    let opened = S::Dialect::open(frame);
    let response = match &opened {
        Ok(response) => response,
        Err(e) => return Err(e.clone().into()),
    };
    if response.name != expected {
        return Err(EvccError::Unexpected {
            expected,
            got: response.name.to_owned(),
        });
    }
    if let Some(code) = S::Dialect::response_code(&response.message)
        && !S::Dialect::is_positive(code)
    {
        return Err(EvccError::Refused {
            request,
            code: S::Dialect::code_name(code).to_owned(),
        });
    }
    if S::Dialect::is_session_setup(&response.message) {
        car.session_id = SessionId(response.session_id.clone());
    }
    seq.response(car, now, &response.message)
}

impl From<Malformed> for EvccError {
    fn from(e: Malformed) -> Self {
        match e {
            Malformed::Framing(e) => Self::Framing(e),
            Malformed::Undecodable(e) => Self::Undecodable(e),
        }
    }
}

/// A response the sequence's table has no row for: [`receive`] lets only the response to the
/// last request through, so this is a bug in the table.
pub(crate) fn unexpected<D: Dialect>(response: &D::Message) -> EvccError {
    EvccError::Unexpected {
        expected: "the response the state expects",
        got: D::name(response).to_owned(),
    }
}
