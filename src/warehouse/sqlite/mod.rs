//! The embedded warehouse: SQLite (`<data-dir>/warehouse.db`) through `rusqlite` (bundled).
//!
//! Why SQLite: one file, no server, crash-safe transactions. The rollups are computed in Rust
//! per session; the store replaces a session's rows atomically and sums them per day at
//! read time ([`rollups`]). Raw events keep indexed columns for lookups and the full protobuf
//! record as a blob.

pub mod replay;
pub mod rollups;

use super::{
    bucket_of, DirtySession, EventBatch, InsertReport, RollupQuery, SessionList, SessionRollup, SessionsQuery, Shard,
    StoreError, Warehouse,
};
use crate::event::Event;
use crate::model::forget::ForgetRecord;
use crate::model::rows::{day_of, DayRollup};
use crate::model::token::ApiToken;
use crate::replay::StoredPart;
use crate::sites::Site;
use anyhow::Context;
use async_trait::async_trait;
use rusqlite::{params, Connection};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The SQLite warehouse.
pub struct SqliteWarehouse {
    conn: Arc<Mutex<Connection>>,
}

/// Mark a session dirty: a new mark, or the next version of its mark (the row keeps its
/// place in the oldest-first order).
const MARK: &str = "INSERT INTO dirty_sessions (site, session_id, bucket, version) VALUES (?1, ?2, ?3, 1)
     ON CONFLICT (site, session_id) DO UPDATE SET version = version + 1";

/// Mark sessions `(site, session id)` dirty with [`MARK`].
fn mark_sessions<'a>(c: &Connection, sessions: impl IntoIterator<Item = (&'a str, &'a str)>) -> rusqlite::Result<()> {
    let mut mark = c.prepare_cached(MARK)?;
    for (site, s) in sessions {
        mark.execute(params![site, s, bucket_of(s)])?;
    }
    Ok(())
}

/// The warehouse connection's page cache, KiB (SQLite's default is 2,000).
const CACHE_KIB: u32 = 16 * 1024;
/// Prepared statements kept: a rollup write cycles through up to five per rollup table
/// (delete, latest keys, day-total add, insert, refill) for every session, about 75 in all;
/// with rusqlite's default of 16 each call prepared its statement again (a third of the
/// rollup's write time in a soak profile).
const STATEMENT_CACHE: usize = 256;

/// WAL pages after which a commit copies the WAL back into the database file (SQLite's
/// default is 1,000).
const WAL_AUTOCHECKPOINT_PAGES: u32 = 10_000;

/// The unit of the events' time index, `events_site_day ON events (site, ts / 86400000)`:
/// UTC days (ingest refuses `ts` ≤ 0), ms; the SQL below writes the same number. A time range is read as its days (by the index) and its exact bounds. A
/// day is one key, and within it the rows are in the table's key order (the event id, time-
/// ordered for UUIDv7 ids), so a new event's index entry lands at the end of its day; an
/// index on `ts` put each at its time among the day's, a random page for the events of a
/// batch spanning minutes (the embedded sink took 36k rows/s with it, 88k without).
const DAY_INDEX_MS: i64 = 86_400_000;

/// The sessions with events in `[?2, ?3)` of site `?1`; `?4`, `?5`: the first and last
/// [`DAY_INDEX_MS`] day of the range (by the index `events_site_day`).
const MARK_DIRTY_SESSIONS: &str = "SELECT DISTINCT session_id FROM events
     WHERE site = ?1 AND ts / 86400000 BETWEEN ?4 AND ?5 AND ts >= ?2 AND ts < ?3";

/// Delete the events of site `?1` before `?2`; `?3`: the [`DAY_INDEX_MS`] day of `?2 - 1`.
const DROP_EVENTS_BEFORE: &str = "DELETE FROM events WHERE site = ?1 AND ts / 86400000 <= ?3 AND ts < ?2";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    session_id TEXT NOT NULL,
    ts INTEGER NOT NULL,
    type TEXT NOT NULL,
    page_key TEXT NOT NULL,
    bot INTEGER NOT NULL,
    record BLOB NOT NULL
) WITHOUT ROWID;
DROP INDEX IF EXISTS events_site_ts;
CREATE INDEX IF NOT EXISTS events_site_day ON events (site, ts / 86400000);
CREATE INDEX IF NOT EXISTS events_site_session ON events (site, session_id);
DROP TABLE IF EXISTS dirty;
DROP TABLE IF EXISTS rollup_rows;
CREATE TABLE IF NOT EXISTS dirty_sessions (
    site TEXT NOT NULL, session_id TEXT NOT NULL, bucket INTEGER NOT NULL, version INTEGER NOT NULL,
    UNIQUE (site, session_id)
);
CREATE TABLE IF NOT EXISTS sites (key TEXT PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS api_tokens (id TEXT PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS forgets (id TEXT PRIMARY KEY, json TEXT NOT NULL);
";

impl SqliteWarehouse {
    /// Open (creating) `<dir>/warehouse.db`.
    pub fn open(dir: &Path) -> anyhow::Result<Arc<SqliteWarehouse>> {
        std::fs::create_dir_all(dir)?;
        let mut c = Connection::open(dir.join("warehouse.db"))?;
        c.pragma_update(None, "journal_mode", "WAL")?;
        c.pragma_update(None, "synchronous", "NORMAL")?;
        // Deleted rows are overwritten, not left in free pages: a forgotten visitor is gone
        // from the file too (crate::privacy).
        c.pragma_update(None, "secure_delete", "ON")?;
        // A sink batch (10,000 rows, about 6 MB of pages) fits the page cache, so none spills
        // to the WAL before its commit; and the WAL is copied back into the file every 10,000
        // pages (about 40 MB) rather than SQLite's 1,000, so a page rewritten by several
        // batches is copied once. Together +15-25 % rows/s for the sink (docs/performance.md).
        c.pragma_update(None, "cache_size", -(CACHE_KIB as i64))?;
        c.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
        c.busy_timeout(std::time::Duration::from_secs(10))?;
        c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // A data dir from before a rollup table existed or had its current columns (the
        // day-based rollups, or per-session rollups of an older build): such tables are
        // dropped and recreated, and every session is marked dirty, so the rollup job rebuilds
        // them from the raw events.
        let had_events: bool = c.query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'events'",
            [],
            |r| r.get(0),
        )?;
        let ts_index: bool = c
            .prepare("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'events_site_ts'")?
            .exists([])?;
        if ts_index {
            tracing::info!("replacing the events' time index by a day index (once: reads every stored event)");
        }
        let mut missing_rollups = false;
        for t in rollups::TABLES {
            let have: Vec<String> = c
                .prepare(&format!("SELECT name FROM pragma_table_info('{}')", t.name))?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            if have != rollups::table_columns(t) {
                missing_rollups = true;
                if !have.is_empty() {
                    c.execute_batch(&format!(
                        "DROP TABLE {}; DROP TABLE IF EXISTS {};",
                        t.name,
                        rollups::day_table(t)
                    ))?;
                }
            }
        }
        let missing_rollups = had_events && missing_rollups;
        c.execute_batch(SCHEMA)?;
        c.execute_batch(replay::SCHEMA)?;
        c.execute_batch(&rollups::schema())?;
        if missing_rollups {
            let sessions: Vec<(String, String)> = {
                let mut st = c.prepare("SELECT DISTINCT site, session_id FROM events")?;
                let v = st
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                v
            };
            let tx = c.transaction()?;
            {
                mark_sessions(&tx, sessions.iter().map(|(site, s)| (site.as_str(), s.as_str())))?;
            }
            tx.commit()?;
            tracing::info!(
                sessions = sessions.len(),
                "rollup tables added: every session marked for recompute"
            );
        }
        Ok(Arc::new(SqliteWarehouse {
            conn: Arc::new(Mutex::new(c)),
        }))
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = conn.lock().map_err(|_| anyhow::anyhow!("warehouse lock poisoned"))?;
            f(&mut c)
        })
        .await?
    }
}

#[async_trait]
impl Warehouse for SqliteWarehouse {
    /// Every SQLite failure (busy, I/O, a full disk) is [`StoreError::Unavailable`]: the
    /// database takes any row the sink sends.
    async fn insert_batch(&self, batch: Arc<EventBatch>) -> Result<InsertReport, StoreError> {
        self.with(move |c| {
            let tx = c.transaction()?;
            let mut report = InsertReport::default();
            let mut sessions = BTreeSet::new();
            {
                let mut ins = tx.prepare_cached(
                    "INSERT INTO events (id, site, session_id, ts, type, page_key, bot, record)
                     VALUES (?1,?2,?3,?4,?5,?6,?7,?8) ON CONFLICT (id) DO NOTHING",
                )?;
                // Replay-chunk parts go to their own table (crate::replay), never to the events.
                for (e, rec) in batch.iter().filter(|(e, _)| e.type_name() != "replay_chunk") {
                    let row = params![
                        e.id,
                        e.site,
                        e.session_id,
                        e.ts,
                        e.type_name(),
                        e.page_key,
                        e.bot_reason.is_some(),
                        rec
                    ];
                    if ins.execute(row)? == 1 {
                        report.inserted += 1;
                        sessions.insert((e.site.as_str(), e.session_id.as_str()));
                    } else {
                        report.duplicates += 1;
                    }
                }
                mark_sessions(&tx, sessions)?;
                let (new, dup) = replay::insert(&tx, &crate::replay::parts_of(batch.events()))?;
                report.inserted += new;
                report.duplicates += dup;
            }
            tx.commit()?;
            Ok(report)
        })
        .await
        .map_err(StoreError::Unavailable)
    }

    async fn dirty_sessions(&self, limit: usize, shard: &Shard) -> anyhow::Result<Vec<DirtySession>> {
        if shard.is_empty() {
            return Ok(Vec::new());
        }
        // One flag per bucket ('1': taken), so that any shard is one statement.
        let flags = shard.bucket_flags();
        self.with(move |c| {
            let mut st = c.prepare_cached(
                "SELECT site, session_id, version FROM dirty_sessions WHERE substr(?2, bucket + 1, 1) = '1' ORDER BY rowid LIMIT ?1",
            )?;
            let v = st
                .query_map(params![limit as i64, flags], |r| {
                    Ok(DirtySession {
                        site: r.get(0)?,
                        session_id: r.get(1)?,
                        version: r.get(2)?,
                        fresh: false,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(v)
        })
        .await
    }

    async fn mark_dirty(&self, site: &str, from_day: i64, to_day: i64) -> anyhow::Result<u64> {
        let site = site.to_string();
        self.with(move |c| {
            let tx = c.transaction()?;
            let sessions: Vec<String> = {
                let mut st = tx.prepare_cached(MARK_DIRTY_SESSIONS)?;
                let (from, to) = (day_of(from_day), to_day);
                let v = st
                    .query_map(
                        params![site, from, to, from / DAY_INDEX_MS, to.saturating_sub(1) / DAY_INDEX_MS],
                        |r| r.get(0),
                    )?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                v
            };
            {
                mark_sessions(&tx, sessions.iter().map(|s| (site.as_str(), s.as_str())))?;
            }
            tx.commit()?;
            Ok(sessions.len() as u64)
        })
        .await
    }

    async fn session_events(&self, site: &str, session_ids: &[String]) -> anyhow::Result<Vec<Event>> {
        let site = site.to_string();
        let ids: BTreeSet<String> = session_ids.iter().cloned().collect();
        self.with(move |c| {
            let mut st = c.prepare_cached("SELECT record FROM events WHERE site = ?1 AND session_id = ?2")?;
            let mut out = Vec::new();
            for id in &ids {
                let mut rows = st.query(params![site, id])?;
                while let Some(r) = rows.next()? {
                    let b = r.get_ref(0)?.as_blob()?;
                    out.push(Event::decode(b).context("decoding a stored event")?);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn write_sessions(&self, site: &str, done: &[DirtySession], rows: &[SessionRollup]) -> anyhow::Result<()> {
        let site = site.to_string();
        let done = done.to_vec();
        let rows = rows.to_vec();
        self.with(move |c| {
            let tx = c.transaction()?;
            let ids: Vec<String> = done.iter().map(|d| d.session_id.clone()).collect();
            rollups::replace(&tx, &site, &ids, &rows)?;
            {
                let mut clear = tx.prepare_cached(
                    "DELETE FROM dirty_sessions WHERE site = ?1 AND session_id = ?2 AND version = ?3",
                )?;
                for d in &done {
                    clear.execute(params![site, d.session_id, d.version])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn read_rollup(&self, q: &RollupQuery) -> anyhow::Result<DayRollup> {
        let q = q.clone();
        self.with(move |c| rollups::read(c, &q)).await
    }

    async fn voc_counts(&self, q: &RollupQuery) -> anyhow::Result<crate::model::feedback::VocCounts> {
        if !q.segment.is_empty() || q.page.is_some() {
            return super::voc_counts_by_reading(self, q).await;
        }
        let q = q.clone();
        self.with(move |c| rollups::voc_counts(c, &q)).await
    }

    async fn list_sessions(&self, q: &SessionsQuery) -> anyhow::Result<SessionList> {
        if q.filter.page.is_some() || q.filter.selector.is_some() {
            // Page and element filters look into the detail rows: read and list them.
            return super::list_sessions_by_reading(self, q).await;
        }
        let q = q.clone();
        self.with(move |c| rollups::list_sessions(c, &q)).await
    }

    async fn count_events(&self, site: &str) -> anyhow::Result<u64> {
        let site = site.to_string();
        self.with(move |c| {
            Ok(c.query_row("SELECT count(*) FROM events WHERE site = ?1", [site], |r| {
                r.get::<_, i64>(0)
            })? as u64)
        })
        .await
    }

    async fn sites(&self) -> anyhow::Result<Vec<Site>> {
        self.with(|c| {
            let mut st = c.prepare_cached("SELECT json FROM sites")?;
            let v = st
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            v.iter()
                .map(|j| serde_json::from_str(j).context("decoding a stored site"))
                .collect()
        })
        .await
    }

    async fn put_site(&self, site: &Site) -> anyhow::Result<()> {
        let key = site.key.clone();
        let json = serde_json::to_string(site)?;
        self.with(move |c| {
            c.execute(
                "INSERT INTO sites (key, json) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET json = excluded.json",
                params![key, json],
            )?;
            Ok(())
        })
        .await
    }

    async fn delete_visitor(&self, site: &str, visitor: &str) -> anyhow::Result<(u64, Vec<i64>)> {
        let (site, visitor) = (site.to_string(), visitor.to_string());
        self.with(move |c| {
            let tx = c.transaction()?;
            // The events table has no visitor column: decode the site's records (an erasure
            // is rare; a scan is fine).
            let mut ids = Vec::new();
            let mut days = BTreeSet::new();
            let mut sessions = BTreeSet::new();
            {
                let mut st = tx.prepare("SELECT id, ts, session_id, record FROM events WHERE site = ?1")?;
                let mut rows = st.query(params![site])?;
                while let Some(r) = rows.next()? {
                    let record = r.get_ref(3)?.as_blob()?;
                    if Event::decode(record).is_ok_and(|e| e.visitor_id == visitor) {
                        ids.push(r.get::<_, String>(0)?);
                        days.insert(day_of(r.get::<_, i64>(1)?));
                        sessions.insert(r.get::<_, String>(2)?);
                    }
                }
            }
            {
                let mut del = tx.prepare_cached("DELETE FROM events WHERE id = ?1")?;
                for id in &ids {
                    del.execute(params![id])?;
                }
                mark_sessions(&tx, sessions.iter().map(|s| (site.as_str(), s.as_str())))?;
            }
            replay::delete_visitor(&tx, &site, &visitor)?;
            tx.commit()?;
            // Old page versions live on in the WAL until a checkpoint: fold them in now.
            let _ = c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
            Ok((ids.len() as u64, days.into_iter().collect()))
        })
        .await
    }

    async fn delete_site(&self, key: &str) -> anyhow::Result<u64> {
        let site = key.to_string();
        self.with(move |c| {
            let tx = c.transaction()?;
            tx.execute("DELETE FROM sites WHERE key = ?1", params![site])?;
            tx.execute("DELETE FROM dirty_sessions WHERE site = ?1", params![site])?;
            tx.commit()?;
            Ok(())
        })
        .await?;
        self.drop_before(key, i64::MAX).await
    }

    async fn drop_before(&self, site: &str, before_day: i64) -> anyhow::Result<u64> {
        let site = site.to_string();
        self.with(move |c| {
            let tx = c.transaction()?;
            let n = tx.execute(
                DROP_EVENTS_BEFORE,
                params![site, before_day, before_day.saturating_sub(1) / DAY_INDEX_MS],
            )?;
            replay::delete_before(&tx, &site, before_day)?;
            for t in rollups::TABLES {
                let day_table = t.additive.then(|| rollups::day_table(t));
                for table in std::iter::once(t.name).chain(day_table.as_deref()) {
                    tx.execute(
                        &format!("DELETE FROM {table} WHERE site = ?1 AND day < ?2"),
                        params![site, before_day],
                    )?;
                }
            }
            tx.commit()?;
            Ok(n as u64)
        })
        .await
    }

    async fn replay_parts(&self, site: &str, sessions: &[String], with_data: bool) -> anyhow::Result<Vec<StoredPart>> {
        let (site, sessions) = (site.to_string(), sessions.to_vec());
        self.with(move |c| replay::read(c, &site, &sessions, with_data)).await
    }

    async fn count_visitor_events(&self, site: &str, visitor: &str) -> anyhow::Result<u64> {
        let (site, visitor) = (site.to_string(), visitor.to_string());
        self.with(move |c| {
            let mut st = c.prepare("SELECT record FROM events WHERE site = ?1")?;
            let mut rows = st.query(params![site])?;
            let mut n = 0;
            while let Some(r) = rows.next()? {
                let record: Vec<u8> = r.get(0)?;
                n += Event::decode(&record).is_ok_and(|e| e.visitor_id == visitor) as u64;
            }
            Ok(n)
        })
        .await
    }

    async fn put_forget(&self, rec: &ForgetRecord) -> anyhow::Result<()> {
        let (id, json) = (rec.id.clone(), serde_json::to_string(rec)?);
        self.with(move |c| {
            c.execute(
                "INSERT INTO forgets (id, json) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET json = excluded.json",
                params![id, json],
            )?;
            Ok(())
        })
        .await
    }

    async fn forgets(&self) -> anyhow::Result<Vec<ForgetRecord>> {
        self.with(|c| {
            let mut st = c.prepare_cached("SELECT json FROM forgets ORDER BY id")?;
            let v = st
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            v.iter()
                .map(|j| serde_json::from_str(j).context("decoding a forget record"))
                .collect()
        })
        .await
    }

    async fn tokens(&self) -> anyhow::Result<Vec<ApiToken>> {
        self.with(|c| {
            let mut st = c.prepare_cached("SELECT json FROM api_tokens")?;
            let v = st
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            v.iter()
                .map(|j| serde_json::from_str(j).context("decoding a stored API token"))
                .collect()
        })
        .await
    }

    async fn put_token(&self, token: &ApiToken) -> anyhow::Result<()> {
        let id = token.id.clone();
        let json = serde_json::to_string(token)?;
        self.with(move |c| {
            c.execute(
                "INSERT INTO api_tokens (id, json) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET json = excluded.json",
                params![id, json],
            )?;
            Ok(())
        })
        .await
    }

    async fn ready(&self) -> bool {
        self.with(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_reads_of_the_events_use_the_day_index() {
        let dir = tempfile::tempdir().unwrap();
        let w = SqliteWarehouse::open(dir.path()).unwrap();
        let c = w.conn.lock().unwrap();
        assert!(SCHEMA.contains(&format!("ts / {DAY_INDEX_MS})")));
        let args: [&dyn rusqlite::ToSql; 5] = [&"s", &0, &1, &0, &0];
        for (sql, n) in [(MARK_DIRTY_SESSIONS, 5), (DROP_EVENTS_BEFORE, 3)] {
            assert!(sql.contains(&format!("ts / {DAY_INDEX_MS} ")), "{sql}");
            let plan: Vec<String> = c
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map(&args[..n], |r| r.get(3))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            assert!(plan.iter().any(|p| p.contains("events_site_day")), "{sql}: {plan:?}");
        }
    }
}
