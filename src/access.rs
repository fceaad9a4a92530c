//! Access to the query and admin API: bearer tokens with scopes.
//!
//! - The **root token** (`SIGHTLINE_API_TOKEN`, or `<data-dir>/api-token` created on first
//!   start; `api.md`, "Sites and tokens") has the `admin` scope on every site.
//! - **API tokens** are made with `POST /v1/tokens` or `sightline token create`: a scope
//!   (`read`: the query API; `admin`: everything, including sites, tokens, rollup runs and
//!   dead letters) and optionally a list of sites they are limited to. A token is shown once,
//!   as `slt_<id>_<secret>`; only the SHA-256 of the secret is stored (warehouse table
//!   `api_tokens`), with the id to find it. Tokens are revoked or rotated (a new secret under
//!   a new id, the old one revoked) without a restart: every process re-reads the table
//!   every 5 s.
//! - Every comparison of a secret is constant-time (`subtle`).
//! - Refusals: no token or an unknown, malformed or revoked one → `401` (field
//!   `authorization`); a valid token without the scope or the site → `403` (field `scope`
//!   or `site`).
//!
//! Write keys (the snippet's, per site, with the site's origin allow-list) are not tokens:
//! they only let events in (`crate::ingest`).

use crate::warehouse::Warehouse;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::RwLock;
use subtle::ConstantTimeEq;

pub use crate::model::token::{ApiToken, Scope};

/// A freshly made token: the stored record and the one-time plaintext.
pub struct NewToken {
    pub token: ApiToken,
    /// `slt_<id>_<secret>`: shown once, never stored.
    pub plaintext: String,
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Make a token (random 64-bit id, 192-bit secret). Store it with [`Warehouse::put_token`].
pub fn new_token(name: &str, scope: Scope, sites: Vec<String>) -> NewToken {
    let id = hex::encode(rand::random::<[u8; 8]>());
    let secret = hex::encode(rand::random::<[u8; 24]>());
    NewToken {
        plaintext: format!("slt_{id}_{secret}"),
        token: ApiToken {
            id,
            name: name.to_string(),
            scope,
            sites,
            secret_sha256: sha256_hex(&secret),
            created_at: chrono::Utc::now().timestamp_millis(),
            revoked_at: None,
        },
    }
}

/// Who a request is, once its token checked out.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// `root` or the token id.
    pub id: String,
    pub scope: Scope,
    /// Empty: every site.
    pub sites: Vec<String>,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Denied {
    /// `401`: no token, or not a valid one.
    Unauthenticated,
    /// `403`: valid, but without this scope.
    Scope(Scope),
    /// `403`: valid, but not for this site.
    Site(String),
    /// `403`: limited to some sites, and the call is about all of them.
    AllSites,
}

/// The tokens every request is checked against: the root token and a copy of the
/// `api_tokens` table, refreshed by the server every 5 s and at once after a change.
pub struct Tokens {
    root: String,
    by_id: RwLock<HashMap<String, ApiToken>>,
}

impl Tokens {
    /// The root token and no API tokens yet.
    pub fn new(root: String) -> Tokens {
        Tokens {
            root,
            by_id: RwLock::new(HashMap::new()),
        }
    }

    /// Replace the API tokens (from [`Warehouse::tokens`]).
    pub fn replace(&self, tokens: Vec<ApiToken>) {
        *self.by_id.write().expect("tokens lock") = tokens.into_iter().map(|t| (t.id.clone(), t)).collect();
    }

    /// Insert or update one token.
    pub fn put(&self, token: ApiToken) {
        self.by_id.write().expect("tokens lock").insert(token.id.clone(), token);
    }

    /// Re-read the table.
    pub async fn refresh(&self, warehouse: &dyn Warehouse) -> anyhow::Result<()> {
        self.replace(warehouse.tokens().await?);
        Ok(())
    }

    /// A 256-bit key for `purpose` derived from the root token (HMAC-SHA256 keyed with the
    /// root token over `purpose`): every process of one deployment derives the same key, and
    /// changing the root token invalidates whatever was signed with it (dashboard overlay
    /// grants, [`crate::dashboard`]).
    pub fn derived_key(&self, purpose: &str) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        let mut m = Hmac::<Sha256>::new_from_slice(self.root.as_bytes()).expect("HMAC takes any key length");
        m.update(purpose.as_bytes());
        m.finalize().into_bytes().into()
    }

    /// The principal behind a bearer token, or `None`.
    pub fn authenticate(&self, bearer: &str) -> Option<Principal> {
        if bearer.is_empty() {
            return None;
        }
        if bool::from(bearer.as_bytes().ct_eq(self.root.as_bytes())) {
            return Some(Principal {
                id: "root".into(),
                scope: Scope::Admin,
                sites: Vec::new(),
            });
        }
        let (id, secret) = bearer.strip_prefix("slt_")?.split_once('_')?;
        let map = self.by_id.read().expect("tokens lock");
        let t = map.get(id)?;
        let ok = bool::from(sha256_hex(secret).as_bytes().ct_eq(t.secret_sha256.as_bytes()));
        (ok && t.revoked_at.is_none()).then(|| Principal {
            id: t.id.clone(),
            scope: t.scope,
            sites: t.sites.clone(),
        })
    }

    /// Check a bearer token for `need` (on `site`, when the call is about one site).
    pub fn authorize(&self, bearer: &str, need: Scope, site: Option<&str>) -> Result<Principal, Denied> {
        let p = self.authenticate(bearer).ok_or(Denied::Unauthenticated)?;
        if p.scope < need {
            return Err(Denied::Scope(need));
        }
        if let Some(site) = site {
            if !p.sites.is_empty() && !p.sites.iter().any(|s| s == site) {
                return Err(Denied::Site(site.to_string()));
            }
        } else if !p.sites.is_empty() && need == Scope::Admin {
            // Calls about no one site (listing sites, tokens…) are for unrestricted tokens.
            return Err(Denied::AllSites);
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_sites_revocation_and_the_root_token() {
        let tokens = Tokens::new("root-secret".into());
        let reader = new_token("grafana", Scope::Read, vec!["shop".into()]);
        let admin = new_token("ops", Scope::Admin, vec![]);
        assert!(reader.plaintext.starts_with(&format!("slt_{}_", reader.token.id)));
        assert!(!reader
            .token
            .secret_sha256
            .contains(reader.plaintext.rsplit('_').next().unwrap()));
        tokens.replace(vec![reader.token.clone(), admin.token.clone()]);

        assert_eq!(tokens.authorize("root-secret", Scope::Admin, None).unwrap().id, "root");
        assert_eq!(tokens.authorize("", Scope::Read, None), Err(Denied::Unauthenticated));
        assert_eq!(
            tokens.authorize("root-secreT", Scope::Read, None),
            Err(Denied::Unauthenticated)
        );
        let r = &reader.plaintext;
        assert!(tokens.authorize(r, Scope::Read, Some("shop")).is_ok());
        assert_eq!(
            tokens.authorize(r, Scope::Read, Some("blog")),
            Err(Denied::Site("blog".into()))
        );
        assert_eq!(
            tokens.authorize(r, Scope::Admin, Some("shop")),
            Err(Denied::Scope(Scope::Admin))
        );
        // A wrong secret under a real id.
        let forged = format!("slt_{}_{}", reader.token.id, "0".repeat(48));
        assert_eq!(
            tokens.authorize(&forged, Scope::Read, Some("shop")),
            Err(Denied::Unauthenticated)
        );
        assert!(tokens.authorize(&admin.plaintext, Scope::Admin, None).is_ok());
        // Revoked: refused.
        let mut revoked = reader.token.clone();
        revoked.revoked_at = Some(1);
        tokens.put(revoked);
        assert_eq!(
            tokens.authorize(r, Scope::Read, Some("shop")),
            Err(Denied::Unauthenticated)
        );
    }
}

/// Make and store a token; the one path for `POST /v1/tokens` and `sightline token create`.
pub async fn create_token(
    warehouse: &dyn Warehouse,
    name: &str,
    scope: Scope,
    sites: Vec<String>,
) -> anyhow::Result<NewToken> {
    anyhow::ensure!(!name.trim().is_empty(), "name: must not be empty");
    let t = new_token(name, scope, sites);
    warehouse.put_token(&t.token).await?;
    Ok(t)
}

/// Revoke token `id` (from now on it is refused everywhere within 5 s, at once here).
/// `Ok(None)` when there is no such token.
pub async fn revoke_token(warehouse: &dyn Warehouse, id: &str) -> anyhow::Result<Option<ApiToken>> {
    let Some(mut t) = warehouse.tokens().await?.into_iter().find(|t| t.id == id) else {
        return Ok(None);
    };
    if t.revoked_at.is_none() {
        t.revoked_at = Some(chrono::Utc::now().timestamp_millis());
        warehouse.put_token(&t).await?;
    }
    Ok(Some(t))
}

/// Take a deleted site out of every token's sites ([`crate::http::site_admin`]), so that a later
/// site with the same key is not open to them: a token limited to that site alone is
/// revoked (an empty list would mean every site), one limited to several keeps the others.
/// Returns the ids of the tokens changed.
pub async fn drop_site_from_tokens(warehouse: &dyn Warehouse, key: &str) -> anyhow::Result<Vec<String>> {
    let mut changed = Vec::new();
    for mut t in warehouse.tokens().await? {
        if !t.sites.iter().any(|s| s == key) {
            continue;
        }
        if t.sites.iter().all(|s| s == key) {
            // Limited to the deleted site alone: revoked, its list left as it was.
            if t.revoked_at.is_some() {
                continue;
            }
            t.revoked_at = Some(chrono::Utc::now().timestamp_millis());
        } else {
            t.sites.retain(|s| s != key);
        }
        warehouse.put_token(&t).await?;
        changed.push(t.id);
    }
    Ok(changed)
}

/// Rotate token `id`: a new token with the same name, scope and sites, and the old one
/// revoked. `Ok(None)` when there is no such (unrevoked) token.
pub async fn rotate_token(warehouse: &dyn Warehouse, id: &str) -> anyhow::Result<Option<(NewToken, ApiToken)>> {
    let Some(old) = warehouse
        .tokens()
        .await?
        .into_iter()
        .find(|t| t.id == id && t.revoked_at.is_none())
    else {
        return Ok(None);
    };
    let new = create_token(warehouse, &old.name, old.scope, old.sites.clone()).await?;
    let old = revoke_token(warehouse, id).await?.expect("exists");
    Ok(Some((new, old)))
}

/// A token as listed: everything but the secret's hash.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub scope: Scope,
    pub sites: Vec<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    /// The plaintext `slt_<id>_<secret>`, only in the answer that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl From<&ApiToken> for TokenInfo {
    fn from(t: &ApiToken) -> Self {
        TokenInfo {
            id: t.id.clone(),
            name: t.name.clone(),
            scope: t.scope,
            sites: t.sites.clone(),
            created_at: t.created_at,
            revoked_at: t.revoked_at,
            token: None,
        }
    }
}

impl From<&NewToken> for TokenInfo {
    fn from(t: &NewToken) -> Self {
        TokenInfo {
            token: Some(t.plaintext.clone()),
            ..TokenInfo::from(&t.token)
        }
    }
}
