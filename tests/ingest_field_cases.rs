//! Field cases of issue 18 that need no browser (`cases/2026-12.md`): C11, percent-encoding
//! and Unicode in page keys, and C12, one visitor flooding. Both run in either pass.

mod common;
use common::*;
use serde_json::{json, Value};
use std::time::Instant;

/// `from`/`to` covering the UTC day of `ts` and the next.
fn range_of(ts: i64) -> String {
    let d = chrono::DateTime::from_timestamp_millis(ts).unwrap().date_naive();
    format!("from={d}&to={}", d.succ_opt().unwrap().succ_opt().unwrap())
}

/// C11: `/caf%C3%A9`, `/café` and `/caf%c3%a9` are one page (`shop.example/café`),
/// `/last%5Fversion` is `/last_version`, `/a%2Fb` stays apart from `/a/b`; queries find the
/// page given as a URL or a page key in either encoding.
#[test]
fn percent_encoding_and_unicode_variants_of_a_url_are_one_page() {
    let s = Server::start(&[]);
    let site = "c11";
    s.site(site, &["https://shop.example"]);
    let t0 = now_ms() - 600_000;
    // (URL as sent, clicks on it): each in a session of its own.
    let sent: &[(&str, i64)] = &[
        ("https://shop.example/caf%C3%A9", 2),
        ("https://shop.example/café", 1),
        ("https://shop.example/caf%c3%a9", 3),
        ("https://shop.example/last%5Fversion", 1),
        ("https://shop.example/last_version", 0),
        ("https://shop.example/a%2Fb", 1),
        ("https://shop.example/a/b", 0),
    ];
    let mut events = Vec::new();
    for (i, (url, clicks)) in sent.iter().enumerate() {
        let session = format!("s{i}");
        let ts = t0 + i as i64 * 60_000;
        events.push(event("pageview", &session, url, ts, json!({})));
        for c in 0..*clicks {
            events.push(event(
                "click",
                &session,
                url,
                ts + 1000 + c * 5000,
                json!({"x": 100, "y": 200, "selector": "a.menu", "reaction_ms": 30}),
            ));
        }
    }
    let n = events.len() as u64;
    let (status, body) = s.post(&batch(site, events));
    assert_eq!((status, body["accepted"].as_u64()), (202, Some(n)), "{body}");
    s.settle(site, n);
    let range = range_of(t0);

    let pages = s.get(&format!("/v1/sites/{site}/pages?{range}"));
    let got = pages_of(&pages);
    let mut got_sorted = got.clone();
    got_sorted.sort();
    assert_eq!(
        got_sorted,
        vec![
            ("shop.example/a%2Fb".to_string(), 1, 1),
            ("shop.example/a/b".to_string(), 1, 0),
            ("shop.example/café".to_string(), 3, 6),
            ("shop.example/last_version".to_string(), 2, 1),
        ],
        "{pages}"
    );
    assert_eq!(got[0].0, "shop.example/café", "busiest first: {pages}");

    // The heatmap, asked for with the page in any of its forms: a URL in either encoding,
    // the key as listed, the key percent-encoded (upper or lower case).
    for page in [
        "https://shop.example/café",
        "https://shop.example/caf%C3%A9",
        "https://shop.example/caf%c3%a9",
        "shop.example/café",
        "shop.example/caf%C3%A9",
        "shop.example/caf%c3%a9",
    ] {
        let h = s.get(&format!("/v1/sites/{site}/heatmap?url={}&{range}", enc(page)));
        assert_eq!(
            (h["page"].as_str(), h["pageviews"].as_u64(), h["clicks"].as_u64()),
            (Some("shop.example/café"), Some(3), Some(6)),
            "{page}: {h}"
        );
    }
    for (page, key, pageviews, clicks) in [
        ("shop.example/last%5fversion", "shop.example/last_version", 2, 1),
        ("https://shop.example/last_version", "shop.example/last_version", 2, 1),
        ("shop.example/a%2fb", "shop.example/a%2Fb", 1, 1),
        ("shop.example/a/b", "shop.example/a/b", 1, 0),
    ] {
        let h = s.get(&format!("/v1/sites/{site}/heatmap?url={}&{range}", enc(page)));
        assert_eq!(
            (h["page"].as_str(), h["pageviews"].as_u64(), h["clicks"].as_u64()),
            (Some(key), Some(pageviews), Some(clicks)),
            "{page}: {h}"
        );
    }
    // Sessions on the page, by either form.
    for page in ["shop.example/caf%C3%A9", "https://shop.example/café"] {
        let list = s.get(&format!("/v1/sites/{site}/sessions?page={}&{range}", enc(page)));
        assert_eq!(list["total"], 3, "{page}: {list}");
    }
}

/// C12: one visitor sends thousands of clicks in a tight loop while another visitor of the
/// same site browses normally. The other's events are all accepted and stored; the flooder
/// gets 429s and what it got in is bounded by its bucket (burst + rate × elapsed); the
/// refused events are counted with their reason; its rage clicks in `/problems` are bounded
/// the same way (one rage burst per accepted batch of 20 clicks).
#[test]
fn one_flooding_visitor_is_held_to_its_bucket_and_other_visitors_are_unaffected() {
    let rate = 20u64;
    let burst = rate * 20;
    let s = Server::start(&["--quota-visitor-eps", &rate.to_string()]);
    let site = "c12";
    s.site(site, &["https://shop.example"]);
    let url = "https://shop.example/settings";
    let t0 = now_ms() - 3_600_000;
    // The flooder's page view, then its loop.
    let (status, _) = s.post(&batch(site, vec![event("pageview", "flood", url, t0, json!({}))]));
    assert_eq!(status, 202);

    let started = Instant::now();
    let (flood, normal) = std::thread::scope(|scope| {
        let flooder = scope.spawn(|| {
            let (mut accepted, mut refused_requests, mut refused_events) = (0u64, 0u64, 0u64);
            let mut accepted_batches = 0u64;
            for b in 0..150i64 {
                // Each batch: 20 clicks 50 ms apart on one button (one rage burst), batches
                // 10 s apart in event time.
                let clicks: Vec<Value> = (0..20)
                    .map(|i| {
                        event(
                            "click",
                            "flood",
                            url,
                            t0 + 1000 + b * 10_000 + i * 50,
                            json!({"x": 300, "y": 40, "selector": "button.save", "reaction_ms": 30}),
                        )
                    })
                    .collect();
                let (status, body) = s.post(&batch(site, clicks));
                match status {
                    202 => {
                        assert_eq!(body["accepted"], 20, "{body}");
                        accepted += 20;
                        accepted_batches += 1;
                    }
                    429 => {
                        assert_eq!(
                            (body["error"].as_str(), body["field"].as_str()),
                            (Some("quota_visitor"), Some("visitor_id")),
                            "{body}"
                        );
                        refused_requests += 1;
                        refused_events += 20;
                    }
                    other => panic!("flooder got {other}: {body}"),
                }
            }
            (accepted, accepted_batches, refused_requests, refused_events)
        });
        let normal = scope.spawn(|| {
            let mut sent = 0u64;
            for p in 0..20i64 {
                let ts = t0 + p * 30_000;
                let events = vec![
                    event("pageview", "calm", url, ts, json!({})),
                    event(
                        "click",
                        "calm",
                        url,
                        ts + 2000,
                        json!({"x": 500, "y": 300, "selector": "a.help", "reaction_ms": 30}),
                    ),
                    event("scroll", "calm", url, ts + 3000, json!({"depth": 60})),
                ];
                let (status, body) = s.post(&batch(site, events));
                assert_eq!((status, body["accepted"].as_u64()), (202, Some(3)), "{body}");
                sent += 3;
            }
            sent
        });
        (flooder.join().unwrap(), normal.join().unwrap())
    });
    let elapsed = started.elapsed().as_secs_f64();
    let (flood_accepted, flood_batches, refused_requests, mut refused_events) = flood;
    // Bounded by the bucket: the burst (less the page view), plus the refill while the loop
    // ran, in whole batches.
    let bound = burst + (rate as f64 * elapsed).ceil() as u64 + 20;
    assert!(
        flood_accepted <= bound && flood_accepted >= burst - 20,
        "the flooder got {flood_accepted} events in {elapsed:.1} s; the bucket allows {burst} + {rate}/s"
    );
    assert!(refused_requests > 0);
    assert_eq!(flood_accepted + refused_events, 3000);

    // A batch mixing visitors, right after the loop (the flooder's bucket is not full
    // again, so more events than its whole burst cannot be taken): the flooder's events are
    // listed as rejected on `visitor_id`, the other visitor's event is accepted.
    let mut mixed = vec![event("pageview", "late", url, t0 + 2_000_000, json!({}))];
    mixed.extend(
        (0..burst as i64 + 1).map(|i| event("custom", "flood", url, t0 + 2_100_000 + i, json!({"name": "loop"}))),
    );
    // And, after them, an event of the other visitor that validation rejects: its index is
    // its place in the batch.
    mixed.push(event("pageview", "late", "not a url", t0 + 2_000_500, json!({})));
    let (status, body) = s.post(&batch(site, mixed));
    assert_eq!((status, body["accepted"].as_u64()), (202, Some(1)), "{body}");
    let rejected = body["rejected"].as_array().unwrap();
    assert_eq!(rejected.len() as u64, burst + 2, "{body}");
    let indexes: Vec<u64> = rejected.iter().map(|r| r["index"].as_u64().unwrap()).collect();
    assert_eq!(indexes, (1..=burst + 2).collect::<Vec<_>>());
    assert_eq!(
        (rejected[0]["index"].as_u64(), rejected[0]["field"].as_str()),
        (Some(1), Some("visitor_id"))
    );
    assert_eq!(
        (rejected[burst as usize + 1]["field"].as_str()),
        Some("url"),
        "{}",
        rejected[burst as usize + 1]
    );
    assert!(
        rejected[0]["reason"]
            .as_str()
            .unwrap()
            .contains("20 events/s, bursts of 400"),
        "{body}"
    );
    refused_events += burst + 1;

    // Everything accepted is stored, the calm visitor's 60 events included, and nothing else.
    s.settle(site, 1 + flood_accepted + normal + 1);
    let m = s.metrics();
    assert!(
        m.contains(&format!(
            "sightline_events_refused_total{{cause=\"quota_visitor\"}} {refused_events}"
        )),
        "{}",
        m.lines()
            .filter(|l| l.contains("refused"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(m.contains(&format!(
        "sightline_requests_refused_total{{cause=\"quota_visitor\"}} {refused_requests}"
    )));

    let range = range_of(t0);
    let sessions = s.get(&format!("/v1/sites/{site}/sessions?{range}"));
    let calm = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["visitor_id"] == "v-calm")
        .unwrap_or_else(|| panic!("{sessions}"));
    assert_eq!(
        (calm["pageviews"].as_u64(), calm["clicks"].as_u64()),
        (Some(20), Some(20))
    );
    // The flooder's rage clicks: one per accepted batch, bounded like its events.
    let problems = s.get(&format!("/v1/sites/{site}/problems?{range}"));
    let save = problems["elements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["selector"] == "button.save")
        .unwrap_or_else(|| panic!("{problems}"));
    assert_eq!(save["rage_clicks"].as_u64(), Some(flood_batches), "{problems}");
    assert!(flood_batches <= bound / 20);
}

/// C11 in the widgets: survey targeting matches patterns against the page key's host and
/// path, which the widgets make from `location.pathname` (percent-encoded by the browser).
/// Their `canonicalPath` (run in node, as shipped in `/s/widgets.js`) must give the path the
/// server's [`canonical_encoding`] gives, so `*/café*` targets `/caf%C3%A9`.
#[test]
fn the_widgets_encode_paths_as_page_keys_do() {
    use sightline::event::enrich::canonical_encoding;
    let src = sightline::ingest::WIDGETS_JS;
    let start = src.find("  var KEEP_ENCODED").expect("canonicalPath in widgets.js");
    let end = src.find("  function pagePath()").expect("pagePath in widgets.js");
    let paths = [
        "/caf%C3%A9",
        "/caf%c3%a9",
        "/last%5Fversion",
        "/last_version",
        "/%7euser/%41bc",
        "/a%2fb",
        "/a%2Fb",
        "/%E4%B8%AD%E6%96%87/%31%32",
        "/a%20b",
        "/a%e2%80%8fb",
        "/a%C2%A0b",
        "/bad%FFbyte%C3",
        "/cut%E4%B8",
        "/surrogate%ED%A0%80x",
        "/emoji%F0%9F%98%80",
        "/a%ZZ%",
    ];
    let script = format!(
        "{}\nconsole.log(JSON.stringify({}.map(canonicalPath)));",
        &src[start..end],
        serde_json::to_string(&paths).unwrap()
    );
    let out = std::process::Command::new("node")
        .arg("-e")
        .arg(&script)
        .output()
        .expect("run node");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let js: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    for (path, got) in paths.iter().zip(&js) {
        assert_eq!(got, &canonical_encoding(path), "{path}");
    }
    assert_eq!(js[0], "/café");
}
