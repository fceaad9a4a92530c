//! The session rows of a funnel, cut by the server (`funnel_sessions`): only the sessions
//! that reached the funnel's first step are sent, each with only the steps the funnel looks
//! at, so a funnel over a day does not send every session's whole timeline.

use super::rows::*;
use super::sql::name;
use super::*;
use crate::model::goal::{funnel_names, FunnelStep};
use crate::model::rows::SessionRow;
use crate::warehouse::RollupQuery;

impl ClickHouseWarehouse {
    /// [`crate::warehouse::Warehouse::funnel_sessions`]: the live rows of the range (and of
    /// its segment) that `crate::model::goal::funnel_part` keeps, cut as it cuts them
    /// (`tests/clickhouse_warehouse.rs` checks both against each other).
    pub(super) async fn funnel_sessions_by_sql(
        &self,
        q: &RollupQuery,
        steps: &[FunnelStep],
    ) -> anyhow::Result<Vec<SessionRow>> {
        let Some(first) = steps.first() else {
            return Ok(Vec::new());
        };
        let (pages, events) = funnel_names(steps);
        let (first_custom, first_name) = match first {
            FunnelStep::Page(p) => (0u8, p.as_str()),
            FunnelStep::Event(e) => (1u8, e.as_str()),
        };
        let query = self
            .client
            .query(&sql::segmented(name::FUNNEL_SESSIONS, &q.segment))
            .bind(pages)
            .bind(events);
        let query = bind_days(query, &q.site, (q.from_day, q.to_day), &q.segment)
            .bind(first_custom)
            .bind(first_name);
        Ok(self
            .fetch::<SessionsCh>(name::FUNNEL_SESSIONS, query)
            .await?
            .into_iter()
            .map(session_row)
            .collect())
    }
}
