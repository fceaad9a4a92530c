//! The embedded replay store: a blob table in `warehouse.db`, one row per stored part of a
//! replay chunk (`crate::replay`), keyed by (site, session, window, seq, part), so a part
//! stored twice (a retry, a replay of the log) is kept once.

use crate::event::{pb, Event};
use crate::replay::StoredPart;
use rusqlite::{params, Connection, Transaction};

/// The replay table and its indexes.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS replay_chunks (
    site TEXT NOT NULL, session_id TEXT NOT NULL, win TEXT NOT NULL, seq INTEGER NOT NULL,
    part INTEGER NOT NULL, visitor_id TEXT NOT NULL, ts INTEGER NOT NULL,
    meta BLOB NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (site, session_id, win, seq, part)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS replay_chunks_site_ts ON replay_chunks (site, ts);
CREATE INDEX IF NOT EXISTS replay_chunks_visitor ON replay_chunks (site, visitor_id);
";

/// Store the replay parts among `events`; returns (stored, already there).
pub fn insert(tx: &Transaction, events: &[(&Event, &pb::ReplayChunk)]) -> rusqlite::Result<(u64, u64)> {
    let mut ins = tx.prepare_cached(
        "INSERT INTO replay_chunks (site, session_id, win, seq, part, visitor_id, ts, meta, data)
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9) ON CONFLICT DO NOTHING",
    )?;
    let (mut new, mut dup) = (0, 0);
    for (e, c) in events {
        let meta = prost::Message::encode_to_vec(&pb::ReplayChunk {
            data: Vec::new(),
            ..(*c).clone()
        });
        // A snapshot-missing marker takes a part number no data part has.
        let part = if c.snapshot_missing { u32::MAX } else { c.part };
        let n = ins.execute(params![
            e.site,
            e.session_id,
            c.window,
            c.seq,
            part,
            e.visitor_id,
            e.ts,
            meta,
            c.data
        ])?;
        if n == 1 {
            new += 1;
        } else {
            dup += 1;
        }
    }
    Ok((new, dup))
}

/// The parts of `sessions` on `site`, with their data when `with_data`.
pub fn read(c: &Connection, site: &str, sessions: &[String], with_data: bool) -> anyhow::Result<Vec<StoredPart>> {
    let mut st = c.prepare_cached(if with_data {
        "SELECT session_id, meta, data, length(data) FROM replay_chunks WHERE site = ?1 AND session_id = ?2"
    } else {
        "SELECT session_id, meta, x'', length(data) FROM replay_chunks WHERE site = ?1 AND session_id = ?2"
    })?;
    let mut out = Vec::new();
    for s in sessions {
        let mut rows = st.query(params![site, s])?;
        while let Some(r) = rows.next()? {
            let mut chunk: pb::ReplayChunk = prost::Message::decode(r.get_ref(1)?.as_blob()?)?;
            chunk.data = r.get(2)?;
            out.push(StoredPart {
                session: r.get(0)?,
                chunk,
                bytes: r.get::<_, i64>(3)? as u64,
            });
        }
    }
    Ok(out)
}

/// Delete the parts of `visitor` on `site` (erasure); returns how many.
pub fn delete_visitor(tx: &Transaction, site: &str, visitor: &str) -> rusqlite::Result<usize> {
    tx.execute(
        "DELETE FROM replay_chunks WHERE site = ?1 AND visitor_id = ?2",
        params![site, visitor],
    )
}

/// Delete the parts of `site` with `ts` (event time) before `before` (ms): retention, and a
/// site's deletion.
pub fn delete_before(tx: &Transaction, site: &str, before: i64) -> rusqlite::Result<usize> {
    tx.execute(
        "DELETE FROM replay_chunks WHERE site = ?1 AND ts < ?2",
        params![site, before],
    )
}
