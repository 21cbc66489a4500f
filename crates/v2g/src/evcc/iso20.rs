//! ISO 15118-20 DC and DC_BPT (EIM), the car's request sequence.

use std::time::Duration;

use units::{Amps, Timestamp, Volts, Watts};
use v2g_messages::iso20::common_messages::{
    self as cm, AReqAuthorizationMode, AuthorizationType, ChannelSelectionType, ChargeProgressType,
    ChargingSessionType, DynamicEvpptControlModeType, DynamicSeReqControlModeType,
    EimAReqAuthorizationModeType, EvPowerProfileEntryListType, EvPowerProfileType,
    EvpptControlMode, ParameterChoice, PowerScheduleEntryType, ScheduledEvpptControlModeType,
    ScheduledSeReqControlModeType, SeReqControlMode, SeResControlMode, SelectedServiceType,
};
use v2g_messages::iso20::common_types::{
    DisplayParametersType, EvseNotificationType, EvseStatusType, MessageHeaderType, ProcessingType,
};
use v2g_messages::iso20::dc::{
    self, BptDcCpdReqEnergyTransferModeType, BptDynamicDcClReqControlModeType,
    BptScheduledDcClReqControlModeType, ClReqControlMode, DcCpdReqEnergyTransferMode,
    DcCpdReqEnergyTransferModeType, DcCpdResEnergyTransferMode, DynamicDcClReqControlModeType,
    ScheduledDcClReqControlModeType,
};

use super::envelope::{self, Sequence};
use super::{Car, EvccError, Next};
use crate::ControlMode;
use crate::dialect::{Iso20, Iso20Message};
use crate::secc::iso20::{SERVICE_DC, SERVICE_DC_BPT};
use crate::timing;
use crate::values::{from_rational, rational};

/// The request the car sends next (and whose response it waits for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    SessionSetup,
    AuthorizationSetup,
    Authorization,
    ServiceDiscovery,
    ServiceDetail,
    ServiceSelection,
    ChargeParameterDiscovery,
    ScheduleExchange,
    CableCheck,
    PreCharge,
    PowerDeliveryStart,
    ChargeLoop,
    PowerDeliveryStop,
    WeldingDetection,
    SessionStop,
}

/// The car's ISO 15118-20 session.
#[derive(Debug)]
pub(crate) struct Ev {
    state: State,
    /// The energy transfer service chosen (DC or DC_BPT).
    service: u16,
    /// The parameter set chosen, and its control mode.
    parameter_set: u16,
    mode: ControlMode,
}

/// The longest a schedule may be: a day.
const DURATION_S: u32 = 86_400;

impl Ev {
    pub(crate) fn new() -> Self {
        Self {
            state: State::SessionSetup,
            service: SERVICE_DC,
            parameter_set: 1,
            mode: ControlMode::Scheduled,
        }
    }

    fn bpt(&self) -> bool {
        self.service == SERVICE_DC_BPT
    }

    /// The charge loop's control mode parameters.
    fn loop_mode(&self, car: &Car) -> ClReqControlMode {
        let b = car.battery.config();
        let energy = rational(car.battery.energy_to(car.config.target_soc).0);
        match (self.mode, self.bpt()) {
            (ControlMode::Scheduled, false) => {
                ClReqControlMode::ScheduledDcClReqControlMode(ScheduledDcClReqControlModeType {
                    ev_target_energy_request: None,
                    ev_maximum_energy_request: None,
                    ev_minimum_energy_request: None,
                    ev_target_current: rational(car.target_current().0),
                    ev_target_voltage: rational(car.target_voltage().0),
                    ev_maximum_charge_power: Some(rational(b.max_power.0)),
                    ev_minimum_charge_power: Some(rational(0.0)),
                    ev_maximum_charge_current: Some(rational(b.max_current.0)),
                    ev_maximum_voltage: Some(rational(b.max_voltage.0)),
                    ev_minimum_voltage: Some(rational(b.min_voltage.0)),
                })
            }
            (ControlMode::Scheduled, true) => ClReqControlMode::BptScheduledDcClReqControlMode(
                BptScheduledDcClReqControlModeType {
                    ev_target_energy_request: None,
                    ev_maximum_energy_request: None,
                    ev_minimum_energy_request: None,
                    ev_target_current: rational(car.target_current().0),
                    ev_target_voltage: rational(car.target_voltage().0),
                    ev_maximum_charge_power: Some(rational(b.max_power.0)),
                    ev_minimum_charge_power: Some(rational(0.0)),
                    ev_maximum_charge_current: Some(rational(b.max_current.0)),
                    ev_maximum_voltage: Some(rational(b.max_voltage.0)),
                    ev_minimum_voltage: Some(rational(b.min_voltage.0)),
                    ev_maximum_discharge_power: Some(rational(b.max_discharge_power.0)),
                    ev_minimum_discharge_power: Some(rational(0.0)),
                    ev_maximum_discharge_current: Some(rational(b.max_discharge_current.0)),
                },
            ),
            (ControlMode::Dynamic, false) => {
                ClReqControlMode::DynamicDcClReqControlMode(DynamicDcClReqControlModeType {
                    departure_time: None,
                    ev_target_energy_request: energy.clone(),
                    ev_maximum_energy_request: energy.clone(),
                    ev_minimum_energy_request: rational(0.0),
                    ev_maximum_charge_power: rational(self.max_charge_power(car)),
                    ev_minimum_charge_power: rational(0.0),
                    ev_maximum_charge_current: rational(b.max_current.0),
                    ev_maximum_voltage: rational(b.max_voltage.0),
                    ev_minimum_voltage: rational(b.min_voltage.0),
                })
            }
            (ControlMode::Dynamic, true) => {
                // The site decides the direction; the car offers what its battery allows.
                let discharge = if car.ramp_down.is_some() {
                    0.0
                } else {
                    (car.battery.discharge_current(car.config.min_soc) * car.battery.voltage()).0
                };
                ClReqControlMode::BptDynamicDcClReqControlMode(BptDynamicDcClReqControlModeType {
                    departure_time: None,
                    ev_target_energy_request: energy.clone(),
                    ev_maximum_energy_request: energy.clone(),
                    ev_minimum_energy_request: rational(0.0),
                    ev_maximum_charge_power: rational(self.max_charge_power(car)),
                    ev_minimum_charge_power: rational(0.0),
                    ev_maximum_charge_current: rational(b.max_current.0),
                    ev_maximum_voltage: rational(b.max_voltage.0),
                    ev_minimum_voltage: rational(b.min_voltage.0),
                    ev_maximum_discharge_power: rational(discharge),
                    ev_minimum_discharge_power: rational(0.0),
                    ev_maximum_discharge_current: rational(b.max_discharge_current.0),
                    ev_maximum_v2x_energy_request: None,
                    ev_minimum_v2x_energy_request: None,
                })
            }
        }
    }

    /// In dynamic mode the car caps the charger's power at what its battery takes now (0 while
    /// it ramps down or when full); the charger decides within it, in both directions.
    fn max_charge_power(&self, car: &Car) -> f64 {
        if car.ramp_down.is_some() {
            return 0.0;
        }
        car.battery.charge_current(car.config.target_soc).0 * car.battery.voltage().0
    }
}

impl Sequence for Ev {
    type Dialect = Iso20;

    // Inlined into the envelope, the request is built where it is encoded, not copied there.
    #[inline]
    fn request(&mut self, car: &mut Car, now: Timestamp) -> (Iso20Message, Duration) {
        use Iso20Message::{Common, Dc};
        use cm::Document as C;
        use dc::Document as D;
        // The envelope stamps the SessionID and the time.
        let header = MessageHeaderType::default();
        let b = *car.battery.config();
        let target_soc = car.config.target_soc.0.round().clamp(0.0, 100.0) as i8;
        let (doc, timeout) = match self.state {
            State::SessionSetup => (
                Common(C::SessionSetupReq(cm::SessionSetupReqType {
                    header,
                    evccid: car
                        .config
                        .evcc_id
                        .iter()
                        .map(|b| format!("{b:02X}"))
                        .collect(),
                })),
                timing::EVCC_MSG_TIMEOUT,
            ),
            State::AuthorizationSetup => (
                Common(C::AuthorizationSetupReq(cm::AuthorizationSetupReqType {
                    header,
                })),
                timing::EVCC_MSG_TIMEOUT,
            ),
            State::Authorization => (
                Common(C::AuthorizationReq(cm::AuthorizationReqType {
                    header,
                    selected_authorization_service: AuthorizationType::Eim,
                    a_req_authorization_mode: AReqAuthorizationMode::EimAReqAuthorizationMode(
                        EimAReqAuthorizationModeType {},
                    ),
                })),
                timing::EVCC_MSG_TIMEOUT,
            ),
            State::ServiceDiscovery => (
                Common(C::ServiceDiscoveryReq(cm::ServiceDiscoveryReqType {
                    header,
                    supported_service_i_ds: None,
                })),
                timing::EVCC_MSG_TIMEOUT,
            ),
            State::ServiceDetail => (
                Common(C::ServiceDetailReq(cm::ServiceDetailReqType {
                    header,
                    service_id: self.service,
                })),
                timing::EVCC_LONG_MSG_TIMEOUT,
            ),
            State::ServiceSelection => (
                Common(C::ServiceSelectionReq(cm::ServiceSelectionReqType {
                    header,
                    selected_energy_transfer_service: SelectedServiceType {
                        service_id: self.service,
                        parameter_set_id: self.parameter_set,
                    },
                    selected_vas_list: None,
                })),
                timing::EVCC_MSG_TIMEOUT,
            ),
            State::ChargeParameterDiscovery => {
                let mode = if self.bpt() {
                    DcCpdReqEnergyTransferMode::BptDcCpdReqEnergyTransferMode(
                        BptDcCpdReqEnergyTransferModeType {
                            ev_maximum_charge_power: rational(b.max_power.0),
                            ev_minimum_charge_power: rational(0.0),
                            ev_maximum_charge_current: rational(b.max_current.0),
                            ev_minimum_charge_current: rational(0.0),
                            ev_maximum_voltage: rational(b.max_voltage.0),
                            ev_minimum_voltage: rational(b.min_voltage.0),
                            target_soc: Some(target_soc),
                            ev_maximum_discharge_power: rational(b.max_discharge_power.0),
                            ev_minimum_discharge_power: rational(0.0),
                            ev_maximum_discharge_current: rational(b.max_discharge_current.0),
                            ev_minimum_discharge_current: rational(0.0),
                        },
                    )
                } else {
                    DcCpdReqEnergyTransferMode::DcCpdReqEnergyTransferMode(
                        DcCpdReqEnergyTransferModeType {
                            ev_maximum_charge_power: rational(b.max_power.0),
                            ev_minimum_charge_power: rational(0.0),
                            ev_maximum_charge_current: rational(b.max_current.0),
                            ev_minimum_charge_current: rational(0.0),
                            ev_maximum_voltage: rational(b.max_voltage.0),
                            ev_minimum_voltage: rational(b.min_voltage.0),
                            target_soc: Some(target_soc),
                        },
                    )
                };
                (
                    Dc(D::DcChargeParameterDiscoveryReq(
                        dc::DcChargeParameterDiscoveryReqType {
                            header,
                            dc_cpd_req_energy_transfer_mode: mode,
                        },
                    )),
                    timing::EVCC_MSG_TIMEOUT,
                )
            }
            State::ScheduleExchange => {
                let energy = car.battery.energy_to(car.config.target_soc).0;
                let mode = match self.mode {
                    ControlMode::Scheduled => {
                        SeReqControlMode::ScheduledSeReqControlMode(ScheduledSeReqControlModeType {
                            departure_time: None,
                            ev_target_energy_request: Some(rational(energy)),
                            ev_maximum_energy_request: Some(rational(energy)),
                            ev_minimum_energy_request: Some(rational(0.0)),
                            ev_energy_offer: None,
                        })
                    }
                    ControlMode::Dynamic => {
                        let v2x = self.bpt().then(|| rational(b.capacity.0));
                        SeReqControlMode::DynamicSeReqControlMode(DynamicSeReqControlModeType {
                            departure_time: DURATION_S,
                            minimum_soc: Some(car.config.min_soc.0.round().clamp(0.0, 100.0) as i8),
                            target_soc: Some(target_soc),
                            ev_target_energy_request: rational(energy),
                            ev_maximum_energy_request: rational(energy),
                            ev_minimum_energy_request: rational(0.0),
                            ev_maximum_v2x_energy_request: v2x.clone(),
                            ev_minimum_v2x_energy_request: v2x.map(|_| rational(0.0)),
                        })
                    }
                };
                (
                    Common(C::ScheduleExchangeReq(cm::ScheduleExchangeReqType {
                        header,
                        maximum_supporting_points: 1024,
                        se_req_control_mode: mode,
                    })),
                    timing::EVCC_MSG_TIMEOUT,
                )
            }
            State::CableCheck => (
                Dc(D::DcCableCheckReq(dc::DcCableCheckReqType { header })),
                timing::EVCC_MSG_TIMEOUT,
            ),
            State::PreCharge => {
                let v = car.battery.voltage().0;
                let target =
                    if car.config.behaviour.negative_precharge && car.precharge_requests == 0 {
                        -v
                    } else {
                        v
                    };
                car.precharge_requests += 1;
                (
                    Dc(D::DcPreChargeReq(dc::DcPreChargeReqType {
                        header,
                        ev_processing: ProcessingType::Ongoing,
                        ev_present_voltage: rational(v),
                        ev_target_voltage: rational(target),
                    })),
                    timing::EVCC_MSG_TIMEOUT,
                )
            }
            State::PowerDeliveryStart | State::PowerDeliveryStop => {
                let start = self.state == State::PowerDeliveryStart;
                let profile = start.then(|| {
                    let power = car.target_current().0 * car.battery.voltage().0;
                    EvPowerProfileType {
                        time_anchor: crate::dialect::unix_secs(now),
                        evppt_control_mode: match self.mode {
                            ControlMode::Scheduled => EvpptControlMode::ScheduledEvpptControlMode(
                                ScheduledEvpptControlModeType {
                                    selected_schedule_tuple_id: car.schedule_id.unwrap_or(1),
                                    power_tolerance_acceptance: None,
                                },
                            ),
                            ControlMode::Dynamic => EvpptControlMode::DynamicEvpptControlMode(
                                DynamicEvpptControlModeType {},
                            ),
                        },
                        ev_power_profile_entries: EvPowerProfileEntryListType {
                            ev_power_profile_entry: vec![PowerScheduleEntryType {
                                duration: DURATION_S,
                                power: rational(power),
                                power_l2: None,
                                power_l3: None,
                            }],
                        },
                    }
                });
                (
                    Common(C::PowerDeliveryReq(cm::PowerDeliveryReqType {
                        header,
                        ev_processing: ProcessingType::Finished,
                        charge_progress: if start {
                            ChargeProgressType::Start
                        } else {
                            ChargeProgressType::Stop
                        },
                        ev_power_profile: profile,
                        bpt_channel_selection: (start && self.bpt()).then_some(
                            if car.config.discharge {
                                ChannelSelectionType::Discharge
                            } else {
                                ChannelSelectionType::Charge
                            },
                        ),
                    })),
                    timing::EVCC_MSG_TIMEOUT,
                )
            }
            State::ChargeLoop => (
                Dc(D::DcChargeLoopReq(dc::DcChargeLoopReqType {
                    header,
                    display_parameters: Some(DisplayParametersType {
                        present_soc: Some(car.battery.soc_byte()),
                        target_soc: Some(target_soc),
                        charging_complete: Some(car.ramp_down.is_some()),
                        battery_energy_capacity: Some(rational(b.capacity.0)),
                        ..Default::default()
                    }),
                    meter_info_requested: car.cycles == 0,
                    ev_present_voltage: rational(car.battery.voltage().0),
                    cl_req_control_mode: self.loop_mode(car),
                })),
                timing::EVCC_CHARGE_LOOP_TIMEOUT,
            ),
            State::WeldingDetection => {
                car.welding_requests += 1;
                (
                    Dc(D::DcWeldingDetectionReq(dc::DcWeldingDetectionReqType {
                        header,
                        ev_processing: ProcessingType::Ongoing,
                    })),
                    timing::EVCC_MSG_TIMEOUT,
                )
            }
            State::SessionStop => (
                Common(C::SessionStopReq(cm::SessionStopReqType {
                    header,
                    charging_session: ChargingSessionType::Terminate,
                    ev_termination_code: None,
                    ev_termination_explanation: None,
                })),
                timing::EVCC_MSG_TIMEOUT,
            ),
        };
        (doc, timeout)
    }

    fn response(
        &mut self,
        car: &mut Car,
        now: Timestamp,
        response: &Iso20Message,
    ) -> Result<Next, EvccError> {
        use Iso20Message::{Common, Dc};
        use cm::Document as C;
        use dc::Document as D;
        let period = car.config.period;
        match (self.state, response) {
            (State::SessionSetup, Common(C::SessionSetupRes(_))) => {
                self.state = State::AuthorizationSetup;
                Ok(Next::Send)
            }
            (State::AuthorizationSetup, Common(C::AuthorizationSetupRes(res))) => {
                if !res.authorization_services.contains(&AuthorizationType::Eim) {
                    return Err(EvccError::Refused {
                        request: "AuthorizationSetupReq",
                        code: "no EIM offered".into(),
                    });
                }
                self.state = State::Authorization;
                Ok(Next::Send)
            }
            (State::Authorization, Common(C::AuthorizationRes(res))) => {
                if res.evse_processing != ProcessingType::Finished {
                    car.in_loop(now, "Authorization", timing::EVCC_ONGOING_TIMEOUT)?;
                    return Ok(Next::After(period));
                }
                self.state = State::ServiceDiscovery;
                Ok(Next::Send)
            }
            (State::ServiceDiscovery, Common(C::ServiceDiscoveryRes(res))) => {
                let offered: Vec<u16> = res
                    .energy_transfer_service_list
                    .service
                    .iter()
                    .map(|s| s.service_id)
                    .collect();
                self.service = if car.config.discharge
                    || (car.config.bidirectional && offered.contains(&SERVICE_DC_BPT))
                {
                    if !offered.contains(&SERVICE_DC_BPT) {
                        return Err(EvccError::Refused {
                            request: "ServiceDiscoveryReq",
                            code: format!("no DC_BPT offered (services {offered:?})"),
                        });
                    }
                    SERVICE_DC_BPT
                } else if offered.contains(&SERVICE_DC) {
                    SERVICE_DC
                } else if offered.contains(&SERVICE_DC_BPT) {
                    SERVICE_DC_BPT
                } else {
                    return Err(EvccError::Refused {
                        request: "ServiceDiscoveryReq",
                        code: format!("no DC service offered (services {offered:?})"),
                    });
                };
                self.state = State::ServiceDetail;
                Ok(Next::Send)
            }
            (State::ServiceDetail, Common(C::ServiceDetailRes(res))) => {
                let sets = &res.service_parameter_list.parameter_set;
                let mode_of = |set: &cm::ParameterSetType| {
                    set.parameter
                        .iter()
                        .find_map(|p| match (&*p.name, &p.choice) {
                            ("ControlMode", ParameterChoice::IntValue(v)) => {
                                ControlMode::from_code(*v)
                            }
                            _ => None,
                        })
                };
                let chosen = sets
                    .iter()
                    .find(|s| mode_of(s) == Some(car.config.control_mode))
                    .or_else(|| sets.iter().find(|s| mode_of(s).is_some()));
                let Some(set) = chosen else {
                    return Err(EvccError::Refused {
                        request: "ServiceDetailReq",
                        code: "no parameter set with a ControlMode".into(),
                    });
                };
                self.parameter_set = set.parameter_set_id;
                self.mode = mode_of(set).unwrap_or(ControlMode::Scheduled);
                self.state = State::ServiceSelection;
                Ok(Next::Send)
            }
            (State::ServiceSelection, Common(C::ServiceSelectionRes(_))) => {
                self.state = State::ChargeParameterDiscovery;
                Ok(Next::Send)
            }
            (State::ChargeParameterDiscovery, Dc(D::DcChargeParameterDiscoveryRes(res))) => {
                match &res.dc_cpd_res_energy_transfer_mode {
                    DcCpdResEnergyTransferMode::DcCpdResEnergyTransferMode(p) => {
                        car.evse.max_voltage = Some(Volts(from_rational(&p.evse_maximum_voltage)));
                        car.evse.max_current =
                            Some(Amps(from_rational(&p.evse_maximum_charge_current)));
                        car.evse.max_power =
                            Some(Watts(from_rational(&p.evse_maximum_charge_power)));
                    }
                    DcCpdResEnergyTransferMode::BptDcCpdResEnergyTransferMode(p) => {
                        car.evse.max_voltage = Some(Volts(from_rational(&p.evse_maximum_voltage)));
                        car.evse.max_current =
                            Some(Amps(from_rational(&p.evse_maximum_charge_current)));
                        car.evse.max_power =
                            Some(Watts(from_rational(&p.evse_maximum_charge_power)));
                        car.evse.max_discharge_current =
                            Some(Amps(from_rational(&p.evse_maximum_discharge_current)));
                        car.evse.max_discharge_power =
                            Some(Watts(from_rational(&p.evse_maximum_discharge_power)));
                    }
                }
                self.state = State::ScheduleExchange;
                Ok(Next::Send)
            }
            (State::ScheduleExchange, Common(C::ScheduleExchangeRes(res))) => {
                if res.evse_processing != ProcessingType::Finished {
                    car.in_loop(now, "ScheduleExchange", timing::EVCC_ONGOING_TIMEOUT)?;
                    return Ok(Next::After(period));
                }
                if let SeResControlMode::ScheduledSeResControlMode(s) = &res.se_res_control_mode {
                    car.schedule_id = s.schedule_tuple.first().map(|t| t.schedule_tuple_id);
                }
                self.state = if car.config.behaviour.stop_after_parameters {
                    State::SessionStop
                } else if car.config.behaviour.skip_to_charge_loop {
                    car.loop_started = Some(now);
                    State::ChargeLoop
                } else {
                    State::CableCheck
                };
                Ok(Next::Send)
            }
            (State::CableCheck, Dc(D::DcCableCheckRes(res))) => {
                car.in_loop(now, "CableCheck", timing::EVCC_CABLE_CHECK_TIMEOUT)?;
                if res.evse_processing == ProcessingType::Finished {
                    self.state = State::PreCharge;
                    return Ok(Next::Send);
                }
                Ok(Next::After(period))
            }
            (State::PreCharge, Dc(D::DcPreChargeRes(res))) => {
                car.measured(now, from_rational(&res.evse_present_voltage), 0.0);
                car.in_loop(now, "PreCharge", timing::EVCC_PRE_CHARGE_TIMEOUT_20)?;
                if car.precharged() {
                    self.state = State::PowerDeliveryStart;
                    return Ok(Next::Send);
                }
                Ok(Next::After(period))
            }
            (State::PowerDeliveryStart, Common(C::PowerDeliveryRes(res))) => {
                evse_status(car, res.evse_status.as_ref());
                car.loop_started = Some(now);
                self.state = State::ChargeLoop;
                Ok(Next::Send)
            }
            (State::ChargeLoop, Dc(D::DcChargeLoopRes(res))) => {
                evse_status(car, res.evse_status.as_ref());
                car.measured(
                    now,
                    from_rational(&res.evse_present_voltage),
                    from_rational(&res.evse_present_current),
                );
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
            (State::PowerDeliveryStop, Common(C::PowerDeliveryRes(_))) => {
                self.state = State::WeldingDetection;
                Ok(Next::Send)
            }
            (State::WeldingDetection, Dc(D::DcWeldingDetectionRes(res))) => {
                car.measured(now, from_rational(&res.evse_present_voltage), 0.0);
                if car.welded_open() {
                    self.state = State::SessionStop;
                    return Ok(Next::Send);
                }
                Ok(Next::After(period))
            }
            (State::SessionStop, Common(C::SessionStopRes(_))) => Ok(Next::Done),
            (_, other) => Err(envelope::unexpected::<Iso20>(other)),
        }
    }
}

fn evse_status(car: &mut Car, status: Option<&EvseStatusType>) {
    if let Some(s) = status
        && matches!(
            s.evse_notification,
            EvseNotificationType::Terminate | EvseNotificationType::Pause
        )
    {
        car.evse.stop_requested = true;
    }
}
