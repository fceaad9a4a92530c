//! Session replay in a real browser (issue 19, Must show 1 and 2): `tests/e2e/replay.mjs`
//! records a scripted session on the SB Admin 2 pages with Chromium (typing, a rage burst,
//! navigation), opens its replay in the dashboard at the rage click (screenshot in
//! `test-artifacts/replay/`), checks sampling 0 and withheld consent send nothing, a gap in
//! the player, `exclude_pages` and `mask_text`. Then
//! this test looks for the typed characters and the blocked elements' text everywhere the
//! server keeps data: every file of the data dir (raw, and every SQLite value raw, gunzipped
//! and zstd-decoded, so the log's compressed chunks and the stored recordings are read too),
//! and with ClickHouse its events and replay tables.
//!
//! Needs `node`, `/usr/bin/chromium` and `npm ci --prefix tests/e2e` (`scripts/test`).

mod common;
use common::*;
use serde_json::json;
use std::io::Read;
use std::path::Path;

const SECRETS: [&str; 4] = ["hunter2Zq9xTyped", "hunter2", "BLOCKED-ATTR-7731", "BLOCKED-SEL-4410"];

/// The secrets found in `bytes`, read raw, gunzipped and zstd-decoded.
fn secrets_in(bytes: &[u8]) -> Vec<&'static str> {
    let mut views = vec![bytes.to_vec()];
    let mut gz = Vec::new();
    if flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut gz).is_ok() && !gz.is_empty() {
        views.push(gz);
    }
    if let Ok(z) = zstd::decode_all(bytes) {
        views.push(z);
    }
    SECRETS
        .iter()
        .copied()
        .filter(|s| views.iter().any(|v| v.windows(s.len()).any(|w| w == s.as_bytes())))
        .collect()
}

/// Every (file, table, secret) where a secret is stored under `dir`.
fn scan_data_dir(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in walk(dir) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        for s in secrets_in(&bytes) {
            found.push(format!("{} (raw): {s}", entry.display()));
        }
        if entry.extension().is_some_and(|e| e == "db") {
            let c = rusqlite::Connection::open_with_flags(&entry, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
            let tables: Vec<String> = c
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            for t in tables {
                let mut st = c.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
                let n = st.column_count();
                let mut rows = st.query([]).unwrap();
                while let Some(r) = rows.next().unwrap() {
                    for i in 0..n {
                        let v = match r.get_ref(i).unwrap() {
                            rusqlite::types::ValueRef::Blob(b) => b.to_vec(),
                            rusqlite::types::ValueRef::Text(b) => b.to_vec(),
                            _ => continue,
                        };
                        for s in secrets_in(&v) {
                            found.push(format!("{} table {t}: {s}", entry.display()));
                        }
                    }
                }
            }
        }
    }
    found
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// With ClickHouse: the secrets in its events' records and stored replay chunks.
fn scan_clickhouse(s: &Server) -> Vec<String> {
    let (Ok(url), Some(db)) = (
        std::env::var("SIGHTLINE_TEST_CLICKHOUSE_URL"),
        s.backend
            .iter()
            .position(|a| a == "--clickhouse-database")
            .map(|i| s.backend[i + 1].clone()),
    ) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for (table, col) in [("events", "record"), ("replay_chunks", "data")] {
        let q = format!("SELECT hex({col}) FROM {db}.{table} FORMAT TSV");
        let text = s.http.post(&url).body(q).send().unwrap().text().unwrap();
        for line in text.lines() {
            for secret in secrets_in(&hex::decode(line.trim()).unwrap_or_default()) {
                found.push(format!("ClickHouse {table}.{col}: {secret}"));
            }
        }
    }
    found
}

#[test]
fn a_recorded_session_replays_at_the_rage_click_and_nothing_private_is_stored() {
    let mut s = Server::start(&[]);
    let (page_port, consent_port) = (free_port(), free_port());
    let origins = [
        format!("http://127.0.0.1:{page_port}"),
        format!("http://127.0.0.1:{consent_port}"),
    ];
    s.site_with(
        json!({"name": "replay", "key": "replay", "origins": origins, "settings": {"replay": {"enabled": true}}}),
    );
    s.run_e2e(
        "replay.mjs",
        "replay",
        page_port,
        &[("CONSENT_PORT", consent_port.to_string())],
    );
    let mut found = scan_clickhouse(&s);
    s.stop();
    found.extend(scan_data_dir(&s.data_dir));
    assert!(found.is_empty(), "typed or blocked text stored:\n{}", found.join("\n"));
}
