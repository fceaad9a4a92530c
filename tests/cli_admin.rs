//! The command line and the site admin API (issue 18 items 13–17): `import` exit status and
//! messages, per-subcommand `--help`, deleting a site, dead-letter samples of compressed
//! bodies, and `token create`'s scope.

mod common;
use common::*;
use serde_json::{json, Value};
use std::io::Write;
use std::process::Command;

fn sightline(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sightline"))
        .args(args)
        .env("SIGHTLINE_LOG", "warn")
        .env_remove("SIGHTLINE_API_TOKEN")
        .output()
        .expect("run sightline")
}

/// Item 14: every subcommand's `--help` lists only the flags it uses (the Kafka flags only
/// where the log is opened, the ClickHouse flags only where the warehouse is, none of
/// either for `import`) and points at no source file.
#[test]
fn each_subcommand_help_shows_only_its_flags_and_no_source_paths() {
    // (command, opens the log, opens the warehouse): every subcommand there is.
    let commands: &[(&[&str], bool, bool)] = &[
        (&["serve"], true, true),
        (&["site"], false, true),
        (&["site", "add"], false, true),
        (&["site", "list"], false, true),
        (&["site", "update"], false, true),
        (&["site", "show"], false, true),
        (&["site", "delete"], false, true),
        (&["survey"], false, true),
        (&["survey", "apply"], false, true),
        (&["survey", "list"], false, true),
        (&["survey", "delete"], false, true),
        (&["rollup"], false, true),
        (&["rollup", "rebuild"], false, true),
        (&["token"], false, true),
        (&["token", "create"], false, true),
        (&["token", "list"], false, true),
        (&["token", "revoke"], false, true),
        (&["token", "rotate"], false, true),
        (&["retention"], false, true),
        (&["retention", "run"], false, true),
        (&["gdpr"], true, true),
        (&["gdpr", "delete"], true, true),
        (&["gdpr", "list"], true, true),
        (&["deadletter"], true, true),
        (&["deadletter", "list"], true, true),
        (&["deadletter", "replay"], true, true),
        (&["import"], false, false),
    ];
    // Every subcommand the top-level help lists is in the table.
    let top = String::from_utf8(sightline(&["--help"]).stdout).unwrap();
    let listed: Vec<&str> = top
        .split("Commands:")
        .nth(1)
        .unwrap()
        .split("Options:")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    for c in &listed {
        assert!(commands.iter().any(|(args, _, _)| args == &[*c]), "{c} is not checked");
    }
    assert!(!top.contains("src/"), "{top}");
    for (c, log, warehouse) in commands {
        let mut args = c.to_vec();
        args.push("--help");
        let out = sightline(&args);
        assert!(out.status.success(), "{args:?}");
        let help = String::from_utf8(out.stdout).unwrap();
        assert!(
            !help.contains("src/") && !help.contains(".rs`"),
            "{args:?} --help points at a source file:\n{help}"
        );
        assert_eq!(help.contains("--kafka-brokers"), *log, "{args:?} --help:\n{help}");
        assert_eq!(help.contains("--kafka-topic-prefix"), *log, "{args:?} --help:\n{help}");
        assert_eq!(
            help.contains("--clickhouse-url"),
            *warehouse,
            "{args:?} --help:\n{help}"
        );
        assert_eq!(help.contains("--data-dir"), *warehouse || c == &["import"], "{args:?}");
        // Every flag and argument says what it is.
        let lines: Vec<&str> = help.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let t = l.trim_start();
            if (t.starts_with("--") || t.starts_with('<')) && l.starts_with("  ") && !t.starts_with("--help") {
                let described = t.split("  ").filter(|x| !x.trim().is_empty()).count() > 1
                    || lines
                        .get(i + 1)
                        .is_some_and(|n| !n.trim().is_empty() && n.starts_with("          "));
                assert!(described, "{args:?}: {t} has no description:\n{help}");
            }
        }
    }
    let import = String::from_utf8(sightline(&["import", "--help"]).stdout).unwrap();
    assert!(import.contains("--url") && import.contains("--data-dir"));
}

#[test]
fn import_with_rejected_rows_exits_2_and_names_the_files_columns() {
    let s = Server::start(&[]);
    s.site("imp", &["https://shop.example"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("visits.csv");
    let now = now_ms() - 3_600_000;
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(f, "visitor,session,url,timestamp").unwrap();
    writeln!(f, "v1,s1,https://shop.example/a,{now}").unwrap();
    writeln!(f, "v1,s1,https://shop.example/b,yesterday").unwrap();
    writeln!(f, "v2,s2,https://shop.example/c,{}", now + 1000).unwrap();
    // Two bad columns in one row: both are named, and the row counts once.
    writeln!(f, "v3,s3,not a url,01/06/2025").unwrap();
    drop(f);
    let url = format!("http://127.0.0.1:{}", s.port);
    let out = sightline(&[
        "import",
        path.to_str().unwrap(),
        "--site",
        "imp",
        "--url",
        &url,
        "--token",
        TOKEN,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    let totals: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        totals,
        json!({"rows": 4, "accepted": 2, "duplicates": 0, "rejected": 2})
    );
    assert!(stderr.contains("2 of 4 rows rejected"), "{stderr}");
    assert!(
        stderr.contains(&format!("2 × timestamp: {}", sightline::import::TIMESTAMP_FORMS)),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 3: timestamp:")
            && stderr.contains("line 5: timestamp:")
            && stderr.contains("line 5: url:"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("ts:"),
        "messages must name the file's column: {stderr}"
    );
    // All rows good: exit 0 (the rejected ones again, fixed, in a new file).
    let good = dir.path().join("good.csv");
    std::fs::write(
        &good,
        format!("visitor,session,url,timestamp\nv4,s4,https://shop.example/e,{now}\n"),
    )
    .unwrap();
    let out = sightline(&[
        "import",
        good.to_str().unwrap(),
        "--site",
        "imp",
        "--url",
        &url,
        "--token",
        TOKEN,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn token_create_prints_the_scope_as_the_api_names_it() {
    let s = Server::start(&[]);
    let out = s.cli(&["token", "create", "--name", "ops", "--scope", "admin"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("(admin) created"), "{stderr}");
    let out = s.cli(&["token", "create", "--name", "grafana"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("(read) created"));
}

fn delete(s: &Server, path: &str) -> (u16, Value) {
    let r = s.http.delete(s.url(path)).bearer_auth(TOKEN).send().unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

/// A request with `token`; returns the status.
fn status_with(s: &Server, path: &str, token: &str) -> u16 {
    s.http
        .get(s.url(path))
        .bearer_auth(token)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

/// Wait (30 s at most) until `path` answers `want` to `token` (servers reload tokens within 5 s).
fn wait_status(s: &Server, path: &str, token: &str, want: u16) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while status_with(s, path, token) != want {
        assert!(std::time::Instant::now() < deadline, "{path} never answered {want}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Dead letters of `site` as the API lists them.
fn letters_of(s: &Server, site: &str) -> Vec<Value> {
    s.get("/v1/admin/deadletters?limit=1000")
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["site"] == site)
        .cloned()
        .collect()
}

/// An event ingest rejects (on `url`), kept as a dead letter of `site`.
fn post_rejected(s: &Server, site: &str, tag: &str) {
    let bad = event("pageview", tag, "not a url", now_ms() - 1000, json!({}));
    let (status, body) = s.post(&batch(site, vec![bad]));
    assert_eq!(
        (status, body["rejected"][0]["field"].as_str()),
        (400, Some("url")),
        "{body}"
    );
}

/// Item 15: deleting a site needs a confirmation and removes everything kept for it: raw
/// events, rollups, dirty-session marks, dead letters (hidden in both modes), its place in
/// API tokens; it is recorded in the erasure audit trail. A new site with the same key
/// starts empty and is not open to the old site's tokens.
#[test]
fn deleting_a_site_removes_it_and_its_data_and_needs_a_confirmation() {
    // The rollup job only runs when asked: dirty-session marks stay until the delete.
    let s = Server::start_with(backend_args(), &[], &[("SIGHTLINE_ROLLUP_EVERY_MS", "3600000")]);
    s.site("gone", &["https://shop.example"]);
    s.site("kept", &["https://shop.example"]);
    let now = now_ms();
    let events = (0..3)
        .map(|i| event("pageview", "s1", "https://shop.example/a", now - 10_000 + i, json!({})))
        .collect();
    assert_eq!(s.post(&batch("gone", events)).0, 202);
    s.settle("gone", 3);
    let range = today_range();
    assert_eq!(
        s.get(&format!("/v1/sites/gone/sessions?{range}"))["sessions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // What else is kept for the site: dead letters, tokens limited to it, and (two more
    // events, stored but not rolled up yet) dirty-session marks.
    post_rejected(&s, "gone", "d1");
    post_rejected(&s, "kept", "d2");
    assert_eq!((letters_of(&s, "gone").len(), letters_of(&s, "kept").len()), (1, 1));
    let token = |sites: Value| -> (String, String) {
        let r = s
            .http
            .post(s.url("/v1/tokens"))
            .bearer_auth(TOKEN)
            .json(&json!({"name": "t", "scope": "read", "sites": sites}))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        let b: Value = r.json().unwrap();
        (
            b["id"].as_str().unwrap().to_string(),
            b["token"].as_str().unwrap().to_string(),
        )
    };
    let (only_id, only) = token(json!(["gone"]));
    let (both_id, both) = token(json!(["gone", "kept"]));
    wait_status(&s, "/v1/sites/gone/stats", &only, 200);
    wait_status(&s, "/v1/sites/gone/stats", &both, 200);
    let more = (0..2)
        .map(|i| event("pageview", "s2", "https://shop.example/b", now - 5_000 + i, json!({})))
        .collect();
    assert_eq!(s.post(&batch("gone", more)).0, 202);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while s.get("/v1/sites/gone/stats")["events"] != 5 {
        assert!(
            std::time::Instant::now() < deadline,
            "the 2 events never reached the warehouse"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    let (status, body) = delete(&s, "/v1/sites/gone");
    assert_eq!((status, body["field"].as_str()), (400, Some("confirm")));
    let (status, body) = delete(&s, "/v1/sites/gone?confirm=other");
    assert_eq!((status, body["field"].as_str()), (400, Some("confirm")));
    assert_eq!(
        s.get("/v1/sites/gone/stats")["events"],
        5,
        "a refused delete deletes nothing"
    );

    let (status, body) = delete(&s, "/v1/sites/gone?confirm=gone");
    assert_eq!((status, body), (200, json!({"key": "gone", "events": 5})));
    // Its dirty-session marks went with it: a rollup pass finds nothing to recompute.
    let r = s.rollup_run();
    assert_eq!(r["sessions"], 0, "{r}");
    // Its dead letters are gone from the API and the CLI; the other site's stay.
    assert_eq!((letters_of(&s, "gone").len(), letters_of(&s, "kept").len()), (0, 1));
    let out = s.cli(&["deadletter", "list", "--site", "gone"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    // Tokens: the one for this site alone is revoked, the other keeps only "kept".
    let tokens = s.get("/v1/tokens");
    let find = |id: &str| {
        tokens
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap()
            .clone()
    };
    assert!(find(&only_id)["revoked_at"].is_i64(), "{tokens}");
    assert_eq!(
        (find(&both_id)["sites"].clone(), find(&both_id)["revoked_at"].clone()),
        (json!(["kept"]), Value::Null)
    );
    // The erasure is in the audit trail.
    let forgets = s.get("/v1/admin/forgets");
    let rec = forgets
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["site"] == "gone" && r["whole_site"] == true)
        .unwrap_or_else(|| panic!("{forgets}"));
    assert_eq!(
        (rec["warehouse_events"].as_u64(), rec["done_at"].is_i64()),
        (Some(5), true)
    );
    for path in ["/v1/sites/gone".to_string(), format!("/v1/sites/gone/sessions?{range}")] {
        let r = s.http.get(s.url(&path)).bearer_auth(TOKEN).send().unwrap();
        assert_eq!(r.status().as_u16(), 404, "{path}");
    }
    assert_eq!(delete(&s, "/v1/sites/gone?confirm=gone").0, 404);
    assert!(!s
        .get("/v1/sites")
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["key"] == "gone"));

    // A new site with the same key starts empty, and is not open to the old site's tokens.
    s.site("gone", &["https://shop.example"]);
    assert_eq!(s.get("/v1/sites/gone/stats")["events"], 0);
    assert_eq!(
        s.get(&format!("/v1/sites/gone/sessions?{range}"))["sessions"],
        json!([])
    );
    wait_status(&s, "/v1/sites/gone/stats", &only, 401);
    wait_status(&s, "/v1/sites/gone/stats", &both, 403);
    assert_eq!(status_with(&s, "/v1/sites/kept/stats", &both), 200);
    assert!(letters_of(&s, "gone").is_empty());
    // Its own dead letters are listed as usual.
    post_rejected(&s, "gone", "d3");
    assert_eq!(letters_of(&s, "gone").len(), 1);

    // The CLI: refused without --yes, then deletes.
    let out = Command::new(env!("CARGO_BIN_EXE_sightline"))
        .args(["site", "delete", "gone", "--data-dir"])
        .arg(&s.data_dir)
        .args(s.warehouse_args())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    assert!(
        s.cli(&["site", "show", "gone"]).status.success(),
        "a refused delete deletes nothing"
    );
    let out = s.cli(&["site", "delete", "gone", "--yes"]);
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, json!({"key": "gone", "events": 0}));
    let listed = String::from_utf8(s.cli(&["site", "list"]).stdout).unwrap();
    assert!(!listed.lines().any(|l| l.starts_with("gone\t")), "{listed}");
}

#[test]
fn a_refused_gzip_body_is_kept_as_readable_text() {
    let s = Server::start(&["--max-batch-bytes", "2000"]);
    s.site("gz", &["https://shop.example"]);
    let events: Vec<Value> = (0..40)
        .map(|i| {
            event(
                "pageview",
                "s1",
                "https://shop.example/compressed",
                now_ms() - i,
                json!({}),
            )
        })
        .collect();
    let body = serde_json::to_vec(&batch("gz", events)).unwrap();
    assert!(body.len() > 2000);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&body).unwrap();
    let (status, _) = s.post_raw(
        gz.finish().unwrap(),
        &[("content-type", "text/plain"), ("content-encoding", "gzip")],
        "",
    );
    assert_eq!(status, 413);
    let letters = s.get("/v1/admin/deadletters");
    let letter = letters
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["stage"] == "request")
        .unwrap_or_else(|| panic!("no request letter in {letters}"));
    let raw = letter["raw"].as_str().unwrap();
    assert!(raw.starts_with("{\"events\":[{\"id\":"), "the decoded body: {raw}");
    assert!(raw.contains("https://shop.example/compressed"), "{raw}");
    assert!(!raw.contains('\u{fffd}'), "mojibake: {raw}");
    // The CLI reads the same letter.
    let out = s.cli(&["deadletter", "list", "--stage", "request"]);
    let first: Value = serde_json::from_str(String::from_utf8(out.stdout).unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(first["raw"], letter["raw"]);
}

#[test]
fn a_sample_that_is_not_text_is_marked_base64() {
    use sightline::log::deadletter::{decoded_sample, sample_text};
    assert_eq!(sample_text(b"plain"), Ok("plain"));
    assert_eq!(
        sample_text("caf\u{e9}".as_bytes()[..4].as_ref()),
        Ok("caf"),
        "a cut character is dropped"
    );
    assert_eq!(sample_text(&[0xff, 0x00, 0x41]), Err("base64:/wBB".to_string()));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"hello world").unwrap();
    let mut bytes = gz.finish().unwrap();
    assert_eq!(&*decoded_sample(&bytes, 5), b"hello");
    bytes.truncate(bytes.len() - 8); // a cut stream still yields its start
    assert_eq!(&*decoded_sample(&bytes, 100), b"hello world");
}

/// Item 17: a session split by the server (here after 30 min without events) is listed as
/// the snippet's session id with its split index as a field of its own, in `/sessions` and
/// in the voc answers that name sessions; no `#` suffix anywhere; the cursor still pages.
#[test]
fn a_split_session_is_listed_by_its_id_and_split_index() {
    let s = Server::start(&[]);
    s.site("split", &["https://shop.example"]);
    let t0 = now_ms() - 3 * 3_600_000;
    let url = "https://shop.example/a";
    let events = vec![
        event("pageview", "s#1", url, t0, json!({})),
        event("pageview", "s#1", url, t0 + 60_000, json!({})),
        // 40 min later: a new server-side session of the same snippet session.
        event("pageview", "s#1", url, t0 + 41 * 60_000, json!({})),
        event(
            "feedback",
            "s#1",
            url,
            t0 + 42 * 60_000,
            json!({"rating": 2, "comment": "slow"}),
        ),
    ];
    assert_eq!(s.post(&batch("split", events)).0, 202);
    s.settle("split", 4);
    let d = chrono::DateTime::from_timestamp_millis(t0).unwrap().date_naive();
    let range = format!("from={d}&to={}", d.succ_opt().unwrap().succ_opt().unwrap());
    let list = s.get(&format!("/v1/sites/split/sessions?{range}"));
    let rows: Vec<(Value, Value, Value)> = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["session"].clone(), x["split"].clone(), x["pageviews"].clone()))
        .collect();
    // Newest first. A session id may itself contain `#`: it is returned as sent.
    assert_eq!(
        rows,
        vec![(json!("s#1"), json!(1), json!(1)), (json!("s#1"), json!(0), json!(2))],
        "{list}"
    );
    let first = s.get(&format!("/v1/sites/split/sessions?limit=1&{range}"));
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    let second = s.get(&format!(
        "/v1/sites/split/sessions?limit=1&cursor={}&{range}",
        url::form_urlencoded::byte_serialize(cursor.as_bytes()).collect::<String>()
    ));
    assert_eq!(
        (
            second["sessions"][0]["session"].clone(),
            second["sessions"][0]["split"].clone()
        ),
        (json!("s#1"), json!(0))
    );
    let voc = s.get(&format!("/v1/sites/split/voc?{range}"));
    let fb = &voc["feedback"]["recent"][0];
    assert_eq!(
        (fb["session"].clone(), fb["split"].clone()),
        (json!("s#1"), json!(1)),
        "{voc}"
    );
}
