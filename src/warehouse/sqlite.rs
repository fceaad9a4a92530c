//! The embedded warehouse: SQLite (`<data-dir>/warehouse.db`) through `rusqlite` (bundled).
//!
//! Why SQLite: one file, no server, crash-safe transactions, and the rollups are computed in
//! Rust anyway, so the store only needs keyed reads and atomic replacement of a day's rows.
//! Raw events keep indexed columns for lookups and the full protobuf record as a blob.

use super::{push_stored, to_stored, DirtyDay, InsertReport, RollupQuery, Warehouse};
use crate::access::ApiToken;
use crate::event::Event;
use crate::privacy::ForgetRecord;
use crate::rollup::{day_of, DayRollup, DAY_MS};
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
CREATE INDEX IF NOT EXISTS events_site_ts ON events (site, ts);
CREATE INDEX IF NOT EXISTS events_site_session ON events (site, session_id);
CREATE TABLE IF NOT EXISTS dirty (
    site TEXT NOT NULL, day INTEGER NOT NULL, version INTEGER NOT NULL,
    PRIMARY KEY (site, day)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_rows (
    site TEXT NOT NULL, day INTEGER NOT NULL, part TEXT NOT NULL, page TEXT NOT NULL, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rollup_rows_key ON rollup_rows (site, part, day, page);
CREATE TABLE IF NOT EXISTS sites (key TEXT PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS api_tokens (id TEXT PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS forgets (id TEXT PRIMARY KEY, json TEXT NOT NULL);
";

impl SqliteWarehouse {
    /// Open (creating) `<dir>/warehouse.db`.
    pub fn open(dir: &Path) -> anyhow::Result<Arc<SqliteWarehouse>> {
        std::fs::create_dir_all(dir)?;
        let c = Connection::open(dir.join("warehouse.db"))?;
        c.pragma_update(None, "journal_mode", "WAL")?;
        c.pragma_update(None, "synchronous", "NORMAL")?;
        // Deleted rows are overwritten, not left in free pages: a forgotten visitor is gone
        // from the file too (crate::privacy).
        c.pragma_update(None, "secure_delete", "ON")?;
        c.busy_timeout(std::time::Duration::from_secs(10))?;
        c.execute_batch(SCHEMA)?;
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
    async fn insert_events(&self, events: &[Event]) -> anyhow::Result<InsertReport> {
        let rows: Vec<(String, String, String, i64, &'static str, String, bool, Vec<u8>)> = events
            .iter()
            .map(|e| {
                (
                    e.id.clone(),
                    e.site.clone(),
                    e.session_id.clone(),
                    e.ts,
                    e.type_name(),
                    e.page_key.clone(),
                    e.bot_reason.is_some(),
                    e.encode(),
                )
            })
            .collect();
        self.with(move |c| {
            let tx = c.transaction()?;
            let mut report = InsertReport::default();
            let mut sessions = BTreeSet::new();
            {
                let mut ins = tx.prepare_cached(
                    "INSERT INTO events (id, site, session_id, ts, type, page_key, bot, record)
                     VALUES (?1,?2,?3,?4,?5,?6,?7,?8) ON CONFLICT (id) DO NOTHING",
                )?;
                for (id, site, session, ts, typ, page, bot, rec) in &rows {
                    if ins.execute(params![id, site, session, ts, typ, page, bot, rec])? == 1 {
                        report.inserted += 1;
                        sessions.insert((site.clone(), session.clone()));
                    } else {
                        report.duplicates += 1;
                    }
                }
                let mut span =
                    tx.prepare_cached("SELECT min(ts), max(ts) FROM events WHERE site = ?1 AND session_id = ?2")?;
                let mut mark = tx.prepare_cached(
                    "INSERT INTO dirty (site, day, version) VALUES (?1, ?2, 1)
                     ON CONFLICT (site, day) DO UPDATE SET version = version + 1",
                )?;
                for (site, session) in &sessions {
                    let (lo, hi): (i64, i64) =
                        span.query_row(params![site, session], |r| Ok((r.get(0)?, r.get(1)?)))?;
                    let mut d = day_of(lo);
                    while d <= day_of(hi) {
                        mark.execute(params![site, d])?;
                        d += DAY_MS;
                    }
                }
            }
            tx.commit()?;
            Ok(report)
        })
        .await
    }

    async fn dirty_days(&self, limit: usize) -> anyhow::Result<Vec<DirtyDay>> {
        self.with(move |c| {
            let mut st = c.prepare_cached("SELECT site, day, version FROM dirty ORDER BY day, site LIMIT ?1")?;
            let v = st
                .query_map([limit as i64], |r| {
                    Ok(DirtyDay {
                        site: r.get(0)?,
                        day: r.get(1)?,
                        version: r.get(2)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(v)
        })
        .await
    }

    async fn mark_dirty(&self, site: &str, from_day: i64, to_day: i64) -> anyhow::Result<()> {
        let site = site.to_string();
        self.with(move |c| {
            let tx = c.transaction()?;
            let mut d = day_of(from_day);
            while d < to_day {
                tx.execute(
                    "INSERT INTO dirty (site, day, version) VALUES (?1, ?2, 1)
                     ON CONFLICT (site, day) DO UPDATE SET version = version + 1",
                    params![site, d],
                )?;
                d += DAY_MS;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn session_events_for_day(&self, site: &str, day: i64) -> anyhow::Result<Vec<Event>> {
        let site = site.to_string();
        self.with(move |c| {
            let mut st = c.prepare_cached(
                "SELECT record FROM events WHERE site = ?1 AND session_id IN
                   (SELECT DISTINCT session_id FROM events WHERE site = ?1 AND ts >= ?2 AND ts < ?3)",
            )?;
            let blobs = st
                .query_map(params![site, day, day + DAY_MS], |r| r.get::<_, Vec<u8>>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            blobs
                .iter()
                .map(|b| Event::decode(b).context("decoding a stored event"))
                .collect()
        })
        .await
    }

    async fn write_rollup(&self, site: &str, day: i64, version: i64, rollup: &DayRollup) -> anyhow::Result<()> {
        let site = site.to_string();
        let rows = to_stored(rollup);
        self.with(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "DELETE FROM rollup_rows WHERE site = ?1 AND day = ?2",
                params![site, day],
            )?;
            {
                let mut ins =
                    tx.prepare_cached("INSERT INTO rollup_rows (site, day, part, page, data) VALUES (?1,?2,?3,?4,?5)")?;
                for r in &rows {
                    ins.execute(params![site, day, r.part.name(), r.page, r.data])?;
                }
            }
            tx.execute(
                "DELETE FROM dirty WHERE site = ?1 AND day = ?2 AND version = ?3",
                params![site, day, version],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn read_rollup(&self, q: &RollupQuery) -> anyhow::Result<DayRollup> {
        let q = q.clone();
        self.with(move |c| {
            let mut out = DayRollup::default();
            for part in &q.parts {
                // `?5` is the page filter, NULL when the part is not page-level or no page was asked for.
                let mut st = c.prepare_cached(
                    "SELECT data FROM rollup_rows WHERE site = ?1 AND part = ?2 AND day >= ?3 AND day < ?4 AND (?5 IS NULL OR page = ?5)",
                )?;
                let page = q.page.as_deref().filter(|_| part.is_page_level());
                let rows = st.query_map(params![q.site, part.name(), q.from_day, q.to_day, page], |r| r.get::<_, String>(0))?;
                for data in rows {
                    push_stored(&mut out, *part, &data?)?;
                }
            }
            Ok(out)
        })
        .await
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
            {
                let mut st = tx.prepare("SELECT id, ts, record FROM events WHERE site = ?1")?;
                let mut rows = st.query(params![site])?;
                while let Some(r) = rows.next()? {
                    let record: Vec<u8> = r.get(2)?;
                    if Event::decode(&record).is_ok_and(|e| e.visitor_id == visitor) {
                        ids.push(r.get::<_, String>(0)?);
                        days.insert(day_of(r.get::<_, i64>(1)?));
                    }
                }
            }
            {
                let mut del = tx.prepare_cached("DELETE FROM events WHERE id = ?1")?;
                for id in &ids {
                    del.execute(params![id])?;
                }
                for d in &days {
                    tx.execute(
                        "INSERT INTO dirty (site, day, version) VALUES (?1, ?2, 1)
                         ON CONFLICT (site, day) DO UPDATE SET version = version + 1",
                        params![site, d],
                    )?;
                }
            }
            tx.commit()?;
            // Old page versions live on in the WAL until a checkpoint: fold them in now.
            let _ = c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
            Ok((ids.len() as u64, days.into_iter().collect()))
        })
        .await
    }

    async fn drop_before(&self, site: &str, before_day: i64) -> anyhow::Result<u64> {
        let site = site.to_string();
        self.with(move |c| {
            let tx = c.transaction()?;
            let n = tx.execute(
                "DELETE FROM events WHERE site = ?1 AND ts < ?2",
                params![site, before_day],
            )?;
            tx.execute(
                "DELETE FROM rollup_rows WHERE site = ?1 AND day < ?2",
                params![site, before_day],
            )?;
            tx.execute(
                "DELETE FROM dirty WHERE site = ?1 AND day < ?2",
                params![site, before_day],
            )?;
            tx.commit()?;
            Ok(n as u64)
        })
        .await
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
