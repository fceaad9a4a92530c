//! The journeys report read from a store ([`JourneysQuery`]): by default the range's
//! journey rows are summed and ranked in Rust ([`journeys_by_reading`]); a store may rank
//! on its side instead (ClickHouse: a top-N over the day totals), with the same answer.

use super::{Part, RollupQuery, Warehouse};
use crate::event::DeviceClass;
use crate::model::journeys::{Journeys, RankedJourneys};
use crate::model::segment::SegmentFilter;

/// `GET /v1/sites/{key}/journeys` without an entry page: the journeys of the sessions that
/// started in days [from_day, to_day), of one device class or all, bots only when asked, in
/// `segment`, ranked with at most `limit` transitions and paths ([`Journeys::ranked`]).
#[derive(Debug, Clone)]
pub struct JourneysQuery {
    pub site: String,
    /// A day start of the site's time zone ([`crate::model::days`]), ms, inclusive.
    pub from_day: i64,
    /// A day start of the site's time zone, ms, exclusive.
    pub to_day: i64,
    /// Only sessions of this device class (`None`: every class).
    pub device: Option<DeviceClass>,
    /// Include bot-flagged sessions.
    pub bots: bool,
    /// Only sessions in this segment.
    pub segment: SegmentFilter,
    /// Most transitions and most paths in the answer.
    pub limit: usize,
}

/// [`Warehouse::journeys`] by reading the range's journey rows, keeping those that pass the
/// query's filters, and summing and ranking them ([`Journeys::of_rows`],
/// [`Journeys::ranked`]) on a blocking-pool thread.
pub async fn journeys_by_reading<W: Warehouse + ?Sized>(w: &W, q: &JourneysQuery) -> anyhow::Result<RankedJourneys> {
    let r = w
        .read_rollup(&RollupQuery {
            site: q.site.clone(),
            from_day: q.from_day,
            to_day: q.to_day,
            parts: vec![Part::Journeys],
            page: None,
            segment: q.segment.clone(),
        })
        .await?;
    let q = q.clone();
    Ok(tokio::task::spawn_blocking(move || {
        Journeys::of_rows(r.journeys.iter().filter(|j| j.dims.passes(q.bots, q.device))).ranked(q.limit)
    })
    .await?)
}
