//! Timers of SDP and the V2G sessions.
//!
//! Values are the standards' (DIN 70121 §9.6, ISO 15118-2 §8.7/Table 109, ISO 15118-20
//! §7.8.3/Table 220) as the public implementations tabulate them: Josev's
//! `shared/messages/{din_spec,iso15118_2,iso15118_20}/timeouts.py` and EVerest's `v2g.hpp`
//! (which cites the requirement ids repeated here). Ours are marked as such.

use std::time::Duration;

/// V2G_SECC_Sequence_Timeout: the charger ends a session whose car sends no request for this
/// long after a response ([V2G2-443], [V2G-DC-432]).
pub const SECC_SEQUENCE_TIMEOUT: Duration = Duration::from_secs(60);

/// V2G_SECC_CommunicationSetup_Performance_Time: from the TCP connection to the car's
/// SessionSetupReq ([V2G2-723], [V2G2-714] as EVerest cites them; the car's own limit,
/// V2G_EVCC_CommunicationSetup_Timeout, is 20 s).
pub const SECC_COMMUNICATION_SETUP: Duration = Duration::from_secs(18);

/// Ours: the charger gives up on an isolation test after this long and answers FAILED, before the
/// car's V2G_EVCC_CableCheck_Timeout (40 s) runs out.
pub const SECC_CABLE_CHECK_LIMIT: Duration = Duration::from_secs(38);

/// Ours: how long the charger answers Ongoing to an authorization it has not decided yet, within
/// the car's V2G_EVCC_Ongoing_Timeout (60 s).
pub const SECC_ONGOING_LIMIT: Duration = Duration::from_secs(55);

/// Ours: while current flows, a car that sends no request for this long gets no current until
/// it asks again. A CurrentDemandReq is due every 100–250 ms (the car gives up after 250 ms
/// without a response), so a second of silence means the car or the link is gone, and 60 s of
/// current without a request (the sequence timeout) is not acceptable.
pub const SECC_POWER_WATCHDOG: Duration = Duration::from_secs(1);

/// V2G_EVCC_Msg_Timeout of SupportedAppProtocolReq and most requests.
pub const EVCC_MSG_TIMEOUT: Duration = Duration::from_secs(2);
/// V2G_EVCC_Msg_Timeout of CurrentDemandReq (DIN 70121, ISO 15118-2).
pub const EVCC_CURRENT_DEMAND_TIMEOUT: Duration = Duration::from_millis(250);
/// V2G_EVCC_Msg_Timeout of DC_ChargeLoopReq (ISO 15118-20).
pub const EVCC_CHARGE_LOOP_TIMEOUT: Duration = Duration::from_millis(500);
/// V2G_EVCC_Msg_Timeout of ISO 15118-2 PowerDeliveryReq, and of ServiceDetailReq in ISO
/// 15118-2 and -20.
pub const EVCC_LONG_MSG_TIMEOUT: Duration = Duration::from_secs(5);
/// V2G_EVCC_CableCheck_Timeout: the whole CableCheck loop.
pub const EVCC_CABLE_CHECK_TIMEOUT: Duration = Duration::from_secs(40);
/// V2G_EVCC_PreCharge_Timeout (DIN 70121, ISO 15118-2).
pub const EVCC_PRE_CHARGE_TIMEOUT: Duration = Duration::from_secs(7);
/// V2G_EVCC_PreCharge_Timeout (ISO 15118-20).
pub const EVCC_PRE_CHARGE_TIMEOUT_20: Duration = Duration::from_secs(10);
/// V2G_EVCC_Ongoing_Timeout: a loop of Ongoing answers (authorization, parameters).
pub const EVCC_ONGOING_TIMEOUT: Duration = Duration::from_secs(60);

/// Time the car waits for an SDP response before repeating the request (ISO 15118-2
/// SDP retransmission, Josev `Timeouts.SDP_REQ`).
pub const SDP_RESPONSE_TIMEOUT: Duration = Duration::from_millis(250);
/// How many SDP requests the car sends before it gives up (Josev's
/// `SDP_MAX_REQUEST_COUNTER`; the Audi Q4 sends 50 with TLS before trying without).
pub const SDP_MAX_REQUESTS: u32 = 50;
