//! OVHcloud API v1 provider (`{base}/domain/zone/{zone}/record`, then `…/refresh`).
//!
//! OVH keeps every TXT value as its own record with an integer id. Publishing lists the TXT
//! record ids at the sub-domain (`?fieldType=TXT&subDomain=…`), reads each, and creates one
//! record per value that is missing; cleanup deletes by id exactly the records holding one of
//! our values. Changes reach OVH's nameservers only after `POST …/refresh`, sent after every
//! publish and cleanup. Requests are signed the OVH way (`X-Ovh-Signature` = `$1$` + SHA-1 of
//! secret, consumer key, method, URL, body and timestamp) with the server's clock, read once
//! from the unauthenticated `GET /auth/time` (a skewed local clock is OVH's most reported
//! failure); or carry an OAuth2 bearer token (client credentials) or a given access token.

pub mod settings;

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, RequestBuilder, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::{Mutex, OnceCell};
use wildcert_provider::api::{redact_url, server_message};
use wildcert_provider::http::{
    ClientBuilder, RateLimitBudget, Response, RetryPolicy, Verdict, default_verdict,
};
use wildcert_provider::record::unquote_txt;
use wildcert_provider::{
    Applied, DnsName, DnsProvider, ProviderError, Secret, TxtSet, Zone, ZoneCache,
};

pub use settings::{AppKeys, Credentials, ENDPOINTS, KIND, OvhConfig, OvhSettings, PROVIDER};

/// The OVH provider.
#[derive(Debug)]
pub struct OvhProvider {
    config: OvhConfig,
    client: reqwest::Client,
    policy: RetryPolicy,
    /// Server time minus local time, in seconds (from `GET /auth/time`, once).
    delta: OnceCell<i64>,
    /// The OAuth2 bearer token and when to fetch a new one.
    bearer: Mutex<Option<(Secret, Instant)>>,
    zones: ZoneCache,
}

/// A zone record (only what we use).
#[derive(Debug, Deserialize)]
struct Record {
    id: u64,
    #[serde(rename = "subDomain", default)]
    sub_domain: Option<String>,
    #[serde(default)]
    target: String,
}

/// An OAuth2 token answer (RFC 6749 §5.1).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<u64>,
}

/// OVH's request signature: `$1$` + hex SHA-1 of `AS+CK+METHOD+URL+BODY+TIMESTAMP`.
pub fn signature(secret: &str, ck: &str, method: &str, url: &str, body: &str, ts: i64) -> String {
    let text = format!("{secret}+{ck}+{method}+{url}+{body}+{ts}");
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, text.as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("$1${hex}")
}

/// The sub-domain OVH takes: the name relative to the zone, empty for the apex.
pub fn relative_name(name: &DnsName, zone: &DnsName) -> String {
    let rest = name.as_str().strip_suffix(zone.as_str());
    rest.unwrap_or(name.as_str())
        .trim_end_matches('.')
        .to_string()
}

fn now_secs() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH);
    since.map_or(0, |d| d.as_secs() as i64)
}

fn sensitive(value: &str) -> Result<HeaderValue, ProviderError> {
    let v = HeaderValue::from_str(value);
    let mut v = v.map_err(|_| other("a credential is not a valid HTTP header value".into()))?;
    v.set_sensitive(true);
    Ok(v)
}

fn other(message: String) -> ProviderError {
    ProviderError::Other {
        provider: KIND,
        message,
    }
}

fn auth(message: String) -> ProviderError {
    ProviderError::Auth {
        provider: KIND,
        message,
    }
}

fn parse<T: DeserializeOwned>(resp: &Response, what: &str) -> Result<T, ProviderError> {
    let parsed = serde_json::from_slice(&resp.body);
    parsed.map_err(|e| other(format!("cannot parse OVH's {what}: {e}")))
}

/// OVH's error code (`errorCode`, or known by its message in the newer `class` answers).
fn error_code(resp: &Response) -> String {
    let doc: Value = serde_json::from_slice(&resp.body).unwrap_or_default();
    let code = doc.get("errorCode").and_then(Value::as_str);
    let known = match server_message(&resp.body).as_str() {
        "Invalid signature" => "INVALID_SIGNATURE",
        "Query out of time" => "QUERY_TIME_OUT",
        "This call has not been granted" => "NOT_GRANTED_CALL",
        _ => "",
    };
    code.unwrap_or(known).to_owned()
}

impl OvhProvider {
    /// Build from settings (reads the secret files).
    pub fn new(settings: &OvhSettings) -> Result<Self, ProviderError> {
        Self::from_config(settings.validate()?)
    }

    /// Build from a validated configuration.
    pub fn from_config(config: OvhConfig) -> Result<Self, ProviderError> {
        let client = ClientBuilder::new(KIND, config.timeout).build()?;
        let budget = RateLimitBudget::new(config.rate_limit_wait, "rate_limit_wait");
        let (delta, bearer) = (OnceCell::new(), Mutex::new(None));
        let (policy, zones) = (RetryPolicy::new(KIND, budget), ZoneCache::default());
        let p = OvhProvider {
            config,
            client,
            policy,
            delta,
            bearer,
            zones,
        };
        Ok(p)
    }

    /// `base/segment/…`, each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> Url {
        let mut u = self.config.base_url.clone();
        if let Ok(mut p) = u.path_segments_mut() {
            p.pop_if_empty().extend(segments);
        }
        u
    }

    /// `base/domain/zone/{zone}/…`.
    fn zone_url(&self, zone: &Zone, tail: &[&str]) -> Url {
        let mut u = self.url(&["domain", "zone", zone.name.as_str()]);
        if let Ok(mut p) = u.path_segments_mut() {
            p.extend(tail);
        }
        u
    }

    /// One request through the retry policy, `make` building it afresh for every attempt
    /// (a fresh timestamp and signature each time).
    async fn send<F, Fut>(&self, url: &Url, make: F) -> Result<Response, ProviderError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<RequestBuilder, ProviderError>>,
    {
        let target = redact_url(url);
        let resp = self.policy.send(&target, make, default_verdict).await?;
        if default_verdict(&resp) == Verdict::Retry {
            let message = format!("HTTP {}: {}", resp.status, server_message(&resp.body));
            return Err(ProviderError::Unreachable {
                provider: KIND,
                target,
                message,
            });
        }
        Ok(resp)
    }

    /// Server time minus local time, asked once (`GET /auth/time` needs no credentials).
    async fn delta(&self) -> Result<i64, ProviderError> {
        let ask = || async {
            let url = self.url(&["auth", "time"]);
            let get = |_| async { Ok(self.client.get(url.clone())) };
            let server: i64 = parse(&self.send(&url, get).await?, "time (GET /auth/time)")?;
            let delta = server - now_secs();
            tracing::debug!(provider = KIND.name, delta, "OVH clock offset");
            Ok::<_, ProviderError>(delta)
        };
        self.delta.get_or_try_init(ask).await.copied()
    }

    /// An OAuth2 bearer token (client credentials, RFC 6749 §4.4, the client authenticated
    /// with HTTP Basic), fetched again a minute before it expires.
    async fn oauth_token(
        &self,
        id: &str,
        secret: &Secret,
        url: &Url,
    ) -> Result<Secret, ProviderError> {
        let mut cached = self.bearer.lock().await;
        if let Some((t, _)) = cached.as_ref().filter(|(_, until)| Instant::now() < *until) {
            return Ok(t.clone());
        }
        let resp = self
            .send(url, |_| async {
                let req = self
                    .client
                    .post(url.clone())
                    .basic_auth(id, Some(secret.expose()));
                let req = req.header(CONTENT_TYPE, "application/x-www-form-urlencoded");
                Ok(req.body("grant_type=client_credentials&scope=all"))
            })
            .await?;
        if !resp.is_success() {
            let (status, msg) = (resp.status, server_message(&resp.body));
            let message = format!(
                "OVH refused the OAuth2 client ({status} {msg}); check OVH_CLIENT_ID and OVH_CLIENT_SECRET"
            );
            return Err(if status < 500 {
                auth(message)
            } else {
                other(message)
            });
        }
        let answer: TokenAnswer = parse(&resp, "OAuth2 token")?;
        let life = answer.expires_in.unwrap_or(3600).saturating_sub(60).max(1);
        let token = Secret::new(answer.access_token);
        *cached = Some((token.clone(), Instant::now() + Duration::from_secs(life)));
        Ok(token)
    }

    /// A request with its credentials: signed with the server's time, or a bearer token.
    async fn request(
        &self,
        method: &Method,
        url: &Url,
        body: &str,
    ) -> Result<RequestBuilder, ProviderError> {
        let mut req = self.client.request(method.clone(), url.clone());
        if !body.is_empty() {
            req = req
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_owned());
        }
        let bearer = match &self.config.credentials {
            Credentials::Signed(k) => {
                let ts = now_secs() + self.delta().await?;
                let (s, c) = (k.application_secret.expose(), k.consumer_key.expose());
                let sig = signature(s, c, method.as_str(), url.as_str(), body, ts);
                let req = req.header("X-Ovh-Application", k.application_key.as_str());
                let req = req.header("X-Ovh-Timestamp", ts.to_string());
                let req = req.header("X-Ovh-Consumer", sensitive(c)?);
                return Ok(req.header("X-Ovh-Signature", sensitive(&sig)?));
            }
            Credentials::OAuth2(id, secret, url) => self.oauth_token(id, secret, url).await?,
            Credentials::Token(t) => t.clone(),
        };
        let value = sensitive(&format!("Bearer {}", bearer.expose()))?;
        Ok(req.header(AUTHORIZATION, value))
    }

    /// A non-2xx answer, phrased for the person fixing it: a wrong application key, a consumer
    /// key unknown or without the right, a bad signature and a skewed clock are told apart.
    async fn error(&self, resp: &Response, zone: Option<&Zone>) -> ProviderError {
        let (status, msg) = (resp.status, server_message(&resp.body));
        let why = match (status, error_code(resp).as_str()) {
            (400, "INVALID_SIGNATURE") => {
                "the signature does not match: wrong application secret or consumer key"
            }
            (400, "QUERY_TIME_OUT") => {
                "OVH refused the timestamp (the clock jumped during the run)"
            }
            (401, _) => "OVH did not accept the credentials",
            (403, "NOT_GRANTED_CALL") => {
                "not granted: allow GET, POST, DELETE on /domain/zone/<zone>/*"
            }
            (403, "INVALID_KEY") => "OVH does not know the application key at this endpoint",
            (403, "NOT_CREDENTIAL" | "INVALID_CREDENTIAL") => {
                "the consumer key is unknown, not validated yet or expired"
            }
            (403, _) => "OVH refused the call",
            (404, _) if zone.is_some() => {
                let zone = zone.map(ToString::to_string).unwrap_or_default();
                let message = format!("OVH has no such DNS zone in this account (404 {msg})");
                return ProviderError::ZoneNotFound {
                    provider: KIND,
                    zone,
                    message,
                };
            }
            (429, _) => {
                let retry_after = resp.retry_after();
                return ProviderError::RateLimited {
                    provider: KIND,
                    retry_after,
                };
            }
            (400 | 409 | 422, _) => {
                let message = format!("OVH refused the change ({status} {msg})");
                return ProviderError::Rejected {
                    provider: KIND,
                    message,
                };
            }
            _ => return other(format!("OVH answered HTTP {status}: {msg}")),
        };
        let vars = match self.config.credentials {
            Credentials::Signed(_) => {
                "OVH_APPLICATION_KEY, OVH_APPLICATION_SECRET, OVH_CONSUMER_KEY"
            }
            Credentials::OAuth2(..) => "OVH_CLIENT_ID, OVH_CLIENT_SECRET",
            Credentials::Token(_) => "OVH_ACCESS_TOKEN",
        };
        if status == 401 {
            *self.bearer.lock().await = None; // an expired OAuth2 token: fetch a new one
        }
        auth(format!(
            "{why} ({status} {msg}); check {vars} and OVH_ENDPOINT"
        ))
    }

    /// Send; a 2xx answer (or 404 when `gone_ok`) is returned, anything else mapped.
    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        zone: &Zone,
        gone_ok: bool,
    ) -> Result<Response, ProviderError> {
        let body = body.map(Value::to_string).unwrap_or_default();
        let resp = self
            .send(&url, |_| self.request(&method, &url, &body))
            .await?;
        match resp.status {
            200..=299 => Ok(resp),
            404 if gone_ok => Ok(resp),
            _ => Err(self.error(&resp, Some(zone)).await),
        }
    }

    /// The TXT records at `sub` in `zone`: the ids OVH lists (all at once), each read (the
    /// apex: every TXT id of the zone, kept when its sub-domain is empty).
    async fn txt_records(&self, zone: &Zone, sub: &str) -> Result<Vec<Record>, ProviderError> {
        let mut url = self.zone_url(zone, &["record"]);
        url.query_pairs_mut().append_pair("fieldType", "TXT");
        if !sub.is_empty() {
            url.query_pairs_mut().append_pair("subDomain", sub);
        }
        let resp = self.call(Method::GET, url, None, zone, false).await?;
        let ids: Vec<u64> = parse(&resp, "list of records")?;
        let mut out = Vec::new();
        for id in ids {
            let url = self.zone_url(zone, &["record", &id.to_string()]);
            let resp = self.call(Method::GET, url, None, zone, true).await?;
            if resp.status == 404 {
                continue; // deleted meanwhile
            }
            let r: Record = parse(&resp, "record")?;
            if r.sub_domain
                .as_deref()
                .unwrap_or_default()
                .eq_ignore_ascii_case(sub)
            {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// `POST /domain/zone/{zone}/refresh`: without it no change reaches the nameservers.
    async fn refresh(&self, zone: &Zone) -> Result<(), ProviderError> {
        let url = self.zone_url(zone, &["refresh"]);
        self.call(Method::POST, url, None, zone, false)
            .await
            .map(drop)
    }

    /// Check that every name of `set` lies in `zone`.
    fn inside(zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
        match set.names().find(|n| !n.is_within(&zone.name)) {
            Some(n) => Err(other(format!("{n} is not inside zone {}", zone.name))),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl DnsProvider for OvhProvider {
    fn name(&self) -> &'static str {
        KIND.name
    }

    async fn zone_for(&self, fqdn: &DnsName) -> Result<Option<Zone>, ProviderError> {
        if let Some(z) = self.zones.get(fqdn) {
            return Ok(Some(z));
        }
        let url = self.url(&["domain", "zone"]);
        let resp = self
            .send(&url, |_| self.request(&Method::GET, &url, ""))
            .await?;
        if resp.status == 403 && error_code(&resp) == "NOT_GRANTED_CALL" {
            // A consumer key limited to /domain/zone/<zone>/* may not list zones: use DNS.
            tracing::debug!(
                provider = KIND.name,
                "may not list zones; zone found through DNS"
            );
            return Ok(None);
        }
        if !resp.is_success() {
            return Err(self.error(&resp, None).await);
        }
        let names: Vec<String> = parse(&resp, "list of zones")?;
        let zones: Vec<DnsName> = names
            .iter()
            .filter_map(|n| DnsName::parse(n).ok())
            .collect();
        let Some(found) = fqdn.ancestors().find(|a| zones.contains(a)) else {
            let seen = wildcert_provider::name::zone_listing(&zones);
            let message =
                format!("no DNS zone of this OVH account contains {fqdn}; it has: {seen}");
            return Err(ProviderError::ZoneNotFound {
                provider: KIND,
                zone: fqdn.to_string(),
                message,
            });
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
        for (name, ours) in set.iter() {
            let sub = relative_name(name, &zone.name);
            let records = self.txt_records(zone, &sub).await?;
            let there: BTreeSet<String> = records.iter().map(|r| unquote_txt(&r.target)).collect();
            for value in ours.iter().filter(|v| !there.contains(*v)) {
                let body = json!({ "fieldType": "TXT", "subDomain": sub, "target": value,
                    "ttl": set.ttl });
                let url = self.zone_url(zone, &["record"]);
                self.call(Method::POST, url, Some(&body), zone, false)
                    .await?;
            }
        }
        // Always: a run that died between create and refresh left records OVH does not serve.
        self.refresh(zone).await?;
        Ok(Applied::default())
    }

    async fn unpublish(&self, zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
        Self::inside(zone, set)?;
        for (name, ours) in set.iter() {
            let sub = relative_name(name, &zone.name);
            for r in self.txt_records(zone, &sub).await? {
                if ours.contains(&unquote_txt(&r.target)) {
                    let url = self.zone_url(zone, &["record", &r.id.to_string()]);
                    self.call(Method::DELETE, url, None, zone, true).await?;
                }
            }
        }
        self.refresh(zone).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn signature_as_ovh_computes_it() {
        // python3 -c 'import hashlib; print(hashlib.sha1(
        //   b"AS+CK+GET+https://eu.api.ovh.com/1.0/domain/zone++1700000000").hexdigest())'
        let url = "https://eu.api.ovh.com/1.0/domain/zone";
        let s = signature("AS", "CK", "GET", url, "", 1_700_000_000);
        assert_eq!(s, "$1$09deb620e4cc90d8141187a1746e56af76db079a");
    }

    #[test]
    fn urls_and_no_secret_in_debug() {
        let p = OvhProvider::new(&OvhSettings {
            application_key: Some("ak".into()),
            application_secret: Some(Secret::new("as-hidden")),
            consumer_key: Some(Secret::new("ck-hidden")),
            base_url: Some("http://127.0.0.1:9/1.0".into()),
            ..Default::default()
        })
        .expect("provider");
        let zone = Zone::new(name("example.test"));
        let u = p.zone_url(&zone, &["record", "1"]);
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:9/1.0/domain/zone/example.test/record/1"
        );
        let shown = format!("{p:?}");
        assert!(
            !shown.contains("as-hidden") && !shown.contains("ck-hidden"),
            "{shown}"
        );
    }
}
