//! The rows of the `/journeys` reads (`journey_ends`, `journey_totals`, `journey_top`).

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
}
