//! The id index: every accepted event id with its type, in a SQLite table
//! `ids(id PRIMARY KEY, type)`. It decides the dedup rule of `api.md` ("an event whose id
//! was already accepted counts as a duplicate") and the id-conflict rule of
//! `cases/ingest.md` I8 (the same id again with another type is flagged, not merged).
//!
//! One piece of SQL serves both logs:
//!
//! - The embedded log calls [`claim`] inside its own append transaction (table `ids` of
//!   `log.db`), so the claim and the append commit or roll back together.
//! - The Kafka log cannot dedup, so it keeps an [`IdIndex`] in its own file
//!   (`<data-dir>/kafka-ids.db`): it claims the ids of a batch before producing, then
//!   [`IdIndex::settle`]s the batch: ids whose delivery the broker acknowledged stay claimed,
//!   the others are released so that a client's retry is produced again instead of being
//!   reported as a duplicate of an event that never reached the log.
//!
//! A claim that is not settled yet is *pending* (table `pending`). A retry that meets a
//! pending id of its own type gets [`Claimed::InFlight`] (the log answers "unavailable",
//! ingest answers 503 + `Retry-After`): reporting it as a duplicate would lose the event if
//! the first attempt then fails. Pending claims left by a crashed process are released when
//! the index is opened again: their fate is unknown, so a retry produces them again and the
//! warehouse, which dedups by event id, keeps one copy.
//!
//! Scope: one index per process (per data directory). With several ingest processes, the
//! duplicate *report* in the `202` answer is per process: a retry that lands on another
//! process is counted as accepted there and produced again. Storage stays exactly-once
//! because the warehouse deduplicates by event id (`ReplacingMergeTree` keyed by id in
//! ClickHouse, a primary key in SQLite).

use super::AppendOutcome;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashSet;
use std::path::Path;
use std::sync::Mutex;

/// The `ids` table. Part of every database that dedups (`log.db`, `kafka-ids.db`).
pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS ids (id TEXT PRIMARY KEY, type TEXT NOT NULL) WITHOUT ROWID;";

/// Claim `id` for an event of type `typ`, on `conn` (the caller's transaction).
///
/// Returns [`AppendOutcome::Appended`] when the id is new (it is now claimed),
/// [`AppendOutcome::Duplicate`] when it was claimed before with the same type, and
/// [`AppendOutcome::Conflict`] with the earlier type otherwise.
pub fn claim(conn: &Connection, id: &str, typ: &str) -> rusqlite::Result<AppendOutcome> {
    let inserted = conn
        .prepare_cached("INSERT INTO ids (id, type) VALUES (?1, ?2) ON CONFLICT DO NOTHING")?
        .execute(params![id, typ])?;
    if inserted == 1 {
        return Ok(AppendOutcome::Appended);
    }
    let earlier: Option<String> = conn
        .prepare_cached("SELECT type FROM ids WHERE id = ?1")?
        .query_row(params![id], |r| r.get(0))
        .optional()?;
    Ok(match earlier {
        Some(t) if t != typ => AppendOutcome::Conflict(t),
        _ => AppendOutcome::Duplicate,
    })
}

/// Forget the claim of `id` (its event did not reach the log).
pub fn release(conn: &Connection, id: &str) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM ids WHERE id = ?1")?
        .execute(params![id])?;
    Ok(())
}

/// The result of [`IdIndex::claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// One outcome per item, in order. The `Appended` ones are claimed and pending until
    /// [`IdIndex::settle`].
    Outcomes(Vec<AppendOutcome>),
    /// An id of the batch is pending for an earlier, unfinished append of the same event;
    /// nothing was claimed. Holds that id.
    InFlight(String),
}

/// A standalone id index in its own SQLite file, for a log that cannot dedup (Kafka).
/// Blocking: call it from `spawn_blocking`.
pub struct IdIndex {
    conn: Mutex<Connection>,
}

impl IdIndex {
    /// Open (creating) the index at `path` and release the pending claims a previous
    /// process left behind (see the module docs).
    pub fn open(path: &Path) -> anyhow::Result<IdIndex> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // A lost claim only makes a retry produce again (the warehouse dedups), a lost
        // settle only releases an id: NORMAL is enough, no fsync per batch.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS pending (id TEXT PRIMARY KEY) WITHOUT ROWID;
             BEGIN;
             DELETE FROM ids WHERE id IN (SELECT id FROM pending);
             DELETE FROM pending;
             COMMIT;",
        )?;
        Ok(IdIndex { conn: Mutex::new(conn) })
    }

    /// Claim `(id, type)` pairs in one transaction. New ids become pending.
    pub fn claim(&self, items: &[(String, String)]) -> rusqlite::Result<Claimed> {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let tx = conn.transaction()?;
        let mut outcomes = Vec::with_capacity(items.len());
        // Ids claimed by this call: a repeat inside one batch is a plain duplicate.
        let mut mine: HashSet<&str> = HashSet::new();
        for (id, typ) in items {
            let outcome = claim(&tx, id, typ)?;
            match &outcome {
                AppendOutcome::Appended => {
                    tx.prepare_cached("INSERT INTO pending (id) VALUES (?1)")?
                        .execute(params![id])?;
                    mine.insert(id);
                }
                AppendOutcome::Duplicate if !mine.contains(id.as_str()) => {
                    let pending = tx
                        .prepare_cached("SELECT 1 FROM pending WHERE id = ?1")?
                        .exists(params![id])?;
                    if pending {
                        // Dropping `tx` rolls back this call's claims.
                        return Ok(Claimed::InFlight(id.clone()));
                    }
                }
                _ => {}
            }
            outcomes.push(outcome);
        }
        tx.commit()?;
        Ok(Claimed::Outcomes(outcomes))
    }

    /// Settle pending claims: `delivered` ids stay claimed, `failed` ids are released.
    pub fn settle(&self, delivered: &[String], failed: &[String]) -> rusqlite::Result<()> {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let tx = conn.transaction()?;
        {
            let mut unpend = tx.prepare_cached("DELETE FROM pending WHERE id = ?1")?;
            for id in delivered.iter().chain(failed) {
                unpend.execute(params![id])?;
            }
        }
        for id in failed {
            release(&tx, id)?;
        }
        tx.commit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn a_repeated_id_is_a_duplicate_and_another_type_a_conflict() {
        let dir = tempfile::tempdir().unwrap();
        let ix = IdIndex::open(&dir.path().join("ids.db")).unwrap();
        let first = ix.claim(&items(&[("a", "click"), ("a", "click")])).unwrap();
        assert_eq!(
            first,
            Claimed::Outcomes(vec![AppendOutcome::Appended, AppendOutcome::Duplicate])
        );
        ix.settle(&["a".into()], &[]).unwrap();
        let again = ix.claim(&items(&[("a", "click"), ("a", "scroll")])).unwrap();
        assert_eq!(
            again,
            Claimed::Outcomes(vec![AppendOutcome::Duplicate, AppendOutcome::Conflict("click".into())])
        );
    }

    #[test]
    fn a_retry_while_the_first_attempt_is_pending_is_in_flight_and_claims_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let ix = IdIndex::open(&dir.path().join("ids.db")).unwrap();
        ix.claim(&items(&[("a", "click")])).unwrap();
        assert_eq!(
            ix.claim(&items(&[("b", "click"), ("a", "click")])).unwrap(),
            Claimed::InFlight("a".into())
        );
        // "b" was rolled back with the rest of the call.
        ix.settle(&[], &["a".into()]).unwrap();
        assert_eq!(
            ix.claim(&items(&[("b", "click"), ("a", "click")])).unwrap(),
            Claimed::Outcomes(vec![AppendOutcome::Appended, AppendOutcome::Appended])
        );
    }

    #[test]
    fn a_failed_delivery_releases_the_id_so_the_retry_is_appended() {
        let dir = tempfile::tempdir().unwrap();
        let ix = IdIndex::open(&dir.path().join("ids.db")).unwrap();
        ix.claim(&items(&[("a", "click"), ("b", "click")])).unwrap();
        ix.settle(&["a".into()], &["b".into()]).unwrap();
        assert_eq!(
            ix.claim(&items(&[("a", "click"), ("b", "click")])).unwrap(),
            Claimed::Outcomes(vec![AppendOutcome::Duplicate, AppendOutcome::Appended])
        );
    }

    #[test]
    fn pending_claims_of_a_crashed_process_are_released_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ids.db");
        {
            let ix = IdIndex::open(&path).unwrap();
            ix.claim(&items(&[("settled", "click")])).unwrap();
            ix.settle(&["settled".into()], &[]).unwrap();
            ix.claim(&items(&[("unsettled", "click")])).unwrap();
        }
        let ix = IdIndex::open(&path).unwrap();
        assert_eq!(
            ix.claim(&items(&[("settled", "click"), ("unsettled", "click")]))
                .unwrap(),
            Claimed::Outcomes(vec![AppendOutcome::Duplicate, AppendOutcome::Appended])
        );
    }
}
