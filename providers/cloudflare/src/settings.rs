//! Settings of the cloudflare provider, declared once: `wildcert providers cloudflare`,
//! docs/providers/cloudflare.md and the layering of section, certbot file and environment (lego's
//! names) all come from [`CloudflareSettings`]; [`CloudflareSettings::validate`] makes a
//! [`CloudflareConfig`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use wildcert_provider::settings::{base_url, config_error, secret_or_file};
use wildcert_provider::spec::{LayeredSettings, Registration};
use wildcert_provider::{Kind, ProviderError, Secret};

/// Provider kind name.
pub const KIND: Kind = CloudflareSettings::KIND;

/// The public API endpoint.
pub const DEFAULT_BASE_URL: &str = "https://api.cloudflare.com/client/v4";

/// Bound on one HTTP request (connect + answer).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Default of `rate_limit_wait`: Cloudflare blocks a token for five minutes once it exceeds
/// 1,200 requests in five minutes; this outlasts one block.
pub const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(360);

/// The cloudflare provider as the registry lists it.
pub const PROVIDER: Registration = Registration {
    spec: CloudflareSettings::SPEC,
    build: |layered, ctx| {
        if let Some(path) = &layered.credentials
            && layered.values.contains_key("api_token")
            && layered.values.contains_key("api_key")
        {
            // certbot's rule: a token or a Global API Key, never both.
            return Err(bad(format!(
                "credentials {}: give dns_cloudflare_api_token, or dns_cloudflare_email + dns_cloudflare_api_key, not both",
                path.display()
            )));
        }
        let settings = CloudflareSettings::from_layered(layered)?;
        let provider = crate::CloudflareProvider::new(&settings, ctx.state_dir)?;
        Ok(std::sync::Arc::new(provider))
    },
};

/// Settings as written in `[providers.<id>]` (with `kind = "cloudflare"`), a certbot
/// credentials file or the environment. Every field is optional so layers merge;
/// [`CloudflareSettings::validate`] checks the result.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, wildcert_provider::LayeredSettings)]
#[serde(deny_unknown_fields)]
#[provider(
    kind = "cloudflare",
    summary = "Cloudflare API v4 (API token with DNS:Edit, or the legacy Global API Key)",
    env_prefix = "CLOUDFLARE",
    certbot = ["dns_cloudflare_"],
    hint_auth = "check the API token: it needs Zone:DNS:Edit on this zone, and Zone:Zone:Read unless zone_id is set \
                 (dashboard: My Profile, API Tokens)",
    hint_zone_not_found = "check that the zone is in the token's account and that the token's zone resources include it, or set zone_id",
    hint_rate_limited = "Cloudflare blocks a token for five minutes after 1,200 requests in five minutes: wait, raise rate_limit_wait, or lower --parallel"
)]
pub struct CloudflareSettings {
    /// API token with Zone:DNS:Edit on the zone (and Zone:Zone:Read unless `zone_id` or
    /// `zone_api_token` is given)
    #[setting(required = "unless `api_key` + `email`", certbot = "api_token", pair = "api_token_file",
              env = ["CLOUDFLARE_DNS_API_TOKEN", "CF_DNS_API_TOKEN"])]
    pub api_token: Option<Secret>,
    /// File holding the API token (instead of `api_token`)
    #[setting(pair = "api_token", env = ["CLOUDFLARE_DNS_API_TOKEN_FILE", "CF_DNS_API_TOKEN_FILE"])]
    pub api_token_file: Option<PathBuf>,
    /// Separate token with Zone:Zone:Read, used only to look zones up by name
    #[setting(default = "api_token", pair = "zone_api_token_file",
              env = ["CLOUDFLARE_ZONE_API_TOKEN", "CF_ZONE_API_TOKEN"])]
    pub zone_api_token: Option<Secret>,
    /// File holding the zone-read token
    #[setting(pair = "zone_api_token",
              env = ["CLOUDFLARE_ZONE_API_TOKEN_FILE", "CF_ZONE_API_TOKEN_FILE"])]
    pub zone_api_token_file: Option<PathBuf>,
    /// Zone id (dashboard: zone Overview, API section); no zone lookup is made, so a token
    /// without Zone:Read works
    #[setting(default = "looked up by name", env = ["CLOUDFLARE_ZONE_ID"])]
    pub zone_id: Option<String>,
    /// Account e-mail for the legacy Global API Key
    #[setting(required = "with `api_key`", certbot = "email",
              env = ["CLOUDFLARE_EMAIL", "CF_API_EMAIL"])]
    pub email: Option<String>,
    /// Legacy Global API Key (full account access: prefer an API token)
    #[setting(required = "unless `api_token`", certbot = "api_key", pair = "api_key_file",
              env = ["CLOUDFLARE_API_KEY", "CF_API_KEY"])]
    pub api_key: Option<Secret>,
    /// File holding the Global API Key
    #[setting(env = ["CLOUDFLARE_API_KEY_FILE", "CF_API_KEY_FILE"], pair = "api_key")]
    pub api_key_file: Option<PathBuf>,
    /// TTL of the TXT records; set explicitly, 30 is allowed (Enterprise zones), else 60..86400
    /// or 1
    #[setting(default = "the run's TTL, raised to 60 (1 = automatic)", env = ["CLOUDFLARE_TTL"])]
    pub ttl: Option<u32>,
    /// Seconds to wait for one API answer
    #[setting(default = "30", env = ["CLOUDFLARE_HTTP_TIMEOUT"], ty = "seconds")]
    pub timeout: Option<u64>,
    /// Seconds a run may spend waiting out Cloudflare's rate limit (HTTP 429; a five-minute
    /// block after 1,200 requests in five minutes), in all
    #[setting(default = "360", env = ["CLOUDFLARE_RATE_LIMIT_WAIT"], ty = "seconds")]
    pub rate_limit_wait: Option<u64>,
    /// API endpoint (for proxies and tests)
    #[setting(default = "https://api.cloudflare.com/client/v4", env = ["CLOUDFLARE_BASE_URL"])]
    pub base_url: Option<String>,
}

fn bad(message: impl Into<String>) -> ProviderError {
    config_error(KIND, message)
}

impl CloudflareSettings {
    /// Check the settings, read secret files, and build the provider's configuration.
    pub fn validate(&self) -> Result<CloudflareConfig, ProviderError> {
        let token = secret_or_file(KIND, "api_token", &self.api_token, &self.api_token_file)?;
        let (zone_token, zone_token_file) = (&self.zone_api_token, &self.zone_api_token_file);
        let zone_token = secret_or_file(KIND, "zone_api_token", zone_token, zone_token_file)?;
        let key = secret_or_file(KIND, "api_key", &self.api_key, &self.api_key_file)?;
        let email = self
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty());
        let auth = match (token, key, email) {
            (Some(t), _, _) => Auth::Token(t),
            (None, Some(key), Some(email)) => Auth::GlobalKey {
                email: email.into(),
                key,
            },
            (None, key, email) => {
                return Err(bad(match (key, email) {
                    (Some(_), _) => {
                        "api_key (CLOUDFLARE_API_KEY) is the legacy Global API Key and needs `email` \
                         (CLOUDFLARE_EMAIL) too; better, create an API token with Zone:DNS:Edit and set api_token"
                    }
                    (None, Some(_)) => {
                        "email is set but no api_key; set api_key (CLOUDFLARE_API_KEY), or use an API token \
                         (api_token / CLOUDFLARE_DNS_API_TOKEN) instead"
                    }
                    (None, None) => {
                        "no credentials: set api_token (CLOUDFLARE_DNS_API_TOKEN) to an API token with \
                         Zone:DNS:Edit (and Zone:Zone:Read, or set zone_id), or api_key + email for the \
                         legacy Global API Key"
                    }
                }));
            }
        };
        let zone_auth = zone_token.map_or_else(|| auth.clone(), Auth::Token);
        let zone_id = self
            .zone_id
            .as_deref()
            .map(str::trim)
            .filter(|z| !z.is_empty());
        let id_like = |z: &&str| z.len() <= 64 && z.chars().all(|c| c.is_ascii_alphanumeric());
        if let Some(z) = zone_id.filter(|z| !id_like(z)) {
            return Err(bad(format!(
                "zone_id `{z}` is not a zone id (32 hex digits, shown on the zone's Overview page)"
            )));
        }
        let url = self.base_url.as_deref().filter(|u| !u.trim().is_empty());
        let base_url = base_url(KIND, "base_url", url.unwrap_or(DEFAULT_BASE_URL), &[])?;
        if let Some(t) = self.ttl.filter(|t| *t != 1 && !(30..=86400).contains(t)) {
            return Err(bad(format!(
                "ttl {t}: Cloudflare takes 1 (automatic) or 30..86400 seconds (below 60 on Enterprise zones only)"
            )));
        }
        let timeout = self
            .timeout
            .map_or(DEFAULT_TIMEOUT, |t| Duration::from_secs(t.max(1)));
        let wait = self.rate_limit_wait.map(Duration::from_secs);
        Ok(CloudflareConfig {
            auth,
            zone_auth,
            zone_id: zone_id.map(str::to_string),
            base_url,
            timeout,
            ttl: self.ttl,
            rate_limit_wait: wait.unwrap_or(DEFAULT_RATE_LIMIT_WAIT),
        })
    }
}

/// How requests authenticate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer <token>` (API token).
    Token(Secret),
    /// `X-Auth-Email` + `X-Auth-Key` (legacy Global API Key).
    GlobalKey {
        /// Account e-mail.
        email: String,
        /// The key.
        key: Secret,
    },
}

impl Auth {
    /// A description without the secret, for messages.
    pub fn describe(&self) -> String {
        match self {
            Auth::Token(_) => "API token".to_string(),
            Auth::GlobalKey { email, .. } => format!("Global API Key of {email}"),
        }
    }
}

/// Validated configuration of the provider.
#[derive(Clone, Debug)]
pub struct CloudflareConfig {
    /// Credentials for record changes (and zone lookups unless `zone_auth` differs).
    pub auth: Auth,
    /// Credentials for zone lookups.
    pub zone_auth: Auth,
    /// Configured zone id: no lookups.
    pub zone_id: Option<String>,
    /// API endpoint without a trailing slash.
    pub base_url: reqwest::Url,
    /// Bound on one request.
    pub timeout: Duration,
    /// TTL given explicitly (`ttl`), used as is.
    pub ttl: Option<u32>,
    /// Time a run may spend waiting out rate limiting, in all.
    pub rate_limit_wait: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    use wildcert_provider::spec::env_map as env;

    #[test]
    fn env_names_and_layering() {
        let file = wildcert_provider::spec::object(serde_json::json!({
            "kind": "cloudflare", "api_token": "file-token", "zone_id": "abc123"
        }));
        let e = env(&[
            ("CF_DNS_API_TOKEN", "env-token"),
            ("CLOUDFLARE_BASE_URL", "http://127.0.0.1:1/client/v4/"),
        ]);
        let merged = CloudflareSettings::SPEC
            .layer(Some(&file), None, &e)
            .and_then(|l| CloudflareSettings::from_layered(&l))
            .expect("layers");
        let cfg = merged.validate().expect("valid");
        assert_eq!(cfg.auth, Auth::Token(Secret::new("env-token")));
        assert_eq!(cfg.zone_auth, cfg.auth);
        assert_eq!(cfg.zone_id.as_deref(), Some("abc123"));
        assert_eq!(cfg.base_url.as_str(), "http://127.0.0.1:1/client/v4");
        assert!(!format!("{merged:?} {cfg:?}").contains("env-token"));
        // CLOUDFLARE_* wins over CF_*.
        let e = CloudflareSettings::from_env_map(&env(&[
            ("CF_DNS_API_TOKEN", "b"),
            ("CLOUDFLARE_DNS_API_TOKEN", "a"),
        ]))
        .expect("env");
        assert_eq!(e.api_token, Some(Secret::new("a")));
    }

    #[test]
    fn credentials_are_required_and_checked() {
        let none = CloudflareSettings::default().validate().expect_err("none");
        assert!(none.to_string().contains("no credentials"), "{none}");
        let key_only = CloudflareSettings {
            api_key: Some(Secret::new("k")),
            ..Default::default()
        };
        assert!(
            key_only
                .validate()
                .expect_err("email")
                .to_string()
                .contains("email")
        );
        let legacy = CloudflareSettings {
            email: Some("me@example.com".into()),
            ..key_only
        }
        .validate()
        .expect("legacy");
        assert!(matches!(legacy.auth, Auth::GlobalKey { .. }));
        let bad_url = CloudflareSettings {
            api_token: Some(Secret::new("t")),
            base_url: Some("ftp://x".into()),
            ..Default::default()
        };
        assert!(bad_url.validate().is_err());
        let r: Result<CloudflareSettings, _> =
            serde_json::from_value(serde_json::json!({ "api_tokn": "x" }));
        assert!(r.is_err());
    }

    #[test]
    fn secret_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("token");
        std::fs::write(&p, "file-secret\n").expect("write");
        let s = CloudflareSettings {
            api_token_file: Some(p.clone()),
            zone_api_token: Some(Secret::new("zone")),
            ..Default::default()
        };
        let cfg = s.validate().expect("valid");
        assert_eq!(cfg.auth, Auth::Token(Secret::new("file-secret")));
        assert_eq!(cfg.zone_auth, Auth::Token(Secret::new("zone")));
        let both = CloudflareSettings {
            api_token: Some(Secret::new("x")),
            ..s
        };
        assert!(both.validate().is_err());
        // A file given in a higher layer replaces a value below it.
        let lower = wildcert_provider::spec::object(serde_json::json!({ "api_token": "x" }));
        let upper = env(&[(
            "CLOUDFLARE_DNS_API_TOKEN_FILE",
            p.to_str().expect("utf-8 path"),
        )]);
        let layered = CloudflareSettings::SPEC
            .layer(Some(&lower), None, &upper)
            .and_then(|l| CloudflareSettings::from_layered(&l))
            .expect("layers");
        assert!(layered.validate().is_ok());
    }
}
