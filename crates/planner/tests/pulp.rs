//! The optimal cost against PuLP + HiGHS (benches/pulp_reference.py) on the 48 h scenarios, with
//! binaries on every step there: the exact semantics (one direction per storage and per grid
//! connection), so this also checks that our binaries only where they can pay lose nothing.
//!
//! Needs the venv of `.ci/run` (/var/cache/gridlet/pulp-venv, or $GRIDLET_PULP_VENV). Without it
//! the test is skipped with a note, except in CI (CI=true), where that is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

use planner::{Scenario, plan};

fn python() -> Option<PathBuf> {
    let venv = std::env::var("GRIDLET_PULP_VENV")
        .unwrap_or_else(|_| "/var/cache/gridlet/pulp-venv".into());
    let python = Path::new(&venv).join("bin/python");
    let ok = Command::new(&python)
        .args(["-c", "import pulp, highspy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(python);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI: no PuLP/HiGHS in {venv} (.ci/run installs it)"
    );
    eprintln!("skipped: no PuLP/HiGHS venv at {venv} (see .ci/run)");
    None
}

fn reference(python: &Path, scenario: &Path) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/pulp_reference.py");
    let out = Command::new(python)
        .arg(script)
        .args(["--exclusive", "all"])
        .arg(scenario)
        .output()
        .expect("runs python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // HiGHS prints its banner on stdout first; ours is the last line.
    let line = stdout.lines().last().expect("a result line");
    serde_json::from_str(line).expect("JSON result")
}

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/planner")
        .join(name)
}

fn load(path: &Path) -> Scenario {
    serde_json::from_str(&std::fs::read_to_string(path).expect("reads")).expect("parses")
}

#[test]
fn optimal_cost_equals_pulp_highs() {
    let Some(python) = python() else { return };
    // The two 48 h scenarios, and the negative-price one with a departure no plan can meet.
    let mut infeasible = load(&testdata("48h-negative.json"));
    infeasible.car.as_mut().expect("car").departures[0].soc_wh = 60000.0;
    let tmp = std::env::temp_dir().join(format!("gridlet-plan-{}.json", std::process::id()));
    std::fs::write(
        &tmp,
        serde_json::to_string(&infeasible).expect("serialises"),
    )
    .expect("writes");
    for path in [
        testdata("48h.json"),
        testdata("48h-negative.json"),
        tmp.clone(),
    ] {
        let ours = plan(&load(&path)).expect("plans");
        let theirs = reference(&python, &path);
        let cost = theirs["cost"].as_f64().expect("cost");
        assert_eq!(theirs["status"], "Optimal", "{}", path.display());
        assert_eq!(
            theirs["feasible"].as_bool(),
            Some(ours.feasible),
            "{}",
            path.display()
        );
        assert!(
            (ours.cost - cost).abs() < 1e-4 * (1.0 + cost.abs()),
            "{}: ours {} PuLP/HiGHS {cost}",
            path.display(),
            ours.cost
        );
    }
    let _ = std::fs::remove_file(tmp);
}
