//! Layout versions (issue 21): the snippet's `layout` on page views is validated at ingest,
//! and `/heatmap`, `/zones`, `/heatmap/compare` and `/layouts` split a page by version, with
//! the sums over versions exactly as without versions (docs/analytics.md, "Layout
//! versions"). Both stores (the endpoint suite's two passes).

use crate::common::*;
use crate::harness::Server;
use serde_json::{json, Value};

const URL: &str = "https://shop.example/cart";
const PAGE: &str = "shop.example/cart";
const A: &str = "24b40e05";
const B: &str = "0cd4b36d";

fn range() -> String {
    let d = |n: i64| (today() + chrono::Duration::days(n)).to_string();
    format!("from={}&to={}", d(-1), d(1))
}

fn pageview(session: &str, ts: i64, layout: Option<&str>) -> Value {
    let mut e = event(
        "pageview",
        session,
        URL,
        ts,
        json!({"pageview_id": format!("pv-{session}")}),
    );
    if let Some(l) = layout {
        e["layout"] = json!(l);
    }
    e
}

fn click(session: &str, ts: i64, selector: &str, zone: Option<&str>) -> Value {
    let mut e = event(
        "click",
        session,
        URL,
        ts,
        json!({"pageview_id": format!("pv-{session}"), "x": 100, "y": 200, "selector": selector, "reaction_ms": 20}),
    );
    if let Some(z) = zone {
        e["zone"] = json!(z);
    }
    e
}

fn zone(session: &str, ts: i64, name: &str) -> Value {
    event(
        "zone",
        session,
        URL,
        ts,
        json!({"pageview_id": format!("pv-{session}"), "zone": name, "visible_ms": 500, "hover_ms": 0}),
    )
}

/// (selector, zone, clicks) of a heatmap's elements, and its page views and clicks.
fn heatmap(s: &Server, extra: &str) -> (u64, u64, Vec<(String, Value, u64)>) {
    let h = s.get(&format!("/v1/sites/lay/heatmap?url={PAGE}&{}{extra}", range()));
    let mut els: Vec<_> = h["elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["selector"].as_str().unwrap().to_string(),
                e["zone"].clone(),
                e["clicks"].as_u64().unwrap(),
            )
        })
        .collect();
    els.sort_by(|a, b| (&a.0, a.1.to_string()).cmp(&(&b.0, b.1.to_string())));
    (h["pageviews"].as_u64().unwrap(), h["clicks"].as_u64().unwrap(), els)
}

/// Hand-computed: /cart viewed in version A (s1: 2 clicks on `button.pay` in zone cart), in
/// version B (s2: the button moved to zone help, 1 click) and without a version (s3: 1 click
/// on `#x`). Every version summed: 3 page views, 4 clicks, as without versions; each version
/// alone gives its own page view and clicks; compare sets A against B.
#[test]
fn heatmaps_zones_and_compare_split_by_layout_version() {
    let s = Server::start(&[]);
    s.site("lay", &["https://shop.example"]);
    let t = now_ms() - 600_000;
    let evs = vec![
        pageview("s1", t, Some(A)),
        zone("s1", t + 500, "cart"),
        click("s1", t + 1_000, "button.pay", Some("cart")),
        click("s1", t + 3_000, "button.pay", Some("cart")),
        pageview("s2", t + 10_000, Some(B)),
        zone("s2", t + 10_500, "help"),
        click("s2", t + 11_000, "button.pay", Some("help")),
        pageview("s3", t + 20_000, None),
        click("s3", t + 21_000, "#x", None),
    ];
    let n = evs.len() as u64;
    let (st, body) = s.post(&batch("lay", evs));
    assert_eq!(st, 202, "{body}");
    s.settle("lay", n);

    // A malformed version is refused naming the field.
    for bad in ["24B40E05", "24b40e0", "not-hex!", "24b40e05ff"] {
        let (st, body) = s.post(&batch("lay", vec![pageview("s9", t, Some(bad))]));
        assert_eq!(
            (st, body["rejected"][0]["field"].as_str()),
            (400, Some("layout")),
            "{bad}: {body}"
        );
    }

    let pay = |z: &str, n: u64| ("button.pay".to_string(), json!(z), n);
    let x = ("#x".to_string(), Value::Null, 1);
    assert_eq!(heatmap(&s, ""), (3, 4, vec![x.clone(), pay("cart", 2), pay("help", 1)]));
    assert_eq!(heatmap(&s, &format!("&layout={A}")), (1, 2, vec![pay("cart", 2)]));
    assert_eq!(heatmap(&s, &format!("&layout={B}")), (1, 1, vec![pay("help", 1)]));
    assert_eq!(heatmap(&s, "&layout=none"), (1, 1, vec![x]));
    let h = s.get(&format!("/v1/sites/lay/heatmap?url={PAGE}&{}&layout={A}", range()));
    assert_eq!(
        (h["layout"].as_str(), h["grid"].clone()),
        (Some(A), json!([{"x": 6, "y": 12, "count": 2}]))
    );
    let r = s
        .http
        .get(s.url(&format!("/v1/sites/lay/heatmap?url={PAGE}&{}&layout=ABC", range())))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.json::<Value>().unwrap()["field"], "layout");

    // The page's versions: all on today, oldest first then by version ("" first, then
    // "0cd4b36d" before "24b40e05").
    let day = today().to_string();
    let l = s.get(&format!("/v1/sites/lay/layouts?url={PAGE}&{}", range()));
    assert_eq!(
        l,
        json!({"page": PAGE, "layouts": [
            {"layout": null, "first_seen": day, "last_seen": day, "pageviews": 1, "clicks": 1},
            {"layout": B, "first_seen": day, "last_seen": day, "pageviews": 1, "clicks": 1},
            {"layout": A, "first_seen": day, "last_seen": day, "pageviews": 1, "clicks": 2},
        ]}),
    );

    // Zones of version B: its one page view saw and clicked help; cart is not in it.
    let z = s.get(&format!("/v1/sites/lay/zones?url={PAGE}&{}&layout={B}", range()));
    let zones: Vec<(&str, &Value, &Value, &Value)> = z["zones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| {
            (
                z["zone"].as_str().unwrap(),
                &z["exposed"],
                &z["clicked"],
                &z["click_rate"],
            )
        })
        .collect();
    assert_eq!(
        (z["pageviews"].as_u64(), zones),
        (Some(1), vec![("help", &json!(1), &json!(1), &json!(1.0))])
    );
    let all = s.get(&format!("/v1/sites/lay/zones?url={PAGE}&{}", range()));
    assert_eq!(all["pageviews"], 3, "{all}");
    assert_eq!(
        all["zones"][0]["click_rate"].as_f64().map(|r| (r * 3.0).round()),
        Some(1.0),
        "{all}"
    );

    // Version A against version B over the same range: rates per page view of each version.
    let c = s.get(&format!(
        "/v1/sites/lay/heatmap/compare?url={PAGE}&{}&layout={A}&layout2={B}",
        range()
    ));
    assert_eq!(
        c,
        json!({"page": PAGE, "layout": A, "layout2": B, "pageviews": 1, "pageviews2": 1, "elements": [
            {"selector": "button.pay", "zone": "cart", "clicks": 2, "clicks2": 0, "rate": 2.0, "rate2": 0.0, "shift": -2.0},
            {"selector": "button.pay", "zone": "help", "clicks": 0, "clicks2": 1, "rate": 0.0, "rate2": 1.0, "shift": 1.0},
        ]}),
    );
    // Without layout2, from2/to2 stay required.
    let r = s
        .http
        .get(s.url(&format!(
            "/v1/sites/lay/heatmap/compare?url={PAGE}&{}&layout={A}",
            range()
        )))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.json::<Value>().unwrap()["field"], "from2");
}
