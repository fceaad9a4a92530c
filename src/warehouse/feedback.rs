//! The feedback figures of `/voc` read from a store ([`FeedbackQuery`]): by default the
//! range's feedback rows are read and summed here ([`feedback_by_reading`]); a store may
//! group and pick them on its side instead (ClickHouse: `feedback_groups` and
//! `feedback_recent`), with the same answer.

use super::{Part, RollupQuery, Warehouse};
use crate::model::feedback::{FeedbackQuery, FeedbackSummary};

/// [`Warehouse::feedback`] by reading the range's feedback rows (of the segment) and
/// summing them with [`FeedbackSummary::of_rows`] on a blocking-pool thread.
pub async fn feedback_by_reading<W: Warehouse + ?Sized>(w: &W, q: &FeedbackQuery) -> anyhow::Result<FeedbackSummary> {
    let r = w
        .read_rollup(&RollupQuery {
            site: q.site.clone(),
            from_day: q.from_day,
            to_day: q.to_day,
            parts: vec![Part::Feedback],
            page: None,
            segment: q.segment.clone(),
        })
        .await?;
    let q = q.clone();
    Ok(tokio::task::spawn_blocking(move || FeedbackSummary::of_rows(r.feedback, &q)).await?)
}
