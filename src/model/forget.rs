//! The audit record of an erasure ([`ForgetRecord`]; the erasure itself is
//! [`crate::privacy`]).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The audit record of one erasure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ForgetRecord {
    /// Record id (uuid v7).
    pub id: String,
    pub site: String,
    /// Hex SHA-256 of `site`, a NUL byte and the visitor id ([`visitor_hash`]); empty for a
    /// whole site.
    pub visitor_sha256: String,
    /// The record of a deleted site: every visitor of `site` until `at`.
    #[serde(default)]
    pub whole_site: bool,
    /// When the erasure started, ms; events received until then are dropped.
    pub at: i64,
    /// Who asked: `root`, an API token id, or `cli`.
    pub by: String,
    /// Records removed from the log (0 for Kafka, whose records age out by retention).
    pub log_events: u64,
    /// Raw events removed from the warehouse.
    pub warehouse_events: u64,
    /// The days the deleted events were on, as UTC midnights (ms): UTC days whatever the
    /// site's time zone (the warehouse keeps no time zone); the sessions of those events are
    /// recomputed, on the site's days.
    pub days: Vec<i64>,
    /// When every step finished, ms (`None` while running, or when a step failed).
    pub done_at: Option<i64>,
}

impl ForgetRecord {
    /// A new record, not done yet, of the erasure of `visitor` of `site`, or of the whole
    /// site with `None` (a site deletion, `DELETE /v1/sites/{key}`), starting at `at` (ms,
    /// from the clock ingest stamps `received_at` with: the erasure covers what was received
    /// up to then).
    pub fn begin(site: &str, visitor: Option<&str>, by: &str, at: i64) -> ForgetRecord {
        ForgetRecord {
            id: uuid::Uuid::now_v7().to_string(),
            site: site.to_string(),
            visitor_sha256: visitor.map(|v| visitor_hash(site, v)).unwrap_or_default(),
            whole_site: visitor.is_none(),
            at,
            by: by.to_string(),
            log_events: 0,
            warehouse_events: 0,
            days: Vec::new(),
            done_at: None,
        }
    }
}

/// Hex SHA-256 of (site, visitor): how a forgotten visitor is recognised without keeping the id.
pub fn visitor_hash(site: &str, visitor: &str) -> String {
    let mut h = Sha256::new();
    h.update(site.as_bytes());
    h.update([0u8]);
    h.update(visitor.as_bytes());
    hex::encode(h.finalize())
}
