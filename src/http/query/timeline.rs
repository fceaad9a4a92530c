//! `GET /v1/sites/{key}/sessions/{id}`: one session's timeline
//! ([`crate::rollup::timeline`]). Reads only that snippet session's events (the warehouse's
//! per-session read, the one the rollup job uses), never a range.

use super::off_http;
use crate::http::{require_read, ApiError, AppState};
use crate::rollup::timeline::session_timeline;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

/// Parameter of `GET /v1/sites/{key}/sessions/{id}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TimelineParams {
    /// The server-side part of the session (`split` of a `/sessions` row): 0 (default), 1, …
    pub split: Option<String>,
}

/// `GET /v1/sites/{key}/sessions/{id}`: the events of session `id` (the snippet's session id,
/// `session` of a `/sessions` row), part `split`, in order, with page views (time on page,
/// scroll depth, zones seen), clicks (selector, zone, rage/dead), survey answers, feedback
/// and custom events. `id` may also be a session key `<session>#<split>` (`#` sent as `%23`)
/// when no `split` is given and no session is literally named so. `replay` is the
/// session's recording metadata ([`crate::replay::RecordingSummary`] plus `rage_clicks`,
/// `dead_clicks`), `null` when it was not recorded. `400` naming `split` when it is not an integer ≥ 0; `404`
/// naming `key` (unknown site) or `id` (no such session or part).
#[utoipa::path(get, path = "/v1/sites/{key}/sessions/{id}", tag = "query", security(("bearer" = [])), params(("key" = String, Path, description = "write key"), ("id" = String, Path, description = "the snippet's session id (`session` of a /sessions row)"), TimelineParams), responses((status = 200, description = "session, split, visitor_id, start, end, duration_ms, device, bot, entry_page, exit_page, pageviews, clicks, rage_clicks, dead_clicks, replay (recording metadata: started_at, ended_at, duration_ms, windows, chunks, pages, clicks, rage_clicks, dead_clicks, errors, bytes, decoded_bytes, gaps, snapshot_missing, playable; null when not recorded), events: [{type: pageview|click|survey_response|feedback|custom, offset_ms (from start), ts, client_ts (the client's clock, as sent), page, …}] in session order; pageview: url, title, referrer, synthetic, time_on_page_ms, scroll_depth (%), zones_seen, quick_back; click: selector, zone, rage, rage_burst, dead, reaction_ms; survey_response: survey_id, question_id, kind, value, trigger; feedback: rating, comment, category, selector; custom: name, props"), (status = 400, description = "split is not an integer 0 or more"), (status = 404, description = "unknown site (key) or session (id)")))]
pub async fn session_timeline_view(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    p: web::Query<TimelineParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (key, id) = path.into_inner();
    require_read(&req, &state, &key)?;
    let site = state.site(&key)?;
    let split = match p.split.as_deref() {
        None => None,
        Some(s) => Some(
            s.trim()
                .parse::<u32>()
                .map_err(|_| ApiError::bad("split", "must be an integer 0 or more"))?,
        ),
    };
    // The literal id, and (without `split`) the session key form `<session>#<split>`.
    let mut candidates: Vec<(String, u32)> = vec![(id.clone(), split.unwrap_or(0))];
    if split.is_none() {
        let (sid, n) = crate::rollup::session_key_parts(&id);
        if sid != id {
            candidates.push((sid.to_string(), n));
        }
    }
    let ids: Vec<String> = candidates.iter().map(|(s, _)| s.clone()).collect();
    let events = state.warehouse.session_events(&key, &ids).await?;
    let rules = site.settings.rules;
    let timeline = off_http(move || {
        candidates
            .iter()
            .find_map(|(sid, n)| session_timeline(&events, sid, *n, &rules))
    })
    .await?
    .ok_or_else(|| ApiError::not_found("id", "no such session (or no such split of it)"))?;
    let mut out = serde_json::to_value(&timeline).map_err(|e| anyhow::anyhow!("timeline to JSON: {e}"))?;
    // The recording's metadata, derived from its chunks; its rage and dead clicks are the
    // session's own (the same definitions as everywhere, from the snippet's clicks).
    let sid = out["session"].as_str().unwrap_or(&id).to_string();
    out["replay"] = match crate::http::replay::summaries(&state, &key, &[sid.clone()])
        .await?
        .remove(&sid)
    {
        None => serde_json::Value::Null,
        Some(r) => {
            let mut v = serde_json::to_value(r).map_err(|e| anyhow::anyhow!("replay to JSON: {e}"))?;
            v["rage_clicks"] = out["rage_clicks"].clone();
            v["dead_clicks"] = out["dead_clicks"].clone();
            v
        }
    };
    Ok(HttpResponse::Ok().json(out))
}
