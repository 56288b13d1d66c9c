//! Porkbun API v3 provider (`{base}/api/json/v3/dns/…`).
//!
//! Every Porkbun call is a `POST` whose JSON body carries the credentials (`apikey`,
//! `secretapikey`), so no request body is ever logged: log lines name the method and the URL
//! only. Porkbun keeps every TXT value as its own record with an id: publishing reads the
//! domain's records once (`/dns/retrieve/{domain}`) and creates each missing value
//! (`/dns/create/{domain}`); cleanup deletes by id (`/dns/delete/{domain}/{id}`) exactly the
//! records whose content is one of our values — never `deleteByNameType`, which would take the
//! foreign values at the name with it. The zone is the longest domain of the account
//! (`/domain/listAll`, 1,000 a call) that contains the name, unless `zone` names it. Porkbun
//! answers every refusal with HTTP 400 and `{"status":"ERROR","message":…}`: the message tells
//! an unknown key pair from a domain that is not opted in to API access. Its rate limit is an
//! HTML 503 (or an AWS WAF challenge), waited out like a 429. TTL is at least 600 s.

pub mod settings;

use std::collections::BTreeSet;

use async_trait::async_trait;
use reqwest::Url;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use wildcert_provider::api::server_message;
use wildcert_provider::http::{ClientBuilder, RateLimitBudget, Response, RetryPolicy, Verdict};
use wildcert_provider::record::unquote_txt;
use wildcert_provider::{
    Applied, DnsName, DnsProvider, ProviderError, ProviderTuning, TxtSet, Zone, ZoneCache,
};

pub use settings::{DEFAULT_BASE_URL, KIND, MIN_TTL, PROVIDER, PorkbunConfig, PorkbunSettings};

/// Domains `/domain/listAll` returns per call.
pub const LIST_CHUNK: usize = 1000;
/// Bound on the calls of one domain listing.
const MAX_CHUNKS: usize = 1000;

/// The Porkbun provider.
#[derive(Debug)]
pub struct PorkbunProvider {
    config: PorkbunConfig,
    api: Url,
    client: reqwest::Client,
    policy: RetryPolicy,
    zones: ZoneCache,
}

/// A DNS record as `/dns/retrieve` shows it (only what we use).
#[derive(Debug, Clone, Deserialize)]
struct Record {
    id: Value,
    name: String,
    #[serde(rename = "type")]
    rtype: String,
    #[serde(default)]
    content: String,
}

/// Porkbun's rate limit is an HTML 503 from its edge, or an AWS WAF challenge (202 with
/// `x-amzn-waf-action`); other 5xx are passing failures.
fn verdict(r: &Response) -> Verdict {
    match r.status {
        429 | 503 => Verdict::RateLimited(format!("HTTP {}", r.status)),
        202 if r.headers.contains_key("x-amzn-waf-action") => {
            Verdict::RateLimited("AWS WAF challenge".into())
        }
        500 | 502 | 504 => Verdict::Retry,
        _ => Verdict::Done,
    }
}

impl PorkbunProvider {
    /// Build from settings (reads the key files).
    pub fn new(settings: &PorkbunSettings) -> Result<Self, ProviderError> {
        Self::from_config(settings.validate()?)
    }

    /// Build from a validated configuration.
    pub fn from_config(config: PorkbunConfig) -> Result<Self, ProviderError> {
        let mut api = config.base_url.clone();
        if let Ok(mut p) = api.path_segments_mut() {
            p.pop_if_empty().extend(["api", "json", "v3"]);
        }
        let client = ClientBuilder::new(KIND, config.timeout)
            .follow_redirects(5)
            .build()?;
        let budget = RateLimitBudget::new(config.rate_limit_wait, "rate_limit_wait");
        let mut policy = RetryPolicy::new(KIND, budget);
        policy.rate_limit_note = Some("about one request per second per key");
        Ok(PorkbunProvider {
            config,
            api,
            client,
            policy,
            zones: ZoneCache::default(),
        })
    }

    /// `{base}/api/json/v3/segment/…`.
    fn url(&self, segments: &[&str]) -> Url {
        let mut u = self.api.clone();
        if let Ok(mut p) = u.path_segments_mut() {
            p.pop_if_empty().extend(segments);
        }
        u
    }

    /// `POST` `fields` plus the key pair to `segments`; the answer when Porkbun says
    /// `SUCCESS`, else the error phrased for the person fixing it. The body is never logged.
    async fn call(
        &self,
        segments: &[&str],
        fields: Value,
        zone: Option<&DnsName>,
    ) -> Result<Value, ProviderError> {
        let url = self.url(segments);
        let shown = url.to_string();
        let mut body = match fields {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        body.insert("apikey".into(), self.config.api_key.expose().into());
        body.insert(
            "secretapikey".into(),
            self.config.secret_api_key.expose().into(),
        );
        tracing::debug!(provider = KIND.name, url = %shown, "POST");
        let req = self.client.post(url).json(&body);
        let resp = self.policy.send_builder(&shown, req, verdict).await?;
        tracing::debug!(provider = KIND.name, url = %shown, status = resp.status, "answer");
        let doc: Option<Value> = serde_json::from_slice(&resp.body).ok();
        let ok = doc.as_ref().and_then(|d| d.get("status")?.as_str()) == Some("SUCCESS");
        match (resp.status, doc) {
            (200, Some(d)) if ok => Ok(d),
            _ => Err(self.error(&resp, zone)),
        }
    }

    /// A refusal, phrased for the person fixing it.
    fn error(&self, resp: &Response, zone: Option<&DnsName>) -> ProviderError {
        let msg = server_message(&resp.body);
        let low = msg.to_ascii_lowercase();
        let domain = zone.map_or_else(|| "the domain".to_string(), |z| z.to_string());
        let auth = |message: String| ProviderError::Auth {
            provider: KIND,
            message,
        };
        if low.contains("invalid api key") {
            return auth(format!(
                "Porkbun refused the key pair ({msg}): check api_key (PORKBUN_API_KEY) and \
                 secret_api_key (PORKBUN_SECRET_API_KEY); a deleted or mistyped key gives this"
            ));
        }
        if low.contains("not opted in to api access") {
            return auth(format!(
                "the keys are valid, but {domain} is not opted in to API access ({msg}): at \
                 porkbun.com open Domain Management, then {domain} → Details, and switch on \
                 \"API Access\""
            ));
        }
        if low.contains("invalid domain") {
            return ProviderError::ZoneNotFound {
                provider: KIND,
                zone: domain.clone(),
                message: format!(
                    "Porkbun has no domain {domain} in this account ({msg}); its API takes the \
                     registered domain only, not a subdomain"
                ),
            };
        }
        let status = resp.status;
        let message = format!("Porkbun answered HTTP {status}: {msg}");
        match status {
            401 | 403 => auth(format!(
                "{message}; check base_url (PORKBUN_API_URL): the API lives at {DEFAULT_BASE_URL}"
            )),
            s if s >= 500 => ProviderError::Unreachable {
                provider: KIND,
                target: self.api.to_string(),
                message,
            },
            400..=499 => ProviderError::Rejected {
                provider: KIND,
                message,
            },
            _ => ProviderError::Other {
                provider: KIND,
                message,
            },
        }
    }

    /// Every record of `zone`.
    async fn records(&self, zone: &DnsName) -> Result<Vec<Record>, ProviderError> {
        let doc = self
            .call(&["dns", "retrieve", zone.as_str()], json!({}), Some(zone))
            .await?;
        let items = doc
            .get("records")
            .cloned()
            .unwrap_or(Value::Array(Vec::new()));
        serde_json::from_value(items).map_err(|e| ProviderError::Other {
            provider: KIND,
            message: format!("cannot parse Porkbun's records of {zone}: {e}"),
        })
    }

    /// Our TXT records at `name` among `records`: (id, unquoted content).
    fn txt_at<'a>(
        records: &'a [Record],
        name: &'a DnsName,
    ) -> impl Iterator<Item = (String, String)> + 'a {
        let at = |r: &&Record| {
            r.rtype.eq_ignore_ascii_case("TXT")
                && r.name
                    .trim_end_matches('.')
                    .eq_ignore_ascii_case(name.as_str())
        };
        records.iter().filter(at).map(|r| {
            let id =
                r.id.as_str()
                    .map_or_else(|| r.id.to_string(), str::to_string);
            (id, unquote_txt(&r.content))
        })
    }

    /// Every domain of the account, 1,000 a call until an empty answer.
    async fn domains(&self) -> Result<Vec<DnsName>, ProviderError> {
        let mut out = Vec::new();
        for chunk in 0..MAX_CHUNKS {
            let start = (chunk * LIST_CHUNK).to_string();
            let fields = json!({ "start": start, "includeLabels": "no" });
            let doc = self.call(&["domain", "listAll"], fields, None).await?;
            let list = doc.get("domains").and_then(Value::as_array).cloned();
            let list = list.unwrap_or_default();
            if list.is_empty() {
                return Ok(out);
            }
            let name = |d: &Value| DnsName::parse(d.get("domain")?.as_str()?).ok();
            out.extend(list.iter().filter_map(name));
        }
        Err(ProviderError::Other {
            provider: KIND,
            message: format!(
                "the domain list has more than {} domains",
                MAX_CHUNKS * LIST_CHUNK
            ),
        })
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

/// The record name Porkbun takes: relative to the domain, empty for the apex.
pub fn relative_name(name: &DnsName, zone: &DnsName) -> String {
    match name.as_str().strip_suffix(zone.as_str()) {
        Some(rest) => rest.trim_end_matches('.').to_string(),
        None => name.as_str().to_string(),
    }
}

#[async_trait]
impl DnsProvider for PorkbunProvider {
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
                    "{fqdn} is not inside zone {z} (PORKBUN_ZONE)"
                )));
            }
            None => {
                let domains = self.domains().await?;
                let best = fqdn.ancestors().find(|a| domains.contains(a));
                best.ok_or_else(|| {
                    let seen = wildcert_provider::name::zone_listing(&domains);
                    not_found(format!(
                        "no domain of this Porkbun account contains {fqdn}; it has: {seen}"
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
        let records = self.records(&zone.name).await?;
        let ttl = set.ttl.max(MIN_TTL).to_string();
        for (name, ours) in set.iter() {
            let there: BTreeSet<String> = Self::txt_at(&records, name).map(|r| r.1).collect();
            for value in ours.iter().filter(|v| !there.contains(*v)) {
                let fields = json!({ "name": relative_name(name, &zone.name), "type": "TXT",
                    "content": value, "ttl": ttl });
                self.call(
                    &["dns", "create", zone.name.as_str()],
                    fields,
                    Some(&zone.name),
                )
                .await?;
            }
        }
        Ok(Applied::default())
    }

    async fn unpublish(&self, zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
        Self::inside(zone, set)?;
        let records = self.records(&zone.name).await?;
        for (name, ours) in set.iter() {
            for (id, _) in Self::txt_at(&records, name).filter(|r| ours.contains(&r.1)) {
                let path = ["dns", "delete", zone.name.as_str(), id.as_str()];
                self.call(&path, json!({}), Some(&zone.name)).await?;
            }
        }
        Ok(())
    }

    fn tuning(&self) -> ProviderTuning {
        // PORKBUN_TTL (600) and PORKBUN_PROPAGATION_TIMEOUT (600 s) unless the run sets them.
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
    use reqwest::header::HeaderMap;
    use wildcert_provider::Secret;

    fn name(s: &str) -> DnsName {
        DnsName::parse(s).expect("name")
    }

    fn provider() -> PorkbunProvider {
        PorkbunProvider::new(&PorkbunSettings {
            api_key: Some(Secret::new("pk1_hidden")),
            secret_api_key: Some(Secret::new("sk1_hidden")),
            base_url: Some("http://127.0.0.1:9/api/json/v3".into()),
            ..Default::default()
        })
        .expect("provider")
    }

    fn answer(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: HeaderMap::new(),
            body: body.as_bytes().to_vec(),
            attempts: 1,
        }
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
    fn urls_and_no_secret_in_debug() {
        let p = provider();
        let u = p.url(&["dns", "retrieve", "example.com"]);
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:9/api/json/v3/dns/retrieve/example.com"
        );
        let dbg = format!("{p:?}");
        assert!(
            !dbg.contains("sk1_hidden") && !dbg.contains("pk1_hidden"),
            "{dbg}"
        );
        assert_eq!(p.tuning().ttl, Some(600));
    }

    #[test]
    fn refusals_are_told_apart() {
        let p = provider();
        let z = name("example.com");
        let e = p.error(
            &answer(
                400,
                r#"{"status":"ERROR","message":"Invalid API key. (002)"}"#,
            ),
            None,
        );
        assert!(
            matches!(e, ProviderError::Auth { .. })
                && e.to_string().contains("PORKBUN_SECRET_API_KEY")
        );
        let body = r#"{"status":"ERROR","message":"Domain is not opted in to API access."}"#;
        let e = p.error(&answer(400, body), Some(&z));
        assert!(matches!(e, ProviderError::Auth { .. }), "{e:?}");
        assert!(e.to_string().contains("API Access") && e.to_string().contains("example.com"));
        let e = p.error(
            &answer(400, r#"{"status":"ERROR","message":"Invalid domain."}"#),
            Some(&z),
        );
        assert!(matches!(e, ProviderError::ZoneNotFound { .. }), "{e:?}");
        let e = p.error(
            &answer(400, r#"{"status":"ERROR","message":"Bad content."}"#),
            Some(&z),
        );
        assert!(matches!(e, ProviderError::Rejected { .. }), "{e:?}");
        let e = p.error(&answer(403, "<html>403 Forbidden</html>"), None);
        assert!(e.to_string().contains("PORKBUN_API_URL"), "{e}");
        let mut waf = answer(202, "");
        waf.headers
            .insert("x-amzn-waf-action", "challenge".parse().expect("value"));
        assert!(matches!(verdict(&waf), Verdict::RateLimited(_)));
        assert!(matches!(
            verdict(&answer(503, "<html>")),
            Verdict::RateLimited(_)
        ));
        assert_eq!(verdict(&answer(200, "{}")), Verdict::Done);
    }
}
