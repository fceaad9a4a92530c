//! The batch envelope (`{site, sent_at, webdriver, events}`): parsing a body, repairing lone
//! UTF-16 surrogates, and the envelope's own errors.

use super::*;
use crate::event::wire::{Json, WireBody};
use serde::Serialize;
use serde_json::value::RawValue;

/// A malformed envelope: the whole request is refused with `400`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnvelopeError {
    pub field: String,
    pub reason: String,
}

/// The parsed envelope, before per-event validation, borrowing the body.
#[derive(Debug)]
pub struct Envelope<'a> {
    /// Write key.
    pub site: String,
    /// Client time when the batch was sent, ms; `None` when absent.
    pub sent_at: Option<i64>,
    /// `navigator.webdriver` as reported by the snippet.
    pub webdriver: bool,
    /// `navigator.language` as reported by the snippet (`None`: not sent or not a string;
    /// normalised at enrichment, an ill-formed tag is ignored).
    pub language: Option<String>,
    /// Each event as sent; read with [`WireEvent::parse`].
    pub events: Vec<&'a RawValue>,
}

impl<'a> Envelope<'a> {
    /// Check a parsed body's envelope. `site` stands in for a missing `site` member (the
    /// import route names the site in its path).
    pub fn from_wire(body: WireBody<'a>, site: Option<&str>) -> Result<Envelope<'a>, EnvelopeError> {
        let err = |field: &str, reason: String| EnvelopeError {
            field: field.into(),
            reason,
        };
        let WireBody::Object(w) = body else {
            return Err(err(
                "body",
                "expected a JSON object {\"site\", \"sent_at\", \"events\"}".into(),
            ));
        };
        let site = match (w.site, site) {
            (None, Some(s)) => s.to_string(),
            (None, None) => return Err(err("site", "missing (the site's write key)".into())),
            (Some(v), _) => match v.as_str() {
                Some(s) if !s.is_empty() && s.len() <= MAX_ID_CHARS => s.into_owned(),
                Some(_) => return Err(err("site", format!("must be 1..{MAX_ID_CHARS} characters"))),
                None => return Err(err("site", "must be a string (the site's write key)".into())),
            },
        };
        let sent_at = match w.sent_at.filter(|v| !v.is_null()) {
            None => None,
            Some(v) => Some(
                v.as_ms()
                    .ok_or_else(|| err("sent_at", "must be an integer (ms since epoch)".into()))?,
            ),
        };
        let webdriver = w.webdriver.and_then(Json::as_bool) == Some(true);
        let language = w.language.and_then(|l| l.as_str().map(|s| s.into_owned()));
        let events = match w.events {
            Some(Ok(a)) => a,
            Some(Err(())) => return Err(err("events", "must be an array".into())),
            None => return Err(err("events", "missing".into())),
        };
        Ok(Envelope {
            site,
            sent_at,
            webdriver,
            language,
            events,
        })
    }
}

/// Parse the envelope `{"site", "sent_at", "events": [...]}`.
/// Replace every `\uXXXX` escape of a lone UTF-16 surrogate inside the JSON strings of `body`
/// by `\ufffd` (the replacement character); a high surrogate followed by a low one is a pair
/// and kept. Returns `None` when there was nothing to replace.
pub fn repair_lone_surrogates(body: &[u8]) -> Option<Vec<u8>> {
    pub(super) fn hex4(b: &[u8]) -> Option<u16> {
        let s = std::str::from_utf8(b.get(..4)?).ok()?;
        u16::from_str_radix(s, 16).ok()
    }
    let is_high = |u: u16| (0xD800..0xDC00).contains(&u);
    let is_low = |u: u16| (0xDC00..0xE000).contains(&u);
    let mut out = Vec::with_capacity(body.len());
    let (mut i, mut in_string, mut replaced) = (0, false, false);
    while i < body.len() {
        let c = body[i];
        if !in_string {
            in_string = c == b'"';
            out.push(c);
            i += 1;
            continue;
        }
        match c {
            b'"' => {
                in_string = false;
                out.push(c);
                i += 1;
            }
            b'\\' if body.get(i + 1) == Some(&b'u') => {
                let Some(u) = hex4(&body[i + 2..]) else {
                    out.push(c);
                    i += 1;
                    continue;
                };
                let pair_low = (body.get(i + 6) == Some(&b'\\') && body.get(i + 7) == Some(&b'u'))
                    .then(|| hex4(&body[i + 8..]))
                    .flatten()
                    .filter(|l| is_low(*l));
                if is_high(u) && pair_low.is_some() {
                    out.extend_from_slice(&body[i..i + 12]);
                    i += 12;
                } else if is_high(u) || is_low(u) {
                    out.extend_from_slice(b"\\ufffd");
                    replaced = true;
                    i += 6;
                } else {
                    out.extend_from_slice(&body[i..i + 6]);
                    i += 6;
                }
            }
            b'\\' => {
                // Any other escape: copy it and the escaped byte.
                out.extend_from_slice(&body[i..(i + 2).min(body.len())]);
                i += 2;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    replaced.then_some(out)
}

///
/// `scratch` holds the body when it had to be repaired (lone surrogates), so the envelope
/// can borrow from it.
pub fn parse_envelope<'a>(body: &'a [u8], scratch: &'a mut Vec<u8>) -> Result<Envelope<'a>, EnvelopeError> {
    Envelope::from_wire(parse_body(body, scratch)?, None)
}

/// Parse a body as JSON (see [`parse_envelope`] for `scratch`): `400 body` when it is not.
pub fn parse_body<'a>(body: &'a [u8], scratch: &'a mut Vec<u8>) -> Result<WireBody<'a>, EnvelopeError> {
    let err = |reason: String| EnvelopeError {
        field: "body".into(),
        reason,
    };
    match WireBody::parse(body) {
        Ok(w) => Ok(w),
        // JavaScript strings may hold lone UTF-16 surrogates (a cut emoji) that
        // `JSON.stringify` writes as `\ud83d`; one such string must not cost the batch.
        // (serde_json reports them in several ways, so any parse error gets one repair try.)
        Err(e) => match repair_lone_surrogates(body) {
            Some(fixed) => {
                *scratch = fixed;
                let fixed: &'a [u8] = scratch;
                WireBody::parse(fixed).map_err(|e| err(format!("not valid JSON: {e}")))
            }
            None => Err(err(format!("not valid JSON: {e}"))),
        },
    }
}
