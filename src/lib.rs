//! Sightline: self-hostable behavioural analytics and voice of customer.
//!
//! # Layers
//!
//! The code reads top-down, one way; a module imports only its own layer's lower modules
//! and the layers below it (checked by `tests/architecture.rs`, which lists every module in
//! order):
//!
//! 1. **config** ([`config`]): the flag groups of the commands and every default.
//! 2. **model**: the [`clock`] time is read from, and the data every stage shares:
//!    [`event`] (events, validation, enrichment), [`model`] (records and rollup rows),
//!    [`survey`] and [`sites`] (site settings), and the [`metrics`] registry every stage
//!    reports to.
//! 3. **stages**, each importing only those before it: [`log`] (durable, deduplicating) →
//!    [`replay`] (session-replay chunks: caps, parts, metadata) → [`warehouse`] (the store) → [`privacy`] and [`access`] (forgetting, tokens) → [`sink`]
//!    (log → warehouse) → [`ingest`] (decode, validate, enrich, append) → [`deadletters`]
//!    (listing and replay, above ingest: a replay sends letters through it again) →
//!    [`loadgen`] → [`rollup`] (pure analytics definitions + jobs); then the operations
//!    built on them ([`import`], [`fuzzing`]).
//! 4. **http** ([`http`]): router, handlers, errors, auth; the query API
//!    ([`http::query`]: it sums rollup rows for each request), the dashboard and the OpenAPI
//!    document.
//! 5. **app** ([`app`]): the composition root: backends, background tasks, `serve`; and
//!    `testing` (feature `testing`): the same router in process, for tests.
//! 6. **main**: the CLI only (`src/main.rs` and its `cli` module, outside the library).
//!
//! Backends sit behind two traits, [`log::Log`] and [`warehouse::Warehouse`].

pub mod access;
pub mod app;
pub mod clock;
pub mod config;
pub mod deadletters;
pub mod event;
pub mod fuzzing;
pub mod http;
pub mod import;
pub mod ingest;
pub mod loadgen;
pub mod log;
pub mod metrics;
pub mod model;
pub mod privacy;
pub mod replay;
pub mod rollup;
pub mod sink;
pub mod sites;
pub mod survey;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod warehouse;
