//! The columns every row type writes and reads, for the schema check against `DESCRIBE TABLE`.

use super::*;

/// For every insert statement: its name and the columns the Rust row writes.
pub fn insert_rows() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    use crate::warehouse::clickhouse::sql::name::*;
    vec![
        (INSERT_EVENTS, columns::<EventRow>()),
        (INSERT_SESSION_MARKS, columns::<SessionMarkRow>()),
        (INSERT_SESSION_STATE, columns::<SessionStateRow>()),
        (INSERT_PAGES, columns::<PagesCh>()),
        (INSERT_GRID, columns::<GridCh>()),
        (INSERT_ELEMENTS, columns::<ElementsCh>()),
        (INSERT_EL_CELLS, columns::<ElCellsCh>()),
        (INSERT_SCROLL, columns::<ScrollCh>()),
        (INSERT_ZONES, columns::<ZonesCh>()),
        (INSERT_JOURNEYS, columns::<JourneysCh>()),
        (INSERT_PROBLEMS, columns::<ProblemsCh>()),
        (INSERT_SURVEYS, columns::<SurveysCh>()),
        (INSERT_REACH, columns::<ReachCh>()),
        (INSERT_GOAL, columns::<GoalCh>()),
        (INSERT_LIST, columns::<ListCh>()),
        (INSERT_SESSIONS, columns::<SessionsCh>()),
        (INSERT_SESSION_DETAILS, columns::<DetailsCh>()),
        (INSERT_ANSWERS, columns::<AnswersCh>()),
        (INSERT_FEEDBACK, columns::<FeedbackCh>()),
        (INSERT_SITES, columns::<SiteRow>()),
        (INSERT_API_TOKENS, columns::<TokenRow>()),
        (INSERT_FORGETS, columns::<ForgetRow>()),
        (INSERT_REPLAY_CHUNKS, columns::<ReplayChunkRow>()),
        (INSERT_SCHEMA_MIGRATION, columns::<MigrationRow>()),
    ]
}

/// For every query with a result: its name and the columns the Rust row reads.
pub fn result_rows() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    use crate::warehouse::clickhouse::sql::name::*;
    vec![
        (APPLIED_MIGRATIONS, columns::<AppliedRow>()),
        (MIGRATION_LOCK_AGE, columns::<LockAgeRow>()),
        (EXISTING_IDS, columns::<IdRow>()),
        (NEXT_SITE_VERSION, columns::<VersionRow>()),
        (DIRTY_SESSIONS, columns::<DirtySessionRow>()),
        (OLDEST_DIRTY_MARK, columns::<OldestDirtyRow>()),
        (SESSIONS_IN_DAYS, columns::<SessionIdRow>()),
        (STATED_SESSIONS, columns::<SessionIdRow>()),
        (SESSION_EVENTS, columns::<RecordRow>()),
        (SEGMENT_SESSIONS, columns::<SessionIdRow>()),
        (ROLLUP_DAYS, columns::<DayRow>()),
        (NET_PAGES, columns::<PagesCh>()),
        (SUM_PAGES, columns::<PagesSumCh>()),
        (NET_GRID, columns::<GridCh>()),
        (SUM_GRID, columns::<GridSumCh>()),
        (NET_ELEMENTS, columns::<ElementsCh>()),
        (SUM_ELEMENTS, columns::<ElementsSumCh>()),
        (NET_EL_CELLS, columns::<ElCellsCh>()),
        (SUM_EL_CELLS, columns::<ElCellsSumCh>()),
        (NET_SCROLL, columns::<ScrollCh>()),
        (SUM_SCROLL, columns::<ScrollSumCh>()),
        (NET_JOURNEYS, columns::<JourneysCh>()),
        (SUM_JOURNEYS, columns::<JourneysSumCh>()),
        (JOURNEY_ENDS, columns::<JourneyEndCh>()),
        (JOURNEY_TOTALS, columns::<JourneyKeysCh>()),
        (JOURNEY_TOP, columns::<JourneyTopCh>()),
        (ANSWER_COUNTS, columns::<AnswerCountCh>()),
        (ANSWER_TEXTS, columns::<AnswersCh>()),
        (FEEDBACK_GROUPS, columns::<FeedbackGroupCh>()),
        (FEEDBACK_RECENT, columns::<FeedbackCh>()),
        (NET_PROBLEMS, columns::<ProblemsCh>()),
        (SUM_PROBLEMS, columns::<ProblemsSumCh>()),
        (NET_ZONES, columns::<ZonesCh>()),
        (SUM_ZONES, columns::<ZonesSumCh>()),
        (NET_SURVEYS, columns::<SurveysCh>()),
        (SUM_SURVEYS, columns::<SurveysSumCh>()),
        (NET_REACH, columns::<ReachCh>()),
        (SUM_REACH, columns::<ReachSumCh>()),
        (NET_GOAL, columns::<GoalCh>()),
        (NET_LIST, columns::<ListCh>()),
        (SUM_GOAL, columns::<GoalSumCh>()),
        (LIVE_SESSIONS, columns::<SessionsCh>()),
        (READ_SESSIONS, columns::<SessionsCh>()),
        (FUNNEL_SESSIONS, columns::<SessionsCh>()),
        (LIVE_SESSION_DETAILS, columns::<DetailsCh>()),
        (READ_SESSION_DETAILS, columns::<DetailsCh>()),
        (LIVE_ANSWERS, columns::<AnswersCh>()),
        (READ_ANSWERS, columns::<AnswersCh>()),
        (LIVE_FEEDBACK, columns::<FeedbackCh>()),
        (READ_FEEDBACK, columns::<FeedbackCh>()),
        (ROLLUP_ROWS_BEFORE, columns::<RowsCountRow>()),
        (DAY_ROWS_BEFORE, columns::<RowsCountRow>()),
        (LISTED_SESSIONS, columns::<ListedCh>()),
        (COUNT_LISTED, columns::<RowsCountRow>()),
        (LISTED_CANDIDATES, columns::<ListedCh>()),
        (COUNT_EVENTS, columns::<CountRow>()),
        (SITES, columns::<JsonRow>()),
        (API_TOKENS, columns::<JsonRow>()),
        (VISITOR_SESSIONS, columns::<VisitorSessionRow>()),
        (COUNT_VISITOR_EVENTS, columns::<CountRow>()),
        (COUNT_EVENTS_BEFORE, columns::<CountRow>()),
        (REPLAY_PARTS, columns::<ReplayPartRow>()),
        (REPLAY_PART_META, columns::<ReplayMetaRow>()),
        (COUNT_VISITOR_REPLAY, columns::<CountRow>()),
        (COUNT_REPLAY_BEFORE, columns::<CountRow>()),
        (FORGETS, columns::<JsonRow>()),
        (RUNNING_ROLLUP_WRITES, columns::<QueryIdRow>()),
        (PING, columns::<PingRow>()),
    ]
}

/// Differences between the columns a Rust row writes and `DESCRIBE TABLE` (name, type):
/// a column missing from the table, or of another type. Columns of the table the row does
/// not write are fine (they take their defaults).
pub fn schema_mismatches(table: &str, rust: &[(&str, &str)], described: &[(String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (name, ty) in rust {
        match described.iter().find(|(n, _)| n == name) {
            None => out.push(format!(
                "{table}.{name}: Sightline writes {ty}, the table has no such column"
            )),
            Some((_, have)) if have != ty => {
                out.push(format!("{table}.{name}: Sightline writes {ty}, the table has {have}"))
            }
            Some(_) => {}
        }
    }
    out
}
