//! OAuth 2.0 access tokens for Cloud DNS: a JWT bearer grant (RFC 7523, RS256 with ring)
//! posted to the service-account key's own `token_uri`, or the GCE metadata server's default
//! account; optionally exchanged for a token of another service account (iamcredentials
//! `generateAccessToken`). Tokens are kept until a minute before they expire.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::{Value, json};
use wildcert_provider::api::{JsonApi, secret_header, server_message};
use wildcert_provider::http::{Response, default_verdict};
use wildcert_provider::{ProviderError, Secret};

use crate::settings::{Credentials, GcloudConfig, KIND, ServiceAccount};

/// Scope of Cloud DNS read/write.
pub const DNS_SCOPE: &str = "https://www.googleapis.com/auth/ndev.clouddns.readwrite";
/// Scope a source token needs to impersonate.
pub const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
const GRANT: &str = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer";
const TOKEN_PATH: &str = "computeMetadata/v1/instance/service-accounts/default/token";

/// Hands out access tokens, cached.
#[derive(Debug)]
pub struct TokenSource {
    config: GcloudConfig,
    form: reqwest::Client,
    cache: tokio::sync::Mutex<Option<(Secret, Instant)>>,
}

fn auth(message: String) -> ProviderError {
    ProviderError::Auth {
        provider: KIND,
        message,
    }
}

fn other(message: String) -> ProviderError {
    ProviderError::Other {
        provider: KIND,
        message,
    }
}

/// The `access_token` (or `accessToken`) and its lifetime from a token answer.
fn parse_token(resp: &Response, from: &str) -> Result<(Secret, Duration), ProviderError> {
    let v: Value = serde_json::from_slice(&resp.body).unwrap_or_default();
    let token = v["access_token"]
        .as_str()
        .or_else(|| v["accessToken"].as_str());
    let token = token.ok_or_else(|| other(format!("{from} answered without an access token")))?;
    let life = v["expires_in"].as_u64().unwrap_or(3600);
    Ok((Secret::new(token), Duration::from_secs(life)))
}

impl TokenSource {
    /// A source for `config`'s credentials.
    pub fn new(config: &GcloudConfig) -> Result<TokenSource, ProviderError> {
        let form = wildcert_provider::http::client(KIND, config.timeout)?;
        let (config, cache) = (config.clone(), tokio::sync::Mutex::new(None));
        Ok(TokenSource {
            config,
            form,
            cache,
        })
    }

    /// What the credentials are, for `wildcert check` (no secret).
    pub fn describe(&self) -> String {
        let base = match &self.config.credentials {
            Credentials::Key(sa) => format!("service-account key of {}", sa.email),
            Credentials::Metadata => format!("GCE metadata server ({})", self.config.metadata_url),
        };
        match &self.config.impersonate {
            Some(target) => format!("{base}, impersonating {target}"),
            None => base,
        }
    }

    /// A valid access token for Cloud DNS.
    pub async fn token(&self, api: &JsonApi) -> Result<Secret, ProviderError> {
        let mut cache = self.cache.lock().await;
        if let Some((t, until)) = cache.as_ref().filter(|c| Instant::now() < c.1) {
            tracing::trace!(until = ?until, "gcloud: cached token");
            return Ok(t.clone());
        }
        let scope = if self.config.impersonate.is_some() {
            CLOUD_PLATFORM
        } else {
            DNS_SCOPE
        };
        let (mut token, mut life) = match &self.config.credentials {
            Credentials::Key(sa) => self.jwt_grant(api, sa, scope).await?,
            Credentials::Metadata => self.metadata(api).await?,
        };
        if let Some(target) = &self.config.impersonate {
            (token, life) = self.impersonate(api, &token, target).await?;
        }
        let until = Instant::now() + life.saturating_sub(Duration::from_secs(60));
        *cache = Some((token.clone(), until));
        Ok(token)
    }

    /// RFC 7523 §2.1: a signed assertion exchanged at the key's `token_uri`.
    async fn jwt_grant(
        &self,
        api: &JsonApi,
        sa: &ServiceAccount,
        scope: &str,
    ) -> Result<(Secret, Duration), ProviderError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut header = json!({ "alg": "RS256", "typ": "JWT" });
        if let Some(kid) = &sa.key_id {
            header["kid"] = json!(kid);
        }
        let claims = json!({ "iss": sa.email, "scope": scope, "aud": sa.token_uri.as_str(),
            "iat": now, "exp": now + 3600 });
        let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let input = format!("{}.{}", b64(&header), b64(&claims));
        let mut sig = vec![0; sa.key.public().modulus_len()];
        let rng = ring::rand::SystemRandom::new();
        let signed = sa.key.sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &rng,
            input.as_bytes(),
            &mut sig,
        );
        signed.map_err(|_| other("cannot sign the token request with the key".into()))?;
        let body = format!(
            "grant_type={GRANT}&assertion={input}.{}",
            URL_SAFE_NO_PAD.encode(&sig)
        );
        let form = HeaderValue::from_static("application/x-www-form-urlencoded");
        let req = self
            .form
            .post(sa.token_uri.clone())
            .header(CONTENT_TYPE, form)
            .body(body);
        let target = sa.token_uri.to_string();
        let resp = api
            .policy
            .send_builder(&target, req, default_verdict)
            .await?;
        if !resp.is_success() {
            let v: Value = serde_json::from_slice(&resp.body).unwrap_or_default();
            let code = v["error"].as_str().unwrap_or("error");
            let why = v["error_description"].as_str().unwrap_or_default();
            let (status, email) = (resp.status, &sa.email);
            let message = format!(
                "the token endpoint {target} refused the key of {email} ({status} {code}: {why}); \
                 check GCE_SERVICE_ACCOUNT_FILE: the key may be deleted or disabled, or the clock off"
            );
            return Err(match resp.status {
                400 | 401 | 403 => auth(message),
                _ => other(message),
            });
        }
        parse_token(&resp, &target)
    }

    /// The metadata server's token of the instance's default service account.
    async fn metadata(&self, api: &JsonApi) -> Result<(Secret, Duration), ProviderError> {
        let url = self.config.metadata_url.join(TOKEN_PATH);
        let url = url.map_err(|e| other(format!("metadata URL: {e}")))?;
        let resp = metadata_get(api, url).await?;
        parse_token(&resp, "the GCE metadata server")
    }

    /// iamcredentials `generateAccessToken` for `target`, authorised by `source`.
    async fn impersonate(
        &self,
        api: &JsonApi,
        source: &Secret,
        target: &str,
    ) -> Result<(Secret, Duration), ProviderError> {
        let mut url = self.config.iam_url.clone();
        let name = format!("{target}:generateAccessToken");
        if let Ok(mut p) = url.path_segments_mut() {
            p.pop_if_empty()
                .extend(["v1", "projects", "-", "serviceAccounts", &name]);
        }
        let h = secret_header(KIND, "authorization", "Bearer ", source, "the source token")?;
        let body = json!({ "scope": [DNS_SCOPE], "lifetime": "3600s" });
        let resp = api
            .send_with(Method::POST, url, Some(&body), &HeaderMap::from_iter([h]))
            .await?;
        if !resp.is_success() {
            let (status, msg) = (resp.status, server_message(&resp.body));
            let message = format!(
                "impersonating {target} (GCE_IMPERSONATE_SERVICE_ACCOUNT) was refused ({status}: {msg}); \
                 the caller needs roles/iam.serviceAccountTokenCreator on it"
            );
            return Err(match status {
                401 | 403 | 404 => auth(message),
                _ => other(message),
            });
        }
        let (token, _) = parse_token(&resp, "iamcredentials")?;
        Ok((token, Duration::from_secs(3600)))
    }
}

/// A GET to the metadata server (`Metadata-Flavor: Google`); not reaching it names the settings
/// that would make it unnecessary.
pub async fn metadata_get(api: &JsonApi, url: reqwest::Url) -> Result<Response, ProviderError> {
    let flavor = HeaderMap::from_iter([(
        reqwest::header::HeaderName::from_static("metadata-flavor"),
        HeaderValue::from_static("Google"),
    )]);
    let hint = "no service-account key is set (GCE_SERVICE_ACCOUNT_FILE, GCE_SERVICE_ACCOUNT, \
                GOOGLE_APPLICATION_CREDENTIALS), so the GCE metadata server was asked";
    let resp = api.send_with(Method::GET, url.clone(), None, &flavor).await;
    let resp = resp.map_err(|e| match e {
        ProviderError::Unreachable {
            target, message, ..
        } => ProviderError::Config {
            provider: KIND,
            message: format!("{hint}, and {target} did not answer ({message})"),
        },
        e => e,
    })?;
    if !resp.is_success() {
        let (status, msg) = (resp.status, server_message(&resp.body));
        return Err(auth(format!("{hint}: {url} answered {status}: {msg}")));
    }
    Ok(resp)
}
