//! A meter that answers garbage (wrong unit id, short frames, exception codes, NaN floats) is
//! reported with the reason, never crashes or stalls its task: once it answers properly again
//! the reading comes back. The peer is a hand-made Modbus TCP server that answers as told.

#![allow(clippy::unwrap_used)] // A failing unwrap is a failing test.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use devices::{GridMeter as _, Health, Monitored as _};
use devices_modbus::{MeterParams, ModbusMeter};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const GOOD: u8 = 0;
const WRONG_UNIT: u8 = 1;
const SHORT: u8 = 2;
const EXCEPTION: u8 = 3;
const NAN: u8 = 4;
const WRONG_TRANSACTION: u8 = 5;

/// Serves SDM630 reads (FC04) with 1500 W at 0x34, or the garbage `mode` says.
async fn fake_sdm630(mode: Arc<AtomicU8>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let mode = mode.clone();
            tokio::spawn(async move {
                let mut req = [0u8; 12];
                while s.read_exact(&mut req).await.is_ok() {
                    let (tid, unit, fc) = ([req[0], req[1]], req[6], req[7]);
                    let start = u16::from_be_bytes([req[8], req[9]]);
                    let count = u16::from_be_bytes([req[10], req[11]]);
                    let mut words = vec![0u16; usize::from(count)];
                    let power = if mode.load(Ordering::SeqCst) == NAN {
                        f32::NAN
                    } else {
                        1500.0
                    };
                    if start == 0 && count >= 0x36 {
                        let bits = power.to_bits();
                        words[0x34] = (bits >> 16) as u16;
                        words[0x35] = bits as u16;
                    }
                    let mut pdu = vec![fc, (count * 2) as u8];
                    for w in words {
                        pdu.extend(w.to_be_bytes());
                    }
                    let (tid, unit) = match mode.load(Ordering::SeqCst) {
                        WRONG_UNIT => (tid, unit + 1),
                        WRONG_TRANSACTION => ([tid[0], tid[1].wrapping_add(7)], unit),
                        EXCEPTION => {
                            pdu = vec![fc | 0x80, 0x02];
                            (tid, unit)
                        }
                        SHORT => {
                            // A frame cut off after a few bytes; the rest never comes.
                            pdu.truncate(5);
                            let len = (pdu.len() as u16 + 1 + 20).to_be_bytes();
                            let mut frame = vec![tid[0], tid[1], 0, 0, len[0], len[1], unit];
                            frame.extend(&pdu);
                            let _ = s.write_all(&frame).await;
                            continue;
                        }
                        _ => (tid, unit),
                    };
                    let len = (pdu.len() as u16 + 1).to_be_bytes();
                    let mut frame = vec![tid[0], tid[1], 0, 0, len[0], len[1], unit];
                    frame.extend(pdu);
                    if s.write_all(&frame).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn params(addr: std::net::SocketAddr) -> MeterParams {
    toml::from_str(&format!(
        "poll = \"100ms\"\nmodbus = {{ tcp = \"{addr}\", unit = 1, timeout = \"300ms\" }}\n"
    ))
    .unwrap()
}

async fn until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < end {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

async fn garbage_is_reported_then_recovered(mode: u8, reason: &str) {
    let m = Arc::new(AtomicU8::new(mode));
    let addr = fake_sdm630(m.clone()).await;
    let clock = Arc::new(units::SystemClock::new());
    let meter = ModbusMeter::open(
        "grid_meter",
        "sdm630",
        &params(addr),
        clock.clone(),
        Duration::from_secs(5),
    )
    .unwrap();
    let now = || units::Clock::now(clock.as_ref());
    let errored = until(Duration::from_secs(5), || {
        let s = meter.device_status(now());
        s.health == Health::Error && s.reason.as_deref().is_some_and(|r| r.contains(reason))
    })
    .await;
    assert!(errored, "mode {mode}: {:?}", meter.device_status(now()));
    assert!(meter.reading().is_none(), "garbage gave a reading");
    m.store(GOOD, Ordering::SeqCst);
    let back = until(Duration::from_secs(8), || {
        meter.reading().is_some_and(|r| r.value.power_w.0 == 1500.0)
            && meter.device_status(now()).health == Health::Ok
    })
    .await;
    assert!(
        back,
        "mode {mode}: no recovery: {:?}",
        meter.device_status(now())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_unit_id() {
    garbage_is_reported_then_recovered(WRONG_UNIT, "unit").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_transaction_id() {
    garbage_is_reported_then_recovered(WRONG_TRANSACTION, "unit 1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_frames() {
    garbage_is_reported_then_recovered(SHORT, "no answer within 300ms").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exception_codes() {
    garbage_is_reported_then_recovered(EXCEPTION, "exception").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nan_floats() {
    garbage_is_reported_then_recovered(NAN, "register 52 (Power) is not a number").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_listening_is_an_error_not_a_crash() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let clock = Arc::new(units::SystemClock::new());
    let meter = ModbusMeter::open(
        "grid_meter",
        "sdm630",
        &params(addr),
        clock.clone(),
        Duration::from_secs(5),
    )
    .unwrap();
    let ok = until(Duration::from_secs(3), || {
        let s = meter.device_status(units::Clock::now(clock.as_ref()));
        s.reason
            .as_deref()
            .is_some_and(|r| r.contains("cannot connect"))
    })
    .await;
    assert!(
        ok,
        "{:?}",
        meter.device_status(units::Clock::now(clock.as_ref()))
    );
}
