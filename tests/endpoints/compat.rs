//! Issue 20: the posthog-js and Segment analytics.js routes (`docs/compat.md`).
//!
//! - The request bodies recorded from the real clients in Chromium (`tests/compat/*.json`,
//!   written by `COMPAT_RECORD=tests/compat node tests/e2e/compat.mjs`) are replayed twice:
//!   the first time every mapped event is accepted, the retry is all duplicates, and the
//!   warehouse holds each event once. The recordings' times are moved to now (the same shift
//!   for every time in a body, which is then encoded again the way it was recorded: plain,
//!   gzip, base64 form), so the test does not depend on the date it runs.
//! - Keys are validated naming the entry, identity links skip junk ids, funnels count persons
//!   through identify links, and posthog's HTML snippet gets its loader.
//!
//! Through the router in process, in both passes. Bad bodies (whose refusals are read from
//! `/metrics`, one registry per test process) and the real clients in Chromium run on the
//! binary: `tests/compat.rs`.

use crate::common::*;
use crate::harness::Server;
use base64::Engine;
use serde_json::{json, Value};
use std::io::Read;

/// One recorded request.
struct Recorded {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    at: i64,
}

fn load(client: &str) -> (Value, Vec<Recorded>) {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/compat/{client}.json"));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    let reqs = v["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| Recorded {
            method: r["method"].as_str().unwrap().to_string(),
            path: r["path"].as_str().unwrap().to_string(),
            headers: r["headers"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect(),
            body: r["body"]
                .as_str()
                .map(|b| base64::engine::general_purpose::STANDARD.decode(b).unwrap()),
            at: r["at"].as_i64().unwrap(),
        })
        .collect();
    (v, reqs)
}

const DAY_MS: i64 = 86_400_000;

/// Move every time of `v` near `around` (ISO 8601 strings and ms numbers within a day of
/// it) by `shift` ms.
fn shift_times(v: &mut Value, around: i64, shift: i64) {
    match v {
        Value::String(s) => {
            if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
                let ms = t.timestamp_millis();
                if (ms - around).abs() < DAY_MS {
                    let moved = chrono::DateTime::from_timestamp_millis(ms + shift).unwrap();
                    *s = moved.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                }
            }
        }
        Value::Number(n) => {
            if let Some(ms) = n.as_i64() {
                if (ms - around).abs() < DAY_MS {
                    *v = json!(ms + shift);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| shift_times(x, around, shift)),
        Value::Object(o) => o.values_mut().for_each(|x| shift_times(x, around, shift)),
        _ => {}
    }
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(b).read_to_end(&mut out).unwrap();
    out
}

/// How a recorded body was encoded.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Encoding {
    Json,
    Gzip,
    Base64Form,
    Form,
}

/// The body's JSON and its encoding.
fn decode_body(r: &Recorded) -> (Value, Encoding) {
    let body = r.body.as_deref().unwrap();
    let form = r
        .headers
        .iter()
        .any(|(k, v)| k == "content-type" && v.starts_with("application/x-www-form-urlencoded"));
    if form || body.starts_with(b"data=") {
        let data = url::form_urlencoded::parse(body)
            .find(|(k, _)| k == "data")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        if data.starts_with('{') || data.starts_with('[') {
            return (serde_json::from_str(&data).unwrap(), Encoding::Form);
        }
        let bytes = base64::engine::general_purpose::STANDARD.decode(data.trim()).unwrap();
        return (serde_json::from_slice(&bytes).unwrap(), Encoding::Base64Form);
    }
    if body.starts_with(&[0x1f, 0x8b]) {
        return (serde_json::from_slice(&gunzip(body)).unwrap(), Encoding::Gzip);
    }
    (serde_json::from_slice(body).unwrap(), Encoding::Json)
}

fn encode_body(v: &Value, enc: Encoding) -> Vec<u8> {
    let text = serde_json::to_vec(v).unwrap();
    match enc {
        Encoding::Json => text,
        Encoding::Gzip => gzip(&text),
        Encoding::Form => url::form_urlencoded::Serializer::new(String::new())
            .append_pair("data", std::str::from_utf8(&text).unwrap())
            .finish()
            .into_bytes(),
        Encoding::Base64Form => url::form_urlencoded::Serializer::new(String::new())
            .append_pair("data", &base64::engine::general_purpose::STANDARD.encode(&text))
            .finish()
            .into_bytes(),
    }
}

/// A recorded request made current: times moved by `shift`, the query's `_`/`sent_at` too.
fn replayable(r: &Recorded, shift: i64) -> (String, Option<Vec<u8>>, Encoding) {
    let mut path = r.path.clone();
    if let Some((p, q)) = r.path.split_once('?') {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| {
                let v = match v.parse::<i64>() {
                    Ok(ms) if (ms - r.at).abs() < DAY_MS => (ms + shift).to_string(),
                    _ => v.into_owned(),
                };
                (k.into_owned(), v)
            })
            .collect();
        let q = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        path = format!("{p}?{q}");
    }
    match &r.body {
        None => (path, None, Encoding::Json),
        Some(_) => {
            let (mut v, enc) = decode_body(r);
            shift_times(&mut v, r.at, shift);
            (path, Some(encode_body(&v, enc)), enc)
        }
    }
}

fn send(s: &Server, r: &Recorded, origin: &str, path: &str, body: Option<Vec<u8>>) -> (u16, Value) {
    let url = s.url(path);
    let mut rb = match r.method.as_str() {
        "GET" => s.http.get(url),
        "POST" => s.http.post(url),
        m => panic!("unexpected method {m}"),
    };
    rb = rb.header("origin", origin).header("user-agent", HUMAN_UA);
    for (k, v) in &r.headers {
        rb = rb.header(k.as_str(), v.as_str());
    }
    if let Some(b) = body {
        rb = rb.body(b);
    }
    let resp = rb.send().unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Replays every recorded request of `client` twice; returns (accepted, ignored, encodings seen).
fn replay_twice(s: &Server, client: &str) -> (u64, u64, Vec<Encoding>) {
    let (fixture, reqs) = load(client);
    let key = fixture["key"].as_str().unwrap();
    let origin = fixture["origin"].as_str().unwrap();
    s.site_with(json!({"name": client, "origins": [origin], "settings": {"compat_keys": [key]}}));
    let shift = now_ms() - reqs.iter().map(|r| r.at).min().unwrap();
    let mut totals = (0, 0, 0);
    let mut encodings = Vec::new();
    for r in &reqs {
        let (path, body, enc) = replayable(r, shift);
        let (st1, a1) = send(s, r, origin, &path, body.clone());
        assert_eq!(st1, 200, "{client} {} {}: {a1}", r.method, r.path);
        if r.method == "GET" || !a1.get("accepted").is_some() {
            continue; // config, flags, settings, metrics
        }
        encodings.push(enc);
        assert_eq!(a1["rejected"], json!([]), "{client} {}: {a1}", r.path);
        assert_eq!(a1["duplicates"], 0, "{client} {}: {a1}", r.path);
        // The retry: the same events, each a duplicate.
        let (st2, a2) = send(s, r, origin, &path, body);
        assert_eq!(st2, 200, "{client} retry {}: {a2}", r.path);
        assert_eq!(a2["accepted"], 0, "{client} retry {}: {a2}", r.path);
        assert_eq!(a2["duplicates"], a1["accepted"], "{client} retry {}: {a2}", r.path);
        totals.0 += a1["accepted"].as_u64().unwrap();
        totals.1 += a1["ignored"].as_u64().unwrap();
        totals.2 += 1;
    }
    (totals.0, totals.1, encodings)
}

/// The counts of the recordings, checked by hand against the scenario of
/// `tests/e2e/compat.mjs` (see `tests/compat/README.md`).
fn expected(client: &str) -> (u64, u64) {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/expected.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    (
        v[client]["accepted"].as_u64().unwrap(),
        v[client]["ignored"].as_u64().unwrap(),
    )
}

/// Replay `client`'s recording twice on a fresh server, check the counts against
/// `expected.json` and that the warehouse holds each event once; returns the encodings seen.
fn replay_checked(client: &str) -> Vec<Encoding> {
    let s = Server::start(&[]);
    let (accepted, ignored, encodings) = replay_twice(&s, client);
    assert_eq!((accepted, ignored), expected(client));
    let site = s.get("/v1/sites")[0]["key"].as_str().unwrap().to_string();
    s.settle(&site, accepted);
    encodings
}

#[test]
fn recorded_posthog_bodies_are_accepted_exactly_once_on_retry() {
    // The recording has the client's gzip bodies (no Content-Encoding) and its page-hide beacons.
    let encodings = replay_checked("posthog");
    assert!(encodings.contains(&Encoding::Gzip), "{encodings:?}");
}

#[test]
fn recorded_uncompressed_posthog_bodies_and_base64_beacons_are_accepted_exactly_once_on_retry() {
    let encodings = replay_checked("posthog-plain");
    assert!(encodings.contains(&Encoding::Json), "{encodings:?}");
    assert!(encodings.contains(&Encoding::Base64Form), "{encodings:?}");
}

#[test]
fn recorded_segment_bodies_are_accepted_exactly_once_on_retry() {
    replay_checked("segment");
}

/// Post Segment calls to `/v1/batch` and check the (accepted, ignored) counts.
fn segment_batch(s: &Server, key: &str, batch: Vec<Value>, want: (u64, u64)) {
    let body = json!({"writeKey": key, "batch": batch});
    let (st, b) = s.post_to(
        "/v1/batch",
        body.to_string().as_bytes(),
        &[("content-type", "text/plain")],
    );
    assert_eq!(st, 200, "{b}");
    assert_eq!(
        (b["accepted"].as_u64(), b["ignored"].as_u64()),
        (Some(want.0), Some(want.1)),
        "{b}"
    );
}

#[test]
fn compat_keys_are_validated_naming_the_entry() {
    let s = Server::start(&[]);
    for (keys, field) in [
        (json!(["ok_key", "has space"]), "settings.compat_keys[1]"),
        (json!([""]), "settings.compat_keys[0]"),
        (json!(["k", "k"]), "settings.compat_keys[1]"),
    ] {
        let r = s
            .http
            .post(s.url("/v1/sites"))
            .bearer_auth(TOKEN)
            .json(&json!({"name": "x", "settings": {"compat_keys": keys}}))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 400);
        assert_eq!(r.json::<Value>().unwrap()["field"], field);
    }

    // A key may mean one site only: a clash is refused when the site is saved (409 naming
    // the field), not found later on the live events of both sites.
    s.site_with(json!({"name": "one", "key": "sl_one", "settings": {"compat_keys": ["phc_one"]}}));
    let send = |method: reqwest::Method, path: &str, body: Value| {
        let r = s
            .http
            .request(method, s.url(path))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().unwrap())
    };
    for (body, field) in [
        (
            json!({"name": "two", "key": "sl_two", "settings": {"compat_keys": ["phc_one"]}}),
            "settings.compat_keys[0]",
        ),
        (
            json!({"name": "two", "key": "sl_two", "settings": {"compat_keys": ["x", "sl_one"]}}),
            "settings.compat_keys[1]",
        ),
        (json!({"name": "two", "key": "phc_one"}), "key"),
    ] {
        let (status, b) = send(reqwest::Method::POST, "/v1/sites", body);
        assert_eq!((status, b["field"].as_str()), (409, Some(field)), "{b}");
    }
    let (status, _) = send(
        reqwest::Method::POST,
        "/v1/sites",
        json!({"name": "two", "key": "sl_two"}),
    );
    assert_eq!(status, 201);
    let (status, b) = send(
        reqwest::Method::PATCH,
        "/v1/sites/sl_two",
        json!({"settings": {"compat_keys": ["phc_one"]}}),
    );
    assert_eq!(
        (status, b["field"].as_str()),
        (409, Some("settings.compat_keys[0]")),
        "{b}"
    );
    assert_eq!(b["reason"], "already means site sl_one");
    // Its own keys again are no clash.
    let (status, _) = send(
        reqwest::Method::PATCH,
        "/v1/sites/sl_one",
        json!({"settings": {"compat_keys": ["phc_one", "phc_more"]}}),
    );
    assert_eq!(status, 200);
}

#[test]
fn identity_links_skip_junk_ids_at_ingest() {
    let s = Server::start(&[]);
    s.site_with(json!({"name": "seg", "key": "sl_seg", "origins": ["*"], "settings": {"compat_keys": ["wk_seg"]}}));
    let ts = chrono::DateTime::from_timestamp_millis(now_ms())
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let call = |id: &str, anon: &str, user: &str| {
        json!({"type": "identify", "messageId": id, "anonymousId": anon, "userId": user, "timestamp": ts,
               "context": {"page": {"url": "http://shop.test/"}}})
    };
    let mut batch = vec![call("m-ok", "a-123", "carol"), call("m-ok2", "a-123", "dave")];
    for (i, j) in ["undefined", "null", "None", "NaN", "0", "[object Object]", "anonymous"]
        .iter()
        .enumerate()
    {
        batch.push(call(&format!("m-j{i}"), j, "alice"));
    }
    batch.push(call("m-empty-user", "a-9", ""));
    segment_batch(&s, "wk_seg", batch, (2, 8));
    s.settle("sl_seg", 2);
}

/// `funnel?count=persons` (C9 in the team's case file): one user on two devices is one
/// person; a shared anonymous id identified as carol, then (an hour later, a new session)
/// as dave, stays two people; junk ids link nothing; an undone link stops applying.
#[test]
fn funnel_counts_persons_through_identify_links_c9() {
    let s = Server::start(&[]);
    s.site_with(
        json!({"name": "seg", "key": "sl_people", "origins": ["*"], "settings": {"compat_keys": ["wk_people"]}}),
    );
    let t0 = now_ms() - 3 * 3_600_000;
    let iso = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let page = |id: &str, anon: &str, ts: i64| {
        json!({"type": "page", "messageId": id, "anonymousId": anon, "timestamp": iso(ts),
               "context": {"page": {"url": "http://shop.test/"}}})
    };
    let identify = |id: &str, anon: &str, user: &str, ts: i64| {
        json!({"type": "identify", "messageId": id, "anonymousId": anon, "userId": user, "timestamp": iso(ts),
               "context": {"page": {"url": "http://shop.test/"}}})
    };
    let batch = vec![
        // alice on her laptop and her phone
        page("p1", "laptop", t0),
        identify("i1", "laptop", "alice", t0 + 1000),
        page("p2", "phone", t0 + 2000),
        identify("i2", "phone", "alice", t0 + 3000),
        // a shared kiosk: carol, then an hour later dave
        page("p3", "kiosk", t0),
        identify("i3", "kiosk", "carol", t0 + 1000),
        page("p4", "kiosk", t0 + 3_600_000),
        identify("i4", "kiosk", "dave", t0 + 3_601_000),
        // two people behind the junk id "undefined": never linked
        page("p5", "undefined", t0),
        identify("i5", "undefined", "erin", t0 + 1000),
        identify("i6", "undefined", "frank", t0 + 2000),
    ];
    segment_batch(&s, "wk_people", batch, (9, 2));
    s.settle("sl_people", 9);
    let day = chrono::DateTime::from_timestamp_millis(t0).unwrap().date_naive();
    let range = format!("from={day}&to={}", day.succ_opt().unwrap().succ_opt().unwrap());
    let funnel = |count: &str| {
        s.get(&format!(
            "/v1/sites/sl_people/funnel?{range}&steps=shop.test/&count={count}"
        ))
    };
    let f = funnel("persons");
    // sessions: laptop, phone, kiosk ×2, undefined = 5; visitors: laptop, phone, kiosk,
    // undefined = 4; persons: alice, carol, dave, "undefined" = 4.
    assert_eq!(f["steps"][0]["sessions"], 5, "{f}");
    assert_eq!(f["steps"][0]["visitors"], 4, "{f}");
    assert_eq!(f["steps"][0]["persons"], 4, "{f}");
    assert_eq!(f["steps"][0]["count"], 4, "{f}");
    assert_eq!(funnel("visitors")["steps"][0]["persons"], Value::Null);
    // Undo alice's phone link: the phone is its own person again (5).
    let phone_link = sightline::ingest::compat::event_id("segment", "wk_people", "i2");
    let r = s
        .http
        .patch(s.url("/v1/sites/sl_people"))
        .bearer_auth(TOKEN)
        .json(&json!({"settings": {"compat_keys": ["wk_people"], "identity_undo": [phone_link]}}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap());
    assert_eq!(funnel("persons")["steps"][0]["persons"], 5);
}

/// posthog's HTML snippet loads `api_host + "/static/array.js"`: Sightline serves posthog-js's
/// own loader there (vendored, the pinned npm version), so the unchanged tag works; nothing
/// else under `/static/` is served, and the remote config leaves `surveys` out so posthog-js
/// does not fetch its surveys script (the compat trial saw console errors for it).
#[test]
fn posthogs_html_snippet_gets_its_loader_and_no_extension_is_asked_for() {
    let s = Server::start(&[]);
    let vendored = std::fs::read("snippet/vendor/posthog-js/array.js").unwrap();
    let pinned = std::fs::read("tests/e2e/node_modules/posthog-js/dist/array.js")
        .expect("npm ci --prefix tests/e2e (scripts/test does it)");
    assert!(
        vendored == pinned,
        "snippet/vendor/posthog-js/array.js is not the pinned posthog-js's dist/array.js"
    );
    let lock: Value = serde_json::from_slice(&std::fs::read("tests/e2e/package-lock.json").unwrap()).unwrap();
    let version = lock["packages"]["node_modules/posthog-js"]["version"]
        .as_str()
        .unwrap()
        .to_string();
    let readme = std::fs::read_to_string("snippet/vendor/posthog-js/README.md").unwrap();
    assert!(
        readme.contains(&format!("posthog-js {version}")),
        "README names another version than {version}"
    );

    let r = s
        .http
        .get(s.url("/static/array.js"))
        .header("accept-encoding", "gzip")
        .header("origin", "https://shop.example")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "application/javascript; charset=utf-8");
    assert_eq!(h["access-control-allow-origin"], "*");
    assert_eq!(h["content-encoding"], "gzip");
    let body = r.bytes().unwrap(); // reqwest without its gzip feature: the raw gzip bytes
    assert!(body.len() < vendored.len() / 2, "{} bytes gzipped", body.len());
    assert!(gunzip(&body) == vendored);

    let r = s.http.get(s.url("/static/1.449.2/surveys.js")).send().unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let r = s.http.get(s.url("/static/surveys.js?v=1.449.2")).send().unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let v: Value = r.json().unwrap();
    assert_eq!(v["field"], "file", "{v}");

    s.site_with(json!({"name": "ph", "key": "sl_ph", "origins": ["https://shop.example"], "settings": {"compat_keys": ["phc_known"]}}));
    for key in ["phc_known", "sl_ph"] {
        let config = s.get(&format!("/array/{key}/config"));
        assert!(config.get("surveys").is_none(), "{config}");
        assert_eq!(config["sessionRecording"], false);
        let r = s.http.get(s.url(&format!("/array/{key}/config.js"))).send().unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    // A project key no site has: 404 naming key at start-up, as analytics.js's settings.
    for path in ["/array/phc_unknown/config", "/array/phc_unknown/config.js"] {
        let r = s.http.get(s.url(path)).send().unwrap();
        assert_eq!(r.status().as_u16(), 404, "{path}");
        let v: Value = r.json().unwrap();
        assert_eq!(v["field"], "key", "{path}: {v}");
    }
}

/// Issue 22: events from a tracker get their segment too, from what the client sends (the
/// page URL's UTM, the referrer) and the request (browser, OS, Accept-Language).
#[test]
fn tracker_page_views_get_their_segment() {
    let s = Server::start(&[]);
    s.site_with(json!({"name": "seg", "key": "sl_segc", "origins": ["*"], "settings": {"compat_keys": ["wk_segc"]}}));
    let t0 = now_ms() - 3_600_000;
    let iso = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let page = |id: &str, anon: &str, url: &str, referrer: &str, ts: i64| {
        json!({"type": "page", "messageId": id, "anonymousId": anon, "timestamp": iso(ts),
               "context": {"page": {"url": url, "referrer": referrer}}})
    };
    let batch = vec![
        page(
            "p1",
            "a",
            "http://shop.test/?utm_source=fb&utm_medium=paid_social&utm_campaign=Launch",
            "https://m.facebook.com/",
            t0,
        ),
        page("p2", "b", "http://shop.test/", "https://duckduckgo.com/", t0 + 1000),
    ];
    segment_batch(&s, "wk_segc", batch, (2, 0));
    s.settle("sl_segc", 2);
    let day = chrono::DateTime::from_timestamp_millis(t0).unwrap().date_naive();
    let range = format!("from={day}&to={day}");
    let d = &s.get(&format!("/v1/sites/sl_segc/segments?{range}"))["dimensions"];
    let one = |v: &str| json!({"value": v, "sessions": 1});
    assert_eq!(d["channel"], json!([one("paid"), one("search")]));
    assert_eq!(d["referrer"], json!([one("duckduckgo.com"), one("m.facebook.com")]));
    assert_eq!(d["utm_campaign"], json!([one(""), one("launch")]));
    // HUMAN_UA: Chrome on Linux.
    assert_eq!(d["browser"], json!([{"value": "Chrome", "sessions": 2}]));
    assert_eq!(d["os"], json!([{"value": "Linux", "sessions": 2}]));
    let p = s.get(&format!("/v1/sites/sl_segc/pages?{range}&channel=search"));
    assert_eq!(p["pages"][0]["pageviews"].as_u64(), Some(1));
}
