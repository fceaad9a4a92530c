use super::*;

#[test]
fn selector_from_a_chain_names_the_link_like_the_snippet() {
    let chain = r#"span.icon:nth-child="1"nth-of-type="1";a.collapse-item.active:text="Cards"href="cards.html"nth-child="2"nth-of-type="2"attr__class="collapse-item active"attr__href="cards.html";div.bg-white.py-2.collapse-inner.rounded:nth-child="1"nth-of-type="1";div#collapseTwo.collapse:attr__id="collapseTwo"nth-child="3"nth-of-type="2";body:nth-child="2""#;
    let mut p = Map::new();
    p.insert("$elements_chain".into(), json!(chain));
    let (sel, tag, nav) = selector_of(&p);
    assert_eq!(
        sel,
        "div#collapseTwo > div.bg-white.py-2.collapse-inner > a.collapse-item:nth-of-type(2)"
    );
    // The class attribute's order wins over the head's sorted classes; body ends the chain.
    p.insert(
        "$elements_chain".into(),
        json!(r#"button.btn.btn-primary:attr__class="btn btn-primary"nth-of-type="1";form.d-none.form-inline:attr__class="form-inline d-none";body:nth-of-type="1""#),
    );
    assert_eq!(
        selector_of(&p).0,
        "body > form.form-inline.d-none > button.btn.btn-primary"
    );
    assert_eq!(tag.as_deref(), Some("a"));
    assert!(nav);
    p.insert(
        "$elements_chain".into(),
        json!(r#"button#save.btn:attr__id="save";body"#),
    );
    assert_eq!(selector_of(&p).0, "#save");
}

#[test]
fn survey_pageleave_custom_and_alias_map_to_their_sightline_events() {
    let ev = |event: &str, props: Value| {
        let mut p = json!({"token": "phc_x", "distinct_id": "d1", "$device_id": "dev1", "$session_id": "s1",
                           "$current_url": "http://a.test/", "$pageview_id": "pv1", "$browser": "Chrome"});
        p.as_object_mut().unwrap().extend(props.as_object().unwrap().clone());
        json!({"event": event, "uuid": "0190a1b2-0000-7000-8000-000000000001",
               "timestamp": "2026-12-05T07:00:00.250Z", "properties": p})
    };
    let body = json!([
        ev("survey sent", json!({"$survey_id": "nps-1", "$survey_response": 9})),
        // Keyed by question id; `$survey_response` repeats the first answer (older clients).
        ev(
            "survey sent",
            json!({"$survey_id": "nps-2", "$survey_response": 7,
                                 "$survey_response_q1": 7, "$survey_response_q2": "great"})
        ),
        ev(
            "$pageleave",
            json!({"$prev_pageview_id": "pv0", "$prev_pageview_max_content_percentage": 0.4567})
        ),
        ev("$pageleave", json!({})),
        ev("signup", json!({"plan": "pro"})),
        ev("$create_alias", json!({"alias": "a-77"})),
        ev("$web_vitals", json!({})),
    ]);
    let m = map_body(body, None).unwrap();
    // Surveys: 1 + 2 answers; a $pageleave without depth and $web_vitals: ignored.
    assert_eq!((m.events.len(), m.ignored), (6, 2));
    let names: Vec<(&str, usize)> = m.ignored_events.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(names, [("$pageleave", 1), ("$web_vitals", 1)]);
    let fields = |e: &Value, names: &[&str]| names.iter().map(|n| e[*n].clone()).collect::<Vec<_>>();
    let survey = ["type", "survey_id", "question_id", "kind", "value"];
    assert_eq!(
        fields(&m.events[0], &survey),
        [
            json!("survey_response"),
            json!("nps-1"),
            json!("0"),
            json!("rating"),
            json!(9)
        ]
    );
    assert_eq!(
        fields(&m.events[1], &survey),
        [
            json!("survey_response"),
            json!("nps-2"),
            json!("q1"),
            json!("rating"),
            json!(7)
        ]
    );
    assert_eq!(
        fields(&m.events[2], &survey),
        [
            json!("survey_response"),
            json!("nps-2"),
            json!("q2"),
            json!("text"),
            json!("great")
        ]
    );
    assert_ne!(m.events[1]["id"], m.events[2]["id"]);
    assert_eq!(
        fields(&m.events[3], &["type", "depth", "pageview_id"]),
        [json!("scroll"), json!(45.7), json!("pv0")]
    );
    assert_eq!(
        fields(&m.events[4], &["name", "props"]),
        [json!("signup"), json!({"plan": "pro"})]
    );
    assert_eq!(
        fields(&m.events[5], &["name", "props"]),
        [json!("$identify"), json!({"anonymous_id": "a-77", "user_id": "d1"})]
    );
    assert_eq!(
        fields(&m.events[4], &["ts", "visitor_id", "session_id", "url", "pageview_id"]),
        [
            json!(1_796_454_000_250i64),
            json!("dev1"),
            json!("s1"),
            json!("http://a.test/"),
            json!("pv1")
        ]
    );
}

#[test]
fn junk_identify_records_no_link() {
    let body = json!([{"event": "$identify", "uuid": "0190a1b2-0000-7000-8000-000000000001", "timestamp": "2026-12-05T07:00:00Z",
        "properties": {"token": "phc_x", "distinct_id": "alice", "$anon_distinct_id": "undefined", "$current_url": "http://a.test/"}}]);
    let m = map_body(body, None).unwrap();
    assert_eq!((m.events.len(), m.ignored), (0, 1));
}
