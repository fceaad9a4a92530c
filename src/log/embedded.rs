//! The embedded log: an append-only SQLite database (`<data-dir>/log.db`, WAL mode,
//! `synchronous=FULL`), so an acknowledged event survives `kill -9` and power loss.
//!
//! One writer thread takes appends from a channel and commits everything that queued up
//! meanwhile in one transaction (group commit): one fsync per group, not per event. The
//! `ids` table ([`super::dedup`]) holds every accepted event id and its type, so dedup and
//! the id-conflict rule are decided in the same transaction as the append. One partition
//! (0); offsets are the row ids; consumer groups keep their committed offset in `offsets`.

use super::{dedup, AppendOutcome, Consumer, DeadLetter, Log, LogError, LogRecord, Position};
use crate::event::Event;
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use tokio::sync::oneshot;

/// Largest number of queued appends committed in one transaction.
const MAX_GROUP: usize = 256;

type Reply = oneshot::Sender<Result<Vec<AppendOutcome>, String>>;

enum Cmd {
    Append(Vec<(String, String, Vec<u8>)>, Reply),
    DeadLetter(Vec<DeadLetter>, oneshot::Sender<Result<(), String>>),
}

/// The embedded log. Cheap to clone through `Arc`.
pub struct EmbeddedLog {
    path: PathBuf,
    tx: Mutex<mpsc::SyncSender<Cmd>>,
    reader: Arc<Mutex<Connection>>,
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let c = Connection::open(path)?;
    c.pragma_update(None, "journal_mode", "WAL")?;
    c.pragma_update(None, "synchronous", "FULL")?;
    c.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(c)
}

impl EmbeddedLog {
    /// Open (creating) `<dir>/log.db` and start the writer thread.
    pub fn open(dir: &Path) -> anyhow::Result<Arc<EmbeddedLog>> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("log.db");
        let conn = open(&path)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS log (
                 offset INTEGER PRIMARY KEY AUTOINCREMENT,
                 site TEXT NOT NULL,
                 payload BLOB NOT NULL);
             CREATE TABLE IF NOT EXISTS offsets (grp TEXT PRIMARY KEY, committed INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS dead_letters (
                 at INTEGER NOT NULL, site TEXT NOT NULL, stage TEXT NOT NULL,
                 field TEXT NOT NULL, reason TEXT NOT NULL, raw TEXT NOT NULL);",
        )?;
        // Columns added after the first release: add them to older files.
        let has_sent_at: bool = conn
            .prepare("SELECT 1 FROM pragma_table_info('dead_letters') WHERE name = 'sent_at'")?
            .exists([])?;
        if !has_sent_at {
            conn.execute_batch(
                "ALTER TABLE dead_letters ADD COLUMN sent_at INTEGER;
                 ALTER TABLE dead_letters ADD COLUMN bot_reason TEXT;",
            )?;
        }
        conn.execute_batch(dedup::SCHEMA)?;
        let (tx, rx) = mpsc::sync_channel::<Cmd>(1024);
        std::thread::Builder::new()
            .name("sightline-log-writer".into())
            .spawn(move || writer(conn, rx))?;
        let reader = Arc::new(Mutex::new(open(&path)?));
        Ok(Arc::new(EmbeddedLog {
            path,
            tx: Mutex::new(tx),
            reader,
        }))
    }

    fn send(&self, cmd: Cmd) -> Result<(), LogError> {
        let tx = self.tx.lock().expect("log sender lock").clone();
        tx.send(cmd)
            .map_err(|_| LogError::Unavailable("log writer stopped".into()))
    }
}

fn writer(mut conn: Connection, rx: mpsc::Receiver<Cmd>) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(c) => group.push(c),
                Err(_) => break,
            }
        }
        let result = commit_group(&mut conn, &group);
        for (i, cmd) in group.into_iter().enumerate() {
            let res = match &result {
                Ok(v) => Ok(v[i].clone()),
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

/// Per command: the append outcomes (`None` for a dead-letter command), or the error that
/// rolled the whole group back.
type GroupResult = Result<Vec<Option<Vec<AppendOutcome>>>, String>;

fn commit_group(conn: &mut Connection, group: &[Cmd]) -> GroupResult {
    let tx = conn.transaction().map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(group.len());
    {
        let mut append = tx
            .prepare_cached("INSERT INTO log (site, payload) VALUES (?1, ?2)")
            .map_err(|e| e.to_string())?;
        let mut dl = tx
            .prepare_cached("INSERT INTO dead_letters (at, site, stage, field, reason, raw, sent_at, bot_reason) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)")
            .map_err(|e| e.to_string())?;
        for cmd in group {
            match cmd {
                Cmd::Append(items, _) => {
                    let mut outcomes = Vec::with_capacity(items.len());
                    for (id_type, site, payload) in items {
                        let (id, typ) = id_type.split_once(' ').unwrap_or((id_type, ""));
                        let outcome = dedup::claim(&tx, id, typ).map_err(|e| e.to_string())?;
                        if outcome == AppendOutcome::Appended {
                            append.execute(params![site, payload]).map_err(|e| e.to_string())?;
                        }
                        outcomes.push(outcome);
                    }
                    out.push(Some(outcomes));
                }
                Cmd::DeadLetter(items, _) => {
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
    }
    tx.commit().map_err(|e| e.to_string())?;
    Ok(out)
}

#[async_trait]
impl Log for EmbeddedLog {
    async fn append(&self, events: &[Event]) -> Result<Vec<AppendOutcome>, LogError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let items = events
            .iter()
            .map(|e| (format!("{} {}", e.id, e.type_name()), e.site.clone(), e.encode()))
            .collect();
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::Append(items, reply))?;
        rx.await
            .map_err(|_| LogError::Unavailable("log writer stopped".into()))?
            .map_err(LogError::Unavailable)
    }

    async fn dead_letter(&self, items: Vec<DeadLetter>) -> Result<(), LogError> {
        if items.is_empty() {
            return Ok(());
        }
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::DeadLetter(items, reply))?;
        rx.await
            .map_err(|_| LogError::Unavailable("log writer stopped".into()))?
            .map_err(LogError::Unavailable)
    }

    async fn consumer(&self, group: &str) -> Result<Box<dyn Consumer>, LogError> {
        let conn = open(&self.path).map_err(|e| LogError::Unavailable(e.to_string()))?;
        Ok(Box::new(EmbeddedConsumer {
            conn: Arc::new(Mutex::new(conn)),
            group: group.to_string(),
            next: None,
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
        let path = self.path.clone();
        let (site, visitor) = (site.to_string(), visitor.to_string());
        tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
            // Its own connection (the writer thread keeps appending meanwhile); SQLite's
            // locking orders the two.
            let mut c = open(&path)?;
            c.pragma_update(None, "secure_delete", "ON")?;
            let tx = c.transaction()?;
            let mut offsets = Vec::new();
            {
                let mut st = tx.prepare("SELECT offset, payload FROM log WHERE site = ?1")?;
                let mut rows = st.query(params![site])?;
                while let Some(r) = rows.next()? {
                    let payload: Vec<u8> = r.get(1)?;
                    if Event::decode(&payload).is_ok_and(|e| e.visitor_id == visitor) {
                        offsets.push(r.get::<_, i64>(0)?);
                    }
                }
                let mut del = tx.prepare("DELETE FROM log WHERE offset = ?1")?;
                for o in &offsets {
                    del.execute(params![o])?;
                }
                // Dead letters keep raw JSON: drop those naming the visitor.
                let needle = serde_json::to_string(&visitor)?;
                tx.execute(
                    "DELETE FROM dead_letters WHERE site = ?1 AND instr(raw, ?2) > 0",
                    params![site, needle],
                )?;
            }
            tx.commit()?;
            let _ = c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
            Ok(offsets.len() as u64)
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

/// A consumer of the embedded log; offsets live in the same database.
struct EmbeddedConsumer {
    conn: Arc<Mutex<Connection>>,
    group: String,
    /// Next offset to read; `None` until loaded from the committed offset.
    next: Option<i64>,
}

#[async_trait]
impl Consumer for EmbeddedConsumer {
    async fn poll(&mut self, max: usize, wait_ms: u64) -> Result<Vec<LogRecord>, LogError> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(wait_ms);
        loop {
            let conn = self.conn.clone();
            let group = self.group.clone();
            let next = self.next;
            let (start, recs) = tokio::task::spawn_blocking(move || -> rusqlite::Result<(i64, Vec<LogRecord>)> {
                let c = conn.lock().expect("consumer lock");
                let start = match next {
                    Some(n) => n,
                    None => c
                        .query_row("SELECT committed FROM offsets WHERE grp = ?1", [&group], |r| {
                            r.get::<_, i64>(0)
                        })
                        .optional()?
                        .map_or(0, |o| o + 1),
                };
                let mut st =
                    c.prepare_cached("SELECT offset, payload FROM log WHERE offset >= ?1 ORDER BY offset LIMIT ?2")?;
                let recs = st
                    .query_map(params![start, max as i64], |r| {
                        Ok(LogRecord {
                            position: Position {
                                partition: 0,
                                offset: r.get(0)?,
                            },
                            payload: r.get(1)?,
                        })
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok((start, recs))
            })
            .await
            .map_err(|e| LogError::Other(e.into()))?
            .map_err(|e| LogError::Unavailable(e.to_string()))?;
            self.next = Some(recs.last().map_or(start, |r| r.position.offset + 1));
            if !recs.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(recs);
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    async fn commit(&mut self, positions: &[Position]) -> Result<(), LogError> {
        let Some(max) = positions.iter().map(|p| p.offset).max() else {
            return Ok(());
        };
        let conn = self.conn.clone();
        let group = self.group.clone();
        tokio::task::spawn_blocking(move || {
            conn.lock().expect("consumer lock").execute(
                "INSERT INTO offsets (grp, committed) VALUES (?1, ?2)
                 ON CONFLICT (grp) DO UPDATE SET committed = max(committed, excluded.committed)",
                params![group, max],
            )
        })
        .await
        .map_err(|e| LogError::Other(e.into()))?
        .map_err(|e| LogError::Unavailable(e.to_string()))?;
        Ok(())
    }
}
