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

use super::dedup::{Claimed, IdIndex};
use super::{AppendOutcome, Consumer, DeadLetter, Log, LogError, LogRecord, Position};
use crate::event::Event;
use anyhow::Context as _;
use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

/// Most messages the producer queues (librdkafka `queue.buffering.max.messages`). Past it,
/// appends wait (bounded) and then fail with [`LogError::Unavailable`]; `ready()` turns false
/// at half of it.
pub const QUEUE_MAX_MESSAGES: usize = 100_000;
/// Most KiB the producer queues (librdkafka `queue.buffering.max.kbytes`): 256 MiB.
pub const QUEUE_MAX_KBYTES: usize = 256 * 1024;
/// Longest wait of a metadata request made by `ready()` and at connect.
const METADATA_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait of `dead_letters()` for the records it asked for.
const DEAD_LETTER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings of the Kafka log. Fails at start-up ([`KafkaLog::connect`]) on a bad value.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// Bootstrap brokers, comma-separated `host:port` (librdkafka `bootstrap.servers`).
    /// Default `localhost:9092`.
    pub brokers: String,
    /// Topic name prefix: topics are `<prefix>.events` and `<prefix>.deadletter`.
    /// Letters, digits, `.`, `_`, `-`. Default `sightline`.
    pub topic_prefix: String,
    /// Partitions of `<prefix>.events` when this process creates it (the upper bound on
    /// sink parallelism). An existing topic keeps its count. Default 6.
    pub partitions: i32,
    /// Replication factor of the topics this process creates. Default 1 (a single broker);
    /// use 3 on a real cluster.
    pub replication: i32,
    /// Directory of the local id index `kafka-ids.db` (dedup). Default `data`.
    pub data_dir: PathBuf,
    /// Bounded wait of an append, milliseconds: for room in a full producer queue, and for
    /// the broker to acknowledge (librdkafka `message.timeout.ms`). Keep it below ingest's
    /// append timeout so the log reports the timeout itself. Default 10 000.
    pub produce_timeout_ms: u64,
    /// Largest record (protobuf value plus key), bytes; larger ones are refused before
    /// producing with [`LogError::TooLarge`]. Must not exceed the broker's
    /// `message.max.bytes` (1 048 588 by default on Kafka). Default 1 000 000.
    pub max_message_bytes: usize,
    /// Idempotent producer (librdkafka `enable.idempotence`): broker-side dedup of producer
    /// retries and per-partition order across them. Default true. Turn it off only for a
    /// broker whose support is broken: Tansu 0.6 (SQLite storage) panics its storage task,
    /// and then fails every request, when librdkafka bumps its producer epoch after a
    /// delivery timeout. Off, a producer retry may store a record twice (the warehouse
    /// dedups by event id) or reorder a session's records (analytics order by event time).
    pub idempotence: bool,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "localhost:9092".into(),
            topic_prefix: "sightline".into(),
            partitions: 6,
            replication: 1,
            data_dir: PathBuf::from("data"),
            produce_timeout_ms: 10_000,
            max_message_bytes: 1_000_000,
            idempotence: true,
        }
    }
}

impl KafkaConfig {
    /// Refuse values that cannot work.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(!self.brokers.trim().is_empty(), "kafka brokers must not be empty");
        anyhow::ensure!(
            !self.topic_prefix.is_empty()
                && self.topic_prefix.len() <= 200
                && self
                    .topic_prefix
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')),
            "kafka topic prefix {:?} must be 1..200 characters of A-Z a-z 0-9 . _ -",
            self.topic_prefix
        );
        anyhow::ensure!(self.partitions >= 1, "kafka partitions must be at least 1");
        anyhow::ensure!(self.replication >= 1, "kafka replication must be at least 1");
        anyhow::ensure!(
            (100..=3_600_000).contains(&self.produce_timeout_ms),
            "kafka produce timeout must be 100..=3600000 ms"
        );
        anyhow::ensure!(
            (1024..=100_000_000).contains(&self.max_message_bytes),
            "kafka max message bytes must be 1024..=100000000"
        );
        Ok(())
    }

    /// `<prefix>.events`.
    pub fn events_topic(&self) -> String {
        format!("{}.events", self.topic_prefix)
    }

    /// `<prefix>.deadletter`.
    pub fn deadletter_topic(&self) -> String {
        format!("{}.deadletter", self.topic_prefix)
    }

    /// `<prefix>.rollup-leases`: the topic whose partitions the rollup processes lease
    /// ([`crate::rollup::leases`]). Nothing is produced to it.
    pub fn leases_topic(&self) -> String {
        format!("{}.rollup-leases", self.topic_prefix)
    }

    /// `<prefix>.rollup`: the consumer group of the rollup processes (the lease manager).
    pub fn rollup_group(&self) -> String {
        format!("{}.rollup", self.topic_prefix)
    }

    /// A librdkafka configuration with the bootstrap brokers set.
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        c
    }
}

/// Metrics of the Kafka producer, registered in the process registry.
struct KafkaMetrics {
    /// Produce failures by `error_type` (`queue_full`, `timeout`, `too_large`, `broker`).
    /// Not drops: the client is told to retry (503) or that the event is too large (413).
    produce_errors: prometheus::IntCounterVec,
    /// Messages queued in the producer or awaiting acknowledgement.
    queue_messages: prometheus::IntGauge,
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
    // Every error type exists from the start (at 0), so alerts see the series before the
    // first error.
    for kind in ["queue_full", "timeout", "too_large", "broker"] {
        produce_errors.with_label_values(&[kind]);
    }
    // A second registration (tests opening several logs) is harmless: the first one wins.
    let _ = r.register(Box::new(produce_errors.clone()));
    let _ = r.register(Box::new(queue_messages.clone()));
    KafkaMetrics {
        produce_errors,
        queue_messages,
    }
});

/// The Kafka log. See the module docs.
pub struct KafkaLog {
    cfg: KafkaConfig,
    events_topic: String,
    deadletter_topic: String,
    producer: FutureProducer,
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
    producer: &FutureProducer,
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

        let producer: FutureProducer = cfg
            .client_config()
            .set("acks", "all")
            .set("enable.idempotence", if cfg.idempotence { "true" } else { "false" })
            .set("compression.type", "lz4")
            .set("linger.ms", "20")
            .set("queue.buffering.max.messages", QUEUE_MAX_MESSAGES.to_string())
            .set("queue.buffering.max.kbytes", QUEUE_MAX_KBYTES.to_string())
            .set("message.timeout.ms", cfg.produce_timeout_ms.to_string())
            // Room for the record overhead on top of our own limit, checked before producing.
            .set("message.max.bytes", (cfg.max_message_bytes + 4096).to_string())
            .create()
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

/// Create `topic` with `partitions` partitions (and the configured replication) unless it
/// exists, then wait (15 s at most) until the metadata shows it; returns its partition count,
/// which for an existing topic may differ from `partitions`.
pub async fn ensure_topic(cfg: &KafkaConfig, topic: &str, partitions: i32) -> anyhow::Result<usize> {
    let admin: AdminClient<DefaultClientContext> = cfg
        .client_config()
        .create()
        .context("creating the kafka admin client")?;
    let opts = AdminOptions::new()
        .request_timeout(Some(Duration::from_secs(10)))
        .operation_timeout(Some(Duration::from_secs(10)));
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(cfg.replication));
    for r in admin
        .create_topics([&new], &opts)
        .await
        .with_context(|| format!("creating kafka topic {topic} on {}", cfg.brokers))?
    {
        match r {
            Ok(name) => tracing::info!(topic = %name, "kafka topic created"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => anyhow::bail!("creating kafka topic {name}: {code}"),
        }
    }
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
        let started = Instant::now();
        loop {
            let md = admin
                .inner()
                .fetch_metadata(Some(&topic), METADATA_TIMEOUT)
                .context("fetching kafka metadata")?;
            let n = md
                .topics()
                .iter()
                .find(|t| t.name() == topic && t.error().is_none())
                .map_or(0, |t| t.partitions().len());
            if n > 0 {
                return Ok(n);
            }
            if started.elapsed() > Duration::from_secs(15) {
                anyhow::bail!("kafka topic {topic} did not appear in the metadata");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    })
    .await?
}

/// Create the two topics; "already exists" is fine. Then wait until the metadata shows them.
async fn create_topics(cfg: &KafkaConfig, events: &str, deadletter: &str) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = cfg
        .client_config()
        .create()
        .context("creating the kafka admin client")?;
    let topics = [
        NewTopic::new(events, cfg.partitions, TopicReplication::Fixed(cfg.replication)),
        NewTopic::new(deadletter, 1, TopicReplication::Fixed(cfg.replication)),
    ];
    let opts = AdminOptions::new()
        .request_timeout(Some(Duration::from_secs(10)))
        .operation_timeout(Some(Duration::from_secs(10)));
    let results = admin
        .create_topics(topics.iter(), &opts)
        .await
        .with_context(|| format!("creating kafka topics on {}", cfg.brokers))?;
    for r in results {
        match r {
            Ok(name) => tracing::info!(topic = %name, "kafka topic created"),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => {
                tracing::debug!(topic = %name, "kafka topic exists")
            }
            Err((name, code)) => anyhow::bail!("creating kafka topic {name}: {code}"),
        }
    }
    // Metadata may lag behind topic creation on a cluster: wait until both have partitions.
    let (events, deadletter) = (events.to_string(), deadletter.to_string());
    let want = cfg.partitions as usize;
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let md = admin
                .inner()
                .fetch_metadata(None, METADATA_TIMEOUT)
                .context("fetching kafka metadata")?;
            let count = |name: &str| {
                md.topics()
                    .iter()
                    .find(|t| t.name() == name && t.error().is_none())
                    .map_or(0, |t| t.partitions().len())
            };
            let n = count(&events);
            if n > 0 && count(&deadletter) > 0 {
                if n != want {
                    tracing::warn!(topic = %events, partitions = n, configured = want, "existing kafka topic keeps its partition count");
                }
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(15) {
                anyhow::bail!("kafka topics {events} and {deadletter} did not appear in the metadata");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    })
    .await?
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
        let ids = self.ids.clone();
        let claim_items = items.clone();
        let claimed = tokio::task::spawn_blocking(move || ids.claim(&claim_items))
            .await
            .map_err(|e| LogError::Other(e.into()))?
            .map_err(|e| LogError::Unavailable(format!("kafka id index: {e}")))?;
        let outcomes = match claimed {
            Claimed::Outcomes(o) => o,
            Claimed::InFlight(id) => {
                return Err(LogError::Unavailable(format!(
                    "an earlier request with event {id} is still being written; retry"
                )))
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

/// Read the newest `limit` dead letters: per partition, from `high - limit` to the end, with
/// a short-lived consumer that assigns partitions itself (no group, nothing committed).
fn read_newest(cfg: &KafkaConfig, topic: &str, limit: usize) -> Result<Vec<DeadLetter>, LogError> {
    let unavailable = |e: KafkaError| LogError::Unavailable(format!("kafka dead letters: {e}"));
    let consumer: BaseConsumer = cfg
        .client_config()
        // librdkafka wants a group for assign(); it is never joined (no subscribe) and
        // nothing is committed to it.
        .set("group.id", format!("{topic}.reader"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .map_err(unavailable)?;
    let md = consumer
        .fetch_metadata(Some(topic), METADATA_TIMEOUT)
        .map_err(unavailable)?;
    let partitions: Vec<i32> = md
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut tpl = TopicPartitionList::new();
    // Per partition: the offset of its last record.
    let mut last: HashMap<i32, i64> = HashMap::new();
    for p in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, METADATA_TIMEOUT)
            .map_err(unavailable)?;
        if high > low {
            let start = low.max(high - limit as i64);
            tpl.add_partition_offset(topic, p, Offset::Offset(start))
                .map_err(unavailable)?;
            last.insert(p, high - 1);
        }
    }
    if last.is_empty() {
        return Ok(Vec::new());
    }
    consumer.assign(&tpl).map_err(unavailable)?;
    let started = Instant::now();
    let mut out: Vec<(i64, i32, i64, DeadLetter)> = Vec::new();
    while !last.is_empty() {
        let Some(left) = DEAD_LETTER_READ_TIMEOUT.checked_sub(started.elapsed()) else {
            tracing::warn!(topic, "dead letters: read timed out; returning what was read");
            break;
        };
        match consumer.poll(left.min(Duration::from_millis(500))) {
            None => {}
            Some(Err(e)) => tracing::warn!(error = %e, "dead letters: read error"),
            Some(Ok(m)) => {
                let (p, o) = (m.partition(), m.offset());
                if let Some(payload) = m.payload() {
                    match serde_json::from_slice::<DeadLetter>(payload) {
                        Ok(d) => out.push((d.at, p, o, d)),
                        Err(e) => {
                            tracing::warn!(partition = p, offset = o, error = %e, "dead letters: undecodable record")
                        }
                    }
                }
                if last.get(&p).is_some_and(|&end| o >= end) {
                    last.remove(&p);
                }
            }
        }
    }
    // Newest first: by time, then by position.
    out.sort_by_key(|d| std::cmp::Reverse((d.0, d.1, d.2)));
    out.truncate(limit);
    Ok(out.into_iter().map(|(.., d)| d).collect())
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

/// A member of a consumer group on `<prefix>.events`.
pub struct KafkaConsumer {
    /// When the consumer lag was last exported.
    lag_reported: Option<Instant>,
    /// `None` only while dropping.
    inner: Option<Arc<StreamConsumer>>,
    topic: String,
    group: String,
    /// Since when this member has held no partition (see [`ORPHAN_CHECK_EVERY`]).
    idle_since: Option<Instant>,
    last_orphan_check: Option<Instant>,
    /// The group's progress at the last check while idle.
    last_progress: Option<Progress>,
}

/// How often a member that holds no partition looks at its group's progress. When two
/// looks in a row see records waiting (committed offset below the high watermark) and no
/// committed offset moved, nobody consumes them: the member joins the group again, which
/// reassigns the partitions. Tansu 0.6 leaves a group in that state when its leader died
/// without leaving (`kill -9`) and another member joined before the leader's session
/// expired: the survivor is "stable" with no partition, forever. On a healthy group some
/// member commits, so this never fires there.
const ORPHAN_CHECK_EVERY: Duration = Duration::from_secs(10);

/// Per partition of the topic: (partition, committed offset of the group, high watermark).
type Progress = Vec<(i32, i64, i64)>;

/// The group's committed offsets and the high watermarks of `topic`.
fn group_progress(c: &StreamConsumer, topic: &str) -> Result<Progress, KafkaError> {
    let md = c.fetch_metadata(Some(topic), METADATA_TIMEOUT)?;
    let mut tpl = TopicPartitionList::new();
    for t in md.topics().iter().filter(|t| t.name() == topic) {
        for p in t.partitions() {
            tpl.add_partition(topic, p.id());
        }
    }
    let committed = c.committed_offsets(tpl, METADATA_TIMEOUT)?;
    let mut out = Vec::new();
    for e in committed.elements() {
        let (low, high) = c.fetch_watermarks(topic, e.partition(), METADATA_TIMEOUT)?;
        let done = match e.offset() {
            Offset::Offset(o) => o,
            _ => low,
        };
        out.push((e.partition(), done, high));
    }
    Ok(out)
}

impl KafkaConsumer {
    /// Export `sightline_consumer_lag_records{group,partition}` (high watermark − next offset
    /// to read) at most every 5 s, from a blocking task so polling never waits for it.
    fn report_lag(&mut self, fetched: &[LogRecord]) {
        if self.lag_reported.is_some_and(|t| t.elapsed() < Duration::from_secs(5)) {
            return;
        }
        self.lag_reported = Some(Instant::now());
        let c = self.inner().clone();
        let (topic, group) = (self.topic.clone(), self.group.clone());
        let mut next_by_partition: BTreeMap<i32, i64> = BTreeMap::new();
        for r in fetched {
            let e = next_by_partition
                .entry(r.position.partition)
                .or_insert(r.position.offset + 1);
            *e = (*e).max(r.position.offset + 1);
        }
        tokio::task::spawn_blocking(move || {
            let Ok(assigned) = c.assignment() else { return };
            let positions = c.position().ok();
            for el in assigned.elements_for_topic(&topic) {
                let p = el.partition();
                let Ok((_, high)) = c.fetch_watermarks(&topic, p, Duration::from_secs(5)) else {
                    continue;
                };
                let next = next_by_partition.get(&p).copied().or_else(|| {
                    positions
                        .as_ref()
                        .and_then(|l| l.find_partition(&topic, p))
                        .and_then(|e| e.offset().to_raw())
                });
                if let Some(next) = next.filter(|o| *o >= 0) {
                    crate::metrics::set_consumer_lag(&group, p, (high - next).max(0));
                }
            }
        });
    }

    fn inner(&self) -> &Arc<StreamConsumer> {
        self.inner.as_ref().expect("consumer is open")
    }

    /// After a poll that returned nothing: see [`ORPHAN_CHECK_EVERY`].
    async fn rejoin_if_orphaned(&mut self) {
        let now = Instant::now();
        if !self.assigned_partitions().is_empty() {
            self.idle_since = None;
            self.last_progress = None;
            return;
        }
        let since = *self.idle_since.get_or_insert(now);
        let due = self
            .last_orphan_check
            .map_or(now.duration_since(since) >= ORPHAN_CHECK_EVERY, |t| {
                now.duration_since(t) >= ORPHAN_CHECK_EVERY
            });
        if !due {
            return;
        }
        self.last_orphan_check = Some(now);
        let (c, topic) = (self.inner().clone(), self.topic.clone());
        let progress = match tokio::task::spawn_blocking(move || group_progress(&c, &topic)).await {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "kafka group progress check failed");
                return;
            }
            Err(e) => {
                tracing::debug!(error = %e, "kafka group progress check failed");
                return;
            }
        };
        let waiting: i64 = progress.iter().map(|(_, done, high)| (high - done).max(0)).sum();
        let stalled = waiting > 0 && self.last_progress.as_ref() == Some(&progress);
        if !stalled {
            self.last_progress = Some(progress);
            return;
        }
        tracing::warn!(
            group = %self.group,
            topic = %self.topic,
            waiting,
            "this member holds no partition and nobody in its group consumes; joining the group again"
        );
        let c = self.inner().clone();
        let topic = self.topic.clone();
        c.unsubscribe();
        if let Err(e) = c.subscribe(&[&topic]) {
            tracing::warn!(error = %e, "kafka subscribe failed");
        }
        self.idle_since = None;
        self.last_orphan_check = None;
        self.last_progress = None;
    }

    /// The partitions of `<prefix>.events` currently assigned to this member.
    pub fn assigned_partitions(&self) -> Vec<i32> {
        self.inner()
            .assignment()
            .map(|tpl| {
                tpl.elements()
                    .iter()
                    .filter(|e| e.topic() == self.topic)
                    .map(|e| e.partition())
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn to_record(m: &rdkafka::message::BorrowedMessage<'_>) -> LogRecord {
    LogRecord {
        position: Position {
            partition: m.partition(),
            offset: m.offset(),
        },
        payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
    }
}

#[async_trait]
impl Consumer for KafkaConsumer {
    async fn poll(&mut self, max: usize, wait_ms: u64) -> Result<Vec<LogRecord>, LogError> {
        let c = self.inner().clone();
        let mut out = Vec::new();
        if max == 0 {
            return Ok(out);
        }
        match tokio::time::timeout(Duration::from_millis(wait_ms), c.recv()).await {
            Err(_) => {
                self.rejoin_if_orphaned().await;
                return Ok(out);
            }
            Ok(Err(e)) => return Err(LogError::Unavailable(format!("kafka consume: {e}"))),
            Ok(Ok(m)) => out.push(to_record(&m)),
        }
        // Then whatever is already fetched, without waiting.
        while out.len() < max {
            match tokio::time::timeout(Duration::ZERO, c.recv()).await {
                Ok(Ok(m)) => out.push(to_record(&m)),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "kafka consume error after a partial batch");
                    break;
                }
                Err(_) => break,
            }
        }
        self.report_lag(&out);
        Ok(out)
    }

    async fn commit(&mut self, positions: &[Position]) -> Result<(), LogError> {
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        for p in positions {
            let e = next.entry(p.partition).or_insert(p.offset + 1);
            *e = (*e).max(p.offset + 1);
        }
        if next.is_empty() {
            return Ok(());
        }
        let c = self.inner().clone();
        let topic = self.topic.clone();
        tokio::task::spawn_blocking(move || -> Result<(), LogError> {
            let assigned = c.assignment().map_err(|e| LogError::Unavailable(e.to_string()))?;
            let mut tpl = TopicPartitionList::new();
            for (p, o) in next {
                // A partition revoked by a rebalance belongs to another member now, which
                // reads it from the last committed offset: re-delivery, absorbed by the
                // sink's idempotent insert.
                if assigned.find_partition(&topic, p).is_none() {
                    tracing::info!(partition = p, "not committing a partition no longer assigned");
                    continue;
                }
                tpl.add_partition_offset(&topic, p, Offset::Offset(o))
                    .map_err(|e| LogError::Unavailable(e.to_string()))?;
            }
            if tpl.count() == 0 {
                return Ok(());
            }
            match c.commit(&tpl, CommitMode::Sync) {
                Ok(()) => Ok(()),
                Err(e)
                    if matches!(
                        e.rdkafka_error_code(),
                        Some(RDKafkaErrorCode::RebalanceInProgress)
                            | Some(RDKafkaErrorCode::IllegalGeneration)
                            | Some(RDKafkaErrorCode::UnknownMemberId)
                    ) =>
                {
                    // Same as above: the group moved on; the records come again.
                    tracing::warn!(error = %e, "kafka commit refused by a rebalance; records will be re-delivered");
                    Ok(())
                }
                Err(e) => Err(LogError::Unavailable(format!("kafka commit: {e}"))),
            }
        })
        .await
        .map_err(|e| LogError::Other(e.into()))?
    }
}

impl Drop for KafkaConsumer {
    fn drop(&mut self) {
        // Closing leaves the group (so the others get its partitions at once) and blocks
        // while it talks to the broker: do it off the async threads when there are some.
        if let Some(c) = self.inner.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(h) => {
                    h.spawn_blocking(move || drop(c));
                }
                Err(_) => drop(c),
            }
        }
    }
}
