//! Voice of customer in Chromium on the real binary: surveys and the feedback widget send
//! exactly the scripted answers (`tests/e2e/voc.mjs`). The survey, feedback and `/voc`
//! endpoints are tested in process: `tests/endpoints/voc.rs`.

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;

/// `tests/e2e/voc.mjs` in Debian's Chromium on the SB Admin 2 pages: desktop exit intent
/// (not before 5 s; after it, through the top edge), the mobile rule under mobile emulation,
/// the frequency cap on a second visit, a custom-event survey, the feedback tab with an
/// element picked, and `/voc` equal to the scripted answers. Surveys come from
/// `tests/e2e/voc-surveys.json` through `sightline survey apply`.
#[test]
fn in_a_real_browser_surveys_and_feedback_widgets_send_exactly_the_scripted_answers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let s = Server::start(&[]);
    let page_port = free_port();
    s.site("voc-e2e", &[&format!("http://127.0.0.1:{page_port}")]);
    s.cli(&[
        "survey",
        "apply",
        root.join("tests/e2e/voc-surveys.json").to_str().unwrap(),
        "--site",
        "voc-e2e",
    ]);
    // The CLI wrote to the warehouse; wait for the server's site cache (refreshed every 5 s).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while s
        .http
        .get(s.url("/v1/sites/voc-e2e/config"))
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap()["feedback"]
        .is_null()
    {
        assert!(std::time::Instant::now() < deadline, "survey config not picked up");
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    s.run_e2e("voc.mjs", "voc-e2e", page_port, &[]);
}
