//! In-process testing (feature `testing`; always there for the crate's own unit tests):
//! [`TestApp`] builds the real router ([`crate::http::app`], every role) over the embedded
//! log and warehouse in a temporary directory, on a [`SteppedClock`], and answers requests
//! without a socket or a child process.

use crate::access::Tokens;
use crate::clock::SteppedClock;
use crate::config::Roles;
use crate::http::AppState;
use crate::ingest::quota::{QuotaConfig, Quotas};
use crate::ingest::{IngestState, Limits};
use crate::log::embedded::EmbeddedLog;
use crate::rollup::job::Ownership;
use crate::sites::SiteCache;
use crate::warehouse::sqlite::SqliteWarehouse;
use crate::warehouse::Shard;
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
