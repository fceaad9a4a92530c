//! Journeys and funnels end to end (issue 5): the real server, in either mode, against an
//! independent oracle (`tests/oracle/journeys.py`, written from analytics.md), plus the
//! cases of `cases/ingest.md` I2, I9 and `cases/analytics.md` A1, A2, the optional midnight
//! split, and historical import (`sightline import`, idempotent on re-run).
mod common;

use common::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::io::Write;
use std::time::Instant;

const SEC: i64 = 1000;
const MIN: i64 = 60 * SEC;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

/// UTC midnight of the day `days` before today, ms.
fn days_ago(days: i64) -> i64 {
    let now = now_ms();
    now - now.rem_euclid(DAY) - days * DAY
}

fn date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string()
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// POST events to the server-key import endpoint; returns (status, body).
fn import_batch(s: &Server, site: &str, events: &[Value]) -> (u16, Value) {
    let r = s
        .http
        .post(s.url(&format!("/v1/sites/{site}/import")))
        .bearer_auth(TOKEN)
        .json(&json!({ "events": events }))
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

/// POST a batch through the snippet path with `sent_at` = now (no skew shift; past `ts` kept).
fn post_batch(s: &Server, site: &str, events: &[Value]) -> (u16, Value) {
    s.post(&batch(site, events.to_vec()))
}

// ---------------------------------------------------------------------------------------
// The generated data set.

const PAGES: [&str; 8] = [
    "home", "products", "product", "cart", "checkout", "account", "search", "blog",
];

/// A raw URL for a logical page: ids in paths, tracking parameters, shuffled query order,
/// upper-case hosts — all of which the page key must fold (A2).
fn url_for(rng: &mut StdRng, page: &str) -> String {
    let host = if rng.random_bool(0.1) {
        "Shop.Example"
    } else {
        "shop.example"
    };
    let tracking = match rng.random_range(0..4) {
        0 => "utm_source=news&",
        1 => "gclid=abc123&",
        _ => "",
    };
    match page {
        "home" => format!("https://{host}/?{tracking}"),
        "products" => {
            if rng.random_bool(0.5) {
                format!("https://{host}/products?{tracking}sort=price&cat=shoes")
            } else {
                format!("https://{host}/products?cat=shoes&{tracking}sort=price")
            }
        }
        "product" => {
            if rng.random_bool(0.2) {
                format!(
                    "https://{host}/product/{}?{tracking}",
                    uuid::Builder::from_random_bytes(rng.random()).into_uuid()
                )
            } else {
                format!("https://{host}/product/{}", rng.random_range(1..5000))
            }
        }
        "cart" => format!("https://{host}/cart#summary"),
        "checkout" => format!("https://{host}/checkout?{tracking}"),
        "account" => format!("https://{host}/account/{}/orders", rng.random_range(1..900)),
        "search" => format!("https://{host}/search?q=shoe{}&{tracking}", rng.random_range(0..3)),
        _ => format!("https://{host}/blog/post-{}", rng.random_range(0..4)),
    }
}

/// The next logical page: mostly down the shop funnel, sometimes anywhere, sometimes a reload.
fn next_page(rng: &mut StdRng, page: &str) -> &'static str {
    if rng.random_bool(0.08) {
        return PAGES.iter().find(|p| **p == page).unwrap();
    }
    let forward = match page {
        "home" => "products",
        "products" => "product",
        "product" => "cart",
        "cart" => "checkout",
        "search" => "product",
        "blog" => "home",
        _ => "home",
    };
    if rng.random_bool(0.55) {
        forward
    } else {
        PAGES[rng.random_range(0..PAGES.len())]
    }
}

/// A gap between two events of one snippet session: mostly short, often right at the 30 min
/// boundary, sometimes a clear break, sometimes long-but-allowed (which builds up to the 4 h cap).
fn gap(rng: &mut StdRng, long_session: bool) -> i64 {
    if long_session {
        return rng.random_range(8 * MIN..14 * MIN);
    }
    match rng.random_range(0..100) {
        0..=69 => rng.random_range(2 * SEC..5 * MIN),
        70..=79 => [30 * MIN - 1, 30 * MIN, 30 * MIN + 1, 29 * MIN, 31 * MIN][rng.random_range(0..5)],
        80..=84 => rng.random_range(45 * MIN..3 * HOUR),
        _ => rng.random_range(10 * MIN..25 * MIN),
    }
}

/// ≥ `min_events` events of several hundred visitors over the 7 days before today.
fn dataset(seed: u64, min_events: usize) -> Vec<Value> {
    let mut rng = StdRng::seed_from_u64(seed);
    let start = days_ago(8);
    let viewports = [(390, 844), (820, 1180), (1440, 900), (1920, 1080)];
    let mut events = Vec::new();
    let mut visitor = 0;
    while events.len() < min_events || visitor < 300 {
        visitor += 1;
        let (w, h) = viewports[rng.random_range(0..viewports.len())];
        for n in 0..rng.random_range(1..5) {
            let session = format!("s-{visitor}-{n}");
            let long_session = rng.random_bool(0.06);
            let mut t = start + rng.random_range(0..7 * DAY);
            let mut page = if rng.random_bool(0.6) {
                "home"
            } else {
                PAGES[rng.random_range(0..PAGES.len())]
            };
            let pageviews = if long_session {
                rng.random_range(25..40)
            } else {
                rng.random_range(1..25)
            };
            let push =
                |rng: &mut StdRng, events: &mut Vec<Value>, t: i64, typ: &str, url: &str, seq: u32, extra: Value| {
                    let id = uuid::Builder::from_random_bytes(rng.random()).into_uuid();
                    let mut e = json!({
                        "id": id.to_string(), "type": typ, "ts": t, "session_id": session,
                        "visitor_id": format!("v-{visitor}"), "url": url, "viewport": {"w": w, "h": h}, "seq": seq,
                    });
                    for (k, v) in extra.as_object().unwrap() {
                        e[k] = v.clone();
                    }
                    events.push(e);
                };
            for i in 0..pageviews {
                if i > 0 {
                    t += gap(&mut rng, long_session);
                    page = next_page(&mut rng, page);
                }
                let url = url_for(&mut rng, page);
                let mut seq = 0;
                push(&mut rng, &mut events, t, "pageview", &url, seq, json!({}));
                if rng.random_bool(0.05) {
                    // A hash router firing twice (A1): the same page 15 ms later.
                    t += 15;
                    seq += 1;
                    let again = url_for(&mut rng, page);
                    let again = if page_of(&again) == page_of(&url) {
                        again
                    } else {
                        url.clone()
                    };
                    push(&mut rng, &mut events, t, "pageview", &again, seq, json!({}));
                }
                for _ in 0..rng.random_range(0..5) {
                    t += rng.random_range(300..20 * SEC);
                    seq += 1;
                    let x = rng.random_range(0..1400);
                    push(
                        &mut rng,
                        &mut events,
                        t,
                        "click",
                        &url,
                        seq,
                        json!({"x": x, "y": 300, "selector": "button.buy", "reaction_ms": 80}),
                    );
                }
                let custom = match page {
                    "product" if rng.random_bool(0.4) => Some("add_to_cart"),
                    "checkout" if rng.random_bool(0.6) => Some("checkout_started"),
                    "cart" if rng.random_bool(0.1) => Some("purchase"),
                    _ if rng.random_bool(0.04) => Some("signup"),
                    _ => None,
                };
                if let Some(name) = custom {
                    t += rng.random_range(500..60 * SEC);
                    seq += 1;
                    push(&mut rng, &mut events, t, "custom", &url, seq, json!({"name": name}));
                }
                if page == "checkout" && rng.random_bool(0.5) {
                    t += rng.random_range(SEC..20 * MIN);
                    seq += 1;
                    push(
                        &mut rng,
                        &mut events,
                        t,
                        "custom",
                        &url,
                        seq,
                        json!({"name": "purchase"}),
                    );
                }
            }
        }
    }
    events
}

/// A page key for the generator's own check (host + path, enough to tell logical pages apart).
fn page_of(url: &str) -> String {
    let u = url::Url::parse(url).unwrap();
    u.path().split('/').nth(1).unwrap_or("").to_string()
}

fn run_oracle(events: &[Value], queries: &[Value]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let ev_path = dir.path().join("events.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&ev_path).unwrap());
    for e in events {
        serde_json::to_writer(&mut f, e).unwrap();
        f.write_all(b"\n").unwrap();
    }
    f.flush().unwrap();
    drop(f);
    let q_path = dir.path().join("queries.json");
    std::fs::write(&q_path, serde_json::to_vec(queries).unwrap()).unwrap();
    let out = std::process::Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oracle/journeys.py"))
        .arg(&ev_path)
        .arg(&q_path)
        .output()
        .expect("run python3 tests/oracle/journeys.py");
    assert!(
        out.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The API's answer to one oracle query, in the oracle's shape (lists sorted by key).
fn ask(s: &Server, site: &str, q: &Value) -> Value {
    let mut path = format!(
        "/v1/sites/{site}/{}?from={}&to={}",
        q["kind"].as_str().unwrap(),
        q["from"].as_str().unwrap(),
        q["to"].as_str().unwrap()
    );
    if let Some(d) = q["device"].as_str() {
        path += &format!("&device={d}");
    }
    if q["kind"] == "journeys" {
        if let Some(e) = q["entry"].as_str() {
            path += &format!("&entry={}", enc(e));
        }
        let mut r = s.get(&path);
        let sort = |v: &mut Value, key: &dyn Fn(&Value) -> String| {
            v.as_array_mut().unwrap().sort_by_key(|x| key(x));
        };
        sort(&mut r["transitions"], &|x| format!("{}\u{0}{}", x["from"], x["to"]));
        sort(&mut r["entries"], &|x| x["page"].to_string());
        sort(&mut r["exits"], &|x| x["page"].to_string());
        // Paths sort as lists of strings (the oracle sorts tuples).
        r["paths"].as_array_mut().unwrap().sort_by(|a, b| {
            let l = |v: &Value| -> Vec<String> {
                v["pages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p.as_str().unwrap().to_string())
                    .collect()
            };
            l(a).cmp(&l(b))
        });
        json!({
            "sessions": r["sessions"], "bounces": r["bounces"], "transitions": r["transitions"],
            "entries": r["entries"], "exits": r["exits"], "paths": r["paths"],
        })
    } else {
        let steps: Vec<&str> = q["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap())
            .collect();
        path += &format!(
            "&steps={}&window={}ms&count={}",
            enc(&steps.join(",")),
            q["window_ms"],
            q["count"].as_str().unwrap()
        );
        let r = s.get(&path);
        let steps: Vec<Value> = r["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| json!({"step": x["step"], "count": x["count"]}))
            .collect();
        json!({ "steps": steps })
    }
}

fn queries(from: &str, to: &str, mid_from: &str, mid_to: &str) -> Vec<Value> {
    let j = |from: &str, to: &str, device: Value, entry: Value| json!({"kind": "journeys", "from": from, "to": to, "device": device, "entry": entry});
    let f = |steps: &[&str], window_ms: i64, count: &str, device: Value| {
        json!({"kind": "funnel", "from": from, "to": to, "device": device, "steps": steps,
               "window_ms": window_ms, "count": count})
    };
    vec![
        j(from, to, Value::Null, Value::Null),
        j(from, to, json!("mobile"), Value::Null),
        j(from, to, Value::Null, json!("shop.example/")),
        j(
            mid_from,
            mid_to,
            json!("desktop"),
            json!("shop.example/products?cat=shoes&sort=price"),
        ),
        f(
            &[
                "shop.example/",
                "shop.example/products?cat=shoes&sort=price",
                "shop.example/product/:id",
                "shop.example/cart",
            ],
            30 * MIN,
            "sessions",
            Value::Null,
        ),
        f(
            &[
                "shop.example/product/:id",
                "event:add_to_cart",
                "shop.example/checkout",
                "event:purchase",
            ],
            HOUR,
            "sessions",
            Value::Null,
        ),
        f(
            &[
                "shop.example/product/:id",
                "event:add_to_cart",
                "shop.example/checkout",
                "event:purchase",
            ],
            HOUR,
            "visitors",
            Value::Null,
        ),
        f(
            &["event:checkout_started", "event:purchase"],
            10 * MIN,
            "sessions",
            json!("tablet"),
        ),
        f(
            &["shop.example/", "shop.example/", "shop.example/cart"],
            4 * HOUR,
            "visitors",
            Value::Null,
        ),
    ]
}

fn compare(s: &Server, site: &str, events: &[Value], qs: &[Value], stage: &str) {
    let expected = run_oracle(events, qs);
    for (q, want) in qs.iter().zip(&expected) {
        let got = ask(s, site, q);
        assert_eq!(&got, want, "{stage}: the API differs from the oracle for {q}");
    }
    let all = &expected[0];
    eprintln!(
        "{stage}: {} events, {} sessions, {} transitions, {} paths; funnel {}",
        events.len(),
        all["sessions"],
        all["transitions"].as_array().unwrap().len(),
        all["paths"].as_array().unwrap().len(),
        expected[5]["steps"]
    );
}

#[test]
fn journeys_and_funnels_equal_the_oracle_under_late_duplicate_out_of_order_delivery_and_a_restart() {
    let started = Instant::now();
    let mut s = Server::start(&[]);
    let site = "oracle-site";
    s.site(site, &["https://shop.example"]);
    let events = dataset(20251129, 50_000);
    assert!(events.len() >= 50_000);

    // 8 % of the events are held back and arrive after everything else has been rolled up
    // (days late): they split and join sessions and move entries, exits and paths.
    let mut rng = StdRng::seed_from_u64(7);
    let (mut main, mut late): (Vec<Value>, Vec<Value>) = (Vec::new(), Vec::new());
    for e in &events {
        if rng.random_bool(0.08) {
            late.push(e.clone());
        } else {
            main.push(e.clone());
        }
    }
    main.shuffle(&mut rng); // out of order
    late.shuffle(&mut rng);
    let mut batches: Vec<Vec<Value>> = main.chunks(500).map(<[Value]>::to_vec).collect();
    // Duplicates: some batches again, and single events copied into later batches.
    for i in (0..batches.len()).step_by(17) {
        let again = batches[i].clone();
        let at = rng.random_range(i..batches.len());
        batches.insert(at + 1, again);
    }
    for i in 1..batches.len() {
        let prev = batches[i - 1][rng.random_range(0..batches[i - 1].len())].clone();
        batches[i].push(prev);
    }

    let mut sent: Vec<Value> = Vec::new();
    let mut ids: HashSet<String> = HashSet::new();
    let half = batches.len() / 2;
    for (i, b) in batches.iter().enumerate() {
        if i == half {
            // A mid-stream crash: every 202 before it must survive.
            s.kill9();
            s.spawn();
        }
        let (status, body) = if i % 2 == 0 {
            post_batch(&s, site, b)
        } else {
            import_batch(&s, site, b)
        };
        assert_eq!(status, 202, "batch {i}: {body}");
        assert_eq!(body["rejected"], json!([]), "batch {i}");
        sent.extend(b.iter().cloned());
        ids.extend(b.iter().map(|e| e["id"].as_str().unwrap().to_string()));
    }
    s.settle_within(site, ids.len() as u64, 300);

    let from = date(days_ago(9));
    let to = date(days_ago(-1));
    let qs = queries(&from, &to, &date(days_ago(6)), &date(days_ago(3)));
    compare(&s, site, &sent, &qs, "before the late events");

    for (i, b) in late.chunks(500).enumerate() {
        let (status, body) = if i % 2 == 0 {
            import_batch(&s, site, b)
        } else {
            post_batch(&s, site, b)
        };
        assert_eq!(status, 202, "late batch {i}: {body}");
        sent.extend(b.iter().cloned());
        ids.extend(b.iter().map(|e| e["id"].as_str().unwrap().to_string()));
    }
    // One late batch twice.
    let (status, body) = post_batch(&s, site, &late[..late.len().min(500)]);
    assert_eq!((status, body["accepted"].as_u64()), (202, Some(0)));
    s.settle_within(site, ids.len() as u64, 300);
    assert_eq!(ids.len(), events.len());
    compare(&s, site, &sent, &qs, "after the late events");
    eprintln!("oracle test took {:?}", started.elapsed());
}

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
            std::thread::sleep(std::time::Duration::from_secs(5));
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
    let (status, body) = import_batch(&s, site, &[e.clone(), bad]);
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], 1);
    assert_eq!(body["rejected"][0]["field"], "url");
    let (status, body) = import_batch(&s, site, &[e]);
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
