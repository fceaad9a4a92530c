//! Rollup rows ↔ ClickHouse rows: [`ChRows`] batches one write's rows per table; the
//! `*_row` functions read stored rows back.

use super::rows::*;
use crate::event::{Answer, DeviceClass, SurveyKind};
use crate::model::rows::{
    AnswerRow, Dims, FeedbackRow, GoalKind, GoalRow, ProblemKind, ProblemRow, ReachRow, ReplayMeta, SessionDetailRow,
    SessionElement, SessionPage, SessionRow, Step,
};
use crate::warehouse::SessionRollup;
use anyhow::Context;

/// The rows of some sessions, per table, as stored (gen 0, not deleted).
#[derive(Default)]
pub(super) struct ChRows {
    pub(super) pages: Vec<PagesCh>,
    pub(super) grid: Vec<GridCh>,
    pub(super) elements: Vec<ElementsCh>,
    pub(super) el_cells: Vec<ElCellsCh>,
    pub(super) scroll: Vec<ScrollCh>,
    pub(super) zones: Vec<ZonesCh>,
    pub(super) surveys: Vec<SurveysCh>,
    pub(super) reach: Vec<ReachCh>,
    pub(super) goal: Vec<GoalCh>,
    pub(super) journeys: Vec<JourneysCh>,
    pub(super) problems: Vec<ProblemsCh>,
    pub(super) sessions: Vec<SessionsCh>,
    pub(super) details: Vec<DetailsCh>,
    pub(super) answers: Vec<AnswersCh>,
    pub(super) feedback: Vec<FeedbackCh>,
    pub(super) list: Vec<ListCh>,
}

pub(super) fn n64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(super) fn u64of(n: i64) -> u64 {
    n.max(0) as u64
}

pub(super) fn dims_of(day: i64, device: &str, bot: u8) -> Dims {
    Dims {
        day,
        device: DeviceClass::parse(device).unwrap_or(DeviceClass::Unknown),
        bot: bot != 0,
    }
}

impl ChRows {
    pub(super) fn of(site: &str, rollups: &[&SessionRollup]) -> ChRows {
        let mut out = ChRows::default();
        for sr in rollups {
            let sid = sr.session_id.as_str();
            let r = &sr.rows;
            out.list.extend(super::list::list_rows(site, sid, r));
            let base = |d: &Dims| {
                (
                    site.to_string(),
                    d.day,
                    sid.to_string(),
                    d.device.as_str().to_string(),
                    d.bot as u8,
                )
            };
            for p in &r.pages {
                let (site, day, session_id, device, bot) = base(&p.dims);
                out.pages.push(PagesCh {
                    site,
                    day,
                    session_id,
                    device,
                    bot,
                    page: p.page.clone(),
                    layout: p.layout.clone(),
                    pageviews: n64(p.pageviews),
                    clicks: n64(p.clicks),
                    quick_backs: n64(p.quick_backs),
                    fold_n: n64(p.fold_n),
                    viewport_h_sum: n64(p.viewport_h_sum),
                    doc_h_sum: n64(p.doc_h_sum),
                });
            }
            for g in &r.grid {
                let (site, day, session_id, device, bot) = base(&g.dims);
                out.grid.push(GridCh {
                    site,
                    day,
                    session_id,
                    device,
                    bot,
                    page: g.page.clone(),
                    layout: g.layout.clone(),
                    cx: g.cx,
                    cy: g.cy,
                    clicks: n64(g.count),
                });
            }
            for e in &r.elements {
                let (site, day, session_id, device, bot) = base(&e.dims);
                for c in &e.el_cells {
                    out.el_cells.push(ElCellsCh {
                        site: site.clone(),
                        day,
                        session_id: session_id.clone(),
                        device: device.clone(),
                        bot,
                        page: e.page.clone(),
                        layout: e.layout.clone(),
                        selector: e.selector.clone(),
                        zone: e.zone.clone(),
                        x: c.x,
                        y: c.y,
                        clicks: n64(c.count),
                    });
                }
                out.elements.push(ElementsCh {
                    site,
                    day,
                    session_id,
                    device,
                    bot,
                    page: e.page.clone(),
                    layout: e.layout.clone(),
                    selector: e.selector.clone(),
                    zone: e.zone.clone(),
                    clicks: n64(e.clicks),
                    rage_clicks: n64(e.rage_clicks),
                    dead_clicks: n64(e.dead_clicks),
                    el_n: n64(e.el_n),
                    el_x_sum: e.el_x_sum,
                    el_y_sum: e.el_y_sum,
                    text: e.text.clone(),
                    text_ts: e.text_ts,
                });
            }
            for s in &r.scroll {
                let (site, day, session_id, device, bot) = base(&s.dims);
                out.scroll.push(ScrollCh {
                    site,
                    day,
                    session_id,
                    device,
                    bot,
                    page: s.page.clone(),
                    layout: s.layout.clone(),
                    depth: s.depth,
                    pageviews: n64(s.pageviews),
                });
            }
            for z in &r.zones {
                let (site, day, session_id, device, bot) = base(&z.dims);
                out.zones.push(ZonesCh {
                    site,
                    day,
                    session_id,
                    device,
                    bot,
                    page: z.page.clone(),
                    layout: z.layout.clone(),
                    zone: z.zone.clone(),
                    exposed: n64(z.exposed),
                    clicked: n64(z.clicked),
                    exposed_clicked: n64(z.exposed_clicked),
                    visible_ms_sum: n64(z.visible_ms_sum),
                    hovered: n64(z.hovered),
                    hover_ms_sum: n64(z.hover_ms_sum),
                    hesitation_n: n64(z.hesitation_n),
                    hesitation_ms_sum: n64(z.hesitation_ms_sum),
                    click_sessions: n64(z.click_sessions),
                    converted_sessions: n64(z.converted_sessions),
                });
            }
            for s in &r.surveys {
                let (site, day, session_id, device, bot) = base(&s.dims);
                out.surveys.push(SurveysCh {
                    site,
                    day,
                    session_id,
                    device,
                    bot,
                    survey_id: s.survey_id.clone(),
                    question_id: s.question_id.clone(),
                    kind: s.kind.as_str().to_string(),
                    value: s.value.clone(),
                    responses: n64(s.responses),
                });
            }
            for g in &r.goal {
                let (site, day, session_id, device, bot) = base(&g.dims);
                out.goal.push(GoalCh {
                    site,
                    day,
                    session_id,
                    device,
                    bot,
                    goal: g.goal.clone(),
                    kind: g.kind.as_str().to_string(),
                    step: g.step,
                    page: g.page.clone(),
                    selector: g.selector.clone(),
                    zone: g.zone.clone(),
                    survey: g.survey.clone(),
                    sessions: n64(g.sessions),
                    converted: n64(g.converted),
                });
            }
            for x in &r.reach {
                let (site, day, session_id, device, bot) = base(&x.dims);
                out.reach.push(ReachCh {
                    site,
                    day,
                    session_id,
                    device,
                    bot,
                    survey_id: x.survey_id.clone(),
                    answered: x.answered.clone(),
                    dismissed_at: x.dismissed_at.clone(),
                    dismissed: u8::from(x.dismissed),
                    sessions: n64(x.sessions),
                });
            }
            for j in &r.journeys {
                let (site, day, session_id, device, bot) = base(&j.dims);
                out.journeys.push(JourneysCh {
                    site,
                    day,
                    session_id,
                    device,
                    bot,
                    kind: j.kind.code(),
                    from_page: j.from.clone(),
                    to_page: j.to.clone(),
                    count: n64(j.count),
                    bounces: n64(j.bounces),
                });
            }
            for p in &r.problems {
                let (site, day, session_id, device, bot) = base(&p.dims);
                out.problems.push(ProblemsCh {
                    site,
                    day,
                    session_id,
                    device,
                    bot,
                    kind: p.kind.code(),
                    page: p.page.clone(),
                    selector: p.selector.clone(),
                    zone: p.zone.clone(),
                    rage_clicks: n64(p.rage_clicks),
                    dead_clicks: n64(p.dead_clicks),
                    quick_backs: n64(p.quick_backs),
                    sessions: n64(p.sessions),
                });
            }
            for s in &r.sessions {
                let (site, day, session_id, device, bot) = base(&s.dims);
                out.sessions.push(SessionsCh {
                    site,
                    day,
                    session_id,
                    session_key: s.session_key.clone(),
                    gen: 0,
                    deleted: 0,
                    device,
                    bot,
                    visitor_id: s.visitor_id.clone(),
                    start_ts: s.start,
                    end_ts: s.end,
                    pageviews: s.pageviews,
                    step_ts: s.steps.iter().map(|x| x.ts).collect(),
                    step_name: s.steps.iter().map(|x| x.name.clone()).collect(),
                    step_custom: s.steps.iter().map(|x| x.custom as u8).collect(),
                    clicks: s.clicks,
                    rage_clicks: s.rage_clicks,
                    dead_clicks: s.dead_clicks,
                    quick_backs: s.quick_backs,
                    feedback: s.feedback,
                    survey_responses: s.survey_responses,
                    channel: s.segment.channel.clone(),
                    referrer: s.segment.referrer.clone(),
                    utm_source: s.segment.utm_source.clone(),
                    utm_medium: s.segment.utm_medium.clone(),
                    utm_campaign: s.segment.utm_campaign.clone(),
                    browser: s.segment.browser.clone(),
                    os: s.segment.os.clone(),
                    language: s.segment.language.clone(),
                });
            }
            for d in &r.session_details {
                let (site, day, session_id, device, bot) = base(&d.dims);
                out.details.push(DetailsCh {
                    site,
                    day,
                    session_id,
                    session_key: d.session_key.clone(),
                    gen: 0,
                    deleted: 0,
                    device,
                    bot,
                    page_page: d.pages.iter().map(|p| p.page.clone()).collect(),
                    page_pageviews: d.pages.iter().map(|p| p.pageviews).collect(),
                    page_clicks: d.pages.iter().map(|p| p.clicks).collect(),
                    page_rage_clicks: d.pages.iter().map(|p| p.rage_clicks).collect(),
                    page_dead_clicks: d.pages.iter().map(|p| p.dead_clicks).collect(),
                    page_quick_backs: d.pages.iter().map(|p| p.quick_backs).collect(),
                    el_page: d.elements.iter().map(|e| e.page.clone()).collect(),
                    el_selector: d.elements.iter().map(|e| e.selector.clone()).collect(),
                    el_zone: d.elements.iter().map(|e| e.zone.clone()).collect(),
                    el_clicks: d.elements.iter().map(|e| e.clicks).collect(),
                    el_rage_clicks: d.elements.iter().map(|e| e.rage_clicks).collect(),
                    el_dead_clicks: d.elements.iter().map(|e| e.dead_clicks).collect(),
                    replay_recording_id: d.replays.iter().map(|x| x.recording_id.clone()).collect(),
                    replay_started_at: d.replays.iter().map(|x| x.started_at).collect(),
                    replay_ended_at: d.replays.iter().map(|x| x.ended_at).collect(),
                    replay_pages: d.replays.iter().map(|x| x.pages).collect(),
                    replay_events: d.replays.iter().map(|x| x.events).collect(),
                    replay_bytes: d.replays.iter().map(|x| x.bytes).collect(),
                    replay_clicks: d.replays.iter().map(|x| x.clicks).collect(),
                    replay_errors: d.replays.iter().map(|x| x.errors).collect(),
                    negative_feedback: d.negative_feedback,
                });
            }
            for a in &r.answers {
                let (site, day, session_id, device, bot) = base(&a.dims);
                let (value_type, value_number, value_text, value_choices) = match &a.value {
                    Answer::Number(n) => (0, *n, String::new(), Vec::new()),
                    Answer::Text(t) => (1, 0.0, t.clone(), Vec::new()),
                    Answer::Choices(c) => (2, 0.0, String::new(), c.clone()),
                };
                out.answers.push(AnswersCh {
                    site,
                    day,
                    session_id,
                    id: a.id.clone(),
                    gen: 0,
                    deleted: 0,
                    device,
                    bot,
                    ts: a.ts,
                    survey_id: a.survey_id.clone(),
                    question_id: a.question_id.clone(),
                    kind: a.kind.as_str().to_string(),
                    value_type,
                    value_number,
                    value_text,
                    value_choices,
                    page: a.page.clone(),
                    session_key: a.session_key.clone(),
                    survey_trigger: a.trigger.clone(),
                });
            }
            for f in &r.feedback {
                let (site, day, session_id, device, bot) = base(&f.dims);
                out.feedback.push(FeedbackCh {
                    site,
                    day,
                    session_id,
                    id: f.id.clone(),
                    gen: 0,
                    deleted: 0,
                    device,
                    bot,
                    ts: f.ts,
                    page: f.page.clone(),
                    session_key: f.session_key.clone(),
                    has_rating: f.rating.is_some() as u8,
                    rating: f.rating.unwrap_or(0),
                    comment: f.comment.clone(),
                    category: f.category.clone(),
                    selector: f.selector.clone(),
                });
            }
        }
        out
    }
}

pub(super) fn survey_kind(kind: &str) -> anyhow::Result<SurveyKind> {
    SurveyKind::parse(kind).with_context(|| format!("unknown survey kind {kind:?} in ClickHouse"))
}

pub(super) fn session_row(r: SessionsCh) -> SessionRow {
    SessionRow {
        dims: dims_of(r.day, &r.device, r.bot),
        session_key: r.session_key,
        visitor_id: r.visitor_id,
        start: r.start_ts,
        end: r.end_ts,
        pageviews: r.pageviews,
        steps: r
            .step_ts
            .into_iter()
            .zip(r.step_name)
            .zip(r.step_custom)
            .map(|((ts, name), custom)| Step {
                ts,
                name,
                custom: custom != 0,
            })
            .collect(),
        clicks: r.clicks,
        rage_clicks: r.rage_clicks,
        dead_clicks: r.dead_clicks,
        quick_backs: r.quick_backs,
        feedback: r.feedback,
        survey_responses: r.survey_responses,
        segment: crate::model::segment::SessionSegment {
            channel: r.channel,
            referrer: r.referrer,
            utm_source: r.utm_source,
            utm_medium: r.utm_medium,
            utm_campaign: r.utm_campaign,
            browser: r.browser,
            os: r.os,
            language: r.language,
        },
    }
}

pub(super) fn detail_row(r: DetailsCh) -> SessionDetailRow {
    let pages = (0..r.page_page.len())
        .map(|i| SessionPage {
            page: r.page_page[i].clone(),
            pageviews: r.page_pageviews.get(i).copied().unwrap_or(0),
            clicks: r.page_clicks.get(i).copied().unwrap_or(0),
            rage_clicks: r.page_rage_clicks.get(i).copied().unwrap_or(0),
            dead_clicks: r.page_dead_clicks.get(i).copied().unwrap_or(0),
            quick_backs: r.page_quick_backs.get(i).copied().unwrap_or(0),
        })
        .collect();
    let elements = (0..r.el_page.len())
        .map(|i| SessionElement {
            page: r.el_page[i].clone(),
            selector: r.el_selector.get(i).cloned().unwrap_or_default(),
            zone: r.el_zone.get(i).cloned().unwrap_or_default(),
            clicks: r.el_clicks.get(i).copied().unwrap_or(0),
            rage_clicks: r.el_rage_clicks.get(i).copied().unwrap_or(0),
            dead_clicks: r.el_dead_clicks.get(i).copied().unwrap_or(0),
        })
        .collect();
    let replays = (0..r.replay_recording_id.len())
        .map(|i| ReplayMeta {
            recording_id: r.replay_recording_id[i].clone(),
            started_at: r.replay_started_at.get(i).copied().unwrap_or(0),
            ended_at: r.replay_ended_at.get(i).copied().unwrap_or(0),
            pages: r.replay_pages.get(i).copied().unwrap_or(0),
            events: r.replay_events.get(i).copied().unwrap_or(0),
            bytes: r.replay_bytes.get(i).copied().unwrap_or(0),
            clicks: r.replay_clicks.get(i).copied().unwrap_or(0),
            errors: r.replay_errors.get(i).copied().unwrap_or(0),
        })
        .collect();
    SessionDetailRow {
        dims: dims_of(r.day, &r.device, r.bot),
        session_key: r.session_key,
        pages,
        elements,
        replays,
        negative_feedback: r.negative_feedback,
    }
}

pub(super) fn answer_row(r: AnswersCh) -> anyhow::Result<AnswerRow> {
    Ok(AnswerRow {
        dims: dims_of(r.day, &r.device, r.bot),
        id: r.id,
        ts: r.ts,
        survey_id: r.survey_id,
        question_id: r.question_id,
        kind: survey_kind(&r.kind)?,
        value: match r.value_type {
            0 => Answer::Number(r.value_number),
            1 => Answer::Text(r.value_text),
            _ => Answer::Choices(r.value_choices),
        },
        page: r.page,
        session_key: r.session_key,
        trigger: r.survey_trigger,
    })
}

pub(super) fn feedback_row(r: FeedbackCh) -> FeedbackRow {
    FeedbackRow {
        dims: dims_of(r.day, &r.device, r.bot),
        id: r.id,
        ts: r.ts,
        page: r.page,
        session_key: r.session_key,
        rating: (r.has_rating != 0).then_some(r.rating),
        comment: r.comment,
        category: r.category,
        selector: r.selector,
    }
}

/// The element rows of a read: the summed element rows, each with its summed in-element
/// cells (sorted by (x, y)).
pub(super) fn element_rows(rows: Vec<ElementsSumCh>, cells: Vec<ElCellsSumCh>) -> Vec<crate::model::rows::ElementRow> {
    use crate::model::rows::{ElCell, ElementRow};
    type ElKey = (Dims, String, String, String, String);
    let mut by_element: std::collections::BTreeMap<ElKey, Vec<ElCell>> = std::collections::BTreeMap::new();
    for c in cells {
        by_element
            .entry((dims_of(c.day, &c.device, c.bot), c.page, c.layout, c.selector, c.zone))
            .or_default()
            .push(ElCell {
                x: c.x,
                y: c.y,
                count: u64of(c.clicks),
            });
    }
    rows.into_iter()
        .map(|r| {
            let dims = dims_of(r.day, &r.device, r.bot);
            let mut el_cells = by_element
                .remove(&(
                    dims,
                    r.page.clone(),
                    r.layout.clone(),
                    r.selector.clone(),
                    r.zone.clone(),
                ))
                .unwrap_or_default();
            el_cells.sort();
            let located = r.el_n != 0;
            ElementRow {
                dims,
                page: r.page,
                layout: r.layout,
                selector: r.selector,
                zone: r.zone,
                clicks: u64of(r.clicks),
                rage_clicks: u64of(r.rage_clicks),
                dead_clicks: u64of(r.dead_clicks),
                el_n: u64of(r.el_n),
                el_x_sum: if located { r.el_x_sum } else { 0.0 },
                el_y_sum: if located { r.el_y_sum } else { 0.0 },
                el_cells,
                text: r.text,
                text_ts: r.text_ts,
            }
        })
        .collect()
}

/// A summed `rollup_problems` row back as a [`ProblemRow`].
pub(super) fn problem_row(r: ProblemsSumCh) -> anyhow::Result<ProblemRow> {
    Ok(ProblemRow {
        dims: dims_of(r.day, &r.device, r.bot),
        kind: ProblemKind::from_code(r.kind).ok_or_else(|| anyhow::anyhow!("rollup_problems: kind {}", r.kind))?,
        page: r.page,
        selector: r.selector,
        zone: r.zone,
        rage_clicks: u64of(r.rage_clicks),
        dead_clicks: u64of(r.dead_clicks),
        quick_backs: u64of(r.quick_backs),
        sessions: u64of(r.sessions),
    })
}

/// A summed `rollup_goal` row back as a [`GoalRow`].
pub(super) fn goal_row(r: GoalSumCh) -> anyhow::Result<GoalRow> {
    Ok(GoalRow {
        dims: dims_of(r.day, &r.device, r.bot),
        goal: r.goal,
        kind: GoalKind::parse(&r.kind).ok_or_else(|| anyhow::anyhow!("rollup_goal: kind {}", r.kind))?,
        step: r.step,
        page: r.page,
        selector: r.selector,
        zone: r.zone,
        survey: r.survey,
        sessions: u64of(r.sessions),
        converted: u64of(r.converted),
    })
}

/// A summed `rollup_reach` row back as a [`ReachRow`].
pub(super) fn reach_row(r: ReachSumCh) -> ReachRow {
    ReachRow {
        dims: dims_of(r.day, &r.device, r.bot),
        survey_id: r.survey_id,
        answered: r.answered,
        dismissed_at: r.dismissed_at,
        dismissed: r.dismissed != 0,
        sessions: u64of(r.sessions),
    }
}
