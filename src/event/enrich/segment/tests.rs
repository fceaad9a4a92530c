//! Hand-computed segment enrichment: the channel table of docs/analytics.md ("Channels"),
//! UTM parsing, woothee's browser and OS, the language.

use super::*;

/// docs/analytics.md, "Channels", the table of examples: (page URL, referrer, channel).
pub const CHANNEL_TABLE: &[(&str, &str, &str)] = &[
    ("https://shop.example/", "", "direct"),
    ("https://shop.example/b", "https://shop.example/a", "direct"),
    ("https://www.shop.example/", "https://shop.example/x", "direct"),
    ("https://shop.example/", "https://www.google.com/", "search"),
    (
        "https://shop.example/",
        "https://www.google.co.uk/search?q=shoes",
        "search",
    ),
    ("https://shop.example/", "https://duckduckgo.com/", "search"),
    ("https://shop.example/", "https://www.bing.com/search?q=x", "search"),
    ("https://shop.example/", "https://google.evil.example/", "other"),
    ("https://shop.example/", "https://mail.google.com/mail/u/0/", "email"),
    ("https://shop.example/", "https://outlook.live.com/mail/", "email"),
    ("https://shop.example/", "https://l.facebook.com/l.php", "social"),
    ("https://shop.example/", "https://t.co/abc", "social"),
    ("https://shop.example/", "https://www.linkedin.com/feed/", "social"),
    (
        "https://shop.example/",
        "https://news.ycombinator.com/item?id=1",
        "social",
    ),
    (
        "https://shop.example/?utm_source=google&utm_medium=cpc",
        "https://www.google.com/",
        "paid",
    ),
    ("https://shop.example/?gclid=abc123", "https://www.google.com/", "paid"),
    (
        "https://shop.example/?utm_medium=paid_social",
        "https://facebook.com/",
        "paid",
    ),
    ("https://shop.example/?utm_medium=display", "", "paid"),
    (
        "https://shop.example/?utm_source=newsletter&utm_medium=email",
        "",
        "email",
    ),
    ("https://shop.example/?utm_source=newsletter", "", "email"),
    ("https://shop.example/?utm_source=facebook", "", "social"),
    ("https://shop.example/?utm_campaign=spring", "", "other"),
    ("https://shop.example/", "https://blog.example/post", "other"),
    (
        "https://shop.example/?utm_medium=affiliate",
        "https://deals.example/",
        "other",
    ),
];

#[test]
fn channels_follow_the_documented_table() {
    for (url, referrer, want) in CHANNEL_TABLE {
        let r = (!referrer.is_empty()).then_some(*referrer);
        assert_eq!(source_of(url, r).channel.as_str(), *want, "{url} from {referrer:?}");
    }
    // The docs list the same rows.
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/analytics.md")).unwrap();
    for (url, referrer, want) in CHANNEL_TABLE {
        let row = format!(
            "| `{url}` | {} | {want} |",
            if referrer.is_empty() {
                "(none)".to_string()
            } else {
                format!("`{referrer}`")
            }
        );
        assert!(doc.contains(&row), "docs/analytics.md lacks the row {row}");
    }
}

#[test]
fn referrer_hosts_are_lower_case_without_www() {
    let s = source_of("https://shop.example/", Some("https://WWW.News.Example:8443/a?b=1"));
    assert_eq!(s.referrer_host, "news.example");
    assert_eq!(source_of("https://shop.example/", Some("not a url")).referrer_host, "");
    assert_eq!(source_of("https://shop.example/", None).referrer_host, "");
}

#[test]
fn utm_parameters_are_decoded_trimmed_lower_cased_and_the_first_wins() {
    let (u, ad) = utm_of(
        "https://shop.example/p?UTM_Source=News+Letter&utm_medium=%20Email%20&utm_campaign=spring%20sale&utm_source=second#utm_term=x",
    );
    assert_eq!(
        u,
        Utm {
            source: "news letter".into(),
            medium: "email".into(),
            campaign: "spring sale".into()
        }
    );
    assert!(!ad);
    let (u, ad) = utm_of("https://shop.example/?utm_source=&gclid=1");
    assert_eq!(u, Utm::default());
    assert!(ad);
    assert_eq!(utm_of("https://shop.example/#/?utm_source=x").0, Utm::default());
    let long = "x".repeat(150);
    assert_eq!(
        utm_of(&format!("https://a.example/?utm_campaign={long}"))
            .0
            .campaign
            .len(),
        MAX_UTM_CHARS
    );
}

#[test]
fn browser_and_os_come_from_one_woothee_parse() {
    let cases = [
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            ("Chrome", "120", "Windows 10", "NT 10.0"),
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
            ("Firefox", "121", "Linux", ""),
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
            ("Safari", "17", "iPhone", "17.1"),
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36",
            ("Chrome", "119", "Mac OSX", "10.15.7"),
        ),
    ];
    for (ua, (b, bv, os, osv)) in cases {
        let parsed = parse_user_agent(Some(ua));
        let c = client_of(parsed.as_ref(), None, None).unwrap();
        assert_eq!(
            (
                c.browser.as_str(),
                c.browser_version.as_str(),
                c.os.as_str(),
                c.os_version.as_str()
            ),
            (b, bv, os, osv),
            "{ua}"
        );
    }
    // A crawler is a bot, with no browser; nothing known at all is no client.
    let bot = parse_user_agent(Some("Googlebot/2.1 (+http://www.google.com/bot.html)"));
    assert_eq!(client_of(bot.as_ref(), None, None), None);
    assert_eq!(client_of(None, None, None), None);
    // The filters' names, case-insensitive.
    assert_eq!(woothee_name("browser", "chrome"), Some("Chrome"));
    assert_eq!(woothee_name("os", "mac osx"), Some("Mac OSX"));
    assert_eq!(woothee_name("browser", "Netscape"), None);
    assert!(woothee_names("os").contains(&"Android"));
}

#[test]
fn language_is_the_snippets_else_accept_languages_first_tag_lower_case() {
    assert_eq!(normalize_language("de-DE").as_deref(), Some("de-de"));
    assert_eq!(normalize_language("en_US").as_deref(), Some("en-us"));
    assert_eq!(normalize_language("*"), None);
    assert_eq!(normalize_language(""), None);
    assert_eq!(normalize_language("1234"), None);
    assert_eq!(accept_language("de-CH,de;q=0.9,en;q=0.8").as_deref(), Some("de-ch"));
    assert_eq!(accept_language("fr;q=0.7").as_deref(), Some("fr"));
    let c = client_of(None, Some("EN-GB"), Some("de")).unwrap();
    assert_eq!(c.language, "en-gb");
    assert_eq!(client_of(None, Some("??"), Some("de")).unwrap().language, "de");
}

#[test]
fn page_views_get_their_source_after_scrubbing_and_every_event_the_client() {
    use crate::event::enrich::{enrich, Context, PageKeyRules, Skew};
    use crate::event::{DeviceClass, Event, Payload};
    let client = std::sync::Arc::new(client_of(None, Some("de"), None).unwrap());
    let rules = PageKeyRules::default();
    let ctx = Context {
        received_at: 1_000,
        oldest_ts: 0,
        skew: Skew { shift_ms: 0 },
        bot_reason: None,
        page_keys: &rules,
        request_id: "r",
        client: Some(client.clone()),
    };
    let mut ev = Event {
        id: "e".into(),
        site: "s".into(),
        ts: 0,
        client_ts: 1_000,
        received_at: 0,
        skew_rule: String::new(),
        session_id: "x".into(),
        visitor_id: "v".into(),
        url: "https://shop.example/?utm_source=Mail&utm_campaign=jo%40mail.example".into(),
        page_key: String::new(),
        viewport: None,
        seq: None,
        pageview_id: None,
        device: DeviceClass::Unknown,
        bot_reason: None,
        request_id: String::new(),
        client: None,
        source: None,
        payload: Payload::Pageview {
            referrer: Some("https://Outlook.Live.com/mail/0/".into()),
            title: None,
            screen: None,
            layout: None,
        },
    };
    enrich(&mut ev, &ctx);
    let s = ev.source.as_deref().unwrap();
    assert_eq!(s.utm_source, "mail");
    assert_eq!(s.utm_campaign, "[email]");
    assert_eq!(s.referrer_host, "outlook.live.com");
    assert_eq!(s.channel, crate::event::segment::Channel::Email);
    assert!(std::sync::Arc::ptr_eq(ev.client.as_ref().unwrap(), &client));
    // Through the log's record and back.
    assert_eq!(Event::decode(&ev.encode()).unwrap(), ev);
}
