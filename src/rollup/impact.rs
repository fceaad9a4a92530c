//! What a frustration signal costs in conversions (analytics.md, "Impact on conversion"):
//! for each signal, the conversion to the site goal of the sessions that met it against the
//! sessions that could have met it but did not, with a 99 % confidence interval and a
//! significance flag.
//!
//! Computed from stored per-session rows only (session rows for the goal, session details
//! for pages and elements, feedback and answer rows), never from raw events, so its cost is
//! one pass over the range's sessions (like a funnel), not over their events.
//!
//! Source: Contentsquare's Impact Quantification compares the conversion of sessions with a behaviour against sessions
//! without it, and warns that the problem group can convert *better* (users who try hard to buy also rage-click); the
//! significance rule (a two-proportion z-test at 99 %, at least 30 sessions per group) is Sightline's.

use super::definitions::funnel_depth;
use super::definitions::round1;
use super::{AnswerRow, FeedbackRow, SessionDetailRow, SessionRow, Step};
use crate::event::{Answer, SurveyKind, NEGATIVE_RATING_MAX};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Fewest sessions in each group (with and without the signal) for a verdict.
pub const MIN_SESSIONS: u64 = 30;

/// The two-sided 99 % quantile of the standard normal distribution.
pub const Z_99: f64 = 2.575_829_303_548_900_4;

pub use crate::model::goal::{Goal, FUNNEL_GOAL_WINDOW_MS, MAX_GOAL_STEPS};

impl Goal {
    /// Whether a session timeline ([`SessionRow::steps`]) reaches the goal: the step
    /// anywhere in the session, or every funnel step in order (other steps between allowed),
    /// the last within [`FUNNEL_GOAL_WINDOW_MS`] of the first.
    pub fn reached(&self, timeline: &[Step]) -> bool {
        match self {
            Goal::Step(s) => timeline.iter().any(|t| s.matches(t)),
            Goal::Funnel(steps) => funnel_depth(timeline, steps, FUNNEL_GOAL_WINDOW_MS) == steps.len(),
        }
    }
}

/// A frustration signal whose impact is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// At least one rage click on the element (page, selector, zone).
    RageClick,
    /// At least one dead click on the element.
    DeadClick,
    /// At least one quick back from the page.
    QuickBack,
    /// Feedback rated ≤ 2 given on the page.
    NegativeFeedback,
    /// An NPS answer of 0–6 to a survey opened by exit intent, on the page.
    ExitDetractor,
}

/// Who met a signal: (signal, page, selector, zone, survey), "" where it does not apply.
pub type Key<'a> = (Signal, &'a str, &'a str, &'a str, &'a str);

/// Whether a group comparison can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Both groups have ≥ [`MIN_SESSIONS`] and the 99 % interval of the difference excludes 0.
    Significant,
    /// Both groups are large enough, and the 99 % interval holds 0.
    NotSignificant,
    /// A group has fewer than [`MIN_SESSIONS`] sessions.
    NotEnoughSessions,
}

/// The impact of one signal (one entry of `/problems?sort=impact`). Rates are percentages
/// rounded to 0.1, differences in percentage points (with − without), rounded to 0.1.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Impact {
    pub signal: Signal,
    /// The page the signal happened on (page key).
    pub page: String,
    /// Element signals: the (normalised) selector and zone (`None` without a zone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// Element signals: the element's zone (absent without one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Exit-intent detractors: the survey.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub survey: Option<String>,
    /// Sessions that met the signal, and those of them that reached the goal.
    pub sessions_with: u64,
    /// Of `sessions_with`, the sessions that reached the goal.
    pub converted_with: u64,
    /// Sessions that viewed the page but did not meet the signal, and their conversions.
    pub sessions_without: u64,
    /// Of `sessions_without`, the sessions that reached the goal.
    pub converted_without: u64,
    /// converted ÷ sessions × 100 per group (`None` for an empty group).
    pub conversion_with_pct: Option<f64>,
    /// converted_without ÷ sessions_without × 100, rounded to 0.1.
    pub conversion_without_pct: Option<f64>,
    /// conversion with − conversion without, points (negative: the signal's sessions
    /// convert less).
    pub difference_pts: Option<f64>,
    /// 99 % confidence interval of the difference, points (`None` below [`MIN_SESSIONS`]).
    pub ci99_pts: Option<[f64; 2]>,
    /// sessions with × (conversion without − conversion with): conversions lost to the
    /// signal in the range (negative when its sessions convert better), rounded to 0.1.
    pub lost_conversions: Option<f64>,
    pub verdict: Verdict,
    /// `verdict == Significant`.
    pub significant: bool,
    /// The finding in one plain sentence, as the dashboard shows it.
    pub summary: String,
}

/// A number of points or conversions for a sentence: one decimal, none when whole.
fn say(x: f64) -> String {
    let r = round1(x);
    if r.fract() == 0.0 {
        format!("{}", r as i64)
    } else {
        format!("{r:.1}")
    }
}

/// The comparison of two groups (analytics.md, "Impact on conversion") for the signal `key`
/// ((signal, page, selector, zone, survey), "" where one does not apply): `(n1, x1)` the
/// sessions with the signal and their conversions, `(n0, x0)` those without. The 99 %
/// interval is the Wald interval of p1 − p0 (unpooled standard error
/// √(p1(1−p1)/n1 + p0(1−p0)/n0)); the test is the two-proportion z-test with the same
/// standard error, significant when |p1 − p0| > [`Z_99`] × SE, so the flag and the interval
/// always agree (significant exactly when the interval excludes 0).
pub fn compare(key: Key, (n1, x1): (u64, u64), (n0, x0): (u64, u64)) -> Impact {
    let (signal, page, selector, zone, survey) = key;
    let rate = |x: u64, n: u64| (n > 0).then(|| x as f64 / n as f64);
    let (p1, p0) = (rate(x1, n1), rate(x0, n0));
    let diff = p1.zip(p0).map(|(a, b)| a - b);
    let enough = n1 >= MIN_SESSIONS && n0 >= MIN_SESSIONS;
    let half = match (p1, p0) {
        (Some(a), Some(b)) if enough => Some(Z_99 * (a * (1.0 - a) / n1 as f64 + b * (1.0 - b) / n0 as f64).sqrt()),
        _ => None,
    };
    let verdict = match (diff, half) {
        (Some(d), Some(h)) if d.abs() > h => Verdict::Significant,
        (Some(_), Some(_)) => Verdict::NotSignificant,
        _ => Verdict::NotEnoughSessions,
    };
    let lost = diff.map(|d| -d * n1 as f64);
    let what = match signal {
        Signal::RageClick => format!("rage clicks on {selector}"),
        Signal::DeadClick => format!("dead clicks on {selector}"),
        Signal::QuickBack => format!("a quick back from {page}"),
        Signal::NegativeFeedback => format!("negative feedback on {page}"),
        Signal::ExitDetractor => format!("an exit-intent NPS answer of 0–6 on {page}"),
    };
    let summary = match (diff, half) {
        (Some(d), Some(h)) => {
            let pts = say(d.abs() * 100.0);
            let how = if round1(d * 100.0) == 0.0 {
                "convert as often".to_string()
            } else if d < 0.0 {
                format!("convert {pts} points less")
            } else {
                format!("convert {pts} points more")
            };
            let cost = match lost {
                Some(l) if round1(l) > 0.0 => format!("about {} lost conversions in this range", say(l)),
                _ => "no lost conversions in this range".to_string(),
            };
            let sig = if verdict == Verdict::Significant {
                ""
            } else {
                "; the difference is not significant at 99 %"
            };
            format!("Sessions with {what} {how} (±{}); {cost}{sig}", say(h * 100.0))
        }
        _ => format!(
            "Sessions with {what}: {n1} with, {n0} without; not enough sessions ({MIN_SESSIONS} in each group needed)"
        ),
    };
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    Impact {
        signal,
        page: page.to_string(),
        selector: matches!(signal, Signal::RageClick | Signal::DeadClick).then(|| selector.to_string()),
        zone: opt(zone),
        survey: opt(survey),
        sessions_with: n1,
        converted_with: x1,
        sessions_without: n0,
        converted_without: x0,
        conversion_with_pct: p1.map(|p| round1(p * 100.0)),
        conversion_without_pct: p0.map(|p| round1(p * 100.0)),
        difference_pts: diff.map(|d| round1(d * 100.0)),
        ci99_pts: diff
            .zip(half)
            .map(|(d, h)| [round1((d - h) * 100.0), round1((d + h) * 100.0)]),
        lost_conversions: lost.map(round1),
        verdict,
        significant: verdict == Verdict::Significant,
        summary,
    }
}

/// The impact of every signal met in these sessions (analytics.md, "Impact on conversion"),
/// ranked by lost conversions (most first; groups that convert better last), then by
/// sessions with the signal.
///
/// `sessions` and `details` are the rows of the sessions looked at (already filtered by
/// range, device and bots; joined on `session_key`); `feedback` and `answers` may hold rows
/// of other sessions, which are ignored. A session is in the "with" group of a signal when it
/// met the signal at least once, and in the "without" group when it viewed the signal's page
/// (any page view of it) and did not meet it. A session converts when its timeline reaches
/// `goal` ([`Goal::reached`]), before or after the signal.
pub fn impact(
    sessions: &[SessionRow],
    details: &[SessionDetailRow],
    feedback: &[FeedbackRow],
    answers: &[AnswerRow],
    goal: &Goal,
) -> Vec<Impact> {
    let converted: HashMap<&str, bool> = sessions
        .iter()
        .map(|s| (s.session_key.as_str(), goal.reached(&s.steps)))
        .collect();
    // Signals carried by feedback and survey answers, per session.
    let mut extra: HashMap<&str, Vec<Key>> = HashMap::new();
    for f in feedback {
        if f.rating.is_some_and(|r| r <= NEGATIVE_RATING_MAX) {
            extra
                .entry(&f.session_key)
                .or_default()
                .push((Signal::NegativeFeedback, &f.page, "", "", ""));
        }
    }
    for a in answers {
        let detractor = matches!(a.value, Answer::Number(v) if v <= 6.0);
        if a.kind == SurveyKind::Nps && a.trigger == "exit_intent" && detractor {
            extra
                .entry(&a.session_key)
                .or_default()
                .push((Signal::ExitDetractor, &a.page, "", "", &a.survey_id));
        }
    }
    // Per page: sessions that viewed it, and of those the converted; per signal the same.
    let mut exposed: HashMap<&str, (u64, u64)> = HashMap::new();
    let mut with: BTreeMap<Key, (u64, u64)> = BTreeMap::new();
    let mut pages: BTreeSet<&str> = BTreeSet::new();
    let mut keys: BTreeSet<Key> = BTreeSet::new();
    for d in details {
        let Some(&conv) = converted.get(d.session_key.as_str()) else {
            continue;
        };
        pages.clear();
        keys.clear();
        for p in &d.pages {
            pages.insert(&p.page);
            if p.quick_backs > 0 {
                keys.insert((Signal::QuickBack, &p.page, "", "", ""));
            }
        }
        for e in &d.elements {
            if e.rage_clicks > 0 {
                keys.insert((Signal::RageClick, &e.page, &e.selector, &e.zone, ""));
            }
            if e.dead_clicks > 0 {
                keys.insert((Signal::DeadClick, &e.page, &e.selector, &e.zone, ""));
            }
        }
        for k in extra.get(d.session_key.as_str()).into_iter().flatten() {
            keys.insert(*k);
        }
        // A signal's page counts as viewed (feedback is on the page it was given on).
        for k in &keys {
            pages.insert(k.1);
        }
        for p in &pages {
            let e = exposed.entry(p).or_default();
            e.0 += 1;
            e.1 += u64::from(conv);
        }
        for k in &keys {
            let w = with.entry(*k).or_default();
            w.0 += 1;
            w.1 += u64::from(conv);
        }
    }
    let mut out: Vec<Impact> = with
        .into_iter()
        .map(|(key, (n1, x1))| {
            let (n, x) = exposed.get(key.1).copied().unwrap_or((n1, x1));
            compare(key, (n1, x1), (n - n1, x - x1))
        })
        .collect();
    let lost = |i: &Impact| i.lost_conversions.unwrap_or(f64::NEG_INFINITY);
    out.sort_by(|a, b| lost(b).total_cmp(&lost(a)).then(b.sessions_with.cmp(&a.sessions_with)));
    out
}

#[cfg(test)]
mod tests {
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
}
