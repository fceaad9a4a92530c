//! Quotas and overload protection for `POST /v1/events`: a request rate per client IP, an
//! event rate per visitor and one per site (GCRA token buckets from `governor`), a global
//! limit on requests in flight, and the client IP itself, read behind trusted proxies.
//!
//! Anchors: Relay answers `429` with `Retry-After` when a quota is used up and `503` when its
//! queue is full, and counts every drop as an outcome; so do we (metric
//! `sightline_requests_refused_total{cause="quota_ip"|"quota_visitor"|"quota_site"|"busy"}`).
//! A refusal here happens before anything is appended to the log, so nothing acknowledged is
//! ever dropped: the snippet keeps the batch and retries after `Retry-After`.
//!
//! The visitor quota (`cases/2026-12.md` C12: one client stuck in a loop sent 60,000 events a
//! minute) is taken before the site's, so a flooding visitor's refused events do not use up
//! the site's quota, and its other visitors see no change ([`Quotas::take_visitors`]).

use crate::config::defaults;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Quota settings (`sightline serve` flags). A rate of 0 turns that quota off.
#[derive(Debug, Clone)]
pub struct QuotaConfig {
    /// Requests per second per client IP; bursts of twice that. Default 100.
    pub ip_requests_per_s: u32,
    /// Events per second per site; bursts of twice that (and at least one full batch).
    /// Default 20,000.
    pub site_events_per_s: u32,
    /// Events per second per visitor (a site's `visitor_id`); bursts of
    /// [`VISITOR_BURST_SECONDS`] times that. Default 50 (bursts of 1000 events): far above
    /// what a person's clicks, scrolls and page views make, and room for the snippet's
    /// offline backlog (500 events) sent on the next page.
    pub visitor_events_per_s: u32,
    /// Ingest requests being handled at once, across the process; more get `503`.
    /// Default 1024.
    pub max_inflight: usize,
    /// Proxies whose `X-Forwarded-For` is believed (CIDR list, e.g. `10.0.0.0/8`). Empty: the
    /// peer address is the client.
    pub trusted_proxies: Vec<IpNet>,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        QuotaConfig {
            ip_requests_per_s: defaults::QUOTA_IP_RPS,
            site_events_per_s: defaults::QUOTA_SITE_EPS,
            visitor_events_per_s: defaults::QUOTA_VISITOR_EPS,
            max_inflight: defaults::MAX_INFLIGHT,
            trusted_proxies: Vec::new(),
        }
    }
}

/// Smallest burst of a site's event rate, in events, whatever its rate: a few full snippet
/// batches. A batch bigger than the whole burst takes the whole burst (it is never refused
/// for good).
const MIN_SITE_BURST: u32 = 1000;

/// Why a request was refused before it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The client IP's request rate is used up: `429`, retry after this long.
    Ip(Duration),
    /// The site's event rate is used up: `429`, retry after this long.
    Site(Duration),
    /// The event rate of every visitor of the batch is used up: `429`, retry after this long.
    Visitor(Duration),
    /// Too many requests in flight: `503`.
    Busy,
}

/// The process's quota state. Keyed limiters forget idle keys in [`Quotas::sweep`], which the
/// server calls every minute, so memory stays bounded however many IPs and sites appear.
pub struct Quotas {
    config: QuotaConfig,
    ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// One bucket per (site, visitor), keyed by a hash of the two (no per-request copy of
    /// the ids; keys are random per process, so nobody can aim at a collision).
    visitors: Option<DefaultKeyedRateLimiter<u64>>,
    visitor_hasher: std::collections::hash_map::RandomState,
    /// One bucket per site, at the site's own rate (`SiteSettings::events_per_s`) or the
    /// server default.
    sites: std::sync::RwLock<std::collections::HashMap<String, Arc<SiteBucket>>>,
    inflight: Arc<Semaphore>,
    clock: DefaultClock,
    samples: governor::DefaultDirectRateLimiter,
    started: std::time::Instant,
}

struct SiteBucket {
    /// Events a minute.
    rate: u64,
    burst: u32,
    limiter: governor::DefaultDirectRateLimiter,
    /// Last use, seconds since the process started (for [`Quotas::sweep`]).
    used: std::sync::atomic::AtomicU64,
}

/// A visitor's burst, in seconds of its rate: 20 (1000 events at the default 50 events/s).
pub const VISITOR_BURST_SECONDS: u32 = 20;

/// What [`Quotas::take_visitors`] refused of a batch.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct VisitorRefusals {
    /// Indexes (ascending) of the events refused: their visitor's rate is used up.
    pub refused: Vec<usize>,
    /// The longest wait until a refused visitor's events are taken again.
    pub wait: Duration,
}

/// Refused request bodies kept as dead-letter samples, per second (bursts of twice that).
pub const BODY_SAMPLES_PER_S: u32 = 10;

/// A site's quota at `per_minute` events a minute: one event every `60 s / per_minute`, bursts
/// of two seconds' worth and at least [`MIN_SITE_BURST`]. `None` for 0 (no quota).
fn site_quota(per_minute: u64) -> Option<Quota> {
    if per_minute == 0 {
        return None;
    }
    let period = Duration::from_nanos((60_000_000_000 / per_minute).max(1));
    let burst = (per_minute / 30).clamp(MIN_SITE_BURST as u64, u32::MAX as u64) as u32;
    Quota::with_period(period).map(|q| q.allow_burst(NonZeroU32::new(burst).expect("burst > 0")))
}

fn quota(per_s: u32, min_burst: u32) -> Option<Quota> {
    let rate = NonZeroU32::new(per_s)?;
    let burst = NonZeroU32::new(per_s.saturating_mul(2).max(min_burst)).expect("burst > 0");
    Some(Quota::per_second(rate).allow_burst(burst))
}

impl Quotas {
    /// Build the limiters of `config`.
    pub fn new(config: QuotaConfig) -> Quotas {
        Quotas {
            ip: quota(config.ip_requests_per_s, 1).map(RateLimiter::keyed),
            visitors: NonZeroU32::new(config.visitor_events_per_s).map(|rate| {
                let burst = NonZeroU32::new(rate.get().saturating_mul(VISITOR_BURST_SECONDS)).expect("burst > 0");
                RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
            }),
            visitor_hasher: Default::default(),
            sites: Default::default(),
            started: std::time::Instant::now(),
            inflight: Arc::new(Semaphore::new(config.max_inflight.max(1))),
            clock: DefaultClock::default(),
            samples: RateLimiter::direct(quota(BODY_SAMPLES_PER_S, 1).expect("nonzero")),
            config,
        }
    }

    /// Admit one request from `ip`: a permit held while it is handled, or why not.
    pub fn admit(&self, ip: Option<IpAddr>) -> Result<OwnedSemaphorePermit, Refusal> {
        if let (Some(limiter), Some(ip)) = (&self.ip, ip) {
            if let Err(not_until) = limiter.check_key(&ip) {
                return Err(Refusal::Ip(not_until.wait_time_from(self.clock.now())));
            }
        }
        self.inflight.clone().try_acquire_owned().map_err(|_| Refusal::Busy)
    }

    /// Take `events` from the site's event rate: `per_minute` events a minute when the site
    /// sets its own (`Some(0)`: unlimited), else the server default (`site_events_per_s`).
    pub fn take_site(&self, site: &str, per_minute: Option<u32>, events: usize) -> Result<(), Refusal> {
        let rate = per_minute.map_or(self.config.site_events_per_s as u64 * 60, u64::from);
        if rate == 0 {
            return Ok(());
        }
        let bucket = {
            let found = self.sites.read().expect("quota lock").get(site).cloned();
            match found {
                Some(b) if b.rate == rate => b,
                _ => {
                    // Only a new site or a changed rate builds a quota (not every request).
                    let q = site_quota(rate).expect("rate > 0");
                    let b = Arc::new(SiteBucket {
                        rate,
                        burst: q.burst_size().get(),
                        limiter: RateLimiter::direct(q),
                        used: Default::default(),
                    });
                    self.sites
                        .write()
                        .expect("quota lock")
                        .insert(site.to_string(), b.clone());
                    b
                }
            }
        };
        bucket
            .used
            .store(self.started.elapsed().as_secs(), std::sync::atomic::Ordering::Relaxed);
        // A batch bigger than the whole burst takes the whole burst (never refused for good).
        let n = NonZeroU32::new(events.min(bucket.burst as usize) as u32);
        let Some(n) = n else { return Ok(()) };
        match bucket.limiter.check_n(n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(Refusal::Site(not_until.wait_time_from(self.clock.now()))),
            Err(_) => Err(Refusal::Site(Duration::from_secs(1))),
        }
    }

    /// Take the events of a batch from their visitors' buckets: `visitors` gives each event's
    /// `visitor_id` in order (`None` for an event without one: not counted here, validation
    /// rejects it). Each visitor's events of the batch are taken at once, all or none; a
    /// visitor with more events in one batch than its whole burst has the burst taken and the
    /// rest refused. Returns the events refused (empty when the quota is off).
    pub fn take_visitors<'a>(
        &self,
        site: &str,
        visitors: impl Iterator<Item = Option<&'a str>> + Clone,
    ) -> VisitorRefusals {
        let mut out = VisitorRefusals::default();
        let Some(limiter) = &self.visitors else {
            return out;
        };
        let burst = self.config.visitor_events_per_s.saturating_mul(VISITOR_BURST_SECONDS);
        // Visitor hash → (events in the batch, events admitted, events seen in the 2nd pass).
        let mut by_visitor: std::collections::HashMap<u64, (u32, u32, u32)> = Default::default();
        let key = |v: &str| {
            use std::hash::BuildHasher;
            self.visitor_hasher.hash_one((site, v))
        };
        for v in visitors.clone().flatten() {
            by_visitor.entry(key(v)).or_default().0 += 1;
        }
        for (k, (n, admitted, _)) in by_visitor.iter_mut() {
            let take = (*n).min(burst);
            let Some(take_n) = NonZeroU32::new(take) else { continue };
            match limiter.check_key_n(k, take_n) {
                Ok(Ok(())) => *admitted = take,
                Ok(Err(not_until)) => out.wait = out.wait.max(not_until.wait_time_from(self.clock.now())),
                Err(_) => out.wait = out.wait.max(Duration::from_secs(1)),
            }
            if *admitted > 0 && *admitted < *n {
                // Over the burst in one batch: the rest may come once the bucket refills.
                out.wait = out.wait.max(Duration::from_secs(1));
            }
        }
        for (i, v) in visitors.enumerate() {
            let Some(v) = v else { continue };
            let (_, admitted, seen) = by_visitor.get_mut(&key(v)).expect("counted above");
            *seen += 1;
            if *seen > *admitted {
                out.refused.push(i);
            }
        }
        out
    }

    /// The visitor quota, as `(events per second, burst)`; `None` when off.
    pub fn visitor_rate(&self) -> Option<(u32, u32)> {
        let rate = self.config.visitor_events_per_s;
        (rate > 0).then(|| (rate, rate.saturating_mul(VISITOR_BURST_SECONDS)))
    }

    /// Whether one more refused body may be kept as a dead-letter sample now.
    pub fn take_sample(&self) -> bool {
        self.samples.check().is_ok()
    }

    /// Whether every in-flight slot is taken (`/readyz` answers 503 meanwhile).
    pub fn saturated(&self) -> bool {
        self.inflight.available_permits() == 0
    }

    /// Requests in flight now.
    pub fn inflight(&self) -> usize {
        self.config.max_inflight.max(1) - self.inflight.available_permits()
    }

    /// Forget keys whose bucket is full again (idle IPs and sites).
    pub fn sweep(&self) {
        if let Some(l) = &self.ip {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.visitors {
            l.retain_recent();
            l.shrink_to_fit();
        }
        // A site bucket idle for an hour is full again at any rate of 1 event/s or more.
        let now = self.started.elapsed().as_secs();
        self.sites
            .write()
            .expect("quota lock")
            .retain(|_, b| now.saturating_sub(b.used.load(std::sync::atomic::Ordering::Relaxed)) < 3600);
    }

    /// The client's IP: the peer address, unless the peer is a trusted proxy, in which case
    /// `X-Forwarded-For` is read from the right, skipping trusted proxies, and the first
    /// address that is not one is the client (`reference/analytics.md`, "IP"). Entries that
    /// are not IP addresses stop the walk at the last good address. Used for quotas and bot
    /// checks, never stored.
    pub fn client_ip(&self, peer: Option<IpAddr>, forwarded_for: Option<&str>) -> Option<IpAddr> {
        client_ip(&self.config.trusted_proxies, peer, forwarded_for)
    }
}

/// See [`Quotas::client_ip`].
pub fn client_ip(trusted: &[IpNet], peer: Option<IpAddr>, forwarded_for: Option<&str>) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    let mut client = peer?;
    if !is_trusted(&client) {
        return Some(client);
    }
    for hop in forwarded_for.unwrap_or("").rsplit(',') {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    Some(client)
}

/// `Retry-After` seconds for a wait: rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_millis().div_ceil(1000) as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_read_from_the_right_behind_trusted_proxies_only() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
        // Untrusted peer: its own address, whatever the header claims.
        assert_eq!(
            client_ip(&trusted, Some(ip("203.0.113.9")), Some("1.2.3.4")),
            Some(ip("203.0.113.9"))
        );
        // Trusted peer: the rightmost untrusted hop; a spoofed leftmost entry is ignored.
        assert_eq!(
            client_ip(&trusted, Some(ip("10.0.0.2")), Some("6.6.6.6, 198.51.100.7, 10.0.0.5")),
            Some(ip("198.51.100.7"))
        );
        // Garbage stops the walk at the last good address.
        assert_eq!(
            client_ip(&trusted, Some(ip("10.0.0.2")), Some("198.51.100.7, nonsense, 10.0.0.5")),
            Some(ip("10.0.0.5"))
        );
        // No header behind a trusted proxy: the proxy.
        assert_eq!(client_ip(&trusted, Some(ip("::1")), None), Some(ip("::1")));
        assert_eq!(client_ip(&[], None, Some("1.2.3.4")), None);
    }

    #[test]
    fn the_ip_quota_refuses_past_its_burst_and_says_how_long_to_wait() {
        let q = Quotas::new(QuotaConfig {
            ip_requests_per_s: 2,
            ..QuotaConfig::default()
        });
        let a = ip("192.0.2.1");
        let permits: Vec<_> = (0..4).map(|_| q.admit(Some(a))).collect();
        assert_eq!(
            permits.iter().filter(|p| p.is_ok()).count(),
            4,
            "burst is twice the rate"
        );
        match q.admit(Some(a)) {
            Err(Refusal::Ip(wait)) => assert!(wait > Duration::ZERO && wait <= Duration::from_millis(500)),
            other => panic!("expected an IP refusal, got {other:?}"),
        }
        // Another IP has its own bucket.
        assert!(q.admit(Some(ip("192.0.2.2"))).is_ok());
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
    }

    #[test]
    fn each_visitor_has_its_own_event_bucket_taken_before_the_sites() {
        let q = Quotas::new(QuotaConfig {
            visitor_events_per_s: 1,
            ..QuotaConfig::default()
        });
        let batch = |vs: &[&'static str]| vs.iter().map(|v| Some(*v)).collect::<Vec<_>>();
        // The burst is 20 events: 15 + 5 pass, then the visitor is refused, whole batch.
        assert_eq!(
            q.take_visitors("s", batch(&["a"; 15]).into_iter()).refused,
            Vec::<usize>::new()
        );
        assert!(q.take_visitors("s", batch(&["a"; 5]).into_iter()).refused.is_empty());
        let r = q.take_visitors("s", batch(&["a", "b", "a", "b"]).into_iter());
        assert_eq!(r.refused, vec![0, 2], "a is refused, b is not");
        assert!(
            r.wait > Duration::from_millis(500) && r.wait <= Duration::from_secs(2),
            "{r:?}"
        );
        // The same visitor id on another site is another visitor.
        assert!(q.take_visitors("t", batch(&["a"]).into_iter()).refused.is_empty());
        // Events without a visitor id are left to validation; more than the burst in one batch
        // takes the burst and refuses the rest.
        let mut big = batch(&["c"; 25]);
        big.insert(0, None);
        let r = q.take_visitors("s", big.into_iter());
        assert_eq!(r.refused, (21..26).collect::<Vec<_>>());
        assert_eq!(q.visitor_rate(), Some((1, 20)));
        let off = Quotas::new(QuotaConfig {
            visitor_events_per_s: 0,
            ..QuotaConfig::default()
        });
        assert!(off
            .take_visitors("s", batch(&["a"; 10_000]).into_iter())
            .refused
            .is_empty());
        assert_eq!(off.visitor_rate(), None);
    }

    #[test]
    fn the_site_quota_counts_events_and_the_inflight_limit_answers_busy() {
        let q = Quotas::new(QuotaConfig {
            site_events_per_s: 1000,
            max_inflight: 1,
            ..QuotaConfig::default()
        });
        assert!(q.take_site("s", None, 1500).is_ok());
        assert!(q.take_site("s", None, 500).is_ok());
        assert!(matches!(q.take_site("s", None, 50), Err(Refusal::Site(_))));
        assert!(q.take_site("other", None, 50).is_ok());
        // A batch bigger than the burst takes the whole burst, and is not refused for good.
        assert!(q.take_site("huge", None, 5000).is_ok());
        assert!(q.take_site("huge", None, 1).is_err());
        // A site's own rate replaces the default; 0 is unlimited.
        assert!(q.take_site("free", Some(0), 1_000_000).is_ok());
        assert!(q.take_site("tiny", Some(1), 1000).is_ok());
        assert!(q.take_site("tiny", Some(1), 1).is_err());
        match q.take_site("tiny", Some(1), 1) {
            Err(Refusal::Site(wait)) => assert!(wait > Duration::from_secs(50), "{wait:?}"),
            other => panic!("{other:?}"),
        }
        assert!(q.take_site("tiny", Some(0), 1).is_ok());
        let held = q.admit(None).unwrap();
        assert_eq!(q.inflight(), 1);
        assert_eq!(q.admit(None).unwrap_err(), Refusal::Busy);
        drop(held);
        assert!(q.admit(None).is_ok());
        q.sweep();
    }
}
