use super::*;
use crate::event::DeviceClass;
use crate::model::days::DAY_MS;
use crate::rollup::impact::{goal_rows, sum_goal_rows, Goal};
use crate::rollup::{Dims, SessionRow, Step};

/// The goal rows of `sessions` under the funnel `steps`, summed: what the rollup stores.
fn totals(sessions: &[SessionRow], steps: &[FunnelStep]) -> Vec<GoalRow> {
    let goal = Goal::Funnel(steps.to_vec());
    sum_goal_rows(goal_rows(sessions, &[], &[], &[], Some(("g", &goal))))
}

fn dims(day: i64) -> Dims {
    Dims {
        day: day * DAY_MS,
        device: DeviceClass::Desktop,
        bot: false,
    }
}

/// A session on `day` that reached the first `reach` steps of cart → checkout → purchase.
fn session(day: i64, i: usize, reach: usize) -> SessionRow {
    let names = [("shop.example/cart", false), ("checkout", true), ("purchase", true)];
    SessionRow {
        dims: dims(day),
        session_key: format!("s{day}-{i}#0"),
        visitor_id: format!("v{i}"),
        start: day * DAY_MS + 1_000,
        end: day * DAY_MS + 9_000,
        pageviews: 1,
        steps: names
            .iter()
            .take(reach)
            .enumerate()
            .map(|(k, (n, custom))| Step {
                ts: day * DAY_MS + 1_000 + k as i64 * 1_000,
                name: n.to_string(),
                custom: *custom,
            })
            .collect(),
        clicks: 0,
        rage_clicks: 0,
        dead_clicks: 0,
        quick_backs: 0,
        feedback: 0,
        survey_responses: 0,
        segment: Default::default(),
    }
}

/// Hand-computed: 100 sessions a day view the cart; checkout is reached by 50, 60, 50, 55,
/// 50, 60, 50 of them on days 10..=16 (median 50 %, lowest 50 %), then 35 on day 17 (35 <
/// 50 and ≤ 0.8 × 50 = 40: below) and 30 on day 18 (baseline days 11..=17: median 50, lowest
/// 35; 30 < 35 and ≤ 40: below): step 2 is flagged at day 18, since day 17. Every checkout
/// purchases (step 3 at 100 % every day): not flagged.
#[test]
fn a_funnel_step_down_20_percent_below_its_spread_is_flagged_since_its_first_day() {
    let steps: Vec<FunnelStep> = ["shop.example/cart", "event:checkout", "event:purchase"]
        .into_iter()
        .map(FunnelStep::parse)
        .collect();
    let mut rows = Vec::new();
    for (k, checkout) in [50, 60, 50, 55, 50, 60, 50, 35, 30].into_iter().enumerate() {
        let day = 10 + k as i64;
        for i in 0..100 {
            rows.push(session(day, i, if i < checkout { 3 } else { 1 }));
        }
    }
    let got = step_regressions(&totals(&rows, &steps), &steps, 18 * DAY_MS, chrono_tz::UTC);
    assert_eq!(
        got,
        vec![StepRegression {
            step: 2,
            from: "shop.example/cart".into(),
            to: "event:checkout".into(),
            since: "1970-01-18".into(),
            conversion_pct: 30.0,
            baseline_median_pct: 50.0,
            baseline_min_pct: 35.0,
            sessions: 100,
        }]
    );
    // 19 sessions at the cart on the last day: no verdict.
    let only19: Vec<SessionRow> = rows
        .iter()
        .filter(|s| s.dims.day != 18 * DAY_MS)
        .cloned()
        .chain((0..19).map(|i| session(18, i, 1)))
        .collect();
    assert!(step_regressions(&totals(&only19, &steps), &steps, 18 * DAY_MS, chrono_tz::UTC).is_empty());
}

/// One answer `v` to survey `survey` on `day` (a survey row of 1 response).
fn answer(day: i64, survey: &str, _i: usize, v: f64) -> SurveyRow {
    SurveyRow {
        dims: dims(day),
        survey_id: survey.into(),
        question_id: "q1".into(),
        kind: SurveyKind::Nps,
        value: format!("{v}"),
        responses: 1,
    }
}

/// Hand-computed: survey s1 has 20 answers a day, NPS 40 (10 promoters, 8 passives, 2
/// detractors) on days 10..=16, 0 on day 17 (6, 8, 6: 0 < 40 and ≤ 40 − 10: below) and −40
/// on day 18 (2, 8, 10; baseline days 11..=17: median 40, lowest 0; −40 < 0: below): flagged
/// at day 18 since day 17. s2 has 10 answers on day 18 only: no verdict.
#[test]
fn an_nps_below_its_spread_by_10_points_is_flagged_since_its_first_day() {
    let mut rows = Vec::new();
    for (k, (p, d)) in [(10, 2); 7].into_iter().chain([(6, 6), (2, 10)]).enumerate() {
        let day = 10 + k as i64;
        for i in 0..20 {
            let v = if i < p {
                10.0
            } else if i < p + d {
                3.0
            } else {
                8.0
            };
            rows.push(answer(day, "s1", i, v));
        }
    }
    for i in 0..10 {
        rows.push(answer(18, "s2", i, 0.0));
    }
    assert_eq!(
        nps_regressions(&rows, 18 * DAY_MS, chrono_tz::UTC),
        vec![NpsRegression {
            survey: "s1".into(),
            since: "1970-01-18".into(),
            nps: -40.0,
            baseline_median: 40.0,
            baseline_min: 0.0,
            answers: 20,
        }]
    );
}
