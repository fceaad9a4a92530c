//! [`AppState`]: what the handlers share (log, warehouse, sites, tokens, limits, quotas,
//! the rollup share, the clock), built by the composition root ([`crate::app`]).

use super::ApiError;
use crate::access::Tokens;
use crate::clock::Clock;
use crate::ingest::quota::Quotas;
use crate::ingest::Limits;
use crate::log::Log;
use crate::rollup;
use crate::sites::{Site, SiteCache};
use crate::warehouse::Warehouse;
use std::sync::Arc;

/// Shared state of every handler.
pub struct AppState {
    pub log: Arc<dyn Log>,
    pub warehouse: Arc<dyn Warehouse>,
    pub sites: Arc<SiteCache>,
    /// The root token and the API tokens ([`crate::access`]).
    pub tokens: Arc<Tokens>,
    pub limits: Limits,
    /// `embedded` or `kafka`, for metric labels.
    pub log_backend: &'static str,
    /// Ingest quotas, the in-flight limit and the client-IP rule.
    pub quotas: Arc<Quotas>,
    /// This process's share of the rollup work: `--rollup-shard` (embedded log), the buckets
    /// leased from the Kafka group (Kafka log, rollup role), or nothing (Kafka log, no
    /// rollup role). `POST /v1/admin/rollup/run` runs a pass over it.
    pub rollup: rollup::job::Ownership,
    /// Where the handlers read the time (a query's default `to`, a grant's expiry, the day
    /// of `POST /v1/admin/rollup/run`): the system's in production, a test's in tests.
    pub clock: Arc<dyn Clock>,
}

impl AppState {
    /// The site with write key `key` (from the site cache), or `404` naming `key`: what every
    /// route under `/v1/sites/{key}/…` answers for an unknown site.
    pub fn site(&self, key: &str) -> Result<Site, ApiError> {
        self.sites
            .get(key)
            .ok_or_else(|| ApiError::not_found("key", &format!("no site with key {key}")))
    }

    /// Like [`AppState::site`], but a key missing from the cache is looked up in the
    /// warehouse (a site created by another process moments ago). Admin routes that take a
    /// body or a confirmation call this first, so an unknown site is a `404` naming `key`
    /// whatever else is wrong with the request.
    pub async fn known_site(&self, key: &str) -> Result<(), ApiError> {
        match self.site(key) {
            Err(_) if self.warehouse.sites().await?.iter().any(|s| s.key == key) => Ok(()),
            found => found.map(|_| ()),
        }
    }
}
