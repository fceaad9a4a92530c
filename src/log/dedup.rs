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
//! A claim that is not settled yet is *pending* (table `pending_keys`). A retry that meets a
//! pending id of its own type gets [`Claimed::InFlight`] (the log answers "unavailable",
//! ingest answers 503 + `Retry-After`): reporting it as a duplicate would lose the event if
//! the first attempt then fails. Pending claims left by a crashed process are released when
//! the index is opened again: their fate is unknown, so a retry produces them again and the
//! warehouse, which dedups by event id, keeps one copy.
//!
//! An id is kept as a 16-byte key ([`IdKey`]), not as text: 16 bytes per event instead of
//! the id's 36 or more, and a fixed-size key.
//!
//! - **A UUIDv7 in canonical form** (36 characters, lowercase hex, hyphens: what the snippet
//!   and posthog-js send) is its own 16 bytes. A v7 UUID starts with its creation time in ms,
//!   so the keys of new events fall at the end of the index: a group commit dirties a few
//!   pages of the B-tree instead of one page per event. (Random keys cost about one 4 KB
//!   page write and one page read per event once the index outgrows the page cache: ingest
//!   took 56k events/s on 2 cores with them, about 150k with ordered keys.) Only the
//!   canonical text maps to the bytes, so two different ids never share such a key. The key
//!   shows the id's creation time, as the id itself does; it holds nothing of the visitor.
//! - **Any other id** is the first 16 bytes of its SHA-256. Two such ids share a key only by
//!   a SHA-256 collision on 128 bits (2^64 work even for a client choosing ids on purpose).
//!   A client can choose a UUIDv7 text whose bytes equal the hash of another id only if it
//!   knows that id, and then it could send that id itself: no new way to take another
//!   visitor's id.
//!
//! Every id is routed to its shard by its SHA-256 ([`IdKey::spread`]), whatever its key.
//!
//! **Files of older releases.** Files written before keys (a `ids(id TEXT …)` table) are
//! converted when opened ([`migrate`]). Files whose `id_keys` hold SHA-256 keys for every id
//! (releases before the ordered keys) keep them: [`open_index`] records, when it first
//! opens such a file, a time `legacy_until` (then + 1 day), and a UUIDv7 id created before
//! it is also looked up by its SHA-256 key ([`claim`]), so a retry across the upgrade is
//! still a duplicate. For that day each new UUIDv7 id costs that second lookup, a random
//! page read in the old keys (no write). An id created by a client whose clock ran more
//! than a day ahead, before the upgrade, and retried after it, is accepted again; the
//! warehouse still stores it once (it dedups by event id). The day starts when any process
//! of this release (`serve`, or a CLI command that opens the log) first opens the file, so
//! upgrade every process on a data directory together, and do not go back to an older
//! release: ids claimed after the day under the other kind of key are reported as accepted
//! on a retry (stored once all the same).
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

/// The `id_keys` table, and `id_key_legacy` (one row: `until`, see [`open_index`]). Part of
/// every database that dedups (each embedded log shard, `kafka-ids.db`).
pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS id_keys (key BLOB PRIMARY KEY, type TEXT NOT NULL) WITHOUT ROWID;
     CREATE TABLE IF NOT EXISTS id_key_legacy (until INTEGER NOT NULL);";

/// How long after a file of SHA-256 keys is first opened by this release a UUIDv7 id is also
/// looked up by its SHA-256 key: ids created up to 1 day (ms) later by a client's clock.
pub const LEGACY_MARGIN_MS: i64 = 24 * 3600 * 1000;

/// The dedup key of an event id (see the module docs): the UUIDv7's bytes or a SHA-256
/// prefix, and the SHA-256 prefix that routes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdKey {
    /// The key stored in `id_keys`.
    pub key: [u8; 16],
    /// The first 16 bytes of SHA-256 of the id's UTF-8 bytes: the shard route, and the key
    /// releases before the ordered keys stored.
    pub hash: [u8; 16],
    /// `key` is a UUIDv7's bytes (its first 48 bits are its creation time, ms).
    pub ordered: bool,
}

impl IdKey {
    /// The key of `id`.
    pub fn of(id: &str) -> IdKey {
        let digest = Sha256::digest(id.as_bytes());
        let mut hash = [0u8; 16];
        hash.copy_from_slice(&digest[..16]);
        match canonical_uuid7(id) {
            Some(key) => IdKey {
                key,
                hash,
                ordered: true,
            },
            None => IdKey {
                key: hash,
                hash,
                ordered: false,
            },
        }
    }

    /// A number spread evenly over keys, to route an id to one of several shards (from its
    /// SHA-256, the same for every release).
    pub fn spread(&self) -> u64 {
        u64::from_le_bytes(self.hash[..8].try_into().expect("8 bytes"))
    }

    /// The SHA-256 key to look up too, in a file whose keys before `legacy_until` (ms) were
    /// SHA-256 ones: for a UUIDv7 id created before then.
    pub fn legacy(&self, legacy_until: i64) -> Option<&[u8; 16]> {
        let mut ms = [0u8; 8];
        ms[2..].copy_from_slice(&self.key[..6]);
        (self.ordered && (i64::from_be_bytes(ms)) < legacy_until).then_some(&self.hash)
    }
}

/// The 16 bytes of `id` when it is a version 7 UUID in canonical text (36 characters,
/// lowercase hex with hyphens): the one text of those bytes.
fn canonical_uuid7(id: &str) -> Option<[u8; 16]> {
    if id.len() != 36 || id.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let u = uuid::Uuid::try_parse(id).ok()?;
    (u.get_version_num() == 7).then(|| *u.as_bytes())
}

/// Create [`SCHEMA`] in `conn` and return its `legacy_until` (ms): 0 for a new file or one
/// of text ids, or, the first time this release opens a file of SHA-256 keys, the time then
/// plus [`LEGACY_MARGIN_MS`] (kept in `id_key_legacy`).
pub fn open_index(conn: &Connection) -> rusqlite::Result<i64> {
    let had_keys = conn
        .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'id_keys'")?
        .exists([])?
        && conn.prepare("SELECT 1 FROM id_keys LIMIT 1")?.exists([])?;
    conn.execute_batch(SCHEMA)?;
    if let Some(until) = conn
        .query_row("SELECT until FROM id_key_legacy", [], |r| r.get(0))
        .optional()?
    {
        return Ok(until);
    }
    let until = if had_keys {
        chrono::Utc::now().timestamp_millis() + LEGACY_MARGIN_MS
    } else {
        0
    };
    conn.execute("INSERT INTO id_key_legacy (until) VALUES (?1)", [until])?;
    Ok(until)
}

/// [`open_index`], then convert a table `ids(id TEXT, type)` written by an older release
/// into keys (in one transaction; the old table is dropped). Returns the `legacy_until` of
/// [`open_index`] and the number of ids converted.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<(i64, u64)> {
    let legacy_until = open_index(conn)?;
    let old: bool = conn
        .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ids'")?
        .exists([])?;
    if !old {
        return Ok((legacy_until, 0));
    }
    let tx = conn.transaction()?;
    let mut n = 0;
    {
        let mut read = tx.prepare("SELECT id, type FROM ids")?;
        let mut put = tx.prepare("INSERT INTO id_keys (key, type) VALUES (?1, ?2) ON CONFLICT DO NOTHING")?;
        let mut rows = read.query([])?;
        while let Some(r) = rows.next()? {
            let (id, typ): (String, String) = (r.get(0)?, r.get(1)?);
            put.execute(params![&IdKey::of(&id).key[..], typ])?;
            n += 1;
        }
    }
    tx.execute_batch("DROP TABLE ids;")?;
    tx.commit()?;
    Ok((legacy_until, n))
}

/// Claim `key` for an event of type `typ`, on `conn` (the caller's transaction), in a file
/// of [`open_index`]'s `legacy_until`.
///
/// Returns [`AppendOutcome::Appended`] when the key is new (it is now claimed),
/// [`AppendOutcome::Duplicate`] when it was claimed before with the same type, and
/// [`AppendOutcome::Conflict`] with the earlier type otherwise. A UUIDv7 id created before
/// `legacy_until` is first looked up by its SHA-256 key, as an older release stored it.
pub fn claim(conn: &Connection, key: &IdKey, typ: &str, legacy_until: i64) -> rusqlite::Result<AppendOutcome> {
    let earlier = |k: &[u8; 16]| -> rusqlite::Result<Option<String>> {
        conn.prepare_cached("SELECT type FROM id_keys WHERE key = ?1")?
            .query_row(params![&k[..]], |r| r.get(0))
            .optional()
    };
    let seen = match key.legacy(legacy_until) {
        Some(hash) => earlier(hash)?,
        None => None,
    };
    let seen = match seen {
        Some(t) => Some(t),
        None => {
            let inserted = conn
                .prepare_cached("INSERT INTO id_keys (key, type) VALUES (?1, ?2) ON CONFLICT DO NOTHING")?
                .execute(params![&key.key[..], typ])?;
            if inserted == 1 {
                return Ok(AppendOutcome::Appended);
            }
            earlier(&key.key)?
        }
    };
    Ok(match seen {
        Some(t) if t != typ => AppendOutcome::Conflict(t),
        _ => AppendOutcome::Duplicate,
    })
}

/// Forget the claim of `key` (its event did not reach the log).
pub fn release(conn: &Connection, key: &IdKey) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM id_keys WHERE key = ?1")?
        .execute(params![&key.key[..]])?;
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
    /// [`open_index`]'s `legacy_until` of the file, ms.
    legacy_until: i64,
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
        let (legacy_until, _) = migrate(&mut conn)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS pending_keys (key BLOB PRIMARY KEY) WITHOUT ROWID;
             BEGIN;
             DELETE FROM id_keys WHERE key IN (SELECT key FROM pending_keys);
             DELETE FROM pending_keys;
             COMMIT;",
        )?;
        Ok(IdIndex {
            conn: Mutex::new(conn),
            legacy_until,
        })
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
            let outcome = claim(&tx, &key, typ, self.legacy_until)?;
            match &outcome {
                AppendOutcome::Appended => {
                    tx.prepare_cached("INSERT INTO pending_keys (key) VALUES (?1)")?
                        .execute(params![&key.key[..]])?;
                    mine.insert(key);
                }
                AppendOutcome::Duplicate if !mine.contains(&key) => {
                    let pending = tx
                        .prepare_cached("SELECT 1 FROM pending_keys WHERE key = ?1")?
                        .exists(params![&key.key[..]])?;
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
                unpend.execute(params![&IdKey::of(id).key[..]])?;
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
    fn keys_are_a_canonical_uuid7s_bytes_or_sixteen_bytes_of_sha256() {
        // SHA-256("abc") = ba7816bf 8f01cfea 414140de 5dae2223 b00361a3 96177a9c b410ff61 f20015ad
        let abc = IdKey::of("abc");
        assert_eq!(hex::encode(abc.key), "ba7816bf8f01cfea414140de5dae2223");
        assert_eq!((abc.hash, abc.ordered), (abc.key, false));
        let v7 = "019af5c2-3b4d-7e6f-8a9b-0c1d2e3f4a5b";
        let k = IdKey::of(v7);
        assert_eq!(hex::encode(k.key), v7.replace('-', ""));
        assert!(k.ordered);
        assert_eq!(k.hash[..], Sha256::digest(v7.as_bytes())[..16]);
        // Another text of the same bytes, and other UUID versions, are hashed: one text per key.
        for other in [
            "019AF5C2-3B4D-7E6F-8A9B-0C1D2E3F4A5B",
            "019af5c23b4d7e6f8a9b0c1d2e3f4a5b",
            "{019af5c2-3b4d-7e6f-8a9b-0c1d2e3f4a5b}",
            "019af5c2-3b4d-4e6f-8a9b-0c1d2e3f4a5b",
        ] {
            let o = IdKey::of(other);
            assert!(!o.ordered, "{other}");
            assert_eq!(o.key, o.hash, "{other}");
        }
        // Its first 48 bits are its creation time: 0x019af5c23b4d ms.
        let ms = 0x019a_f5c2_3b4d_i64;
        assert_eq!(k.legacy(ms + 1), Some(&k.hash));
        assert_eq!(k.legacy(ms), None);
        assert_eq!(abc.legacy(i64::MAX), None);
    }

    #[test]
    fn a_file_of_sha256_keys_still_finds_the_uuid7_ids_created_before_the_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ids.db");
        let now = chrono::Utc::now().timestamp_millis();
        let v7 = |ms: i64, tail: &str| format!("{:08x}-{:04x}-7e6f-8a9b-{tail}", ms >> 16, ms & 0xffff);
        let before = v7(now - 60_000, "0c1d2e3f4a5b");
        let typed = v7(now - 50_000, "0c1d2e3f4a5c");
        let later = v7(now + 2 * LEGACY_MARGIN_MS, "0c1d2e3f4a5d");
        {
            // A file of the release before: every id under its SHA-256 key.
            let c = Connection::open(&path).unwrap();
            c.execute_batch("CREATE TABLE id_keys (key BLOB PRIMARY KEY, type TEXT NOT NULL) WITHOUT ROWID;")
                .unwrap();
            for (id, typ) in [(&before, "click"), (&typed, "scroll"), (&later, "click")] {
                c.execute(
                    "INSERT INTO id_keys VALUES (?1, ?2)",
                    params![&IdKey::of(id).hash[..], typ],
                )
                .unwrap();
            }
        }
        let ix = IdIndex::open(&path).unwrap();
        assert!(ix.legacy_until >= now + LEGACY_MARGIN_MS);
        let new = v7(now, "0c1d2e3f4a5e");
        let items: Vec<(String, String)> = [
            (&before, "click"),
            (&typed, "click"),
            (&new, "click"),
            (&later, "click"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(
            ix.claim(&items).unwrap(),
            Claimed::Outcomes(vec![
                AppendOutcome::Duplicate,
                AppendOutcome::Conflict("scroll".into()),
                AppendOutcome::Appended,
                // Created after legacy_until: looked up by its own key only.
                AppendOutcome::Appended
            ])
        );
        drop(ix);
        // The time is kept: opening again does not move it.
        let again = IdIndex::open(&path).unwrap();
        let fresh = IdIndex::open(&dir.path().join("fresh.db")).unwrap();
        assert_eq!(fresh.legacy_until, 0);
        assert!(again.legacy_until < now + LEGACY_MARGIN_MS + 60_000);
    }
}
