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
