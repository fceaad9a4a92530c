//! The borrowed wire shapes of `POST /v1/events`: the body is parsed once into
//! [`WireEnvelope`] (each event kept as the raw JSON text it was sent as), and each event into
//! a [`WireEvent`], whose fields are [`Json`] values borrowed from the body and read on
//! demand. No `serde_json::Value` tree is built for an event: a string without escapes is
//! read in place, a number from its text, and nested objects (`viewport`, `el`) are picked
//! for the two members they carry.
//!
//! The `Deserialize` impls are written by hand rather than derived, to keep the contract of
//! the `Value` reading they replace: a repeated key takes its last value, unknown keys are
//! skipped, `null` is told from a missing field, and an event that is not an object is still
//! an item of the batch (rejected on field `event`), never a parse error of the body.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// One JSON value of a body, borrowed exactly as sent (no surrounding whitespace), read on
/// demand. Reading never fails: a value of another type reads as `None`.
#[derive(Clone, Copy, Debug)]
pub struct Json<'a>(&'a RawValue);

impl<'a> Json<'a> {
    /// The value's JSON text.
    pub fn raw(self) -> &'a str {
        self.0.get()
    }
    /// The borrowed raw value.
    pub fn raw_value(self) -> &'a RawValue {
        self.0
    }
    /// `null`.
    pub fn is_null(self) -> bool {
        self.raw() == "null"
    }
    /// A JSON object (`{…}`).
    pub fn is_object(self) -> bool {
        self.raw().starts_with('{')
    }
    /// A JSON string.
    pub fn is_string(self) -> bool {
        self.raw().starts_with('"')
    }
    /// `true` or `false`.
    pub fn as_bool(self) -> Option<bool> {
        match self.raw() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }
    /// A string's text: borrowed from the body when it holds no escape, else unescaped (lone
    /// UTF-16 surrogates, which `JSON.stringify` writes for a cut emoji, become U+FFFD).
    pub fn as_str(self) -> Option<Cow<'a, str>> {
        let raw = self.raw();
        let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
        if !inner.contains('\\') {
            return Some(Cow::Borrowed(inner));
        }
        match serde_json::from_str::<String>(raw) {
            Ok(s) => Some(Cow::Owned(s)),
            Err(_) => {
                let fixed = super::validate::repair_lone_surrogates(raw.as_bytes())?;
                serde_json::from_slice::<String>(&fixed).ok().map(Cow::Owned)
            }
        }
    }
    /// A number, as `serde_json` reads it (an integer when it fits `u64`/`i64`, else `f64`);
    /// `None` for another type or a number out of `f64` range.
    pub fn as_number(self) -> Option<serde_json::Number> {
        let raw = self.raw();
        let digits = raw.strip_prefix('-').unwrap_or(raw).as_bytes();
        // Most numbers are integers that fit `i64`: read them without a parser (`-0` is a
        // float to serde_json, so it takes the general path).
        if (1..=18).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit) && raw != "-0" {
            return raw.parse::<i64>().ok().map(serde_json::Number::from);
        }
        let b = *raw.as_bytes().first()?;
        if b == b'-' || b.is_ascii_digit() {
            serde_json::from_str(self.raw()).ok()
        } else {
            None
        }
    }
    /// A number as `f64`.
    pub fn as_f64(self) -> Option<f64> {
        self.as_number()?.as_f64()
    }
    /// Integer milliseconds: an integer, or a finite float (rounded) under 9e15.
    pub fn as_ms(self) -> Option<i64> {
        let n = self.as_number()?;
        n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && f.abs() < 9e15)
                .map(|f| f.round() as i64)
        })
    }
    /// The members `keys` of an object (the last of a repeated key), `None` when the value is
    /// not an object. Other members are skipped.
    pub fn pick<const N: usize>(self, keys: [&str; N]) -> Option<[Option<Json<'a>>; N]> {
        if !self.is_object() {
            return None;
        }
        let mut out = [None; N];
        let mut de = serde_json::Deserializer::from_str(self.raw());
        de.deserialize_map(Pick {
            keys: &keys,
            out: &mut out,
        })
        .ok()?;
        Some(out)
    }
    /// The strings of an array of strings; `None` for anything else.
    pub fn as_strings(self) -> Option<Vec<Cow<'a, str>>> {
        if !self.raw().starts_with('[') {
            return None;
        }
        let items: Vec<&'a RawValue> = serde_json::from_str(self.raw()).ok()?;
        items.into_iter().map(|r| Json(r).as_str()).collect()
    }
    /// The value as a `serde_json::Value` (lone surrogates repaired); for the rare paths that
    /// need a tree: a custom event's `props` text, a dead letter's scrubbing.
    pub fn to_value(self) -> Option<serde_json::Value> {
        serde_json::from_str(self.raw()).ok().or_else(|| {
            let fixed = super::validate::repair_lone_surrogates(self.raw().as_bytes())?;
            serde_json::from_slice(&fixed).ok()
        })
    }
}

impl<'a> From<&'a RawValue> for Json<'a> {
    fn from(raw: &'a RawValue) -> Json<'a> {
        Json(raw)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Json<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&'a RawValue>::deserialize(d).map(Json)
    }
}

struct Pick<'k, 'o, 'a, const N: usize> {
    keys: &'k [&'k str; N],
    out: &'o mut [Option<Json<'a>>; N],
}

impl<'de: 'a, 'a, const N: usize> Visitor<'de> for Pick<'_, '_, 'a, N> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match self.keys.iter().position(|k| *k == key.0) {
                Some(i) => self.out[i] = Some(map.next_value()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// The batch envelope as sent: each member borrowed, `None` when absent. Checked by
/// [`super::validate::Envelope::from_wire`].
#[derive(Debug, Default)]
pub struct WireEnvelope<'a> {
    /// `site`: the write key.
    pub site: Option<Json<'a>>,
    /// `sent_at`: client send time, ms.
    pub sent_at: Option<Json<'a>>,
    /// `webdriver`: `navigator.webdriver`.
    pub webdriver: Option<Json<'a>>,
    /// `language`: `navigator.language`.
    pub language: Option<Json<'a>>,
    /// `events`: `Ok` with each item's raw JSON for an array, `Err(())` for another value.
    pub events: Option<Result<Vec<&'a RawValue>, ()>>,
}

/// A parsed body: an object (an envelope), or some other JSON value.
#[derive(Debug)]
pub enum WireBody<'a> {
    /// A JSON object.
    Object(WireEnvelope<'a>),
    /// Valid JSON, but not an object.
    NotObject,
}

impl<'a> WireBody<'a> {
    /// Parse `body`: `Err` only when it is not valid JSON.
    pub fn parse(body: &'a [u8]) -> Result<WireBody<'a>, serde_json::Error> {
        serde_json::from_slice(body)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for WireBody<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(BodyVisitor(std::marker::PhantomData))
    }
}

/// Accepts any JSON value; only an object's members are read.
struct BodyVisitor<'a>(std::marker::PhantomData<&'a ()>);

/// Skip a sequence's items.
fn drain_seq<'de, S: SeqAccess<'de>>(mut seq: S) -> Result<(), S::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Skip a map's entries.
fn drain_map<'de, M: MapAccess<'de>>(mut map: M) -> Result<(), M::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// `visit_*` for every non-object, non-array JSON value, answering `$v`.
macro_rules! scalars_are {
    ($v:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($v)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($v)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($v)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($v)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($v)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($v)
        }
    };
}

impl<'de: 'a, 'a> Visitor<'de> for BodyVisitor<'a> {
    type Value = WireBody<'a>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    scalars_are!(WireBody::NotObject);
    fn visit_seq<S: SeqAccess<'de>>(self, seq: S) -> Result<Self::Value, S::Error> {
        drain_seq(seq)?;
        Ok(WireBody::NotObject)
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut env = WireEnvelope::default();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match &*key.0 {
                "site" => env.site = Some(map.next_value()?),
                "sent_at" => env.sent_at = Some(map.next_value()?),
                "webdriver" => env.webdriver = Some(map.next_value()?),
                "language" => env.language = Some(map.next_value()?),
                "events" => env.events = Some(map.next_value_seed(EventsSeed(std::marker::PhantomData))?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(WireBody::Object(env))
    }
}

/// A member name, borrowed unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// The `events` member: an array's items as raw JSON, or `Err(())` for any other value.
struct EventsSeed<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> DeserializeSeed<'de> for EventsSeed<'a> {
    type Value = Result<Vec<&'a RawValue>, ()>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for EventsSeed<'a> {
    type Value = Result<Vec<&'a RawValue>, ()>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    scalars_are!(Err(()));
    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Self::Value, M::Error> {
        drain_map(map)?;
        Ok(Err(()))
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element::<&'a RawValue>()? {
            out.push(item);
        }
        Ok(Ok(out))
    }
}

/// Every member of an event object that validation reads, in one table: [`WireEvent`] keeps
/// one slot per name.
pub const EVENT_FIELDS: [&str; 49] = [
    "id",
    "type",
    "ts",
    "session_id",
    "visitor_id",
    "url",
    "viewport",
    "seq",
    "pageview_id",
    "referrer",
    "title",
    "screen",
    "tracker",
    "x",
    "y",
    "selector",
    "el",
    "keyboard",
    "tag",
    "zone",
    "reaction_ms",
    "modifier",
    "navigates",
    "input_type",
    "text",
    "depth",
    "doc_h",
    "visible_ms",
    "hover_ms",
    "hesitation_ms",
    "recording_id",
    "started_at",
    "ended_at",
    "pages",
    "events",
    "bytes",
    "clicks",
    "errors",
    "survey_id",
    "question_id",
    "kind",
    "value",
    "trigger",
    "rating",
    "category",
    "comment",
    "name",
    "props",
    "layout",
];

/// The slot of a member name in [`EVENT_FIELDS`].
fn slot(name: &str) -> Option<usize> {
    Some(match name {
        "id" => 0,
        "type" => 1,
        "ts" => 2,
        "session_id" => 3,
        "visitor_id" => 4,
        "url" => 5,
        "viewport" => 6,
        "seq" => 7,
        "pageview_id" => 8,
        "referrer" => 9,
        "title" => 10,
        "screen" => 11,
        "tracker" => 12,
        "x" => 13,
        "y" => 14,
        "selector" => 15,
        "el" => 16,
        "keyboard" => 17,
        "tag" => 18,
        "zone" => 19,
        "reaction_ms" => 20,
        "modifier" => 21,
        "navigates" => 22,
        "input_type" => 23,
        "text" => 24,
        "depth" => 25,
        "doc_h" => 26,
        "visible_ms" => 27,
        "hover_ms" => 28,
        "hesitation_ms" => 29,
        "recording_id" => 30,
        "started_at" => 31,
        "ended_at" => 32,
        "pages" => 33,
        "events" => 34,
        "bytes" => 35,
        "clicks" => 36,
        "errors" => 37,
        "survey_id" => 38,
        "question_id" => 39,
        "kind" => 40,
        "value" => 41,
        "trigger" => 42,
        "rating" => 43,
        "category" => 44,
        "comment" => 45,
        "name" => 46,
        "props" => 47,
        "layout" => 48,
        _ => return None,
    })
}

/// One event of a batch as sent: its raw JSON text, and when it is an object, the members of
/// [`EVENT_FIELDS`] it has (other members are skipped). Copying one copies references only.
#[derive(Clone, Copy, Debug)]
pub struct WireEvent<'a> {
    /// The event's JSON text as sent (the per-event cap counts its bytes; a dead letter
    /// keeps it, scrubbed).
    pub raw: &'a RawValue,
    /// Whether it is a JSON object.
    pub is_object: bool,
    slots: [Option<Json<'a>>; EVENT_FIELDS.len()],
}

impl<'a> WireEvent<'a> {
    /// Read one item of a batch. Never fails on valid JSON: an item that is not an object
    /// has `is_object == false` and no members.
    pub fn parse(raw: &'a RawValue) -> WireEvent<'a> {
        let mut ev = WireEvent {
            raw,
            is_object: false,
            slots: [None; EVENT_FIELDS.len()],
        };
        if raw.get().starts_with('{') {
            let mut de = serde_json::Deserializer::from_str(raw.get());
            // The text was read as JSON already; an error here (none is expected) leaves the
            // members read so far.
            let _ = de.deserialize_map(EventVisitor(&mut ev.slots));
            ev.is_object = true;
        }
        ev
    }
    /// The member `name` (one of [`EVENT_FIELDS`]), `null` included; `None` when absent.
    ///
    /// # Panics
    /// When `name` is not in [`EVENT_FIELDS`] (a programming error, caught by the tests).
    pub fn member(&self, name: &str) -> Option<Json<'a>> {
        self.slots[slot(name).unwrap_or_else(|| panic!("{name} is not in EVENT_FIELDS"))]
    }
    /// The member `name` unless absent or `null`.
    pub fn get(&self, name: &str) -> Option<Json<'a>> {
        self.member(name).filter(|v| !v.is_null())
    }
    /// The member `name` as a string, when it is one.
    pub fn str(&self, name: &str) -> Option<Cow<'a, str>> {
        self.member(name)?.as_str()
    }
}

struct EventVisitor<'s, 'a>(&'s mut [Option<Json<'a>>; EVENT_FIELDS.len()]);

impl<'de: 'a, 'a> Visitor<'de> for EventVisitor<'_, 'a> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an event object")
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match slot(&key.0) {
                Some(i) => self.0[i] = Some(map.next_value()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_field_has_its_own_slot() {
        for (i, f) in EVENT_FIELDS.iter().enumerate() {
            assert_eq!(slot(f), Some(i), "{f}");
        }
    }

    #[test]
    fn members_are_borrowed_typed_and_the_last_of_a_repeated_key_wins() {
        let raw: &RawValue =
            serde_json::from_str(r#"{"id":"a","id":"b","ts":1.5e3,"x":null,"title":"caf\u00e9","odd":[1,{"a":2}]}"#)
                .unwrap();
        let ev = WireEvent::parse(raw);
        assert!(ev.is_object);
        assert!(matches!(ev.str("id"), Some(Cow::Borrowed("b"))));
        assert_eq!(ev.member("ts").unwrap().as_ms(), Some(1500));
        assert!(ev.member("x").unwrap().is_null() && ev.get("x").is_none());
        assert_eq!(ev.str("title").as_deref(), Some("café"));
        assert!(ev.member("url").is_none());
        let not: &RawValue = serde_json::from_str("[1]").unwrap();
        assert!(!WireEvent::parse(not).is_object);
    }

    #[test]
    fn a_body_that_is_not_an_object_and_events_that_are_not_an_array_are_told_apart() {
        assert!(matches!(WireBody::parse(b"[1, 2]"), Ok(WireBody::NotObject)));
        assert!(WireBody::parse(b"{").is_err());
        let Ok(WireBody::Object(env)) = WireBody::parse(br#"{"site":"s","events":{"a":1}}"#) else {
            panic!()
        };
        assert!(matches!(env.events, Some(Err(()))));
        assert_eq!(env.site.unwrap().as_str().as_deref(), Some("s"));
    }

    #[test]
    fn nested_members_and_lone_surrogates_are_read_on_demand() {
        let v: &RawValue = serde_json::from_str(r#"{"w":"x","h":2,"w":1}"#).unwrap();
        let [w, h] = Json(v).pick(["w", "h"]).unwrap();
        assert_eq!((w.unwrap().as_f64(), h.unwrap().as_f64()), (Some(1.0), Some(2.0)));
        let s: &RawValue = serde_json::from_str(r#""a\ud83d""#).unwrap();
        assert_eq!(Json(s).as_str().as_deref(), Some("a\u{fffd}"));
        let big: &RawValue = serde_json::from_str("1e999").unwrap();
        assert_eq!(Json(big).as_f64(), None);
        // Numbers read as serde_json reads them, the integer fast path included.
        for n in [
            "0",
            "-0",
            "7",
            "-7",
            "1700000000000",
            "999999999999999999",
            "-999999999999999999",
            "9999999999999999999",
            "18446744073709551616",
            "-9223372036854775809",
            "1.5",
            "-2.5e3",
            "1E2",
            "0.0",
        ] {
            let raw: &RawValue = serde_json::from_str(n).unwrap();
            let want: serde_json::Number = serde_json::from_str(n).unwrap();
            assert_eq!(Json(raw).as_number(), Some(want), "{n}");
        }
    }
}
