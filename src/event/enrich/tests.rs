#[test]
fn a_url_whose_path_has_no_slash_gets_a_page_key_without_panicking() {
    // Found by the canonical_url fuzz target: `:id` is shorter than `1234`.
    let k = page_key("mailto:1234", &PageKeyRules::default());
    assert!(k.ends_with("/:id"), "{k}");
    // Scrubbing is idempotent even where a replacement leaves phone-like digits behind.
    let (once, _) = scrub_text("call +44 20 7946 0958 0958 0958 0958 0958 0958 0958 0958");
    assert_eq!(scrub_text(&once).1, 0, "{once}");
}

#[test]
fn raw_events_are_scrubbed_field_by_field_and_ids_and_times_are_kept() {
    // A uuid whose hex groups are all digits and a 13-digit time look like phone or card
    // numbers to a text scrubber; they are structure, not PII.
    let mut v = serde_json::json!({
        "id": "01937588-4123-7123-8123-412345678901", "ts": 1764412800123_i64, "type": "feedback",
        "comment": "call me on +44 20 7946 0958 or jo.doe@mail.example",
        "url": "https://shop.example/checkout?email=jo.doe%40mail.example",
        "props": {"note": ["mail jo.doe@mail.example"]}
    });
    assert_eq!(scrub_json(&mut v), 4);
    assert_eq!(v["id"], "01937588-4123-7123-8123-412345678901");
    assert_eq!(v["ts"], 1764412800123_i64);
    assert_eq!(v["comment"], "call me on [phone] or [email]");
    assert_eq!(v["url"], "https://shop.example/checkout?email=[email]");
    assert_eq!(v["props"]["note"][0], "mail [email]");
}

use super::*;

#[test]
fn ids_tracking_params_and_query_order_collapse_to_one_page_key() {
    let r = PageKeyRules::default();
    for n in [1, 42, 1234, 99999] {
        let k = page_key(
            &format!("https://App.example/merchant/{n}/dashboard?b=2&a=1&utm_source=x"),
            &r,
        );
        assert_eq!(k, "app.example/merchant/:id/dashboard?a=1&b=2");
    }
    let drop = PageKeyRules {
        drop_query: true,
        ..Default::default()
    };
    assert_eq!(
        page_key("https://app.example/merchant/7/dashboard?b=2&a=1", &drop),
        "app.example/merchant/:id/dashboard"
    );
    assert_eq!(
        page_key("https://x.example/o/0190a000-0000-7000-8000-0000000000a1/", &r),
        "x.example/o/:id/"
    );
}

/// cases/2026-12.md C11: percent-encoding and Unicode variants of one page give one key
/// (RFC 3986 §6.2.2, non-ASCII as characters); an encoded reserved character does not.
#[test]
fn percent_encoding_and_unicode_variants_give_one_page_key() {
    let r = PageKeyRules::default();
    let table: &[(&str, &str)] = &[
        ("https://shop.example/caf%C3%A9", "shop.example/café"),
        ("https://shop.example/café", "shop.example/café"),
        ("https://shop.example/caf%c3%a9", "shop.example/café"),
        ("https://shop.example/cafe%CC%81", "shop.example/cafe\u{301}"),
        ("https://shop.example/last%5Fversion", "shop.example/last_version"),
        ("https://shop.example/last%5fversion", "shop.example/last_version"),
        ("https://shop.example/last_version", "shop.example/last_version"),
        ("https://shop.example/%7Euser/%41bc", "shop.example/~user/Abc"),
        ("https://shop.example/a%2Fb", "shop.example/a%2Fb"),
        ("https://shop.example/a%2fb", "shop.example/a%2Fb"),
        ("https://shop.example/a/b", "shop.example/a/b"),
        (
            "https://shop.example/%E4%B8%AD%E6%96%87/%31%32",
            "shop.example/中文/:id",
        ),
        ("https://shop.example/中文", "shop.example/中文"),
        ("https://shop.example/a b", "shop.example/a%20b"),
        ("https://shop.example/a%20b", "shop.example/a%20b"),
        ("https://shop.example/a%e2%80%8fb", "shop.example/a%E2%80%8Fb"),
        ("https://shop.example/bad%FFbyte%C3", "shop.example/bad%FFbyte%C3"),
        ("https://shop.example/p?q=caf%c3%a9&a=%5f", "shop.example/p?a=_&q=café"),
        ("https://shop.example/p?q=a%26b", "shop.example/p?q=a%26b"),
        ("https://shop.example/p?utm%5Fsource=x&k=1", "shop.example/p?k=1"),
        ("https://Caf%C3%A9.example/x", "xn--caf-dma.example/x"),
        ("https://shop.example/a%ZZ?q=%b", "shop.example/a%ZZ?q=%b"),
    ];
    for (url, key) in table {
        let k = page_key(url, &r);
        assert_eq!(&k, key, "{url}");
        // Idempotent, and a page key given to a query finds the same page in any encoding.
        assert_eq!(canonical_encoding(&k), k, "{url}");
        assert_eq!(canonical_page_key(&k), k, "{url}");
        // Non-ASCII sent percent-encoded (as `encodeURI` would).
        let encoded = percent_encoding::utf8_percent_encode(&k, percent_encoding::CONTROLS).to_string();
        assert_eq!(canonical_page_key(&encoded), k, "{encoded}");
    }
    assert_eq!(canonical_page_key("shop.example/caf%c3%a9"), "shop.example/café");
    assert_eq!(
        canonical_page_key("Shop.Example/last%5fversion"),
        "shop.example/last_version"
    );
    assert_eq!(canonical_page_key("shop.example/a%2fb"), "shop.example/a%2Fb");
    assert_eq!(canonical_page_key("café.example:8080/x"), "xn--caf-dma.example:8080/x");
    let hash = PageKeyRules {
        hash_routing: true,
        ..Default::default()
    };
    assert_eq!(
        page_key("https://app.example/#/caf%C3%A9/12", &hash),
        "app.example/#/café/:id"
    );
    // Plain keys are not copied.
    assert!(matches!(
        canonical_encoding("/pricing?a=1"),
        std::borrow::Cow::Borrowed(_)
    ));
}

#[test]
fn unfamiliar_hosts_are_valid_page_keys() {
    let r = PageKeyRules::default();
    assert_eq!(page_key("http://intranet/home", &r), "intranet/home");
    assert_eq!(page_key("http://localhost:8080/", &r), "localhost:8080/");
    assert_eq!(page_key("http://192.0.2.10/a", &r), "192.0.2.10/a");
    assert_eq!(page_key("https://shop.example/a%ZZ?q=%b", &r), "shop.example/a%ZZ?q=%b");
}

#[test]
fn fragment_is_dropped_unless_the_site_routes_by_fragment() {
    assert_eq!(
        page_key("https://app.example/#/cart", &PageKeyRules::default()),
        "app.example/"
    );
    let hash = PageKeyRules {
        hash_routing: true,
        ..Default::default()
    };
    assert_eq!(page_key("https://app.example/#/cart", &hash), "app.example/#/cart");
    assert_eq!(
        page_key("https://app.example/#/order/12", &hash),
        "app.example/#/order/:id"
    );
}

#[test]
fn skew_beyond_a_minute_shifts_and_the_future_is_clamped() {
    let now = 1_764_412_800_000;
    let five_years = 5 * 365 * 86_400_000;
    let s = Skew::for_batch(Some(now + five_years + 2000), now);
    let (ts, rule) = s.correct(now + five_years, now);
    assert_eq!((ts, rule), (now - 2000, "shift"));
    let s = Skew::for_batch(Some(now + 1000), now);
    assert_eq!(s.correct(now + 3_600_000, now), (now, "clamp"));
    assert_eq!(s.correct(now - 5, now), (now - 5, "none"));
}

#[test]
fn pii_in_text_and_urls_is_replaced_and_counted() {
    let (t, n) = scrub_text("card 4111 1111 1111 1111 was declined, write me at jo.doe@mail.example");
    assert_eq!(t, "card [card] was declined, write me at [email]");
    assert_eq!(n, 2);
    let (u, n) = scrub_url("https://shop.example/checkout?email=jo.doe%40mail.example");
    assert_eq!(u, "https://shop.example/checkout?email=[email]");
    assert_eq!(n, 1);
    // Written back encoded: a decoded `%3F` in a scrubbed path does not start a query on
    // the next pass; a value is decoded once, as a browser would.
    let (u, n) = scrub_url("https://x.example/u/jo@mail.example%3Fa=b?next=jo%2540mail.example%2540x.io");
    assert_eq!(u, "https://x.example/u/[email]%3Fa=b?next=jo%2540mail.example%2540x.io");
    assert_eq!(n, 1);
    assert_eq!(scrub_url(&u).1, 0);
    let crash = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fuzz/artifacts/canonical_url/crash-20875814f70c4310c3ba8d01bee72427beb601ae"
    ))
    .unwrap();
    let (u, n) = scrub_url(&String::from_utf8_lossy(&crash));
    assert!(n > 0);
    assert_eq!(scrub_url(&u), (u.clone(), 0));
    // The same next to non-ASCII text (ASCII word boundaries, see CARD).
    let (t, n) = scrub_text(
        "Carte 4111-1111-1111-1111 refusée ; écrivez à jo@mail.example ou au +33 1 23 45 67 89, ésa 555.123.4567é",
    );
    assert_eq!(
        t,
        "Carte [card] refusée ; écrivez à [email] ou au [phone], ésa [phone]é"
    );
    assert_eq!(n, 4);
    let (t, n) = scrub_text("order 1234567812345678 shipped");
    assert_eq!((t.as_str(), n), ("order 1234567812345678 shipped", 0));
    let (t, n) = scrub_text("call +44 20 7946 0958 or (555) 123-4567");
    assert_eq!((t.as_str(), n), ("call [phone] or [phone]", 2));
}

#[test]
fn headless_chrome_and_webdriver_are_bots() {
    let ua =
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36";
    assert!(bot_reason(Some(ua), false).unwrap().contains("HeadlessChrome"));
    let human = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    assert_eq!(bot_reason(Some(human), false), None);
    assert!(bot_reason(Some(human), true).is_some());
    assert!(bot_reason(Some("Googlebot/2.1 (+http://www.google.com/bot.html)"), false).is_some());
}
