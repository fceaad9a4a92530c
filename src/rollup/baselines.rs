//! Daily baselines of the site goal's funnel step conversion and of NPS (analytics.md,
//! "Regressions"): what `/problems` flags as "new since …" besides the pages' frustration
//! rates ([`super::regressions`]), with the same baseline window and run rule.
//!
//! - **Step conversion** of step k + 1 of the goal funnel (`rules.goal` = `funnel:…`) on a
//!   day (of the site's time zone, `rules.time_zone`): sessions that started that day and reached step k + 1 ÷ those that reached
//!   step k (steps in order, the last within [`FUNNEL_GOAL_WINDOW_MS`] of the first, as the
//!   goal's definition), in percent.
//! - **NPS** of a survey on a day: its `nps` answers of the sessions that started that day
//!   (the survey day totals, as `/voc` counts them), % promoters (9–10) − % detractors (0–6).
//!
//! A day is **below baseline** when, on at least [`MIN_STEP_SESSIONS`] sessions at step k
//! (or [`MIN_NPS_ANSWERS`] answers), its value is below every value of the
//! [`BASELINE_DAYS`] days before it that had any (the baseline's spread), with at least
//! [`MIN_BASELINE_DAYS`] such days, and at most (1 − [`STEP_DROP`]) × their median (step
//! conversion: "down 20 % against its median") or their median − [`NPS_DROP_POINTS`] (NPS).
//! Flagged at the range's last day when that day is below baseline; `since` as for pages.

use super::definitions::round1;
use super::regressions::{run_since, BASELINE_DAYS, LOOKBACK_DAYS, MIN_BASELINE_DAYS};
use super::{FunnelStep, GoalKind, GoalRow, SurveyRow};
use crate::event::SurveyKind;
use crate::model::days;
use chrono_tz::Tz;
use serde::Serialize;
use std::collections::BTreeMap;

/// A day's step conversion must be at most (1 − this) × the baseline median.
pub const STEP_DROP: f64 = 0.2;
/// Fewest sessions at the previous step on the day for a verdict.
pub const MIN_STEP_SESSIONS: u64 = 20;
/// A day's NPS must be at least this many points under the baseline median.
pub const NPS_DROP_POINTS: f64 = 10.0;
/// Fewest NPS answers on the day for a verdict.
pub const MIN_NPS_ANSWERS: u64 = 20;

/// A goal funnel step whose conversion is below its baseline on the range's last day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRegression {
    /// The step (2 = the funnel's second step), and the steps it converts from and to, as
    /// written in the goal.
    pub step: usize,
    pub from: String,
    pub to: String,
    /// First day (`YYYY-MM-DD`, the site's date) of the run of days below baseline.
    pub since: String,
    /// Conversion from `from` to `to` on the last day, %, rounded to 0.1.
    pub conversion_pct: f64,
    /// Median and lowest conversion of the last day's baseline days, %, rounded to 0.1.
    pub baseline_median_pct: f64,
    pub baseline_min_pct: f64,
    /// Sessions that reached `from` on the last day.
    pub sessions: u64,
}

/// A survey whose NPS is below its baseline on the range's last day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NpsRegression {
    pub survey: String,
    /// First day (`YYYY-MM-DD`, the site's date) of the run of days below baseline.
    pub since: String,
    /// NPS on the last day (−100..100), and the median and lowest NPS of its baseline days,
    /// rounded to 0.1.
    pub nps: f64,
    pub baseline_median: f64,
    pub baseline_min: f64,
    /// NPS answers on the last day.
    pub answers: u64,
}

/// Per day the sessions that reached each step of a funnel of `n_steps` steps (index k:
/// reached step k + 1), from the goal rows ([`GoalKind::Step`] rows; others are ignored).
pub fn step_counts<'a>(rows: impl IntoIterator<Item = &'a GoalRow>, n_steps: usize) -> BTreeMap<i64, Vec<u64>> {
    let mut out: BTreeMap<i64, Vec<u64>> = BTreeMap::new();
    for r in rows {
        if r.kind == GoalKind::Step && r.step >= 1 && (r.step as usize) <= n_steps {
            out.entry(r.dims.day).or_insert_with(|| vec![0; n_steps])[r.step as usize - 1] += r.sessions;
        }
    }
    out
}

/// The below-baseline test of one day: `Some((median, min))` of the baseline when `v` is
/// below every baseline value and at most `threshold(median)`.
fn below(v: f64, base: &mut [f64], threshold: impl Fn(f64) -> f64) -> Option<(f64, f64)> {
    if base.len() < MIN_BASELINE_DAYS {
        return None;
    }
    let min = base.iter().copied().fold(f64::MAX, f64::min);
    let med = super::regressions::median(base);
    (v < min && v <= threshold(med)).then_some((med, min))
}

/// Regressed steps of the goal funnel `steps` at `last_day` (a day start of the site's time
/// zone `tz`, ms), from the goal rows of that goal
/// ([`super::impact::read_goal_rows`]; day totals or per session) of days
/// `last_day − LOOKBACK_DAYS ..= last_day` (already filtered by device and bots; other days
/// are ignored).
pub fn step_regressions<'a>(
    rows: impl IntoIterator<Item = &'a GoalRow>,
    steps: &[FunnelStep],
    last_day: i64,
    tz: Tz,
) -> Vec<StepRegression> {
    let first = days::days_before(last_day, LOOKBACK_DAYS, tz);
    let counts = step_counts(
        rows.into_iter()
            .filter(|s| s.dims.day >= first && s.dims.day <= last_day),
        steps.len(),
    );
    let mut out = Vec::new();
    for k in 1..steps.len() {
        // day → (conversion %, sessions at the previous step)
        let series: BTreeMap<i64, (f64, u64)> = counts
            .iter()
            .filter(|(_, c)| c[k - 1] > 0)
            .map(|(&d, c)| (d, (c[k] as f64 * 100.0 / c[k - 1] as f64, c[k - 1])))
            .collect();
        let verdict = |d: i64| -> Option<(f64, f64, f64, u64)> {
            let &(v, n) = series.get(&d).filter(|x| x.1 >= MIN_STEP_SESSIONS)?;
            let mut base: Vec<f64> = (1..=BASELINE_DAYS)
                .filter_map(|i| series.get(&days::days_before(d, i, tz)).map(|x| x.0))
                .collect();
            below(v, &mut base, |med| (1.0 - STEP_DROP) * med).map(|(med, min)| (v, med, min, n))
        };
        if let Some((v, med, min, n)) = verdict(last_day) {
            out.push(StepRegression {
                step: k + 1,
                from: steps[k - 1].name(),
                to: steps[k].name(),
                since: run_since(last_day, tz, |d| verdict(d).is_some()),
                conversion_pct: round1(v),
                baseline_median_pct: round1(med),
                baseline_min_pct: round1(min),
                sessions: n,
            });
        }
    }
    out
}

/// Per day and survey, the NPS answers (the survey rows of its `nps` questions, pooled):
/// (promoters, detractors, numeric answers).
fn nps_counts<'a>(rows: impl IntoIterator<Item = &'a SurveyRow>) -> BTreeMap<(&'a str, i64), (u64, u64, u64)> {
    let mut out: BTreeMap<(&str, i64), (u64, u64, u64)> = BTreeMap::new();
    for r in rows.into_iter().filter(|r| r.kind == SurveyKind::Nps) {
        if let Some(v) = r.value.trim().parse::<f64>().ok().filter(|v| v.is_finite()) {
            let e = out.entry((r.survey_id.as_str(), r.dims.day)).or_default();
            e.0 += if v >= 9.0 { r.responses } else { 0 };
            e.1 += if v <= 6.0 { r.responses } else { 0 };
            e.2 += r.responses;
        }
    }
    out
}

/// Surveys whose NPS is below its baseline at `last_day`, from the survey rows (answer counts
/// per day: the day totals `/voc` sums) of days `last_day − LOOKBACK_DAYS ..= last_day`
/// (filtered by device and bots; other days are ignored).
pub fn nps_regressions<'a>(rows: impl IntoIterator<Item = &'a SurveyRow>, last_day: i64, tz: Tz) -> Vec<NpsRegression> {
    let first = days::days_before(last_day, LOOKBACK_DAYS, tz);
    let mut by_survey: BTreeMap<&str, BTreeMap<i64, (f64, u64)>> = BTreeMap::new();
    for ((survey, day), (p, d, n)) in nps_counts(
        rows.into_iter()
            .filter(|a| a.dims.day >= first && a.dims.day <= last_day),
    ) {
        let nps = (p as f64 - d as f64) * 100.0 / n as f64;
        by_survey.entry(survey).or_default().insert(day, (nps, n));
    }
    let mut out = Vec::new();
    for (survey, series) in by_survey {
        let verdict = |d: i64| -> Option<(f64, f64, f64, u64)> {
            let &(v, n) = series.get(&d).filter(|x| x.1 >= MIN_NPS_ANSWERS)?;
            let mut base: Vec<f64> = (1..=BASELINE_DAYS)
                .filter_map(|i| series.get(&days::days_before(d, i, tz)).map(|x| x.0))
                .collect();
            below(v, &mut base, |med| med - NPS_DROP_POINTS).map(|(med, min)| (v, med, min, n))
        };
        if let Some((v, med, min, n)) = verdict(last_day) {
            out.push(NpsRegression {
                survey: survey.to_string(),
                since: run_since(last_day, tz, |d| verdict(d).is_some()),
                nps: round1(v),
                baseline_median: round1(med),
                baseline_min: round1(min),
                answers: n,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests;
