//! Topics: creating them (with their partitions and retention) and reading the newest records
//! of one (the dead-letter listing).

use super::*;
use crate::log::{DeadLetter, LogError};
use anyhow::Context as _;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::time::{Duration, Instant};

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

/// How long one topic creation request may take before it is asked again.
const CREATE_TOPICS_WAIT: Duration = Duration::from_secs(20);

/// Create the events and dead-letter topics ("already exists" is fine; bounded: at most 3 requests of
/// [`CREATE_TOPICS_WAIT`]) and wait until the metadata shows both.
pub(super) async fn create_topics(cfg: &KafkaConfig, events: &str, deadletter: &str) -> anyhow::Result<()> {
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
    // The request has its own timeouts, but the admin future has been seen never to resolve
    // (a CI run waited 70 min): bound the wait and ask again.
    let mut attempt = 0;
    let results = loop {
        attempt += 1;
        match tokio::time::timeout(CREATE_TOPICS_WAIT, admin.create_topics(topics.iter(), &opts)).await {
            Ok(r) => break r.with_context(|| format!("creating kafka topics on {}", cfg.brokers))?,
            Err(_) if attempt < 3 => {
                tracing::warn!(brokers = %cfg.brokers, attempt, "kafka did not answer the topic creation in time; asking again")
            }
            Err(_) => anyhow::bail!(
                "creating kafka topics on {}: no answer in {} attempts of {} s",
                cfg.brokers,
                attempt,
                CREATE_TOPICS_WAIT.as_secs()
            ),
        }
    };
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

/// Read the newest `limit` dead letters: per partition, from `high - limit` to the end, with
/// a short-lived consumer that assigns partitions itself (no group, nothing committed).
pub(super) fn read_newest(cfg: &KafkaConfig, topic: &str, limit: usize) -> Result<Vec<DeadLetter>, LogError> {
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
