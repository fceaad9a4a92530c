//! The `sightline` command line.
//!
//! Each subcommand takes the flags it uses: the backend flags ([`sightline::app::BackendArgs`]: data dir,
//! Kafka, ClickHouse) belong to the commands that open the log and the warehouse (`serve`,
//! `gdpr`, `deadletter`); the warehouse flags alone ([`sightline::app::WarehouseArgs`]: data dir, ClickHouse)
//! to those that open only the warehouse (`site`, `survey`, `rollup`, `token`, `retention`);
//! none to `import`, which only talks HTTP to a running server.

mod cli;

/// The binary's allocator: jemalloc, as Relay and Vector ship. Against glibc's, embedded
/// ingest at saturation took 174-183k instead of 149-150k events/s on 2 cores, and the
/// embedded soak's RSS stays lower and flatter (docs/performance-notes.md, "The allocator").
#[cfg(all(target_os = "linux", not(target_env = "musl")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options (its `malloc_conf`, read before `main`; the environment variable
/// `_RJEM_MALLOC_CONF` overrides them): one arena per CPU, each thread allocating from the
/// arena of the CPU it runs on, so that the threads which ever ran do not each keep freed
/// pages; and freed pages handed back to the system about 1 s after they were freed, by
/// jemalloc's own background threads rather than on a request's thread.
#[cfg(all(target_os = "linux", not(target_env = "musl")))]
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: MallocConf =
    MallocConf(b"percpu_arena:percpu,background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0".as_ptr());

/// A pointer to a static C string, as jemalloc reads `malloc_conf`.
#[cfg(all(target_os = "linux", not(target_env = "musl")))]
#[repr(transparent)]
struct MallocConf(*const u8);

// SAFETY: it points to an immutable static.
#[cfg(all(target_os = "linux", not(target_env = "musl")))]
unsafe impl Sync for MallocConf {}

use clap::Parser;
use cli::*;
use sightline::access;
use sightline::app::{self, ServeConfig};
use sightline::config::ServeArgs;
use sightline::deadletters;
use sightline::http::{self, NewSite};
use sightline::ingest::quota::QuotaConfig;
use sightline::ingest::Limits;
use sightline::sink::SinkConfig;
use sightline::sites::SiteSettings;
use std::time::Duration;

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
    app::limit_heap_arenas();
    init_logging()?;
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            serve:
                ServeArgs {
                    listen,
                    api_token,
                    max_batch_bytes,
                    max_event_bytes,
                    append_timeout_ms,
                    rollup_every_ms,
                    replay_max_chunk_bytes,
                    replay_max_decoded_bytes,
                    replay_part_bytes,
                    roles,
                },
            rollup_shard,
            quotas,
            sink,
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
                    sink: SinkConfig::from_args(&sink),
                    replay: sightline::replay::ReplayLimits {
                        chunk_bytes: replay_max_chunk_bytes,
                        decoded_bytes: replay_max_decoded_bytes,
                        part_bytes: replay_part_bytes.clamp(1024, 900 << 10),
                    },
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
                    let site = http::update_site(wh.as_ref(), None, &key, patch)
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
                    let clock = sightline::clock::from_env().map_err(anyhow::Error::msg)?;
                    let deleted = sightline::http::site_admin::delete_site(clock.as_ref(), wh.as_ref(), &key, "cli")
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
            let clock = sightline::clock::from_env().map_err(anyhow::Error::msg)?;
            for (site, n) in sightline::rollup::job::apply_retention_on(clock.as_ref(), wh.as_ref(), &sites).await? {
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
                    let clock = sightline::clock::from_env().map_err(anyhow::Error::msg)?;
                    let rec = sightline::privacy::forget_visitor(
                        clock.as_ref(),
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
                serde_json::json!({"rows": s.rows, "accepted": s.accepted, "duplicates": s.duplicates, "rejected": s.rejected_rows()})
            );
            if s.rejected.is_empty() {
                return Ok(());
            }
            eprintln!("{} of {} rows rejected:", s.rejected_rows(), s.rows);
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
                // The dates are UTC dates, not the site's: the range selects raw events by
                // `ts` (ClickHouse prunes by their UTC `day`), and marks their whole sessions.
                let utc = chrono_tz::UTC;
                let f = sightline::http::query::parse_time("from", &from, utc).map_err(|e| anyhow::anyhow!("{e}"))?;
                let t = sightline::http::query::parse_time("to", &to, utc).map_err(|e| anyhow::anyhow!("{e}"))?;
                // The days of a query range: `--to` exclusive, `--to` = `--from` that one day.
                let (from_day, to_day) = sightline::http::query::day_range(("--from", "--to"), f, t, utc)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let n = wh.mark_dirty(&site, from_day, to_day).await?;
                eprintln!("marked {n} sessions of {site} with events in {from}..{to} for recomputation");
                Ok(())
            })
        }
    }
}
