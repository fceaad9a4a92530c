//! Access rules (issue 10): one test per rule — no token, wrong token, wrong scope, wrong
//! site, revoked and rotated tokens, tokens stored hashed, write keys and origins, CORS that
//! never echoes an arbitrary origin, security headers.

use crate::common::*;
use crate::harness::Server;
use serde_json::{json, Value};

fn call(s: &Server, method: reqwest::Method, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let mut rb = s.http.request(method, s.url(path));
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().unwrap();
    let code = r.status().as_u16();
    (code, r.json().unwrap_or(Value::Null))
}

fn make_token(s: &Server, scope: &str, sites: &[&str]) -> (String, String) {
    let (code, t) = call(
        s,
        reqwest::Method::POST,
        "/v1/tokens",
        Some(TOKEN),
        Some(json!({"name": format!("{scope}-token"), "scope": scope, "sites": sites})),
    );
    assert_eq!(code, 201, "{t}");
    (
        t["id"].as_str().unwrap().to_string(),
        t["token"].as_str().unwrap().to_string(),
    )
}

#[test]
fn tokens_have_scopes_and_sites_and_are_refused_outside_them() {
    let s = Server::start(&[]);
    s.site("shop", &["https://shop.example"]);
    s.site("blog", &["https://blog.example"]);
    let get = reqwest::Method::GET;
    let (_, reader) = make_token(&s, "read", &["shop"]);
    let (_, admin) = make_token(&s, "admin", &[]);

    // No token, a wrong token, a forged secret under a real id: 401 naming authorization.
    for t in [None, Some("nope"), Some("slt_0000000000000000_00")] {
        let (code, body) = call(&s, get.clone(), "/v1/sites/shop/journeys", t, None);
        assert_eq!(code, 401, "{t:?}");
        assert_eq!(body["field"], "authorization");
    }
    // The read token reads its site…
    assert_eq!(
        call(&s, get.clone(), "/v1/sites/shop/journeys", Some(&reader), None).0,
        200
    );
    assert_eq!(
        call(&s, get.clone(), "/v1/sites/shop/stats", Some(&reader), None).0,
        200
    );
    // …and its site's settings, and lists only its sites (the dashboard reads the origins and
    // the goal from there: a fourth trial's read token got no heatmap frame and no impact)…
    let (code, list) = call(&s, get.clone(), "/v1/sites", Some(&reader), None);
    assert_eq!(code, 200, "{list}");
    let keys: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["shop"]);
    let (code, site) = call(&s, get.clone(), "/v1/sites/shop", Some(&reader), None);
    assert_eq!(
        (code, site["origins"].clone()),
        (200, json!(["https://shop.example"])),
        "{site}"
    );
    // …not another site (403 naming the site)…
    for path in ["/v1/sites/blog/journeys", "/v1/sites/blog"] {
        let (code, body) = call(&s, get.clone(), path, Some(&reader), None);
        assert_eq!((code, body["field"].as_str()), (403, Some("site")), "{path}: {body}");
    }
    // …and nothing that needs admin (403 naming the scope).
    for (m, path) in [
        (get.clone(), "/v1/tokens"),
        (get.clone(), "/v1/admin/deadletters"),
        (reqwest::Method::POST, "/v1/admin/rollup/run"),
        (reqwest::Method::PATCH, "/v1/sites/shop"),
    ] {
        let (code, body) = call(&s, m.clone(), path, Some(&reader), Some(json!({})));
        assert_eq!(
            (code, body["field"].as_str()),
            (403, Some("scope")),
            "{m} {path}: {body}"
        );
    }
    // The admin token does everything, on every site.
    let (code, list) = call(&s, get.clone(), "/v1/sites", Some(&admin), None);
    assert_eq!((code, list.as_array().map(Vec::len)), (200, Some(2)), "{list}");
    assert_eq!(call(&s, get.clone(), "/v1/sites/blog/voc", Some(&admin), None).0, 200);
    // An unknown scope names the field.
    let (code, body) = call(
        &s,
        reqwest::Method::POST,
        "/v1/tokens",
        Some(TOKEN),
        Some(json!({"name": "x", "scope": "superuser"})),
    );
    assert_eq!((code, body["field"].as_str()), (400, Some("scope")), "{body}");
}

#[test]
fn revoked_and_rotated_tokens_stop_working_and_secrets_are_stored_hashed() {
    let s = Server::start(&[]);
    s.site("shop", &["*"]);
    let get = reqwest::Method::GET;
    let (id, old) = make_token(&s, "read", &[]);
    assert_eq!(call(&s, get.clone(), "/v1/sites/shop/voc", Some(&old), None).0, 200);
    // Rotate: the new one works, the old one is refused.
    let (code, rotated) = call(
        &s,
        reqwest::Method::POST,
        &format!("/v1/tokens/{id}/rotate"),
        Some(TOKEN),
        None,
    );
    assert_eq!(code, 201, "{rotated}");
    let new = rotated["token"].as_str().unwrap().to_string();
    assert_eq!(call(&s, get.clone(), "/v1/sites/shop/voc", Some(&old), None).0, 401);
    assert_eq!(call(&s, get.clone(), "/v1/sites/shop/voc", Some(&new), None).0, 200);
    // Revoke through the CLI: a running server refuses it within its 5 s refresh.
    let new_id = rotated["id"].as_str().unwrap();
    s.cli(&["token", "revoke", new_id]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while call(&s, get.clone(), "/v1/sites/shop/voc", Some(&new), None).0 != 401 {
        assert!(std::time::Instant::now() < deadline, "revoked token still accepted");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // Listing shows no secret, and no stored file holds a secret in plain text.
    let (_, list) = call(&s, get, "/v1/tokens", Some(TOKEN), None);
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(list.to_string().find(new.rsplit('_').next().unwrap()).is_none());
    assert!(
        list[0].get("token").is_none() && list[0].get("secret_sha256").is_none(),
        "{list}"
    );
    if !external_mode() {
        for f in std::fs::read_dir(&s.data_dir).unwrap() {
            let bytes = std::fs::read(f.unwrap().path()).unwrap_or_default();
            for secret in [&old, &new] {
                let secret = secret.rsplit('_').next().unwrap().as_bytes();
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret),
                    "a secret is stored in plain text"
                );
            }
        }
    }
}

#[test]
fn write_keys_and_origins_are_checked_and_cors_never_echoes_strangers() {
    let s = Server::start(&[]);
    s.site("shop", &["https://shop.example"]);
    let ev = |site: &str| {
        batch(
            site,
            vec![event("pageview", "s", "https://shop.example/", now_ms(), json!({}))],
        )
    };
    let post = |body: &Value, origin: Option<&str>| {
        let mut rb = s
            .http
            .post(s.url("/v1/events"))
            .header("content-type", "text/plain")
            .body(serde_json::to_vec(body).unwrap());
        if let Some(o) = origin {
            rb = rb.header("origin", o);
        }
        rb.send().unwrap()
    };
    // Wrong write key: 401 naming the site.
    let r = post(&ev("nope"), Some("https://shop.example"));
    assert_eq!(r.status().as_u16(), 401);
    // Wrong origin: 403, and no CORS grant for it.
    let r = post(&ev("shop"), Some("https://evil.example"));
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    // The right origin: accepted, the grant names exactly that origin.
    let r = post(&ev("shop"), Some("https://shop.example"));
    assert_eq!(r.status().as_u16(), 202);
    assert_eq!(r.headers()["access-control-allow-origin"], "https://shop.example");
    // Preflight from a stranger: no grant.
    let r = s
        .http
        .request(reqwest::Method::OPTIONS, s.url("/v1/events"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    // Security headers on API answers.
    let r = s.http.get(s.url("/v1/sites")).bearer_auth(TOKEN).send().unwrap();
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
}
