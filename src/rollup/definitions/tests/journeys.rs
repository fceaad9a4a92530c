use super::*;

#[test]
fn journeys_give_transitions_entries_exits_and_five_page_paths() {
    let sessions: Vec<Vec<&str>> = vec![
        vec!["a", "b", "b", "c"],           // path a b c
        vec!["a", "b", "c", "d", "e", "f"], // path cut to a b c d e
        vec!["a"],                          // bounce
        vec!["a", "a"],                     // path a, two page views: not a bounce
    ];
    let mut events = Vec::new();
    for (n, pages) in sessions.iter().enumerate() {
        for (i, page) in pages.iter().enumerate() {
            let id = format!("{n}-{i}");
            events.push(in_session(
                pageview(&id, at(10, 0) + i as i64 * MIN, page),
                &format!("s{n}"),
            ));
        }
    }
    let day = compute_day(&events, DAY, &Rules::default());
    let j = journeys(&day.sessions, None);
    let transitions: Vec<(&str, &str, u64)> = j
        .transitions
        .iter()
        .map(|((from, to), count)| (from.as_str(), to.as_str(), *count))
        .collect();
    assert_eq!(
        transitions,
        vec![
            ("a", "b", 2),
            ("b", "c", 2),
            ("c", "d", 1),
            ("d", "e", 1),
            ("e", "f", 1)
        ]
    );
    let entries: Vec<(&str, u64, u64)> = j.entries.iter().map(|(p, (s, b))| (p.as_str(), *s, *b)).collect();
    assert_eq!(entries, vec![("a", 4, 1)]);
    let exits: Vec<(&str, u64)> = j.exits.iter().map(|(p, s)| (p.as_str(), *s)).collect();
    assert_eq!(exits, vec![("a", 2), ("c", 1), ("f", 1)]);
    let paths: Vec<(Vec<&str>, u64)> = j
        .paths
        .iter()
        .map(|(p, s)| (p.split(crate::model::rows::PATH_SEP).collect(), *s))
        .collect();
    assert_eq!(
        paths,
        vec![
            (vec!["a"], 2),
            (vec!["a", "b", "c"], 1),
            (vec!["a", "b", "c", "d", "e"], 1)
        ]
    );
    assert_eq!(day.sessions.len(), 4);
}

fn timeline(visitor: &str, steps: &[(i64, &str)]) -> SessionRow {
    SessionRow {
        dims: Dims {
            day: DAY,
            device: DeviceClass::Desktop,
            bot: false,
        },
        session_key: format!("{visitor}#0"),
        visitor_id: visitor.to_string(),
        start: steps.first().map_or(0, |s| s.0),
        end: steps.last().map_or(0, |s| s.0),
        pageviews: 0,
        steps: steps
            .iter()
            .map(|&(ts, name)| match name.strip_prefix("event:") {
                Some(n) => Step {
                    ts,
                    name: n.to_string(),
                    custom: true,
                },
                None => Step {
                    ts,
                    name: name.to_string(),
                    custom: false,
                },
            })
            .collect(),
        clicks: 0,
        rage_clicks: 0,
        dead_clicks: 0,
        quick_backs: 0,
        feedback: 0,
        survey_responses: 0,
        segment: Default::default(),
    }
}

#[test]
fn funnel_steps_parse_events_by_prefix() {
    assert_eq!(FunnelStep::parse("event:signup"), FunnelStep::Event("signup".into()));
    assert_eq!(
        FunnelStep::parse("shop.example/cart"),
        FunnelStep::Page("shop.example/cart".into())
    );
    assert_eq!(FunnelStep::parse("signup"), FunnelStep::Page("signup".into()));
}

#[test]
fn funnel_counts_steps_in_strict_order_within_the_window() {
    let steps: Vec<FunnelStep> = ["home", "cart", "event:buy"]
        .iter()
        .map(|s| FunnelStep::parse(s))
        .collect();
    let window = 30 * MIN;
    let sessions = vec![
        // All three, with other steps between.
        timeline(
            "v1",
            &[(0, "home"), (1, "about"), (2, "cart"), (3, "event:x"), (4, "event:buy")],
        ),
        // Wrong order: cart and buy before home.
        timeline("v2", &[(0, "event:buy"), (1, "cart"), (2, "home")]),
        // Buy before cart.
        timeline("v7", &[(0, "home"), (1, "event:buy"), (2, "cart")]),
        // Buy outside the window from home.
        timeline("v3", &[(0, "home"), (1, "cart"), (window + 1, "event:buy")]),
        // The first home is too early, a later home completes within the window.
        timeline(
            "v4",
            &[
                (0, "home"),
                (MIN, "cart"),
                (2 * window, "home"),
                (2 * window + 1, "cart"),
                (2 * window + 2, "event:buy"),
            ],
        ),
        // A page named like the event is not the event.
        timeline("v5", &[(0, "home"), (1, "cart"), (2, "buy")]),
        // Never on home.
        timeline("v6", &[(0, "cart"), (1, "event:buy")]),
        // Same visitor again, all steps exactly at the window edge.
        timeline("v1", &[(0, "home"), (window, "cart"), (window, "event:buy")]),
    ];
    assert_eq!(funnel(&sessions, &steps, window, false), vec![7, 6, 3]);
    assert_eq!(funnel(&sessions, &steps, window, true), vec![6, 5, 2]);
    assert_eq!(funnel(&sessions, &[], window, false), Vec::<u64>::new());
}

#[test]
fn journeys_over_session_rows_count_entries_and_filter_by_entry_page() {
    let sessions: Vec<Vec<&str>> = vec![
        vec!["a", "b", "b", "c"],
        vec!["a", "b", "c", "d", "e", "f"],
        vec!["a"],
        vec!["a", "a"],
        vec!["x", "a"],
    ];
    let mut events = Vec::new();
    for (n, pages) in sessions.iter().enumerate() {
        for (i, page) in pages.iter().enumerate() {
            let id = format!("{n}-{i}");
            events.push(in_session(
                pageview(&id, at(10, 0) + i as i64 * MIN, page),
                &format!("s{n}"),
            ));
        }
    }
    // A session whose first events came before any page view (its page view was cut
    // off): a page view of the first event's page.
    let mut orphan = in_session(custom("o1", at(11, 0), "signup"), "s9");
    orphan.page_key = "x".into();
    events.push(orphan);
    let day = compute_day(&events, DAY, &Rules::default());
    let j = journeys(&day.sessions, None);
    assert_eq!((j.sessions, j.bounces), (6, 2));
    assert_eq!(j.entries["x"], (2, 1));
    assert_eq!(j.entries["a"], (4, 1));
    assert_eq!(j.transitions[&("x".to_string(), "a".to_string())], 1);

    let only_a = journeys(&day.sessions, Some("a"));
    assert_eq!((only_a.sessions, only_a.bounces), (4, 1));
    assert!(only_a.entries.keys().all(|k| k == "a"));
    assert!(!only_a.transitions.contains_key(&("x".to_string(), "a".to_string())));
    assert_eq!(journeys(&day.sessions, Some("a?")).sessions, 0);
}
