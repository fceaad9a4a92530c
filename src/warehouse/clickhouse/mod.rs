//! The ClickHouse warehouse (`clickhouse` crate, HTTP, RowBinary without client-side
//! validation so that Debian's clickhouse-server 18.16 works as well as current releases).
//!
//! # Where the SQL is
//! Everything this module sends is in [`sql`]: `migrations/*.sql` and `queries.sql`, looked up
//! by name. `tests/chdb/check.py` runs all of it on current ClickHouse (chDB) or on a server
//! (`--url`), and `tests/clickhouse_warehouse.rs` runs it on `SIGHTLINE_CLICKHOUSE_URL`.
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
//!   and reports the rest as duplicates. Copies that slip in anyway (two sinks racing) are
//!   folded by merges and ignored by reads (`LIMIT 1 BY id`, `uniqExact(id)`).
//! - **Dirty days** are append-only marks `(site, day, version)`; a day is dirty while its
//!   highest mark is above the highest version in `rollup_state`. After the events are
//!   inserted, the batch reads the sessions' spans (one grouped query) and the next version
//!   (max + 1 of marks and states of its sites), then inserts one mark per spanned day. The
//!   version is read *after* the events are visible, so a rollup that saw mark V saw every
//!   event whose mark is V or lower.
//!   The one deliberate difference from SQLite: the sessions of **duplicate** events are
//!   marked again too. Without a transaction, a crash between the events INSERT and the marks
//!   INSERT would otherwise leave those days un-rolled-up forever after the replay (P5); a
//!   recompute is idempotent, so the numbers never change, only work is repeated.
//! - **Rollups**: `write_rollup` inserts the rows under a new generation `gen` (unique,
//!   time-ordered), then the `rollup_state` row (site, day, version, gen). Reads take the rows
//!   of the highest gen per (site, day), so a re-write replaces and a half-written one is
//!   invisible. Superseded generations are deleted best-effort with `ALTER TABLE … DELETE`
//!   at most every [`ClickHouseWarehouse::set_cleanup_every`] (default 10 min), in the
//!   background.
//! - **Sites**: `ReplacingMergeTree(updated_at)`, read with `FINAL`.
//!
//! # Errors
//! Every ClickHouse failure is a [`ClickHouseError`] inside the `anyhow::Error`; use
//! [`is_retryable`] / [`error_class`] to tell retryable failures from refused data.

pub mod error;
pub mod rows;
pub mod sql;

pub use error::{error_class, is_retryable, ClickHouseError, ErrorClass};

use super::{push_stored, to_stored, DirtyDay, InsertReport, Part, RollupQuery, Warehouse};
use crate::access::ApiToken;
use crate::event::{Event, Payload};
use crate::privacy::ForgetRecord;
use crate::rollup::{day_of, DayRollup, DAY_MS};
use crate::sites::Site;
use anyhow::Context;
use async_trait::async_trait;
use clickhouse::sql::Identifier;
use clickhouse::{Client, Row, RowOwned, RowRead, RowWrite};
use rows::*;
use serde::Serialize;
use sql::name;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Largest query text ClickHouse parses (18.16 defaults to 256 KiB; a batch of 10k event ids
/// is about 400 KB).
const MAX_QUERY_SIZE: &str = "67108864";

/// Longest wait for one query or for ClickHouse to finish an INSERT (a hung server must not
/// stall the sink forever: the timeout is a retryable error).
const QUERY_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest wait to send one chunk of an INSERT.
const SEND_TIMEOUT: Duration = Duration::from_secs(60);

/// Superseded rollup generations younger than this are left alone (a write may be between
/// its rows and its state row).
const CLEANUP_GRACE: Duration = Duration::from_secs(600);

/// The ClickHouse warehouse. See the module docs.
pub struct ClickHouseWarehouse {
    client: Client,
    database: String,
    cleanup_every_ms: AtomicU64,
    last_cleanup: Mutex<Instant>,
}

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

/// A unique, increasing id from the clock: µs since the epoch, bumped past the last one handed
/// out in this process. Used for rollup generations and site versions.
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
        Payload::SurveyResponse { survey_id, .. } => ("", "", 0.0, 0.0, 0.0, survey_id),
        Payload::Replay { recording_id, .. } => ("", "", 0.0, 0.0, 0.0, recording_id),
        Payload::Pageview { .. } => ("", "", 0.0, 0.0, 0.0, ""),
    }
}

impl ClickHouseWarehouse {
    /// Connect to `url` (`http://host:8123`, credentials may be in the URL), create
    /// `database` if missing, apply the migrations and check the schema. Errors name what is
    /// wrong; a schema mismatch lists every differing column.
    pub async fn connect(url: &str, database: &str) -> anyhow::Result<Arc<ClickHouseWarehouse>> {
        let valid = !database.is_empty()
            && database.len() <= 200
            && database.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && database.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        anyhow::ensure!(
            valid,
            "ClickHouse database name {database:?} must be letters, digits and _ (not starting with a digit)"
        );
        let mut parsed = url::Url::parse(url).with_context(|| format!("ClickHouse URL {url:?}"))?;
        let user = percent_encoding::percent_decode_str(parsed.username())
            .decode_utf8_lossy()
            .into_owned();
        let password = parsed
            .password()
            .map(|p| percent_encoding::percent_decode_str(p).decode_utf8_lossy().into_owned());
        let _ = parsed.set_username("");
        let _ = parsed.set_password(None);
        let mut base = Client::default()
            .with_url(parsed.as_str().trim_end_matches('/'))
            .with_validation(false)
            .with_setting("max_query_size", MAX_QUERY_SIZE);
        if !user.is_empty() {
            base = base.with_user(user);
        }
        if let Some(p) = password {
            base = base.with_password(p);
        }
        timed(
            name::CREATE_DATABASE,
            base.query(sql::sql(name::CREATE_DATABASE))
                .bind(Identifier(database))
                .execute(),
        )
        .await
        .with_context(|| format!("creating the ClickHouse database {database} at {}", parsed.as_str()))?;
        let w = ClickHouseWarehouse {
            client: base.with_database(database),
            database: database.to_string(),
            cleanup_every_ms: AtomicU64::new(600_000),
            last_cleanup: Mutex::new(Instant::now()),
        };
        w.migrate().await.context("applying the ClickHouse migrations")?;
        w.check_schema().await?;
        Ok(Arc::new(w))
    }

    /// How often `write_rollup` may start the background deletion of superseded rollup
    /// generations (default 10 min).
    pub fn set_cleanup_every(&self, every: Duration) {
        self.cleanup_every_ms.store(every.as_millis() as u64, Ordering::Relaxed);
    }

    /// The database this warehouse uses.
    pub fn database(&self) -> &str {
        &self.database
    }

    async fn exec(&self, op: &str) -> anyhow::Result<()> {
        timed(op, self.client.query(sql::sql(op)).execute()).await
    }

    async fn insert<R: Row + RowWrite>(&self, op: &'static str, rows: &[R::Value<'_>]) -> anyhow::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let table = sql::get(op)
            .insert
            .as_deref()
            .expect("an insert statement names its table");
        let mut ins =
            wrap(op, self.client.insert::<R>(table).await)?.with_timeouts(Some(SEND_TIMEOUT), Some(QUERY_TIMEOUT));
        for r in rows {
            wrap(op, ins.write(r).await)?;
        }
        wrap(op, ins.end().await)
    }

    /// Apply every migration not yet recorded in `schema_migrations`, in order.
    async fn migrate(&self) -> anyhow::Result<()> {
        self.exec(name::CREATE_SCHEMA_MIGRATIONS).await?;
        let applied: Vec<AppliedRow> = timed(
            name::APPLIED_MIGRATIONS,
            self.client.query(sql::sql(name::APPLIED_MIGRATIONS)).fetch_all(),
        )
        .await?;
        for a in &applied {
            match sql::MIGRATIONS.iter().find(|m| m.version == a.version) {
                Some(m) if m.checksum() != a.checksum => anyhow::bail!(
                    "migration {} was applied to database {} as {} with checksum {}, but this \
                     build's file has checksum {}: applied migrations must not be edited (add a new one)",
                    m.version,
                    self.database,
                    a.name,
                    a.checksum,
                    m.checksum()
                ),
                Some(_) => {}
                None => tracing::warn!(
                    version = a.version,
                    name = %a.name,
                    "database has a migration this build does not know (a newer Sightline?); the schema check decides"
                ),
            }
        }
        for m in sql::MIGRATIONS {
            if applied.iter().any(|a| a.version == m.version) {
                continue;
            }
            for (i, stmt) in m.statements().iter().enumerate() {
                timed(m.name, self.client.query_raw(stmt).execute())
                    .await
                    .with_context(|| format!("migration {} statement {}", m.name, i + 1))?;
            }
            let checksum = m.checksum();
            self.insert::<MigrationRow>(
                name::INSERT_SCHEMA_MIGRATION,
                &[MigrationRow {
                    version: m.version,
                    name: m.name,
                    checksum: &checksum,
                    applied_at: chrono::Utc::now().timestamp_millis(),
                }],
            )
            .await?;
            tracing::info!(migration = m.name, database = %self.database, "applied ClickHouse migration");
        }
        Ok(())
    }

    /// `DESCRIBE TABLE`: (name, type) of every column.
    pub async fn describe(&self, table: &str) -> anyhow::Result<Vec<(String, String)>> {
        let mut cur = wrap(
            name::DESCRIBE_TABLE,
            self.client
                .query(sql::sql(name::DESCRIBE_TABLE))
                .bind(Identifier(table))
                .fetch_bytes("TabSeparated"),
        )?;
        let bytes = timed(name::DESCRIBE_TABLE, cur.collect()).await?;
        let text = String::from_utf8_lossy(&bytes);
        let unescape = |s: &str| s.replace("\\'", "'").replace("\\\\", "\\");
        Ok(text
            .lines()
            .filter_map(|l| {
                let mut f = l.split('\t');
                Some((unescape(f.next()?), unescape(f.next()?)))
            })
            .collect())
    }

    /// Compare every Rust row we insert with `DESCRIBE TABLE` of its table; an error listing
    /// every mismatch if any (P4).
    pub async fn check_schema(&self) -> anyhow::Result<()> {
        let mut problems = Vec::new();
        for (op, cols) in insert_rows() {
            let table = sql::get(op).insert.as_deref().expect("insert table");
            let described = self.describe(table).await?;
            problems.extend(schema_mismatches(table, &cols, &described));
        }
        anyhow::ensure!(
            problems.is_empty(),
            "the ClickHouse schema of database {} does not match this build of Sightline; refusing to start:\n  {}\n\
             (the tables are created by src/warehouse/clickhouse/migrations/; fix the table or add a migration)",
            self.database,
            problems.join("\n  ")
        );
        Ok(())
    }

    async fn fetch<R: RowOwned + RowRead>(&self, op: &str, q: clickhouse::query::Query) -> anyhow::Result<Vec<R>> {
        timed(op, q.fetch_all::<R>()).await
    }

    /// The next dirty-mark version for these sites: above every mark and state version.
    async fn next_version(&self, sites: &[&str]) -> anyhow::Result<u64> {
        let q = self
            .client
            .query(sql::sql(name::NEXT_VERSION))
            .bind(Tuple(sites))
            .bind(Tuple(sites));
        let v: Vec<VersionRow> = self.fetch(name::NEXT_VERSION, q).await?;
        Ok(v.first().map(|r| r.version).unwrap_or(1).max(1))
    }

    async fn insert_marks(&self, marks: &BTreeSet<(&str, i64)>) -> anyhow::Result<()> {
        if marks.is_empty() {
            return Ok(());
        }
        let sites: Vec<&str> = marks.iter().map(|m| m.0).collect::<BTreeSet<_>>().into_iter().collect();
        let version = self.next_version(&sites).await?;
        let rows: Vec<DirtyMarkRow> = marks
            .iter()
            .map(|(site, day)| DirtyMarkRow {
                site,
                day: *day,
                version,
            })
            .collect();
        self.insert::<DirtyMarkRow>(name::INSERT_DIRTY_MARKS, &rows).await
    }

    /// Delete the rows and states of superseded rollup generations older than the grace
    /// period (best-effort `ALTER TABLE … DELETE`, run asynchronously by ClickHouse). Returns
    /// how many generations were submitted for deletion.
    pub async fn cleanup_superseded(&self) -> anyhow::Result<usize> {
        cleanup_superseded(&self.client, CLEANUP_GRACE).await
    }

    /// [`Self::cleanup_superseded`] with another grace period (tests: zero).
    pub async fn cleanup_superseded_older_than(&self, grace: Duration) -> anyhow::Result<usize> {
        cleanup_superseded(&self.client, grace).await
    }

    fn maybe_cleanup(&self) {
        {
            let mut last = match self.last_cleanup.lock() {
                Ok(l) => l,
                Err(_) => return,
            };
            if last.elapsed() < Duration::from_millis(self.cleanup_every_ms.load(Ordering::Relaxed)) {
                return;
            }
            *last = Instant::now();
        }
        let client = self.client.clone();
        tokio::spawn(async move {
            match cleanup_superseded(&client, CLEANUP_GRACE).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(generations = n, "deleting superseded ClickHouse rollup rows"),
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "deleting superseded ClickHouse rollup rows failed; will retry")
                }
            }
        });
    }
}

async fn cleanup_superseded(client: &Client, grace: Duration) -> anyhow::Result<usize> {
    let cutoff = now_micros().saturating_sub(grace.as_micros() as u64) + 1;
    let gens: Vec<GenRow> = timed(
        name::SUPERSEDED_GENERATIONS,
        client
            .query(sql::sql(name::SUPERSEDED_GENERATIONS))
            .bind(cutoff)
            .bind(cutoff)
            .fetch_all(),
    )
    .await?;
    let gens: Vec<u64> = gens.into_iter().map(|g| g.gen).collect();
    if gens.is_empty() {
        return Ok(0);
    }
    for op in [name::DELETE_ROLLUP_ROWS, name::DELETE_ROLLUP_STATE] {
        timed(op, client.query(sql::sql(op)).bind(Tuple(&gens)).execute()).await?;
    }
    Ok(gens.len())
}

#[async_trait]
impl Warehouse for ClickHouseWarehouse {
    async fn insert_events(&self, events: &[Event]) -> anyhow::Result<InsertReport> {
        if events.is_empty() {
            return Ok(InsertReport::default());
        }
        // The first copy of each id in the batch; later copies are duplicates.
        let mut seen = HashSet::new();
        let unique: Vec<&Event> = events.iter().filter(|e| seen.insert(e.id.as_str())).collect();
        let sites: Vec<&str> = unique
            .iter()
            .map(|e| e.site.as_str())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let sessions: Vec<&str> = unique
            .iter()
            .map(|e| e.session_id.as_str())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let ids: Vec<&str> = unique.iter().map(|e| e.id.as_str()).collect();

        let q = self
            .client
            .query(sql::sql(name::EXISTING_IDS))
            .bind(Tuple(&sites))
            .bind(Tuple(&sessions))
            .bind(Tuple(&ids));
        let existing: HashSet<String> = self
            .fetch::<IdRow>(name::EXISTING_IDS, q)
            .await?
            .into_iter()
            .map(|r| r.id)
            .collect();
        let fresh: Vec<&Event> = unique.iter().copied().filter(|e| !existing.contains(&e.id)).collect();
        let report = InsertReport {
            inserted: fresh.len() as u64,
            duplicates: (events.len() - fresh.len()) as u64,
        };

        let records: Vec<Blob> = fresh.iter().map(|e| Blob(e.encode())).collect();
        let rows: Vec<EventRow> = fresh
            .iter()
            .zip(records)
            .map(|(e, record)| {
                let (selector, zone, x, y, scroll_depth, name) = wide(e);
                EventRow {
                    id: &e.id,
                    site: &e.site,
                    session_id: &e.session_id,
                    visitor_id: &e.visitor_id,
                    ts: e.ts,
                    day: Date::of_ms(e.ts),
                    received_at: e.received_at,
                    r#type: e.type_name(),
                    page_key: &e.page_key,
                    url: &e.url,
                    device: e.device.as_str(),
                    bot: e.bot_reason.is_some() as u8,
                    bot_reason: e.bot_reason.as_deref().unwrap_or(""),
                    pageview_id: e.pageview_id.as_deref().unwrap_or(""),
                    selector,
                    zone,
                    x,
                    y,
                    scroll_depth,
                    name,
                    record,
                }
            })
            .collect();
        self.insert::<EventRow>(name::INSERT_EVENTS, &rows).await?;

        // Mark every day spanned by each session of the batch (now that its events are
        // visible), duplicates' sessions included: see the module docs.
        let q = self
            .client
            .query(sql::sql(name::SESSION_SPANS))
            .bind(Tuple(&sites))
            .bind(Tuple(&sessions));
        let spans: BTreeMap<(String, String), (i64, i64)> = self
            .fetch::<SpanRow>(name::SESSION_SPANS, q)
            .await?
            .into_iter()
            .map(|r| ((r.site, r.session_id), (r.first_ts, r.last_ts)))
            .collect();
        let mut batch_spans: BTreeMap<(&str, &str), (i64, i64)> = BTreeMap::new();
        for e in &unique {
            let s = batch_spans
                .entry((e.site.as_str(), e.session_id.as_str()))
                .or_insert((e.ts, e.ts));
            s.0 = s.0.min(e.ts);
            s.1 = s.1.max(e.ts);
        }
        let mut marks = BTreeSet::new();
        for ((site, session), (lo, hi)) in batch_spans {
            let (lo, hi) = match spans.get(&(site.to_string(), session.to_string())) {
                Some(&(a, b)) => (a.min(lo), b.max(hi)),
                None => (lo, hi),
            };
            let mut d = day_of(lo);
            while d <= day_of(hi) {
                marks.insert((site, d));
                d += DAY_MS;
            }
        }
        self.insert_marks(&marks).await?;
        Ok(report)
    }

    async fn dirty_days(&self, limit: usize) -> anyhow::Result<Vec<DirtyDay>> {
        let q = self.client.query(sql::sql(name::DIRTY_DAYS)).bind(limit as u64);
        Ok(self
            .fetch::<DirtyRow>(name::DIRTY_DAYS, q)
            .await?
            .into_iter()
            .map(|r| DirtyDay {
                site: r.site,
                day: r.day,
                version: r.version as i64,
            })
            .collect())
    }

    async fn mark_dirty(&self, site: &str, from_day: i64, to_day: i64) -> anyhow::Result<()> {
        let mut marks = BTreeSet::new();
        let mut d = day_of(from_day);
        while d < to_day {
            marks.insert((site, d));
            d += DAY_MS;
        }
        self.insert_marks(&marks).await
    }

    async fn session_events_for_day(&self, site: &str, day: i64) -> anyhow::Result<Vec<Event>> {
        let q = self
            .client
            .query(sql::sql(name::SESSION_EVENTS))
            .bind(site)
            .bind(site)
            .bind(date_string(day))
            .bind(day)
            .bind(day + DAY_MS);
        self.fetch::<RecordRow>(name::SESSION_EVENTS, q)
            .await?
            .iter()
            .map(|r| Event::decode(&r.record.0).context("decoding a stored event"))
            .collect()
    }

    async fn write_rollup(&self, site: &str, day: i64, version: i64, rollup: &DayRollup) -> anyhow::Result<()> {
        let gen = next_gen();
        let version = version.max(0) as u64;
        let stored = to_stored(rollup);
        let rows: Vec<RollupRowRow> = stored
            .iter()
            .enumerate()
            .map(|(n, r)| RollupRowRow {
                site,
                day,
                version,
                gen,
                part: r.part.name(),
                page: &r.page,
                n: n as u32,
                data: &r.data,
            })
            .collect();
        self.insert::<RollupRowRow>(name::INSERT_ROLLUP_ROWS, &rows).await?;
        self.insert::<RollupStateRow>(
            name::INSERT_ROLLUP_STATE,
            &[RollupStateRow {
                site,
                day,
                version,
                gen,
            }],
        )
        .await?;
        self.maybe_cleanup();
        Ok(())
    }

    async fn read_rollup(&self, q: &RollupQuery) -> anyhow::Result<DayRollup> {
        let mut out = DayRollup::default();
        if q.parts.is_empty() || q.from_day >= q.to_day {
            return Ok(out);
        }
        let parts: Vec<&str> = q.parts.iter().map(|p| p.name()).collect();
        let page_parts: Vec<&str> = Part::ALL
            .into_iter()
            .filter(|p| p.is_page_level())
            .map(|p| p.name())
            .collect();
        let query = self
            .client
            .query(sql::sql(name::READ_ROLLUP))
            .bind(q.site.as_str())
            .bind(q.from_day)
            .bind(q.to_day)
            .bind(Tuple(&parts))
            .bind(q.page.is_some() as u8)
            .bind(q.page.as_deref().unwrap_or(""))
            .bind(Tuple(&page_parts))
            .bind(q.site.as_str())
            .bind(q.from_day)
            .bind(q.to_day);
        for r in self.fetch::<PartDataRow>(name::READ_ROLLUP, query).await? {
            let part =
                Part::parse(&r.part).with_context(|| format!("unknown rollup part {:?} in ClickHouse", r.part))?;
            push_stored(&mut out, part, &r.data)?;
        }
        Ok(out)
    }

    async fn count_events(&self, site: &str) -> anyhow::Result<u64> {
        let q = self.client.query(sql::sql(name::COUNT_EVENTS)).bind(site);
        Ok(self
            .fetch::<CountRow>(name::COUNT_EVENTS, q)
            .await?
            .first()
            .map(|r| r.events)
            .unwrap_or(0))
    }

    async fn sites(&self) -> anyhow::Result<Vec<Site>> {
        let q = self.client.query(sql::sql(name::SITES));
        self.fetch::<JsonRow>(name::SITES, q)
            .await?
            .iter()
            .map(|r| serde_json::from_str(&r.json).context("decoding a stored site"))
            .collect()
    }

    async fn put_site(&self, site: &Site) -> anyhow::Result<()> {
        let json = serde_json::to_string(site)?;
        self.insert::<SiteRow>(
            name::INSERT_SITES,
            &[SiteRow {
                key: &site.key,
                json: &json,
                updated_at: next_gen(),
            }],
        )
        .await
    }

    async fn delete_visitor(&self, site: &str, visitor: &str) -> anyhow::Result<(u64, Vec<i64>)> {
        let q = self.client.query(sql::sql(name::VISITOR_DAYS)).bind(site).bind(visitor);
        let days: Vec<i64> = self
            .fetch::<DayRow>(name::VISITOR_DAYS, q)
            .await?
            .iter()
            .map(|r| r.day)
            .collect();
        let before = self.count_visitor_events(site, visitor).await?;
        if before > 0 {
            let q = self
                .client
                .query(sql::sql(name::DELETE_VISITOR_EVENTS))
                .bind(site)
                .bind(visitor);
            timed(name::DELETE_VISITOR_EVENTS, q.execute()).await?;
            // A mutation runs in the background (18.16 has no `mutations_sync`): wait for it,
            // so the days are recomputed without the visitor.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
            while self.count_visitor_events(site, visitor).await? > 0 {
                anyhow::ensure!(
                    std::time::Instant::now() < deadline,
                    "ClickHouse did not finish deleting the visitor's events within 300 s"
                );
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
        let marks: BTreeSet<(&str, i64)> = days.iter().map(|d| (site, *d)).collect();
        self.insert_marks(&marks).await?;
        Ok((before, days))
    }

    async fn drop_before(&self, site: &str, before_day: i64) -> anyhow::Result<u64> {
        let count = || async {
            let q = self
                .client
                .query(sql::sql(name::COUNT_EVENTS_BEFORE))
                .bind(site)
                .bind(before_day);
            anyhow::Ok(
                self.fetch::<CountRow>(name::COUNT_EVENTS_BEFORE, q)
                    .await?
                    .first()
                    .map(|r| r.events)
                    .unwrap_or(0),
            )
        };
        let before = count().await?;
        for op in [name::DELETE_EVENTS_BEFORE, name::DELETE_ROLLUPS_BEFORE] {
            let q = self.client.query(sql::sql(op)).bind(site).bind(before_day);
            timed(op, q.execute()).await?;
        }
        // Mutations run in the background: wait for the raw events to be gone.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
        while before > 0 && count().await? > 0 {
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "ClickHouse did not finish the retention delete within 300 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        Ok(before)
    }

    async fn count_visitor_events(&self, site: &str, visitor: &str) -> anyhow::Result<u64> {
        let q = self
            .client
            .query(sql::sql(name::COUNT_VISITOR_EVENTS))
            .bind(site)
            .bind(visitor);
        Ok(self
            .fetch::<CountRow>(name::COUNT_VISITOR_EVENTS, q)
            .await?
            .first()
            .map(|r| r.events)
            .unwrap_or(0))
    }

    async fn put_forget(&self, rec: &ForgetRecord) -> anyhow::Result<()> {
        let json = serde_json::to_string(rec)?;
        self.insert::<ForgetRow>(
            name::INSERT_FORGETS,
            &[ForgetRow {
                id: &rec.id,
                json: &json,
                updated_at: next_gen(),
            }],
        )
        .await
    }

    async fn forgets(&self) -> anyhow::Result<Vec<ForgetRecord>> {
        let q = self.client.query(sql::sql(name::FORGETS));
        self.fetch::<JsonRow>(name::FORGETS, q)
            .await?
            .iter()
            .map(|r| serde_json::from_str(&r.json).context("decoding a forget record"))
            .collect()
    }

    async fn tokens(&self) -> anyhow::Result<Vec<ApiToken>> {
        let q = self.client.query(sql::sql(name::API_TOKENS));
        self.fetch::<JsonRow>(name::API_TOKENS, q)
            .await?
            .iter()
            .map(|r| serde_json::from_str(&r.json).context("decoding a stored API token"))
            .collect()
    }

    async fn put_token(&self, token: &ApiToken) -> anyhow::Result<()> {
        let json = serde_json::to_string(token)?;
        self.insert::<TokenRow>(
            name::INSERT_API_TOKENS,
            &[TokenRow {
                id: &token.id,
                json: &json,
                updated_at: next_gen(),
            }],
        )
        .await
    }

    async fn ready(&self) -> bool {
        let q = self.client.query(sql::sql(name::PING));
        matches!(
            tokio::time::timeout(Duration::from_secs(5), self.fetch::<PingRow>(name::PING, q)).await,
            Ok(Ok(v)) if v.first().map(|r| r.ok) == Some(1)
        )
    }
}

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
