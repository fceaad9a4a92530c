//! A day's rollup rows as the rows of the day tables ([`encode`]).

use super::*;
use crate::model::rows::{DayRollup, Dims, SessionDetailRow};
use crate::warehouse::Part;
use rusqlite::types::Value;

pub(super) fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

pub(super) fn int(n: impl Into<i64>) -> Value {
    Value::Integer(n.into())
}

pub(super) fn json<T: serde::Serialize>(v: &T) -> Value {
    Value::Text(serde_json::to_string(v).expect("rollup value to JSON"))
}

pub(super) fn lead(dims: &Dims) -> [Value; 3] {
    [int(dims.day), text(dims.device.as_str()), int(dims.bot)]
}

/// Column values (after site and session_id) of every row of `r`, per table.
pub fn encode(r: &DayRollup) -> Vec<(&'static Table, Vec<Value>)> {
    let mut out = Vec::new();
    let mut push = |part: Part, dims: &Dims, rest: Vec<Value>| {
        let mut v: Vec<Value> = lead(dims).into();
        v.extend(rest);
        out.push((table_of(part), v));
    };
    let u = |n: u64| Value::Integer(n as i64);
    for p in &r.pages {
        push(
            Part::Pages,
            &p.dims,
            vec![
                text(&p.page),
                text(&p.layout),
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
            Part::Grid,
            &g.dims,
            vec![text(&g.page), text(&g.layout), int(g.cx), int(g.cy), u(g.count)],
        );
    }
    for e in &r.elements {
        push(
            Part::Elements,
            &e.dims,
            vec![
                text(&e.page),
                text(&e.layout),
                text(&e.selector),
                text(&e.zone),
                u(e.clicks),
                u(e.rage_clicks),
                u(e.dead_clicks),
                u(e.el_n),
                Value::Real(e.el_x_sum),
                Value::Real(e.el_y_sum),
                Value::Integer(e.text_ts),
                text(&e.text),
            ],
        );
        for c in &e.el_cells {
            push(
                Part::ElCells,
                &e.dims,
                vec![
                    text(&e.page),
                    text(&e.layout),
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
            Part::Scroll,
            &s.dims,
            vec![text(&s.page), text(&s.layout), int(s.depth), u(s.pageviews)],
        );
    }
    for z in &r.zones {
        push(
            Part::Zones,
            &z.dims,
            vec![
                text(&z.page),
                text(&z.layout),
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
            Part::Surveys,
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
            Part::Journeys,
            &j.dims,
            vec![int(j.kind.code()), text(&j.from), text(&j.to), u(j.count), u(j.bounces)],
        );
    }
    for x in &r.reach {
        push(
            Part::Reach,
            &x.dims,
            vec![
                text(&x.survey_id),
                text(&x.answered),
                text(&x.dismissed_at),
                int(x.dismissed),
                u(x.sessions),
            ],
        );
    }
    for g in &r.goal {
        push(
            Part::Goal,
            &g.dims,
            vec![
                text(&g.goal),
                text(g.kind.as_str()),
                int(g.step),
                text(&g.page),
                text(&g.selector),
                text(&g.zone),
                text(&g.survey),
                u(g.sessions),
                u(g.converted),
            ],
        );
    }
    for p in &r.problems {
        push(
            Part::Problems,
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
            Part::Sessions,
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
                text(&s.segment.channel),
                text(&s.segment.referrer),
                text(&s.segment.utm_source),
                text(&s.segment.utm_medium),
                text(&s.segment.utm_campaign),
                text(&s.segment.browser),
                text(&s.segment.os),
                text(&s.segment.language),
            ],
        );
    }
    for d in &r.session_details {
        push(
            Part::SessionDetails,
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
            Part::Answers,
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
            Part::Feedback,
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
