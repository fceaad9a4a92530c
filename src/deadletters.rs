//! Dead letters: listing and replay (`sightline deadletter list|replay`). Above ingest: a
//! replay sends letters through it again. The letters' encoding is [`crate::log::deadletter`].
//!
//! Nothing is dropped silently (Snowplow's "bad rows"): every event ingest rejects and every
//! batch the warehouse refuses is kept in the log's dead-letter store ([`Log::dead_letter`])
//! with its stage, field and reason. A replay gives each letter a second chance once the
//! cause is fixed (a site's settings, a validation bug, a warehouse schema):
//!
//! - `ingest` letters holding an event go through [`crate::ingest::accept_event`] again, the
//!   same validation and enrichment as live traffic (with the batch's `sent_at` and bot flag
//!   kept in the letter), and are appended to the log. The log's id dedup makes a second
//!   replay, or a replay of an event that was accepted meanwhile, a duplicate: counted once.
//! - `sink` letters hold the event's log record (`proto:<hex>`); they are inserted into the
//!   warehouse directly, which deduplicates by event id too.
//!
//! Letters stay in the store after a replay (the store is an audit trail); the report says
//! what became of each.

use crate::event::enrich::{Context, Skew};
use crate::event::wire::WireEvent;
use crate::log::deadletter::decode_event;
use crate::log::{AppendOutcome, DeadLetter, Log};
use crate::model::dead_stage::DeadStage;
use crate::sites::Site;
use crate::warehouse::Warehouse;
use serde::Serialize;

/// Dead letters newest first, at most `limit`, passing `filter`, without those of visitors
/// forgotten on request ([`crate::privacy`]): the one read path of the CLI and the admin API.
pub async fn read(
    log: &dyn Log,
    warehouse: &dyn Warehouse,
    filter: &Filter,
    limit: usize,
) -> anyhow::Result<Vec<DeadLetter>> {
    let forgotten = crate::privacy::Forgotten::default();
    forgotten.refresh(warehouse).await?;
    // Read more than asked: some are filtered out.
    let scan = if filter.site.is_some() || filter.stage.is_some() || !forgotten.is_empty() {
        limit.saturating_mul(10).max(1000)
    } else {
        limit
    };
    Ok(log
        .dead_letters(scan)
        .await?
        .into_iter()
        .filter(|d| filter.matches(d) && !forgotten.hides(d))
        .take(limit)
        .collect())
}

/// Which letters to list or replay.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this site (write key).
    pub site: Option<String>,
    /// Only this stage (`ingest`, `sink`).
    pub stage: Option<String>,
}

impl Filter {
    /// Whether `d` passes the filter.
    pub fn matches(&self, d: &DeadLetter) -> bool {
        self.site.as_ref().is_none_or(|s| *s == d.site) && self.stage.as_ref().is_none_or(|s| s == d.stage.as_str())
    }
}

/// What a replay did, letter by letter, in counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReplayReport {
    /// Letters looked at.
    pub letters: usize,
    /// Events appended to the log (ingest letters) or newly stored (sink letters).
    pub replayed: usize,
    /// Events already accepted or stored (a second replay, or a client's retry got through).
    pub duplicates: usize,
    /// Letters rejected again, with the field and reason of the first few.
    pub still_rejected: usize,
    pub reasons: Vec<String>,
    /// Letters that hold no event (a body sample, an undecodable record, an unknown site).
    pub skipped: usize,
}

/// Replay `letters` (see the module docs). `dry_run` validates without appending.
pub async fn replay(
    log: &dyn Log,
    warehouse: &dyn Warehouse,
    sites: &[Site],
    letters: &[DeadLetter],
    event_cap: usize,
    dry_run: bool,
) -> anyhow::Result<ReplayReport> {
    let mut report = ReplayReport {
        letters: letters.len(),
        ..ReplayReport::default()
    };
    let mut to_append = Vec::new();
    let mut to_store = Vec::new();
    for d in letters {
        match d.stage {
            DeadStage::Sink => match decode_event(&d.raw) {
                Some(ev) => to_store.push(ev),
                None => report.skipped += 1,
            },
            DeadStage::Ingest => {
                let site = sites.iter().find(|s| s.key == d.site);
                let raw: Option<&serde_json::value::RawValue> = serde_json::from_str(&d.raw).ok();
                let wire = raw.map(WireEvent::parse).filter(|w| w.is_object);
                let (Some(site), Some(wire)) = (site, wire) else {
                    report.skipped += 1;
                    continue;
                };
                let request_id = format!("replay-{}", uuid::Uuid::now_v7());
                let ctx = Context {
                    received_at: d.at,
                    oldest_ts: d.at - crate::event::enrich::MAX_LIVE_AGE_MS,
                    skew: Skew::for_batch(d.sent_at, d.at),
                    bot_reason: d.bot_reason.clone(),
                    page_keys: &site.settings.page_keys,
                    request_id: &request_id,
                    client: None,
                };
                match crate::ingest::accept_event(0, &wire, &site.key, &ctx, event_cap) {
                    Ok(ok) => to_append.push(ok.event),
                    Err(r) => {
                        report.still_rejected += 1;
                        if report.reasons.len() < 20 {
                            report.reasons.push(format!("{}: {}", r.field, r.reason));
                        }
                    }
                }
            }
            // A sample of a refused body, kept for diagnosis; nothing to replay.
            DeadStage::Request => report.skipped += 1,
        }
    }
    if dry_run {
        report.replayed = to_append.len() + to_store.len();
        return Ok(report);
    }
    for chunk in to_append.chunks(500) {
        for outcome in log.append(chunk).await? {
            match outcome {
                AppendOutcome::Appended => report.replayed += 1,
                AppendOutcome::Duplicate => report.duplicates += 1,
                AppendOutcome::Conflict(_) => {
                    report.still_rejected += 1;
                    if report.reasons.len() < 20 {
                        report
                            .reasons
                            .push("id: already used by an event of another type".into());
                    }
                }
            }
        }
    }
    if !to_store.is_empty() {
        let r = warehouse.insert_events(&to_store).await?;
        report.replayed += r.inserted as usize;
        report.duplicates += r.duplicates as usize;
    }
    Ok(report)
}
