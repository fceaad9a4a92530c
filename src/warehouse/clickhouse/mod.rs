//! The ClickHouse warehouse (`clickhouse` crate, HTTP, RowBinary without client-side
//! validation so that Debian's clickhouse-server 18.16 works as well as current releases).
//!
//! # Where the SQL is
//! Everything this module sends is in [`sql`]: `migrations/*.sql` and `queries.sql`, looked up
//! by name. `tests/chdb/check.py` runs all of it on current ClickHouse (chDB) or on a server
//! (`--url`), and `tests/clickhouse_warehouse.rs` runs it on `SIGHTLINE_TEST_CLICKHOUSE_URL`.
//!
//! # Start-up
//! [`ClickHouseWarehouse::connect`] creates the database if missing, applies the migrations
//! not yet recorded in `schema_migrations` (each once, in order; an applied migration whose
//! file changed is refused), then compares every Rust row type we insert with
//! `DESCRIBE TABLE` (names and types) and refuses to start on a mismatch (P4).
//!
//! # Semantics (the same as `sqlite.rs`, without transactions)
//! - **Events** go to a `ReplacingMergeTree` ordered by (site, session_id, id). A batch first
//!   asks which of its ids are already stored (one query), inserts the others (one INSERT)
//!   and reports the rest as duplicates. Copies that slip in anyway (two sinks racing, or two
//!   batches of one sink in flight at once holding the same id twice in the log) are folded
//!   by merges and ignored by reads (`LIMIT 1 BY id`, `uniqExact(id)`).
//!   Three round trips per batch: the dedup read, the events INSERT, the marks INSERT (below).
//!   The read cannot be dropped or merged: the report of duplicates is part of the contract
//!   (replays must not add rows), 18.16 has no `input()` to filter an INSERT against the
//!   table, and the marks must follow the events. The sink keeps several batches in flight
//!   instead ([`crate::sink`]), so the round trips overlap.
//! - **Dirty sessions** are append-only marks `(site, session_id, bucket, version)` in
//!   `session_marks`; a session is dirty while one of its marks is above its highest
//!   `session_state` version. After the events are inserted, the batch takes one version
//!   for its marks: above the process clock (`next_gen`, µs) *and* above every mark and
//!   state version already stored for its sessions, and inserts one mark per (site,
//!   session_id) of the batch, in one statement (`mark_sessions`, an `INSERT … SELECT` whose
//!   scalar subquery reads the stored versions as the server inserts). Because that version is taken *after* the events are
//!   visible, and above every mark the server holds for the session, a rollup that read the
//!   session's events after seeing mark V either saw the new events or leaves a mark above
//!   V: clock skew between processes cannot hide an event.
//!   The one deliberate difference from SQLite: the sessions of **duplicate** events are
//!   marked again too. Without a transaction, a crash between the events INSERT and the marks
//!   INSERT would otherwise leave those sessions un-rolled-up forever after the replay (P5);
//!   a recompute is idempotent, so the numbers never change, only work is repeated.
//!   `dirty_sessions` returns a shard's sessions (`bucket % modulus IN (owned…)`, the owned
//!   residues bound as a tuple) by their oldest uncovered mark.
//!
//! # Rollups
//! [`Warehouse::write_sessions`] replaces the rows of each session table by table, then
//! inserts the `session_state` rows. Each table's replace is idempotent on its own, so a
//! crash anywhere leaves the marks in place and the next pass repairs every table:
//! - **Additive parts** (pages, grid, elements, their `el_cells`, scroll, zones, surveys,
//!   journeys, problems):
//!   `SummingMergeTree` tables keyed by (site, day, session_id, device, bot, key) with signed
//!   counters. A replace reads the session's current net rows (`sum()` per key), and inserts
//!   `new − net` per key where non-zero (one INSERT per table); re-running reads the new net,
//!   so it inserts nothing. Reads sum per (day, device, bot, key) over sessions and drop rows
//!   whose integer counters are all 0 (`HAVING`); merges remove such rows too. `el_x_sum` and
//!   `el_y_sum` are `Float64` sums: exact for the binary fractions the tests use, otherwise
//!   within rounding of the order of additions (and reset to 0 when `el_n` is 0).
//! - **Per-session parts** (sessions, session details, answers, feedback): one row per key
//!   ((site, day, session_id, session key or event id)), `ReplacingMergeTree(gen)` with a
//!   `deleted` tombstone. A replace reads the session's live rows (newest `gen` per key, not
//!   deleted), inserts the new rows that differ under a new `gen` (above the clock and above
//!   the live rows' gens) and tombstones for the keys no longer produced. Reads take the
//!   newest `gen` per key (`ORDER BY gen DESC LIMIT 1 BY …`) and drop tombstones; merges
//!   fold superseded gens. Tombstones stay until retention drops their day.
//! - Nested lists (a session's steps, a detail row's pages / elements / replays, a
//!   multi-choice answer) are **parallel `Array` columns**: RowBinary encodes `Vec<T>` as
//!   `Array(T)` natively on 18.16 and current releases, the values stay typed and queryable
//!   (`arrayJoin`), and no JSON function is needed on 18.16. An answer is stored as
//!   `value_type` + `value_number` / `value_text` / `value_choices`, a feedback rating as
//!   `has_rating` + `rating` (no `Nullable`).
//! - The write needs one writer per session at a time (the rollup shards are disjoint, and
//!   with Kafka the leases of [`crate::model::rows::leases`] are exclusive); two
//!   writers racing on one session could apply a delta twice, which the session's next
//!   recompute repairs. Reads right after an INSERT see it (one server, no replication).
//! - **Cleanup**: at most every [`ClickHouseWarehouse::set_cleanup_every`] (default 10 min)
//!   a write starts, in the background, `ALTER TABLE session_marks DELETE WHERE version < C`
//!   with C = the older of the oldest still-dirty mark and now − 10 min (the grace period,
//!   which process clocks must agree within). Every mark below C is covered by its
//!   session's state, so this never makes a session clean. Bound: the marks table holds the
//!   marks of the last grace period and cleanup period, plus every mark since the oldest
//!   still-dirty one (a session that stays dirty holds the cleanup back). `session_state`
//!   keeps one row per session after merges and is read only for the sessions having marks
//!   (`IN` on the marks).
//! - **Sites**: `ReplacingMergeTree(updated_at)`, read with `FINAL`.
//!
//! # Errors
//! Every ClickHouse failure is a [`ClickHouseError`] inside the `anyhow::Error`; use
//! [`is_retryable`] / [`error_class`] to tell retryable failures from refused data.
//! [`Warehouse::insert_events`] returns the typed [`StoreError`] ([`store_error`]).

pub mod error;
pub mod rows;
pub mod sql;

pub use error::{error_class, is_retryable, store_error, ClickHouseError, ErrorClass};

use super::{bucket_of, DirtySession, InsertReport, Part, RollupQuery, SessionRollup, Shard, StoreError, Warehouse};
use crate::event::{Answer, DeviceClass, Event, Payload, SurveyKind};
use crate::model::forget::ForgetRecord;
use crate::model::rows::{
    AnswerRow, DayRollup, Dims, ElCell, ElementRow, FeedbackRow, GridRow, JourneyKind, JourneyRow, PageRow,
    ProblemKind, ProblemRow, ReplayMeta, ScrollRow, SessionDetailRow, SessionElement, SessionPage, SessionRow, Step,
    SurveyRow, ZoneRow, DAY_MS,
};
use crate::model::token::ApiToken;
use crate::sites::Site;
use anyhow::Context;
use async_trait::async_trait;
use clickhouse::sql::Identifier;
use clickhouse::{Client, Row, RowOwned, RowRead, RowWrite};
use rows::*;
use serde::Serialize;
use sql::name;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Largest query text ClickHouse parses (18.16 defaults to 256 KiB; a batch of 10k event ids
/// is about 400 KB).
const MAX_QUERY_SIZE: &str = "67108864";

/// Longest wait for one query or for ClickHouse to finish an INSERT (a hung server must not
/// stall the sink forever: the timeout is a retryable error).
const QUERY_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest wait to send one chunk of an INSERT.
const SEND_TIMEOUT: Duration = Duration::from_secs(60);

/// Dirty marks younger than this are never deleted by the cleanup, covered or not: a mark
/// version comes from a process clock, and a mark may be inserted a moment after its version
/// was taken. Process clocks must agree within this.
const CLEANUP_GRACE: Duration = Duration::from_secs(600);

/// Session ids per query (`session_id IN (…)`), and so per read of a rollup table.
const CHUNK: usize = 2000;

/// The ClickHouse warehouse. See the module docs.
pub struct ClickHouseWarehouse {
    client: Client,
    database: String,
    cleanup_every_ms: AtomicU64,
    last_cleanup: Mutex<Instant>,
    /// Where [`Warehouse::dirty_sessions`] starts reading the marks (see [`Watermark`]).
    watermark: Mutex<Option<Watermark>>,
    /// The shard [`Warehouse::fence_takeover`] last waited for.
    fenced: Mutex<Option<Shard>>,
}

/// The dirty-marks watermark of one shard: every mark below `since` was covered by its
/// session's state when last looked at, so a scan reads only the marks at or above it (a
/// few seconds of marks, instead of every mark since the last cleanup: the join with the
/// states is what costs). Marks are µs clock readings of the sinks; `since` is the oldest
/// uncovered mark found minus [`WATERMARK_MARGIN_US`], or the clock minus it when none was,
/// so a sink whose clock lags by less than the margin is never missed. A different shard
/// (a rebalance) starts from 0, and every [`FULL_SCAN_EVERY`] a scan reads every mark
/// again, which catches a sink lagging by more. `session_marks` is partitioned by the hour
/// of `version`, so a scan from the watermark reads the newest partitions only.
struct Watermark {
    shard: String,
    since: u64,
    full_at: Instant,
}

/// See [`Watermark`]: 30 s.
const WATERMARK_MARGIN_US: u64 = 30_000_000;
/// See [`Watermark`]: as often as the cleanup of covered marks.
const FULL_SCAN_EVERY: Duration = Duration::from_secs(600);

/// A list bound as a SQL tuple, `('a', 'b')`, for `x IN ?` (18.16 has no `IN [array]`).
/// Never empty: callers check.
struct Tuple<'a, T>(&'a [T]);

impl<T: Serialize> Serialize for Tuple<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(self.0.len())?;
        for x in self.0 {
            t.serialize_element(x)?;
        }
        t.end()
    }
}

/// The distinct strings of `items`, sorted.
fn distinct<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    items.collect::<BTreeSet<_>>().into_iter().collect()
}

/// A unique, increasing id from the clock: µs since the epoch, bumped past the last one handed
/// out in this process. Used for mark versions, per-session row generations and site versions.
fn next_gen() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = now_micros();
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(l) => last = l,
        }
    }
}

fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// `YYYY-MM-DD` of the `Date` holding `day` (ms), clamped like the `day` column.
fn date_string(day: i64) -> String {
    let ms = Date::of_ms(day).0 as i64 * DAY_MS;
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "1970-01-01".into())
}

fn wrap<T>(op: &str, r: clickhouse::error::Result<T>) -> anyhow::Result<T> {
    r.map_err(|e| anyhow::Error::new(ClickHouseError::new(op, e)))
}

/// Run a request with [`QUERY_TIMEOUT`]; a timeout is a retryable `TimedOut`.
async fn timed<T>(op: &str, fut: impl std::future::Future<Output = clickhouse::error::Result<T>>) -> anyhow::Result<T> {
    match tokio::time::timeout(QUERY_TIMEOUT, fut).await {
        Ok(r) => wrap(op, r),
        Err(_) => wrap(op, Err(clickhouse::error::Error::TimedOut)),
    }
}

/// The analytic columns of an event: (selector, zone, x, y, scroll depth, name).
fn wide(e: &Event) -> (&str, &str, f64, f64, f64, &str) {
    match &e.payload {
        Payload::Click {
            x, y, selector, zone, ..
        } => (selector, zone.as_deref().unwrap_or(""), *x, *y, 0.0, ""),
        Payload::Scroll { depth, .. } => ("", "", 0.0, 0.0, *depth, ""),
        Payload::Zone { zone, .. } => ("", zone, 0.0, 0.0, 0.0, ""),
        Payload::Feedback { selector, .. } => (selector.as_deref().unwrap_or(""), "", 0.0, 0.0, 0.0, ""),
        Payload::Custom { name, .. } => ("", "", 0.0, 0.0, 0.0, name),
        Payload::SurveyResponse { survey_id, .. } => ("", "", 0.0, 0.0, 0.0, survey_id),
        Payload::Replay { recording_id, .. } => ("", "", 0.0, 0.0, 0.0, recording_id),
        Payload::Pageview { .. } => ("", "", 0.0, 0.0, 0.0, ""),
    }
}

/// The rows of some sessions, per table, as stored (gen 0, not deleted).
#[derive(Default)]
struct ChRows {
    pages: Vec<PagesCh>,
    grid: Vec<GridCh>,
    elements: Vec<ElementsCh>,
    el_cells: Vec<ElCellsCh>,
    scroll: Vec<ScrollCh>,
    zones: Vec<ZonesCh>,
    surveys: Vec<SurveysCh>,
    journeys: Vec<JourneysCh>,
    problems: Vec<ProblemsCh>,
    sessions: Vec<SessionsCh>,
    details: Vec<DetailsCh>,
    answers: Vec<AnswersCh>,
    feedback: Vec<FeedbackCh>,
}

fn n64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn u64of(n: i64) -> u64 {
    n.max(0) as u64
}

fn dims_of(day: i64, device: &str, bot: u8) -> Dims {
    Dims {
        day,
        device: DeviceClass::parse(device).unwrap_or(DeviceClass::Unknown),
        bot: bot != 0,
    }
}

impl ChRows {
    fn of(site: &str, rollups: &[&SessionRollup]) -> ChRows {
        let mut out = ChRows::default();
        for sr in rollups {
            let sid = sr.session_id.as_str();
            let r = &sr.rows;
            let base = |d: &Dims| {
                (
                    site.to_string(),
                    d.day,
                    sid.to_string(),
                    d.device.as_str().to_string(),
                    d.bot as u8,
                )
            };
            for p in &r.pages {
                let (site, day, session_id, device, bot) = base(&p.dims);
                out.pages.push(PagesCh {
                    site,
                    day,
                    session_id,
                    device,
                    bot,
                    page: p.page.clone(),
                    pageviews: n64(p.pageviews),
                    clicks: n64(p.clicks),
                    quick_backs: n64(p.quick_backs),
                    fold_n: n64(p.fold_n),
                    viewport_h_sum: n64(p.viewport_h_sum),
                    doc_h_sum: n64(p.doc_h_sum),
                });
            }
            for g in &r.grid {
                let (site, day, session_id, device, bot) = base(&g.dims);
                out.grid.push(GridCh {
                    site,
                    day,
                    session_id,
                    device,
                    bot,
                    page: g.page.clone(),
                    cx: g.cx,
                    cy: g.cy,
                    clicks: n64(g.count),
                });
            }
            for e in &r.elements {
                let (site, day, session_id, device, bot) = base(&e.dims);
                for c in &e.el_cells {
                    out.el_cells.push(ElCellsCh {
                        site: site.clone(),
                        day,
                        session_id: session_id.clone(),
                        device: device.clone(),
                        bot,
                        page: e.page.clone(),
                        selector: e.selector.clone(),
                        zone: e.zone.clone(),
                        x: c.x,
                        y: c.y,
                        clicks: n64(c.count),
                    });
                }
                out.elements.push(ElementsCh {
                    site,
                    day,
                    session_id,
                    device,
                    bot,
                    page: e.page.clone(),
                    selector: e.selector.clone(),
                    zone: e.zone.clone(),
                    clicks: n64(e.clicks),
                    rage_clicks: n64(e.rage_clicks),
                    dead_clicks: n64(e.dead_clicks),
                    el_n: n64(e.el_n),
                    el_x_sum: e.el_x_sum,
                    el_y_sum: e.el_y_sum,
                });
            }
            for s in &r.scroll {
                let (site, day, session_id, device, bot) = base(&s.dims);
                out.scroll.push(ScrollCh {
                    site,
                    day,
                    session_id,
                    device,
                    bot,
                    page: s.page.clone(),
                    depth: s.depth,
                    pageviews: n64(s.pageviews),
                });
            }
            for z in &r.zones {
                let (site, day, session_id, device, bot) = base(&z.dims);
                out.zones.push(ZonesCh {
                    site,
                    day,
                    session_id,
                    device,
                    bot,
                    page: z.page.clone(),
                    zone: z.zone.clone(),
                    exposed: n64(z.exposed),
                    clicked: n64(z.clicked),
                    exposed_clicked: n64(z.exposed_clicked),
                    visible_ms_sum: n64(z.visible_ms_sum),
                    hovered: n64(z.hovered),
                    hover_ms_sum: n64(z.hover_ms_sum),
                    hesitation_n: n64(z.hesitation_n),
                    hesitation_ms_sum: n64(z.hesitation_ms_sum),
                    click_sessions: n64(z.click_sessions),
                    converted_sessions: n64(z.converted_sessions),
                });
            }
            for s in &r.surveys {
                let (site, day, session_id, device, bot) = base(&s.dims);
                out.surveys.push(SurveysCh {
                    site,
                    day,
                    session_id,
                    device,
                    bot,
                    survey_id: s.survey_id.clone(),
                    question_id: s.question_id.clone(),
                    kind: s.kind.as_str().to_string(),
                    value: s.value.clone(),
                    responses: n64(s.responses),
                });
            }
            for j in &r.journeys {
                let (site, day, session_id, device, bot) = base(&j.dims);
                out.journeys.push(JourneysCh {
                    site,
                    day,
                    session_id,
                    device,
                    bot,
                    kind: j.kind.code(),
                    from_page: j.from.clone(),
                    to_page: j.to.clone(),
                    count: n64(j.count),
                    bounces: n64(j.bounces),
                });
            }
            for p in &r.problems {
                let (site, day, session_id, device, bot) = base(&p.dims);
                out.problems.push(ProblemsCh {
                    site,
                    day,
                    session_id,
                    device,
                    bot,
                    kind: p.kind.code(),
                    page: p.page.clone(),
                    selector: p.selector.clone(),
                    zone: p.zone.clone(),
                    rage_clicks: n64(p.rage_clicks),
                    dead_clicks: n64(p.dead_clicks),
                    quick_backs: n64(p.quick_backs),
                    sessions: n64(p.sessions),
                });
            }
            for s in &r.sessions {
                let (site, day, session_id, device, bot) = base(&s.dims);
                out.sessions.push(SessionsCh {
                    site,
                    day,
                    session_id,
                    session_key: s.session_key.clone(),
                    gen: 0,
                    deleted: 0,
                    device,
                    bot,
                    visitor_id: s.visitor_id.clone(),
                    start_ts: s.start,
                    end_ts: s.end,
                    pageviews: s.pageviews,
                    step_ts: s.steps.iter().map(|x| x.ts).collect(),
                    step_name: s.steps.iter().map(|x| x.name.clone()).collect(),
                    step_custom: s.steps.iter().map(|x| x.custom as u8).collect(),
                    clicks: s.clicks,
                    rage_clicks: s.rage_clicks,
                    dead_clicks: s.dead_clicks,
                    quick_backs: s.quick_backs,
                    feedback: s.feedback,
                    survey_responses: s.survey_responses,
                });
            }
            for d in &r.session_details {
                let (site, day, session_id, device, bot) = base(&d.dims);
                out.details.push(DetailsCh {
                    site,
                    day,
                    session_id,
                    session_key: d.session_key.clone(),
                    gen: 0,
                    deleted: 0,
                    device,
                    bot,
                    page_page: d.pages.iter().map(|p| p.page.clone()).collect(),
                    page_pageviews: d.pages.iter().map(|p| p.pageviews).collect(),
                    page_clicks: d.pages.iter().map(|p| p.clicks).collect(),
                    page_rage_clicks: d.pages.iter().map(|p| p.rage_clicks).collect(),
                    page_dead_clicks: d.pages.iter().map(|p| p.dead_clicks).collect(),
                    page_quick_backs: d.pages.iter().map(|p| p.quick_backs).collect(),
                    el_page: d.elements.iter().map(|e| e.page.clone()).collect(),
                    el_selector: d.elements.iter().map(|e| e.selector.clone()).collect(),
                    el_zone: d.elements.iter().map(|e| e.zone.clone()).collect(),
                    el_clicks: d.elements.iter().map(|e| e.clicks).collect(),
                    el_rage_clicks: d.elements.iter().map(|e| e.rage_clicks).collect(),
                    el_dead_clicks: d.elements.iter().map(|e| e.dead_clicks).collect(),
                    replay_recording_id: d.replays.iter().map(|x| x.recording_id.clone()).collect(),
                    replay_started_at: d.replays.iter().map(|x| x.started_at).collect(),
                    replay_ended_at: d.replays.iter().map(|x| x.ended_at).collect(),
                    replay_pages: d.replays.iter().map(|x| x.pages).collect(),
                    replay_events: d.replays.iter().map(|x| x.events).collect(),
                    replay_bytes: d.replays.iter().map(|x| x.bytes).collect(),
                    replay_clicks: d.replays.iter().map(|x| x.clicks).collect(),
                    replay_errors: d.replays.iter().map(|x| x.errors).collect(),
                    negative_feedback: d.negative_feedback,
                });
            }
            for a in &r.answers {
                let (site, day, session_id, device, bot) = base(&a.dims);
                let (value_type, value_number, value_text, value_choices) = match &a.value {
                    Answer::Number(n) => (0, *n, String::new(), Vec::new()),
                    Answer::Text(t) => (1, 0.0, t.clone(), Vec::new()),
                    Answer::Choices(c) => (2, 0.0, String::new(), c.clone()),
                };
                out.answers.push(AnswersCh {
                    site,
                    day,
                    session_id,
                    id: a.id.clone(),
                    gen: 0,
                    deleted: 0,
                    device,
                    bot,
                    ts: a.ts,
                    survey_id: a.survey_id.clone(),
                    question_id: a.question_id.clone(),
                    kind: a.kind.as_str().to_string(),
                    value_type,
                    value_number,
                    value_text,
                    value_choices,
                    page: a.page.clone(),
                    session_key: a.session_key.clone(),
                    survey_trigger: a.trigger.clone(),
                });
            }
            for f in &r.feedback {
                let (site, day, session_id, device, bot) = base(&f.dims);
                out.feedback.push(FeedbackCh {
                    site,
                    day,
                    session_id,
                    id: f.id.clone(),
                    gen: 0,
                    deleted: 0,
                    device,
                    bot,
                    ts: f.ts,
                    page: f.page.clone(),
                    session_key: f.session_key.clone(),
                    has_rating: f.rating.is_some() as u8,
                    rating: f.rating.unwrap_or(0),
                    comment: f.comment.clone(),
                    category: f.category.clone(),
                    selector: f.selector.clone(),
                });
            }
        }
        out
    }
}

fn survey_kind(kind: &str) -> anyhow::Result<SurveyKind> {
    SurveyKind::parse(kind).with_context(|| format!("unknown survey kind {kind:?} in ClickHouse"))
}

fn session_row(r: SessionsCh) -> SessionRow {
    SessionRow {
        dims: dims_of(r.day, &r.device, r.bot),
        session_key: r.session_key,
        visitor_id: r.visitor_id,
        start: r.start_ts,
        end: r.end_ts,
        pageviews: r.pageviews,
        steps: r
            .step_ts
            .into_iter()
            .zip(r.step_name)
            .zip(r.step_custom)
            .map(|((ts, name), custom)| Step {
                ts,
                name,
                custom: custom != 0,
            })
            .collect(),
        clicks: r.clicks,
        rage_clicks: r.rage_clicks,
        dead_clicks: r.dead_clicks,
        quick_backs: r.quick_backs,
        feedback: r.feedback,
        survey_responses: r.survey_responses,
    }
}

fn detail_row(r: DetailsCh) -> SessionDetailRow {
    let pages = (0..r.page_page.len())
        .map(|i| SessionPage {
            page: r.page_page[i].clone(),
            pageviews: r.page_pageviews.get(i).copied().unwrap_or(0),
            clicks: r.page_clicks.get(i).copied().unwrap_or(0),
            rage_clicks: r.page_rage_clicks.get(i).copied().unwrap_or(0),
            dead_clicks: r.page_dead_clicks.get(i).copied().unwrap_or(0),
            quick_backs: r.page_quick_backs.get(i).copied().unwrap_or(0),
        })
        .collect();
    let elements = (0..r.el_page.len())
        .map(|i| SessionElement {
            page: r.el_page[i].clone(),
            selector: r.el_selector.get(i).cloned().unwrap_or_default(),
            zone: r.el_zone.get(i).cloned().unwrap_or_default(),
            clicks: r.el_clicks.get(i).copied().unwrap_or(0),
            rage_clicks: r.el_rage_clicks.get(i).copied().unwrap_or(0),
            dead_clicks: r.el_dead_clicks.get(i).copied().unwrap_or(0),
        })
        .collect();
    let replays = (0..r.replay_recording_id.len())
        .map(|i| ReplayMeta {
            recording_id: r.replay_recording_id[i].clone(),
            started_at: r.replay_started_at.get(i).copied().unwrap_or(0),
            ended_at: r.replay_ended_at.get(i).copied().unwrap_or(0),
            pages: r.replay_pages.get(i).copied().unwrap_or(0),
            events: r.replay_events.get(i).copied().unwrap_or(0),
            bytes: r.replay_bytes.get(i).copied().unwrap_or(0),
            clicks: r.replay_clicks.get(i).copied().unwrap_or(0),
            errors: r.replay_errors.get(i).copied().unwrap_or(0),
        })
        .collect();
    SessionDetailRow {
        dims: dims_of(r.day, &r.device, r.bot),
        session_key: r.session_key,
        pages,
        elements,
        replays,
        negative_feedback: r.negative_feedback,
    }
}

fn answer_row(r: AnswersCh) -> anyhow::Result<AnswerRow> {
    Ok(AnswerRow {
        dims: dims_of(r.day, &r.device, r.bot),
        id: r.id,
        ts: r.ts,
        survey_id: r.survey_id,
        question_id: r.question_id,
        kind: survey_kind(&r.kind)?,
        value: match r.value_type {
            0 => Answer::Number(r.value_number),
            1 => Answer::Text(r.value_text),
            _ => Answer::Choices(r.value_choices),
        },
        page: r.page,
        session_key: r.session_key,
        trigger: r.survey_trigger,
    })
}

fn feedback_row(r: FeedbackCh) -> FeedbackRow {
    FeedbackRow {
        dims: dims_of(r.day, &r.device, r.bot),
        id: r.id,
        ts: r.ts,
        page: r.page,
        session_key: r.session_key,
        rating: (r.has_rating != 0).then_some(r.rating),
        comment: r.comment,
        category: r.category,
        selector: r.selector,
    }
}

/// Migrations that (re)create rollup tables: after their statements, every stored session
/// of every site is marked dirty, so the rollup job refills the tables from the raw events
/// in its bounded batches.
const RECOMPUTE_AFTER: &[u32] = &[5];

/// The end (exclusive, ms) of the days [`RECOMPUTE_AFTER`] marks: 2100-01-01, past any
/// stored event.
const RECOMPUTE_TO_DAY: i64 = 4_102_444_800_000;

/// The `session_state` version of a session whose rows are being written for the first
/// time: below every mark version (µs clock readings), so the session stays dirty, and not
/// fresh, until its write completes.
const BEGUN_VERSION: u64 = 1;

/// The longest [`Warehouse::fence_takeover`] waits for writes of another process.
const FENCE_MAX_WAIT: Duration = Duration::from_secs(60);

/// The retention deletes of every rollup table (`drop_before`).
const ROLLUP_DELETES: [&str; 13] = [
    name::DELETE_ROLLUP_PAGES_BEFORE,
    name::DELETE_ROLLUP_GRID_BEFORE,
    name::DELETE_ROLLUP_ELEMENTS_BEFORE,
    name::DELETE_ROLLUP_EL_CELLS_BEFORE,
    name::DELETE_ROLLUP_SCROLL_BEFORE,
    name::DELETE_ROLLUP_ZONES_BEFORE,
    name::DELETE_ROLLUP_SURVEYS_BEFORE,
    name::DELETE_ROLLUP_SESSIONS_BEFORE,
    name::DELETE_ROLLUP_SESSION_DETAILS_BEFORE,
    name::DELETE_ROLLUP_ANSWERS_BEFORE,
    name::DELETE_ROLLUP_FEEDBACK_BEFORE,
    name::DELETE_ROLLUP_JOURNEYS_BEFORE,
    name::DELETE_ROLLUP_PROBLEMS_BEFORE,
];

impl ClickHouseWarehouse {
    /// Connect to `url` (`http://host:8123`, credentials may be in the URL), create
    /// `database` if missing, apply the migrations and check the schema. Errors name what is
    /// wrong; a schema mismatch lists every differing column.
    pub async fn connect(url: &str, database: &str) -> anyhow::Result<Arc<ClickHouseWarehouse>> {
        let valid = !database.is_empty()
            && database.len() <= 200
            && database.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && database.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        anyhow::ensure!(
            valid,
            "ClickHouse database name {database:?} must be letters, digits and _ (not starting with a digit)"
        );
        let mut parsed = url::Url::parse(url).with_context(|| format!("ClickHouse URL {url:?}"))?;
        let user = percent_encoding::percent_decode_str(parsed.username())
            .decode_utf8_lossy()
            .into_owned();
        let password = parsed
            .password()
            .map(|p| percent_encoding::percent_decode_str(p).decode_utf8_lossy().into_owned());
        let _ = parsed.set_username("");
        let _ = parsed.set_password(None);
        let mut base = Client::default()
            .with_url(parsed.as_str().trim_end_matches('/'))
            .with_validation(false)
            .with_setting("max_query_size", MAX_QUERY_SIZE);
        if !user.is_empty() {
            base = base.with_user(user);
        }
        if let Some(p) = password {
            base = base.with_password(p);
        }
        timed(
            name::CREATE_DATABASE,
            base.query(sql::sql(name::CREATE_DATABASE))
                .bind(Identifier(database))
                .execute(),
        )
        .await
        .with_context(|| format!("creating the ClickHouse database {database} at {}", parsed.as_str()))?;
        let w = ClickHouseWarehouse {
            client: base.with_database(database),
            database: database.to_string(),
            cleanup_every_ms: AtomicU64::new(600_000),
            watermark: Mutex::new(None),
            fenced: Mutex::new(None),
            last_cleanup: Mutex::new(Instant::now()),
        };
        w.migrate().await.context("applying the ClickHouse migrations")?;
        w.check_schema().await?;
        Ok(Arc::new(w))
    }

    /// How often `write_rollup` may start the background deletion of superseded rollup
    /// generations (default 10 min).
    pub fn set_cleanup_every(&self, every: Duration) {
        self.cleanup_every_ms.store(every.as_millis() as u64, Ordering::Relaxed);
    }

    /// The database this warehouse uses.
    pub fn database(&self) -> &str {
        &self.database
    }

    async fn exec(&self, op: &str) -> anyhow::Result<()> {
        timed(op, self.client.query(sql::sql(op)).execute()).await
    }

    async fn insert<R: Row + RowWrite>(&self, op: &'static str, rows: &[R::Value<'_>]) -> anyhow::Result<()> {
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

    /// Apply every migration not yet recorded in `schema_migrations`, in order.
    async fn migrate(&self) -> anyhow::Result<()> {
        self.exec(name::CREATE_SCHEMA_MIGRATIONS).await?;
        let applied: Vec<AppliedRow> = timed(
            name::APPLIED_MIGRATIONS,
            self.client.query(sql::sql(name::APPLIED_MIGRATIONS)).fetch_all(),
        )
        .await?;
        for a in &applied {
            match sql::MIGRATIONS.iter().find(|m| m.version == a.version) {
                Some(m) if m.checksum() != a.checksum => anyhow::bail!(
                    "migration {} was applied to database {} as {} with checksum {}, but this \
                     build's file has checksum {}: applied migrations must not be edited (add a new one)",
                    m.version,
                    self.database,
                    a.name,
                    a.checksum,
                    m.checksum()
                ),
                Some(_) => {}
                None => tracing::warn!(
                    version = a.version,
                    name = %a.name,
                    "database has a migration this build does not know (a newer Sightline?); the schema check decides"
                ),
            }
        }
        for m in sql::MIGRATIONS {
            if applied.iter().any(|a| a.version == m.version) {
                continue;
            }
            for (i, stmt) in m.statements().iter().enumerate() {
                timed(m.name, self.client.query_raw(stmt).execute())
                    .await
                    .with_context(|| format!("migration {} statement {}", m.name, i + 1))?;
            }
            if RECOMPUTE_AFTER.contains(&m.version) {
                // Before the migration is recorded: a crash in between applies it again.
                for site in Warehouse::sites(self).await? {
                    let n = self.mark_dirty(&site.key, 0, RECOMPUTE_TO_DAY).await?;
                    tracing::info!(site = %site.key, sessions = n, migration = m.name, "rollup tables recreated: sessions marked for recompute");
                }
            }
            let checksum = m.checksum();
            self.insert::<MigrationRow>(
                name::INSERT_SCHEMA_MIGRATION,
                &[MigrationRow {
                    version: m.version,
                    name: m.name,
                    checksum: &checksum,
                    applied_at: chrono::Utc::now().timestamp_millis(),
                }],
            )
            .await?;
            tracing::info!(migration = m.name, database = %self.database, "applied ClickHouse migration");
        }
        Ok(())
    }

    /// `DESCRIBE TABLE`: (name, type) of every column.
    pub async fn describe(&self, table: &str) -> anyhow::Result<Vec<(String, String)>> {
        let mut cur = wrap(
            name::DESCRIBE_TABLE,
            self.client
                .query(sql::sql(name::DESCRIBE_TABLE))
                .bind(Identifier(table))
                .fetch_bytes("TabSeparated"),
        )?;
        let bytes = timed(name::DESCRIBE_TABLE, cur.collect()).await?;
        let text = String::from_utf8_lossy(&bytes);
        let unescape = |s: &str| s.replace("\\'", "'").replace("\\\\", "\\");
        Ok(text
            .lines()
            .filter_map(|l| {
                let mut f = l.split('\t');
                Some((unescape(f.next()?), unescape(f.next()?)))
            })
            .collect())
    }

    /// Compare every Rust row we insert with `DESCRIBE TABLE` of its table; an error listing
    /// every mismatch if any (P4).
    pub async fn check_schema(&self) -> anyhow::Result<()> {
        let mut problems = Vec::new();
        for (op, cols) in insert_rows() {
            let table = sql::get(op).insert.as_deref().expect("insert table");
            let described = self.describe(table).await?;
            problems.extend(schema_mismatches(table, &cols, &described));
        }
        anyhow::ensure!(
            problems.is_empty(),
            "the ClickHouse schema of database {} does not match this build of Sightline; refusing to start:\n  {}\n\
             (the tables are created by src/warehouse/clickhouse/migrations/; fix the table or add a migration)",
            self.database,
            problems.join("\n  ")
        );
        Ok(())
    }

    async fn fetch<R: RowOwned + RowRead>(&self, op: &str, q: clickhouse::query::Query) -> anyhow::Result<Vec<R>> {
        timed(op, q.fetch_all::<R>()).await
    }

    /// [`Warehouse::insert_events`] with every failure a [`ClickHouseError`] in the chain: the
    /// dedup read (`existing_ids`), the events INSERT, then the marks (`mark_sessions`), three
    /// round trips (see the module docs).
    async fn store_events(&self, events: &[Event]) -> anyhow::Result<InsertReport> {
        if events.is_empty() {
            return Ok(InsertReport::default());
        }
        // The first copy of each id in the batch; later copies are duplicates.
        let mut seen = HashSet::new();
        let unique: Vec<&Event> = events.iter().filter(|e| seen.insert(e.id.as_str())).collect();
        let sites = distinct(unique.iter().map(|e| e.site.as_str()));
        let sessions = distinct(unique.iter().map(|e| e.session_id.as_str()));
        let ids: Vec<&str> = unique.iter().map(|e| e.id.as_str()).collect();

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
        let fresh: Vec<&Event> = unique.iter().copied().filter(|e| !existing.contains(&e.id)).collect();
        let report = InsertReport {
            inserted: fresh.len() as u64,
            duplicates: (events.len() - fresh.len()) as u64,
        };

        let records: Vec<Blob> = fresh.iter().map(|e| Blob(e.encode())).collect();
        let rows: Vec<EventRow> = fresh
            .iter()
            .zip(records)
            .map(|(e, record)| {
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
                    record,
                }
            })
            .collect();
        self.insert::<EventRow>(name::INSERT_EVENTS, &rows).await?;
        let insert_done = Instant::now();

        // Mark every session of the batch (now that its events are visible), duplicates'
        // sessions included: see the module docs.
        let marks: BTreeSet<(&str, &str)> = unique
            .iter()
            .map(|e| (e.site.as_str(), e.session_id.as_str()))
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
    async fn insert_marks(&self, marks: &BTreeSet<(&str, &str)>, floor: u64) -> anyhow::Result<()> {
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
    async fn replace_additive<R>(
        &self,
        net_op: &'static str,
        insert_op: &'static str,
        site: &str,
        days: &[i64],
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
        let mut have: BTreeMap<R::Key, R> = BTreeMap::new();
        for chunk in ids.chunks(CHUNK) {
            let q = self
                .client
                .query(sql::sql(net_op))
                .bind(site)
                .bind(Tuple(days))
                .bind(Tuple(chunk));
            for r in self.fetch::<R>(net_op, q).await? {
                have.insert(r.key(), r);
            }
        }
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
    async fn replace_per_session<R>(
        &self,
        live_op: &'static str,
        insert_op: &'static str,
        site: &str,
        days: &[i64],
        ids: &[&str],
        new: Vec<R>,
    ) -> anyhow::Result<()>
    where
        R: PerSession + RowOwned + RowRead + RowWrite,
    {
        let want: BTreeMap<R::Key, R> = new.into_iter().map(|r| (r.key(), r)).collect();
        let mut have: BTreeMap<R::Key, R> = BTreeMap::new();
        for chunk in ids.chunks(CHUNK) {
            let q = self
                .client
                .query(sql::sql(live_op))
                .bind(site)
                .bind(Tuple(days))
                .bind(Tuple(chunk));
            for r in self.fetch::<R>(live_op, q).await? {
                have.insert(r.key(), r);
            }
        }
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

    async fn insert_owned<R: RowOwned + RowWrite>(&self, op: &'static str, rows: &[R]) -> anyhow::Result<()> {
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
        let fresh: BTreeSet<&str> = done.iter().filter(|d| d.fresh).map(|d| d.session_id.as_str()).collect();
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

    /// [`Self::write_parts`], where the old rows of the sessions of `fresh` (never written)
    /// are not looked up.
    async fn write_parts_of(
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
        // Where the sessions' old rows can be: the days their events span. A session with no
        // events left (erased) has no span: then every day the site has rows is searched.
        let mut days: BTreeSet<i64> = BTreeSet::new();
        for r in &wanted {
            let mut d = r.first_day;
            while d <= r.last_day {
                days.insert(d);
                d += DAY_MS;
            }
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
        let days: Vec<i64> = days.into_iter().collect();
        let ch = ChRows::of(site, &wanted);
        for part in Part::ALL.into_iter().filter(|p| parts.contains(p)) {
            match part {
                Part::Pages => {
                    self.replace_additive(name::NET_PAGES, name::INSERT_PAGES, site, &days, &ids, ch.pages.clone())
                        .await?
                }
                Part::Grid => {
                    self.replace_additive(name::NET_GRID, name::INSERT_GRID, site, &days, &ids, ch.grid.clone())
                        .await?
                }
                Part::Elements => {
                    self.replace_additive(
                        name::NET_ELEMENTS,
                        name::INSERT_ELEMENTS,
                        site,
                        &days,
                        &ids,
                        ch.elements.clone(),
                    )
                    .await?;
                    self.replace_additive(
                        name::NET_EL_CELLS,
                        name::INSERT_EL_CELLS,
                        site,
                        &days,
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
                        &days,
                        &ids,
                        ch.scroll.clone(),
                    )
                    .await?
                }
                Part::Zones => {
                    self.replace_additive(name::NET_ZONES, name::INSERT_ZONES, site, &days, &ids, ch.zones.clone())
                        .await?
                }
                Part::Journeys => {
                    self.replace_additive(
                        name::NET_JOURNEYS,
                        name::INSERT_JOURNEYS,
                        site,
                        &days,
                        &ids,
                        ch.journeys.clone(),
                    )
                    .await?
                }
                Part::Problems => {
                    self.replace_additive(
                        name::NET_PROBLEMS,
                        name::INSERT_PROBLEMS,
                        site,
                        &days,
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
                        &days,
                        &ids,
                        ch.surveys.clone(),
                    )
                    .await?
                }
                Part::Sessions => {
                    self.replace_per_session(
                        name::LIVE_SESSIONS,
                        name::INSERT_SESSIONS,
                        site,
                        &days,
                        &ids,
                        ch.sessions.clone(),
                    )
                    .await?
                }
                Part::SessionDetails => {
                    self.replace_per_session(
                        name::LIVE_SESSION_DETAILS,
                        name::INSERT_SESSION_DETAILS,
                        site,
                        &days,
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
                        &days,
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
                        &days,
                        &ids,
                        ch.feedback.clone(),
                    )
                    .await?
                }
            }
        }
        Ok(())
    }

    /// Delete the dirty marks below the oldest still-dirty one and older than the grace
    /// period (best-effort `ALTER TABLE … DELETE`, run asynchronously by ClickHouse). Returns
    /// the cutoff version used.
    pub async fn cleanup_marks(&self) -> anyhow::Result<u64> {
        cleanup_marks(&self.client, CLEANUP_GRACE).await
    }

    /// [`Self::cleanup_marks`] with another grace period (tests: zero).
    pub async fn cleanup_marks_older_than(&self, grace: Duration) -> anyhow::Result<u64> {
        cleanup_marks(&self.client, grace).await
    }

    fn maybe_cleanup(&self) {
        {
            let mut last = match self.last_cleanup.lock() {
                Ok(l) => l,
                Err(_) => return,
            };
            if last.elapsed() < Duration::from_millis(self.cleanup_every_ms.load(Ordering::Relaxed)) {
                return;
            }
            *last = Instant::now();
        }
        let client = self.client.clone();
        tokio::spawn(async move {
            if let Err(e) = cleanup_marks(&client, CLEANUP_GRACE).await {
                tracing::warn!(error = %format!("{e:#}"), "deleting covered ClickHouse dirty marks failed; will retry");
            }
        });
    }

    /// Wait until `done` says a mutation finished (18.16 has no `mutations_sync`).
    async fn wait_for<F, Fut>(&self, what: &str, mut done: F) -> anyhow::Result<()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<bool>>,
    {
        let deadline = Instant::now() + Duration::from_secs(300);
        while !done().await? {
            anyhow::ensure!(
                Instant::now() < deadline,
                "ClickHouse did not finish {what} within 300 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    }
}

async fn cleanup_marks(client: &Client, grace: Duration) -> anyhow::Result<u64> {
    let oldest: Vec<OldestDirtyRow> = timed(
        name::OLDEST_DIRTY_MARK,
        client.query(sql::sql(name::OLDEST_DIRTY_MARK)).fetch_all(),
    )
    .await?;
    let mut cutoff = now_micros().saturating_sub(grace.as_micros() as u64);
    if let Some(o) = oldest.first().filter(|o| o.dirty > 0) {
        cutoff = cutoff.min(o.since);
    }
    timed(
        name::DELETE_COVERED_MARKS,
        client
            .query(sql::sql(name::DELETE_COVERED_MARKS))
            .bind(cutoff)
            .execute(),
    )
    .await?;
    Ok(cutoff)
}

#[async_trait]
impl Warehouse for ClickHouseWarehouse {
    async fn insert_events(&self, events: &[Event]) -> Result<InsertReport, StoreError> {
        self.store_events(events).await.map_err(store_error)
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

    async fn read_rollup(&self, q: &RollupQuery) -> anyhow::Result<DayRollup> {
        let mut out = DayRollup::default();
        if q.parts.is_empty() || q.from_day >= q.to_day {
            return Ok(out);
        }
        let site = q.site.as_str();
        let filter = q.page.is_some() as u8;
        let page = q.page.as_deref().unwrap_or("");
        // Additive parts: sums per (day, device, bot, key) over sessions.
        let sums = |op: &'static str, paged: bool| {
            let query = self
                .client
                .query(sql::sql(op))
                .bind(site)
                .bind(q.from_day)
                .bind(q.to_day);
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
                            cx: r.cx,
                            cy: r.cy,
                            count: u64of(r.clicks),
                        })
                        .collect();
                }
                Part::Elements => {
                    let cells: Vec<ElCellsSumCh> =
                        self.fetch(name::SUM_EL_CELLS, sums(name::SUM_EL_CELLS, true)).await?;
                    type ElKey = (Dims, String, String, String);
                    let mut by_element: BTreeMap<ElKey, Vec<ElCell>> = BTreeMap::new();
                    for c in cells {
                        by_element
                            .entry((dims_of(c.day, &c.device, c.bot), c.page, c.selector, c.zone))
                            .or_default()
                            .push(ElCell {
                                x: c.x,
                                y: c.y,
                                count: u64of(c.clicks),
                            });
                    }
                    let rows: Vec<ElementsSumCh> =
                        self.fetch(name::SUM_ELEMENTS, sums(name::SUM_ELEMENTS, true)).await?;
                    out.elements = rows
                        .into_iter()
                        .map(|r| {
                            let dims = dims_of(r.day, &r.device, r.bot);
                            let mut el_cells = by_element
                                .remove(&(dims, r.page.clone(), r.selector.clone(), r.zone.clone()))
                                .unwrap_or_default();
                            el_cells.sort();
                            let located = r.el_n != 0;
                            ElementRow {
                                dims,
                                page: r.page,
                                selector: r.selector,
                                zone: r.zone,
                                clicks: u64of(r.clicks),
                                rage_clicks: u64of(r.rage_clicks),
                                dead_clicks: u64of(r.dead_clicks),
                                el_n: u64of(r.el_n),
                                el_x_sum: if located { r.el_x_sum } else { 0.0 },
                                el_y_sum: if located { r.el_y_sum } else { 0.0 },
                                el_cells,
                            }
                        })
                        .collect();
                }
                Part::Scroll => {
                    let rows: Vec<ScrollSumCh> = self.fetch(name::SUM_SCROLL, sums(name::SUM_SCROLL, true)).await?;
                    out.scroll = rows
                        .into_iter()
                        .map(|r| ScrollRow {
                            dims: dims_of(r.day, &r.device, r.bot),
                            page: r.page,
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
                Part::Problems => {
                    let rows: Vec<ProblemsSumCh> =
                        self.fetch(name::SUM_PROBLEMS, sums(name::SUM_PROBLEMS, false)).await?;
                    out.problems = rows
                        .into_iter()
                        .map(|r| {
                            Ok(ProblemRow {
                                dims: dims_of(r.day, &r.device, r.bot),
                                kind: ProblemKind::from_code(r.kind)
                                    .ok_or_else(|| anyhow::anyhow!("rollup_problems: kind {}", r.kind))?,
                                page: r.page,
                                selector: r.selector,
                                zone: r.zone,
                                rage_clicks: u64of(r.rage_clicks),
                                dead_clicks: u64of(r.dead_clicks),
                                quick_backs: u64of(r.quick_backs),
                                sessions: u64of(r.sessions),
                            })
                        })
                        .collect::<anyhow::Result<_>>()?;
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
        let rollup_rows = || async {
            let mut q = self.client.query(sql::sql(name::ROLLUP_ROWS_BEFORE));
            for _ in ROLLUP_DELETES {
                q = q.bind(site).bind(before_day);
            }
            anyhow::Ok(
                self.fetch::<RowsCountRow>(name::ROLLUP_ROWS_BEFORE, q)
                    .await?
                    .first()
                    .map(|r| r.rows)
                    .unwrap_or(0),
            )
        };
        let before = count().await?;
        for op in std::iter::once(name::DELETE_EVENTS_BEFORE).chain(ROLLUP_DELETES.iter().copied()) {
            let q = self.client.query(sql::sql(op)).bind(site).bind(before_day);
            timed(op, q.execute()).await?;
        }
        // Mutations run in the background: wait for the raw events and rollup rows to be gone.
        self.wait_for("the retention delete", || async {
            Ok(count().await? == 0 && rollup_rows().await? == 0)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_are_unique_and_increasing() {
        let a = next_gen();
        let b = next_gen();
        assert!(b > a && a > 1_600_000_000_000_000);
    }

    #[test]
    fn date_strings_are_utc_and_clamped() {
        assert_eq!(date_string(1_714_521_600_000), "2024-05-01");
        assert_eq!(date_string(1_714_521_600_000 + DAY_MS - 1), "2024-05-01");
        assert_eq!(date_string(-DAY_MS), "1970-01-01");
    }

    #[test]
    fn tuples_bind_as_sql_tuples() {
        let q = Client::default()
            .query("SELECT 1 WHERE x IN ? AND y IN ?")
            .bind(Tuple(&["a", "b'c"]))
            .bind(Tuple(&[1u64]));
        assert_eq!(
            q.sql_display().to_string(),
            "SELECT 1 WHERE x IN ('a','b\\'c') AND y IN (1)"
        );
    }
}
