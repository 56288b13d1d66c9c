//! Settings of the vultr provider, declared once: `wildcert providers vultr`,
//! docs/providers/vultr.md and the layering of section and environment (lego's `VULTR_*`
//! names) come from [`VultrSettings`]; `validate` makes a [`VultrConfig`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use wildcert_provider::settings::{config_error, https_base_url, secret_or_file};
use wildcert_provider::spec::{LayeredSettings, Registration};
use wildcert_provider::{DnsName, Kind, ProviderError, Secret};

/// Provider kind.
pub const KIND: Kind = VultrSettings::KIND;

/// The documented API root; requests go to `{base}/domains…`.
pub const DEFAULT_BASE_URL: &str = "https://api.vultr.com/v2";

/// The vultr provider as the registry lists it.
pub const PROVIDER: Registration = Registration {
    spec: VultrSettings::SPEC,
    build: |layered, _| {
        let settings = VultrSettings::from_layered(layered)?;
        Ok(std::sync::Arc::new(crate::VultrProvider::new(&settings)?))
    },
};

/// Settings as written in `[providers.<id>]` (with `kind = "vultr"`) or the environment.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, wildcert_provider::LayeredSettings)]
#[serde(deny_unknown_fields)]
#[provider(
    kind = "vultr",
    summary = "Vultr API v2 DNS records (API key as bearer), one record per value",
    env_prefix = "VULTR",
    hint_auth = "check the API key (VULTR_API_KEY) under Account → API; when Vultr names an IP \
                 address, add that address (IPv4 and IPv6) to the key's Access Control list",
    hint_zone_not_found = "add the domain under Network → DNS of the account the API key belongs to, or set zone (VULTR_ZONE)",
    hint_rate_limited = "Vultr allows about 30 requests per second per account: wait, or raise rate_limit_wait"
)]
pub struct VultrSettings {
    /// API key of the Vultr account (or of a sub-user with the DNS permission; prefer `api_key_file`)
    #[setting(
        required = "one of `api_key` / `api_key_file`",
        env = ["VULTR_API_KEY"],
        pair = "api_key_file"
    )]
    pub api_key: Option<Secret>,
    /// File holding the API key (no secret in the config file or the process environment)
    #[setting(env = ["VULTR_API_KEY_FILE"], pair = "api_key")]
    pub api_key_file: Option<PathBuf>,
    /// API root, including `/v2` (plain http only to a loopback address)
    #[setting(default = "https://api.vultr.com/v2", env = ["VULTR_API_URL"])]
    pub base_url: Option<String>,
    /// The domain (zone) to change, e.g. `example.com`; by default the longest domain of the
    /// account that contains the name
    #[setting(env = ["VULTR_ZONE"])]
    pub zone: Option<String>,
    /// Seconds to wait for one API answer
    #[setting(default = "30", env = ["VULTR_HTTP_TIMEOUT"], ty = "seconds")]
    pub timeout: Option<u64>,
    /// Seconds a run may spend waiting out HTTP 429 answers, in all
    #[setting(default = "120", env = ["VULTR_RATE_LIMIT_WAIT"], ty = "seconds")]
    pub rate_limit_wait: Option<u64>,
}

fn bad(message: impl Into<String>) -> ProviderError {
    config_error(KIND, message)
}

impl VultrSettings {
    /// Check the settings, read the key file, and build the provider's configuration.
    pub fn validate(&self) -> Result<VultrConfig, ProviderError> {
        let key = secret_or_file(KIND, "api_key", &self.api_key, &self.api_key_file)?
            .ok_or_else(|| {
                bad("no API key: set `api_key_file` (VULTR_API_KEY_FILE) or `api_key` (VULTR_API_KEY)")
            })?;
        if key.expose().chars().any(|c| !c.is_ascii_graphic()) {
            return Err(bad(
                "the API key (VULTR_API_KEY) contains blanks, control or non-ASCII characters; check for a bad copy",
            ));
        }
        let url = self.base_url.as_deref().filter(|u| !u.trim().is_empty());
        let what = "base_url (VULTR_API_URL)";
        let base = https_base_url(KIND, what, url.unwrap_or(DEFAULT_BASE_URL), &[])?;
        let zone = self
            .zone
            .as_deref()
            .map(str::trim)
            .filter(|z| !z.is_empty());
        let zone = zone
            .map(|z| {
                DnsName::parse(z)
                    .map_err(|e| bad(format!("zone (VULTR_ZONE) `{z}` is not a domain name: {e}")))
            })
            .transpose()?;
        Ok(VultrConfig {
            key,
            base_url: base,
            zone,
            timeout: Duration::from_secs(self.timeout.unwrap_or(30).max(1)),
            rate_limit_wait: Duration::from_secs(self.rate_limit_wait.unwrap_or(120)),
        })
    }
}

/// Validated configuration of the provider.
#[derive(Clone, Debug)]
pub struct VultrConfig {
    /// The API key.
    pub key: Secret,
    /// API root (with `/v2`).
    pub base_url: reqwest::Url,
    /// The zone given explicitly.
    pub zone: Option<DnsName>,
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
    fn lego_names_and_layers() {
        let file = object(serde_json::json!({ "kind": "vultr", "api_key": "file-secret" }));
        let e = env(&[
            ("VULTR_API_KEY", "ENVKEY123"),
            ("VULTR_API_URL", "http://127.0.0.1:9/v2/"),
            ("VULTR_HTTP_TIMEOUT", "7"),
            ("VULTR_ZONE", "Example.COM."),
        ]);
        let s = VultrSettings::SPEC
            .layer(Some(&file), None, &e)
            .and_then(|l| VultrSettings::from_layered(&l))
            .expect("layers");
        let cfg = s.validate().expect("valid");
        assert_eq!(cfg.key.expose(), "ENVKEY123");
        assert_eq!(cfg.base_url.as_str(), "http://127.0.0.1:9/v2");
        assert_eq!(cfg.timeout, Duration::from_secs(7));
        assert_eq!(
            cfg.zone.map(|z| z.to_string()).as_deref(),
            Some("example.com")
        );
        assert!(!format!("{s:?}").contains("ENVKEY123"));
        let d = VultrSettings {
            api_key: Some(Secret::new("k")),
            ..Default::default()
        };
        let cfg = d.validate().expect("valid");
        assert_eq!(cfg.base_url.as_str(), "https://api.vultr.com/v2");
        assert!(!format!("{cfg:?}").contains("\"k\""));
    }

    #[test]
    fn bad_input_names_the_variable_and_never_the_secret() {
        let e = VultrSettings::default().validate().expect_err("no key");
        assert!(e.to_string().contains("VULTR_API_KEY"), "{e}");
        let with = |f: fn(&mut VultrSettings)| {
            let mut s = VultrSettings {
                api_key: Some(Secret::new("S3CRETKEY")),
                ..Default::default()
            };
            f(&mut s);
            s.validate().expect_err("refused").to_string()
        };
        let e = with(|s| s.base_url = Some("http://api.example.net/v2".into()));
        assert!(e.contains("VULTR_API_URL") && e.contains("loopback"), "{e}");
        let e = with(|s| s.zone = Some("exa mple..com".into()));
        assert!(e.contains("VULTR_ZONE"), "{e}");
        let e = with(|s| s.api_key = Some(Secret::new("S3CRET KEY")));
        assert!(e.contains("VULTR_API_KEY") && !e.contains("S3CRET"), "{e}");
        assert!(with(|s| s.base_url = Some("ftp://x".into())).contains("http or https"));
        let r = VultrSettings::from_env_map(&env(&[("VULTR_HTTP_TIMEOUT", "soon")]));
        assert!(
            r.expect_err("seconds")
                .to_string()
                .contains("VULTR_HTTP_TIMEOUT")
        );
        let r: Result<VultrSettings, _> =
            serde_json::from_value(serde_json::json!({ "apikey": "x" }));
        assert!(r.is_err());
    }

    #[test]
    fn key_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("key");
        std::fs::write(&p, "FILEKEY\n").expect("write");
        let s = VultrSettings {
            api_key_file: Some(p.clone()),
            ..Default::default()
        };
        assert_eq!(s.validate().expect("valid").key.expose(), "FILEKEY");
        std::fs::write(&p, "").expect("write");
        let e = s.validate().expect_err("empty");
        assert!(e.to_string().contains("api_key_file"), "{e}");
    }
}
