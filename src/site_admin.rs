//! Deleting a site: `DELETE /v1/sites/{key}?confirm={key}` (admin) and
//! `sightline site delete KEY --yes`, both through [`delete_site`].
//!
//! A delete removes the site's row, then its raw events, rollup rows and rollup bookkeeping
//! from the warehouse ([`Warehouse::delete_site`]), so a later site with the same key starts
//! empty. Running servers stop accepting the key within 5 s (at once on the server that
//! answered the API call). What the log still holds is not rewritten: its records of the
//! site are already in the warehouse (or refused by it, the key being unknown), and its dead
//! letters stay until the log's retention removes them (Kafka cannot delete records).

use crate::server::{require_admin, ApiError, AppState};
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

/// Delete site `key` and its data (see the module docs); `404` naming `key` when there is no
/// such site.
pub async fn delete_site(warehouse: &dyn Warehouse, key: &str) -> Result<Deleted, ApiError> {
    if !warehouse.sites().await?.iter().any(|s| s.key == key) {
        return Err(ApiError::not_found("key", &format!("no site with key {key}")));
    }
    let events = warehouse.delete_site(key).await?;
    tracing::info!(site = key, events, "site deleted");
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

/// `DELETE /v1/sites/{key}?confirm={key}` (admin): delete the site with its raw events and
/// rollup rows; answers `{"key", "events"}`. Without `confirm` equal to the key: `400`
/// naming `confirm`, and nothing is deleted.
#[utoipa::path(delete, path = "/v1/sites/{key}", tag = "admin", security(("bearer" = [])), params(("key" = String, Path, description = "write key"), Confirm), responses((status = 200, description = "{key, events}: the deleted site and the raw events deleted with it"), (status = 400, description = "confirm missing or not the key"), (status = 401, description = "no or wrong token"), (status = 404, description = "unknown key")))]
pub async fn delete_site_handler(
    req: HttpRequest,
    key: web::Path<String>,
    query: web::Query<Confirm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state, &key)?;
    if query.confirm.as_deref() != Some(key.as_str()) {
        return Err(ApiError::bad(
            "confirm",
            &format!("deleting a site and all its data needs ?confirm={key}"),
        ));
    }
    let deleted = delete_site(state.warehouse.as_ref(), &key).await?;
    state.sites.remove(&key);
    Ok(HttpResponse::Ok().json(deleted))
}
