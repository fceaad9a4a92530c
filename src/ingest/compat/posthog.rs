//! posthog-js (npm `posthog-js`, 1.x) pointed at Sightline with `api_host`: its capture
//! routes, `/flags/` and `/array/<key>/config(.js)`. The mapping table is in
//! `docs/compat.md`; PostHog's own event and property names are documented at
//! <https://posthog.com/docs/data/events> and in posthog-js's source.

use super::{
    capture_with, derived_id, event_id, identify_props, public_json, put_ts, str_of, time_ms, Mapped, IDENTIFY_EVENT,
};
use crate::ingest::IngestError;
use crate::ingest::IngestState;
use actix_web::{http::header, web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

/// The capture routes posthog-js posts to: `/e/` (and `/i/v0/e/` when its config says so),
/// `/batch/` and the older `/capture/`, `/track/`, `/engage/`.
pub const CAPTURE_PATHS: [&str; 6] = ["/e/", "/i/v0/e/", "/batch/", "/capture/", "/track/", "/engage/"];

/// The client name in event ids and `tracker` fields.
pub const CLIENT: &str = "posthog-js";

/// `POST /e/` and the other [`CAPTURE_PATHS`]: a JSON event, an array of events or
/// `{"api_key", "batch": [...]}`, in any of the encodings of [`super::read_json`].
pub async fn capture(
    req: HttpRequest,
    payload: web::Payload,
    query: web::Query<Vec<(String, String)>>,
    state: web::Data<IngestState>,
) -> HttpResponse {
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let base64 = q("compression") == Some("base64");
    // posthog-js puts the send time in `_` (ms), or `sent_at` in newer modes.
    let sent_at = q("_")
        .or(q("sent_at"))
        .and_then(|v| time_ms(&Value::String(v.to_string())));
    capture_with(req, payload, state, base64, &FIELDS, move |_, v| map_body(v, sent_at)).await
}

/// Sightline's event fields and the posthog fields they are made from.
const FIELDS: [(&str, &str); 7] = [
    ("id", "uuid"),
    ("ts", "timestamp"),
    ("session_id", "properties.$session_id"),
    ("visitor_id", "properties.$device_id or distinct_id"),
    ("url", "properties.$current_url"),
    ("selector", "properties.$elements_chain"),
    ("value", "properties.$survey_response"),
];

/// Map a posthog-js body to Sightline event objects. Errors name the field.
pub fn map_body(body: Value, sent_at: Option<i64>) -> Result<Mapped, IngestError> {
    let malformed = |field: &str, reason: &str| IngestError::Malformed {
        field: field.into(),
        reason: reason.into(),
    };
    let (events, top_key, sent_at) = match body {
        Value::Array(a) => (a, None, sent_at),
        Value::Object(mut o) => {
            let key = o
                .get("api_key")
                .or_else(|| o.get("token"))
                .and_then(Value::as_str)
                .map(str::to_string);
            let sent = o.get("sent_at").and_then(time_ms).or(sent_at);
            match o.remove("batch") {
                Some(Value::Array(a)) => (a, key, sent),
                Some(_) => return Err(malformed("batch", "must be an array of events")),
                None => (vec![Value::Object(o)], key, sent),
            }
        }
        _ => {
            return Err(malformed(
                "body",
                "expected a posthog event, an array of them or {\"batch\": [...]}",
            ))
        }
    };
    if events.is_empty() {
        return Err(malformed("batch", "empty: no events"));
    }
    let key = top_key
        .or_else(|| {
            events.iter().find_map(|e| {
                e.get("properties")
                    .and_then(|p| p.get("token"))
                    .or_else(|| e.get("api_key"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
        })
        .ok_or_else(|| malformed("token", "missing: no api_key and no properties.token (the project key)"))?;
    Ok(Mapped::each(key, sent_at, &events, map_event))
}

/// Map one posthog event, pushing the Sightline events it makes (none for events with no
/// Sightline meaning). A malformed event is still pushed with what it has, so validation
/// rejects it naming the field and it is dead-lettered.
fn map_event(e: &Value, key: &str, out: &mut Vec<Value>) {
    let Some(o) = e.as_object() else {
        out.push(e.clone()); // rejected by validation: "must be a JSON object"
        return;
    };
    let empty = Map::new();
    let p = o.get("properties").and_then(Value::as_object).unwrap_or(&empty);
    let name = str_of(o, "event").unwrap_or("");
    let distinct_id = str_of(o, "distinct_id").or_else(|| str_of(p, "distinct_id"));
    let id = match str_of(o, "uuid") {
        Some(u) => event_id(CLIENT, key, u),
        None => event_id(CLIENT, key, &e.to_string()),
    };
    let mut base = Map::new();
    base.insert("id".into(), json!(id));
    put_ts(&mut base, o.get("timestamp"));
    // The visitor is the device; the distinct id becomes the user id after an identify.
    let visitor = str_of(p, "$device_id").or(distinct_id);
    if let Some(v) = visitor {
        base.insert("visitor_id".into(), json!(v));
    }
    if let Some(s) = str_of(p, "$session_id").or(visitor) {
        base.insert("session_id".into(), json!(s));
    }
    if let Some(u) = str_of(p, "$current_url") {
        base.insert("url".into(), json!(u));
    }
    if let (Some(w), Some(h)) = (p.get("$viewport_width"), p.get("$viewport_height")) {
        base.insert("viewport".into(), json!({"w": w, "h": h}));
    }
    if let Some(pv) = str_of(p, "$pageview_id") {
        base.insert("pageview_id".into(), json!(pv));
    }
    let with = |mut m: Map<String, Value>, fields: Value| {
        if let Value::Object(f) = fields {
            m.extend(f);
        }
        Value::Object(m)
    };
    match name {
        "$pageview" => {
            let referrer = str_of(p, "$referrer").filter(|r| *r != "$direct");
            out.push(with(
                base,
                json!({"type": "pageview", "referrer": referrer, "title": str_of(p, "title")}),
            ));
        }
        "$autocapture" if str_of(p, "$event_type") == Some("click") => {
            let (selector, tag, href) = selector_of(p);
            out.push(with(
                base,
                json!({
                    "type": "click",
                    "tracker": CLIENT,
                    "selector": selector,
                    "tag": tag,
                    "text": str_of(p, "$el_text"),
                    "navigates": href,
                }),
            ));
        }
        // The client's own rage signal, kept beside Sightline's (which the clicks give).
        "$rageclick" => {
            let (selector, _, _) = selector_of(p);
            out.push(with(
                base,
                json!({"type": "custom", "name": "$rageclick", "props": {"selector": selector, "text": str_of(p, "$el_text")}}),
            ));
        }
        "$pageleave" => {
            // Deepest point of the document seen, fraction → percent (`maxContentY / height`).
            let Some(f) = p.get("$prev_pageview_max_content_percentage").and_then(Value::as_f64) else {
                return;
            };
            if let Some(pv) = str_of(p, "$prev_pageview_id") {
                base.insert("pageview_id".into(), json!(pv));
            }
            let depth = (f * 1000.0).round() / 10.0;
            out.push(with(base, json!({"type": "scroll", "depth": depth})));
        }
        "survey sent" => {
            let survey = str_of(p, "$survey_id");
            let mut answers: Vec<(String, Value)> = p
                .iter()
                .filter_map(|(k, v)| k.strip_prefix("$survey_response_").map(|q| (q.to_string(), v.clone())))
                .collect();
            if answers.is_empty() {
                if let Some(v) = p.get("$survey_response") {
                    answers.push(("0".into(), v.clone()));
                }
            }
            answers.sort_by(|a, b| a.0.cmp(&b.0));
            for (n, (question, value)) in answers.into_iter().enumerate() {
                let kind = match &value {
                    Value::Number(_) => "rating",
                    Value::Array(_) => "choice",
                    _ => "text",
                };
                let mut m = base.clone();
                m.insert("id".into(), json!(derived_id(&id, n)));
                out.push(with(
                    m,
                    json!({"type": "survey_response", "survey_id": survey, "question_id": question, "kind": kind, "value": value}),
                ));
            }
        }
        "$identify" => {
            let anon = str_of(p, "$anon_distinct_id").unwrap_or("");
            if let Some(props) = identify_props(anon, distinct_id.unwrap_or("")) {
                out.push(with(
                    base,
                    json!({"type": "custom", "name": IDENTIFY_EVENT, "props": props}),
                ));
            }
        }
        "$create_alias" => {
            let alias = str_of(p, "alias").unwrap_or("");
            if let Some(props) = identify_props(alias, distinct_id.unwrap_or("")) {
                out.push(with(
                    base,
                    json!({"type": "custom", "name": IDENTIFY_EVENT, "props": props}),
                ));
            }
        }
        // Every other `$` event is the client's bookkeeping ($set, $web_vitals, $opt_in, …).
        n if n.starts_with('$') || n.is_empty() => {}
        n => {
            // The site's own properties only: `$`-prefixed ones are the client's.
            let props: Map<String, Value> = p
                .iter()
                .filter(|(k, _)| !k.starts_with('$') && *k != "token" && *k != "distinct_id")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            out.push(with(base, json!({"type": "custom", "name": n, "props": props})));
        }
    }
}

/// Tags Sightline attributes clicks to (`docs/analytics.md`, "Selector").
const TARGET_TAGS: [&str; 6] = ["a", "button", "input", "select", "textarea", "label"];

/// Classes frameworks toggle, left out of selectors as the snippet does (its `STATE`).
fn state_class(c: &str) -> bool {
    matches!(
        c,
        "active"
            | "show"
            | "showing"
            | "open"
            | "opened"
            | "collapsed"
            | "collapsing"
            | "expanded"
            | "focus"
            | "focused"
            | "hover"
            | "hovered"
            | "selected"
            | "checked"
            | "current"
            | "disabled"
            | "loading"
            | "visible"
            | "hidden"
    ) || c.starts_with("is-")
        || c.starts_with("has-")
}

/// One element of posthog's `$elements_chain`.
#[derive(Debug, Default, PartialEq)]
pub struct ChainElement {
    pub tag: String,
    pub classes: Vec<String>,
    pub id: Option<String>,
    pub nth_of_type: Option<u32>,
    pub href: Option<String>,
    pub role: Option<String>,
}

/// Parse `$elements_chain`: elements from the clicked one up, `;`-separated, each
/// `tag.class1.class2:attr="value"attr2="value"` (posthog's `elementsToString`).
pub fn parse_chain(chain: &str) -> Vec<ChainElement> {
    let mut out = Vec::new();
    let mut rest = chain;
    while !rest.is_empty() {
        // Split at the next `;` outside quotes.
        let (mut in_q, mut esc, mut end) = (false, false, rest.len());
        for (i, c) in rest.char_indices() {
            match c {
                _ if esc => esc = false,
                '\\' => esc = true,
                '"' => in_q = !in_q,
                ';' if !in_q => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        let part = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or("");
        let (head, attrs) = part.split_once(':').unwrap_or((part, ""));
        let mut names = head.split('.');
        let first = names.next().unwrap_or("");
        let (tag, head_id) = first
            .split_once('#')
            .map_or((first, None), |(t, i)| (t, Some(i.to_string())));
        let mut el = ChainElement {
            tag: tag.to_ascii_lowercase(),
            id: head_id,
            classes: names.filter(|c| !c.is_empty()).map(str::to_string).collect(),
            ..Default::default()
        };
        // attr="value" pairs, values with \" escapes.
        let mut a = attrs;
        while let Some(eq) = a.find("=\"") {
            let name = &a[..eq];
            let body = &a[eq + 2..];
            let mut val = String::new();
            let mut close = body.len();
            let mut chars = body.char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            val.push(n);
                        }
                    }
                    '"' => {
                        close = i;
                        break;
                    }
                    c => val.push(c),
                }
            }
            match name {
                "attr__id" | "attr_id" => el.id = Some(val),
                "nth-of-type" => el.nth_of_type = val.parse().ok(),
                "href" | "attr__href" => el.href = el.href.take().or(Some(val)),
                "attr__role" => el.role = Some(val),
                // The class attribute in page order (the head's classes are sorted).
                "attr__class" => el.classes = val.split_whitespace().map(str::to_string).collect(),
                _ => {}
            }
            a = body.get(close + 1..).unwrap_or("");
        }
        if !el.tag.is_empty() {
            out.push(el);
        }
    }
    out
}

/// A plain CSS identifier, the snippet's `IDENT` (`-?[_a-zA-Z][_a-zA-Z0-9-]*`).
fn plain_ident(s: &str) -> bool {
    let t = s.strip_prefix('-').unwrap_or(s);
    let mut c = t.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The Sightline selector of a posthog click (`docs/compat.md`): the nearest `a`, `button`,
/// `input`, `select`, `textarea`, `label` or `[role=button]` in `$elements_chain` (else the
/// clicked element), named like the snippet names it — `#id`, or up to 5 steps
/// `tag.class…:nth-of-type(n)` (classes in page order, from `attr__class`) joined by ` > `,
/// stopping at `body` or at an ancestor with an id. `:nth-of-type(n)` is written for n > 1 (the chain does not say whether a sibling
/// matches). Also the tag and whether the target is a link with an `href`.
pub fn selector_of(p: &Map<String, Value>) -> (String, Option<String>, bool) {
    let chain = match p.get("$elements_chain").and_then(Value::as_str) {
        Some(c) => parse_chain(c),
        None => chain_from_elements(p.get("$elements")),
    };
    let start = chain
        .iter()
        .position(|e| TARGET_TAGS.contains(&e.tag.as_str()) || e.role.as_deref() == Some("button"))
        .unwrap_or(0);
    let Some(target) = chain.get(start) else {
        return (String::new(), None, false);
    };
    let navigates = target.tag == "a"
        && target
            .href
            .as_deref()
            .is_some_and(|h| !h.is_empty() && !h.starts_with('#'));
    if let Some(id) = target.id.as_deref().filter(|i| plain_ident(i)) {
        return (format!("#{id}"), Some(target.tag.clone()), navigates);
    }
    let mut steps = Vec::new();
    for el in chain[start..].iter().take(5) {
        if matches!(el.tag.as_str(), "body" | "html") {
            steps.push(el.tag.clone());
            break;
        }
        if let Some(id) = el.id.as_deref().filter(|i| plain_ident(i)) {
            steps.push(format!("{}#{id}", el.tag));
            break;
        }
        let mut s = el.tag.clone();
        for c in el.classes.iter().filter(|c| !state_class(c) && plain_ident(c)).take(3) {
            s.push('.');
            s.push_str(c);
        }
        if let Some(n) = el.nth_of_type.filter(|n| *n > 1) {
            s.push_str(&format!(":nth-of-type({n})"));
        }
        steps.push(s);
    }
    steps.reverse();
    (steps.join(" > "), Some(target.tag.clone()), navigates)
}

/// The chain from the older `$elements` array (`tag_name`, `attr__class`, `attr__id`,
/// `nth_of_type`, `attr__href`).
fn chain_from_elements(v: Option<&Value>) -> Vec<ChainElement> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .map(|e| ChainElement {
            tag: str_of(e, "tag_name").unwrap_or("").to_ascii_lowercase(),
            classes: e
                .get("attr__class")
                .and_then(Value::as_str)
                .map(|c| c.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default(),
            id: str_of(e, "attr__id").map(str::to_string),
            nth_of_type: e.get("nth_of_type").and_then(Value::as_u64).map(|n| n as u32),
            href: str_of(e, "attr__href").map(str::to_string),
            role: str_of(e, "attr__role").map(str::to_string),
        })
        .filter(|e| !e.tag.is_empty())
        .collect()
}

/// `POST /flags/` (and the older `/decide/`): no feature flags; with `config=true` the
/// remote config as well ([`remote_config`]).
pub async fn flags(req: HttpRequest) -> HttpResponse {
    let mut v = json!({
        "flags": {},
        "featureFlags": {},
        "featureFlagPayloads": {},
        "errorsWhileComputingFlags": false,
        "quotaLimited": [],
    });
    if req.query_string().contains("config=true") {
        if let (Value::Object(a), Value::Object(b)) = (&mut v, remote_config("")) {
            a.extend(b);
        }
    }
    public_json(v)
}

/// The remote config posthog-js reads at start: autocapture on (its clicks and rage clicks
/// start only with `autocapture_opt_out: false`), gzip accepted, everything Sightline does
/// not take off (recordings, heatmaps, dead clicks, exceptions, web vitals, site apps).
/// `surveys` is left out on purpose: posthog-js 1.449 fetches its surveys script for any
/// boolean there, `false` included, and skips it only when the key is absent.
fn remote_config(key: &str) -> Value {
    json!({
        "token": key,
        "supportedCompression": ["gzip", "gzip-js"],
        "hasFeatureFlags": false,
        "autocapture_opt_out": false,
        "autocaptureExceptions": false,
        "captureDeadClicks": false,
        "capturePerformance": false,
        "analytics": {"endpoint": "/e/"},
        "elementsChainAsString": true,
        "sessionRecording": false,
        "heatmaps": false,
        "productTours": false,
        "siteApps": [],
        "defaultIdentifiedOnly": true,
        "toolbarParams": {},
        "isAuthenticated": false,
    })
}

/// `GET /array/{key}/config`: [`remote_config`] as JSON.
pub async fn config_json(key: web::Path<String>, state: web::Data<IngestState>) -> HttpResponse {
    if let Some(unknown) = unknown_key(&state, &key) {
        return unknown;
    }
    public_json(remote_config(&key))
}

/// `404` naming `key` when no site has `key` as its write key or in its `compat_keys` (as
/// analytics.js's settings answer), so a mistyped project key shows at start-up, not only
/// as `401`s on every capture.
fn unknown_key(state: &IngestState, key: &str) -> Option<HttpResponse> {
    if matches!(state.sites.by_compat_key(key), Ok(Some(_))) {
        return None;
    }
    Some(
        HttpResponse::NotFound()
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
            .json(json!({"error": "unknown_site", "field": "key", "reason": "unknown project key (not a site's key or compat_keys entry)"})),
    )
}

/// `GET /array/{key}/config.js`: the same config as the script posthog-js loads, which sets
/// `window._POSTHOG_REMOTE_CONFIG[key]`.
pub async fn config_js(key: web::Path<String>, state: web::Data<IngestState>) -> HttpResponse {
    if let Some(unknown) = unknown_key(&state, &key) {
        return unknown;
    }
    let config = json!({"config": remote_config(&key), "siteApps": []});
    let key_js = serde_json::to_string(key.as_str()).unwrap_or_else(|_| "\"\"".into());
    HttpResponse::Ok()
        .insert_header((actix_web::http::header::CONTENT_TYPE, "application/javascript; charset=utf-8"))
        .insert_header((actix_web::http::header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header((actix_web::http::header::CACHE_CONTROL, "public, max-age=60"))
        .body(format!(
            "(function(){{window._POSTHOG_REMOTE_CONFIG=window._POSTHOG_REMOTE_CONFIG||{{}};window._POSTHOG_REMOTE_CONFIG[{key_js}]={config};}})();"
        ))
}

/// posthog-js's own loader, `dist/array.js` of npm `posthog-js` (the version and licence are in
/// `snippet/vendor/posthog-js/README.md`), embedded unchanged: posthog's HTML snippet loads
/// `api_host + "/static/array.js"`, so a tag whose only change is `api_host` needs it here.
pub const ARRAY_JS: &str = include_str!("../../../snippet/vendor/posthog-js/array.js");

/// `GET /static/{file}`: the posthog-js files its HTML snippet fetches from `api_host`
/// ([`ARRAY_JS`]), with CORS open (the snippet loads it `crossorigin="anonymous"`), gzip when
/// asked. Any other file is a `404` naming `file`: the extensions posthog-js would load lazily
/// (recordings, surveys, …) stay off in [`remote_config`].
pub async fn static_file(file: web::Path<String>) -> HttpResponse {
    match file.as_str() {
        "array.js" => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, "application/javascript; charset=utf-8"))
            .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
            .body(ARRAY_JS),
        other => HttpResponse::NotFound()
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
            .json(json!({"error": "not_found", "field": "file", "reason": format!("no posthog-js file {other} here (only array.js)")})),
    }
}

#[cfg(test)]
mod tests;
