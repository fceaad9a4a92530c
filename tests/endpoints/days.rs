//! The site's own days (analytics.md, "Time and ranges"; api.md, "Date ranges"): with
//! `settings.rules.time_zone` a site's days are its local days, around both DST changes of
//! Europe/Berlin in 2026 (29 March: 23 h; 25 October: 25 h). Events just before and after
//! local midnight land on their local day, each date appears once in a daily series,
//! `from`/`to` are local dates, and changing the time zone recomputes the stored rollups.
//! Hand-computed; the same in both modes. Unit tests of the day functions:
//! `src/model/days.rs`.

use crate::common::*;
use crate::harness::Server;
use crate::voc::URL;
use serde_json::{json, Value};

fn ms(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
}

/// One feedback event (its own session), rated 4.
fn feedback(session: &str, at: &str) -> Value {
    event("feedback", session, URL, ms(at), json!({"rating": 4}))
}

fn trend(s: &Server, site: &str, from: &str, to: &str) -> Vec<(String, u64)> {
    let v = s.get(&format!("/v1/sites/{site}/voc?from={from}&to={to}"));
    v["feedback"]["trend"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["day"].as_str().unwrap().to_string(), d["count"].as_u64().unwrap()))
        .collect()
}

fn sessions_total(s: &Server, site: &str, from: &str, to: &str) -> u64 {
    s.get(&format!("/v1/sites/{site}/sessions?from={from}&to={to}"))["total"]
        .as_u64()
        .unwrap()
}

fn days(v: &[(&str, u64)]) -> Vec<(String, u64)> {
    v.iter().map(|(d, n)| (d.to_string(), *n)).collect()
}

#[test]
fn berlin_days_hold_the_events_of_their_local_dates_around_both_dst_changes() {
    let s = Server::start(&[]);
    let site = "berlin";
    s.site_with(json!({"name": site, "key": site, "origins": ["*"],
        "settings": {"rules": {"time_zone": "Europe/Berlin"}}}));
    let evs = vec![
        // Spring: 29 March starts at 23:00 UTC on the 28th (CET, +1) and ends at 22:00 UTC
        // (CEST, +2): 23 hours.
        feedback("f1", "2026-03-28T22:59:59.999Z"), // 23:59:59.999 on the 28th
        feedback("f2", "2026-03-28T23:00:00Z"),     // 00:00 on the 29th
        feedback("f3", "2026-03-29T21:59:59.999Z"), // 23:59:59.999 CEST on the 29th
        feedback("f4", "2026-03-29T22:00:00Z"),     // 00:00 on the 30th
        // Autumn: 25 October starts at 22:00 UTC on the 24th (CEST) and ends at 23:00 UTC on
        // the 25th (CET): 25 hours.
        feedback("g1", "2026-10-24T21:59:59.999Z"), // 23:59:59.999 CEST on the 24th
        feedback("g2", "2026-10-24T22:00:00Z"),     // 00:00 on the 25th
        feedback("g3", "2026-10-25T00:30:00Z"),     // 02:30 CEST on the 25th
        feedback("g4", "2026-10-25T01:30:00Z"),     // 02:30 CET (the hour again) on the 25th
        feedback("g5", "2026-10-25T22:59:59.999Z"), // 23:59:59.999 CET on the 25th
        feedback("g6", "2026-10-25T23:00:00Z"),     // 00:00 on the 26th (still the 25th in UTC)
    ];
    let n = evs.len() as u64;
    let (st, body) = s.import_batch(site, &evs);
    assert_eq!(st, 202, "{body}");
    s.settle(site, n);

    // Each local date once, its events on it; the 23 h and the 25 h days included.
    assert_eq!(
        trend(&s, site, "2026-03-27", "2026-04-01"),
        days(&[("2026-03-28", 1), ("2026-03-29", 2), ("2026-03-30", 1)])
    );
    assert_eq!(
        trend(&s, site, "2026-10-23", "2026-10-28"),
        days(&[("2026-10-24", 1), ("2026-10-25", 4), ("2026-10-26", 1)])
    );
    // `from`/`to` are local dates: `to` = `from` is that one local day.
    assert_eq!(trend(&s, site, "2026-03-29", "2026-03-29"), days(&[("2026-03-29", 2)]));
    assert_eq!(trend(&s, site, "2026-10-25", "2026-10-25"), days(&[("2026-10-25", 4)]));
    assert_eq!(sessions_total(&s, site, "2026-03-29", "2026-03-29"), 2);
    assert_eq!(
        sessions_total(&s, site, "2026-10-25", "2026-10-26"),
        4,
        "to is exclusive"
    );
    assert_eq!(sessions_total(&s, site, "2026-10-25", "2026-10-27"), 5);
    // Instants in ms select the local days that hold them.
    let one = sessions_total(
        &s,
        site,
        &ms("2026-10-25T23:30:00Z").to_string(),
        &ms("2026-10-25T23:30:00Z").to_string(),
    );
    assert_eq!(one, 1, "23:30 UTC on the 25th is on the 26th in Berlin");

    // Back to UTC: the stored rollups are recomputed on UTC days.
    let r = s
        .http
        .patch(s.url(&format!("/v1/sites/{site}")))
        .bearer_auth(TOKEN)
        .json(&json!({"settings": {"rules": {"time_zone": "UTC"}}}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    s.settle(site, n);
    assert_eq!(
        trend(&s, site, "2026-03-27", "2026-04-01"),
        days(&[("2026-03-28", 2), ("2026-03-29", 2)])
    );
    assert_eq!(
        trend(&s, site, "2026-10-23", "2026-10-28"),
        days(&[("2026-10-24", 2), ("2026-10-25", 4)])
    );
    assert_eq!(sessions_total(&s, site, "2026-10-25", "2026-10-25"), 4);
}

#[test]
fn new_york_days_and_a_site_without_a_time_zone_keep_utc_days() {
    let s = Server::start(&[]);
    s.site_with(json!({"name": "ny", "key": "ny", "origins": ["*"],
        "settings": {"rules": {"time_zone": "America/New_York"}}}));
    s.site("utc", &["*"]);
    // New York 2026-03-08 (23 h: 05:00 → 04:00 UTC) and 2026-11-01 (25 h: 04:00 → 05:00 UTC).
    let evs = |p: &str| {
        vec![
            feedback(&format!("{p}1"), "2026-03-08T04:59:59.999Z"), // NY 7 March 23:59:59.999
            feedback(&format!("{p}2"), "2026-03-08T05:00:00Z"),     // NY 8 March 00:00
            feedback(&format!("{p}3"), "2026-03-09T03:59:59.999Z"), // NY 8 March 23:59:59.999 EDT
            feedback(&format!("{p}4"), "2026-11-01T04:00:00Z"),     // NY 1 Nov 00:00 EDT
            feedback(&format!("{p}5"), "2026-11-02T04:59:59.999Z"), // NY 1 Nov 23:59:59.999 EST
            feedback(&format!("{p}6"), "2026-11-02T05:00:00Z"),     // NY 2 Nov 00:00
        ]
    };
    for (site, p) in [("ny", "n"), ("utc", "u")] {
        let (st, body) = s.import_batch(site, &evs(p));
        assert_eq!(st, 202, "{body}");
        s.settle(site, 6);
    }
    assert_eq!(
        trend(&s, "ny", "2026-03-06", "2026-03-10"),
        days(&[("2026-03-07", 1), ("2026-03-08", 2)])
    );
    assert_eq!(
        trend(&s, "ny", "2026-10-30", "2026-11-03"),
        days(&[("2026-11-01", 2), ("2026-11-02", 1)])
    );
    // Without a time zone: UTC days, as before.
    assert_eq!(
        trend(&s, "utc", "2026-03-06", "2026-03-10"),
        days(&[("2026-03-08", 2), ("2026-03-09", 1)])
    );
    assert_eq!(
        trend(&s, "utc", "2026-10-30", "2026-11-03"),
        days(&[("2026-11-01", 1), ("2026-11-02", 2)])
    );
}

/// A time zone changed with the CLI while the server runs (another process: the server's
/// site cache has the old rules until its next refresh) is recomputed without a `rollup
/// rebuild`. When the server's rollup job takes the CLI's marks under the old rules first
/// (a timing this test cannot force), the server marks the site's sessions again once its
/// cache has the new rules (`sites::tests`, `app::refresh_sites_and_tokens`).
#[test]
fn a_time_zone_changed_by_the_cli_is_recomputed_by_the_running_server() {
    let s = Server::start(&[]);
    s.site("cli_tz", &["*"]);
    // 23:30 UTC on 7 March is 8 March 08:30 in Tokyo.
    let (st, body) = s.import_batch("cli_tz", &[feedback("t1", "2026-03-07T23:30:00Z")]);
    assert_eq!(st, 202, "{body}");
    s.settle("cli_tz", 1);
    assert_eq!(
        trend(&s, "cli_tz", "2026-03-06", "2026-03-10"),
        days(&[("2026-03-07", 1)])
    );
    let out = s.cli(&[
        "site",
        "update",
        "cli_tz",
        "--settings",
        r#"{"rules": {"time_zone": "Asia/Tokyo"}}"#,
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The server's rollup job takes the CLI's marks at once, under the cached UTC rules.
    s.rollup_run();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        s.rollup_run();
        let t = trend(&s, "cli_tz", "2026-03-06", "2026-03-10");
        if t == days(&[("2026-03-08", 1)]) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still on UTC days: {t:?}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
