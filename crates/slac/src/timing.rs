//! ISO 15118-3 Table A.1 timings and counts, under their names in the standard.
//!
//! The standard's text is not public; values and meanings are as transcribed by public
//! implementations (EVerest libslac, SwitchEV pyslac, Qualcomm open-plc-utils) and cross-checked
//! against real captures (`testdata/slac/frames.txt`).

use std::time::Duration;

/// C_EV_match_MNBC: the number of M-Sounds (CM_MNBC_SOUND.IND) the EV sends.
pub const C_EV_MATCH_MNBC: u8 = 10;
/// C_EV_match_retry: how often the EV repeats an unanswered request of the matching process.
pub const C_EV_MATCH_RETRY: u8 = 2;
/// C_EV_start_atten_char_inds: how often the EV sends CM_START_ATTEN_CHAR.IND.
pub const C_EV_START_ATTEN_CHAR_INDS: u8 = 3;
/// C_sequ_retry: how often an EVSE repeats the E/F toggle after TT_EVSE_SLAC_init expired.
pub const C_SEQU_RETRY: u8 = 2;

/// TP_EV_batch_msg_interval, lower bound: pause between the EV's consecutive
/// CM_START_ATTEN_CHAR.IND / CM_MNBC_SOUND.IND frames.
pub const TP_EV_BATCH_MSG_INTERVAL_MIN: Duration = Duration::from_millis(20);
/// TP_EV_batch_msg_interval, upper bound.
pub const TP_EV_BATCH_MSG_INTERVAL_MAX: Duration = Duration::from_millis(50);
/// TP_EV_match_session: the EV starts validation or CM_SLAC_MATCH.REQ at the latest this long
/// after sending CM_ATTEN_CHAR.RSP.
pub const TP_EV_MATCH_SESSION: Duration = Duration::from_millis(500);
/// TP_EV_SLAC_init: the EV starts matching at the latest this long after plug-in (state B).
pub const TP_EV_SLAC_INIT: Duration = Duration::from_secs(10);
/// TP_EVSE_avg_atten_calc: the EVSE sends CM_ATTEN_CHAR.IND at the latest this long after the
/// last sound or the expiry of TT_EVSE_match_MNBC.
pub const TP_EVSE_AVG_ATTEN_CALC: Duration = Duration::from_millis(100);
/// TP_match_response: general performance time for answering a request.
pub const TP_MATCH_RESPONSE: Duration = Duration::from_millis(100);
/// TP_match_sequence: general performance time for the next request after a response.
pub const TP_MATCH_SEQUENCE: Duration = Duration::from_millis(100);
/// TT_EV_atten_results: how long the EV collects CM_ATTEN_CHAR.IND, from its first
/// CM_START_ATTEN_CHAR.IND.
pub const TT_EV_ATTEN_RESULTS: Duration = Duration::from_millis(1200);
/// TT_EVSE_match_MNBC: how long the EVSE collects sounds, from CM_START_ATTEN_CHAR.IND. Sent in
/// CM_SLAC_PARM.CNF as Time_Out in units of 100 ms ([`TT_EVSE_MATCH_MNBC_FIELD`]).
pub const TT_EVSE_MATCH_MNBC: Duration = Duration::from_millis(600);
/// [`TT_EVSE_MATCH_MNBC`] as the Time_Out field value (units of 100 ms). Chargers that announce
/// more have been seen to trip cars (a Compleo ignored 1000 ms), so it stays at 6.
pub const TT_EVSE_MATCH_MNBC_FIELD: u8 = 6;
/// TT_EVSE_match_session: how long the EVSE waits for CM_VALIDATE.REQ or CM_SLAC_MATCH.REQ
/// after the attenuation characterization.
pub const TT_EVSE_MATCH_SESSION: Duration = Duration::from_secs(10);
/// TT_EVSE_SLAC_init, lower bound: how long the EVSE waits after plug-in (state B with 5 %) for
/// the first CM_SLAC_PARM.REQ.
pub const TT_EVSE_SLAC_INIT_MIN: Duration = Duration::from_secs(20);
/// TT_EVSE_SLAC_init, upper bound. VW-group cars have been seen to start SLAC up to 30 s after
/// plug-in, so chargers should use the upper bound.
pub const TT_EVSE_SLAC_INIT_MAX: Duration = Duration::from_secs(50);
/// TT_match_join: the stations join the network at the latest this long after
/// CM_SLAC_MATCH.CNF; without link the EV retries matching and the EVSE resets.
pub const TT_MATCH_JOIN: Duration = Duration::from_secs(12);
/// TT_match_response: how long a station waits for the answer to a request.
pub const TT_MATCH_RESPONSE: Duration = Duration::from_millis(200);
/// TT_match_sequence: how long a station waits for the next request of a sequence.
pub const TT_MATCH_SEQUENCE: Duration = Duration::from_millis(400);
/// TT_matching_rate: pause before the EV repeats a failed matching process.
pub const TT_MATCHING_RATE: Duration = Duration::from_millis(400);
/// TT_matching_repetition: how long the EV keeps repeating failed matching processes.
pub const TT_MATCHING_REPETITION: Duration = Duration::from_secs(10);
/// T_step_EF: minimum time in control-pilot state E or F when an EVSE toggles to restart.
pub const T_STEP_EF: Duration = Duration::from_secs(4);

/// Carrier groups of a Green PHY attenuation profile (CM_ATTEN_PROFILE.IND, CM_ATTEN_CHAR.IND).
pub const NUM_GROUPS: usize = 58;

/// The longest one matching attempt of a conforming EV against a conforming EVSE may take, from
/// its CM_SLAC_PARM.REQ to the CM_SLAC_MATCH.CNF: the parameter exchange (TT_match_response), the
/// first CM_START_ATTEN_CHAR.IND (TP_match_sequence), collecting results (TT_EV_atten_results),
/// starting the match (TP_EV_match_session) and its answer (TT_match_response).
pub const EV_MATCH_ATTEMPT_MAX: Duration = Duration::from_millis(
    (TT_MATCH_RESPONSE.as_millis()
        + TP_MATCH_SEQUENCE.as_millis()
        + TT_EV_ATTEN_RESULTS.as_millis()
        + TP_EV_MATCH_SESSION.as_millis()
        + TT_MATCH_RESPONSE.as_millis()) as u64,
);

/// How long a host waits for its local modem's CM_SET_KEY.CNF. Not an ISO 15118-3 timer: QCA
/// modems answer within milliseconds, and 1 s is what deployed chargers use.
pub const SET_KEY_TIMEOUT: Duration = Duration::from_secs(1);
/// How often a host sends CM_SET_KEY.REQ before it reports a silent modem.
pub const SET_KEY_ATTEMPTS: u8 = 3;
