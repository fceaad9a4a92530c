//! The v1 event model: one Rust definition of the ten event types of `api.md`.
//!
//! Data path: JSON from the snippet is checked field by field in [`validate`], enriched in
//! [`enrich`] (skew correction, page key, device class, bot flag, PII scrubbing) into an
//! [`Event`], which travels through the log as a protobuf [`pb::Record`] (see
//! `proto/sightline/v1/record.proto`) and lands in the warehouse.

pub mod enrich;
pub mod identity;
mod record;
pub mod segment;
pub mod validate;
pub mod wire;

use serde::{Deserialize, Serialize};

/// Protobuf types generated from `proto/sightline/v1/record.proto`.
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/sightline.v1.rs"));
}

/// A width × height pair in CSS pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewport {
    /// Width, CSS px.
    pub w: u32,
    /// Height, CSS px.
    pub h: u32,
}

/// Device class by viewport width (analytics.md, "Device class"): mobile < 768 px,
/// tablet 768–1023 px, desktop ≥ 1024 px; `Unknown` when no viewport was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceClass {
    Desktop,
    Tablet,
    Mobile,
    Unknown,
}

impl DeviceClass {
    /// Classify a viewport width in CSS px.
    pub fn from_width(w: u32) -> Self {
        match w {
            0..=767 => DeviceClass::Mobile,
            768..=1023 => DeviceClass::Tablet,
            _ => DeviceClass::Desktop,
        }
    }
    /// The lower-case name used in the API, the log and the warehouse.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceClass::Desktop => "desktop",
            DeviceClass::Tablet => "tablet",
            DeviceClass::Mobile => "mobile",
            DeviceClass::Unknown => "unknown",
        }
    }
    /// Parse the API name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "desktop" => DeviceClass::Desktop,
            "tablet" => DeviceClass::Tablet,
            "mobile" => DeviceClass::Mobile,
            "unknown" => DeviceClass::Unknown,
            _ => return None,
        })
    }
}

/// Survey question kinds (analytics.md, "Voice of customer").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SurveyKind {
    /// 0..10; the only kind with an NPS.
    Nps,
    /// 1..5; CSAT = share of 4 and 5.
    Csat,
    /// Any numeric scale; distribution and mean.
    Rating,
    /// One or several options.
    Choice,
    /// Free text, PII scrubbed.
    Text,
}

impl SurveyKind {
    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            SurveyKind::Nps => "nps",
            SurveyKind::Csat => "csat",
            SurveyKind::Rating => "rating",
            SurveyKind::Choice => "choice",
            SurveyKind::Text => "text",
        }
    }
    /// Parse the API name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "nps" => SurveyKind::Nps,
            "csat" => SurveyKind::Csat,
            "rating" => SurveyKind::Rating,
            "choice" => SurveyKind::Choice,
            "text" => SurveyKind::Text,
            _ => return None,
        })
    }
}

/// A survey answer: a number (nps, csat, rating), a string (text, single choice) or a list
/// of strings (multiple choice).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Answer {
    Number(f64),
    Text(String),
    Choices(Vec<String>),
}

/// Type-specific fields of an event. Coordinates are CSS px, durations ms. Serialized (for
/// the session timeline) with its v1 `type` name as `type` and its fields by name.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Payload {
    Pageview {
        referrer: Option<String>,
        title: Option<String>,
        screen: Option<Viewport>,
        /// The page's layout version (`layout`: 8 lower-case hex digits, the hash of its zone
        /// and landmark skeleton; analytics.md, "Layout versions"), `None` when not sent.
        layout: Option<String>,
    },
    Click {
        /// Page x (`clientX + scrollX`), CSS px.
        x: f64,
        /// Page y (`clientY + scrollY`), CSS px.
        y: f64,
        selector: String,
        /// Position inside the clicked element's box, fractions 0..1.
        el: Option<(f64, f64)>,
        tag: Option<String>,
        zone: Option<String>,
        /// Time until the page reacted, ms; `None` when it did not within the snippet's window.
        reaction_ms: Option<u32>,
        /// Keyboard activation (`detail == 0`): placed at the element's centre.
        keyboard: bool,
        /// A modifier key was held (never a dead click).
        modifier: bool,
        /// The target is a link that navigates (never a dead click).
        navigates: bool,
        /// `type` attribute of an `<input>` target (number steppers are not rage clicks).
        input_type: Option<String>,
        /// The third-party tracker that reported the click (`posthog-js`, see `docs/compat.md`),
        /// `None` for the snippet. Such a click has no measured position (`x`, `y` are 0 and
        /// left out of the click grid, `el` is `None`) and no reaction time (never a dead
        /// click); in rage bursts it is near the previous click when both have the same selector.
        tracker: Option<String>,
        /// The clicked element's visible text as the client sent it (`text`; posthog-js
        /// `$el_text`): whitespace runs folded to one space and trimmed, PII-scrubbed at
        /// ingest like every other string, at most 256 characters (`MAX_LABEL_CHARS`). `None`
        /// when not sent.
        text: Option<String>,
    },
    Scroll {
        /// Maximum percent of the document height seen, 0..100.
        depth: f64,
        /// Document height, CSS px.
        doc_h: Option<u32>,
    },
    Zone {
        zone: String,
        visible_ms: u32,
        hover_ms: u32,
        hesitation_ms: Option<u32>,
    },
    Replay {
        recording_id: String,
        started_at: i64,
        ended_at: i64,
        pages: u32,
        events: u32,
        bytes: u64,
        clicks: u32,
        errors: u32,
    },
    SurveyResponse {
        survey_id: String,
        question_id: String,
        kind: SurveyKind,
        value: Answer,
        trigger: Option<String>,
    },
    /// A survey opened on the page: one impression (analytics.md, "Survey reach").
    SurveyShown {
        survey_id: String,
        /// What opened it (`exit_intent`, `time_on_page`, `manual`, …).
        trigger: Option<String>,
    },
    /// A survey closed without finishing it (the close button, Escape, or the feedback form
    /// taking its place).
    SurveyDismissed {
        survey_id: String,
        /// The question on screen when it was closed: the last question reached.
        question_id: Option<String>,
        trigger: Option<String>,
    },
    Feedback {
        /// 1..5; ≤ 2 is negative.
        rating: Option<u8>,
        comment: Option<String>,
        category: Option<String>,
        selector: Option<String>,
    },
    Custom {
        name: String,
        /// The `props` object, as JSON text.
        props_json: String,
    },
    /// One part of a session-replay chunk (`crate::replay`): made by `POST /v1/replay`, never
    /// sent as a v1 event; stored apart from the events and never part of a timeline.
    #[serde(skip)]
    ReplayChunk(pb::ReplayChunk),
}

impl Payload {
    /// The v1 `type` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Payload::Pageview { .. } => "pageview",
            Payload::Click { .. } => "click",
            Payload::Scroll { .. } => "scroll",
            Payload::Zone { .. } => "zone",
            Payload::Replay { .. } => "replay",
            Payload::SurveyResponse { .. } => "survey_response",
            Payload::SurveyShown { .. } => "survey_shown",
            Payload::SurveyDismissed { .. } => "survey_dismissed",
            Payload::Feedback { .. } => "feedback",
            Payload::Custom { .. } => "custom",
            Payload::ReplayChunk(_) => "replay_chunk",
        }
    }
}

/// Feedback categories (analytics.md, "Feedback button"); any other value is rejected.
pub const FEEDBACK_CATEGORIES: [&str; 4] = ["bug", "idea", "praise", "other"];

/// Ratings at or below this are negative feedback (analytics.md, "Feedback button").
pub const NEGATIVE_RATING_MAX: u8 = 2;

/// The v1 type names, in `api.md` order.
pub const EVENT_TYPES: [&str; 10] = [
    "pageview",
    "click",
    "scroll",
    "zone",
    "replay",
    "survey_response",
    "survey_shown",
    "survey_dismissed",
    "feedback",
    "custom",
];

/// One accepted event with its server-side fields. Times are ms since the Unix epoch (UTC).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Client-made event id (UUID); the dedup key everywhere.
    pub id: String,
    /// The site's write key.
    pub site: String,
    /// Event time after clock-skew correction, ms.
    pub ts: i64,
    /// Raw client time as sent, ms.
    pub client_ts: i64,
    /// Stamped at the edge, ms.
    pub received_at: i64,
    /// Which skew rule was applied: `none`, `shift`, `clamp` or `shift+clamp`.
    pub skew_rule: String,
    pub session_id: String,
    pub visitor_id: String,
    /// Raw URL (PII scrubbed).
    pub url: String,
    /// Canonical page key (analytics.md, "Page key").
    pub page_key: String,
    pub viewport: Option<Viewport>,
    /// Snippet's per-page counter; orders events with equal `ts`.
    pub seq: Option<u32>,
    /// Snippet's page view id (`None` when not sent: events then belong to the latest page view).
    pub pageview_id: Option<String>,
    pub device: DeviceClass,
    /// Why the event is flagged as a bot (`None`: not a bot). Bots are stored, not dropped.
    pub bot_reason: Option<String>,
    /// Ingest request id, so one event can be followed through the log to the sink.
    pub request_id: String,
    /// Browser, OS and language of the request (docs/analytics.md, "Segments"), one
    /// allocation shared by the request's events; `None` when not known.
    pub client: Option<std::sync::Arc<crate::event::segment::Client>>,
    /// Page views only: referrer host, channel and UTM (docs/analytics.md, "Channels").
    pub source: Option<Box<crate::event::segment::Source>>,
    pub payload: Payload,
}

impl Event {
    /// The v1 `type` name.
    pub fn type_name(&self) -> &'static str {
        self.payload.type_name()
    }
}

/// A `custom` event (`signup`) of site `site`, session `s`, at 1,700,000,000,000 ms, for
/// unit tests of the stages that store events.
#[cfg(test)]
pub(crate) fn test_event(id: &str, visitor: &str) -> Event {
    Event {
        client: None,
        source: None,
        id: id.to_string(),
        site: "site".to_string(),
        ts: 1_700_000_000_000,
        client_ts: 1_700_000_000_000,
        received_at: 1_700_000_000_000,
        skew_rule: "none".to_string(),
        session_id: "s".to_string(),
        visitor_id: visitor.to_string(),
        url: "https://shop.example/".to_string(),
        page_key: "shop.example/".to_string(),
        viewport: None,
        seq: None,
        pageview_id: None,
        device: DeviceClass::Desktop,
        bot_reason: None,
        request_id: "r".to_string(),
        payload: Payload::Custom {
            name: "signup".to_string(),
            props_json: "{}".to_string(),
        },
    }
}
