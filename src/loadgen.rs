//! Synthetic traffic for the benches (`benches/`), the load harness (`scripts/load`) and its
//! floors: realistic `POST /v1/events` batch bodies as the snippet sends them (api.md).
//!
//! A batch holds whole browser sessions of [`EVENTS_PER_SESSION`] events each (the last one
//! may be shorter): a session visits a few pages of a 200-page site (some URLs carry
//! tracking parameters), and on each page view sends clicks (some in rage bursts, some dead,
//! some in zones), scroll depths, zone exposure, and now and then a custom event, a survey
//! answer, a feedback rating or a replay summary: every event type of api.md occurs.
//!
//! Every event id, session id, visitor id and page view id of a batch starts with the
//! batch's 8-hex-digit `tag`, and nothing else in the body contains it, so a load generator
//! can make fresh ids per request by replacing the tag (`scripts/load`'s wrk script does);
//! the rest of each id comes from the batch number and event position, so bodies made with
//! different `batch_no`s never share an id either.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// Events per simulated session in a batch.
pub const EVENTS_PER_SESSION: usize = 25;

/// The tag of the bodies written for a load generator to replace (see the module docs).
pub const TEMPLATE_TAG: &str = "5e1f7a90";

const SELECTORS: [&str; 10] = [
    "nav > a.nav-link",
    "section#pricing > button.buy",
    "div.card > a.btn-primary",
    "form#search > input.query",
    "footer > a.social",
    "div.gallery > img.thumb",
    "header > button.menu",
    "ul.list-group > li.item",
    "div.modal > button.close",
    "aside > a.related",
];

/// Deterministic generator of batches for one site (seeded, so runs are comparable).
pub struct TrafficGen {
    rng: StdRng,
    pages: Vec<String>,
}

impl TrafficGen {
    /// A generator over a 200-page site `https://shop.example`.
    pub fn new(seed: u64) -> TrafficGen {
        let mut pages = vec![
            "https://shop.example/".to_string(),
            "https://shop.example/pricing".to_string(),
        ];
        for i in 0..198 {
            let section = ["products", "blog", "docs", "help"][i % 4];
            let mut u = format!("https://shop.example/{section}/item-{i}");
            if i % 7 == 0 {
                u.push_str("?utm_source=newsletter&utm_medium=email");
            } else if i % 11 == 0 {
                u.push_str("?color=blue&size=m");
            }
            pages.push(u);
        }
        TrafficGen {
            rng: StdRng::seed_from_u64(seed),
            pages,
        }
    }

    /// One batch body `{site, sent_at, events}` of `n_events` events, timed just before
    /// `now_ms` (ms). `tag`: 8 hex digits starting every id (module docs); `batch_no` makes
    /// ids distinct between batches of the same tag.
    pub fn batch(&mut self, site: &str, tag: &str, batch_no: u32, n_events: usize, now_ms: i64) -> Value {
        let mut events = Vec::with_capacity(n_events);
        let mut s = 0;
        while events.len() < n_events {
            let n = EVENTS_PER_SESSION.min(n_events - events.len());
            self.session(&mut events, tag, batch_no, s, n, now_ms);
            s += 1;
        }
        json!({"site": site, "sent_at": now_ms, "events": events})
    }

    /// Page index: a skewed pick (the home page and pricing are the most visited).
    fn page(&mut self) -> usize {
        let r: f64 = self.rng.random();
        ((r * r * r) * self.pages.len() as f64) as usize
    }

    fn session(&mut self, out: &mut Vec<Value>, tag: &str, batch_no: u32, s: usize, n: usize, now_ms: i64) {
        let start = out.len();
        let session_id = format!("s-{tag}-{batch_no:x}-{s}");
        let visitor_id = format!("v-{tag}-{batch_no:x}-{s}");
        let vw = [(1280u32, 720u32), (1920, 1080), (390, 844), (820, 1180)][self.rng.random_range(0..4)];
        let mut ts = now_ms - 60_000 - self.rng.random_range(0..60_000);
        let mut pv = 0;
        while out.len() - start < n {
            let page = self.page();
            let url = self.pages[page].clone();
            let pageview_id = format!("pv-{tag}-{batch_no:x}-{s}-{pv}");
            let mut seq = 0u32;
            let mut push = |out: &mut Vec<Value>, mut ev: Value, ts: i64| {
                let i = out.len();
                let common = json!({
                    "id": format!("{tag}-{:04x}-7{:03x}-8000-{:012x}", batch_no & 0xffff, i & 0xfff, ((batch_no as u64) << 16) | i as u64),
                    "ts": ts, "session_id": session_id, "visitor_id": visitor_id, "url": url,
                    "viewport": {"w": vw.0, "h": vw.1}, "seq": seq, "pageview_id": pageview_id,
                });
                let obj = ev.as_object_mut().expect("event object");
                for (k, v) in common.as_object().expect("object") {
                    obj.insert(k.clone(), v.clone());
                }
                seq += 1;
                out.push(ev);
            };
            push(
                out,
                json!({"type": "pageview", "referrer": "https://search.example/?q=shop", "title": "Shop page", "screen": {"w": 1920, "h": 1080}}),
                ts,
            );
            let on_page = self.rng.random_range(4..9).min(n - (out.len() - start));
            for _ in 0..on_page {
                ts += self.rng.random_range(200..4000);
                let r: f64 = self.rng.random();
                let x = self.rng.random_range(0..vw.0) as f64;
                let y = self.rng.random_range(0..3000) as f64;
                let ev = if r < 0.5 {
                    let sel = SELECTORS[self.rng.random_range(0..SELECTORS.len())];
                    let reaction: Value = if self.rng.random_bool(0.85) {
                        json!(self.rng.random_range(20..800))
                    } else {
                        Value::Null
                    };
                    json!({"type": "click", "x": x, "y": y, "selector": sel,
                           "el": {"x": self.rng.random::<f64>(), "y": self.rng.random::<f64>()},
                           "tag": sel.rsplit(' ').next().unwrap_or("a").split(['.', '#']).next().unwrap_or("a"),
                           "zone": if sel.contains("pricing") { "pricing-cta" } else { "" },
                           "reaction_ms": reaction})
                } else if r < 0.75 {
                    json!({"type": "scroll", "depth": self.rng.random_range(0..=10) * 10, "doc_h": 4200})
                } else if r < 0.88 {
                    let zone = ["pricing-cta", "hero", "footer"][self.rng.random_range(0..3)];
                    json!({"type": "zone", "zone": zone,
                           "visible_ms": self.rng.random_range(0..10_000), "hover_ms": self.rng.random_range(0..2000)})
                } else if r < 0.93 {
                    json!({"type": "custom", "name": "signup", "props": {"plan": "pro"}})
                } else if r < 0.96 {
                    json!({"type": "survey_response", "survey_id": "exit-nps", "question_id": "q1", "kind": "nps",
                           "value": self.rng.random_range(0..=10), "trigger": "exit_intent"})
                } else if r < 0.99 {
                    json!({"type": "feedback", "rating": self.rng.random_range(1..=5),
                           "comment": "The checkout button did nothing, mail me at jane@example.com", "category": "bug",
                           "selector": "section#pricing > button.buy"})
                } else {
                    json!({"type": "replay", "recording_id": format!("r-{tag}-{batch_no:x}-{s}"), "started_at": ts - 30_000,
                           "ended_at": ts, "pages": pv + 1, "events": 420, "bytes": 18_000, "clicks": 9, "errors": 0})
                };
                push(out, ev, ts);
            }
            ts += self.rng.random_range(1000..20_000);
            pv += 1;
        }
    }
}

/// The accepted events of a batch body as ingest makes them (the same
/// [`crate::event::validate`] and [`crate::event::enrich`] calls, default page-key rules, no
/// bot), received at `received_at` (ms). Rejected events are left out.
pub fn accept(body: &Value, received_at: i64) -> Vec<crate::event::Event> {
    use crate::event::{enrich, validate};
    let site = body["site"].as_str().unwrap_or_default();
    let rules = enrich::PageKeyRules::default();
    let ctx = enrich::Context {
        oldest_ts: i64::MIN,
        received_at,
        skew: enrich::Skew::for_batch(body["sent_at"].as_i64(), received_at),
        bot_reason: None,
        page_keys: &rules,
        request_id: "loadgen",
        // One desktop Chrome visitor's request: every event has a browser, OS and language.
        client: Some(std::sync::Arc::new(crate::model::segment::Client {
            browser: "Chrome".into(),
            browser_version: "120".into(),
            os: "Windows 10".into(),
            os_version: "NT 10.0".into(),
            language: "en-us".into(),
        })),
    };
    let empty = Vec::new();
    let events = body["events"].as_array().unwrap_or(&empty);
    events
        .iter()
        .filter_map(|v| serde_json::value::to_raw_value(v).ok())
        .enumerate()
        .filter_map(|(i, raw)| validate::validate_event(i, &crate::event::wire::WireEvent::parse(&raw), site).ok())
        .map(|mut ok| {
            enrich::enrich(&mut ok.event, &ctx);
            ok.event
        })
        .collect()
}

/// The same events as a tracker would send them (`docs/compat.md`), for the compat
/// throughput phase of `scripts/load`: from a `/v1/events` body, the events `client` can
/// express — posthog-js: page views, clicks (`$autocapture`, no position), scroll
/// (`$pageleave`) and custom events; Segment: page views and custom events — as
/// (`/v1/events` body of just those events, the client's body). Ids are kept (posthog `uuid`,
/// Segment `messageId`), so [`TEMPLATE_TAG`] still starts every id.
pub fn as_client(body: &Value, client: &str, key: &str) -> (Value, Value) {
    let iso = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default()
    };
    let empty = Vec::new();
    let mut kept = Vec::new();
    let mut theirs = Vec::new();
    for e in body["events"].as_array().unwrap_or(&empty) {
        let (typ, ts) = (e["type"].as_str().unwrap_or(""), e["ts"].as_i64().unwrap_or(0));
        let mut props = json!({
            "token": key, "distinct_id": e["visitor_id"], "$device_id": e["visitor_id"],
            "$session_id": e["session_id"], "$current_url": e["url"], "$pageview_id": e["pageview_id"],
            "$viewport_width": e["viewport"]["w"], "$viewport_height": e["viewport"]["h"],
        });
        let ph = |event: &str, props: Value| json!({"uuid": e["id"], "event": event, "timestamp": iso(ts), "properties": props});
        let seg = |typ: &str, extra: Value| {
            let mut v = json!({"type": typ, "messageId": e["id"], "anonymousId": e["visitor_id"], "timestamp": iso(ts),
                               "context": {"page": {"url": e["url"], "title": e["title"]}}, "properties": {}});
            for (k, x) in extra.as_object().into_iter().flatten() {
                v[k] = x.clone();
            }
            v
        };
        let mapped = match (client, typ) {
            ("posthog", "pageview") => Some(ph("$pageview", props)),
            ("posthog", "click") => {
                // `section#pricing > button.buy` → `button.buy:nth-of-type="1";section:attr__id="pricing"`
                let sel = e["selector"].as_str().unwrap_or("");
                let steps: Vec<&str> = sel.split(" > ").collect();
                let chain: Vec<String> = steps
                    .iter()
                    .rev()
                    .map(|step| match step.split_once('#') {
                        Some((tag, id)) => format!("{tag}:attr__id=\"{id}\""),
                        None => format!("{step}:nth-of-type=\"1\""),
                    })
                    .collect();
                props["$event_type"] = json!("click");
                props["$elements_chain"] = json!(chain.join(";"));
                props["$el_text"] = json!("Buy");
                Some(ph("$autocapture", props))
            }
            ("posthog", "scroll") => {
                props["$prev_pageview_id"] = e["pageview_id"].clone();
                props["$prev_pageview_max_content_percentage"] = json!(e["depth"].as_f64().unwrap_or(0.0) / 100.0);
                Some(ph("$pageleave", props))
            }
            ("posthog", "custom") => {
                if let (Some(p), Some(o)) = (props.as_object_mut(), e["props"].as_object()) {
                    p.extend(o.clone());
                }
                Some(ph(e["name"].as_str().unwrap_or(""), props))
            }
            ("segment", "pageview") => Some(seg("page", json!({}))),
            ("segment", "custom") => Some(seg("track", json!({"event": e["name"], "properties": e["props"]}))),
            _ => None,
        };
        if let Some(m) = mapped {
            kept.push(e.clone());
            theirs.push(m);
        }
    }
    let v1 = json!({"site": body["site"], "sent_at": body["sent_at"], "events": kept});
    let client_body = match client {
        "segment" => json!({"writeKey": key, "sentAt": body["sent_at"].as_i64().map(iso), "batch": theirs}),
        _ => Value::Array(theirs),
    };
    (v1, client_body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_bodies_map_back_to_the_same_events() {
        let now = 1_764_412_800_000;
        let body = TrafficGen::new(9).batch("sl_bench", TEMPLATE_TAG, 1, 50, now);
        for client in ["posthog", "segment"] {
            let (v1, theirs) = as_client(&body, client, "k");
            let mapped = match client {
                "posthog" => crate::ingest::compat::posthog::map_body(theirs, None),
                _ => crate::ingest::compat::segment::map_body(theirs, None),
            }
            .unwrap_or_else(|_| panic!("{client} body maps"));
            let want = v1["events"].as_array().unwrap();
            assert!(want.len() >= 10, "{client}: {} events", want.len());
            assert_eq!(mapped.ignored, 0, "{client}");
            assert_eq!(mapped.events.len(), want.len(), "{client}");
            for (a, b) in mapped.events.iter().zip(want) {
                for f in ["id", "type", "ts", "url", "visitor_id"] {
                    assert_eq!(a[f], b[f], "{client} {f}: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn batches_are_valid_varied_and_tagged_only_in_ids() {
        let now = 1_764_412_800_000;
        let mut g = TrafficGen::new(7);
        let body = g.batch("sl_bench", TEMPLATE_TAG, 3, 50, now);
        let events = accept(&body, now);
        assert_eq!(events.len(), 50, "every generated event passes validation");
        let types: std::collections::BTreeSet<&str> = events.iter().map(|e| e.type_name()).collect();
        assert!(types.len() >= 4, "a mix of event types: {types:?}");
        let sessions: std::collections::BTreeSet<&str> = events.iter().map(|e| e.session_id.as_str()).collect();
        assert_eq!(sessions.len(), 2);
        let ids: std::collections::BTreeSet<&str> = events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids.len(), 50);
        // The tag occurs once per id, session, visitor, page view id (and recording id) only.
        let text = body.to_string();
        let tagged = text.matches(TEMPLATE_TAG).count();
        let expected: usize = body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| 4 + usize::from(e.get("recording_id").is_some()))
            .sum();
        assert_eq!(tagged, expected);
        // Another batch number: no id in common.
        let other = accept(&g.batch("sl_bench", TEMPLATE_TAG, 4, 50, now), now);
        assert!(other.iter().all(|e| !ids.contains(e.id.as_str())));
    }
}
