//! The end-to-end slice in a real browser: Debian's Chromium (driven by playwright-core)
//! visits a real third-party page (`startbootstrap-sb-admin-2` from npm) with the snippet
//! tag added, and `tests/e2e/slice.mjs` checks the query API's numbers exactly.
//!
//! Needs `node`, `/usr/bin/chromium` and `npm ci --prefix tests/e2e` (`scripts/test` does
//! all of it).

mod common;
use common::*;

#[test]
fn a_real_browser_on_a_real_page_produces_exactly_the_scripted_numbers() {
    let s = Server::start(&[]);
    let page_port = free_port();
    s.site("e2e", &[&format!("http://127.0.0.1:{page_port}")]);
    s.run_e2e("slice.mjs", "e2e", page_port, &[]);
}
