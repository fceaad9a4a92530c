//! Segment analytics.js (npm `@segment/analytics-next`) with its CDN and API host pointed at
//! Sightline: `/v1/batch`, `/v1/t`, `/v1/p`, `/v1/i`, … and `GET /v1/projects/<key>/settings`.
//! The mapping table is in `docs/compat.md`; Segment's spec of the calls:
//! <https://segment.com/docs/connections/spec/>.

use super::{capture_with, event_id, identify_props, public_json, put_ts, str_of, time_ms, Mapped, IDENTIFY_EVENT};
use crate::ingest::IngestError;
use crate::ingest::IngestState;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

/// The client name in event ids.
pub const CLIENT: &str = "segment";

/// The capture routes: the batch, and one per call type (track, page, identify, alias,
/// screen, group; also the long names of the HTTP tracking API).
pub const CAPTURE_PATHS: [&str; 13] = [
    "/v1/batch",
    "/v1/b",
    "/v1/t",
    "/v1/p",
    "/v1/i",
    "/v1/a",
    "/v1/s",
    "/v1/g",
    "/v1/track",
    "/v1/page",
    "/v1/identify",
    "/v1/alias",
    "/v1/import",
];

/// `POST /v1/batch`, `/v1/t`, …: one call object, or `{"batch": [...], "writeKey", "sentAt"}`.
/// The write key is the body's `writeKey` or the `Authorization: Basic base64("<key>:")`.
pub async fn capture(req: HttpRequest, payload: web::Payload, state: web::Data<IngestState>) -> HttpResponse {
    capture_with(req, payload, state, false, &FIELDS, |req, v| {
        map_body(v, basic_user(req).as_deref())
    })
    .await
}

/// Sightline's event fields and the Segment fields they are made from.
const FIELDS: [(&str, &str); 6] = [
    ("id", "messageId"),
    ("ts", "timestamp"),
    ("session_id", "anonymousId"),
    ("visitor_id", "anonymousId or userId"),
    ("url", "context.page.url"),
    ("name", "event"),
];

/// The user of an `Authorization: Basic` header (the write key).
fn basic_user(req: &HttpRequest) -> Option<String> {
    use base64::Engine;
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let b64 = v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic "))?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?;
    let s = String::from_utf8(bytes).ok()?;
    let user = s.split(':').next().unwrap_or("").to_string();
    (!user.is_empty()).then_some(user)
}

/// Map a Segment body to Sightline event objects. Errors name the field.
pub fn map_body(body: Value, auth_key: Option<&str>) -> Result<Mapped, IngestError> {
    let malformed = |field: &str, reason: &str| IngestError::Malformed {
        field: field.into(),
        reason: reason.into(),
    };
    let Value::Object(mut o) = body else {
        return Err(malformed(
            "body",
            "expected a Segment call object or {\"batch\": [...]}",
        ));
    };
    let sent_at = o.get("sentAt").and_then(time_ms);
    let key = str_of(&o, "writeKey").map(str::to_string);
    let calls = match o.remove("batch") {
        Some(Value::Array(a)) => a,
        Some(_) => return Err(malformed("batch", "must be an array of calls")),
        None => vec![Value::Object(o)],
    };
    let key = key
        .or_else(|| {
            calls
                .iter()
                .find_map(|c| c.get("writeKey").and_then(Value::as_str).map(str::to_string))
        })
        .or_else(|| auth_key.map(str::to_string))
        .ok_or_else(|| malformed("writeKey", "missing: no writeKey and no Authorization: Basic header"))?;
    Ok(Mapped::each(key, sent_at, &calls, map_call))
}

fn map_call(c: &Value, key: &str, out: &mut Vec<Value>) {
    let Some(o) = c.as_object() else {
        out.push(c.clone());
        return;
    };
    let empty = Map::new();
    let ctx = o.get("context").and_then(Value::as_object).unwrap_or(&empty);
    let page = ctx.get("page").and_then(Value::as_object).unwrap_or(&empty);
    let props = o.get("properties").and_then(Value::as_object).unwrap_or(&empty);
    let id = match str_of(o, "messageId") {
        Some(m) => event_id(CLIENT, key, m),
        None => event_id(CLIENT, key, &c.to_string()),
    };
    let mut m = Map::new();
    m.insert("id".into(), json!(id));
    put_ts(&mut m, o.get("timestamp").or_else(|| o.get("originalTimestamp")));
    // Segment has no session id: the anonymous id is the session key and sessions are cut
    // by inactivity (analytics.md, "Session").
    let visitor = str_of(o, "anonymousId").or_else(|| str_of(o, "userId"));
    if let Some(v) = visitor {
        m.insert("visitor_id".into(), json!(v));
        m.insert("session_id".into(), json!(v));
    }
    if let Some(u) = str_of(page, "url").or_else(|| str_of(props, "url")) {
        m.insert("url".into(), json!(u));
    }
    let fields = match str_of(o, "type").unwrap_or("") {
        "page" => json!({
            "type": "pageview",
            "referrer": str_of(page, "referrer").or_else(|| str_of(props, "referrer")),
            "title": str_of(page, "title").or_else(|| str_of(props, "title")),
        }),
        "track" => json!({"type": "custom", "name": str_of(o, "event"), "props": props}),
        "identify" => match identify_props(
            str_of(o, "anonymousId").unwrap_or(""),
            str_of(o, "userId").unwrap_or(""),
        ) {
            Some(p) => json!({"type": "custom", "name": IDENTIFY_EVENT, "props": p}),
            None => return,
        },
        "alias" => match identify_props(str_of(o, "previousId").unwrap_or(""), str_of(o, "userId").unwrap_or("")) {
            Some(p) => json!({"type": "custom", "name": IDENTIFY_EVENT, "props": p}),
            None => return,
        },
        // screen (apps) and group calls have no Sightline meaning.
        "screen" | "group" => return,
        // An unknown or missing type is passed on, for validation to name it.
        other => json!({"type": other}),
    };
    if let Value::Object(f) = fields {
        m.extend(f);
    }
    out.push(Value::Object(m));
}

/// `POST /v1/m`: analytics.js's own delivery metrics; taken and dropped (`200`).
pub async fn metrics(req: HttpRequest, payload: web::Payload) -> HttpResponse {
    drop(payload);
    let mut r = HttpResponse::Ok();
    if let Some(o) = req.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        crate::ingest::cors_grant(&mut r, o);
    }
    r.json(json!({"success": true}))
}

/// `GET /v1/projects/{key}/settings`: the CDN settings analytics.js loads at start — the
/// `Segment.io` destination sending to this server (`apiHost` = the request's host + `/v1`),
/// no other destinations, no plugins, metrics off. `404` for an unknown key.
pub async fn settings(req: HttpRequest, key: web::Path<String>, state: web::Data<IngestState>) -> HttpResponse {
    if !matches!(state.sites.by_compat_key(&key), Ok(Some(_))) {
        return HttpResponse::NotFound()
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
            .json(json!({"error": "unknown_site", "field": "key", "reason": "unknown write key"}));
    }
    let info = req.connection_info();
    public_json(json!({
        "integrations": {"Segment.io": {
            "apiKey": key.as_str(),
            "apiHost": format!("{}/v1", info.host()),
            "protocol": info.scheme(),
            "unbundledIntegrations": [],
            "addBundledMetadata": true,
        }},
        "plan": {"track": {"__default": {"enabled": true, "integrations": {}}}, "identify": {"__default": {"enabled": true}}, "group": {"__default": {"enabled": true}}},
        "edgeFunction": {},
        "analyticsNextEnabled": true,
        "middlewareSettings": {},
        "enabledMiddleware": {},
        "metrics": {"sampleRate": 0},
        "legacyVideoPluginsEnabled": false,
        "remotePlugins": [],
    }))
}
