//! Line protocol and the export queue's batching and backoff, on virtual time.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use history::influx::{Exporter, SendResult, Target, line, lines};
use history::{Resolution, Row};
use units::Timestamp;

#[test]
fn lines_have_one_float_field_per_series_and_escape_names() {
    let tags = vec![("site".to_owned(), "my home".to_owned())];
    assert_eq!(
        line(
            "gridlet",
            &tags,
            &[("grid.power_w", 12.0), ("pv.a,b.power_w", 0.25)],
            1_800_000_000
        )
        .unwrap(),
        "gridlet,site=my\\ home grid.power_w=12.0,pv.a\\,b.power_w=0.25 1800000000"
    );
    assert_eq!(line("gridlet", &[], &[("x", f64::NAN)], 1), None);
    let row = |t, s: &str, v| Row {
        resolution: Resolution::Raw,
        t,
        series: s.into(),
        mean: v,
        min: v,
        max: v,
        count: 1,
    };
    let mut minute = row(0, "x", 9.0);
    minute.resolution = Resolution::Minute;
    let l = lines(
        "g",
        &[],
        &[
            row(10, "a", 1.0),
            row(0, "a", 2.0),
            row(10, "b", 3.0),
            minute,
        ],
    );
    assert_eq!(l, ["g a=2.0 0", "g a=1.0,b=3.0 10"]);
}

#[test]
fn urls_and_authorization_for_v1_and_v2() {
    let v1 = Target::V1 {
        url: "http://127.0.0.1:8428/".into(),
        db: "my db".into(),
        auth: Some(("user".into(), "pass".into())),
    };
    assert_eq!(
        v1.url(),
        "http://127.0.0.1:8428/write?db=my%20db&precision=s"
    );
    assert_eq!(v1.authorization().unwrap(), "Basic dXNlcjpwYXNz");
    let v2 = Target::V2 {
        url: "http://h:8086".into(),
        org: "home".into(),
        bucket: "gridlet".into(),
        token: "t0k".into(),
    };
    assert_eq!(
        v2.url(),
        "http://h:8086/api/v2/write?org=home&bucket=gridlet&precision=s"
    );
    assert_eq!(v2.authorization().unwrap(), "Token t0k");
}

#[test]
fn failed_batches_are_retried_with_backoff_and_the_queue_is_bounded() {
    let t0 = Timestamp::from_unix_secs(1_800_000_000);
    let mut e = Exporter::new(5, 2);
    e.handle_lines((0..3).map(|i| format!("l{i}")));
    assert_eq!(e.poll_batch(t0).unwrap(), "l0\nl1\n");
    // One batch at a time.
    assert_eq!(e.poll_batch(t0), None);
    e.handle_result(t0, SendResult::Failed);
    assert_eq!(e.poll_batch(t0), None);
    assert_eq!(e.next_try(), Some(t0 + Duration::from_secs(1)));
    let t1 = t0 + Duration::from_secs(1);
    assert_eq!(e.poll_batch(t1).unwrap(), "l0\nl1\n");
    e.handle_result(t1, SendResult::Failed);
    // Doubled.
    assert_eq!(e.next_try(), Some(t1 + Duration::from_secs(2)));
    // The queue holds 5: the oldest lines go first, but not those in flight.
    let t3 = t1 + Duration::from_secs(2);
    assert!(e.poll_batch(t3).is_some());
    e.handle_lines((3..8).map(|i| format!("l{i}")));
    assert_eq!(e.queued(), 5);
    e.handle_result(t3, SendResult::Ok);
    assert_eq!(e.poll_batch(t3).unwrap(), "l5\nl6\n");
    e.handle_result(t3, SendResult::Rejected);
    assert_eq!(e.poll_batch(t3).unwrap(), "l7\n");
    e.handle_result(t3, SendResult::Ok);
    assert_eq!(e.counts(), (3, 5));
    assert_eq!(e.queued(), 0);
}
