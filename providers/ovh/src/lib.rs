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
use reqwest::{Method, Url};
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

pub use settings::{Credentials, ENDPOINTS, KIND, OvhConfig, OvhSettings, PROVIDER};

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
#[derive(Debug, Clone, Deserialize)]
struct Record {
    id: u64,
    #[serde(rename = "subDomain", default)]
    sub_domain: Option<String>,
    #[serde(default)]
    target: String,
}

/// OVH's request signature: `$1$` + hex SHA-1 of `AS+CK+METHOD+URL+BODY+TIMESTAMP`.
pub fn signature(
    secret: &str,
    consumer: &str,
    method: &str,
    url: &str,
    body: &str,
    ts: i64,
) -> String {
    let text = format!("{secret}+{consumer}+{method}+{url}+{body}+{ts}");
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, text.as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("$1${hex}")
}

/// The sub-domain OVH takes: the name relative to the zone, empty for the apex.
pub fn relative_name(name: &DnsName, zone: &DnsName) -> String {
    match name.as_str().strip_suffix(zone.as_str()) {
        Some(rest) => rest.trim_end_matches('.').to_string(),
        None => name.as_str().to_string(),
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn sensitive(value: &str) -> Result<HeaderValue, ProviderError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| ProviderError::Config {
        provider: KIND,
        message: "a credential is not a valid HTTP header value".into(),
    })?;
    v.set_sensitive(true);
    Ok(v)
}

fn other(message: String) -> ProviderError {
    ProviderError::Other {
        provider: KIND,
        message,
    }
}

/// OVH's error code (`errorCode`, or known by its message in the newer `class` answers).
fn error_code(resp: &Response) -> String {
    let doc: Value = serde_json::from_slice(&resp.body).unwrap_or_default();
    if let Some(c) = doc.get("errorCode").and_then(Value::as_str) {
        return c.to_owned();
    }
    match server_message(&resp.body).as_str() {
        "Invalid signature" => "INVALID_SIGNATURE",
        "Query out of time" => "QUERY_TIME_OUT",
        "This call has not been granted" => "NOT_GRANTED_CALL",
        _ => "",
    }
    .to_owned()
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
        Ok(OvhProvider {
            policy: RetryPolicy::new(KIND, budget),
            config,
            client,
            delta: OnceCell::new(),
            bearer: Mutex::new(None),
            zones: ZoneCache::default(),
        })
    }

    /// `base/segment/…`, each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> Url {
        let mut u = self.config.base_url.clone();
        if let Ok(mut p) = u.path_segments_mut() {
            p.pop_if_empty().extend(segments);
        }
        u
    }

    /// One request through the retry policy, `make` building it afresh for every attempt.
    async fn through_policy<F, Fut>(&self, url: &Url, make: F) -> Result<Response, ProviderError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<reqwest::RequestBuilder, ProviderError>>,
    {
        let shown = redact_url(url);
        let resp = self.policy.send(&shown, make, default_verdict).await?;
        if default_verdict(&resp) == Verdict::Retry {
            return Err(ProviderError::Unreachable {
                provider: KIND,
                target: shown,
                message: format!("HTTP {}: {}", resp.status, server_message(&resp.body)),
            });
        }
        Ok(resp)
    }

    /// Server time minus local time, asked once (`GET /auth/time` needs no credentials).
    async fn delta(&self) -> Result<i64, ProviderError> {
        let ask = || async {
            let url = self.url(&["auth", "time"]);
            let resp = self
                .through_policy(&url, |_| async { Ok(self.client.get(url.clone())) })
                .await?;
            let server: i64 = serde_json::from_slice(&resp.body).map_err(|e| {
                other(format!(
                    "GET /auth/time answered {}: not a time ({e})",
                    resp.status
                ))
            })?;
            let delta = server - now_secs();
            tracing::debug!(provider = KIND.name, delta, "OVH clock offset");
            Ok::<_, ProviderError>(delta)
        };
        self.delta.get_or_try_init(ask).await.copied()
    }

    /// An OAuth2 bearer token (client credentials), fetched again a minute before it expires.
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
        // RFC 6749 §4.4, the client authenticated with HTTP Basic (§2.3.1).
        let form = "grant_type=client_credentials&scope=all";
        let resp = self
            .through_policy(url, |_| async {
                let req = self.client.post(url.clone()).body(form);
                let req = req.basic_auth(id, Some(secret.expose()));
                Ok(req.header(CONTENT_TYPE, "application/x-www-form-urlencoded"))
            })
            .await?;
        let doc: Value = serde_json::from_slice(&resp.body).unwrap_or_default();
        let token = doc.get("access_token").and_then(Value::as_str);
        let Some(token) = token.filter(|_| resp.is_success()) else {
            let why = doc.get("error_description").and_then(Value::as_str);
            let message = format!(
                "OVH refused the OAuth2 client ({} {}{}); check client_id / client_secret (OVH_CLIENT_ID / OVH_CLIENT_SECRET)",
                resp.status,
                server_message(&resp.body),
                why.map(|w| format!(": {w}")).unwrap_or_default()
            );
            return Err(match resp.status {
                400 | 401 | 403 => ProviderError::Auth {
                    provider: KIND,
                    message,
                },
                _ => other(message),
            });
        };
        let life = doc
            .get("expires_in")
            .and_then(Value::as_u64)
            .unwrap_or(3600);
        let until = Instant::now() + Duration::from_secs(life.saturating_sub(60).max(1));
        *cached = Some((Secret::new(token), until));
        Ok(Secret::new(token))
    }

    /// A request with its credentials: signed with the server's time, or a bearer token.
    async fn request(
        &self,
        method: &Method,
        url: &Url,
        body: &str,
    ) -> Result<reqwest::RequestBuilder, ProviderError> {
        let mut req = self.client.request(method.clone(), url.clone());
        if !body.is_empty() {
            req = req
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_owned());
        }
        let bearer = match &self.config.credentials {
            Credentials::Signed {
                application_key,
                application_secret,
                consumer_key,
            } => {
                let ts = now_secs() + self.delta().await?;
                let (s, c) = (application_secret.expose(), consumer_key.expose());
                let sig = signature(s, c, method.as_str(), url.as_str(), body, ts);
                return Ok(req
                    .header("X-Ovh-Application", application_key.as_str())
                    .header("X-Ovh-Timestamp", ts.to_string())
                    .header("X-Ovh-Consumer", sensitive(c)?)
                    .header("X-Ovh-Signature", sensitive(&sig)?));
            }
            Credentials::OAuth2 {
                client_id,
                client_secret,
                token_url,
            } => {
                self.oauth_token(client_id, client_secret, token_url)
                    .await?
            }
            Credentials::Token(t) => t.clone(),
        };
        Ok(req.header(
            AUTHORIZATION,
            sensitive(&format!("Bearer {}", bearer.expose()))?,
        ))
    }

    /// Which settings hold the credentials, for messages.
    fn credential_vars(&self) -> &'static str {
        match self.config.credentials {
            Credentials::Signed { .. } => {
                "OVH_APPLICATION_KEY, OVH_APPLICATION_SECRET and OVH_CONSUMER_KEY"
            }
            Credentials::OAuth2 { .. } => "OVH_CLIENT_ID and OVH_CLIENT_SECRET",
            Credentials::Token(_) => "OVH_ACCESS_TOKEN",
        }
    }

    /// A non-2xx answer, phrased for the person fixing it: a wrong key, a consumer key that
    /// may not do this, a bad signature and a skewed clock are told apart.
    async fn error(&self, resp: &Response, zone: Option<&Zone>) -> ProviderError {
        let msg = server_message(&resp.body);
        let (status, vars) = (resp.status, self.credential_vars());
        let auth = |message: String| ProviderError::Auth {
            provider: KIND,
            message,
        };
        match (status, error_code(resp).as_str()) {
            (400, "INVALID_SIGNATURE") => auth(format!(
                "OVH refused the request's signature (400 {msg}): the application secret or the consumer key \
                 does not belong to the application key; check {vars}"
            )),
            (400, "QUERY_TIME_OUT") => auth(format!(
                "OVH refused the request's timestamp (400 {msg}): the clock moved by more than OVH allows during the run"
            )),
            (401, _) => {
                // An expired OAuth2 token is fetched again by the next request.
                *self.bearer.lock().await = None;
                auth(format!(
                    "OVH did not accept the credentials (401 {msg}); check {vars}"
                ))
            }
            (403, "NOT_GRANTED_CALL") => auth(format!(
                "the credentials may not do this (403 {msg}): the consumer key (or IAM policy) needs \
                 GET, POST and DELETE on /domain/zone/* (or at least /domain/zone/<zone>/*)"
            )),
            (403, "INVALID_KEY") => auth(format!(
                "OVH does not know the application key (403 {msg}); check OVH_APPLICATION_KEY and the endpoint (OVH_ENDPOINT)"
            )),
            (403, "NOT_CREDENTIAL" | "INVALID_CREDENTIAL") => auth(format!(
                "the consumer key is unknown, not validated yet or expired (403 {msg}); check OVH_CONSUMER_KEY"
            )),
            (403, _) => auth(format!("OVH refused the call (403 {msg}); check {vars}")),
            (404, _) if zone.is_some() => ProviderError::ZoneNotFound {
                provider: KIND,
                zone: zone.map(|z| z.to_string()).unwrap_or_default(),
                message: format!("OVH has no such DNS zone in this account (404 {msg})"),
            },
            (429, _) => ProviderError::RateLimited {
                provider: KIND,
                retry_after: resp.retry_after(),
            },
            (400 | 409 | 422, _) => ProviderError::Rejected {
                provider: KIND,
                message: format!("OVH refused the change ({status} {msg})"),
            },
            _ => other(format!(
                "{} answered HTTP {status}: {msg}",
                redact_url(&self.config.base_url)
            )),
        }
    }

    /// Send; a 2xx answer (or 404 when `gone_ok`) is returned, anything else mapped.
    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        zone: Option<&Zone>,
        gone_ok: bool,
    ) -> Result<Response, ProviderError> {
        let body = body.map(Value::to_string).unwrap_or_default();
        let resp = self
            .through_policy(&url, |_| self.request(&method, &url, &body))
            .await?;
        match resp.status {
            s if (200..300).contains(&s) => Ok(resp),
            404 if gone_ok => Ok(resp),
            _ => Err(self.error(&resp, zone).await),
        }
    }

    /// [`OvhProvider::call`] and parse the answer.
    async fn json<T: DeserializeOwned>(
        &self,
        url: Url,
        zone: Option<&Zone>,
    ) -> Result<T, ProviderError> {
        let resp = self.call(Method::GET, url, None, zone, false).await?;
        serde_json::from_slice(&resp.body)
            .map_err(|e| other(format!("cannot parse OVH's answer: {e}")))
    }

    /// The TXT records at `sub` in `zone`: the ids OVH lists, each read (the apex: every TXT
    /// id of the zone, kept when its sub-domain is empty).
    async fn txt_records(&self, zone: &Zone, sub: &str) -> Result<Vec<Record>, ProviderError> {
        let mut url = self.url(&["domain", "zone", zone.name.as_str(), "record"]);
        url.query_pairs_mut().append_pair("fieldType", "TXT");
        if !sub.is_empty() {
            url.query_pairs_mut().append_pair("subDomain", sub);
        }
        let ids: Vec<u64> = self.json(url, Some(zone)).await?;
        let mut out = Vec::new();
        for id in ids {
            let url = self.url(&[
                "domain",
                "zone",
                zone.name.as_str(),
                "record",
                &id.to_string(),
            ]);
            let resp = self.call(Method::GET, url, None, Some(zone), true).await?;
            if resp.status == 404 {
                continue; // deleted meanwhile
            }
            let r: Record = serde_json::from_slice(&resp.body)
                .map_err(|e| other(format!("cannot parse OVH record {id}: {e}")))?;
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
        let url = self.url(&["domain", "zone", zone.name.as_str(), "refresh"]);
        self.call(Method::POST, url, None, Some(zone), false)
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
            .through_policy(&url, |_| self.request(&Method::GET, &url, ""))
            .await?;
        if resp.status == 403 && error_code(&resp) == "NOT_GRANTED_CALL" {
            // A consumer key limited to /domain/zone/<zone>/* may not list zones: use DNS.
            tracing::debug!(
                provider = KIND.name,
                "may not list zones; finding the zone through DNS"
            );
            return Ok(None);
        }
        if !resp.is_success() {
            return Err(self.error(&resp, None).await);
        }
        let names: Vec<String> = serde_json::from_slice(&resp.body)
            .map_err(|e| other(format!("cannot parse OVH's list of zones: {e}")))?;
        let zones: Vec<DnsName> = names
            .iter()
            .filter_map(|n| DnsName::parse(n).ok())
            .collect();
        let Some(found) = fqdn.ancestors().find(|a| zones.contains(a)) else {
            let mut names: Vec<String> = zones.iter().map(ToString::to_string).collect();
            names.sort();
            let seen = match names.len() {
                0 => "none".to_string(),
                n if n > 20 => format!("{}, … ({n} in all)", names[..20].join(", ")),
                _ => names.join(", "),
            };
            return Err(ProviderError::ZoneNotFound {
                provider: KIND,
                zone: fqdn.to_string(),
                message: format!("no DNS zone of this OVH account contains {fqdn}; it has: {seen}"),
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
        let url = self.url(&["domain", "zone", zone.name.as_str(), "record"]);
        for (name, ours) in set.iter() {
            let sub = relative_name(name, &zone.name);
            let records = self.txt_records(zone, &sub).await?;
            let there: BTreeSet<String> = records.iter().map(|r| unquote_txt(&r.target)).collect();
            for value in ours.iter().filter(|v| !there.contains(*v)) {
                let body = json!({ "fieldType": "TXT", "subDomain": sub, "target": value, "ttl": set.ttl });
                self.call(Method::POST, url.clone(), Some(&body), Some(zone), false)
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
                    let id = r.id.to_string();
                    let url = self.url(&["domain", "zone", zone.name.as_str(), "record", &id]);
                    self.call(Method::DELETE, url, None, Some(zone), true)
                        .await?;
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
        // python3 -c 'import hashlib; print(hashlib.sha1(b"AS+CK+GET+https://eu.api.ovh.com/1.0/domain/zone++1700000000").hexdigest())'
        let s = signature(
            "AS",
            "CK",
            "GET",
            "https://eu.api.ovh.com/1.0/domain/zone",
            "",
            1_700_000_000,
        );
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
        let u = p.url(&["domain", "zone", "a/b", "record"]);
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:9/1.0/domain/zone/a%2Fb/record"
        );
        let shown = format!("{p:?}");
        assert!(
            !shown.contains("as-hidden") && !shown.contains("ck-hidden"),
            "{shown}"
        );
    }
}
