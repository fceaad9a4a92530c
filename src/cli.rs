//! The command line's flags and subcommands (clap); `main.rs` runs them.

use clap::{Parser, Subcommand};
use sightline::access;
use sightline::app;
use sightline::config::{BackendArgs, QuotaArgs, ServeArgs, SinkArgs, WarehouseArgs};
use sightline::deadletters;

#[derive(Parser)]
#[command(
    name = "sightline",
    version,
    about = "Self-hostable behavioural analytics and voice of customer"
)]
pub(super) struct Cli {
    #[command(subcommand)]
    pub(super) command: Command,
}

#[derive(Subcommand)]
pub(super) enum Command {
    /// Run the stages of `--roles` (default all: ingest, log, sink, rollups, query) in one process.
    Serve {
        #[command(flatten)]
        serve: ServeArgs,
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
        sink: SinkArgs,
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
pub(super) enum RetentionCommand {
    /// Apply every site's retention now.
    Run,
}

#[derive(Subcommand)]
pub(super) enum GdprCommand {
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
pub(super) enum TokenCommand {
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
pub(super) enum DeadletterCommand {
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
pub(super) struct DeadletterFilter {
    /// Only this site (write key).
    #[arg(long)]
    pub(super) site: Option<String>,
    /// Only this stage: ingest or sink.
    #[arg(long)]
    pub(super) stage: Option<String>,
}

impl From<DeadletterFilter> for deadletters::Filter {
    fn from(f: DeadletterFilter) -> Self {
        deadletters::Filter {
            site: f.site,
            stage: f.stage,
        }
    }
}

#[derive(Subcommand)]
pub(super) enum SiteCommand {
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
    /// Then `sightline rollup rebuild` recomputes history under the new settings (a new
    /// `goal` or `time_zone` is recomputed by the rollup job by itself).
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
pub(super) enum SurveyCommand {
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
pub(super) enum RollupCommand {
    /// Recompute a site's rollups for days in [from, to) (YYYY-MM-DD or ms), `--to` equal to
    /// `--from` being that one day, as in the query API; a running server's rollup job does the work.
    ///
    /// The dates are UTC dates, whatever the site's `rules.time_zone`: it recomputes the
    /// sessions with raw events in that UTC range; for a site in another time zone, take one
    /// day more on each side to cover its local days.
    Rebuild {
        /// The site's write key.
        #[arg(long)]
        site: String,
        /// First day, inclusive (YYYY-MM-DD or ms, UTC).
        #[arg(long)]
        from: String,
        /// End, exclusive (YYYY-MM-DD or ms, UTC): the day after the last day to rebuild, or
        /// equal to --from for that one day.
        #[arg(long)]
        to: String,
    },
}
