//! The driver runs our EV and our charger against each other over in-memory links, on tokio's
//! paused (virtual) time.

use std::ops::ControlFlow;
use std::time::Duration;

use homeplug::MacAddr;
use plc::{Link, MemoryLink, PowerlineHub, TokioClock, drive, query_firmware};
use slac::sim::{REAL_AAG, SIM_FIRMWARE};
use slac::{Ev, EvConfig, EvEvent, Evse, EvseConfig, EvseEvent};
use units::{Clock, Timestamp};

const EVSE_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
const EV_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);

fn clock() -> TokioClock {
    TokioClock::new(Timestamp::from_unix_secs(1_750_000_000))
}

fn hub() -> (MemoryLink, MemoryLink, tokio::task::JoinHandle<()>) {
    let mut hub = PowerlineHub::new(Duration::from_millis(1));
    let evse = hub.attach_evse(EVSE_MAC, &REAL_AAG);
    let ev = hub.attach_ev(EV_MAC);
    (evse, ev, hub.spawn(clock()))
}

#[tokio::test(start_paused = true)]
async fn our_ev_matches_our_charger_through_the_driver() {
    let (evse_link, ev_link, _hub) = hub();
    let clock = clock();
    let charger = tokio::spawn({
        let clock = clock.clone();
        async move {
            let mut evse = Evse::new(EvseConfig::new(evse_link.mac(), [1; 32]), clock.now());
            evse.handle_car_plugged(clock.now());
            let mut matched = None;
            drive(&evse_link, &clock, &mut evse, |_, e| match e {
                EvseEvent::Matched(m) => {
                    matched = Some(m);
                    ControlFlow::Break(())
                }
                _ => ControlFlow::Continue(()),
            })
            .await
            .unwrap();
            matched.unwrap()
        }
    });
    let mut ev = Ev::new(EvConfig::new(ev_link.mac(), [2; 32]));
    ev.handle_start(clock.now());
    let mut matched = None;
    drive(&ev_link, &clock, &mut ev, |_, e| match e {
        EvEvent::Matched(m) => {
            matched = Some(m);
            ControlFlow::Break(())
        }
        EvEvent::Failed { reason } => panic!("{reason}"),
        _ => ControlFlow::Continue(()),
    })
    .await
    .unwrap();
    let ev_match = matched.unwrap();
    let evse_match = charger.await.unwrap();
    assert_eq!((ev_match.evse_mac, evse_match.ev_mac), (EVSE_MAC, EV_MAC));
    assert_eq!(ev_match.nmk, evse_match.nmk);
    assert!(ev_match.duration() < slac::timing::EV_MATCH_ATTEMPT_MAX);
}

#[tokio::test(start_paused = true)]
async fn the_local_modem_reports_its_firmware() {
    let (evse_link, _ev_link, _hub) = hub();
    let info = query_firmware(&evse_link, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(info.firmware, SIM_FIRMWARE);
    assert_eq!(info.device_id, 0x20);
}

#[tokio::test(start_paused = true)]
async fn a_silent_modem_is_an_error_naming_the_interface() {
    let mut hub = PowerlineHub::new(Duration::from_millis(1));
    let link = hub.attach_ev(EV_MAC);
    hub.with_line(|line| line.set_modem_answers(link.host(), false));
    let _task = hub.spawn(clock());
    let err = query_firmware(&link, Duration::from_millis(500))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "mem0: no powerline modem answered VS_SW_VER.REQ within 500ms \
         (is the modem powered and its firmware running?)"
    );
}
