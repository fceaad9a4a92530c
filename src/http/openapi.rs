//! The OpenAPI document served at `GET /v1/openapi.json`, generated with utoipa from the
//! handlers' annotations, so it cannot drift from the routes.

use utoipa::OpenApi;

/// The v1 API description. `docs/api.md` documents the same routes and parameters in prose;
/// `tests/docs.rs` fails when the two drift.
#[derive(OpenApi)]
#[openapi(
    info(title = "Sightline", description = "Behavioural analytics and voice of customer, v1 HTTP contract. Reference: docs/api.md; what each number means: docs/analytics.md. Query ranges are whole days of the site's time zone (`settings.rules.time_zone`, default UTC), `from` inclusive, `to` exclusive; `to` equal to `from` is that one day."),
    paths(
        crate::ingest::events,
        crate::ingest::preflight,
        crate::ingest::snippet,
        crate::ingest::site_config,
        crate::http::ingest::import,
        crate::http::create_site,
        crate::http::list_sites,
        crate::http::get_site,
        crate::http::patch_site,
        crate::http::site_admin::delete_site_handler,
        crate::http::create_token,
        crate::http::list_tokens,
        crate::http::revoke_token,
        crate::http::rotate_token,
        crate::http::forget,
        crate::http::list_forgets,
        crate::http::site_stats,
        crate::http::rollup_run,
        crate::http::dead_letters,
        crate::http::healthz,
        crate::http::readyz,
        crate::http::metrics_text,
        crate::http::query::heatmap,
        crate::http::query::journeys,
        crate::http::query::pages,
        crate::http::query::layouts,
        crate::http::query::funnel_view,
        crate::http::query::heatmap::zones,
        crate::http::query::heatmap::problems,
        crate::http::query::heatmap::heatmap_compare,
        crate::http::query::heatmap::sessions,
        crate::http::query::timeline::session_timeline_view,
        crate::http::query::voc::voc,
        crate::http::query::segments::segments,
        crate::ingest::widgets,
        crate::http::replay::replay_js,
        crate::http::replay::replay_chunk,
        crate::http::replay::replay_preflight,
        crate::http::replay::session_replay,
        crate::http::survey::list_surveys,
        crate::http::survey::get_survey,
        crate::http::survey::put_survey,
        crate::http::survey::delete_survey,
        crate::http::dashboard::index,
        crate::http::dashboard::overlay_js,
        crate::http::dashboard::create_grant,
        crate::http::dashboard::overlay_data,
        openapi_json,
    ),
    components(schemas(
        crate::ingest::IngestResponse,
        crate::ingest::Warning,
        crate::event::validate::Rejection,
        crate::http::NewSite,
        crate::http::SitePatch,
        crate::http::NewTokenRequest,
        crate::access::TokenInfo,
        crate::access::Scope,
        crate::http::ForgetRequest,
        crate::privacy::ForgetRecord,
        crate::log::DeadLetter,
        crate::http::dashboard::OverlayRequest,
    )),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// `GET /v1/openapi.json`.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "operations", responses((status = 200, description = "This document")))]
pub async fn openapi_json() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok().json(ApiDoc::openapi())
}
