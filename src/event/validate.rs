//! Field-by-field validation of the `POST /v1/events` envelope and its events.
//!
//! Every rejection names the field and the reason (`api.md`: `{"index", "field", "reason"}`).
//! Unknown fields are ignored; an ill-typed *optional* field is dropped and reported as a
//! warning while the event is kept (`cases/ingest.md` I5). Required fields that are missing,
//! ill-typed or out of range reject that one event, never the batch.

mod envelope;
pub use envelope::*;

use super::wire::{Json, WireEvent};
use super::{Answer, DeviceClass, Event, Payload, SurveyKind, Viewport};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Longest accepted id, session id, visitor id (chars).
pub const MAX_ID_CHARS: usize = 128;
/// A layout version as the snippet sends it: 8 lower-case hex digits.
pub fn is_layout(s: &str) -> bool {
    s.len() == 8 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Longest accepted URL or referrer (chars); longer ones are rejected.
pub const MAX_URL_CHARS: usize = 4096;
/// Longest accepted CSS selector (chars).
pub const MAX_SELECTOR_CHARS: usize = 1024;
/// Feedback comments are cut at this many characters, on a character boundary (analytics.md).
pub const MAX_COMMENT_CHARS: usize = 2000;
/// Survey text answers (and other free text) are cut at this many characters, on a character
/// boundary (a `char`, so an emoji is never split); shorter answers are kept intact.
pub const MAX_TEXT_CHARS: usize = 5000;
/// Largest page coordinate of a click, CSS px.
pub const MAX_PAGE_PX: f64 = 1_000_000.0;
/// Short labels (tag, zone, category, kind, trigger, names) are cut at this many characters.
pub const MAX_LABEL_CHARS: usize = 256;

/// Why one event was not accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rejection {
    /// Position of the event in the batch.
    pub index: usize,
    /// The first offending field, dotted for nested ones (`viewport.w`).
    pub field: String,
    /// A human-readable reason for `field`.
    pub reason: String,
    /// Every problem found in the event, in field order; the first is `field`/`reason`.
    #[serde(default)]
    pub errors: Vec<FieldError>,
}

/// One bad field of a rejected event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl Rejection {
    /// A rejection for one bad field.
    pub fn new(index: usize, field: impl Into<String>, reason: impl Into<String>) -> Rejection {
        let (field, reason) = (field.into(), reason.into());
        Rejection {
            index,
            errors: vec![FieldError {
                field: field.clone(),
                reason: reason.clone(),
            }],
            field,
            reason,
        }
    }
}

/// Cut `s` to at most `max` characters (Unicode scalar values) without splitting a
/// user-perceived character: the cut moves back to the start of the grapheme cluster it
/// would split (an emoji with a skin tone or a ZWJ family stays whole or goes whole), except
/// when the text's first cluster alone is longer than `max` (then the cut is at `max`). A
/// string of at most `max` characters is returned unchanged.
pub fn cut_chars(mut s: String, max: usize) -> String {
    use unicode_segmentation::UnicodeSegmentation;
    if let Some((idx, _)) = s.char_indices().nth(max) {
        let cut = s
            .grapheme_indices(true)
            .map(|(i, _)| i)
            .take_while(|&i| i <= idx)
            .last()
            .filter(|&i| i > 0)
            .unwrap_or(idx);
        s.truncate(cut);
    }
    s
}

/// Reads the fields of one event object, recording every hard error and any warnings.
struct Fields<'w, 'a> {
    obj: &'w WireEvent<'a>,
    index: usize,
    /// Optional fields dropped because of their type.
    warnings: Vec<String>,
    /// Required fields missing, ill-typed or out of range, in the order they were checked.
    errors: Vec<FieldError>,
}

/// A field's value, or the error recorded for it with [`Fields::record`].
type R<T> = Result<T, FieldError>;

impl<'a> Fields<'_, 'a> {
    fn reject(&self, field: &str, reason: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            reason: reason.into(),
        }
    }
    /// The value of a check, or `None` with its error recorded: validation goes on, so one
    /// rejection reports every bad field of the event.
    fn record<T>(&mut self, r: R<T>) -> Option<T> {
        r.map_err(|e| self.errors.push(e)).ok()
    }
    /// The rejection of the event: its recorded errors, the first one in `field`/`reason`.
    fn rejection(&mut self) -> Rejection {
        let errors = std::mem::take(&mut self.errors);
        let first = errors.first().cloned().expect("a rejection has an error");
        Rejection {
            index: self.index,
            field: first.field,
            reason: first.reason,
            errors,
        }
    }
    fn get(&self, f: &str) -> Option<Json<'a>> {
        self.obj.get(f)
    }
    /// A required string, borrowed from the body when it holds no escape.
    fn req_cow(&self, f: &str, max: usize) -> R<Cow<'a, str>> {
        match self.obj.member(f) {
            None => Err(self.reject(f, "missing")),
            Some(v) if v.is_null() => Err(self.reject(f, "missing")),
            Some(v) => match v.as_str() {
                Some(s) if s.is_empty() => Err(self.reject(f, "must not be empty")),
                // A string of at most `max` bytes has at most `max` characters.
                Some(s) if s.len() > max && s.chars().count() > max => {
                    Err(self.reject(f, format!("longer than {max} characters")))
                }
                Some(s) => Ok(s),
                None => Err(self.reject(f, "must be a string")),
            },
        }
    }
    fn req_str(&self, f: &str, max: usize) -> R<String> {
        self.req_cow(f, max).map(Cow::into_owned)
    }
    fn req_num(&self, f: &str) -> R<f64> {
        match self.obj.member(f) {
            None => Err(self.reject(f, "missing")),
            Some(v) if v.is_null() => Err(self.reject(f, "is null; expected a number")),
            Some(v) => match v.as_number() {
                Some(n) => n
                    .as_f64()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| self.reject(f, "must be a finite number")),
                None => Err(self.reject(f, "must be a number")),
            },
        }
    }
    fn req_ms(&self, f: &str) -> R<i64> {
        match self.get(f) {
            None => Err(self.reject(f, "missing")),
            Some(v) => v
                .as_ms()
                .ok_or_else(|| self.reject(f, "must be an integer (ms since epoch)")),
        }
    }
    /// An optional string: ill-typed → dropped with a warning; cut at `max` chars.
    fn opt_str(&mut self, f: &str, max: usize) -> Option<String> {
        let v = self.get(f)?;
        match v.as_str() {
            Some(s) if s.is_empty() => None,
            Some(s) => Some(cut_chars(s.into_owned(), max)),
            None => {
                self.warnings.push(f.to_string());
                None
            }
        }
    }
    fn opt_num(&mut self, f: &str) -> Option<f64> {
        let v = self.get(f)?;
        match v.as_f64() {
            Some(x) if x.is_finite() => Some(x),
            _ => {
                self.warnings.push(f.to_string());
                None
            }
        }
    }
    fn opt_u32(&mut self, f: &str) -> Option<u32> {
        let v = self.opt_num(f)?;
        if (0.0..=u32::MAX as f64).contains(&v) {
            Some(v.round() as u32)
        } else {
            self.warnings.push(f.to_string());
            None
        }
    }
    fn opt_bool(&mut self, f: &str) -> bool {
        match self.get(f).map(Json::as_bool) {
            None => false,
            Some(Some(b)) => b,
            Some(None) => {
                self.warnings.push(f.to_string());
                false
            }
        }
    }
    /// Two numeric members `keys` of an object member `f`, each in `range`; `None` (with a
    /// warning) when the member is there but not such an object.
    fn opt_pair(&mut self, f: &str, keys: [&str; 2], range: std::ops::RangeInclusive<f64>) -> Option<(f64, f64)> {
        let v = self.get(f)?;
        let num = |m: Option<Json>| m.and_then(Json::as_f64).filter(|x| range.contains(x));
        match v.pick(keys).map(|[a, b]| (num(a), num(b))) {
            Some((Some(a), Some(b))) => Some((a, b)),
            _ => {
                self.warnings.push(f.to_string());
                None
            }
        }
    }
    fn opt_box(&mut self, f: &str) -> Option<Viewport> {
        self.opt_pair(f, ["w", "h"], 0.0..=100_000.0).map(|(w, h)| Viewport {
            w: w.round() as u32,
            h: h.round() as u32,
        })
    }
}

/// An event that passed validation, with the warnings for dropped optional fields.
#[derive(Debug)]
pub struct Validated {
    /// Server-side fields are placeholders here; [`super::enrich`] fills them.
    pub event: Event,
    pub warnings: Vec<String>,
}

/// Validate one event of a batch. `index` is its position, used in the rejection.
pub fn validate_event(index: usize, wire: &WireEvent, site: &str) -> Result<Validated, Rejection> {
    if !wire.is_object {
        return Err(Rejection::new(index, "event", "must be a JSON object"));
    }
    let mut f = Fields {
        obj: wire,
        index,
        warnings: Vec::new(),
        errors: Vec::new(),
    };
    let id = f.req_cow("id", MAX_ID_CHARS).and_then(|id| {
        uuid::Uuid::parse_str(&id)
            .map(|u| u.hyphenated().to_string())
            .map_err(|_| f.reject("id", "must be a UUID (v7 preferred)"))
    });
    let id = f.record(id);
    let typ = f.record(f.req_cow("type", MAX_LABEL_CHARS));
    let ts = f.req_ms("ts").and_then(|ts| {
        if ts > 0 {
            Ok(ts)
        } else {
            Err(f.reject("ts", "must be a positive time in ms since epoch"))
        }
    });
    let ts = f.record(ts);
    let session_id = f.record(f.req_str("session_id", MAX_ID_CHARS));
    let visitor_id = f.record(f.req_str("visitor_id", MAX_ID_CHARS));
    let url = f
        .req_str("url", MAX_URL_CHARS)
        .and_then(|url| match url::Url::parse(&url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(url),
            Ok(_) => Err(f.reject("url", "must be an absolute http(s) URL with a host")),
            Err(e) => Err(f.reject("url", format!("not a valid URL: {e}"))),
        });
    let url = f.record(url);
    let viewport = f.opt_box("viewport");
    let seq = f.opt_u32("seq");
    let pageview_id = f.opt_str("pageview_id", MAX_ID_CHARS);

    // `None` when a required field of the type is bad (its error is recorded) or the type
    // itself is missing or unknown.
    let payload = match typ.as_deref() {
        None => None,
        Some("pageview") => {
            // The layout version: a hash the snippet computes (analytics.md, "Layout
            // versions"); anything else would split the page's rollups by noise.
            let layout = match f.get("layout") {
                None => Ok(None),
                Some(v) => match v.as_str() {
                    Some(s) if s.is_empty() => Ok(None),
                    Some(s) if is_layout(&s) => Ok(Some(s.into_owned())),
                    _ => Err(f.reject("layout", "must be 8 lower-case hex digits (the snippet's layout hash)")),
                },
            };
            f.record(layout).map(|layout| Payload::Pageview {
                referrer: f.opt_str("referrer", MAX_URL_CHARS),
                title: f.opt_str("title", MAX_LABEL_CHARS),
                screen: f.opt_box("screen"),
                layout,
            })
        }
        Some("click") => {
            // Page coordinates (clientX + scrollX): never negative, and no page is a million
            // CSS px wide or tall.
            fn coord(f: &Fields, k: &str) -> R<f64> {
                let v = f.req_num(k)?;
                if (0.0..=MAX_PAGE_PX).contains(&v) {
                    Ok(v)
                } else {
                    Err(f.reject(k, format!("must be 0..={MAX_PAGE_PX} CSS px (page coordinates)")))
                }
            }
            // A click another tracker reported (`docs/compat.md`) may come without a position:
            // it is stored at 0, 0 and left out of the grid, never placed by guess.
            let tracker = f.opt_str("tracker", MAX_LABEL_CHARS);
            let unplaced = tracker.is_some() && f.get("x").is_none() && f.get("y").is_none();
            let (x, y) = if unplaced {
                (Some(0.0), Some(0.0))
            } else {
                (f.record(coord(&f, "x")), f.record(coord(&f, "y")))
            };
            let selector = f.record(f.req_str("selector", MAX_SELECTOR_CHARS));
            let el = f.opt_pair("el", ["x", "y"], 0.0..=1.0);
            let keyboard = f.opt_bool("keyboard");
            let (tag, zone, reaction_ms) = (
                f.opt_str("tag", MAX_LABEL_CHARS).map(|t| t.to_ascii_lowercase()),
                f.opt_str("zone", MAX_LABEL_CHARS),
                f.opt_u32("reaction_ms"),
            );
            let (modifier, navigates) = (f.opt_bool("modifier"), f.opt_bool("navigates"));
            let input_type = f.opt_str("input_type", MAX_LABEL_CHARS).map(|t| t.to_ascii_lowercase());
            let text = f
                .opt_str("text", usize::MAX)
                .map(|t| cut_chars(t.split_whitespace().collect::<Vec<_>>().join(" "), MAX_LABEL_CHARS))
                .filter(|t| !t.is_empty());
            match (x, y, selector) {
                (Some(x), Some(y), Some(selector)) => Some(Payload::Click {
                    x,
                    y,
                    selector,
                    el: if keyboard { Some((0.5, 0.5)) } else { el },
                    tag,
                    zone,
                    reaction_ms,
                    keyboard,
                    modifier,
                    navigates,
                    input_type,
                    tracker,
                    text,
                }),
                _ => None,
            }
        }
        Some("scroll") => {
            let depth = f.req_num("depth").and_then(|d| {
                if (0.0..=100.0).contains(&d) {
                    Ok(d)
                } else {
                    Err(f.reject("depth", "must be a percent of the document height, 0..100"))
                }
            });
            let depth = f.record(depth);
            let doc_h = f.opt_u32("doc_h");
            depth.map(|depth| Payload::Scroll { depth, doc_h })
        }
        Some("zone") => {
            let zone = f.record(f.req_str("zone", MAX_LABEL_CHARS));
            let (visible_ms, hover_ms) = (f.opt_u32("visible_ms"), f.opt_u32("hover_ms"));
            let hesitation_ms = f.opt_u32("hesitation_ms");
            zone.map(|zone| Payload::Zone {
                zone,
                visible_ms: visible_ms.unwrap_or(0),
                hover_ms: hover_ms.unwrap_or(0),
                hesitation_ms,
            })
        }
        Some("replay") => {
            let recording_id = f.record(f.req_str("recording_id", MAX_ID_CHARS));
            let at = ts.unwrap_or(0);
            let started_at = f.opt_num("started_at").map(|v| v as i64).unwrap_or(at);
            let ended_at = f.opt_num("ended_at").map(|v| v as i64).unwrap_or(at);
            let (pages, events) = (f.opt_u32("pages").unwrap_or(0), f.opt_u32("events").unwrap_or(0));
            let bytes = f.opt_num("bytes").filter(|b| *b >= 0.0).map(|b| b as u64).unwrap_or(0);
            let (clicks, errors) = (f.opt_u32("clicks").unwrap_or(0), f.opt_u32("errors").unwrap_or(0));
            recording_id.map(|recording_id| Payload::Replay {
                recording_id,
                started_at,
                ended_at,
                pages,
                events,
                bytes,
                clicks,
                errors,
            })
        }
        Some("survey_response") => {
            let survey_id = f.record(f.req_str("survey_id", MAX_LABEL_CHARS));
            let question_id = f.record(f.req_str("question_id", MAX_LABEL_CHARS));
            let kind = f.req_cow("kind", MAX_LABEL_CHARS).and_then(|k| {
                SurveyKind::parse(&k).ok_or_else(|| f.reject("kind", "must be one of nps, csat, rating, choice, text"))
            });
            let kind = f.record(kind);
            // The value is judged by its kind, so only when the kind is known.
            let value = kind.and_then(|k| f.record(survey_value(&f, k)));
            let trigger = f.opt_str("trigger", MAX_LABEL_CHARS);
            match (survey_id, question_id, kind, value) {
                (Some(survey_id), Some(question_id), Some(kind), Some(value)) => Some(Payload::SurveyResponse {
                    survey_id,
                    question_id,
                    kind,
                    value,
                    trigger,
                }),
                _ => None,
            }
        }
        Some("survey_shown") => {
            let survey_id = f.record(f.req_str("survey_id", MAX_LABEL_CHARS));
            let trigger = f.opt_str("trigger", MAX_LABEL_CHARS);
            survey_id.map(|survey_id| Payload::SurveyShown { survey_id, trigger })
        }
        Some("survey_dismissed") => {
            let survey_id = f.record(f.req_str("survey_id", MAX_LABEL_CHARS));
            let question_id = f.opt_str("question_id", MAX_LABEL_CHARS);
            let trigger = f.opt_str("trigger", MAX_LABEL_CHARS);
            survey_id.map(|survey_id| Payload::SurveyDismissed {
                survey_id,
                question_id,
                trigger,
            })
        }
        Some("feedback") => {
            let rating = match f.get("rating") {
                None => Ok(None),
                Some(v) => match v.as_f64() {
                    Some(r) if r.fract() == 0.0 && (1.0..=5.0).contains(&r) => Ok(Some(r as u8)),
                    _ => Err(f.reject("rating", "must be an integer 1..5")),
                },
            };
            let rating = f.record(rating);
            let category = match f.opt_str("category", MAX_LABEL_CHARS) {
                None => Ok(None),
                Some(c) => {
                    let c = c.trim().to_ascii_lowercase();
                    if super::FEEDBACK_CATEGORIES.contains(&c.as_str()) {
                        Ok(Some(c))
                    } else {
                        Err(f.reject(
                            "category",
                            format!("must be one of {}", super::FEEDBACK_CATEGORIES.join(", ")),
                        ))
                    }
                }
            };
            let category = f.record(category);
            let comment = f.opt_str("comment", MAX_COMMENT_CHARS).filter(|c| !c.trim().is_empty());
            let selector = f.opt_str("selector", MAX_SELECTOR_CHARS);
            match (rating, category) {
                (Some(None), Some(None)) if comment.is_none() => {
                    f.errors
                        .push(f.reject("rating", "feedback needs a rating, a comment or a category"));
                    None
                }
                (Some(rating), Some(category)) => Some(Payload::Feedback {
                    rating,
                    comment,
                    category,
                    selector,
                }),
                _ => None,
            }
        }
        Some("custom") => {
            let name = f.record(f.req_str("name", MAX_LABEL_CHARS));
            // The props are stored as compact JSON text with their keys sorted (as before
            // typed parsing): the one member read through a `Value`.
            let props_json = match f.get("props").filter(|v| v.is_object()).map(|v| v.to_value()) {
                None if f.get("props").is_none() => "{}".to_string(),
                Some(Some(v)) => v.to_string(),
                _ => {
                    f.warnings.push("props".into());
                    "{}".to_string()
                }
            };
            name.map(|name| Payload::Custom { name, props_json })
        }
        Some(other) => {
            let e = f.reject(
                "type",
                format!(
                    "unknown event type {other:?}; expected one of {}",
                    super::EVENT_TYPES.join(", ")
                ),
            );
            f.errors.push(e);
            None
        }
    };
    let (Some(id), Some(ts), Some(session_id), Some(visitor_id), Some(url), Some(payload)) =
        (id, ts, session_id, visitor_id, url, payload)
    else {
        return Err(f.rejection());
    };
    let warnings = std::mem::take(&mut f.warnings);
    Ok(Validated {
        event: Event {
            client: None,
            source: None,
            id,
            site: site.to_string(),
            ts,
            client_ts: ts,
            received_at: 0,
            skew_rule: String::new(),
            session_id,
            visitor_id,
            url,
            page_key: String::new(),
            viewport,
            seq,
            pageview_id,
            device: DeviceClass::Unknown,
            bot_reason: None,
            request_id: String::new(),
            payload,
        },
        warnings,
    })
}

/// The `value` of a survey response, checked against its kind.
fn survey_value(f: &Fields, kind: SurveyKind) -> R<Answer> {
    let v = f.get("value").ok_or_else(|| f.reject("value", "missing"))?;
    let int_in = |lo: f64, hi: f64, what: &str| -> R<Answer> {
        match v.as_f64() {
            Some(n) if n.fract() == 0.0 && (lo..=hi).contains(&n) => Ok(Answer::Number(n)),
            _ => Err(f.reject("value", format!("{what} must be an integer {lo}..{hi}"))),
        }
    };
    match kind {
        SurveyKind::Nps => int_in(0.0, 10.0, "an nps answer"),
        SurveyKind::Csat => int_in(1.0, 5.0, "a csat answer"),
        SurveyKind::Rating => match v.as_f64() {
            Some(n) if n.is_finite() => Ok(Answer::Number(n)),
            _ => Err(f.reject("value", "a rating answer must be a number")),
        },
        SurveyKind::Choice => match (v.as_str(), v.as_strings()) {
            (Some(s), _) => Ok(Answer::Text(cut_chars(s.into_owned(), MAX_LABEL_CHARS))),
            (_, Some(items)) => Ok(Answer::Choices(
                items
                    .into_iter()
                    .map(|s| cut_chars(s.into_owned(), MAX_LABEL_CHARS))
                    .collect(),
            )),
            _ => Err(f.reject("value", "a choice answer must be a string or a list of strings")),
        },
        SurveyKind::Text => match v.as_str() {
            Some(s) => Ok(Answer::Text(cut_chars(s.into_owned(), MAX_TEXT_CHARS))),
            _ => Err(f.reject("value", "a text answer must be a string")),
        },
    }
}

#[cfg(test)]
mod tests;
