//! A batch's way into the log: quotas, per-event validation and enrichment, dead letters,
//! the append and its answer ([`accept`], [`accept_browser_batch`]).

use super::outcome::{self, DiscardReason, Outcome, Outcomes};
use super::*;
use crate::event::enrich::{self, Context, Skew};
use crate::event::validate::Rejection;
use crate::event::wire::WireEvent;
use crate::log::{AppendOutcome, LogError};
use crate::metrics::METRICS;
use actix_web::http::{header, StatusCode};
use actix_web::HttpRequest;
use std::time::Instant;

/// A batch of event objects (`POST /v1/events` fields) sent by a visitor's browser.
pub(crate) struct BrowserBatch<'a, 'w> {
    pub events: &'a [WireEvent<'w>],
    /// Client time the batch was sent, ms (for the clock-skew shift).
    pub sent_at: Option<i64>,
    /// `navigator.webdriver` as the client reported it.
    pub webdriver: bool,
    /// `navigator.language` as the client reported it (the envelope's `language`).
    pub language: Option<&'a str>,
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
    batch: BrowserBatch<'_, '_>,
) -> Result<(StatusCode, String, IngestResponse), IngestError> {
    if let Some(o) = req.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        if !site.allows_origin(o) {
            return Err(IngestError::OriginNotAllowed(o.to_string()));
        }
    }
    // The visitor quota first: a flooding visitor's refused events take nothing from the
    // site's quota, so its other visitors are not refused for it (cases/2026-12.md C12).
    let visitor_ids: Vec<_> = batch.events.iter().map(|e| e.str("visitor_id")).collect();
    let over = state
        .quotas
        .take_visitors(&site.key, visitor_ids.iter().map(|v| v.as_deref()));
    if !over.refused.is_empty() {
        outcome::over_visitor_quota(over.refused.len());
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
    // One parse of the user agent for the bot check and the browser and OS.
    let parsed = enrich::segment::parse_user_agent(user_agent);
    let bot_reason = enrich::bot_reason_parsed(user_agent, parsed.as_ref(), batch.webdriver);
    let accept_language = req.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    let client = enrich::segment::client_of(parsed.as_ref(), batch.language, accept_language).map(std::sync::Arc::new);
    let skew = Skew::for_batch(batch.sent_at, batch.received_at);
    METRICS
        .clock_skew_seconds
        .with_label_values(&[if skew.shift_ms == 0 { "none" } else { "shift" }])
        .observe((skew.shift_ms.abs() as f64) / 1000.0);
    // Events the visitor quota refused are left out of the batch and reported as rejected.
    let kept: std::borrow::Cow<[WireEvent]> = if over.refused.is_empty() {
        batch.events.into()
    } else {
        let mut refused = over.refused.iter().peekable();
        let kept = (0..batch.events.len()).filter(|i| refused.next_if_eq(&i).is_none());
        kept.map(|i| batch.events[i]).collect::<Vec<_>>().into()
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
        client,
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
/// ([`crate::http::ingest::import`]). Returns the status (`202`, or `400` when every event was
/// rejected), the batch's request id and the response body. Every event gets one
/// [`Outcome`], counted and dead-lettered once for the batch ([`Outcomes::emit`]).
pub async fn accept(
    state: &IngestState,
    site: &crate::sites::Site,
    events: &[WireEvent<'_>],
    received_at: i64,
    sent_at: Option<i64>,
    skew: Skew,
    bot_reason: Option<String>,
    oldest_ts: i64,
    client: Option<std::sync::Arc<crate::model::segment::Client>>,
) -> Result<(StatusCode, String, IngestResponse), IngestError> {
    let limits = state.limits;
    let request_id = uuid::Uuid::now_v7().to_string();
    let mut outcomes = Outcomes::new(&site.key, received_at, sent_at, bot_reason.clone());
    let ctx = Context {
        received_at,
        oldest_ts,
        skew,
        bot_reason,
        page_keys: &site.settings.page_keys,
        request_id: &request_id,
        client,
    };

    let mut accepted = Vec::with_capacity(events.len());
    let mut accepted_index = Vec::with_capacity(events.len());
    let mut rejected = Vec::new();
    let mut warnings = Vec::new();
    for (i, w) in events.iter().enumerate() {
        let typ = outcome::type_index(w.str("type").as_deref());
        outcomes.received(typ);
        let result = accept_event(i, w, &site.key, &ctx, limits.event_bytes).and_then(|ok| {
            // An answer to a survey the site defines must fit the definition.
            if let crate::event::Payload::SurveyResponse {
                survey_id,
                question_id,
                kind,
                value,
                ..
            } = &ok.event.payload
            {
                crate::survey::check_answer(&site.settings.surveys, survey_id, question_id, *kind, value)
                    .map_err(|(field, reason)| Rejection::new(i, field, reason))?;
            }
            // A dismissal of a defined survey names one of its questions.
            if let crate::event::Payload::SurveyDismissed {
                survey_id,
                question_id: Some(question_id),
                ..
            } = &ok.event.payload
            {
                crate::survey::check_question(&site.settings.surveys, survey_id, question_id)
                    .map_err(|(field, reason)| Rejection::new(i, field, reason))?;
            }
            Ok(ok)
        });
        match result {
            Ok(ok) => {
                outcomes.enriched(ok.pii, &ok.warnings);
                for f in ok.warnings {
                    warnings.push(Warning {
                        index: i,
                        field: f,
                        reason: "ill-typed or out of range for this optional field; dropped, the event was kept".into(),
                    });
                }
                accepted.push(ok.event);
                accepted_index.push(i);
            }
            Err(r) => {
                outcomes.record(Outcome::Discarded(DiscardReason::Invalid), None, typ, w.raw, Some(&r));
                rejected.push(r);
            }
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
    let appended = match appended {
        Ok(Ok(o)) => Ok(o),
        Ok(Err(LogError::TooLarge { limit, .. })) => Err(IngestError::TooLarge {
            limit,
            what: "log record",
        }),
        Ok(Err(e)) => Err(IngestError::Unavailable(e.to_string())),
        Err(_) => Err(IngestError::Unavailable(format!(
            "no acknowledgement within {} ms",
            limits.append_timeout.as_millis()
        ))),
    };
    let appended = match appended {
        Ok(o) => o,
        Err(e) => {
            // The client retries the batch: counted, not dead-lettered.
            outcomes.emit(None).await;
            return Err(e);
        }
    };

    let mut n_accepted = 0;
    let mut n_dup = 0;
    for ((ev, i), appended) in accepted.iter().zip(&accepted_index).zip(appended) {
        let typ = outcome::type_index(Some(ev.type_name()));
        match appended {
            AppendOutcome::Appended => {
                n_accepted += 1;
                outcomes.record(Outcome::Accepted, Some(ev), typ, events[*i].raw, None);
            }
            AppendOutcome::Duplicate => {
                n_dup += 1;
                outcomes.record(Outcome::Duplicate, Some(ev), typ, events[*i].raw, None);
            }
            AppendOutcome::Conflict(earlier) => {
                let r = Rejection::new(
                    *i,
                    "id",
                    format!("id already used by an event of type {earlier}; ids must be unique per event"),
                );
                let discarded = Outcome::Discarded(DiscardReason::IdConflict);
                outcomes.record(discarded, Some(ev), typ, events[*i].raw, Some(&r));
                rejected.push(r);
            }
        }
    }
    rejected.sort_by_key(|r| r.index);
    outcomes.emit(Some(&*state.log)).await;
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
