//! ISO 15118-2:2013 (DC, external payment), the charger's state machine.
//!
//! The sequence ([V2G2-541]…[V2G2-601] as EVerest's `iso_server.hpp` tabulates it):
//! SessionSetup (a paused session may be resumed, [V2G2-741]), ServiceDiscovery, ServiceDetail
//! (optional), PaymentServiceSelection (ExternalPayment), Authorization until Finished,
//! ChargeParameterDiscovery, CableCheck until Finished, PreCharge (repeated), PowerDelivery
//! (Start), CurrentDemand in a loop, PowerDelivery (Stop, or Renegotiate back to
//! ChargeParameterDiscovery), WeldingDetection (repeated), SessionStop (Terminate or Pause).
//! SessionStopReq is allowed in every state but the charge loop.

use units::{Percent, Timestamp, Volts, WattHours, Watts};
use v2g_messages::iso2::{
    self, AuthorizationResType, BodyElement, CableCheckResType, ChargeParameterDiscoveryResType,
    ChargeProgressType, ChargeServiceType, ChargingSessionType, CurrentDemandResType,
    DcEvStatusType, DcEvseChargeParameterType, DcEvseStatusCodeType, DcEvseStatusType,
    EnergyTransferModeType, EvChargeParameter, EvseChargeParameter, EvseNotificationType,
    EvseProcessingType, EvseStatus, IsolationLevelType, PMaxScheduleEntryType, PMaxScheduleType,
    PaymentOptionListType, PaymentOptionType, PaymentServiceSelectionResType, PowerDeliveryResType,
    PreChargeResType, RelativeTimeIntervalType, ResponseCodeType, SaScheduleListType,
    SaScheduleTupleType, SaSchedules, ServiceCategoryType, ServiceDetailResType,
    ServiceDiscoveryResType, SessionSetupResType, SessionStopResType,
    SupportedEnergyTransferModeType, TimeInterval, UnitSymbolType as Unit, WeldingDetectionResType,
};

use super::charging::{Authorize, CableCheck, Condition};
use super::envelope::{Envelope, Machine, Request};
use super::{Ctx, EndReason, SessionState, Step};
use crate::charger::Isolation;
use crate::dialect::Iso2;
use crate::values::{from_iso2, iso2_value};

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
pub(crate) enum State {
    ExpectSessionSetup,
    ExpectServiceDiscovery,
    ExpectServiceDetailOrPaymentServiceSelection,
    /// `since`: the first Ongoing answer (the Ongoing limit counts from it).
    ExpectAuthorization {
        since: Option<Timestamp>,
    },
    ExpectChargeParameterDiscovery {
        renegotiation: bool,
    },
    /// `since`: when the first request started the isolation test.
    ExpectCableCheck {
        since: Option<Timestamp>,
    },
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
            Self::ExpectAuthorization { .. } => "AuthorizationReq",
            Self::ExpectChargeParameterDiscovery { .. } => "ChargeParameterDiscoveryReq",
            Self::ExpectCableCheck { .. } => "CableCheckReq",
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

/// ISO 15118-2 in the charger's envelope. See the [module docs](self).
impl Machine for Iso2 {
    type State = State;
    const START: State = State::ExpectSessionSetup;

    fn dispatch(
        state: &mut State,
        env: &mut Envelope<Self>,
        ctx: &mut Ctx<'_>,
        request: &Request<BodyElement>,
    ) -> Step {
        use BodyElement as B;
        use State as S;
        match (*state, &request.message) {
            (S::ExpectSessionSetup, B::SessionSetupReq(req)) => {
                let resumed = env.set_up(ctx, request, req.evccid.to_hex());
                *state = S::ExpectServiceDiscovery;
                let res = SessionSetupResType {
                    response_code: if resumed {
                        ResponseCodeType::OkOldSessionJoined
                    } else {
                        ResponseCodeType::OkNewSessionEstablished
                    },
                    evseid: ctx.config.evse_id.clone(),
                    evse_time_stamp: i64::try_from(ctx.unix_secs()).ok(),
                };
                env.reply(ctx, B::SessionSetupRes(res))
            }
            (S::ExpectServiceDiscovery, B::ServiceDiscoveryReq(_)) => {
                *state = S::ExpectServiceDetailOrPaymentServiceSelection;
                env.reply(
                    ctx,
                    B::ServiceDiscoveryRes(service_discovery_res(ctx, ResponseCodeType::Ok)),
                )
            }
            (S::ExpectServiceDetailOrPaymentServiceSelection, B::ServiceDetailReq(req)) => {
                if req.service_id != CHARGE_SERVICE_ID {
                    let code = ResponseCodeType::FailedServiceIdInvalid;
                    return env.reject(ctx, request, code);
                }
                let res = ServiceDetailResType {
                    response_code: ResponseCodeType::Ok,
                    service_id: req.service_id,
                    service_parameter_list: None,
                };
                env.reply(ctx, B::ServiceDetailRes(res))
            }
            (
                S::ExpectServiceDetailOrPaymentServiceSelection,
                B::PaymentServiceSelectionReq(req),
            ) => {
                if req.selected_payment_option != PaymentOptionType::ExternalPayment {
                    let code = ResponseCodeType::FailedPaymentSelectionInvalid;
                    return env.reject(ctx, request, code);
                }
                let services = &req.selected_service_list.selected_service;
                if !services.iter().any(|s| s.service_id == CHARGE_SERVICE_ID) {
                    let code = ResponseCodeType::FailedNoChargeServiceSelected;
                    return env.reject(ctx, request, code);
                }
                if services.iter().any(|s| s.service_id != CHARGE_SERVICE_ID) {
                    let code = ResponseCodeType::FailedServiceSelectionInvalid;
                    return env.reject(ctx, request, code);
                }
                *state = S::ExpectAuthorization { since: None };
                ctx.state(SessionState::Authorization);
                let res = PaymentServiceSelectionResType {
                    response_code: ResponseCodeType::Ok,
                };
                env.reply(ctx, B::PaymentServiceSelectionRes(res))
            }
            (S::ExpectAuthorization { since }, B::AuthorizationReq(_)) => {
                let processing = match ctx.authorize(since) {
                    Authorize::Granted => {
                        *state = S::ExpectChargeParameterDiscovery {
                            renegotiation: false,
                        };
                        ctx.state(SessionState::Parameters);
                        EvseProcessingType::Finished
                    }
                    Authorize::Ongoing { since } => {
                        *state = S::ExpectAuthorization { since: Some(since) };
                        EvseProcessingType::Ongoing
                    }
                    Authorize::Denied | Authorize::TimedOut => {
                        let res = AuthorizationResType {
                            response_code: ResponseCodeType::Failed,
                            evse_processing: EvseProcessingType::Finished,
                        };
                        let end = EndReason::NotAuthorized;
                        return env.reply_and_end(ctx, B::AuthorizationRes(res), end);
                    }
                };
                let res = AuthorizationResType {
                    response_code: ResponseCodeType::Ok,
                    evse_processing: processing,
                };
                env.reply(ctx, B::AuthorizationRes(res))
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
                    return env.reject(ctx, request, code);
                }
                let EvChargeParameter::DcEvChargeParameter(p) = &req.ev_charge_parameter else {
                    // [V2G2-477]
                    let code = ResponseCodeType::FailedWrongChargeParameter;
                    return env.reject(ctx, request, code);
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
                *state = if renegotiation {
                    S::ExpectPowerDelivery
                } else {
                    S::ExpectCableCheck { since: None }
                };
                let res = charge_parameter_discovery_res(ctx, ResponseCodeType::Ok);
                env.reply(ctx, B::ChargeParameterDiscoveryRes(res))
            }
            (S::ExpectCableCheck { since }, B::CableCheckReq(req)) => {
                ev_status(ctx, &req.dc_ev_status);
                ctx.state(SessionState::CableCheck);
                let (processing, end) = match ctx.cable_check(since) {
                    CableCheck::Ongoing { since } => {
                        *state = S::ExpectCableCheck { since: Some(since) };
                        (EvseProcessingType::Ongoing, None)
                    }
                    CableCheck::Done(_) => {
                        *state = S::ExpectPreCharge;
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
                    Some(end) => env.reply_and_end(ctx, B::CableCheckRes(res), end),
                    None => env.reply(ctx, B::CableCheckRes(res)),
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
                *state = S::ExpectPreChargeOrPowerDelivery;
                let res = PreChargeResType {
                    response_code: ResponseCodeType::Ok,
                    dc_evse_status: dc_status(ctx),
                    evse_present_voltage: iso2_value(ctx.status.present.voltage.0, Unit::V),
                };
                env.reply(ctx, B::PreChargeRes(res))
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
                            return env.reject(ctx, request, code);
                        }
                        if matches!(
                            *state,
                            S::ExpectPreChargeOrPowerDelivery | S::ExpectPowerDelivery
                        ) {
                            ctx.charging.start_delivery();
                            *state = S::ExpectCurrentDemand;
                            ctx.state(SessionState::Charging);
                        }
                    }
                    ChargeProgressType::Stop => {
                        ctx.charging.stop();
                        *state = S::ExpectWeldingDetectionOrSessionStop;
                        ctx.state(SessionState::Stopping);
                    }
                    ChargeProgressType::Renegotiate => {
                        // [V2G2-813]: new parameters first. The car's contactors stay closed,
                        // so the output holds its voltage without current.
                        ctx.charging.start_delivery();
                        *state = S::ExpectChargeParameterDiscovery {
                            renegotiation: true,
                        };
                        ctx.state(SessionState::Parameters);
                    }
                }
                let res = PowerDeliveryResType {
                    response_code: ResponseCodeType::Ok,
                    evse_status: EvseStatus::DcEvseStatus(dc_status(ctx)),
                };
                env.reply(ctx, B::PowerDeliveryRes(res))
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
                *state = S::ExpectCurrentDemandOrPowerDelivery;
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
                env.reply(ctx, B::CurrentDemandRes(res))
            }
            (S::ExpectWeldingDetectionOrSessionStop, B::WeldingDetectionReq(req)) => {
                ev_status(ctx, &req.dc_ev_status);
                ctx.charging.stop();
                let res = WeldingDetectionResType {
                    response_code: ResponseCodeType::Ok,
                    dc_evse_status: dc_status(ctx),
                    evse_present_voltage: iso2_value(ctx.status.present.voltage.0, Unit::V),
                };
                env.reply(ctx, B::WeldingDetectionRes(res))
            }
            (expecting, B::SessionStopReq(req)) if expecting.allows_session_stop() => {
                ctx.charging.stop();
                let pause = req.charging_session == ChargingSessionType::Pause;
                let res = SessionStopResType {
                    response_code: ResponseCodeType::Ok,
                };
                env.reply_and_end(ctx, B::SessionStopRes(res), EndReason::Stopped { pause })
            }
            (expecting, _) => env.sequence_error(ctx, request, expecting.expected()),
        }
    }

    /// With only what the schema needs ([V2G2-538], [V2G2-736]).
    fn refusal(
        ctx: &Ctx<'_>,
        request: &BodyElement,
        code: ResponseCodeType,
    ) -> Option<BodyElement> {
        use BodyElement as B;
        let present_voltage = iso2_value(ctx.status.present.voltage.0, Unit::V);
        Some(match request {
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
