//! The [`Warehouse`] trait over ClickHouse.

use super::rows::*;
use super::sql::name;
use super::*;
use crate::event::Event;
use crate::model::answers::{AnswerSummary, AnswersQuery};
use crate::model::feedback::{FeedbackQuery, FeedbackSummary};
use crate::model::forget::ForgetRecord;
use crate::model::goal::FunnelStep;
use crate::model::journeys::RankedJourneys;
use crate::model::rows::{
    DayRollup, GridRow, JourneyKind, JourneyRow, PageRow, ScrollRow, SessionRow, SurveyRow, ZoneRow,
};
use crate::model::token::ApiToken;
use crate::replay::StoredPart;
use crate::sites::Site;
use crate::warehouse::{
    bucket_of, DirtySession, EventBatch, InsertReport, Part, RollupQuery, SessionRollup, Shard, StoreError, Warehouse,
};
use anyhow::Context;
use async_trait::async_trait;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

#[async_trait]
impl Warehouse for ClickHouseWarehouse {
    async fn insert_batch(&self, batch: std::sync::Arc<EventBatch>) -> Result<InsertReport, StoreError> {
        self.store_events(&batch).await.map_err(store_error)
    }

    async fn dirty_sessions(&self, limit: usize, shard: &Shard) -> anyhow::Result<Vec<DirtySession>> {
        if shard.is_empty() {
            return Ok(Vec::new());
        }
        let (modulus, owned) = (shard.modulus.max(1), Tuple(&shard.owned));
        let key = shard.to_string();
        let (from, full_at) = match &*self.watermark.lock().expect("watermark lock") {
            Some(w) if w.shard == key && w.full_at.elapsed() < FULL_SCAN_EVERY => (w.since, w.full_at),
            _ => (0, Instant::now()),
        };
        let scan_started = now_micros();
        let q = self
            .client
            .query(sql::sql(name::DIRTY_SESSIONS))
            .bind(modulus)
            .bind(&owned)
            .bind(from)
            .bind(modulus)
            .bind(&owned)
            .bind(from)
            .bind(limit as u64);
        let rows = self.fetch::<DirtySessionRow>(name::DIRTY_SESSIONS, q).await?;
        // Sorted by `since`: the first row has the oldest uncovered mark.
        let oldest = rows.first().map_or(scan_started, |r| r.since);
        *self.watermark.lock().expect("watermark lock") = Some(Watermark {
            shard: key,
            since: oldest.saturating_sub(WATERMARK_MARGIN_US).max(from),
            full_at,
        });
        Ok(rows
            .into_iter()
            .map(|r| DirtySession {
                site: r.site,
                session_id: r.session_id,
                version: i64::try_from(r.newest).unwrap_or(i64::MAX),
                fresh: r.fresh != 0,
            })
            .collect())
    }

    async fn mark_dirty(&self, site: &str, from_day: i64, to_day: i64) -> anyhow::Result<u64> {
        if from_day >= to_day {
            return Ok(0);
        }
        let q = self
            .client
            .query(sql::sql(name::SESSIONS_IN_DAYS))
            .bind(site)
            .bind(date_string(from_day))
            .bind(date_string(to_day - 1))
            .bind(from_day)
            .bind(to_day);
        let ids: Vec<String> = self
            .fetch::<SessionIdRow>(name::SESSIONS_IN_DAYS, q)
            .await?
            .into_iter()
            .map(|r| r.session_id)
            .collect();
        if ids.is_empty() {
            return Ok(0);
        }
        // One site-wide lookup instead of one per chunk of sessions: the floor only has to
        // be above every stored version of these sessions.
        let q = self
            .client
            .query(sql::sql(name::NEXT_SITE_VERSION))
            .bind(site)
            .bind(site);
        let floor = self
            .fetch::<VersionRow>(name::NEXT_SITE_VERSION, q)
            .await?
            .first()
            .map(|r| r.version)
            .unwrap_or(0);
        let version = next_gen().max(floor + 1);
        let rows: Vec<SessionMarkRow> = ids
            .iter()
            .map(|id| SessionMarkRow {
                site,
                session_id: id,
                bucket: bucket_of(id) as u16,
                version,
            })
            .collect();
        self.insert::<SessionMarkRow>(name::INSERT_SESSION_MARKS, &rows).await?;
        Ok(ids.len() as u64)
    }

    async fn session_events(&self, site: &str, session_ids: &[String]) -> anyhow::Result<Vec<Event>> {
        let ids: Vec<&str> = session_ids
            .iter()
            .map(String::as_str)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut out = Vec::new();
        for chunk in ids.chunks(CHUNK) {
            let q = self
                .client
                .query(sql::sql(name::SESSION_EVENTS))
                .bind(site)
                .bind(Tuple(chunk));
            for r in self.fetch::<RecordRow>(name::SESSION_EVENTS, q).await? {
                out.push(Event::decode(&r.record.0).context("decoding a stored event")?);
            }
        }
        Ok(out)
    }

    async fn write_sessions(&self, site: &str, done: &[DirtySession], rows: &[SessionRollup]) -> anyhow::Result<()> {
        self.write_parts(site, done, rows, &Part::ALL).await?;
        let state: Vec<SessionStateRow> = done
            .iter()
            .map(|d| SessionStateRow {
                site,
                session_id: &d.session_id,
                version: d.version.max(0) as u64,
            })
            .collect();
        self.insert::<SessionStateRow>(name::INSERT_SESSION_STATE, &state)
            .await?;
        self.maybe_cleanup();
        Ok(())
    }

    async fn fence_takeover(&self, shard: &Shard) -> anyhow::Result<()> {
        self.fence(shard).await
    }

    async fn read_rollup(&self, q: &RollupQuery) -> anyhow::Result<DayRollup> {
        let mut out = DayRollup::default();
        if q.parts.is_empty() || q.from_day >= q.to_day {
            return Ok(out);
        }
        let site = q.site.as_str();
        let filter = q.page.is_some() as u8;
        let page = q.page.as_deref().unwrap_or("");
        // Additive parts: sums per (day, device, bot, key) of the day-total tables; with a
        // segment filter, of the per-session tables over the segment's sessions
        // (`segment_sessions` as a semi-join).
        let sums = |op: &'static str, paged: bool| {
            let query = self.client.query(&sql::sums(op, &q.segment));
            let query = bind_days(query, site, (q.from_day, q.to_day), &q.segment);
            if paged {
                query.bind(filter).bind(page)
            } else {
                query
            }
        };
        for part in Part::ALL.into_iter().filter(|p| q.parts.contains(p)) {
            match part {
                Part::Pages => {
                    let rows: Vec<PagesSumCh> = self.fetch(name::SUM_PAGES, sums(name::SUM_PAGES, true)).await?;
                    out.pages = rows
                        .into_iter()
                        .map(|r| PageRow {
                            dims: dims_of(r.day, &r.device, r.bot),
                            page: r.page,
                            layout: r.layout,
                            pageviews: u64of(r.pageviews),
                            clicks: u64of(r.clicks),
                            quick_backs: u64of(r.quick_backs),
                            fold_n: u64of(r.fold_n),
                            viewport_h_sum: u64of(r.viewport_h_sum),
                            doc_h_sum: u64of(r.doc_h_sum),
                        })
                        .collect();
                }
                Part::Grid => {
                    let rows: Vec<GridSumCh> = self.fetch(name::SUM_GRID, sums(name::SUM_GRID, true)).await?;
                    out.grid = rows
                        .into_iter()
                        .map(|r| GridRow {
                            dims: dims_of(r.day, &r.device, r.bot),
                            page: r.page,
                            layout: r.layout,
                            cx: r.cx,
                            cy: r.cy,
                            count: u64of(r.clicks),
                        })
                        .collect();
                }
                // Written with the elements, read into them.
                Part::ElCells => {}
                Part::Elements => {
                    let cells: Vec<ElCellsSumCh> = if q.parts.contains(&Part::ElCells) {
                        self.fetch(name::SUM_EL_CELLS, sums(name::SUM_EL_CELLS, true)).await?
                    } else {
                        Vec::new()
                    };
                    let rows: Vec<ElementsSumCh> =
                        self.fetch(name::SUM_ELEMENTS, sums(name::SUM_ELEMENTS, true)).await?;
                    out.elements = super::convert::element_rows(rows, cells);
                }
                Part::Scroll => {
                    let rows: Vec<ScrollSumCh> = self.fetch(name::SUM_SCROLL, sums(name::SUM_SCROLL, true)).await?;
                    out.scroll = rows
                        .into_iter()
                        .map(|r| ScrollRow {
                            dims: dims_of(r.day, &r.device, r.bot),
                            page: r.page,
                            layout: r.layout,
                            depth: r.depth,
                            pageviews: u64of(r.pageviews),
                        })
                        .collect();
                }
                Part::Zones => {
                    let rows: Vec<ZonesSumCh> = self.fetch(name::SUM_ZONES, sums(name::SUM_ZONES, true)).await?;
                    out.zones = rows
                        .into_iter()
                        .map(|r| ZoneRow {
                            dims: dims_of(r.day, &r.device, r.bot),
                            page: r.page,
                            layout: r.layout,
                            zone: r.zone,
                            exposed: u64of(r.exposed),
                            clicked: u64of(r.clicked),
                            exposed_clicked: u64of(r.exposed_clicked),
                            visible_ms_sum: u64of(r.visible_ms_sum),
                            hovered: u64of(r.hovered),
                            hover_ms_sum: u64of(r.hover_ms_sum),
                            hesitation_n: u64of(r.hesitation_n),
                            hesitation_ms_sum: u64of(r.hesitation_ms_sum),
                            click_sessions: u64of(r.click_sessions),
                            converted_sessions: u64of(r.converted_sessions),
                        })
                        .collect();
                }
                Part::Journeys => {
                    let rows: Vec<JourneysSumCh> =
                        self.fetch(name::SUM_JOURNEYS, sums(name::SUM_JOURNEYS, false)).await?;
                    out.journeys = rows
                        .into_iter()
                        .map(|r| {
                            Ok(JourneyRow {
                                dims: dims_of(r.day, &r.device, r.bot),
                                kind: JourneyKind::from_code(r.kind)
                                    .ok_or_else(|| anyhow::anyhow!("rollup_journeys: kind {}", r.kind))?,
                                from: r.from_page,
                                to: r.to_page,
                                count: u64of(r.count),
                                bounces: u64of(r.bounces),
                            })
                        })
                        .collect::<anyhow::Result<_>>()?;
                }
                Part::Reach => {
                    let rows: Vec<ReachSumCh> = self.fetch(name::SUM_REACH, sums(name::SUM_REACH, false)).await?;
                    out.reach = rows.into_iter().map(reach_row).collect();
                }
                Part::Goal => {
                    let rows: Vec<GoalSumCh> = self.fetch(name::SUM_GOAL, sums(name::SUM_GOAL, false)).await?;
                    out.goal = rows.into_iter().map(goal_row).collect::<anyhow::Result<_>>()?;
                }
                Part::Problems => {
                    let rows: Vec<ProblemsSumCh> =
                        self.fetch(name::SUM_PROBLEMS, sums(name::SUM_PROBLEMS, false)).await?;
                    out.problems = rows.into_iter().map(problem_row).collect::<anyhow::Result<_>>()?;
                }
                Part::Surveys => {
                    let rows: Vec<SurveysSumCh> = self.fetch(name::SUM_SURVEYS, sums(name::SUM_SURVEYS, false)).await?;
                    out.surveys = rows
                        .into_iter()
                        .map(|r| {
                            Ok(SurveyRow {
                                dims: dims_of(r.day, &r.device, r.bot),
                                survey_id: r.survey_id,
                                question_id: r.question_id,
                                kind: survey_kind(&r.kind)?,
                                value: r.value,
                                responses: u64of(r.responses),
                            })
                        })
                        .collect::<anyhow::Result<_>>()?;
                }
                // Per-session parts: the newest live row per key.
                Part::Sessions => {
                    let rows: Vec<SessionsCh> = self
                        .fetch(name::READ_SESSIONS, sums(name::READ_SESSIONS, false))
                        .await?;
                    out.sessions = rows.into_iter().map(session_row).collect();
                }
                Part::SessionDetails => {
                    let rows: Vec<DetailsCh> = self
                        .fetch(name::READ_SESSION_DETAILS, sums(name::READ_SESSION_DETAILS, false))
                        .await?;
                    out.session_details = rows.into_iter().map(detail_row).collect();
                }
                Part::Answers => {
                    let rows: Vec<AnswersCh> = self.fetch(name::READ_ANSWERS, sums(name::READ_ANSWERS, false)).await?;
                    out.answers = rows.into_iter().map(answer_row).collect::<anyhow::Result<_>>()?;
                }
                Part::Feedback => {
                    let rows: Vec<FeedbackCh> =
                        self.fetch(name::READ_FEEDBACK, sums(name::READ_FEEDBACK, true)).await?;
                    out.feedback = rows.into_iter().map(feedback_row).collect();
                }
            }
        }
        out.sort_rows();
        Ok(out)
    }

    async fn list_sessions(
        &self,
        q: &crate::warehouse::SessionsQuery,
    ) -> anyhow::Result<crate::warehouse::SessionList> {
        if q.filter.page.is_some() || q.filter.selector.is_some() {
            // Page and element filters look into the detail rows' lists: read and list them.
            return crate::warehouse::list_sessions_by_reading(self, q).await;
        }
        self.list_sessions_by_sql(q).await
    }

    async fn answers(&self, q: &AnswersQuery) -> anyhow::Result<AnswerSummary> {
        self.answers_by_sql(q).await
    }

    async fn feedback(&self, q: &FeedbackQuery) -> anyhow::Result<FeedbackSummary> {
        match q.text {
            Some(_) => crate::warehouse::feedback_by_reading(self, q).await,
            None => self.feedback_by_sql(q).await,
        }
    }

    async fn funnel_sessions(&self, q: &RollupQuery, steps: &[FunnelStep]) -> anyhow::Result<Vec<SessionRow>> {
        self.funnel_sessions_by_sql(q, steps).await
    }

    async fn journeys(&self, q: &crate::warehouse::JourneysQuery) -> anyhow::Result<RankedJourneys> {
        if !q.range.segment.is_empty() {
            // The day totals carry no session: a segment's journeys are its sessions' rows.
            return crate::warehouse::journeys_by_reading(self, q).await;
        }
        self.journeys_by_sql(q).await
    }

    async fn count_events(&self, site: &str) -> anyhow::Result<u64> {
        let q = self.client.query(sql::sql(name::COUNT_EVENTS)).bind(site);
        Ok(self
            .fetch::<CountRow>(name::COUNT_EVENTS, q)
            .await?
            .first()
            .map(|r| r.events)
            .unwrap_or(0))
    }

    async fn sites(&self) -> anyhow::Result<Vec<Site>> {
        let q = self.client.query(sql::sql(name::SITES));
        self.fetch::<JsonRow>(name::SITES, q)
            .await?
            .iter()
            .map(|r| serde_json::from_str(&r.json).context("decoding a stored site"))
            .collect()
    }

    async fn put_site(&self, site: &Site) -> anyhow::Result<()> {
        let json = serde_json::to_string(site)?;
        self.insert::<SiteRow>(
            name::INSERT_SITES,
            &[SiteRow {
                key: &site.key,
                json: &json,
                updated_at: next_gen(),
            }],
        )
        .await
    }

    async fn delete_visitor(&self, site: &str, visitor: &str) -> anyhow::Result<(u64, Vec<i64>)> {
        let q = self
            .client
            .query(sql::sql(name::VISITOR_SESSIONS))
            .bind(site)
            .bind(visitor);
        let found = self.fetch::<VisitorSessionRow>(name::VISITOR_SESSIONS, q).await?;
        let days: Vec<i64> = found
            .iter()
            .map(|r| r.day)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let before = self.count_visitor_events(site, visitor).await?;
        if before > 0 {
            let q = self
                .client
                .query(sql::sql(name::DELETE_VISITOR_EVENTS))
                .bind(site)
                .bind(visitor);
            timed(name::DELETE_VISITOR_EVENTS, q.execute()).await?;
            // A mutation runs in the background (18.16 has no `mutations_sync`): wait for it,
            // so the sessions are recomputed without the visitor.
            self.wait_for("deleting the visitor's events", || async {
                Ok(self.count_visitor_events(site, visitor).await? == 0)
            })
            .await?;
        }
        // Marked after the events are gone: a recompute that sees these marks reads none of
        // the visitor's events.
        let marks: BTreeSet<(&str, &str)> = found.iter().map(|r| (site, r.session_id.as_str())).collect();
        self.insert_marks(&marks, 0).await?;
        self.delete_replay(site, visitor, name::DELETE_VISITOR_REPLAY, name::COUNT_VISITOR_REPLAY)
            .await?;
        Ok((before, days))
    }

    async fn drop_before(&self, site: &str, before_day: i64) -> anyhow::Result<u64> {
        let count = || async {
            let q = self
                .client
                .query(sql::sql(name::COUNT_EVENTS_BEFORE))
                .bind(site)
                .bind(before_day);
            anyhow::Ok(
                self.fetch::<CountRow>(name::COUNT_EVENTS_BEFORE, q)
                    .await?
                    .first()
                    .map(|r| r.events)
                    .unwrap_or(0),
            )
        };
        // Rows left before the cutoff in the tables of `op` (a UNION of `tables` counts).
        let rows_before = |op: &'static str, tables: usize| async move {
            let mut q = self.client.query(sql::sql(op));
            for _ in 0..tables {
                q = q.bind(site).bind(before_day);
            }
            anyhow::Ok(self.fetch::<RowsCountRow>(op, q).await?.first().map_or(0, |r| r.rows))
        };
        self.delete_replay(site, before_day, name::DELETE_REPLAY_BEFORE, name::COUNT_REPLAY_BEFORE)
            .await?;
        let before = count().await?;
        for op in std::iter::once(name::DELETE_EVENTS_BEFORE).chain(ROLLUP_DELETES.iter().copied()) {
            let q = self.client.query(sql::sql(op)).bind(site).bind(before_day);
            timed(op, q.execute()).await?;
            // An additive part's day totals right after its session rows.
            if let Some(day) = sql::day_totals(op) {
                let q = self.client.query(day).bind(site).bind(before_day);
                timed(op, q.execute()).await?;
            }
        }
        // Mutations run in the background: wait for the raw events and rollup rows to be gone.
        self.wait_for("the retention delete", || async {
            Ok(count().await? == 0
                && rows_before(name::ROLLUP_ROWS_BEFORE, ROLLUP_DELETES.len()).await? == 0
                && rows_before(name::DAY_ROWS_BEFORE, sql::DAY_TOTAL_TABLES.len()).await? == 0)
        })
        .await?;
        Ok(before)
    }

    async fn delete_site(&self, key: &str) -> anyhow::Result<u64> {
        for op in [
            name::DELETE_SITE,
            name::DELETE_SITE_SESSION_MARKS,
            name::DELETE_SITE_SESSION_STATE,
        ] {
            timed(op, self.client.query(sql::sql(op)).bind(key).execute()).await?;
        }
        // Mutations run in the background: wait for the site row to be gone.
        let gone = || async { anyhow::Ok(self.sites().await?.iter().all(|s| s.key != key)) };
        self.wait_for("the site delete", gone).await?;
        self.drop_before(key, i64::MAX).await
    }

    async fn replay_parts(&self, site: &str, sessions: &[String], with_data: bool) -> anyhow::Result<Vec<StoredPart>> {
        self.read_replay(site, sessions, with_data).await
    }

    async fn count_visitor_events(&self, site: &str, visitor: &str) -> anyhow::Result<u64> {
        let q = self
            .client
            .query(sql::sql(name::COUNT_VISITOR_EVENTS))
            .bind(site)
            .bind(visitor);
        Ok(self
            .fetch::<CountRow>(name::COUNT_VISITOR_EVENTS, q)
            .await?
            .first()
            .map(|r| r.events)
            .unwrap_or(0))
    }

    async fn put_forget(&self, rec: &ForgetRecord) -> anyhow::Result<()> {
        let json = serde_json::to_string(rec)?;
        self.insert::<ForgetRow>(
            name::INSERT_FORGETS,
            &[ForgetRow {
                id: &rec.id,
                json: &json,
                updated_at: next_gen(),
            }],
        )
        .await
    }

    async fn forgets(&self) -> anyhow::Result<Vec<ForgetRecord>> {
        let q = self.client.query(sql::sql(name::FORGETS));
        self.fetch::<JsonRow>(name::FORGETS, q)
            .await?
            .iter()
            .map(|r| serde_json::from_str(&r.json).context("decoding a forget record"))
            .collect()
    }

    async fn tokens(&self) -> anyhow::Result<Vec<ApiToken>> {
        let q = self.client.query(sql::sql(name::API_TOKENS));
        self.fetch::<JsonRow>(name::API_TOKENS, q)
            .await?
            .iter()
            .map(|r| serde_json::from_str(&r.json).context("decoding a stored API token"))
            .collect()
    }

    async fn put_token(&self, token: &ApiToken) -> anyhow::Result<()> {
        let json = serde_json::to_string(token)?;
        self.insert::<TokenRow>(
            name::INSERT_API_TOKENS,
            &[TokenRow {
                id: &token.id,
                json: &json,
                updated_at: next_gen(),
            }],
        )
        .await
    }

    async fn ready(&self) -> bool {
        let q = self.client.query(sql::sql(name::PING));
        matches!(
            tokio::time::timeout(Duration::from_secs(5), self.fetch::<PingRow>(name::PING, q)).await,
            Ok(Ok(v)) if v.first().map(|r| r.ok) == Some(1)
        )
    }
}
