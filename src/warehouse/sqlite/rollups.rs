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

use crate::event::{DeviceClass, SurveyKind};
use crate::model::rows::{
    AnswerRow, DayRollup, Dims, ElCell, ElementRow, FeedbackRow, GridRow, JourneyKind, JourneyRow, PageRow,
    ProblemKind, ProblemRow, ScrollRow, SessionDetailRow, SessionRow, SurveyRow, ZoneRow,
};
use crate::warehouse::Part;
use anyhow::{anyhow, Context};
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Transaction};

/// One stored part: table name, key columns and counters (additive) or plain columns.
pub struct Table {
    pub part: Stored,
    pub name: &'static str,
    /// Columns after (site, session_id, day, device, bot) that identify a row.
    pub keys: &'static [&'static str],
    /// Counters summed at read time (additive parts) or the remaining columns.
    pub values: &'static [&'static str],
    /// Whether reads sum `values` per (day, device, bot, keys).
    pub additive: bool,
}

/// What a table stores: a query [`Part`], or the in-element position cells of the elements
/// part (their own table, merged into [`ElementRow::el_cells`] on read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Part(Part),
    ElCells,
}

/// Every rollup table.
pub const TABLES: &[Table] = &[
    Table {
        part: Stored::Part(Part::Pages),
        name: "r_pages",
        keys: &["page"],
        values: &[
            "pageviews",
            "clicks",
            "quick_backs",
            "fold_n",
            "viewport_h_sum",
            "doc_h_sum",
        ],
        additive: true,
    },
    Table {
        part: Stored::Part(Part::Grid),
        name: "r_grid",
        keys: &["page", "cx", "cy"],
        values: &["count"],
        additive: true,
    },
    Table {
        part: Stored::Part(Part::Elements),
        name: "r_elements",
        keys: &["page", "selector", "zone"],
        values: &["clicks", "rage_clicks", "dead_clicks", "el_n", "el_x_sum", "el_y_sum"],
        additive: true,
    },
    Table {
        part: Stored::ElCells,
        name: "r_el_cells",
        keys: &["page", "selector", "zone", "x", "y"],
        values: &["count"],
        additive: true,
    },
    Table {
        part: Stored::Part(Part::Scroll),
        name: "r_scroll",
        keys: &["page", "depth"],
        values: &["pageviews"],
        additive: true,
    },
    Table {
        part: Stored::Part(Part::Zones),
        name: "r_zones",
        keys: &["page", "zone"],
        values: &[
            "exposed",
            "clicked",
            "exposed_clicked",
            "visible_ms_sum",
            "hovered",
            "hover_ms_sum",
            "hesitation_n",
            "hesitation_ms_sum",
            "click_sessions",
            "converted_sessions",
        ],
        additive: true,
    },
    Table {
        part: Stored::Part(Part::Surveys),
        name: "r_surveys",
        keys: &["survey_id", "question_id", "kind", "value"],
        values: &["responses"],
        additive: true,
    },
    Table {
        part: Stored::Part(Part::Journeys),
        name: "r_journeys",
        keys: &["kind", "from_page", "to_page"],
        values: &["count", "bounces"],
        additive: true,
    },
    Table {
        part: Stored::Part(Part::Problems),
        name: "r_problems",
        keys: &["kind", "page", "selector", "zone"],
        values: &["rage_clicks", "dead_clicks", "quick_backs", "sessions"],
        additive: true,
    },
    Table {
        part: Stored::Part(Part::Sessions),
        name: "r_sessions",
        keys: &["session_key"],
        values: &[
            "visitor_id",
            "start",
            "end_ts",
            "pageviews",
            "clicks",
            "rage_clicks",
            "dead_clicks",
            "quick_backs",
            "feedback",
            "survey_responses",
            "steps",
            "n_pages",
            "page_rage",
            "page_dead",
        ],
        additive: false,
    },
    Table {
        part: Stored::Part(Part::SessionDetails),
        name: "r_session_details",
        keys: &["session_key"],
        values: &["negative_feedback", "pages", "elements", "replays"],
        additive: false,
    },
    Table {
        part: Stored::Part(Part::Answers),
        name: "r_answers",
        keys: &["id"],
        values: &[
            "ts",
            "survey_id",
            "question_id",
            "kind",
            "value",
            "page",
            "session_key",
            "trigger",
        ],
        additive: false,
    },
    Table {
        part: Stored::Part(Part::Feedback),
        name: "r_feedback",
        keys: &["id"],
        values: &["ts", "page", "session_key", "rating", "comment", "category", "selector"],
        additive: false,
    },
];

/// Columns every rollup table starts with.
const LEAD: [&str; 5] = ["site", "session_id", "day", "device", "bot"];

/// The columns of a rollup table, in order.
pub fn table_columns(t: &Table) -> Vec<&'static str> {
    LEAD.iter().chain(t.keys).chain(t.values).copied().collect()
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
            let cols: Vec<&str> = key.iter().chain(t.values).copied().collect();
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
}

static WRITE_SQL: std::sync::LazyLock<Vec<WriteSql>> = std::sync::LazyLock::new(|| {
    TABLES
        .iter()
        .map(|t| {
            let cols = table_columns(t);
            let marks: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
            let key: Vec<&str> = DAY_KEY.iter().chain(t.keys).copied().collect();
            let signed: Vec<String> = t.values.iter().map(|v| format!("?3 * {v}")).collect();
            let set: Vec<String> = t.values.iter().map(|v| format!("{v} = {v} + excluded.{v}")).collect();
            WriteSql {
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
                        t.values.join(", "),
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

fn table_of(part: Stored) -> &'static Table {
    TABLES.iter().find(|t| t.part == part).expect("every part has a table")
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn int(n: impl Into<i64>) -> Value {
    Value::Integer(n.into())
}

fn json<T: serde::Serialize>(v: &T) -> Value {
    Value::Text(serde_json::to_string(v).expect("rollup value to JSON"))
}

fn lead(dims: &Dims) -> [Value; 3] {
    [int(dims.day), text(dims.device.as_str()), int(dims.bot)]
}

/// Column values (after site and session_id) of every row of `r`, per table.
pub fn encode(r: &DayRollup) -> Vec<(&'static Table, Vec<Value>)> {
    let mut out = Vec::new();
    let mut push = |part: Stored, dims: &Dims, rest: Vec<Value>| {
        let mut v: Vec<Value> = lead(dims).into();
        v.extend(rest);
        out.push((table_of(part), v));
    };
    let u = |n: u64| Value::Integer(n as i64);
    for p in &r.pages {
        push(
            Stored::Part(Part::Pages),
            &p.dims,
            vec![
                text(&p.page),
                u(p.pageviews),
                u(p.clicks),
                u(p.quick_backs),
                u(p.fold_n),
                u(p.viewport_h_sum),
                u(p.doc_h_sum),
            ],
        );
    }
    for g in &r.grid {
        push(
            Stored::Part(Part::Grid),
            &g.dims,
            vec![text(&g.page), int(g.cx), int(g.cy), u(g.count)],
        );
    }
    for e in &r.elements {
        push(
            Stored::Part(Part::Elements),
            &e.dims,
            vec![
                text(&e.page),
                text(&e.selector),
                text(&e.zone),
                u(e.clicks),
                u(e.rage_clicks),
                u(e.dead_clicks),
                u(e.el_n),
                Value::Real(e.el_x_sum),
                Value::Real(e.el_y_sum),
            ],
        );
        for c in &e.el_cells {
            push(
                Stored::ElCells,
                &e.dims,
                vec![
                    text(&e.page),
                    text(&e.selector),
                    text(&e.zone),
                    int(c.x),
                    int(c.y),
                    u(c.count),
                ],
            );
        }
    }
    for s in &r.scroll {
        push(
            Stored::Part(Part::Scroll),
            &s.dims,
            vec![text(&s.page), int(s.depth), u(s.pageviews)],
        );
    }
    for z in &r.zones {
        push(
            Stored::Part(Part::Zones),
            &z.dims,
            vec![
                text(&z.page),
                text(&z.zone),
                u(z.exposed),
                u(z.clicked),
                u(z.exposed_clicked),
                u(z.visible_ms_sum),
                u(z.hovered),
                u(z.hover_ms_sum),
                u(z.hesitation_n),
                u(z.hesitation_ms_sum),
                u(z.click_sessions),
                u(z.converted_sessions),
            ],
        );
    }
    for s in &r.surveys {
        push(
            Stored::Part(Part::Surveys),
            &s.dims,
            vec![
                text(&s.survey_id),
                text(&s.question_id),
                text(s.kind.as_str()),
                text(&s.value),
                u(s.responses),
            ],
        );
    }
    for j in &r.journeys {
        push(
            Stored::Part(Part::Journeys),
            &j.dims,
            vec![int(j.kind.code()), text(&j.from), text(&j.to), u(j.count), u(j.bounces)],
        );
    }
    for p in &r.problems {
        push(
            Stored::Part(Part::Problems),
            &p.dims,
            vec![
                int(p.kind.code()),
                text(&p.page),
                text(&p.selector),
                text(&p.zone),
                u(p.rage_clicks),
                u(p.dead_clicks),
                u(p.quick_backs),
                u(p.sessions),
            ],
        );
    }
    // The sessions list's filter columns ([`list_sessions`]), from the session's detail row.
    let details: std::collections::HashMap<(i64, &str), &SessionDetailRow> = r
        .session_details
        .iter()
        .map(|d| ((d.dims.day, d.session_key.as_str()), d))
        .collect();
    for s in &r.sessions {
        let d = details.get(&(s.dims.day, s.session_key.as_str()));
        let pages = d.map_or(&[][..], |d| &d.pages[..]);
        let page_sum =
            |f: fn(&crate::model::rows::SessionPage) -> u32| pages.iter().map(|p| i64::from(f(p))).sum::<i64>();
        push(
            Stored::Part(Part::Sessions),
            &s.dims,
            vec![
                text(&s.session_key),
                text(&s.visitor_id),
                int(s.start),
                int(s.end),
                int(s.pageviews),
                int(s.clicks),
                int(s.rage_clicks),
                int(s.dead_clicks),
                int(s.quick_backs),
                int(s.feedback),
                int(s.survey_responses),
                json(&s.steps),
                int(pages.len() as i64),
                int(page_sum(|p| p.rage_clicks)),
                int(page_sum(|p| p.dead_clicks)),
            ],
        );
    }
    for d in &r.session_details {
        push(
            Stored::Part(Part::SessionDetails),
            &d.dims,
            vec![
                text(&d.session_key),
                int(d.negative_feedback),
                json(&d.pages),
                json(&d.elements),
                json(&d.replays),
            ],
        );
    }
    for a in &r.answers {
        push(
            Stored::Part(Part::Answers),
            &a.dims,
            vec![
                text(&a.id),
                int(a.ts),
                text(&a.survey_id),
                text(&a.question_id),
                text(a.kind.as_str()),
                json(&a.value),
                text(&a.page),
                text(&a.session_key),
                text(&a.trigger),
            ],
        );
    }
    for f in &r.feedback {
        push(
            Stored::Part(Part::Feedback),
            &f.dims,
            vec![
                text(&f.id),
                int(f.ts),
                text(&f.page),
                text(&f.session_key),
                f.rating.map_or(Value::Null, int),
                text(&f.comment),
                text(&f.category),
                text(&f.selector),
            ],
        );
    }
    out
}

/// Reads values of one row, in column order, with the column's name in errors.
struct Cols<'a> {
    table: &'static str,
    v: std::slice::Iter<'a, Value>,
}

impl<'a> Cols<'a> {
    fn next(&mut self) -> anyhow::Result<&'a Value> {
        self.v.next().ok_or_else(|| anyhow!("{}: too few columns", self.table))
    }
    fn i(&mut self) -> anyhow::Result<i64> {
        match self.next()? {
            Value::Integer(n) => Ok(*n),
            Value::Real(x) => Ok(*x as i64),
            Value::Null => Ok(0),
            other => Err(anyhow!("{}: expected an integer, got {other:?}", self.table)),
        }
    }
    fn u(&mut self) -> anyhow::Result<u64> {
        Ok(self.i()?.max(0) as u64)
    }
    fn f(&mut self) -> anyhow::Result<f64> {
        match self.next()? {
            Value::Integer(n) => Ok(*n as f64),
            Value::Real(x) => Ok(*x),
            Value::Null => Ok(0.0),
            other => Err(anyhow!("{}: expected a number, got {other:?}", self.table)),
        }
    }
    fn s(&mut self) -> anyhow::Result<String> {
        match self.next()? {
            Value::Text(s) => Ok(s.clone()),
            other => Err(anyhow!("{}: expected text, got {other:?}", self.table)),
        }
    }
    fn json<T: serde::de::DeserializeOwned>(&mut self) -> anyhow::Result<T> {
        let t = self.s()?;
        serde_json::from_str(&t).with_context(|| format!("{}: a JSON column", self.table))
    }
    fn dims(&mut self) -> anyhow::Result<Dims> {
        let day = self.i()?;
        let device = self.s()?;
        Ok(Dims {
            day,
            device: DeviceClass::parse(&device).ok_or_else(|| anyhow!("{}: device {device:?}", self.table))?,
            bot: self.i()? != 0,
        })
    }
    fn kind(&mut self) -> anyhow::Result<SurveyKind> {
        let k = self.s()?;
        SurveyKind::parse(&k).ok_or_else(|| anyhow!("{}: survey kind {k:?}", self.table))
    }
}

/// Add one row read back (columns from `day` on, in [`TABLES`] order) to `r`. El cells go
/// to `cells`, keyed by their element, for [`merge_el_cells`].
pub fn decode(
    t: &Table,
    values: &[Value],
    r: &mut DayRollup,
    cells: &mut Vec<(Dims, String, String, String, ElCell)>,
) -> anyhow::Result<()> {
    let mut c = Cols {
        table: t.name,
        v: values.iter(),
    };
    let dims = c.dims()?;
    match t.part {
        Stored::Part(Part::Pages) => r.pages.push(PageRow {
            dims,
            page: c.s()?,
            pageviews: c.u()?,
            clicks: c.u()?,
            quick_backs: c.u()?,
            fold_n: c.u()?,
            viewport_h_sum: c.u()?,
            doc_h_sum: c.u()?,
        }),
        Stored::Part(Part::Grid) => r.grid.push(GridRow {
            dims,
            page: c.s()?,
            cx: c.u()? as u32,
            cy: c.u()? as u32,
            count: c.u()?,
        }),
        Stored::Part(Part::Elements) => r.elements.push(ElementRow {
            dims,
            page: c.s()?,
            selector: c.s()?,
            zone: c.s()?,
            clicks: c.u()?,
            rage_clicks: c.u()?,
            dead_clicks: c.u()?,
            el_n: c.u()?,
            el_x_sum: c.f()?,
            el_y_sum: c.f()?,
            el_cells: Vec::new(),
        }),
        Stored::ElCells => {
            let (page, selector, zone) = (c.s()?, c.s()?, c.s()?);
            let cell = ElCell {
                x: c.u()? as u8,
                y: c.u()? as u8,
                count: c.u()?,
            };
            cells.push((dims, page, selector, zone, cell));
        }
        Stored::Part(Part::Scroll) => r.scroll.push(ScrollRow {
            dims,
            page: c.s()?,
            depth: c.u()? as u32,
            pageviews: c.u()?,
        }),
        Stored::Part(Part::Zones) => r.zones.push(ZoneRow {
            dims,
            page: c.s()?,
            zone: c.s()?,
            exposed: c.u()?,
            clicked: c.u()?,
            exposed_clicked: c.u()?,
            visible_ms_sum: c.u()?,
            hovered: c.u()?,
            hover_ms_sum: c.u()?,
            hesitation_n: c.u()?,
            hesitation_ms_sum: c.u()?,
            click_sessions: c.u()?,
            converted_sessions: c.u()?,
        }),
        Stored::Part(Part::Surveys) => r.surveys.push(SurveyRow {
            dims,
            survey_id: c.s()?,
            question_id: c.s()?,
            kind: c.kind()?,
            value: c.s()?,
            responses: c.u()?,
        }),
        Stored::Part(Part::Journeys) => r.journeys.push(JourneyRow {
            dims,
            kind: {
                let k = c.u()?;
                JourneyKind::from_code(k as u8).ok_or_else(|| anyhow!("r_journeys: kind {k}"))?
            },
            from: c.s()?,
            to: c.s()?,
            count: c.u()?,
            bounces: c.u()?,
        }),
        Stored::Part(Part::Problems) => r.problems.push(ProblemRow {
            dims,
            kind: {
                let k = c.u()?;
                ProblemKind::from_code(k as u8).ok_or_else(|| anyhow!("r_problems: kind {k}"))?
            },
            page: c.s()?,
            selector: c.s()?,
            zone: c.s()?,
            rage_clicks: c.u()?,
            dead_clicks: c.u()?,
            quick_backs: c.u()?,
            sessions: c.u()?,
        }),
        Stored::Part(Part::Sessions) => r.sessions.push(SessionRow {
            dims,
            session_key: c.s()?,
            visitor_id: c.s()?,
            start: c.i()?,
            end: c.i()?,
            pageviews: c.u()? as u32,
            clicks: c.u()? as u32,
            rage_clicks: c.u()? as u32,
            dead_clicks: c.u()? as u32,
            quick_backs: c.u()? as u32,
            feedback: c.u()? as u32,
            survey_responses: c.u()? as u32,
            steps: {
                let steps = c.json()?;
                // n_pages, page_rage, page_dead: filter columns only.
                for _ in 0..3 {
                    c.next()?;
                }
                steps
            },
        }),
        Stored::Part(Part::SessionDetails) => r.session_details.push(SessionDetailRow {
            dims,
            session_key: c.s()?,
            negative_feedback: c.u()? as u32,
            pages: c.json()?,
            elements: c.json()?,
            replays: c.json()?,
        }),
        Stored::Part(Part::Answers) => r.answers.push(AnswerRow {
            dims,
            id: c.s()?,
            ts: c.i()?,
            survey_id: c.s()?,
            question_id: c.s()?,
            kind: c.kind()?,
            value: c.json()?,
            page: c.s()?,
            session_key: c.s()?,
            trigger: c.s()?,
        }),
        Stored::Part(Part::Feedback) => r.feedback.push(FeedbackRow {
            dims,
            id: c.s()?,
            ts: c.i()?,
            page: c.s()?,
            session_key: c.s()?,
            rating: match c.next()? {
                Value::Null => None,
                Value::Integer(n) => Some(*n as u8),
                other => return Err(anyhow!("r_feedback: rating {other:?}")),
            },
            comment: c.s()?,
            category: c.s()?,
            selector: c.s()?,
        }),
    }
    Ok(())
}

/// Put the el cells read back into their element rows (sorted by (x, y)); cells of an
/// element with no row (cannot happen for rows written together) are dropped.
fn merge_el_cells(r: &mut DayRollup, mut cells: Vec<(Dims, String, String, String, ElCell)>) {
    cells.sort_by(|a, b| (a.0, &a.1, &a.2, &a.3, a.4.x, a.4.y).cmp(&(b.0, &b.1, &b.2, &b.3, b.4.x, b.4.y)));
    for (dims, page, selector, zone, cell) in cells {
        if let Ok(i) = r
            .elements
            .binary_search_by(|e| (e.dims, &e.page, &e.selector, &e.zone).cmp(&(dims, &page, &selector, &zone)))
        {
            r.elements[i].el_cells.push(cell);
        }
    }
}

/// Replace the rows of `sessions` of `site` with `rows` (session id → its rows), inside `tx`.
pub fn replace(
    tx: &Transaction,
    site: &str,
    sessions: &[String],
    rows: &[crate::model::rows::SessionRollup],
) -> anyhow::Result<()> {
    for t in TABLES {
        let mut del = tx.prepare_cached(&write_sql(t).delete)?;
        for s in sessions {
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
    Ok(())
}

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
    let device = q.device.map(|d| d.as_str());
    let total: i64 = c
        .prepare_cached(&format!("SELECT count(*) FROM r_sessions WHERE {cond}"))?
        .query_row(rusqlite::params![q.site, q.from_day, q.to_day, device, q.bots], |r| {
            r.get(0)
        })?;
    let sessions_t = table_of(Stored::Part(Part::Sessions));
    let details_t = table_of(Stored::Part(Part::SessionDetails));
    let (before_start, before_key) = match &q.before {
        Some((start, key)) => (Some(*start), Some(key.as_str())),
        None => (None, None),
    };
    let mut out = DayRollup::default();
    let mut cells = Vec::new();
    let mut ids = Vec::new();
    {
        let mut st = c.prepare_cached(&format!(
            "SELECT {}, session_id FROM r_sessions WHERE {cond} AND (?6 IS NULL OR (start, session_key) < (?6, ?7)) \
             ORDER BY start DESC, session_key DESC LIMIT ?8",
            columns(sessions_t).join(", ")
        ))?;
        let mut rows = st.query(rusqlite::params![
            q.site,
            q.from_day,
            q.to_day,
            device,
            q.bots,
            before_start,
            before_key,
            (q.limit + 1) as i64
        ])?;
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
/// values.
fn columns(t: &Table) -> Vec<&'static str> {
    ["day", "device", "bot"]
        .iter()
        .chain(t.keys)
        .chain(t.values)
        .copied()
        .collect()
}

/// Read the rows of `parts` for a query (see [`crate::warehouse::RollupQuery`]).
pub fn read(c: &rusqlite::Connection, q: &crate::warehouse::RollupQuery) -> anyhow::Result<DayRollup> {
    let mut out = DayRollup::default();
    let mut cells = Vec::new();
    for t in TABLES {
        let part = match t.part {
            Stored::Part(p) => p,
            Stored::ElCells => Part::Elements,
        };
        if !q.parts.contains(&part) {
            continue;
        }
        let keys = 3 + t.keys.len();
        let select = columns(t);
        let page = q.page.as_deref().filter(|_| part.is_page_level());
        // Only tables keyed by page have a page column to filter on.
        let by_page = t.keys.first() == Some(&"page");
        let sql = format!(
            "SELECT {} FROM {} WHERE site = ?1 AND day >= ?2 AND day < ?3{}",
            select.join(", "),
            if t.additive { day_table(t) } else { t.name.to_string() },
            if by_page { " AND (?4 IS NULL OR page = ?4)" } else { "" },
        );
        let mut st = c.prepare_cached(&sql)?;
        let ncols = select.len();
        let mut rows = if by_page {
            st.query(rusqlite::params![q.site, q.from_day, q.to_day, page])?
        } else {
            st.query(rusqlite::params![q.site, q.from_day, q.to_day])?
        };
        while let Some(row) = rows.next()? {
            let values: Vec<Value> = (0..ncols)
                .map(|i| row.get::<_, Value>(i))
                .collect::<rusqlite::Result<_>>()?;
            // A key whose sessions all went (totals back to 0); floats may keep a rounding
            // residue, so only the integer counters decide.
            if t.additive && values[keys..].iter().all(is_zero) {
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
