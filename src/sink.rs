//! The sink: log → warehouse. Reads a batch from its consumer group, decodes the records,
//! inserts them (idempotent by event id, so a replay after a crash never double-counts) and
//! commits the offsets only after the insert succeeded. Records that cannot be decoded go
//! to the dead-letter store with their reason and are committed past.

use crate::event::Event;
use crate::log::{DeadLetter, Log};
use crate::metrics::METRICS;
use crate::warehouse::Warehouse;
use std::sync::Arc;
use std::time::Duration;

/// Consumer group of the sink.
pub const SINK_GROUP: &str = "sightline-sink";

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
/// exponential backoff; the offsets stay uncommitted until the insert succeeds.
pub async fn run(log: Arc<dyn Log>, warehouse: Arc<dyn Warehouse>, cfg: SinkConfig) -> anyhow::Result<()> {
    let mut consumer = log.consumer(SINK_GROUP).await?;
    let mut backoff = Duration::from_millis(100);
    loop {
        let records = match consumer.poll(cfg.batch_max, cfg.batch_wait_ms).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "sink poll failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
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
                }),
            }
        }
        loop {
            match warehouse.insert_events(&events).await {
                Ok(rep) => {
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
                Err(e) => {
                    METRICS.sink_batches_total.with_label_values(&["error"]).inc();
                    tracing::warn!(error = %e, rows = events.len(), "warehouse insert failed; retrying");
                    let jitter = Duration::from_millis(rand::random::<u64>() % 100);
                    tokio::time::sleep(backoff + jitter).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
        if !dead.is_empty() {
            METRICS
                .events_dropped_total
                .with_label_values(&["undecodable_record"])
                .inc_by(dead.len() as u64);
            log.dead_letter(dead).await?;
        }
        let positions: Vec<_> = records.iter().map(|r| r.position).collect();
        consumer.commit(&positions).await?;
    }
}
