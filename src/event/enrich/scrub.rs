//! PII scrubbing of free text, JSON and URLs: e-mail addresses, card numbers (Luhn-checked)
//! and phone numbers are replaced, structural keys kept.

use regex::Regex;
use std::sync::LazyLock;

pub(super) static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}").unwrap());
// Word boundaries are ASCII (`(?-u:\b)`): a Unicode `\b` makes the regex engine leave its
// DFA for a much slower one on any non-ASCII text (13–38× slower on a French comment, found
// by the canonical_url fuzzer's rate); at a digit, both agree except after a non-ASCII
// letter, where the ASCII one scrubs more.
pub(super) static CARD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?-u:\b)\d(?:[ -]?\d){12,18}(?-u:\b)").unwrap());
/// Fewest digits in a [`CARD`] match.
pub(super) const CARD_MIN_DIGITS: usize = 13;
/// Phone numbers: international (`+44 20 7946 0958`, French `+33 1 23 45 67 89`) and North
/// American (`(555) 123-4567`, `555.123.4567`).
pub(super) static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:\+\d{1,3}[ .-]\d(?:[ .-]\d{2}){4}(?-u:\b))|(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,4}){1,4}(?-u:\b))|(?:\(\d{3}\) ?\d{3}[ .-]\d{4}(?-u:\b))|(?:(?-u:\b)\d{3}[.-]\d{3}[.-]\d{4}(?-u:\b))")
        .unwrap()
});
/// Fewest digits in a [`PHONE`] match (`+1 23 45`).
pub(super) const PHONE_MIN_DIGITS: usize = 5;

/// Luhn check over the digits of `s`.
pub fn luhn_valid(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.len() < 13 {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                if d * 2 > 9 {
                    d * 2 - 9
                } else {
                    d * 2
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

/// Replace emails with `[email]`, Luhn-valid card numbers with `[card]` and phone numbers with
/// `[phone]`. Returns the text and the number of replacements. A 16-digit number failing the
/// Luhn check (an order id) is kept (`cases/analytics.md` A5).
pub fn scrub_text(s: &str) -> (String, u32) {
    // A replacement can leave digits that now read as another number (a long run of
    // phone-like groups): repeat until nothing more is found. Each pass that finds something
    // replaces digits by digit-free tokens, so this ends.
    let (mut out, mut n) = scrub_text_once(s);
    if n > 0 {
        loop {
            let (again, k) = scrub_text_once(&out);
            if k == 0 {
                break;
            }
            out = again;
            n += k;
        }
    }
    (out, n)
}

pub(super) fn scrub_text_once(s: &str) -> (String, u32) {
    let mut n = 0u32;
    // Text with too few digits for a card or a phone number (most of it) skips those
    // regexes; `is_numeric` counts every Unicode `\d` and more, so nothing is missed.
    let digits = s.chars().filter(|c| c.is_numeric()).count();
    let mut out = EMAIL
        .replace_all(s, |_: &regex::Captures| {
            n += 1;
            "[email]"
        })
        .into_owned();
    if digits >= CARD_MIN_DIGITS {
        out = CARD
            .replace_all(&out, |c: &regex::Captures| {
                if luhn_valid(&c[0]) {
                    n += 1;
                    "[card]".to_string()
                } else {
                    c[0].to_string()
                }
            })
            .into_owned();
    }
    if digits >= PHONE_MIN_DIGITS {
        out = PHONE
            .replace_all(&out, |_: &regex::Captures| {
                n += 1;
                "[phone]"
            })
            .into_owned();
    }
    (out, n)
}

/// Keys of an event whose string values are identifiers or enumerations, never free text:
/// [`scrub_json`] leaves them alone (an id or a timestamp is not a phone number).
pub(super) const STRUCTURAL_KEYS: &[&str] = &[
    "id",
    "type",
    "session_id",
    "visitor_id",
    "site",
    "survey_id",
    "question_id",
    "kind",
    "recording_id",
    "pageview_id",
    "trigger",
    "category",
    "tag",
    "zone",
    "selector",
    "name",
];

/// Scrub the PII of a raw JSON event (a dead letter): URLs (`url`, `referrer`) with
/// [`scrub_url`], every other string with [`scrub_text`], except the identifiers and
/// enumerations of `STRUCTURAL_KEYS`; numbers are left alone. Returns the number of
/// replacements.
pub fn scrub_json(v: &mut serde_json::Value) -> u32 {
    pub(super) fn walk(v: &mut serde_json::Value, key: Option<&str>) -> u32 {
        match v {
            serde_json::Value::String(s) => {
                let (out, n) = match key {
                    Some(k) if STRUCTURAL_KEYS.contains(&k) => return 0,
                    Some("url" | "referrer") => scrub_url(s),
                    _ => scrub_text(s),
                };
                if n > 0 {
                    *s = out;
                }
                n
            }
            serde_json::Value::Array(a) => a.iter_mut().map(|x| walk(x, key)).sum(),
            serde_json::Value::Object(o) => o.iter_mut().map(|(k, x)| walk(x, Some(k.as_str()))).sum(),
            _ => 0,
        }
    }
    walk(v, None)
}

/// What a scrubbed URL part is percent-encoded with when written back: `%`, the characters
/// that split a URL (`?`, `#`, `&`, `+`), space, controls and non-ASCII. Tokens stay
/// readable (`[email]`), and decoding the part again gives exactly the scrubbed text.
pub(super) const URL_PART: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`');

/// Scrub a URL: path, query values and fragment are percent-decoded, scrubbed, and, when
/// something was replaced, written back re-encoded (a scrubbed value reads as its token,
/// e.g. `?email=[email]`). Returns the URL and the number of replacements. Idempotent:
/// scrubbing the result again replaces nothing (a decoded `%3F` or `%2540` cannot turn into
/// a new separator or a new address on the next pass).
pub fn scrub_url(raw: &str) -> (String, u32) {
    let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
    let encode = |s: &str| percent_encoding::utf8_percent_encode(s, URL_PART).to_string();
    let (base, frag) = raw.split_once('#').map_or((raw, None), |(a, b)| (a, Some(b)));
    let (head, query) = base.split_once('?').map_or((base, None), |(a, b)| (a, Some(b)));
    let mut n = 0;
    let mut out = String::with_capacity(raw.len());
    let (h, k) = scrub_text(&decode(head));
    if k > 0 {
        out.push_str(&encode(&h));
        n += k;
    } else {
        out.push_str(head);
    }
    if let Some(q) = query {
        out.push('?');
        let parts: Vec<String> = q
            .split('&')
            .map(|pair| {
                let (name, value) = pair.split_once('=').map_or((pair, None), |(a, b)| (a, Some(b)));
                match value {
                    Some(v) => {
                        let (s, k) = scrub_text(&decode(&v.replace('+', " ")));
                        n += k;
                        if k > 0 {
                            format!("{name}={}", encode(&s))
                        } else {
                            pair.to_string()
                        }
                    }
                    None => pair.to_string(),
                }
            })
            .collect();
        out.push_str(&parts.join("&"));
    }
    if let Some(f) = frag {
        let (s, k) = scrub_text(&decode(f));
        n += k;
        out.push('#');
        out.push_str(&if k > 0 { encode(&s) } else { f.to_string() });
    }
    (out, n)
}
