//! The warehouse: raw events (deduplicated by event id), rollup rows and site definitions.
//!
//! [`Warehouse`] is the one trait both backends implement: SQLite ([`sqlite`], the embedded
//! default) and ClickHouse ([`clickhouse`]).
//!
//! # Rollups: the session is the unit of work, the warehouse does the sums
//! Storing events marks their snippet sessions dirty. The rollup job
//! ([`crate::model::rows::job`]) takes a batch of dirty sessions, reads their events, computes
//! their rows with the one set of definitions ([`crate::model::rows::compute_sessions`]) and
//! replaces those sessions' stored rows ([`Warehouse::write_sessions`]). A pass therefore
//! costs in proportion to the sessions that changed, never to the day.
//!
//! Rows are stored per session in typed columns. Reads sum the additive parts (page views,
//! clicks, grid cells, scroll, zones, survey counts) in the warehouse per (day, device, bot,
//! key), so both backends answer with the same rows, and so the same numbers.

mod batch;
pub mod clickhouse;
mod journeys;
pub mod sqlite;
mod voc;
pub use batch::EventBatch;
pub use journeys::{journeys_by_reading, JourneysQuery};
pub use voc::{answers_by_reading, feedback_by_reading, voc_counts_by_reading};

use crate::event::DeviceClass;
use crate::event::Event;
use crate::model::forget::ForgetRecord;
pub use crate::model::rows::SessionRollup;
use crate::model::rows::{DayRollup, SessionDetailRow, SessionRow};
use crate::model::segment::SegmentFilter;
use crate::model::session_filter::{session_matches, SessionFilter};
use crate::model::token::ApiToken;
use crate::sites::Site;
use async_trait::async_trait;

/// Why [`Warehouse::insert_batch`] failed, which decides what the sink does with the batch
/// ([`crate::sink`]): retry it, dead-letter it, or retry slowly while alerting. Each backend
/// classifies its own failures (ClickHouse by exception code: [`clickhouse::error`]); SQLite
/// reports every failure as [`StoreError::Unavailable`].
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Transient (network, timeout, overload such as ClickHouse's "too many parts", a busy
    /// database): the same request may succeed later. Retry with capped backoff and jitter.
    #[error("warehouse unavailable: {0:#}")]
    Unavailable(anyhow::Error),
    /// The store refused the data itself (ClickHouse 117 INCORRECT_DATA, 53 TYPE_MISMATCH,
    /// …): the same batch fails again. Don't retry it; keep its events as dead letters.
    #[error("warehouse refused the data{}: {reason}", code.map(|c| format!(" (code {c})")).unwrap_or_default())]
    Refused {
        /// The store's message, with what was being done.
        reason: String,
        /// The store's error code, when it sent one (ClickHouse exception code).
        code: Option<u32>,
    },
    /// A deployment problem (unknown table or column, syntax, access): retrying soon won't
    /// help and the data is not at fault. Retry slowly and alert; never drop the data.
    #[error("warehouse misconfigured: {0:#}")]
    Broken(anyhow::Error),
}

impl StoreError {
    /// The metric label of this failure (`sightline_sink_batches_total{outcome}`,
    /// `sightline_sink_insert_duration_seconds{outcome}`): `data_error` for refused data
    /// (dead-lettered), else `error` (retried).
    pub fn outcome(&self) -> &'static str {
        match self {
            StoreError::Refused { .. } => "data_error",
            StoreError::Unavailable(_) | StoreError::Broken(_) => "error",
        }
    }
}

/// What [`Warehouse::insert_batch`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InsertReport {
    /// Rows newly stored.
    pub inserted: u64,
    /// Rows whose event id was already stored (a replay of the log): ignored.
    pub duplicates: u64,
}

/// A snippet session whose rollup rows must be recomputed: new events arrived for it (or a
/// rebuild / erasure asked for it). `version` grows with each mark, so a recompute that saw
/// version V clears the mark only if no newer event marked it since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirtySession {
    pub site: String,
    /// The snippet's session id (all its server-side sessions are recomputed together).
    pub session_id: String,
    pub version: i64,
    /// No rollup rows were ever written, or begun, for this session (ClickHouse: it has no
    /// `session_state` row), so a store need not look for its old rows. Always false from a
    /// store that does not track it (SQLite, whose lookups are indexed). ClickHouse: a hint
    /// that the write checks, since its dirty scan can flag a written session as fresh
    /// (`ClickHouseWarehouse::still_fresh`).
    pub fresh: bool,
}

/// Buckets a session id falls in (see [`bucket_of`]); a [`Shard`] takes the buckets `b`
/// whose residue `b % modulus` it owns.
pub const BUCKETS: u32 = 1024;

/// The bucket of a snippet session id: FNV-1a (64 bit) of its bytes, modulo [`BUCKETS`].
/// Stored with each dirty mark, so that N rollup processes split the work by session, each
/// taking its [`Shard`], and one hot site is shared by all of them.
pub fn bucket_of(session_id: &str) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in session_id.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % u64::from(BUCKETS)) as u32
}

/// Which dirty sessions a rollup process takes: those whose [`bucket_of`] `b` has its residue
/// `b % modulus` in `owned`.
///
/// - A static share (`serve --rollup-shard INDEX/COUNT`, [`Shard::fixed`]) owns one residue:
///   `modulus = COUNT`, `owned = [INDEX]`.
/// - A share leased from the Kafka group ([`crate::model::rows::leases`], [`Shard::owned`]) owns
///   the partitions of `<prefix>.rollup-leases` assigned to the process: `modulus` = the
///   topic's partition count (a divisor of [`BUCKETS`]), `owned` = those partition numbers.
///
/// [`Shard::ALL`] takes every session; [`Shard::NONE`] (and any shard with nothing in
/// `owned`) takes none, and the warehouses answer it without a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// 1..=[`BUCKETS`].
    pub modulus: u32,
    /// Residues taken, each below `modulus`, sorted, no repeats (the constructors see to it).
    pub owned: std::borrow::Cow<'static, [u32]>,
}

impl Shard {
    /// One process does all the work.
    pub const ALL: Shard = Shard {
        modulus: 1,
        owned: std::borrow::Cow::Borrowed(&[0]),
    };
    /// No work at all (a process holding no lease).
    pub const NONE: Shard = Shard {
        modulus: 1,
        owned: std::borrow::Cow::Borrowed(&[]),
    };

    /// The static share `index` of `count` (`--rollup-shard index/count`): buckets `b` with
    /// `b % count == index`. `count` is taken as at least 1; an `index` not below `count`
    /// owns nothing.
    pub fn fixed(index: u32, count: u32) -> Shard {
        let count = count.max(1);
        Shard::owned(count, [index])
    }

    /// Buckets `b` with `b % modulus` in `residues` (residues not below `modulus` are
    /// dropped; `modulus` is taken as at least 1).
    pub fn owned(modulus: u32, residues: impl IntoIterator<Item = u32>) -> Shard {
        let modulus = modulus.max(1);
        let set: std::collections::BTreeSet<u32> = residues.into_iter().filter(|r| *r < modulus).collect();
        Shard {
            modulus,
            owned: std::borrow::Cow::Owned(set.into_iter().collect()),
        }
    }

    /// Whether this shard takes a session of bucket `bucket`.
    pub fn owns_bucket(&self, bucket: u32) -> bool {
        self.owned.binary_search(&(bucket % self.modulus.max(1))).is_ok()
    }

    /// Whether this shard takes no session at all.
    pub fn is_empty(&self) -> bool {
        self.owned.is_empty()
    }

    /// How many of the [`BUCKETS`] buckets this shard takes (0..=1024); the gauge
    /// `sightline_rollup_owned_buckets`.
    pub fn bucket_count(&self) -> u32 {
        (0..BUCKETS).filter(|b| self.owns_bucket(*b)).count() as u32
    }

    /// `BUCKETS` characters, the one at position `b` `'1'` when the shard takes bucket `b`,
    /// else `'0'`: how the SQLite store filters by bucket (`substr(?, bucket + 1, 1)`).
    pub fn bucket_flags(&self) -> String {
        (0..BUCKETS)
            .map(|b| if self.owns_bucket(b) { '1' } else { '0' })
            .collect()
    }
}

impl std::fmt::Display for Shard {
    /// A static share as `INDEX/COUNT` (`1/2`), others as `[r, …] mod modulus`
    /// (`[1, 5] mod 64`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.owned[..] {
            [index] => write!(f, "{index}/{}", self.modulus),
            owned => write!(f, "{owned:?} mod {}", self.modulus),
        }
    }
}

#[cfg(test)]
mod shard_tests {
    use super::*;

    #[test]
    fn static_and_owned_shards_take_their_buckets() {
        assert_eq!(Shard::ALL.bucket_count(), BUCKETS);
        assert_eq!(Shard::NONE.bucket_count(), 0);
        assert!(Shard::NONE.is_empty() && !Shard::ALL.is_empty());
        let halves = [Shard::fixed(0, 2), Shard::fixed(1, 2)];
        for b in 0..BUCKETS {
            assert_eq!(halves.iter().filter(|s| s.owns_bucket(b)).count(), 1);
        }
        assert_eq!(Shard::fixed(0, 3).bucket_count(), 342);
        assert_eq!(Shard::fixed(3, 3).bucket_count(), 0);
        let leased = Shard::owned(64, [5, 1, 5, 70]);
        assert_eq!(&leased.owned[..], &[1, 5]);
        assert_eq!(leased.bucket_count(), 32);
        assert!(leased.owns_bucket(65) && leased.owns_bucket(5) && !leased.owns_bucket(2));
        let flags = leased.bucket_flags();
        assert_eq!(flags.len(), BUCKETS as usize);
        assert_eq!(&flags[..6], "010001");
        assert_eq!(leased.to_string(), "[1, 5] mod 64");
        assert_eq!(Shard::fixed(1, 2).to_string(), "1/2");
    }
}

/// The rollup parts a query can ask for.
///
/// Additive parts (pages, grid, elements, scroll, zones, surveys, journeys, problems, reach,
/// goal) are
/// stored per session
/// and summed by the warehouse per (day, device, bot, key) at read time; the others (sessions,
/// session details, answers, feedback) are rows of one session each, read as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    Pages,
    Grid,
    Elements,
    Scroll,
    Sessions,
    Surveys,
    Feedback,
    Zones,
    SessionDetails,
    Answers,
    Journeys,
    Problems,
    /// Survey reach ([`crate::model::rows::ReachRow`]).
    Reach,
    /// The site goal's session counts ([`crate::model::rows::GoalRow`]).
    Goal,
    /// The in-element position cells of the elements ([`crate::model::rows::ElementRow::el_cells`]):
    /// read only with [`Part::Elements`], into its rows. A read that needs the elements'
    /// counts or texts but not their click positions leaves it out (they are the largest
    /// day totals after the grid's).
    ElCells,
}

impl Part {
    /// Every part.
    pub const ALL: [Part; 15] = [
        Part::Pages,
        Part::Grid,
        Part::Elements,
        Part::Scroll,
        Part::Sessions,
        Part::Surveys,
        Part::Feedback,
        Part::Zones,
        Part::SessionDetails,
        Part::Answers,
        Part::Journeys,
        Part::Problems,
        Part::Reach,
        Part::Goal,
        Part::ElCells,
    ];
    /// Storage name.
    pub fn name(self) -> &'static str {
        match self {
            Part::Pages => "pages",
            Part::Grid => "grid",
            Part::Elements => "elements",
            Part::Scroll => "scroll",
            Part::Sessions => "sessions",
            Part::Surveys => "surveys",
            Part::Feedback => "feedback",
            Part::Zones => "zones",
            Part::SessionDetails => "session_details",
            Part::Answers => "answers",
            Part::Journeys => "journeys",
            Part::Problems => "problems",
            Part::Reach => "reach",
            Part::Goal => "goal",
            Part::ElCells => "el_cells",
        }
    }
    /// Whether the part's rows belong to one page (and a query's page filter applies).
    pub fn is_page_level(self) -> bool {
        matches!(
            self,
            Part::Pages | Part::Grid | Part::Elements | Part::ElCells | Part::Scroll | Part::Feedback | Part::Zones
        )
    }
    /// Parse a storage name.
    pub fn parse(s: &str) -> Option<Part> {
        Part::ALL.into_iter().find(|p| p.name() == s)
    }
}

/// Which rollup rows to read: days in [from_day, to_day), these parts, optionally one page.
///
/// The answer holds, for additive parts, one row per (day, device, bot, key) with the sums
/// over every session, all-zero rows left out (sorted by that key; `el_cells` merged), and
/// for the other parts the stored rows (sessions by (day, start, session key), details by
/// (day, session key), answers and feedback by (day, ts, id)):
/// [`crate::model::rows::DayRollup::sort_rows`].
#[derive(Debug, Clone)]
pub struct RollupQuery {
    pub site: String,
    /// A day start of the site's time zone ([`crate::model::days`]; a UTC midnight in UTC),
    /// ms, inclusive.
    pub from_day: i64,
    /// A day start of the site's time zone, ms, exclusive.
    pub to_day: i64,
    pub parts: Vec<Part>,
    /// Page key filter for page-level parts (matched literally).
    pub page: Option<String>,
    /// Only the rows of the snippet sessions in this segment (docs/analytics.md,
    /// "Segments"): a semi-join on session ids over the session rows
    /// (`session_id IN (SELECT session_id FROM <sessions> WHERE site, days from
    /// `from_day - lookback_days` to `to_day`, segment columns = values)`). Empty: every
    /// session, read as before (SQLite: from the day totals).
    pub segment: SegmentFilter,
}

impl RollupQuery {
    /// The read of `parts` over a report's range (its days and segment; its device and bot
    /// filters are the caller's), every page.
    pub fn of_range(range: &crate::model::range::ReportRange, parts: Vec<Part>) -> Self {
        Self {
            site: range.site.clone(),
            from_day: range.from_day,
            to_day: range.to_day,
            parts,
            page: None,
            segment: range.segment.clone(),
        }
    }
}

/// One page of the sessions list (`GET /v1/sites/{key}/sessions`): the sessions that
/// started in days [from_day, to_day), of one device class or all, bots only when asked,
/// that pass `filter` ([`session_matches`]), newest first (by start, then session key,
/// descending), after the cursor `before`.
#[derive(Debug, Clone)]
pub struct SessionsQuery {
    pub site: String,
    /// A day start of the site's time zone ([`crate::model::days`]; a UTC midnight in UTC),
    /// ms, inclusive.
    pub from_day: i64,
    /// A day start of the site's time zone, ms, exclusive.
    pub to_day: i64,
    /// Only sessions of this device class (`None`: every class).
    pub device: Option<DeviceClass>,
    /// Include bot-flagged sessions.
    pub bots: bool,
    pub filter: SessionFilter,
    /// Only sessions in this segment.
    pub segment: SegmentFilter,
    /// Only sessions strictly after this (start ms, session key) in list order: the last
    /// session of the previous page.
    pub before: Option<(i64, String)>,
    /// Sessions per page.
    pub limit: usize,
}

/// The answer to a [`SessionsQuery`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionList {
    /// Sessions passing the query's filter, over all pages.
    pub total: usize,
    /// This page: at most `limit` sessions with their detail rows, in list order.
    pub sessions: Vec<(SessionRow, SessionDetailRow)>,
    /// Whether sessions follow this page.
    pub more: bool,
}

impl SessionsQuery {
    /// Whether a session's dims pass the device and bot filters.
    pub fn keeps(&self, d: &crate::model::rows::Dims) -> bool {
        d.passes(self.bots, self.device)
    }

    /// The list from the query's session and detail rows (any order, other dims included):
    /// joined by session key, filtered, sorted and cut into the page. The one definition of
    /// the list; a store that narrows by SQL must give the same answer.
    pub fn list_of_rows(&self, sessions: Vec<SessionRow>, details: Vec<SessionDetailRow>) -> SessionList {
        let mut details: std::collections::HashMap<String, SessionDetailRow> = details
            .into_iter()
            .filter(|d| self.keeps(&d.dims))
            .map(|d| (d.session_key.clone(), d))
            .collect();
        let mut rows: Vec<(SessionRow, SessionDetailRow)> = sessions
            .into_iter()
            .filter(|s| self.keeps(&s.dims))
            .filter_map(|s| details.remove(&s.session_key).map(|d| (s, d)))
            .filter(|(s, d)| session_matches(s, d, &self.filter) && self.segment.matches(&s.segment))
            .collect();
        rows.sort_by(|a, b| (b.0.start, &b.0.session_key).cmp(&(a.0.start, &a.0.session_key)));
        let total = rows.len();
        let mut after: Vec<(SessionRow, SessionDetailRow)> = rows
            .into_iter()
            .filter(|(s, _)| {
                self.before
                    .as_ref()
                    .is_none_or(|(start, k)| (s.start, &s.session_key) < (*start, k))
            })
            .collect();
        let more = after.len() > self.limit;
        after.truncate(self.limit);
        SessionList {
            total,
            sessions: after,
            more,
        }
    }
}

/// [`Warehouse::list_sessions`] by reading the range's session and detail rows and listing
/// them with [`SessionsQuery::list_of_rows`] (on a blocking-pool thread).
pub async fn list_sessions_by_reading<W: Warehouse + ?Sized>(w: &W, q: &SessionsQuery) -> anyhow::Result<SessionList> {
    let r = w
        .read_rollup(&RollupQuery {
            site: q.site.clone(),
            from_day: q.from_day,
            to_day: q.to_day,
            parts: vec![Part::Sessions, Part::SessionDetails],
            page: None,
            segment: q.segment.clone(),
        })
        .await?;
    // Off the async workers: joining and sorting a range's sessions is compute.
    let q = q.clone();
    Ok(tokio::task::spawn_blocking(move || q.list_of_rows(r.sessions, r.session_details)).await?)
}

/// The end of every day a store keeps (2100-01-01, ms): [`Warehouse::mark_dirty`] of
/// `[0, ALL_DAYS_END)` marks every session of a site.
pub const ALL_DAYS_END: i64 = 4_102_444_800_000;

/// The warehouse. See the module docs.
#[async_trait]
pub trait Warehouse: Send + Sync + 'static {
    /// Store raw events with their records, idempotently by event id, and mark the snippet
    /// sessions of the new events dirty ([`DirtySession`]).
    ///
    /// Errors: a [`StoreError`] saying whether to retry the batch, dead-letter it (refused
    /// data) or alert (a broken deployment).
    async fn insert_batch(&self, batch: std::sync::Arc<EventBatch>) -> Result<InsertReport, StoreError>;

    /// [`Warehouse::insert_batch`] of `events`, encoding their records.
    async fn insert_events(&self, events: &[Event]) -> Result<InsertReport, StoreError> {
        self.insert_batch(std::sync::Arc::new(EventBatch::encode(events.to_vec())))
            .await
    }
    /// Up to `limit` dirty sessions of `shard` (their bucket's residue is in `shard.owned`),
    /// oldest mark first; nothing, without asking the store, when `shard` is empty.
    async fn dirty_sessions(&self, limit: usize, shard: &Shard) -> anyhow::Result<Vec<DirtySession>>;
    /// Mark every session of `site` with an event in days [from_day, to_day) dirty
    /// (`rollup rebuild`); returns how many were marked.
    async fn mark_dirty(&self, site: &str, from_day: i64, to_day: i64) -> anyhow::Result<u64>;
    /// Every stored event of these snippet sessions of `site`, each once, in no given order.
    async fn session_events(&self, site: &str, session_ids: &[String]) -> anyhow::Result<Vec<Event>>;
    /// Replace the stored rollup rows of every session of `done` with its entry in `rows` (a
    /// session of `done` without an entry keeps no rows: its events were erased), then clear
    /// the marks of `done` still at their version (a session marked again meanwhile stays
    /// dirty). Idempotent: writing the same rows again changes nothing; a crash part-way
    /// leaves the marks, so the next pass writes the sessions again.
    async fn write_sessions(&self, site: &str, done: &[DirtySession], rows: &[SessionRollup]) -> anyhow::Result<()>;
    /// Called before each rollup batch of `shard`. When this process takes buckets it did not
    /// have at the previous call (its first batch, a rebalance), wait until every rollup write
    /// already running in the store has ended: a process that died mid-write may have left
    /// one running, and it must land before this process reads the rows it replaces, or its
    /// delta would count twice. Nothing to wait for in a store with one writing process
    /// (the default).
    async fn fence_takeover(&self, _shard: &Shard) -> anyhow::Result<()> {
        Ok(())
    }
    /// Read rollup rows (see [`RollupQuery`]).
    async fn read_rollup(&self, q: &RollupQuery) -> anyhow::Result<DayRollup>;
    /// One page of the sessions list (see [`SessionsQuery`]). By default the range's session
    /// and detail rows are read and listed by [`SessionsQuery::list_of_rows`]; a store may
    /// answer with less reading.
    async fn list_sessions(&self, q: &SessionsQuery) -> anyhow::Result<SessionList> {
        list_sessions_by_reading(self, q).await
    }
    /// The journeys report of a range (see [`JourneysQuery`]). By default the range's journey
    /// rows are read and ranked by [`crate::model::journeys::Journeys::ranked`]; a store may
    /// rank on its side, with the same answer.
    async fn journeys(&self, q: &JourneysQuery) -> anyhow::Result<crate::model::journeys::RankedJourneys> {
        journeys_by_reading(self, q).await
    }
    /// The range's session rows a funnel counts (`q.parts` and `q.page` are ignored,
    /// `q.segment` applies as in [`Warehouse::read_rollup`]): those that reached the first of
    /// `steps`, each timeline cut by [`crate::model::goal::funnel_part`], in no set order.
    /// The funnel of these rows equals the funnel of all of them. By default the range's
    /// session rows are read and cut here; a store may cut them on its side so that only
    /// this part is sent.
    async fn funnel_sessions(
        &self,
        q: &RollupQuery,
        steps: &[crate::model::goal::FunnelStep],
    ) -> anyhow::Result<Vec<SessionRow>> {
        let q = RollupQuery {
            parts: vec![Part::Sessions],
            ..q.clone()
        };
        let mut sessions = self.read_rollup(&q).await?.sessions;
        sessions.retain_mut(|s| crate::model::goal::funnel_part(steps, &mut s.steps));
        Ok(sessions)
    }
    /// The survey answers of a range that `/voc` reads one by one (see
    /// [`crate::model::answers::AnswersQuery`]). By default the range's answer rows are
    /// read and counted here; a store may count them on its side, with the same answer.
    async fn answers(
        &self,
        q: &crate::model::answers::AnswersQuery,
    ) -> anyhow::Result<crate::model::answers::AnswerSummary> {
        answers_by_reading(self, q).await
    }
    /// The feedback figures of a range (see [`crate::model::feedback::FeedbackQuery`]). By
    /// default the range's feedback rows are read and summed here; a store may group them
    /// on its side, with the same answer.
    async fn feedback(
        &self,
        q: &crate::model::feedback::FeedbackQuery,
    ) -> anyhow::Result<crate::model::feedback::FeedbackSummary> {
        feedback_by_reading(self, q).await
    }
    /// The [`crate::model::feedback::VocCounts`] of a range (`q.parts` ignored). By default
    /// its rows are read and counted here; a store may count on its side, with the same answer.
    async fn voc_counts(&self, q: &RollupQuery) -> anyhow::Result<crate::model::feedback::VocCounts> {
        voc_counts_by_reading(self, q).await
    }
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
    /// Delete every raw event of `visitor` on `site` and mark their sessions dirty (their
    /// rollup rows are recomputed, to nothing when no event is left) (`crate::privacy`);
    /// returns the events deleted and the UTC days they were on (UTC midnights, ms).
    /// Returns once the events are gone (ClickHouse: once the mutation finished).
    async fn delete_visitor(&self, site: &str, visitor: &str) -> anyhow::Result<(u64, Vec<i64>)>;
    /// Raw events of `visitor` on `site` stored now.
    async fn count_visitor_events(&self, site: &str, visitor: &str) -> anyhow::Result<u64>;
    /// The stored session-replay parts of `sessions` (snippet session ids) on `site`, in no
    /// particular order, copies possible ([`crate::replay::assemble`] rebuilds them); `data`
    /// is left empty unless `with_data`. Written by [`Warehouse::insert_batch`] (the
    /// [`crate::event::Payload::ReplayChunk`] events), deleted with the visitor's events
    /// ([`Warehouse::delete_visitor`]) and by [`Warehouse::drop_before`] (by event time, `ts`).
    async fn replay_parts(
        &self,
        site: &str,
        sessions: &[String],
        with_data: bool,
    ) -> anyhow::Result<Vec<crate::replay::StoredPart>>;
    /// Create or replace a forget record (by id).
    async fn put_forget(&self, rec: &ForgetRecord) -> anyhow::Result<()>;
    /// All forget records.
    async fn forgets(&self) -> anyhow::Result<Vec<ForgetRecord>>;
    /// Delete a site's raw events and replay parts with `ts` (event time) before `before_day`
    /// (ms, a day start of the site's time zone) and its rollup rows of the days before it: data retention. Returns the raw events deleted; returns once they are
    /// gone (ClickHouse: once the mutations finished).
    async fn drop_before(&self, site: &str, before_day: i64) -> anyhow::Result<u64>;
    /// Delete site `key` (`DELETE /v1/sites/{key}`, `sightline site delete`): its row, then
    /// every raw event and rollup row ([`Warehouse::drop_before`] with no day kept) and its
    /// rollup bookkeeping, so a later site with the same key starts empty. Returns the raw
    /// events deleted; returns once they are gone (ClickHouse: once the mutations finished).
    async fn delete_site(&self, key: &str) -> anyhow::Result<u64>;
    /// All API tokens, revoked ones included (`crate::access`).
    async fn tokens(&self) -> anyhow::Result<Vec<ApiToken>>;
    /// Create or replace an API token (by id).
    async fn put_token(&self, token: &ApiToken) -> anyhow::Result<()>;
    /// True when the warehouse answers (for `/readyz`).
    async fn ready(&self) -> bool;
}
