//! Dead letters: listing and replay (`sightline deadletter list|replay`).
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

use super::{AppendOutcome, DeadLetter, Log};
use crate::event::enrich::{Context, Skew};
use crate::event::Event;
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

/// `raw` of a `sink` letter: the event's log record, so a replay restores it exactly.
pub fn encode_event(ev: &Event) -> String {
    format!("proto:{}", hex::encode(ev.encode()))
}

/// The event in a `sink` letter's `raw`, if it holds one.
pub fn decode_event(raw: &str) -> Option<Event> {
    let bytes = hex::decode(raw.strip_prefix("proto:")?).ok()?;
    Event::decode(&bytes).ok()
}

/// The first bytes of a refused request body as a sample to keep: a gzip body (refused
/// while or before decoding: too large decoded, corrupt, an unsupported outer coding) is
/// decoded as far as it goes, up to `max` bytes; any other body is returned as it is.
pub fn decoded_sample(bytes: &[u8], max: usize) -> std::borrow::Cow<'_, [u8]> {
    use std::io::Read;
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return bytes.into();
    }
    let mut reader = flate2::read::MultiGzDecoder::new(bytes).take(max as u64);
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    // Keep what decoded before an error: a cut or corrupt stream still yields its start.
    while let Ok(n @ 1..) = reader.read(&mut buf) {
        out.extend_from_slice(&buf[..n]);
    }
    if out.is_empty() {
        bytes.into()
    } else {
        out.into()
    }
}

/// A sample as text: `Ok` when it is UTF-8 (a character cut at the sample's end dropped),
/// else `Err` with the bytes marked binary, `base64:<standard base64>`, so the store never
/// holds mojibake.
pub fn sample_text(bytes: &[u8]) -> Result<&str, String> {
    use base64::Engine;
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(e) if e.error_len().is_none() => Ok(std::str::from_utf8(&bytes[..e.valid_up_to()]).expect("valid prefix")),
        Err(_) => Err(format!(
            "base64:{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )),
    }
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
        self.site.as_ref().is_none_or(|s| *s == d.site) && self.stage.as_ref().is_none_or(|s| *s == d.stage)
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
        match d.stage.as_str() {
            "sink" => match decode_event(&d.raw) {
                Some(ev) => to_store.push(ev),
                None => report.skipped += 1,
            },
            "ingest" => {
                let site = sites.iter().find(|s| s.key == d.site);
                let raw: Option<serde_json::Value> = serde_json::from_str(&d.raw).ok();
                let (Some(site), Some(raw)) = (site, raw.filter(|v| v.is_object())) else {
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
                };
                match crate::ingest::accept_event(0, &raw, &site.key, &ctx, event_cap) {
                    Ok((ev, _)) => to_append.push(ev),
                    Err(r) => {
                        report.still_rejected += 1;
                        if report.reasons.len() < 20 {
                            report.reasons.push(format!("{}: {}", r.field, r.reason));
                        }
                    }
                }
            }
            // `request`: a sample of a refused body, kept for diagnosis; nothing to replay.
            _ => report.skipped += 1,
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
