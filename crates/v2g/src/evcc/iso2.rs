//! ISO 15118-2 (DC, external payment), the car's request sequence.

use std::time::Duration;

use units::{Amps, Timestamp, Volts, Watts};
use v2g_messages::iso2::{
    AuthorizationReqType, BodyElement, CableCheckReqType, ChargeParameterDiscoveryReqType,
    ChargeProgressType, ChargingSessionType, CurrentDemandReqType, DcEvChargeParameterType,
    DcEvErrorCodeType, DcEvPowerDeliveryParameterType, DcEvStatusType, DcEvseStatusCodeType,
    DcEvseStatusType, EnergyTransferModeType, EvChargeParameter, EvPowerDeliveryParameter,
    EvseChargeParameter, EvseNotificationType, EvseProcessingType, PaymentOptionType,
    PaymentServiceSelectionReqType, PowerDeliveryReqType, PreChargeReqType, SaSchedules,
    SelectedServiceListType, SelectedServiceType, ServiceCategoryType, ServiceDiscoveryReqType,
    SessionSetupReqType, SessionStopReqType, UnitSymbolType as Unit, WeldingDetectionReqType,
};

use super::envelope::{self, Sequence};
use super::{Car, EvccError, Next};
use crate::dialect::Iso2;
use crate::timing;
use crate::values::{from_iso2, iso2_value};

/// The request the car sends next (and whose response it waits for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    SessionSetup,
    ServiceDiscovery,
    PaymentServiceSelection,
    Authorization,
    ChargeParameterDiscovery,
    CableCheck,
    PreCharge,
    PowerDeliveryStart,
    CurrentDemand,
    PowerDeliveryStop,
    WeldingDetection,
    SessionStop,
}

/// The car's ISO 15118-2 session.
#[derive(Debug)]
pub(crate) struct Ev {
    state: State,
    charge_service: u16,
}

impl Ev {
    pub(crate) fn new() -> Self {
        Self {
            state: State::SessionSetup,
            charge_service: 1,
        }
    }
}

impl Sequence for Ev {
    type Dialect = Iso2;

    // Inlined into the envelope, the request is built where it is encoded, not copied there.
    #[inline]
    fn request(&mut self, car: &mut Car, _now: Timestamp) -> (BodyElement, Duration) {
        use BodyElement as B;
        let status = ev_status(car);
        let (body, timeout) = match self.state {
            State::SessionSetup => (
                B::SessionSetupReq(SessionSetupReqType {
                    evccid: car.config.evcc_id.clone().into(),
                }),
                timing::EVCC_MSG_TIMEOUT,
            ),
            State::ServiceDiscovery => (
                B::ServiceDiscoveryReq(ServiceDiscoveryReqType {
                    service_scope: None,
                    service_category: Some(ServiceCategoryType::EvCharging),
                }),
                timing::EVCC_MSG_TIMEOUT,
            ),
            State::PaymentServiceSelection => (
                B::PaymentServiceSelectionReq(PaymentServiceSelectionReqType {
                    selected_payment_option: PaymentOptionType::ExternalPayment,
                    selected_service_list: SelectedServiceListType {
                        selected_service: vec![SelectedServiceType {
                            service_id: self.charge_service,
                            parameter_set_id: None,
                        }],
                    },
                }),
                timing::EVCC_MSG_TIMEOUT,
            ),
            State::Authorization => (
                B::AuthorizationReq(AuthorizationReqType::default()),
                timing::EVCC_MSG_TIMEOUT,
            ),
            State::ChargeParameterDiscovery => {
                let b = car.battery.config();
                (
                    B::ChargeParameterDiscoveryReq(ChargeParameterDiscoveryReqType {
                        max_entries_sa_schedule_tuple: None,
                        requested_energy_transfer_mode: EnergyTransferModeType::DcExtended,
                        ev_charge_parameter: EvChargeParameter::DcEvChargeParameter(
                            DcEvChargeParameterType {
                                departure_time: None,
                                dc_ev_status: status,
                                ev_maximum_current_limit: iso2_value(b.max_current.0, Unit::A),
                                ev_maximum_power_limit: Some(iso2_value(b.max_power.0, Unit::W)),
                                ev_maximum_voltage_limit: iso2_value(b.max_voltage.0, Unit::V),
                                ev_energy_capacity: Some(iso2_value(b.capacity.0, Unit::Wh)),
                                ev_energy_request: Some(iso2_value(
                                    car.battery.energy_to(car.config.target_soc).0,
                                    Unit::Wh,
                                )),
                                full_soc: Some(100),
                                bulk_soc: Some(80),
                            },
                        ),
                    }),
                    timing::EVCC_MSG_TIMEOUT,
                )
            }
            State::CableCheck => (
                B::CableCheckReq(CableCheckReqType {
                    dc_ev_status: status,
                }),
                timing::EVCC_MSG_TIMEOUT,
            ),
            State::PreCharge => {
                let voltage =
                    if car.config.behaviour.negative_precharge && car.precharge_requests == 0 {
                        -car.battery.voltage().0
                    } else {
                        car.battery.voltage().0
                    };
                car.precharge_requests += 1;
                (
                    B::PreChargeReq(PreChargeReqType {
                        dc_ev_status: status,
                        ev_target_voltage: iso2_value(voltage, Unit::V),
                        ev_target_current: iso2_value(1.0, Unit::A),
                    }),
                    timing::EVCC_MSG_TIMEOUT,
                )
            }
            State::PowerDeliveryStart | State::PowerDeliveryStop => {
                let start = self.state == State::PowerDeliveryStart;
                (
                    B::PowerDeliveryReq(PowerDeliveryReqType {
                        charge_progress: if start {
                            ChargeProgressType::Start
                        } else {
                            ChargeProgressType::Stop
                        },
                        sa_schedule_tuple_id: car
                            .schedule_id
                            .and_then(|id| u8::try_from(id).ok())
                            .unwrap_or(1),
                        charging_profile: None,
                        ev_power_delivery_parameter: Some(
                            EvPowerDeliveryParameter::DcEvPowerDeliveryParameter(
                                DcEvPowerDeliveryParameterType {
                                    dc_ev_status: status,
                                    bulk_charging_complete: None,
                                    charging_complete: !start,
                                },
                            ),
                        ),
                    }),
                    timing::EVCC_LONG_MSG_TIMEOUT,
                )
            }
            State::CurrentDemand => {
                let b = car.battery.config();
                (
                    B::CurrentDemandReq(CurrentDemandReqType {
                        dc_ev_status: status,
                        ev_target_current: iso2_value(car.target_current().0, Unit::A),
                        ev_maximum_voltage_limit: Some(iso2_value(b.max_voltage.0, Unit::V)),
                        ev_maximum_current_limit: Some(iso2_value(b.max_current.0, Unit::A)),
                        ev_maximum_power_limit: Some(iso2_value(b.max_power.0, Unit::W)),
                        bulk_charging_complete: Some(false),
                        charging_complete: car.ramp_down.is_some(),
                        remaining_time_to_full_so_c: None,
                        remaining_time_to_bulk_so_c: None,
                        ev_target_voltage: iso2_value(car.target_voltage().0, Unit::V),
                    }),
                    timing::EVCC_CURRENT_DEMAND_TIMEOUT,
                )
            }
            State::WeldingDetection => {
                car.welding_requests += 1;
                (
                    B::WeldingDetectionReq(WeldingDetectionReqType {
                        dc_ev_status: status,
                    }),
                    timing::EVCC_MSG_TIMEOUT,
                )
            }
            State::SessionStop => (
                B::SessionStopReq(SessionStopReqType {
                    charging_session: ChargingSessionType::Terminate,
                }),
                timing::EVCC_MSG_TIMEOUT,
            ),
        };
        (body, timeout)
    }

    fn response(
        &mut self,
        car: &mut Car,
        now: Timestamp,
        response: &BodyElement,
    ) -> Result<Next, EvccError> {
        use BodyElement as B;
        let period = car.config.period;
        match (self.state, response) {
            (State::SessionSetup, B::SessionSetupRes(_)) => {
                self.state = State::ServiceDiscovery;
                Ok(Next::Send)
            }
            (State::ServiceDiscovery, B::ServiceDiscoveryRes(res)) => {
                if !res
                    .payment_option_list
                    .payment_option
                    .contains(&PaymentOptionType::ExternalPayment)
                {
                    return Err(EvccError::Refused {
                        request: "ServiceDiscoveryReq",
                        code: "no ExternalPayment offered".into(),
                    });
                }
                let modes = &res
                    .charge_service
                    .supported_energy_transfer_mode
                    .energy_transfer_mode;
                if !modes.contains(&EnergyTransferModeType::DcExtended) {
                    return Err(EvccError::Refused {
                        request: "ServiceDiscoveryReq",
                        code: format!("no DC_extended offered ({modes:?})"),
                    });
                }
                self.charge_service = res.charge_service.service_id;
                self.state = State::PaymentServiceSelection;
                Ok(Next::Send)
            }
            (State::PaymentServiceSelection, B::PaymentServiceSelectionRes(_)) => {
                self.state = State::Authorization;
                Ok(Next::Send)
            }
            (State::Authorization, B::AuthorizationRes(res)) => {
                if res.evse_processing != EvseProcessingType::Finished {
                    car.in_loop(now, "Authorization", timing::EVCC_ONGOING_TIMEOUT)?;
                    return Ok(Next::After(period));
                }
                self.state = State::ChargeParameterDiscovery;
                Ok(Next::Send)
            }
            (State::ChargeParameterDiscovery, B::ChargeParameterDiscoveryRes(res)) => {
                if let EvseChargeParameter::DcEvseChargeParameter(p) = &res.evse_charge_parameter {
                    evse_status(car, &p.dc_evse_status);
                    car.evse.max_voltage = Some(Volts(from_iso2(&p.evse_maximum_voltage_limit)));
                    car.evse.max_current = Some(Amps(from_iso2(&p.evse_maximum_current_limit)));
                    car.evse.max_power = Some(Watts(from_iso2(&p.evse_maximum_power_limit)));
                }
                if res.evse_processing != EvseProcessingType::Finished {
                    car.in_loop(
                        now,
                        "ChargeParameterDiscovery",
                        timing::EVCC_ONGOING_TIMEOUT,
                    )?;
                    return Ok(Next::After(period));
                }
                if let Some(SaSchedules::SaScheduleList(list)) = &res.sa_schedules {
                    car.schedule_id = list
                        .sa_schedule_tuple
                        .first()
                        .map(|t| u32::from(t.sa_schedule_tuple_id));
                }
                self.state = if car.config.behaviour.stop_after_parameters {
                    State::SessionStop
                } else if car.config.behaviour.skip_to_charge_loop {
                    car.loop_started = Some(now);
                    State::CurrentDemand
                } else {
                    State::CableCheck
                };
                Ok(Next::Send)
            }
            (State::CableCheck, B::CableCheckRes(res)) => {
                evse_status(car, &res.dc_evse_status);
                car.in_loop(now, "CableCheck", timing::EVCC_CABLE_CHECK_TIMEOUT)?;
                if res.evse_processing == EvseProcessingType::Finished {
                    self.state = State::PreCharge;
                    return Ok(Next::Send);
                }
                Ok(Next::After(period))
            }
            (State::PreCharge, B::PreChargeRes(res)) => {
                evse_status(car, &res.dc_evse_status);
                car.measured(now, from_iso2(&res.evse_present_voltage), 0.0);
                car.in_loop(now, "PreCharge", timing::EVCC_PRE_CHARGE_TIMEOUT)?;
                if car.precharged() {
                    self.state = State::PowerDeliveryStart;
                    return Ok(Next::Send);
                }
                Ok(Next::After(period))
            }
            (State::PowerDeliveryStart, B::PowerDeliveryRes(_)) => {
                car.loop_started = Some(now);
                self.state = State::CurrentDemand;
                Ok(Next::Send)
            }
            (State::CurrentDemand, B::CurrentDemandRes(res)) => {
                evse_status(car, &res.dc_evse_status);
                car.measured(
                    now,
                    from_iso2(&res.evse_present_voltage),
                    from_iso2(&res.evse_present_current),
                );
                if let Some(v) = &res.evse_maximum_current_limit {
                    car.evse.max_current = Some(Amps(from_iso2(v)));
                }
                if let Some(v) = &res.evse_maximum_power_limit {
                    car.evse.max_power = Some(Watts(from_iso2(v)));
                }
                car.cycles += 1;
                if car.config.behaviour.silent_after_cycles == Some(car.cycles) {
                    return Ok(Next::Silent);
                }
                if car.loop_done(now) {
                    self.state = State::PowerDeliveryStop;
                    return Ok(Next::Send);
                }
                Ok(Next::After(period))
            }
            (State::PowerDeliveryStop, B::PowerDeliveryRes(_)) => {
                self.state = State::WeldingDetection;
                Ok(Next::Send)
            }
            (State::WeldingDetection, B::WeldingDetectionRes(res)) => {
                car.measured(now, from_iso2(&res.evse_present_voltage), 0.0);
                if car.welded_open() {
                    self.state = State::SessionStop;
                    return Ok(Next::Send);
                }
                Ok(Next::After(period))
            }
            (State::SessionStop, B::SessionStopRes(_)) => Ok(Next::Done),
            (_, other) => Err(envelope::unexpected::<Iso2>(other)),
        }
    }
}

fn ev_status(car: &Car) -> DcEvStatusType {
    DcEvStatusType {
        ev_ready: true,
        ev_error_code: DcEvErrorCodeType::NoError,
        evresssoc: car.battery.soc_byte(),
    }
}

fn evse_status(car: &mut Car, s: &DcEvseStatusType) {
    if s.evse_notification == EvseNotificationType::StopCharging
        || matches!(
            s.evse_status_code,
            DcEvseStatusCodeType::EvseShutdown
                | DcEvseStatusCodeType::EvseEmergencyShutdown
                | DcEvseStatusCodeType::EvseMalfunction
        )
    {
        car.evse.stop_requested = true;
    }
}
