//! Akamai Edge DNS provider: the Edge DNS Zone Management API v2 (`/config-dns/v2`) at the
//! EdgeGrid host of the API client, every request signed with EdgeGrid (`EG1-HMAC-SHA256`,
//! [`edgegrid`]) afresh, retries included (a fresh timestamp and nonce each time).
//!
//! Edge DNS keeps the TXT records of one name as one record set
//! (`/zones/{zone}/names/{name}/types/TXT`, `{"name", "type", "ttl", "rdata": […]}`): `POST`
//! creates it, `PUT` replaces it whole, `DELETE` removes it. So, per name, the provider reads
//! the set (`GET`; 404 = none), merges ours in or out with [`merge_values`] (every other value
//! kept as stored, ours quoted) and writes it back, or deletes it when nothing is left; an
//! existing set keeps its TTL.
//!
//! Edge DNS serialises the writes of a zone: a write while another one to the same zone is in
//! flight is refused with 409 `concurrentZoneModification`. Such a 409 (and the 409 of a POST
//! or the 404 of a PUT beaten by another writer) makes the provider read, merge and write that
//! name again after a jittered backoff, at most [`MAX_WRITE_TRIES`] times. Inside one process
//! the writes of a zone are serialised ([`ZoneLocks`]). The zone is the longest one the API client sees (the zone
//! list is paged, 25 a page by default: every page is read), or `zone` when set.

pub mod edgegrid;
pub mod settings;

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use wildcert_provider::api::{JsonApi, redact_url, server_message};
use wildcert_provider::http::{self, ClientBuilder, RateLimitBudget, Response, Verdict};
use wildcert_provider::name::zone_listing;
use wildcert_provider::record::{Change, merge_values, quote_txt, unquote_txt};
use wildcert_provider::{Applied, DnsName, DnsProvider, ProviderError, ProviderTuning, TxtSet};
use wildcert_provider::{Zone, ZoneCache, ZoneLocks};

pub use edgegrid::EdgeGridCredentials;
pub use settings::{EdgeDnsConfig, EdgeDnsSettings, KIND, PROVIDER};

/// Read-merge-write attempts of one name when Edge DNS answers 409.
pub const MAX_WRITE_TRIES: u32 = 6;
/// First and largest backoff after a 409.
const CONFLICT_BASE: Duration = Duration::from_millis(250);
const CONFLICT_CAP: Duration = Duration::from_secs(4);
/// Bound on the pages of the zone list.
const MAX_PAGES: u32 = 1000;

/// The Akamai Edge DNS provider.
#[derive(Debug)]
pub struct EdgeDnsProvider {
    config: EdgeDnsConfig,
    api: JsonApi,
    http: reqwest::Client,
    zones: ZoneCache,
    locks: ZoneLocks,
}

/// A record set as `GET …/names/{name}/types/TXT` returns it (what we use of it).
#[derive(Debug, Default, Deserialize)]
struct RecordSet {
    #[serde(default)]
    ttl: Option<u32>,
    #[serde(default)]
    rdata: Vec<String>,
}

fn other(message: String) -> ProviderError {
    ProviderError::Other {
        provider: KIND,
        message,
    }
}

impl EdgeDnsProvider {
    /// Build from settings (reads the .edgerc file or secret files).
    pub fn new(settings: &EdgeDnsSettings) -> Result<Self, ProviderError> {
        Self::from_config(settings.validate()?)
    }

    /// Build from a validated configuration.
    pub fn from_config(config: EdgeDnsConfig) -> Result<Self, ProviderError> {
        let budget = RateLimitBudget::new(config.rate_limit_wait, "rate_limit_wait");
        let (base, timeout) = (config.base_url.clone(), config.timeout);
        let api = JsonApi::new(KIND, base, HeaderMap::new(), timeout, budget)?;
        let http = ClientBuilder::new(KIND, timeout).build()?;
        Ok(EdgeDnsProvider {
            config,
            api,
            http,
            zones: ZoneCache::default(),
            locks: ZoneLocks::default(),
        })
    }

    /// `{base}/config-dns/v2/segments…`, with `accountSwitchKey` when one is set.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.api.url(&[&["config-dns", "v2"], segments].concat());
        if let Some(key) = &self.config.account_switch_key {
            url.query_pairs_mut().append_pair("accountSwitchKey", key);
        }
        url
    }

    /// Send one signed request through the SDK's retry policy (429, 5xx); every attempt is
    /// signed anew.
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Response, ProviderError> {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let shown = redact_url(&url);
        let make = |attempt: u32| {
            let now = edgegrid::timestamp(OffsetDateTime::now_utc());
            let auth = self.config.credentials.authorization(
                method.as_str(),
                &url,
                &bytes,
                (&now, &edgegrid::nonce()),
                edgegrid::MAX_BODY,
            );
            let req = HeaderValue::from_str(&auth).map(|mut v| {
                v.set_sensitive(true);
                let req = self.http.request(method.clone(), url.clone());
                let req = req
                    .header(AUTHORIZATION, v)
                    .header(ACCEPT, "application/json");
                match body {
                    Some(_) => req
                        .header(CONTENT_TYPE, "application/json")
                        .body(bytes.clone()),
                    None => req,
                }
            });
            let req =
                req.map_err(|_| other("the EdgeGrid credentials make no valid header".into()));
            tracing::debug!(provider = KIND.name, %method, url = %shown, attempt, "request");
            async move { req }
        };
        let resp = self
            .api
            .policy
            .send(&shown, make, http::default_verdict)
            .await?;
        tracing::debug!(provider = KIND.name, %method, url = %shown, status = resp.status, "answer");
        if http::default_verdict(&resp) == Verdict::Retry {
            return Err(ProviderError::Unreachable {
                provider: KIND,
                target: shown,
                message: format!("HTTP {}: {}", resp.status, server_message(&resp.body)),
            });
        }
        Ok(resp)
    }

    /// A non-2xx answer (a problem document: `type`, `title`, `detail`), phrased for the
    /// person fixing it.
    fn error(&self, resp: &Response, zone: Option<&Zone>) -> ProviderError {
        let msg = server_message(&resp.body);
        let message = match resp.status {
            401 => format!(
                "Akamai refused the EdgeGrid credentials (401 {msg}); check client_token, client_secret and \
                 access_token (AKAMAI_* or the .edgerc section) and that they belong to the host"
            ),
            400 if msg.contains("timestamp") => {
                let message = format!(
                    "Akamai refused the request time (400 {msg}): this machine's clock is more than 30 seconds \
                     off; synchronise it (NTP)"
                );
                return ProviderError::Auth {
                    provider: KIND,
                    message,
                };
            }
            403 => format!(
                "the API client may not do this (403 {msg}): it needs READ-WRITE access to \"DNS—Zone Record \
                 Management\" on the contract holding the zone"
            ),
            404 => {
                format!("404 {msg}: the zone is not (or no longer) on Edge DNS for this API client")
            }
            _ => return self.api.status_error(resp, zone),
        };
        self.api.status_error_saying(resp, zone, message)
    }

    /// Every zone the API client sees (`GET /zones`, page by page, 25 a page by default,
    /// until `metadata.totalElements` is reached or a page comes back empty).
    async fn zone_list(&self) -> Result<Vec<DnsName>, ProviderError> {
        let mut out = Vec::new();
        for page in 1..=MAX_PAGES {
            let mut url = self.url(&["zones"]);
            url.query_pairs_mut().append_pair("page", &page.to_string());
            let resp = self.send(Method::GET, url, None).await?;
            if !resp.is_success() {
                return Err(self.error(&resp, None));
            }
            let list: Value = serde_json::from_slice(&resp.body).map_err(|e| {
                other(format!(
                    "cannot parse the zone list of {}: {e}",
                    self.api.base()
                ))
            })?;
            let zones = list["zones"].as_array().cloned().unwrap_or_default();
            let names = zones.iter().filter_map(|z| z["zone"].as_str());
            out.extend(names.filter_map(|z| DnsName::parse(z).ok()));
            let total = list["metadata"]["totalElements"].as_u64().unwrap_or(0);
            if zones.is_empty() || out.len() as u64 >= total {
                break;
            }
        }
        Ok(out)
    }

    /// The longest zone the API client sees that holds `fqdn`.
    async fn lookup_zone(&self, fqdn: &DnsName) -> Result<Zone, ProviderError> {
        let mut visible = self.zone_list().await?;
        visible.sort_by_key(|n| std::cmp::Reverse(n.label_count()));
        if let Some(name) = visible.iter().find(|n| fqdn.is_within(n)) {
            return Ok(Zone::new(name.clone()));
        }
        Err(ProviderError::ZoneNotFound {
            provider: KIND,
            zone: fqdn.to_string(),
            message: format!(
                "no Edge DNS zone the API client can see holds {fqdn}; it sees: {}",
                zone_listing(&visible)
            ),
        })
    }

    /// Read, merge and write back (or delete) the TXT record set of every name of `set`,
    /// again after a backoff when Edge DNS answers 409.
    async fn change(&self, zone: &Zone, set: &TxtSet, op: Change) -> Result<(), ProviderError> {
        let _guard = self.locks.lock(zone).await;
        let zname = zone.name.as_str().to_ascii_lowercase();
        for (name, ours) in set.iter() {
            if !name.is_within(&zone.name) {
                return Err(other(format!("{name} is not inside zone {zone}")));
            }
            let fqdn = name.as_str().to_ascii_lowercase();
            let path = [
                "zones",
                zname.as_str(),
                "names",
                fqdn.as_str(),
                "types",
                "TXT",
            ];
            for attempt in 1..=MAX_WRITE_TRIES {
                let resp = self.send(Method::GET, self.url(&path), None).await?;
                let current = match resp.status {
                    404 => None,
                    _ if resp.is_success() => Some(
                        serde_json::from_slice::<RecordSet>(&resp.body).map_err(|e| {
                            other(format!("cannot parse the TXT record set {fqdn}: {e}"))
                        })?,
                    ),
                    _ => return Err(self.error(&resp, Some(zone))),
                };
                let stored = current
                    .as_ref()
                    .map(|c| c.rdata.as_slice())
                    .unwrap_or_default();
                let Some(values) = merged(stored, ours, op) else {
                    break;
                };
                let ttl = current.as_ref().and_then(|c| c.ttl).unwrap_or(set.ttl);
                let body = json!({ "name": fqdn, "type": "TXT", "ttl": ttl, "rdata": values });
                let (method, body) = match (values.is_empty(), &current) {
                    (true, _) => (Method::DELETE, None),
                    (false, None) => (Method::POST, Some(&body)),
                    (false, Some(_)) => (Method::PUT, Some(&body)),
                };
                let replaced = method == Method::PUT;
                let resp = self.send(method, self.url(&path), body).await?;
                match resp.status {
                    // Busy zone, or the set created / deleted by another writer meanwhile.
                    409 | 404 if attempt < MAX_WRITE_TRIES && (resp.status == 409 || replaced) => {
                        let wait = http::backoff(attempt, CONFLICT_BASE, CONFLICT_CAP);
                        tracing::debug!(zone = %zone, name = %fqdn, attempt, "edgedns: 409 {}; again in {wait:?}",
                            server_message(&resp.body));
                        tokio::time::sleep(wait).await;
                    }
                    409 => {
                        return Err(ProviderError::Rejected {
                            provider: KIND,
                            message: format!(
                                "Edge DNS answered 409 ({}) {MAX_WRITE_TRIES} times for {fqdn}: another writer keeps \
                                 changing zone {zone}; try again later",
                                server_message(&resp.body)
                            ),
                        });
                    }
                    404 if values.is_empty() => break,
                    _ if resp.is_success() => {
                        tracing::debug!(zone = %zone, name = %fqdn, values = values.len(), "edgedns: TXT record set written");
                        break;
                    }
                    _ => return Err(self.error(&resp, Some(zone))),
                }
            }
        }
        Ok(())
    }
}

/// The values the record set must hold after `op` of `ours` ([`merge_values`] on the served
/// text), every other value in the form the zone stores it, ours quoted; `None`: no change.
fn merged(stored: &[String], ours: &BTreeSet<String>, op: Change) -> Option<Vec<String>> {
    let served: Vec<String> = stored.iter().map(|s| unquote_txt(s)).collect();
    let out = merge_values(&served, ours, op)?;
    let as_stored = |v: &String| {
        served
            .iter()
            .position(|s| s == v)
            .map(|i| stored[i].clone())
    };
    Some(
        out.iter()
            .map(|v| as_stored(v).unwrap_or_else(|| quote_txt(v)))
            .collect(),
    )
}

#[async_trait]
impl DnsProvider for EdgeDnsProvider {
    fn name(&self) -> &'static str {
        KIND.name
    }

    async fn zone_for(&self, fqdn: &DnsName) -> Result<Option<Zone>, ProviderError> {
        if let Some(zone) = &self.config.zone {
            if !fqdn.is_within(zone) {
                let message =
                    format!("{fqdn} is not inside the zone `{zone}` set in zone (AKAMAI_ZONE)");
                return Err(ProviderError::Config {
                    provider: KIND,
                    message,
                });
            }
            return Ok(Some(Zone::new(zone.clone())));
        }
        if let Some(z) = self.zones.get(fqdn) {
            return Ok(Some(z));
        }
        let zone = self.lookup_zone(fqdn).await?;
        tracing::debug!(%fqdn, zone = %zone, "edgedns: zone from the API");
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

    fn credential_source(&self) -> Option<String> {
        Some(format!("EdgeGrid API client at {}", self.api.base()))
    }

    fn tuning(&self) -> ProviderTuning {
        ProviderTuning {
            propagation_timeout: Some(self.config.propagation_timeout),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_keep_stored_forms_and_quote_ours() {
        let ours: BTreeSet<String> = ["a".to_string(), "b".to_string()].into();
        let stored = vec!["\"keep\"".to_string(), "\"a\"".to_string()];
        assert_eq!(
            merged(&stored, &ours, Change::Add),
            Some(vec!["\"keep\"".into(), "\"a\"".into(), "\"b\"".into()])
        );
        assert_eq!(
            merged(&stored, &ours, Change::Remove),
            Some(vec!["\"keep\"".into()])
        );
        assert_eq!(merged(&["plain".into()], &ours, Change::Remove), None);
        assert_eq!(
            merged(&["\"a\"".into()], &ours, Change::Remove),
            Some(vec![])
        );
    }
}
