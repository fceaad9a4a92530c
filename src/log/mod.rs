//! The durable log between ingest and the sink.
//!
//! [`Log`] is the one trait both backends implement: the embedded log ([`embedded`], SQLite
//! files in the data directory, the default) and Kafka ([`kafka`]). Both dedup by event id
//! with the same id index ([`dedup`]).
//! Contract: [`Log::append`] returns only once every appended event is durable, and reports
//! per event whether it was new, a duplicate of an accepted id, or an id conflict. Consumers
//! read with committed offsets per consumer group: a record is delivered again until its
//! offset is committed, so the sink commits only after the warehouse insert succeeded.

pub mod deadletter;
pub mod dedup;
pub mod embedded;
pub mod kafka;

use crate::event::Event;
use async_trait::async_trait;

/// What happened to one event given to [`Log::append`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Newly appended; durable.
    Appended,
    /// The id was accepted before with the same type: stored once, reported as a duplicate.
    Duplicate,
    /// The id was accepted before for an event of another type (`cases/ingest.md` I8):
    /// flagged and counted, not merged. Holds the earlier event's type.
    Conflict(String),
}

/// Where a record sits in the log: partition and offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Position {
    pub partition: i32,
    pub offset: i64,
}

/// One record read back from the log.
#[derive(Debug, Clone)]
pub struct LogRecord {
    pub position: Position,
    /// Protobuf bytes of `sightline.v1.Record` (see [`Event::decode`]).
    pub payload: Vec<u8>,
}

/// An input kept because it was rejected: the raw event (or a body sample) and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct DeadLetter {
    /// When it was rejected, ms.
    pub at: i64,
    /// Write key, "" when unknown.
    pub site: String,
    /// Pipeline stage that rejected it: `request`, `ingest`, `sink`.
    #[schema(value_type = String)]
    pub stage: crate::model::dead_stage::DeadStage,
    /// The offending field ("" for a whole body).
    pub field: String,
    pub reason: String,
    /// The raw input: for `ingest`, the JSON text of the event (PII-scrubbed, cut at the
    /// per-event cap) or a body sample cut at 4 KiB; for `sink`, `proto:` and the hex of the
    /// event's log record, so a replay restores it exactly.
    pub raw: String,
    /// The batch's `sent_at` (ms), for the clock-skew rule when the event is replayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<i64>,
    /// Why the request was flagged as a bot, kept so a replayed event stays flagged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_reason: Option<String>,
}

/// Errors of the log. Ingest maps `Unavailable` and `Timeout` to `503` + `Retry-After`,
/// `TooLarge` to `413`.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("log unavailable: {0}")]
    Unavailable(String),
    #[error("log did not acknowledge within {0} ms")]
    Timeout(u64),
    #[error("record of {size} bytes exceeds the log's limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("log error: {0}")]
    Other(#[from] anyhow::Error),
}

/// The durable log. See the module docs for the contract.
#[async_trait]
pub trait Log: Send + Sync + 'static {
    /// Append `events` durably and deduplicate by id. The result has one outcome per event,
    /// in order. Returns only when every `Appended` event is durable.
    async fn append(&self, events: &[Event]) -> Result<Vec<AppendOutcome>, LogError>;

    /// Keep rejected inputs with their reasons (dead-letter store).
    async fn dead_letter(&self, items: Vec<DeadLetter>) -> Result<(), LogError>;

    /// Open a consumer in `group`. Members of one group share the partitions.
    async fn consumer(&self, group: &str) -> Result<Box<dyn Consumer>, LogError>;

    /// True when the log can take events now (for `/readyz`).
    async fn ready(&self) -> bool;

    /// Dead letters, newest first, at most `limit`.
    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, LogError>;

    /// Delete the records and dead letters of `visitor` on `site` (`crate::privacy`);
    /// returns the records deleted. A log that cannot delete single records (Kafka) keeps
    /// them until its retention removes them and returns 0: the sinks drop them meanwhile.
    async fn forget_visitor(&self, _site: &str, _visitor: &str) -> Result<u64, LogError> {
        Ok(0)
    }

    /// Shutting down: hand over whatever is still queued, waiting a bounded time. Call once,
    /// after the HTTP server stopped taking requests. Nothing to do for a log whose appends
    /// are durable when they return and that queues nothing else (the embedded log).
    async fn shutdown(&self) {}
}

/// A member of a consumer group.
#[async_trait]
pub trait Consumer: Send {
    /// Up to `max` records after the committed offsets, waiting at most `wait_ms` for the
    /// first one. Records not yet committed are delivered again after a restart.
    async fn poll(&mut self, max: usize, wait_ms: u64) -> Result<Vec<LogRecord>, LogError>;
    /// Commit: every record up to and including these positions is done.
    async fn commit(&mut self, positions: &[Position]) -> Result<(), LogError>;
}
