use super::*;
use crate::event::DeviceClass;
use crate::rollup::{Dims, FunnelStep, SessionElement, SessionPage};

const DIMS: Dims = Dims {
    day: 0,
    device: DeviceClass::Desktop,
    bot: false,
};

/// One session on `page`: converted (a `purchase` custom event) or not, with optional
/// rage / dead clicks on `selector` and a quick back from the page.
fn session(
    key: &str,
    page: &str,
    converted: bool,
    rage: Option<&str>,
    dead: Option<&str>,
    quick_back: bool,
) -> (SessionRow, SessionDetailRow) {
    let mut steps = vec![Step {
        ts: 1,
        name: page.into(),
        custom: false,
    }];
    if converted {
        steps.push(Step {
            ts: 2,
            name: "purchase".into(),
            custom: true,
        });
    }
    let row = SessionRow {
        dims: DIMS,
        session_key: key.into(),
        visitor_id: key.into(),
        start: 1,
        end: 2,
        pageviews: 1,
        steps,
        clicks: 0,
        rage_clicks: 0,
        dead_clicks: 0,
        quick_backs: 0,
        feedback: 0,
        survey_responses: 0,
        segment: Default::default(),
    };
    let el = |sel: &str, rage: u32, dead: u32| SessionElement {
        page: page.into(),
        selector: sel.into(),
        zone: String::new(),
        clicks: 3,
        rage_clicks: rage,
        dead_clicks: dead,
    };
    let mut elements = Vec::new();
    if let Some(s) = rage {
        elements.push(el(s, 1, 0));
    }
    if let Some(s) = dead {
        elements.push(el(s, 0, 1));
    }
    let detail = SessionDetailRow {
        dims: DIMS,
        session_key: key.into(),
        pages: vec![SessionPage {
            page: page.into(),
            pageviews: 1,
            clicks: 0,
            rage_clicks: 0,
            dead_clicks: 0,
            quick_backs: u32::from(quick_back),
        }],
        elements,
        replays: Vec::new(),
        negative_feedback: 0,
    };
    (row, detail)
}

/// The worked example of analytics.md, "Impact on conversion".
pub(crate) fn worked_example() -> (Vec<SessionRow>, Vec<SessionDetailRow>) {
    let mut v = Vec::new();
    // /cart: 200 sessions; 40 rage-click #pay (8 convert), 160 do not (64 convert).
    for i in 0..200 {
        let rage = i < 40;
        let conv = if rage { i < 8 } else { i < 40 + 64 };
        v.push(session(
            &format!("c{i}"),
            "shop.example/cart",
            conv,
            rage.then_some("#pay"),
            None,
            false,
        ));
    }
    // /promo: 200 sessions; 50 dead-click button.promo (30 convert), 150 do not (60).
    for i in 0..200 {
        let dead = i < 50;
        let conv = if dead { i < 30 } else { i < 50 + 60 };
        v.push(session(
            &format!("p{i}"),
            "shop.example/promo",
            conv,
            None,
            dead.then_some("button.promo"),
            false,
        ));
    }
    // /help: 40 sessions; 10 quick backs (1 converts), 30 without (12 convert).
    for i in 0..40 {
        let qb = i < 10;
        let conv = if qb { i < 1 } else { i < 10 + 12 };
        v.push(session(&format!("h{i}"), "shop.example/help", conv, None, None, qb));
    }
    v.into_iter().unzip()
}

#[test]
fn worked_example_gives_hand_computed_numbers() {
    let (sessions, details) = worked_example();
    let goal = Goal::parse("event:purchase").unwrap();
    let got = impact(&sessions, &details, &[], &[], &goal);
    let brief: Vec<_> = got
        .iter()
        .map(|i| {
            (
                i.signal,
                i.sessions_with,
                i.converted_with,
                i.sessions_without,
                i.converted_without,
                i.conversion_with_pct,
                i.conversion_without_pct,
                i.difference_pts,
                i.ci99_pts,
                i.lost_conversions,
                i.verdict,
            )
        })
        .collect();
    // Rage: 8/40 = 20 % vs 64/160 = 40 %: −20 points; SE = √(.2·.8/40 + .4·.6/160) =
    // √.0055 = .074162; × 2.5758 = .19103 → ±19.1, interval [−39.1, −0.9]: significant;
    // lost 40 × .2 = 8.
    // Quick back: 1/10 = 10 % vs 12/30 = 40 %: −30 points, lost 10 × .3 = 3; 10 < 30.
    // Dead: 30/50 = 60 % vs 60/150 = 40 %: +20 points; SE = √(.6·.4/50 + .4·.6/150) = .08,
    // × 2.5758 = .20607 → ±20.6, interval [−0.6, 40.6]: not significant; lost −10.
    assert_eq!(
        brief,
        vec![
            (
                Signal::RageClick,
                40,
                8,
                160,
                64,
                Some(20.0),
                Some(40.0),
                Some(-20.0),
                Some([-39.1, -0.9]),
                Some(8.0),
                Verdict::Significant
            ),
            (
                Signal::QuickBack,
                10,
                1,
                30,
                12,
                Some(10.0),
                Some(40.0),
                Some(-30.0),
                None,
                Some(3.0),
                Verdict::NotEnoughSessions
            ),
            (
                Signal::DeadClick,
                50,
                30,
                150,
                60,
                Some(60.0),
                Some(40.0),
                Some(20.0),
                Some([-0.6, 40.6]),
                Some(-10.0),
                Verdict::NotSignificant
            ),
        ]
    );
    assert_eq!(
        got[0].summary,
        "Sessions with rage clicks on #pay convert 20 points less (±19.1); about 8 lost conversions in this range"
    );
    assert_eq!(
        got[1].summary,
        "Sessions with a quick back from shop.example/help: 10 with, 30 without; not enough sessions (30 in each group needed)"
    );
    assert_eq!(
        got[2].summary,
        "Sessions with dead clicks on button.promo convert 20 points more (±20.6); no lost conversions in this range; the difference is not significant at 99 %"
    );
    assert_eq!(got[0].selector.as_deref(), Some("#pay"));
    assert_eq!(got[1].selector, None);
}

#[test]
fn feedback_and_exit_intent_detractors_are_signals_on_their_page() {
    let (mut sessions, mut details) = (Vec::new(), Vec::new());
    for i in 0..4 {
        let (s, d) = session(&format!("s{i}"), "a/cart", i % 2 == 0, None, None, false);
        sessions.push(s);
        details.push(d);
    }
    let fb = |key: &str, rating: u8| FeedbackRow {
        dims: DIMS,
        id: format!("f-{key}"),
        ts: 1,
        page: "a/cart".into(),
        session_key: key.into(),
        rating: Some(rating),
        comment: String::new(),
        category: String::new(),
        selector: String::new(),
    };
    let ans = |key: &str, v: f64, trigger: &str| AnswerRow {
        dims: DIMS,
        id: format!("a-{key}-{trigger}"),
        ts: 1,
        survey_id: "exit".into(),
        question_id: "q1".into(),
        kind: SurveyKind::Nps,
        value: Answer::Number(v),
        page: "a/cart".into(),
        session_key: key.into(),
        trigger: trigger.into(),
    };
    // s1 rated 2 (negative), s2 rated 3 (not), an unknown session rated 1 (ignored);
    // s1 and s3 answered 6 on exit intent, s0 answered 0 on a manual trigger (not exit).
    let feedback = vec![fb("s1", 2), fb("s2", 3), fb("elsewhere", 1)];
    let answers = vec![
        ans("s1", 6.0, "exit_intent"),
        ans("s3", 6.0, "exit_intent"),
        ans("s0", 0.0, "manual"),
    ];
    let goal = Goal::parse("event:purchase").unwrap();
    let got = impact(&sessions, &details, &feedback, &answers, &goal);
    let brief: Vec<_> = got
        .iter()
        .map(|i| {
            (
                i.signal,
                i.survey.as_deref(),
                i.sessions_with,
                i.converted_with,
                i.sessions_without,
                i.converted_without,
            )
        })
        .collect();
    // s0, s2 converted. Negative feedback: s1 (0 of 1) vs s0, s2, s3 (2 of 3): lost
    // 1 × 2/3 = 0.7. Detractors: s1, s3 (0 of 2) vs s0, s2 (2 of 2): lost 2.
    assert_eq!(
        brief,
        vec![
            (Signal::ExitDetractor, Some("exit"), 2, 0, 2, 2),
            (Signal::NegativeFeedback, None, 1, 0, 3, 2),
        ]
    );
    assert_eq!(got[1].lost_conversions, Some(0.7));
}

#[test]
fn goals_parse_and_a_funnel_goal_needs_its_steps_in_order() {
    assert_eq!(
        Goal::parse(" a/thanks ").unwrap(),
        Goal::Step(FunnelStep::Page("a/thanks".into()))
    );
    assert!(Goal::parse("").is_err());
    assert!(Goal::parse("event:").is_err());
    assert!(Goal::parse("funnel:a/cart,,a/thanks").is_err());
    assert!(Goal::parse(&format!("funnel:{}", vec!["a"; 21].join(","))).is_err());
    let g = Goal::parse("funnel:a/cart, event:pay").unwrap();
    assert_eq!(g.last_step(), &FunnelStep::Event("pay".into()));
    let st = |ts: i64, name: &str, custom: bool| Step {
        ts,
        name: name.into(),
        custom,
    };
    assert!(g.reached(&[st(0, "a/cart", false), st(5, "x", false), st(9, "pay", true)]));
    assert!(!g.reached(&[st(0, "pay", true), st(5, "a/cart", false)]));
    assert!(!g.reached(&[st(0, "a/cart", false), st(FUNNEL_GOAL_WINDOW_MS + 1, "pay", true)]));
}
