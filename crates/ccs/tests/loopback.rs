//! The session drivers over real TCP on the loopback interface (no root needed): a complete
//! session, a reset mid charge loop, a car that reconnects, garbage on the socket. After each,
//! the simulated power stage is off and the next session works.
#![allow(clippy::unwrap_used)] // A failing unwrap is a failing test.

use std::sync::Arc;
use std::time::Duration;

use ccs::session::{ServeEvent, ServeOptions, run_car, serve_sessions};
use plc::TokioClock;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use units::{Clock, Timestamp};
use v2g::Protocol;
use v2g::charger::{Isolation, SimIsolationMonitor};
use v2g::evcc::{Evcc, EvccConfig, EvccError};
use v2g::secc::{EndReason, SeccConfig, SeccEvent, SessionEnd};
use v2g::sim::Station;

fn clock() -> TokioClock {
    TokioClock::new(Timestamp::from_unix_secs(1_750_000_000))
}

/// A quick station: the isolation test takes 100 ms.
fn station() -> Station {
    Station {
        imd: SimIsolationMonitor::new(Duration::from_millis(100), Isolation::Valid),
        ..Station::default()
    }
}

fn car(protocol: Protocol, cycles: u32) -> EvccConfig {
    EvccConfig {
        protocols: vec![protocol],
        max_cycles: Some(cycles),
        period: Duration::from_millis(20),
        ..EvccConfig::default()
    }
}

fn options(sessions: u32) -> ServeOptions {
    ServeOptions {
        secc: Arc::new(SeccConfig::default()),
        authorization_delay: Duration::ZERO,
        sessions: Some(sessions),
    }
}

fn ends(events: &[ServeEvent]) -> Vec<SessionEnd> {
    events
        .iter()
        .filter_map(|e| match e {
            ServeEvent::Session(SeccEvent::Ended(end)) => Some(end.clone()),
            _ => None,
        })
        .collect()
}

async fn listener() -> TcpListener {
    TcpListener::bind("[::1]:0").await.unwrap()
}

#[tokio::test]
async fn sessions_of_every_protocol_complete_over_tcp() {
    let listener = listener().await;
    let addr = listener.local_addr().unwrap();
    let clock = clock();
    let mut station = station();
    let mut events = Vec::new();
    let cars = async {
        let mut summaries = Vec::new();
        for protocol in [Protocol::Din, Protocol::Iso2, Protocol::Iso20Dc] {
            let stream = TcpStream::connect(addr).await.unwrap();
            let evcc = Evcc::new(car(protocol, 10), clock.now());
            summaries.push(run_car(stream, evcc, &clock, |_| {}).await);
        }
        summaries
    };
    let mut n = 0u8;
    let options = options(3);
    let serve = serve_sessions(
        &listener,
        &mut station,
        &clock,
        &options,
        || {
            n += 1;
            [n; 32]
        },
        |e| events.push(e),
        std::future::pending(),
    );
    let (served, summaries) = tokio::join!(serve, cars);
    served.unwrap();
    for s in &summaries {
        assert_eq!(s.result, Ok(()), "{s:?}");
        assert!(s.charge_loop_cycles >= 10);
        // Over loopback the charger answers within milliseconds.
        assert!(
            s.charge_loop_latency.p99 < Duration::from_millis(50),
            "{s:?}"
        );
    }
    let ends = ends(&events);
    assert_eq!(ends.len(), 3);
    assert!(
        ends.iter()
            .all(|e| e.reason == EndReason::Stopped { pause: false })
    );
    assert!(station.stage.is_off() || station.stage.demand() == v2g::charger::PowerDemand::Off);
    // Every frame the charger sent is in the log.
    let sent = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                ServeEvent::Frame {
                    from_charger: true,
                    ..
                }
            )
        })
        .count() as u32;
    assert_eq!(sent, ends.iter().map(|e| e.requests).sum::<u32>());
}

#[tokio::test]
async fn a_reset_mid_charge_loop_turns_the_power_off_and_the_next_car_charges() {
    let listener = listener().await;
    let addr = listener.local_addr().unwrap();
    let clock = clock();
    let mut station = station();
    let mut events = Vec::new();
    let cars = async {
        // The first car charges, then its connection is reset.
        let stream = TcpStream::connect(addr).await.unwrap();
        let evcc = Evcc::new(car(Protocol::Din, 1000), clock.now());
        let reset = socket2::SockRef::from(&stream).try_clone().unwrap();
        let first = tokio::time::timeout(
            Duration::from_secs(3),
            run_car(stream, evcc, &clock, |_| {}),
        )
        .await;
        assert!(first.is_err(), "still charging after 3 s");
        // RST instead of FIN.
        reset.set_linger(Some(Duration::ZERO)).unwrap();
        drop(reset);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let stream = TcpStream::connect(addr).await.unwrap();
        run_car(
            stream,
            Evcc::new(car(Protocol::Iso20Dc, 5), clock.now()),
            &clock,
            |_| {},
        )
        .await
    };
    let options = options(2);
    let serve = serve_sessions(
        &listener,
        &mut station,
        &clock,
        &options,
        || [4; 32],
        |e| events.push(e),
        std::future::pending(),
    );
    let (served, second) = tokio::join!(serve, cars);
    served.unwrap();
    assert_eq!(second.result, Ok(()));
    let ends = ends(&events);
    assert_eq!(ends[0].reason, EndReason::ConnectionLost);
    assert!(ends[0].charge_loop_cycles > 10, "{:?}", ends[0]);
    assert_eq!(ends[1].reason, EndReason::Stopped { pause: false });
    // Between the two sessions the power stage was told to stop: the demand went Off right
    // after the reset.
    assert_eq!(station.stage.demand(), v2g::charger::PowerDemand::Off);
}

#[tokio::test]
async fn a_car_that_reconnects_replaces_its_old_session() {
    let listener = listener().await;
    let addr = listener.local_addr().unwrap();
    let clock = clock();
    let mut station = station();
    let mut events = Vec::new();
    let cars = async {
        // A connection that says nothing (a car that lost it without a FIN).
        let _stale = TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let stream = TcpStream::connect(addr).await.unwrap();
        run_car(
            stream,
            Evcc::new(car(Protocol::Iso2, 5), clock.now()),
            &clock,
            |_| {},
        )
        .await
    };
    let options = options(2);
    let serve = serve_sessions(
        &listener,
        &mut station,
        &clock,
        &options,
        || [5; 32],
        |e| events.push(e),
        std::future::pending(),
    );
    let (served, summary) = tokio::join!(serve, cars);
    served.unwrap();
    assert_eq!(summary.result, Ok(()));
    let ends = ends(&events);
    assert_eq!(ends[0].reason, EndReason::Aborted);
    assert_eq!(ends[1].reason, EndReason::Stopped { pause: false });
}

#[tokio::test]
async fn garbage_ends_the_session_and_the_charger_serves_on() {
    let listener = listener().await;
    let addr = listener.local_addr().unwrap();
    let clock = clock();
    let mut station = station();
    let mut events = Vec::new();
    let cars = async {
        let mut bad = TcpStream::connect(addr).await.unwrap();
        bad.write_all(b"\x01\xfe\x80\x01\xff\xff\xff\xff")
            .await
            .unwrap();
        // The charger closes: reading gives end of stream.
        let mut buf = [0u8; 16];
        let n = tokio::io::AsyncReadExt::read(&mut bad, &mut buf)
            .await
            .unwrap();
        assert_eq!(n, 0);
        let stream = TcpStream::connect(addr).await.unwrap();
        run_car(
            stream,
            Evcc::new(car(Protocol::Din, 3), clock.now()),
            &clock,
            |_| {},
        )
        .await
    };
    let options = options(2);
    let serve = serve_sessions(
        &listener,
        &mut station,
        &clock,
        &options,
        || [6; 32],
        |e| events.push(e),
        std::future::pending(),
    );
    let (served, summary) = tokio::join!(serve, cars);
    served.unwrap();
    assert_eq!(summary.result, Ok(()));
    let ends = ends(&events);
    assert!(
        matches!(ends[0].reason, EndReason::Framing(_)),
        "{:?}",
        ends[0]
    );
}

#[tokio::test]
async fn a_charger_that_closes_ends_the_cars_session() {
    let listener = listener().await;
    let addr = listener.local_addr().unwrap();
    let clock = clock();
    let server = async {
        let (stream, _) = listener.accept().await.unwrap();
        drop(stream);
    };
    let car = async {
        let stream = TcpStream::connect(addr).await.unwrap();
        run_car(
            stream,
            Evcc::new(car(Protocol::Din, 3), clock.now()),
            &clock,
            |_| {},
        )
        .await
    };
    let ((), summary) = tokio::join!(server, car);
    assert_eq!(summary.result, Err(EvccError::ConnectionLost));
}

#[tokio::test]
async fn a_shutdown_mid_charge_loop_turns_the_power_off_and_tells_the_car() {
    let listener = listener().await;
    let addr = listener.local_addr().unwrap();
    let clock = clock();
    let mut station = station();
    let mut events = Vec::new();
    let car = async {
        let stream = TcpStream::connect(addr).await.unwrap();
        run_car(
            stream,
            Evcc::new(car(Protocol::Din, 100_000), clock.now()),
            &clock,
            |_| {},
        )
        .await
    };
    let options = options(1);
    // SIGTERM in `gridlet evse` completes this future.
    let shutdown = tokio::time::sleep(Duration::from_secs(2));
    let serve = serve_sessions(
        &listener,
        &mut station,
        &clock,
        &options,
        || [8; 32],
        |e| events.push(e),
        shutdown,
    );
    let (served, summary) = tokio::join!(serve, car);
    served.unwrap();
    let ends = ends(&events);
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].reason, EndReason::Aborted);
    // It was charging when the shutdown came.
    assert!(ends[0].charge_loop_cycles > 10, "{:?}", ends[0]);
    assert_eq!(station.stage.demand(), v2g::charger::PowerDemand::Off);
    // The car learned at once: the connection closed.
    assert_eq!(summary.result, Err(EvccError::ConnectionLost));
}
