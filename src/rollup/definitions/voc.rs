//! Voice of customer: survey summaries (NPS, CSAT, mean) and the top terms of text answers.

use super::*;

/// A survey number as text: `9`, `4.5` (no trailing `.0`; `-0` written `0`).
pub(super) fn format_number(n: f64) -> String {
    format!("{}", n + 0.0)
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

/// Round to one decimal, writing −0 as 0.
fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0 + 0.0
}

/// `x` to 2 decimals: a mean of 6.333… reads 6.33.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0 + 0.0
}

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
