//! Zones, problems, heatmap compare and the sessions list (issue 4) over rollup rows. The
//! definitions live in [`crate::rollup::zones`]; these handlers only read, filter by
//! [`Filters`] (days, device, bots) and shape the JSON.

use super::{
    day_range, in_layout, off_http, page_param, parse_layout, parse_limit, parse_time, scope, Filters, LayoutFilter,
    PageParam, Scope,
};
use crate::http::{require_read, ApiError, AppState};
use crate::rollup::baselines::{nps_regressions, step_regressions};
use crate::rollup::element_text::ElementTexts;
use crate::rollup::impact::{impact_of, read_goal_rows, Goal};
use crate::rollup::regressions::{page_regressions, LOOKBACK_DAYS};
use crate::rollup::zones::{
    compare_elements, element_clicks, problems as rank_problems, zone_metrics, Has, SessionFilter, ZoneTotals,
};
use crate::warehouse::RollupQuery;
use crate::warehouse::{Part, SessionsQuery};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Parameters of `GET /v1/sites/{key}/heatmap/compare` besides the page.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CompareParams {
    /// Start of the second range (ms or `YYYY-MM-DD`, the site's date, inclusive; required
    /// without `layout2`), rounded as `from`.
    pub from2: Option<String>,
    /// End of the second range (ms or `YYYY-MM-DD`, the site's date, exclusive; equal to
    /// `from2`: that one day; required without `layout2`), rounded as `to`.
    pub to2: Option<String>,
    /// Layout version of the second side (as `layout` is of the first): version A against
    /// version B. With `layout2` and no `from2`/`to2`, both sides take the first range.
    pub layout2: Option<String>,
}

/// Parameters of `GET /v1/sites/{key}/sessions`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionParams {
    /// Only sessions that viewed this page (URL or page key).
    pub page: Option<String>,
    /// Only sessions that clicked this element (selector, exact after
    /// [normalisation](crate::rollup::selector::normalize_selector)).
    pub element: Option<String>,
    /// Comma-separated signals the session must have: `rage`, `dead`, `feedback`.
    pub has: Option<String>,
    /// Page size, 1..500 (default 50).
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Parameter of `GET /v1/sites/{key}/problems`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProblemParams {
    /// Pages and elements listed, each, 1..500 (default 50); with `sort=impact` also the
    /// impact entries.
    pub limit: Option<String>,
    /// `score` (default: pages and elements by rage + dead clicks + quick backs) or `impact`
    /// (also `impact`: every signal with its conversion impact on the site goal
    /// `settings.rules.goal`, most lost conversions first; analytics.md, "Impact on
    /// conversion").
    pub sort: Option<String>,
}

/// Page views of one page in scope and layout version (the denominator of zone and compare
/// rates).
fn pageviews(sc: &Scope, layout: &LayoutFilter, pages: &[crate::rollup::PageRow]) -> u64 {
    pages
        .iter()
        .filter(|p| sc.keeps(&p.dims) && in_layout(layout, &p.layout))
        .map(|p| p.pageviews)
        .sum()
}

/// The most recent visible text of every element clicked in scope (on `page`, or on every
/// page), from the elements' day totals (analytics.md, "Element text").
async fn element_texts(state: &AppState, sc: &Scope, page: Option<String>) -> Result<ElementTexts, ApiError> {
    let r = state
        .warehouse
        .read_rollup(&sc.query(vec![Part::Elements], page))
        .await?;
    Ok(ElementTexts::of_rows(r.elements.iter().filter(|e| sc.keeps(&e.dims))))
}

/// `GET /v1/sites/{key}/zones?url=…`: per zone of the page (analytics.md, "Zones").
#[utoipa::path(get, path = "/v1/sites/{key}/zones", tag = "query", security(("bearer" = [])), params(("key" = String, Path, description = "write key"), Filters, PageParam), responses((status = 200, description = "page, pageviews, goal, zones: [{zone, exposure_rate, click_rate, attractiveness, hover_ms, hesitation_ms, conversion_rate (fractions 0..1, ms; null without a denominator), and the counts behind them}]")))]
pub async fn zones(
    req: HttpRequest,
    key: web::Path<String>,
    f: web::Query<Filters>,
    p: web::Query<PageParam>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_read(&req, &state, &key)?;
    Ok(HttpResponse::Ok().json(zones_data(&state, &key, &f, &p).await?))
}

/// The body of `GET /v1/sites/{key}/zones` (no token check: callers check access; the
/// dashboard's signed overlay grant uses it too).
pub async fn zones_data(
    state: &AppState,
    key: &str,
    f: &Filters,
    p: &PageParam,
) -> Result<serde_json::Value, ApiError> {
    let sc = scope(key, f, state)?;
    let page = sc.page(p)?;
    let layout = sc.layout(p)?;
    let r = state
        .warehouse
        .read_rollup(&sc.query(vec![Part::Pages, Part::Zones], Some(page.clone())))
        .await?;
    let pv = pageviews(&sc, &layout, &r.pages);
    let mut totals: BTreeMap<&str, ZoneTotals> = BTreeMap::new();
    for z in r
        .zones
        .iter()
        .filter(|z| sc.keeps(&z.dims) && in_layout(&layout, &z.layout))
    {
        totals.entry(&z.zone).or_default().add(z);
    }
    let goal = sc.site.settings.rules.goal.clone().filter(|g| !g.trim().is_empty());
    let zones: Vec<_> = totals
        .into_iter()
        .map(|(zone, t)| {
            let m = zone_metrics(&t, pv, goal.is_some());
            serde_json::json!({
                "zone": zone,
                "exposure_rate": m.exposure_rate, "click_rate": m.click_rate,
                "attractiveness": m.attractiveness, "hover_ms": m.hover_ms,
                "hesitation_ms": m.hesitation_ms, "conversion_rate": m.conversion_rate,
                "exposed": t.exposed, "clicked": t.clicked, "exposed_clicked": t.exposed_clicked,
                "visible_ms": t.visible_ms_sum, "hovered": t.hovered, "hover_ms_sum": t.hover_ms_sum,
                "hesitations": t.hesitation_n, "hesitation_ms_sum": t.hesitation_ms_sum,
                "click_sessions": t.click_sessions, "converted_sessions": t.converted_sessions,
            })
        })
        .collect();
    Ok(serde_json::json!({
        "page": page,
        "layout": super::layout_out(&layout),
        "pageviews": pv,
        "goal": goal,
        "exposure_ms": sc.site.settings.rules.zone_exposure_ms,
        "zones": zones,
    }))
}

/// `GET /v1/sites/{key}/problems`: pages and elements ranked by frustration.
#[utoipa::path(get, path = "/v1/sites/{key}/problems", tag = "query", security(("bearer" = [])), params(("key" = String, Path, description = "write key"), Filters, ProblemParams, super::segments::SplitParam), responses((status = 200, description = "With split also split: {dimension, groups: [{value (null: the other values), sessions, pages, elements}]} (pages and elements as below). pages: [{page, rage_clicks, dead_clicks, quick_backs, sessions, score, regression (null or {since, rate_per_100, baseline_median_per_100, baseline_max_per_100}: new since)}], funnel_regressions: [{step, from, to, since, conversion_pct, baseline_median_pct, baseline_min_pct, sessions}] (steps of the site's funnel goal below their daily baseline on the range's last day), nps_regressions: [{survey, since, nps, baseline_median, baseline_min, answers}], elements: [{page, selector, text (the element's visible text, or null), zone, rage_clicks, dead_clicks, sessions, score}], ranked by score = the sum of the signals; sessions = sessions affected. With sort=impact also goal and impact: [{signal, page, selector, text (element signals), zone, survey, sessions_with, converted_with, sessions_without, converted_without, conversion_with_pct, conversion_without_pct, difference_pts, ci99_pts, lost_conversions, verdict, significant, summary}], most lost conversions first"), (status = 400, description = "sort is not score or impact, or sort=impact without settings.rules.goal")))]
pub async fn problems(
    req: HttpRequest,
    key: web::Path<String>,
    f: web::Query<Filters>,
    m: web::Query<ProblemParams>,
    sp: web::Query<super::segments::SplitParam>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_read(&req, &state, &key)?;
    let sc = scope(&key, &f, &state)?;
    let n = parse_limit(m.limit.as_deref(), 50, 500)?;
    let split = super::segments::SplitBy::parse(&sp)?;
    // The site's goal, parsed once: for the funnel baselines and for sort=impact.
    let site_goal = match sc.site.settings.rules.goal.clone() {
        None => None,
        Some(raw) => Some(Goal::parse(&raw).map(|g| (raw, g))),
    };
    let goal = match m.sort.as_deref() {
        None | Some("score") => None,
        Some("impact") => Some(
            site_goal
                .clone()
                .ok_or_else(|| {
                    ApiError::bad(
                        "settings.rules.goal",
                        "sort=impact needs the site's goal: a page key, event:<name> or funnel:<step>,…",
                    )
                })?
                .map_err(|r| ApiError::bad("settings.rules.goal", &r))?,
        ),
        Some(_) => return Err(ApiError::bad("sort", "must be score or impact")),
    };
    let site_goal = site_goal.and_then(Result::ok);
    let r = state
        .warehouse
        .read_rollup(&sc.query(vec![Part::Problems], None))
        .await?;
    let (sessions, pages, elements) = rank_problems(r.problems.iter().filter(|p| sc.keeps(&p.dims)));
    // Regressions at the range's last day: page and problem rows of that day and the
    // lookback before it (day totals: cost in distinct pages × days).
    let last_day = crate::model::days::days_before(sc.to_day, 1, sc.tz());
    let back = state
        .warehouse
        .read_rollup(&RollupQuery {
            from_day: crate::model::days::days_before(last_day, LOOKBACK_DAYS, sc.tz()),
            ..sc.query(vec![Part::Pages, Part::Problems], None)
        })
        .await?;
    let regressions = page_regressions(
        back.pages.iter().filter(|p| sc.keeps(&p.dims)),
        back.problems.iter().filter(|p| sc.keeps(&p.dims)),
        last_day,
        sc.tz(),
    );
    let texts = element_texts(&state, &sc, None).await?;
    let text_of = |page: &str, selector: Option<&str>, zone: Option<&str>| -> serde_json::Value {
        selector
            .and_then(|s| texts.get(page, s, zone.unwrap_or("")))
            .map_or(serde_json::Value::Null, Into::into)
    };
    let out = |v: Vec<crate::rollup::zones::Problem>| -> Vec<serde_json::Value> {
        v.into_iter()
            .take(n)
            .map(|p| {
                let score = p.score();
                let mut j = serde_json::to_value(&p).expect("problem to JSON");
                j["score"] = score.into();
                super::null_empty_zone(&mut j);
                if p.selector.is_none() {
                    let o = j.as_object_mut().expect("object");
                    o.remove("selector");
                    o.remove("zone");
                    o.insert(
                        "regression".into(),
                        serde_json::to_value(regressions.get(&p.page)).expect("regression to JSON"),
                    );
                } else {
                    let o = j.as_object_mut().expect("object");
                    o.remove("quick_backs");
                    o.insert(
                        "text".into(),
                        text_of(&p.page, p.selector.as_deref(), p.zone.as_deref()),
                    );
                }
                j
            })
            .collect()
    };
    // The goal funnel's step conversion and the NPS against their daily baselines, at the
    // same last day (day totals: the goal part and the survey rows).
    let lookback = RollupQuery {
        from_day: crate::model::days::days_before(last_day, LOOKBACK_DAYS, sc.tz()),
        ..sc.query(vec![Part::Surveys], None)
    };
    let base = state.warehouse.read_rollup(&lookback).await?;
    let goal_back = match &site_goal {
        Some((raw, g @ Goal::Funnel(_))) => read_goal_rows(state.warehouse.as_ref(), &lookback, raw, g).await?,
        _ => Vec::new(),
    };
    let keep = sc.clone();
    let tz = sc.tz();
    let steps = match &site_goal {
        Some((_, Goal::Funnel(steps))) => Some(steps.clone()),
        _ => None,
    };
    let (step_flags, nps_flags) = off_http(move || {
        let steps = steps
            .map(|steps| step_regressions(goal_back.iter().filter(|g| keep.keeps(&g.dims)), &steps, last_day, tz))
            .unwrap_or_default();
        let nps = nps_regressions(base.surveys.iter().filter(|a| keep.keeps(&a.dims)), last_day, tz);
        (steps, nps)
    })
    .await?;
    let mut body = serde_json::json!({
        "sessions": sessions,
        "pages": out(pages),
        "elements": out(elements),
        "funnel_regressions": step_flags,
        "nps_regressions": nps_flags,
    });
    if let Some(by) = split {
        let all: Vec<_> = r.problems.iter().filter(|p| sc.keeps(&p.dims)).cloned().collect();
        let groups = super::segments::problem_groups(&state, &sc, by, &all).await?;
        let groups: Vec<serde_json::Value> = groups
            .into_iter()
            .map(|(value, sessions, rows)| {
                let (_, pages, elements) = rank_problems(rows.iter());
                serde_json::json!({"value": value, "sessions": sessions, "pages": out(pages), "elements": out(elements)})
            })
            .collect();
        body["split"] = serde_json::json!({"dimension": by.name(), "groups": groups});
    }
    if let Some((raw, goal)) = goal {
        // The goal part's day totals of the range (or, after a goal change not yet
        // recomputed, one pass over its session rows), off the HTTP workers.
        let rows = read_goal_rows(state.warehouse.as_ref(), &sc.query(vec![], None), &raw, &goal).await?;
        let keep = sc.clone();
        let ranked = off_http(move || impact_of(rows.iter().filter(|g| keep.keeps(&g.dims)))).await?;
        body["goal"] = raw.into();
        body["impact"] = ranked
            .into_iter()
            .take(n)
            .map(|i| {
                let text = text_of(&i.page, i.selector.as_deref(), i.zone.as_deref());
                let mut j = serde_json::to_value(&i).expect("impact to JSON");
                if i.selector.is_some() {
                    j["text"] = text;
                }
                j
            })
            .collect();
    }
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /v1/sites/{key}/heatmap/compare?url=&from=&to=&from2=&to2=`: per element, clicks
/// and clicks per page view in both ranges and the shift (`rate2 − rate`).
#[utoipa::path(get, path = "/v1/sites/{key}/heatmap/compare", tag = "query", security(("bearer" = [])), params(("key" = String, Path, description = "write key"), Filters, PageParam, CompareParams), responses((status = 200, description = "page, layout, layout2 (the versions compared, null: all), pageviews, pageviews2, elements: [{selector, zone, clicks, clicks2, rate, rate2, shift}] (rates in clicks per page view), largest |shift| first"), (status = 400, description = "from2/to2 missing (without layout2), or layout/layout2 not a layout version")))]
pub async fn heatmap_compare(
    req: HttpRequest,
    key: web::Path<String>,
    f: web::Query<Filters>,
    p: web::Query<PageParam>,
    m: web::Query<CompareParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_read(&req, &state, &key)?;
    let sc = scope(&key, &f, &state)?;
    let page = sc.page(&p)?;
    let layout = sc.layout(&p)?;
    let layout2 = parse_layout("layout2", m.layout2.as_deref())?;
    let (from_day2, to_day2) = match (&m.from2, &m.to2) {
        (Some(a), Some(b)) => day_range(
            ("from2", "to2"),
            parse_time("from2", a, sc.tz())?,
            parse_time("to2", b, sc.tz())?,
            sc.tz(),
        )?,
        (None, None) if layout2.is_some() => (sc.from_day, sc.to_day),
        (None, _) => return Err(ApiError::bad("from2", "missing (start of the second range)")),
        (_, None) => return Err(ApiError::bad("to2", "missing (end of the second range)")),
    };
    let sc2 = Scope {
        site: sc.site.clone(),
        from_day: from_day2,
        to_day: to_day2,
        device: sc.device,
        bots: sc.bots,
        segment: sc.segment.clone(),
    };
    let parts = vec![Part::Pages, Part::Elements];
    let r1 = state
        .warehouse
        .read_rollup(&sc.query(parts.clone(), Some(page.clone())))
        .await?;
    let r2 = state
        .warehouse
        .read_rollup(&sc2.query(parts, Some(page.clone())))
        .await?;
    let (pv1, pv2) = (pageviews(&sc, &layout, &r1.pages), pageviews(&sc2, &layout2, &r2.pages));
    let e1 = element_clicks(
        r1.elements
            .iter()
            .filter(|e| sc.keeps(&e.dims) && in_layout(&layout, &e.layout)),
    );
    let e2 = element_clicks(
        r2.elements
            .iter()
            .filter(|e| sc2.keeps(&e.dims) && in_layout(&layout2, &e.layout)),
    );
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "page": page,
        "layout": super::layout_out(&layout),
        "layout2": super::layout_out(&layout2),
        "pageviews": pv1,
        "pageviews2": pv2,
        "elements": compare_elements(&e1, pv1, &e2, pv2)
            .into_iter()
            .map(|e| {
                let mut j = serde_json::to_value(&e).expect("element shift to JSON");
                super::null_empty_zone(&mut j);
                j
            })
            .collect::<Vec<_>>(),
    })))
}

/// `GET /v1/sites/{key}/sessions`: sessions, newest first (by start, then key, descending),
/// with pages, duration, frustration counts, feedback, survey responses, clicked elements with their text and replay
/// metadata; filtered by `page`, `element`, `has`; paginated by `limit` and `cursor`.
#[utoipa::path(get, path = "/v1/sites/{key}/sessions", tag = "query", security(("bearer" = [])), params(("key" = String, Path, description = "write key"), Filters, SessionParams), responses((status = 200, description = "sessions: [{session (the snippet's session id), split (0, 1, …: its parts after server-side splits), visitor_id, start, end, duration_ms, device, pageviews, pages: [{page, pageviews, clicks, rage_clicks, dead_clicks, quick_backs}] (distinct pages, first-visit order), path: [page] (the pages in visit order, a reload counted once), clicks, rage_clicks, dead_clicks, quick_backs, feedback, negative_feedback, survey_responses, replays: [{recording_id, started_at, ended_at, pages, events, bytes, clicks, errors}] (sent replay events), elements: [{page, selector, text (the element's visible text, or null), zone, clicks, rage_clicks, dead_clicks}] (the session's clicked elements), recording (metadata of the session's stored recording, as in the timeline's replay, or null)}], total, next_cursor")))]
pub async fn sessions(
    req: HttpRequest,
    key: web::Path<String>,
    f: web::Query<Filters>,
    m: web::Query<SessionParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_read(&req, &state, &key)?;
    let sc = scope(&key, &f, &state)?;
    let n = parse_limit(m.limit.as_deref(), 50, 500)?;
    let mut has = Vec::new();
    for h in m
        .has
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
    {
        has.push(
            Has::parse(h).ok_or_else(|| ApiError::bad("has", "must be rage, dead or feedback (comma-separated)"))?,
        );
    }
    let filter = SessionFilter {
        page: m.page.as_deref().map(|p| page_param(p, &sc.site)),
        selector: m
            .element
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|s| crate::rollup::selector::normalize_selector(s).into_owned()),
        has,
    };
    let cursor = m
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(parse_cursor)
        .transpose()?;
    let list = state
        .warehouse
        .list_sessions(&SessionsQuery {
            site: sc.site.key.clone(),
            from_day: sc.from_day,
            to_day: sc.to_day,
            device: sc.device,
            bots: sc.bots,
            filter,
            segment: sc.segment.clone(),
            before: cursor,
            limit: n,
        })
        .await?;
    let next_cursor = list
        .more
        .then(|| {
            list.sessions
                .last()
                .map(|(s, _)| format!("{}.{}", s.start, hex::encode(&s.session_key)))
        })
        .flatten();
    let ids: Vec<String> = list
        .sessions
        .iter()
        .map(|(s, _)| crate::rollup::session_key_parts(&s.session_key).0.to_string())
        .collect();
    let recordings = crate::http::replay::summaries(&state, &sc.site.key, &ids).await?;
    let texts = if list.sessions.is_empty() {
        ElementTexts::default()
    } else {
        element_texts(&state, &sc, None).await?
    };
    let out: Vec<_> = list
        .sessions
        .into_iter()
        .map(|(s, d)| {
            let (session, split) = crate::rollup::session_key_parts(&s.session_key);
            serde_json::json!({
                "session": session, "split": split, "visitor_id": s.visitor_id,
                "start": s.start, "end": s.end, "duration_ms": s.end - s.start,
                "device": s.dims.device.as_str(), "bot": s.dims.bot,
                "pageviews": s.pageviews, "pages": d.pages,
                "path": crate::rollup::SessionPath::of_steps(&s.steps).pages,
                "clicks": s.clicks, "rage_clicks": s.rage_clicks, "dead_clicks": s.dead_clicks,
                "quick_backs": s.quick_backs, "feedback": s.feedback,
                "negative_feedback": d.negative_feedback, "survey_responses": s.survey_responses,
                "replays": d.replays, "recording": recordings.get(session),
                "elements": d.elements.iter().map(|e| serde_json::json!({
                    "page": e.page, "selector": e.selector, "text": texts.get(&e.page, &e.selector, &e.zone),
                    "zone": (!e.zone.is_empty()).then_some(&e.zone), "clicks": e.clicks,
                    "rage_clicks": e.rage_clicks, "dead_clicks": e.dead_clicks,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "total": list.total,
        "sessions": out,
        "next_cursor": next_cursor,
    })))
}

/// Reads a `next_cursor`: `"<start ms>.<hex of the session key>"` of the last session of the
/// previous page, URL-safe as it stands (a session key holds `#` before its split). The first
/// form, `"<start ms>:<session key>"`, is still read. Errors: `400` naming `cursor`.
fn parse_cursor(c: &str) -> Result<(i64, String), ApiError> {
    let bad = || ApiError::bad("cursor", "must be a next_cursor from a previous page");
    let (start, key) = match c.split_once('.') {
        Some((a, b)) => (
            a,
            String::from_utf8(hex::decode(b).map_err(|_| bad())?).map_err(|_| bad())?,
        ),
        None => c.split_once(':').map(|(a, b)| (a, b.to_string())).ok_or_else(bad)?,
    };
    Ok((start.parse::<i64>().map_err(|_| bad())?, key))
}
