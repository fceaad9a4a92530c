//! Ingest endpoints that need the API's auth: historical import. The snippet's endpoints
//! are [`crate::ingest`]'s own.

use super::{require_token, ApiError, AppState};
use crate::event::enrich::{self, Skew};
use crate::event::validate::Envelope;
use crate::event::wire::{WireBody, WireEvent};
use crate::ingest::{accept, check_content_type, decode, IngestError, IngestQuery, IngestResponse, IngestState};
use crate::metrics::METRICS;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};

/// `POST /v1/sites/{key}/import` (bearer token): historical import. The body is
/// `{"events": [...]}` with events as in `POST /v1/events` (`"site"` may be given and must
/// then be `key`; gzip, deflate and br as there). Past timestamps are kept as sent: no clock
/// skew shift (there is no live `sent_at`), but anything more than 1 min in the future is
/// still clamped to the receive time. No origin and no user-agent bot check (the importer
/// is not a visitor's browser). Otherwise the same path as `POST /v1/events` ([`accept`]):
/// the same validation, enrichment, log, dedup by event id (a re-import of the same ids
/// counts them as `duplicates`) and the same `202`/`400` body.
#[utoipa::path(post, path = "/v1/sites/{key}/import", tag = "ingest", security(("bearer" = [])),
    params(("key" = String, Path, description = "write key")),
    request_body(content = String, content_type = "application/json", description = "{events: [...]} as in POST /v1/events; past timestamps kept"),
    responses(
        (status = 202, description = "Accepted events are durable in the log", body = IngestResponse),
        (status = 400, description = "Malformed body, or every event rejected (each names field and reason)"),
        (status = 401, description = "Missing or wrong bearer token"), (status = 404, description = "Unknown site"),
        (status = 413, description = "Body over the cap (decoded bytes)"),
        (status = 415, description = "Unsupported content encoding, or a content type other than application/json or text/plain"),
        (status = 503, description = "The log cannot take events now; retry after Retry-After")))]
pub async fn import(
    req: HttpRequest,
    key: web::Path<String>,
    payload: web::Payload,
    query: web::Query<IngestQuery>,
    app: web::Data<AppState>,
    state: web::Data<IngestState>,
) -> HttpResponse {
    if let Err(e) = require_token(&req, &app) {
        return e.error_response();
    }
    let Some(site) = state.sites.get(&key) else {
        return ApiError::not_found("key", "unknown site").error_response();
    };
    let result = async {
        let received_at = state.clock.now_ms();
        check_content_type(&req)?;
        let raw = decode::read_capped(
            payload,
            state.limits.batch_bytes,
            state.limits.body_chunk_timeout,
            &mut Vec::new(),
            0,
        )
        .await?;
        let content_encoding = req
            .headers()
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok());
        let codings = decode::codings(content_encoding, query.compression.as_deref(), &raw)?;
        let body = decode::decode(raw, &codings, state.limits.batch_bytes)?;
        let malformed = |field: &str, reason: &str| IngestError::Malformed {
            field: field.into(),
            reason: reason.into(),
        };
        let body = match WireBody::parse(&body) {
            Ok(WireBody::Object(w)) => w,
            Ok(WireBody::NotObject) => return Err(malformed("body", "expected a JSON object {\"events\": [...]}")),
            Err(e) => return Err(malformed("body", &format!("not valid JSON: {e}"))),
        };
        if body
            .site
            .is_some_and(|s| s.as_str().as_deref() != Some(site.key.as_str()))
        {
            return Err(malformed("site", "must be the site key of the path, or left out"));
        }
        let env = Envelope::from_wire(WireBody::Object(body), Some(&site.key)).map_err(|e| IngestError::Malformed {
            field: e.field,
            reason: e.reason,
        })?;
        let events: Vec<WireEvent> = env.events.iter().map(|r| WireEvent::parse(r)).collect();
        // Only the envelope's `webdriver` flag: the importer's user agent is not a visitor's.
        let bot_reason = env.webdriver.then(|| "navigator.webdriver".to_string());
        accept(
            &state,
            &site,
            &events,
            received_at,
            None,
            Skew { shift_ms: 0 },
            bot_reason,
            enrich::OLDEST_IMPORT_TS,
            None,
        )
        .await
    }
    .await;
    match result {
        Ok((status, request_id, out)) => HttpResponse::build(status)
            .insert_header(("x-request-id", request_id))
            .json(out),
        Err(e) => {
            // Counted as every refusal; an import's body is the operator's, not kept.
            METRICS.requests_refused_total.with_label_values(&[e.cause()]).inc();
            e.error_response()
        }
    }
}
