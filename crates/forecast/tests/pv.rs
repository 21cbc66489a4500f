//! PV forecasts against a local HTTP server replaying hand-made responses in the documented
//! formats (`testdata/forecast/`): two arrays summed, an error status, a rate-limit answer and
//! a malformed body (the last good forecast kept, the error naming the service).
#![allow(clippy::unwrap_used, clippy::expect_used)] // A failing unwrap is a failing test.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{StatusCode, Uri};
use forecast::{PanelArray, PvFetcher, PvForecast, PvSource, SharedPv};
use units::{Timestamp, Watts};

fn testdata(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/forecast")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

type Replies = Arc<Mutex<(u16, Option<Vec<u8>>, Vec<String>)>>;

/// Answers `/estimate/…` with forecast.solar's file and `/v1/forecast` with open-meteo's, or
/// everything with the scripted status and body when one is set.
async fn server() -> (url::Url, Replies) {
    let replies: Replies = Arc::new(Mutex::new((200, None, Vec::new())));
    let r = replies.clone();
    let app = axum::Router::new().fallback(move |uri: Uri| {
        let r = r.clone();
        async move {
            let mut r = r.lock().unwrap();
            r.2.push(uri.to_string());
            if let Some(body) = &r.1 {
                return (StatusCode::from_u16(r.0).unwrap(), body.clone());
            }
            let file = if uri.path().contains("/estimate/") {
                "forecast-solar-estimate.json"
            } else {
                "open-meteo-minutely15.json"
            };
            (StatusCode::OK, testdata(file))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (
        url::Url::parse(&format!("http://{addr}/")).unwrap(),
        replies,
    )
}

fn array(kwp: f64, azimuth_deg: f64) -> PanelArray {
    PanelArray {
        kwp,
        tilt_deg: 30.0,
        azimuth_deg,
        losses: 0.14,
        ac_limit_w: None,
    }
}

#[tokio::test]
async fn two_arrays_are_summed_and_failures_keep_the_last_forecast() {
    let (base, replies) = server().await;
    let sources = vec![
        PvSource::ForecastSolar {
            base: base.clone(),
            api_key: None,
            lat: 52.52,
            lon: 13.42,
            array: array(5.0, -90.0),
        },
        PvSource::OpenMeteo {
            base: base.clone(),
            lat: 52.52,
            lon: 13.42,
            array: array(10.0, 0.0),
        },
    ];
    let shared = SharedPv::default();
    let mut task = PvFetcher::new(sources, shared.clone()).unwrap();
    let now = ts("2026-06-21T00:00:00Z");
    let next = task.step(now).await;
    assert_eq!(next, now + Duration::from_secs(3600));
    assert_eq!(shared.last_error(), None);
    {
        let seen = &replies.lock().unwrap().2;
        assert_eq!(seen[0], "/estimate/52.52/13.42/30/-90/5?time=utc");
        assert!(seen[1].starts_with("/v1/forecast?latitude=52.52&longitude=13.42&tilt=30&azimuth=0&minutely_15=temperature_2m%2Cglobal_tilted_irradiance_instant"), "{}", seen[1]);
    }
    let f = shared.forecast();
    // Solar noon of the bell (11:00Z): 4200 W estimated + 950 W/m² on 10 kWp at a 26 °C air
    // temperature (cell 54.5 °C: −11.8 %), less 14 %.
    let noon = f
        .mean(ts("2026-06-21T11:00:00Z"), ts("2026-06-21T11:00:00Z"))
        .unwrap();
    let expected = 4200.0 + 10_000.0 * 0.95 * (1.0 - 0.004 * (26.0 + 0.03 * 950.0 - 25.0)) * 0.86;
    assert!((noon.0 - expected).abs() < 1.0, "{noon:?} vs {expected}");
    assert_eq!(
        f.mean(ts("2026-06-21T00:00:00Z"), ts("2026-06-21T02:00:00Z")),
        Some(Watts(0.0))
    );
    // Summed over the time both cover: forecast.solar's two days.
    assert_eq!(
        f.mean(ts("2026-06-23T12:00:00Z"), ts("2026-06-23T13:00:00Z")),
        None
    );
    let PvForecast::Series(good) = f else {
        panic!()
    };

    // An error status, the service's own refusal, a malformed body: clear errors, forecast kept.
    let cases: [(u16, Vec<u8>, &str); 3] = [
        (
            503,
            b"down for maintenance".to_vec(),
            "forecast.solar: HTTP 503",
        ),
        (
            429,
            testdata("forecast-solar-ratelimit.json"),
            "Rate limit for API calls reached.",
        ),
        (200, b"{\"result\":".to_vec(), "forecast.solar: "),
    ];
    let mut at = next;
    for (i, (status, body, want)) in cases.into_iter().enumerate() {
        *replies.lock().unwrap() = (status, Some(body), Vec::new());
        let retry = task.step(at).await;
        assert_eq!(retry, at + Duration::from_secs(60 << i), "backoff {i}");
        let e = shared.last_error().unwrap();
        assert!(e.contains(want), "{e}");
        assert_eq!(shared.forecast(), PvForecast::Series(good.clone()));
        at = retry;
    }
    let e = shared.last_error().unwrap();
    assert!(e.contains("malformed response"), "{e}");
}
