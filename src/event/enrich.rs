//! Enrichment at the edge: clock-skew correction, page key, device class, bot flag and PII
//! scrubbing. Definitions from `reference/analytics.md` ("Sessions and pages", "Traffic
//! quality and privacy"). The client IP is used here (for the bot check) and never stored.

mod scrub;
pub mod segment;
pub use scrub::*;

use super::{Answer, DeviceClass, Event, Payload};
use regex::Regex;
use std::sync::LazyLock;

/// Skew threshold: a batch whose `sent_at` is further than this from `received_at` is shifted.
pub const SKEW_THRESHOLD_MS: i64 = 60_000;
/// Events still more than this far in the future after the shift are clamped to `received_at`.
pub const FUTURE_CLAMP_MS: i64 = 60_000;

/// Per-site page-key settings (analytics.md, "Page key").
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PageKeyRules {
    /// The site routes by fragment (`/#/cart`): keep the fragment in the key.
    pub hash_routing: bool,
    /// Drop the whole query string instead of sorting it.
    pub drop_query: bool,
    /// Merge rules: a page key starting with `from` is replaced by `to`, first match wins.
    pub merge: Vec<MergeRule>,
}

/// Merge pages whose key starts with `from` into `to`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MergeRule {
    pub from: String,
    pub to: String,
}

/// Tracking parameters always dropped from page keys.
pub fn is_tracking_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with("utm_") || matches!(n.as_str(), "gclid" | "fbclid" | "msclkid")
}

static UUID_SEG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$").unwrap());

/// Canonical page key of a URL: lower-case host (with port), path with numeric and UUID
/// segments replaced by `:id`, fragment dropped unless the site routes by fragment, tracking
/// parameters dropped, the rest of the query sorted (or dropped by site setting). No scheme.
/// Path, query and fragment are in the canonical encoding of [`canonical_encoding`], so
/// `/caf%C3%A9`, `/café` and `/caf%c3%a9` give one key (`…/café`).
/// Example: `https://App.example/merchant/1234/dashboard?b=2&a=1&utm_source=x`
/// → `app.example/merchant/:id/dashboard?a=1&b=2`. An unparseable URL keys as itself.
pub fn page_key(raw: &str, rules: &PageKeyRules) -> String {
    let Ok(u) = url::Url::parse(raw) else {
        return raw.to_string();
    };
    let mut key = String::with_capacity(raw.len());
    key.push_str(&u.host_str().unwrap_or("").to_ascii_lowercase());
    if let Some(p) = u.port() {
        key.push(':');
        key.push_str(&p.to_string());
    }
    push_path(&mut key, &canonical_encoding(u.path()));
    if !rules.drop_query {
        if let Some(q) = u.query().map(canonical_encoding) {
            let q = q.as_ref();
            let mut pairs: Vec<&str> = q
                .split('&')
                .filter(|p| !p.is_empty())
                .filter(|p| !is_tracking_param(p.split('=').next().unwrap_or("")))
                .collect();
            pairs.sort_unstable();
            if !pairs.is_empty() {
                key.push('?');
                key.push_str(&pairs.join("&"));
            }
        }
    }
    if rules.hash_routing {
        if let Some(frag) = u.fragment().filter(|f| !f.is_empty()).map(canonical_encoding) {
            let frag = frag.as_ref();
            // `#/cart?x=1` routes by its path part; the router's own query is kept as sent.
            key.push('#');
            let (path, rest) = frag.split_once('?').map_or((frag, None), |(a, b)| (a, Some(b)));
            let mut p = String::new();
            push_path(&mut p, path);
            key.push_str(if path.starts_with('/') { &p } else { &p[1..] });
            if let Some(r) = rest {
                key.push('?');
                key.push_str(r);
            }
        }
    }
    for m in &rules.merge {
        if key.starts_with(&m.from) {
            return m.to.clone();
        }
    }
    key
}

/// A page named by a user (a query's page or funnel step, a goal step of the site's
/// settings): a URL (`http://`, `https://`) is keyed with the site's rules ([`page_key`]),
/// anything else is a page key, taken literally (`?` and `.` are not patterns) but for its
/// encoding ([`canonical_page_key`]): `https://Shop.example/cart?utm_source=x`,
/// `SHOP.EXAMPLE/cart` and `shop.example/cart` name one page.
pub fn named_page_key(s: &str, rules: &PageKeyRules) -> String {
    if s.starts_with("http://") || s.starts_with("https://") {
        page_key(s, rules)
    } else {
        canonical_page_key(s)
    }
}

/// A page key given as such (to a query, without a scheme) in its canonical form, so that it
/// finds the key [`page_key`] made at ingest whichever way it was written: the host
/// lower-cased (a non-ASCII host in its ASCII form, as the URL's host is keyed), the rest
/// (path, query, fragment) in [`canonical_encoding`]. Nothing else of [`page_key`] is applied
/// (the key's segments, query and merge rules are taken as given):
/// `shop.example/caf%c3%a9` → `shop.example/café`.
pub fn canonical_page_key(key: &str) -> String {
    let split = key.find(['/', '?', '#']).unwrap_or(key.len());
    let (host, rest) = key.split_at(split);
    let mut out = String::with_capacity(key.len());
    if host.is_ascii() {
        out.push_str(&host.to_ascii_lowercase());
    } else {
        let (name, port) = match host.rsplit_once(':') {
            Some((n, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (n, Some(p)),
            _ => (host, None),
        };
        match url::Host::parse(name) {
            Ok(h) => out.push_str(&h.to_string().to_ascii_lowercase()),
            Err(_) => out.push_str(&name.to_lowercase()),
        }
        if let Some(p) = port {
            out.push(':');
            out.push_str(p);
        }
    }
    out.push_str(&canonical_encoding(rest));
    out
}

/// The canonical encoding of a URL part (path, query or fragment) in page keys: RFC 3986
/// §6.2.2 normalisation with non-ASCII kept as characters (the IRI form of RFC 3987 §3.2).
///
/// - `%XX` of an unreserved character (`A–Z a–z 0–9 - . _ ~`) is decoded: `%5F` → `_`.
/// - `%XX` sequences that decode to UTF-8 characters are decoded: `caf%C3%A9` → `café`;
///   a non-ASCII character sent as is stays as is.
/// - Every other `%XX` (reserved and other ASCII characters, bytes that are not UTF-8) stays
///   encoded with upper-case hex: `%2f` → `%2F`, so `/a%2Fb` stays apart from `/a/b`.
/// - Characters that cannot stand in a URL, whether sent encoded or not, are encoded: ASCII
///   controls, space, `"`, `<`, `>`, `\`, `^`, `` ` ``, `{`, `|`, `}`, and among non-ASCII
///   characters the controls, whitespace and bidirectional formatting characters (RFC 3987
///   §4.1): `a b` → `a%20b`, `a%E2%80%8Fb` (U+200F) stays so.
/// - A `%` not followed by two hex digits is kept as it is.
///
/// No Unicode normalisation: `é` (U+00E9) and `e` + U+0301 stay different. Idempotent.
/// Borrows when the part is canonical already (most parts: no `%`, plain ASCII).
pub fn canonical_encoding(part: &str) -> std::borrow::Cow<'_, str> {
    let b = part.as_bytes();
    if !part.contains('%') && part.is_ascii() && !b.iter().any(|&c| ascii_needs_encoding(c)) {
        return std::borrow::Cow::Borrowed(part);
    }
    let mut out = String::with_capacity(part.len());
    // Decoded bytes of the current run of `%XX` triplets.
    let mut run: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() && hex(b[i + 1]).is_some() && hex(b[i + 2]).is_some() {
            run.push(hex(b[i + 1]).unwrap() << 4 | hex(b[i + 2]).unwrap());
            i += 3;
            continue;
        }
        flush_run(&mut out, &mut run);
        // A literal character: the same rule as a decoded one.
        let c = part[i..].chars().next().expect("a character at a char boundary");
        push_canonical_char(&mut out, c);
        i += c.len_utf8();
    }
    flush_run(&mut out, &mut run);
    std::borrow::Cow::Owned(out)
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// ASCII characters that cannot stand in a URL (RFC 3986 §2): encoded in every key.
fn ascii_needs_encoding(c: u8) -> bool {
    c.is_ascii_control() || matches!(c, b' ' | b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}')
}

/// Non-ASCII characters kept encoded: controls, whitespace and bidirectional formatting
/// characters, which would be invisible or reorder the text around them (RFC 3987 §4.1).
fn non_ascii_needs_encoding(c: char) -> bool {
    c.is_control()
        || c.is_whitespace()
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn push_encoded(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &x in bytes {
        out.push('%');
        out.push(HEX[(x >> 4) as usize] as char);
        out.push(HEX[(x & 15) as usize] as char);
    }
}

fn push_canonical_char(out: &mut String, c: char) {
    let keep = if c.is_ascii() {
        // A literal reserved character keeps its meaning (`/`, `?`, `=`, `&`…).
        !ascii_needs_encoding(c as u8)
    } else {
        !non_ascii_needs_encoding(c)
    };
    if keep {
        out.push(c);
    } else {
        push_encoded(out, c.encode_utf8(&mut [0; 4]).as_bytes());
    }
}

/// Write the decoded bytes of a run of `%XX` triplets canonically (see [`canonical_encoding`]).
fn flush_run(out: &mut String, run: &mut Vec<u8>) {
    let mut rest: &[u8] = run;
    while !rest.is_empty() {
        let x = rest[0];
        if x.is_ascii() {
            if x.is_ascii_alphanumeric() || matches!(x, b'-' | b'.' | b'_' | b'~') {
                out.push(x as char);
            } else {
                push_encoded(out, &[x]);
            }
            rest = &rest[1..];
            continue;
        }
        // The longest valid UTF-8 prefix of the non-ASCII bytes, one character at a time.
        let len = match x {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => 1,
        };
        match rest.get(..len).and_then(|s| std::str::from_utf8(s).ok()) {
            Some(s) if len > 1 => {
                let c = s.chars().next().expect("one character");
                push_canonical_char(out, c);
                rest = &rest[len..];
            }
            _ => {
                push_encoded(out, &[x]);
                rest = &rest[1..];
            }
        }
    }
    run.clear();
}

fn push_path(key: &mut String, path: &str) {
    let path = if path.is_empty() { "/" } else { path };
    let start = key.len();
    let mut first = true;
    for seg in path.split('/') {
        if !first {
            key.push('/');
        }
        first = false;
        if !seg.is_empty() && (seg.bytes().all(|b| b.is_ascii_digit()) || UUID_SEG.is_match(seg)) {
            key.push_str(":id");
        } else {
            key.push_str(seg);
        }
    }
    if !path.starts_with('/') {
        // (Not `key.len() - path.len()`: `:id` may be shorter than the segment it replaced.)
        key.insert(start, '/');
    }
}

/// Outcome of clock-skew correction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skew {
    /// Added to every `ts` of the batch, ms (0 when within the threshold).
    pub shift_ms: i64,
}

impl Skew {
    /// `|received_at − sent_at| > 60 s` → shift by the difference (analytics.md, "Clock skew").
    pub fn for_batch(sent_at: Option<i64>, received_at: i64) -> Skew {
        match sent_at {
            Some(s) if (received_at - s).abs() > SKEW_THRESHOLD_MS => Skew {
                shift_ms: received_at - s,
            },
            _ => Skew { shift_ms: 0 },
        }
    }
    /// Corrected time of one event and the rule used (`none`, `shift`, `clamp`, `shift+clamp`).
    pub fn correct(&self, client_ts: i64, received_at: i64) -> (i64, &'static str) {
        let shifted = client_ts.saturating_add(self.shift_ms);
        let clamp = shifted > received_at + FUTURE_CLAMP_MS;
        let ts = if clamp { received_at } else { shifted };
        let rule = match (self.shift_ms != 0, clamp) {
            (false, false) => "none",
            (true, false) => "shift",
            (false, true) => "clamp",
            (true, true) => "shift+clamp",
        };
        (ts, rule)
    }
}

static BOT_UA: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)headlesschrome|phantomjs|bot\b|bot/|crawl|spider|slurp|prerender|lighthouse|puppeteer|playwright|selenium|python-requests|curl/|wget/|go-http-client")
        .unwrap()
});

/// Why a request's events are bots, or `None`. Uses the user agent (woothee's crawler list plus
/// headless and automation markers, HeadlessChrome included) and `navigator.webdriver`.
pub fn bot_reason(user_agent: Option<&str>, webdriver: bool) -> Option<String> {
    bot_reason_parsed(user_agent, segment::parse_user_agent(user_agent).as_ref(), webdriver)
}

/// [`bot_reason`] with the user agent's woothee parse ([`segment::parse_user_agent`]) made
/// once by the caller, which reuses it for the browser and OS ([`segment::client_of`]).
pub fn bot_reason_parsed(
    user_agent: Option<&str>,
    parsed: Option<&woothee::parser::WootheeResult<'_>>,
    webdriver: bool,
) -> Option<String> {
    if webdriver {
        return Some("navigator.webdriver".into());
    }
    let ua = user_agent.unwrap_or("");
    if ua.trim().is_empty() {
        return Some("no user agent".into());
    }
    if let Some(m) = BOT_UA.find(ua) {
        return Some(format!("user agent matches {:?}", m.as_str()));
    }
    if let Some(r) = parsed {
        if r.category == "crawler" {
            return Some(format!("crawler user agent ({})", r.name));
        }
    }
    None
}

/// What enrichment needs to know about the request and the site.
pub struct Context<'a> {
    pub received_at: i64,
    /// Events whose (corrected) `ts` is older than this (ms) are rejected on field `ts`:
    /// live traffic takes [`MAX_LIVE_AGE_MS`]; history comes through the import endpoint.
    pub oldest_ts: i64,
    pub skew: Skew,
    pub bot_reason: Option<String>,
    pub page_keys: &'a PageKeyRules,
    pub request_id: &'a str,
    /// The request's browser, OS and language, shared by its events (`None`: not known, as
    /// for imports, whose user agent is the importer's).
    pub client: Option<std::sync::Arc<crate::event::segment::Client>>,
}

/// Oldest `ts` live ingest takes, relative to `received_at`: 31 days (a snippet's offline
/// queue is days old at most). Older events would make the rollup job recompute every day
/// back to them; history is imported instead (`sightline import`).
pub const MAX_LIVE_AGE_MS: i64 = 31 * 86_400_000;

/// Oldest `ts` an import takes: 2000-01-01T00:00:00Z.
pub const OLDEST_IMPORT_TS: i64 = 946_684_800_000;

/// Fill the server-side fields of a validated event and scrub PII. Returns the number of
/// PII replacements made.
pub fn enrich(ev: &mut Event, ctx: &Context) -> u32 {
    let (ts, rule) = ctx.skew.correct(ev.client_ts, ctx.received_at);
    ev.ts = ts;
    ev.skew_rule = rule.to_string();
    ev.received_at = ctx.received_at;
    ev.request_id = ctx.request_id.to_string();
    ev.bot_reason = ctx.bot_reason.clone();
    ev.client = ctx.client.clone();
    ev.device = ev
        .viewport
        .map_or(DeviceClass::Unknown, |v| DeviceClass::from_width(v.w));
    let (url, mut n) = scrub_url(&ev.url);
    ev.url = url;
    ev.page_key = page_key(&ev.url, ctx.page_keys);
    let text = |s: &mut Option<String>| -> u32 {
        match s.as_mut() {
            Some(t) => {
                let (c, k) = scrub_text(t);
                *t = c;
                k
            }
            None => 0,
        }
    };
    match &mut ev.payload {
        Payload::Pageview { referrer, title, .. } => {
            if let Some(r) = referrer.as_mut() {
                let (c, k) = scrub_url(r);
                *r = c;
                n += k;
            }
            n += text(title);
            // After scrubbing: UTM values and the referrer are stored as scrubbed.
            ev.source = Some(Box::new(segment::source_of(&ev.url, referrer.as_deref())));
        }
        Payload::Feedback { comment, .. } => n += text(comment),
        Payload::SurveyResponse {
            value: Answer::Text(t), ..
        } => {
            let (c, k) = scrub_text(t);
            *t = c;
            n += k;
        }
        _ => {}
    }
    n
}

#[cfg(test)]
mod tests;
