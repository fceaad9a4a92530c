//! Voice-of-customer settings of a site: survey definitions and the feedback button
//! (analytics.md, "Voice of customer"), their validation, the part of them served to the
//! snippet in `GET /v1/sites/{key}/config`. The admin endpoints and the CLI that change them
//! are [`crate::http::survey`].
//!
//! A survey is stored in `SiteSettings::surveys`; the feedback button in
//! `SiteSettings::feedback`. Both can be changed three ways, all through
//! [`crate::http::update_site`] (so every change is validated the same way):
//! - `PUT|GET|DELETE /v1/sites/{key}/surveys/{id}` and `GET /v1/sites/{key}/surveys` (bearer token);
//! - `PATCH /v1/sites/{key}` with `{"settings": {"feedback": {...}}}` (merge patch);
//! - `sightline survey apply FILE --site KEY` (JSON file: one survey, a list of surveys, or
//!   `{"surveys": [...], "feedback": {...}}`; surveys are upserted by id).
//!
//! Example survey (JSON):
//! ```json
//! {"id": "exit-nps", "title": "Before you go",
//!  "questions": [{"id": "q1", "kind": "nps", "text": "How likely are you to recommend us?"},
//!                {"id": "q2", "kind": "choice", "text": "What brought you here?",
//!                 "options": ["Pricing", "Docs", "Other"], "multiple": true},
//!                {"id": "q3", "kind": "text", "text": "Anything else?"}],
//!  "targeting": {"pages": ["*/pricing*"], "devices": ["desktop", "mobile"]},
//!  "trigger": {"type": "exit_intent"}, "sampling": 0.5, "frequency": "visitor", "max_impressions": 3,
//!  "placement": {"type": "popup"}}
//! ```
//! Triggers: `exit_intent` (see [`ExitIntent`]), `time_on_page` (`ms` on the page),
//! `scroll_depth` (`percent` of the document height seen, as in the scroll map),
//! `custom_event` (`name` of a `sightline.track(name)` call) and `manual`
//! (`sightline.showSurvey(id)`).

use crate::event::{DeviceClass, SurveyKind, FEEDBACK_CATEGORIES};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Longest survey or question id (chars of `A-Z a-z 0-9 _ -`).
pub const MAX_SURVEY_ID_CHARS: usize = 64;
/// Longest question text or survey title (chars).
pub const MAX_PROMPT_CHARS: usize = 500;
/// Most questions in one survey.
pub const MAX_QUESTIONS: usize = 20;
/// Most options of a choice question.
pub const MAX_OPTIONS: usize = 20;
/// Most surveys per site.
pub const MAX_SURVEYS: usize = 50;

/// Exit-intent thresholds (analytics.md, "Exit intent"), served to the snippet so that the
/// widget and this documentation share one source:
/// - desktop: the pointer leaves the viewport through its top edge while moving up, after at
///   least `min_page_ms` on the page;
/// - mobile (device class mobile or tablet, or a coarse pointer): an upward scroll at
///   `scroll_px_per_s` or faster that ends near the top (within one viewport height of it),
///   or the tab turning visible again after at least `hidden_ms` hidden.
///
/// At most once per session per survey.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ExitIntent {
    /// ms on the page before the desktop rule may fire. 5000.
    pub min_page_ms: u64,
    /// ms hidden before returning to the tab counts (mobile). 5000.
    pub hidden_ms: u64,
    /// Upward scroll speed that counts (mobile), CSS px per second. 1000.
    pub scroll_px_per_s: u64,
}

/// The published exit-intent rule.
pub const EXIT_INTENT: ExitIntent = ExitIntent {
    min_page_ms: 5000,
    hidden_ms: 5000,
    scroll_px_per_s: 1000,
};

/// One question of a survey.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// Unique within the survey; the `question_id` of its `survey_response` events.
    pub id: String,
    /// nps (0–10), csat (1–5), rating (`min`..`max`), choice (`options`), text.
    pub kind: SurveyKind,
    /// What the visitor reads.
    pub text: String,
    /// Choice questions: the options, in display order (2..20).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// Choice questions: several options may be chosen (the answer is a list).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub multiple: bool,
    /// Rating questions: lowest and highest value (integers, at most 11 steps). Default 1..5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
}

/// Where a survey may show.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Targeting {
    /// Page patterns matched against the page key's host and path (lower-case host, path with
    /// numeric and UUID segments as `:id`, no query): `*` matches any run of characters, e.g.
    /// `*/pricing*`. Empty: every page.
    pub pages: Vec<String>,
    /// Device classes by viewport width (mobile < 768 px, tablet 768–1023 px, desktop ≥ 1024 px).
    /// Empty: every device.
    pub devices: Vec<DeviceClass>,
}

/// What opens a survey.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// The published exit-intent rule ([`EXIT_INTENT`]).
    ExitIntent,
    /// After `ms` on the page.
    TimeOnPage { ms: u64 },
    /// Once the deepest point seen reaches `percent` of the document height.
    ScrollDepth { percent: f64 },
    /// When the page calls `sightline.track(name)`.
    CustomEvent { name: String },
    /// Only when the page calls `sightline.showSurvey(id)`.
    Manual,
}

/// How often one visitor may see a survey (with [`Survey::max_impressions`], the cap on
/// impressions in all).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Frequency {
    /// Once per visitor (remembered in localStorage); with `max_impressions` N, up to N
    /// times per visitor, at most once per page view.
    #[default]
    Visitor,
    /// Once per session (remembered with the session id in localStorage); with
    /// `max_impressions` N, in at most N sessions.
    Session,
}

/// Most impressions `max_impressions` may allow.
pub const MAX_IMPRESSIONS: u32 = 1000;

/// Where a survey shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Placement {
    /// A dialog fixed at the bottom right of the viewport.
    #[default]
    Popup,
    /// Inside the first element matching `selector` (not shown when there is none).
    Inline { selector: String },
}

fn yes() -> bool {
    true
}
fn one() -> f64 {
    1.0
}

/// A survey definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Survey {
    /// `A-Z a-z 0-9 _ -`, unique per site; the `survey_id` of its responses.
    pub id: String,
    /// Disabled surveys are kept but not served to the snippet. Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Heading of the dialog (the first question's text when empty).
    #[serde(default)]
    pub title: String,
    pub questions: Vec<Question>,
    #[serde(default)]
    pub targeting: Targeting,
    pub trigger: Trigger,
    /// Share of visitors who may see it, 0..1 (decided per visitor and survey). Default 1.
    #[serde(default = "one")]
    pub sampling: f64,
    #[serde(default)]
    pub frequency: Frequency,
    /// Show it at most this many times per visitor (impressions counted in the visitor's
    /// localStorage, `sl_svn_<id>`), 1..1000; a visitor who answered its last question is
    /// not asked again. Unset: once per visitor (`frequency` visitor) or once per session
    /// without limit (`frequency` session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_impressions: Option<u32>,
    #[serde(default)]
    pub placement: Placement,
}

/// Side of the viewport the feedback tab sits on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    #[default]
    Right,
    Left,
}

/// The feedback button: a tab on the side of every page that opens a form with a rating
/// (1–5), a category, a comment (≤ 2000 characters) and, optionally, an element picked on
/// the page (its selector is sent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeedbackButton {
    /// Show the tab. Default false.
    pub enabled: bool,
    pub position: Side,
    /// Categories offered, a subset of bug, idea, praise, other. Default all four.
    pub categories: Vec<String>,
    /// Text of the tab. Default "Feedback".
    pub label: String,
    /// Offer "pick an element". Default true.
    pub pick_element: bool,
}

impl Default for FeedbackButton {
    fn default() -> Self {
        FeedbackButton {
            enabled: false,
            position: Side::Right,
            categories: FEEDBACK_CATEGORIES.iter().map(|c| c.to_string()).collect(),
            label: "Feedback".into(),
            pick_element: true,
        }
    }
}

/// A validation failure: the dotted field path and the reason.
pub type Invalid = (String, String);

fn bad(field: String, reason: impl Into<String>) -> Invalid {
    (field, reason.into())
}

fn check_id(field: String, id: &str) -> Result<(), Invalid> {
    if id.is_empty()
        || id.chars().count() > MAX_SURVEY_ID_CHARS
        || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(bad(
            field,
            format!("1..{MAX_SURVEY_ID_CHARS} characters of A-Z a-z 0-9 _ -"),
        ));
    }
    Ok(())
}

fn check_text(field: String, s: &str, required: bool) -> Result<(), Invalid> {
    if required && s.trim().is_empty() {
        return Err(bad(field, "must not be empty"));
    }
    if s.chars().count() > MAX_PROMPT_CHARS {
        return Err(bad(field, format!("longer than {MAX_PROMPT_CHARS} characters")));
    }
    Ok(())
}

impl Question {
    /// Validate; `at` prefixes the field names (`questions[0]`).
    pub fn validate(&self, at: &str) -> Result<(), Invalid> {
        check_id(format!("{at}.id"), &self.id)?;
        check_text(format!("{at}.text"), &self.text, true)?;
        let is_choice = self.kind == SurveyKind::Choice;
        if is_choice {
            if !(2..=MAX_OPTIONS).contains(&self.options.len()) {
                return Err(bad(
                    format!("{at}.options"),
                    format!("a choice question needs 2..{MAX_OPTIONS} options"),
                ));
            }
            let mut seen = BTreeSet::new();
            for (i, o) in self.options.iter().enumerate() {
                if o.trim().is_empty() || o.chars().count() > crate::event::validate::MAX_LABEL_CHARS {
                    return Err(bad(format!("{at}.options[{i}]"), "must be 1..256 characters"));
                }
                if !seen.insert(o) {
                    return Err(bad(format!("{at}.options[{i}]"), "duplicate option"));
                }
            }
        } else {
            if !self.options.is_empty() {
                return Err(bad(format!("{at}.options"), "only choice questions have options"));
            }
            if self.multiple {
                return Err(bad(
                    format!("{at}.multiple"),
                    "only choice questions allow several answers",
                ));
            }
        }
        if self.kind == SurveyKind::Rating {
            let (lo, hi) = self.scale();
            if lo >= hi || hi - lo > 10 {
                return Err(bad(
                    format!("{at}.max"),
                    "a rating scale needs min < max with at most 11 steps",
                ));
            }
        } else if self.min.is_some() || self.max.is_some() {
            return Err(bad(format!("{at}.min"), "only rating questions have a min and max"));
        }
        Ok(())
    }

    /// The numeric scale: nps 0..10, csat 1..5, rating `min`..`max` (default 1..5).
    pub fn scale(&self) -> (i64, i64) {
        match self.kind {
            SurveyKind::Nps => (0, 10),
            SurveyKind::Csat => (1, 5),
            _ => (self.min.unwrap_or(1), self.max.unwrap_or(5)),
        }
    }
}

impl Survey {
    /// Validate; `at` prefixes the field names (`settings.surveys[0]`, or "" for a bare survey).
    pub fn validate(&self, at: &str) -> Result<(), Invalid> {
        let f = |name: &str| {
            if at.is_empty() {
                name.to_string()
            } else {
                format!("{at}.{name}")
            }
        };
        check_id(f("id"), &self.id)?;
        check_text(f("title"), &self.title, false)?;
        if self.questions.is_empty() || self.questions.len() > MAX_QUESTIONS {
            return Err(bad(f("questions"), format!("give 1..{MAX_QUESTIONS} questions")));
        }
        let mut ids = BTreeSet::new();
        for (i, q) in self.questions.iter().enumerate() {
            q.validate(&f(&format!("questions[{i}]")))?;
            if !ids.insert(&q.id) {
                return Err(bad(f(&format!("questions[{i}].id")), "duplicate question id"));
            }
        }
        for (i, p) in self.targeting.pages.iter().enumerate() {
            if p.trim().is_empty() || p.chars().count() > crate::event::validate::MAX_LABEL_CHARS {
                return Err(bad(f(&format!("targeting.pages[{i}]")), "must be 1..256 characters"));
            }
        }
        if self.targeting.devices.contains(&DeviceClass::Unknown) {
            return Err(bad(f("targeting.devices"), "must be desktop, tablet or mobile"));
        }
        match &self.trigger {
            Trigger::TimeOnPage { ms } if *ms > 86_400_000 => {
                return Err(bad(f("trigger.ms"), "must be 0..86400000 (ms on the page)"))
            }
            Trigger::ScrollDepth { percent } if !(0.0..=100.0).contains(percent) => {
                return Err(bad(
                    f("trigger.percent"),
                    "must be 0..100 (percent of the document height)",
                ))
            }
            Trigger::CustomEvent { name } if name.is_empty() || name.chars().count() > 256 => {
                return Err(bad(
                    f("trigger.name"),
                    "must be 1..256 characters (a sightline.track name)",
                ))
            }
            _ => {}
        }
        if !(0.0..=1.0).contains(&self.sampling) {
            return Err(bad(f("sampling"), "must be a share of visitors, 0..1"));
        }
        if self
            .max_impressions
            .is_some_and(|n| !(1..=MAX_IMPRESSIONS).contains(&n))
        {
            return Err(bad(
                f("max_impressions"),
                format!("must be 1..{MAX_IMPRESSIONS} (impressions per visitor)"),
            ));
        }
        if let Placement::Inline { selector } = &self.placement {
            if selector.trim().is_empty() || selector.chars().count() > crate::event::validate::MAX_SELECTOR_CHARS {
                return Err(bad(
                    f("placement.selector"),
                    "must be a CSS selector of 1..1024 characters",
                ));
            }
        }
        Ok(())
    }
}

impl FeedbackButton {
    /// Validate; `at` prefixes the field names.
    pub fn validate(&self, at: &str) -> Result<(), Invalid> {
        if self.categories.is_empty() {
            return Err(bad(format!("{at}.categories"), "give at least one category"));
        }
        let mut seen = BTreeSet::new();
        for (i, c) in self.categories.iter().enumerate() {
            if !FEEDBACK_CATEGORIES.contains(&c.as_str()) {
                return Err(bad(
                    format!("{at}.categories[{i}]"),
                    format!("must be one of {}", FEEDBACK_CATEGORIES.join(", ")),
                ));
            }
            if !seen.insert(c) {
                return Err(bad(format!("{at}.categories[{i}]"), "duplicate category"));
            }
        }
        if self.label.trim().is_empty() || self.label.chars().count() > 64 {
            return Err(bad(format!("{at}.label"), "must be 1..64 characters"));
        }
        Ok(())
    }
}

/// Validate a site's surveys and feedback button (field names under `settings.`).
pub fn validate_settings(surveys: &[Survey], feedback: &FeedbackButton) -> Result<(), Invalid> {
    if surveys.len() > MAX_SURVEYS {
        return Err(bad(
            "settings.surveys".into(),
            format!("at most {MAX_SURVEYS} surveys per site"),
        ));
    }
    let mut ids = BTreeSet::new();
    for (i, s) in surveys.iter().enumerate() {
        s.validate(&format!("settings.surveys[{i}]"))?;
        if !ids.insert(&s.id) {
            return Err(bad(format!("settings.surveys[{i}].id"), "duplicate survey id"));
        }
    }
    feedback.validate("settings.feedback")
}

/// The voice-of-customer part of `GET /v1/sites/{key}/config`: enabled surveys (without the
/// `enabled` flag), the feedback button when enabled (else `null`), and the exit-intent
/// thresholds.
pub fn public_config(surveys: &[Survey], fb: &FeedbackButton) -> serde_json::Value {
    let surveys: Vec<serde_json::Value> = surveys
        .iter()
        .filter(|s| s.enabled)
        .map(|s| {
            let mut v = serde_json::to_value(s).expect("survey to JSON");
            v.as_object_mut().expect("object").remove("enabled");
            v
        })
        .collect();
    serde_json::json!({
        "surveys": surveys,
        "feedback": if fb.enabled { serde_json::to_value(fb).expect("feedback to JSON") } else { serde_json::Value::Null },
        "exit_intent": EXIT_INTENT,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn survey(v: serde_json::Value) -> Result<Survey, (String, String)> {
        let s: Survey = serde_json::from_value(v).map_err(|e| ("serde".to_string(), e.to_string()))?;
        s.validate("")?;
        Ok(s)
    }

    #[test]
    fn a_full_survey_parses_with_defaults() {
        let s = survey(serde_json::json!({
            "id": "exit-nps", "questions": [{"id": "q1", "kind": "nps", "text": "Recommend us?"}],
            "trigger": {"type": "exit_intent"}
        }))
        .unwrap();
        assert!(s.enabled);
        assert_eq!(s.sampling, 1.0);
        assert_eq!(s.frequency, Frequency::Visitor);
        assert_eq!(s.placement, Placement::Popup);
        assert_eq!(s.questions[0].scale(), (0, 10));
    }

    #[test]
    fn bad_definitions_name_the_field() {
        let base = serde_json::json!({"id": "s", "questions": [{"id": "q1", "kind": "choice", "text": "Pick", "options": ["a", "b"]}], "trigger": {"type": "manual"}});
        let with = |path: &str, v: serde_json::Value| {
            let mut b = base.clone();
            *b.pointer_mut(path).unwrap() = v;
            survey(b).unwrap_err().0
        };
        assert_eq!(
            with("/questions/0/options", serde_json::json!(["a"])),
            "questions[0].options"
        );
        assert_eq!(
            with("/questions/0/options", serde_json::json!(["a", "a"])),
            "questions[0].options[1]"
        );
        assert_eq!(with("/id", serde_json::json!("no spaces")), "id");
        assert_eq!(
            with("/trigger", serde_json::json!({"type": "scroll_depth", "percent": 120})),
            "trigger.percent"
        );
        let mut b = base.clone();
        b["sampling"] = serde_json::json!(1.5);
        assert_eq!(survey(b).unwrap_err().0, "sampling");
        let mut b = base.clone();
        b["max_impressions"] = serde_json::json!(0);
        assert_eq!(survey(b.clone()).unwrap_err().0, "max_impressions");
        b["max_impressions"] = serde_json::json!(3);
        assert_eq!(survey(b).unwrap().max_impressions, Some(3));
        let fb = FeedbackButton {
            categories: vec!["bug".into(), "rant".into()],
            ..FeedbackButton::default()
        };
        assert_eq!(
            fb.validate("settings.feedback").unwrap_err().0,
            "settings.feedback.categories[1]"
        );
    }
}

/// Check a `survey_response` against the site's definition of its survey, if the site
/// defines one (answers to surveys run by the site's own code through
/// `sightline.survey(...)` have none and pass): the question must exist, the kind must be the
/// question's, a choice must be one of its options (one unless `multiple`), a rating within
/// `min..=max`. Returns the offending field and the reason.
pub fn check_answer(
    surveys: &[Survey],
    survey_id: &str,
    question_id: &str,
    kind: crate::event::SurveyKind,
    value: &crate::event::Answer,
) -> Result<(), (&'static str, String)> {
    use crate::event::Answer;
    check_question(surveys, survey_id, question_id)?;
    let Some(q) = surveys
        .iter()
        .find(|s| s.id == survey_id)
        .and_then(|s| s.questions.iter().find(|q| q.id == question_id))
    else {
        return Ok(());
    };
    if q.kind != kind {
        return Err((
            "kind",
            format!("question {question_id} of survey {survey_id} is {:?}", q.kind).to_lowercase(),
        ));
    }
    match (kind, value) {
        (crate::event::SurveyKind::Choice, Answer::Text(c)) if !q.options.contains(c) => {
            Err(("value", format!("{c:?} is not an option of question {question_id}")))
        }
        (crate::event::SurveyKind::Choice, Answer::Choices(cs)) => {
            if !q.multiple && cs.len() > 1 {
                return Err(("value", format!("question {question_id} takes one option")));
            }
            match cs.iter().find(|c| !q.options.contains(c)) {
                Some(c) => Err(("value", format!("{c:?} is not an option of question {question_id}"))),
                None => Ok(()),
            }
        }
        (crate::event::SurveyKind::Rating, Answer::Number(v)) => {
            let (lo, hi) = (q.min.unwrap_or(1) as f64, q.max.unwrap_or(5) as f64);
            if (lo..=hi).contains(v) {
                Ok(())
            } else {
                Err(("value", format!("question {question_id} is rated {lo}..{hi}")))
            }
        }
        _ => Ok(()),
    }
}

/// Check that `question_id` is a question of survey `survey_id` when the site defines that
/// survey (a `survey_response` or the last question reached of a `survey_dismissed`).
pub fn check_question(surveys: &[Survey], survey_id: &str, question_id: &str) -> Result<(), (&'static str, String)> {
    match surveys.iter().find(|s| s.id == survey_id) {
        Some(s) if !s.questions.iter().any(|q| q.id == question_id) => Err((
            "question_id",
            format!("survey {survey_id} has no question {question_id}"),
        )),
        _ => Ok(()),
    }
}
