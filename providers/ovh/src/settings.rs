//! Settings of the ovh provider, declared once: `wildcert providers ovh`, docs/providers/ovh.md
//! and the layering of section, certbot file and environment (lego's `OVH_*` names) come from
//! [`OvhSettings`]; [`OvhSettings::validate`] makes an [`OvhConfig`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use wildcert_provider::settings::{config_error, https_base_url, secret_or_file};
use wildcert_provider::spec::{LayeredSettings, Registration};
use wildcert_provider::{Kind, ProviderError, Secret};

/// Provider kind.
pub const KIND: Kind = OvhSettings::KIND;

/// The API endpoints by name (as OVH's own clients and lego name them): the API host (the
/// root is `https://{host}/1.0`) and the OAuth2 token host (`https://{host}/auth/oauth2/token`)
/// where OVH offers one.
pub const ENDPOINTS: &[(&str, &str, &str)] = &[
    ("ovh-eu", "eu.api.ovh.com", "www.ovh.com"),
    ("ovh-ca", "ca.api.ovh.com", "ca.ovh.com"),
    ("ovh-us", "api.us.ovhcloud.com", "us.ovhcloud.com"),
    ("kimsufi-eu", "eu.api.kimsufi.com", ""),
    ("kimsufi-ca", "ca.api.kimsufi.com", ""),
    ("soyoustart-eu", "eu.api.soyoustart.com", ""),
    ("soyoustart-ca", "ca.api.soyoustart.com", ""),
];

/// The ovh provider as the registry lists it.
pub const PROVIDER: Registration = Registration {
    spec: OvhSettings::SPEC,
    build: |layered, _| {
        let settings = OvhSettings::from_layered(layered)?;
        Ok(std::sync::Arc::new(crate::OvhProvider::new(&settings)?))
    },
};

/// Settings as written in `[providers.<id>]` (with `kind = "ovh"`), a certbot credentials file
/// or the environment. One way to sign in: application key + secret + consumer key, OAuth2
/// client credentials, or an access token.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, wildcert_provider::LayeredSettings)]
#[serde(deny_unknown_fields)]
#[provider(
    kind = "ovh",
    summary = "OVHcloud API v1 zone records (signed application key + consumer key, or OAuth2), then a zone refresh",
    env_prefix = "OVH",
    certbot = ["dns_ovh_"],
    hint_auth = "check the keys (OVH_APPLICATION_KEY / _SECRET / OVH_CONSUMER_KEY, or OVH_CLIENT_ID / _SECRET): the consumer key needs GET, POST and DELETE on /domain/zone/* and must be validated and not expired",
    hint_zone_not_found = "check that the zone is a DNS zone of this OVH account (Web Cloud → Domain names) and that the endpoint (OVH_ENDPOINT) is the account's region",
    hint_rate_limited = "OVH throttles API calls per application: wait, or raise rate_limit_wait"
)]
pub struct OvhSettings {
    /// API endpoint: ovh-eu, ovh-ca, ovh-us, kimsufi-eu/-ca, soyoustart-eu/-ca, or the API root
    /// URL (plain http only to a loopback address)
    #[setting(default = "ovh-eu", env = ["OVH_ENDPOINT", "OVH_API_URL"], certbot = "endpoint")]
    pub base_url: Option<String>,
    /// Application key (with `application_secret` and `consumer_key`)
    #[setting(env = ["OVH_APPLICATION_KEY"], certbot = "application_key")]
    pub application_key: Option<String>,
    /// Application secret (prefer `application_secret_file`)
    #[setting(env = ["OVH_APPLICATION_SECRET"], certbot = "application_secret", pair = "application_secret_file")]
    pub application_secret: Option<Secret>,
    /// File holding the application secret
    #[setting(env = ["OVH_APPLICATION_SECRET_FILE"], pair = "application_secret")]
    pub application_secret_file: Option<PathBuf>,
    /// Consumer key, granted GET, POST and DELETE on /domain/zone/* (prefer `consumer_key_file`)
    #[setting(env = ["OVH_CONSUMER_KEY"], certbot = "consumer_key", pair = "consumer_key_file")]
    pub consumer_key: Option<Secret>,
    /// File holding the consumer key
    #[setting(env = ["OVH_CONSUMER_KEY_FILE"], pair = "consumer_key")]
    pub consumer_key_file: Option<PathBuf>,
    /// OAuth2 client id of a service account (with `client_secret`)
    #[setting(env = ["OVH_CLIENT_ID"])]
    pub client_id: Option<String>,
    /// OAuth2 client secret (prefer `client_secret_file`)
    #[setting(env = ["OVH_CLIENT_SECRET"], pair = "client_secret_file")]
    pub client_secret: Option<Secret>,
    /// File holding the OAuth2 client secret
    #[setting(env = ["OVH_CLIENT_SECRET_FILE"], pair = "client_secret")]
    pub client_secret_file: Option<PathBuf>,
    /// OAuth2 token URL; by default the endpoint's own (ovh-eu, ovh-ca, ovh-us)
    #[setting(env = ["OVH_OAUTH2_TOKEN_URL"])]
    pub token_url: Option<String>,
    /// An access token, sent as a bearer token (prefer `access_token_file`)
    #[setting(env = ["OVH_ACCESS_TOKEN"], pair = "access_token_file")]
    pub access_token: Option<Secret>,
    /// File holding the access token
    #[setting(env = ["OVH_ACCESS_TOKEN_FILE"], pair = "access_token")]
    pub access_token_file: Option<PathBuf>,
    /// Seconds to wait for one API answer
    #[setting(default = "30", env = ["OVH_HTTP_TIMEOUT"], ty = "seconds")]
    pub timeout: Option<u64>,
    /// Seconds a run may spend waiting out HTTP 429 answers, in all
    #[setting(default = "120", env = ["OVH_RATE_LIMIT_WAIT"], ty = "seconds")]
    pub rate_limit_wait: Option<u64>,
}

/// OVH's application keys: every request is signed with the secret and the consumer key.
#[derive(Clone, Debug)]
pub struct AppKeys {
    /// Application key (sent as `X-Ovh-Application`).
    pub application_key: String,
    /// Application secret (signs, never sent).
    pub application_secret: Secret,
    /// Consumer key (sent as `X-Ovh-Consumer`).
    pub consumer_key: Secret,
}

/// How requests are authenticated.
#[derive(Clone, Debug)]
pub enum Credentials {
    /// OVH's own scheme, signed requests.
    Signed(AppKeys),
    /// OAuth2 client credentials (id, secret), exchanged at the token URL for bearer tokens.
    OAuth2(String, Secret, reqwest::Url),
    /// A bearer token as given.
    Token(Secret),
}

/// Validated configuration of the provider.
#[derive(Clone, Debug)]
pub struct OvhConfig {
    /// API root, e.g. `https://eu.api.ovh.com/1.0`.
    pub base_url: reqwest::Url,
    /// How requests are authenticated.
    pub credentials: Credentials,
    /// Bound on one request.
    pub timeout: Duration,
    /// Bound on waiting out rate limiting, for the whole run.
    pub rate_limit_wait: Duration,
}

fn bad(message: impl Into<String>) -> ProviderError {
    config_error(KIND, message)
}

/// An http URL is accepted only to a loopback address (credentials would travel in clear).
fn checked_url(key: &str, url: &str) -> Result<reqwest::Url, ProviderError> {
    https_base_url(KIND, key, url, &[])
}

fn text(v: &Option<String>) -> Option<String> {
    let v = v.as_deref().map(str::trim);
    v.filter(|s| !s.is_empty()).map(str::to_owned)
}

impl OvhSettings {
    /// Check the settings, read secret files, and build the provider's configuration.
    pub fn validate(&self) -> Result<OvhConfig, ProviderError> {
        let endpoint = text(&self.base_url).unwrap_or_else(|| "ovh-eu".into());
        let lower = endpoint.to_ascii_lowercase();
        let named = ENDPOINTS.iter().find(|e| e.0 == lower);
        let base = match named {
            Some(e) => checked_url("base_url (OVH_ENDPOINT)", &format!("https://{}/1.0", e.1))?,
            None if endpoint.contains("://") => checked_url("base_url (OVH_ENDPOINT)", &endpoint)?,
            None => {
                let names: Vec<&str> = ENDPOINTS.iter().map(|e| e.0).collect();
                return Err(bad(format!(
                    "base_url (OVH_ENDPOINT) `{endpoint}` is neither an endpoint name ({}) nor a URL",
                    names.join(", ")
                )));
            }
        };
        let secret = |k, v, f| secret_or_file(KIND, k, v, f);
        let (app_secret, app_file) = (&self.application_secret, &self.application_secret_file);
        let app_secret = secret("application_secret", app_secret, app_file)?;
        let consumer = secret("consumer_key", &self.consumer_key, &self.consumer_key_file)?;
        let (client_secret, client_file) = (&self.client_secret, &self.client_secret_file);
        let client_secret = secret("client_secret", client_secret, client_file)?;
        let token = secret("access_token", &self.access_token, &self.access_token_file)?;
        let (app_key, client_id) = (text(&self.application_key), text(&self.client_id));
        let signed = app_key.is_some() || app_secret.is_some() || consumer.is_some();
        let oauth = client_id.is_some() || client_secret.is_some();
        if u8::from(signed) + u8::from(oauth) + u8::from(token.is_some()) > 1 {
            return Err(bad(
                "give one way to sign in: OVH_APPLICATION_KEY + OVH_APPLICATION_SECRET + OVH_CONSUMER_KEY, \
                 or OVH_CLIENT_ID + OVH_CLIENT_SECRET, or OVH_ACCESS_TOKEN — not several",
            ));
        }
        let missing = |what: &str| bad(format!("{what} is missing"));
        let credentials = if signed {
            Credentials::Signed(AppKeys {
                application_key: app_key.ok_or_else(|| missing("OVH_APPLICATION_KEY"))?,
                application_secret: app_secret.ok_or_else(|| missing("OVH_APPLICATION_SECRET"))?,
                consumer_key: consumer.ok_or_else(|| missing("OVH_CONSUMER_KEY"))?,
            })
        } else if oauth {
            let default = named.filter(|e| !e.2.is_empty());
            let default = default.map(|e| format!("https://{}/auth/oauth2/token", e.2));
            let url = text(&self.token_url).or(default).ok_or_else(|| {
                bad(format!("OAuth2 needs a token URL for endpoint `{endpoint}`: set token_url (OVH_OAUTH2_TOKEN_URL)"))
            })?;
            let id = client_id.ok_or_else(|| missing("OVH_CLIENT_ID"))?;
            let secret = client_secret.ok_or_else(|| missing("OVH_CLIENT_SECRET"))?;
            let url = checked_url("token_url (OVH_OAUTH2_TOKEN_URL)", &url)?;
            Credentials::OAuth2(id, secret, url)
        } else {
            Credentials::Token(token.ok_or_else(|| {
                bad("no credentials: set OVH_APPLICATION_KEY, OVH_APPLICATION_SECRET and OVH_CONSUMER_KEY \
                     (or OVH_CLIENT_ID and OVH_CLIENT_SECRET, or OVH_ACCESS_TOKEN)")
            })?)
        };
        let all: Vec<&str> = match &credentials {
            Credentials::Signed(k) => vec![
                &k.application_key,
                k.application_secret.expose(),
                k.consumer_key.expose(),
            ],
            Credentials::OAuth2(id, secret, _) => vec![id, secret.expose()],
            Credentials::Token(t) => vec![t.expose()],
        };
        if all.iter().any(|s| s.chars().any(|c| !c.is_ascii_graphic())) {
            return Err(bad(
                "a key or secret contains blanks, control or non-ASCII characters; check for a bad copy",
            ));
        }
        Ok(OvhConfig {
            base_url: base,
            credentials,
            timeout: Duration::from_secs(self.timeout.unwrap_or(30).max(1)),
            rate_limit_wait: Duration::from_secs(self.rate_limit_wait.unwrap_or(120)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wildcert_provider::spec::env_map as env;
    use wildcert_provider::spec::object;

    fn signed(e: &[(&str, &str)]) -> Result<OvhConfig, ProviderError> {
        let mut all = vec![
            ("OVH_APPLICATION_KEY", "ak"),
            ("OVH_APPLICATION_SECRET", "as-s3cret"),
            ("OVH_CONSUMER_KEY", "ck-s3cret"),
        ];
        all.extend_from_slice(e);
        OvhSettings::from_env_map(&env(&all))?.validate()
    }

    #[test]
    fn lego_names_endpoints_and_layers() {
        let cfg = signed(&[("OVH_ENDPOINT", "ovh-ca"), ("OVH_HTTP_TIMEOUT", "7")]).expect("valid");
        assert_eq!(cfg.base_url.as_str(), "https://ca.api.ovh.com/1.0");
        assert_eq!(cfg.timeout, Duration::from_secs(7));
        assert!(matches!(cfg.credentials, Credentials::Signed(_)));
        let cfg = signed(&[]).expect("valid");
        assert_eq!(cfg.base_url.as_str(), "https://eu.api.ovh.com/1.0");
        let cfg = signed(&[("OVH_ENDPOINT", "http://127.0.0.1:9/1.0/")]).expect("valid");
        assert_eq!(cfg.base_url.as_str(), "http://127.0.0.1:9/1.0");
        let file =
            object(serde_json::json!({ "kind": "ovh", "client_id": "id", "client_secret": "cs" }));
        let s = OvhSettings::SPEC
            .layer(Some(&file), None, &env(&[("OVH_ENDPOINT", "ovh-us")]))
            .and_then(|l| OvhSettings::from_layered(&l))
            .expect("layers");
        match s.validate().expect("valid").credentials {
            Credentials::OAuth2(_, _, token_url) => {
                assert_eq!(
                    token_url.as_str(),
                    "https://us.ovhcloud.com/auth/oauth2/token"
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(!format!("{s:?}").contains("cs\""));
        let t = OvhSettings::from_env_map(&env(&[("OVH_ACCESS_TOKEN", "tok")])).expect("env");
        assert!(matches!(
            t.validate().expect("valid").credentials,
            Credentials::Token(_)
        ));
    }

    #[test]
    fn bad_input_names_the_variable_and_never_the_secret() {
        let e = OvhSettings::default().validate().expect_err("nothing");
        assert!(e.to_string().contains("OVH_APPLICATION_KEY"), "{e}");
        let e = OvhSettings::from_env_map(&env(&[
            ("OVH_APPLICATION_KEY", "ak"),
            ("OVH_APPLICATION_SECRET", "s3cret"),
        ]))
        .expect("env")
        .validate()
        .expect_err("no ck");
        assert!(
            e.to_string().contains("OVH_CONSUMER_KEY") && !e.to_string().contains("s3cret"),
            "{e}"
        );
        let e = signed(&[("OVH_CLIENT_ID", "id")]).expect_err("both");
        assert!(e.to_string().contains("not several"), "{e}");
        let e = signed(&[("OVH_ENDPOINT", "ovh-mars")]).expect_err("name");
        assert!(
            e.to_string().contains("OVH_ENDPOINT") && e.to_string().contains("ovh-eu"),
            "{e}"
        );
        let e = signed(&[("OVH_ENDPOINT", "http://api.example.net/1.0")]).expect_err("http");
        assert!(e.to_string().contains("loopback"), "{e}");
        let e = OvhSettings::from_env_map(&env(&[
            ("OVH_ENDPOINT", "kimsufi-eu"),
            ("OVH_CLIENT_ID", "id"),
            ("OVH_CLIENT_SECRET", "s3cret"),
        ]))
        .expect("env")
        .validate()
        .expect_err("no token url");
        assert!(e.to_string().contains("OVH_OAUTH2_TOKEN_URL"), "{e}");
        let e = signed(&[("OVH_CONSUMER_KEY", "ck s3cret")]);
        // The environment layer wins over the first pair given; a blank inside is refused.
        let e = e.expect_err("blank").to_string();
        assert!(e.contains("blanks") && !e.contains("s3cret"), "{e}");
        let r = OvhSettings::from_env_map(&env(&[("OVH_HTTP_TIMEOUT", "soon")]));
        assert!(
            r.expect_err("seconds")
                .to_string()
                .contains("OVH_HTTP_TIMEOUT")
        );
    }

    #[test]
    fn secrets_from_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("ck");
        std::fs::write(&p, "ck-from-file\n").expect("write");
        let s = OvhSettings {
            application_key: Some("ak".into()),
            application_secret: Some(Secret::new("as")),
            consumer_key_file: Some(p),
            ..Default::default()
        };
        match s.validate().expect("valid").credentials {
            Credentials::Signed(k) => assert_eq!(k.consumer_key.expose(), "ck-from-file"),
            other => panic!("{other:?}"),
        }
    }
}
