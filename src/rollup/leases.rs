//! Dynamic, exclusive ownership of the session buckets by the rollup processes, leased from a
//! Kafka consumer group (the Kafka log only; the embedded log keeps `--rollup-shard`).
//!
//! # Why
//! In the ClickHouse warehouse, writing a session's rows reads its net rows and inserts
//! `new − net` (`SummingMergeTree`): exact only if **one writer at a time** handles a session.
//! A static `--rollup-shard I/N` cannot be changed while running (a new process with `0/3`
//! overlaps an old `0/2`), and a new process cannot take a share of the work.
//!
//! # How
//! Each process with the rollup role joins consumer group `<prefix>.rollup` on topic
//! `<prefix>.rollup-leases`, which has [`LEASE_PARTITIONS`] partitions (created if missing; an
//! existing topic keeps its count, which must divide [`BUCKETS`]). Nothing is produced to or
//! read from that topic: the group's **assignment** is the lease. The partitions `p` assigned
//! to a process are the bucket groups it owns: it takes the dirty sessions whose bucket `b`
//! has `b % P == p` ([`Shard::owned`] with modulus `P`). A process joining or leaving makes
//! the group rebalance, so a process started later takes a share, and the share of a process
//! that stopped goes to the others.
//!
//! A thread of its own polls the consumer every [`POLL_EVERY`] so that the membership stays
//! alive (librdkafka also heartbeats from its own thread every 2 s). A member that dies loses
//! its partitions once the broker has not heard from it for [`SESSION_TIMEOUT_MS`] (6 s; the
//! broker's `group.min.session.timeout.ms` must allow it, Kafka's default minimum is 6 s);
//! a member that stops cleanly leaves the group at once ([`Leases::shutdown`]).
//!
//! # Exclusivity
//! A process never works on a bucket after it was revoked while its new owner works on it:
//! - The group uses the **eager** protocol (`partition.assignment.strategy=range`): in a
//!   rebalance every member gives up all its partitions, and the broker hands out the new
//!   assignment only after every member of the group has rejoined, i.e. after every member's
//!   revoke callback returned (or the member was evicted, below).
//! - Every batch of the rollup job ([`super::job`]) holds a read guard on this process's
//!   batch lock from before it reads its [`Shard`] until its last write returned
//!   ([`Leases::batch`]).
//! - On revoke (`ConsumerContext::pre_rebalance`, on the polling thread) the revoked
//!   partitions leave the owned set first, so no new batch takes them, then the callback
//!   takes the batch lock for writing: it returns only once the batch in flight (any batch)
//!   has finished. Only then does this member rejoin, so the new owner's first batch starts
//!   after this member's last write. Partitions are added on assign
//!   (`post_rebalance`), after librdkafka applied the assignment.
//! - A SIGKILLed process writes nothing more, so handing its partitions to another member
//!   after its session timeout is safe.
//! - A member is evicted without its revoke having returned only when it does not rejoin
//!   within the rebalance timeout (`max.poll.interval.ms`, [`MAX_POLL_INTERVAL_MS`]: 5 min) or
//!   stops heartbeating for the session timeout while alive (cut off from the broker but not
//!   from the warehouse). A batch is bounded by the warehouse client's timeouts, far below
//!   5 min; the second case is the classic zombie of any lease without fencing: librdkafka
//!   revokes the assignment itself ("lost") when its heartbeats fail for the session
//!   timeout, so the overlap is at most the batch in flight then, and its damage (a delta
//!   applied twice to a session) is repaired by that session's next recompute.
//!
//! # Tansu
//! Tansu 0.6 can leave a group "stable" with no partition assigned when its leader died
//! without leaving and another member joined before the leader's session expired (see
//! `crate::log::kafka`). A member that has held no partition for [`ORPHAN_AFTER`] therefore
//! joins the group again (which rebalances it). With more rollup processes than
//! [`LEASE_PARTITIONS`] some of them would hold nothing and rejoin every [`ORPHAN_AFTER`]:
//! run at most that many.

use crate::log::kafka::{ensure_topic, KafkaConfig};
use crate::metrics::METRICS;
use crate::warehouse::{Shard, BUCKETS};
use anyhow::Context as _;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer as _, ConsumerContext, Rebalance};
use rdkafka::TopicPartitionList;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, OwnedRwLockReadGuard, RwLock};

/// Partitions of `<prefix>.rollup-leases` when a rollup process creates it: the number of
/// bucket groups, and the most rollup processes that can each own some (a divisor of
/// [`BUCKETS`]).
pub const LEASE_PARTITIONS: i32 = 64;

/// The group's session timeout (librdkafka `session.timeout.ms`), ms: a member the broker has
/// not heard from for this long loses its partitions.
pub const SESSION_TIMEOUT_MS: u32 = 6_000;

/// Heartbeat interval (librdkafka `heartbeat.interval.ms`), ms.
const HEARTBEAT_MS: u32 = 2_000;

/// The rebalance timeout (librdkafka `max.poll.interval.ms`), ms: how long a revoke may wait
/// for the batch in flight before the broker evicts this member.
pub const MAX_POLL_INTERVAL_MS: u32 = 300_000;

/// How often the lease thread polls the consumer.
pub const POLL_EVERY: Duration = Duration::from_millis(200);

/// A member holding no partition for this long joins the group again (see the module docs).
pub const ORPHAN_AFTER: Duration = Duration::from_secs(15);

/// What this process owns now.
#[derive(Debug, Clone)]
struct Owned {
    /// Partitions of the leases topic assigned to this member.
    partitions: BTreeSet<u32>,
    /// False from a revoke (or before the first assignment) until the next assignment.
    assigned: bool,
}

/// State shared by the rebalance callbacks, the polling thread and the rollup job.
struct State {
    /// Partition count of the leases topic: the shard modulus.
    modulus: u32,
    owned: watch::Sender<Owned>,
    /// Held for reading by every batch of the rollup job, for writing by a revoke.
    batches: Arc<RwLock<()>>,
}

impl State {
    fn shard(&self) -> Shard {
        Shard::owned(self.modulus, self.owned.borrow().partitions.iter().copied())
    }

    fn export(&self) {
        METRICS.rollup_owned_buckets.set(i64::from(self.shard().bucket_count()));
    }

    /// Drop `partitions` (all with `None`) from the owned set, then wait for the batch in
    /// flight to finish. Runs on the polling thread, never on an async runtime thread.
    fn revoke(&self, partitions: Option<Vec<u32>>) {
        self.owned.send_modify(|o| {
            match &partitions {
                Some(p) => p.iter().for_each(|p| {
                    o.partitions.remove(p);
                }),
                None => o.partitions.clear(),
            }
            o.assigned = false;
        });
        self.export();
        let started = Instant::now();
        drop(self.batches.blocking_write());
        tracing::info!(
            revoked = ?partitions,
            waited_ms = started.elapsed().as_millis() as u64,
            "rollup leases revoked; the batch in flight has finished"
        );
    }

    fn assign(&self, partitions: Vec<u32>) {
        self.owned.send_modify(|o| {
            o.partitions.extend(partitions.iter().copied());
            o.assigned = true;
        });
        self.export();
        tracing::info!(partitions = ?partitions, buckets = self.shard().bucket_count(), "rollup leases assigned");
    }
}

/// The rebalance callbacks of the lease consumer.
struct LeaseContext {
    state: Arc<State>,
    topic: String,
}

impl LeaseContext {
    fn partitions(&self, tpl: &TopicPartitionList) -> Vec<u32> {
        tpl.elements_for_topic(&self.topic)
            .iter()
            .filter_map(|e| u32::try_from(e.partition()).ok())
            .collect()
    }
}

impl ClientContext for LeaseContext {}

impl ConsumerContext for LeaseContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => self.state.revoke(Some(self.partitions(tpl))),
            Rebalance::Error(e) => {
                // librdkafka unassigns everything after an error: give it all up first.
                tracing::warn!(error = %e, "rollup lease rebalance error; giving up every lease");
                self.state.revoke(None);
            }
            Rebalance::Assign(_) => {}
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            self.state.assign(self.partitions(tpl));
        }
    }
}

/// This process's membership of the rollup group. See the module docs.
pub struct Leases {
    state: Arc<State>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// One batch's share of the work: the shard to take, and the guard that keeps a revoke from
/// returning until the batch is done (drop it after the batch's last write).
pub struct Batch {
    /// What the batch may take.
    pub shard: Shard,
    _guard: OwnedRwLockReadGuard<()>,
}

impl Leases {
    /// Create `<prefix>.rollup-leases` if missing (with [`LEASE_PARTITIONS`] partitions),
    /// check that its partition count divides [`BUCKETS`], and join group `<prefix>.rollup`
    /// from a thread of its own. Owns nothing until the group's first assignment.
    ///
    /// Errors: the broker cannot be reached or refuses the topic, or the existing topic's
    /// partition count does not divide [`BUCKETS`].
    pub async fn join(cfg: &KafkaConfig) -> anyhow::Result<Arc<Leases>> {
        let topic = cfg.leases_topic();
        let partitions = ensure_topic(cfg, &topic, LEASE_PARTITIONS).await?;
        let modulus = u32::try_from(partitions).unwrap_or(0);
        anyhow::ensure!(
            modulus > 0 && modulus <= BUCKETS && BUCKETS % modulus == 0,
            "kafka topic {topic} has {partitions} partitions: the rollup leases need a divisor of {BUCKETS}"
        );
        let (owned, _) = watch::channel(Owned {
            partitions: BTreeSet::new(),
            assigned: false,
        });
        let state = Arc::new(State {
            modulus,
            owned,
            batches: Arc::new(RwLock::new(())),
        });
        state.export();
        let group = cfg.rollup_group();
        let consumer: BaseConsumer<LeaseContext> = cfg
            .client_config()
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "latest")
            .set("partition.assignment.strategy", "range")
            .set("session.timeout.ms", SESSION_TIMEOUT_MS.to_string())
            .set("heartbeat.interval.ms", HEARTBEAT_MS.to_string())
            .set("max.poll.interval.ms", MAX_POLL_INTERVAL_MS.to_string())
            .create_with_context(LeaseContext {
                state: state.clone(),
                topic: topic.clone(),
            })
            .context("creating the kafka rollup lease consumer")?;
        consumer
            .subscribe(&[&topic])
            .with_context(|| format!("subscribing to {topic}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new().name("rollup-leases".into()).spawn({
            let (stop, state) = (stop.clone(), state.clone());
            move || poll_loop(consumer, &topic, &state, &stop)
        })?;
        tracing::info!(group = %group, partitions = modulus, "rollup: joined the lease group");
        Ok(Arc::new(Leases {
            state,
            stop,
            thread: Mutex::new(Some(thread)),
        }))
    }

    /// What this process owns now ([`Shard::NONE`] during a rebalance).
    pub fn shard(&self) -> Shard {
        self.state.shard()
    }

    /// Start a batch: wait for a revoke in progress to finish, then take the owned shard under
    /// a read guard. See [`Batch`].
    pub async fn batch(&self) -> Batch {
        let guard = self.state.batches.clone().read_owned().await;
        Batch {
            shard: self.state.shard(),
            _guard: guard,
        }
    }

    /// Wait (at most `timeout`) until the group has assigned this process at least one
    /// partition; returns whether it has.
    pub async fn wait_owned(&self, timeout: Duration) -> bool {
        let mut rx = self.state.owned.subscribe();
        let owned = tokio::time::timeout(timeout, rx.wait_for(|o| o.assigned && !o.partitions.is_empty())).await;
        matches!(owned, Ok(Ok(_)))
    }

    /// Leave the group (the others get this process's partitions at once): stop the polling
    /// thread, which waits for the batch in flight, unsubscribes and closes the consumer.
    /// Waits at most `timeout`.
    pub async fn shutdown(&self, timeout: Duration) {
        self.stop.store(true, Ordering::Relaxed);
        let thread = self.thread.lock().expect("leases thread").take();
        if let Some(t) = thread {
            let joined = tokio::time::timeout(timeout, tokio::task::spawn_blocking(move || t.join())).await;
            if joined.is_err() {
                tracing::warn!("rollup leases: the group was not left in time");
            }
        }
    }
}

impl Drop for Leases {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Poll the lease consumer until `stop`; rejoin when orphaned (see [`ORPHAN_AFTER`]).
fn poll_loop(consumer: BaseConsumer<LeaseContext>, topic: &str, state: &State, stop: &AtomicBool) {
    let mut empty_since: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        match consumer.poll(POLL_EVERY) {
            None | Some(Ok(_)) => {}
            Some(Err(e)) => tracing::debug!(error = %e, "rollup lease consumer"),
        }
        if !state.owned.borrow().partitions.is_empty() {
            empty_since = None;
            continue;
        }
        let since = *empty_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= ORPHAN_AFTER {
            tracing::warn!(topic, "rollup: no lease held for a while; joining the group again");
            consumer.unsubscribe();
            if let Err(e) = consumer.subscribe(&[topic]) {
                tracing::warn!(error = %e, "rollup lease subscribe failed");
            }
            empty_since = None;
        }
    }
    // Leaving: the revoke callback waits for the batch in flight; closing leaves the group.
    consumer.unsubscribe();
    let _ = consumer.poll(Duration::from_millis(100));
    state.revoke(None);
    drop(consumer);
    tracing::info!("rollup: left the lease group");
}
