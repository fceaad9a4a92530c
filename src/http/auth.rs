//! Bearer-token checks of the query and admin API ([`crate::access`] decides).

use super::{ApiError, AppState};
use crate::access::{Denied, Principal, Scope};
use actix_web::http::{header, StatusCode};
use actix_web::HttpRequest;

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
