//! Segments (issue 22) through the router in process, in either mode: three visitors from
//! three channels, browsers and languages; every filter on every query endpoint narrows to
//! the hand-computed numbers of its visitor; `split`; `/segments`; `400`s for unknown values.

use crate::common::*;
use crate::harness::Server;
use serde_json::{json, Value};

const FIREFOX_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0";

/// POST a batch as a browser with this user agent and `Accept-Language`.
fn post_as(s: &Server, body: &Value, ua: &str, accept_language: Option<&str>) {
    let mut rb = s
        .http()
        .post(s.url("/v1/events"))
        .header("content-type", "text/plain;charset=UTF-8")
        .header("user-agent", ua)
        .body(serde_json::to_vec(body).unwrap());
    if let Some(l) = accept_language {
        rb = rb.header("accept-language", l);
    }
    let r = rb.send().unwrap();
    assert_eq!(r.status().as_u16(), 202, "{}", r.text().unwrap());
}

/// GET with the token; (status, body).
fn get_status(s: &Server, path: &str) -> (u16, Value) {
    let r = s.http().get(s.url(path)).bearer_auth(TOKEN).send().unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

const LANDING: &str = "https://shop.example/landing";
const PRICING: &str = "https://shop.example/pricing";

/// Visitor A: e-mail campaign, Chrome on Linux, `de-DE` from the snippet: landing, pricing,
/// a rage burst of 3 clicks on `button.buy`, `signup`. Visitor B: paid Google ad, Firefox on
/// Windows 10, `fr-FR` from Accept-Language: landing, pricing, one dead click on `a.help`,
/// feedback rated 1. Visitor C: direct, Chrome on Linux, no language: landing only.
fn three_visitors(s: &Server, site: &str, t: i64) {
    let pv = |sess: &str, url: &str, ts: i64, referrer: Option<&str>| {
        event("pageview", sess, url, ts, json!({ "referrer": referrer }))
    };
    let click = |sess: &str, ts: i64, x: i64, selector: &str, reaction: Option<u32>| {
        let mut c = event(
            "click",
            sess,
            PRICING,
            ts,
            json!({"x": x, "y": 40, "selector": selector}),
        );
        if let Some(r) = reaction {
            c["reaction_ms"] = r.into();
        }
        c
    };
    let mut a = batch(
        site,
        vec![
            pv(
                "sA",
                &format!("{LANDING}?utm_source=Newsletter&utm_medium=email&utm_campaign=Spring"),
                t,
                Some("https://mail.google.com/mail/u/0/"),
            ),
            pv("sA", PRICING, t + 20 * SEC, Some(LANDING)),
            click("sA", t + 30 * SEC, 100, "button.buy", Some(50)),
            click("sA", t + 30 * SEC + 300, 102, "button.buy", Some(50)),
            click("sA", t + 30 * SEC + 600, 104, "button.buy", Some(50)),
            event("custom", "sA", PRICING, t + 40 * SEC, json!({"name": "signup"})),
        ],
    );
    a["language"] = "de-DE".into();
    post_as(s, &a, HUMAN_UA, Some("en-US"));
    let b = batch(
        site,
        vec![
            pv(
                "sB",
                &format!("{LANDING}?utm_source=google&utm_medium=cpc&utm_campaign=brand"),
                t + MIN,
                Some("https://www.google.com/"),
            ),
            pv("sB", PRICING, t + MIN + 20 * SEC, Some(LANDING)),
            click("sB", t + MIN + 30 * SEC, 300, "a.help", None),
            event(
                "feedback",
                "sB",
                PRICING,
                t + MIN + 40 * SEC,
                json!({"rating": 1, "comment": "slow"}),
            ),
        ],
    );
    post_as(s, &b, FIREFOX_WINDOWS, Some("fr-FR,fr;q=0.9,en;q=0.5"));
    let c = batch(site, vec![pv("sC", LANDING, t + 2 * MIN, None)]);
    post_as(s, &c, HUMAN_UA, None);
    s.settle(site, 11);
}

fn pv(page: &str, n: u64, clicks: u64) -> (String, u64, u64) {
    (format!("shop.example/{page}"), n, clicks)
}

#[test]
fn every_segment_filter_narrows_every_endpoint_to_its_sessions() {
    let s = Server::start(&[]);
    let site = "seg-site";
    s.site(site, &["https://shop.example"]);
    let t = days_ago(1) + 10 * HOUR;
    three_visitors(&s, site, t);
    let range = format!("from={}&to={}", date(t), date(t));
    let q = |path: &str, filter: &str| s.get(&format!("/v1/sites/{site}/{path}{range}&{filter}"));

    // /pages: every dimension, one visitor (or two) each.
    let a = vec![pv("pricing", 1, 3), pv("landing", 1, 0)];
    let b = vec![pv("pricing", 1, 1), pv("landing", 1, 0)];
    let c = vec![pv("landing", 1, 0)];
    let a_and_c = vec![pv("landing", 2, 0), pv("pricing", 1, 3)];
    let all = vec![pv("landing", 3, 0), pv("pricing", 2, 4)];
    assert_eq!(pages_of(&q("pages?", "")), all);
    for (filter, want) in [
        ("channel=email", &a),
        ("channel=PAID", &b),
        ("channel=direct", &c),
        ("referrer=mail.google.com", &a),
        ("referrer=www.google.com", &b),
        ("utm_source=newsletter", &a),
        ("utm_medium=cpc", &b),
        ("utm_campaign=SPRING", &a),
        ("browser=firefox", &b),
        ("browser=Chrome", &a_and_c),
        ("os=linux", &a_and_c),
        ("os=windows%2010", &b),
        ("language=de-de", &a),
        ("language=FR-fr", &b),
        ("channel=email&browser=chrome", &a),
    ] {
        assert_eq!(&pages_of(&q("pages?", filter)), want, "pages?{filter}");
    }
    assert_eq!(pages_of(&q("pages?", "channel=social")), vec![]);
    assert_eq!(pages_of(&q("pages?", "channel=email&browser=firefox")), vec![]);

    // heatmap, compare, zones: the page views of the segment's sessions.
    let h = q(&format!("heatmap?url={}&", enc(PRICING)), "channel=email");
    assert_eq!((h["pageviews"].as_u64(), h["clicks"].as_u64()), (Some(1), Some(3)));
    assert_eq!(h["elements"][0]["rage_clicks"].as_u64(), Some(1));
    let h = q(&format!("heatmap?url={}&", enc(PRICING)), "browser=firefox");
    assert_eq!((h["pageviews"].as_u64(), h["clicks"].as_u64()), (Some(1), Some(1)));
    let cmp = q(
        &format!(
            "heatmap/compare?url={}&from2={}&to2={}&",
            enc(PRICING),
            date(t),
            date(t)
        ),
        "channel=paid",
    );
    assert_eq!(
        (cmp["pageviews"].as_u64(), cmp["pageviews2"].as_u64()),
        (Some(1), Some(1))
    );
    let z = q(&format!("zones?url={}&", enc(PRICING)), "channel=direct");
    assert_eq!(z["pageviews"].as_u64(), Some(0));

    // journeys, sessions, funnel: sessions of the segment.
    let j = q("journeys?", "channel=paid");
    assert_eq!((j["sessions"].as_u64(), j["bounces"].as_u64()), (Some(1), Some(0)));
    let j = q("journeys?", "channel=direct");
    assert_eq!((j["sessions"].as_u64(), j["bounces"].as_u64()), (Some(1), Some(1)));
    let j = q(&format!("journeys?entry={}&", enc(LANDING)), "language=de-de");
    assert_eq!(j["sessions"].as_u64(), Some(1));
    let list = q("sessions?", "browser=firefox");
    assert_eq!(list["total"].as_u64(), Some(1));
    assert_eq!(list["sessions"][0]["session"], "sB");
    let list = q("sessions?has=rage&", "os=linux");
    assert_eq!(list["total"].as_u64(), Some(1));
    assert_eq!(list["sessions"][0]["session"], "sA");
    let steps = format!("steps={},{},event:signup&", enc(LANDING), enc(PRICING));
    let counts = |v: &Value| -> Vec<u64> {
        v["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["count"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(counts(&q(&format!("funnel?{steps}"), "")), vec![3, 2, 1]);
    assert_eq!(counts(&q(&format!("funnel?{steps}"), "channel=email")), vec![1, 1, 1]);
    assert_eq!(counts(&q(&format!("funnel?{steps}"), "channel=paid")), vec![1, 1, 0]);
    assert_eq!(counts(&q(&format!("funnel?{steps}"), "browser=chrome")), vec![2, 1, 1]);

    // problems: the rage burst is A's, the dead click B's.
    let p = q("problems?", "channel=email");
    assert_eq!(p["sessions"].as_u64(), Some(1));
    assert_eq!(p["elements"][0]["selector"], "button.buy");
    assert_eq!(p["elements"][0]["rage_clicks"].as_u64(), Some(1));
    assert_eq!(p["elements"].as_array().unwrap().len(), 1);
    let p = q("problems?", "utm_campaign=brand");
    assert_eq!(p["sessions"].as_u64(), Some(1));
    assert_eq!(p["elements"][0]["selector"], "a.help");
    assert_eq!(p["elements"][0]["dead_clicks"].as_u64(), Some(1));

    // voc: B's feedback only.
    let v = q("voc?", "channel=paid");
    assert_eq!(v["feedback"]["count"].as_u64(), Some(1));
    let v = q("voc?", "channel=email");
    assert_eq!(v["feedback"]["count"].as_u64(), Some(0));
}

#[test]
fn split_answers_problems_and_the_funnel_per_value_and_segments_lists_the_values() {
    let s = Server::start(&[]);
    let site = "seg-split";
    s.site(site, &["https://shop.example"]);
    let t = days_ago(1) + 10 * HOUR;
    three_visitors(&s, site, t);
    let range = format!("from={}&to={}", date(t), date(t));

    let f = s.get(&format!(
        "/v1/sites/{site}/funnel?{range}&steps={},{}&split=channel",
        enc(LANDING),
        enc(PRICING)
    ));
    assert_eq!(f["split"]["dimension"], "channel");
    let groups: Vec<(Value, u64, Vec<u64>)> = f["split"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let c = g["steps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["count"].as_u64().unwrap())
                .collect();
            (g["value"].clone(), g["sessions"].as_u64().unwrap(), c)
        })
        .collect();
    assert_eq!(
        groups,
        vec![
            (json!("direct"), 1, vec![1, 0]),
            (json!("email"), 1, vec![1, 1]),
            (json!("paid"), 1, vec![1, 1]),
        ]
    );
    let p = s.get(&format!("/v1/sites/{site}/problems?{range}&split=browser"));
    let groups = p["split"]["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(
        (groups[0]["value"].as_str(), groups[0]["sessions"].as_u64()),
        (Some("Chrome"), Some(2))
    );
    assert_eq!(groups[0]["elements"][0]["selector"], "button.buy");
    assert_eq!(groups[0]["elements"].as_array().unwrap().len(), 1);
    assert_eq!(
        (groups[1]["value"].as_str(), groups[1]["sessions"].as_u64()),
        (Some("Firefox"), Some(1))
    );
    assert_eq!(groups[1]["elements"][0]["selector"], "a.help");

    let seg = s.get(&format!("/v1/sites/{site}/segments?{range}"));
    assert_eq!(seg["sessions"].as_u64(), Some(3));
    let d = &seg["dimensions"];
    let one = |v: &str| json!({"value": v, "sessions": 1});
    assert_eq!(d["channel"], json!([one("direct"), one("email"), one("paid")]));
    assert_eq!(
        d["browser"],
        json!([{"value": "Chrome", "sessions": 2}, one("Firefox")])
    );
    assert_eq!(d["os"], json!([{"value": "Linux", "sessions": 2}, one("Windows 10")]));
    assert_eq!(d["language"], json!([one(""), one("de-de"), one("fr-fr")]));
    assert_eq!(
        d["referrer"],
        json!([one(""), one("google.com"), one("mail.google.com")])
    );
    assert_eq!(d["utm_campaign"], json!([one(""), one("brand"), one("spring")]));
    assert_eq!(d["device"], json!([{"value": "desktop", "sessions": 3}]));
    // Filtered like every other endpoint.
    let seg = s.get(&format!("/v1/sites/{site}/segments?{range}&browser=chrome"));
    assert_eq!(seg["dimensions"]["channel"], json!([one("direct"), one("email")]));
}

#[test]
fn unknown_segment_values_are_refused_naming_the_parameter() {
    let s = Server::start(&[]);
    let site = "seg-400";
    s.site(site, &["https://shop.example"]);
    for (path, field, says) in [
        (
            "pages?channel=tv",
            "channel",
            "search, social, email, paid, direct, other",
        ),
        ("heatmap?url=shop.example/&browser=netscape", "browser", "Chrome"),
        ("problems?os=plan9", "os", "Windows 10"),
        ("journeys?language=12", "language", "language tag"),
        (
            "funnel?steps=shop.example/&referrer=http://x.example/y",
            "referrer",
            "host name",
        ),
        ("sessions?utm_source=", "utm_source", "empty"),
        // "www." is stripped from a referrer; nothing may be left (a segment value is never
        // empty: the stores read an empty value as "no condition").
        ("sessions?referrer=www.", "referrer", "host name"),
        ("voc?channel=", "channel", "empty"),
        ("funnel?steps=shop.example/&split=colour", "split", "channel, referrer"),
        ("problems?split=colour", "split", "device"),
        ("segments?browser=mosaic", "browser", "Firefox"),
    ] {
        let (status, body) = get_status(&s, &format!("/v1/sites/{site}/{path}"));
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["field"], field, "{path}: {body}");
        assert!(body.to_string().contains(says), "{path}: {body}");
    }
}
