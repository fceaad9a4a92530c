//! The data the stages share and store, with no I/O of its own: rollup rows and their
//! dimensions, a site's analytics rules, the sessions-list filter, stored API tokens and
//! erasure records, the stage of a dead letter. Events themselves are [`crate::event`].

pub mod answers;
pub mod days;
pub mod dead_stage;
pub mod feedback;
pub mod forget;
pub mod goal;
pub mod journeys;
pub mod range;
pub mod rounding;
pub mod rows;
pub mod rules;
pub mod segment;
pub mod session_filter;
pub mod token;
