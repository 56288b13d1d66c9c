//! Linode (Akamai Cloud) API v4 provider (`{base}/domains/{domainId}/records`).
//!
//! Linode keeps every TXT value as its own record (integer id, `name` relative to the domain,
//! the value in `target`), so publishing is one `POST` per missing value and nothing already
//! there is rewritten. Cleanup lists the TXT records at the name — **every page** (`page`,
//! `pages`; filtered with Linode's `X-Filter` header) — and deletes by id exactly those whose
//! target is one of our values. The zone is the longest domain the token can see (`GET
//! /domains`, every page) unless `zone` names it. TTLs are at least 300 s and rounded to
//! Linode's values, as Linode would round them. Linode's nameservers take minutes to serve a
//! change, so the propagation wait defaults to 20 minutes (it ends as soon as all serve it).

pub mod settings;

use std::collections::BTreeSet;

use async_trait::async_trait;
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use wildcert_provider::api::{JsonApi, secret_header, server_message};
use wildcert_provider::http::{RateLimitBudget, Response};
use wildcert_provider::record::unquote_txt;
use wildcert_provider::{
    Applied, DnsName, DnsProvider, ProviderError, ProviderTuning, TxtSet, Zone, ZoneCache,
};

pub use settings::{DEFAULT_BASE_URL, KIND, LinodeConfig, LinodeSettings, PROVIDER};

/// Linode's smallest record TTL.
pub const MIN_TTL: u32 = 300;
/// The TTLs Linode keeps; any other is rounded to the nearest of them.
pub const TTLS: [u32; 12] = [
    300, 3600, 7200, 14400, 28800, 57600, 86400, 172800, 345600, 604800, 1209600, 2419200,
];
/// Largest page Linode serves (25 to 500); we ask for it to save requests.
pub const PAGE_SIZE: u32 = 500;
/// Bound on the pages of one list.
const MAX_PAGES: u32 = 1000;

/// The TTL Linode keeps for `ttl`: the nearest of [`TTLS`] (the longer one on a tie).
pub fn linode_ttl(ttl: u32) -> u32 {
    let dist = |t: &u32| (i64::from(*t) - i64::from(ttl)).abs();
    let best = TTLS.iter().rev().min_by_key(|t| dist(t));
    best.copied().unwrap_or(MIN_TTL)
}

/// The Linode provider.
#[derive(Debug)]
pub struct LinodeProvider {
    config: LinodeConfig,
    api: JsonApi,
    zones: ZoneCache,
}

/// A domain (only what we use).
#[derive(Debug, Clone, Deserialize)]
struct Domain {
    id: u64,
    domain: String,
}

/// A domain record (only what we use).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct Record {
    id: u64,
    #[serde(rename = "type")]
    rtype: String,
    name: String,
    target: String,
}

/// One page of a list.
#[derive(Debug, Deserialize)]
struct Page<T> {
    data: Vec<T>,
    page: u32,
    pages: u32,
}

/// Linode's error body `{"errors":[{"reason":…,"field":…}]}` as one line (`field: reason; …`).
pub fn reasons(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let errors = v.get("errors").and_then(Value::as_array);
    let line = |e: &Value| {
        let reason = e.get("reason")?.as_str()?;
        let field = e.get("field").and_then(Value::as_str);
        Some(field.map_or(reason.to_string(), |f| format!("{f}: {reason}")))
    };
    let all: Vec<String> = errors.into_iter().flatten().filter_map(line).collect();
    if all.is_empty() {
        return server_message(body);
    }
    all.join("; ")
}

impl LinodeProvider {
    /// Build from settings (reads the token file).
    pub fn new(settings: &LinodeSettings) -> Result<Self, ProviderError> {
        Self::from_config(settings.validate()?)
    }

    /// Build from a validated configuration.
    pub fn from_config(config: LinodeConfig) -> Result<Self, ProviderError> {
        let (name, value) =
            secret_header(KIND, "authorization", "Bearer ", &config.token, "the token")?;
        let mut headers = HeaderMap::new();
        headers.insert(name, value);
        let budget = RateLimitBudget::new(config.rate_limit_wait, "rate_limit_wait");
        let base = config.base_url.clone();
        let api = JsonApi::new(KIND, base, headers, config.timeout, budget)?;
        Ok(LinodeProvider {
            config,
            api,
            zones: ZoneCache::default(),
        })
    }

    /// A non-2xx answer, phrased for the person fixing it: an unknown token (401 `Invalid
    /// Token`), a token without the Domains Read/Write scope (401 `not authorized to use this
    /// endpoint`) and a restricted user without access to the domain (403) are told apart.
    fn error(&self, resp: &Response, zone: Option<&Zone>) -> ProviderError {
        let why = reasons(&resp.body);
        let message = match resp.status {
            401 if why.contains("not authorized") => format!(
                "the token lacks the scope for this (401 {why}): it needs Domains Read/Write \
                 (a Read Only token can list but not change records); check LINODE_TOKEN"
            ),
            401 => format!(
                "Linode refused the token (401 {why}): it is unknown, expired or revoked; \
                 check token / LINODE_TOKEN"
            ),
            403 => format!(
                "the token's user may not do this (403 {why}): a restricted user needs \
                 Read/Write access to the domain (Account → Users → Permissions)"
            ),
            404 if zone.is_some() => {
                format!("Linode has no such domain visible to this token (404 {why})")
            }
            400 => format!("Linode refused the request (400): {why}"),
            s => format!("{} answered HTTP {s}: {why}", self.api.base()),
        };
        self.api.status_error_saying(resp, zone, message)
    }

    /// Send (with `X-Filter` when given); a 2xx answer (or 404 when `gone_ok`) is returned,
    /// anything else mapped.
    async fn call(
        &self,
        method: Method,
        url: reqwest::Url,
        body: Option<&Value>,
        filter: Option<&Value>,
        zone: Option<&Zone>,
    ) -> Result<Response, ProviderError> {
        let mut headers = HeaderMap::new();
        if let Some(f) = filter.and_then(|f| HeaderValue::from_str(&f.to_string()).ok()) {
            headers.insert("x-filter", f);
        }
        let resp = self
            .api
            .send_with(method.clone(), url, body, &headers)
            .await?;
        match resp.status {
            s if (200..300).contains(&s) => Ok(resp),
            404 if method == Method::DELETE => Ok(resp),
            _ => Err(self.error(&resp, zone)),
        }
    }

    /// Every item of the paged list at `path` matching `filter`, page by page to `pages`.
    async fn list_all<T: DeserializeOwned>(
        &self,
        path: &[&str],
        filter: &Value,
        zone: Option<&Zone>,
    ) -> Result<Vec<T>, ProviderError> {
        let mut out = Vec::new();
        for page in 1..=MAX_PAGES {
            let mut url = self.api.url(path);
            url.query_pairs_mut()
                .append_pair("page", &page.to_string())
                .append_pair("page_size", &PAGE_SIZE.to_string());
            let resp = self
                .call(Method::GET, url, None, Some(filter), zone)
                .await?;
            let doc: Page<T> = serde_json::from_slice(&resp.body)
                .map_err(|e| other(format!("cannot parse the list {}: {e}", path.join("/"))))?;
            out.extend(doc.data);
            if doc.page >= doc.pages {
                return Ok(out);
            }
        }
        let path = path.join("/");
        Err(other(format!(
            "the list {path} has more than {MAX_PAGES} pages"
        )))
    }

    /// The domains the token can see (every page), those named `name` only when given.
    async fn domains(&self, name: Option<&DnsName>) -> Result<Vec<(u64, DnsName)>, ProviderError> {
        let filter = name.map_or(json!({}), |n| json!({ "domain": n.as_str() }));
        let all: Vec<Domain> = self.list_all(&["domains"], &filter, None).await?;
        let parse = |d: Domain| Some((d.id, DnsName::parse(&d.domain).ok()?));
        Ok(all.into_iter().filter_map(parse).collect())
    }

    /// The id of `zone`'s domain: from the lookup, else asked for by name.
    async fn domain_id(&self, zone: &Zone) -> Result<String, ProviderError> {
        let given = zone.provider_id.clone();
        if let Some(id) = given.filter(|i| i.parse::<u64>().is_ok()) {
            return Ok(id);
        }
        let found = self.domains(Some(&zone.name)).await?;
        let id = found.into_iter().find(|d| d.1 == zone.name);
        let why = "no domain of this name is visible to the token";
        id.map(|d| d.0.to_string())
            .ok_or_else(|| not_found(&zone.name, why.into()))
    }

    /// The TXT records at `name` in domain `id` (every page).
    async fn txt_records(
        &self,
        zone: &Zone,
        id: &str,
        name: &DnsName,
    ) -> Result<Vec<Record>, ProviderError> {
        let rel = relative_name(name, &zone.name);
        let filter = json!({ "type": "TXT", "name": rel });
        let all: Vec<Record> = self
            .list_all(&["domains", id, "records"], &filter, Some(zone))
            .await?;
        let ours =
            |r: &Record| r.rtype.eq_ignore_ascii_case("TXT") && r.name.eq_ignore_ascii_case(&rel);
        Ok(all.into_iter().filter(ours).collect())
    }

    /// Check that every name of `set` lies in `zone`.
    fn inside(zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
        let out = set.names().find(|n| !n.is_within(&zone.name));
        out.map_or(Ok(()), |n| {
            Err(other(format!("{n} is not inside domain {zone}")))
        })
    }
}

fn other(message: String) -> ProviderError {
    ProviderError::Other {
        provider: KIND,
        message,
    }
}

fn not_found(zone: &DnsName, message: String) -> ProviderError {
    let zone = zone.to_string();
    ProviderError::ZoneNotFound {
        provider: KIND,
        zone,
        message,
    }
}

/// The record name Linode takes: relative to the domain, empty for the apex.
pub fn relative_name(name: &DnsName, zone: &DnsName) -> String {
    match name.as_str().strip_suffix(zone.as_str()) {
        Some(rest) => rest.trim_end_matches('.').to_string(),
        None => name.as_str().to_string(),
    }
}

#[async_trait]
impl DnsProvider for LinodeProvider {
    fn name(&self) -> &'static str {
        KIND.name
    }

    async fn zone_for(&self, fqdn: &DnsName) -> Result<Option<Zone>, ProviderError> {
        if let Some(z) = self.zones.get(fqdn) {
            return Ok(Some(z));
        }
        let given = self.config.zone.as_ref();
        if let Some(z) = given.filter(|z| !fqdn.is_within(z)) {
            let why = format!("{fqdn} is not inside zone {z} (LINODE_ZONE)");
            return Err(not_found(fqdn, why));
        }
        let domains = self.domains(given).await?;
        let best = fqdn
            .ancestors()
            .find_map(|a| domains.iter().find(|(_, n)| *n == a).cloned());
        let (id, name) = best.ok_or_else(|| {
            if let Some(z) = given {
                let why = format!("no domain {z} (LINODE_ZONE) is visible to this token");
                return not_found(fqdn, why);
            }
            let seen = wildcert_provider::name::zone_listing(domains.iter().map(|d| &d.1));
            let why = format!("no domain of this token contains {fqdn}; it sees: {seen}");
            not_found(fqdn, why)
        })?;
        let zone = Zone {
            name,
            provider_id: Some(id.to_string()),
        };
        self.zones.insert(fqdn, &zone);
        Ok(Some(zone))
    }

    async fn publish(&self, zone: &Zone, set: &TxtSet) -> Result<Applied, ProviderError> {
        Self::inside(zone, set)?;
        let id = self.domain_id(zone).await?;
        let url = self.api.url(&["domains", &id, "records"]);
        let ttl = linode_ttl(set.ttl.max(MIN_TTL));
        for (name, ours) in set.iter() {
            let there: BTreeSet<String> = self
                .txt_records(zone, &id, name)
                .await?
                .iter()
                .map(|r| unquote_txt(&r.target))
                .collect();
            for value in ours.iter().filter(|v| !there.contains(*v)) {
                let body = json!({ "type": "TXT", "name": relative_name(name, &zone.name),
                    "target": value, "ttl_sec": ttl });
                self.call(Method::POST, url.clone(), Some(&body), None, Some(zone))
                    .await?;
            }
        }
        Ok(Applied::default())
    }

    async fn unpublish(&self, zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
        Self::inside(zone, set)?;
        let id = self.domain_id(zone).await?;
        for (name, ours) in set.iter() {
            let records = self.txt_records(zone, &id, name).await?;
            for r in records
                .iter()
                .filter(|r| ours.contains(&unquote_txt(&r.target)))
            {
                let rid = r.id.to_string();
                let url = self.api.url(&["domains", &id, "records", &rid]);
                self.call(Method::DELETE, url, None, None, Some(zone))
                    .await?;
            }
        }
        Ok(())
    }

    fn tuning(&self) -> ProviderTuning {
        // LINODE_TTL (300) and LINODE_PROPAGATION_TIMEOUT (1200 s) unless the run sets them.
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
    use wildcert_provider::Secret;

    fn name(s: &str) -> DnsName {
        DnsName::parse(s).expect("name")
    }

    #[test]
    fn relative_names() {
        let zone = name("example.com");
        assert_eq!(relative_name(&name("example.com"), &zone), "");
        let acme = name("_acme-challenge.a.example.com");
        assert_eq!(relative_name(&acme, &zone), "_acme-challenge.a");
    }

    #[test]
    fn ttls_round_as_linode_rounds() {
        let cases = [
            (1, 300),
            (300, 300),
            (1000, 300),
            (1950, 3600),
            (3600, 3600),
            (5400, 7200),
        ];
        for (asked, kept) in cases {
            assert_eq!(linode_ttl(asked), kept, "{asked}");
        }
        assert_eq!(linode_ttl(u32::MAX), 2419200);
    }

    #[test]
    fn error_bodies() {
        let body = br#"{"errors":[{"reason":"Invalid Token"}]}"#;
        assert_eq!(reasons(body), "Invalid Token");
        let body = br#"{"errors":[{"reason":"a","field":"ttl_sec"},{"reason":"b"}]}"#;
        assert_eq!(reasons(body), "ttl_sec: a; b");
        assert_eq!(reasons(b"oops"), "oops");
    }

    #[test]
    fn urls_and_no_secret_in_debug() {
        let p = LinodeProvider::new(&LinodeSettings {
            token: Some(Secret::new("lin-hidden")),
            base_url: Some("http://127.0.0.1:9/v4".into()),
            ..Default::default()
        })
        .expect("provider");
        let url = p.api.url(&["domains", "7", "records"]);
        assert_eq!(url.as_str(), "http://127.0.0.1:9/v4/domains/7/records");
        assert!(!format!("{p:?}").contains("lin-hidden"));
        assert_eq!(p.tuning().ttl, Some(300));
        let t = p.tuning().propagation_timeout.map(|d| d.as_secs());
        assert_eq!(t, Some(1200));
    }
}
