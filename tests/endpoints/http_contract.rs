//! The HTTP contract a new user meets first (issue 18, items 5, 10, 11, 12 and 17): `HEAD`
//! on every `GET` route, `405` with `Allow` for a wrong method, `415` for a body that is not
//! JSON by its content type, syntax errors naming the body, every bad field of an event
//! reported, unknown query parameters refused by name, and a favicon.

use crate::common::*;
use crate::harness::Server;
use reqwest::blocking::Response;
use reqwest::Method;
use serde_json::{json, Value};

/// A request with the token; returns the status, the response (headers) and the JSON body
/// (`Null` when there is none).
fn call(s: &Server, method: &str, path: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let r: Response = s
        .http
        .request(Method::from_bytes(method.as_bytes()).unwrap(), s.url(path))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    let text = r.text().unwrap();
    (status, headers, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn header<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    h.get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
}

#[test]
fn every_get_route_answers_head_and_a_wrong_method_is_405_naming_the_allowed_ones() {
    let s = Server::start(&[]);
    s.site("shop", &["https://shop.example"]);

    // HEAD: the status and headers of GET, no body.
    for path in ["/s.js", "/healthz", "/v1/sites/shop/config", "/dashboard/app.js"] {
        let get = s.http.get(s.url(path)).send().unwrap();
        let (get_status, get_type) = (get.status().as_u16(), header(get.headers(), "content-type").to_string());
        let get_len = get.bytes().unwrap().len();
        let head = s.http.head(s.url(path)).send().unwrap();
        assert_eq!(head.status().as_u16(), get_status, "HEAD {path}");
        assert_eq!(header(head.headers(), "content-type"), get_type, "HEAD {path}");
        assert_eq!(
            header(head.headers(), "content-length"),
            get_len.to_string(),
            "HEAD {path}"
        );
        assert!(head.bytes().unwrap().is_empty(), "HEAD {path} sent a body");
    }
    // HEAD goes through the same checks as GET.
    let anon = s.http.head(s.url("/v1/sites/shop/pages")).send().unwrap();
    assert_eq!(anon.status().as_u16(), 401);
    assert_eq!(call(&s, "HEAD", "/v1/sites/shop/pages").0, 200);

    // A known path with a method it does not answer: 405, Allow, the house error naming it.
    for (method, path, allow) in [
        ("POST", "/healthz", "GET, HEAD"),
        ("DELETE", "/s.js", "GET, HEAD"),
        ("GET", "/v1/events", "POST, OPTIONS"),
        ("PUT", "/v1/events", "POST, OPTIONS"),
        ("DELETE", "/v1/sites", "GET, HEAD, POST"),
        ("GET", "/v1/tokens/some-id", "DELETE"),
        ("POST", "/v1/sites/shop/journeys", "GET, HEAD"),
        ("POST", "/dashboard/app.js", "GET, HEAD"),
    ] {
        let (status, h, body) = call(&s, method, path);
        assert_eq!(status, 405, "{method} {path}: {body}");
        assert_eq!(header(&h, "allow"), allow, "{method} {path}");
        assert_eq!(body["error"], "method_not_allowed", "{method} {path}");
        assert_eq!(body["field"], "method");
        let reason = body["reason"].as_str().unwrap();
        assert!(
            reason.contains(method) && reason.contains(allow),
            "{method} {path}: {reason}"
        );
    }
    // HEAD on a path without GET is a wrong method too (no body to read).
    let (status, h, _) = call(&s, "HEAD", "/v1/events");
    assert_eq!((status, header(&h, "allow")), (405, "POST, OPTIONS"));

    // Unknown paths stay a JSON 404, whatever the method.
    for method in ["GET", "POST", "DELETE"] {
        let (status, _, body) = call(&s, method, "/v1/nothing-here");
        assert_eq!(status, 404, "{method}");
        assert_eq!(body["error"], "not_found");
        assert_eq!(body["field"], "path");
        assert!(body["reason"].as_str().unwrap().contains(method));
    }
    assert_eq!(call(&s, "HEAD", "/v1/nothing-here").0, 404);
}

#[test]
fn the_favicon_is_a_small_cached_icon() {
    let s = Server::start(&[]);
    let r = s.http.get(s.url("/favicon.ico")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(header(r.headers(), "content-type"), "image/svg+xml");
    assert!(header(r.headers(), "cache-control").contains("max-age="));
    let body = r.text().unwrap();
    assert!(body.starts_with("<svg") && body.len() < 2048, "{body}");
    assert_eq!(
        s.http.head(s.url("/favicon.ico")).send().unwrap().status().as_u16(),
        200
    );
}

/// `sightline_requests_refused_total{cause="content_type"}` in a `/metrics` text (0 when absent).
fn refused_content_type(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(r#"sightline_requests_refused_total{cause="content_type"} "#))
        .map_or(0, |v| v.trim().parse().unwrap())
}

#[test]
fn ingest_refuses_bodies_that_are_not_json_by_content_type_with_415() {
    let s = Server::start(&[]);
    s.site("shop", &["https://shop.example"]);
    let ev = || event("pageview", "s1", "https://shop.example/", now_ms(), json!({}));
    let body = || serde_json::to_vec(&batch("shop", vec![ev()])).unwrap();

    let refused = [
        "application/xml",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ];
    // The registry is the test process's, shared with the suite's other servers: count the
    // refusals from here (no other test of the suite sends these content types).
    let before = refused_content_type(&s.metrics());
    for ct in refused {
        let (status, r) = s.post_raw(body(), &[("content-type", ct)], "");
        assert_eq!(status, 415, "{ct}: {r}");
        assert_eq!(r["error"], "content_type", "{ct}");
        assert_eq!(r["field"], "content-type");
        let reason = r["reason"].as_str().unwrap();
        assert!(
            reason.contains(ct) && reason.contains("application/json") && reason.contains("text/plain"),
            "{ct}: {reason}"
        );
    }
    assert_eq!(
        refused_content_type(&s.metrics()) - before,
        refused.len() as u64,
        "the refusals are counted"
    );

    // JSON (with a charset or not), sendBeacon's text/plain, and no content type at all.
    for headers in [
        vec![("content-type", "application/json")],
        vec![("content-type", "Application/JSON; charset=utf-8")],
        vec![("content-type", "text/plain;charset=UTF-8")],
        vec![],
    ] {
        let (status, r) = s.post_raw(body(), &headers, "");
        assert_eq!(status, 202, "{headers:?}: {r}");
        assert_eq!(r["accepted"], 1);
    }

    // The import endpoint reads the same JSON body and follows the same rule.
    let import = |ct: &str| {
        let r = s
            .http
            .post(s.url("/v1/sites/shop/import"))
            .bearer_auth(TOKEN)
            .header("content-type", ct)
            .body(serde_json::to_vec(&json!({"events": [ev()]})).unwrap())
            .send()
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().unwrap())
    };
    let (status, r) = import("application/xml");
    assert_eq!((status, r["field"].as_str()), (415, Some("content-type")), "{r}");
    let (status, r) = import("application/json");
    assert_eq!(status, 202, "{r}");
}

#[test]
fn a_body_refused_for_its_content_type_is_counted_and_kept_as_a_dead_letter() {
    let s = Server::start(&[]);
    s.site("shop", &["https://shop.example"]);
    let xml = "<events><event type=\"pageview\" mail=\"jo.doe@mail.example\"/></events>";
    let form = "site=shop&events=%5B%5D";
    for (ct, body) in [("application/xml", xml), ("application/x-www-form-urlencoded", form)] {
        let (status, r) = s.post_raw(body.as_bytes().to_vec(), &[("content-type", ct)], "");
        assert_eq!((status, r["field"].as_str()), (415, Some("content-type")), "{ct}: {r}");
    }
    let m = s.metrics();
    assert!(
        m.contains(r#"sightline_requests_refused_total{cause="content_type"} 2"#),
        "the refusals are counted"
    );
    // Each is kept with a sample of its body (PII-scrubbed), stage `request`, field
    // `content-type`, the reason as answered.
    let letters = s.get("/v1/admin/deadletters?limit=100");
    let kept: Vec<&Value> = letters
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["stage"] == "request" && d["field"] == "content-type")
        .collect();
    assert_eq!(kept.len(), 2, "{letters}");
    for d in &kept {
        let raw = d["raw"].as_str().unwrap();
        assert!(raw.starts_with("<events>") || raw.starts_with("site=shop"), "{raw}");
        assert!(!raw.contains("jo.doe"), "scrubbed: {raw}");
        assert!(
            d["reason"].as_str().unwrap().contains("unsupported content type"),
            "{d}"
        );
    }
}

#[test]
fn a_json_syntax_error_names_the_body_with_line_and_column() {
    let s = Server::start(&[]);
    s.site("shop", &["https://shop.example"]);
    // The parser stops inside `name`'s object member: still the body's fault, not `name`'s.
    for (path, body) in [
        ("/v1/sites", "{\"name\": \"x\",\n \"origins\": [}"),
        ("/v1/sites", "{\"name\": \"x\""),
        ("/v1/tokens", "{\"name\": \"ci\" \"scope\": \"read\"}"),
        ("/v1/sites/shop", "{\"name\": tru}"),
    ] {
        let method = if path == "/v1/sites/shop" { "PATCH" } else { "POST" };
        let r = s
            .http
            .request(Method::from_bytes(method.as_bytes()).unwrap(), s.url(path))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{method} {path} {body}");
        let v: Value = r.json().unwrap();
        assert_eq!(v["error"], "bad_request");
        assert_eq!(v["field"], "body", "{method} {path} {body}: {v}");
        let reason = v["reason"].as_str().unwrap();
        assert!(reason.contains("line ") && reason.contains("column "), "{reason}");
    }
    // A well-formed body with a bad field still names the field.
    let r = s
        .http
        .post(s.url("/v1/sites"))
        .bearer_auth(TOKEN)
        .body(r#"{"name": 5}"#)
        .send()
        .unwrap();
    assert_eq!(r.json::<Value>().unwrap()["field"], "name");
    // Ingest too.
    let (status, r) = s.post_raw(b"{\"site\": \"shop\", \"events\": [{\"id\": }]}".to_vec(), &[], "");
    assert_eq!(status, 400);
    assert_eq!(r["field"], "body");
    assert!(r["reason"].as_str().unwrap().contains("column "), "{r}");
}

#[test]
fn a_rejected_event_reports_every_bad_field() {
    let s = Server::start(&[]);
    s.site("shop", &["https://shop.example"]);
    let good = event("pageview", "s1", "https://shop.example/", now_ms(), json!({}));
    let mut many = event(
        "click",
        "s1",
        "https://shop.example/",
        now_ms(),
        json!({"id": "not-a-uuid", "x": -5, "y": 10}),
    );
    many.as_object_mut().unwrap().remove("url");
    let one = event("scroll", "s1", "https://shop.example/", now_ms(), json!({"depth": 150}));
    // A time refused by the age rule (checked after validation) is listed with the others.
    let old = event("pageview", "s1", "nope", 1, json!({"id": "not-a-uuid"}));
    let (status, r) = s.post(&batch("shop", vec![good, many, one, old]));
    assert_eq!(status, 202, "{r}");
    assert_eq!(r["accepted"], 1);
    let rejected = r["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 3, "{r}");
    let e = &rejected[2];
    assert_eq!(
        e["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["field"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["id", "ts", "url"],
        "{e}"
    );
    assert_eq!(
        e["errors"][1]["reason"],
        "older than 31 days; import history with `sightline import` instead"
    );

    // Every problem, in field order; the first is also `field`/`reason` as before.
    let e = &rejected[0];
    assert_eq!(e["index"], 1);
    let fields: Vec<&str> = e["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["id", "url", "x", "selector"], "{e}");
    assert_eq!(e["field"], "id");
    assert_eq!(e["reason"], e["errors"][0]["reason"]);
    assert_eq!(
        e["errors"][2]["reason"],
        "must be 0..=1000000 CSS px (page coordinates)"
    );
    assert_eq!(e["errors"][3]["reason"], "missing");

    // One bad field: the same shape, one entry.
    let e = &rejected[1];
    assert_eq!((e["index"].as_u64(), e["field"].as_str()), (Some(2), Some("depth")));
    assert_eq!(e["errors"], json!([{"field": "depth", "reason": e["reason"]}]));

    // An unknown type is reported with the other bad fields.
    let mut odd = event("hover", "s2", "https://shop.example/", now_ms(), json!({}));
    odd.as_object_mut().unwrap().remove("session_id");
    let (status, r) = s.post(&batch("shop", vec![odd]));
    assert_eq!(status, 400, "{r}");
    let errors = &r["rejected"][0]["errors"];
    assert_eq!(errors[0]["field"], "session_id", "{r}");
    assert_eq!(errors[1]["field"], "type", "{r}");
}

#[test]
fn unknown_query_parameters_are_refused_naming_them() {
    let s = Server::start(&[]);
    s.site("shop", &["https://shop.example"]);
    let range = today_range();

    // The finding: a typo was ignored and the report silently unfiltered.
    let (status, _, body) = call(&s, "GET", "/v1/sites/shop/journeys?devise=mobile");
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "bad_request");
    assert_eq!(body["field"], "devise");
    let reason = body["reason"].as_str().unwrap();
    for known in ["from", "to", "device", "bots", "entry"] {
        assert!(reason.contains(known), "{reason}");
    }

    // Every report, with all of its parameters (those of every struct it reads) accepted,
    // and one more refused.
    for path in [
        format!("/v1/sites/shop/heatmap?{range}&device=mobile&bots=include&url=/"),
        format!("/v1/sites/shop/heatmap/compare?{range}&url=/&from2=2026-01-01&to2=2026-01-02"),
        format!("/v1/sites/shop/zones?{range}&url=/"),
        format!("/v1/sites/shop/problems?{range}&limit=5"),
        format!("/v1/sites/shop/sessions?{range}&page=/&has=rage&limit=5"),
        format!("/v1/sites/shop/journeys?{range}&entry=/"),
        format!("/v1/sites/shop/pages?{range}"),
        format!("/v1/sites/shop/funnel?{range}&steps=/,/cart&window=1h&count=visitors"),
        format!("/v1/sites/shop/voc?{range}&survey=s&q=x&page=/&category=bug&rating=1-2&limit=5"),
        "/v1/sites/shop/stats?visitor=v1".to_string(),
        "/v1/admin/deadletters?limit=5".to_string(),
    ] {
        let (status, _, body) = call(&s, "GET", &path);
        assert_eq!(status, 200, "{path}: {body}");
        let (status, _, body) = call(&s, "GET", &format!("{path}&colour=red"));
        assert_eq!(status, 400, "{path}&colour=red: {body}");
        assert_eq!(body["field"], "colour", "{path}");
        assert!(body["reason"].as_str().unwrap().contains("known: "), "{body}");
    }
    // A route without query parameters names none.
    let (status, _, body) = call(&s, "GET", "/v1/sites?verbose=1");
    assert_eq!((status, body["field"].as_str()), (400, Some("verbose")), "{body}");
    assert!(body["reason"].as_str().unwrap().ends_with("known: none"), "{body}");

    // A repeated parameter is a house-format 400 too, naming the parameter.
    let (status, _, body) = call(&s, "GET", "/v1/sites/shop/pages?from=2026-01-01&from=2026-01-02");
    assert_eq!(status, 400);
    assert_eq!(body["error"], "bad_request", "{body}");
    assert_eq!(body["field"], "from");
    assert!(body["reason"].as_str().unwrap().contains("more than once"), "{body}");

    // The snippet, ingest and operations routes ignore extra parameters (cache busters).
    assert_eq!(s.http.get(s.url("/s.js?v=3")).send().unwrap().status().as_u16(), 200);
    assert_eq!(
        s.http.get(s.url("/healthz?probe=lb")).send().unwrap().status().as_u16(),
        200
    );
}

#[test]
fn every_route_of_an_unknown_site_is_a_404_naming_key() {
    let s = Server::start(&[]);
    s.site("shop", &["https://shop.example"]);
    // The finding: `/stats` answered 200 with zeros for a site that never existed.
    for path in [
        "/v1/sites/never/stats",
        "/v1/sites/never/stats?visitor=v1",
        "/v1/sites/never/pages",
        "/v1/sites/never/sessions/s1",
    ] {
        let (status, _, body) = call(&s, "GET", path);
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(
            (body["field"].as_str(), body["reason"].as_str()),
            (Some("key"), Some("no site with key never")),
            "{path}"
        );
    }
    // Admin routes with a body or a confirmation: the unknown site comes first, even when
    // the body (empty here) or the missing `confirm` would be refused too (re-check trial).
    for (method, path) in [
        ("PUT", "/v1/sites/never/surveys/s1"),
        ("POST", "/v1/sites/never/forget"),
        ("PATCH", "/v1/sites/never"),
        ("DELETE", "/v1/sites/never"),
        ("POST", "/v1/sites/never/overlay"),
    ] {
        let (status, _, body) = call(&s, method, path);
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert_eq!(body["field"], "key", "{method} {path}: {body}");
    }
    let (status, _, _) = call(&s, "GET", "/v1/sites/shop/stats");
    assert_eq!(status, 200);
}
