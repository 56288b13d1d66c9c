//! PowerDNS Authoritative HTTP API provider (`/api/v1`, tested against pdns 4.7).
//!
//! PowerDNS has no "add one value to an RRset" call: `PATCH …/zones/Z` with
//! `changetype: REPLACE` replaces the whole RRset (and `EXTEND` is unknown to 4.7). So, per
//! zone, we read the current TXT RRsets of the names involved, merge (union on publish,
//! difference on cleanup), and write every name of the zone in **one** PATCH; an RRset left
//! empty by cleanup is deleted (`changetype: DELETE`). The existing TTL of an RRset is kept.
//! Master/Primary zones are then NOTIFYed through `PUT …/zones/Z/notify`.
//!
//! Read-modify-write is serialised per zone inside this process. Two *processes* (two wildcert
//! runs, or wildcert and another ACME client) writing the same name at the same moment can
//! still lose each other's value: PowerDNS offers no compare-and-swap. Run one issuing process
//! per zone at a time (wildcert's certificate lock covers runs for the same certificate).

pub mod settings;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;
use wildcert_provider::http::{self, RateLimitBudget, RetryPolicy};
use wildcert_provider::{Applied, DnsName, DnsProvider, ProviderError, TxtSet, Zone, ZoneCache};

pub use settings::{DEFAULT_SERVER_ID, KIND, PROVIDER, PdnsConfig, PdnsSettings};

/// Attempts per request when the server answers 5xx or does not answer.
const MAX_ATTEMPTS: u32 = 4;
/// Ceiling of the first retry delay (doubled each time, jittered, at most 4 s).
const RETRY_BASE: Duration = Duration::from_millis(250);
/// Default of the run's time for waiting out rate limits (429 from PowerDNS or a proxy in
/// front of it); [`PdnsProvider::with_rate_limit_budget`] replaces it.
pub const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(120);
/// Bound on an answer we parse (zone lists, filtered zone reads).
const BODY_LIMIT: usize = 4 << 20;
/// Bound on an unfiltered zone read (many names in one zone).
const ZONE_BODY_LIMIT: usize = 64 << 20;
/// Above this many names in one zone, one unfiltered zone read beats one read per name.
const PER_NAME_READS: usize = 4;
/// Longest server message we put into an error.
const MESSAGE_LIMIT: usize = 300;

/// The PowerDNS provider.
pub struct PdnsProvider {
    config: PdnsConfig,
    client: reqwest::Client,
    policy: RetryPolicy,
    zones: ZoneCache,
    locks: Mutex<HashMap<DnsName, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for PdnsProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PdnsProvider")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A zone as `GET …/zones/Z` returns it (only what we use).
#[derive(Debug, Deserialize)]
struct ZoneDoc {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    rrsets: Vec<RrSet>,
}

/// An entry of `GET …/zones?zone=`.
#[derive(Debug, Deserialize)]
struct ZoneSummary {
    id: String,
    name: String,
}

#[derive(Debug, Clone, Deserialize)]
struct RrSet {
    name: String,
    #[serde(rename = "type")]
    rtype: String,
    #[serde(default)]
    ttl: Option<u32>,
    #[serde(default)]
    records: Vec<Rec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
struct Rec {
    content: String,
    #[serde(default)]
    disabled: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Remove,
}

impl PdnsProvider {
    /// Build from settings (reads the key file).
    pub fn new(settings: &PdnsSettings) -> Result<Self, ProviderError> {
        Self::from_config(settings.validate()?)
    }

    /// Build from a validated configuration.
    pub fn from_config(config: PdnsConfig) -> Result<Self, ProviderError> {
        let mut key =
            HeaderValue::from_str(config.api_key.expose()).map_err(|_| ProviderError::Config {
                provider: KIND,
                message: "the API key is not a valid HTTP header value".into(),
            })?;
        key.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert("X-API-Key", key);
        // Redirects within the API's origin only: the key must not travel to another host.
        let client = http::ClientBuilder::new(KIND, config.timeout)
            .default_headers(headers)
            .follow_redirects(5)
            .build()?;
        let mut policy = RetryPolicy::new(
            KIND,
            RateLimitBudget::new(config.rate_limit_wait, "rate_limit_wait"),
        );
        policy.max_attempts = MAX_ATTEMPTS;
        policy.max_transport_attempts = MAX_ATTEMPTS;
        policy.max_total = Duration::from_secs(120);
        policy.base = RETRY_BASE;
        policy.cap = Duration::from_secs(4);
        Ok(PdnsProvider {
            config,
            client,
            policy,
            zones: ZoneCache::default(),
            locks: Mutex::new(HashMap::new()),
        })
    }

    /// Wait out rate limits from `budget` (shared with every holder of a clone) instead of
    /// this provider's own [`DEFAULT_RATE_LIMIT_WAIT`].
    pub fn with_rate_limit_budget(mut self, budget: RateLimitBudget) -> Self {
        self.policy.budget = budget;
        self
    }

    /// The configuration in use.
    pub fn config(&self) -> &PdnsConfig {
        &self.config
    }

    /// `<api_url>/api/v1/servers/<id>/<segments…>`, each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> reqwest::Url {
        let mut u = self.config.api_url.clone();
        if let Ok(mut p) = u.path_segments_mut() {
            p.pop_if_empty()
                .extend(["api", "v1", "servers", &self.config.server_id])
                .extend(segments);
        }
        u
    }

    /// One API call through the shared retry policy: 429 (honouring `Retry-After`), 5xx,
    /// timeouts and connection failures are retried within bounds.
    async fn call(
        &self,
        method: Method,
        url: reqwest::Url,
        body: Option<&serde_json::Value>,
        limit: usize,
    ) -> Result<(StatusCode, Vec<u8>), ProviderError> {
        let shown = display_url(&url);
        let mut policy = self.policy.clone();
        policy.body_limit = limit;
        let make = |attempt: u32| {
            let mut req = self.client.request(method.clone(), url.clone());
            if let Some(b) = body {
                req = req.json(b);
            }
            tracing::debug!(%method, url = %shown, attempt, "pdns: request");
            async move { Ok(req) }
        };
        let resp = policy.send(&shown, make, http::default_verdict).await?;
        let status = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::BAD_GATEWAY);
        tracing::debug!(%method, url = %shown, status = resp.status, bytes = resp.body.len(), "pdns: answer");
        if http::default_verdict(&resp) == http::Verdict::Retry {
            return Err(ProviderError::Unreachable {
                provider: KIND,
                target: shown,
                message: format!(
                    "HTTP {status}: {} (after {} attempts)",
                    server_message(&resp.body),
                    resp.attempts
                ),
            });
        }
        Ok((status, resp.body))
    }

    /// Map a non-2xx answer to an error phrased for the person fixing it.
    fn error(&self, status: StatusCode, body: &[u8], zone: Option<&Zone>) -> ProviderError {
        let msg = server_message(body);
        let base = display_url(&self.config.api_url);
        match status.as_u16() {
            401 => ProviderError::Auth {
                provider: KIND,
                message: format!(
                    "PowerDNS at {base} refused the API key (401 {msg}); compare api_key / PDNS_API_KEY with the \
                     server's `api-key` setting"
                ),
            },
            403 => ProviderError::Auth {
                provider: KIND,
                message: format!(
                    "PowerDNS at {base} answered 403 {msg}: this host may not use the API (check the server's \
                     `webserver-allow-from`)"
                ),
            },
            404 => ProviderError::ZoneNotFound {
                provider: KIND,
                zone: zone.map(|z| z.to_string()).unwrap_or_default(),
                message: format!(
                    "PowerDNS at {base} answered 404 ({msg}) for server `{}`{}: check the zone name, and \
                     server_id / PDNS_SERVER_NAME (usually `localhost`)",
                    self.config.server_id,
                    zone.map(|z| format!(", zone {z}")).unwrap_or_default()
                ),
            },
            // PowerDNS itself does not rate-limit; a reverse proxy in front of its API does.
            429 => ProviderError::RateLimited {
                provider: KIND,
                retry_after: None,
            },
            422 | 400 => ProviderError::Rejected {
                provider: KIND,
                message: format!("PowerDNS refused the change ({}): {msg}", status.as_u16()),
            },
            _ => ProviderError::Other {
                provider: KIND,
                message: format!("PowerDNS at {base} answered HTTP {status}: {msg}"),
            },
        }
    }

    fn zone_url(&self, zone: &Zone, extra: &[&str]) -> reqwest::Url {
        let id = zone
            .provider_id
            .clone()
            .unwrap_or_else(|| zone_id(&zone.name));
        let mut segs = vec!["zones", id.as_str()];
        segs.extend_from_slice(extra);
        self.url(&segs)
    }

    /// Read the zone's kind and its current TXT RRsets at `names`.
    async fn read_txt(
        &self,
        zone: &Zone,
        names: &[&DnsName],
    ) -> Result<(String, HashMap<DnsName, RrSet>), ProviderError> {
        let mut docs = Vec::new();
        if names.len() <= PER_NAME_READS {
            for name in names {
                let mut url = self.zone_url(zone, &[]);
                url.query_pairs_mut()
                    .append_pair("rrset_name", &name.to_fqdn())
                    .append_pair("rrset_type", "TXT");
                docs.push(self.get_zone(zone, url, BODY_LIMIT).await?);
            }
        } else {
            let url = self.zone_url(zone, &[]);
            docs.push(self.get_zone(zone, url, ZONE_BODY_LIMIT).await?);
        }
        let kind = docs.first().map(|d| d.kind.clone()).unwrap_or_default();
        let mut found = HashMap::new();
        for doc in docs {
            for rr in doc.rrsets {
                if !rr.rtype.eq_ignore_ascii_case("TXT") {
                    continue;
                }
                let Ok(n) = DnsName::parse(&rr.name) else {
                    continue;
                };
                if names.contains(&&n) {
                    found.insert(n, rr);
                }
            }
        }
        Ok((kind, found))
    }

    async fn get_zone(
        &self,
        zone: &Zone,
        url: reqwest::Url,
        limit: usize,
    ) -> Result<ZoneDoc, ProviderError> {
        let (status, body) = self.call(Method::GET, url, None, limit).await?;
        if !status.is_success() {
            return Err(self.error(status, &body, Some(zone)));
        }
        serde_json::from_slice(&body).map_err(|e| ProviderError::Other {
            provider: KIND,
            message: format!("cannot parse the zone {zone} from PowerDNS: {e}"),
        })
    }

    fn zone_lock(&self, zone: &Zone) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(zone.name.clone())
            .or_default()
            .clone()
    }

    /// Read, merge, write once; NOTIFY a primary zone afterwards.
    async fn change(&self, zone: &Zone, set: &TxtSet, op: Op) -> Result<(), ProviderError> {
        if set.is_empty() {
            return Ok(());
        }
        let names: Vec<&DnsName> = set.names().collect();
        if let Some(outside) = names.iter().find(|n| !n.is_within(&zone.name)) {
            return Err(ProviderError::Other {
                provider: KIND,
                message: format!("{outside} is not inside zone {}", zone.name),
            });
        }
        let lock = self.zone_lock(zone);
        let _guard = lock.lock().await;
        let (kind, current) = self.read_txt(zone, &names).await?;
        let mut rrsets = Vec::new();
        for (name, ours) in set.iter() {
            let existing = current.get(name);
            let records: Vec<Rec> = existing.map(|r| r.records.clone()).unwrap_or_default();
            let has = |v: &str| records.iter().any(|r| unquote_txt(&r.content) == v);
            let ttl = existing.and_then(|r| r.ttl).unwrap_or(set.ttl);
            match op {
                Op::Add => {
                    // A disabled record with our value is not served: replace it by an enabled one.
                    let served = |v: &str| {
                        records
                            .iter()
                            .any(|r| !r.disabled && unquote_txt(&r.content) == v)
                    };
                    let missing: Vec<&String> = ours.iter().filter(|v| !served(v)).collect();
                    if missing.is_empty() {
                        continue;
                    }
                    let mut all: Vec<Rec> = records
                        .iter()
                        .filter(|r| !(r.disabled && ours.contains(&unquote_txt(&r.content))))
                        .cloned()
                        .collect();
                    all.extend(missing.iter().map(|v| Rec {
                        content: quote_txt(v),
                        disabled: false,
                    }));
                    rrsets.push(json!({
                        "name": name.to_fqdn(), "type": "TXT", "ttl": ttl,
                        "changetype": "REPLACE", "records": all,
                    }));
                }
                Op::Remove => {
                    if !ours.iter().any(|v| has(v)) {
                        continue;
                    }
                    let rest: Vec<&Rec> = records
                        .iter()
                        .filter(|r| !ours.contains(&unquote_txt(&r.content)))
                        .collect();
                    if rest.is_empty() {
                        rrsets.push(json!({
                            "name": name.to_fqdn(), "type": "TXT", "changetype": "DELETE",
                        }));
                    } else {
                        rrsets.push(json!({
                            "name": name.to_fqdn(), "type": "TXT", "ttl": ttl,
                            "changetype": "REPLACE", "records": rest,
                        }));
                    }
                }
            }
        }
        if rrsets.is_empty() {
            tracing::debug!(zone = %zone, "pdns: nothing to change");
            return Ok(());
        }
        let count = rrsets.len();
        let body = json!({ "rrsets": rrsets });
        let (status, answer) = self
            .call(
                Method::PATCH,
                self.zone_url(zone, &[]),
                Some(&body),
                BODY_LIMIT,
            )
            .await?;
        if !status.is_success() {
            return Err(self.error(status, &answer, Some(zone)));
        }
        tracing::debug!(zone = %zone, rrsets = count, "pdns: PATCH applied");
        if matches!(kind.to_ascii_lowercase().as_str(), "master" | "primary") {
            self.notify(zone).await;
        }
        Ok(())
    }

    /// Ask PowerDNS to NOTIFY the zone's secondaries; failures only delay them (they poll).
    async fn notify(&self, zone: &Zone) {
        let url = self.zone_url(zone, &["notify"]);
        match self.call(Method::PUT, url, None, BODY_LIMIT).await {
            Ok((s, _)) if s.is_success() => {
                tracing::debug!(zone = %zone, "pdns: NOTIFY queued");
            }
            Ok((s, body)) => tracing::debug!(zone = %zone, status = s.as_u16(),
                "pdns: NOTIFY not sent: {}", server_message(&body)),
            Err(e) => tracing::debug!(zone = %zone, "pdns: NOTIFY not sent: {e}"),
        }
    }

    /// Find the zone holding `fqdn` through the API, walking up its labels.
    async fn lookup_zone(&self, fqdn: &DnsName) -> Result<Zone, ProviderError> {
        let mut tried = Vec::new();
        for candidate in fqdn.ancestors() {
            let mut url = self.url(&["zones"]);
            url.query_pairs_mut()
                .append_pair("zone", &candidate.to_fqdn());
            let (status, body) = self.call(Method::GET, url, None, BODY_LIMIT).await?;
            if status == StatusCode::NOT_FOUND {
                // The zone list itself is missing: the server id is wrong.
                return Err(ProviderError::ZoneNotFound {
                    provider: KIND,
                    zone: fqdn.to_string(),
                    message: format!(
                        "PowerDNS at {} has no server `{}` (404 {}); PowerDNS Authoritative calls itself \
                         `localhost`: fix server_id / PDNS_SERVER_NAME",
                        display_url(&self.config.api_url),
                        self.config.server_id,
                        server_message(&body)
                    ),
                });
            }
            if !status.is_success() {
                return Err(self.error(status, &body, None));
            }
            let list: Vec<ZoneSummary> =
                serde_json::from_slice(&body).map_err(|e| ProviderError::Other {
                    provider: KIND,
                    message: format!("cannot parse the zone list from PowerDNS: {e}"),
                })?;
            if let Some(z) = list
                .into_iter()
                .find(|z| DnsName::parse(&z.name).is_ok_and(|n| n == candidate))
            {
                return Ok(Zone {
                    name: candidate,
                    provider_id: Some(z.id),
                });
            }
            tried.push(candidate.to_fqdn());
        }
        Err(ProviderError::ZoneNotFound {
            provider: KIND,
            zone: fqdn.to_string(),
            message: format!(
                "PowerDNS server `{}` at {} has no zone containing {fqdn} (looked for {}); create the zone, or \
                 check api_url and server_id",
                self.config.server_id,
                display_url(&self.config.api_url),
                tried.join(", ")
            ),
        })
    }
}

#[async_trait]
impl DnsProvider for PdnsProvider {
    fn name(&self) -> &'static str {
        KIND.name
    }

    async fn zone_for(&self, fqdn: &DnsName) -> Result<Option<Zone>, ProviderError> {
        if let Some(z) = self.zones.get(fqdn) {
            return Ok(Some(z));
        }
        let zone = self.lookup_zone(fqdn).await?;
        tracing::debug!(%fqdn, zone = %zone, "pdns: zone from the API");
        self.zones.insert(fqdn, &zone);
        Ok(Some(zone))
    }

    async fn publish(&self, zone: &Zone, set: &TxtSet) -> Result<Applied, ProviderError> {
        self.change(zone, set, Op::Add).await?;
        Ok(Applied::default())
    }

    async fn unpublish(&self, zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
        self.change(zone, set, Op::Remove).await
    }
}

/// The API's zone id for a name: canonical, trailing dot, `/` as `=2F`.
pub fn zone_id(name: &DnsName) -> String {
    name.to_fqdn().replace('/', "=2F")
}

/// TXT content as PowerDNS wants it: one quoted character-string per 255 bytes.
pub use wildcert_provider::record::quote_txt;

/// The value of TXT content: quoted strings joined, `\"`, `\\` and `\DDD` unescaped.
pub fn unquote_txt(content: &str) -> String {
    let content = content.trim();
    if !content.starts_with('"') {
        return content.to_string();
    }
    let mut out: Vec<u8> = Vec::new();
    let bytes = content.as_bytes();
    let mut in_quotes = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'"' => in_quotes = !in_quotes,
            b'\\' if in_quotes && i + 1 < bytes.len() => {
                let digits = &bytes[i + 1..bytes.len().min(i + 4)];
                if digits.len() == 3 && digits.iter().all(u8::is_ascii_digit) {
                    let n = digits
                        .iter()
                        .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
                    out.push(u8::try_from(n).unwrap_or(b'?'));
                    i += 3;
                } else {
                    out.push(bytes[i + 1]);
                    i += 1;
                }
            }
            _ if in_quotes => out.push(b),
            _ => {}
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The URL without user info, for messages.
fn display_url(url: &reqwest::Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

/// The server's message: the `error` field of a JSON body, or the trimmed text.
fn server_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct ErrorDoc {
        error: String,
    }
    let text = match serde_json::from_slice::<ErrorDoc>(body) {
        Ok(doc) => doc.error,
        Err(_) => String::from_utf8_lossy(body).trim().to_string(),
    };
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.is_empty() {
        return "(empty answer)".into();
    }
    if text.chars().count() > MESSAGE_LIMIT {
        let cut: String = text.chars().take(MESSAGE_LIMIT).collect();
        return format!("{cut}…");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_roundtrips() {
        assert_eq!(quote_txt("abc"), "\"abc\"");
        assert_eq!(unquote_txt("\"abc\""), "abc");
        assert_eq!(unquote_txt("\"a\\\"b\\\\c\""), "a\"b\\c");
        assert_eq!(unquote_txt("\"ab\" \"cd\""), "abcd");
        assert_eq!(unquote_txt("\"a\\032b\""), "a b");
        let long = "x".repeat(600);
        assert_eq!(unquote_txt(&quote_txt(&long)), long);
        assert_eq!(quote_txt(&long).matches('"').count(), 6);
    }

    #[test]
    fn urls_and_ids() {
        let name = DnsName::parse("Example.COM").expect("name");
        assert_eq!(zone_id(&name), "example.com.");
        let p = PdnsProvider::new(&PdnsSettings {
            api_url: Some("http://127.0.0.1:8081/api/v1".into()),
            api_key: Some(wildcert_provider::Secret::new("k")),
            ..Default::default()
        })
        .expect("provider");
        let z = Zone::new(name);
        assert_eq!(
            p.zone_url(&z, &["notify"]).as_str(),
            "http://127.0.0.1:8081/api/v1/servers/localhost/zones/example.com./notify"
        );
        assert!(!format!("{p:?}").contains("\"k\""));
    }

    #[test]
    fn server_messages() {
        assert_eq!(
            server_message(b"{\"error\": \"Not in expected format\"}"),
            "Not in expected format"
        );
        assert_eq!(server_message(b"Unauthorized\n"), "Unauthorized");
        assert_eq!(server_message(b""), "(empty answer)");
        assert!(server_message(&[b'x'; 1000]).ends_with('…'));
    }
}
