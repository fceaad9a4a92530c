//! The rows the rollups produce and the warehouse stores: per session and per (day,
//! device, bot, key), with their dimensions. Computed by the rollups (`src/rollup/`), summed in
//! the query API (`src/http/query/`).

use crate::event::DeviceClass;
use serde::{Deserialize, Serialize};

pub use super::days::DAY_MS;

mod goal;
mod session_detail;
pub use goal::*;
pub use session_detail::*;

/// Start of the UTC day holding `ts` (ms). A site's days are [`super::days::day_start`].
pub fn day_of(ts: i64) -> i64 {
    super::days::day_start(ts, chrono_tz::UTC)
}

/// Dimensions every rollup row carries: day (ms: the local midnight of the site's time zone,
/// [`super::days`]; a UTC midnight for a site in UTC), device class, bot flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Dims {
    pub day: i64,
    pub device: DeviceClass,
    pub bot: bool,
}

impl Dims {
    /// Whether a row of these dims passes a query's device and bot filters: bot-flagged
    /// only when `bots`, and of `device` only when one is given.
    pub fn passes(&self, bots: bool, device: Option<DeviceClass>) -> bool {
        (bots || !self.bot) && device.is_none_or(|d| d == self.device)
    }
}

/// Page views and clicks per page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageRow {
    pub dims: Dims,
    pub page: String,
    /// The page view's layout version (analytics.md, "Layout versions"), "" when its
    /// pageview event sent none: a key, so reports can be split by version; without a
    /// `layout=` filter they sum over versions.
    #[serde(default)]
    pub layout: String,
    pub pageviews: u64,
    pub clicks: u64,
    /// Page views left for the previous page within `quick_back_ms`.
    pub quick_backs: u64,
    /// Sum of viewport heights (px) and of document heights (px) over page views that
    /// reported both, and their count: the fold is the ratio of the medians; we keep sums.
    pub fold_n: u64,
    pub viewport_h_sum: u64,
    pub doc_h_sum: u64,
}

impl PageRow {
    /// A row with `pageviews` page views and nothing else counted yet.
    pub fn with_pageviews(dims: Dims, page: &str, pageviews: u64) -> PageRow {
        PageRow {
            dims,
            page: page.to_string(),
            layout: String::new(),
            pageviews,
            clicks: 0,
            quick_backs: 0,
            fold_n: 0,
            viewport_h_sum: 0,
            doc_h_sum: 0,
        }
    }
}

/// Clicks per grid cell (`grid_cell_px` square, page coordinates).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridRow {
    pub dims: Dims,
    pub page: String,
    /// The page view's layout version (analytics.md, "Layout versions"), "" when its
    /// pageview event sent none: a key, so reports can be split by version; without a
    /// `layout=` filter they sum over versions.
    #[serde(default)]
    pub layout: String,
    /// Column = floor(x / cell).
    pub cx: u32,
    /// Row = floor(y / cell).
    pub cy: u32,
    pub count: u64,
}

/// Clicks per element (selector + zone) on a page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ElementRow {
    pub dims: Dims,
    pub page: String,
    /// The page view's layout version (analytics.md, "Layout versions"), "" when its
    /// pageview event sent none: a key, so reports can be split by version; without a
    /// `layout=` filter they sum over versions.
    #[serde(default)]
    pub layout: String,
    pub selector: String,
    /// Zone name, "" when none.
    pub zone: String,
    pub clicks: u64,
    /// Rage bursts whose clicks landed on this element (one per burst).
    pub rage_clicks: u64,
    /// Clicks with no reaction within `dead_click_ms` (navigating links and modifier clicks excluded).
    pub dead_clicks: u64,
    /// Sums of in-element positions (fractions) over clicks that sent `el`, and their count.
    pub el_n: u64,
    pub el_x_sum: f64,
    pub el_y_sum: f64,
    /// In-element positions of the clicks that sent `el`, in an
    /// [`EL_CELLS`] × [`EL_CELLS`] grid over the element's box (cell = floor(fraction ×
    /// EL_CELLS), 1.0 in the last cell); sparse, sorted by (x, y).
    #[serde(default)]
    pub el_cells: Vec<ElCell>,
    /// The element's representative visible text (analytics.md, "Element text"): the `text`
    /// of the most recent click on it that sent one (largest `text_ts`, then the greatest
    /// text), "" when none did. Not a key: rows are never split by text.
    #[serde(default)]
    pub text: String,
    /// Event time (ms) of the click that gave `text`; 0 when `text` is "".
    #[serde(default)]
    pub text_ts: i64,
}

impl ElementRow {
    /// A row of the element (page, layout version, selector, zone) with nothing counted yet.
    pub fn empty(dims: Dims, (page, layout): (&str, &str), selector: &str, zone: &str) -> ElementRow {
        ElementRow {
            dims,
            page: page.to_string(),
            layout: layout.to_string(),
            selector: selector.to_string(),
            zone: zone.to_string(),
            clicks: 0,
            rage_clicks: 0,
            dead_clicks: 0,
            el_n: 0,
            el_x_sum: 0.0,
            el_y_sum: 0.0,
            el_cells: Vec::new(),
            text: String::new(),
            text_ts: 0,
        }
    }
    /// Take `(ts, text)` as the element's text when it is more recent than the one held
    /// (later `ts`, or the same `ts` and a greater text); empty texts never count.
    pub fn offer_text(&mut self, ts: i64, text: &str) {
        if !text.is_empty() && (ts, text) > (self.text_ts, self.text.as_str()) {
            self.text_ts = ts;
            self.text = text.to_string();
        }
    }
}

/// Cells per side of the in-element position grid of [`ElementRow::el_cells`].
pub const EL_CELLS: u8 = 10;

/// Clicks in one cell of an element's box (`x`, `y` in 0..[`EL_CELLS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ElCell {
    pub x: u8,
    pub y: u8,
    pub count: u64,
}

/// Page views whose deepest scroll reached at least `depth` percent (0, 10, …, 100).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScrollRow {
    pub dims: Dims,
    pub page: String,
    /// The page view's layout version (analytics.md, "Layout versions"), "" when its
    /// pageview event sent none: a key, so reports can be split by version; without a
    /// `layout=` filter they sum over versions.
    #[serde(default)]
    pub layout: String,
    pub depth: u32,
    pub pageviews: u64,
}

/// What a [`JourneyRow`] counts (analytics.md, "Journeys and funnels"). Stored as its
/// [`JourneyKind::code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum JourneyKind {
    /// `from` is a session's first page; `count` sessions, `bounces` of them bounced.
    Entry,
    /// `from` is a session's last page; `count` sessions.
    Exit,
    /// `from` → `to`, consecutive pages of a path; `count` transitions.
    Transition,
    /// `from` is a path's first [`definitions::PATH_PAGES`] pages joined by [`PATH_SEP`];
    /// `count` sessions.
    Path,
}

/// Joins the pages of a [`JourneyKind::Path`] row (a control character: page keys are
/// percent-encoded URLs or names a user wrote).
pub const PATH_SEP: char = '\u{1f}';

impl JourneyKind {
    /// Every kind, in code order.
    pub const ALL: [JourneyKind; 4] = [
        JourneyKind::Entry,
        JourneyKind::Exit,
        JourneyKind::Transition,
        JourneyKind::Path,
    ];
    /// The stored code: 0 entry, 1 exit, 2 transition, 3 path.
    pub fn code(self) -> u8 {
        self as u8
    }
    /// The kind of a stored code.
    pub fn from_code(code: u8) -> Option<JourneyKind> {
        JourneyKind::ALL.get(usize::from(code)).copied()
    }
}

/// Journey counts of the sessions that started on `dims.day`, summed per (kind, from, to):
/// an additive part, so `/journeys` sums stored rows instead of re-reading sessions
/// ([`definitions::journey_rows`] gives one session's rows, [`Journeys::of_rows`] sums them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JourneyRow {
    pub dims: Dims,
    pub kind: JourneyKind,
    /// A page key, or a path's pages joined by [`PATH_SEP`].
    pub from: String,
    /// The next page of a transition; "" for the other kinds.
    pub to: String,
    /// Sessions (transitions for [`JourneyKind::Transition`]).
    pub count: u64,
    /// Entry rows: sessions that bounced (one page view); 0 for the other kinds.
    pub bounces: u64,
}

/// What a [`ProblemRow`] counts (see `/problems`). Stored as its [`ProblemKind::code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ProblemKind {
    /// One per session (page, selector and zone ""): `sessions` = 1, so the sum is the
    /// sessions `/problems` looked at.
    Session,
    /// Signals on a page (selector and zone "").
    Page,
    /// Signals on an element (page, selector, zone or "").
    Element,
}

impl ProblemKind {
    /// Every kind, in code order.
    pub const ALL: [ProblemKind; 3] = [ProblemKind::Session, ProblemKind::Page, ProblemKind::Element];
    /// The stored code: 0 session, 1 page, 2 element.
    pub fn code(self) -> u8 {
        self as u8
    }
    /// The kind of a stored code.
    pub fn from_code(code: u8) -> Option<ProblemKind> {
        ProblemKind::ALL.get(usize::from(code)).copied()
    }
}

/// Frustration signals of the sessions that started on `dims.day`, summed per (kind, page,
/// selector, zone): an additive part, so `/problems` sums stored rows instead of re-reading
/// session details ([`zones::problem_rows`] gives one session's rows, [`zones::problems`]
/// ranks their sums). Only pages and elements with a signal get a row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProblemRow {
    pub dims: Dims,
    pub kind: ProblemKind,
    pub page: String,
    pub selector: String,
    /// Zone name, "" when none.
    pub zone: String,
    pub rage_clicks: u64,
    pub dead_clicks: u64,
    /// Quick backs (page rows only).
    pub quick_backs: u64,
    /// Sessions with at least one signal here (session rows: 1 per session).
    pub sessions: u64,
}

/// One step of a session's timeline, for funnels: a page view or a custom event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub ts: i64,
    /// Page key for a page view, event name for a custom event.
    pub name: String,
    /// True for a custom event.
    pub custom: bool,
}

/// The key of a session in rollup rows: `<snippet session id>#<split>`, where `split` counts
/// the server-side splits of the snippet's session in time order (0: the first part, or a
/// session never split; 1, 2, …: the parts after each 30 min of inactivity, the 4 h cap or,
/// by site setting, midnight; docs/analytics.md, "Sessions").
pub fn session_key(session_id: &str, split: u32) -> String {
    format!("{session_id}#{split}")
}

/// A [`session_key`] taken apart: the snippet's session id and the split index, which the API
/// answers as separate fields (`session`, `split`). A key without a `#<digits>` suffix is a
/// session id, split 0.
pub fn session_key_parts(key: &str) -> (&str, u32) {
    match key.rsplit_once('#') {
        Some((id, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => (id, n.parse().unwrap_or(u32::MAX)),
        _ => (key, 0),
    }
}

/// One session (server rule: 30 min gap, 4 h cap on event time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRow {
    pub dims: Dims,
    /// `<snippet session id>#<n>`, n counting server-side splits from 0.
    pub session_key: String,
    pub visitor_id: String,
    pub start: i64,
    pub end: i64,
    pub pageviews: u32,
    pub steps: Vec<Step>,
    pub clicks: u32,
    pub rage_clicks: u32,
    pub dead_clicks: u32,
    pub quick_backs: u32,
    pub feedback: u32,
    pub survey_responses: u32,
    /// The session's segment (docs/analytics.md, "Segments").
    #[serde(default)]
    pub segment: crate::model::segment::SessionSegment,
}

/// Responses per (survey, question, value), one per (survey, question, session), latest wins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurveyRow {
    pub dims: Dims,
    pub survey_id: String,
    pub question_id: String,
    pub kind: crate::event::SurveyKind,
    /// The answer as text: a number formatted without trailing zeros (`9`, `4.5`), the
    /// string itself ("" for a question of kind text), or for a multi-choice one row per
    /// chosen option.
    pub value: String,
    pub responses: u64,
}

/// Survey reach of the sessions that started on `dims.day` (analytics.md, "Survey reach"):
/// one row per session that was shown a survey, answered it or closed it, summed per
/// (survey, answered, dismissed_at, dismissed). An additive part: impressions, responses,
/// completions, dismissals and the reach of each question are sums of `sessions` over the
/// rows that match, made at query time against the survey's definition
/// (`GET …/voc`, `src/http/query/voc.rs`), so a changed definition needs no recompute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReachRow {
    pub dims: Dims,
    pub survey_id: String,
    /// The questions the session answered, distinct, sorted, joined by [`PATH_SEP`]; "" none.
    pub answered: String,
    /// The questions on screen when the session closed the survey unfinished (the last
    /// question reached), distinct, sorted, joined by [`PATH_SEP`]; "" none.
    pub dismissed_at: String,
    /// The session closed the survey unfinished at least once.
    pub dismissed: bool,
    /// Sessions (1 per session; summed).
    pub sessions: u64,
}

impl ReachRow {
    /// The question ids of a joined list ([`ReachRow::answered`], [`ReachRow::dismissed_at`]).
    pub fn ids(joined: &str) -> impl Iterator<Item = &str> {
        joined.split(PATH_SEP).filter(|q| !q.is_empty())
    }
}

/// One survey answer as it counts: the latest response of its session to its (survey,
/// question), with where and when it was given, so answers can be read, searched and linked
/// to their session (`session_key` as in [`SessionRow`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerRow {
    pub dims: Dims,
    /// Event id of the winning response.
    pub id: String,
    /// Event time, ms.
    pub ts: i64,
    pub survey_id: String,
    pub question_id: String,
    pub kind: crate::event::SurveyKind,
    /// The answer (PII scrubbed at ingest): a number, a text, or a list of options.
    pub value: crate::event::Answer,
    /// Page key of the page the answer was given on.
    pub page: String,
    pub session_key: String,
    /// What opened the survey (`exit_intent`, `time_on_page`, `manual`, …), "" when not sent.
    pub trigger: String,
}

/// One feedback submission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackRow {
    pub dims: Dims,
    pub id: String,
    pub ts: i64,
    pub page: String,
    pub session_key: String,
    pub rating: Option<u8>,
    pub comment: String,
    pub category: String,
    pub selector: String,
}

/// Rollup rows: what [`compute_day`] produces for one day, what
/// [`compute_sessions`] produces for some sessions, or what a warehouse read returns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DayRollup {
    pub pages: Vec<PageRow>,
    pub grid: Vec<GridRow>,
    pub elements: Vec<ElementRow>,
    pub scroll: Vec<ScrollRow>,
    pub sessions: Vec<SessionRow>,
    pub surveys: Vec<SurveyRow>,
    pub answers: Vec<AnswerRow>,
    pub feedback: Vec<FeedbackRow>,
    /// Zone metrics per page view day (see [`zones`]).
    #[serde(default)]
    pub zones: Vec<ZoneRow>,
    /// Per-session detail for the sessions list and `/problems` (see [`zones`]).
    #[serde(default)]
    pub session_details: Vec<SessionDetailRow>,
    /// Journey counts (see [`JourneyRow`]).
    #[serde(default)]
    pub journeys: Vec<JourneyRow>,
    /// Frustration signals for `/problems` (see [`ProblemRow`]).
    #[serde(default)]
    pub problems: Vec<ProblemRow>,
    /// Survey reach for `/voc` (see [`ReachRow`]).
    #[serde(default)]
    pub reach: Vec<ReachRow>,
    /// The site goal's session counts for `/problems` (see [`GoalRow`]).
    #[serde(default)]
    pub goal: Vec<GoalRow>,
}

/// The rollup rows of one snippet session: every server-side session it split into, on
/// every day it spans ([`compute_sessions`]); the unit the warehouse stores and replaces.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionRollup {
    /// The snippet's session id.
    pub session_id: String,
    /// Starts (ms) of the first and last day its events span, days of the site's time zone
    /// ([`crate::model::days`]). Every row it ever had lies in these days (a session's events
    /// only grow, unless erased or expired), unless the site's time zone changed since: then
    /// its old rows lie within a day of them (a store looks two days around).
    pub first_day: i64,
    pub last_day: i64,
    pub rows: DayRollup,
}

impl DayRollup {
    /// Sort the rows as [`compute_day`] emits them (additive parts by dims then key; sessions
    /// by (day, start, key), details by (day, key), answers and feedback by (day, ts, id)):
    /// warehouse reads use it so that both backends answer with rows in one order.
    pub fn sort_rows(&mut self) {
        let r = self;
        r.pages
            .sort_by(|a, b| (a.dims, &a.page, &a.layout).cmp(&(b.dims, &b.page, &b.layout)));
        r.grid
            .sort_by(|a, b| (a.dims, &a.page, &a.layout, a.cx, a.cy).cmp(&(b.dims, &b.page, &b.layout, b.cx, b.cy)));
        r.elements.sort_by(|a, b| {
            (a.dims, &a.page, &a.layout, &a.selector, &a.zone).cmp(&(b.dims, &b.page, &b.layout, &b.selector, &b.zone))
        });
        r.scroll
            .sort_by(|a, b| (a.dims, &a.page, &a.layout, a.depth).cmp(&(b.dims, &b.page, &b.layout, b.depth)));
        r.zones
            .sort_by(|a, b| (a.dims, &a.page, &a.layout, &a.zone).cmp(&(b.dims, &b.page, &b.layout, &b.zone)));
        r.surveys.sort_by(|a, b| {
            (a.dims, &a.survey_id, &a.question_id, a.kind, &a.value).cmp(&(
                b.dims,
                &b.survey_id,
                &b.question_id,
                b.kind,
                &b.value,
            ))
        });
        r.sessions
            .sort_by(|a, b| (a.dims.day, a.start, &a.session_key).cmp(&(b.dims.day, b.start, &b.session_key)));
        r.session_details
            .sort_by(|a, b| (a.dims.day, &a.session_key).cmp(&(b.dims.day, &b.session_key)));
        r.journeys
            .sort_by(|a, b| (a.dims, a.kind, &a.from, &a.to).cmp(&(b.dims, b.kind, &b.from, &b.to)));
        r.problems.sort_by(|a, b| {
            (a.dims, a.kind, &a.page, &a.selector, &a.zone).cmp(&(b.dims, b.kind, &b.page, &b.selector, &b.zone))
        });
        r.reach.sort_by(|a, b| {
            (a.dims, &a.survey_id, &a.answered, &a.dismissed_at, a.dismissed).cmp(&(
                b.dims,
                &b.survey_id,
                &b.answered,
                &b.dismissed_at,
                b.dismissed,
            ))
        });
        r.goal.sort_by(|a, b| (a.dims, a.key()).cmp(&(b.dims, b.key())));
        r.answers
            .sort_by(|a, b| (a.dims.day, a.ts, &a.id).cmp(&(b.dims.day, b.ts, &b.id)));
        r.feedback
            .sort_by(|a, b| (a.dims.day, a.ts, &a.id).cmp(&(b.dims.day, b.ts, &b.id)));
    }
    /// Append every row of `other`.
    pub fn extend(&mut self, other: DayRollup) {
        let DayRollup {
            pages,
            grid,
            elements,
            scroll,
            sessions,
            surveys,
            answers,
            feedback,
            zones,
            session_details,
            journeys,
            problems,
            reach,
            goal,
        } = other;
        self.pages.extend(pages);
        self.grid.extend(grid);
        self.elements.extend(elements);
        self.scroll.extend(scroll);
        self.sessions.extend(sessions);
        self.surveys.extend(surveys);
        self.answers.extend(answers);
        self.feedback.extend(feedback);
        self.zones.extend(zones);
        self.session_details.extend(session_details);
        self.journeys.extend(journeys);
        self.problems.extend(problems);
        self.reach.extend(reach);
        self.goal.extend(goal);
    }
}

/// Counts per (page, zone) over the page views of a day (analytics.md, "Zones"); rates are
/// made at query time with the page's page views ([`PageRow::pageviews`]) as denominator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneRow {
    pub dims: Dims,
    pub page: String,
    /// The page view's layout version (analytics.md, "Layout versions"), "" when its
    /// pageview event sent none: a key, so reports can be split by version; without a
    /// `layout=` filter they sum over versions.
    #[serde(default)]
    pub layout: String,
    pub zone: String,
    /// Page views where the zone's middle line was in the viewport ≥ `zone_exposure_ms`.
    pub exposed: u64,
    /// Page views with at least one click in the zone.
    pub clicked: u64,
    /// Page views where the zone was both exposed and clicked.
    pub exposed_clicked: u64,
    /// Sum of `visible_ms` over all page views, ms.
    pub visible_ms_sum: u64,
    /// Page views with hover time > 0, and the sum of their hover time, ms.
    pub hovered: u64,
    pub hover_ms_sum: u64,
    /// Page views that sent a hesitation, and the sum of those hesitations, ms.
    pub hesitation_n: u64,
    pub hesitation_ms_sum: u64,
    /// Sessions whose first click in the zone (on this page) lies in this page view day, and
    /// of those the ones that reached the site goal after that click (0 without a goal).
    pub click_sessions: u64,
    pub converted_sessions: u64,
}
