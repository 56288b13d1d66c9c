//! DigitalOcean API v2 provider (`{base}/v2/domains/{domain}/records`).
//!
//! DigitalOcean keeps every TXT value as its own record with an integer id, so publishing is
//! one `POST` per missing value and nothing already there is rewritten. Cleanup lists the TXT
//! records at the name — **every page** (`links.pages.next`; 20 a page unless `per_page` says
//! otherwise): a cleanup that reads one page leaks records — and deletes by id exactly those
//! whose data is one of our values. The zone is the longest domain of the account containing
//! the name (`GET /v2/domains`, every page) unless `zone` names it. TTL is at least 30 s,
//! DigitalOcean's minimum.

pub mod settings;

use std::collections::BTreeSet;

use async_trait::async_trait;
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use wildcert_provider::api::{JsonApi, secret_header, server_message};
use wildcert_provider::http::{RateLimitBudget, Response};
use wildcert_provider::record::unquote_txt;
use wildcert_provider::{
    Applied, DnsName, DnsProvider, ProviderError, ProviderTuning, TxtSet, Zone, ZoneCache,
};

pub use settings::{DEFAULT_BASE_URL, DigitalOceanSettings, DoConfig, KIND, PROVIDER};

/// DigitalOcean's smallest TTL.
pub const MIN_TTL: u32 = 30;
/// Largest page DigitalOcean serves; we ask for it to save requests.
pub const PER_PAGE: u32 = 200;
/// Bound on the pages of one list.
const MAX_PAGES: u32 = 1000;

/// The DigitalOcean provider.
#[derive(Debug)]
pub struct DigitalOceanProvider {
    config: DoConfig,
    api: JsonApi,
    zones: ZoneCache,
}

/// A domain record (only what we use).
#[derive(Debug, Clone, Deserialize)]
struct Record {
    id: u64,
    #[serde(rename = "type")]
    rtype: String,
    #[serde(default)]
    data: String,
}

impl DigitalOceanProvider {
    /// Build from settings (reads the token file).
    pub fn new(settings: &DigitalOceanSettings) -> Result<Self, ProviderError> {
        Self::from_config(settings.validate()?)
    }

    /// Build from a validated configuration.
    pub fn from_config(config: DoConfig) -> Result<Self, ProviderError> {
        let (name, value) =
            secret_header(KIND, "authorization", "Bearer ", &config.token, "the token")?;
        let mut headers = HeaderMap::new();
        headers.insert(name, value);
        let mut base = config.base_url.clone();
        if let Ok(mut p) = base.path_segments_mut() {
            p.pop_if_empty().push("v2");
        }
        let budget = RateLimitBudget::new(config.rate_limit_wait, "rate_limit_wait");
        let api = JsonApi::new(KIND, base, headers, config.timeout, budget)?;
        Ok(DigitalOceanProvider {
            config,
            api,
            zones: ZoneCache::default(),
        })
    }

    /// A non-2xx answer, phrased for the person fixing it: an unknown token (401) is told
    /// apart from a token without the scope (403).
    fn error(&self, resp: &Response, zone: Option<&Zone>) -> ProviderError {
        let msg = server_message(&resp.body);
        let message = match resp.status {
            401 => format!(
                "DigitalOcean refused the token (401 {msg}): it is unknown, expired or revoked; \
                 check token / DO_AUTH_TOKEN"
            ),
            403 => format!(
                "the token may not do this (403 {msg}): it needs the scopes domain:read and \
                 domain:update (a read-only token cannot change records)"
            ),
            404 if zone.is_some() => {
                format!("DigitalOcean has no domain visible to this token (404 {msg})")
            }
            422 => format!("DigitalOcean refused the record (422): {msg}"),
            _ => return self.api.status_error(resp, zone),
        };
        self.api.status_error_saying(resp, zone, message)
    }

    /// Send; a 2xx answer (or 404 when `gone_ok`) is returned, anything else mapped.
    async fn call(
        &self,
        method: Method,
        url: reqwest::Url,
        body: Option<&Value>,
        zone: Option<&Zone>,
        gone_ok: bool,
    ) -> Result<Response, ProviderError> {
        let resp = self.api.send(method, url, body).await?;
        match resp.status {
            s if (200..300).contains(&s) => Ok(resp),
            404 if gone_ok => Ok(resp),
            _ => Err(self.error(&resp, zone)),
        }
    }

    /// Every item of `key` in a paged list at `path`, following `links.pages.next` to the end.
    async fn list_all<T: DeserializeOwned>(
        &self,
        path: &[&str],
        query: &[(&str, &str)],
        key: &str,
        zone: Option<&Zone>,
    ) -> Result<Vec<T>, ProviderError> {
        let mut out = Vec::new();
        let mut page = 1;
        for _ in 0..MAX_PAGES {
            let mut url = self.api.url(path);
            url.query_pairs_mut()
                .extend_pairs(query)
                .append_pair("page", &page.to_string())
                .append_pair("per_page", &PER_PAGE.to_string());
            let resp = self.call(Method::GET, url, None, zone, false).await?;
            let doc: Value = serde_json::from_slice(&resp.body).map_err(|e| other(e, key))?;
            let items = doc.get(key).cloned().unwrap_or(Value::Array(Vec::new()));
            out.extend(serde_json::from_value::<Vec<T>>(items).map_err(|e| other(e, key))?);
            // The next page as DigitalOcean links it (its host may be the public API even
            // behind a proxy, so only its page number is taken).
            let next = doc.pointer("/links/pages/next").and_then(Value::as_str);
            let next = next
                .and_then(|n| reqwest::Url::parse(n).ok())
                .and_then(|u| {
                    let p = u.query_pairs().find(|(k, _)| k == "page");
                    p.and_then(|(_, v)| v.parse::<u32>().ok())
                });
            match next {
                Some(n) if n > page => page = n,
                _ => return Ok(out),
            }
        }
        Err(ProviderError::Other {
            provider: KIND,
            message: format!("the list of {key} has more than {MAX_PAGES} pages"),
        })
    }

    /// The TXT records at `name` in `zone` (every page).
    async fn txt_records(&self, zone: &Zone, name: &DnsName) -> Result<Vec<Record>, ProviderError> {
        let path = ["domains", zone.name.as_str(), "records"];
        let query = [("type", "TXT"), ("name", name.as_str())];
        let all: Vec<Record> = self
            .list_all(&path, &query, "domain_records", Some(zone))
            .await?;
        Ok(all
            .into_iter()
            .filter(|r| r.rtype.eq_ignore_ascii_case("TXT"))
            .collect())
    }

    /// The domains the token can see, every page.
    async fn domains(&self) -> Result<Vec<DnsName>, ProviderError> {
        let all: Vec<Value> = self.list_all(&["domains"], &[], "domains", None).await?;
        let name = |d: &Value| DnsName::parse(d.get("name")?.as_str()?).ok();
        Ok(all.iter().filter_map(name).collect())
    }

    /// Check that every name of `set` lies in `zone`.
    fn inside(zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
        match set.names().find(|n| !n.is_within(&zone.name)) {
            Some(n) => Err(ProviderError::Other {
                provider: KIND,
                message: format!("{n} is not inside domain {}", zone.name),
            }),
            None => Ok(()),
        }
    }
}

fn other(e: serde_json::Error, what: &str) -> ProviderError {
    ProviderError::Other {
        provider: KIND,
        message: format!("cannot parse DigitalOcean's list of {what}: {e}"),
    }
}

/// The record name DigitalOcean takes: relative to the domain, `@` for the apex.
pub fn relative_name(name: &DnsName, zone: &DnsName) -> String {
    match name.as_str().strip_suffix(zone.as_str()) {
        Some("") => "@".to_string(),
        Some(rest) => rest.trim_end_matches('.').to_string(),
        None => name.as_str().to_string(),
    }
}

#[async_trait]
impl DnsProvider for DigitalOceanProvider {
    fn name(&self) -> &'static str {
        KIND.name
    }

    async fn zone_for(&self, fqdn: &DnsName) -> Result<Option<Zone>, ProviderError> {
        if let Some(z) = self.zones.get(fqdn) {
            return Ok(Some(z));
        }
        let not_found = |message: String| ProviderError::ZoneNotFound {
            provider: KIND,
            zone: fqdn.to_string(),
            message,
        };
        let found = match &self.config.zone {
            Some(z) if fqdn.is_within(z) => z.clone(),
            Some(z) => {
                return Err(not_found(format!(
                    "{fqdn} is not inside zone {z} (DO_ZONE)"
                )));
            }
            None => {
                let domains = self.domains().await?;
                let best = fqdn.ancestors().find(|a| domains.contains(a));
                best.ok_or_else(|| {
                    let seen = wildcert_provider::name::zone_listing(&domains);
                    not_found(format!(
                        "no domain of this token contains {fqdn}; it sees: {seen}"
                    ))
                })?
            }
        };
        let zone = Zone {
            provider_id: Some(found.to_string()),
            name: found,
        };
        self.zones.insert(fqdn, &zone);
        Ok(Some(zone))
    }

    async fn publish(&self, zone: &Zone, set: &TxtSet) -> Result<Applied, ProviderError> {
        Self::inside(zone, set)?;
        let url = self.api.url(&["domains", zone.name.as_str(), "records"]);
        for (name, ours) in set.iter() {
            let there: BTreeSet<String> = self
                .txt_records(zone, name)
                .await?
                .iter()
                .map(|r| unquote_txt(&r.data))
                .collect();
            for value in ours.iter().filter(|v| !there.contains(*v)) {
                let body = json!({ "type": "TXT", "name": relative_name(name, &zone.name),
                    "data": value, "ttl": set.ttl.max(MIN_TTL) });
                self.call(Method::POST, url.clone(), Some(&body), Some(zone), false)
                    .await?;
            }
        }
        Ok(Applied::default())
    }

    async fn unpublish(&self, zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
        Self::inside(zone, set)?;
        for (name, ours) in set.iter() {
            let records = self.txt_records(zone, name).await?;
            for r in records
                .iter()
                .filter(|r| ours.contains(&unquote_txt(&r.data)))
            {
                let id = r.id.to_string();
                let url = self
                    .api
                    .url(&["domains", zone.name.as_str(), "records", &id]);
                self.call(Method::DELETE, url, None, Some(zone), true)
                    .await?;
            }
        }
        Ok(())
    }

    fn tuning(&self) -> ProviderTuning {
        // DO_TTL (30 by default) unless the run sets `[dns] ttl`.
        ProviderTuning {
            ttl: Some(self.config.ttl),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wildcert_provider::Secret;

    fn name(s: &str) -> DnsName {
        DnsName::parse(s).expect("name")
    }

    #[test]
    fn relative_names() {
        let zone = name("example.com");
        assert_eq!(relative_name(&name("example.com"), &zone), "@");
        assert_eq!(
            relative_name(&name("_acme-challenge.example.com"), &zone),
            "_acme-challenge"
        );
        assert_eq!(
            relative_name(&name("_acme-challenge.a.example.com"), &zone),
            "_acme-challenge.a"
        );
    }

    #[test]
    fn urls_and_no_secret_in_debug() {
        let p = DigitalOceanProvider::new(&DigitalOceanSettings {
            token: Some(Secret::new("dop_v1_hidden")),
            base_url: Some("http://127.0.0.1:9/v2".into()),
            ..Default::default()
        })
        .expect("provider");
        assert_eq!(
            p.api.url(&["domains"]).as_str(),
            "http://127.0.0.1:9/v2/domains"
        );
        assert!(!format!("{p:?}").contains("dop_v1_hidden"));
        assert_eq!(p.tuning().ttl, Some(30));
    }
}
