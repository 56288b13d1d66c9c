//! netcup provider: the CCP DNS API (`https://ccp.netcup.net/run/webservice/servers/endpoint.php?JSON`).
//!
//! One endpoint takes every call as `POST {"action": …, "param": {…}}` and answers HTTP 200
//! with `{"status", "statuscode", "shortmessage", "longmessage", "responsedata"}` whether it
//! worked or not. A change is one session: `login` (customer number, API key, API password) →
//! `apisessionid`; `infoDnsZone` (the zone exists for this customer), `infoDnsRecords` (every
//! record of the zone; `5029` when it has none), `updateDnsRecords` with only the records to
//! add (no `id`) or to delete (`id` + `deleterecord`: netcup leaves records not listed alone);
//! then `logout`, also when a step failed. A session that netcup ends early (`4001`, a known
//! netcup fault) is renewed once.
//!
//! netcup allows 180 requests a minute and says so in a `4013` answer, which is waited out
//! like an HTTP 429 (within `rate_limit_wait`). netcup loads a changed zone into its
//! nameservers only about every 10 minutes, so the propagation wait defaults to 15 minutes.
//! The zone is found through DNS: netcup's API lists a customer's domains only to resellers.

pub mod settings;

use std::collections::BTreeSet;

use async_trait::async_trait;
use serde_json::{Map, Value, json};
use wildcert_provider::api::{redact_url, server_message};
use wildcert_provider::http::{
    ClientBuilder, RateLimitBudget, Response, RetryPolicy, Verdict, default_verdict,
};
use wildcert_provider::record::unquote_txt;
use wildcert_provider::{Applied, DnsName, DnsProvider, ProviderError, ProviderTuning};
use wildcert_provider::{Secret, TxtSet, Zone, ZoneLocks};

pub use settings::{
    DEFAULT_BASE_URL, DEFAULT_PROPAGATION_TIMEOUT, KIND, NetcupConfig, NetcupSettings, PROVIDER,
    ZONE_RELOAD,
};

/// The words of netcup's rate-limit answer (`4013`, "More than 180 requests per minute. …").
const RATE_LIMITED: &str = "requests per minute";
/// The status code of a session netcup no longer knows.
const SESSION_GONE: i64 = 4001;
/// The status code of `infoDnsRecords` for a zone without records.
const NO_RECORDS: i64 = 5029;

/// The netcup provider.
#[derive(Debug)]
pub struct NetcupProvider {
    config: NetcupConfig,
    client: reqwest::Client,
    policy: RetryPolicy,
    locks: ZoneLocks,
}

/// An answer whose `status` is not `success`: netcup's status code and words.
#[derive(Debug)]
struct Refusal {
    code: i64,
    said: String,
}

/// A call's outcome: `responsedata`, or netcup's refusal (errors of the transport are outside).
type Answer = Result<Value, Refusal>;

fn other(message: String) -> ProviderError {
    ProviderError::Other {
        provider: KIND,
        message,
    }
}

/// The classifier of the retry policy: HTTP 429/5xx as usual, and netcup's rate-limit answer
/// (HTTP 200) waited out like a 429.
fn verdict(r: &Response) -> Verdict {
    let v = default_verdict(r);
    let msg = serde_json::from_slice::<Value>(&r.body).ok();
    let long = msg.as_ref().and_then(|m| m["longmessage"].as_str());
    match long {
        Some(l) if v == Verdict::Done && l.contains(RATE_LIMITED) => {
            Verdict::RateLimited("180 requests a minute".into())
        }
        _ => v,
    }
}

impl NetcupProvider {
    /// Build from settings (reads the secret files).
    pub fn new(settings: &NetcupSettings) -> Result<Self, ProviderError> {
        Self::from_config(settings.validate()?)
    }

    /// Build from a validated configuration.
    pub fn from_config(config: NetcupConfig) -> Result<Self, ProviderError> {
        let client = ClientBuilder::new(KIND, config.timeout).build()?;
        let budget = RateLimitBudget::new(config.rate_limit_wait, "rate_limit_wait");
        let mut policy = RetryPolicy::new(KIND, budget);
        policy.cap = std::time::Duration::from_secs(15);
        policy.rate_limit_note = Some("netcup allows 180 requests a minute");
        let locks = ZoneLocks::default();
        Ok(NetcupProvider {
            config,
            client,
            policy,
            locks,
        })
    }

    /// One action: its `responsedata`, or netcup's refusal. The credentials (and the session)
    /// go into `param`; nothing of the body is logged.
    async fn call(
        &self,
        action: &str,
        mut param: Map<String, Value>,
        session: Option<&Secret>,
    ) -> Result<Answer, ProviderError> {
        let c = &self.config;
        param.insert("customernumber".into(), json!(c.customer_number));
        param.insert("apikey".into(), json!(c.api_key.expose()));
        match session {
            Some(s) => param.insert("apisessionid".into(), json!(s.expose())),
            None => param.insert("apipassword".into(), json!(c.api_password.expose())),
        };
        let body = json!({ "action": action, "param": param });
        let req = self.client.post(c.endpoint.clone()).json(&body);
        let target = redact_url(&c.endpoint);
        let resp = self.policy.send_builder(&target, req, verdict).await?;
        let doc = serde_json::from_slice::<Value>(&resp.body).unwrap_or_default();
        if !resp.is_success() || !doc["status"].is_string() {
            let (status, msg) = (resp.status, server_message(&resp.body));
            let message = format!("{target} answered HTTP {status} to {action}: {msg}");
            return Err(match status {
                401 | 403 => ProviderError::Auth {
                    provider: KIND,
                    message,
                },
                _ => other(message + " (is base_url / NETCUP_API_URL the CCP JSON endpoint?)"),
            });
        }
        let code = doc["statuscode"].as_i64().unwrap_or_default();
        tracing::debug!(provider = "netcup", action, statuscode = code, "answer");
        if doc["status"] == "success" {
            return Ok(Ok(doc["responsedata"].clone()));
        }
        let words = |k: &str| doc[k].as_str().unwrap_or_default().trim().to_string();
        let said = format!("{code}: {} {}", words("shortmessage"), words("longmessage"));
        Ok(Err(Refusal {
            code,
            said: said.trim().chars().take(300).collect(),
        }))
    }

    /// `login`: a new session id (a secret: never logged, never in an error).
    async fn login(&self) -> Result<Secret, ProviderError> {
        let data = self.call("login", Map::new(), None).await?.map_err(|r| {
            let message = format!(
                "netcup refused the login of customer {} ({}); netcup gives this answer to a wrong \
                 customer number (NETCUP_CUSTOMER_NUMBER), API key (NETCUP_API_KEY) or API password \
                 (NETCUP_API_PASSWORD)",
                self.config.customer_number, r.said
            );
            ProviderError::Auth { provider: KIND, message }
        })?;
        let id = data["apisessionid"].as_str().filter(|s| !s.is_empty());
        id.map(Secret::new)
            .ok_or_else(|| other("netcup's login answer has no apisessionid".into()))
    }

    /// An action in the session; a session netcup ended early (`4001`) is renewed once.
    async fn in_session(
        &self,
        session: &mut Secret,
        action: &str,
        param: Value,
    ) -> Result<Answer, ProviderError> {
        let param = param.as_object().cloned().unwrap_or_default();
        match self.call(action, param.clone(), Some(session)).await? {
            Err(r) if r.code == SESSION_GONE => {
                tracing::info!(
                    "netcup: the API session ended early ({}); logging in again",
                    r.said
                );
                *session = self.login().await?;
                match self.call(action, param, Some(session)).await? {
                    Err(r) if r.code == SESSION_GONE => Err(ProviderError::Auth {
                        provider: KIND,
                        message: format!("netcup ended a new API session at once ({})", r.said),
                    }),
                    done => Ok(done),
                }
            }
            done => Ok(done),
        }
    }

    /// `logout`; a failure is only logged (the session expires by itself).
    async fn logout(&self, session: &Secret) {
        match self.call("logout", Map::new(), Some(session)).await {
            Ok(Ok(_)) => tracing::debug!("netcup: logged out"),
            Ok(Err(r)) => tracing::warn!("netcup: logout refused ({})", r.said),
            Err(e) => tracing::warn!("netcup: logout failed: {e}"),
        }
    }

    /// Log in, add or remove `set` in `zone`, and log out whatever happened.
    async fn change(&self, zone: &Zone, set: &TxtSet, add: bool) -> Result<usize, ProviderError> {
        let mut wanted = Vec::new();
        for (name, values) in set.iter() {
            wanted.push((hostname(name, &zone.name)?, values));
        }
        let _guard = self.locks.lock(zone).await;
        let mut session = self.login().await?;
        let result = self.change_in(&mut session, zone, &wanted, add).await;
        self.logout(&session).await;
        result
    }

    /// The session's part of [`NetcupProvider::change`]: the number of records sent.
    async fn change_in(
        &self,
        session: &mut Secret,
        zone: &Zone,
        wanted: &[(String, &BTreeSet<String>)],
        add: bool,
    ) -> Result<usize, ProviderError> {
        let domain = json!({ "domainname": zone.name.as_str() });
        if let Err(r) = self
            .in_session(session, "infoDnsZone", domain.clone())
            .await?
        {
            let message = format!(
                "netcup has no DNS zone {zone} for customer {} ({}); netcup's API lists domains only \
                 to resellers: check the domain in the CCP",
                self.config.customer_number, r.said
            );
            let zone = zone.to_string();
            return Err(ProviderError::ZoneNotFound {
                provider: KIND,
                zone,
                message,
            });
        }
        let data = match self.in_session(session, "infoDnsRecords", domain).await? {
            Ok(d) => d,
            Err(r) if r.code == NO_RECORDS => Value::Null,
            Err(r) => {
                return Err(other(format!(
                    "netcup did not list the records of {zone} ({})",
                    r.said
                )));
            }
        };
        let current = data["dnsrecords"].as_array().cloned().unwrap_or_default();
        let text = |r: &Value, k: &str| r[k].as_str().unwrap_or_default().to_string();
        let mut changes = Vec::new();
        for (host, values) in wanted {
            for v in values.iter() {
                let ours = |r: &&Value| {
                    let dest = text(r, "destination");
                    text(r, "type").eq_ignore_ascii_case("TXT")
                        && text(r, "hostname").eq_ignore_ascii_case(host)
                        && (dest == *v || unquote_txt(&dest) == *v)
                };
                let mut held = current.iter().filter(ours).peekable();
                if add && held.peek().is_none() {
                    changes.push(json!({ "hostname": host, "type": "TXT", "destination": v }));
                } else if !add {
                    changes.extend(held.map(|r| {
                        json!({ "id": r["id"], "hostname": r["hostname"],
                        "type": r["type"], "destination": r["destination"], "deleterecord": true })
                    }));
                }
            }
        }
        if changes.is_empty() {
            return Ok(0);
        }
        let n = changes.len();
        let param =
            json!({ "domainname": zone.name.as_str(), "dnsrecordset": { "dnsrecords": changes } });
        match self.in_session(session, "updateDnsRecords", param).await? {
            Ok(_) => Ok(n),
            Err(r) => {
                let message = format!("netcup refused the change of {zone} ({})", r.said);
                Err(ProviderError::Rejected {
                    provider: KIND,
                    message,
                })
            }
        }
    }
}

/// The netcup hostname of `name` in `zone`: relative, lower case, `@` for the apex.
fn hostname(name: &DnsName, zone: &DnsName) -> Result<String, ProviderError> {
    if !name.is_within(zone) {
        return Err(other(format!("{name} is not inside zone {zone}")));
    }
    let (full, zone) = (
        name.as_str().to_ascii_lowercase(),
        zone.as_str().to_ascii_lowercase(),
    );
    let rel = full.strip_suffix(&zone).unwrap_or_default();
    let rel = rel.trim_end_matches('.');
    Ok(if rel.is_empty() {
        "@".into()
    } else {
        rel.into()
    })
}

#[async_trait]
impl DnsProvider for NetcupProvider {
    fn name(&self) -> &'static str {
        KIND.name
    }

    async fn publish(&self, zone: &Zone, set: &TxtSet) -> Result<Applied, ProviderError> {
        let added = self.change(zone, set, true).await?;
        tracing::info!(
            "netcup: {added} TXT value(s) added to {zone}; netcup loads a changed zone into its nameservers \
             about every {} minutes, so the wait may take that long (propagation_timeout, {} s by default)",
            ZONE_RELOAD.as_secs() / 60,
            DEFAULT_PROPAGATION_TIMEOUT
        );
        Ok(Applied::default())
    }

    async fn unpublish(&self, zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
        let removed = self.change(zone, set, false).await?;
        tracing::debug!(zone = %zone, removed, "netcup: TXT values removed");
        Ok(())
    }

    fn credential_source(&self) -> Option<String> {
        Some(format!(
            "customer {} with an API key and API password",
            self.config.customer_number
        ))
    }

    fn tuning(&self) -> ProviderTuning {
        // NETCUP_PROPAGATION_TIMEOUT (900 s) unless the run sets its own; netcup has no
        // per-record TTL (the zone's TTL applies), so none is asked for.
        ProviderTuning {
            propagation_timeout: Some(self.config.propagation_timeout),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> DnsName {
        DnsName::parse(s).expect("name")
    }

    #[test]
    fn hostnames_are_relative() {
        let zone = name("example.com");
        let host = |n: &str| hostname(&name(n), &zone).ok();
        assert_eq!(
            host("_acme-challenge.example.com").as_deref(),
            Some("_acme-challenge")
        );
        assert_eq!(
            host("_acme-challenge.WWW.example.com").as_deref(),
            Some("_acme-challenge.www")
        );
        assert_eq!(host("example.com").as_deref(), Some("@"));
        assert!(host("x.example.org").is_none() && host("xexample.com").is_none());
    }

    #[test]
    fn rate_limit_answers_are_told_apart() {
        let resp = |status: u16, body: Value| Response {
            status,
            headers: Default::default(),
            body: body.to_string().into_bytes(),
            attempts: 1,
        };
        let limited = json!({ "status": "error", "statuscode": 4013, "shortmessage": "Validation Error.",
            "longmessage": "More than 180 requests per minute. Please wait and retry later." });
        assert!(matches!(
            verdict(&resp(200, limited)),
            Verdict::RateLimited(_)
        ));
        let refused = json!({ "status": "error", "statuscode": 4013, "longmessage": "Value in field domainname" });
        assert_eq!(verdict(&resp(200, refused)), Verdict::Done);
        assert!(matches!(
            verdict(&resp(429, json!({}))),
            Verdict::RateLimited(_)
        ));
        assert_eq!(verdict(&resp(502, json!({}))), Verdict::Retry);
    }
}
