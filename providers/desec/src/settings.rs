//! Settings of the desec provider, declared once: `wildcert providers desec`,
//! docs/providers/desec.md and the layering of certbot file, section and environment (lego's
//! names) all come from [`DesecSettings`]; [`DesecSettings::validate`] makes a [`DesecConfig`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use wildcert_provider::settings::{config_error, https_base_url, secret_or_file};
use wildcert_provider::spec::{LayeredSettings, Registration};
use wildcert_provider::{Kind, ProviderError, Secret};

/// Provider kind.
pub const KIND: Kind = DesecSettings::KIND;

/// The deSEC API root, as documented.
pub const DEFAULT_BASE_URL: &str = "https://desec.io/api/v1";

/// The desec provider as the registry lists it.
pub const PROVIDER: Registration = Registration {
    spec: DesecSettings::SPEC,
    build: |layered, _| {
        let settings = DesecSettings::from_layered(layered)?;
        Ok(std::sync::Arc::new(crate::DesecProvider::new(&settings)?))
    },
};

/// Settings as written in `[providers.<id>]` (with `kind = "desec"`), a certbot-dns-desec
/// credentials file or the environment. Every field is optional so layers can be merged;
/// [`DesecSettings::validate`] checks them.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, wildcert_provider::LayeredSettings)]
#[serde(deny_unknown_fields)]
#[provider(
    kind = "desec",
    summary = "deSEC.io DNS API (token), one bulk RRset PATCH per zone",
    env_prefix = "DESEC",
    certbot = ["dns_desec_"],
    hint_auth = "create a deSEC token (desec.io, Token management) whose policy lets it write TXT RRsets \
                 at _acme-challenge names of the domain",
    hint_zone_not_found = "the domain must be in the deSEC account the token belongs to (and allowed by the \
                           token's policy)",
    hint_rate_limited = "deSEC allows 15 RRset changes a minute and 100 an hour per domain: raise \
                         `rate_limit_wait` (DESEC_RATE_LIMIT_WAIT) or issue fewer certificates at once"
)]
pub struct DesecSettings {
    /// deSEC API token
    #[setting(
        required = "one of `token` / `token_file`",
        env = ["DESEC_TOKEN"],
        certbot = "token",
        pair = "token_file"
    )]
    pub token: Option<Secret>,
    /// File holding the API token
    #[setting(env = ["DESEC_TOKEN_FILE"], pair = "token")]
    pub token_file: Option<PathBuf>,
    /// API root (for proxies and tests); requests go to `{base_url}/domains/…`
    #[setting(default = "https://desec.io/api/v1", env = ["DESEC_API_URL"], certbot = "endpoint")]
    pub base_url: Option<String>,
    /// Seconds to wait for one API answer
    #[setting(default = "30", env = ["DESEC_HTTP_TIMEOUT"], ty = "seconds")]
    pub timeout: Option<u64>,
    /// Seconds a run may spend waiting out HTTP 429 (deSEC throttles RRset changes per domain
    /// and reads per account), in all
    #[setting(default = "300", env = ["DESEC_RATE_LIMIT_WAIT"], ty = "seconds")]
    pub rate_limit_wait: Option<u64>,
}

fn bad(message: impl Into<String>) -> ProviderError {
    config_error(KIND, message)
}

impl DesecSettings {
    /// Check the settings, read the token file, and build the provider's configuration.
    pub fn validate(&self) -> Result<DesecConfig, ProviderError> {
        let token = secret_or_file(KIND, "token", &self.token, &self.token_file)?.ok_or_else(|| {
            bad("no API token: set `token_file` (DESEC_TOKEN_FILE) or `token` (DESEC_TOKEN, certbot's \
                 dns_desec_token) to a deSEC token")
        })?;
        let odd = |c: char| c.is_control() || !c.is_ascii() || c == ' ';
        if token.expose().chars().any(odd) {
            return Err(bad(
                "the API token (DESEC_TOKEN) contains blanks, control or non-ASCII characters",
            ));
        }
        let url = self.base_url.as_deref().filter(|u| !u.trim().is_empty());
        let key = "base_url (DESEC_API_URL)";
        let base_url = https_base_url(KIND, key, url.unwrap_or(DEFAULT_BASE_URL), &[])?;
        let secs = |v: Option<u64>, d: u64| Duration::from_secs(v.unwrap_or(d));
        Ok(DesecConfig {
            token,
            base_url,
            timeout: secs(self.timeout, 30).max(Duration::from_secs(1)),
            rate_limit_wait: secs(self.rate_limit_wait, 300),
        })
    }
}

/// Validated configuration of the provider.
#[derive(Clone, Debug)]
pub struct DesecConfig {
    /// The API token.
    pub token: Secret,
    /// API root, e.g. `https://desec.io/api/v1`.
    pub base_url: reqwest::Url,
    /// Bound on one request.
    pub timeout: Duration,
    /// Bound on waiting out rate limiting, for the whole run.
    pub rate_limit_wait: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    use wildcert_provider::spec::env_map as env;

    #[test]
    fn lego_names_and_defaults() {
        let s = DesecSettings::from_env_map(&env(&[
            ("DESEC_TOKEN", "s3cret"),
            ("DESEC_HTTP_TIMEOUT", "7"),
        ]))
        .expect("env");
        let cfg = s.validate().expect("valid");
        assert_eq!(cfg.base_url.as_str(), "https://desec.io/api/v1");
        assert_eq!(cfg.token.expose(), "s3cret");
        assert_eq!(cfg.timeout, Duration::from_secs(7));
        assert_eq!(cfg.rate_limit_wait, Duration::from_secs(300));
        assert!(!format!("{cfg:?} {s:?}").contains("s3cret"));
        let s = DesecSettings::from_env_map(&env(&[
            ("DESEC_TOKEN", "t"),
            ("DESEC_API_URL", "http://127.0.0.1:9/api/v1/"),
        ]))
        .expect("env");
        let cfg = s.validate().expect("valid");
        assert_eq!(cfg.base_url.as_str(), "http://127.0.0.1:9/api/v1");
    }

    #[test]
    fn bad_input_names_the_variable_and_hides_the_secret() {
        let e = DesecSettings::default().validate().expect_err("no token");
        assert!(e.to_string().contains("DESEC_TOKEN"), "{e}");
        let with = |f: fn(&mut DesecSettings)| {
            let mut s = DesecSettings {
                token: Some(Secret::new("tok en-secret")),
                ..Default::default()
            };
            f(&mut s);
            s.validate().expect_err("refused").to_string()
        };
        let e = with(|_| {});
        assert!(e.contains("DESEC_TOKEN") && !e.contains("en-secret"), "{e}");
        let e = with(|s| {
            s.token = Some(Secret::new("t"));
            s.base_url = Some("ftp://x".into());
        });
        assert!(
            e.contains("DESEC_API_URL") && e.contains("http or https"),
            "{e}"
        );
        assert!(DesecSettings::from_env_map(&env(&[("DESEC_HTTP_TIMEOUT", "soon")])).is_err());
        let r: Result<DesecSettings, _> =
            serde_json::from_value(serde_json::json!({ "tokn": "x" }));
        assert!(r.is_err());
    }
}
