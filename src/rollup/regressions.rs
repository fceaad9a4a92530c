//! Regressions of a page's frustration rate against its daily baseline (analytics.md,
//! "Regressions"): what `/problems` flags as "new since …".
//!
//! Per page and day (of the site's time zone), the **frustration rate** is (rage clicks + dead clicks) per 100
//! page views: the signals of the `/problems` page rows (sessions that started that day)
//! over the page views of the page rows (page views of that day). A day is **above baseline** when its rate is above every rate of the
//! [`BASELINE_DAYS`] days before it that had page views (the baseline's spread), at least
//! [`RATIO`] times their median, on at least [`MIN_PAGEVIEWS`] page views and with at least
//! [`MIN_BASELINE_DAYS`] baseline days. A page is flagged at the range's last day when that
//! day is above baseline; `since` is the first day of the run of consecutive days above
//! baseline that ends there.

use super::definitions::round1;
use super::{Dims, PageRow, ProblemKind, ProblemRow};
use crate::model::days;
use chrono_tz::Tz;
use serde::Serialize;
use std::collections::BTreeMap;

/// Days before a day that form its baseline.
pub const BASELINE_DAYS: i64 = 7;
/// Fewest baseline days with page views for a verdict.
pub const MIN_BASELINE_DAYS: usize = 3;
/// A day's rate must be at least this many times the baseline median.
pub const RATIO: f64 = 2.0;
/// Fewest page views on the day for a verdict.
pub const MIN_PAGEVIEWS: u64 = 20;
/// Days of rows [`page_regressions`] needs before the range's last day: the longest run it
/// looks back over plus that run's baseline.
pub const LOOKBACK_DAYS: i64 = 2 * BASELINE_DAYS;

/// A page whose frustration rate is above its baseline on the range's last day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Regression {
    /// First day (`YYYY-MM-DD`, the site's date) of the run of days above baseline.
    pub since: String,
    /// (rage + dead clicks) per 100 page views on the last day, rounded to 0.1.
    pub rate_per_100: f64,
    /// Median and largest rate of the last day's baseline days, rounded to 0.1.
    pub baseline_median_per_100: f64,
    /// Largest rate of the last day's baseline days (the top of its spread), rounded to 0.1.
    pub baseline_max_per_100: f64,
}

/// The median of `v` (sorted in place); `v` must not be empty.
pub(super) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Per page (page key) the regression at `last_day` (a day start of `tz`, ms), from page rows and
/// problem rows ([`ProblemKind::Page`]; others are ignored) of days `last_day − LOOKBACK_DAYS ..= last_day` (rows must already be
/// filtered by device and bots; other days are ignored). Pages not flagged are absent.
pub fn page_regressions<'a>(
    pages: impl IntoIterator<Item = &'a PageRow>,
    problems: impl IntoIterator<Item = &'a ProblemRow>,
    last_day: i64,
    tz: Tz,
) -> BTreeMap<String, Regression> {
    let before = |d: i64, k: i64| days::days_before(d, k, tz);
    // (page, day) → (page views, rage + dead)
    let mut days: BTreeMap<(&str, i64), (u64, u64)> = BTreeMap::new();
    let first = before(last_day, LOOKBACK_DAYS);
    let in_window = |d: &Dims| d.day >= first && d.day <= last_day;
    for p in pages.into_iter().filter(|p| in_window(&p.dims)) {
        days.entry((&p.page, p.dims.day)).or_default().0 += p.pageviews;
    }
    for e in problems
        .into_iter()
        .filter(|e| e.kind == ProblemKind::Page && in_window(&e.dims))
    {
        days.entry((&e.page, e.dims.day)).or_default().1 += e.rage_clicks + e.dead_clicks;
    }
    let mut by_page: BTreeMap<&str, BTreeMap<i64, (u64, u64)>> = BTreeMap::new();
    for ((page, day), v) in days {
        by_page.entry(page).or_default().insert(day, v);
    }
    let rate = |(pv, n): (u64, u64)| n as f64 * 100.0 / pv as f64;
    let mut out = BTreeMap::new();
    for (page, series) in by_page {
        // The verdict of day `d`: Some((rate, median, max)) when above baseline.
        let above = |d: i64| -> Option<(f64, f64, f64)> {
            let today = series.get(&d).copied().filter(|v| v.0 >= MIN_PAGEVIEWS)?;
            let mut base: Vec<f64> = (1..=BASELINE_DAYS)
                .filter_map(|k| series.get(&before(d, k)).copied())
                .filter(|v| v.0 > 0)
                .map(rate)
                .collect();
            if base.len() < MIN_BASELINE_DAYS {
                return None;
            }
            let max = base.iter().copied().fold(f64::MIN, f64::max);
            let med = median(&mut base);
            let r = rate(today);
            (r > max && r >= RATIO * med && r > 0.0).then_some((r, med, max))
        };
        let Some((r, med, max)) = above(last_day) else {
            continue;
        };
        let since = run_since(last_day, tz, |d| above(d).is_some());
        out.insert(
            page.to_string(),
            Regression {
                since,
                rate_per_100: round1(r),
                baseline_median_per_100: round1(med),
                baseline_max_per_100: round1(max),
            },
        );
    }
    out
}

/// `since` of a flag at `last_day` (a day start of `tz`, which `flagged` holds for): the
/// first day (`YYYY-MM-DD`, the site's date) of the run of consecutive flagged days that
/// ends there, looking back at most [`BASELINE_DAYS`] days.
pub(super) fn run_since(last_day: i64, tz: Tz, flagged: impl Fn(i64) -> bool) -> String {
    let before = |d: i64, k: i64| days::days_before(d, k, tz);
    let mut since = last_day;
    while before(since, 1) >= before(last_day, BASELINE_DAYS) && flagged(before(since, 1)) {
        since = before(since, 1);
    }
    days::day_name(since, tz)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::DeviceClass;
    use crate::model::days::DAY_MS;

    fn dims(day: i64) -> Dims {
        Dims {
            day: day * DAY_MS,
            device: DeviceClass::Desktop,
            bot: false,
        }
    }
    fn page(day: i64, page: &str, pageviews: u64) -> PageRow {
        PageRow::with_pageviews(dims(day), page, pageviews)
    }
    fn el(day: i64, page: &str, rage: u64, dead: u64) -> ProblemRow {
        ProblemRow {
            dims: dims(day),
            kind: ProblemKind::Page,
            page: page.into(),
            selector: String::new(),
            zone: String::new(),
            rage_clicks: rage,
            dead_clicks: dead,
            quick_backs: 0,
            sessions: 1,
        }
    }

    /// Hand-computed: /cart has 100 page views a day; rage + dead per day 2, 3, 2, 4, 3, 2, 3
    /// (days 10..=16: rates 2, 3, 2, 4, 3, 2, 3 per 100, median 3, max 4), then 9 on day 17
    /// (9 > 4 and 9 ≥ 2 × 3: above) and 10 on day 18 (baseline days 11..=17: 3, 2, 4, 3, 2,
    /// 3, 9 → median 3, max 9; 10 > 9: above): flagged at day 18, since day 17.
    /// /home: 5 → 6 per 100 is within its spread. /new has 2 baseline days only.
    #[test]
    fn a_rate_above_the_baselines_spread_is_flagged_since_its_first_day() {
        let mut pages = Vec::new();
        let mut els = Vec::new();
        for (i, n) in [2, 3, 2, 4, 3, 2, 3, 9, 10].into_iter().enumerate() {
            let day = 10 + i as i64;
            pages.push(page(day, "a/cart", 100));
            els.push(el(day, "a/cart", n / 2, n - n / 2));
            pages.push(page(day, "a/home", 100));
            els.push(el(day, "a/home", if day == 18 { 6 } else { 5 }, 0));
        }
        for day in [16, 17, 18] {
            pages.push(page(day, "a/new", 100));
            els.push(el(day, "a/new", if day == 18 { 50 } else { 1 }, 0));
        }
        // Bot rows are the caller's to filter; a day outside the window is ignored.
        pages.push(page(1, "a/cart", 100));
        let got = page_regressions(&pages, &els, 18 * DAY_MS, chrono_tz::UTC);
        assert_eq!(
            got.into_iter().collect::<Vec<_>>(),
            vec![(
                "a/cart".to_string(),
                Regression {
                    since: "1970-01-18".into(),
                    rate_per_100: 10.0,
                    baseline_median_per_100: 3.0,
                    baseline_max_per_100: 9.0,
                }
            )]
        );
        // Too few page views on the day: no verdict.
        let few: Vec<PageRow> = pages
            .iter()
            .cloned()
            .map(|mut p| {
                if p.dims.day == 18 * DAY_MS {
                    p.pageviews = 19;
                }
                p
            })
            .collect();
        assert!(page_regressions(&few, &els, 18 * DAY_MS, chrono_tz::UTC)
            .get("a/cart")
            .is_none());
    }
}
