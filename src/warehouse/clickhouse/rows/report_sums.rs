//! The rows of the reads that sum on the server for one report: `/journeys`
//! (`journey_ends`, `journey_totals`, `journey_top`) and the answers and feedback of
//! `/voc` (`answer_counts`, `feedback_groups`).

use super::*;

rows! {
    /// `journey_ends`: an entry (kind 0) or exit (kind 1) page's sums.
    #[derive(Debug, clickhouse::Row, Deserialize)]
    pub struct JourneyEndCh {
        kind: u8,
        page: String,
        sessions: i64,
        bounces: i64,
    }

    /// `journey_totals`: distinct keys of a journey kind.
    #[derive(Debug, clickhouse::Row, Deserialize)]
    pub struct JourneyKeysCh {
        kind: u8,
        keys: u64,
    }

    /// `journey_top`: one transition or path and its count.
    #[derive(Debug, clickhouse::Row, Deserialize)]
    pub struct JourneyTopCh {
        from_page: String,
        to_page: String,
        count: i64,
    }

    /// `feedback_groups`: [`crate::model::feedback::FeedbackGroup`].
    #[derive(Debug, clickhouse::Row, Deserialize)]
    pub struct FeedbackGroupCh {
        day: i64,
        page: String,
        selector: String,
        category: String,
        count: u64,
        rated: u64,
        rating_sum: u64,
        negative: u64,
    }

    /// `answer_counts`: [`crate::model::answers::AnswerCount`], its kind by name.
    #[derive(Debug, clickhouse::Row, Deserialize)]
    pub struct AnswerCountCh {
        day: i64,
        survey_id: String,
        question_id: String,
        kind: String,
        answers: u64,
    }
}
