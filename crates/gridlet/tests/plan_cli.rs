//! `gridlet plan`: the table, the JSON's exact shape, and located errors for bad files.

use std::path::{Path, PathBuf};
use std::process::Command;

fn gridlet() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gridlet"))
}

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/planner")
        .join(name)
}

#[test]
fn json_has_exactly_the_documented_keys() {
    let out = gridlet()
        .args(["plan", "--json", "--input"])
        .arg(testdata("48h.json"))
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let mut keys: Vec<_> = v.as_object().expect("object").keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["cost", "feasible", "steps"]);
    assert_eq!(v["feasible"], true);
    assert!(v["cost"].is_f64());
    let steps = v["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 192);
    let mut step_keys: Vec<_> = steps[0]
        .as_object()
        .expect("step")
        .keys()
        .cloned()
        .collect();
    step_keys.sort();
    assert_eq!(
        step_keys,
        [
            "battery_charge_w",
            "battery_discharge_w",
            "battery_soc_wh",
            "car_charge_w",
            "car_discharge_w",
            "car_soc_wh",
            "export_w",
            "import_w",
        ]
    );
}

#[test]
fn table_prints_every_step_and_the_cost() {
    let out = gridlet()
        .args(["plan", "--input"])
        .arg(testdata("48h.json"))
        .output()
        .expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines()
            .filter(|l| l.trim_start().starts_with("191 "))
            .count(),
        1
    );
    assert!(text.contains("\ncost: -"), "{text}");
    assert!(text.contains("feasible: every departure target and limit is met"));
}

#[test]
fn unreachable_departure_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("late.json");
    let text = std::fs::read_to_string(testdata("48h.json")).expect("reads");
    let text = text.replace(
        r#"{"step":28,"soc_wh":48000}"#,
        r#"{"step":4,"soc_wh":59000}"#,
    );
    std::fs::write(&path, text).expect("writes");
    let out = gridlet()
        .args(["plan", "--json", "--input"])
        .arg(&path)
        .output()
        .expect("runs");
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["feasible"], false);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the car leaves at step 4 with"), "{err}");
}

#[test]
fn bad_files_are_located_and_do_not_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("{\"step_min\": 15,\n\"price_import\": [0.1,\n", "line 3"),
        (
            r#"{"step_min": 15, "price_import": [0.1], "price_export": [0.1], "pv_w": [0],
"load_w": [0], "grid": {"import_max_w": 1000, "export_max_w": "lots"}}"#,
            "grid.export_max_w (line 2",
        ),
        (
            r#"{"step_min": 15, "price_import": [0.1], "price_export": [0.1], "pv_w": [0],
"load_w": [0], "grid": {"import_max_w": 1000, "export_max_w": 0},
"battery": {"capacity_wh": 1000, "soc_wh": 2000, "min_soc_wh": 0, "charge_max_w": 1,
"discharge_max_w": 1, "charge_efficiency": 1, "discharge_efficiency": 1, "wear_per_kwh": 0,
"end_value_per_kwh": 0}}"#,
            "battery.soc_wh = 2000 is above capacity_wh",
        ),
    ];
    for (i, (text, expect)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.json"));
        std::fs::write(&path, text).expect("writes");
        let out = gridlet()
            .args(["plan", "--input"])
            .arg(&path)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2), "case {i}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&*path.to_string_lossy()), "case {i}: {err}");
        assert!(err.contains(expect), "case {i}: {err}");
        assert!(!err.contains("panicked"), "case {i}: {err}");
    }
    let out = gridlet()
        .args(["plan", "--input", "/nonexistent.json"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent.json: cannot read"));
}
