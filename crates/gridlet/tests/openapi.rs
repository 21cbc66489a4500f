//! The REST API's OpenAPI document (issue 11, "Done when" 2), against a running `gridlet sim`:
//! the served `/api/v1/openapi.json` validates with openapi-spec-validator (PyPI), and every
//! (path, method) in it is exercised as the document says: reads answer 2xx with a body that
//! fits the documented schema; on a listener that is not loopback, writes without the token get
//! 401 and with it 2xx (the body from the schema's example); 1 MB bodies get 413; malformed
//! JSON, wrong types, unknown fields and unknown enum values get a documented 4xx that names
//! the problem; and the control loop keeps running through all of it.
//!
//! The validator comes from the venv of `.ci/run` (/var/cache/gridlet/openapi-venv, or
//! $GRIDLET_OPENAPI_VENV); without it the test skips with a note, unless `CI=true`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A failing unwrap is a failing test.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[path = "support/daemon.rs"]
mod daemon;
use daemon::{Killed, exchange, free_port};

const GRIDLET: &str = env!("CARGO_BIN_EXE_gridlet");
const TOKEN: &str = "openapi-test-token";

/// One HTTP/1.1 exchange: status code, Content-Type and body.
fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &[u8],
) -> (u16, String, String) {
    let a = exchange(addr, method, path, headers, body, Duration::from_secs(10)).unwrap();
    let code = a
        .code
        .unwrap_or_else(|| panic!("no HTTP answer to {method} {path}: {}", a.head));
    let content_type = a.header("content-type").unwrap_or_default().to_owned();
    (code, content_type, a.body)
}

/// `gridlet sim` with the token on a listener that is not loopback, with history and the
/// planner, at 60 times the wall clock (history has samples within a second).
fn start(dir: &std::path::Path) -> (Killed, String) {
    let example = Command::new(GRIDLET)
        .args(["config", "example", "--preset", "sim"])
        .output()
        .unwrap();
    let example = String::from_utf8(example.stdout).unwrap();
    let planned = example.replace(
        "enabled = false               # true: plan",
        "enabled = true                # true: plan",
    );
    assert_ne!(planned, example, "the example's [planner] moved");
    let (before, after) = planned.split_once("[http]\n").unwrap();
    let after = after.split_once('\n').unwrap().1; // the example's listen line
    let config = dir.join("site.toml");
    std::fs::write(
        &config,
        format!("{before}[http]\ntoken = \"{TOKEN}\"\n{after}"),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new(GRIDLET)
        .arg("sim")
        .arg("--config")
        .arg(&config)
        .arg("--history")
        .arg(dir.join("history.sqlite"))
        .args(["--listen", &format!("0.0.0.0:{port}"), "--speed", "60"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let daemon = Killed(child);
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // Serving once the first snapshot is out (503 before).
        if TcpStream::connect(&addr).is_ok()
            && request(&addr, "GET", "/api/v1/status", &[], b"").0 == 200
        {
            break;
        }
        assert!(Instant::now() < deadline, "gridlet did not serve on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
    (daemon, addr)
}

fn document(addr: &str) -> (String, Value) {
    let (code, content_type, body) = request(addr, "GET", "/api/v1/openapi.json", &[], b"");
    assert_eq!(code, 200, "{body}");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let doc = serde_json::from_str(&body).unwrap();
    (body, doc)
}

fn site_time(addr: &str) -> String {
    let (code, _, body) = request(addr, "GET", "/api/v1/status", &[], b"");
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["site"]["time"].as_str().unwrap().to_owned()
}

/// A Server-Sent Events stream: status, Content-Type and its first event (the stream stays
/// open; this reads until the first blank line after an event's data).
fn first_event(addr: &str, path: &str, headers: &[&str]) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n");
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n")
            && let Some(i) = body.find("data:")
            && body[i..].contains("\n\n")
        {
            let code = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap();
            let content_type = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-type")
                        .then(|| v.trim().to_owned())
                })
                .unwrap_or_default();
            return (code, content_type, body.to_owned());
        }
        assert!(
            Instant::now() < deadline,
            "GET {path}: no event in 10 s: {text:?}"
        );
        match s.read(&mut buf) {
            Ok(0) => panic!("GET {path}: the stream ended: {text:?}"),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("GET {path}: {e}: {text:?}"),
        }
    }
}

/// Follows `#/components/schemas/...`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.strip_prefix("#/components/schemas/").unwrap();
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// Whether `v` fits `schema`, as far as the document's schemas go (types, required
/// properties, items, enums, oneOf/anyOf/allOf); the error says where not.
fn fits(doc: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(doc, schema);
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            fits(doc, s, v, at)?;
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(any) = schema.get(key).and_then(Value::as_array)
            && !any.iter().any(|s| fits(doc, s, v, at).is_ok())
        {
            return Err(format!("{at}: {v} fits none of {key}"));
        }
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        return Err(format!("{at}: {v} is not one of {e:?}"));
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t],
        Some(Value::Array(t)) => t.iter().filter_map(Value::as_str).collect(),
        _ => return Ok(()),
    };
    let ok = types.iter().any(|t| match *t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => false,
    });
    if !ok {
        return Err(format!("{at}: {v} is not {types:?}"));
    }
    if let (Some(items), Some(a)) = (schema.get("items"), v.as_array()) {
        for (i, x) in a.iter().enumerate() {
            fits(doc, items, x, &format!("{at}[{i}]"))?;
        }
    }
    if let Some(o) = v.as_object() {
        for r in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let r = r.as_str().unwrap();
            if !o.contains_key(r) {
                return Err(format!("{at}: no {r:?}"));
            }
        }
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (k, s) in props {
                if let Some(x) = o.get(k) {
                    fits(doc, s, x, &format!("{at}.{k}"))?;
                }
            }
        }
    }
    Ok(())
}

/// The operation's documented answer for `code`, or a panic naming the undocumented one.
fn documented<'a>(op: &'a Value, code: u16, what: &str, body: &str) -> &'a Value {
    op["responses"]
        .get(code.to_string())
        .unwrap_or_else(|| panic!("{what}: {code} is not documented ({body})"))
}

/// Checks a 2xx answer against its documented content.
fn check_answer(
    doc: &Value,
    op: &Value,
    what: &str,
    (code, content_type, body): (u16, String, String),
) {
    assert!((200..300).contains(&code), "{what}: {code} {body}");
    let response = documented(op, code, what, &body);
    let Some(content) = response.get("content").and_then(Value::as_object) else {
        return; // No body documented (202).
    };
    let media = content_type.split(';').next().unwrap().trim();
    let (_, c) = content
        .iter()
        .find(|(k, _)| k.split(';').next().unwrap().trim() == media)
        .unwrap_or_else(|| panic!("{what}: {content_type} is not documented"));
    if media == "application/json" {
        let v: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{what}: the JSON answer does not parse: {e}"));
        fits(doc, &c["schema"], &v, "body").unwrap_or_else(|e| panic!("{what}: {e}"));
    } else {
        assert!(!body.is_empty(), "{what}: empty {media} answer");
    }
}

/// The query string from the parameters' examples.
fn query(op: &Value) -> String {
    let mut q = Vec::new();
    for p in op
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        assert_eq!(p["in"], "query", "only query parameters are exercised: {p}");
        let example = p
            .get("example")
            .or_else(|| p["schema"].get("example"))
            .or_else(|| p["schema"]["examples"].get(0));
        match example {
            Some(Value::String(e)) => q.push(format!("{}={e}", p["name"].as_str().unwrap())),
            Some(e) => q.push(format!("{}={e}", p["name"].as_str().unwrap())),
            None => assert_ne!(
                p["required"], true,
                "a required parameter without example: {p}"
            ),
        }
    }
    if q.is_empty() {
        String::new()
    } else {
        format!("?{}", q.join("&"))
    }
}

/// A write, retried while the rate limit answers 429 (this test writes more than a burst).
fn write(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &[u8],
) -> (u16, String, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = request(addr, method, path, headers, body);
        if answer.0 != 429 || Instant::now() > deadline {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn every_documented_endpoint_answers_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let (_daemon, addr) = start(dir.path());
    let (_, doc) = document(&addr);
    let auth = format!("Authorization: Bearer {TOKEN}");
    let wrong = "Authorization: Bearer not-the-token";
    let json = "Content-Type: application/json";
    // History's first 10 s sample is committed within a second at 60 times the wall clock.
    let deadline = Instant::now() + Duration::from_secs(20);
    while request(&addr, "GET", "/api/v1/history/series", &[], b"")
        .2
        .len()
        < 3
    {
        assert!(Instant::now() < deadline, "no history recorded");
        std::thread::sleep(Duration::from_millis(100));
    }

    let paths = doc["paths"].as_object().unwrap();
    let mut exercised = Vec::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let what = format!("{} {path}", method.to_uppercase());
            match method.as_str() {
                "get"
                    if op["responses"]["200"]["content"]
                        .get("text/event-stream")
                        .is_some() =>
                {
                    for h in [&[][..], &[auth.as_str()][..]] {
                        let (code, content_type, first) = first_event(&addr, path, h);
                        assert_eq!(code, 200, "{what}");
                        assert!(content_type.starts_with("text/event-stream"), "{what}");
                        assert!(first.contains("data:"), "{what}: no event: {first:?}");
                    }
                }
                "get" => {
                    let url = format!("{path}{}", query(op));
                    check_answer(&doc, op, &what, request(&addr, "GET", &url, &[], b""));
                    check_answer(&doc, op, &what, request(&addr, "GET", &url, &[&auth], b""));
                    // A documented CSV answer, asked for as the `format` parameter says.
                    if op["responses"]["200"]["content"].get("text/csv").is_some() {
                        let sep = if url.contains('?') { '&' } else { '?' };
                        let answer =
                            request(&addr, "GET", &format!("{url}{sep}format=csv"), &[], b"");
                        assert!(answer.1.starts_with("text/csv"), "{what}: {answer:?}");
                        assert!(answer.2.lines().count() > 1, "{what}: no rows: {answer:?}");
                        check_answer(&doc, op, &what, answer);
                    }
                }
                "post" | "put" | "patch" | "delete" => {
                    let m = method.to_uppercase();
                    let example = op.get("requestBody").map(|rb| {
                        let c = &rb["content"]["application/json"];
                        let schema = resolve(&doc, &c["schema"]);
                        c.get("example")
                            .or_else(|| schema.get("example"))
                            .or_else(|| schema["examples"].get(0))
                            .unwrap_or_else(|| panic!("{what}: no example body"))
                            .clone()
                    });
                    let body = example.as_ref().map(|e| e.to_string()).unwrap_or_default();
                    let headers: &[&str] = if example.is_some() { &[json] } else { &[] };
                    // No token, a wrong token: 401, documented.
                    for extra in [None, Some(wrong)] {
                        let h: Vec<&str> = headers.iter().copied().chain(extra).collect();
                        let (code, _, text) = request(&addr, &m, path, &h, body.as_bytes());
                        assert_eq!(code, 401, "{what} with {extra:?}: {text}");
                        documented(op, code, &what, &text);
                    }
                    // With it: the documented 2xx.
                    let h: Vec<&str> = headers.iter().copied().chain([auth.as_str()]).collect();
                    check_answer(&doc, op, &what, write(&addr, &m, path, &h, body.as_bytes()));
                    // 1 MB: refused before it is read, token or not.
                    let big = vec![b' '; 1 << 20];
                    for h in [headers.to_vec(), h.clone()] {
                        let (code, _, text) = request(&addr, &m, path, &h, &big);
                        assert_eq!(code, 413, "{what} with 1 MB: {text}");
                        documented(op, code, &what, &text);
                    }
                    if let Some(example) = example {
                        malformed(&addr, &doc, op, &what, (&m, path), &example, &h);
                    }
                }
                other => panic!("{what}: {other} is not exercised"),
            }
            exercised.push(what);
        }
    }
    eprintln!("exercised: {exercised:?}");
    // The document lists what the page and the other front ends serve.
    for expected in [
        "GET /api/v1/status",
        "POST /api/v1/mode",
        "GET /api/v1/history",
        "GET /api/v1/openapi.json",
    ] {
        assert!(
            exercised.iter().any(|e| e == expected),
            "{expected} missing"
        );
    }

    // The control loop kept running through all of it.
    let t0 = site_time(&addr);
    let deadline = Instant::now() + Duration::from_secs(5);
    while site_time(&addr) == t0 {
        assert!(Instant::now() < deadline, "the control loop stalled");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Malformed bodies for a write whose example is `example`: each gets a documented 4xx whose
/// message says what is wrong.
fn malformed(
    addr: &str,
    doc: &Value,
    op: &Value,
    what: &str,
    (method, path): (&str, &str),
    example: &Value,
    auth_json: &[&str],
) {
    let auth_only: Vec<&str> = auth_json
        .iter()
        .copied()
        .filter(|h| h.starts_with("Authorization"))
        .collect();
    let mut cases: Vec<(String, Vec<u8>, Vec<&str>, &str)> = vec![
        (
            "not JSON".into(),
            b"{\"x\":".to_vec(),
            auth_json.to_vec(),
            "",
        ),
        (
            "not UTF-8".into(),
            b"\xff\xfe".to_vec(),
            auth_json.to_vec(),
            "",
        ),
        ("empty".into(), Vec::new(), auth_json.to_vec(), ""),
        (
            "no content type".into(),
            example.to_string().into_bytes(),
            auth_only,
            "Content-Type",
        ),
        ("an array".into(), b"[]".to_vec(), auth_json.to_vec(), ""),
    ];
    let obj = example.as_object().unwrap();
    let mut extra = obj.clone();
    extra.insert("surplus".into(), json!(1));
    cases.push((
        "an unknown field".into(),
        Value::Object(extra).to_string().into_bytes(),
        auth_json.to_vec(),
        "surplus",
    ));
    let schema = resolve(
        doc,
        &op["requestBody"]["content"]["application/json"]["schema"],
    );
    for (k, v) in obj {
        // A wrong type for every field, and an unknown value for enums.
        let wrong = if v.is_string() {
            json!([1])
        } else {
            json!("x")
        };
        let mut b = obj.clone();
        b.insert(k.clone(), wrong);
        cases.push((
            format!("{k} of a wrong type"),
            Value::Object(b).to_string().into_bytes(),
            auth_json.to_vec(),
            k,
        ));
        let prop = resolve(doc, &schema["properties"][k]);
        if prop.get("enum").is_some() {
            let mut b = obj.clone();
            b.insert(k.clone(), json!("warp"));
            cases.push((
                format!("{k} not one of the enum"),
                Value::Object(b).to_string().into_bytes(),
                auth_json.to_vec(),
                "warp",
            ));
        }
        // Only a required field's absence is malformed (a patch's fields are all optional).
        let required = schema["required"]
            .as_array()
            .is_some_and(|r| r.iter().any(|n| n == k.as_str()));
        if !required {
            continue;
        }
        let mut b = obj.clone();
        b.remove(k);
        cases.push((
            format!("without {k}"),
            Value::Object(b).to_string().into_bytes(),
            auth_json.to_vec(),
            k,
        ));
    }
    eprintln!("{what}: {} malformed bodies", cases.len());
    for (case, body, headers, names) in &cases {
        let (code, _, text) = write(addr, method, path, headers, body);
        assert!((400..500).contains(&code), "{what}, {case}: {code} {text}");
        documented(op, code, what, &text);
        assert!(
            text.contains(names),
            "{what}, {case}: the message does not name {names:?}: {text}"
        );
    }
}

#[test]
fn the_served_document_passes_openapi_spec_validator() {
    let venv = std::env::var("GRIDLET_OPENAPI_VENV")
        .unwrap_or_else(|_| "/var/cache/gridlet/openapi-venv".into());
    let validator = std::path::Path::new(&venv).join("bin/openapi-spec-validator");
    if !validator.exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{} is missing (.ci/run installs it)",
            validator.display()
        );
        eprintln!(
            "skipped: {} is missing (install openapi-spec-validator from PyPI there, or set \
             GRIDLET_OPENAPI_VENV)",
            validator.display()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_daemon, addr) = start(dir.path());
    let (text, doc) = document(&addr);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, text).unwrap();
    let out = Command::new(&validator).arg(&file).output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "openapi-spec-validator: {said}");
    assert!(said.contains("OK"), "openapi-spec-validator said: {said}");
}
