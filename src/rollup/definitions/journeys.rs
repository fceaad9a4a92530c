//! Journeys (transitions, entries, exits, paths) and funnels over stored session rows.

use super::*;
pub use crate::model::journeys::Journeys;

/// Number of pages a journey path keeps (analytics.md, "Paths report the first 5 pages").
pub const PATH_PAGES: usize = 5;

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
            joined.push(crate::rollup::PATH_SEP);
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
pub(in crate::rollup) fn funnel_depth(timeline: &[Step], steps: &[FunnelStep], window_ms: i64) -> usize {
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
