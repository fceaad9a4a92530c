//! The segment fields of an event (docs/analytics.md, "Segments"): the acquisition
//! [`Channel`], the request-level [`Client`] and the page view's [`Source`], set at ingest
//! ([`crate::event::enrich::segment`]). The per-session segment and the query filter are
//! [`crate::model::segment`].

use serde::{Deserialize, Serialize};

/// Acquisition channel of a page view (docs/analytics.md, "Channels": the table of
/// referrer hosts and UTM mediums).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// No referrer (or a same-site one) and no campaign.
    #[default]
    Direct,
    /// A search engine, or `utm_medium=organic`.
    Search,
    /// A social network, or a social `utm_medium`.
    Social,
    /// A webmail host, or `utm_medium=email`.
    Email,
    /// A paid `utm_medium` (cpc, ppc, paid…, display…), or an ad click id (`gclid`…).
    Paid,
    /// Anything else: referrals from other sites, campaigns of other mediums.
    Other,
}

impl Channel {
    /// Every channel, in the documented order.
    pub const ALL: [Channel; 6] = [
        Channel::Search,
        Channel::Social,
        Channel::Email,
        Channel::Paid,
        Channel::Direct,
        Channel::Other,
    ];
    /// The API and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Direct => "direct",
            Channel::Search => "search",
            Channel::Social => "social",
            Channel::Email => "email",
            Channel::Paid => "paid",
            Channel::Other => "other",
        }
    }
    /// Parse an API name (lower-case); `None` for anything else.
    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// The request-level part of an event's segment, parsed once per request and shared by its
/// events ([`std::sync::Arc`]): `""` where unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Client {
    /// Browser family as woothee names it (`Chrome`, `Firefox`, `Safari`, …).
    pub browser: String,
    /// The browser's major version (`120`).
    pub browser_version: String,
    /// OS family as woothee names it (`Windows 10`, `Mac OSX`, `Android`, `iPhone`, …).
    pub os: String,
    /// The OS version as woothee gives it (`10.15.7`, `NT 10.0`, `14.0`).
    pub os_version: String,
    /// Primary language tag, lower-case (`de`, `en-us`): the snippet's `navigator.language`,
    /// else the request's `Accept-Language` first tag.
    pub language: String,
}

/// Where a page view came from: set on page views only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Source {
    /// Host of the referrer, lower-case, without a leading `www.`; `""` without one.
    pub referrer_host: String,
    pub channel: Channel,
    /// `utm_source`, `utm_medium`, `utm_campaign` of the page URL's query, trimmed and
    /// lower-cased (at most 100 characters); `""` when absent.
    pub utm_source: String,
    pub utm_medium: String,
    pub utm_campaign: String,
}
