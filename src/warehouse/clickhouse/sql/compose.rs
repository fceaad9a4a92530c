//! Statements composed from those of `queries.sql` at run time: a segment's semi-join, the
//! day-total variant of an additive part's statement.

use super::*;

/// Where [`segmented`] puts the semi-join: the range condition every `sum_*` and `read_*`
/// statement starts its `WHERE` with.
const RANGE_WHERE: &str = "WHERE site = ? AND day >= ? AND day < ?";

/// The SQL of `op`, with `AND session_id IN (<segment_sessions>)` after its range condition
/// when `segment` has conditions (its placeholders then follow the range's three).
pub fn segmented(op: &'static str, segment: &crate::model::segment::SegmentFilter) -> std::borrow::Cow<'static, str> {
    let base = sql(op);
    if segment.is_empty() {
        return base.into();
    }
    debug_assert!(base.contains(RANGE_WHERE), "{op} has no range condition");
    base.replacen(
        RANGE_WHERE,
        &format!("{RANGE_WHERE} AND session_id IN ({})", sql(name::SEGMENT_SESSIONS)),
        1,
    )
    .into()
}

/// The per-session tables of the additive parts. Each has a day-total table `<name>_day`:
/// the same columns but `session_id`, fed by a materialized view from every row inserted
/// into it (migration `0011_day_totals.sql`; a unit test checks that they match).
pub const DAY_TOTAL_TABLES: [&str; 12] = [
    "rollup_pages",
    "rollup_grid",
    "rollup_elements",
    "rollup_el_cells",
    "rollup_scroll",
    "rollup_journeys",
    "rollup_problems",
    "rollup_zones",
    "rollup_surveys",
    "rollup_reach",
    "rollup_goal",
    "rollup_list",
];

/// Whether `table` stands at byte `i` of `sql` as a whole name (not part of a longer one).
fn names_at(sql: &str, table: &str, i: usize) -> bool {
    let part_of_name = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    !part_of_name(sql[..i].chars().next_back()) && !part_of_name(sql[i + table.len()..].chars().next())
}

/// The one table of [`DAY_TOTAL_TABLES`] SQL text `base` reads or changes, if it names
/// exactly one of them.
fn additive_table_in(base: &str) -> Option<&'static str> {
    let mut named = DAY_TOTAL_TABLES
        .iter()
        .copied()
        .filter(|t| base.match_indices(t).any(|(i, _)| names_at(base, t, i)));
    match (named.next(), named.next()) {
        (Some(t), None) => Some(t),
        _ => None,
    }
}

/// `base` with every whole-name use of `table` replaced by `<table>_day`.
fn on_day_table(base: &str, table: &str) -> String {
    let mut out = String::with_capacity(base.len() + 8);
    let mut last = 0;
    for (i, _) in base.match_indices(table).filter(|(i, _)| names_at(base, table, *i)) {
        out.push_str(&base[last..i]);
        out.push_str(table);
        out.push_str("_day");
        last = i + table.len();
    }
    out.push_str(&base[last..]);
    out
}

/// The day-total variant of statement `op`, if it is a `sum_*` read or a retention delete
/// (`delete_rollup_*_before`) of one additive part: its per-session table of
/// [`DAY_TOTAL_TABLES`] replaced by that table's day totals, the same sums (or delete) over
/// a day's few key rows instead of every session's. Composed once per statement, on first
/// use.
pub fn day_totals(op: &str) -> Option<&'static str> {
    static VARIANTS: OnceLock<HashMap<&'static str, String>> = OnceLock::new();
    VARIANTS
        .get_or_init(|| {
            statements()
                .iter()
                .filter(|s| s.name.starts_with("sum_") || s.name.starts_with("delete_rollup_"))
                .filter_map(|s| Some((s.name.as_str(), on_day_table(&s.sql, additive_table_in(&s.sql)?))))
                .collect()
        })
        .get(op)
        .map(String::as_str)
}

/// The SQL of a read over a range of days for `segment`: a `sum_*` of an additive part
/// without segment conditions reads the part's day totals ([`day_totals`]); everything else
/// reads as [`segmented`] says (the per-session table, narrowed to the segment's sessions
/// when there are conditions).
pub fn sums(op: &'static str, segment: &crate::model::segment::SegmentFilter) -> std::borrow::Cow<'static, str> {
    match day_totals(op) {
        Some(day) if segment.is_empty() => day.into(),
        _ => segmented(op, segment),
    }
}

/// `SELECT toUInt64(count()) AS rows FROM (<op>)`: how many rows statement `op` gives (its
/// placeholders unchanged).
pub fn count_of(op: &'static str) -> String {
    format!("SELECT toUInt64(count()) AS rows FROM ({})", sql(op))
}

/// One page of statement `op`, which gives `start_ts` and `session_key` columns: newest first
/// (by `start_ts`, then `session_key`, descending), strictly after a cursor, at most a
/// number of rows (a top-N sort). Its placeholders follow `op`'s: 1 to use the cursor (else
/// 0), the cursor's start twice and its key, then the row limit.
pub fn page_of(op: &'static str) -> String {
    format!(
        "SELECT * FROM ({}) WHERE (? = 0 OR start_ts < ? OR (start_ts = ? AND session_key < ?)) \
         ORDER BY start_ts DESC, session_key DESC LIMIT ?",
        sql(op)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_totals_read_the_day_table_of_their_part_only() {
        let pages = day_totals(name::SUM_PAGES).unwrap();
        assert!(pages.contains("FROM rollup_pages_day\n"), "{pages}");
        assert!(!pages.contains("rollup_pages\n"), "{pages}");
        // rollup_el_cells is not a prefix match of rollup_elements, nor the reverse.
        assert!(day_totals(name::SUM_ELEMENTS)
            .unwrap()
            .contains("FROM rollup_elements_day\n"));
        assert!(day_totals(name::SUM_EL_CELLS)
            .unwrap()
            .contains("FROM rollup_el_cells_day\n"));
        // Reads of per-session rows keep their table.
        let none = crate::model::segment::SegmentFilter::default();
        assert_eq!(sums(name::READ_SESSIONS, &none), sql(name::READ_SESSIONS));
        assert!(sums(name::SUM_GOAL, &none).contains("FROM rollup_goal_day\n"));
        let goal = day_totals(name::DELETE_ROLLUP_GOAL_BEFORE).unwrap();
        assert_eq!(goal, "ALTER TABLE rollup_goal_day DELETE WHERE site = ? AND day < ?");
        // The migrations from 0011 on create a day table and its view for exactly these
        // tables (0011 the first eleven, 0012 the sessions list's).
        let mut created: Vec<&str> = Vec::new();
        for m in MIGRATIONS.iter().filter(|m| m.version >= 11) {
            for t in m
                .text
                .lines()
                .filter_map(|l| l.strip_prefix("CREATE TABLE IF NOT EXISTS "))
                .filter_map(|t| t.trim().strip_suffix("_day"))
            {
                assert!(
                    m.text.contains(&format!(
                        "CREATE MATERIALIZED VIEW IF NOT EXISTS {t}_day_mv TO {t}_day AS"
                    )),
                    "{t}"
                );
                created.push(t);
            }
        }
        assert_eq!(created, DAY_TOTAL_TABLES.to_vec());
    }

    /// A migration after 0011 that drops a per-session additive table must also empty its
    /// day totals: the view stays attached to the name, the totals would keep the old rows,
    /// and the recompute would add the sessions again on top.
    #[test]
    fn a_later_migration_that_recreates_an_additive_table_empties_its_day_totals() {
        for m in MIGRATIONS.iter().filter(|m| m.version > 11) {
            for t in DAY_TOTAL_TABLES {
                let drops = m
                    .statements()
                    .iter()
                    .any(|st| st.starts_with("DROP TABLE") && st.split_whitespace().last() == Some(t));
                if drops {
                    assert!(
                        m.text.contains(&format!("TRUNCATE TABLE {t}_day;")),
                        "{} drops {t} but does not truncate {t}_day",
                        m.name
                    );
                }
            }
        }
    }
}
