//! The whole path on a stepped clock (issue 17): ingest, the log, the sink, the rollups and
//! the query API of one server whose time the test sets, across a midnight and a month end
//! (31 January → 1 February → 28 February → 1 March 2030, not a leap year), far from the
//! wall-clock date. In the external pass the same runs on Kafka and ClickHouse.

use crate::common::*;
use crate::harness::Server;
use serde_json::{json, Value};
use sightline::clock::SteppedClock;
use std::sync::Arc;

/// 2030-`month`-`day` `h`:`m` UTC, ms.
fn at(month: u32, day: u32, h: u32, m: u32) -> i64 {
    chrono::NaiveDate::from_ymd_opt(2030, month, day)
        .and_then(|d| d.and_hms_opt(h, m, 0))
        .unwrap()
        .and_utc()
        .timestamp_millis()
}

fn sessions(s: &Server, query: &str) -> u64 {
    let j: Value = s.get(&format!("/v1/sites/clock/journeys{query}"));
    j["sessions"].as_u64().unwrap()
}

#[test]
fn a_stepped_clock_carries_sessions_across_a_midnight_and_a_month_end() {
    let clock = Arc::new(SteppedClock::at(at(1, 31, 23, 0)));
    let s = Server::start_on(clock.clone());
    s.site("clock", &["https://shop.example"]);
    // One two-page session per batch, ending 10 s before the batch is received.
    let received = [
        at(1, 31, 23, 58),
        at(1, 31, 23, 59),
        at(2, 1, 0, 1),
        at(2, 28, 23, 58),
        at(2, 28, 23, 59),
        at(3, 1, 0, 1),
    ];
    for (k, t) in received.into_iter().enumerate() {
        clock.set(t);
        let sid = format!("s{k}");
        let events = vec![
            event("pageview", &sid, "https://shop.example/", t - 40_000, json!({})),
            event("pageview", &sid, "https://shop.example/cart", t - 10_000, json!({})),
        ];
        let (status, body) = s.post(&json!({"site": "clock", "sent_at": t, "events": events}));
        assert_eq!((status, body["accepted"].as_u64()), (202, Some(2)), "batch {k}: {body}");
        // Each batch is stored and rolled up on the clock of its arrival.
        s.settle("clock", 2 * (k as u64 + 1));
    }
    // Each day holds the sessions that started in it (`to` is exclusive, but a `to` equal to
    // `from` is that one day).
    for (from, to, want) in [
        ("2030-01-31", "2030-01-31", 2),
        ("2030-02-01", "2030-02-01", 1),
        ("2030-02-02", "2030-02-27", 0),
        ("2030-02-28", "2030-02-28", 2),
        ("2030-03-01", "2030-03-01", 1),
        ("2030-01-31", "2030-03-02", 6),
    ] {
        assert_eq!(sessions(&s, &format!("?from={from}&to={to}")), want, "{from}..{to}");
    }
    // Without a range the query reads the server's clock: the 30 days up to 1 March hold all
    // six sessions; stepped on to 3 March, the 30 days from 2 February only February's last
    // day and 1 March.
    assert_eq!(sessions(&s, ""), 6);
    clock.set(at(3, 3, 12, 0));
    assert_eq!(sessions(&s, ""), 3);
}
