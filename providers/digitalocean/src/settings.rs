//! Settings of the digitalocean provider, declared once: `wildcert providers digitalocean`,
//! docs/providers/digitalocean.md and the layering of section, certbot file and environment
//! (lego's `DO_*` names) come from [`DigitalOceanSettings`]; `validate` makes a [`DoConfig`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use wildcert_provider::settings::{config_error, https_base_url, secret_or_file};
use wildcert_provider::spec::{LayeredSettings, Registration};
use wildcert_provider::{DnsName, Kind, ProviderError, Secret};

/// Provider kind.
pub const KIND: Kind = DigitalOceanSettings::KIND;

/// The documented API root; requests go to `{base}/v2/…`.
pub const DEFAULT_BASE_URL: &str = "https://api.digitalocean.com";

/// The digitalocean provider as the registry lists it.
pub const PROVIDER: Registration = Registration {
    spec: DigitalOceanSettings::SPEC,
    build: |layered, _| {
        let settings = DigitalOceanSettings::from_layered(layered)?;
        Ok(std::sync::Arc::new(crate::DigitalOceanProvider::new(
            &settings,
        )?))
    },
};

/// Settings as written in `[providers.<id>]` (with `kind = "digitalocean"`), a certbot
/// credentials file or the environment.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, wildcert_provider::LayeredSettings)]
#[serde(deny_unknown_fields)]
#[provider(
    kind = "digitalocean",
    summary = "DigitalOcean API v2 domain records (bearer token), one record per value",
    env_prefix = "DO",
    certbot = ["dns_digitalocean_"],
    hint_auth = "check the token (DO_AUTH_TOKEN): it needs the scopes domain:read and domain:update, and must not be expired or revoked",
    hint_zone_not_found = "check that the domain is in the token's team (Networking → Domains), or set zone (DO_ZONE)",
    hint_rate_limited = "DigitalOcean allows 5,000 requests per hour and 250 per minute per token: wait, or raise rate_limit_wait"
)]
pub struct DigitalOceanSettings {
    /// Personal access token with the scopes domain:read and domain:update (prefer `token_file`)
    #[setting(
        required = "one of `token` / `token_file`",
        env = ["DO_AUTH_TOKEN"],
        certbot = "token",
        pair = "token_file"
    )]
    pub token: Option<Secret>,
    /// File holding the token (no secret in the config file or the process environment)
    #[setting(
        required = "one of `token` / `token_file`",
        env = ["DO_AUTH_TOKEN_FILE"],
        pair = "token"
    )]
    pub token_file: Option<PathBuf>,
    /// API root; requests go to `{base_url}/v2/…` (a trailing `/v2` is accepted; plain http
    /// only to a loopback address)
    #[setting(default = "https://api.digitalocean.com", env = ["DO_API_URL"])]
    pub base_url: Option<String>,
    /// The domain (zone) to change, e.g. `example.com`; by default the longest domain of the
    /// account that contains the name
    #[setting(env = ["DO_ZONE"])]
    pub zone: Option<String>,
    /// TTL of the TXT records in seconds, at least 30 (DigitalOcean's minimum, and lego's
    /// default); `[dns] ttl` wins when set, raised to 30
    #[setting(default = "30", env = ["DO_TTL"])]
    pub ttl: Option<u32>,
    /// Seconds to wait for one API answer
    #[setting(default = "30", env = ["DO_HTTP_TIMEOUT"], ty = "seconds")]
    pub timeout: Option<u64>,
    /// Seconds a run may spend waiting out HTTP 429 answers, in all
    #[setting(default = "120", env = ["DO_RATE_LIMIT_WAIT"], ty = "seconds")]
    pub rate_limit_wait: Option<u64>,
}

fn bad(message: impl Into<String>) -> ProviderError {
    config_error(KIND, message)
}

impl DigitalOceanSettings {
    /// Check the settings, read the token file, and build the provider's configuration.
    pub fn validate(&self) -> Result<DoConfig, ProviderError> {
        let token = secret_or_file(KIND, "token", &self.token, &self.token_file)?.ok_or_else(|| {
            bad("no API token: set `token_file` (DO_AUTH_TOKEN_FILE) or `token` (DO_AUTH_TOKEN)")
        })?;
        if token.expose().chars().any(|c| !c.is_ascii_graphic()) {
            return Err(bad(
                "the token (DO_AUTH_TOKEN) contains blanks, control or non-ASCII characters; check for a bad copy",
            ));
        }
        let url = self.base_url.as_deref().filter(|u| !u.trim().is_empty());
        let base = https_base_url(
            KIND,
            "base_url (DO_API_URL)",
            url.unwrap_or(DEFAULT_BASE_URL),
            &["/v2"],
        )?;
        let zone = match self
            .zone
            .as_deref()
            .map(str::trim)
            .filter(|z| !z.is_empty())
        {
            Some(z) => Some(
                DnsName::parse(z)
                    .map_err(|e| bad(format!("zone (DO_ZONE) `{z}` is not a domain name: {e}")))?,
            ),
            None => None,
        };
        let ttl = self.ttl.unwrap_or(crate::MIN_TTL);
        if ttl < crate::MIN_TTL {
            return Err(bad(format!(
                "ttl {ttl} (DO_TTL): DigitalOcean takes no TTL below 30 seconds"
            )));
        }
        Ok(DoConfig {
            token,
            ttl,
            base_url: base,
            zone,
            timeout: Duration::from_secs(self.timeout.unwrap_or(30).max(1)),
            rate_limit_wait: Duration::from_secs(self.rate_limit_wait.unwrap_or(120)),
        })
    }
}

/// Validated configuration of the provider.
#[derive(Clone, Debug)]
pub struct DoConfig {
    /// The bearer token.
    pub token: Secret,
    /// API root (without `/v2`).
    pub base_url: reqwest::Url,
    /// TTL of the records (at least 30).
    pub ttl: u32,
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
    use wildcert_provider::spec::object;

    use wildcert_provider::spec::env_map as env;

    #[test]
    fn lego_names_and_layers() {
        let file = object(serde_json::json!({ "kind": "digitalocean", "token": "file-secret" }));
        let e = env(&[
            ("DO_AUTH_TOKEN", "dop_v1_env"),
            ("DO_API_URL", "http://127.0.0.1:9/v2/"),
            ("DO_HTTP_TIMEOUT", "7"),
            ("DO_ZONE", "Example.COM."),
            ("DO_TTL", "120"),
        ]);
        let s = DigitalOceanSettings::SPEC
            .layer(Some(&file), None, &e)
            .and_then(|l| DigitalOceanSettings::from_layered(&l))
            .expect("layers");
        let cfg = s.validate().expect("valid");
        assert_eq!(cfg.token.expose(), "dop_v1_env");
        assert_eq!(cfg.base_url.as_str(), "http://127.0.0.1:9/");
        assert_eq!(cfg.timeout, Duration::from_secs(7));
        assert_eq!(cfg.ttl, 120);
        assert_eq!(
            cfg.zone.map(|z| z.to_string()).as_deref(),
            Some("example.com")
        );
        assert!(!format!("{s:?}").contains("dop_v1_env"));
        let d = DigitalOceanSettings {
            token: Some(Secret::new("t")),
            ..Default::default()
        };
        assert_eq!(
            d.validate().expect("valid").base_url.as_str(),
            "https://api.digitalocean.com/"
        );
    }

    #[test]
    fn bad_input_names_the_variable_and_never_the_secret() {
        let e = DigitalOceanSettings::default()
            .validate()
            .expect_err("no token");
        assert!(e.to_string().contains("DO_AUTH_TOKEN"), "{e}");
        let with = |f: fn(&mut DigitalOceanSettings)| {
            let mut s = DigitalOceanSettings {
                token: Some(Secret::new("dop_v1_s3cret")),
                ..Default::default()
            };
            f(&mut s);
            s.validate().expect_err("refused").to_string()
        };
        let e = with(|s| s.base_url = Some("http://api.example.net".into()));
        assert!(e.contains("DO_API_URL") && e.contains("loopback"), "{e}");
        let e = with(|s| s.ttl = Some(10));
        assert!(e.contains("DO_TTL"), "{e}");
        let e = with(|s| s.zone = Some("exa mple..com".into()));
        assert!(e.contains("DO_ZONE"), "{e}");
        let e = with(|s| s.token = Some(Secret::new("dop_v1_s3cret\u{7f}")));
        assert!(e.contains("DO_AUTH_TOKEN") && !e.contains("s3cret"), "{e}");
        assert!(with(|s| s.base_url = Some("ftp://x".into())).contains("http or https"));
        let r = DigitalOceanSettings::from_env_map(&env(&[("DO_HTTP_TIMEOUT", "soon")]));
        assert!(
            r.expect_err("seconds")
                .to_string()
                .contains("DO_HTTP_TIMEOUT")
        );
        let r: Result<DigitalOceanSettings, _> =
            serde_json::from_value(serde_json::json!({ "tokn": "x" }));
        assert!(r.is_err());
    }

    #[test]
    fn token_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("token");
        std::fs::write(&p, "dop_v1_file\n").expect("write");
        let s = DigitalOceanSettings {
            token_file: Some(p.clone()),
            ..Default::default()
        };
        assert_eq!(s.validate().expect("valid").token.expose(), "dop_v1_file");
        std::fs::write(&p, "").expect("write");
        let e = s.validate().expect_err("empty");
        assert!(e.to_string().contains("token_file"), "{e}");
    }
}
