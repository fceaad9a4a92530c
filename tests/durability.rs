//! Accepted means durable: SIGKILL `sightline serve` right after each `202`, restart it on
//! the same data, and every acknowledged event is in the warehouse and in the rollups.

mod common;
use common::*;
use serde_json::json;

#[test]
fn every_acknowledged_event_survives_sigkill_right_after_its_202() {
    let mut s = Server::start(&[]);
    s.site("dur", &["*"]);
    let url = "https://dur.example/checkout";
    let mut acked_clicks = 0;
    let mut acked = 0;
    for round in 0..5 {
        let t = now_ms();
        let sid = format!("k{round}");
        let mut events = vec![event("pageview", &sid, url, t, json!({}))];
        for i in 0..20 {
            events.push(event(
                "click",
                &sid,
                url,
                t + 10 + i * 1500,
                json!({"x": 5 + i, "y": 40, "selector": format!("button.b{i}"), "reaction_ms": 30}),
            ));
        }
        let (st, r) = s.post(&batch("dur", events));
        assert_eq!(st, 202, "{r}");
        acked += r["accepted"].as_u64().unwrap();
        acked_clicks += 20;
        // No grace period: the process dies right after the acknowledgement.
        s.kill9();
        s.spawn();
    }
    s.settle("dur", acked);
    let h = s.get(&format!("/v1/sites/dur/heatmap?url={url}&{}", today_range()));
    assert_eq!(h["clicks"], acked_clicks, "{h}");
    assert_eq!(h["pageviews"], 5);
    let j = s.get(&format!("/v1/sites/dur/journeys?{}", today_range()));
    assert_eq!(j["sessions"], 5);
}
