//! The journeys report read from a store ([`JourneysQuery`]): by default the range's
//! journey rows are summed and ranked in Rust ([`journeys_by_reading`]); a store may rank
//! on its side instead (ClickHouse: a top-N over the day totals), with the same answer.

use super::{Part, RollupQuery, Warehouse};
use crate::model::journeys::{Journeys, RankedJourneys};
use crate::model::range::ReportRange;

/// `GET /v1/sites/{key}/journeys` without an entry page: the journeys of a range's sessions,
/// ranked with at most `limit` transitions and paths ([`Journeys::ranked`]).
#[derive(Debug, Clone)]
pub struct JourneysQuery {
    pub range: ReportRange,
    /// Most transitions and most paths in the answer.
    pub limit: usize,
}

/// [`Warehouse::journeys`] by reading the range's journey rows, keeping those that pass the
/// query's filters, and summing and ranking them ([`Journeys::of_rows`],
/// [`Journeys::ranked`]) on a blocking-pool thread.
pub async fn journeys_by_reading<W: Warehouse + ?Sized>(w: &W, q: &JourneysQuery) -> anyhow::Result<RankedJourneys> {
    let r = w
        .read_rollup(&RollupQuery::of_range(&q.range, vec![Part::Journeys]))
        .await?;
    let q = q.clone();
    Ok(tokio::task::spawn_blocking(move || {
        Journeys::of_rows(r.journeys.iter().filter(|j| q.range.passes(&j.dims))).ranked(q.limit)
    })
    .await?)
}
