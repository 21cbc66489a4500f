//! Every provider against a local HTTP server replaying responses in the documented formats
//! (`testdata/tariffs/`, see its README): 15-minute slots, the 23 h and 25 h days of
//! Europe/Berlin, an error status and a malformed body (a clear error naming the provider, and
//! the prices known so far kept, also across a restart from the disk cache). Time is given to
//! the fetch task explicitly: no test waits on the wall clock.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A failing unwrap is a failing test.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use tariffs::energidataservice::Currency;
use tariffs::fetch::{self, Fetcher};
use tariffs::tibber::Component;
use tariffs::{FeedIn, PriceFeed, PriceFormula, PriceSlot, Provider, Schedule, Tariff};
use units::{PricePerKwh, Timestamp};

fn testdata(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/tariffs")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

/// What the server answers, and what it was asked.
#[derive(Debug, Default)]
struct Script {
    status: u16,
    body: Vec<u8>,
    seen: Vec<(Method, String, Option<String>, String)>,
}

/// A local HTTP server on 127.0.0.1:0 answering every request from its script.
struct Server {
    base: url::Url,
    script: Arc<Mutex<Script>>,
}

impl Server {
    async fn start() -> Self {
        let script = Arc::new(Mutex::new(Script {
            status: 200,
            ..Script::default()
        }));
        let s = script.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let s = s.clone();
                async move {
                    let mut s = s.lock().unwrap();
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    s.seen.push((
                        method,
                        uri.to_string(),
                        auth,
                        String::from_utf8_lossy(&body).into_owned(),
                    ));
                    (StatusCode::from_u16(s.status).unwrap(), s.body.clone())
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            base: url::Url::parse(&format!("http://{addr}/")).unwrap(),
            script,
        }
    }

    fn reply(&self, status: u16, body: Vec<u8>) {
        let mut s = self.script.lock().unwrap();
        s.status = status;
        s.body = body;
    }

    fn last_request(&self) -> (Method, String, Option<String>, String) {
        self.script.lock().unwrap().seen.last().cloned().unwrap()
    }
}

fn berlin() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get("Europe/Berlin").unwrap()
}

/// Local midnight to local midnight of `date` in Berlin.
fn berlin_day(date: &str) -> (Timestamp, Timestamp) {
    let d: jiff::civil::Date = date.parse().unwrap();
    let at = |d: jiff::civil::Date| {
        Timestamp::from_jiff(
            berlin()
                .to_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
                .unwrap(),
        )
    };
    (at(d), at(d.tomorrow().unwrap()))
}

/// Slots are contiguous, `minutes` long each, and cover `[from, to)`.
fn assert_covers(slots: &[PriceSlot], from: Timestamp, to: Timestamp, minutes: u64) {
    assert_eq!(slots.first().map(|s| s.start), Some(from));
    assert_eq!(slots.last().map(|s| s.end), Some(to));
    for w in slots.windows(2) {
        assert_eq!(w[0].end, w[1].start, "a gap or overlap at {}", w[0].end);
    }
    for s in slots {
        assert_eq!(
            s.end.saturating_duration_since(s.start),
            Duration::from_secs(minutes * 60),
            "slot at {}",
            s.start
        );
    }
}

/// The fetch task's life with `provider`: good prices, then an error status, then a malformed
/// body (prices kept, errors clear), then a restart from the disk cache with the server gone.
async fn lifecycle(
    server: &Server,
    provider: Provider,
    good: Vec<u8>,
    now: Timestamp,
    status_detail: &str,
) -> Vec<PriceSlot> {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("prices.json");
    let name = provider.name();
    let feed = PriceFeed::fetched(name, PriceFormula::default(), FeedIn::None);
    let mut task = Fetcher::new(
        provider.clone(),
        feed.clone(),
        Schedule::day_ahead(berlin()),
        Some(cache.clone()),
    )
    .unwrap();

    server.reply(200, good);
    let next = task.step(now).await;
    assert!(next > now);
    let status = feed.status();
    assert_eq!(status.last_error, None, "{name}");
    assert_eq!(status.fetched_at, Some(now));
    let far = ts("2100-01-01T00:00:00Z");
    let known = feed.spot(Timestamp::UNIX_EPOCH, far);
    assert!(!known.is_empty(), "{name}: no prices");
    assert!(cache.exists(), "{name}: no cache written");

    // An error status: a clear error, the prices stay, the retry backs off.
    server.reply(503, b"upstream maintenance".to_vec());
    let retry = task.step(next).await;
    let err = feed.status().last_error.expect("an error");
    assert!(err.starts_with(&format!("{name}: HTTP 503")), "{err}");
    assert!(err.contains(status_detail), "{err}");
    assert_eq!(
        retry,
        next + Duration::from_secs(60),
        "{name}: first backoff"
    );
    assert_eq!(
        feed.spot(Timestamp::UNIX_EPOCH, far),
        known,
        "{name}: prices lost"
    );

    // A malformed body: the same.
    server.reply(200, b"<html>captive portal</html>".to_vec());
    let retry2 = task.step(retry).await;
    let err = feed.status().last_error.expect("an error");
    assert!(
        err.starts_with(name) && err.contains("malformed response"),
        "{err}"
    );
    assert_eq!(
        retry2,
        retry + Duration::from_secs(120),
        "{name}: second backoff"
    );
    assert_eq!(
        feed.spot(Timestamp::UNIX_EPOCH, far),
        known,
        "{name}: prices lost"
    );
    assert!(feed.price_at(known[0].start).is_some());

    // A restart while offline: the cache serves the prices, the fetch error names the provider.
    let offline = match provider.clone() {
        Provider::Awattar { .. } => Provider::Awattar { base: dead_base() },
        Provider::Tibber {
            token,
            home_id,
            component,
            slot_minutes,
            ..
        } => Provider::Tibber {
            base: dead_base(),
            token,
            home_id,
            component,
            slot_minutes,
        },
        Provider::Entsoe {
            token,
            domain,
            slot_minutes,
            ..
        } => Provider::Entsoe {
            base: dead_base(),
            token,
            domain,
            slot_minutes,
        },
        Provider::EnergiDataService { area, currency, .. } => Provider::EnergiDataService {
            base: dead_base(),
            area,
            currency,
        },
        Provider::Octopus {
            product,
            region,
            inc_vat,
            ..
        } => Provider::Octopus {
            base: dead_base(),
            product,
            region,
            inc_vat,
        },
    };
    let restarted = PriceFeed::fetched(name, PriceFormula::default(), FeedIn::None);
    // The cache key includes the URL: reuse the cache under the offline provider's key.
    let mut c = tariffs::PriceCache::load(&cache).unwrap().unwrap();
    assert_eq!(c.key, provider.cache_key());
    c.key = offline.cache_key();
    c.save(&cache).unwrap();
    let mut task = Fetcher::new(
        offline,
        restarted.clone(),
        Schedule::day_ahead(berlin()),
        Some(cache),
    )
    .unwrap();
    assert_eq!(
        restarted.spot(Timestamp::UNIX_EPOCH, far),
        known,
        "{name}: cache not restored"
    );
    task.step(retry2).await;
    let err = restarted.status().last_error.expect("offline");
    assert!(err.starts_with(&format!("{name}: cannot reach")), "{err}");
    assert_eq!(restarted.spot(Timestamp::UNIX_EPOCH, far), known);
    known
}

/// A base URL where nothing listens.
fn dead_base() -> url::Url {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    url::Url::parse(&format!("http://{addr}/")).unwrap()
}

#[tokio::test]
async fn awattar_quarter_hours_on_the_23_hour_day() {
    let server = Server::start().await;
    let provider = Provider::Awattar {
        base: server.base.clone(),
    };
    let now = ts("2026-03-29T08:00:00Z");
    let slots = lifecycle(
        &server,
        provider,
        testdata("awattar-de-2026-03-29.json"),
        now,
        "upstream maintenance",
    )
    .await;
    let (from, to) = berlin_day("2026-03-29");
    assert_eq!(slots.len(), 92, "23 h of quarter hours");
    assert_covers(&slots, from, to, 15);
    // 90 EUR/MWh at local midnight, as EUR/kWh.
    assert!((slots[0].price.0 - 0.09).abs() < 1e-9, "{:?}", slots[0]);
    assert!(
        slots.iter().any(|s| s.price.0 < 0.0),
        "the negative midday prices are kept"
    );
    let (m, uri, ..) = server.script.lock().unwrap().seen[0].clone();
    assert_eq!(m, Method::GET);
    let (f, t) = Provider::window(now);
    assert_eq!(
        uri,
        format!(
            "/v1/marketdata?start={}&end={}",
            f.as_unix_micros() / 1000,
            t.as_unix_micros() / 1000
        )
    );
}

#[tokio::test]
async fn entsoe_a03_quarter_hours_on_the_25_hour_day() {
    let server = Server::start().await;
    let provider = Provider::Entsoe {
        base: server.base.join("api").unwrap(),
        token: "s3cret-token".into(),
        domain: "10Y1001A1001A82H".into(),
        slot_minutes: 15,
    };
    let now = ts("2026-10-25T08:00:00Z");
    let body = testdata("entsoe-a44-de-lu-2026-10-25.xml");
    let slots = lifecycle(
        &server,
        provider.clone(),
        body.clone(),
        now,
        "upstream maintenance",
    )
    .await;
    let (from, to) = berlin_day("2026-10-25");
    assert_eq!(
        slots.len(),
        100,
        "25 h of quarter hours, omitted A03 positions filled"
    );
    assert_covers(&slots, from, to, 15);
    // The night's omitted positions repeat the hour's first quarter.
    assert_eq!(slots[1].price, slots[0].price);
    assert_eq!(slots[3].price, slots[0].price);
    let (_, uri, ..) = server.script.lock().unwrap().seen[0].clone();
    assert!(
        uri.starts_with(
            "/api?securityToken=s3cret-token&documentType=A44&in_Domain=10Y1001A1001A82H"
        ),
        "{uri}"
    );

    // The hourly series when hours are wanted.
    let hourly = tariffs::entsoe::parse(&body, 60).unwrap();
    assert_eq!(hourly.len(), 25);
    assert_covers(&hourly, from, to, 60);

    // An error status with an acknowledgement: its reason, and never the token.
    server.reply(400, testdata("entsoe-ack-no-data.xml"));
    let e = fetch::fetch(&fetch::client().unwrap(), &provider, now)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("ENTSO-E: HTTP 400"), "{e}");
    assert!(e.contains("No matching data found"), "{e}");
    assert!(!e.contains("s3cret-token"), "{e}");
}

#[tokio::test]
async fn tibber_quarter_hours_with_local_offsets() {
    let server = Server::start().await;
    let provider = Provider::Tibber {
        base: server.base.join("v1-beta/gql").unwrap(),
        token: "tibber-token".into(),
        home_id: None,
        component: Component::Total,
        slot_minutes: 15,
    };
    let now = ts("2026-10-25T08:00:00Z");
    let slots = lifecycle(
        &server,
        provider.clone(),
        testdata("tibber-2026-10-25.json"),
        now,
        "upstream maintenance",
    )
    .await;
    let (from, to) = berlin_day("2026-10-25");
    assert_eq!(slots.len(), 100);
    assert_covers(&slots, from, to, 15);
    // `total` = energy + tax.
    assert!(
        (slots[0].price.0 - (0.09 + 0.2254 + 0.09 * 0.19)).abs() < 1e-3,
        "{:?}",
        slots[0]
    );
    let (m, uri, auth, body) = server.script.lock().unwrap().seen[0].clone();
    assert_eq!((m, uri.as_str()), (Method::POST, "/v1-beta/gql"));
    assert_eq!(auth.as_deref(), Some("Bearer tibber-token"));
    assert!(
        body.contains("priceInfo(resolution: QUARTER_HOURLY)"),
        "{body}"
    );

    // A GraphQL error (HTTP 200 with `errors`) is a refusal naming the cause.
    server.reply(200, testdata("tibber-invalid-token.json"));
    let e = fetch::fetch(&fetch::client().unwrap(), &provider, now)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("Tibber:")
            && e.contains("the service refused: Context creation failed: invalid token"),
        "{e}"
    );
    let _ = server.last_request();
}

#[tokio::test]
async fn energidataservice_quarter_hours_on_the_23_hour_day() {
    let server = Server::start().await;
    let provider = Provider::EnergiDataService {
        base: server.base.clone(),
        area: "DK1".into(),
        currency: Currency::Eur,
    };
    let now = ts("2026-03-29T08:00:00Z");
    let slots = lifecycle(
        &server,
        provider,
        testdata("energidataservice-dayaheadprices-2026-03-29.json"),
        now,
        "upstream maintenance",
    )
    .await;
    let (from, to) = berlin_day("2026-03-29");
    assert_eq!(slots.len(), 92, "DK1 only");
    assert_covers(&slots, from, to, 15);
    assert!((slots[0].price.0 - 0.09).abs() < 1e-9);
    let (_, uri, ..) = server.script.lock().unwrap().seen[0].clone();
    assert!(
        uri.starts_with("/dataset/DayAheadPrices?start=2026-03-29T06%3A00&end=2026-03-31T08%3A00"),
        "{uri}"
    );
    assert!(
        uri.contains("filter=%7B%22PriceArea%22%3A%5B%22DK1%22%5D%7D"),
        "{uri}"
    );
}

#[tokio::test]
async fn octopus_agile_half_hours() {
    let server = Server::start().await;
    let provider = Provider::Octopus {
        base: server.base.clone(),
        product: "AGILE-24-10-01".into(),
        region: "C".into(),
        inc_vat: true,
    };
    let now = ts("2026-01-16T08:00:00Z");
    let slots = lifecycle(
        &server,
        provider,
        testdata("octopus-agile-c-2026-01-16.json"),
        now,
        "upstream maintenance",
    )
    .await;
    assert_eq!(slots.len(), 62);
    assert_covers(
        &slots,
        ts("2026-01-15T16:00:00Z"),
        ts("2026-01-16T23:00:00Z"),
        30,
    );
    // Oldest first after parsing; 15 p/kWh ex VAT at the first half hour, 5 % VAT.
    assert!((slots[0].price.0 - 0.1575).abs() < 1e-9, "{:?}", slots[0]);
    let (_, uri, ..) = server.script.lock().unwrap().seen[0].clone();
    assert!(uri.starts_with("/v1/products/AGILE-24-10-01/electricity-tariffs/E-1R-AGILE-24-10-01-C/standard-unit-rates/?period_from="), "{uri}");
}

#[tokio::test]
async fn the_formula_and_feed_in_apply_to_fetched_prices() {
    let server = Server::start().await;
    server.reply(200, testdata("awattar-de-2026-03-29.json"));
    let provider = Provider::Awattar {
        base: server.base.clone(),
    };
    let formula = PriceFormula {
        spot_factor: 1.0,
        fee: 0.20,
        vat: 0.19,
    };
    let feed = PriceFeed::fetched(
        provider.name(),
        formula,
        FeedIn::Fixed {
            price: PricePerKwh(0.08),
        },
    );
    let mut task =
        Fetcher::new(provider, feed.clone(), Schedule::day_ahead(berlin()), None).unwrap();
    let now = ts("2026-03-29T08:00:00Z");
    task.step(now).await;
    let (from, to) = berlin_day("2026-03-29");
    let p = feed.prices(from, to);
    assert_eq!(p.len(), 92);
    assert!(
        (p[0].price.0 - (0.09 + 0.20) * 1.19).abs() < 1e-9,
        "{:?}",
        p[0]
    );
    assert_eq!(feed.horizon(), Some(to));
    assert_eq!(
        feed.feed_in(from, to),
        vec![PriceSlot {
            start: from,
            end: to,
            price: PricePerKwh(0.08)
        }]
    );
    // Before 13:00 CEST the next fetch is the hourly refresh; after it, with tomorrow still
    // missing (the file holds one day), a poll every 15 minutes.
    assert_eq!(task.schedule().next_fetch(), ts("2026-03-29T09:00:00Z"));
    let at = ts("2026-03-29T12:00:00Z");
    assert_eq!(task.step(at).await, ts("2026-03-29T12:15:00Z"));
}

#[tokio::test]
async fn an_endless_body_is_cut_off() {
    let server = Server::start().await;
    server.reply(200, vec![b' '; 17 << 20]);
    let provider = Provider::Awattar {
        base: server.base.clone(),
    };
    let e = fetch::fetch(
        &fetch::client().unwrap(),
        &provider,
        ts("2026-03-29T08:00:00Z"),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("aWATTar: ") && e.contains("body larger than"),
        "{e}"
    );
}
