//! The feedback figures of `/voc` (analytics.md, "Voice of customer"; docs/api.md): the
//! feedback of a range grouped by day, page, picked element and category
//! ([`FeedbackGroup`]), from which every count, mean rating and negative count of the
//! answer is summed, and the most recent items that pass the list's filters. A store gives
//! a [`FeedbackSummary`] for a [`FeedbackQuery`]; [`FeedbackSummary::of_rows`] is the
//! definition, over the range's feedback rows.

use super::range::ReportRange;
use super::rows::{AnswerRow, FeedbackRow};
use crate::event::NEGATIVE_RATING_MAX;
use std::collections::BTreeMap;

/// The feedback given on a range's days (its device class: the page view's it was given
/// on), in the range's sessions.
#[derive(Debug, Clone)]
pub struct FeedbackQuery {
    pub range: ReportRange,
    /// Only feedback whose comment contains this text, lower-cased (`str::to_lowercase`)
    /// on both sides: narrows the groups and the list alike.
    pub text: Option<String>,
    /// The recent list only: feedback on this page key.
    pub page: Option<String>,
    /// The recent list only: feedback of this category (lower case).
    pub category: Option<String>,
    /// The recent list only: feedback rated within this range (inclusive, 1..=5).
    pub rating: Option<(u8, u8)>,
    /// Most items in the recent list.
    pub limit: usize,
}

impl FeedbackQuery {
    /// Whether `r` belongs to the range's figures (device, bots, text; the range and the
    /// segment are the store's read).
    pub fn counts(&self, r: &FeedbackRow) -> bool {
        self.range.passes(&r.dims)
            && self
                .text
                .as_ref()
                .is_none_or(|t| r.comment.to_lowercase().contains(t.as_str()))
    }

    /// Whether a counted row also goes to the recent list (page, category, rating).
    pub fn lists(&self, r: &FeedbackRow) -> bool {
        self.page.as_ref().is_none_or(|p| &r.page == p)
            && self.category.as_ref().is_none_or(|c| &r.category == c)
            && self
                .rating
                .is_none_or(|(lo, hi)| r.rating.is_some_and(|x| (lo..=hi).contains(&x)))
    }
}

/// The feedback of one (day, page, element, category): `selector` and `category` are
/// empty when none was picked or given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedbackGroup {
    /// The day start (ms) the feedback was given on.
    pub day: i64,
    pub page: String,
    pub selector: String,
    pub category: String,
    pub stats: FeedbackStats,
}

/// Feedback items, summed over some of them or some groups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedbackStats {
    /// Feedback items.
    pub count: u64,
    /// Items with a rating.
    pub rated: u64,
    /// Sum of their ratings (1..=5 each).
    pub rating_sum: u64,
    /// Items rated at most [`NEGATIVE_RATING_MAX`].
    pub negative: u64,
}

impl FeedbackStats {
    /// The sums of `groups`.
    pub fn of<'a>(groups: impl IntoIterator<Item = &'a FeedbackGroup>) -> Self {
        groups.into_iter().fold(Self::default(), |s, g| Self {
            count: s.count + g.stats.count,
            rated: s.rated + g.stats.rated,
            rating_sum: s.rating_sum + g.stats.rating_sum,
            negative: s.negative + g.stats.negative,
        })
    }

    /// Count one more item, of this rating (if any).
    pub fn add(&mut self, rating: Option<u8>) {
        self.count += 1;
        if let Some(x) = rating {
            self.rated += 1;
            self.rating_sum += u64::from(x);
            self.negative += u64::from(x <= NEGATIVE_RATING_MAX);
        }
    }

    /// Mean rating of the rated items, two decimals; `None` without one.
    pub fn mean_rating(&self) -> Option<f64> {
        (self.rated > 0).then(|| super::rounding::round2(self.rating_sum as f64 / self.rated as f64))
    }

    /// Negative items as a % of the rated ones (0..100, one decimal); `None` without one.
    pub fn negative_rate(&self) -> Option<f64> {
        (self.rated > 0).then(|| (self.negative as f64 * 1000.0 / self.rated as f64).round() / 10.0)
    }
}

/// The feedback figures of a [`FeedbackQuery`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedbackSummary {
    /// Every (day, page, selector, category) with feedback, in that order.
    pub groups: Vec<FeedbackGroup>,
    /// The newest feedback that passes the list's filters, newest first (ties by id), at
    /// most `limit`.
    pub recent: Vec<FeedbackRow>,
}

impl FeedbackSummary {
    /// The summary of the range's feedback rows `rows` (already of the query's range and
    /// segment; the device, bot and text filters are applied here).
    pub fn of_rows(rows: Vec<FeedbackRow>, q: &FeedbackQuery) -> Self {
        let mut groups: BTreeMap<(i64, String, String, String), FeedbackStats> = BTreeMap::new();
        let mut recent = Vec::new();
        for r in rows.into_iter().filter(|r| q.counts(r)) {
            groups
                .entry((r.dims.day, r.page.clone(), r.selector.clone(), r.category.clone()))
                .or_default()
                .add(r.rating);
            if q.lists(&r) {
                recent.push(r);
            }
        }
        recent.sort_by(|a, b| b.ts.cmp(&a.ts).then_with(|| a.id.cmp(&b.id)));
        recent.truncate(q.limit);
        Self {
            groups: groups
                .into_iter()
                .map(|((day, page, selector, category), stats)| FeedbackGroup {
                    day,
                    page,
                    selector,
                    category,
                    stats,
                })
                .collect(),
            recent,
        }
    }
}

/// A range's survey answers and negative feedback (rated at most [`NEGATIVE_RATING_MAX`]),
/// bot sessions left out: the VoC figures of today's product signals
/// (`sightline_site_survey_responses`, `sightline_site_negative_feedback`). A store gives
/// them for a range ([`crate::warehouse::Warehouse::voc_counts`]); [`VocCounts::of_rows`] is
/// the definition, over the range's answer and feedback rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VocCounts {
    /// Answer rows: one per answered (survey, question) of a session, latest wins.
    pub answers: u64,
    /// Feedback submissions rated at most [`NEGATIVE_RATING_MAX`].
    pub negative_feedback: u64,
}

impl VocCounts {
    /// The counts of a range's answer and feedback rows.
    pub fn of_rows(answers: &[AnswerRow], feedback: &[FeedbackRow]) -> VocCounts {
        VocCounts {
            answers: answers.iter().filter(|a| !a.dims.bot).count() as u64,
            negative_feedback: feedback
                .iter()
                .filter(|f| !f.dims.bot && f.rating.is_some_and(|x| x <= NEGATIVE_RATING_MAX))
                .count() as u64,
        }
    }
}
