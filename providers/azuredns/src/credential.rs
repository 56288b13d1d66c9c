//! Entra ID access tokens for Resource Manager: OAuth2 client credentials with a client secret,
//! a certificate (an RS256 JWT assertion) or a federated token (workload identity), or a
//! managed identity (the VM's instance metadata service, or App Service's identity endpoint).

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::Url;
use reqwest::header::{HeaderName, HeaderValue};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::{Value, json};
use wildcert_provider::http::{Response, RetryPolicy, default_verdict};
use wildcert_provider::settings::read_setting_file;
use wildcert_provider::{ProviderError, Secret};

use crate::settings::KIND;

/// How the provider signs in.
#[derive(Debug)]
pub enum Credential {
    /// A service principal's client secret.
    Secret {
        /// Tenant id.
        tenant: String,
        /// Client id.
        client_id: String,
        /// The secret.
        secret: Secret,
    },
    /// A service principal's certificate: a signed JWT assertion.
    Certificate {
        /// Tenant id.
        tenant: String,
        /// Client id.
        client_id: String,
        /// The key and the certificate's thumbprint.
        key: CertificateKey,
    },
    /// Workload identity: the federated token in `file` (re-read for every token).
    Workload {
        /// Tenant id.
        tenant: String,
        /// Client id.
        client_id: String,
        /// The federated token file.
        file: PathBuf,
    },
    /// A managed identity (user-assigned when `client_id` is given).
    Managed {
        /// Client id of a user-assigned identity.
        client_id: Option<String>,
        /// Where tokens come from.
        identity: ManagedIdentity,
        /// Bound on one answer of the endpoint.
        timeout: Duration,
    },
}

/// The endpoint of a managed identity.
#[derive(Debug)]
pub enum ManagedIdentity {
    /// The instance metadata service (`{imds}/metadata/identity/oauth2/token`, `Metadata: true`).
    Imds(Url),
    /// App Service / Functions / Arc (`IDENTITY_ENDPOINT`, `X-IDENTITY-HEADER`).
    AppService {
        /// The endpoint.
        endpoint: Url,
        /// The header value.
        header: Secret,
    },
}

/// An RSA private key and the SHA-1 thumbprint (`x5t`) of its certificate.
pub struct CertificateKey {
    key: RsaKeyPair,
    x5t: String,
}

impl std::fmt::Debug for CertificateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CertificateKey(x5t {}, key ***)", self.x5t)
    }
}

/// The base64 body of the first PEM block labelled `label`, decoded.
fn pem_block(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let rest = &pem[pem.find(&begin)? + begin.len()..];
    let body = &rest[..rest.find("-----END")?];
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(b64).ok()
}

impl CertificateKey {
    /// From a PEM file holding the certificate and its RSA key (PKCS#8 or PKCS#1, unencrypted).
    pub fn from_pem(pem: &str) -> Result<CertificateKey, String> {
        let cert = pem_block(pem, "CERTIFICATE").ok_or("holds no PEM CERTIFICATE")?;
        let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &cert);
        let key = match (
            pem_block(pem, "PRIVATE KEY"),
            pem_block(pem, "RSA PRIVATE KEY"),
        ) {
            (Some(der), _) => RsaKeyPair::from_pkcs8(&der),
            (None, Some(der)) => RsaKeyPair::from_der(&der),
            _ if pem.contains("ENCRYPTED PRIVATE KEY") => {
                return Err("its key is encrypted: give an unencrypted PEM".into());
            }
            _ => return Err("holds no PEM PRIVATE KEY (RSA)".into()),
        };
        let key = key.map_err(|e| format!("the key is not a usable RSA key ({e})"))?;
        let x5t = URL_SAFE_NO_PAD.encode(digest.as_ref());
        Ok(CertificateKey { key, x5t })
    }

    /// The client assertion for `audience` (the token endpoint), valid ten minutes.
    fn assertion(&self, client_id: &str, audience: &str) -> Result<String, ProviderError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let jti = format!(
            "{:016x}{:016x}",
            wildcert_provider::http::random(),
            wildcert_provider::http::random()
        );
        let header = json!({ "alg": "RS256", "typ": "JWT", "x5t": self.x5t });
        let claims = json!({ "aud": audience, "iss": client_id, "sub": client_id, "jti": jti,
            "nbf": now, "iat": now, "exp": now + 600 });
        let enc = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let input = format!("{}.{}", enc(&header), enc(&claims));
        let mut sig = vec![0; self.key.public().modulus_len()];
        let signed = self.key.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            input.as_bytes(),
            &mut sig,
        );
        signed.map_err(|_| other("cannot sign the client assertion".into()))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
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

/// A token and how long it lives.
pub type Token = (Secret, Duration);

/// `application/x-www-form-urlencoded` of `pairs`.
fn form(pairs: &[(&str, &str)]) -> String {
    let mut u = Url::parse("form:x").unwrap_or_else(|_| unreachable!("a fixed URL parses"));
    u.query_pairs_mut().extend_pairs(pairs);
    u.query().unwrap_or_default().to_string()
}

impl Credential {
    /// A fresh access token for `scope` (`{arm}/.default`) from `authority` or the managed
    /// identity endpoint.
    pub async fn token(
        &self,
        http: &reqwest::Client,
        policy: &RetryPolicy,
        authority: &Url,
        scope: &str,
    ) -> Result<Token, ProviderError> {
        let (tenant, client_id, what) = match self {
            Credential::Secret {
                tenant, client_id, ..
            } => (tenant, client_id, "client secret (AZURE_CLIENT_SECRET)"),
            Credential::Certificate {
                tenant, client_id, ..
            } => (
                tenant,
                client_id,
                "certificate (AZURE_CLIENT_CERTIFICATE_PATH)",
            ),
            Credential::Workload {
                tenant, client_id, ..
            } => (
                tenant,
                client_id,
                "federated token (AZURE_FEDERATED_TOKEN_FILE)",
            ),
            Credential::Managed {
                client_id,
                identity,
                timeout,
            } => {
                return managed(
                    http,
                    policy,
                    client_id.as_deref(),
                    identity,
                    *timeout,
                    scope,
                )
                .await;
            }
        };
        let mut url = authority.clone();
        if let Ok(mut p) = url.path_segments_mut() {
            p.pop_if_empty()
                .extend([tenant.as_str(), "oauth2", "v2.0", "token"]);
        }
        let jwt = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
        let assertion = match self {
            Credential::Certificate { key, .. } => key.assertion(client_id, url.as_str())?,
            Credential::Workload { file, .. } => {
                read_setting_file(KIND, "federated_token_file", file)?
                    .trim()
                    .to_string()
            }
            _ => String::new(),
        };
        let mut pairs = vec![
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("scope", scope),
        ];
        match self {
            Credential::Secret { secret, .. } => pairs.push(("client_secret", secret.expose())),
            _ => pairs.extend([
                ("client_assertion_type", jwt),
                ("client_assertion", &assertion),
            ]),
        }
        let req = http
            .post(url.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&pairs));
        let resp = policy
            .send_builder(url.as_str(), req, default_verdict)
            .await?;
        if !resp.is_success() {
            return Err(login_error(
                &resp,
                &format!("the {what} of client {client_id} in tenant {tenant} (AZURE_TENANT_ID)"),
            ));
        }
        parse_token(&resp)
    }
}

/// A managed identity's token (IMDS or App Service), waiting at most `timeout` per answer.
async fn managed(
    http: &reqwest::Client,
    policy: &RetryPolicy,
    client_id: Option<&str>,
    identity: &ManagedIdentity,
    timeout: Duration,
    scope: &str,
) -> Result<Token, ProviderError> {
    let resource = scope.trim_end_matches(".default");
    let (mut url, version, header) = match identity {
        ManagedIdentity::Imds(base) => {
            let mut u = base.clone();
            if let Ok(mut p) = u.path_segments_mut() {
                p.pop_if_empty()
                    .extend(["metadata", "identity", "oauth2", "token"]);
            }
            (
                u,
                "2018-02-01",
                ("metadata", HeaderValue::from_static("true")),
            )
        }
        ManagedIdentity::AppService { endpoint, header } => {
            let mut v = HeaderValue::from_str(header.expose()).map_err(|_| {
                auth("identity_header (IDENTITY_HEADER) is not a valid header value".into())
            })?;
            v.set_sensitive(true);
            (endpoint.clone(), "2019-08-01", ("x-identity-header", v))
        }
    };
    url.query_pairs_mut()
        .extend_pairs([("api-version", version), ("resource", resource)]);
    if let Some(id) = client_id {
        url.query_pairs_mut().append_pair("client_id", id);
    }
    let mut policy = policy.clone();
    policy.max_transport_attempts = 1;
    let req = http
        .get(url.clone())
        .header(HeaderName::from_static(header.0), header.1)
        .timeout(timeout);
    let shown = wildcert_provider::api::redact_url(&url);
    let resp = policy.send_builder(&shown, req, default_verdict).await.map_err(|e| match e {
        ProviderError::Unreachable { message, .. } => auth(format!(
            "no managed identity answered at {shown} ({message}); outside Azure set AZURE_TENANT_ID, AZURE_CLIENT_ID and \
             AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH, AZURE_FEDERATED_TOKEN_FILE)"
        )),
        e => e,
    })?;
    if !resp.is_success() {
        return Err(login_error(
            &resp,
            &format!("the managed identity at {shown}"),
        ));
    }
    parse_token(&resp)
}

/// A refused token request: Entra ID's `error` and the first line of `error_description`.
fn login_error(resp: &Response, what: &str) -> ProviderError {
    let v: Value = serde_json::from_slice(&resp.body).unwrap_or_default();
    let code = v["error"].as_str().unwrap_or("error");
    let desc = v["error_description"]
        .as_str()
        .or(v["message"].as_str())
        .unwrap_or_default();
    let desc: String = desc
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect();
    if resp.status == 429 {
        return ProviderError::RateLimited {
            provider: KIND,
            retry_after: resp.retry_after(),
        };
    }
    auth(format!(
        "Entra ID refused {what}: HTTP {} {code}: {desc}",
        resp.status
    ))
}

/// `access_token` and `expires_in` (a number, or a string as IMDS sends it).
fn parse_token(resp: &Response) -> Result<Token, ProviderError> {
    let v: Value = serde_json::from_slice(&resp.body).unwrap_or_default();
    let token = v["access_token"].as_str().filter(|t| !t.is_empty());
    let token = token.ok_or_else(|| other("the token answer holds no access_token".into()))?;
    let num = |k: &str| v[k].as_u64().or_else(|| v[k].as_str()?.parse().ok());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // App Service sends only `expires_on` (Unix seconds).
    let secs = num("expires_in").or_else(|| num("expires_on").map(|on| on.saturating_sub(now)));
    Ok((Secret::new(token), Duration::from_secs(secs.unwrap_or(300))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_and_pem() {
        assert_eq!(
            form(&[("a", "b c"), ("s", "x/.default&")]),
            "a=b+c&s=x%2F.default%26"
        );
        assert!(CertificateKey::from_pem("junk").is_err());
        let e = CertificateKey::from_pem(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        );
        assert!(e.is_err_and(|e| e.contains("PRIVATE KEY")));
    }
}
