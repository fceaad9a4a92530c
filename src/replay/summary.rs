//! What one chunk of rrweb events tells, read server-side: its time span, whether it holds a
//! full snapshot, the pages it loaded or navigated to, its clicks and the page's errors.
//!
//! rrweb event types: 2 full snapshot, 3 incremental snapshot (source 2 = mouse
//! interaction, type 2 = click), 4 meta (`data.href`: a page load), 5 custom (the recorder's
//! `sl-nav` with `payload.href` on a single-page navigation, `sl-error` for an error).

use serde_json::Value;

/// rrweb `EventType.FullSnapshot`.
pub const FULL_SNAPSHOT: i64 = 2;
/// rrweb `EventType.IncrementalSnapshot`.
pub const INCREMENTAL: i64 = 3;
/// rrweb `EventType.Meta`.
pub const META: i64 = 4;
/// rrweb `EventType.Custom`.
pub const CUSTOM: i64 = 5;

/// The facts of one chunk (times in ms since the epoch, as the recorder stamped them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChunkSummary {
    pub first_ts: i64,
    pub last_ts: i64,
    /// rrweb events in the chunk.
    pub events: u32,
    pub full_snapshot: bool,
    /// URLs of meta events and `sl-nav` custom events, in order, each once.
    pub pages: Vec<String>,
    pub clicks: u32,
    pub errors: u32,
}

/// Summarise a chunk's rrweb events.
pub fn summarize(events: &[Value]) -> ChunkSummary {
    let mut s = ChunkSummary {
        first_ts: i64::MAX,
        last_ts: i64::MIN,
        ..Default::default()
    };
    for e in events {
        s.events += 1;
        if let Some(t) = e.get("timestamp").and_then(Value::as_f64) {
            s.first_ts = s.first_ts.min(t as i64);
            s.last_ts = s.last_ts.max(t as i64);
        }
        let data = e.get("data");
        let field = |k: &str| data.and_then(|d| d.get(k));
        let href = match e.get("type").and_then(Value::as_i64) {
            Some(FULL_SNAPSHOT) => {
                s.full_snapshot = true;
                None
            }
            Some(INCREMENTAL) => {
                let int = |k| field(k).and_then(Value::as_i64);
                if int("source") == Some(2) && int("type") == Some(2) {
                    s.clicks += 1;
                }
                None
            }
            Some(META) => field("href").and_then(Value::as_str),
            Some(CUSTOM) => match field("tag").and_then(Value::as_str) {
                Some("sl-nav") => field("payload").and_then(|p| p.get("href")).and_then(Value::as_str),
                Some("sl-error") => {
                    s.errors += 1;
                    None
                }
                _ => None,
            },
            _ => None,
        };
        if let Some(h) = href {
            if !s.pages.iter().any(|p| p == h) {
                s.pages.push(h.to_string());
            }
        }
    }
    if s.first_ts > s.last_ts {
        (s.first_ts, s.last_ts) = (0, 0);
    }
    s
}
