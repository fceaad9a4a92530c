//! Field cases of issue 18 in a real browser: Debian's Chromium (playwright-core) on the SB
//! Admin 2 pages with the real snippet, each scenario `tests/e2e/field-*.mjs` checking the
//! query API's numbers against what the browser did (`tests/e2e/field-lib.mjs` is their
//! shared harness; screenshots in `test-artifacts/field/`).
//!
//! Needs `node`, `/usr/bin/chromium` and `npm ci --prefix tests/e2e`.

mod common;
use common::*;
use serde_json::{json, Value};

/// Start a server with `args`, make the sites (the first for the pages on a fresh
/// `PAGE_PORT`, the second, if any, for `PAGE_PORT2`: a second origin, always passed) with
/// their settings, and run `script` for the first site with `env` added (`SIGHTLINE_SITE2`
/// names the second).
fn scenario(script: &str, args: &[&str], sites: &[(&str, Value)], env: &[(&str, String)]) {
    let s = Server::start(args);
    let first = free_port();
    let ports = [first, std::iter::repeat_with(free_port).find(|p| *p != first).unwrap()];
    for ((key, settings), port) in sites.iter().zip(ports) {
        s.site_with(
            json!({"name": key, "key": key, "origins": [format!("http://127.0.0.1:{port}")], "settings": settings}),
        );
    }
    let mut env = env.to_vec();
    env.push(("PAGE_PORT2", ports[1].to_string()));
    if let Some((key, _)) = sites.get(1) {
        env.push(("SIGHTLINE_SITE2", key.to_string()));
    }
    s.run_e2e(script, sites[0].0, ports[0], &env);
}

/// The survey and feedback widgets of the widget scenarios: an NPS survey shown by
/// `sightline.showSurvey('nps')`, and the feedback tab.
fn widget_settings() -> Value {
    json!({
        "surveys": [{"id": "nps", "title": "Quick question",
            "questions": [{"id": "q1", "kind": "nps", "text": "How likely are you to recommend us?"}],
            "trigger": {"type": "manual"}, "frequency": "session"}],
        "feedback": {"enabled": true, "categories": ["bug", "idea"]}
    })
}

/// C1: hash routes are page views only for a site with `hash_routing`, anchors never, and
/// each navigation counts once whatever events it fires (`field-hash.mjs`).
#[test]
fn hash_routes_and_double_firing_navigation_count_one_page_view_per_navigation() {
    let sites = [
        ("hash", json!({"page_keys": {"hash_routing": true}})),
        ("nohash", json!({})),
    ];
    scenario("field-hash.mjs", &[], &sites, &[]);
}

/// C2: clicks inside open shadow roots get a selector through the root, their position in
/// the element, and rage and dead detection (`field-shadow.mjs`).
#[test]
fn clicks_inside_shadow_roots_are_credited_to_the_inner_element() {
    scenario("field-shadow.mjs", &[], &[("shadow", json!({}))], &[]);
}

/// C3: clicks inside a cross-origin frame belong to the frame's own site, frame-local; the
/// parent counts none of them (`field-iframe.mjs`).
#[test]
fn clicks_inside_a_cross_origin_frame_are_not_the_parent_pages() {
    scenario(
        "field-iframe.mjs",
        &[],
        &[("parent", json!({})), ("frame", json!({}))],
        &[],
    );
}

/// C5: clicks on fixed and sticky headers are kept in viewport coordinates, other clicks in
/// page coordinates, and scroll depth is unaffected (`field-fixed.mjs`).
#[test]
fn clicks_on_fixed_and_sticky_headers_are_placed_in_viewport_space() {
    scenario("field-fixed.mjs", &[], &[("fixed", json!({}))], &[]);
}

/// C10: under a strict Content-Security-Policy the snippet, the widgets and the overlay run
/// without a single violation and events arrive (`field-csp.mjs`; the pages come through a
/// proxy on `PAGE_PORT` that sets the policy, from the page server on `PAGE_PORT2`).
#[test]
fn a_strict_content_security_policy_is_never_violated() {
    scenario("field-csp.mjs", &[], &[("csp", widget_settings())], &[]);
}

/// C13: a server with a small body cap answers 413; the snippet halves its batches until
/// they fit, drops (and counts) a single event that never fits, never loops on 4xx, backs
/// off on 429 and 5xx, and every other event is stored exactly once (`field-batch.mjs`).
#[test]
fn oversized_batches_are_halved_and_every_event_arrives_exactly_once() {
    let cap = 4000;
    scenario(
        "field-batch.mjs",
        &["--max-batch-bytes", &cap.to_string()],
        &[("batch", json!({}))],
        &[("MAX_BATCH_BYTES", cap.to_string())],
    );
}

/// Findings 1 and 2: the NPS scale sits on one row at desktop and phone widths; in overlay
/// mode no widget loads and nothing is sent (`field-widgets.mjs`).
#[test]
fn the_nps_scale_is_one_row_and_overlay_mode_loads_no_widgets() {
    scenario("field-widgets.mjs", &[], &[("widgets", widget_settings())], &[]);
}
