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
pub mod outcome;
pub mod quota;
mod snippet;

pub use accept::*;
pub use error::*;
pub use snippet::*;

use crate::clock::Clock;
use crate::config::defaults;
use crate::event::enrich::{self, Context};
use crate::event::validate::{self, cut_chars, Rejection};
use crate::event::wire::{Json, WireEvent};
use crate::log::Log;
use crate::sites::SiteCache;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use outcome::BODY_SAMPLE_BYTES;
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
    request_body(content = String, content_type = "text/plain", description = "JSON envelope {site, sent_at, events: [...]} (text/plain or application/json; gzip, deflate, br); event types: pageview, click, scroll, zone, replay, survey_response, survey_shown {survey_id, trigger?}, survey_dismissed {survey_id, question_id? (the last question reached), trigger?}, feedback, custom"),
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

/// The answer of a browser ingest request: a refusal is counted and its body sample kept as
/// a dead letter ([`outcome::refused`]), and answered with the CORS grant (for origins some
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
            outcome::refused(state, &e, sample).await;
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

/// An event that passed validation and enrichment.
#[derive(Debug)]
pub struct AcceptedEvent {
    /// The event, ready for the log.
    pub event: crate::event::Event,
    /// Optional fields dropped for their type (the event was kept).
    pub warnings: Vec<String>,
    /// PII replacements enrichment made.
    pub pii: u32,
}

/// Validate and enrich one event of a batch (`index` is its position): the per-event cap
/// (bytes of its JSON as sent), [`validate::validate_event`], then [`enrich::enrich`].
/// Returns the event, the optional fields dropped for their type and the PII replacements
/// (counted by the caller's [`outcome::Outcomes`]), or the rejection. The one path by which
/// ingest and dead-letter replay accept an event.
pub fn accept_event(
    index: usize,
    wire: &WireEvent,
    site: &str,
    ctx: &Context,
    event_cap: usize,
) -> Result<AcceptedEvent, Rejection> {
    let size = wire.raw.get().len();
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
    let mut ok = match validate::validate_event(index, wire, site) {
        Ok(ok) => ok,
        Err(mut r) => {
            let client_ts = wire.member("ts").and_then(Json::as_f64).map(|t| t as i64);
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
    let pii = enrich::enrich(&mut ok.event, ctx);
    if let Some(reason) = too_old(ok.event.ts) {
        return Err(Rejection::new(index, "ts", reason));
    }
    Ok(AcceptedEvent {
        event: ok.event,
        warnings: ok.warnings,
        pii,
    })
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
    if let Err(e) = check_content_type(req) {
        // A form post or an XML document is bad input like any other: its body is read (as
        // far as the caps allow) for the dead letter's sample.
        let _ = read_body(req, payload, query.compression.as_deref(), state, sample).await;
        return Err(e);
    }
    let body = read_body(req, payload, query.compression.as_deref(), state, sample).await?;
    let mut scratch = Vec::new();
    let env = validate::parse_envelope(&body, &mut scratch).map_err(|e| IngestError::Malformed {
        field: e.field,
        reason: e.reason,
    })?;
    let site = state.sites.get(&env.site).ok_or(IngestError::UnknownSite)?;
    let events: Vec<WireEvent> = env.events.iter().map(|r| WireEvent::parse(r)).collect();
    let batch = BrowserBatch {
        events: &events,
        sent_at: env.sent_at,
        webdriver: env.webdriver,
        language: env.language.as_deref(),
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
