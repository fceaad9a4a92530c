//! Tests of the definitions, one file per concept; the event builders here are shared with
//! the other rollup tests.

use super::*;

mod clicks;
mod journeys;
mod pages;
mod sessions;
mod voc;
use crate::rollup::{day_of, DAY_MS};

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
/// 2025-06-01 00:00 UTC.
const DAY: i64 = 20_240 * DAY_MS;

pub(in crate::rollup) fn at(h: i64, m: i64) -> i64 {
    DAY + h * HOUR + m * MIN
}

pub(in crate::rollup) fn event(id: &str, ts: i64, payload: Payload) -> Event {
    Event {
        client: None,
        source: None,
        id: id.to_string(),
        site: "site".to_string(),
        ts,
        client_ts: ts,
        received_at: ts,
        skew_rule: "none".to_string(),
        session_id: "s".to_string(),
        visitor_id: "v".to_string(),
        url: "https://shop.example/".to_string(),
        page_key: "shop.example/".to_string(),
        viewport: Some(Viewport { w: 1280, h: 800 }),
        seq: None,
        pageview_id: None,
        device: DeviceClass::Desktop,
        bot_reason: None,
        request_id: "r".to_string(),
        payload,
    }
}

pub(in crate::rollup) fn pageview(id: &str, ts: i64, page: &str) -> Event {
    let mut e = event(
        id,
        ts,
        Payload::Pageview {
            referrer: None,
            title: None,
            screen: None,
            layout: None,
        },
    );
    e.page_key = page.to_string();
    e.pageview_id = Some(format!("pv-{id}"));
    e
}

pub(in crate::rollup) fn click(id: &str, ts: i64, x: f64, y: f64, selector: &str) -> Event {
    event(
        id,
        ts,
        Payload::Click {
            x,
            y,
            selector: selector.to_string(),
            el: None,
            tag: Some("button".to_string()),
            zone: None,
            reaction_ms: Some(100),
            keyboard: false,
            modifier: false,
            navigates: false,
            input_type: None,
            tracker: None,
            text: None,
        },
    )
}

fn click_on(id: &str, ts: i64, selector: &str, change: impl FnOnce(&mut Payload)) -> Event {
    let mut e = click(id, ts, 100.0, 100.0, selector);
    change(&mut e.payload);
    e
}

fn no_reaction(p: &mut Payload) {
    if let Payload::Click { reaction_ms, .. } = p {
        *reaction_ms = None;
    }
}

fn scroll(id: &str, ts: i64, depth: f64, doc_h: Option<u32>) -> Event {
    event(id, ts, Payload::Scroll { depth, doc_h })
}

fn custom(id: &str, ts: i64, name: &str) -> Event {
    event(
        id,
        ts,
        Payload::Custom {
            name: name.to_string(),
            props_json: "{}".to_string(),
        },
    )
}

fn survey(id: &str, ts: i64, kind: SurveyKind, value: Answer) -> Event {
    event(
        id,
        ts,
        Payload::SurveyResponse {
            survey_id: "exit".to_string(),
            question_id: "q1".to_string(),
            kind,
            value,
            trigger: None,
        },
    )
}

fn in_session(mut e: Event, session: &str) -> Event {
    e.session_id = session.to_string();
    e.visitor_id = format!("visitor-{session}");
    e
}

fn starts(sessions: &[Session]) -> Vec<(String, i64, usize)> {
    sessions
        .iter()
        .map(|s| (s.key.clone(), s.start, s.events.len()))
        .collect()
}

fn counts(values: &[(&str, u64)]) -> BTreeMap<String, u64> {
    values.iter().map(|&(v, n)| (v.to_string(), n)).collect()
}
