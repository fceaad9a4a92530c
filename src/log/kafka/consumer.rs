//! [`KafkaConsumer`]: a consumer group's reader of the events topic, committing in order.

use super::*;
use crate::log::{Consumer, LogError, LogRecord, Position};
use async_trait::async_trait;
use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A member of a consumer group on `<prefix>.events`.
pub struct KafkaConsumer {
    /// When the consumer lag was last exported.
    pub(super) lag_reported: Option<Instant>,
    /// `None` only while dropping.
    pub(super) inner: Option<Arc<StreamConsumer>>,
    pub(super) topic: String,
    pub(super) group: String,
    /// Since when this member has held no partition (see [`ORPHAN_CHECK_EVERY`]).
    pub(super) idle_since: Option<Instant>,
    pub(super) last_orphan_check: Option<Instant>,
    /// The group's progress at the last check while idle.
    pub(super) last_progress: Option<Progress>,
}

/// How often a member that holds no partition looks at its group's progress. When two
/// looks in a row see records waiting (committed offset below the high watermark) and no
/// committed offset moved, nobody consumes them: the member joins the group again, which
/// reassigns the partitions. Tansu 0.6 leaves a group in that state when its leader died
/// without leaving (`kill -9`) and another member joined before the leader's session
/// expired: the survivor is "stable" with no partition, forever. On a healthy group some
/// member commits, so this never fires there.
pub(super) const ORPHAN_CHECK_EVERY: Duration = Duration::from_secs(10);

/// Per partition of the topic: (partition, committed offset of the group, high watermark).
pub(super) type Progress = Vec<(i32, i64, i64)>;

/// The group's committed offsets and the high watermarks of `topic`.
pub(super) fn group_progress(c: &StreamConsumer, topic: &str) -> Result<Progress, KafkaError> {
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
    pub(super) fn report_lag(&mut self, fetched: &[LogRecord]) {
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

    pub(super) fn inner(&self) -> &Arc<StreamConsumer> {
        self.inner.as_ref().expect("consumer is open")
    }

    /// After a poll that returned nothing: see [`ORPHAN_CHECK_EVERY`].
    pub(super) async fn rejoin_if_orphaned(&mut self) {
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

pub(super) fn to_record(m: &rdkafka::message::BorrowedMessage<'_>) -> LogRecord {
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

/// How long dropping a [`KafkaConsumer`] waits for it to leave its group before leaving the
/// close to a background thread (librdkafka's close can block without end, e.g.
/// fede1024/rust-rdkafka#509, so nothing may wait on it unbounded).
pub const CLOSE_WAIT: Duration = Duration::from_secs(10);

impl Drop for KafkaConsumer {
    /// Leave the group (so the others get its partitions at once) on a thread of its own, and
    /// wait at most [`CLOSE_WAIT`] for it: off the async threads when there are some (a
    /// runtime shutting down then waits that long at most), inline otherwise.
    fn drop(&mut self) {
        let Some(c) = self.inner.take() else { return };
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let closer = std::thread::Builder::new()
            .name("kafka-consumer-close".into())
            .spawn(move || {
                drop(c);
                let _ = done_tx.send(());
            });
        if let Err(e) = closer {
            tracing::warn!(error = %e, "no thread to close the kafka consumer on; it is left open");
            return;
        }
        let group = self.group.clone();
        let wait = move || {
            if done_rx.recv_timeout(CLOSE_WAIT).is_err() {
                tracing::warn!(
                    group = %group,
                    waited_ms = CLOSE_WAIT.as_millis() as u64,
                    "kafka consumer did not leave its group in time; it goes on closing in the background"
                );
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) => drop(h.spawn_blocking(wait)),
            Err(_) => wait(),
        }
    }
}
