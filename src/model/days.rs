//! The site's days (analytics.md, "Time and ranges"): every day-based number (a session's
//! start day, a rollup row's `day`, daily series, `from`/`to` dates, retention) uses the
//! calendar days of the site's time zone (`settings.rules.time_zone`, default UTC). A day is
//! the instant (ms since the epoch) of its local midnight and lasts until the next one: 24 h,
//! or 23 h / 25 h around a DST change. Days are always stepped by date, never by a fixed 24 h,
//! so no date appears twice or goes missing. This is the one place days are computed.
//!
//! A date whose midnight does not exist (a DST change at midnight, e.g. America/Santiago)
//! starts at the first instant that exists on it; a midnight that exists twice starts at the
//! first.

use chrono::{NaiveDate, TimeZone};
use chrono_tz::Tz;

/// 24 h in ms: one UTC day (a local day is 24 h but around a DST change).
pub const DAY_MS: i64 = 86_400_000;

/// The calendar date holding `ts` (ms) in `tz`.
pub fn date_of(ts: i64, tz: Tz) -> NaiveDate {
    let utc = chrono::DateTime::from_timestamp_millis(ts).unwrap_or_default();
    if tz == chrono_tz::UTC {
        return utc.date_naive();
    }
    utc.with_timezone(&tz).date_naive()
}

/// The first instant (ms) of `date` in `tz`: its local midnight.
pub fn date_start(date: NaiveDate, tz: Tz) -> i64 {
    let midnight = date.and_hms_opt(0, 0, 0).expect("midnight");
    if tz == chrono_tz::UTC {
        return midnight.and_utc().timestamp_millis();
    }
    match tz.from_local_datetime(&midnight) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => t.timestamp_millis(),
        chrono::LocalResult::None => {
            // Midnight falls in a gap: the day starts where the gap ends (the first quarter
            // hour that exists; every gap of the tz database ends on one).
            let mut t = midnight;
            loop {
                t += chrono::Duration::minutes(15);
                if let Some(x) = tz.from_local_datetime(&t).earliest() {
                    return x.timestamp_millis();
                }
            }
        }
    }
}

/// The start (ms) of the day holding `ts` in `tz`. In UTC: `ts` rounded down to a multiple
/// of [`DAY_MS`].
pub fn day_start(ts: i64, tz: Tz) -> i64 {
    if tz == chrono_tz::UTC {
        return ts.div_euclid(DAY_MS) * DAY_MS;
    }
    let d = date_start(date_of(ts, tz), tz);
    // A date that starts after midnight (a gap) holds instants before its start only in
    // theory: they belong to the day before.
    if d > ts {
        date_start(date_of(ts, tz).pred_opt().expect("a date before"), tz)
    } else {
        d
    }
}

/// The start of the day after the day starting at `day` (a day start of `tz`).
pub fn next_day(day: i64, tz: Tz) -> i64 {
    if tz == chrono_tz::UTC {
        return day + DAY_MS;
    }
    date_start(date_of(day, tz).succ_opt().expect("a date after"), tz)
}

/// The start of the day `n` days (dates) before (`n` < 0: after) the day starting at `day`.
pub fn days_before(day: i64, n: i64, tz: Tz) -> i64 {
    if tz == chrono_tz::UTC {
        return day - n * DAY_MS;
    }
    date_start(date_of(day, tz) - chrono::Duration::days(n), tz)
}

/// The starts of the days in `[from_day, to_day)` (day starts of `tz`), each date once.
pub fn days(from_day: i64, to_day: i64, tz: Tz) -> impl Iterator<Item = i64> {
    std::iter::successors(Some(from_day), move |d| Some(next_day(*d, tz))).take_while(move |d| *d < to_day)
}

/// `YYYY-MM-DD` of the day starting at `day` in `tz`.
pub fn day_name(day: i64, tz: Tz) -> String {
    date_of(day, tz).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;
    fn ms(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }
    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }
    const BERLIN: Tz = chrono_tz::Europe::Berlin;
    const NEW_YORK: Tz = chrono_tz::America::New_York;

    #[test]
    fn utc_days_are_utc_midnights() {
        assert_eq!(
            day_start(ms("2026-03-29T13:00:00Z"), chrono_tz::UTC),
            ms("2026-03-29T00:00:00Z")
        );
        assert_eq!(day_start(-1, chrono_tz::UTC), -DAY_MS);
        assert_eq!(next_day(0, chrono_tz::UTC), DAY_MS);
        assert_eq!(day_name(ms("2026-03-29T00:00:00Z"), chrono_tz::UTC), "2026-03-29");
    }

    #[test]
    fn berlin_spring_forward_day_has_23_hours_and_fall_back_day_25() {
        // 2026-03-29: 02:00 CET → 03:00 CEST. Midnight is 23:00 UTC the day before (CET, +1).
        let d = date_start(date("2026-03-29"), BERLIN);
        assert_eq!(d, ms("2026-03-28T23:00:00Z"));
        assert_eq!(
            next_day(d, BERLIN),
            ms("2026-03-29T22:00:00Z"),
            "next midnight is CEST (+2)"
        );
        assert_eq!(next_day(d, BERLIN) - d, 23 * HOUR);
        // 2026-10-25: 03:00 CEST → 02:00 CET.
        let d = date_start(date("2026-10-25"), BERLIN);
        assert_eq!(d, ms("2026-10-24T22:00:00Z"));
        assert_eq!(next_day(d, BERLIN) - d, 25 * HOUR);
        // Just before and after local midnight.
        let mid = date_start(date("2026-10-25"), BERLIN);
        assert_eq!(day_name(day_start(mid - 1, BERLIN), BERLIN), "2026-10-24");
        assert_eq!(day_name(day_start(mid, BERLIN), BERLIN), "2026-10-25");
        // The hour that happens twice (02:00–03:00 local) is one day, 2026-10-25.
        assert_eq!(day_start(ms("2026-10-25T00:30:00Z"), BERLIN), mid);
        assert_eq!(day_start(ms("2026-10-25T01:30:00Z"), BERLIN), mid);
    }

    #[test]
    fn enumerated_days_around_both_changes_are_each_date_once() {
        for (tz, from, to) in [
            (BERLIN, "2026-03-27", "2026-04-01"),
            (BERLIN, "2026-10-23", "2026-10-28"),
            (NEW_YORK, "2026-03-06", "2026-03-10"),
            (NEW_YORK, "2026-10-30", "2026-11-03"),
        ] {
            let names: Vec<String> = days(date_start(date(from), tz), date_start(date(to), tz), tz)
                .map(|d| day_name(d, tz))
                .collect();
            let want: Vec<String> = date(from)
                .iter_days()
                .take_while(|d| *d < date(to))
                .map(|d| d.to_string())
                .collect();
            assert_eq!(names, want, "{tz}");
        }
        // New York 2026-03-08 (spring forward) has 23 h, 2026-11-01 (fall back) 25 h.
        let d = date_start(date("2026-03-08"), NEW_YORK);
        assert_eq!((d, next_day(d, NEW_YORK) - d), (ms("2026-03-08T05:00:00Z"), 23 * HOUR));
        let d = date_start(date("2026-11-01"), NEW_YORK);
        assert_eq!((d, next_day(d, NEW_YORK) - d), (ms("2026-11-01T04:00:00Z"), 25 * HOUR));
        assert_eq!(days_before(d, 7, NEW_YORK), date_start(date("2026-10-25"), NEW_YORK));
    }

    #[test]
    fn a_midnight_in_a_gap_starts_the_day_when_the_gap_ends() {
        // America/Santiago 2026-09-06: 00:00 → 01:00 (spring forward at midnight).
        let tz = chrono_tz::America::Santiago;
        let d = date_start(date("2026-09-06"), tz);
        assert_eq!(d, ms("2026-09-06T04:00:00Z"), "01:00 -03");
        assert_eq!(day_start(d + HOUR, tz), d);
        assert_eq!(day_start(d - 1, tz), date_start(date("2026-09-05"), tz));
        assert_eq!(next_day(d, tz) - d, 23 * HOUR);
    }
}
