//! Reading a consumer group's records back from the shards, in order, with its committed
//! offsets.

use super::*;
use crate::log::{Consumer, LogError, LogRecord, Position};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use std::sync::{Arc, Mutex};

/// The chunk a poll read last of one shard, uncompressed: its first offset, record
/// count and body.
pub(super) type Cached = Option<(i64, i64, Vec<u8>)>;

pub(super) struct ConsumerState {
    /// Per shard: a read connection and the chunk read last.
    pub(super) shards: Vec<(Connection, Cached)>,
    pub(super) group: String,
    /// Next offset to read per shard; `None` until loaded from the committed offsets.
    pub(super) next: Option<Vec<i64>>,
    /// The shard to read first on the next poll (turns, so no shard starves).
    pub(super) turn: usize,
}

impl ConsumerState {
    /// Up to `max` records, reading the shards in turn.
    pub(super) fn read(&mut self, max: usize) -> rusqlite::Result<Vec<LogRecord>> {
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
    pub(super) fn read_shard(
        &mut self,
        k: usize,
        mut from: i64,
        max: usize,
        out: &mut Vec<LogRecord>,
    ) -> rusqlite::Result<i64> {
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
pub(super) struct EmbeddedConsumer {
    pub(super) inner: Arc<Mutex<ConsumerState>>,
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
