//! Ingest: `POST /v1/events` (api.md) → validate → enrich → log. Also the CORS preflight,
//! the snippet at `GET /s.js` and the public site config.
//!
//! A `202` is sent only after [`crate::log::Log::append`] returned, i.e. when the accepted
//! events are durable. Every refusal is an [`IngestError`] that maps itself to a 4xx/503
//! with a JSON body naming the field and reason, and is counted in metrics.

pub mod compat;
pub mod decode;
pub mod quota;

use crate::event::enrich::{self, Context, Skew};
use crate::event::validate::{self, cut_chars, Rejection};
use crate::log::Log;
use crate::log::{AppendOutcome, DeadLetter, LogError};
use crate::metrics::METRICS;
use crate::sites::SiteCache;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use quota::Quotas;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the ingest handlers need, and nothing more: the log to append to, the sites (write
/// keys, origins, settings), the limits and quotas, and the log's name for metric labels.
/// Built by the composition root ([`crate::app`]); handlers take it as `web::Data`.
#[derive(Clone)]
pub struct IngestState {
    pub log: Arc<dyn Log>,
    pub sites: Arc<SiteCache>,
    pub limits: Limits,
    /// `embedded` or `kafka`, for metric labels.
    pub log_backend: &'static str,
    /// Ingest quotas, the in-flight limit and the client-IP rule.
    pub quotas: Arc<Quotas>,
}

/// Size caps, in bytes of the decoded body (`cases/ingest.md` I6).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `POST /v1/events`: whole body, decoded. Default 1 MiB.
    pub batch_bytes: usize,
    /// One event's JSON (replay metadata included). Default 256 KiB: under Kafka's 1 MB
    /// message limit with room for the protobuf envelope.
    pub event_bytes: usize,
    /// Longest wait for the log to acknowledge before answering 503. Default 10 s.
    pub append_timeout: Duration,
    /// Longest wait for the next chunk of a request body (slow clients get `408`).
    /// Default 10 s.
    pub body_chunk_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            batch_bytes: 1 << 20,
            event_bytes: 256 << 10,
            append_timeout: Duration::from_secs(10),
            body_chunk_timeout: Duration::from_secs(10),
        }
    }
}

/// A refused ingest request. Maps itself to HTTP: the status decides whether clients retry.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{field}: {reason}")]
    Malformed { field: String, reason: String },
    #[error("unknown write key")]
    UnknownSite,
    #[error("origin {0} is not allowed for this site")]
    OriginNotAllowed(String),
    #[error("{what} exceeds {limit} bytes")]
    TooLarge { limit: usize, what: &'static str },
    #[error("unsupported content encoding {0:?}; use gzip, deflate or br")]
    UnsupportedEncoding(String),
    /// A `Content-Type` other than [`ACCEPTED_CONTENT_TYPES`]: `415`.
    #[error("unsupported content type {0:?}; send application/json or text/plain (a JSON envelope)")]
    UnsupportedContentType(String),
    #[error("the log cannot take events now: {0}")]
    Unavailable(String),
    /// A quota is used up (`scope` is `ip`, `visitor` or `site`): `429` with `Retry-After`.
    #[error("the {scope} quota is used up; retry after {retry_after_s} s")]
    OverQuota { scope: &'static str, retry_after_s: u64 },
    /// The body's next chunk did not arrive in time (ms): `408`.
    #[error("the request body stalled for {0} ms")]
    SlowBody(u64),
    /// Too many requests in flight: `503` with `Retry-After`.
    #[error("too many requests in flight; retry after 1 s")]
    Busy,
}

impl From<quota::Refusal> for IngestError {
    fn from(r: quota::Refusal) -> Self {
        match r {
            quota::Refusal::Ip(wait) => IngestError::OverQuota {
                scope: "ip",
                retry_after_s: quota::retry_after_secs(wait),
            },
            quota::Refusal::Site(wait) => IngestError::OverQuota {
                scope: "site",
                retry_after_s: quota::retry_after_secs(wait),
            },
            quota::Refusal::Visitor(wait) => IngestError::OverQuota {
                scope: "visitor",
                retry_after_s: quota::retry_after_secs(wait),
            },
            quota::Refusal::Busy => IngestError::Busy,
        }
    }
}

impl IngestError {
    /// The `cause` label of `sightline_requests_refused_total` for this refusal.
    pub fn cause(&self) -> &'static str {
        match self {
            IngestError::Malformed { .. } => "malformed",
            IngestError::UnknownSite => "unknown_site",
            IngestError::OriginNotAllowed(_) => "origin",
            IngestError::TooLarge { .. } => "too_large",
            IngestError::UnsupportedEncoding(_) => "encoding",
            IngestError::UnsupportedContentType(_) => "content_type",
            IngestError::Unavailable(_) => "log_unavailable",
            IngestError::OverQuota { scope: "ip", .. } => "quota_ip",
            IngestError::OverQuota { scope: "visitor", .. } => "quota_visitor",
            IngestError::OverQuota { .. } => "quota_site",
            IngestError::Busy => "busy",
            IngestError::SlowBody(_) => "slow_body",
        }
    }
}

/// The JSON body of every refusal.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    field: String,
    reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<usize>,
}

impl ResponseError for IngestError {
    fn status_code(&self) -> StatusCode {
        match self {
            IngestError::Malformed { .. } => StatusCode::BAD_REQUEST,
            IngestError::UnknownSite => StatusCode::UNAUTHORIZED,
            IngestError::OriginNotAllowed(_) => StatusCode::FORBIDDEN,
            IngestError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::UnsupportedEncoding(_) | IngestError::UnsupportedContentType(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            IngestError::Unavailable(_) | IngestError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            IngestError::OverQuota { .. } => StatusCode::TOO_MANY_REQUESTS,
            IngestError::SlowBody(_) => StatusCode::REQUEST_TIMEOUT,
        }
    }
    fn error_response(&self) -> HttpResponse {
        let (field, limit) = match self {
            IngestError::Malformed { field, .. } => (field.clone(), None),
            IngestError::UnknownSite => ("site".to_string(), None),
            IngestError::OriginNotAllowed(_) => ("origin".to_string(), None),
            IngestError::TooLarge { limit, .. } => ("body".to_string(), Some(*limit)),
            IngestError::UnsupportedEncoding(_) => ("content-encoding".to_string(), None),
            IngestError::UnsupportedContentType(_) => ("content-type".to_string(), None),
            IngestError::Unavailable(_) => ("log".to_string(), None),
            IngestError::OverQuota { scope: "visitor", .. } => ("visitor_id".to_string(), None),
            IngestError::OverQuota { scope, .. } => (scope.to_string(), None),
            IngestError::Busy => ("server".to_string(), None),
            IngestError::SlowBody(_) => ("body".to_string(), None),
        };
        let reason = match self {
            IngestError::Malformed { reason, .. } => reason.clone(),
            other => other.to_string(),
        };
        let mut b = HttpResponse::build(self.status_code());
        match self {
            IngestError::Unavailable(_) => {
                b.insert_header((header::RETRY_AFTER, "2"));
            }
            IngestError::Busy => {
                b.insert_header((header::RETRY_AFTER, "1"));
            }
            IngestError::OverQuota { retry_after_s, .. } => {
                b.insert_header((header::RETRY_AFTER, retry_after_s.to_string()));
            }
            _ => {}
        }
        b.json(ErrorBody {
            error: self.cause(),
            field,
            reason,
            limit,
        })
    }
}

/// `202` body (`api.md`), plus `warnings`: optional fields dropped for their type.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IngestResponse {
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: Vec<Rejection>,
    pub warnings: Vec<Warning>,
}

/// An optional field dropped because of its type; the event was kept.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Warning {
    pub index: usize,
    pub field: String,
    /// Why the field was dropped.
    pub reason: String,
}

/// Query parameters of `POST /v1/events`.
#[derive(Deserialize)]
pub struct IngestQuery {
    /// `gzip` (or `deflate`, `br`) for bodies sent without a `Content-Encoding` header.
    pub compression: Option<String>,
}

/// Media types `POST /v1/events` and the import read (parameters such as `charset` aside):
/// JSON, and `text/plain`, which `navigator.sendBeacon` and a CORS-simple `fetch` send. A
/// request without `Content-Type` is read as JSON too.
pub const ACCEPTED_CONTENT_TYPES: [&str; 2] = ["application/json", "text/plain"];

/// Refuse (`415`, field `content-type`) a body whose declared media type is not one of
/// [`ACCEPTED_CONTENT_TYPES`]: a form post or an XML document is no event envelope, even if
/// its bytes parse as JSON.
pub(crate) fn check_content_type(req: &HttpRequest) -> Result<(), IngestError> {
    let Some(v) = req.headers().get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let declared = String::from_utf8_lossy(v.as_bytes());
    let essence = declared.split(';').next().unwrap_or("").trim();
    if ACCEPTED_CONTENT_TYPES.iter().any(|t| t.eq_ignore_ascii_case(essence)) {
        Ok(())
    } else {
        Err(IngestError::UnsupportedContentType(cut_chars(
            declared.into_owned(),
            128,
        )))
    }
}

pub(crate) fn cors_grant(resp: &mut actix_web::HttpResponseBuilder, origin: &str) {
    resp.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.to_string()));
    resp.insert_header((header::VARY, "Origin"));
}

/// `OPTIONS /v1/events`: grant the preflight to origins some site allows; others get no
/// CORS headers (the browser then refuses the request).
#[utoipa::path(options, path = "/v1/events", tag = "ingest", responses((status = 204, description = "CORS grant for an origin some site allows; no CORS headers otherwise")))]
pub async fn preflight(req: HttpRequest, state: web::Data<IngestState>) -> HttpResponse {
    let mut resp = HttpResponse::NoContent();
    if let Some(origin) = req.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        if state.sites.any_allows(origin) {
            cors_grant(&mut resp, origin);
            resp.insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "POST, OPTIONS"));
            resp.insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, "content-type, content-encoding"));
            resp.insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"));
        }
    }
    resp.finish()
}

/// `POST /v1/events`. Refusals carry the CORS grant too (for origins some site allows), so
/// the snippet can read the status and `Retry-After` and tell "retry" from "give up".
#[utoipa::path(post, path = "/v1/events", tag = "ingest",
    params(("compression" = Option<String>, Query, description = "gzip|deflate|br for bodies sent without Content-Encoding (beacons)")),
    request_body(content = String, content_type = "text/plain", description = "JSON envelope {site, sent_at, events: [...]} (text/plain or application/json; gzip, deflate, br)"),
    responses(
        (status = 202, description = "Accepted events are durable in the log", body = IngestResponse),
        (status = 400, description = "Malformed envelope, or every event rejected (each names field and reason)"),
        (status = 401, description = "Unknown write key"), (status = 403, description = "Origin not allowed for the site"),
        (status = 413, description = "Body over the cap (decoded bytes)"), (status = 415, description = "Unsupported content encoding, or a content type other than application/json or text/plain"),
        (status = 503, description = "The log cannot take events now; retry after Retry-After")))]
pub async fn events(
    req: HttpRequest,
    payload: web::Payload,
    query: web::Query<IngestQuery>,
    state: web::Data<IngestState>,
) -> HttpResponse {
    let mut sample = Vec::new();
    let result = handle(&req, payload, query.into_inner(), &state, &mut sample).await;
    finish(&req, &state, result, &sample).await
}

/// The answer of a browser ingest request: a refusal is counted, its body sample kept as a
/// dead letter ([`keep_refused_body`]) and answered with the CORS grant (for origins some
/// site allows) so the client can read the status and `Retry-After`.
pub(crate) async fn finish(
    req: &HttpRequest,
    state: &IngestState,
    result: Result<HttpResponse, IngestError>,
    sample: &[u8],
) -> HttpResponse {
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => {
            METRICS.requests_refused_total.with_label_values(&[e.cause()]).inc();
            keep_refused_body(state, &e, sample).await;
            let mut r = e.error_response();
            if let Some(origin) = req.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
                if state.sites.any_allows(origin) {
                    if let Ok(v) = header::HeaderValue::from_str(origin) {
                        r.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
                        r.headers_mut()
                            .insert(header::VARY, header::HeaderValue::from_static("Origin"));
                    }
                }
            }
            r
        }
    };
    if resp.headers().contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        resp.headers_mut().insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            header::HeaderValue::from_static("retry-after, x-request-id"),
        );
    }
    // Requests and their latency are counted for every route by `metrics::http_middleware`.
    resp
}

/// Characters of a rejected event's JSON kept in its dead letter: enough for any event under
/// the per-event cap to be replayed whole, under Kafka's 1 MB message limit.
const DEAD_EVENT_CHARS: usize = 512 << 10;

/// Bytes of a refused request's body kept as a dead letter.
const BODY_SAMPLE_BYTES: usize = 4096;

/// Keep a sample of a request refused as bad input (malformed, unknown site, origin, size,
/// encoding) in the dead-letter store, stage `request`, PII-scrubbed. Refusals that ask
/// for a retry (quotas, overload, log outage) are not bad input and are not kept. The
/// samples are themselves rate limited ([`quota::Quotas::take_sample`]) so a flood of garbage
/// cannot fill the store; samples over that rate are only counted.
async fn keep_refused_body(state: &IngestState, e: &IngestError, sample: &[u8]) {
    let field = match e {
        IngestError::Malformed { field, .. } => field.clone(),
        IngestError::UnknownSite => "site".into(),
        IngestError::OriginNotAllowed(_) => "origin".into(),
        IngestError::TooLarge { .. } => "body".into(),
        IngestError::UnsupportedEncoding(_) => "content-encoding".into(),
        _ => return,
    };
    if !state.quotas.take_sample() {
        return;
    }
    // A sample that is JSON is scrubbed field by field (ids and times kept), else as text;
    // compressed bytes are decoded first, and bytes that are not text are kept as base64.
    let sample = crate::log::deadletter::decoded_sample(sample, BODY_SAMPLE_BYTES);
    let text = match serde_json::from_slice::<serde_json::Value>(&sample) {
        Ok(mut v) => {
            enrich::scrub_json(&mut v);
            v.to_string()
        }
        Err(_) => match crate::log::deadletter::sample_text(&sample) {
            Ok(text) => enrich::scrub_text(text).0,
            Err(binary) => binary,
        },
    };
    let site = serde_json::from_slice::<serde_json::Value>(&sample)
        .ok()
        .and_then(|v| {
            v.get("site")
                .and_then(|s| s.as_str())
                .map(|s| cut_chars(s.to_string(), 128))
        })
        .unwrap_or_default();
    let letter = DeadLetter {
        at: chrono::Utc::now().timestamp_millis(),
        site,
        stage: "request".into(),
        field,
        reason: e.to_string(),
        raw: text,
        sent_at: None,
        bot_reason: None,
    };
    if let Err(err) = state.log.dead_letter(vec![letter]).await {
        tracing::warn!(error = %err, "could not keep a refused request's body sample");
    }
}

/// Validate and enrich one raw event of a batch (`index` is its position): the per-event
/// cap, [`validate::validate_event`], then [`enrich::enrich`]. Returns the event and the
/// optional fields dropped for their type (counted in metrics), or the rejection. The one
/// path by which ingest and dead-letter replay accept an event.
pub fn accept_event(
    index: usize,
    raw: &serde_json::Value,
    site: &str,
    ctx: &Context,
    event_cap: usize,
) -> Result<(crate::event::Event, Vec<String>), Rejection> {
    let size = json_len(raw);
    if size > event_cap {
        return Err(Rejection::new(
            index,
            "event",
            format!("{size} bytes exceeds the per-event cap of {event_cap} bytes"),
        ));
    }
    // The age rule reads the skew-corrected time, so it is checked after validation; an
    // event refused for other fields still lists it among them, in field order.
    let too_old = |ts: i64| {
        (ts < ctx.oldest_ts).then_some(if ctx.oldest_ts >= ctx.received_at - enrich::MAX_LIVE_AGE_MS {
            "older than 31 days; import history with `sightline import` instead"
        } else {
            "before 2000-01-01"
        })
    };
    let mut ok = match validate::validate_event(index, raw, site) {
        Ok(ok) => ok,
        Err(mut r) => {
            let client_ts = raw.get("ts").and_then(serde_json::Value::as_f64).map(|t| t as i64);
            let reason = client_ts.and_then(|t| too_old(ctx.skew.correct(t, ctx.received_at).0));
            if let Some(reason) = reason.filter(|_| !r.errors.iter().any(|e| e.field == "ts")) {
                let at = r
                    .errors
                    .iter()
                    .position(|e| !matches!(e.field.as_str(), "id" | "type"))
                    .unwrap_or(r.errors.len());
                r.errors.insert(
                    at,
                    validate::FieldError {
                        field: "ts".into(),
                        reason: reason.into(),
                    },
                );
                (r.field, r.reason) = (r.errors[0].field.clone(), r.errors[0].reason.clone());
            }
            return Err(r);
        }
    };
    let n = enrich::enrich(&mut ok.event, ctx);
    if let Some(reason) = too_old(ok.event.ts) {
        return Err(Rejection::new(index, "ts", reason));
    }
    for f in &ok.warnings {
        METRICS.fields_dropped_total.with_label_values(&[f]).inc();
    }
    METRICS.pii_replacements_total.inc_by(n as u64);
    Ok((ok.event, ok.warnings))
}

async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    query: IngestQuery,
    state: &IngestState,
    sample: &mut Vec<u8>,
) -> Result<HttpResponse, IngestError> {
    let received_at = chrono::Utc::now().timestamp_millis();
    let _permit = admit(req, state)?;
    check_content_type(req)?;
    let body = read_body(req, payload, query.compression.as_deref(), state, sample).await?;
    let env = validate::parse_envelope(&body).map_err(|e| IngestError::Malformed {
        field: e.field,
        reason: e.reason,
    })?;
    let site = state.sites.get(&env.site).ok_or(IngestError::UnknownSite)?;
    let batch = BrowserBatch {
        events: &env.events,
        sent_at: env.sent_at,
        webdriver: env.webdriver,
        received_at,
    };
    let (status, request_id, out) = accept_browser_batch(req, state, &site, batch).await?;
    let mut resp = HttpResponse::build(status);
    if let Some(o) = req.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        cors_grant(&mut resp, o);
    }
    resp.insert_header(("x-request-id", request_id));
    Ok(resp.json(out))
}

/// The in-flight permit of a browser ingest request, after the per-IP quota: taken before
/// the body is read, so a refused client costs no body read and no parse.
pub(crate) fn admit(req: &HttpRequest, state: &IngestState) -> Result<tokio::sync::OwnedSemaphorePermit, IngestError> {
    let forwarded_for = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let client_ip = state.quotas.client_ip(req.peer_addr().map(|a| a.ip()), forwarded_for);
    Ok(state.quotas.admit(client_ip)?)
}

/// Read and decode a request body: capped while reading and while decoding (`413`), content
/// codings from `Content-Encoding`, else `compression` (a query parameter, for beacons), else
/// the gzip magic bytes `1f 8b`. `sample` gets the first [`BODY_SAMPLE_BYTES`] of the decoded
/// body (of the raw one when decoding fails), for the dead letter of a refusal.
pub(crate) async fn read_body(
    req: &HttpRequest,
    payload: web::Payload,
    compression: Option<&str>,
    state: &IngestState,
    sample: &mut Vec<u8>,
) -> Result<Vec<u8>, IngestError> {
    let limits = state.limits;
    let raw = decode::read_capped(payload, limits.batch_bytes, limits.body_chunk_timeout).await?;
    let content_encoding = req
        .headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok());
    let codings = decode::codings(content_encoding, compression, &raw)?;
    sample.extend_from_slice(&raw[..raw.len().min(BODY_SAMPLE_BYTES)]);
    let body = decode::decode(raw, &codings, limits.batch_bytes)?;
    // The decoded body is the more useful sample.
    sample.clear();
    sample.extend_from_slice(&body[..body.len().min(BODY_SAMPLE_BYTES)]);
    Ok(body)
}

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
fn report_over_quota(state: &IngestState, over: &quota::VisitorRefusals, out: &mut IngestResponse) {
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
struct Inflight(prometheus::IntGauge, i64);

impl Inflight {
    fn add(backend: &str, events: usize) -> Inflight {
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
fn json_len(v: &serde_json::Value) -> usize {
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

/// The snippet source, embedded in the binary.
pub const SNIPPET_JS: &str = include_str!("../../snippet/sightline.js");

/// `GET /s.js`.
#[utoipa::path(get, path = "/s.js", tag = "ingest", responses((status = 200, description = "The snippet", content_type = "application/javascript")))]
pub async fn snippet() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/javascript; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .body(SNIPPET_JS)
}

/// The survey and feedback widgets, embedded in the binary; the snippet loads them only
/// when the site config has surveys or the feedback button on.
pub const WIDGETS_JS: &str = include_str!("../../snippet/widgets.js");

/// `GET /s/widgets.js`: the voice-of-customer widgets (loaded lazily by `/s.js`).
#[utoipa::path(get, path = "/s/widgets.js", tag = "ingest", responses((status = 200, description = "The survey and feedback widgets", content_type = "application/javascript")))]
pub async fn widgets() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/javascript; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .body(WIDGETS_JS)
}

/// `GET /v1/sites/{key}/config`: what the snippet needs (zones, surveys, the feedback
/// button, exit-intent thresholds, sampling). Public. Surveys and `feedback` are described in
/// [`crate::survey::public_config`].
#[utoipa::path(get, path = "/v1/sites/{key}/config", tag = "ingest", params(("key" = String, Path, description = "write key")), responses((status = 200, description = "zones, hash_routing, surveys, feedback, exit_intent, sampling"), (status = 404, description = "unknown site")))]
pub async fn site_config(path: web::Path<String>, state: web::Data<IngestState>) -> HttpResponse {
    match state.sites.get(&path.into_inner()) {
        Some(site) => HttpResponse::Ok()
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
            .json({
                let mut c = serde_json::json!({
                    "zones": site.settings.zones,
                    "hash_routing": site.settings.page_keys.hash_routing,
                    "sampling": 1.0,
                });
                if let serde_json::Value::Object(voc) =
                    crate::survey::public_config(&site.settings.surveys, &site.settings.feedback)
                {
                    c.as_object_mut().expect("object").extend(voc);
                }
                c
            }),
        None => HttpResponse::NotFound()
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
            .json(serde_json::json!({"error": "unknown_site", "field": "key", "reason": "unknown write key"})),
    }
}
