//! Click facts of a page view (analytics.md, "Rage click", "Dead click"): which clicks are
//! rage, dead, exempt or the tracker's own.

use super::*;

/// `<input type>` values whose repeated clicks are editing, not rage (analytics.md, "Rage
/// click": not counted on text inputs or number steppers; A3 adds pickers and sliders).
const NO_RAGE_INPUT_TYPES: [&str; 13] = [
    "text",
    "number",
    "email",
    "password",
    "search",
    "tel",
    "url",
    "date",
    "time",
    "datetime-local",
    "month",
    "week",
    "range",
];

/// What the rollups need to know about one click.
pub(in crate::rollup) struct ClickFact<'a> {
    /// The click event.
    pub(in crate::rollup) event: &'a Event,
    pub(in crate::rollup) x: f64,
    pub(in crate::rollup) y: f64,
    /// The normalised selector ([`crate::rollup::selector::normalize_selector`]).
    pub(in crate::rollup) selector: std::borrow::Cow<'a, str>,
    pub(in crate::rollup) zone: &'a str,
    pub(in crate::rollup) el: Option<(f64, f64)>,
    pub(in crate::rollup) dead: bool,
    /// First click of a rage burst (a burst counts once, on its first click).
    pub(in crate::rollup) rage: bool,
    /// On the first click of a rage burst, the clicks in the burst; 0 on every other click.
    pub(in crate::rollup) rage_burst: u32,
}

/// A click with no reaction within `dead_click_ms` (reaction `None` included), unless it
/// navigates or a modifier key was held (analytics.md, "Dead click").
/// Clicks into a text field, stepper or picker (`text_entry`) are never dead either: focusing
/// shows only a caret or a native picker, which the page's DOM does not reflect.
fn is_dead(reaction_ms: Option<u32>, navigates: bool, modifier: bool, text_entry: bool, rules: &Rules) -> bool {
    !navigates && !modifier && !text_entry && reaction_ms.is_none_or(|r| r > rules.dead_click_ms)
}

/// Text-like inputs, steppers and pickers (an `<input>` without a type is a text input),
/// `textarea` and `select`.
fn text_entry(tag: Option<&str>, input_type: Option<&str>) -> bool {
    let tag = tag.map(|t| t.trim().to_ascii_lowercase());
    let text_like = match input_type {
        Some(t) => NO_RAGE_INPUT_TYPES.contains(&t.trim().to_ascii_lowercase().as_str()),
        None => tag.as_deref() == Some("input"),
    };
    text_like || matches!(tag.as_deref(), Some("textarea") | Some("select"))
}

/// Clicks never counted as rage: [`text_entry`] targets and selectors on the site's ignore
/// list (A3).
fn rage_exempt(tag: Option<&str>, input_type: Option<&str>, selector: &str, rules: &Rules) -> bool {
    text_entry(tag, input_type)
        || rules
            .rage_ignore_selectors
            .iter()
            .any(|entry| selector_ignored(selector, entry))
}

/// An ignore-list entry matches a selector that equals it, ends with it, or whose last
/// compound selector starts with it (so `button.qty-plus` matches
/// `div.cart > button.qty-plus:nth-child(2)`). Empty entries match nothing.
pub(super) fn selector_ignored(selector: &str, entry: &str) -> bool {
    let selector = selector.trim();
    let entry = entry.trim();
    !entry.is_empty() && (selector == entry || selector.ends_with(entry) || last_compound(selector).starts_with(entry))
}

/// The last compound of a CSS selector: what follows the last descendant (whitespace) or
/// `>`, `+`, `~` combinator outside brackets, parentheses and quotes.
pub(super) fn last_compound(selector: &str) -> &str {
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut start = 0;
    for (i, c) in selector.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '"' | '\'' => quote = Some(c),
                '[' | '(' => depth += 1,
                ']' | ')' => depth -= 1,
                c if depth <= 0 && (c.is_whitespace() || matches!(c, '>' | '+' | '~')) => {
                    start = i + c.len_utf8();
                }
                _ => {}
            },
        }
    }
    &selector[start..]
}

/// The clicks of one page view with their dead and rage flags.
///
/// Rage (analytics.md, "Rage click"): over the page view's non-exempt clicks in order, a
/// burst is a maximal run where each click is at most `rage_max_interval_ms` after and at
/// most `rage_max_distance_px` (Manhattan) from the previous one; a burst of at least
/// `rage_min_clicks` clicks is one rage click, on its first click. Exempt clicks take no
/// part in bursts.
pub(in crate::rollup) fn click_facts<'a>(pv: &PageView<'a>, rules: &Rules) -> Vec<ClickFact<'a>> {
    let mut facts = Vec::new();
    let mut eligible: Vec<(usize, i64)> = Vec::new(); // (index in facts, ts)
    for &e in &pv.events {
        if let Payload::Click {
            x,
            y,
            selector,
            el,
            tag,
            zone,
            reaction_ms,
            modifier,
            navigates,
            input_type,
            tracker,
            ..
        } = &e.payload
        {
            let selector = crate::rollup::selector::normalize_selector(selector);
            if !rage_exempt(tag.as_deref(), input_type.as_deref(), &selector, rules) {
                eligible.push((facts.len(), e.ts));
            }
            facts.push(ClickFact {
                event: e,
                x: *x,
                y: *y,
                selector,
                zone: zone.as_deref().unwrap_or(""),
                el: *el,
                // A tracker's click has no reaction time: unknown, not dead.
                dead: tracker.is_none()
                    && is_dead(
                        *reaction_ms,
                        *navigates,
                        *modifier,
                        text_entry(tag.as_deref(), input_type.as_deref()),
                        rules,
                    ),
                rage: false,
                rage_burst: 0,
            });
        }
    }
    let mut burst_start = 0;
    for k in 1..=eligible.len() {
        let ends = k == eligible.len() || {
            let ((a, a_ts), (b, b_ts)) = (eligible[k - 1], eligible[k]);
            let distance = (facts[b].x - facts[a].x).abs() + (facts[b].y - facts[a].y).abs();
            // Written so that a NaN distance ends the burst. Clicks a tracker reported have
            // no position: near when on the same selector.
            let near = if is_tracker_click(facts[a].event) || is_tracker_click(facts[b].event) {
                facts[a].selector == facts[b].selector
            } else {
                distance <= rules.rage_max_distance_px
            };
            b_ts - a_ts > rules.rage_max_interval_ms || !near
        };
        if ends {
            if k - burst_start >= rules.rage_min_clicks as usize {
                let first = &mut facts[eligible[burst_start].0];
                first.rage = true;
                first.rage_burst = (k - burst_start) as u32;
            }
            burst_start = k;
        }
    }
    facts
}

/// A click reported by another tracker ([`Payload::Click::tracker`]): it has no position.
pub(in crate::rollup) fn is_tracker_click(e: &Event) -> bool {
    matches!(&e.payload, Payload::Click { tracker: Some(_), .. })
}
