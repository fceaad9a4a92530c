use super::*;

#[test]
fn a_gap_longer_than_30_minutes_starts_a_new_session() {
    let events = vec![
        custom("a", at(10, 0), "x"),
        custom("b", at(10, 30), "x"),    // exactly 30 min: same session
        custom("c", at(11, 0) + 1, "x"), // 30 min + 1 ms: new session
    ];
    let sessions = sessionize(&events, &Rules::default());
    assert_eq!(
        starts(&sessions),
        vec![("s#0".to_string(), at(10, 0), 2), ("s#1".to_string(), at(11, 0) + 1, 1)]
    );
    assert_eq!(sessions[0].end, at(10, 30));
}

#[test]
fn a_session_is_cut_at_the_4_hour_cap() {
    // One event every 20 min from 10:00: 10:00..13:40 is one session, 14:00 starts
    // the next (14:00 − 10:00 = 4 h ≥ cap).
    let events: Vec<Event> = (0..15)
        .map(|i| custom(&format!("e{i:02}"), at(10, 0) + i * 20 * MIN, "tick"))
        .collect();
    let sessions = sessionize(&events, &Rules::default());
    assert_eq!(
        starts(&sessions),
        vec![("s#0".to_string(), at(10, 0), 12), ("s#1".to_string(), at(14, 0), 3)]
    );
    assert_eq!(sessions[0].end, at(13, 40));
}

#[test]
fn late_and_out_of_order_events_follow_event_time_i9() {
    // Received in this order: 10:00, 10:04, then 09:00 (arriving at 10:05), then 10:05
    // (arriving two days later).
    let mut late = custom("c", at(9, 0), "x");
    late.received_at = at(10, 5);
    let mut very_late = custom("d", at(10, 5), "x");
    very_late.received_at = at(10, 5) + 2 * DAY_MS;
    let events = vec![
        custom("a", at(10, 0), "x"),
        custom("b", at(10, 4), "x"),
        late,
        very_late,
    ];
    let sessions = sessionize(&events, &Rules::default());
    assert_eq!(
        starts(&sessions),
        vec![("s#0".to_string(), at(9, 0), 1), ("s#1".to_string(), at(10, 0), 3)]
    );
    assert_eq!(sessions[1].end, at(10, 5));

    // An event stamped 10:05 on the next day is its own session, on that day.
    let mut next_day = events.clone();
    next_day[3].ts += DAY_MS;
    let sessions = sessionize(&next_day, &Rules::default());
    assert_eq!(sessions.len(), 3);
    assert_eq!(sessions[2].start, at(10, 5) + DAY_MS);
    assert_eq!(compute_day(&next_day, DAY, &Rules::default()).sessions.len(), 2);
    let next = compute_day(&next_day, DAY + DAY_MS, &Rules::default());
    assert_eq!(next.sessions.len(), 1);
    assert_eq!(next.sessions[0].session_key, "s#2");
}

#[test]
fn duplicated_ids_are_counted_once_i8() {
    let once = vec![
        pageview("p1", at(10, 0), "shop.example/"),
        click("c1", at(10, 1), 10.0, 10.0, "button.buy"),
        custom("e1", at(10, 2), "signup"),
    ];
    let mut twice = once.clone();
    twice.extend(once.clone());
    // The same id again with another type is not a second event either.
    twice.push(custom("c1", at(10, 3), "other"));
    let rules = Rules::default();
    let sessions = sessionize(&twice, &rules);
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].events.len(), 3);
    assert_eq!(compute_day(&twice, DAY, &rules), compute_day(&once, DAY, &rules));
}

#[test]
fn the_same_page_within_the_dedup_window_is_one_page_view_a1() {
    let first = pageview("p1", at(10, 0), "app.example/#/cart");
    let second = pageview("p2", at(10, 0) + 15, "app.example/#/cart");
    // A click sent with the second pageview's id belongs to the merged page view.
    let mut c = click("c1", at(10, 1), 5.0, 5.0, "button");
    c.pageview_id = Some("pv-p2".to_string());
    let later = pageview("p3", at(10, 0) + 15 + 501, "app.example/#/cart");
    let events = vec![first, second, c, later];
    let sessions = sessionize(&events, &Rules::default());
    let pvs = &sessions[0].pageviews;
    assert_eq!(pvs.len(), 2);
    assert_eq!(pvs[0].id, "pv-p1");
    assert_eq!(pvs[0].events.len(), 1);
    assert_eq!(pvs[1].id, "pv-p3");

    let day = compute_day(&events[..2], DAY, &Rules::default());
    assert_eq!(day.pages.len(), 1);
    assert_eq!(day.pages[0].page, "app.example/#/cart");
    assert_eq!(day.pages[0].pageviews, 1);
    assert_eq!(day.sessions[0].pageviews, 1);
}

#[test]
fn events_join_their_page_view_by_id_else_the_latest_else_a_synthetic_one() {
    let mut early = click("c0", at(9, 59), 1.0, 1.0, "a");
    early.page_key = "shop.example/landing".to_string();
    let a = pageview("pa", at(10, 0), "shop.example/a");
    let b = pageview("pb", at(10, 1), "shop.example/b");
    // Sent late for page view a (its id), after b started.
    let mut for_a = click("c1", at(10, 2), 1.0, 1.0, "a");
    for_a.pageview_id = Some("pv-pa".to_string());
    // No id, and an unknown id: the latest page view (b).
    let no_id = click("c2", at(10, 3), 1.0, 1.0, "a");
    let mut unknown = click("c3", at(10, 4), 1.0, 1.0, "a");
    unknown.pageview_id = Some("pv-zz".to_string());
    let events = vec![b, unknown, a, no_id, for_a, early];
    let sessions = sessionize(&events, &Rules::default());
    let pvs = &sessions[0].pageviews;
    let ids: Vec<(&str, &str, usize)> = pvs
        .iter()
        .map(|p| (p.id.as_str(), p.page_key.as_str(), p.events.len()))
        .collect();
    assert_eq!(
        ids,
        vec![
            ("synthetic:c0", "shop.example/landing", 1),
            ("pv-pa", "shop.example/a", 1),
            ("pv-pb", "shop.example/b", 2),
        ]
    );
    assert!(pvs[0].pageview.is_none());
    let ordered: Vec<&str> = pvs[2].events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ordered, vec!["c2", "c3"]);

    let day = compute_day(&events, DAY, &Rules::default());
    let steps: Vec<&str> = day.sessions[0].steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(steps, vec!["shop.example/landing", "shop.example/a", "shop.example/b"]);
    assert_eq!(day.sessions[0].pageviews, 2);
    let landing = day.pages.iter().find(|p| p.page == "shop.example/landing").unwrap();
    assert_eq!((landing.pageviews, landing.clicks), (0, 1));
}

#[test]
fn session_rows_go_to_their_start_day_and_page_rows_to_their_page_view_day() {
    let next = DAY + DAY_MS;
    let events = vec![
        pageview("p1", next - 10 * MIN, "a"),
        pageview("p2", next + 5 * MIN, "b"),
        click("c1", next + 6 * MIN, 1.0, 1.0, "button"),
        {
            let mut f = event(
                "f1",
                next + 7 * MIN,
                Payload::Feedback {
                    rating: Some(2),
                    comment: Some("slow".into()),
                    category: Some("bug".into()),
                    selector: None,
                },
            );
            f.device = DeviceClass::Mobile;
            f
        },
    ];
    assert_eq!(day_of(next + 5 * MIN), next);
    let first = compute_day(&events, DAY, &Rules::default());
    assert_eq!(first.sessions.len(), 1);
    assert_eq!(first.sessions[0].clicks, 1);
    assert_eq!(first.sessions[0].feedback, 1);
    assert_eq!(journeys(&first.sessions, None).transitions.len(), 1);
    let pages: Vec<&str> = first.pages.iter().map(|p| p.page.as_str()).collect();
    assert_eq!(pages, vec!["a"]);
    assert!(first.feedback.is_empty());

    let second = compute_day(&events, next, &Rules::default());
    assert!(second.sessions.is_empty());
    let pages: Vec<(&str, u64)> = second.pages.iter().map(|p| (p.page.as_str(), p.clicks)).collect();
    assert_eq!(pages, vec![("b", 1)]);
    assert_eq!(second.feedback.len(), 1);
    let f = &second.feedback[0];
    assert_eq!(
        (f.page.as_str(), f.session_key.as_str(), f.rating),
        ("b", "s#0", Some(2))
    );
    assert_eq!(f.dims.device, DeviceClass::Desktop); // the page view's device
}

#[test]
fn bot_sessions_are_emitted_flagged() {
    let mut events = vec![pageview("p1", at(10, 0), "a"), click("c1", at(10, 1), 1.0, 1.0, "b")];
    events[1].bot_reason = Some("webdriver".into());
    let day = compute_day(&events, DAY, &Rules::default());
    assert!(day.sessions[0].dims.bot);
    assert!(day.pages[0].dims.bot);
}

#[test]
fn midnight_split_is_off_by_default_and_uses_the_site_time_zone_when_on() {
    // Berlin in June is UTC+2: local midnight is 22:00 UTC.
    let midnight = DAY + 22 * HOUR;
    let events = vec![
        pageview("p1", midnight - 10 * MIN, "a"),
        pageview("p2", midnight - 1, "b"),
        pageview("p3", midnight, "c"), // 00:00:00.000 belongs to the new day
        pageview("p4", midnight + 10 * MIN, "d"),
    ];
    assert_eq!(sessionize(&events, &Rules::default()).len(), 1);
    let rules = Rules {
        split_at_midnight: true,
        time_zone: chrono_tz::Europe::Berlin,
        ..Rules::default()
    };
    let split = sessionize(&events, &rules);
    let got: Vec<Vec<&str>> = split
        .iter()
        .map(|s| s.pageviews.iter().map(|p| p.page_key.as_str()).collect())
        .collect();
    assert_eq!(got, vec![vec!["a", "b"], vec!["c", "d"]]);
    // In UTC the same events do not cross midnight.
    let utc = Rules {
        split_at_midnight: true,
        ..Rules::default()
    };
    assert_eq!(sessionize(&events, &utc).len(), 1);
}

#[test]
fn unknown_time_zones_are_refused_naming_the_field() {
    let e = serde_json::from_value::<Rules>(serde_json::json!({"time_zone": "Mars/Olympus"})).unwrap_err();
    assert!(e.to_string().contains("time_zone"), "{e}");
    let r: Rules = serde_json::from_value(serde_json::json!({"time_zone": "Asia/Kolkata"})).unwrap();
    assert_eq!(r.time_zone, chrono_tz::Asia::Kolkata);
    assert_eq!(serde_json::to_value(&r).unwrap()["time_zone"], "Asia/Kolkata");
}

#[test]
fn a_site_in_berlin_has_its_rows_on_local_days_including_the_23_hour_day() {
    // 2026-03-29 in Berlin runs from 23:00 UTC on the 28th to 22:00 UTC on the 29th.
    let ms = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis();
    let tz = chrono_tz::Europe::Berlin;
    let rules = Rules {
        time_zone: tz,
        ..Rules::default()
    };
    // One snippet session: page views at 23:50 on the 28th and 00:10 on the 29th, local.
    let events = vec![
        pageview("p1", ms("2026-03-28T22:50:00Z"), "a"),
        pageview("p2", ms("2026-03-28T23:10:00Z"), "b"),
    ];
    let out = compute_sessions(events, &rules);
    let (d28, d29) = (ms("2026-03-27T23:00:00Z"), ms("2026-03-28T23:00:00Z"));
    assert_eq!((out[0].first_day, out[0].last_day), (d28, d29));
    let pages: Vec<(&str, i64)> = out[0]
        .rows
        .pages
        .iter()
        .map(|p| (p.page.as_str(), p.dims.day))
        .collect();
    assert_eq!(pages, vec![("a", d28), ("b", d29)]);
    // The session belongs to its local start day, the 28th (in UTC both are on the 28th).
    assert_eq!(out[0].rows.sessions[0].dims.day, d28);
    assert_eq!(crate::model::days::next_day(d29, tz) - d29, 23 * HOUR);
}
