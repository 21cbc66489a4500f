//! `gridlet prices` against a local aWATTar-format server: the table, the JSON, the formula,
//! the cache when the server fails, and configuration errors.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A failing unwrap is a failing test.

use std::collections::HashMap;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use axum::extract::Query;
use axum::http::StatusCode;

const BIN: &str = env!("CARGO_BIN_EXE_gridlet");

fn gridlet(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

/// Serves `/v1/marketdata` in quarter hours over whatever window is asked, at 100 EUR/MWh, or
/// the status in `fail` when it is not 200.
fn serve(fail: Arc<AtomicU16>) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/v1/marketdata",
        axum::routing::get(move |Query(q): Query<HashMap<String, i64>>| {
            let status = fail.load(Ordering::SeqCst);
            async move {
                if status != 200 {
                    return (StatusCode::from_u16(status).unwrap(), String::new());
                }
                let (start, end) = (q["start"], q["end"]);
                let q15 = 900_000;
                let mut t = start - start.rem_euclid(q15);
                let mut data = Vec::new();
                while t < end {
                    data.push(format!(
                        r#"{{"start_timestamp":{t},"end_timestamp":{},"marketprice":100.0,"unit":"Eur/MWh"}}"#,
                        t + q15
                    ));
                    t += q15;
                }
                (
                    StatusCode::OK,
                    format!(r#"{{"object":"list","data":[{}]}}"#, data.join(",")),
                )
            }
        }),
    );
    std::thread::spawn(move || rt.block_on(async { axum::serve(listener, app).await }));
    format!("http://{addr}/")
}

#[test]
fn prices_prints_the_providers_slots_and_falls_back_to_the_cache() {
    let fail = Arc::new(AtomicU16::new(200));
    let url = serve(fail.clone());
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("prices.json");
    let cfg = dir.path().join("gridlet.toml");
    std::fs::write(
        &cfg,
        format!(
            "[site]\ntimezone = \"Europe/Berlin\"\n[prices]\ncache = {cache:?}\nformula = {{ fee = 0.2, vat = 0.19 }}\n\
             feed_in = {{ type = \"spot\", floor = 0.0 }}\n[prices.provider]\ntype = \"awattar\"\nurl = \"{url}\"\n"
        ),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();

    let out = gridlet(&["prices", "--config", cfg, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["provider"], "aWATTar");
    assert!(v["error"].is_null());
    let slots = v["slots"].as_array().unwrap();
    // From the current quarter hour to two days ahead.
    assert!((190..=194).contains(&slots.len()), "{}", slots.len());
    let s = &slots[1];
    assert!((s["spot"].as_f64().unwrap() - 0.1).abs() < 1e-9, "{s}");
    assert!((s["price"].as_f64().unwrap() - 0.357).abs() < 1e-9, "{s}");
    assert!((s["feed_in"].as_f64().unwrap() - 0.1).abs() < 1e-9, "{s}");
    assert!(cache.exists());

    let table = gridlet(&["prices", "--config", cfg]);
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.starts_with("aWATTar prices, fetched "), "{text}");
    assert!(
        text.contains("     15      0.1000      0.3570      0.1000"),
        "{text}"
    );

    // The server fails: the error names the provider, the cached prices are shown.
    fail.store(503, Ordering::SeqCst);
    let out = gridlet(&["prices", "--config", cfg, "--json"]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error: aWATTar: HTTP 503 from"), "{err}");
    assert!(err.contains("cached"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["slots"].as_array().unwrap().len() >= 190);
}

#[test]
fn prices_without_a_table_or_with_a_bad_one_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let none = dir.path().join("none.toml");
    std::fs::write(&none, "").unwrap();
    let out = gridlet(&["prices", "--config", none.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no [prices] table"));
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[prices.provider]\ntype = \"tibber\"\ntoken = \"\"\n").unwrap();
    let out = gridlet(&["prices", "--config", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:3:1: prices.provider.token: is empty"),
        "{err}"
    );
}

#[test]
fn a_time_of_use_tariff_needs_no_network() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("tou.toml");
    std::fs::write(
        &cfg,
        "[site]\ntimezone = \"Europe/Berlin\"\n[prices.provider]\ntype = \"time-of-use\"\ndefault = 0.3\n\
         rates = [{ from = \"22:00\", to = \"06:00\", price = 0.2 }]\n",
    )
    .unwrap();
    let out = gridlet(&["prices", "--config", cfg.to_str().unwrap(), "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let slots = v["slots"].as_array().unwrap();
    // 48 h: four or five stretches alternating between the two prices.
    assert!((4..=6).contains(&slots.len()), "{v}");
    let prices: Vec<f64> = slots.iter().map(|s| s["price"].as_f64().unwrap()).collect();
    assert!(prices.windows(2).all(|w| w[0] != w[1]), "{prices:?}");
}
