//! Zones, frustration and per-session detail: the parts of analytics.md "Heatmaps" and
//! "Zones" that [`super::definitions::compute_day`] delegates here, and the pure query-side
//! definitions built on their rows (zone rates, `/problems` ranking, heatmap compare,
//! sessions-list filters). No I/O; every output is sorted.
//!
//! Where the snippet's measurements come in (api.md, `zone` events): per page view and zone
//! the snippet sends `zone` events whose `visible_ms` and `hover_ms` are the time since its
//! previous report of that zone on that page view (so the server sums them), and once, with
//! the report after the first click in the zone, `hesitation_ms`.
//! - `visible_ms`: time the zone's middle line (the horizontal line through the centre of its
//!   box) was inside the viewport while the page was visible, ms.
//! - `hover_ms`: time the pointer was inside the zone, ms.
//! - `hesitation_ms`: from the last time the pointer entered the zone before the first click
//!   in it, to that click, ms (absent when the pointer never entered it before the click,
//!   e.g. touch or keyboard).

use std::collections::{BTreeMap, BTreeSet};

use super::definitions::{click_facts, is_quick_back, order_key, OrderKey, PageView, Session};
use super::{
    Dims, ElCell, ElementRow, FunnelStep, ReplayMeta, Rules, SessionDetailRow, SessionElement, SessionPage, ZoneRow,
    EL_CELLS,
};
use crate::event::Payload;

/// Count one in-element position (fractions 0..1) into a sparse [`ElCell`] grid, keeping it
/// sorted by (x, y). A fraction of 1.0 falls in the last cell; values outside 0..1 are
/// clamped.
pub fn add_el_cell(cells: &mut Vec<ElCell>, ex: f64, ey: f64) {
    let cell = |f: f64| -> u8 {
        let f = if f.is_finite() { f.clamp(0.0, 1.0) } else { 0.0 };
        ((f * f64::from(EL_CELLS)).floor() as u8).min(EL_CELLS - 1)
    };
    let (x, y) = (cell(ex), cell(ey));
    match cells.binary_search_by(|c| (c.x, c.y).cmp(&(x, y))) {
        Ok(i) => cells[i].count += 1,
        Err(i) => cells.insert(i, ElCell { x, y, count: 1 }),
    }
}

/// What one page view says about one zone.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(super) struct ZoneView {
    pub(super) visible_ms: u64,
    hover_ms: u64,
    /// The first `hesitation_ms` sent (in event order).
    hesitation_ms: Option<u32>,
    clicked: bool,
}

/// Per zone name, what a page view's events say: sums of `visible_ms` and `hover_ms` of its
/// `zone` events, the first `hesitation_ms`, and whether a click landed in the zone.
pub(super) fn zone_views(pv: &PageView, clicked_zones: impl Iterator<Item = String>) -> BTreeMap<String, ZoneView> {
    let mut out: BTreeMap<String, ZoneView> = BTreeMap::new();
    for e in &pv.events {
        if let Payload::Zone {
            zone,
            visible_ms,
            hover_ms,
            hesitation_ms,
        } = &e.payload
        {
            let z = out.entry(zone.clone()).or_default();
            z.visible_ms += u64::from(*visible_ms);
            z.hover_ms += u64::from(*hover_ms);
            if z.hesitation_ms.is_none() {
                z.hesitation_ms = *hesitation_ms;
            }
        }
    }
    for zone in clicked_zones {
        out.entry(zone).or_default().clicked = true;
    }
    out
}

/// The order key of the step that reaches `goal` first after `after`, if any: a page view
/// of the goal page (by its pageview event) or a custom event of that name.
fn reaches_goal(s: &Session, goal: &FunnelStep, after: OrderKey) -> bool {
    s.events.iter().any(|e| {
        order_key(e) > after
            && match (goal, &e.payload) {
                (FunnelStep::Page(key), Payload::Pageview { .. }) => e.page_key == *key,
                (FunnelStep::Event(name), Payload::Custom { name: n, .. }) => n == name,
                _ => false,
            }
    })
}

type ZoneKey = (Dims, String, String, String);

fn zone_row<'m>(
    rows: &'m mut BTreeMap<ZoneKey, ZoneRow>,
    dims: Dims,
    (page, layout): (&str, &str),
    zone: &str,
) -> &'m mut ZoneRow {
    rows.entry((dims, page.to_string(), layout.to_string(), zone.to_string()))
        .or_insert_with(|| ZoneRow {
            dims,
            page: page.to_string(),
            layout: layout.to_string(),
            zone: zone.to_string(),
            exposed: 0,
            clicked: 0,
            exposed_clicked: 0,
            visible_ms_sum: 0,
            hovered: 0,
            hover_ms_sum: 0,
            hesitation_n: 0,
            hesitation_ms_sum: 0,
            click_sessions: 0,
            converted_sessions: 0,
        })
}

/// Zone rows of one day (analytics.md, "Zones"), over page views with a pageview event whose
/// `ts` lies in the day starting at `day_start` (a day of the site's time zone,
/// [`crate::model::days`]), per (dims of the page view, page, layout version, zone):
/// - `exposed`: page views whose summed `visible_ms` ≥ `rules.zone_exposure_ms`;
/// - `clicked`: page views with a click whose `zone` is the zone; `exposed_clicked`: both;
/// - `visible_ms_sum`; `hovered` / `hover_ms_sum`: page views with summed `hover_ms` > 0 and
///   that sum; `hesitation_n` / `hesitation_ms_sum`: page views that sent a `hesitation_ms`
///   (the first one sent counts) and those values;
/// - per session and (page, zone), its first click in the zone is counted in
///   `click_sessions` on that click's page view; with `rules.goal` set, also in
///   `converted_sessions` when a later event of the session (order `(ts, seq, id)`) reaches
///   the goal — a pageview of the goal page key or a custom event `event:<name>`.
///
/// A zone appears for a page view when the page view sent a zone event for it or clicked it.
pub fn zone_rows(sessions: &[Session], day_start: i64, rules: &Rules) -> Vec<ZoneRow> {
    let day_end = crate::model::days::next_day(day_start, rules.time_zone);
    let in_day = |ts: i64| ts >= day_start && ts < day_end;
    let goal = rules
        .goal
        .as_deref()
        .map(str::trim)
        .and_then(|g| super::impact::Goal::parse(g).ok())
        .map(|g| g.last_step().clone());
    let mut rows: BTreeMap<ZoneKey, ZoneRow> = BTreeMap::new();
    for s in sessions {
        // (page, zone) clicked earlier in this session: only the first click counts for conversion.
        let mut first_clicked: BTreeSet<(String, String)> = BTreeSet::new();
        for pv in &s.pageviews {
            let facts = click_facts(pv, rules);
            let counted = pv.pageview.is_some() && in_day(pv.ts);
            let dims = Dims {
                day: day_start,
                device: pv.device,
                bot: s.bot,
            };
            if counted {
                let clicked = facts.iter().filter(|c| !c.zone.is_empty()).map(|c| c.zone.to_string());
                for (zone, v) in zone_views(pv, clicked) {
                    let r = zone_row(&mut rows, dims, (&pv.page_key, pv.layout()), &zone);
                    let exposed = v.visible_ms >= u64::from(rules.zone_exposure_ms);
                    r.exposed += u64::from(exposed);
                    r.clicked += u64::from(v.clicked);
                    r.exposed_clicked += u64::from(exposed && v.clicked);
                    r.visible_ms_sum += v.visible_ms;
                    if v.hover_ms > 0 {
                        r.hovered += 1;
                        r.hover_ms_sum += v.hover_ms;
                    }
                    if let Some(h) = v.hesitation_ms {
                        r.hesitation_n += 1;
                        r.hesitation_ms_sum += u64::from(h);
                    }
                }
            }
            for c in facts.iter().filter(|c| !c.zone.is_empty()) {
                if !first_clicked.insert((pv.page_key.clone(), c.zone.to_string())) || !counted {
                    continue;
                }
                let converted = goal.as_ref().is_some_and(|g| reaches_goal(s, g, order_key(c.event)));
                let r = zone_row(&mut rows, dims, (&pv.page_key, pv.layout()), c.zone);
                r.click_sessions += 1;
                r.converted_sessions += u64::from(converted);
            }
        }
    }
    rows.into_values().collect()
}

/// Session detail rows of one day: sessions whose `start` lies in the day (like
/// [`SessionRow`]). Pages and elements use the same click facts (rage, dead) and quick backs
/// as the heatmap rows; `pageviews` counts page views with a pageview event; replays keep
/// the latest `replay` event per `recording_id` (event order), sorted by `(started_at, id)`.
pub fn session_detail_rows(sessions: &[Session], day_start: i64, rules: &Rules) -> Vec<SessionDetailRow> {
    let mut out = Vec::new();
    let day_end = crate::model::days::next_day(day_start, rules.time_zone);
    for s in sessions {
        if !(s.start >= day_start && s.start < day_end) {
            continue;
        }
        let mut pages: Vec<SessionPage> = Vec::new();
        let mut elements: BTreeMap<(&str, std::borrow::Cow<str>, &str), SessionElement> = BTreeMap::new();
        for (i, pv) in s.pageviews.iter().enumerate() {
            let facts = click_facts(pv, rules);
            let at = match pages.iter().position(|p| p.page == pv.page_key) {
                Some(at) => at,
                None => {
                    pages.push(SessionPage {
                        page: pv.page_key.clone(),
                        pageviews: 0,
                        clicks: 0,
                        rage_clicks: 0,
                        dead_clicks: 0,
                        quick_backs: 0,
                    });
                    pages.len() - 1
                }
            };
            let p = &mut pages[at];
            p.pageviews += u32::from(pv.pageview.is_some());
            p.quick_backs += u32::from(pv.pageview.is_some() && is_quick_back(&s.pageviews, i, rules));
            for c in &facts {
                p.clicks += 1;
                p.rage_clicks += u32::from(c.rage);
                p.dead_clicks += u32::from(c.dead);
                let el = elements
                    .entry((pv.page_key.as_str(), c.selector.clone(), c.zone))
                    .or_insert_with(|| SessionElement {
                        page: pv.page_key.clone(),
                        selector: c.selector.to_string(),
                        zone: c.zone.to_string(),
                        clicks: 0,
                        rage_clicks: 0,
                        dead_clicks: 0,
                    });
                el.clicks += 1;
                el.rage_clicks += u32::from(c.rage);
                el.dead_clicks += u32::from(c.dead);
            }
        }
        let mut replays: BTreeMap<&str, ReplayMeta> = BTreeMap::new();
        let mut negative_feedback = 0;
        for e in &s.events {
            match &e.payload {
                Payload::Replay {
                    recording_id,
                    started_at,
                    ended_at,
                    pages,
                    events,
                    bytes,
                    clicks,
                    errors,
                } => {
                    replays.insert(
                        recording_id,
                        ReplayMeta {
                            recording_id: recording_id.clone(),
                            started_at: *started_at,
                            ended_at: *ended_at,
                            pages: *pages,
                            events: *events,
                            bytes: *bytes,
                            clicks: *clicks,
                            errors: *errors,
                        },
                    );
                }
                Payload::Feedback { rating, .. } => negative_feedback += u32::from(rating.is_some_and(|r| r <= 2)),
                _ => {}
            }
        }
        let mut replays: Vec<ReplayMeta> = replays.into_values().collect();
        replays.sort_by(|a, b| (a.started_at, &a.recording_id).cmp(&(b.started_at, &b.recording_id)));
        out.push(SessionDetailRow {
            dims: Dims {
                day: day_start,
                device: s.device,
                bot: s.bot,
            },
            session_key: s.key.clone(),
            pages,
            elements: elements.into_values().collect(),
            replays,
            negative_feedback,
        });
    }
    out.sort_by(|a, b| a.session_key.cmp(&b.session_key));
    out
}

/// Zone rows summed over days and devices.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ZoneTotals {
    pub exposed: u64,
    pub clicked: u64,
    pub exposed_clicked: u64,
    pub visible_ms_sum: u64,
    pub hovered: u64,
    pub hover_ms_sum: u64,
    pub hesitation_n: u64,
    pub hesitation_ms_sum: u64,
    pub click_sessions: u64,
    pub converted_sessions: u64,
}

impl ZoneTotals {
    /// Add one row.
    pub fn add(&mut self, r: &ZoneRow) {
        self.exposed += r.exposed;
        self.clicked += r.clicked;
        self.exposed_clicked += r.exposed_clicked;
        self.visible_ms_sum += r.visible_ms_sum;
        self.hovered += r.hovered;
        self.hover_ms_sum += r.hover_ms_sum;
        self.hesitation_n += r.hesitation_n;
        self.hesitation_ms_sum += r.hesitation_ms_sum;
        self.click_sessions += r.click_sessions;
        self.converted_sessions += r.converted_sessions;
    }
}

/// The zone metrics of analytics.md "Zones"; rates are fractions 0..1, times ms; `None` where
/// the denominator is 0 (or no goal is set, for conversion).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ZoneMetrics {
    /// Exposed page views ÷ page views of the page.
    pub exposure_rate: Option<f64>,
    /// Page views with ≥ 1 click in the zone ÷ page views of the page.
    pub click_rate: Option<f64>,
    /// Exposed and clicked page views ÷ exposed page views.
    pub attractiveness: Option<f64>,
    /// Mean hover time per page view that hovered the zone, ms.
    pub hover_ms: Option<f64>,
    /// Mean hesitation over page views that sent one, ms.
    pub hesitation_ms: Option<f64>,
    /// Sessions that clicked the zone and then reached the goal ÷ sessions that clicked it.
    pub conversion_rate: Option<f64>,
}

fn ratio(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// Zone metrics from totals and the page's page views; `goal_set` says whether the site
/// names a goal (else `conversion_rate` is `None`).
pub fn zone_metrics(t: &ZoneTotals, pageviews: u64, goal_set: bool) -> ZoneMetrics {
    ZoneMetrics {
        exposure_rate: ratio(t.exposed, pageviews),
        click_rate: ratio(t.clicked, pageviews),
        attractiveness: ratio(t.exposed_clicked, t.exposed),
        hover_ms: ratio(t.hover_ms_sum, t.hovered),
        hesitation_ms: ratio(t.hesitation_ms_sum, t.hesitation_n),
        conversion_rate: if goal_set {
            ratio(t.converted_sessions, t.click_sessions)
        } else {
            None
        },
    }
}

pub use super::problems::{problem_rows, problems, sum_problem_rows, Problem};

/// One element in a heatmap compare.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ElementShift {
    pub selector: String,
    pub zone: String,
    /// Clicks in the first and the second range.
    pub clicks: u64,
    pub clicks2: u64,
    /// Clicks per page view of the page in each range, to 4 decimals (`None` without page
    /// views).
    pub rate: Option<f64>,
    pub rate2: Option<f64>,
    /// `rate2 − rate` (a missing rate counts as 0; `None` when both are missing), clicks
    /// per page view, to 4 decimals (of the unrounded rates).
    pub shift: Option<f64>,
}

/// `x` to 4 decimals (`-0.0` as `0.0`): rates and shifts read 0.45, not 0.44999999999999996.
fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0 + 0.0
}

/// Heatmap compare: per element (selector, zone) clicks in two date ranges, as clicks per
/// page view of the page so ranges with different traffic compare fairly, and the shift
/// `rate2 − rate`. Sorted by |shift| (largest first), then selector and zone.
pub fn compare_elements(
    first: &BTreeMap<(String, String), u64>,
    pageviews: u64,
    second: &BTreeMap<(String, String), u64>,
    pageviews2: u64,
) -> Vec<ElementShift> {
    let keys: BTreeSet<&(String, String)> = first.keys().chain(second.keys()).collect();
    let mut out: Vec<ElementShift> = keys
        .into_iter()
        .map(|k| {
            let (c1, c2) = (first.get(k).copied().unwrap_or(0), second.get(k).copied().unwrap_or(0));
            let (r1, r2) = (ratio(c1, pageviews), ratio(c2, pageviews2));
            ElementShift {
                selector: k.0.clone(),
                zone: k.1.clone(),
                clicks: c1,
                clicks2: c2,
                rate: r1.map(round4),
                rate2: r2.map(round4),
                shift: (r1.is_some() || r2.is_some()).then(|| round4(r2.unwrap_or(0.0) - r1.unwrap_or(0.0))),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        let (x, y) = (a.shift.map_or(0.0, f64::abs), b.shift.map_or(0.0, f64::abs));
        y.total_cmp(&x)
            .then_with(|| (&a.selector, &a.zone).cmp(&(&b.selector, &b.zone)))
    });
    out
}

/// Sum element rows into clicks per (selector, zone).
pub fn element_clicks<'a>(rows: impl Iterator<Item = &'a ElementRow>) -> BTreeMap<(String, String), u64> {
    let mut m = BTreeMap::new();
    for r in rows {
        *m.entry((r.selector.clone(), r.zone.clone())).or_default() += r.clicks;
    }
    m
}

pub use crate::model::session_filter::{session_matches, Has, SessionFilter};

#[cfg(test)]
mod tests;
