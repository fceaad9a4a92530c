//! Every SQL statement of the ClickHouse warehouse, in one place: `migrations/*.sql` (the
//! schema, applied once each, in order) and `queries.sql` (everything else, looked up by
//! name). Both are `include_str!`ed here and read as text by `tests/chdb/check.py`, which
//! runs them on current ClickHouse; `tests/clickhouse_warehouse.rs` runs them on the server
//! of `SIGHTLINE_CLICKHOUSE_URL` (CI: Debian's 18.16). See the header of `queries.sql` for
//! the format.

use std::collections::HashMap;
use std::sync::OnceLock;

/// One versioned migration file.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The number the file name starts with; applied in increasing order.
    pub version: u32,
    /// File name in `src/warehouse/clickhouse/migrations/`.
    pub name: &'static str,
    /// The file's text.
    pub text: &'static str,
}

impl Migration {
    /// The statements of the file (see [`split_statements`]).
    pub fn statements(&self) -> Vec<String> {
        split_statements(self.text)
    }
    /// SHA-256 of the file, recorded in `schema_migrations`: an applied migration that was
    /// edited afterwards is refused at start-up.
    pub fn checksum(&self) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(self.text.as_bytes()))
    }
}

/// Every migration, in order. A unit test checks that this lists exactly the files of the
/// folder.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_init.sql",
        text: include_str!("migrations/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "0002_api_tokens.sql",
        text: include_str!("migrations/0002_api_tokens.sql"),
    },
    Migration {
        version: 3,
        name: "0003_forgets.sql",
        text: include_str!("migrations/0003_forgets.sql"),
    },
    Migration {
        version: 4,
        name: "0004_session_rollups.sql",
        text: include_str!("migrations/0004_session_rollups.sql"),
    },
    Migration {
        version: 5,
        name: "0005_rollup_tables_v2.sql",
        text: include_str!("migrations/0005_rollup_tables_v2.sql"),
    },
    Migration {
        version: 6,
        name: "0006_replay_chunks.sql",
        text: include_str!("migrations/0006_replay_chunks.sql"),
    },
    Migration {
        version: 7,
        name: "0007_segments.sql",
        text: include_str!("migrations/0007_segments.sql"),
    },
    Migration {
        version: 8,
        name: "0008_element_text_layouts.sql",
        text: include_str!("migrations/0008_element_text_layouts.sql"),
    },
    Migration {
        version: 9,
        name: "0009_survey_reach.sql",
        text: include_str!("migrations/0009_survey_reach.sql"),
    },
    Migration {
        version: 10,
        name: "0010_goal.sql",
        text: include_str!("migrations/0010_goal.sql"),
    },
    Migration {
        version: 11,
        name: "0011_day_totals.sql",
        text: include_str!("migrations/0011_day_totals.sql"),
    },
    Migration {
        version: 12,
        name: "0012_session_list.sql",
        text: include_str!("migrations/0012_session_list.sql"),
    },
];

/// The text of `queries.sql`.
pub const QUERIES_SQL: &str = include_str!("queries.sql");

/// Names of the statements of `queries.sql` the Rust code uses.
pub mod name {
    pub const CREATE_DATABASE: &str = "create_database";
    pub const CREATE_SCHEMA_MIGRATIONS: &str = "create_schema_migrations";
    pub const APPLIED_MIGRATIONS: &str = "applied_migrations";
    pub const CREATE_MIGRATION_LOCK: &str = "create_migration_lock";
    pub const MIGRATION_LOCK_AGE: &str = "migration_lock_age";
    pub const DROP_MIGRATION_LOCK: &str = "drop_migration_lock";
    pub const INSERT_SCHEMA_MIGRATION: &str = "insert_schema_migration";
    pub const DESCRIBE_TABLE: &str = "describe_table";
    pub const EXISTING_IDS: &str = "existing_ids";
    pub const INSERT_EVENTS: &str = "insert_events";
    pub const MARK_SESSIONS: &str = "mark_sessions";
    pub const NEXT_SITE_VERSION: &str = "next_site_version";
    pub const INSERT_SESSION_MARKS: &str = "insert_session_marks";
    pub const INSERT_SESSION_STATE: &str = "insert_session_state";
    pub const DIRTY_SESSIONS: &str = "dirty_sessions";
    pub const OLDEST_DIRTY_MARK: &str = "oldest_dirty_mark";
    pub const DELETE_COVERED_MARKS: &str = "delete_covered_marks";
    pub const SESSIONS_IN_DAYS: &str = "sessions_in_days";
    pub const STATED_SESSIONS: &str = "stated_sessions";
    pub const SESSION_EVENTS: &str = "session_events";
    pub const ROLLUP_DAYS: &str = "rollup_days";
    pub const INSERT_PAGES: &str = "insert_pages";
    pub const NET_PAGES: &str = "net_pages";
    pub const SUM_PAGES: &str = "sum_pages";
    pub const INSERT_GRID: &str = "insert_grid";
    pub const NET_GRID: &str = "net_grid";
    pub const SUM_GRID: &str = "sum_grid";
    pub const INSERT_ELEMENTS: &str = "insert_elements";
    pub const NET_ELEMENTS: &str = "net_elements";
    pub const SUM_ELEMENTS: &str = "sum_elements";
    pub const INSERT_EL_CELLS: &str = "insert_el_cells";
    pub const NET_EL_CELLS: &str = "net_el_cells";
    pub const SUM_EL_CELLS: &str = "sum_el_cells";
    pub const INSERT_SCROLL: &str = "insert_scroll";
    pub const NET_SCROLL: &str = "net_scroll";
    pub const SUM_SCROLL: &str = "sum_scroll";
    pub const RUNNING_ROLLUP_WRITES: &str = "running_rollup_writes";
    pub const INSERT_JOURNEYS: &str = "insert_journeys";
    pub const NET_JOURNEYS: &str = "net_journeys";
    pub const SUM_JOURNEYS: &str = "sum_journeys";
    pub const JOURNEY_ENDS: &str = "journey_ends";
    pub const JOURNEY_TOTALS: &str = "journey_totals";
    pub const JOURNEY_TOP: &str = "journey_top";
    pub const INSERT_PROBLEMS: &str = "insert_problems";
    pub const NET_PROBLEMS: &str = "net_problems";
    pub const SUM_PROBLEMS: &str = "sum_problems";
    pub const DELETE_ROLLUP_JOURNEYS_BEFORE: &str = "delete_rollup_journeys_before";
    pub const DELETE_ROLLUP_PROBLEMS_BEFORE: &str = "delete_rollup_problems_before";
    pub const INSERT_ZONES: &str = "insert_zones";
    pub const NET_ZONES: &str = "net_zones";
    pub const SUM_ZONES: &str = "sum_zones";
    pub const INSERT_SURVEYS: &str = "insert_surveys";
    pub const NET_SURVEYS: &str = "net_surveys";
    pub const SUM_SURVEYS: &str = "sum_surveys";
    pub const INSERT_REACH: &str = "insert_reach";
    pub const NET_REACH: &str = "net_reach";
    pub const SUM_REACH: &str = "sum_reach";
    pub const INSERT_GOAL: &str = "insert_goal";
    pub const NET_GOAL: &str = "net_goal";
    pub const INSERT_LIST: &str = "insert_list";
    pub const NET_LIST: &str = "net_list";
    pub const SUM_GOAL: &str = "sum_goal";
    pub const SEGMENT_SESSIONS: &str = "segment_sessions";
    pub const INSERT_SESSIONS: &str = "insert_sessions";
    pub const LIVE_SESSIONS: &str = "live_sessions";
    pub const READ_SESSIONS: &str = "read_sessions";
    pub const FUNNEL_SESSIONS: &str = "funnel_sessions";
    pub const ANSWER_COUNTS: &str = "answer_counts";
    pub const ANSWER_TEXTS: &str = "answer_texts";
    pub const FEEDBACK_GROUPS: &str = "feedback_groups";
    pub const FEEDBACK_RECENT: &str = "feedback_recent";
    pub const INSERT_SESSION_DETAILS: &str = "insert_session_details";
    pub const LIVE_SESSION_DETAILS: &str = "live_session_details";
    pub const READ_SESSION_DETAILS: &str = "read_session_details";
    pub const INSERT_ANSWERS: &str = "insert_answers";
    pub const LIVE_ANSWERS: &str = "live_answers";
    pub const READ_ANSWERS: &str = "read_answers";
    pub const INSERT_FEEDBACK: &str = "insert_feedback";
    pub const LIVE_FEEDBACK: &str = "live_feedback";
    pub const READ_FEEDBACK: &str = "read_feedback";
    pub const DELETE_ROLLUP_PAGES_BEFORE: &str = "delete_rollup_pages_before";
    pub const DELETE_ROLLUP_GRID_BEFORE: &str = "delete_rollup_grid_before";
    pub const DELETE_ROLLUP_ELEMENTS_BEFORE: &str = "delete_rollup_elements_before";
    pub const DELETE_ROLLUP_EL_CELLS_BEFORE: &str = "delete_rollup_el_cells_before";
    pub const DELETE_ROLLUP_SCROLL_BEFORE: &str = "delete_rollup_scroll_before";
    pub const DELETE_ROLLUP_ZONES_BEFORE: &str = "delete_rollup_zones_before";
    pub const DELETE_ROLLUP_SURVEYS_BEFORE: &str = "delete_rollup_surveys_before";
    pub const DELETE_ROLLUP_REACH_BEFORE: &str = "delete_rollup_reach_before";
    pub const DELETE_ROLLUP_GOAL_BEFORE: &str = "delete_rollup_goal_before";
    pub const DELETE_ROLLUP_LIST_BEFORE: &str = "delete_rollup_list_before";
    pub const DELETE_ROLLUP_SESSIONS_BEFORE: &str = "delete_rollup_sessions_before";
    pub const DELETE_ROLLUP_SESSION_DETAILS_BEFORE: &str = "delete_rollup_session_details_before";
    pub const DELETE_ROLLUP_ANSWERS_BEFORE: &str = "delete_rollup_answers_before";
    pub const DELETE_ROLLUP_FEEDBACK_BEFORE: &str = "delete_rollup_feedback_before";
    pub const ROLLUP_ROWS_BEFORE: &str = "rollup_rows_before";
    pub const DAY_ROWS_BEFORE: &str = "day_rows_before";
    pub const LISTED_SESSIONS: &str = "listed_sessions";
    pub const COUNT_LISTED: &str = "count_listed";
    pub const LISTED_CANDIDATES: &str = "listed_candidates";
    pub const INSERT_REPLAY_CHUNKS: &str = "insert_replay_chunks";
    pub const REPLAY_PARTS: &str = "replay_parts";
    pub const REPLAY_PART_META: &str = "replay_part_meta";
    pub const COUNT_VISITOR_REPLAY: &str = "count_visitor_replay";
    pub const DELETE_VISITOR_REPLAY: &str = "delete_visitor_replay";
    pub const COUNT_REPLAY_BEFORE: &str = "count_replay_before";
    pub const DELETE_REPLAY_BEFORE: &str = "delete_replay_before";
    pub const COUNT_EVENTS: &str = "count_events";
    pub const SITES: &str = "sites";
    pub const INSERT_SITES: &str = "insert_sites";
    pub const API_TOKENS: &str = "api_tokens";
    pub const INSERT_API_TOKENS: &str = "insert_api_tokens";
    pub const VISITOR_SESSIONS: &str = "visitor_sessions";
    pub const COUNT_VISITOR_EVENTS: &str = "count_visitor_events";
    pub const DELETE_VISITOR_EVENTS: &str = "delete_visitor_events";
    pub const COUNT_EVENTS_BEFORE: &str = "count_events_before";
    pub const DELETE_EVENTS_BEFORE: &str = "delete_events_before";
    pub const DELETE_SITE: &str = "delete_site";
    pub const DELETE_SITE_SESSION_MARKS: &str = "delete_site_session_marks";
    pub const DELETE_SITE_SESSION_STATE: &str = "delete_site_session_state";
    pub const FORGETS: &str = "forgets";
    pub const INSERT_FORGETS: &str = "insert_forgets";
    pub const PING: &str = "ping";

    /// All of the above.
    pub const ALL: &[&str] = &[
        CREATE_DATABASE,
        CREATE_SCHEMA_MIGRATIONS,
        APPLIED_MIGRATIONS,
        CREATE_MIGRATION_LOCK,
        MIGRATION_LOCK_AGE,
        DROP_MIGRATION_LOCK,
        INSERT_SCHEMA_MIGRATION,
        DESCRIBE_TABLE,
        EXISTING_IDS,
        INSERT_EVENTS,
        MARK_SESSIONS,
        NEXT_SITE_VERSION,
        INSERT_SESSION_MARKS,
        INSERT_SESSION_STATE,
        DIRTY_SESSIONS,
        OLDEST_DIRTY_MARK,
        DELETE_COVERED_MARKS,
        SESSIONS_IN_DAYS,
        STATED_SESSIONS,
        SESSION_EVENTS,
        ROLLUP_DAYS,
        INSERT_PAGES,
        NET_PAGES,
        SUM_PAGES,
        INSERT_GRID,
        NET_GRID,
        SUM_GRID,
        INSERT_ELEMENTS,
        NET_ELEMENTS,
        SUM_ELEMENTS,
        INSERT_EL_CELLS,
        NET_EL_CELLS,
        SUM_EL_CELLS,
        INSERT_SCROLL,
        NET_SCROLL,
        SUM_SCROLL,
        INSERT_JOURNEYS,
        NET_JOURNEYS,
        SUM_JOURNEYS,
        JOURNEY_ENDS,
        JOURNEY_TOTALS,
        JOURNEY_TOP,
        INSERT_PROBLEMS,
        NET_PROBLEMS,
        SUM_PROBLEMS,
        INSERT_ZONES,
        NET_ZONES,
        SUM_ZONES,
        INSERT_SURVEYS,
        NET_SURVEYS,
        SUM_SURVEYS,
        INSERT_REACH,
        NET_REACH,
        SUM_REACH,
        INSERT_GOAL,
        NET_GOAL,
        INSERT_LIST,
        NET_LIST,
        SUM_GOAL,
        SEGMENT_SESSIONS,
        INSERT_SESSIONS,
        LIVE_SESSIONS,
        READ_SESSIONS,
        FUNNEL_SESSIONS,
        ANSWER_COUNTS,
        ANSWER_TEXTS,
        FEEDBACK_GROUPS,
        FEEDBACK_RECENT,
        INSERT_SESSION_DETAILS,
        LIVE_SESSION_DETAILS,
        READ_SESSION_DETAILS,
        INSERT_ANSWERS,
        LIVE_ANSWERS,
        READ_ANSWERS,
        INSERT_FEEDBACK,
        LIVE_FEEDBACK,
        READ_FEEDBACK,
        DELETE_ROLLUP_PAGES_BEFORE,
        DELETE_ROLLUP_GRID_BEFORE,
        DELETE_ROLLUP_ELEMENTS_BEFORE,
        DELETE_ROLLUP_EL_CELLS_BEFORE,
        DELETE_ROLLUP_SCROLL_BEFORE,
        DELETE_ROLLUP_JOURNEYS_BEFORE,
        DELETE_ROLLUP_PROBLEMS_BEFORE,
        DELETE_ROLLUP_ZONES_BEFORE,
        DELETE_ROLLUP_SURVEYS_BEFORE,
        DELETE_ROLLUP_REACH_BEFORE,
        DELETE_ROLLUP_GOAL_BEFORE,
        DELETE_ROLLUP_LIST_BEFORE,
        DELETE_ROLLUP_SESSIONS_BEFORE,
        DELETE_ROLLUP_SESSION_DETAILS_BEFORE,
        DELETE_ROLLUP_ANSWERS_BEFORE,
        DELETE_ROLLUP_FEEDBACK_BEFORE,
        ROLLUP_ROWS_BEFORE,
        DAY_ROWS_BEFORE,
        LISTED_SESSIONS,
        COUNT_LISTED,
        LISTED_CANDIDATES,
        INSERT_REPLAY_CHUNKS,
        REPLAY_PARTS,
        REPLAY_PART_META,
        COUNT_VISITOR_REPLAY,
        DELETE_VISITOR_REPLAY,
        COUNT_REPLAY_BEFORE,
        DELETE_REPLAY_BEFORE,
        COUNT_EVENTS,
        SITES,
        INSERT_SITES,
        API_TOKENS,
        INSERT_API_TOKENS,
        VISITOR_SESSIONS,
        COUNT_VISITOR_EVENTS,
        DELETE_VISITOR_EVENTS,
        COUNT_EVENTS_BEFORE,
        DELETE_EVENTS_BEFORE,
        DELETE_SITE,
        DELETE_SITE_SESSION_MARKS,
        DELETE_SITE_SESSION_STATE,
        FORGETS,
        INSERT_FORGETS,
        RUNNING_ROLLUP_WRITES,
        PING,
    ];
}

/// One block of `queries.sql`.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub name: String,
    /// The SQL with `?` placeholders, without the final `;` ("" for an insert).
    pub sql: String,
    /// Sample SQL literals for the placeholders, in order (`-- arg:`).
    pub args: Vec<String>,
    /// Declared result columns (`-- returns:`), name and ClickHouse type.
    pub returns: Vec<(String, String)>,
    /// Target table of a RowBinary insert (`-- insert:`).
    pub insert: Option<String>,
    /// Columns of that insert (`-- columns:`).
    pub columns: Vec<(String, String)>,
}

impl Statement {
    /// The SQL with the sample arguments substituted for the placeholders, as the checks run it.
    pub fn sample_sql(&self) -> String {
        let mut parts = self.sql.split('?');
        let mut out = parts.next().unwrap_or_default().to_string();
        for (arg, rest) in self.args.iter().zip(parts) {
            out.push_str(arg);
            out.push_str(rest);
        }
        out
    }
}

fn parse_columns(s: &str) -> Result<Vec<(String, String)>, String> {
    s.split(',')
        .map(|c| {
            let c = c.trim();
            let (n, t) = c
                .split_once(char::is_whitespace)
                .ok_or_else(|| format!("column {c:?} needs a name and a type"))?;
            Ok((n.to_string(), t.trim().to_string()))
        })
        .collect()
}

/// Parse the format of `queries.sql` (same rules as `tests/chdb/check.py`).
pub fn parse_queries(text: &str) -> Result<Vec<Statement>, String> {
    let mut out: Vec<Statement> = Vec::new();
    let mut body: Vec<Vec<&str>> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some(h) = t.strip_prefix("--") {
            let h = h.trim_start();
            let header = ["name", "arg", "returns", "insert", "columns"]
                .into_iter()
                .find_map(|k| {
                    h.strip_prefix(k)
                        .and_then(|r| r.strip_prefix(':'))
                        .map(|v| (k, v.trim()))
                });
            match header {
                Some(("name", v)) => {
                    out.push(Statement {
                        name: v.to_string(),
                        sql: String::new(),
                        args: Vec::new(),
                        returns: Vec::new(),
                        insert: None,
                        columns: Vec::new(),
                    });
                    body.push(Vec::new());
                }
                Some((k, v)) => {
                    let cur = out
                        .last_mut()
                        .ok_or_else(|| format!("`-- {k}:` before any `-- name:`"))?;
                    match k {
                        "arg" => cur.args.push(v.to_string()),
                        "returns" => cur.returns = parse_columns(v)?,
                        "insert" => cur.insert = Some(v.to_string()),
                        _ => cur.columns = parse_columns(v)?,
                    }
                }
                None => {}
            }
            continue;
        }
        if let Some(b) = body.last_mut() {
            if !t.is_empty() {
                b.push(line);
            }
        }
    }
    for (st, b) in out.iter_mut().zip(body) {
        let sql = b.join("\n");
        let sql = sql.trim();
        st.sql = sql.strip_suffix(';').unwrap_or(sql).trim_end().to_string();
        if st.insert.is_some() != st.sql.is_empty() {
            return Err(format!(
                "{}: an insert has `-- insert:` and no SQL, anything else SQL",
                st.name
            ));
        }
        if st.insert.is_some() && st.columns.is_empty() {
            return Err(format!("{}: an insert needs `-- columns:`", st.name));
        }
        if st.sql.matches('?').count() != st.args.len() {
            return Err(format!(
                "{}: {} placeholders but {} sample args",
                st.name,
                st.sql.matches('?').count(),
                st.args.len()
            ));
        }
    }
    Ok(out)
}

/// Split a migration into statements: whole-line `--` comments are dropped and a statement
/// ends at a line ending in `;` (the rule `tests/chdb/check.py` uses too).
pub fn split_statements(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Vec<&str> = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("--") {
            continue;
        }
        cur.push(line);
        if line.trim_end().ends_with(';') {
            let s = cur.join("\n");
            let s = s.trim().trim_end_matches(';').trim();
            if !s.is_empty() {
                out.push(s.to_string());
            }
            cur.clear();
        }
    }
    let rest = cur.join("\n");
    assert!(rest.trim().is_empty(), "a migration ends with a statement without `;`");
    out
}

/// Every statement of `queries.sql`, parsed once.
pub fn statements() -> &'static [Statement] {
    static PARSED: OnceLock<Vec<Statement>> = OnceLock::new();
    PARSED.get_or_init(|| parse_queries(QUERIES_SQL).expect("queries.sql is well-formed (unit-tested)"))
}

/// The statement called `name`. Panics on an unknown name (every name in [`name::ALL`] is
/// unit-tested to exist).
pub fn get(name: &str) -> &'static Statement {
    static BY_NAME: OnceLock<HashMap<&'static str, &'static Statement>> = OnceLock::new();
    BY_NAME
        .get_or_init(|| statements().iter().map(|s| (s.name.as_str(), s)).collect())
        .get(name)
        .copied()
        .unwrap_or_else(|| panic!("queries.sql has no statement {name:?}"))
}

/// The SQL of the statement called `name`.
pub fn sql(name: &str) -> &'static str {
    &get(name).sql
}

mod compose;
pub use compose::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_sql_parses_and_every_used_name_exists() {
        let all = parse_queries(QUERIES_SQL).unwrap();
        for n in name::ALL {
            assert!(all.iter().any(|s| s.name == *n), "{n} missing from queries.sql");
        }
        for s in &all {
            assert!(
                name::ALL.contains(&s.name.as_str()),
                "{} is not used by the Rust code",
                s.name
            );
            assert!(!s.sql.contains("??"), "{}: `??` is not supported by the checks", s.name);
        }
    }

    #[test]
    fn migrations_list_every_file_of_the_folder_in_order() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/warehouse/clickhouse/migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|f| f.ends_with(".sql"))
            .collect();
        files.sort();
        let listed: Vec<&str> = MIGRATIONS.iter().map(|m| m.name).collect();
        assert_eq!(
            files, listed,
            "MIGRATIONS must list every file of migrations/, in order"
        );
        for w in MIGRATIONS.windows(2) {
            assert!(w[0].version < w[1].version);
        }
        for m in MIGRATIONS {
            assert!(
                m.name.starts_with(&format!("{:04}_", m.version)),
                "{} vs {}",
                m.name,
                m.version
            );
            assert!(!m.statements().is_empty());
        }
    }

    #[test]
    fn statements_split_on_line_final_semicolons_and_skip_comment_lines() {
        let v = split_statements("-- a; comment\nCREATE TABLE a (x UInt8)\nENGINE = Memory;\n\n-- b\nSELECT 1;\n");
        assert_eq!(v, vec!["CREATE TABLE a (x UInt8)\nENGINE = Memory", "SELECT 1"]);
    }

    #[test]
    fn sample_sql_substitutes_args_in_order() {
        let s = get(name::SESSIONS_IN_DAYS);
        let q = s.sample_sql();
        assert!(!q.contains('?'));
        assert!(
            q.contains("day >= toDate('2024-05-01') AND day <= toDate('2024-05-03')"),
            "{q}"
        );
    }
}
