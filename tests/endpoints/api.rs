//! The HTTP surface besides ingest: the OpenAPI document, token checks, sites admin,
//! operations endpoints, and the snippet.

use crate::common::*;
use crate::harness::Server;
use serde_json::{json, Value};

#[test]
fn the_openapi_document_lists_the_v1_contract() {
    let s = Server::start(&[]);
    let doc: serde_json::Value = s.http.get(s.url("/v1/openapi.json")).send().unwrap().json().unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/v1/events",
        "/s.js",
        "/v1/sites",
        "/v1/sites/{key}/config",
        "/v1/sites/{key}/heatmap",
        "/v1/sites/{key}/journeys",
        "/v1/sites/{key}/funnel",
        "/v1/sites/{key}/voc",
        "/healthz",
        "/readyz",
        "/metrics",
        "/v1/openapi.json",
    ] {
        assert!(paths.contains_key(p), "{p} missing from the OpenAPI document");
    }
    assert!(doc["components"]["schemas"]["IngestResponse"].is_object());
    // Each query endpoint lists the parameters it reads, and only those.
    let params = |path: &str| -> Vec<String> {
        let mut v: Vec<String> = doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    let with_range = |extra: &[&str]| -> Vec<String> {
        let segments = [
            "channel",
            "referrer",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "browser",
            "os",
            "language",
        ];
        let mut v: Vec<String> = ["key", "from", "to", "device", "bots"]
            .iter()
            .chain(&segments)
            .chain(extra)
            .map(|s| s.to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(params("/v1/sites/{key}/heatmap"), with_range(&["url", "layout"]));
    // What a query endpoint cannot answer without is marked required.
    let required = |path: &str| -> Vec<String> {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["required"] == true)
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(required("/v1/sites/{key}/heatmap"), vec!["key", "url"]);
    assert_eq!(required("/v1/sites/{key}/funnel"), vec!["key", "steps"]);
    assert_eq!(required("/v1/sites/{key}/journeys"), vec!["key"]);
    assert_eq!(params("/v1/sites/{key}/zones"), with_range(&["url", "layout"]));
    assert_eq!(params("/v1/sites/{key}/layouts"), with_range(&["url"]));
    assert_eq!(required("/v1/sites/{key}/layouts"), vec!["key", "url"]);
    assert_eq!(params("/v1/sites/{key}/journeys"), with_range(&["entry", "limit"]));
    assert_eq!(
        params("/v1/sites/{key}/funnel"),
        with_range(&["steps", "window", "count", "split"])
    );
    assert_eq!(
        params("/v1/sites/{key}/problems"),
        with_range(&["limit", "sort", "split"])
    );
    assert_eq!(params("/v1/sites/{key}/segments"), with_range(&[]));
    assert_eq!(
        params("/v1/sites/{key}/heatmap/compare"),
        with_range(&["url", "from2", "to2", "layout", "layout2"])
    );
    assert_eq!(
        params("/v1/sites/{key}/sessions"),
        with_range(&["page", "element", "has", "limit", "cursor"])
    );
}

#[test]
fn query_and_admin_calls_need_the_token() {
    let s = Server::start(&[]);
    s.site("tok", &["*"]);
    for path in [
        "/v1/sites",
        "/v1/sites/tok/heatmap?url=x",
        "/v1/sites/tok/journeys",
        "/v1/sites/tok/funnel?steps=a",
        "/v1/sites/tok/voc",
    ] {
        let none = s.http.get(s.url(path)).send().unwrap();
        assert_eq!(none.status().as_u16(), 401, "{path} without a token");
        let wrong = s.http.get(s.url(path)).bearer_auth("not-the-token").send().unwrap();
        assert_eq!(wrong.status().as_u16(), 401, "{path} with a wrong token");
        let body: serde_json::Value = wrong.json().unwrap();
        assert_eq!(body["field"], "authorization");
    }
    let r = s
        .http
        .post(s.url("/v1/sites"))
        .json(&json!({"name": "x"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

#[test]
fn sites_are_created_with_plain_curl_style_bodies_and_bad_ones_name_the_field() {
    let s = Server::start(&[]);
    // No JSON content type, as `curl -d` sends.
    let r = s
        .http
        .post(s.url("/v1/sites"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(r#"{"name":"shop.example","origins":["https://shop.example"]}"#)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let site: serde_json::Value = r.json().unwrap();
    assert!(site["key"].as_str().unwrap().starts_with("sl_"));
    let listed = s.get("/v1/sites");
    assert_eq!(listed[0]["key"], site["key"]);
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "x", "origins": ["not a url"]}), "origins"),
        (json!({"name": "x", "key": "bad key!"}), "key"),
        (json!({"nom": "x"}), "nom"),
        (json!({"origins": []}), "name"),
        (
            json!({"name": "x", "settings": {"rules": {"session_gap_ms": "30m"}}}),
            "settings.rules.session_gap_ms",
        ),
    ] {
        let r = s
            .http
            .post(s.url("/v1/sites"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{body}");
        let v: serde_json::Value = r.json().unwrap();
        assert_eq!(v["field"], field, "{body}: {v}");
    }
}

#[test]
fn the_snippet_config_and_operations_endpoints_answer() {
    let s = Server::start(&[]);
    s.site("ops", &["https://ops.example"]);
    let js = s.http.get(s.url("/s.js")).send().unwrap();
    assert_eq!(js.status().as_u16(), 200);
    assert!(js.headers()["content-type"].to_str().unwrap().contains("javascript"));
    assert!(js.text().unwrap().contains("sendBeacon"));
    let cfg: serde_json::Value = s
        .http
        .get(s.url("/v1/sites/ops/config"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(cfg["zones"].is_array());
    assert_eq!(
        s.http
            .get(s.url("/v1/sites/nope/config"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    assert_eq!(s.http.get(s.url("/healthz")).send().unwrap().status().as_u16(), 200);
    let ready: serde_json::Value = s.http.get(s.url("/readyz")).send().unwrap().json().unwrap();
    assert_eq!(ready, json!({"log": true, "warehouse": true, "saturated": false}));
    assert!(s.metrics().contains("sightline_http_requests_total") || s.metrics().contains("# TYPE"));
}

#[test]
fn a_site_key_is_never_overwritten_and_origins_are_bare_origins() {
    let s = Server::start(&[]);
    s.site("once", &["https://shop.example"]);
    let again = s
        .http
        .post(s.url("/v1/sites"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "other", "key": "once"}))
        .send()
        .unwrap();
    assert_eq!(again.status().as_u16(), 409);
    assert_eq!(
        s.get("/v1/sites")[0]["origins"],
        json!(["https://shop.example"]),
        "the first site is unchanged"
    );
    for origin in [
        "https://a.example/path",
        "https://a.example/?q=1",
        "ftp://a.example",
        "a.example",
    ] {
        let r = s
            .http
            .post(s.url("/v1/sites"))
            .bearer_auth(TOKEN)
            .json(&json!({"name": "x", "origins": [origin]}))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{origin}");
    }
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_sightline"))
        .args([
            "site",
            "add",
            "--name",
            "dup",
            "--key",
            "once",
            "--origin",
            "http://x.example",
            "--data-dir",
        ])
        .arg(&s.data_dir)
        .args(s.warehouse_args())
        .output()
        .unwrap();
    assert!(!cli.status.success(), "the CLI must refuse an existing key");
    assert!(
        String::from_utf8_lossy(&cli.stderr).contains("a site with key once exists already"),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
}

#[test]
fn unknown_routes_answer_a_json_404() {
    let s = Server::start(&[]);
    let r = s.http.get(s.url("/v1/nothing-here")).send().unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v["error"], "not_found");
    // A path outside the API says so, and does not blame the roles of a process that runs
    // them all.
    assert_eq!(v["reason"], "no GET /v1/nothing-here (see /v1/openapi.json)");
}

#[test]
fn dead_letters_are_scrubbed_of_personal_data() {
    let s = Server::start(&[]);
    s.site("pii", &["*"]);
    let bad = event(
        "feedback",
        "p1",
        "https://shop.example/checkout?email=jo.doe%40mail.example",
        now_ms(),
        json!({"rating": 9, "comment": "card 4111 1111 1111 1111, write me at jo.doe@mail.example"}),
    );
    let (st, _) = s.post(&batch("pii", vec![bad]));
    assert_eq!(st, 400);
    let dl = s.get("/v1/admin/deadletters");
    let raw = dl[0]["raw"].as_str().unwrap();
    assert!(
        !raw.contains("jo.doe@mail.example") && !raw.contains("4111 1111"),
        "{raw}"
    );
    assert!(raw.contains("[email]") && raw.contains("[card]"), "{raw}");
}

#[test]
fn a_site_is_changed_by_merge_patch_through_the_api_and_the_cli() {
    let s = Server::start(&[]);
    s.site("patchme", &["https://shop.example"]);
    let auth = |r: reqwest::blocking::RequestBuilder| r.bearer_auth(TOKEN);
    // One threshold changes; the others keep their defaults.
    let r = auth(s.http.patch(s.url("/v1/sites/patchme")))
        .json(&json!({"settings": {"rules": {"rage_min_clicks": 4}, "zones": [{"selector": "#buy", "name": "cta"}]}}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let site: serde_json::Value = r.json().unwrap();
    assert_eq!(site["settings"]["rules"]["rage_min_clicks"], 4);
    assert_eq!(site["settings"]["rules"]["dead_click_ms"], 2500);
    assert_eq!(site["origins"], json!(["https://shop.example"]));
    // The public config serves the new zone rule at once.
    let cfg: serde_json::Value = s
        .http
        .get(s.url("/v1/sites/patchme/config"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(cfg["zones"][0]["name"], "cta");
    // A bad setting names the field; an unknown site is a 404 naming the key.
    let bad = auth(s.http.patch(s.url("/v1/sites/patchme")))
        .json(&json!({"settings": {"rules": {"rage_min_clicks": "many"}}}))
        .send()
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    assert_eq!(
        bad.json::<serde_json::Value>().unwrap()["field"],
        "settings.rules.rage_min_clicks"
    );
    let bad = auth(s.http.patch(s.url("/v1/sites/patchme")))
        .json(&json!({"settings": {"zones": [{"name": "ok", "selector": "#a"}, {"name": "x"}]}}))
        .send()
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    assert_eq!(
        bad.json::<serde_json::Value>().unwrap()["field"],
        "settings.zones[1].selector"
    );
    let bad = auth(s.http.post(s.url("/v1/sites")))
        .body("{\"name\": \"x\", \"origins\": [1]}")
        .send()
        .unwrap();
    assert_eq!(bad.json::<serde_json::Value>().unwrap()["field"], "origins[0]");
    let bad = auth(s.http.post(s.url("/v1/sites"))).body("not json").send().unwrap();
    assert_eq!(bad.json::<serde_json::Value>().unwrap()["field"], "body");
    let missing = auth(s.http.patch(s.url("/v1/sites/nope")))
        .json(&json!({}))
        .send()
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    let no_token = s
        .http
        .patch(s.url("/v1/sites/patchme"))
        .json(&json!({}))
        .send()
        .unwrap();
    assert_eq!(no_token.status().as_u16(), 401);
    // The CLI takes the same patch (null resets to the default) and the API reads it back.
    let out = s.cli(&[
        "site",
        "update",
        "patchme",
        "--settings",
        r#"{"rules": {"rage_min_clicks": null}}"#,
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown: serde_json::Value = serde_json::from_slice(&s.cli(&["site", "show", "patchme"]).stdout).unwrap();
    assert_eq!(shown["settings"]["rules"]["rage_min_clicks"], 3);
    assert_eq!(shown["settings"]["zones"][0]["selector"], "#buy");
    // A running server picks the change up within its 5 s site refresh.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let back = s.get("/v1/sites/patchme");
        if back["settings"]["rules"]["rage_min_clicks"] == 3 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "server did not pick up the CLI change: {back}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Faults a new user found by trying: each is a clear 4xx naming the field now.
#[test]
fn out_of_range_input_is_refused_naming_the_field() {
    let s = Server::start(&[]);
    s.site("oor", &["*"]);
    let now = now_ms();
    // A 1970 timestamp would make the rollups recompute every day since; live ingest refuses
    // anything older than 31 days (history goes through the import endpoint).
    let old = event("pageview", "s1", "https://o.example/", 1000, json!({}));
    let far = event(
        "click",
        "s1",
        "https://o.example/",
        now,
        json!({"x": 1e30, "y": 1, "selector": "a"}),
    );
    let neg = event(
        "click",
        "s1",
        "https://o.example/",
        now,
        json!({"x": -10, "y": 1, "selector": "a"}),
    );
    let ok = event("pageview", "s1", "https://o.example/", now, json!({}));
    let (code, body) = s.post(&batch("oor", vec![old, far, neg, ok]));
    assert_eq!(code, 202, "{body}");
    let fields: Vec<&str> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["ts", "x", "x"], "{body}");
    // An answer that does not fit the site's survey definition.
    let put = s
        .http
        .put(s.url("/v1/sites/oor/surveys/nps1"))
        .bearer_auth(TOKEN)
        .json(
            &json!({"questions": [{"id": "q1", "kind": "nps", "text": "Recommend us?"},
                                    {"id": "q2", "kind": "choice", "text": "Why?", "options": ["Price", "Docs"]}],
                      "trigger": {"type": "manual"}}),
        )
        .send()
        .unwrap();
    assert!(put.status().is_success(), "{}", put.text().unwrap());
    let answer = |q: &str, kind: &str, value: Value| {
        event(
            "survey_response",
            "s1",
            "https://o.example/",
            now,
            json!({"survey_id": "nps1", "question_id": q, "kind": kind, "value": value}),
        )
    };
    let (_, body) = s.post(&batch(
        "oor",
        vec![
            answer("q1", "csat", json!(3)),
            answer("q2", "choice", json!("Nope")),
            answer("q9", "nps", json!(9)),
            answer("q1", "nps", json!(9)),
        ],
    ));
    let fields: Vec<&str> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["kind", "value", "question_id"], "{body}");
    assert_eq!(body["accepted"], 1, "{body}");

    // An empty feedback (no rating, comment or category) says nothing.
    let (_, body) = s.post(&batch(
        "oor",
        vec![event(
            "feedback",
            "s1",
            "https://o.example/",
            now,
            json!({"selector": "#x"}),
        )],
    ));
    assert_eq!(body["rejected"][0]["field"], "rating", "{body}");
    let r = s
        .http
        .get(s.url("/v1/sites/oor/voc?category=rant"))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.json::<Value>().unwrap()["field"], "category");
    // Funnel windows and steps.
    for (q, field) in [
        ("steps=a,b&window=999999999999d", "window"),
        ("steps=a,b&window=0m", "window"),
        ("steps=a,b&window=30", "window"),
        ("steps=a,,b", "steps"),
        ("steps=event:", "steps"),
    ] {
        let r = s
            .http
            .get(s.url(&format!("/v1/sites/oor/funnel?{q}")))
            .bearer_auth(TOKEN)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{q}");
        assert_eq!(r.json::<Value>().unwrap()["field"], field, "{q}");
    }
    // Settings that would make reports meaningless.
    for (patch, field) in [
        (json!({"rules": {"grid_cell_px": 0}}), "settings.rules.grid_cell_px"),
        (
            json!({"rules": {"rage_min_clicks": 1}}),
            "settings.rules.rage_min_clicks",
        ),
        (json!({"rules": {"session_gap_ms": 0}}), "settings.rules.session_gap_ms"),
        (
            json!({"rules": {"rage_max_distance_px": -3}}),
            "settings.rules.rage_max_distance_px",
        ),
        (json!({"zones": [{"selector": "", "name": "x"}]}), "settings.zones[0]"),
    ] {
        let r = s
            .http
            .patch(s.url("/v1/sites/oor"))
            .bearer_auth(TOKEN)
            .json(&json!({ "settings": patch }))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{patch}");
        assert_eq!(r.json::<Value>().unwrap()["field"], field, "{patch}");
    }
    // `rollup rebuild` reads a range as the query API does: `--to` = `--from` is that one day,
    // and a `--to` before `--from` is refused naming `--from`.
    let rebuild = |from: &str, to: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_sightline"))
            .args([
                "rollup",
                "rebuild",
                "--site",
                "oor",
                "--from",
                from,
                "--to",
                to,
                "--data-dir",
            ])
            .arg(&s.data_dir)
            .args(s.warehouse_args())
            .output()
            .unwrap()
    };
    let out = rebuild("2026-11-29", "2026-11-29");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("for recomputation"));
    let out = rebuild("2026-11-29", "2026-11-28");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--from"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A token limited to one site administers that site, and only that one; tokens for
    // unknown sites are refused when made.
    let r = s
        .http
        .post(s.url("/v1/tokens"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "ghost", "scope": "read", "sites": ["sl_ghost"]}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.json::<Value>().unwrap()["field"], "sites");
    let t: Value = s
        .http
        .post(s.url("/v1/tokens"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "oor-admin", "scope": "admin", "sites": ["oor"]}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let tok = t["token"].as_str().unwrap();
    let r = s
        .http
        .patch(s.url("/v1/sites/oor"))
        .bearer_auth(tok)
        .json(&json!({"name": "renamed"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = s
        .http
        .get(s.url("/v1/sites/oor/surveys"))
        .bearer_auth(tok)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // Listing sites shows a limited token only its own site, never another's.
    let r = s.http.get(s.url("/v1/sites")).bearer_auth(tok).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let keys: Vec<String> = r
        .json::<Vec<Value>>()
        .unwrap()
        .iter()
        .map(|x| x["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys, vec!["oor".to_string()]);
}
