//! Criterion benches of each stage's CPU work, per event, on realistic batches
//! ([`sightline::loadgen`]): `cargo bench --bench pipeline` (add a filter such as `ingest`).
//!
//! - `ingest/decode_validate_enrich` (thread CPU time, see [`CpuTime`]): one 50-event body → envelope parse, per-event
//!   validation and enrichment (what `POST /v1/events` does before the log append);
//!   `ingest/parse_wire`: the typed, borrowed parse alone (envelope and each event's
//!   members, [`sightline::event::wire`]); `ingest/parse_floor_serde_json`: `serde_json`
//!   parsing of the same body into a `Value` alone (the parse floor).
//! - `log/append_embedded_50`: one 50-event append to the embedded log (SQLite WAL,
//!   `synchronous=FULL`: one fsync per group commit), fresh ids each time.
//! - `sink/decode`: the sink's decode of a 10,000-record batch ([`sightline::sink::decode`]):
//!   protobuf log record → `Event`, the payload kept as the stored record (until f0c834e the
//!   sink encoded each event again: `sink/decode_encode` in older runs). The warehouse
//!   inserts are measured end to end by `scripts/load` (sink vs `clickhouse-client`, and the
//!   embedded sink vs the ingest that filled its log).
//! - `scrub/ascii_comment`, `scrub/non_ascii_comment`: PII scrubbing of a 2 KB feedback
//!   comment in English and in French (with a card number, an address and a phone number);
//!   the two should cost about the same (a Unicode `\b` once made the French one 13–38×
//!   slower); `scrub/floor_lowercase` is `to_lowercase` of the French one.
//! - `rollup/sessionize`, `rollup/compute_day`, `rollup/funnel`: 10,000 events of one day
//!   (400 sessions); throughput per event. `rollup/compute_sessions`: the same events one
//!   session at a time, as the rollup job computes them (their clone per iteration included).

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sightline::event::wire::WireEvent;
use sightline::event::{enrich, validate, Event};
use sightline::loadgen::{accept, TrafficGen};
use sightline::log::{Log, LogRecord, Position};
use sightline::rollup::{compute_day, compute_sessions, day_of, funnel, sessionize, FunnelStep, Rules};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

const NOW: i64 = 1_764_412_800_000;

fn body_bytes(seed: u64) -> Vec<u8> {
    serde_json::to_vec(&TrafficGen::new(seed).batch("sl_bench", "0badc0de", 1, 50, NOW)).unwrap()
}

/// Thread CPU time (`CLOCK_THREAD_CPUTIME_ID`), for the ingest benches: on a shared machine
/// (a 2-core box with builds running beside it) wall time counts the time the bench thread
/// waits to be scheduled; CPU time does not, so before/after and the floor stay comparable.
/// Shown with wall time's units.
struct CpuTime;

static WALL: WallTime = WallTime;

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

impl Measurement for CpuTime {
    type Intermediate = Duration;
    type Value = Duration;
    fn start(&self) -> Duration {
        thread_cpu()
    }
    fn end(&self, started: Duration) -> Duration {
        thread_cpu().saturating_sub(started)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        WALL.formatter()
    }
}

fn ingest(c: &mut Criterion<CpuTime>) {
    let body = body_bytes(1);
    let rules = enrich::PageKeyRules::default();
    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(50));
    g.bench_function("decode_validate_enrich", |b| {
        b.iter(|| {
            let mut scratch = Vec::new();
            let env = validate::parse_envelope(&body, &mut scratch).unwrap();
            // As ingest does: one user-agent parse per batch for the bot flag and the segment.
            let ua = Some("Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0");
            let parsed = enrich::segment::parse_user_agent(ua);
            let ctx = enrich::Context {
                oldest_ts: i64::MIN,
                received_at: NOW,
                skew: enrich::Skew::for_batch(env.sent_at, NOW),
                bot_reason: enrich::bot_reason_parsed(ua, parsed.as_ref(), env.webdriver),
                page_keys: &rules,
                request_id: "0192d5a0-0000-7000-8000-000000000000",
                client: enrich::segment::client_of(parsed.as_ref(), env.language.as_deref(), Some("en-US"))
                    .map(std::sync::Arc::new),
            };
            let mut n = 0;
            for (i, raw) in env.events.iter().enumerate() {
                let mut ok = validate::validate_event(i, &WireEvent::parse(raw), &env.site).unwrap();
                n += enrich::enrich(&mut ok.event, &ctx);
                std::hint::black_box(&ok.event);
            }
            n
        })
    });
    // The typed parse alone: the envelope and each event's members, borrowed.
    g.bench_function("parse_wire", |b| {
        b.iter(|| {
            let mut scratch = Vec::new();
            let env = validate::parse_envelope(&body, &mut scratch).unwrap();
            env.events
                .iter()
                .map(|r| WireEvent::parse(r).is_object as usize)
                .sum::<usize>()
        })
    });
    g.bench_function("parse_floor_serde_json", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(&body).unwrap())
    });
    g.finish();
}

fn log_append(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let log = sightline::log::embedded::EmbeddedLog::open(dir.path()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut gen = TrafficGen::new(2);
    let n = AtomicU32::new(0);
    let mut g = c.benchmark_group("log");
    g.throughput(Throughput::Elements(50));
    g.sample_size(20);
    g.bench_function("append_embedded_50", |b| {
        b.iter_batched(
            || {
                let k = n.fetch_add(1, Ordering::Relaxed);
                accept(&gen.batch("sl_bench", &format!("{k:08x}"), k, 50, NOW), NOW)
            },
            |events| rt.block_on(log.append(&events)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn events_of_day(n: usize) -> Vec<Event> {
    let mut gen = TrafficGen::new(3);
    let mut out = Vec::with_capacity(n);
    let mut k = 0u32;
    while out.len() < n {
        out.extend(accept(&gen.batch("sl_bench", "0badc0de", k, 50, NOW), NOW));
        k += 1;
    }
    out.truncate(n);
    out
}

fn sink(c: &mut Criterion) {
    let records: Vec<LogRecord> = events_of_day(10_000)
        .iter()
        .enumerate()
        .map(|(i, e)| LogRecord {
            position: Position {
                partition: 0,
                offset: i as i64,
            },
            payload: e.encode(),
        })
        .collect();
    let mut g = c.benchmark_group("sink");
    g.throughput(Throughput::Elements(records.len() as u64));
    g.sample_size(20);
    g.bench_function("decode", |b| {
        b.iter_batched(
            || records.clone(),
            |records| sightline::sink::decode(records).0.len(),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn rollup(c: &mut Criterion) {
    let events = events_of_day(10_000);
    let rules = Rules::default();
    let day = day_of(NOW - 120_000);
    let mut g = c.benchmark_group("rollup");
    g.throughput(Throughput::Elements(events.len() as u64));
    g.sample_size(10);
    g.bench_function("sessionize", |b| b.iter(|| sessionize(&events, &rules).len()));
    g.bench_function("compute_day", |b| b.iter(|| compute_day(&events, day, &rules)));
    // The rollup job's own path: the same events, one session at a time.
    g.bench_function("compute_sessions", |b| {
        b.iter_batched(
            || events.clone(),
            |events| compute_sessions(events, &rules).len(),
            BatchSize::LargeInput,
        )
    });
    let sessions = compute_day(&events, day, &rules).sessions;
    let steps = [
        FunnelStep::parse("shop.example/"),
        FunnelStep::parse("shop.example/pricing"),
        FunnelStep::parse("event:signup"),
    ];
    g.bench_function("funnel", |b| b.iter(|| funnel(&sessions, &steps, 1_800_000, false)));
    // Impact (issue 21) over the same sessions: the funnel is its floor (one pass over the
    // session rows); impact also joins the details, feedback and answers.
    let r = compute_day(&events, day, &rules);
    let goal = sightline::rollup::impact::Goal::parse("event:signup").unwrap();
    g.bench_function("impact", |b| {
        b.iter(|| {
            sightline::rollup::impact::impact(&r.sessions, &r.session_details, &r.feedback, &r.answers, &goal).len()
        })
    });
    g.finish();
}

fn scrub(c: &mut Criterion) {
    let tail = " card 4111 1111 1111 1111, mail jo@mail.example, phone +44 20 7946 0958";
    let en = "The checkout page was slow and the button did not work, 3 items. ".repeat(30) + tail;
    let fr = "La page de paiement était lente, le bouton ne répondait pas, 3 articles. ".repeat(30) + tail;
    let mut g = c.benchmark_group("scrub");
    g.throughput(Throughput::Bytes(fr.len() as u64));
    g.bench_function("ascii_comment", |b| b.iter(|| enrich::scrub_text(&en)));
    g.bench_function("non_ascii_comment", |b| b.iter(|| enrich::scrub_text(&fr)));
    g.bench_function("floor_lowercase", |b| b.iter(|| fr.to_lowercase()));
    g.finish();
}

criterion_group!(benches, log_append, sink, scrub, rollup);
criterion_group! {
    name = cpu_benches;
    config = Criterion::default().with_measurement(CpuTime);
    targets = ingest
}
criterion_main!(cpu_benches, benches);
