//! The goal part's rows ([`GoalRow`]).

use super::Dims;
pub use crate::model::goal::{GoalKind, Signal};
use serde::{Deserialize, Serialize};

/// What the sessions that started on `dims.day` contribute to the site goal's figures
/// (analytics.md, "Impact on conversion" and "Regressions"), under the goal (`rules.goal`)
/// they were rolled up with: an additive part, one row per session and key, summed per
/// (day, device, bot, goal, kind, step, page, selector, zone, survey). `/problems` reads
/// its day totals instead of the range's session rows ([`crate::rollup::impact`]).
///
/// Per session: one [`GoalKind::Session`] row (also without a goal: `goal` ""); with a goal,
/// a [`GoalKind::Step`] row for each step of a `funnel:` goal it reached in order (`step`
/// 1..), a [`GoalKind::View`] row per page it viewed, and a [`GoalKind::Signal`] row per
/// signal it met (element signals with `selector` and `zone`, exit detractors with
/// `survey`); "" where a key does not apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoalRow {
    pub dims: Dims,
    /// `rules.goal` as written when the session was rolled up; "" without a goal.
    pub goal: String,
    pub kind: GoalKind,
    /// [`GoalKind::Step`]: the step reached (1 = the funnel's first step); else 0.
    pub step: u32,
    pub page: String,
    pub selector: String,
    pub zone: String,
    pub survey: String,
    /// Sessions (1 per session; summed).
    pub sessions: u64,
    /// Of `sessions`, those that reached the goal ([`crate::model::goal::Goal`]); 0 without one.
    pub converted: u64,
}

impl GoalRow {
    /// The row's key after its dimensions, for sorting and summing.
    pub fn key(&self) -> (&str, GoalKind, u32, &str, &str, &str, &str) {
        (
            &self.goal,
            self.kind,
            self.step,
            &self.page,
            &self.selector,
            &self.zone,
            &self.survey,
        )
    }
}
