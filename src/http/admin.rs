//! The admin API: sites, tokens, erasure, site stats, dead letters, rollup runs.

use super::{from_json, json_body, require_admin, require_read, require_scope, require_token, ApiError, AppState};
use crate::access::{self, Scope, TokenInfo};
use crate::log::DeadLetter;
use crate::privacy::ForgetRecord;
use crate::rollup;
use crate::sites::{new_key, Site, SiteSettings};
use crate::warehouse::Warehouse;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use std::time::Duration;

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
    // The goal is kept with its pages as page keys, as a query's funnel steps are read
    // (a URL keyed with the site's rules, a page key in its canonical form).
    let mut settings = n.settings;
    if let Some(Ok(goal)) = settings.rules.goal.as_deref().map(crate::model::goal::Goal::parse) {
        let rules = &settings.page_keys;
        settings.rules.goal = Some(
            goal.map_pages(|p| crate::event::enrich::named_page_key(p, rules))
                .to_setting(),
        );
    }
    let key = n.key.unwrap_or_else(new_key);
    if key.is_empty() || key.len() > 128 || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(ApiError::bad("key", "1..128 characters of A-Z a-z 0-9 _ -"));
    }
    Ok(Site {
        key,
        name: n.name,
        origins: n.origins,
        settings,
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
/// computed are not touched (run `sightline rollup rebuild` to recompute history), except
/// when the site's time zone (`settings.rules.time_zone`) changes (its days change,
/// [`crate::model::days`]) or its goal (`settings.rules.goal`: the goal part and zone
/// conversions): then every session of the site is marked dirty and the rollup job
/// recomputes them. Until it has caught up, `/problems` computes the goal's figures from
/// the session rows ([`crate::rollup::impact::read_goal_rows`]).
///
/// `cache` (a server's site cache) gets the new site before its sessions are marked, so
/// this process's rollup job never recomputes them under the old rules; other processes
/// notice the change when they refresh their cache ([`crate::app::refresh_sites_and_tokens`]).
pub async fn update_site(
    warehouse: &dyn Warehouse,
    cache: Option<&crate::sites::SiteCache>,
    key: &str,
    patch: SitePatch,
) -> Result<Site, ApiError> {
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
    if let Some(c) = cache {
        c.put(site.clone());
    }
    let (new, old) = (&site.settings.rules, &cur.settings.rules);
    if new.recomputes_from(old) {
        let n = warehouse
            .mark_dirty(&site.key, 0, crate::warehouse::ALL_DAYS_END)
            .await?;
        tracing::info!(site = %site.key, sessions = n, time_zone = %new.time_zone, goal = ?new.goal, "time zone or goal changed: sessions marked for recompute");
    }
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

/// `GET /v1/sites/{key}` (read scope on that site): one site with its settings, which the
/// dashboard reads for the site's origins (the heatmap frame) and goal (impact ranking).
#[utoipa::path(get, path = "/v1/sites/{key}", tag = "admin", security(("bearer" = [])), responses((status = 200, description = "The site"), (status = 403, description = "the token may not read this site"), (status = 404, description = "unknown key")))]
pub async fn get_site(
    req: HttpRequest,
    key: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_read(&req, &state, &key)?;
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
    state.known_site(&key).await?;
    let patch: SitePatch = json_body(&body, "expected {\"name\"?, \"origins\"?, \"settings\"?}")?;
    let site = update_site(state.warehouse.as_ref(), Some(&state.sites), &key, patch).await?;
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

/// `GET /v1/sites` (any valid token): the sites the token may read, sorted by name: every
/// site for an unrestricted token, its own sites for a token limited to some.
#[utoipa::path(get, path = "/v1/sites", tag = "admin", security(("bearer" = [])), responses((status = 200, description = "The sites this token may read")))]
pub async fn list_sites(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let who = require_scope(&req, &state, Scope::Read, None)?;
    let sites = state.sites.all();
    let mine = |s: &&Site| who.sites.is_empty() || who.sites.iter().any(|k| *k == s.key);
    let out: Vec<_> = sites.iter().filter(mine).map(site_out).collect();
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
    let r = rollup::job::run_once_on(
        state.clock.as_ref(),
        state.warehouse.as_ref(),
        &state.sites,
        state.rollup.clone(),
        true,
    )
    .await?;
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
    state.known_site(&key).await?;
    let r: ForgetRequest = json_body(&body, "expected {\"visitor\": \"…\"}")?;
    if r.visitor.is_empty() {
        return Err(ApiError::bad("visitor", "must not be empty"));
    }
    let rec = crate::privacy::forget_visitor(
        state.clock.as_ref(),
        state.log.as_ref(),
        state.warehouse.as_ref(),
        &key,
        &r.visitor,
        &who.id,
    )
    .await?;
    Ok(HttpResponse::Ok().json(rec))
}

/// `GET /v1/admin/forgets` (admin): the audit records of every erasure.
#[utoipa::path(get, path = "/v1/admin/forgets", tag = "admin", security(("bearer" = [])), responses((status = 200, body = Vec<ForgetRecord>)))]
pub async fn list_forgets(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    require_token(&req, &state)?;
    Ok(HttpResponse::Ok().json(state.warehouse.forgets().await?))
}
