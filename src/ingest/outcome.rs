//! Outcomes: what became of every event of a batch and of every refused request, recorded
//! at one choke point (Relay's habit: every item gets exactly one outcome, with a typed
//! reason when it was not stored).
//!
//! A batch's events are tallied in an [`Outcomes`] while the batch is read, and
//! [`Outcomes::emit`] then counts the metrics once per batch (one `inc_by` per label set, never
//! one per event) and writes the batch's dead letters in one call. A request refused as a
//! whole goes through [`refused`]: counted by cause, and kept as a dead letter of stage
//! [`DeadStage::Request`] when it is bad input.

use super::{compat, IngestError, IngestState};
use crate::event::enrich;
use crate::event::validate::{cut_chars, Rejection};
use crate::event::wire::Json;
use crate::event::{Event, EVENT_TYPES};
use crate::log::{DeadLetter, Log};
use crate::metrics::METRICS;
use crate::model::dead_stage::DeadStage;
use serde_json::value::RawValue;

/// Characters of a rejected event's JSON kept in its dead letter: enough for any event under
/// the per-event cap to be replayed whole, under Kafka's 1 MB message limit.
const DEAD_EVENT_CHARS: usize = 512 << 10;

/// Bytes of a refused request's body kept as a dead letter.
pub(super) const BODY_SAMPLE_BYTES: usize = 4096;

/// Why an event of a batch was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscardReason {
    /// A field is missing, ill-typed or out of range (validation, the per-event cap, the age
    /// rule, a survey's definition): reported, counted by type and field, dead-lettered.
    Invalid,
    /// Its id was accepted before for an event of another type (`cases/ingest.md` I8):
    /// reported on `id`, counted, dead-lettered.
    IdConflict,
    /// The visitor's event rate was used up: reported on `visitor_id` and counted, not
    /// dead-lettered (not bad input; a resend may be taken).
    VisitorQuota,
}

/// What became of one event of a batch: exactly one per event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Newly appended to the log; durable.
    Accepted,
    /// Its id was accepted before with the same type: acknowledged, stored once.
    Duplicate,
    /// Not stored, and why.
    Discarded(DiscardReason),
}

/// The metric label of a type index ([`type_index`]).
fn type_label(i: usize) -> &'static str {
    EVENT_TYPES.get(i).copied().unwrap_or("unknown")
}

/// The index of a v1 type name in [`EVENT_TYPES`], or `EVENT_TYPES.len()` (`unknown`) for a
/// missing or unknown type.
pub fn type_index(name: Option<&str>) -> usize {
    name.and_then(|n| EVENT_TYPES.iter().position(|t| *t == n))
        .unwrap_or(EVENT_TYPES.len())
}

/// One batch's outcomes, tallied by type while it is read; counted and dead-lettered by
/// [`Outcomes::emit`].
pub struct Outcomes {
    site: String,
    received_at: i64,
    sent_at: Option<i64>,
    bot_reason: Option<String>,
    /// Events received, by type index (last: `unknown`).
    received: [u64; EVENT_TYPES.len() + 1],
    accepted: [u64; EVENT_TYPES.len() + 1],
    duplicates: [u64; EVENT_TYPES.len() + 1],
    bots: u64,
    pii: u64,
    /// (type index, field) of each rejected event.
    rejected: Vec<(usize, String)>,
    /// Optional fields dropped for their type.
    fields_dropped: Vec<String>,
    dead: Vec<DeadLetter>,
}

impl Outcomes {
    /// The outcomes of a batch of `site` received at `received_at` (ms), sent at `sent_at`
    /// (client ms), flagged `bot_reason`: what its dead letters keep so a replay treats an
    /// event as ingest would have.
    pub fn new(site: &str, received_at: i64, sent_at: Option<i64>, bot_reason: Option<String>) -> Outcomes {
        Outcomes {
            site: site.to_string(),
            received_at,
            sent_at,
            bot_reason,
            received: Default::default(),
            accepted: Default::default(),
            duplicates: Default::default(),
            bots: 0,
            pii: 0,
            rejected: Vec::new(),
            fields_dropped: Vec::new(),
            dead: Vec::new(),
        }
    }

    /// An event of type index `typ` ([`type_index`]) was received.
    pub fn received(&mut self, typ: usize) {
        self.received[typ.min(EVENT_TYPES.len())] += 1;
    }

    /// An event passed validation and enrichment: `pii` replacements made, `dropped`
    /// optional fields dropped for their type.
    pub fn enriched(&mut self, pii: u32, dropped: &[String]) {
        self.pii += u64::from(pii);
        self.fields_dropped.extend(dropped.iter().cloned());
    }

    /// The outcome of one event (`typ` its type index, `raw` its JSON as sent) and, when it
    /// was discarded, its rejection.
    pub fn record(&mut self, outcome: Outcome, ev: Option<&Event>, typ: usize, raw: &RawValue, r: Option<&Rejection>) {
        let typ = typ.min(EVENT_TYPES.len());
        match outcome {
            Outcome::Accepted => {
                self.accepted[typ] += 1;
                self.bots += u64::from(ev.is_some_and(|e| e.bot_reason.is_some()));
            }
            Outcome::Duplicate => self.duplicates[typ] += 1,
            Outcome::Discarded(DiscardReason::VisitorQuota) => {}
            Outcome::Discarded(DiscardReason::Invalid | DiscardReason::IdConflict) => {
                let Some(r) = r else { return };
                self.rejected.push((typ, r.field.clone()));
                self.dead.push(DeadLetter {
                    at: self.received_at,
                    site: self.site.clone(),
                    stage: DeadStage::Ingest,
                    field: r.field.clone(),
                    reason: r.reason.clone(),
                    // The raw event, scrubbed of PII like accepted events are.
                    raw: cut_chars(scrubbed(raw), DEAD_EVENT_CHARS),
                    sent_at: self.sent_at,
                    bot_reason: self.bot_reason.clone(),
                });
            }
        }
    }

    /// Count the batch's outcomes (one increment per label set) and, when `log` is given,
    /// keep its rejected events as dead letters. A batch whose append failed is counted
    /// but not dead-lettered (`log` is `None`): its client retries it.
    pub async fn emit(mut self, log: Option<&dyn Log>) {
        let m = &*METRICS;
        for i in 0..=EVENT_TYPES.len() {
            let t = type_label(i);
            if self.received[i] > 0 {
                m.events_received_total.with_label_values(&[t]).inc_by(self.received[i]);
            }
            if self.accepted[i] > 0 {
                m.events_accepted_total.with_label_values(&[t]).inc_by(self.accepted[i]);
            }
            if self.duplicates[i] > 0 {
                m.events_duplicate_total
                    .with_label_values(&[t])
                    .inc_by(self.duplicates[i]);
            }
        }
        if self.bots > 0 {
            m.bot_events_total.inc_by(self.bots);
        }
        if self.pii > 0 {
            m.pii_replacements_total.inc_by(self.pii);
        }
        self.fields_dropped.sort_unstable();
        for run in self.fields_dropped.chunk_by(|a, b| a == b) {
            m.fields_dropped_total
                .with_label_values(&[&run[0]])
                .inc_by(run.len() as u64);
        }
        self.rejected.sort_unstable();
        for run in self.rejected.chunk_by(|a, b| a == b) {
            m.events_rejected_total
                .with_label_values(&[type_label(run[0].0), &run[0].1])
                .inc_by(run.len() as u64);
        }
        if let (Some(log), false) = (log, self.dead.is_empty()) {
            if let Err(e) = log.dead_letter(std::mem::take(&mut self.dead)).await {
                tracing::warn!(error = %e, "could not keep rejected events as dead letters");
            }
        }
    }
}

/// `n` events of a batch refused by the visitor quota before validation.
pub fn over_visitor_quota(n: usize) {
    if n > 0 {
        METRICS
            .events_refused_total
            .with_label_values(&["quota_visitor"])
            .inc_by(n as u64);
    }
}

/// An event's JSON as kept in a dead letter: PII-scrubbed field by field (ids and times
/// kept), or as text when it cannot be read as a tree (nested past the parser's depth).
fn scrubbed(raw: &RawValue) -> String {
    match Json::from(raw).to_value() {
        Some(mut v) => {
            enrich::scrub_json(&mut v);
            v.to_string()
        }
        None => enrich::scrub_text(raw.get()).0,
    }
}

/// A request refused as a whole: counted by cause and, when it is bad input, a sample of its
/// body kept ([`keep_refused_body`]).
pub(crate) async fn refused(state: &IngestState, e: &IngestError, sample: &[u8]) {
    METRICS.requests_refused_total.with_label_values(&[e.cause()]).inc();
    keep_refused_body(state, e, sample).await;
}

/// Keep a sample of a request refused as bad input (malformed, unknown site, origin, size,
/// encoding, content type) in the dead-letter store, stage [`DeadStage::Request`],
/// PII-scrubbed. Refusals that ask for a retry (quotas, overload, log outage) are not bad
/// input and are not kept. The samples are themselves rate limited
/// ([`super::quota::Quotas::take_sample`]) so a flood of garbage cannot fill the store;
/// samples over that rate are only counted.
async fn keep_refused_body(state: &IngestState, e: &IngestError, sample: &[u8]) {
    if !e.is_bad_input() || !state.quotas.take_sample() {
        return;
    }
    // A sample that is JSON is scrubbed field by field (ids and times kept), else as text;
    // compressed bytes are decoded first, and bytes that are not text are kept as base64.
    let sample = crate::log::deadletter::decoded_sample(sample, BODY_SAMPLE_BYTES);
    // The sample is parsed once: its site is read (the body's `site`, or for a tracker's body
    // the site its project key maps to) before it is scrubbed.
    let (text, site) = match serde_json::from_slice::<serde_json::Value>(&sample) {
        Ok(mut v) => {
            let site = v
                .get("site")
                .and_then(|s| s.as_str())
                .map(|s| cut_chars(s.to_string(), 128))
                .or_else(|| compat::site_of_body(&state.sites, &v))
                .unwrap_or_default();
            enrich::scrub_json(&mut v);
            (v.to_string(), site)
        }
        Err(_) => match crate::log::deadletter::sample_text(&sample) {
            Ok(text) => (enrich::scrub_text(text).0, String::new()),
            Err(binary) => (binary, String::new()),
        },
    };
    let letter = DeadLetter {
        at: state.clock.now_ms(),
        site,
        stage: DeadStage::Request,
        field: e.field().to_string(),
        reason: e.to_string(),
        raw: text,
        sent_at: None,
        bot_reason: None,
    };
    if let Err(err) = state.log.dead_letter(vec![letter]).await {
        tracing::warn!(error = %err, "could not keep a refused request's body sample");
    }
}
