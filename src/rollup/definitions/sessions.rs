//! Sessions and page views rebuilt from raw events (analytics.md, "Sessions", "Page view
//! dedup"): [`sessionize`], on event time, `(ts, seq, id)` order.

use super::*;

/// One page view of a [`Session`], rebuilt from raw events.
///
/// A `pageview` event starts it; repeated `pageview` events of the same page key within
/// `pageview_dedup_ms` are merged into it (analytics.md, "Page view dedup"; case A1).
#[derive(Debug, Clone, PartialEq)]
pub struct PageView<'a> {
    /// The snippet's page view id (`pageview_id` of the pageview event, else its event id);
    /// for a synthetic page view, the first event's `pageview_id` or `synthetic:<event id>`.
    pub id: String,
    /// Canonical page key (analytics.md, "Page key").
    pub page_key: String,
    /// Event time of the page view (its first pageview event, or the first event of a
    /// synthetic page view), ms.
    pub ts: i64,
    /// Device class of the pageview event (of the first event for a synthetic page view).
    pub device: DeviceClass,
    /// Viewport of the pageview event (of the first event for a synthetic page view), CSS px.
    pub viewport: Option<Viewport>,
    /// The pageview event; `None` for a synthetic page view, made when events arrived for a
    /// page view whose pageview event we never got.
    pub pageview: Option<&'a Event>,
    /// The non-pageview events of this page view, ordered by `(ts, seq, id)`.
    pub events: Vec<&'a Event>,
}

impl PageView<'_> {
    /// The layout version its pageview event sent (analytics.md, "Layout versions"), ""
    /// when none (or a synthetic page view).
    pub fn layout(&self) -> &str {
        match self.pageview.map(|e| &e.payload) {
            Some(crate::event::Payload::Pageview { layout: Some(l), .. }) => l,
            _ => "",
        }
    }
}

/// One server-side session: events of one snippet session with no gap longer than
/// `session_gap_ms` and cut after `session_cap_ms`, on event time (analytics.md, "Session";
/// case I9).
#[derive(Debug, Clone, PartialEq)]
pub struct Session<'a> {
    /// `<session_id>#<n>`, n = 0, 1, … counting the server-side splits in time order.
    pub key: String,
    /// The snippet's session id.
    pub session_id: String,
    /// Visitor id of the first event.
    pub visitor_id: String,
    /// Event time of the first event, ms.
    pub start: i64,
    /// Event time of the last event, ms.
    pub end: i64,
    /// Device class of the first page view, else of the first event.
    pub device: DeviceClass,
    /// True when any event carries a `bot_reason`.
    pub bot: bool,
    /// All events (duplicate ids removed), ordered by `(ts, seq, id)`.
    pub events: Vec<&'a Event>,
    /// Page views in order; a synthetic page view, if any, comes first.
    pub pageviews: Vec<PageView<'a>>,
}

/// Position of an event inside a session: `(ts, seq, id)`, a missing `seq` first.
pub(in crate::rollup) type OrderKey<'e> = (i64, Option<u32>, &'e str);

/// The order of events inside a session: `(ts, seq, id)`, a missing `seq` first.
pub(in crate::rollup) fn order_key(e: &Event) -> OrderKey<'_> {
    (e.ts, e.seq, e.id.as_str())
}

fn is_pageview(e: &Event) -> bool {
    matches!(e.payload, Payload::Pageview { .. })
}

/// Rebuild sessions and page views from raw events (analytics.md, "Sessions and pages").
///
/// - Events with an id seen earlier in `events` are dropped (the first one is kept; I8).
/// - Events are grouped by `(site, session_id)` and ordered by `(ts, seq, id)`, `seq`
///   `None` first.
/// - A session is split before an event more than `session_gap_ms` after the previous one,
///   or at least `session_cap_ms` after the session's start (event time, never arrival
///   time, so late events join the session they belong to; I9), and, with
///   `split_at_midnight`, before an event on a later date in `time_zone` than the previous
///   one (00:00:00.000 belongs to the new day).
/// - A pageview event starts a page view unless it carries the id of an existing page view
///   of the session, or has the same page key as the previous pageview event and comes at
///   most `pageview_dedup_ms` after it (A1); then it is merged (its `pageview_id` becomes an
///   alias of the page view).
/// - Other events join the page view whose id (or alias) is their `pageview_id`; else the
///   latest page view at or before them; else a synthetic page view (`pageview: None`,
///   page key and device of that event, id = its `pageview_id` or `synthetic:<event id>`).
///
/// Sessions come out ordered by `(site, session_id, n)`.
pub fn sessionize<'a>(events: &'a [Event], rules: &Rules) -> Vec<Session<'a>> {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut groups: BTreeMap<(&str, &str), Vec<&'a Event>> = BTreeMap::new();
    for e in events {
        if seen.insert(e.id.as_str()) {
            groups
                .entry((e.site.as_str(), e.session_id.as_str()))
                .or_default()
                .push(e);
        }
    }

    let mut out = Vec::new();
    for ((_, session_id), mut evs) in groups {
        evs.sort_by(|a, b| order_key(a).cmp(&order_key(b)));
        let mut n = 0usize;
        let mut chunk: Vec<&'a Event> = Vec::new();
        for e in evs {
            if let (Some(first), Some(last)) = (chunk.first(), chunk.last()) {
                if e.ts - last.ts > rules.session_gap_ms
                    || e.ts - first.ts >= rules.session_cap_ms
                    || (rules.split_at_midnight
                        && crate::model::days::date_of(last.ts, rules.time_zone)
                            != crate::model::days::date_of(e.ts, rules.time_zone))
                {
                    out.push(build_session(session_id, n, std::mem::take(&mut chunk), rules));
                    n += 1;
                }
            }
            chunk.push(e);
        }
        if !chunk.is_empty() {
            out.push(build_session(session_id, n, chunk, rules));
        }
    }
    out
}

/// One session from its ordered, non-empty events.
fn build_session<'a>(session_id: &str, n: usize, events: Vec<&'a Event>, rules: &Rules) -> Session<'a> {
    // Page views in order; `starts[i]` is the index in `events` of page view i's first event.
    let mut pageviews: Vec<PageView<'a>> = Vec::new();
    let mut starts: Vec<usize> = Vec::new();
    // Page view id or alias -> index in `pageviews`.
    let mut by_id: HashMap<&'a str, usize> = HashMap::new();

    // Pass 1: pageview events start (or merge into) page views.
    let mut previous: Option<(&'a Event, usize)> = None;
    for (i, &e) in events.iter().enumerate() {
        if !is_pageview(e) {
            continue;
        }
        let own_id: &'a str = e.pageview_id.as_deref().unwrap_or(e.id.as_str());
        let merge_into = by_id.get(own_id).copied().or_else(|| {
            previous.and_then(|(prev, at)| {
                (prev.page_key == e.page_key && e.ts - prev.ts <= rules.pageview_dedup_ms).then_some(at)
            })
        });
        let at = match merge_into {
            Some(at) => at,
            None => {
                pageviews.push(PageView {
                    id: own_id.to_string(),
                    page_key: e.page_key.clone(),
                    ts: e.ts,
                    device: e.device,
                    viewport: e.viewport,
                    pageview: Some(e),
                    events: Vec::new(),
                });
                starts.push(i);
                pageviews.len() - 1
            }
        };
        by_id.entry(own_id).or_insert(at);
        previous = Some((e, at));
    }

    // Pass 2: other events join their page view. `real` counts the page views made in pass 1
    // (ordered by `starts`); a synthetic one is pushed after them and moved to the front at
    // the end: it can only be made before every real page view, so there is at most one.
    let real = pageviews.len();
    let mut reached = 0usize; // real page views starting at or before the current event
    let mut synthetic: Option<usize> = None;
    for (i, &e) in events.iter().enumerate() {
        if is_pageview(e) {
            continue;
        }
        while reached < real && starts[reached] <= i {
            reached += 1;
        }
        let by_own_id = e.pageview_id.as_deref().and_then(|id| by_id.get(id).copied());
        let latest = if reached > 0 { Some(reached - 1) } else { synthetic };
        let at = match by_own_id.or(latest) {
            Some(at) => at,
            None => {
                let id = e.pageview_id.clone().unwrap_or_else(|| format!("synthetic:{}", e.id));
                pageviews.push(PageView {
                    id,
                    page_key: e.page_key.clone(),
                    ts: e.ts,
                    device: e.device,
                    viewport: e.viewport,
                    pageview: None,
                    events: Vec::new(),
                });
                let at = pageviews.len() - 1;
                if let Some(id) = e.pageview_id.as_deref() {
                    by_id.insert(id, at);
                }
                synthetic = Some(at);
                at
            }
        };
        pageviews[at].events.push(e);
    }
    if synthetic.is_some() {
        pageviews.rotate_right(1);
    }

    let first = events[0];
    let last = events[events.len() - 1];
    Session {
        key: crate::rollup::session_key(session_id, n as u32),
        session_id: session_id.to_string(),
        visitor_id: first.visitor_id.clone(),
        start: first.ts,
        end: last.ts,
        device: pageviews.first().map_or(first.device, |p| p.device),
        bot: events.iter().any(|e| e.bot_reason.is_some()),
        events,
        pageviews,
    }
}

/// The segment of each snippet session of `sessions` (docs/analytics.md, "Segments"), by
/// snippet session id: the channel, referrer host and UTM of its first page view (in
/// `(ts, seq, id)` order, over all its server-side sessions), the browser, OS and language
/// of its first event that carries them. Every server-side session of a snippet session
/// gets this one segment, so a filter keeps or drops the snippet session's rows together.
pub fn segments_of<'s>(sessions: &'s [Session<'_>]) -> HashMap<&'s str, SessionSegment> {
    let mut out: HashMap<&'s str, (SessionSegment, bool, bool)> = HashMap::new();
    for s in sessions {
        let (seg, has_source, has_client) = out.entry(s.session_id.as_str()).or_default();
        if !*has_source {
            let first = s
                .pageviews
                .iter()
                .filter_map(|pv| pv.pageview)
                .min_by(|a, b| order_key(a).cmp(&order_key(b)));
            if let Some(e) = first {
                *has_source = true;
                let src = e.source.as_deref().cloned().unwrap_or_default();
                seg.channel = src.channel.as_str().to_string();
                seg.referrer = src.referrer_host;
                seg.utm_source = src.utm_source;
                seg.utm_medium = src.utm_medium;
                seg.utm_campaign = src.utm_campaign;
            }
        }
        if !*has_client {
            if let Some(c) = s.events.iter().find_map(|e| e.client.as_deref()) {
                *has_client = true;
                seg.browser = c.browser.clone();
                seg.os = c.os.clone();
                seg.language = c.language.clone();
            }
        }
    }
    out.into_iter().map(|(k, (seg, _, _))| (k, seg)).collect()
}
