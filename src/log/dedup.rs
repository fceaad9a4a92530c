//! The id index: every accepted event id with its type, in a SQLite table
//! `id_keys(key PRIMARY KEY, type)`, the key being the id's [`IdKey`] (16 bytes). It decides the dedup rule of `api.md` ("an event whose id
//! was already accepted counts as a duplicate") and the id-conflict rule of
//! `cases/ingest.md` I8 (the same id again with another type is flagged, not merged).
//!
//! One piece of SQL serves both logs:
//!
//! - The embedded log calls [`claim`] inside its own append transaction (table `id_keys`
//!   of the shard's file), so the claim and the append commit or roll back together.
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
//! An id is kept as the first 16 bytes of its SHA-256 ([`IdKey`]), not as text: 16 bytes per
//! event instead of the id's 36 or more, and a fixed-size key. Two different ids share a key
//! only by a SHA-256 collision on 128 bits, which nobody, not even a client choosing ids
//! on purpose, can find (2^64 work); the dedup stays exact in practice. Files written
//! before keys (a `ids(id TEXT …)` table) are converted when opened ([`migrate`]).
//!
//! Scope: one index per process (per data directory). With several ingest processes, the
//! duplicate *report* in the `202` answer is per process: a retry that lands on another
//! process is counted as accepted there and produced again. Storage stays exactly-once
//! because the warehouse deduplicates by event id (`ReplacingMergeTree` keyed by id in
//! ClickHouse, a primary key in SQLite).

use super::AppendOutcome;
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::path::Path;
use std::sync::Mutex;

/// The `id_keys` table. Part of every database that dedups (each embedded log shard,
/// `kafka-ids.db`).
pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS id_keys (key BLOB PRIMARY KEY, type TEXT NOT NULL) WITHOUT ROWID;";

/// The dedup key of an event id: the first 16 bytes of SHA-256 of its UTF-8 bytes (see the
/// module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdKey(pub [u8; 16]);

impl IdKey {
    /// The key of `id`.
    pub fn of(id: &str) -> IdKey {
        let digest = Sha256::digest(id.as_bytes());
        let mut k = [0u8; 16];
        k.copy_from_slice(&digest[..16]);
        IdKey(k)
    }

    /// A number spread evenly over keys, to route an id to one of several shards.
    pub fn spread(&self) -> u64 {
        u64::from_le_bytes(self.0[..8].try_into().expect("8 bytes"))
    }
}

/// Create [`SCHEMA`] in `conn` and convert a table `ids(id TEXT, type)` written by an older
/// release into keys (in one transaction; the old table is dropped). Returns the number of
/// ids converted.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<u64> {
    conn.execute_batch(SCHEMA)?;
    let old: bool = conn
        .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ids'")?
        .exists([])?;
    if !old {
        return Ok(0);
    }
    let tx = conn.transaction()?;
    let mut n = 0;
    {
        let mut read = tx.prepare("SELECT id, type FROM ids")?;
        let mut put = tx.prepare("INSERT INTO id_keys (key, type) VALUES (?1, ?2) ON CONFLICT DO NOTHING")?;
        let mut rows = read.query([])?;
        while let Some(r) = rows.next()? {
            let (id, typ): (String, String) = (r.get(0)?, r.get(1)?);
            put.execute(params![&IdKey::of(&id).0[..], typ])?;
            n += 1;
        }
    }
    tx.execute_batch("DROP TABLE ids;")?;
    tx.commit()?;
    Ok(n)
}

/// Claim `key` for an event of type `typ`, on `conn` (the caller's transaction).
///
/// Returns [`AppendOutcome::Appended`] when the key is new (it is now claimed),
/// [`AppendOutcome::Duplicate`] when it was claimed before with the same type, and
/// [`AppendOutcome::Conflict`] with the earlier type otherwise.
pub fn claim(conn: &Connection, key: &IdKey, typ: &str) -> rusqlite::Result<AppendOutcome> {
    let inserted = conn
        .prepare_cached("INSERT INTO id_keys (key, type) VALUES (?1, ?2) ON CONFLICT DO NOTHING")?
        .execute(params![&key.0[..], typ])?;
    if inserted == 1 {
        return Ok(AppendOutcome::Appended);
    }
    let earlier: Option<String> = conn
        .prepare_cached("SELECT type FROM id_keys WHERE key = ?1")?
        .query_row(params![&key.0[..]], |r| r.get(0))
        .optional()?;
    Ok(match earlier {
        Some(t) if t != typ => AppendOutcome::Conflict(t),
        _ => AppendOutcome::Duplicate,
    })
}

/// Forget the claim of `key` (its event did not reach the log).
pub fn release(conn: &Connection, key: &IdKey) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM id_keys WHERE key = ?1")?
        .execute(params![&key.0[..]])?;
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
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // A lost claim only makes a retry produce again (the warehouse dedups), a lost
        // settle only releases an id: NORMAL is enough, no fsync per batch.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // An older file's pending ids (table `pending(id TEXT)`) are released before the
        // ids become keys.
        let old_pending: bool = conn
            .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'pending'")?
            .exists([])?;
        if old_pending {
            conn.execute_batch(
                "BEGIN;
                 DELETE FROM ids WHERE id IN (SELECT id FROM pending);
                 DROP TABLE pending;
                 COMMIT;",
            )?;
        }
        migrate(&mut conn)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS pending_keys (key BLOB PRIMARY KEY) WITHOUT ROWID;
             BEGIN;
             DELETE FROM id_keys WHERE key IN (SELECT key FROM pending_keys);
             DELETE FROM pending_keys;
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
        let mut mine: HashSet<IdKey> = HashSet::new();
        for (id, typ) in items {
            let key = IdKey::of(id);
            let outcome = claim(&tx, &key, typ)?;
            match &outcome {
                AppendOutcome::Appended => {
                    tx.prepare_cached("INSERT INTO pending_keys (key) VALUES (?1)")?
                        .execute(params![&key.0[..]])?;
                    mine.insert(key);
                }
                AppendOutcome::Duplicate if !mine.contains(&key) => {
                    let pending = tx
                        .prepare_cached("SELECT 1 FROM pending_keys WHERE key = ?1")?
                        .exists(params![&key.0[..]])?;
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
            let mut unpend = tx.prepare_cached("DELETE FROM pending_keys WHERE key = ?1")?;
            for id in delivered.iter().chain(failed) {
                unpend.execute(params![&IdKey::of(id).0[..]])?;
            }
        }
        for id in failed {
            release(&tx, &IdKey::of(id))?;
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

    #[test]
    fn a_file_of_the_text_id_format_is_converted_and_its_pending_ids_released() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ids.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(
                "CREATE TABLE ids (id TEXT PRIMARY KEY, type TEXT NOT NULL) WITHOUT ROWID;
                 CREATE TABLE pending (id TEXT PRIMARY KEY) WITHOUT ROWID;
                 INSERT INTO ids VALUES ('kept', 'click'), ('typed', 'scroll'), ('unsettled', 'click');
                 INSERT INTO pending VALUES ('unsettled');",
            )
            .unwrap();
        }
        let ix = IdIndex::open(&path).unwrap();
        assert_eq!(
            ix.claim(&items(&[
                ("kept", "click"),
                ("typed", "click"),
                ("unsettled", "click"),
                ("new", "click")
            ]))
            .unwrap(),
            Claimed::Outcomes(vec![
                AppendOutcome::Duplicate,
                AppendOutcome::Conflict("scroll".into()),
                AppendOutcome::Appended,
                AppendOutcome::Appended
            ])
        );
        let c = ix.conn.lock().unwrap();
        let old: i64 = c
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name IN ('ids', 'pending')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(old, 0);
    }

    #[test]
    fn keys_are_sixteen_bytes_of_sha256() {
        // SHA-256("abc") = ba7816bf 8f01cfea 414140de 5dae2223 b00361a3 96177a9c b410ff61 f20015ad
        assert_eq!(hex::encode(IdKey::of("abc").0), "ba7816bf8f01cfea414140de5dae2223");
    }
}
