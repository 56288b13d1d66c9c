//! GoDaddy provider: the Domains API v1 (`https://api.godaddy.com/v1`, developer.godaddy.com
//! "Domains"), authenticated with `Authorization: sso-key KEY:SECRET`.
//!
//! GoDaddy keeps the records of one domain by type and name, with no record ids:
//! `GET /v1/domains/{domain}/records/TXT/{name}` lists them, `PATCH /v1/domains/{domain}/records`
//! appends records, and `PUT …/records/TXT/{name}` replaces **every** TXT value at that name.
//! So publishing reads each name and appends the missing values with one `PATCH` per zone
//! (nothing else is touched, and concurrent appenders do not lose values); cleaning up reads
//! each name and writes back the other values with `PUT` (as stored, with their TTLs), or
//! `DELETE`s the name when nothing else is left (a `PUT` of an empty list is ignored by GoDaddy).
//! Read-modify-write is serialised per zone inside this process ([`ZoneLocks`]); GoDaddy has no
//! compare-and-swap, so two *processes* cleaning up one name at once may put back each other's
//! value (declared in the conformance subject).
//!
//! The traps: GoDaddy answers `403 ACCESS_DENIED` to every call of an account that does not
//! qualify for API access (too few domains), which the error says plainly; and it takes no
//! TTL below 600 s, so a lower TTL is raised to 600 with a warning.

pub mod settings;

use std::collections::BTreeSet;

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::{Value, json};
use wildcert_provider::api::{JsonApi, secret_header, server_message};
use wildcert_provider::http::{RateLimitBudget, Response};
use wildcert_provider::name::zone_listing;
use wildcert_provider::{Applied, DnsName, DnsProvider, ProviderError, ProviderTuning, Secret};
use wildcert_provider::{TxtSet, Zone, ZoneCache, ZoneLocks};

pub use settings::{DEFAULT_BASE_URL, GoDaddyConfig, GoDaddySettings, KIND, MIN_TTL, PROVIDER};

/// Domains asked for per page of `GET /v1/domains` (paged by `limit` and `marker`).
const PER_PAGE: usize = 500;
/// Bound on the pages of one listing.
const MAX_PAGES: usize = 200;

/// The GoDaddy provider.
#[derive(Debug)]
pub struct GoDaddyProvider {
    config: GoDaddyConfig,
    api: JsonApi,
    zones: ZoneCache,
    locks: ZoneLocks,
}

/// A record as `GET …/records/{type}/{name}` returns it (what we use of it).
#[derive(Debug, Deserialize)]
struct Record {
    data: String,
    #[serde(default)]
    ttl: Option<u32>,
}

fn other(message: String) -> ProviderError {
    ProviderError::Other {
        provider: KIND,
        message,
    }
}

impl GoDaddyProvider {
    /// Build from settings (reads the secret files).
    pub fn new(settings: &GoDaddySettings) -> Result<Self, ProviderError> {
        Self::from_config(settings.validate()?)
    }

    /// Build from a validated configuration.
    pub fn from_config(config: GoDaddyConfig) -> Result<Self, ProviderError> {
        let (key, secret) = (config.api_key.expose(), config.api_secret.expose());
        let pair = Secret::new(format!("{key}:{secret}"));
        let header = secret_header(KIND, "authorization", "sso-key ", &pair, "the API key")?;
        let budget = RateLimitBudget::new(config.rate_limit_wait, "rate_limit_wait");
        let (base, timeout) = (config.base_url.clone(), config.timeout);
        let api = JsonApi::new(KIND, base, HeaderMap::from_iter([header]), timeout, budget)?;
        Ok(GoDaddyProvider {
            config,
            api,
            zones: ZoneCache::default(),
            locks: ZoneLocks::default(),
        })
    }

    /// `{base}/v1/domains/…`.
    fn url(&self, segments: &[&str]) -> Url {
        self.api.url(&[&["v1", "domains"], segments].concat())
    }

    /// A non-2xx answer (`{"code", "message", "fields": [{"path", "message"}]}`), phrased for
    /// the person fixing it.
    fn error(&self, resp: &Response, zone: Option<&Zone>) -> ProviderError {
        let msg = server_message(&resp.body);
        let doc: Value = serde_json::from_slice(&resp.body).unwrap_or_default();
        let code = doc["code"].as_str().unwrap_or("");
        let message = match resp.status {
            401 => format!(
                "GoDaddy refused the API key (401 {code}: {msg}); check GODADDY_API_KEY and \
                 GODADDY_API_SECRET: both must be of one production key (an OTE test key works only \
                 on api.ote-godaddy.com)"
            ),
            403 => format!(
                "GoDaddy denied this account API access (403 {code}: {msg}). GoDaddy opens its DNS API \
                 only to accounts with enough domains (10 or more, or a Domain Pro / Discount Domain \
                 Club plan); a valid key of any other account gets this answer. Delegate \
                 _acme-challenge with a CNAME to a DNS host with an open API (e.g. acme-dns), or \
                 move the domain's DNS"
            ),
            404 => format!(
                "GoDaddy has no domain {} in this account (404 {code}: {msg})",
                zone.map(|z| z.to_string()).unwrap_or_default()
            ),
            422 => {
                let fields = doc["fields"].as_array().into_iter().flatten().map(|f| {
                    let path = f["path"].as_str().unwrap_or("");
                    format!("{path}: {}", f["message"].as_str().unwrap_or(""))
                });
                let fields: Vec<String> = fields.collect();
                format!(
                    "GoDaddy refused the change (422 {code}: {msg} {})",
                    fields.join("; ")
                )
            }
            _ => return self.api.status_error(resp, zone),
        };
        self.api.status_error_saying(resp, zone, message)
    }

    /// Send; a non-2xx answer is an error.
    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        zone: Option<&Zone>,
    ) -> Result<Response, ProviderError> {
        let resp = self.api.send(method, url, body).await?;
        match resp.is_success() {
            true => Ok(resp),
            false => Err(self.error(&resp, zone)),
        }
    }

    /// Every domain of the account (`GET /v1/domains`, `limit` a page, the last domain as the
    /// next `marker`, until a page is empty or the marker stops moving).
    async fn domains(&self) -> Result<Vec<DnsName>, ProviderError> {
        let mut names: Vec<DnsName> = Vec::new();
        let mut marker = String::new();
        for _ in 0..MAX_PAGES {
            let mut url = self.url(&[]);
            url.query_pairs_mut()
                .append_pair("limit", &PER_PAGE.to_string());
            if !marker.is_empty() {
                url.query_pairs_mut().append_pair("marker", &marker);
            }
            let resp = self.call(Method::GET, url, None, None).await?;
            let items: Vec<Value> = serde_json::from_slice(&resp.body).map_err(|e| {
                other(format!(
                    "cannot parse the domain list of {}: {e}",
                    self.api.base()
                ))
            })?;
            let page: Vec<&str> = items.iter().filter_map(|d| d["domain"].as_str()).collect();
            match page.last() {
                Some(last) if *last != marker => marker = last.to_string(),
                _ => break,
            }
            names.extend(page.iter().filter_map(|d| DnsName::parse(d).ok()));
        }
        Ok(names)
    }

    /// The TXT records at `rel` in `zone`.
    async fn read(&self, zone: &Zone, rel: &str) -> Result<Vec<Record>, ProviderError> {
        let url = self.url(&[zone.name.as_str(), "records", "TXT", rel]);
        let resp = self.call(Method::GET, url, None, Some(zone)).await?;
        serde_json::from_slice(&resp.body)
            .map_err(|e| other(format!("cannot parse the TXT records at {rel}: {e}")))
    }

    /// Our TTL: the set's, raised to GoDaddy's minimum (and said so).
    fn ttl(&self, set: &TxtSet) -> u32 {
        if set.ttl < MIN_TTL {
            tracing::warn!(
                "godaddy: TTL {} is below GoDaddy's minimum; the records get {MIN_TTL} seconds",
                set.ttl
            );
        }
        set.ttl.max(MIN_TTL)
    }
}

/// The record name of `name` in `zone`: relative, lower case, `@` for the apex.
fn record_name(name: &DnsName, zone: &DnsName) -> Result<String, ProviderError> {
    if !name.is_within(zone) {
        return Err(other(format!("{name} is not inside zone {zone}")));
    }
    let (full, zone) = (name.as_str(), zone.as_str());
    let rel = full
        .strip_suffix(zone)
        .unwrap_or_default()
        .trim_end_matches('.');
    Ok(match rel.is_empty() {
        true => "@".into(),
        false => rel.to_ascii_lowercase(),
    })
}

/// Names of `set` relative to `zone`, with our values.
fn names<'a>(
    zone: &Zone,
    set: &'a TxtSet,
) -> Result<Vec<(String, &'a BTreeSet<String>)>, ProviderError> {
    set.iter()
        .map(|(name, ours)| Ok((record_name(name, &zone.name)?, ours)))
        .collect()
}

#[async_trait]
impl DnsProvider for GoDaddyProvider {
    fn name(&self) -> &'static str {
        KIND.name
    }

    async fn zone_for(&self, fqdn: &DnsName) -> Result<Option<Zone>, ProviderError> {
        if let Some(z) = self.zones.get(fqdn) {
            return Ok(Some(z));
        }
        let mut visible = self.domains().await?;
        visible.sort_by_key(|n| std::cmp::Reverse(n.label_count()));
        let Some(name) = visible.iter().find(|n| fqdn.is_within(n)) else {
            return Err(ProviderError::ZoneNotFound {
                provider: KIND,
                zone: fqdn.to_string(),
                message: format!(
                    "no domain of this GoDaddy account holds {fqdn}; it has: {}",
                    zone_listing(&visible)
                ),
            });
        };
        let zone = Zone::new(name.clone());
        tracing::debug!(%fqdn, zone = %zone, "godaddy: zone from the domain list");
        self.zones.insert(fqdn, &zone);
        Ok(Some(zone))
    }

    async fn publish(&self, zone: &Zone, set: &TxtSet) -> Result<Applied, ProviderError> {
        let ttl = self.ttl(set);
        let names = names(zone, set)?;
        let _guard = self.locks.lock(zone).await;
        let mut missing = Vec::new();
        for (rel, ours) in names {
            let stored = self.read(zone, &rel).await?;
            let new = ours
                .iter()
                .filter(|v| !stored.iter().any(|r| &&r.data == v));
            missing
                .extend(new.map(|v| json!({ "type": "TXT", "name": rel, "data": v, "ttl": ttl })));
        }
        if !missing.is_empty() {
            let (n, url) = (missing.len(), self.url(&[zone.name.as_str(), "records"]));
            self.call(Method::PATCH, url, Some(&Value::Array(missing)), Some(zone))
                .await?;
            tracing::debug!(zone = %zone, records = n, "godaddy: TXT records appended");
        }
        Ok(Applied::default())
    }

    async fn unpublish(&self, zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
        let names = names(zone, set)?;
        let _guard = self.locks.lock(zone).await;
        for (rel, ours) in names {
            let stored = self.read(zone, &rel).await?;
            if !stored.iter().any(|r| ours.contains(&r.data)) {
                continue;
            }
            let keep: Vec<Value> = stored
                .iter()
                .filter(|r| !ours.contains(&r.data))
                .map(|r| json!({ "data": r.data, "ttl": r.ttl.unwrap_or(self.config.ttl) }))
                .collect();
            let url = self.url(&[zone.name.as_str(), "records", "TXT", &rel]);
            if keep.is_empty() {
                let resp = self.api.send(Method::DELETE, url, None).await?;
                // 404 NOT_FOUND: gone meanwhile; an unknown domain is still an error.
                let gone = resp.status == 404 && !resp.text().contains("UNKNOWN_DOMAIN");
                if !resp.is_success() && !gone {
                    return Err(self.error(&resp, Some(zone)));
                }
            } else {
                let body = Value::Array(keep);
                self.call(Method::PUT, url, Some(&body), Some(zone)).await?;
            }
            tracing::debug!(zone = %zone, name = %rel, "godaddy: TXT records written back");
        }
        Ok(())
    }

    fn credential_source(&self) -> Option<String> {
        Some("API key and secret".into())
    }

    fn tuning(&self) -> ProviderTuning {
        // GODADDY_TTL (600) unless the run sets its own.
        ProviderTuning {
            ttl: Some(self.config.ttl),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> DnsName {
        DnsName::parse(s).expect("name")
    }

    #[test]
    fn record_names_are_relative() {
        let zone = name("example.com");
        let rel = |n: &str| record_name(&name(n), &zone).ok();
        let got = rel("_acme-challenge.example.com");
        assert_eq!(got.as_deref(), Some("_acme-challenge"));
        let got = rel("_acme-challenge.A.example.com");
        assert_eq!(got.as_deref(), Some("_acme-challenge.a"));
        assert_eq!(rel("example.com").as_deref(), Some("@"));
        assert!(rel("x.example.org").is_none() && rel("xexample.com").is_none());
    }

    #[test]
    fn the_credential_header_hides_key_and_secret() {
        let p = GoDaddyProvider::new(&GoDaddySettings {
            api_key: Some(Secret::new("k3y")),
            api_secret: Some(Secret::new("s3cret")),
            ..Default::default()
        })
        .expect("valid");
        let shown = format!("{p:?}");
        assert!(
            !shown.contains("k3y:") && !shown.contains("s3cret"),
            "{shown}"
        );
        assert_eq!(
            p.url(&["a.com", "records"]).path(),
            "/v1/domains/a.com/records"
        );
        let mut set = TxtSet::with_ttl(60);
        set.insert(name("_acme-challenge.a.com"), "v");
        assert_eq!((p.ttl(&set), p.tuning().ttl), (600, Some(600)));
    }
}
