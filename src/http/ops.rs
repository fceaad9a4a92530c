//! Operations endpoints: health, readiness, metrics, the favicon.

use super::AppState;
use crate::metrics;
use actix_web::http::header;
use actix_web::{web, HttpResponse};

/// The icon browsers ask every site for, a small SVG (browsers take an icon by its content
/// type, not its name).
const FAVICON_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#1f6feb"/><path d="M3 16c3.2-6 7.8-9 13-9s9.8 3 13 9c-3.2 6-7.8 9-13 9s-9.8-3-13-9z" fill="#fff"/><circle cx="16" cy="16" r="4.5" fill="#1f6feb"/></svg>"##;

/// `GET /favicon.ico`: [`FAVICON_SVG`], cached for a day (a static asset like the
/// dashboard's, not part of the API).
pub async fn favicon() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "image/svg+xml"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(FAVICON_SVG)
}

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "process alive")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, description = "log and warehouse reachable"), (status = 503, description = "not ready")))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let (log, wh) = (state.log.ready().await, state.warehouse.ready().await);
    // Saturated: every ingest slot is taken (the next request would get 503), so a load
    // balancer should send traffic elsewhere until one frees.
    let saturated = state.quotas.saturated();
    let body = serde_json::json!({"log": log, "warehouse": wh, "saturated": saturated});
    if log && wh && !saturated {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format")))]
pub async fn metrics_text(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics::render_at(state.clock.now_ms()))
}
