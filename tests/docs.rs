//! The published documentation against the code: `docs/api.md` against the OpenAPI document
//! (`GET /v1/openapi.json`) and the routes the server registers, `docs/analytics.md` against
//! the code's thresholds, and the single-day date range both documents promise.

mod common;
use common::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use utoipa::OpenApi;

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"];

fn read(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The OpenAPI document as served at `GET /v1/openapi.json` (the handler serializes this).
fn openapi() -> Value {
    serde_json::to_value(sightline::http::openapi::ApiDoc::openapi()).unwrap()
}

/// `(METHOD, path)` → the operation object, for every operation of the OpenAPI document.
fn operations(doc: &Value) -> BTreeMap<(String, String), Value> {
    let mut out = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if METHODS.contains(&method.to_uppercase().as_str()) {
                out.insert((method.to_uppercase(), path.clone()), op.clone());
            }
        }
    }
    out
}

/// The route sections of docs/api.md: a heading `### METHOD /path` starts one, the next
/// `##`/`###` heading ends it. `(METHOD, path)` → the section's text.
fn doc_sections(md: &str) -> BTreeMap<(String, String), String> {
    let mut out: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in md.lines() {
        if line.starts_with("## ") || line.starts_with("### ") {
            current = None;
            if let Some(h) = line.strip_prefix("### ") {
                let mut words = h.split_whitespace();
                if let (Some(m), Some(p)) = (words.next(), words.next()) {
                    if METHODS.contains(&m) {
                        let key = (m.to_string(), p.trim_matches('`').to_string());
                        assert!(!out.contains_key(&key), "docs/api.md: {} {} twice", key.0, key.1);
                        out.insert(key.clone(), String::new());
                        current = Some(key);
                    }
                }
            }
            continue;
        }
        if let Some(k) = &current {
            let s = out.get_mut(k).unwrap();
            s.push_str(line);
            s.push('\n');
        }
    }
    out
}

/// Names in the first column of the parameter tables of a section whose second column is
/// `query`: rows like ``| `steps` | query | … |``.
fn doc_query_params(section: &str) -> BTreeSet<String> {
    section
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells.len() > 3 && cells[2] == "query").then(|| cells[1].to_string())
        })
        .flat_map(|names| {
            names
                .split(',')
                .map(|n| n.trim().trim_matches('`').to_string())
                .collect::<Vec<_>>()
        })
        .filter(|n| !n.is_empty())
        .collect()
}

#[test]
fn api_md_documents_exactly_the_routes_and_parameters_of_the_openapi_document() {
    let doc = openapi();
    let ops = operations(&doc);
    let md = read("docs/api.md");
    let sections = doc_sections(&md);
    let in_openapi: BTreeSet<_> = ops.keys().cloned().collect();
    let in_doc: BTreeSet<_> = sections.keys().cloned().collect();
    let missing: Vec<_> = in_openapi.difference(&in_doc).collect();
    let extra: Vec<_> = in_doc.difference(&in_openapi).collect();
    assert!(
        missing.is_empty(),
        "routes in the OpenAPI document without a `### METHOD /path` section in docs/api.md: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "docs/api.md documents routes the OpenAPI document does not have: {extra:?}"
    );
    let mut problems = Vec::new();
    for ((method, path), op) in &ops {
        let section = &sections[&(method.clone(), path.clone())];
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let mut query = BTreeSet::new();
        for p in &params {
            let (name, place) = (p["name"].as_str().unwrap(), p["in"].as_str().unwrap());
            if place == "path" && !path.contains(&format!("{{{name}}}")) {
                problems.push(format!(
                    "OpenAPI {method} {path}: path parameter `{name}` is not in the path (a query parameter declared in the wrong place?)"
                ));
            }
            if place == "query" {
                query.insert(name.to_string());
            }
            if !section.contains(&format!("`{name}`")) {
                problems.push(format!(
                    "docs/api.md, {method} {path}: the {place} parameter `{name}` of the OpenAPI document is not named"
                ));
            }
        }
        for unknown in doc_query_params(section).difference(&query) {
            problems.push(format!(
                "docs/api.md, {method} {path}: query parameter `{unknown}` is not in the OpenAPI document"
            ));
        }
        // Every status the OpenAPI document lists is mentioned in the section.
        for status in op["responses"].as_object().unwrap().keys() {
            if !section.contains(&format!("`{status}`")) {
                problems.push(format!(
                    "docs/api.md, {method} {path}: status `{status}` of the OpenAPI document is not mentioned"
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "docs/api.md vs the OpenAPI document:\n{}",
        problems.join("\n")
    );
}

/// Every route the server registers (`.route("…", web::method()…)` in `src/http/mod.rs` and
/// `src/http/dashboard.rs`) is in the OpenAPI document, except the redirects to the dashboard,
/// its static assets and the favicon.
#[test]
fn every_registered_route_is_in_the_openapi_document() {
    let ops: BTreeSet<(String, String)> = operations(&openapi()).into_keys().collect();
    let not_api = ["/", "/dashboard", "/dashboard/{asset:.*}", "/favicon.ico"];
    let mut routes = BTreeSet::new();
    for file in ["src/http/mod.rs", "src/http/dashboard.rs"] {
        let src = read(file);
        for chunk in src.split(".route(").skip(1) {
            let Some(rest) = chunk.strip_prefix('"') else { continue };
            let Some((path, after)) = rest.split_once('"') else {
                continue;
            };
            let Some(m) = after.split("web::").nth(1).and_then(|s| s.split("()").next()) else {
                continue;
            };
            if !not_api.contains(&path) {
                routes.insert((m.to_uppercase(), path.to_string()));
            }
        }
    }
    assert!(routes.len() > 30, "found only {} routes: {routes:?}", routes.len());
    let missing: Vec<_> = routes.difference(&ops).collect();
    assert!(
        missing.is_empty(),
        "routes served but not in the OpenAPI document (add them to src/http/openapi.rs and docs/api.md): {missing:?}"
    );
}

/// The values of the `| `name` | value | … |` rows of the "Defaults" table of
/// docs/analytics.md.
fn analytics_defaults(md: &str) -> BTreeMap<String, String> {
    let start = md
        .find("## Defaults")
        .expect("docs/analytics.md has a `## Defaults` section");
    let rest = &md[start + 3..];
    let end = rest.find("\n## ").unwrap_or(rest.len());
    rest[..end]
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells.len() > 3 && cells[1].starts_with('`')).then(|| {
                (
                    cells[1].trim_matches('`').to_string(),
                    cells[2].trim_matches('`').to_string(),
                )
            })
        })
        .collect()
}

#[test]
fn analytics_md_quotes_the_code_defaults() {
    let md = read("docs/analytics.md");
    let table = analytics_defaults(&md);
    // The per-site rules: every field of the default `settings.rules` (as
    // `GET /v1/sites/{key}` shows it) with its value.
    let rules = serde_json::to_value(sightline::rollup::Rules::default()).unwrap();
    let mut expected: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in rules.as_object().unwrap() {
        let v = match v {
            Value::Null => "null".to_string(),
            Value::String(s) => s.clone(),
            Value::Array(a) if a.is_empty() => "[]".to_string(),
            Value::Number(n) => match n.as_f64() {
                Some(f) if f.fract() == 0.0 => format!("{}", f as i64),
                _ => n.to_string(),
            },
            other => other.to_string(),
        };
        expected.insert(format!("rules.{k}"), v);
    }
    // Fixed thresholds, from public constants.
    use sightline::event::{enrich, validate, DeviceClass, FEEDBACK_CATEGORIES, NEGATIVE_RATING_MAX};
    use sightline::survey::EXIT_INTENT;
    let mobile_max = (0..5000)
        .take_while(|w| DeviceClass::from_width(*w) == DeviceClass::Mobile)
        .last()
        .unwrap();
    let tablet_max = (0..5000)
        .filter(|w| DeviceClass::from_width(*w) == DeviceClass::Tablet)
        .last()
        .unwrap();
    for (k, v) in [
        ("skew_threshold_ms", enrich::SKEW_THRESHOLD_MS.to_string()),
        ("future_clamp_ms", enrich::FUTURE_CLAMP_MS.to_string()),
        ("max_live_age_ms", enrich::MAX_LIVE_AGE_MS.to_string()),
        ("device.mobile_max_px", mobile_max.to_string()),
        ("device.tablet_max_px", tablet_max.to_string()),
        ("negative_rating_max", NEGATIVE_RATING_MAX.to_string()),
        ("feedback_categories", FEEDBACK_CATEGORIES.join(", ")),
        ("max_comment_chars", validate::MAX_COMMENT_CHARS.to_string()),
        ("max_text_chars", validate::MAX_TEXT_CHARS.to_string()),
        ("exit_intent.min_page_ms", EXIT_INTENT.min_page_ms.to_string()),
        ("exit_intent.hidden_ms", EXIT_INTENT.hidden_ms.to_string()),
        ("exit_intent.scroll_px_per_s", EXIT_INTENT.scroll_px_per_s.to_string()),
        ("el_cells", sightline::rollup::EL_CELLS.to_string()),
        ("top_terms", sightline::http::query::voc::TOP_TERMS.to_string()),
        (
            "max_funnel_window_ms",
            sightline::http::query::MAX_WINDOW_MS.to_string(),
        ),
        (
            "impact.min_sessions",
            sightline::rollup::impact::MIN_SESSIONS.to_string(),
        ),
        ("impact.z_99", format!("{:.4}", sightline::rollup::impact::Z_99)),
        (
            "impact.funnel_goal_window_ms",
            sightline::rollup::impact::FUNNEL_GOAL_WINDOW_MS.to_string(),
        ),
        (
            "regression.baseline_days",
            sightline::rollup::regressions::BASELINE_DAYS.to_string(),
        ),
        ("regression.ratio", sightline::rollup::regressions::RATIO.to_string()),
        (
            "regression.min_pageviews",
            sightline::rollup::regressions::MIN_PAGEVIEWS.to_string(),
        ),
        (
            "regression.min_baseline_days",
            sightline::rollup::regressions::MIN_BASELINE_DAYS.to_string(),
        ),
    ] {
        expected.insert(k.to_string(), v);
    }
    let mut wrong = Vec::new();
    for (k, v) in &expected {
        match table.get(k) {
            None => wrong.push(format!("`{k}` missing (code: {v})")),
            Some(d) if d != v => wrong.push(format!("`{k}`: docs say {d}, code says {v}")),
            _ => {}
        }
    }
    for k in table.keys().filter(|k| !expected.contains_key(*k)) {
        wrong.push(format!("`{k}` is not checked against the code (add it to this test)"));
    }
    assert!(
        wrong.is_empty(),
        "docs/analytics.md, Defaults table vs the code:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn readme_links_the_published_docs_only() {
    let readme = read("README.md");
    for doc in ["docs/api.md", "docs/analytics.md"] {
        assert!(readme.contains(&format!("({doc})")), "README.md does not link {doc}");
        assert!(Path::new(env!("CARGO_MANIFEST_DIR")).join(doc).exists());
    }
    // Relative links of the README and the docs point at files of the repository.
    for file in ["README.md", "docs/api.md", "docs/analytics.md"] {
        let text = read(file);
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let dir = dir.parent().unwrap();
        for link in text.split("](").skip(1).filter_map(|s| s.split(')').next()) {
            let target = link.split('#').next().unwrap();
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            assert!(dir.join(target).exists(), "{file}: broken link ({link})");
            if let Some(anchor) = link.split_once('#').map(|(_, a)| a) {
                let text = if target.is_empty() {
                    text.clone()
                } else {
                    std::fs::read_to_string(dir.join(target)).unwrap()
                };
                assert!(
                    anchors(&text).contains(anchor),
                    "{file}: link ({link}) names no heading of its target"
                );
            }
        }
    }
}

/// GitHub's anchors of the headings of a Markdown text: lower case, spaces to `-`, other
/// punctuation than `-` and `_` dropped.
fn anchors(md: &str) -> BTreeSet<String> {
    md.lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| {
            l.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

/// `from=D&to=D` is the one UTC day D (`to` is exclusive otherwise); `to` before `from` is a
/// `400` naming `from`. Also: the served OpenAPI document is the one checked above.
#[test]
fn a_range_whose_to_equals_its_from_is_that_one_day() {
    let s = Server::start(&[]);
    let served: Value = s.http.get(s.url("/v1/openapi.json")).send().unwrap().json().unwrap();
    assert_eq!(served, openapi(), "GET /v1/openapi.json differs from ApiDoc::openapi()");

    s.site("day", &["*"]);
    const DAY: i64 = 86_400_000;
    let now = now_ms();
    let today = now - now.rem_euclid(DAY);
    let date = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap()
            .date_naive()
            .to_string()
    };
    let (d, yesterday, tomorrow) = (date(today), date(today - DAY), date(today + DAY));
    let url = "https://shop.example/pricing";
    // 3 page views today (3 sessions), 2 yesterday: distinct sessions, in the past.
    let t_today = today + (now - today) / 2;
    let t_yesterday = today - DAY / 2;
    let mut events = Vec::new();
    for i in 0..3 {
        events.push(event("pageview", &format!("today-{i}"), url, t_today, json!({})));
    }
    for i in 0..2 {
        events.push(event("pageview", &format!("yday-{i}"), url, t_yesterday, json!({})));
    }
    let (status, body) = s.post(&batch("day", events));
    assert_eq!(status, 202, "{body}");
    s.settle("day", 5);

    let heatmap = |q: &str| {
        s.get(&format!("/v1/sites/day/heatmap?url={url}&{q}"))["pageviews"]
            .as_u64()
            .unwrap()
    };
    let journeys = |q: &str| {
        s.get(&format!("/v1/sites/day/journeys?{q}"))["sessions"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(heatmap(&format!("from={d}&to={d}")), 3, "from=D&to=D is day D");
    assert_eq!(
        heatmap(&format!("from={d}&to={tomorrow}")),
        3,
        "to exclusive: the same day"
    );
    assert_eq!(heatmap(&format!("from={yesterday}&to={yesterday}")), 2);
    assert_eq!(heatmap(&format!("from={yesterday}&to={d}")), 2, "to is exclusive");
    assert_eq!(heatmap(&format!("from={yesterday}&to={tomorrow}")), 5);
    assert_eq!(journeys(&format!("from={d}&to={d}")), 3);
    assert_eq!(journeys(&format!("from={yesterday}&to={yesterday}")), 2);
    // The same in ms: `to` equal to `from` is the UTC day holding it.
    assert_eq!(heatmap(&format!("from={t_today}&to={t_today}")), 3);
    // The second range of a compare takes the same rule.
    let c = s.get(&format!(
        "/v1/sites/day/heatmap/compare?url={url}&from={yesterday}&to={yesterday}&from2={d}&to2={d}"
    ));
    assert_eq!(
        (c["pageviews"].as_u64(), c["pageviews2"].as_u64()),
        (Some(2), Some(3)),
        "{c}"
    );

    // `to` before `from` is refused, naming the field, with the documented error body.
    for (q, field) in [
        (format!("from={d}&to={yesterday}"), "from"),
        (format!("from={d}&to={d}&from2={d}&to2={yesterday}"), "from2"),
    ] {
        let path = if field == "from" {
            format!("/v1/sites/day/journeys?{q}")
        } else {
            format!("/v1/sites/day/heatmap/compare?url={url}&{q}")
        };
        let r = s.http.get(s.url(&path)).bearer_auth(TOKEN).send().unwrap();
        assert_eq!(r.status().as_u16(), 400, "{path}");
        let body: Value = r.json().unwrap();
        assert_eq!(body["error"], "bad_request", "{body}");
        assert_eq!(body["field"], field, "{body}");
        assert!(body["reason"].is_string(), "{body}");
    }
}
