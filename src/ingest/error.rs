//! [`IngestError`]: every refusal of an ingest request, with its status, body and metric
//! `cause`.

use super::*;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// A refused ingest request. Maps itself to HTTP: the status decides whether clients retry.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{field}: {reason}")]
    Malformed { field: String, reason: String },
    #[error("unknown write key")]
    UnknownSite,
    #[error("origin {0} is not allowed for this site")]
    OriginNotAllowed(String),
    #[error("{what} exceeds {limit} bytes")]
    TooLarge { limit: usize, what: &'static str },
    #[error("unsupported content encoding {0:?}; use gzip, deflate or br")]
    UnsupportedEncoding(String),
    /// A `Content-Type` other than [`ACCEPTED_CONTENT_TYPES`]: `415`.
    #[error("unsupported content type {0:?}; send application/json or text/plain (a JSON envelope)")]
    UnsupportedContentType(String),
    #[error("the log cannot take events now: {0}")]
    Unavailable(String),
    /// A quota is used up (`scope` is `ip`, `visitor` or `site`): `429` with `Retry-After`.
    #[error("the {scope} quota is used up; retry after {retry_after_s} s")]
    OverQuota { scope: &'static str, retry_after_s: u64 },
    /// The body's next chunk did not arrive in time (ms): `408`.
    #[error("the request body stalled for {0} ms")]
    SlowBody(u64),
    /// Too many requests in flight: `503` with `Retry-After`.
    #[error("too many requests in flight; retry after 1 s")]
    Busy,
}

impl From<quota::Refusal> for IngestError {
    fn from(r: quota::Refusal) -> Self {
        match r {
            quota::Refusal::Ip(wait) => IngestError::OverQuota {
                scope: "ip",
                retry_after_s: quota::retry_after_secs(wait),
            },
            quota::Refusal::Site(wait) => IngestError::OverQuota {
                scope: "site",
                retry_after_s: quota::retry_after_secs(wait),
            },
            quota::Refusal::Visitor(wait) => IngestError::OverQuota {
                scope: "visitor",
                retry_after_s: quota::retry_after_secs(wait),
            },
            quota::Refusal::Busy => IngestError::Busy,
        }
    }
}

impl IngestError {
    /// The field the refusal names in its body (`field`), and in its dead letter.
    pub fn field(&self) -> &str {
        match self {
            IngestError::Malformed { field, .. } => field,
            IngestError::UnknownSite => "site",
            IngestError::OriginNotAllowed(_) => "origin",
            IngestError::TooLarge { .. } | IngestError::SlowBody(_) => "body",
            IngestError::UnsupportedEncoding(_) => "content-encoding",
            IngestError::UnsupportedContentType(_) => "content-type",
            IngestError::Unavailable(_) => "log",
            IngestError::OverQuota { scope: "visitor", .. } => "visitor_id",
            IngestError::OverQuota { scope, .. } => scope,
            IngestError::Busy => "server",
        }
    }

    /// Whether the request was refused as bad input (its body sample is kept as a dead
    /// letter), rather than asked to retry (quotas, overload, a log outage, a slow body).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            IngestError::Malformed { .. }
                | IngestError::UnknownSite
                | IngestError::OriginNotAllowed(_)
                | IngestError::TooLarge { .. }
                | IngestError::UnsupportedEncoding(_)
                | IngestError::UnsupportedContentType(_)
        )
    }

    /// The `cause` label of `sightline_requests_refused_total` for this refusal.
    pub fn cause(&self) -> &'static str {
        match self {
            IngestError::Malformed { .. } => "malformed",
            IngestError::UnknownSite => "unknown_site",
            IngestError::OriginNotAllowed(_) => "origin",
            IngestError::TooLarge { .. } => "too_large",
            IngestError::UnsupportedEncoding(_) => "encoding",
            IngestError::UnsupportedContentType(_) => "content_type",
            IngestError::Unavailable(_) => "log_unavailable",
            IngestError::OverQuota { scope: "ip", .. } => "quota_ip",
            IngestError::OverQuota { scope: "visitor", .. } => "quota_visitor",
            IngestError::OverQuota { .. } => "quota_site",
            IngestError::Busy => "busy",
            IngestError::SlowBody(_) => "slow_body",
        }
    }
}

/// The JSON body of every refusal.
#[derive(Serialize)]
pub(super) struct ErrorBody<'a> {
    pub(super) error: &'a str,
    pub(super) field: String,
    pub(super) reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) limit: Option<usize>,
}

impl ResponseError for IngestError {
    fn status_code(&self) -> StatusCode {
        match self {
            IngestError::Malformed { .. } => StatusCode::BAD_REQUEST,
            IngestError::UnknownSite => StatusCode::UNAUTHORIZED,
            IngestError::OriginNotAllowed(_) => StatusCode::FORBIDDEN,
            IngestError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::UnsupportedEncoding(_) | IngestError::UnsupportedContentType(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            IngestError::Unavailable(_) | IngestError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            IngestError::OverQuota { .. } => StatusCode::TOO_MANY_REQUESTS,
            IngestError::SlowBody(_) => StatusCode::REQUEST_TIMEOUT,
        }
    }
    fn error_response(&self) -> HttpResponse {
        let field = self.field().to_string();
        let limit = match self {
            IngestError::TooLarge { limit, .. } => Some(*limit),
            _ => None,
        };
        let reason = match self {
            IngestError::Malformed { reason, .. } => reason.clone(),
            other => other.to_string(),
        };
        let mut b = HttpResponse::build(self.status_code());
        match self {
            IngestError::Unavailable(_) => {
                b.insert_header((header::RETRY_AFTER, "2"));
            }
            IngestError::Busy => {
                b.insert_header((header::RETRY_AFTER, "1"));
            }
            IngestError::OverQuota { retry_after_s, .. } => {
                b.insert_header((header::RETRY_AFTER, retry_after_s.to_string()));
            }
            _ => {}
        }
        b.json(ErrorBody {
            error: self.cause(),
            field,
            reason,
            limit,
        })
    }
}
