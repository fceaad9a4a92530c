//! The rows of the day tables back into a day's rollup ([`decode`]).

use super::*;
use crate::event::{DeviceClass, SurveyKind};
use crate::model::rows::{
    AnswerRow, DayRollup, Dims, ElCell, ElementRow, FeedbackRow, GoalKind, GoalRow, GridRow, JourneyKind, JourneyRow,
    PageRow, ProblemKind, ProblemRow, ReachRow, ScrollRow, SessionDetailRow, SessionRow, SurveyRow, ZoneRow,
};
use crate::warehouse::Part;
use anyhow::{anyhow, Context};
use rusqlite::types::Value;

/// Reads values of one row, in column order, with the column's name in errors.
pub(super) struct Cols<'a> {
    pub(super) table: &'static str,
    pub(super) v: std::slice::Iter<'a, Value>,
}

impl<'a> Cols<'a> {
    pub(super) fn next(&mut self) -> anyhow::Result<&'a Value> {
        self.v.next().ok_or_else(|| anyhow!("{}: too few columns", self.table))
    }
    pub(super) fn i(&mut self) -> anyhow::Result<i64> {
        match self.next()? {
            Value::Integer(n) => Ok(*n),
            Value::Real(x) => Ok(*x as i64),
            Value::Null => Ok(0),
            other => Err(anyhow!("{}: expected an integer, got {other:?}", self.table)),
        }
    }
    pub(super) fn u(&mut self) -> anyhow::Result<u64> {
        Ok(self.i()?.max(0) as u64)
    }
    pub(super) fn f(&mut self) -> anyhow::Result<f64> {
        match self.next()? {
            Value::Integer(n) => Ok(*n as f64),
            Value::Real(x) => Ok(*x),
            Value::Null => Ok(0.0),
            other => Err(anyhow!("{}: expected a number, got {other:?}", self.table)),
        }
    }
    pub(super) fn s(&mut self) -> anyhow::Result<String> {
        match self.next()? {
            Value::Text(s) => Ok(s.clone()),
            other => Err(anyhow!("{}: expected text, got {other:?}", self.table)),
        }
    }
    pub(super) fn json<T: serde::de::DeserializeOwned>(&mut self) -> anyhow::Result<T> {
        let t = self.s()?;
        serde_json::from_str(&t).with_context(|| format!("{}: a JSON column", self.table))
    }
    pub(super) fn dims(&mut self) -> anyhow::Result<Dims> {
        let day = self.i()?;
        let device = self.s()?;
        Ok(Dims {
            day,
            device: DeviceClass::parse(&device).ok_or_else(|| anyhow!("{}: device {device:?}", self.table))?,
            bot: self.i()? != 0,
        })
    }
    pub(super) fn kind(&mut self) -> anyhow::Result<SurveyKind> {
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
    cells: &mut Vec<(Dims, String, String, String, String, ElCell)>,
) -> anyhow::Result<()> {
    let mut c = Cols {
        table: t.name,
        v: values.iter(),
    };
    let dims = c.dims()?;
    match t.part {
        Part::Pages => r.pages.push(PageRow {
            dims,
            page: c.s()?,
            layout: c.s()?,
            pageviews: c.u()?,
            clicks: c.u()?,
            quick_backs: c.u()?,
            fold_n: c.u()?,
            viewport_h_sum: c.u()?,
            doc_h_sum: c.u()?,
        }),
        Part::Grid => r.grid.push(GridRow {
            dims,
            page: c.s()?,
            layout: c.s()?,
            cx: c.u()? as u32,
            cy: c.u()? as u32,
            count: c.u()?,
        }),
        Part::Elements => r.elements.push(ElementRow {
            dims,
            page: c.s()?,
            layout: c.s()?,
            selector: c.s()?,
            zone: c.s()?,
            clicks: c.u()?,
            rage_clicks: c.u()?,
            dead_clicks: c.u()?,
            el_n: c.u()?,
            el_x_sum: c.f()?,
            el_y_sum: c.f()?,
            el_cells: Vec::new(),
            text_ts: c.i()?,
            text: c.s()?,
        }),
        Part::ElCells => {
            let (page, layout, selector, zone) = (c.s()?, c.s()?, c.s()?, c.s()?);
            let cell = ElCell {
                x: c.u()? as u8,
                y: c.u()? as u8,
                count: c.u()?,
            };
            cells.push((dims, page, layout, selector, zone, cell));
        }
        Part::Scroll => r.scroll.push(ScrollRow {
            dims,
            page: c.s()?,
            layout: c.s()?,
            depth: c.u()? as u32,
            pageviews: c.u()?,
        }),
        Part::Zones => r.zones.push(ZoneRow {
            dims,
            page: c.s()?,
            layout: c.s()?,
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
        Part::Surveys => r.surveys.push(SurveyRow {
            dims,
            survey_id: c.s()?,
            question_id: c.s()?,
            kind: c.kind()?,
            value: c.s()?,
            responses: c.u()?,
        }),
        Part::Journeys => r.journeys.push(JourneyRow {
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
        Part::Reach => r.reach.push(ReachRow {
            dims,
            survey_id: c.s()?,
            answered: c.s()?,
            dismissed_at: c.s()?,
            dismissed: c.i()? != 0,
            sessions: c.u()?,
        }),
        Part::Goal => r.goal.push(GoalRow {
            dims,
            goal: c.s()?,
            kind: {
                let k = c.s()?;
                GoalKind::parse(&k).ok_or_else(|| anyhow!("r_goal: kind {k}"))?
            },
            step: c.u()? as u32,
            page: c.s()?,
            selector: c.s()?,
            zone: c.s()?,
            survey: c.s()?,
            sessions: c.u()?,
            converted: c.u()?,
        }),
        Part::Problems => r.problems.push(ProblemRow {
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
        Part::Sessions => r.sessions.push(SessionRow {
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
            segment: crate::model::segment::SessionSegment {
                channel: c.s()?,
                referrer: c.s()?,
                utm_source: c.s()?,
                utm_medium: c.s()?,
                utm_campaign: c.s()?,
                browser: c.s()?,
                os: c.s()?,
                language: c.s()?,
            },
        }),
        Part::SessionDetails => r.session_details.push(SessionDetailRow {
            dims,
            session_key: c.s()?,
            negative_feedback: c.u()? as u32,
            pages: c.json()?,
            elements: c.json()?,
            replays: c.json()?,
        }),
        Part::Answers => r.answers.push(AnswerRow {
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
        Part::Feedback => r.feedback.push(FeedbackRow {
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
pub(super) fn merge_el_cells(r: &mut DayRollup, mut cells: Vec<(Dims, String, String, String, String, ElCell)>) {
    cells.sort_by(|a, b| (a.0, &a.1, &a.2, &a.3, &a.4, a.5.x, a.5.y).cmp(&(b.0, &b.1, &b.2, &b.3, &b.4, b.5.x, b.5.y)));
    for (dims, page, layout, selector, zone, cell) in cells {
        if let Ok(i) = r.elements.binary_search_by(|e| {
            (e.dims, &e.page, &e.layout, &e.selector, &e.zone).cmp(&(dims, &page, &layout, &selector, &zone))
        }) {
            r.elements[i].el_cells.push(cell);
        }
    }
}
