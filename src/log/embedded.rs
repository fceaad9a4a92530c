//! The embedded log: append-only SQLite files in the data directory (WAL mode,
//! `synchronous=FULL`), so an acknowledged event survives `kill -9` and power loss.
//!
//! **Shards, not one writer.** The log has N shards (partitions), N = the cores available
//! when the data directory is first used (1 to 16), kept in the directory for good:
//! `log.db` is shard 0, `log-1.db` … `log-<N-1>.db` the others. An event goes to the shard
//! of its id's [`IdKey`] ([`IdKey::spread`]), so the id index of that shard alone decides dedup and the
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

mod consumer;
mod writer;

use consumer::*;
use writer::*;

use super::dedup::{self, IdKey};
use super::{AppendOutcome, Consumer, DeadLetter, Log, LogError};
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
        let mut legacy = Vec::with_capacity(n);
        for (k, p) in paths.iter().enumerate() {
            let mut c = open(p)?;
            c.execute_batch(SHARD_SCHEMA)?;
            // Shard 0's text ids (the one-row-per-record format) are converted below, each to
            // the shard it routes to.
            legacy.push(if k > 0 {
                dedup::migrate(&mut c)?.0
            } else {
                dedup::open_index(&c)?
            });
            conns.push(c);
        }
        // Shard 0 may hold the older format: convert it before any writer starts.
        convert_old_format(&mut conns)?;
        dedup::migrate(&mut conns[0])?;
        let mut writers = Vec::with_capacity(n);
        for ((k, conn), legacy_until) in conns.into_iter().enumerate().zip(legacy) {
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
                        legacy_until,
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
                    stage: {
                        let s: String = r.get(2)?;
                        crate::model::dead_stage::DeadStage::parse(&s).ok_or_else(|| {
                            rusqlite::Error::FromSqlConversionFailure(
                                2,
                                rusqlite::types::Type::Text,
                                format!("unknown dead-letter stage {s:?}").into(),
                            )
                        })?
                    },
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

#[cfg(test)]
mod tests;
