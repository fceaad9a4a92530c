//! Session replay: the recorder's chunks between the HTTP edge and the warehouse.
//!
//! The recorder (`snippet/replay.js`, rrweb) sends its events in **chunks**, each the gzip of
//! a JSON array of rrweb events, addressed by `(session, window, seq)`: `window` is one
//! recorder run (one page load), `seq` counts its chunks from 0 (chunk 0 holds the page's
//! full snapshot). A chunk is:
//!
//! 1. capped as sent ([`ReplayLimits::chunk_bytes`]) and decoded ([`ReplayLimits::decoded_bytes`]),
//!    separately: a refused chunk is a `413` naming the limit; a refused full snapshot also
//!    leaves a [`snapshot_missing`] marker, so the window is shown as "snapshot missing", not
//!    played broken (`cases/2026-12.md` C6);
//! 2. PII-scrubbed like every string that reaches ingest, summarised ([`summary`]: time span,
//!    pages, clicks, errors), gzip-compressed again and **split in parts** of at most
//!    [`ReplayLimits::part_bytes`] ([`prepare`]), each part one log record (an
//!    [`Event`] with [`Payload::ReplayChunk`]) whose id is derived from its address
//!    ([`part_id`]), so a retried chunk is a duplicate in the log's id index and in the
//!    warehouse's key, stored once; no part reaches Kafka's 1 MB message limit;
//! 3. stored by the sink in the warehouse's replay table, apart from the events (retention and
//!    visitor erasure delete it with them);
//! 4. read back per session and rebuilt by [`assemble`]: windows in time order, chunks in
//!    `seq` order, parts joined, a missing chunk reported as a gap.

pub mod summary;

use crate::config::defaults;
use crate::event::{pb, DeviceClass, Event, Payload};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{Read, Write};

/// Caps and part size of replay chunks (flags `--replay-max-chunk-bytes`,
/// `--replay-max-decoded-bytes`, `--replay-part-bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayLimits {
    /// A chunk as sent (gzip), bytes. Default 2 MiB.
    pub chunk_bytes: usize,
    /// A chunk decoded (JSON), bytes. Default 16 MiB.
    pub decoded_bytes: usize,
    /// Largest part stored per log record, bytes. Default 256 KiB.
    pub part_bytes: usize,
}

impl Default for ReplayLimits {
    fn default() -> Self {
        ReplayLimits {
            chunk_bytes: defaults::REPLAY_MAX_CHUNK_BYTES,
            decoded_bytes: defaults::REPLAY_MAX_DECODED_BYTES,
            part_bytes: defaults::REPLAY_PART_BYTES,
        }
    }
}

/// Why a chunk was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// Over a cap: `what` is `body` (as sent) or `decoded`; `limit` in bytes. `413`.
    #[error("the chunk's {what} size exceeds the limit of {limit} bytes")]
    TooLarge { what: &'static str, limit: usize },
    /// Not a chunk: `field` names what is wrong. `400`.
    #[error("{field}: {reason}")]
    Malformed { field: &'static str, reason: String },
}

/// Where a chunk belongs: its site and visitor, and its address `(session, window, seq)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkAddress {
    pub site: String,
    pub visitor: String,
    /// The snippet's session id.
    pub session: String,
    /// The recorder run (one page load), 1..64 characters.
    pub window: String,
    /// The chunk's number within its window, from 0.
    pub seq: u32,
}

/// The id of part `part` of the chunk at `a`: UUIDv5 of the address, so a retry has the id
/// of the first attempt.
pub fn part_id(a: &ChunkAddress, part: u32) -> String {
    let name = format!(
        "replay\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}",
        a.site, a.session, a.window, a.seq, part
    );
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).to_string()
}

/// Decode a chunk body: gunzip when it starts with the gzip magic (`1f 8b`), else take it as
/// JSON text; at most `cap` decoded bytes.
pub fn decode_body(body: &[u8], cap: usize) -> Result<Vec<u8>, ReplayError> {
    let too_large = ReplayError::TooLarge {
        what: "decoded",
        limit: cap,
    };
    if !body.starts_with(&[0x1f, 0x8b]) {
        return if body.len() > cap {
            Err(too_large)
        } else {
            Ok(body.to_vec())
        };
    }
    let mut out = Vec::new();
    let mut r = flate2::read::MultiGzDecoder::new(body).take(cap as u64 + 1);
    r.read_to_end(&mut out).map_err(|e| ReplayError::Malformed {
        field: "body",
        reason: format!("not a gzip stream: {e}"),
    })?;
    if out.len() > cap {
        return Err(too_large);
    }
    Ok(out)
}

/// The log records of one decoded chunk (`json`, a JSON array of rrweb events): scrubbed,
/// summarised, gzip-compressed and split in parts of at most `part_bytes`. `received_at` is
/// the records' `ts` (retention counts from it). Returns the events and the PII replacements.
pub fn prepare(
    a: &ChunkAddress,
    json: &[u8],
    received_at: i64,
    part_bytes: usize,
    request_id: &str,
) -> Result<(Vec<Event>, u32), ReplayError> {
    let mut value: serde_json::Value = serde_json::from_slice(json).map_err(|e| ReplayError::Malformed {
        field: "body",
        reason: format!("not JSON: {e}"),
    })?;
    let Some(events) = value.as_array() else {
        return Err(ReplayError::Malformed {
            field: "body",
            reason: "must be a JSON array of rrweb events".into(),
        });
    };
    if events.is_empty() {
        return Err(ReplayError::Malformed {
            field: "body",
            reason: "no events".into(),
        });
    }
    let replaced = crate::event::enrich::scrub_json(&mut value);
    let s = summary::summarize(value.as_array().expect("array"));
    let text = serde_json::to_vec(&value).expect("JSON");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&text).expect("in memory");
    let data = gz.finish().expect("in memory");
    let parts: Vec<&[u8]> = data.chunks(part_bytes.max(1)).collect();
    let n = parts.len() as u32;
    let out = parts
        .into_iter()
        .enumerate()
        .map(|(i, bytes)| {
            let chunk = pb::ReplayChunk {
                window: a.window.clone(),
                seq: a.seq,
                part: i as u32,
                parts: n,
                first_ts: s.first_ts,
                last_ts: s.last_ts,
                events: s.events,
                decoded_bytes: text.len() as u64,
                full_snapshot: s.full_snapshot,
                snapshot_missing: false,
                clicks: s.clicks,
                errors: s.errors,
                pages: s.pages.clone(),
                data: bytes.to_vec(),
            };
            record(
                a,
                i as u32,
                received_at,
                s.pages.first().cloned().unwrap_or_default(),
                request_id,
                chunk,
            )
        })
        .collect();
    Ok((out, replaced))
}

/// The marker left when chunk `a` (a full snapshot) was refused: the window has no snapshot
/// and is never played, but its other chunks still count in the metadata.
pub fn snapshot_missing(a: &ChunkAddress, received_at: i64, request_id: &str) -> Event {
    let chunk = pb::ReplayChunk {
        window: a.window.clone(),
        seq: a.seq,
        parts: 1,
        first_ts: received_at,
        last_ts: received_at,
        snapshot_missing: true,
        ..Default::default()
    };
    record(a, 0, received_at, String::new(), request_id, chunk)
}

fn record(
    a: &ChunkAddress,
    part: u32,
    received_at: i64,
    url: String,
    request_id: &str,
    chunk: pb::ReplayChunk,
) -> Event {
    Event {
        client: None,
        source: None,
        id: part_id(a, part),
        site: a.site.clone(),
        ts: received_at,
        client_ts: chunk.first_ts,
        received_at,
        skew_rule: "none".into(),
        session_id: a.session.clone(),
        visitor_id: a.visitor.clone(),
        url,
        page_key: String::new(),
        viewport: None,
        seq: Some(a.seq),
        pageview_id: None,
        device: DeviceClass::Unknown,
        bot_reason: None,
        request_id: request_id.to_string(),
        payload: Payload::ReplayChunk(chunk),
    }
}

/// One stored part, as the warehouse reads it back.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPart {
    /// The snippet's session id.
    pub session: String,
    /// The part; `data` is empty when read without data (summaries).
    pub chunk: pb::ReplayChunk,
    /// Stored bytes of the part's data (gzip).
    pub bytes: u64,
}

/// The rows of the replay table written for these events: the replay-chunk parts among them,
/// with their site, visitor and receive time.
pub fn parts_of(events: &[Event]) -> Vec<(&Event, &pb::ReplayChunk)> {
    events
        .iter()
        .filter_map(|e| match &e.payload {
            Payload::ReplayChunk(c) => Some((e, c)),
            _ => None,
        })
        .collect()
}

/// A stretch of a window whose chunks never arrived: chunks `from_seq..=to_seq`, between the
/// times of the chunks around it (ms).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Gap {
    pub window: String,
    pub from_seq: u32,
    pub to_seq: u32,
    /// Last event before the gap, ms.
    pub from_ts: i64,
    /// First event after the gap, ms (`null`: the gap is at the window's end).
    pub to_ts: Option<i64>,
}

/// One recorder run of a session.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Window {
    pub window: String,
    /// First and last event, ms.
    pub started_at: i64,
    pub ended_at: i64,
    /// Chunks stored whole.
    pub chunks: u32,
    /// Its full snapshot was refused or never arrived: the window is not played.
    pub snapshot_missing: bool,
}

/// A session's replay metadata, derived from its stored chunks (units: ms, bytes).
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RecordingSummary {
    /// First and last recorded event, ms; `duration_ms` between them.
    pub started_at: i64,
    pub ended_at: i64,
    pub duration_ms: i64,
    /// Recorder runs (page loads) and chunks stored whole.
    pub windows: u32,
    pub chunks: u32,
    /// Distinct URLs loaded or navigated to, in first-seen order.
    pub pages: Vec<String>,
    /// Clicks recorded, and errors the page reported (`window.onerror`, unhandled rejections).
    pub clicks: u32,
    pub errors: u32,
    /// Stored (gzip) bytes and decoded JSON bytes.
    pub bytes: u64,
    pub decoded_bytes: u64,
    /// Chunks missing between stored ones.
    pub gaps: u32,
    /// Some window has no full snapshot (refused as too large, or lost): that part of the
    /// session cannot be played.
    pub snapshot_missing: bool,
    /// At least one window can be played.
    pub playable: bool,
}

/// A session's recording rebuilt from its parts: the rrweb events of the playable windows in
/// order, the windows, the gaps and the summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Recording {
    pub summary: RecordingSummary,
    pub windows: Vec<Window>,
    pub gaps: Vec<Gap>,
    /// rrweb events of the playable windows, in time order.
    pub events: Vec<serde_json::Value>,
}

/// A chunk gathered from its parts.
struct Chunk {
    meta: pb::ReplayChunk,
    parts: BTreeMap<u32, Vec<u8>>,
    bytes: u64,
}

/// Group parts by window and seq (each part once, whatever copies were stored). A
/// snapshot-missing marker flags its chunk; the chunk's metadata comes from its parts.
fn windows_of(parts: Vec<StoredPart>) -> BTreeMap<String, BTreeMap<u32, Chunk>> {
    let mut w: BTreeMap<String, BTreeMap<u32, Chunk>> = BTreeMap::new();
    for p in parts {
        let seqs = w.entry(p.chunk.window.clone()).or_default();
        let c = seqs.entry(p.chunk.seq).or_insert_with(|| Chunk {
            meta: pb::ReplayChunk {
                data: Vec::new(),
                parts: 0,
                ..p.chunk.clone()
            },
            parts: BTreeMap::new(),
            bytes: 0,
        });
        if p.chunk.snapshot_missing {
            c.meta.snapshot_missing = true;
            continue;
        }
        if c.parts.contains_key(&p.chunk.part) {
            continue;
        }
        if c.parts.is_empty() {
            let missing = c.meta.snapshot_missing;
            c.meta = pb::ReplayChunk {
                data: Vec::new(),
                snapshot_missing: missing,
                ..p.chunk.clone()
            };
        }
        c.bytes += p.bytes;
        c.parts.insert(p.chunk.part, p.chunk.data);
    }
    w
}

/// Rebuild a session's recording from its stored parts (any order, copies allowed). With
/// `with_events`, the parts' data is decoded into `events` (else only the summary, windows
/// and gaps, which need no data).
pub fn assemble(parts: Vec<StoredPart>, with_events: bool) -> Recording {
    let mut out = Recording::default();
    let mut runs = Vec::new();
    for (window, chunks) in windows_of(parts) {
        let whole = |c: &Chunk| !c.meta.snapshot_missing && c.parts.len() as u32 == c.meta.parts && c.meta.parts > 0;
        let stored: Vec<(&u32, &Chunk)> = chunks.iter().filter(|(_, c)| whole(c)).collect();
        let missing = chunks.values().any(|c| c.meta.snapshot_missing)
            || !chunks.get(&0).is_some_and(|c| whole(c) && c.meta.full_snapshot);
        let (Some(first), Some(last)) = (
            chunks.values().map(|c| c.meta.first_ts).min(),
            chunks.values().map(|c| c.meta.last_ts).max(),
        ) else {
            continue;
        };
        // Gaps: seqs absent (or incomplete) between 0 and the highest stored one.
        let top = stored.last().map(|(s, _)| **s).unwrap_or(0);
        let mut seq = 0;
        while seq <= top && !stored.is_empty() {
            if stored.iter().any(|(s, _)| **s == seq) {
                seq += 1;
                continue;
            }
            let from = seq;
            while seq <= top && !stored.iter().any(|(s, _)| **s == seq) {
                seq += 1;
            }
            let before = stored
                .iter()
                .filter(|(s, _)| **s < from)
                .map(|(_, c)| c.meta.last_ts)
                .max();
            let after = stored
                .iter()
                .filter(|(s, _)| **s >= seq)
                .map(|(_, c)| c.meta.first_ts)
                .min();
            out.gaps.push(Gap {
                window: window.clone(),
                from_seq: from,
                to_seq: seq - 1,
                from_ts: before.unwrap_or(first),
                to_ts: after,
            });
        }
        let s = &mut out.summary;
        s.chunks += stored.len() as u32;
        for (_, c) in &stored {
            s.clicks += c.meta.clicks;
            s.errors += c.meta.errors;
            s.bytes += c.bytes;
            s.decoded_bytes += c.meta.decoded_bytes;
            for p in &c.meta.pages {
                if !s.pages.contains(p) {
                    s.pages.push(p.clone());
                }
            }
        }
        runs.push((
            first,
            window.clone(),
            missing,
            stored
                .iter()
                .map(|(_, c)| c.parts.values().flatten().copied().collect::<Vec<u8>>())
                .collect::<Vec<_>>(),
        ));
        out.windows.push(Window {
            window,
            started_at: first,
            ended_at: last,
            chunks: stored.len() as u32,
            snapshot_missing: missing,
        });
    }
    out.windows
        .sort_by(|a, b| (a.started_at, &a.window).cmp(&(b.started_at, &b.window)));
    runs.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let s = &mut out.summary;
    s.windows = out.windows.len() as u32;
    s.gaps = out.gaps.iter().map(|g| g.to_seq - g.from_seq + 1).sum();
    s.snapshot_missing = out.windows.iter().any(|w| w.snapshot_missing);
    s.playable = out.windows.iter().any(|w| !w.snapshot_missing);
    s.started_at = out.windows.iter().map(|w| w.started_at).min().unwrap_or(0);
    s.ended_at = out.windows.iter().map(|w| w.ended_at).max().unwrap_or(0);
    s.duration_ms = s.ended_at - s.started_at;
    if with_events {
        for (_, _, missing, chunks) in runs {
            if missing {
                continue;
            }
            for gz in chunks {
                let mut json = Vec::new();
                if flate2::read::MultiGzDecoder::new(gz.as_slice())
                    .read_to_end(&mut json)
                    .is_err()
                {
                    continue;
                }
                if let Ok(serde_json::Value::Array(evs)) = serde_json::from_slice(&json) {
                    out.events.extend(evs);
                }
            }
        }
        out.events
            .sort_by_key(|e| e.get("timestamp").and_then(|t| t.as_i64()).unwrap_or(0));
    }
    out
}

/// The summary of each session among `parts` (by session id).
pub fn summaries(parts: Vec<StoredPart>) -> BTreeMap<String, RecordingSummary> {
    let mut by: BTreeMap<String, Vec<StoredPart>> = BTreeMap::new();
    for p in parts {
        by.entry(p.session.clone()).or_default().push(p);
    }
    by.into_iter()
        .map(|(s, parts)| (s, assemble(parts, false).summary))
        .collect()
}

#[cfg(test)]
mod tests;
