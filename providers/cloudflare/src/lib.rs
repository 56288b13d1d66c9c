//! Cloudflare API v4 DNS provider.
//!
//! Cloudflare keeps several TXT values at one name as separate records, so there is no
//! read-modify-write: `publish` creates one record per value (content quoted, a few in
//! parallel), remembers each record id on disk, and `unpublish` deletes by id. When the ids are
//! lost (a crash before they were written, a deleted state directory) cleanup lists the TXT
//! records at the name and deletes only those whose content is one of our values and that
//! carry our comment. An identical record that existed before (81057/81058) is used for
//! validation but never deleted.

pub mod api;
#[cfg(feature = "fake")]
#[path = "../tests/fake/mod.rs"]
pub mod fake;
pub mod settings;
pub mod state;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::stream::{self, StreamExt};
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;
use wildcert_dns::{Applied, DnsName, DnsProvider, ProviderError, TxtSet, Zone, ZoneCache};

pub use settings::{
    Auth, CloudflareConfig, CloudflareSettings, DEFAULT_BASE_URL, KIND, PROVIDER, SPEC,
};
pub use state::{RecordStore, StoredRecord};

use api::{ALREADY_EXISTS, Api, CallError, MAX_PAGES, RECORD_MISSING};

/// Requests in flight at once within one zone.
pub const CONCURRENCY: usize = 4;
/// Items per page of record lists (Cloudflare allows far more; a challenge name has few).
const RECORDS_PER_PAGE: u32 = 100;
/// Items per page of zone lists (Cloudflare's maximum is 50).
const ZONES_PER_PAGE: u32 = 50;
/// Comment put on the records we create (visible in the dashboard).
const COMMENT: &str = "wildcert ACME dns-01 challenge (removed automatically)";

/// The Cloudflare provider.
#[derive(Debug)]
pub struct CloudflareProvider {
    config: CloudflareConfig,
    api: Api,
    zones: ZoneCache,
    store: Arc<RecordStore>,
    /// Identical records that existed before this run (81057/81058) and are not ours: used for
    /// validation, never deleted. (zone id, name, value)
    foreign: std::sync::Mutex<BTreeSet<(String, String, String)>>,
}

#[derive(Debug, Deserialize)]
struct ZoneItem {
    id: String,
    name: String,
}

#[derive(Debug, Clone, Deserialize)]
struct RecordItem {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default, rename = "type")]
    rtype: String,
    #[serde(default)]
    content: String,
    #[serde(default)]
    comment: Option<String>,
}

impl RecordItem {
    /// Created by wildcert (it carries our comment).
    fn has_our_comment(&self) -> bool {
        self.comment.as_deref() == Some(COMMENT)
    }
}

#[derive(Debug, Deserialize)]
struct IdOnly {
    id: String,
}

impl CloudflareProvider {
    /// Build from settings. With `state_dir` (the store's root), record ids are remembered in
    /// `<state_dir>/providers/cloudflare/<zone_id>.json` for cleanup after a crash.
    pub fn new(
        settings: &CloudflareSettings,
        state_dir: Option<&Path>,
    ) -> Result<Self, ProviderError> {
        Self::from_config(settings.validate()?, state_dir)
    }

    /// Build from a validated configuration.
    pub fn from_config(
        config: CloudflareConfig,
        state_dir: Option<&Path>,
    ) -> Result<Self, ProviderError> {
        let api = Api::new(&config.base_url, config.timeout)?
            .with_rate_limit_wait(config.rate_limit_wait);
        let dir = state_dir.map(|d| d.join("providers").join(KIND));
        Ok(CloudflareProvider {
            config,
            api,
            zones: ZoneCache::default(),
            store: Arc::new(RecordStore::new(dir)),
            foreign: Default::default(),
        })
    }

    /// Wait out rate limits from `budget` instead of a `rate_limit_wait` of this provider's
    /// own (to share one budget between providers of a run).
    pub fn with_rate_limit_budget(mut self, budget: wildcert_dns::http::RateLimitBudget) -> Self {
        self.api = self.api.with_rate_limit_budget(budget);
        self
    }

    /// The configuration in use.
    pub fn config(&self) -> &CloudflareConfig {
        &self.config
    }

    /// The remembered record ids.
    pub fn store(&self) -> &RecordStore {
        &self.store
    }

    fn zone_id(&self, zone: &Zone) -> Result<String, ProviderError> {
        zone.provider_id
            .clone()
            .or_else(|| self.config.zone_id.clone())
            .ok_or_else(|| ProviderError::Config {
                provider: KIND,
                message: format!(
                    "no Cloudflare zone id for {zone}: set zone_id (CLOUDFLARE_ZONE_ID), or give the token \
                     Zone:Zone:Read so the zone can be looked up"
                ),
            })
    }

    fn err(&self, e: CallError, what: &str, zone: &str, zone_lookup: bool) -> ProviderError {
        let auth = if zone_lookup {
            &self.config.zone_auth
        } else {
            &self.config.auth
        };
        e.into_provider(what, zone, auth, self.api.base())
    }

    /// One exact-name zone lookup, every page read.
    async fn find_zone(&self, name: &DnsName) -> Result<Option<String>, ProviderError> {
        let mut page = 1u32;
        loop {
            let env = self
                .api
                .call(
                    Method::GET,
                    "/zones",
                    &[
                        ("name", name.to_string()),
                        ("status", "active".into()),
                        ("page", page.to_string()),
                        ("per_page", ZONES_PER_PAGE.to_string()),
                    ],
                    None,
                    &self.config.zone_auth,
                )
                .await
                .map_err(|e| {
                    self.err(e, &format!("looking up zone {name}"), name.as_str(), true)
                })?;
            let items: Vec<ZoneItem> =
                serde_json::from_value(env.result).map_err(|e| ProviderError::Other {
                    provider: KIND,
                    message: format!("unexpected zone list for {name}: {e}"),
                })?;
            if let Some(z) = items.iter().find(|z| {
                z.name
                    .trim_end_matches('.')
                    .eq_ignore_ascii_case(name.as_str())
            }) {
                return Ok(Some(z.id.clone()));
            }
            let total = env.result_info.map(|i| i.total_pages).unwrap_or(0);
            if page >= total || items.is_empty() || page >= MAX_PAGES {
                return Ok(None);
            }
            page += 1;
        }
    }

    /// The TXT records at `name`, every page read.
    async fn list_txt(
        &self,
        zone_id: &str,
        zone: &Zone,
        name: &DnsName,
    ) -> Result<Vec<RecordItem>, ProviderError> {
        let mut out = Vec::new();
        let mut page = 1u32;
        loop {
            let env = self
                .api
                .call(
                    Method::GET,
                    &format!("/zones/{zone_id}/dns_records"),
                    &[
                        ("type", "TXT".into()),
                        ("name", name.to_string()),
                        ("page", page.to_string()),
                        ("per_page", RECORDS_PER_PAGE.to_string()),
                    ],
                    None,
                    &self.config.auth,
                )
                .await
                .map_err(|e| {
                    self.err(
                        e,
                        &format!("listing TXT records at {name}"),
                        zone.name.as_str(),
                        false,
                    )
                })?;
            let items: Vec<RecordItem> =
                serde_json::from_value(env.result).map_err(|e| ProviderError::Other {
                    provider: KIND,
                    message: format!("unexpected record list for {name}: {e}"),
                })?;
            let n = items.len();
            out.extend(items.into_iter().filter(|r| {
                r.rtype.eq_ignore_ascii_case("TXT")
                    && r.name
                        .trim_end_matches('.')
                        .eq_ignore_ascii_case(name.as_str())
            }));
            let total = env.result_info.map(|i| i.total_pages).unwrap_or(0);
            if page >= total || n == 0 || page >= MAX_PAGES {
                return Ok(out);
            }
            page += 1;
        }
    }

    async fn remember(&self, zone_id: &str, zone: &Zone, rec: StoredRecord) {
        let store = self.store.clone();
        let (zid, zname) = (zone_id.to_string(), zone.name.to_string());
        let res = tokio::task::spawn_blocking(move || store.add(&zid, &zname, rec))
            .await
            .unwrap_or_else(|e| Err(format!("task failed: {e}")));
        if let Err(e) = res {
            // Not fatal: cleanup falls back to matching by name and value.
            tracing::warn!("cloudflare: cannot remember a record id: {e}");
        }
    }

    async fn forget(&self, zone_id: &str, ids: Vec<String>) {
        if ids.is_empty() {
            return;
        }
        let store = self.store.clone();
        let zid = zone_id.to_string();
        let res = tokio::task::spawn_blocking(move || store.remove(&zid, &ids))
            .await
            .unwrap_or_else(|e| Err(format!("task failed: {e}")));
        if let Err(e) = res {
            tracing::warn!("cloudflare: cannot update the record-id file: {e}");
        }
    }

    fn is_foreign(&self, zone_id: &str, name: &DnsName, value: &str) -> bool {
        self.foreign
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&(zone_id.to_string(), name.to_string(), value.to_string()))
    }

    /// Create one TXT record: its id and whether we own it. An identical record that exists
    /// already (81057/81058) serves validation as well; it is ours only when the record-id file
    /// has it or it carries our comment (a run that crashed before writing the file), else it
    /// belongs to someone else and is never deleted.
    async fn create(
        &self,
        zone_id: &str,
        zone: &Zone,
        name: &DnsName,
        value: &str,
        ttl: u32,
    ) -> Result<(String, bool), ProviderError> {
        let body = json!({
            "type": "TXT",
            "name": name.as_str(),
            "content": quote(value),
            "ttl": ttl,
            "comment": COMMENT,
        });
        let res = self
            .api
            .call(
                Method::POST,
                &format!("/zones/{zone_id}/dns_records"),
                &[],
                Some(&body),
                &self.config.auth,
            )
            .await;
        let id = match res {
            Ok(env) => {
                serde_json::from_value::<IdOnly>(env.result)
                    .map_err(|e| ProviderError::Other {
                        provider: KIND,
                        message: format!("unexpected answer creating a TXT record at {name}: {e}"),
                    })?
                    .id
            }
            Err(e) if e.has_code(ALREADY_EXISTS) => {
                tracing::debug!(%name, "TXT record already exists; finding its id");
                let existing = self.list_txt(zone_id, zone, name).await?;
                let rec = existing
                    .into_iter()
                    .find(|r| unquote(&r.content) == value)
                    .ok_or_else(|| ProviderError::Rejected {
                        provider: KIND,
                        message: format!(
                            "creating a TXT record at {name}: Cloudflare says it already exists, but no TXT \
                             record there has our value"
                        ),
                    })?;
                let store = self.store.clone();
                let zid = zone_id.to_string();
                let journal = tokio::task::spawn_blocking(move || store.records(&zid))
                    .await
                    .unwrap_or_default();
                let ours = rec.has_our_comment() || journal.iter().any(|r| r.id == rec.id);
                if !ours {
                    tracing::info!(%name, id = %rec.id,
                        "cloudflare: an identical TXT record exists already (not created by wildcert); it serves \
                         validation and is left in place at cleanup");
                    self.foreign
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert((zone_id.to_string(), name.to_string(), value.to_string()));
                    return Ok((rec.id, false));
                }
                rec.id
            }
            Err(e) => {
                return Err(self.err(
                    e,
                    &format!("creating a TXT record at {name}"),
                    zone.name.as_str(),
                    false,
                ));
            }
        };
        tracing::debug!(%name, id = %id, "TXT record created");
        self.remember(
            zone_id,
            zone,
            StoredRecord {
                id: id.clone(),
                name: name.to_string(),
                value: value.to_string(),
            },
        )
        .await;
        Ok((id, true))
    }

    /// Delete one record by id; a record already gone is fine.
    async fn delete(&self, zone_id: &str, zone: &Zone, id: &str) -> Result<(), ProviderError> {
        match self
            .api
            .call(
                Method::DELETE,
                &format!("/zones/{zone_id}/dns_records/{id}"),
                &[],
                None,
                &self.config.auth,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.has_code(&[RECORD_MISSING]) => {
                tracing::debug!(id, "record already gone");
                Ok(())
            }
            // A 404 without a zone-level code: the record is gone.
            Err(e) if e.status() == Some(404) && !e.has_code(&[7000, 7003]) => Ok(()),
            Err(e) => Err(self.err(
                e,
                &format!("deleting TXT record {id}"),
                zone.name.as_str(),
                false,
            )),
        }
    }

    async fn delete_all(
        &self,
        zone_id: &str,
        zone: &Zone,
        ids: Vec<String>,
    ) -> (Vec<String>, Option<ProviderError>) {
        let results: Vec<(String, Result<(), ProviderError>)> = stream::iter(ids)
            .map(|id| async move {
                let r = self.delete(zone_id, zone, &id).await;
                (id, r)
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let mut gone = Vec::new();
        let mut first = None;
        for (id, r) in results {
            match r {
                Ok(()) => gone.push(id),
                Err(e) => {
                    if first.is_none() {
                        first = Some(e);
                    }
                }
            }
        }
        (gone, first)
    }
}

/// TTL as Cloudflare takes it: 1 (automatic) or 60..=86400.
fn cloudflare_ttl(ttl: u32) -> u32 {
    if ttl <= 1 { 1 } else { ttl.clamp(60, 86400) }
}

/// TXT content as Cloudflare documents it: a quoted character-string.
pub fn quote(value: &str) -> String {
    let mut s = String::with_capacity(value.len() + 2);
    s.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

/// The value of TXT content, quoted (`"a" "b"` joins to `ab`) or not.
pub fn unquote(content: &str) -> String {
    let t = content.trim();
    if !t.starts_with('"') {
        return t.to_string();
    }
    let mut out = String::new();
    let mut in_q = false;
    let mut chars = t.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => in_q = !in_q,
            '\\' if in_q => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            c if in_q => out.push(c),
            _ => {}
        }
    }
    out
}

#[async_trait]
impl DnsProvider for CloudflareProvider {
    fn name(&self) -> &'static str {
        KIND
    }

    async fn zone_for(&self, fqdn: &DnsName) -> Result<Option<Zone>, ProviderError> {
        if self.config.zone_id.is_some() {
            // The zone id is configured: no lookup (the token may lack Zone:Read); the zone's
            // name comes from DNS.
            return Ok(None);
        }
        if let Some(z) = self.zones.get(fqdn) {
            return Ok(Some(z));
        }
        let mut tried = Vec::new();
        for candidate in fqdn.ancestors().filter(|n| n.label_count() >= 2) {
            tried.push(candidate.to_string());
            if let Some(id) = self.find_zone(&candidate).await? {
                let zone = Zone {
                    name: candidate,
                    provider_id: Some(id),
                };
                tracing::debug!(%fqdn, zone = %zone, id = ?zone.provider_id, "zone found");
                self.zones.insert(fqdn, &zone);
                return Ok(Some(zone));
            }
        }
        Err(ProviderError::ZoneNotFound {
            provider: KIND,
            zone: fqdn.to_string(),
            message: format!(
                "no active zone named {} is visible to the {}; check that the domain is in this Cloudflare \
                 account and that the token has Zone:Zone:Read on it (or set zone_id)",
                tried.join(", "),
                self.config.zone_auth.describe()
            ),
        })
    }

    async fn publish(&self, zone: &Zone, set: &TxtSet) -> Result<Applied, ProviderError> {
        let zone_id = self.zone_id(zone)?;
        let ttl = self.config.ttl.unwrap_or_else(|| cloudflare_ttl(set.ttl));
        for name in set.names() {
            if !name.is_within(&zone.name) {
                return Err(ProviderError::Other {
                    provider: KIND,
                    message: format!("{name} is not inside zone {zone}"),
                });
            }
        }
        let pairs: Vec<(DnsName, String)> = set
            .pairs()
            .map(|(n, v)| (n.clone(), v.to_string()))
            .collect();
        let zid = zone_id.as_str();
        let results: Vec<Result<(String, bool), ProviderError>> = stream::iter(pairs)
            .map(|(name, value)| async move { self.create(zid, zone, &name, &value, ttl).await })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let mut created = Vec::new();
        let mut first = None;
        for r in results {
            match r {
                Ok((id, true)) => created.push(id),
                Ok((_, false)) => {}
                Err(e) => {
                    if first.is_none() {
                        first = Some(e);
                    }
                }
            }
        }
        if let Some(e) = first {
            // Leave the zone as it was: the caller only cleans up zones that published.
            let (gone, undo) = self.delete_all(zid, zone, created).await;
            self.forget(zid, gone).await;
            if let Some(u) = undo {
                tracing::warn!(zone = %zone, "cloudflare: could not remove the records again: {u}");
            }
            return Err(e);
        }
        tracing::debug!(zone = %zone, records = created.len(), "published");
        Ok(Applied::default())
    }

    async fn unpublish(&self, zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
        let zone_id = self.zone_id(zone)?;
        let zid = zone_id.as_str();
        let store = self.store.clone();
        let zid_owned = zone_id.clone();
        let remembered = tokio::task::spawn_blocking(move || store.records(&zid_owned))
            .await
            .unwrap_or_default();
        let mut ids: BTreeSet<String> = BTreeSet::new();
        let mut unknown: BTreeMap<DnsName, BTreeSet<String>> = BTreeMap::new();
        for (name, value) in set.pairs() {
            if self.is_foreign(zid, name, value) {
                tracing::debug!(%name, "leaving the identical record that was there before");
                continue;
            }
            let found: Vec<&StoredRecord> = remembered
                .iter()
                .filter(|r| r.name == name.as_str() && r.value == value)
                .collect();
            if found.is_empty() {
                unknown
                    .entry(name.clone())
                    .or_default()
                    .insert(value.to_string());
            } else {
                ids.extend(found.into_iter().map(|r| r.id.clone()));
            }
        }
        let mut first = None;
        // Ids lost: find our values by name and content, never touching other content.
        for (name, values) in &unknown {
            tracing::debug!(%name, values = values.len(), "no remembered record id; matching by name and value");
            match self.list_txt(zid, zone, name).await {
                // Only records we created: they carry our comment.
                Ok(list) => ids.extend(
                    list.into_iter()
                        .filter(|r| r.has_our_comment() && values.contains(&unquote(&r.content)))
                        .map(|r| r.id),
                ),
                Err(e) => {
                    if first.is_none() {
                        first = Some(e);
                    }
                }
            }
        }
        let (gone, err) = self.delete_all(zid, zone, ids.into_iter().collect()).await;
        self.forget(zid, gone).await;
        match first.or(err) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_round_trips() {
        assert_eq!(quote("abc-_09"), "\"abc-_09\"");
        assert_eq!(unquote("\"abc\""), "abc");
        assert_eq!(unquote("abc"), "abc");
        assert_eq!(unquote("\"ab\" \"cd\""), "abcd");
        assert_eq!(unquote(&quote("a\"b\\c")), "a\"b\\c");
    }

    #[test]
    fn ttl_limits() {
        assert_eq!(cloudflare_ttl(1), 1);
        assert_eq!(cloudflare_ttl(0), 1);
        assert_eq!(cloudflare_ttl(30), 60);
        assert_eq!(cloudflare_ttl(120), 120);
        assert_eq!(cloudflare_ttl(1_000_000), 86400);
    }
}
