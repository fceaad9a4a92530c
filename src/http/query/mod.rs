//! The query API (docs/api.md, "Query"): heatmap, journeys, funnel and [`voc`] over rollup rows.
//!
//! Rollups are stored per day of the site's time zone ([`crate::model::days`]), so
//! `from`/`to` select whole days: `from` is rounded down to its day and `to` (exclusive) up to
//! the next day boundary; `to` equal to `from` selects that one day ([`day_range`]). Rows are filtered by device class and, unless
//! `bots=include`, bot sessions are left out (docs/analytics.md, "Bot flag").

pub mod voc;

use crate::http::{require_read, ApiError, AppState};
use crate::rollup::{funnel, FunnelStep};
use crate::warehouse::Part;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use std::collections::BTreeMap;

pub mod heatmap;
mod params;
pub mod segments;
pub mod timeline;
pub use heatmap::{heatmap_compare, problems, sessions, zones, zones_data};
pub use params::*;

/// Run a report's compute on a blocking-pool thread, off the HTTP workers, so that a heavy
/// report (a funnel over every session of a range) never stalls requests on the same
/// worker (ingest included).
pub(crate) async fn off_http<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    Ok(tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| anyhow::anyhow!("report computation failed: {e}"))?)
}

/// In an element object of an answer, a `zone` of `""` (stored for "no zone") becomes
/// `null`.
pub(crate) fn null_empty_zone(v: &mut serde_json::Value) {
    if v.get("zone").and_then(|z| z.as_str()) == Some("") {
        v["zone"] = serde_json::Value::Null;
    }
}

#[derive(Serialize)]
struct Cell {
    x: u32,
    y: u32,
    count: u64,
}

#[derive(Serialize)]
struct ElementOut {
    selector: String,
    /// The element's visible text, its most recent click's (`null` when no click sent one;
    /// analytics.md, "Element text").
    text: Option<String>,
    /// The element's zone; `null` without one.
    zone: Option<String>,
    clicks: u64,
    rage_clicks: u64,
    dead_clicks: u64,
    /// Mean in-element position of clicks that sent one (fractions 0..1).
    el: Option<ElPos>,
    /// In-element positions: clicks per cell of a 10 × 10 grid over the element's box
    /// (`x`, `y` = floor(fraction × 10), 0..9).
    el_cells: Vec<crate::rollup::ElCell>,
}

#[derive(Serialize)]
struct ElPos {
    x: f64,
    y: f64,
}

#[derive(Serialize)]
struct ScrollOut {
    depth: u32,
    pageviews: u64,
}

/// `GET /v1/sites/{key}/heatmap?url=…`.
#[utoipa::path(get, path = "/v1/sites/{key}/heatmap", tag = "query", security(("bearer" = [])), params(("key" = String, Path, description = "write key"), Filters, PageParam), responses((status = 200, description = "page, pageviews, clicks, grid, elements (selector, text: the element's visible text or null, zone, clicks, rage_clicks, dead_clicks), scroll, fold")))]
pub async fn heatmap(
    req: HttpRequest,
    key: web::Path<String>,
    f: web::Query<Filters>,
    p: web::Query<PageParam>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_read(&req, &state, &key)?;
    Ok(HttpResponse::Ok().json(heatmap_data(&state, &key, &f, &p).await?))
}

/// The body of `GET /v1/sites/{key}/heatmap` (no token check: callers check access; the
/// dashboard's signed overlay grant uses it too).
pub async fn heatmap_data(
    state: &AppState,
    key: &str,
    f: &Filters,
    p: &PageParam,
) -> Result<serde_json::Value, ApiError> {
    let sc = scope(key, f, state)?;
    let page = sc.page(p)?;
    let layout = sc.layout(p)?;
    let mut r = state
        .warehouse
        .read_rollup(&sc.query(
            vec![Part::Pages, Part::Grid, Part::Elements, Part::ElCells, Part::Scroll],
            Some(page.clone()),
        ))
        .await?;
    // One layout version, or all of them summed (the rows are per version).
    r.pages.retain(|x| in_layout(&layout, &x.layout));
    r.grid.retain(|x| in_layout(&layout, &x.layout));
    r.elements.retain(|x| in_layout(&layout, &x.layout));
    r.scroll.retain(|x| in_layout(&layout, &x.layout));
    let (mut pageviews, mut clicks, mut quick_backs, mut vh, mut dh) = (0, 0, 0, 0, 0);
    for p in r.pages.iter().filter(|p| sc.keeps(&p.dims)) {
        pageviews += p.pageviews;
        clicks += p.clicks;
        quick_backs += p.quick_backs;
        vh += p.viewport_h_sum;
        dh += p.doc_h_sum;
    }
    let mut grid: BTreeMap<(u32, u32), u64> = BTreeMap::new();
    // Grids are kept per device class (page coordinates differ between layouts).
    let mut grids: BTreeMap<&str, BTreeMap<(u32, u32), u64>> = BTreeMap::new();
    for g in r.grid.iter().filter(|g| sc.keeps(&g.dims)) {
        *grid.entry((g.cx, g.cy)).or_default() += g.count;
        *grids
            .entry(g.dims.device.as_str())
            .or_default()
            .entry((g.cx, g.cy))
            .or_default() += g.count;
    }
    type ElSums = (u64, u64, u64, u64, f64, f64, Vec<crate::rollup::ElCell>);
    let mut elements: BTreeMap<(String, String), ElSums> = BTreeMap::new();
    for e in r.elements.iter().filter(|e| sc.keeps(&e.dims)) {
        let s = elements.entry((e.selector.clone(), e.zone.clone())).or_default();
        s.0 += e.clicks;
        s.1 += e.rage_clicks;
        s.2 += e.dead_clicks;
        s.3 += e.el_n;
        s.4 += e.el_x_sum;
        s.5 += e.el_y_sum;
        for c in &e.el_cells {
            match s.6.binary_search_by(|x| (x.x, x.y).cmp(&(c.x, c.y))) {
                Ok(i) => s.6[i].count += c.count,
                Err(i) => s.6.insert(i, *c),
            }
        }
    }
    let texts = crate::rollup::element_text::ElementTexts::of_rows(r.elements.iter().filter(|e| sc.keeps(&e.dims)));
    let mut elements: Vec<ElementOut> = elements
        .into_iter()
        .map(|((selector, zone), (c, rage, dead, n, xs, ys, el_cells))| ElementOut {
            text: texts.get(&page, &selector, &zone).map(str::to_string),
            selector,
            zone: (!zone.is_empty()).then_some(zone),
            clicks: c,
            rage_clicks: rage,
            dead_clicks: dead,
            el: (n > 0).then(|| ElPos {
                x: xs / n as f64,
                y: ys / n as f64,
            }),
            el_cells,
        })
        .collect();
    elements.sort_by(|a, b| b.clicks.cmp(&a.clicks).then(a.selector.cmp(&b.selector)));
    let mut scroll: BTreeMap<u32, u64> = (0..=10).map(|d| (d * 10, 0)).collect();
    for s in r.scroll.iter().filter(|s| sc.keeps(&s.dims)) {
        *scroll.entry(s.depth).or_default() += s.pageviews;
    }
    // Clicks another tracker reported without a position (posthog-js autocapture) are on
    // their elements but not in the grid; a page seen with no click at all (a Segment-only
    // site) has no click data. Both are said, not filled in (docs/compat.md). `scroll` is
    // built above.
    let unplaced_clicks = clicks.saturating_sub(grid.values().sum::<u64>());
    let mut missing = Vec::new();
    if unplaced_clicks > 0 {
        missing.push("click_position");
    }
    if pageviews > 0 && clicks == 0 {
        missing.push("clicks");
    }
    // A page view without scroll events counts at depth 0 (docs/analytics.md), so a tracker
    // that never measures scrolling (Segment's analytics.js) would read as "nobody scrolled".
    // Scroll data is missing when no page view reported a document height (the snippet
    // sends one with every scroll event) nor reached 10 % (posthog-js's $pageleave depth).
    if pageviews > 0 && dh == 0 && scroll.range(10..).all(|(_, n)| *n == 0) {
        missing.push("scroll");
    }
    Ok(serde_json::json!({
        "page": page,
        "layout": layout_out(&layout),
        "pageviews": pageviews,
        "clicks": clicks,
        "unplaced_clicks": unplaced_clicks,
        "missing": missing,
        "quick_backs": quick_backs,
        "grid_cell_px": sc.site.settings.rules.grid_cell_px,
        "grid": grid.into_iter().map(|((x, y), count)| Cell { x, y, count }).collect::<Vec<_>>(),
        "grids": grids.into_iter().map(|(device, g)| (device, g.into_iter().map(|((x, y), count)| Cell { x, y, count }).collect::<Vec<_>>())).collect::<BTreeMap<_, _>>(),
        "elements": elements,
        "scroll": scroll.into_iter().map(|(depth, pageviews)| ScrollOut { depth, pageviews }).collect::<Vec<_>>(),
        "fold": if dh > 0 { Some(vh as f64 / dh as f64) } else { None },
    }))
}

/// A layout filter as answered: `null` (every version), `"none"` or the version.
pub(crate) fn layout_out(l: &LayoutFilter) -> serde_json::Value {
    match l.as_deref() {
        None => serde_json::Value::Null,
        Some("") => "none".into(),
        Some(v) => v.into(),
    }
}

/// `GET /v1/sites/{key}/layouts?url=…`: the page's layout versions (analytics.md, "Layout
/// versions"), each with the first and last day (the site's dates, `rules.time_zone`) it
/// had page views or clicks in the range, and its page views and clicks; oldest first (then by version). Page views whose
/// pageview event sent no version are listed with `layout: null`.
#[utoipa::path(get, path = "/v1/sites/{key}/layouts", tag = "query", security(("bearer" = [])), params(("key" = String, Path, description = "write key"), Filters, UrlParam), responses((status = 200, description = "page, layouts: [{layout (8 hex digits, or null for page views without a version), first_seen, last_seen (YYYY-MM-DD, the site's dates), pageviews, clicks}], oldest first"), (status = 400, description = "url missing")))]
pub async fn layouts(
    req: HttpRequest,
    key: web::Path<String>,
    f: web::Query<Filters>,
    p: web::Query<UrlParam>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_read(&req, &state, &key)?;
    let sc = scope(&key, &f, &state)?;
    let page = sc.page(&PageParam {
        url: p.url.clone(),
        layout: None,
    })?;
    let r = state
        .warehouse
        .read_rollup(&sc.query(vec![Part::Pages], Some(page.clone())))
        .await?;
    // layout → (first day, last day, page views, clicks)
    let mut by: BTreeMap<&str, (i64, i64, u64, u64)> = BTreeMap::new();
    for x in r.pages.iter().filter(|x| sc.keeps(&x.dims)) {
        let e = by.entry(&x.layout).or_insert((i64::MAX, i64::MIN, 0, 0));
        e.0 = e.0.min(x.dims.day);
        e.1 = e.1.max(x.dims.day);
        e.2 += x.pageviews;
        e.3 += x.clicks;
    }
    let mut out: Vec<_> = by.into_iter().collect();
    out.sort_by(|a, b| (a.1 .0, a.0).cmp(&(b.1 .0, b.0)));
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "page": page,
        "layouts": out
            .into_iter()
            .map(|(layout, (first, last, pageviews, clicks))| serde_json::json!({
                "layout": (!layout.is_empty()).then_some(layout),
                "first_seen": sc.day_name(first), "last_seen": sc.day_name(last),
                "pageviews": pageviews, "clicks": clicks,
            }))
            .collect::<Vec<_>>(),
    })))
}

/// `GET /v1/sites/{key}/pages`: every page with page views or clicks in the range (and
/// device class, bots excluded unless asked), `{"pages": [{page, pageviews, clicks,
/// quick_backs}]}`, busiest first (page views descending, then clicks, then page). Summed
/// from the stored page rows, as the heatmap's totals are.
#[utoipa::path(get, path = "/v1/sites/{key}/pages", tag = "query", security(("bearer" = [])), params(("key" = String, Path, description = "write key"), Filters), responses((status = 200, description = "pages: [{page, pageviews, clicks, quick_backs}], page views descending")))]
pub async fn pages(
    req: HttpRequest,
    key: web::Path<String>,
    f: web::Query<Filters>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_read(&req, &state, &key)?;
    let sc = scope(&key, &f, &state)?;
    let r = state.warehouse.read_rollup(&sc.query(vec![Part::Pages], None)).await?;
    let mut sums: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
    for p in r.pages.iter().filter(|p| sc.keeps(&p.dims)) {
        let e = sums.entry(&p.page).or_default();
        e.0 += p.pageviews;
        e.1 += p.clicks;
        e.2 += p.quick_backs;
    }
    let mut out: Vec<(&str, (u64, u64, u64))> = sums.into_iter().collect();
    out.sort_by(|a, b| (b.1 .0, b.1 .1).cmp(&(a.1 .0, a.1 .1)).then(a.0.cmp(b.0)));
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "pages": out
            .into_iter()
            .map(|(page, (pageviews, clicks, quick_backs))| serde_json::json!({
                "page": page, "pageviews": pageviews, "clicks": clicks, "quick_backs": quick_backs,
            }))
            .collect::<Vec<_>>(),
    })))
}

/// `GET /v1/sites/{key}/journeys[?entry=<page>]` (analytics.md, "Journeys and funnels"):
/// over the sessions that started in the date range (and device class, bots excluded unless
/// asked), `{"sessions", "bounces", "transitions": [{from, to, count}], "entries": [{page,
/// sessions, bounces}], "exits": [{page, sessions}], "paths": [{pages (first 5), sessions}]}`,
/// each list by count descending then by page; transitions and paths cut at `limit`
/// (default 10000), with `transitions_total` and `paths_total`. With `entry`, only sessions whose first page
/// is that page (a URL is keyed with the site's rules, a page key taken literally).
#[utoipa::path(get, path = "/v1/sites/{key}/journeys", tag = "query", security(("bearer" = [])), params(("key" = String, Path, description = "write key"), Filters, EntryParam), responses((status = 200, description = "sessions, bounces, transitions, entries (with bounces), exits, paths (first 5 pages); transitions and paths at most `limit` each (by count), with transitions_total and paths_total")))]
pub async fn journeys(
    req: HttpRequest,
    key: web::Path<String>,
    f: web::Query<Filters>,
    e: web::Query<EntryParam>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_read(&req, &state, &key)?;
    let sc = scope(&key, &f, &state)?;
    let entry = match e.entry.as_deref().map(str::trim) {
        None => None,
        Some("") => return Err(ApiError::bad("entry", "must be a page URL or page key")),
        Some(e) => Some(page_param(e, &sc.site)),
    };
    let limit = parse_limit(e.limit.as_deref(), JOURNEY_LIST_LIMIT.0, JOURNEY_LIST_LIMIT.1)?;
    // Without an entry page the store ranks its journey sums; with one, the sessions that
    // entered there are read (the journey rows carry no entry page).
    let j = match &entry {
        None => {
            state
                .warehouse
                .journeys(&crate::warehouse::JourneysQuery {
                    range: sc.range(),
                    limit,
                })
                .await?
        }
        Some(e) => {
            let r = state
                .warehouse
                .read_rollup(&sc.query(vec![Part::Sessions], None))
                .await?;
            let (sc, e) = (sc.clone(), e.clone());
            off_http(move || {
                crate::rollup::journeys(r.sessions.iter().filter(|s| sc.keeps(&s.dims)), Some(&e)).ranked(limit)
            })
            .await?
        }
    };
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "sessions": j.sessions,
        "bounces": j.bounces,
        "entry": entry,
        "transitions_total": j.transitions_total,
        "paths_total": j.paths_total,
        "transitions": j.transitions.iter().map(|(from, to, count)| serde_json::json!({"from": from, "to": to, "count": count})).collect::<Vec<_>>(),
        "entries": j.entries.iter().map(|(page, s, b)| serde_json::json!({"page": page, "sessions": s, "bounces": b})).collect::<Vec<_>>(),
        "exits": j.exits.iter().map(|(page, s)| serde_json::json!({"page": page, "sessions": s})).collect::<Vec<_>>(),
        "paths": j.paths.iter().map(|(pages, s)| serde_json::json!({"pages": pages, "sessions": s})).collect::<Vec<_>>(),
    })))
}

/// `GET /v1/sites/{key}/funnel?steps=a,b,event:signup&window=30m[&count=visitors]`
/// (analytics.md, "Funnel"): over the sessions that started in the date range, per step
/// `{"step", "sessions", "visitors", "count"` (sessions, or visitors with `count=visitors`),
/// `"dropoff"` (count lost since the previous step; 0 for step 1), `"dropoff_pct"` (% of the
/// previous step, one decimal; null for step 1), `"conversion_pct"` (% of step 1)`}`.
/// Steps in strict order, other events between allowed, each within `window` after step 1.
#[utoipa::path(get, path = "/v1/sites/{key}/funnel", tag = "query", security(("bearer" = [])), params(("key" = String, Path, description = "write key"), Filters, FunnelParams, segments::SplitParam), responses((status = 200, description = "steps: [{step, sessions, visitors, count, dropoff, dropoff_pct, conversion_pct}]; with split also split: {dimension, groups: [{value (null: the other values), sessions, steps}]}")))]
pub async fn funnel_view(
    req: HttpRequest,
    key: web::Path<String>,
    f: web::Query<Filters>,
    fp: web::Query<FunnelParams>,
    sp: web::Query<segments::SplitParam>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_read(&req, &state, &key)?;
    let sc = scope(&key, &f, &state)?;
    let split = segments::SplitBy::parse(&sp)?;
    let raw = fp
        .steps
        .as_deref()
        .ok_or_else(|| ApiError::bad("steps", "missing (comma-separated pages or event:<name>)"))?;
    // The steps as given (trimmed) name the answer's rows.
    let names: Vec<String> = raw.split(',').map(|s| s.trim().to_string()).collect();
    let steps: Vec<FunnelStep> = crate::model::goal::parse_steps(raw)
        .map_err(|reason| ApiError::bad("steps", &reason))?
        .into_iter()
        .map(|s| match s {
            FunnelStep::Page(p) => FunnelStep::Page(page_param(&p, &sc.site)),
            e => e,
        })
        .collect();
    let window = parse_window(fp.window.as_deref().unwrap_or("1d"))?;
    let count = match fp.count.as_deref() {
        None | Some("sessions") => "sessions",
        Some("visitors") => "visitors",
        Some("persons") => "persons",
        Some(_) => return Err(ApiError::bad("count", "must be sessions, visitors or persons")),
    };
    // Without a split (whose groups count every session) or persons (whose identity links
    // come from any session), the store sends only the sessions that reached step 1, each
    // cut to the funnel's steps: the same counts from far less.
    let rows = if split.is_none() && count != "persons" {
        state
            .warehouse
            .funnel_sessions(&sc.query(vec![Part::Sessions], None), &steps)
            .await?
    } else {
        state
            .warehouse
            .read_rollup(&sc.query(vec![Part::Sessions], None))
            .await?
            .sessions
    };
    let sessions: Vec<_> = rows.into_iter().filter(|s| sc.keeps(&s.dims)).collect();
    // Persons: the identity links of the sessions that made one, read from their events
    // (cost ∝ identifying sessions), applied at each session's end.
    let identities = if count == "persons" {
        let ids: Vec<String> = sessions
            .iter()
            .filter(|s| {
                s.steps
                    .iter()
                    .any(|st| st.custom && st.name == crate::event::identity::IDENTIFY_EVENT)
            })
            .map(|s| {
                s.session_key
                    .rsplit_once('#')
                    .map_or(s.session_key.as_str(), |(id, _)| id)
                    .to_string()
            })
            .collect();
        let events = if ids.is_empty() {
            Vec::new()
        } else {
            state.warehouse.session_events(&key, &ids).await?
        };
        let undone = sc.site.settings.identity_undo.iter().cloned().collect();
        Some(crate::event::identity::Identities::from_links(
            &crate::event::identity::links_of(&events),
            &undone,
        ))
    } else {
        None
    };
    let groups = split.map(|by| segments::session_groups(&sessions, by));
    let (by_session, by_visitor, by_person, group_counts) = off_http(move || {
        let group_counts: Vec<(Option<String>, usize, Vec<u64>)> = groups
            .unwrap_or_default()
            .into_iter()
            .map(|(v, g)| {
                let n = g.len();
                (v, n, funnel(&g, &steps, window, count != "sessions"))
            })
            .collect();
        let by_person = identities.map(|ids| {
            let as_persons: Vec<_> = sessions
                .iter()
                .map(|s| {
                    let mut p = s.clone();
                    p.visitor_id = ids.person(&s.visitor_id, s.end).to_string();
                    p
                })
                .collect();
            funnel(&as_persons, &steps, window, true)
        });
        (
            funnel(&sessions, &steps, window, false),
            funnel(&sessions, &steps, window, true),
            by_person,
            group_counts,
        )
    })
    .await?;
    let counts = match (count, &by_person) {
        ("visitors", _) => &by_visitor,
        ("persons", Some(p)) => p,
        _ => &by_session,
    };
    let out = funnel_steps(&names, counts, |k| {
        serde_json::json!({
            "sessions": by_session[k],
            "visitors": by_visitor[k],
            "persons": by_person.as_ref().map(|p| p[k]),
        })
    });
    let mut body = serde_json::json!({
        "window_ms": window,
        "count": count,
        "steps": out,
    });
    if let Some(by) = split {
        // Per group: the counts of `count` (sessions or visitors; persons count as visitors).
        let groups: Vec<_> = group_counts
            .into_iter()
            .map(|(value, n, c)| {
                serde_json::json!({
                    "value": value,
                    "sessions": n,
                    "steps": funnel_steps(&names, &c, |_| serde_json::json!({})),
                })
            })
            .collect();
        body["split"] = serde_json::json!({"dimension": by.name(), "groups": groups});
    }
    Ok(HttpResponse::Ok().json(body))
}

/// The `steps` of a funnel answer from its counts: per step `{step, count, dropoff,
/// dropoff_pct, conversion_pct}` and the fields `extra(k)` adds.
fn funnel_steps(
    names: &[String],
    counts: &[u64],
    extra: impl Fn(usize) -> serde_json::Value,
) -> Vec<serde_json::Value> {
    let pct = |n: u64, of: u64| (of > 0).then(|| (n as f64 * 1000.0 / of as f64).round() / 10.0);
    names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let n = counts[k];
            let previous = if k == 0 { n } else { counts[k - 1] };
            let mut j = serde_json::json!({
                "step": name,
                "count": n,
                "dropoff": previous - n,
                "dropoff_pct": if k == 0 { None } else { pct(previous - n, previous) },
                "conversion_pct": pct(n, counts[0]),
            });
            if let (Some(o), serde_json::Value::Object(e)) = (j.as_object_mut(), extra(k)) {
                o.extend(e);
            }
            j
        })
        .collect()
}
