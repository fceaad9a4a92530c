//! The per-session detail rows: what the sessions list and `/problems` read beyond
//! [`super::SessionRow`].

use super::*;

/// One page of a session, with its frustration counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionPage {
    pub page: String,
    pub pageviews: u32,
    pub clicks: u32,
    pub rage_clicks: u32,
    pub dead_clicks: u32,
    pub quick_backs: u32,
}

/// One clicked element of a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionElement {
    pub page: String,
    pub selector: String,
    /// Zone name, "" when none.
    pub zone: String,
    pub clicks: u32,
    pub rage_clicks: u32,
    pub dead_clicks: u32,
}

/// Replay metadata sent by a recorder (`replay` events), ms and bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayMeta {
    pub recording_id: String,
    pub started_at: i64,
    pub ended_at: i64,
    pub pages: u32,
    pub events: u32,
    pub bytes: u64,
    pub clicks: u32,
    pub errors: u32,
}

/// What the sessions list and `/problems` need beyond [`SessionRow`], joined on
/// `session_key`; stored on the session's start day like [`SessionRow`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionDetailRow {
    pub dims: Dims,
    pub session_key: String,
    /// Pages in first-visit order.
    pub pages: Vec<SessionPage>,
    /// Clicked elements, sorted by (page, selector, zone).
    pub elements: Vec<SessionElement>,
    /// Recordings, latest report per `recording_id`, by `started_at`.
    pub replays: Vec<ReplayMeta>,
    /// Feedback rated ≤ 2 (analytics.md, "Feedback button").
    pub negative_feedback: u32,
}
