//! The sink: log → warehouse. Gathers records from its consumer group into batches (up to
//! [`SinkConfig::batch_max`] records, or what arrived within [`SinkConfig::batch_wait_ms`] of
//! a batch's first record), and stores up to [`SinkConfig::in_flight`] batches at once, each
//! in a task of its own: decode the records, insert the events (idempotent by event id, so
//! a replay after a crash or a rebalance never double-counts), retry until stored. Offsets
//! are committed strictly in batch order, each batch's only after its insert succeeded and
//! every earlier batch's too, so a crash or a rebalance re-delivers nothing but uncommitted
//! records, which the warehouse's dedup absorbs. Records that cannot be decoded go to the
//! dead-letter store with their reason and are committed past.
//!
//! Retry decisions come from the warehouse's typed error ([`StoreError`]): `Unavailable` is
//! retried with capped exponential backoff and jitter, `Broken` (a deployment problem) too
//! but slower and logged as an error, and `Refused` (the store refuses the data, e.g.
//! ClickHouse codes 117, 53) is never retried: the batch's events become dead letters.

use crate::config::defaults;
use crate::event::Event;
use crate::log::{Consumer, DeadLetter, Log, LogRecord, Position};
use crate::metrics::{DROP_FORGOTTEN, DROP_UNDECODABLE, DROP_WAREHOUSE_REFUSED, METRICS};
use crate::privacy::Forgotten;
use crate::warehouse::{EventBatch, StoreError, Warehouse};
use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Consumer group of the sink.
pub const SINK_GROUP: &str = "sightline-sink";

/// Consecutive failed polls (with backoff up to 10 s each) after which the sink drops its
/// consumer and joins the group again with a fresh one.
pub const REJOIN_AFTER_FAILED_POLLS: u32 = 6;

/// Longest a poll waits while batches are in flight, so that a finished batch's offsets
/// are committed within about this long, ms.
const COMMIT_CHECK_MS: u64 = 50;

/// Sink tuning: batch by size or time, several batches in flight (`serve`'s `--sink-*`
/// flags, [`crate::config::SinkArgs`]; defaults in [`crate::config::defaults`]).
#[derive(Debug, Clone)]
pub struct SinkConfig {
    /// Most records per warehouse insert (default 10,000).
    pub batch_max: usize,
    /// Longest a batch waits to fill after its first record, ms (default 1,000): a batch is
    /// stored when it holds `batch_max` records or is this old, whichever comes first.
    pub batch_wait_ms: u64,
    /// Most batches being stored at once (default 4, at least 1). Their offsets are
    /// committed in order, each after its insert succeeded.
    pub in_flight: usize,
}

impl Default for SinkConfig {
    fn default() -> Self {
        SinkConfig {
            batch_max: defaults::SINK_BATCH_MAX,
            batch_wait_ms: defaults::SINK_BATCH_WAIT_MS,
            in_flight: defaults::SINK_IN_FLIGHT,
        }
    }
}

impl SinkConfig {
    /// The sink settings of `serve`'s `--sink-*` flags.
    pub fn from_args(a: &crate::config::SinkArgs) -> SinkConfig {
        SinkConfig {
            batch_max: a.sink_batch_max,
            batch_wait_ms: a.sink_batch_wait_ms,
            in_flight: a.sink_in_flight,
        }
    }
}

/// A batch being stored: its task and the positions to commit once it is done.
struct InFlight {
    positions: Vec<Position>,
    task: JoinHandle<anyhow::Result<()>>,
    _counted: Counted,
}

/// One batch counted in `sightline_sink_batches_in_flight` from its spawn until it is
/// committed or dropped.
struct Counted;

impl Counted {
    fn new() -> Counted {
        METRICS.sink_batches_in_flight.inc();
        Counted
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        METRICS.sink_batches_in_flight.dec();
    }
}

/// The batches being stored, oldest first. Dropping it (the sink stopped or failed) aborts
/// them: their offsets were not committed, so their records come again.
#[derive(Default)]
struct Pipeline(VecDeque<InFlight>);

impl Drop for Pipeline {
    fn drop(&mut self) {
        for b in &self.0 {
            b.task.abort();
        }
    }
}

impl Pipeline {
    /// Wait for the oldest batch, then commit its positions.
    async fn commit_oldest(&mut self, consumer: &mut dyn Consumer) -> anyhow::Result<()> {
        let Some(b) = self.0.pop_front() else {
            return Ok(());
        };
        b.task.await??;
        // A failed commit only means these records are delivered again (the insert is
        // idempotent by event id), so warn and go on.
        if let Err(e) = consumer.commit(&b.positions).await {
            tracing::warn!(error = %e, records = b.positions.len(), "offset commit failed; the batch will be delivered again");
        }
        Ok(())
    }

    /// Commit every batch at the front that has finished, in order, without waiting.
    async fn commit_finished(&mut self, consumer: &mut dyn Consumer) -> anyhow::Result<()> {
        while self.0.front().is_some_and(|b| b.task.is_finished()) {
            self.commit_oldest(consumer).await?;
        }
        Ok(())
    }
}

/// Run the sink until the task is dropped (see the module docs). Returns an error only when
/// dead letters could not be written (the log is failing) or the consumer cannot be opened.
pub async fn run(log: Arc<dyn Log>, warehouse: Arc<dyn Warehouse>, cfg: SinkConfig) -> anyhow::Result<()> {
    let mut consumer = log.consumer(SINK_GROUP).await?;
    let in_flight = cfg.in_flight.max(1);
    let batch_max = cfg.batch_max.max(1);
    let mut backoff = Duration::from_millis(100);
    let mut failed_polls = 0u32;
    // Visitors forgotten on request: their records still in the log never reach the
    // warehouse again (crate::privacy). Re-read every 5 s.
    let forgotten = Arc::new(Forgotten::default());
    let mut forgotten_read = None::<Instant>;
    let mut pipeline = Pipeline::default();
    // The batch being gathered, and when its first record came.
    let mut batch: Vec<LogRecord> = Vec::new();
    let mut batch_started = Instant::now();
    loop {
        pipeline.commit_finished(consumer.as_mut()).await?;
        if forgotten_read.is_none_or(|t| t.elapsed() >= Duration::from_secs(5)) {
            match forgotten.refresh(warehouse.as_ref()).await {
                Ok(()) => forgotten_read = Some(Instant::now()),
                Err(e) => tracing::warn!(error = %e, "could not read the forgotten visitors; retrying"),
            }
            if forgotten_read.is_none() {
                tokio::time::sleep(backoff).await;
                continue;
            }
        }
        let wait_ms = if batch.is_empty() {
            cfg.batch_wait_ms
        } else {
            cfg.batch_wait_ms
                .saturating_sub(batch_started.elapsed().as_millis() as u64)
        };
        let wait_ms = if pipeline.0.is_empty() {
            wait_ms
        } else {
            wait_ms.min(COMMIT_CHECK_MS)
        };
        match consumer.poll(batch_max - batch.len(), wait_ms).await {
            Ok(records) => {
                failed_polls = 0;
                backoff = Duration::from_millis(100);
                if batch.is_empty() {
                    batch_started = Instant::now();
                }
                batch.extend(records);
            }
            Err(e) => {
                failed_polls += 1;
                tracing::warn!(error = %e, failed_polls, "sink poll failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                // A client that keeps failing after its broker came back (seen with Tansu
                // after a broker restart) is replaced by a fresh member of the group: nothing
                // is lost, since offsets were only ever committed after inserts. The batches
                // in flight were read by the old member: they are finished first.
                if failed_polls >= REJOIN_AFTER_FAILED_POLLS {
                    while !pipeline.0.is_empty() {
                        pipeline.commit_oldest(consumer.as_mut()).await?;
                    }
                    match log.consumer(SINK_GROUP).await {
                        Ok(fresh) => {
                            tracing::warn!(failed_polls, "sink consumer replaced after repeated poll failures");
                            consumer = fresh;
                            failed_polls = 0;
                            // Records gathered from the old member come again from the new one.
                            batch.clear();
                        }
                        Err(e) => tracing::warn!(error = %e, "could not open a fresh sink consumer; retrying"),
                    }
                }
                continue;
            }
        }
        let full = batch.len() >= batch_max;
        let due = !batch.is_empty() && batch_started.elapsed() >= Duration::from_millis(cfg.batch_wait_ms);
        if !(full || due) {
            continue;
        }
        if pipeline.0.len() >= in_flight {
            pipeline.commit_oldest(consumer.as_mut()).await?;
        }
        let records = std::mem::take(&mut batch);
        let positions = records.iter().map(|r| r.position).collect();
        let task = tokio::spawn(store_batch(log.clone(), warehouse.clone(), forgotten.clone(), records));
        pipeline.0.push_back(InFlight {
            positions,
            task,
            _counted: Counted::new(),
        });
    }
}

/// Drain the log through `consumer` the sink's way, without its timing: poll batches of up
/// to `batch_max` records (waiting at most `wait_ms` for each), store each as [`run`] does
/// and commit it, until a poll comes back empty. Returns the records read. The in-process
/// test server ([`crate::testing`]) drains its log with it before it reads, instead of
/// waiting for a background sink.
pub async fn drain(
    consumer: &mut dyn Consumer,
    log: Arc<dyn Log>,
    warehouse: Arc<dyn Warehouse>,
    batch_max: usize,
    wait_ms: u64,
) -> anyhow::Result<usize> {
    let forgotten = Arc::new(Forgotten::default());
    forgotten.refresh(warehouse.as_ref()).await?;
    let mut read = 0;
    loop {
        let records = consumer.poll(batch_max.max(1), wait_ms).await?;
        if records.is_empty() {
            return Ok(read);
        }
        read += records.len();
        let positions: Vec<Position> = records.iter().map(|r| r.position).collect();
        store_batch(log.clone(), warehouse.clone(), forgotten.clone(), records).await?;
        consumer.commit(&positions).await?;
    }
}

/// The sink's decode of a batch of log records: each record's event, with the payload it
/// was decoded from kept as its stored record (nothing is encoded again), and a dead letter
/// (stage `sink`, field `record`, the payload's first 2 KiB in hex) for each record that
/// does not decode.
pub fn decode(records: Vec<LogRecord>) -> (EventBatch, Vec<DeadLetter>) {
    let mut events = Vec::with_capacity(records.len());
    let mut payloads = Vec::with_capacity(records.len());
    let mut dead = Vec::new();
    for r in records {
        match Event::decode(&r.payload) {
            Ok(e) => {
                events.push(e);
                payloads.push(r.payload);
            }
            Err(e) => dead.push(DeadLetter {
                at: chrono::Utc::now().timestamp_millis(),
                site: String::new(),
                stage: crate::model::dead_stage::DeadStage::Sink,
                field: "record".into(),
                reason: format!("undecodable log record at {:?}: {e}", r.position),
                raw: hex::encode(&r.payload[..r.payload.len().min(2048)]),
                sent_at: None,
                bot_reason: None,
            }),
        }
    }
    (EventBatch::from_records(events, payloads), dead)
}

/// Store one batch of log records: decode them (undecodable ones become dead letters), drop
/// forgotten visitors' events, insert the rest until the warehouse takes them (or refuses
/// them as data: dead letters), then write the dead letters. Errors only when the dead
/// letters cannot be written.
async fn store_batch(
    log: Arc<dyn Log>,
    warehouse: Arc<dyn Warehouse>,
    forgotten: Arc<Forgotten>,
    records: Vec<LogRecord>,
) -> anyhow::Result<()> {
    let (mut batch, mut dead) = decode(records);
    if !forgotten.is_empty() {
        batch.retain(|e| {
            let drop = forgotten.drops(e);
            if drop {
                METRICS
                    .events_dropped_total
                    .with_label_values(&[DROP_FORGOTTEN, e.type_name()])
                    .inc();
            }
            !drop
        });
    }
    let undecodable = dead.len();
    let batch = Arc::new(batch);
    let mut backoff = Duration::from_millis(100);
    loop {
        let insert_started = Instant::now();
        let inserted = warehouse.insert_batch(batch.clone()).await;
        let outcome = inserted.as_ref().map_or_else(StoreError::outcome, |_| "ok");
        METRICS
            .sink_insert_duration_seconds
            .with_label_values(&[outcome])
            .observe(insert_started.elapsed().as_secs_f64());
        METRICS.sink_batches_total.with_label_values(&[outcome]).inc();
        match inserted {
            Ok(rep) => {
                log_batch_request_ids(batch.events(), rep.inserted, rep.duplicates);
                failpoint_sink_after_insert();
                METRICS
                    .sink_rows_total
                    .with_label_values(&["inserted"])
                    .inc_by(rep.inserted);
                METRICS
                    .sink_rows_total
                    .with_label_values(&["replayed"])
                    .inc_by(rep.duplicates);
                break;
            }
            Err(e @ StoreError::Refused { .. }) => {
                // The warehouse refuses this data as it is: retrying cannot help. Keep
                // every event of the batch as a dead letter with the reason, then go on.
                for ev in batch.events() {
                    METRICS
                        .events_dropped_total
                        .with_label_values(&[DROP_WAREHOUSE_REFUSED, ev.type_name()])
                        .inc();
                }
                tracing::error!(error = %e, rows = batch.len(), "warehouse refused a batch; dead-lettered");
                let at = chrono::Utc::now().timestamp_millis();
                let reason = e.to_string();
                dead.extend(batch.events().iter().map(|ev| DeadLetter {
                    at,
                    site: ev.site.clone(),
                    stage: crate::model::dead_stage::DeadStage::Sink,
                    field: String::new(),
                    reason: reason.clone(),
                    raw: crate::log::deadletter::encode_event(ev),
                    sent_at: None,
                    bot_reason: ev.bot_reason.clone(),
                }));
                break;
            }
            Err(e) => {
                let broken = matches!(e, StoreError::Broken(_));
                if broken {
                    tracing::error!(error = %e, rows = batch.len(), "warehouse insert failed (deployment problem); retrying");
                } else {
                    tracing::warn!(error = %e, rows = batch.len(), "warehouse insert failed; retrying");
                }
                let jitter = Duration::from_millis(rand::random::<u64>() % 250);
                tokio::time::sleep(backoff + jitter).await;
                let cap = if broken { 60 } else { 10 };
                backoff = (backoff * 2).min(Duration::from_secs(cap));
            }
        }
    }
    if undecodable > 0 {
        // Warehouse-refused events (also in `dead`) were counted above, by type.
        METRICS
            .events_dropped_total
            .with_label_values(&[DROP_UNDECODABLE, "unknown"])
            .inc_by(undecodable as u64);
    }
    if !dead.is_empty() {
        log.dead_letter(dead).await?;
    }
    Ok(())
}

/// Most distinct request ids one batch's debug line names.
pub const LOGGED_REQUEST_IDS: usize = 20;

/// Log at debug level which ingest requests (`request_id`, stamped on each event by ingest
/// and logged there too) a stored batch came from, so that grepping the logs for one id
/// shows both stages. Names at most [`LOGGED_REQUEST_IDS`] distinct ids (the smallest, i.e.
/// the oldest UUIDv7s) and says how many there were.
fn log_batch_request_ids(events: &[Event], inserted: u64, replayed: u64) {
    if events.is_empty() || !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let ids: BTreeSet<&str> = events.iter().map(|e| e.request_id.as_str()).collect();
    let named: Vec<&str> = ids.iter().copied().take(LOGGED_REQUEST_IDS).collect();
    tracing::debug!(
        rows = events.len(),
        inserted,
        replayed,
        distinct_request_ids = ids.len(),
        request_ids = %named.join(","),
        "sink batch stored"
    );
}

/// Fault injection for tests: with `SIGHTLINE_FAILPOINT=sink_after_insert` the process kills
/// itself with SIGKILL right after a warehouse insert succeeded and before its offsets are
/// committed (`cases/pipeline.md` P5). Without the variable it does nothing.
fn failpoint_sink_after_insert() {
    static ARMED: std::sync::LazyLock<bool> =
        std::sync::LazyLock::new(|| std::env::var("SIGHTLINE_FAILPOINT").is_ok_and(|v| v == "sink_after_insert"));
    if *ARMED {
        tracing::warn!("failpoint sink_after_insert: SIGKILL before the offset commit");
        // SAFETY: raise() with a valid signal number has no memory-safety preconditions.
        unsafe {
            libc::raise(libc::SIGKILL);
        }
    }
}
