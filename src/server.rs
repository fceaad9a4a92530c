//! `sightline serve`: wires ingest → log → sink → rollup → query in one process (the
//! embedded default), plus the admin API, health, readiness and metrics endpoints.

use crate::access::{self, Denied, Principal, Scope, TokenInfo, Tokens};
use crate::ingest::quota::{QuotaConfig, Quotas};
use crate::ingest::{self, Limits};
use crate::log::kafka::{KafkaConfig, KafkaLog};
use crate::log::{embedded::EmbeddedLog, DeadLetter, Log};
use crate::metrics::{self, METRICS};
use crate::privacy::ForgetRecord;
use crate::query;
use crate::rollup;
use crate::sink::{self, SinkConfig};
use crate::sites::{new_key, Site, SiteCache, SiteSettings};
use crate::survey;
use crate::warehouse::{clickhouse::ClickHouseWarehouse, sqlite::SqliteWarehouse, Warehouse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer, ResponseError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Shared state of every handler.
pub struct AppState {
    pub log: Arc<dyn Log>,
    pub warehouse: Arc<dyn Warehouse>,
    pub sites: Arc<SiteCache>,
    /// The root token and the API tokens ([`crate::access`]).
    pub tokens: Arc<Tokens>,
    pub limits: Limits,
    /// `embedded` or `kafka`, for metric labels.
    pub log_backend: &'static str,
    /// Ingest quotas, the in-flight limit and the client-IP rule.
    pub quotas: Arc<Quotas>,
    /// This process's share of the rollup work: `--rollup-shard` (embedded log), the buckets
    /// leased from the Kafka group (Kafka log, rollup role), or nothing (Kafka log, no
    /// rollup role). `POST /v1/admin/rollup/run` runs a pass over it.
    pub rollup: rollup::job::Ownership,
}

impl AppState {
    /// The site with write key `key` (from the site cache), or `404` naming `key`: what every
    /// route under `/v1/sites/{key}/…` answers for an unknown site.
    pub fn site(&self, key: &str) -> Result<Site, ApiError> {
        self.sites
            .get(key)
            .ok_or_else(|| ApiError::not_found("key", &format!("no site with key {key}")))
    }
}

/// An error of the query or admin API, as `{"error", "field", "reason"}`.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ApiError {
    pub status: StatusCode,
    pub field: String,
    pub reason: String,
}

impl ApiError {
    /// `400` naming the parameter.
    pub fn bad(field: &str, reason: &str) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            field: field.into(),
            reason: reason.into(),
        }
    }
    /// `404`.
    pub fn not_found(field: &str, reason: &str) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Deserialize `T` from JSON (a request body's `serde_json::Deserializer`, or a
/// `serde_json::Value`), naming where it failed: a `400` whose field is the dotted path of
/// the bad value under `prefix` (`settings.rules.rage_clicks`, `questions[0].kind`; a
/// missing field is named itself), or `prefix` alone, `body` when that is empty, when the
/// failure is at the top (not JSON, not an object). `expected` describes the shape and
/// starts the reason.
pub fn from_json<'de, T, D>(de: D, prefix: &str, expected: &str) -> Result<T, ApiError>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
    D::Error: std::fmt::Display,
{
    serde_path_to_error::deserialize(de).map_err(|e| {
        let inner = e.inner().to_string();
        let mut path: Vec<String> = [prefix.to_string()]
            .into_iter()
            .chain(e.path().iter().map(|s| s.to_string()))
            .filter(|s| !s.is_empty())
            .collect();
        if let Some(missing) = inner.strip_prefix("missing field `").and_then(|r| r.split('`').next()) {
            path.push(missing.to_string());
        }
        let field = if path.is_empty() {
            "body".to_string()
        } else {
            path.join(".").replace(".[", "[")
        };
        ApiError::bad(&field, &format!("{expected}: {inner}"))
    })
}

/// [`from_json`] over a request body. A body that is not JSON at all (a syntax error, a
/// truncated document) names `body`, with the line and column, not the field being read when
/// the parser stopped.
pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8], expected: &str) -> Result<T, ApiError> {
    serde_json::from_slice::<serde::de::IgnoredAny>(body)
        .map_err(|e| ApiError::bad("body", &format!("{expected}: not valid JSON: {e}")))?;
    from_json(&mut serde_json::Deserializer::from_slice(body), "", expected)
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        tracing::error!(error = %e, "query failed");
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            field: "warehouse".into(),
            reason: e.to_string(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        let error = match self.status {
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::CONFLICT => "conflict",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            _ => "bad_request",
        };
        let mut b = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            b.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        b.json(serde_json::json!({"error": error, "field": self.field, "reason": self.reason}))
    }
}

/// Check `Authorization: Bearer <token>` for the `admin` scope (see [`require_scope`]).
pub fn require_token(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    require_scope(req, state, Scope::Admin, None).map(|_| ())
}

/// Check `Authorization: Bearer <token>` for the `admin` scope on site `key` (a site's
/// settings, surveys, erasures): tokens limited to that site pass too.
pub fn require_admin(req: &HttpRequest, state: &AppState, key: &str) -> Result<(), ApiError> {
    require_scope(req, state, Scope::Admin, Some(key)).map(|_| ())
}

/// Check `Authorization: Bearer <token>` for the `read` scope on site `key` (query API).
pub fn require_read(req: &HttpRequest, state: &AppState, key: &str) -> Result<(), ApiError> {
    require_scope(req, state, Scope::Read, Some(key)).map(|_| ())
}

/// Check the bearer token for `need` on `site` ([`crate::access`]): `401` naming
/// `authorization` without a valid token, `403` naming `scope` or `site` without the right.
pub fn require_scope(
    req: &HttpRequest,
    state: &AppState,
    need: Scope,
    site: Option<&str>,
) -> Result<Principal, ApiError> {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    state.tokens.authorize(given, need, site).map_err(|d| match d {
        Denied::Unauthenticated => ApiError {
            status: StatusCode::UNAUTHORIZED,
            field: "authorization".into(),
            reason: "a valid Bearer token is required".into(),
        },
        Denied::Scope(s) => ApiError {
            status: StatusCode::FORBIDDEN,
            field: "scope".into(),
            reason: format!("this call needs a token with the {s:?} scope").to_lowercase(),
        },
        Denied::Site(site) => ApiError {
            status: StatusCode::FORBIDDEN,
            field: "site".into(),
            reason: format!("this token is not valid for site {site}"),
        },
        Denied::AllSites => ApiError {
            status: StatusCode::FORBIDDEN,
            field: "site".into(),
            reason: "this token is limited to some sites; this call is about every site".into(),
        },
    })
}

/// `POST /v1/tokens` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenRequest {
    pub name: String,
    pub scope: Scope,
    /// Limit the token to these sites (write keys); default every site.
    #[serde(default)]
    pub sites: Vec<String>,
}

/// `POST /v1/tokens` (admin): make an API token; the answer holds its plaintext, once.
#[utoipa::path(post, path = "/v1/tokens", tag = "admin", security(("bearer" = [])), request_body = NewTokenRequest, responses((status = 201, body = TokenInfo), (status = 400, description = "names the field"), (status = 401), (status = 403)))]
pub async fn create_token(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_token(&req, &state)?;
    let n: NewTokenRequest = json_body(&body, "expected {\"name\", \"scope\": \"read\"|\"admin\", \"sites\"?}")?;
    if let Some(unknown) = n.sites.iter().find(|k| state.sites.get(k).is_none()) {
        return Err(ApiError::bad("sites", &format!("no site with key {unknown}")));
    }
    let t = access::create_token(state.warehouse.as_ref(), &n.name, n.scope, n.sites)
        .await
        .map_err(|e| ApiError::bad("name", &e.to_string()))?;
    state.tokens.put(t.token.clone());
    Ok(HttpResponse::Created().json(TokenInfo::from(&t)))
}

/// `GET /v1/tokens` (admin): every token, revoked ones too, without secrets.
#[utoipa::path(get, path = "/v1/tokens", tag = "admin", security(("bearer" = [])), responses((status = 200, body = Vec<TokenInfo>)))]
pub async fn list_tokens(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    require_token(&req, &state)?;
    let mut v: Vec<TokenInfo> = state.warehouse.tokens().await?.iter().map(TokenInfo::from).collect();
    v.sort_by_key(|t| t.created_at);
    Ok(HttpResponse::Ok().json(v))
}

fn no_token(id: &str) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        field: "id".into(),
        reason: format!("no active token with id {id}"),
    }
}

/// `DELETE /v1/tokens/{id}` (admin): revoke a token.
#[utoipa::path(delete, path = "/v1/tokens/{id}", tag = "admin", security(("bearer" = [])), responses((status = 200, body = TokenInfo), (status = 404)))]
pub async fn revoke_token(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_token(&req, &state)?;
    let t = access::revoke_token(state.warehouse.as_ref(), &id)
        .await?
        .ok_or_else(|| no_token(&id))?;
    state.tokens.put(t.clone());
    Ok(HttpResponse::Ok().json(TokenInfo::from(&t)))
}

/// `POST /v1/tokens/{id}/rotate` (admin): a new token like `id`, and `id` revoked.
#[utoipa::path(post, path = "/v1/tokens/{id}/rotate", tag = "admin", security(("bearer" = [])), responses((status = 201, body = TokenInfo), (status = 404)))]
pub async fn rotate_token(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_token(&req, &state)?;
    let (new, old) = access::rotate_token(state.warehouse.as_ref(), &id)
        .await?
        .ok_or_else(|| no_token(&id))?;
    state.tokens.put(old);
    state.tokens.put(new.token.clone());
    Ok(HttpResponse::Created().json(TokenInfo::from(&new)))
}

/// `POST /v1/sites` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSite {
    pub name: String,
    #[serde(default)]
    pub origins: Vec<String>,
    pub key: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub settings: SiteSettings,
}

/// Validate a new site and give it a key.
pub fn make_site(n: NewSite) -> Result<Site, ApiError> {
    if n.name.trim().is_empty() {
        return Err(ApiError::bad("name", "must not be empty"));
    }
    for o in &n.origins {
        // An origin is scheme://host[:port]: no path, query or fragment (browsers send it so).
        let ok = o == "*"
            || url::Url::parse(o).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host().is_some()
                    && u.origin()
                        .ascii_serialization()
                        .eq_ignore_ascii_case(o.trim_end_matches('/'))
            });
        if !ok {
            return Err(ApiError::bad(
                "origins",
                "each origin must be scheme://host[:port] like https://shop.example, or *",
            ));
        }
    }
    n.settings.validate().map_err(|(f, r)| ApiError::bad(&f, &r))?;
    let key = n.key.unwrap_or_else(new_key);
    if key.is_empty() || key.len() > 128 || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(ApiError::bad("key", "1..128 characters of A-Z a-z 0-9 _ -"));
    }
    Ok(Site {
        key,
        name: n.name,
        origins: n.origins,
        settings: n.settings,
        created_at: chrono::Utc::now().timestamp_millis(),
    })
}

#[derive(Serialize)]
struct SiteOut<'a> {
    key: &'a str,
    name: &'a str,
    origins: &'a [String],
    settings: &'a SiteSettings,
}

/// Validate a new site and store it; `409` (field `key`) when the key is taken. The one
/// path by which the API and the CLI (`sightline site add`) create sites.
pub async fn add_site(warehouse: &dyn Warehouse, new: NewSite) -> Result<Site, ApiError> {
    let site = make_site(new)?;
    let all = warehouse.sites().await?;
    if all.iter().any(|s| s.key == site.key) {
        return Err(ApiError {
            status: StatusCode::CONFLICT,
            field: "key".into(),
            reason: format!("a site with key {} exists already", site.key),
        });
    }
    refuse_compat_clash(&site, &all)?;
    warehouse.put_site(&site).await?;
    Ok(site)
}

/// `PATCH /v1/sites/{key}` body: what to change. `settings` is a JSON merge patch (RFC 7396)
/// applied to the site's current settings: `{"rules": {"rage_min_clicks": 4}}` changes one
/// threshold and keeps the rest; `null` resets a field to its default.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SitePatch {
    pub name: Option<String>,
    pub origins: Option<Vec<String>>,
    #[schema(value_type = Object)]
    pub settings: Option<serde_json::Value>,
}

/// RFC 7396 JSON merge patch: objects merge key by key, `null` removes, anything else replaces.
pub fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    use serde_json::Value;
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            let t = target.as_object_mut().expect("object");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

/// Apply a [`SitePatch`] to the stored site `key` and store it, validated like a new site
/// (bad settings name the field: `400`); `404` (field `key`) for an unknown site. The one path
/// by which the API and the CLI (`sightline site update`) change sites. Rollups already
/// computed are not touched: run `sightline rollup rebuild` to recompute history.
pub async fn update_site(warehouse: &dyn Warehouse, key: &str, patch: SitePatch) -> Result<Site, ApiError> {
    let Some(cur) = warehouse.sites().await?.into_iter().find(|s| s.key == key) else {
        return Err(ApiError {
            status: StatusCode::NOT_FOUND,
            field: "key".into(),
            reason: format!("no site with key {key}"),
        });
    };
    let settings = match patch.settings {
        None => cur.settings.clone(),
        Some(p) => {
            let mut v = serde_json::to_value(&cur.settings).map_err(anyhow::Error::from)?;
            merge_patch(&mut v, &p);
            from_json(v, "settings", "not valid settings")?
        }
    };
    let mut site = make_site(NewSite {
        name: patch.name.unwrap_or(cur.name),
        origins: patch.origins.unwrap_or(cur.origins),
        key: Some(cur.key),
        settings,
    })?;
    site.created_at = cur.created_at;
    refuse_compat_clash(&site, &warehouse.sites().await?)?;
    warehouse.put_site(&site).await?;
    Ok(site)
}

/// `409` naming the field when `site`'s tracker keys clash with another site's
/// ([`crate::sites::compat_key_clash`]).
fn refuse_compat_clash(site: &Site, all: &[Site]) -> Result<(), ApiError> {
    match crate::sites::compat_key_clash(site, all) {
        Some((field, reason)) => Err(ApiError {
            status: StatusCode::CONFLICT,
            field,
            reason,
        }),
        None => Ok(()),
    }
}

fn site_out(site: &Site) -> SiteOut<'_> {
    SiteOut {
        key: &site.key,
        name: &site.name,
        origins: &site.origins,
        settings: &site.settings,
    }
}

/// `GET /v1/sites/{key}` (admin): one site with its settings.
#[utoipa::path(get, path = "/v1/sites/{key}", tag = "admin", security(("bearer" = [])), responses((status = 200, description = "The site"), (status = 404, description = "unknown key")))]
pub async fn get_site(
    req: HttpRequest,
    key: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state, &key)?;
    match state.sites.get(&key) {
        Some(site) => Ok(HttpResponse::Ok().json(site_out(&site))),
        None => Err(ApiError {
            status: StatusCode::NOT_FOUND,
            field: "key".into(),
            reason: format!("no site with key {key}"),
        }),
    }
}

/// `PATCH /v1/sites/{key}` (admin): change a site's name, origins or settings (merge patch).
#[utoipa::path(patch, path = "/v1/sites/{key}", tag = "admin", security(("bearer" = [])), request_body = SitePatch, responses((status = 200, description = "The updated site"), (status = 400, description = "names the field"), (status = 404, description = "unknown key")))]
pub async fn patch_site(
    req: HttpRequest,
    key: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state, &key)?;
    let patch: SitePatch = json_body(&body, "expected {\"name\"?, \"origins\"?, \"settings\"?}")?;
    let site = update_site(state.warehouse.as_ref(), &key, patch).await?;
    state.sites.put(site.clone());
    Ok(HttpResponse::Ok().json(site_out(&site)))
}

/// `POST /v1/sites` (admin): create a site.
#[utoipa::path(post, path = "/v1/sites", tag = "admin", security(("bearer" = [])), request_body = NewSite, responses((status = 201, description = "The site with its write key"), (status = 400, description = "names the field"), (status = 401, description = "no or wrong token")))]
pub async fn create_site(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_token(&req, &state)?;
    // Read as JSON whatever the content type, so a plain `curl -d` works.
    let new: NewSite = json_body(&body, "expected {\"name\", \"origins\", \"key\"?, \"settings\"?}")?;
    let site = add_site(state.warehouse.as_ref(), new).await?;
    state.sites.put(site.clone());
    Ok(HttpResponse::Created().json(site_out(&site)))
}

#[utoipa::path(get, path = "/v1/sites", tag = "admin", security(("bearer" = [])), responses((status = 200, description = "All sites")))]
pub async fn list_sites(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    require_token(&req, &state)?;
    let sites = state.sites.all();
    let out: Vec<_> = sites.iter().map(site_out).collect();
    Ok(HttpResponse::Ok().json(out))
}

/// How long `POST /v1/admin/rollup/run` waits for the Kafka group to lease this process some
/// buckets when it holds none (start-up, a rebalance).
pub const ROLLUP_RUN_LEASE_WAIT: Duration = Duration::from_secs(30);

/// `POST /v1/admin/rollup/run`: recompute now the dirty sessions this process owns (the job
/// also runs on a timer); answers `{"sessions", "events", "owned_buckets"}`: snippet sessions
/// recomputed, events read for them, and the buckets (of 1024) owned when the pass started.
/// With the Kafka log, a process with the rollup role first waits (at most
/// [`ROLLUP_RUN_LEASE_WAIT`]) until the group has leased it some buckets; a process without
/// the rollup role owns nothing there and recomputes nothing.
#[utoipa::path(post, path = "/v1/admin/rollup/run", tag = "admin", security(("bearer" = [])), responses((status = 200, description = "{sessions, events, owned_buckets}: snippet sessions recomputed, events read for them, buckets (of 1024) this process owned")))]
pub async fn rollup_run(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    require_token(&req, &state)?;
    if let rollup::job::Ownership::Leased(l) = &state.rollup {
        l.wait_owned(ROLLUP_RUN_LEASE_WAIT).await;
    }
    let owned_buckets = state.rollup.shard().bucket_count();
    let r = rollup::job::run_once(state.warehouse.as_ref(), &state.sites, state.rollup.clone(), true).await?;
    Ok(HttpResponse::Ok()
        .json(serde_json::json!({"sessions": r.sessions, "events": r.events, "owned_buckets": owned_buckets})))
}

#[derive(Deserialize)]
/// `?limit=` of list endpoints.
pub struct Limit {
    pub limit: Option<usize>,
}

/// `GET /v1/admin/deadletters?limit=100`.
#[utoipa::path(get, path = "/v1/admin/deadletters", tag = "admin", security(("bearer" = [])), params(("limit" = Option<usize>, Query, description = "at most this many, newest first (default 100)")), responses((status = 200, body = Vec<DeadLetter>)))]
pub async fn dead_letters(
    req: HttpRequest,
    q: web::Query<Limit>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_token(&req, &state)?;
    let v = crate::deadletters::read(
        state.log.as_ref(),
        state.warehouse.as_ref(),
        &Default::default(),
        q.limit.unwrap_or(100).min(10_000),
    )
    .await?;
    Ok(HttpResponse::Ok().json(v))
}

/// `?visitor=` of `/stats`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Count only this visitor's raw events (what Sightline holds on one person).
    pub visitor: Option<String>,
}

/// `GET /v1/sites/{key}/stats`: `{"events": distinct raw events, "rows": stored rows before
/// dedup}` (bots included), for operators and tests; with `?visitor=`, `{"events": n}` of
/// that visitor.
#[utoipa::path(get, path = "/v1/sites/{key}/stats", tag = "admin", security(("bearer" = [])), params(("key" = String, Path, description = "write key"), StatsQuery), responses((status = 200, description = "{events, rows}")))]
pub async fn site_stats(
    req: HttpRequest,
    key: web::Path<String>,
    q: web::Query<StatsQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_read(&req, &state, &key)?;
    state.site(&key)?;
    if let Some(v) = &q.visitor {
        let n = state.warehouse.count_visitor_events(&key, v).await?;
        return Ok(HttpResponse::Ok().json(serde_json::json!({"events": n})));
    }
    let n = state.warehouse.count_events(&key).await?;
    let rows = state.warehouse.count_rows(&key).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"events": n, "rows": rows})))
}

/// `POST /v1/sites/{key}/forget` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgetRequest {
    /// The visitor id the snippet assigned (`visitor_id` of the events).
    pub visitor: String,
}

/// `POST /v1/sites/{key}/forget` (admin): erase a visitor everywhere ([`crate::privacy`]);
/// answers the audit record once the events are gone and their days are queued for
/// recomputation.
#[utoipa::path(post, path = "/v1/sites/{key}/forget", tag = "admin", security(("bearer" = [])), request_body = ForgetRequest, responses((status = 200, body = ForgetRecord), (status = 400, description = "names the field"), (status = 404, description = "unknown site")))]
pub async fn forget(
    req: HttpRequest,
    key: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let who = require_scope(&req, &state, Scope::Admin, Some(&key))?;
    let r: ForgetRequest = json_body(&body, "expected {\"visitor\": \"…\"}")?;
    if r.visitor.is_empty() {
        return Err(ApiError::bad("visitor", "must not be empty"));
    }
    state.site(&key)?;
    let rec =
        crate::privacy::forget_visitor(state.log.as_ref(), state.warehouse.as_ref(), &key, &r.visitor, &who.id).await?;
    Ok(HttpResponse::Ok().json(rec))
}

/// `GET /v1/admin/forgets` (admin): the audit records of every erasure.
#[utoipa::path(get, path = "/v1/admin/forgets", tag = "admin", security(("bearer" = [])), responses((status = 200, body = Vec<ForgetRecord>)))]
pub async fn list_forgets(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    require_token(&req, &state)?;
    Ok(HttpResponse::Ok().json(state.warehouse.forgets().await?))
}

/// The HTTP contract of the OpenAPI document ([`crate::openapi::ApiDoc`]), read once: for
/// each path pattern, the methods it answers and, per method, the query parameters the
/// operation reads. The one table behind `405` with `Allow` ([`unrouted`]) and the refusal of
/// unknown query parameters ([`http_contract`]), so neither can drift from the routes
/// (`tests/docs.rs` checks that every registered route is in the document).
struct Contract(std::collections::HashMap<String, Vec<(Method, Operation)>>);

/// One operation of the [`Contract`].
struct Operation {
    /// The query parameters it reads.
    query: Vec<String>,
    /// Whether query parameters not in `query` are refused: operations of the query and admin
    /// API (tags `query`, `admin`). The snippet, ingest and operations routes ignore extra
    /// ones (a cache buster on `/s.js` must not cost the page its analytics).
    strict: bool,
}

/// Methods in the order `Allow` lists them.
const METHODS: [Method; 7] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

static CONTRACT: std::sync::LazyLock<Contract> = std::sync::LazyLock::new(Contract::from_openapi);

impl Contract {
    fn from_openapi() -> Contract {
        use utoipa::OpenApi;
        let doc = serde_json::to_value(crate::openapi::ApiDoc::openapi()).expect("the OpenAPI document is JSON");
        let mut paths = std::collections::HashMap::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            let mut ops = Vec::new();
            for m in METHODS {
                let Some(op) = item.get(m.as_str().to_ascii_lowercase()) else {
                    continue;
                };
                let query = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["in"] == "query")
                    .filter_map(|p| p["name"].as_str().map(str::to_string))
                    .collect();
                let strict = op["tags"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t == "query" || t == "admin"));
                ops.push((m, Operation { query, strict }));
            }
            paths.insert(path.clone(), ops);
        }
        Contract(paths)
    }

    /// The methods `pattern` answers, in [`METHODS`] order, `HEAD` wherever `GET` is. A
    /// registered pattern the document leaves out (the dashboard's redirects and static
    /// assets, see `tests/docs.rs`) answers `GET` and `HEAD`.
    fn allowed(&self, pattern: &str) -> Vec<Method> {
        let documented: Vec<_> = match self.0.get(pattern) {
            Some(ops) => ops.iter().map(|(m, _)| m.clone()).collect(),
            None => vec![Method::GET],
        };
        let get = documented.contains(&Method::GET);
        METHODS
            .into_iter()
            .filter(|m| documented.contains(m) || (get && *m == Method::HEAD))
            .collect()
    }

    fn operation(&self, pattern: &str, method: &Method) -> Option<&Operation> {
        self.0.get(pattern)?.iter().find(|(m, _)| m == method).map(|(_, op)| op)
    }
}

/// Marks a `HEAD` request that [`http_contract`] routes as `GET`.
#[derive(Clone, Copy)]
struct HeadRequest;

/// Middleware (`App::wrap(from_fn(http_contract))`, innermost) applying the [`Contract`]
/// before routing:
/// - `HEAD` is routed as `GET`, so every `GET` route answers `HEAD` with the same status and
///   headers; the HTTP layer sends no body for a `HEAD` request.
/// - A query or admin API operation refuses a query parameter it does not read: `400`
///   naming the parameter and listing the known ones (checked once for the whole request, so
///   a handler taking several `web::Query` extractors is judged by all of its parameters).
pub async fn http_contract(
    mut req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse, actix_web::Error> {
    use actix_web::HttpMessage;
    if req.method() == Method::HEAD {
        req.extensions_mut().insert(HeadRequest);
        req.head_mut().method = Method::GET;
    }
    if !req.query_string().is_empty() {
        if let Err(e) = check_query(&req) {
            return Ok(req.error_response(e));
        }
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// `400` for the first query parameter the request's operation does not read (strict
/// operations only, see [`Operation::strict`]).
fn check_query(req: &actix_web::dev::ServiceRequest) -> Result<(), ApiError> {
    let Some(pattern) = req.resource_map().match_pattern(req.path()) else {
        return Ok(());
    };
    let Some(op) = CONTRACT.operation(&pattern, req.method()).filter(|op| op.strict) else {
        return Ok(());
    };
    for (name, _) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        if !op.query.iter().any(|q| *q == name) {
            let known = if op.query.is_empty() {
                "none".to_string()
            } else {
                op.query.join(", ")
            };
            return Err(ApiError::bad(
                &name,
                &format!("unknown query parameter of {} {pattern}; known: {known}", req.method()),
            ));
        }
    }
    Ok(())
}

/// The default service, for a request no route took: `405` with `Allow` when some route
/// serves the path with other methods (the body names the method), else a JSON `404`
/// naming the path.
async fn unrouted(req: HttpRequest) -> HttpResponse {
    use actix_web::HttpMessage;
    let method = if req.extensions().contains::<HeadRequest>() {
        Method::HEAD
    } else {
        req.method().clone()
    };
    if let Some(pattern) = req.resource_map().match_pattern(req.path()) {
        let allowed = CONTRACT.allowed(&pattern);
        // A method the document lists but no route took is served by another role's process.
        if !allowed.contains(&method) {
            let allow = allowed.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ");
            let mut r = ApiError {
                status: StatusCode::METHOD_NOT_ALLOWED,
                field: "method".into(),
                reason: format!("{method} is not allowed on {}; allowed: {allow}", req.path()),
            }
            .error_response();
            if let Ok(v) = header::HeaderValue::from_str(&allow) {
                r.headers_mut().insert(header::ALLOW, v);
            }
            return r;
        }
    }
    HttpResponse::NotFound().json(serde_json::json!({
        "error": "not_found",
        "field": "path",
        "reason": format!("no {method} {} here (see /v1/openapi.json; this process runs only some roles?)", req.path()),
    }))
}

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
pub async fn metrics_text() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics::render())
}

/// Which stages this process runs (`--roles`). Several processes with different roles
/// share the work through the log's consumer groups and the warehouse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    /// `POST /v1/events`, the snippet and its config.
    pub ingest: bool,
    /// The log → warehouse sink.
    pub sink: bool,
    /// The rollup job.
    pub rollup: bool,
    /// The query and admin API.
    pub query: bool,
}

impl std::fmt::Display for Roles {
    /// `ingest,sink,rollup,query` (the roles this process runs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let on: Vec<&str> = [
            (self.ingest, "ingest"),
            (self.sink, "sink"),
            (self.rollup, "rollup"),
            (self.query, "query"),
        ]
        .iter()
        .filter(|(b, _)| *b)
        .map(|(_, n)| *n)
        .collect();
        f.write_str(&on.join(","))
    }
}

impl Roles {
    /// Every stage.
    pub const ALL: Roles = Roles {
        ingest: true,
        sink: true,
        rollup: true,
        query: true,
    };
    const NONE: Roles = Roles {
        ingest: false,
        sink: false,
        rollup: false,
        query: false,
    };

    /// Parse `all` or a comma-separated list of `ingest`, `sink`, `rollup`, `query`.
    pub fn parse(s: &str) -> Result<Roles, String> {
        let mut r = Roles::NONE;
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "all" => r = Roles::ALL,
                "ingest" => r.ingest = true,
                "sink" => r.sink = true,
                "rollup" => r.rollup = true,
                "query" => r.query = true,
                other => return Err(format!("unknown role {other:?}; use all or ingest,sink,rollup,query")),
            }
        }
        if r == Roles::NONE {
            return Err("no role given".into());
        }
        Ok(r)
    }
}

/// Register the routes of `roles` on an actix `App`; health, readiness and metrics always.
pub fn routes(roles: Roles) -> impl Fn(&mut web::ServiceConfig) + Clone {
    move |cfg: &mut web::ServiceConfig| {
        if roles.ingest {
            cfg.route("/v1/events", web::post().to(ingest::events))
                .route(
                    "/v1/events",
                    web::method(actix_web::http::Method::OPTIONS).to(ingest::preflight),
                )
                .route("/s.js", web::get().to(ingest::snippet))
                .route("/s/widgets.js", web::get().to(ingest::widgets))
                .route("/s/overlay.js", web::get().to(crate::dashboard::overlay_js))
                .route("/v1/sites/{key}/config", web::get().to(ingest::site_config))
                .route("/v1/sites/{key}/import", web::post().to(ingest::import));
            // posthog-js and Segment analytics.js routes (docs/compat.md).
            ingest::compat::routes(cfg);
        }
        if roles.query {
            crate::dashboard::routes(cfg);
            cfg.route("/v1/sites", web::post().to(create_site))
                .route("/v1/sites", web::get().to(list_sites))
                .route("/v1/sites/{key}", web::get().to(get_site))
                .route("/v1/sites/{key}", web::patch().to(patch_site))
                .route(
                    "/v1/sites/{key}",
                    web::delete().to(crate::site_admin::delete_site_handler),
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
                .route("/v1/sites/{key}/journeys", web::get().to(query::journeys))
                .route("/v1/sites/{key}/pages", web::get().to(query::pages))
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
            .route("/v1/openapi.json", web::get().to(crate::openapi::openapi_json))
            .route("/favicon.ico", web::get().to(favicon));
    }
}

/// Parse `--rollup-shard`: `INDEX/COUNT`, 0 ≤ INDEX < COUNT ≤ [`crate::warehouse::BUCKETS`]
/// (buckets `b` with `b % COUNT == INDEX`, [`crate::warehouse::Shard::fixed`]).
pub fn parse_shard(s: &str) -> Result<crate::warehouse::Shard, String> {
    let bad = || {
        format!(
            "{s:?}: give INDEX/COUNT with 0 <= INDEX < COUNT <= {}",
            crate::warehouse::BUCKETS
        )
    };
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (index, count): (u32, u32) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if count == 0 || index >= count || count > crate::warehouse::BUCKETS {
        return Err(bad());
    }
    Ok(crate::warehouse::Shard::fixed(index, count))
}

/// Settings of `sightline serve`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: String,
    pub data_dir: PathBuf,
    /// From `SIGHTLINE_API_TOKEN`; `None` → read or create `<data-dir>/api-token`.
    pub api_token: Option<String>,
    pub limits: Limits,
    /// How often the rollup job looks for dirty sessions.
    pub rollup_every: Duration,
    /// This process's share of the rollup work with the embedded log (`--rollup-shard`). With
    /// the Kafka log the share is leased from the group ([`crate::rollup::leases`]) and
    /// anything but [`crate::warehouse::Shard::ALL`] is refused at start-up.
    pub rollup_shard: crate::warehouse::Shard,
    /// Stages this process runs.
    pub roles: Roles,
    /// Ingest quotas and overload limits.
    pub quotas: QuotaConfig,
}

/// Every minute, forget quota keys (client IPs, sites) that went idle: bounded memory.
fn tasks_quota_sweep(quotas: &Arc<Quotas>) {
    let quotas = quotas.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            quotas.sweep();
        }
    });
}

/// The API token: the configured one, else `<data-dir>/api-token`, created on first start.
pub fn api_token(data_dir: &Path, configured: Option<String>) -> anyhow::Result<String> {
    if let Some(t) = configured.filter(|t| !t.is_empty()) {
        return Ok(t);
    }
    let path = data_dir.join("api-token");
    if let Ok(t) = std::fs::read_to_string(&path) {
        if !t.trim().is_empty() {
            return Ok(t.trim().to_string());
        }
    }
    std::fs::create_dir_all(data_dir)?;
    let bytes: [u8; 24] = rand::random();
    let token = hex::encode(bytes);
    std::fs::write(&path, &token)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    eprintln!(
        "sightline: created an API token in {} (use it as `Authorization: Bearer <token>`)",
        path.display()
    );
    Ok(token)
}

/// The log and warehouse this process uses, and the log's name for metric labels.
pub struct Backends {
    pub log: Arc<dyn Log>,
    pub warehouse: Arc<dyn Warehouse>,
    pub log_backend: &'static str,
    /// The Kafka log's settings (`None`: the embedded log); the rollup role leases its buckets
    /// from a consumer group on these brokers.
    pub kafka: Option<KafkaConfig>,
}

/// Where the warehouse lives: the flags of the commands that open only the warehouse (`site`,
/// `token`, `survey`, `rollup`, `retention`). Unset ClickHouse URL → the embedded SQLite
/// warehouse in `data_dir`.
#[derive(Debug, Clone, clap::Args)]
pub struct WarehouseArgs {
    /// The data directory: the embedded warehouse and log, the API token, the Kafka id index.
    #[arg(long, env = "SIGHTLINE_DATA_DIR", default_value = "./sightline-data", global = true)]
    pub data_dir: PathBuf,
    /// ClickHouse HTTP URL (`http://host:8123`); selects the ClickHouse warehouse.
    #[arg(long, env = "SIGHTLINE_CLICKHOUSE_URL", global = true)]
    pub clickhouse_url: Option<String>,
    /// ClickHouse database (created if missing).
    #[arg(
        long,
        env = "SIGHTLINE_CLICKHOUSE_DATABASE",
        default_value = "sightline",
        global = true
    )]
    pub clickhouse_database: String,
}

/// Where the log and the warehouse live ([`WarehouseArgs`] and the Kafka flags): the flags
/// of the commands that open the log too (`serve`, `gdpr`, `deadletter`). Unset Kafka
/// brokers → the embedded log in `data_dir`. Derefs to its [`WarehouseArgs`].
#[derive(Debug, Clone, clap::Args)]
pub struct BackendArgs {
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    /// Kafka bootstrap brokers (`host:port,…`); selects the Kafka log.
    #[arg(long, env = "SIGHTLINE_KAFKA_BROKERS", global = true)]
    pub kafka_brokers: Option<String>,
    /// Kafka topic prefix: topics `<prefix>.events` and `<prefix>.deadletter`.
    #[arg(
        long,
        env = "SIGHTLINE_KAFKA_TOPIC_PREFIX",
        default_value = "sightline",
        global = true
    )]
    pub kafka_topic_prefix: String,
    /// Partitions of `<prefix>.events` when Sightline creates it.
    #[arg(long, env = "SIGHTLINE_KAFKA_PARTITIONS", default_value_t = 6, global = true)]
    pub kafka_partitions: i32,
    /// Replication factor of the topics Sightline creates.
    #[arg(long, env = "SIGHTLINE_KAFKA_REPLICATION", default_value_t = 1, global = true)]
    pub kafka_replication: i32,
    /// Kafka idempotent producer (`enable.idempotence`). Keep it on with Apache Kafka; Tansu
    /// 0.6 breaks when an idempotent producer times out, so its tests turn it off.
    #[arg(long, env = "SIGHTLINE_KAFKA_IDEMPOTENCE", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub kafka_idempotence: bool,
}

impl std::ops::Deref for BackendArgs {
    type Target = WarehouseArgs;
    fn deref(&self) -> &WarehouseArgs {
        &self.warehouse
    }
}

/// Connect the warehouse selected by `args`.
pub async fn connect_warehouse(args: &WarehouseArgs) -> anyhow::Result<Arc<dyn Warehouse>> {
    Ok(match &args.clickhouse_url {
        Some(url) => ClickHouseWarehouse::connect(url, &args.clickhouse_database).await?,
        None => SqliteWarehouse::open(&args.data_dir)?,
    })
}

/// Connect the log and warehouse selected by `args`. `limits` bounds the Kafka producer's
/// wait so that it answers before ingest's own timeout.
pub async fn connect_backends(args: &BackendArgs, limits: &Limits) -> anyhow::Result<Backends> {
    let warehouse = connect_warehouse(args).await?;
    let mut kafka = None;
    let (log, log_backend): (Arc<dyn Log>, &'static str) = match &args.kafka_brokers {
        Some(brokers) => {
            let cfg = KafkaConfig {
                brokers: brokers.clone(),
                topic_prefix: args.kafka_topic_prefix.clone(),
                partitions: args.kafka_partitions,
                replication: args.kafka_replication,
                data_dir: args.data_dir.clone(),
                idempotence: args.kafka_idempotence,
                produce_timeout_ms: (limits.append_timeout.as_millis() as u64)
                    .saturating_sub(2000)
                    .max(1000),
                ..KafkaConfig::default()
            };
            kafka = Some(cfg.clone());
            (KafkaLog::connect(cfg).await?, "kafka")
        }
        None => (EmbeddedLog::open(&args.data_dir)?, "embedded"),
    };
    Ok(Backends {
        log,
        warehouse,
        log_backend,
        kafka,
    })
}

/// Run the stages of `cfg.roles` in this process until SIGINT/SIGTERM.
pub async fn serve(cfg: ServeConfig, backends: Backends) -> anyhow::Result<()> {
    let token = api_token(&cfg.data_dir, cfg.api_token.clone())?;
    let Backends {
        log,
        warehouse,
        log_backend,
        kafka,
    } = backends;
    if kafka.is_some() && cfg.rollup_shard != crate::warehouse::Shard::ALL {
        anyhow::bail!(
            "--rollup-shard {} is for the embedded log: with Kafka the rollup processes lease their \
             session buckets from the consumer group {} (leave --rollup-shard at 0/1)",
            cfg.rollup_shard,
            kafka.as_ref().map(KafkaConfig::rollup_group).unwrap_or_default()
        );
    }
    let tokens = Arc::new(Tokens::new(token));
    tokens.refresh(warehouse.as_ref()).await?;
    let sites = Arc::new(SiteCache::default());
    sites.replace(warehouse.sites().await?);
    let _ = &*METRICS;
    metrics::init_backend(log_backend);
    if log_backend == "kafka" {
        metrics::set_producer_queue_capacity(crate::log::kafka::QUEUE_MAX_MESSAGES);
    }

    // What the rollup job (and `POST /v1/admin/rollup/run`) of this process takes.
    let leases = match (&kafka, cfg.roles.rollup) {
        (Some(k), true) => Some(rollup::leases::Leases::join(k).await?),
        _ => None,
    };
    let rollup_owner = match (&leases, &kafka) {
        (Some(l), _) => rollup::job::Ownership::Leased(l.clone()),
        (None, Some(_)) => rollup::job::Ownership::Fixed(crate::warehouse::Shard::NONE),
        (None, None) => rollup::job::Ownership::Fixed(cfg.rollup_shard.clone()),
    };
    if leases.is_none() {
        let owned = if cfg.roles.rollup {
            rollup_owner.shard().bucket_count()
        } else {
            0
        };
        METRICS.rollup_owned_buckets.set(i64::from(owned));
    }

    let state = web::Data::new(AppState {
        log: log.clone(),
        warehouse: warehouse.clone(),
        sites: sites.clone(),
        tokens: tokens.clone(),
        limits: cfg.limits,
        log_backend,
        quotas: Arc::new(Quotas::new(cfg.quotas.clone())),
        rollup: rollup_owner.clone(),
    });
    tasks_quota_sweep(&state.quotas);

    let mut tasks = Vec::new();
    let sink_task = if cfg.roles.sink {
        Some(tokio::spawn(sink::run(
            log.clone(),
            warehouse.clone(),
            SinkConfig::default(),
        )))
    } else {
        None
    };
    if cfg.roles.rollup {
        tasks.push(tokio::spawn(rollup::job::run(
            warehouse.clone(),
            sites.clone(),
            cfg.rollup_every,
            rollup_owner.clone(),
        )));
    }
    tasks.push(tokio::spawn({
        let (warehouse, sites, tokens) = (warehouse.clone(), sites.clone(), tokens.clone());
        async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                match warehouse.sites().await {
                    Ok(s) => sites.replace(s),
                    Err(e) => tracing::warn!(error = %e, "could not refresh sites"),
                }
                if let Err(e) = tokens.refresh(warehouse.as_ref()).await {
                    tracing::warn!(error = %e, "could not refresh API tokens");
                }
            }
        }
    }));

    let roles = cfg.roles;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            // A query string that does not fit a handler's parameters (a repeated one) is a
            // house-format `400`, like every other refusal.
            .app_data(web::QueryConfig::default().error_handler(|e, _| ApiError::bad("query", &e.to_string()).into()))
            .wrap(actix_web::middleware::from_fn(http_contract))
            .wrap(actix_web::middleware::from_fn(metrics::http_middleware))
            // Security headers on every answer (the dashboard adds its own CSP).
            .wrap(
                actix_web::middleware::DefaultHeaders::new()
                    .add(("X-Content-Type-Options", "nosniff"))
                    .add(("Referrer-Policy", "no-referrer"))
                    .add(("X-Frame-Options", "DENY")),
            )
            .configure(routes(roles))
            .default_service(web::to(unrouted))
    })
    .bind(&cfg.listen)?
    .shutdown_timeout(5)
    .run();
    tracing::info!(listen = %cfg.listen, data_dir = %cfg.data_dir.display(), log = log_backend, roles = ?roles, "sightline serving");
    eprintln!(
        "sightline: listening on http://{} ({log_backend} log, data dir {}, roles {})",
        cfg.listen,
        cfg.data_dir.display(),
        roles
    );
    let result = match sink_task {
        Some(sink_task) => tokio::select! {
            r = server => r.map_err(anyhow::Error::from),
            r = sink_task => Err(anyhow::anyhow!("sink stopped: {:?}", r)),
        },
        None => server.await.map_err(anyhow::Error::from),
    };
    for t in tasks {
        t.abort();
    }
    // Leave the rollup group now, so the others take this process's buckets at once.
    if let Some(l) = &leases {
        l.shutdown(Duration::from_secs(10)).await;
    }
    // Flush what the producer still holds (bounded) before exiting.
    log.shutdown().await;
    result
}
