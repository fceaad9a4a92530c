//! The v1 event model: one Rust definition of the ten event types of `api.md`.
//!
//! Data path: JSON from the snippet is checked field by field in [`validate`], enriched in
//! [`enrich`] (skew correction, page key, device class, bot flag, PII scrubbing) into an
//! [`Event`], which travels through the log as a protobuf [`pb::Record`] (see
//! `proto/sightline/v1/record.proto`) and lands in the warehouse.

pub mod enrich;
pub mod identity;
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

    /// Encode as the log's protobuf record.
    pub fn to_record(&self) -> pb::Record {
        use pb::record::Payload as P;
        let vp = |v: Option<Viewport>| v.map(|v| pb::Viewport { w: v.w, h: v.h });
        let c = self.client.as_deref();
        let payload = match &self.payload {
            Payload::Pageview {
                referrer,
                title,
                screen,
                layout,
            } => {
                let src = self.source.as_deref();
                P::Pageview(pb::Pageview {
                    referrer: referrer.clone().unwrap_or_default(),
                    title: title.clone().unwrap_or_default(),
                    screen: vp(*screen),
                    layout: layout.clone().unwrap_or_default(),
                    has_source: src.is_some(),
                    referrer_host: src.map(|s| s.referrer_host.clone()).unwrap_or_default(),
                    channel: src.map(|s| s.channel.as_str().to_string()).unwrap_or_default(),
                    utm_source: src.map(|s| s.utm_source.clone()).unwrap_or_default(),
                    utm_medium: src.map(|s| s.utm_medium.clone()).unwrap_or_default(),
                    utm_campaign: src.map(|s| s.utm_campaign.clone()).unwrap_or_default(),
                })
            }
            Payload::Click {
                x,
                y,
                selector,
                el,
                tag,
                zone,
                reaction_ms,
                keyboard,
                modifier,
                navigates,
                input_type,
                tracker,
                text,
            } => P::Click(pb::Click {
                x: *x,
                y: *y,
                selector: selector.clone(),
                el_x: el.map(|e| e.0),
                el_y: el.map(|e| e.1),
                tag: tag.clone().unwrap_or_default(),
                zone: zone.clone().unwrap_or_default(),
                reaction_ms: *reaction_ms,
                keyboard: *keyboard,
                modifier: *modifier,
                navigates: *navigates,
                input_type: input_type.clone().unwrap_or_default(),
                tracker: tracker.clone().unwrap_or_default(),
                text: text.clone().unwrap_or_default(),
            }),
            Payload::Scroll { depth, doc_h } => P::Scroll(pb::Scroll {
                depth: *depth,
                doc_h: *doc_h,
            }),
            Payload::Zone {
                zone,
                visible_ms,
                hover_ms,
                hesitation_ms,
            } => P::Zone(pb::Zone {
                zone: zone.clone(),
                visible_ms: *visible_ms,
                hover_ms: *hover_ms,
                hesitation_ms: *hesitation_ms,
            }),
            Payload::Replay {
                recording_id,
                started_at,
                ended_at,
                pages,
                events,
                bytes,
                clicks,
                errors,
            } => P::Replay(pb::Replay {
                recording_id: recording_id.clone(),
                started_at: *started_at,
                ended_at: *ended_at,
                pages: *pages,
                events: *events,
                bytes: *bytes,
                clicks: *clicks,
                errors: *errors,
            }),
            Payload::SurveyResponse {
                survey_id,
                question_id,
                kind,
                value,
                trigger,
            } => {
                use pb::survey_response::Value as V;
                P::SurveyResponse(pb::SurveyResponse {
                    survey_id: survey_id.clone(),
                    question_id: question_id.clone(),
                    kind: kind.as_str().to_string(),
                    value: Some(match value {
                        Answer::Number(n) => V::Number(*n),
                        Answer::Text(t) => V::Text(t.clone()),
                        Answer::Choices(c) => V::Choices(pb::ChoiceList { items: c.clone() }),
                    }),
                    trigger: trigger.clone().unwrap_or_default(),
                })
            }
            Payload::SurveyShown { survey_id, trigger } => P::SurveyShown(pb::SurveyShown {
                survey_id: survey_id.clone(),
                trigger: trigger.clone().unwrap_or_default(),
            }),
            Payload::SurveyDismissed {
                survey_id,
                question_id,
                trigger,
            } => P::SurveyDismissed(pb::SurveyDismissed {
                survey_id: survey_id.clone(),
                question_id: question_id.clone().unwrap_or_default(),
                trigger: trigger.clone().unwrap_or_default(),
            }),
            Payload::Feedback {
                rating,
                comment,
                category,
                selector,
            } => P::Feedback(pb::Feedback {
                rating: rating.map(u32::from),
                comment: comment.clone().unwrap_or_default(),
                category: category.clone().unwrap_or_default(),
                selector: selector.clone().unwrap_or_default(),
            }),
            Payload::Custom { name, props_json } => P::Custom(pb::Custom {
                name: name.clone(),
                props_json: props_json.clone(),
            }),
            Payload::ReplayChunk(c) => P::ReplayChunk(c.clone()),
        };
        pb::Record {
            id: self.id.clone(),
            site: self.site.clone(),
            ts: self.ts,
            client_ts: self.client_ts,
            received_at: self.received_at,
            skew_rule: self.skew_rule.clone(),
            session_id: self.session_id.clone(),
            visitor_id: self.visitor_id.clone(),
            url: self.url.clone(),
            page_key: self.page_key.clone(),
            viewport: vp(self.viewport),
            seq: self.seq,
            pageview_id: self.pageview_id.clone().unwrap_or_default(),
            device: self.device.as_str().to_string(),
            bot_reason: self.bot_reason.clone().unwrap_or_default(),
            request_id: self.request_id.clone(),
            browser: c.map(|c| c.browser.clone()).unwrap_or_default(),
            browser_version: c.map(|c| c.browser_version.clone()).unwrap_or_default(),
            os: c.map(|c| c.os.clone()).unwrap_or_default(),
            os_version: c.map(|c| c.os_version.clone()).unwrap_or_default(),
            language: c.map(|c| c.language.clone()).unwrap_or_default(),
            payload: Some(payload),
        }
    }

    /// Decode a log record. Errors name what is missing or unknown.
    pub fn from_record(r: pb::Record) -> anyhow::Result<Event> {
        use pb::record::Payload as P;
        let none_if_empty = |s: String| if s.is_empty() { None } else { Some(s) };
        let vp = |v: Option<pb::Viewport>| v.map(|v| Viewport { w: v.w, h: v.h });
        let mut source = None;
        let payload = match r
            .payload
            .ok_or_else(|| anyhow::anyhow!("record {} has no payload", r.id))?
        {
            P::Pageview(p) => {
                if p.has_source {
                    source = Some(Box::new(crate::event::segment::Source {
                        channel: crate::event::segment::Channel::parse(&p.channel).unwrap_or_default(),
                        referrer_host: p.referrer_host,
                        utm_source: p.utm_source,
                        utm_medium: p.utm_medium,
                        utm_campaign: p.utm_campaign,
                    }));
                }
                Payload::Pageview {
                    referrer: none_if_empty(p.referrer),
                    title: none_if_empty(p.title),
                    screen: vp(p.screen),
                    layout: none_if_empty(p.layout),
                }
            }
            P::Click(c) => Payload::Click {
                x: c.x,
                y: c.y,
                selector: c.selector,
                el: c.el_x.zip(c.el_y),
                tag: none_if_empty(c.tag),
                zone: none_if_empty(c.zone),
                reaction_ms: c.reaction_ms,
                keyboard: c.keyboard,
                modifier: c.modifier,
                navigates: c.navigates,
                input_type: none_if_empty(c.input_type),
                tracker: none_if_empty(c.tracker),
                text: none_if_empty(c.text),
            },
            P::Scroll(s) => Payload::Scroll {
                depth: s.depth,
                doc_h: s.doc_h,
            },
            P::Zone(z) => Payload::Zone {
                zone: z.zone,
                visible_ms: z.visible_ms,
                hover_ms: z.hover_ms,
                hesitation_ms: z.hesitation_ms,
            },
            P::Replay(p) => Payload::Replay {
                recording_id: p.recording_id,
                started_at: p.started_at,
                ended_at: p.ended_at,
                pages: p.pages,
                events: p.events,
                bytes: p.bytes,
                clicks: p.clicks,
                errors: p.errors,
            },
            P::SurveyResponse(s) => {
                use pb::survey_response::Value as V;
                Payload::SurveyResponse {
                    kind: SurveyKind::parse(&s.kind)
                        .ok_or_else(|| anyhow::anyhow!("record {}: unknown survey kind {:?}", r.id, s.kind))?,
                    value: match s.value {
                        Some(V::Number(n)) => Answer::Number(n),
                        Some(V::Text(t)) => Answer::Text(t),
                        Some(V::Choices(c)) => Answer::Choices(c.items),
                        None => anyhow::bail!("record {}: survey response without value", r.id),
                    },
                    survey_id: s.survey_id,
                    question_id: s.question_id,
                    trigger: none_if_empty(s.trigger),
                }
            }
            P::SurveyShown(s) => Payload::SurveyShown {
                survey_id: s.survey_id,
                trigger: none_if_empty(s.trigger),
            },
            P::SurveyDismissed(s) => Payload::SurveyDismissed {
                survey_id: s.survey_id,
                question_id: none_if_empty(s.question_id),
                trigger: none_if_empty(s.trigger),
            },
            P::Feedback(f) => Payload::Feedback {
                rating: f.rating.map(|r| r.min(255) as u8),
                comment: none_if_empty(f.comment),
                category: none_if_empty(f.category),
                selector: none_if_empty(f.selector),
            },
            P::Custom(c) => Payload::Custom {
                name: c.name,
                props_json: c.props_json,
            },
            P::ReplayChunk(c) => Payload::ReplayChunk(c),
        };
        let known = [&r.browser, &r.browser_version, &r.os, &r.os_version, &r.language];
        let client = known.iter().any(|s| !s.is_empty()).then(|| {
            std::sync::Arc::new(crate::event::segment::Client {
                browser: r.browser.clone(),
                browser_version: r.browser_version.clone(),
                os: r.os.clone(),
                os_version: r.os_version.clone(),
                language: r.language.clone(),
            })
        });
        Ok(Event {
            client,
            source,
            device: DeviceClass::parse(&r.device).unwrap_or(DeviceClass::Unknown),
            id: r.id,
            site: r.site,
            ts: r.ts,
            client_ts: r.client_ts,
            received_at: r.received_at,
            skew_rule: r.skew_rule,
            session_id: r.session_id,
            visitor_id: r.visitor_id,
            url: r.url,
            page_key: r.page_key,
            viewport: vp(r.viewport),
            seq: r.seq,
            pageview_id: none_if_empty(r.pageview_id),
            bot_reason: none_if_empty(r.bot_reason),
            request_id: r.request_id,
            payload,
        })
    }

    /// Protobuf bytes of [`Event::to_record`].
    pub fn encode(&self) -> Vec<u8> {
        use prost::Message;
        self.to_record().encode_to_vec()
    }

    /// Decode protobuf bytes written by [`Event::encode`].
    pub fn decode(bytes: &[u8]) -> anyhow::Result<Event> {
        use prost::Message;
        Event::from_record(pb::Record::decode(bytes)?)
    }
}
