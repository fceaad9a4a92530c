//! The Kafka log against a real Kafka-protocol broker (CI runs Tansu). Set
//! `SIGHTLINE_TEST_KAFKA_BROKERS=127.0.0.1:9092` to run; without it every test says it was
//! skipped and passes. Each test uses topics of its own (`sltest-<uuid>.*`), so reruns on
//! the same broker never see old data.

mod common;

use sightline::event::{DeviceClass, Event, Payload};
use sightline::log::kafka::{KafkaConfig, KafkaConsumer, KafkaLog};
use sightline::log::{AppendOutcome, Consumer, DeadLetter, Log, LogError, LogRecord, Position};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The broker list, or `None` after saying the test is skipped.
fn brokers(test: &str) -> Option<String> {
    match std::env::var("SIGHTLINE_TEST_KAFKA_BROKERS") {
        Ok(b) if !b.trim().is_empty() => Some(b),
        _ => {
            assert_ne!(
                std::env::var("SIGHTLINE_TEST_MODE").as_deref(),
                Ok("external"),
                "{test}: the external pass needs SIGHTLINE_TEST_KAFKA_BROKERS"
            );
            eprintln!("{test}: skipped: no Kafka broker (set SIGHTLINE_TEST_KAFKA_BROKERS=host:port)");
            None
        }
    }
}

struct Fixture {
    log: Arc<KafkaLog>,
    _dir: tempfile::TempDir,
}

async fn connect(brokers: String, tweak: impl FnOnce(&mut KafkaConfig)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = KafkaConfig {
        brokers,
        topic_prefix: format!("sltest-{}", uuid::Uuid::new_v4().simple()),
        data_dir: dir.path().to_path_buf(),
        ..KafkaConfig::default()
    };
    tweak(&mut cfg);
    let log = KafkaLog::connect(cfg).await.expect("connect to the broker");
    Fixture { log, _dir: dir }
}

fn event(id: &str, session: &str, ts: i64, payload: Payload) -> Event {
    Event {
        client: None,
        source: None,
        id: id.into(),
        site: "kt".into(),
        ts,
        client_ts: ts,
        received_at: ts,
        skew_rule: "none".into(),
        session_id: session.into(),
        visitor_id: "v1".into(),
        url: "https://kt.example/".into(),
        page_key: "/".into(),
        viewport: None,
        seq: None,
        pageview_id: None,
        device: DeviceClass::Desktop,
        bot_reason: None,
        request_id: "req".into(),
        payload,
    }
}

fn custom(id: &str, session: &str, ts: i64) -> Event {
    event(
        id,
        session,
        ts,
        Payload::Custom {
            name: "signup".into(),
            props_json: "{}".into(),
        },
    )
}

fn pageview(id: &str, session: &str, ts: i64) -> Event {
    event(
        id,
        session,
        ts,
        Payload::Pageview {
            referrer: None,
            title: None,
            screen: None,
            layout: None,
        },
    )
}

/// A consumer group of its own: groups are broker-wide, not per topic.
fn group() -> String {
    format!("sink-{}", uuid::Uuid::new_v4().simple())
}

fn id(n: usize) -> String {
    format!("0190a000-0000-7000-8000-{n:012}")
}

/// Poll both members until each has some partitions and together all `n`, disjoint.
async fn wait_for_split(a: &mut KafkaConsumer, b: &mut KafkaConsumer, n: usize) {
    let started = Instant::now();
    loop {
        let (ra, rb) = tokio::join!(a.poll(10, 200), b.poll(10, 200));
        assert!(
            ra.unwrap().is_empty() && rb.unwrap().is_empty(),
            "topic should be empty"
        );
        let (pa, pb) = (a.assigned_partitions(), b.assigned_partitions());
        let all: HashSet<i32> = pa.iter().chain(&pb).copied().collect();
        if !pa.is_empty() && !pb.is_empty() && all.len() == n && pa.len() + pb.len() == n {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "no rebalance into two members: {pa:?} / {pb:?}"
        );
    }
}

/// Poll one member until it has a non-empty assignment.
async fn wait_for_assignment(c: &mut KafkaConsumer) {
    let started = Instant::now();
    while c.assigned_partitions().is_empty() {
        assert!(c.poll(10, 200).await.unwrap().is_empty(), "topic should be empty");
        assert!(started.elapsed() < Duration::from_secs(90), "no assignment");
    }
}

/// Poll `c` until `n` records arrived, then 2 s more to catch extras.
async fn drain(c: &mut dyn Consumer, n: usize) -> Vec<LogRecord> {
    let mut out = Vec::new();
    let started = Instant::now();
    while out.len() < n && started.elapsed() < Duration::from_secs(60) {
        out.extend(c.poll(1000, 500).await.unwrap());
    }
    let extra_until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < extra_until {
        out.extend(c.poll(1000, 200).await.unwrap());
    }
    out
}

fn ids_of(records: &[LogRecord]) -> Vec<String> {
    records.iter().map(|r| Event::decode(&r.payload).unwrap().id).collect()
}

/// Overlapping copies of one batch (a client retrying before its first request was
/// answered) on a healthy broker: one is appended, the others wait for it and are answered
/// as duplicates, none is refused; each event is produced once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_copies_of_a_batch_are_duplicates_not_refusals() {
    let Some(b) = brokers("overlap") else { return };
    let f = std::sync::Arc::new(connect(b, |_| {}).await);
    let batch: Vec<Event> = (0..50).map(|i| custom(&id(i), "s1", 1000 + i as i64)).collect();
    let copies: Vec<_> = (0..8)
        .map(|_| {
            let (f, batch) = (f.clone(), batch.clone());
            tokio::spawn(async move { f.log.append(&batch).await })
        })
        .collect();
    let mut appended = 0;
    for c in copies {
        let out = c.await.unwrap().expect("no copy is refused");
        let n = out.iter().filter(|o| **o == AppendOutcome::Appended).count();
        assert!(n == 0 || n == 50, "{out:?}");
        assert!(out
            .iter()
            .all(|o| matches!(o, AppendOutcome::Appended | AppendOutcome::Duplicate)));
        appended += n;
    }
    assert_eq!(appended, 50, "each event appended by exactly one copy");
    let mut c = f.log.consumer(&group()).await.unwrap();
    let got = ids_of(&drain(c.as_mut(), 50).await);
    assert_eq!(got.len(), 50, "each event produced once: {got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_ids_are_duplicates_another_type_is_a_conflict_and_neither_is_produced() {
    let Some(b) = brokers("duplicates") else { return };
    let f = connect(b, |_| {}).await;
    let batch: Vec<Event> = (0..10).map(|i| custom(&id(i), "s1", 1000 + i as i64)).collect();
    let out = f.log.append(&batch).await.unwrap();
    assert_eq!(out, vec![AppendOutcome::Appended; 10]);

    // The same batch again, 2 s later (I8), plus a repeat inside the batch.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut again = batch.clone();
    again.push(custom(&id(10), "s1", 2000));
    again.push(custom(&id(10), "s1", 2000));
    let out = f.log.append(&again).await.unwrap();
    let mut want = vec![AppendOutcome::Duplicate; 10];
    want.push(AppendOutcome::Appended);
    want.push(AppendOutcome::Duplicate);
    assert_eq!(out, want);

    // The same id for an event of another type: flagged with the earlier type.
    let out = f.log.append(&[pageview(&id(3), "s1", 3000)]).await.unwrap();
    assert_eq!(out, vec![AppendOutcome::Conflict("custom".into())]);

    let mut c = f.log.consumer(&group()).await.unwrap();
    let got = ids_of(&drain(c.as_mut(), 11).await);
    assert_eq!(got.len(), 11, "each accepted event produced once: {got:?}");
    assert_eq!(got.iter().collect::<HashSet<_>>().len(), 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_of_a_group_share_the_partitions_and_each_record_comes_once_in_session_order() {
    let Some(b) = brokers("group") else { return };
    let f = connect(b, |_| {}).await;
    let g = group();
    let mut a = f.log.kafka_consumer(&g).unwrap();
    let mut c = f.log.kafka_consumer(&g).unwrap();
    wait_for_split(&mut a, &mut c, 6).await;

    // 30 sessions of 10 events, appended in 3 batches.
    let mut n = 0;
    for chunk in 0..3 {
        let mut batch = Vec::new();
        for s in chunk * 10..chunk * 10 + 10 {
            for k in 0..10 {
                batch.push(custom(&id(n), &format!("sess{s}"), k));
                n += 1;
            }
        }
        let out = f.log.append(&batch).await.unwrap();
        assert!(out.iter().all(|o| *o == AppendOutcome::Appended));
    }

    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut per_member = [0usize; 2];
    // Per session, the event times in the order a member received them.
    let mut order: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let started = Instant::now();
    let mut quiet_since: Option<Instant> = None;
    loop {
        let (ra, rc) = tokio::join!(a.poll(50, 300), c.poll(50, 300));
        let (ra, rc) = (ra.unwrap(), rc.unwrap());
        for (m, recs) in [&ra, &rc].into_iter().enumerate() {
            per_member[m] += recs.len();
            for r in recs {
                let e = Event::decode(&r.payload).unwrap();
                *seen.entry(e.id).or_default() += 1;
                order.entry(e.session_id).or_default().push(e.ts);
            }
        }
        let pa: Vec<Position> = ra.iter().map(|r| r.position).collect();
        let pc: Vec<Position> = rc.iter().map(|r| r.position).collect();
        let (ca, cc) = tokio::join!(a.commit(&pa), c.commit(&pc));
        ca.unwrap();
        cc.unwrap();
        if seen.len() == n {
            // Keep polling 2 s: nothing more may come.
            let q = *quiet_since.get_or_insert_with(Instant::now);
            if q.elapsed() > Duration::from_secs(2) {
                break;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "only {} of {n} records arrived",
            seen.len()
        );
    }
    let twice: Vec<_> = seen.iter().filter(|(_, &k)| k > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    assert_eq!(seen.len(), n);
    assert!(
        per_member[0] > 0 && per_member[1] > 0,
        "both members consume: {per_member:?}"
    );
    for (s, ts) in &order {
        assert!(ts.windows(2).all(|w| w[0] < w[1]), "session {s} out of order: {ts:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uncommitted_records_are_delivered_again_to_the_next_member_of_the_group() {
    let Some(b) = brokers("redelivery") else { return };
    let f = connect(b, |_| {}).await;
    let g = group();
    let mut first = f.log.kafka_consumer(&g).unwrap();
    wait_for_assignment(&mut first).await;
    let batch: Vec<Event> = (0..60)
        .map(|i| custom(&id(i), &format!("s{}", i % 12), i as i64))
        .collect();
    f.log.append(&batch).await.unwrap();

    let got = drain(&mut first, 60).await;
    assert_eq!(got.len(), 60);
    // Commit the first half of every partition; the rest is "in flight" when it crashes.
    let mut by_partition: BTreeMap<i32, Vec<&LogRecord>> = BTreeMap::new();
    for r in &got {
        by_partition.entry(r.position.partition).or_default().push(r);
    }
    let mut commit = Vec::new();
    let mut expected = HashSet::new();
    for recs in by_partition.values_mut() {
        recs.sort_by_key(|r| r.position.offset);
        let half = recs.len() / 2;
        commit.extend(recs[..half].iter().map(|r| r.position));
        expected.extend(ids_of(&recs[half..].iter().map(|r| (*r).clone()).collect::<Vec<_>>()));
    }
    first.commit(&commit).await.unwrap();
    drop(first);

    let mut next = f.log.consumer(&g).await.unwrap();
    let again = ids_of(&drain(next.as_mut(), expected.len()).await);
    assert_eq!(again.len(), expected.len(), "{again:?}");
    assert_eq!(again.into_iter().collect::<HashSet<_>>(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_over_max_message_bytes_is_refused_before_anything_is_produced() {
    let Some(b) = brokers("too_large") else { return };
    let f = connect(b, |_| {}).await;
    let big = event(
        &id(2),
        "s1",
        2,
        Payload::Custom {
            name: "replay-meta".into(),
            props_json: format!("{{\"blob\":\"{}\"}}", "x".repeat(1_500_000)),
        },
    );
    let err = f.log.append(&[custom(&id(1), "s1", 1), big]).await.unwrap_err();
    match err {
        LogError::TooLarge { size, limit } => {
            assert!(size > 1_500_000, "{size}");
            assert_eq!(limit, 1_000_000);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // Nothing was claimed: the small event alone is new.
    let out = f.log.append(&[custom(&id(1), "s1", 1)]).await.unwrap();
    assert_eq!(out, vec![AppendOutcome::Appended]);
    // A record just under the limit goes through (the broker takes ~1 MB).
    let near = event(
        &id(3),
        "s1",
        3,
        Payload::Custom {
            name: "replay-meta".into(),
            props_json: format!("{{\"blob\":\"{}\"}}", "y".repeat(900_000)),
        },
    );
    assert_eq!(f.log.append(&[near]).await.unwrap(), vec![AppendOutcome::Appended]);
    let mut c = f.log.consumer(&group()).await.unwrap();
    let got = ids_of(&drain(c.as_mut(), 2).await);
    assert_eq!(got, vec![id(1), id(3)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_read_back_newest_first() {
    let Some(b) = brokers("dead_letters") else { return };
    let f = connect(b, |_| {}).await;
    assert!(f.log.dead_letters(10).await.unwrap().is_empty());
    let dl = |at: i64| DeadLetter {
        at,
        site: "kt".into(),
        stage: sightline::model::dead_stage::DeadStage::Ingest,
        field: "x".into(),
        reason: format!("reason {at}"),
        raw: "{}".into(),
        sent_at: Some(at - 1),
        bot_reason: None,
    };
    f.log.dead_letter(vec![dl(1), dl(2)]).await.unwrap();
    f.log.dead_letter(vec![dl(3), dl(4), dl(5)]).await.unwrap();
    let newest: Vec<i64> = f.log.dead_letters(3).await.unwrap().iter().map(|d| d.at).collect();
    assert_eq!(newest, vec![5, 4, 3]);
    let all = f.log.dead_letters(100).await.unwrap();
    assert_eq!(all.len(), 5);
    assert_eq!(all[4], dl(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_is_ready_with_a_reachable_broker() {
    let Some(b) = brokers("ready") else { return };
    let f = connect(b, |_| {}).await;
    assert!(f.log.ready().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_config_refuses_to_start() {
    let cfg = KafkaConfig {
        topic_prefix: "bad prefix!".into(),
        ..KafkaConfig::default()
    };
    assert!(KafkaLog::connect(cfg).await.is_err());
    let cfg = KafkaConfig {
        partitions: 0,
        ..KafkaConfig::default()
    };
    assert!(KafkaLog::connect(cfg).await.is_err());
}

/// P2: the test's own broker is paused (SIGSTOP) during an append: the append must fail
/// within the bounded wait, a retry while it is unresolved is refused (503, not duplicate)
/// once it has waited for the first to settle,
/// and after the broker resumes the retry is produced (claims were released).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_broker_gives_a_bounded_failure_and_the_retry_is_produced() {
    // Runs in the external pass, on a broker of its own that it can pause (SIGSTOP).
    if brokers("paused").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/start-tansu"))
        .arg(dir.path())
        .arg(port.to_string())
        .output()
        .unwrap();
    assert!(
        started.status.success(),
        "start-tansu: {}",
        String::from_utf8_lossy(&started.stderr)
    );
    let pid = String::from_utf8_lossy(&started.stdout).trim().to_string();
    struct Kill(String);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = std::process::Command::new("kill").args(["-CONT", &self.0]).status();
            let _ = std::process::Command::new("kill").args(["-9", &self.0]).status();
        }
    }
    let _broker = Kill(pid.clone());
    let b = format!("127.0.0.1:{port}");
    // Tansu 0.6 breaks when an idempotent producer's delivery times out (KafkaConfig::idempotence).
    let idempotence = false;
    let f = connect(b, |c| {
        c.produce_timeout_ms = 3000;
        c.idempotence = idempotence;
    })
    .await;
    let batch: Vec<Event> = (0..20).map(|i| custom(&id(i), "s1", i as i64)).collect();
    f.log.append(&batch[..1]).await.unwrap();
    let signal = |s: &str| {
        assert!(std::process::Command::new("kill")
            .args([s, &pid])
            .status()
            .unwrap()
            .success())
    };
    signal("-STOP");
    let (log, rest) = (f.log.clone(), batch[1..].to_vec());
    let first = tokio::spawn(async move {
        let started = Instant::now();
        let r = log.append(&rest).await;
        (r, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A retry while the first attempt is unresolved waits for it to settle (it fails),
    // then tries itself against the still-paused broker: refused, never reported duplicate.
    let early = f.log.append(&batch[1..]).await;
    assert!(
        matches!(&early, Err(LogError::Timeout(_)) | Err(LogError::Unavailable(_))),
        "{early:?}"
    );
    assert!(!f.log.ready().await, "not ready while the broker is paused");
    let (r, took) = first.await.unwrap();
    signal("-CONT");
    eprintln!("paused append: {r:?} after {took:?}");
    assert!(
        matches!(r, Err(LogError::Timeout(_)) | Err(LogError::Unavailable(_))),
        "{r:?}"
    );
    assert!(took < Duration::from_millis(3000 + 1500), "{took:?}");
    // Let the background task settle the claims.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(f.log.ready().await, "ready again once the broker is back");
    // The retry: every id is new again (or, had one been acknowledged, a duplicate).
    let out = f.log.append(&batch[1..]).await.unwrap();
    assert!(out.iter().all(|o| *o == AppendOutcome::Appended), "{out:?}");
    let mut c = f.log.consumer(&group()).await.unwrap();
    let got: HashSet<String> = ids_of(&drain(c.as_mut(), 20).await).into_iter().collect();
    assert_eq!(got.len(), 20, "every event stored at least once");
}

/// Child process of [`a_member_that_crashed_without_leaving_does_not_keep_the_next_from_consuming`]:
/// join the group, wait for partitions, say so, and die without leaving the group.
/// Does nothing unless started by that test with its environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_child() {
    let (Ok(b), Ok(prefix), Ok(group)) = (
        std::env::var("SIGHTLINE_TEST_KAFKA_BROKERS"),
        std::env::var("SIGHTLINE_CRASH_PREFIX"),
        std::env::var("SIGHTLINE_CRASH_GROUP"),
    ) else {
        return;
    };
    let f = connect(b, |c| c.topic_prefix = prefix).await;
    let mut c = f.log.kafka_consumer(&group).unwrap();
    wait_for_assignment(&mut c).await;
    // A steady member for a while (heartbeats, a commit), as a sink that ran.
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        let recs = c.poll(100, 200).await.unwrap();
        let pos: Vec<Position> = recs.iter().map(|r| r.position).collect();
        c.commit(&pos).await.unwrap();
    }
    println!("CHILD-ASSIGNED");
    std::process::abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_crashed_without_leaving_does_not_keep_the_next_from_consuming() {
    let Some(b) = brokers("crashed_member") else { return };
    let f = connect(b.clone(), |_| {}).await;
    let group = group();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture"])
        .env("SIGHTLINE_TEST_KAFKA_BROKERS", &b)
        .env("SIGHTLINE_CRASH_PREFIX", &f.log.config().topic_prefix)
        .env("SIGHTLINE_CRASH_GROUP", &group)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("CHILD-ASSIGNED"), "child: {stdout}");
    // The next member joins at once, while the dead one still counts as alive.
    let mut next = f.log.kafka_consumer(&group).unwrap();
    let batch: Vec<Event> = (0..30).map(|i| custom(&id(i), &format!("s{i}"), i as i64)).collect();
    f.log.append(&batch).await.unwrap();
    let started = Instant::now();
    let mut got = HashSet::new();
    while got.len() < 30 && started.elapsed() < Duration::from_secs(90) {
        let recs = next.poll(100, 500).await.unwrap();
        got.extend(ids_of(&recs));
        let pos: Vec<Position> = recs.iter().map(|r| r.position).collect();
        next.commit(&pos).await.unwrap();
    }
    eprintln!("crashed member: {} records after {:?}", got.len(), started.elapsed());
    assert_eq!(got.len(), 30, "assigned: {:?}", next.assigned_partitions());
}

/// A counter of the process's `/metrics` text, 0 before its first sample.
fn counter(name: &str) -> f64 {
    common::metric_value(&sightline::metrics::render_at(0), name)
}

/// The producer's statistics reach `/metrics`: the messages it sent and their bytes on the
/// wire (so that `scripts/load` can report the Kafka log's bytes per event). Other tests of
/// this binary produce at the same time, so only lower bounds are asserted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_producers_bytes_and_messages_are_counted() {
    let Some(b) = brokers("producer stats") else { return };
    let f = connect(b, |_| {}).await;
    let (bytes0, msgs0) = (
        counter("sightline_log_producer_sent_bytes_total"),
        counter("sightline_log_producer_messages_total"),
    );
    let batch: Vec<Event> = (0..300)
        .map(|i| custom(&id(10_000 + i), "stats", 1000 + i as i64))
        .collect();
    let out = f.log.append(&batch).await.unwrap();
    assert!(out.iter().all(|o| *o == AppendOutcome::Appended), "{out:?}");
    // Statistics come every second.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let msgs = counter("sightline_log_producer_messages_total") - msgs0;
        let bytes = counter("sightline_log_producer_sent_bytes_total") - bytes0;
        if msgs >= 300.0 {
            assert!(bytes > 0.0, "{msgs} messages counted with no bytes");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after 15 s: {msgs} messages, {bytes} bytes counted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
