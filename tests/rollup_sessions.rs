//! The session is the rollup's unit of work (issue "Analytics that stay fresh at any
//! traffic"), end to end in either mode: after the rollups ran, a late batch touching 8 % of
//! the sessions makes the job recompute exactly those sessions, and the numbers then equal a
//! recount of everything sent. With Kafka, rollup processes lease their session buckets from
//! a consumer group, and a process started later takes a share.
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
    let yesterday = today().pred_opt().unwrap();
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

fn metric(s: &Server, name: &str) -> u64 {
    s.metrics()
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
        .map(|v| v.trim().parse::<f64>().unwrap() as u64)
        .unwrap_or(0)
}

/// `n` sessions from `s{first}` on, each a page view of `/` and, for even ones, of
/// `/pricing`.
fn wave(first: usize, n: usize, t0: i64) -> Vec<Value> {
    let mut events = Vec::new();
    for i in first..first + n {
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
    events
}

/// Wait (with a deadline) until `cond` holds, polling every 200 ms; `what` names it.
fn wait_until(secs: u64, what: &str, mut cond: impl FnMut() -> Result<(), String>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        match cond() {
            Ok(()) => return,
            Err(e) => assert!(std::time::Instant::now() < deadline, "{what}: {e}"),
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Until the journeys and the funnel of `site` equal a recount of `sessions` sessions, half of
/// which (the even ones) also viewed `/pricing`.
fn wait_recount(front: &Server, site: &str, sessions: u64, range: &str) {
    wait_until(90, "the rollups did not converge to the recount", || {
        let j = front.get(&format!("/v1/sites/{site}/journeys?{range}"));
        let f = front.get(&format!(
            "/v1/sites/{site}/funnel?steps=shop.example/,shop.example/pricing&{range}"
        ));
        let got = (
            j["sessions"].as_u64(),
            j["bounces"].as_u64(),
            f["steps"][0]["sessions"].as_u64(),
            f["steps"][1]["sessions"].as_u64(),
        );
        let want = (Some(sessions), Some(sessions / 2), Some(sessions), Some(sessions / 2));
        if got == want {
            Ok(())
        } else {
            Err(format!(
                "(sessions, bounces, funnel step 1, step 2) = {got:?}, want {want:?}"
            ))
        }
    });
}

/// Scale-out with leases (external pass): rollup processes lease their session buckets from
/// the Kafka consumer group `<prefix>.rollup`. Two rollup processes (and a front with ingest,
/// sink and query) over one Kafka + ClickHouse give the recounted numbers and both recompute
/// sessions; a third started later takes a share of the buckets and of the next wave's
/// sessions, and the numbers still equal the recount.
#[test]
fn rollup_processes_lease_buckets_and_a_process_started_later_takes_a_share() {
    if !external_services_or_skip("rollup_processes_lease_buckets_and_a_process_started_later_takes_a_share") {
        return;
    }
    let backend = backend_args();
    let front = Server::start_with(backend.clone(), &["--roles", "ingest,sink,query"], &[]);
    let rollup = || Server::start_with(backend.clone(), &["--roles", "rollup"], &[]);
    let (a, b) = (rollup(), rollup());
    let owned = |s: &Server| metric(s, "sightline_rollup_owned_buckets");
    // The group splits the 1024 buckets between the two.
    wait_until(60, "two rollup processes did not split the buckets", || {
        let (x, y) = (owned(&a), owned(&b));
        if x > 0 && y > 0 && x + y == 1024 {
            Ok(())
        } else {
            Err(format!("owned buckets {x} + {y}"))
        }
    });
    assert_eq!(owned(&front), 0, "a process without the rollup role owns nothing");
    // A static shard does not mix with the leases: refused at start-up.
    let mut refused = Server::new(backend.clone(), &["--roles", "rollup", "--rollup-shard", "0/2"], &[]);
    refused.spawn_nowait();
    assert!(
        !refused.wait_exit(60).success(),
        "--rollup-shard 0/2 with Kafka must be refused"
    );

    let site = "sl_leases";
    front.site(site, &["https://shop.example"]);
    let t0 = now_ms() - 2 * 3_600_000;
    let yesterday = today().pred_opt().unwrap();
    let range = format!("from={yesterday}&to={}", yesterday + chrono::Days::new(2));
    let first = wave(0, SESSIONS, t0);
    for chunk in first.chunks(50) {
        assert_eq!(front.post(&batch(site, chunk.to_vec())).0, 202);
    }
    wait_stored(&front, site, first.len() as u64);
    wait_recount(&front, site, SESSIONS as u64, &range);
    // The numbers show once the session rows are written; a batch counts its sessions when
    // its last table is: wait for the counters too.
    let (mut ra, mut rb) = (0, 0);
    wait_until(30, "both rollup processes recompute sessions", || {
        (ra, rb) = (recomputed_total(&a), recomputed_total(&b));
        if ra > 0 && rb > 0 && ra + rb >= SESSIONS as u64 {
            Ok(())
        } else {
            Err(format!("{ra} + {rb}"))
        }
    });
    assert_eq!(recomputed_total(&front), 0, "the front recomputes nothing");

    // A third process joins: the group rebalances and leases it a share.
    let c = rollup();
    wait_until(60, "the third rollup process got no share", || {
        let (x, y, z) = (owned(&a), owned(&b), owned(&c));
        if x > 0 && y > 0 && z > 0 && x + y + z == 1024 {
            Ok(())
        } else {
            Err(format!("owned buckets {x} + {y} + {z}"))
        }
    });
    let second = wave(SESSIONS, SESSIONS, t0);
    for chunk in second.chunks(50) {
        assert_eq!(front.post(&batch(site, chunk.to_vec())).0, 202);
    }
    wait_stored(&front, site, (first.len() + second.len()) as u64);
    wait_recount(&front, site, 2 * SESSIONS as u64, &range);
    let (mut ra2, mut rb2, mut rc) = (0, 0, 0);
    wait_until(
        30,
        "the third rollup process recomputes sessions of the second wave",
        || {
            (ra2, rb2, rc) = (recomputed_total(&a), recomputed_total(&b), recomputed_total(&c));
            if rc > 0 && ra2 + rb2 + rc >= 2 * SESSIONS as u64 {
                Ok(())
            } else {
                Err(format!("sessions recomputed {ra2} + {rb2} + {rc}"))
            }
        },
    );
    println!("sessions recomputed: first wave {ra} + {rb}; after the third joined {ra2} + {rb2} + {rc}");
}
