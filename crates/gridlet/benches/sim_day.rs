//! How fast the simulated reference site runs: one simulated day in lock-step (model, controller,
//! device backends), and one control tick. `gridlet sim --until 24h --speed max` must finish in
//! well under 10 s; this measures what it spends.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use gridlet::{assemble, config};
use units::Timestamp;

fn day(c: &mut Criterion) {
    let cfg = config::parse("sim.toml", config::EXAMPLE_SIM).unwrap();
    let start = Timestamp::parse_rfc3339("2026-06-20T22:00:00Z").unwrap();
    let mut g = c.benchmark_group("sim");
    g.sample_size(10);
    g.bench_function("day_lockstep", |b| {
        b.iter(|| {
            let mut a = assemble::assemble(&cfg, start).unwrap();
            let world = a.world.clone().unwrap();
            let mut t = start;
            for _ in 0..86_400 {
                sim::lock(&world).advance_to(t);
                std::hint::black_box(a.site.tick(t));
                t += Duration::from_secs(1);
            }
            sim::lock(&world).report()
        });
    });
    g.finish();

    let mut a = assemble::assemble(&cfg, start).unwrap();
    let world = a.world.clone().unwrap();
    let mut t = start + Duration::from_secs(12 * 3600);
    sim::lock(&world).advance_to(t);
    c.bench_function("sim/tick", |b| {
        b.iter(|| {
            t += Duration::from_secs(1);
            sim::lock(&world).advance_to(t);
            std::hint::black_box(a.site.tick(t))
        });
    });
}

criterion_group!(benches, day);
criterion_main!(benches);
