//! The `sightline` command line.

use clap::{Parser, Subcommand};
use sightline::ingest::Limits;
use sightline::server::{self, BackendArgs, NewSite, Roles, ServeConfig};
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
    #[command(flatten)]
    backends: BackendArgs,
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
    },
    /// Manage sites (a running server picks changes up within 5 s).
    Site {
        #[command(subcommand)]
        command: SiteCommand,
    },
    /// Rollup maintenance.
    Rollup {
        #[command(subcommand)]
        command: RollupCommand,
    },
    /// Import past page views and custom events from a CSV or JSON-lines file (columns
    /// visitor, session, url, timestamp, and event for a custom event; see `src/import.rs`)
    /// through a running server's `POST /v1/sites/{key}/import`. Re-running it with the same
    /// file changes nothing (event ids are derived from the rows).
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
        /// File format; default from the file's extension.
        #[arg(long, value_enum)]
        format: Option<sightline::import::Format>,
        /// Events per request.
        #[arg(long, default_value_t = 500)]
        batch: usize,
    },
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
    Show { key: String },
}

#[derive(Subcommand)]
enum RollupCommand {
    /// Recompute a site's rollups for days in [from, to) (YYYY-MM-DD or ms); a running
    /// server's rollup job does the work.
    Rebuild {
        #[arg(long)]
        site: String,
        #[arg(long)]
        from: String,
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
    let args = cli.backends;
    match cli.command {
        Command::Serve { listen, api_token, max_batch_bytes, max_event_bytes, append_timeout_ms, rollup_every_ms, roles } => {
            let limits = Limits {
                batch_bytes: max_batch_bytes,
                event_bytes: max_event_bytes,
                append_timeout: Duration::from_millis(append_timeout_ms),
            };
            actix_web::rt::System::new().block_on(async move {
                let backends = server::connect_backends(&args, &limits).await?;
                let cfg = ServeConfig {
                    listen,
                    data_dir: args.data_dir.clone(),
                    api_token,
                    limits,
                    rollup_every: Duration::from_millis(rollup_every_ms),
                    roles,
                };
                server::serve(cfg, backends).await
            })
        }
        Command::Site { command } => tokio::runtime::Runtime::new()?.block_on(async {
            let wh = server::connect_warehouse(&args).await?;
            match command {
                SiteCommand::Add { name, origins, key } => {
                    let new = NewSite { name, origins, key, settings: SiteSettings::default() };
                    let site = server::add_site(wh.as_ref(), new).await.map_err(|e| anyhow::anyhow!("{e}"))?;
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
                    let patch = server::SitePatch {
                        name,
                        origins: (!origins.is_empty()).then_some(origins),
                        settings,
                    };
                    let site = server::update_site(wh.as_ref(), &key, patch)
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    println!("{}", serde_json::to_string_pretty(&site)?);
                }
                SiteCommand::Show { key } => {
                    let site = wh.sites().await?.into_iter().find(|s| s.key == key);
                    let site = site.ok_or_else(|| anyhow::anyhow!("no site with key {key}"))?;
                    println!("{}", serde_json::to_string_pretty(&site)?);
                }
                SiteCommand::List => {
                    for s in wh.sites().await? {
                        println!("{}\t{}\t{}", s.key, s.name, s.origins.join(","));
                    }
                }
            }
            Ok(())
        }),
        Command::Import { file, site, url, token, format, batch } => {
            use sightline::import;
            let format = format
                .or_else(|| import::Format::from_path(&file))
                .ok_or_else(|| anyhow::anyhow!("{}: unknown extension; pass --format csv|jsonl", file.display()))?;
            let token = match token {
                Some(t) => t,
                None => std::fs::read_to_string(args.data_dir.join("api-token"))
                    .map(|t| t.trim().to_string())
                    .map_err(|e| anyhow::anyhow!("no --token / SIGHTLINE_API_TOKEN and no readable api-token in the data dir: {e}"))?,
            };
            let reader = std::fs::File::open(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let rows = import::read_rows(reader, format)?;
            let target = import::Target { url, site, token, batch };
            let s = import::send(&rows, &target)?;
            for (line, field, reason) in s.rejected.iter().take(20) {
                eprintln!("line {line}: {field}: {reason}");
            }
            println!(
                "{}",
                serde_json::json!({"rows": s.rows, "accepted": s.accepted, "duplicates": s.duplicates, "rejected": s.rejected.len()})
            );
            Ok(())
        }
        Command::Rollup { command: RollupCommand::Rebuild { site, from, to } } => {
            tokio::runtime::Runtime::new()?.block_on(async {
                let wh = server::connect_warehouse(&args).await?;
                let f = sightline::query::parse_time("from", &from).map_err(|e| anyhow::anyhow!("{e}"))?;
                let t = sightline::query::parse_time("to", &to).map_err(|e| anyhow::anyhow!("{e}"))?;
                wh.mark_dirty(&site, f, t).await?;
                eprintln!("marked {site} days {from}..{to} for recomputation");
                Ok(())
            })
        }
    }
}
