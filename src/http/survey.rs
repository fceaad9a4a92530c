//! The survey admin endpoints and the survey file of `sightline survey apply` (the settings
//! themselves and their validation are [`crate::survey`]).

use super::{from_json, require_admin, update_site, ApiError, AppState, SitePatch};
use crate::sites::Site;
use crate::survey::{FeedbackButton, Survey};
use crate::warehouse::Warehouse;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

/// Load site `key`, change its surveys with `change`, and store it through
/// [`update_site`] (validated like any settings change). `404` (field `key`) for an unknown site.
pub async fn change_surveys<T>(
    warehouse: &dyn Warehouse,
    key: &str,
    change: impl FnOnce(&mut Vec<Survey>, &mut FeedbackButton) -> Result<T, ApiError>,
) -> Result<(Site, T), ApiError> {
    let Some(cur) = warehouse.sites().await?.into_iter().find(|s| s.key == key) else {
        return Err(ApiError::not_found("key", &format!("no site with key {key}")));
    };
    let (mut surveys, mut feedback) = (cur.settings.surveys.clone(), cur.settings.feedback.clone());
    let out = change(&mut surveys, &mut feedback)?;
    let patch = SitePatch {
        settings: Some(serde_json::json!({
            "surveys": surveys,
            "feedback": serde_json::to_value(&feedback).map_err(anyhow::Error::from)?,
        })),
        ..SitePatch::default()
    };
    let site = update_site(warehouse, None, key, patch).await?;
    Ok((site, out))
}

/// Insert or replace `survey` (by id). Returns true when it was new.
pub fn upsert(surveys: &mut Vec<Survey>, survey: Survey) -> bool {
    match surveys.iter_mut().find(|s| s.id == survey.id) {
        Some(s) => {
            *s = survey;
            false
        }
        None => {
            surveys.push(survey);
            true
        }
    }
}

/// Parse a survey from JSON, naming the field of the first problem (relative to the survey).
pub fn parse_survey(v: serde_json::Value) -> Result<Survey, ApiError> {
    let s: Survey = from_json(v, "", "not a survey")?;
    s.validate("").map_err(|(f, r)| ApiError::bad(&f, &r))?;
    Ok(s)
}

/// What `sightline survey apply FILE` reads: one survey, a list of surveys, or
/// `{"surveys": [...], "feedback": {...}}`.
pub fn parse_file(text: &str) -> Result<(Vec<Survey>, Option<FeedbackButton>), ApiError> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| ApiError::bad("file", &format!("not valid JSON: {e}")))?;
    let list = |items: Vec<serde_json::Value>| -> Result<Vec<Survey>, ApiError> {
        items
            .into_iter()
            .enumerate()
            .map(|(i, s)| parse_survey(s).map_err(|e| ApiError::bad(&format!("surveys[{i}].{}", e.field), &e.reason)))
            .collect()
    };
    match v {
        serde_json::Value::Array(items) => Ok((list(items)?, None)),
        serde_json::Value::Object(o) if o.contains_key("questions") => {
            Ok((vec![parse_survey(serde_json::Value::Object(o))?], None))
        }
        serde_json::Value::Object(mut o) => {
            let surveys = match o.remove("surveys") {
                Some(serde_json::Value::Array(items)) => list(items)?,
                None => Vec::new(),
                Some(_) => return Err(ApiError::bad("surveys", "must be a list of surveys")),
            };
            let feedback = match o.remove("feedback") {
                None => None,
                Some(f) => Some(from_json::<FeedbackButton, _>(f, "feedback", "not a feedback button")?),
            };
            if let Some(k) = o.keys().next() {
                return Err(ApiError::bad(k, "unknown field; expected surveys or feedback"));
            }
            Ok((surveys, feedback))
        }
        _ => Err(ApiError::bad(
            "file",
            "expected a survey, a list of surveys or {\"surveys\", \"feedback\"}",
        )),
    }
}

/// Apply a survey file to site `key` (the one path of `sightline survey apply`): upsert every
/// survey by id, replace the feedback button when the file has one.
pub async fn apply_file(warehouse: &dyn Warehouse, key: &str, text: &str) -> Result<Site, ApiError> {
    let (surveys, feedback) = parse_file(text)?;
    let (site, ()) = change_surveys(warehouse, key, |all, fb| {
        for s in surveys {
            upsert(all, s);
        }
        if let Some(f) = feedback {
            *fb = f;
        }
        Ok(())
    })
    .await?;
    Ok(site)
}

fn surveys_out(site: &Site) -> serde_json::Value {
    serde_json::json!({"surveys": site.settings.surveys, "feedback": site.settings.feedback})
}

/// `GET /v1/sites/{key}/surveys` (admin): every survey of the site and the feedback button.
#[utoipa::path(get, path = "/v1/sites/{key}/surveys", tag = "admin", security(("bearer" = [])), params(("key" = String, Path, description = "write key")), responses((status = 200, description = "{surveys: [survey], feedback: {enabled, position, categories, label, pick_element}}"), (status = 404, description = "unknown site")))]
pub async fn list_surveys(
    req: HttpRequest,
    key: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state, &key)?;
    let site = state.site(&key)?;
    Ok(HttpResponse::Ok().json(surveys_out(&site)))
}

/// `GET /v1/sites/{key}/surveys/{id}` (admin): one survey.
#[utoipa::path(get, path = "/v1/sites/{key}/surveys/{id}", tag = "admin", security(("bearer" = [])), params(("key" = String, Path, description = "write key"), ("id" = String, Path, description = "survey id")), responses((status = 200, description = "The survey"), (status = 404, description = "unknown site or survey")))]
pub async fn get_survey(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (key, id) = path.into_inner();
    require_admin(&req, &state, &key)?;
    let site = state.site(&key)?;
    let s = site.settings.surveys.iter().find(|s| s.id == id);
    let s = s.ok_or_else(|| ApiError::not_found("id", &format!("no survey {id} on site {key}")))?;
    Ok(HttpResponse::Ok().json(s))
}

/// `PUT /v1/sites/{key}/surveys/{id}` (admin): create or replace a survey. The body is a
/// survey (see the module doc); its `id` may be left out and must equal the path's when
/// given. `201` when created, `200` when replaced; `400` names the field.
#[utoipa::path(put, path = "/v1/sites/{key}/surveys/{id}", tag = "admin", security(("bearer" = [])), params(("key" = String, Path, description = "write key"), ("id" = String, Path, description = "survey id")), request_body(content = Object, description = "a survey: {id?, enabled?, title?, questions: [{id, kind, text, options?, multiple?, min?, max?}], targeting?: {pages, devices}, trigger: {type: exit_intent|time_on_page|scroll_depth|custom_event|manual, …}, sampling?, frequency?: visitor|session, placement?: {type: popup|inline, selector?}}"), responses((status = 201, description = "created"), (status = 200, description = "replaced"), (status = 400, description = "names the field"), (status = 404, description = "unknown site")))]
pub async fn put_survey(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (key, id) = path.into_inner();
    require_admin(&req, &state, &key)?;
    state.known_site(&key).await?;
    let mut v: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad("body", &format!("not valid JSON: {e}")))?;
    let obj = v
        .as_object_mut()
        .ok_or_else(|| ApiError::bad("body", "expected a survey object"))?;
    match obj.get("id") {
        None => {
            obj.insert("id".into(), id.clone().into());
        }
        Some(serde_json::Value::String(s)) if *s == id => {}
        Some(_) => return Err(ApiError::bad("id", "must equal the survey id of the path")),
    }
    let survey = parse_survey(v)?;
    let (site, created) =
        change_surveys(state.warehouse.as_ref(), &key, |all, _| Ok(upsert(all, survey.clone()))).await?;
    state.sites.put(site);
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(HttpResponse::build(status).json(survey))
}

/// `DELETE /v1/sites/{key}/surveys/{id}` (admin): remove a survey (its responses stay).
#[utoipa::path(delete, path = "/v1/sites/{key}/surveys/{id}", tag = "admin", security(("bearer" = [])), params(("key" = String, Path, description = "write key"), ("id" = String, Path, description = "survey id")), responses((status = 204, description = "removed"), (status = 404, description = "unknown site or survey")))]
pub async fn delete_survey(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (key, id) = path.into_inner();
    require_admin(&req, &state, &key)?;
    let (site, ()) = change_surveys(state.warehouse.as_ref(), &key, |all, _| {
        let n = all.len();
        all.retain(|s| s.id != id);
        if all.len() == n {
            return Err(ApiError::not_found("id", &format!("no survey {id} on site {key}")));
        }
        Ok(())
    })
    .await?;
    state.sites.put(site);
    Ok(HttpResponse::NoContent().finish())
}
