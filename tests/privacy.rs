//! Privacy (issue 10): `sightline gdpr delete` / `POST /v1/sites/{key}/forget` erases a
//! visitor from the log, the warehouse and every rollup, leaves an audit record, and a later
//! replay of the log cannot bring the visitor back.

mod common;
use common::*;
use serde_json::{json, Value};

fn visit(session: &str, t0: i64, comment: &str) -> Vec<Value> {
    vec![
        event("pageview", session, "https://gd.example/a", t0, json!({})),
        event(
            "click",
            session,
            "https://gd.example/a",
            t0 + 1000,
            json!({"x": 10, "y": 20, "selector": "#buy", "tag": "button"}),
        ),
        event(
            "feedback",
            session,
            "https://gd.example/a",
            t0 + 2000,
            json!({"rating": 2, "comment": comment, "category": "bug"}),
        ),
        event(
            "survey_response",
            session,
            "https://gd.example/a",
            t0 + 2500,
            json!({"survey_id": "s1", "question_id": "q1", "kind": "nps", "value": 9}),
        ),
        event("pageview", session, "https://gd.example/b", t0 + 3000, json!({})),
    ]
}

#[test]
fn a_forgotten_visitor_is_gone_from_log_warehouse_and_rollups() {
    let mut s = Server::start(&[]);
    s.site("gd", &["*"]);
    let t0 = now_ms() - 60_000;
    let mut events = visit("alice", t0, "alice was here");
    events.extend(visit("bob", t0 + 10, "bob was here"));
    // One of Alice's events is rejected: her dead letter must go too.
    events.push(event(
        "click",
        "alice",
        "https://gd.example/a",
        t0 + 4000,
        json!({"selector": "#buy"}),
    ));
    let (code, body) = s.post(&batch("gd", events));
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["accepted"], 10, "{body}");
    s.settle("gd", 10);
    let range = today_range_around(t0);
    assert_eq!(s.get("/v1/sites/gd/stats?visitor=v-alice")["events"], 5);
    let before = s.get(&format!("/v1/sites/gd/journeys?{range}"));
    assert_eq!(before["sessions"], 2, "{before}");

    // Erase Alice through the API.
    let r = s
        .http
        .post(s.url("/v1/sites/gd/forget"))
        .bearer_auth(TOKEN)
        .json(&json!({"visitor": "v-alice"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let rec: Value = r.json().unwrap();
    assert_eq!(rec["warehouse_events"], 5, "{rec}");
    assert_eq!(rec["log_events"], if external_mode() { 0 } else { 5 }, "{rec}");
    assert!(rec["done_at"].is_i64(), "{rec}");
    assert!(
        !rec.to_string().contains("alice"),
        "the audit record keeps a hash, not the id: {rec}"
    );
    s.settle("gd", 5);

    // Nothing of Alice anywhere the API can see; Bob is untouched.
    assert_eq!(s.get("/v1/sites/gd/stats?visitor=v-alice")["events"], 0);
    assert_eq!(s.get("/v1/sites/gd/stats?visitor=v-bob")["events"], 5);
    let j = s.get(&format!("/v1/sites/gd/journeys?{range}"));
    assert_eq!(j["sessions"], 1, "{j}");
    let sessions = s.get(&format!("/v1/sites/gd/sessions?{range}"));
    let text = sessions.to_string();
    assert!(!text.contains("alice"), "{sessions}");
    assert!(text.contains("v-bob"), "{sessions}");
    let voc = s.get(&format!("/v1/sites/gd/voc?{range}"));
    assert!(!voc.to_string().contains("alice"), "{voc}");
    assert_eq!(voc["feedback"]["count"], 1, "{voc}");
    let hm = s.get(&format!("/v1/sites/gd/heatmap?url=gd.example/a&{range}"));
    assert_eq!(
        (hm["pageviews"].as_u64(), hm["clicks"].as_u64()),
        (Some(1), Some(1)),
        "{hm}"
    );
    let letters = String::from_utf8(s.cli(&["deadletter", "list", "--site", "gd"]).stdout).unwrap();
    assert!(!letters.contains("alice"), "{letters}");
    let audit = s.get("/v1/admin/forgets");
    assert_eq!(audit.as_array().unwrap().len(), 1, "{audit}");

    // A visitor who comes back later is new data.
    let (code, _) = s.post(&batch(
        "gd",
        vec![event("pageview", "alice", "https://gd.example/c", now_ms(), json!({}))],
    ));
    assert_eq!(code, 202);
    s.settle("gd", 6);
    assert_eq!(s.get("/v1/sites/gd/stats?visitor=v-alice")["events"], 1);

    // The CLI does the same, and the embedded files keep no byte of the visitor afterwards
    // (SQLite secure_delete; the WAL is folded in when the server stops).
    let out = s.cli(&["gdpr", "delete", "--site", "gd", "--visitor", "v-alice"]);
    let rec: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rec["warehouse_events"], 1, "{rec}");
    s.settle("gd", 5);
    assert_eq!(s.get("/v1/sites/gd/stats?visitor=v-alice")["events"], 0);
    if !external_mode() {
        s.stop();
        for f in std::fs::read_dir(&s.data_dir).unwrap() {
            let path = f.unwrap().path();
            let bytes = std::fs::read(&path).unwrap_or_default();
            for needle in [&b"alice"[..], b"alice was here"] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle),
                    "{} still holds {:?}",
                    path.display(),
                    String::from_utf8_lossy(needle)
                );
            }
            // Bob is still there.
            if path.ends_with("warehouse.db") {
                assert!(bytes.windows(5).any(|w| w == b"v-bob"));
            }
        }
    }
}

fn today_range_around(t: i64) -> String {
    let day = chrono::DateTime::from_timestamp_millis(t).unwrap().date_naive();
    format!(
        "from={}&to={}",
        day.pred_opt().unwrap(),
        day.succ_opt().unwrap().succ_opt().unwrap()
    )
}

#[test]
fn retention_deletes_the_days_a_site_no_longer_keeps() {
    let s = Server::start(&[]);
    s.site_with(json!({"name": "ret", "key": "ret", "origins": ["*"], "settings": {"retention_days": 2}}));
    let day = 86_400_000;
    let now = now_ms();
    let events = vec![
        event("pageview", "today", "https://ret.example/", now - 1000, json!({})),
        event("pageview", "yesterday", "https://ret.example/", now - day, json!({})),
        event("pageview", "old", "https://ret.example/", now - 3 * day, json!({})),
    ];
    assert_eq!(s.post(&batch("ret", events)).0, 202);
    s.settle("ret", 3);
    let range = |s: &Server| {
        let d = today();
        s.get(&format!(
            "/v1/sites/ret/journeys?from={}&to={}",
            d - chrono::Duration::days(5),
            d.succ_opt().unwrap()
        ))
    };
    assert_eq!(range(&s)["sessions"], 3);
    let out = s.cli(&["retention", "run"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ret\t1 events deleted");
    s.settle("ret", 2);
    assert_eq!(range(&s)["sessions"], 2, "the old day's rollups are gone too");
    // A zero retention is refused naming the field.
    let r = s
        .http
        .patch(s.url("/v1/sites/ret"))
        .bearer_auth(TOKEN)
        .json(&json!({"settings": {"retention_days": 0}}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.json::<Value>().unwrap()["field"], "settings.retention_days");
}
