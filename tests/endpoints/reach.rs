//! Survey reach through the real server (analytics.md, "Survey reach"; api.md `GET …/voc`,
//! `reach`): `survey_shown` and `survey_dismissed` events, validated like the other kinds,
//! summed per session into impressions, response, completion and dismissal rates and the
//! drop-off per question; `max_impressions` on a survey definition. Hand-computed numbers;
//! the same in both modes. The widget in a real browser is in `tests/voc.rs`.

use crate::common::*;
use crate::harness::Server;
use crate::voc::{answer, put, URL};
use serde_json::{json, Value};

fn shown(session: &str, ts: i64, survey: &str) -> Value {
    event(
        "survey_shown",
        session,
        URL,
        ts,
        json!({"survey_id": survey, "trigger": "exit_intent"}),
    )
}

fn dismissed(session: &str, ts: i64, survey: &str, question: &str) -> Value {
    event(
        "survey_dismissed",
        session,
        URL,
        ts,
        json!({"survey_id": survey, "question_id": question, "trigger": "exit_intent"}),
    )
}

fn reach<'a>(voc: &'a Value, survey: &str) -> &'a Value {
    voc["reach"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["survey_id"] == survey)
        .unwrap_or_else(|| panic!("no reach of {survey} in {voc}"))
}

#[test]
fn a_survey_shown_to_3_sessions_and_answered_in_1_has_3_impressions_and_a_33_3_percent_response_rate() {
    let s = Server::start(&[]);
    s.site("reach", &["*"]);
    let exit = json!({
        "title": "Before you go",
        "questions": [{"id": "q1", "kind": "nps", "text": "Recommend us?"},
                      {"id": "q2", "kind": "text", "text": "Why?"},
                      {"id": "q3", "kind": "choice", "text": "Plan?", "options": ["a", "b"]}],
        "trigger": {"type": "exit_intent"}, "frequency": "visitor", "max_impressions": 3
    });
    assert_eq!(put(&s, "/v1/sites/reach/surveys/exit", &exit).0, 201);
    let pulse =
        json!({"questions": [{"id": "q1", "kind": "nps", "text": "Recommend us?"}], "trigger": {"type": "manual"}});
    assert_eq!(put(&s, "/v1/sites/reach/surveys/pulse", &pulse).0, 201);

    let t = now_ms() - 600_000;
    let evs = vec![
        // pulse: shown to p1, p2, p3 (p3 twice: one impression); p3 answered.
        shown("p1", t, "pulse"),
        shown("p2", t + 1, "pulse"),
        shown("p3", t + 2, "pulse"),
        shown("p3", t + 3, "pulse"),
        answer("p3", t + 4, "pulse", "q1", "nps", json!(9)),
        // exit: e1 closed it on q1; e2 answered q1 and closed it on q2; e3 answered q1 and
        // q3 (skipped the text question q2); e4 answered all three without a survey_shown (an
        // older snippet): an impression all the same.
        shown("e1", t, "exit"),
        dismissed("e1", t + 10, "exit", "q1"),
        shown("e2", t, "exit"),
        answer("e2", t + 10, "exit", "q1", "nps", json!(7)),
        dismissed("e2", t + 20, "exit", "q2"),
        shown("e3", t, "exit"),
        answer("e3", t + 10, "exit", "q1", "nps", json!(10)),
        answer("e3", t + 20, "exit", "q3", "choice", json!("a")),
        answer("e4", t + 10, "exit", "q1", "nps", json!(3)),
        answer("e4", t + 20, "exit", "q2", "text", json!("too slow")),
        answer("e4", t + 30, "exit", "q3", "choice", json!("b")),
    ];
    let n = evs.len() as u64;
    let (st, body) = s.post(&batch("reach", evs));
    assert_eq!(st, 202, "{body}");
    s.settle("reach", n);
    let voc = s.get(&format!("/v1/sites/reach/voc?{}", today_range()));

    let p = reach(&voc, "pulse");
    assert_eq!(p["impressions"], 3);
    assert_eq!(p["responses"], 1);
    assert_eq!(p["response_rate"], json!(33.3), "1 / 3");
    assert_eq!(p["completions"], 1);
    assert_eq!(p["completion_rate"], json!(33.3));
    assert_eq!(
        (p["dismissals"].clone(), p["dismissal_rate"].clone()),
        (json!(0), json!(0.0))
    );
    assert_eq!(
        p["questions"],
        json!([{"question_id": "q1", "question": "Recommend us?", "reached": 3, "answered": 1, "dropped": 2}])
    );

    let e = reach(&voc, "exit");
    assert_eq!(e["title"], "Before you go");
    assert_eq!(
        (&e["impressions"], &e["responses"], &e["completions"], &e["dismissals"]),
        (&json!(4), &json!(3), &json!(1), &json!(2))
    );
    assert_eq!(e["response_rate"], json!(75.0), "3 / 4");
    assert_eq!(e["completion_rate"], json!(25.0), "e4 alone answered q1, q2 and q3");
    assert_eq!(e["dismissal_rate"], json!(50.0), "e1 and e2");
    // Reached: q1 by all 4; q2 by e2 (closed on it), e3 (went past it to q3) and e4; q3 by e3
    // and e4. Dropped: e1 on q1, e2 on q2.
    assert_eq!(
        e["questions"],
        json!([
            {"question_id": "q1", "question": "Recommend us?", "reached": 4, "answered": 3, "dropped": 1},
            {"question_id": "q2", "question": "Why?", "reached": 3, "answered": 1, "dropped": 1},
            {"question_id": "q3", "question": "Plan?", "reached": 2, "answered": 2, "dropped": 0},
        ])
    );
    assert_eq!(
        e["trend"],
        json!([{"day": today().to_string(), "impressions": 4, "responses": 3}])
    );
    // The answers themselves are counted as before.
    let q1 = voc["surveys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["survey_id"] == "exit" && x["question_id"] == "q1")
        .unwrap();
    assert_eq!(q1["responses"], 3);

    // survey= narrows reach too.
    let only = s.get(&format!("/v1/sites/reach/voc?survey=pulse&{}", today_range()));
    assert_eq!(only["reach"].as_array().unwrap().len(), 1, "{only}");

    // The config served to the snippet carries the cap.
    let cfg = s.get("/v1/sites/reach/config");
    let served = cfg["surveys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == "exit")
        .unwrap();
    assert_eq!(served["max_impressions"], 3);
}

#[test]
fn reach_events_are_validated_like_the_other_kinds_and_caps_name_their_field() {
    let s = Server::start(&[]);
    s.site("reachv", &["*"]);
    let exit =
        json!({"questions": [{"id": "q1", "kind": "nps", "text": "Recommend us?"}], "trigger": {"type": "manual"}});
    assert_eq!(put(&s, "/v1/sites/reachv/surveys/exit", &exit).0, 201);
    let t = now_ms() - 60_000;
    let cases = [
        (event("survey_shown", "s1", URL, t, json!({})), "survey_id"),
        (
            event("survey_dismissed", "s1", URL, t, json!({"survey_id": 7})),
            "survey_id",
        ),
        (dismissed("s1", t, "exit", "q9"), "question_id"),
    ];
    for (ev, field) in cases {
        let (st, body) = s.post(&batch("reachv", vec![ev]));
        assert_eq!(
            (st, body["rejected"][0]["field"].as_str()),
            (400, Some(field)),
            "{body}"
        );
    }
    // A dismissal without a question, and one of a survey the site does not define, are kept.
    let ok = vec![
        event("survey_dismissed", "s2", URL, t, json!({"survey_id": "exit"})),
        dismissed("s3", t, "own-survey", "anything"),
    ];
    let (st, body) = s.post(&batch("reachv", ok));
    assert_eq!(st, 202, "{body}");
    assert_eq!(body["accepted"], 2, "{body}");

    let mut bad = exit.clone();
    bad["max_impressions"] = json!(0);
    let (st, body) = put(&s, "/v1/sites/reachv/surveys/exit", &bad);
    assert_eq!((st, body["field"].as_str()), (400, Some("max_impressions")), "{body}");
}
