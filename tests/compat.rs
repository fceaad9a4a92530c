//! Issue 20: the posthog-js and Segment analytics.js routes (`docs/compat.md`) on the real
//! binary:
//! - Bad bodies are refused with the field named, counted (this process's own `/metrics`)
//!   and dead-lettered.
//! - The real clients in Chromium (`tests/e2e/compat.mjs`).
//!
//! The replays of recorded bodies and the other compat cases run in process:
//! `tests/endpoints/compat.rs`.
//!
//! Runs in both passes (embedded, and external with Kafka + ClickHouse from the environment).

mod common;

use base64::Engine;
use common::*;
use serde_json::{json, Value};

/// `data=<base64 of v's JSON>`, form-encoded: how posthog-js sends a beacon.
fn base64_form(v: &Value) -> Vec<u8> {
    let text = serde_json::to_vec(v).unwrap();
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("data", &base64::engine::general_purpose::STANDARD.encode(&text))
        .finish()
        .into_bytes()
}

fn refused(s: &Server, cause: &str) -> u64 {
    let m = s.metrics();
    m.lines()
        .find(|l| l.starts_with(&format!("sightline_requests_refused_total{{cause=\"{cause}\"}}")))
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0, |n| n.parse::<f64>().unwrap() as u64)
}

#[test]
fn bad_bodies_are_refused_naming_the_field_counted_and_dead_lettered() {
    let s = Server::start(&[]);
    s.site_with(json!({"name": "ph", "key": "sl_compat", "origins": ["http://shop.test"], "settings": {"compat_keys": ["phc_shop"]}}));
    let ts = chrono::DateTime::from_timestamp_millis(now_ms())
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let json_ct = [("content-type", "application/json")];
    // Not JSON, gzip-compressed without a header: 400 naming body.
    let (st, b) = s.post_to("/e/", &gzip(b"{not json"), &[("content-type", "text/plain")]);
    assert_eq!((st, b["field"].as_str()), (400, Some("body")), "{b}");
    // No project key anywhere: 400 naming token.
    let (st, b) = s.post_to("/e/", br#"{"event": "$pageview", "properties": {}}"#, &json_ct);
    assert_eq!((st, b["field"].as_str()), (400, Some("token")), "{b}");
    // An empty batch: 400 naming batch (not the token it has no event to carry).
    for empty in [&b"[]"[..], br#"{"batch": []}"#] {
        let (st, b) = s.post_to("/batch/", empty, &json_ct);
        assert_eq!((st, b["field"].as_str()), (400, Some("batch")), "{b}");
    }
    // A key no site has: 401.
    let (st, b) = s.post_to(
        "/e/",
        br#"{"event": "x", "properties": {"token": "phc_nobody"}}"#,
        &json_ct,
    );
    assert_eq!((st, b["field"].as_str()), (401, Some("site")), "{b}");
    // Segment: no writeKey and no Authorization: 400 naming writeKey.
    let (st, b) = s.post_to(
        "/v1/t",
        br#"{"type": "track", "event": "x"}"#,
        &[("content-type", "text/plain")],
    );
    assert_eq!((st, b["field"].as_str()), (400, Some("writeKey")), "{b}");
    // A base64 form whose data is not base64.
    let (st, b) = s.post_to(
        "/e/?compression=base64",
        b"data=%%%",
        &[("content-type", "application/x-www-form-urlencoded")],
    );
    assert_eq!((st, b["field"].as_str()), (400, Some("body")), "{b}");
    // An origin the site does not allow: 403.
    let ok = format!(
        r#"{{"event": "$pageview", "uuid": "{}", "timestamp": "{ts}", "properties": {{"token": "phc_shop", "distinct_id": "d1", "$session_id": "s1", "$current_url": "http://shop.test/"}}}}"#,
        uuid7()
    );
    let (st, b) = s.post_to(
        "/e/",
        ok.as_bytes(),
        &[("content-type", "application/json"), ("origin", "http://evil.test")],
    );
    assert_eq!((st, b["field"].as_str()), (403, Some("origin")), "{b}");
    assert_eq!(refused(&s, "malformed"), 6);
    assert_eq!(refused(&s, "unknown_site"), 1);
    assert_eq!(refused(&s, "origin"), 1);
    // An event without a timestamp: the batch is refused (every event rejected), the field
    // named with the client's name, and the event dead-lettered.
    let bad = format!(
        r#"[{{"event": "$pageview", "uuid": "{}", "properties": {{"token": "phc_shop", "distinct_id": "d1", "$session_id": "s1", "$current_url": "http://shop.test/"}}}}]"#,
        uuid7()
    );
    let (st, b) = s.post_to("/e/", bad.as_bytes(), &json_ct);
    assert_eq!(st, 400, "{b}");
    assert_eq!(b["rejected"][0]["field"], "ts");
    assert_eq!(b["rejected"][0]["reason"], "missing (the client's timestamp)");
    // A timestamp that is not a time is named as bad, not as missing.
    let garbled = bad.replace(r#""uuid""#, r#""timestamp": "yesterday", "uuid""#);
    let (st, b) = s.post_to("/e/", garbled.as_bytes(), &json_ct);
    assert_eq!((st, b["rejected"][0]["field"].as_str()), (400, Some("ts")), "{b}");
    let reason = b["rejected"][0]["reason"].as_str().unwrap();
    assert!(
        !reason.starts_with("missing") && reason.ends_with("(the client's timestamp)"),
        "{reason}"
    );
    let letters = s.get("/v1/admin/deadletters");
    let stages: Vec<(&str, &str)> = letters
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["stage"].as_str().unwrap(), l["field"].as_str().unwrap()))
        .collect();
    for want in [
        ("ingest", "ts"),
        ("request", "body"),
        ("request", "token"),
        ("request", "writeKey"),
        ("request", "site"),
        ("request", "origin"),
    ] {
        assert!(stages.contains(&want), "dead letter {want:?} missing: {stages:?}");
    }
    // A refused body whose project key a site has is that site's dead letter (the compat
    // trial saw site "" for it); a key no site has leaves the site empty.
    let site_of = |field: &str| -> Vec<&str> {
        letters
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["stage"] == "request" && l["field"] == field)
            .map(|l| l["site"].as_str().unwrap())
            .collect()
    };
    assert_eq!(site_of("origin"), ["sl_compat"]);
    assert_eq!(site_of("site"), [""]);
    // The good event goes in once, however often it is sent, by every route and encoding.
    let (st, b) = s.post_to(
        "/e/",
        ok.as_bytes(),
        &[("content-type", "application/json"), ("origin", "http://shop.test")],
    );
    assert_eq!((st, b["accepted"].as_u64()), (200, Some(1)), "{b}");
    let (st, b) = s.post_to("/i/v0/e/", &gzip(ok.as_bytes()), &[("content-type", "text/plain")]);
    assert_eq!((st, b["duplicates"].as_u64()), (200, Some(1)), "{b}");
    let form = base64_form(&serde_json::from_str(&ok).unwrap());
    let (st, b) = s.post_to(
        "/e/?compression=base64",
        &form,
        &[("content-type", "application/x-www-form-urlencoded")],
    );
    assert_eq!((st, b["duplicates"].as_u64()), (200, Some(1)), "{b}");
    let (st, b) = s.post_to(
        "/batch/",
        format!(r#"{{"api_key": "phc_shop", "batch": [{ok}]}}"#).as_bytes(),
        &json_ct,
    );
    assert_eq!((st, b["duplicates"].as_u64()), (200, Some(1)), "{b}");
    s.settle("sl_compat", 1);
}

/// The real clients in Chromium: `tests/e2e/compat.mjs`.
#[test]
fn real_posthog_and_segment_clients_in_chromium_give_the_scripted_numbers() {
    let s = Server::start(&[]);
    s.run_e2e("compat.mjs", "", free_port(), &[]);
}
