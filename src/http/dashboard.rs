//! The PM dashboard (issue 8) and the live heatmap overlay.
//!
//! - `GET /` redirects to `GET /dashboard/`: a single page (`dashboard/index.html`, `app.js`,
//!   `app.css`, Apache ECharts in `dashboard/vendor/`), embedded in the binary, so `serve`
//!   needs no front-end build. The shell loads without a token and shows only the sign-in;
//!   every number comes from the query API with the pasted token as `Authorization: Bearer`.
//!   Answers carry a Content-Security-Policy: scripts, styles, fetches only from this origin,
//!   frames only from the sites' origins (the heatmap view frames the site's page), and the
//!   dashboard itself cannot be framed.
//! - **Overlay grants.** `POST /v1/sites/{key}/overlay` (`read` scope) signs a short-lived grant
//!   for one page of one site: `base64url(payload) "." base64url(HMAC-SHA256(key, payload))`,
//!   the payload being JSON `{"v": 1, "site", "page" (page key), "exp" (ms), "from", "to",
//!   "device"}` and the key derived from the root token ([`crate::access::Tokens::derived_key`]).
//!   The answer's `link` is the page's URL with `#sightline-overlay=<grant>`. Opened in a
//!   browser, the snippet sees the fragment, stops collecting (the viewer is not a visitor)
//!   and loads `GET /s/overlay.js`, which asks the public `GET /v1/overlay?grant=` for the
//!   heatmap and zones of exactly that site and page and draws them on the live page.

use crate::event::DeviceClass;
use crate::http::query::{day_name, filter_days, heatmap_data, page_param, parse_time, zones_data, Filters, PageParam};
use crate::http::{require_read, ApiError, AppState};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The dashboard page.
pub const INDEX_HTML: &str = include_str!("../../dashboard/index.html");
/// The dashboard's code (plain JS, no build step).
pub const APP_JS: &str = include_str!("../../dashboard/app.js");
/// The dashboard's styles.
pub const APP_CSS: &str = include_str!("../../dashboard/app.css");
/// Apache ECharts `dist/echarts.min.js`, vendored from npm (version in `dashboard/README.md`).
pub const ECHARTS_JS: &str = include_str!("../../dashboard/vendor/echarts.min.js");
/// rrweb-player's UMD build, vendored from npm (`snippet/replay/build.mjs`; version in
/// `dashboard/README.md`): the session-replay player, loaded by the replay view only.
pub const RRWEB_PLAYER_JS: &str = include_str!("../../dashboard/vendor/rrweb-player/rrweb-player.js");
/// The overlay drawn on the live page, loaded by the snippet only with an overlay grant.
pub const OVERLAY_JS: &str = include_str!("../../snippet/overlay.js");

/// Purpose string of the key overlay grants are signed with.
const GRANT_KEY_PURPOSE: &str = "sightline overlay grant v1";
/// Default and largest lifetime of an overlay grant, s.
pub const GRANT_TTL_DEFAULT_S: i64 = 3_600;
pub const GRANT_TTL_MAX_S: i64 = 86_400;
/// Name of the URL fragment (or query) parameter that carries a grant to the snippet.
pub const OVERLAY_PARAM: &str = "sightline-overlay";

/// `Content-Security-Policy` of the dashboard: only this origin, plus the sites' origins as
/// frame sources (a `*` origin is not framable from the dashboard).
fn csp(state: &AppState) -> String {
    let mut frames: Vec<String> = state
        .sites
        .all()
        .iter()
        .flat_map(|s| s.origins.iter())
        .filter(|o| o.as_str() != "*")
        .map(|o| o.trim_end_matches('/').to_string())
        .collect();
    frames.sort();
    frames.dedup();
    let frame_src = if frames.is_empty() {
        "'none'".to_string()
    } else {
        frames.join(" ")
    };
    // A replay rebuilds the site's page inside the player: its images, fonts and stylesheets
    // load from the site's origins (never its scripts: rrweb replays none).
    let sites = frames.join(" ");
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline' {sites}; img-src 'self' data: blob: {sites}; \
         connect-src 'self'; font-src 'self' data: {sites}; frame-src {frame_src}; frame-ancestors 'none'; base-uri 'none'; \
         form-action 'self'"
    )
}

fn page(body: &'static str, content_type: &str, state: &AppState) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CONTENT_SECURITY_POLICY, csp(state)))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("Cross-Origin-Opener-Policy", "same-origin"))
        .body(body)
}

/// `GET /` and `GET /dashboard`: redirect to the dashboard.
pub async fn to_dashboard() -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, "/dashboard/"))
        .finish()
}

/// `GET /dashboard/`: the dashboard shell (shows the sign-in until a token is given).
#[utoipa::path(get, path = "/dashboard/", tag = "dashboard", responses((status = 200, description = "The dashboard page (HTML)", content_type = "text/html")))]
pub async fn index(state: web::Data<AppState>) -> HttpResponse {
    page(INDEX_HTML, "text/html; charset=utf-8", &state)
}

/// `GET /dashboard/{asset}`: `app.js`, `app.css`, `vendor/echarts.min.js`, `vendor/LICENSE`,
/// `vendor/rrweb-player/` (`rrweb-player.js`, `style.css`, `LICENSE`).
pub async fn asset(path: web::Path<String>, state: web::Data<AppState>) -> HttpResponse {
    let (body, ct) = match path.as_str() {
        "" | "index.html" => (INDEX_HTML, "text/html; charset=utf-8"),
        "app.js" => (APP_JS, "application/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        "vendor/echarts.min.js" => (ECHARTS_JS, "application/javascript; charset=utf-8"),
        "vendor/LICENSE" => (
            include_str!("../../dashboard/vendor/LICENSE"),
            "text/plain; charset=utf-8",
        ),
        "vendor/rrweb-player/rrweb-player.js" => (RRWEB_PLAYER_JS, "application/javascript; charset=utf-8"),
        "vendor/rrweb-player/style.css" => (
            include_str!("../../dashboard/vendor/rrweb-player/style.css"),
            "text/css; charset=utf-8",
        ),
        "vendor/rrweb-player/LICENSE" => (
            include_str!("../../dashboard/vendor/rrweb-player/LICENSE"),
            "text/plain; charset=utf-8",
        ),
        "vendor/NOTICE" => (
            include_str!("../../dashboard/vendor/NOTICE"),
            "text/plain; charset=utf-8",
        ),
        _ => {
            return HttpResponse::NotFound().json(serde_json::json!({
                "error": "not_found", "field": "path", "reason": format!("no dashboard asset {path}"),
            }))
        }
    };
    page(body, ct, &state)
}

/// `GET /s/overlay.js`: the live heatmap overlay, loaded lazily by `/s.js` when the page's URL
/// carries `#sightline-overlay=<grant>` (or `?sightline-overlay=`).
#[utoipa::path(get, path = "/s/overlay.js", tag = "ingest", responses((status = 200, description = "The heatmap overlay", content_type = "application/javascript")))]
pub async fn overlay_js() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/javascript; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .body(OVERLAY_JS)
}

/// What an overlay grant allows: the heatmap of one page of one site, until `exp`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    /// Format version (1).
    pub v: u8,
    /// Site write key.
    pub site: String,
    /// Page key (a URL keyed with the site's rules).
    pub page: String,
    /// Expiry, ms since epoch.
    pub exp: i64,
    /// Date range and device class of the data shown (as in the query API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

fn mac(state: &AppState) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(&state.tokens.derived_key(GRANT_KEY_PURPOSE)).expect("any key length")
}

/// Sign a grant: `base64url(JSON) "." base64url(HMAC-SHA256)`.
pub fn sign(state: &AppState, g: &Grant) -> String {
    let payload = B64.encode(serde_json::to_vec(g).expect("grant to JSON"));
    let mut m = mac(state);
    m.update(payload.as_bytes());
    format!("{payload}.{}", B64.encode(m.finalize().into_bytes()))
}

/// Check a grant's signature (constant time) and expiry at `now` (ms): `401` naming `grant`
/// when it is malformed, forged or expired.
pub fn verify(state: &AppState, grant: &str, now: i64) -> Result<Grant, ApiError> {
    let bad = |reason: &str| ApiError {
        status: StatusCode::UNAUTHORIZED,
        field: "grant".into(),
        reason: reason.into(),
    };
    let (payload, sig) = grant.split_once('.').ok_or_else(|| bad("malformed"))?;
    let sig = B64.decode(sig).map_err(|_| bad("malformed"))?;
    let mut m = mac(state);
    m.update(payload.as_bytes());
    m.verify_slice(&sig).map_err(|_| bad("bad signature"))?;
    let g: Grant = B64
        .decode(payload)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| bad("malformed"))?;
    if g.v != 1 {
        return Err(bad("unknown version"));
    }
    if g.exp <= now {
        return Err(bad("expired"));
    }
    Ok(g)
}

/// `POST /v1/sites/{key}/overlay` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverlayRequest {
    /// The page: a full `http(s)` URL on one of the site's origins.
    pub url: String,
    /// Date range and device class of the data shown (as in the query API; default the last
    /// 30 days, every device class).
    pub from: Option<String>,
    pub to: Option<String>,
    pub device: Option<String>,
    /// Lifetime in s, 1..86400 (default 3600).
    pub ttl_s: Option<i64>,
}

/// `POST /v1/sites/{key}/overlay` (`read` scope): a signed, short-lived overlay grant for one
/// page and the link that opens the page with the heatmap drawn on it.
#[utoipa::path(post, path = "/v1/sites/{key}/overlay", tag = "dashboard", security(("bearer" = [])), request_body = OverlayRequest, params(("key" = String, Path, description = "write key")), responses((status = 201, description = "{grant, page (page key), url, link (url#sightline-overlay=grant), expires_at (ms)}"), (status = 400, description = "names the field"), (status = 401), (status = 403), (status = 404)))]
pub async fn create_grant(
    req: HttpRequest,
    key: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_read(&req, &state, &key)?;
    let site = state.site(&key)?;
    let r: OverlayRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad(
            "body",
            &format!("expected {{\"url\", \"from\"?, \"to\"?, \"device\"?, \"ttl_s\"?}}: {e}"),
        )
    })?;
    let u = url::Url::parse(&r.url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| ApiError::bad("url", "must be a full http(s) URL of the page"))?;
    let origin = u.origin().ascii_serialization();
    if !site
        .origins
        .iter()
        .any(|o| o == "*" || o.trim_end_matches('/').eq_ignore_ascii_case(&origin))
    {
        return Err(ApiError::bad("url", "must be on one of the site's origins"));
    }
    for (field, v) in [("from", &r.from), ("to", &r.to)] {
        if let Some(v) = v {
            parse_time(field, v, chrono_tz::UTC)?;
        }
    }
    if let Some(d) = &r.device {
        DeviceClass::parse(d)
            .filter(|d| *d != DeviceClass::Unknown)
            .ok_or_else(|| ApiError::bad("device", "must be desktop, tablet or mobile"))?;
    }
    let ttl = r.ttl_s.unwrap_or(GRANT_TTL_DEFAULT_S);
    if !(1..=GRANT_TTL_MAX_S).contains(&ttl) {
        return Err(ApiError::bad("ttl_s", "must be 1..86400 (s)"));
    }
    let g = Grant {
        v: 1,
        site: site.key.clone(),
        page: page_param(&r.url, &site),
        exp: state.clock.now_ms() + ttl * 1000,
        from: r.from,
        to: r.to,
        device: r.device,
    };
    let grant = sign(&state, &g);
    let mut link = u.clone();
    link.set_fragment(Some(&format!("{OVERLAY_PARAM}={grant}")));
    Ok(HttpResponse::Created().json(serde_json::json!({
        "grant": grant, "page": g.page, "url": r.url, "link": link.as_str(), "expires_at": g.exp,
    })))
}

/// `GET /v1/overlay?grant=` query.
#[derive(Debug, Deserialize)]
pub struct GrantQuery {
    pub grant: Option<String>,
}

/// `GET /v1/overlay?grant=` (public; the grant is the credential): the heatmap
/// (`GET …/heatmap`), zones (`GET …/zones`) and zone rules of exactly the grant's site and
/// page. `401` (field `grant`) for a missing, forged or expired grant; `403` (field `origin`)
/// when a browser asks from an origin that is not the site's.
#[utoipa::path(get, path = "/v1/overlay", tag = "dashboard", params(("grant" = String, Query, description = "from POST /v1/sites/{key}/overlay")), responses((status = 200, description = "{site, page, expires_at, from, to, device, days: {first, last} (YYYY-MM-DD, the range with its defaults filled in), heatmap, zones, zone_rules}"), (status = 401, description = "grant missing, forged or expired"), (status = 403)))]
pub async fn overlay_data(
    req: HttpRequest,
    q: web::Query<GrantQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let cors = |mut r: HttpResponse| {
        r.headers_mut().insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            header::HeaderValue::from_static("*"),
        );
        r
    };
    let run = async {
        let grant = q.grant.as_deref().filter(|g| !g.is_empty()).ok_or(ApiError {
            status: StatusCode::UNAUTHORIZED,
            field: "grant".into(),
            reason: "missing (an overlay grant from POST /v1/sites/{key}/overlay)".into(),
        })?;
        let g = verify(&state, grant, state.clock.now_ms())?;
        let site = state
            .sites
            .get(&g.site)
            .ok_or_else(|| ApiError::not_found("site", "the grant's site no longer exists"))?;
        if let Some(o) = req.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
            let ok = site
                .origins
                .iter()
                .any(|s| s == "*" || s.trim_end_matches('/').eq_ignore_ascii_case(o));
            if !ok {
                return Err(ApiError {
                    status: StatusCode::FORBIDDEN,
                    field: "origin".into(),
                    reason: "the overlay is shown only on the site's own origins".into(),
                });
            }
        }
        let f = Filters {
            from: g.from.clone(),
            to: g.to.clone(),
            device: g.device.clone(),
            ..Filters::default()
        };
        let p = PageParam {
            url: Some(g.page.clone()),
            ..PageParam::default()
        };
        let tz = site.settings.rules.time_zone;
        let (first_day, end_day) = filter_days(&f, state.clock.now_ms(), tz)?;
        let heatmap = heatmap_data(&state, &g.site, &f, &p).await?;
        let zones = zones_data(&state, &g.site, &f, &p).await?;
        Ok::<_, ApiError>(serde_json::json!({
            "site": g.site, "page": g.page, "expires_at": g.exp,
            "from": g.from, "to": g.to, "device": g.device,
            // The days the range covers, as the query API reads it (defaults filled in).
            "days": {"first": day_name(first_day, tz), "last": day_name(end_day - 1, tz)},
            "heatmap": heatmap, "zones": zones, "zone_rules": site.settings.zones,
        }))
    };
    Ok(match run.await {
        Ok(v) => cors(HttpResponse::Ok().json(v)),
        Err(e) => cors(actix_web::ResponseError::error_response(&e)),
    })
}

/// Register the dashboard routes (query role) on an actix `App`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(to_dashboard))
        .route("/dashboard", web::get().to(to_dashboard))
        .route("/dashboard/", web::get().to(index))
        .route("/dashboard/{asset:.*}", web::get().to(asset))
        .route("/v1/sites/{key}/overlay", web::post().to(create_grant))
        .route("/v1/overlay", web::get().to(overlay_data));
}
