//! `/journeys` by SQL: the server sums the day totals of `rollup_journeys` over the range
//! and picks the most frequent transitions and paths (a top-N), so a day of half a million
//! distinct paths is not sent to be ranked here.

use super::rows::*;
use super::sql::name;
use super::*;
use crate::model::journeys::{PageSums, RankedJourneys};
use crate::model::rows::JourneyKind;
use crate::warehouse::JourneysQuery;

impl ClickHouseWarehouse {
    /// [`crate::warehouse::Warehouse::journeys`] for a query without a segment filter: the
    /// answer of [`crate::model::journeys::Journeys::ranked`] over the range's rows
    /// (`tests/journeys.rs` checks the order and the cut), from four small reads of the day
    /// totals: entry and exit pages, the distinct transitions and paths, and the first
    /// transitions and paths (`journey_top`).
    pub(super) async fn journeys_by_sql(&self, q: &JourneysQuery) -> anyhow::Result<RankedJourneys> {
        debug_assert!(q.range.segment.is_empty(), "the day totals carry no session");
        let (r, device) = (&q.range, q.range.device_name());
        let filtered = |op: &'static str, kind: Option<JourneyKind>| {
            let query = self
                .client
                .query(sql::sql(op))
                .bind(r.site.as_str())
                .bind(r.from_day)
                .bind(r.to_day);
            let query = match kind {
                Some(k) => query.bind(k.code()),
                None => query,
            };
            query.bind(u8::from(r.bots)).bind(device).bind(device)
        };
        let top = |kind: JourneyKind| {
            self.fetch::<JourneyTopCh>(
                name::JOURNEY_TOP,
                filtered(name::JOURNEY_TOP, Some(kind)).bind(q.limit as u64),
            )
        };
        let (ends, totals, transitions, paths) = tokio::try_join!(
            self.fetch::<JourneyEndCh>(name::JOURNEY_ENDS, filtered(name::JOURNEY_ENDS, None)),
            self.fetch::<JourneyKeysCh>(name::JOURNEY_TOTALS, filtered(name::JOURNEY_TOTALS, None)),
            top(JourneyKind::Transition),
            top(JourneyKind::Path),
        )?;
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        let (entries, exits): (Vec<JourneyEndCh>, Vec<JourneyEndCh>) =
            ends.into_iter().partition(|e| e.kind == JourneyKind::Entry.code());
        let sums = |v: Vec<JourneyEndCh>| {
            v.into_iter()
                .map(|e| -> PageSums { (e.page, n(e.sessions), n(e.bounces)) })
        };
        let keys = |kind: JourneyKind| {
            totals
                .iter()
                .find(|t| t.kind == kind.code())
                .map_or(0, |t| t.keys as usize)
        };
        Ok(RankedJourneys::of_ranked_sums(
            sums(entries),
            sums(exits),
            (keys(JourneyKind::Transition), keys(JourneyKind::Path)),
            transitions
                .into_iter()
                .map(|t| (t.from_page, t.to_page, n(t.count)))
                .collect(),
            paths.into_iter().map(|p| (p.from_page, n(p.count))),
        ))
    }
}
