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
    Dims, ElCell, ElementRow, FunnelStep, ProblemKind, ProblemRow, ReplayMeta, Rules, SessionDetailRow, SessionElement,
    SessionPage, ZoneRow, DAY_MS, EL_CELLS,
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

type ZoneKey = (Dims, String, String);

fn zone_row<'m>(rows: &'m mut BTreeMap<ZoneKey, ZoneRow>, dims: Dims, page: &str, zone: &str) -> &'m mut ZoneRow {
    rows.entry((dims, page.to_string(), zone.to_string()))
        .or_insert_with(|| ZoneRow {
            dims,
            page: page.to_string(),
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
/// `ts` lies in `[day_start, day_start + DAY_MS)`, per (dims of the page view, page, zone):
/// - `exposed`: page views whose summed `visible_ms` ≥ `rules.zone_exposure_ms`;
/// - `clicked`: page views with a click whose `zone` is the zone; `exposed_clicked`: both;
/// - `visible_ms_sum`; `hovered` / `hover_ms_sum`: page views with summed `hover_ms` > 0 and
///   that sum; `hesitation_n` / `hesitation_ms_sum`: page views that sent a `hesitation_ms`
///   (the first one sent counts) and those values;
/// - with `rules.goal` set: per session and (page, zone), its first click in the zone is
///   counted in `click_sessions` on that click's page view, and in `converted_sessions` when
///   a later event of the session (order `(ts, seq, id)`) reaches the goal — a pageview of
///   the goal page key or a custom event `event:<name>`.
///
/// A zone appears for a page view when the page view sent a zone event for it or clicked it.
pub fn zone_rows(sessions: &[Session], day_start: i64, rules: &Rules) -> Vec<ZoneRow> {
    let in_day = |ts: i64| ts >= day_start && ts < day_start + DAY_MS;
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
                    let r = zone_row(&mut rows, dims, &pv.page_key, &zone);
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
            let Some(goal) = &goal else { continue };
            for c in facts.iter().filter(|c| !c.zone.is_empty()) {
                if !first_clicked.insert((pv.page_key.clone(), c.zone.to_string())) || !counted {
                    continue;
                }
                let converted = reaches_goal(s, goal, order_key(c.event));
                let r = zone_row(&mut rows, dims, &pv.page_key, c.zone);
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
    for s in sessions {
        if !(s.start >= day_start && s.start < day_start + DAY_MS) {
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

/// One ranked page or element of `/problems`.
///
/// Extension point: further signals (drop-off, negative feedback) go in as fields here, are
/// filled in [`problems`] and added to [`Problem::score`].
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Problem {
    pub page: String,
    /// `None` for a page entry.
    pub selector: Option<String>,
    /// Zone of an element entry ("" when none).
    pub zone: Option<String>,
    pub rage_clicks: u64,
    pub dead_clicks: u64,
    /// Quick backs (page entries only; 0 for elements).
    pub quick_backs: u64,
    /// Sessions with at least one of the counted signals on this page / element.
    pub sessions: u64,
}

impl Problem {
    /// The ranking score: the sum of the counted signals.
    pub fn score(&self) -> u64 {
        self.rage_clicks + self.dead_clicks + self.quick_backs
    }
}

/// The problem rows of one session's details (see [`ProblemRow`]): one
/// [`ProblemKind::Session`] row, and a row per page and per element with at least one
/// signal (rage or dead clicks, and quick backs for pages), with `sessions` = 1. The one
/// definition of `/problems`' counts: stores sum these rows per day, [`problems`] ranks
/// the sums.
pub fn problem_rows(d: &SessionDetailRow) -> Vec<ProblemRow> {
    let row = |kind, page: &str, selector: &str, zone: &str, rage: u32, dead: u32, quick_backs: u32| ProblemRow {
        dims: d.dims,
        kind,
        page: page.to_string(),
        selector: selector.to_string(),
        zone: zone.to_string(),
        rage_clicks: u64::from(rage),
        dead_clicks: u64::from(dead),
        quick_backs: u64::from(quick_backs),
        sessions: 1,
    };
    let mut out = vec![row(ProblemKind::Session, "", "", "", 0, 0, 0)];
    for p in d
        .pages
        .iter()
        .filter(|p| p.rage_clicks + p.dead_clicks + p.quick_backs > 0)
    {
        out.push(row(
            ProblemKind::Page,
            &p.page,
            "",
            "",
            p.rage_clicks,
            p.dead_clicks,
            p.quick_backs,
        ));
    }
    for e in d.elements.iter().filter(|e| e.rage_clicks + e.dead_clicks > 0) {
        out.push(row(
            ProblemKind::Element,
            &e.page,
            &e.selector,
            &e.zone,
            e.rage_clicks,
            e.dead_clicks,
            0,
        ));
    }
    out
}

/// Sum problem rows per (dims, kind, page, selector, zone), sorted by that key.
pub fn sum_problem_rows(rows: impl IntoIterator<Item = ProblemRow>) -> Vec<ProblemRow> {
    let mut sums: BTreeMap<(Dims, ProblemKind, String, String, String), ProblemRow> = BTreeMap::new();
    for r in rows {
        match sums.entry((r.dims, r.kind, r.page.clone(), r.selector.clone(), r.zone.clone())) {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(r);
            }
            std::collections::btree_map::Entry::Occupied(mut o) => {
                let s = o.get_mut();
                s.rage_clicks += r.rage_clicks;
                s.dead_clicks += r.dead_clicks;
                s.quick_backs += r.quick_backs;
                s.sessions += r.sessions;
            }
        }
    }
    sums.into_values().collect()
}

/// `/problems` over problem rows ([`problem_rows`], any mix of sessions and days): the
/// sessions looked at, pages ranked by rage + dead clicks + quick backs, and elements by
/// rage + dead clicks; ties by sessions affected, then by name. Entries with a score of 0
/// are left out.
pub fn problems<'a>(rows: impl IntoIterator<Item = &'a ProblemRow>) -> (u64, Vec<Problem>, Vec<Problem>) {
    let mut sessions = 0;
    let mut pages: BTreeMap<&str, Problem> = BTreeMap::new();
    let mut elements: BTreeMap<(&str, &str, &str), Problem> = BTreeMap::new();
    for r in rows {
        let e = match r.kind {
            ProblemKind::Session => {
                sessions += r.sessions;
                continue;
            }
            ProblemKind::Page => pages.entry(&r.page).or_insert_with(|| Problem {
                page: r.page.clone(),
                ..Problem::default()
            }),
            ProblemKind::Element => elements
                .entry((&r.page, &r.selector, &r.zone))
                .or_insert_with(|| Problem {
                    page: r.page.clone(),
                    selector: Some(r.selector.clone()),
                    zone: Some(r.zone.clone()),
                    ..Problem::default()
                }),
        };
        e.rage_clicks += r.rage_clicks;
        e.dead_clicks += r.dead_clicks;
        e.quick_backs += r.quick_backs;
        e.sessions += r.sessions;
    }
    let rank = |v: Vec<Problem>| {
        let mut v: Vec<Problem> = v.into_iter().filter(|p| p.score() > 0).collect();
        v.sort_by(|a, b| {
            b.score()
                .cmp(&a.score())
                .then(b.sessions.cmp(&a.sessions))
                .then_with(|| (&a.page, &a.selector).cmp(&(&b.page, &b.selector)))
        });
        v
    };
    (
        sessions,
        rank(pages.into_values().collect()),
        rank(elements.into_values().collect()),
    )
}

/// One element in a heatmap compare.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ElementShift {
    pub selector: String,
    pub zone: String,
    /// Clicks in the first and the second range.
    pub clicks: u64,
    pub clicks2: u64,
    /// Clicks per page view of the page in each range (`None` without page views).
    pub rate: Option<f64>,
    pub rate2: Option<f64>,
    /// `rate2 − rate` (a missing rate counts as 0; `None` when both are missing), clicks
    /// per page view.
    pub shift: Option<f64>,
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
                rate: r1,
                rate2: r2,
                shift: (r1.is_some() || r2.is_some()).then(|| r2.unwrap_or(0.0) - r1.unwrap_or(0.0)),
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
mod tests {
    use super::*;
    use crate::event::{DeviceClass, Event, Viewport};
    use crate::rollup::{compute_day, sessionize, SessionRow};

    /// 2025-06-01 00:00 UTC.
    const DAY: i64 = 20_240 * DAY_MS;
    const T: i64 = DAY + 10 * 3_600_000;

    fn ev(id: &str, session: &str, pv: &str, ts: i64, page: &str, payload: Payload) -> Event {
        Event {
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

        // A higher exposure threshold recomputes exposure from the same raw events; no goal,
        // no conversion counts.
        let strict = Rules {
            zone_exposure_ms: 2_000,
            ..Rules::default()
        };
        let r = &compute_day(&events, DAY, &strict).zones[0];
        assert_eq!(counts(r), [1, 2, 0, 2_299, 2, 1_200, 1, 640, 0, 0]);
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
}
