//! Heatmaps in Chromium on the real binary (issue 4 and 21): the element view at three widths
//! and a scripted zone visit (`tests/e2e/heatmap.mjs`), two builds with generated class
//! hashes (`tests/e2e/builds.mjs`). The heatmap, zone, problem and session endpoints are
//! tested in process: `tests/endpoints/heatmaps.rs`.

mod common;
use common::*;
use serde_json::json;

/// Must-show 1 and 2 of issue 4 in Chromium on SB Admin 2: see `tests/e2e/heatmap.mjs`.
#[test]
fn browser_element_view_at_three_widths_and_an_exact_scripted_zone_visit() {
    let s = Server::start(&[]);
    let page_port = free_port();
    // The zone comes from a site rule (selector → name), not from editing the page.
    s.site_with(json!({
        "name": "hm", "key": "hm", "origins": [format!("http://127.0.0.1:{page_port}")],
        "settings": {"zones": [{"selector": "img[src=\"img/undraw_posting_photo.svg\"]", "name": "illustration"}]},
    }));
    s.run_e2e("heatmap.mjs", "hm", page_port, &[]);
}

/// Issue 21, must-show 2: two builds of the SB Admin 2 page whose button carries a
/// CSS-module class with a different generated hash give one element with 2 clicks, whose
/// selector still finds the button, with its visible text, and one layout version; a button
/// moved from one card zone to another gives two more layout versions, each with its own
/// clicks in `/heatmap?layout=` (`tests/e2e/builds.mjs`).
#[test]
fn browser_two_builds_with_generated_class_hashes_give_one_element() {
    let s = Server::start(&[]);
    let page_port = free_port();
    s.site("builds", &[&format!("http://127.0.0.1:{page_port}")]);
    s.run_e2e("builds.mjs", "builds", page_port, &[]);
}
