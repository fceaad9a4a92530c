//! The answers and the feedback figures of `/voc` by SQL: the server counts the range's
//! live answers per question and day and sends only the text answers, groups the live
//! feedback by (day, page, selector, category) and picks the newest items of the list (a
//! top-N), so a day of answers and feedback is not sent to be summed here.

use super::rows::*;
use super::sql::name;
use super::*;
use crate::event::NEGATIVE_RATING_MAX;
use crate::model::answers::{AnswerCount, AnswerSummary, AnswersQuery};
use crate::model::feedback::{FeedbackGroup, FeedbackQuery, FeedbackStats, FeedbackSummary};
use crate::model::range::ReportRange;

impl ClickHouseWarehouse {
    /// [`crate::warehouse::Warehouse::feedback`] for a query without a text filter (the
    /// definition lower-cases text as Rust does, which SQL cannot promise): the answer of
    /// [`FeedbackSummary::of_rows`] (`tests/clickhouse_warehouse.rs` checks both against
    /// each other) from two reads run at once.
    pub(super) async fn feedback_by_sql(&self, q: &FeedbackQuery) -> anyhow::Result<FeedbackSummary> {
        debug_assert!(q.text.is_none(), "text is matched as Rust lower-cases it");
        let groups = bind_range(
            self.client
                .query(&sql::segmented(name::FEEDBACK_GROUPS, &q.range.segment))
                .bind(NEGATIVE_RATING_MAX),
            &q.range,
        );
        let (lo, hi) = q.rating.unwrap_or((0, 0));
        let category = q.category.as_deref().unwrap_or("");
        let recent = bind_range(
            self.client
                .query(&sql::segmented(name::FEEDBACK_RECENT, &q.range.segment)),
            &q.range,
        )
        .bind(u8::from(q.page.is_some()))
        .bind(q.page.as_deref().unwrap_or(""))
        .bind(u8::from(q.category.is_some()))
        .bind(category)
        .bind(u8::from(q.rating.is_some()))
        .bind(lo)
        .bind(hi)
        .bind(q.limit as u64);
        let (groups, recent) = tokio::try_join!(
            self.fetch::<FeedbackGroupCh>(name::FEEDBACK_GROUPS, groups),
            self.fetch::<FeedbackCh>(name::FEEDBACK_RECENT, recent),
        )?;
        Ok(FeedbackSummary {
            groups: groups
                .into_iter()
                .map(|g| FeedbackGroup {
                    day: g.day,
                    page: g.page,
                    selector: g.selector,
                    category: g.category,
                    stats: FeedbackStats {
                        count: g.count,
                        rated: g.rated,
                        rating_sum: g.rating_sum,
                        negative: g.negative,
                    },
                })
                .collect(),
            recent: recent.into_iter().map(feedback_row).collect(),
        })
    }

    /// [`crate::warehouse::Warehouse::answers`]: the answer of [`AnswerSummary::of_rows`]
    /// (`tests/clickhouse_warehouse.rs` checks both against each other) from two reads run
    /// at once.
    pub(super) async fn answers_by_sql(&self, q: &AnswersQuery) -> anyhow::Result<AnswerSummary> {
        let survey = q.survey.as_deref().unwrap_or("");
        let read = |op: &'static str| {
            let query = self.client.query(&sql::segmented(op, &q.range.segment));
            bind_range(query, &q.range)
                .bind(u8::from(q.survey.is_some()))
                .bind(survey)
        };
        let (counts, texts) = tokio::try_join!(
            self.fetch::<AnswerCountCh>(name::ANSWER_COUNTS, read(name::ANSWER_COUNTS)),
            self.fetch::<AnswersCh>(name::ANSWER_TEXTS, read(name::ANSWER_TEXTS)),
        )?;
        let mut out = AnswerSummary {
            counts: counts
                .into_iter()
                .map(|c| {
                    Ok(AnswerCount {
                        day: c.day,
                        kind: survey_kind(&c.kind)?,
                        survey_id: c.survey_id,
                        question_id: c.question_id,
                        answers: c.answers,
                    })
                })
                .collect::<anyhow::Result<_>>()?,
            texts: texts.into_iter().map(answer_row).collect::<anyhow::Result<_>>()?,
        };
        out.sort_counts();
        Ok(out)
    }
}

/// `query` (with any placeholders before the range's bound) with a report range's bound:
/// the site and days (then the segment's, when the statement is composed with
/// [`sql::segmented`]), bots (1: included), the device class twice ('' for all).
fn bind_range(query: clickhouse::query::Query, r: &ReportRange) -> clickhouse::query::Query {
    bind_days(query, &r.site, (r.from_day, r.to_day), &r.segment)
        .bind(u8::from(r.bots))
        .bind(r.device_name())
        .bind(r.device_name())
}
