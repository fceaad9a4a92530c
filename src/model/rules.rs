//! A site's analytics thresholds ([`Rules`]), part of its settings.

use serde::{Deserialize, Serialize};

/// Tunable thresholds, defaults from `reference/analytics.md`; per site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rules {
    /// A gap longer than this (event time) starts a new session. Default 30 min.
    pub session_gap_ms: i64,
    /// A session is cut after this long. Default 4 h (Contentsquare).
    pub session_cap_ms: i64,
    /// Rage click: at least this many clicks in one page view. Default 3 (PostHog).
    pub rage_min_clicks: u32,
    /// … each at most this long after the previous one. Default 1000 ms.
    pub rage_max_interval_ms: i64,
    /// … and at most this far (Manhattan, CSS px) from the previous one. Default 30 px.
    pub rage_max_distance_px: f64,
    /// A click with no reaction within this long is dead. Default 2500 ms (PostHog).
    pub dead_click_ms: u32,
    /// A page view left for the previous page within this long is a quick back. Default 10 s.
    pub quick_back_ms: i64,
    /// The same page key in one session within this long is one page view. Default 500 ms.
    pub pageview_dedup_ms: i64,
    /// Selectors (exact, or a suffix match on the last compound) never counted as rage clicks.
    pub rage_ignore_selectors: Vec<String>,
    /// Grid heatmap cell size, CSS px. Default 16.
    pub grid_cell_px: u32,
    /// Include bot-flagged events in rollups. Default false (they are stored, and flagged).
    pub include_bots: bool,
    /// A zone is exposed in a page view when its middle line was in the viewport at least
    /// this long in total (the sum of the `visible_ms` of the page view's zone events).
    /// Default 150 ms (analytics.md, "Zones").
    pub zone_exposure_ms: u32,
    /// The site goal for zone conversion and `/problems?sort=impact`: a page key
    /// (`shop.example/thanks`), a custom event (`event:signup`), as a funnel step is written,
    /// or a funnel whose last step is the goal (`funnel:<step>,<step>,…`; see
    /// [`impact::Goal`]). `None`: no conversion rate, no impact.
    pub goal: Option<String>,
    /// Also start a new session at midnight in `time_zone` (Matomo does; users ask to turn it
    /// off). Default false (analytics.md, "Session"). 00:00:00.000 belongs to the new day.
    pub split_at_midnight: bool,
    /// The site's time zone (IANA name such as `Europe/Berlin`): its days are the days of
    /// every day-based number (a session's start day, daily series, `from`/`to` dates,
    /// retention; [`crate::model::days`]) and of `split_at_midnight`. Default `UTC`.
    /// Changing it recomputes the site's rollups.
    #[serde(deserialize_with = "time_zone_by_name")]
    pub time_zone: chrono_tz::Tz,
}

/// An IANA time zone name; an unknown one is refused naming the field.
fn time_zone_by_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<chrono_tz::Tz, D::Error> {
    let name = String::deserialize(d)?;
    name.parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "time_zone: {name:?} is not an IANA time zone name (such as Europe/Berlin or UTC)"
        ))
    })
}

impl Rules {
    /// Whether changing from `old` to these rules makes every stored session of the site
    /// wrong, so that it is marked for recompute by itself: a new time zone (the site's days)
    /// or goal (the goal part and the zones' conversion). Other thresholds apply from then
    /// on, or to history with `sightline rollup rebuild`.
    pub fn recomputes_from(&self, old: &Rules) -> bool {
        self.time_zone != old.time_zone || self.goal != old.goal
    }

    /// Values that would make the reports meaningless, as (field, reason).
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |f: &str, r: &str| Err((f.to_string(), r.to_string()));
        if self.session_gap_ms < 1000 {
            return bad("session_gap_ms", "must be at least 1000 (1 s)");
        }
        if self.session_cap_ms < self.session_gap_ms {
            return bad("session_cap_ms", "must be at least session_gap_ms");
        }
        if self.rage_min_clicks < 2 {
            return bad("rage_min_clicks", "must be at least 2");
        }
        if self.rage_max_interval_ms <= 0 {
            return bad("rage_max_interval_ms", "must be more than 0");
        }
        if !(self.rage_max_distance_px.is_finite() && self.rage_max_distance_px >= 0.0) {
            return bad("rage_max_distance_px", "must be 0 or more");
        }
        if self.dead_click_ms == 0 {
            return bad("dead_click_ms", "must be more than 0");
        }
        if self.quick_back_ms < 0 || self.pageview_dedup_ms < 0 {
            return bad(
                if self.quick_back_ms < 0 {
                    "quick_back_ms"
                } else {
                    "pageview_dedup_ms"
                },
                "must be 0 or more",
            );
        }
        if self.grid_cell_px == 0 {
            return bad("grid_cell_px", "must be at least 1");
        }
        if self.rage_ignore_selectors.iter().any(|s| s.trim().is_empty()) {
            return bad("rage_ignore_selectors", "entries must not be empty");
        }
        if let Some(Err(reason)) = self.goal.as_deref().map(super::goal::Goal::parse) {
            return bad("goal", &reason);
        }
        Ok(())
    }
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            session_gap_ms: 30 * 60_000,
            session_cap_ms: 4 * 3_600_000,
            rage_min_clicks: 3,
            rage_max_interval_ms: 1000,
            rage_max_distance_px: 30.0,
            dead_click_ms: 2500,
            quick_back_ms: 10_000,
            pageview_dedup_ms: 500,
            rage_ignore_selectors: Vec::new(),
            grid_cell_px: 16,
            include_bots: false,
            zone_exposure_ms: 150,
            goal: None,
            split_at_midnight: false,
            time_zone: chrono_tz::UTC,
        }
    }
}
