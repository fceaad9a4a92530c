//! A batch's way into the log: quotas, per-event validation and enrichment, dead letters,
//! the append and its answer ([`accept`], [`accept_browser_batch`]).

use super::*;
use crate::event::enrich::{self, Context, Skew};
use crate::event::validate::{cut_chars, Rejection};
use crate::log::{AppendOutcome, DeadLetter, LogError};
use crate::metrics::METRICS;
use actix_web::http::{header, StatusCode};
use actix_web::HttpRequest;
use std::time::Instant;

/// A batch of event objects (`POST /v1/events` fields) sent by a visitor's browser.
pub(crate) struct BrowserBatch<'a> {
    pub events: &'a [serde_json::Value],
    /// Client time the batch was sent, ms (for the clock-skew shift).
    pub sent_at: Option<i64>,
    /// `navigator.webdriver` as the client reported it.
    pub webdriver: bool,
    /// Receive time, ms.
    pub received_at: i64,
}

/// The checks of a browser's batch for `site` — origin (`403`), the visitor quota (its
/// refused events reported as rejected, `429` when all are), the site quota (`429`), the bot
/// flag from the user agent, the clock-skew shift — then [`accept`]. Shared by
/// `POST /v1/events` and the tracker-compatible routes ([`compat`]).
pub(crate) async fn accept_browser_batch(
    req: &HttpRequest,
    state: &IngestState,
    site: &crate::sites::Site,
    batch: BrowserBatch<'_>,
) -> Result<(StatusCode, String, IngestResponse), IngestError> {
    if let Some(o) = req.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        if !site.allows_origin(o) {
            return Err(IngestError::OriginNotAllowed(o.to_string()));
        }
    }
    // The visitor quota first: a flooding visitor's refused events take nothing from the
    // site's quota, so its other visitors are not refused for it (cases/2026-12.md C12).
    let visitors = batch
        .events
        .iter()
        .map(|e| e.get("visitor_id").and_then(|v| v.as_str()));
    let over = state.quotas.take_visitors(&site.key, visitors);
    if !over.refused.is_empty() {
        METRICS
            .events_refused_total
            .with_label_values(&["quota_visitor"])
            .inc_by(over.refused.len() as u64);
        if over.refused.len() == batch.events.len() {
            return Err(quota::Refusal::Visitor(over.wait).into());
        }
    }
    state.quotas.take_site(
        &site.key,
        site.settings.events_per_minute,
        batch.events.len() - over.refused.len(),
    )?;
    let user_agent = req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok());
    // The client IP is read here for the bot check's benefit and never stored.
    let bot_reason = enrich::bot_reason(user_agent, batch.webdriver);
    let skew = Skew::for_batch(batch.sent_at, batch.received_at);
    METRICS
        .clock_skew_seconds
        .with_label_values(&[if skew.shift_ms == 0 { "none" } else { "shift" }])
        .observe((skew.shift_ms.abs() as f64) / 1000.0);
    // Events the visitor quota refused are left out of the batch and reported as rejected.
    let kept: std::borrow::Cow<[serde_json::Value]> = if over.refused.is_empty() {
        batch.events.into()
    } else {
        let mut refused = over.refused.iter().peekable();
        let kept = (0..batch.events.len()).filter(|i| refused.next_if_eq(&i).is_none());
        kept.map(|i| batch.events[i].clone()).collect::<Vec<_>>().into()
    };
    let (status, request_id, mut out) = accept(
        state,
        site,
        &kept,
        batch.received_at,
        batch.sent_at,
        skew,
        bot_reason,
        batch.received_at - enrich::MAX_LIVE_AGE_MS,
    )
    .await?;
    if !over.refused.is_empty() {
        report_over_quota(state, &over, &mut out);
    }
    Ok((status, request_id, out))
}

/// Put the events the visitor quota refused back into a batch's answer, whose indexes count
/// only the events that were kept: rejections on `visitor_id` naming the rate and the wait
/// (not dead-lettered: not bad input, and a resend may be taken), every index the batch's.
pub(super) fn report_over_quota(state: &IngestState, over: &quota::VisitorRefusals, out: &mut IngestResponse) {
    // The i-th kept event's index in the batch: i plus the refused events before it.
    let original = |i: usize| {
        let mut at = i;
        for r in &over.refused {
            if *r <= at {
                at += 1;
            }
        }
        at
    };
    for r in &mut out.rejected {
        r.index = original(r.index);
    }
    for w in &mut out.warnings {
        w.index = original(w.index);
    }
    let (rate, burst) = state.quotas.visitor_rate().unwrap_or_default();
    let reason = format!(
        "this visitor's event rate ({rate} events/s, bursts of {burst}) is used up; retry after {} s",
        quota::retry_after_secs(over.wait)
    );
    out.rejected.extend(
        over.refused
            .iter()
            .map(|&i| Rejection::new(i, "visitor_id", reason.clone())),
    );
    out.rejected.sort_by_key(|r| r.index);
}

/// Validate, enrich and append one batch of event objects of `site` — the one path every
/// event takes into the log, from the snippet ([`events`]) and from historical import
/// ([`crate::http::ingest::import`]). Returns the status (`202`, or `400` when every event was rejected), the
/// batch's request id and the response body.
pub async fn accept(
    state: &IngestState,
    site: &crate::sites::Site,
    events: &[serde_json::Value],
    received_at: i64,
    sent_at: Option<i64>,
    skew: Skew,
    bot_reason: Option<String>,
    oldest_ts: i64,
) -> Result<(StatusCode, String, IngestResponse), IngestError> {
    let limits = state.limits;
    let request_id = uuid::Uuid::now_v7().to_string();
    let ctx = Context {
        received_at,
        oldest_ts,
        skew,
        bot_reason,
        page_keys: &site.settings.page_keys,
        request_id: &request_id,
    };

    let mut accepted = Vec::with_capacity(events.len());
    let mut accepted_index = Vec::with_capacity(events.len());
    let mut rejected = Vec::new();
    let mut warnings = Vec::new();
    let mut dead = Vec::new();
    // Every rejection is counted, kept as a dead letter with the raw event, and reported.
    let reject = |r: Rejection,
                  typ: &str,
                  raw: &serde_json::Value,
                  rejected: &mut Vec<Rejection>,
                  dead: &mut Vec<DeadLetter>| {
        METRICS.events_rejected_total.with_label_values(&[typ, &r.field]).inc();
        dead.push(DeadLetter {
            at: received_at,
            site: site.key.clone(),
            stage: "ingest".into(),
            field: r.field.clone(),
            reason: r.reason.clone(),
            // Dead letters keep the raw event, scrubbed of PII like accepted events are, and
            // what a replay needs to treat it as ingest would have.
            raw: {
                let mut raw = raw.clone();
                enrich::scrub_json(&mut raw);
                cut_chars(raw.to_string(), DEAD_EVENT_CHARS)
            },
            sent_at,
            bot_reason: ctx.bot_reason.clone(),
        });
        rejected.push(r);
    };
    for (i, v) in events.iter().enumerate() {
        let typ = v
            .get("type")
            .and_then(|t| t.as_str())
            .filter(|t| crate::event::EVENT_TYPES.contains(t))
            .unwrap_or("unknown");
        METRICS.events_received_total.with_label_values(&[typ]).inc();
        let result = accept_event(i, v, &site.key, &ctx, limits.event_bytes).and_then(|(event, dropped)| {
            // An answer to a survey the site defines must fit the definition.
            if let crate::event::Payload::SurveyResponse {
                survey_id,
                question_id,
                kind,
                value,
                ..
            } = &event.payload
            {
                crate::survey::check_answer(&site.settings.surveys, survey_id, question_id, *kind, value)
                    .map_err(|(field, reason)| Rejection::new(i, field, reason))?;
            }
            Ok((event, dropped))
        });
        match result {
            Ok((event, dropped)) => {
                for f in dropped {
                    warnings.push(Warning {
                        index: i,
                        field: f,
                        reason: "ill-typed or out of range for this optional field; dropped, the event was kept".into(),
                    });
                }
                accepted.push(event);
                accepted_index.push(i);
            }
            Err(r) => reject(r, typ, v, &mut rejected, &mut dead),
        }
    }

    let append_started = Instant::now();
    let inflight = Inflight::add(state.log_backend, accepted.len());
    let appended = tokio::time::timeout(limits.append_timeout, state.log.append(&accepted)).await;
    drop(inflight);
    let error_type = match &appended {
        Ok(Ok(_)) => None,
        Ok(Err(LogError::TooLarge { .. })) => Some("too_large"),
        Ok(Err(LogError::Unavailable(_))) => Some("unavailable"),
        Ok(Err(LogError::Timeout(_))) | Err(_) => Some("timeout"),
        Ok(Err(LogError::Other(_))) => Some("other"),
    };
    METRICS
        .log_append_duration_seconds
        .with_label_values(&[state.log_backend, if error_type.is_none() { "ok" } else { "error" }])
        .observe(append_started.elapsed().as_secs_f64());
    if let Some(t) = error_type {
        METRICS
            .log_append_errors_total
            .with_label_values(&[state.log_backend, t])
            .inc();
        // Like every refusal: a 413 (the client's oversized event) at debug, a 503 at error.
        if t == "too_large" {
            tracing::debug!(
                request_id,
                error_type = t,
                events = accepted.len(),
                "log append refused"
            );
        } else {
            tracing::error!(request_id, error_type = t, events = accepted.len(), "log append failed");
        }
    }
    let outcomes = match appended {
        Ok(Ok(o)) => o,
        Ok(Err(LogError::TooLarge { limit, .. })) => {
            return Err(IngestError::TooLarge {
                limit,
                what: "log record",
            })
        }
        Ok(Err(e)) => return Err(IngestError::Unavailable(e.to_string())),
        Err(_) => {
            return Err(IngestError::Unavailable(format!(
                "no acknowledgement within {} ms",
                limits.append_timeout.as_millis()
            )))
        }
    };

    let mut n_accepted = 0;
    let mut n_dup = 0;
    for ((ev, i), outcome) in accepted.iter().zip(&accepted_index).zip(outcomes) {
        match outcome {
            AppendOutcome::Appended => {
                n_accepted += 1;
                METRICS.events_accepted_total.with_label_values(&[ev.type_name()]).inc();
                if ev.bot_reason.is_some() {
                    METRICS.bot_events_total.inc();
                }
            }
            AppendOutcome::Duplicate => {
                n_dup += 1;
                METRICS
                    .events_duplicate_total
                    .with_label_values(&[ev.type_name()])
                    .inc();
            }
            AppendOutcome::Conflict(earlier) => {
                let r = Rejection::new(
                    *i,
                    "id",
                    format!("id already used by an event of type {earlier}; ids must be unique per event"),
                );
                reject(r, ev.type_name(), &events[*i], &mut rejected, &mut dead);
            }
        }
    }
    rejected.sort_by_key(|r| r.index);
    if !dead.is_empty() {
        if let Err(e) = state.log.dead_letter(dead).await {
            tracing::warn!(error = %e, "could not keep rejected events as dead letters");
        }
    }
    tracing::debug!(
        request_id,
        site = %site.key,
        accepted = n_accepted,
        duplicates = n_dup,
        rejected = rejected.len(),
        "ingest batch"
    );
    let status = if n_accepted == 0 && n_dup == 0 && !rejected.is_empty() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::ACCEPTED
    };
    Ok((
        status,
        request_id,
        IngestResponse {
            accepted: n_accepted,
            duplicates: n_dup,
            rejected,
            warnings,
        },
    ))
}

/// Events counted in `sightline_log_append_inflight_events` while an append is awaited;
/// subtracted on drop, so a request abandoned by its client (the handler future dropped
/// mid-append) does not leave them counted.
pub(super) struct Inflight(prometheus::IntGauge, i64);

impl Inflight {
    pub(super) fn add(backend: &str, events: usize) -> Inflight {
        let g = METRICS.log_append_inflight_events.with_label_values(&[backend]);
        let n = events as i64;
        g.add(n);
        Inflight(g, n)
    }
}

impl Drop for Inflight {
    fn drop(&mut self) {
        self.0.sub(self.1);
    }
}

/// Bytes of `v` written as compact JSON, counted without building the string (the per-event
/// cap is checked on every event of every batch).
pub(super) fn json_len(v: &serde_json::Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    serde_json::to_writer(&mut c, v).expect("writing JSON to a counter cannot fail");
    c.0
}
