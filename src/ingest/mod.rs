//! Ingest: `POST /v1/events` (api.md) → validate → enrich → log. Also the CORS preflight,
//! the snippet at `GET /s.js` and the public site config.
//!
//! A `202` is sent only after [`crate::log::Log::append`] returned, i.e. when the accepted
//! events are durable. Every refusal is an [`IngestError`] that maps itself to a 4xx/503
//! with a JSON body naming the field and reason, and is counted in metrics.

mod accept;
pub mod compat;
pub mod decode;
mod error;
pub mod quota;
mod snippet;

pub use accept::*;
pub use error::*;
pub use snippet::*;

use crate::clock::Clock;
use crate::config::defaults;
use crate::event::enrich::{self, Context};
use crate::event::validate::{self, cut_chars, Rejection};
use crate::log::DeadLetter;
use crate::log::Log;
use crate::metrics::METRICS;
use crate::sites::SiteCache;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use quota::Quotas;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

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
    /// Where the receive time is read.
    pub clock: Arc<dyn Clock>,
    /// Session-replay chunk caps and part size (`POST /v1/replay`).
    pub replay: crate::replay::ReplayLimits,
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
            batch_bytes: defaults::MAX_BATCH_BYTES,
            event_bytes: defaults::MAX_EVENT_BYTES,
            append_timeout: Duration::from_millis(defaults::APPEND_TIMEOUT_MS),
            body_chunk_timeout: Duration::from_millis(defaults::BODY_CHUNK_TIMEOUT_MS),
        }
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
    let received_at = state.clock.now_ms();
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
/// body (of the raw one when decoding fails or the body is too large), for the dead letter of
/// a refusal.
pub(crate) async fn read_body(
    req: &HttpRequest,
    payload: web::Payload,
    compression: Option<&str>,
    state: &IngestState,
    sample: &mut Vec<u8>,
) -> Result<Vec<u8>, IngestError> {
    let limits = state.limits;
    let raw = decode::read_capped(
        payload,
        limits.batch_bytes,
        limits.body_chunk_timeout,
        sample,
        BODY_SAMPLE_BYTES,
    )
    .await?;
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
