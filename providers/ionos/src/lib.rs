//! IONOS DNS API provider (`{base}/v1/zones…`, `X-API-Key: <prefix>.<secret>`).
//!
//! IONOS keeps every TXT value as its own record with a UUID, so publishing is one `POST
//! /v1/zones/{id}/records` carrying every missing value of the zone (the endpoint takes an
//! array) and nothing already there is rewritten; the zone's `PATCH`, which replaces every
//! record of a name and type, is never used. Records are read with `GET /v1/zones/{id}
//! ?recordType=TXT` (the API has no paging: the whole zone in one answer); cleanup deletes by
//! id exactly the TXT records at our names whose content is one of our values. IONOS shows TXT
//! content quoted (`"value"`) while taking it unquoted, so values are compared unquoted. The
//! zone is the longest of the account's zones containing the name (`GET /v1/zones`) unless
//! `zone` names it. 401 and 403 both say that the key must be whole and API access enabled.

pub mod settings;

use async_trait::async_trait;
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};
use wildcert_provider::api::{JsonApi, secret_header, server_message};
use wildcert_provider::http::{RateLimitBudget, Response};
use wildcert_provider::record::unquote_txt;
use wildcert_provider::{
    Applied, DnsName, DnsProvider, ProviderError, ProviderTuning, TxtSet, Zone, ZoneCache,
};

pub use settings::{DEFAULT_BASE_URL, IonosConfig, IonosSettings, KIND, PROVIDER};

/// Smallest TTL IONOS takes for a record.
pub const MIN_TTL: u32 = 60;
/// Records sent in one `POST` (bounds the body; the API takes an array).
const POST_BATCH: usize = 100;

/// The IONOS provider.
#[derive(Debug)]
pub struct IonosProvider {
    config: IonosConfig,
    api: JsonApi,
    zones: ZoneCache,
}

/// A zone as `GET /v1/zones` lists it.
#[derive(Debug, Clone, Deserialize)]
struct ZoneItem {
    id: String,
    name: String,
}

/// A record of `GET /v1/zones/{id}` (only what we use).
#[derive(Debug, Clone, Deserialize)]
struct Record {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(rename = "type", default)]
    rtype: String,
    #[serde(default)]
    content: String,
    #[serde(default)]
    disabled: bool,
}

/// `GET /v1/zones/{id}`: the zone with its records.
#[derive(Debug, Deserialize)]
struct CustomerZone {
    #[serde(default)]
    records: Vec<Record>,
}

/// IONOS's error body, `[{"code": …, "message": …}]`, as one line (`CODE: message; …`).
pub fn error_text(body: &[u8]) -> String {
    let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(body) else {
        return server_message(body);
    };
    let one = |e: &Value| {
        let field = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default();
        let (code, message) = (field("code"), field("message"));
        match (code.is_empty(), message.is_empty()) {
            (_, true) => code.to_string(),
            (true, false) => message.to_string(),
            (false, false) => format!("{code}: {message}"),
        }
    };
    let text: Vec<String> = items.iter().map(one).filter(|s| !s.is_empty()).collect();
    server_message(text.join("; ").as_bytes())
}

impl IonosProvider {
    /// Build from settings (reads the key file).
    pub fn new(settings: &IonosSettings) -> Result<Self, ProviderError> {
        Self::from_config(settings.validate()?)
    }

    /// Build from a validated configuration.
    pub fn from_config(config: IonosConfig) -> Result<Self, ProviderError> {
        let (name, value) = secret_header(KIND, "x-api-key", "", &config.key, "the API key")?;
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
        Ok(IonosProvider {
            config,
            api,
            zones: ZoneCache::default(),
        })
    }

    /// A non-2xx answer, phrased for the person fixing it.
    fn error(&self, resp: &Response, zone: Option<&Zone>) -> ProviderError {
        let msg = error_text(&resp.body);
        let enable = "API access must be enabled for the IONOS account, and only its contract \
                      owner or an administrator may use the API";
        let message = match resp.status {
            401 => format!(
                "IONOS refused the API key (401 {msg}): IONOS_API_KEY must be the whole key \
                 `<public prefix>.<secret>` (the secret is shown once, when the key is made at \
                 developer.hosting.ionos.com/keys), not deleted; {enable}"
            ),
            403 => format!("the API key may not do this (403 {msg}): {enable}"),
            404 if zone.is_some() => format!("IONOS has no such zone in this account (404 {msg})"),
            400 => format!("IONOS refused the record (400): {msg}"),
            _ => format!("{} answered HTTP {}: {msg}", self.api.base(), resp.status),
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

    /// Parse a 2xx answer.
    fn parse<T: for<'de> Deserialize<'de>>(
        resp: &Response,
        what: &str,
    ) -> Result<T, ProviderError> {
        serde_json::from_slice(&resp.body).map_err(|e| ProviderError::Other {
            provider: KIND,
            message: format!("cannot parse IONOS's {what}: {e}"),
        })
    }

    /// The zones the key can see.
    async fn list_zones(&self) -> Result<Vec<ZoneItem>, ProviderError> {
        let resp = self.call(
            Method::GET,
            self.api.url(&["v1", "zones"]),
            None,
            None,
            false,
        );
        Self::parse(&resp.await?, "list of zones")
    }

    /// The IONOS id of `zone`: from the lookup, else from the zone list.
    async fn zone_id(&self, zone: &Zone) -> Result<String, ProviderError> {
        if let Some(id) = &zone.provider_id {
            return Ok(id.clone());
        }
        let all = self.list_zones().await?;
        let found = all
            .into_iter()
            .find(|z| DnsName::parse(&z.name).ok().as_ref() == Some(&zone.name));
        found
            .map(|z| z.id)
            .ok_or_else(|| ProviderError::ZoneNotFound {
                provider: KIND,
                zone: zone.name.to_string(),
                message: format!("this IONOS account has no zone {}", zone.name),
            })
    }

    /// The enabled TXT records of the zone (`disabled` ones are not served, so not counted).
    async fn txt_records(&self, zone: &Zone, id: &str) -> Result<Vec<Record>, ProviderError> {
        let mut url = self.api.url(&["v1", "zones", id]);
        url.query_pairs_mut().append_pair("recordType", "TXT");
        let resp = self.call(Method::GET, url, None, Some(zone), false).await?;
        let doc: CustomerZone = Self::parse(&resp, "zone")?;
        let txt = doc
            .records
            .into_iter()
            .filter(|r| r.rtype.eq_ignore_ascii_case("TXT"));
        Ok(txt.collect())
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

/// Whether record `r` is at `name` (IONOS names are full, without the final dot).
fn at(r: &Record, name: &DnsName) -> bool {
    DnsName::parse(&r.name).ok().as_ref() == Some(name)
}

#[async_trait]
impl DnsProvider for IonosProvider {
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
        if let Some(z) = self.config.zone.as_ref().filter(|z| !fqdn.is_within(z)) {
            return Err(not_found(format!(
                "{fqdn} is not inside zone {z} (IONOS_ZONE)"
            )));
        }
        let all = self.list_zones().await?;
        let named: Vec<(DnsName, String)> = all
            .into_iter()
            .filter_map(|z| Some((DnsName::parse(&z.name).ok()?, z.id)))
            .collect();
        let wanted = |a: &DnsName| match &self.config.zone {
            Some(z) => a == z,
            None => true,
        };
        let best = fqdn.ancestors().filter(wanted).find_map(|a| {
            let hit = named.iter().find(|(n, _)| *n == a);
            hit.map(|(n, id)| (n.clone(), id.clone()))
        });
        let (name, id) = best.ok_or_else(|| {
            let seen = wildcert_provider::name::zone_listing(named.iter().map(|(n, _)| n));
            not_found(format!(
                "no zone of this IONOS account contains {fqdn}; it has: {seen}"
            ))
        })?;
        let zone = Zone {
            provider_id: Some(id),
            name,
        };
        self.zones.insert(fqdn, &zone);
        Ok(Some(zone))
    }

    async fn publish(&self, zone: &Zone, set: &TxtSet) -> Result<Applied, ProviderError> {
        Self::inside(zone, set)?;
        let id = self.zone_id(zone).await?;
        let there = self.txt_records(zone, &id).await?;
        let there: Vec<&Record> = there.iter().filter(|r| !r.disabled).collect();
        let ttl = set.ttl.max(MIN_TTL);
        let mut missing = Vec::new();
        for (name, value) in set.pairs() {
            let have = there
                .iter()
                .any(|r| at(r, name) && unquote_txt(&r.content) == value);
            if !have {
                missing.push(
                    json!({ "name": name.as_str(), "type": "TXT", "content": value,
                    "ttl": ttl, "prio": 0, "disabled": false }),
                );
            }
        }
        let url = self.api.url(&["v1", "zones", &id, "records"]);
        for batch in missing.chunks(POST_BATCH) {
            let body = Value::Array(batch.to_vec());
            self.call(Method::POST, url.clone(), Some(&body), Some(zone), false)
                .await?;
        }
        Ok(Applied::default())
    }

    async fn unpublish(&self, zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
        Self::inside(zone, set)?;
        let id = self.zone_id(zone).await?;
        let there = self.txt_records(zone, &id).await?;
        for r in there.iter() {
            let ours = set
                .iter()
                .any(|(name, values)| at(r, name) && values.contains(&unquote_txt(&r.content)));
            if ours {
                let url = self.api.url(&["v1", "zones", &id, "records", &r.id]);
                self.call(Method::DELETE, url, None, Some(zone), true)
                    .await?;
            }
        }
        Ok(())
    }

    fn tuning(&self) -> ProviderTuning {
        // IONOS_PROPAGATION_TIMEOUT (900 s, as lego) unless the run sets it.
        ProviderTuning {
            propagation_timeout: Some(self.config.propagation_timeout),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wildcert_provider::Secret;

    #[test]
    fn error_bodies_as_one_line() {
        let body = br#"[{"code":"UNAUTHORIZED","message":"The customer is not authorized to do this operation."},{"code":"INTERNAL_SERVER_ERROR"}]"#;
        assert_eq!(
            error_text(body),
            "UNAUTHORIZED: The customer is not authorized to do this operation.; INTERNAL_SERVER_ERROR"
        );
        assert_eq!(error_text(b"{\"message\":\"x\"}"), "x");
        assert_eq!(error_text(b"plain"), "plain");
    }

    #[test]
    fn urls_and_no_secret_in_debug() {
        let p = IonosProvider::new(&IonosSettings {
            api_key: Some(Secret::new("pfx.HIDDENKEY")),
            base_url: Some("http://127.0.0.1:9/dns/".into()),
            ..Default::default()
        })
        .expect("provider");
        assert_eq!(
            p.api.url(&["v1", "zones", "z1", "records"]).as_str(),
            "http://127.0.0.1:9/dns/v1/zones/z1/records"
        );
        assert!(!format!("{p:?}").contains("HIDDENKEY"));
        assert_eq!(
            p.tuning().propagation_timeout,
            Some(std::time::Duration::from_secs(900))
        );
    }
}
