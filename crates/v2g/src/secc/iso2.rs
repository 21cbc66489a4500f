//! ISO 15118-2:2013 (DC, external payment), the charger's state machine.
//!
//! The sequence ([V2G2-541]…[V2G2-601] as EVerest's `iso_server.hpp` tabulates it):
//! SessionSetup (a paused session may be resumed, [V2G2-741]), ServiceDiscovery, ServiceDetail
//! (optional), PaymentServiceSelection (ExternalPayment), Authorization until Finished,
//! ChargeParameterDiscovery, CableCheck until Finished, PreCharge (repeated), PowerDelivery
//! (Start), CurrentDemand in a loop, PowerDelivery (Stop, or Renegotiate back to
//! ChargeParameterDiscovery), WeldingDetection (repeated), SessionStop (Terminate or Pause).
//! SessionStopReq is allowed in every state but the charge loop.

use units::{Percent, Volts, WattHours, Watts};
use v2g_messages::iso2::{
    self, AuthorizationResType, BodyElement, BodyType, CableCheckResType,
    ChargeParameterDiscoveryResType, ChargeProgressType, ChargeServiceType, ChargingSessionType,
    CurrentDemandResType, DcEvStatusType, DcEvseChargeParameterType, DcEvseStatusCodeType,
    DcEvseStatusType, Document, EnergyTransferModeType, EvChargeParameter, EvseChargeParameter,
    EvseNotificationType, EvseProcessingType, EvseStatus, IsolationLevelType, MessageHeaderType,
    PMaxScheduleEntryType, PMaxScheduleType, PaymentOptionListType, PaymentOptionType,
    PaymentServiceSelectionResType, PowerDeliveryResType, PreChargeResType,
    RelativeTimeIntervalType, ResponseCodeType, SaScheduleListType, SaScheduleTupleType,
    SaSchedules, ServiceCategoryType, ServiceDetailResType, ServiceDiscoveryResType,
    SessionSetupResType, SessionStopResType, SupportedEnergyTransferModeType, TimeInterval,
    UnitSymbolType as Unit, V2gMessage, WeldingDetectionResType,
};

use super::charging::{Authorize, CableCheck, Condition};
use super::{Ctx, EndReason, SessionState, Step};
use crate::charger::Isolation;
use crate::session_id::SessionId;
use crate::values::{from_iso2, iso2_value};
use crate::wire::{Frame, PayloadType, WireError};

/// The charge service: ServiceID 1.
const CHARGE_SERVICE_ID: u16 = 1;
/// The one SAScheduleTuple offered. Josev's EV rejects 0 (its SAScheduleTupleID type starts at
/// 1, shared/docs/ccs-research.md §1.3).
const SA_SCHEDULE_TUPLE_ID: u8 = 1;
/// Validity of the offered PMax schedule: a day.
const SCHEDULE_DURATION_S: u32 = 86_400;

/// The ISO 15118-2 states of the charger: what it expects next.
// States named for what they expect next, as rustls names its handshake states.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    ExpectSessionSetup,
    ExpectServiceDiscovery,
    ExpectServiceDetailOrPaymentServiceSelection,
    ExpectAuthorization,
    ExpectChargeParameterDiscovery {
        renegotiation: bool,
    },
    ExpectCableCheck,
    ExpectPreCharge,
    ExpectPreChargeOrPowerDelivery,
    /// After a renegotiation: PowerDelivery(Start) resumes the charge loop.
    ExpectPowerDelivery,
    ExpectCurrentDemand,
    ExpectCurrentDemandOrPowerDelivery,
    ExpectWeldingDetectionOrSessionStop,
}

impl State {
    fn expected(self) -> &'static str {
        match self {
            Self::ExpectSessionSetup => "SessionSetupReq",
            Self::ExpectServiceDiscovery => "ServiceDiscoveryReq",
            Self::ExpectServiceDetailOrPaymentServiceSelection => {
                "ServiceDetailReq or PaymentServiceSelectionReq"
            }
            Self::ExpectAuthorization => "AuthorizationReq",
            Self::ExpectChargeParameterDiscovery { .. } => "ChargeParameterDiscoveryReq",
            Self::ExpectCableCheck => "CableCheckReq",
            Self::ExpectPreCharge => "PreChargeReq",
            Self::ExpectPreChargeOrPowerDelivery => "PreChargeReq or PowerDeliveryReq",
            Self::ExpectPowerDelivery => "PowerDeliveryReq",
            Self::ExpectCurrentDemand => "CurrentDemandReq",
            Self::ExpectCurrentDemandOrPowerDelivery => "CurrentDemandReq or PowerDeliveryReq",
            Self::ExpectWeldingDetectionOrSessionStop => "WeldingDetectionReq or SessionStopReq",
        }
    }

    /// SessionStopReq is allowed from ServiceDiscovery on, except in the charge loop.
    fn allows_session_stop(self) -> bool {
        !matches!(
            self,
            Self::ExpectSessionSetup
                | Self::ExpectCurrentDemand
                | Self::ExpectCurrentDemandOrPowerDelivery
        )
    }
}

/// An ISO 15118-2 session. See the [module docs](self).
#[derive(Debug)]
pub struct Session {
    id: Option<SessionId>,
    state: State,
}

impl Session {
    pub(crate) fn new() -> Self {
        Self {
            id: None,
            state: State::ExpectSessionSetup,
        }
    }

    pub(crate) fn session_id(&self) -> Option<&SessionId> {
        self.id.as_ref()
    }

    pub(crate) fn handle(&mut self, ctx: &mut Ctx<'_>, frame: &Frame) -> Step {
        if frame.payload_type != PayloadType::Exi {
            return Step::end(EndReason::Framing(WireError::PayloadType {
                found: frame.payload_type,
                expected: PayloadType::Exi,
            }));
        }
        let msg = match iso2::decode(&frame.payload) {
            Ok(Document::V2gMessage(msg)) => msg,
            Ok(_) => return Step::end(EndReason::Undecodable("not a V2G_Message".into())),
            Err(e) => return Step::end(EndReason::Undecodable(e.to_string())),
        };
        let Some(body) = msg.body.body_element else {
            return Step::end(EndReason::Undecodable("V2G_Message without body".into()));
        };
        let Some(request) = request_name(&body) else {
            return Step::end(EndReason::Undecodable(format!(
                "{} is not a request",
                message_name(&body)
            )));
        };
        let header_id = msg.header.session_id.0;
        if !matches!(body, BodyElement::SessionSetupReq(_)) {
            let known = self.id.as_ref().is_some_and(|id| id.matches(&header_id));
            if !known {
                return self.fail(
                    ctx,
                    &body,
                    ResponseCodeType::FailedUnknownSession,
                    EndReason::UnknownSession { request },
                );
            }
            if let Some(fault) = ctx.status.fault {
                return self.fail(
                    ctx,
                    &body,
                    ResponseCodeType::Failed,
                    EndReason::Fault(fault),
                );
            }
        }
        self.dispatch(ctx, body, request, &header_id)
    }

    fn dispatch(
        &mut self,
        ctx: &mut Ctx<'_>,
        body: BodyElement,
        request: &'static str,
        header_id: &[u8],
    ) -> Step {
        use BodyElement as B;
        use State as S;
        match (self.state, body) {
            (S::ExpectSessionSetup, B::SessionSetupReq(req)) => {
                // A car that paused comes back with its old SessionID ([V2G2-741]); any other
                // ID, zero or not, gets a new session.
                let resumed = ctx
                    .paused
                    .is_some_and(|p| !p.is_zero() && p.matches(header_id));
                let id = match ctx.paused {
                    Some(p) if resumed => p.clone(),
                    _ => SessionId::random(ctx.rng),
                };
                ctx.session_started(&id, req.evccid.to_hex(), resumed);
                self.id = Some(id);
                self.state = S::ExpectServiceDiscovery;
                ctx.state(SessionState::Setup);
                let res = SessionSetupResType {
                    response_code: if resumed {
                        ResponseCodeType::OkOldSessionJoined
                    } else {
                        ResponseCodeType::OkNewSessionEstablished
                    },
                    evseid: ctx.config.evse_id.clone(),
                    evse_time_stamp: i64::try_from(ctx.unix_secs()).ok(),
                };
                self.reply(B::SessionSetupRes(res))
            }
            (S::ExpectServiceDiscovery, B::ServiceDiscoveryReq(_)) => {
                self.state = S::ExpectServiceDetailOrPaymentServiceSelection;
                self.reply(B::ServiceDiscoveryRes(service_discovery_res(
                    ctx,
                    ResponseCodeType::Ok,
                )))
            }
            (S::ExpectServiceDetailOrPaymentServiceSelection, B::ServiceDetailReq(req)) => {
                if req.service_id != CHARGE_SERVICE_ID {
                    let code = ResponseCodeType::FailedServiceIdInvalid;
                    return self.reject(ctx, B::ServiceDetailReq(req), request, code);
                }
                let res = ServiceDetailResType {
                    response_code: ResponseCodeType::Ok,
                    service_id: req.service_id,
                    service_parameter_list: None,
                };
                self.reply(B::ServiceDetailRes(res))
            }
            (
                S::ExpectServiceDetailOrPaymentServiceSelection,
                B::PaymentServiceSelectionReq(req),
            ) => {
                if req.selected_payment_option != PaymentOptionType::ExternalPayment {
                    let code = ResponseCodeType::FailedPaymentSelectionInvalid;
                    return self.reject(ctx, B::PaymentServiceSelectionReq(req), request, code);
                }
                let services = &req.selected_service_list.selected_service;
                if !services.iter().any(|s| s.service_id == CHARGE_SERVICE_ID) {
                    let code = ResponseCodeType::FailedNoChargeServiceSelected;
                    return self.reject(ctx, B::PaymentServiceSelectionReq(req), request, code);
                }
                if services.iter().any(|s| s.service_id != CHARGE_SERVICE_ID) {
                    let code = ResponseCodeType::FailedServiceSelectionInvalid;
                    return self.reject(ctx, B::PaymentServiceSelectionReq(req), request, code);
                }
                self.state = S::ExpectAuthorization;
                ctx.state(SessionState::Authorization);
                let res = PaymentServiceSelectionResType {
                    response_code: ResponseCodeType::Ok,
                };
                self.reply(B::PaymentServiceSelectionRes(res))
            }
            (S::ExpectAuthorization, B::AuthorizationReq(_)) => {
                let processing = match ctx.charging.authorize(ctx.now, ctx.status, ctx.config) {
                    Authorize::Granted => {
                        self.state = S::ExpectChargeParameterDiscovery {
                            renegotiation: false,
                        };
                        ctx.state(SessionState::Parameters);
                        EvseProcessingType::Finished
                    }
                    Authorize::Ongoing => EvseProcessingType::Ongoing,
                    Authorize::Denied | Authorize::TimedOut => {
                        let res = AuthorizationResType {
                            response_code: ResponseCodeType::Failed,
                            evse_processing: EvseProcessingType::Finished,
                        };
                        return self
                            .reply_and_end(B::AuthorizationRes(res), EndReason::NotAuthorized);
                    }
                };
                let res = AuthorizationResType {
                    response_code: ResponseCodeType::Ok,
                    evse_processing: processing,
                };
                self.reply(B::AuthorizationRes(res))
            }
            (
                S::ExpectChargeParameterDiscovery { renegotiation },
                B::ChargeParameterDiscoveryReq(req),
            ) => {
                if !matches!(
                    req.requested_energy_transfer_mode,
                    EnergyTransferModeType::DcCore | EnergyTransferModeType::DcExtended
                ) {
                    // [V2G2-476]
                    let code = ResponseCodeType::FailedWrongEnergyTransferMode;
                    return self.reject(ctx, B::ChargeParameterDiscoveryReq(req), request, code);
                }
                let EvChargeParameter::DcEvChargeParameter(p) = &req.ev_charge_parameter else {
                    // [V2G2-477]
                    let code = ResponseCodeType::FailedWrongChargeParameter;
                    return self.reject(ctx, B::ChargeParameterDiscoveryReq(req), request, code);
                };
                ev_status(ctx, &p.dc_ev_status);
                ctx.ev(|ev| {
                    ev.max_voltage = Some(Volts(from_iso2(&p.ev_maximum_voltage_limit)));
                    ev.max_current = Some(units::Amps(from_iso2(&p.ev_maximum_current_limit)));
                    ev.max_power = p
                        .ev_maximum_power_limit
                        .as_ref()
                        .map(|v| Watts(from_iso2(v)));
                    ev.capacity = p
                        .ev_energy_capacity
                        .as_ref()
                        .map(|v| WattHours(from_iso2(v)));
                    ev.target_soc = p.full_soc.map(|s| Percent(f64::from(s)));
                });
                self.state = if renegotiation {
                    S::ExpectPowerDelivery
                } else {
                    S::ExpectCableCheck
                };
                let res = charge_parameter_discovery_res(ctx, ResponseCodeType::Ok);
                self.reply(B::ChargeParameterDiscoveryRes(res))
            }
            (S::ExpectCableCheck, B::CableCheckReq(req)) => {
                ev_status(ctx, &req.dc_ev_status);
                ctx.state(SessionState::CableCheck);
                let (processing, end) =
                    match ctx.charging.cable_check(ctx.now, ctx.status, ctx.config) {
                        CableCheck::Ongoing => (EvseProcessingType::Ongoing, None),
                        CableCheck::Done(_) => {
                            self.state = S::ExpectPreCharge;
                            ctx.state(SessionState::PreCharge);
                            (EvseProcessingType::Finished, None)
                        }
                        CableCheck::Failed(level) => (
                            EvseProcessingType::Finished,
                            Some(EndReason::CableCheckFailed(level)),
                        ),
                    };
                let res = CableCheckResType {
                    response_code: if end.is_some() {
                        ResponseCodeType::Failed
                    } else {
                        ResponseCodeType::Ok
                    },
                    dc_evse_status: dc_status(ctx),
                    evse_processing: processing,
                };
                match end {
                    Some(end) => self.reply_and_end(B::CableCheckRes(res), end),
                    None => self.reply(B::CableCheckRes(res)),
                }
            }
            (S::ExpectPreCharge | S::ExpectPreChargeOrPowerDelivery, B::PreChargeReq(req)) => {
                ev_status(ctx, &req.dc_ev_status);
                let warning = ctx.charging.precharge(
                    from_iso2(&req.ev_target_voltage),
                    from_iso2(&req.ev_target_current),
                    ctx.status,
                    ctx.config,
                );
                if let Some(w) = warning {
                    ctx.warn(w);
                }
                self.state = S::ExpectPreChargeOrPowerDelivery;
                let res = PreChargeResType {
                    response_code: ResponseCodeType::Ok,
                    dc_evse_status: dc_status(ctx),
                    evse_present_voltage: iso2_value(ctx.status.present.voltage.0, Unit::V),
                };
                self.reply(B::PreChargeRes(res))
            }
            (
                S::ExpectPreChargeOrPowerDelivery
                | S::ExpectPowerDelivery
                | S::ExpectCurrentDemand
                | S::ExpectCurrentDemandOrPowerDelivery,
                B::PowerDeliveryReq(req),
            ) => {
                if let Some(iso2::EvPowerDeliveryParameter::DcEvPowerDeliveryParameter(p)) =
                    &req.ev_power_delivery_parameter
                {
                    ev_status(ctx, &p.dc_ev_status);
                }
                match req.charge_progress {
                    ChargeProgressType::Start => {
                        if req.sa_schedule_tuple_id != SA_SCHEDULE_TUPLE_ID {
                            let code = ResponseCodeType::FailedTariffSelectionInvalid;
                            return self.reject(ctx, B::PowerDeliveryReq(req), request, code);
                        }
                        if matches!(
                            self.state,
                            S::ExpectPreChargeOrPowerDelivery | S::ExpectPowerDelivery
                        ) {
                            ctx.charging.start_delivery();
                            self.state = S::ExpectCurrentDemand;
                            ctx.state(SessionState::Charging);
                        }
                    }
                    ChargeProgressType::Stop => {
                        ctx.charging.stop();
                        self.state = S::ExpectWeldingDetectionOrSessionStop;
                        ctx.state(SessionState::Stopping);
                    }
                    ChargeProgressType::Renegotiate => {
                        // [V2G2-813]: new parameters first. The car's contactors stay closed,
                        // so the output holds its voltage without current.
                        ctx.charging.start_delivery();
                        self.state = S::ExpectChargeParameterDiscovery {
                            renegotiation: true,
                        };
                        ctx.state(SessionState::Parameters);
                    }
                }
                let res = PowerDeliveryResType {
                    response_code: ResponseCodeType::Ok,
                    evse_status: EvseStatus::DcEvseStatus(dc_status(ctx)),
                };
                self.reply(B::PowerDeliveryRes(res))
            }
            (
                S::ExpectCurrentDemand | S::ExpectCurrentDemandOrPowerDelivery,
                B::CurrentDemandReq(req),
            ) => {
                ev_status(ctx, &req.dc_ev_status);
                ctx.ev(|ev| {
                    if let Some(v) = &req.ev_maximum_voltage_limit {
                        ev.max_voltage = Some(Volts(from_iso2(v)));
                    }
                    if let Some(v) = &req.ev_maximum_current_limit {
                        ev.max_current = Some(units::Amps(from_iso2(v)));
                    }
                    if let Some(v) = &req.ev_maximum_power_limit {
                        ev.max_power = Some(Watts(from_iso2(v)));
                    }
                });
                let (delivery, warning) = ctx.charging.deliver(
                    from_iso2(&req.ev_target_voltage),
                    from_iso2(&req.ev_target_current),
                    false,
                    ctx.status,
                );
                if let Some(w) = warning {
                    ctx.warn(w);
                }
                self.state = S::ExpectCurrentDemandOrPowerDelivery;
                let limits = ctx.status.limits;
                let res = CurrentDemandResType {
                    response_code: ResponseCodeType::Ok,
                    dc_evse_status: dc_status(ctx),
                    evse_present_voltage: iso2_value(ctx.status.present.voltage.0, Unit::V),
                    evse_present_current: iso2_value(ctx.status.present.current.0, Unit::A),
                    evse_current_limit_achieved: delivery.current_limit_achieved,
                    evse_voltage_limit_achieved: delivery.voltage_limit_achieved,
                    evse_power_limit_achieved: delivery.power_limit_achieved,
                    evse_maximum_voltage_limit: Some(iso2_value(limits.max_voltage.0, Unit::V)),
                    evse_maximum_current_limit: Some(iso2_value(limits.max_current.0, Unit::A)),
                    evse_maximum_power_limit: Some(iso2_value(limits.max_power.0, Unit::W)),
                    evseid: ctx.config.evse_id.clone(),
                    sa_schedule_tuple_id: SA_SCHEDULE_TUPLE_ID,
                    meter_info: None,
                    receipt_required: None,
                };
                self.reply(B::CurrentDemandRes(res))
            }
            (S::ExpectWeldingDetectionOrSessionStop, B::WeldingDetectionReq(req)) => {
                ev_status(ctx, &req.dc_ev_status);
                ctx.charging.stop();
                let res = WeldingDetectionResType {
                    response_code: ResponseCodeType::Ok,
                    dc_evse_status: dc_status(ctx),
                    evse_present_voltage: iso2_value(ctx.status.present.voltage.0, Unit::V),
                };
                self.reply(B::WeldingDetectionRes(res))
            }
            (state, B::SessionStopReq(req)) if state.allows_session_stop() => {
                ctx.charging.stop();
                let pause = req.charging_session == ChargingSessionType::Pause;
                let res = SessionStopResType {
                    response_code: ResponseCodeType::Ok,
                };
                self.reply_and_end(B::SessionStopRes(res), EndReason::Stopped { pause })
            }
            (state, body) => self.fail(
                ctx,
                &body,
                ResponseCodeType::FailedSequenceError,
                EndReason::SequenceError {
                    request,
                    expected: state.expected(),
                },
            ),
        }
    }

    fn encode(&self, body: BodyElement) -> Result<Frame, EndReason> {
        let msg = Document::V2gMessage(V2gMessage {
            header: MessageHeaderType {
                session_id: self
                    .id
                    .as_ref()
                    .map_or_else(SessionId::zero, Clone::clone)
                    .0
                    .into(),
                notification: None,
                signature: None,
            },
            body: BodyType {
                body_element: Some(body),
            },
        });
        iso2::encode(&msg)
            .map(|bytes| Frame::new(PayloadType::Exi, bytes))
            .map_err(|e| EndReason::Encoding(e.to_string()))
    }

    fn reply(&self, body: BodyElement) -> Step {
        match self.encode(body) {
            Ok(frame) => Step::reply(frame),
            Err(end) => Step::end(end),
        }
    }

    fn reply_and_end(&self, body: BodyElement, end: EndReason) -> Step {
        match self.encode(body) {
            Ok(frame) => Step::reply_and_end(frame, end),
            Err(e) => Step::end(e),
        }
    }

    fn reject(
        &self,
        ctx: &mut Ctx<'_>,
        req: BodyElement,
        request: &'static str,
        code: ResponseCodeType,
    ) -> Step {
        let name = code_name(code);
        self.fail(
            ctx,
            &req,
            code,
            EndReason::Rejected {
                request,
                code: name,
            },
        )
    }

    /// Answers `req` with its response type carrying `code`, with only what the schema needs
    /// ([V2G2-538], [V2G2-736]), and ends the session.
    fn fail(
        &self,
        ctx: &mut Ctx<'_>,
        req: &BodyElement,
        code: ResponseCodeType,
        end: EndReason,
    ) -> Step {
        ctx.charging.stop();
        match failed_response(ctx, req, code) {
            Some(body) => self.reply_and_end(body, end),
            None => Step::end(end),
        }
    }
}

fn ev_status(ctx: &mut Ctx<'_>, s: &DcEvStatusType) {
    ctx.ev(|ev| {
        ev.soc = Some(Percent(f64::from(s.evresssoc)));
        ev.ready = s.ev_ready;
        ev.error = (s.ev_error_code != iso2::DcEvErrorCodeType::NoError)
            .then(|| format!("{:?}", s.ev_error_code));
    });
}

fn dc_status(ctx: &Ctx<'_>) -> DcEvseStatusType {
    let condition = ctx.charging.condition(ctx.status);
    DcEvseStatusType {
        notification_max_delay: 0,
        evse_notification: if matches!(
            condition,
            Condition::Ready | Condition::IsolationMonitoringActive
        ) {
            EvseNotificationType::None
        } else {
            EvseNotificationType::StopCharging
        },
        evse_isolation_status: Some(match ctx.status.isolation {
            Isolation::Valid => IsolationLevelType::Valid,
            Isolation::Warning => IsolationLevelType::Warning,
            Isolation::Fault => IsolationLevelType::Fault,
            Isolation::Unknown | Isolation::Testing => IsolationLevelType::Invalid,
        }),
        evse_status_code: match condition {
            Condition::Ready => DcEvseStatusCodeType::EvseReady,
            Condition::IsolationMonitoringActive => {
                DcEvseStatusCodeType::EvseIsolationMonitoringActive
            }
            Condition::Shutdown => DcEvseStatusCodeType::EvseShutdown,
            Condition::EmergencyShutdown => DcEvseStatusCodeType::EvseEmergencyShutdown,
            Condition::Malfunction => DcEvseStatusCodeType::EvseMalfunction,
        },
    }
}

fn service_discovery_res(ctx: &Ctx<'_>, code: ResponseCodeType) -> ServiceDiscoveryResType {
    ServiceDiscoveryResType {
        response_code: code,
        payment_option_list: PaymentOptionListType {
            payment_option: vec![PaymentOptionType::ExternalPayment],
        },
        charge_service: ChargeServiceType {
            service_id: CHARGE_SERVICE_ID,
            service_name: None,
            service_category: ServiceCategoryType::EvCharging,
            service_scope: None,
            free_service: ctx.config.free_service,
            supported_energy_transfer_mode: SupportedEnergyTransferModeType {
                energy_transfer_mode: vec![EnergyTransferModeType::DcExtended],
            },
        },
        service_list: None,
    }
}

fn charge_parameter_discovery_res(
    ctx: &Ctx<'_>,
    code: ResponseCodeType,
) -> ChargeParameterDiscoveryResType {
    let limits = ctx.status.limits;
    ChargeParameterDiscoveryResType {
        response_code: code,
        evse_processing: EvseProcessingType::Finished,
        sa_schedules: Some(SaSchedules::SaScheduleList(SaScheduleListType {
            sa_schedule_tuple: vec![SaScheduleTupleType {
                sa_schedule_tuple_id: SA_SCHEDULE_TUPLE_ID,
                p_max_schedule: PMaxScheduleType {
                    p_max_schedule_entry: vec![PMaxScheduleEntryType {
                        time_interval: TimeInterval::RelativeTimeInterval(
                            RelativeTimeIntervalType {
                                start: 0,
                                duration: Some(SCHEDULE_DURATION_S),
                            },
                        ),
                        p_max: iso2_value(limits.max_power.0, Unit::W),
                    }],
                },
                sales_tariff: None,
            }],
        })),
        evse_charge_parameter: EvseChargeParameter::DcEvseChargeParameter(
            DcEvseChargeParameterType {
                dc_evse_status: dc_status(ctx),
                evse_maximum_current_limit: iso2_value(limits.max_current.0, Unit::A),
                evse_maximum_power_limit: iso2_value(limits.max_power.0, Unit::W),
                evse_maximum_voltage_limit: iso2_value(limits.max_voltage.0, Unit::V),
                evse_minimum_current_limit: iso2_value(limits.min_current.0, Unit::A),
                evse_minimum_voltage_limit: iso2_value(limits.min_voltage.0, Unit::V),
                evse_current_regulation_tolerance: None,
                evse_peak_current_ripple: iso2_value(ctx.config.peak_current_ripple.0, Unit::A),
                evse_energy_to_be_delivered: None,
            },
        ),
    }
}

/// The response to `req` with `code`, `None` for messages that are not requests.
fn failed_response(
    ctx: &Ctx<'_>,
    req: &BodyElement,
    code: ResponseCodeType,
) -> Option<BodyElement> {
    use BodyElement as B;
    let present_voltage = iso2_value(ctx.status.present.voltage.0, Unit::V);
    Some(match req {
        B::SessionSetupReq(_) => B::SessionSetupRes(SessionSetupResType {
            response_code: code,
            evseid: ctx.config.evse_id.clone(),
            evse_time_stamp: None,
        }),
        B::ServiceDiscoveryReq(_) => B::ServiceDiscoveryRes(service_discovery_res(ctx, code)),
        B::ServiceDetailReq(r) => B::ServiceDetailRes(ServiceDetailResType {
            response_code: code,
            service_id: r.service_id,
            service_parameter_list: None,
        }),
        B::PaymentServiceSelectionReq(_) => {
            B::PaymentServiceSelectionRes(PaymentServiceSelectionResType {
                response_code: code,
            })
        }
        B::PaymentDetailsReq(_) => B::PaymentDetailsRes(iso2::PaymentDetailsResType {
            response_code: code,
            ..Default::default()
        }),
        B::AuthorizationReq(_) => B::AuthorizationRes(AuthorizationResType {
            response_code: code,
            evse_processing: EvseProcessingType::Finished,
        }),
        B::ChargeParameterDiscoveryReq(_) => {
            B::ChargeParameterDiscoveryRes(charge_parameter_discovery_res(ctx, code))
        }
        B::PowerDeliveryReq(_) => B::PowerDeliveryRes(PowerDeliveryResType {
            response_code: code,
            evse_status: EvseStatus::DcEvseStatus(dc_status(ctx)),
        }),
        B::ChargingStatusReq(_) => B::ChargingStatusRes(iso2::ChargingStatusResType {
            response_code: code,
            evseid: ctx.config.evse_id.clone(),
            sa_schedule_tuple_id: SA_SCHEDULE_TUPLE_ID,
            ..Default::default()
        }),
        B::MeteringReceiptReq(_) => B::MeteringReceiptRes(iso2::MeteringReceiptResType {
            response_code: code,
            evse_status: EvseStatus::DcEvseStatus(dc_status(ctx)),
        }),
        B::CertificateUpdateReq(_) => B::CertificateUpdateRes(iso2::CertificateUpdateResType {
            response_code: code,
            ..Default::default()
        }),
        B::CertificateInstallationReq(_) => {
            B::CertificateInstallationRes(iso2::CertificateInstallationResType {
                response_code: code,
                ..Default::default()
            })
        }
        B::CableCheckReq(_) => B::CableCheckRes(CableCheckResType {
            response_code: code,
            dc_evse_status: dc_status(ctx),
            evse_processing: EvseProcessingType::Finished,
        }),
        B::PreChargeReq(_) => B::PreChargeRes(PreChargeResType {
            response_code: code,
            dc_evse_status: dc_status(ctx),
            evse_present_voltage: present_voltage,
        }),
        B::CurrentDemandReq(_) => B::CurrentDemandRes(CurrentDemandResType {
            response_code: code,
            dc_evse_status: dc_status(ctx),
            evse_present_voltage: present_voltage,
            evse_present_current: iso2_value(ctx.status.present.current.0, Unit::A),
            evseid: ctx.config.evse_id.clone(),
            sa_schedule_tuple_id: SA_SCHEDULE_TUPLE_ID,
            ..Default::default()
        }),
        B::WeldingDetectionReq(_) => B::WeldingDetectionRes(WeldingDetectionResType {
            response_code: code,
            dc_evse_status: dc_status(ctx),
            evse_present_voltage: present_voltage,
        }),
        B::SessionStopReq(_) => B::SessionStopRes(SessionStopResType {
            response_code: code,
        }),
        _ => return None,
    })
}

/// The request's element name, `None` for responses and the abstract body.
pub(crate) fn request_name(body: &BodyElement) -> Option<&'static str> {
    use BodyElement as B;
    Some(match body {
        B::SessionSetupReq(_) => "SessionSetupReq",
        B::ServiceDiscoveryReq(_) => "ServiceDiscoveryReq",
        B::ServiceDetailReq(_) => "ServiceDetailReq",
        B::PaymentServiceSelectionReq(_) => "PaymentServiceSelectionReq",
        B::PaymentDetailsReq(_) => "PaymentDetailsReq",
        B::AuthorizationReq(_) => "AuthorizationReq",
        B::ChargeParameterDiscoveryReq(_) => "ChargeParameterDiscoveryReq",
        B::PowerDeliveryReq(_) => "PowerDeliveryReq",
        B::ChargingStatusReq(_) => "ChargingStatusReq",
        B::MeteringReceiptReq(_) => "MeteringReceiptReq",
        B::CertificateUpdateReq(_) => "CertificateUpdateReq",
        B::CertificateInstallationReq(_) => "CertificateInstallationReq",
        B::CableCheckReq(_) => "CableCheckReq",
        B::PreChargeReq(_) => "PreChargeReq",
        B::CurrentDemandReq(_) => "CurrentDemandReq",
        B::WeldingDetectionReq(_) => "WeldingDetectionReq",
        B::SessionStopReq(_) => "SessionStopReq",
        _ => return None,
    })
}

/// Any message's element name.
pub(crate) fn message_name(body: &BodyElement) -> &'static str {
    use BodyElement as B;
    request_name(body).unwrap_or(match body {
        B::SessionSetupRes(_) => "SessionSetupRes",
        B::ServiceDiscoveryRes(_) => "ServiceDiscoveryRes",
        B::ServiceDetailRes(_) => "ServiceDetailRes",
        B::PaymentServiceSelectionRes(_) => "PaymentServiceSelectionRes",
        B::PaymentDetailsRes(_) => "PaymentDetailsRes",
        B::AuthorizationRes(_) => "AuthorizationRes",
        B::ChargeParameterDiscoveryRes(_) => "ChargeParameterDiscoveryRes",
        B::PowerDeliveryRes(_) => "PowerDeliveryRes",
        B::ChargingStatusRes(_) => "ChargingStatusRes",
        B::MeteringReceiptRes(_) => "MeteringReceiptRes",
        B::CertificateUpdateRes(_) => "CertificateUpdateRes",
        B::CertificateInstallationRes(_) => "CertificateInstallationRes",
        B::CableCheckRes(_) => "CableCheckRes",
        B::PreChargeRes(_) => "PreChargeRes",
        B::CurrentDemandRes(_) => "CurrentDemandRes",
        B::WeldingDetectionRes(_) => "WeldingDetectionRes",
        B::SessionStopRes(_) => "SessionStopRes",
        _ => "BodyElement",
    })
}

/// The schema's name of a response code.
pub(crate) fn code_name(code: ResponseCodeType) -> &'static str {
    use ResponseCodeType as C;
    match code {
        C::Ok => "OK",
        C::OkNewSessionEstablished => "OK_NewSessionEstablished",
        C::OkOldSessionJoined => "OK_OldSessionJoined",
        C::OkCertificateExpiresSoon => "OK_CertificateExpiresSoon",
        C::Failed => "FAILED",
        C::FailedSequenceError => "FAILED_SequenceError",
        C::FailedServiceIdInvalid => "FAILED_ServiceIDInvalid",
        C::FailedUnknownSession => "FAILED_UnknownSession",
        C::FailedServiceSelectionInvalid => "FAILED_ServiceSelectionInvalid",
        C::FailedPaymentSelectionInvalid => "FAILED_PaymentSelectionInvalid",
        C::FailedCertificateExpired => "FAILED_CertificateExpired",
        C::FailedSignatureError => "FAILED_SignatureError",
        C::FailedNoCertificateAvailable => "FAILED_NoCertificateAvailable",
        C::FailedCertChainError => "FAILED_CertChainError",
        C::FailedChallengeInvalid => "FAILED_ChallengeInvalid",
        C::FailedContractCanceled => "FAILED_ContractCanceled",
        C::FailedWrongChargeParameter => "FAILED_WrongChargeParameter",
        C::FailedPowerDeliveryNotApplied => "FAILED_PowerDeliveryNotApplied",
        C::FailedTariffSelectionInvalid => "FAILED_TariffSelectionInvalid",
        C::FailedChargingProfileInvalid => "FAILED_ChargingProfileInvalid",
        C::FailedMeteringSignatureNotValid => "FAILED_MeteringSignatureNotValid",
        C::FailedNoChargeServiceSelected => "FAILED_NoChargeServiceSelected",
        C::FailedWrongEnergyTransferMode => "FAILED_WrongEnergyTransferMode",
        C::FailedContactorError => "FAILED_ContactorError",
        C::FailedCertificateNotAllowedAtThisEvse => "FAILED_CertificateNotAllowedAtThisEVSE",
        C::FailedCertificateRevoked => "FAILED_CertificateRevoked",
    }
}
