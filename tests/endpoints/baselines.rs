//! Funnel-step conversion and NPS against their daily baselines (issue 21): `/problems`
//! lists the goal funnel's steps and the surveys below their 7-day baseline on the range's
//! last day, "new since …" (docs/analytics.md, "Regressions"), with hand-computed numbers.

use crate::common::*;
use crate::harness::Server;
use serde_json::json;

const URL: &str = "https://shop.example/cart";

/// 20 sessions a day for 9 days (day −8 … today) view the cart; of them 10, 12, 10, 11, 10,
/// 12, 10, 7, 6 reach `checkout` (50, 60, 50, 55, 50, 60, 50, 35, 30 %), and each answers the
/// NPS survey `pulse`: NPS 40 on days −8 … −2 (10 promoters, 8 passives, 2 detractors), 0 on
/// day −1 (6, 8, 6), −40 today (2, 8, 10). Today the checkout step (30 % < every baseline
/// day's, lowest 35 %, and ≤ 0.8 × the median 50 %) and the NPS (−40 < 0 and ≤ 40 − 10) are
/// below baseline, both since yesterday.
#[test]
fn problems_flag_a_funnel_step_and_an_nps_below_their_daily_baseline() {
    let s = Server::start(&[]);
    s.site("base", &["https://shop.example"]);
    let r = s
        .http
        .patch(s.url("/v1/sites/base"))
        .bearer_auth(TOKEN)
        .json(&json!({"settings": {"rules": {"goal": "funnel:shop.example/cart,event:checkout"}}}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let midnight = today().and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis();
    let checkouts = [10, 12, 10, 11, 10, 12, 10, 7, 6];
    let nps: [(usize, usize); 9] = [
        (10, 2),
        (10, 2),
        (10, 2),
        (10, 2),
        (10, 2),
        (10, 2),
        (10, 2),
        (6, 6),
        (2, 10),
    ];
    let mut n = 0;
    for k in 0..9usize {
        let day = midnight - (8 - k as i64) * 86_400_000;
        let mut evs = Vec::new();
        for i in 0..20usize {
            let (sid, t) = (format!("d{k}s{i}"), day + 36_000_000 + i as i64 * 60_000);
            evs.push(event("pageview", &sid, URL, t, json!({})));
            if i < checkouts[k] {
                evs.push(event(
                    "custom",
                    &sid,
                    URL,
                    t + 1_000,
                    json!({"name": "checkout", "props": {}}),
                ));
            }
            let (p, d) = nps[k];
            let v = if i < p {
                10
            } else if i < p + d {
                3
            } else {
                8
            };
            evs.push(event(
                "survey_response",
                &sid,
                URL,
                t + 2_000,
                json!({"survey_id": "pulse", "question_id": "q1", "kind": "nps", "value": v}),
            ));
        }
        n += evs.len() as u64;
        let (st, body) = s.post(&batch("base", evs));
        assert_eq!(st, 202, "{body}");
    }
    s.settle("base", n);
    let d = |k: i64| (today() + chrono::Duration::days(k)).to_string();
    let p = s.get(&format!("/v1/sites/base/problems?from={}&to={}", d(-8), d(1)));
    assert_eq!(
        p["funnel_regressions"],
        json!([{"step": 2, "from": "shop.example/cart", "to": "event:checkout", "since": d(-1),
                "conversion_pct": 30.0, "baseline_median_pct": 50.0, "baseline_min_pct": 35.0, "sessions": 20}]),
        "{p}"
    );
    assert_eq!(
        p["nps_regressions"],
        json!([{"survey": "pulse", "since": d(-1), "nps": -40.0, "baseline_median": 40.0, "baseline_min": 0.0, "answers": 20}]),
        "{p}"
    );
    // A range ending yesterday: its last day is the first below baseline, since itself.
    let y = s.get(&format!("/v1/sites/base/problems?from={}&to={}", d(-8), d(0)));
    assert_eq!(y["funnel_regressions"][0]["since"], json!(d(-1)), "{y}");
    assert_eq!(y["funnel_regressions"][0]["conversion_pct"], json!(35.0), "{y}");
}
