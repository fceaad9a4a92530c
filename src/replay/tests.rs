use super::*;
use serde_json::json;

fn addr(window: &str, seq: u32) -> ChunkAddress {
    ChunkAddress {
        site: "sl_a".into(),
        visitor: "v1".into(),
        session: "s1".into(),
        window: window.into(),
        seq,
    }
}

fn chunk(window: &str, seq: u32, t0: i64, part_bytes: usize) -> Vec<StoredPart> {
    let mut evs = vec![];
    if seq == 0 {
        evs.push(json!({"type": 4, "timestamp": t0, "data": {"href": "https://shop.example/a?mail=ann@example.com"}}));
        evs.push(json!({"type": 2, "timestamp": t0, "data": {"node": {"id": 1}}}));
    }
    evs.push(json!({"type": 3, "timestamp": t0 + 10, "data": {"source": 2, "type": 2, "id": 5, "x": 1, "y": 2}}));
    evs.push(json!({"type": 3, "timestamp": t0 + 20, "data": {"source": 1, "positions": [], "pad": "x".repeat(3000)}}));
    let (events, _) = prepare(
        &addr(window, seq),
        &serde_json::to_vec(&evs).unwrap(),
        1,
        part_bytes,
        "r",
    )
    .unwrap();
    events
        .into_iter()
        .map(|e| match e.payload {
            Payload::ReplayChunk(c) => StoredPart {
                session: e.session_id,
                bytes: c.data.len() as u64,
                chunk: c,
            },
            _ => unreachable!(),
        })
        .collect()
}

#[test]
fn chunks_are_rebuilt_in_seq_order_and_copies_count_once() {
    let mut parts = Vec::new();
    for seq in [2, 0, 1, 1, 0] {
        parts.extend(chunk("w1", seq, 1000 + i64::from(seq) * 100, 64));
    }
    parts.reverse();
    let r = assemble(parts, true);
    assert_eq!(r.summary.chunks, 3);
    assert_eq!(r.summary.clicks, 3);
    assert!(r.summary.playable && !r.summary.snapshot_missing);
    assert!(r.gaps.is_empty());
    let ts: Vec<i64> = r.events.iter().map(|e| e["timestamp"].as_i64().unwrap()).collect();
    assert_eq!(ts, vec![1000, 1000, 1010, 1020, 1110, 1120, 1210, 1220]);
    // PII in the page URL was scrubbed before storing.
    assert_eq!(r.summary.pages, vec!["https://shop.example/a?mail=[email]".to_string()]);
}

#[test]
fn a_missing_middle_chunk_is_a_gap_and_a_missing_part_too() {
    let mut parts = chunk("w1", 0, 1000, 1 << 20);
    parts.extend(chunk("w1", 3, 1300, 1 << 20));
    let mut split = chunk("w1", 4, 1400, 64);
    assert!(split.len() > 1, "small parts split the chunk");
    split.remove(1);
    parts.extend(split);
    let r = assemble(parts, true);
    assert_eq!(r.summary.chunks, 2);
    assert_eq!(
        r.gaps,
        vec![Gap {
            window: "w1".into(),
            from_seq: 1,
            to_seq: 2,
            from_ts: 1020,
            to_ts: Some(1310)
        }]
    );
    assert_eq!(r.summary.gaps, 2);
    assert!(r.summary.playable);
}

#[test]
fn a_refused_snapshot_marks_its_window_missing_but_keeps_its_metadata() {
    let a = addr("w2", 0);
    let marker = snapshot_missing(&a, 5000, "r");
    let Payload::ReplayChunk(c) = marker.payload else {
        unreachable!()
    };
    let mut parts = vec![StoredPart {
        session: "s1".into(),
        chunk: c,
        bytes: 0,
    }];
    parts.extend(chunk("w2", 1, 5100, 1 << 20));
    let r = assemble(parts, true);
    assert!(r.summary.snapshot_missing && !r.summary.playable);
    assert_eq!(r.summary.clicks, 1);
    assert!(r.events.is_empty(), "a window without its snapshot is never played");
}

#[test]
fn caps_are_separate_for_sent_and_decoded_bytes() {
    let json = serde_json::to_vec(&vec![
        json!({"type": 3, "timestamp": 1, "data": {"pad": "0".repeat(100_000)}}),
    ])
    .unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&json).unwrap();
    let body = gz.finish().unwrap();
    assert!(body.len() < 2000);
    assert_eq!(
        decode_body(&body, 50_000),
        Err(ReplayError::TooLarge {
            what: "decoded",
            limit: 50_000
        })
    );
    assert_eq!(decode_body(&body, 200_000).unwrap(), json);
}

#[test]
fn part_ids_follow_the_address() {
    assert_eq!(part_id(&addr("w", 1), 0), part_id(&addr("w", 1), 0));
    assert_ne!(part_id(&addr("w", 1), 0), part_id(&addr("w", 2), 0));
    assert_ne!(part_id(&addr("w", 1), 0), part_id(&addr("w", 1), 1));
}

#[test]
fn a_chunk_summary_counts_clicks_pages_navigations_and_errors() {
    let evs = vec![
        json!({"type": 4, "timestamp": 5, "data": {"href": "https://a.example/"}}),
        json!({"type": 2, "timestamp": 5, "data": {}}),
        json!({"type": 3, "timestamp": 7, "data": {"source": 2, "type": 2}}),
        json!({"type": 3, "timestamp": 8, "data": {"source": 2, "type": 1}}),
        json!({"type": 5, "timestamp": 9, "data": {"tag": "sl-nav", "payload": {"href": "https://a.example/b"}}}),
        json!({"type": 5, "timestamp": 11, "data": {"tag": "sl-error", "payload": {"message": "boom"}}}),
    ];
    let s = summary::summarize(&evs);
    assert_eq!((s.first_ts, s.last_ts, s.events, s.clicks, s.errors), (5, 11, 6, 1, 1));
    assert!(s.full_snapshot);
    assert_eq!(s.pages, vec!["https://a.example/", "https://a.example/b"]);
}
