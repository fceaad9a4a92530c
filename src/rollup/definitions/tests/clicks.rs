use super::*;

#[test]
fn a_rage_burst_counts_once_on_its_first_click() {
    let rules = Rules::default();
    let events = vec![
        pageview("p", at(10, 0), "shop.example/"),
        // Burst of 4 on button.a (the 3rd lands on button.b but joins the burst).
        click("c1", at(10, 1), 100.0, 100.0, "button.a"),
        click("c2", at(10, 1) + 900, 110.0, 110.0, "button.a"),
        click("c3", at(10, 1) + 1800, 115.0, 115.0, "button.b"),
        click("c4", at(10, 1) + 2700, 115.0, 115.0, "button.a"),
        // 1001 ms later: a new run of 2, not rage.
        click("c5", at(10, 1) + 3701, 115.0, 115.0, "button.a"),
        click("c6", at(10, 1) + 4000, 115.0, 115.0, "button.a"),
        // Far away (31 px): breaks the run.
        click("c7", at(10, 1) + 4100, 146.0, 115.0, "button.a"),
    ];
    let day = compute_day(&events, DAY, &rules);
    let rows: Vec<(&str, u64, u64)> = day
        .elements
        .iter()
        .map(|e| (e.selector.as_str(), e.clicks, e.rage_clicks))
        .collect();
    assert_eq!(rows, vec![("button.a", 6, 1), ("button.b", 1, 0)]);
    assert_eq!(day.sessions[0].rage_clicks, 1);
}

#[test]
fn steppers_ignored_selectors_and_text_inputs_are_never_rage_a3() {
    let rules = Rules {
        rage_ignore_selectors: vec!["button.qty-plus".to_string()],
        ..Rules::default()
    };
    let t = at(10, 1);
    let mut events = vec![pageview("p", at(10, 0), "shop.example/cart")];
    for i in 0..4 {
        events.push(click_on(&format!("n{i}"), t + i * 150, "input[type=number]", |p| {
            if let Payload::Click { tag, input_type, .. } = p {
                *tag = Some("input".to_string());
                *input_type = Some("number".to_string());
            }
        }));
    }
    for i in 0..3 {
        let selector = "form.cart > button.qty-plus";
        events.push(click_on(&format!("q{i}"), t + 5_000 + i * 150, selector, |_| {}));
    }
    let day = compute_day(&events, DAY, &rules);
    assert_eq!(day.sessions[0].clicks, 7);
    assert_eq!(day.sessions[0].rage_clicks, 0);
    assert!(day.elements.iter().all(|e| e.rage_clicks == 0));

    // 3 clicks 200 ms apart on button.pay with no reaction: one rage click, three dead.
    for i in 0..3 {
        events.push(click_on(
            &format!("y{i}"),
            t + 10_000 + i * 200,
            "button.pay",
            no_reaction,
        ));
    }
    let day = compute_day(&events, DAY, &rules);
    let pay = day.elements.iter().find(|e| e.selector == "button.pay").unwrap();
    assert_eq!((pay.clicks, pay.rage_clicks, pay.dead_clicks), (3, 1, 3));
    assert_eq!(day.sessions[0].rage_clicks, 1);
    assert_eq!(day.sessions[0].dead_clicks, 3);
}

#[test]
fn exempt_clicks_take_no_part_in_bursts() {
    // pay, textarea, pay, pay within 1 s: the textarea click is skipped, so the three pay
    // clicks are one burst.
    let t = at(10, 1);
    let events = vec![
        pageview("p", at(10, 0), "shop.example/"),
        click("c1", t, 100.0, 100.0, "button.pay"),
        click_on("c2", t + 100, "textarea#note", |p| {
            if let Payload::Click { tag, .. } = p {
                *tag = Some("TEXTAREA".to_string());
            }
        }),
        click("c3", t + 200, 100.0, 100.0, "button.pay"),
        click("c4", t + 300, 100.0, 100.0, "button.pay"),
    ];
    let day = compute_day(&events, DAY, &Rules::default());
    assert_eq!(day.sessions[0].rage_clicks, 1);
}

#[test]
fn ignore_entries_match_equal_suffix_or_start_of_the_last_compound() {
    assert!(selector_ignored("button.qty-plus", "button.qty-plus"));
    assert!(selector_ignored("form > button.qty-plus", ".qty-plus"));
    assert!(selector_ignored(
        "div.cart button.qty-plus:nth-child(2)",
        "button.qty-plus"
    ));
    assert!(selector_ignored("ul > li:nth-child(2n+1) > a.day", "a.day"));
    assert!(!selector_ignored("button.qty-plus > span", "button.qty-plus"));
    assert!(!selector_ignored("button.pay", ""));
    assert_eq!(last_compound("a[title='x > y'] b.c"), "b.c");
    assert_eq!(last_compound("li:nth-child(2n+1)"), "li:nth-child(2n+1)");
}

#[test]
fn navigating_modifier_and_text_entry_clicks_are_never_dead() {
    let t = at(10, 1);
    let events = vec![
        pageview("p", at(10, 0), "shop.example/"),
        click_on("c1", t, "a.nav", |p| {
            no_reaction(p);
            if let Payload::Click { navigates, .. } = p {
                *navigates = true;
            }
        }),
        click_on("c2", t + 10_000, "a.new-tab", |p| {
            no_reaction(p);
            if let Payload::Click { modifier, .. } = p {
                *modifier = true;
            }
        }),
        click_on("c3", t + 20_000, "div.slow", |p| {
            if let Payload::Click { reaction_ms, .. } = p {
                *reaction_ms = Some(2501);
            }
        }),
        click_on("c4", t + 30_000, "div.ok", |p| {
            if let Payload::Click { reaction_ms, .. } = p {
                *reaction_ms = Some(2500);
            }
        }),
        click_on("c5", t + 40_000, "div.dead", no_reaction),
        click_on("c6", t + 50_000, "input#email", |p| {
            no_reaction(p);
            if let Payload::Click { tag, input_type, .. } = p {
                *tag = Some("input".into());
                *input_type = Some("email".into());
            }
        }),
        click_on("c7", t + 60_000, "textarea#msg", |p| {
            no_reaction(p);
            if let Payload::Click { tag, .. } = p {
                *tag = Some("textarea".into());
            }
        }),
    ];
    let day = compute_day(&events, DAY, &Rules::default());
    let dead: Vec<(&str, u64)> = day
        .elements
        .iter()
        .map(|e| (e.selector.as_str(), e.dead_clicks))
        .collect();
    assert_eq!(
        dead,
        vec![
            ("a.nav", 0),
            ("a.new-tab", 0),
            ("div.dead", 1),
            ("div.ok", 0),
            ("div.slow", 1),
            ("input#email", 0),
            ("textarea#msg", 0)
        ]
    );
    assert_eq!(day.sessions[0].dead_clicks, 2);
}
