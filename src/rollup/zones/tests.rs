use super::*;
use crate::event::{DeviceClass, Event, Viewport};
use crate::rollup::{compute_day, sessionize, ProblemRow, SessionRow, DAY_MS};

/// 2025-06-01 00:00 UTC.
const DAY: i64 = 20_240 * DAY_MS;
const T: i64 = DAY + 10 * 3_600_000;

fn ev(id: &str, session: &str, pv: &str, ts: i64, page: &str, payload: Payload) -> Event {
    Event {
        client: None,
        source: None,
        id: id.to_string(),
        site: "site".to_string(),
        ts,
        client_ts: ts,
        received_at: ts,
        skew_rule: "none".to_string(),
        session_id: session.to_string(),
        visitor_id: format!("v-{session}"),
        url: format!("https://{page}"),
        page_key: page.to_string(),
        viewport: Some(Viewport { w: 1280, h: 800 }),
        seq: None,
        pageview_id: Some(pv.to_string()),
        device: DeviceClass::Desktop,
        bot_reason: None,
        request_id: "r".to_string(),
        payload,
    }
}
fn pageview(id: &str, s: &str, ts: i64, page: &str) -> Event {
    ev(
        id,
        s,
        id,
        ts,
        page,
        Payload::Pageview {
            referrer: None,
            title: None,
            screen: None,
            layout: None,
        },
    )
}
fn zone(id: &str, s: &str, pv: &str, ts: i64, vis: u32, hov: u32, hes: Option<u32>) -> Event {
    ev(
        id,
        s,
        pv,
        ts,
        "a",
        Payload::Zone {
            zone: "cta".into(),
            visible_ms: vis,
            hover_ms: hov,
            hesitation_ms: hes,
        },
    )
}
fn click(id: &str, s: &str, pv: &str, ts: i64, zone: Option<&str>, reaction: Option<u32>) -> Event {
    ev(
        id,
        s,
        pv,
        ts,
        "a",
        Payload::Click {
            x: 10.0,
            y: 10.0,
            selector: "button.cta".into(),
            el: Some((0.5, 0.5)),
            tag: Some("button".into()),
            zone: zone.map(str::to_string),
            reaction_ms: reaction,
            keyboard: false,
            modifier: false,
            navigates: false,
            input_type: None,
            tracker: None,
            text: None,
        },
    )
}
fn custom(id: &str, s: &str, pv: &str, ts: i64, name: &str) -> Event {
    ev(
        id,
        s,
        pv,
        ts,
        "a",
        Payload::Custom {
            name: name.into(),
            props_json: "{}".into(),
        },
    )
}

fn counts(r: &ZoneRow) -> [u64; 10] {
    [
        r.exposed,
        r.clicked,
        r.exposed_clicked,
        r.visible_ms_sum,
        r.hovered,
        r.hover_ms_sum,
        r.hesitation_n,
        r.hesitation_ms_sum,
        r.click_sessions,
        r.converted_sessions,
    ]
}

/// The hand-computed table of the zone definitions (analytics.md, "Zones"):
///
/// | page view | visible ms        | hover ms | hesitation | clicked | goal after click |
/// |-----------|-------------------|----------|------------|---------|------------------|
/// | p1 (s1)   | 100 + 50 → exposed| 300+500  | 640 (first)| yes ×2  | event yes        |
/// | p2 (s2)   | 149 → not exposed | 0        | –          | yes     | before click: no |
/// | p3 (s3)   | 2000 → exposed    | 400      | –          | no      | –                |
/// | p4 (s4)   | (no zone events)  | –        | –          | no      | –                |
/// | p5 (s5)   | 150, next day     | –        | –          | –       | not in this day  |
#[test]
fn zone_rows_follow_the_hand_computed_table() {
    let events = vec![
        pageview("p1", "s1", T, "a"),
        zone("z1", "s1", "p1", T + 1_000, 100, 300, None),
        click("c1", "s1", "p1", T + 1_500, Some("cta"), Some(20)),
        click("c1b", "s1", "p1", T + 1_600, Some("cta"), Some(20)),
        zone("z2", "s1", "p1", T + 2_000, 50, 500, Some(640)),
        zone("z3", "s1", "p1", T + 2_500, 0, 0, Some(999)), // a later hesitation is ignored
        custom("g1", "s1", "p1", T + 3_000, "purchase"),
        pageview("p2", "s2", T + 10_000, "a"),
        custom("g2", "s2", "p2", T + 10_500, "purchase"), // before the click: no conversion
        zone("z4", "s2", "p2", T + 11_000, 149, 0, None),
        click("c2", "s2", "p2", T + 11_500, Some("cta"), Some(20)),
        pageview("p3", "s3", T + 20_000, "a"),
        zone("z5", "s3", "p3", T + 21_000, 2_000, 400, None),
        pageview("p4", "s4", T + 30_000, "a"),
        pageview("p5", "s5", DAY + DAY_MS + 1, "a"),
        zone("z6", "s5", "p5", DAY + DAY_MS + 2, 150, 0, None),
    ];
    let rules = Rules {
        goal: Some("event:purchase".into()),
        ..Rules::default()
    };
    let day = compute_day(&events, DAY, &rules);
    assert_eq!(day.zones.len(), 1);
    let r = &day.zones[0];
    assert_eq!((r.page.as_str(), r.zone.as_str()), ("a", "cta"));
    // exposed p1 p3; clicked p1 p2; both p1; visible 150+149+2000; hovered p1 (800) p3
    // (400); one hesitation 640; click sessions s1 s2, converted s1.
    assert_eq!(counts(r), [2, 2, 1, 2_299, 2, 1_200, 1, 640, 2, 1]);
    let m = zone_metrics(
        &{
            let mut t = ZoneTotals::default();
            t.add(r);
            t
        },
        4,
        true,
    );
    assert_eq!(
        m,
        ZoneMetrics {
            exposure_rate: Some(0.5),
            click_rate: Some(0.5),
            attractiveness: Some(0.5),
            hover_ms: Some(600.0),
            hesitation_ms: Some(640.0),
            conversion_rate: Some(0.5),
        }
    );

    // A higher exposure threshold recomputes exposure from the same raw events; no goal:
    // the two sessions that clicked are still counted, none as converted (fourth trial:
    // `click_sessions` was 0 next to `clicked: 2`).
    let strict = Rules {
        zone_exposure_ms: 2_000,
        ..Rules::default()
    };
    let r = &compute_day(&events, DAY, &strict).zones[0];
    assert_eq!(counts(r), [1, 2, 0, 2_299, 2, 1_200, 1, 640, 2, 0]);
    // A page goal: s2 never reaches page "b"; s1 does after its click.
    let mut with_page = events.clone();
    with_page.push(pageview("p6", "s1", T + 4_000, "b"));
    let page_goal = Rules {
        goal: Some("b".into()),
        ..Rules::default()
    };
    let r = &compute_day(&with_page, DAY, &page_goal).zones[0];
    assert_eq!((r.click_sessions, r.converted_sessions), (2, 1));
}

#[test]
fn zone_metrics_have_no_value_without_a_denominator() {
    let m = zone_metrics(&ZoneTotals::default(), 0, false);
    assert_eq!(
        m,
        ZoneMetrics {
            exposure_rate: None,
            click_rate: None,
            attractiveness: None,
            hover_ms: None,
            hesitation_ms: None,
            conversion_rate: None,
        }
    );
    let t = ZoneTotals {
        clicked: 1,
        click_sessions: 1,
        converted_sessions: 1,
        ..ZoneTotals::default()
    };
    let m = zone_metrics(&t, 4, false);
    assert_eq!(
        (m.exposure_rate, m.click_rate, m.conversion_rate),
        (Some(0.0), Some(0.25), None)
    );
}

#[test]
fn in_element_positions_fall_in_tenths_of_the_box() {
    let mut cells = Vec::new();
    for (x, y) in [
        (0.0, 0.0),
        (0.999, 0.5),
        (1.0, 1.0),
        (-0.5, 2.0),
        (0.95, 0.55),
        (f64::NAN, 0.1),
    ] {
        add_el_cell(&mut cells, x, y);
    }
    let got: Vec<(u8, u8, u64)> = cells.iter().map(|c| (c.x, c.y, c.count)).collect();
    assert_eq!(got, vec![(0, 0, 1), (0, 1, 1), (0, 9, 1), (9, 5, 2), (9, 9, 1)]);
}

fn detail(key: &str, pages: &[(&str, u32, u32, u32)], els: &[(&str, &str, u32, u32)]) -> SessionDetailRow {
    SessionDetailRow {
        dims: Dims {
            day: DAY,
            device: DeviceClass::Desktop,
            bot: false,
        },
        session_key: key.into(),
        pages: pages
            .iter()
            .map(|&(page, rage, dead, qb)| SessionPage {
                page: page.into(),
                pageviews: 1,
                clicks: rage + dead,
                rage_clicks: rage,
                dead_clicks: dead,
                quick_backs: qb,
            })
            .collect(),
        elements: els
            .iter()
            .map(|&(page, sel, rage, dead)| SessionElement {
                page: page.into(),
                selector: sel.into(),
                zone: String::new(),
                clicks: rage + dead,
                rage_clicks: rage,
                dead_clicks: dead,
            })
            .collect(),
        replays: Vec::new(),
        negative_feedback: 0,
    }
}

/// | session | page a (rage, dead, qb) | page b | elements               |
/// |---------|-------------------------|--------|------------------------|
/// | s1      | 1, 3, 0                 | 0,0,1  | a/pay: 1 rage 3 dead   |
/// | s2      | 0, 1, 0                 |        | a/pay: 1 dead          |
/// | s3      | 0, 0, 0                 | 0,2,0  | b/menu: 2 dead         |
/// → pages a (score 5, 2 sessions), b (3, 2); elements a/pay (5, 2), b/menu (2, 1).
#[test]
fn problems_rank_by_score_with_sessions_affected() {
    let d = [
        detail("s1", &[("a", 1, 3, 0), ("b", 0, 0, 1)], &[("a", "pay", 1, 3)]),
        detail("s2", &[("a", 0, 1, 0)], &[("a", "pay", 0, 1)]),
        detail("s3", &[("a", 0, 0, 0), ("b", 0, 2, 0)], &[("b", "menu", 0, 2)]),
    ];
    // Rows summed per key, as a store keeps them, rank like the rows of each session.
    let summed = sum_problem_rows(d.iter().flat_map(problem_rows));
    let (sessions, pages, elements) = problems(&summed);
    assert_eq!(sessions, 3);
    let per_session: Vec<ProblemRow> = d.iter().flat_map(problem_rows).collect();
    assert_eq!(problems(&per_session), (sessions, pages.clone(), elements.clone()));
    let p: Vec<(&str, u64, u64)> = pages.iter().map(|p| (p.page.as_str(), p.score(), p.sessions)).collect();
    assert_eq!(p, vec![("a", 5, 2), ("b", 3, 2)]);
    let e: Vec<(&str, u64, u64)> = elements
        .iter()
        .map(|p| (p.selector.as_deref().unwrap(), p.score(), p.sessions))
        .collect();
    assert_eq!(e, vec![("pay", 5, 2), ("menu", 2, 1)]);
}

#[test]
fn compare_uses_clicks_per_page_view() {
    let m = |v: &[(&str, u64)]| -> BTreeMap<(String, String), u64> {
        v.iter().map(|(s, n)| ((s.to_string(), String::new()), *n)).collect()
    };
    // 10 page views with 5 clicks on x; 40 page views with 20 on x (same rate), 4 on y.
    let out = compare_elements(&m(&[("x", 5), ("z", 1)]), 10, &m(&[("x", 20), ("y", 4)]), 40);
    let got: Vec<(&str, u64, u64, Option<f64>)> = out
        .iter()
        .map(|e| (e.selector.as_str(), e.clicks, e.clicks2, e.shift))
        .collect();
    assert_eq!(
        got,
        vec![("y", 0, 4, Some(0.1)), ("z", 1, 0, Some(-0.1)), ("x", 5, 20, Some(0.0))]
    );
    // No page views in either range: no rates, no shift.
    let out = compare_elements(&m(&[("x", 1)]), 0, &m(&[]), 0);
    assert_eq!((out[0].rate, out[0].rate2, out[0].shift), (None, None, None));
}

#[test]
fn session_filters_follow_page_element_and_has() {
    let d = detail(
        "s1",
        &[("a", 1, 0, 0), ("b", 0, 2, 0)],
        &[("a", "x", 1, 0), ("b", "y", 0, 2)],
    );
    let mut row = SessionRow {
        dims: d.dims,
        session_key: "s1".into(),
        visitor_id: "v".into(),
        start: T,
        end: T,
        pageviews: 2,
        steps: Vec::new(),
        clicks: 3,
        rage_clicks: 1,
        dead_clicks: 2,
        quick_backs: 0,
        feedback: 0,
        survey_responses: 0,
        segment: Default::default(),
    };
    let f = |page: Option<&str>, sel: Option<&str>, has: &[Has]| SessionFilter {
        page: page.map(str::to_string),
        selector: sel.map(str::to_string),
        has: has.to_vec(),
    };
    let table = [
        (f(None, None, &[]), true),
        (f(Some("a"), None, &[Has::Rage]), true),
        (f(Some("a"), None, &[Has::Dead]), false),
        (f(Some("c"), None, &[]), false),
        (f(None, Some("y"), &[Has::Dead]), true),
        (f(None, Some("y"), &[Has::Rage]), false),
        (f(Some("a"), Some("y"), &[]), false),
        (f(None, None, &[Has::Rage, Has::Dead]), true),
        (f(None, None, &[Has::Feedback]), false),
    ];
    for (filter, want) in &table {
        assert_eq!(session_matches(&row, &d, filter), *want, "{filter:?}");
    }
    row.feedback = 1;
    assert!(session_matches(&row, &d, &f(None, None, &[Has::Feedback])));
}

/// Property, over pseudo-random page views: the zone rows equal a direct count of the
/// definitions, and the counts are consistent (exposed_clicked ≤ exposed, clicked ≤ page
/// views; every page view that sent anything for the zone is accounted once).
#[test]
fn zone_rows_equal_a_direct_count_on_random_page_views() {
    let mut seed: u64 = 0x5eed;
    let mut next = |n: u64| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    for round in 0..50 {
        let mut events = Vec::new();
        let (mut exposed, mut clicked, mut both, mut hovered, mut hov_sum, mut hes_n, mut hes_sum) =
            (0, 0, 0, 0, 0, 0, 0);
        let n_pv = 1 + next(8);
        for p in 0..n_pv {
            let (s, pv) = (format!("r{round}s{p}"), format!("r{round}p{p}"));
            let t0 = T + p as i64 * 60_000;
            events.push(pageview(&pv, &s, t0, "a"));
            let (mut vis, mut hov, mut hes, mut cl) = (0u64, 0u64, None, false);
            for k in 0..next(4) {
                let (v, h) = (next(200) as u32, next(300) as u32);
                let he = (next(3) == 0).then(|| next(1000) as u32);
                events.push(zone(&format!("{pv}z{k}"), &s, &pv, t0 + 10 + k as i64, v, h, he));
                vis += u64::from(v);
                hov += u64::from(h);
                if hes.is_none() {
                    hes = he;
                }
            }
            if next(2) == 0 {
                events.push(click(&format!("{pv}c"), &s, &pv, t0 + 100, Some("cta"), Some(5)));
                cl = true;
            }
            let ex = vis >= 150;
            exposed += u64::from(ex);
            clicked += u64::from(cl);
            both += u64::from(ex && cl);
            if hov > 0 {
                hovered += 1;
                hov_sum += hov;
            }
            if let Some(h) = hes {
                hes_n += 1;
                hes_sum += u64::from(h);
            }
        }
        let rows = zone_rows(&sessionize(&events, &Rules::default()), DAY, &Rules::default());
        let mut t = ZoneTotals::default();
        rows.iter().for_each(|r| t.add(r));
        assert_eq!(
            (
                t.exposed,
                t.clicked,
                t.exposed_clicked,
                t.hovered,
                t.hover_ms_sum,
                t.hesitation_n,
                t.hesitation_ms_sum
            ),
            (exposed, clicked, both, hovered, hov_sum, hes_n, hes_sum),
            "round {round}"
        );
        assert!(t.exposed_clicked <= t.exposed.min(t.clicked) && t.clicked <= n_pv);
    }
}
