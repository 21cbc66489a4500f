//! DIN SPEC 70121 (DC charging), the charger's state machine.
//!
//! The sequence ([V2G-DC-437]…[V2G-DC-469], EVerest's `din_server.hpp` tabulates it):
//! SessionSetup, ServiceDiscovery, ServicePaymentSelection (external payment only,
//! [V2G-DC-252]), ContractAuthentication until Finished, ChargeParameterDiscovery, CableCheck
//! until Finished, PreCharge (repeated while the car waits for the voltage), PowerDelivery
//! (ReadyToChargeState true), CurrentDemand in a loop, PowerDelivery (false), WeldingDetection
//! (repeated), SessionStop. SessionStopReq is allowed in every state but the charge loop.

use units::{Percent, Timestamp, Volts, WattHours, Watts};
use v2g_messages::din::{
    self, BodyElement, CableCheckResType, ChargeParameterDiscoveryResType,
    ContractAuthenticationResType, CurrentDemandResType, DcEvStatusType, DcEvseChargeParameterType,
    DcEvseStatusCodeType, DcEvseStatusType, EvChargeParameter, EvRequestedEnergyTransferType,
    EvseChargeParameter, EvseNotificationType, EvseProcessingType, EvseStatus,
    EvseSupportedEnergyTransferType, IsolationLevelType, PMaxScheduleEntryType, PMaxScheduleType,
    PaymentOptionType, PaymentOptionsType, PowerDeliveryResType, PreChargeResType,
    RelativeTimeIntervalType, ResponseCodeType, SaScheduleListType, SaScheduleTupleType,
    SaSchedules, ServiceCategoryType, ServiceChargeType, ServiceDiscoveryResType,
    ServicePaymentSelectionResType, ServiceTagType, SessionSetupResType, SessionStopResType,
    TimeInterval, UnitSymbolType as Unit, WeldingDetectionResType,
};

use super::charging::{Authorize, CableCheck, Condition};
use super::envelope::{Envelope, Machine, Request};
use super::{Ctx, EndReason, SessionState, Step};
use crate::charger::Isolation;
use crate::dialect::Din;
use crate::values::{din_value, from_din};

/// The one charge service: ServiceID 1, EV charging (as every charger in the captures).
const CHARGE_SERVICE_ID: u16 = 1;
/// The one SAScheduleTuple offered; Josev's EV rejects ID 0 (shared/docs/ccs-research.md §1.3).
const SA_SCHEDULE_TUPLE_ID: i16 = 1;
/// Validity of the offered PMax schedule: a day, as Alpitronic's.
const SCHEDULE_DURATION_S: u32 = 86_400;

/// The DIN 70121 states of the charger: what it expects next.
// States named for what they expect next, as rustls names its handshake states.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    ExpectSessionSetup,
    ExpectServiceDiscovery,
    ExpectServicePaymentSelection,
    /// `since`: the first Ongoing answer (the Ongoing limit counts from it).
    ExpectContractAuthentication {
        since: Option<Timestamp>,
    },
    ExpectChargeParameterDiscovery,
    /// `since`: when the first request started the isolation test.
    ExpectCableCheck {
        since: Option<Timestamp>,
    },
    ExpectPreCharge,
    ExpectPreChargeOrPowerDelivery,
    ExpectCurrentDemand,
    ExpectCurrentDemandOrPowerDelivery,
    ExpectWeldingDetectionOrSessionStop,
}

impl State {
    fn expected(self) -> &'static str {
        match self {
            Self::ExpectSessionSetup => "SessionSetupReq",
            Self::ExpectServiceDiscovery => "ServiceDiscoveryReq",
            Self::ExpectServicePaymentSelection => "ServicePaymentSelectionReq",
            Self::ExpectContractAuthentication { .. } => "ContractAuthenticationReq",
            Self::ExpectChargeParameterDiscovery => "ChargeParameterDiscoveryReq",
            Self::ExpectCableCheck { .. } => "CableCheckReq",
            Self::ExpectPreCharge => "PreChargeReq",
            Self::ExpectPreChargeOrPowerDelivery => "PreChargeReq or PowerDeliveryReq",
            Self::ExpectCurrentDemand => "CurrentDemandReq",
            Self::ExpectCurrentDemandOrPowerDelivery => "CurrentDemandReq or PowerDeliveryReq",
            Self::ExpectWeldingDetectionOrSessionStop => "WeldingDetectionReq or SessionStopReq",
        }
    }

    /// SessionStopReq is allowed from ServiceDiscovery on, except in the charge loop, where the
    /// car must stop the current with PowerDeliveryReq first ([V2G-DC-439]…[V2G-DC-469]).
    fn allows_session_stop(self) -> bool {
        !matches!(
            self,
            Self::ExpectSessionSetup
                | Self::ExpectCurrentDemand
                | Self::ExpectCurrentDemandOrPowerDelivery
        )
    }
}

/// DIN 70121 in the charger's envelope. See the [module docs](self).
impl Machine for Din {
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
                // DIN 70121 has no paused sessions: always a new one ([V2G-DC-393]).
                env.set_up(ctx, request, req.evccid.to_hex());
                *state = S::ExpectServiceDiscovery;
                let res = SessionSetupResType {
                    response_code: ResponseCodeType::OkNewSessionEstablished,
                    evseid: ctx.config.din_evse_id.clone().into(),
                    date_time_now: i64::try_from(ctx.unix_secs()).ok(),
                };
                env.reply(ctx, B::SessionSetupRes(res))
            }
            (S::ExpectServiceDiscovery, B::ServiceDiscoveryReq(_)) => {
                *state = S::ExpectServicePaymentSelection;
                let res = service_discovery_res(ctx, ResponseCodeType::Ok);
                env.reply(ctx, B::ServiceDiscoveryRes(res))
            }
            (S::ExpectServicePaymentSelection, B::ServicePaymentSelectionReq(req)) => {
                if req.selected_payment_option != PaymentOptionType::ExternalPayment {
                    let code = ResponseCodeType::FailedPaymentSelectionInvalid;
                    return env.reject(ctx, request, code);
                }
                let services = &req.selected_service_list.selected_service;
                if !services.iter().any(|s| s.service_id == CHARGE_SERVICE_ID) {
                    let code = ResponseCodeType::FailedServiceSelectionInvalid;
                    return env.reject(ctx, request, code);
                }
                *state = S::ExpectContractAuthentication { since: None };
                ctx.state(SessionState::Authorization);
                let res = ServicePaymentSelectionResType {
                    response_code: ResponseCodeType::Ok,
                };
                env.reply(ctx, B::ServicePaymentSelectionRes(res))
            }
            (S::ExpectContractAuthentication { since }, B::ContractAuthenticationReq(_)) => {
                // Repeated until Finished ([V2G-DC-494], [V2G-DC-497]); cars wait up to
                // V2G_EVCC_Ongoing_Timeout.
                let (code, processing) = match ctx.authorize(since) {
                    Authorize::Granted => {
                        *state = S::ExpectChargeParameterDiscovery;
                        ctx.state(SessionState::Parameters);
                        (ResponseCodeType::Ok, EvseProcessingType::Finished)
                    }
                    Authorize::Ongoing { since } => {
                        *state = S::ExpectContractAuthentication { since: Some(since) };
                        (ResponseCodeType::Ok, EvseProcessingType::Ongoing)
                    }
                    Authorize::Denied | Authorize::TimedOut => {
                        let res = ContractAuthenticationResType {
                            response_code: ResponseCodeType::Failed,
                            evse_processing: EvseProcessingType::Finished,
                        };
                        return env.reply_and_end(
                            ctx,
                            B::ContractAuthenticationRes(res),
                            EndReason::NotAuthorized,
                        );
                    }
                };
                let res = ContractAuthenticationResType {
                    response_code: code,
                    evse_processing: processing,
                };
                env.reply(ctx, B::ContractAuthenticationRes(res))
            }
            (S::ExpectChargeParameterDiscovery, B::ChargeParameterDiscoveryReq(req)) => {
                if !matches!(
                    req.ev_requested_energy_transfer_type,
                    EvRequestedEnergyTransferType::DcCore
                        | EvRequestedEnergyTransferType::DcExtended
                        | EvRequestedEnergyTransferType::DcComboCore
                ) {
                    // [V2G-DC-397]
                    let code = ResponseCodeType::FailedWrongEnergyTransferType;
                    return env.reject(ctx, request, code);
                }
                let EvChargeParameter::DcEvChargeParameter(p) = &req.ev_charge_parameter else {
                    let code = ResponseCodeType::FailedWrongChargeParameter;
                    return env.reject(ctx, request, code);
                };
                ev_status(ctx, &p.dc_ev_status);
                ctx.ev(|ev| {
                    ev.max_voltage = Some(Volts(from_din(&p.ev_maximum_voltage_limit)));
                    ev.max_current = Some(units::Amps(from_din(&p.ev_maximum_current_limit)));
                    ev.max_power = p
                        .ev_maximum_power_limit
                        .as_ref()
                        .map(|v| Watts(from_din(v)));
                    ev.capacity = p
                        .ev_energy_capacity
                        .as_ref()
                        .map(|v| WattHours(from_din(v)));
                    ev.target_soc = p.full_soc.map(|s| Percent(f64::from(s)));
                });
                *state = S::ExpectCableCheck { since: None };
                let res = charge_parameter_discovery_res(ctx, ResponseCodeType::Ok);
                env.reply(ctx, B::ChargeParameterDiscoveryRes(res))
            }
            (S::ExpectCableCheck { since }, B::CableCheckReq(req)) => {
                ev_status(ctx, &req.dc_ev_status);
                ctx.state(SessionState::CableCheck);
                // IsolationMonitoringActive while testing, then Finished with EVSE_Ready and
                // Valid: an Audi Q4 stopped after Finished with EVSE_NotReady (§7).
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
                    from_din(&req.ev_target_voltage),
                    from_din(&req.ev_target_current),
                    ctx.status,
                    ctx.config,
                );
                if let Some(w) = warning {
                    ctx.warn(w);
                }
                *state = S::ExpectPreChargeOrPowerDelivery;
                // The measured voltage, not the target: cars wait until it is there (§7).
                let res = PreChargeResType {
                    response_code: ResponseCodeType::Ok,
                    dc_evse_status: dc_status(ctx),
                    evse_present_voltage: din_value(ctx.status.present.voltage.0, Unit::V),
                };
                env.reply(ctx, B::PreChargeRes(res))
            }
            (
                S::ExpectPreChargeOrPowerDelivery
                | S::ExpectCurrentDemand
                | S::ExpectCurrentDemandOrPowerDelivery,
                B::PowerDeliveryReq(req),
            ) => {
                if let Some(din::EvPowerDeliveryParameter::DcEvPowerDeliveryParameter(p)) =
                    &req.ev_power_delivery_parameter
                {
                    ev_status(ctx, &p.dc_ev_status);
                }
                // ReadyToChargeState is a boolean in DIN 70121, not ISO 15118-2's ChargeProgress
                // (an Alpitronic failed a session over that, §7).
                if req.ready_to_charge_state {
                    if *state == S::ExpectPreChargeOrPowerDelivery {
                        ctx.charging.start_delivery();
                        *state = S::ExpectCurrentDemand;
                        ctx.state(SessionState::Charging);
                    }
                } else {
                    ctx.charging.stop();
                    *state = S::ExpectWeldingDetectionOrSessionStop;
                    ctx.state(SessionState::Stopping);
                }
                // Answered at once: the car's contactors wait for it (FreeV2G #250, §7).
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
                        ev.max_voltage = Some(Volts(from_din(v)));
                    }
                    if let Some(v) = &req.ev_maximum_current_limit {
                        ev.max_current = Some(units::Amps(from_din(v)));
                    }
                    if let Some(v) = &req.ev_maximum_power_limit {
                        ev.max_power = Some(Watts(from_din(v)));
                    }
                });
                let (delivery, warning) = ctx.charging.deliver(
                    from_din(&req.ev_target_voltage),
                    from_din(&req.ev_target_current),
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
                    evse_present_voltage: din_value(ctx.status.present.voltage.0, Unit::V),
                    evse_present_current: din_value(ctx.status.present.current.0, Unit::A),
                    evse_current_limit_achieved: delivery.current_limit_achieved,
                    evse_voltage_limit_achieved: delivery.voltage_limit_achieved,
                    evse_power_limit_achieved: delivery.power_limit_achieved,
                    evse_maximum_voltage_limit: Some(din_value(limits.max_voltage.0, Unit::V)),
                    evse_maximum_current_limit: Some(din_value(limits.max_current.0, Unit::A)),
                    evse_maximum_power_limit: Some(din_value(limits.max_power.0, Unit::W)),
                };
                env.reply(ctx, B::CurrentDemandRes(res))
            }
            (S::ExpectWeldingDetectionOrSessionStop, B::WeldingDetectionReq(req)) => {
                ev_status(ctx, &req.dc_ev_status);
                ctx.charging.stop();
                let res = WeldingDetectionResType {
                    response_code: ResponseCodeType::Ok,
                    dc_evse_status: dc_status(ctx),
                    evse_present_voltage: din_value(ctx.status.present.voltage.0, Unit::V),
                };
                env.reply(ctx, B::WeldingDetectionRes(res))
            }
            (expecting, B::SessionStopReq(_)) if expecting.allows_session_stop() => {
                ctx.charging.stop();
                let res = SessionStopResType {
                    response_code: ResponseCodeType::Ok,
                };
                env.reply_and_end(
                    ctx,
                    B::SessionStopRes(res),
                    EndReason::Stopped { pause: false },
                )
            }
            (expecting, _) => env.sequence_error(ctx, request, expecting.expected()),
        }
    }

    /// Filled with the charger's status so that it is valid ([V2G-DC-390]).
    fn refusal(
        ctx: &Ctx<'_>,
        request: &BodyElement,
        code: ResponseCodeType,
    ) -> Option<BodyElement> {
        use BodyElement as B;
        let present_voltage = din_value(ctx.status.present.voltage.0, Unit::V);
        Some(match request {
            B::SessionSetupReq(_) => B::SessionSetupRes(SessionSetupResType {
                response_code: code,
                evseid: ctx.config.din_evse_id.clone().into(),
                date_time_now: None,
            }),
            B::ServiceDiscoveryReq(_) => B::ServiceDiscoveryRes(service_discovery_res(ctx, code)),
            B::ServiceDetailReq(r) => B::ServiceDetailRes(din::ServiceDetailResType {
                response_code: code,
                service_id: r.service_id,
                service_parameter_list: None,
            }),
            B::ServicePaymentSelectionReq(_) => {
                B::ServicePaymentSelectionRes(ServicePaymentSelectionResType {
                    response_code: code,
                })
            }
            B::PaymentDetailsReq(_) => B::PaymentDetailsRes(din::PaymentDetailsResType {
                response_code: code,
                ..Default::default()
            }),
            B::ContractAuthenticationReq(_) => {
                B::ContractAuthenticationRes(ContractAuthenticationResType {
                    response_code: code,
                    evse_processing: EvseProcessingType::Finished,
                })
            }
            B::ChargeParameterDiscoveryReq(_) => {
                B::ChargeParameterDiscoveryRes(charge_parameter_discovery_res(ctx, code))
            }
            B::PowerDeliveryReq(_) => B::PowerDeliveryRes(PowerDeliveryResType {
                response_code: code,
                evse_status: EvseStatus::DcEvseStatus(dc_status(ctx)),
            }),
            B::ChargingStatusReq(_) => B::ChargingStatusRes(din::ChargingStatusResType {
                response_code: code,
                evseid: ctx.config.din_evse_id.clone().into(),
                sa_schedule_tuple_id: SA_SCHEDULE_TUPLE_ID,
                ..Default::default()
            }),
            B::MeteringReceiptReq(_) => B::MeteringReceiptRes(din::MeteringReceiptResType {
                response_code: code,
                ..Default::default()
            }),
            B::CertificateUpdateReq(_) => B::CertificateUpdateRes(din::CertificateUpdateResType {
                response_code: code,
                ..Default::default()
            }),
            B::CertificateInstallationReq(_) => {
                B::CertificateInstallationRes(din::CertificateInstallationResType {
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
                evse_present_current: din_value(ctx.status.present.current.0, Unit::A),
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

/// Records the car's DC status.
fn ev_status(ctx: &mut Ctx<'_>, s: &DcEvStatusType) {
    ctx.ev(|ev| {
        ev.soc = Some(Percent(f64::from(s.evresssoc)));
        ev.ready = s.ev_ready;
        ev.error = (s.ev_error_code != din::DcEvErrorCodeType::NoError)
            .then(|| format!("{:?}", s.ev_error_code));
    });
}

/// The charger's DC status.
fn dc_status(ctx: &Ctx<'_>) -> DcEvseStatusType {
    let condition = ctx.charging.condition(ctx.status);
    DcEvseStatusType {
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
        notification_max_delay: 0,
        evse_notification: if condition == Condition::Ready
            || condition == Condition::IsolationMonitoringActive
        {
            EvseNotificationType::None
        } else {
            EvseNotificationType::StopCharging
        },
    }
}

fn service_discovery_res(ctx: &Ctx<'_>, code: ResponseCodeType) -> ServiceDiscoveryResType {
    ServiceDiscoveryResType {
        response_code: code,
        payment_options: PaymentOptionsType {
            payment_option: vec![PaymentOptionType::ExternalPayment],
        },
        charge_service: ServiceChargeType {
            // ServiceName and ServiceScope shall not be used ([V2G-DC-628], [V2G-DC-629]).
            service_tag: ServiceTagType {
                service_id: CHARGE_SERVICE_ID,
                service_name: None,
                service_category: ServiceCategoryType::EvCharging,
                service_scope: None,
            },
            free_service: ctx.config.free_service,
            energy_transfer_type: EvseSupportedEnergyTransferType::DcExtended,
        },
        service_list: None,
    }
}

fn charge_parameter_discovery_res(
    ctx: &Ctx<'_>,
    code: ResponseCodeType,
) -> ChargeParameterDiscoveryResType {
    let limits = ctx.status.limits;
    // PMax is a 16-bit count of watts: chargers above 32.7 kW send 32767 (Alpitronic, Compleo).
    let p_max = limits.max_power.0.clamp(0.0, f64::from(i16::MAX)) as i16;
    ChargeParameterDiscoveryResType {
        response_code: code,
        evse_processing: EvseProcessingType::Finished,
        sa_schedules: SaSchedules::SaScheduleList(SaScheduleListType {
            sa_schedule_tuple: vec![SaScheduleTupleType {
                sa_schedule_tuple_id: SA_SCHEDULE_TUPLE_ID,
                p_max_schedule: PMaxScheduleType {
                    p_max_schedule_id: SA_SCHEDULE_TUPLE_ID,
                    p_max_schedule_entry: vec![PMaxScheduleEntryType {
                        time_interval: TimeInterval::RelativeTimeInterval(
                            RelativeTimeIntervalType {
                                start: 0,
                                duration: Some(SCHEDULE_DURATION_S),
                            },
                        ),
                        p_max,
                    }],
                },
                sales_tariff: None,
            }],
        }),
        evse_charge_parameter: EvseChargeParameter::DcEvseChargeParameter(
            DcEvseChargeParameterType {
                dc_evse_status: dc_status(ctx),
                evse_maximum_current_limit: din_value(limits.max_current.0, Unit::A),
                evse_maximum_power_limit: Some(din_value(limits.max_power.0, Unit::W)),
                evse_maximum_voltage_limit: din_value(limits.max_voltage.0, Unit::V),
                evse_minimum_current_limit: din_value(limits.min_current.0, Unit::A),
                evse_minimum_voltage_limit: din_value(limits.min_voltage.0, Unit::V),
                evse_current_regulation_tolerance: None,
                evse_peak_current_ripple: din_value(ctx.config.peak_current_ripple.0, Unit::A),
                evse_energy_to_be_delivered: None,
            },
        ),
    }
}
