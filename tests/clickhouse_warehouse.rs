//! The warehouse contract, held against both backends: SQLite always, ClickHouse when
//! `SIGHTLINE_TEST_CLICKHOUSE_URL` is set (e.g. `http://127.0.0.1:18123`, a server started with
//! `scripts/start-clickhouse DIR 18123`; CI uses Debian's 18.16). Each ClickHouse test uses
//! its own fresh database and drops it when it passes.
//!
//! The heart of it: the rollup rows stored per snippet session and read back (summed by the
//! warehouse per day, device, bot and key) equal what `compute_day` gives over the same
//! events, however the sessions were written, rewritten, erased or half-written.
//!
//! Without `SIGHTLINE_TEST_CLICKHOUSE_URL` the ClickHouse tests print that they were skipped and
//! pass.

use sightline::event::{Answer, DeviceClass, Event, Payload, SurveyKind, Viewport};
use sightline::rollup::{compute_day, compute_sessions, DayRollup, Rules, DAY_MS};
use sightline::sites::Site;
use sightline::warehouse::clickhouse::{self as ch, sql, ClickHouseWarehouse};
use sightline::warehouse::sqlite::SqliteWarehouse;
use sightline::warehouse::{bucket_of, DirtySession, InsertReport, Part, RollupQuery, Shard, Warehouse};
use std::collections::BTreeSet;

/// 2024-05-01T00:00:00Z.
const D0: i64 = 1_714_521_600_000;
const D1: i64 = D0 + DAY_MS;
const D2: i64 = D0 + 2 * DAY_MS;
const H: i64 = 3_600_000;
const SA: &str = "site-a";
const SB: &str = "site-b";

fn event(id: &str, site: &str, session: &str, ts: i64, page: &str, payload: Payload) -> Event {
    Event {
        client: None,
        source: None,
        id: id.into(),
        site: site.into(),
        ts,
        client_ts: ts,
        received_at: ts + 50,
        skew_rule: "none".into(),
        session_id: session.into(),
        visitor_id: format!("v-{session}"),
        url: format!("https://shop.example{page}"),
        page_key: page.into(),
        viewport: Some(Viewport { w: 1280, h: 800 }),
        seq: None,
        pageview_id: Some(format!("pv-{session}-{page}")),
        device: DeviceClass::Desktop,
        bot_reason: None,
        request_id: format!("req-{id}"),
        payload,
    }
}

fn pageview(id: &str, site: &str, session: &str, ts: i64, page: &str) -> Event {
    let p = Payload::Pageview {
        referrer: None,
        title: Some(format!("Title {page}")),
        screen: Some(Viewport { w: 1920, h: 1080 }),
        layout: None,
    };
    event(id, site, session, ts, page, p)
}

fn click(id: &str, site: &str, session: &str, ts: i64, page: &str) -> Event {
    let p = Payload::Click {
        x: 100.5,
        y: 240.0,
        selector: "#buy".into(),
        el: Some((0.5, 0.25)),
        tag: Some("button".into()),
        zone: Some("hero".into()),
        reaction_ms: Some(120),
        keyboard: false,
        modifier: false,
        navigates: false,
        input_type: None,
        tracker: None,
        text: None,
    };
    event(id, site, session, ts, page, p)
}

fn other(id: &str, session: &str, ts: i64, page: &str, payload: Payload) -> Event {
    event(id, SA, session, ts, page, payload)
}

/// Session a on D0 (site-a: page views, clicks, scroll, zone, feedback, survey answers, a
/// custom event), session b across the night D1 → D2 (site-a, with a text answer), session
/// c on D0 (site-b), plus a copy of a2 inside the batch.
fn batch() -> Vec<Event> {
    vec![
        pageview("a1", SA, "sess-a", D0 + H, "/"),
        click("a2", SA, "sess-a", D0 + H + 5_000, "/"),
        pageview("a3", SA, "sess-a", D0 + H + 20_000, "/pricing"),
        other(
            "a6",
            "sess-a",
            D0 + H + 21_000,
            "/pricing",
            Payload::Scroll {
                depth: 55.0,
                doc_h: Some(2400),
            },
        ),
        other(
            "a7",
            "sess-a",
            D0 + H + 22_000,
            "/pricing",
            Payload::Zone {
                zone: "plans".into(),
                visible_ms: 400,
                hover_ms: 100,
                hesitation_ms: Some(250),
            },
        ),
        click("a8", SA, "sess-a", D0 + H + 23_000, "/pricing"),
        other(
            "a9",
            "sess-a",
            D0 + H + 24_000,
            "/pricing",
            Payload::Feedback {
                rating: Some(2),
                comment: Some("too expensive".into()),
                category: Some("idea".into()),
                selector: None,
            },
        ),
        other(
            "a10",
            "sess-a",
            D0 + H + 25_000,
            "/pricing",
            Payload::SurveyResponse {
                survey_id: "nps".into(),
                question_id: "q1".into(),
                kind: SurveyKind::Nps,
                value: Answer::Number(9.0),
                trigger: Some("manual".into()),
            },
        ),
        other(
            "a11",
            "sess-a",
            D0 + H + 26_000,
            "/pricing",
            Payload::SurveyResponse {
                survey_id: "nps".into(),
                question_id: "q2".into(),
                kind: SurveyKind::Choice,
                value: Answer::Choices(vec!["price".into(), "speed".into()]),
                trigger: None,
            },
        ),
        other(
            "a12",
            "sess-a",
            D0 + H + 27_000,
            "/pricing",
            Payload::Custom {
                name: "signup".into(),
                props_json: "{}".into(),
            },
        ),
        pageview("b1", SA, "sess-b", D1 + 23 * H + 50 * 60_000, "/"),
        pageview("b2", SA, "sess-b", D2 + 5 * 60_000, "/pricing"),
        other(
            "b3",
            "sess-b",
            D2 + 6 * 60_000,
            "/pricing",
            Payload::SurveyResponse {
                survey_id: "csat".into(),
                question_id: "why".into(),
                kind: SurveyKind::Text,
                value: Answer::Text("fine".into()),
                trigger: None,
            },
        ),
        pageview("c1", SB, "sess-c", D0 + 2 * H, "/"),
        click("a2", SA, "sess-a", D0 + H + 5_000, "/"),
    ]
}

/// The first copy of each id.
fn unique(events: &[Event]) -> Vec<Event> {
    let mut seen = BTreeSet::new();
    events.iter().filter(|e| seen.insert(e.id.clone())).cloned().collect()
}

/// Additive rows whose counters are all 0 are not stored (a read drops them).
fn without_zero_rows(mut r: DayRollup) -> DayRollup {
    r.pages
        .retain(|p| p.pageviews + p.clicks + p.quick_backs + p.fold_n + p.viewport_h_sum + p.doc_h_sum > 0);
    r.grid.retain(|g| g.count > 0);
    r.elements
        .retain(|e| e.clicks + e.rage_clicks + e.dead_clicks + e.el_n > 0);
    r.scroll.retain(|s| s.pageviews > 0);
    r.zones.retain(|z| {
        z.exposed
            + z.clicked
            + z.exposed_clicked
            + z.visible_ms_sum
            + z.hovered
            + z.hover_ms_sum
            + z.hesitation_n
            + z.hesitation_ms_sum
            + z.click_sessions
            + z.converted_sessions
            > 0
    });
    r.surveys.retain(|s| s.responses > 0);
    r.goal.retain(|g| g.sessions > 0);
    r
}

/// What a read of `site` over days [from, to) must return: `compute_day` over all of the
/// site's events, day by day (so rows of every session merged per key), zero rows dropped.
fn expected(events: &[Event], site: &str, from: i64, to: i64) -> DayRollup {
    let evs: Vec<Event> = unique(events).into_iter().filter(|e| e.site == site).collect();
    let mut out = DayRollup::default();
    let mut d = from;
    while d < to {
        out.extend(compute_day(&evs, d, &Rules::default()));
        d += DAY_MS;
    }
    without_zero_rows(out)
}

/// Part by part, for readable failures.
fn assert_rollup(got: &DayRollup, want: &DayRollup, what: &str) {
    assert_eq!(got.pages, want.pages, "{what}: pages");
    assert_eq!(got.grid, want.grid, "{what}: grid");
    assert_eq!(got.elements, want.elements, "{what}: elements");
    assert_eq!(got.scroll, want.scroll, "{what}: scroll");
    assert_eq!(got.zones, want.zones, "{what}: zones");
    assert_eq!(got.surveys, want.surveys, "{what}: surveys");
    assert_eq!(got.sessions, want.sessions, "{what}: sessions");
    assert_eq!(got.session_details, want.session_details, "{what}: session details");
    assert_eq!(got.answers, want.answers, "{what}: answers");
    assert_eq!(got.feedback, want.feedback, "{what}: feedback");
    assert_eq!(got.journeys, want.journeys, "{what}: journeys");
    assert_eq!(got.problems, want.problems, "{what}: problems");
    assert_eq!(got.goal, want.goal, "{what}: goal");
    assert_eq!(got, want, "{what}");
}

async fn dirty_keys(w: &dyn Warehouse) -> BTreeSet<(String, String)> {
    w.dirty_sessions(1000, &Shard::ALL)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.site, d.session_id))
        .collect()
}

fn keys(v: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    v.iter().map(|(s, d)| (s.to_string(), d.to_string())).collect()
}

async fn events_of(w: &dyn Warehouse, site: &str, sessions: &[&str]) -> Vec<Event> {
    let ids: Vec<String> = sessions.iter().map(|s| s.to_string()).collect();
    let mut v = w.session_events(site, &ids).await.unwrap();
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v
}

fn of_sessions(all: &[Event], site: &str, sessions: &[&str]) -> Vec<Event> {
    let mut v: Vec<Event> = unique(all)
        .into_iter()
        .filter(|e| e.site == site && sessions.contains(&e.session_id.as_str()))
        .collect();
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v
}

/// The rows `compute_sessions` gives for these sessions of `site`, from what is stored.
async fn rows_of(w: &dyn Warehouse, site: &str, sessions: &[&str]) -> Vec<sightline::warehouse::SessionRollup> {
    let ids: Vec<String> = sessions.iter().map(|s| s.to_string()).collect();
    let events = w.session_events(site, &ids).await.unwrap();
    compute_sessions(events, &Rules::default())
}

/// What the rollup job does: recompute every dirty session. Returns how many.
async fn rollup_pass(w: &dyn Warehouse) -> usize {
    let dirty = w.dirty_sessions(1000, &Shard::ALL).await.unwrap();
    let sites: BTreeSet<String> = dirty.iter().map(|d| d.site.clone()).collect();
    for site in sites {
        let done: Vec<DirtySession> = dirty.iter().filter(|d| d.site == site).cloned().collect();
        let ids: Vec<String> = done.iter().map(|d| d.session_id.clone()).collect();
        let events = w.session_events(&site, &ids).await.unwrap();
        let rows = compute_sessions(events, &Rules::default());
        w.write_sessions(&site, &done, &rows).await.unwrap();
    }
    dirty.len()
}

fn query(site: &str, from: i64, to: i64, parts: &[Part], page: Option<&str>) -> RollupQuery {
    RollupQuery {
        site: site.into(),
        from_day: from,
        to_day: to,
        parts: parts.to_vec(),
        page: page.map(String::from),
        segment: Default::default(),
    }
}

fn site(key: &str, name: &str) -> Site {
    Site {
        key: key.into(),
        name: name.into(),
        origins: vec!["https://shop.example".into()],
        settings: Default::default(),
        created_at: D0,
    }
}

const WHOLE: (i64, i64) = (D0, D0 + 3 * DAY_MS);

async fn read_all(w: &dyn Warehouse, site: &str) -> DayRollup {
    w.read_rollup(&query(site, WHOLE.0, WHOLE.1, &Part::ALL, None))
        .await
        .unwrap()
}

/// The contract every warehouse must meet (see `src/warehouse/mod.rs`).
async fn contract(w: &dyn Warehouse) {
    assert!(w.ready().await, "ready");
    let mut all = batch();

    // Insert: ids are unique, a copy inside the batch is a duplicate.
    let rep = w.insert_events(&all).await.unwrap();
    assert_eq!(
        rep,
        InsertReport {
            inserted: 14,
            duplicates: 1
        }
    );
    assert_eq!(w.count_events(SA).await.unwrap(), 13);
    assert_eq!(w.count_events(SB).await.unwrap(), 1);
    assert_eq!(w.count_events("nobody").await.unwrap(), 0);
    assert_eq!(w.insert_events(&[]).await.unwrap(), InsertReport::default());

    // Dirty sessions: each session of the batch once, with a version.
    let first_dirty = keys(&[(SA, "sess-a"), (SA, "sess-b"), (SB, "sess-c")]);
    assert_eq!(dirty_keys(w).await, first_dirty);
    assert_eq!(w.dirty_sessions(2, &Shard::ALL).await.unwrap().len(), 2);

    // Every event of the sessions asked for, decoded as it was written; nothing of others.
    assert_eq!(events_of(w, SA, &["sess-a"]).await, of_sessions(&all, SA, &["sess-a"]));
    assert_eq!(
        events_of(w, SA, &["sess-a", "sess-b", "sess-b"]).await,
        of_sessions(&all, SA, &["sess-a", "sess-b"])
    );
    assert!(events_of(w, SA, &["sess-c"]).await.is_empty(), "sess-c is on site-b");
    assert!(events_of(w, SA, &["nobody"]).await.is_empty());
    assert!(events_of(w, SA, &[]).await.is_empty());

    // Replay (a sink restarted before committing its offsets): counted once.
    let rep = w.insert_events(&all).await.unwrap();
    assert_eq!(
        rep,
        InsertReport {
            inserted: 0,
            duplicates: 15
        }
    );
    assert_eq!(w.count_events(SA).await.unwrap(), 13);
    // SQLite marks nothing for a pure replay; ClickHouse may mark the same sessions again (it
    // cannot tell a replay from a crash between its two INSERTs). Never other sessions.
    for k in dirty_keys(w).await {
        assert!(first_dirty.contains(&k), "replay dirtied {k:?}");
    }

    // Rollups: one pass clears every dirty session, and reads give what compute_day gives.
    assert_eq!(rollup_pass(w).await, 3);
    assert!(dirty_keys(w).await.is_empty(), "dirty after a full pass");
    let read = read_all(w, SA).await;
    assert!(!read.pages.is_empty() && !read.sessions.is_empty() && !read.elements.is_empty());
    assert!(!read.zones.is_empty() && !read.answers.is_empty() && !read.feedback.is_empty());
    assert!(!read.session_details.is_empty() && !read.surveys.is_empty() && !read.scroll.is_empty());
    assert!(read.elements.iter().any(|e| !e.el_cells.is_empty()), "el_cells merged");
    assert_rollup(&read, &expected(&all, SA, WHOLE.0, WHOLE.1), "after the first pass");
    assert_rollup(&read_all(w, SB).await, &expected(&all, SB, WHOLE.0, WHOLE.1), "site-b");
    let only_d1 = w.read_rollup(&query(SA, D1, D2, &Part::ALL, None)).await.unwrap();
    assert_rollup(&only_d1, &expected(&all, SA, D1, D2), "day D1 only");
    assert_eq!(
        w.read_rollup(&query(SA, D0, D0, &Part::ALL, None)).await.unwrap(),
        DayRollup::default()
    );
    assert_eq!(
        w.read_rollup(&query(SA, D0, D2, &[], None)).await.unwrap(),
        DayRollup::default()
    );
    let just_pages = w
        .read_rollup(&query(SA, WHOLE.0, WHOLE.1, &[Part::Pages], None))
        .await
        .unwrap();
    assert_eq!(
        just_pages,
        DayRollup {
            pages: read.pages.clone(),
            ..Default::default()
        }
    );

    // Rewriting a session with the same rows is idempotent; writing it empty erases it;
    // writing it again restores it.
    let rows_a = rows_of(w, SA, &["sess-a"]).await;
    let stale = DirtySession {
        site: SA.into(),
        session_id: "sess-a".into(),
        version: 1,
        fresh: false,
    };
    w.write_sessions(SA, std::slice::from_ref(&stale), &rows_a)
        .await
        .unwrap();
    w.write_sessions(SA, std::slice::from_ref(&stale), &rows_a)
        .await
        .unwrap();
    assert_rollup(&read_all(w, SA).await, &read, "rewritten twice");
    w.write_sessions(SA, std::slice::from_ref(&stale), &[]).await.unwrap();
    let without_a: Vec<Event> = all.iter().filter(|e| e.session_id != "sess-a").cloned().collect();
    assert_rollup(
        &read_all(w, SA).await,
        &expected(&without_a, SA, WHOLE.0, WHOLE.1),
        "sess-a written empty",
    );
    w.write_sessions(SA, &[stale], &rows_a).await.unwrap();
    assert_rollup(&read_all(w, SA).await, &read, "sess-a written back");
    assert!(
        dirty_keys(w).await.is_empty(),
        "an old version clears nothing it must not"
    );

    // Page filter: literal, only on page-level parts.
    let filtered = w
        .read_rollup(&query(
            SA,
            WHOLE.0,
            WHOLE.1,
            &[Part::Pages, Part::Elements, Part::Feedback, Part::Surveys],
            Some("/pricing"),
        ))
        .await
        .unwrap();
    assert!(!filtered.pages.is_empty() && !filtered.elements.is_empty() && !filtered.feedback.is_empty());
    assert!(filtered.pages.iter().all(|p| p.page == "/pricing"));
    assert!(filtered.elements.iter().all(|p| p.page == "/pricing"));
    assert_eq!(filtered.surveys, read.surveys, "surveys are not page-level");
    assert!(filtered.sessions.is_empty());
    let none = w
        .read_rollup(&query(SA, WHOLE.0, WHOLE.1, &[Part::Pages], Some("/pric%")))
        .await
        .unwrap();
    assert!(none.pages.is_empty());

    // A late event dirties its session only; a write at an older version does not clear
    // it, a write at the current one does; the read gives the recomputed numbers.
    let late = pageview("a4", SA, "sess-a", D0 + H + 40_000, "/checkout");
    w.insert_events(std::slice::from_ref(&late)).await.unwrap();
    all.push(late);
    let d = w.dirty_sessions(10, &Shard::ALL).await.unwrap();
    assert_eq!(
        d.iter()
            .map(|d| (d.site.clone(), d.session_id.clone()))
            .collect::<BTreeSet<_>>(),
        keys(&[(SA, "sess-a")])
    );
    let v1 = d[0].clone();
    let late2 = click("a5", SA, "sess-a", D0 + H + 50_000, "/checkout");
    w.insert_events(std::slice::from_ref(&late2)).await.unwrap();
    all.push(late2);
    let v2 = w.dirty_sessions(10, &Shard::ALL).await.unwrap()[0].clone();
    assert!(v2.version > v1.version, "a new event raises the version");
    let rows = rows_of(w, SA, &["sess-a"]).await;
    w.write_sessions(SA, &[v1], &rows).await.unwrap();
    assert_eq!(
        dirty_keys(w).await,
        keys(&[(SA, "sess-a")]),
        "a stale version must not clear the mark"
    );
    w.write_sessions(SA, &[v2], &rows).await.unwrap();
    assert!(dirty_keys(w).await.is_empty());
    let read = read_all(w, SA).await;
    assert_rollup(&read, &expected(&all, SA, WHOLE.0, WHOLE.1), "after a late event");
    assert!(read.pages.iter().any(|p| p.page == "/checkout"));

    // rollup rebuild: mark the sessions of a range of days, then recompute them to the
    // same rows.
    assert_eq!(w.mark_dirty(SA, D0 + 5, D0 + 2 * DAY_MS).await.unwrap(), 2);
    assert_eq!(dirty_keys(w).await, keys(&[(SA, "sess-a"), (SA, "sess-b")]));
    assert_eq!(rollup_pass(w).await, 2);
    assert!(dirty_keys(w).await.is_empty());
    assert_rollup(&read_all(w, SA).await, &read, "after a rebuild");
    assert_eq!(w.mark_dirty(SA, D1, D1).await.unwrap(), 0);
    assert_eq!(w.mark_dirty(SA, D0 + 10 * DAY_MS, D0 + 11 * DAY_MS).await.unwrap(), 0);
    assert!(dirty_keys(w).await.is_empty());

    // Shards split the dirty sessions by bucket, disjointly and completely.
    let ids: Vec<String> = (0..40).map(|i| format!("shard-{i}")).collect();
    let evs: Vec<Event> = ids
        .iter()
        .enumerate()
        .map(|(i, s)| pageview(&format!("sh{i}"), "site-shard", s, D0 + i as i64 * 1000, "/"))
        .collect();
    w.insert_events(&evs).await.unwrap();
    let mut seen = BTreeSet::new();
    for index in 0..4 {
        let shard = Shard::fixed(index, 4);
        for d in w.dirty_sessions(1000, &shard).await.unwrap() {
            assert_eq!(bucket_of(&d.session_id) % 4, index, "{} in shard {index}", d.session_id);
            assert!(seen.insert(d.session_id), "in two shards");
        }
    }
    assert_eq!(seen.len(), ids.len());
    // Leased shards (residues modulo 64, as the Kafka group assigns them) split them too; the
    // empty shard takes nothing.
    let sets: [Vec<u32>; 3] = [(0..20).collect(), vec![20], (21..64).collect()];
    let mut leased = BTreeSet::new();
    for set in &sets {
        let shard = Shard::owned(64, set.iter().copied());
        for d in w.dirty_sessions(1000, &shard).await.unwrap() {
            assert!(
                set.contains(&(bucket_of(&d.session_id) % 64)),
                "{} in {shard}",
                d.session_id
            );
            assert!(leased.insert(d.session_id), "in two leased shards");
        }
    }
    assert_eq!(leased, seen);
    assert!(w.dirty_sessions(1000, &Shard::NONE).await.unwrap().is_empty());
    assert_eq!(rollup_pass(w).await, ids.len());
    let pages = w
        .read_rollup(&query("site-shard", D0, D1, &[Part::Pages, Part::Sessions], None))
        .await
        .unwrap();
    assert_eq!(pages.pages.len(), 1);
    assert_eq!(pages.pages[0].pageviews, ids.len() as u64);
    assert_eq!(pages.sessions.len(), ids.len());

    // Erasure: the visitor's events go, their session is dirty, and recomputes to nothing.
    let (deleted, days) = w.delete_visitor(SA, "v-sess-b").await.unwrap();
    assert_eq!((deleted, days), (3, vec![D1, D2]));
    assert_eq!(w.count_visitor_events(SA, "v-sess-b").await.unwrap(), 0);
    assert_eq!(dirty_keys(w).await, keys(&[(SA, "sess-b")]));
    assert_eq!(rollup_pass(w).await, 1);
    all.retain(|e| e.session_id != "sess-b");
    let read = read_all(w, SA).await;
    assert_rollup(&read, &expected(&all, SA, WHOLE.0, WHOLE.1), "after erasure");
    assert!(read.sessions.iter().all(|s| !s.session_key.starts_with("sess-b")));

    // Retention: events and rollup rows before the day go; other sites stay.
    let late_b = pageview("d1", SA, "sess-d", D2 + H, "/");
    w.insert_events(std::slice::from_ref(&late_b)).await.unwrap();
    all.push(late_b);
    rollup_pass(w).await;
    assert_eq!(w.drop_before(SA, D1).await.unwrap(), 12);
    assert_eq!(w.count_events(SA).await.unwrap(), 1);
    all.retain(|e| e.ts >= D1 || e.site != SA);
    assert_rollup(
        &read_all(w, SA).await,
        &expected(&all, SA, WHOLE.0, WHOLE.1),
        "after retention",
    );
    assert!(read_all(w, SA).await.sessions.len() == 1);
    assert_rollup(
        &read_all(w, SB).await,
        &expected(&all, SB, WHOLE.0, WHOLE.1),
        "site-b kept",
    );

    // Sites: create, replace.
    w.put_site(&site("sl_1", "Shop")).await.unwrap();
    w.put_site(&site("sl_2", "Blog")).await.unwrap();
    w.put_site(&site("sl_1", "Shop (renamed)")).await.unwrap();
    let mut sites = w.sites().await.unwrap();
    sites.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(sites, vec![site("sl_1", "Shop (renamed)"), site("sl_2", "Blog")]);
}

#[tokio::test]
async fn sqlite_meets_the_warehouse_contract() {
    let dir = tempfile::tempdir().unwrap();
    let w = SqliteWarehouse::open(dir.path()).unwrap();
    contract(w.as_ref()).await;
}

/// A store written before a rollup table existed: after the upgrade (`reopen`), every
/// stored session is marked once, and the rollup job fills the new table exactly.
async fn new_rollup_tables_are_filled_from_stored_events<F, Fut>(w: std::sync::Arc<dyn Warehouse>, drop_tables: F)
where
    F: FnOnce(std::sync::Arc<dyn Warehouse>) -> Fut,
    Fut: std::future::Future<Output = std::sync::Arc<dyn Warehouse>>,
{
    w.put_site(&site(SA, "A")).await.unwrap();
    let all = batch();
    w.insert_events(&all).await.unwrap();
    while rollup_pass(w.as_ref()).await > 0 {}
    let want = expected(&all, SA, WHOLE.0, WHOLE.1);
    assert!(!want.journeys.is_empty() && !want.problems.is_empty());
    let sessions: BTreeSet<String> = unique(&all)
        .into_iter()
        .filter(|e| e.site == SA)
        .map(|e| e.session_id)
        .collect();
    let w = drop_tables(w).await;
    let marked: BTreeSet<String> = w
        .dirty_sessions(1000, &Shard::ALL)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.site == SA)
        .map(|d| d.session_id)
        .collect();
    assert_eq!(marked.len(), sessions.len(), "every stored session is marked once");
    while rollup_pass(w.as_ref()).await > 0 {}
    assert_rollup(&read_all(w.as_ref(), SA).await, &want, "after the upgrade");
}

#[tokio::test]
async fn sqlite_fills_new_rollup_tables_after_an_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let w = SqliteWarehouse::open(dir.path()).unwrap();
    let path = dir.path().to_path_buf();
    new_rollup_tables_are_filled_from_stored_events(w, |w| async move {
        drop(w);
        // The data dir of a build without the journeys part.
        let c = rusqlite::Connection::open(path.join("warehouse.db")).unwrap();
        c.execute_batch("DROP TABLE r_journeys; DROP TABLE d_journeys;")
            .unwrap();
        drop(c);
        let w: std::sync::Arc<dyn Warehouse> = SqliteWarehouse::open(&path).unwrap();
        w
    })
    .await;
}

/// 90 sessions on D0 of site-a with every mix the sessions list filters on: devices, bots,
/// rage bursts, dead clicks, feedback, a second page, clicks without a page view event, and
/// sessions of a custom event alone.
fn list_mix() -> Vec<Event> {
    let mut out = Vec::new();
    for i in 0..90i64 {
        let s = format!("mix-{i:02}");
        let t0 = D0 + H + i * 60_000 + (i % 7) * 13;
        let id = |k: &str| format!("{s}-{k}");
        let mut evs = Vec::new();
        match i % 9 {
            // A custom event alone.
            8 => evs.push(event(
                &id("c"),
                SA,
                &s,
                t0,
                "/",
                Payload::Custom {
                    name: "ping".into(),
                    props_json: "{}".into(),
                },
            )),
            // Clicks without a page view event (a synthetic page view).
            7 => evs.push(click(&id("k"), SA, &s, t0, "/x")),
            _ => evs.push(pageview(&id("pv"), SA, &s, t0, "/")),
        }
        if i % 3 == 0 {
            // A rage burst: three clicks 200 ms apart on one spot.
            for k in 0..3 {
                evs.push(click(&id(&format!("r{k}")), SA, &s, t0 + 1_000 + k * 200, "/"));
            }
        }
        if i % 4 == 1 {
            let mut dead = click(&id("d"), SA, &s, t0 + 5_000, "/");
            if let Payload::Click { reaction_ms, .. } = &mut dead.payload {
                *reaction_ms = None;
            }
            evs.push(dead);
        }
        if i % 5 == 2 {
            evs.push(pageview(&id("pv2"), SA, &s, t0 + 20_000, &format!("/p{}", i % 3)));
        }
        if i % 6 == 3 {
            evs.push(rated(&id("f"), &s, t0 + 30_000, "/", 4));
        }
        mix_dims(&mut evs, i);
        out.extend(evs);
    }
    out
}

/// The SQLite sessions list (SQL count and `ORDER BY … LIMIT` on filter columns) gives, page
/// by page, what the definition gives over all rows (`list_sessions_by_reading`).
#[tokio::test]
async fn sqlite_lists_sessions_by_sql_like_the_definition() {
    let dir = tempfile::tempdir().unwrap();
    let w = SqliteWarehouse::open(dir.path()).unwrap();
    lists_sessions_like_the_definition(w.clone()).await;
    lists_nothing_after_retention(w.as_ref()).await;
}

/// Sessions whose timelines mix page views and custom events in every order, some steps
/// seconds apart and some 20 minutes (one session still, past a 3 s window), one custom event named like a page key, and a late event
/// that rewrites a session (a new generation) after a first rollup.
fn funnel_mix() -> Vec<Event> {
    let custom = |id: &str, s: &str, ts: i64, name: &str| {
        other(
            id,
            s,
            ts,
            "/",
            Payload::Custom {
                name: name.into(),
                props_json: "{}".into(),
            },
        )
    };
    let mut out = Vec::new();
    for i in 0..48i64 {
        let s = format!("fun-{i:02}");
        let t0 = D0 + H + i * 60_000;
        // Up to six steps picked by the session's number, 2 s or 20 min apart.
        for k in 0..(1 + i % 6) {
            let ts = t0 + k * if (i + k) % 4 == 0 { 1_200_000 } else { 2_000 };
            let id = format!("{s}-{k}");
            match (i * 7 + k * 3) % 5 {
                0 => out.push(pageview(&id, SA, &s, ts, "/")),
                1 => out.push(pageview(&id, SA, &s, ts, "/cart")),
                2 => out.push(pageview(&id, SA, &s, ts, "/pay")),
                3 => out.push(custom(&id, &s, ts, "signup")),
                _ => out.push(custom(&id, &s, ts, "/cart")),
            }
        }
    }
    out
}

/// Stores [`funnel_mix`], rolls it up, and rewrites one session with a late step.
async fn funnel_setup<W: Warehouse>(w: &W) {
    w.put_site(&site(SA, "A")).await.unwrap();
    w.insert_events(&funnel_mix()).await.unwrap();
    while rollup_pass(w).await > 0 {}
    // A late step for a session that had one: its row is written again.
    w.insert_events(&[pageview("fun-00-late", SA, "fun-00", D0 + H + 5_000, "/pay")])
        .await
        .unwrap();
    assert_eq!(rollup_pass(w).await, 1);
}

/// The store's funnel rows are those `funnel_part` keeps of its session rows, and give the
/// same funnels.
async fn funnel_sessions_like_the_definition<W: Warehouse>(w: &W) {
    use sightline::model::goal::{funnel_part, FunnelStep};
    use sightline::model::segment::{Dimension, SegmentFilter};
    let direct = SegmentFilter::default().with(Dimension::Channel, "direct");
    let nobody = SegmentFilter::default().with(Dimension::Browser, "no such browser");
    let mut checked = 0;
    for segment in [SegmentFilter::default(), direct, nobody] {
        let q = RollupQuery {
            segment,
            ..query(SA, D0, D1, &[Part::Sessions], None)
        };
        let all = w.read_rollup(&q).await.unwrap().sessions;
        let mut names: Vec<FunnelStep> = all
            .iter()
            .flat_map(|s| s.steps.iter())
            .map(|t| match t.custom {
                true => FunnelStep::Event(t.name.clone()),
                false => FunnelStep::Page(t.name.clone()),
            })
            .collect::<Vec<_>>();
        names.sort_by_key(|s| s.name());
        names.dedup();
        names.push(FunnelStep::Page("/nowhere".into()));
        for a in &names {
            for b in &names {
                for c in [None, Some(a), names.first()] {
                    let steps: Vec<FunnelStep> = [a, b].into_iter().chain(c).cloned().collect();
                    let mut got = w.funnel_sessions(&q, &steps).await.unwrap();
                    let mut want: Vec<_> = all
                        .iter()
                        .cloned()
                        .filter_map(|mut s| funnel_part(&steps, &mut s.steps).then_some(s))
                        .collect();
                    got.sort_by(|x, y| x.session_key.cmp(&y.session_key));
                    want.sort_by(|x, y| x.session_key.cmp(&y.session_key));
                    assert_eq!(got, want, "{steps:?}");
                    for window in [3_000, DAY_MS] {
                        for visitors in [false, true] {
                            assert_eq!(
                                sightline::rollup::funnel(&got, &steps, window, visitors),
                                sightline::rollup::funnel(&all, &steps, window, visitors),
                                "{steps:?} within {window} ms"
                            );
                        }
                    }
                    checked += usize::from(!got.is_empty());
                }
            }
        }
    }
    assert!(checked > 100, "{checked} funnels reached by some session");
}

#[tokio::test]
async fn sqlite_cuts_funnel_sessions_like_the_definition() {
    let dir = tempfile::tempdir().unwrap();
    let w = SqliteWarehouse::open(dir.path()).unwrap();
    funnel_setup(w.as_ref()).await;
    funnel_sessions_like_the_definition(w.as_ref()).await;
}

/// The ClickHouse funnel rows (`funnel_sessions`: the sessions that reached step 1, their
/// timelines cut on the server) are those the definition keeps, and give the same funnel.
#[tokio::test]
async fn clickhouse_cuts_funnel_sessions_like_the_definition() {
    let Some(url) = clickhouse_url("clickhouse_cuts_funnel_sessions_like_the_definition") else {
        return;
    };
    let db = fresh_database("funnel");
    let w = ClickHouseWarehouse::connect(&url, &db).await.unwrap();
    funnel_setup(w.as_ref()).await;
    // A session deleted by a later generation (as an erasure leaves it): gone from both.
    let cols = "site, day, session_id, session_key, gen, deleted, device, bot, visitor_id, start_ts, end_ts, \
                pageviews, step_ts, step_name, step_custom, clicks, rage_clicks, dead_clicks, quick_backs, \
                feedback, survey_responses, channel, referrer, utm_source, utm_medium, utm_campaign, browser, os, \
                language";
    let c = raw_client(&url).with_database(&db);
    let live = |id: &'static str| {
        let c = c.clone();
        async move {
            count(
                &c,
                &format!("SELECT toUInt64(count()) FROM rollup_sessions WHERE session_id = '{id}'"),
            )
            .await
        }
    };
    assert!(live("fun-05").await > 0);
    let tombstone = cols.replacen("gen, deleted", "gen + 1, 1", 1);
    run(
        &c,
        &format!(
            "INSERT INTO rollup_sessions ({cols}) SELECT {tombstone} FROM rollup_sessions WHERE session_id = 'fun-05'"
        ),
    )
    .await;
    funnel_sessions_like_the_definition(w.as_ref()).await;
    drop_database(&url, &db).await;
}

/// Feedback of every rating (and none), category, picked element and page, on mobile and
/// desktop, by bots and people, some sessions across midnight, a few items given at the
/// same moment, and a late item that rewrites a session after a first rollup.
fn feedback_mix() -> Vec<Event> {
    let mut out = Vec::new();
    for i in 0..60i64 {
        let s = format!("fb-{i:02}");
        let t0 = D0 + 23 * H + i * 30_000;
        for k in 0..(1 + i % 3) {
            // Sessions 0..20 give two items at the same moment.
            let ts = if i < 20 { t0 } else { t0 + k * 1_200_000 };
            let mut e = other(
                &format!("{s}-{k}"),
                &s,
                ts,
                ["/", "/cart", "/pay"][((i + k) % 3) as usize],
                Payload::Feedback {
                    rating: [None, Some(1), Some(2), Some(3), Some(4), Some(5)][((i * 5 + k) % 6) as usize],
                    comment: Some(format!("comment {i} {k}")),
                    category: ["bug", "idea", "praise", "other"]
                        .get(((i + 2 * k) % 5) as usize)
                        .map(|c| c.to_string()),
                    selector: (i % 4 == 1).then(|| format!("#b{}", k % 2)),
                },
            );
            e.device = if i % 3 == 0 {
                DeviceClass::Mobile
            } else {
                DeviceClass::Desktop
            };
            if i % 7 == 0 {
                e.bot_reason = Some("ua".into());
            }
            out.push(e);
        }
        // Survey answers of every kind, some given twice (the later wins), the texts of
        // sessions 0..10 at one moment.
        for k in 0..(i % 4) {
            let (survey_id, question_id, kind, value) = match (i + k.min(1)) % 4 {
                0 => ("nps", "q1", SurveyKind::Nps, Answer::Number((i % 11) as f64)),
                1 => (
                    "nps",
                    "q2",
                    SurveyKind::Choice,
                    Answer::Choices(vec![format!("o{}", i % 3)]),
                ),
                2 => ("csat", "why", SurveyKind::Text, Answer::Text(format!("text {i} {k}"))),
                _ => ("csat", "q1", SurveyKind::Csat, Answer::Number((1 + i % 5) as f64)),
            };
            let mut e = other(
                &format!("{s}-a{k}"),
                &s,
                if i < 10 {
                    D0 + 23 * H + 1_000
                } else {
                    t0 + k * 1_500_000
                },
                "/pay",
                Payload::SurveyResponse {
                    survey_id: survey_id.into(),
                    question_id: question_id.into(),
                    kind,
                    value,
                    trigger: (k == 1).then(|| "exit_intent".into()),
                },
            );
            e.device = if i % 3 == 0 {
                DeviceClass::Mobile
            } else {
                DeviceClass::Desktop
            };
            if i % 7 == 0 {
                e.bot_reason = Some("ua".into());
            }
            out.push(e);
        }
    }
    out
}

/// Stores [`feedback_mix`] and rolls it up.
async fn feedback_setup<W: Warehouse>(w: &W) {
    w.put_site(&site(SA, "A")).await.unwrap();
    w.insert_events(&feedback_mix()).await.unwrap();
    while rollup_pass(w).await > 0 {}
    let mut late = other(
        "fb-05-late",
        "fb-05",
        D0 + 23 * H + 200_000,
        "/cart",
        Payload::Feedback {
            rating: Some(2),
            comment: None,
            category: None,
            selector: None,
        },
    );
    late.device = DeviceClass::Desktop;
    w.insert_events(&[late]).await.unwrap();
    assert_eq!(rollup_pass(w).await, 1);
}

/// The store's answers and feedback figures equal the definition's over its rows.
async fn feedback_like_the_definition<W: Warehouse>(w: &W) {
    use sightline::model::answers::{AnswerSummary, AnswersQuery};
    use sightline::model::feedback::{FeedbackQuery, FeedbackSummary, VocCounts};
    use sightline::model::range::ReportRange;
    use sightline::model::segment::{Dimension, SegmentFilter};
    use sightline::warehouse::feedback_by_reading;
    let direct = SegmentFilter::default().with(Dimension::Channel, "direct");
    let nobody = SegmentFilter::default().with(Dimension::Browser, "no such browser");
    let (mut checked, mut answered, mut counted) = (0, 0, 0);
    for (segment, device, bots) in [
        (SegmentFilter::default(), None, false),
        (SegmentFilter::default(), None, true),
        (SegmentFilter::default(), Some(DeviceClass::Mobile), true),
        (direct, Some(DeviceClass::Desktop), false),
        (nobody, None, true),
    ] {
        for (page, category, rating, limit) in [
            (None, None, None, 50),
            (None, None, None, 7),
            (Some("/cart"), None, None, 1000),
            (None, Some("bug"), None, 3),
            (None, Some(""), None, 50),
            (None, None, Some((1, 2)), 50),
            (Some("/pay"), Some("idea"), Some((4, 5)), 50),
        ] {
            for (from, to) in [WHOLE, (D0, D1), (D1, D2)] {
                let q = FeedbackQuery {
                    range: ReportRange {
                        site: SA.into(),
                        from_day: from,
                        to_day: to,
                        device,
                        bots,
                        segment: segment.clone(),
                    },
                    text: None,
                    page: page.map(String::from),
                    category: category.map(String::from),
                    rating,
                    limit,
                };
                let got = w.feedback(&q).await.unwrap();
                let want = feedback_by_reading(w, &q).await.unwrap();
                assert_eq!(got, want, "{q:?}");
                // The definition over every row, filtered here.
                let all = w
                    .read_rollup(&RollupQuery {
                        segment: segment.clone(),
                        ..query(SA, from, to, &[Part::Feedback], None)
                    })
                    .await
                    .unwrap()
                    .feedback;
                assert_eq!(got, FeedbackSummary::of_rows(all, &q), "{q:?}");
                checked += usize::from(!got.recent.is_empty());
            }
        }
        for survey in [None, Some("csat"), Some("nobody"), Some("")] {
            for (from, to) in [WHOLE, (D0, D1), (D1, D2)] {
                let q = AnswersQuery {
                    range: ReportRange {
                        site: SA.into(),
                        from_day: from,
                        to_day: to,
                        device,
                        bots,
                        segment: segment.clone(),
                    },
                    survey: survey.map(String::from),
                };
                let got = w.answers(&q).await.unwrap();
                let all = w
                    .read_rollup(&RollupQuery {
                        segment: segment.clone(),
                        ..query(SA, from, to, &[Part::Answers], None)
                    })
                    .await
                    .unwrap()
                    .answers;
                assert_eq!(got, AnswerSummary::of_rows(all, &q), "{q:?}");
                answered += usize::from(!got.texts.is_empty());
            }
        }
        // The product signals' counts (answers, negative feedback; bots left out).
        for (from, to) in [WHOLE, (D0, D1), (D1, D2)] {
            let q = RollupQuery {
                segment: segment.clone(),
                ..query(SA, from, to, &[], None)
            };
            let rows = w
                .read_rollup(&RollupQuery {
                    parts: vec![Part::Answers, Part::Feedback],
                    ..q.clone()
                })
                .await
                .unwrap();
            let got = w.voc_counts(&q).await.unwrap();
            assert_eq!(got, VocCounts::of_rows(&rows.answers, &rows.feedback), "{q:?}");
            counted += usize::from(got.answers > 0 && got.negative_feedback > 0);
        }
    }
    assert!(checked > 30, "{checked} lists not empty");
    assert!(answered > 10, "{answered} answer reads with texts");
    assert!(counted >= 3, "{counted} VoC counts with answers and negative feedback");
}

#[tokio::test]
async fn sqlite_sums_answers_and_feedback_like_the_definition() {
    let dir = tempfile::tempdir().unwrap();
    let w = SqliteWarehouse::open(dir.path()).unwrap();
    feedback_setup(w.as_ref()).await;
    feedback_like_the_definition(w.as_ref()).await;
}

/// The ClickHouse answers and feedback figures (`answer_counts`, `answer_texts`,
/// `feedback_groups`, `feedback_recent`) are the definition's over the same rows.
#[tokio::test]
async fn clickhouse_sums_answers_and_feedback_like_the_definition() {
    let Some(url) = clickhouse_url("clickhouse_sums_answers_and_feedback_like_the_definition") else {
        return;
    };
    let db = fresh_database("feedback");
    let w = ClickHouseWarehouse::connect(&url, &db).await.unwrap();
    feedback_setup(w.as_ref()).await;
    // Rows of a later generation as another writer may leave them: an item rewritten with
    // another rating, device and category, an item deleted, a text answer rewritten as a
    // number (its text must not come back), a text answer deleted.
    let c = raw_client(&url).with_database(&db);
    let feedback = "site, day, session_id, id, gen, deleted, device, bot, ts, page, session_key, \
                    has_rating, rating, comment, category, selector";
    let answers = "site, day, session_id, id, gen, deleted, device, bot, ts, survey_id, question_id, \
                   kind, value_type, value_number, value_text, value_choices, page, session_key, survey_trigger";
    let texts: Vec<String> = {
        let mut cur = c
            .query_raw("SELECT id FROM rollup_answers WHERE kind = 'text' ORDER BY id LIMIT 2")
            .fetch_bytes("TabSeparated")
            .unwrap();
        let b = cur.collect().await.unwrap();
        String::from_utf8_lossy(&b).lines().map(String::from).collect()
    };
    assert_eq!(texts.len(), 2, "two text answers to rewrite");
    for sql in [
        format!(
            "INSERT INTO rollup_feedback ({feedback}) SELECT site, day, session_id, id, gen + 1, 0, 'mobile', bot, \
             ts, page, session_key, 1, 1, comment, 'bug', selector FROM rollup_feedback WHERE id = 'fb-04-0'"
        ),
        format!(
            "INSERT INTO rollup_feedback ({feedback}) SELECT site, day, session_id, id, gen + 1, 1, device, bot, \
             ts, page, session_key, has_rating, rating, comment, category, selector FROM rollup_feedback \
             WHERE id = 'fb-08-1'"
        ),
        format!(
            "INSERT INTO rollup_answers ({answers}) SELECT site, day, session_id, id, gen + 1, 0, device, bot, ts, \
             survey_id, question_id, 'nps', 0, 7, '', value_choices, page, session_key, survey_trigger \
             FROM rollup_answers WHERE id = '{}'",
            texts[0]
        ),
        format!(
            "INSERT INTO rollup_answers ({answers}) SELECT site, day, session_id, id, gen + 1, 1, device, bot, ts, \
             survey_id, question_id, kind, value_type, value_number, value_text, value_choices, page, \
             session_key, survey_trigger FROM rollup_answers WHERE id = '{}'",
            texts[1]
        ),
    ] {
        run(&c, &sql).await;
    }
    feedback_like_the_definition(w.as_ref()).await;
    drop_database(&url, &db).await;
}

/// The ClickHouse sessions list (`listed_sessions`: count and page on the server, then the
/// page's rows) gives, page by page, what the definition gives over all rows.
#[tokio::test]
async fn clickhouse_lists_sessions_by_sql_like_the_definition() {
    let Some(url) = clickhouse_url("clickhouse_lists_sessions_by_sql_like_the_definition") else {
        return;
    };
    let db = fresh_database("list");
    let w = ClickHouseWarehouse::connect(&url, &db).await.unwrap();
    lists_sessions_like_the_definition(w.clone()).await;
    // The page of a list taken from every session's live row (past the candidates' cap)
    // is the definition's page too.
    let q = day_list(vec![], 9);
    let want = sightline::warehouse::list_sessions_by_reading(w.as_ref(), &q)
        .await
        .unwrap();
    let got = w.list_sessions_by_live_rows(&q).await.unwrap();
    assert_eq!((got.sessions, got.more), (want.sessions, want.more));
    // Migration 12 applied again (after a crash before it was recorded, with its view
    // already made) fills the list's counts exactly as the rollup wrote them.
    let c = raw_client(&url).with_database(&db);
    let before = count(&c, "SELECT toUInt64(sum(sessions)) FROM rollup_list_day").await;
    unrecord_migrations(&c, "12").await;
    let w = ClickHouseWarehouse::connect(&url, &db).await.unwrap();
    assert_eq!(
        count(&c, "SELECT toUInt64(sum(sessions)) FROM rollup_list_day").await,
        before
    );
    let checked = lists_agree(w.as_ref()).await;
    assert!(checked > 200, "{checked}");
    lists_nothing_after_retention(w.as_ref()).await;
    drop_database(&url, &db).await;
}

async fn lists_sessions_like_the_definition<W: Warehouse>(w: std::sync::Arc<W>) {
    use sightline::rollup::zones::Has;
    use sightline::warehouse::SessionsQuery;
    w.put_site(&site(SA, "A")).await.unwrap();
    w.insert_events(&list_mix()).await.unwrap();
    while rollup_pass(w.as_ref()).await > 0 {}
    let checked = lists_agree(w.as_ref()).await;
    assert!(checked > 200, "{checked}");
    let all = day_list(vec![], 500);
    let listed = w.list_sessions(&all).await.unwrap();
    // Every session is listed: the custom-event-only ones have a (synthetic) page view too.
    assert_eq!(listed.total, 90);
    let rage = day_list(vec![Has::Rage], 500);
    let rage_before = w.list_sessions(&rage).await.unwrap().total;
    assert_eq!(rage_before, 30);
    let dead = day_list(vec![Has::Dead], 500);
    assert!(w.list_sessions(&dead).await.unwrap().total > 0);
    let next_day = SessionsQuery {
        from_day: D1,
        to_day: D2,
        ..all.clone()
    };
    assert_eq!(w.list_sessions(&next_day).await.unwrap().total, 0);
    // The segment conditions were met by some sessions, not only by none.
    let direct_only = SessionsQuery {
        segment: sightline::model::segment::SegmentFilter::default()
            .with(sightline::model::segment::Dimension::Channel, "direct"),
        ..all.clone()
    };
    assert!(w.list_sessions(&direct_only).await.unwrap().total > 0);
    // Late events rewrite sessions after the first rollup: earlier starts, another channel,
    // rage clicks and feedback where there were none. The counts and pages follow.
    w.insert_events(&list_late()).await.unwrap();
    while rollup_pass(w.as_ref()).await > 0 {}
    let checked = lists_agree(w.as_ref()).await;
    assert!(checked > 200, "{checked}");
    assert_eq!(w.list_sessions(&all).await.unwrap().total, 90);
    // Sessions 0, 8, …, 88 got a rage burst; those of them with one already (i % 3 == 0:
    // 0, 24, 48, 72) are counted once.
    assert_eq!(w.list_sessions(&rage).await.unwrap().total, rage_before + 12 - 4);
    // Erasure: session 24's visitor (a rage session, rewritten by the late events) goes.
    let (deleted, _) = w.delete_visitor(SA, "v-mix-24").await.unwrap();
    assert!(deleted > 0);
    while rollup_pass(w.as_ref()).await > 0 {}
    assert_eq!(w.list_sessions(&all).await.unwrap().total, 89);
    assert_eq!(w.list_sessions(&rage).await.unwrap().total, rage_before + 12 - 4 - 1);
    let checked = lists_agree(w.as_ref()).await;
    assert!(checked > 200, "{checked}");
}

/// Retention empties the sessions list of the days it drops, its counts included.
async fn lists_nothing_after_retention<W: Warehouse + ?Sized>(w: &W) {
    use sightline::rollup::zones::Has;
    w.drop_before(SA, D1).await.unwrap();
    for has in [vec![], vec![Has::Rage]] {
        assert_eq!(w.list_sessions(&day_list(has, 50)).await.unwrap(), Default::default());
    }
}

/// The sessions list of day D0 of site A, bots included, with every signal of `has`, `limit`
/// per page.
fn day_list(has: Vec<sightline::rollup::zones::Has>, limit: usize) -> sightline::warehouse::SessionsQuery {
    sightline::warehouse::SessionsQuery {
        site: SA.into(),
        from_day: D0,
        to_day: D1,
        device: None,
        bots: true,
        segment: Default::default(),
        filter: sightline::rollup::zones::SessionFilter {
            has,
            ..Default::default()
        },
        before: None,
        limit,
    }
}

/// Feedback on site A rated `rating`, without a comment, category or element.
fn rated(id: &str, session: &str, ts: i64, page: &str, rating: u8) -> Event {
    let p = Payload::Feedback {
        rating: Some(rating),
        comment: None,
        category: None,
        selector: None,
    };
    other(id, session, ts, page, p)
}

/// The device and bot flag of `list_mix`'s session `i` on its events: desktop, mobile,
/// tablet in turn; every tenth a bot.
fn mix_dims(evs: &mut [Event], i: i64) {
    for e in evs {
        e.device = [DeviceClass::Desktop, DeviceClass::Mobile, DeviceClass::Tablet][(i % 3) as usize];
        if i % 10 == 9 {
            e.bot_reason = Some("ua".into());
        }
    }
}

/// Late events of `list_mix`'s sessions 0, 4, …, 88: a page view 30 s before the session's
/// first event, from a search engine (the session's start and channel change); sessions 0,
/// 8, …, 88 also get a rage burst on a new page, and 0, 12, …, 84 feedback.
fn list_late() -> Vec<Event> {
    let mut out = Vec::new();
    for i in (0..90i64).step_by(4) {
        let s = format!("mix-{i:02}");
        let t0 = D0 + H + i * 60_000 + (i % 7) * 13;
        let id = |k: &str| format!("{s}-late-{k}");
        let mut evs = vec![pageview(&id("pv"), SA, &s, t0 - 30_000, "/from-search")];
        if let Payload::Pageview { referrer, .. } = &mut evs[0].payload {
            *referrer = Some("https://www.google.com/search?q=shop".into());
        }
        if i % 8 == 0 {
            for k in 0..3 {
                evs.push(click(&id(&format!("r{k}")), SA, &s, t0 + 40_000 + k * 200, "/late"));
            }
        }
        if i % 12 == 0 {
            evs.push(rated(&id("f"), &s, t0 + 45_000, "/late", 2));
        }
        mix_dims(&mut evs, i);
        out.extend(evs);
    }
    out
}

/// Every page of the sessions list, for devices, bots, `has=` and segments (one that keeps
/// nobody), equals the definition over the range's rows (`list_sessions_by_reading`), total
/// included. Returns how many sessions the pages listed.
async fn lists_agree<W: Warehouse + ?Sized>(w: &W) -> usize {
    use sightline::model::segment::{Dimension, SegmentFilter};
    use sightline::rollup::zones::{Has, SessionFilter};
    use sightline::warehouse::{list_sessions_by_reading, SessionsQuery};
    let mut checked = 0;
    let everyone = SegmentFilter::default();
    let direct = everyone.with(Dimension::Channel, "direct");
    let search = everyone.with(Dimension::Channel, "search");
    let nobody = everyone.with(Dimension::Browser, "no such browser");
    for (device, segment) in [
        (None, &everyone),
        (Some(DeviceClass::Desktop), &everyone),
        (Some(DeviceClass::Mobile), &everyone),
        (None, &direct),
        (None, &search),
        (None, &nobody),
    ] {
        for bots in [false, true] {
            for has in [
                vec![],
                vec![Has::Rage],
                vec![Has::Dead],
                vec![Has::Feedback],
                vec![Has::Rage, Has::Dead],
            ] {
                for limit in [7, 40] {
                    let mut q = SessionsQuery {
                        site: SA.into(),
                        from_day: D0,
                        to_day: D1,
                        device,
                        bots,
                        segment: segment.clone(),
                        filter: SessionFilter {
                            page: None,
                            selector: None,
                            has: has.clone(),
                        },
                        before: None,
                        limit,
                    };
                    loop {
                        let got = w.list_sessions(&q).await.unwrap();
                        let want = list_sessions_by_reading(w, &q).await.unwrap();
                        assert_eq!(got, want, "{q:?}");
                        checked += got.sessions.len();
                        if !got.more {
                            break;
                        }
                        let (last, _) = got.sessions.last().unwrap();
                        q.before = Some((last.start, last.session_key.clone()));
                    }
                }
            }
        }
    }
    checked
}

// ---------------------------------------------------------------- ClickHouse

fn clickhouse_url(test: &str) -> Option<String> {
    match std::env::var("SIGHTLINE_TEST_CLICKHOUSE_URL") {
        Ok(u) if !u.trim().is_empty() => Some(u.trim().to_string()),
        _ => {
            assert_ne!(
                std::env::var("SIGHTLINE_TEST_MODE").as_deref(),
                Ok("external"),
                "{test}: the external pass needs SIGHTLINE_TEST_CLICKHOUSE_URL"
            );
            eprintln!("{test}: skipped: SIGHTLINE_TEST_CLICKHOUSE_URL is not set (no ClickHouse server)");
            None
        }
    }
}

fn fresh_database(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("sightline_test_{tag}_{}_{nanos}", std::process::id())
}

fn raw_client(url: &str) -> clickhouse::Client {
    clickhouse::Client::default().with_url(url).with_validation(false)
}

async fn run(c: &clickhouse::Client, sql: &str) {
    c.query_raw(sql)
        .execute()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn drop_database(url: &str, db: &str) {
    run(&raw_client(url), &format!("DROP DATABASE IF EXISTS {db}")).await;
}

#[tokio::test]
async fn clickhouse_meets_the_warehouse_contract() {
    let Some(url) = clickhouse_url("clickhouse_meets_the_warehouse_contract") else {
        return;
    };
    let db = fresh_database("contract");
    let w = ClickHouseWarehouse::connect(&url, &db).await.unwrap();
    contract(w.as_ref()).await;

    // A sink-sized batch (10k events, ~400 KB of ids in the dedup query) in one call.
    let big: Vec<Event> = (0..10_000)
        .map(|i| {
            let id = format!("0190a1b2-{i:04x}-7000-8000-{:012x}", i * 7919);
            pageview(&id, "site-big", &format!("s{}", i % 500), D0 + i as i64 * 1000, "/")
        })
        .collect();
    assert_eq!(
        w.insert_events(&big).await.unwrap(),
        InsertReport {
            inserted: 10_000,
            duplicates: 0
        }
    );
    assert_eq!(
        w.insert_events(&big).await.unwrap(),
        InsertReport {
            inserted: 0,
            duplicates: 10_000
        }
    );
    assert_eq!(w.count_events("site-big").await.unwrap(), 10_000);
    assert_eq!(w.dirty_sessions(10_000, &Shard::ALL).await.unwrap().len(), 500);
    assert_eq!(rollup_pass(w.as_ref()).await, 500);
    let r = w
        .read_rollup(&query("site-big", D0, D1, &[Part::Pages, Part::Sessions], None))
        .await
        .unwrap();
    let want = expected(&big, "site-big", D0, D1);
    assert_eq!(r.pages, want.pages);
    assert_eq!(r.sessions, want.sessions);
    assert_eq!(r.sessions.len(), 500);
    drop_database(&url, &db).await;
}

/// Rows stored in every rollup table (all generations and deltas, before merges).
async fn stored_rows(c: &clickhouse::Client) -> u64 {
    let mut n = 0;
    for t in [
        "rollup_pages",
        "rollup_grid",
        "rollup_elements",
        "rollup_el_cells",
        "rollup_scroll",
        "rollup_zones",
        "rollup_surveys",
        "rollup_sessions",
        "rollup_session_details",
        "rollup_answers",
        "rollup_feedback",
        "rollup_journeys",
        "rollup_problems",
    ] {
        n += count(c, &format!("SELECT toUInt64(count()) FROM {t}")).await;
    }
    n
}

/// Sessions to rewrite, as a pass that found them written before would have them.
fn stale(ids: &[&str]) -> Vec<DirtySession> {
    ids.iter()
        .map(|id| DirtySession {
            site: SA.into(),
            session_id: id.to_string(),
            version: 1,
            fresh: false,
        })
        .collect()
}

/// ClickHouse has no transactions: whatever a crashed write left, the next write of the
/// session gives exact numbers, and a rewrite of unchanged rows inserts nothing.
#[tokio::test]
async fn clickhouse_rewrites_sessions_exactly_after_partial_writes() {
    let Some(url) = clickhouse_url("clickhouse_rewrites_sessions_exactly_after_partial_writes") else {
        return;
    };
    let db = fresh_database("partial");
    let w = ClickHouseWarehouse::connect(&url, &db).await.unwrap();
    let c = raw_client(&url).with_database(&db);
    let mut all = unique(&batch());
    w.insert_events(&all).await.unwrap();
    assert_eq!(rollup_pass(w.as_ref()).await, 3);
    let want = expected(&all, SA, WHOLE.0, WHOLE.1);
    assert_rollup(&read_all(w.as_ref(), SA).await, &want, "first pass");

    // Unchanged rows: a rewrite inserts nothing (deltas are 0, per-session rows equal).
    let stored = stored_rows(&c).await;
    let rows = rows_of(w.as_ref(), SA, &["sess-a", "sess-b"]).await;
    w.write_parts(SA, &stale(&["sess-a", "sess-b"]), &rows, &Part::ALL)
        .await
        .unwrap();
    assert_eq!(stored_rows(&c).await, stored, "an idempotent rewrite inserts nothing");

    // A late event, then a write that "crashes" after two tables (no state row): the
    // session stays dirty, the read mixes old and new rows; the next pass repairs it.
    let late = click("a20", SA, "sess-a", D0 + H + 30_000, "/pricing");
    w.insert_events(std::slice::from_ref(&late)).await.unwrap();
    all.push(late);
    let rows = rows_of(w.as_ref(), SA, &["sess-a"]).await;
    w.write_parts(SA, &stale(&["sess-a"]), &rows, &[Part::Pages, Part::Sessions])
        .await
        .unwrap();
    assert_eq!(dirty_keys(w.as_ref()).await, keys(&[(SA, "sess-a")]));
    let half = read_all(w.as_ref(), SA).await;
    let want = expected(&all, SA, WHOLE.0, WHOLE.1);
    assert_eq!(half.pages, want.pages, "the pages table was written");
    assert_ne!(half.elements, want.elements, "the elements table was not");
    // The same partial write again (a retry that crashed at the same place): still exact
    // per table.
    w.write_parts(SA, &stale(&["sess-a"]), &rows, &[Part::Pages, Part::Sessions])
        .await
        .unwrap();
    assert_eq!(read_all(w.as_ref(), SA).await.pages, want.pages);
    assert_eq!(rollup_pass(w.as_ref()).await, 1);
    assert_rollup(&read_all(w.as_ref(), SA).await, &want, "repaired by the next pass");

    // A new session (fresh: its old rows are not looked up) whose first write crashes after
    // two tables: the next pass must see it as begun, look its rows up, and not count the
    // rows written twice.
    let new = vec![
        pageview("n1", SA, "sess-n", D0 + 3 * H, "/"),
        click("n2", SA, "sess-n", D0 + 3 * H + 1_000, "/"),
    ];
    w.insert_events(&new).await.unwrap();
    all.extend(new);
    let dirty = w.dirty_sessions(100, &Shard::ALL).await.unwrap();
    assert_eq!(dirty.len(), 1);
    assert!(dirty[0].fresh, "a never-written session is fresh");
    let rows = rows_of(w.as_ref(), SA, &["sess-n"]).await;
    w.write_parts(SA, &dirty, &rows, &[Part::Pages, Part::Sessions])
        .await
        .unwrap();
    let again = w.dirty_sessions(100, &Shard::ALL).await.unwrap();
    assert_eq!(again.len(), 1);
    assert!(!again[0].fresh, "a session whose write began is not fresh");
    assert_eq!(rollup_pass(w.as_ref()).await, 1);
    let want = expected(&all, SA, WHOLE.0, WHOLE.1);
    assert_rollup(&read_all(w.as_ref(), SA).await, &want, "a crashed first write repaired");

    // A stray half-applied delta (another writer's, say) in an additive table and a stale
    // per-session row: the session's next recompute folds both away.
    run(
        &c,
        &format!(
            "INSERT INTO rollup_pages (site, day, session_id, device, bot, page, pageviews, clicks, \
             quick_backs, fold_n, viewport_h_sum, doc_h_sum) VALUES ('{SA}', {D0}, 'sess-a', 'desktop', 0, \
             '/', 5, -1, 0, 0, 0, 0), ('{SA}', {D0}, 'sess-a', 'desktop', 0, '/ghost', 1, 0, 0, 0, 0, 0)"
        ),
    )
    .await;
    run(
        &c,
        &format!(
            "INSERT INTO rollup_sessions (site, day, session_id, session_key, gen, deleted, device, bot, \
             visitor_id, start_ts, end_ts, pageviews, step_ts, step_name, step_custom, clicks, rage_clicks, \
             dead_clicks, quick_backs, feedback, survey_responses) VALUES ('{SA}', {D0}, 'sess-a', \
             'sess-a#9', 1, 0, 'desktop', 0, 'v', {D0}, {D0}, 1, [], [], [], 0, 0, 0, 0, 0, 0)"
        ),
    )
    .await;
    assert_ne!(read_all(w.as_ref(), SA).await, want);
    assert_eq!(w.mark_dirty(SA, D0, D1).await.unwrap(), 2, "sess-a and sess-n");
    assert_eq!(rollup_pass(w.as_ref()).await, 2);
    assert_rollup(&read_all(w.as_ref(), SA).await, &want, "stray rows folded away");

    // A session that moves to another day (an earlier event) leaves no row behind.
    let early = pageview("a0", SA, "sess-a", D0 - 2 * H, "/");
    w.insert_events(std::slice::from_ref(&early)).await.unwrap();
    all.push(early);
    assert_eq!(rollup_pass(w.as_ref()).await, 1);
    let from = D0 - DAY_MS;
    assert_rollup(
        &w.read_rollup(&query(SA, from, WHOLE.1, &Part::ALL, None))
            .await
            .unwrap(),
        &expected(&all, SA, from, WHOLE.1),
        "after an earlier event",
    );
    drop_database(&url, &db).await;
}

/// The dirty scan can flag a written session as fresh: it reads `session_marks` twice, each
/// read with its own snapshot, and a mark inserted meanwhile can hide the session's state
/// from it. The write checks the flag, so a written session's rows are replaced, never
/// added to the old ones (which counted it twice after a restart or a late event).
#[tokio::test]
async fn clickhouse_write_checks_a_fresh_flag() {
    let Some(url) = clickhouse_url("clickhouse_write_checks_a_fresh_flag") else {
        return;
    };
    let db = fresh_database("fresh");
    let w = ClickHouseWarehouse::connect(&url, &db).await.unwrap();
    let all = unique(&batch());
    w.insert_events(&all).await.unwrap();
    assert_eq!(rollup_pass(w.as_ref()).await, 3);
    let want = expected(&all, SA, WHOLE.0, WHOLE.1);
    assert_rollup(&read_all(w.as_ref(), SA).await, &want, "first pass");
    let mut flagged = stale(&["sess-a", "sess-b"]);
    for d in &mut flagged {
        d.fresh = true;
    }
    let rows = rows_of(w.as_ref(), SA, &["sess-a", "sess-b"]).await;
    w.write_sessions(SA, &flagged, &rows).await.unwrap();
    assert_rollup(
        &read_all(w.as_ref(), SA).await,
        &want,
        "written sessions flagged fresh are not counted twice",
    );
    drop_database(&url, &db).await;
}

/// Covered dirty marks are deleted by the cleanup; uncovered ones stay, so cleaning never
/// makes a dirty session clean.
#[tokio::test]
async fn clickhouse_cleans_up_covered_marks_only() {
    let Some(url) = clickhouse_url("clickhouse_cleans_up_covered_marks_only") else {
        return;
    };
    let db = fresh_database("cleanup");
    let w = ClickHouseWarehouse::connect(&url, &db).await.unwrap();
    let c = raw_client(&url).with_database(&db);
    w.insert_events(&batch()).await.unwrap();
    w.insert_events(&batch()).await.unwrap();
    assert_eq!(rollup_pass(w.as_ref()).await, 3);
    assert!(count(&c, "SELECT toUInt64(count()) FROM session_marks").await >= 3);
    // Within the grace period nothing goes.
    w.cleanup_marks().await.unwrap();
    // A session dirty again: its marks are kept, the others' go.
    w.insert_events(&[pageview("a30", SA, "sess-a", D0 + H + 60_000, "/")])
        .await
        .unwrap();
    w.cleanup_marks_older_than(std::time::Duration::ZERO).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let left = count(
            &c,
            "SELECT toUInt64(count()) FROM session_marks WHERE session_id != 'sess-a'",
        )
        .await;
        if left == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "covered marks not deleted within 60 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(dirty_keys(w.as_ref()).await, keys(&[(SA, "sess-a")]));
    assert_eq!(rollup_pass(w.as_ref()).await, 1);
    assert!(dirty_keys(w.as_ref()).await.is_empty());
    drop_database(&url, &db).await;
}

async fn count(c: &clickhouse::Client, sql: &str) -> u64 {
    let mut cur = c.query_raw(sql).fetch_bytes("TabSeparated").unwrap();
    let b = cur.collect().await.unwrap();
    String::from_utf8_lossy(&b).trim().parse().unwrap()
}

#[tokio::test]
async fn clickhouse_applies_migrations_once_and_refuses_a_mismatched_schema() {
    let Some(url) = clickhouse_url("clickhouse_applies_migrations_once_and_refuses_a_mismatched_schema") else {
        return;
    };
    let db = fresh_database("schema");
    ClickHouseWarehouse::connect(&url, &db).await.unwrap();
    ClickHouseWarehouse::connect(&url, &db).await.unwrap();
    let c = raw_client(&url).with_database(&db);
    let mut cur = c
        .query_raw("SELECT toUInt64(count()) FROM schema_migrations")
        .fetch_bytes("TabSeparated")
        .unwrap();
    let n = String::from_utf8(cur.collect().await.unwrap().to_vec()).unwrap();
    assert_eq!(
        n.trim(),
        sql::MIGRATIONS.len().to_string(),
        "each migration recorded once"
    );

    // P4: a Nullable column and a missing one: refuse to start, naming both.
    run(&c, "ALTER TABLE events MODIFY COLUMN x Nullable(Float64)").await;
    run(&c, "ALTER TABLE events DROP COLUMN zone").await;
    let err = match ClickHouseWarehouse::connect(&url, &db).await {
        Ok(_) => panic!("connect must refuse a mismatched schema"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("refusing to start"), "{err}");
    assert!(
        err.contains("events.x: Sightline writes Float64, the table has Nullable(Float64)"),
        "{err}"
    );
    assert!(
        err.contains("events.zone: Sightline writes String, the table has no such column"),
        "{err}"
    );
    drop_database(&url, &db).await;
}

/// Forget that the migrations `versions` (a comma-separated list) were applied, and wait
/// until the mutation has run, so the next connect applies them again.
async fn unrecord_migrations(c: &clickhouse::Client, versions: &str) {
    run(
        c,
        &format!("ALTER TABLE schema_migrations DELETE WHERE version IN ({versions})"),
    )
    .await;
    for _ in 0..100 {
        let q = format!("SELECT toUInt64(count()) FROM schema_migrations WHERE version IN ({versions})");
        if count(c, &q).await == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn clickhouse_fills_new_rollup_tables_after_an_upgrade() {
    let Some(url) = clickhouse_url("clickhouse_fills_new_rollup_tables_after_an_upgrade") else {
        return;
    };
    let db = fresh_database("upgrade");
    let w = ClickHouseWarehouse::connect(&url, &db).await.unwrap();
    let (u, d) = (url.clone(), db.clone());
    new_rollup_tables_are_filled_from_stored_events(w, |_| async move {
        // The database of a build before migration 5 (no journeys and problems tables, so
        // neither 5 nor the later 7, 8 and 11 applied): applying them again recreates every
        // rollup table (7: rollup_sessions with the segment, 8: the layout keys) and marks
        // every session; 11 fills the day totals from what is then stored.
        let c = raw_client(&u).with_database(&d);
        run(&c, "DROP TABLE rollup_journeys").await;
        run(&c, "DROP TABLE rollup_problems").await;
        unrecord_migrations(&c, "5, 7, 8, 11").await;
        let w: std::sync::Arc<dyn Warehouse> = ClickHouseWarehouse::connect(&u, &d).await.unwrap();
        w
    })
    .await;
    drop_database(&url, &db).await;
}

/// Processes started together after an upgrade apply migration 0011 once: one takes the
/// migration lock and fills the day totals, the others wait and find nothing left to do.
/// Without the lock, interleaved fills count the stored rows twice.
#[tokio::test]
async fn clickhouse_processes_started_together_migrate_once() {
    let Some(url) = clickhouse_url("clickhouse_processes_started_together_migrate_once") else {
        return;
    };
    let db = fresh_database("together");
    let w = ClickHouseWarehouse::connect(&url, &db).await.unwrap();
    w.put_site(&site(SA, "A")).await.unwrap();
    let all = batch();
    w.insert_events(&all).await.unwrap();
    while rollup_pass(w.as_ref()).await > 0 {}
    let want = expected(&all, SA, WHOLE.0, WHOLE.1);
    // The database of a build before 0011: no day totals.
    let c = raw_client(&url).with_database(&db);
    for t in sql::DAY_TOTAL_TABLES {
        run(&c, &format!("DROP TABLE {t}_day_mv")).await;
        run(&c, &format!("DROP TABLE {t}_day")).await;
    }
    unrecord_migrations(&c, "11").await;
    let starting: Vec<_> = (0..4)
        .map(|_| {
            let (u, d) = (url.clone(), db.clone());
            tokio::spawn(async move { ClickHouseWarehouse::connect(&u, &d).await.unwrap() })
        })
        .collect();
    let mut started = Vec::new();
    for s in starting {
        started.push(s.await.unwrap());
    }
    let q = "SELECT toUInt64(count()) FROM schema_migrations WHERE version = 11";
    assert_eq!(count(&c, q).await, 1, "0011 recorded once");
    assert_eq!(
        count(&c, "SELECT toUInt64(count()) FROM system.tables WHERE database = currentDatabase() AND name = 'schema_migration_lock'").await,
        0,
        "the lock is released"
    );
    for w in &started {
        assert_rollup(
            &read_all(w.as_ref(), SA).await,
            &want,
            "after four processes migrated together",
        );
    }
    drop_database(&url, &db).await;
}

/// Migration 8 (element text and layout versions) on a database of a build before it: its
/// page-view-level tables are recreated with their new keys and every session is marked,
/// so the job refills them from the stored events.
#[tokio::test]
async fn clickhouse_fills_the_layout_keyed_tables_after_migration_8() {
    let Some(url) = clickhouse_url("clickhouse_fills_the_layout_keyed_tables_after_migration_8") else {
        return;
    };
    let db = fresh_database("upgrade8");
    let w = ClickHouseWarehouse::connect(&url, &db).await.unwrap();
    let (u, d) = (url.clone(), db.clone());
    new_rollup_tables_are_filled_from_stored_events(w, |_| async move {
        // Before migration 8: no layout column (and no element text).
        let c = raw_client(&u).with_database(&d);
        run(&c, "DROP TABLE rollup_pages").await;
        run(
            &c,
            "CREATE TABLE rollup_pages (site String, day Int64, session_id String, device String, bot UInt8, \
             page String, pageviews Int64, clicks Int64, quick_backs Int64, fold_n Int64, viewport_h_sum Int64, \
             doc_h_sum Int64) ENGINE = SummingMergeTree PARTITION BY intDiv(day, 2592000000) \
             ORDER BY (site, day, session_id, device, bot, page) SETTINGS index_granularity = 512",
        )
        .await;
        unrecord_migrations(&c, "8, 11").await;
        let w: std::sync::Arc<dyn Warehouse> = ClickHouseWarehouse::connect(&u, &d).await.unwrap();
        w
    })
    .await;
    drop_database(&url, &db).await;
}

/// A process that takes over rollup buckets first waits for rollup writes already running
/// (a killed owner's INSERT still executing on the server), so their rows are there before
/// it reads the rows it replaces; with the same shard again it does not wait.
#[tokio::test]
async fn clickhouse_takeover_waits_for_running_rollup_writes() {
    let Some(url) = clickhouse_url("clickhouse_takeover_waits_for_running_rollup_writes") else {
        return;
    };
    let db = fresh_database("fence");
    let w = ClickHouseWarehouse::connect(&url, &db).await.unwrap();
    let c = raw_client(&url).with_database(&db);
    // A slow write of another client, its table quoted as the clickhouse crate quotes it
    // (`INSERT INTO \`rollup_pages\`(…)`): its row lands about 2 s from now. Its text names
    // this test's database, because system.processes lists the writes of every database, and
    // the other tests of this binary write rollup rows at the same time.
    let marker = format!("ghost-{db}");
    let ghost = {
        let marker = marker.clone();
        tokio::spawn(async move {
            run(
                &c,
                &format!(
                    "INSERT INTO `rollup_pages` SELECT '{SA}', {D0}, '{marker}', 'desktop', 0, '/', '', \
                     toInt64(sleep(2)) + 7, 0, 0, 0, 0, 0 FROM system.one"
                ),
            )
            .await
        })
    };
    let c = raw_client(&url).with_database(&db);
    let started = std::time::Instant::now();
    let mut seen = false;
    // Polled every 20 ms: the write, once running, runs 2 s, so it cannot slip by unseen.
    while started.elapsed() < std::time::Duration::from_secs(20) {
        if count(
            &c,
            &format!(
                "SELECT toUInt64(count()) FROM system.processes \
                 WHERE query LIKE 'INSERT INTO `rollup_pages`%' AND query LIKE '%{marker}%'"
            ),
        )
        .await
            > 0
        {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(seen, "the slow write is running");
    w.fence_takeover(&Shard::ALL).await.unwrap();
    let pages = read_all(w.as_ref(), SA).await.pages;
    assert_eq!(
        pages.iter().map(|p| p.pageviews).sum::<u64>(),
        7,
        "the running write landed first"
    );
    ghost.await.unwrap();
    // The same shard again: nothing to wait for, even with a write running.
    let again = std::time::Instant::now();
    w.fence_takeover(&Shard::ALL).await.unwrap();
    assert!(again.elapsed() < std::time::Duration::from_millis(500));
    drop_database(&url, &db).await;
}

#[tokio::test]
async fn clickhouse_refuses_an_edited_migration() {
    let Some(url) = clickhouse_url("clickhouse_refuses_an_edited_migration") else {
        return;
    };
    let db = fresh_database("edited");
    let c = raw_client(&url);
    run(&c, &format!("CREATE DATABASE {db}")).await;
    let c = c.with_database(&db);
    run(&c, sql::sql(sql::name::CREATE_SCHEMA_MIGRATIONS)).await;
    run(
        &c,
        "INSERT INTO schema_migrations VALUES (1, '0001_init.sql', 'not-the-checksum', 0)",
    )
    .await;
    let err = match ClickHouseWarehouse::connect(&url, &db).await {
        Ok(_) => panic!("connect must refuse an edited migration"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("must not be edited"), "{err}");
    drop_database(&url, &db).await;
}

#[tokio::test]
async fn clickhouse_errors_say_whether_to_retry() {
    // A closed port: a network error, worth retrying. Needs no server.
    let err = match ClickHouseWarehouse::connect("http://127.0.0.1:9", "sightline_x").await {
        Ok(_) => panic!("nothing listens on port 9"),
        Err(e) => e,
    };
    assert!(ch::is_retryable(&err), "{err:#}");
    let Some(url) = clickhouse_url("clickhouse_errors_say_whether_to_retry") else {
        return;
    };
    // An unknown database name is refused before any request.
    assert!(ClickHouseWarehouse::connect(&url, "bad-name").await.is_err());
}

/// SQL literal of a sample value per column type (as tests/chdb/check.py).
fn sample(ty: &str) -> &'static str {
    match ty {
        "String" => "'x'",
        "Int64" => "1714521600000",
        "UInt64" | "UInt32" | "UInt16" | "UInt8" => "1",
        "Float64" => "1.5",
        "Date" => "'2024-05-01'",
        "Array(String)" => "['x']",
        "Array(Int64)" => "[1714521600000]",
        "Array(UInt64)" | "Array(UInt32)" | "Array(UInt8)" => "[1]",
        other => panic!("no sample for type {other}"),
    }
}

/// The same check as tests/chdb/check.py, on the server of SIGHTLINE_TEST_CLICKHOUSE_URL (CI:
/// 18.16): every migration (twice), every insert's columns against DESCRIBE TABLE, every
/// query with its sample args, result columns against the declarations.
#[tokio::test]
async fn clickhouse_runs_every_statement_of_queries_sql() {
    let Some(url) = clickhouse_url("clickhouse_runs_every_statement_of_queries_sql") else {
        return;
    };
    let db = fresh_database("statements");
    let c = raw_client(&url);
    run(&c, &format!("CREATE DATABASE {db}")).await;
    let c = c.with_database(&db);
    run(&c, sql::sql(sql::name::CREATE_SCHEMA_MIGRATIONS)).await;
    for _ in 0..2 {
        for m in sql::MIGRATIONS {
            for s in m.statements() {
                run(&c, &s).await;
            }
        }
    }
    let mut failures = Vec::new();
    let statements = sql::statements();
    for st in statements.iter().filter(|s| s.insert.is_some()) {
        let table = st.insert.as_deref().unwrap();
        let mut cur = c
            .query_raw(&format!("DESCRIBE TABLE {table}"))
            .fetch_bytes("TabSeparated")
            .unwrap();
        let text = String::from_utf8(cur.collect().await.unwrap().to_vec()).unwrap();
        for (name, ty) in &st.columns {
            let have = text.lines().find_map(|l| {
                let mut f = l.split('\t');
                (f.next() == Some(name.as_str())).then(|| f.next().unwrap_or("").to_string())
            });
            if have.as_deref() != Some(ty.as_str()) {
                failures.push(format!(
                    "{}: {table}.{name} declared {ty}, server has {have:?}",
                    st.name
                ));
            }
        }
        let cols: Vec<&str> = st.columns.iter().map(|(n, _)| n.as_str()).collect();
        let vals: Vec<&str> = st.columns.iter().map(|(_, t)| sample(t)).collect();
        let insert = format!("INSERT INTO {table} ({}) VALUES ({})", cols.join(", "), vals.join(", "));
        if let Err(e) = c.query_raw(&insert).execute().await {
            failures.push(format!("{}: {e}", st.name));
        }
    }
    for st in statements
        .iter()
        .filter(|s| s.insert.is_none() && s.name != sql::name::CREATE_DATABASE)
    {
        let q = st.sample_sql();
        if st.returns.is_empty() {
            if let Err(e) = c.query_raw(&q).execute().await {
                failures.push(format!("{}: {e}", st.name));
            }
            continue;
        }
        let text = match c.query_raw(&q).fetch_bytes("TabSeparatedWithNamesAndTypes") {
            Ok(mut cur) => match cur.collect().await {
                Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                Err(e) => {
                    failures.push(format!("{}: {e}", st.name));
                    continue;
                }
            },
            Err(e) => {
                failures.push(format!("{}: {e}", st.name));
                continue;
            }
        };
        let mut lines = text.lines();
        let names: Vec<&str> = lines.next().unwrap_or("").split('\t').collect();
        let types: Vec<&str> = lines.next().unwrap_or("").split('\t').collect();
        let got: Vec<(String, String)> = names
            .iter()
            .zip(&types)
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        if got != st.returns {
            failures.push(format!(
                "{}: result columns {got:?}, declared {:?}",
                st.name, st.returns
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "statements failing on {url}:\n{}",
        failures.join("\n")
    );
    drop_database(&url, &db).await;
}
