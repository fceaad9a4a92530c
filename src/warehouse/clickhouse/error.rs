//! ClickHouse errors, classified so the sink can tell what to do with a failed batch:
//! retry it (network, overload, "too many parts"), or stop retrying a batch whose data
//! ClickHouse refuses (codes like 117 INCORRECT_DATA, 53 TYPE_MISMATCH), or alert on a
//! broken deployment (unknown table, syntax, authentication), where neither retrying nor
//! dropping data is right.

use crate::warehouse::StoreError;
use regex::Regex;
use std::sync::OnceLock;

/// What kind of failure a ClickHouse error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Transient: the same request may succeed later (network, timeouts, overload, memory,
    /// too many parts or simultaneous queries). Retry with capped backoff and jitter.
    Retryable,
    /// The data was refused (parse errors, type mismatch, incorrect data): the same batch
    /// will fail again. Don't retry it as is.
    Data,
    /// Anything else with an error code (unknown table or column, syntax, access): a
    /// deployment problem; retrying won't help and the data is not at fault.
    Fatal,
}

/// A failed ClickHouse request: which statement, the server's error code if any, and the
/// crate's error.
#[derive(Debug, thiserror::Error)]
#[error("ClickHouse {op} failed{}: {source}", code.map(|c| format!(" (code {c})")).unwrap_or_default())]
pub struct ClickHouseError {
    /// The statement's name in `queries.sql` (or what was being done).
    pub op: String,
    /// ClickHouse's exception code, when the server sent one.
    pub code: Option<u32>,
    pub class: ErrorClass,
    #[source]
    pub source: clickhouse::error::Error,
}

impl ClickHouseError {
    pub fn new(op: impl Into<String>, source: clickhouse::error::Error) -> ClickHouseError {
        let (code, class) = classify_crate_error(&source);
        ClickHouseError {
            op: op.into(),
            code,
            class,
            source,
        }
    }
    /// True when the request may succeed if retried.
    pub fn is_retryable(&self) -> bool {
        self.class == ErrorClass::Retryable
    }
    /// True when ClickHouse refused the data itself.
    pub fn is_data_error(&self) -> bool {
        self.class == ErrorClass::Data
    }
}

/// The class of the first [`ClickHouseError`] in `err`'s chain; `None` for other errors.
pub fn error_class(err: &anyhow::Error) -> Option<ErrorClass> {
    err.chain()
        .find_map(|e| e.downcast_ref::<ClickHouseError>())
        .map(|e| e.class)
}

/// The server's exception code of the first [`ClickHouseError`] in `err`'s chain.
pub fn error_code(err: &anyhow::Error) -> Option<u32> {
    err.chain()
        .find_map(|e| e.downcast_ref::<ClickHouseError>())
        .and_then(|e| e.code)
}

/// Whether a warehouse error is worth retrying: true for retryable ClickHouse errors and for
/// errors that did not come from ClickHouse (e.g. SQLite busy, a task join error); false for
/// ClickHouse data and fatal errors.
pub fn is_retryable(err: &anyhow::Error) -> bool {
    error_class(err).is_none_or(|c| c == ErrorClass::Retryable)
}

/// The warehouse's typed error for a failed write: refused data ([`ErrorClass::Data`]) becomes
/// [`StoreError::Refused`] with the ClickHouse code, a deployment problem
/// ([`ErrorClass::Fatal`]) [`StoreError::Broken`], and every other failure (retryable codes,
/// network, errors not from ClickHouse) [`StoreError::Unavailable`].
pub fn store_error(err: anyhow::Error) -> StoreError {
    let first = err.chain().find_map(|e| e.downcast_ref::<ClickHouseError>());
    match first.map(|e| (e.class, e.code)) {
        Some((ErrorClass::Data, code)) => StoreError::Refused {
            reason: format!("{err:#}"),
            code,
        },
        Some((ErrorClass::Fatal, _)) => StoreError::Broken(err),
        _ => StoreError::Unavailable(err),
    }
}

/// Codes for which ClickHouse refused the data.
const DATA_CODES: &[u32] = &[
    6,   // CANNOT_PARSE_TEXT
    26,  // CANNOT_PARSE_QUOTED_STRING
    27,  // CANNOT_PARSE_INPUT_ASSERTION_FAILED
    32,  // ATTEMPT_TO_READ_AFTER_EOF
    33,  // CANNOT_READ_ALL_DATA (a row not matching the table: see the start-up check)
    38,  // CANNOT_PARSE_DATE
    41,  // CANNOT_PARSE_DATETIME
    53,  // TYPE_MISMATCH
    69,  // ARGUMENT_OUT_OF_BOUND
    70,  // CANNOT_CONVERT_TYPE
    72,  // CANNOT_PARSE_NUMBER
    117, // INCORRECT_DATA
    131, // TOO_LARGE_STRING_SIZE
    321, // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
    349, // CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
];

/// Codes of transient failures.
const RETRYABLE_CODES: &[u32] = &[
    3,    // UNEXPECTED_END_OF_FILE (connection cut)
    159,  // TIMEOUT_EXCEEDED
    160,  // TOO_SLOW
    201,  // QUOTA_EXCEEDED (per interval)
    202,  // TOO_MANY_SIMULTANEOUS_QUERIES
    203,  // NO_FREE_CONNECTION
    209,  // SOCKET_TIMEOUT
    210,  // NETWORK_ERROR
    236,  // ABORTED
    241,  // MEMORY_LIMIT_EXCEEDED
    242,  // TABLE_IS_READ_ONLY (replica lost its keeper session)
    252,  // TOO_MANY_PARTS
    279,  // ALL_CONNECTION_TRIES_FAILED
    319,  // UNKNOWN_STATUS_OF_INSERT
    394,  // QUERY_WAS_CANCELLED
    425,  // SYSTEM_ERROR
    439,  // CANNOT_SCHEDULE_TASK
    473,  // DEADLOCK_AVOIDED
    999,  // KEEPER_EXCEPTION
    1000, // POCO_EXCEPTION (I/O inside the server)
];

/// Classify a server error code.
pub fn classify_code(code: u32) -> ErrorClass {
    if DATA_CODES.contains(&code) {
        ErrorClass::Data
    } else if RETRYABLE_CODES.contains(&code) {
        ErrorClass::Retryable
    } else {
        ErrorClass::Fatal
    }
}

/// The exception code in a ClickHouse error text: `Code: 117. DB::Exception: …` (current
/// servers, also sent as a header) or `Code: 117, e.displayText() = …` (18.16).
pub fn parse_code(text: &str) -> Option<u32> {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"Code: (\d+)").expect("regex"))
        .captures(text)
        .and_then(|c| c[1].parse().ok())
}

fn classify_crate_error(e: &clickhouse::error::Error) -> (Option<u32>, ErrorClass) {
    use clickhouse::error::Error as E;
    match e {
        E::BadResponse(text) => match parse_code(text) {
            Some(c) => (Some(c), classify_code(c)),
            // No code: an HTTP error from a proxy or a server going down.
            None => (None, ErrorClass::Retryable),
        },
        E::Network(_) | E::TimedOut | E::Compression(_) | E::Decompression(_) | E::Other(_) => {
            (None, ErrorClass::Retryable)
        }
        // A row the client could not serialize: the data is at fault.
        E::Custom(_) | E::SequenceMustHaveLength | E::InvalidUtf8Encoding(_) => (None, ErrorClass::Data),
        // Reading a result that does not match the row type, bad parameters, …: a bug or a
        // schema mismatch.
        _ => (None, ErrorClass::Fatal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clickhouse::error::Error as E;

    #[test]
    fn codes_are_parsed_from_old_and_new_messages() {
        assert_eq!(parse_code("Code: 117, e.displayText() = DB::Exception: bad"), Some(117));
        assert_eq!(
            parse_code("Code: 53. DB::Exception: Type mismatch. (TYPE_MISMATCH)"),
            Some(53)
        );
        assert_eq!(parse_code("bad gateway"), None);
    }

    #[test]
    fn data_errors_are_not_retryable_and_overload_is() {
        let data = ClickHouseError::new("insert_events", E::BadResponse("Code: 117, e.displayText() = x".into()));
        assert!(data.is_data_error() && !data.is_retryable());
        assert_eq!(data.code, Some(117));
        let parts = ClickHouseError::new(
            "insert_events",
            E::BadResponse("Code: 252. DB::Exception: Too many parts".into()),
        );
        assert!(parts.is_retryable());
        let table = ClickHouseError::new(
            "insert_events",
            E::BadResponse("Code: 60. Table x doesn't exist".into()),
        );
        assert_eq!(table.class, ErrorClass::Fatal);
        assert!(ClickHouseError::new("ping", E::TimedOut).is_retryable());
    }

    #[test]
    fn is_retryable_looks_through_context_and_defaults_to_true_for_other_errors() {
        let e =
            anyhow::Error::new(ClickHouseError::new("x", E::BadResponse("Code: 53. y".into()))).context("inserting");
        assert!(!is_retryable(&e));
        assert_eq!(error_class(&e), Some(ErrorClass::Data));
        assert!(is_retryable(&anyhow::anyhow!("sqlite busy")));
        assert!(e.to_string().contains("inserting"));
        assert!(format!("{:#}", e).contains("ClickHouse x failed (code 53)"));
    }

    #[test]
    fn store_errors_are_typed_by_class() {
        let refused = store_error(
            anyhow::Error::new(ClickHouseError::new(
                "insert_events",
                E::BadResponse("Code: 117, e.displayText() = DB::Exception: bad row".into()),
            ))
            .context("storing a batch"),
        );
        match &refused {
            StoreError::Refused { reason, code } => {
                assert_eq!(*code, Some(117));
                assert!(
                    reason.starts_with("storing a batch: ClickHouse insert_events failed (code 117)"),
                    "{reason}"
                );
            }
            other => panic!("expected Refused, got {other:?}"),
        }
        assert_eq!(refused.outcome(), "data_error");
        let broken = store_error(anyhow::Error::new(ClickHouseError::new(
            "insert_events",
            E::BadResponse("Code: 60. Table x doesn't exist".into()),
        )));
        assert!(matches!(broken, StoreError::Broken(_)), "{broken:?}");
        assert_eq!(broken.outcome(), "error");
        let parts = store_error(anyhow::Error::new(ClickHouseError::new(
            "insert_events",
            E::BadResponse("Code: 252. DB::Exception: Too many parts".into()),
        )));
        assert!(matches!(parts, StoreError::Unavailable(_)), "{parts:?}");
        assert!(matches!(
            store_error(anyhow::anyhow!("join error")),
            StoreError::Unavailable(_)
        ));
    }
}
