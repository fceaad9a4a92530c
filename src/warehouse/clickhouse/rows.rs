//! The Rust rows written to and read from ClickHouse (RowBinary, no client-side validation:
//! 18.16 has no `RowBinaryWithNamesAndTypes`), each with the ClickHouse type of every field
//! derived from the field's Rust type ([`ChType`]). So one definition gives both the bytes
//! on the wire and the (name, type) list that is compared with:
//! - `DESCRIBE TABLE` at start-up, for every table we insert into (P4: refuse to start on a
//!   mismatch instead of failing inserts with "cannot read all data");
//! - the `-- columns:` / `-- returns:` declarations of `queries.sql` (unit test below), which
//!   `tests/chdb/check.py` and `tests/clickhouse_warehouse.rs` compare with what the servers
//!   report.

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
ch_type!(String => "String", u8 => "UInt8", u32 => "UInt32", u64 => "UInt64", i64 => "Int64", f64 => "Float64");
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
        Date(ts.div_euclid(crate::rollup::DAY_MS).clamp(0, u16::MAX as i64) as u16)
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
        s.serialize_bytes(&self.0)
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
        record: Blob,
    }

    /// A row of `dirty_marks` (`insert_dirty_marks`).
    #[derive(Debug, clickhouse::Row, Serialize)]
    pub struct DirtyMarkRow<'a> {
        site: &'a str,
        day: i64,
        version: u64,
    }

    /// A row of `rollup_state` (`insert_rollup_state`).
    #[derive(Debug, clickhouse::Row, Serialize)]
    pub struct RollupStateRow<'a> {
        site: &'a str,
        day: i64,
        version: u64,
        gen: u64,
    }

    /// A row of `rollup_rows` (`insert_rollup_rows`).
    #[derive(Debug, clickhouse::Row, Serialize)]
    pub struct RollupRowRow<'a> {
        site: &'a str,
        day: i64,
        version: u64,
        gen: u64,
        part: &'a str,
        page: &'a str,
        n: u32,
        data: &'a str,
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

    /// `visitor_days`.
    #[derive(Debug, clickhouse::Row, Deserialize)]
    pub struct DayRow {
        day: i64,
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

    /// `session_spans`.
    #[derive(Debug, clickhouse::Row, Deserialize)]
    pub struct SpanRow {
        site: String,
        session_id: String,
        first_ts: i64,
        last_ts: i64,
    }

    /// `next_version`.
    #[derive(Debug, clickhouse::Row, Deserialize)]
    pub struct VersionRow {
        version: u64,
    }

    /// `dirty_days`.
    #[derive(Debug, clickhouse::Row, Deserialize)]
    pub struct DirtyRow {
        site: String,
        day: i64,
        version: u64,
    }

    /// `session_events`.
    #[derive(Debug, clickhouse::Row, Deserialize)]
    pub struct RecordRow {
        record: Blob,
    }

    /// `read_rollup`.
    #[derive(Debug, clickhouse::Row, Deserialize)]
    pub struct PartDataRow {
        part: String,
        data: String,
    }

    /// `superseded_generations`.
    #[derive(Debug, clickhouse::Row, Deserialize)]
    pub struct GenRow {
        gen: u64,
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
}

/// For every insert statement: its name and the columns the Rust row writes.
pub fn insert_rows() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    use super::sql::name::*;
    vec![
        (INSERT_EVENTS, columns::<EventRow>()),
        (INSERT_DIRTY_MARKS, columns::<DirtyMarkRow>()),
        (INSERT_ROLLUP_STATE, columns::<RollupStateRow>()),
        (INSERT_ROLLUP_ROWS, columns::<RollupRowRow>()),
        (INSERT_SITES, columns::<SiteRow>()),
        (INSERT_API_TOKENS, columns::<TokenRow>()),
        (INSERT_FORGETS, columns::<ForgetRow>()),
        (INSERT_SCHEMA_MIGRATION, columns::<MigrationRow>()),
    ]
}

/// For every query with a result: its name and the columns the Rust row reads.
pub fn result_rows() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    use super::sql::name::*;
    vec![
        (APPLIED_MIGRATIONS, columns::<AppliedRow>()),
        (EXISTING_IDS, columns::<IdRow>()),
        (SESSION_SPANS, columns::<SpanRow>()),
        (NEXT_VERSION, columns::<VersionRow>()),
        (DIRTY_DAYS, columns::<DirtyRow>()),
        (SESSION_EVENTS, columns::<RecordRow>()),
        (READ_ROLLUP, columns::<PartDataRow>()),
        (SUPERSEDED_GENERATIONS, columns::<GenRow>()),
        (COUNT_EVENTS, columns::<CountRow>()),
        (SITES, columns::<JsonRow>()),
        (API_TOKENS, columns::<JsonRow>()),
        (VISITOR_DAYS, columns::<DayRow>()),
        (COUNT_VISITOR_EVENTS, columns::<CountRow>()),
        (COUNT_EVENTS_BEFORE, columns::<CountRow>()),
        (FORGETS, columns::<JsonRow>()),
        (PING, columns::<PingRow>()),
    ]
}

/// Differences between the columns a Rust row writes and `DESCRIBE TABLE` (name, type):
/// a column missing from the table, or of another type. Columns of the table the row does
/// not write are fine (they take their defaults).
pub fn schema_mismatches(table: &str, rust: &[(&str, &str)], described: &[(String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (name, ty) in rust {
        match described.iter().find(|(n, _)| n == name) {
            None => out.push(format!(
                "{table}.{name}: Sightline writes {ty}, the table has no such column"
            )),
            Some((_, have)) if have != ty => {
                out.push(format!("{table}.{name}: Sightline writes {ty}, the table has {have}"))
            }
            Some(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::sql;
    use super::*;

    fn owned(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn insert_rows_match_the_declared_columns_of_queries_sql() {
        let rows = insert_rows();
        for st in sql::statements().iter().filter(|s| s.insert.is_some()) {
            let (_, cols) = rows
                .iter()
                .find(|(n, _)| *n == st.name)
                .unwrap_or_else(|| panic!("no Rust row for {}", st.name));
            assert_eq!(owned(cols), st.columns, "{}", st.name);
        }
    }

    #[test]
    fn result_rows_match_the_declared_returns_of_queries_sql() {
        let rows = result_rows();
        for st in sql::statements().iter().filter(|s| !s.returns.is_empty()) {
            let (_, cols) = rows
                .iter()
                .find(|(n, _)| *n == st.name)
                .unwrap_or_else(|| panic!("no Rust row for {}", st.name));
            assert_eq!(owned(cols), st.returns, "{}", st.name);
        }
        for (n, _) in &rows {
            assert!(!sql::get(n).returns.is_empty(), "{n} needs `-- returns:`");
        }
    }

    #[test]
    fn raw_identifiers_lose_their_prefix() {
        assert!(columns::<EventRow>().contains(&("type", "String")));
    }

    #[test]
    fn mismatches_name_the_table_column_and_both_types() {
        let described = owned(&[("id", "String"), ("x", "Nullable(Float64)"), ("extra", "UInt8")]);
        let m = schema_mismatches(
            "events",
            &[("id", "String"), ("x", "Float64"), ("y", "Float64")],
            &described,
        );
        assert_eq!(
            m,
            vec![
                "events.x: Sightline writes Float64, the table has Nullable(Float64)",
                "events.y: Sightline writes Float64, the table has no such column"
            ]
        );
    }

    #[test]
    fn dates_are_utc_days_clamped_to_the_date_range() {
        assert_eq!(Date::of_ms(0), Date(0));
        assert_eq!(Date::of_ms(86_400_000 * 19_844 + 5), Date(19_844));
        assert_eq!(Date::of_ms(-1), Date(0));
        assert_eq!(Date::of_ms(i64::MAX), Date(u16::MAX));
    }
}
