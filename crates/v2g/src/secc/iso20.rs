//! ISO 15118-20 DC and DC_BPT (external identification means), the charger's state machine.
//!
//! The sequence: SessionSetup, AuthorizationSetup (EIM only), Authorization until Finished,
//! ServiceDiscovery (DC, and DC_BPT when the power stage can discharge), ServiceDetail
//! (optional, repeated: one parameter set per control mode), ServiceSelection,
//! DC_ChargeParameterDiscovery, ScheduleExchange, DC_CableCheck until Finished, DC_PreCharge
//! (repeated), PowerDelivery (Start; repeated while the car says Ongoing), DC_ChargeLoop,
//! PowerDelivery (Stop), DC_WeldingDetection (repeated), SessionStop. Common messages travel
//! as V2GTP payload type 0x8002, DC messages as 0x8004; responses use the request's type.
//!
//! In the charge loop the car's scheduled control mode sends target current and voltage (with
//! DC_BPT a negative current discharges the car); in dynamic control mode the charger decides
//! the power (the site's [`ChargerStatus::setpoint`](crate::charger::ChargerStatus::setpoint),
//! negative to discharge) within the car's limits.
//!
//! Every message has its own header; the envelope stamps the SessionID and the time into the
//! responses built here (their `header` is left default).

use units::{Amps, Percent, Timestamp, Volts, Watts};
use v2g_messages::iso20::common_messages::{
    self as cm, AsResAuthorizationMode, AuthorizationType, ChargeProgressType,
    ChargingScheduleType, ChargingSessionType, DynamicSeResControlModeType,
    EimAsResAuthorizationModeType, ParameterChoice, ParameterSetType, ParameterType,
    PowerScheduleEntryListType, PowerScheduleEntryType, PowerScheduleType,
    PriceLevelScheduleEntryListType, PriceLevelScheduleEntryType, PriceLevelScheduleType, Schedule,
    ScheduleTupleType, ScheduledSeResControlModeType, SeReqControlMode, SeResControlMode,
    ServiceListType, ServiceParameterListType, ServiceType,
};
use v2g_messages::iso20::common_types::{
    EvseNotificationType, EvseStatusType, MeterInfoType, ProcessingType, ResponseCodeType,
};
use v2g_messages::iso20::dc::{
    self, BptDcCpdResEnergyTransferModeType, BptDynamicDcClResControlModeType,
    BptScheduledDcClResControlModeType, ClReqControlMode, ClResControlMode,
    DcCpdReqEnergyTransferMode, DcCpdResEnergyTransferMode, DcCpdResEnergyTransferModeType,
    DynamicDcClResControlModeType, ScheduledDcClResControlModeType,
};

use super::charging::{Authorize, CableCheck, Condition};
use super::envelope::{Envelope, Machine, Request};
use super::{Ctx, EndReason, SessionState, Step};
use crate::ControlMode;
use crate::dialect::{Iso20, Iso20Message};
use crate::values::{from_rational, rational};

/// ISO 15118-20 energy transfer service IDs (Table 204): DC.
pub const SERVICE_DC: u16 = 2;
/// DC with bidirectional power transfer.
pub const SERVICE_DC_BPT: u16 = 6;
/// The one schedule tuple offered in scheduled mode.
const SCHEDULE_TUPLE_ID: u32 = 1;
/// Validity of the offered power schedule: a day.
const SCHEDULE_DURATION_S: u32 = 86_400;

/// ServiceDetail parameter values (ISO 15118-20 Tables 205–207 as Josev names them).
mod parameter {
    /// DC connector: extended (CCS).
    pub(super) const CONNECTOR_EXTENDED: i32 = 2;
    /// MobilityNeedsMode: provided by the car only (the only one allowed in scheduled mode).
    pub(super) const MOBILITY_NEEDS_BY_EVCC: i32 = 1;
    /// Pricing: none.
    pub(super) const NO_PRICING: i32 = 0;
    /// BPTChannel: unified (one channel for both directions).
    pub(super) const BPT_CHANNEL_UNIFIED: i32 = 1;
    /// GeneratorMode: grid following.
    pub(super) const GENERATOR_GRID_FOLLOWING: i32 = 1;
}

/// The energy transfer service the car selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Selected {
    bpt: bool,
    mode: ControlMode,
}

/// The energy transfer services offered in ServiceDiscovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Offered {
    dc: bool,
    bpt: bool,
}

impl Offered {
    fn contains(self, service: u16) -> bool {
        (service == SERVICE_DC && self.dc) || (service == SERVICE_DC_BPT && self.bpt)
    }

    /// The service IDs, DC first.
    fn ids(self) -> impl Iterator<Item = u16> {
        [(SERVICE_DC, self.dc), (SERVICE_DC_BPT, self.bpt)]
            .into_iter()
            .filter_map(|(id, offered)| offered.then_some(id))
    }
}

/// The ISO 15118-20 states of the charger: what it expects next.
// States named for what they expect next, as rustls names its handshake states.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    ExpectSessionSetup,
    ExpectAuthorizationSetup,
    /// `since`: the first Ongoing answer (the Ongoing limit counts from it).
    ExpectAuthorization {
        since: Option<Timestamp>,
    },
    ExpectServiceDiscovery,
    ExpectServiceDetailOrSelection {
        offered: Offered,
    },
    ExpectChargeParameterDiscovery(Selected),
    ExpectScheduleExchange(Selected),
    /// `since`: when the first request started the isolation test.
    ExpectCableCheck {
        sel: Selected,
        since: Option<Timestamp>,
    },
    ExpectPreCharge(Selected),
    ExpectPreChargeOrPowerDelivery(Selected),
    ExpectChargeLoopOrPowerDelivery(Selected),
    ExpectWeldingDetectionOrSessionStop,
}

impl State {
    fn expected(self) -> &'static str {
        match self {
            Self::ExpectSessionSetup => "SessionSetupReq",
            Self::ExpectAuthorizationSetup => "AuthorizationSetupReq",
            Self::ExpectAuthorization { .. } => "AuthorizationReq",
            Self::ExpectServiceDiscovery => "ServiceDiscoveryReq",
            Self::ExpectServiceDetailOrSelection { .. } => {
                "ServiceDetailReq or ServiceSelectionReq"
            }
            Self::ExpectChargeParameterDiscovery(_) => "DC_ChargeParameterDiscoveryReq",
            Self::ExpectScheduleExchange(_) => "ScheduleExchangeReq",
            Self::ExpectCableCheck { .. } => "DC_CableCheckReq",
            Self::ExpectPreCharge(_) => "DC_PreChargeReq",
            Self::ExpectPreChargeOrPowerDelivery(_) => "DC_PreChargeReq or PowerDeliveryReq",
            Self::ExpectChargeLoopOrPowerDelivery(_) => "DC_ChargeLoopReq or PowerDeliveryReq",
            Self::ExpectWeldingDetectionOrSessionStop => "DC_WeldingDetectionReq or SessionStopReq",
        }
    }

    fn allows_session_stop(self) -> bool {
        !matches!(
            self,
            Self::ExpectSessionSetup | Self::ExpectChargeLoopOrPowerDelivery(_)
        )
    }
}

/// ISO 15118-20 in the charger's envelope. See the [module docs](self).
impl Machine for Iso20 {
    type State = State;
    const START: State = State::ExpectSessionSetup;

    fn dispatch(
        state: &mut State,
        env: &mut Envelope<Self>,
        ctx: &mut Ctx<'_>,
        request: &Request<Iso20Message>,
    ) -> Step {
        use Iso20Message::{Common, Dc};
        use State as S;
        use cm::Document as C;
        use dc::Document as D;
        match (*state, &request.message) {
            (S::ExpectSessionSetup, Common(C::SessionSetupReq(req))) => {
                let resumed = env.set_up(ctx, request, req.evccid.clone());
                *state = S::ExpectAuthorizationSetup;
                let res = cm::SessionSetupResType {
                    header: Default::default(),
                    response_code: if resumed {
                        ResponseCodeType::OkOldSessionJoined
                    } else {
                        ResponseCodeType::OkNewSessionEstablished
                    },
                    evseid: ctx.config.evse_id.clone(),
                };
                env.reply(ctx, Common(C::SessionSetupRes(res)))
            }
            (S::ExpectAuthorizationSetup, Common(C::AuthorizationSetupReq(_))) => {
                *state = S::ExpectAuthorization { since: None };
                ctx.state(SessionState::Authorization);
                let res = cm::AuthorizationSetupResType {
                    header: Default::default(),
                    response_code: ResponseCodeType::Ok,
                    authorization_services: vec![AuthorizationType::Eim],
                    certificate_installation_service: false,
                    as_res_authorization_mode: AsResAuthorizationMode::EimAsResAuthorizationMode(
                        EimAsResAuthorizationModeType {},
                    ),
                };
                env.reply(ctx, Common(C::AuthorizationSetupRes(res)))
            }
            (S::ExpectAuthorization { since }, Common(C::AuthorizationReq(req))) => {
                if req.selected_authorization_service != AuthorizationType::Eim {
                    // Not offered; the car may try again with EIM.
                    let res = cm::AuthorizationResType {
                        header: Default::default(),
                        response_code: ResponseCodeType::WarningAuthorizationSelectionInvalid,
                        evse_processing: ProcessingType::Finished,
                    };
                    return env.reply(ctx, Common(C::AuthorizationRes(res)));
                }
                let (code, processing, end) = match ctx.authorize(since) {
                    Authorize::Granted => {
                        *state = S::ExpectServiceDiscovery;
                        (ResponseCodeType::Ok, ProcessingType::Finished, None)
                    }
                    Authorize::Ongoing { since } => {
                        *state = S::ExpectAuthorization { since: Some(since) };
                        (ResponseCodeType::Ok, ProcessingType::Ongoing, None)
                    }
                    Authorize::Denied | Authorize::TimedOut => (
                        ResponseCodeType::Failed,
                        ProcessingType::Finished,
                        Some(EndReason::NotAuthorized),
                    ),
                };
                let res = cm::AuthorizationResType {
                    header: Default::default(),
                    response_code: code,
                    evse_processing: processing,
                };
                match end {
                    Some(end) => env.reply_and_end(ctx, Common(C::AuthorizationRes(res)), end),
                    None => env.reply(ctx, Common(C::AuthorizationRes(res))),
                }
            }
            (S::ExpectServiceDiscovery, Common(C::ServiceDiscoveryReq(req))) => {
                let mut offered = Offered {
                    dc: true,
                    bpt: ctx.config.bidirectional
                        && ctx.status.limits.max_discharge_current.0 > 0.0,
                };
                // A car that lists the services it supports gets only those.
                if let Some(supported) = &req.supported_service_i_ds {
                    let both = Offered {
                        dc: offered.dc && supported.service_id.contains(&SERVICE_DC),
                        bpt: offered.bpt && supported.service_id.contains(&SERVICE_DC_BPT),
                    };
                    if both.dc || both.bpt {
                        offered = both;
                    }
                }
                *state = S::ExpectServiceDetailOrSelection { offered };
                ctx.state(SessionState::Parameters);
                let res = cm::ServiceDiscoveryResType {
                    header: Default::default(),
                    response_code: ResponseCodeType::Ok,
                    service_renegotiation_supported: false,
                    energy_transfer_service_list: ServiceListType {
                        service: offered
                            .ids()
                            .map(|service_id| ServiceType {
                                service_id,
                                free_service: ctx.config.free_service,
                            })
                            .collect(),
                    },
                    vas_list: None,
                };
                env.reply(ctx, Common(C::ServiceDiscoveryRes(res)))
            }
            (S::ExpectServiceDetailOrSelection { offered }, Common(C::ServiceDetailReq(req))) => {
                if !offered.contains(req.service_id) {
                    return env.reject(ctx, request, ResponseCodeType::FailedServiceIdInvalid);
                }
                let res = cm::ServiceDetailResType {
                    header: Default::default(),
                    response_code: ResponseCodeType::Ok,
                    service_id: req.service_id,
                    service_parameter_list: parameter_sets(ctx, req.service_id),
                };
                env.reply(ctx, Common(C::ServiceDetailRes(res)))
            }
            (
                S::ExpectServiceDetailOrSelection { offered },
                Common(C::ServiceSelectionReq(req)),
            ) => {
                let service = req.selected_energy_transfer_service.clone();
                let index = usize::from(service.parameter_set_id).checked_sub(1);
                let mode = index.and_then(|i| ctx.config.control_modes.get(i).copied());
                let valid = offered.contains(service.service_id)
                    && req
                        .selected_vas_list
                        .as_ref()
                        .is_none_or(|l| l.selected_service.is_empty());
                let (Some(mode), true) = (mode, valid) else {
                    return env.reject(
                        ctx,
                        request,
                        ResponseCodeType::FailedServiceSelectionInvalid,
                    );
                };
                *state = S::ExpectChargeParameterDiscovery(Selected {
                    bpt: service.service_id == SERVICE_DC_BPT,
                    mode,
                });
                let res = cm::ServiceSelectionResType {
                    header: Default::default(),
                    response_code: ResponseCodeType::Ok,
                };
                env.reply(ctx, Common(C::ServiceSelectionRes(res)))
            }
            (S::ExpectChargeParameterDiscovery(sel), Dc(D::DcChargeParameterDiscoveryReq(req))) => {
                let matches = match &req.dc_cpd_req_energy_transfer_mode {
                    DcCpdReqEnergyTransferMode::DcCpdReqEnergyTransferMode(p) => {
                        ctx.ev(|ev| {
                            ev.max_power = Some(Watts(from_rational(&p.ev_maximum_charge_power)));
                            ev.max_current =
                                Some(Amps(from_rational(&p.ev_maximum_charge_current)));
                            ev.max_voltage = Some(Volts(from_rational(&p.ev_maximum_voltage)));
                            ev.target_soc = p.target_soc.map(|s| Percent(f64::from(s)));
                        });
                        !sel.bpt
                    }
                    DcCpdReqEnergyTransferMode::BptDcCpdReqEnergyTransferMode(p) => {
                        ctx.ev(|ev| {
                            ev.max_power = Some(Watts(from_rational(&p.ev_maximum_charge_power)));
                            ev.max_current =
                                Some(Amps(from_rational(&p.ev_maximum_charge_current)));
                            ev.max_voltage = Some(Volts(from_rational(&p.ev_maximum_voltage)));
                            ev.max_discharge_power =
                                Some(Watts(from_rational(&p.ev_maximum_discharge_power)));
                            ev.max_discharge_current =
                                Some(Amps(from_rational(&p.ev_maximum_discharge_current)));
                            ev.target_soc = p.target_soc.map(|s| Percent(f64::from(s)));
                        });
                        sel.bpt
                    }
                };
                if !matches {
                    // The parameters of another service than selected ([V2G20-1619]).
                    return env.reject(ctx, request, ResponseCodeType::FailedWrongChargeParameter);
                }
                *state = S::ExpectScheduleExchange(sel);
                let res = dc::DcChargeParameterDiscoveryResType {
                    header: Default::default(),
                    response_code: ResponseCodeType::Ok,
                    dc_cpd_res_energy_transfer_mode: cpd_parameters(ctx, sel.bpt),
                };
                env.reply(ctx, Dc(D::DcChargeParameterDiscoveryRes(res)))
            }
            (S::ExpectScheduleExchange(sel), Common(C::ScheduleExchangeReq(req))) => {
                let control_mode = match &req.se_req_control_mode {
                    SeReqControlMode::ScheduledSeReqControlMode(_) => ControlMode::Scheduled,
                    SeReqControlMode::DynamicSeReqControlMode(p) => {
                        ctx.ev(|ev| {
                            if let Some(soc) = p.target_soc {
                                ev.target_soc = Some(Percent(f64::from(soc)));
                            }
                        });
                        ControlMode::Dynamic
                    }
                };
                if control_mode != sel.mode {
                    return env.reject(ctx, request, ResponseCodeType::Failed);
                }
                *state = S::ExpectCableCheck { sel, since: None };
                let res = cm::ScheduleExchangeResType {
                    header: Default::default(),
                    response_code: ResponseCodeType::Ok,
                    evse_processing: ProcessingType::Finished,
                    go_to_pause: None,
                    se_res_control_mode: schedule(ctx, sel),
                };
                env.reply(ctx, Common(C::ScheduleExchangeRes(res)))
            }
            (S::ExpectCableCheck { sel, since }, Dc(D::DcCableCheckReq(_))) => {
                ctx.state(SessionState::CableCheck);
                let (code, processing, end) = match ctx.cable_check(since) {
                    CableCheck::Ongoing { since } => {
                        *state = S::ExpectCableCheck {
                            sel,
                            since: Some(since),
                        };
                        (ResponseCodeType::Ok, ProcessingType::Ongoing, None)
                    }
                    CableCheck::Done(_) => {
                        *state = S::ExpectPreCharge(sel);
                        ctx.state(SessionState::PreCharge);
                        (ResponseCodeType::Ok, ProcessingType::Finished, None)
                    }
                    CableCheck::Failed(level) => (
                        ResponseCodeType::Failed,
                        ProcessingType::Finished,
                        Some(EndReason::CableCheckFailed(level)),
                    ),
                };
                let res = dc::DcCableCheckResType {
                    header: Default::default(),
                    response_code: code,
                    evse_processing: processing,
                };
                match end {
                    Some(end) => env.reply_and_end(ctx, Dc(D::DcCableCheckRes(res)), end),
                    None => env.reply(ctx, Dc(D::DcCableCheckRes(res))),
                }
            }
            (
                S::ExpectPreCharge(sel) | S::ExpectPreChargeOrPowerDelivery(sel),
                Dc(D::DcPreChargeReq(req)),
            ) => {
                let warning = ctx.charging.precharge(
                    from_rational(&req.ev_target_voltage),
                    ctx.config.precharge_current_limit.0,
                    ctx.status,
                    ctx.config,
                );
                if let Some(w) = warning {
                    ctx.warn(w);
                }
                *state = S::ExpectPreChargeOrPowerDelivery(sel);
                let res = dc::DcPreChargeResType {
                    header: Default::default(),
                    response_code: ResponseCodeType::Ok,
                    evse_present_voltage: rational(ctx.status.present.voltage.0),
                };
                env.reply(ctx, Dc(D::DcPreChargeRes(res)))
            }
            (
                S::ExpectPreChargeOrPowerDelivery(sel) | S::ExpectChargeLoopOrPowerDelivery(sel),
                Common(C::PowerDeliveryReq(req)),
            ) => {
                let starting = matches!(*state, S::ExpectPreChargeOrPowerDelivery(_));
                match (req.charge_progress, req.ev_processing) {
                    // Still preparing (a car may repeat PowerDeliveryReq while Ongoing).
                    (
                        _,
                        ProcessingType::Ongoing
                        | ProcessingType::OngoingWaitingForCustomerInteraction,
                    ) if starting => {}
                    (ChargeProgressType::Start, _) => {
                        if starting {
                            ctx.charging.start_delivery();
                            *state = S::ExpectChargeLoopOrPowerDelivery(sel);
                            ctx.state(SessionState::Charging);
                        }
                    }
                    (ChargeProgressType::Stop, _) => {
                        ctx.charging.stop();
                        *state = S::ExpectWeldingDetectionOrSessionStop;
                        ctx.state(SessionState::Stopping);
                    }
                    (ChargeProgressType::Standby, _) => {
                        let res = cm::PowerDeliveryResType {
                            header: Default::default(),
                            response_code: ResponseCodeType::WarningStandbyNotAllowed,
                            evse_status: None,
                        };
                        return env.reply(ctx, Common(C::PowerDeliveryRes(res)));
                    }
                    (ChargeProgressType::ScheduleRenegotiation, _) => {
                        return env.reject(
                            ctx,
                            request,
                            ResponseCodeType::FailedScheduleRenegotiation,
                        );
                    }
                }
                let res = cm::PowerDeliveryResType {
                    header: Default::default(),
                    response_code: ResponseCodeType::Ok,
                    evse_status: evse_status(ctx),
                };
                env.reply(ctx, Common(C::PowerDeliveryRes(res)))
            }
            (S::ExpectChargeLoopOrPowerDelivery(sel), Dc(D::DcChargeLoopReq(req))) => {
                charge_loop(env, ctx, request, sel, req)
            }
            (S::ExpectWeldingDetectionOrSessionStop, Dc(D::DcWeldingDetectionReq(_))) => {
                ctx.charging.stop();
                let res = dc::DcWeldingDetectionResType {
                    header: Default::default(),
                    response_code: ResponseCodeType::Ok,
                    evse_present_voltage: rational(ctx.status.present.voltage.0),
                };
                env.reply(ctx, Dc(D::DcWeldingDetectionRes(res)))
            }
            (expecting, Common(C::SessionStopReq(req))) if expecting.allows_session_stop() => {
                ctx.charging.stop();
                if req.charging_session == ChargingSessionType::ServiceRenegotiation {
                    return env.reject(
                        ctx,
                        request,
                        ResponseCodeType::FailedNoServiceRenegotiationSupported,
                    );
                }
                let pause = req.charging_session == ChargingSessionType::Pause;
                let res = cm::SessionStopResType {
                    header: Default::default(),
                    response_code: ResponseCodeType::Ok,
                };
                env.reply_and_end(
                    ctx,
                    Common(C::SessionStopRes(res)),
                    EndReason::Stopped { pause },
                )
            }
            (expecting, _) => env.sequence_error(ctx, request, expecting.expected()),
        }
    }

    fn refusal(
        ctx: &Ctx<'_>,
        request: &Iso20Message,
        code: ResponseCodeType,
    ) -> Option<Iso20Message> {
        use cm::Document as C;
        use dc::Document as D;
        let voltage = rational(ctx.status.present.voltage.0);
        Some(match request {
            Iso20Message::Common(doc) => Iso20Message::Common(match doc {
                C::SessionSetupReq(_) => C::SessionSetupRes(cm::SessionSetupResType {
                    header: Default::default(),
                    response_code: code,
                    evseid: ctx.config.evse_id.clone(),
                }),
                C::AuthorizationSetupReq(_) => {
                    C::AuthorizationSetupRes(cm::AuthorizationSetupResType {
                        header: Default::default(),
                        response_code: code,
                        authorization_services: vec![AuthorizationType::Eim],
                        ..Default::default()
                    })
                }
                C::AuthorizationReq(_) => C::AuthorizationRes(cm::AuthorizationResType {
                    header: Default::default(),
                    response_code: code,
                    evse_processing: ProcessingType::Finished,
                }),
                C::ServiceDiscoveryReq(_) => C::ServiceDiscoveryRes(cm::ServiceDiscoveryResType {
                    header: Default::default(),
                    response_code: code,
                    service_renegotiation_supported: false,
                    energy_transfer_service_list: ServiceListType {
                        service: vec![ServiceType {
                            service_id: SERVICE_DC,
                            free_service: ctx.config.free_service,
                        }],
                    },
                    vas_list: None,
                }),
                C::ServiceDetailReq(r) => C::ServiceDetailRes(cm::ServiceDetailResType {
                    header: Default::default(),
                    response_code: code,
                    service_id: r.service_id,
                    service_parameter_list: parameter_sets(ctx, r.service_id),
                }),
                C::ServiceSelectionReq(_) => C::ServiceSelectionRes(cm::ServiceSelectionResType {
                    header: Default::default(),
                    response_code: code,
                }),
                C::ScheduleExchangeReq(_) => C::ScheduleExchangeRes(cm::ScheduleExchangeResType {
                    header: Default::default(),
                    response_code: code,
                    evse_processing: ProcessingType::Finished,
                    go_to_pause: None,
                    se_res_control_mode: SeResControlMode::DynamicSeResControlMode(
                        DynamicSeResControlModeType::default(),
                    ),
                }),
                C::PowerDeliveryReq(_) => C::PowerDeliveryRes(cm::PowerDeliveryResType {
                    header: Default::default(),
                    response_code: code,
                    evse_status: None,
                }),
                C::SessionStopReq(_) => C::SessionStopRes(cm::SessionStopResType {
                    header: Default::default(),
                    response_code: code,
                }),
                C::MeteringConfirmationReq(_) => {
                    C::MeteringConfirmationRes(cm::MeteringConfirmationResType {
                        header: Default::default(),
                        response_code: code,
                    })
                }
                C::VehicleCheckInReq(_) => C::VehicleCheckInRes(cm::VehicleCheckInResType {
                    header: Default::default(),
                    response_code: code,
                    ..Default::default()
                }),
                C::VehicleCheckOutReq(_) => C::VehicleCheckOutRes(cm::VehicleCheckOutResType {
                    header: Default::default(),
                    response_code: code,
                    ..Default::default()
                }),
                C::CertificateInstallationReq(_) => {
                    // The schema wants one sub-certificate even here (an empty one will do).
                    let chain = cm::ContractCertificateChainType {
                        sub_certificates: cm::SubCertificatesType {
                            certificate: vec![Default::default()],
                        },
                        ..Default::default()
                    };
                    C::CertificateInstallationRes(cm::CertificateInstallationResType {
                        header: Default::default(),
                        response_code: code,
                        evse_processing: ProcessingType::Finished,
                        signed_installation_data: cm::SignedInstallationDataType {
                            contract_certificate_chain: chain,
                            ..Default::default()
                        },
                        ..Default::default()
                    })
                }
                _ => return None,
            }),
            Iso20Message::Dc(doc) => Iso20Message::Dc(match doc {
                D::DcChargeParameterDiscoveryReq(r) => {
                    let bpt = matches!(
                        r.dc_cpd_req_energy_transfer_mode,
                        DcCpdReqEnergyTransferMode::BptDcCpdReqEnergyTransferMode(_)
                    );
                    D::DcChargeParameterDiscoveryRes(dc::DcChargeParameterDiscoveryResType {
                        header: Default::default(),
                        response_code: code,
                        dc_cpd_res_energy_transfer_mode: cpd_parameters(ctx, bpt),
                    })
                }
                D::DcCableCheckReq(_) => D::DcCableCheckRes(dc::DcCableCheckResType {
                    header: Default::default(),
                    response_code: code,
                    evse_processing: ProcessingType::Finished,
                }),
                D::DcPreChargeReq(_) => D::DcPreChargeRes(dc::DcPreChargeResType {
                    header: Default::default(),
                    response_code: code,
                    evse_present_voltage: voltage,
                }),
                D::DcChargeLoopReq(r) => D::DcChargeLoopRes(dc::DcChargeLoopResType {
                    header: Default::default(),
                    response_code: code,
                    evse_status: Some(EvseStatusType {
                        notification_max_delay: 0,
                        evse_notification: EvseNotificationType::Terminate,
                    }),
                    meter_info: None,
                    receipt: None,
                    evse_present_current: rational(ctx.status.present.current.0),
                    evse_present_voltage: voltage,
                    evse_power_limit_achieved: false,
                    evse_current_limit_achieved: false,
                    evse_voltage_limit_achieved: false,
                    cl_res_control_mode: failed_control_mode(&r.cl_req_control_mode),
                }),
                D::DcWeldingDetectionReq(_) => {
                    D::DcWeldingDetectionRes(dc::DcWeldingDetectionResType {
                        header: Default::default(),
                        response_code: code,
                        evse_present_voltage: voltage,
                    })
                }
                _ => return None,
            }),
        })
    }
}

/// One DC_ChargeLoopReq.
fn charge_loop(
    env: &Envelope<Iso20>,
    ctx: &mut Ctx<'_>,
    request: &Request<Iso20Message>,
    sel: Selected,
    req: &dc::DcChargeLoopReqType,
) -> Step {
    if let Some(soc) = req.display_parameters.as_ref().and_then(|d| d.present_soc) {
        ctx.ev(|ev| ev.soc = Some(Percent(f64::from(soc))));
    }
    let limits = ctx.status.limits;
    let max_voltage = rational(limits.max_voltage.0);
    let max_charge_power = rational(limits.max_power.0);
    let min_charge_power = rational(0.0);
    let max_charge_current = rational(limits.max_current.0);
    let (mode, delivery) = match (&req.cl_req_control_mode, sel.mode, sel.bpt) {
        (ClReqControlMode::ScheduledDcClReqControlMode(p), ControlMode::Scheduled, false) => {
            let (delivery, warning) = ctx.charging.deliver(
                from_rational(&p.ev_target_voltage),
                from_rational(&p.ev_target_current),
                false,
                ctx.status,
            );
            if let Some(w) = warning {
                ctx.warn(w);
            }
            let mode =
                ClResControlMode::ScheduledDcClResControlMode(ScheduledDcClResControlModeType {
                    evse_maximum_charge_power: Some(max_charge_power),
                    evse_minimum_charge_power: Some(min_charge_power),
                    evse_maximum_charge_current: Some(max_charge_current),
                    evse_maximum_voltage: Some(max_voltage),
                });
            (mode, delivery)
        }
        (ClReqControlMode::BptScheduledDcClReqControlMode(p), ControlMode::Scheduled, true) => {
            let (delivery, warning) = ctx.charging.deliver(
                from_rational(&p.ev_target_voltage),
                from_rational(&p.ev_target_current),
                true,
                ctx.status,
            );
            if let Some(w) = warning {
                ctx.warn(w);
            }
            let mode = ClResControlMode::BptScheduledDcClResControlMode(
                BptScheduledDcClResControlModeType {
                    evse_maximum_charge_power: Some(max_charge_power),
                    evse_minimum_charge_power: Some(min_charge_power),
                    evse_maximum_charge_current: Some(max_charge_current),
                    evse_maximum_voltage: Some(max_voltage),
                    evse_maximum_discharge_power: Some(rational(limits.max_discharge_power.0)),
                    evse_minimum_discharge_power: Some(rational(0.0)),
                    evse_maximum_discharge_current: Some(rational(limits.max_discharge_current.0)),
                    evse_minimum_voltage: Some(rational(limits.min_voltage.0)),
                },
            );
            (mode, delivery)
        }
        (ClReqControlMode::DynamicDcClReqControlMode(p), ControlMode::Dynamic, false) => {
            let ev_max = from_rational(&p.ev_maximum_charge_power);
            let wanted = from_rational(&p.ev_target_energy_request) > 0.0;
            let power = dynamic_power(ctx, wanted, ev_max, 0.0);
            let delivery =
                ctx.charging
                    .deliver_power(power, from_rational(&p.ev_maximum_voltage), ctx.status);
            let mode = ClResControlMode::DynamicDcClResControlMode(DynamicDcClResControlModeType {
                departure_time: None,
                minimum_soc: None,
                target_soc: None,
                ack_max_delay: None,
                evse_maximum_charge_power: max_charge_power,
                evse_minimum_charge_power: min_charge_power,
                evse_maximum_charge_current: max_charge_current,
                evse_maximum_voltage: max_voltage,
            });
            (mode, delivery)
        }
        (ClReqControlMode::BptDynamicDcClReqControlMode(p), ControlMode::Dynamic, true) => {
            ctx.ev(|ev| {
                ev.max_discharge_power = Some(Watts(from_rational(&p.ev_maximum_discharge_power)));
                ev.max_discharge_current =
                    Some(Amps(from_rational(&p.ev_maximum_discharge_current)));
            });
            let ev_max = from_rational(&p.ev_maximum_charge_power);
            let ev_max_discharge = from_rational(&p.ev_maximum_discharge_power);
            let wanted = from_rational(&p.ev_target_energy_request) > 0.0;
            let power = dynamic_power(ctx, wanted, ev_max, ev_max_discharge);
            let delivery =
                ctx.charging
                    .deliver_power(power, from_rational(&p.ev_maximum_voltage), ctx.status);
            let mode =
                ClResControlMode::BptDynamicDcClResControlMode(BptDynamicDcClResControlModeType {
                    departure_time: None,
                    minimum_soc: None,
                    target_soc: None,
                    ack_max_delay: None,
                    evse_maximum_charge_power: max_charge_power,
                    evse_minimum_charge_power: min_charge_power,
                    evse_maximum_charge_current: max_charge_current,
                    evse_maximum_voltage: max_voltage,
                    evse_maximum_discharge_power: rational(limits.max_discharge_power.0),
                    evse_minimum_discharge_power: rational(0.0),
                    evse_maximum_discharge_current: rational(limits.max_discharge_current.0),
                    evse_minimum_voltage: rational(limits.min_voltage.0),
                });
            (mode, delivery)
        }
        _ => {
            // Another control mode or service than selected: EVerest answers FAILED too.
            return env.reject(ctx, request, ResponseCodeType::Failed);
        }
    };
    let meter_info = req.meter_info_requested.then(|| MeterInfoType {
        meter_id: ctx.config.meter_id.clone(),
        charged_energy_reading_wh: ctx.charging.charged_wh.max(0.0) as u64,
        bpt_discharged_energy_reading_wh: sel
            .bpt
            .then_some(ctx.charging.discharged_wh.max(0.0) as u64),
        meter_timestamp: Some(ctx.unix_secs()),
        ..Default::default()
    });
    let res = dc::DcChargeLoopResType {
        header: Default::default(),
        response_code: ResponseCodeType::Ok,
        evse_status: evse_status(ctx),
        meter_info,
        receipt: None,
        evse_present_current: rational(ctx.status.present.current.0),
        evse_present_voltage: rational(ctx.status.present.voltage.0),
        evse_power_limit_achieved: delivery.power_limit_achieved,
        evse_current_limit_achieved: delivery.current_limit_achieved,
        evse_voltage_limit_achieved: delivery.voltage_limit_achieved,
        cl_res_control_mode: mode,
    };
    env.reply(ctx, Iso20Message::Dc(dc::Document::DcChargeLoopRes(res)))
}

/// The power the charger decides in dynamic mode: the site's setpoint, or the most the car
/// takes; within the car's limits (`ev_max_discharge` 0 without BPT) and the charger's.
fn dynamic_power(ctx: &Ctx<'_>, wanted: bool, ev_max_charge: f64, ev_max_discharge: f64) -> f64 {
    let limits = ctx.status.limits;
    let max = ev_max_charge.min(limits.max_power.0).max(0.0);
    let min = -(ev_max_discharge.min(limits.max_discharge_power.0).max(0.0));
    let target = match ctx.status.setpoint {
        Some(p) => p.0,
        // Without a setpoint, charge as much as the car wants.
        None if wanted => max,
        None => 0.0,
    };
    if target.is_finite() {
        target.clamp(min, max)
    } else {
        0.0
    }
}

/// The response control mode matching a request's, empty, for negative responses.
fn failed_control_mode(req: &ClReqControlMode) -> ClResControlMode {
    match req {
        ClReqControlMode::ScheduledDcClReqControlMode(_) => {
            ClResControlMode::ScheduledDcClResControlMode(Default::default())
        }
        ClReqControlMode::BptScheduledDcClReqControlMode(_) => {
            ClResControlMode::BptScheduledDcClResControlMode(Default::default())
        }
        ClReqControlMode::BptDynamicDcClReqControlMode(_) => {
            ClResControlMode::BptDynamicDcClResControlMode(Default::default())
        }
        _ => ClResControlMode::DynamicDcClResControlMode(Default::default()),
    }
}

/// EVSEStatus with a Terminate notification when the charger wants the car to stop.
fn evse_status(ctx: &Ctx<'_>) -> Option<EvseStatusType> {
    (ctx.charging.condition(ctx.status) != Condition::Ready
        && ctx.charging.condition(ctx.status) != Condition::IsolationMonitoringActive)
        .then_some(EvseStatusType {
            notification_max_delay: 0,
            evse_notification: EvseNotificationType::Terminate,
        })
}

/// The ServiceDetail parameter sets of `service`: one per configured control mode, numbered
/// from 1.
fn parameter_sets(ctx: &Ctx<'_>, service: u16) -> ServiceParameterListType {
    let int = |name: &str, value: i32| ParameterType {
        name: name.to_owned(),
        choice: ParameterChoice::IntValue(value),
    };
    let parameter_set = ctx
        .config
        .control_modes
        .iter()
        .zip(1u16..)
        .map(|(mode, id)| {
            let mut parameter = vec![
                int("Connector", parameter::CONNECTOR_EXTENDED),
                int("ControlMode", mode.code()),
                int("MobilityNeedsMode", parameter::MOBILITY_NEEDS_BY_EVCC),
                int("Pricing", parameter::NO_PRICING),
            ];
            if service == SERVICE_DC_BPT {
                parameter.push(int("BPTChannel", parameter::BPT_CHANNEL_UNIFIED));
                parameter.push(int("GeneratorMode", parameter::GENERATOR_GRID_FOLLOWING));
            }
            ParameterSetType {
                parameter_set_id: id,
                parameter,
            }
        })
        .collect();
    ServiceParameterListType { parameter_set }
}

/// DC_ChargeParameterDiscoveryRes parameters.
fn cpd_parameters(ctx: &Ctx<'_>, bpt: bool) -> DcCpdResEnergyTransferMode {
    let l = ctx.status.limits;
    if bpt {
        DcCpdResEnergyTransferMode::BptDcCpdResEnergyTransferMode(
            BptDcCpdResEnergyTransferModeType {
                evse_maximum_charge_power: rational(l.max_power.0),
                evse_minimum_charge_power: rational(0.0),
                evse_maximum_charge_current: rational(l.max_current.0),
                evse_minimum_charge_current: rational(l.min_current.0),
                evse_maximum_voltage: rational(l.max_voltage.0),
                evse_minimum_voltage: rational(l.min_voltage.0),
                evse_power_ramp_limitation: None,
                evse_maximum_discharge_power: rational(l.max_discharge_power.0),
                evse_minimum_discharge_power: rational(0.0),
                evse_maximum_discharge_current: rational(l.max_discharge_current.0),
                evse_minimum_discharge_current: rational(0.0),
            },
        )
    } else {
        DcCpdResEnergyTransferMode::DcCpdResEnergyTransferMode(DcCpdResEnergyTransferModeType {
            evse_maximum_charge_power: rational(l.max_power.0),
            evse_minimum_charge_power: rational(0.0),
            evse_maximum_charge_current: rational(l.max_current.0),
            evse_minimum_charge_current: rational(l.min_current.0),
            evse_maximum_voltage: rational(l.max_voltage.0),
            evse_minimum_voltage: rational(l.min_voltage.0),
            evse_power_ramp_limitation: None,
        })
    }
}

/// ScheduleExchangeRes control mode: in scheduled mode one tuple with the maximum power for a
/// day (and, with BPT, a discharging schedule of negative power); in dynamic mode nothing to
/// announce.
fn schedule(ctx: &Ctx<'_>, sel: Selected) -> SeResControlMode {
    match sel.mode {
        ControlMode::Dynamic => {
            SeResControlMode::DynamicSeResControlMode(DynamicSeResControlModeType::default())
        }
        ControlMode::Scheduled => {
            let limits = ctx.status.limits;
            let power_schedule = |power: f64| PowerScheduleType {
                time_anchor: ctx.unix_secs(),
                available_energy: None,
                power_tolerance: None,
                power_schedule_entries: PowerScheduleEntryListType {
                    power_schedule_entry: vec![PowerScheduleEntryType {
                        duration: SCHEDULE_DURATION_S,
                        power: rational(power),
                        power_l2: None,
                        power_l3: None,
                    }],
                },
            };
            // [V2G20-2176] wants a price schedule with each power schedule. EVerest leaves it
            // out (an agreement at the ElaadNL testival), but Josev's EV rejects a schedule
            // without one: a single flat price level costs nothing to send.
            let prices = || {
                Some(Schedule::PriceLevelSchedule(PriceLevelScheduleType {
                    id: None,
                    time_anchor: ctx.unix_secs(),
                    price_schedule_id: 1,
                    price_schedule_description: None,
                    number_of_price_levels: 1,
                    price_level_schedule_entries: PriceLevelScheduleEntryListType {
                        price_level_schedule_entry: vec![PriceLevelScheduleEntryType {
                            duration: SCHEDULE_DURATION_S,
                            price_level: 0,
                        }],
                    },
                }))
            };
            SeResControlMode::ScheduledSeResControlMode(ScheduledSeResControlModeType {
                schedule_tuple: vec![ScheduleTupleType {
                    schedule_tuple_id: SCHEDULE_TUPLE_ID,
                    charging_schedule: ChargingScheduleType {
                        power_schedule: power_schedule(limits.max_power.0),
                        schedule: prices(),
                    },
                    discharging_schedule: sel.bpt.then(|| ChargingScheduleType {
                        power_schedule: power_schedule(-limits.max_discharge_power.0),
                        schedule: prices(),
                    }),
                }],
            })
        }
    }
}
