//! Query parameters shared by the query endpoints: filters, dates and windows, limits, page
//! keys, and the [`Scope`] they resolve to.

use crate::event::enrich::named_page_key;
use crate::event::DeviceClass;
use crate::http::{ApiError, AppState};
use crate::model::days;
use crate::model::segment::{Channel, Dimension, SegmentFilter};
use crate::rollup::{Dims, DAY_MS};
use crate::warehouse::{Part, RollupQuery};
use chrono_tz::Tz;
use serde::Deserialize;

/// Time range, device and bot parameters, taken by every query endpoint; the others add
/// their own ([`PageParam`], [`FunnelParams`], [`EntryParam`], [`heatmap::SessionParams`]…),
/// so the OpenAPI document lists for each endpoint only what it reads. A parameter no struct
/// of the endpoint reads is refused (`400` naming it) once for the whole request, from that
/// list ([`crate::http::http_contract`]), not per struct: a per-struct
/// `deny_unknown_fields` would refuse the other structs' parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filters {
    /// Start, inclusive: ms since epoch or `YYYY-MM-DD` (a date of the site's time zone,
    /// `settings.rules.time_zone`, default UTC), rounded down to the start of its day there.
    /// Default: 30 days before `to`.
    pub from: Option<String>,
    /// End, exclusive: ms since epoch or `YYYY-MM-DD` (the site's date), rounded up to a day
    /// boundary of the site's time zone; `to` equal to `from` means that one day
    /// (`from=2026-03-01&to=2026-03-01` is 1 March). Must not be before `from` (`400`).
    /// Default: the end of today (the site's today).
    pub to: Option<String>,
    /// `desktop`, `tablet` or `mobile`.
    pub device: Option<String>,
    /// `include` to count bot-flagged sessions too.
    pub bots: Option<String>,
    /// Segment (docs/analytics.md, "Segments"): only sessions whose entry page view came
    /// through this channel: `search`, `social`, `email`, `paid`, `direct` or `other`.
    pub channel: Option<String>,
    /// Only sessions whose entry page view's referrer has this host (`news.example`; a
    /// leading `www.` and the case are ignored).
    pub referrer: Option<String>,
    /// Only sessions whose entry page view's URL has this `utm_source` (case-insensitive).
    pub utm_source: Option<String>,
    /// Only sessions whose entry page view's URL has this `utm_medium` (case-insensitive).
    pub utm_medium: Option<String>,
    /// Only sessions whose entry page view's URL has this `utm_campaign` (case-insensitive).
    pub utm_campaign: Option<String>,
    /// Only sessions of this browser family, as woothee names it (case-insensitive):
    /// `Chrome`, `Firefox`, `Safari`, `Edge`, `Opera`, … (a `400` lists them all).
    pub browser: Option<String>,
    /// Only sessions of this OS family, as woothee names it (case-insensitive): `Windows 10`,
    /// `Mac OSX`, `Linux`, `Android`, `iPhone`, `iPad`, … (a `400` lists them all).
    pub os: Option<String>,
    /// Only sessions of this language: a tag such as `de` or `en-us` (case-insensitive;
    /// `de` does not match `de-de`).
    pub language: Option<String>,
}

impl Filters {
    /// The value given for a segment dimension's parameter.
    pub fn segment_param(&self, d: Dimension) -> Option<&str> {
        match d {
            Dimension::Channel => self.channel.as_deref(),
            Dimension::Referrer => self.referrer.as_deref(),
            Dimension::UtmSource => self.utm_source.as_deref(),
            Dimension::UtmMedium => self.utm_medium.as_deref(),
            Dimension::UtmCampaign => self.utm_campaign.as_deref(),
            Dimension::Browser => self.browser.as_deref(),
            Dimension::Os => self.os.as_deref(),
            Dimension::Language => self.language.as_deref(),
        }
    }
}

/// A segment parameter's value in its stored form (see [`Filters`]): channels, browser and
/// OS families from their lists (`400` naming the parameter and listing the allowed values
/// otherwise), the others checked for shape and lower-cased.
pub fn segment_value(d: Dimension, given: &str) -> Result<String, ApiError> {
    use crate::event::enrich::segment::{normalize_language, woothee_name, woothee_names, MAX_UTM_CHARS};
    let v = given.trim();
    let bad = |reason: String| Err(ApiError::bad(d.name(), &reason));
    if v.is_empty() {
        return bad("must not be empty".into());
    }
    match d {
        Dimension::Channel => match Channel::parse(&v.to_ascii_lowercase()) {
            Some(c) => Ok(c.as_str().to_string()),
            None => bad(format!(
                "must be one of {}",
                Channel::ALL.map(Channel::as_str).join(", ")
            )),
        },
        Dimension::Browser | Dimension::Os => {
            let kind = if d == Dimension::Browser { "browser" } else { "os" };
            match woothee_name(kind, v) {
                Some(n) => Ok(n.to_string()),
                None => bad(format!(
                    "unknown {}; one of (case-insensitive) {}",
                    if kind == "os" { "OS" } else { kind },
                    woothee_names(kind).join(", ")
                )),
            }
        }
        Dimension::Language => {
            normalize_language(v).map_or_else(|| bad("must be a language tag such as de or en-us".into()), Ok)
        }
        Dimension::Referrer => {
            let h = v.to_ascii_lowercase();
            let h = h.strip_prefix("www.").unwrap_or(&h).to_string();
            // "www." alone leaves nothing: a stored segment value is never empty.
            let ok = !h.is_empty()
                && h.len() <= 253
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'_'));
            if ok {
                Ok(h)
            } else {
                bad("must be a host name such as news.example (no scheme, no path)".into())
            }
        }
        Dimension::UtmSource | Dimension::UtmMedium | Dimension::UtmCampaign => {
            if v.chars().count() > MAX_UTM_CHARS || v.chars().any(char::is_control) {
                bad(format!(
                    "must be 1..{MAX_UTM_CHARS} characters without control characters"
                ))
            } else {
                Ok(v.to_lowercase())
            }
        }
    }
}

/// The segment filter of a query's parameters (`400` naming a bad one, [`segment_value`]),
/// looking back as many days as the site's longest session can span.
pub fn segment_filter(f: &Filters, site: &crate::sites::Site) -> Result<SegmentFilter, ApiError> {
    let mut conds = Vec::new();
    for d in Dimension::ALL {
        if let Some(v) = f.segment_param(d) {
            conds.push((d, segment_value(d, v)?));
        }
    }
    let cap = site.settings.rules.session_cap_ms.max(0);
    Ok(SegmentFilter {
        conds,
        lookback_days: (cap + DAY_MS - 1) / DAY_MS,
    })
}

/// The page of a page-level query (heatmap, zones, compare).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParam {
    /// Page URL or page key (required).
    #[param(required = true)]
    pub url: Option<String>,
    /// Only page views of this layout version (8 lower-case hex digits, as `/layouts`
    /// lists them; `none`: page views that sent no version). Default: every version summed.
    pub layout: Option<String>,
}

/// The page of `GET /v1/sites/{key}/layouts` (every version of it, so no `layout`).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UrlParam {
    /// Page URL or page key (required).
    #[param(required = true)]
    pub url: Option<String>,
}

/// A `layout=` value read ([`Scope::layout`]): `None` every version, `Some("")` the page
/// views without one.
pub type LayoutFilter = Option<String>;

/// Whether a row of layout version `layout` is in the filter.
pub fn in_layout(filter: &LayoutFilter, layout: &str) -> bool {
    filter.as_deref().is_none_or(|l| l == layout)
}

/// Reads a layout version parameter (`name`: `layout` or `layout2`); `400` naming it when
/// it is neither 8 lower-case hex digits nor `none`.
pub fn parse_layout(name: &str, v: Option<&str>) -> Result<LayoutFilter, ApiError> {
    match v.map(str::trim) {
        None | Some("") => Ok(None),
        Some("none") => Ok(Some(String::new())),
        Some(l) if crate::event::validate::is_layout(l) => Ok(Some(l.to_string())),
        Some(_) => Err(ApiError::bad(
            name,
            "must be a layout version (8 lower-case hex digits, as /layouts lists them) or none",
        )),
    }
}

/// Parameters of `GET /v1/sites/{key}/funnel`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FunnelParams {
    /// Comma-separated steps (page keys or URLs; `event:<name>` for custom events), 1 to 20
    /// (required).
    #[param(required = true)]
    pub steps: Option<String>,
    /// Conversion window, e.g. `30m`, `2h`, `1d`, `90s`. Default 1 d.
    pub window: Option<String>,
    /// `visitors` to count visitors instead of sessions; `persons` to count people, visitors
    /// linked by an identify counting as their user (`docs/compat.md`, "Identity").
    pub count: Option<String>,
}

/// Parameter of `GET /v1/sites/{key}/journeys`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EntryParam {
    /// Only sessions whose entry (first) page is this page URL or page key.
    pub entry: Option<String>,
    /// Most transitions and most paths listed, by count; default 10000, at most 100000
    /// (`transitions_total` and `paths_total` give how many there are).
    pub limit: Option<String>,
}

/// Default and largest `limit` of `/journeys`' transitions and paths lists.
pub const JOURNEY_LIST_LIMIT: (usize, usize) = (10_000, 100_000);

/// A `limit` parameter: `default` when absent, else an integer 1..=`max` (`400` naming
/// `limit` otherwise).
pub fn parse_limit(v: Option<&str>, default: usize, max: usize) -> Result<usize, ApiError> {
    match v {
        None => Ok(default),
        Some(s) => s
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| ApiError::bad("limit", &format!("must be an integer 1..{max}"))),
    }
}

/// Parse `from`/`to`: integer ms, or `YYYY-MM-DD`: the start of that date in `tz` (the
/// site's time zone; [`days::date_start`]).
pub fn parse_time(field: &str, s: &str, tz: Tz) -> Result<i64, ApiError> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|d| days::date_start(d, tz))
        .map_err(|_| ApiError::bad(field, "must be ms since epoch or YYYY-MM-DD"))
}

/// Parse a duration such as `30m`, `2h`, `1d`, `45s`, `500ms` into ms.
pub fn parse_window(s: &str) -> Result<i64, ApiError> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: i64 = n
        .parse()
        .map_err(|_| ApiError::bad("window", "must look like 30m, 2h, 1d"))?;
    let mult = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => DAY_MS,
        "" => return Err(ApiError::bad("window", "needs a unit: ms, s, m, h or d (like 30m)")),
        _ => return Err(ApiError::bad("window", "unit must be ms, s, m, h or d")),
    };
    match n.checked_mul(mult) {
        Some(ms) if ms > 0 && ms <= MAX_WINDOW_MS => Ok(ms),
        _ => Err(ApiError::bad("window", "must be more than 0 and at most 366d")),
    }
}

/// Longest funnel conversion window: a year and a day.
pub const MAX_WINDOW_MS: i64 = 366 * DAY_MS;

#[derive(Clone)]
pub(super) struct Scope {
    pub(super) site: crate::sites::Site,
    pub(super) from_day: i64,
    pub(super) to_day: i64,
    pub(super) device: Option<DeviceClass>,
    pub(super) bots: bool,
    /// The segment parameters (empty: every session).
    pub(super) segment: SegmentFilter,
}

impl Scope {
    /// The site's time zone: its days are the days of every answer ([`crate::model::days`]).
    pub(super) fn tz(&self) -> Tz {
        self.site.settings.rules.time_zone
    }
    /// `YYYY-MM-DD` of the site's day starting at `day`.
    pub(super) fn day_name(&self, day: i64) -> String {
        days::day_name(day, self.tz())
    }
    pub(super) fn keeps(&self, d: &Dims) -> bool {
        d.passes(self.bots, self.device)
    }
    /// The page of a page-level query: `url` (a URL or a page key, [`page_param`]); `400`
    /// naming `url` when missing.
    pub(super) fn page(&self, p: &PageParam) -> Result<String, ApiError> {
        let url = p
            .url
            .as_deref()
            .ok_or_else(|| ApiError::bad("url", "missing (a page URL or page key)"))?;
        Ok(page_param(url, &self.site))
    }
    /// The layout version of a page-level query (`layout`, [`parse_layout`]).
    pub(super) fn layout(&self, p: &PageParam) -> Result<LayoutFilter, ApiError> {
        parse_layout("layout", p.layout.as_deref())
    }
    /// The sessions the query reads (site, days, device, bots, segment).
    pub(super) fn range(&self) -> crate::model::range::ReportRange {
        crate::model::range::ReportRange {
            site: self.site.key.clone(),
            from_day: self.from_day,
            to_day: self.to_day,
            device: self.device,
            bots: self.bots,
            segment: self.segment.clone(),
        }
    }
    pub(super) fn query(&self, parts: Vec<Part>, page: Option<String>) -> RollupQuery {
        RollupQuery {
            page,
            ..RollupQuery::of_range(&self.range(), parts)
        }
    }
}

/// `YYYY-MM-DD` of the day starting at `day` (ms) in `tz`.
pub fn day_name(day: i64, tz: Tz) -> String {
    days::day_name(day, tz)
}

/// The whole days of `tz` `[from_day, to_day)` (ms) that `f`'s `from`/`to` ask for at
/// `now_ms`: `to` defaults to the end of today, `from` to 30 days (dates) before `to`
/// ([`day_range`]). `400` naming the field of a bad bound.
pub fn filter_days(f: &Filters, now_ms: i64, tz: Tz) -> Result<(i64, i64), ApiError> {
    let to = match &f.to {
        Some(t) => parse_time("to", t, tz)?,
        None => days::next_day(days::day_start(now_ms, tz), tz),
    };
    let from = match &f.from {
        Some(t) => parse_time("from", t, tz)?,
        None => days::days_before(days::day_start(to, tz), 30, tz),
    };
    day_range(("from", "to"), from, to, tz)
}

pub(super) fn scope(key: &str, f: &Filters, state: &AppState) -> Result<Scope, ApiError> {
    let site = state.site(key)?;
    let (from_day, to_day) = filter_days(f, state.clock.now_ms(), site.settings.rules.time_zone)?;
    let device = match &f.device {
        None => None,
        Some(d) => Some(
            DeviceClass::parse(d)
                .filter(|d| *d != DeviceClass::Unknown)
                .ok_or_else(|| ApiError::bad("device", "must be desktop, tablet or mobile"))?,
        ),
    };
    let bots = match f.bots.as_deref() {
        None | Some("exclude") => false,
        Some("include") => true,
        Some(_) => return Err(ApiError::bad("bots", "must be include or exclude")),
    };
    let segment = segment_filter(f, &site)?;
    Ok(Scope {
        site,
        from_day,
        to_day,
        device,
        bots,
        segment,
    })
}

/// The whole days of `tz` `[from_day, to_day)` of a range whose start `from` is inclusive
/// and end `to` exclusive (ms): `from` rounded down to its day, `to` up to the next day
/// boundary. `to == from` is the one day holding `from` (`from=D&to=D` asks for day D).
/// `400` naming the start field when `to` is before `from`.
pub fn day_range(fields: (&str, &str), from: i64, to: i64, tz: Tz) -> Result<(i64, i64), ApiError> {
    let (from_field, to_field) = fields;
    if to < from {
        return Err(ApiError::bad(
            from_field,
            &format!("must be before {to_field} (or equal to it for one day)"),
        ));
    }
    let from_day = days::day_start(from, tz);
    let to_day = if to == from {
        days::next_day(from_day, tz)
    } else {
        days::next_day(days::day_start(to - 1, tz), tz)
    };
    Ok((from_day, to_day))
}

/// A page of a query, as the site names it ([`named_page_key`] under its page-key rules).
pub fn page_param(s: &str, site: &crate::sites::Site) -> String {
    named_page_key(s, &site.settings.page_keys)
}
