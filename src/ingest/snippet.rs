//! The snippet, its widgets and the per-site config they read (`GET /s.js`,
//! `GET /s/widgets.js`, `GET /v1/sites/{key}/config`).

use super::*;
use actix_web::http::header;
use actix_web::{web, HttpResponse};

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
                    "replay": site.settings.replay.public_config(),
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
