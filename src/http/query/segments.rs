//! Segments in the query API (docs/api.md, "Segments"): `GET /v1/sites/{key}/segments`
//! (each dimension's values with their sessions) and the `split=<dimension>` of
//! `/problems` and `/funnel` (the same answer per value of one dimension).

use super::{scope, Filters, Scope};
use crate::http::{require_read, ApiError, AppState};
use crate::model::segment::Dimension;
use crate::rollup::{ProblemRow, SessionRow};
use crate::warehouse::Part;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Most values a split answers one by one (by sessions); the rest are summed as `other`.
pub const SPLIT_TOP: usize = 10;
/// Most values `/segments` lists per dimension (by sessions).
pub const SEGMENT_VALUES_MAX: usize = 50;

/// The `split` parameter of `/problems` and `/funnel`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SplitParam {
    /// Answer per value of one segment dimension: `channel`, `referrer`, `utm_source`,
    /// `utm_medium`, `utm_campaign`, `browser`, `os`, `language` or `device`; the 10 values
    /// with most sessions one by one, the others together as `other` (docs/api.md,
    /// "Segments").
    pub split: Option<String>,
}

/// What a split is by: a segment dimension, or the device class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitBy {
    Segment(Dimension),
    Device,
}

impl SplitBy {
    /// The parameter's value (`400` naming `split` for an unknown one).
    pub fn parse(p: &SplitParam) -> Result<Option<SplitBy>, ApiError> {
        let Some(s) = p.split.as_deref().map(str::trim) else {
            return Ok(None);
        };
        if s == "device" {
            return Ok(Some(SplitBy::Device));
        }
        Dimension::parse(s).map(|d| Some(SplitBy::Segment(d))).ok_or_else(|| {
            let names: Vec<&str> = Dimension::ALL.iter().map(|d| d.name()).chain(["device"]).collect();
            ApiError::bad("split", &format!("must be one of {}", names.join(", ")))
        })
    }
    /// The name answered as `dimension`.
    pub fn name(self) -> &'static str {
        match self {
            SplitBy::Segment(d) => d.name(),
            SplitBy::Device => "device",
        }
    }
    /// A session's value.
    pub fn of(self, s: &SessionRow) -> &str {
        match self {
            SplitBy::Segment(d) => d.of(&s.segment),
            SplitBy::Device => s.dims.device.as_str(),
        }
    }
}

/// Sessions per value, most first (then by value).
pub fn value_counts<'a>(sessions: impl IntoIterator<Item = &'a SessionRow>, by: SplitBy) -> Vec<(String, u64)> {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for s in sessions {
        *counts.entry(by.of(s)).or_default() += 1;
    }
    let mut v: Vec<(String, u64)> = counts.into_iter().map(|(k, n)| (k.to_string(), n)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

/// The values a split answers one by one: at most [`SPLIT_TOP`], by sessions.
pub fn top_values(sessions: &[SessionRow], by: SplitBy) -> Vec<(String, u64)> {
    let mut v = value_counts(sessions, by);
    v.truncate(SPLIT_TOP);
    v
}

/// `GET /v1/sites/{key}/segments`: over the sessions that started in the range (and pass
/// the device, bot and segment filters), each dimension's values with their sessions.
#[utoipa::path(get, path = "/v1/sites/{key}/segments", tag = "query", security(("bearer" = [])), params(("key" = String, Path, description = "write key"), Filters), responses((status = 200, description = "sessions, dimensions: {channel, referrer, utm_source, utm_medium, utm_campaign, browser, os, language, device: [{value (\"\" for unknown), sessions}]}, at most 50 values each, most sessions first")))]
pub async fn segments(
    req: HttpRequest,
    key: web::Path<String>,
    f: web::Query<Filters>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_read(&req, &state, &key)?;
    let sc = scope(&key, &f, &state)?;
    let r = state
        .warehouse
        .read_rollup(&sc.query(vec![Part::Sessions], None))
        .await?;
    let body = super::off_http(move || {
        let sessions: Vec<SessionRow> = r.sessions.into_iter().filter(|s| sc.keeps(&s.dims)).collect();
        let mut dims = serde_json::Map::new();
        let all = Dimension::ALL
            .map(SplitBy::Segment)
            .into_iter()
            .chain([SplitBy::Device]);
        for by in all {
            let values: Vec<serde_json::Value> = value_counts(&sessions, by)
                .into_iter()
                .take(SEGMENT_VALUES_MAX)
                .map(|(value, n)| serde_json::json!({"value": value, "sessions": n}))
                .collect();
            dims.insert(by.name().to_string(), values.into());
        }
        serde_json::json!({"sessions": sessions.len(), "dimensions": dims})
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `/problems?split=`: per top value, the problem rows of its sessions (one read each, the
/// segment filter narrowed to the value; device splits filter the rows), and `other` as the
/// whole range's sums less theirs. Returns (value, sessions, rows) per group, the value
/// `None` for the group of the other values.
pub(super) async fn problem_groups(
    state: &AppState,
    sc: &Scope,
    by: SplitBy,
    all: &[ProblemRow],
) -> Result<Vec<(Option<String>, u64, Vec<ProblemRow>)>, ApiError> {
    let r = state
        .warehouse
        .read_rollup(&sc.query(vec![Part::Sessions], None))
        .await?;
    let sessions: Vec<SessionRow> = r.sessions.into_iter().filter(|s| sc.keeps(&s.dims)).collect();
    let top = top_values(&sessions, by);
    let mut groups = Vec::new();
    for (value, n) in &top {
        let rows: Vec<ProblemRow> = match by {
            SplitBy::Device => all
                .iter()
                .filter(|p| p.dims.device.as_str() == value)
                .cloned()
                .collect(),
            SplitBy::Segment(d) => {
                let narrowed = Scope {
                    segment: sc.segment.with(d, value),
                    ..sc.clone()
                };
                state
                    .warehouse
                    .read_rollup(&narrowed.query(vec![Part::Problems], None))
                    .await?
                    .problems
                    .into_iter()
                    .filter(|p| sc.keeps(&p.dims))
                    .collect()
            }
        };
        groups.push((Some(value.clone()), *n, rows));
    }
    let rest = sessions.len() as u64 - top.iter().map(|(_, n)| n).sum::<u64>();
    if rest > 0 {
        type Key = (crate::rollup::ProblemKind, String, String, String);
        let mut sums: BTreeMap<Key, [i128; 4]> = BTreeMap::new();
        let mut add = |rows: &[ProblemRow], sign: i128| {
            for p in rows {
                let e = sums
                    .entry((p.kind, p.page.clone(), p.selector.clone(), p.zone.clone()))
                    .or_default();
                for (slot, v) in e
                    .iter_mut()
                    .zip([p.rage_clicks, p.dead_clicks, p.quick_backs, p.sessions])
                {
                    *slot += sign * i128::from(v);
                }
            }
        };
        add(all, 1);
        for (_, _, rows) in &groups {
            add(rows, -1);
        }
        let dims = all.first().map(|p| p.dims).unwrap_or(crate::rollup::Dims {
            day: sc.from_day,
            device: crate::event::DeviceClass::Unknown,
            bot: false,
        });
        let rows = sums
            .into_iter()
            .filter(|(_, v)| v.iter().any(|x| *x > 0))
            .map(|((kind, page, selector, zone), v)| ProblemRow {
                dims,
                kind,
                page,
                selector,
                zone,
                rage_clicks: v[0].max(0) as u64,
                dead_clicks: v[1].max(0) as u64,
                quick_backs: v[2].max(0) as u64,
                sessions: v[3].max(0) as u64,
            })
            .collect();
        groups.push((None, rest, rows));
    }
    Ok(groups)
}

/// Sessions of a split's groups: those of each top value, then (value `None`) the other
/// values' together, when any is left.
pub fn session_groups(sessions: &[SessionRow], by: SplitBy) -> Vec<(Option<String>, Vec<SessionRow>)> {
    let top = top_values(sessions, by);
    let mut groups: Vec<(Option<String>, Vec<SessionRow>)> =
        top.iter().map(|(v, _)| (Some(v.clone()), Vec::new())).collect();
    let mut other = Vec::new();
    for s in sessions {
        match groups.iter_mut().find(|(v, _)| v.as_deref() == Some(by.of(s))) {
            Some((_, g)) => g.push(s.clone()),
            None => other.push(s.clone()),
        }
    }
    if !other.is_empty() {
        groups.push((None, other));
    }
    groups
}
