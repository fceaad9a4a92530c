//! The sessions list by SQL: the server counts the list and picks the page in one pass
//! (`listed_sessions`), and only the page's session and detail rows are read.

use super::rows::*;
use super::sql::name;
use super::*;
use crate::model::session_filter::Has;
use crate::warehouse::{SessionList, SessionsQuery};

impl ClickHouseWarehouse {
    /// [`crate::warehouse::Warehouse::list_sessions`] for a query without a page or element
    /// filter: the same answer as [`SessionsQuery::list_of_rows`] over the range's rows
    /// (`clickhouse_lists_sessions_by_sql_like_the_definition`), for one aggregation on the
    /// server and two small reads instead of every session and detail row of the range.
    pub(super) async fn list_sessions_by_sql(&self, q: &SessionsQuery) -> anyhow::Result<SessionList> {
        debug_assert!(q.filter.page.is_none() && q.filter.selector.is_none());
        let device = q.device.map_or("", |d| d.as_str());
        let has = |h: Has| u8::from(q.filter.has.contains(&h));
        let (before_start, before_key) = q.before.as_ref().map_or((0, ""), |(s, k)| (*s, k.as_str()));
        let mut query = self
            .client
            .query(sql::sql(name::LISTED_SESSIONS))
            .bind(u8::from(q.before.is_some()))
            .bind(before_start)
            .bind(before_start)
            .bind(before_key)
            .bind(q.limit as u64 + 1)
            .bind(q.site.as_str())
            .bind(q.from_day)
            .bind(q.to_day)
            .bind(device)
            .bind(device)
            .bind(u8::from(q.bots))
            .bind(has(Has::Feedback));
        for v in q.segment.values() {
            query = query.bind(v).bind(v);
        }
        let query = query
            .bind(q.site.as_str())
            .bind(q.from_day)
            .bind(q.to_day)
            .bind(has(Has::Rage))
            .bind(has(Has::Dead));
        let Some(listed) = self.fetch::<ListedCh>(name::LISTED_SESSIONS, query).await?.pop() else {
            anyhow::bail!("{}: no row", name::LISTED_SESSIONS);
        };
        let total = listed.total;
        let mut page: Vec<(i64, String, String)> = listed
            .page_day
            .into_iter()
            .zip(listed.page_session_id)
            .zip(listed.page_session_key)
            .map(|((day, id), key)| (day, id, key))
            .collect();
        let more = page.len() > q.limit;
        page.truncate(q.limit);
        if page.is_empty() {
            return Ok(SessionList {
                total: total as usize,
                sessions: Vec::new(),
                more,
            });
        }
        // The page's rows: its sessions' live rows over the days of the page.
        let ids: Vec<&str> = page.iter().map(|p| p.1.as_str()).collect();
        let days = (
            page.iter().map(|p| p.0).min().unwrap_or(q.from_day),
            page.iter().map(|p| p.0).max().unwrap_or(q.from_day) + 1,
        );
        let rows = |op: &'static str| {
            self.client
                .query(sql::sql(op))
                .bind(q.site.as_str())
                .bind(days.0)
                .bind(days.1)
                .bind(Tuple(&ids))
        };
        let mut sessions: std::collections::HashMap<(i64, String, String), SessionsCh> = self
            .fetch::<SessionsCh>(name::LIVE_SESSIONS, rows(name::LIVE_SESSIONS))
            .await?
            .into_iter()
            .map(|r| (r.key(), r))
            .collect();
        let mut details: std::collections::HashMap<(i64, String, String), DetailsCh> = self
            .fetch::<DetailsCh>(name::LIVE_SESSION_DETAILS, rows(name::LIVE_SESSION_DETAILS))
            .await?
            .into_iter()
            .map(|r| (r.key(), r))
            .collect();
        let mut out = Vec::with_capacity(page.len());
        for k in page {
            match (sessions.remove(&k), details.remove(&k)) {
                (Some(s), Some(d)) => out.push((session_row(s), detail_row(d))),
                // Rewritten between the two reads: the next request lists it again.
                _ => tracing::debug!(session_key = %k.2, "listed session changed while its page was read"),
            }
        }
        Ok(SessionList {
            total: total as usize,
            sessions: out,
            more,
        })
    }
}
