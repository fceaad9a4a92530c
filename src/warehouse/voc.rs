//! The answers and the feedback figures of `/voc` read from a store ([`AnswersQuery`],
//! [`FeedbackQuery`]): by default the range's rows are read and summed here
//! ([`answers_by_reading`], [`feedback_by_reading`]); a store may count, group and pick them
//! on its side instead (ClickHouse: `answer_counts`, `answer_texts`, `feedback_groups`,
//! `feedback_recent`), with the same answer.

use super::{Part, RollupQuery, Warehouse};
use crate::model::answers::{AnswerSummary, AnswersQuery};
use crate::model::feedback::{FeedbackQuery, FeedbackSummary, VocCounts};

/// [`Warehouse::feedback`] by reading the range's feedback rows (of the segment) and
/// summing them with [`FeedbackSummary::of_rows`] on a blocking-pool thread.
pub async fn feedback_by_reading<W: Warehouse + ?Sized>(w: &W, q: &FeedbackQuery) -> anyhow::Result<FeedbackSummary> {
    let r = w
        .read_rollup(&RollupQuery::of_range(&q.range, vec![Part::Feedback]))
        .await?;
    let q = q.clone();
    Ok(tokio::task::spawn_blocking(move || FeedbackSummary::of_rows(r.feedback, &q)).await?)
}

/// [`Warehouse::answers`] by reading the range's answer rows (of the segment) and counting
/// them with [`AnswerSummary::of_rows`] on a blocking-pool thread.
pub async fn answers_by_reading<W: Warehouse + ?Sized>(w: &W, q: &AnswersQuery) -> anyhow::Result<AnswerSummary> {
    let r = w
        .read_rollup(&RollupQuery::of_range(&q.range, vec![Part::Answers]))
        .await?;
    let q = q.clone();
    Ok(tokio::task::spawn_blocking(move || AnswerSummary::of_rows(r.answers, &q)).await?)
}

/// [`Warehouse::voc_counts`] by reading the range's answer and feedback rows and counting
/// them with [`VocCounts::of_rows`].
pub async fn voc_counts_by_reading<W: Warehouse + ?Sized>(w: &W, q: &RollupQuery) -> anyhow::Result<VocCounts> {
    let q = RollupQuery {
        parts: vec![Part::Answers, Part::Feedback],
        ..q.clone()
    };
    let r = w.read_rollup(&q).await?;
    Ok(VocCounts::of_rows(&r.answers, &r.feedback))
}
