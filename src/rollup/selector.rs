//! Stable element identity across builds (analytics.md, "Selector normalisation"): the one
//! function that turns a selector as sent into the selector every report aggregates by.
//!
//! Frameworks put build-generated tokens into the markup: Angular's `_ngcontent-abc-c12` and
//! `_nghost-abc-c12` attributes, Vue's `data-v-1a2b3c`, CSS-module class hashes
//! (`Button_btn__EtOQY`) and CSS-in-JS classes (`css-1ylu0bo`). A selector that names them
//! changes with every build while the element does not, so heatmaps and problems split one
//! element into many (PostHog issues 20426 and 21099; `cases/2026-12.md` C4). Tailwind classes
//! hold `:` and `/` (`hover:text-gray-500`, `w-1/2`), which are not valid CSS unescaped.
//!
//! The raw selector stays in the stored event (`/v1/admin/deadletters`, the warehouse's
//! events table); rollups, the sessions filter and feedback by element use the normalised one.

use std::borrow::Cow;

/// Attribute names (prefixes) that frameworks generate per build: dropped.
const GENERATED_ATTRIBUTES: [&str; 3] = ["_ngcontent-", "_nghost-", "data-v-"];

/// Pseudo-classes and pseudo-elements kept as such when they follow a class name; a `:` in a
/// class name followed by anything else is part of the class (Tailwind's `hover:underline`).
const PSEUDOS: [&str; 30] = [
    "nth-of-type",
    "nth-child",
    "nth-last-child",
    "nth-last-of-type",
    "first-child",
    "last-child",
    "first-of-type",
    "last-of-type",
    "only-child",
    "only-of-type",
    "not",
    "is",
    "where",
    "has",
    "hover",
    "focus",
    "focus-visible",
    "focus-within",
    "active",
    "visited",
    "link",
    "checked",
    "disabled",
    "enabled",
    "root",
    "empty",
    "host",
    "target",
    "before",
    "after",
];

/// Characters that end a class name or an id (besides an unescaped `:` starting a pseudo).
fn ends_token(c: char) -> bool {
    matches!(
        c,
        ' ' | '>' | '+' | '~' | ',' | '.' | '#' | '[' | '(' | ')' | '\t' | '\n'
    )
}

/// Whether the `:` at `rest[0]` starts a pseudo-class (or `::` pseudo-element): a known name
/// followed by the end, `(` or a character that ends a token — not by another `:` (Tailwind
/// chains variants: `md:hover:bg-sky-700`) nor by more name characters.
fn starts_pseudo(rest: &str) -> bool {
    let name = rest.trim_start_matches(':');
    PSEUDOS.iter().any(|p| {
        name.starts_with(p)
            && name[p.len()..]
                .chars()
                .next()
                .is_none_or(|c| c != ':' && (ends_token(c) || c == '('))
    })
}

/// A CSS-in-JS class (`css-1ylu0bo`, emotion; `css-` followed by 4 to 10 lower-case letters
/// and digits, at least one a digit): generated, dropped.
fn is_css_in_js(class: &str) -> bool {
    class.strip_prefix("css-").is_some_and(|h| {
        (4..=10).contains(&h.len())
            && h.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && h.bytes().any(|b| b.is_ascii_digit())
    })
}

/// The stable prefix of a CSS-module class: `Button_btn__EtOQY` (Next.js, `[file]_[local]__
/// [hash]`) → `Button_btn__`, `card__title___x7Q2b` (css-loader `[name]__[local]___[hash]`) →
/// `card__title___`. The hash is 5 to 8 of `[A-Za-z0-9_-]` after the last `__` and holds an
/// upper-case letter or a digit (so BEM's `card__title` is not a hash).
fn css_module_prefix(class: &str) -> Option<&str> {
    let at = class.rfind("__")?;
    let hash = &class[at + 2..];
    let ok = at > 0
        && (5..=8).contains(&hash.len())
        && hash
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && hash.bytes().any(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    ok.then(|| &class[..at + 2])
}

/// The selector reports aggregate by (analytics.md, "Selector normalisation"):
/// - attributes Angular and Vue generate per build (`[_ngcontent-*]`, `[_nghost-*]`,
///   `[data-v-*]`) and CSS-in-JS classes (`.css-1ylu0bo`) are dropped (a compound left
///   empty becomes `*`);
/// - a CSS-module class `.Button_btn__EtOQY` becomes `[class*="Button_btn__"]`, which still
///   matches the element in every build (so the overlay finds it);
/// - an unescaped `:` or `/` inside a class name (`hover:text-gray-500`, `w-1/2`) is escaped
///   (`.hover\:text-gray-500`, `.w-1\/2`), so the selector is valid CSS; a `:` starting a
///   known pseudo-class (`:nth-of-type(2)`, `:hover`) is kept.
///
/// Everything else (tags, ids, other attributes, combinators, shadow steps ` >>> `) is kept
/// as sent. Idempotent; borrows `raw` when nothing changes (no allocation on the hot path).
pub fn normalize_selector(raw: &str) -> Cow<'_, str> {
    // Fast path: none of the characters any rule looks at.
    if !raw.contains(['.', '[', ':', '/']) {
        return Cow::Borrowed(raw);
    }
    let mut out: Option<String> = None;
    // Start `out` with everything before byte `at` (once, on the first change).
    let fork = |out: &mut Option<String>, at: usize| {
        if out.is_none() {
            *out = Some(raw[..at].to_string());
        }
    };
    let b = raw.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        let c = b[i];
        match c {
            b'\\' => {
                // An escape: copy it with the character it escapes.
                let n = raw[i + 1..].chars().next().map_or(0, char::len_utf8);
                if let Some(o) = out.as_mut() {
                    o.push_str(&raw[i..i + 1 + n]);
                }
                i += 1 + n;
            }
            b'[' => {
                let end = attribute_end(raw, i);
                let name = raw[i + 1..end]
                    .split(['=', '~', '|', '^', '$', '*', ']'])
                    .next()
                    .unwrap_or("")
                    .trim();
                let next = end.min(raw.len());
                if GENERATED_ATTRIBUTES.iter().any(|g| name.starts_with(g)) {
                    fork(&mut out, i);
                    let o = out.as_mut().expect("forked");
                    if compound_empty(o) && raw[next..].chars().next().is_none_or(ends_compound) {
                        o.push('*');
                    }
                } else if let Some(o) = out.as_mut() {
                    o.push_str(&raw[i..next]);
                }
                i = next;
            }
            b'.' => {
                let (end, needs_escape) = class_end(raw, i + 1);
                let class = &raw[i + 1..end];
                if is_css_in_js(class) {
                    fork(&mut out, i);
                    let o = out.as_mut().expect("forked");
                    if compound_empty(o) && raw[end..].chars().next().is_none_or(ends_compound) {
                        o.push('*');
                    }
                } else if let Some(prefix) = css_module_prefix(class).filter(|_| !needs_escape) {
                    fork(&mut out, i);
                    let o = out.as_mut().expect("forked");
                    o.push_str("[class*=\"");
                    o.push_str(prefix);
                    o.push_str("\"]");
                } else if needs_escape {
                    fork(&mut out, i);
                    let o = out.as_mut().expect("forked");
                    o.push('.');
                    let mut esc = false;
                    for ch in class.chars() {
                        if !esc && (ch == ':' || ch == '/') {
                            o.push('\\');
                        }
                        esc = !esc && ch == '\\';
                        o.push(ch);
                    }
                } else if let Some(o) = out.as_mut() {
                    o.push_str(&raw[i..end]);
                }
                i = end;
            }
            _ => {
                let n = raw[i..].chars().next().map_or(1, char::len_utf8);
                if let Some(o) = out.as_mut() {
                    o.push_str(&raw[i..i + n]);
                }
                i += n;
            }
        }
    }
    match out {
        Some(o) if o != raw => Cow::Owned(o),
        _ => Cow::Borrowed(raw),
    }
}

/// Whether a character ends a compound selector (a combinator, a list comma or the end).
fn ends_compound(c: char) -> bool {
    matches!(c, ' ' | '>' | '+' | '~' | ',' | '\t' | '\n')
}

/// Whether the output so far ends where a compound starts (nothing of the current compound
/// written yet).
fn compound_empty(o: &str) -> bool {
    o.chars().next_back().is_none_or(ends_compound)
}

/// The byte just past the `]` closing the attribute selector at `start` (quotes respected),
/// or the end of `raw`.
fn attribute_end(raw: &str, start: usize) -> usize {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (k, ch) in raw[start + 1..].char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match (quote, ch) {
            (_, '\\') => escaped = true,
            (None, '"' | '\'') => quote = Some(ch),
            (Some(q), c) if c == q => quote = None,
            (None, ']') => return start + 1 + k + 1,
            _ => {}
        }
    }
    raw.len()
}

/// The end of the class name starting at byte `start`, and whether it holds an unescaped
/// `:` or `/` that belongs to the name.
fn class_end(raw: &str, start: usize) -> (usize, bool) {
    let mut needs_escape = false;
    let mut escaped = false;
    for (k, ch) in raw[start..].char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match ch {
            '\\' => escaped = true,
            ':' if k > 0 && starts_pseudo(&raw[start + k..]) => return (start + k, needs_escape),
            ':' | '/' => needs_escape = true,
            c if ends_token(c) => return (start + k, needs_escape),
            _ => {}
        }
    }
    (raw.len(), needs_escape)
}

#[cfg(test)]
mod tests {
    use super::normalize_selector as n;
    use std::borrow::Cow;

    #[test]
    fn c4_generated_attributes_give_one_selector() {
        assert_eq!(n("main > button.btn[_ngcontent-abc-c12]"), "main > button.btn");
        assert_eq!(n("main > button.btn[_ngcontent-xyz-c98]"), "main > button.btn");
        assert_eq!(n("app-root[_nghost-abc-c1] > a.nav"), "app-root > a.nav");
        assert_eq!(n("div.card[data-v-1a2b3c] > button"), "div.card > button");
        assert_eq!(n("[data-v-1a2b3c] > button"), "* > button");
        // Other attributes stay, values with brackets and quotes included.
        assert_eq!(
            n("a[href=\"/x]\"][data-v-7f]:nth-of-type(2)"),
            "a[href=\"/x]\"]:nth-of-type(2)"
        );
    }

    #[test]
    fn css_module_and_css_in_js_hashes_are_dropped() {
        assert_eq!(
            n("div#main > button.Button_btn__EtOQY"),
            "div#main > button[class*=\"Button_btn__\"]"
        );
        assert_eq!(
            n("div#main > button.Button_btn__x9Q2a"),
            "div#main > button[class*=\"Button_btn__\"]"
        );
        assert_eq!(n("a.card__title___x7Q2b"), "a[class*=\"card__title___\"]");
        // BEM is not a hash.
        assert_eq!(n("a.card__title"), "a.card__title");
        assert_eq!(n("a.card__image"), "a.card__image");
        assert_eq!(n("div.css-1ylu0bo > button.css-9a8b7c.primary"), "div > button.primary");
        assert_eq!(n(".css-1ylu0bo > a"), "* > a");
        // Not emotion: no digit.
        assert_eq!(n("div.css-grid"), "div.css-grid");
    }

    #[test]
    fn colons_and_slashes_in_class_names_are_escaped_and_pseudo_classes_kept() {
        assert_eq!(n("a.hover:text-gray-500"), "a.hover\\:text-gray-500");
        assert_eq!(n("div.w-1/2 > span"), "div.w-1\\/2 > span");
        assert_eq!(n("button.md:hover:bg-sky-700"), "button.md\\:hover\\:bg-sky-700");
        assert_eq!(n("ul.menu > li:nth-of-type(2) > a"), "ul.menu > li:nth-of-type(2) > a");
        assert_eq!(n("ul.menu:nth-of-type(2)"), "ul.menu:nth-of-type(2)");
        assert_eq!(n("a.link:hover"), "a.link:hover");
        // Already escaped: unchanged.
        assert_eq!(n("a.hover\\:text-gray-500"), "a.hover\\:text-gray-500");
    }

    #[test]
    fn plain_selectors_are_borrowed_and_the_function_is_idempotent() {
        for s in [
            "#checkout",
            "body > my-app >>> nav-bar >>> button.menu",
            "div#main > ul.menu > li:nth-of-type(2) > a",
            "",
        ] {
            assert!(matches!(n(s), Cow::Borrowed(_)), "{s}");
            assert_eq!(n(s), s);
        }
        for s in [
            "main > button.btn[_ngcontent-abc-c12]",
            "div#main > button.Button_btn__EtOQY",
            "a.hover:text-gray-500.w-1/2",
            ".css-1ylu0bo > a",
            "a[data-v-1",
            "a.\\",
        ] {
            let once = n(s).into_owned();
            assert_eq!(n(&once), once, "{s}");
        }
    }
}
