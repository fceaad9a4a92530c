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

    /// The step as written in a goal or `?steps=`: its page key, or `event:<name>`
    /// ([`FunnelStep::parse`] of it gives it back).
    pub fn name(&self) -> String {
        match self {
            FunnelStep::Page(p) => p.clone(),
            FunnelStep::Event(e) => format!("event:{e}"),
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

/// Cut a session's timeline to what a funnel looks at: its steps that match one of
/// `steps`, in their order. Returns whether the session reached the funnel's first step;
/// when it did not, its funnel depth is 0 and the funnel counts it nowhere.
///
/// The depth of the cut timeline equals the depth of the whole one
/// (`rollup::definitions::journeys::funnel_depth` only looks at matching steps, their order
/// and their times), so a store may send only this part of each session
/// ([`crate::warehouse::Warehouse::funnel_sessions`]).
pub fn funnel_part(steps: &[FunnelStep], timeline: &mut Vec<Step>) -> bool {
    timeline.retain(|t| steps.iter().any(|s| s.matches(t)));
    steps
        .first()
        .is_some_and(|first| timeline.iter().any(|t| first.matches(t)))
}

/// The page keys and the custom event names of a funnel's steps (each once, in order):
/// what [`funnel_part`] keeps, for a store that cuts timelines on its side.
pub fn funnel_names(steps: &[FunnelStep]) -> (Vec<&str>, Vec<&str>) {
    let (mut pages, mut events) = (Vec::new(), Vec::new());
    for s in steps {
        let (list, name) = match s {
            FunnelStep::Page(p) => (&mut pages, p.as_str()),
            FunnelStep::Event(e) => (&mut events, e.as_str()),
        };
        if !list.contains(&name) {
            list.push(name);
        }
    }
    (pages, events)
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

/// The reason for `event:` without a name.
const NO_EVENT_NAME: &str = "event: needs an event name (event:<name>, such as event:purchase)";

/// Funnel steps from a comma-separated list (a goal's `funnel:` list, the funnel query's
/// `steps`): 1..=[`MAX_GOAL_STEPS`] steps, each a page key or `event:<name>`, trimmed.
/// `Err(reason)` names the step: "step N is empty: …", "step N: event: needs an event
/// name …", or "has at most 20 steps" / "needs 1 to 20 steps".
pub fn parse_steps(list: &str) -> Result<Vec<FunnelStep>, String> {
    if list.trim().is_empty() {
        return Err(format!(
            "needs 1 to {MAX_GOAL_STEPS} steps (<step>,<step>,…, each a page key or event:<name>)"
        ));
    }
    let steps = list
        .split(',')
        .enumerate()
        .map(|(i, t)| match t.trim() {
            "" => Err(format!(
                "step {} is empty: give a page key or event:<name> between every pair of commas",
                i + 1
            )),
            "event:" => Err(format!("step {}: {NO_EVENT_NAME}", i + 1)),
            t => Ok(FunnelStep::parse(t)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if steps.len() > MAX_GOAL_STEPS {
        return Err(format!("has at most {MAX_GOAL_STEPS} steps"));
    }
    Ok(steps)
}

impl Goal {
    /// Parse `rules.goal`; `Err(reason)` naming what is wrong for the form given: an empty
    /// goal, `event:` without a name, or a `funnel:` whose steps [`parse_steps`] refuses.
    /// Anything without a prefix is a page key (`purchase` is the page key `purchase`, not
    /// the custom event).
    pub fn parse(s: &str) -> Result<Goal, String> {
        let s = s.trim();
        match s.strip_prefix("funnel:") {
            Some(list) if list.trim().is_empty() => {
                Err("funnel: needs its steps (funnel:<step>,<step>,…, each a page key or event:<name>)".into())
            }
            Some(list) => parse_steps(list).map(Goal::Funnel).map_err(|e| format!("funnel {e}")),
            None if s.is_empty() => Err("is empty: give a page key, event:<name> or funnel:<step>,<step>,…".into()),
            None if s == "event:" => Err(NO_EVENT_NAME.into()),
            None => Ok(Goal::Step(FunnelStep::parse(s))),
        }
    }

    /// The goal written as in settings: a page key, `event:<name>` or
    /// `funnel:<step>,<step>,…` ([`Goal::parse`] of it gives it back).
    pub fn to_setting(&self) -> String {
        match self {
            Goal::Step(s) => s.name(),
            Goal::Funnel(steps) => format!(
                "funnel:{}",
                steps.iter().map(FunnelStep::name).collect::<Vec<_>>().join(",")
            ),
        }
    }

    /// The goal with every page step's page replaced by `key(page)` (its page key).
    pub fn map_pages(self, key: impl Fn(&str) -> String) -> Goal {
        let step = |s: FunnelStep| match s {
            FunnelStep::Page(p) => FunnelStep::Page(key(&p)),
            e => e,
        };
        match self {
            Goal::Step(s) => Goal::Step(step(s)),
            Goal::Funnel(steps) => Goal::Funnel(steps.into_iter().map(step).collect()),
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

/// A frustration signal whose conversion impact is measured (analytics.md, "Impact on
/// conversion"), named in storage and JSON by [`Signal::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// At least one rage click on the element (page, selector, zone).
    RageClick,
    /// At least one dead click on the element.
    DeadClick,
    /// At least one quick back from the page.
    QuickBack,
    /// Feedback rated ≤ 2 given on the page.
    NegativeFeedback,
    /// An NPS answer of 0–6 to a survey opened by exit intent, on the page.
    ExitDetractor,
}

impl Signal {
    /// Every signal.
    pub const ALL: [Signal; 5] = [
        Signal::RageClick,
        Signal::DeadClick,
        Signal::QuickBack,
        Signal::NegativeFeedback,
        Signal::ExitDetractor,
    ];
    /// The signal's name (`rage_click`, `dead_click`, `quick_back`, `negative_feedback`,
    /// `exit_detractor`), as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::RageClick => "rage_click",
            Signal::DeadClick => "dead_click",
            Signal::QuickBack => "quick_back",
            Signal::NegativeFeedback => "negative_feedback",
            Signal::ExitDetractor => "exit_detractor",
        }
    }
}

/// What a row of the goal part counts ([`super::rows::GoalRow`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum GoalKind {
    /// The session itself (every rolled-up session has one: the goal it was rolled up under).
    Session,
    /// The session reached this step of a `funnel:` goal (`step` 1-based).
    Step,
    /// The session viewed this page (or met a signal on it): who could have met its signals.
    View,
    /// The session met this signal.
    Signal(Signal),
}

impl GoalKind {
    /// Storage name: `session`, `step`, `view`, or the signal's name.
    pub fn as_str(self) -> &'static str {
        match self {
            GoalKind::Session => "session",
            GoalKind::Step => "step",
            GoalKind::View => "view",
            GoalKind::Signal(s) => s.as_str(),
        }
    }
    /// Parse a storage name ([`GoalKind::as_str`]).
    pub fn parse(s: &str) -> Option<GoalKind> {
        match s {
            "session" => Some(GoalKind::Session),
            "step" => Some(GoalKind::Step),
            "view" => Some(GoalKind::View),
            _ => Signal::ALL.into_iter().find(|x| x.as_str() == s).map(GoalKind::Signal),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goal_errors_name_what_is_wrong_for_each_form() {
        let err = |s: &str| Goal::parse(s).unwrap_err();
        assert!(
            err("event:").starts_with("event: needs an event name"),
            "{}",
            err("event:")
        );
        assert!(err(" event: ").starts_with("event: needs an event name"));
        assert!(err("").starts_with("is empty"));
        assert!(err("funnel:").starts_with("funnel: needs its steps"));
        assert!(err("funnel:a/cart,,a/thanks").starts_with("funnel step 2 is empty"));
        assert!(err("funnel:a/cart,event:").starts_with("funnel step 2: event: needs an event name"));
        assert!(err(&format!("funnel:{}", vec!["a"; 21].join(","))).contains("at most 20 steps"));
        // No prefix: a page key, even when it reads like an event name.
        assert_eq!(
            Goal::parse("purchase").unwrap(),
            Goal::Step(FunnelStep::Page("purchase".into()))
        );
        assert_eq!(
            Goal::parse("event:purchase").unwrap(),
            Goal::Step(FunnelStep::Event("purchase".into()))
        );
    }
}
