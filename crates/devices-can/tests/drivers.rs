//! The drivers on the in-memory bus, on tokio's paused (virtual) time: a silent or stuck BMS
//! zeroes its limits within 2 s and recovers by itself; garbage never stops a driver; the BYD
//! emulation answers an inverter's identification request.

use std::sync::Arc;
use std::time::Duration;

use devices::Bms;
use devices_can::emulation::SourceInput;
use devices_can::{
    BmsProtocol, BydHvs, CanBms, CanBus, CanFrame, CanLink, EmulationDriver, MemoryBus, MemoryPort,
    Rating, Source, byd, openinverter, pylontech,
};
use tokio::sync::watch;
use units::{Amps, Clock, Percent, Timestamp, Volts};

/// A clock on tokio's time, so paused-time tests are virtual time.
#[derive(Debug)]
struct TokioClock(tokio::time::Instant);

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_secs(1_700_000_000) + self.0.elapsed()
    }
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(TokioClock(tokio::time::Instant::now()))
}

fn pdo(counter: u8) -> CanFrame {
    openinverter::Repr::Limits(openinverter::Limits {
        ccl: Amps(12.0),
        dcl: Amps(80.0),
        soc: Percent(64.0),
        current: Amps(-5.0),
        voltage: Volts(355.0),
        counter,
    })
    .emit(openinverter::PDO_BASE)
}

async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// A BMS driver on `protocol` with the 2 s timeout, running on an in-memory bus, and the node
/// that plays the BMS on that bus.
async fn bms(protocol: BmsProtocol) -> (CanBms, MemoryPort) {
    let bus = MemoryBus::new();
    let (bms, driver) = CanBms::new(
        "bms",
        protocol,
        Duration::from_secs(2),
        CanLink::Memory(bus.clone()),
        clock(),
    );
    tokio::spawn(driver.run());
    sleep_ms(1).await;
    (bms, bus.port())
}

fn limits(bms: &CanBms) -> Option<(Amps, Amps)> {
    bms.state()
        .map(|s| (s.value.max_charge_a, s.value.max_discharge_a))
}

#[tokio::test(start_paused = true)]
async fn a_silent_bms_zeroes_limits_within_2s_and_recovers() {
    let (bms, mut node) = bms(BmsProtocol::OpenInverter {
        pdo_base: openinverter::PDO_BASE,
    })
    .await;
    assert_eq!(bms.state(), None, "nothing heard yet");
    // 3 s of frames every 100 ms.
    let mut ctr = 0u8;
    for _ in 0..30 {
        node.send(&pdo(ctr)).await.unwrap();
        ctr = (ctr + 1) & 3;
        sleep_ms(100).await;
    }
    assert_eq!(limits(&bms), Some((Amps(12.0), Amps(80.0))));
    let s = bms.state().unwrap();
    assert_eq!(s.value.soc_pct, Percent(64.0));
    assert_eq!(s.value.voltage_v, Volts(355.0));
    // Silence: within 2 s (and 100 ms of the last frame's age) the limits are zero.
    sleep_ms(1900).await;
    assert_eq!(
        limits(&bms),
        Some((Amps(12.0), Amps(80.0))),
        "not yet stale"
    );
    sleep_ms(200).await;
    assert_eq!(limits(&bms), Some((Amps::ZERO, Amps::ZERO)));
    // It comes back: so do the limits, with the next fresh frame.
    node.send(&pdo(ctr)).await.unwrap();
    ctr = (ctr + 1) & 3;
    sleep_ms(10).await;
    assert_eq!(limits(&bms), Some((Amps(12.0), Amps(80.0))));
    // Stuck: frames keep coming but the counter stands still.
    for _ in 0..25 {
        node.send(&pdo(ctr)).await.unwrap();
        sleep_ms(100).await;
    }
    assert_eq!(limits(&bms), Some((Amps::ZERO, Amps::ZERO)));
    assert!(bms.stats().repeated >= 23);
}

#[tokio::test(start_paused = true)]
async fn garbage_is_counted_and_never_stops_the_reader() {
    let (bms, mut node) = bms(BmsProtocol::OpenInverter {
        pdo_base: openinverter::PDO_BASE,
    })
    .await;
    let garbage = [
        CanFrame::standard(0x1F4, &[1, 2, 3]).unwrap(),
        CanFrame::standard(0x1F4, &[0, 0, 0xC0, 0xFF, 0, 0, 0, 0]).unwrap(),
        CanFrame::standard(0x1F5, &[0xFF, 0xFF, 0, 0]).unwrap(),
        CanFrame::standard(0x1F5, &[]).unwrap(),
    ];
    for (i, g) in garbage.iter().enumerate() {
        node.send(g).await.unwrap();
        node.send(&CanFrame::standard(0x601, &[0x40]).unwrap())
            .await
            .unwrap();
        node.send(&pdo(i as u8 & 3)).await.unwrap();
        sleep_ms(100).await;
    }
    let stats = bms.stats();
    assert_eq!(stats.invalid, 4);
    assert_eq!(stats.ignored, 4, "the SDO request is another node's");
    assert_eq!(stats.fresh, 4);
    assert!(stats.last_error.is_some_and(|e| e.contains("0x1F5")));
    assert_eq!(limits(&bms), Some((Amps(12.0), Amps(80.0))));
}

#[tokio::test(start_paused = true)]
async fn a_pylontech_bms_is_read_and_goes_stale() {
    let (bms, mut node) = bms(BmsProtocol::Pylontech).await;
    let frames = [
        pylontech::Repr::Limits(pylontech::Limits {
            charge_voltage: Volts(56.8),
            charge_current: Amps(25.0),
            discharge_current: Amps(50.0),
            discharge_voltage: None,
        }),
        pylontech::Repr::Soc(pylontech::Soc {
            soc: Percent(87.0),
            soh: Percent(99.0),
            soc_fine: None,
        }),
        pylontech::Repr::Measurements(pylontech::Measurements {
            voltage: Volts(52.1),
            current: Amps(4.0),
            temperature_c: 21.5,
        }),
        pylontech::Repr::Request(pylontech::Request(0x40)),
    ];
    for f in &frames[..3] {
        node.send(&f.emit()).await.unwrap();
    }
    sleep_ms(10).await;
    let s = bms.state().unwrap().value;
    assert_eq!(
        (s.soc_pct, s.voltage_v, s.temperature_c),
        (Percent(87.0), Volts(52.1), Some(21.5))
    );
    assert_eq!(
        (s.max_charge_a, s.max_discharge_a),
        (Amps(25.0), Amps(50.0))
    );
    // 0x35C: discharge only.
    node.send(&frames[3].emit()).await.unwrap();
    sleep_ms(10).await;
    assert_eq!(limits(&bms), Some((Amps::ZERO, Amps(50.0))));
    sleep_ms(2100).await;
    assert_eq!(limits(&bms), Some((Amps::ZERO, Amps::ZERO)));
}

#[tokio::test(start_paused = true)]
async fn the_byd_emulation_answers_an_inverter_on_the_bus() {
    let bus = MemoryBus::new();
    let rating = Rating {
        max_voltage: Volts(400.0),
        min_voltage: Volts(300.0),
        max_current: Amps(20.0),
        capacity_wh: 25_500,
        source_timeout: Duration::from_secs(5),
    };
    let clock = clock();
    let (input_tx, input) = watch::channel(SourceInput::default());
    let (driver, status) = EmulationDriver::new(
        "byd",
        BydHvs::new(rating),
        Source::Bms,
        input,
        CanLink::Memory(bus.clone()),
        Arc::clone(&clock),
    );
    tokio::spawn(driver.run());
    sleep_ms(1).await;
    let mut inverter = bus.port();
    input_tx.send_replace(SourceInput {
        bms: Some(devices::Stamped::new(
            clock.now(),
            devices::BmsState {
                soc_pct: Percent(55.0),
                voltage_v: Volts(370.0),
                max_charge_a: Amps(10.0),
                max_discharge_a: Amps(10.0),
                ..Default::default()
            },
        )),
        charge_point: None,
    });
    inverter
        .send(&byd::Repr::IdentifyRequest.emit())
        .await
        .unwrap();
    sleep_ms(10).await;
    let mut got = Vec::new();
    while let Some(f) = inverter.try_recv() {
        got.push(byd::Repr::parse(&f).unwrap());
    }
    assert!(
        got.iter()
            .any(|r| matches!(r, byd::Repr::Vendor(v) if v == b"BYD"))
    );
    assert!(got.iter().any(|r| matches!(
        r,
        byd::Repr::Limits(l) if l.max_charge == Amps(10.0)
    )));
    assert!(
        got.iter()
            .any(|r| matches!(r, byd::Repr::State(s) if s.soc == Percent(55.0)))
    );
    let st = status.borrow().clone();
    assert!(
        st.inverter_alive && st.source_fresh && st.sent >= 12,
        "{st:?}"
    );
}
