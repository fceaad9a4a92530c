//! The sink: log → warehouse. Reads a batch from its consumer group, decodes the records,
//! inserts them (idempotent by event id, so a replay after a crash never double-counts) and
//! commits the offsets only after the insert succeeded. Records that cannot be decoded go
//! to the dead-letter store with their reason and are committed past.

use crate::event::Event;
use crate::log::{DeadLetter, Log};
use crate::metrics::{DROP_FORGOTTEN, DROP_UNDECODABLE, DROP_WAREHOUSE_REFUSED, METRICS};
use crate::warehouse::{insert_error_class, ErrorClass, Warehouse};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Consumer group of the sink.
pub const SINK_GROUP: &str = "sightline-sink";

/// Consecutive failed polls (with backoff up to 10 s each) after which the sink drops its
/// consumer and joins the group again with a fresh one.
pub const REJOIN_AFTER_FAILED_POLLS: u32 = 6;

/// Sink tuning: batch by size or time.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    /// Most records per warehouse insert.
    pub batch_max: usize,
    /// Longest wait for a batch to fill, ms.
    pub batch_wait_ms: u64,
}

impl Default for SinkConfig {
    fn default() -> Self {
        SinkConfig {
            batch_max: 10_000,
            batch_wait_ms: 200,
        }
    }
}

/// Run the sink until the task is dropped. Insert errors are retried with capped
/// exponential backoff and jitter; the offsets stay uncommitted until the insert succeeds.
/// A batch the warehouse refuses as data (ClickHouse codes such as 117, 53) is never
/// retried: its events go to the dead-letter store with the reason.
pub async fn run(log: Arc<dyn Log>, warehouse: Arc<dyn Warehouse>, cfg: SinkConfig) -> anyhow::Result<()> {
    let mut consumer = log.consumer(SINK_GROUP).await?;
    let mut backoff = Duration::from_millis(100);
    let mut failed_polls = 0u32;
    // Visitors forgotten on request: their records still in the log never reach the
    // warehouse again (crate::privacy). Re-read every 5 s.
    let forgotten = crate::privacy::Forgotten::default();
    let mut forgotten_read = None::<std::time::Instant>;
    loop {
        if forgotten_read.is_none_or(|t| t.elapsed() >= Duration::from_secs(5)) {
            match forgotten.refresh(warehouse.as_ref()).await {
                Ok(()) => forgotten_read = Some(std::time::Instant::now()),
                Err(e) => tracing::warn!(error = %e, "could not read the forgotten visitors; retrying"),
            }
            if forgotten_read.is_none() {
                tokio::time::sleep(backoff).await;
                continue;
            }
        }
        let records = match consumer.poll(cfg.batch_max, cfg.batch_wait_ms).await {
            Ok(r) => {
                failed_polls = 0;
                r
            }
            Err(e) => {
                failed_polls += 1;
                tracing::warn!(error = %e, failed_polls, "sink poll failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                // A client that keeps failing after its broker came back (seen with Tansu
                // after a broker restart) is replaced by a fresh member of the group: nothing
                // is lost, since offsets were only ever committed after inserts.
                if failed_polls >= REJOIN_AFTER_FAILED_POLLS {
                    match log.consumer(SINK_GROUP).await {
                        Ok(fresh) => {
                            tracing::warn!(failed_polls, "sink consumer replaced after repeated poll failures");
                            consumer = fresh;
                            failed_polls = 0;
                        }
                        Err(e) => tracing::warn!(error = %e, "could not open a fresh sink consumer; retrying"),
                    }
                }
                continue;
            }
        };
        if records.is_empty() {
            continue;
        }
        let mut events = Vec::with_capacity(records.len());
        let mut dead = Vec::new();
        for r in &records {
            match Event::decode(&r.payload) {
                Ok(e) => events.push(e),
                Err(e) => dead.push(DeadLetter {
                    at: chrono::Utc::now().timestamp_millis(),
                    site: String::new(),
                    stage: "sink".into(),
                    field: "record".into(),
                    reason: format!("undecodable log record at {:?}: {e}", r.position),
                    raw: hex::encode(&r.payload[..r.payload.len().min(2048)]),
                    sent_at: None,
                    bot_reason: None,
                }),
            }
        }
        if !forgotten.is_empty() {
            events.retain(|e| {
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
        loop {
            let insert_started = Instant::now();
            let inserted = warehouse.insert_events(&events).await;
            let outcome = match &inserted {
                Ok(_) => "ok",
                Err(e) if insert_error_class(e) == ErrorClass::Data => "data_error",
                Err(_) => "error",
            };
            METRICS
                .sink_insert_duration_seconds
                .with_label_values(&[outcome])
                .observe(insert_started.elapsed().as_secs_f64());
            match inserted {
                Ok(rep) => {
                    log_batch_request_ids(&events, rep.inserted, rep.duplicates);
                    failpoint_sink_after_insert();
                    METRICS
                        .sink_rows_total
                        .with_label_values(&["inserted"])
                        .inc_by(rep.inserted);
                    METRICS
                        .sink_rows_total
                        .with_label_values(&["replayed"])
                        .inc_by(rep.duplicates);
                    METRICS.sink_batches_total.with_label_values(&["ok"]).inc();
                    backoff = Duration::from_millis(100);
                    break;
                }
                Err(e) if insert_error_class(&e) == ErrorClass::Data => {
                    // The warehouse refuses this data as it is: retrying cannot help. Keep
                    // every event of the batch as a dead letter with the reason, then go on.
                    METRICS.sink_batches_total.with_label_values(&["data_error"]).inc();
                    for ev in &events {
                        METRICS
                            .events_dropped_total
                            .with_label_values(&[DROP_WAREHOUSE_REFUSED, ev.type_name()])
                            .inc();
                    }
                    tracing::error!(error = %e, rows = events.len(), "warehouse refused a batch; dead-lettered");
                    let at = chrono::Utc::now().timestamp_millis();
                    dead.extend(events.drain(..).map(|ev| DeadLetter {
                        at,
                        site: ev.site.clone(),
                        stage: "sink".into(),
                        field: String::new(),
                        reason: format!("warehouse refused the batch: {e}"),
                        raw: crate::log::deadletter::encode_event(&ev),
                        sent_at: None,
                        bot_reason: ev.bot_reason.clone(),
                    }));
                    break;
                }
                Err(e) => {
                    let class = insert_error_class(&e);
                    METRICS.sink_batches_total.with_label_values(&["error"]).inc();
                    if class == ErrorClass::Fatal {
                        tracing::error!(error = %e, rows = events.len(), "warehouse insert failed (deployment problem); retrying");
                    } else {
                        tracing::warn!(error = %e, rows = events.len(), "warehouse insert failed; retrying");
                    }
                    let jitter = Duration::from_millis(rand::random::<u64>() % 250);
                    tokio::time::sleep(backoff + jitter).await;
                    let cap = if class == ErrorClass::Fatal { 60 } else { 10 };
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
        let positions: Vec<_> = records.iter().map(|r| r.position).collect();
        // A failed commit only means these records are delivered again (the insert is
        // idempotent by event id), so warn and go on.
        if let Err(e) = consumer.commit(&positions).await {
            tracing::warn!(error = %e, records = positions.len(), "offset commit failed; the batch will be delivered again");
        }
    }
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
