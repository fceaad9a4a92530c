//! Visitor identity (`docs/compat.md`, "Identity"): an `identify` or `alias` from a tracker
//! links an anonymous visitor id to a user id. A link is an override applied when events are
//! read — the events keep their visitor id — so removing a link undoes it.
//!
//! Rules (field case C9 of the team's case file, and PostHog's and Segment's own advice
//! against merging on placeholder ids):
//! - a link with a junk id on either side ([`is_junk_id`]) or with both ids equal is ignored;
//! - a link whose anonymous id is itself a user id of another link is ignored: two
//!   identified users are never merged;
//! - an anonymous id linked to several users over time (a shared device) belongs, from each
//!   link's time on, to that link's user, and before its first link to its first user; the
//!   users stay distinct people.

use std::collections::{HashMap, HashSet};

/// The name of the custom event that keeps one link: props `{"anonymous_id", "user_id"}`
/// (written by the tracker routes, `docs/compat.md`).
pub const IDENTIFY_EVENT: &str = "$identify";

/// The links kept in `events` (custom [`IDENTIFY_EVENT`] events), in event order; events
/// of other kinds, or with ids missing from their props, are skipped.
pub fn links_of(events: &[super::Event]) -> Vec<Link> {
    events
        .iter()
        .filter_map(|e| match &e.payload {
            super::Payload::Custom { name, props_json } if name == IDENTIFY_EVENT => {
                let p: serde_json::Value = serde_json::from_str(props_json).ok()?;
                Some(Link {
                    id: e.id.clone(),
                    anonymous_id: p.get("anonymous_id")?.as_str()?.to_string(),
                    user_id: p.get("user_id")?.as_str()?.to_string(),
                    ts: e.ts,
                })
            }
            _ => None,
        })
        .collect()
}

/// Ids clients send when they have none (C9): never linked. Compared after trimming,
/// ignoring ASCII case.
pub const JUNK_IDS: [&str; 8] = [
    "",
    "undefined",
    "null",
    "None",
    "NaN",
    "0",
    "[object Object]",
    "anonymous",
];

/// Whether `id` is a placeholder rather than an id ([`JUNK_IDS`]).
pub fn is_junk_id(id: &str) -> bool {
    let id = id.trim();
    JUNK_IDS.iter().any(|j| j.eq_ignore_ascii_case(id))
}

/// One identify or alias: from `ts` (ms) on, `anonymous_id` is the person `user_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The event id of the identify (what an undo names).
    pub id: String,
    /// The visitor id seen before (PostHog `$anon_distinct_id`, Segment `anonymousId` or an
    /// alias's `previousId`).
    pub anonymous_id: String,
    /// The user id the site gave (PostHog `distinct_id`, Segment `userId`).
    pub user_id: String,
    /// Time of the identify, ms.
    pub ts: i64,
}

/// The links in force, by anonymous id, each list ordered by time.
#[derive(Debug, Default)]
pub struct Identities {
    by_anonymous: HashMap<String, Vec<(i64, String)>>,
}

impl Identities {
    /// The identities of `links` without those whose id is in `undone`, by the rules of
    /// this module. Links may come in any order.
    pub fn from_links(links: &[Link], undone: &HashSet<String>) -> Identities {
        let kept: Vec<&Link> = links
            .iter()
            .filter(|l| !undone.contains(&l.id))
            .filter(|l| !is_junk_id(&l.anonymous_id) && !is_junk_id(&l.user_id))
            .filter(|l| l.anonymous_id != l.user_id)
            .collect();
        let users: HashSet<&str> = kept.iter().map(|l| l.user_id.as_str()).collect();
        let mut by_anonymous: HashMap<String, Vec<(i64, String)>> = HashMap::new();
        for l in kept {
            if users.contains(l.anonymous_id.as_str()) {
                continue; // an identified user is never merged into another
            }
            by_anonymous
                .entry(l.anonymous_id.clone())
                .or_default()
                .push((l.ts, l.user_id.clone()));
        }
        for v in by_anonymous.values_mut() {
            v.sort();
            v.dedup();
        }
        Identities { by_anonymous }
    }

    /// The person an event of `visitor_id` at `ts` (ms) belongs to: the user of the latest
    /// link at or before `ts`, the first link's user before any, else the visitor id itself.
    pub fn person<'a>(&'a self, visitor_id: &'a str, ts: i64) -> &'a str {
        match self.by_anonymous.get(visitor_id) {
            None => visitor_id,
            Some(v) => {
                let i = v.partition_point(|(at, _)| *at <= ts);
                &v[i.saturating_sub(1)].1
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(id: &str, anon: &str, user: &str, ts: i64) -> Link {
        Link {
            id: id.into(),
            anonymous_id: anon.into(),
            user_id: user.into(),
            ts,
        }
    }

    /// Each case: links, then (visitor, ts, expected person) questions.
    #[test]
    fn identity_cases_c9() {
        type Case = (&'static str, Vec<Link>, Vec<(&'static str, i64, &'static str)>);
        let mut cases: Vec<Case> = vec![
            (
                "a plain identify links the anonymous visitor, before and after",
                vec![link("l1", "a-1", "alice", 100)],
                vec![
                    ("a-1", 50, "alice"),
                    ("a-1", 100, "alice"),
                    ("a-1", 500, "alice"),
                    ("a-2", 500, "a-2"),
                ],
            ),
            (
                "C9: carol then dave on one shared anonymous id stay two people",
                vec![link("l1", "a-123", "carol", 100), link("l2", "a-123", "dave", 200)],
                vec![
                    ("a-123", 50, "carol"),
                    ("a-123", 150, "carol"),
                    ("a-123", 200, "dave"),
                    ("a-123", 900, "dave"),
                    ("carol", 900, "carol"),
                    ("dave", 900, "dave"),
                ],
            ),
            (
                "links given out of order are ordered by time",
                vec![link("l2", "a-123", "dave", 200), link("l1", "a-123", "carol", 100)],
                vec![("a-123", 150, "carol"), ("a-123", 250, "dave")],
            ),
            (
                "an identified user is never merged into another through a link",
                vec![link("l1", "a-1", "alice", 100), link("l2", "alice", "bob", 200)],
                vec![("alice", 300, "alice"), ("a-1", 300, "alice"), ("bob", 300, "bob")],
            ),
            (
                "a link to itself changes nothing",
                vec![link("l1", "u-1", "u-1", 100)],
                vec![("u-1", 300, "u-1")],
            ),
        ];
        // C9: junk on either side never links (alice and bob through "undefined" stay apart).
        for junk in JUNK_IDS.iter().copied().chain([" undefined ", "NULL", "none", "nan"]) {
            let leak: &'static str = Box::leak(junk.to_string().into_boxed_str());
            cases.push((
                "junk anonymous id",
                vec![link("l1", leak, "alice", 100), link("l2", leak, "bob", 200)],
                vec![(leak, 300, leak), ("alice", 300, "alice"), ("bob", 300, "bob")],
            ));
            cases.push((
                "junk user id",
                vec![link("l1", "a-9", leak, 100)],
                vec![("a-9", 300, "a-9")],
            ));
        }
        for (name, links, questions) in cases {
            let ids = Identities::from_links(&links, &HashSet::new());
            for (visitor, ts, want) in questions {
                assert_eq!(ids.person(visitor, ts), want, "{name}: {visitor:?} at {ts}");
            }
        }
    }

    #[test]
    fn an_undone_link_is_as_if_never_made() {
        let links = vec![link("l1", "a-123", "carol", 100), link("l2", "a-123", "dave", 200)];
        let undone: HashSet<String> = ["l2".to_string()].into();
        let ids = Identities::from_links(&links, &undone);
        assert_eq!(ids.person("a-123", 900), "carol");
        let undone: HashSet<String> = ["l1".to_string(), "l2".to_string()].into();
        assert_eq!(Identities::from_links(&links, &undone).person("a-123", 900), "a-123");
    }

    #[test]
    fn junk_ids_are_the_c9_list() {
        for j in JUNK_IDS {
            assert!(is_junk_id(j), "{j:?}");
        }
        for ok in ["a-123", "0a", "null-user", "alice@example.com"] {
            assert!(!is_junk_id(ok), "{ok:?}");
        }
    }
}
