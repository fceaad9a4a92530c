//! One Prometheus registry for the process, names `sightline_<name>_<unit>[_total]`
//! (engineering.md, "Metric names"). Served at `GET /metrics`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};
use std::sync::LazyLock;

/// Every metric Sightline exports.
pub struct Metrics {
    pub registry: Registry,
    /// HTTP requests by route and status.
    pub http_requests_total: IntCounterVec,
    /// HTTP request latency by route, seconds.
    pub http_request_duration_seconds: HistogramVec,
    /// Events received at ingest, by type (`unknown` before the type is known).
    pub events_received_total: IntCounterVec,
    /// Events accepted into the log, by type.
    pub events_accepted_total: IntCounterVec,
    /// Events rejected, by type and field.
    pub events_rejected_total: IntCounterVec,
    /// Events whose id was already accepted, by type.
    pub events_duplicate_total: IntCounterVec,
    /// Events dropped after acceptance, by cause (every drop has a cause).
    pub events_dropped_total: IntCounterVec,
    /// Optional fields dropped because of their type, by field.
    pub fields_dropped_total: IntCounterVec,
    /// Requests refused as a whole, by cause (`malformed`, `unknown_site`, `origin`, `too_large`, `encoding`, `log_unavailable`).
    pub requests_refused_total: IntCounterVec,
    /// Events flagged as bots.
    pub bot_events_total: IntCounter,
    /// PII replacements made at ingest.
    pub pii_replacements_total: IntCounter,
    /// Absolute clock-skew correction applied per batch, seconds.
    pub clock_skew_seconds: HistogramVec,
    /// Log append latency, seconds.
    pub log_append_duration_seconds: HistogramVec,
    /// Rows written by the sink, and replays of rows already stored.
    pub sink_rows_total: IntCounterVec,
    /// Sink batches by outcome (`ok`, `error`).
    pub sink_batches_total: IntCounterVec,
    /// Rollup (site, day) computations by outcome.
    pub rollup_runs_total: IntCounterVec,
    /// Rollup computation time per (site, day), seconds.
    pub rollup_duration_seconds: HistogramVec,
    /// Days waiting for a rollup.
    pub rollup_dirty_days: IntGauge,
}

fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("metric");
    r.register(Box::new(c.clone())).expect("register metric");
    c
}

fn histogram(r: &Registry, name: &str, help: &str, labels: &[&str], buckets: Vec<f64>) -> HistogramVec {
    let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels).expect("metric");
    r.register(Box::new(h.clone())).expect("register metric");
    h
}

const LATENCY: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// The process-wide metrics.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let r = Registry::new();
    let bot = IntCounter::new("sightline_bot_events_total", "Events flagged as bots").expect("metric");
    r.register(Box::new(bot.clone())).expect("register");
    let pii = IntCounter::new("sightline_pii_replacements_total", "PII replacements made at ingest").expect("metric");
    r.register(Box::new(pii.clone())).expect("register");
    let dirty = IntGauge::new("sightline_rollup_dirty_days", "Site-days waiting for a rollup").expect("metric");
    r.register(Box::new(dirty.clone())).expect("register");
    Metrics {
        http_requests_total: counter(
            &r,
            "sightline_http_requests_total",
            "HTTP requests",
            &["route", "status"],
        ),
        http_request_duration_seconds: histogram(
            &r,
            "sightline_http_request_duration_seconds",
            "HTTP request latency",
            &["route"],
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
            "Events dropped after acceptance",
            &["cause"],
        ),
        fields_dropped_total: counter(
            &r,
            "sightline_fields_dropped_total",
            "Ill-typed optional fields dropped",
            &["field"],
        ),
        requests_refused_total: counter(
            &r,
            "sightline_requests_refused_total",
            "Ingest requests refused as a whole",
            &["cause"],
        ),
        bot_events_total: bot,
        pii_replacements_total: pii,
        clock_skew_seconds: histogram(
            &r,
            "sightline_clock_skew_seconds",
            "Clock-skew correction per batch",
            &["rule"],
            vec![0.0, 60.0, 300.0, 3600.0, 86400.0, 31_536_000.0],
        ),
        log_append_duration_seconds: histogram(
            &r,
            "sightline_log_append_duration_seconds",
            "Log append latency",
            &["backend"],
            LATENCY.to_vec(),
        ),
        sink_rows_total: counter(
            &r,
            "sightline_sink_rows_total",
            "Rows handled by the sink",
            &["outcome"],
        ),
        sink_batches_total: counter(&r, "sightline_sink_batches_total", "Sink batches", &["outcome"]),
        rollup_runs_total: counter(
            &r,
            "sightline_rollup_runs_total",
            "Rollup computations per site-day",
            &["outcome"],
        ),
        rollup_duration_seconds: histogram(
            &r,
            "sightline_rollup_duration_seconds",
            "Rollup time per site-day",
            &[],
            LATENCY.to_vec(),
        ),
        rollup_dirty_days: dirty,
        registry: r,
    }
});

/// The registry in Prometheus text format.
pub fn render() -> String {
    let mut buf = Vec::new();
    TextEncoder::new()
        .encode(&METRICS.registry.gather(), &mut buf)
        .expect("encode metrics");
    String::from_utf8(buf).expect("metrics are UTF-8")
}
