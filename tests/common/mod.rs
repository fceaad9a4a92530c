//! Test harness: runs the real `sightline` binary as a child process on a free loopback
//! port with its own data directory, and talks to it over HTTP like a user would.
//!
//! The backend mode comes from configuration, not from copied tests: with neither variable
//! set, the embedded log and warehouse; with `SIGHTLINE_TEST_KAFKA_BROKERS` (e.g.
//! `127.0.0.1:9092`) the Kafka log, and with `SIGHTLINE_TEST_CLICKHOUSE_URL` (e.g.
//! `http://127.0.0.1:18123`) the ClickHouse warehouse, each server under a topic prefix and
//! database of its own. `scripts/test` runs the suite once per mode.
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
    /// Extra `serve` arguments (e.g. `--roles`), used at every (re)start.
    pub extra: Vec<String>,
    /// Backend arguments (Kafka topic prefix, ClickHouse database), fixed for the server's life.
    pub backend: Vec<String>,
    /// Extra environment of the process (e.g. a failpoint).
    pub env: Vec<(String, String)>,
    pub http: reqwest::blocking::Client,
}

/// True when the suite runs against Kafka and ClickHouse.
pub fn external_mode() -> bool {
    std::env::var("SIGHTLINE_TEST_KAFKA_BROKERS").is_ok() || std::env::var("SIGHTLINE_TEST_CLICKHOUSE_URL").is_ok()
}

/// `serve` arguments selecting the backends of this test run, with a fresh topic prefix and
/// database so tests never see each other's data.
pub fn backend_args() -> Vec<String> {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut a = Vec::new();
    if let Ok(b) = std::env::var("SIGHTLINE_TEST_KAFKA_BROKERS") {
        a.extend([
            "--kafka-brokers".into(),
            b,
            "--kafka-topic-prefix".into(),
            format!("sltest-{}", &run[..12]),
        ]);
    }
    if let Ok(u) = std::env::var("SIGHTLINE_TEST_CLICKHOUSE_URL") {
        a.extend([
            "--clickhouse-url".into(),
            u,
            "--clickhouse-database".into(),
            format!("sltest_{}", &run[..12]),
        ]);
    }
    a
}

/// A free loopback port whose next port is free too (ClickHouse takes HTTP + 1 for its native
/// protocol). Chosen below the kernel's ephemeral range (32768–60999), where outgoing
/// connections pick their local ports: a port from there could be taken by some client
/// between this check and the server's bind.
pub fn free_port() -> u16 {
    loop {
        let p: u16 = rand::random_range(20_000..32_000);
        if TcpListener::bind(("127.0.0.1", p)).is_ok() && TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
}

impl Server {
    /// Start a server with a fresh data dir and extra `serve` arguments.
    pub fn start(extra: &[&str]) -> Server {
        Server::start_with(backend_args(), extra, &[])
    }

    /// Start a server with these backend arguments (share them to make several processes
    /// work on one log and warehouse), extra `serve` arguments and environment.
    pub fn start_with(backend: Vec<String>, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut s = Server::new(backend, extra, env);
        s.spawn();
        s
    }

    /// Like [`Server::start_with`], without starting it.
    pub fn new(backend: Vec<String>, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let tmp = tempfile::tempdir().unwrap();
        Server {
            child: None,
            port: free_port(),
            data_dir: tmp.path().to_path_buf(),
            _tmp: Some(tmp),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            backend,
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    /// Start (again) on the same port and data dir and wait until it is ready.
    pub fn spawn(&mut self) {
        self.spawn_nowait();
        self.wait_ready();
    }

    /// Start (again) without waiting for readiness.
    pub fn spawn_nowait(&mut self) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sightline"));
        cmd.arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(&self.extra)
            .args(&self.backend)
            .env("SIGHTLINE_API_TOKEN", TOKEN)
            .env("SIGHTLINE_ROLLUP_EVERY_MS", "200")
            .env("SIGHTLINE_LOG", "warn")
            // Every test client is 127.0.0.1: the per-IP quota is off unless a test sets it
            // (tests/hardening.rs does, with `--quota-ip-rps`).
            .env("SIGHTLINE_QUOTA_IP_RPS", "0")
            .env("SIGHTLINE_TEST_CLOCK_OFFSET_MS", clock_offset_ms().to_string())
            .env_remove("SIGHTLINE_KAFKA_BROKERS")
            .env_remove("SIGHTLINE_CLICKHOUSE_URL")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        self.child = Some(cmd.spawn().expect("start sightline serve"));
    }

    /// Wait until `/readyz` answers 200 (60 s at most).
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    panic!("sightline serve exited during start-up: {status}");
                }
            }
            if let Ok(r) = self.http.get(self.url("/readyz")).send() {
                if r.status().is_success() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("sightline serve did not become ready on port {}", self.port);
    }

    /// Wait for the process to exit by itself (e.g. at a failpoint), at most `secs`.
    pub fn wait_exit(&mut self, secs: u64) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let c = self.child.as_mut().expect("running");
        loop {
            if let Some(st) = c.try_wait().unwrap() {
                self.child = None;
                return st;
            }
            assert!(Instant::now() < deadline, "process did not exit within {secs} s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM the process and wait (at most 30 s) for its graceful exit.
    pub fn stop(&mut self) {
        if let Some(c) = self.child.as_ref() {
            let pid = c.id().to_string();
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            self.wait_exit(30);
        }
    }

    /// Like a process supervisor (systemd `Restart=always`, Docker's restart policy): if the
    /// process has exited (e.g. it was started while a backend it needs was down), start it
    /// again without waiting. Returns whether it did.
    pub fn restart_if_exited(&mut self) -> bool {
        let exited = match self.child.as_mut() {
            Some(c) => c.try_wait().unwrap().is_some(),
            None => false,
        };
        if exited {
            self.child = None;
            self.spawn_nowait();
        }
        exited
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

    /// Wait until the sink and rollup job have caught up with `n` raw events of `site`.
    pub fn settle(&self, site: &str, n: u64) {
        self.settle_within(site, n, 60)
    }

    /// [`Server::settle`] with a deadline of `secs`.
    pub fn settle_within(&self, site: &str, n: u64, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let stored = self.get(&format!("/v1/sites/{site}/stats"))["events"].as_u64().unwrap();
            if stored >= n {
                assert_eq!(stored, n, "more events stored than sent");
                // The sink marks sessions for the rollup job after its insert (ClickHouse: a
                // second insert): once no sink batch is in flight, every stored event's
                // session is marked. Then run the job until two passes in a row find nothing.
                while self.metric("sightline_sink_batches_in_flight") > 0.0 {
                    assert!(Instant::now() < deadline, "sink batches did not finish");
                    std::thread::sleep(Duration::from_millis(50));
                }
                let mut idle = 0;
                while idle < 2 {
                    let sessions = self.rollup_run()["sessions"].as_u64().unwrap();
                    idle = if sessions == 0 { idle + 1 } else { 0 };
                    assert!(Instant::now() < deadline, "rollups did not settle");
                    std::thread::sleep(Duration::from_millis(200));
                }
                return;
            }
            assert!(
                Instant::now() < deadline,
                "only {stored} of {n} events reached the warehouse"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The value of an unlabelled metric (`name value` in `/metrics`); 0 when absent.
    pub fn metric(&self, name: &str) -> f64 {
        metric_value(&self.metrics(), name)
    }
}

/// The value of the unlabelled metric `name` in a Prometheus text exposition (a
/// `name value` line); 0 when absent.
pub fn metric_value(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0)
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub const HUMAN_UA: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// Which pass of the suite this is (`SIGHTLINE_TEST_MODE`, set by `scripts/test`):
/// `external` must have Kafka and ClickHouse; `embedded` skips tests that need them.
/// Returns false (after saying so) when a test needing external services should skip.
pub fn external_services_or_skip(test: &str) -> bool {
    let mode = std::env::var("SIGHTLINE_TEST_MODE").unwrap_or_default();
    if std::env::var("SIGHTLINE_TEST_KAFKA_BROKERS").is_ok() && std::env::var("SIGHTLINE_TEST_CLICKHOUSE_URL").is_ok() {
        return true;
    }
    assert_ne!(
        mode, "external",
        "{test}: SIGHTLINE_TEST_MODE=external but no SIGHTLINE_TEST_KAFKA_BROKERS/CLICKHOUSE_URL"
    );
    eprintln!(
        "{test}: skipped in the embedded pass (needs Kafka + ClickHouse; scripts/test runs it in the external pass)"
    );
    false
}

/// The system clock, ms.
fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The tests' clock runs this far (ms) off the system clock: pinned at the first call to
/// 12:00 UTC of the day it falls in, so no test process (minutes long) ever crosses a
/// midnight, whatever the time of day it runs. Every server a test starts runs on the same
/// clock (`SIGHTLINE_TEST_CLOCK_OFFSET_MS`, [`sightline::clock::TEST_CLOCK_OFFSET_ENV`]; the
/// in-process one on [`sightline::clock::OffsetClock`]). A browser's page time cannot be
/// pinned: its events are shifted onto the server's clock by the clock-skew rule.
pub fn clock_offset_ms() -> i64 {
    static OFFSET: std::sync::LazyLock<i64> = std::sync::LazyLock::new(|| {
        const DAY: i64 = 86_400_000;
        let wall = wall_ms();
        wall.div_euclid(DAY) * DAY + DAY / 2 - wall
    });
    *OFFSET
}

/// The tests' time, ms: the system clock moved to 12:00 UTC ([`clock_offset_ms`]).
pub fn now_ms() -> i64 {
    wall_ms() + clock_offset_ms()
}

/// The tests' UTC date ([`now_ms`]).
pub fn today() -> chrono::NaiveDate {
    chrono::DateTime::from_timestamp_millis(now_ms()).unwrap().date_naive()
}

/// A fresh UUIDv7 string.
pub fn uuid7() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Today's and tomorrow's UTC dates, for `from`/`to`.
pub fn today_range() -> String {
    let d = today();
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

impl Server {
    /// Run the browser scenario `tests/e2e/<script>` (node + playwright-core) against this
    /// server for `site`, its pages served on `page_port`, with `env` added; panics (naming
    /// the script) unless it exits 0. Every scenario gets `SIGHTLINE_URL`, `SIGHTLINE_TOKEN`,
    /// `SIGHTLINE_SITE` and `PAGE_PORT`.
    ///
    /// The browser's own log (playwright's `pw:browser`) is kept and printed only when the
    /// scenario fails. A scenario whose browser exited under it (exit code 75, see
    /// `tests/e2e/browser.mjs` `BROWSER_CRASHED`) runs once more: a crash of Chromium is not
    /// a failed check, and a second crash still fails the test.
    pub fn run_e2e(&self, script: &str, site: &str, page_port: u16, env: &[(&str, String)]) {
        const BROWSER_CRASHED: i32 = 75;
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        assert!(
            root.join("tests/e2e/node_modules/playwright-core").exists(),
            "browser test dependencies missing: run `scripts/test` (or `npm ci --prefix tests/e2e`)"
        );
        for attempt in 1..=2 {
            let mut child = Command::new("node")
                .arg(root.join("tests/e2e").join(script))
                .current_dir(root)
                .env("SIGHTLINE_URL", self.url(""))
                .env("SIGHTLINE_TOKEN", TOKEN)
                .env("SIGHTLINE_SITE", site)
                .env("PAGE_PORT", page_port.to_string())
                .env("DEBUG", "pw:browser")
                .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("run node tests/e2e/{script}: {e}"));
            let browser_log = browser_log_of(child.stderr.take().unwrap());
            let status = child
                .wait()
                .unwrap_or_else(|e| panic!("wait for node tests/e2e/{script}: {e}"));
            if status.success() {
                return;
            }
            let log = browser_log.join().unwrap_or_default();
            eprintln!(
                "--- the browser's own log (last {} lines) ---\n{}",
                log.len(),
                Vec::from(log).join("\n")
            );
            if status.code() == Some(BROWSER_CRASHED) && attempt == 1 {
                eprintln!("tests/e2e/{script}: chromium exited under the scenario; running it once more");
                continue;
            }
            panic!("the browser scenario tests/e2e/{script} failed (see its output above)");
        }
    }
}

/// Reads a scenario's stderr on a thread of its own: playwright's `pw:browser` lines are kept
/// (the last 80), every other line is printed at once.
fn browser_log_of(stderr: std::process::ChildStderr) -> std::thread::JoinHandle<std::collections::VecDeque<String>> {
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut kept = std::collections::VecDeque::with_capacity(80);
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains(" pw:browser ") {
                if kept.len() == 80 {
                    kept.pop_front();
                }
                kept.push_back(line);
            } else {
                eprintln!("{line}");
            }
        }
        kept
    })
}

/// A service a test starts and stops itself (`scripts/start-clickhouse`, `scripts/start-tansu`).
pub struct Service {
    pub script: &'static str,
    pub dir: std::path::PathBuf,
    pub port: u16,
    pub pid: Option<u32>,
}

impl Service {
    /// Start it (again) on its port and directory.
    pub fn start(&mut self) {
        let root = env!("CARGO_MANIFEST_DIR");
        let out = Command::new(format!("{root}/scripts/{}", self.script))
            .arg(&self.dir)
            .arg(self.port.to_string())
            .output()
            .expect("run start script");
        assert!(
            out.status.success(),
            "{}: {}",
            self.script,
            String::from_utf8_lossy(&out.stderr)
        );
        self.pid = Some(String::from_utf8_lossy(&out.stdout).trim().parse().unwrap());
    }
    /// Stop it: SIGTERM, then SIGKILL after 20 s (and wait, 10 s at most, until it is gone).
    pub fn stop(&mut self) {
        if let Some(pid) = self.pid.take() {
            let _ = Command::new("kill").arg(pid.to_string()).status();
            for _ in 0..200 {
                if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            // A SIGKILLed process takes a moment to go: a start right after must not see it.
            for _ in 0..100 {
                if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The worked example of analytics.md, "Impact on conversion", as events (goal
/// `event:purchase`), sessions starting at `t` (ms): 200 sessions on shop.example/cart, 40 of
/// them rage-click `#pay` (8 convert) and 160 do not (64 convert); 200 on /promo, 50 dead-click
/// `button.promo` (30 convert) and 150 do not (60); 40 on /x then /help, 10 quick back from
/// /help (1 converts) and 30 do not (12).
pub fn impact_example_events(t: i64) -> Vec<Value> {
    let at = |page: &str| format!("https://shop.example/{page}");
    let pv =
        |sid: &str, ts: i64, page: &str, id: &str| event("pageview", sid, &at(page), ts, json!({"pageview_id": id}));
    let tap = |sid: &str, ts: i64, page: &str, id: &str, sel: &str, reaction: Value| {
        event(
            "click",
            sid,
            &at(page),
            ts,
            json!({"pageview_id": id, "x": 100, "y": 200, "selector": sel, "tag": "button", "reaction_ms": reaction}),
        )
    };
    let buy = |sid: &str, ts: i64, page: &str, id: &str| {
        event(
            "custom",
            sid,
            &at(page),
            ts,
            json!({"pageview_id": id, "name": "purchase"}),
        )
    };
    let mut evs = Vec::new();
    for i in 0..200i64 {
        let (sid, ts) = (format!("c{i}"), t + i * 10);
        evs.push(pv(&sid, ts, "cart", "a"));
        let rage = i < 40;
        if rage {
            for k in 0..3 {
                evs.push(tap(&sid, ts + 1_000 + k * 200, "cart", "a", "#pay", json!(30)));
            }
        }
        if (rage && i < 8) || (!rage && i < 40 + 64) {
            evs.push(buy(&sid, ts + 5_000, "cart", "a"));
        }
    }
    for i in 0..200i64 {
        let (sid, ts) = (format!("p{i}"), t + i * 10);
        evs.push(pv(&sid, ts, "promo", "a"));
        let dead = i < 50;
        if dead {
            evs.push(tap(&sid, ts + 1_000, "promo", "a", "button.promo", Value::Null));
        }
        if (dead && i < 30) || (!dead && i < 50 + 60) {
            evs.push(buy(&sid, ts + 5_000, "promo", "a"));
        }
    }
    for i in 0..40i64 {
        let (sid, ts) = (format!("h{i}"), t + i * 10);
        evs.push(pv(&sid, ts, "x", "a"));
        evs.push(pv(&sid, ts + 1_000, "help", "b"));
        let qb = i < 10;
        if qb {
            evs.push(pv(&sid, ts + 3_000, "x", "c"));
        }
        if (qb && i < 1) || (!qb && i < 10 + 12) {
            evs.push(buy(&sid, ts + 5_000, "x", if qb { "c" } else { "b" }));
        }
    }
    evs
}

/// The HTTP calls every test makes, one place for both servers: the spawned binary
/// ([`Server`]) and the endpoint suite's in-process one (`tests/endpoints/harness.rs`).
pub trait Api {
    /// The client (its timeout set by the server's harness).
    fn http(&self) -> &reqwest::blocking::Client;
    /// `http://127.0.0.1:<port><path>`.
    fn url(&self, path: &str) -> String;
    /// Backend arguments (Kafka topic prefix, ClickHouse database) of the server.
    fn backend(&self) -> &[String];
    /// The server's data directory.
    fn data_dir(&self) -> &std::path::Path;
    /// Wait until `n` raw events of `site` are stored and rolled up (each server its own way).
    fn settle(&self, site: &str, n: u64);

    /// `POST /v1/admin/rollup/run`: one rollup pass now; its answer
    /// (`{"sessions", "events", "owned_buckets"}`).
    fn rollup_run(&self) -> Value {
        let r = self
            .http()
            .post(self.url("/v1/admin/rollup/run"))
            .bearer_auth(TOKEN)
            // A pass over many days takes longer than the client's 30 s on a loaded machine
            // (debug build).
            .timeout(Duration::from_secs(300))
            .send()
            .unwrap();
        assert!(r.status().is_success());
        r.json().unwrap()
    }

    /// `/metrics` as text.
    fn metrics(&self) -> String {
        self.http().get(self.url("/metrics")).send().unwrap().text().unwrap()
    }

    /// POST `events` for `site` in batches of 200 (each must be accepted, `202`), then
    /// settle until all of them are stored and rolled up.
    fn post_all_and_settle(&self, site: &str, events: Vec<Value>) {
        let n = events.len() as u64;
        for chunk in events.chunks(200) {
            let (st, body) = self.post(&batch(site, chunk.to_vec()));
            assert_eq!(st, 202, "{body}");
        }
        self.settle(site, n);
    }

    /// The backend arguments without Kafka's: what the subcommands that open only the
    /// warehouse take (`site`, `survey`, `rollup`, `token`, `retention`).
    fn warehouse_args(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut args = self.backend().iter();
        while let Some(a) = args.next() {
            if a.starts_with("--kafka-") {
                args.next();
            } else {
                out.push(a.clone());
            }
        }
        out
    }

    /// Run a `sightline` subcommand against this server's data dir and backends (only the
    /// warehouse's for the subcommands that open only the warehouse).
    fn cli(&self, args: &[&str]) -> std::process::Output {
        let backend = match args.first() {
            Some(&("site" | "survey" | "rollup" | "token" | "retention")) => self.warehouse_args(),
            _ => self.backend().to_vec(),
        };
        let out = Command::new(env!("CARGO_BIN_EXE_sightline"))
            .args(args)
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(&backend)
            .env("SIGHTLINE_LOG", "warn")
            .env("SIGHTLINE_TEST_CLOCK_OFFSET_MS", clock_offset_ms().to_string())
            .output()
            .expect("run sightline");
        assert!(
            out.status.success(),
            "sightline {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Create a site with a fixed key and origins.
    fn site(&self, key: &str, origins: &[&str]) {
        self.site_with(json!({"name": key, "key": key, "origins": origins}));
    }

    fn site_with(&self, body: Value) {
        let r = self
            .http()
            .post(self.url("/v1/sites"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "create site: {}", r.text().unwrap());
    }

    /// POST a body to /v1/events; returns (status, JSON body).
    fn post(&self, body: &Value) -> (u16, Value) {
        self.post_raw(
            serde_json::to_vec(body).unwrap(),
            &[("content-type", "text/plain;charset=UTF-8")],
            "",
        )
    }

    fn post_raw(&self, body: Vec<u8>, headers: &[(&str, &str)], query: &str) -> (u16, Value) {
        self.post_to(&format!("/v1/events{query}"), &body, headers)
    }

    /// POST `body` to `path` as a browser would (a human user agent), with `headers`;
    /// returns (status, JSON body, or the text when it is not JSON).
    fn post_to(&self, path: &str, body: &[u8], headers: &[(&str, &str)]) -> (u16, Value) {
        let mut rb = self
            .http()
            .post(self.url(path))
            .body(body.to_vec())
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
    fn get(&self, path: &str) -> Value {
        let r = self.http().get(self.url(path)).bearer_auth(TOKEN).send().unwrap();
        assert!(
            r.status().is_success(),
            "GET {path}: {} {}",
            r.status(),
            r.text().unwrap_or_default()
        );
        r.json().unwrap()
    }

    /// POST events to the server-key import endpoint; returns (status, body).
    fn import_batch(&self, site: &str, events: &[Value]) -> (u16, Value) {
        let r = self
            .http()
            .post(self.url(&format!("/v1/sites/{site}/import")))
            .bearer_auth(TOKEN)
            .json(&json!({ "events": events }))
            .send()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
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

/// Milliseconds in a second, minute, hour and day.
pub const SEC: i64 = 1000;
pub const MIN: i64 = 60 * SEC;
pub const HOUR: i64 = 60 * MIN;
pub const DAY: i64 = 24 * HOUR;

/// UTC midnight of the day `days` before today (on the tests' clock), ms.
pub fn days_ago(days: i64) -> i64 {
    let now = now_ms();
    now - now.rem_euclid(DAY) - days * DAY
}

/// The UTC date of `ms`, `YYYY-MM-DD`.
pub fn date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string()
}

/// `s` percent-encoded for a query string.
pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `b` gzip-compressed.
pub fn gzip(b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// The `pages` of a `/pages` answer as (page, pageviews, clicks), in the answer's order.
pub fn pages_of(v: &Value) -> Vec<(String, u64, u64)> {
    v["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["page"].as_str().unwrap().to_string(),
                p["pageviews"].as_u64().unwrap(),
                p["clicks"].as_u64().unwrap(),
            )
        })
        .collect()
}
