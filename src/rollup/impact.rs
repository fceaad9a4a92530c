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
use super::{AnswerRow, FeedbackRow, GoalRow, SessionDetailRow, SessionRow, Step};
use crate::event::{Answer, SurveyKind, NEGATIVE_RATING_MAX};
use crate::warehouse::{Part, RollupQuery, Warehouse};
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

pub use crate::model::goal::{GoalKind, Signal};

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

/// What each session of `sessions` contributes to the goal part ([`GoalRow`], one row per
/// session and key, not yet summed), under `goal` (`rules.goal` as written, and parsed;
/// `None`: only the session rows, goal "").
///
/// `details`, `feedback` and `answers` may hold rows of other sessions, which are ignored
/// (joined on `session_key`). A session is in the "with" group of a signal when it met the
/// signal at least once, and views a page when it has a page view of it or met a signal on
/// it (feedback is on the page it was given on). It converts when its timeline reaches the
/// goal ([`Goal::reached`]), before or after the signal; a session without a detail row
/// counts only as a session and in the funnel steps.
pub fn goal_rows(
    sessions: &[SessionRow],
    details: &[SessionDetailRow],
    feedback: &[FeedbackRow],
    answers: &[AnswerRow],
    goal: Option<(&str, &Goal)>,
) -> Vec<GoalRow> {
    // One session's row of `kind`; `at` = (page, selector, zone, survey), "" where none.
    type At<'a> = (&'a str, &'a str, &'a str, &'a str);
    let row = |s: &SessionRow, raw: &str, kind: GoalKind, step: u32, at: At, conv: bool| GoalRow {
        dims: s.dims,
        goal: raw.to_string(),
        kind,
        step,
        page: at.0.to_string(),
        selector: at.1.to_string(),
        zone: at.2.to_string(),
        survey: at.3.to_string(),
        sessions: 1,
        converted: u64::from(conv),
    };
    let none: At = ("", "", "", "");
    let Some((raw, goal)) = goal else {
        return sessions
            .iter()
            .map(|s| row(s, "", GoalKind::Session, 0, none, false))
            .collect();
    };
    let by_key: HashMap<&str, &SessionDetailRow> = details.iter().map(|d| (d.session_key.as_str(), d)).collect();
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
    let mut out = Vec::new();
    let mut pages: BTreeSet<&str> = BTreeSet::new();
    let mut keys: BTreeSet<Key> = BTreeSet::new();
    for s in sessions {
        let conv = goal.reached(&s.steps);
        out.push(row(s, raw, GoalKind::Session, 0, none, conv));
        if let Goal::Funnel(steps) = goal {
            let depth = funnel_depth(&s.steps, steps, FUNNEL_GOAL_WINDOW_MS);
            for k in 1..=depth {
                out.push(row(s, raw, GoalKind::Step, k as u32, none, conv));
            }
        }
        let Some(d) = by_key.get(s.session_key.as_str()) else {
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
        for k in extra.get(s.session_key.as_str()).into_iter().flatten() {
            keys.insert(*k);
        }
        for k in &keys {
            pages.insert(k.1);
        }
        for p in &pages {
            out.push(row(s, raw, GoalKind::View, 0, (p, "", "", ""), conv));
        }
        for &(signal, page, selector, zone, survey) in &keys {
            out.push(row(
                s,
                raw,
                GoalKind::Signal(signal),
                0,
                (page, selector, zone, survey),
                conv,
            ));
        }
    }
    out
}

/// Goal rows summed per (dims, key), in that order: the day totals of [`goal_rows`].
pub fn sum_goal_rows(rows: impl IntoIterator<Item = GoalRow>) -> Vec<GoalRow> {
    let mut out: Vec<GoalRow> = rows.into_iter().collect();
    out.sort_by(|a, b| (a.dims, a.key()).cmp(&(b.dims, b.key())));
    out.dedup_by(|b, a| {
        let same = a.dims == b.dims && a.key() == b.key();
        if same {
            a.sessions += b.sessions;
            a.converted += b.converted;
        }
        same
    });
    out
}

/// The impact of every signal in these goal rows (day totals or per session, of one goal;
/// already filtered by range, device and bots), ranked by lost conversions (most first;
/// groups that convert better last), then by sessions with the signal: per signal, the
/// sessions with it against those that viewed its page without it.
pub fn impact_of<'a>(rows: impl IntoIterator<Item = &'a GoalRow>) -> Vec<Impact> {
    let mut exposed: HashMap<&str, (u64, u64)> = HashMap::new();
    let mut with: BTreeMap<Key, (u64, u64)> = BTreeMap::new();
    for r in rows {
        match r.kind {
            GoalKind::View => {
                let e = exposed.entry(&r.page).or_default();
                e.0 += r.sessions;
                e.1 += r.converted;
            }
            GoalKind::Signal(sig) => {
                let w = with.entry((sig, &r.page, &r.selector, &r.zone, &r.survey)).or_default();
                w.0 += r.sessions;
                w.1 += r.converted;
            }
            GoalKind::Session | GoalKind::Step => {}
        }
    }
    let mut out: Vec<Impact> = with
        .into_iter()
        .filter(|(_, (n1, _))| *n1 > 0)
        .map(|(key, (n1, x1))| {
            let (n, x) = exposed.get(key.1).copied().unwrap_or((n1, x1));
            compare(key, (n1, x1), (n.saturating_sub(n1), x.saturating_sub(x1)))
        })
        .collect();
    let lost = |i: &Impact| i.lost_conversions.unwrap_or(f64::NEG_INFINITY);
    out.sort_by(|a, b| lost(b).total_cmp(&lost(a)).then(b.sessions_with.cmp(&a.sessions_with)));
    out
}

/// The impact of every signal met in these sessions (analytics.md, "Impact on conversion"):
/// [`impact_of`] their [`goal_rows`] under `goal`. `sessions` and `details` are the rows of
/// the sessions looked at (already filtered by range, device and bots).
pub fn impact(
    sessions: &[SessionRow],
    details: &[SessionDetailRow],
    feedback: &[FeedbackRow],
    answers: &[AnswerRow],
    goal: &Goal,
) -> Vec<Impact> {
    impact_of(&goal_rows(sessions, details, feedback, answers, Some(("", goal))))
}

/// The goal rows of the query `q` (its days, device-free: filter them; its segment) for the
/// goal `raw` (`rules.goal` as written, parsed as `goal`): the stored day totals when every
/// session of those days was rolled up under this goal. Otherwise (the goal changed and the
/// rollup job has not recomputed every session yet, or a store from before the goal part)
/// they are computed here from the days' session rows, details, feedback and answers, on a
/// blocking thread: exact either way, the second costs one pass over the sessions.
pub async fn read_goal_rows(
    wh: &dyn Warehouse,
    q: &RollupQuery,
    raw: &str,
    goal: &Goal,
) -> anyhow::Result<Vec<GoalRow>> {
    let stored = wh
        .read_rollup(&RollupQuery {
            parts: vec![Part::Goal],
            ..q.clone()
        })
        .await?
        .goal;
    if stored.iter().all(|r| r.goal == raw) {
        return Ok(stored);
    }
    let r = wh
        .read_rollup(&RollupQuery {
            parts: vec![Part::Sessions, Part::SessionDetails, Part::Feedback, Part::Answers],
            ..q.clone()
        })
        .await?;
    let (raw, goal) = (raw.to_string(), goal.clone());
    tokio::task::spawn_blocking(move || {
        sum_goal_rows(goal_rows(
            &r.sessions,
            &r.session_details,
            &r.feedback,
            &r.answers,
            Some((&raw, &goal)),
        ))
    })
    .await
    .map_err(|e| anyhow::anyhow!("goal rows: {e}"))
}

#[cfg(test)]
mod tests;
