//! The session is the rollup's unit of work (issue "Analytics that stay fresh at any
//! traffic"), end to end in either mode: after the rollups ran, a late batch touching 8 % of
//! the sessions makes the job recompute exactly those sessions, and the numbers then equal a
//! recount of everything sent.
mod common;

use common::*;
use serde_json::{json, Value};

const SESSIONS: usize = 100;
const LATE: usize = 8;

/// Run the rollup job until a pass finds nothing; returns the sessions recomputed.
fn run_until_idle(s: &Server) -> u64 {
    let mut total = 0;
    loop {
        let r: Value = s
            .http
            .post(s.url("/v1/admin/rollup/run"))
            .bearer_auth(TOKEN)
            .send()
            .unwrap()
            .json()
            .unwrap();
        let n = r["sessions"].as_u64().unwrap();
        if n == 0 {
            return total;
        }
        total += n;
    }
}

fn wait_stored(s: &Server, site: &str, n: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let stored = s.get(&format!("/v1/sites/{site}/stats"))["events"].as_u64().unwrap();
        if stored == n {
            return;
        }
        assert!(stored < n, "more events stored than sent");
        assert!(
            std::time::Instant::now() < deadline,
            "only {stored} of {n} events stored"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn recomputed_total(s: &Server) -> u64 {
    s.metrics()
        .lines()
        .find_map(|l| l.strip_prefix("sightline_rollup_sessions_total "))
        .map(|v| v.trim().parse::<f64>().unwrap() as u64)
        .unwrap_or(0)
}

#[test]
fn a_late_batch_recomputes_only_the_sessions_it_touches() {
    // The timer would race the explicit passes: once an hour only.
    let s = Server::start_with(backend_args(), &[], &[("SIGHTLINE_ROLLUP_EVERY_MS", "3600000")]);
    let site = "sl_late_batch";
    s.site(site, &["https://shop.example"]);
    // Two hours ago, so every event stays on one UTC day unless the test runs just after
    // midnight; the query range covers yesterday and today either way.
    let t0 = now_ms() - 2 * 3_600_000;
    let mut events = Vec::new();
    for i in 0..SESSIONS {
        let sid = format!("s{i:03}");
        let ts = t0 + i as i64 * 1000;
        events.push(event("pageview", &sid, "https://shop.example/", ts, json!({})));
        events.push(event(
            "click",
            &sid,
            "https://shop.example/",
            ts + 100,
            json!({"x": 10, "y": 20, "selector": "#buy"}),
        ));
    }
    for chunk in events.chunks(50) {
        assert_eq!(s.post(&batch(site, chunk.to_vec())).0, 202);
    }
    s.settle(site, (SESSIONS * 2) as u64);
    let before = recomputed_total(&s);

    // 8 % of the sessions get one more page view, ten minutes later (after every click).
    let late: Vec<Value> = (0..LATE)
        .map(|i| {
            let sid = format!("s{:03}", i * (SESSIONS / LATE));
            event(
                "pageview",
                &sid,
                "https://shop.example/pricing",
                t0 + 600_000 + i as i64,
                json!({}),
            )
        })
        .collect();
    assert_eq!(s.post(&batch(site, late)).0, 202);
    wait_stored(&s, site, (SESSIONS * 2 + LATE) as u64);
    assert_eq!(
        run_until_idle(&s),
        LATE as u64,
        "sessions recomputed for the late batch"
    );
    assert_eq!(recomputed_total(&s) - before, LATE as u64);

    // The numbers equal a recount of everything sent.
    let yesterday = chrono::Utc::now().date_naive().pred_opt().unwrap();
    let range = format!("from={yesterday}&to={}", yesterday + chrono::Days::new(2));
    let j = s.get(&format!("/v1/sites/{site}/journeys?{range}"));
    assert_eq!(j["sessions"], SESSIONS);
    assert_eq!(j["bounces"], SESSIONS - LATE);
    let h = s.get(&format!("/v1/sites/{site}/heatmap?url=https://shop.example/&{range}"));
    assert_eq!(
        (h["pageviews"].as_u64(), h["clicks"].as_u64()),
        (Some(SESSIONS as u64), Some(SESSIONS as u64))
    );
    let p = s.get(&format!(
        "/v1/sites/{site}/heatmap?url=https://shop.example/pricing&{range}"
    ));
    assert_eq!(p["pageviews"], LATE);
    let f = s.get(&format!(
        "/v1/sites/{site}/funnel?steps=shop.example/,shop.example/pricing&{range}"
    ));
    assert_eq!(f["steps"][1]["sessions"], LATE);
}

/// Scale-out: two rollup processes, each with half of the session buckets
/// (`--rollup-shard 0/2` and `1/2`) over one Kafka + ClickHouse, give the numbers one process
/// gives (a recount of what was sent), and both do part of the work.
#[test]
fn two_rollup_shards_share_one_site_and_give_the_numbers_of_one() {
    if !external_services_or_skip("two_rollup_shards_share_one_site_and_give_the_numbers_of_one") {
        return;
    }
    let backend = backend_args();
    let front = Server::start_with(
        backend.clone(),
        &["--roles", "ingest,sink,query,rollup", "--rollup-shard", "0/2"],
        &[],
    );
    let other = Server::start_with(backend, &["--roles", "rollup,query", "--rollup-shard", "1/2"], &[]);
    let site = "sl_two_shards";
    front.site(site, &["https://shop.example"]);
    let t0 = now_ms() - 2 * 3_600_000;
    let mut events = Vec::new();
    for i in 0..SESSIONS {
        let sid = format!("s{i:03}");
        let ts = t0 + i as i64 * 1000;
        events.push(event("pageview", &sid, "https://shop.example/", ts, json!({})));
        if i % 2 == 0 {
            events.push(event(
                "pageview",
                &sid,
                "https://shop.example/pricing",
                ts + 500,
                json!({}),
            ));
        }
    }
    for chunk in events.chunks(50) {
        assert_eq!(front.post(&batch(site, chunk.to_vec())).0, 202);
    }
    wait_stored(&front, site, events.len() as u64);
    let yesterday = chrono::Utc::now().date_naive().pred_opt().unwrap();
    let range = format!("from={yesterday}&to={}", yesterday + chrono::Days::new(2));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let j = front.get(&format!("/v1/sites/{site}/journeys?{range}"));
        if j["sessions"] == SESSIONS && j["bounces"] == SESSIONS / 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "rollups by two shards did not converge: {j}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let f = front.get(&format!(
        "/v1/sites/{site}/funnel?steps=shop.example/,shop.example/pricing&{range}"
    ));
    assert_eq!(
        (f["steps"][0]["sessions"].as_u64(), f["steps"][1]["sessions"].as_u64()),
        (Some(100), Some(50))
    );
    let (a, b) = (recomputed_total(&front), recomputed_total(&other));
    assert!(
        a > 0 && b > 0 && a + b >= SESSIONS as u64,
        "both shards recompute sessions: {a} + {b}"
    );
}
