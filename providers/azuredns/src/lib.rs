//! Azure DNS provider over Azure Resource Manager (public `dnsZones`, api-version 2018-05-01,
//! or private `privateDnsZones`, 2020-06-01).
//!
//! A TXT record set is replaced whole (`PUT …/{zone}/TXT/{relative}` with every value), so each
//! change is a read-modify-write: `GET` the set and its ETag, merge our values into it
//! ([`merge_values`]: every other value stays), then `PUT` with `If-Match: {etag}` (or
//! `If-None-Match: *` for a new set), or `DELETE` with `If-Match` when no value remains. Another
//! writer in between makes Azure answer 412, and the set is read again and merged again
//! (bounded): two instances never overwrite each other's values, the trap of clients that `PUT`
//! blindly. The zone's resource group comes from `resource_group` or from listing the
//! subscription's zones (the longest zone holding the name).

pub mod credential;
pub mod settings;

use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, Url};
use serde_json::{Value, json};
use wildcert_provider::api::{JsonApi, server_message};
use wildcert_provider::http::{self, RateLimitBudget, Response};
use wildcert_provider::record::merge_values;
use wildcert_provider::{
    Applied, Change, DnsName, DnsProvider, ProviderError, Secret, TxtSet, Zone, ZoneCache,
    ZoneLocks,
};

pub use settings::{AzureConfig, AzureDnsSettings, KIND, PROVIDER};

/// What Resource Manager's throttling is, for the progress line.
const RATE_LIMIT: &str =
    "Resource Manager throttles per subscription and principal (writes and reads per hour)";
/// Attempts of one record set's read-modify-write when other writers keep changing it (412).
const MAX_CONFLICTS: u32 = 8;
/// Bound on the pages of one listing.
const MAX_PAGES: usize = 500;
/// Longest string of one TXT record's `value` list.
const TXT_STRING: usize = 255;

/// The Azure DNS provider.
#[derive(Debug)]
pub struct AzureDnsProvider {
    config: AzureConfig,
    api: JsonApi,
    http: reqwest::Client,
    token: tokio::sync::Mutex<Option<(Secret, Instant)>>,
    zones: ZoneCache,
    locks: ZoneLocks,
}

/// A TXT record set as read: its ETag, values (each record's strings joined) and properties.
struct RecordSet {
    etag: Option<String>,
    values: Vec<String>,
    properties: Value,
}

fn other(message: String) -> ProviderError {
    ProviderError::Other {
        provider: KIND,
        message,
    }
}

/// The `code` of an ARM error body (`{"error": {"code"}}`, or DNS' bare `{"code"}`).
fn error_code(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or_default();
    let code = v["error"]["code"].as_str().or(v["code"].as_str());
    code.unwrap_or_default().to_string()
}

impl AzureDnsProvider {
    /// Build from settings (reads secret and certificate files).
    pub fn new(settings: &AzureDnsSettings) -> Result<Self, ProviderError> {
        Self::from_config(settings.validate()?)
    }

    /// Build from a validated configuration.
    pub fn from_config(config: AzureConfig) -> Result<Self, ProviderError> {
        let budget = RateLimitBudget::new(config.rate_limit_wait, "rate_limit_wait");
        let (base, timeout) = (config.base_url.clone(), config.timeout);
        let mut api = JsonApi::new(KIND, base, HeaderMap::new(), timeout, budget)?;
        api.policy.rate_limit_note = Some(RATE_LIMIT);
        let http = http::ClientBuilder::new(KIND, timeout).build()?;
        let (token, zones, locks) = Default::default();
        Ok(AzureDnsProvider {
            config,
            api,
            http,
            token,
            zones,
            locks,
        })
    }

    /// Use `budget` (shared with every holder of a clone) for waiting out rate limits.
    pub fn with_rate_limit_budget(mut self, budget: RateLimitBudget) -> Self {
        self.api.policy.budget = budget;
        self
    }

    /// The configuration in use.
    pub fn config(&self) -> &AzureConfig {
        &self.config
    }

    /// A bearer token, fetched again five minutes before it expires.
    async fn bearer(&self) -> Result<HeaderValue, ProviderError> {
        let mut cached = self.token.lock().await;
        let fresh = cached.as_ref().filter(|(_, until)| Instant::now() < *until);
        let token = match fresh {
            Some((t, _)) => t.clone(),
            None => {
                let c = &self.config;
                let (t, life) = c
                    .credential
                    .token(&self.http, &self.api.policy, &c.authority, &c.scope)
                    .await?;
                let until = Instant::now() + life.saturating_sub(Duration::from_secs(300));
                *cached = Some((t.clone(), until));
                t
            }
        };
        let mut v = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .map_err(|_| other("the access token is not a valid header value".into()))?;
        v.set_sensitive(true);
        Ok(v)
    }

    /// `base/subscriptions/{sub}/…segments?api-version=…` (the version of the zone type).
    fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.api.url(
            &[
                &["subscriptions", self.config.subscription.as_str()],
                segments,
            ]
            .concat(),
        );
        let version = if self.config.private_zone {
            "2020-06-01"
        } else {
            "2018-05-01"
        };
        url.query_pairs_mut()
            .append_pair("api-version", version)
            .extend_pairs(query);
        url
    }

    /// The zone type segment.
    fn zone_type(&self) -> &'static str {
        if self.config.private_zone {
            "privateDnsZones"
        } else {
            "dnsZones"
        }
    }

    /// Send with the bearer token and `extra` headers (`If-Match`, …).
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        extra: &[(&'static str, &str)],
    ) -> Result<Response, ProviderError> {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", self.bearer().await?);
        for (k, v) in extra {
            let v = HeaderValue::from_str(v).map_err(|_| other(format!("bad {k} header value")))?;
            headers.insert(*k, v);
        }
        self.api.send_with(method, url, body, &headers).await
    }

    /// A non-2xx answer, phrased for the person fixing it.
    fn error(&self, resp: &Response, zone: Option<&Zone>) -> ProviderError {
        let (code, msg) = (error_code(&resp.body), server_message(&resp.body));
        let sub = &self.config.subscription;
        let message = match resp.status {
            401 => format!("Resource Manager refused the token (401 {code}: {msg})"),
            403 => format!(
                "the identity may not do this (403 {code}: {msg}); give it `DNS Zone Contributor` on the zone"
            ),
            404 => format!("404 {code} in subscription {sub} (AZURE_SUBSCRIPTION_ID): {msg}"),
            _ => return self.api.status_error(resp, zone),
        };
        self.api.status_error_saying(resp, zone, message)
    }

    /// The URL of the TXT record set `rel` of `zone`.
    fn set_url(&self, zone: &Zone, rel: &str) -> Result<Url, ProviderError> {
        let rg = zone
            .provider_id
            .as_deref()
            .or(self.config.resource_group.as_deref());
        let rg = rg.ok_or_else(|| other(format!("no resource group known for zone {zone}")))?;
        let (t, z) = (self.zone_type(), zone.name.as_str());
        Ok(self.url(
            &[
                "resourceGroups",
                rg,
                "providers",
                "Microsoft.Network",
                t,
                z,
                "TXT",
                rel,
            ],
            &[],
        ))
    }

    /// `GET` the TXT set `rel` of `zone`; `None` when it does not exist.
    async fn read(&self, zone: &Zone, rel: &str) -> Result<Option<RecordSet>, ProviderError> {
        let url = self.set_url(zone, rel)?;
        let resp = self.send(Method::GET, url, None, &[]).await?;
        if resp.status == 404 && error_code(&resp.body) == "NotFound" {
            return Ok(None);
        }
        if !resp.is_success() {
            return Err(self.error(&resp, Some(zone)));
        }
        let v: Value = serde_json::from_slice(&resp.body)
            .map_err(|e| other(format!("cannot parse the record set {rel}: {e}")))?;
        let props = v["properties"].clone();
        let records = props
            .get("TXTRecords")
            .or(props.get("txtRecords"))
            .and_then(Value::as_array);
        let join = |r: &Value| {
            r["value"]
                .as_array()
                .map(|s| s.iter().filter_map(Value::as_str).collect::<String>())
        };
        let values = records.into_iter().flatten().filter_map(join).collect();
        let etag = v["etag"]
            .as_str()
            .map(str::to_string)
            .or_else(|| resp.headers.get("etag")?.to_str().ok().map(str::to_string));
        Ok(Some(RecordSet {
            etag,
            values,
            properties: props,
        }))
    }

    /// Add or remove our values at every name of `set`, one read-modify-write per name.
    async fn change(&self, zone: &Zone, set: &TxtSet, change: Change) -> Result<(), ProviderError> {
        let _guard = self.locks.lock(zone).await;
        for (name, ours) in set.iter() {
            let rel = relative(name, &zone.name)?;
            let mut attempt = 0;
            loop {
                attempt += 1;
                let current = self.read(zone, &rel).await?;
                let values = current
                    .as_ref()
                    .map(|c| c.values.clone())
                    .unwrap_or_default();
                let Some(next) = merge_values(&values, ours, change) else {
                    break;
                };
                let url = self.set_url(zone, &rel)?;
                let etag = current
                    .as_ref()
                    .and_then(|c| c.etag.clone())
                    .unwrap_or_else(|| "*".into());
                let resp = match (next.is_empty(), &current) {
                    (true, _) => {
                        self.send(Method::DELETE, url, None, &[("if-match", &etag)])
                            .await?
                    }
                    (false, None) => {
                        let body = self.body(&Value::Null, &next, set.ttl);
                        self.send(Method::PUT, url, Some(&body), &[("if-none-match", "*")])
                            .await?
                    }
                    (false, Some(c)) => {
                        let body = self.body(&c.properties, &next, set.ttl);
                        self.send(Method::PUT, url, Some(&body), &[("if-match", &etag)])
                            .await?
                    }
                };
                match resp.status {
                    200..=299 => break,
                    412 if attempt < MAX_CONFLICTS => {
                        tracing::debug!(%name, attempt, "azuredns: record set changed by another writer (412); merging again");
                    }
                    412 => {
                        let message = format!(
                            "record set {rel} of {zone} kept changing under us: {MAX_CONFLICTS} attempts ended in 412"
                        );
                        return Err(ProviderError::Rejected {
                            provider: KIND,
                            message,
                        });
                    }
                    _ => return Err(self.error(&resp, Some(zone))),
                }
            }
        }
        Ok(())
    }

    /// The PUT body: `values` (each split into 255-octet strings), the set's own TTL and
    /// metadata kept when it exists, `ttl` for a new one.
    fn body(&self, old: &Value, values: &[String], ttl: u32) -> Value {
        let records: Vec<Value> = values
            .iter()
            .map(|v| json!({ "value": split(v) }))
            .collect();
        let (ttl_key, txt_key) = if self.config.private_zone {
            ("ttl", "txtRecords")
        } else {
            ("TTL", "TXTRecords")
        };
        let ttl = old[ttl_key].as_u64().unwrap_or(u64::from(ttl));
        let mut props = json!({ ttl_key: ttl, txt_key: records });
        if let Some(m) = old.get("metadata").filter(|m| m.is_object()) {
            props["metadata"] = m.clone();
        }
        json!({ "properties": props })
    }

    /// Every zone of the subscription (or of `resource_group`), following `nextLink`.
    async fn list_zones(&self) -> Result<Vec<Value>, ProviderError> {
        let t = self.zone_type();
        let path: Vec<&str> = match &self.config.resource_group {
            Some(rg) => vec!["resourceGroups", rg, "providers", "Microsoft.Network", t],
            None => vec!["providers", "Microsoft.Network", t],
        };
        let (mut url, mut zones) = (self.url(&path, &[]), Vec::new());
        for _ in 0..MAX_PAGES {
            let resp = self.send(Method::GET, url.clone(), None, &[]).await?;
            if !resp.is_success() {
                return Err(self.error(&resp, None));
            }
            let v: Value = serde_json::from_slice(&resp.body)
                .map_err(|e| other(format!("cannot parse the zone list: {e}")))?;
            zones.extend(v["value"].as_array().cloned().unwrap_or_default());
            let next = v["nextLink"].as_str().and_then(|n| Url::parse(n).ok());
            // Follow a nextLink only to the server we trust with the token.
            match next.filter(|n| n.origin() == url.origin()) {
                Some(n) => url = n,
                None => return Ok(zones),
            }
        }
        Err(other(format!(
            "the zone list has more than {MAX_PAGES} pages"
        )))
    }

    /// The longest listed zone holding `fqdn`, with its resource group (from its id).
    async fn lookup_zone(&self, fqdn: &DnsName) -> Result<Zone, ProviderError> {
        let zones = self.list_zones().await?;
        let rg_of = |id: &str| {
            let parts: Vec<&str> = id.split('/').collect();
            let i = parts
                .iter()
                .position(|p| p.eq_ignore_ascii_case("resourceGroups"))?;
            parts.get(i + 1).map(|s| s.to_string())
        };
        let named = |z: &Value| {
            Some((
                DnsName::parse(z["name"].as_str()?).ok()?,
                rg_of(z["id"].as_str()?)?,
            ))
        };
        let mut visible: Vec<(DnsName, String)> = zones.iter().filter_map(named).collect();
        visible.sort_by_key(|(n, _)| std::cmp::Reverse(n.label_count()));
        if let Some((name, rg)) = visible.iter().find(|(n, _)| fqdn.is_within(n)) {
            return Ok(Zone {
                name: name.clone(),
                provider_id: Some(rg.clone()),
            });
        }
        let mut seen: Vec<String> = visible.iter().map(|(n, _)| n.to_string()).collect();
        seen.sort();
        let seen = if seen.is_empty() {
            "none".into()
        } else {
            seen.join(", ")
        };
        let kind = if self.config.private_zone {
            "private"
        } else {
            "public"
        };
        let message = format!(
            "no {kind} zone listed in the subscription holds {fqdn}; the identity sees: {seen}"
        );
        Err(ProviderError::ZoneNotFound {
            provider: KIND,
            zone: fqdn.to_string(),
            message,
        })
    }
}

/// The record set name of `name` in `zone`: relative, lower case, `@` for the apex.
fn relative(name: &DnsName, zone: &DnsName) -> Result<String, ProviderError> {
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

/// A TXT value as Azure's `value` list: strings of at most 255 octets (on char boundaries).
fn split(value: &str) -> Vec<String> {
    let (mut out, mut cur) = (Vec::new(), String::new());
    for c in value.chars() {
        if cur.len() + c.len_utf8() > TXT_STRING {
            out.push(std::mem::take(&mut cur));
        }
        cur.push(c);
    }
    out.push(cur);
    out
}

#[async_trait]
impl DnsProvider for AzureDnsProvider {
    fn name(&self) -> &'static str {
        KIND.name
    }

    async fn zone_for(&self, fqdn: &DnsName) -> Result<Option<Zone>, ProviderError> {
        if let Some(z) = self.zones.get(fqdn) {
            return Ok(Some(z));
        }
        let zone = match (&self.config.zone, &self.config.resource_group) {
            (Some(zone), _) if !fqdn.is_within(zone) => {
                let message =
                    format!("{fqdn} is not inside the zone `{zone}` set in zone (AZURE_ZONE_NAME)");
                return Err(ProviderError::Config {
                    provider: KIND,
                    message,
                });
            }
            (Some(zone), Some(rg)) => Zone {
                name: zone.clone(),
                provider_id: Some(rg.clone()),
            },
            (Some(zone), None) => self.lookup_zone(zone).await?,
            (None, _) => self.lookup_zone(fqdn).await?,
        };
        tracing::debug!(%fqdn, zone = %zone, "azuredns: zone");
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

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> DnsName {
        DnsName::parse(s).expect("name")
    }

    #[test]
    fn relative_names_and_long_values() {
        let zone = name("example.com");
        assert_eq!(
            relative(&name("_acme-challenge.A.example.com"), &zone)
                .ok()
                .as_deref(),
            Some("_acme-challenge.a")
        );
        assert_eq!(relative(&zone, &zone).ok().as_deref(), Some("@"));
        assert!(relative(&name("xexample.com"), &zone).is_err());
        assert_eq!(split("abc"), ["abc"]);
        let long = "é".repeat(200);
        let parts = split(&long);
        assert!(parts.iter().all(|p| p.len() <= 255) && parts.concat() == long);
        assert_eq!(
            error_code(br#"{"code":"NotFound","message":"m"}"#),
            "NotFound"
        );
        assert_eq!(
            error_code(br#"{"error":{"code":"ParentResourceNotFound"}}"#),
            "ParentResourceNotFound"
        );
    }
}
