//! Drop-in ingest for sites already tagged with another tracker (`docs/compat.md`): the
//! capture routes of posthog-js ([`posthog`]) and Segment analytics.js ([`segment`]), and the
//! config, flags and settings calls those clients make at start.
//!
//! A client's body is decoded (JSON; gzip with or without `Content-Encoding`, by its `1f 8b`
//! magic; a form `data=` field, base64 with `?compression=base64`), mapped to event objects
//! of `POST /v1/events` and then takes exactly the path of `/v1/events`
//! ([`super::accept_browser_batch`]): origins, quotas, validation, enrichment, dedup by
//! event id, dead letters and the durable append. The tracker's key maps to a site through
//! [`crate::sites::SiteSettings::compat_keys`].
//!
//! Answers: `200` (the clients treat anything else as a failure) with the body of
//! `/v1/events` plus `status: 1` and `ignored` (events with no Sightline meaning, such as
//! `$set` or `$web_vitals`); refusals are the `/v1/events` ones (`400` naming the field,
//! `401` unknown key, `403`, `413`, `415`, `429`, `503`), counted and dead-lettered alike.

pub mod posthog;
pub mod segment;

use super::{IngestError, IngestResponse};
use crate::ingest::IngestState;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::{Map, Value};

/// The routes of this module (registered by [`crate::http::routes`] with the ingest role).
pub fn routes(cfg: &mut web::ServiceConfig) {
    for path in posthog::CAPTURE_PATHS {
        cfg.route(path, web::post().to(posthog::capture))
            .route(path, web::method(actix_web::http::Method::OPTIONS).to(preflight));
    }
    cfg.route("/flags/", web::post().to(posthog::flags))
        .route("/flags/", web::method(actix_web::http::Method::OPTIONS).to(preflight))
        .route("/decide/", web::post().to(posthog::flags))
        .route("/decide/", web::method(actix_web::http::Method::OPTIONS).to(preflight))
        .route("/array/{key}/config.js", web::get().to(posthog::config_js))
        .route("/array/{key}/config", web::get().to(posthog::config_json))
        .service(
            web::resource("/static/{file}")
                .wrap(actix_web::middleware::Compress::default())
                .route(web::get().to(posthog::static_file)),
        );
    for path in segment::CAPTURE_PATHS {
        cfg.route(path, web::post().to(segment::capture))
            .route(path, web::method(actix_web::http::Method::OPTIONS).to(preflight));
    }
    cfg.route("/v1/m", web::post().to(segment::metrics))
        .route("/v1/m", web::method(actix_web::http::Method::OPTIONS).to(preflight))
        .route("/v1/projects/{key}/settings", web::get().to(segment::settings));
}

/// CORS preflight of the tracker routes: granted to origins some site allows, with the
/// headers the clients send (Segment sends `Authorization`, so its posts are preflighted).
pub async fn preflight(req: HttpRequest, state: web::Data<IngestState>) -> HttpResponse {
    let mut resp = HttpResponse::NoContent();
    if let Some(origin) = req.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        if state.sites.any_allows(origin) {
            super::cors_grant(&mut resp, origin);
            resp.insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, OPTIONS"));
            resp.insert_header((
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                "content-type, content-encoding, authorization, x-retry-count",
            ));
            resp.insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"));
        }
    }
    resp.finish()
}

/// A client's body mapped to Sightline's event objects.
pub struct Mapped {
    /// The tracker's key (posthog `token`/`api_key`, Segment `writeKey`).
    pub key: String,
    /// Client time the batch was sent, ms.
    pub sent_at: Option<i64>,
    /// Event objects as `POST /v1/events` takes them.
    pub events: Vec<Value>,
    /// Client events with no Sightline meaning, left out.
    pub ignored: usize,
    /// The same, by the client's event name (posthog `event`, Segment `type`, or `track`'s
    /// `event`), so a client can see what was left out; the reasons are the mapping table of
    /// docs/compat.md.
    pub ignored_events: std::collections::BTreeMap<String, usize>,
}

impl Mapped {
    /// Map each client item with `map` (which pushes the Sightline events it makes, none for
    /// an item with no Sightline meaning, counted as ignored).
    pub fn each(
        key: String,
        sent_at: Option<i64>,
        items: &[Value],
        mut map: impl FnMut(&Value, &str, &mut Vec<Value>),
    ) -> Mapped {
        let mut events = Vec::with_capacity(items.len());
        let mut ignored = 0;
        let mut ignored_events = std::collections::BTreeMap::new();
        for item in items {
            let before = events.len();
            map(item, &key, &mut events);
            if events.len() == before {
                ignored += 1;
                let name = ["event", "type"]
                    .iter()
                    .find_map(|k| item.get(*k).and_then(Value::as_str))
                    .unwrap_or("(unnamed)");
                // A bounded answer: at most 32 distinct names, each cut to 64 characters.
                if ignored_events.len() < 32 || ignored_events.contains_key(name) {
                    let name: String = name.chars().take(64).collect();
                    *ignored_events.entry(name).or_insert(0) += 1;
                }
            }
        }
        Mapped {
            key,
            sent_at,
            events,
            ignored,
            ignored_events,
        }
    }
}

/// `200` body: the `/v1/events` answer, `status: 1` (what posthog-js expects) and the count
/// of client events left out.
#[derive(Serialize)]
struct CompatResponse {
    status: u8,
    #[serde(flatten)]
    ingest: IngestResponse,
    ignored: usize,
    /// `{client event name: count}` of the ignored ones.
    ignored_events: std::collections::BTreeMap<String, usize>,
}

/// Media types the tracker routes take: those of `/v1/events` and the form posts of
/// posthog-js's beacons (`data=`).
const FORM: &str = "application/x-www-form-urlencoded";

/// Read a tracker's body to JSON: `/v1/events`'s caps and content codings (gzip also by its
/// magic bytes), then a form's `data` field, base64 when `base64` is set or the field is not
/// JSON text, and gzip again inside it.
async fn read_json(
    req: &HttpRequest,
    payload: web::Payload,
    base64: bool,
    state: &IngestState,
    sample: &mut Vec<u8>,
) -> Result<Value, IngestError> {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case(FORM));
    if !is_form {
        super::check_content_type(req)?;
    }
    let mut body = super::read_body(req, payload, None, state, sample).await?;
    let malformed = |reason: String| IngestError::Malformed {
        field: "body".into(),
        reason,
    };
    if is_form || body.starts_with(b"data=") {
        let data = url::form_urlencoded::parse(&body)
            .find(|(k, _)| k == "data")
            .map(|(_, v)| v.into_owned())
            .ok_or_else(|| malformed("a form body needs a data field".into()))?;
        let text = data.trim();
        body = if base64 || !(text.starts_with('{') || text.starts_with('[')) {
            use base64::Engine;
            let engine = base64::engine::general_purpose::STANDARD;
            // A `+` the form did not escape reads as a space.
            let cleaned: String = text
                .chars()
                .filter(|c| *c != '\n' && *c != '\r')
                .map(|c| if c == ' ' { '+' } else { c })
                .collect();
            let bytes = engine
                .decode(&cleaned)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(cleaned.trim_end_matches('=')))
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cleaned.trim_end_matches('=')))
                .map_err(|e| malformed(format!("the data field is not base64: {e}")))?;
            let codings = super::decode::codings(None, None, &bytes)?;
            super::decode::decode(bytes, &codings, state.limits.batch_bytes)?
        } else {
            text.as_bytes().to_vec()
        };
        sample.clear();
        sample.extend_from_slice(&body[..body.len().min(super::BODY_SAMPLE_BYTES)]);
    }
    serde_json::from_slice(&body).map_err(|e| malformed(format!("not valid JSON: {e}")))
}

/// The common handler of a tracker's capture request: read, map, find the site, then the
/// `/v1/events` path.
async fn capture_with(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<IngestState>,
    base64: bool,
    client_fields: &'static [(&'static str, &'static str)],
    map: impl FnOnce(&HttpRequest, Value) -> Result<Mapped, IngestError>,
) -> HttpResponse {
    let mut sample = Vec::new();
    let result = async {
        let received_at = state.clock.now_ms();
        let _permit = super::admit(&req, &state)?;
        let value = read_json(&req, payload, base64, &state, &mut sample).await?;
        let mapped = map(&req, value)?;
        let site = match state.sites.by_compat_key(&mapped.key) {
            Ok(Some(site)) => site,
            Ok(None) => return Err(IngestError::UnknownSite),
            Err(()) => {
                return Err(IngestError::Malformed {
                    field: "key".into(),
                    reason: "this key is listed in settings.compat_keys of several sites".into(),
                })
            }
        };
        let events = mapped.events;
        crate::metrics::METRICS
            .compat_events_ignored_total
            .inc_by(mapped.ignored as u64);
        if events.is_empty() {
            // Nothing with a Sightline meaning (only `$set`, say): nothing to append.
            return Ok(answer(
                &req,
                StatusCode::OK,
                None,
                mapped.ignored,
                mapped.ignored_events,
                empty_response(),
            ));
        }
        // The mapped events take the `/v1/events` path from their JSON text.
        let raws = events
            .iter()
            .map(serde_json::value::to_raw_value)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| IngestError::Malformed {
                field: "body".into(),
                reason: format!("could not map the events: {e}"),
            })?;
        let events: Vec<_> = raws.iter().map(|r| crate::event::wire::WireEvent::parse(r)).collect();
        let batch = super::BrowserBatch {
            events: &events,
            sent_at: mapped.sent_at,
            webdriver: false,
            language: None,
            received_at,
        };
        let (status, request_id, mut out) = super::accept_browser_batch(&req, &state, &site, batch).await?;
        // Rejections name Sightline's field; say which of the client's it came from.
        for r in &mut out.rejected {
            if let Some((_, theirs)) = client_fields.iter().find(|(ours, _)| *ours == r.field) {
                r.reason = format!("{} (the client's {theirs})", r.reason);
            }
            for e in &mut r.errors {
                if let Some((_, theirs)) = client_fields.iter().find(|(ours, _)| *ours == e.field) {
                    e.reason = format!("{} (the client's {theirs})", e.reason);
                }
            }
        }
        let status = if status == StatusCode::ACCEPTED {
            StatusCode::OK
        } else {
            status
        };
        Ok(answer(
            &req,
            status,
            Some(request_id),
            mapped.ignored,
            mapped.ignored_events,
            out,
        ))
    }
    .await;
    super::finish(&req, &state, result, &sample).await
}

fn empty_response() -> IngestResponse {
    IngestResponse {
        accepted: 0,
        duplicates: 0,
        rejected: Vec::new(),
        warnings: Vec::new(),
    }
}

fn answer(
    req: &HttpRequest,
    status: StatusCode,
    request_id: Option<String>,
    ignored: usize,
    ignored_events: std::collections::BTreeMap<String, usize>,
    ingest: IngestResponse,
) -> HttpResponse {
    let mut resp = HttpResponse::build(status);
    if let Some(o) = req.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        super::cors_grant(&mut resp, o);
    }
    if let Some(id) = request_id {
        resp.insert_header(("x-request-id", id));
    }
    resp.json(CompatResponse {
        status: 1,
        ingest,
        ignored,
        ignored_events,
    })
}

/// A JSON answer for a start-up call (config, flags, settings), readable from any origin.
fn public_json(v: Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=60"))
        .json(v)
}

/// The site of a refused tracker body, for its dead letter: the site whose write key or
/// `compat_keys` has the body's project key (posthog `api_key`/`token`/`properties.token`,
/// Segment `writeKey`, also inside a `batch` or an array). `None` when there is none.
pub fn site_of_body(sites: &crate::sites::SiteCache, body: &Value) -> Option<String> {
    fn key_in(v: &Value) -> Option<&str> {
        ["api_key", "token", "writeKey"]
            .iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str))
            .or_else(|| v.get("properties").and_then(|p| p.get("token")).and_then(Value::as_str))
    }
    let first = |items: &Vec<Value>| items.iter().find_map(key_in).map(str::to_string);
    let key = match body {
        Value::Array(items) => first(items),
        Value::Object(_) => key_in(body)
            .map(str::to_string)
            .or_else(|| body.get("batch").and_then(Value::as_array).and_then(first)),
        _ => None,
    }?;
    sites.by_compat_key(&key).ok().flatten().map(|s| s.key)
}

/// The id of a mapped event: the client's own when it is a UUID (posthog-js `uuid`), else a
/// UUID v5 of the client's name, the key and the client's id (Segment `messageId`), so a
/// retry of the same event gets the same id and is counted once.
pub fn event_id(client: &str, key: &str, client_id: &str) -> String {
    match uuid::Uuid::parse_str(client_id) {
        Ok(u) => u.hyphenated().to_string(),
        Err(_) => uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_OID,
            format!("{client}\n{key}\n{client_id}").as_bytes(),
        )
        .hyphenated()
        .to_string(),
    }
}

/// The id of the `n`-th event made from one client event (a survey with several answers).
pub fn derived_id(id: &str, n: usize) -> String {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("{id}\n{n}").as_bytes())
        .hyphenated()
        .to_string()
}

/// Milliseconds since the epoch from an ISO 8601 time (`2026-12-05T07:00:00.123Z`) or a
/// number of ms.
pub fn time_ms(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.timestamp_millis())
            .or_else(|| s.parse::<i64>().ok()),
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.round() as i64)),
        _ => None,
    }
}

/// Put the client's event time into a mapped event as `ts`: ms when it reads as a time
/// ([`time_ms`]); as sent when it does not, so validation names it as a bad `ts` rather
/// than a missing one; nothing when the client sent none.
pub fn put_ts(m: &mut Map<String, Value>, client: Option<&Value>) {
    if let Some(v) = client {
        m.insert("ts".into(), time_ms(v).map_or_else(|| v.clone(), |t| Value::from(t)));
    }
}

/// A string field of an object, non-empty.
fn str_of<'a>(o: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    o.get(k).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// The identity event Sightline keeps for an identify or alias: a custom event
/// `$identify` with `anonymous_id` and `user_id` (read at query time by
/// [`crate::event::identity`]). `None` when either id is junk ([`crate::event::identity::is_junk_id`]):
/// no link is recorded then.
fn identify_props(anonymous_id: &str, user_id: &str) -> Option<Value> {
    use crate::event::identity::is_junk_id;
    if is_junk_id(anonymous_id) || is_junk_id(user_id) || anonymous_id == user_id {
        return None;
    }
    Some(serde_json::json!({"anonymous_id": anonymous_id, "user_id": user_id}))
}

pub use crate::event::identity::IDENTIFY_EVENT;
