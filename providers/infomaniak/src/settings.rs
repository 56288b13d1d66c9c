//! Settings of the infomaniak provider, declared once: `wildcert providers infomaniak`,
//! docs/providers/infomaniak.md and the layering of section, certbot file
//! (certbot-dns-infomaniak's `dns_infomaniak_token`) and environment (lego's `INFOMANIAK_*`
//! names) come from [`InfomaniakSettings`]; [`InfomaniakSettings::validate`] makes an
//! [`InfomaniakConfig`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use wildcert_provider::settings::{config_error, https_base_url, secret_or_file};
use wildcert_provider::spec::{LayeredSettings, Registration};
use wildcert_provider::{Kind, ProviderError, Secret};

/// Provider kind.
pub const KIND: Kind = InfomaniakSettings::KIND;

/// Infomaniak's API root, as lego uses it; requests go to `{base}/1/…`.
pub const DEFAULT_BASE_URL: &str = "https://api.infomaniak.com";

/// The infomaniak provider as the registry lists it.
pub const PROVIDER: Registration = Registration {
    spec: InfomaniakSettings::SPEC,
    build: |layered, _| {
        let settings = InfomaniakSettings::from_layered(layered)?;
        Ok(std::sync::Arc::new(crate::InfomaniakProvider::new(
            &settings,
        )?))
    },
};

/// Settings as written in `[providers.<id>]` (with `kind = "infomaniak"`), a
/// certbot-dns-infomaniak credentials file or the environment.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, wildcert_provider::LayeredSettings)]
#[serde(deny_unknown_fields)]
#[provider(
    kind = "infomaniak",
    summary = "Infomaniak API v1 (bearer token with the domain scope), one DNS record per value",
    env_prefix = "INFOMANIAK",
    certbot = ["dns_infomaniak_"],
    hint_auth = "make a token at manager.infomaniak.com/v3/infomaniak-api with the scope \"domain\" and set \
                 INFOMANIAK_ACCESS_TOKEN",
    hint_zone_not_found = "the token sees the domains of its Infomaniak account only: use a token of the \
                           account that holds the domain"
)]
pub struct InfomaniakSettings {
    /// API token with the `domain` scope (sent as `Authorization: Bearer …`)
    #[setting(
        required = "one of `token` / `token_file`",
        env = ["INFOMANIAK_ACCESS_TOKEN"],
        certbot = "token",
        pair = "token_file"
    )]
    pub token: Option<Secret>,
    /// File holding the API token
    #[setting(env = ["INFOMANIAK_ACCESS_TOKEN_FILE"], pair = "token")]
    pub token_file: Option<PathBuf>,
    /// API root (for proxies and tests); requests go to `{base_url}/1/…`
    #[setting(default = "https://api.infomaniak.com", env = ["INFOMANIAK_ENDPOINT", "INFOMANIAK_API_URL"])]
    pub base_url: Option<String>,
    /// Seconds to wait for one API answer
    #[setting(default = "30", env = ["INFOMANIAK_HTTP_TIMEOUT"], ty = "seconds")]
    pub timeout: Option<u64>,
    /// Seconds a run may spend waiting out HTTP 429 answers, in all
    #[setting(default = "120", env = ["INFOMANIAK_RATE_LIMIT_WAIT"], ty = "seconds")]
    pub rate_limit_wait: Option<u64>,
}

impl InfomaniakSettings {
    /// Check the settings, read the secret file, and build the provider's configuration.
    pub fn validate(&self) -> Result<InfomaniakConfig, ProviderError> {
        let token = secret_or_file(KIND, "token", &self.token, &self.token_file)?;
        let token = token
            .filter(|t| !t.expose().trim().is_empty())
            .ok_or_else(|| {
                config_error(
                    KIND,
                    "no API token: set `token_file` (INFOMANIAK_ACCESS_TOKEN_FILE) or `token` \
                 (INFOMANIAK_ACCESS_TOKEN) to an Infomaniak API token with the domain scope",
                )
            })?;
        let token = Secret::new(token.expose().trim());
        if !token.expose().chars().all(|c| c.is_ascii_graphic()) {
            return Err(config_error(
                KIND,
                "INFOMANIAK_ACCESS_TOKEN contains blanks, control or non-ASCII characters; check for a bad copy",
            ));
        }
        let url = self.base_url.as_deref().filter(|u| !u.trim().is_empty());
        let key = "base_url (INFOMANIAK_ENDPOINT)";
        let base_url = https_base_url(KIND, key, url.unwrap_or(DEFAULT_BASE_URL), &["/1"])?;
        let secs = |v: Option<u64>, d: u64| Duration::from_secs(v.unwrap_or(d).max(1));
        Ok(InfomaniakConfig {
            token,
            base_url,
            timeout: secs(self.timeout, 30),
            rate_limit_wait: Duration::from_secs(self.rate_limit_wait.unwrap_or(120)),
        })
    }
}

/// Validated configuration of the provider.
#[derive(Clone, Debug)]
pub struct InfomaniakConfig {
    /// The API token.
    pub token: Secret,
    /// API root, e.g. `https://api.infomaniak.com`.
    pub base_url: reqwest::Url,
    /// Bound on one request.
    pub timeout: Duration,
    /// Bound on waiting out rate limiting, for the whole run.
    pub rate_limit_wait: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;
    use wildcert_provider::spec::{env_map as env, object};

    #[test]
    fn lego_names_certbot_keys_and_defaults() {
        let s = InfomaniakSettings::from_env_map(&env(&[
            ("INFOMANIAK_ACCESS_TOKEN", "tok_s3cret"),
            ("INFOMANIAK_HTTP_TIMEOUT", "7"),
        ]))
        .expect("env");
        let cfg = s.validate().expect("valid");
        assert_eq!(cfg.base_url.as_str(), "https://api.infomaniak.com/");
        assert_eq!(cfg.token, Secret::new("tok_s3cret"));
        assert_eq!(cfg.timeout, Duration::from_secs(7));
        assert!(!format!("{cfg:?} {s:?}").contains("s3cret"));
        let dir = tempfile::tempdir().expect("tmp");
        let ini = dir.path().join("infomaniak.ini");
        std::fs::write(&ini, "dns_infomaniak_token = ini-token\n").expect("ini");
        let e = env(&[("INFOMANIAK_ENDPOINT", "http://127.0.0.1:9/")]);
        let section = object(serde_json::json!({ "kind": "infomaniak" }));
        let l = InfomaniakSettings::SPEC
            .layer(Some(&section), Some(&ini), &e)
            .expect("layers");
        let cfg = InfomaniakSettings::from_layered(&l)
            .and_then(|s| s.validate())
            .expect("valid");
        assert_eq!(cfg.token, Secret::new("ini-token"));
        assert_eq!(cfg.base_url.as_str(), "http://127.0.0.1:9/");
    }

    #[test]
    fn bad_input_names_the_variable_and_hides_the_secret() {
        let e = InfomaniakSettings::default().validate().expect_err("none");
        assert!(e.to_string().contains("INFOMANIAK_ACCESS_TOKEN"), "{e}");
        let with = |f: fn(&mut InfomaniakSettings)| {
            let mut s = InfomaniakSettings {
                token: Some(Secret::new("t")),
                ..Default::default()
            };
            f(&mut s);
            s.validate().expect_err("refused").to_string()
        };
        let e = with(|s| s.token = Some(Secret::new("tok s3cret")));
        assert!(
            e.contains("INFOMANIAK_ACCESS_TOKEN") && !e.contains("s3cret"),
            "{e}"
        );
        let e = with(|s| s.base_url = Some("http://api.infomaniak.com".into()));
        assert!(
            e.contains("INFOMANIAK_ENDPOINT") && e.contains("loopback"),
            "{e}"
        );
        let r = InfomaniakSettings::from_env_map(&env(&[("INFOMANIAK_HTTP_TIMEOUT", "soon")]));
        assert!(
            r.expect_err("seconds")
                .to_string()
                .contains("INFOMANIAK_HTTP_TIMEOUT")
        );
    }
}
