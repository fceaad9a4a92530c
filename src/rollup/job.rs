//! The rollup job: takes batches of dirty snippet sessions (of what this process owns, its
//! [`Ownership`]), reads their events, recomputes their rows with [`super::compute_sessions`]
//! under the site's rules (on a blocking thread, never on the HTTP runtime), and replaces
//! those sessions' rows in the warehouse. A pass costs in proportion to the sessions that
//! changed; running it twice over the same events writes the same rows. Processes share the
//! work of one site by session bucket: with static shards `0/N … N-1/N` (embedded log), or
//! with buckets leased from a Kafka consumer group ([`super::leases`]), re-read before every
//! batch.
//!
//! It also exports what only it knows exactly (see [`crate::metrics`]):
//! - `sightline_rollup_freshness_seconds`: the age of the newest event (`received_at`)
//!   included in a rollup;
//! - today's product signals per site ([`site_signals`]): gauges set to the totals of the
//!   site's today (its own day, `rules.time_zone`) read back from the warehouse after a pass
//!   touched the site (at most every [`SIGNALS_EVERY`] per site), and for sites this process
//!   has not exported since the last UTC midnight (start-up, a new UTC day, a new site). The
//!   gauges are all cleared at UTC midnight (`roll_day`), not at the site's midnight: after
//!   the site's own midnight its gauges keep the previous day's totals until a pass touches
//!   the site again or UTC midnight comes.

use super::leases::Leases;
use super::{day_of, DayRollup};
use crate::clock::{Clock, SystemClock};
use crate::event::SurveyKind;
use crate::metrics::{self, SiteSignals, MAX_PAGES_PER_SITE, MAX_SURVEYS_PER_SITE, METRICS};
use crate::model::days;
use crate::model::feedback::VocCounts;
use crate::sites::SiteCache;
use crate::warehouse::{DirtySession, Shard};
use crate::warehouse::{Part, RollupQuery, Warehouse};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

/// Rollup parts [`site_signals`] reads.
const SIGNAL_PARTS: [Part; 3] = [Part::Pages, Part::Elements, Part::Surveys];

/// Dirty sessions per batch and worker: each batch takes up to this many times [`workers`]
/// sessions and recomputes them in that many chunks at once (each one events read, one
/// compute on a blocking thread, one write).
pub const BATCH_SESSIONS: usize = 500;

/// Batches per pass at most, so that a pass under steady load ends and signals refresh.
const MAX_BATCHES_PER_PASS: usize = 200;

/// A site's signals are read back at most this often.
pub const SIGNALS_EVERY: Duration = Duration::from_secs(5);

/// Today's product signals of one site, from a day's rollup: bot-flagged rows left out (as
/// the query API does by default), NPS per survey for at most
/// [`MAX_SURVEYS_PER_SITE`] surveys (the most answered; ties by survey id).
///
/// - rage and dead clicks: sums over the element rows (page views of the day), as the
///   heatmap reports them;
/// - negative feedback and survey responses: `voc`, the day's [`VocCounts`] (feedback rated
///   1 or 2; answers, one per answered (survey, question) of a session, latest wins), which
///   the store counts without sending the rows;
/// - NPS: the answers to a survey's `nps` questions pooled, scored like `GET …/voc`
///   ([`super::summarize_answers`]);
/// - per page (the [`MAX_PAGES_PER_SITE`] with the most page views, ties by page key): page
///   views and (rage + dead clicks) per 100 page views, as the heatmap counts them (the
///   rate the regression alert compares with its 7-day median; analytics.md, "Regressions").
///
/// - per step of the goal funnel `goal_steps` (the site's `rules.goal` when it is a
///   `funnel:`) from the second on: the sessions of the day that reached the previous step
///   and the percent of them that reached this one, as the step baseline of `/problems`
///   counts them ([`super::baselines`]), from the goal rows `r.goal` of that goal.
pub fn site_signals(r: &DayRollup, voc: VocCounts, goal_steps: Option<&[super::FunnelStep]>) -> SiteSignals {
    let mut s = SiteSignals::default();
    if let Some(steps) = goal_steps {
        let counts = super::baselines::step_counts(r.goal.iter().filter(|x| !x.dims.bot), steps.len());
        let mut reached = vec![0u64; steps.len()];
        for c in counts.values() {
            for (t, n) in reached.iter_mut().zip(c) {
                *t += n;
            }
        }
        for k in 1..steps.len() {
            if reached[k - 1] > 0 {
                s.steps.push((
                    format!("{} {}", k + 1, steps[k].name()),
                    reached[k - 1],
                    reached[k] as f64 * 100.0 / reached[k - 1] as f64,
                ));
            }
        }
    }
    let mut pages: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for p in r.pages.iter().filter(|p| !p.dims.bot) {
        pages.entry(&p.page).or_default().0 += p.pageviews;
    }
    for e in r.elements.iter().filter(|e| !e.dims.bot) {
        s.rage_clicks += e.rage_clicks;
        s.dead_clicks += e.dead_clicks;
        if let Some(p) = pages.get_mut(e.page.as_str()) {
            p.1 += e.rage_clicks + e.dead_clicks;
        }
    }
    let mut pages: Vec<(String, u64, f64)> = pages
        .into_iter()
        .filter(|(_, (pv, _))| *pv > 0)
        .map(|(page, (pv, n))| (page.to_string(), pv, n as f64 * 100.0 / pv as f64))
        .collect();
    pages.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    pages.truncate(MAX_PAGES_PER_SITE);
    s.pages = pages;
    s.negative_feedback = voc.negative_feedback;
    s.survey_responses = voc.answers;
    let mut nps_counts: BTreeMap<&str, BTreeMap<String, u64>> = BTreeMap::new();
    for row in r.surveys.iter().filter(|x| !x.dims.bot && x.kind == SurveyKind::Nps) {
        *nps_counts
            .entry(&row.survey_id)
            .or_default()
            .entry(row.value.clone())
            .or_default() += row.responses;
    }
    let mut nps: Vec<(String, f64, u64)> = nps_counts
        .into_iter()
        .filter_map(|(id, counts)| {
            let sum = super::summarize_answers(SurveyKind::Nps, &counts);
            let numeric: u64 = counts
                .iter()
                .filter(|(v, _)| v.trim().parse::<f64>().is_ok_and(f64::is_finite))
                .map(|(_, n)| n)
                .sum();
            sum.nps.map(|score| (id.to_string(), score, numeric))
        })
        .collect();
    nps.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    nps.truncate(MAX_SURVEYS_PER_SITE);
    s.nps = nps;
    s
}

/// The UTC day since whose midnight the signals were exported (each site's values are its own
/// today, [`signal_query`]), and per site what was exported.
struct Today {
    /// UTC midnight, ms; `i64::MIN` before the first pass.
    day: i64,
    /// Sites whose signals for `day` are exported → what was exported for them.
    sites: HashMap<String, metrics::Exported>,
    /// Sites whose rows changed since their signals were last read, and when each site's
    /// signals were last read.
    pending: BTreeSet<String>,
    read_at: HashMap<String, Instant>,
}

static TODAY: LazyLock<Mutex<Today>> = LazyLock::new(|| {
    Mutex::new(Today {
        day: i64::MIN,
        sites: HashMap::new(),
        pending: BTreeSet::new(),
        read_at: HashMap::new(),
    })
});

/// One pass at a time per process (the timer and `POST /v1/admin/rollup/run` both call
/// [`run_once`]), so an older computation never overwrites a newer one in the gauges.
static PASS: LazyLock<tokio::sync::Mutex<()>> = LazyLock::new(|| tokio::sync::Mutex::new(()));

/// Clear every site's signals when `today` (a UTC midnight, ms) differs from the exported day.
fn roll_day(today: i64) {
    let mut t = TODAY.lock().expect("rollup signals lock");
    if t.day != today {
        metrics::reset_site_signals();
        t.day = today;
        t.sites.clear();
    }
}

/// Export `s` as `site`'s signals of `day`, if `day` is the exported day. With `only_if_new`
/// (values read back from storage) a site already exported is left alone.
fn apply(site: &str, day: i64, s: &SiteSignals, only_if_new: bool) {
    let mut t = TODAY.lock().expect("rollup signals lock");
    if t.day != day || (only_if_new && t.sites.contains_key(site)) {
        return;
    }
    let before = t.sites.get(site).cloned().unwrap_or_default();
    metrics::set_site_signals(site, s, &before);
    t.sites.insert(site.to_string(), metrics::Exported::of(s));
}

/// Export today's signals of every known site not exported yet, from the stored rows, and
/// drop those of sites no longer known (deleted: their series leave `/metrics`).
async fn seed_missing(warehouse: &dyn Warehouse, sites: &SiteCache, today: i64, now_ms: i64) {
    let known: HashSet<String> = sites.all().into_iter().map(|s| s.key).collect();
    let missing: Vec<String> = {
        let mut t = TODAY.lock().expect("rollup signals lock");
        let gone: Vec<String> = t.sites.keys().filter(|k| !known.contains(*k)).cloned().collect();
        for site in gone {
            if let Some(before) = t.sites.remove(&site) {
                metrics::remove_site_signals(&site, &before);
            }
        }
        known.into_iter().filter(|k| !t.sites.contains_key(k)).collect()
    };
    for site in missing {
        match read_signals(warehouse, sites, &site, now_ms).await {
            Ok(s) => apply(&site, today, &s, true),
            Err(e) => tracing::warn!(error = %e, site, "could not read today's rollup for the site signals"),
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Snippet sessions recomputed.
    pub sessions: u64,
    /// Events read to recompute them.
    pub events: u64,
}

/// Which dirty sessions a rollup process takes.
#[derive(Clone)]
pub enum Ownership {
    /// A fixed shard: `--rollup-shard` (embedded log), or [`Shard::NONE`] for a process
    /// without the rollup role on the Kafka log.
    Fixed(Shard),
    /// The buckets leased from the Kafka group now, re-read before every batch; a revoke
    /// waits for the batch in flight ([`super::leases`]).
    Leased(Arc<Leases>),
}

impl From<Shard> for Ownership {
    fn from(s: Shard) -> Ownership {
        Ownership::Fixed(s)
    }
}

impl std::fmt::Debug for Ownership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ownership::Fixed(s) => write!(f, "Fixed({s})"),
            Ownership::Leased(l) => write!(f, "Leased({})", l.shard()),
        }
    }
}

impl Ownership {
    /// What this process owns now.
    pub fn shard(&self) -> Shard {
        match self {
            Ownership::Fixed(s) => s.clone(),
            Ownership::Leased(l) => l.shard(),
        }
    }

    /// The shard of one batch, and (leased) the guard to hold until its last write.
    async fn batch(&self) -> (Shard, Option<super::leases::Batch>) {
        match self {
            Ownership::Fixed(s) => (s.clone(), None),
            Ownership::Leased(l) => {
                let b = l.batch().await;
                (b.shard.clone(), Some(b))
            }
        }
    }
}

/// Recompute the dirty sessions of what `owner` owns (a [`Shard`], or [`Ownership`]), in
/// batches of [`BATCH_SESSIONS`], until none is left (or [`MAX_BATCHES_PER_PASS`] batches
/// ran), then refresh the product signals of the sites touched: each at most every
/// [`SIGNALS_EVERY`], or all of them now with `signals_now` (`POST /v1/admin/rollup/run`).
///
/// With leases, each batch re-reads the owned buckets and holds the batch lock until its last
/// write, so a revoke never returns while a batch on the revoked buckets runs.
pub async fn run_once(
    warehouse: &dyn Warehouse,
    sites: &SiteCache,
    owner: impl Into<Ownership>,
    signals_now: bool,
) -> anyhow::Result<PassReport> {
    run_once_on(&SystemClock, warehouse, sites, owner, signals_now).await
}

/// [`run_once`] with now (the UTC day the product signals are cleared on, and each site's
/// today) read from `clock`.
pub async fn run_once_on(
    clock: &dyn Clock,
    warehouse: &dyn Warehouse,
    sites: &SiteCache,
    owner: impl Into<Ownership>,
    signals_now: bool,
) -> anyhow::Result<PassReport> {
    let owner = owner.into();
    let _one_at_a_time = PASS.lock().await;
    let pass_started = Instant::now();
    let today = day_of(clock.now_ms());
    roll_day(today);
    let mut report = PassReport::default();
    for _ in 0..MAX_BATCHES_PER_PASS {
        let (shard, _lease) = owner.batch().await;
        let workers = workers();
        warehouse.fence_takeover(&shard).await?;
        let dirty = warehouse.dirty_sessions(BATCH_SESSIONS * workers, &shard).await?;
        METRICS.rollup_dirty_sessions.set(dirty.len() as i64);
        if dirty.is_empty() {
            break;
        }
        // Up to `workers` chunks of one site each, recomputed at once: the compute of one
        // overlaps the reads and writes of the others; memory stays within the events of
        // BATCH_SESSIONS × workers sessions.
        let mut by_site: BTreeMap<String, Vec<DirtySession>> = BTreeMap::new();
        for d in dirty {
            by_site.entry(d.site.clone()).or_default().push(d);
        }
        let chunks = by_site.into_iter().flat_map(|(site, done)| {
            let per = done.len().div_ceil(workers).max(1);
            done.chunks(per).map(|c| (site.clone(), c.to_vec())).collect::<Vec<_>>()
        });
        let done =
            futures_util::future::try_join_all(chunks.map(|(site, done)| recompute(warehouse, sites, site, done)))
                .await?;
        for (sessions, events) in done {
            report.sessions += sessions;
            report.events += events;
        }
    }
    refresh_signals(warehouse, sites, today, clock.now_ms(), signals_now).await;
    seed_missing(warehouse, sites, today, clock.now_ms()).await;
    if report.sessions > 0 {
        release_free_heap();
    }
    METRICS
        .rollup_pass_duration_seconds
        .with_label_values::<&str>(&[])
        .observe(pass_started.elapsed().as_secs_f64());
    Ok(report)
}

/// Hand glibc's free pages back to the system after a pass (`malloc_trim`). A pass
/// allocates the events and rows of up to `BATCH_SESSIONS` × workers sessions on
/// blocking-pool threads. With glibc as the only allocator, their arenas kept that freed
/// memory: before this trim, a 10-minute soak at 10,000 events/s grew the process from 113
/// to 600 MiB (docs/performance.md, "Steady state: soak"). The `sightline` binary now
/// allocates them with jemalloc, which returns them by itself (`src/main.rs`); there the trim
/// only reaches what SQLite freed on those threads. It still serves a process on glibc's
/// allocator (the library embedded, the in-process tests).
fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks and trims the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Batches recomputed at once: the cores of the machine, at most 8.
fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8)
}

/// Recompute the sessions `done` of `site` and replace their rows; returns (sessions,
/// events read).
async fn recompute(
    warehouse: &dyn Warehouse,
    sites: &SiteCache,
    site: String,
    done: Vec<DirtySession>,
) -> anyhow::Result<(u64, u64)> {
    let started = Instant::now();
    let rules = sites.get(&site).map(|s| s.settings.rules).unwrap_or_default();
    let ids: Vec<String> = done.iter().map(|d| d.session_id.clone()).collect();
    let events = warehouse.session_events(&site, &ids).await?;
    let newest = events.iter().map(|e| e.received_at).max();
    let n_events = events.len() as u64;
    let rows = tokio::task::spawn_blocking(move || super::compute_sessions(events, &rules)).await?;
    warehouse.write_sessions(&site, &done, &rows).await?;
    if let Some(newest) = newest {
        metrics::rollup_included(newest);
    }
    TODAY.lock().expect("rollup signals lock").pending.insert(site);
    METRICS.rollup_runs_total.with_label_values(&["ok"]).inc();
    METRICS.rollup_sessions_total.inc_by(done.len() as u64);
    METRICS
        .rollup_duration_seconds
        .with_label_values::<&str>(&[])
        .observe(started.elapsed().as_secs_f64());
    Ok((done.len() as u64, n_events))
}

/// Read back today's signals of the sites whose rows changed, each at most every
/// [`SIGNALS_EVERY`] unless `now`.
async fn refresh_signals(warehouse: &dyn Warehouse, sites: &SiteCache, today: i64, now_ms: i64, now: bool) {
    let due: Vec<String> = {
        let mut t = TODAY.lock().expect("rollup signals lock");
        let due: Vec<String> = t
            .pending
            .iter()
            .filter(|s| now || t.read_at.get(*s).is_none_or(|at| at.elapsed() >= SIGNALS_EVERY))
            .cloned()
            .collect();
        for s in &due {
            t.pending.remove(s);
            t.read_at.insert(s.clone(), Instant::now());
        }
        due
    };
    for site in due {
        match read_signals(warehouse, sites, &site, now_ms).await {
            Ok(s) => apply(&site, today, &s, false),
            Err(e) => {
                tracing::warn!(error = %e, site, "could not read today's rollup for the site signals");
                TODAY.lock().expect("rollup signals lock").pending.insert(site);
            }
        }
    }
}

/// Today's signals of `site` (its own day, in its time zone) at `now_ms`: the day's rows,
/// and the goal rows of its goal when that is a funnel (the goal's step conversion,
/// [`super::impact::read_goal_rows`]).
async fn read_signals(
    warehouse: &dyn Warehouse,
    sites: &SiteCache,
    site: &str,
    now_ms: i64,
) -> anyhow::Result<SiteSignals> {
    let rules = sites.get(site).map(|s| s.settings.rules).unwrap_or_default();
    let from_day = days::day_start(now_ms, rules.time_zone);
    let q = RollupQuery {
        site: site.to_string(),
        from_day,
        to_day: days::next_day(from_day, rules.time_zone),
        parts: SIGNAL_PARTS.to_vec(),
        page: None,
        segment: Default::default(),
    };
    let mut r = warehouse.read_rollup(&q).await?;
    let voc = warehouse.voc_counts(&q).await?;
    let raw = rules.goal.as_deref().unwrap_or_default();
    let goal = super::impact::Goal::parse(raw).ok();
    let steps = match &goal {
        Some(g @ super::impact::Goal::Funnel(steps)) => {
            r.goal = super::impact::read_goal_rows(warehouse, &q, raw, g).await?;
            Some(steps.as_slice())
        }
        _ => None,
    };
    Ok(site_signals(&r, voc, steps))
}

/// Run [`run_once_on`] over what `owner` owns every `every`, and retention every hour, both on
/// `clock`'s day, until the task is dropped.
///
/// `sightline_rollup_freshness_seconds` counts from the job's start until a pass includes an
/// event, so that a job that never gets to include anything after a restart still shows
/// up as stale.
pub async fn run(
    clock: Arc<dyn Clock>,
    warehouse: Arc<dyn Warehouse>,
    sites: Arc<SiteCache>,
    every: Duration,
    owner: Ownership,
) -> anyhow::Result<()> {
    metrics::rollup_included(clock.now_ms());
    let mut retention_at = tokio::time::Instant::now();
    loop {
        if let Err(e) = run_once_on(clock.as_ref(), warehouse.as_ref(), &sites, owner.clone(), false).await {
            METRICS.rollup_runs_total.with_label_values(&["error"]).inc();
            tracing::warn!(error = %e, "rollup pass failed; retrying");
        }
        if tokio::time::Instant::now() >= retention_at {
            match apply_retention_on(clock.as_ref(), warehouse.as_ref(), &sites.all()).await {
                Ok(_) => retention_at = tokio::time::Instant::now() + Duration::from_secs(3600),
                Err(e) => tracing::warn!(error = %e, "retention pass failed; retrying"),
            }
        }
        tokio::time::sleep(every).await;
    }
}

/// Data retention: for every site that sets `retention_days`, delete its raw events and
/// session recordings (by event time, `ts`) and rollup rows (by their `day`) before the
/// newest `retention_days` days of the site's time zone (`rules.time_zone`; its today counts
/// as one). Returns (site, events deleted) per such site. The rollup role runs it every hour; `sightline retention run` now.
pub async fn apply_retention(
    warehouse: &dyn Warehouse,
    sites: &[crate::sites::Site],
) -> anyhow::Result<Vec<(String, u64)>> {
    apply_retention_on(&SystemClock, warehouse, sites).await
}

/// [`apply_retention`] with today read from `clock`.
pub async fn apply_retention_on(
    clock: &dyn Clock,
    warehouse: &dyn Warehouse,
    sites: &[crate::sites::Site],
) -> anyhow::Result<Vec<(String, u64)>> {
    let mut out = Vec::new();
    for s in sites {
        if let Some(n) = s.settings.retention_days.filter(|d| *d > 0) {
            // The site's today counts as one of its days.
            let tz = s.settings.rules.time_zone;
            let before = days::days_before(days::day_start(clock.now_ms(), tz), n as i64 - 1, tz);
            let days = n;
            let n = warehouse.drop_before(&s.key, before).await?;
            if n > 0 {
                tracing::info!(site = %s.key, days, events = n, "retention: deleted events of older days");
            }
            out.push((s.key.clone(), n));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
