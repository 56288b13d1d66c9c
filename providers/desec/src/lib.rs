//! deSEC.io DNS API provider (`https://desec.io/api/v1`, domains and RRsets).
//!
//! deSEC has no "add one value" call: an RRset is written whole. So, per zone, the TXT RRsets
//! of the names are read (`GET …/rrsets/{subname}/TXT/`, or every TXT RRset of the domain, page
//! by page, above four names), merged (ours added, or exactly ours removed; every other value
//! kept as stored) and written back in **one** bulk `PATCH …/domains/{domain}/rrsets/` (atomic,
//! and a single signing operation at deSEC; `records: []` deletes an RRset). A new RRset gets
//! the larger of wildcert's TTL and the domain's `minimum_ttl` (3,600 s on most domains); an
//! existing one keeps its TTL.
//!
//! The read-modify-write is serialised per zone inside this process. deSEC offers no
//! conditional write, so two *processes* writing one name at the same moment can lose a value.
//! deSEC throttles hard (RRset writes 2/s, 15/min, 100/h per domain): 429s are waited out per
//! `Retry-After` within `rate_limit_wait`.

pub mod settings;

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::{Value, json};
use wildcert_provider::api::{JsonApi, secret_header, server_message};
use wildcert_provider::http::{RateLimitBudget, Response};
use wildcert_provider::record::{Change, merge_values, quote_txt, unquote_txt};
use wildcert_provider::{Applied, DnsName, DnsProvider, ProviderError, TxtSet, Zone};
use wildcert_provider::{ZoneCache, ZoneLocks};

pub use settings::{DEFAULT_BASE_URL, DesecConfig, DesecSettings, KIND, PROVIDER};

/// What deSEC's rate limits are, for the progress line.
const RATE_LIMIT: &str = "RRset writes: 2/s, 15/min, 100/h, 300/day per domain";
/// Largest TTL deSEC takes.
pub const MAX_TTL: u32 = 86_400;
/// Bound on the pages of one listing (500 items each).
const MAX_PAGES: u32 = 200;
/// At most this many names are read one by one; above it all TXT RRsets are listed.
const PER_NAME_READS: usize = 4;

/// The deSEC provider.
#[derive(Debug)]
pub struct DesecProvider {
    config: DesecConfig,
    api: JsonApi,
    zones: ZoneCache,
    locks: ZoneLocks,
    /// Each domain's `minimum_ttl`, as read.
    minimum_ttl: Mutex<HashMap<DnsName, u32>>,
}

/// A domain object, as far as we use it.
#[derive(Debug, Deserialize)]
struct Domain {
    name: String,
    #[serde(default)]
    minimum_ttl: Option<u32>,
}

/// An RRset object, as far as we use it.
#[derive(Debug, Deserialize)]
struct RrSet {
    #[serde(default)]
    subname: String,
    #[serde(rename = "type")]
    rtype: String,
    #[serde(default)]
    records: Vec<String>,
}

fn other(message: String) -> ProviderError {
    ProviderError::Other {
        provider: KIND,
        message,
    }
}

impl DesecProvider {
    /// Build from settings (reads the token file).
    pub fn new(settings: &DesecSettings) -> Result<Self, ProviderError> {
        Self::from_config(settings.validate()?)
    }

    /// Build from a validated configuration.
    pub fn from_config(config: DesecConfig) -> Result<Self, ProviderError> {
        let token = &config.token;
        let header = secret_header(KIND, "authorization", "Token ", token, "the API token")?;
        let budget = RateLimitBudget::new(config.rate_limit_wait, "rate_limit_wait");
        let (base, timeout) = (config.base_url.clone(), config.timeout);
        let headers = HeaderMap::from_iter([header]);
        let mut api = JsonApi::new(KIND, base, headers, timeout, budget)?;
        api.policy.rate_limit_note = Some(RATE_LIMIT);
        Ok(DesecProvider {
            config,
            api,
            zones: ZoneCache::default(),
            locks: ZoneLocks::default(),
            minimum_ttl: Mutex::default(),
        })
    }

    /// Use `budget` (shared with every holder of a clone) for waiting out rate limits.
    pub fn with_rate_limit_budget(mut self, budget: RateLimitBudget) -> Self {
        self.api.policy.budget = budget;
        self
    }

    /// The configuration in use.
    pub fn config(&self) -> &DesecConfig {
        &self.config
    }

    /// A non-2xx answer (`{"detail": …}`, or field errors), phrased for the person fixing it.
    fn error(&self, resp: &Response, zone: Option<&Zone>) -> ProviderError {
        let msg = server_message(&resp.body);
        let message = match resp.status {
            401 => format!(
                "deSEC refused the token (401 {msg}); check DESEC_TOKEN / `token` (a token that \
                 expired or was deleted is refused too)"
            ),
            403 => format!(
                "the token may not do this (403 {msg}); its scoping policy must allow writing TXT \
                 RRsets at the _acme-challenge names (perm_write)"
            ),
            404 => format!(
                "deSEC answered 404 ({msg}){}: the domain is not in the token's account",
                zone.map(|z| format!(" for domain {z}")).unwrap_or_default()
            ),
            400 => format!(
                "deSEC refused the change (400): {}",
                field_errors(&resp.body)
            ),
            _ => return self.api.status_error(resp, zone),
        };
        self.api.status_error_saying(resp, zone, message)
    }

    /// Send, require 2xx, parse JSON.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        req: (Method, Url),
        body: Option<&Value>,
        zone: Option<&Zone>,
    ) -> Result<(T, Response), ProviderError> {
        let resp = self.api.send(req.0, req.1, body).await?;
        if !resp.is_success() {
            return Err(self.error(&resp, zone));
        }
        let text: &[u8] = if resp.body.is_empty() {
            b"null"
        } else {
            &resp.body
        };
        match serde_json::from_slice(text) {
            Ok(v) => Ok((v, resp)),
            Err(e) => Err(other(format!(
                "cannot parse the answer of {}: {e}",
                self.api.base()
            ))),
        }
    }

    /// Every item of a list, following the `Link: <…?cursor=…>; rel="next"` pages (the first
    /// page asked for with `cursor=`, as deSEC wants above 500 items).
    async fn list<T: serde::de::DeserializeOwned>(
        &self,
        path: &[&str],
        query: &[(&str, &str)],
        zone: Option<&Zone>,
    ) -> Result<Vec<T>, ProviderError> {
        let (mut items, mut cursor) = (Vec::new(), String::new());
        for _ in 0..MAX_PAGES {
            let mut url = self.api.url(path);
            let pairs = query.iter().copied().chain([("cursor", cursor.as_str())]);
            url.query_pairs_mut().extend_pairs(pairs);
            let (page, resp): (Vec<T>, _) = self.call((Method::GET, url), None, zone).await?;
            items.extend(page);
            match next_cursor(&resp) {
                Some(next) if next != cursor => cursor = next,
                _ => return Ok(items),
            }
        }
        let what = path.join("/");
        Err(other(format!("more than {MAX_PAGES} pages listing {what}")))
    }

    /// The domain's `minimum_ttl` (read once: `GET /domains/{name}/`).
    async fn minimum_ttl(&self, zone: &Zone) -> Result<u32, ProviderError> {
        let known = self
            .minimum_ttl
            .lock()
            .ok()
            .and_then(|m| m.get(&zone.name).copied());
        if let Some(t) = known {
            return Ok(t);
        }
        let url = self.api.url(&["domains", zone.name.as_str(), ""]);
        let (d, _): (Domain, _) = self.call((Method::GET, url), None, Some(zone)).await?;
        Ok(self.remember(&zone.name, &d))
    }

    fn remember(&self, name: &DnsName, d: &Domain) -> u32 {
        let t = d.minimum_ttl.unwrap_or(0);
        if let Ok(mut m) = self.minimum_ttl.lock() {
            m.insert(name.clone(), t);
        }
        t
    }

    /// The TXT records stored at each subname (`""` for the apex), as stored.
    async fn read_txt(&self, zone: &Zone, subs: &[&str]) -> Result<Stored, ProviderError> {
        let domain = zone.name.as_str();
        let mut found = Stored::new();
        if subs.len() > PER_NAME_READS {
            let q = [("type", "TXT")];
            let all: Vec<RrSet> = self
                .list(&["domains", domain, "rrsets", ""], &q, Some(zone))
                .await?;
            for rr in all.into_iter().filter(|r| r.rtype == "TXT") {
                found.insert(rr.subname, rr.records);
            }
            return Ok(found);
        }
        for sub in subs {
            let at = if sub.is_empty() { "@" } else { sub };
            let url = self.api.url(&["domains", domain, "rrsets", at, "TXT", ""]);
            let resp = self.api.send(Method::GET, url, None).await?;
            match resp.status {
                // No such RRset (or no such domain: the PATCH then says so).
                404 => continue,
                s if (200..300).contains(&s) => {}
                _ => return Err(self.error(&resp, Some(zone))),
            }
            let rr: RrSet = serde_json::from_slice(&resp.body)
                .map_err(|e| other(format!("cannot parse the RRset {at}/TXT: {e}")))?;
            found.insert(sub.to_string(), rr.records);
        }
        Ok(found)
    }

    /// Read, merge, write every changed RRset of the zone in one bulk PATCH.
    async fn change(&self, zone: &Zone, set: &TxtSet, op: Change) -> Result<(), ProviderError> {
        let mut names = Vec::new();
        for (name, ours) in set.iter() {
            names.push((subname(name, &zone.name)?, ours));
        }
        if names.is_empty() {
            return Ok(());
        }
        let _guard = self.locks.lock(zone).await;
        let subs: Vec<&str> = names.iter().map(|n| n.0.as_str()).collect();
        let current = self.read_txt(zone, &subs).await?;
        let mut rrsets = Vec::new();
        for (sub, ours) in &names {
            let stored = current.get(sub).map(Vec::as_slice).unwrap_or_default();
            let served: Vec<String> = stored.iter().map(|r| unquote_txt(r)).collect();
            let Some(values) = merge_values(&served, ours, op) else {
                continue;
            };
            let records: Vec<String> = match op {
                Change::Add => {
                    let added = values[served.len()..].iter().map(|v| quote_txt(v));
                    stored.iter().cloned().chain(added).collect()
                }
                Change::Remove => {
                    let kept = stored.iter().filter(|r| !ours.contains(&unquote_txt(r)));
                    kept.cloned().collect()
                }
            };
            let mut item = json!({ "subname": sub, "type": "TXT", "records": records });
            if stored.is_empty() {
                // Only for a new RRset: an existing one keeps the TTL its owner chose.
                let ttl = set.ttl.max(self.minimum_ttl(zone).await?).min(MAX_TTL);
                item["ttl"] = json!(ttl);
            }
            rrsets.push(item);
        }
        if rrsets.is_empty() {
            tracing::debug!(zone = %zone, "desec: nothing to change");
            return Ok(());
        }
        let url = self.api.url(&["domains", zone.name.as_str(), "rrsets", ""]);
        let body = Value::Array(rrsets);
        let _: (Value, _) = self
            .call((Method::PATCH, url), Some(&body), Some(zone))
            .await?;
        Ok(())
    }

    /// The domain responsible for `fqdn` (`GET /domains/?owns_qname=`); when none, every
    /// domain the token sees is named in the error.
    async fn lookup_zone(&self, fqdn: &DnsName) -> Result<Zone, ProviderError> {
        let mut url = self.api.url(&["domains", ""]);
        url.query_pairs_mut()
            .append_pair("owns_qname", fqdn.as_str());
        let (found, _): (Vec<Domain>, _) = self.call((Method::GET, url), None, None).await?;
        if let Some(d) = found.first() {
            let name = DnsName::parse(&d.name)
                .map_err(|e| other(format!("deSEC named the domain `{}`: {e}", d.name)))?;
            self.remember(&name, d);
            return Ok(Zone::new(name));
        }
        let all: Vec<Domain> = self.list(&["domains", ""], &[], None).await?;
        let mut seen: Vec<String> = all.into_iter().map(|d| d.name).collect();
        seen.sort();
        let seen = Some(seen.join(", ")).filter(|s| !s.is_empty());
        let seen = seen.unwrap_or_else(|| "none".into());
        Err(ProviderError::ZoneNotFound {
            provider: KIND,
            zone: fqdn.to_string(),
            message: format!(
                "no domain of the token's deSEC account holds {fqdn}; it sees: {seen}"
            ),
        })
    }
}

/// TXT records by subname, as stored.
type Stored = HashMap<String, Vec<String>>;

/// The cursor of the `rel="next"` link of a paged answer.
fn next_cursor(resp: &Response) -> Option<String> {
    let link = resp.headers.get("link")?.to_str().ok()?;
    let next = link.split(',').find(|p| p.contains("rel=\"next\""))?;
    let url = next.split(['<', '>']).nth(1)?;
    let url = Url::parse(url.trim()).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == "cursor")
        .map(|(_, v)| v.into_owned())
}

/// A 400 body (`{"field": ["…"]}`, or per RRset of a bulk request `[{}, {"ttl": ["…"]}]`) as
/// one line naming the fields.
fn field_errors(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or_default();
    let fields = |o: &Value| {
        let all = o.as_object().into_iter().flatten();
        let all = all.map(|(k, m)| format!("{k}: {}", messages(m)));
        all.collect::<Vec<_>>().join("; ")
    };
    let parts: Vec<String> = match &v {
        Value::Array(items) => {
            let each = items.iter().map(fields).enumerate();
            let each = each.filter(|(_, f)| !f.is_empty());
            each.map(|(i, f)| format!("RRset #{}: {f}", i + 1))
                .collect()
        }
        _ => vec![fields(&v)],
    };
    let line: String = parts
        .join("; ")
        .chars()
        .filter(|c| !c.is_control())
        .take(400)
        .collect();
    Some(line)
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| server_message(body))
}

/// The text of field messages (strings, or lists of them).
fn messages(m: &Value) -> String {
    match m {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(messages).collect::<Vec<_>>().join(" "),
        other => other.to_string(),
    }
}

/// The subname of `name` in `zone`: relative, lower case, `""` for the apex.
fn subname(name: &DnsName, zone: &DnsName) -> Result<String, ProviderError> {
    if !name.is_within(zone) {
        return Err(other(format!("{name} is not inside zone {zone}")));
    }
    let rel = name
        .as_str()
        .strip_suffix(zone.as_str())
        .unwrap_or_default();
    Ok(rel.trim_end_matches('.').to_string())
}

#[async_trait]
impl DnsProvider for DesecProvider {
    fn name(&self) -> &'static str {
        KIND.name
    }

    async fn zone_for(&self, fqdn: &DnsName) -> Result<Option<Zone>, ProviderError> {
        if let Some(z) = self.zones.get(fqdn) {
            return Ok(Some(z));
        }
        let zone = self.lookup_zone(fqdn).await?;
        tracing::debug!(%fqdn, zone = %zone, "desec: responsible domain from the API");
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
    fn subnames_are_relative() {
        let zone = name("example.com");
        let sub = |n: &str| subname(&name(n), &zone).ok();
        assert_eq!(
            sub("_acme-challenge.example.com").as_deref(),
            Some("_acme-challenge")
        );
        assert_eq!(
            sub("_acme-challenge.A.example.com").as_deref(),
            Some("_acme-challenge.a")
        );
        assert_eq!(sub("example.com").as_deref(), Some(""));
        assert!(sub("x.example.org").is_none() && sub("xexample.com").is_none());
    }

    #[test]
    fn field_errors_name_the_field() {
        let bulk = br#"[{}, {"ttl": ["Ensure this value is greater than or equal to 3600."]}]"#;
        assert_eq!(
            field_errors(bulk),
            "RRset #2: ttl: Ensure this value is greater than or equal to 3600."
        );
        let one = br#"{"records": ["Record content malformed."]}"#;
        assert_eq!(field_errors(one), "records: Record content malformed.");
        assert_eq!(field_errors(b"oops"), "oops");
    }
}
