//! The PM dashboard and the live heatmap overlay (issue 8) on the real binary:
//! - over HTTP: the shell loads without a token and holds no data, every data call the
//!   dashboard makes is refused without a (valid) token, the security headers, and the signed
//!   overlay grants (valid, forged, expired, another page, a foreign origin, scopes);
//! - in Chromium (`tests/e2e/dashboard.mjs`): each view on seeded data shows exactly the query
//!   API's numbers (screenshots in `test-artifacts/dashboard/`), and the overlay drawn by the
//!   snippet on a real SB Admin 2 page marks as hottest the element the seeded clicks targeted;
//!   and the PM's findings of issue 18: the API's default range, the busiest page first, the
//!   page framed at the device's width, the inclusive last day on the overlay panel, chart
//!   labels and legends that overlap nothing, the whole NPS scale by class, a funnel input that
//!   fills its row, tables that scroll in their card at 400 px, a session's path in order
//!   (`path` of `/sessions`); and issue 22's session timeline, opened from the sessions list,
//!   with s2's events in order as computed by hand (`test-artifacts/dashboard/session-timeline.png`).

mod common;
use common::*;
use serde_json::{json, Value};

/// The element the seeded clicks favour (7 clicks; the next has 3).
const HOT: &str = "#alertsDropdown";

fn day(offset: i64) -> String {
    (today() + chrono::Duration::days(offset)).to_string()
}

/// A page view, clicks, scroll and zone time, journeys, a funnel event, survey answers and
/// feedback on the SB Admin 2 pages of `origin`; returns the events (the hot element `HOT`
/// gets 7 clicks; `#messagesDropdown` a dead rage burst of 3; `#userDropdown` 1; index.html
/// has the most page views; one session, `m1`, is on a phone).
fn seed(origin: &str) -> Vec<Value> {
    let t0 = now_ms() - 20 * 60_000;
    let yesterday = now_ms() - 86_400_000 - 60_000;
    let mut evs = Vec::new();
    let url = |p: &str| format!("{origin}/{p}");
    // (session, start, pages, clicks on index.html: (selector, n, reaction_ms, gap ms))
    type Clicks<'a> = Vec<(&'a str, u32, Option<u32>, i64)>;
    let sessions: Vec<(&str, i64, Vec<&str>, Clicks)> = vec![
        (
            "s1",
            t0,
            vec!["index.html", "charts.html", "tables.html"],
            vec![(HOT, 3, Some(40), 2_000)],
        ),
        (
            "s2",
            t0 + 60_000,
            vec!["index.html", "charts.html"],
            vec![(HOT, 2, Some(40), 2_000), ("#messagesDropdown", 3, None, 150)],
        ),
        ("s3", t0 + 120_000, vec!["index.html"], vec![(HOT, 2, Some(60), 3_000)]),
        (
            "s4",
            t0 + 180_000,
            vec!["charts.html", "tables.html", "index.html"],
            vec![],
        ),
        (
            "s5",
            t0 + 240_000,
            vec!["index.html", "tables.html"],
            vec![("#userDropdown", 1, Some(30), 1_000)],
        ),
        // A path that comes back to a page (shown in order, not as distinct pages), and
        // deeper paths whose thin sunburst arcs would crowd their labels.
        (
            "s6",
            t0 + 300_000,
            vec!["index.html", "cards.html", "index.html"],
            vec![],
        ),
        (
            "s7",
            t0 + 360_000,
            vec![
                "index.html",
                "buttons.html",
                "cards.html",
                "utilities-color.html",
                "utilities-border.html",
            ],
            vec![],
        ),
        (
            "s8",
            t0 + 420_000,
            vec!["index.html", "charts.html", "utilities-animation.html", "blank.html"],
            vec![],
        ),
        (
            "s9",
            t0 + 480_000,
            vec!["index.html", "utilities-other.html", "buttons.html"],
            vec![],
        ),
        // A phone (viewport set below).
        (
            "m1",
            t0 + 540_000,
            vec!["index.html"],
            vec![("#sidebarToggleTop", 1, Some(30), 1_000)],
        ),
        (
            "y1",
            yesterday,
            vec!["index.html"],
            vec![("#userDropdown", 2, Some(30), 5_000)],
        ),
    ];
    for (s, start, pages, clicks) in &sessions {
        let mut ts = *start;
        for (i, p) in pages.iter().enumerate() {
            let pv = format!("{s}-pv{i}");
            let u = url(p);
            evs.push(event(
                "pageview",
                s,
                &u,
                ts,
                json!({"pageview_id": pv, "title": p, "referrer": ""}),
            ));
            if *p == "index.html" {
                let mut c = ts + 1_000;
                for (sel, n, reaction, gap) in clicks {
                    for k in 0..*n {
                        evs.push(event(
                            "click",
                            s,
                            &u,
                            c,
                            json!({"pageview_id": pv, "x": 900 + k * 3, "y": 30, "selector": sel,
                                   "el": {"x": 0.5, "y": 0.5}, "tag": "a", "reaction_ms": reaction,
                                   // The element's visible text, as the snippet sends it (issue 21).
                                   "text": if *sel == HOT { "Alerts" } else { "Messages" }}),
                        ));
                        c += gap;
                    }
                }
                evs.push(event(
                    "zone",
                    s,
                    &u,
                    ts + 20_000,
                    json!({"pageview_id": pv, "zone": "illustration", "visible_ms": if *s == "s3" { 100 } else { 900 }, "hover_ms": 300}),
                ));
            }
            let depth = if i == 0 { 80.0 } else { 35.0 };
            evs.push(event(
                "scroll",
                s,
                &u,
                ts + 25_000,
                json!({"pageview_id": pv, "depth": depth, "doc_h": 2400}),
            ));
            ts += 30_000;
        }
        let last = url(pages.last().unwrap());
        let pv = format!("{s}-pv{}", pages.len() - 1);
        let mut extra = |typ: &str, body: Value| {
            let mut b = body;
            b["pageview_id"] = json!(pv);
            evs.push(event(typ, s, &last, ts - 2_000, b));
        };
        match *s {
            "s1" => extra("custom", json!({"name": "signup", "props": {}})),
            "s3" => extra(
                "feedback",
                json!({"rating": 1, "category": "bug", "comment": "The alerts menu does nothing", "selector": HOT}),
            ),
            "s4" => {
                extra(
                    "survey_response",
                    json!({"survey_id": "pulse", "question_id": "nps", "kind": "nps", "value": 9, "trigger": "manual"}),
                );
                extra(
                    "survey_response",
                    json!({"survey_id": "pulse", "question_id": "csat", "kind": "csat", "value": 4, "trigger": "manual"}),
                );
                extra(
                    "survey_response",
                    json!({"survey_id": "pulse", "question_id": "why", "kind": "text", "value": "Love the charts", "trigger": "manual"}),
                );
                extra(
                    "feedback",
                    json!({"rating": 5, "category": "praise", "comment": "Great tables"}),
                );
            }
            "s5" => {
                extra(
                    "survey_response",
                    json!({"survey_id": "pulse", "question_id": "nps", "kind": "nps", "value": 3, "trigger": "manual"}),
                );
                extra(
                    "survey_response",
                    json!({"survey_id": "pulse", "question_id": "why", "kind": "text", "value": "Too slow to load the tables", "trigger": "manual"}),
                );
                extra(
                    "feedback",
                    json!({"rating": 2, "category": "idea", "comment": "Slow search"}),
                );
            }
            _ => {}
        }
    }
    for e in evs.iter_mut().filter(|e| e["session_id"] == "m1") {
        e["viewport"] = json!({"w": 390, "h": 844});
    }
    evs
}

fn dash_site(s: &Server, origin: &str) {
    s.site_with(json!({
        "name": "SB Admin", "key": "dash", "origins": [origin],
        "settings": {"zones": [{"selector": "img[src=\"img/undraw_posting_photo.svg\"]", "name": "illustration"}],
                     "rules": {"goal": "event:signup"}},
    }));
}

fn status_of(r: reqwest::blocking::Response) -> (u16, Value) {
    let st = r.status().as_u16();
    (st, r.json().unwrap_or(Value::Null))
}

/// Must-show 3 over HTTP, and the overlay grant's security.
#[test]
fn without_a_token_the_dashboard_is_an_empty_sign_in_and_every_data_call_is_refused() {
    let s = Server::start(&[]);
    let origin = "http://127.0.0.1:9";
    dash_site(&s, origin);
    let evs = seed(origin);
    let n = evs.len() as u64;
    let (st, body) = s.post(&batch("dash", evs));
    assert_eq!(st, 202, "{body}");
    s.settle("dash", n);
    let noredirect = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // `/` → the dashboard; the shell holds the sign-in and no data, with the security headers.
    let r = noredirect.get(s.url("/")).send().unwrap();
    assert_eq!(r.status().as_u16(), 302);
    assert_eq!(r.headers()["location"], "/dashboard/");
    let r = s.http.get(s.url("/dashboard/")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_string();
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        &format!("frame-src {origin}"),
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "CSP {csp:?} lacks {part:?}");
    }
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let html = r.text().unwrap();
    assert!(html.contains("id=\"signin\"") && html.contains("type=\"password\""));
    assert!(
        !html.contains("alertsDropdown") && !html.contains("<script>"),
        "no data, no inline script"
    );
    for asset in ["app.js", "app.css", "vendor/echarts.min.js"] {
        let r = s.http.get(s.url(&format!("/dashboard/{asset}"))).send().unwrap();
        assert_eq!(r.status().as_u16(), 200, "{asset}");
    }
    assert_eq!(
        s.http
            .get(s.url("/dashboard/../api-token"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        404
    );

    // Every data call the dashboard makes: 401 without a token and with a wrong one.
    let q = format!("from={}&to={}", day(-1), day(2));
    let page = "127.0.0.1:9/index.html";
    let gets = [
        "/v1/sites".to_string(),
        format!("/v1/sites/dash/problems?{q}"),
        format!("/v1/sites/dash/pages?{q}"),
        format!("/v1/sites/dash/heatmap?url={page}&{q}"),
        format!("/v1/sites/dash/zones?url={page}&{q}"),
        format!(
            "/v1/sites/dash/heatmap/compare?url={page}&{q}&from2={}&to2={}",
            day(-1),
            day(0)
        ),
        format!("/v1/sites/dash/sessions?{q}"),
        format!("/v1/sites/dash/journeys?{q}"),
        format!("/v1/sites/dash/funnel?steps={page},event:signup&{q}"),
        format!("/v1/sites/dash/voc?{q}"),
    ];
    for path in &gets {
        for auth in [None, Some("Bearer wrong-token"), Some("test-token-0123456789")] {
            let mut rb = s.http.get(s.url(path));
            if let Some(a) = auth {
                // The right token without the "Bearer " prefix is refused too.
                rb = rb.header("authorization", a);
            }
            let (st, body) = status_of(rb.send().unwrap());
            assert_eq!(st, 401, "{path} with {auth:?}: {body}");
            assert_eq!(body["field"], "authorization");
        }
        assert!(
            s.http
                .get(s.url(path))
                .bearer_auth(TOKEN)
                .send()
                .unwrap()
                .status()
                .is_success(),
            "{path}"
        );
    }
    let grant_body = json!({"url": format!("{origin}/index.html"), "from": day(-1), "to": day(2)});
    let (st, _) = status_of(
        s.http
            .post(s.url("/v1/sites/dash/overlay"))
            .json(&grant_body)
            .send()
            .unwrap(),
    );
    assert_eq!(st, 401, "an overlay grant needs a token");

    // A grant with the token: the public endpoint gives exactly /heatmap and /zones of that page.
    let (st, g) = status_of(
        s.http
            .post(s.url("/v1/sites/dash/overlay"))
            .bearer_auth(TOKEN)
            .json(&grant_body)
            .send()
            .unwrap(),
    );
    assert_eq!(st, 201, "{g}");
    assert_eq!(g["page"], page);
    let grant = g["grant"].as_str().unwrap();
    assert_eq!(
        g["link"].as_str().unwrap(),
        format!("{origin}/index.html#sightline-overlay={grant}")
    );
    let (st, o) = status_of(s.http.get(s.url(&format!("/v1/overlay?grant={grant}"))).send().unwrap());
    assert_eq!(st, 200, "{o}");
    assert_eq!(o["heatmap"], s.get(&format!("/v1/sites/dash/heatmap?url={page}&{q}")));
    assert_eq!(o["zones"], s.get(&format!("/v1/sites/dash/zones?url={page}&{q}")));
    assert_eq!(o["heatmap"]["elements"][0]["selector"], HOT);
    assert_eq!(o["heatmap"]["elements"][0]["clicks"], 7);
    // From the site's origin: allowed; from another origin: 403.
    let from = |o: &str| {
        status_of(
            s.http
                .get(s.url(&format!("/v1/overlay?grant={grant}")))
                .header("origin", o)
                .send()
                .unwrap(),
        )
        .0
    };
    assert_eq!((from(origin), from("https://evil.example")), (200, 403));

    // Forged: another page under the same signature; a changed signature; none; expired.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (payload, sig) = grant.split_once('.').unwrap();
    let mut claims: Value = serde_json::from_slice(&b64.decode(payload).unwrap()).unwrap();
    claims["page"] = json!("127.0.0.1:9/charts.html");
    let other_page = format!("{}.{sig}", b64.encode(claims.to_string()));
    let mut bad_sig = grant.to_string();
    let last = bad_sig.pop().unwrap();
    bad_sig.push(if last == 'A' { 'B' } else { 'A' });
    for (what, g) in [
        ("another page", other_page.as_str()),
        ("a changed signature", bad_sig.as_str()),
        ("no grant", ""),
        ("garbage", "x.y"),
    ] {
        let (st, body) = status_of(s.http.get(s.url(&format!("/v1/overlay?grant={g}"))).send().unwrap());
        assert_eq!((st, body["field"].as_str()), (401, Some("grant")), "{what}: {body}");
    }
    let (_, short) = status_of(
        s.http
            .post(s.url("/v1/sites/dash/overlay"))
            .bearer_auth(TOKEN)
            .json(&json!({"url": format!("{origin}/index.html"), "ttl_s": 1}))
            .send()
            .unwrap(),
    );
    // It expires a second after it was made (the server's clock runs like the system's).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let (st, body) = loop {
        let (st, body) = status_of(
            s.http
                .get(s.url(&format!("/v1/overlay?grant={}", short["grant"].as_str().unwrap())))
                .send()
                .unwrap(),
        );
        if st != 200 || std::time::Instant::now() > deadline {
            break (st, body);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!((st, body["reason"].as_str()), (401, Some("expired")));

    // Bad requests name the field; a read token of another site is refused.
    for (body, field) in [
        (json!({"url": "https://elsewhere.example/index.html"}), "url"),
        (json!({"url": "index.html"}), "url"),
        (json!({"url": format!("{origin}/"), "device": "watch"}), "device"),
        (json!({"url": format!("{origin}/"), "ttl_s": 0}), "ttl_s"),
        (json!({"url": format!("{origin}/"), "from": "yesterday"}), "from"),
    ] {
        let (st, b) = status_of(
            s.http
                .post(s.url("/v1/sites/dash/overlay"))
                .bearer_auth(TOKEN)
                .json(&body)
                .send()
                .unwrap(),
        );
        assert_eq!((st, b["field"].as_str()), (400, Some(field)), "{body}: {b}");
    }
    s.site("other", &["*"]);
    let (_, other) = status_of(
        s.http
            .post(s.url("/v1/tokens"))
            .bearer_auth(TOKEN)
            .json(&json!({"name": "other", "scope": "read", "sites": ["other"]}))
            .send()
            .unwrap(),
    );
    let (st, b) = status_of(
        s.http
            .post(s.url("/v1/sites/dash/overlay"))
            .bearer_auth(other["token"].as_str().unwrap())
            .json(&grant_body)
            .send()
            .unwrap(),
    );
    assert_eq!((st, b["field"].as_str()), (403, Some("site")));

    // The snippet loads the overlay code only on demand; /s.js stays without it.
    let core = s.http.get(s.url("/s.js")).send().unwrap().text().unwrap();
    assert!(core.contains("/s/overlay.js") && !core.contains("_overlayState"));
    let ov = s.http.get(s.url("/s/overlay.js")).send().unwrap();
    assert_eq!(ov.headers()["access-control-allow-origin"], "*");
}

/// Must-show 1, 2 and 3 in Chromium: see `tests/e2e/dashboard.mjs`.
#[test]
fn browser_dashboard_views_show_the_apis_numbers_and_the_live_overlay_marks_the_seeded_hottest_element() {
    let s = Server::start(&[]);
    let page_port = free_port();
    let origin = format!("http://127.0.0.1:{page_port}");
    dash_site(&s, &origin);
    let evs = seed(&origin);
    let n = evs.len() as u64;
    let (st, body) = s.post(&batch("dash", evs));
    assert_eq!(st, 202, "{body}");
    s.settle("dash", n);
    // A second site with the worked example of impact (analytics.md): the Problems view's
    // screenshot shows its impact lines (issue 21).
    s.site_with(json!({
        "name": "Impact example", "key": "impact", "origins": ["https://shop.example"],
        "settings": {"rules": {"goal": "event:purchase"}},
    }));
    let evs = impact_example_events(now_ms() - 600_000);
    s.post_all_and_settle("impact", evs);
    // A read token limited to "dash": what the README gives a PM for the dashboard.
    let (st, reader) = status_of(
        s.http
            .post(s.url("/v1/tokens"))
            .bearer_auth(TOKEN)
            .json(&json!({"name": "pm", "scope": "read", "sites": ["dash"]}))
            .send()
            .unwrap(),
    );
    assert_eq!(st, 201, "{reader}");
    s.run_e2e(
        "dashboard.mjs",
        "dash",
        page_port,
        &[
            ("READ_TOKEN", reader["token"].as_str().unwrap().to_string()),
            ("HOT_SELECTOR", HOT.to_string()),
            ("FROM", day(-1)),
            ("TO", day(1)),
            ("FROM2", day(-1)),
            ("TO2", day(-1)),
        ],
    );
}

/// Issue 22, segments: two visitors from different referrers and campaigns browse the SB
/// Admin 2 pages in Chromium; the dashboard filtered by one visitor's segment shows only
/// that visitor's numbers (`tests/e2e/segments.mjs`, screenshots in
/// `test-artifacts/segments/`).
#[test]
fn browser_dashboard_filtered_by_a_segment_shows_only_that_visitors_numbers() {
    let s = Server::start(&[]);
    let page_port = free_port();
    let origin = format!("http://127.0.0.1:{page_port}");
    s.site_with(json!({"name": "Segments", "key": "segs", "origins": [origin]}));
    s.run_e2e("segments.mjs", "segs", page_port, &[]);
}
