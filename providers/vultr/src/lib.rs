//! Vultr API v2 provider (`{base}/domains/{domain}/records`).
//!
//! Vultr keeps every TXT value as its own record with a UUID, so publishing is one `POST` per
//! missing value and nothing already there is rewritten. The record list has no filter and is
//! paged by cursor (`per_page`, `cursor`, `meta.links.next`): wildcert reads **every page**
//! (a cleanup that reads one page leaks records) and deletes by id exactly the TXT records at
//! the name whose data is one of our values. TXT data is sent quoted, as Vultr shows it. The
//! zone is the longest domain of the account containing the name (`GET /domains`, every page)
//! unless `zone` names it. An API key whose access-control list lacks the caller's address is
//! answered 401 `Unauthorized IP address: …`; that is told apart from an unknown key.

pub mod settings;

use std::collections::BTreeMap;

use async_trait::async_trait;
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use wildcert_provider::api::{JsonApi, secret_header, server_message};
use wildcert_provider::http::{RateLimitBudget, Response};
use wildcert_provider::record::{quote_txt, unquote_txt};
use wildcert_provider::{Applied, DnsName, DnsProvider, ProviderError, TxtSet, Zone, ZoneCache};

pub use settings::{DEFAULT_BASE_URL, KIND, PROVIDER, VultrConfig, VultrSettings};

/// Largest page Vultr serves; we ask for it to save requests.
pub const PER_PAGE: u32 = 500;
/// Bound on the pages of one list.
const MAX_PAGES: u32 = 1000;

/// The Vultr provider.
#[derive(Debug)]
pub struct VultrProvider {
    config: VultrConfig,
    api: JsonApi,
    zones: ZoneCache,
}

/// A domain record (only what we use).
#[derive(Debug, Clone, Deserialize)]
struct Record {
    id: String,
    #[serde(rename = "type")]
    rtype: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    data: String,
}

impl VultrProvider {
    /// Build from settings (reads the key file).
    pub fn new(settings: &VultrSettings) -> Result<Self, ProviderError> {
        Self::from_config(settings.validate()?)
    }

    /// Build from a validated configuration.
    pub fn from_config(config: VultrConfig) -> Result<Self, ProviderError> {
        let (name, value) =
            secret_header(KIND, "authorization", "Bearer ", &config.key, "the API key")?;
        let mut headers = HeaderMap::new();
        headers.insert(name, value);
        let budget = RateLimitBudget::new(config.rate_limit_wait, "rate_limit_wait");
        let base = config.base_url.clone();
        let api = JsonApi::new(KIND, base, headers, config.timeout, budget)?;
        Ok(VultrProvider {
            config,
            api,
            zones: ZoneCache::default(),
        })
    }

    /// A non-2xx answer, phrased for the person fixing it: the account's IP allow-list (401
    /// naming the address) is told apart from an unknown key (401) and a key whose user lacks
    /// the DNS permission (403).
    fn error(&self, resp: &Response, zone: Option<&Zone>) -> ProviderError {
        let msg = server_message(&resp.body);
        let message = match resp.status {
            401 => match blocked_ip(&msg) {
                Some(ip) => format!(
                    "Vultr refused requests from {ip} (401 {msg}): the API key is valid but its \
                     Access Control list (Account → API) does not allow {ip}; add it (and the \
                     host's IPv6 address if it has one)"
                ),
                None => format!(
                    "Vultr refused the API key (401 {msg}): it is unknown, regenerated or \
                     disabled; check api_key / VULTR_API_KEY"
                ),
            },
            403 => format!(
                "the API key may not do this (403 {msg}): its user needs the DNS permission \
                 (Account → Users → Manage DNS)"
            ),
            404 if zone.is_some() => {
                format!("Vultr has no such domain in this account (404 {msg})")
            }
            400 => format!("Vultr refused the record (400): {msg}"),
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

    /// Every item of `key` in the cursor-paged list at `path`, to the last page.
    async fn list_all<T: DeserializeOwned>(
        &self,
        path: &[&str],
        key: &str,
        zone: Option<&Zone>,
    ) -> Result<Vec<T>, ProviderError> {
        let mut out = Vec::new();
        let mut cursor = String::new();
        for _ in 0..MAX_PAGES {
            let mut url = self.api.url(path);
            url.query_pairs_mut()
                .append_pair("per_page", &PER_PAGE.to_string());
            if !cursor.is_empty() {
                url.query_pairs_mut().append_pair("cursor", &cursor);
            }
            let resp = self.call(Method::GET, url, None, zone, false).await?;
            let doc: Value = serde_json::from_slice(&resp.body).map_err(|e| other(e, key))?;
            let items = doc.get(key).cloned().unwrap_or(Value::Array(Vec::new()));
            out.extend(serde_json::from_value::<Vec<T>>(items).map_err(|e| other(e, key))?);
            let next = doc.pointer("/meta/links/next").and_then(Value::as_str);
            match next.filter(|n| !n.is_empty() && *n != cursor) {
                Some(n) => cursor = n.to_string(),
                None => return Ok(out),
            }
        }
        Err(ProviderError::Other {
            provider: KIND,
            message: format!("the list of {key} has more than {MAX_PAGES} pages"),
        })
    }

    /// The TXT records of `zone` by relative name (every page).
    async fn txt_records(
        &self,
        zone: &Zone,
    ) -> Result<BTreeMap<String, Vec<Record>>, ProviderError> {
        let path = ["domains", zone.name.as_str(), "records"];
        let all: Vec<Record> = self.list_all(&path, "records", Some(zone)).await?;
        let mut by_name: BTreeMap<String, Vec<Record>> = BTreeMap::new();
        for r in all
            .into_iter()
            .filter(|r| r.rtype.eq_ignore_ascii_case("TXT"))
        {
            let name = r.name.trim_end_matches('.').to_ascii_lowercase();
            by_name.entry(name).or_default().push(r);
        }
        Ok(by_name)
    }

    /// The domains the key can see, every page.
    async fn domains(&self) -> Result<Vec<DnsName>, ProviderError> {
        let all: Vec<Value> = self.list_all(&["domains"], "domains", None).await?;
        let name = |d: &Value| DnsName::parse(d.get("domain")?.as_str()?).ok();
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
        message: format!("cannot parse Vultr's list of {what}: {e}"),
    }
}

/// The address in Vultr's `Unauthorized IP address: 1.2.3.4`, if that is the message.
pub fn blocked_ip(message: &str) -> Option<&str> {
    let at = message
        .to_ascii_lowercase()
        .find("unauthorized ip address")?;
    let rest = message.get(at + "unauthorized ip address".len()..)?;
    let ip = rest
        .trim_start_matches([':', ' '])
        .split_whitespace()
        .next()?;
    let ip = ip.trim_end_matches(['.', ',', '"']);
    ip.parse::<std::net::IpAddr>().is_ok().then_some(ip)
}

/// The record name Vultr takes: relative to the domain, empty for the apex.
pub fn relative_name(name: &DnsName, zone: &DnsName) -> String {
    match name.as_str().strip_suffix(zone.as_str()) {
        Some(rest) => rest.trim_end_matches('.').to_string(),
        None => name.as_str().to_string(),
    }
}

#[async_trait]
impl DnsProvider for VultrProvider {
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
                    "{fqdn} is not inside zone {z} (VULTR_ZONE)"
                )));
            }
            None => {
                let domains = self.domains().await?;
                let best = fqdn.ancestors().find(|a| domains.contains(a));
                best.ok_or_else(|| {
                    let seen = wildcert_provider::name::zone_listing(&domains);
                    not_found(format!(
                        "no domain of this Vultr account contains {fqdn}; it has: {seen}"
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
        let there = self.txt_records(zone).await?;
        let url = self.api.url(&["domains", zone.name.as_str(), "records"]);
        for (name, ours) in set.iter() {
            let rel = relative_name(name, &zone.name);
            let have: Vec<String> = there
                .get(&rel)
                .map(|rs| rs.iter().map(|r| unquote_txt(&r.data)).collect())
                .unwrap_or_default();
            for value in ours.iter().filter(|v| !have.contains(*v)) {
                let body = json!({ "type": "TXT", "name": rel, "data": quote_txt(value),
                    "ttl": set.ttl });
                self.call(Method::POST, url.clone(), Some(&body), Some(zone), false)
                    .await?;
            }
        }
        Ok(Applied::default())
    }

    async fn unpublish(&self, zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
        Self::inside(zone, set)?;
        let there = self.txt_records(zone).await?;
        for (name, ours) in set.iter() {
            let records = there.get(&relative_name(name, &zone.name));
            let mine = records.into_iter().flatten();
            for r in mine.filter(|r| ours.contains(&unquote_txt(&r.data))) {
                let url = self
                    .api
                    .url(&["domains", zone.name.as_str(), "records", &r.id]);
                self.call(Method::DELETE, url, None, Some(zone), true)
                    .await?;
            }
        }
        Ok(())
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
        assert_eq!(relative_name(&name("example.com"), &zone), "");
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
    fn the_ip_of_an_allow_list_refusal() {
        assert_eq!(
            blocked_ip("Unauthorized IP address: 1.2.3.4"),
            Some("1.2.3.4")
        );
        assert_eq!(
            blocked_ip("Unauthorized IP address: 2001:db8::7."),
            Some("2001:db8::7")
        );
        assert_eq!(blocked_ip("Invalid API token."), None);
        assert_eq!(blocked_ip("Unauthorized IP address"), None);
    }

    #[test]
    fn urls_and_no_secret_in_debug() {
        let p = VultrProvider::new(&VultrSettings {
            api_key: Some(Secret::new("HIDDENKEY")),
            base_url: Some("http://127.0.0.1:9/v2/".into()),
            ..Default::default()
        })
        .expect("provider");
        assert_eq!(
            p.api.url(&["domains", "example.com", "records"]).as_str(),
            "http://127.0.0.1:9/v2/domains/example.com/records"
        );
        assert!(!format!("{p:?}").contains("HIDDENKEY"));
    }
}
