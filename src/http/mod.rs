//! The HTTP layer: the router ([`routes`]), the handlers of the admin and operations
//! endpoints, the dashboard and the OpenAPI document, errors ([`ApiError`]) and auth. It sits
//! above every stage and below the composition root ([`crate::app`]).

pub mod admin;
pub mod auth;
pub mod contract;
pub mod dashboard;
pub mod error;
pub mod ingest;
pub mod openapi;
pub mod ops;
pub mod query;
pub mod replay;
pub mod site_admin;
pub mod state;
pub mod survey;

pub use admin::*;
pub use auth::{require_admin, require_read, require_scope, require_token};
pub use contract::{http_contract, unrouted};
pub use error::{from_json, json_body, ApiError};
pub use ops::*;
pub use state::AppState;

use crate::config::Roles;
use crate::ingest::IngestState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};

use actix_web::web;

/// Register the routes of `roles` on an actix `App`; health, readiness and metrics always.
pub fn routes(roles: Roles) -> impl Fn(&mut web::ServiceConfig) + Clone {
    move |cfg: &mut web::ServiceConfig| {
        if roles.ingest {
            cfg.route("/v1/events", web::post().to(crate::ingest::events))
                .route(
                    "/v1/events",
                    web::method(actix_web::http::Method::OPTIONS).to(crate::ingest::preflight),
                )
                .route("/s.js", web::get().to(crate::ingest::snippet))
                .route("/s/widgets.js", web::get().to(crate::ingest::widgets))
                .route("/s/overlay.js", web::get().to(crate::http::dashboard::overlay_js))
                .route("/s/replay.js", web::get().to(replay::replay_js))
                .route("/v1/replay", web::post().to(replay::replay_chunk))
                .route(
                    "/v1/replay",
                    web::method(actix_web::http::Method::OPTIONS).to(replay::replay_preflight),
                )
                .route("/v1/sites/{key}/config", web::get().to(crate::ingest::site_config))
                .route("/v1/sites/{key}/import", web::post().to(ingest::import));
            // posthog-js and Segment analytics.js routes (docs/compat.md).
            crate::ingest::compat::routes(cfg);
        }
        if roles.query {
            crate::http::dashboard::routes(cfg);
            cfg.route("/v1/sites", web::post().to(create_site))
                .route("/v1/sites", web::get().to(list_sites))
                .route("/v1/sites/{key}", web::get().to(get_site))
                .route("/v1/sites/{key}", web::patch().to(patch_site))
                .route(
                    "/v1/sites/{key}",
                    web::delete().to(crate::http::site_admin::delete_site_handler),
                )
                .route("/v1/sites/{key}/heatmap", web::get().to(query::heatmap))
                .route("/v1/sites/{key}/heatmap/compare", web::get().to(query::heatmap_compare))
                .route("/v1/sites/{key}/zones", web::get().to(query::zones))
                .route("/v1/sites/{key}/problems", web::get().to(query::problems))
                .route("/v1/sites/{key}/sessions", web::get().to(query::sessions))
                .route(
                    "/v1/sites/{key}/sessions/{id}",
                    web::get().to(query::timeline::session_timeline_view),
                )
                .route(
                    "/v1/sites/{key}/sessions/{id}/replay",
                    web::get().to(replay::session_replay),
                )
                .route("/v1/sites/{key}/journeys", web::get().to(query::journeys))
                .route("/v1/sites/{key}/pages", web::get().to(query::pages))
                .route("/v1/sites/{key}/layouts", web::get().to(query::layouts))
                .route("/v1/sites/{key}/segments", web::get().to(query::segments::segments))
                .route("/v1/sites/{key}/funnel", web::get().to(query::funnel_view))
                .route("/v1/sites/{key}/voc", web::get().to(query::voc::voc))
                .route("/v1/sites/{key}/surveys", web::get().to(survey::list_surveys))
                .route("/v1/sites/{key}/surveys/{id}", web::get().to(survey::get_survey))
                .route("/v1/sites/{key}/surveys/{id}", web::put().to(survey::put_survey))
                .route("/v1/sites/{key}/surveys/{id}", web::delete().to(survey::delete_survey))
                .route("/v1/sites/{key}/stats", web::get().to(site_stats))
                .route("/v1/sites/{key}/forget", web::post().to(forget))
                .route("/v1/admin/forgets", web::get().to(list_forgets))
                .route("/v1/tokens", web::post().to(create_token))
                .route("/v1/tokens", web::get().to(list_tokens))
                .route("/v1/tokens/{id}", web::delete().to(revoke_token))
                .route("/v1/tokens/{id}/rotate", web::post().to(rotate_token))
                .route("/v1/admin/rollup/run", web::post().to(rollup_run))
                .route("/v1/admin/deadletters", web::get().to(dead_letters));
        }
        cfg.route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics_text))
            .route("/v1/openapi.json", web::get().to(crate::http::openapi::openapi_json))
            .route("/favicon.ico", web::get().to(favicon));
    }
}

/// The actix `App` of this process: `state` and `ingest` for the handlers, the middleware
/// (the HTTP contract, metrics, security headers), the routes of `roles` and the JSON
/// `404`/`405` for the rest. `serve` runs one per worker; `testing::TestApp` calls
/// one in process.
pub fn app(
    state: web::Data<AppState>,
    ingest: web::Data<IngestState>,
    roles: Roles,
) -> actix_web::App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    actix_web::App::new()
        .app_data(state)
        .app_data(ingest)
        // A query string that does not fit a handler's parameters (a repeated one) is a
        // house-format `400`, like every other refusal.
        .app_data(web::QueryConfig::default().error_handler(|e, _| query_error(&e.to_string()).into()))
        .wrap(actix_web::middleware::from_fn(http_contract))
        .wrap(actix_web::middleware::from_fn(crate::metrics::http_middleware))
        // Security headers on every answer (the dashboard adds its own CSP).
        .wrap(
            actix_web::middleware::DefaultHeaders::new()
                .add(("X-Content-Type-Options", "nosniff"))
                .add(("Referrer-Policy", "no-referrer"))
                .add(("X-Frame-Options", "DENY")),
        )
        .configure(routes(roles))
        .default_service(web::to(unrouted))
}

/// The `400` of a query string the typed parameters refuse: naming the parameter when the
/// parser does (`duplicate field `channel``: "given more than once"), else `query`.
fn query_error(msg: &str) -> ApiError {
    let named = |what: &str| {
        let rest = msg.split(what).nth(1)?;
        let name = rest.split('`').nth(1)?;
        (!name.is_empty()).then(|| name.to_string())
    };
    match named("duplicate field") {
        Some(p) => ApiError::bad(&p, "given more than once: give each parameter once"),
        None => ApiError::bad("query", msg),
    }
}
