//! The journeys report (api.md `GET …/journeys`; analytics.md, "Journeys and funnels"):
//! journey rows summed ([`Journeys::of_rows`]) and ranked as the endpoint answers
//! ([`Journeys::ranked`]). A store that ranks by SQL must give the same answer
//! (`tests/journeys.rs`).

use super::rows::{JourneyKind, JourneyRow, PATH_SEP};
use std::collections::BTreeMap;

/// Journeys report over stored sessions: counts in sessions.
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
    /// First 5 pages of the path, joined by [`PATH_SEP`] (as stored) → sessions.
    pub paths: BTreeMap<String, u64>,
}

/// The `/journeys` answer: every entry and exit page, the most frequent transitions and
/// paths. Each list is sorted by its count, highest first, then by its key ascending (page
/// keys compared as bytes; a path by its pages joined by [`PATH_SEP`], compared as bytes,
/// as a store compares them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RankedJourneys {
    /// Sessions with at least one page view.
    pub sessions: u64,
    /// Sessions with exactly one page view.
    pub bounces: u64,
    /// Every entry page: (page, sessions, bounces).
    pub entries: Vec<(String, u64, u64)>,
    /// Every exit page: (page, sessions).
    pub exits: Vec<(String, u64)>,
    /// Distinct (from, to) transitions, over all of them.
    pub transitions_total: usize,
    /// The first `limit` transitions: (from, to, count).
    pub transitions: Vec<(String, String, u64)>,
    /// Distinct paths (first 5 pages), over all of them.
    pub paths_total: usize,
    /// The first `limit` paths: (pages, sessions).
    pub paths: Vec<(Vec<String>, u64)>,
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
                JourneyKind::Path => *j.paths.entry(r.from.clone()).or_default() += r.count,
            }
        }
        j
    }

    /// The report as `/journeys` answers it, with at most `limit` transitions and paths:
    /// the one definition of its order ([`RankedJourneys`]).
    pub fn ranked(self, limit: usize) -> RankedJourneys {
        fn by_count<K: Ord, V>(m: BTreeMap<K, V>, count: impl Fn(&V) -> u64) -> Vec<(K, V)> {
            let mut v: Vec<(K, V)> = m.into_iter().collect();
            // Stable, over keys already ascending: ties keep key order.
            v.sort_by_key(|(_, c)| std::cmp::Reverse(count(c)));
            v
        }
        RankedJourneys {
            sessions: self.sessions,
            bounces: self.bounces,
            entries: by_count(self.entries, |c| c.0)
                .into_iter()
                .map(|(page, (s, b))| (page, s, b))
                .collect(),
            exits: by_count(self.exits, |c| *c),
            transitions_total: self.transitions.len(),
            transitions: by_count(self.transitions, |c| *c)
                .into_iter()
                .take(limit)
                .map(|((from, to), c)| (from, to, c))
                .collect(),
            paths_total: self.paths.len(),
            paths: by_count(self.paths, |c| *c)
                .into_iter()
                .take(limit)
                .map(|(joined, c)| (joined.split(PATH_SEP).map(str::to_string).collect(), c))
                .collect(),
        }
    }
}

/// A page's sums as a store gives them: (page, sessions, bounces).
pub type PageSums = (String, u64, u64);

impl RankedJourneys {
    /// The answer from a store that summed and ranked on its side: every entry page
    /// (page, sessions, bounces) and exit page (page, sessions; bounces 0), in any order
    /// (ranked here, by [`Journeys::ranked`]); how many distinct transitions and paths there
    /// are; and the first transitions (from, to, count) and paths (pages joined by
    /// [`PATH_SEP`], sessions), already in [`RankedJourneys`] order.
    pub fn of_ranked_sums(
        entries: impl IntoIterator<Item = PageSums>,
        exits: impl IntoIterator<Item = PageSums>,
        (transitions_total, paths_total): (usize, usize),
        transitions: Vec<(String, String, u64)>,
        paths: impl IntoIterator<Item = (String, u64)>,
    ) -> RankedJourneys {
        let mut j = Journeys::default();
        for (page, sessions, bounces) in entries {
            j.sessions += sessions;
            j.bounces += bounces;
            j.entries.insert(page, (sessions, bounces));
        }
        j.exits = exits.into_iter().map(|(page, sessions, _)| (page, sessions)).collect();
        RankedJourneys {
            transitions_total,
            transitions,
            paths_total,
            paths: paths
                .into_iter()
                .map(|(joined, n)| (joined.split(PATH_SEP).map(str::to_string).collect(), n))
                .collect(),
            ..j.ranked(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rows::Dims;

    fn row(kind: JourneyKind, from: &str, to: &str, count: u64, bounces: u64) -> JourneyRow {
        JourneyRow {
            dims: Dims {
                day: 0,
                device: crate::event::DeviceClass::Desktop,
                bot: false,
            },
            kind,
            from: from.replace('>', &PATH_SEP.to_string()),
            to: to.into(),
            count,
            bounces,
        }
    }

    #[test]
    fn ranked_by_count_then_key_and_cut_after_the_totals() {
        use JourneyKind::*;
        let rows = [
            row(Entry, "/a", "", 2, 1),
            row(Entry, "/b", "", 2, 0),
            row(Entry, "/c", "", 1, 1),
            row(Exit, "/b", "", 3, 0),
            row(Exit, "/a", "", 2, 0),
            row(Transition, "/b", "/c", 1, 0),
            row(Transition, "/a", "/c", 1, 0),
            row(Transition, "/a", "/b", 2, 0),
            // "/a/x" sorts after "/a" followed by any other page of the path.
            row(Path, "/a/x", "", 1, 0),
            row(Path, "/a>/b", "", 1, 0),
            row(Path, "/a", "", 1, 0),
            row(Path, "/c", "", 2, 0),
        ];
        let r = Journeys::of_rows(&rows).ranked(2);
        assert_eq!((r.sessions, r.bounces), (5, 2));
        assert_eq!(
            r.entries,
            vec![("/a".into(), 2, 1), ("/b".into(), 2, 0), ("/c".into(), 1, 1)]
        );
        assert_eq!(r.exits, vec![("/b".into(), 3), ("/a".into(), 2)]);
        assert_eq!(r.transitions_total, 3);
        assert_eq!(
            r.transitions,
            vec![("/a".into(), "/b".into(), 2), ("/a".into(), "/c".into(), 1)]
        );
        assert_eq!(r.paths_total, 4);
        assert_eq!(r.paths, vec![(vec!["/c".to_string()], 2), (vec!["/a".to_string()], 1)]);
        let all = Journeys::of_rows(&rows).ranked(10);
        let order: Vec<String> = all.paths.iter().map(|(p, _)| p.join(">")).collect();
        assert_eq!(order, ["/c", "/a", "/a>/b", "/a/x"]);
        // The same order as the joined keys compared as bytes (what SQL sorts by).
        let mut joined: Vec<String> = rows[8..11].iter().map(|r| r.from.clone()).collect();
        joined.sort();
        assert_eq!(
            joined.iter().map(|j| j.replace(PATH_SEP, ">")).collect::<Vec<_>>(),
            order[1..]
        );
    }
}
