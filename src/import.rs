//! Historical import: `sightline import FILE --site KEY` reads rows of past page views and
//! custom events from a CSV or JSON-lines file and posts them, in batches, to the server's
//! `POST /v1/sites/{key}/import` (bearer token), which sends them through the same
//! validation, enrichment, log and id dedup as `POST /v1/events` (see
//! [`crate::ingest::import`]). Nothing is validated here beyond turning a row into an event
//! object: the server's validator gives the reason of every rejected row, and the import
//! reports it under the file's column name ([`column_of`]: `timestamp`, not the API's `ts`).
//! `sightline import` exits with status 2 when any row was rejected, after a summary of how
//! many rows were rejected for which reason ([`Summary::reasons`]).
//!
//! **Rows.** One event per row, with these columns (CSV header) or keys (JSON lines):
//! - `visitor` — visitor id; `session` — the session id; `url` — the page URL (absolute);
//! - `timestamp` — ms since the Unix epoch, or RFC 3339 (`2025-06-01T10:00:00Z`,
//!   `2025-06-01T12:00:00+02:00`), or `YYYY-MM-DD HH:MM:SS[.fff]` read as UTC;
//! - `event` — empty or absent for a page view, else the name of a custom event (on `url`);
//! - optional: `id` (an event UUID; by default one is derived from the row, see below),
//!   `viewport_w`, `viewport_h` (CSS px, for the device class), `title`, `referrer`,
//!   `seq` (order among events with the same timestamp), `props` (custom event properties,
//!   a JSON object; in CSV as JSON text).
//!
//! **Idempotent re-runs.** Without an `id` column the event id is a UUIDv5 over the
//! normalized row (site key, visitor, session, type, event name, URL, timestamp in ms), so
//! importing the same file again yields the same ids and the server counts every event as a
//! duplicate: nothing changes. Two identical rows are one event.

use serde_json::{json, Map, Value};
use std::io::{BufRead, Read};
use std::path::Path;
use std::time::Duration;

/// Namespace of the import's UUIDv5 event ids (fixed: changing it would break re-run dedup).
pub const IMPORT_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x5f1e_7a2b_9c3d_4e5f_8a6b_7c8d_9e0f_1a2b);

/// Input format of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
}

impl Format {
    /// `.csv` → CSV; `.jsonl`, `.ndjson`, `.json` → JSON lines.
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" | "json" => Some(Format::Jsonl),
            _ => None,
        }
    }
}

/// One input row: its line number (1-based, for messages) and its fields by column name.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub line: usize,
    pub fields: Map<String, Value>,
}

/// What a file held: the rows that could be read, and the lines that could not.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Input {
    pub rows: Vec<Row>,
    /// `(line, "row", reason)` of each line that is not a row (not JSON, not an object, a
    /// CSV record with the wrong number of cells, not UTF-8): reported as rejected rows,
    /// without stopping the rows around them.
    pub unreadable: Vec<(usize, String, String)>,
}

/// Read every row of a CSV file (with a header) or a JSON-lines file (one object per line;
/// blank lines skipped). CSV cells are strings; empty cells count as absent. A line that is
/// not a row is kept in [`Input::unreadable`]; only an unreadable CSV header or a read
/// error of the file itself is an error.
pub fn read_rows(reader: impl Read, format: Format) -> anyhow::Result<Input> {
    let mut rows = Vec::new();
    let mut bad = Vec::new();
    let mut unreadable = |line: usize, reason: String| bad.push((line, "row".to_string(), reason));
    match format {
        Format::Csv => {
            let mut r = csv::ReaderBuilder::new().flexible(false).from_reader(reader);
            let headers: Vec<String> = r.headers()?.iter().map(|h| h.trim().to_ascii_lowercase()).collect();
            let mut rec = csv::StringRecord::new();
            let mut line = 1;
            loop {
                match r.read_record(&mut rec) {
                    Ok(false) => break,
                    Ok(true) => {
                        line = rec.position().map_or(line + 1, |p| p.line() as usize);
                        let mut fields = Map::new();
                        for (h, cell) in headers.iter().zip(rec.iter()) {
                            if !cell.is_empty() {
                                fields.insert(h.clone(), Value::String(cell.to_string()));
                            }
                        }
                        rows.push(Row { line, fields });
                    }
                    Err(e) if matches!(e.kind(), csv::ErrorKind::Io(_)) => return Err(e.into()),
                    Err(e) => {
                        line = e.position().map_or(line + 1, |p| p.line() as usize);
                        unreadable(line, format!("not a CSV row: {e}"));
                    }
                }
            }
        }
        Format::Jsonl => {
            for (i, line) in std::io::BufReader::new(reader).split(b'\n').enumerate() {
                let line = line?;
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match serde_json::from_slice::<Value>(&line) {
                    Ok(Value::Object(fields)) => rows.push(Row { line: i + 1, fields }),
                    Ok(_) => unreadable(i + 1, "expected a JSON object".into()),
                    Err(e) => unreadable(i + 1, format!("not valid JSON: {e}")),
                }
            }
        }
    }
    Ok(Input { rows, unreadable: bad })
}

/// A timestamp cell as ms since the epoch: an integer (ms), RFC 3339, or
/// `YYYY-MM-DD HH:MM:SS[.fff]` / `YYYY-MM-DDTHH:MM:SS[.fff]` in UTC. `None` when it is none
/// of these (the raw value is then sent, the server rejects the row, and the import reports
/// it under `timestamp` with [`TIMESTAMP_FORMS`]).
pub fn parse_timestamp(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(ms) = s.parse::<i64>() {
                return Some(ms);
            }
            if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
                return Some(t.timestamp_millis());
            }
            ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
                .iter()
                .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
                .map(|t| t.and_utc().timestamp_millis())
        }
        _ => None,
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// A number cell (JSON number, or a string holding one) as JSON; other values as given, so
/// the server's validator reports them.
fn number(v: &Value) -> Value {
    match v {
        Value::String(s) => s.trim().parse::<i64>().map(Value::from).unwrap_or_else(|_| v.clone()),
        _ => v.clone(),
    }
}

/// The event object of one row for `site` (api.md's event shape: `pageview`, or `custom`
/// with `name` when the row has an `event`). Missing required values are left out, so the
/// server rejects the row naming the field.
pub fn row_to_event(site: &str, row: &Row) -> Value {
    let f = &row.fields;
    let visitor = text(f.get("visitor"));
    let session = text(f.get("session"));
    let url = text(f.get("url"));
    let name = text(f.get("event"));
    let ts_raw = f.get("timestamp").cloned();
    let ts = ts_raw.as_ref().and_then(parse_timestamp);
    let typ = if name.is_some() { "custom" } else { "pageview" };
    let id = text(f.get("id")).unwrap_or_else(|| {
        // The normalized row: fields joined by U+001F, the timestamp as ms when it parses.
        let ts_key = ts.map_or_else(|| text(ts_raw.as_ref()).unwrap_or_default(), |t| t.to_string());
        let key = [
            site,
            visitor.as_deref().unwrap_or(""),
            session.as_deref().unwrap_or(""),
            typ,
            name.as_deref().unwrap_or(""),
            url.as_deref().unwrap_or(""),
            &ts_key,
        ]
        .join("\u{1f}");
        uuid::Uuid::new_v5(&IMPORT_NAMESPACE, key.as_bytes()).to_string()
    });
    let mut e = Map::new();
    e.insert("id".into(), json!(id));
    e.insert("type".into(), json!(typ));
    match (ts, ts_raw) {
        (Some(t), _) => e.insert("ts".into(), json!(t)),
        (None, Some(raw)) => e.insert("ts".into(), raw),
        (None, None) => None,
    };
    for (k, v) in [
        ("visitor_id", visitor),
        ("session_id", session),
        ("url", url),
        ("name", name),
    ] {
        if let Some(v) = v {
            e.insert(k.into(), json!(v));
        }
    }
    if let (Some(w), Some(h)) = (f.get("viewport_w"), f.get("viewport_h")) {
        e.insert("viewport".into(), json!({"w": number(w), "h": number(h)}));
    }
    if let Some(seq) = f.get("seq") {
        e.insert("seq".into(), number(seq));
    }
    for k in ["title", "referrer"] {
        if let Some(v) = text(f.get(k)) {
            e.insert(k.into(), json!(v));
        }
    }
    if let Some(p) = f.get("props") {
        let props = match p {
            Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| p.clone()),
            other => other.clone(),
        };
        e.insert("props".into(), props);
    }
    Value::Object(e)
}

/// What a `timestamp` cell may hold, for the message of a row whose timestamp did not parse.
pub const TIMESTAMP_FORMS: &str =
    "not a time: expected ms since the Unix epoch, RFC 3339, or YYYY-MM-DD HH:MM:SS[.fff] (UTC)";

/// The input column (CSV header or JSON-lines key) that an event field the server names comes
/// from, so messages speak of the user's file: `ts` → `timestamp`, `visitor_id` → `visitor`,
/// `session_id` → `session`, `name` → `event`, `viewport` → `viewport_w/viewport_h`; other
/// fields (`url`, `id`, `title`, `referrer`, `seq`, `props`, `row`) have the column's name.
/// A nested field (`viewport.w`) maps by its head.
pub fn column_of(field: &str) -> &str {
    match field.split('.').next().unwrap_or(field) {
        "ts" => "timestamp",
        "visitor_id" => "visitor",
        "session_id" => "session",
        "name" => "event",
        "viewport" => "viewport_w/viewport_h",
        _ => field,
    }
}

/// Totals of an import run (sums of the server's `202` bodies).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub rows: usize,
    pub accepted: usize,
    pub duplicates: usize,
    /// `(line, column, reason)` of each bad field of each rejected row, by line; the column
    /// as the file names it ([`column_of`]). A row with two bad columns gives two entries.
    pub rejected: Vec<(usize, String, String)>,
}

impl Summary {
    /// How many rows were rejected (distinct lines of [`Summary::rejected`]).
    pub fn rejected_rows(&self) -> usize {
        let mut lines: Vec<usize> = self.rejected.iter().map(|r| r.0).collect();
        lines.dedup();
        lines.len()
    }

    /// Rejected fields grouped by `"column: reason"`, most frequent first (ties by text).
    pub fn reasons(&self) -> Vec<(String, usize)> {
        let mut counts = std::collections::BTreeMap::<String, usize>::new();
        for (_, column, reason) in &self.rejected {
            *counts.entry(format!("{column}: {reason}")).or_default() += 1;
        }
        let mut v: Vec<(String, usize)> = counts.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }
}

/// Where and how to send.
pub struct Target {
    /// Server base URL, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    pub site: String,
    pub token: String,
    /// Events per request.
    pub batch: usize,
}

/// Post `rows` in batches to `POST {url}/v1/sites/{site}/import`, with a progress bar on a
/// terminal. A `429`/`503` (or a connection error) is retried with capped backoff, up to 8
/// times; any other refusal stops the import with the server's message.
pub fn send(input: &Input, target: &Target) -> anyhow::Result<Summary> {
    let rows = &input.rows;
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let endpoint = format!("{}/v1/sites/{}/import", target.url.trim_end_matches('/'), target.site);
    let bar = indicatif::ProgressBar::new(rows.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows {per_sec} eta {eta}")
            .expect("progress template"),
    );
    let mut summary = Summary {
        rows: rows.len() + input.unreadable.len(),
        rejected: input.unreadable.clone(),
        ..Summary::default()
    };
    for chunk in rows.chunks(target.batch.max(1)) {
        let events: Vec<Value> = chunk.iter().map(|r| row_to_event(&target.site, r)).collect();
        let body = serde_json::to_vec(&json!({ "events": events }))?;
        let mut attempt = 0u32;
        let reply: Value = loop {
            let r = http
                .post(&endpoint)
                .bearer_auth(&target.token)
                .header("content-type", "application/json")
                .body(body.clone())
                .send();
            let retry = match r {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let text = resp.text().unwrap_or_default();
                    match status {
                        202 | 400 if text.contains("\"accepted\"") => break serde_json::from_str(&text)?,
                        429 | 503 => format!("{status} {text}"),
                        _ => anyhow::bail!("{endpoint}: {status} {text}"),
                    }
                }
                Err(e) => e.to_string(),
            };
            attempt += 1;
            if attempt > 8 {
                anyhow::bail!("{endpoint}: giving up after {attempt} attempts: {retry}");
            }
            std::thread::sleep(Duration::from_millis(250 << attempt.min(5)));
        };
        summary.accepted += reply["accepted"].as_u64().unwrap_or(0) as usize;
        summary.duplicates += reply["duplicates"].as_u64().unwrap_or(0) as usize;
        for r in reply["rejected"].as_array().into_iter().flatten() {
            let row = r["index"].as_u64().and_then(|i| chunk.get(i as usize));
            let line = row.map_or(0, |row| row.line);
            let unparsed_time = row.is_some_and(|row| {
                row.fields
                    .get("timestamp")
                    .is_some_and(|t| parse_timestamp(t).is_none())
            });
            // Every bad field of the row (`errors`), not only the first (`field`/`reason`).
            let errors: Vec<&Value> = match r["errors"].as_array() {
                Some(errors) if !errors.is_empty() => errors.iter().collect(),
                _ => vec![r],
            };
            for e in errors {
                let field = e["field"].as_str().unwrap_or("");
                let mut reason = e["reason"].as_str().unwrap_or("").to_string();
                if field == "ts" && unparsed_time {
                    reason = TIMESTAMP_FORMS.to_string();
                }
                summary.rejected.push((line, column_of(field).to_string(), reason));
            }
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    summary.rejected.sort_by_key(|r| r.0);
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(csv_text: &str) -> Vec<Row> {
        read_rows(csv_text.as_bytes(), Format::Csv).unwrap().rows
    }

    #[test]
    fn a_line_that_is_not_a_row_is_reported_and_the_others_are_read() {
        let jsonl = b"{\"visitor\":\"v1\"}\nnot json\n[1]\n\xff\xfe\n\n{\"visitor\":\"v2\"}\n";
        let input = read_rows(&jsonl[..], Format::Jsonl).unwrap();
        assert_eq!(input.rows.iter().map(|r| r.line).collect::<Vec<_>>(), vec![1, 6]);
        let bad: Vec<(usize, &str)> = input.unreadable.iter().map(|(l, f, _)| (*l, f.as_str())).collect();
        assert_eq!(bad, vec![(2, "row"), (3, "row"), (4, "row")]);
        assert!(input.unreadable[1].2.contains("JSON object"));
        let input = read_rows(&b"visitor,session\nv1,s1\nv2\nv3,s3\n"[..], Format::Csv).unwrap();
        assert_eq!(input.rows.iter().map(|r| r.line).collect::<Vec<_>>(), vec![2, 4]);
        assert_eq!(input.unreadable.len(), 1);
        assert_eq!(input.unreadable[0].0, 3);
    }

    #[test]
    fn csv_and_json_lines_give_the_same_events() {
        let csv_rows = rows(
            "visitor,session,event,url,timestamp\n\
             v1,s1,,https://shop.example/a,1748772000000\n\
             v1,s1,signup,https://shop.example/a,2025-06-01T10:00:05Z\n",
        );
        let jsonl = "{\"visitor\":\"v1\",\"session\":\"s1\",\"url\":\"https://shop.example/a\",\"timestamp\":1748772000000}\n\n\
             {\"visitor\":\"v1\",\"session\":\"s1\",\"event\":\"signup\",\"url\":\"https://shop.example/a\",\"timestamp\":\"2025-06-01 10:00:05\"}\n";
        let json_rows = read_rows(jsonl.as_bytes(), Format::Jsonl).unwrap().rows;
        let a: Vec<Value> = csv_rows.iter().map(|r| row_to_event("site", r)).collect();
        let b: Vec<Value> = json_rows.iter().map(|r| row_to_event("site", r)).collect();
        assert_eq!(a, b);
        assert_eq!(a[0]["type"], "pageview");
        assert_eq!(a[1]["type"], "custom");
        assert_eq!(a[1]["name"], "signup");
        assert_eq!(a[1]["ts"], 1_748_772_005_000i64);
        assert_eq!((csv_rows[1].line, json_rows[1].line), (3, 3));
    }

    #[test]
    fn event_ids_are_derived_from_the_normalized_row() {
        let r = rows(
            "visitor,session,url,timestamp\n\
             v1,s1,https://shop.example/a,1748772000000\n\
             v1,s1,https://shop.example/a,2025-06-01T10:00:00Z\n\
             v1,s1,https://shop.example/a,1748772000001\n",
        );
        let ids: Vec<Value> = r.iter().map(|row| row_to_event("site", row)["id"].clone()).collect();
        assert_eq!(ids[0], ids[1], "the same instant written two ways is one event");
        assert_ne!(ids[0], ids[2]);
        assert_ne!(ids[0], row_to_event("other-site", &r[0])["id"]);
        assert!(uuid::Uuid::parse_str(ids[0].as_str().unwrap()).is_ok());
    }

    #[test]
    fn missing_or_bad_values_are_left_for_the_server_to_name() {
        let r = rows("visitor,session,url,timestamp,viewport_w,viewport_h\n,s1,https://a.example/,yesterday,390,844\n");
        let e = row_to_event("site", &r[0]);
        assert!(e.get("visitor_id").is_none());
        assert_eq!(e["ts"], "yesterday");
        assert_eq!(e["viewport"], json!({"w": 390, "h": 844}));
    }

    #[test]
    fn rejections_name_the_files_columns_and_group_by_reason() {
        assert_eq!(column_of("ts"), "timestamp");
        assert_eq!(column_of("visitor_id"), "visitor");
        assert_eq!(column_of("session_id"), "session");
        assert_eq!(column_of("name"), "event");
        assert_eq!(column_of("viewport.w"), "viewport_w/viewport_h");
        assert_eq!(column_of("url"), "url");
        let s = Summary {
            rows: 4,
            accepted: 1,
            duplicates: 0,
            rejected: vec![
                (2, "timestamp".into(), TIMESTAMP_FORMS.into()),
                (3, "url".into(), "required".into()),
                (4, "timestamp".into(), TIMESTAMP_FORMS.into()),
            ],
        };
        assert_eq!(
            s.reasons(),
            vec![
                (format!("timestamp: {TIMESTAMP_FORMS}"), 2),
                ("url: required".to_string(), 1)
            ]
        );
    }

    #[test]
    fn timestamps_parse_in_the_documented_forms() {
        let t = 1_748_772_000_000i64;
        for s in [
            "1748772000000",
            "2025-06-01T10:00:00Z",
            "2025-06-01T12:00:00+02:00",
            "2025-06-01 10:00:00",
            "2025-06-01T10:00:00.000",
        ] {
            assert_eq!(parse_timestamp(&json!(s)), Some(t), "{s}");
        }
        assert_eq!(parse_timestamp(&json!(t)), Some(t));
        assert_eq!(parse_timestamp(&json!("01/06/2025")), None);
    }
}
