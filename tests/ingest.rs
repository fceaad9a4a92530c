//! `POST /v1/events` against the real server: every rejected input gets a 4xx naming field
//! and reason (cases I1, I5, I6, I8 and P4 as tables), duplicates never change a count.

mod common;
use common::*;
use serde_json::{json, Value};

const SITE: &str = "shop";
const ORIGIN: &str = "https://shop.example";
const URL: &str = "https://shop.example/pricing";

fn server() -> Server {
    let s = Server::start(&["--max-batch-bytes", "65536", "--max-event-bytes", "8192"]);
    s.site(SITE, &[ORIGIN]);
    s
}

fn pv(session: &str) -> Value {
    event("pageview", session, URL, now_ms(), json!({}))
}

/// One event with `field` replaced (or removed when `value` is null and `remove`).
fn with(mut e: Value, field: &str, value: Value) -> Value {
    if value == json!("<remove>") {
        e.as_object_mut().unwrap().remove(field);
    } else {
        e[field] = value;
    }
    e
}

#[test]
fn every_rejected_event_names_its_field_and_reason() {
    let s = server();
    let click = event(
        "click",
        "s1",
        URL,
        now_ms(),
        json!({"x": 10, "y": 20, "selector": "button.buy"}),
    );
    let scroll = event("scroll", "s1", URL, now_ms(), json!({"depth": 50}));
    let survey = event(
        "survey_response",
        "s1",
        URL,
        now_ms(),
        json!({"survey_id": "exit", "question_id": "q1", "kind": "nps", "value": 9}),
    );
    // (case, event, expected field, a word the reason must contain)
    let table: Vec<(&str, Value, &str, &str)> = vec![
        (
            "I5 id missing",
            with(pv("s1"), "id", json!("<remove>")),
            "id",
            "missing",
        ),
        ("I5 id not a uuid", with(pv("s1"), "id", json!("abc")), "id", "UUID"),
        (
            "I5 unknown type",
            with(pv("s1"), "type", json!("tap")),
            "type",
            "unknown",
        ),
        (
            "I5 ts a string",
            with(pv("s1"), "ts", json!("yesterday")),
            "ts",
            "integer",
        ),
        (
            "I5 session missing",
            with(pv("s1"), "session_id", json!("<remove>")),
            "session_id",
            "missing",
        ),
        (
            "I5 visitor empty",
            with(pv("s1"), "visitor_id", json!("")),
            "visitor_id",
            "empty",
        ),
        (
            "I5 url relative",
            with(pv("s1"), "url", json!("/pricing")),
            "url",
            "URL",
        ),
        (
            "I5 url not http",
            with(pv("s1"), "url", json!("ftp://shop.example/x")),
            "url",
            "http",
        ),
        (
            "I5 click x a string",
            with(click.clone(), "x", json!("ten")),
            "x",
            "number",
        ),
        (
            "I5 click without selector",
            with(click.clone(), "selector", json!("<remove>")),
            "selector",
            "missing",
        ),
        (
            "P4 scroll depth null",
            with(scroll.clone(), "depth", Value::Null),
            "depth",
            "null",
        ),
        (
            "I5 scroll depth over 100",
            with(scroll.clone(), "depth", json!(140)),
            "depth",
            "0..100",
        ),
        (
            "I5 nps out of range",
            with(survey.clone(), "value", json!(11)),
            "value",
            "0..10",
        ),
        (
            "I5 survey kind unknown",
            with(survey.clone(), "kind", json!("stars")),
            "kind",
            "nps",
        ),
        (
            "I5 feedback rating 9",
            event("feedback", "s1", URL, now_ms(), json!({"rating": 9})),
            "rating",
            "1..5",
        ),
        (
            "I5 custom without name",
            event("custom", "s1", URL, now_ms(), json!({})),
            "name",
            "missing",
        ),
        ("I5 event not an object", json!(42), "event", "object"),
        (
            "I6 event over the per-event cap",
            with(pv("s1"), "pad", json!("x".repeat(9000))),
            "event",
            "8192",
        ),
    ];
    for (case, ev, field, word) in table {
        let (status, body) = s.post(&batch(SITE, vec![ev]));
        assert_eq!(status, 400, "{case}: {body}");
        let r = &body["rejected"][0];
        assert_eq!(r["index"], 0, "{case}: {body}");
        assert_eq!(r["field"], field, "{case}: {body}");
        assert!(
            r["reason"].as_str().unwrap().contains(word),
            "{case}: reason {:?} lacks {word:?}",
            r["reason"]
        );
    }
    // A rejected event never takes the batch down with it.
    let (status, body) = s.post(&batch(
        SITE,
        vec![pv("s2"), with(pv("s2"), "id", json!("nope")), pv("s2")],
    ));
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], 2);
    assert_eq!(body["rejected"][0]["index"], 1);
    // Every rejected event is kept as a dead letter with its reason.
    let dl = s.get("/v1/admin/deadletters?limit=1000");
    assert_eq!(dl.as_array().unwrap().len(), 19, "{dl}");
    assert!(dl
        .as_array()
        .unwrap()
        .iter()
        .all(|d| !d["reason"].as_str().unwrap().is_empty()));
    // And counted.
    let m = s.metrics();
    assert!(
        m.contains(r#"sightline_events_rejected_total{field="depth",type="scroll"} 2"#),
        "{m}"
    );
}

#[test]
fn malformed_requests_get_a_4xx_naming_the_problem() {
    let s = server();
    let good = serde_json::to_vec(&batch(SITE, vec![pv("s1")])).unwrap();
    let cases: Vec<(&str, Vec<u8>, Vec<(&str, &str)>, u16, &str)> = vec![
        ("not JSON", b"{nope".to_vec(), vec![], 400, "body"),
        ("not an object", b"[1,2]".to_vec(), vec![], 400, "body"),
        (
            "no site",
            serde_json::to_vec(&json!({"events": []})).unwrap(),
            vec![],
            400,
            "site",
        ),
        (
            "events not a list",
            serde_json::to_vec(&json!({"site": SITE, "events": {}})).unwrap(),
            vec![],
            400,
            "events",
        ),
        (
            "sent_at a string",
            serde_json::to_vec(&json!({"site": SITE, "sent_at": "now", "events": []})).unwrap(),
            vec![],
            400,
            "sent_at",
        ),
        (
            "unknown write key",
            serde_json::to_vec(&batch("nobody", vec![pv("s1")])).unwrap(),
            vec![],
            401,
            "site",
        ),
        (
            "origin not allowed",
            good.clone(),
            vec![("origin", "https://evil.example")],
            403,
            "origin",
        ),
        (
            "unknown encoding",
            good.clone(),
            vec![("content-encoding", "zstd-ish")],
            415,
            "content-encoding",
        ),
        ("broken gzip", b"\x1f\x8b\x08\x00garbage".to_vec(), vec![], 400, "body"),
    ];
    for (case, body, headers, status, field) in cases {
        let (got, resp) = s.post_raw(body, &headers, "");
        assert_eq!(got, status, "{case}: {resp}");
        assert_eq!(resp["field"], field, "{case}: {resp}");
        assert!(
            !resp["reason"].as_str().unwrap_or("").is_empty(),
            "{case}: no reason in {resp}"
        );
    }
    let m = s.metrics();
    for cause in ["malformed", "unknown_site", "origin", "encoding"] {
        assert!(
            m.contains(&format!(r#"sightline_requests_refused_total{{cause="{cause}"}}"#)),
            "{cause} not counted"
        );
    }
}

#[test]
fn beacons_and_headerless_gzip_are_accepted_and_preflight_is_per_origin() {
    let s = server();
    let body = |sid: &str| serde_json::to_vec(&batch(SITE, vec![pv(sid)])).unwrap();
    // I1: text/plain beacon, JSON body.
    let (st, r) = s.post_raw(
        body("b1"),
        &[("content-type", "text/plain;charset=UTF-8"), ("origin", ORIGIN)],
        "",
    );
    assert_eq!((st, r["accepted"].as_u64()), (202, Some(1)), "{r}");
    // I1: gzip with ?compression=gzip and no content type.
    let (st, r) = s.post_raw(gzip(&body("b2")), &[], "?compression=gzip");
    assert_eq!((st, r["accepted"].as_u64()), (202, Some(1)), "{r}");
    // I1: gzip recognised by its magic bytes alone.
    let (st, r) = s.post_raw(gzip(&body("b3")), &[], "");
    assert_eq!((st, r["accepted"].as_u64()), (202, Some(1)), "{r}");
    // Content-Encoding header, application/json.
    let (st, r) = s.post_raw(
        gzip(&body("b4")),
        &[("content-encoding", "gzip"), ("content-type", "application/json")],
        "",
    );
    assert_eq!((st, r["accepted"].as_u64()), (202, Some(1)), "{r}");
    // Preflight: allowed origin gets the grant, others nothing.
    let pre = |origin: &str| {
        s.http
            .request(reqwest::Method::OPTIONS, s.url("/v1/events"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
            .unwrap()
    };
    let ok = pre(ORIGIN);
    assert_eq!(ok.headers()["access-control-allow-origin"], ORIGIN);
    assert!(ok.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
    assert!(ok.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("content-type"));
    let no = pre("https://evil.example");
    assert!(no.headers().get("access-control-allow-origin").is_none());
}

#[test]
fn unfamiliar_but_valid_input_is_kept() {
    let s = server();
    let events = vec![
        event("pageview", "u1", "http://intranet/home", now_ms(), json!({})),
        event("pageview", "u1", "http://localhost:8080/", now_ms(), json!({})),
        event("pageview", "u1", "http://192.0.2.10/a", now_ms(), json!({})),
        event("pageview", "u1", "https://shop.example/a%ZZ?q=%b", now_ms(), json!({})),
        event(
            "pageview",
            "u1",
            URL,
            now_ms(),
            json!({"brand_new_field": {"nested": true}}),
        ),
        event(
            "pageview",
            "u1",
            URL,
            now_ms(),
            json!({"title": 42, "viewport": "wide"}),
        ),
    ];
    let (st, r) = s.post(&batch(SITE, events));
    assert_eq!(st, 202, "{r}");
    assert_eq!(r["accepted"], 6, "{r}");
    assert_eq!(r["rejected"], json!([]));
    let warned: Vec<(u64, &str)> = r["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            assert!(
                !w["reason"].as_str().unwrap().is_empty(),
                "a warning gives its reason: {w}"
            );
            (w["index"].as_u64().unwrap(), w["field"].as_str().unwrap())
        })
        .collect();
    assert_eq!(warned, vec![(5, "viewport"), (5, "title")]);
    s.settle(SITE, 6);
    let j = s.get(&format!("/v1/sites/{SITE}/journeys?{}", today_range()));
    let pages: Vec<&str> = j["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["from"].as_str().unwrap())
        .collect();
    for p in [
        "intranet/home",
        "localhost:8080/",
        "192.0.2.10/a",
        "shop.example/a%ZZ?q=%b",
    ] {
        assert!(pages.contains(&p), "{p} missing from {j}");
    }
}

#[test]
fn body_caps_answer_just_under_with_202_and_just_over_with_sightlines_own_413() {
    let s = server();
    let cap = 65536;
    // Pad with several events below the per-event cap until the body is exactly `cap` bytes.
    let sized = |n: usize| -> Vec<u8> {
        let mut events = Vec::new();
        let mut body = serde_json::to_vec(&batch(SITE, vec![])).unwrap();
        while body.len() + 8000 < n {
            events.push(with(pv("cap"), "pad", json!("y".repeat(7000))));
            body = serde_json::to_vec(&batch(SITE, events.clone())).unwrap();
        }
        events.push(with(pv("cap"), "pad", json!("")));
        body = serde_json::to_vec(&batch(SITE, events.clone())).unwrap();
        let need = n - body.len();
        let last = events.len() - 1;
        events[last] = with(pv("cap"), "pad", json!("z".repeat(need)));
        let mut b = serde_json::to_vec(&batch(SITE, events)).unwrap();
        // ids have equal length, sent_at may vary by a digit at most: trim or pad spaces.
        while b.len() < n {
            b.push(b' ');
        }
        assert_eq!(b.len(), n);
        b
    };
    let (st, r) = s.post_raw(sized(cap), &[("content-type", "text/plain")], "");
    assert_eq!(st, 202, "{r}");
    let (st, r) = s.post_raw(sized(cap + 1), &[("content-type", "text/plain")], "");
    assert_eq!(st, 413, "{r}");
    assert_eq!(r["error"], "too_large");
    assert_eq!(r["limit"], cap);
    // Its dead letter keeps the start of what was sent, not an empty sample.
    let dl = s.get("/v1/admin/deadletters");
    let kept = dl
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["raw"].as_str())
        .any(|raw| raw.starts_with('{') && raw.contains("\"pad\""));
    assert!(kept, "{dl}");
    // The cap applies to decoded bytes: a small gzip body that inflates past it is refused.
    let bomb = gzip(&vec![b' '; 10 * cap]);
    assert!(bomb.len() < 4096);
    let (st, r) = s.post_raw(bomb, &[("content-encoding", "gzip")], "");
    assert_eq!(st, 413, "{r}");
    assert_eq!(r["limit"], cap);
    // Replay metadata: under the per-event cap accepted, over it rejected naming the cap.
    let replay = |pad: usize| {
        event(
            "replay",
            "r1",
            URL,
            now_ms(),
            json!({"recording_id": "rec-1", "pages": 3, "events": 420, "bytes": 18000, "notes": "n".repeat(pad)}),
        )
    };
    let (st, r) = s.post(&batch(SITE, vec![replay(7000)]));
    assert_eq!((st, r["accepted"].as_u64()), (202, Some(1)), "{r}");
    let (st, r) = s.post(&batch(SITE, vec![replay(9000)]));
    assert_eq!(st, 400, "{r}");
    assert!(r["rejected"][0]["reason"].as_str().unwrap().contains("8192"), "{r}");
}

#[test]
fn the_same_batch_twice_is_reported_as_duplicates_and_changes_no_count() {
    let s = server();
    let t = now_ms();
    let ids: Vec<String> = (1..=5)
        .map(|i| format!("0190a000-0000-7000-8000-0000000000a{i}"))
        .collect();
    let mut events = vec![event("pageview", "d1", URL, t, json!({"id": ids[0]}))];
    for (i, id) in ids[1..].iter().enumerate() {
        events.push(event(
            "click",
            "d1",
            URL,
            t + 100 + i as i64 * 2000,
            json!({"id": id, "x": 100, "y": 200, "selector": "button.buy", "reaction_ms": 50}),
        ));
    }
    let b = batch(SITE, events);
    let (st, first) = s.post(&b);
    assert_eq!(
        (st, first["accepted"].as_u64(), first["duplicates"].as_u64()),
        (202, Some(5), Some(0)),
        "{first}"
    );
    s.settle(SITE, 5);
    let q = format!("/v1/sites/{SITE}/heatmap?url={URL}&{}", today_range());
    let before = (
        s.get(&q),
        s.get(&format!("/v1/sites/{SITE}/journeys?{}", today_range())),
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    let (st, second) = s.post(&b);
    assert_eq!(
        (st, second["accepted"].as_u64(), second["duplicates"].as_u64()),
        (202, Some(0), Some(5)),
        "{second}"
    );
    s.settle(SITE, 5);
    let after = (
        s.get(&q),
        s.get(&format!("/v1/sites/{SITE}/journeys?{}", today_range())),
    );
    assert_eq!(before, after);
    assert_eq!(after.0["clicks"], 4);
    assert_eq!(after.0["pageviews"], 1);
    assert_eq!(after.1["sessions"], 1);
    // I8: the same id again with another type is flagged and counted, not merged.
    let clash = event("custom", "d1", URL, t, json!({"id": ids[0], "name": "signup"}));
    let (st, r) = s.post(&batch(SITE, vec![clash]));
    assert_eq!(st, 400, "{r}");
    assert_eq!(r["rejected"][0]["field"], "id");
    assert!(r["rejected"][0]["reason"].as_str().unwrap().contains("pageview"), "{r}");
    assert!(s
        .metrics()
        .contains(r#"sightline_events_duplicate_total{type="click"} 4"#));
    assert!(s
        .metrics()
        .contains(r#"sightline_events_rejected_total{field="id",type="custom"} 1"#));
    s.settle(SITE, 5);
}
