//! The rollup tables of the SQLite warehouse: one table per part, one row per (session,
//! day, device, bot, key), typed columns. Replacing a session's rows is a delete and an
//! insert in the caller's transaction. Additive parts also keep day totals per (day, device,
//! bot, key) ([`day_table`]): in the same transaction the session's old rows are taken out
//! and its new rows added in by SQL, so reads cost what a day has distinct keys, whatever
//! its traffic (see [`crate::warehouse`]).
//!
//! Each part is described once ([`TABLES`]): its key columns and its counters (additive
//! parts) or its columns (per-session parts). The SQL of every statement is built from that
//! description, and [`encode`] / [`decode`] map the rollup row types to and from column
//! values in the same order.

mod decode;
mod encode;
mod tables;

pub use decode::*;
pub use encode::*;
pub use tables::TABLES;

use crate::model::feedback::VocCounts;
use crate::model::rows::{DayRollup, SessionDetailRow};
use crate::model::segment::SegmentFilter;
use crate::warehouse::Part;
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Transaction};

/// One stored part: table name, key columns and counters (additive) or plain columns.
pub struct Table {
    pub part: Part,
    pub name: &'static str,
    /// Columns after (site, session_id, day, device, bot) that identify a row.
    pub keys: &'static [&'static str],
    /// Counters summed at read time (additive parts) or the remaining columns.
    pub values: &'static [&'static str],
    /// Whether reads sum `values` per (day, device, bot, keys).
    pub additive: bool,
    /// Additive parts: a (time, value) pair of columns after `values` that is not summed but
    /// keeps the most recent value (largest time, then greatest value): the element's text
    /// ([`crate::model::rows::ElementRow::offer_text`]).
    pub latest: Option<(&'static str, &'static str)>,
}

/// Columns every rollup table starts with.
const LEAD: [&str; 5] = ["site", "session_id", "day", "device", "bot"];

/// The columns of a rollup table, in order.
pub fn table_columns(t: &Table) -> Vec<&'static str> {
    LEAD.iter()
        .chain(t.keys)
        .chain(t.values)
        .chain(&latest_columns(t))
        .copied()
        .collect()
}

/// The [`Table::latest`] columns, time first.
fn latest_columns(t: &Table) -> Vec<&'static str> {
    t.latest.map(|(ts, v)| vec![ts, v]).unwrap_or_default()
}

/// `CREATE TABLE` and index statements of every rollup table, and of the day totals of the
/// additive ones.
pub fn schema() -> String {
    let mut s = String::new();
    for t in TABLES {
        let cols = table_columns(t);
        s.push_str(&format!(
            "CREATE TABLE IF NOT EXISTS {} ({});\n\
             CREATE INDEX IF NOT EXISTS {0}_session ON {0} (site, session_id);\n",
            t.name,
            cols.join(", "),
        ));
        if t.additive {
            let key: Vec<&str> = DAY_KEY.iter().chain(t.keys).copied().collect();
            let cols: Vec<&str> = key.iter().chain(t.values).chain(&latest_columns(t)).copied().collect();
            s.push_str(&format!(
                "CREATE TABLE IF NOT EXISTS {} ({}, PRIMARY KEY ({})) WITHOUT ROWID;\n",
                day_table(t),
                cols.join(", "),
                key.join(", "),
            ));
        } else {
            s.push_str(&format!(
                "CREATE INDEX IF NOT EXISTS {0}_day ON {0} (site, day);\n",
                t.name
            ));
        }
    }
    // The sessions list ([`list_sessions`]): newest first within a range of starts, its
    // filters answered from the index alone.
    s.push_str(
        "CREATE INDEX IF NOT EXISTS r_sessions_list ON r_sessions \
         (site, start, session_key, n_pages, device, bot, page_rage, page_dead, feedback);\n",
    );
    s
}

/// Columns that key a row of a day-totals table, before the part's own keys.
const DAY_KEY: [&str; 4] = ["site", "day", "device", "bot"];

/// The day-totals table of an additive part: its rows summed over sessions per (site, day,
/// device, bot, key), kept up to date by [`replace`] (a session's old rows out, its new rows
/// in), so that reads cost what the day has distinct keys, not sessions.
pub fn day_table(t: &Table) -> String {
    t.name.replacen("r_", "d_", 1)
}

/// The write statements of one table, built once from its description.
struct WriteSql {
    name: &'static str,
    /// Insert one row: (site, session_id, day, device, bot, keys…, values…).
    insert: String,
    /// Delete a session's rows: `?1` site, `?2` session id.
    delete: String,
    /// Additive tables: add `?3` (1 or -1) times a session's rows (`?1`, `?2`) to the day
    /// totals.
    add_to_day: Option<String>,
    /// Tables with [`Table::latest`]: the day keys (without site) of a session's rows (`?1`,
    /// `?2`) that carry a value.
    latest_keys: Option<String>,
    /// Tables with [`Table::latest`]: a day total (`?1` site, then its day key) whose value
    /// was cleared and not put back takes the most recent value of the sessions' rows left.
    /// Rare (an erasure); it reads the site's rows of the table.
    refill_latest: Option<String>,
}

static WRITE_SQL: std::sync::LazyLock<Vec<WriteSql>> = std::sync::LazyLock::new(|| {
    TABLES
        .iter()
        .map(|t| {
            let cols = table_columns(t);
            let marks: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
            let key: Vec<&str> = DAY_KEY.iter().chain(t.keys).copied().collect();
            let mut values: Vec<&str> = t.values.to_vec();
            let mut signed: Vec<String> = t.values.iter().map(|v| format!("?3 * {v}")).collect();
            let mut set: Vec<String> = t.values.iter().map(|v| format!("{v} = {v} + excluded.{v}")).collect();
            if let Some((ts, v)) = t.latest {
                // Adding a session: its value replaces a less recent one. Taking a session
                // out: a value that came from it is cleared (its next rows, never older,
                // put it back; an erased session's text does not stay).
                let newer = format!("?3 > 0 AND (excluded.{ts} > {ts} OR (excluded.{ts} = {ts} AND excluded.{v} > {v}))");
                let from_it = format!("?3 < 0 AND excluded.{ts} = {ts} AND excluded.{v} = {v}");
                set.push(format!(
                    "{ts} = CASE WHEN {newer} THEN excluded.{ts} WHEN {from_it} THEN 0 ELSE {ts} END"
                ));
                set.push(format!(
                    "{v} = CASE WHEN {newer} THEN excluded.{v} WHEN {from_it} THEN '' ELSE {v} END"
                ));
                values.extend([ts, v]);
                signed.extend([ts.to_string(), v.to_string()]);
            }
            let day_key: Vec<&str> = key[1..].to_vec();
            let latest_keys = t.latest.map(|(_, v)| {
                format!(
                    "SELECT DISTINCT {} FROM {} WHERE site = ?1 AND session_id = ?2 AND {v} != ''",
                    day_key.join(", "),
                    t.name
                )
            });
            let refill_latest = t.latest.map(|(ts, v)| {
                let matches: Vec<String> = day_key
                    .iter()
                    .enumerate()
                    .map(|(i, k)| format!("{k} = ?{}", i + 2))
                    .collect();
                let inner: Vec<String> = day_key.iter().map(|k| format!("r.{k} = d.{k}")).collect();
                format!(
                    "UPDATE {d} AS d SET ({ts}, {v}) = (SELECT {ts}, {v} FROM {r} AS r WHERE r.site = d.site AND {inner} \
                     ORDER BY {ts} DESC, {v} DESC LIMIT 1) WHERE site = ?1 AND {m} AND {ts} = 0 \
                     AND EXISTS (SELECT 1 FROM {r} AS r WHERE r.site = d.site AND {inner} AND r.{v} != '')",
                    d = day_table(t),
                    r = t.name,
                    inner = inner.join(" AND "),
                    m = matches.join(" AND "),
                )
            });
            WriteSql {
                latest_keys,
                refill_latest,
                name: t.name,
                insert: format!(
                    "INSERT INTO {} ({}) VALUES ({})",
                    t.name,
                    cols.join(", "),
                    marks.join(", ")
                ),
                delete: format!("DELETE FROM {} WHERE site = ?1 AND session_id = ?2", t.name),
                add_to_day: t.additive.then(|| {
                    format!(
                        "INSERT INTO {} ({}, {}) SELECT {}, {} FROM {} WHERE site = ?1 AND session_id = ?2 AND 1 \
                         ON CONFLICT ({}) DO UPDATE SET {}",
                        day_table(t),
                        key.join(", "),
                        values.join(", "),
                        key.join(", "),
                        signed.join(", "),
                        t.name,
                        key.join(", "),
                        set.join(", "),
                    )
                }),
            }
        })
        .collect()
});

fn write_sql(t: &Table) -> &'static WriteSql {
    WRITE_SQL
        .iter()
        .find(|w| w.name == t.name)
        .expect("every table has its statements")
}

/// Add (`sign` 1) or take out (`sign` -1) the rows of one session of an additive table in its
/// day totals.
fn add_to_day(tx: &Transaction, t: &Table, site: &str, session: &str, sign: i64) -> anyhow::Result<()> {
    if let Some(sql) = &write_sql(t).add_to_day {
        tx.prepare_cached(sql)?
            .execute(rusqlite::params![site, session, sign])?;
    }
    Ok(())
}

fn table_of(part: Part) -> &'static Table {
    TABLES.iter().find(|t| t.part == part).expect("every part has a table")
}

/// Replace the rows of `sessions` of `site` with `rows` (session id → its rows), inside `tx`.
pub fn replace(
    tx: &Transaction,
    site: &str,
    sessions: &[String],
    rows: &[crate::model::rows::SessionRollup],
) -> anyhow::Result<()> {
    // Day-total keys whose latest value came from a session taken out (cleared by
    // `add_to_day`); usually the session's new rows put it back, else it is found again
    // among the other sessions' rows below.
    let mut cleared: Vec<(&Table, Vec<Value>)> = Vec::new();
    for t in TABLES {
        let mut del = tx.prepare_cached(&write_sql(t).delete)?;
        for s in sessions {
            if let (Some(sql), Some(_)) = (&write_sql(t).latest_keys, t.latest) {
                let mut st = tx.prepare_cached(sql)?;
                let mut rows = st.query(rusqlite::params![site, s])?;
                while let Some(r) = rows.next()? {
                    let key = (0..DAY_KEY.len() - 1 + t.keys.len())
                        .map(|i| r.get::<_, Value>(i))
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    cleared.push((t, key));
                }
            }
            add_to_day(tx, t, site, s, -1)?;
            del.execute(rusqlite::params![site, s])?;
        }
    }
    for sr in rows {
        for (t, values) in encode(&sr.rows) {
            let all = [text(site), text(&sr.session_id)].into_iter().chain(values);
            tx.prepare_cached(&write_sql(t).insert)?
                .execute(params_from_iter(all))?;
        }
        for t in TABLES {
            add_to_day(tx, t, site, &sr.session_id, 1)?;
        }
    }
    for (t, key) in cleared {
        if let Some(sql) = &write_sql(t).refill_latest {
            let all = [text(site)].into_iter().chain(key);
            tx.prepare_cached(sql)?.execute(params_from_iter(all))?;
        }
    }
    Ok(())
}

/// [`crate::warehouse::Warehouse::voc_counts`] of a range without a segment or a page,
/// counted by SQL as [`VocCounts::of_rows`] counts the rows (by the tables' day index).
pub fn voc_counts(c: &rusqlite::Connection, q: &crate::warehouse::RollupQuery) -> anyhow::Result<VocCounts> {
    debug_assert!(q.segment.is_empty() && q.page.is_none());
    let (answers, negative_feedback) = c.prepare_cached(VOC_COUNTS)?.query_row(
        rusqlite::params![q.site, q.from_day, q.to_day, crate::event::NEGATIVE_RATING_MAX],
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
    )?;
    Ok(VocCounts {
        answers: answers as u64,
        negative_feedback: negative_feedback as u64,
    })
}

/// The answers and the negative feedback of site `?1` on the days `[?2, ?3)`, bot sessions
/// left out; `?4`: the highest negative rating.
const VOC_COUNTS: &str = "SELECT
    (SELECT count(*) FROM r_answers WHERE site = ?1 AND day >= ?2 AND day < ?3 AND bot = 0),
    (SELECT count(*) FROM r_feedback WHERE site = ?1 AND day >= ?2 AND day < ?3 AND bot = 0 AND rating <= ?4)";

/// One page of the sessions list without a page or element filter (see
/// [`crate::warehouse::SessionsQuery`]), answered by SQL on `r_sessions`: its filter columns
/// give the same test as [`crate::model::rows::zones::session_matches`] does on the detail rows
/// (a listed session has a page; rage / dead: on some page; feedback: in the session), so
/// the total is a count and the page an `ORDER BY … LIMIT`; only the page's detail rows are
/// read.
pub fn list_sessions(
    c: &rusqlite::Connection,
    q: &crate::warehouse::SessionsQuery,
) -> anyhow::Result<crate::warehouse::SessionList> {
    use crate::model::session_filter::Has;
    debug_assert!(q.filter.page.is_none() && q.filter.selector.is_none());
    let mut cond = String::from(
        "site = ?1 AND start >= ?2 AND start < ?3 AND n_pages > 0 AND (?4 IS NULL OR device = ?4) AND (?5 OR bot = 0)",
    );
    for h in &q.filter.has {
        cond.push_str(match h {
            Has::Rage => " AND page_rage > 0",
            Has::Dead => " AND page_dead > 0",
            Has::Feedback => " AND feedback > 0",
        });
    }
    // The segment's columns are the session row's own.
    for (i, (d, _)) in q.segment.conds.iter().enumerate() {
        cond.push_str(&format!(" AND {} = ?{}", d.name(), 9 + i));
    }
    let seg_values: Vec<Value> = q.segment.conds.iter().map(|(_, v)| Value::Text(v.clone())).collect();
    let device = q.device.map(|d| d.as_str());
    let (before_start, before_key) = match &q.before {
        Some((start, key)) => (Some(*start), Some(key.as_str())),
        None => (None, None),
    };
    let opt_text = |v: Option<&str>| v.map_or(Value::Null, |s| Value::Text(s.to_string()));
    let params: Vec<Value> = [
        Value::Text(q.site.clone()),
        Value::Integer(q.from_day),
        Value::Integer(q.to_day),
        opt_text(device),
        Value::Integer(i64::from(q.bots)),
        before_start.map_or(Value::Null, Value::Integer),
        opt_text(before_key),
        Value::Integer((q.limit + 1) as i64),
    ]
    .into_iter()
    .chain(seg_values)
    .collect();
    // The count reads only ?1..?5 and the segment's ?9…: the others are bound and unused.
    let total: i64 = c
        .prepare_cached(&format!(
            "SELECT count(*) FROM r_sessions WHERE {cond} AND (?6 IS NULL OR ?7 IS NULL OR ?8 > 0)"
        ))?
        .query_row(params_from_iter(params.iter()), |r| r.get(0))?;
    let sessions_t = table_of(Part::Sessions);
    let details_t = table_of(Part::SessionDetails);
    let mut out = DayRollup::default();
    let mut cells = Vec::new();
    let mut ids = Vec::new();
    {
        let mut st = c.prepare_cached(&format!(
            "SELECT {}, session_id FROM r_sessions WHERE {cond} AND (?6 IS NULL OR (start, session_key) < (?6, ?7)) \
             ORDER BY start DESC, session_key DESC LIMIT ?8",
            columns(sessions_t).join(", ")
        ))?;
        let mut rows = st.query(params_from_iter(params.iter()))?;
        let n = columns(sessions_t).len();
        while let Some(row) = rows.next()? {
            let values: Vec<Value> = (0..n)
                .map(|i| row.get::<_, Value>(i))
                .collect::<rusqlite::Result<_>>()?;
            decode(sessions_t, &values, &mut out, &mut cells)?;
            ids.push(row.get::<_, String>(n)?);
        }
    }
    let more = out.sessions.len() > q.limit;
    out.sessions.truncate(q.limit);
    let mut st = c.prepare_cached(&format!(
        "SELECT {} FROM r_session_details WHERE site = ?1 AND session_id = ?2 AND session_key = ?3",
        columns(details_t).join(", ")
    ))?;
    let n = columns(details_t).len();
    let keys: Vec<String> = out.sessions.iter().map(|s| s.session_key.clone()).collect();
    for (key, id) in keys.iter().zip(&ids) {
        let mut rows = st.query(rusqlite::params![q.site, id, key])?;
        if let Some(row) = rows.next()? {
            let values: Vec<Value> = (0..n)
                .map(|i| row.get::<_, Value>(i))
                .collect::<rusqlite::Result<_>>()?;
            decode(details_t, &values, &mut out, &mut cells)?;
        }
    }
    let mut details: std::collections::HashMap<String, SessionDetailRow> = std::mem::take(&mut out.session_details)
        .into_iter()
        .map(|d| (d.session_key.clone(), d))
        .collect();
    let sessions = out
        .sessions
        .into_iter()
        .filter_map(|s| details.remove(&s.session_key).map(|d| (s, d)))
        .collect();
    Ok(crate::warehouse::SessionList {
        total: total as usize,
        sessions,
        more,
    })
}

/// The columns a read selects from a table, in [`decode`] order: day, device, bot, keys,
/// values, latest.
fn columns(t: &Table) -> Vec<&'static str> {
    ["day", "device", "bot"]
        .iter()
        .chain(t.keys)
        .chain(t.values)
        .chain(&latest_columns(t))
        .copied()
        .collect()
}

/// The semi-join of a segment filter on a table with a `session_id` column: ` AND
/// session_id IN (SELECT session_id FROM r_sessions WHERE …)`, its parameters numbered from
/// `?{first}` (the lookback start, then one value per condition; `?1` is the site and `?3`
/// the range end in every read) and their values. Empty for an empty filter.
fn segment_clause(seg: &SegmentFilter, from_day: i64, first: usize) -> (String, Vec<Value>) {
    if seg.is_empty() {
        return (String::new(), Vec::new());
    }
    let mut sql = format!(
        " AND session_id IN (SELECT session_id FROM r_sessions WHERE site = ?1 AND day >= ?{first} AND day < ?3"
    );
    let mut values = vec![Value::Integer(
        from_day - seg.lookback_days * crate::model::rows::DAY_MS,
    )];
    for (i, (d, v)) in seg.conds.iter().enumerate() {
        sql.push_str(&format!(" AND {} = ?{}", d.name(), first + 1 + i));
        values.push(Value::Text(v.clone()));
    }
    sql.push(')');
    (sql, values)
}

/// Read the rows of `parts` for a query (see [`crate::warehouse::RollupQuery`]). Without a
/// segment filter, additive parts come from the day totals; with one, from the per-session
/// rows of the segment's sessions, summed per (day, device, bot, key).
pub fn read(c: &rusqlite::Connection, q: &crate::warehouse::RollupQuery) -> anyhow::Result<DayRollup> {
    let mut out = DayRollup::default();
    let segmented = !q.segment.is_empty();
    let (seg_sql, seg_values) = segment_clause(&q.segment, q.from_day, 5);
    let mut cells = Vec::new();
    for t in TABLES {
        let part = t.part;
        if !q.parts.contains(&part) {
            continue;
        }
        let keys = 3 + t.keys.len();
        let select = columns(t);
        let page = q.page.as_deref().filter(|_| part.is_page_level());
        // Only tables keyed by page have a page column to filter on.
        let by_page = t.keys.first() == Some(&"page");
        let by_page_sql = if by_page { " AND (?4 IS NULL OR page = ?4)" } else { "" };
        let sql = if segmented && t.additive {
            let group: Vec<&str> = select[..keys].to_vec();
            // Latest-value columns: the value of the row with the latest time (SQLite takes a
            // bare column from the row that gave the query's one max()).
            let sums: Vec<String> = t
                .values
                .iter()
                .map(|v| format!("sum({v})"))
                .chain(t.latest.map(|(ts, v)| format!("max({ts}), {v}")))
                .collect();
            format!(
                "SELECT {}, {} FROM {} WHERE site = ?1 AND day >= ?2 AND day < ?3{by_page_sql}{seg_sql} GROUP BY {}",
                group.join(", "),
                sums.join(", "),
                t.name,
                group.join(", "),
            )
        } else {
            format!(
                "SELECT {} FROM {} WHERE site = ?1 AND day >= ?2 AND day < ?3{by_page_sql}{seg_sql}",
                select.join(", "),
                if t.additive && !segmented {
                    day_table(t)
                } else {
                    t.name.to_string()
                },
            )
        };
        let mut st = c.prepare_cached(&sql)?;
        let ncols = select.len();
        let mut params: Vec<Value> = vec![
            Value::Text(q.site.clone()),
            Value::Integer(q.from_day),
            Value::Integer(q.to_day),
        ];
        if by_page || segmented {
            params.push(page.map_or(Value::Null, |p| Value::Text(p.to_string())));
        }
        params.extend(seg_values.iter().cloned());
        let mut rows = st.query(params_from_iter(params))?;
        while let Some(row) = rows.next()? {
            let values: Vec<Value> = (0..ncols)
                .map(|i| row.get::<_, Value>(i))
                .collect::<rusqlite::Result<_>>()?;
            // A key whose sessions all went (totals back to 0); floats may keep a rounding
            // residue, so only the integer counters decide.
            if t.additive && values[keys..keys + t.values.len()].iter().all(is_zero) {
                continue;
            }
            decode(t, &values, &mut out, &mut cells)?;
        }
    }
    out.sort_rows();
    merge_el_cells(&mut out, cells);
    Ok(out)
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Integer(n) => *n == 0,
        Value::Real(_) | Value::Null => true,
        _ => false,
    }
}
