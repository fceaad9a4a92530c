//! A shard's file format and its writer: records packed into zstd chunks, the group-commit
//! writer thread, retention of chunks every group has committed, and the conversion of the old
//! one-row-per-record format.

use super::*;
use crate::event::Event;
use crate::log::dedup::{self, IdKey};
use crate::log::AppendOutcome;
use rusqlite::{params, Connection};
use std::sync::mpsc;

/// Convert a `log.db` of the one-row-per-record format (see the module docs). `conns[0]`
/// is `log.db`; every shard's `id_keys` table exists.
pub(super) fn convert_old_format(conns: &mut [Connection]) -> anyhow::Result<()> {
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
                    put.execute(params![&k.key[..], t])?;
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
pub(super) fn push_record(body: &mut Vec<u8>, payload: &[u8]) {
    body.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    body.extend_from_slice(payload);
}

/// The records of an uncompressed chunk body, in order (an erased record is empty).
pub(super) fn records(body: &[u8]) -> impl Iterator<Item = &[u8]> {
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

pub(super) fn write_chunk(tx: &Connection, first: i64, n: i64, body: &[u8]) -> Result<(), String> {
    let z = zstd::bulk::compress(body, ZSTD_LEVEL).map_err(|e| e.to_string())?;
    let at = chrono::Utc::now().timestamp_millis();
    tx.prepare_cached("INSERT INTO chunks (first, n, raw, at, body) VALUES (?1, ?2, ?3, ?4, ?5)")
        .and_then(|mut st| st.execute(params![first, n, body.len() as i64, at, z]))
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// A chunk's records: `body` decompressed to its `raw` length, bytes. One zstd context per
/// thread serves every chunk it reads (making one per chunk cost the sink about 2 % of its
/// time, in allocation and clearing).
pub(super) fn unpack(raw: i64, body: &[u8]) -> rusqlite::Result<Vec<u8>> {
    thread_local! {
        static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    let to_sql = |e: std::io::Error| rusqlite::Error::ToSqlConversionFailure(Box::new(e));
    DECOMPRESSOR.with_borrow_mut(|d| {
        if d.is_none() {
            *d = Some(zstd::bulk::Decompressor::new().map_err(to_sql)?);
        }
        d.as_mut()
            .expect("made above")
            .decompress(body, raw.max(0) as usize)
            .map_err(to_sql)
    })
}

/// A writer's retention state: its shard, a connection to `log.db` (the groups' offsets)
/// and when it last looked, ms.
pub(super) struct Retention {
    pub(super) shard: usize,
    pub(super) offsets: Connection,
    pub(super) last: i64,
}

impl Retention {
    /// Delete the chunks of this shard that every group has committed and that are older
    /// than [`RETENTION_MS`] at `now`; at most once per [`RETENTION_EVERY_MS`]. Returns the
    /// chunks deleted.
    pub(super) fn apply(&mut self, conn: &Connection, now: i64) -> rusqlite::Result<usize> {
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

/// A shard's writer thread: takes commands from `rx`, commits them in groups. `legacy_until`
/// is the shard's ([`dedup::open_index`]).
pub(super) fn writer(
    mut conn: Connection,
    rx: mpsc::Receiver<Cmd>,
    mut next: i64,
    legacy_until: i64,
    mut retention: Retention,
) {
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
        let result = commit_group(&mut conn, &group, next, legacy_until);
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
pub(super) type GroupResult = Result<(Vec<Option<Vec<AppendOutcome>>>, i64), String>;

/// Commit one group as one transaction: the id claims, one chunk of the new records
/// (offsets from `next`; the claims in a shard of `legacy_until`), the dead letters.
pub(super) fn commit_group(conn: &mut Connection, group: &[Cmd], next: i64, legacy_until: i64) -> GroupResult {
    let tx = conn.transaction().map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(group.len());
    let mut body = Vec::new();
    let mut n = 0i64;
    for cmd in group {
        match cmd {
            Cmd::Append(items, _) => {
                let mut outcomes = Vec::with_capacity(items.len());
                for it in items {
                    let outcome = dedup::claim(&tx, &it.key, it.typ, legacy_until).map_err(|e| e.to_string())?;
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
                        d.stage.as_str(),
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
