//! Chaos (issue 10): the roles split across processes (ingest, sink, rollup, query) on a real
//! Kafka-protocol broker and a real ClickHouse, under a steady load from a client that retries
//! like the snippet (same batch, same ids, until `202`). Two rollup processes share the
//! session buckets through their Kafka group's leases. Each of ingest, sink and the first
//! rollup process is SIGKILLed twice at seeded random moments and restarted; the second
//! rollup process is SIGKILLed once, mid-pass (at a seeded moment, the first time after it
//! that its last batch took dirty sessions), and restarted; ClickHouse is stopped 30 s, then
//! the broker 30 s. Afterwards every event the client saw acknowledged is in the warehouse
//! exactly once and the rollups equal a recount from the raw events (a rollup write by a
//! process that lost its buckets while their new owner wrote would count a session twice).
//! Prints acknowledged / stored / duplicate / lost. External pass only (it needs the services
//! it stops).

mod common;
use common::*;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const URL: &str = "https://chaos.example/product";
const CLICKS: usize = 10;

/// One session: a page view and `CLICKS` clicks 2 s apart on one button (no rage, no dead).
fn session_batch(sid: &str) -> Value {
    let t = now_ms() - 60_000;
    let mut events = vec![event("pageview", sid, URL, t, json!({}))];
    for i in 0..CLICKS {
        events.push(event(
            "click",
            sid,
            URL,
            t + 100 + i as i64 * 2000,
            json!({"x": 100, "y": 100, "selector": "button.buy", "reaction_ms": 40}),
        ));
    }
    batch("chaos", events)
}

#[derive(Clone, Copy, Debug)]
enum Act {
    Kill(usize),
    /// SIGKILL a rollup process while its last batch took dirty sessions (waits 20 s at most).
    KillMidPass(usize),
    StopClickHouse,
    StartClickHouse,
    StopBroker,
    StartBroker,
}

#[test]
fn killing_every_role_and_stopping_both_services_under_load_loses_and_doubles_nothing() {
    if !external_services_or_skip("killing_every_role_and_stopping_both_services_under_load_loses_and_doubles_nothing")
    {
        return;
    }
    let seed: u64 = std::env::var("SIGHTLINE_CHAOS_SEED").map_or_else(|_| rand::random(), |v| v.parse().unwrap());
    println!("chaos seed {seed} (SIGHTLINE_CHAOS_SEED={seed} repeats this schedule)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let tmp = tempfile::tempdir().unwrap();
    let mut ch = Service {
        script: "start-clickhouse",
        dir: tmp.path().join("ch"),
        port: free_port(),
        pid: None,
    };
    let mut kafka = Service {
        script: "start-tansu",
        dir: tmp.path().join("tansu"),
        port: free_port(),
        pid: None,
    };
    ch.start();
    kafka.start();
    let backend = vec![
        "--kafka-brokers".to_string(),
        format!("127.0.0.1:{}", kafka.port),
        "--clickhouse-url".to_string(),
        format!("http://127.0.0.1:{}", ch.port),
        // Tansu 0.6 fails when an idempotent producer's delivery times out (a broker outage);
        // Apache Kafka does not need this.
        "--kafka-idempotence".to_string(),
        "false".to_string(),
    ];
    // One process per role, two for the rollup; the query process answers the test's reads.
    let roles = ["ingest", "sink", "rollup", "rollup"];
    let mut procs: Vec<Server> = roles
        .iter()
        .map(|r| Server::start_with(backend.clone(), &["--roles", r, "--append-timeout-ms", "4000"], &[]))
        .collect();
    let query = Server::start_with(backend.clone(), &["--roles", "query"], &[]);
    query.site("chaos", &["*"]);
    let ingest_url = procs[0].url("/v1/events");
    // The ingest process reads sites every 5 s: wait until it serves the site's config.
    let deadline = Instant::now() + Duration::from_secs(30);
    while procs[0]
        .http
        .get(procs[0].url("/v1/sites/chaos/config"))
        .send()
        .map_or(true, |r| r.status().as_u16() != 200)
    {
        assert!(Instant::now() < deadline, "the ingest process did not pick the site up");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The client: one 11-event session every 100 ms, each batch retried (same ids) until 202.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(0u64));
    let retries = Arc::new(Mutex::new((0u64, 0u64))); // (refusals with Retry-After, connection errors)
    let client = {
        let (stop, acked, retries, url) = (stop.clone(), acked.clone(), retries.clone(), ingest_url.clone());
        std::thread::spawn(move || {
            let http = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .unwrap();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let body = serde_json::to_vec(&session_batch(&format!("c{i}"))).unwrap();
                loop {
                    match http
                        .post(&url)
                        .header("content-type", "text/plain")
                        .header("user-agent", HUMAN_UA)
                        .body(body.clone())
                        .send()
                    {
                        Ok(r) if r.status().as_u16() == 202 => {
                            let v: Value = r.json().unwrap();
                            // A retry of a batch that got through before counts as duplicates.
                            *acked.lock().unwrap() +=
                                v["accepted"].as_u64().unwrap() + v["duplicates"].as_u64().unwrap();
                            break;
                        }
                        Ok(r) => {
                            let code = r.status().as_u16();
                            assert!(
                                (code == 503 || code == 429) && r.headers().contains_key("retry-after"),
                                "a refusal must be 429/503 with Retry-After, got {code}"
                            );
                            retries.lock().unwrap().0 += 1;
                        }
                        Err(_) => retries.lock().unwrap().1 += 1,
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
                i += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };

    // The schedule: each role killed twice at random moments, ClickHouse down 30 s, then the
    // broker down 30 s, kills also landing inside the outages.
    let mut plan: Vec<(u64, Act)> = Vec::new();
    for r in 0..3 {
        plan.push((rng.random_range(2_000..20_000), Act::Kill(r)));
        plan.push((rng.random_range(25_000..85_000), Act::Kill(r)));
    }
    let ch_down = rng.random_range(10_000..15_000);
    // Before the outages, while the rollup processes are busy with the load.
    plan.push((rng.random_range(4_000..ch_down - 3_000), Act::KillMidPass(3)));
    plan.push((ch_down, Act::StopClickHouse));
    plan.push((ch_down + 30_000, Act::StartClickHouse));
    let broker_down = ch_down + 30_000 + rng.random_range(8_000..12_000);
    plan.push((broker_down, Act::StopBroker));
    plan.push((broker_down + 30_000, Act::StartBroker));
    plan.sort_by_key(|p| p.0);
    let started = Instant::now();
    let mut restarts = 0;
    // A process started while a backend it needs is down exits; a supervisor starts it again.
    let mut supervise = |procs: &mut Vec<Server>, until: Duration| loop {
        for p in procs.iter_mut() {
            restarts += p.restart_if_exited() as u32;
        }
        let left = until.saturating_sub(started.elapsed());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(500)));
    };
    for (at, act) in &plan {
        supervise(&mut procs, Duration::from_millis(*at));
        println!("chaos t={:.1}s {act:?}", started.elapsed().as_secs_f64());
        match act {
            Act::Kill(r) => {
                procs[*r].kill9();
                std::thread::sleep(Duration::from_millis(rng.random_range(200..2000)));
                procs[*r].spawn_nowait();
            }
            Act::KillMidPass(r) => {
                let busy = wait_mid_pass(&procs[*r], Duration::from_secs(20));
                println!(
                    "chaos: rollup process {r} killed {}",
                    if busy { "mid-pass" } else { "(idle for 20 s)" }
                );
                procs[*r].kill9();
                std::thread::sleep(Duration::from_millis(rng.random_range(200..2000)));
                procs[*r].spawn_nowait();
            }
            Act::StopClickHouse => ch.stop(),
            Act::StartClickHouse => ch.start(),
            Act::StopBroker => kafka.stop(),
            Act::StartBroker => kafka.start(),
        }
    }
    // Load a little longer after everything is back, then stop.
    let end = started.elapsed() + Duration::from_secs(5);
    supervise(&mut procs, end);
    stop.store(true, Ordering::Relaxed);
    client.join().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    for p in procs.iter_mut() {
        while p.restart_if_exited()
            || !p
                .http
                .get(p.url("/healthz"))
                .send()
                .is_ok_and(|r| r.status().is_success())
        {
            assert!(Instant::now() < deadline, "a role did not come back");
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    println!("chaos: the supervisor restarted {restarts} processes that exited on start-up");

    let acked = *acked.lock().unwrap();
    let (refusals, conn_errors) = *retries.lock().unwrap();
    // Every acknowledged event reaches the warehouse once.
    query.settle_within("chaos", acked, 300);
    let v = query.get("/v1/sites/chaos/stats");
    let (stored, rows) = (v["events"].as_u64().unwrap(), v["rows"].as_u64().unwrap());
    println!(
        "chaos: acknowledged {acked}, stored {stored}, duplicate rows awaiting merge {}, lost {}; \
         client retries: {refusals} refusals with Retry-After, {conn_errors} connection errors",
        rows - stored,
        acked.saturating_sub(stored)
    );
    assert_eq!(stored, acked, "stored exactly what was acknowledged");
    // The rollups equal a recount from the raw events: every session is 1 page view and 10
    // clicks on one button, so clicks = 10/11 of the events and sessions = 1/11. The query
    // process owns no buckets (its `rollup/run` recomputes nothing): wait for the rollup
    // processes to get there.
    let deadline = Instant::now() + Duration::from_secs(240);
    let (h, j) = loop {
        let h = query.get(&format!("/v1/sites/chaos/heatmap?url={URL}&{}", today_range()));
        let j = query.get(&format!("/v1/sites/chaos/journeys?{}", today_range()));
        let clicks = h["clicks"].as_u64().unwrap();
        let (pageviews, sessions) = (h["pageviews"].as_u64().unwrap(), j["sessions"].as_u64().unwrap());
        if (clicks * 11, pageviews * 11, sessions * 11) == (acked * CLICKS as u64, acked, acked)
            || Instant::now() > deadline
        {
            break (h, j);
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let rollups: Vec<String> = procs[2..]
        .iter()
        .map(|p| {
            let m = p.metrics();
            ["sightline_rollup_owned_buckets ", "sightline_rollup_sessions_total "]
                .iter()
                .map(|k| m.lines().find(|l| l.starts_with(k)).unwrap_or(k).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect();
    println!("chaos: rollup processes after the run: {rollups:?}");
    assert_eq!(h["clicks"].as_u64().unwrap() * 11, acked * CLICKS as u64, "{h}");
    assert_eq!(h["pageviews"].as_u64().unwrap() * 11, acked, "{h}");
    assert_eq!(j["sessions"].as_u64().unwrap() * 11, acked, "{j}");
    let el = &h["elements"][0];
    assert_eq!(
        (el["rage_clicks"].as_u64(), el["dead_clicks"].as_u64()),
        (Some(0), Some(0)),
        "{h}"
    );
}

/// Wait (at most `within`) until `p`'s last rollup batch took dirty sessions
/// (`sightline_rollup_dirty_sessions` > 0: it is between taking them and writing them);
/// returns whether it saw that.
fn wait_mid_pass(p: &Server, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let busy = p
            .http
            .get(p.url("/metrics"))
            .send()
            .ok()
            .and_then(|r| r.text().ok())
            .is_some_and(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("sightline_rollup_dirty_sessions "))
                    .is_some_and(|v| v.trim() != "0")
            });
        if busy {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}
