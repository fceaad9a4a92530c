use super::*;
use serde_json::Value;

#[test]
fn lone_surrogates_are_replaced_and_pairs_kept() {
    let body = br#"{"site":"s","events":[{"a":"x\ud83d","b":"\ud83d\ude00","c":"\\ud800","d":"\udc00y\u00e9"}]}"#;
    let fixed = String::from_utf8(repair_lone_surrogates(body).unwrap()).unwrap();
    assert_eq!(
        fixed,
        r#"{"site":"s","events":[{"a":"x\ufffd","b":"\ud83d\ude00","c":"\\ud800","d":"\ufffdy\u00e9"}]}"#
    );
    let mut scratch = Vec::new();
    let env = parse_envelope(body, &mut scratch).unwrap();
    let ev = crate::event::wire::Json::from(env.events[0]).to_value().unwrap();
    assert_eq!(ev["a"], "x\u{fffd}");
    assert_eq!(ev["b"], "\u{1f600}");
    assert_eq!(ev["c"], "\\ud800");
    assert_eq!(ev["d"], "\u{fffd}y\u{e9}");
    // Strings are unescaped (and repaired) when read, so the body parses as it is.
    assert!(scratch.is_empty());
    assert!(repair_lone_surrogates(br#"{"a":"\ud83d\ude00"}"#).is_none());
}

#[test]
fn cuts_keep_short_text_and_never_split_a_user_perceived_character() {
    let thumbs = "👍🏽"; // two chars, one grapheme cluster
    assert_eq!(cut_chars(thumbs.repeat(2500), MAX_TEXT_CHARS), thumbs.repeat(2500));
    assert_eq!(
        cut_chars(format!("{}{thumbs}", "a".repeat(4999)), MAX_TEXT_CHARS),
        "a".repeat(4999)
    );
    assert_eq!(cut_chars("é".repeat(2001), MAX_COMMENT_CHARS), "é".repeat(2000));
    // Only a first cluster longer than the cap itself is cut inside (else nothing would be left).
    assert_eq!(cut_chars("👨\u{200d}👩\u{200d}👧 ok".into(), 3), "👨\u{200d}👩");
}

#[test]
fn a_click_keeps_its_element_text_folded_and_cut() {
    let click = |text: Value| {
        serde_json::json!({"id": "0190b3c2-7d4e-7b6a-9c1d-2e3f4a5b6c7d", "type": "click", "ts": 1_700_000_000_000i64, "session_id": "s",
            "visitor_id": "v", "url": "https://shop.example/", "x": 1, "y": 2, "selector": "#buy", "text": text})
    };
    let validate = |v: &Value| {
        let raw = serde_json::value::to_raw_value(v).unwrap();
        validate_event(0, &WireEvent::parse(&raw), "site")
    };
    let text_of = |v: &Value| match validate(v).unwrap().event.payload {
        Payload::Click { text, .. } => text,
        other => panic!("not a click: {other:?}"),
    };
    assert_eq!(text_of(&click(" Buy\n\t  now ".into())), Some("Buy now".to_string()));
    assert_eq!(
        text_of(&click("x".repeat(300).into())),
        Some("x".repeat(MAX_LABEL_CHARS))
    );
    assert_eq!(text_of(&click(" \n ".into())), None);
    let wrong = validate(&click(serde_json::json!(5))).unwrap();
    assert_eq!(wrong.warnings, vec!["text".to_string()]);
}
