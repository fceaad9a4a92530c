//! Hardening (issue 10): quotas and overload answers, slow clients, the trusted-proxy client
//! IP. Every refusal is a 4xx/503 with `Retry-After` where a retry helps, names its field, is
//! counted, and happens before anything is appended: whatever was acknowledged is stored.

mod common;
use common::*;
use serde_json::json;
use std::io::{Read, Write};
use std::time::Duration;

fn one_event(site: &str, session: &str) -> serde_json::Value {
    batch(
        site,
        vec![event("pageview", session, "https://q.example/", now_ms(), json!({}))],
    )
}

fn post_from(s: &Server, body: &serde_json::Value, forwarded_for: Option<&str>) -> reqwest::blocking::Response {
    let mut rb = s
        .http
        .post(s.url("/v1/events"))
        .header("content-type", "text/plain")
        .body(serde_json::to_vec(body).unwrap());
    if let Some(f) = forwarded_for {
        rb = rb.header("x-forwarded-for", f);
    }
    rb.send().unwrap()
}

#[test]
fn the_ip_quota_answers_429_with_retry_after_and_nothing_acknowledged_is_lost() {
    let s = Server::start(&["--quota-ip-rps", "5"]);
    s.site("ipq", &["*"]);
    let (mut accepted, mut refused) = (0u64, 0u64);
    for i in 0..40 {
        let r = post_from(&s, &one_event("ipq", &format!("s{i}")), None);
        match r.status().as_u16() {
            202 => accepted += 1,
            429 => {
                let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
                assert!((1..=2).contains(&retry), "Retry-After {retry}");
                let body: serde_json::Value = r.json().unwrap();
                assert_eq!(body["field"], "ip");
                assert_eq!(body["error"], "quota_ip");
                refused += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(accepted >= 10, "the burst (10) is admitted: {accepted}");
    assert!(refused > 0, "40 requests at once exceed 5/s");
    // A spoofed X-Forwarded-For does not buy a fresh bucket from an untrusted peer.
    let r = post_from(&s, &one_event("ipq", "spoof"), Some("198.51.100.1"));
    assert_eq!(r.status().as_u16(), 429);
    // Within Retry-After (at most 2 s) the client is admitted again.
    let deadline = std::time::Instant::now() + Duration::from_millis(2100);
    loop {
        match post_from(&s, &one_event("ipq", "later"), None).status().as_u16() {
            202 => break,
            429 => {
                refused += 1;
                assert!(std::time::Instant::now() < deadline, "not admitted after Retry-After");
            }
            other => panic!("unexpected {other}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    accepted += 1;
    s.settle("ipq", accepted);
    let m = s.metrics();
    assert!(
        m.contains(&format!(
            "sightline_requests_refused_total{{cause=\"quota_ip\"}} {}",
            refused + 1
        )),
        "{m}"
    );
}

#[test]
fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket() {
    let s = Server::start(&["--quota-ip-rps", "1", "--trusted-proxy", "127.0.0.0/8"]);
    s.site("xff", &["*"]);
    // Client A uses up its burst of 2; client B, behind the same proxy, is still admitted.
    let a = "203.0.113.10, 127.0.0.1";
    let codes: Vec<u16> = (0..3)
        .map(|i| {
            post_from(&s, &one_event("xff", &format!("a{i}")), Some(a))
                .status()
                .as_u16()
        })
        .collect();
    assert_eq!(codes, vec![202, 202, 429]);
    assert_eq!(
        post_from(&s, &one_event("xff", "b"), Some("203.0.113.11"))
            .status()
            .as_u16(),
        202
    );
    s.settle("xff", 3);
}

#[test]
fn the_site_quota_counts_events_and_answers_429_naming_the_site() {
    // 1 event/s refills too slowly to matter here; the burst is the 1000-event floor.
    let s = Server::start(&["--quota-site-eps", "1"]);
    s.site("siteq", &["*"]);
    s.site("other", &["*"]);
    let many = |site: &str, n: usize, tag: &str| {
        batch(
            site,
            (0..n)
                .map(|i| {
                    event(
                        "pageview",
                        &format!("{tag}{i}"),
                        "https://q.example/",
                        now_ms(),
                        json!({}),
                    )
                })
                .collect(),
        )
    };
    // The burst is 1000 events.
    assert_eq!(s.post(&many("siteq", 600, "a")).0, 202);
    assert_eq!(s.post(&many("siteq", 390, "b")).0, 202);
    let (code, body) = s.post(&many("siteq", 100, "c"));
    assert_eq!(code, 429, "{body}");
    assert_eq!(body["field"], "site");
    // Another site is unaffected.
    assert_eq!(s.post(&many("other", 100, "d")).0, 202);
    s.settle("siteq", 990);
    s.settle("other", 100);
}

#[test]
fn a_stalled_body_is_answered_408_and_the_server_keeps_serving() {
    let s = Server::start(&["--body-chunk-timeout-ms", "500"]);
    s.site("slow", &["*"]);
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        tcp,
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n{{\"site\":"
    )
    .unwrap();
    let mut buf = [0u8; 512];
    let n = tcp.read(&mut buf).unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    assert!(head.contains("\"field\":\"body\""), "{head}");
    assert_eq!(s.post(&one_event("slow", "ok")).0, 202);
    assert!(s
        .metrics()
        .contains("sightline_requests_refused_total{cause=\"slow_body\"} 1"));
}

#[test]
fn dead_letters_are_listed_and_replayed_once_the_cause_is_fixed() {
    // The operator runs with a small per-event cap; a big (legitimate) page view is rejected.
    let s = Server::start(&["--max-event-bytes", "700"]);
    s.site("dl", &["*"]);
    let big = event(
        "pageview",
        "s1",
        "https://q.example/long",
        now_ms(),
        json!({"title": "t".repeat(900)}),
    );
    let bad = event("click", "s1", "https://q.example/", now_ms(), json!({"selector": "a"}));
    let good = event("pageview", "s1", "https://q.example/", now_ms(), json!({}));
    let (code, body) = s.post(&batch("dl", vec![big, bad, good]));
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["accepted"], 1);
    // A refused request leaves a body sample too, PII-scrubbed.
    let (code, _) = s.post_raw(
        br#"{"site": "dl", "events": "not a list", "note": "jo.doe@mail.example"}"#.to_vec(),
        &[("content-type", "text/plain")],
        "",
    );
    assert_eq!(code, 400);

    let lines = |out: std::process::Output| -> Vec<serde_json::Value> {
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let all = lines(s.cli(&["deadletter", "list", "--site", "dl"]));
    let stages: Vec<(&str, &str)> = all
        .iter()
        .map(|d| (d["stage"].as_str().unwrap(), d["field"].as_str().unwrap()))
        .collect();
    assert_eq!(stages.len(), 3, "{all:?}");
    assert!(stages.contains(&("ingest", "event")), "{stages:?}");
    assert!(stages.contains(&("ingest", "x")), "{stages:?}");
    assert!(stages.contains(&("request", "events")), "{stages:?}");
    let sample = all.iter().find(|d| d["stage"] == "request").unwrap();
    assert!(sample["raw"].as_str().unwrap().contains("[email]"), "{sample}");
    assert!(!sample["raw"].as_str().unwrap().contains("jo.doe"), "{sample}");

    // Replay under the default cap (the CLI's): the big page view gets in, the click without
    // `x` is rejected again with its reason, the body sample holds no event.
    let report: serde_json::Value =
        serde_json::from_slice(&s.cli(&["deadletter", "replay", "--site", "dl"]).stdout).unwrap();
    assert_eq!(report["letters"], 3, "{report}");
    assert_eq!(report["replayed"], 1, "{report}");
    assert_eq!(report["still_rejected"], 1, "{report}");
    assert_eq!(report["skipped"], 1, "{report}");
    assert!(report["reasons"][0].as_str().unwrap().starts_with("x:"), "{report}");
    // A second replay counts the page view as a duplicate: stored once.
    let again: serde_json::Value = serde_json::from_slice(
        &s.cli(&["deadletter", "replay", "--site", "dl", "--stage", "ingest"])
            .stdout,
    )
    .unwrap();
    assert_eq!(again["replayed"], 0, "{again}");
    assert_eq!(again["duplicates"], 1, "{again}");
    s.settle("dl", 2);
    let hm = s.get(&format!("/v1/sites/dl/heatmap?url=q.example/long&{}", today_range()));
    assert_eq!(hm["pageviews"], 1, "{hm}");
}

#[test]
fn a_lone_utf16_surrogate_is_replaced_not_fatal_to_the_batch() {
    let s = Server::start(&[]);
    s.site("surr", &["*"]);
    let ok = event(
        "pageview",
        "s1",
        "https://q.example/a",
        now_ms(),
        json!({"title": "fine"}),
    );
    let cut = event(
        "pageview",
        "s1",
        "https://q.example/b",
        now_ms() + 1,
        json!({"title": "PLACEHOLDER"}),
    );
    let text = serde_json::to_string(&batch("surr", vec![ok, cut])).unwrap();
    // What JSON.stringify writes for a string holding half of an emoji.
    let text = text.replace("PLACEHOLDER", "cut \\ud83d here");
    let (code, body) = s.post_raw(text.into_bytes(), &[("content-type", "text/plain")], "");
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["accepted"], 2, "{body}");
    s.settle("surr", 2);
}

/// The snippet keeps what the server refuses across page loads and honours consent, in
/// Chromium on SB Admin 2: see `tests/e2e/resilience.mjs`.
#[test]
fn browser_snippet_keeps_refused_events_across_pages_and_honours_consent() {
    let s = Server::start(&[]);
    let (page_port, consent_port) = (free_port(), free_port());
    s.site(
        "res",
        &[
            &format!("http://127.0.0.1:{page_port}"),
            &format!("http://127.0.0.1:{consent_port}"),
            "https://filler.example",
        ],
    );
    s.run_e2e(
        "resilience.mjs",
        "res",
        page_port,
        &[("CONSENT_PORT", consent_port.to_string())],
    );
}

#[test]
fn readyz_says_saturated_while_every_ingest_slot_is_taken() {
    let s = Server::start(&["--max-inflight", "1", "--body-chunk-timeout-ms", "1500"]);
    s.site("sat", &["*"]);
    let ready = || s.http.get(s.url("/readyz")).send().unwrap();
    assert_eq!(ready().status().as_u16(), 200);
    // A client that stalls mid-body holds the only slot.
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    write!(
        tcp,
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n{{"
    )
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let r = loop {
        let r = ready();
        if r.status().as_u16() != 200 || std::time::Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(r.json::<serde_json::Value>().unwrap()["saturated"], true);
    // Meanwhile a new batch is refused with 503 + Retry-After, not queued without bound.
    let busy = post_from(&s, &one_event("sat", "b"), None);
    assert_eq!(busy.status().as_u16(), 503);
    assert!(busy.headers().contains_key("retry-after"));
    // The stalled body times out, the slot frees, and the server is ready again.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while ready().status().as_u16() != 200 {
        assert!(std::time::Instant::now() < deadline, "still saturated");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(post_from(&s, &one_event("sat", "c"), None).status().as_u16(), 202);
    drop(tcp);
}

/// A route of the API that a process does not serve (it runs other roles) answers 404
/// naming the cause; an all-roles process never talks about roles (`tests/endpoints/api.rs`).
#[test]
fn a_route_of_another_role_answers_404_naming_the_cause() {
    let q = Server::start(&["--roles", "query"]);
    let r = q.http.post(q.url("/v1/events")).body("{}").send().unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v["field"], "path");
    assert!(v["reason"].as_str().unwrap().contains("another role"), "{v}");
}
