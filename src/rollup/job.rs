//! The rollup job: finds (site, day) windows whose raw events changed, recomputes them with
//! [`super::compute_day`] using the site's rules, and atomically replaces their rows. Running
//! it twice over the same events writes the same rows.

use crate::metrics::METRICS;
use crate::sites::SiteCache;
use crate::warehouse::Warehouse;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Recompute every dirty day once. Returns how many (site, day) windows were written.
pub async fn run_once(warehouse: &dyn Warehouse, sites: &SiteCache) -> anyhow::Result<usize> {
    let dirty = warehouse.dirty_days(1000).await?;
    METRICS.rollup_dirty_days.set(dirty.len() as i64);
    let mut done = 0;
    for d in dirty {
        let started = Instant::now();
        let rules = sites.get(&d.site).map(|s| s.settings.rules).unwrap_or_default();
        let events = warehouse.session_events_for_day(&d.site, d.day).await?;
        let rollup = super::compute_day(&events, d.day, &rules);
        warehouse.write_rollup(&d.site, d.day, d.version, &rollup).await?;
        METRICS.rollup_runs_total.with_label_values(&["ok"]).inc();
        METRICS
            .rollup_duration_seconds
            .with_label_values::<&str>(&[])
            .observe(started.elapsed().as_secs_f64());
        done += 1;
    }
    Ok(done)
}

/// Run [`run_once`] every `every` until the task is dropped.
pub async fn run(warehouse: Arc<dyn Warehouse>, sites: Arc<SiteCache>, every: Duration) -> anyhow::Result<()> {
    loop {
        if let Err(e) = run_once(warehouse.as_ref(), &sites).await {
            METRICS.rollup_runs_total.with_label_values(&["error"]).inc();
            tracing::warn!(error = %e, "rollup pass failed; retrying");
        }
        tokio::time::sleep(every).await;
    }
}
