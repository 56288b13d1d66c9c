//! ClouDNS HTTP API provider (`{base}/dns/<method>.json`).
//!
//! ClouDNS authenticates every call by parameters (`auth-id` or `sub-auth-id`, and
//! `auth-password`). Every endpoint takes GET or POST; wildcert POSTs a form body, so the
//! password never appears in a URL (nor in a log line, a proxy's access log or an error).
//! ClouDNS answers failures with HTTP 200 and `{"status":"Failed","statusDescription":…}`:
//! `Invalid authentication…` (also for a caller outside the API user's allowed addresses),
//! `Missing domain-name` (no such zone), `Request blocked…` (more than 20 requests a second,
//! waited out by the shared retry policy). Each TXT value is its own record with an id:
//! publishing is one `add-record` per missing value; cleanup reads the zone's TXT records
//! (`records.json`, unpaged) and deletes by id exactly ours. The zone is the longest of the
//! account's zones (`list-zones.json`, every page) containing the name.

pub mod settings;

use async_trait::async_trait;
use serde_json::Value;
use wildcert_provider::http::{
    self, ClientBuilder, RateLimitBudget, Response, RetryPolicy, Verdict,
};
use wildcert_provider::record::unquote_txt;
use wildcert_provider::{
    Applied, DnsName, DnsProvider, ProviderError, ProviderTuning, TxtSet, Zone, ZoneCache,
};

pub use settings::{CloudnsConfig, CloudnsSettings, DEFAULT_BASE_URL, KIND, Login, PROVIDER};

/// Zones asked for per page of `list-zones.json` (ClouDNS's largest).
const ZONES_PER_PAGE: usize = 100;
/// Bound on the pages of the zone list.
const MAX_PAGES: u32 = 1000;
/// The TTLs ClouDNS takes, in seconds.
pub const TTLS: &[u32] = &[
    60, 300, 900, 1800, 3600, 21600, 43200, 86400, 172800, 259200, 604800, 1209600, 2592000,
];

/// The TTL ClouDNS keeps for `ttl`: the smallest allowed one that is not shorter.
pub fn cloudns_ttl(ttl: u32) -> u32 {
    TTLS.iter().copied().find(|t| *t >= ttl).unwrap_or(2592000)
}

/// The ClouDNS provider.
#[derive(Debug)]
pub struct CloudnsProvider {
    config: CloudnsConfig,
    client: reqwest::Client,
    policy: RetryPolicy,
    zones: ZoneCache,
}

/// A TXT record of `records.json` (only what we use).
#[derive(Debug, Clone)]
struct Record {
    id: String,
    host: String,
    value: String,
    active: bool,
}

/// ClouDNS's rate limit comes as HTTP 200 `Failed` `Request blocked…`.
fn verdict(r: &Response) -> Verdict {
    let blocked = failure(&r.body).is_some_and(|d| d.starts_with("Request blocked"));
    match blocked {
        true => Verdict::RateLimited("Request blocked".into()),
        false => http::default_verdict(r),
    }
}

/// The `statusDescription` of a `{"status":"Failed"}` answer.
fn failure(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    (v.get("status")?.as_str()? == "Failed").then(|| {
        let d = v.get("statusDescription").and_then(Value::as_str);
        d.unwrap_or("no description").chars().take(300).collect()
    })
}

/// The record name ClouDNS takes: relative to the zone, empty for the apex.
pub fn host(name: &DnsName, zone: &DnsName) -> String {
    match name.as_str().strip_suffix(zone.as_str()) {
        Some(rest) => rest.trim_end_matches('.').to_string(),
        None => name.as_str().to_string(),
    }
}

impl CloudnsProvider {
    /// Build from settings (reads the password file).
    pub fn new(settings: &CloudnsSettings) -> Result<Self, ProviderError> {
        let config = settings.validate()?;
        let client = ClientBuilder::new(KIND, config.timeout).build()?;
        let budget = RateLimitBudget::new(config.rate_limit_wait, "rate_limit_wait");
        Ok(CloudnsProvider {
            policy: RetryPolicy::new(KIND, budget),
            config,
            client,
            zones: ZoneCache::default(),
        })
    }

    /// POST `method` with `params` and the credentials as a form body; the answer's JSON, or
    /// the error its `Failed` status (or HTTP status) means.
    async fn call(
        &self,
        method: &str,
        params: &[(&str, &str)],
        zone: Option<&DnsName>,
    ) -> Result<Value, ProviderError> {
        let mut url = self.config.base_url.clone();
        if let Ok(mut p) = url.path_segments_mut() {
            p.pop_if_empty().extend(["dns", method]);
        }
        let mut form =
            reqwest::Url::parse("http://form.invalid/").map_err(|e| other(e.to_string()))?;
        {
            let mut q = form.query_pairs_mut();
            match &self.config.login {
                Login::User(id) => q.append_pair("auth-id", id),
                Login::SubUser(id) => q.append_pair("sub-auth-id", id),
            };
            q.append_pair("auth-password", self.config.password.expose());
            q.extend_pairs(params);
        }
        let body = form.query().unwrap_or_default().to_string();
        let req = self
            .client
            .post(url.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        tracing::debug!(provider = KIND.name, method, "request");
        let resp = self.policy.send_builder(url.as_str(), req, verdict).await?;
        self.answer(&resp, zone)
    }

    /// The JSON of an answer, or the error it means.
    fn answer(&self, resp: &Response, zone: Option<&DnsName>) -> Result<Value, ProviderError> {
        let provider = KIND;
        if !resp.is_success() {
            let message = format!("ClouDNS answered HTTP {}: {}", resp.status, resp.text());
            return Err(match resp.status {
                401 | 403 => ProviderError::Auth { provider, message },
                _ => ProviderError::Other { provider, message },
            });
        }
        let Some(desc) = failure(&resp.body) else {
            let v = serde_json::from_slice(&resp.body);
            return v.map_err(|e| other(format!("cannot parse ClouDNS's answer: {e}")));
        };
        let var = match self.config.login {
            Login::User(_) => "CLOUDNS_AUTH_ID",
            Login::SubUser(_) => "CLOUDNS_SUB_AUTH_ID",
        };
        Err(match desc.as_str() {
            d if d.starts_with("Invalid authentication") => ProviderError::Auth {
                provider,
                message: format!(
                    "ClouDNS refused the API user ({d}): check {var} and CLOUDNS_AUTH_PASSWORD, \
                     and that this host's address is among the API user's allowed IPs \
                     (ClouDNS answers an address outside them the same way)"
                ),
            },
            d if d.starts_with("Missing domain-name") => ProviderError::ZoneNotFound {
                provider,
                zone: zone.map(ToString::to_string).unwrap_or_default(),
                message: format!("ClouDNS has no such zone for this API user ({d})"),
            },
            d => ProviderError::Rejected {
                provider,
                message: format!("ClouDNS refused the change: {d}"),
            },
        })
    }

    /// Every zone the API user sees, page by page.
    async fn zone_names(&self) -> Result<Vec<DnsName>, ProviderError> {
        let mut out = Vec::new();
        let per = ZONES_PER_PAGE.to_string();
        for page in 1..=MAX_PAGES {
            let params = [("page", page.to_string()), ("rows-per-page", per.clone())];
            let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let v = self.call("list-zones.json", &params, None).await?;
            let items = v.as_array().cloned().unwrap_or_default();
            let name = |z: &Value| DnsName::parse(z.get("name")?.as_str()?).ok();
            out.extend(items.iter().filter_map(name));
            if items.len() < ZONES_PER_PAGE {
                return Ok(out);
            }
        }
        Err(other(format!(
            "the zone list has more than {MAX_PAGES} pages"
        )))
    }

    /// The TXT records of `zone` (ClouDNS answers `[]` for none, else an object by id).
    async fn txt_records(&self, zone: &Zone) -> Result<Vec<Record>, ProviderError> {
        let params = [("domain-name", zone.name.as_str()), ("type", "TXT")];
        let v = self.call("records.json", &params, Some(&zone.name)).await?;
        let Value::Object(map) = v else {
            return Ok(Vec::new());
        };
        let text = |r: &Value, k: &str| match r.get(k) {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => String::new(),
        };
        let txt = map
            .values()
            .filter(|r| text(r, "type").eq_ignore_ascii_case("TXT"));
        Ok(txt
            .map(|r| Record {
                id: text(r, "id"),
                host: text(r, "host").to_ascii_lowercase(),
                value: unquote_txt(&text(r, "record")),
                active: text(r, "status") != "0",
            })
            .collect())
    }
}

fn other(message: String) -> ProviderError {
    ProviderError::Other {
        provider: KIND,
        message,
    }
}

/// Check that every name of `set` lies in `zone`.
fn inside(zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
    match set.names().find(|n| !n.is_within(&zone.name)) {
        Some(n) => Err(other(format!("{n} is not inside zone {}", zone.name))),
        None => Ok(()),
    }
}

#[async_trait]
impl DnsProvider for CloudnsProvider {
    fn name(&self) -> &'static str {
        KIND.name
    }

    async fn zone_for(&self, fqdn: &DnsName) -> Result<Option<Zone>, ProviderError> {
        if let Some(z) = self.zones.get(fqdn) {
            return Ok(Some(z));
        }
        let names = self.zone_names().await?;
        let best = fqdn.ancestors().find(|a| names.contains(a));
        let name = best.ok_or_else(|| ProviderError::ZoneNotFound {
            provider: KIND,
            zone: fqdn.to_string(),
            message: format!(
                "no zone of this ClouDNS account contains {fqdn}; it has: {}",
                wildcert_provider::name::zone_listing(&names)
            ),
        })?;
        let zone = Zone::new(name);
        self.zones.insert(fqdn, &zone);
        Ok(Some(zone))
    }

    async fn publish(&self, zone: &Zone, set: &TxtSet) -> Result<Applied, ProviderError> {
        inside(zone, set)?;
        let there = self.txt_records(zone).await?;
        let ttl = cloudns_ttl(set.ttl).to_string();
        for (name, value) in set.pairs() {
            let host = host(name, &zone.name);
            if there
                .iter()
                .any(|r| r.active && r.host == host && r.value == value)
            {
                continue;
            }
            let params = [
                ("domain-name", zone.name.as_str()),
                ("record-type", "TXT"),
                ("host", host.as_str()),
                ("record", value),
                ("ttl", ttl.as_str()),
            ];
            self.call("add-record.json", &params, Some(&zone.name))
                .await?;
        }
        Ok(Applied::default())
    }

    async fn unpublish(&self, zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
        inside(zone, set)?;
        let there = self.txt_records(zone).await?;
        for (name, values) in set.iter() {
            let host = host(name, &zone.name);
            for r in there
                .iter()
                .filter(|r| r.host == host && values.contains(&r.value))
            {
                let params = [
                    ("domain-name", zone.name.as_str()),
                    ("record-id", r.id.as_str()),
                ];
                match self
                    .call("delete-record.json", &params, Some(&zone.name))
                    .await
                {
                    // Already gone: fine.
                    Err(ProviderError::Rejected { message, .. })
                        if message.contains("record-id") => {}
                    r => drop(r?),
                }
            }
        }
        Ok(())
    }

    fn tuning(&self) -> ProviderTuning {
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
    fn ttls_round_up_to_cloudns_values() {
        for (asked, kept) in [
            (1, 60),
            (60, 60),
            (61, 300),
            (600, 900),
            (3600, 3600),
            (u32::MAX, 2592000),
        ] {
            assert_eq!(cloudns_ttl(asked), kept, "{asked}");
        }
    }

    #[test]
    fn failures_and_hosts() {
        let blocked = br#"{"status":"Failed","statusDescription":"Request blocked. 1.2.3.4 is sending more than 20 requests per second."}"#;
        assert!(failure(blocked).is_some_and(|d| d.starts_with("Request blocked")));
        assert_eq!(
            failure(br#"{"status":"Success","statusDescription":"ok"}"#),
            None
        );
        assert_eq!(failure(b"[]"), None);
        let zone = DnsName::parse("example.com").expect("name");
        let at = |s: &str| host(&DnsName::parse(s).expect("name"), &zone);
        assert_eq!(at("example.com"), "");
        assert_eq!(at("_acme-challenge.a.example.com"), "_acme-challenge.a");
    }

    #[test]
    fn no_secret_in_debug() {
        let p = CloudnsProvider::new(&CloudnsSettings {
            auth_id: Some("1".into()),
            auth_password: Some(Secret::new("HIDDENPW")),
            ..Default::default()
        })
        .expect("provider");
        assert!(!format!("{p:?}").contains("HIDDENPW"));
    }
}
