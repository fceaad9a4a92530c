//! Forgetting a visitor on request (GDPR art. 17, "right to erasure"):
//! `sightline gdpr delete --site KEY --visitor ID` or `POST /v1/sites/{key}/forget`.
//!
//! [`forget_visitor`] removes the visitor's events from every store Sightline keeps:
//!
//! 1. It records a [`ForgetRecord`] first (warehouse table `forgets`; the audit trail). The
//!    record holds the SHA-256 of (site, visitor), never the visitor id, and the time. From
//!    then on every sink drops the visitor's events received up to that time
//!    ([`Forgotten`]), so records still in the log can never come back into the warehouse.
//! 2. The log: the embedded log deletes the visitor's records and dead letters (SQLite
//!    `secure_delete`, so the bytes are overwritten). A Kafka topic cannot delete single
//!    records: they stay until the topic's retention removes them, and step 1 keeps them out
//!    of the warehouse meanwhile.
//! 3. The warehouse deletes the visitor's raw events (ClickHouse: `ALTER TABLE … DELETE`,
//!    waited for) and marks the days of their sessions dirty, so the rollup job recomputes
//!    those days without them: heatmaps, journeys, funnels, sessions, VoC all forget too.
//! 4. The record is completed with the counts and written to the log as an `audit` line.
//!
//! A visitor who comes back afterwards is new data: events received after the record's time
//! are kept.
//!
//! Deleting a site ([`crate::http::site_admin`]) writes the same kind of record for the whole site
//! ([`ForgetRecord::whole_site`]): from then on the sinks drop every event of the site
//! received up to its time, and every reader of dead letters hides the site's letters written
//! up to then, so a later site with the same key starts empty in both modes.

use crate::clock::Clock;
use crate::event::Event;
use crate::log::Log;
use crate::warehouse::Warehouse;

use std::collections::HashMap;
use std::sync::RwLock;

pub use crate::model::forget::{visitor_hash, ForgetRecord};

/// Forget `visitor` of `site` everywhere (see the module docs), as of `clock`'s now. `by`
/// names who asked.
pub async fn forget_visitor(
    clock: &dyn Clock,
    log: &dyn Log,
    warehouse: &dyn Warehouse,
    site: &str,
    visitor: &str,
    by: &str,
) -> anyhow::Result<ForgetRecord> {
    anyhow::ensure!(!visitor.is_empty(), "visitor: must not be empty");
    let mut rec = ForgetRecord::begin(site, Some(visitor), by, clock.now_ms());
    warehouse.put_forget(&rec).await?;
    rec.log_events = log.forget_visitor(site, visitor).await?;
    let (events, days) = warehouse.delete_visitor(site, visitor).await?;
    rec.warehouse_events = events;
    rec.days = days;
    rec.done_at = Some(clock.now_ms());
    warehouse.put_forget(&rec).await?;
    tracing::info!(
        target: "audit",
        action = "forget_visitor",
        id = %rec.id,
        site = %rec.site,
        visitor_sha256 = %rec.visitor_sha256,
        by = %rec.by,
        log_events = rec.log_events,
        warehouse_events = rec.warehouse_events,
        days = rec.days.len(),
        "visitor forgotten"
    );
    Ok(rec)
}

/// The forgotten visitors, for the sink: per site, visitor hash → time of the erasure.
/// Refreshed from [`Warehouse::forgets`].
#[derive(Default)]
pub struct Forgotten {
    by_site: RwLock<HashMap<String, HashMap<String, i64>>>,
    /// Deleted sites: key → time of the deletion.
    sites: RwLock<HashMap<String, i64>>,
}

impl Forgotten {
    /// Re-read the records.
    pub async fn refresh(&self, warehouse: &dyn Warehouse) -> anyhow::Result<()> {
        let mut m: HashMap<String, HashMap<String, i64>> = HashMap::new();
        let mut sites: HashMap<String, i64> = HashMap::new();
        for r in warehouse.forgets().await? {
            let at = if r.whole_site {
                sites.entry(r.site).or_insert(r.at)
            } else {
                m.entry(r.site).or_default().entry(r.visitor_sha256).or_insert(r.at)
            };
            *at = (*at).max(r.at);
        }
        *self.by_site.write().expect("forgotten lock") = m;
        *self.sites.write().expect("forgotten lock") = sites;
        Ok(())
    }

    /// Whether `ev` belongs to a visitor forgotten, or a site deleted, after it was received.
    pub fn drops(&self, ev: &Event) -> bool {
        if self.site_deleted_after(&ev.site, ev.received_at) {
            return true;
        }
        let m = self.by_site.read().expect("forgotten lock");
        let Some(site) = m.get(&ev.site) else {
            return false;
        };
        site.get(&visitor_hash(&ev.site, &ev.visitor_id))
            .is_some_and(|at| ev.received_at <= *at)
    }

    /// Whether a dead letter holds an event of a visitor forgotten after the letter was
    /// written (a Kafka dead-letter topic cannot delete it: every reader hides it instead).
    pub fn hides(&self, d: &crate::log::DeadLetter) -> bool {
        if self.site_deleted_after(&d.site, d.at) {
            return true;
        }
        let m = self.by_site.read().expect("forgotten lock");
        let Some(site) = m.get(&d.site) else {
            return false;
        };
        let visitor = serde_json::from_str::<serde_json::Value>(&d.raw)
            .ok()
            .and_then(|v| v.get("visitor_id").and_then(|x| x.as_str()).map(str::to_string))
            .or_else(|| crate::log::deadletter::decode_event(&d.raw).map(|e| e.visitor_id));
        visitor.is_some_and(|v| site.get(&visitor_hash(&d.site, &v)).is_some_and(|at| d.at <= *at))
    }

    /// Whether site `key` was deleted at or after `at` (ms).
    fn site_deleted_after(&self, key: &str, at: i64) -> bool {
        self.sites
            .read()
            .expect("forgotten lock")
            .get(key)
            .is_some_and(|deleted| at <= *deleted)
    }

    /// Whether any visitor is forgotten or any site deleted at all (the sink skips the
    /// checks otherwise).
    pub fn is_empty(&self) -> bool {
        self.by_site.read().expect("forgotten lock").is_empty() && self.sites.read().expect("forgotten lock").is_empty()
    }
}
