//! The in-process server of the endpoint suite: [`Server`] has the methods of
//! `tests/common`'s `Server` that endpoint tests use, but serves the real router from a
//! thread of this process ([`sightline::testing::TestServer`]) on the tests' pinned clock,
//! and settles by draining the log and running the rollups itself: no child process, no
//! background job to wait for, no sleeps.
//!
//! The backends are configuration, as for the other tests: embedded by default; with
//! `SIGHTLINE_TEST_KAFKA_BROKERS` and `SIGHTLINE_TEST_CLICKHOUSE_URL` Kafka and ClickHouse,
//! under a topic prefix and database of the server's own.

use crate::common::{clock_offset_ms, Api, TOKEN};
use sightline::clock::{Clock, OffsetClock};
use sightline::config::{defaults, BackendArgs, WarehouseArgs};
use sightline::testing::TestServer;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The real router in this process, over the test run's backends.
pub struct Server {
    /// Its data directory (the embedded backends; the CLI opens it too).
    pub data_dir: PathBuf,
    /// Backend arguments of the CLI (the ClickHouse database and Kafka prefix of this server).
    pub backend: Vec<String>,
    pub http: reqwest::blocking::Client,
    inner: TestServer,
}

/// The backends of this run (see the module docs), each server under names of its own.
fn backend_args() -> (BackendArgs, Vec<String>) {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut cli = Vec::new();
    let clickhouse_url = std::env::var("SIGHTLINE_TEST_CLICKHOUSE_URL").ok();
    let clickhouse_database = format!("sltest_{}", &run[..12]);
    if let Some(u) = &clickhouse_url {
        cli.extend([
            "--clickhouse-url".into(),
            u.clone(),
            "--clickhouse-database".into(),
            clickhouse_database.clone(),
        ]);
    }
    let kafka_brokers = std::env::var("SIGHTLINE_TEST_KAFKA_BROKERS").ok();
    assert!(
        std::env::var("SIGHTLINE_TEST_MODE").as_deref() != Ok("external")
            || (clickhouse_url.is_some() && kafka_brokers.is_some()),
        "SIGHTLINE_TEST_MODE=external but no SIGHTLINE_TEST_KAFKA_BROKERS/CLICKHOUSE_URL"
    );
    let kafka_topic_prefix = format!("sltest-{}", &run[..12]);
    if let Some(b) = &kafka_brokers {
        cli.extend([
            "--kafka-brokers".into(),
            b.clone(),
            "--kafka-topic-prefix".into(),
            kafka_topic_prefix.clone(),
        ]);
    }
    let args = BackendArgs {
        warehouse: WarehouseArgs {
            data_dir: PathBuf::new(),
            clickhouse_url,
            clickhouse_database,
        },
        kafka_brokers,
        kafka_topic_prefix,
        kafka_partitions: defaults::KAFKA_PARTITIONS,
        kafka_replication: defaults::KAFKA_REPLICATION,
        kafka_idempotence: true,
        kafka_max_message_bytes: defaults::KAFKA_MAX_MESSAGE_BYTES,
    };
    (args, cli)
}

impl Server {
    /// A fresh server. It takes no `serve` flags: `extra` must be empty (a test that needs
    /// flags runs the binary, `tests/common`).
    pub fn start(extra: &[&str]) -> Server {
        assert!(
            extra.is_empty(),
            "the in-process server takes no serve flags: {extra:?}"
        );
        Server::start_on(Arc::new(OffsetClock {
            offset_ms: clock_offset_ms(),
        }))
    }

    /// A fresh server whose time is `clock` (e.g. a `SteppedClock` the test moves).
    pub fn start_on(clock: Arc<dyn Clock>) -> Server {
        let (args, backend) = backend_args();
        let inner = TestServer::start(args, clock, TOKEN).expect("start the in-process server");
        Server {
            data_dir: inner.data_dir.clone(),
            backend,
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            inner,
        }
    }

    pub fn url(&self, path: &str) -> String {
        self.inner.url(path)
    }

    /// Store what the log holds (the sink's way) and run the rollups until `n` raw events
    /// of `site` are stored and two passes in a row find nothing to recompute.
    pub fn settle(&self, site: &str, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            self.inner.drain_sink().expect("drain the log into the warehouse");
            let stored = self.get(&format!("/v1/sites/{site}/stats"))["events"].as_u64().unwrap();
            if stored >= n {
                assert_eq!(stored, n, "more events stored than sent");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "only {stored} of {n} events reached the warehouse"
            );
        }
        let mut idle = 0;
        while idle < 2 {
            let sessions = self.rollup_run()["sessions"].as_u64().unwrap();
            idle = if sessions == 0 { idle + 1 } else { 0 };
            assert!(Instant::now() < deadline, "rollups did not settle");
        }
    }
}

impl Api for Server {
    fn http(&self) -> &reqwest::blocking::Client {
        &self.http
    }
    fn url(&self, path: &str) -> String {
        Server::url(self, path)
    }
    fn backend(&self) -> &[String] {
        &self.backend
    }
    fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }
    fn settle(&self, site: &str, n: u64) {
        Server::settle(self, site, n)
    }
}
