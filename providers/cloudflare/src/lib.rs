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

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures_util::stream::{self, StreamExt};
use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use wildcert_provider::http::RateLimitBudget;
use wildcert_provider::record::{quote_txt, unquote_txt};
use wildcert_provider::{Applied, DnsName, DnsProvider, ProviderError, TxtSet, Zone, ZoneCache};

pub use settings::{Auth, CloudflareConfig, CloudflareSettings, DEFAULT_BASE_URL, KIND, PROVIDER};
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
    foreign: Mutex<BTreeSet<(String, String, String)>>,
}

/// A zone or a DNS record as Cloudflare returns it (only what we use).
#[derive(Debug, Deserialize)]
struct Item {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default, rename = "type")]
    rtype: String,
    #[serde(default)]
    content: String,
    comment: Option<String>,
}

impl Item {
    /// Named `name` (Cloudflare writes names without the final dot, in any case).
    fn is_named(&self, name: &DnsName) -> bool {
        DnsName::parse(&self.name).is_ok_and(|n| n == *name)
    }
}

fn other(message: String) -> ProviderError {
    let provider = KIND;
    ProviderError::Other { provider, message }
}

/// The successes, and the first failure if any.
fn settle<T>(results: Vec<Result<T, ProviderError>>) -> (Vec<T>, Option<ProviderError>) {
    let mut first = None;
    let ok = (results.into_iter())
        .filter_map(|r| r.map_err(|e| _ = first.get_or_insert(e)).ok())
        .collect();
    (ok, first)
}

impl CloudflareProvider {
    /// Build from settings. With `state_dir` (the store's root), record ids are remembered in
    /// `<state_dir>/providers/cloudflare/<zone_id>.json` for cleanup after a crash.
    pub fn new(
        settings: &CloudflareSettings,
        state_dir: Option<&Path>,
    ) -> Result<Self, ProviderError> {
        let config = settings.validate()?;
        let api = Api::new(config.base_url.as_str(), config.timeout)?
            .with_rate_limit_wait(config.rate_limit_wait);
        let dir = state_dir.map(|d| d.join("providers").join(KIND.name));
        Ok(CloudflareProvider {
            config,
            api,
            zones: ZoneCache::default(),
            store: Arc::new(RecordStore::new(dir)),
            foreign: Mutex::default(),
        })
    }

    /// Wait out rate limits from `budget` instead of a `rate_limit_wait` of this provider's
    /// own (to share one budget between providers of a run).
    pub fn with_rate_limit_budget(mut self, budget: RateLimitBudget) -> Self {
        self.api = self.api.with_rate_limit_budget(budget);
        self
    }

    fn zone_id(&self, zone: &Zone) -> Result<String, ProviderError> {
        let id = zone.provider_id.as_ref().or(self.config.zone_id.as_ref());
        id.cloned().ok_or_else(|| ProviderError::Config {
            provider: KIND,
            message: format!(
                "no Cloudflare zone id for {zone}: set zone_id (CLOUDFLARE_ZONE_ID), or give the token \
                 Zone:Zone:Read so the zone can be looked up"
            ),
        })
    }

    /// A failed call as a [`ProviderError`]: `what` we were doing in `zone` with `auth`.
    fn err(&self, e: CallError, what: &str, zone: &DnsName, auth: &Auth) -> ProviderError {
        e.into_provider(what, zone.as_str(), auth, &self.api.base())
    }

    /// Every page of a list (`path` with `query`), up to [`MAX_PAGES`]; `what` names it in errors.
    async fn list<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        per_page: u32,
        what: &str,
        (zone, auth): (&DnsName, &Auth),
    ) -> Result<Vec<T>, ProviderError> {
        let mut out = Vec::new();
        for page in 1..=MAX_PAGES {
            let paging = [
                ("page", page.to_string()),
                ("per_page", per_page.to_string()),
            ];
            let query = [query, &paging].concat();
            let env = (self.api.call(Method::GET, path, &query, None, auth).await)
                .map_err(|e| self.err(e, what, zone, auth))?;
            let items: Vec<T> = serde_json::from_value(env.result)
                .map_err(|e| other(format!("unexpected answer {what}: {e}")))?;
            let n = items.len();
            out.extend(items);
            let pages = env.result_info["total_pages"].as_u64().unwrap_or(0);
            if n == 0 || u64::from(page) >= pages {
                break;
            }
        }
        Ok(out)
    }

    /// One exact-name zone lookup, every page read.
    async fn find_zone(&self, name: &DnsName) -> Result<Option<String>, ProviderError> {
        let what = format!("looking up zone {name}");
        let query = [("name", name.to_string()), ("status", "active".into())];
        let auth = &self.config.zone_auth;
        let zones: Vec<Item> =
            (self.list("/zones", &query, ZONES_PER_PAGE, &what, (name, auth))).await?;
        Ok(zones.into_iter().find(|z| z.is_named(name)).map(|z| z.id))
    }

    /// The TXT records at `name`, every page read.
    async fn list_txt(
        &self,
        zone_id: &str,
        zone: &Zone,
        name: &DnsName,
    ) -> Result<Vec<Item>, ProviderError> {
        let what = format!("listing TXT records at {name}");
        let query = [("type", "TXT".into()), ("name", name.to_string())];
        let (path, auth) = (format!("/zones/{zone_id}/dns_records"), &self.config.auth);
        let records: Vec<Item> =
            (self.list(&path, &query, RECORDS_PER_PAGE, &what, (&zone.name, auth))).await?;
        let txt = |r: &Item| r.rtype.eq_ignore_ascii_case("TXT") && r.is_named(name);
        Ok(records.into_iter().filter(txt).collect())
    }

    /// The records remembered for a zone (memory and disk; read off the runtime, as file
    /// locks and fsync block).
    async fn remembered(&self, zone_id: &str) -> Vec<StoredRecord> {
        let (store, zid) = (self.store.clone(), zone_id.to_string());
        let records = tokio::task::spawn_blocking(move || store.records(&zid));
        records.await.unwrap_or_default()
    }

    /// Change the record-id file (off the runtime); a failure is not fatal (cleanup falls
    /// back to matching by name and value).
    async fn update_store(
        &self,
        f: impl FnOnce(&RecordStore) -> Result<(), String> + Send + 'static,
    ) {
        let store = self.store.clone();
        let done = tokio::task::spawn_blocking(move || f(&store)).await;
        if let Err(e) = done.unwrap_or_else(|e| Err(e.to_string())) {
            tracing::warn!("cloudflare: cannot update the record-id file: {e}");
        }
    }

    fn foreign(&self) -> std::sync::MutexGuard<'_, BTreeSet<(String, String, String)>> {
        self.foreign.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Create one TXT record: its id when it is ours. An identical record that exists already
    /// (81057/81058) serves validation as well; it is ours only when the record-id file has it
    /// or it carries our comment (a run that crashed before writing the file), else it belongs
    /// to someone else and is never deleted.
    async fn create(
        &self,
        zone_id: &str,
        zone: &Zone,
        name: &DnsName,
        value: &str,
        ttl: u32,
    ) -> Result<Option<String>, ProviderError> {
        let body = json!({
            "type": "TXT",
            "name": name.as_str(),
            "content": quote_txt(value),
            "ttl": ttl,
            "comment": COMMENT,
        });
        let (path, auth) = (format!("/zones/{zone_id}/dns_records"), &self.config.auth);
        let what = format!("creating a TXT record at {name}");
        let id = match self
            .api
            .call(Method::POST, &path, &[], Some(&body), auth)
            .await
        {
            Ok(env) => {
                serde_json::from_value::<Item>(env.result)
                    .map_err(|e| other(format!("unexpected answer {what}: {e}")))?
                    .id
            }
            Err(e) if e.has_code(ALREADY_EXISTS) => {
                tracing::debug!(%name, "TXT record already exists; finding its id");
                let existing = self.list_txt(zone_id, zone, name).await?;
                let rec = existing
                    .into_iter()
                    .find(|r| unquote_txt(&r.content) == value);
                let rec = rec.ok_or_else(|| ProviderError::Rejected {
                    provider: KIND,
                    message: format!(
                        "{what}: Cloudflare says it already exists, but no TXT record there has our value"
                    ),
                })?;
                let journal = self.remembered(zone_id).await;
                if rec.comment.as_deref() != Some(COMMENT)
                    && !journal.iter().any(|r| r.id == rec.id)
                {
                    tracing::info!(%name, id = %rec.id,
                        "cloudflare: an identical TXT record exists already (not created by wildcert); it serves \
                         validation and is left in place at cleanup");
                    self.foreign()
                        .insert((zone_id.into(), name.to_string(), value.into()));
                    return Ok(None);
                }
                rec.id
            }
            Err(e) => return Err(self.err(e, &what, &zone.name, auth)),
        };
        tracing::debug!(%name, id = %id, "TXT record created");
        let (zid, zname) = (zone_id.to_string(), zone.name.to_string());
        let rec = StoredRecord {
            id: id.clone(),
            name: name.to_string(),
            value: value.into(),
        };
        self.update_store(move |s| s.add(&zid, &zname, rec)).await;
        Ok(Some(id))
    }

    /// Delete one record by id; a record already gone is fine.
    async fn delete(&self, zone_id: &str, zone: &Zone, id: &str) -> Result<(), ProviderError> {
        let (path, auth) = (
            format!("/zones/{zone_id}/dns_records/{id}"),
            &self.config.auth,
        );
        match self.api.call(Method::DELETE, &path, &[], None, auth).await {
            Ok(_) => Ok(()),
            Err(e) if e.has_code(&[RECORD_MISSING]) => {
                tracing::debug!(id, "record already gone");
                Ok(())
            }
            // A 404 without a zone-level code: the record is gone.
            Err(e @ CallError::Api { status: 404, .. }) if !e.has_code(&[7000, 7003]) => Ok(()),
            Err(e) => Err(self.err(e, &format!("deleting TXT record {id}"), &zone.name, auth)),
        }
    }

    /// Delete records by id, a few at a time, and forget those gone; the first failure.
    async fn delete_all(
        &self,
        zone_id: &str,
        zone: &Zone,
        ids: Vec<String>,
    ) -> Option<ProviderError> {
        let results = stream::iter(ids)
            .map(|id| async move { self.delete(zone_id, zone, &id).await.map(|()| id) })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let (gone, first) = settle(results);
        let zid = zone_id.to_string();
        self.update_store(move |s| s.remove(&zid, &gone)).await;
        first
    }
}

/// TTL as Cloudflare takes it: 1 (automatic) or 60..=86400.
fn cloudflare_ttl(ttl: u32) -> u32 {
    if ttl <= 1 { 1 } else { ttl.clamp(60, 86400) }
}

#[async_trait]
impl DnsProvider for CloudflareProvider {
    fn name(&self) -> &'static str {
        KIND.name
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
                let mut zone = Zone::new(candidate);
                zone.provider_id = Some(id);
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
        if let Some(name) = set.names().find(|n| !n.is_within(&zone.name)) {
            return Err(other(format!("{name} is not inside zone {zone}")));
        }
        let zid = zone_id.as_str();
        let pairs: Vec<(DnsName, String)> =
            set.pairs().map(|(n, v)| (n.clone(), v.into())).collect();
        let results = stream::iter(pairs)
            .map(|(name, value)| async move { self.create(zid, zone, &name, &value, ttl).await })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let (created, first) = settle(results);
        let created: Vec<String> = created.into_iter().flatten().collect();
        if let Some(e) = first {
            // Leave the zone as it was: the caller only cleans up zones that published.
            if let Some(u) = self.delete_all(zid, zone, created).await {
                tracing::warn!(zone = %zone, "cloudflare: could not remove the records again: {u}");
            }
            return Err(e);
        }
        tracing::debug!(zone = %zone, records = created.len(), "published");
        Ok(Applied::default())
    }

    async fn unpublish(&self, zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
        let zone_id = self.zone_id(zone)?;
        let remembered = self.remembered(&zone_id).await;
        let mut ids: BTreeSet<String> = BTreeSet::new();
        let mut unknown = TxtSet::new();
        for (name, value) in set.pairs() {
            let key = (zone_id.clone(), name.to_string(), value.to_string());
            if self.foreign().contains(&key) {
                tracing::debug!(%name, "leaving the identical record that was there before");
                continue;
            }
            let found = remembered
                .iter()
                .filter(|r| r.name == name.as_str() && r.value == value);
            let before = ids.len();
            ids.extend(found.map(|r| r.id.clone()));
            if ids.len() == before {
                unknown.insert(name.clone(), value);
            }
        }
        let mut first = None;
        // Ids lost: find our values by name and content, never touching other content.
        for (name, values) in unknown.iter() {
            tracing::debug!(%name, values = values.len(), "no remembered record id; matching by name and value");
            match self.list_txt(&zone_id, zone, name).await {
                // Only records we created: they carry our comment.
                Ok(list) => ids.extend(
                    list.into_iter()
                        .filter(|r| {
                            r.comment.as_deref() == Some(COMMENT)
                                && values.contains(&unquote_txt(&r.content))
                        })
                        .map(|r| r.id),
                ),
                Err(e) => _ = first.get_or_insert(e),
            }
        }
        let err = self
            .delete_all(&zone_id, zone, ids.into_iter().collect())
            .await;
        first.or(err).map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_round_trips() {
        assert_eq!(quote_txt("abc-_09"), "\"abc-_09\"");
        assert_eq!(unquote_txt("\"abc\""), "abc");
        assert_eq!(unquote_txt("abc"), "abc");
        assert_eq!(unquote_txt("\"ab\" \"cd\""), "abcd");
        assert_eq!(unquote_txt(&quote_txt("a\"b\\c")), "a\"b\\c");
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
