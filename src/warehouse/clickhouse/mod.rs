//! The ClickHouse warehouse (`clickhouse` crate, HTTP, RowBinary without client-side
//! validation so that Debian's clickhouse-server 18.16 works as well as current releases).
//!
//! # Where the SQL is
//! Everything this module sends is in [`sql`]: `migrations/*.sql` and `queries.sql`, looked up
//! by name. `tests/chdb/check.py` runs all of it on current ClickHouse (chDB) or on a server
//! (`--url`), and `tests/clickhouse_warehouse.rs` runs it on `SIGHTLINE_TEST_CLICKHOUSE_URL`.
//!
//! # Start-up
//! [`ClickHouseWarehouse::connect`] creates the database if missing, applies the migrations
//! not yet recorded in `schema_migrations` (each once, in order; an applied migration whose
//! file changed is refused), then compares every Rust row type we insert with
//! `DESCRIBE TABLE` (names and types) and refuses to start on a mismatch (P4).
//!
//! # Semantics (the same as `sqlite.rs`, without transactions)
//! - **Events** go to a `ReplacingMergeTree` ordered by (site, session_id, id). A batch first
//!   asks which of its ids are already stored (one query), inserts the others (one INSERT)
//!   and reports the rest as duplicates. Copies that slip in anyway (two sinks racing, or two
//!   batches of one sink in flight at once holding the same id twice in the log) are folded
//!   by merges and ignored by reads (`LIMIT 1 BY id`, `uniqExact(id)`).
//!   Three round trips per batch: the dedup read, the events INSERT, the marks INSERT (below).
//!   The read cannot be dropped or merged: the report of duplicates is part of the contract
//!   (replays must not add rows), 18.16 has no `input()` to filter an INSERT against the
//!   table, and the marks must follow the events. The sink keeps several batches in flight
//!   instead ([`crate::sink`]), so the round trips overlap.
//! - **Dirty sessions** are append-only marks `(site, session_id, bucket, version)` in
//!   `session_marks`; a session is dirty while one of its marks is above its highest
//!   `session_state` version. After the events are inserted, the batch takes one version
//!   for its marks: above the process clock (`next_gen`, µs) *and* above every mark and
//!   state version already stored for its sessions, and inserts one mark per (site,
//!   session_id) of the batch, in one statement (`mark_sessions`, an `INSERT … SELECT` whose
//!   scalar subquery reads the stored versions as the server inserts). Because that version is taken *after* the events are
//!   visible, and above every mark the server holds for the session, a rollup that read the
//!   session's events after seeing mark V either saw the new events or leaves a mark above
//!   V: clock skew between processes cannot hide an event.
//!   The one deliberate difference from SQLite: the sessions of **duplicate** events are
//!   marked again too. Without a transaction, a crash between the events INSERT and the marks
//!   INSERT would otherwise leave those sessions un-rolled-up forever after the replay (P5);
//!   a recompute is idempotent, so the numbers never change, only work is repeated.
//!   `dirty_sessions` returns a shard's sessions (`bucket % modulus IN (owned…)`, the owned
//!   residues bound as a tuple) by their oldest uncovered mark, each flagged `fresh` when
//!   the scan found no `session_state` row for it. The flag is only a hint: the scan reads
//!   `session_marks` twice, each read with its own snapshot, so a mark inserted meanwhile
//!   can hide a written session's state from it. The write re-reads the states of the
//!   flagged sessions before skipping the lookup of their old rows (`still_fresh`).
//!
//! # Rollups
//! [`Warehouse::write_sessions`] replaces the rows of each session table by table, then
//! inserts the `session_state` rows. Each table's replace is idempotent on its own, so a
//! crash anywhere leaves the marks in place and the next pass repairs every table:
//! - **Additive parts** (pages, grid, elements, their `el_cells`, scroll, zones, surveys, reach, goal,
//!   journeys, problems, and the sessions list's counts `rollup_list`, which are written with
//!   the session rows and made from them and the detail rows by `list::list_rows`, and whose
//!   day totals carry the segment columns, so `count_listed` reads them with or without a
//!   segment filter):
//!   `SummingMergeTree` tables keyed by (site, day, session_id, device, bot, key) with signed
//!   counters. A replace reads the session's current net rows (`sum()` per key), and inserts
//!   `new − net` per key where non-zero (one INSERT per table); re-running reads the new net,
//!   so it inserts nothing. Reads sum per (day, device, bot, key) over sessions and drop rows
//!   whose integer counters are all 0 (`HAVING`); merges remove such rows too. `el_x_sum` and
//!   `el_y_sum` are `Float64` sums: exact for the binary fractions the tests use, otherwise
//!   within rounding of the order of additions (and reset to 0 when `el_n` is 0).
//!   **Day totals:** each of these tables has a twin `<table>_day` without `session_id`
//!   (migrations `0011_day_totals.sql`, `0012_session_list.sql`), a `SummingMergeTree`
//!   keyed by (site, day, device, bot, key) that a materialized view feeds with every row
//!   inserted into the per-session table, in the same INSERT. As those rows are the
//!   `new − net` deltas, the twin holds the day's sums. A read without a segment filter
//!   sums the twin ([`sql::sums`]), so it costs the day's distinct keys rather than its
//!   sessions; with a segment filter it sums
//!   the per-session table over the segment's sessions. Retention deletes both. The one
//!   gap: should the server write the per-session rows of an INSERT and then fail in the
//!   view (it then reports the INSERT as failed), the retry finds the delta already in
//!   the net rows and the twin misses it; the server errors that can do this (memory
//!   limits, too many parts) also fail most INSERTs outright, which are retried whole.
//! - **Per-session parts** (sessions, session details, answers, feedback): one row per key
//!   ((site, day, session_id, session key or event id)), `ReplacingMergeTree(gen)` with a
//!   `deleted` tombstone. A replace reads the session's live rows (newest `gen` per key, not
//!   deleted), inserts the new rows that differ under a new `gen` (above the clock and above
//!   the live rows' gens) and tombstones for the keys no longer produced. Reads take the
//!   newest `gen` per key (`ORDER BY gen DESC LIMIT 1 BY …`) and drop tombstones; merges
//!   fold superseded gens. Tombstones stay until retention drops their day.
//! - Nested lists (a session's steps, a detail row's pages / elements / replays, a
//!   multi-choice answer) are **parallel `Array` columns**: RowBinary encodes `Vec<T>` as
//!   `Array(T)` natively on 18.16 and current releases, the values stay typed and queryable
//!   (`arrayJoin`), and no JSON function is needed on 18.16. An answer is stored as
//!   `value_type` + `value_number` / `value_text` / `value_choices`, a feedback rating as
//!   `has_rating` + `rating` (no `Nullable`).
//! - The write needs one writer per session at a time (the rollup shards are disjoint, and
//!   with Kafka the leases of [`crate::model::rows::leases`] are exclusive); two
//!   writers racing on one session could apply a delta twice, which the session's next
//!   recompute repairs. Reads right after an INSERT see it (one server, no replication).
//! - **Cleanup**: at most every [`ClickHouseWarehouse::set_cleanup_every`] (default 10 min)
//!   a write starts, in the background, `ALTER TABLE session_marks DELETE WHERE version < C`
//!   with C = the older of the oldest still-dirty mark and now − 10 min (the grace period,
//!   which process clocks must agree within). Every mark below C is covered by its
//!   session's state, so this never makes a session clean. Bound: the marks table holds the
//!   marks of the last grace period and cleanup period, plus every mark since the oldest
//!   still-dirty one (a session that stays dirty holds the cleanup back). `session_state`
//!   keeps one row per session after merges and is read only for the sessions having marks
//!   (`IN` on the marks).
//! - **Sites**: `ReplacingMergeTree(updated_at)`, read with `FINAL`.
//!
//! # Errors
//! Every ClickHouse failure is a [`ClickHouseError`] inside the `anyhow::Error`; use
//! [`is_retryable`] / [`error_class`] to tell retryable failures from refused data.
//! [`Warehouse::insert_events`] returns the typed [`StoreError`] ([`store_error`]).

pub mod error;
pub mod rows;
pub mod sql;

mod client;
mod convert;
mod funnel;
mod journeys;
mod list;
mod replay;
mod store;
mod voc;
mod writes;
use convert::*;

pub use error::{error_class, is_retryable, store_error, ClickHouseError, ErrorClass};

use super::Shard;
use crate::event::{Event, Payload};
use crate::model::rows::DAY_MS;
use clickhouse::Client;
use rows::*;
use serde::Serialize;
use sql::name;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Largest query text ClickHouse parses (18.16 defaults to 256 KiB; a batch of 10k event ids
/// is about 400 KB).
const MAX_QUERY_SIZE: &str = "67108864";

/// Longest wait for one query or for ClickHouse to finish an INSERT (a hung server must not
/// stall the sink forever: the timeout is a retryable error).
const QUERY_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest wait to send one chunk of an INSERT.
const SEND_TIMEOUT: Duration = Duration::from_secs(60);

/// Dirty marks younger than this are never deleted by the cleanup, covered or not: a mark
/// version comes from a process clock, and a mark may be inserted a moment after its version
/// was taken. Process clocks must agree within this.
const CLEANUP_GRACE: Duration = Duration::from_secs(600);

/// Session ids per query (`session_id IN (…)`), and so per read of a rollup table.
const CHUNK: usize = 2000;

/// The ClickHouse warehouse. See the module docs.
pub struct ClickHouseWarehouse {
    client: Client,
    database: String,
    cleanup_every_ms: AtomicU64,
    last_cleanup: Mutex<Instant>,
    /// Where [`Warehouse::dirty_sessions`] starts reading the marks (see [`Watermark`]).
    watermark: Mutex<Option<Watermark>>,
    /// The shard [`Warehouse::fence_takeover`] last waited for.
    fenced: Mutex<Option<Shard>>,
}

/// The dirty-marks watermark of one shard: every mark below `since` was covered by its
/// session's state when last looked at, so a scan reads only the marks at or above it (a
/// few seconds of marks, instead of every mark since the last cleanup: the join with the
/// states is what costs). Marks are µs clock readings of the sinks; `since` is the oldest
/// uncovered mark found minus [`WATERMARK_MARGIN_US`], or the clock minus it when none was,
/// so a sink whose clock lags by less than the margin is never missed. A different shard
/// (a rebalance) starts from 0, and every [`FULL_SCAN_EVERY`] a scan reads every mark
/// again, which catches a sink lagging by more. `session_marks` is partitioned by the hour
/// of `version`, so a scan from the watermark reads the newest partitions only.
struct Watermark {
    shard: String,
    since: u64,
    full_at: Instant,
}

/// See [`Watermark`]: 30 s.
const WATERMARK_MARGIN_US: u64 = 30_000_000;
/// See [`Watermark`]: as often as the cleanup of covered marks.
const FULL_SCAN_EVERY: Duration = Duration::from_secs(600);

/// A list bound as a SQL tuple, `('a', 'b')`, for `x IN ?` (18.16 has no `IN [array]`).
/// Never empty: callers check.
struct Tuple<'a, T>(&'a [T]);

impl<T: Serialize> Serialize for Tuple<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(self.0.len())?;
        for x in self.0 {
            t.serialize_element(x)?;
        }
        t.end()
    }
}

/// The distinct strings of `items`, sorted.
fn distinct<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    items.collect::<BTreeSet<_>>().into_iter().collect()
}

/// A unique, increasing id from the clock: µs since the epoch, bumped past the last one handed
/// out in this process. Used for mark versions, per-session row generations and site versions.
fn next_gen() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = now_micros();
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(l) => last = l,
        }
    }
}

fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// `YYYY-MM-DD` of the `Date` holding `day` (ms), clamped like the `day` column.
fn date_string(day: i64) -> String {
    let ms = Date::of_ms(day).0 as i64 * DAY_MS;
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "1970-01-01".into())
}

fn wrap<T>(op: &str, r: clickhouse::error::Result<T>) -> anyhow::Result<T> {
    r.map_err(|e| anyhow::Error::new(ClickHouseError::new(op, e)))
}

/// Run a request with [`QUERY_TIMEOUT`]; a timeout is a retryable `TimedOut`.
async fn timed<T>(op: &str, fut: impl std::future::Future<Output = clickhouse::error::Result<T>>) -> anyhow::Result<T> {
    match tokio::time::timeout(QUERY_TIMEOUT, fut).await {
        Ok(r) => wrap(op, r),
        Err(_) => wrap(op, Err(clickhouse::error::Error::TimedOut)),
    }
}

/// The analytic columns of an event: (selector, zone, x, y, scroll depth, name).
fn wide(e: &Event) -> (&str, &str, f64, f64, f64, &str) {
    match &e.payload {
        Payload::Click {
            x, y, selector, zone, ..
        } => (selector, zone.as_deref().unwrap_or(""), *x, *y, 0.0, ""),
        Payload::Scroll { depth, .. } => ("", "", 0.0, 0.0, *depth, ""),
        Payload::Zone { zone, .. } => ("", zone, 0.0, 0.0, 0.0, ""),
        Payload::Feedback { selector, .. } => (selector.as_deref().unwrap_or(""), "", 0.0, 0.0, 0.0, ""),
        Payload::Custom { name, .. } => ("", "", 0.0, 0.0, 0.0, name),
        Payload::SurveyResponse { survey_id, .. }
        | Payload::SurveyShown { survey_id, .. }
        | Payload::SurveyDismissed { survey_id, .. } => ("", "", 0.0, 0.0, 0.0, survey_id),
        Payload::Replay { recording_id, .. } => ("", "", 0.0, 0.0, 0.0, recording_id),
        Payload::Pageview { .. } | Payload::ReplayChunk(_) => ("", "", 0.0, 0.0, 0.0, ""),
    }
}

/// Migrations that (re)create rollup tables: after their statements, every stored session
/// of every site is marked dirty, so the rollup job refills the tables from the raw events
/// in its bounded batches.
const RECOMPUTE_AFTER: &[u32] = &[5, 7, 8, 9, 10];

/// The end (exclusive, ms) of the days [`RECOMPUTE_AFTER`] marks: 2100-01-01, past any
/// stored event.
const RECOMPUTE_TO_DAY: i64 = crate::warehouse::ALL_DAYS_END;

/// The age after which a migration lock (`schema_migration_lock`) is taken to be left by a
/// process that died while migrating: longer than any migration takes (filling the day
/// totals of 10M events takes about a minute).
const MIGRATION_LOCK_STALE: Duration = Duration::from_secs(30 * 60);

/// How long a process waits for another one's migration lock before it gives up.
const MIGRATION_LOCK_WAIT: Duration = Duration::from_secs(40 * 60);

/// The `session_state` version of a session whose rows are being written for the first
/// time: below every mark version (µs clock readings), so the session stays dirty, and not
/// fresh, until its write completes.
const BEGUN_VERSION: u64 = 1;

/// The longest [`Warehouse::fence_takeover`] waits for writes of another process.
const FENCE_MAX_WAIT: Duration = Duration::from_secs(60);

/// The retention deletes of every rollup table (`drop_before`).
const ROLLUP_DELETES: [&str; 16] = [
    name::DELETE_ROLLUP_PAGES_BEFORE,
    name::DELETE_ROLLUP_GRID_BEFORE,
    name::DELETE_ROLLUP_ELEMENTS_BEFORE,
    name::DELETE_ROLLUP_EL_CELLS_BEFORE,
    name::DELETE_ROLLUP_SCROLL_BEFORE,
    name::DELETE_ROLLUP_ZONES_BEFORE,
    name::DELETE_ROLLUP_SURVEYS_BEFORE,
    name::DELETE_ROLLUP_SESSIONS_BEFORE,
    name::DELETE_ROLLUP_SESSION_DETAILS_BEFORE,
    name::DELETE_ROLLUP_ANSWERS_BEFORE,
    name::DELETE_ROLLUP_FEEDBACK_BEFORE,
    name::DELETE_ROLLUP_JOURNEYS_BEFORE,
    name::DELETE_ROLLUP_PROBLEMS_BEFORE,
    name::DELETE_ROLLUP_REACH_BEFORE,
    name::DELETE_ROLLUP_GOAL_BEFORE,
    name::DELETE_ROLLUP_LIST_BEFORE,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_are_unique_and_increasing() {
        let a = next_gen();
        let b = next_gen();
        assert!(b > a && a > 1_600_000_000_000_000);
    }

    #[test]
    fn date_strings_are_utc_and_clamped() {
        assert_eq!(date_string(1_714_521_600_000), "2024-05-01");
        assert_eq!(date_string(1_714_521_600_000 + DAY_MS - 1), "2024-05-01");
        assert_eq!(date_string(-DAY_MS), "1970-01-01");
    }

    #[test]
    fn tuples_bind_as_sql_tuples() {
        let q = Client::default()
            .query("SELECT 1 WHERE x IN ? AND y IN ?")
            .bind(Tuple(&["a", "b'c"]))
            .bind(Tuple(&[1u64]));
        assert_eq!(
            q.sql_display().to_string(),
            "SELECT 1 WHERE x IN ('a','b\\'c') AND y IN (1)"
        );
    }
}

/// Bind a read's range condition (`WHERE site = ? AND day >= ? AND day < ?`: site, first
/// day, end day) and the placeholders [`sql::segmented`] puts right after it for a segment
/// filter: site, first day looked back to, end day, then each dimension's value twice
/// (`''`: any); none without a segment filter.
fn bind_days(
    query: clickhouse::query::Query,
    site: &str,
    (from_day, to_day): (i64, i64),
    segment: &crate::model::segment::SegmentFilter,
) -> clickhouse::query::Query {
    let mut query = query.bind(site).bind(from_day).bind(to_day);
    if segment.is_empty() {
        return query;
    }
    query = query
        .bind(site)
        .bind(from_day - segment.lookback_days * crate::model::rows::DAY_MS)
        .bind(to_day);
    for v in segment.values() {
        query = query.bind(v).bind(v);
    }
    query
}
