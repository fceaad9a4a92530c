//! API tokens as stored: [`ApiToken`] and its [`Scope`] (the logic is in [`crate::access`]).

use serde::{Deserialize, Serialize};

/// What a token may do. `Admin` includes `Read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The query API (`GET /v1/sites/{key}/…`).
    Read,
    /// Everything: sites, tokens, rollup runs, dead letters, and the query API.
    Admin,
}

impl Scope {
    /// The scope's name as the API and the CLI write it: `read` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "read" => Ok(Scope::Read),
            "admin" => Ok(Scope::Admin),
            other => Err(format!("unknown scope {other:?}: read or admin")),
        }
    }
}

/// A stored API token (never the secret: its SHA-256).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiToken {
    /// Public id, the middle part of `slt_<id>_<secret>` (16 hex characters).
    pub id: String,
    /// A name for people ("grafana", "pm-dashboard").
    pub name: String,
    pub scope: Scope,
    /// Sites (write keys) the token is limited to; empty: every site.
    #[serde(default)]
    pub sites: Vec<String>,
    /// Hex SHA-256 of the secret.
    pub secret_sha256: String,
    /// ms.
    pub created_at: i64,
    /// ms; set once revoked (also by a rotation).
    #[serde(default)]
    pub revoked_at: Option<i64>,
}
