//! Session replay through the real server (issue 19): chunks in, recording out, on whichever
//! backends the run selects (embedded, or Kafka + ClickHouse). Retries and copies are stored
//! once, order comes from `seq`, a missing chunk is a gap; caps as sent and decoded give a
//! `413` naming the limit and a refused full snapshot marks the window "snapshot missing";
//! a chunk over Kafka's 1 MB message limit is split and comes back whole; erasure and site
//! deletion remove recordings.

mod common;
use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// rrweb-like events of chunk `seq` starting at `t0`: chunk 0 has the meta and full snapshot.
fn chunk_events(seq: u32, t0: i64, clicks: usize) -> Vec<Value> {
    let mut evs = Vec::new();
    if seq == 0 {
        evs.push(json!({"type": 4, "timestamp": t0, "data": {"href": "http://shop.test/cards?mail=ann@example.com", "width": 1280, "height": 800}}));
        evs.push(json!({"type": 2, "timestamp": t0, "data": {"node": {"type": 0, "childNodes": [], "id": 1}, "initialOffset": {"left": 0, "top": 0}}}));
    }
    for i in 0..clicks {
        evs.push(json!({"type": 3, "timestamp": t0 + 10 + i as i64, "data": {"source": 2, "type": 2, "id": 5, "x": 10, "y": 20}}));
    }
    evs.push(json!({"type": 3, "timestamp": t0 + 500, "data": {"source": 1, "positions": [{"x": 1, "y": 2, "id": 5, "timeOffset": 0}]}}));
    evs
}

struct Chunk<'a> {
    session: &'a str,
    window: &'a str,
    seq: u32,
    full: bool,
}

fn post_chunk(s: &Server, site: &str, c: &Chunk, body: Vec<u8>) -> (u16, Value) {
    let q = format!(
        "/v1/replay?site={site}&session={}&visitor=v-{}&window={}&seq={}{}",
        c.session,
        c.session,
        c.window,
        c.seq,
        if c.full { "&full=1" } else { "" }
    );
    let r = s
        .http
        .post(s.url(&q))
        .header("content-type", "text/plain")
        .body(body)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn replay_site(s: &Server, key: &str) {
    s.site_with(
        json!({"name": key, "key": key, "origins": ["http://shop.test"], "settings": {"replay": {"enabled": true}}}),
    );
}

/// GET the recording until `done` holds for it (the sink stores chunks asynchronously).
fn recording_when(s: &Server, site: &str, session: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    let path = format!("/v1/sites/{site}/sessions/{session}/replay");
    loop {
        let r = s.http.get(s.url(&path)).bearer_auth(TOKEN).send().unwrap();
        if r.status().is_success() {
            let v: Value = r.json().unwrap();
            if done(&v) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "recording never reached the expected state: {}",
                v["summary"]
            );
        } else {
            assert!(Instant::now() < deadline, "no recording of {session}: {}", r.status());
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn retries_are_stored_once_order_comes_from_seq_and_a_missing_chunk_is_a_gap() {
    let s = Server::start(&[]);
    replay_site(&s, "rp1");
    let t0 = now_ms() - 60_000;
    let c = |seq, full| Chunk {
        session: "s-order",
        window: "w1",
        seq,
        full,
    };
    // Sent out of order, seq 2 never arrives, seq 1 twice (a retry), seq 0 as plain JSON.
    let (st, r) = post_chunk(
        &s,
        "rp1",
        &c(3, false),
        gzip(&serde_json::to_vec(&chunk_events(3, t0 + 3000, 1)).unwrap()),
    );
    assert_eq!((st, r["duplicate"].clone()), (202, json!(false)), "{r}");
    let body1 = gzip(&serde_json::to_vec(&chunk_events(1, t0 + 1000, 3)).unwrap());
    assert_eq!(post_chunk(&s, "rp1", &c(1, false), body1.clone()).0, 202);
    let (st, r) = post_chunk(&s, "rp1", &c(1, false), body1);
    assert_eq!(
        (st, r["duplicate"].clone()),
        (202, json!(true)),
        "a retry is a duplicate: {r}"
    );
    let (st, r) = post_chunk(
        &s,
        "rp1",
        &c(0, true),
        serde_json::to_vec(&chunk_events(0, t0, 0)).unwrap(),
    );
    assert_eq!(st, 202, "{r}");
    // The session's own events, so it has a timeline and a row.
    let ev = event(
        "pageview",
        "s-order",
        "http://shop.test/cards",
        t0,
        json!({"visitor_id": "v-s-order"}),
    );
    assert_eq!(s.post(&batch("rp1", vec![ev])).0, 202);

    let rec = recording_when(&s, "rp1", "s-order", |v| v["summary"]["chunks"] == 3);
    let path = s.url("/v1/sites/rp1/sessions/s-order/replay");
    assert_eq!(
        s.http.get(&path).send().unwrap().status().as_u16(),
        401,
        "read scope, as every query"
    );
    let sum = &rec["summary"];
    assert_eq!(sum["clicks"], 4, "clicks of chunks 1 and 3, the retry once: {sum}");
    assert_eq!(sum["gaps"], 1);
    assert_eq!(
        rec["gaps"],
        json!([{"window": "w1", "from_seq": 2, "to_seq": 2, "from_ts": t0 + 1500, "to_ts": t0 + 3010}])
    );
    assert_eq!(sum["playable"], true);
    assert_eq!(sum["snapshot_missing"], false);
    assert_eq!(
        sum["pages"],
        json!(["http://shop.test/cards?mail=[email]"]),
        "PII scrubbed"
    );
    let ts: Vec<i64> = rec["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["timestamp"].as_i64().unwrap())
        .collect();
    let mut sorted = ts.clone();
    sorted.sort();
    assert_eq!(ts, sorted, "events in time order");
    assert_eq!(
        ts.len(),
        3 + 4 + 2,
        "chunk 0 (meta, snapshot, move), 1 (3 clicks, move), 3 (a click, move)"
    );
    assert_eq!(sum["duration_ms"], 3500);

    s.settle("rp1", 1);
    let tl = s.get("/v1/sites/rp1/sessions/s-order");
    assert_eq!(
        tl["replay"]["chunks"], 3,
        "the timeline carries the recording's metadata: {}",
        tl["replay"]
    );
    assert_eq!(tl["replay"]["rage_clicks"], tl["rage_clicks"]);
    let list = s.get(&format!("/v1/sites/rp1/sessions?{}", today_range_of(t0)));
    let row = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["session"] == "s-order")
        .unwrap()
        .clone();
    assert_eq!(row["recording"]["chunks"], 3, "{row}");
}

fn today_range_of(t: i64) -> String {
    let day = t.div_euclid(86_400_000) * 86_400_000;
    format!("from={day}&to={}", day + 86_400_000)
}

#[test]
fn caps_as_sent_and_decoded_answer_413_naming_the_limit_and_a_refused_snapshot_is_marked_missing() {
    let s = Server::start(&[
        "--replay-max-chunk-bytes",
        "50000",
        "--replay-max-decoded-bytes",
        "100000",
    ]);
    replay_site(&s, "rp2");
    let t0 = now_ms() - 60_000;
    // Decoded over the cap (it compresses to almost nothing): a full snapshot.
    let mut big = chunk_events(0, t0, 0);
    big[1]["data"]["pad"] = json!("0".repeat(150_000));
    let body = gzip(&serde_json::to_vec(&big).unwrap());
    assert!(body.len() < 50_000);
    let c = |seq, full| Chunk {
        session: "s-big",
        window: "w1",
        seq,
        full,
    };
    let (st, r) = post_chunk(&s, "rp2", &c(0, true), body);
    assert_eq!(
        (st, r["error"].as_str(), r["limit"].as_u64()),
        (413, Some("too_large"), Some(100_000)),
        "{r}"
    );
    assert!(r["reason"].as_str().unwrap().contains("100000"), "{r}");
    // As sent over the cap.
    let noise: String = (0..60_000)
        .map(|i| char::from(b'a' + ((i * 7919 + i / 13) % 26) as u8))
        .collect();
    let (st, r) = post_chunk(&s, "rp2", &c(5, false), noise.into_bytes());
    assert_eq!((st, r["limit"].as_u64()), (413, Some(50_000)), "{r}");
    // The window goes on: its metadata still counts, but it is never played.
    let (st, _) = post_chunk(
        &s,
        "rp2",
        &c(1, false),
        gzip(&serde_json::to_vec(&chunk_events(1, t0 + 1000, 2)).unwrap()),
    );
    assert_eq!(st, 202);
    let rec = recording_when(&s, "rp2", "s-big", |v| {
        v["summary"]["chunks"] == 1 && v["summary"]["snapshot_missing"] == true
    });
    assert_eq!(rec["summary"]["playable"], false);
    assert_eq!(rec["summary"]["clicks"], 2);
    assert_eq!(rec["windows"][0]["snapshot_missing"], true);
    assert_eq!(rec["events"], json!([]), "no broken replay is offered");
}

#[test]
fn a_chunk_over_the_brokers_message_limit_is_split_and_comes_back_whole() {
    let s = Server::start(&[]);
    replay_site(&s, "rp3");
    let t0 = now_ms() - 60_000;
    // ~1.5 MB of incompressible text: gzip stays over Kafka's 1 MB message limit.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let noise: String = (0..1_500_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[(x % 64) as usize])
        })
        .collect();
    let mut evs = chunk_events(0, t0, 1);
    evs[1]["data"]["img"] = json!(noise.clone());
    let body = gzip(&serde_json::to_vec(&evs).unwrap());
    assert!(
        body.len() > 1_000_000,
        "the chunk must be over the broker's limit: {}",
        body.len()
    );
    let (st, r) = post_chunk(
        &s,
        "rp3",
        &Chunk {
            session: "s-huge",
            window: "w1",
            seq: 0,
            full: true,
        },
        body,
    );
    assert_eq!(st, 202, "{r}");
    assert!(r["parts"].as_u64().unwrap() >= 4, "split in parts of 256 KiB: {r}");
    let rec = recording_when(&s, "rp3", "s-huge", |v| v["summary"]["chunks"] == 1);
    assert_eq!(rec["summary"]["playable"], true);
    let snap = rec["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == 2)
        .unwrap();
    assert_eq!(
        snap["data"]["img"].as_str().unwrap(),
        noise,
        "the parts are joined in order"
    );
}

#[test]
fn replay_off_and_bad_addresses_are_refused_naming_the_field() {
    let s = Server::start(&[]);
    s.site("rp4", &["http://shop.test"]);
    let body = serde_json::to_vec(&chunk_events(0, now_ms(), 0)).unwrap();
    let c = Chunk {
        session: "s1",
        window: "w1",
        seq: 0,
        full: true,
    };
    let (st, r) = post_chunk(&s, "rp4", &c, body.clone());
    assert_eq!((st, r["field"].as_str()), (400, Some("site")), "{r}");
    replay_site(&s, "rp5");
    let (st, r) = post_chunk(&s, "rp5", &Chunk { window: "w 1", ..c }, body.clone());
    assert_eq!((st, r["field"].as_str()), (400, Some("window")), "{r}");
    let (st, r) = post_chunk(&s, "rp5", &c, b"not json".to_vec());
    assert_eq!((st, r["field"].as_str()), (400, Some("body")), "{r}");
    let (st, _) = post_chunk(&s, "nosuchsite", &c, body);
    assert_eq!(st, 401);
}

#[test]
fn erasure_and_site_deletion_remove_recordings() {
    let s = Server::start(&[]);
    replay_site(&s, "rp6");
    let t0 = now_ms() - 60_000;
    for session in ["s-gone", "s-kept"] {
        let c = Chunk {
            session,
            window: "w1",
            seq: 0,
            full: true,
        };
        assert_eq!(
            post_chunk(&s, "rp6", &c, serde_json::to_vec(&chunk_events(0, t0, 1)).unwrap()).0,
            202
        );
        recording_when(&s, "rp6", session, |v| v["summary"]["chunks"] == 1);
    }
    let r = s
        .http
        .post(s.url("/v1/sites/rp6/forget"))
        .bearer_auth(TOKEN)
        .json(&json!({"visitor": "v-s-gone"}))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "forget: {}", r.status());
    let status = |session: &str| {
        s.http
            .get(s.url(&format!("/v1/sites/rp6/sessions/{session}/replay")))
            .bearer_auth(TOKEN)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while status("s-gone") != 404 {
        assert!(
            Instant::now() < deadline,
            "the forgotten visitor's recording is still there"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(status("s-kept"), 200, "other visitors keep theirs");
    let r = s
        .http
        .delete(s.url("/v1/sites/rp6?confirm=rp6"))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "delete site: {}", r.status());
    replay_site(&s, "rp6");
    assert_eq!(status("s-kept"), 404, "a deleted site's recordings are gone");
}

#[test]
fn chunks_take_the_ingest_quotas_like_events() {
    let s = Server::start(&["--quota-ip-rps", "1"]);
    replay_site(&s, "rp7");
    let body = serde_json::to_vec(&chunk_events(0, now_ms(), 0)).unwrap();
    let statuses: Vec<u16> = (0..5)
        .map(|seq| {
            post_chunk(
                &s,
                "rp7",
                &Chunk {
                    session: "s-q",
                    window: "w1",
                    seq,
                    full: seq == 0,
                },
                body.clone(),
            )
            .0
        })
        .collect();
    assert!(statuses.contains(&202), "{statuses:?}");
    assert!(
        statuses.contains(&429),
        "the per-IP quota refuses chunks too: {statuses:?}"
    );
}
