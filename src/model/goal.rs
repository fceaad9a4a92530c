//! Funnel steps and the site goal (`rules.goal`), as written in settings and queries.

use super::rows::Step;

/// One funnel step (analytics.md, "Funnel"): a page (by page key) or a custom event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FunnelStep {
    /// Matches a page view step whose page key equals this.
    Page(String),
    /// Matches a custom event step with this name.
    Event(String),
}

impl FunnelStep {
    /// Parse one step of `?steps=`: `event:<name>` is a custom event, anything else a page
    /// key.
    pub fn parse(s: &str) -> FunnelStep {
        match s.strip_prefix("event:") {
            Some(name) => FunnelStep::Event(name.to_string()),
            None => FunnelStep::Page(s.to_string()),
        }
    }

    /// Whether a timeline step is this step.
    pub fn matches(&self, step: &Step) -> bool {
        match self {
            FunnelStep::Page(key) => !step.custom && step.name == *key,
            FunnelStep::Event(name) => step.custom && step.name == *name,
        }
    }
}

/// Window within which a `funnel:` goal's steps must follow its first step (the funnel's
/// default window, 1 day).
pub const FUNNEL_GOAL_WINDOW_MS: i64 = super::rows::DAY_MS;

/// Most steps of a `funnel:` goal (as a funnel query).
pub const MAX_GOAL_STEPS: usize = 20;

/// The site goal (`rules.goal`): a page key (`shop.example/thanks`), a custom event
/// (`event:purchase`), or a funnel whose last step is the goal (`funnel:<step>,<step>,…`,
/// steps written as in `/funnel?steps=`, reached in order within
/// [`FUNNEL_GOAL_WINDOW_MS`] of the first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Goal {
    /// A page view of this page key, or this custom event.
    Step(FunnelStep),
    /// Every step in order, the last within a day of the first.
    Funnel(Vec<FunnelStep>),
}

impl Goal {
    /// Parse `rules.goal`; `Err(reason)` for an empty goal, `event:` without a name, or a
    /// `funnel:` without 1..=20 non-empty steps.
    pub fn parse(s: &str) -> Result<Goal, String> {
        let s = s.trim();
        let step = |t: &str| -> Result<FunnelStep, String> {
            let t = t.trim();
            if t.is_empty() || t == "event:" {
                return Err("a page key, event:<name> or funnel:<step>,<step>,…; a step is empty".into());
            }
            Ok(FunnelStep::parse(t))
        };
        match s.strip_prefix("funnel:") {
            Some(list) => {
                let steps = list.split(',').map(step).collect::<Result<Vec<_>, _>>()?;
                if steps.len() > MAX_GOAL_STEPS {
                    return Err(format!("a funnel goal has at most {MAX_GOAL_STEPS} steps"));
                }
                Ok(Goal::Funnel(steps))
            }
            None => step(s).map(Goal::Step),
        }
    }

    /// The step that is the goal itself (a funnel's last step).
    pub fn last_step(&self) -> &FunnelStep {
        match self {
            Goal::Step(s) => s,
            Goal::Funnel(steps) => steps.last().expect("parse gives at least one step"),
        }
    }
}
