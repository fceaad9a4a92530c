//! `sightline serve`: the composition root. Wires ingest → log → sink → rollup → query in
//! one process (the embedded default), with the routes of [`crate::http`], and connects the
//! backends the subcommands use.

use crate::access::Tokens;
use crate::clock::{self, Clock};
use crate::config::Roles;
pub use crate::config::{BackendArgs, WarehouseArgs};
use crate::http::{self, AppState};
use crate::ingest::quota::{QuotaConfig, Quotas};
use crate::ingest::{IngestState, Limits};
use crate::log::kafka::{KafkaConfig, KafkaLog};
use crate::log::{embedded::EmbeddedLog, Log};
use crate::metrics::{self, METRICS};
use crate::rollup;
use crate::sink::{self, SinkConfig};
use crate::sites::SiteCache;
use crate::warehouse::{clickhouse::ClickHouseWarehouse, sqlite::SqliteWarehouse, Warehouse};
use actix_web::{web, HttpServer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Give glibc's allocator at most one arena per core (the cores this process may run on),
/// unless `MALLOC_ARENA_MAX` is set, which then decides. Call it first in `main`, before
/// any thread starts.
///
/// The binary allocates through jemalloc (`src/main.rs`); glibc's heap serves the C
/// libraries: SQLite's page caches and statements, librdkafka. glibc's default is 8 arenas
/// per core, and every blocking-pool thread that runs a SQLite call (sink batches, rollup
/// writes, queries) may take one, which keeps the pages freed in it. With glibc as the only
/// allocator, this cap alone took a 5-minute embedded soak at 10,000 events/s on 2 cores
/// from a peak RSS of 223 to 148 MiB and an RSS slope of 8.9 to 0.9 MiB/min
/// (docs/performance-notes.md, "The allocator").
pub fn limit_heap_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let cores = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only sets a tunable of the allocator; called before other threads.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, cores);
        }
    }
}

/// Parse `--rollup-shard`: `INDEX/COUNT`, 0 ≤ INDEX < COUNT ≤ [`crate::warehouse::BUCKETS`]
/// (buckets `b` with `b % COUNT == INDEX`, [`crate::warehouse::Shard::fixed`]).
pub fn parse_shard(s: &str) -> Result<crate::warehouse::Shard, String> {
    let bad = || {
        format!(
            "{s:?}: give INDEX/COUNT with 0 <= INDEX < COUNT <= {}",
            crate::warehouse::BUCKETS
        )
    };
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (index, count): (u32, u32) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if count == 0 || index >= count || count > crate::warehouse::BUCKETS {
        return Err(bad());
    }
    Ok(crate::warehouse::Shard::fixed(index, count))
}

/// Settings of `sightline serve`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: String,
    pub data_dir: PathBuf,
    /// From `SIGHTLINE_API_TOKEN`; `None` → read or create `<data-dir>/api-token`.
    pub api_token: Option<String>,
    pub limits: Limits,
    /// How often the rollup job looks for dirty sessions.
    pub rollup_every: Duration,
    /// This process's share of the rollup work with the embedded log (`--rollup-shard`). With
    /// the Kafka log the share is leased from the group ([`crate::rollup::leases`]) and
    /// anything but [`crate::warehouse::Shard::ALL`] is refused at start-up.
    pub rollup_shard: crate::warehouse::Shard,
    /// Stages this process runs.
    pub roles: Roles,
    /// Ingest quotas and overload limits.
    pub quotas: QuotaConfig,
    /// The sink's batching (`--sink-*`).
    pub sink: SinkConfig,
    /// Session-replay chunk caps and part size.
    pub replay: crate::replay::ReplayLimits,
}

/// Every minute, forget quota keys (client IPs, sites) that went idle: bounded memory.
fn tasks_quota_sweep(quotas: &Arc<Quotas>) {
    let quotas = quotas.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            quotas.sweep();
        }
    });
}

/// The API token: the configured one, else `<data-dir>/api-token`, created on first start.
pub fn api_token(data_dir: &Path, configured: Option<String>) -> anyhow::Result<String> {
    if let Some(t) = configured.filter(|t| !t.is_empty()) {
        return Ok(t);
    }
    let path = data_dir.join("api-token");
    if let Ok(t) = std::fs::read_to_string(&path) {
        if !t.trim().is_empty() {
            return Ok(t.trim().to_string());
        }
    }
    std::fs::create_dir_all(data_dir)?;
    let bytes: [u8; 24] = rand::random();
    let token = hex::encode(bytes);
    std::fs::write(&path, &token)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    eprintln!(
        "sightline: created an API token in {} (use it as `Authorization: Bearer <token>`)",
        path.display()
    );
    Ok(token)
}

/// The log and warehouse this process uses, and the log's name for metric labels.
pub struct Backends {
    pub log: Arc<dyn Log>,
    pub warehouse: Arc<dyn Warehouse>,
    pub log_backend: &'static str,
    /// The Kafka log's settings (`None`: the embedded log); the rollup role leases its buckets
    /// from a consumer group on these brokers.
    pub kafka: Option<KafkaConfig>,
}

/// Connect the warehouse selected by `args`.
pub async fn connect_warehouse(args: &WarehouseArgs) -> anyhow::Result<Arc<dyn Warehouse>> {
    Ok(match &args.clickhouse_url {
        Some(url) => ClickHouseWarehouse::connect(url, &args.clickhouse_database).await?,
        None => SqliteWarehouse::open(&args.data_dir)?,
    })
}

/// Connect the log and warehouse selected by `args`. `limits` bounds the Kafka producer's
/// wait so that it answers before ingest's own timeout.
pub async fn connect_backends(args: &BackendArgs, limits: &Limits) -> anyhow::Result<Backends> {
    let warehouse = connect_warehouse(args).await?;
    let mut kafka = None;
    let (log, log_backend): (Arc<dyn Log>, &'static str) = match &args.kafka_brokers {
        Some(brokers) => {
            let cfg = KafkaConfig {
                brokers: brokers.clone(),
                topic_prefix: args.kafka_topic_prefix.clone(),
                partitions: args.kafka_partitions,
                replication: args.kafka_replication,
                data_dir: args.data_dir.clone(),
                idempotence: args.kafka_idempotence,
                max_message_bytes: args.kafka_max_message_bytes,
                produce_timeout_ms: (limits.append_timeout.as_millis() as u64)
                    .saturating_sub(2000)
                    .max(1000),
                ..KafkaConfig::default()
            };
            kafka = Some(cfg.clone());
            (KafkaLog::connect(cfg).await?, "kafka")
        }
        None => (EmbeddedLog::open(&args.data_dir)?, "embedded"),
    };
    Ok(Backends {
        log,
        warehouse,
        log_backend,
        kafka,
    })
}

/// How often `serve` re-reads the sites and API tokens from the warehouse, so that changes
/// made by the CLI or another process apply.
pub const SITES_REFRESH_EVERY: Duration = Duration::from_secs(5);

/// Every `every`, re-read the sites and API tokens from the warehouse (a failure is logged
/// and retried at the next turn); runs until the task is dropped.
///
/// With `recompute` (a process with the rollup role), a site whose time zone or goal was
/// changed elsewhere (the CLI, another process) has every session marked for recompute once
/// the new rules are in the cache: the change's own marks may have been taken by this
/// process's rollup job under the old rules in between.
pub async fn refresh_sites_and_tokens(
    warehouse: Arc<dyn Warehouse>,
    sites: Arc<SiteCache>,
    tokens: Arc<Tokens>,
    every: Duration,
    recompute: bool,
) {
    loop {
        tokio::time::sleep(every).await;
        match warehouse.sites().await {
            Ok(s) => {
                for key in sites.replace(s) {
                    if !recompute {
                        continue;
                    }
                    match warehouse.mark_dirty(&key, 0, crate::warehouse::ALL_DAYS_END).await {
                        Ok(n) => {
                            tracing::info!(site = %key, sessions = n, "time zone or goal changed elsewhere: sessions marked for recompute")
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, site = %key, "could not mark the sessions of a changed site")
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not refresh sites"),
        }
        if let Err(e) = tokens.refresh(warehouse.as_ref()).await {
            tracing::warn!(error = %e, "could not refresh API tokens");
        }
    }
}

/// Run the stages of `cfg.roles` in this process until SIGINT/SIGTERM.
pub async fn serve(cfg: ServeConfig, backends: Backends) -> anyhow::Result<()> {
    let token = api_token(&cfg.data_dir, cfg.api_token.clone())?;
    let Backends {
        log,
        warehouse,
        log_backend,
        kafka,
    } = backends;
    if kafka.is_some() && cfg.rollup_shard != crate::warehouse::Shard::ALL {
        anyhow::bail!(
            "--rollup-shard {} is for the embedded log: with Kafka the rollup processes lease their \
             session buckets from the consumer group {} (leave --rollup-shard at 0/1)",
            cfg.rollup_shard,
            kafka.as_ref().map(KafkaConfig::rollup_group).unwrap_or_default()
        );
    }
    // The system clock (moved only by the test suite's hook, `clock::TEST_CLOCK_OFFSET_ENV`).
    let clock: Arc<dyn Clock> = clock::from_env().map_err(anyhow::Error::msg)?;
    let tokens = Arc::new(Tokens::new(token));
    tokens.refresh(warehouse.as_ref()).await?;
    let sites = Arc::new(SiteCache::default());
    sites.replace(warehouse.sites().await?);
    let _ = &*METRICS;
    metrics::init_backend(log_backend);
    if log_backend == "kafka" {
        metrics::set_producer_queue_capacity(crate::log::kafka::QUEUE_MAX_MESSAGES);
    }

    // What the rollup job (and `POST /v1/admin/rollup/run`) of this process takes.
    let leases = match (&kafka, cfg.roles.rollup) {
        (Some(k), true) => Some(rollup::leases::Leases::join(k).await?),
        _ => None,
    };
    let rollup_owner = match (&leases, &kafka) {
        (Some(l), _) => rollup::job::Ownership::Leased(l.clone()),
        (None, Some(_)) => rollup::job::Ownership::Fixed(crate::warehouse::Shard::NONE),
        (None, None) => rollup::job::Ownership::Fixed(cfg.rollup_shard.clone()),
    };
    if leases.is_none() {
        let owned = if cfg.roles.rollup {
            rollup_owner.shard().bucket_count()
        } else {
            0
        };
        METRICS.rollup_owned_buckets.set(i64::from(owned));
    }

    let state = web::Data::new(AppState {
        log: log.clone(),
        warehouse: warehouse.clone(),
        sites: sites.clone(),
        tokens: tokens.clone(),
        limits: cfg.limits,
        log_backend,
        quotas: Arc::new(Quotas::new(cfg.quotas.clone())),
        rollup: rollup_owner.clone(),
        clock: clock.clone(),
    });
    tasks_quota_sweep(&state.quotas);
    let ingest_state = web::Data::new(IngestState {
        log: log.clone(),
        sites: sites.clone(),
        limits: cfg.limits,
        log_backend,
        quotas: state.quotas.clone(),
        clock: clock.clone(),
        replay: cfg.replay,
    });

    let mut tasks = Vec::new();
    let sink_task = if cfg.roles.sink {
        Some(tokio::spawn(sink::run(
            log.clone(),
            warehouse.clone(),
            cfg.sink.clone(),
        )))
    } else {
        None
    };
    if cfg.roles.rollup {
        tasks.push(tokio::spawn(rollup::job::run(
            clock.clone(),
            warehouse.clone(),
            sites.clone(),
            cfg.rollup_every,
            rollup_owner.clone(),
        )));
    }
    tasks.push(tokio::spawn({
        let (warehouse, sites, tokens) = (warehouse.clone(), sites.clone(), tokens.clone());
        async move {
            refresh_sites_and_tokens(warehouse, sites, tokens, SITES_REFRESH_EVERY, cfg.roles.rollup).await;
            Ok(())
        }
    }));

    let roles = cfg.roles;
    let server = HttpServer::new(move || http::app(state.clone(), ingest_state.clone(), roles))
        .bind(&cfg.listen)?
        .shutdown_timeout(5)
        .run();
    tracing::info!(listen = %cfg.listen, data_dir = %cfg.data_dir.display(), log = log_backend, roles = ?roles, "sightline serving");
    eprintln!(
        "sightline: listening on http://{} ({log_backend} log, data dir {}, roles {})",
        cfg.listen,
        cfg.data_dir.display(),
        roles
    );
    let result = match sink_task {
        Some(sink_task) => tokio::select! {
            r = server => r.map_err(anyhow::Error::from),
            r = sink_task => Err(anyhow::anyhow!("sink stopped: {:?}", r)),
        },
        None => server.await.map_err(anyhow::Error::from),
    };
    for t in tasks {
        t.abort();
    }
    // Leave the rollup group now, so the others take this process's buckets at once.
    if let Some(l) = &leases {
        l.shutdown(Duration::from_secs(10)).await;
    }
    // Flush what the producer still holds (bounded) before exiting.
    log.shutdown().await;
    result
}
