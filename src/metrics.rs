//! One Prometheus registry for the process, names `sightline_<name>_<unit>[_total]`
//! (engineering.md, "Metric names"). Served at `GET /metrics`.
//!
//! Label sets are bounded: routes are the router's patterns (never raw paths), event types
//! are the eight v1 names (or `unknown`), fields and causes come from fixed lists in the
//! code, and the product signals are labelled by site key, (for NPS) at most
//! [`MAX_SURVEYS_PER_SITE`] survey ids per site and (per page) at most
//! [`MAX_PAGES_PER_SITE`] page keys per site, today's busiest — never by raw URL, visitor or
//! session.
//!
//! The alert rules in `deploy/prometheus/rules.yml` and the dashboard in
//! `deploy/grafana/sightline.json` use these names; `tests/observability.rs` checks that every
//! name they reference is exported.

mod signals;
pub use signals::*;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::LazyLock;
use std::time::Instant;

/// Most surveys per site whose NPS is exported (the ones with the most NPS answers today,
/// ties broken by survey id), to keep `sightline_site_nps` bounded.
pub const MAX_SURVEYS_PER_SITE: usize = 20;

/// Most pages per site whose frustration rate is exported (today's busiest by page views,
/// ties broken by page key), to keep `sightline_page_*` bounded.
pub const MAX_PAGES_PER_SITE: usize = 20;

/// `route` label of requests that matched no route (404s of unknown paths).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Every metric Sightline exports (except the Kafka producer's own, registered by
/// `log::kafka` in the same registry).
pub struct Metrics {
    /// The registry [`render`] encodes; `log::kafka` registers its producer metrics here.
    pub registry: Registry,
    /// HTTP requests by route pattern (e.g. `/v1/sites/{key}/heatmap`, or
    /// [`UNMATCHED_ROUTE`]), method and status code. Counted for every route by
    /// [`http_middleware`].
    pub http_requests_total: IntCounterVec,
    /// HTTP request latency (until the response head is ready), by route pattern and
    /// method, seconds.
    pub http_request_duration_seconds: HistogramVec,
    /// Events received at ingest, by type (`unknown` before the type is known), events.
    pub events_received_total: IntCounterVec,
    /// Events accepted into the log (durable, new ids), by type, events.
    pub events_accepted_total: IntCounterVec,
    /// Events rejected, by type and the field that was wrong, events.
    pub events_rejected_total: IntCounterVec,
    /// Events whose id was already accepted (acknowledged, stored once), by type, events.
    pub events_duplicate_total: IntCounterVec,
    /// Events dropped after acceptance, by cause and type (every drop has a cause; `type` is
    /// `unknown` when the record could not be decoded), events.
    pub events_dropped_total: IntCounterVec,
    /// Optional fields dropped because of their type, by field, fields.
    pub fields_dropped_total: IntCounterVec,
    /// Requests refused as a whole, by cause (`malformed`, `unknown_site`, `origin`,
    /// `too_large`, `encoding`, `log_unavailable`, `quota_ip`, `quota_visitor`, `quota_site`,
    /// `busy`, `slow_body`), requests.
    pub requests_refused_total: IntCounterVec,
    /// Events refused by a quota before validation, by cause (`quota_visitor`: the visitor's
    /// event rate was used up), whether their request got a `429` or a `202` listing them,
    /// events.
    pub events_refused_total: IntCounterVec,
    /// Events flagged as bots, events.
    pub bot_events_total: IntCounter,
    /// Tracker events (posthog-js, Segment) with no Sightline meaning, left out by the
    /// compatible routes (`docs/compat.md`), events.
    pub compat_events_ignored_total: IntCounter,
    /// PII replacements made at ingest, replacements.
    pub pii_replacements_total: IntCounter,
    /// Absolute clock-skew correction applied per batch, by rule (`none`, `shift`), seconds.
    pub clock_skew_seconds: HistogramVec,
    /// Log append (produce) latency as ingest sees it, by backend (`embedded`, `kafka`) and
    /// outcome (`ok`, `error`), seconds.
    pub log_append_duration_seconds: HistogramVec,
    /// Failed log appends (the request got a 503 or 413), by backend and `error_type`
    /// (`unavailable`, `timeout`, `too_large`, `other`), appends. Not drops: the client is
    /// told to retry, or that the event is too large.
    pub log_append_errors_total: IntCounterVec,
    /// Events handed to the log by ingest and not yet acknowledged, by backend, events.
    pub log_append_inflight_events: IntGaugeVec,
    /// Bound of the Kafka producer queue (librdkafka `queue.buffering.max.messages`),
    /// messages; the depth is `sightline_log_producer_queue_messages` (set by `log::kafka`).
    /// Only exported by processes on the Kafka log.
    pub log_producer_queue_capacity_messages: IntGaugeVec,
    /// Records of a partition not yet consumed by a consumer group (high watermark minus
    /// committed offset), by group and partition, records. Set with [`set_consumer_lag`].
    pub consumer_lag_records: IntGaugeVec,
    /// Rows written by the sink (`inserted`) and replays of rows already stored
    /// (`replayed`), rows.
    pub sink_rows_total: IntCounterVec,
    /// Sink batches by outcome (`ok`, `error` retried, `data_error` dead-lettered), batches.
    pub sink_batches_total: IntCounterVec,
    /// Sink batches being stored now (events inserted, their sessions not yet all marked,
    /// or the offsets not yet committed), batches. 0 with a stored count means the rollup
    /// job sees every stored event's session as dirty.
    pub sink_batches_in_flight: IntGauge,
    /// Warehouse insert latency of one sink batch, by outcome (`ok`, `error`,
    /// `data_error`), seconds.
    pub sink_insert_duration_seconds: HistogramVec,
    /// Rollup batches (one site's share of a batch of dirty sessions) by outcome (`ok`;
    /// `error` counts failed passes).
    pub rollup_runs_total: IntCounterVec,
    /// Rollup time per batch, read and write included, seconds.
    pub rollup_duration_seconds: HistogramVec,
    /// Duration of one rollup pass (until no dirty session is left), seconds.
    pub rollup_pass_duration_seconds: HistogramVec,
    /// Dirty sessions in the rollup's last batch taken (at most
    /// `rollup::job::BATCH_SESSIONS` × the cores, 8 at most; at that cap there is a backlog).
    pub rollup_dirty_sessions: IntGauge,
    /// Snippet sessions recomputed.
    pub rollup_sessions_total: IntCounter,
    /// Session buckets (of `warehouse::BUCKETS` = 1024) whose dirty sessions this process
    /// takes now, buckets: its static `--rollup-shard`, or with Kafka the buckets of the
    /// `<prefix>.rollup-leases` partitions the group assigned it (`rollup::leases`); 0 in a
    /// process without the rollup role and while a rebalance is under way.
    pub rollup_owned_buckets: IntGauge,
    /// Age of the newest event (by `received_at`) included in any rollup this process
    /// computed: now minus that event's `received_at`, seconds, computed at scrape time.
    /// Until the job's first pass that includes an event it counts from the job's start;
    /// absent in processes without the rollup role.
    pub rollup_freshness_seconds: GaugeVec,
    /// Rage clicks of the site's today (its own day, `rules.time_zone`) per site (bots
    /// excluded), clicks; every "today" of these signals is the site's. See [`SiteSignals`]
    /// for why these are gauges of the day's totals.
    pub site_rage_clicks: IntGaugeVec,
    /// Dead clicks of the site's today per site (bots excluded), clicks.
    pub site_dead_clicks: IntGaugeVec,
    /// Feedback submissions rated 1 or 2 (of 5) today per site (bots excluded), submissions.
    pub site_negative_feedback: IntGaugeVec,
    /// Survey answers today per site, one per (survey, question, session), latest wins
    /// (bots excluded), answers.
    pub site_survey_responses: IntGaugeVec,
    /// NPS of today's answers per site and survey (answers to the survey's `nps` questions
    /// pooled), score from −100 to 100. Absent for surveys without NPS answers today.
    pub site_nps: GaugeVec,
    /// Numeric NPS answers behind `sightline_site_nps`, per site and survey, answers.
    pub site_nps_responses: IntGaugeVec,
    /// Today's (rage + dead clicks) per 100 page views per site and page (page key; the
    /// [`MAX_PAGES_PER_SITE`] busiest pages of the site today, bots excluded).
    pub page_frustration_per_100_pageviews: GaugeVec,
    /// Page views today per site and page behind `sightline_page_frustration_per_100_pageviews`.
    pub page_pageviews: IntGaugeVec,
    /// Today's conversion per site and step of the site goal's funnel (`rules.goal` =
    /// `funnel:…`; label `step` = `<n> <step>` from the second step on): sessions that
    /// reached the step ÷ sessions that reached the previous one, percent (analytics.md,
    /// "Regressions").
    pub goal_step_conversion_pct: GaugeVec,
    /// Sessions today that reached the previous step, behind `sightline_goal_step_conversion_pct`.
    pub goal_step_sessions: IntGaugeVec,
}

fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("metric");
    r.register(Box::new(c.clone())).expect("register metric");
    c
}

fn int_gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("metric");
    r.register(Box::new(g.clone())).expect("register metric");
    g
}

fn gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let g = GaugeVec::new(Opts::new(name, help), labels).expect("metric");
    r.register(Box::new(g.clone())).expect("register metric");
    g
}

fn histogram(r: &Registry, name: &str, help: &str, labels: &[&str], buckets: Vec<f64>) -> HistogramVec {
    let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels).expect("metric");
    r.register(Box::new(h.clone())).expect("register metric");
    h
}

/// Latency buckets, seconds. They go past 10 s so that the critical p99 threshold of the
/// alert rules (10 s) can be exceeded by `histogram_quantile`.
const LATENCY: [f64; 15] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The process-wide metrics.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let r = Registry::new();
    let bot = IntCounter::new("sightline_bot_events_total", "Events flagged as bots").expect("metric");
    r.register(Box::new(bot.clone())).expect("register");
    let compat_ignored = IntCounter::new(
        "sightline_compat_events_ignored_total",
        "Tracker events with no Sightline meaning, left out",
    )
    .expect("metric");
    r.register(Box::new(compat_ignored.clone())).expect("register");
    let pii = IntCounter::new("sightline_pii_replacements_total", "PII replacements made at ingest").expect("metric");
    r.register(Box::new(pii.clone())).expect("register");
    let sink_in_flight = IntGauge::new(
        "sightline_sink_batches_in_flight",
        "Sink batches being stored now (insert, session marks, offset commit)",
    )
    .expect("metric");
    r.register(Box::new(sink_in_flight.clone())).expect("register");
    let dirty = IntGauge::new(
        "sightline_rollup_dirty_sessions",
        "Dirty sessions in the rollup's last batch (at the batch size: a backlog)",
    )
    .expect("metric");
    r.register(Box::new(dirty.clone())).expect("register");
    let recomputed = IntCounter::new(
        "sightline_rollup_sessions_total",
        "Snippet sessions recomputed by the rollup",
    )
    .expect("metric");
    r.register(Box::new(recomputed.clone())).expect("register");
    let owned = IntGauge::new(
        "sightline_rollup_owned_buckets",
        "Session buckets (of 1024) whose dirty sessions this rollup process takes now",
    )
    .expect("metric");
    r.register(Box::new(owned.clone())).expect("register");
    let m = Metrics {
        http_requests_total: counter(
            &r,
            "sightline_http_requests_total",
            "HTTP requests by route pattern, method and status",
            &["route", "method", "status"],
        ),
        http_request_duration_seconds: histogram(
            &r,
            "sightline_http_request_duration_seconds",
            "HTTP request latency by route pattern and method, seconds",
            &["route", "method"],
            LATENCY.to_vec(),
        ),
        events_received_total: counter(&r, "sightline_events_received_total", "Events received", &["type"]),
        events_accepted_total: counter(
            &r,
            "sightline_events_accepted_total",
            "Events accepted into the log",
            &["type"],
        ),
        events_rejected_total: counter(
            &r,
            "sightline_events_rejected_total",
            "Events rejected",
            &["type", "field"],
        ),
        events_duplicate_total: counter(
            &r,
            "sightline_events_duplicate_total",
            "Events whose id was already accepted",
            &["type"],
        ),
        events_dropped_total: counter(
            &r,
            "sightline_events_dropped_total",
            "Events dropped after acceptance, by cause and type",
            &["cause", "type"],
        ),
        fields_dropped_total: counter(
            &r,
            "sightline_fields_dropped_total",
            "Ill-typed optional fields dropped",
            &["field"],
        ),
        events_refused_total: counter(
            &r,
            "sightline_events_refused_total",
            "Events refused by a quota before validation, by cause",
            &["cause"],
        ),
        requests_refused_total: counter(
            &r,
            "sightline_requests_refused_total",
            "Ingest requests refused as a whole",
            &["cause"],
        ),
        bot_events_total: bot,
        compat_events_ignored_total: compat_ignored,
        pii_replacements_total: pii,
        clock_skew_seconds: histogram(
            &r,
            "sightline_clock_skew_seconds",
            "Clock-skew correction per batch, seconds",
            &["rule"],
            vec![0.0, 60.0, 300.0, 3600.0, 86400.0, 31_536_000.0],
        ),
        log_append_duration_seconds: histogram(
            &r,
            "sightline_log_append_duration_seconds",
            "Log append (produce) latency seen by ingest, seconds",
            &["backend", "outcome"],
            LATENCY.to_vec(),
        ),
        log_append_errors_total: counter(
            &r,
            "sightline_log_append_errors_total",
            "Failed log appends, by backend and error type",
            &["backend", "error_type"],
        ),
        log_append_inflight_events: int_gauge(
            &r,
            "sightline_log_append_inflight_events",
            "Events handed to the log and not yet acknowledged",
            &["backend"],
        ),
        log_producer_queue_capacity_messages: int_gauge(
            &r,
            "sightline_log_producer_queue_capacity_messages",
            "Bound of the Kafka producer queue, messages",
            &[],
        ),
        consumer_lag_records: int_gauge(
            &r,
            "sightline_consumer_lag_records",
            "Records of a partition not yet consumed by the group",
            &["group", "partition"],
        ),
        sink_rows_total: counter(
            &r,
            "sightline_sink_rows_total",
            "Rows handled by the sink",
            &["outcome"],
        ),
        sink_batches_total: counter(&r, "sightline_sink_batches_total", "Sink batches", &["outcome"]),
        sink_insert_duration_seconds: histogram(
            &r,
            "sightline_sink_insert_duration_seconds",
            "Warehouse insert latency per sink batch, seconds",
            &["outcome"],
            LATENCY.to_vec(),
        ),
        rollup_runs_total: counter(
            &r,
            "sightline_rollup_runs_total",
            "Rollup batches (a site's share of a batch of dirty sessions)",
            &["outcome"],
        ),
        rollup_duration_seconds: histogram(
            &r,
            "sightline_rollup_duration_seconds",
            "Rollup time per batch, seconds",
            &[],
            LATENCY.to_vec(),
        ),
        rollup_pass_duration_seconds: histogram(
            &r,
            "sightline_rollup_pass_duration_seconds",
            "Duration of one rollup pass, seconds",
            &[],
            LATENCY.to_vec(),
        ),
        rollup_dirty_sessions: dirty,
        sink_batches_in_flight: sink_in_flight,
        rollup_sessions_total: recomputed,
        rollup_owned_buckets: owned,
        rollup_freshness_seconds: gauge(
            &r,
            "sightline_rollup_freshness_seconds",
            "Age of the newest event (received_at) included in a rollup, seconds",
            &[],
        ),
        page_frustration_per_100_pageviews: gauge(
            &r,
            "sightline_page_frustration_per_100_pageviews",
            "Rage plus dead clicks per 100 page views today (the site's day) per site and page (the site's busiest pages), bots excluded",
            &["site", "page"],
        ),
        page_pageviews: int_gauge(
            &r,
            "sightline_page_pageviews",
            "Page views today (the site's day) per site and page (the site's busiest pages), bots excluded",
            &["site", "page"],
        ),
        goal_step_conversion_pct: gauge(
            &r,
            "sightline_goal_step_conversion_pct",
            "Sessions today (the site's day) that reached this step of the site goal's funnel, percent of those that reached the previous step, bots excluded",
            &["site", "step"],
        ),
        goal_step_sessions: int_gauge(
            &r,
            "sightline_goal_step_sessions",
            "Sessions today (the site's day) that reached the previous step of the site goal's funnel, bots excluded",
            &["site", "step"],
        ),
        site_rage_clicks: int_gauge(
            &r,
            "sightline_site_rage_clicks",
            "Rage clicks today (the site's day) per site, bots excluded",
            &["site"],
        ),
        site_dead_clicks: int_gauge(
            &r,
            "sightline_site_dead_clicks",
            "Dead clicks today (the site's day) per site, bots excluded",
            &["site"],
        ),
        site_negative_feedback: int_gauge(
            &r,
            "sightline_site_negative_feedback",
            "Feedback rated 1 or 2 today (the site's day) per site, bots excluded",
            &["site"],
        ),
        site_survey_responses: int_gauge(
            &r,
            "sightline_site_survey_responses",
            "Survey answers today (the site's day) per site, one per survey, question and session",
            &["site"],
        ),
        site_nps: gauge(
            &r,
            "sightline_site_nps",
            "NPS of today's answers (the site's day) per site and survey, -100..100",
            &["site", "survey"],
        ),
        site_nps_responses: int_gauge(
            &r,
            "sightline_site_nps_responses",
            "NPS answers today (the site's day) per site and survey",
            &["site", "survey"],
        ),
        registry: r,
    };
    // Series with known label values start at 0, so that `rate()` and the dashboards see
    // them before the first event of their kind (a missing series is not a zero).
    for outcome in ["ok", "error", "data_error"] {
        m.sink_batches_total.with_label_values(&[outcome]);
    }
    for outcome in ["inserted", "replayed"] {
        m.sink_rows_total.with_label_values(&[outcome]);
    }
    for outcome in ["ok", "error"] {
        m.rollup_runs_total.with_label_values(&[outcome]);
    }
    m.events_dropped_total.with_label_values(&[DROP_UNDECODABLE, "unknown"]);
    m.events_refused_total.with_label_values(&["quota_visitor"]);
    for typ in crate::event::EVENT_TYPES {
        m.events_dropped_total.with_label_values(&[DROP_WAREHOUSE_REFUSED, typ]);
    }
    m
});

/// `cause` of events the warehouse refused as data (dead-lettered by the sink).
pub const DROP_WAREHOUSE_REFUSED: &str = "warehouse_refused";
/// `cause` of log records the sink could not decode (dead-lettered).
pub const DROP_UNDECODABLE: &str = "undecodable_record";
/// `cause` of events of a visitor forgotten on request (`crate::privacy`), dropped on purpose.
pub const DROP_FORGOTTEN: &str = "forgotten_visitor";

/// `error_type` values of [`Metrics::log_append_errors_total`].
pub const APPEND_ERROR_TYPES: [&str; 4] = ["unavailable", "timeout", "too_large", "other"];

/// Start the per-backend series of this process at 0 (call once the log backend is known).
pub fn init_backend(backend: &str) {
    for t in APPEND_ERROR_TYPES {
        METRICS.log_append_errors_total.with_label_values(&[backend, t]);
    }
    METRICS.log_append_inflight_events.with_label_values(&[backend]);
}

/// Set the bound of the Kafka producer queue, messages (librdkafka
/// `queue.buffering.max.messages`). The producer-queue alert divides
/// `sightline_log_producer_queue_messages` by it.
pub fn set_producer_queue_capacity(messages: usize) {
    METRICS
        .log_producer_queue_capacity_messages
        .with_label_values::<&str>(&[])
        .set(i64::try_from(messages).unwrap_or(i64::MAX));
}

/// Set the lag of consumer group `group` on `partition`: records not yet consumed (the
/// partition's high watermark minus the group's committed offset), records. Call it for
/// every assigned partition after each poll or on a timer; see [`clear_consumer_lag`].
pub fn set_consumer_lag(group: &str, partition: i32, records: i64) {
    METRICS
        .consumer_lag_records
        .with_label_values(&[group, &partition.to_string()])
        .set(records.max(0));
}

/// Stop exporting the lag of `group` on `partition` (the partition was revoked from this
/// process in a rebalance), so a stale value does not linger.
pub fn clear_consumer_lag(group: &str, partition: i32) {
    let _ = METRICS
        .consumer_lag_records
        .remove_label_values(&[group, &partition.to_string()]);
}

/// `received_at` (ms) of the newest event any rollup pass of this process included; 0 before.
static NEWEST_ROLLED_UP_MS: AtomicI64 = AtomicI64::new(0);

/// Record that a rollup pass included events up to `received_at_ms` (ms since the epoch).
/// Only ever moves forward, so recomputing an old day does not make rollups look stale.
pub fn rollup_included(received_at_ms: i64) {
    NEWEST_ROLLED_UP_MS.fetch_max(received_at_ms, Ordering::Relaxed);
}

/// The `method` label: the standard methods by name, anything else `other` (clients choose
/// the method, so it must not become a label value as sent).
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Count one HTTP request: `route` is the matched route pattern (`None` → [`UNMATCHED_ROUTE`]).
pub fn observe_http(route: Option<&str>, method: &Method, status: u16, seconds: f64) {
    let route = route.unwrap_or(UNMATCHED_ROUTE);
    let method = method_label(method);
    METRICS
        .http_requests_total
        .with_label_values(&[route, method, &status.to_string()])
        .inc();
    METRICS
        .http_request_duration_seconds
        .with_label_values(&[route, method])
        .observe(seconds);
}

/// actix-web middleware (`App::wrap(from_fn(http_middleware))`) counting every request
/// with its route *pattern* as the label, so `/v1/sites/sl_abc/heatmap` counts under
/// `/v1/sites/{key}/heatmap`.
pub async fn http_middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let pattern = req.match_pattern();
    let res = next.call(req).await;
    let secs = started.elapsed().as_secs_f64();
    match &res {
        Ok(r) => {
            let pattern = r.request().match_pattern().or(pattern);
            observe_http(pattern.as_deref(), &method, r.status().as_u16(), secs);
        }
        Err(e) => observe_http(
            pattern.as_deref(),
            &method,
            e.as_response_error().status_code().as_u16(),
            secs,
        ),
    }
    res
}

/// The registry in Prometheus text format, the rollup freshness counted up to `now_ms` (the
/// time of the clock ingest stamps `received_at` with).
pub fn render_at(now_ms: i64) -> String {
    let newest = NEWEST_ROLLED_UP_MS.load(Ordering::Relaxed);
    if newest > 0 {
        let age = (now_ms - newest).max(0) as f64 / 1000.0;
        METRICS.rollup_freshness_seconds.with_label_values::<&str>(&[]).set(age);
    }
    let mut buf = Vec::new();
    TextEncoder::new()
        .encode(&METRICS.registry.gather(), &mut buf)
        .expect("encode metrics");
    String::from_utf8(buf).expect("metrics are UTF-8")
}
