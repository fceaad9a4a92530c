//! The sessions list by SQL: the server counts the list and picks the page
//! (`listed_sessions`), and only the page's session and detail rows are read.

use super::rows::*;
use super::sql::name;
use super::*;
use crate::model::rows::{SessionDetailRow, SessionRow};
use crate::model::session_filter::Has;
use crate::warehouse::{SessionList, SessionsQuery};

impl ClickHouseWarehouse {
    /// [`crate::warehouse::Warehouse::list_sessions`] for a query without a page or element
    /// filter: the same answer as [`SessionsQuery::list_of_rows`] over the range's rows
    /// (`clickhouse_lists_sessions_by_sql_like_the_definition`), for a count and a top-N on
    /// the server and two small reads instead of every session and detail row of the range.
    /// When a session of the page was rewritten between the reads (its start, filters or
    /// rows changed), the list is made by reading the range instead.
    pub(super) async fn list_sessions_by_sql(&self, q: &SessionsQuery) -> anyhow::Result<SessionList> {
        debug_assert!(q.filter.page.is_none() && q.filter.selector.is_none());
        let device = q.device.map_or("", |d| d.as_str());
        let has = |h: Has| u8::from(q.filter.has.contains(&h));
        let listed = |sql: &str| {
            let mut query = self
                .client
                .query(sql)
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
            query
                .bind(q.site.as_str())
                .bind(q.from_day)
                .bind(q.to_day)
                .bind(has(Has::Rage))
                .bind(has(Has::Dead))
        };
        let total = self
            .fetch::<RowsCountRow>(name::LISTED_SESSIONS, listed(&sql::count_of(name::LISTED_SESSIONS)))
            .await?
            .first()
            .map_or(0, |r| r.rows);
        let (before_start, before_key) = q.before.as_ref().map_or((0, ""), |(s, k)| (*s, k.as_str()));
        let page = listed(&sql::page_of(name::LISTED_SESSIONS))
            .bind(u8::from(q.before.is_some()))
            .bind(before_start)
            .bind(before_start)
            .bind(before_key)
            .bind(q.limit as u64 + 1);
        let mut page: Vec<ListedCh> = self.fetch(name::LISTED_SESSIONS, page).await?;
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
        let ids: Vec<&str> = page.iter().map(|p| p.session_id.as_str()).collect();
        let days = (
            page.iter().map(|p| p.day).min().unwrap_or(q.from_day),
            page.iter().map(|p| p.day).max().unwrap_or(q.from_day) + 1,
        );
        let rows = |op: &'static str| {
            self.client
                .query(sql::sql(op))
                .bind(q.site.as_str())
                .bind(days.0)
                .bind(days.1)
                .bind(Tuple(&ids))
        };
        let sessions: Vec<SessionRow> = self
            .fetch::<SessionsCh>(name::LIVE_SESSIONS, rows(name::LIVE_SESSIONS))
            .await?
            .into_iter()
            .map(session_row)
            .collect();
        let details: Vec<SessionDetailRow> = self
            .fetch::<DetailsCh>(name::LIVE_SESSION_DETAILS, rows(name::LIVE_SESSION_DETAILS))
            .await?
            .into_iter()
            .map(detail_row)
            .collect();
        // The definition over the page's rows must give the page again; otherwise a session
        // was rewritten in between, and the range is read as the definition does.
        let again = SessionsQuery {
            limit: page.len(),
            ..q.clone()
        }
        .list_of_rows(sessions, details);
        let same = again.sessions.len() == page.len()
            && again
                .sessions
                .iter()
                .zip(&page)
                .all(|((s, _), p)| s.session_key == p.session_key && s.start == p.start_ts);
        if !same {
            tracing::debug!(site = %q.site, "a listed session changed while its page was read: listing by reading");
            return crate::warehouse::list_sessions_by_reading(self, q).await;
        }
        Ok(SessionList {
            total: total as usize,
            sessions: again.sessions,
            more,
        })
    }
}
