//! Journeys and funnels through the router in process (issue 5), in either mode: the cases of
//! `cases/ingest.md` I2, I9 and `cases/analytics.md` A1, A2, the optional midnight split,
//! `limit`, and historical import (the endpoint, and `sightline import`, idempotent on
//! re-run). The comparison with the oracle across a restart is in `tests/journeys.rs`.

use crate::common::*;
use crate::harness::Server;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------
// The generated data set.

// ---------------------------------------------------------------------------------------
// Cases.

fn journeys_of(s: &Server, site: &str, range: &str) -> Value {
    s.get(&format!("/v1/sites/{site}/journeys?{range}"))
}

fn range_around(ts: i64) -> String {
    format!("from={}&to={}", date(ts - DAY), date(ts + 2 * DAY))
}

/// cases/ingest.md I2: three batches of 100 clicks for one session, the third arriving 5 s
/// after the session's last page view → all 300 clicks in the heatmap and in that session.
#[test]
fn i2_three_click_batches_of_one_page_all_count_in_its_session() {
    let s = Server::start(&[]);
    let site = "i2-site";
    s.site(site, &["https://shop.example"]);
    let t0 = now_ms() - 10 * MIN;
    let url = "https://shop.example/pricing";
    s.post(&batch(site, vec![event("pageview", "s1", url, t0, json!({}))]));
    for b in 0..3 {
        if b == 2 {
            // The third batch comes after the first two are stored and rolled up.
            s.settle(site, 201);
        }
        let clicks: Vec<Value> = (0..100)
            .map(|i| {
                event(
                    "click",
                    "s1",
                    url,
                    t0 + 1000 + (b * 100 + i) * 50,
                    json!({"x": 10 + i, "y": 20, "selector": "button.buy", "reaction_ms": 40}),
                )
            })
            .collect();
        let (status, body) = s.post(&batch(site, clicks));
        assert_eq!((status, body["accepted"].as_u64()), (202, Some(100)));
    }
    s.settle(site, 301);
    let range = range_around(t0);
    let h = s.get(&format!("/v1/sites/{site}/heatmap?url={}&{range}", enc(url)));
    assert_eq!((h["pageviews"].as_u64(), h["clicks"].as_u64()), (Some(1), Some(300)));
    let j = journeys_of(&s, site, &range);
    assert_eq!((j["sessions"].as_u64(), j["bounces"].as_u64()), (Some(1), Some(1)));
}

/// cases/ingest.md I9: events at 10:00:00 and 10:04:00; one stamped 09:00:00 arriving at
/// 10:05; one stamped 10:05 arriving two days later → sessions follow event time (09:00 is a
/// session of its own, 60 min before the next event; 10:05 joins 10:00–10:04), and the day is
/// recomputed each time, never double-counted.
#[test]
fn i9_late_and_out_of_order_events_follow_event_time_and_recompute_the_day() {
    let s = Server::start(&[]);
    let site = "i9-site";
    s.site(site, &["https://shop.example"]);
    let day = days_ago(3);
    let at = |h: i64, m: i64| day + h * HOUR + m * MIN;
    let pv = |ts: i64, page: &str| {
        event(
            "pageview",
            "s-i9",
            &format!("https://shop.example/{page}"),
            ts,
            json!({}),
        )
    };
    let range = range_around(day);

    s.post(&batch(site, vec![pv(at(10, 0), "a"), pv(at(10, 4), "b")]));
    s.settle(site, 2);
    let j = journeys_of(&s, site, &range);
    assert_eq!(j["sessions"], 1);
    assert_eq!(
        j["transitions"],
        json!([{"from": "shop.example/a", "to": "shop.example/b", "count": 1}])
    );

    s.post(&batch(site, vec![pv(at(9, 0), "early")]));
    s.settle(site, 3);
    let j = journeys_of(&s, site, &range);
    assert_eq!((j["sessions"].as_u64(), j["bounces"].as_u64()), (Some(2), Some(1)));
    assert_eq!(
        j["entries"],
        json!([{"page": "shop.example/a", "sessions": 1, "bounces": 0}, {"page": "shop.example/early", "sessions": 1, "bounces": 1}])
    );

    // "Two days later": the rollups were written long before; the late event re-opens them.
    s.post(&batch(site, vec![pv(at(10, 5), "c")]));
    s.settle(site, 4);
    let j = journeys_of(&s, site, &range);
    assert_eq!(j["sessions"], 2);
    assert_eq!(
        j["paths"],
        json!([{"pages": ["shop.example/a", "shop.example/b", "shop.example/c"], "sessions": 1},
               {"pages": ["shop.example/early"], "sessions": 1}])
    );
    assert_eq!(
        j["exits"],
        json!([{"page": "shop.example/c", "sessions": 1}, {"page": "shop.example/early", "sessions": 1}])
    );
    let f = s.get(&format!(
        "/v1/sites/{site}/funnel?{range}&steps=shop.example/early,shop.example/a&window=2h"
    ));
    assert_eq!(f["steps"][1]["sessions"], 0, "a funnel never crosses sessions");

    // The 4 h cap: the same snippet session going on until 14:00 is cut at 10:00 + 4 h.
    let more: Vec<Value> = (1..=16).map(|i| pv(at(10, 5) + i * 15 * MIN, "d")).collect();
    s.post(&batch(site, more));
    s.settle(site, 20);
    let j = journeys_of(&s, site, &range);
    assert_eq!(j["sessions"], 3);
    let entries: Vec<(&str, u64)> = j["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["page"].as_str().unwrap(), e["sessions"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        entries,
        vec![("shop.example/a", 1), ("shop.example/d", 1), ("shop.example/early", 1)]
    );
}

/// cases/analytics.md A1: two page views of `https://app.example/#/cart` 15 ms apart on a
/// site that routes by fragment → one page view of page `/#/cart`.
#[test]
fn a1_a_hash_router_firing_twice_is_one_page_view() {
    let s = Server::start(&[]);
    let site = "a1-site";
    s.site_with(json!({"name": site, "key": site, "origins": ["https://app.example"],
                       "settings": {"page_keys": {"hash_routing": true}}}));
    let t = now_ms() - MIN;
    let url = "https://app.example/#/cart";
    s.post(&batch(
        site,
        vec![
            event("pageview", "s1", "https://app.example/#/home", t - 5000, json!({})),
            event("pageview", "s1", url, t, json!({})),
            event("pageview", "s1", url, t + 15, json!({})),
        ],
    ));
    s.settle(site, 3);
    let range = range_around(t);
    let h = s.get(&format!(
        "/v1/sites/{site}/heatmap?url={}&{range}",
        enc("app.example/#/cart")
    ));
    assert_eq!(
        (h["page"].as_str(), h["pageviews"].as_u64()),
        (Some("app.example/#/cart"), Some(1))
    );
    let j = journeys_of(&s, site, &range);
    assert_eq!(
        j["transitions"],
        json!([{"from": "app.example/#/home", "to": "app.example/#/cart", "count": 1}])
    );
    assert_eq!(j["bounces"], 0);
}

/// cases/analytics.md A2: 10,000 distinct URLs `https://app.example/merchant/<n>/dashboard?
/// b=2&a=1&utm_source=x` → one page key `app.example/merchant/:id/dashboard?a=1&b=2`; a page
/// filter with `?` or `.` is matched literally, not as a pattern.
#[test]
fn a2_ten_thousand_merchant_urls_are_one_page_and_page_filters_are_literal() {
    let s = Server::start(&[]);
    let site = "a2-site";
    s.site(site, &["https://app.example"]);
    // 100 sessions of 100 page views each, 100 s apart (so page-view dedup does not apply).
    let t = now_ms() - 3 * HOUR;
    let range = range_around(t);
    let all: Vec<Value> = (0..10_000)
        .map(|n| {
            event(
                "pageview",
                &format!("s{}", n % 100),
                &format!(
                    "https://app.example/merchant/{}/dashboard?b=2&a=1&utm_source=x",
                    1000 + n
                ),
                t + n * SEC,
                json!({}),
            )
        })
        .collect();
    for b in all.chunks(1000) {
        let (status, body) = s.post(&batch(site, b.to_vec()));
        assert_eq!((status, body["accepted"].as_u64()), (202, Some(1000)));
    }
    s.settle(site, 10_000);
    let key = "app.example/merchant/:id/dashboard?a=1&b=2";
    let h = s.get(&format!("/v1/sites/{site}/heatmap?url={}&{range}", enc(key)));
    assert_eq!(h["pageviews"], 10_000);
    // The same page asked for by one of its raw URLs.
    let raw = "https://app.example/merchant/42/dashboard?utm_source=y&a=1&b=2";
    let h = s.get(&format!("/v1/sites/{site}/heatmap?url={}&{range}", enc(raw)));
    assert_eq!((h["page"].as_str(), h["pageviews"].as_u64()), (Some(key), Some(10_000)));
    for pattern in [
        "app.example/merchant/:id/dashboard.a=1&b=2",
        "app.example/merchant/:id/dashboard?a=1&b=.",
        "app.example/merchant/.*",
    ] {
        let h = s.get(&format!("/v1/sites/{site}/heatmap?url={}&{range}", enc(pattern)));
        assert_eq!(h["pageviews"], 0, "{pattern} must not match as a pattern");
    }
    let j = journeys_of(&s, site, &format!("{range}&entry={}", enc(key)));
    assert_eq!(
        (j["sessions"].as_u64(), j["transitions"].as_array().unwrap().len()),
        (Some(100), 0)
    );
    assert_eq!(j["entries"], json!([{"page": key, "sessions": 100, "bounces": 0}]));
    let j = journeys_of(&s, site, &format!("{range}&entry={}", enc("app.example/merchant/.*")));
    assert_eq!(j["sessions"], 0);
}

/// analytics.md, "Session": the midnight split is off by default; when on, it uses the
/// site's time zone and 00:00:00.000 belongs to the new day.
#[test]
fn midnight_split_is_optional_and_uses_the_site_time_zone() {
    let s = Server::start(&[]);
    s.site("tz-off", &["https://shop.example"]);
    s.site_with(
        json!({"name": "tz-on", "key": "tz-on", "origins": ["https://shop.example"],
                       "settings": {"rules": {"split_at_midnight": true, "time_zone": "Asia/Kolkata"}}}),
    );
    // Kolkata is UTC+05:30 all year: local midnight is 18:30 UTC.
    let midnight = days_ago(3) + 18 * HOUR + 30 * MIN;
    for site in ["tz-off", "tz-on"] {
        let pv = |ts: i64, p: &str| event("pageview", "s1", &format!("https://shop.example/{p}"), ts, json!({}));
        s.post(&batch(
            site,
            vec![
                pv(midnight - 10 * MIN, "a"),
                pv(midnight - 1, "b"),
                pv(midnight, "c"),
                pv(midnight + 10 * MIN, "d"),
            ],
        ));
        s.settle(site, 4);
    }
    let range = range_around(midnight);
    let off = journeys_of(&s, "tz-off", &range);
    assert_eq!(off["sessions"], 1);
    let on = journeys_of(&s, "tz-on", &range);
    assert_eq!(on["sessions"], 2);
    assert_eq!(
        on["paths"],
        json!([{"pages": ["shop.example/a", "shop.example/b"], "sessions": 1},
               {"pages": ["shop.example/c", "shop.example/d"], "sessions": 1}])
    );
    // A time zone that does not exist is refused, naming the field.
    let r = s
        .http
        .patch(s.url("/v1/sites/tz-on"))
        .bearer_auth(TOKEN)
        .json(&json!({"settings": {"rules": {"time_zone": "Mars/Olympus"}}}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().unwrap().contains("time_zone"));
}

// ---------------------------------------------------------------------------------------
// Historical import.

fn cli_import(s: &Server, file: &std::path::Path, site: &str) -> Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sightline"))
        .args([
            "import",
            file.to_str().unwrap(),
            "--site",
            site,
            "--url",
            &s.url(""),
            "--token",
            TOKEN,
            "--batch",
            "200",
        ])
        .env("SIGHTLINE_LOG", "warn")
        .output()
        .expect("run sightline import");
    let totals: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stdout)));
    // Exit 0 when every row was taken, 2 when some were rejected.
    let code = if totals["rejected"] == 0 { 0 } else { 2 };
    assert_eq!(
        out.status.code(),
        Some(code),
        "{totals}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    totals
}

/// Importing the same file twice changes nothing: the second run's events are all
/// duplicates, and the stored events, journeys and funnels are the same.
#[test]
fn importing_the_same_file_twice_changes_nothing() {
    let s = Server::start(&[]);
    let site = "import-site";
    s.site(site, &["https://shop.example"]);
    let dir = tempfile::tempdir().unwrap();
    let day = days_ago(20);
    let mut csv_text = String::from("visitor,session,event,url,timestamp,viewport_w,viewport_h\n");
    let mut jsonl = String::new();
    let mut rows = 0;
    for v in 0..150 {
        let t = day + v * 7 * MIN;
        let steps = [
            ("", "https://shop.example/", 0),
            ("", "https://shop.example/product/12?utm_source=mail", 40 * SEC),
            ("add_to_cart", "https://shop.example/product/12", 50 * SEC),
            ("", "https://shop.example/cart", 2 * MIN),
        ];
        for (i, (ev, url, dt)) in steps.iter().enumerate() {
            if v % 3 == 0 && i >= 2 {
                break; // a third leave after the product page
            }
            let ts = chrono::DateTime::from_timestamp_millis(t + dt).unwrap().to_rfc3339();
            if v % 2 == 0 {
                csv_text += &format!("v{v},s{v},{ev},{url},{ts},390,844\n");
            } else {
                jsonl += &serde_json::to_string(&json!({"visitor": format!("v{v}"), "session": format!("s{v}"),
                    "event": ev, "url": url, "timestamp": t + dt, "viewport_w": 1280, "viewport_h": 800}))
                .unwrap();
                jsonl += "\n";
            }
            rows += 1;
        }
    }
    // A row the server's validator refuses, reported with its line number.
    csv_text += "v999,s999,,not a url,2025-01-01T00:00:00Z,390,844\n";
    // A line that is not JSON: reported as a rejected row, and the rows after it still go in.
    let at = jsonl.len() / 2 + jsonl[jsonl.len() / 2..].find('\n').unwrap() + 1;
    jsonl.insert_str(at, "{\"visitor\": \"v998\", \"session\": \n");
    let csv_path = dir.path().join("history.csv");
    let jsonl_path = dir.path().join("history.jsonl");
    std::fs::write(&csv_path, &csv_text).unwrap();
    std::fs::write(&jsonl_path, &jsonl).unwrap();

    let a = cli_import(&s, &csv_path, site);
    let b = cli_import(&s, &jsonl_path, site);
    assert_eq!(a["rejected"], 1);
    assert_eq!(b["rejected"], 1);
    assert_eq!(
        a["accepted"].as_u64().unwrap() + b["accepted"].as_u64().unwrap(),
        rows as u64
    );
    s.settle(site, rows as u64);
    let range = range_around(day);
    let funnel_path = format!(
        "/v1/sites/{site}/funnel?{range}&steps={}&window=30m",
        enc("shop.example/,shop.example/product/:id,event:add_to_cart,shop.example/cart")
    );
    let before = (journeys_of(&s, site, &range), s.get(&funnel_path));
    assert_eq!(before.0["sessions"], 150);
    let counts: Vec<u64> = before.1["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["sessions"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, vec![150, 150, 100, 100]);
    assert_eq!(before.1["steps"][2]["dropoff"], 50);
    let mobile = journeys_of(&s, site, &format!("{range}&device=mobile"));
    assert_eq!(mobile["sessions"], 75);

    let a2 = cli_import(&s, &csv_path, site);
    let b2 = cli_import(&s, &jsonl_path, site);
    assert_eq!((a2["accepted"].as_u64(), b2["accepted"].as_u64()), (Some(0), Some(0)));
    assert_eq!(
        a2["duplicates"].as_u64().unwrap() + b2["duplicates"].as_u64().unwrap(),
        rows as u64
    );
    s.settle(site, rows as u64);
    let after = (journeys_of(&s, site, &range), s.get(&funnel_path));
    assert_eq!(before, after);
}

/// The import endpoint takes past timestamps as they are (no skew shift), still clamps the
/// future, needs the token, and validates like `POST /v1/events`.
#[test]
fn the_import_endpoint_keeps_past_timestamps_and_validates_like_ingest() {
    let s = Server::start(&[]);
    let site = "imp-site";
    s.site(site, &["https://shop.example"]);
    let past = days_ago(40) + 12 * HOUR;
    let e = event("pageview", "s1", "https://shop.example/old", past, json!({}));
    let bad = event("pageview", "s1", "ftp://shop.example/x", past, json!({}));
    let (status, body) = s.import_batch(site, &[e.clone(), bad]);
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], 1);
    assert_eq!(body["rejected"][0]["field"], "url");
    let (status, body) = s.import_batch(site, &[e]);
    assert_eq!((status, body["duplicates"].as_u64()), (202, Some(1)));
    let r = s
        .http
        .post(s.url(&format!("/v1/sites/{site}/import")))
        .json(&json!({"events": []}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = s
        .http
        .post(s.url("/v1/sites/nope/import"))
        .bearer_auth(TOKEN)
        .json(&json!({"events": []}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let r = s
        .http
        .post(s.url(&format!("/v1/sites/{site}/import")))
        .bearer_auth(TOKEN)
        .json(&json!({"site": "other", "events": []}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    s.settle(site, 1);
    let j = journeys_of(&s, site, &range_around(past));
    assert_eq!(
        j["entries"],
        json!([{"page": "shop.example/old", "sessions": 1, "bounces": 1}])
    );
}

/// `/journeys?limit=N` cuts the transitions and paths lists at the N largest and says how
/// many there are; the sums are unchanged.
#[test]
fn journeys_limit_cuts_the_lists_and_gives_their_totals() {
    let s = Server::start(&[]);
    s.site("jl", &["https://shop.example"]);
    let t = now_ms() - 3_600_000;
    let mut evs = Vec::new();
    // Three sessions a → b, one a → c, one d (a bounce).
    for (i, path) in [
        vec!["a", "b"],
        vec!["a", "b"],
        vec!["a", "b"],
        vec!["a", "c"],
        vec!["d"],
    ]
    .into_iter()
    .enumerate()
    {
        for (k, p) in path.into_iter().enumerate() {
            evs.push(event(
                "pageview",
                &format!("jl{i}"),
                &format!("https://shop.example/{p}"),
                t + i as i64 * 60_000 + k as i64 * 20_000,
                json!({"pageview_id": format!("pv{i}{k}")}),
            ));
        }
    }
    let n = evs.len() as u64;
    let (st, body) = s.post(&batch("jl", evs));
    assert_eq!(st, 202, "{body}");
    s.settle("jl", n);
    let range = format!("from={}&to={}", date(days_ago(1)), date(days_ago(-1)));
    let all = s.get(&format!("/v1/sites/jl/journeys?{range}"));
    assert_eq!(
        (all["transitions_total"].clone(), all["paths_total"].clone()),
        (json!(2), json!(3))
    );
    let one = s.get(&format!("/v1/sites/jl/journeys?limit=1&{range}"));
    assert_eq!(one["sessions"], 5);
    assert_eq!(one["bounces"], 1);
    assert_eq!(
        one["transitions"],
        json!([{"from": "shop.example/a", "to": "shop.example/b", "count": 3}])
    );
    assert_eq!(
        one["paths"],
        json!([{"pages": ["shop.example/a", "shop.example/b"], "sessions": 3}])
    );
    assert_eq!(
        (one["transitions_total"].clone(), one["paths_total"].clone()),
        (json!(2), json!(3))
    );
    let r = s
        .http
        .get(s.url(&format!("/v1/sites/jl/journeys?limit=0&{range}")))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().unwrap().contains("limit"));
}
