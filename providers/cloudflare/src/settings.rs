//! Settings of the cloudflare provider: config file keys, environment variables (lego's names),
//! layering, and validation into a ready [`CloudflareConfig`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use wildcert_dns::settings::{
    check_kind, config_error, env_value, merge_secret_pair, secret_or_file,
};
use wildcert_dns::{LayeredSettings, ProviderError, Secret, SettingDoc};

/// Provider kind name.
pub const KIND: &str = "cloudflare";

/// The public API endpoint.
pub const DEFAULT_BASE_URL: &str = "https://api.cloudflare.com/client/v4";

/// Bound on one HTTP request (connect + answer).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Default of `rate_limit_wait`: Cloudflare blocks a token for five minutes once it exceeds
/// 1,200 requests in five minutes; this outlasts one block.
pub const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(360);

/// Every setting, for `wildcert providers cloudflare` and docs/providers/cloudflare.md.
pub const SETTINGS: &[SettingDoc] = &[
    SettingDoc {
        key: "api_token",
        env: "CLOUDFLARE_DNS_API_TOKEN (or CF_DNS_API_TOKEN)",
        required: "unless api_key + email",
        default: "",
        description: "API token with Zone:DNS:Edit on the zone (and Zone:Zone:Read unless zone_id or zone_api_token is given)",
    },
    SettingDoc {
        key: "api_token_file",
        env: "CLOUDFLARE_DNS_API_TOKEN_FILE (or CF_DNS_API_TOKEN_FILE)",
        required: "no",
        default: "",
        description: "File holding the API token (instead of api_token)",
    },
    SettingDoc {
        key: "zone_api_token",
        env: "CLOUDFLARE_ZONE_API_TOKEN (or CF_ZONE_API_TOKEN)",
        required: "no",
        default: "api_token",
        description: "Separate token with Zone:Zone:Read, used only to look zones up by name",
    },
    SettingDoc {
        key: "zone_api_token_file",
        env: "CLOUDFLARE_ZONE_API_TOKEN_FILE (or CF_ZONE_API_TOKEN_FILE)",
        required: "no",
        default: "",
        description: "File holding the zone-read token",
    },
    SettingDoc {
        key: "zone_id",
        env: "CLOUDFLARE_ZONE_ID",
        required: "no",
        default: "looked up by name",
        description: "Zone id (dashboard: zone Overview, API section); no zone lookup is made, so a token without Zone:Read works",
    },
    SettingDoc {
        key: "email",
        env: "CLOUDFLARE_EMAIL (or CF_API_EMAIL)",
        required: "with api_key",
        default: "",
        description: "Account e-mail for the legacy Global API Key",
    },
    SettingDoc {
        key: "api_key",
        env: "CLOUDFLARE_API_KEY (or CF_API_KEY)",
        required: "unless api_token",
        default: "",
        description: "Legacy Global API Key (full account access: prefer an API token)",
    },
    SettingDoc {
        key: "api_key_file",
        env: "CLOUDFLARE_API_KEY_FILE (or CF_API_KEY_FILE)",
        required: "no",
        default: "",
        description: "File holding the Global API Key",
    },
    SettingDoc {
        key: "ttl",
        env: "CLOUDFLARE_TTL",
        required: "no",
        default: "the run's TTL, raised to 60 (1 = automatic)",
        description: "TTL of the TXT records; set explicitly, 30 is allowed (Enterprise zones), else 60..86400 or 1",
    },
    SettingDoc {
        key: "rate_limit_wait",
        env: "CLOUDFLARE_RATE_LIMIT_WAIT",
        required: "no",
        default: "360",
        description: "Seconds a run may spend waiting out Cloudflare's rate limit (HTTP 429; a five-minute block after 1,200 requests in five minutes), in all",
    },
    SettingDoc {
        key: "base_url",
        env: "CLOUDFLARE_BASE_URL",
        required: "no",
        default: DEFAULT_BASE_URL,
        description: "API endpoint (for proxies and tests)",
    },
];

/// Settings as written in `[providers.<id>]` (with `kind = "cloudflare"`) or in the environment.
/// Every field is optional so layers merge; [`CloudflareSettings::validate`] checks the result.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudflareSettings {
    /// The section's `kind`; accepted so a whole `[providers.<id>]` section deserialises.
    #[serde(default)]
    pub kind: Option<String>,
    /// API token (DNS:Edit).
    pub api_token: Option<Secret>,
    /// File holding the API token.
    pub api_token_file: Option<PathBuf>,
    /// Token used only for zone lookups (Zone:Read).
    pub zone_api_token: Option<Secret>,
    /// File holding the zone-read token.
    pub zone_api_token_file: Option<PathBuf>,
    /// Zone id: no zone lookup at all.
    pub zone_id: Option<String>,
    /// Account e-mail (global API key).
    pub email: Option<String>,
    /// Global API key.
    pub api_key: Option<Secret>,
    /// File holding the global API key.
    pub api_key_file: Option<PathBuf>,
    /// API endpoint.
    pub base_url: Option<String>,
    /// TXT record TTL, explicitly.
    pub ttl: Option<u32>,
    /// Seconds a run may wait out rate limiting, in all.
    pub rate_limit_wait: Option<u64>,
}

fn bad(message: impl Into<String>) -> ProviderError {
    config_error(KIND, message)
}

/// A number from the environment.
fn number<T: std::str::FromStr>(
    env: &HashMap<String, String>,
    key: &str,
) -> Result<Option<T>, ProviderError> {
    match env_value(env, key).map(|v| v.trim().to_string()) {
        None => Ok(None),
        Some(v) => v
            .parse::<T>()
            .map(Some)
            .map_err(|_| bad(format!("{key}=`{v}`: expected a whole number"))),
    }
}

impl LayeredSettings for CloudflareSettings {
    /// Read the `CLOUDFLARE_*` / `CF_*` variables from an environment map (lego's names).
    fn from_env_map(env: &HashMap<String, String>) -> Result<Self, ProviderError> {
        let get = |k: &str| env_value(env, k);
        let first = |a: &str, b: &str| get(a).or_else(|| get(b));
        Ok(CloudflareSettings {
            kind: None,
            api_token: first("CLOUDFLARE_DNS_API_TOKEN", "CF_DNS_API_TOKEN").map(Secret::new),
            api_token_file: first("CLOUDFLARE_DNS_API_TOKEN_FILE", "CF_DNS_API_TOKEN_FILE")
                .map(PathBuf::from),
            zone_api_token: first("CLOUDFLARE_ZONE_API_TOKEN", "CF_ZONE_API_TOKEN")
                .map(Secret::new),
            zone_api_token_file: first("CLOUDFLARE_ZONE_API_TOKEN_FILE", "CF_ZONE_API_TOKEN_FILE")
                .map(PathBuf::from),
            zone_id: get("CLOUDFLARE_ZONE_ID"),
            email: first("CLOUDFLARE_EMAIL", "CF_API_EMAIL"),
            api_key: first("CLOUDFLARE_API_KEY", "CF_API_KEY").map(Secret::new),
            api_key_file: first("CLOUDFLARE_API_KEY_FILE", "CF_API_KEY_FILE").map(PathBuf::from),
            base_url: get("CLOUDFLARE_BASE_URL"),
            ttl: number(env, "CLOUDFLARE_TTL")?,
            rate_limit_wait: number(env, "CLOUDFLARE_RATE_LIMIT_WAIT")?,
        })
    }

    /// Layer `over` on top of `self`: every setting `over` gives wins. A secret given in one
    /// form in `over` (value or file) replaces both forms below it.
    fn merge(self, over: CloudflareSettings) -> CloudflareSettings {
        let (api_token, api_token_file) = merge_secret_pair(
            (self.api_token, self.api_token_file),
            (over.api_token, over.api_token_file),
        );
        let (zone_api_token, zone_api_token_file) = merge_secret_pair(
            (self.zone_api_token, self.zone_api_token_file),
            (over.zone_api_token, over.zone_api_token_file),
        );
        let (api_key, api_key_file) = merge_secret_pair(
            (self.api_key, self.api_key_file),
            (over.api_key, over.api_key_file),
        );
        CloudflareSettings {
            kind: over.kind.or(self.kind),
            api_token,
            api_token_file,
            zone_api_token,
            zone_api_token_file,
            zone_id: over.zone_id.or(self.zone_id),
            email: over.email.or(self.email),
            api_key,
            api_key_file,
            base_url: over.base_url.or(self.base_url),
            ttl: over.ttl.or(self.ttl),
            rate_limit_wait: over.rate_limit_wait.or(self.rate_limit_wait),
        }
    }
}

impl CloudflareSettings {
    /// Check the settings, read secret files, and build the provider's configuration.
    pub fn validate(&self) -> Result<CloudflareConfig, ProviderError> {
        check_kind(KIND, self.kind.as_deref())?;
        let token = secret_or_file(KIND, "api_token", &self.api_token, &self.api_token_file)?;
        let zone_token = secret_or_file(
            KIND,
            "zone_api_token",
            &self.zone_api_token,
            &self.zone_api_token_file,
        )?;
        let key = secret_or_file(KIND, "api_key", &self.api_key, &self.api_key_file)?;
        let email = self
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_string);
        let auth = match (token, key, email) {
            (Some(t), _, _) => Auth::Token(t),
            (None, Some(key), Some(email)) => Auth::GlobalKey { email, key },
            (None, Some(_), None) => {
                return Err(bad(
                    "api_key (CLOUDFLARE_API_KEY) is the legacy Global API Key and needs `email` \
                     (CLOUDFLARE_EMAIL) too; better, create an API token with Zone:DNS:Edit and set api_token",
                ));
            }
            (None, None, Some(_)) => {
                return Err(bad(
                    "email is set but no api_key; set api_key (CLOUDFLARE_API_KEY), or use an API token \
                     (api_token / CLOUDFLARE_DNS_API_TOKEN) instead",
                ));
            }
            (None, None, None) => {
                return Err(bad(
                    "no credentials: set api_token (CLOUDFLARE_DNS_API_TOKEN) to an API token with \
                     Zone:DNS:Edit (and Zone:Zone:Read, or set zone_id), or api_key + email for the \
                     legacy Global API Key",
                ));
            }
        };
        let zone_auth = match zone_token {
            Some(t) => Auth::Token(t),
            None => auth.clone(),
        };
        let zone_id = match self.zone_id.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(z) if z.chars().all(|c| c.is_ascii_alphanumeric()) && z.len() <= 64 => {
                Some(z.to_string())
            }
            Some(z) => {
                return Err(bad(format!(
                    "zone_id `{z}` is not a zone id (32 hex digits, shown on the zone's Overview page)"
                )));
            }
        };
        let base_url = self
            .base_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .unwrap_or(DEFAULT_BASE_URL)
            .trim_end_matches('/')
            .to_string();
        let parsed = reqwest::Url::parse(&base_url)
            .map_err(|e| bad(format!("base_url `{base_url}`: {e}")))?;
        if !matches!(parsed.scheme(), "https" | "http") || parsed.host_str().is_none() {
            return Err(bad(format!(
                "base_url `{base_url}` must be an http(s) URL such as {DEFAULT_BASE_URL}"
            )));
        }
        let ttl = match self.ttl {
            None => None,
            Some(t) if t == 1 || (30..=86400).contains(&t) => Some(t),
            Some(t) => {
                return Err(bad(format!(
                    "ttl {t}: Cloudflare takes 1 (automatic) or 30..86400 seconds (below 60 on Enterprise zones only)"
                )));
            }
        };
        Ok(CloudflareConfig {
            auth,
            zone_auth,
            zone_id,
            base_url,
            timeout: DEFAULT_TIMEOUT,
            ttl,
            rate_limit_wait: self
                .rate_limit_wait
                .map_or(DEFAULT_RATE_LIMIT_WAIT, Duration::from_secs),
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
    pub base_url: String,
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

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn env_names_and_layering() {
        let file: CloudflareSettings = serde_json::from_value(serde_json::json!({
            "kind": "cloudflare", "api_token": "file-token", "zone_id": "abc123"
        }))
        .expect("deserialise");
        let e = CloudflareSettings::from_env_map(&env(&[
            ("CF_DNS_API_TOKEN", "env-token"),
            ("CLOUDFLARE_BASE_URL", "http://127.0.0.1:1/client/v4/"),
        ]))
        .expect("env");
        let merged = file.merge(e);
        let cfg = merged.validate().expect("valid");
        assert_eq!(cfg.auth, Auth::Token(Secret::new("env-token")));
        assert_eq!(cfg.zone_auth, cfg.auth);
        assert_eq!(cfg.zone_id.as_deref(), Some("abc123"));
        assert_eq!(cfg.base_url, "http://127.0.0.1:1/client/v4");
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
        let lower = CloudflareSettings {
            api_token: Some(Secret::new("x")),
            ..Default::default()
        };
        let upper = CloudflareSettings {
            api_token_file: Some(p),
            ..Default::default()
        };
        assert!(lower.merge(upper).validate().is_ok());
    }
}
