//! Test harness: runs the real `sightline` binary as a child process on a free loopback
//! port with its own data directory, and talks to it over HTTP like a user would.
//!
//! The backend mode comes from configuration, not from copied tests: `SIGHTLINE_TEST_MODE`
//! unset or `embedded` runs the embedded log and warehouse; other modes add the arguments
//! from `SIGHTLINE_TEST_SERVE_ARGS` (used by CI for Kafka + ClickHouse).
#![allow(dead_code)]

use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "test-token-0123456789";

/// A running `sightline serve`.
pub struct Server {
    pub child: Option<Child>,
    pub port: u16,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    extra: Vec<String>,
    pub http: reqwest::blocking::Client,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Server {
    /// Start a server with a fresh data dir and extra `serve` arguments.
    pub fn start(extra: &[&str]) -> Server {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = Server {
            child: None,
            port: free_port(),
            data_dir: tmp.path().to_path_buf(),
            _tmp: Some(tmp),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        };
        s.spawn();
        s
    }

    /// Start (again) on the same port and data dir.
    pub fn spawn(&mut self) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sightline"));
        cmd.arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(&self.extra)
            .env("SIGHTLINE_API_TOKEN", TOKEN)
            .env("SIGHTLINE_ROLLUP_EVERY_MS", "200")
            .env("SIGHTLINE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Ok(args) = std::env::var("SIGHTLINE_TEST_SERVE_ARGS") {
            cmd.args(args.split_whitespace());
        }
        self.child = Some(cmd.spawn().expect("start sightline serve"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = self.http.get(self.url("/readyz")).send() {
                if r.status().is_success() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("sightline serve did not become ready on port {}", self.port);
    }

    /// SIGKILL the process (no shutdown hooks run).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// Create a site with a fixed key and origins.
    pub fn site(&self, key: &str, origins: &[&str]) {
        self.site_with(json!({"name": key, "key": key, "origins": origins}));
    }

    pub fn site_with(&self, body: Value) {
        let r = self
            .http
            .post(self.url("/v1/sites"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "create site: {}", r.text().unwrap());
    }

    /// POST a body to /v1/events; returns (status, JSON body).
    pub fn post(&self, body: &Value) -> (u16, Value) {
        self.post_raw(
            serde_json::to_vec(body).unwrap(),
            &[("content-type", "text/plain;charset=UTF-8")],
            "",
        )
    }

    pub fn post_raw(&self, body: Vec<u8>, headers: &[(&str, &str)], query: &str) -> (u16, Value) {
        let mut rb = self
            .http
            .post(self.url(&format!("/v1/events{query}")))
            .body(body)
            .header("user-agent", HUMAN_UA);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let r = rb.send().unwrap();
        let status = r.status().as_u16();
        let text = r.text().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// GET a query endpoint with the token.
    pub fn get(&self, path: &str) -> Value {
        let r = self.http.get(self.url(path)).bearer_auth(TOKEN).send().unwrap();
        assert!(
            r.status().is_success(),
            "GET {path}: {} {}",
            r.status(),
            r.text().unwrap_or_default()
        );
        r.json().unwrap()
    }

    /// Wait until the sink and rollup job have caught up with `n` raw events of `site`.
    pub fn settle(&self, site: &str, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let stored = self.get(&format!("/v1/sites/{site}/stats"))["events"].as_u64().unwrap();
            if stored >= n {
                let r = self
                    .http
                    .post(self.url("/v1/admin/rollup/run"))
                    .bearer_auth(TOKEN)
                    .send()
                    .unwrap();
                assert!(r.status().is_success());
                assert_eq!(stored, n, "more events stored than sent");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "only {stored} of {n} events reached the warehouse"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn metrics(&self) -> String {
        self.http.get(self.url("/metrics")).send().unwrap().text().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub const HUMAN_UA: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// Current time, ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A fresh UUIDv7 string.
pub fn uuid7() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Today's and tomorrow's UTC dates, for `from`/`to`.
pub fn today_range() -> String {
    let d = chrono::Utc::now().date_naive();
    format!("from={}&to={}", d, d.succ_opt().unwrap())
}

/// A minimal valid event of `typ` with extra fields merged in.
pub fn event(typ: &str, session: &str, url: &str, ts: i64, extra: Value) -> Value {
    let mut e = json!({
        "id": uuid7(), "type": typ, "ts": ts, "session_id": session, "visitor_id": format!("v-{session}"),
        "url": url, "viewport": {"w": 1280, "h": 720},
    });
    for (k, v) in extra.as_object().unwrap() {
        e[k] = v.clone();
    }
    e
}

/// The envelope around `events`.
pub fn batch(site: &str, events: Vec<Value>) -> Value {
    json!({"site": site, "sent_at": now_ms(), "events": events})
}
