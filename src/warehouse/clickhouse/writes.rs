//! Writes: raw events (with their session marks) and the per-session rollup rows.

use super::rows::*;
use super::sql::name;
use super::*;
use crate::event::Event;
use crate::model::rows::DAY_MS;
use crate::warehouse::{bucket_of, DirtySession, EventBatch, InsertReport, Part, SessionRollup};
use clickhouse::{RowOwned, RowRead, RowWrite};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Instant;

impl ClickHouseWarehouse {
    /// [`Warehouse::fence_takeover`]: wait (at most [`FENCE_MAX_WAIT`]) until the rollup
    /// writes running on the server now, of any process, have ended (`running_rollup_writes`),
    /// once per shard taken over.
    pub(super) async fn fence(&self, shard: &crate::warehouse::Shard) -> anyhow::Result<()> {
        if self.fenced.lock().expect("fence lock").as_ref() == Some(shard) || shard.is_empty() {
            return Ok(());
        }
        let running = || async {
            let q = self.client.query(sql::sql(name::RUNNING_ROLLUP_WRITES));
            anyhow::Ok(
                self.fetch::<QueryIdRow>(name::RUNNING_ROLLUP_WRITES, q)
                    .await?
                    .into_iter()
                    .map(|r| r.query_id)
                    .collect::<BTreeSet<String>>(),
            )
        };
        let before = running().await?;
        let started = Instant::now();
        let mut left = before.len();
        while left > 0 {
            if started.elapsed() > FENCE_MAX_WAIT {
                tracing::warn!(
                    writes = left,
                    "rollup takeover: writes of another process still running after {FENCE_MAX_WAIT:?}; going on"
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = running().await?;
            left = before.intersection(&now).count();
        }
        if !before.is_empty() {
            tracing::info!(
                writes = before.len(),
                waited_ms = started.elapsed().as_millis() as u64,
                "rollup takeover: waited for rollup writes already running"
            );
        }
        *self.fenced.lock().expect("fence lock") = Some(shard.clone());
        Ok(())
    }

    /// [`Warehouse::insert_events`] with every failure a [`ClickHouseError`] in the chain: the
    /// dedup read (`existing_ids`), the events INSERT, then the marks (`mark_sessions`), three
    /// round trips (see the module docs).
    pub(super) async fn store_events(&self, batch: &EventBatch) -> anyhow::Result<InsertReport> {
        // Replay-chunk parts go to their own table (crate::replay), never to the events.
        let replay = self.store_replay(&crate::replay::parts_of(batch.events())).await?;
        let events: Vec<(&Event, &[u8])> = batch.iter().filter(|(e, _)| e.type_name() != "replay_chunk").collect();
        if events.is_empty() {
            return Ok(InsertReport {
                inserted: replay,
                duplicates: 0,
            });
        }
        // The first copy of each id in the batch; later copies are duplicates.
        let mut seen = HashSet::new();
        let unique: Vec<(&Event, &[u8])> = events
            .iter()
            .copied()
            .filter(|(e, _)| seen.insert(e.id.as_str()))
            .collect();
        let sites = distinct(unique.iter().map(|(e, _)| e.site.as_str()));
        let sessions = distinct(unique.iter().map(|(e, _)| e.session_id.as_str()));
        let ids: Vec<&str> = unique.iter().map(|(e, _)| e.id.as_str()).collect();

        let started = Instant::now();
        let q = self
            .client
            .query(sql::sql(name::EXISTING_IDS))
            .bind(&sites)
            .bind(&sessions)
            .bind(&ids);
        let existing: HashSet<String> = self
            .fetch::<IdRow>(name::EXISTING_IDS, q)
            .await?
            .into_iter()
            .map(|r| r.id)
            .collect();
        let read_done = Instant::now();
        let fresh: Vec<(&Event, &[u8])> = unique
            .iter()
            .copied()
            .filter(|(e, _)| !existing.contains(&e.id))
            .collect();
        let report = InsertReport {
            inserted: fresh.len() as u64 + replay,
            duplicates: (events.len() - fresh.len()) as u64,
        };

        let rows: Vec<EventRow> = fresh
            .iter()
            .map(|&(e, record)| {
                let (selector, zone, x, y, scroll_depth, name) = wide(e);
                EventRow {
                    id: &e.id,
                    site: &e.site,
                    session_id: &e.session_id,
                    visitor_id: &e.visitor_id,
                    ts: e.ts,
                    day: Date::of_ms(e.ts),
                    received_at: e.received_at,
                    r#type: e.type_name(),
                    page_key: &e.page_key,
                    url: &e.url,
                    device: e.device.as_str(),
                    bot: e.bot_reason.is_some() as u8,
                    bot_reason: e.bot_reason.as_deref().unwrap_or(""),
                    pageview_id: e.pageview_id.as_deref().unwrap_or(""),
                    selector,
                    zone,
                    x,
                    y,
                    scroll_depth,
                    name,
                    record: BlobRef(record),
                }
            })
            .collect();
        self.insert::<EventRow>(name::INSERT_EVENTS, &rows).await?;
        let insert_done = Instant::now();

        // Mark every session of the batch (now that its events are visible), duplicates'
        // sessions included: see the module docs.
        let marks: BTreeSet<(&str, &str)> = unique
            .iter()
            .map(|(e, _)| (e.site.as_str(), e.session_id.as_str()))
            .collect();
        self.insert_marks(&marks, 0).await?;
        tracing::debug!(
            rows = events.len(),
            inserted = report.inserted,
            dedup_read_ms = (read_done - started).as_secs_f64() * 1e3,
            encode_insert_ms = (insert_done - read_done).as_secs_f64() * 1e3,
            marks_ms = insert_done.elapsed().as_secs_f64() * 1e3,
            "events stored"
        );
        Ok(report)
    }

    /// Insert one mark per (site, session_id) with a version above the clock, above `floor`
    /// and above every mark and state version stored for those sessions (see the module
    /// docs), in one statement: the server reads the stored versions as it inserts.
    pub(super) async fn insert_marks(&self, marks: &BTreeSet<(&str, &str)>, floor: u64) -> anyhow::Result<()> {
        if marks.is_empty() {
            return Ok(());
        }
        let sites = distinct(marks.iter().map(|m| m.0));
        let ids = distinct(marks.iter().map(|m| m.1));
        let mark_sites: Vec<&str> = marks.iter().map(|m| m.0).collect();
        let mark_ids: Vec<&str> = marks.iter().map(|m| m.1).collect();
        let buckets: Vec<u16> = marks.iter().map(|m| bucket_of(m.1) as u16).collect();
        let q = self
            .client
            .query(sql::sql(name::MARK_SESSIONS))
            .bind(&mark_sites)
            .bind(&mark_ids)
            .bind(&buckets)
            .bind(next_gen().max(floor.saturating_add(1)))
            .bind(&sites)
            .bind(&ids)
            .bind(&sites)
            .bind(&ids);
        timed(name::MARK_SESSIONS, q.execute()).await
    }

    /// Replace the rows of the sessions `ids` in one additive table with `new` (see the
    /// module docs): insert `new − net` per key, where non-zero.
    pub(super) async fn replace_additive<R>(
        &self,
        net_op: &'static str,
        insert_op: &'static str,
        site: &str,
        days: (i64, i64),
        ids: &[&str],
        new: Vec<R>,
    ) -> anyhow::Result<()>
    where
        R: Additive + RowOwned + RowRead + RowWrite,
    {
        let mut want: BTreeMap<R::Key, R> = BTreeMap::new();
        for r in new {
            match want.entry(r.key()) {
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(r);
                }
                std::collections::btree_map::Entry::Occupied(mut o) => {
                    let sum = o.get().minus(&r.negated());
                    *o.get_mut() = sum;
                }
            }
        }
        let have: BTreeMap<R::Key, R> = self
            .fetch_of_sessions::<R>(net_op, site, days, ids)
            .await?
            .into_iter()
            .map(|r| (r.key(), r))
            .collect();
        let mut deltas: Vec<R> = Vec::new();
        for (k, n) in &want {
            let d = match have.get(k) {
                Some(old) => n.minus(old),
                None => n.clone(),
            };
            if !d.is_zero() {
                deltas.push(d);
            }
        }
        for (k, old) in &have {
            if !want.contains_key(k) && !old.is_zero() {
                deltas.push(old.negated());
            }
        }
        self.insert_owned::<R>(insert_op, &deltas).await
    }

    /// Replace the rows of the sessions `ids` in one per-session table with `new` (see the
    /// module docs): changed and new rows under a new gen, tombstones for vanished keys.
    pub(super) async fn replace_per_session<R>(
        &self,
        live_op: &'static str,
        insert_op: &'static str,
        site: &str,
        days: (i64, i64),
        ids: &[&str],
        new: Vec<R>,
    ) -> anyhow::Result<()>
    where
        R: PerSession + RowOwned + RowRead + RowWrite,
    {
        let want: BTreeMap<R::Key, R> = new.into_iter().map(|r| (r.key(), r)).collect();
        let have: BTreeMap<R::Key, R> = self
            .fetch_of_sessions::<R>(live_op, site, days, ids)
            .await?
            .into_iter()
            .map(|r| (r.key(), r))
            .collect();
        let gen = next_gen().max(have.values().map(|r| r.gen() + 1).max().unwrap_or(0));
        let mut out: Vec<R> = Vec::new();
        for (k, n) in &want {
            let mut n = n.clone();
            if let Some(old) = have.get(k) {
                n.set_gen(old.gen());
                if n == *old {
                    continue;
                }
            }
            n.set_gen(gen);
            out.push(n);
        }
        for (k, old) in &have {
            if !want.contains_key(k) {
                let mut t = old.clone();
                t.set_gen(gen);
                t.set_deleted();
                out.push(t);
            }
        }
        self.insert_owned::<R>(insert_op, &out).await
    }

    pub(super) async fn insert_owned<R: RowOwned + RowWrite>(
        &self,
        op: &'static str,
        rows: &[R],
    ) -> anyhow::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let table = sql::get(op)
            .insert
            .as_deref()
            .expect("an insert statement names its table");
        let mut ins =
            wrap(op, self.client.insert::<R>(table).await)?.with_timeouts(Some(SEND_TIMEOUT), Some(QUERY_TIMEOUT));
        for r in rows {
            wrap(op, ins.write(r).await)?;
        }
        wrap(op, ins.end().await)
    }

    /// Replace the stored rows of the parts `parts` of the sessions of `done` (and of `rows`)
    /// with their rows in `rows` (none for a session without an entry), without recording
    /// their versions in `session_state` (fresh sessions get their "begun" state row): the
    /// first half of [`Warehouse::write_sessions`], public so that tests can leave what a
    /// crash part-way leaves. `Part::Elements` includes the `el_cells`.
    #[doc(hidden)]
    pub async fn write_parts(
        &self,
        site: &str,
        done: &[DirtySession],
        rows: &[SessionRollup],
        parts: &[Part],
    ) -> anyhow::Result<()> {
        let ids: Vec<&str> = done
            .iter()
            .map(|d| d.session_id.as_str())
            .chain(rows.iter().map(|r| r.session_id.as_str()))
            .collect();
        // Fresh sessions have no rows to look up. A state row below every mark version says
        // "rows begun" first: after a crash part-way, the next pass sees the session as
        // written, and reads the rows it left.
        let fresh = self.still_fresh(site, done).await?;
        let begun: Vec<SessionStateRow> = fresh
            .iter()
            .map(|id| SessionStateRow {
                site,
                session_id: id,
                version: BEGUN_VERSION,
            })
            .collect();
        if !begun.is_empty() {
            self.insert::<SessionStateRow>(name::INSERT_SESSION_STATE, &begun)
                .await?;
        }
        self.write_parts_of(site, &ids, &fresh, rows, parts).await
    }

    /// The sessions of `done` flagged `fresh` by [`Warehouse::dirty_sessions`] that really
    /// have no `session_state` row (not even a "begun" one), i.e. no rows to look up.
    ///
    /// The flag alone cannot be trusted: `dirty_sessions` reads `session_marks` twice in one
    /// statement (the marks, and the sessions whose states it joins), and ClickHouse takes a
    /// separate snapshot for each read. A mark inserted while the statement runs can be seen
    /// by the first read and not by the second, and a session whose older marks are all
    /// below the watermark then comes back with no state, as fresh, although it was written
    /// before: its new rows would be inserted on top of its old ones (counted twice until
    /// its next recompute). This happens whenever a written session gets a mark after 30 s
    /// or more (a late event, a sink replaying uncommitted records after a restart) during
    /// the scan. A state row is never removed while its session has marks, so one read now,
    /// after the scan, sees every state the scan should have seen.
    pub(super) async fn still_fresh<'a>(
        &self,
        site: &str,
        done: &'a [DirtySession],
    ) -> anyhow::Result<BTreeSet<&'a str>> {
        let mut fresh: BTreeSet<&str> = done.iter().filter(|d| d.fresh).map(|d| d.session_id.as_str()).collect();
        if fresh.is_empty() {
            return Ok(fresh);
        }
        let flagged: Vec<&str> = fresh.iter().copied().collect();
        for chunk in flagged.chunks(CHUNK) {
            let q = self
                .client
                .query(sql::sql(name::STATED_SESSIONS))
                .bind(site)
                .bind(Tuple(chunk));
            for r in self.fetch::<SessionIdRow>(name::STATED_SESSIONS, q).await? {
                fresh.remove(r.session_id.as_str());
            }
        }
        Ok(fresh)
    }

    /// [`Self::write_parts`], where the old rows of the sessions of `fresh` (never written)
    /// are not looked up.
    pub(super) async fn write_parts_of(
        &self,
        site: &str,
        session_ids: &[&str],
        fresh: &BTreeSet<&str>,
        rows: &[SessionRollup],
        parts: &[Part],
    ) -> anyhow::Result<()> {
        let ids: BTreeSet<&str> = session_ids.iter().copied().collect();
        let ids: Vec<&str> = ids.into_iter().collect();
        if ids.is_empty() {
            return Ok(());
        }
        let wanted: Vec<&SessionRollup> = rows
            .iter()
            .filter(|r| ids.binary_search(&r.session_id.as_str()).is_ok())
            .collect();
        // Where the sessions' old rows can be: the days their events span, in any time zone
        // (a site whose time zone changed has its old rows on the old zone's days: a day
        // start lies less than 25 h before the events of its day, whatever the zone), so the
        // range reaches two days beyond the span on each side. A session with no events left
        // (erased) has no span: then every day the site has rows is searched.
        let mut days: BTreeSet<i64> = BTreeSet::new();
        for r in &wanted {
            days.insert(r.first_day - 2 * DAY_MS);
            days.insert(r.last_day + 3 * DAY_MS);
        }
        let erased = wanted.len() < ids.len();
        // The sessions whose old rows are looked up.
        let ids: Vec<&str> = ids.into_iter().filter(|id| !fresh.contains(id)).collect();
        if erased {
            let q = self
                .client
                .query(sql::sql(name::ROLLUP_DAYS))
                .bind(site)
                .bind(site)
                .bind(site);
            days.extend(
                self.fetch::<DayRow>(name::ROLLUP_DAYS, q)
                    .await?
                    .into_iter()
                    .map(|r| r.day),
            );
        }
        if days.is_empty() {
            // No events and no rows anywhere: nothing to replace, nothing to write.
            return Ok(());
        }
        // [first, last + 1): the day range searched.
        let days = (*days.first().expect("not empty"), *days.last().expect("not empty") + 1);
        let ch = ChRows::of(site, &wanted);
        for part in Part::ALL.into_iter().filter(|p| parts.contains(p)) {
            match part {
                // Written with the elements (below).
                Part::ElCells => {}
                Part::Pages => {
                    self.replace_additive(name::NET_PAGES, name::INSERT_PAGES, site, days, &ids, ch.pages.clone())
                        .await?
                }
                Part::Grid => {
                    self.replace_additive(name::NET_GRID, name::INSERT_GRID, site, days, &ids, ch.grid.clone())
                        .await?
                }
                Part::Elements => {
                    self.replace_additive(
                        name::NET_ELEMENTS,
                        name::INSERT_ELEMENTS,
                        site,
                        days,
                        &ids,
                        ch.elements.clone(),
                    )
                    .await?;
                    self.replace_additive(
                        name::NET_EL_CELLS,
                        name::INSERT_EL_CELLS,
                        site,
                        days,
                        &ids,
                        ch.el_cells.clone(),
                    )
                    .await?
                }
                Part::Scroll => {
                    self.replace_additive(
                        name::NET_SCROLL,
                        name::INSERT_SCROLL,
                        site,
                        days,
                        &ids,
                        ch.scroll.clone(),
                    )
                    .await?
                }
                Part::Zones => {
                    self.replace_additive(name::NET_ZONES, name::INSERT_ZONES, site, days, &ids, ch.zones.clone())
                        .await?
                }
                Part::Journeys => {
                    self.replace_additive(
                        name::NET_JOURNEYS,
                        name::INSERT_JOURNEYS,
                        site,
                        days,
                        &ids,
                        ch.journeys.clone(),
                    )
                    .await?
                }
                Part::Reach => {
                    self.replace_additive(name::NET_REACH, name::INSERT_REACH, site, days, &ids, ch.reach.clone())
                        .await?
                }
                Part::Goal => {
                    self.replace_additive(name::NET_GOAL, name::INSERT_GOAL, site, days, &ids, ch.goal.clone())
                        .await?
                }
                Part::Problems => {
                    self.replace_additive(
                        name::NET_PROBLEMS,
                        name::INSERT_PROBLEMS,
                        site,
                        days,
                        &ids,
                        ch.problems.clone(),
                    )
                    .await?
                }
                Part::Surveys => {
                    self.replace_additive(
                        name::NET_SURVEYS,
                        name::INSERT_SURVEYS,
                        site,
                        days,
                        &ids,
                        ch.surveys.clone(),
                    )
                    .await?
                }
                // The sessions list's counts are made from the session and detail rows.
                Part::Sessions => {
                    self.replace_per_session(
                        name::LIVE_SESSIONS,
                        name::INSERT_SESSIONS,
                        site,
                        days,
                        &ids,
                        ch.sessions.clone(),
                    )
                    .await?;
                    self.replace_additive(name::NET_LIST, name::INSERT_LIST, site, days, &ids, ch.list.clone())
                        .await?
                }
                Part::SessionDetails => {
                    self.replace_per_session(
                        name::LIVE_SESSION_DETAILS,
                        name::INSERT_SESSION_DETAILS,
                        site,
                        days,
                        &ids,
                        ch.details.clone(),
                    )
                    .await?
                }
                Part::Answers => {
                    self.replace_per_session(
                        name::LIVE_ANSWERS,
                        name::INSERT_ANSWERS,
                        site,
                        days,
                        &ids,
                        ch.answers.clone(),
                    )
                    .await?
                }
                Part::Feedback => {
                    self.replace_per_session(
                        name::LIVE_FEEDBACK,
                        name::INSERT_FEEDBACK,
                        site,
                        days,
                        &ids,
                        ch.feedback.clone(),
                    )
                    .await?
                }
            }
        }
        Ok(())
    }
}
