//! The Rust rows written to and read from ClickHouse (RowBinary, no client-side validation:
//! 18.16 has no `RowBinaryWithNamesAndTypes`), each with the ClickHouse type of every field
//! derived from the field's Rust type ([`ChType`]). So one definition gives both the bytes
//! on the wire and the (name, type) list that is compared with:
//! - `DESCRIBE TABLE` at start-up, for every table we insert into (P4: refuse to start on a
//!   mismatch instead of failing inserts with "cannot read all data");
//! - the `-- columns:` / `-- returns:` declarations of `queries.sql` (unit test below), which
//!   `tests/chdb/check.py` and `tests/clickhouse_warehouse.rs` compare with what the servers
//!   report.

mod schema;
pub use schema::*;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The ClickHouse type a Rust field type is encoded as in RowBinary.
pub trait ChType {
    const NAME: &'static str;
}

macro_rules! ch_type {
    ($($t:ty => $n:literal),* $(,)?) => {
        $(impl ChType for $t { const NAME: &'static str = $n; })*
    };
}
ch_type!(
    String => "String", u8 => "UInt8", u16 => "UInt16", u32 => "UInt32", u64 => "UInt64", i64 => "Int64",
    f64 => "Float64",
    Vec<String> => "Array(String)", Vec<u8> => "Array(UInt8)", Vec<u32> => "Array(UInt32)",
    Vec<u64> => "Array(UInt64)", Vec<i64> => "Array(Int64)",
);
impl ChType for &str {
    const NAME: &'static str = "String";
}

/// A `Date`: days since 1970-01-01 (UInt16 in RowBinary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Date(pub u16);
impl ChType for Date {
    const NAME: &'static str = "Date";
}
impl Date {
    /// The UTC day of `ts` (ms), clamped to the range of `Date` (1970-01-01 … 2149-06-06).
    pub fn of_ms(ts: i64) -> Date {
        Date(ts.div_euclid(crate::model::rows::DAY_MS).clamp(0, u16::MAX as i64) as u16)
    }
}

/// Borrowed bytes written to a `String` column (the protobuf record of an inserted event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobRef<'a>(pub &'a [u8]);
impl ChType for BlobRef<'_> {
    const NAME: &'static str = "String";
}
impl Serialize for BlobRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

/// Bytes in a `String` column (the protobuf record).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Blob(pub Vec<u8>);
impl ChType for Blob {
    const NAME: &'static str = "String";
}
impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        BlobRef(&self.0).serialize(s)
    }
}
impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Blob, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Blob;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Blob, E> {
                Ok(Blob(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Blob, E> {
                Ok(Blob(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Blob, E> {
                Ok(Blob(v.as_bytes().to_vec()))
            }
        }
        d.deserialize_byte_buf(V)
    }
}

/// A row type whose fields' ClickHouse types are known.
pub trait Typed: clickhouse::Row {
    /// ClickHouse type of each field, in field order (same order as `Row::COLUMN_NAMES`).
    const TYPES: &'static [&'static str];
}

/// (column name, ClickHouse type) of a row type, in field order.
pub fn columns<T: Typed>() -> Vec<(&'static str, &'static str)> {
    assert_eq!(T::COLUMN_NAMES.len(), T::TYPES.len(), "{}: names vs types", T::NAME);
    T::COLUMN_NAMES.iter().copied().zip(T::TYPES.iter().copied()).collect()
}

macro_rules! rows {
    ($( $(#[$m:meta])* pub struct $name:ident $(<$lt:lifetime>)? { $($f:ident : $t:ty),* $(,)? } )*) => { $(
        $(#[$m])*
        pub struct $name $(<$lt>)? { $(pub $f: $t),* }
        impl $(<$lt>)? Typed for $name $(<$lt>)? {
            const TYPES: &'static [&'static str] = &[$(<$t as ChType>::NAME),*];
        }
    )* };
}

rows! {
    /// A row of `events` (`insert_events`).
    #[derive(Debug, clickhouse::Row, Serialize)]
    pub struct EventRow<'a> {
        id: &'a str,
        site: &'a str,
        session_id: &'a str,
        visitor_id: &'a str,
        ts: i64,
        day: Date,
        received_at: i64,
        r#type: &'a str,
        page_key: &'a str,
        url: &'a str,
        device: &'a str,
        bot: u8,
        bot_reason: &'a str,
        pageview_id: &'a str,
        selector: &'a str,
        zone: &'a str,
        x: f64,
        y: f64,
        scroll_depth: f64,
        name: &'a str,
        record: BlobRef<'a>,
    }

    /// A row of `sites` (`insert_sites`).
    #[derive(Debug, clickhouse::Row, Serialize)]
    pub struct SiteRow<'a> {
        key: &'a str,
        json: &'a str,
        updated_at: u64,
    }

    /// A row of `api_tokens` (`insert_api_tokens`).
    #[derive(Debug, clickhouse::Row, Serialize)]
    pub struct TokenRow<'a> {
        id: &'a str,
        json: &'a str,
        updated_at: u64,
    }

    /// A row of `forgets` (`insert_forgets`).
    #[derive(Debug, clickhouse::Row, Serialize)]
    pub struct ForgetRow<'a> {
        id: &'a str,
        json: &'a str,
        updated_at: u64,
    }

    /// A row of `schema_migrations` (`insert_schema_migration`).
    #[derive(Debug, clickhouse::Row, Serialize)]
    pub struct MigrationRow<'a> {
        version: u32,
        name: &'a str,
        checksum: &'a str,
        applied_at: i64,
    }

    /// `applied_migrations`.
    #[derive(Debug, clickhouse::Row, Deserialize)]
    pub struct AppliedRow {
        version: u32,
        name: String,
        checksum: String,
    }

    /// `existing_ids`.
    #[derive(Debug, clickhouse::Row, Deserialize)]
    pub struct IdRow {
        id: String,
    }

    /// `session_events`.
    #[derive(Debug, clickhouse::Row, Deserialize)]
    pub struct RecordRow {
        record: Blob,
    }

    /// A row of `session_marks` (`insert_session_marks`).
    #[derive(Debug, clickhouse::Row, Serialize)]
    pub struct SessionMarkRow<'a> {
        site: &'a str,
        session_id: &'a str,
        bucket: u16,
        version: u64,
    }

    /// A row of `session_state` (`insert_session_state`).
    #[derive(Debug, clickhouse::Row, Serialize)]
    pub struct SessionStateRow<'a> {
        site: &'a str,
        session_id: &'a str,
        version: u64,
    }

    /// `next_site_version`.
    #[derive(Debug, clickhouse::Row, Deserialize)]
    pub struct VersionRow {
        version: u64,
    }

    /// `dirty_sessions`: the newest mark and the oldest mark not covered by a state.
    #[derive(Debug, clickhouse::Row, Deserialize)]
    pub struct DirtySessionRow {
        site: String,
        session_id: String,
        newest: u64,
        since: u64,
        fresh: u8,
    }

    /// `oldest_dirty_mark`: marks not covered by a state, and the oldest of them (0 when none).
    #[derive(Debug, clickhouse::Row, Deserialize)]
    pub struct OldestDirtyRow {
        dirty: u64,
        since: u64,
    }

    /// `sessions_in_days`.
    #[derive(Debug, clickhouse::Row, Deserialize)]
    pub struct SessionIdRow {
        session_id: String,
    }

    /// `rollup_days`.
    #[derive(Debug, clickhouse::Row, Deserialize)]
    pub struct DayRow {
        day: i64,
    }

    /// `visitor_sessions`.
    #[derive(Debug, clickhouse::Row, Deserialize)]
    pub struct VisitorSessionRow {
        session_id: String,
        day: i64,
    }

    /// `rollup_rows_before`.
    #[derive(Debug, clickhouse::Row, Deserialize)]
    pub struct RowsCountRow {
        rows: u64,
    }

    /// A row of `migration_lock_age`: seconds since the lock was taken.
    #[derive(Debug, clickhouse::Row, Deserialize)]
    pub struct LockAgeRow {
        age_s: i64,
    }

    /// A row of `listed_sessions`: one listed session and its sort key (start ms).
    #[derive(Debug, Clone, clickhouse::Row, Deserialize)]
    pub struct ListedCh {
        day: i64,
        session_id: String,
        session_key: String,
        start_ts: i64,
    }

    /// A row of `rollup_sessions` (`insert_sessions`, `live_sessions`, `read_sessions`):
    /// [`crate::model::rows::SessionRow`], its steps as parallel arrays.
    #[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
    pub struct SessionsCh {
        site: String,
        day: i64,
        session_id: String,
        session_key: String,
        gen: u64,
        deleted: u8,
        device: String,
        bot: u8,
        visitor_id: String,
        start_ts: i64,
        end_ts: i64,
        pageviews: u32,
        step_ts: Vec<i64>,
        step_name: Vec<String>,
        step_custom: Vec<u8>,
        clicks: u32,
        rage_clicks: u32,
        dead_clicks: u32,
        quick_backs: u32,
        feedback: u32,
        survey_responses: u32,
        channel: String,
        referrer: String,
        utm_source: String,
        utm_medium: String,
        utm_campaign: String,
        browser: String,
        os: String,
        language: String,
    }

    /// A row of `rollup_session_details` ([`crate::model::rows::SessionDetailRow`], its lists as
    /// parallel arrays).
    #[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
    pub struct DetailsCh {
        site: String,
        day: i64,
        session_id: String,
        session_key: String,
        gen: u64,
        deleted: u8,
        device: String,
        bot: u8,
        page_page: Vec<String>,
        page_pageviews: Vec<u32>,
        page_clicks: Vec<u32>,
        page_rage_clicks: Vec<u32>,
        page_dead_clicks: Vec<u32>,
        page_quick_backs: Vec<u32>,
        el_page: Vec<String>,
        el_selector: Vec<String>,
        el_zone: Vec<String>,
        el_clicks: Vec<u32>,
        el_rage_clicks: Vec<u32>,
        el_dead_clicks: Vec<u32>,
        replay_recording_id: Vec<String>,
        replay_started_at: Vec<i64>,
        replay_ended_at: Vec<i64>,
        replay_pages: Vec<u32>,
        replay_events: Vec<u32>,
        replay_bytes: Vec<u64>,
        replay_clicks: Vec<u32>,
        replay_errors: Vec<u32>,
        negative_feedback: u32,
    }

    /// A row of `rollup_answers` ([`crate::model::rows::AnswerRow`]; `value_type` 0 number, 1 text,
    /// 2 choices).
    #[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
    pub struct AnswersCh {
        site: String,
        day: i64,
        session_id: String,
        id: String,
        gen: u64,
        deleted: u8,
        device: String,
        bot: u8,
        ts: i64,
        survey_id: String,
        question_id: String,
        kind: String,
        value_type: u8,
        value_number: f64,
        value_text: String,
        value_choices: Vec<String>,
        page: String,
        session_key: String,
        survey_trigger: String,
    }

    /// A row of `rollup_feedback` ([`crate::model::rows::FeedbackRow`]).
    #[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
    pub struct FeedbackCh {
        site: String,
        day: i64,
        session_id: String,
        id: String,
        gen: u64,
        deleted: u8,
        device: String,
        bot: u8,
        ts: i64,
        page: String,
        session_key: String,
        has_rating: u8,
        rating: u8,
        comment: String,
        category: String,
        selector: String,
    }

    /// A row of `replay_chunks` (`insert_replay_chunks`): one part of a replay chunk.
    #[derive(Debug, clickhouse::Row, Serialize)]
    pub struct ReplayChunkRow<'a> {
        site: &'a str, session_id: &'a str, win: &'a str, seq: u32, part: u32,
        visitor_id: &'a str, ts: i64, day: Date, meta: Blob, data: Blob,
    }

    /// `replay_parts`.
    #[derive(Debug, clickhouse::Row, Deserialize)]
    pub struct ReplayPartRow {
        session_id: String, meta: Blob, data: Blob, bytes: u64,
    }

    /// `replay_part_meta`.
    #[derive(Debug, clickhouse::Row, Deserialize)]
    pub struct ReplayMetaRow {
        session_id: String, meta: Blob, bytes: u64,
    }

    /// `count_events`.
    #[derive(Debug, clickhouse::Row, Deserialize)]
    pub struct CountRow {
        events: u64,
    }

    /// `sites`.
    #[derive(Debug, clickhouse::Row, Deserialize)]
    pub struct JsonRow {
        json: String,
    }

    /// `ping`.
    #[derive(Debug, clickhouse::Row, Deserialize)]
    pub struct PingRow {
        ok: u8,
    }

    /// `running_rollup_writes`: one running query.
    #[derive(Debug, clickhouse::Row, Deserialize)]
    pub struct QueryIdRow {
        query_id: String,
    }
}

/// A table of an additive part: rows per (day, session, device, bot, key) whose counters are
/// summed by the `SummingMergeTree` and by reads. The stored rows of a session are deltas:
/// [`Additive::minus`] of its new and its current net rows.
pub trait Additive: Clone {
    /// (day, session_id, device, bot, (key columns…)).
    type Key: Ord + Clone;
    fn key(&self) -> Self::Key;
    /// The counters of `self` minus those of `old` (same key).
    fn minus(&self, old: &Self) -> Self;
    /// The counters negated.
    fn negated(&self) -> Self;
    /// Every counter is 0.
    fn is_zero(&self) -> bool;
}

mod per_session;
mod report_sums;
pub use per_session::PerSession;
pub use report_sums::*;

macro_rules! additive {
    ($(
        $(#[$m:meta])* $row:ident, $sum:ident {
            keys: $($k:ident : $kt:ty),* ;
            ints: $($c:ident),* ;
            floats: $($f:ident),*
        }
    )*) => { $(
        rows! {
            $(#[$m])*
            #[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
            pub struct $row {
                site: String,
                day: i64,
                session_id: String,
                device: String,
                bot: u8,
                $($k: $kt,)*
                $($c: i64,)*
                $($f: f64,)*
            }

            /// The sums of the part per (day, device, bot, key) over sessions.
            #[derive(Debug, Clone, PartialEq, clickhouse::Row, Deserialize)]
            pub struct $sum {
                day: i64,
                device: String,
                bot: u8,
                $($k: $kt,)*
                $($c: i64,)*
                $($f: f64,)*
            }
        }

        impl Additive for $row {
            type Key = (i64, String, String, u8, ($($kt,)*));
            fn key(&self) -> Self::Key {
                (self.day, self.session_id.clone(), self.device.clone(), self.bot, ($(self.$k.clone(),)*))
            }
            fn minus(&self, old: &Self) -> Self {
                let mut d = self.clone();
                $(d.$c -= old.$c;)*
                $(d.$f -= old.$f;)*
                d
            }
            fn negated(&self) -> Self {
                let mut d = self.clone();
                $(d.$c = -d.$c;)*
                $(d.$f = -d.$f;)*
                d
            }
            fn is_zero(&self) -> bool {
                true $(&& self.$c == 0)* $(&& self.$f == 0.0)*
            }
        }
    )* };
}

additive! {
    /// A row of `rollup_pages` ([`crate::model::rows::PageRow`] of one session).
    PagesCh, PagesSumCh {
        keys: page: String, layout: String;
        ints: pageviews, clicks, quick_backs, fold_n, viewport_h_sum, doc_h_sum;
        floats:
    }
    /// A row of `rollup_grid` ([`crate::model::rows::GridRow`]; `clicks` is its `count`).
    GridCh, GridSumCh {
        keys: page: String, layout: String, cx: u32, cy: u32;
        ints: clicks;
        floats:
    }
    /// A row of `rollup_elements` ([`crate::model::rows::ElementRow`] without its `el_cells`).
    /// `text` and `text_ts` (the session's most recent text on the element) are in the
    /// stored key so that a changed text nets its old row to 0 instead of being summed;
    /// `sum_elements` keeps the most recent text of the live rows per element, so reads are
    /// never split by text.
    ElementsCh, ElementsSumCh {
        keys: page: String, layout: String, selector: String, zone: String, text: String, text_ts: i64;
        ints: clicks, rage_clicks, dead_clicks, el_n;
        floats: el_x_sum, el_y_sum
    }
    /// A row of `rollup_el_cells` (one [`crate::model::rows::ElCell`] of an element).
    ElCellsCh, ElCellsSumCh {
        keys: page: String, layout: String, selector: String, zone: String, x: u8, y: u8;
        ints: clicks;
        floats:
    }
    /// A row of `rollup_scroll` ([`crate::model::rows::ScrollRow`]).
    ScrollCh, ScrollSumCh {
        keys: page: String, layout: String, depth: u32;
        ints: pageviews;
        floats:
    }
    /// A row of `rollup_journeys` ([`crate::model::rows::JourneyRow`]; `kind` its code, `from_page`
    /// and `to_page` its `from` and `to`).
    JourneysCh, JourneysSumCh {
        keys: kind: u8, from_page: String, to_page: String;
        ints: count, bounces;
        floats:
    }
    /// A row of `rollup_problems` ([`crate::model::rows::ProblemRow`]; `kind` its code).
    ProblemsCh, ProblemsSumCh {
        keys: kind: u8, page: String, selector: String, zone: String;
        ints: rage_clicks, dead_clicks, quick_backs, sessions;
        floats:
    }
    /// A row of `rollup_zones` ([`crate::model::rows::ZoneRow`]).
    ZonesCh, ZonesSumCh {
        keys: page: String, layout: String, zone: String;
        ints: exposed, clicked, exposed_clicked, visible_ms_sum, hovered, hover_ms_sum, hesitation_n,
            hesitation_ms_sum, click_sessions, converted_sessions;
        floats:
    }
    /// A row of `rollup_surveys` ([`crate::model::rows::SurveyRow`]).
    SurveysCh, SurveysSumCh {
        keys: survey_id: String, question_id: String, kind: String, value: String;
        ints: responses;
        floats:
    }
    /// A row of `rollup_reach` ([`crate::model::rows::ReachRow`]; `dismissed` 0 or 1).
    ReachCh, ReachSumCh {
        keys: survey_id: String, answered: String, dismissed_at: String, dismissed: u8;
        ints: sessions;
        floats:
    }
    /// A row of `rollup_goal` ([`crate::model::rows::GoalRow`]; `kind` its storage name).
    GoalCh, GoalSumCh {
        keys: goal: String, kind: String, step: u32, page: String, selector: String, zone: String, survey: String;
        ints: sessions, converted;
        floats:
    }
    /// A row of `rollup_list` (list.rs `list_rows`): the listed session keys of one session
    /// with these filter values; flags 0 or 1.
    ListCh, ListSumCh {
        keys: feedback: u8, rage: u8, dead: u8, channel: String, referrer: String, utm_source: String,
            utm_medium: String, utm_campaign: String, browser: String, os: String, language: String;
        ints: sessions;
        floats:
    }
}

#[cfg(test)]
mod tests;
