//! Per-site product signals of the site's current day (its `rules.time_zone`, default UTC:
//! rage and dead clicks, negative feedback, survey responses, NPS per survey), as gauges.

use super::*;

/// Today's product signals of one site, from its rollup rows of its current day (its time
/// zone).
///
/// Exported as **gauges of the day's totals**, not counters: the rollup job recomputes a
/// whole (site, day) whenever one of its sessions changes (late events, replays, a rules
/// change), so the only exactly-known quantity is the day's total, and setting a gauge to it
/// can never double-count on recomputation. Incrementing a counter by the difference
/// between two computations would double-count whenever two processes (or the timer and
/// `POST /v1/admin/rollup/run`) compute the same day. Every site's gauges are cleared at UTC
/// midnight and set again from the site's today; after the site's own midnight they hold
/// the new day's totals from the next pass that touches the site (until then, or until UTC
/// midnight, the previous day's). Alert rules compare them with the same time of day on
/// earlier days.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SiteSignals {
    /// Rage clicks (one per burst), clicks.
    pub rage_clicks: u64,
    /// Dead clicks, clicks.
    pub dead_clicks: u64,
    /// Feedback rated 1 or 2 (of 5), submissions.
    pub negative_feedback: u64,
    /// Survey answers, one per (survey, question, session), answers.
    pub survey_responses: u64,
    /// Per survey id (at most [`MAX_SURVEYS_PER_SITE`]): (NPS score −100..100, numeric answers).
    pub nps: Vec<(String, f64, u64)>,
    /// Per page key (at most [`MAX_PAGES_PER_SITE`], busiest first): (page views,
    /// (rage + dead clicks) per 100 page views).
    pub pages: Vec<(String, u64, f64)>,
    /// Per step of the site goal's funnel from the second on (label `<n> <step>`, e.g.
    /// `2 event:checkout`): (sessions today that reached the previous step, % of them that
    /// reached this one). Empty unless `rules.goal` is a `funnel:`.
    pub steps: Vec<(String, u64, f64)>,
}

/// What was exported for a site, so series no longer produced can be removed: survey ids,
/// page keys and goal step labels.
#[derive(Debug, Clone, Default)]
pub struct Exported {
    pub surveys: Vec<String>,
    pub pages: Vec<String>,
    pub steps: Vec<String>,
}

impl Exported {
    /// What `s` exports.
    pub fn of(s: &SiteSignals) -> Exported {
        Exported {
            surveys: s.nps.iter().map(|(id, ..)| id.clone()).collect(),
            pages: s.pages.iter().map(|(p, ..)| p.clone()).collect(),
            steps: s.steps.iter().map(|(p, ..)| p.clone()).collect(),
        }
    }
}

/// Export `s` as today's signals of `site`; `before` is what was exported for it before,
/// whose series are removed when no longer in `s`.
pub fn set_site_signals(site: &str, s: &SiteSignals, before: &Exported) {
    let (previous, previous_pages) = (&before.surveys, &before.pages);
    let m = &*METRICS;
    for old in &before.steps {
        if !s.steps.iter().any(|(p, ..)| p == old) {
            let _ = m.goal_step_conversion_pct.remove_label_values(&[site, old]);
            let _ = m.goal_step_sessions.remove_label_values(&[site, old]);
        }
    }
    for (step, sessions, pct) in &s.steps {
        m.goal_step_conversion_pct.with_label_values(&[site, step]).set(*pct);
        m.goal_step_sessions
            .with_label_values(&[site, step])
            .set(i64::try_from(*sessions).unwrap_or(i64::MAX));
    }
    let gi = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    m.site_rage_clicks.with_label_values(&[site]).set(gi(s.rage_clicks));
    m.site_dead_clicks.with_label_values(&[site]).set(gi(s.dead_clicks));
    m.site_negative_feedback
        .with_label_values(&[site])
        .set(gi(s.negative_feedback));
    m.site_survey_responses
        .with_label_values(&[site])
        .set(gi(s.survey_responses));
    for old in previous {
        if !s.nps.iter().any(|(id, ..)| id == old) {
            let _ = m.site_nps.remove_label_values(&[site, old]);
            let _ = m.site_nps_responses.remove_label_values(&[site, old]);
        }
    }
    for (survey, nps, n) in &s.nps {
        m.site_nps.with_label_values(&[site, survey]).set(*nps);
        m.site_nps_responses.with_label_values(&[site, survey]).set(gi(*n));
    }
    for old in previous_pages {
        if !s.pages.iter().any(|(p, ..)| p == old) {
            let _ = m.page_frustration_per_100_pageviews.remove_label_values(&[site, old]);
            let _ = m.page_pageviews.remove_label_values(&[site, old]);
        }
    }
    for (page, pageviews, rate) in &s.pages {
        m.page_frustration_per_100_pageviews
            .with_label_values(&[site, page])
            .set(*rate);
        m.page_pageviews.with_label_values(&[site, page]).set(gi(*pageviews));
    }
}

/// Remove the signals of `site` (a deleted site): its site gauges, and the survey, page and
/// goal step series exported for it (`before`).
pub fn remove_site_signals(site: &str, before: &Exported) {
    let (previous, previous_pages) = (&before.surveys, &before.pages);
    let m = &*METRICS;
    for step in &before.steps {
        let _ = m.goal_step_conversion_pct.remove_label_values(&[site, step]);
        let _ = m.goal_step_sessions.remove_label_values(&[site, step]);
    }
    for g in [
        &m.site_rage_clicks,
        &m.site_dead_clicks,
        &m.site_negative_feedback,
        &m.site_survey_responses,
    ] {
        let _ = g.remove_label_values(&[site]);
    }
    for survey in previous {
        let _ = m.site_nps.remove_label_values(&[site, survey]);
        let _ = m.site_nps_responses.remove_label_values(&[site, survey]);
    }
    for page in previous_pages {
        let _ = m.page_frustration_per_100_pageviews.remove_label_values(&[site, page]);
        let _ = m.page_pageviews.remove_label_values(&[site, page]);
    }
}

/// Remove every site's signals (a new UTC day started; the rollup job sets them again from
/// each site's today).
pub fn reset_site_signals() {
    let m = &*METRICS;
    m.site_rage_clicks.reset();
    m.site_dead_clicks.reset();
    m.site_negative_feedback.reset();
    m.site_survey_responses.reset();
    m.site_nps.reset();
    m.site_nps_responses.reset();
    m.page_frustration_per_100_pageviews.reset();
    m.page_pageviews.reset();
    m.goal_step_conversion_pct.reset();
    m.goal_step_sessions.reset();
}
