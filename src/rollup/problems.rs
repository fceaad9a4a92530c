//! Frustration problems (`/problems`): per-session problem rows from the session details,
//! summed and ranked by score (rage + dead clicks + quick backs), pages and elements apart.

use super::{Dims, ProblemKind, ProblemRow, SessionDetailRow};
use std::collections::BTreeMap;

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
