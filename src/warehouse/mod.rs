//! The warehouse: raw events (deduplicated by event id), rollup rows and site definitions.
//!
//! [`Warehouse`] is the one trait both backends implement: SQLite ([`sqlite`], the embedded
//! default) and ClickHouse (issue "Kafka and ClickHouse"). Rollups are computed in Rust by
//! [`crate::rollup`] and stored as rows per (site, day, part), so both backends give the
//! same numbers by construction.

pub mod clickhouse;
pub mod sqlite;

use crate::access::ApiToken;
use crate::event::Event;
use crate::privacy::ForgetRecord;
use crate::rollup::DayRollup;
use crate::sites::Site;
use async_trait::async_trait;

pub use self::clickhouse::ErrorClass;

/// How the sink treats a failed insert: retry it, dead-letter the batch (the data was
/// refused), or keep retrying slowly while alerting (a broken deployment). Only ClickHouse
/// tells data errors apart; every other backend's errors are retryable.
pub fn insert_error_class(e: &anyhow::Error) -> ErrorClass {
    self::clickhouse::error_class(e).unwrap_or(ErrorClass::Retryable)
}

/// What [`Warehouse::insert_events`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InsertReport {
    /// Rows newly stored.
    pub inserted: u64,
    /// Rows whose event id was already stored (a replay of the log): ignored.
    pub duplicates: u64,
}

/// A (site, day) whose rollups must be recomputed; `version` grows with each new event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirtyDay {
    pub site: String,
    /// UTC midnight, ms.
    pub day: i64,
    pub version: i64,
}

/// The rollup parts a query can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    Pages,
    Grid,
    Elements,
    Scroll,
    Transitions,
    Entries,
    Exits,
    Paths,
    Sessions,
    Surveys,
    Feedback,
    Zones,
    SessionDetails,
    Answers,
}

impl Part {
    /// Every part.
    pub const ALL: [Part; 14] = [
        Part::Pages,
        Part::Grid,
        Part::Elements,
        Part::Scroll,
        Part::Transitions,
        Part::Entries,
        Part::Exits,
        Part::Paths,
        Part::Sessions,
        Part::Surveys,
        Part::Feedback,
        Part::Zones,
        Part::SessionDetails,
        Part::Answers,
    ];
    /// Storage name.
    pub fn name(self) -> &'static str {
        match self {
            Part::Pages => "pages",
            Part::Grid => "grid",
            Part::Elements => "elements",
            Part::Scroll => "scroll",
            Part::Transitions => "transitions",
            Part::Entries => "entries",
            Part::Exits => "exits",
            Part::Paths => "paths",
            Part::Sessions => "sessions",
            Part::Surveys => "surveys",
            Part::Feedback => "feedback",
            Part::Zones => "zones",
            Part::SessionDetails => "session_details",
            Part::Answers => "answers",
        }
    }
    /// Whether the part's rows belong to one page (and a query's page filter applies).
    pub fn is_page_level(self) -> bool {
        matches!(
            self,
            Part::Pages | Part::Grid | Part::Elements | Part::Scroll | Part::Feedback | Part::Zones
        )
    }
    /// Parse a storage name.
    pub fn parse(s: &str) -> Option<Part> {
        Part::ALL.into_iter().find(|p| p.name() == s)
    }
}

/// One stored rollup row: its part, the page it belongs to ("" when not page-level) and the
/// row as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRow {
    pub part: Part,
    pub page: String,
    pub data: String,
}

/// Split a [`DayRollup`] into stored rows.
pub fn to_stored(r: &DayRollup) -> Vec<StoredRow> {
    fn rows<T: serde::Serialize>(out: &mut Vec<StoredRow>, part: Part, items: &[T], page: impl Fn(&T) -> String) {
        for it in items {
            out.push(StoredRow {
                part,
                page: page(it),
                data: serde_json::to_string(it).expect("rollup row to JSON"),
            });
        }
    }
    let mut out = Vec::new();
    rows(&mut out, Part::Pages, &r.pages, |x| x.page.clone());
    rows(&mut out, Part::Grid, &r.grid, |x| x.page.clone());
    rows(&mut out, Part::Elements, &r.elements, |x| x.page.clone());
    rows(&mut out, Part::Scroll, &r.scroll, |x| x.page.clone());
    rows(&mut out, Part::Transitions, &r.transitions, |_| String::new());
    rows(&mut out, Part::Entries, &r.entries, |_| String::new());
    rows(&mut out, Part::Exits, &r.exits, |_| String::new());
    rows(&mut out, Part::Paths, &r.paths, |_| String::new());
    rows(&mut out, Part::Sessions, &r.sessions, |_| String::new());
    rows(&mut out, Part::Surveys, &r.surveys, |_| String::new());
    rows(&mut out, Part::Feedback, &r.feedback, |x| x.page.clone());
    rows(&mut out, Part::Zones, &r.zones, |x| x.page.clone());
    rows(&mut out, Part::SessionDetails, &r.session_details, |_| String::new());
    rows(&mut out, Part::Answers, &r.answers, |_| String::new());
    out
}

/// Add one stored row back into a [`DayRollup`].
pub fn push_stored(r: &mut DayRollup, part: Part, data: &str) -> anyhow::Result<()> {
    match part {
        Part::Pages => r.pages.push(serde_json::from_str(data)?),
        Part::Grid => r.grid.push(serde_json::from_str(data)?),
        Part::Elements => r.elements.push(serde_json::from_str(data)?),
        Part::Scroll => r.scroll.push(serde_json::from_str(data)?),
        Part::Transitions => r.transitions.push(serde_json::from_str(data)?),
        Part::Entries => r.entries.push(serde_json::from_str(data)?),
        Part::Exits => r.exits.push(serde_json::from_str(data)?),
        Part::Paths => r.paths.push(serde_json::from_str(data)?),
        Part::Sessions => r.sessions.push(serde_json::from_str(data)?),
        Part::Surveys => r.surveys.push(serde_json::from_str(data)?),
        Part::Feedback => r.feedback.push(serde_json::from_str(data)?),
        Part::Zones => r.zones.push(serde_json::from_str(data)?),
        Part::SessionDetails => r.session_details.push(serde_json::from_str(data)?),
        Part::Answers => r.answers.push(serde_json::from_str(data)?),
    }
    Ok(())
}

/// Which rollup rows to read: days in [from_day, to_day), these parts, optionally one page.
#[derive(Debug, Clone)]
pub struct RollupQuery {
    pub site: String,
    /// UTC midnight, ms, inclusive.
    pub from_day: i64,
    /// UTC midnight, ms, exclusive.
    pub to_day: i64,
    pub parts: Vec<Part>,
    /// Page key filter for page-level parts (matched literally).
    pub page: Option<String>,
}

/// The warehouse. See the module docs.
#[async_trait]
pub trait Warehouse: Send + Sync + 'static {
    /// Store raw events, idempotently by event id, and mark the days their sessions span as
    /// needing a rollup.
    async fn insert_events(&self, events: &[Event]) -> anyhow::Result<InsertReport>;
    /// Days whose rollups are out of date, oldest first.
    async fn dirty_days(&self, limit: usize) -> anyhow::Result<Vec<DirtyDay>>;
    /// Mark days [from_day, to_day) of a site for recomputation (`rollup rebuild`).
    async fn mark_dirty(&self, site: &str, from_day: i64, to_day: i64) -> anyhow::Result<()>;
    /// Every event of every session (snippet session id) with an event in the day.
    async fn session_events_for_day(&self, site: &str, day: i64) -> anyhow::Result<Vec<Event>>;
    /// Replace the rollup rows of (site, day) and clear its dirty mark if still at `version`.
    async fn write_rollup(&self, site: &str, day: i64, version: i64, rollup: &DayRollup) -> anyhow::Result<()>;
    /// Read rollup rows.
    async fn read_rollup(&self, q: &RollupQuery) -> anyhow::Result<DayRollup>;
    /// Distinct raw events stored for a site (all, bots included).
    async fn count_events(&self, site: &str) -> anyhow::Result<u64>;
    /// Stored rows for a site before deduplication: more than [`Warehouse::count_events`]
    /// only while a replayed batch waits for the warehouse to merge it away.
    async fn count_rows(&self, site: &str) -> anyhow::Result<u64> {
        self.count_events(site).await
    }
    /// All sites.
    async fn sites(&self) -> anyhow::Result<Vec<Site>>;
    /// Create or replace a site.
    async fn put_site(&self, site: &Site) -> anyhow::Result<()>;
    /// Delete every raw event of `visitor` on `site` and mark the days of those events for
    /// recomputation (`crate::privacy`); returns the events deleted and those days (UTC ms).
    /// Returns once the events are gone (ClickHouse: once the mutation finished).
    async fn delete_visitor(&self, site: &str, visitor: &str) -> anyhow::Result<(u64, Vec<i64>)>;
    /// Raw events of `visitor` on `site` stored now.
    async fn count_visitor_events(&self, site: &str, visitor: &str) -> anyhow::Result<u64>;
    /// Create or replace a forget record (by id).
    async fn put_forget(&self, rec: &ForgetRecord) -> anyhow::Result<()>;
    /// All forget records.
    async fn forgets(&self) -> anyhow::Result<Vec<ForgetRecord>>;
    /// Delete a site's raw events and rollup rows of the UTC days before `before_day` (ms,
    /// a UTC midnight): data retention. Returns the raw events deleted; returns once they are
    /// gone (ClickHouse: once the mutations finished).
    async fn drop_before(&self, site: &str, before_day: i64) -> anyhow::Result<u64>;
    /// All API tokens, revoked ones included (`crate::access`).
    async fn tokens(&self) -> anyhow::Result<Vec<ApiToken>>;
    /// Create or replace an API token (by id).
    async fn put_token(&self, token: &ApiToken) -> anyhow::Result<()>;
    /// True when the warehouse answers (for `/readyz`).
    async fn ready(&self) -> bool;
}
