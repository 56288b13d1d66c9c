//! Bunny DNS provider (`{base}/dnszone…`, the key in the `AccessKey` header).
//!
//! Bunny addresses records by the numeric id of their zone, so the zone is found first: the
//! longest zone of the account that contains the name (`GET /dnszone`, every page while
//! `HasMoreItems`). That matters for **delegated sub-zones**: `sub.example.com` may be a zone
//! of its own beside `example.com`, and a record for `_acme-challenge.x.sub.example.com` put
//! into `example.com` would never be served. Every TXT value is its own record: publishing
//! reads the zone once (`GET /dnszone/{id}`, records included) and adds each missing value
//! (`PUT /dnszone/{id}/records`, names relative to the zone, `""` the apex); cleanup deletes by
//! id exactly the records holding one of our values. TTL is at least 60 s.

pub mod settings;

use std::collections::BTreeSet;

use async_trait::async_trait;
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::json;
use wildcert_provider::api::{JsonApi, secret_header, server_message};
use wildcert_provider::http::{RateLimitBudget, Response};
use wildcert_provider::record::unquote_txt;
use wildcert_provider::{
    Applied, DnsName, DnsProvider, ProviderError, ProviderTuning, TxtSet, Zone, ZoneCache,
};

pub use settings::{BunnyConfig, BunnySettings, DEFAULT_BASE_URL, KIND, MIN_TTL, PROVIDER};

/// Bunny's record type number for TXT.
pub const TXT: u32 = 3;
/// Largest page of the zone list; we ask for it to save requests.
pub const PER_PAGE: u32 = 1000;
/// Bound on the pages of the zone list.
const MAX_PAGES: u32 = 1000;

/// The Bunny DNS provider.
#[derive(Debug)]
pub struct BunnyProvider {
    config: BunnyConfig,
    api: JsonApi,
    zones: ZoneCache,
}

/// One page of `GET /dnszone`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ZonePage {
    #[serde(default)]
    items: Vec<ZoneItem>,
    #[serde(default)]
    has_more_items: bool,
}

/// A zone (only what we use).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ZoneItem {
    id: u64,
    domain: String,
    #[serde(default)]
    records: Vec<Record>,
}

/// A record (only what we use).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Record {
    id: u64,
    #[serde(rename = "Type")]
    rtype: u32,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    value: Option<String>,
}

impl BunnyProvider {
    /// Build from settings (reads the key file).
    pub fn new(settings: &BunnySettings) -> Result<Self, ProviderError> {
        Self::from_config(settings.validate()?)
    }

    /// Build from a validated configuration.
    pub fn from_config(config: BunnyConfig) -> Result<Self, ProviderError> {
        let (name, value) = secret_header(KIND, "accesskey", "", &config.api_key, "the API key")?;
        let mut headers = HeaderMap::new();
        headers.insert(name, value);
        let budget = RateLimitBudget::new(config.rate_limit_wait, "rate_limit_wait");
        let api = JsonApi::new(
            KIND,
            config.base_url.clone(),
            headers,
            config.timeout,
            budget,
        )?;
        Ok(BunnyProvider {
            config,
            api,
            zones: ZoneCache::default(),
        })
    }

    /// A non-2xx answer, phrased for the person fixing it.
    fn error(&self, resp: &Response, zone: Option<&Zone>) -> ProviderError {
        // Bunny's error body is `{"ErrorKey", "Field", "Message"}`.
        let doc: Option<serde_json::Value> = serde_json::from_slice(&resp.body).ok();
        let field = |k: &str| doc.as_ref()?.get(k)?.as_str().map(str::to_string);
        let msg = match (field("Message"), field("Field")) {
            (Some(m), Some(f)) if !f.is_empty() => format!("{f}: {m}"),
            (Some(m), _) => m,
            _ => server_message(&resp.body),
        };
        let message = match resp.status {
            401 => format!(
                "Bunny refused the API key (401 {msg}): check api_key / BUNNY_API_KEY \
                 (Account settings → API key; a reset key invalidates the old one)"
            ),
            403 => format!("the API key may not manage DNS zones (403 {msg})"),
            404 if zone.is_some() => format!("Bunny has no such DNS zone for this key (404 {msg})"),
            400 => format!("Bunny refused the record (400): {msg}"),
            _ => return self.api.status_error(resp, zone),
        };
        self.api.status_error_saying(resp, zone, message)
    }

    /// Send; a 2xx answer (or 404 when `gone_ok`) is returned, anything else mapped.
    async fn call(
        &self,
        method: Method,
        url: reqwest::Url,
        body: Option<&serde_json::Value>,
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

    fn parse<T: serde::de::DeserializeOwned>(
        resp: &Response,
        what: &str,
    ) -> Result<T, ProviderError> {
        serde_json::from_slice(&resp.body).map_err(|e| ProviderError::Other {
            provider: KIND,
            message: format!("cannot parse Bunny's {what}: {e}"),
        })
    }

    /// Every zone of the account (id, domain), every page.
    async fn all_zones(&self) -> Result<Vec<(u64, DnsName)>, ProviderError> {
        let mut out = Vec::new();
        for page in 1..=MAX_PAGES {
            let mut url = self.api.url(&["dnszone"]);
            url.query_pairs_mut()
                .append_pair("page", &page.to_string())
                .append_pair("perPage", &PER_PAGE.to_string());
            let resp = self.call(Method::GET, url, None, None, false).await?;
            let doc: ZonePage = Self::parse(&resp, "zone list")?;
            let named = doc
                .items
                .iter()
                .filter_map(|z| Some((z.id, DnsName::parse(&z.domain).ok()?)));
            out.extend(named);
            if !doc.has_more_items || doc.items.is_empty() {
                return Ok(out);
            }
        }
        Err(ProviderError::Other {
            provider: KIND,
            message: format!("the zone list has more than {MAX_PAGES} pages"),
        })
    }

    /// The zone's id: the one `zone_for` found, or looked up now.
    async fn zone_id(&self, zone: &Zone) -> Result<String, ProviderError> {
        if let Some(id) = &zone.provider_id {
            return Ok(id.clone());
        }
        let found = self.zone_for(&zone.name).await?;
        let id = found
            .filter(|z| z.name == zone.name)
            .and_then(|z| z.provider_id);
        id.ok_or_else(|| ProviderError::ZoneNotFound {
            provider: KIND,
            zone: zone.name.to_string(),
            message: format!("Bunny has no DNS zone {}", zone.name),
        })
    }

    /// The TXT records of the zone: (full name, id, unquoted value).
    async fn txt_records(
        &self,
        zone: &Zone,
        id: &str,
    ) -> Result<Vec<(String, u64, String)>, ProviderError> {
        let url = self.api.url(&["dnszone", id]);
        let resp = self.call(Method::GET, url, None, Some(zone), false).await?;
        let z: ZoneItem = Self::parse(&resp, "zone")?;
        let full = |n: &str| match n.trim_end_matches('.') {
            "" | "@" => zone.name.to_string(),
            n => format!("{}.{}", n.to_ascii_lowercase(), zone.name),
        };
        Ok(z.records
            .iter()
            .filter(|r| r.rtype == TXT)
            .map(|r| {
                let value = unquote_txt(r.value.as_deref().unwrap_or_default());
                (full(r.name.as_deref().unwrap_or_default()), r.id, value)
            })
            .collect())
    }

    /// Check that every name of `set` lies in `zone`.
    fn inside(zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
        match set.names().find(|n| !n.is_within(&zone.name)) {
            Some(n) => Err(ProviderError::Other {
                provider: KIND,
                message: format!("{n} is not inside zone {}", zone.name),
            }),
            None => Ok(()),
        }
    }
}

/// The record name Bunny takes: relative to the zone, empty for the apex.
pub fn relative_name(name: &DnsName, zone: &DnsName) -> String {
    match name.as_str().strip_suffix(zone.as_str()) {
        Some(rest) => rest.trim_end_matches('.').to_string(),
        None => name.as_str().to_string(),
    }
}

#[async_trait]
impl DnsProvider for BunnyProvider {
    fn name(&self) -> &'static str {
        KIND.name
    }

    async fn zone_for(&self, fqdn: &DnsName) -> Result<Option<Zone>, ProviderError> {
        if let Some(z) = self.zones.get(fqdn) {
            return Ok(Some(z));
        }
        let all = self.all_zones().await?;
        // The longest zone wins: a delegated sub-zone is a zone of its own.
        let best = fqdn
            .ancestors()
            .find_map(|a| all.iter().find(|(_, d)| *d == a).cloned());
        let (id, name) = best.ok_or_else(|| {
            let names: Vec<DnsName> = all.iter().map(|(_, d)| d.clone()).collect();
            let seen = wildcert_provider::name::zone_listing(&names);
            ProviderError::ZoneNotFound {
                provider: KIND,
                zone: fqdn.to_string(),
                message: format!(
                    "no DNS zone of this Bunny account contains {fqdn}; it has: {seen}"
                ),
            }
        })?;
        let zone = Zone {
            provider_id: Some(id.to_string()),
            name,
        };
        self.zones.insert(fqdn, &zone);
        Ok(Some(zone))
    }

    async fn publish(&self, zone: &Zone, set: &TxtSet) -> Result<Applied, ProviderError> {
        Self::inside(zone, set)?;
        let id = self.zone_id(zone).await?;
        let records = self.txt_records(zone, &id).await?;
        let url = self.api.url(&["dnszone", &id, "records"]);
        for (name, ours) in set.iter() {
            let there: BTreeSet<&str> = records
                .iter()
                .filter(|r| r.0 == name.as_str())
                .map(|r| r.2.as_str())
                .collect();
            for value in ours.iter().filter(|v| !there.contains(v.as_str())) {
                let body = json!({ "Type": TXT, "Name": relative_name(name, &zone.name),
                    "Value": value, "Ttl": set.ttl.max(MIN_TTL) });
                self.call(Method::PUT, url.clone(), Some(&body), Some(zone), false)
                    .await?;
            }
        }
        Ok(Applied::default())
    }

    async fn unpublish(&self, zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
        Self::inside(zone, set)?;
        let id = self.zone_id(zone).await?;
        let records = self.txt_records(zone, &id).await?;
        for (name, ours) in set.iter() {
            let mine = records
                .iter()
                .filter(|r| r.0 == name.as_str() && ours.contains(&r.2));
            for (_, rid, _) in mine {
                let url = self.api.url(&["dnszone", &id, "records", &rid.to_string()]);
                self.call(Method::DELETE, url, None, Some(zone), true)
                    .await?;
            }
        }
        Ok(())
    }

    fn tuning(&self) -> ProviderTuning {
        // BUNNY_TTL (60 by default) unless the run sets `[dns] ttl`.
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
        assert_eq!(relative_name(&name("example.com"), &zone), "");
        assert_eq!(
            relative_name(&name("_acme-challenge.a.example.com"), &zone),
            "_acme-challenge.a"
        );
    }

    #[test]
    fn urls_and_no_secret_in_debug() {
        let p = BunnyProvider::new(&BunnySettings {
            api_key: Some(Secret::new("bunny-hidden-key")),
            base_url: Some("http://127.0.0.1:9".into()),
            ..Default::default()
        })
        .expect("provider");
        assert_eq!(
            p.api.url(&["dnszone", "7"]).as_str(),
            "http://127.0.0.1:9/dnszone/7"
        );
        assert!(!format!("{p:?}").contains("bunny-hidden-key"));
        assert_eq!(p.tuning().ttl, Some(60));
    }
}
