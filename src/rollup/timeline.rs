//! One session as a timeline (`GET /v1/sites/{key}/sessions/{id}`): its page views, clicks,
//! survey answers, feedback and custom events in session order, each flagged with the same
//! definitions the rollups count with. Pure: the events come from the warehouse's
//! per-session read ([`crate::warehouse::Warehouse::session_events`]).
//!
//! Definitions reused, never re-implemented: sessions and page views from
//! [`super::sessionize`] (so `split` is the rollup's split), rage and dead clicks from the
//! rollup's click facts (a rage burst counts once, on its first click, as in `/heatmap` and
//! `/problems`), quick backs, scroll depth (deepest scroll of the page view, rounded to
//! 0.1 %) and zone exposure (`rules.zone_exposure_ms` of summed `visible_ms`) as the zone
//! rows count them. Time on page is defined here (docs/analytics.md, "Session timeline").

use std::collections::HashMap;

use serde::Serialize;

use super::definitions::{anchor, click_facts, is_quick_back, scroll_of, ClickFact};
use super::zones::zone_views;
use super::{Rules, Session};
use crate::event::{DeviceClass, Event, Payload};

/// One session's timeline. Times are ms since the Unix epoch (UTC), offsets and durations ms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    /// The snippet's session id.
    pub session: String,
    /// The server-side part of it (0, 1, …), as in the sessions list.
    pub split: u32,
    pub visitor_id: String,
    /// Event time of the first and of the last event.
    pub start: i64,
    pub end: i64,
    /// `end - start`.
    pub duration_ms: i64,
    /// Device class of the first page view (of the first event without one).
    pub device: DeviceClass,
    /// Any event flagged as a bot.
    pub bot: bool,
    /// Page keys of the first and last page views.
    pub entry_page: String,
    pub exit_page: String,
    /// Page views with a pageview event, clicks, rage clicks (bursts) and dead clicks: the
    /// sessions list's numbers for this session.
    pub pageviews: u32,
    pub clicks: u32,
    pub rage_clicks: u32,
    pub dead_clicks: u32,
    /// In session order (`(ts, seq, id)`).
    pub events: Vec<Item>,
}

/// One entry of a [`Timeline`]: what happened ([`What`], its `type` and fields flattened into
/// the entry) `offset_ms` after the session's start, at `ts`, on page `page` (the page key of
/// the page view it belongs to).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    pub offset_ms: i64,
    pub ts: i64,
    /// The event's time on the client's own clock, as sent (before clock-skew correction),
    /// ms: the clock a replay recording's timestamps are on.
    pub client_ts: i64,
    pub page: String,
    #[serde(flatten)]
    pub what: What,
}

/// What a timeline [`Item`] tells. Scroll, zone and replay events are not entries: scroll
/// depth and zones seen are told on their page view's entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum What {
    /// A page view (placed at its pageview event; a page view whose pageview event never
    /// arrived, `synthetic`, at its first event).
    Pageview {
        /// The URL of the pageview event (of the first event for a synthetic page view).
        url: String,
        title: Option<String>,
        referrer: Option<String>,
        synthetic: bool,
        /// Until the next page view of the session starts, or for the last page view until
        /// the session's last event, ms.
        time_on_page_ms: i64,
        /// Deepest scroll, percent of the document height, rounded to 0.1 (0 without scroll
        /// events).
        scroll_depth: f64,
        /// Zones exposed (summed `visible_ms` ≥ `rules.zone_exposure_ms`), by name.
        zones_seen: Vec<String>,
        /// Left for the previous page within `rules.quick_back_ms`.
        quick_back: bool,
    },
    /// A click, with its normalised selector and zone (`None` without one).
    Click {
        selector: String,
        /// The element's visible text as the client sent it (`None`: not sent).
        text: Option<String>,
        zone: Option<String>,
        /// The first click of a rage burst: the rage click the rollups count.
        rage: bool,
        /// On a rage click, the clicks in its burst; 0 otherwise.
        rage_burst: u32,
        dead: bool,
        /// Time until the page reacted, ms (`None`: no reaction within the snippet's window).
        reaction_ms: Option<u32>,
    },
    /// A `sightline.track(name, props)` call; `props` as sent (JSON).
    Custom { name: String, props: serde_json::Value },
    /// A survey answer (`type` `survey_response`: `survey_id`, `question_id`, `kind`, `value`,
    /// `trigger`) or a feedback-button submission (`type` `feedback`: `rating` 1..5, ≤ 2
    /// negative, `comment`, `category`, `selector`), or a survey shown (`survey_shown`:
    /// `survey_id`, `trigger`) or closed unfinished (`survey_dismissed`: `survey_id`,
    /// `question_id`, `trigger`): the event's payload as stored.
    #[serde(untagged)]
    Sent(Payload),
}

/// The timeline of server-side session `split` of snippet session `session_id`, from every
/// stored event of that snippet session (`events`, any order, other sessions ignored);
/// `None` when the session has no such split.
pub fn session_timeline(events: &[Event], session_id: &str, split: u32, rules: &Rules) -> Option<Timeline> {
    let key = super::session_key(session_id, split);
    let sessions = super::sessionize(events, rules);
    let s = sessions.iter().find(|s| s.session_id == session_id && s.key == key)?;
    Some(timeline_of(s, split, rules))
}

/// A page view's click facts, keyed by click event id.
type Facts<'a> = HashMap<&'a str, ClickFact<'a>>;

fn timeline_of(s: &Session, split: u32, rules: &Rules) -> Timeline {
    let mut anchors: HashMap<&str, usize> = HashMap::new();
    let mut of_event: HashMap<&str, usize> = HashMap::new();
    let mut facts: Facts = HashMap::new();
    let (mut clicks, mut rage_clicks, mut dead_clicks) = (0u32, 0u32, 0u32);
    for (i, pv) in s.pageviews.iter().enumerate() {
        if let Some(a) = anchor(pv) {
            anchors.insert(a.id.as_str(), i);
        }
        for e in &pv.events {
            of_event.insert(e.id.as_str(), i);
        }
        for f in click_facts(pv, rules) {
            clicks += 1;
            rage_clicks += u32::from(f.rage);
            dead_clicks += u32::from(f.dead);
            facts.insert(f.event.id.as_str(), f);
        }
    }
    let page_of = |e: &Event| {
        of_event
            .get(e.id.as_str())
            .map_or_else(|| e.page_key.clone(), |i| s.pageviews[*i].page_key.clone())
    };
    let mut items = Vec::new();
    for &e in &s.events {
        if let Some(&i) = anchors.get(e.id.as_str()) {
            let pv = &s.pageviews[i];
            let next = s.pageviews.get(i + 1).map_or(s.end, |n| n.ts);
            let (title, referrer) = match pv.pageview.map(|p| &p.payload) {
                Some(Payload::Pageview { title, referrer, .. }) => (title.clone(), referrer.clone()),
                _ => (None, None),
            };
            items.push(Item {
                offset_ms: pv.ts - s.start,
                ts: pv.ts,
                client_ts: e.client_ts,
                page: pv.page_key.clone(),
                what: What::Pageview {
                    url: e.url.clone(),
                    title,
                    referrer,
                    synthetic: pv.pageview.is_none(),
                    time_on_page_ms: next - pv.ts,
                    scroll_depth: scroll_of(pv).0,
                    zones_seen: zone_views(pv, std::iter::empty::<String>())
                        .into_iter()
                        .filter(|(_, v)| v.visible_ms >= u64::from(rules.zone_exposure_ms))
                        .map(|(z, _)| z)
                        .collect(),
                    quick_back: pv.pageview.is_some() && is_quick_back(&s.pageviews, i, rules),
                },
            });
        }
        let what = match &e.payload {
            Payload::Click { reaction_ms, text, .. } => facts.get(e.id.as_str()).map(|f| What::Click {
                selector: f.selector.to_string(),
                text: text.clone(),
                zone: (!f.zone.is_empty()).then(|| f.zone.to_string()),
                rage: f.rage,
                rage_burst: f.rage_burst,
                dead: f.dead,
                reaction_ms: *reaction_ms,
            }),
            Payload::SurveyResponse { .. }
            | Payload::SurveyShown { .. }
            | Payload::SurveyDismissed { .. }
            | Payload::Feedback { .. } => Some(What::Sent(e.payload.clone())),
            Payload::Custom { name, props_json } => Some(What::Custom {
                name: name.clone(),
                props: serde_json::from_str(props_json).unwrap_or(serde_json::Value::Null),
            }),
            Payload::Pageview { .. }
            | Payload::Scroll { .. }
            | Payload::Zone { .. }
            | Payload::Replay { .. }
            | Payload::ReplayChunk(_) => None,
        };
        if let Some(what) = what {
            items.push(Item {
                offset_ms: e.ts - s.start,
                ts: e.ts,
                client_ts: e.client_ts,
                page: page_of(e),
                what,
            });
        }
    }
    Timeline {
        session: s.session_id.clone(),
        split,
        visitor_id: s.visitor_id.clone(),
        start: s.start,
        end: s.end,
        duration_ms: s.end - s.start,
        device: s.device,
        bot: s.bot,
        entry_page: s.pageviews.first().map(|p| p.page_key.clone()).unwrap_or_default(),
        exit_page: s.pageviews.last().map(|p| p.page_key.clone()).unwrap_or_default(),
        pageviews: s.pageviews.iter().filter(|p| p.pageview.is_some()).count() as u32,
        clicks,
        rage_clicks,
        dead_clicks,
        events: items,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollup::definitions::tests::{at, click, pageview};

    fn kinds(t: &Timeline) -> Vec<(i64, &str, &str)> {
        t.events
            .iter()
            .map(|i| {
                let kind = match &i.what {
                    What::Pageview { synthetic: true, .. } => "synthetic pageview",
                    What::Pageview { quick_back: true, .. } => "pageview, quick back",
                    What::Pageview { .. } => "pageview",
                    What::Click { .. } => "click",
                    _ => "other",
                };
                (i.offset_ms, i.page.as_str(), kind)
            })
            .collect()
    }

    #[test]
    fn a_page_view_without_its_pageview_event_and_a_repeated_pageview_event_each_show_once() {
        let t0 = at(10, 0);
        // A click before any pageview event: a synthetic page view of its page. Then a page
        // view of /a whose pageview event came twice within 500 ms (merged), and a click on it.
        let events = vec![
            click("c0", t0, 10.0, 10.0, "#menu"),
            pageview("p1", t0 + 1_000, "shop.example/a"),
            pageview("p1b", t0 + 1_200, "shop.example/a"),
            click("c1", t0 + 2_000, 10.0, 10.0, "#buy"),
        ];
        let t = session_timeline(&events, "s", 0, &Rules::default()).unwrap();
        assert_eq!(
            kinds(&t),
            vec![
                (0, "shop.example/", "synthetic pageview"),
                (0, "shop.example/", "click"),
                (1_000, "shop.example/a", "pageview"),
                (2_000, "shop.example/a", "click"),
            ]
        );
        let times: Vec<i64> = t
            .events
            .iter()
            .filter_map(|i| match i.what {
                What::Pageview { time_on_page_ms, .. } => Some(time_on_page_ms),
                _ => None,
            })
            .collect();
        assert_eq!(times, vec![1_000, 1_000]);
        assert_eq!(
            (t.pageviews, t.clicks, t.entry_page.as_str(), t.exit_page.as_str()),
            (1, 2, "shop.example/", "shop.example/a")
        );
        assert_eq!(session_timeline(&events, "s", 1, &Rules::default()), None);
        assert_eq!(session_timeline(&events, "other", 0, &Rules::default()), None);
    }

    #[test]
    fn a_page_left_for_the_previous_one_within_10_s_is_a_quick_back() {
        let t0 = at(10, 0);
        let events = vec![
            pageview("a", t0, "shop.example/"),
            pageview("b", t0 + 5_000, "shop.example/b"),
            pageview("c", t0 + 8_000, "shop.example/"),
        ];
        let t = session_timeline(&events, "s", 0, &Rules::default()).unwrap();
        assert_eq!(
            kinds(&t),
            vec![
                (0, "shop.example/", "pageview"),
                (5_000, "shop.example/b", "pageview, quick back"),
                (8_000, "shop.example/", "pageview"),
            ]
        );
    }
}
