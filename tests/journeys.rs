//! Journeys and funnels end to end (issue 5): the real binary, in either mode, against an
//! independent oracle (`tests/oracle/journeys.py`, written from analytics.md) under late,
//! duplicate and out-of-order delivery and a restart. The other journey cases run in process:
//! `tests/endpoints/journeys.rs`.

mod common;

use common::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::io::Write;
use std::time::Instant;

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
        check_ranking(&r, &s.get(&format!("{path}&limit=3")), 3);
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

/// The order of a `/journeys` answer (`crate::model::journeys::Journeys::ranked`, which a
/// store may follow by SQL): every list by its count, highest first, then by its key (a
/// path as its list of pages); transitions and paths cut at `limit`, their totals over all.
/// `full` is the answer without a limit, `cut` the one with `limit`.
fn check_ranking(full: &Value, cut: &Value, limit: usize) {
    let ranked = |list: &Value, count: &str, key: &dyn Fn(&Value) -> Vec<String>| -> Vec<Value> {
        let mut v = list.as_array().unwrap().clone();
        v.sort_by(|a, b| {
            b[count]
                .as_u64()
                .unwrap()
                .cmp(&a[count].as_u64().unwrap())
                .then_with(|| key(a).cmp(&key(b)))
        });
        v
    };
    let strs = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_string())
            .collect()
    };
    let page = |x: &Value| vec![x["page"].as_str().unwrap().to_string()];
    let pair = |x: &Value| {
        vec![
            x["from"].as_str().unwrap().to_string(),
            x["to"].as_str().unwrap().to_string(),
        ]
    };
    let pages = |x: &Value| strs(&x["pages"]);
    for (list, count, key) in [
        ("entries", "sessions", &page as &dyn Fn(&Value) -> Vec<String>),
        ("exits", "sessions", &page),
    ] {
        let want = ranked(&full[list], count, key);
        assert_eq!(full[list].as_array().unwrap(), &want, "{list} out of order");
        assert_eq!(cut[list].as_array().unwrap(), &want, "{list} with limit={limit}");
    }
    for (list, total, count, key) in [
        (
            "transitions",
            "transitions_total",
            "count",
            &pair as &dyn Fn(&Value) -> Vec<String>,
        ),
        ("paths", "paths_total", "sessions", &pages),
    ] {
        let want = ranked(&full[list], count, key);
        assert_eq!(full[list].as_array().unwrap(), &want, "{list} out of order");
        let first: Vec<Value> = want.iter().take(limit).cloned().collect();
        assert_eq!(cut[list].as_array().unwrap(), &first, "the first {limit} {list}");
        assert_eq!(full[total].as_u64(), Some(want.len() as u64), "{total}");
        assert_eq!(cut[total], full[total], "{total} with limit={limit}");
    }
    for key in ["sessions", "bounces"] {
        assert_eq!(cut[key], full[key], "{key} with limit={limit}");
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
            s.import_batch(site, b)
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
            s.import_batch(site, b)
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

// ---------------------------------------------------------------------------------------
// Historical import.
