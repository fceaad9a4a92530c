//! The analytics definitions of `reference/analytics.md` as pure functions over raw events.
//!
//! Nothing here does I/O: [`sessionize`] rebuilds server-side sessions and page views from
//! events, [`compute_day`] turns them into the rows of one (site, UTC day), [`funnel`] counts
//! funnel steps over stored session rows and [`summarize_answers`] turns survey counts into
//! NPS / CSAT / mean. All thresholds come from [`Rules`], so a changed threshold recomputes
//! history. Times are ms since the Unix epoch (UTC), coordinates CSS px.
//!
//! Ordering inside a session is `(ts, seq, id)` with a missing `seq` first
//! (analytics.md, "Clock skew"); every output is sorted, so the same events always give the
//! same rows.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::{
    day_of, AnswerRow, DayRollup, Dims, ElementRow, FeedbackRow, GridRow, JourneyKind, JourneyRow, PageRow, Rules,
    ScrollRow, SessionRow, Step, SurveyRow, DAY_MS,
};
use crate::event::{Answer, DeviceClass, Event, Payload, SurveyKind, Viewport};

/// Number of pages a journey path keeps (analytics.md, "Paths report the first 5 pages").
pub const PATH_PAGES: usize = 5;

/// Scroll map depths, percent (analytics.md, "Scroll map": 0, 10, …, 100 %).
const SCROLL_DEPTHS: [u32; 11] = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100];

/// `<input type>` values whose repeated clicks are editing, not rage (analytics.md, "Rage
/// click": not counted on text inputs or number steppers; A3 adds pickers and sliders).
const NO_RAGE_INPUT_TYPES: [&str; 13] = [
    "text",
    "number",
    "email",
    "password",
    "search",
    "tel",
    "url",
    "date",
    "time",
    "datetime-local",
    "month",
    "week",
    "range",
];

/// One page view of a [`Session`], rebuilt from raw events.
///
/// A `pageview` event starts it; repeated `pageview` events of the same page key within
/// `pageview_dedup_ms` are merged into it (analytics.md, "Page view dedup"; case A1).
#[derive(Debug, Clone, PartialEq)]
pub struct PageView<'a> {
    /// The snippet's page view id (`pageview_id` of the pageview event, else its event id);
    /// for a synthetic page view, the first event's `pageview_id` or `synthetic:<event id>`.
    pub id: String,
    /// Canonical page key (analytics.md, "Page key").
    pub page_key: String,
    /// Event time of the page view (its first pageview event, or the first event of a
    /// synthetic page view), ms.
    pub ts: i64,
    /// Device class of the pageview event (of the first event for a synthetic page view).
    pub device: DeviceClass,
    /// Viewport of the pageview event (of the first event for a synthetic page view), CSS px.
    pub viewport: Option<Viewport>,
    /// The pageview event; `None` for a synthetic page view, made when events arrived for a
    /// page view whose pageview event we never got.
    pub pageview: Option<&'a Event>,
    /// The non-pageview events of this page view, ordered by `(ts, seq, id)`.
    pub events: Vec<&'a Event>,
}

/// One server-side session: events of one snippet session with no gap longer than
/// `session_gap_ms` and cut after `session_cap_ms`, on event time (analytics.md, "Session";
/// case I9).
#[derive(Debug, Clone, PartialEq)]
pub struct Session<'a> {
    /// `<session_id>#<n>`, n = 0, 1, … counting the server-side splits in time order.
    pub key: String,
    /// The snippet's session id.
    pub session_id: String,
    /// Visitor id of the first event.
    pub visitor_id: String,
    /// Event time of the first event, ms.
    pub start: i64,
    /// Event time of the last event, ms.
    pub end: i64,
    /// Device class of the first page view, else of the first event.
    pub device: DeviceClass,
    /// True when any event carries a `bot_reason`.
    pub bot: bool,
    /// All events (duplicate ids removed), ordered by `(ts, seq, id)`.
    pub events: Vec<&'a Event>,
    /// Page views in order; a synthetic page view, if any, comes first.
    pub pageviews: Vec<PageView<'a>>,
}

/// Position of an event inside a session: `(ts, seq, id)`, a missing `seq` first.
pub(super) type OrderKey<'e> = (i64, Option<u32>, &'e str);

/// The order of events inside a session: `(ts, seq, id)`, a missing `seq` first.
pub(super) fn order_key(e: &Event) -> OrderKey<'_> {
    (e.ts, e.seq, e.id.as_str())
}

fn is_pageview(e: &Event) -> bool {
    matches!(e.payload, Payload::Pageview { .. })
}

/// Rebuild sessions and page views from raw events (analytics.md, "Sessions and pages").
///
/// - Events with an id seen earlier in `events` are dropped (the first one is kept; I8).
/// - Events are grouped by `(site, session_id)` and ordered by `(ts, seq, id)`, `seq`
///   `None` first.
/// - A session is split before an event more than `session_gap_ms` after the previous one,
///   or at least `session_cap_ms` after the session's start (event time, never arrival
///   time, so late events join the session they belong to; I9), and, with
///   `split_at_midnight`, before an event on a later date in `time_zone` than the previous
///   one (00:00:00.000 belongs to the new day).
/// - A pageview event starts a page view unless it carries the id of an existing page view
///   of the session, or has the same page key as the previous pageview event and comes at
///   most `pageview_dedup_ms` after it (A1); then it is merged (its `pageview_id` becomes an
///   alias of the page view).
/// - Other events join the page view whose id (or alias) is their `pageview_id`; else the
///   latest page view at or before them; else a synthetic page view (`pageview: None`,
///   page key and device of that event, id = its `pageview_id` or `synthetic:<event id>`).
///
/// Sessions come out ordered by `(site, session_id, n)`.
pub fn sessionize<'a>(events: &'a [Event], rules: &Rules) -> Vec<Session<'a>> {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut groups: BTreeMap<(&str, &str), Vec<&'a Event>> = BTreeMap::new();
    for e in events {
        if seen.insert(e.id.as_str()) {
            groups
                .entry((e.site.as_str(), e.session_id.as_str()))
                .or_default()
                .push(e);
        }
    }

    let mut out = Vec::new();
    for ((_, session_id), mut evs) in groups {
        evs.sort_by(|a, b| order_key(a).cmp(&order_key(b)));
        let mut n = 0usize;
        let mut chunk: Vec<&'a Event> = Vec::new();
        for e in evs {
            if let (Some(first), Some(last)) = (chunk.first(), chunk.last()) {
                if e.ts - last.ts > rules.session_gap_ms
                    || e.ts - first.ts >= rules.session_cap_ms
                    || (rules.split_at_midnight && local_date(last.ts, rules) != local_date(e.ts, rules))
                {
                    out.push(build_session(session_id, n, std::mem::take(&mut chunk), rules));
                    n += 1;
                }
            }
            chunk.push(e);
        }
        if !chunk.is_empty() {
            out.push(build_session(session_id, n, chunk, rules));
        }
    }
    out
}

/// The calendar date of `ts` (ms) in the site's time zone (`Rules::time_zone`); a new date
/// starts at 00:00:00.000 local time.
fn local_date(ts: i64, rules: &Rules) -> Option<chrono::NaiveDate> {
    chrono::DateTime::from_timestamp_millis(ts).map(|t| t.with_timezone(&rules.time_zone).date_naive())
}

/// One session from its ordered, non-empty events.
fn build_session<'a>(session_id: &str, n: usize, events: Vec<&'a Event>, rules: &Rules) -> Session<'a> {
    // Page views in order; `starts[i]` is the index in `events` of page view i's first event.
    let mut pageviews: Vec<PageView<'a>> = Vec::new();
    let mut starts: Vec<usize> = Vec::new();
    // Page view id or alias -> index in `pageviews`.
    let mut by_id: HashMap<&'a str, usize> = HashMap::new();

    // Pass 1: pageview events start (or merge into) page views.
    let mut previous: Option<(&'a Event, usize)> = None;
    for (i, &e) in events.iter().enumerate() {
        if !is_pageview(e) {
            continue;
        }
        let own_id: &'a str = e.pageview_id.as_deref().unwrap_or(e.id.as_str());
        let merge_into = by_id.get(own_id).copied().or_else(|| {
            previous.and_then(|(prev, at)| {
                (prev.page_key == e.page_key && e.ts - prev.ts <= rules.pageview_dedup_ms).then_some(at)
            })
        });
        let at = match merge_into {
            Some(at) => at,
            None => {
                pageviews.push(PageView {
                    id: own_id.to_string(),
                    page_key: e.page_key.clone(),
                    ts: e.ts,
                    device: e.device,
                    viewport: e.viewport,
                    pageview: Some(e),
                    events: Vec::new(),
                });
                starts.push(i);
                pageviews.len() - 1
            }
        };
        by_id.entry(own_id).or_insert(at);
        previous = Some((e, at));
    }

    // Pass 2: other events join their page view. `real` counts the page views made in pass 1
    // (ordered by `starts`); a synthetic one is pushed after them and moved to the front at
    // the end: it can only be made before every real page view, so there is at most one.
    let real = pageviews.len();
    let mut reached = 0usize; // real page views starting at or before the current event
    let mut synthetic: Option<usize> = None;
    for (i, &e) in events.iter().enumerate() {
        if is_pageview(e) {
            continue;
        }
        while reached < real && starts[reached] <= i {
            reached += 1;
        }
        let by_own_id = e.pageview_id.as_deref().and_then(|id| by_id.get(id).copied());
        let latest = if reached > 0 { Some(reached - 1) } else { synthetic };
        let at = match by_own_id.or(latest) {
            Some(at) => at,
            None => {
                let id = e.pageview_id.clone().unwrap_or_else(|| format!("synthetic:{}", e.id));
                pageviews.push(PageView {
                    id,
                    page_key: e.page_key.clone(),
                    ts: e.ts,
                    device: e.device,
                    viewport: e.viewport,
                    pageview: None,
                    events: Vec::new(),
                });
                let at = pageviews.len() - 1;
                if let Some(id) = e.pageview_id.as_deref() {
                    by_id.insert(id, at);
                }
                synthetic = Some(at);
                at
            }
        };
        pageviews[at].events.push(e);
    }
    if synthetic.is_some() {
        pageviews.rotate_right(1);
    }

    let first = events[0];
    let last = events[events.len() - 1];
    Session {
        key: super::session_key(session_id, n as u32),
        session_id: session_id.to_string(),
        visitor_id: first.visitor_id.clone(),
        start: first.ts,
        end: last.ts,
        device: pageviews.first().map_or(first.device, |p| p.device),
        bot: events.iter().any(|e| e.bot_reason.is_some()),
        events,
        pageviews,
    }
}

/// What the rollups need to know about one click.
pub(super) struct ClickFact<'a> {
    /// The click event.
    pub(super) event: &'a Event,
    pub(super) x: f64,
    pub(super) y: f64,
    /// The normalised selector ([`super::selector::normalize_selector`]).
    pub(super) selector: std::borrow::Cow<'a, str>,
    pub(super) zone: &'a str,
    pub(super) el: Option<(f64, f64)>,
    pub(super) dead: bool,
    /// First click of a rage burst (a burst counts once, on its first click).
    pub(super) rage: bool,
    /// On the first click of a rage burst, the clicks in the burst; 0 on every other click.
    pub(super) rage_burst: u32,
}

/// A click with no reaction within `dead_click_ms` (reaction `None` included), unless it
/// navigates or a modifier key was held (analytics.md, "Dead click").
/// Clicks into a text field, stepper or picker (`text_entry`) are never dead either: focusing
/// shows only a caret or a native picker, which the page's DOM does not reflect.
fn is_dead(reaction_ms: Option<u32>, navigates: bool, modifier: bool, text_entry: bool, rules: &Rules) -> bool {
    !navigates && !modifier && !text_entry && reaction_ms.is_none_or(|r| r > rules.dead_click_ms)
}

/// Text-like inputs, steppers and pickers (an `<input>` without a type is a text input),
/// `textarea` and `select`.
fn text_entry(tag: Option<&str>, input_type: Option<&str>) -> bool {
    let tag = tag.map(|t| t.trim().to_ascii_lowercase());
    let text_like = match input_type {
        Some(t) => NO_RAGE_INPUT_TYPES.contains(&t.trim().to_ascii_lowercase().as_str()),
        None => tag.as_deref() == Some("input"),
    };
    text_like || matches!(tag.as_deref(), Some("textarea") | Some("select"))
}

/// Clicks never counted as rage: [`text_entry`] targets and selectors on the site's ignore
/// list (A3).
fn rage_exempt(tag: Option<&str>, input_type: Option<&str>, selector: &str, rules: &Rules) -> bool {
    text_entry(tag, input_type)
        || rules
            .rage_ignore_selectors
            .iter()
            .any(|entry| selector_ignored(selector, entry))
}

/// An ignore-list entry matches a selector that equals it, ends with it, or whose last
/// compound selector starts with it (so `button.qty-plus` matches
/// `div.cart > button.qty-plus:nth-child(2)`). Empty entries match nothing.
fn selector_ignored(selector: &str, entry: &str) -> bool {
    let selector = selector.trim();
    let entry = entry.trim();
    !entry.is_empty() && (selector == entry || selector.ends_with(entry) || last_compound(selector).starts_with(entry))
}

/// The last compound of a CSS selector: what follows the last descendant (whitespace) or
/// `>`, `+`, `~` combinator outside brackets, parentheses and quotes.
fn last_compound(selector: &str) -> &str {
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut start = 0;
    for (i, c) in selector.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '"' | '\'' => quote = Some(c),
                '[' | '(' => depth += 1,
                ']' | ')' => depth -= 1,
                c if depth <= 0 && (c.is_whitespace() || matches!(c, '>' | '+' | '~')) => {
                    start = i + c.len_utf8();
                }
                _ => {}
            },
        }
    }
    &selector[start..]
}

/// The clicks of one page view with their dead and rage flags.
///
/// Rage (analytics.md, "Rage click"): over the page view's non-exempt clicks in order, a
/// burst is a maximal run where each click is at most `rage_max_interval_ms` after and at
/// most `rage_max_distance_px` (Manhattan) from the previous one; a burst of at least
/// `rage_min_clicks` clicks is one rage click, on its first click. Exempt clicks take no
/// part in bursts.
pub(super) fn click_facts<'a>(pv: &PageView<'a>, rules: &Rules) -> Vec<ClickFact<'a>> {
    let mut facts = Vec::new();
    let mut eligible: Vec<(usize, i64)> = Vec::new(); // (index in facts, ts)
    for &e in &pv.events {
        if let Payload::Click {
            x,
            y,
            selector,
            el,
            tag,
            zone,
            reaction_ms,
            modifier,
            navigates,
            input_type,
            tracker,
            ..
        } = &e.payload
        {
            let selector = super::selector::normalize_selector(selector);
            if !rage_exempt(tag.as_deref(), input_type.as_deref(), &selector, rules) {
                eligible.push((facts.len(), e.ts));
            }
            facts.push(ClickFact {
                event: e,
                x: *x,
                y: *y,
                selector,
                zone: zone.as_deref().unwrap_or(""),
                el: *el,
                // A tracker's click has no reaction time: unknown, not dead.
                dead: tracker.is_none()
                    && is_dead(
                        *reaction_ms,
                        *navigates,
                        *modifier,
                        text_entry(tag.as_deref(), input_type.as_deref()),
                        rules,
                    ),
                rage: false,
                rage_burst: 0,
            });
        }
    }
    let mut burst_start = 0;
    for k in 1..=eligible.len() {
        let ends = k == eligible.len() || {
            let ((a, a_ts), (b, b_ts)) = (eligible[k - 1], eligible[k]);
            let distance = (facts[b].x - facts[a].x).abs() + (facts[b].y - facts[a].y).abs();
            // Written so that a NaN distance ends the burst. Clicks a tracker reported have
            // no position: near when on the same selector.
            let near = if is_tracker_click(facts[a].event) || is_tracker_click(facts[b].event) {
                facts[a].selector == facts[b].selector
            } else {
                distance <= rules.rage_max_distance_px
            };
            b_ts - a_ts > rules.rage_max_interval_ms || !near
        };
        if ends {
            if k - burst_start >= rules.rage_min_clicks as usize {
                let first = &mut facts[eligible[burst_start].0];
                first.rage = true;
                first.rage_burst = (k - burst_start) as u32;
            }
            burst_start = k;
        }
    }
    facts
}

/// A click reported by another tracker ([`Payload::Click::tracker`]): it has no position.
pub(super) fn is_tracker_click(e: &Event) -> bool {
    matches!(&e.payload, Payload::Click { tracker: Some(_), .. })
}

/// Quick back (analytics.md, Clarity's "quick back"): page view `i` is left for the page
/// before it — the next page view has the previous page view's key (and that key differs
/// from this one) and starts at most `quick_back_ms` after this page view.
pub(super) fn is_quick_back(pageviews: &[PageView], i: usize, rules: &Rules) -> bool {
    i >= 1
        && i + 1 < pageviews.len()
        && pageviews[i + 1].page_key == pageviews[i - 1].page_key
        && pageviews[i].page_key != pageviews[i - 1].page_key
        && pageviews[i + 1].ts - pageviews[i].ts <= rules.quick_back_ms
}

/// Deepest scroll of a page view in percent, rounded to 0.1 (0 without scroll events), and
/// the largest document height its scroll events reported.
pub(super) fn scroll_of(pv: &PageView) -> (f64, Option<u32>) {
    let mut depth = 0.0f64;
    let mut doc_h: Option<u32> = None;
    for e in &pv.events {
        if let Payload::Scroll { depth: d, doc_h: h } = &e.payload {
            depth = depth.max(*d);
            doc_h = doc_h.max(*h);
        }
    }
    ((depth * 10.0).round() / 10.0, doc_h)
}

/// The event that places a page view in the session order: its pageview event, else (a
/// synthetic page view) its first event.
pub(super) fn anchor<'a>(pv: &PageView<'a>) -> Option<&'a Event> {
    pv.pageview.or_else(|| pv.events.first().copied())
}

/// A survey number as text: `9`, `4.5` (no trailing `.0`; `-0` written `0`).
fn format_number(n: f64) -> String {
    format!("{}", n + 0.0)
}

/// Every rollup row of the snippet sessions whose events are in `events`, one
/// [`super::SessionRollup`] per snippet session id (sorted by it), each covering
/// every UTC day its events span: the union of [`compute_day`] over those days, computed
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
            let mut rows = DayRollup::default();
            let mut day = day_of(lo);
            while day <= day_of(hi) {
                rows.extend(compute_day(&evs, day, rules));
                day += DAY_MS;
            }
            super::SessionRollup {
                session_id,
                first_day: day_of(lo),
                last_day: day_of(hi),
                rows,
            }
        })
        .collect()
}

/// Everything one (site, UTC day) contributes to the rollups (see the module doc of
/// `rollup` and analytics.md).
///
/// `events` holds every event of every snippet session that touched the day, possibly with
/// events of other days, so sessions are rebuilt whole with [`sessionize`]. Rows:
/// - **Session-level** (sessions, surveys, answers, session details): sessions whose
///   `start` lies in `[day_start, day_start + DAY_MS)`; `dims.device` = the session's device.
/// - **Page-view-level** (pages, grid, elements, scroll): page views whose `ts` lies in the
///   day, with all their events (so a page view is never cut at midnight);
///   `dims.device` = the page view's device. Feedback rows: feedback events whose `ts` lies in
///   the day, with their page view's page and device.
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
///   burst, on the burst's first click), sums of the in-element positions.
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
///
/// Rows are aggregated in `BTreeMap`s and come out sorted by their keys (dims first);
/// session rows by `(start, session_key)`, feedback rows by `(ts, id)`.
pub fn compute_day(events: &[Event], day_start: i64, rules: &Rules) -> DayRollup {
    let in_day = |ts: i64| ts >= day_start && ts < day_start + DAY_MS;
    let cell = f64::from(rules.grid_cell_px.max(1));
    let sessions = sessionize(events, rules);

    let mut pages: BTreeMap<(Dims, &str), PageRow> = BTreeMap::new();
    let mut grid: BTreeMap<(Dims, &str, u32, u32), u64> = BTreeMap::new();
    let mut elements: BTreeMap<(Dims, &str, std::borrow::Cow<str>, &str), ElementRow> = BTreeMap::new();
    let mut scroll: BTreeMap<(Dims, &str, u32), u64> = BTreeMap::new();
    let mut surveys: BTreeMap<(Dims, &str, &str, SurveyKind, String), u64> = BTreeMap::new();
    let mut session_rows: Vec<SessionRow> = Vec::new();
    let mut feedback_rows: Vec<FeedbackRow> = Vec::new();
    let mut answers: Vec<AnswerRow> = Vec::new();

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
            let row = pages
                .entry((dims, page))
                .or_insert_with(|| PageRow::with_pageviews(dims, page, 0));
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
                for d in SCROLL_DEPTHS {
                    if depth >= f64::from(d) {
                        *scroll.entry((dims, page, d)).or_default() += 1;
                    }
                }
            }
            for c in &facts[i] {
                // A tracker's click has no position: counted on its element, not in the grid.
                if !is_tracker_click(c.event) {
                    let cx = (c.x.max(0.0) / cell).floor() as u32;
                    let cy = (c.y.max(0.0) / cell).floor() as u32;
                    *grid.entry((dims, page, cx, cy)).or_default() += 1;
                }
                let el = elements
                    .entry((dims, page, c.selector.clone(), c.zone))
                    .or_insert_with(|| ElementRow {
                        dims,
                        page: page.to_string(),
                        selector: c.selector.to_string(),
                        zone: c.zone.to_string(),
                        clicks: 0,
                        rage_clicks: 0,
                        dead_clicks: 0,
                        el_n: 0,
                        el_x_sum: 0.0,
                        el_y_sum: 0.0,
                        el_cells: Vec::new(),
                    });
                el.clicks += 1;
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
        });
    }

    session_rows.sort_by(|a, b| (a.start, &a.session_key).cmp(&(b.start, &b.session_key)));
    feedback_rows.sort_by(|a, b| (a.ts, &a.id).cmp(&(b.ts, &b.id)));
    answers.sort_by(|a, b| (a.ts, &a.id).cmp(&(b.ts, &b.id)));
    let session_details = super::zones::session_detail_rows(&sessions, day_start, rules);
    DayRollup {
        pages: pages.into_values().collect(),
        grid: grid
            .into_iter()
            .map(|((dims, page, cx, cy), count)| GridRow {
                dims,
                page: page.to_string(),
                cx,
                cy,
                count,
            })
            .collect(),
        elements: elements.into_values().collect(),
        scroll: scroll
            .into_iter()
            .map(|((dims, page, depth), pageviews)| ScrollRow {
                dims,
                page: page.to_string(),
                depth,
                pageviews,
            })
            .collect(),
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
        session_details,
        sessions: session_rows,
    }
}

/// A session's journey (analytics.md, "Journeys and funnels"): its path — the page keys of
/// its page views in order, consecutive repeats collapsed — and how many page views it had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPath<'a> {
    /// Page keys in order, consecutive repeats collapsed.
    pub pages: Vec<&'a str>,
    /// Page views before collapsing (synthetic page views included).
    pub pageviews: usize,
}

impl<'a> SessionPath<'a> {
    /// The path of a session whose page views have these page keys, in order.
    pub fn of(page_keys: impl IntoIterator<Item = &'a str>) -> SessionPath<'a> {
        let mut pages: Vec<&str> = Vec::new();
        let mut pageviews = 0;
        for key in page_keys {
            pageviews += 1;
            if pages.last() != Some(&key) {
                pages.push(key);
            }
        }
        SessionPath { pages, pageviews }
    }

    /// The path of a stored session: its page view steps (custom events left out).
    pub fn of_steps(steps: &'a [Step]) -> SessionPath<'a> {
        SessionPath::of(steps.iter().filter(|s| !s.custom).map(|s| s.name.as_str()))
    }

    /// A bounce: exactly one page view.
    pub fn bounce(&self) -> bool {
        self.pageviews == 1
    }

    /// The first [`PATH_PAGES`] (5) pages, the unit of the paths report (sunburst data).
    pub fn prefix(&self) -> &[&'a str] {
        &self.pages[..self.pages.len().min(PATH_PAGES)]
    }
}

/// Journeys report over stored sessions (api.md `GET …/journeys`): counts in sessions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Journeys {
    /// Sessions with at least one page view.
    pub sessions: u64,
    /// Sessions with exactly one page view.
    pub bounces: u64,
    /// Consecutive (from, to) pairs of the paths → count.
    pub transitions: BTreeMap<(String, String), u64>,
    /// First page → (sessions, bounces).
    pub entries: BTreeMap<String, (u64, u64)>,
    /// Last page → sessions.
    pub exits: BTreeMap<String, u64>,
    /// First 5 pages of the path → sessions.
    pub paths: BTreeMap<Vec<String>, u64>,
}

/// The journey rows of one session (analytics.md, "Journeys and funnels"; see
/// [`SessionPath`]): its entry (with its bounce), its exit, each transition of its path, and
/// its path's first [`PATH_PAGES`] pages, under the session's dims. None for a session without
/// page views. The one definition of journeys: stores sum these rows per day
/// ([`crate::rollup::Part`] `Journeys`) and [`Journeys::of_rows`] sums them per report.
pub fn journey_rows(s: &SessionRow) -> Vec<JourneyRow> {
    let path = SessionPath::of_steps(&s.steps);
    let (Some(&first), Some(&last)) = (path.pages.first(), path.pages.last()) else {
        return Vec::new();
    };
    let row = |kind, from: String, to: &str, bounces| JourneyRow {
        dims: s.dims,
        kind,
        from,
        to: to.to_string(),
        count: 1,
        bounces,
    };
    let mut out = Vec::with_capacity(path.pages.len() + 2);
    out.push(row(JourneyKind::Entry, first.to_string(), "", u64::from(path.bounce())));
    out.push(row(JourneyKind::Exit, last.to_string(), "", 0));
    for pair in path.pages.windows(2) {
        out.push(row(JourneyKind::Transition, pair[0].to_string(), pair[1], 0));
    }
    let mut joined = String::new();
    for (i, p) in path.prefix().iter().enumerate() {
        if i > 0 {
            joined.push(super::PATH_SEP);
        }
        joined.push_str(p);
    }
    out.push(row(JourneyKind::Path, joined, "", 0));
    out
}

/// Sum journey rows per (dims, kind, from, to), sorted by that key.
pub fn sum_journey_rows(rows: impl IntoIterator<Item = JourneyRow>) -> Vec<JourneyRow> {
    let mut sums: BTreeMap<(Dims, JourneyKind, String, String), (u64, u64)> = BTreeMap::new();
    for r in rows {
        let e = sums.entry((r.dims, r.kind, r.from, r.to)).or_default();
        e.0 += r.count;
        e.1 += r.bounces;
    }
    sums.into_iter()
        .map(|((dims, kind, from, to), (count, bounces))| JourneyRow {
            dims,
            kind,
            from,
            to,
            count,
            bounces,
        })
        .collect()
}

impl Journeys {
    /// The report of journey rows (any mix of sessions and days): entries, exits,
    /// transitions and paths summed; `sessions` and `bounces` are the entry sums (every
    /// session with a page view has exactly one entry).
    pub fn of_rows<'a>(rows: impl IntoIterator<Item = &'a JourneyRow>) -> Journeys {
        let mut j = Journeys::default();
        for r in rows {
            match r.kind {
                JourneyKind::Entry => {
                    j.sessions += r.count;
                    j.bounces += r.bounces;
                    let e = j.entries.entry(r.from.clone()).or_default();
                    e.0 += r.count;
                    e.1 += r.bounces;
                }
                JourneyKind::Exit => *j.exits.entry(r.from.clone()).or_default() += r.count,
                JourneyKind::Transition => *j.transitions.entry((r.from.clone(), r.to.clone())).or_default() += r.count,
                JourneyKind::Path => {
                    *j.paths
                        .entry(r.from.split(super::PATH_SEP).map(str::to_string).collect())
                        .or_default() += r.count
                }
            }
        }
        j
    }
}

/// The journeys of `sessions`, only of sessions whose entry page is `entry` when given
/// ([`journey_rows`] summed). Sessions without page views count nowhere.
pub fn journeys<'a>(sessions: impl IntoIterator<Item = &'a SessionRow>, entry: Option<&str>) -> Journeys {
    let rows: Vec<JourneyRow> = sessions
        .into_iter()
        .filter(|s| entry.is_none_or(|e| SessionPath::of_steps(&s.steps).pages.first() == Some(&e)))
        .flat_map(journey_rows)
        .collect();
    Journeys::of_rows(&rows)
}

pub use crate::model::goal::FunnelStep;

/// How many funnel steps one session timeline reaches: trying every occurrence of step 1
/// as the start, steps are matched greedily in strict order (anything may lie between),
/// each at most `window_ms` after the start; the deepest match counts.
pub(super) fn funnel_depth(timeline: &[Step], steps: &[FunnelStep], window_ms: i64) -> usize {
    let mut best = 0;
    for (i, start) in timeline.iter().enumerate() {
        if !steps[0].matches(start) {
            continue;
        }
        let mut depth = 1;
        let mut pos = i + 1;
        while depth < steps.len() {
            let found = timeline[pos..]
                .iter()
                .position(|s| steps[depth].matches(s) && s.ts - start.ts <= window_ms);
            match found {
                Some(offset) => {
                    pos += offset + 1;
                    depth += 1;
                }
                None => break,
            }
        }
        best = best.max(depth);
        if best == steps.len() {
            break;
        }
    }
    best
}

/// Funnel counts (analytics.md, "Funnel"; api.md `GET …/funnel`): element k is the number
/// of sessions (or, with `count_visitors`, of distinct visitor ids) that reached step k+1 —
/// hit steps 1..=k+1 in strict order in their `steps` timeline, other steps between
/// allowed, with step k+1 at most `window_ms` after step 1. The result has one element per
/// step and never increases.
pub fn funnel(sessions: &[SessionRow], steps: &[FunnelStep], window_ms: i64, count_visitors: bool) -> Vec<u64> {
    if steps.is_empty() {
        return Vec::new();
    }
    let mut session_counts = vec![0u64; steps.len()];
    let mut visitors: Vec<BTreeSet<&str>> = vec![BTreeSet::new(); steps.len()];
    for s in sessions {
        let depth = funnel_depth(&s.steps, steps, window_ms);
        for k in 0..depth {
            session_counts[k] += 1;
            visitors[k].insert(s.visitor_id.as_str());
        }
    }
    if count_visitors {
        visitors.iter().map(|v| v.len() as u64).collect()
    } else {
        session_counts
    }
}

/// Summary of one survey question (analytics.md, "Voice of customer"; api.md `GET …/voc`).
#[derive(Debug, Clone, PartialEq)]
pub struct SurveySummary {
    /// Sum of the counts (for a multi-choice question: options chosen).
    pub responses: u64,
    /// Count per answer value (the input counts).
    pub distribution: BTreeMap<String, u64>,
    /// Mean of the numeric answers, for nps, csat and rating; `None` without any.
    pub mean: Option<f64>,
    /// % promoters (9–10) − % detractors (0–6) of the numeric answers, rounded to 0.1;
    /// only for kind `nps` (never for other 0–10 scales).
    pub nps: Option<f64>,
    /// % of numeric answers that are 4 or 5, rounded to 0.1; only for kind `csat`.
    pub csat: Option<f64>,
}

/// Round to one decimal, writing −0 as 0.
fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0 + 0.0
}

/// Summarize the per-value counts of one question (as stored in [`SurveyRow`]s).
///
/// Numeric answers are the values that parse as finite numbers; they feed `mean` (kinds
/// nps, csat and rating only), `nps` (kind nps only: [10, 9, 8, 6, 0] → 40 − 40 = 0) and
/// `csat` (kind csat only: [5, 4, 3, 1] → 50). Each is `None` without numeric answers.
pub fn summarize_answers(kind: SurveyKind, counts: &BTreeMap<String, u64>) -> SurveySummary {
    let numeric: Vec<(f64, u64)> = counts
        .iter()
        .filter_map(|(v, &n)| v.trim().parse::<f64>().ok().filter(|x| x.is_finite()).map(|x| (x, n)))
        .collect();
    let numeric_n: u64 = numeric.iter().map(|&(_, n)| n).sum();
    let share = |pred: &dyn Fn(f64) -> bool| -> f64 {
        let hits: u64 = numeric.iter().filter(|&&(x, _)| pred(x)).map(|&(_, n)| n).sum();
        hits as f64 * 100.0 / numeric_n as f64
    };
    let has_numeric = numeric_n > 0;
    let numeric_kind = matches!(kind, SurveyKind::Nps | SurveyKind::Csat | SurveyKind::Rating);
    SurveySummary {
        responses: counts.values().sum(),
        distribution: counts.clone(),
        mean: (numeric_kind && has_numeric)
            .then(|| numeric.iter().map(|&(x, n)| x * n as f64).sum::<f64>() / numeric_n as f64),
        nps: (kind == SurveyKind::Nps && has_numeric).then(|| round1(share(&|x| x >= 9.0) - share(&|x| x <= 6.0))),
        csat: (kind == SurveyKind::Csat && has_numeric).then(|| round1(share(&|x| x >= 4.0))),
    }
}

/// Words left out of [`top_terms`]: English function words and the PII tokens of the
/// scrubber (`[email]`, `[card]`, `[phone]`).
const STOP_WORDS: &[&str] = &[
    "a", "about", "after", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be", "because", "been", "but",
    "by", "can", "could", "did", "do", "does", "dont", "for", "from", "get", "got", "had", "has", "have", "he", "her",
    "here", "him", "his", "how", "i", "if", "im", "in", "into", "is", "it", "its", "just", "me", "more", "my", "no",
    "not", "of", "on", "one", "or", "our", "out", "she", "so", "some", "than", "that", "the", "their", "them", "then",
    "there", "they", "this", "to", "too", "up", "us", "very", "was", "we", "were", "what", "when", "which", "who",
    "why", "will", "with", "would", "you", "your", "email", "card", "phone",
];

/// Top terms of free-text answers (analytics.md, "Text"): words are maximal runs of letters
/// and digits (Unicode), lower-cased, at least 2 characters, not all digits and not in
/// [`STOP_WORDS`]; a term counts once per answer it occurs in. Returns at most `n` terms by
/// that count, ties by term.
pub fn top_terms<'a>(texts: impl IntoIterator<Item = &'a str>, n: usize) -> Vec<(String, u64)> {
    let mut counts: HashMap<String, u64> = HashMap::new();
    for t in texts {
        let lower = t.to_lowercase();
        let words: HashSet<&str> = lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.chars().count() >= 2 && !w.chars().all(|c| c.is_ascii_digit()) && !STOP_WORDS.contains(w))
            .collect();
        for w in words {
            *counts.entry(w.to_string()).or_default() += 1;
        }
    }
    let mut v: Vec<(String, u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::rollup::day_of;

    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;
    /// 2025-06-01 00:00 UTC.
    const DAY: i64 = 20_240 * DAY_MS;

    pub(in crate::rollup) fn at(h: i64, m: i64) -> i64 {
        DAY + h * HOUR + m * MIN
    }

    pub(in crate::rollup) fn event(id: &str, ts: i64, payload: Payload) -> Event {
        Event {
            id: id.to_string(),
            site: "site".to_string(),
            ts,
            client_ts: ts,
            received_at: ts,
            skew_rule: "none".to_string(),
            session_id: "s".to_string(),
            visitor_id: "v".to_string(),
            url: "https://shop.example/".to_string(),
            page_key: "shop.example/".to_string(),
            viewport: Some(Viewport { w: 1280, h: 800 }),
            seq: None,
            pageview_id: None,
            device: DeviceClass::Desktop,
            bot_reason: None,
            request_id: "r".to_string(),
            payload,
        }
    }

    pub(in crate::rollup) fn pageview(id: &str, ts: i64, page: &str) -> Event {
        let mut e = event(
            id,
            ts,
            Payload::Pageview {
                referrer: None,
                title: None,
                screen: None,
            },
        );
        e.page_key = page.to_string();
        e.pageview_id = Some(format!("pv-{id}"));
        e
    }

    pub(in crate::rollup) fn click(id: &str, ts: i64, x: f64, y: f64, selector: &str) -> Event {
        event(
            id,
            ts,
            Payload::Click {
                x,
                y,
                selector: selector.to_string(),
                el: None,
                tag: Some("button".to_string()),
                zone: None,
                reaction_ms: Some(100),
                keyboard: false,
                modifier: false,
                navigates: false,
                input_type: None,
                tracker: None,
                text: None,
            },
        )
    }

    fn click_on(id: &str, ts: i64, selector: &str, change: impl FnOnce(&mut Payload)) -> Event {
        let mut e = click(id, ts, 100.0, 100.0, selector);
        change(&mut e.payload);
        e
    }

    fn no_reaction(p: &mut Payload) {
        if let Payload::Click { reaction_ms, .. } = p {
            *reaction_ms = None;
        }
    }

    fn scroll(id: &str, ts: i64, depth: f64, doc_h: Option<u32>) -> Event {
        event(id, ts, Payload::Scroll { depth, doc_h })
    }

    fn custom(id: &str, ts: i64, name: &str) -> Event {
        event(
            id,
            ts,
            Payload::Custom {
                name: name.to_string(),
                props_json: "{}".to_string(),
            },
        )
    }

    fn survey(id: &str, ts: i64, kind: SurveyKind, value: Answer) -> Event {
        event(
            id,
            ts,
            Payload::SurveyResponse {
                survey_id: "exit".to_string(),
                question_id: "q1".to_string(),
                kind,
                value,
                trigger: None,
            },
        )
    }

    fn in_session(mut e: Event, session: &str) -> Event {
        e.session_id = session.to_string();
        e.visitor_id = format!("visitor-{session}");
        e
    }

    fn starts(sessions: &[Session]) -> Vec<(String, i64, usize)> {
        sessions
            .iter()
            .map(|s| (s.key.clone(), s.start, s.events.len()))
            .collect()
    }

    fn counts(values: &[(&str, u64)]) -> BTreeMap<String, u64> {
        values.iter().map(|&(v, n)| (v.to_string(), n)).collect()
    }

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

    #[test]
    fn scroll_buckets_count_page_views_reaching_each_depth() {
        let page = "shop.example/";
        let mut events = vec![
            pageview("p1", at(10, 0), page),
            scroll("s1", at(10, 0) + 1, 35.0, Some(4000)),
            scroll("s2", at(10, 0) + 2, 99.96, Some(4200)), // rounds to 100.0
            pageview("p2", at(10, 1), page),
            scroll("s3", at(10, 1) + 1, 49.94, None), // rounds to 49.9
            pageview("p3", at(10, 2), page),          // no scroll: depth 0
        ];
        events[0].viewport = Some(Viewport { w: 1280, h: 800 });
        let day = compute_day(&events, DAY, &Rules::default());
        let buckets: Vec<(u32, u64)> = day.scroll.iter().map(|r| (r.depth, r.pageviews)).collect();
        assert_eq!(
            buckets,
            vec![
                (0, 3),
                (10, 2),
                (20, 2),
                (30, 2),
                (40, 2),
                (50, 1),
                (60, 1),
                (70, 1),
                (80, 1),
                (90, 1),
                (100, 1)
            ]
        );
        // Fold: only p1 has a document height.
        let row = &day.pages[0];
        assert_eq!(
            (row.pageviews, row.fold_n, row.viewport_h_sum, row.doc_h_sum),
            (3, 1, 800, 4200)
        );
    }

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
            .map(|(p, s)| (p.iter().map(String::as_str).collect(), *s))
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

    #[test]
    fn a_quick_back_is_a_return_to_the_previous_page_within_10_s() {
        let t = at(10, 0);
        let events = vec![
            pageview("p1", t, "list"),
            pageview("p2", t + 1_000, "item"),   // back to list 10 s later: quick back
            pageview("p3", t + 11_000, "list"),  // next page is not the previous one: not
            pageview("p4", t + 30_000, "item2"), // back to list 10.001 s later: not
            pageview("p5", t + 40_001, "list"),
            pageview("p6", t + 41_000, "list"), // a reload, then back: not
            pageview("p7", t + 42_000, "list"),
        ];
        let day = compute_day(&events, DAY, &Rules::default());
        let qb: Vec<(&str, u64, u64)> = day
            .pages
            .iter()
            .map(|p| (p.page.as_str(), p.pageviews, p.quick_backs))
            .collect();
        assert_eq!(qb, vec![("item", 1, 1), ("item2", 1, 0), ("list", 5, 0)]);
        assert_eq!(day.sessions[0].quick_backs, 1);
    }

    #[test]
    fn the_latest_survey_response_per_session_wins() {
        let mut events = vec![
            in_session(survey("a1", at(10, 0), SurveyKind::Nps, Answer::Number(6.0)), "s1"),
            in_session(survey("a2", at(10, 1), SurveyKind::Nps, Answer::Number(9.0)), "s1"),
            in_session(survey("b1", at(11, 0), SurveyKind::Nps, Answer::Number(4.5)), "s2"),
            in_session(
                survey(
                    "c1",
                    at(12, 0),
                    SurveyKind::Choice,
                    Answer::Choices(vec!["red".into(), "blue".into(), "red".into()]),
                ),
                "s3",
            ),
        ];
        // Same ts: the higher seq is the later one.
        let mut x = in_session(survey("d2", at(13, 0), SurveyKind::Nps, Answer::Number(10.0)), "s4");
        x.seq = Some(2);
        let mut y = in_session(survey("d1", at(13, 0), SurveyKind::Nps, Answer::Number(0.0)), "s4");
        y.seq = Some(3);
        events.extend([x, y]);
        let day = compute_day(&events, DAY, &Rules::default());
        let rows: Vec<(SurveyKind, &str, u64)> = day
            .surveys
            .iter()
            .map(|r| (r.kind, r.value.as_str(), r.responses))
            .collect();
        assert_eq!(
            rows,
            vec![
                (SurveyKind::Nps, "0", 1),
                (SurveyKind::Nps, "4.5", 1),
                (SurveyKind::Nps, "9", 1),
                (SurveyKind::Choice, "blue", 1),
                (SurveyKind::Choice, "red", 1),
            ]
        );
        let per_session: Vec<u32> = day.sessions.iter().map(|s| s.survey_responses).collect();
        assert_eq!(per_session, vec![1, 1, 1, 1]);
    }

    #[test]
    fn nps_of_10_9_8_6_0_is_zero() {
        let s = summarize_answers(
            SurveyKind::Nps,
            &counts(&[("10", 1), ("9", 1), ("8", 1), ("6", 1), ("0", 1)]),
        );
        assert_eq!(s.responses, 5);
        assert_eq!(s.nps, Some(0.0));
        assert_eq!(s.mean, Some(6.6));
        assert_eq!(s.csat, None);
        let s = summarize_answers(SurveyKind::Nps, &counts(&[("10", 2), ("7", 1)]));
        assert_eq!(s.nps, Some(66.7));
    }

    #[test]
    fn nps_is_none_for_other_0_to_10_scales() {
        let c = counts(&[("10", 1), ("9", 1), ("8", 1), ("6", 1), ("0", 1)]);
        let s = summarize_answers(SurveyKind::Rating, &c);
        assert_eq!(s.nps, None);
        assert_eq!(s.csat, None);
        assert_eq!(s.mean, Some(6.6));
        assert_eq!(s.distribution, c);
        let s = summarize_answers(SurveyKind::Text, &counts(&[("great", 2)]));
        assert_eq!((s.responses, s.mean, s.nps, s.csat), (2, None, None, None));
    }

    #[test]
    fn csat_of_5_4_3_1_is_50() {
        let s = summarize_answers(SurveyKind::Csat, &counts(&[("5", 1), ("4", 1), ("3", 1), ("1", 1)]));
        assert_eq!(s.csat, Some(50.0));
        assert_eq!(s.nps, None);
        assert_eq!(s.mean, Some(3.25));
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
    fn grid_cells_are_16_px_and_clamped_at_zero() {
        let mut events = vec![
            pageview("p1", at(10, 0), "a"),
            click("c1", at(10, 1), 15.9, 16.0, "b"),
            click("c2", at(10, 2), -3.0, 40.0, "b"),
            click("c3", at(10, 3), 0.0, 47.9, "b"),
        ];
        if let Payload::Click { el, .. } = &mut events[1].payload {
            *el = Some((0.25, 0.5));
        }
        let day = compute_day(&events, DAY, &Rules::default());
        let cells: Vec<(u32, u32, u64)> = day.grid.iter().map(|g| (g.cx, g.cy, g.count)).collect();
        assert_eq!(cells, vec![(0, 1, 1), (0, 2, 2)]);
        let el = &day.elements[0];
        assert_eq!((el.el_n, el.el_x_sum, el.el_y_sum), (1, 0.25, 0.5));
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

    #[test]
    fn survey_numbers_are_written_without_trailing_zeros() {
        assert_eq!(format_number(9.0), "9");
        assert_eq!(format_number(4.5), "4.5");
        assert_eq!(format_number(-0.0), "0");
    }

    #[test]
    fn top_terms_count_words_once_per_answer_without_stop_words_or_pii_tokens() {
        let t = top_terms(
            [
                "Export is broken, export again!",
                "The export button 🙃 is slow",
                "write me at [email] — slow slow",
                "12345 ok",
            ],
            3,
        );
        assert_eq!(
            t,
            vec![
                ("export".to_string(), 2),
                ("slow".to_string(), 2),
                ("again".to_string(), 1)
            ]
        );
    }
}
