//! The embedded log: append-only SQLite files in the data directory (WAL mode,
//! `synchronous=FULL`), so an acknowledged event survives `kill -9` and power loss.
//!
//! **Shards, not one writer.** The log has N shards (partitions), N = the cores available
//! when the data directory is first used (1 to 16), kept in the directory for good:
//! `log.db` is shard 0, `log-1.db` … `log-<N-1>.db` the others. An event goes to the shard
//! of its id's [`IdKey`], so the id index of that shard alone decides dedup and the
//! id-conflict rule. Each shard has its own writer thread that takes appends from a channel
//! and commits everything queued meanwhile in one transaction (group commit: one fsync per
//! group and shard). An append of a batch waits for every shard it touched; if one shard
//! fails, the append fails (`503`), and the client's retry finds the events of the other
//! shards already claimed, reported as duplicates and stored once.
//!
//! **Chunks.** A group's new records are written as one row of `chunks(first, n, raw, at,
//! body)`: records `first … first+n-1` of the shard, each a little-endian `u32` length and
//! the protobuf record, the whole zstd-compressed (`raw` is the uncompressed size). The
//! records of a group share site keys, sessions, pages and selectors, so a chunk compresses
//! well; the id index stores 16-byte keys ([`super::dedup`]). Offsets are record numbers per
//! shard; a consumer group commits one offset per shard (`consumer_offsets` in `log.db`).
//! A record erased later ([`Log::forget_visitor`]) stays as an empty record, so offsets
//! never move.
//!
//! **Retention.** A chunk that every consumer group has committed is deleted once it is
//! [`RETENTION_MS`] old (7 days); each writer looks once a minute. The id index stays, so a
//! retry even later is still reported as a duplicate.
//!
//! Dead letters live in `log.db` and are written by shard 0's writer.
//!
//! A `log.db` of the older one-row-per-record format (tables `log`, `ids`, `offsets`) is
//! converted when opened: its ids move to the shards' indexes, and its records not yet
//! committed by every consumer group are written again as chunks (a group that had read
//! further sees some of them twice; the warehouse keeps one copy, it dedups by event id).

use super::dedup::{self, IdKey};
use super::{AppendOutcome, Consumer, DeadLetter, Log, LogError, LogRecord, Position};
use crate::event::Event;
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use tokio::sync::oneshot;

/// Most queued commands committed in one transaction.
const MAX_GROUP: usize = 256;
/// A group stops taking commands once its records hold this many bytes (uncompressed).
const MAX_GROUP_BYTES: usize = 16 << 20;
/// Most shards, whatever the core count.
pub const MAX_SHARDS: usize = 16;
/// zstd level of the chunks: 1 is the fastest; the records compress well even so.
const ZSTD_LEVEL: i32 = 1;
/// Retention: a chunk every consumer group has committed is deleted once it is this old
/// (7 days, ms), as a Kafka topic's retention would. A shard that no group reads yet keeps
/// everything. The id index is kept: a retry after that still counts as a duplicate.
pub const RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;
/// How often a writer looks for chunks past retention, ms.
const RETENTION_EVERY_MS: i64 = 60_000;

type Reply = oneshot::Sender<Result<Vec<AppendOutcome>, String>>;

/// One event to append: its id key and type (for dedup) and its protobuf record.
struct Item {
    key: IdKey,
    typ: &'static str,
    payload: Vec<u8>,
}

enum Cmd {
    Append(Vec<Item>, Reply),
    DeadLetter(Vec<DeadLetter>, oneshot::Sender<Result<(), String>>),
}

/// The embedded log. Cheap to clone through `Arc`.
pub struct EmbeddedLog {
    /// Path of each shard's file; index = partition.
    paths: Vec<PathBuf>,
    /// Channel to each shard's writer thread.
    writers: Vec<mpsc::SyncSender<Cmd>>,
    /// A connection to `log.db` for dead letters and readiness.
    reader: Arc<Mutex<Connection>>,
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let c = Connection::open(path)?;
    c.pragma_update(None, "journal_mode", "WAL")?;
    c.pragma_update(None, "synchronous", "FULL")?;
    c.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(c)
}

fn shard_path(dir: &Path, k: usize) -> PathBuf {
    if k == 0 {
        dir.join("log.db")
    } else {
        dir.join(format!("log-{k}.db"))
    }
}

fn has_table(c: &Connection, name: &str) -> rusqlite::Result<bool> {
    c.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")?
        .exists([name])
}

/// The tables of every shard file.
const SHARD_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS chunks (
         first INTEGER PRIMARY KEY, n INTEGER NOT NULL, raw INTEGER NOT NULL,
         at INTEGER NOT NULL, body BLOB NOT NULL);";

/// The tables only `log.db` (shard 0) has.
const MAIN_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
     CREATE TABLE IF NOT EXISTS consumer_offsets (
         grp TEXT NOT NULL, part INTEGER NOT NULL, committed INTEGER NOT NULL,
         PRIMARY KEY (grp, part)) WITHOUT ROWID;
     CREATE TABLE IF NOT EXISTS dead_letters (
         at INTEGER NOT NULL, site TEXT NOT NULL, stage TEXT NOT NULL,
         field TEXT NOT NULL, reason TEXT NOT NULL, raw TEXT NOT NULL);";

/// The number of shards a new data directory gets: the cores this process may use.
pub fn default_shards() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_SHARDS)
}

impl EmbeddedLog {
    /// Open (creating) the log in `dir` with [`default_shards`] shards if it is new, and
    /// start the writer threads.
    pub fn open(dir: &Path) -> anyhow::Result<Arc<EmbeddedLog>> {
        Self::open_with(dir, default_shards())
    }

    /// Open (creating) the log in `dir`. `shards` applies only to a new directory: an
    /// existing one keeps the count it was created with.
    pub fn open_with(dir: &Path, shards: usize) -> anyhow::Result<Arc<EmbeddedLog>> {
        std::fs::create_dir_all(dir)?;
        let main = open(&shard_path(dir, 0))?;
        main.execute_batch(MAIN_SCHEMA)?;
        // Columns added after the first release: add them to older files.
        let has_sent_at: bool = main
            .prepare("SELECT 1 FROM pragma_table_info('dead_letters') WHERE name = 'sent_at'")?
            .exists([])?;
        if !has_sent_at {
            main.execute_batch(
                "ALTER TABLE dead_letters ADD COLUMN sent_at INTEGER;
                 ALTER TABLE dead_letters ADD COLUMN bot_reason TEXT;",
            )?;
        }
        let count: Option<i64> = main
            .query_row("SELECT value FROM meta WHERE name = 'shards'", [], |r| r.get(0))
            .optional()?;
        let n = match count {
            Some(n) => n.clamp(1, MAX_SHARDS as i64) as usize,
            None => {
                let n = shards.clamp(1, MAX_SHARDS);
                main.execute("INSERT INTO meta (name, value) VALUES ('shards', ?1)", [n as i64])?;
                n
            }
        };
        drop(main);
        let paths: Vec<PathBuf> = (0..n).map(|k| shard_path(dir, k)).collect();
        let mut conns = Vec::with_capacity(n);
        for (k, p) in paths.iter().enumerate() {
            let mut c = open(p)?;
            c.execute_batch(SHARD_SCHEMA)?;
            if k > 0 {
                dedup::migrate(&mut c)?;
            } else {
                c.execute_batch(dedup::SCHEMA)?;
            }
            conns.push(c);
        }
        // Shard 0 may hold the older format: convert it before any writer starts.
        convert_old_format(&mut conns)?;
        dedup::migrate(&mut conns[0])?;
        let mut writers = Vec::with_capacity(n);
        for (k, conn) in conns.into_iter().enumerate() {
            let next: i64 = conn.query_row("SELECT coalesce(max(first + n), 0) FROM chunks", [], |r| r.get(0))?;
            let (tx, rx) = mpsc::sync_channel::<Cmd>(1024);
            let offsets = open(&paths[0])?;
            std::thread::Builder::new()
                .name(format!("sightline-log-{k}"))
                .spawn(move || {
                    writer(
                        conn,
                        rx,
                        next,
                        Retention {
                            shard: k,
                            offsets,
                            last: 0,
                        },
                    )
                })?;
            writers.push(tx);
        }
        let reader = Arc::new(Mutex::new(open(&paths[0])?));
        Ok(Arc::new(EmbeddedLog { paths, writers, reader }))
    }

    /// Number of shards (partitions).
    pub fn shards(&self) -> usize {
        self.paths.len()
    }

    fn send(&self, shard: usize, cmd: Cmd) -> Result<(), LogError> {
        self.writers[shard]
            .send(cmd)
            .map_err(|_| LogError::Unavailable("log writer stopped".into()))
    }
}

/// Convert a `log.db` of the one-row-per-record format (see the module docs). `conns[0]`
/// is `log.db`; every shard's `id_keys` table exists.
fn convert_old_format(conns: &mut [Connection]) -> anyhow::Result<()> {
    if !has_table(&conns[0], "log")? {
        return Ok(());
    }
    let n = conns.len();
    // Ids: to the shard each one routes to.
    if has_table(&conns[0], "ids")? {
        let ids: Vec<(String, String)> = conns[0]
            .prepare("SELECT id, type FROM ids")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut per: Vec<Vec<(IdKey, String)>> = (0..n).map(|_| Vec::new()).collect();
        for (id, typ) in ids {
            let key = IdKey::of(&id);
            per[(key.spread() % n as u64) as usize].push((key, typ));
        }
        for (c, keys) in conns.iter_mut().zip(per) {
            let tx = c.transaction()?;
            {
                let mut put = tx.prepare("INSERT INTO id_keys (key, type) VALUES (?1, ?2) ON CONFLICT DO NOTHING")?;
                for (k, t) in keys {
                    put.execute(params![&k.0[..], t])?;
                }
            }
            tx.commit()?;
        }
    }
    // Records not committed by every group (all of them when no group committed any).
    let floor: i64 = if has_table(&conns[0], "offsets")? {
        conns[0].query_row("SELECT coalesce(min(committed), -1) FROM offsets", [], |r| r.get(0))?
    } else {
        -1
    };
    let records: Vec<Vec<u8>> = conns[0]
        .prepare("SELECT payload FROM log WHERE offset > ?1 ORDER BY offset")?
        .query_map([floor], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut per: Vec<Vec<Vec<u8>>> = (0..n).map(|_| Vec::new()).collect();
    for payload in records {
        // A record that does not decode still moves (the sink dead-letters it); shard 0.
        let k = Event::decode(&payload).map_or(0, |e| (IdKey::of(&e.id).spread() % n as u64) as usize);
        per[k].push(payload);
    }
    for (c, payloads) in conns.iter_mut().zip(per) {
        let tx = c.transaction()?;
        let mut next: i64 = tx.query_row("SELECT coalesce(max(first + n), 0) FROM chunks", [], |r| r.get(0))?;
        for part in payloads.chunks(10_000) {
            let mut body = Vec::new();
            for p in part {
                push_record(&mut body, p);
            }
            write_chunk(&tx, next, part.len() as i64, &body).map_err(anyhow::Error::msg)?;
            next += part.len() as i64;
        }
        tx.commit()?;
    }
    conns[0].execute_batch(
        "BEGIN;
         DROP TABLE log;
         DROP TABLE IF EXISTS ids;
         DROP TABLE IF EXISTS offsets;
         COMMIT;",
    )?;
    tracing::info!("embedded log converted to the chunk format");
    Ok(())
}

/// Append one record to an uncompressed chunk body.
fn push_record(body: &mut Vec<u8>, payload: &[u8]) {
    body.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    body.extend_from_slice(payload);
}

/// The records of an uncompressed chunk body, in order (an erased record is empty).
fn records(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = body;
    std::iter::from_fn(move || {
        if rest.len() < 4 {
            return None;
        }
        let len = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        let end = (4 + len).min(rest.len());
        let r = &rest[4..end];
        rest = &rest[end..];
        Some(r)
    })
}

fn write_chunk(tx: &Connection, first: i64, n: i64, body: &[u8]) -> Result<(), String> {
    let z = zstd::bulk::compress(body, ZSTD_LEVEL).map_err(|e| e.to_string())?;
    let at = chrono::Utc::now().timestamp_millis();
    tx.prepare_cached("INSERT INTO chunks (first, n, raw, at, body) VALUES (?1, ?2, ?3, ?4, ?5)")
        .and_then(|mut st| st.execute(params![first, n, body.len() as i64, at, z]))
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn unpack(raw: i64, body: &[u8]) -> rusqlite::Result<Vec<u8>> {
    zstd::bulk::decompress(body, raw.max(0) as usize).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

/// A writer's retention state: its shard, a connection to `log.db` (the groups' offsets)
/// and when it last looked, ms.
struct Retention {
    shard: usize,
    offsets: Connection,
    last: i64,
}

impl Retention {
    /// Delete the chunks of this shard that every group has committed and that are older
    /// than [`RETENTION_MS`] at `now`; at most once per [`RETENTION_EVERY_MS`]. Returns the
    /// chunks deleted.
    fn apply(&mut self, conn: &Connection, now: i64) -> rusqlite::Result<usize> {
        if now - self.last < RETENTION_EVERY_MS {
            return Ok(0);
        }
        self.last = now;
        let done: Option<i64> = self.offsets.query_row(
            "SELECT min(committed) FROM consumer_offsets WHERE part = ?1",
            [self.shard as i64],
            |r| r.get(0),
        )?;
        let Some(done) = done else { return Ok(0) };
        // A group that never committed this shard has read nothing of it.
        let groups: i64 = self
            .offsets
            .query_row("SELECT count(DISTINCT grp) FROM consumer_offsets", [], |r| r.get(0))?;
        let here: i64 = self.offsets.query_row(
            "SELECT count(*) FROM consumer_offsets WHERE part = ?1",
            [self.shard as i64],
            |r| r.get(0),
        )?;
        if here < groups {
            return Ok(0);
        }
        conn.execute(
            "DELETE FROM chunks WHERE first + n - 1 <= ?1 AND at < ?2",
            params![done, now - RETENTION_MS],
        )
    }
}

fn writer(mut conn: Connection, rx: mpsc::Receiver<Cmd>, mut next: i64, mut retention: Retention) {
    loop {
        let first = match rx.recv_timeout(std::time::Duration::from_millis(RETENTION_EVERY_MS as u64)) {
            Ok(c) => c,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Err(e) = retention.apply(&conn, chrono::Utc::now().timestamp_millis()) {
                    tracing::warn!(error = %e, "embedded log retention failed; retrying later");
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        let size = |c: &Cmd| match c {
            Cmd::Append(items, _) => items.iter().map(|i| i.payload.len() + 4).sum(),
            Cmd::DeadLetter(..) => 0,
        };
        let mut bytes = size(&first);
        let mut group = vec![first];
        while group.len() < MAX_GROUP && bytes < MAX_GROUP_BYTES {
            match rx.try_recv() {
                Ok(c) => {
                    bytes += size(&c);
                    group.push(c)
                }
                Err(_) => break,
            }
        }
        let result = commit_group(&mut conn, &group, next);
        if let Ok((_, appended)) = &result {
            next += appended;
        }
        if let Err(e) = retention.apply(&conn, chrono::Utc::now().timestamp_millis()) {
            tracing::warn!(error = %e, "embedded log retention failed; retrying later");
        }
        for (i, cmd) in group.into_iter().enumerate() {
            let res = match &result {
                Ok((v, _)) => Ok(v[i].clone()),
                Err(e) => Err(e.clone()),
            };
            match cmd {
                Cmd::Append(_, reply) => {
                    let _ = reply.send(res.map(|r| r.unwrap_or_default()));
                }
                Cmd::DeadLetter(_, reply) => {
                    let _ = reply.send(res.map(|_| ()));
                }
            }
        }
    }
}

/// Per command: the append outcomes (`None` for a dead-letter command), and the records
/// appended; or the error that rolled the whole group back.
type GroupResult = Result<(Vec<Option<Vec<AppendOutcome>>>, i64), String>;

/// Commit one group as one transaction: the id claims, one chunk of the new records
/// (offsets from `next`), the dead letters.
fn commit_group(conn: &mut Connection, group: &[Cmd], next: i64) -> GroupResult {
    let tx = conn.transaction().map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(group.len());
    let mut body = Vec::new();
    let mut n = 0i64;
    for cmd in group {
        match cmd {
            Cmd::Append(items, _) => {
                let mut outcomes = Vec::with_capacity(items.len());
                for it in items {
                    let outcome = dedup::claim(&tx, &it.key, it.typ).map_err(|e| e.to_string())?;
                    if outcome == AppendOutcome::Appended {
                        push_record(&mut body, &it.payload);
                        n += 1;
                    }
                    outcomes.push(outcome);
                }
                out.push(Some(outcomes));
            }
            Cmd::DeadLetter(items, _) => {
                let mut dl = tx
                    .prepare_cached("INSERT INTO dead_letters (at, site, stage, field, reason, raw, sent_at, bot_reason) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)")
                    .map_err(|e| e.to_string())?;
                for d in items {
                    dl.execute(params![
                        d.at,
                        d.site,
                        d.stage,
                        d.field,
                        d.reason,
                        d.raw,
                        d.sent_at,
                        d.bot_reason
                    ])
                    .map_err(|e| e.to_string())?;
                }
                out.push(None);
            }
        }
    }
    if n > 0 {
        write_chunk(&tx, next, n, &body)?;
    }
    tx.commit().map_err(|e| e.to_string())?;
    Ok((out, n))
}

#[async_trait]
impl Log for EmbeddedLog {
    async fn append(&self, events: &[Event]) -> Result<Vec<AppendOutcome>, LogError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let n = self.shards();
        // Per shard: the items and the batch index of each.
        let mut per: Vec<(Vec<Item>, Vec<usize>)> = (0..n).map(|_| (Vec::new(), Vec::new())).collect();
        for (i, e) in events.iter().enumerate() {
            let key = IdKey::of(&e.id);
            let k = (key.spread() % n as u64) as usize;
            per[k].0.push(Item {
                key,
                typ: e.type_name(),
                payload: e.encode(),
            });
            per[k].1.push(i);
        }
        let mut waits = Vec::new();
        for (k, (items, index)) in per.into_iter().enumerate() {
            if items.is_empty() {
                continue;
            }
            let (reply, rx) = oneshot::channel();
            self.send(k, Cmd::Append(items, reply))?;
            waits.push((rx, index));
        }
        let mut out = vec![AppendOutcome::Appended; events.len()];
        // Every shard's answer is awaited, even after an error, so nothing is left behind.
        let mut failed = None;
        for (rx, index) in waits {
            match rx.await {
                Ok(Ok(outcomes)) => {
                    for (i, o) in index.into_iter().zip(outcomes) {
                        out[i] = o;
                    }
                }
                Ok(Err(e)) => failed = Some(e),
                Err(_) => failed = Some("log writer stopped".into()),
            }
        }
        match failed {
            Some(e) => Err(LogError::Unavailable(e)),
            None => Ok(out),
        }
    }

    async fn dead_letter(&self, items: Vec<DeadLetter>) -> Result<(), LogError> {
        if items.is_empty() {
            return Ok(());
        }
        let (reply, rx) = oneshot::channel();
        self.send(0, Cmd::DeadLetter(items, reply))?;
        rx.await
            .map_err(|_| LogError::Unavailable("log writer stopped".into()))?
            .map_err(LogError::Unavailable)
    }

    async fn consumer(&self, group: &str) -> Result<Box<dyn Consumer>, LogError> {
        let conns = self
            .paths
            .iter()
            .map(|p| open(p))
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| LogError::Unavailable(e.to_string()))?;
        Ok(Box::new(EmbeddedConsumer {
            inner: Arc::new(Mutex::new(ConsumerState {
                shards: conns.into_iter().map(|c| (c, None)).collect(),
                group: group.to_string(),
                next: None,
                turn: 0,
            })),
        }))
    }

    async fn ready(&self) -> bool {
        let r = self.reader.clone();
        tokio::task::spawn_blocking(move || {
            r.lock()
                .map(|c| c.query_row("SELECT 1", [], |_| Ok(())).is_ok())
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false)
    }

    async fn forget_visitor(&self, site: &str, visitor: &str) -> Result<u64, LogError> {
        let paths = self.paths.clone();
        let (site, visitor) = (site.to_string(), visitor.to_string());
        tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
            let mut erased = 0;
            for (k, path) in paths.iter().enumerate() {
                // Its own connection (the writer keeps appending meanwhile). First find
                // the chunks that hold the visitor without a lock; then rewrite each one
                // under the write lock (chunks change only here, so the first read stays
                // true).
                let mut c = open(path)?;
                c.pragma_update(None, "secure_delete", "ON")?;
                let mut hits = Vec::new();
                {
                    let mut st = c.prepare("SELECT first, raw, body FROM chunks ORDER BY first")?;
                    let mut rows = st.query([])?;
                    while let Some(r) = rows.next()? {
                        let body = unpack(r.get(1)?, &r.get::<_, Vec<u8>>(2)?)?;
                        if records(&body).any(|p| is_of(p, &site, &visitor)) {
                            hits.push(r.get::<_, i64>(0)?);
                        }
                    }
                }
                for first in hits {
                    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                    let (raw, z): (i64, Vec<u8>) =
                        tx.query_row("SELECT raw, body FROM chunks WHERE first = ?1", [first], |r| {
                            Ok((r.get(0)?, r.get(1)?))
                        })?;
                    let body = unpack(raw, &z)?;
                    let mut kept = Vec::with_capacity(body.len());
                    for p in records(&body) {
                        if is_of(p, &site, &visitor) {
                            push_record(&mut kept, &[]);
                            erased += 1;
                        } else {
                            push_record(&mut kept, p);
                        }
                    }
                    let z = zstd::bulk::compress(&kept, ZSTD_LEVEL)?;
                    tx.execute(
                        "UPDATE chunks SET raw = ?2, body = ?3 WHERE first = ?1",
                        params![first, kept.len() as i64, z],
                    )?;
                    tx.commit()?;
                }
                if k == 0 {
                    // Dead letters keep raw JSON: drop those naming the visitor.
                    let needle = serde_json::to_string(&visitor)?;
                    c.execute(
                        "DELETE FROM dead_letters WHERE site = ?1 AND instr(raw, ?2) > 0",
                        params![site, needle],
                    )?;
                }
                let _ = c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
            }
            Ok(erased)
        })
        .await
        .map_err(|e| LogError::Other(e.into()))?
        .map_err(LogError::Other)
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, LogError> {
        let r = self.reader.clone();
        tokio::task::spawn_blocking(move || -> rusqlite::Result<Vec<DeadLetter>> {
            let c = r.lock().expect("reader lock");
            let mut st =
                c.prepare("SELECT at, site, stage, field, reason, raw, sent_at, bot_reason FROM dead_letters ORDER BY rowid DESC LIMIT ?1")?;
            let rows = st.query_map([limit as i64], |r| {
                Ok(DeadLetter {
                    at: r.get(0)?,
                    site: r.get(1)?,
                    stage: r.get(2)?,
                    field: r.get(3)?,
                    reason: r.get(4)?,
                    raw: r.get(5)?,
                    sent_at: r.get(6)?,
                    bot_reason: r.get(7)?,
                })
            })?;
            rows.collect()
        })
        .await
        .map_err(|e| LogError::Other(e.into()))?
        .map_err(|e| LogError::Other(e.into()))
    }
}

/// True when `payload` is a record of `visitor` on `site`.
fn is_of(payload: &[u8], site: &str, visitor: &str) -> bool {
    !payload.is_empty() && Event::decode(payload).is_ok_and(|e| e.site == site && e.visitor_id == visitor)
}

/// The chunk a poll read last of one shard, uncompressed: its first offset, record
/// count and body.
type Cached = Option<(i64, i64, Vec<u8>)>;

struct ConsumerState {
    /// Per shard: a read connection and the chunk read last.
    shards: Vec<(Connection, Cached)>,
    group: String,
    /// Next offset to read per shard; `None` until loaded from the committed offsets.
    next: Option<Vec<i64>>,
    /// The shard to read first on the next poll (turns, so no shard starves).
    turn: usize,
}

impl ConsumerState {
    /// Up to `max` records, reading the shards in turn.
    fn read(&mut self, max: usize) -> rusqlite::Result<Vec<LogRecord>> {
        let n = self.shards.len();
        if self.next.is_none() {
            let c = &self.shards[0].0;
            let mut next = vec![0i64; n];
            let mut st = c.prepare("SELECT part, committed FROM consumer_offsets WHERE grp = ?1")?;
            let mut rows = st.query([&self.group])?;
            while let Some(r) = rows.next()? {
                let (p, o): (i64, i64) = (r.get(0)?, r.get(1)?);
                if let Some(slot) = next.get_mut(p as usize) {
                    *slot = o + 1;
                }
            }
            self.next = Some(next);
        }
        // A chunk is decompressed once per poll: a chunk rewritten meanwhile (an erasure)
        // is read again.
        for (_, cache) in &mut self.shards {
            *cache = None;
        }
        let mut out = Vec::new();
        let first_turn = self.turn;
        self.turn = (self.turn + 1) % n;
        for j in 0..n {
            let k = (first_turn + j) % n;
            if out.len() >= max {
                break;
            }
            let from = self.next.as_ref().expect("loaded")[k];
            let upto = self.read_shard(k, from, max - out.len(), &mut out)?;
            self.next.as_mut().expect("loaded")[k] = upto;
        }
        Ok(out)
    }

    /// Append to `out` up to `max` records of shard `k` from offset `from`; returns the
    /// next offset to read.
    fn read_shard(&mut self, k: usize, mut from: i64, max: usize, out: &mut Vec<LogRecord>) -> rusqlite::Result<i64> {
        let mut taken = 0;
        while taken < max {
            let (conn, cache) = &mut self.shards[k];
            let hit = matches!(cache, Some((first, n, _)) if *first <= from && from < *first + *n);
            if !hit {
                // The chunk holding `from`, else the first one after it (records erased
                // by retention leave gaps).
                let row: Option<(i64, i64, i64, Vec<u8>)> = conn
                    .prepare_cached(
                        "SELECT first, n, raw, body FROM chunks
                         WHERE first >= coalesce((SELECT max(first) FROM chunks WHERE first <= ?1), 0)
                           AND first + n > ?1
                         ORDER BY first LIMIT 1",
                    )?
                    .query_row([from], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                    .optional()?;
                let Some((first, n, raw, z)) = row else { break };
                *cache = Some((first, n, unpack(raw, &z)?));
                from = from.max(first);
            }
            let (first, _, body) = cache.as_ref().expect("cached");
            let mut offset = *first;
            let mut advanced = false;
            for p in records(body) {
                if offset >= from {
                    if taken >= max {
                        break;
                    }
                    if !p.is_empty() {
                        out.push(LogRecord {
                            position: Position {
                                partition: k as i32,
                                offset,
                            },
                            payload: p.to_vec(),
                        });
                        taken += 1;
                    }
                    from = offset + 1;
                    advanced = true;
                }
                offset += 1;
            }
            if !advanced {
                break;
            }
        }
        Ok(from)
    }
}

/// A consumer of the embedded log: reads every shard; offsets live in `log.db`.
struct EmbeddedConsumer {
    inner: Arc<Mutex<ConsumerState>>,
}

#[async_trait]
impl Consumer for EmbeddedConsumer {
    async fn poll(&mut self, max: usize, wait_ms: u64) -> Result<Vec<LogRecord>, LogError> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(wait_ms);
        loop {
            let inner = self.inner.clone();
            let recs = tokio::task::spawn_blocking(move || inner.lock().expect("consumer lock").read(max))
                .await
                .map_err(|e| LogError::Other(e.into()))?
                .map_err(|e| LogError::Unavailable(e.to_string()))?;
            if !recs.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(recs);
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    async fn commit(&mut self, positions: &[Position]) -> Result<(), LogError> {
        let mut top: std::collections::BTreeMap<i32, i64> = std::collections::BTreeMap::new();
        for p in positions {
            let o = top.entry(p.partition).or_insert(p.offset);
            *o = (*o).max(p.offset);
        }
        if top.is_empty() {
            return Ok(());
        }
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || -> rusqlite::Result<()> {
            let mut s = inner.lock().expect("consumer lock");
            let group = s.group.clone();
            let tx = s.shards[0].0.transaction()?;
            for (part, committed) in top {
                tx.execute(
                    "INSERT INTO consumer_offsets (grp, part, committed) VALUES (?1, ?2, ?3)
                     ON CONFLICT (grp, part) DO UPDATE SET committed = max(committed, excluded.committed)",
                    params![group, part, committed],
                )?;
            }
            tx.commit()
        })
        .await
        .map_err(|e| LogError::Other(e.into()))?
        .map_err(|e| LogError::Unavailable(e.to_string()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
