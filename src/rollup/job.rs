//! The rollup job: finds (site, day) windows whose raw events changed, recomputes them with
//! [`super::compute_day`] using the site's rules, and atomically replaces their rows. Running
//! it twice over the same events writes the same rows.
//!
//! It also exports what only it knows exactly (see [`crate::metrics`]):
//! - `sightline_rollup_freshness_seconds`: the age of the newest event (`received_at`)
//!   included in a rollup;
//! - today's product signals per site ([`site_signals`]): gauges set to the totals of the
//!   current UTC day's rollup each time that day is recomputed, and read back from the
//!   stored rows for sites this process has not computed today (start-up, a new day, a new
//!   site). Passes of one process run one at a time, so the last computation wins.

use super::{day_of, DayRollup, DAY_MS};
use crate::event::SurveyKind;
use crate::metrics::{self, SiteSignals, MAX_SURVEYS_PER_SITE, METRICS};
use crate::sites::SiteCache;
use crate::warehouse::{Part, RollupQuery, Warehouse};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

/// Rollup parts [`site_signals`] reads.
const SIGNAL_PARTS: [Part; 4] = [Part::Elements, Part::Sessions, Part::Surveys, Part::Feedback];

/// Today's product signals of one site, from a day's rollup: bot-flagged rows left out (as
/// the query API does by default), NPS per survey for at most
/// [`MAX_SURVEYS_PER_SITE`] surveys (the most answered; ties by survey id).
///
/// - rage and dead clicks: sums over the element rows (page views of the day), as the
///   heatmap reports them;
/// - negative feedback: feedback rows of the day rated 1 or 2;
/// - survey responses: per session of the day, its answered (survey, question) pairs,
///   latest answer wins;
/// - NPS: the answers to a survey's `nps` questions pooled, scored like `GET …/voc`
///   ([`super::summarize_answers`]).
pub fn site_signals(r: &DayRollup) -> SiteSignals {
    let mut s = SiteSignals::default();
    for e in r.elements.iter().filter(|e| !e.dims.bot) {
        s.rage_clicks += e.rage_clicks;
        s.dead_clicks += e.dead_clicks;
    }
    s.negative_feedback = r
        .feedback
        .iter()
        .filter(|f| !f.dims.bot && f.rating.is_some_and(|x| x <= 2))
        .count() as u64;
    s.survey_responses = r
        .sessions
        .iter()
        .filter(|x| !x.dims.bot)
        .map(|x| u64::from(x.survey_responses))
        .sum();
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

/// Which UTC day the exported signals describe, and per site the survey ids exported.
struct Today {
    /// UTC midnight, ms; `i64::MIN` before the first pass.
    day: i64,
    /// Sites whose signals for `day` are exported → their exported survey ids.
    sites: HashMap<String, Vec<String>>,
}

static TODAY: LazyLock<Mutex<Today>> = LazyLock::new(|| {
    Mutex::new(Today {
        day: i64::MIN,
        sites: HashMap::new(),
    })
});

/// One pass at a time per process (the timer and `POST /v1/admin/rollup/run` both call
/// [`run_once`]), so an older computation never overwrites a newer one in the gauges.
static PASS: LazyLock<tokio::sync::Mutex<()>> = LazyLock::new(|| tokio::sync::Mutex::new(()));

/// Start a new day's signals when `today` differs from the exported day.
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
    let previous = t.sites.get(site).cloned().unwrap_or_default();
    metrics::set_site_signals(site, s, &previous);
    t.sites
        .insert(site.to_string(), s.nps.iter().map(|(id, ..)| id.clone()).collect());
}

/// Export today's signals of every known site not exported yet, from the stored rows.
async fn seed_missing(warehouse: &dyn Warehouse, sites: &SiteCache, today: i64) {
    let missing: Vec<String> = {
        let t = TODAY.lock().expect("rollup signals lock");
        sites
            .all()
            .into_iter()
            .map(|s| s.key)
            .filter(|k| !t.sites.contains_key(k))
            .collect()
    };
    for site in missing {
        let q = RollupQuery {
            site: site.clone(),
            from_day: today,
            to_day: today + DAY_MS,
            parts: SIGNAL_PARTS.to_vec(),
            page: None,
        };
        match warehouse.read_rollup(&q).await {
            Ok(r) => apply(&site, today, &site_signals(&r), true),
            Err(e) => tracing::warn!(error = %e, site, "could not read today's rollup for the site signals"),
        }
    }
}

/// Recompute every dirty day once. Returns how many (site, day) windows were written.
pub async fn run_once(warehouse: &dyn Warehouse, sites: &SiteCache) -> anyhow::Result<usize> {
    let _one_at_a_time = PASS.lock().await;
    let pass_started = Instant::now();
    let today = day_of(chrono::Utc::now().timestamp_millis());
    roll_day(today);
    let dirty = warehouse.dirty_days(1000).await?;
    METRICS.rollup_dirty_days.set(dirty.len() as i64);
    let mut done = 0;
    for d in dirty {
        let started = Instant::now();
        let rules = sites.get(&d.site).map(|s| s.settings.rules).unwrap_or_default();
        let events = warehouse.session_events_for_day(&d.site, d.day).await?;
        let rollup = super::compute_day(&events, d.day, &rules);
        warehouse.write_rollup(&d.site, d.day, d.version, &rollup).await?;
        if let Some(newest) = events.iter().map(|e| e.received_at).max() {
            metrics::rollup_included(newest);
        }
        if d.day == today {
            apply(&d.site, d.day, &site_signals(&rollup), false);
        }
        METRICS.rollup_runs_total.with_label_values(&["ok"]).inc();
        METRICS
            .rollup_duration_seconds
            .with_label_values::<&str>(&[])
            .observe(started.elapsed().as_secs_f64());
        done += 1;
    }
    seed_missing(warehouse, sites, today).await;
    METRICS
        .rollup_pass_duration_seconds
        .with_label_values::<&str>(&[])
        .observe(pass_started.elapsed().as_secs_f64());
    Ok(done)
}

/// Run [`run_once`] every `every` until the task is dropped.
///
/// `sightline_rollup_freshness_seconds` counts from the job's start until a pass includes an
/// event, so that a job that never gets to include anything after a restart still shows
/// up as stale.
pub async fn run(warehouse: Arc<dyn Warehouse>, sites: Arc<SiteCache>, every: Duration) -> anyhow::Result<()> {
    metrics::rollup_included(chrono::Utc::now().timestamp_millis());
    let mut retention_at = tokio::time::Instant::now();
    loop {
        if let Err(e) = run_once(warehouse.as_ref(), &sites).await {
            METRICS.rollup_runs_total.with_label_values(&["error"]).inc();
            tracing::warn!(error = %e, "rollup pass failed; retrying");
        }
        if tokio::time::Instant::now() >= retention_at {
            match apply_retention(warehouse.as_ref(), &sites.all()).await {
                Ok(_) => retention_at = tokio::time::Instant::now() + Duration::from_secs(3600),
                Err(e) => tracing::warn!(error = %e, "retention pass failed; retrying"),
            }
        }
        tokio::time::sleep(every).await;
    }
}

/// Data retention: for every site that sets `retention_days`, delete its raw events and
/// rollups of the UTC days before the newest `retention_days` days. Returns (site, events
/// deleted) per such site. The rollup role runs it every hour; `sightline retention run` now.
pub async fn apply_retention(
    warehouse: &dyn Warehouse,
    sites: &[crate::sites::Site],
) -> anyhow::Result<Vec<(String, u64)>> {
    let today = day_of(chrono::Utc::now().timestamp_millis());
    let mut out = Vec::new();
    for s in sites {
        if let Some(days) = s.settings.retention_days.filter(|d| *d > 0) {
            let before = today - (days as i64 - 1) * DAY_MS;
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
mod tests {
    use super::*;
    use crate::event::DeviceClass;
    use crate::rollup::{Dims, ElementRow, FeedbackRow, SessionRow, SurveyRow};

    const DAY: i64 = 20_240 * DAY_MS;

    fn dims(bot: bool) -> Dims {
        Dims {
            day: DAY,
            device: DeviceClass::Desktop,
            bot,
        }
    }

    fn element(bot: bool, rage: u64, dead: u64) -> ElementRow {
        ElementRow {
            dims: dims(bot),
            page: "shop.example/".into(),
            selector: "button".into(),
            zone: String::new(),
            clicks: rage + dead,
            rage_clicks: rage,
            dead_clicks: dead,
            el_n: 0,
            el_x_sum: 0.0,
            el_y_sum: 0.0,
            el_cells: Vec::new(),
        }
    }

    fn feedback(bot: bool, rating: Option<u8>) -> FeedbackRow {
        FeedbackRow {
            dims: dims(bot),
            id: "f".into(),
            ts: DAY,
            page: "shop.example/".into(),
            session_key: "s#0".into(),
            rating,
            comment: String::new(),
            category: String::new(),
            selector: String::new(),
        }
    }

    fn session(bot: bool, survey_responses: u32) -> SessionRow {
        SessionRow {
            dims: dims(bot),
            session_key: "s#0".into(),
            visitor_id: "v".into(),
            start: DAY,
            end: DAY,
            pageviews: 1,
            steps: Vec::new(),
            clicks: 0,
            rage_clicks: 0,
            dead_clicks: 0,
            quick_backs: 0,
            feedback: 0,
            survey_responses,
        }
    }

    fn answer(bot: bool, survey: &str, kind: SurveyKind, value: &str, n: u64) -> SurveyRow {
        SurveyRow {
            dims: dims(bot),
            survey_id: survey.into(),
            question_id: "q".into(),
            kind,
            value: value.into(),
            responses: n,
        }
    }

    #[test]
    fn site_signals_sum_the_days_rows_and_leave_bots_out() {
        let r = DayRollup {
            elements: vec![element(false, 2, 3), element(false, 1, 0), element(true, 5, 5)],
            feedback: vec![
                feedback(false, Some(1)),
                feedback(false, Some(2)),
                feedback(false, Some(3)),
                feedback(false, None),
                feedback(true, Some(1)),
            ],
            sessions: vec![session(false, 2), session(false, 1), session(true, 4)],
            ..DayRollup::default()
        };
        let s = site_signals(&r);
        assert_eq!(
            (s.rage_clicks, s.dead_clicks, s.negative_feedback, s.survey_responses),
            (3, 3, 2, 3)
        );
        assert!(s.nps.is_empty());
    }

    #[test]
    fn nps_pools_a_surveys_nps_answers_and_ignores_other_kinds() {
        // [10, 9, 8, 6, 0] → 40 % promoters − 40 % detractors = 0.
        let mut surveys: Vec<SurveyRow> = ["10", "9", "8", "6", "0"]
            .iter()
            .map(|v| answer(false, "s1", SurveyKind::Nps, v, 1))
            .collect();
        surveys.push(answer(true, "s1", SurveyKind::Nps, "0", 7));
        surveys.push(answer(false, "s1", SurveyKind::Csat, "1", 3));
        surveys.push(answer(false, "s2", SurveyKind::Nps, "10", 2));
        let s = site_signals(&DayRollup {
            surveys,
            ..DayRollup::default()
        });
        assert_eq!(s.nps, vec![("s1".to_string(), 0.0, 5), ("s2".to_string(), 100.0, 2)]);
    }

    #[test]
    fn at_most_twenty_surveys_per_site_are_exported_the_most_answered_first() {
        let surveys: Vec<SurveyRow> = (0..25)
            .map(|i| answer(false, &format!("s{i:02}"), SurveyKind::Nps, "10", 1 + (i % 3) as u64))
            .collect();
        let s = site_signals(&DayRollup {
            surveys,
            ..DayRollup::default()
        });
        assert_eq!(s.nps.len(), MAX_SURVEYS_PER_SITE);
        assert!(s.nps.windows(2).all(|w| w[0].2 >= w[1].2));
        // Every survey with 3 answers (i % 3 == 2: 8 of them) made the cut.
        assert_eq!(s.nps.iter().filter(|x| x.2 == 3).count(), 8);
    }
}
