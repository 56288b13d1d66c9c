//! Settings of the hetzner provider, declared once: `wildcert providers hetzner`,
//! docs/providers/hetzner.md and the layering of section and environment (lego's names) all
//! come from [`HetznerSettings`]; [`HetznerSettings::validate`] makes a [`HetznerConfig`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use wildcert_provider::settings::{base_url, config_error, secret_or_file};
use wildcert_provider::spec::{LayeredSettings, Registration};
use wildcert_provider::{DnsName, Kind, ProviderError, Secret};

/// Provider kind.
pub const KIND: Kind = HetznerSettings::KIND;

/// The Hetzner Cloud API root, as documented.
pub const DEFAULT_BASE_URL: &str = "https://api.hetzner.cloud/v1";

/// The hetzner provider as the registry lists it.
pub const PROVIDER: Registration = Registration {
    spec: HetznerSettings::SPEC,
    build: |layered, _| {
        let settings = HetznerSettings::from_layered(layered)?;
        Ok(std::sync::Arc::new(crate::HetznerProvider::new(&settings)?))
    },
};

/// Settings as written in `[providers.<id>]` (with `kind = "hetzner"`) or the environment.
/// Every field is optional so layers can be merged; [`HetznerSettings::validate`] checks them.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, wildcert_provider::LayeredSettings)]
#[serde(deny_unknown_fields)]
#[provider(
    kind = "hetzner",
    summary = "Hetzner Cloud API DNS (project API token), RRset add_records / remove_records actions",
    env_prefix = "HETZNER",
    hint_auth = "use a Hetzner Cloud project API token with Read & Write (Console: project, Security, API tokens); \
                 tokens of the old DNS Console (dns.hetzner.com) no longer work",
    hint_zone_not_found = "the token sees only the zones of its own Cloud project: use a token of the project \
                           the zone lives in (zones migrated from the DNS Console landed in a project you chose), or set `zone`"
)]
pub struct HetznerSettings {
    /// Hetzner Cloud project API token with Read & Write permission
    #[setting(
        required = "one of `token` / `token_file`",
        env = ["HETZNER_API_TOKEN", "HETZNER_API_KEY"],
        pair = "token_file"
    )]
    pub token: Option<Secret>,
    /// File holding the API token
    #[setting(env = ["HETZNER_API_TOKEN_FILE"], pair = "token")]
    pub token_file: Option<PathBuf>,
    /// The zone to write into (its name); by default the longest zone the token can see that
    /// contains the record name
    #[setting(default = "looked up through the API", env = ["HETZNER_ZONE"])]
    pub zone: Option<String>,
    /// API root (for proxies and tests); requests go to `{base_url}/zones…`
    #[setting(default = "https://api.hetzner.cloud/v1", env = ["HETZNER_API_URL"])]
    pub base_url: Option<String>,
    /// Seconds to wait for one API answer
    #[setting(default = "30", env = ["HETZNER_HTTP_TIMEOUT"], ty = "seconds")]
    pub timeout: Option<u64>,
    /// Seconds to wait for one RRset action to finish (`GET /actions/{id}` until `success`)
    #[setting(default = "120", env = ["HETZNER_ACTION_TIMEOUT"], ty = "seconds")]
    pub action_timeout: Option<u64>,
    /// Seconds a run may spend waiting out HTTP 429 (3,600 requests an hour per project), in all
    #[setting(default = "120", env = ["HETZNER_RATE_LIMIT_WAIT"], ty = "seconds")]
    pub rate_limit_wait: Option<u64>,
}

fn bad(message: impl Into<String>) -> ProviderError {
    config_error(KIND, message)
}

impl HetznerSettings {
    /// Check the settings, read the token file, and build the provider's configuration.
    pub fn validate(&self) -> Result<HetznerConfig, ProviderError> {
        let token = secret_or_file(KIND, "token", &self.token, &self.token_file)?.ok_or_else(|| {
            bad("no API token: set `token_file` (HETZNER_API_TOKEN_FILE) or `token` (HETZNER_API_TOKEN, or HETZNER_API_KEY) \
                 to a Hetzner Cloud project API token with Read & Write")
        })?;
        if token
            .expose()
            .chars()
            .any(|c| c.is_control() || !c.is_ascii() || c == ' ')
        {
            return Err(bad(
                "the API token (HETZNER_API_TOKEN) contains blanks, control or non-ASCII characters",
            ));
        }
        let url = self.base_url.as_deref().filter(|u| !u.trim().is_empty());
        let base_url = base_url(
            KIND,
            "base_url (HETZNER_API_URL)",
            url.unwrap_or(DEFAULT_BASE_URL),
            &[],
        )?;
        let zone = self
            .zone
            .as_deref()
            .map(str::trim)
            .filter(|z| !z.is_empty());
        let zone = zone
            .map(|z| DnsName::parse(z).map_err(|e| bad(format!("zone (HETZNER_ZONE) `{z}`: {e}"))))
            .transpose()?;
        let secs = |v: Option<u64>, d: u64| Duration::from_secs(v.unwrap_or(d).max(1));
        Ok(HetznerConfig {
            token,
            base_url,
            zone,
            timeout: secs(self.timeout, 30),
            action_timeout: secs(self.action_timeout, 120),
            rate_limit_wait: Duration::from_secs(self.rate_limit_wait.unwrap_or(120)),
        })
    }
}

/// Validated configuration of the provider.
#[derive(Clone, Debug)]
pub struct HetznerConfig {
    /// The API token.
    pub token: Secret,
    /// API root, e.g. `https://api.hetzner.cloud/v1`.
    pub base_url: reqwest::Url,
    /// The zone given explicitly, if any.
    pub zone: Option<DnsName>,
    /// Bound on one request.
    pub timeout: Duration,
    /// Bound on waiting for one action.
    pub action_timeout: Duration,
    /// Bound on waiting out rate limiting, for the whole run.
    pub rate_limit_wait: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    use wildcert_provider::spec::env_map as env;

    #[test]
    fn lego_names_and_defaults() {
        let s = HetznerSettings::from_env_map(&env(&[
            ("HETZNER_API_KEY", "s3cret"),
            ("HETZNER_HTTP_TIMEOUT", "7"),
        ]))
        .expect("env");
        let cfg = s.validate().expect("valid");
        assert_eq!(cfg.base_url.as_str(), "https://api.hetzner.cloud/v1");
        assert_eq!(cfg.token.expose(), "s3cret");
        assert_eq!(cfg.timeout, Duration::from_secs(7));
        assert!(!format!("{cfg:?} {s:?}").contains("s3cret"));
        let s = HetznerSettings::from_env_map(&env(&[
            ("HETZNER_API_TOKEN", "first"),
            ("HETZNER_API_KEY", "second"),
            ("HETZNER_API_URL", "http://127.0.0.1:9/v1/"),
            ("HETZNER_ZONE", "Example.COM."),
        ]))
        .expect("env");
        let cfg = s.validate().expect("valid");
        assert_eq!(cfg.token.expose(), "first", "lego's name wins");
        assert_eq!(cfg.base_url.as_str(), "http://127.0.0.1:9/v1");
        assert_eq!(
            cfg.zone.map(|z| z.to_string()).as_deref(),
            Some("example.com")
        );
    }

    #[test]
    fn bad_input_names_the_variable_and_hides_the_secret() {
        let e = HetznerSettings::default().validate().expect_err("no token");
        assert!(e.to_string().contains("HETZNER_API_TOKEN"), "{e}");
        let with = |f: fn(&mut HetznerSettings)| {
            let mut s = HetznerSettings {
                token: Some(Secret::new("tok en-secret")),
                ..Default::default()
            };
            f(&mut s);
            s.validate().expect_err("refused").to_string()
        };
        let e = with(|_| {});
        assert!(
            e.contains("HETZNER_API_TOKEN") && !e.contains("en-secret"),
            "{e}"
        );
        let e = with(|s| {
            s.token = Some(Secret::new("t"));
            s.base_url = Some("ftp://x".into());
        });
        assert!(
            e.contains("HETZNER_API_URL") && e.contains("http or https"),
            "{e}"
        );
        let e = with(|s| {
            s.token = Some(Secret::new("t"));
            s.zone = Some("a..b".into());
        });
        assert!(e.contains("HETZNER_ZONE"), "{e}");
        assert!(HetznerSettings::from_env_map(&env(&[("HETZNER_HTTP_TIMEOUT", "soon")])).is_err());
        let r: Result<HetznerSettings, _> =
            serde_json::from_value(serde_json::json!({ "tokn": "x" }));
        assert!(r.is_err());
    }
}
