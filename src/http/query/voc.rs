//! `GET /v1/sites/{key}/voc`: survey and feedback results (api.md; analytics.md, "Voice of
//! customer") over the `surveys`, `answers` and `feedback` rollup parts.
//!
//! Response (extends api.md; every list is sorted as said):
//! ```text
//! {"surveys": [{                       -- per (survey_id, question_id, kind), by those keys
//!    "survey_id", "question_id", "kind", "question": <text from the definition or null>,
//!    "responses": n,                   -- answers: one per session that answered (a multi-
//!                                      -- choice answer is one, however many options it chose;
//!                                      -- text: those matching ?q=)
//!    "sessions": n,                    -- sessions that answered (text: whose answer matches ?q=)
//!    "distribution": {"<value>": n},   -- per value (a multi-choice: per option chosen); {}
//!                                      -- for text (free text is no category: see "text")
//!    "mean", "nps" (kind nps only), "csat" (kind csat only),
//!    "choices": [{"option", "count"}], -- choice: the definition's options in order (0 when
//!                                      -- never chosen), then any other value sent
//!    "text": {"answers": n, "top_terms": [{"term", "count"}],
//!             "recent": [{"ts", "text", "page", "session", "split", "trigger"}]},   -- text only; ?q= filters
//!    "trend": [{"day": "YYYY-MM-DD", "responses", …}]}], -- every kind: nps, csat, rating add
//!                                      -- "mean", "nps", "csat"; choice adds "choices"
//!                                      -- {"<option>": n}; text counts answers matching ?q=
//!  "feedback": {"count", "mean_rating", "negative": n (rating ≤ 2),
//!    "negative_rate": % of rated feedback that is negative (0..100, 0.1) or null,
//!    "by_page": [{"page", "count", "mean_rating", "negative"}],          -- by count desc
//!    "by_element": [{"page", "selector", "count", "mean_rating", "negative"}], -- picked elements
//!    "by_category": [{"category", "count"}],
//!    "trend": [{"day", "count", "mean_rating", "negative"}],
//!    "recent": [{"id", "ts", "page", "rating", "comment", "category", "selector", "session", "split"}]}}
//! ```
//! Reach (analytics.md, "Survey reach"), per survey that had sessions in the range, by id:
//! ```text
//!  "reach": [{"survey_id", "title": <from the definition or null>,
//!    "impressions", "responses", "completions", "dismissals": sessions,
//!    "response_rate", "completion_rate", "dismissal_rate": % of impressions (0.1) or null,
//!    "questions": [{"question_id", "question", "reached", "answered", "dropped"}], -- drop-off, in order
//!    "trend": [{"day", "impressions", "responses"}]}]
//! ```
//! Survey rows belong to the day their session started; feedback to the day it was given.
//! `session` is the snippet's session id and `split` the part of it after server-side splits
//! (0, 1, …), as in the session rows ([`crate::rollup::session_key_parts`]).
//! Filters: `survey=<id>`; `q=<text>` (case-insensitive substring) on text answers and
//! feedback comments, counts and lists alike; `page`, `category`, `rating=N|lo-hi` on
//! recent feedback;
//! `limit` (default 50, at most 1000) for each recent list.

use super::{page_param, scope, Filters};
use crate::event::{Answer, SurveyKind};
use crate::http::{require_read, ApiError, AppState};
use crate::model::answers::AnswersQuery;
use crate::model::feedback::{FeedbackGroup, FeedbackQuery, FeedbackStats};
use crate::rollup::{summarize_answers, survey_reach, top_terms, AnswerRow, ReachRow};
use crate::warehouse::Part;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Most terms in `top_terms`.
pub const TOP_TERMS: usize = 20;

/// Query parameters of `GET /v1/sites/{key}/voc` besides [`Filters`].
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VocParams {
    /// Only this survey id.
    pub survey: Option<String>,
    /// Case-insensitive text searched in text answers and feedback comments.
    pub q: Option<String>,
    /// Recent feedback on this page only (URL or page key).
    pub page: Option<String>,
    /// Recent feedback of this category only (bug, idea, praise, other).
    pub category: Option<String>,
    /// Recent feedback with this rating (`2`) or in this range (`1-2`).
    pub rating: Option<String>,
    /// Items per recent list; default 50, at most 1000.
    pub limit: Option<String>,
}

fn parse_rating(s: &str) -> Result<(u8, u8), ApiError> {
    let err = || ApiError::bad("rating", "must be 1..5 or a range like 1-2");
    let (lo, hi) = match s.split_once('-') {
        Some((a, b)) => (a.trim().parse::<u8>(), b.trim().parse::<u8>()),
        None => (s.trim().parse::<u8>(), s.trim().parse::<u8>()),
    };
    let (lo, hi) = (lo.map_err(|_| err())?, hi.map_err(|_| err())?);
    if !(1..=5).contains(&lo) || !(1..=5).contains(&hi) || lo > hi {
        return Err(err());
    }
    Ok((lo, hi))
}

fn matches_q(text: &str, q: &Option<String>) -> bool {
    q.as_ref().is_none_or(|q| text.to_lowercase().contains(q))
}

/// `GET /v1/sites/{key}/voc`.
#[utoipa::path(get, path = "/v1/sites/{key}/voc", tag = "query", security(("bearer" = [])), params(("key" = String, Path, description = "write key"), Filters, VocParams), responses((status = 200, description = "surveys (distribution, mean, nps for nps only, csat, choices, text answers with top terms, trend by day), reach (per survey: impressions, responses, completions, dismissals, response_rate, completion_rate, dismissal_rate, questions: [{question_id, question, reached, answered, dropped}], trend) and feedback (count, mean_rating, negative, negative_rate, by_page, by_element, by_category, trend, recent); see the module doc of query::voc")))]
pub async fn voc(
    req: HttpRequest,
    key: web::Path<String>,
    f: web::Query<Filters>,
    p: web::Query<VocParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_read(&req, &state, &key)?;
    let sc = scope(&key, &f, &state)?;
    let limit = super::parse_limit(p.limit.as_deref(), 50, 1000)?;
    let rating = p.rating.as_deref().map(parse_rating).transpose()?;
    let category = p.category.as_deref().map(str::to_ascii_lowercase);
    if let Some(c) = &category {
        if !crate::event::FEEDBACK_CATEGORIES.contains(&c.as_str()) {
            return Err(ApiError::bad(
                "category",
                &format!("must be one of {}", crate::event::FEEDBACK_CATEGORIES.join(", ")),
            ));
        }
    }
    let page = p.page.as_deref().map(|s| page_param(s, &sc.site));
    let q =
        p.q.as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(str::to_lowercase);
    let fq = FeedbackQuery {
        range: sc.range(),
        text: q.clone(),
        page,
        category,
        rating,
        limit,
    };
    let aq = AnswersQuery {
        range: sc.range(),
        survey: p.survey.clone(),
    };
    let rq = sc.query(vec![Part::Surveys, Part::Reach], None);
    let (r, answer_sum, feedback) = tokio::try_join!(
        state.warehouse.read_rollup(&rq),
        state.warehouse.answers(&aq),
        state.warehouse.feedback(&fq)
    )?;
    let wanted_survey = |id: &str| p.survey.as_deref().is_none_or(|s| s == id);

    // Surveys.
    type QKey = (String, String, SurveyKind);
    let mut counts: BTreeMap<QKey, BTreeMap<String, u64>> = BTreeMap::new();
    let mut by_day: BTreeMap<QKey, BTreeMap<i64, BTreeMap<String, u64>>> = BTreeMap::new();
    for s in r
        .surveys
        .iter()
        .filter(|s| sc.keeps(&s.dims) && wanted_survey(&s.survey_id))
    {
        let k = (s.survey_id.clone(), s.question_id.clone(), s.kind);
        *counts.entry(k.clone()).or_default().entry(s.value.clone()).or_default() += s.responses;
        *by_day
            .entry(k)
            .or_default()
            .entry(s.dims.day)
            .or_default()
            .entry(s.value.clone())
            .or_default() += s.responses;
    }
    // Answers per question and day; the text answers themselves.
    let mut answer_days: BTreeMap<QKey, BTreeMap<i64, u64>> = BTreeMap::new();
    for c in &answer_sum.counts {
        *answer_days
            .entry((c.survey_id.clone(), c.question_id.clone(), c.kind))
            .or_default()
            .entry(c.day)
            .or_default() += c.answers;
    }
    let mut text_answers: BTreeMap<QKey, Vec<&AnswerRow>> = BTreeMap::new();
    for a in &answer_sum.texts {
        text_answers
            .entry((a.survey_id.clone(), a.question_id.clone(), a.kind))
            .or_default()
            .push(a);
    }
    let definition = |survey_id: &str, question_id: &str| {
        sc.site
            .settings
            .surveys
            .iter()
            .find(|s| s.id == survey_id)
            .and_then(|s| s.questions.iter().find(|q| q.id == question_id))
    };
    let surveys: Vec<Value> = counts
        .into_iter()
        .map(|(k, counts)| {
            let (survey_id, question_id, kind) = &k;
            let sum = summarize_answers(*kind, &counts);
            let def = definition(survey_id, question_id);
            let answered = answer_days.remove(&k).unwrap_or_default();
            let responses: u64 = answered.values().sum();
            // Responses are answers, one per session (a multi-choice answer is one response
            // however many options it chose); free text has no distribution (see `text`).
            let distribution = if *kind == SurveyKind::Text {
                BTreeMap::new()
            } else {
                sum.distribution
            };
            let mut out = json!({
                "survey_id": survey_id, "question_id": question_id, "kind": kind.as_str(),
                "question": def.map(|d| d.text.clone()),
                "responses": responses, "sessions": responses, "distribution": distribution,
                "nps": sum.nps, "csat": sum.csat, "mean": sum.mean,
            });
            let days = by_day.remove(&k).unwrap_or_default();
            match kind {
                SurveyKind::Choice => {
                    let mut left = counts.clone();
                    let mut choices: Vec<Value> = def
                        .map(|d| d.options.as_slice())
                        .unwrap_or_default()
                        .iter()
                        .map(|o| json!({"option": o, "count": left.remove(o).unwrap_or(0)}))
                        .collect();
                    choices.extend(left.into_iter().map(|(o, n)| json!({"option": o, "count": n})));
                    out["choices"] = Value::Array(choices);
                    out["trend"] = Value::Array(
                        answered
                            .iter()
                            .map(|(day, n)| {
                                json!({"day": sc.day_name(*day), "responses": n, "choices": days.get(day).cloned().unwrap_or_default()})
                            })
                            .collect(),
                    );
                }
                SurveyKind::Text => {
                    let mut texts: Vec<(&AnswerRow, &str)> = text_answers
                        .remove(&k)
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|a| match &a.value {
                            Answer::Text(t) => Some((a, t.as_str())),
                            _ => None,
                        })
                        .filter(|(_, t)| matches_q(t, &q))
                        .collect();
                    texts.sort_by(|a, b| b.0.ts.cmp(&a.0.ts).then(a.0.id.cmp(&b.0.id)));
                    let terms = top_terms(texts.iter().map(|(_, t)| *t), TOP_TERMS);
                    // `q` narrows the counts as well as the lists.
                    let mut per_day: BTreeMap<i64, usize> = BTreeMap::new();
                    for (a, _) in &texts {
                        *per_day.entry(a.dims.day).or_default() += 1;
                    }
                    out["responses"] = json!(texts.len());
                    out["sessions"] = json!(texts.len());
                    out["trend"] = Value::Array(
                        per_day
                            .into_iter()
                            .map(|(day, n)| json!({"day": sc.day_name(day), "responses": n}))
                            .collect(),
                    );
                    out["text"] = json!({
                        "answers": texts.len(),
                        "top_terms": terms.into_iter().map(|(term, count)| json!({"term": term, "count": count})).collect::<Vec<_>>(),
                        "recent": texts.iter().take(limit).map(|(a, t)| {
                            let (session, split) = crate::rollup::session_key_parts(&a.session_key);
                            json!({"ts": a.ts, "text": t, "page": a.page, "session": session, "split": split, "trigger": a.trigger})
                        }).collect::<Vec<_>>(),
                    });
                }
                _ => {
                    out["trend"] = Value::Array(
                        days.into_iter()
                            .map(|(day, c)| {
                                let s = summarize_answers(*kind, &c);
                                json!({"day": sc.day_name(day), "responses": s.responses, "mean": s.mean, "nps": s.nps, "csat": s.csat})
                            })
                            .collect(),
                    );
                }
            }
            out
        })
        .collect();

    // Reach.
    let mut reach_rows: BTreeMap<&str, Vec<&ReachRow>> = BTreeMap::new();
    for x in r
        .reach
        .iter()
        .filter(|x| sc.keeps(&x.dims) && wanted_survey(&x.survey_id))
    {
        reach_rows.entry(x.survey_id.as_str()).or_default().push(x);
    }
    let reach: Vec<Value> = reach_rows
        .into_iter()
        .map(|(survey_id, rows)| {
            let def = sc.site.settings.surveys.iter().find(|s| s.id == survey_id);
            let questions: Vec<String> = def
                .map(|d| d.questions.iter().map(|q| q.id.clone()).collect())
                .unwrap_or_default();
            let sum = survey_reach(rows.iter().copied(), &questions);
            let mut days: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
            for x in &rows {
                let d = days.entry(x.dims.day).or_default();
                d.0 += x.sessions;
                if !x.answered.is_empty() {
                    d.1 += x.sessions;
                }
            }
            json!({
                "survey_id": survey_id,
                "title": def.map(|d| d.title.clone()).filter(|t| !t.is_empty()),
                "impressions": sum.impressions, "responses": sum.responses,
                "completions": sum.completions, "dismissals": sum.dismissals,
                "response_rate": sum.response_rate, "completion_rate": sum.completion_rate,
                "dismissal_rate": sum.dismissal_rate,
                "questions": sum.questions.iter().map(|q| json!({
                    "question_id": q.question_id,
                    "question": definition(survey_id, &q.question_id).map(|d| d.text.clone()),
                    "reached": q.reached, "answered": q.answered, "dropped": q.dropped,
                })).collect::<Vec<_>>(),
                "trend": days.into_iter().map(|(day, (impressions, responses))| {
                    json!({"day": sc.day_name(day), "impressions": impressions, "responses": responses})
                }).collect::<Vec<_>>(),
            })
        })
        .collect();

    // Feedback: every figure is a sum of the groups (`q` narrows them, not only the list).
    let groups = &feedback.groups;
    let total = FeedbackStats::of(groups);
    let grouped = |key: &dyn Fn(&FeedbackGroup) -> Option<(String, String)>| {
        let mut m: BTreeMap<(String, String), Vec<&FeedbackGroup>> = BTreeMap::new();
        for g in groups {
            if let Some(k) = key(g) {
                m.entry(k).or_default().push(g);
            }
        }
        let mut v: Vec<((String, String), FeedbackStats)> =
            m.into_iter().map(|(k, gs)| (k, FeedbackStats::of(gs))).collect();
        v.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(&b.0)));
        v
    };
    let stats = |s: &FeedbackStats| (s.count, s.mean_rating(), s.negative);
    let by_page: Vec<Value> = grouped(&|g| Some((g.page.clone(), String::new())))
        .into_iter()
        .map(|((page, _), s)| {
            let (n, m, neg) = stats(&s);
            json!({"page": page, "count": n, "mean_rating": m, "negative": neg})
        })
        .collect();
    let by_element: Vec<Value> = grouped(&|g| (!g.selector.is_empty()).then(|| (g.page.clone(), g.selector.clone())))
        .into_iter()
        .map(|((page, selector), s)| {
            let (n, m, neg) = stats(&s);
            json!({"page": page, "selector": selector, "count": n, "mean_rating": m, "negative": neg})
        })
        .collect();
    let by_category: Vec<Value> = grouped(&|g| (!g.category.is_empty()).then(|| (g.category.clone(), String::new())))
        .into_iter()
        .map(|((c, _), s)| json!({"category": c, "count": s.count}))
        .collect();
    let mut days: BTreeMap<i64, Vec<&FeedbackGroup>> = BTreeMap::new();
    for g in groups {
        days.entry(g.day).or_default().push(g);
    }
    let trend: Vec<Value> = days
        .into_iter()
        .map(|(day, gs)| {
            let (n, m, neg) = stats(&FeedbackStats::of(gs));
            json!({"day": sc.day_name(day), "count": n, "mean_rating": m, "negative": neg})
        })
        .collect();
    let recent: Vec<Value> = feedback
        .recent
        .iter()
        .map(|x| {
            let (session, split) = crate::rollup::session_key_parts(&x.session_key);
            json!({
                "id": x.id, "ts": x.ts, "page": x.page, "rating": x.rating, "comment": x.comment,
                // No category or element picked: null, as everywhere a value is absent.
                "category": (!x.category.is_empty()).then_some(&x.category),
                "selector": (!x.selector.is_empty()).then_some(&x.selector),
                "session": session, "split": split,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "surveys": surveys,
        "reach": reach,
        "feedback": {
            "count": total.count,
            "mean_rating": total.mean_rating(),
            "negative": total.negative,
            "negative_rate": total.negative_rate(),
            "by_page": by_page,
            "by_element": by_element,
            "by_category": by_category,
            "trend": trend,
            "recent": recent,
        }
    })))
}
