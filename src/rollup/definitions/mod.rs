//! The analytics definitions of `reference/analytics.md` as pure functions over raw events.
//!
//! Nothing here does I/O: [`sessionize`] rebuilds server-side sessions and page views from
//! events, [`compute_day`] turns them into the rows of one (site, day of the site's time
//! zone), [`funnel`] counts funnel steps over stored session rows and [`summarize_answers`]
//! turns survey counts into NPS / CSAT / mean. All thresholds come from [`Rules`], so a changed threshold recomputes
//! history. Times are ms since the Unix epoch (UTC), coordinates CSS px.
//!
//! Ordering inside a session is `(ts, seq, id)` with a missing `seq` first
//! (analytics.md, "Clock skew"); every output is sorted, so the same events always give the
//! same rows.

mod clicks;
mod journeys;
mod pages;
mod sessions;
#[cfg(test)]
pub(super) mod tests;
mod voc;

pub(in crate::rollup) use clicks::*;
pub use journeys::*;
pub(in crate::rollup) use pages::*;
pub use sessions::*;
pub use voc::*;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::{
    AnswerRow, DayRollup, Dims, ElementRow, FeedbackRow, GridRow, JourneyKind, JourneyRow, PageRow, ReachRow, Rules,
    ScrollRow, SessionRow, Step, SurveyRow,
};
use crate::event::{Answer, DeviceClass, Event, Payload, SurveyKind, Viewport};
use crate::model::days;
use crate::model::segment::SessionSegment;

/// Every rollup row of the snippet sessions whose events are in `events`, one
/// [`super::SessionRollup`] per snippet session id (sorted by it), each covering
/// every day (of the site's time zone, `rules.time_zone`: [`crate::model::days`]) its events span: the union of [`compute_day`] over those days, computed
/// from that session's events alone (moved, not copied, into their sessions). `events`
/// must hold every stored event of each of its
/// sessions (a session is rebuilt whole); duplicates by id are not expected.
///
/// This is the unit of work of the rollup job: a late, duplicate or out-of-order event
/// costs its own session's recompute, whatever the size of the day.
pub fn compute_sessions(events: Vec<Event>, rules: &Rules) -> Vec<super::SessionRollup> {
    let mut by_session: BTreeMap<String, Vec<Event>> = BTreeMap::new();
    for e in events {
        match by_session.get_mut(&e.session_id) {
            Some(v) => v.push(e),
            None => {
                by_session.insert(e.session_id.clone(), vec![e]);
            }
        }
    }
    by_session
        .into_iter()
        .map(|(session_id, evs)| {
            let lo = evs.iter().map(|e| e.ts).min().unwrap_or(0);
            let hi = evs.iter().map(|e| e.ts).max().unwrap_or(0);
            let tz = rules.time_zone;
            let (first_day, last_day) = (days::day_start(lo, tz), days::day_start(hi, tz));
            let mut rows = DayRollup::default();
            for day in days::days(first_day, days::next_day(last_day, tz), tz) {
                rows.extend(compute_day(&evs, day, rules));
            }
            super::SessionRollup {
                session_id,
                first_day,
                last_day,
                rows,
            }
        })
        .collect()
}

/// The page-view-level sums of one (dims, page, layout) in [`compute_day`]; each map comes out
/// sorted, so the rows keep the order of their full keys.
struct PageSums<'a> {
    row: PageRow,
    /// Clicks per heatmap cell `(cx, cy)`.
    grid: BTreeMap<(u32, u32), u64>,
    /// Per (normalised selector, zone).
    elements: BTreeMap<(std::borrow::Cow<'a, str>, &'a str), ElementRow>,
    /// Page views per depth of [`SCROLL_DEPTHS`], in its order.
    scroll: [u64; SCROLL_DEPTHS.len()],
}

impl PageSums<'_> {
    fn new(dims: Dims, page: &str, layout: &str) -> Self {
        PageSums {
            row: PageRow {
                layout: layout.to_string(),
                ..PageRow::with_pageviews(dims, page, 0)
            },
            grid: BTreeMap::new(),
            elements: BTreeMap::new(),
            scroll: [0; SCROLL_DEPTHS.len()],
        }
    }
}

/// Everything one (site, day) contributes to the rollups (see the module doc of `rollup` and
/// analytics.md); `day_start` is a day start of `rules.time_zone` ([`crate::model::days`]),
/// and the day lasts until the next one (23 or 25 h around a DST change).
///
/// `events` holds every event of every snippet session that touched the day, possibly with
/// events of other days, so sessions are rebuilt whole with [`sessionize`]. Rows:
/// - **Session-level** (sessions, surveys, answers, session details): sessions whose
///   `start` lies in the day; `dims.device` = the session's device.
/// - **Page-view-level** (pages, grid, elements, scroll): page views whose `ts` lies in the
///   day, with all their events (so a page view is never cut at midnight);
///   `dims.device` = the page view's device. Feedback rows: feedback events whose `ts` lies in
///   the day, with their page view's page and device.
/// - Page-view-level rows (pages, grid, elements, scroll, zones) are keyed by page **and
///   layout version** (the page view's [`PageView::layout`], "" when none was sent).
/// - `dims.day` = `day_start`; `dims.bot` = the session's bot flag. Bot sessions are always
///   emitted (flagged); the query side filters them by `Rules::include_bots`.
///
/// Definitions:
/// - pages: `pageviews` counts page views with a pageview event (synthetic page views add
///   their clicks only); `quick_backs` see "Quick back"; fold sums over page views with both a
///   viewport height and a document height (max `doc_h` of their scroll events).
/// - grid: per click, cell `(floor(x / grid_cell_px), floor(y / grid_cell_px))`, x and y
///   clamped at 0; clicks another tracker reported (no position) are left out.
/// - elements: per (page, selector, zone or ""): clicks, dead clicks, rage clicks (one per
///   burst, on the burst's first click), sums of the in-element positions, and the text of
///   its most recent click that sent one ([`ElementRow::offer_text`]).
/// - scroll: per page view with a pageview event its deepest scroll (0 without scroll
///   events, rounded to 0.1 %); per depth d in 0, 10, …, 100 the page views with depth ≥ d.
/// - journeys: [`journey_rows`] of the day's sessions, summed per (kind, from, to).
/// - problems: [`super::zones::problem_rows`] of the day's session details, summed.
/// - sessions: one row per session; `pageviews` counts page views with a pageview event;
///   `steps` are its page views (synthetic ones included) and custom events in order.
/// - zones and session details: see [`super::zones`].
/// - surveys: one response per (survey, question, session), the latest by `(ts, seq, id)`;
///   a number counts under its text (`9`, `4.5`), a text under itself (under "" for a
///   question of kind text: free text is no category), a multi-choice
///   once under each distinct option. answers: that same winning response, one row each,
///   with its time, page, session key and trigger (session-level, like surveys).
/// - reach: [`reach_rows`] of the day's sessions, summed (session-level, like surveys).
/// - goal: [`super::impact::goal_rows`] of the day's sessions under `rules.goal`, summed
///   (session-level; feedback given on a later day than the session's start is not joined).
///
/// Rows come out sorted by their keys (dims first);
/// session rows by `(start, session_key)`, feedback rows by `(ts, id)`.
pub fn compute_day(events: &[Event], day_start: i64, rules: &Rules) -> DayRollup {
    let day_end = days::next_day(day_start, rules.time_zone);
    let in_day = |ts: i64| ts >= day_start && ts < day_end;
    let cell = f64::from(rules.grid_cell_px.max(1));
    let sessions = sessionize(events, rules);
    let segments = segments_of(&sessions);

    // Page-view-level rows are keyed by (dims, page, layout version): one hash lookup per page
    // view finds its sums, and a click only searches its own page's grid and elements.
    let mut pages: HashMap<(Dims, &str, &str), PageSums> = HashMap::new();
    let mut surveys: BTreeMap<(Dims, &str, &str, SurveyKind, String), u64> = BTreeMap::new();
    let mut session_rows: Vec<SessionRow> = Vec::new();
    let mut feedback_rows: Vec<FeedbackRow> = Vec::new();
    let mut answers: Vec<AnswerRow> = Vec::new();
    let mut reach: BTreeMap<(Dims, String, String, String, bool), u64> = BTreeMap::new();

    for s in &sessions {
        let session_dims = Dims {
            day: day_start,
            device: s.device,
            bot: s.bot,
        };
        let facts: Vec<Vec<ClickFact>> = s.pageviews.iter().map(|pv| click_facts(pv, rules)).collect();
        let quick_backs: Vec<bool> = (0..s.pageviews.len())
            .map(|i| is_quick_back(&s.pageviews, i, rules))
            .collect();

        // Page-view-level rows and feedback.
        for (i, pv) in s.pageviews.iter().enumerate() {
            let dims = Dims {
                day: day_start,
                device: pv.device,
                bot: s.bot,
            };
            for e in &pv.events {
                if let Payload::Feedback {
                    rating,
                    comment,
                    category,
                    selector,
                } = &e.payload
                {
                    if in_day(e.ts) {
                        feedback_rows.push(FeedbackRow {
                            dims,
                            id: e.id.clone(),
                            ts: e.ts,
                            page: pv.page_key.clone(),
                            session_key: s.key.clone(),
                            rating: *rating,
                            comment: comment.clone().unwrap_or_default(),
                            category: category.clone().unwrap_or_default(),
                            selector: selector
                                .as_deref()
                                .map(|s| super::selector::normalize_selector(s).into_owned())
                                .unwrap_or_default(),
                        });
                    }
                }
            }
            if !in_day(pv.ts) {
                continue;
            }
            let page = pv.page_key.as_str();
            let layout = pv.layout();
            let sums = pages
                .entry((dims, page, layout))
                .or_insert_with(|| PageSums::new(dims, page, layout));
            let row = &mut sums.row;
            row.clicks += facts[i].len() as u64;
            if pv.pageview.is_some() {
                row.pageviews += 1;
                row.quick_backs += u64::from(quick_backs[i]);
                let (depth, doc_h) = scroll_of(pv);
                if let (Some(vp), Some(doc_h)) = (pv.viewport, doc_h) {
                    row.fold_n += 1;
                    row.viewport_h_sum += u64::from(vp.h);
                    row.doc_h_sum += u64::from(doc_h);
                }
                for (n, d) in sums.scroll.iter_mut().zip(SCROLL_DEPTHS) {
                    *n += u64::from(depth >= f64::from(d));
                }
            }
            for c in &facts[i] {
                // A tracker's click has no position: counted on its element, not in the grid.
                if !is_tracker_click(c.event) {
                    let cx = (c.x.max(0.0) / cell).floor() as u32;
                    let cy = (c.y.max(0.0) / cell).floor() as u32;
                    *sums.grid.entry((cx, cy)).or_default() += 1;
                }
                let el = sums
                    .elements
                    .entry((c.selector.clone(), c.zone))
                    .or_insert_with(|| ElementRow::empty(dims, (page, layout), &c.selector, c.zone));
                el.clicks += 1;
                if let Payload::Click { text: Some(t), .. } = &c.event.payload {
                    el.offer_text(c.event.ts, t);
                }
                el.rage_clicks += u64::from(c.rage);
                el.dead_clicks += u64::from(c.dead);
                if let Some((ex, ey)) = c.el {
                    el.el_n += 1;
                    el.el_x_sum += ex;
                    el.el_y_sum += ey;
                    super::zones::add_el_cell(&mut el.el_cells, ex, ey);
                }
            }
        }

        if !in_day(s.start) {
            continue;
        }

        // Surveys: the latest response per (survey, question) in this session wins.
        let mut latest: BTreeMap<(&str, &str), (SurveyKind, &Answer, &Event, &str)> = BTreeMap::new();
        for e in &s.events {
            if let Payload::SurveyResponse {
                survey_id,
                question_id,
                kind,
                value,
                trigger,
            } = &e.payload
            {
                let trigger = trigger.as_deref().unwrap_or("");
                latest.insert((survey_id, question_id), (*kind, value, e, trigger));
            }
        }
        for (&(survey_id, question_id), &(kind, value, e, trigger)) in &latest {
            answers.push(AnswerRow {
                dims: session_dims,
                id: e.id.clone(),
                ts: e.ts,
                survey_id: survey_id.to_string(),
                question_id: question_id.to_string(),
                kind,
                value: value.clone(),
                page: e.page_key.clone(),
                session_key: s.key.clone(),
                trigger: trigger.to_string(),
            });
            let values: Vec<String> = match value {
                Answer::Number(n) => vec![format_number(*n)],
                // Free text is not a category: a text question's answers count under "" (the
                // texts are in the answer rows), so its survey rows stay one per day.
                Answer::Text(_) if kind == SurveyKind::Text => vec![String::new()],
                Answer::Text(t) => vec![t.clone()],
                Answer::Choices(c) => c.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect(),
            };
            for v in values {
                *surveys
                    .entry((session_dims, survey_id, question_id, kind, v))
                    .or_default() += 1;
            }
        }

        for r in reach_rows(&s.events, session_dims) {
            *reach
                .entry((r.dims, r.survey_id, r.answered, r.dismissed_at, r.dismissed))
                .or_default() += r.sessions;
        }

        // The session row.
        let mut steps: Vec<(OrderKey, Step)> = Vec::new();
        for pv in &s.pageviews {
            if let Some(a) = anchor(pv) {
                steps.push((
                    order_key(a),
                    Step {
                        ts: pv.ts,
                        name: pv.page_key.clone(),
                        custom: false,
                    },
                ));
            }
        }
        let mut feedback = 0u32;
        for e in &s.events {
            match &e.payload {
                Payload::Custom { name, .. } => steps.push((
                    order_key(e),
                    Step {
                        ts: e.ts,
                        name: name.clone(),
                        custom: true,
                    },
                )),
                Payload::Feedback { .. } => feedback += 1,
                _ => {}
            }
        }
        steps.sort_by(|a, b| a.0.cmp(&b.0));
        let all_facts = facts.iter().flatten();
        session_rows.push(SessionRow {
            dims: session_dims,
            session_key: s.key.clone(),
            visitor_id: s.visitor_id.clone(),
            start: s.start,
            end: s.end,
            pageviews: s.pageviews.iter().filter(|pv| pv.pageview.is_some()).count() as u32,
            steps: steps.into_iter().map(|(_, step)| step).collect(),
            clicks: all_facts.clone().count() as u32,
            rage_clicks: all_facts.clone().filter(|c| c.rage).count() as u32,
            dead_clicks: all_facts.filter(|c| c.dead).count() as u32,
            quick_backs: quick_backs.iter().filter(|&&q| q).count() as u32,
            feedback,
            survey_responses: latest.len() as u32,
            segment: segments.get(s.session_id.as_str()).cloned().unwrap_or_default(),
        });
    }

    session_rows.sort_by(|a, b| (a.start, &a.session_key).cmp(&(b.start, &b.session_key)));
    feedback_rows.sort_by(|a, b| (a.ts, &a.id).cmp(&(b.ts, &b.id)));
    answers.sort_by(|a, b| (a.ts, &a.id).cmp(&(b.ts, &b.id)));
    let session_details = super::zones::session_detail_rows(&sessions, day_start, rules);
    let goal = rules
        .goal
        .as_deref()
        .and_then(|raw| Some((raw, super::impact::Goal::parse(raw).ok()?)));
    let goal = super::impact::sum_goal_rows(super::impact::goal_rows(
        &session_rows,
        &session_details,
        &feedback_rows,
        &answers,
        goal.as_ref().map(|(raw, g)| (*raw, g)),
    ));
    let mut pages: Vec<_> = pages.into_iter().collect();
    pages.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let (mut grid, mut elements, mut scroll) = (Vec::new(), Vec::new(), Vec::new());
    let pages = pages
        .into_iter()
        .map(|((dims, page, layout), sums)| {
            grid.extend(sums.grid.into_iter().map(|((cx, cy), count)| GridRow {
                dims,
                page: page.to_string(),
                layout: layout.to_string(),
                cx,
                cy,
                count,
            }));
            elements.extend(sums.elements.into_values());
            scroll.extend(
                SCROLL_DEPTHS
                    .into_iter()
                    .zip(sums.scroll)
                    .filter(|&(_, pageviews)| pageviews > 0)
                    .map(|(depth, pageviews)| ScrollRow {
                        dims,
                        page: page.to_string(),
                        layout: layout.to_string(),
                        depth,
                        pageviews,
                    }),
            );
            sums.row
        })
        .collect();
    DayRollup {
        goal,
        pages,
        grid,
        elements,
        scroll,
        surveys: surveys
            .into_iter()
            .map(|((dims, survey_id, question_id, kind, value), responses)| SurveyRow {
                dims,
                survey_id: survey_id.to_string(),
                question_id: question_id.to_string(),
                kind,
                value,
                responses,
            })
            .collect(),
        answers,
        feedback: feedback_rows,
        zones: super::zones::zone_rows(&sessions, day_start, rules),
        journeys: sum_journey_rows(session_rows.iter().flat_map(journey_rows)),
        problems: super::zones::sum_problem_rows(session_details.iter().flat_map(super::zones::problem_rows)),
        reach: reach
            .into_iter()
            .map(
                |((dims, survey_id, answered, dismissed_at, dismissed), sessions)| ReachRow {
                    dims,
                    survey_id,
                    answered,
                    dismissed_at,
                    dismissed,
                    sessions,
                },
            )
            .collect(),
        session_details,
        sessions: session_rows,
    }
}
