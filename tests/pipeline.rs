//! Pipeline faults on real services (`cases/pipeline.md`): several sink processes in one
//! consumer group, SIGKILL of a sink between its insert and its offset commit, and the
//! warehouse and the broker stopped under a steady load.
//!
//! The consumer-group and outage tests need Kafka + ClickHouse and run in `scripts/test`'s
//! external pass; the failpoint test runs in both modes.

mod common;
use common::*;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const URL: &str = "https://pipe.example/product";

/// One session: a page view and `clicks` clicks on one button, 2 s apart (no rage).
fn session_batch(site: &str, sid: &str, clicks: usize) -> Value {
    let t = now_ms() - 60_000;
    let mut events = vec![event("pageview", sid, URL, t, json!({}))];
    for i in 0..clicks {
        events.push(event(
            "click",
            sid,
            URL,
            t + 100 + i as i64 * 2000,
            json!({"x": 100, "y": 100, "selector": "button.buy", "reaction_ms": 40}),
        ));
    }
    batch(site, events)
}

fn heatmap(s: &Server, site: &str) -> Value {
    s.get(&format!("/v1/sites/{site}/heatmap?url={URL}&{}", today_range()))
}

fn stats(s: &Server, site: &str) -> (u64, u64) {
    let v = s.get(&format!("/v1/sites/{site}/stats"));
    (v["events"].as_u64().unwrap(), v["rows"].as_u64().unwrap())
}

fn metric(text: &str, line_prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(line_prefix))
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0.0, |v| v.parse().unwrap())
}

#[test]
fn a_sink_killed_between_insert_and_commit_replays_without_double_counting() {
    // Accept the events with no sink running, so they wait in the log.
    let front = ["--roles", "ingest,query,rollup"];
    let mut s = Server::start_with(backend_args(), &front, &[]);
    s.site("fp", &["*"]);
    let (sessions, clicks) = (20, 9);
    let mut acked = 0;
    for i in 0..sessions {
        let (st, r) = s.post(&session_batch("fp", &format!("fp{i}"), clicks));
        assert_eq!(st, 202, "{r}");
        acked += r["accepted"].as_u64().unwrap();
    }
    // Start the sink with the failpoint: it inserts a batch, then SIGKILLs itself before
    // committing the batch's offsets.
    s.kill9();
    s.extra = vec!["--roles".into(), "all".into()];
    s.env = vec![("SIGHTLINE_FAILPOINT".into(), "sink_after_insert".into())];
    s.spawn_nowait();
    let status = s.wait_exit(60);
    assert!(!status.success(), "the failpoint should have killed the sink");
    s.env.clear();
    s.extra = front.iter().map(|a| a.to_string()).collect();
    s.spawn();
    let (stored_before, _) = stats(&s, "fp");
    assert!(stored_before > 0, "the killed sink inserted nothing");
    // Restart with the sink: the uncommitted batch is delivered again and must count once.
    s.kill9();
    s.extra = vec!["--roles".into(), "all".into()];
    s.spawn();
    s.settle("fp", acked);
    let h = heatmap(&s, "fp");
    assert_eq!(h["pageviews"], sessions as u64, "{h}");
    assert_eq!(h["clicks"], (sessions * clicks) as u64, "{h}");
    let j = s.get(&format!("/v1/sites/fp/journeys?{}", today_range()));
    assert_eq!(j["sessions"], sessions as u64);
    let (events, rows) = stats(&s, "fp");
    println!(
        "failpoint: acknowledged {acked}, stored before restart {stored_before}, stored {events} distinct ({rows} rows before merge), lost {}",
        acked - events
    );
    assert_eq!(events, acked);
}

#[test]
fn two_sinks_in_one_consumer_group_land_every_event_exactly_once() {
    if !external_services_or_skip("two_sinks_in_one_consumer_group_land_every_event_exactly_once") {
        return;
    }
    let backend = backend_args();
    let front = Server::start_with(backend.clone(), &["--roles", "ingest,query,rollup"], &[]);
    front.site("cg", &["*"]);
    let sinks: Vec<Server> = (0..2)
        .map(|_| Server::start_with(backend.clone(), &["--roles", "sink"], &[]))
        .collect();
    let (sessions, clicks) = (120, 24);
    let mut acked = 0;
    for i in 0..sessions {
        let (st, r) = front.post(&session_batch("cg", &format!("cg{i}"), clicks));
        assert_eq!(st, 202, "{r}");
        acked += r["accepted"].as_u64().unwrap();
    }
    front.settle("cg", acked);
    let (events, rows) = stats(&front, "cg");
    assert_eq!(
        (events, rows),
        (acked, acked),
        "every event exactly once, no replayed rows"
    );
    let per_sink: Vec<f64> = sinks
        .iter()
        .map(|s| metric(&s.metrics(), r#"sightline_sink_rows_total{outcome="inserted"}"#))
        .collect();
    println!("consumer group: acknowledged {acked}, inserted per sink {per_sink:?}");
    assert!(
        per_sink.iter().all(|n| *n > 0.0),
        "both sinks must take a share: {per_sink:?}"
    );
    assert_eq!(per_sink.iter().sum::<f64>() as u64, acked);
    let h = heatmap(&front, "cg");
    assert_eq!(h["clicks"], (sessions * clicks) as u64, "{h}");
}

#[test]
fn warehouse_and_broker_outages_under_steady_load_lose_nothing_acknowledged() {
    if !external_services_or_skip("warehouse_and_broker_outages_under_steady_load_lose_nothing_acknowledged") {
        return;
    }
    let outage = Duration::from_secs(std::env::var("SIGHTLINE_TEST_OUTAGE_SECS").map_or(60, |v| v.parse().unwrap()));
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
    let s = Arc::new(Server::start_with(backend, &["--append-timeout-ms", "4000"], &[]));
    s.site("out", &["*"]);

    // Steady load: one 11-event session every 100 ms; record what was acknowledged.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(0u64));
    let refused = Arc::new(Mutex::new(Vec::<(u16, Option<String>)>::new()));
    let load = {
        let (s, stop, acked, refused) = (s.clone(), stop.clone(), acked.clone(), refused.clone());
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let body = session_batch("out", &format!("out{i}"), 10);
                let r = s
                    .http
                    .post(s.url("/v1/events"))
                    .header("user-agent", HUMAN_UA)
                    .json(&body)
                    .send();
                match r {
                    Ok(r) if r.status().as_u16() == 202 => {
                        let v: Value = r.json().unwrap();
                        *acked.lock().unwrap() += v["accepted"].as_u64().unwrap();
                    }
                    Ok(r) => {
                        let ra = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
                        refused.lock().unwrap().push((r.status().as_u16(), ra));
                    }
                    Err(e) => panic!("ingest must answer during outages: {e}"),
                }
                i += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    std::thread::sleep(Duration::from_secs(3));
    ch.stop();
    let down = Instant::now();
    std::thread::sleep(outage);
    let during_ch = *acked.lock().unwrap();
    ch.start();
    println!(
        "clickhouse was down {:?}; acknowledged so far {during_ch}",
        down.elapsed()
    );
    assert!(
        refused.lock().unwrap().is_empty(),
        "ingest refused while only the warehouse was down: {:?}",
        refused.lock().unwrap()
    );

    std::thread::sleep(Duration::from_secs(3));
    kafka.stop();
    std::thread::sleep(Duration::from_secs(20));
    let refusals_while_broker_down = refused.lock().unwrap().len();
    kafka.start();
    // Recovery: acknowledgements resume by themselves.
    let before = *acked.lock().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while *acked.lock().unwrap() == before {
        assert!(
            Instant::now() < deadline,
            "ingest did not recover after the broker came back"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();

    let refused = refused.lock().unwrap().clone();
    assert!(
        refusals_while_broker_down > 0,
        "the broker was down 20 s and ingest never said 503"
    );
    for (status, retry_after) in &refused {
        assert_eq!(*status, 503, "only 503 while the broker is down: {refused:?}");
        assert!(retry_after.is_some(), "503 without Retry-After");
    }
    let acked = *acked.lock().unwrap();
    // The sink rejoins its group after the broker restart (on Tansu up to ~1 min).
    s.settle_within("out", acked, 240);
    let (events, rows) = stats(&s, "out");
    println!(
        "outages: acknowledged {acked}, stored {events} ({rows} rows before merge), refused with 503 {}, lost {}",
        refused.len(),
        acked - events
    );
    let h = heatmap(&s, "out");
    assert_eq!(
        h["clicks"].as_u64().unwrap() * 11,
        acked * 10,
        "rollups equal a recount: {h}"
    );
}
