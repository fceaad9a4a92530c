//! Entry points of the fuzz targets: `fuzz/` (cargo-fuzz, libFuzzer) runs them with
//! coverage-guided inputs, and `tests/fuzz_corpus.rs` replays the committed corpus plus seeded
//! random mutations of it on every test run. Each takes arbitrary bytes and must never panic,
//! hang, or allocate past the caps ingest enforces (`cases/ingest.md` I3, I6).

use crate::event::enrich::{page_key, scrub_text, scrub_url, Context, PageKeyRules, Skew};
use crate::event::validate::parse_envelope;
use crate::event::wire::WireEvent;
use crate::ingest::decode::{codings, decode};

/// Decoded-body cap used by the decoding target: 64 KiB. The cap is a parameter of
/// [`decode`], enforced by the same code at any size; ingest's default is 1 MiB, and a
/// smaller cap lets a decompression bomb hit it 16× sooner, so each execution is cheaper
/// and the fuzzer explores more inputs per second.
pub const CAP: usize = 64 << 10;

/// Body decoding: the first byte picks the `Content-Encoding` header (none, gzip, deflate,
/// br, `gzip, br`, identity) and the query's `compression` (none or gzip); the rest is the
/// body. Whatever comes out stays under [`CAP`].
pub fn decode_body(data: &[u8]) {
    let (sel, body) = data.split_first().map_or((0, &[][..]), |(s, b)| (*s, b));
    let header = match sel % 6 {
        0 => None,
        1 => Some("gzip"),
        2 => Some("deflate"),
        3 => Some("br"),
        4 => Some("gzip, br"),
        _ => Some("identity"),
    };
    let query = (sel & 0x80 != 0).then_some("gzip");
    if let Ok(c) = codings(header, query, body) {
        if let Ok(out) = decode(body.to_vec(), &c, CAP) {
            assert!(out.len() <= CAP, "decoded {} bytes past the cap", out.len());
        }
    }
}

/// Event parsing: the envelope, then every event validated and enriched exactly as ingest
/// does ([`crate::ingest::accept_event`]).
pub fn parse_batch(data: &[u8]) {
    let mut scratch = Vec::new();
    let Ok(env) = parse_envelope(data, &mut scratch) else {
        return;
    };
    let received_at = 1_764_412_800_000;
    let rules = PageKeyRules::default();
    let ctx = Context {
        received_at,
        oldest_ts: i64::MIN,
        skew: Skew::for_batch(env.sent_at, received_at),
        bot_reason: None,
        page_keys: &rules,
        request_id: "fuzz",
        client: None,
    };
    for (i, raw) in env.events.iter().enumerate() {
        let wire = WireEvent::parse(raw);
        if let Ok(ok) = crate::ingest::accept_event(i, &wire, "fuzz", &ctx, 256 << 10) {
            // What was accepted survives the log's encoding.
            let back = crate::event::Event::decode(&ok.event.encode()).expect("an accepted event decodes");
            assert_eq!(back, ok.event);
        }
    }
}

/// URL canonicalisation and PII scrubbing: page keys under every rule combination, the URL
/// scrubber and the text scrubber. Scrubbing is idempotent.
pub fn canonical_url(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    for (hash_routing, drop_query) in [(false, false), (true, false), (false, true), (true, true)] {
        let rules = PageKeyRules {
            hash_routing,
            drop_query,
            ..PageKeyRules::default()
        };
        let _ = page_key(&s, &rules);
    }
    let (url, _) = scrub_url(&s);
    assert_eq!(scrub_url(&url).1, 0, "scrubbing {url:?} again found more");
    let (text, _) = scrub_text(&s);
    assert_eq!(scrub_text(&text).1, 0, "scrubbing {text:?} again found more");
}
