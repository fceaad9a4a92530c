//! Segment enrichment (docs/analytics.md, "Segments"): the channel table, UTM parsing, the
//! browser and OS from one woothee parse of the User-Agent, and the language.

use crate::event::segment::{Channel, Client, Source};

/// Longest UTM value kept, characters.
pub const MAX_UTM_CHARS: usize = 100;
/// Longest language tag kept, characters (BCP 47's longest common tags fit).
pub const MAX_LANGUAGE_CHARS: usize = 35;

/// `utm_medium` values of paid traffic besides those starting with `paid`
/// (docs/analytics.md, "Channels").
pub const PAID_MEDIUMS: &[&str] = &[
    "cpc",
    "ppc",
    "cpm",
    "cpv",
    "cpa",
    "display",
    "banner",
    "retargeting",
    "paidsearch",
    "paid_social",
];
/// `utm_medium` values of e-mail.
pub const EMAIL_MEDIUMS: &[&str] = &["email", "e-mail", "e_mail", "mail", "newsletter"];
/// `utm_medium` values of social networks.
pub const SOCIAL_MEDIUMS: &[&str] = &["social", "social-network", "social-media", "sm", "social_media"];
/// `utm_medium` values of organic search.
pub const SEARCH_MEDIUMS: &[&str] = &["organic", "search"];
/// Query parameters of ad clicks tagged by the ad network: paid even without UTM.
pub const AD_CLICK_IDS: &[&str] = &["gclid", "gbraid", "wbraid", "msclkid", "dclid"];

/// Webmail hosts (a host equal to one, or a subdomain of one), and any host starting with
/// `mail.` or `webmail.`: e-mail.
pub const EMAIL_HOSTS: &[&str] = &[
    "outlook.live.com",
    "outlook.office.com",
    "outlook.office365.com",
    "mail.google.com",
    "mail.yahoo.com",
    "mail.aol.com",
    "mail.proton.me",
    "mail.zoho.com",
    "gmx.net",
    "web.de",
];
/// Search engines by name: a host whose label is one of these followed only by a public
/// suffix of at most two short labels (`google.com`, `www.google.co.uk`, `duckduckgo.com`).
pub const SEARCH_ENGINES: &[&str] = &[
    "google",
    "bing",
    "yahoo",
    "duckduckgo",
    "baidu",
    "yandex",
    "ecosia",
    "qwant",
    "startpage",
    "naver",
    "seznam",
    "ask",
    "brave",
];
/// Social networks: a host equal to one, or a subdomain of one.
pub const SOCIAL_HOSTS: &[&str] = &[
    "facebook.com",
    "fb.com",
    "instagram.com",
    "t.co",
    "twitter.com",
    "x.com",
    "linkedin.com",
    "lnkd.in",
    "reddit.com",
    "pinterest.com",
    "youtube.com",
    "tiktok.com",
    "news.ycombinator.com",
    "threads.net",
    "mastodon.social",
    "bsky.app",
    "vk.com",
    "t.me",
    "whatsapp.com",
    "quora.com",
    "tumblr.com",
];

/// A host without its leading `www.`, lower-case.
fn bare_host(host: &str) -> String {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    match h.strip_prefix("www.") {
        Some(rest) => rest.to_string(),
        None => h,
    }
}

fn is_or_under(host: &str, domain: &str) -> bool {
    host == domain || host.strip_suffix(domain).is_some_and(|p| p.ends_with('.'))
}

/// The channel a referrer host is in by itself (`None`: no listed host).
pub fn channel_of_host(host: &str) -> Option<Channel> {
    if EMAIL_HOSTS.iter().any(|d| is_or_under(host, d)) || host.starts_with("mail.") || host.starts_with("webmail.") {
        return Some(Channel::Email);
    }
    if SOCIAL_HOSTS.iter().any(|d| is_or_under(host, d)) {
        return Some(Channel::Social);
    }
    let labels: Vec<&str> = host.split('.').collect();
    for (i, l) in labels.iter().enumerate() {
        let suffix = &labels[i + 1..];
        if SEARCH_ENGINES.contains(l) && (1..=2).contains(&suffix.len()) && suffix.iter().all(|s| s.len() <= 3) {
            return Some(Channel::Search);
        }
    }
    None
}

/// The channel of a page view (docs/analytics.md, "Channels"), first rule that applies:
/// 1. `utm_medium` paid ([`PAID_MEDIUMS`] or starting with `paid`), e-mail, social or
///    search; an ad click id ([`AD_CLICK_IDS`]) in the URL is paid;
/// 2. a referrer host in the table ([`channel_of_host`]);
/// 3. `utm_source` naming a listed host or engine (`google`, `facebook.com`, `newsletter`
///    counts as e-mail);
/// 4. no referrer, or a same-site one (the page's host, `www.` ignored), and no UTM:
///    direct;
/// 5. anything else: other.
pub fn channel(page_host: &str, referrer_host: &str, utm: &Utm, ad_click: bool) -> Channel {
    let medium = utm.medium.as_str();
    if !medium.is_empty() {
        if medium.starts_with("paid") || PAID_MEDIUMS.contains(&medium) {
            return Channel::Paid;
        }
        if EMAIL_MEDIUMS.contains(&medium) {
            return Channel::Email;
        }
        if SOCIAL_MEDIUMS.contains(&medium) {
            return Channel::Social;
        }
        if SEARCH_MEDIUMS.contains(&medium) {
            return Channel::Search;
        }
    }
    if ad_click {
        return Channel::Paid;
    }
    let same_site = !referrer_host.is_empty() && referrer_host == bare_host(page_host);
    if !referrer_host.is_empty() && !same_site {
        if let Some(c) = channel_of_host(referrer_host) {
            return c;
        }
    }
    let source = utm.source.as_str();
    if !source.is_empty() {
        if EMAIL_MEDIUMS.contains(&source) {
            return Channel::Email;
        }
        let as_host = if source.contains('.') {
            source.to_string()
        } else {
            format!("{source}.com")
        };
        if let Some(c) = channel_of_host(&as_host) {
            return c;
        }
    }
    let tagged = !utm.source.is_empty() || !utm.medium.is_empty() || !utm.campaign.is_empty();
    if (referrer_host.is_empty() || same_site) && !tagged {
        Channel::Direct
    } else {
        Channel::Other
    }
}

/// UTM parameters of a URL, each trimmed, lower-cased, at most [`MAX_UTM_CHARS`]
/// characters, `""` when absent or empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Utm {
    pub source: String,
    pub medium: String,
    pub campaign: String,
}

/// The UTM parameters of `url`'s query (names case-insensitive, the first of a repeated
/// one wins, values percent-decoded with `+` as a space), and whether an ad click id is
/// there. The URL is read after PII scrubbing, which keeps every parameter and only
/// replaces values (an address in a campaign name reads `[email]`).
pub fn utm_of(url: &str) -> (Utm, bool) {
    let mut utm = Utm::default();
    let mut ad_click = false;
    let base = url.split('#').next().unwrap_or("");
    let Some((_, query)) = base.split_once('?') else {
        return (utm, false);
    };
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = if name.eq_ignore_ascii_case("utm_source") {
            &mut utm.source
        } else if name.eq_ignore_ascii_case("utm_medium") {
            &mut utm.medium
        } else if name.eq_ignore_ascii_case("utm_campaign") {
            &mut utm.campaign
        } else {
            ad_click |= !value.is_empty() && AD_CLICK_IDS.iter().any(|a| name.eq_ignore_ascii_case(a));
            continue;
        };
        if slot.is_empty() {
            let v = value.replace('+', " ");
            let v = percent_encoding::percent_decode_str(&v).decode_utf8_lossy();
            *slot = v.trim().to_lowercase().chars().take(MAX_UTM_CHARS).collect();
        }
    }
    (utm, ad_click)
}

/// The host of a referrer URL for segments: lower-case, without `www.`; `""` for none or
/// one that does not parse.
pub fn referrer_host(referrer: Option<&str>) -> String {
    referrer
        .and_then(|r| url::Url::parse(r).ok())
        .and_then(|u| u.host_str().map(bare_host))
        .unwrap_or_default()
}

/// The [`Source`] of a page view at `url` (scrubbed) with `referrer` (scrubbed).
pub fn source_of(url: &str, referrer: Option<&str>) -> Source {
    let (utm, ad_click) = utm_of(url);
    let referrer_host = referrer_host(referrer);
    let page_host = url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    Source {
        channel: channel(&page_host, &referrer_host, &utm, ad_click),
        referrer_host,
        utm_source: utm.source,
        utm_medium: utm.medium,
        utm_campaign: utm.campaign,
    }
}

/// One woothee parse of a User-Agent, shared by the bot check and the [`Client`].
pub fn parse_user_agent(ua: Option<&str>) -> Option<woothee::parser::WootheeResult<'_>> {
    ua.filter(|u| !u.trim().is_empty())
        .and_then(|u| woothee::parser::Parser::new().parse(u))
}

/// A language tag normalised: lower-case, `_` as `-`, only letters, digits and `-`, at
/// most [`MAX_LANGUAGE_CHARS`]; `None` for an empty, `*` or ill-formed tag.
pub fn normalize_language(tag: &str) -> Option<String> {
    let t = tag.trim().replace('_', "-").to_ascii_lowercase();
    let ok = !t.is_empty()
        && t.len() <= MAX_LANGUAGE_CHARS
        && t.split('-')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()))
        && t.split('-')
            .next()
            .is_some_and(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()));
    ok.then_some(t)
}

/// The first language of an `Accept-Language` header (`de-DE,de;q=0.9,en;q=0.8` → `de-de`).
pub fn accept_language(header: &str) -> Option<String> {
    let first = header.split(',').next()?.split(';').next()?;
    normalize_language(first)
}

/// The request-level segment: browser and OS from the parse (woothee's `UNKNOWN` as `""`,
/// the browser's major version only), and the language (`navigator.language` if sent, else
/// `Accept-Language`'s first tag); `None` when nothing is known.
pub fn client_of(
    ua: Option<&woothee::parser::WootheeResult<'_>>,
    language: Option<&str>,
    accept: Option<&str>,
) -> Option<Client> {
    let known = |s: &str| if s == "UNKNOWN" { String::new() } else { s.to_string() };
    let (browser, browser_version, os, os_version) = match ua {
        Some(r) if r.category != "crawler" => (
            known(r.name),
            known(r.version.split('.').next().unwrap_or("")),
            known(r.os),
            known(&r.os_version),
        ),
        _ => Default::default(),
    };
    let c = Client {
        browser,
        browser_version,
        os,
        os_version,
        language: language
            .and_then(normalize_language)
            .or_else(|| accept.and_then(accept_language))
            .unwrap_or_default(),
    };
    (c != Client::default()).then_some(c)
}

/// woothee's names of `browser_type` (`"browser"` or `"os"`), sorted: the values the
/// `browser` and `os` filters take.
pub fn woothee_names(kind: &str) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = woothee::dataset::DATASET
        .values()
        .filter(|r| r.browser_type == kind)
        .map(|r| r.name)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The canonical woothee name of a browser (`kind` `"browser"`) or OS (`"os"`) given in any
/// case (`chrome` → `Chrome`); `None` for a name woothee does not have.
pub fn woothee_name(kind: &str, given: &str) -> Option<&'static str> {
    woothee_names(kind)
        .into_iter()
        .find(|n| n.eq_ignore_ascii_case(given.trim()))
}

#[cfg(test)]
mod tests;
