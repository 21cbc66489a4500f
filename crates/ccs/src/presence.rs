//! When the matched car has gone, for a charger without a control pilot (`gridlet evse`).
//!
//! A charger hands its powerline network key (NMK) to the car in CM_SLAC_MATCH.CNF, and the
//! car's modem joins the charger's network with it. The charger must keep that key in its own
//! modem for as long as the car is there: a modem given a new key leaves the network, and the
//! car's SDP and V2G traffic no longer reaches the charger. Only once the car has gone does the
//! charger program a new key, so that the next car gets a network of its own and the last one
//! cannot stay in it ([V2G3-A09-121], HomePlug "leaving an AVLN").
//!
//! With a control pilot the car leaves when the pilot returns to state A (the daemon's charge
//! point calls [`slac::Evse::handle_car_left`]). Without one, the V2G stage is the only witness,
//! and [`CarPresence`] infers the departure from it:
//!
//! | after | the car has gone when |
//! |---|---|
//! | the match | no SDP request within [`SDP_AFTER_MATCH`] |
//! | an SDP answer | no TCP connection within [`CONNECT_AFTER_SDP`] (another SDP request re-arms it) |
//! | a connection | its session ended and the connection is closed |
//! | a paused session's close | no SDP request within [`SDP_AFTER_MATCH`] (the car may come back to resume) |
//!
//! [`ChargerSlac`] runs [`slac::Evse`] with that rule, as one sans-IO [`plc::Machine`]: the
//! `gridlet evse` application drives it with [`plc::drive_with_inputs`] and feeds it what its
//! SDP server and session server saw ([`Activity`]).

use std::collections::VecDeque;
use std::time::Duration;

use homeplug::Repr;
use slac::timing::TT_MATCH_JOIN;
use slac::{Evse, EvseConfig, EvseEvent};
use tracing::info;
use units::Timestamp;
use v2g::timing::{SDP_MAX_REQUESTS, SDP_RESPONSE_TIMEOUT};

/// How long after the match (or a paused session's close) a car without SDP request is taken as
/// gone: TT_match_join for its modem to join our network, then its SDP requests
/// (SDP_MAX_REQUESTS × SDP_RESPONSE_TIMEOUT, 12.5 s). 24.5 s in all.
pub const SDP_AFTER_MATCH: Duration = TT_MATCH_JOIN.saturating_add(Duration::from_millis(
    SDP_MAX_REQUESTS as u64 * SDP_RESPONSE_TIMEOUT.as_millis() as u64,
));

/// How long after an SDP answer a car that has not connected is taken as gone:
/// V2G_EVCC_CommunicationSetup_Timeout, the car's own limit for setting up communication.
pub const CONNECT_AFTER_SDP: Duration = Duration::from_secs(20);

/// What the V2G stage saw, for [`CarPresence`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// An SDP request was answered.
    SdpAnswered,
    /// A car connected to the V2G server.
    Connected,
    /// A session ended and its connection is closed. `paused`: the car paused the session
    /// (ISO 15118-2 SessionStop with Pause) and may come back to resume it.
    Closed {
        /// The session was paused.
        paused: bool,
    },
}

/// Why the car is taken as gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Departure {
    /// Its session ended and the connection closed.
    #[error("its session ended")]
    SessionClosed,
    /// No SDP request came within [`SDP_AFTER_MATCH`] of the match or a paused session's end.
    #[error("no SDP request within {SDP_AFTER_MATCH:?}")]
    NoSdp,
    /// It did not connect within [`CONNECT_AFTER_SDP`] of an SDP answer.
    #[error("no connection within {CONNECT_AFTER_SDP:?} of the SDP answer")]
    NoConnection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Watch {
    /// No car holds our key.
    Idle,
    /// A car holds our key: waiting for its SDP request.
    ExpectSdp { deadline: Timestamp },
    /// Answered its SDP request: waiting for its connection.
    ExpectConnection { deadline: Timestamp },
    /// Its session runs.
    InSession,
}

/// Infers when the car that holds the charger's key has gone, from what the V2G stage saw. See
/// the [module docs](self). Sans-IO: no clock, no sockets.
#[derive(Debug)]
pub struct CarPresence {
    watch: Watch,
    gone: Option<Departure>,
}

impl Default for CarPresence {
    fn default() -> Self {
        Self::new()
    }
}

impl CarPresence {
    /// No car holds the key.
    pub fn new() -> Self {
        Self {
            watch: Watch::Idle,
            gone: None,
        }
    }

    /// A car matched: it holds the key now.
    pub fn handle_matched(&mut self, now: Timestamp) {
        self.watch = Watch::ExpectSdp {
            deadline: now + SDP_AFTER_MATCH,
        };
    }

    /// The match ended without the car leaving (it restarts SLAC, or did not join in time and
    /// will retry): its next match re-arms the watch.
    pub fn handle_unmatched(&mut self) {
        self.watch = Watch::Idle;
    }

    /// The V2G stage saw `activity`. Activity while no car holds the key (a car that skipped
    /// SLAC) changes nothing.
    pub fn handle_activity(&mut self, now: Timestamp, activity: Activity) {
        self.watch = match (self.watch, activity) {
            (Watch::Idle, _) => Watch::Idle,
            (Watch::ExpectSdp { .. } | Watch::ExpectConnection { .. }, Activity::SdpAnswered) => {
                Watch::ExpectConnection {
                    deadline: now + CONNECT_AFTER_SDP,
                }
            }
            (Watch::InSession, Activity::SdpAnswered) => Watch::InSession,
            (_, Activity::Connected) => Watch::InSession,
            (_, Activity::Closed { paused: true }) => Watch::ExpectSdp {
                deadline: now + SDP_AFTER_MATCH,
            },
            (_, Activity::Closed { paused: false }) => {
                self.gone = Some(Departure::SessionClosed);
                Watch::Idle
            }
        };
    }

    /// Deadlines up to `now` have passed.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let reason = match self.watch {
            Watch::ExpectSdp { deadline } if deadline <= now => Departure::NoSdp,
            Watch::ExpectConnection { deadline } if deadline <= now => Departure::NoConnection,
            _ => return,
        };
        self.gone = Some(reason);
        self.watch = Watch::Idle;
    }

    /// When [`Self::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        match self.watch {
            Watch::ExpectSdp { deadline } | Watch::ExpectConnection { deadline } => Some(deadline),
            Watch::Idle | Watch::InSession => None,
        }
    }

    /// Whether the car has gone (once per departure).
    pub fn poll_departure(&mut self) -> Option<Departure> {
        self.gone.take()
    }
}

/// What [`ChargerSlac`] reports.
#[derive(Debug, Clone, PartialEq)]
pub enum ChargerSlacEvent {
    /// SLAC.
    Slac(EvseEvent),
    /// The car that held our key has gone: the charger has programmed a new key and waits for
    /// the next car.
    CarGone(Departure),
}

/// What the charger's SLAC task is told besides frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlacInput {
    /// What the V2G stage saw (for the presence rule, without a control pilot).
    Activity(Activity),
    /// The control pilot shows a car (state B), or the E/F toggle is over: SLAC may begin.
    CarPlugged,
    /// The control pilot shows no car (state A), or an error: the match and its key go.
    CarLeft,
}

/// The charger's SLAC: [`slac::Evse`] whose key changes only when the matched car has gone. With
/// a control pilot ([`ChargerSlac::with_pilot`]) the pilot says when ([`SlacInput::CarPlugged`],
/// [`SlacInput::CarLeft`]); without one ([`ChargerSlac::new`]) a car is taken as plugged in all
/// the time and [`CarPresence`] infers the departure from the V2G stage. See the
/// [module docs](self).
#[derive(Debug)]
pub struct ChargerSlac {
    evse: Evse,
    /// `None` with a control pilot.
    presence: Option<CarPresence>,
    events: VecDeque<ChargerSlacEvent>,
}

impl ChargerSlac {
    /// A charger without a control pilot: it draws its first key and waits for cars at once.
    pub fn new(config: EvseConfig, now: Timestamp) -> Self {
        let mut evse = Evse::new(config, now);
        // No control pilot: a car is taken as plugged in all the time.
        evse.handle_car_plugged(now);
        Self {
            evse,
            presence: Some(CarPresence::new()),
            events: VecDeque::new(),
        }
    }

    /// A charger whose control pilot says when a car is plugged in and when it leaves.
    pub fn with_pilot(config: EvseConfig, now: Timestamp) -> Self {
        Self {
            evse: Evse::new(config, now),
            presence: None,
            events: VecDeque::new(),
        }
    }

    /// Something besides a frame.
    pub fn handle_input(&mut self, now: Timestamp, input: SlacInput) {
        match input {
            SlacInput::Activity(a) => {
                if let Some(p) = &mut self.presence {
                    p.handle_activity(now, a);
                }
            }
            SlacInput::CarPlugged => self.evse.handle_car_plugged(now),
            SlacInput::CarLeft => self.evse.handle_car_left(now),
        }
        self.settle(now);
    }

    /// The SLAC machine (its network, its match).
    pub fn evse(&self) -> &Evse {
        &self.evse
    }

    /// The V2G stage saw `activity`.
    pub fn handle_activity(&mut self, now: Timestamp, activity: Activity) {
        self.handle_input(now, SlacInput::Activity(activity));
    }

    /// A frame from the interface.
    pub fn handle_frame(&mut self, now: Timestamp, frame: &[u8]) {
        self.evse.handle_frame(now, frame);
        self.settle(now);
    }

    /// Deadlines up to `now` have passed.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if self.evse.poll_timeout().is_some_and(|t| t <= now) {
            self.evse.handle_timeout(now);
        }
        if let Some(p) = &mut self.presence
            && p.poll_timeout().is_some_and(|t| t <= now)
        {
            p.handle_timeout(now);
        }
        self.settle(now);
    }

    /// The next frame to send.
    pub fn poll_transmit(&mut self) -> Option<Repr> {
        self.evse.poll_transmit()
    }

    /// When [`Self::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.evse
            .poll_timeout()
            .into_iter()
            .chain(self.presence.as_ref().and_then(CarPresence::poll_timeout))
            .min()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ChargerSlacEvent> {
        self.events.pop_front()
    }

    /// Reacts to what the two machines said, until neither has more to say.
    fn settle(&mut self, now: Timestamp) {
        loop {
            if let Some(reason) = self.presence.as_mut().and_then(CarPresence::poll_departure) {
                info!("SLAC: the car has gone ({reason}): new key for the next car");
                // The car's key goes (Evse programs a new one), and the next car may start.
                self.evse.handle_car_left(now);
                self.evse.handle_car_plugged(now);
                self.events.push_back(ChargerSlacEvent::CarGone(reason));
                continue;
            }
            let Some(event) = self.evse.poll_event() else {
                return;
            };
            if let Some(presence) = &mut self.presence {
                match &event {
                    EvseEvent::Matched(_) => presence.handle_matched(now),
                    EvseEvent::Unmatched { .. } => presence.handle_unmatched(),
                    // Without a pilot there is no E/F toggle to restart the car's SLAC: keep
                    // waiting.
                    EvseEvent::SlacInitTimeout => self.evse.handle_car_plugged(now),
                    _ => {}
                }
            }
            self.events.push_back(ChargerSlacEvent::Slac(event));
        }
    }
}

impl plc::Machine for ChargerSlac {
    type Event = ChargerSlacEvent;

    fn handle_frame(&mut self, now: Timestamp, frame: &[u8]) {
        Self::handle_frame(self, now, frame);
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        Self::handle_timeout(self, now);
    }

    fn poll_transmit(&mut self) -> Option<Repr> {
        Self::poll_transmit(self)
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        Self::poll_timeout(self)
    }

    fn poll_event(&mut self) -> Option<ChargerSlacEvent> {
        Self::poll_event(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp::from_unix_secs(1_750_000_000);

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn a_session_that_closes_ends_the_cars_presence() {
        let mut p = CarPresence::new();
        p.handle_matched(T0);
        p.handle_activity(T0 + secs(2), Activity::SdpAnswered);
        p.handle_activity(T0 + secs(2), Activity::Connected);
        // However long the session runs, the car stays.
        assert_eq!(p.poll_timeout(), None);
        p.handle_timeout(T0 + secs(3600));
        assert_eq!(p.poll_departure(), None);
        p.handle_activity(T0 + secs(3600), Activity::Closed { paused: false });
        assert_eq!(p.poll_departure(), Some(Departure::SessionClosed));
        assert_eq!(p.poll_departure(), None, "reported once");
        assert_eq!(p.poll_timeout(), None);
    }

    #[test]
    fn a_car_that_never_asks_for_sdp_is_gone_after_the_sdp_window() {
        let mut p = CarPresence::new();
        p.handle_matched(T0);
        assert_eq!(p.poll_timeout(), Some(T0 + SDP_AFTER_MATCH));
        assert_eq!(SDP_AFTER_MATCH, Duration::from_millis(24_500));
        p.handle_timeout(T0 + SDP_AFTER_MATCH - Duration::from_millis(1));
        assert_eq!(p.poll_departure(), None);
        p.handle_timeout(T0 + SDP_AFTER_MATCH);
        assert_eq!(p.poll_departure(), Some(Departure::NoSdp));
    }

    #[test]
    fn sdp_requests_re_arm_the_wait_for_the_connection() {
        let mut p = CarPresence::new();
        p.handle_matched(T0);
        p.handle_activity(T0 + secs(1), Activity::SdpAnswered);
        p.handle_activity(T0 + secs(15), Activity::SdpAnswered);
        p.handle_timeout(T0 + secs(21));
        assert_eq!(p.poll_departure(), None, "the second answer re-armed it");
        assert_eq!(p.poll_timeout(), Some(T0 + secs(15) + CONNECT_AFTER_SDP));
        p.handle_timeout(T0 + secs(35));
        assert_eq!(p.poll_departure(), Some(Departure::NoConnection));
    }

    #[test]
    fn a_paused_session_keeps_the_car_for_its_return() {
        let mut p = CarPresence::new();
        p.handle_matched(T0);
        p.handle_activity(T0, Activity::Connected);
        p.handle_activity(T0 + secs(60), Activity::Closed { paused: true });
        assert_eq!(p.poll_departure(), None);
        // It comes back and resumes.
        p.handle_activity(T0 + secs(70), Activity::SdpAnswered);
        p.handle_activity(T0 + secs(70), Activity::Connected);
        p.handle_activity(T0 + secs(200), Activity::Closed { paused: true });
        // This time it stays away.
        p.handle_timeout(T0 + secs(200) + SDP_AFTER_MATCH);
        assert_eq!(p.poll_departure(), Some(Departure::NoSdp));
    }

    #[test]
    fn activity_without_a_match_or_after_an_unmatch_changes_nothing() {
        let mut p = CarPresence::new();
        // A car that skipped SLAC (Josev) comes and goes.
        p.handle_activity(T0, Activity::SdpAnswered);
        p.handle_activity(T0, Activity::Connected);
        p.handle_activity(T0 + secs(30), Activity::Closed { paused: false });
        assert_eq!((p.poll_departure(), p.poll_timeout()), (None, None));
        // A matched car restarts SLAC: no departure until it matches again.
        p.handle_matched(T0 + secs(40));
        p.handle_unmatched();
        p.handle_timeout(T0 + secs(100));
        assert_eq!((p.poll_departure(), p.poll_timeout()), (None, None));
    }
}
