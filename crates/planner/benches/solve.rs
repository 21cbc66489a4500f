//! The 48 h, 192-step scenario with battery and car (issue 12, Done-when 3): our solve with both
//! back ends, then the same model solved by PuLP + HiGHS (benches/pulp_reference.py) on the same
//! scenario file, so that both figures come out of one run. PuLP needs the venv of `.ci/run`
//! (/var/cache/gridlet/pulp-venv or $GRIDLET_PULP_VENV); without it that part is skipped.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use planner::{Backend, Options, Scenario, plan_with};

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/planner")
        .join(name)
}

fn load(name: &str) -> Scenario {
    let text = std::fs::read_to_string(testdata(name)).expect("testdata scenario");
    serde_json::from_str(&text).expect("testdata scenario parses")
}

fn solve(c: &mut Criterion) {
    for name in ["48h.json", "48h-negative.json"] {
        let scenario = load(name);
        for backend in [Backend::Microlp, Backend::Clarabel] {
            let options = Options {
                backend,
                ..Options::default()
            };
            let plan = plan_with(&scenario, &options).expect("plans");
            println!(
                "{name} {backend:?}: cost {:.4}, feasible {}, {:?}",
                plan.cost, plan.feasible, plan.stats
            );
            c.bench_function(&format!("plan {name} {backend:?}"), |b| {
                b.iter(|| plan_with(black_box(&scenario), &options).expect("plans"))
            });
        }
    }
}

/// Runs the PuLP + HiGHS reference on the same files and prints its figures.
fn pulp() {
    let venv = std::env::var("GRIDLET_PULP_VENV")
        .unwrap_or_else(|_| "/var/cache/gridlet/pulp-venv".into());
    let python = Path::new(&venv).join("bin/python");
    if !python.exists() {
        println!("PuLP/HiGHS reference skipped: no venv at {venv} (see .ci/run)");
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/pulp_reference.py");
    for name in ["48h.json", "48h-negative.json"] {
        let start = Instant::now();
        let out = std::process::Command::new(&python)
            .arg(&script)
            .arg("--repeat")
            .arg("20")
            .arg(testdata(name))
            .output()
            .expect("runs python");
        let took: Duration = start.elapsed();
        println!(
            "PuLP+HiGHS {name}: {} (process {took:.2?})",
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .lines()
                .last()
                .unwrap_or("no output")
        );
        if !out.status.success() {
            println!("{}", String::from_utf8_lossy(&out.stderr));
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(4));
    targets = solve
}

fn main() {
    benches();
    pulp();
    Criterion::default().configure_from_args().final_summary();
}
