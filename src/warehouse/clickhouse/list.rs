//! The sessions list by SQL. Its `total` is a sum of day totals (`count_listed` over
//! `rollup_list_day`, kept by the rollup: [`list_rows`]); its page is the newest candidate
//! rows of `rollup_sessions` (`listed_candidates`, a top-N sort without aggregation), whose
//! live rows are then read and listed by the definition.

use super::rows::*;
use super::sql::name;
use super::*;
use crate::model::rows::{DayRollup, SessionDetailRow, SessionRow};
use crate::model::session_filter::{session_matches, Has, SessionFilter};
use crate::warehouse::{SessionList, SessionsQuery};

/// The most candidate rows one page reads before it lists by the live rows of every session
/// of the range instead (`listed_sessions`): a filter that keeps few of the candidates
/// (rage clicks on a rare page) would otherwise read the range's rows in growing rounds.
const MAX_CANDIDATES: usize = 8 * CHUNK;

/// The `rollup_list` rows of one session (`rows`: its rollup rows, every day): one per
/// session key the sessions list can show (its detail row has a page, as
/// [`session_matches`] says for no filter), with the list's filter values (feedback, rage
/// and dead clicks, each as [`session_matches`] says for that `has=`; the segment) and
/// `sessions` 1. The rollup replaces a session's rows with these like any additive part, so
/// their sum over a range is the list's `total` for those filter values.
pub(super) fn list_rows(site: &str, session_id: &str, rows: &DayRollup) -> Vec<ListCh> {
    let has = |h: Has| SessionFilter {
        has: vec![h],
        ..SessionFilter::default()
    };
    let (listed, feedback, rage, dead) = (
        SessionFilter::default(),
        has(Has::Feedback),
        has(Has::Rage),
        has(Has::Dead),
    );
    rows.sessions
        .iter()
        .filter_map(|s| {
            let d = rows
                .session_details
                .iter()
                .find(|d| d.dims.day == s.dims.day && d.session_key == s.session_key)?;
            let flag = |f: &SessionFilter| u8::from(session_matches(s, d, f));
            session_matches(s, d, &listed).then(|| ListCh {
                site: site.to_string(),
                day: s.dims.day,
                session_id: session_id.to_string(),
                device: s.dims.device.as_str().to_string(),
                bot: u8::from(s.dims.bot),
                feedback: flag(&feedback),
                rage: flag(&rage),
                dead: flag(&dead),
                channel: s.segment.channel.clone(),
                referrer: s.segment.referrer.clone(),
                utm_source: s.segment.utm_source.clone(),
                utm_medium: s.segment.utm_medium.clone(),
                utm_campaign: s.segment.utm_campaign.clone(),
                browser: s.segment.browser.clone(),
                os: s.segment.os.clone(),
                language: s.segment.language.clone(),
                sessions: 1,
            })
        })
        .collect()
}

/// `query` with the sessions list's range and session-row conditions bound, in the order
/// `count_listed`, `listed_candidates` and `listed_sessions` take them first: site, days,
/// device twice, bots, feedback, the segment's values twice each.
fn row_conditions(query: clickhouse::query::Query, q: &SessionsQuery) -> clickhouse::query::Query {
    let device = q.device.map_or("", |d| d.as_str());
    let mut query = query
        .bind(q.site.as_str())
        .bind(q.from_day)
        .bind(q.to_day)
        .bind(device)
        .bind(device)
        .bind(u8::from(q.bots))
        .bind(u8::from(q.filter.has.contains(&Has::Feedback)));
    for v in q.segment.values() {
        query = query.bind(v).bind(v);
    }
    query
}

impl ClickHouseWarehouse {
    /// [`crate::warehouse::Warehouse::list_sessions`] for a query without a page or element
    /// filter: the same answer as [`SessionsQuery::list_of_rows`] over the range's rows
    /// (`clickhouse_lists_sessions_by_sql_like_the_definition`).
    ///
    /// - `total`: the sum of the list's day totals for the query's filters (cost ∝ the
    ///   range's distinct filter values, not its sessions).
    /// - the page: the newest `m` rows of `rollup_sessions` (any gen) that pass the row
    ///   conditions, after the cursor. A listed session's live row passes them, so every
    ///   listed session newer than the `m`-th row is among these candidates; their live rows
    ///   are read and listed by the definition, and the listed sessions down to the `m`-th
    ///   row are exact. `m` starts at 1.25 × (the page size + 1) ÷ the share of the
    ///   candidates' sessions that the rage / dead conditions keep (both counts from the day
    ///   totals), at least 64; when they list fewer than a page (a filter kept fewer, or
    ///   sessions rewritten since their last merge have rows of several gens), `m` grows
    ///   (× 4) while it stays within [`MAX_CANDIDATES`]; past it the page is taken from
    ///   every session's live row (`listed_sessions`). A total of 0 reads no rows.
    ///
    /// The count and the page are separate reads, as in any paged list. A session rewritten
    /// between the candidates' read and its live rows' read is listed as its new rows say
    /// if it was a candidate; one that only qualifies by its new rows (its first feedback)
    /// shows on the next request.
    pub(super) async fn list_sessions_by_sql(&self, q: &SessionsQuery) -> anyhow::Result<SessionList> {
        debug_assert!(q.filter.page.is_none() && q.filter.selector.is_none());
        let has = |h: Has| u8::from(q.filter.has.contains(&h));
        // The list's total with the query's rage / dead conditions, or without them.
        let count = |rage: u8, dead: u8| {
            let count = row_conditions(self.client.query(sql::sql(name::COUNT_LISTED)), q)
                .bind(rage)
                .bind(dead);
            async move {
                anyhow::Ok(
                    self.fetch::<RowsCountRow>(name::COUNT_LISTED, count)
                        .await?
                        .first()
                        .map_or(0, |r| r.rows) as usize,
                )
            }
        };
        let total = count(has(Has::Rage), has(Has::Dead)).await?;
        if total == 0 {
            return Ok(SessionList::default());
        }
        // The candidates pass every condition but rage and dead clicks: take as many more as
        // those keep fewer sessions (a quarter more, for rows of older gens).
        let without_clicks = if has(Has::Rage) + has(Has::Dead) > 0 {
            count(0, 0).await?
        } else {
            total
        };
        let (before_start, before_key) = q.before.as_ref().map_or((0, ""), |(s, k)| (*s, k.as_str()));
        let page_sql = sql::page_of(name::LISTED_CANDIDATES);
        let mut m = ((q.limit + 1).saturating_mul(without_clicks) / total).saturating_mul(5) / 4;
        m = m.max(2 * (q.limit + 1)).max(64);
        while m <= MAX_CANDIDATES {
            let page = row_conditions(self.client.query(&page_sql), q)
                .bind(u8::from(q.before.is_some()))
                .bind(before_start)
                .bind(before_start)
                .bind(before_key)
                .bind(m as u64);
            let candidates: Vec<ListedCh> = self.fetch(name::LISTED_CANDIDATES, page).await?;
            // Below this (start, key) a listed session may be missing from the candidates.
            let floor = (candidates.len() == m)
                .then(|| candidates.last().map(|c| (c.start_ts, c.session_key.clone())))
                .flatten();
            let (sessions, details) = self.live_rows_of(q, &candidates).await?;
            let mut listed: Vec<(SessionRow, SessionDetailRow)> = SessionsQuery {
                limit: usize::MAX,
                ..q.clone()
            }
            .list_of_rows(sessions, details)
            .sessions
            .into_iter()
            .take_while(|(s, _)| {
                floor
                    .as_ref()
                    .is_none_or(|(start, key)| (s.start, &s.session_key) >= (*start, key))
            })
            .collect();
            if floor.is_none() || listed.len() > q.limit {
                let more = listed.len() > q.limit;
                listed.truncate(q.limit);
                return Ok(SessionList {
                    total,
                    sessions: listed,
                    more,
                });
            }
            m *= 4;
        }
        let mut list = self.list_sessions_by_live_rows(q).await?;
        list.total = total;
        Ok(list)
    }

    /// The live session and detail rows of the sessions of `candidates`, on their days.
    async fn live_rows_of(
        &self,
        q: &SessionsQuery,
        candidates: &[ListedCh],
    ) -> anyhow::Result<(Vec<SessionRow>, Vec<SessionDetailRow>)> {
        let ids: std::collections::BTreeSet<&str> = candidates.iter().map(|c| c.session_id.as_str()).collect();
        let ids: Vec<&str> = ids.into_iter().collect();
        let days = (
            candidates.iter().map(|c| c.day).min().unwrap_or(q.from_day),
            candidates.iter().map(|c| c.day).max().unwrap_or(q.from_day) + 1,
        );
        let site = q.site.as_str();
        let sessions = self
            .fetch_of_sessions::<SessionsCh>(name::LIVE_SESSIONS, site, days, &ids)
            .await?
            .into_iter()
            .map(session_row)
            .collect();
        let details = self
            .fetch_of_sessions::<DetailsCh>(name::LIVE_SESSION_DETAILS, site, days, &ids)
            .await?
            .into_iter()
            .map(detail_row)
            .collect();
        Ok((sessions, details))
    }

    /// The page of `q` from the live row of every session of the range (`listed_sessions`:
    /// `argMax` per session key on the server, a top-N sort), then the page's rows. When a
    /// session of the page was rewritten between the reads, the list is made by reading the
    /// range instead. `total` is left to the caller (0 here). Public for tests.
    #[doc(hidden)]
    pub async fn list_sessions_by_live_rows(&self, q: &SessionsQuery) -> anyhow::Result<SessionList> {
        let has = |h: Has| u8::from(q.filter.has.contains(&h));
        let (before_start, before_key) = q.before.as_ref().map_or((0, ""), |(s, k)| (*s, k.as_str()));
        let page = row_conditions(self.client.query(&sql::page_of(name::LISTED_SESSIONS)), q)
            .bind(q.site.as_str())
            .bind(q.from_day)
            .bind(q.to_day)
            .bind(has(Has::Rage))
            .bind(has(Has::Dead))
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
                total: 0,
                sessions: Vec::new(),
                more,
            });
        }
        let (sessions, details) = self.live_rows_of(q, &page).await?;
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
            total: 0,
            sessions: again.sessions,
            more,
        })
    }
}
