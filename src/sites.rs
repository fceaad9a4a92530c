//! Sites: a write key, allowed origins and per-site settings (page-key rules, thresholds,
//! zone rules). Stored in the warehouse, cached in memory by [`SiteCache`].

use crate::event::enrich::PageKeyRules;
use crate::model::rules::Rules;
use crate::survey::{FeedbackButton, Survey};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::RwLock;

/// A CSS selector mapped to a zone name (analytics.md, "Zones").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneRule {
    pub selector: String,
    pub name: String,
}

/// Per-site settings; every field has the documented default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SiteSettings {
    pub page_keys: PageKeyRules,
    pub rules: Rules,
    pub zones: Vec<ZoneRule>,
    /// This site's ingest quota, events a minute (bursts of two seconds' worth, at least
    /// 1000 events); `0`: none; unset: the server's `--quota-site-eps`. Over it, ingest
    /// answers `429` + `Retry-After` and the snippet retries, keeping the events meanwhile.
    pub events_per_minute: Option<u32>,
    /// Keep this many days (of the site's time zone) of raw events and rollups (today counts
    /// as one); older days are deleted by the rollup role every hour (`sightline retention
    /// run` does it now). Unset: kept for ever.
    pub retention_days: Option<u32>,
    /// Survey definitions ([`crate::survey`]). Default none.
    pub surveys: Vec<Survey>,
    /// The feedback button ([`crate::survey::FeedbackButton`]). Default off.
    pub feedback: FeedbackButton,
    /// Keys other trackers send that mean this site (`docs/compat.md`): a posthog-js project
    /// key (`phc_…`) or a Segment write key. Each 1..128 characters of `A-Z a-z 0-9 _ - .`,
    /// at most 16, no repeats; the site's own write key works without being listed. Default none.
    pub compat_keys: Vec<String>,
    /// Identity links undone (`docs/compat.md`, "Identity"): event ids of `$identify`
    /// events whose link is no longer applied when counting persons. Default none.
    pub identity_undo: Vec<String>,
    /// Session replay recording ([`ReplaySettings`]). Default off.
    pub replay: ReplaySettings,
}

/// `settings.replay`: whether and where the snippet records sessions (docs/replay.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplaySettings {
    /// Record at all. Default false.
    pub enabled: bool,
    /// Share of sessions recorded, 0..1, decided once per session id. Default 1.
    pub sampling: f64,
    /// Record only on pages whose host + path matches one of these (`*` wildcard); empty:
    /// every page. Default empty.
    pub pages: Vec<String>,
    /// Never record on pages whose host + path matches one of these. Default empty.
    pub exclude_pages: Vec<String>,
    /// Mask every text node too (each character as `*`), not only input values. Default false.
    pub mask_text: bool,
    /// CSS selectors of elements replaced by an empty box of their size (their content never
    /// leaves the page), besides every `[data-sl-block]` element. Default none.
    pub block_selectors: Vec<String>,
}

impl Default for ReplaySettings {
    fn default() -> Self {
        ReplaySettings {
            enabled: false,
            sampling: 1.0,
            pages: Vec::new(),
            exclude_pages: Vec::new(),
            mask_text: false,
            block_selectors: Vec::new(),
        }
    }
}

impl ReplaySettings {
    /// What the snippet reads from `GET /v1/sites/{key}/config` (`replay`): these settings,
    /// with `[data-sl-block]` first among `block_selectors`.
    pub fn public_config(&self) -> serde_json::Value {
        let mut block = vec!["[data-sl-block]".to_string()];
        block.extend(self.block_selectors.iter().cloned());
        serde_json::json!({
            "enabled": self.enabled, "sampling": self.sampling, "pages": self.pages,
            "exclude_pages": self.exclude_pages, "mask_text": self.mask_text,
            "block_selectors": block,
        })
    }

    fn validate(&self) -> Result<(), (String, String)> {
        if !(0.0..=1.0).contains(&self.sampling) {
            return Err(("settings.replay.sampling".into(), "must be between 0 and 1".into()));
        }
        let lists = [
            ("pages", &self.pages),
            ("exclude_pages", &self.exclude_pages),
            ("block_selectors", &self.block_selectors),
        ];
        for (name, list) in lists {
            if list.len() > 50 {
                return Err((format!("settings.replay.{name}"), "at most 50 entries".into()));
            }
            if let Some(i) = list.iter().position(|p| p.trim().is_empty() || p.len() > 512) {
                return Err((
                    format!("settings.replay.{name}[{i}]"),
                    "must be 1..512 characters".into(),
                ));
            }
        }
        Ok(())
    }
}

/// Whether `site`'s tracker keys clash with `others` (every stored site; `site` itself is
/// skipped by key): a key of `site.settings.compat_keys` that is another site's write key or
/// listed by another site, or `site`'s own write key listed by another site. A clash would
/// make the key mean two sites, so the tracker routes would refuse it for both. Returns the
/// field (`settings.compat_keys[i]`, or `key`) and the reason.
pub fn compat_key_clash(site: &Site, others: &[Site]) -> Option<(String, String)> {
    let others = || others.iter().filter(|o| o.key != site.key);
    for (i, k) in site.settings.compat_keys.iter().enumerate() {
        if let Some(o) = others().find(|o| &o.key == k || o.settings.compat_keys.contains(k)) {
            return Some((
                format!("settings.compat_keys[{i}]"),
                format!("already means site {}", o.key),
            ));
        }
    }
    others().find(|o| o.settings.compat_keys.contains(&site.key)).map(|o| {
        (
            "key".into(),
            format!("listed in settings.compat_keys of site {}", o.key),
        )
    })
}

/// Most [`SiteSettings::compat_keys`] of one site.
pub const MAX_COMPAT_KEYS: usize = 16;

impl SiteSettings {
    /// Checks serde cannot make; the error names the field (`settings.surveys[0].trigger.ms`).
    pub fn validate(&self) -> Result<(), (String, String)> {
        self.rules
            .validate()
            .map_err(|(f, r)| (format!("settings.rules.{f}"), r))?;
        if self.retention_days == Some(0) {
            return Err((
                "settings.retention_days".into(),
                "must be at least 1 (or null: keep for ever)".into(),
            ));
        }
        for (i, z) in self.zones.iter().enumerate() {
            if z.selector.trim().is_empty() || z.name.trim().is_empty() {
                return Err((
                    format!("settings.zones[{i}]"),
                    "selector and name must not be empty".into(),
                ));
            }
        }
        if self.compat_keys.len() > MAX_COMPAT_KEYS {
            return Err(("settings.compat_keys".into(), format!("at most {MAX_COMPAT_KEYS} keys")));
        }
        for (i, k) in self.compat_keys.iter().enumerate() {
            let ok = !k.is_empty()
                && k.len() <= 128
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if !ok {
                return Err((
                    format!("settings.compat_keys[{i}]"),
                    "must be 1..128 characters of A-Z a-z 0-9 _ - .".into(),
                ));
            }
            if self.compat_keys[..i].contains(k) {
                return Err((format!("settings.compat_keys[{i}]"), "listed twice".into()));
            }
        }
        if let Some(i) = self
            .identity_undo
            .iter()
            .position(|id| uuid::Uuid::parse_str(id).is_err())
        {
            return Err((
                format!("settings.identity_undo[{i}]"),
                "must be the event id (a UUID) of an $identify event".into(),
            ));
        }
        self.replay.validate()?;
        crate::survey::validate_settings(&self.surveys, &self.feedback)
    }
}

/// A tracked site (`api.md`, "Sites and tokens").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Site {
    /// Public write key used by the snippet.
    pub key: String,
    pub name: String,
    /// Allowed page origins (`https://shop.example`); `*` allows any.
    pub origins: Vec<String>,
    #[serde(default)]
    pub settings: SiteSettings,
    /// Creation time, ms.
    pub created_at: i64,
}

impl Site {
    /// Whether a request from `origin` may send events for this site.
    pub fn allows_origin(&self, origin: &str) -> bool {
        let origin = origin.trim_end_matches('/');
        self.origins
            .iter()
            .any(|o| o == "*" || o.trim_end_matches('/').eq_ignore_ascii_case(origin))
    }
}

/// Make a fresh random write key (`sl_` + 20 hex chars).
pub fn new_key() -> String {
    let bytes: [u8; 10] = rand::random();
    format!("sl_{}", hex::encode(bytes))
}

/// In-memory copy of the sites, read on every ingest request.
#[derive(Default)]
pub struct SiteCache {
    by_key: RwLock<HashMap<String, Site>>,
}

impl SiteCache {
    /// Replace the cache with `sites`. Returns the keys of the sites already cached whose
    /// new rules make their stored sessions wrong ([`crate::model::rules::Rules::recomputes_from`]):
    /// changed by another process or the CLI since the last replace.
    pub fn replace(&self, sites: Vec<Site>) -> Vec<String> {
        let map: HashMap<String, Site> = sites.into_iter().map(|s| (s.key.clone(), s)).collect();
        let mut cur = self.by_key.write().expect("site cache lock");
        let changed = map
            .values()
            .filter(|s| {
                cur.get(&s.key)
                    .is_some_and(|old| s.settings.rules.recomputes_from(&old.settings.rules))
            })
            .map(|s| s.key.clone())
            .collect();
        *cur = map;
        changed
    }
    /// Insert or update one site.
    pub fn put(&self, site: Site) {
        self.by_key
            .write()
            .expect("site cache lock")
            .insert(site.key.clone(), site);
    }
    /// Forget a deleted site.
    pub fn remove(&self, key: &str) {
        self.by_key.write().expect("site cache lock").remove(key);
    }
    /// The site with this write key.
    pub fn get(&self, key: &str) -> Option<Site> {
        self.by_key.read().expect("site cache lock").get(key).cloned()
    }
    /// The site a tracker's key means: the site with that write key, else the one site
    /// listing it in [`SiteSettings::compat_keys`]. `Err(())` when several sites list it.
    pub fn by_compat_key(&self, key: &str) -> Result<Option<Site>, ()> {
        let sites = self.by_key.read().expect("site cache lock");
        if let Some(s) = sites.get(key) {
            return Ok(Some(s.clone()));
        }
        let mut owners = sites
            .values()
            .filter(|s| s.settings.compat_keys.iter().any(|k| k == key));
        match (owners.next(), owners.next()) {
            (Some(s), None) => Ok(Some(s.clone())),
            (None, _) => Ok(None),
            (Some(_), Some(_)) => Err(()),
        }
    }
    /// Whether any site allows `origin` (CORS preflights carry no site key).
    pub fn any_allows(&self, origin: &str) -> bool {
        self.by_key
            .read()
            .expect("site cache lock")
            .values()
            .any(|s| s.allows_origin(origin))
    }
    /// All sites, sorted by name.
    pub fn all(&self) -> Vec<Site> {
        let mut v: Vec<Site> = self.by_key.read().expect("site cache lock").values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name).then(a.key.cmp(&b.key)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(key: &str, tz: chrono_tz::Tz, goal: Option<&str>, rage: u32) -> Site {
        let mut s = Site {
            key: key.into(),
            name: key.into(),
            origins: vec!["*".into()],
            settings: SiteSettings::default(),
            created_at: 0,
        };
        s.settings.rules.time_zone = tz;
        s.settings.rules.goal = goal.map(String::from);
        s.settings.rules.rage_min_clicks = rage;
        s
    }

    /// A refresh names the cached sites whose time zone or goal changed elsewhere (their
    /// sessions need a recompute), not a new site nor another threshold's change.
    #[test]
    fn replace_names_the_sites_whose_time_zone_or_goal_changed() {
        let c = SiteCache::default();
        assert!(c
            .replace(vec![
                site("a", chrono_tz::UTC, None, 3),
                site("b", chrono_tz::UTC, None, 3)
            ])
            .is_empty());
        let changed = c.replace(vec![
            site("a", chrono_tz::Asia::Tokyo, None, 3),
            site("b", chrono_tz::UTC, None, 5),
            site("new", chrono_tz::Europe::Berlin, Some("event:x"), 3),
        ]);
        assert_eq!(changed, vec!["a".to_string()]);
        let changed = c.replace(vec![
            site("a", chrono_tz::Asia::Tokyo, None, 3),
            site("b", chrono_tz::UTC, Some("event:purchase"), 5),
        ]);
        assert_eq!(changed, vec!["b".to_string()]);
        assert_eq!(c.get("a").unwrap().settings.rules.time_zone, chrono_tz::Asia::Tokyo);
    }
}
