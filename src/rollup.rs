//! Rollups: the analytics definitions of `reference/analytics.md` as pure functions over raw
//! events (no I/O), plus the job that feeds them from the warehouse and stores their output.
//!
//! The unit of work is one **snippet session** (all its events, whatever their days).
//! [`compute_sessions`] rebuilds each session whole, on event time, and returns its rows:
//! session-level rows belong to the day their (server-side) session started, page-view-level
//! rows to the day of their page view: days of the site's time zone (`rules.time_zone`,
//! default UTC; [`crate::model::days`]). The warehouse stores them per session
//! and sums them per day at read time, so a late or duplicate event costs one session's
//! recompute, and re-running over the same events yields the same rows: the jobs are
//! idempotent and a threshold change is recomputable over history.

pub mod baselines;
pub mod definitions;
pub mod element_text;
pub mod impact;
pub mod job;
pub mod leases;
pub mod problems;
pub mod regressions;
pub mod selector;
pub mod timeline;
pub mod zones;

pub use definitions::{
    compute_day, compute_sessions, funnel, journey_rows, journeys, reach_rows, sessionize, summarize_answers,
    survey_reach, top_terms, FunnelStep, Journeys, PageView, QuestionReach, Session, SessionPath, SurveyReach,
    SurveySummary,
};

pub use crate::model::rows::*;
pub use crate::model::rules::Rules;
