//! Sightline: self-hostable behavioural analytics and voice of customer.
//!
//! The data path, one module per stage: [`ingest`] (HTTP, validation, enrichment via
//! [`event`]) → [`log`] (durable, deduplicating) → [`sink`] → [`warehouse`] → [`rollup`]
//! (pure analytics definitions + jobs) → [`query`]; [`import`] posts historical data to the
//! ingest path. Backends sit behind two traits,
//! [`log::Log`] and [`warehouse::Warehouse`]; [`server`] wires them together.

pub mod access;
pub mod dashboard;
pub mod event;
pub mod fuzzing;
pub mod import;
pub mod ingest;
pub mod loadgen;
pub mod log;
pub mod metrics;
pub mod openapi;
pub mod privacy;
pub mod query;
pub mod rollup;
pub mod server;
pub mod sink;
pub mod site_admin;
pub mod sites;
pub mod survey;
pub mod warehouse;
