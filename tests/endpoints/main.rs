//! The endpoint suite: every test here calls the real router in this process
//! ([`harness::Server`] over `sightline::testing::TestServer`: the embedded log and
//! warehouse, or Kafka and ClickHouse in the external pass) on the tests' pinned clock, and
//! reads only after draining the log and running the rollups itself. One binary, so the
//! crate is linked once for all of them. End-to-end tests (the binary, the browser, chaos,
//! the services) stay in their own files under `tests/`.

#[path = "../common/mod.rs"]
mod common;
mod harness;

mod access;
mod api;
mod baselines;
mod clock;
mod compat;
mod days;
mod element_text;
mod heatmaps;
mod http_contract;
mod journeys;
mod layouts;
mod reach;
mod segments;
mod session_timeline;
mod voc;
