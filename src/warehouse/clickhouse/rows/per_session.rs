//! The per-session parts' rows: one row per key, newest `gen` wins.

use super::*;

/// A table of a per-session part: one row per key, the highest `gen` wins, `deleted` = 1
/// is a tombstone.
pub trait PerSession: Clone + PartialEq {
    /// (day, session_id, session key or event id).
    type Key: Ord + Clone;
    fn key(&self) -> Self::Key;
    fn session_id(&self) -> &str;
    fn gen(&self) -> u64;
    fn set_gen(&mut self, gen: u64);
    fn set_deleted(&mut self);
}

macro_rules! per_session {
    ($($t:ident by $k:ident),* $(,)?) => { $(
        impl PerSession for $t {
            type Key = (i64, String, String);
            fn key(&self) -> Self::Key {
                (self.day, self.session_id.clone(), self.$k.clone())
            }
            fn session_id(&self) -> &str {
                &self.session_id
            }
            fn gen(&self) -> u64 {
                self.gen
            }
            fn set_gen(&mut self, gen: u64) {
                self.gen = gen;
            }
            fn set_deleted(&mut self) {
                self.deleted = 1;
            }
        }
    )* };
}
per_session!(SessionsCh by session_key, DetailsCh by session_key, AnswersCh by id, FeedbackCh by id);
