//! Voice of customer through the real server (analytics.md, "Voice of customer"; api.md
//! `GET …/voc`): NPS, CSAT and the other scales, text answers (PII scrubbed, searchable, top
//! terms, capped on a character boundary), feedback rollups and filters, survey definitions
//! through the admin API, the CLI and the public config. The widgets in a real browser are
//! in `tests/voc.rs`.

use crate::common::*;
use crate::harness::Server;
use serde_json::{json, Value};
use std::process::Command;

pub(crate) const URL: &str = "https://shop.example/pricing";

/// A `survey_response` on [`URL`], triggered by exit intent.
pub(crate) fn answer(session: &str, ts: i64, survey: &str, question: &str, kind: &str, value: Value) -> Value {
    event(
        "survey_response",
        session,
        URL,
        ts,
        json!({"survey_id": survey, "question_id": question, "kind": kind, "value": value, "trigger": "exit_intent"}),
    )
}

fn question<'a>(voc: &'a Value, survey: &str, q: &str) -> &'a Value {
    voc["surveys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["survey_id"] == survey && x["question_id"] == q)
        .unwrap_or_else(|| panic!("no {survey}/{q} in {voc}"))
}

/// `PUT path` with the admin token: (status, body).
pub(crate) fn put(s: &Server, path: &str, body: &Value) -> (u16, Value) {
    let r = s.http.put(s.url(path)).bearer_auth(TOKEN).json(body).send().unwrap();
    let st = r.status().as_u16();
    (st, r.json().unwrap_or(Value::Null))
}

#[test]
fn nps_is_computed_only_for_nps_questions_csat_counts_4_and_5_and_the_latest_answer_wins() {
    let s = Server::start(&[]);
    s.site("nps", &["*"]);
    let t = now_ms() - 60_000;
    let mut evs = Vec::new();
    // [10, 9, 8, 6, 0] on an nps question and on a 0–10 rating question.
    for (i, v) in [10, 9, 8, 6, 0].into_iter().enumerate() {
        let sess = format!("n{i}");
        evs.push(answer(&sess, t + i as i64, "exit", "nps", "nps", json!(v)));
        evs.push(answer(&sess, t + i as i64, "exit", "scale", "rating", json!(v)));
    }
    // Session n0 first answered 3, then (a partial submission repeated) 10: 10 wins.
    evs.push(answer("n0", t - 5000, "exit", "nps", "nps", json!(3)));
    // CSAT [5, 4, 3, 1] → 50.
    for (i, v) in [5, 4, 3, 1].into_iter().enumerate() {
        evs.push(answer(
            &format!("c{i}"),
            t + i as i64,
            "after",
            "csat",
            "csat",
            json!(v),
        ));
    }
    // A multiple choice: counts per option.
    evs.push(answer("c0", t, "after", "why", "choice", json!(["Docs", "Pricing"])));
    evs.push(answer("c1", t, "after", "why", "choice", json!("Docs")));
    let n = evs.len() as u64;
    let (st, body) = s.post(&batch("nps", evs));
    assert_eq!(st, 202, "{body}");
    s.settle("nps", n);
    let voc = s.get(&format!("/v1/sites/nps/voc?{}", today_range()));

    let nps = question(&voc, "exit", "nps");
    assert_eq!(nps["kind"], "nps");
    assert_eq!(nps["responses"], 5);
    assert_eq!(nps["sessions"], 5);
    assert_eq!(nps["distribution"], json!({"0": 1, "6": 1, "8": 1, "9": 1, "10": 1}));
    assert_eq!(nps["nps"], json!(0.0), "[10, 9, 8, 6, 0] → 40 − 40 = 0");
    assert_eq!(nps["mean"], json!(6.6));
    assert_eq!(nps["csat"], Value::Null);
    let day = today().to_string();
    assert_eq!(
        nps["trend"],
        json!([{"day": day, "responses": 5, "mean": 6.6, "nps": 0.0, "csat": null}])
    );

    let scale = question(&voc, "exit", "scale");
    assert_eq!(scale["kind"], "rating");
    assert_eq!(
        scale["nps"],
        Value::Null,
        "no NPS for a 0–10 question that is not of kind nps"
    );
    assert_eq!(scale["csat"], Value::Null);
    assert_eq!(scale["mean"], json!(6.6));

    let csat = question(&voc, "after", "csat");
    assert_eq!(csat["csat"], json!(50.0), "[5, 4, 3, 1] → 2 of 4 are 4 or 5");
    assert_eq!(csat["nps"], Value::Null);

    let why = question(&voc, "after", "why");
    assert_eq!(why["distribution"], json!({"Docs": 2, "Pricing": 1}));
    assert_eq!(
        why["choices"],
        json!([{"option": "Docs", "count": 2}, {"option": "Pricing", "count": 1}])
    );
    assert_eq!(why["nps"], Value::Null);
    assert_eq!(why["mean"], Value::Null);
}

#[test]
fn personal_data_in_feedback_text_answers_and_urls_is_scrubbed_a5() {
    let s = Server::start(&[]);
    s.site("pii", &["*"]);
    let metric = |s: &Server| -> f64 {
        s.metrics()
            .lines()
            .find_map(|l| l.strip_prefix("sightline_pii_replacements_total "))
            .map_or(0.0, |v| v.trim().parse().unwrap())
    };
    let before = metric(&s);
    let t = now_ms() - 10_000;
    let evs = vec![
        event(
            "feedback",
            "p1",
            "https://shop.example/checkout?email=jo.doe%40mail.example",
            t,
            json!({"rating": 1, "category": "bug",
                   "comment": "card 4111 1111 1111 1111 was declined, write me at jo.doe@mail.example"}),
        ),
        event(
            "feedback",
            "p2",
            "https://shop.example/orders",
            t + 1,
            json!({"rating": 3, "comment": "order 1234567812345678 arrived late"}),
        ),
        answer(
            "p1",
            t + 2,
            "exit",
            "why",
            "text",
            json!("card 4111 1111 1111 1111 failed, mail jo.doe@mail.example"),
        ),
    ];
    let (st, body) = s.post(&batch("pii", evs));
    assert_eq!(st, 202, "{body}");
    s.settle("pii", 3);
    let voc = s.get(&format!("/v1/sites/pii/voc?{}", today_range()));
    let recent = voc["feedback"]["recent"].as_array().unwrap();
    let a5 = recent.iter().find(|r| r["rating"] == 1).unwrap();
    assert_eq!(a5["comment"], "card [card] was declined, write me at [email]");
    assert_eq!(
        a5["page"], "shop.example/checkout?email=[email]",
        "the URL is scrubbed before keying"
    );
    let order = recent.iter().find(|r| r["rating"] == 3).unwrap();
    assert_eq!(
        order["comment"], "order 1234567812345678 arrived late",
        "a 16-digit number failing the Luhn check is kept"
    );
    let text = &question(&voc, "exit", "why")["text"];
    assert_eq!(text["recent"][0]["text"], "card [card] failed, mail [email]");
    // comment card + email, URL email, answer card + email.
    assert_eq!(metric(&s) - before, 5.0, "replacements are counted");
}

#[test]
fn emoji_and_5000_character_answers_are_kept_whole_or_cut_at_the_documented_cap() {
    let s = Server::start(&[]);
    s.site("cap", &["*"]);
    let t = now_ms() - 10_000;
    // 👍🏽 is two chars (U+1F44D U+1F3FD) and one user-perceived character.
    let thumbs = "👍🏽";
    let exactly_5000 = thumbs.repeat(2500);
    let split_at_cap = format!("{}{thumbs}", "a".repeat(4999)); // 5001 chars: the cap falls inside 👍🏽
    let family = "👨‍👩‍👧 love it 😀, ünïcödé";
    let long = "x".repeat(6000);
    let comment = "é".repeat(2500);
    let texts = [&exactly_5000, &split_at_cap, &long, &family.to_string()];
    let mut evs: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, v)| answer(&format!("e{i}"), t + i as i64, "exit", "why", "text", json!(v)))
        .collect();
    evs.push(event(
        "feedback",
        "e9",
        URL,
        t,
        json!({"rating": 4, "comment": comment}),
    ));
    let (st, body) = s.post(&batch("cap", evs));
    assert_eq!(st, 202, "{body}");
    s.settle("cap", 5);
    let voc = s.get(&format!("/v1/sites/cap/voc?{}&limit=10", today_range()));
    let recent = question(&voc, "exit", "why")["text"]["recent"]
        .as_array()
        .unwrap()
        .clone();
    let got = |sess: &str| -> String {
        recent.iter().find(|r| r["session"] == sess && r["split"] == 0).unwrap()["text"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(got("e0"), exactly_5000, "5000 characters are kept intact");
    assert_eq!(got("e1"), "a".repeat(4999), "the cut never splits 👍🏽");
    assert_eq!(got("e2"), "x".repeat(5000), "cut at 5000 characters");
    assert_eq!(got("e3"), family, "emoji sequences pass unchanged");
    let c = voc["feedback"]["recent"][0]["comment"].as_str().unwrap();
    assert_eq!(c, "é".repeat(2000), "comments are cut at 2000 characters");
}

#[test]
fn feedback_rolls_up_by_page_element_category_and_day_with_filters_and_sessions() {
    let s = Server::start(&[]);
    s.site("fb", &["*"]);
    let t = now_ms() - 60_000;
    let fb = |sess: &str, url: &str, i: i64, rating: u8, cat: &str, sel: Option<&str>, comment: &str| {
        let mut e = event(
            "feedback",
            sess,
            url,
            t + i,
            json!({"rating": rating, "category": cat, "comment": comment}),
        );
        if let Some(sel) = sel {
            e["selector"] = json!(sel);
        }
        e
    };
    let evs = vec![
        fb(
            "f1",
            "https://shop.example/cart",
            1,
            1,
            "bug",
            Some("button.pay"),
            "Pay button does nothing",
        ),
        fb(
            "f2",
            "https://shop.example/cart",
            2,
            2,
            "bug",
            Some("button.pay"),
            "the pay button is broken",
        ),
        fb("f3", "https://shop.example/cart", 3, 5, "praise", None, "lovely cart"),
        fb(
            "f4",
            "https://shop.example/",
            4,
            4,
            "idea",
            Some("nav > a.docs"),
            "dark mode please",
        ),
        fb("f5", "https://shop.example/", 5, 3, "Other", None, "ok"),
        answer(
            "f1",
            t + 6,
            "exit",
            "why",
            "text",
            json!("The pay button is broken, pay failed"),
        ),
        answer("f2", t + 7, "exit", "why", "text", json!("Pricing is unclear")),
        answer("f3", t + 8, "exit", "why", "text", json!("broken checkout, pay page")),
    ];
    let (st, body) = s.post(&batch("fb", evs));
    assert_eq!(st, 202, "{body}");
    // Categories outside bug, idea, praise, other and ratings outside 1..5 are refused.
    for (bad, field) in [
        (json!({"rating": 3, "category": "rant"}), "category"),
        (json!({"rating": 0}), "rating"),
    ] {
        let (st, body) = s.post(&batch("fb", vec![event("feedback", "f9", URL, t, bad)]));
        assert_eq!(st, 400, "{body}");
        assert_eq!(body["rejected"][0]["field"], field, "{body}");
    }
    s.settle("fb", 8);
    let range = today_range();
    let voc = s.get(&format!("/v1/sites/fb/voc?{range}"));
    let f = &voc["feedback"];
    assert_eq!(f["count"], 5);
    assert_eq!(f["mean_rating"], json!(3.0));
    assert_eq!(f["negative"], 2);
    assert_eq!(f["negative_rate"], json!(40.0));
    assert_eq!(
        f["by_page"],
        json!([
            {"page": "shop.example/cart", "count": 3, "mean_rating": 2.67, "negative": 2},
            {"page": "shop.example/", "count": 2, "mean_rating": 3.5, "negative": 0},
        ])
    );
    assert_eq!(
        f["by_element"],
        json!([
            {"page": "shop.example/cart", "selector": "button.pay", "count": 2, "mean_rating": 1.5, "negative": 2},
            {"page": "shop.example/", "selector": "nav > a.docs", "count": 1, "mean_rating": 4.0, "negative": 0},
        ])
    );
    assert_eq!(
        f["by_category"],
        json!([{"category": "bug", "count": 2}, {"category": "idea", "count": 1},
               {"category": "other", "count": 1}, {"category": "praise", "count": 1}])
    );
    let day = today().to_string();
    assert_eq!(
        f["trend"],
        json!([{"day": day, "count": 5, "mean_rating": 3.0, "negative": 2}])
    );
    // Newest first; every submission carries its session key.
    let sessions: Vec<&str> = f["recent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["session"].as_str().unwrap())
        .collect();
    assert_eq!(sessions, ["f5", "f4", "f3", "f2", "f1"]);

    let recent = |q: &str| -> Vec<String> {
        s.get(&format!("/v1/sites/fb/voc?{range}&{q}"))["feedback"]["recent"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["comment"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        recent("rating=1-2"),
        ["the pay button is broken", "Pay button does nothing"]
    );
    assert_eq!(recent("category=praise"), ["lovely cart"]);
    assert_eq!(recent("page=https://shop.example/&rating=4"), ["dark mode please"]);
    assert_eq!(recent("q=BUTTON&limit=1"), ["the pay button is broken"]);

    // Text answers: searchable, with top terms, linked to their session.
    let text = &question(&voc, "exit", "why")["text"];
    assert_eq!(text["answers"], 3);
    assert_eq!(
        text["top_terms"].as_array().unwrap()[..2],
        [
            json!({"term": "broken", "count": 2}),
            json!({"term": "pay", "count": 2})
        ]
    );
    let hits = s.get(&format!("/v1/sites/fb/voc?{range}&q=broken&survey=exit"));
    let t2 = &question(&hits, "exit", "why")["text"];
    assert_eq!(t2["answers"], 2);
    let hit_sessions: Vec<&str> = t2["recent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["session"].as_str().unwrap())
        .collect();
    assert_eq!(hit_sessions, ["f3", "f1"]);

    let r = s
        .http
        .get(s.url(&format!("/v1/sites/fb/voc?{range}&rating=0-9")))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.json::<Value>().unwrap()["field"], "rating");
}

#[test]
fn surveys_are_managed_by_the_admin_api_and_a_file_and_served_to_the_snippet() {
    let s = Server::start(&[]);
    s.site("adm", &["*"]);
    let survey = json!({
        "title": "Before you go",
        "questions": [{"id": "q1", "kind": "nps", "text": "Recommend us?"},
                      {"id": "q2", "kind": "choice", "text": "Why?", "options": ["Price", "Docs"], "multiple": true}],
        "targeting": {"pages": ["*/pricing*"], "devices": ["desktop"]},
        "trigger": {"type": "exit_intent"}, "frequency": "session"
    });
    assert_eq!(put(&s, "/v1/sites/adm/surveys/exit", &survey).0, 201);
    assert_eq!(
        put(&s, "/v1/sites/adm/surveys/exit", &survey).0,
        200,
        "a second PUT replaces"
    );
    let got = s.get("/v1/sites/adm/surveys/exit");
    assert_eq!(got["id"], "exit");
    assert_eq!(got["sampling"], 1.0);
    assert_eq!(got["placement"], json!({"type": "popup"}));

    // Bad definitions name the field.
    let mut bad = survey.clone();
    bad["questions"][1]["options"] = json!(["Price"]);
    let (st, body) = put(&s, "/v1/sites/adm/surveys/exit", &bad);
    assert_eq!(
        (st, body["field"].as_str()),
        (400, Some("questions[1].options")),
        "{body}"
    );
    let mut bad = survey.clone();
    bad["trigger"] = json!({"type": "time_on_page", "ms": -1});
    let (st, body) = put(&s, "/v1/sites/adm/surveys/exit", &bad);
    assert_eq!((st, body["field"].as_str()), (400, Some("trigger")), "{body}");
    let (st, body) = put(
        &s,
        "/v1/sites/adm/surveys/exit",
        &json!({"id": "other", "questions": [], "trigger": {"type": "manual"}}),
    );
    assert_eq!((st, body["field"].as_str()), (400, Some("id")), "{body}");
    let r = s
        .http
        .patch(s.url("/v1/sites/adm"))
        .bearer_auth(TOKEN)
        .json(&json!({"settings": {"feedback": {"enabled": true, "categories": ["bug", "rant"]}}}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.json::<Value>().unwrap()["field"], "settings.feedback.categories[1]");

    // The config file path: one survey, a list, or {"surveys", "feedback"}; upserts by id.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("voc.json");
    std::fs::write(
        &file,
        json!({
            "surveys": [{"id": "csat", "enabled": false, "questions": [{"id": "q1", "kind": "csat", "text": "Happy?"}],
                         "trigger": {"type": "custom_event", "name": "checkout"}}],
            "feedback": {"enabled": true, "categories": ["bug", "idea"], "position": "left"}
        })
        .to_string(),
    )
    .unwrap();
    let out = s.cli(&["survey", "apply", file.to_str().unwrap(), "--site", "adm"]);
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = printed["surveys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["exit", "csat"]);
    std::fs::write(&file, r#"{"id": "x", "questions": [{"id": "q1", "kind": "text", "text": "Hi", "options": ["a"]}], "trigger": {"type": "manual"}}"#).unwrap();
    let bad = Command::new(env!("CARGO_BIN_EXE_sightline"))
        .args(["survey", "apply", file.to_str().unwrap(), "--site", "adm", "--data-dir"])
        .arg(&s.data_dir)
        .args(s.warehouse_args())
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("questions[0].options"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );

    // The snippet's config: enabled surveys only, the feedback button, the exit-intent rule.
    // (The CLI wrote to the warehouse; the server's site cache refreshes within 5 s.)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let cfg = loop {
        let cfg: Value = s
            .http
            .get(s.url("/v1/sites/adm/config"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        if !cfg["feedback"].is_null() || std::time::Instant::now() > deadline {
            break cfg;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    };
    let served: Vec<&str> = cfg["surveys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(served, ["exit"], "{cfg}");
    assert_eq!(cfg["surveys"][0]["trigger"], json!({"type": "exit_intent"}));
    assert!(cfg["surveys"][0].get("enabled").is_none());
    assert_eq!(cfg["feedback"]["categories"], json!(["bug", "idea"]));
    assert_eq!(cfg["feedback"]["position"], "left");
    assert_eq!(
        cfg["exit_intent"],
        json!({"min_page_ms": 5000, "hidden_ms": 5000, "scroll_px_per_s": 1000})
    );

    let del = |id: &str| {
        s.http
            .delete(s.url(&format!("/v1/sites/adm/surveys/{id}")))
            .bearer_auth(TOKEN)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(del("exit"), 204);
    assert_eq!(del("exit"), 404);
    let list = s.get("/v1/sites/adm/surveys");
    assert_eq!(list["surveys"].as_array().unwrap().len(), 1);
    assert_eq!(
        s.http
            .get(s.url("/v1/sites/adm/surveys"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        401
    );

    let doc: Value = s.http.get(s.url("/v1/openapi.json")).send().unwrap().json().unwrap();
    for p in [
        "/v1/sites/{key}/surveys",
        "/v1/sites/{key}/surveys/{id}",
        "/s/widgets.js",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} missing from the OpenAPI document");
    }
    // The widgets are served apart from the snippet, which stays small.
    let widgets = s.http.get(s.url("/s/widgets.js")).send().unwrap();
    assert_eq!(widgets.status().as_u16(), 200);
    assert!(widgets.text().unwrap().contains("attachShadow"));
    let core = s.http.get(s.url("/s.js")).send().unwrap().text().unwrap();
    assert!(
        !core.contains("attachShadow"),
        "the widget code is not in the core snippet"
    );
}

/// Issue 18, item 9: a multi-choice question answered once is one response; free text is no
/// distribution; every kind has a trend; `q=` narrows the counts, not only the lists.
#[test]
fn responses_count_answers_text_has_no_distribution_every_kind_trends_and_q_narrows_counts() {
    let s = Server::start(&[]);
    s.site("v9", &["*"]);
    let t = now_ms() - 60_000;
    let day = today_range();
    let fb = |session: &str, ts: i64, rating: u8, comment: &str| {
        event(
            "feedback",
            session,
            URL,
            ts,
            json!({"rating": rating, "category": "idea", "comment": comment}),
        )
    };
    let evs = vec![
        // One answer choosing two options; a second answer choosing one.
        answer("a", t, "s", "why", "choice", json!(["Docs", "Pricing"])),
        answer("b", t + 1, "s", "why", "choice", json!("Docs")),
        // Three free-text answers, two of them about pricing.
        answer("a", t + 2, "s", "say", "text", json!("Pricing is too high")),
        answer("b", t + 3, "s", "say", "text", json!("love the docs")),
        answer("c", t + 4, "s", "say", "text", json!("pricing page confusing")),
        // Feedback: two comments about pricing (ratings 1, 2), one not (rating 5).
        fb("a", t + 5, 1, "pricing is unclear"),
        fb("b", t + 6, 2, "Pricing again"),
        fb("c", t + 7, 5, "great docs"),
    ];
    let n = evs.len() as u64;
    let (st, body) = s.post(&batch("v9", evs));
    assert_eq!(st, 202, "{body}");
    s.settle("v9", n);

    let voc = s.get(&format!("/v1/sites/v9/voc?{day}"));
    let why = question(&voc, "s", "why");
    assert_eq!(
        (why["responses"].clone(), why["sessions"].clone()),
        (json!(2), json!(2))
    );
    assert_eq!(why["distribution"], json!({"Docs": 2, "Pricing": 1}));
    let today = why["trend"][0]["day"].clone();
    assert_eq!(
        why["trend"],
        json!([{"day": today, "responses": 2, "choices": {"Docs": 2, "Pricing": 1}}])
    );
    let say = question(&voc, "s", "say");
    assert_eq!(say["responses"], 3);
    assert_eq!(say["distribution"], json!({}), "free text is no category");
    assert_eq!(say["trend"], json!([{"day": today, "responses": 3}]));
    assert_eq!(voc["feedback"]["count"], 3);

    let q = s.get(&format!("/v1/sites/v9/voc?q=PRICING&{day}"));
    let say = question(&q, "s", "say");
    assert_eq!(say["responses"], 2);
    assert_eq!(say["sessions"], 2);
    assert_eq!(say["text"]["answers"], 2);
    assert_eq!(say["trend"], json!([{"day": today, "responses": 2}]));
    let f = &q["feedback"];
    assert_eq!((f["count"].clone(), f["negative"].clone()), (json!(2), json!(2)));
    assert_eq!(f["mean_rating"], json!(1.5));
    assert_eq!(f["by_page"][0]["count"], 2);
    assert_eq!(f["recent"].as_array().unwrap().len(), 2);
}
