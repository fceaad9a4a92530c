//! The survey answers `/voc` needs (analytics.md, "Voice of customer"; docs/api.md): how
//! many answers each question got per day ([`AnswerCount`]), and the text answers
//! themselves (for their top terms, their `q=` search and the recent list). Numbers and
//! choices are summed from the `surveys` part, so their rows are not needed one by one. A
//! store gives an [`AnswerSummary`] for an [`AnswersQuery`]; [`AnswerSummary::of_rows`] is
//! the definition, over the range's answer rows.

use super::range::ReportRange;
use super::rows::AnswerRow;
use crate::event::SurveyKind;
use std::collections::BTreeMap;

/// The answers of a range's sessions, to one survey or all.
#[derive(Debug, Clone)]
pub struct AnswersQuery {
    pub range: ReportRange,
    /// Only answers to this survey.
    pub survey: Option<String>,
}

impl AnswersQuery {
    /// Whether `r` is one of the query's answers (device, bots, survey; the range and the
    /// segment are the store's read).
    pub fn keeps(&self, r: &AnswerRow) -> bool {
        self.range.passes(&r.dims) && self.survey.as_ref().is_none_or(|s| &r.survey_id == s)
    }
}

/// The answers to one question of one kind on one day (one per session that answered: a
/// multi-choice answer is one, however many options it chose).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerCount {
    /// The day start (ms) of the answering session's start.
    pub day: i64,
    pub survey_id: String,
    pub question_id: String,
    pub kind: SurveyKind,
    pub answers: u64,
}

/// The answers of an [`AnswersQuery`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnswerSummary {
    /// Per (day, survey, question, kind), in that order.
    pub counts: Vec<AnswerCount>,
    /// Every text answer (kind `text`), newest first (ties by id).
    pub texts: Vec<AnswerRow>,
}

impl AnswerSummary {
    /// The summary of the range's answer rows `rows` (already of the query's range and
    /// segment; the device, bot and survey filters are applied here).
    pub fn of_rows(rows: Vec<AnswerRow>, q: &AnswersQuery) -> Self {
        let mut counts: BTreeMap<(i64, String, String, SurveyKind), u64> = BTreeMap::new();
        let mut texts = Vec::new();
        for r in rows.into_iter().filter(|r| q.keeps(r)) {
            *counts
                .entry((r.dims.day, r.survey_id.clone(), r.question_id.clone(), r.kind))
                .or_default() += 1;
            if r.kind == SurveyKind::Text {
                texts.push(r);
            }
        }
        texts.sort_by(|a, b| b.ts.cmp(&a.ts).then_with(|| a.id.cmp(&b.id)));
        Self {
            counts: counts
                .into_iter()
                .map(|((day, survey_id, question_id, kind), answers)| AnswerCount {
                    day,
                    survey_id,
                    question_id,
                    kind,
                    answers,
                })
                .collect(),
            texts,
        }
    }

    /// Put `counts` in their order (a store that reads them unordered).
    pub fn sort_counts(&mut self) {
        self.counts.sort_by(|a, b| {
            (a.day, &a.survey_id, &a.question_id, a.kind).cmp(&(b.day, &b.survey_id, &b.question_id, b.kind))
        });
    }
}
