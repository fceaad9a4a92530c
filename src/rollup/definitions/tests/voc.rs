use super::*;

#[test]
fn the_latest_survey_response_per_session_wins() {
    let mut events = vec![
        in_session(survey("a1", at(10, 0), SurveyKind::Nps, Answer::Number(6.0)), "s1"),
        in_session(survey("a2", at(10, 1), SurveyKind::Nps, Answer::Number(9.0)), "s1"),
        in_session(survey("b1", at(11, 0), SurveyKind::Nps, Answer::Number(4.5)), "s2"),
        in_session(
            survey(
                "c1",
                at(12, 0),
                SurveyKind::Choice,
                Answer::Choices(vec!["red".into(), "blue".into(), "red".into()]),
            ),
            "s3",
        ),
    ];
    // Same ts: the higher seq is the later one.
    let mut x = in_session(survey("d2", at(13, 0), SurveyKind::Nps, Answer::Number(10.0)), "s4");
    x.seq = Some(2);
    let mut y = in_session(survey("d1", at(13, 0), SurveyKind::Nps, Answer::Number(0.0)), "s4");
    y.seq = Some(3);
    events.extend([x, y]);
    let day = compute_day(&events, DAY, &Rules::default());
    let rows: Vec<(SurveyKind, &str, u64)> = day
        .surveys
        .iter()
        .map(|r| (r.kind, r.value.as_str(), r.responses))
        .collect();
    assert_eq!(
        rows,
        vec![
            (SurveyKind::Nps, "0", 1),
            (SurveyKind::Nps, "4.5", 1),
            (SurveyKind::Nps, "9", 1),
            (SurveyKind::Choice, "blue", 1),
            (SurveyKind::Choice, "red", 1),
        ]
    );
    let per_session: Vec<u32> = day.sessions.iter().map(|s| s.survey_responses).collect();
    assert_eq!(per_session, vec![1, 1, 1, 1]);
}

#[test]
fn nps_of_10_9_8_6_0_is_zero() {
    let s = summarize_answers(
        SurveyKind::Nps,
        &counts(&[("10", 1), ("9", 1), ("8", 1), ("6", 1), ("0", 1)]),
    );
    assert_eq!(s.responses, 5);
    assert_eq!(s.nps, Some(0.0));
    assert_eq!(s.mean, Some(6.6));
    assert_eq!(s.csat, None);
    let s = summarize_answers(SurveyKind::Nps, &counts(&[("10", 2), ("7", 1)]));
    assert_eq!(s.nps, Some(66.7));
}

#[test]
fn nps_is_none_for_other_0_to_10_scales() {
    let c = counts(&[("10", 1), ("9", 1), ("8", 1), ("6", 1), ("0", 1)]);
    let s = summarize_answers(SurveyKind::Rating, &c);
    assert_eq!(s.nps, None);
    assert_eq!(s.csat, None);
    assert_eq!(s.mean, Some(6.6));
    assert_eq!(s.distribution, c);
    let s = summarize_answers(SurveyKind::Text, &counts(&[("great", 2)]));
    assert_eq!((s.responses, s.mean, s.nps, s.csat), (2, None, None, None));
}

#[test]
fn csat_of_5_4_3_1_is_50() {
    let s = summarize_answers(SurveyKind::Csat, &counts(&[("5", 1), ("4", 1), ("3", 1), ("1", 1)]));
    assert_eq!(s.csat, Some(50.0));
    assert_eq!(s.nps, None);
    assert_eq!(s.mean, Some(3.25));
}

#[test]
fn survey_numbers_are_written_without_trailing_zeros() {
    assert_eq!(format_number(9.0), "9");
    assert_eq!(format_number(4.5), "4.5");
    assert_eq!(format_number(-0.0), "0");
}

#[test]
fn top_terms_count_words_once_per_answer_without_stop_words_or_pii_tokens() {
    let t = top_terms(
        [
            "Export is broken, export again!",
            "The export button 🙃 is slow",
            "write me at [email] — slow slow",
            "12345 ok",
        ],
        3,
    );
    assert_eq!(
        t,
        vec![
            ("export".to_string(), 2),
            ("slow".to_string(), 2),
            ("again".to_string(), 1)
        ]
    );
}

fn reach_event(id: &str, ts: i64, session: &str, payload: Payload) -> Event {
    in_session(event(id, ts, payload), session)
}

fn shown(id: &str, ts: i64, session: &str) -> Event {
    reach_event(
        id,
        ts,
        session,
        Payload::SurveyShown {
            survey_id: "exit".into(),
            trigger: None,
        },
    )
}

fn dismissed(id: &str, ts: i64, session: &str, q: &str) -> Event {
    reach_event(
        id,
        ts,
        session,
        Payload::SurveyDismissed {
            survey_id: "exit".into(),
            question_id: Some(q.into()),
            trigger: None,
        },
    )
}

fn answered(id: &str, ts: i64, session: &str, q: &str) -> Event {
    reach_event(
        id,
        ts,
        session,
        Payload::SurveyResponse {
            survey_id: "exit".into(),
            question_id: q.into(),
            kind: SurveyKind::Nps,
            value: Answer::Number(9.0),
            trigger: None,
        },
    )
}

#[test]
fn reach_is_one_row_per_session_summed_by_what_it_answered_and_closed_on() {
    let events = vec![
        // s1 and s2: shown, nothing else (s2 twice: one impression).
        shown("a", at(10, 0), "s1"),
        shown("b", at(10, 0), "s2"),
        shown("c", at(10, 1), "s2"),
        // s3: answered q1, closed on q2.
        shown("d", at(10, 0), "s3"),
        answered("e", at(10, 1), "s3", "q1"),
        dismissed("f", at(10, 2), "s3", "q2"),
        // s4: answered q1 and q2 with no survey_shown (an older snippet).
        answered("g", at(10, 1), "s4", "q2"),
        answered("h", at(10, 2), "s4", "q1"),
    ];
    let day = compute_day(&events, DAY, &Rules::default());
    let sep = crate::rollup::PATH_SEP;
    let rows: Vec<(String, String, bool, u64)> = day
        .reach
        .iter()
        .map(|r| (r.answered.clone(), r.dismissed_at.clone(), r.dismissed, r.sessions))
        .collect();
    assert_eq!(
        rows,
        vec![
            (String::new(), String::new(), false, 2),
            ("q1".into(), "q2".into(), true, 1),
            (format!("q1{sep}q2"), String::new(), false, 1),
        ]
    );
    assert!(day.reach.iter().all(|r| r.dims.day == DAY && r.survey_id == "exit"));

    // Against a definition q1, q2, q3: 4 impressions, 2 responses (50 %), no completion,
    // 1 dismissal; q1 reached by all 4 (s1, s2 dropped there), q2 by s3 (dropped there) and
    // s4, q3 by none.
    let def: Vec<String> = ["q1", "q2", "q3"].map(String::from).to_vec();
    let r = survey_reach(&day.reach, &def);
    assert_eq!((r.impressions, r.responses, r.completions, r.dismissals), (4, 2, 0, 1));
    assert_eq!(
        (r.response_rate, r.completion_rate, r.dismissal_rate),
        (Some(50.0), Some(0.0), Some(25.0))
    );
    let q: Vec<(&str, u64, u64, u64)> = r
        .questions
        .iter()
        .map(|q| (q.question_id.as_str(), q.reached, q.answered, q.dropped))
        .collect();
    assert_eq!(q, vec![("q1", 4, 2, 2), ("q2", 2, 1, 1), ("q3", 0, 0, 0)]);
    // Without a definition, every question seen is the survey's: s4 completed it.
    let r = survey_reach(&day.reach, &[]);
    assert_eq!((r.completions, r.completion_rate), (1, Some(25.0)));
    let q: Vec<(&str, u64, u64, u64)> = r
        .questions
        .iter()
        .map(|q| (q.question_id.as_str(), q.reached, q.answered, q.dropped))
        .collect();
    assert_eq!(q, vec![("q1", 2, 2, 0), ("q2", 2, 1, 1)]);
    // Shown to 3, answered in 1: 33.3 %.
    assert_eq!(crate::rollup::definitions::percent(1, 3), Some(33.3));
}
