//! Element text (issue 21): every report that lists elements gives the element's visible
//! text beside its selector, the text of its most recent click that sent one
//! (docs/analytics.md, "Element text"), in both stores, through a recompute and an erasure.

use crate::common::*;
use crate::harness::Server;
use serde_json::{json, Value};

const URL: &str = "https://shop.example/cart";
const PAGE: &str = "shop.example/cart";

fn range() -> String {
    let d = |n: i64| (today() + chrono::Duration::days(n)).to_string();
    format!("from={}&to={}", d(-1), d(1))
}

fn pageview(session: &str, ts: i64) -> Value {
    event(
        "pageview",
        session,
        URL,
        ts,
        json!({"pageview_id": format!("pv-{session}")}),
    )
}

/// A click on `selector` with its visible `text` (none when `None`) and a reaction
/// (`reacted`) or none (a dead click).
fn click(session: &str, ts: i64, selector: &str, text: Option<&str>, reacted: bool) -> Value {
    let mut e = event(
        "click",
        session,
        URL,
        ts,
        json!({"pageview_id": format!("pv-{session}"), "x": 100, "y": 200, "selector": selector}),
    );
    if let Some(t) = text {
        e["text"] = json!(t);
    }
    if reacted {
        e["reaction_ms"] = json!(20);
    }
    e
}

/// (selector, text, clicks) of the heatmap's elements, by selector.
fn heatmap(s: &Server) -> Vec<(String, Value, u64)> {
    let h = s.get(&format!("/v1/sites/txt/heatmap?url={PAGE}&{}", range()));
    let mut v: Vec<_> = h["elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["selector"].as_str().unwrap().to_string(),
                e["text"].clone(),
                e["clicks"].as_u64().unwrap(),
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Hand-computed: s1 clicks `#buy` with "Buy" at t+1 s; s2 with "Buy now" at t+11 s and
/// without text at t+20 s: `#buy` shows "Buy now" (the most recent click with a text). s3
/// rage-clicks (3 unanswered clicks 200 ms apart) `div.card > a.pay` "Pay" and clicks
/// `#nolabel` (no text: `null`). A later click of s1 with "Buy it" (t+30 s, a recompute of
/// s1) makes it "Buy it"; erasing s1's visitor brings back "Buy now".
#[test]
fn elements_show_the_text_of_their_most_recent_click() {
    let s = Server::start(&[]);
    s.site("txt", &["https://shop.example"]);
    let t = now_ms() - 600_000;
    let evs = vec![
        pageview("s1", t),
        click("s1", t + 1_000, "#buy", Some("Buy"), true),
        pageview("s2", t + 10_000),
        click("s2", t + 11_000, "#buy", Some("Buy now"), true),
        click("s2", t + 20_000, "#buy", None, true),
        pageview("s3", t + 40_000),
        click("s3", t + 41_000, "div.card > a.pay", Some("Pay"), false),
        click("s3", t + 41_200, "div.card > a.pay", Some("Pay"), false),
        click("s3", t + 41_400, "div.card > a.pay", Some("Pay"), false),
        click("s3", t + 45_000, "#nolabel", None, true),
    ];
    let n = evs.len() as u64;
    let (st, body) = s.post(&batch("txt", evs));
    assert_eq!(st, 202, "{body}");
    s.settle("txt", n);
    assert_eq!(
        heatmap(&s),
        vec![
            ("#buy".to_string(), json!("Buy now"), 3),
            ("#nolabel".to_string(), Value::Null, 1),
            ("div.card > a.pay".to_string(), json!("Pay"), 3),
        ]
    );
    // /problems: the rage + dead element with its text.
    let p = s.get(&format!("/v1/sites/txt/problems?{}", range()));
    assert_eq!(
        p["elements"],
        json!([{"page": PAGE, "selector": "div.card > a.pay", "text": "Pay", "zone": null,
                "rage_clicks": 1, "dead_clicks": 3, "sessions": 1, "score": 4}]),
        "{p}"
    );
    // The sessions list: each session's elements with the element's text.
    let list = s.get(&format!("/v1/sites/txt/sessions?{}", range()));
    let els: Vec<(String, Value)> = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["session"].as_str().unwrap().to_string(), x["elements"].clone()))
        .collect();
    assert_eq!(
        els,
        vec![
            (
                "s3".to_string(),
                json!([
                    {"page": PAGE, "selector": "#nolabel", "text": null, "zone": null, "clicks": 1, "rage_clicks": 0, "dead_clicks": 0},
                    {"page": PAGE, "selector": "div.card > a.pay", "text": "Pay", "zone": null, "clicks": 3, "rage_clicks": 1, "dead_clicks": 3},
                ])
            ),
            (
                "s2".to_string(),
                json!([{"page": PAGE, "selector": "#buy", "text": "Buy now", "zone": null, "clicks": 2, "rage_clicks": 0, "dead_clicks": 0}])
            ),
            (
                "s1".to_string(),
                json!([{"page": PAGE, "selector": "#buy", "text": "Buy now", "zone": null, "clicks": 1, "rage_clicks": 0, "dead_clicks": 0}])
            ),
        ]
    );
    // Impact entries of element signals carry the text too.
    let r = s
        .http
        .patch(s.url("/v1/sites/txt"))
        .bearer_auth(TOKEN)
        .json(&json!({"settings": {"rules": {"goal": "event:purchase"}}}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let p = s.get(&format!("/v1/sites/txt/problems?sort=impact&{}", range()));
    let texts: Vec<(&str, &Value)> = p["impact"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["signal"].as_str().unwrap(), &i["text"]))
        .collect();
    assert_eq!(
        texts,
        vec![("rage_click", &json!("Pay")), ("dead_click", &json!("Pay"))],
        "{p}"
    );

    // A newer text on s1: its recompute makes it the element's text.
    let (st, body) = s.post(&batch(
        "txt",
        vec![click("s1", t + 30_000, "#buy", Some("Buy it"), true)],
    ));
    assert_eq!(st, 202, "{body}");
    s.settle("txt", n + 1);
    assert_eq!(heatmap(&s)[0], ("#buy".to_string(), json!("Buy it"), 4));

    // Erasing s1's visitor: its text goes with it, the most recent of the others is back.
    let r = s
        .http
        .post(s.url("/v1/sites/txt/forget"))
        .bearer_auth(TOKEN)
        .json(&json!({"visitor": "v-s1"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    s.settle("txt", n - 2);
    assert_eq!(heatmap(&s)[0], ("#buy".to_string(), json!("Buy now"), 2));
}
