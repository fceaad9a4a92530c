//! The `sightline` command line.
//!
//! Each subcommand takes the flags it uses: the backend flags ([`BackendArgs`]: data dir,
//! Kafka, ClickHouse) belong to the commands that open the log and the warehouse (`serve`,
//! `gdpr`, `deadletter`); the warehouse flags alone ([`WarehouseArgs`]: data dir, ClickHouse)
//! to those that open only the warehouse (`site`, `survey`, `rollup`, `token`, `retention`);
//! none to `import`, which only talks HTTP to a running server.

use clap::{Parser, Subcommand};
use sightline::access;
use sightline::app::{self, BackendArgs, ServeConfig, WarehouseArgs};
use sightline::config::Roles;
use sightline::deadletters;
use sightline::http::{self, NewSite};
use sightline::ingest::quota::QuotaConfig;
use sightline::ingest::Limits;
use sightline::sites::SiteSettings;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "sightline",
    version,
    about = "Self-hostable behavioural analytics and voice of customer"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the stages of `--roles` (default all: ingest, log, sink, rollups, query) in one process.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "SIGHTLINE_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Bearer token of the query and admin API; created in the data dir when unset.
        #[arg(long, env = "SIGHTLINE_API_TOKEN", hide_env_values = true)]
        api_token: Option<String>,
        /// Cap on a decoded `POST /v1/events` body, bytes.
        #[arg(long, env = "SIGHTLINE_MAX_BATCH_BYTES", default_value_t = 1 << 20)]
        max_batch_bytes: usize,
        /// Cap on one event's JSON (replay metadata included), bytes.
        #[arg(long, env = "SIGHTLINE_MAX_EVENT_BYTES", default_value_t = 256 << 10)]
        max_event_bytes: usize,
        /// Longest wait for the log to acknowledge a batch before answering 503, ms.
        #[arg(long, env = "SIGHTLINE_APPEND_TIMEOUT_MS", default_value_t = 10_000)]
        append_timeout_ms: u64,
        /// How often the rollup job runs, ms.
        #[arg(long, env = "SIGHTLINE_ROLLUP_EVERY_MS", default_value_t = 1000)]
        rollup_every_ms: u64,
        /// Stages to run here: `all`, or a comma list of ingest, sink, rollup, query.
        #[arg(long, env = "SIGHTLINE_ROLES", default_value = "all", value_parser = Roles::parse)]
        roles: Roles,
        /// The share of the rollup work this process takes with the embedded log,
        /// `INDEX/COUNT` (0-based): with N rollup processes give each one of `0/N` … `N-1/N`;
        /// sessions are split by a hash of their id, so they share one busy site. With
        /// `--kafka-brokers` the rollup processes lease their share from the consumer group
        /// `<prefix>.rollup` instead (processes may come and go) and any value but `0/1` is
        /// refused at start-up.
        #[arg(long, env = "SIGHTLINE_ROLLUP_SHARD", default_value = "0/1", value_parser = app::parse_shard)]
        rollup_shard: sightline::warehouse::Shard,
        #[command(flatten)]
        quotas: QuotaArgs,
        #[command(flatten)]
        backends: BackendArgs,
    },
    /// Manage sites (a running server picks changes up within 5 s).
    Site {
        #[command(subcommand)]
        command: SiteCommand,
        #[command(flatten)]
        backends: WarehouseArgs,
    },
    /// Surveys and the feedback button of a site, from a JSON file (a running server picks
    /// changes up within 5 s).
    Survey {
        #[command(subcommand)]
        command: SurveyCommand,
        #[command(flatten)]
        backends: WarehouseArgs,
    },
    /// Rollup maintenance.
    Rollup {
        #[command(subcommand)]
        command: RollupCommand,
        #[command(flatten)]
        backends: WarehouseArgs,
    },
    /// API tokens for the query (`read`) and admin (`admin`) API; stored hashed.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
        #[command(flatten)]
        backends: WarehouseArgs,
    },
    /// Data retention: delete now what sites' `retention_days` no longer keep (the rollup
    /// role also does it every hour). Prints one line per site with a retention.
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
        #[command(flatten)]
        backends: WarehouseArgs,
    },
    /// Privacy: erase a visitor's data everywhere (GDPR art. 17), list past erasures.
    Gdpr {
        #[command(subcommand)]
        command: GdprCommand,
        #[command(flatten)]
        backends: BackendArgs,
    },
    /// The dead-letter store: rejected events and refused batches, with their reasons.
    Deadletter {
        #[command(subcommand)]
        command: DeadletterCommand,
        #[command(flatten)]
        backends: BackendArgs,
    },
    /// Import past page views and custom events from a CSV or JSON-lines file (columns
    /// visitor, session, url, timestamp, and event for a custom event; optional id,
    /// viewport_w, viewport_h, title, referrer, seq, props) through a running server's
    /// `POST /v1/sites/{key}/import`. Re-running it with the same file changes nothing (event
    /// ids are derived from the rows). Prints the totals as JSON; when rows were rejected, a
    /// summary of how many and why (by column) goes to stderr and the exit status is 2.
    Import {
        /// The CSV (`.csv`) or JSON-lines (`.jsonl`, `.ndjson`, `.json`) file.
        file: std::path::PathBuf,
        /// The site's write key.
        #[arg(long)]
        site: String,
        /// The server's base URL.
        #[arg(long, env = "SIGHTLINE_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
        /// API token; default: `SIGHTLINE_API_TOKEN`, else `<data-dir>/api-token`.
        #[arg(long, env = "SIGHTLINE_API_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// The server's data dir, read only for its `api-token` when no token is given.
        #[arg(long, env = "SIGHTLINE_DATA_DIR", default_value = "./sightline-data")]
        data_dir: std::path::PathBuf,
        /// File format; default from the file's extension.
        #[arg(long, value_enum)]
        format: Option<sightline::import::Format>,
        /// Events per request.
        #[arg(long, default_value_t = 500)]
        batch: usize,
    },
}

#[derive(Subcommand)]
enum RetentionCommand {
    /// Apply every site's retention now.
    Run,
}

#[derive(Subcommand)]
enum GdprCommand {
    /// Delete a visitor's events from the log, the warehouse and (recomputed) the rollups;
    /// prints the audit record. A running server's rollup job recomputes the days.
    Delete {
        /// The site's write key.
        #[arg(long)]
        site: String,
        /// The visitor id (`visitor_id` of the events).
        #[arg(long)]
        visitor: String,
    },
    /// Print the audit records of past erasures, one JSON object per line.
    List,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Make a token and print it (shown once; only its hash is stored).
    Create {
        /// A name for people (who or what uses the token).
        #[arg(long)]
        name: String,
        /// read (the query API) or admin (everything).
        #[arg(long, default_value = "read")]
        scope: access::Scope,
        /// Limit the token to this site (repeatable); default every site.
        #[arg(long = "site")]
        sites: Vec<String>,
    },
    /// List tokens (never their secrets), one JSON object per line.
    List,
    /// Revoke a token by id.
    Revoke {
        /// The token's id (`token list`).
        id: String,
    },
    /// Make a new token like this one and revoke the old; prints the new token.
    Rotate {
        /// The token's id (`token list`).
        id: String,
    },
}

#[derive(Subcommand)]
enum DeadletterCommand {
    /// Print dead letters, newest first: one JSON object per line.
    List {
        #[command(flatten)]
        filter: DeadletterFilter,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Give dead letters a second chance through the same validation as live traffic
    /// (ingest letters) or the warehouse insert (sink letters); replaying twice counts once.
    /// Prints a JSON report: letters, replayed, duplicates, still_rejected, reasons, skipped.
    Replay {
        #[command(flatten)]
        filter: DeadletterFilter,
        /// At most this many (newest first).
        #[arg(long, default_value_t = 100_000)]
        limit: usize,
        /// Validate only; append nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(clap::Args)]
struct DeadletterFilter {
    /// Only this site (write key).
    #[arg(long)]
    site: Option<String>,
    /// Only this stage: ingest or sink.
    #[arg(long)]
    stage: Option<String>,
}

impl From<DeadletterFilter> for deadletters::Filter {
    fn from(f: DeadletterFilter) -> Self {
        deadletters::Filter {
            site: f.site,
            stage: f.stage,
        }
    }
}

/// Quotas and overload limits of `POST /v1/events` (see `sightline::ingest::quota`).
#[derive(clap::Args)]
struct QuotaArgs {
    /// Requests per second per client IP (bursts of twice that); 0 turns it off.
    #[arg(long, env = "SIGHTLINE_QUOTA_IP_RPS", default_value_t = 100)]
    quota_ip_rps: u32,
    /// Events per second per visitor of a site (bursts of 20 s worth: 1000 events at the
    /// default); a visitor over it gets 429 + Retry-After, or, sharing a batch with others,
    /// its events are listed as rejected on visitor_id. 0 turns it off.
    #[arg(long, env = "SIGHTLINE_QUOTA_VISITOR_EPS", default_value_t = 50)]
    quota_visitor_eps: u32,
    /// Events per second per site (bursts of twice that, at least 1000); 0 turns it off.
    #[arg(long, env = "SIGHTLINE_QUOTA_SITE_EPS", default_value_t = 20_000)]
    quota_site_eps: u32,
    /// Ingest requests handled at once; more are answered 503 + Retry-After.
    #[arg(long, env = "SIGHTLINE_MAX_INFLIGHT", default_value_t = 1024)]
    max_inflight: usize,
    /// A proxy whose X-Forwarded-For is believed, as CIDR (repeatable, or comma list).
    #[arg(long = "trusted-proxy", env = "SIGHTLINE_TRUSTED_PROXIES", value_delimiter = ',')]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// Longest wait for the next chunk of a request body before answering 408, ms.
    #[arg(long, env = "SIGHTLINE_BODY_CHUNK_TIMEOUT_MS", default_value_t = 10_000)]
    body_chunk_timeout_ms: u64,
}

#[derive(Subcommand)]
enum SiteCommand {
    /// Add a site and print its write key and snippet tag.
    Add {
        /// A name for people (e.g. the site's host).
        #[arg(long)]
        name: String,
        /// Allowed page origin, e.g. https://shop.example (repeatable; `*` for any).
        #[arg(long = "origin")]
        origins: Vec<String>,
        /// A fixed write key instead of a random one.
        #[arg(long)]
        key: Option<String>,
    },
    /// List sites.
    List,
    /// Change a site: name, origins, or settings as a JSON merge patch, e.g.
    /// `--settings '{"rules": {"rage_min_clicks": 4}}'` or `--settings @settings.json`.
    /// Then `sightline rollup rebuild` recomputes history under the new settings.
    Update {
        /// The site's write key.
        key: String,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        /// Replaces the allowed origins (repeatable).
        #[arg(long = "origin")]
        origins: Vec<String>,
        /// JSON merge patch for the settings, inline or `@file`.
        #[arg(long)]
        settings: Option<String>,
    },
    /// Print one site with its settings, as JSON.
    Show {
        /// The site's write key.
        key: String,
    },
    /// Delete a site with its raw events, rollup rows, dead letters and its place in API
    /// tokens (also `DELETE /v1/sites/{key}`); prints `{"key", "events"}`. A later site with
    /// the same key starts empty.
    Delete {
        /// The site's write key.
        key: String,
        /// Confirm: without it nothing is deleted.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand)]
enum SurveyCommand {
    /// Upsert the surveys of FILE by id (and set the feedback button when FILE has one).
    /// FILE is JSON: one survey, a list of surveys, or {"surveys": [...], "feedback": {...}};
    /// the format is documented in README.md.
    Apply {
        /// The JSON file (`-` reads stdin).
        file: String,
        /// The site's write key.
        #[arg(long)]
        site: String,
    },
    /// Print the site's surveys and feedback button as JSON.
    List {
        /// The site's write key.
        #[arg(long)]
        site: String,
    },
    /// Remove one survey (its responses stay).
    Delete {
        /// The survey's id.
        id: String,
        /// The site's write key.
        #[arg(long)]
        site: String,
    },
}

#[derive(Subcommand)]
enum RollupCommand {
    /// Recompute a site's rollups for days in [from, to) (YYYY-MM-DD or ms); a running
    /// server's rollup job does the work.
    Rebuild {
        /// The site's write key.
        #[arg(long)]
        site: String,
        /// First day, inclusive (YYYY-MM-DD or ms, UTC).
        #[arg(long)]
        from: String,
        /// End, exclusive (YYYY-MM-DD or ms, UTC): the day after the last day to rebuild.
        #[arg(long)]
        to: String,
    },
}

/// Structured JSON logs, one object per line: level filter from `SIGHTLINE_LOG` (default
/// `info`; e.g. `sightline=debug` shows each ingest request's `request_id` and, per sink
/// batch, the request ids it stored), written to stderr, or appended to the file named by
/// `SIGHTLINE_LOG_FILE` when that is set.
fn init_logging() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SIGHTLINE_LOG").unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().json().with_env_filter(filter);
    match std::env::var_os("SIGHTLINE_LOG_FILE").filter(|p| !p.is_empty()) {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| anyhow::anyhow!("SIGHTLINE_LOG_FILE {}: {e}", path.to_string_lossy()))?;
            builder.with_writer(std::sync::Mutex::new(file)).init();
        }
        None => builder.with_writer(std::io::stderr).init(),
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    init_logging()?;
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            listen,
            api_token,
            max_batch_bytes,
            max_event_bytes,
            append_timeout_ms,
            rollup_every_ms,
            roles,
            rollup_shard,
            quotas,
            backends: args,
        } => {
            let limits = Limits {
                batch_bytes: max_batch_bytes,
                event_bytes: max_event_bytes,
                append_timeout: Duration::from_millis(append_timeout_ms),
                body_chunk_timeout: Duration::from_millis(quotas.body_chunk_timeout_ms),
            };
            let quotas = QuotaConfig {
                ip_requests_per_s: quotas.quota_ip_rps,
                site_events_per_s: quotas.quota_site_eps,
                visitor_events_per_s: quotas.quota_visitor_eps,
                max_inflight: quotas.max_inflight,
                trusted_proxies: quotas.trusted_proxies,
            };
            actix_web::rt::System::new().block_on(async move {
                let backends = app::connect_backends(&args, &limits).await?;
                let cfg = ServeConfig {
                    listen,
                    data_dir: args.data_dir.clone(),
                    api_token,
                    limits,
                    rollup_every: Duration::from_millis(rollup_every_ms),
                    rollup_shard,
                    roles,
                    quotas,
                };
                app::serve(cfg, backends).await
            })
        }
        Command::Site { command, backends: args } => tokio::runtime::Runtime::new()?.block_on(async {
            if let SiteCommand::Delete { key, yes: false } = &command {
                anyhow::bail!("refusing to delete site {key} and all its data without --yes");
            }
            let wh = app::connect_warehouse(&args).await?;
            match command {
                SiteCommand::Add { name, origins, key } => {
                    let new = NewSite { name, origins, key, settings: SiteSettings::default() };
                    let site = http::add_site(wh.as_ref(), new).await.map_err(|e| anyhow::anyhow!("{e}"))?;
                    println!("{}", site.key);
                    eprintln!(
                        "add to your pages: <script defer src=\"https://<sightline host>/s.js\" data-site=\"{}\"></script>",
                        site.key
                    );
                }
                SiteCommand::Update { key, name, origins, settings } => {
                    let settings = match settings {
                        None => None,
                        Some(s) => {
                            let text = match s.strip_prefix('@') {
                                Some(path) => std::fs::read_to_string(path)?,
                                None => s,
                            };
                            Some(serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("--settings: {e}"))?)
                        }
                    };
                    let patch = http::SitePatch {
                        name,
                        origins: (!origins.is_empty()).then_some(origins),
                        settings,
                    };
                    let site = http::update_site(wh.as_ref(), &key, patch)
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    println!("{}", serde_json::to_string_pretty(&site)?);
                }
                SiteCommand::Show { key } => {
                    let site = wh.sites().await?.into_iter().find(|s| s.key == key);
                    let site = site.ok_or_else(|| anyhow::anyhow!("no site with key {key}"))?;
                    println!("{}", serde_json::to_string_pretty(&site)?);
                }
                SiteCommand::Delete { key, .. } => {
                    let deleted = sightline::http::site_admin::delete_site(wh.as_ref(), &key, "cli")
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    println!("{}", serde_json::to_string(&deleted)?);
                    eprintln!("site {key} deleted (running servers refuse it within 5 s)");
                }
                SiteCommand::List => {
                    for s in wh.sites().await? {
                        println!("{}\t{}\t{}", s.key, s.name, s.origins.join(","));
                    }
                }
            }
            Ok(())
        }),
        Command::Token { command, backends: args } => tokio::runtime::Runtime::new()?.block_on(async {
            let wh = app::connect_warehouse(&args).await?;
            match command {
                TokenCommand::Create { name, scope, sites } => {
                    let known = wh.sites().await?;
                    if let Some(unknown) = sites.iter().find(|k| !known.iter().any(|s| &s.key == *k)) {
                        anyhow::bail!("--site: no site with key {unknown}");
                    }
                    let t = access::create_token(wh.as_ref(), &name, scope, sites).await?;
                    println!("{}", t.plaintext);
                    eprintln!(
                        "token {} ({}) created; it is shown only this once (running servers accept it within 5 s)",
                        t.token.id, t.token.scope
                    );
                }
                TokenCommand::List => {
                    for t in wh.tokens().await? {
                        println!("{}", serde_json::to_string(&access::TokenInfo::from(&t))?);
                    }
                }
                TokenCommand::Revoke { id } => {
                    access::revoke_token(wh.as_ref(), &id)
                        .await?
                        .ok_or_else(|| anyhow::anyhow!("no token with id {id}"))?;
                    eprintln!("token {id} revoked (running servers refuse it within 5 s)");
                }
                TokenCommand::Rotate { id } => {
                    let (new, _) = access::rotate_token(wh.as_ref(), &id)
                        .await?
                        .ok_or_else(|| anyhow::anyhow!("no active token with id {id}"))?;
                    println!("{}", new.plaintext);
                    eprintln!("token {id} revoked; new token {} shown only this once", new.token.id);
                }
            }
            Ok(())
        }),
        Command::Retention { command: RetentionCommand::Run, backends: args } => tokio::runtime::Runtime::new()?.block_on(async {
            let wh = app::connect_warehouse(&args).await?;
            let sites = wh.sites().await?;
            for (site, n) in sightline::rollup::job::apply_retention(wh.as_ref(), &sites).await? {
                println!("{site}\t{n} events deleted");
            }
            Ok(())
        }),
        Command::Gdpr { command, backends: args } => tokio::runtime::Runtime::new()?.block_on(async {
            let backends = app::connect_backends(&args, &Limits::default()).await?;
            match command {
                GdprCommand::Delete { site, visitor } => {
                    anyhow::ensure!(
                        backends.warehouse.sites().await?.iter().any(|s| s.key == site),
                        "no site with key {site}"
                    );
                    let rec = sightline::privacy::forget_visitor(
                        backends.log.as_ref(),
                        backends.warehouse.as_ref(),
                        &site,
                        &visitor,
                        "cli",
                    )
                    .await?;
                    println!("{}", serde_json::to_string_pretty(&rec)?);
                }
                GdprCommand::List => {
                    for r in backends.warehouse.forgets().await? {
                        println!("{}", serde_json::to_string(&r)?);
                    }
                }
            }
            backends.log.shutdown().await;
            Ok(())
        }),
        Command::Deadletter { command, backends: args } => tokio::runtime::Runtime::new()?.block_on(async {
            let limits = Limits::default();
            let backends = app::connect_backends(&args, &limits).await?;
            let log = backends.log.clone();
            match command {
                DeadletterCommand::List { filter, limit } => {
                    let filter = deadletters::Filter::from(filter);
                    for d in deadletters::read(log.as_ref(), backends.warehouse.as_ref(), &filter, limit).await? {
                        println!("{}", serde_json::to_string(&d)?);
                    }
                }
                DeadletterCommand::Replay { filter, limit, dry_run } => {
                    let filter = deadletters::Filter::from(filter);
                    let letters = deadletters::read(log.as_ref(), backends.warehouse.as_ref(), &filter, limit).await?;
                    let sites = backends.warehouse.sites().await?;
                    let report = deadletters::replay(
                        log.as_ref(),
                        backends.warehouse.as_ref(),
                        &sites,
                        &letters,
                        limits.event_bytes,
                        dry_run,
                    )
                    .await?;
                    println!("{}", serde_json::to_string_pretty(&report)?);
                }
            }
            log.shutdown().await;
            Ok(())
        }),
        Command::Survey { command, backends: args } => tokio::runtime::Runtime::new()?.block_on(async {
            let wh = app::connect_warehouse(&args).await?;
            let site = match command {
                SurveyCommand::Apply { file, site } => {
                    let text = if file == "-" {
                        std::io::read_to_string(std::io::stdin())?
                    } else {
                        std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("{file}: {e}"))?
                    };
                    http::survey::apply_file(wh.as_ref(), &site, &text).await.map_err(|e| anyhow::anyhow!("{e}"))?
                }
                SurveyCommand::Delete { id, site } => {
                    let (site, ()) = http::survey::change_surveys(wh.as_ref(), &site, |all, _| {
                        let n = all.len();
                        all.retain(|s| s.id != id);
                        if all.len() == n {
                            return Err(http::ApiError::not_found("id", &format!("no survey {id}")));
                        }
                        Ok(())
                    })
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                    site
                }
                SurveyCommand::List { site } => {
                    let found = wh.sites().await?.into_iter().find(|s| s.key == site);
                    found.ok_or_else(|| anyhow::anyhow!("no site with key {site}"))?
                }
            };
            let out = serde_json::json!({"surveys": site.settings.surveys, "feedback": site.settings.feedback});
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(())
        }),
        Command::Import { file, site, url, token, data_dir, format, batch } => {
            use sightline::import;
            let format = format
                .or_else(|| import::Format::from_path(&file))
                .ok_or_else(|| anyhow::anyhow!("{}: unknown extension; pass --format csv|jsonl", file.display()))?;
            let token = match token {
                Some(t) => t,
                None => std::fs::read_to_string(data_dir.join("api-token"))
                    .map(|t| t.trim().to_string())
                    .map_err(|e| anyhow::anyhow!("no --token / SIGHTLINE_API_TOKEN and no readable api-token in the data dir: {e}"))?,
            };
            let reader = std::fs::File::open(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let input = import::read_rows(reader, format)?;
            let target = import::Target { url, site, token, batch };
            let s = import::send(&input, &target)?;
            println!(
                "{}",
                serde_json::json!({"rows": s.rows, "accepted": s.accepted, "duplicates": s.duplicates, "rejected": s.rejected.len()})
            );
            if s.rejected.is_empty() {
                return Ok(());
            }
            eprintln!("{} of {} rows rejected:", s.rejected.len(), s.rows);
            for (reason, n) in s.reasons() {
                eprintln!("  {n} × {reason}");
            }
            eprintln!("first rejected rows:");
            for (line, column, reason) in s.rejected.iter().take(20) {
                eprintln!("  line {line}: {column}: {reason}");
            }
            std::process::exit(2)
        }
        Command::Rollup { command: RollupCommand::Rebuild { site, from, to }, backends: args } => {
            tokio::runtime::Runtime::new()?.block_on(async {
                let wh = app::connect_warehouse(&args).await?;
                let f = sightline::http::query::parse_time("from", &from).map_err(|e| anyhow::anyhow!("{e}"))?;
                let t = sightline::http::query::parse_time("to", &to).map_err(|e| anyhow::anyhow!("{e}"))?;
                anyhow::ensure!(
                    t > f,
                    "--to is exclusive and must be after --from: to rebuild {from} alone, give --to the next day"
                );
                let n = wh.mark_dirty(&site, f, t).await?;
                eprintln!("marked {n} sessions of {site} with events in {from}..{to} for recomputation");
                Ok(())
            })
        }
    }
}
