use super::*;
use crate::event::DeviceClass;
use crate::rollup::{AnswerRow, Dims, ElementRow, FeedbackRow, Rules, SurveyRow, DAY_MS};

const DAY: i64 = 20_240 * DAY_MS;

fn dims(bot: bool) -> Dims {
    Dims {
        day: DAY,
        device: DeviceClass::Desktop,
        bot,
    }
}

/// [`site_signals`] of one day's rows (the VoC counts of its answer and feedback rows), for
/// a site without a funnel goal.
fn site_signals_of(r: DayRollup) -> crate::metrics::SiteSignals {
    site_signals(&r, VocCounts::of_rows(&r.answers, &r.feedback), None)
}

fn element(bot: bool, rage: u64, dead: u64) -> ElementRow {
    ElementRow {
        clicks: rage + dead,
        rage_clicks: rage,
        dead_clicks: dead,
        ..ElementRow::empty(dims(bot), ("shop.example/", ""), "button", "")
    }
}

fn feedback(bot: bool, rating: Option<u8>) -> FeedbackRow {
    FeedbackRow {
        dims: dims(bot),
        id: "f".into(),
        ts: DAY,
        page: "shop.example/".into(),
        session_key: "s#0".into(),
        rating,
        comment: String::new(),
        category: String::new(),
        selector: String::new(),
    }
}

fn answer_row(bot: bool, question: &str) -> AnswerRow {
    AnswerRow {
        dims: dims(bot),
        id: format!("a-{question}"),
        ts: DAY,
        survey_id: "s".into(),
        question_id: question.into(),
        kind: SurveyKind::Text,
        value: crate::event::Answer::Text("ok".into()),
        page: "shop.example/".into(),
        session_key: "s#0".into(),
        trigger: String::new(),
    }
}

fn answer(bot: bool, survey: &str, kind: SurveyKind, value: &str, n: u64) -> SurveyRow {
    SurveyRow {
        dims: dims(bot),
        survey_id: survey.into(),
        question_id: "q".into(),
        kind,
        value: value.into(),
        responses: n,
    }
}

#[test]
fn site_signals_sum_the_days_rows_and_leave_bots_out() {
    let r = DayRollup {
        elements: vec![element(false, 2, 3), element(false, 1, 0), element(true, 5, 5)],
        feedback: vec![
            feedback(false, Some(1)),
            feedback(false, Some(2)),
            feedback(false, Some(3)),
            feedback(false, None),
            feedback(true, Some(1)),
        ],
        answers: vec![
            answer_row(false, "q1"),
            answer_row(false, "q2"),
            answer_row(false, "q3"),
            answer_row(true, "q1"),
        ],
        ..DayRollup::default()
    };
    let s = site_signals_of(r);
    assert_eq!(
        (s.rage_clicks, s.dead_clicks, s.negative_feedback, s.survey_responses),
        (3, 3, 2, 3)
    );
    assert!(s.nps.is_empty());
}

#[test]
fn page_signals_are_rage_plus_dead_per_100_page_views_of_the_busiest_pages() {
    let page = |bot: bool, key: &str, pageviews: u64| crate::rollup::PageRow::with_pageviews(dims(bot), key, pageviews);
    // shop.example/: 40 page views (+ 10 of bots), elements 2 + 3 and 1 + 0 (bots' 5 + 5
    // left out): 6 per 40 = 15 per 100. 25 more pages with fewer page views each, the
    // busiest 19 of which make the cut; a page without page views is never exported.
    let mut pages = vec![page(false, "shop.example/", 40), page(true, "shop.example/", 10)];
    for i in 0..25u64 {
        pages.push(page(false, &format!("shop.example/p{i:02}"), 1 + i));
    }
    pages.push(page(false, "shop.example/none", 0));
    let s = site_signals_of(DayRollup {
        pages,
        elements: vec![element(false, 2, 3), element(false, 1, 0), element(true, 5, 5)],
        ..DayRollup::default()
    });
    assert_eq!(s.pages.len(), MAX_PAGES_PER_SITE);
    assert_eq!(s.pages[0], ("shop.example/".to_string(), 40, 15.0));
    assert_eq!(s.pages[1], ("shop.example/p24".to_string(), 25, 0.0));
    assert_eq!(s.pages[19], ("shop.example/p06".to_string(), 7, 0.0));
}

#[test]
fn nps_pools_a_surveys_nps_answers_and_ignores_other_kinds() {
    // [10, 9, 8, 6, 0] → 40 % promoters − 40 % detractors = 0.
    let mut surveys: Vec<SurveyRow> = ["10", "9", "8", "6", "0"]
        .iter()
        .map(|v| answer(false, "s1", SurveyKind::Nps, v, 1))
        .collect();
    surveys.push(answer(true, "s1", SurveyKind::Nps, "0", 7));
    surveys.push(answer(false, "s1", SurveyKind::Csat, "1", 3));
    surveys.push(answer(false, "s2", SurveyKind::Nps, "10", 2));
    let s = site_signals_of(DayRollup {
        surveys,
        ..DayRollup::default()
    });
    assert_eq!(s.nps, vec![("s1".to_string(), 0.0, 5), ("s2".to_string(), 100.0, 2)]);
}

#[test]
fn at_most_twenty_surveys_per_site_are_exported_the_most_answered_first() {
    let surveys: Vec<SurveyRow> = (0..25)
        .map(|i| answer(false, &format!("s{i:02}"), SurveyKind::Nps, "10", 1 + (i % 3) as u64))
        .collect();
    let s = site_signals_of(DayRollup {
        surveys,
        ..DayRollup::default()
    });
    assert_eq!(s.nps.len(), MAX_SURVEYS_PER_SITE);
    assert!(s.nps.windows(2).all(|w| w[0].2 >= w[1].2));
    // Every survey with 3 answers (i % 3 == 2: 8 of them) made the cut.
    assert_eq!(s.nps.iter().filter(|x| x.2 == 3).count(), 8);
}

/// The job over the SQLite store, fed per session (in several passes, with late events),
/// reads back exactly what `compute_day` gives over all the events of each day.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_session_rows_read_back_equal_compute_day_over_the_whole_day() {
    use crate::loadgen::{accept, TrafficGen};
    use crate::rollup::compute_day;
    use crate::warehouse::{sqlite::SqliteWarehouse, Warehouse};
    let dir = tempfile::tempdir().unwrap();
    let wh = SqliteWarehouse::open(dir.path()).unwrap();
    let sites = SiteCache::default();
    let noon = DAY + DAY_MS / 2;
    let mut g = TrafficGen::new(5);
    let mut all = Vec::new();
    for k in 0..40u32 {
        // The last batches land at midnight: sessions spanning two days.
        let at = if k < 30 { noon } else { DAY + DAY_MS + 90_000 };
        let mut evs = accept(&g.batch("sl_t", "0000cafe", k, 50, at), at);
        if k % 10 == 9 {
            // Late events of a session of the first batch.
            for e in evs.iter_mut().take(5) {
                e.session_id = all.first().map(|f: &crate::event::Event| f.session_id.clone()).unwrap();
                e.visitor_id = all[0].visitor_id.clone();
            }
        }
        wh.insert_events(&evs).await.unwrap();
        all.extend(evs);
        if k % 7 == 0 {
            run_once(wh.as_ref(), &sites, Shard::ALL, true).await.unwrap();
        }
    }
    while run_once(wh.as_ref(), &sites, Shard::ALL, true).await.unwrap().sessions > 0 {}
    for day in [DAY, DAY + DAY_MS] {
        let mut read = wh
            .read_rollup(&RollupQuery {
                site: "sl_t".into(),
                from_day: day,
                to_day: day + DAY_MS,
                parts: Part::ALL.to_vec(),
                page: None,
                segment: Default::default(),
            })
            .await
            .unwrap();
        let mut want = compute_day(&all, day, &Rules::default());
        // In-element position sums are floats added in another order: compare them
        // to 1e-9, then the rest exactly.
        for (a, b) in read.elements.iter_mut().zip(want.elements.iter_mut()) {
            assert!((a.el_x_sum - b.el_x_sum).abs() < 1e-9 && (a.el_y_sum - b.el_y_sum).abs() < 1e-9);
            (a.el_x_sum, a.el_y_sum, b.el_x_sum, b.el_y_sum) = (0.0, 0.0, 0.0, 0.0);
        }
        assert!(!want.sessions.is_empty() && !want.pages.is_empty());
        assert_eq!(read, want, "day {day}");
    }
}

/// The rollups across a midnight and a month end on a stepped clock (no wall-clock date):
/// batches received at 23:58 and 23:59 on 31 January and 28 February and just after the
/// midnights that follow, each rolled up as it comes. Every day's rows read back equal the
/// definitions over all the events; retention run on the clock at noon on 1 March with
/// `retention_days: 1` keeps 1 March only.
#[tokio::test]
async fn rollups_across_a_midnight_and_a_month_end_on_a_stepped_clock() {
    use crate::clock::{Clock, SteppedClock};
    use crate::loadgen::{accept, TrafficGen};
    use crate::rollup::compute_day;
    use crate::sites::{Site, SiteSettings};
    use crate::warehouse::{sqlite::SqliteWarehouse, Warehouse};
    let ms = |month: u32, day: u32, h: u32, m: u32| {
        chrono::NaiveDate::from_ymd_opt(2026, month, day)
            .and_then(|d| d.and_hms_opt(h, m, 0))
            .unwrap()
            .and_utc()
            .timestamp_millis()
    };
    let dir = tempfile::tempdir().unwrap();
    let wh = SqliteWarehouse::open(dir.path()).unwrap();
    let sites = SiteCache::default();
    let clock = SteppedClock::at(ms(1, 31, 23, 58));
    let mut g = TrafficGen::new(7);
    let mut all = Vec::new();
    let received = [
        ms(1, 31, 23, 58),
        ms(1, 31, 23, 59),
        ms(2, 1, 0, 1),
        ms(2, 28, 23, 58),
        ms(2, 28, 23, 59),
        ms(3, 1, 0, 1),
    ];
    for (k, at) in received.into_iter().enumerate() {
        clock.set(at);
        let evs = accept(
            &g.batch("sl_t", "0000cafe", k as u32, 30, clock.now_ms()),
            clock.now_ms(),
        );
        assert!(!evs.is_empty(), "batch {k}");
        wh.insert_events(&evs).await.unwrap();
        all.extend(evs);
        run_once_on(&clock, wh.as_ref(), &sites, Shard::ALL, true)
            .await
            .unwrap();
    }
    while run_once_on(&clock, wh.as_ref(), &sites, Shard::ALL, true)
        .await
        .unwrap()
        .sessions
        > 0
    {}
    let read_day = |day: i64| {
        let wh = wh.clone();
        async move {
            wh.read_rollup(&RollupQuery {
                site: "sl_t".into(),
                from_day: day,
                to_day: day + DAY_MS,
                parts: Part::ALL.to_vec(),
                page: None,
                segment: Default::default(),
            })
            .await
            .unwrap()
        }
    };
    for day in [ms(1, 31, 0, 0), ms(2, 1, 0, 0), ms(2, 28, 0, 0), ms(3, 1, 0, 0)] {
        let mut read = read_day(day).await;
        let mut want = compute_day(&all, day, &Rules::default());
        for (a, b) in read.elements.iter_mut().zip(want.elements.iter_mut()) {
            assert!((a.el_x_sum - b.el_x_sum).abs() < 1e-9 && (a.el_y_sum - b.el_y_sum).abs() < 1e-9);
            (a.el_x_sum, a.el_y_sum, b.el_x_sum, b.el_y_sum) = (0.0, 0.0, 0.0, 0.0);
        }
        assert!(!want.pages.is_empty(), "day {day}");
        assert_eq!(read, want, "day {day}");
    }

    clock.set(ms(3, 1, 12, 0));
    let settings = SiteSettings {
        retention_days: Some(1),
        ..SiteSettings::default()
    };
    let site = Site {
        key: "sl_t".into(),
        name: "t".into(),
        origins: vec!["*".into()],
        settings,
        created_at: 0,
    };
    let dropped = apply_retention_on(&clock, wh.as_ref(), &[site]).await.unwrap();
    assert_eq!(dropped.len(), 1);
    assert!(dropped[0].1 > 0);
    assert!(read_day(ms(2, 28, 0, 0)).await.pages.is_empty());
    assert!(read_day(ms(1, 31, 0, 0)).await.pages.is_empty());
    assert!(!read_day(ms(3, 1, 0, 0)).await.pages.is_empty());
}
