use super::*;
use crate::event::test_event as event;

async fn drain(log: &EmbeddedLog, group: &str) -> Vec<Event> {
    let mut c = log.consumer(group).await.unwrap();
    let mut all = Vec::new();
    loop {
        let recs = c.poll(7, 0).await.unwrap();
        if recs.is_empty() {
            break;
        }
        c.commit(&recs.iter().map(|r| r.position).collect::<Vec<_>>())
            .await
            .unwrap();
        all.extend(recs.iter().map(|r| Event::decode(&r.payload).unwrap()));
    }
    all
}

#[tokio::test]
async fn shards_dedup_exactly_and_a_group_reads_every_record_once_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<String> = (0..40).map(|i| format!("e{i}")).collect();
    {
        let log = EmbeddedLog::open_with(dir.path(), 3).unwrap();
        assert_eq!(log.shards(), 3);
        let batch: Vec<Event> = ids[..30].iter().map(|i| event(i, "v")).collect();
        let out = log.append(&batch).await.unwrap();
        assert!(out.iter().all(|o| *o == AppendOutcome::Appended));
        // A retry of 10 of them plus 10 new ones, with a repeat inside the batch.
        let mut again: Vec<Event> = ids[20..40].iter().map(|i| event(i, "v")).collect();
        again.push(event("e35", "v"));
        let out = log.append(&again).await.unwrap();
        let dups = out.iter().filter(|o| **o == AppendOutcome::Duplicate).count();
        assert_eq!((out.len() - dups, dups), (10, 11));
        let mut c = log.consumer("g").await.unwrap();
        let first = c.poll(12, 0).await.unwrap();
        assert_eq!(first.len(), 12);
        c.commit(&first.iter().map(|r| r.position).collect::<Vec<_>>())
            .await
            .unwrap();
    }
    // The count of shards is the directory's: a different request is ignored.
    let log = EmbeddedLog::open_with(dir.path(), 1).unwrap();
    assert_eq!(log.shards(), 3);
    let rest = drain(&log, "g").await;
    assert_eq!(rest.len(), 28, "the 12 committed records are not read again");
    let mut everything: Vec<String> = drain(&log, "other").await.into_iter().map(|e| e.id).collect();
    everything.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(everything, want);
    // Another type under a known id is a conflict.
    let mut other = event("e3", "v");
    other.payload = crate::event::Payload::Scroll {
        depth: 50.0,
        doc_h: None,
    };
    assert_eq!(
        log.append(&[other]).await.unwrap(),
        vec![AppendOutcome::Conflict("custom".into())]
    );
}

#[tokio::test]
async fn a_forgotten_visitor_leaves_empty_records_and_offsets_stay() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open_with(dir.path(), 2).unwrap();
    let batch: Vec<Event> = (0..20)
        .map(|i| event(&format!("e{i}"), if i % 4 == 0 { "gone" } else { "kept" }))
        .collect();
    log.append(&batch).await.unwrap();
    let mut c = log.consumer("g").await.unwrap();
    let head = c.poll(3, 0).await.unwrap();
    c.commit(&head.iter().map(|r| r.position).collect::<Vec<_>>())
        .await
        .unwrap();
    let site = batch[0].site.clone();
    assert_eq!(log.forget_visitor(&site, "gone").await.unwrap(), 5);
    let rest: Vec<Event> = {
        let mut all = Vec::new();
        loop {
            let recs = c.poll(100, 0).await.unwrap();
            if recs.is_empty() {
                break;
            }
            all.extend(recs.iter().map(|r| Event::decode(&r.payload).unwrap()));
        }
        all
    };
    assert!(rest.iter().all(|e| e.visitor_id == "kept"));
    let seen_before = head
        .iter()
        .filter(|r| Event::decode(&r.payload).unwrap().visitor_id == "kept")
        .count();
    assert_eq!(rest.len() + seen_before, 15);
}

#[tokio::test]
async fn retention_deletes_old_chunks_every_group_committed_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open_with(dir.path(), 1).unwrap();
    for i in 0..3 {
        log.append(&[event(&format!("e{i}"), "v")]).await.unwrap();
    }
    let mut a = log.consumer("a").await.unwrap();
    let recs = a.poll(2, 0).await.unwrap();
    a.commit(&recs.iter().map(|r| r.position).collect::<Vec<_>>())
        .await
        .unwrap();
    let conn = open(&log.paths[0]).unwrap();
    let mut r = Retention {
        shard: 0,
        offsets: open(&log.paths[0]).unwrap(),
        last: 0,
    };
    let later = chrono::Utc::now().timestamp_millis() + RETENTION_MS + 1;
    // Group "a" committed offsets 0 and 1: their chunks go, offset 2 stays.
    assert_eq!(r.apply(&conn, later).unwrap(), 2);
    // Not again within the minute.
    assert_eq!(r.apply(&conn, later + 1).unwrap(), 0);
    // A group that starts later begins after the deleted chunks; a chunk stays until
    // every group that committed has committed it.
    let mut b = log.consumer("b").await.unwrap();
    let seen = b.poll(10, 0).await.unwrap();
    assert_eq!(seen.iter().map(|r| r.position.offset).collect::<Vec<_>>(), vec![2]);
    b.commit(&seen.iter().map(|r| r.position).collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(
        r.apply(&conn, later + RETENTION_EVERY_MS).unwrap(),
        0,
        "a has not committed offset 2"
    );
    let rest = a.poll(10, 0).await.unwrap();
    a.commit(&rest.iter().map(|r| r.position).collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(r.apply(&conn, later + 2 * RETENTION_EVERY_MS).unwrap(), 1);
}

#[tokio::test]
async fn a_log_of_the_row_format_is_converted_with_its_ids_and_unread_records() {
    let dir = tempfile::tempdir().unwrap();
    {
        let c = Connection::open(dir.path().join("log.db")).unwrap();
        c.execute_batch(
            "CREATE TABLE log (offset INTEGER PRIMARY KEY AUTOINCREMENT, site TEXT NOT NULL, payload BLOB NOT NULL);
             CREATE TABLE offsets (grp TEXT PRIMARY KEY, committed INTEGER NOT NULL);
             CREATE TABLE dead_letters (at INTEGER NOT NULL, site TEXT NOT NULL, stage TEXT NOT NULL,
                 field TEXT NOT NULL, reason TEXT NOT NULL, raw TEXT NOT NULL);
             CREATE TABLE ids (id TEXT PRIMARY KEY, type TEXT NOT NULL) WITHOUT ROWID;",
        )
        .unwrap();
        for i in 0..10 {
            let e = event(&format!("old{i}"), "v");
            c.execute(
                "INSERT INTO log (site, payload) VALUES (?1, ?2)",
                params![e.site, e.encode()],
            )
            .unwrap();
            c.execute("INSERT INTO ids VALUES (?1, 'custom')", [&e.id]).unwrap();
        }
        // The sink had committed up to offset 6 (rows 1..=6 done).
        c.execute("INSERT INTO offsets VALUES ('sightline-sink', 6)", [])
            .unwrap();
        c.execute(
            "INSERT INTO dead_letters VALUES (1, 's', 'ingest', 'x', 'bad', '{}')",
            [],
        )
        .unwrap();
    }
    let log = EmbeddedLog::open_with(dir.path(), 2).unwrap();
    let unread: Vec<String> = drain(&log, "sightline-sink").await.into_iter().map(|e| e.id).collect();
    let mut unread = unread;
    unread.sort();
    assert_eq!(unread, vec!["old6", "old7", "old8", "old9"]);
    let out = log.append(&[event("old0", "v"), event("new", "v")]).await.unwrap();
    assert_eq!(out, vec![AppendOutcome::Duplicate, AppendOutcome::Appended]);
    assert_eq!(log.dead_letters(10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn shards_of_sha256_keys_still_report_a_retried_uuid7_id_as_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let ms = chrono::Utc::now().timestamp_millis() - 60_000;
    let ids: Vec<String> = (0..12)
        .map(|i| format!("{:08x}-{:04x}-7abc-8def-{i:012x}", ms >> 16, ms & 0xffff))
        .collect();
    {
        let log = EmbeddedLog::open_with(dir.path(), 3).unwrap();
        let out = log
            .append(&ids.iter().map(|i| event(i, "v")).collect::<Vec<_>>())
            .await
            .unwrap();
        assert!(out.iter().all(|o| *o == AppendOutcome::Appended));
    }
    // Make every shard a file of the release before the ordered keys: SHA-256 keys, no
    // `id_key_legacy`.
    for k in 0..3 {
        let c = Connection::open(shard_path(dir.path(), k)).unwrap();
        let keys: Vec<Vec<u8>> = c
            .prepare("SELECT key FROM id_keys")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        for key in keys {
            let id = ids.iter().find(|i| IdKey::of(i).key[..] == key[..]).unwrap();
            c.execute(
                "UPDATE id_keys SET key = ?1 WHERE key = ?2",
                params![&IdKey::of(id).hash[..], key],
            )
            .unwrap();
        }
        c.execute_batch("DROP TABLE id_key_legacy;").unwrap();
    }
    let log = EmbeddedLog::open_with(dir.path(), 3).unwrap();
    let mut retry: Vec<Event> = ids[6..].iter().map(|i| event(i, "v")).collect();
    let fresh = format!("{:08x}-{:04x}-7abc-8def-{:012x}", ms >> 16, ms & 0xffff, 99);
    retry.push(event(&fresh, "v"));
    let out = log.append(&retry).await.unwrap();
    assert!(out[..6].iter().all(|o| *o == AppendOutcome::Duplicate), "{out:?}");
    assert_eq!(out[6], AppendOutcome::Appended);
    assert_eq!(drain(&log, "g").await.len(), 13, "each id stored once");
}
