//! [`KafkaConfig`]: brokers, topic prefix, partitions, producer queue bounds and timeouts.

use crate::config::defaults;
use rdkafka::config::ClientConfig;
use std::path::PathBuf;
use std::time::Duration;

/// Most messages the producer queues (librdkafka `queue.buffering.max.messages`). Past it,
/// appends wait (bounded) and then fail with [`LogError::Unavailable`]; `ready()` turns false
/// at half of it.
pub const QUEUE_MAX_MESSAGES: usize = 100_000;
/// Most KiB the producer queues (librdkafka `queue.buffering.max.kbytes`): 256 MiB.
pub const QUEUE_MAX_KBYTES: usize = 256 * 1024;
/// Longest wait of a metadata request made by `ready()` and at connect.
pub(super) const METADATA_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait of `dead_letters()` for the records it asked for.
pub(super) const DEAD_LETTER_READ_TIMEOUT: Duration = Duration::from_secs(10);

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
            topic_prefix: defaults::KAFKA_TOPIC_PREFIX.into(),
            partitions: defaults::KAFKA_PARTITIONS,
            replication: defaults::KAFKA_REPLICATION,
            data_dir: PathBuf::from("data"),
            produce_timeout_ms: 10_000,
            max_message_bytes: defaults::KAFKA_MAX_MESSAGE_BYTES,
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
