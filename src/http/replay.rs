//! Session replay over HTTP ([`crate::replay`]): the recorder's chunk endpoint
//! (`POST /v1/replay`, under the site's write key and origins, like `POST /v1/events`), the
//! recorder itself (`GET /s/replay.js`) and a session's recording for the dashboard's player
//! (`GET /v1/sites/{key}/sessions/{id}/replay`, read scope).

use crate::http::{require_read, ApiError, AppState};
use crate::ingest::{admit, cors_grant, finish, IngestError, IngestState};
use crate::log::{AppendOutcome, LogError};
use crate::replay::{self, ChunkAddress, ReplayError};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

/// The recorder (rrweb's `record`, bundled by `snippet/replay/build.mjs`), embedded in the
/// binary; `/s.js` loads it only when the site records and the session is sampled.
pub const REPLAY_JS: &str = include_str!("../../snippet/replay.js");

/// `GET /s/replay.js`: the session-replay recorder (loaded lazily by `/s.js`).
#[utoipa::path(get, path = "/s/replay.js", tag = "ingest", responses((status = 200, description = "The session-replay recorder", content_type = "application/javascript")))]
pub async fn replay_js() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/javascript; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .body(REPLAY_JS)
}

/// Query parameters of `POST /v1/replay`: the chunk's site and address.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChunkParams {
    /// The site's write key.
    pub site: String,
    /// The snippet's session id.
    pub session: String,
    /// The snippet's visitor id.
    pub visitor: String,
    /// The recorder run (one per page load), 1..64 characters of `A-Z a-z 0-9 _ - .`.
    pub window: String,
    /// The chunk's number within its window, from 0.
    pub seq: u32,
    /// `1` when the chunk holds a full snapshot: if it is refused as too large, the window
    /// is marked "snapshot missing".
    pub full: Option<u8>,
}

fn id_ok(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// `OPTIONS /v1/replay`: the CORS preflight, granted as for `/v1/events`.
#[utoipa::path(options, path = "/v1/replay", tag = "ingest", responses((status = 204, description = "CORS grant for an origin some site allows; no CORS headers otherwise")))]
pub async fn replay_preflight(req: HttpRequest, state: web::Data<IngestState>) -> HttpResponse {
    crate::ingest::preflight(req, state).await
}

/// `POST /v1/replay`: store one chunk of a session recording. The body is the gzip of a JSON
/// array of rrweb events (or the JSON itself), `text/plain` or `application/octet-stream`.
/// `202 {"parts", "duplicate"}` once durable in the log; `413 {"error": "too_large",
/// "field": "body", "limit"}` over the cap as sent or decoded (a refused full snapshot marks
/// its window "snapshot missing"); `400` naming the field; `401`/`403`/`429`/`503` as for
/// events.
#[utoipa::path(post, path = "/v1/replay", tag = "ingest", params(ChunkParams),
    request_body(content = String, content_type = "text/plain", description = "gzip of a JSON array of rrweb events"),
    responses((status = 202, description = "parts (log records written), duplicate (the chunk was stored before)"),
        (status = 400, description = "bad address or body, or replay off for the site"), (status = 401, description = "unknown write key"),
        (status = 403, description = "origin not allowed"), (status = 413, description = "chunk over the cap as sent or decoded (limit named)"),
        (status = 429, description = "quota"), (status = 503, description = "the log cannot take chunks now")))]
pub async fn replay_chunk(
    req: HttpRequest,
    payload: web::Payload,
    q: web::Query<ChunkParams>,
    state: web::Data<IngestState>,
) -> HttpResponse {
    let result = handle(&req, payload, q.into_inner(), &state).await;
    finish(&req, &state, result, &[]).await
}

async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    q: ChunkParams,
    state: &IngestState,
) -> Result<HttpResponse, IngestError> {
    let received_at = state.clock.now_ms();
    let _permit = admit(req, state)?;
    let site = state.sites.get(&q.site).ok_or(IngestError::UnknownSite)?;
    let origin = req.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok());
    if let Some(o) = origin.filter(|o| !site.allows_origin(o)) {
        return Err(IngestError::OriginNotAllowed(o.to_string()));
    }
    let bad = |field: &str, reason: &str| IngestError::Malformed {
        field: field.into(),
        reason: reason.into(),
    };
    if !site.settings.replay.enabled {
        return Err(bad(
            "site",
            "session replay is not enabled for this site (settings.replay.enabled)",
        ));
    }
    for (field, v) in [("session", &q.session), ("visitor", &q.visitor)] {
        if !id_ok(v, 128) {
            return Err(bad(field, "must be 1..128 characters of A-Z a-z 0-9 _ - ."));
        }
    }
    if !id_ok(&q.window, 64) {
        return Err(bad("window", "must be 1..64 characters of A-Z a-z 0-9 _ - ."));
    }
    let over = state
        .quotas
        .take_visitors(&site.key, std::iter::once(Some(q.visitor.as_str())));
    if !over.refused.is_empty() {
        return Err(crate::ingest::quota::Refusal::Visitor(over.wait).into());
    }
    state.quotas.take_site(&site.key, site.settings.events_per_minute, 1)?;
    let a = ChunkAddress {
        site: site.key.clone(),
        visitor: q.visitor,
        session: q.session,
        window: q.window,
        seq: q.seq,
    };
    let request_id = uuid::Uuid::now_v7().to_string();
    let limits = state.replay;
    // No sample of a refused chunk is kept as a dead letter: it is a recording of a page.
    let body = crate::ingest::decode::read_capped(
        payload,
        limits.chunk_bytes,
        state.limits.body_chunk_timeout,
        &mut Vec::new(),
        0,
    )
    .await;
    let decoded = body.and_then(|b| {
        replay::decode_body(&b, limits.decoded_bytes).map_err(|e| match e {
            ReplayError::TooLarge { limit, .. } => IngestError::TooLarge {
                limit,
                what: "the decoded replay chunk",
            },
            ReplayError::Malformed { field, reason } => IngestError::Malformed {
                field: field.into(),
                reason,
            },
        })
    });
    let json = match decoded {
        Ok(json) => json,
        Err(e @ IngestError::TooLarge { .. }) => {
            if q.full == Some(1) {
                // C6: the window's snapshot never arrives; say so instead of a broken replay.
                let marker = replay::snapshot_missing(&a, received_at, &request_id);
                append(state, &[marker]).await?;
            }
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    let (events, scrubbed) =
        replay::prepare(&a, &json, received_at, limits.part_bytes, &request_id).map_err(|e| match e {
            ReplayError::Malformed { field, reason } => IngestError::Malformed {
                field: field.into(),
                reason,
            },
            ReplayError::TooLarge { limit, .. } => IngestError::TooLarge {
                limit,
                what: "the replay chunk",
            },
        })?;
    crate::metrics::METRICS
        .pii_replacements_total
        .inc_by(u64::from(scrubbed));
    let outcomes = append(state, &events).await?;
    let duplicate = outcomes.iter().all(|o| *o != AppendOutcome::Appended);
    let mut resp = HttpResponse::Accepted();
    if let Some(o) = origin {
        cors_grant(&mut resp, o);
    }
    resp.insert_header(("x-request-id", request_id));
    Ok(resp.json(serde_json::json!({"parts": events.len(), "duplicate": duplicate})))
}

/// Append durably within the append timeout; log failures map as for events.
async fn append(state: &IngestState, events: &[crate::event::Event]) -> Result<Vec<AppendOutcome>, IngestError> {
    match tokio::time::timeout(state.limits.append_timeout, state.log.append(events)).await {
        Ok(Ok(o)) => Ok(o),
        Ok(Err(LogError::TooLarge { limit, .. })) => Err(IngestError::TooLarge {
            limit,
            what: "log record",
        }),
        Ok(Err(e)) => Err(IngestError::Unavailable(e.to_string())),
        Err(_) => Err(IngestError::Unavailable(format!(
            "no acknowledgement within {} ms",
            state.limits.append_timeout.as_millis()
        ))),
    }
}

/// `GET /v1/sites/{key}/sessions/{id}/replay`: the recording of snippet session `id`:
/// `summary` ([`replay::RecordingSummary`]), `windows`, `gaps` (chunks that never arrived:
/// the player shows them, it does not fail), and `events` (rrweb events of the playable
/// windows, in time order). `404` naming `id` when nothing was recorded.
#[utoipa::path(get, path = "/v1/sites/{key}/sessions/{id}/replay", tag = "query", security(("bearer" = [])),
    params(("key" = String, Path, description = "write key"), ("id" = String, Path, description = "the snippet's session id")),
    responses((status = 200, description = "session, summary {started_at, ended_at, duration_ms, windows, chunks, pages, clicks, errors, bytes, decoded_bytes, gaps, snapshot_missing, playable}, windows [{window, started_at, ended_at, chunks, snapshot_missing}], gaps [{window, from_seq, to_seq, from_ts, to_ts}], events [rrweb events]"),
        (status = 404, description = "unknown site (key) or no recording (id)")))]
pub async fn session_replay(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (key, id) = path.into_inner();
    require_read(&req, &state, &key)?;
    state.site(&key)?;
    let parts = state
        .warehouse
        .replay_parts(&key, std::slice::from_ref(&id), true)
        .await?;
    if parts.is_empty() {
        return Err(ApiError::not_found("id", "no recording of this session"));
    }
    let rec = crate::http::query::off_http(move || replay::assemble(parts, true)).await?;
    let mut out = serde_json::to_value(&rec).map_err(|e| anyhow::anyhow!("recording to JSON: {e}"))?;
    out["session"] = serde_json::Value::String(id);
    Ok(HttpResponse::Ok().json(out))
}

/// The replay summary of each of `sessions` that has a recording (for the session list and
/// the timeline).
pub async fn summaries(
    state: &AppState,
    site: &str,
    sessions: &[String],
) -> Result<std::collections::BTreeMap<String, replay::RecordingSummary>, ApiError> {
    if sessions.is_empty() {
        return Ok(Default::default());
    }
    let parts = state.warehouse.replay_parts(site, sessions, false).await?;
    Ok(replay::summaries(parts))
}
