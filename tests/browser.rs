//! The end-to-end slice in a real browser: Debian's Chromium (driven by playwright-core)
//! visits a real third-party page (`startbootstrap-sb-admin-2` from npm) with the snippet
//! tag added, and `tests/e2e/slice.mjs` checks the query API's numbers exactly.
//!
//! Needs `node`, `/usr/bin/chromium` and `npm ci --prefix tests/e2e` (`scripts/test` does
//! all of it).

mod common;
use common::*;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

#[test]
fn a_real_browser_on_a_real_page_produces_exactly_the_scripted_numbers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        root.join("tests/e2e/node_modules/playwright-core").exists(),
        "browser test dependencies missing: run `scripts/test` (or `npm ci --prefix tests/e2e`)"
    );
    let s = Server::start(&[]);
    let page_port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    s.site("e2e", &[&format!("http://127.0.0.1:{page_port}")]);
    let status = Command::new("node")
        .arg(root.join("tests/e2e/slice.mjs"))
        .current_dir(root)
        .env("SIGHTLINE_URL", s.url(""))
        .env("SIGHTLINE_TOKEN", TOKEN)
        .env("SIGHTLINE_SITE", "e2e")
        .env("PAGE_PORT", page_port.to_string())
        .status()
        .expect("run node tests/e2e/slice.mjs");
    assert!(
        status.success(),
        "the browser scenario's numbers did not match (see its output above)"
    );
}
