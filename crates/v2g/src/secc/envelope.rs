//! The charger's rules that hold in every state of every protocol, written once: a frame must
//! be a request of the negotiated protocol; every request but SessionSetupReq carries our
//! SessionID ([V2G-DC-391]: else FAILED_UnknownSession) and a fault answers FAILED;
//! a request a state does not allow gets its own response type with FAILED_SequenceError; and
//! after any FAILED response the session ends with no current ([V2G-DC-665], [V2G2-538]).
//!
//! A protocol ([`super::din`], [`super::iso2`], [`super::iso20`]) brings only its state table
//! ([`Machine::dispatch`]) and its negative responses ([`Machine::refusal`]).

use std::fmt;

use super::{Ctx, EndReason, SessionState, Step};
pub(crate) use crate::dialect::Incoming as Request;
use crate::dialect::{Dialect, Header, Malformed};
use crate::session_id::SessionId;
use crate::wire::Frame;

/// One protocol's charger state machine.
pub(crate) trait Machine: Dialect + Sized {
    /// What the charger expects next (with the data only that state needs).
    type State: Copy + fmt::Debug;
    /// Before SessionSetupReq.
    const START: Self::State;

    /// Answers a request that passed the envelope's rules.
    fn dispatch(
        state: &mut Self::State,
        env: &mut Envelope<Self>,
        ctx: &mut Ctx<'_>,
        request: &Request<Self::Message>,
    ) -> Step;

    /// The response to `request` carrying `code`: the response type matching the request,
    /// with what the schema needs and the charger's status ([V2G-DC-390], [V2G2-736]).
    /// `None` for messages that are not requests.
    fn refusal(ctx: &Ctx<'_>, request: &Self::Message, code: Self::Code) -> Option<Self::Message>;
}

/// The SessionID and the rules around the protocol's state table.
#[derive(Debug)]
pub(crate) struct Envelope<P> {
    /// Set by SessionSetupReq.
    id: Option<SessionId>,
    protocol: std::marker::PhantomData<fn() -> P>,
}

/// The header's SessionID before SessionSetup.
const NO_SESSION: [u8; 8] = [0; 8];

impl<P: Machine> Envelope<P> {
    /// The rules every state shares: `Some` with the answer (or the end) when one applies.
    #[inline]
    fn check(&self, ctx: &mut Ctx<'_>, request: &Request<P::Message>) -> Option<Step> {
        if P::response_name(&request.message).is_none() {
            let e = format!("{} is not a request", request.name);
            return Some(Step::end(EndReason::Undecodable(e)));
        }
        if P::is_session_setup(&request.message) {
            return None;
        }
        let known = self
            .id
            .as_ref()
            .is_some_and(|id| id.matches(&request.session_id));
        if !known {
            let end = EndReason::UnknownSession {
                request: request.name,
            };
            return Some(self.fail(ctx, request, P::UNKNOWN_SESSION, end));
        }
        let fault = ctx.status.fault?;
        Some(self.fail(ctx, request, P::FAILED, EndReason::Fault(fault)))
    }

    /// SessionSetupReq: a new SessionID, or the paused session's when the car comes back with
    /// it ([V2G2-741]; any other ID, zero or not, gets a new session). Returns whether the
    /// session resumed.
    pub(crate) fn set_up(
        &mut self,
        ctx: &mut Ctx<'_>,
        request: &Request<P::Message>,
        evcc_id: String,
    ) -> bool {
        let resumed = P::RESUMABLE
            && ctx
                .paused
                .is_some_and(|p| !p.is_zero() && p.matches(&request.session_id));
        let id = match ctx.paused {
            Some(p) if resumed => p.clone(),
            _ => SessionId::random(ctx.rng),
        };
        ctx.session_started(&id, evcc_id, resumed);
        self.id = Some(id);
        ctx.state(SessionState::Setup);
        resumed
    }

    /// Answers with `message`.
    #[inline]
    pub(crate) fn reply(&self, ctx: &Ctx<'_>, message: P::Message) -> Step {
        match self.seal(ctx, message) {
            Ok(frame) => Step::reply(frame),
            Err(end) => Step::end(end),
        }
    }

    /// Answers with `message` and ends the session.
    #[inline]
    pub(crate) fn reply_and_end(&self, ctx: &Ctx<'_>, message: P::Message, end: EndReason) -> Step {
        match self.seal(ctx, message) {
            Ok(frame) => Step::reply_and_end(frame, end),
            Err(e) => Step::end(e),
        }
    }

    /// Refuses a valid request with `code` and ends the session.
    pub(crate) fn reject(
        &self,
        ctx: &mut Ctx<'_>,
        request: &Request<P::Message>,
        code: P::Code,
    ) -> Step {
        let end = EndReason::Rejected {
            request: request.name,
            code: P::code_name(code),
        };
        self.fail(ctx, request, code, end)
    }

    /// A request the state does not allow: FAILED_SequenceError.
    pub(crate) fn sequence_error(
        &self,
        ctx: &mut Ctx<'_>,
        request: &Request<P::Message>,
        expected: &'static str,
    ) -> Step {
        let end = EndReason::SequenceError {
            request: request.name,
            expected,
        };
        self.fail(ctx, request, P::SEQUENCE_ERROR, end)
    }

    /// Answers `request` with its response type carrying `code` and ends the session; the
    /// current stops now.
    pub(crate) fn fail(
        &self,
        ctx: &mut Ctx<'_>,
        request: &Request<P::Message>,
        code: P::Code,
        end: EndReason,
    ) -> Step {
        ctx.charging.stop();
        match P::refusal(ctx, &request.message, code) {
            Some(message) => self.reply_and_end(ctx, message, end),
            None => Step::end(end),
        }
    }

    // Always inlined, as `Dialect::seal`: the message is built in place.
    #[inline(always)]
    fn seal(&self, ctx: &Ctx<'_>, message: P::Message) -> Result<Frame, EndReason> {
        let id = self
            .id
            .as_ref()
            .map_or_else(|| NO_SESSION.to_vec(), |id| id.0.clone());
        P::seal(Header::new(id, ctx.now), message).map_err(EndReason::Encoding)
    }
}

/// A session of protocol `P`: its state inside the envelope.
#[derive(Debug)]
pub(crate) struct Session<P: Machine> {
    env: Envelope<P>,
    state: P::State,
}

impl<P: Machine> Session<P> {
    pub(crate) fn new() -> Self {
        Self {
            env: Envelope {
                id: None,
                protocol: std::marker::PhantomData,
            },
            state: P::START,
        }
    }

    pub(crate) fn session_id(&self) -> Option<&SessionId> {
        self.env.id.as_ref()
    }

    /// One request frame.
    #[inline]
    pub(crate) fn handle(&mut self, ctx: &mut Ctx<'_>, frame: &Frame) -> Step {
        // Borrowed where it was decoded: a message is hundreds of bytes.
        let opened = P::open(frame);
        let request = match &opened {
            Ok(request) => request,
            Err(e) => return Step::end(e.clone().into()),
        };
        match self.env.check(ctx, request) {
            Some(step) => step,
            None => P::dispatch(&mut self.state, &mut self.env, ctx, request),
        }
    }
}

impl From<Malformed> for EndReason {
    fn from(e: Malformed) -> Self {
        match e {
            Malformed::Framing(e) => Self::Framing(e),
            Malformed::Undecodable(e) => Self::Undecodable(e),
        }
    }
}
