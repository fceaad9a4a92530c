//! Segments (docs/analytics.md, "Segments"): where a session came from (channel, referrer
//! host, UTM source / medium / campaign of its entry page view) and who it is (browser, OS,
//! language; the device class is a rollup dimension of its own). Set at ingest on each
//! event (`crate::event::enrich::segment`), carried per session in [`SessionSegment`], and
//! filtered on by every query endpoint with a [`SegmentFilter`].

use serde::{Deserialize, Serialize};

pub use crate::event::segment::{Channel, Client, Source};

/// The segment of a session, stored with its row ([`crate::model::rows::SessionRow`]). Every
/// server-side session of one snippet session has the segment of the snippet session: the
/// channel, referrer and UTM of its first page view, the browser, OS and language of its
/// first event that has them. `""` where unknown (`channel` is `""` only for a session
/// without any page view event).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionSegment {
    pub channel: String,
    pub referrer: String,
    pub utm_source: String,
    pub utm_medium: String,
    pub utm_campaign: String,
    pub browser: String,
    pub os: String,
    pub language: String,
}

/// A segment dimension: a query parameter, a stored column of the session rows and a
/// field of [`SessionSegment`], all of one name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    Channel,
    Referrer,
    UtmSource,
    UtmMedium,
    UtmCampaign,
    Browser,
    Os,
    Language,
}

impl Dimension {
    /// Every dimension, in column order.
    pub const ALL: [Dimension; 8] = [
        Dimension::Channel,
        Dimension::Referrer,
        Dimension::UtmSource,
        Dimension::UtmMedium,
        Dimension::UtmCampaign,
        Dimension::Browser,
        Dimension::Os,
        Dimension::Language,
    ];
    /// The parameter and column name.
    pub fn name(self) -> &'static str {
        match self {
            Dimension::Channel => "channel",
            Dimension::Referrer => "referrer",
            Dimension::UtmSource => "utm_source",
            Dimension::UtmMedium => "utm_medium",
            Dimension::UtmCampaign => "utm_campaign",
            Dimension::Browser => "browser",
            Dimension::Os => "os",
            Dimension::Language => "language",
        }
    }
    /// The dimension of a parameter name.
    pub fn parse(s: &str) -> Option<Dimension> {
        Dimension::ALL.into_iter().find(|d| d.name() == s)
    }
    /// This dimension's value in a session's segment.
    pub fn of(self, s: &SessionSegment) -> &str {
        match self {
            Dimension::Channel => &s.channel,
            Dimension::Referrer => &s.referrer,
            Dimension::UtmSource => &s.utm_source,
            Dimension::UtmMedium => &s.utm_medium,
            Dimension::UtmCampaign => &s.utm_campaign,
            Dimension::Browser => &s.browser,
            Dimension::Os => &s.os,
            Dimension::Language => &s.language,
        }
    }
}

/// Which sessions a query keeps: those whose segment has each given value (stored form:
/// canonical woothee names, lower-case otherwise). Empty: every session (the stores then
/// take their unfiltered paths).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SegmentFilter {
    /// (dimension, value), at most one per dimension, in [`Dimension::ALL`] order.
    pub conds: Vec<(Dimension, String)>,
    /// How many days before a query's first day a session holding its rows may have
    /// started: rows of a page view on day D belong to a session that started at most
    /// `session_cap_ms` earlier, and a store finds the session's segment on its start day.
    pub lookback_days: i64,
}

impl SegmentFilter {
    /// No condition.
    pub fn is_empty(&self) -> bool {
        self.conds.is_empty()
    }
    /// Whether a session's segment passes.
    pub fn matches(&self, s: &SessionSegment) -> bool {
        self.conds.iter().all(|(d, v)| d.of(s) == v)
    }
    /// The value asked for `d`, if any.
    pub fn get(&self, d: Dimension) -> Option<&str> {
        self.conds.iter().find(|(x, _)| *x == d).map(|(_, v)| v.as_str())
    }
    /// One value per dimension in [`Dimension::ALL`] order, `""` for no condition: how the
    /// ClickHouse statements bind the filter (`(? = '' OR col = ?)`).
    pub fn values(&self) -> [&str; 8] {
        Dimension::ALL.map(|d| self.get(d).unwrap_or(""))
    }
    /// The filter with `d` set to `v` (replacing a condition on `d`).
    pub fn with(&self, d: Dimension, v: &str) -> SegmentFilter {
        let mut f = self.clone();
        f.conds.retain(|(x, _)| *x != d);
        f.conds.push((d, v.to_string()));
        f.conds.sort_by_key(|(x, _)| *x);
        f
    }
}
