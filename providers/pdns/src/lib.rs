//! PowerDNS Authoritative HTTP API provider (`/api/v1`, tested against pdns 4.7).
//!
//! PowerDNS has no "add one value to an RRset" call: `PATCH …/zones/Z` with
//! `changetype: REPLACE` replaces the whole RRset (and `EXTEND` is unknown to 4.7). So, per
//! zone, we read the current TXT RRsets of the names involved, merge (union on publish,
//! difference on cleanup), and write every name of the zone in **one** PATCH; an RRset left
//! empty by cleanup is deleted (`changetype: DELETE`). The existing TTL of an RRset is kept.
//! Master/Primary zones are then NOTIFYed through `PUT …/zones/Z/notify`.
//!
//! Read-modify-write is serialised per zone inside this process. Two *processes* (two wildcert
//! runs, or wildcert and another ACME client) writing the same name at the same moment can
//! still lose each other's value: PowerDNS offers no compare-and-swap. Run one issuing process
//! per zone at a time (wildcert's certificate lock covers runs for the same certificate).

pub mod settings;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::json;
use wildcert_provider::api::{JsonApi, secret_header, server_message};
use wildcert_provider::http::{RateLimitBudget, Response};
use wildcert_provider::record::{Change, merge_values, quote_txt, unquote_txt};
use wildcert_provider::{Applied, DnsName, DnsProvider, ProviderError, TxtSet, Zone};
use wildcert_provider::{ZoneCache, ZoneLocks};

pub use settings::{DEFAULT_SERVER_ID, KIND, PROVIDER, PdnsConfig, PdnsSettings};

/// Default of the run's time for waiting out rate limits (429 from PowerDNS or a proxy in
/// front of it); [`PdnsProvider::with_rate_limit_budget`] replaces it.
pub const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(120);
/// Bound on an unfiltered zone read (many names in one zone).
const ZONE_BODY_LIMIT: usize = 64 << 20;
/// Above this many names in one zone, one unfiltered zone read beats one read per name.
const PER_NAME_READS: usize = 4;

/// The PowerDNS provider.
#[derive(Debug)]
pub struct PdnsProvider {
    config: PdnsConfig,
    api: JsonApi,
    zones: ZoneCache,
    locks: ZoneLocks,
}

/// A zone as `GET …/zones/Z` returns it (only what we use).
#[derive(Debug, Deserialize)]
struct ZoneDoc {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    rrsets: Vec<RrSet>,
}

/// An entry of `GET …/zones?zone=`.
#[derive(Debug, Deserialize)]
struct ZoneSummary {
    id: String,
    name: String,
}

#[derive(Debug, Clone, Deserialize)]
struct RrSet {
    name: String,
    #[serde(rename = "type")]
    rtype: String,
    #[serde(default)]
    ttl: Option<u32>,
    #[serde(default)]
    records: Vec<Rec>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
struct Rec {
    content: String,
    #[serde(default)]
    disabled: bool,
}

impl PdnsProvider {
    /// Build from settings (reads the key file).
    pub fn new(settings: &PdnsSettings) -> Result<Self, ProviderError> {
        Self::from_config(settings.validate()?)
    }

    /// Build from a validated configuration.
    pub fn from_config(config: PdnsConfig) -> Result<Self, ProviderError> {
        let (name, key) = secret_header(KIND, "x-api-key", "", &config.api_key, "the API key")?;
        let mut headers = HeaderMap::new();
        headers.insert(name, key);
        let mut base = config.api_url.clone();
        if let Ok(mut p) = base.path_segments_mut() {
            p.pop_if_empty()
                .extend(["api", "v1", "servers", &config.server_id]);
        }
        let budget = RateLimitBudget::new(config.rate_limit_wait, "rate_limit_wait");
        let mut api = JsonApi::new(KIND, base, headers, config.timeout, budget)?;
        api.policy.max_total = Duration::from_secs(120);
        api.policy.base = Duration::from_millis(250);
        api.policy.cap = Duration::from_secs(4);
        Ok(PdnsProvider {
            config,
            api,
            zones: ZoneCache::default(),
            locks: ZoneLocks::default(),
        })
    }

    /// Wait out rate limits from `budget` (shared with every holder of a clone) instead of
    /// this provider's own [`DEFAULT_RATE_LIMIT_WAIT`].
    pub fn with_rate_limit_budget(mut self, budget: RateLimitBudget) -> Self {
        self.api.policy.budget = budget;
        self
    }

    /// The configuration in use.
    pub fn config(&self) -> &PdnsConfig {
        &self.config
    }

    /// A non-2xx answer, phrased for the person fixing it.
    fn error(&self, resp: &Response, zone: Option<&Zone>) -> ProviderError {
        let (msg, base) = (server_message(&resp.body), self.api.base());
        let message = match resp.status {
            401 => format!(
                "PowerDNS at {base} refused the API key (401 {msg}); compare api_key / PDNS_API_KEY \
                 with the server's `api-key` setting"
            ),
            403 => format!(
                "PowerDNS at {base} answered 403 {msg}: this host may not use the API (check the \
                 server's `webserver-allow-from`)"
            ),
            404 => format!(
                "PowerDNS at {base} answered 404 ({msg}){}: check the zone name, and server_id / \
                 PDNS_SERVER_NAME (usually `localhost`)",
                zone.map(|z| format!(" for zone {z}")).unwrap_or_default()
            ),
            400 | 422 => format!("PowerDNS refused the change ({}): {msg}", resp.status),
            _ => return self.api.status_error(resp, zone),
        };
        self.api.status_error_saying(resp, zone, message)
    }

    /// `zones/<id>/<extra…>`.
    fn zone_url(&self, zone: &Zone, extra: &[&str]) -> reqwest::Url {
        let id = zone
            .provider_id
            .clone()
            .unwrap_or_else(|| zone_id(&zone.name));
        self.api.url(&[&["zones", id.as_str()], extra].concat())
    }

    /// GET, requiring 2xx, parsed as `T`.
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        api: &JsonApi,
        url: reqwest::Url,
        zone: Option<&Zone>,
    ) -> Result<T, ProviderError> {
        let resp = api.send(Method::GET, url, None).await?;
        if !resp.is_success() {
            return Err(self.error(&resp, zone));
        }
        serde_json::from_slice(&resp.body).map_err(|e| ProviderError::Other {
            provider: KIND,
            message: format!("cannot parse the answer of PowerDNS: {e}"),
        })
    }

    /// Read the zone's kind and its current TXT RRsets at `names`.
    async fn read_txt(
        &self,
        zone: &Zone,
        names: &[&DnsName],
    ) -> Result<(String, HashMap<DnsName, RrSet>), ProviderError> {
        let mut docs: Vec<ZoneDoc> = Vec::new();
        if names.len() <= PER_NAME_READS {
            for name in names {
                let mut url = self.zone_url(zone, &[]);
                url.query_pairs_mut()
                    .append_pair("rrset_name", &name.to_fqdn())
                    .append_pair("rrset_type", "TXT");
                docs.push(self.get(&self.api, url, Some(zone)).await?);
            }
        } else {
            let mut api = self.api.clone();
            api.policy.body_limit = ZONE_BODY_LIMIT;
            docs.push(self.get(&api, self.zone_url(zone, &[]), Some(zone)).await?);
        }
        let kind = docs.first().map(|d| d.kind.clone()).unwrap_or_default();
        let found = docs
            .into_iter()
            .flat_map(|d| d.rrsets)
            .filter(|rr| rr.rtype.eq_ignore_ascii_case("TXT"))
            .filter_map(|rr| Some((DnsName::parse(&rr.name).ok()?, rr)))
            .filter(|(n, _)| names.contains(&n))
            .collect();
        Ok((kind, found))
    }

    /// Read, merge, write once; NOTIFY a primary zone afterwards.
    async fn change(&self, zone: &Zone, set: &TxtSet, op: Change) -> Result<(), ProviderError> {
        let names: Vec<&DnsName> = set.names().collect();
        if let Some(outside) = names.iter().find(|n| !n.is_within(&zone.name)) {
            return Err(ProviderError::Other {
                provider: KIND,
                message: format!("{outside} is not inside zone {}", zone.name),
            });
        }
        if set.is_empty() {
            return Ok(());
        }
        let _guard = self.locks.lock(zone).await;
        let (kind, current) = self.read_txt(zone, &names).await?;
        let mut rrsets = Vec::new();
        for (name, ours) in set.iter() {
            let existing = current.get(name);
            let records = existing.map(|r| r.records.as_slice()).unwrap_or_default();
            let ttl = existing.and_then(|r| r.ttl).unwrap_or(set.ttl);
            let value = |r: &Rec| unquote_txt(&r.content);
            let out: Vec<Rec> = match op {
                Change::Add => {
                    // A disabled record is not served: ours is replaced by an enabled one.
                    let served: Vec<String> =
                        records.iter().filter(|r| !r.disabled).map(value).collect();
                    let Some(values) = merge_values(&served, ours, op) else {
                        continue;
                    };
                    let kept = records
                        .iter()
                        .filter(|r| !(r.disabled && ours.contains(&value(r))));
                    let added = values[served.len()..].iter().map(|v| Rec {
                        content: quote_txt(v),
                        disabled: false,
                    });
                    kept.cloned().chain(added).collect()
                }
                Change::Remove => {
                    let all: Vec<String> = records.iter().map(value).collect();
                    if merge_values(&all, ours, op).is_none() {
                        continue;
                    }
                    records
                        .iter()
                        .filter(|r| !ours.contains(&value(r)))
                        .cloned()
                        .collect()
                }
            };
            rrsets.push(if out.is_empty() {
                json!({ "name": name.to_fqdn(), "type": "TXT", "changetype": "DELETE" })
            } else {
                json!({ "name": name.to_fqdn(), "type": "TXT", "ttl": ttl,
                        "changetype": "REPLACE", "records": out })
            });
        }
        if rrsets.is_empty() {
            tracing::debug!(zone = %zone, "pdns: nothing to change");
            return Ok(());
        }
        let body = json!({ "rrsets": rrsets });
        let resp = self
            .api
            .send(Method::PATCH, self.zone_url(zone, &[]), Some(&body))
            .await?;
        if !resp.is_success() {
            return Err(self.error(&resp, Some(zone)));
        }
        if matches!(kind.to_ascii_lowercase().as_str(), "master" | "primary") {
            // Failures only delay the secondaries (they poll).
            match self
                .api
                .send(Method::PUT, self.zone_url(zone, &["notify"]), None)
                .await
            {
                Ok(r) if r.is_success() => tracing::debug!(zone = %zone, "pdns: NOTIFY queued"),
                Ok(r) => {
                    tracing::debug!(zone = %zone, "pdns: NOTIFY not sent: {}", server_message(&r.body))
                }
                Err(e) => tracing::debug!(zone = %zone, "pdns: NOTIFY not sent: {e}"),
            }
        }
        Ok(())
    }

    /// Find the zone holding `fqdn` through the API, walking up its labels.
    async fn lookup_zone(&self, fqdn: &DnsName) -> Result<Zone, ProviderError> {
        let mut tried = Vec::new();
        for candidate in fqdn.ancestors() {
            let mut url = self.api.url(&["zones"]);
            url.query_pairs_mut()
                .append_pair("zone", &candidate.to_fqdn());
            let resp = self.api.send(Method::GET, url.clone(), None).await?;
            if resp.status == 404 {
                // The zone list itself is missing: the server id is wrong.
                return Err(ProviderError::ZoneNotFound {
                    provider: KIND,
                    zone: fqdn.to_string(),
                    message: format!(
                        "PowerDNS at {} has no server `{}` (404 {}); PowerDNS Authoritative calls \
                         itself `localhost`: fix server_id / PDNS_SERVER_NAME",
                        self.config.api_url,
                        self.config.server_id,
                        server_message(&resp.body)
                    ),
                });
            }
            let list: Vec<ZoneSummary> = self.get(&self.api, url, None).await?;
            if let Some(z) = list
                .into_iter()
                .find(|z| DnsName::parse(&z.name).is_ok_and(|n| n == candidate))
            {
                return Ok(Zone {
                    name: candidate,
                    provider_id: Some(z.id),
                });
            }
            tried.push(candidate.to_fqdn());
        }
        Err(ProviderError::ZoneNotFound {
            provider: KIND,
            zone: fqdn.to_string(),
            message: format!(
                "PowerDNS server `{}` at {} has no zone containing {fqdn} (looked for {}); create \
                 the zone, or check api_url and server_id",
                self.config.server_id,
                self.config.api_url,
                tried.join(", ")
            ),
        })
    }
}

#[async_trait]
impl DnsProvider for PdnsProvider {
    fn name(&self) -> &'static str {
        KIND.name
    }

    async fn zone_for(&self, fqdn: &DnsName) -> Result<Option<Zone>, ProviderError> {
        if let Some(z) = self.zones.get(fqdn) {
            return Ok(Some(z));
        }
        let zone = self.lookup_zone(fqdn).await?;
        tracing::debug!(%fqdn, zone = %zone, "pdns: zone from the API");
        self.zones.insert(fqdn, &zone);
        Ok(Some(zone))
    }

    async fn publish(&self, zone: &Zone, set: &TxtSet) -> Result<Applied, ProviderError> {
        self.change(zone, set, Change::Add).await?;
        Ok(Applied::default())
    }

    async fn unpublish(&self, zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
        self.change(zone, set, Change::Remove).await
    }
}

/// The API's zone id for a name: canonical, trailing dot, `/` as `=2F`.
pub fn zone_id(name: &DnsName) -> String {
    name.to_fqdn().replace('/', "=2F")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_roundtrips() {
        assert_eq!(quote_txt("abc"), "\"abc\"");
        assert_eq!(unquote_txt("\"abc\""), "abc");
        assert_eq!(unquote_txt("\"a\\\"b\\\\c\""), "a\"b\\c");
        assert_eq!(unquote_txt("\"ab\" \"cd\""), "abcd");
        assert_eq!(unquote_txt("\"a\\032b\""), "a b");
        let long = "x".repeat(600);
        assert_eq!(unquote_txt(&quote_txt(&long)), long);
        assert_eq!(quote_txt(&long).matches('"').count(), 6);
    }

    #[test]
    fn urls_and_ids() {
        let name = DnsName::parse("Example.COM").expect("name");
        assert_eq!(zone_id(&name), "example.com.");
        let p = PdnsProvider::new(&PdnsSettings {
            api_url: Some("http://127.0.0.1:8081/api/v1".into()),
            api_key: Some(wildcert_provider::Secret::new("k")),
            ..Default::default()
        })
        .expect("provider");
        let z = Zone::new(name);
        assert_eq!(
            p.zone_url(&z, &["notify"]).as_str(),
            "http://127.0.0.1:8081/api/v1/servers/localhost/zones/example.com./notify"
        );
        assert!(!format!("{p:?}").contains("\"k\""));
    }
}
