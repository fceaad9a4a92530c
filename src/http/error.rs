//! [`ApiError`], the one error shape of the query and admin API, and the JSON readers that
//! name the field that failed.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

/// An error of the query or admin API, as `{"error", "field", "reason"}`.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ApiError {
    pub status: StatusCode,
    pub field: String,
    pub reason: String,
}

impl ApiError {
    /// `400` naming the parameter.
    pub fn bad(field: &str, reason: &str) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            field: field.into(),
            reason: reason.into(),
        }
    }
    /// `404`.
    pub fn not_found(field: &str, reason: &str) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Deserialize `T` from JSON (a request body's `serde_json::Deserializer`, or a
/// `serde_json::Value`), naming where it failed: a `400` whose field is the dotted path of
/// the bad value under `prefix` (`settings.rules.rage_clicks`, `questions[0].kind`; a
/// missing field is named itself), or `prefix` alone, `body` when that is empty, when the
/// failure is at the top (not JSON, not an object). `expected` describes the shape and
/// starts the reason.
pub fn from_json<'de, T, D>(de: D, prefix: &str, expected: &str) -> Result<T, ApiError>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
    D::Error: std::fmt::Display,
{
    serde_path_to_error::deserialize(de).map_err(|e| {
        let inner = e.inner().to_string();
        let mut path: Vec<String> = [prefix.to_string()]
            .into_iter()
            .chain(e.path().iter().map(|s| s.to_string()))
            .filter(|s| !s.is_empty())
            .collect();
        if let Some(missing) = inner.strip_prefix("missing field `").and_then(|r| r.split('`').next()) {
            path.push(missing.to_string());
        }
        let field = if path.is_empty() {
            "body".to_string()
        } else {
            path.join(".").replace(".[", "[")
        };
        ApiError::bad(&field, &format!("{expected}: {inner}"))
    })
}

/// [`from_json`] over a request body. A body that is not JSON at all (a syntax error, a
/// truncated document) names `body`, with the line and column, not the field being read when
/// the parser stopped.
pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8], expected: &str) -> Result<T, ApiError> {
    serde_json::from_slice::<serde::de::IgnoredAny>(body)
        .map_err(|e| ApiError::bad("body", &format!("{expected}: not valid JSON: {e}")))?;
    from_json(&mut serde_json::Deserializer::from_slice(body), "", expected)
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        tracing::error!(error = %e, "query failed");
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            field: "warehouse".into(),
            reason: e.to_string(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        let error = match self.status {
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::CONFLICT => "conflict",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            _ => "bad_request",
        };
        let mut b = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            b.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        b.json(serde_json::json!({"error": error, "field": self.field, "reason": self.reason}))
    }
}
