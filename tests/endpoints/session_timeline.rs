//! The session timeline (issue 22, `GET /v1/sites/{key}/sessions/{id}`), in either mode: a
//! hand-made session (two page views, clicks with a rage burst and a dead click, scroll,
//! zones, a survey answer, feedback, a custom event, and a second part after 31 idle
//! minutes) comes back as exactly the timeline computed by hand, reached from the sessions
//! list's `session` and `split`; bad `split` is a 400, unknown sessions and parts 404s.

use crate::common::*;
use crate::harness::Server;
use serde_json::{json, Value};

/// `GET /v1/sites/{SITE}/sessions/{id}` with every entry's `client_ts` checked and left out:
/// with no clock skew in these tests it is the entry's `ts`, as posted.
fn timeline(s: &Server, id: &str) -> Value {
    let mut t = s.get(&format!("/v1/sites/{SITE}/sessions/{id}"));
    for e in t["events"].as_array_mut().unwrap() {
        assert_eq!(e["client_ts"], e["ts"], "{e}");
        e.as_object_mut().unwrap().remove("client_ts");
    }
    t
}

const SITE: &str = "sl_timeline";
const HOME: &str = "https://shop.example/";
const PRICING: &str = "https://shop.example/pricing";

fn at(typ: &str, url: &str, t0: i64, offset: i64, extra: Value) -> Value {
    event(typ, "tl-1", url, t0 + offset, extra)
}

fn click(t0: i64, offset: i64, x: i64, selector: &str, extra: Value) -> Value {
    let mut c = json!({"x": x, "y": 300, "selector": selector, "pageview_id": "pv1"});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    at("click", HOME, t0, offset, c)
}

#[test]
fn a_session_reads_back_as_its_timeline() {
    let s = Server::start(&[]);
    s.site(SITE, &["https://shop.example"]);
    // Two hours ago, so the list's range (yesterday to tomorrow) holds it whatever the hour.
    let t0 = now_ms() - 2 * 3_600_000;
    let gap = 31 * 60_000;
    let events = vec![
        at(
            "pageview",
            HOME,
            t0,
            0,
            json!({"pageview_id": "pv1", "title": "Home", "referrer": "https://www.google.com/"}),
        ),
        at(
            "zone",
            HOME,
            t0,
            1_000,
            json!({"pageview_id": "pv1", "zone": "hero", "visible_ms": 400, "hover_ms": 0}),
        ),
        at(
            "zone",
            HOME,
            t0,
            1_100,
            json!({"pageview_id": "pv1", "zone": "footer", "visible_ms": 100, "hover_ms": 0}),
        ),
        at("scroll", HOME, t0, 2_000, json!({"pageview_id": "pv1", "depth": 62.34})),
        click(
            t0,
            3_000,
            100,
            "#buy",
            json!({"reaction_ms": 50, "zone": "hero", "text": "  Buy\n   now "}),
        ),
        // A rage burst: 4 clicks, 200 ms and at most 6 px apart; the page reacts each time.
        click(t0, 4_000, 500, "button.cart", json!({"reaction_ms": 30})),
        click(t0, 4_200, 502, "button.cart", json!({"reaction_ms": 30})),
        click(t0, 4_400, 504, "button.cart", json!({"reaction_ms": 30})),
        click(t0, 4_600, 506, "button.cart", json!({"reaction_ms": 30})),
        // A dead click: no reaction at all.
        click(t0, 6_000, 900, "img.promo", json!({})),
        at(
            "pageview",
            PRICING,
            t0,
            10_000,
            json!({"pageview_id": "pv2", "title": "Pricing"}),
        ),
        at(
            "scroll",
            PRICING,
            t0,
            11_000,
            json!({"pageview_id": "pv2", "depth": 100}),
        ),
        at(
            "survey_response",
            PRICING,
            t0,
            12_000,
            json!({"pageview_id": "pv2", "survey_id": "exit-nps", "question_id": "q1", "kind": "nps", "value": 9, "trigger": "exit_intent"}),
        ),
        at(
            "feedback",
            PRICING,
            t0,
            13_000,
            json!({"pageview_id": "pv2", "rating": 2, "category": "bug", "comment": "Prices do not load"}),
        ),
        at(
            "custom",
            PRICING,
            t0,
            14_000,
            json!({"pageview_id": "pv2", "name": "signup", "props": {"plan": "pro"}}),
        ),
        at(
            "click",
            PRICING,
            t0,
            20_000,
            json!({"pageview_id": "pv2", "x": 40, "y": 20, "selector": "a.home", "navigates": true}),
        ),
        // 31 minutes later: the session's second part (split 1).
        at("pageview", HOME, t0, 20_000 + gap, json!({"pageview_id": "pv3"})),
    ];
    assert_eq!(s.post(&batch(SITE, events)).0, 202);
    s.settle(SITE, 17);

    // The sessions list names the parts by `session` and `split`.
    let yesterday = today().pred_opt().unwrap();
    let range = format!("from={yesterday}&to={}", yesterday + chrono::Days::new(2));
    let list = s.get(&format!("/v1/sites/{SITE}/sessions?{range}"));
    let rows: Vec<(Value, Value)> = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["session"].clone(), r["split"].clone()))
        .collect();
    assert_eq!(rows, vec![(json!("tl-1"), json!(1)), (json!("tl-1"), json!(0))]);

    let t = timeline(&s, "tl-1");
    let pv = |offset: i64,
              page: &str,
              url: &str,
              title: Option<&str>,
              referrer: Option<&str>,
              time_on_page: i64,
              scroll: f64,
              zones: Value| {
        json!({"type": "pageview", "offset_ms": offset, "ts": t0 + offset, "page": page, "url": url,
               "title": title, "referrer": referrer, "synthetic": false, "time_on_page_ms": time_on_page,
               "scroll_depth": scroll, "zones_seen": zones, "quick_back": false})
    };
    let click = |offset: i64,
                 page: &str,
                 selector: &str,
                 zone: Option<&str>,
                 rage_burst: u32,
                 dead: bool,
                 reaction: Option<u32>| {
        json!({"type": "click", "offset_ms": offset, "ts": t0 + offset, "page": page, "selector": selector,
               "text": null, "zone": zone, "rage": rage_burst > 0, "rage_burst": rage_burst, "dead": dead, "reaction_ms": reaction})
    };
    let (home, pricing) = ("shop.example/", "shop.example/pricing");
    // The element text is kept, whitespace folded.
    let mut buy = click(3_000, home, "#buy", Some("hero"), 0, false, Some(50));
    buy["text"] = json!("Buy now");
    let expected = json!({
        "session": "tl-1", "split": 0, "visitor_id": "v-tl-1",
        "start": t0, "end": t0 + 20_000, "duration_ms": 20_000,
        "device": "desktop", "bot": false,
        "entry_page": home, "exit_page": pricing,
        "pageviews": 2, "clicks": 7, "rage_clicks": 1, "dead_clicks": 1,
        "replay": null,
        "events": [
            pv(0, home, HOME, Some("Home"), Some("https://www.google.com/"), 10_000, 62.3, json!(["hero"])),
            buy,
            click(4_000, home, "button.cart", None, 4, false, Some(30)),
            click(4_200, home, "button.cart", None, 0, false, Some(30)),
            click(4_400, home, "button.cart", None, 0, false, Some(30)),
            click(4_600, home, "button.cart", None, 0, false, Some(30)),
            click(6_000, home, "img.promo", None, 0, true, None),
            pv(10_000, pricing, PRICING, Some("Pricing"), None, 10_000, 100.0, json!([])),
            {"type": "survey_response", "offset_ms": 12_000, "ts": t0 + 12_000, "page": pricing,
             "survey_id": "exit-nps", "question_id": "q1", "kind": "nps", "value": 9.0, "trigger": "exit_intent"},
            {"type": "feedback", "offset_ms": 13_000, "ts": t0 + 13_000, "page": pricing,
             "rating": 2, "comment": "Prices do not load", "category": "bug", "selector": null},
            {"type": "custom", "offset_ms": 14_000, "ts": t0 + 14_000, "page": pricing,
             "name": "signup", "props": {"plan": "pro"}},
            click(20_000, pricing, "a.home", None, 0, false, None),
        ],
    });
    assert_eq!(t, expected);
    // `split=0` is the default; the session key form `tl-1#0` names the same part.
    assert_eq!(timeline(&s, "tl-1?split=0"), expected);
    assert_eq!(timeline(&s, "tl-1%230"), expected);

    // The second part, by `split` or by key.
    let second = json!({
        "session": "tl-1", "split": 1, "visitor_id": "v-tl-1",
        "start": t0 + 20_000 + gap, "end": t0 + 20_000 + gap, "duration_ms": 0,
        "device": "desktop", "bot": false, "entry_page": home, "exit_page": home,
        "pageviews": 1, "clicks": 0, "rage_clicks": 0, "dead_clicks": 0, "replay": null,
        "events": [{"type": "pageview", "offset_ms": 0, "ts": t0 + 20_000 + gap, "page": home, "url": HOME,
                    "title": null, "referrer": null, "synthetic": false, "time_on_page_ms": 0,
                    "scroll_depth": 0.0, "zones_seen": [], "quick_back": false}],
    });
    assert_eq!(timeline(&s, "tl-1?split=1"), second);
    assert_eq!(timeline(&s, "tl-1%231"), second);

    // Errors name the field.
    let status = |path: &str| -> (u16, Value) {
        let r = s.http.get(s.url(path)).bearer_auth(TOKEN).send().unwrap();
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    };
    for (path, code, field) in [
        (format!("/v1/sites/{SITE}/sessions/tl-1?split=2"), 404, "id"),
        (format!("/v1/sites/{SITE}/sessions/nobody"), 404, "id"),
        (format!("/v1/sites/{SITE}/sessions/tl-1%232?split=0"), 404, "id"),
        (format!("/v1/sites/{SITE}/sessions/tl-1?split=-1"), 400, "split"),
        (format!("/v1/sites/{SITE}/sessions/tl-1?split=first"), 400, "split"),
        (format!("/v1/sites/{SITE}/sessions/tl-1?page=x"), 400, "page"),
        ("/v1/sites/sl_nope/sessions/tl-1".to_string(), 404, "key"),
    ] {
        let (st, body) = status(&path);
        assert_eq!((st, body["field"].as_str()), (code, Some(field)), "{path}: {body}");
    }
    let anonymous = s
        .http
        .get(s.url(&format!("/v1/sites/{SITE}/sessions/tl-1")))
        .send()
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    // Read scope, like every query: a read token of this site reads it, one of another site
    // is refused naming `site`.
    s.site("sl_other", &["https://other.example"]);
    for (sites, code, field) in [([SITE], 200, None), (["sl_other"], 403, Some("site"))] {
        let t: Value = s
            .http
            .post(s.url("/v1/tokens"))
            .bearer_auth(TOKEN)
            .json(&json!({"name": "reader", "scope": "read", "sites": sites}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let r = s
            .http
            .get(s.url(&format!("/v1/sites/{SITE}/sessions/tl-1")))
            .bearer_auth(t["token"].as_str().unwrap())
            .send()
            .unwrap();
        let st = r.status().as_u16();
        let body: Value = r.json().unwrap();
        assert_eq!((st, body["field"].as_str()), (code, field), "{body}");
    }
}
