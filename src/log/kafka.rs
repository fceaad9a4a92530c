//! The Kafka log: [`Log`] on a Kafka-protocol broker (Apache Kafka, Redpanda, Tansu) through
//! librdkafka (`rdkafka`).
//!
//! # Topics
//!
//! The first two are created at [`KafkaLog::connect`] with the admin API (an existing topic is
//! fine; brokers such as Tansu do not auto-create); the leases topic by the rollup processes
//! when they join their group ([`crate::rollup::leases`]):
//!
//! | topic                  | partitions               | key                   | value                              |
//! |------------------------|--------------------------|-----------------------|------------------------------------|
//! | `<prefix>.events`      | [`KafkaConfig::partitions`] | `<site>/<session_id>` | protobuf `sightline.v1.Record`     |
//! | `<prefix>.deadletter`  | 1                        | `<site>`              | JSON [`DeadLetter`]                |
//! | `<prefix>.rollup-leases` | [`crate::rollup::leases::LEASE_PARTITIONS`] | none | none: only its consumer group matters |
//!
//! Keying events by site and session puts one session's events on one partition, in order
//! (the producer is idempotent, so retries do not reorder them; see
//! [`KafkaConfig::idempotence`]). The sink's consumer group
//! shares the partitions of `<prefix>.events` among its members.
//!
//! # Append
//!
//! [`Log::append`] checks every record against [`KafkaConfig::max_message_bytes`] before
//! producing anything (`cases/pipeline.md` P1: [`LogError::TooLarge`], ingest answers 413),
//! claims the event ids in the local id index ([`super::dedup`], `<data-dir>/kafka-ids.db`;
//! Kafka cannot dedup), produces the new events with `acks=all` and returns once the broker
//! acknowledged every one of them. A full producer queue that does not drain within
//! [`KafkaConfig::produce_timeout_ms`] gives [`LogError::Unavailable`], a delivery not
//! acknowledged within that time [`LogError::Timeout`] (P2: ingest answers 503 +
//! `Retry-After`). The claims of events whose delivery failed are released, so the client's
//! retry is produced again rather than reported as a duplicate; delivered ones stay claimed,
//! so the retry reports them as duplicates. Delivery is awaited in a task of its own: the
//! claims are settled even if the caller stops waiting.
//!
//! The duplicate *report* is per ingest process (each has its own id index); storage is
//! exactly-once regardless, because the warehouse deduplicates by event id.
//!
//! # Consumers
//!
//! [`Log::consumer`] joins consumer group `<prefix>.<group>` with offsets committed only by
//! [`Consumer::commit`] (no auto-commit): a record polled but not committed is delivered
//! again after a crash or a rebalance, which the sink's idempotent insert absorbs.

mod config;
mod consumer;
mod topics;

pub use config::*;
pub use consumer::*;
pub use topics::*;

use super::dedup::{Claimed, IdIndex};
use super::{AppendOutcome, Consumer, DeadLetter, Log, LogError};
use crate::event::Event;
use anyhow::Context as _;
use async_trait::async_trait;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

/// How long an append waits for an earlier, unfinished append of one of its event ids
/// before answering `log_unavailable` (the earlier one settles within the produce timeout,
/// unless Kafka is down).
const IN_FLIGHT_WAIT: Duration = Duration::from_secs(10);

/// Metrics of the Kafka producer, registered in the process registry.
struct KafkaMetrics {
    /// Produce failures by `error_type` (`queue_full`, `timeout`, `too_large`, `broker`).
    /// Not drops: the client is told to retry (503) or that the event is too large (413).
    produce_errors: prometheus::IntCounterVec,
    /// Messages queued in the producer or awaiting acknowledgement.
    queue_messages: prometheus::IntGauge,
    /// Bytes sent to the brokers (librdkafka's `tx_bytes`: produce requests as sent, lz4
    /// batches with their framing), from the producer's statistics every second.
    sent_bytes: prometheus::IntCounter,
    /// Messages produced (librdkafka's `txmsgs`), at the same moments as `sent_bytes`, so
    /// that `sent_bytes ÷ produced_messages` is the Kafka log's bytes per event.
    produced_messages: prometheus::IntCounter,
}

static KAFKA_METRICS: LazyLock<KafkaMetrics> = LazyLock::new(|| {
    let r = &crate::metrics::METRICS.registry;
    let produce_errors = prometheus::IntCounterVec::new(
        prometheus::Opts::new(
            "sightline_log_produce_errors_total",
            "Kafka produce failures, by error type",
        ),
        &["error_type"],
    )
    .expect("metric");
    let queue_messages = prometheus::IntGauge::new(
        "sightline_log_producer_queue_messages",
        "Messages in the Kafka producer queue or awaiting acknowledgement",
    )
    .expect("metric");
    let sent_bytes = prometheus::IntCounter::new(
        "sightline_log_producer_sent_bytes_total",
        "Bytes the Kafka producer sent to the brokers (librdkafka tx_bytes)",
    )
    .expect("metric");
    let produced_messages = prometheus::IntCounter::new(
        "sightline_log_producer_messages_total",
        "Messages the Kafka producer sent to the brokers (librdkafka txmsgs)",
    )
    .expect("metric");
    // Every error type exists from the start (at 0), so alerts see the series before the
    // first error.
    for kind in ["queue_full", "timeout", "too_large", "broker"] {
        produce_errors.with_label_values(&[kind]);
    }
    // A second registration (tests opening several logs) is harmless: the first one wins.
    let _ = r.register(Box::new(produce_errors.clone()));
    let _ = r.register(Box::new(queue_messages.clone()));
    let _ = r.register(Box::new(sent_bytes.clone()));
    let _ = r.register(Box::new(produced_messages.clone()));
    KafkaMetrics {
        produce_errors,
        queue_messages,
        sent_bytes,
        produced_messages,
    }
});

/// How often librdkafka reports the producer's statistics, ms.
const STATISTICS_INTERVAL_MS: u32 = 1_000;

/// The producer's context: adds what librdkafka's statistics say was sent since their last
/// report to `sightline_log_producer_sent_bytes_total` and
/// `sightline_log_producer_messages_total` (librdkafka's totals are per client).
#[derive(Default)]
pub struct ProducerStats {
    /// `(tx_bytes, txmsgs)` of the last report.
    last: std::sync::Mutex<(i64, i64)>,
}

impl rdkafka::ClientContext for ProducerStats {
    fn stats(&self, s: rdkafka::Statistics) {
        let mut last = self.last.lock().expect("stats lock");
        KAFKA_METRICS.sent_bytes.inc_by((s.tx_bytes - last.0).max(0) as u64);
        KAFKA_METRICS
            .produced_messages
            .inc_by((s.txmsgs - last.1).max(0) as u64);
        *last = (last.0.max(s.tx_bytes), last.1.max(s.txmsgs));
    }
}

/// The Kafka log. See the module docs.
pub struct KafkaLog {
    cfg: KafkaConfig,
    events_topic: String,
    deadletter_topic: String,
    producer: FutureProducer<ProducerStats>,
    ids: Arc<IdIndex>,
}

/// Map a produce error to a [`LogError`], counting it.
fn produce_error(e: &KafkaError, cfg: &KafkaConfig, size: usize) -> LogError {
    let (kind, err) = match e.rdkafka_error_code() {
        Some(RDKafkaErrorCode::QueueFull) => (
            "queue_full",
            LogError::Unavailable("kafka producer queue is full".into()),
        ),
        Some(RDKafkaErrorCode::MessageTimedOut) | Some(RDKafkaErrorCode::RequestTimedOut) => {
            ("timeout", LogError::Timeout(cfg.produce_timeout_ms))
        }
        Some(RDKafkaErrorCode::MessageSizeTooLarge) | Some(RDKafkaErrorCode::MessageBatchTooLarge) => {
            tracing::error!(
                size,
                limit = cfg.max_message_bytes,
                "the broker refused a record under max_message_bytes: its message.max.bytes is lower"
            );
            (
                "too_large",
                LogError::TooLarge {
                    size,
                    limit: cfg.max_message_bytes,
                },
            )
        }
        _ => ("broker", LogError::Unavailable(format!("kafka: {e}"))),
    };
    KAFKA_METRICS.produce_errors.with_label_values(&[kind]).inc();
    err
}

/// Produce `records` (key, payload) to `topic`, waiting for room in a full queue until
/// `deadline`, and return the per-record delivery results in order.
async fn produce_all(
    producer: &FutureProducer<ProducerStats>,
    cfg: &KafkaConfig,
    topic: &str,
    records: &[(String, Vec<u8>)],
    deadline: Instant,
) -> Vec<Result<(), LogError>> {
    let mut pending = Vec::with_capacity(records.len());
    let mut failed: Option<(usize, LogError)> = None;
    for (i, (key, payload)) in records.iter().enumerate() {
        let size = key.len() + payload.len();
        loop {
            let rec = FutureRecord::to(topic).key(key.as_str()).payload(payload.as_slice());
            match producer.send_result(rec) {
                Ok(f) => {
                    pending.push((size, f));
                    break;
                }
                Err((e, _))
                    if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) && Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                Err((e, _)) => {
                    failed = Some((i, produce_error(&e, cfg, size)));
                    break;
                }
            }
        }
        if failed.is_some() {
            break;
        }
    }
    let mut out = Vec::with_capacity(records.len());
    for (size, f) in pending {
        out.push(match f.await {
            Ok(Ok(_delivery)) => Ok(()),
            Ok(Err((e, _msg))) => Err(produce_error(&e, cfg, size)),
            Err(_canceled) => Err(LogError::Unavailable("kafka producer closed".into())),
        });
    }
    if let Some((i, e)) = failed {
        let msg = e.to_string();
        out.push(Err(e));
        // Records after the one that could not be queued were never produced.
        for _ in i + 1..records.len() {
            out.push(Err(LogError::Unavailable(msg.clone())));
        }
    }
    out
}

/// The first error of `results`, if any.
fn first_error(results: Vec<Result<(), LogError>>) -> Result<(), LogError> {
    results.into_iter().collect()
}

impl KafkaLog {
    /// Validate `cfg`, create the topics if missing, open the id index and the producer.
    pub async fn connect(cfg: KafkaConfig) -> anyhow::Result<Arc<KafkaLog>> {
        cfg.validate()?;
        let events_topic = cfg.events_topic();
        let deadletter_topic = cfg.deadletter_topic();
        create_topics(&cfg, &events_topic, &deadletter_topic).await?;

        let path = cfg.data_dir.join("kafka-ids.db");
        let ids = tokio::task::spawn_blocking(move || IdIndex::open(&path))
            .await?
            .context("opening the kafka id index")?;

        let producer: FutureProducer<ProducerStats> = cfg
            .client_config()
            .set("statistics.interval.ms", STATISTICS_INTERVAL_MS.to_string())
            .set("acks", "all")
            .set("enable.idempotence", if cfg.idempotence { "true" } else { "false" })
            .set("compression.type", "lz4")
            .set("linger.ms", "20")
            .set("queue.buffering.max.messages", QUEUE_MAX_MESSAGES.to_string())
            .set("queue.buffering.max.kbytes", QUEUE_MAX_KBYTES.to_string())
            .set("message.timeout.ms", cfg.produce_timeout_ms.to_string())
            // Room for the record overhead on top of our own limit, checked before producing.
            .set("message.max.bytes", (cfg.max_message_bytes + 4096).to_string())
            .create_with_context(ProducerStats::default())
            .context("creating the kafka producer")?;
        tracing::info!(brokers = %cfg.brokers, topic = %events_topic, "kafka log connected");
        let log = Arc::new(KafkaLog {
            cfg,
            events_topic,
            deadletter_topic,
            producer,
            ids: Arc::new(ids),
        });
        // The queue depth gauge, every second while the log lives.
        let weak = Arc::downgrade(&log);
        tokio::spawn(async move {
            loop {
                match weak.upgrade() {
                    Some(log) => KAFKA_METRICS.queue_messages.set(log.producer.in_flight_count().into()),
                    None => break,
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        Ok(log)
    }

    /// The settings this log runs with.
    pub fn config(&self) -> &KafkaConfig {
        &self.cfg
    }

    /// Wait (at most `timeout`) until every queued message was delivered or failed.
    /// [`Log::shutdown`] and [`Drop`] do it, bounded by `produce_timeout_ms`.
    pub async fn flush(&self, timeout: Duration) -> Result<(), LogError> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || producer.flush(timeout))
            .await
            .map_err(|e| LogError::Other(e.into()))?
            .map_err(|e| LogError::Unavailable(format!("kafka flush: {e}")))
    }

    /// Join consumer group `group`; the concrete type behind [`Log::consumer`].
    ///
    /// Groups are scoped by the topic prefix: the Kafka group id is `<prefix>.<group>` (e.g.
    /// `sightline.sightline-sink`), so two installations sharing a cluster never share a
    /// group, and a group's members always subscribe to the same topic.
    pub fn kafka_consumer(&self, group: &str) -> Result<KafkaConsumer, LogError> {
        let group = format!("{}.{group}", self.cfg.topic_prefix);
        let consumer: StreamConsumer = self
            .cfg
            .client_config()
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "3000")
            .create()
            .map_err(|e| LogError::Unavailable(format!("kafka consumer: {e}")))?;
        consumer
            .subscribe(&[&self.events_topic])
            .map_err(|e| LogError::Unavailable(format!("kafka subscribe: {e}")))?;
        Ok(KafkaConsumer {
            lag_reported: None,
            inner: Some(Arc::new(consumer)),
            topic: self.events_topic.clone(),
            group,
            idle_since: None,
            last_orphan_check: None,
            last_progress: None,
        })
    }

    /// Produce `items` to `topic` and wait for every acknowledgement (bounded).
    async fn produce_wait(&self, topic: &str, records: Vec<(String, Vec<u8>)>) -> Result<(), LogError> {
        let timeout = Duration::from_millis(self.cfg.produce_timeout_ms);
        let deadline = Instant::now() + timeout;
        let producer = self.producer.clone();
        let cfg = self.cfg.clone();
        let topic = topic.to_string();
        let task =
            tokio::spawn(async move { first_error(produce_all(&producer, &cfg, &topic, &records, deadline).await) });
        match tokio::time::timeout(timeout + Duration::from_secs(1), task).await {
            Ok(r) => r.map_err(|e| LogError::Other(e.into()))?,
            Err(_) => Err(LogError::Timeout(self.cfg.produce_timeout_ms)),
        }
    }
}

#[async_trait]
impl Log for KafkaLog {
    async fn append(&self, events: &[Event]) -> Result<Vec<AppendOutcome>, LogError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        // P1: refuse the whole batch before anything is claimed or produced.
        let mut records = Vec::with_capacity(events.len());
        for e in events {
            let key = format!("{}/{}", e.site, e.session_id);
            let payload = e.encode();
            let size = key.len() + payload.len();
            if size > self.cfg.max_message_bytes {
                KAFKA_METRICS.produce_errors.with_label_values(&["too_large"]).inc();
                return Err(LogError::TooLarge {
                    size,
                    limit: self.cfg.max_message_bytes,
                });
            }
            records.push((key, payload));
        }

        let items: Vec<(String, String)> = events
            .iter()
            .map(|e| (e.id.clone(), e.type_name().to_string()))
            .collect();
        // An id still being written by an earlier request (a client's overlapping retry):
        // wait for that write to settle, then claim again, so the retry is answered as a
        // duplicate (or appended, if the earlier write failed) instead of refused.
        let deadline = Instant::now() + IN_FLIGHT_WAIT;
        let outcomes = loop {
            let ids = self.ids.clone();
            let claim_items = items.clone();
            let claimed = tokio::task::spawn_blocking(move || ids.claim(&claim_items))
                .await
                .map_err(|e| LogError::Other(e.into()))?
                .map_err(|e| LogError::Unavailable(format!("kafka id index: {e}")))?;
            match claimed {
                Claimed::Outcomes(o) => break o,
                Claimed::InFlight(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Claimed::InFlight(id) => {
                    return Err(LogError::Unavailable(format!(
                        "an earlier request with event {id} is still being written; retry"
                    )))
                }
            }
        };

        let mut new_ids = Vec::new();
        let mut to_send = Vec::new();
        for ((outcome, record), (id, _)) in outcomes.iter().zip(records).zip(items) {
            if *outcome == AppendOutcome::Appended {
                new_ids.push(id);
                to_send.push(record);
            }
        }
        if to_send.is_empty() {
            return Ok(outcomes);
        }

        // Produce and settle the claims in a task of its own, so that the claims are settled
        // even when the caller stops waiting (ingest's own timeout).
        let timeout = Duration::from_millis(self.cfg.produce_timeout_ms);
        let deadline = Instant::now() + timeout;
        let producer = self.producer.clone();
        let cfg = self.cfg.clone();
        let topic = self.events_topic.clone();
        let ids = self.ids.clone();
        let task = tokio::spawn(async move {
            let results = produce_all(&producer, &cfg, &topic, &to_send, deadline).await;
            let (mut delivered, mut failed) = (Vec::new(), Vec::new());
            for (id, r) in new_ids.into_iter().zip(&results) {
                match r {
                    Ok(()) => delivered.push(id),
                    Err(_) => failed.push(id),
                }
            }
            let settled = tokio::task::spawn_blocking(move || ids.settle(&delivered, &failed)).await;
            match settled {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "could not settle kafka id claims"),
                Err(e) => tracing::error!(error = %e, "could not settle kafka id claims"),
            }
            first_error(results)
        });
        // The delivery reports arrive within message.timeout.ms of queueing: a second more
        // is only a safety net.
        match tokio::time::timeout(timeout + Duration::from_secs(1), task).await {
            Ok(Ok(Ok(()))) => Ok(outcomes),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Err(join)) => Err(LogError::Other(join.into())),
            Err(_) => {
                KAFKA_METRICS.produce_errors.with_label_values(&["timeout"]).inc();
                Err(LogError::Timeout(self.cfg.produce_timeout_ms))
            }
        }
    }

    async fn dead_letter(&self, items: Vec<DeadLetter>) -> Result<(), LogError> {
        if items.is_empty() {
            return Ok(());
        }
        let records = items
            .iter()
            .map(|d| {
                let json = serde_json::to_vec(d).map_err(|e| LogError::Other(e.into()))?;
                Ok((d.site.clone(), json))
            })
            .collect::<Result<Vec<_>, LogError>>()?;
        // A dead letter's raw sample is cut at 4 KiB; check anyway.
        if let Some((k, v)) = records
            .iter()
            .find(|(k, v)| k.len() + v.len() > self.cfg.max_message_bytes)
        {
            return Err(LogError::TooLarge {
                size: k.len() + v.len(),
                limit: self.cfg.max_message_bytes,
            });
        }
        self.produce_wait(&self.deadletter_topic, records).await
    }

    /// See [`KafkaLog::kafka_consumer`] (the group is scoped by the topic prefix).
    async fn consumer(&self, group: &str) -> Result<Box<dyn Consumer>, LogError> {
        Ok(Box::new(self.kafka_consumer(group)?))
    }

    async fn ready(&self) -> bool {
        let in_flight = self.producer.in_flight_count().max(0) as usize;
        KAFKA_METRICS.queue_messages.set(in_flight as i64);
        if in_flight >= QUEUE_MAX_MESSAGES / 2 {
            return false;
        }
        let producer = self.producer.clone();
        let topic = self.events_topic.clone();
        tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(Some(&topic), METADATA_TIMEOUT)
                .map(|md| {
                    md.topics()
                        .iter()
                        .any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
                })
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false)
    }

    async fn shutdown(&self) {
        let timeout = Duration::from_millis(self.cfg.produce_timeout_ms);
        if let Err(e) = self.flush(timeout).await {
            tracing::warn!(error = %e, in_flight = self.producer.in_flight_count(), "kafka producer did not flush at shutdown");
        }
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, LogError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let cfg = self.cfg.clone();
        let topic = self.deadletter_topic.clone();
        tokio::task::spawn_blocking(move || read_newest(&cfg, &topic, limit))
            .await
            .map_err(|e| LogError::Other(e.into()))?
    }
}

impl Drop for KafkaLog {
    fn drop(&mut self) {
        // librdkafka purges what is still queued when the producer goes away: flush first.
        let timeout = Duration::from_millis(self.cfg.produce_timeout_ms);
        if let Err(e) = self.producer.flush(timeout) {
            tracing::warn!(error = %e, in_flight = self.producer.in_flight_count(), "kafka producer did not flush");
        }
    }
}
