//! Deleting a site: `DELETE /v1/sites/{key}?confirm={key}` (admin) and
//! `sightline site delete KEY --yes`, both through [`delete_site`].
//!
//! A delete removes everything Sightline keeps for the site, so a later site with the same
//! key starts empty:
//!
//! 1. It records the erasure first: a [`ForgetRecord`] of the whole site (`whole_site`, the
//!    audit trail, `sightline gdpr list`). From then on every sink drops the site's events
//!    received up to that time (records still in the log never come back), and every reader
//!    of dead letters (`GET /v1/admin/deadletters`, `sightline deadletter list|replay`)
//!    hides the site's letters written up to then: a Kafka topic cannot delete records, so
//!    they are hidden in both modes and age out with the log's retention
//!    ([`crate::privacy::Forgotten`]).
//! 2. The warehouse deletes the site's row, raw events, rollup rows and rollup bookkeeping
//!    (dirty-session marks, session state) ([`Warehouse::delete_site`]).
//! 3. API tokens limited to the site lose it: one limited to it alone is revoked, one limited
//!    to several keeps the others ([`crate::access::drop_site_from_tokens`]).
//!
//! The erasure records of visitors of the site forgotten earlier stay: they are the audit
//! trail of those requests and hold no visitor id (a hash). Running servers stop accepting
//! the key within 5 s (at once on the server that answered the API call).

use super::{require_scope, ApiError, AppState};
use crate::clock::Clock;
use crate::privacy::ForgetRecord;
use crate::warehouse::Warehouse;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

/// What a delete removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deleted {
    /// The deleted site's write key.
    pub key: String,
    /// Raw events deleted with it.
    pub events: u64,
}

/// Delete site `key` and its data (see the module docs); `by` names who asked (an API token
/// id, `root` or `cli`), as of `clock`'s now. `404` naming `key` when there is no such site.
pub async fn delete_site(
    clock: &dyn Clock,
    warehouse: &dyn Warehouse,
    key: &str,
    by: &str,
) -> Result<Deleted, ApiError> {
    if !warehouse.sites().await?.iter().any(|s| s.key == key) {
        return Err(ApiError::not_found("key", &format!("no site with key {key}")));
    }
    let mut rec = ForgetRecord::begin(key, None, by, clock.now_ms());
    warehouse.put_forget(&rec).await?;
    let events = warehouse.delete_site(key).await?;
    let tokens = crate::access::drop_site_from_tokens(warehouse, key).await?;
    rec.warehouse_events = events;
    rec.done_at = Some(clock.now_ms());
    warehouse.put_forget(&rec).await?;
    tracing::info!(target: "audit", action = "delete_site", site = key, events, tokens = ?tokens, by, "site deleted");
    Ok(Deleted {
        key: key.to_string(),
        events,
    })
}

/// `?confirm=` of `DELETE /v1/sites/{key}`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Confirm {
    /// The site's key again, to confirm the delete.
    pub confirm: Option<String>,
}

/// `DELETE /v1/sites/{key}?confirm={key}` (admin): delete the site with its data (see the
/// module docs); answers `{"key", "events"}`. Without `confirm` equal to the key: `400`
/// naming `confirm`, and nothing is deleted.
#[utoipa::path(delete, path = "/v1/sites/{key}", tag = "admin", security(("bearer" = [])), params(("key" = String, Path, description = "write key"), Confirm), responses((status = 200, description = "{key, events}: the deleted site and the raw events deleted with it"), (status = 400, description = "confirm missing or not the key"), (status = 401, description = "no or wrong token"), (status = 404, description = "unknown key")))]
pub async fn delete_site_handler(
    req: HttpRequest,
    key: web::Path<String>,
    query: web::Query<Confirm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let who = require_scope(&req, &state, crate::access::Scope::Admin, Some(&key))?;
    state.known_site(&key).await?;
    if query.confirm.as_deref() != Some(key.as_str()) {
        return Err(ApiError::bad(
            "confirm",
            &format!("deleting a site and all its data needs ?confirm={key}"),
        ));
    }
    let deleted = delete_site(state.clock.as_ref(), state.warehouse.as_ref(), &key, &who.id).await?;
    state.sites.remove(&key);
    Ok(HttpResponse::Ok().json(deleted))
}
