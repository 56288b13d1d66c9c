//! Settings of the bunny provider, declared once: `wildcert providers bunny`,
//! docs/providers/bunny.md and the layering of section, certbot file and environment
//! (lego's `BUNNY_*` names) come from [`BunnySettings`]; `validate` makes a [`BunnyConfig`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use wildcert_provider::settings::{config_error, https_base_url, secret_or_file};
use wildcert_provider::spec::{LayeredSettings, Registration};
use wildcert_provider::{Kind, ProviderError, Secret};

/// Provider kind.
pub const KIND: Kind = BunnySettings::KIND;

/// The documented API root; requests go to `{base}/dnszone…`.
pub const DEFAULT_BASE_URL: &str = "https://api.bunny.net";

/// The smallest TTL taken (lego's minimum for Bunny).
pub const MIN_TTL: u32 = 60;

/// The bunny provider as the registry lists it.
pub const PROVIDER: Registration = Registration {
    spec: BunnySettings::SPEC,
    build: |layered, _| {
        let settings = BunnySettings::from_layered(layered)?;
        Ok(std::sync::Arc::new(crate::BunnyProvider::new(&settings)?))
    },
};

/// Settings as written in `[providers.<id>]` (with `kind = "bunny"`), a certbot credentials
/// file or the environment.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, wildcert_provider::LayeredSettings)]
#[serde(deny_unknown_fields)]
#[provider(
    kind = "bunny",
    summary = "Bunny DNS API (AccessKey header), records by zone id, one record per value",
    env_prefix = "BUNNY",
    certbot = ["dns_bunny_"],
    hint_auth = "check the API key (BUNNY_API_KEY): bunny.net dashboard → Account settings → API key",
    hint_zone_not_found = "add the domain (or the delegated sub-zone) under DNS in the bunny.net dashboard",
    hint_rate_limited = "Bunny's API answered HTTP 429: wait, or raise rate_limit_wait"
)]
pub struct BunnySettings {
    /// API key of the bunny.net account (prefer `api_key_file`)
    #[setting(
        required = "one of `api_key` / `api_key_file`",
        env = ["BUNNY_API_KEY"],
        certbot = "api_key",
        pair = "api_key_file"
    )]
    pub api_key: Option<Secret>,
    /// File holding the API key
    #[setting(
        required = "one of `api_key` / `api_key_file`",
        env = ["BUNNY_API_KEY_FILE"],
        pair = "api_key"
    )]
    pub api_key_file: Option<PathBuf>,
    /// API root; requests go to `{base_url}/dnszone…` (plain http only to a loopback address)
    #[setting(default = "https://api.bunny.net", env = ["BUNNY_API_URL"])]
    pub base_url: Option<String>,
    /// TTL of the TXT records in seconds, at least 60 (lego's default and minimum);
    /// `[dns] ttl` wins when set, raised to 60
    #[setting(default = "60", env = ["BUNNY_TTL"])]
    pub ttl: Option<u32>,
    /// Seconds to wait for one API answer
    #[setting(default = "30", env = ["BUNNY_HTTP_TIMEOUT"], ty = "seconds")]
    pub timeout: Option<u64>,
    /// Seconds a run may spend waiting out HTTP 429 answers, in all
    #[setting(default = "120", env = ["BUNNY_RATE_LIMIT_WAIT"], ty = "seconds")]
    pub rate_limit_wait: Option<u64>,
}

fn bad(message: impl Into<String>) -> ProviderError {
    config_error(KIND, message)
}

impl BunnySettings {
    /// Check the settings, read the key file, and build the provider's configuration.
    pub fn validate(&self) -> Result<BunnyConfig, ProviderError> {
        let api_key = secret_or_file(KIND, "api_key", &self.api_key, &self.api_key_file)?
            .ok_or_else(|| {
                bad("no API key: set `api_key_file` (BUNNY_API_KEY_FILE) or `api_key` (BUNNY_API_KEY)")
            })?;
        if api_key.expose().chars().any(|c| !c.is_ascii_graphic()) {
            return Err(bad(
                "the API key (BUNNY_API_KEY) contains blanks, control or non-ASCII characters; check for a bad copy",
            ));
        }
        let url = self.base_url.as_deref().filter(|u| !u.trim().is_empty());
        let base_url = https_base_url(
            KIND,
            "base_url (BUNNY_API_URL)",
            url.unwrap_or(DEFAULT_BASE_URL),
            &[],
        )?;
        let ttl = self.ttl.unwrap_or(MIN_TTL);
        if ttl < MIN_TTL {
            return Err(bad(format!(
                "ttl {ttl} (BUNNY_TTL): use at least {MIN_TTL} seconds"
            )));
        }
        Ok(BunnyConfig {
            api_key,
            base_url,
            ttl,
            timeout: Duration::from_secs(self.timeout.unwrap_or(30).max(1)),
            rate_limit_wait: Duration::from_secs(self.rate_limit_wait.unwrap_or(120)),
        })
    }
}

/// Validated configuration of the provider.
#[derive(Clone, Debug)]
pub struct BunnyConfig {
    /// The API key.
    pub api_key: Secret,
    /// API root.
    pub base_url: reqwest::Url,
    /// TTL of the records (at least 60).
    pub ttl: u32,
    /// Bound on one request.
    pub timeout: Duration,
    /// Bound on waiting out rate limiting, for the whole run.
    pub rate_limit_wait: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;
    use wildcert_provider::spec::env_map as env;
    use wildcert_provider::spec::object;

    #[test]
    fn lego_names_and_layers() {
        let file = object(serde_json::json!({ "kind": "bunny", "api_key": "file-key" }));
        let e = env(&[
            ("BUNNY_API_KEY", "env-key"),
            ("BUNNY_API_URL", "http://127.0.0.1:9/"),
            ("BUNNY_HTTP_TIMEOUT", "7"),
            ("BUNNY_TTL", "120"),
        ]);
        let s = BunnySettings::SPEC
            .layer(Some(&file), None, &e)
            .and_then(|l| BunnySettings::from_layered(&l))
            .expect("layers");
        let cfg = s.validate().expect("valid");
        assert_eq!(cfg.api_key.expose(), "env-key");
        assert_eq!(cfg.base_url.as_str(), "http://127.0.0.1:9/");
        assert_eq!(cfg.timeout, Duration::from_secs(7));
        assert_eq!(cfg.ttl, 120);
        assert!(!format!("{s:?}").contains("env-key"));
        let d = BunnySettings {
            api_key: Some(Secret::new("k")),
            ..Default::default()
        };
        let d = d.validate().expect("valid");
        assert_eq!(d.base_url.as_str(), "https://api.bunny.net/");
        assert_eq!(d.ttl, 60);
    }

    #[test]
    fn bad_input_names_the_variable_and_never_the_secret() {
        let e = BunnySettings::default().validate().expect_err("no key");
        assert!(e.to_string().contains("BUNNY_API_KEY"), "{e}");
        let with = |f: fn(&mut BunnySettings)| {
            let mut s = BunnySettings {
                api_key: Some(Secret::new("s3cret-key")),
                ..Default::default()
            };
            f(&mut s);
            s.validate().expect_err("refused").to_string()
        };
        let e = with(|s| s.base_url = Some("http://api.bunny.net".into()));
        assert!(e.contains("BUNNY_API_URL") && e.contains("loopback"), "{e}");
        let e = with(|s| s.ttl = Some(10));
        assert!(e.contains("BUNNY_TTL"), "{e}");
        let e = with(|s| s.api_key = Some(Secret::new("s3cret key")));
        assert!(e.contains("BUNNY_API_KEY") && !e.contains("s3cret"), "{e}");
        let r = BunnySettings::from_env_map(&env(&[("BUNNY_HTTP_TIMEOUT", "soon")]));
        assert!(
            r.expect_err("seconds")
                .to_string()
                .contains("BUNNY_HTTP_TIMEOUT")
        );
    }
}
