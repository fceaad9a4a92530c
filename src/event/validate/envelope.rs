//! The batch envelope (`{site, sent_at, webdriver, events}`): parsing a body, repairing lone
//! UTF-16 surrogates, and the envelope's own errors.

use super::*;
use serde::Serialize;
use serde_json::Value;

/// A malformed envelope: the whole request is refused with `400`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnvelopeError {
    pub field: String,
    pub reason: String,
}

/// The parsed envelope, before per-event validation.
#[derive(Debug)]
pub struct Envelope {
    /// Write key.
    pub site: String,
    /// Client time when the batch was sent, ms; `None` when absent.
    pub sent_at: Option<i64>,
    /// `navigator.webdriver` as reported by the snippet.
    pub webdriver: bool,
    pub events: Vec<Value>,
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

pub fn parse_envelope(body: &[u8]) -> Result<Envelope, EnvelopeError> {
    let err = |field: &str, reason: String| EnvelopeError {
        field: field.into(),
        reason,
    };
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        // JavaScript strings may hold lone UTF-16 surrogates (a cut emoji) that
        // `JSON.stringify` writes as `\ud83d`; one such string must not cost the batch.
        // (serde_json reports them in several ways, so any parse error gets one repair try.)
        Err(e) => match repair_lone_surrogates(body) {
            Some(fixed) => serde_json::from_slice(&fixed).map_err(|e| err("body", format!("not valid JSON: {e}")))?,
            None => return Err(err("body", format!("not valid JSON: {e}"))),
        },
    };
    parse_envelope_value(value)
}

/// [`parse_envelope`] of an already parsed JSON value.
pub fn parse_envelope_value(value: Value) -> Result<Envelope, EnvelopeError> {
    let err = |field: &str, reason: String| EnvelopeError {
        field: field.into(),
        reason,
    };
    let Value::Object(mut obj) = value else {
        return Err(err(
            "body",
            "expected a JSON object {\"site\", \"sent_at\", \"events\"}".into(),
        ));
    };
    let site = match obj.remove("site") {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_ID_CHARS => s,
        Some(Value::String(_)) => return Err(err("site", format!("must be 1..{MAX_ID_CHARS} characters"))),
        Some(_) => return Err(err("site", "must be a string (the site's write key)".into())),
        None => return Err(err("site", "missing (the site's write key)".into())),
    };
    let sent_at = match obj.remove("sent_at") {
        None | Some(Value::Null) => None,
        Some(v) => Some(as_ms(&v).ok_or_else(|| err("sent_at", "must be an integer (ms since epoch)".into()))?),
    };
    let webdriver = matches!(obj.remove("webdriver"), Some(Value::Bool(true)));
    let events = match obj.remove("events") {
        Some(Value::Array(a)) => a,
        Some(_) => return Err(err("events", "must be an array".into())),
        None => return Err(err("events", "missing".into())),
    };
    Ok(Envelope {
        site,
        sent_at,
        webdriver,
        events,
    })
}

/// Integer milliseconds from a JSON number (integers, or floats with no fraction beyond ms).
pub(super) fn as_ms(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && f.abs() < 9e15)
                .map(|f| f.round() as i64)
        }),
        _ => None,
    }
}
