//! Voice of customer: survey summaries (NPS, CSAT, mean) and the top terms of text answers.

use super::*;

/// A survey number as text: `9`, `4.5` (no trailing `.0`; `-0` written `0`).
pub(super) fn format_number(n: f64) -> String {
    format!("{}", n + 0.0)
}

/// The survey reach of one server-side session (analytics.md, "Survey reach"): one
/// [`ReachRow`] (`sessions` = 1) per survey the session was shown (`survey_shown`), answered
/// (`survey_response`) or closed unfinished (`survey_dismissed`), sorted by survey id, with
/// the questions it answered and those it closed the survey on. A session that answered or
/// closed a survey without a `survey_shown` (an older snippet, a survey the page runs itself)
/// was shown it all the same: it counts as an impression.
pub fn reach_rows(events: &[&Event], dims: Dims) -> Vec<ReachRow> {
    #[derive(Default)]
    struct Seen<'a> {
        answered: BTreeSet<&'a str>,
        dismissed_at: BTreeSet<&'a str>,
        dismissed: bool,
    }
    let mut by_survey: BTreeMap<&str, Seen> = BTreeMap::new();
    for e in events {
        match &e.payload {
            Payload::SurveyShown { survey_id, .. } => {
                by_survey.entry(survey_id).or_default();
            }
            Payload::SurveyResponse {
                survey_id, question_id, ..
            } => {
                by_survey.entry(survey_id).or_default().answered.insert(question_id);
            }
            Payload::SurveyDismissed {
                survey_id, question_id, ..
            } => {
                let s = by_survey.entry(survey_id).or_default();
                s.dismissed = true;
                if let Some(q) = question_id {
                    s.dismissed_at.insert(q);
                }
            }
            _ => {}
        }
    }
    let join = |ids: &BTreeSet<&str>| {
        ids.iter()
            .copied()
            .collect::<Vec<_>>()
            .join(&crate::rollup::PATH_SEP.to_string())
    };
    by_survey
        .into_iter()
        .map(|(survey_id, s)| ReachRow {
            dims,
            survey_id: survey_id.to_string(),
            answered: join(&s.answered),
            dismissed_at: join(&s.dismissed_at),
            dismissed: s.dismissed,
            sessions: 1,
        })
        .collect()
}

/// Reach of one survey over a range (analytics.md, "Survey reach"; api.md `GET …/voc`,
/// `reach`), summed from its [`ReachRow`]s.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SurveyReach {
    /// Sessions shown the survey (or that answered or closed it).
    pub impressions: u64,
    /// Sessions that answered at least one question.
    pub responses: u64,
    /// Sessions that answered every question.
    pub completions: u64,
    /// Sessions that closed it unfinished at least once.
    pub dismissals: u64,
    /// `responses` / `impressions`, %, one decimal; `None` without impressions.
    pub response_rate: Option<f64>,
    /// `completions` / `impressions`, %, one decimal.
    pub completion_rate: Option<f64>,
    /// `dismissals` / `impressions`, %, one decimal.
    pub dismissal_rate: Option<f64>,
    /// Drop-off: every question in order.
    pub questions: Vec<QuestionReach>,
}

/// How far the sessions shown a survey got on one of its questions.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QuestionReach {
    pub question_id: String,
    /// Sessions that saw the question.
    pub reached: u64,
    /// Sessions that answered it.
    pub answered: u64,
    /// Sessions for which it was the last question reached, without answering it: the
    /// sessions that left the survey here.
    pub dropped: u64,
}

/// `x` / `of` as a percent to one decimal; `None` when `of` is 0.
pub fn percent(x: u64, of: u64) -> Option<f64> {
    (of > 0).then(|| round1(x as f64 * 100.0 / of as f64))
}

/// Sum one survey's reach rows (any days, devices, bots: the caller filters) against its
/// questions in order (`questions`: the definition's; empty for a survey the site does not
/// define).
///
/// - impressions, responses (answered ≥ 1 question), dismissals: sessions, summed.
/// - completions: sessions that answered every question of the definition (without one:
///   every question answered by any session of the range).
/// - the questions listed: the definition's in order, then any other question answered or
///   closed on, by id. A question of the definition is reached by a session whose furthest
///   question (the latest in definition order it answered or closed the survey on; the first
///   question when it did neither) is that one or a later one: questions show one at a time,
///   in order, so a later one was reached through it. Any other question is reached when
///   answered or closed on. `dropped`: sessions whose furthest question it is, unanswered.
pub fn survey_reach<'a>(rows: impl IntoIterator<Item = &'a ReachRow>, questions: &[String]) -> SurveyReach {
    let rows: Vec<&ReachRow> = rows.into_iter().collect();
    let mut order: Vec<&str> = questions.iter().map(String::as_str).collect();
    let defined = order.len();
    let mut extra: BTreeSet<&str> = BTreeSet::new();
    for r in &rows {
        for q in ReachRow::ids(&r.answered).chain(ReachRow::ids(&r.dismissed_at)) {
            if !order[..defined].contains(&q) {
                extra.insert(q);
            }
        }
    }
    order.extend(extra.iter().copied());
    let index = |q: &str| order.iter().position(|x| *x == q);
    let mut out = SurveyReach {
        impressions: 0,
        responses: 0,
        completions: 0,
        dismissals: 0,
        response_rate: None,
        completion_rate: None,
        dismissal_rate: None,
        questions: order
            .iter()
            .map(|q| QuestionReach {
                question_id: q.to_string(),
                reached: 0,
                answered: 0,
                dropped: 0,
            })
            .collect(),
    };
    // Without a definition, every question seen is one the survey has.
    let all: &[&str] = if defined > 0 { &order[..defined] } else { &order };
    for r in &rows {
        let n = r.sessions;
        let answered: BTreeSet<&str> = ReachRow::ids(&r.answered).collect();
        let closed_on: BTreeSet<&str> = ReachRow::ids(&r.dismissed_at).collect();
        out.impressions += n;
        out.responses += if answered.is_empty() { 0 } else { n };
        out.dismissals += if r.dismissed { n } else { 0 };
        if !all.is_empty() && all.iter().all(|q| answered.contains(q)) {
            out.completions += n;
        }
        // The furthest question of the definition this session got to.
        let furthest = answered
            .iter()
            .chain(&closed_on)
            .filter_map(|q| index(q).filter(|i| *i < defined))
            .max()
            .unwrap_or(0);
        for (i, q) in out.questions.iter_mut().enumerate() {
            let id = q.question_id.as_str();
            let reached = if i < defined {
                i <= furthest
            } else {
                answered.contains(id) || closed_on.contains(id)
            };
            if reached {
                q.reached += n;
            }
            if answered.contains(id) {
                q.answered += n;
            }
            let last = if i < defined {
                i == furthest
            } else {
                closed_on.contains(id)
            };
            if reached && last && !answered.contains(id) {
                q.dropped += n;
            }
        }
    }
    out.response_rate = percent(out.responses, out.impressions);
    out.completion_rate = percent(out.completions, out.impressions);
    out.dismissal_rate = percent(out.dismissals, out.impressions);
    out
}

/// Summary of one survey question (analytics.md, "Voice of customer"; api.md `GET …/voc`).
#[derive(Debug, Clone, PartialEq)]
pub struct SurveySummary {
    /// Sum of the counts (for a multi-choice question: options chosen).
    pub responses: u64,
    /// Count per answer value (the input counts).
    pub distribution: BTreeMap<String, u64>,
    /// Mean of the numeric answers, for nps, csat and rating; `None` without any.
    pub mean: Option<f64>,
    /// % promoters (9–10) − % detractors (0–6) of the numeric answers, rounded to 0.1;
    /// only for kind `nps` (never for other 0–10 scales).
    pub nps: Option<f64>,
    /// % of numeric answers that are 4 or 5, rounded to 0.1; only for kind `csat`.
    pub csat: Option<f64>,
}

pub use crate::model::rounding::{round1, round2};

/// Summarize the per-value counts of one question (as stored in [`SurveyRow`]s).
///
/// Numeric answers are the values that parse as finite numbers; they feed `mean` (kinds
/// nps, csat and rating only), `nps` (kind nps only: [10, 9, 8, 6, 0] → 40 − 40 = 0) and
/// `csat` (kind csat only: [5, 4, 3, 1] → 50). Each is `None` without numeric answers.
pub fn summarize_answers(kind: SurveyKind, counts: &BTreeMap<String, u64>) -> SurveySummary {
    let numeric: Vec<(f64, u64)> = counts
        .iter()
        .filter_map(|(v, &n)| v.trim().parse::<f64>().ok().filter(|x| x.is_finite()).map(|x| (x, n)))
        .collect();
    let numeric_n: u64 = numeric.iter().map(|&(_, n)| n).sum();
    let share = |pred: &dyn Fn(f64) -> bool| -> f64 {
        let hits: u64 = numeric.iter().filter(|&&(x, _)| pred(x)).map(|&(_, n)| n).sum();
        hits as f64 * 100.0 / numeric_n as f64
    };
    let has_numeric = numeric_n > 0;
    let numeric_kind = matches!(kind, SurveyKind::Nps | SurveyKind::Csat | SurveyKind::Rating);
    SurveySummary {
        responses: counts.values().sum(),
        distribution: counts.clone(),
        mean: (numeric_kind && has_numeric)
            .then(|| round2(numeric.iter().map(|&(x, n)| x * n as f64).sum::<f64>() / numeric_n as f64)),
        nps: (kind == SurveyKind::Nps && has_numeric).then(|| round1(share(&|x| x >= 9.0) - share(&|x| x <= 6.0))),
        csat: (kind == SurveyKind::Csat && has_numeric).then(|| round1(share(&|x| x >= 4.0))),
    }
}

/// Words left out of [`top_terms`]: English function words and the PII tokens of the
/// scrubber (`[email]`, `[card]`, `[phone]`).
const STOP_WORDS: &[&str] = &[
    "a", "about", "after", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be", "because", "been", "but",
    "by", "can", "could", "did", "do", "does", "dont", "for", "from", "get", "got", "had", "has", "have", "he", "her",
    "here", "him", "his", "how", "i", "if", "im", "in", "into", "is", "it", "its", "just", "me", "more", "my", "no",
    "not", "of", "on", "one", "or", "our", "out", "she", "so", "some", "than", "that", "the", "their", "them", "then",
    "there", "they", "this", "to", "too", "up", "us", "very", "was", "we", "were", "what", "when", "which", "who",
    "why", "will", "with", "would", "you", "your", "email", "card", "phone",
];

/// Top terms of free-text answers (analytics.md, "Text"): words are maximal runs of letters
/// and digits (Unicode), lower-cased, at least 2 characters, not all digits and not in
/// [`STOP_WORDS`]; a term counts once per answer it occurs in. Returns at most `n` terms by
/// that count, ties by term.
pub fn top_terms<'a>(texts: impl IntoIterator<Item = &'a str>, n: usize) -> Vec<(String, u64)> {
    let mut counts: HashMap<String, u64> = HashMap::new();
    for t in texts {
        let lower = t.to_lowercase();
        let words: HashSet<&str> = lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.chars().count() >= 2 && !w.chars().all(|c| c.is_ascii_digit()) && !STOP_WORDS.contains(w))
            .collect();
        for w in words {
            *counts.entry(w.to_string()).or_default() += 1;
        }
    }
    let mut v: Vec<(String, u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(n);
    v
}
