//! Gandi LiveDNS (API v5) provider (`https://api.gandi.net/v5/livedns`).
//!
//! LiveDNS keeps the records of one name and type as one RRset
//! (`/domains/{fqdn}/records/{name}/TXT`, `{"rrset_values": […], "rrset_ttl": N}`), and `PUT`
//! replaces the whole RRset: there is no call that adds or removes one value. So, per name,
//! the provider reads the RRset (`GET`; 404 = none), merges ours in or out with
//! [`merge_values`] (every other value kept as stored, ours quoted), and writes it back
//! (`PUT`), or deletes it (`DELETE`) when nothing is left. An existing RRset keeps its TTL.
//!
//! Read-modify-write is serialised per zone inside this process ([`ZoneLocks`]). LiveDNS
//! offers no compare-and-swap (no ETag / If-Match on RRsets), so two *processes* writing the
//! same name at the same moment can still lose each other's value: run one issuing process
//! per zone at a time (wildcert's certificate lock covers runs for one certificate).
//!
//! Credentials: a personal access token (`Authorization: Bearer …`), or the deprecated API
//! key (`Authorization: Apikey …`; Gandi refuses old keys with 403, which the error explains).

pub mod settings;

use std::collections::BTreeSet;

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::{Value, json};
use wildcert_provider::api::{JsonApi, secret_header, server_message};
use wildcert_provider::http::{RateLimitBudget, Response};
use wildcert_provider::record::{Change, merge_values, quote_txt, unquote_txt};
use wildcert_provider::{Applied, DnsName, DnsProvider, ProviderError, ProviderTuning, TxtSet};
use wildcert_provider::{Zone, ZoneCache, ZoneLocks};

pub use settings::{
    Credential, DEFAULT_BASE_URL, GandiV5Config, GandiV5Settings, KIND, MIN_TTL, PROVIDER,
};

/// Domains asked for per page of `GET /domains`.
const PER_PAGE: u32 = 100;
/// Bound on the pages of one listing.
const MAX_PAGES: u32 = 1000;

/// The Gandi LiveDNS provider.
#[derive(Debug)]
pub struct GandiV5Provider {
    config: GandiV5Config,
    api: JsonApi,
    zones: ZoneCache,
    locks: ZoneLocks,
}

/// An RRset as `GET …/records/{name}/{type}` returns it (what we use of it).
#[derive(Debug, Default, Deserialize)]
struct RrSet {
    #[serde(default)]
    rrset_ttl: Option<u32>,
    #[serde(default)]
    rrset_values: Vec<String>,
}

fn other(message: String) -> ProviderError {
    ProviderError::Other {
        provider: KIND,
        message,
    }
}

impl GandiV5Provider {
    /// Build from settings (reads the secret files).
    pub fn new(settings: &GandiV5Settings) -> Result<Self, ProviderError> {
        Self::from_config(settings.validate()?)
    }

    /// Build from a validated configuration.
    pub fn from_config(config: GandiV5Config) -> Result<Self, ProviderError> {
        let header = match &config.credential {
            Credential::Token(t) => secret_header(KIND, "authorization", "Bearer ", t, "the token"),
            Credential::ApiKey(k) => secret_header(KIND, "authorization", "Apikey ", k, "the key"),
        }?;
        let budget = RateLimitBudget::new(config.rate_limit_wait, "rate_limit_wait");
        let (base, timeout) = (config.base_url.clone(), config.timeout);
        let api = JsonApi::new(KIND, base, HeaderMap::from_iter([header]), timeout, budget)?;
        let (zones, locks) = (ZoneCache::default(), ZoneLocks::default());
        Ok(GandiV5Provider {
            config,
            api,
            zones,
            locks,
        })
    }

    /// `{base}/segments…`, with `sharing_id` when one is set.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.api.url(segments);
        if let Some(id) = &self.config.sharing_id {
            url.query_pairs_mut().append_pair("sharing_id", id);
        }
        url
    }

    /// A non-2xx answer (`{"code", "message", "object", "cause"}`), phrased for the person
    /// fixing it.
    fn error(&self, resp: &Response, zone: Option<&Zone>) -> ProviderError {
        let msg = server_message(&resp.body);
        let key = matches!(self.config.credential, Credential::ApiKey(_));
        let message = match (resp.status, key) {
            (401, _) => format!(
                "Gandi refused the credentials (401 {msg}); check GANDIV5_PERSONAL_ACCESS_TOKEN: a \
                 personal access token expires, make a new one if it has"
            ),
            (403, true) => format!(
                "Gandi refused the API key (403 {msg}): API keys are deprecated and old ones no longer \
                 work; make a personal access token and set GANDIV5_PERSONAL_ACCESS_TOKEN instead"
            ),
            (403, false) => format!(
                "the personal access token may not do this (403 {msg}): it needs the permission \"Manage \
                 domain name technical configurations\" in the organization owning the domain"
            ),
            (404, _) => {
                format!("404 {msg}: the domain is not (or no longer) at LiveDNS for this token")
            }
            _ => return self.api.status_error(resp, zone),
        };
        self.api.status_error_saying(resp, zone, message)
    }

    /// Send; a non-2xx answer is an error, except 404 when `absent_ok` (then `None`).
    async fn call(
        &self,
        req: (Method, Url),
        body: Option<&Value>,
        zone: Option<&Zone>,
        absent_ok: bool,
    ) -> Result<Option<Response>, ProviderError> {
        let resp = self.api.send(req.0, req.1, body).await?;
        match resp.status {
            404 if absent_ok => Ok(None),
            _ if resp.is_success() => Ok(Some(resp)),
            _ => Err(self.error(&resp, zone)),
        }
    }

    /// Every domain the credentials see at LiveDNS (`GET /domains`, page by page until the
    /// `Total-Count` header is reached or a page comes back short).
    async fn domains(&self) -> Result<Vec<DnsName>, ProviderError> {
        let mut names = Vec::new();
        for page in 1..=MAX_PAGES {
            let mut url = self.url(&["domains"]);
            let (p, n) = (page.to_string(), PER_PAGE.to_string());
            url.query_pairs_mut()
                .extend_pairs([("page", p.as_str()), ("per_page", n.as_str())]);
            let resp = self.call((Method::GET, url), None, None, false).await?;
            let resp = resp.ok_or_else(|| other("no answer to GET /domains".into()))?;
            let items: Vec<Value> = serde_json::from_slice(&resp.body).map_err(|e| {
                other(format!(
                    "cannot parse the domain list of {}: {e}",
                    self.api.base()
                ))
            })?;
            let total = resp
                .headers
                .get("total-count")
                .and_then(|v| v.to_str().ok());
            let total = total.and_then(|v| v.trim().parse::<usize>().ok());
            let fqdns = items.iter().filter_map(|d| d["fqdn"].as_str());
            names.extend(fqdns.filter_map(|f| DnsName::parse(f).ok()));
            let done = total.map_or(items.len() < PER_PAGE as usize, |t| names.len() >= t);
            if done || items.is_empty() {
                break;
            }
        }
        Ok(names)
    }

    /// The longest LiveDNS domain the credentials see that holds `fqdn`.
    async fn lookup_zone(&self, fqdn: &DnsName) -> Result<Zone, ProviderError> {
        let mut visible = self.domains().await?;
        visible.sort_by_key(|n| std::cmp::Reverse(n.label_count()));
        if let Some(name) = visible.iter().find(|n| fqdn.is_within(n)) {
            return Ok(Zone::new(name.clone()));
        }
        let mut seen: Vec<String> = visible.iter().map(|n| n.to_string()).collect();
        seen.sort();
        let seen = Some(seen.join(", ")).filter(|s| !s.is_empty());
        let seen = seen.unwrap_or_else(|| "none".into());
        Err(ProviderError::ZoneNotFound {
            provider: KIND,
            zone: fqdn.to_string(),
            message: format!(
                "no LiveDNS domain the credentials can see holds {fqdn}; they see: {seen}"
            ),
        })
    }

    /// Read, merge and write back (or delete) the TXT RRset of every name of `set`.
    async fn change(&self, zone: &Zone, set: &TxtSet, op: Change) -> Result<(), ProviderError> {
        let mut names = Vec::new();
        for (name, ours) in set.iter() {
            names.push((rrset_name(name, &zone.name)?, ours));
        }
        let _guard = self.locks.lock(zone).await;
        let fqdn = zone.name.as_str();
        for (rel, ours) in names {
            let path = ["domains", fqdn, "records", rel.as_str(), "TXT"];
            let read = self
                .call((Method::GET, self.url(&path)), None, Some(zone), true)
                .await?;
            let current: RrSet = match read {
                Some(r) => serde_json::from_slice(&r.body)
                    .map_err(|e| other(format!("cannot parse the TXT RRset {rel}: {e}")))?,
                None => RrSet::default(),
            };
            let Some(values) = merged(&current.rrset_values, ours, op) else {
                continue;
            };
            let url = self.url(&path);
            if values.is_empty() {
                let req = (Method::DELETE, url);
                self.call(req, None, Some(zone), true).await?;
            } else {
                let ttl = current.rrset_ttl.unwrap_or(set.ttl.max(MIN_TTL));
                let body = json!({ "rrset_values": values, "rrset_ttl": ttl });
                self.call((Method::PUT, url), Some(&body), Some(zone), false)
                    .await?;
            }
            tracing::debug!(zone = %zone, name = %rel, values = values.len(), "gandiv5: TXT RRset written");
        }
        Ok(())
    }
}

/// The RRset name of `name` in `zone`: relative, lower case, `@` for the apex.
fn rrset_name(name: &DnsName, zone: &DnsName) -> Result<String, ProviderError> {
    if !name.is_within(zone) {
        return Err(other(format!("{name} is not inside zone {zone}")));
    }
    let (full, zone) = (
        name.as_str().to_ascii_lowercase(),
        zone.as_str().to_ascii_lowercase(),
    );
    let rel = full
        .strip_suffix(&zone)
        .unwrap_or_default()
        .trim_end_matches('.');
    Ok(if rel.is_empty() {
        "@".into()
    } else {
        rel.into()
    })
}

/// The values the RRset must hold after `op` of `ours` ([`merge_values`] on the served text),
/// every other value in the form the zone stores it, ours quoted; `None`: nothing to write.
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
impl DnsProvider for GandiV5Provider {
    fn name(&self) -> &'static str {
        KIND.name
    }

    async fn zone_for(&self, fqdn: &DnsName) -> Result<Option<Zone>, ProviderError> {
        if let Some(zone) = &self.config.zone {
            if !fqdn.is_within(zone) {
                let message =
                    format!("{fqdn} is not inside the zone `{zone}` set in zone (GANDIV5_ZONE)");
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
        tracing::debug!(%fqdn, zone = %zone, "gandiv5: zone from the API");
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
        Some(match self.config.credential {
            Credential::Token(_) => "personal access token".into(),
            Credential::ApiKey(_) => "API key (deprecated)".into(),
        })
    }

    fn tuning(&self) -> ProviderTuning {
        // GANDIV5_TTL (300) and GANDIV5_PROPAGATION_TIMEOUT (1,200 s) unless the run sets its own.
        ProviderTuning {
            ttl: Some(self.config.ttl),
            propagation_timeout: Some(self.config.propagation_timeout),
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
    fn rrset_names_are_relative() {
        let zone = name("example.com");
        let rel = |n: &str| rrset_name(&name(n), &zone).ok();
        assert_eq!(
            rel("_acme-challenge.example.com").as_deref(),
            Some("_acme-challenge")
        );
        assert_eq!(
            rel("_acme-challenge.A.example.com").as_deref(),
            Some("_acme-challenge.a")
        );
        assert_eq!(rel("example.com").as_deref(), Some("@"));
        assert!(rel("x.example.org").is_none() && rel("xexample.com").is_none());
    }

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
