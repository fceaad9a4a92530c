//! In-process testing (feature `testing`; always there for the crate's own unit tests):
//! - [`TestApp`] builds the real router ([`crate::http::app`], every role) over the embedded
//!   log and warehouse in a temporary directory, on a [`SteppedClock`], and answers requests
//!   without a socket or a child process.
//! - [`TestServer`] serves the same router on a loopback port from a thread of the test
//!   process, over the backends a [`BackendArgs`] selects (embedded, or Kafka and
//!   ClickHouse), on the clock it is given; instead of a background sink and rollup job, the
//!   test drains the log ([`TestServer::drain_sink`]) and runs the rollups
//!   (`POST /v1/admin/rollup/run`) when it wants to read. The endpoint suite
//!   (`tests/endpoints`) runs on it.

use crate::access::Tokens;
use crate::app;
use crate::clock::{Clock, SteppedClock};
use crate::config::{BackendArgs, Roles};
use crate::http::AppState;
use crate::ingest::quota::{QuotaConfig, Quotas};
use crate::ingest::{IngestState, Limits};
use crate::log::embedded::EmbeddedLog;
use crate::log::{Consumer, Log};
use crate::rollup::job::Ownership;
use crate::sites::SiteCache;
use crate::warehouse::sqlite::SqliteWarehouse;
use crate::warehouse::Shard;
use crate::warehouse::Warehouse;
use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use actix_web::web;
use std::path::PathBuf;
use std::sync::Arc;

/// The root API token of every [`TestApp`].
pub const ROOT_TOKEN: &str = "test-root-token";

/// The whole application in process: its state, its clock and a scratch data directory
/// (removed on drop).
pub struct TestApp {
    /// What the query and admin handlers share.
    pub state: web::Data<AppState>,
    /// What the ingest handlers share.
    pub ingest: web::Data<IngestState>,
    /// The time ingest reads; step it to move the app's time.
    pub clock: Arc<SteppedClock>,
    dir: PathBuf,
}

impl TestApp {
    /// A fresh app (no sites, one log shard) whose clock stands at `now_ms`.
    pub async fn new(now_ms: i64) -> anyhow::Result<TestApp> {
        let dir = std::env::temp_dir().join(format!("sightline-testapp-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)?;
        let log = EmbeddedLog::open_with(&dir, 1)?;
        let warehouse = SqliteWarehouse::open(&dir)?;
        let tokens = Arc::new(Tokens::new(ROOT_TOKEN.to_string()));
        tokens.refresh(warehouse.as_ref()).await?;
        let sites = Arc::new(SiteCache::default());
        let quotas = Arc::new(Quotas::new(QuotaConfig::default()));
        let clock = Arc::new(SteppedClock::at(now_ms));
        let limits = Limits::default();
        let state = web::Data::new(AppState {
            log: log.clone(),
            warehouse,
            sites: sites.clone(),
            tokens,
            limits,
            log_backend: "embedded",
            quotas: quotas.clone(),
            rollup: Ownership::Fixed(Shard::ALL),
            clock: clock.clone(),
        });
        let ingest = web::Data::new(IngestState {
            log,
            sites,
            limits,
            log_backend: "embedded",
            quotas,
            clock: clock.clone(),
            replay: crate::replay::ReplayLimits::default(),
        });
        Ok(TestApp {
            state,
            ingest,
            clock,
            dir,
        })
    }

    /// `Authorization: Bearer` with the root token.
    pub fn bearer(&self) -> (&'static str, String) {
        ("Authorization", format!("Bearer {ROOT_TOKEN}"))
    }

    /// Send `req` through the router; its status and body.
    pub async fn call(&self, req: TestRequest) -> (StatusCode, web::Bytes) {
        let app = crate::http::app(self.state.clone(), self.ingest.clone(), Roles::ALL);
        let svc = actix_web::test::init_service(app).await;
        let resp = actix_web::test::call_service(&svc, req.to_request()).await;
        let status = resp.status();
        (status, actix_web::test::read_body(resp).await)
    }

    /// [`TestApp::call`] with the body read as JSON (`null` when it is not JSON).
    pub async fn call_json(&self, req: TestRequest) -> (StatusCode, serde_json::Value) {
        let (status, body) = self.call(req).await;
        (status, serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// How often a [`TestServer`] re-reads the sites and tokens (`serve`:
/// [`app::SITES_REFRESH_EVERY`]).
pub const SITES_REFRESH_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// How long [`TestServer::start`] waits for the server to listen before it fails.
pub const START_WAIT: std::time::Duration = std::time::Duration::from_secs(180);

/// The sink's consumer of a [`TestServer`], opened on first use.
type SinkConsumer = Arc<tokio::sync::Mutex<Option<Box<dyn Consumer>>>>;

/// The router served on `127.0.0.1` from a thread of this process (see the module docs).
/// Dropping it stops the server and removes its data directory.
pub struct TestServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its data directory (the embedded log and warehouse, or the Kafka id index).
    pub data_dir: PathBuf,
    /// `embedded` or `kafka`.
    pub log_backend: &'static str,
    log: Arc<dyn Log>,
    warehouse: Arc<dyn Warehouse>,
    consumer: SinkConsumer,
    rt: tokio::runtime::Handle,
    server: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What the server thread hands back once it listens.
struct Started {
    port: u16,
    log_backend: &'static str,
    log: Arc<dyn Log>,
    warehouse: Arc<dyn Warehouse>,
    consumer: Box<dyn Consumer>,
    rt: tokio::runtime::Handle,
    server: actix_web::dev::ServerHandle,
}

impl TestServer {
    /// Serve every role over the backends of `backends` (its data directory is replaced by a
    /// fresh one), on `clock`, with root API token `api_token`; returns once it listens.
    /// The rollup share is every bucket (one process), whichever the log.
    pub fn start(mut backends: BackendArgs, clock: Arc<dyn Clock>, api_token: &str) -> anyhow::Result<TestServer> {
        let dir = std::env::temp_dir().join(format!("sightline-testserver-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)?;
        backends.warehouse.data_dir = dir.clone();
        let token = api_token.to_string();
        let (tx, rx) = std::sync::mpsc::channel::<anyhow::Result<Started>>();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = match Self::listen(backends, clock, token).await {
                    Ok((started, server)) => {
                        let _ = tx.send(Ok(started));
                        server
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                if let Err(e) = server.await {
                    tracing::warn!(error = %e, "test server stopped");
                }
            })
        });
        let s = match rx.recv_timeout(START_WAIT) {
            Ok(started) => started?,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => anyhow::bail!(
                "the test server did not listen within {} s (connecting its backends)",
                START_WAIT.as_secs()
            ),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                anyhow::bail!("the test server thread ended during start-up")
            }
        };
        Ok(TestServer {
            port: s.port,
            data_dir: dir,
            log_backend: s.log_backend,
            log: s.log,
            warehouse: s.warehouse,
            consumer: Arc::new(tokio::sync::Mutex::new(Some(s.consumer))),
            rt: s.rt,
            server: s.server,
            thread: Some(thread),
        })
    }

    /// Connect the backends, build the state as `serve` does and bind the router.
    async fn listen(
        backends: BackendArgs,
        clock: Arc<dyn Clock>,
        token: String,
    ) -> anyhow::Result<(Started, actix_web::dev::Server)> {
        let limits = Limits::default();
        let b = app::connect_backends(&backends, &limits).await?;
        let tokens = Arc::new(Tokens::new(token));
        tokens.refresh(b.warehouse.as_ref()).await?;
        let sites = Arc::new(SiteCache::default());
        sites.replace(b.warehouse.sites().await?);
        // Changes made through the CLI apply as in `serve`, only sooner.
        actix_web::rt::spawn(app::refresh_sites_and_tokens(
            b.warehouse.clone(),
            sites.clone(),
            tokens.clone(),
            SITES_REFRESH_EVERY,
            true,
        ));
        let quotas = Arc::new(Quotas::new(QuotaConfig {
            // Every test client is 127.0.0.1.
            ip_requests_per_s: 0,
            ..QuotaConfig::default()
        }));
        let state = web::Data::new(AppState {
            log: b.log.clone(),
            warehouse: b.warehouse.clone(),
            sites: sites.clone(),
            tokens,
            limits,
            log_backend: b.log_backend,
            quotas: quotas.clone(),
            rollup: Ownership::Fixed(Shard::ALL),
            clock: clock.clone(),
        });
        let ingest = web::Data::new(IngestState {
            log: b.log.clone(),
            sites,
            limits,
            log_backend: b.log_backend,
            quotas,
            clock,
            replay: crate::replay::ReplayLimits::default(),
        });
        // The sink's consumer from the start: with Kafka it joins its group while the test
        // prepares its data, not when it first drains.
        let consumer = b.log.consumer(crate::sink::SINK_GROUP).await?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let server = actix_web::HttpServer::new(move || crate::http::app(state.clone(), ingest.clone(), Roles::ALL))
            .workers(2)
            .disable_signals()
            .shutdown_timeout(1)
            .listen(listener)?
            .run();
        let started = Started {
            port,
            log_backend: b.log_backend,
            log: b.log,
            warehouse: b.warehouse,
            consumer,
            rt: tokio::runtime::Handle::current(),
            server: server.handle(),
        };
        Ok((started, server))
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// Run `f` on the server's runtime (where its backends' connections live) and wait for it
    /// (panics after [`START_WAIT`]: a test fails rather than hangs).
    pub fn block_on<T: Send + 'static>(&self, f: impl std::future::Future<Output = T> + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        self.rt.spawn(async move {
            let _ = tx.send(f.await);
        });
        match rx.recv_timeout(START_WAIT) {
            Ok(v) => v,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                panic!(
                    "a call on the test server's runtime took over {} s",
                    START_WAIT.as_secs()
                )
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!("the test server's runtime stopped"),
        }
    }

    /// Store what the log holds now in the warehouse ([`crate::sink::drain`] with the sink's
    /// consumer group); the records read. With Kafka a poll may come back empty while the
    /// group is still assigning partitions: call it until the data is there.
    pub fn drain_sink(&self) -> anyhow::Result<usize> {
        let (log, warehouse, consumer) = (self.log.clone(), self.warehouse.clone(), self.consumer.clone());
        self.block_on(async move {
            let mut c = consumer.lock().await;
            if c.is_none() {
                *c = Some(log.consumer(crate::sink::SINK_GROUP).await?);
            }
            let c = c.as_mut().expect("opened above");
            crate::sink::drain(c.as_mut(), log, warehouse, 10_000, 100).await
        })
    }
}

impl Drop for TestServer {
    /// Stop the server and remove its data directory. The thread is not waited for: taking
    /// the backends down (a Kafka client closes its connections) takes seconds, and nothing
    /// in the test depends on it.
    fn drop(&mut self) {
        let server = self.server.clone();
        self.rt.spawn(async move { server.stop(false).await });
        drop(self.thread.take());
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use serde_json::json;

    /// 2030-06-01 00:00 UTC: far from the wall clock on purpose.
    const NOW: i64 = 1_906_502_400_000;

    #[actix_web::test]
    async fn the_router_answers_in_process_on_the_app_clock() {
        let app = TestApp::new(NOW).await.unwrap();
        let (status, body) = app.call_json(TestRequest::get().uri("/healthz")).await;
        assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));

        let (status, body) = app.call_json(TestRequest::get().uri("/nowhere")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["field"], "path");

        let (status, body) = app
            .call_json(TestRequest::post().uri("/v1/sites").set_json(json!({"name": "x"})))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["field"], "authorization");

        let (status, site) = app
            .call_json(
                TestRequest::post()
                    .uri("/v1/sites")
                    .insert_header(app.bearer())
                    .set_json(json!({"name": "shop", "origins": ["https://shop.example"]})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{site}");
        let key = site["key"].as_str().unwrap().to_string();

        // An event of the app's day is accepted (the wall clock would find it years ahead).
        let event = |id: &str, ts: i64| {
            json!({"id": id, "type": "pageview", "ts": ts, "session_id": "s1", "visitor_id": "v1",
                   "url": "https://shop.example/", "viewport": {"w": 1280, "h": 720}})
        };
        let post = |body: serde_json::Value| {
            TestRequest::post()
                .uri("/v1/events")
                .insert_header(("Origin", "https://shop.example"))
                .insert_header(("Content-Type", "application/json"))
                .set_payload(body.to_string())
        };
        let (status, body) = app
            .call_json(post(json!({"site": key, "sent_at": NOW, "events": [event("01900000-0000-7000-8000-000000000001", NOW - 1000)]})))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["accepted"], 1, "{body}");

        // A month on, the same day's event is too old: the app's time moved, not the test's.
        app.clock.step(40 * 86_400_000);
        let later = app.clock.now_ms();
        let (status, body) = app
            .call_json(post(json!({"site": key, "sent_at": later, "events": [event("01900000-0000-7000-8000-000000000002", NOW - 1000)]})))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["rejected"][0]["field"], "ts", "{body}");
    }
}
