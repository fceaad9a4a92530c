//! Settings, the lowest layer: the flag groups the commands flatten (each with its env var
//! and default), the [`defaults`] themselves (which the stages' `Default` impls read too),
//! and [`Roles`]. Every command shows only the groups it flattens (`serve`: [`ServeArgs`],
//! [`QuotaArgs`], [`SinkArgs`], [`BackendArgs`]; `gdpr` and `deadletter`: [`BackendArgs`]; `site`,
//! `survey`, `rollup`, `token`, `retention`: [`WarehouseArgs`]; `import`: none).

use std::path::PathBuf;

/// Every default of the flags, in one place.
pub mod defaults {
    /// `--listen`.
    pub const LISTEN: &str = "127.0.0.1:8080";
    /// `--data-dir`.
    pub const DATA_DIR: &str = "./sightline-data";
    /// `--max-batch-bytes`: a decoded `POST /v1/events` body, 1 MiB.
    pub const MAX_BATCH_BYTES: usize = 1 << 20;
    /// `--max-event-bytes`: one event's JSON, 256 KiB (under Kafka's 1 MB message limit).
    pub const MAX_EVENT_BYTES: usize = 256 << 10;
    /// `--append-timeout-ms`: the wait for the log before a `503`.
    pub const APPEND_TIMEOUT_MS: u64 = 10_000;
    /// `--body-chunk-timeout-ms`: the wait for a body's next chunk before a `408`.
    pub const BODY_CHUNK_TIMEOUT_MS: u64 = 10_000;
    /// `--rollup-every-ms`.
    pub const ROLLUP_EVERY_MS: u64 = 1000;
    /// `--quota-ip-rps`.
    pub const QUOTA_IP_RPS: u32 = 100;
    /// `--quota-visitor-eps`.
    pub const QUOTA_VISITOR_EPS: u32 = 50;
    /// `--quota-site-eps`.
    pub const QUOTA_SITE_EPS: u32 = 20_000;
    /// `--max-inflight`.
    pub const MAX_INFLIGHT: usize = 1024;
    /// `--clickhouse-database`.
    pub const CLICKHOUSE_DATABASE: &str = "sightline";
    /// `--kafka-topic-prefix`.
    pub const KAFKA_TOPIC_PREFIX: &str = "sightline";
    /// `--kafka-partitions`.
    pub const KAFKA_PARTITIONS: i32 = 6;
    /// `--kafka-replication`.
    pub const KAFKA_REPLICATION: i32 = 1;
    /// `--kafka-max-message-bytes`: the largest record, under Kafka's default
    /// `message.max.bytes` (1 048 588).
    pub const KAFKA_MAX_MESSAGE_BYTES: usize = 1_000_000;
    /// `--sink-batch-max`: most records per warehouse insert.
    pub const SINK_BATCH_MAX: usize = 10_000;
    /// `--sink-batch-wait-ms`: longest a sink batch waits to fill after its first record.
    pub const SINK_BATCH_WAIT_MS: u64 = 1_000;
    /// `--sink-in-flight`: most sink batches being stored at once.
    pub const SINK_IN_FLIGHT: usize = 4;
    /// Cap on one replay chunk as sent (`POST /v1/replay`, gzip bytes): 2 MiB.
    pub const REPLAY_MAX_CHUNK_BYTES: usize = 2 << 20;
    /// Cap on one replay chunk decoded (its JSON): 16 MiB.
    pub const REPLAY_MAX_DECODED_BYTES: usize = 16 << 20;
    /// Largest part of a stored replay chunk, bytes: a chunk is split into parts of at most
    /// this many bytes, each one log record, so no record reaches Kafka's 1 MB message limit.
    pub const REPLAY_PART_BYTES: usize = 256 << 10;
}

/// The flags of `serve` itself (its quotas and backends are [`QuotaArgs`] and
/// [`BackendArgs`]).
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SIGHTLINE_LISTEN", default_value = defaults::LISTEN)]
    pub listen: String,
    /// Bearer token of the query and admin API; created in the data dir when unset.
    #[arg(long, env = "SIGHTLINE_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,
    /// Cap on a decoded `POST /v1/events` body, bytes.
    #[arg(long, env = "SIGHTLINE_MAX_BATCH_BYTES", default_value_t = defaults::MAX_BATCH_BYTES)]
    pub max_batch_bytes: usize,
    /// Cap on one event's JSON (replay metadata included), bytes.
    #[arg(long, env = "SIGHTLINE_MAX_EVENT_BYTES", default_value_t = defaults::MAX_EVENT_BYTES)]
    pub max_event_bytes: usize,
    /// Longest wait for the log to acknowledge a batch before answering 503, ms.
    #[arg(long, env = "SIGHTLINE_APPEND_TIMEOUT_MS", default_value_t = defaults::APPEND_TIMEOUT_MS)]
    pub append_timeout_ms: u64,
    /// How often the rollup job runs, ms.
    #[arg(long, env = "SIGHTLINE_ROLLUP_EVERY_MS", default_value_t = defaults::ROLLUP_EVERY_MS)]
    pub rollup_every_ms: u64,
    /// Cap on one session-replay chunk as sent (gzip), bytes.
    #[arg(long, env = "SIGHTLINE_REPLAY_MAX_CHUNK_BYTES", default_value_t = defaults::REPLAY_MAX_CHUNK_BYTES)]
    pub replay_max_chunk_bytes: usize,
    /// Cap on one session-replay chunk decoded (JSON), bytes.
    #[arg(long, env = "SIGHTLINE_REPLAY_MAX_DECODED_BYTES", default_value_t = defaults::REPLAY_MAX_DECODED_BYTES)]
    pub replay_max_decoded_bytes: usize,
    /// Largest log record of a replay chunk, bytes (a bigger chunk is split in parts).
    #[arg(long, env = "SIGHTLINE_REPLAY_PART_BYTES", default_value_t = defaults::REPLAY_PART_BYTES)]
    pub replay_part_bytes: usize,
    /// Stages to run here: `all`, or a comma list of ingest, sink, rollup, query.
    #[arg(long, env = "SIGHTLINE_ROLES", default_value = "all", value_parser = Roles::parse)]
    pub roles: Roles,
}

/// Quotas and overload limits of `POST /v1/events` (see `sightline::ingest::quota`).
#[derive(Debug, Clone, clap::Args)]
pub struct QuotaArgs {
    /// Requests per second per client IP (bursts of twice that); 0 turns it off.
    #[arg(long, env = "SIGHTLINE_QUOTA_IP_RPS", default_value_t = defaults::QUOTA_IP_RPS)]
    pub quota_ip_rps: u32,
    /// Events per second per visitor of a site (bursts of 20 s worth: 1000 events at the
    /// default); a visitor over it gets 429 + Retry-After, or, sharing a batch with others,
    /// its events are listed as rejected on visitor_id. 0 turns it off.
    #[arg(long, env = "SIGHTLINE_QUOTA_VISITOR_EPS", default_value_t = defaults::QUOTA_VISITOR_EPS)]
    pub quota_visitor_eps: u32,
    /// Events per second per site (bursts of twice that, at least 1000); 0 turns it off.
    #[arg(long, env = "SIGHTLINE_QUOTA_SITE_EPS", default_value_t = defaults::QUOTA_SITE_EPS)]
    pub quota_site_eps: u32,
    /// Ingest requests handled at once; more are answered 503 + Retry-After.
    #[arg(long, env = "SIGHTLINE_MAX_INFLIGHT", default_value_t = defaults::MAX_INFLIGHT)]
    pub max_inflight: usize,
    /// A proxy whose X-Forwarded-For is believed, as CIDR (repeatable, or comma list).
    #[arg(long = "trusted-proxy", env = "SIGHTLINE_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Longest wait for the next chunk of a request body before answering 408, ms.
    #[arg(long, env = "SIGHTLINE_BODY_CHUNK_TIMEOUT_MS", default_value_t = defaults::BODY_CHUNK_TIMEOUT_MS)]
    pub body_chunk_timeout_ms: u64,
}

/// The sink's batching (`serve` with the sink role): a batch is stored when it holds
/// `--sink-batch-max` records or is `--sink-batch-wait-ms` old, and up to `--sink-in-flight`
/// batches are stored at once, their offsets committed in order.
#[derive(Debug, Clone, clap::Args)]
pub struct SinkArgs {
    /// Most records per warehouse insert (at least 1).
    #[arg(long, env = "SIGHTLINE_SINK_BATCH_MAX", default_value_t = defaults::SINK_BATCH_MAX)]
    pub sink_batch_max: usize,
    /// Longest a batch waits to fill after its first record, ms.
    #[arg(long, env = "SIGHTLINE_SINK_BATCH_WAIT_MS", default_value_t = defaults::SINK_BATCH_WAIT_MS)]
    pub sink_batch_wait_ms: u64,
    /// Most batches being stored at once (at least 1).
    #[arg(long, env = "SIGHTLINE_SINK_IN_FLIGHT", default_value_t = defaults::SINK_IN_FLIGHT)]
    pub sink_in_flight: usize,
}

/// Where the warehouse lives: the flags of the commands that open only the warehouse (`site`,
/// `token`, `survey`, `rollup`, `retention`). Unset ClickHouse URL → the embedded SQLite
/// warehouse in `data_dir`.
#[derive(Debug, Clone, clap::Args)]
pub struct WarehouseArgs {
    /// The data directory: the embedded warehouse and log, the API token, the Kafka id index.
    #[arg(long, env = "SIGHTLINE_DATA_DIR", default_value = defaults::DATA_DIR, global = true)]
    pub data_dir: PathBuf,
    /// ClickHouse HTTP URL (`http://host:8123`); selects the ClickHouse warehouse.
    #[arg(long, env = "SIGHTLINE_CLICKHOUSE_URL", global = true)]
    pub clickhouse_url: Option<String>,
    /// ClickHouse database (created if missing).
    #[arg(
        long,
        env = "SIGHTLINE_CLICKHOUSE_DATABASE",
        default_value = defaults::CLICKHOUSE_DATABASE,
        global = true
    )]
    pub clickhouse_database: String,
}

/// Where the log and the warehouse live ([`WarehouseArgs`] and the Kafka flags): the flags
/// of the commands that open the log too (`serve`, `gdpr`, `deadletter`). Unset Kafka
/// brokers → the embedded log in `data_dir`. Derefs to its [`WarehouseArgs`].
#[derive(Debug, Clone, clap::Args)]
pub struct BackendArgs {
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    /// Kafka bootstrap brokers (`host:port,…`); selects the Kafka log.
    #[arg(long, env = "SIGHTLINE_KAFKA_BROKERS", global = true)]
    pub kafka_brokers: Option<String>,
    /// Kafka topic prefix: topics `<prefix>.events` and `<prefix>.deadletter`.
    #[arg(
        long,
        env = "SIGHTLINE_KAFKA_TOPIC_PREFIX",
        default_value = defaults::KAFKA_TOPIC_PREFIX,
        global = true
    )]
    pub kafka_topic_prefix: String,
    /// Partitions of `<prefix>.events` when Sightline creates it.
    #[arg(long, env = "SIGHTLINE_KAFKA_PARTITIONS", default_value_t = defaults::KAFKA_PARTITIONS, global = true)]
    pub kafka_partitions: i32,
    /// Replication factor of the topics Sightline creates.
    #[arg(long, env = "SIGHTLINE_KAFKA_REPLICATION", default_value_t = defaults::KAFKA_REPLICATION, global = true)]
    pub kafka_replication: i32,
    /// Kafka idempotent producer (`enable.idempotence`). Keep it on with Apache Kafka; Tansu
    /// 0.6 breaks when an idempotent producer times out, so its tests turn it off.
    #[arg(long, env = "SIGHTLINE_KAFKA_IDEMPOTENCE", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub kafka_idempotence: bool,
    /// Largest Kafka record (value plus key), bytes: larger ones are refused before they are
    /// produced. Keep it at or under the broker's `message.max.bytes`.
    #[arg(long, env = "SIGHTLINE_KAFKA_MAX_MESSAGE_BYTES", default_value_t = defaults::KAFKA_MAX_MESSAGE_BYTES, global = true)]
    pub kafka_max_message_bytes: usize,
}

impl std::ops::Deref for BackendArgs {
    type Target = WarehouseArgs;
    fn deref(&self) -> &WarehouseArgs {
        &self.warehouse
    }
}

/// Which stages this process runs (`--roles`). Several processes with different roles
/// share the work through the log's consumer groups and the warehouse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    /// `POST /v1/events`, the snippet and its config.
    pub ingest: bool,
    /// The log → warehouse sink.
    pub sink: bool,
    /// The rollup job.
    pub rollup: bool,
    /// The query and admin API.
    pub query: bool,
}

impl std::fmt::Display for Roles {
    /// `ingest,sink,rollup,query` (the roles this process runs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let on: Vec<&str> = [
            (self.ingest, "ingest"),
            (self.sink, "sink"),
            (self.rollup, "rollup"),
            (self.query, "query"),
        ]
        .iter()
        .filter(|(b, _)| *b)
        .map(|(_, n)| *n)
        .collect();
        f.write_str(&on.join(","))
    }
}

impl Roles {
    /// Every stage.
    pub const ALL: Roles = Roles {
        ingest: true,
        sink: true,
        rollup: true,
        query: true,
    };
    const NONE: Roles = Roles {
        ingest: false,
        sink: false,
        rollup: false,
        query: false,
    };

    /// Parse `all` or a comma-separated list of `ingest`, `sink`, `rollup`, `query`.
    pub fn parse(s: &str) -> Result<Roles, String> {
        let mut r = Roles::NONE;
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "all" => r = Roles::ALL,
                "ingest" => r.ingest = true,
                "sink" => r.sink = true,
                "rollup" => r.rollup = true,
                "query" => r.query = true,
                other => return Err(format!("unknown role {other:?}; use all or ingest,sink,rollup,query")),
            }
        }
        if r == Roles::NONE {
            return Err("no role given".into());
        }
        Ok(r)
    }
}
