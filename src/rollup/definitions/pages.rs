//! Page-view facts: quick backs, scroll depth, the page view's anchor event, the scroll-map
//! depths.

use super::*;

/// Scroll map depths, percent (analytics.md, "Scroll map": 0, 10, …, 100 %).
pub(super) const SCROLL_DEPTHS: [u32; 11] = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100];

/// Quick back (analytics.md, Clarity's "quick back"): page view `i` is left for the page
/// before it — the next page view has the previous page view's key (and that key differs
/// from this one) and starts at most `quick_back_ms` after this page view.
pub(in crate::rollup) fn is_quick_back(pageviews: &[PageView], i: usize, rules: &Rules) -> bool {
    i >= 1
        && i + 1 < pageviews.len()
        && pageviews[i + 1].page_key == pageviews[i - 1].page_key
        && pageviews[i].page_key != pageviews[i - 1].page_key
        && pageviews[i + 1].ts - pageviews[i].ts <= rules.quick_back_ms
}

/// Deepest scroll of a page view in percent, rounded to 0.1 (0 without scroll events), and
/// the largest document height its scroll events reported.
pub(in crate::rollup) fn scroll_of(pv: &PageView) -> (f64, Option<u32>) {
    let mut depth = 0.0f64;
    let mut doc_h: Option<u32> = None;
    for e in &pv.events {
        if let Payload::Scroll { depth: d, doc_h: h } = &e.payload {
            depth = depth.max(*d);
            doc_h = doc_h.max(*h);
        }
    }
    ((depth * 10.0).round() / 10.0, doc_h)
}

/// The event that places a page view in the session order: its pageview event, else (a
/// synthetic page view) its first event.
pub(in crate::rollup) fn anchor<'a>(pv: &PageView<'a>) -> Option<&'a Event> {
    pv.pageview.or_else(|| pv.events.first().copied())
}
