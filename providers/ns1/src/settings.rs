//! Settings of the ns1 provider, declared once: `wildcert providers ns1`, docs/providers/ns1.md
//! and the layering of section, certbot file (certbot-dns-nsone's `dns_nsone_api_key`) and
//! environment (lego's `NS1_*` names) come from [`Ns1Settings`]; `validate` makes an
//! [`Ns1Config`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use wildcert_provider::settings::{config_error, https_base_url, secret_or_file};
use wildcert_provider::spec::{LayeredSettings, Registration};
use wildcert_provider::{DnsName, Kind, ProviderError, Secret};

/// Provider kind.
pub const KIND: Kind = Ns1Settings::KIND;

/// The documented API root; requests go to `{base}/zones…` (`/v1` is part of it).
pub const DEFAULT_BASE_URL: &str = "https://api.nsone.net/v1";

/// The ns1 provider as the registry lists it.
pub const PROVIDER: Registration = Registration {
    spec: Ns1Settings::SPEC,
    build: |layered, _| {
        let settings = Ns1Settings::from_layered(layered)?;
        Ok(std::sync::Arc::new(crate::Ns1Provider::new(&settings)?))
    },
};

/// Settings as written in `[providers.<id>]` (with `kind = "ns1"`), a certbot credentials file
/// or the environment.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, wildcert_provider::LayeredSettings)]
#[serde(deny_unknown_fields)]
#[provider(
    kind = "ns1",
    summary = "NS1 / IBM NS1 Connect API v1 (X-NSONE-Key), the answers of one TXT record per name",
    env_prefix = "NS1",
    certbot = ["dns_nsone_"],
    hint_auth = "check the API key (NS1_API_KEY): it needs the DNS permissions View zones and Manage zones, and the zone must not be denied to it",
    hint_zone_not_found = "check that the zone is in this NS1 account and allowed to the key (Account settings → API keys → DNS zones), or set zone (NS1_ZONE)",
    hint_rate_limited = "NS1 refills each route's token bucket slowly (about one write a second): wait, or raise rate_limit_wait (NS1_RATE_LIMIT_WAIT)"
)]
pub struct Ns1Settings {
    /// API key with the DNS permissions View zones and Manage zones (prefer `api_key_file`)
    #[setting(
        required = "one of `api_key` / `api_key_file`",
        env = ["NS1_API_KEY"],
        certbot = "api_key",
        pair = "api_key_file"
    )]
    pub api_key: Option<Secret>,
    /// File holding the API key (no secret in the config file or the process environment)
    #[setting(
        required = "one of `api_key` / `api_key_file`",
        env = ["NS1_API_KEY_FILE"],
        pair = "api_key"
    )]
    pub api_key_file: Option<PathBuf>,
    /// API root; requests go to `{base_url}/zones…` (with or without the trailing `/v1`;
    /// plain http only to a loopback address)
    #[setting(default = "https://api.nsone.net/v1", env = ["NS1_API_URL"])]
    pub base_url: Option<String>,
    /// The zone to change, e.g. `example.com`; by default the longest zone of the account
    /// that contains the name
    #[setting(env = ["NS1_ZONE"])]
    pub zone: Option<String>,
    /// Seconds to wait for one API answer
    #[setting(default = "10", env = ["NS1_HTTP_TIMEOUT"], ty = "seconds")]
    pub timeout: Option<u64>,
    /// Seconds a run may spend waiting out HTTP 429 answers, in all
    #[setting(default = "120", env = ["NS1_RATE_LIMIT_WAIT"], ty = "seconds")]
    pub rate_limit_wait: Option<u64>,
}

fn bad(message: impl Into<String>) -> ProviderError {
    config_error(KIND, message)
}

impl Ns1Settings {
    /// Check the settings, read the key file, and build the provider's configuration.
    pub fn validate(&self) -> Result<Ns1Config, ProviderError> {
        let key = secret_or_file(KIND, "api_key", &self.api_key, &self.api_key_file)?;
        let api_key = key.ok_or_else(|| {
            bad("no API key: set `api_key_file` (NS1_API_KEY_FILE) or `api_key` (NS1_API_KEY)")
        })?;
        if api_key.expose().chars().any(|c| !c.is_ascii_graphic()) {
            return Err(bad(
                "the API key (NS1_API_KEY) contains blanks, control or non-ASCII characters; check for a bad copy",
            ));
        }
        let url = self.base_url.as_deref().filter(|u| !u.trim().is_empty());
        let key = "base_url (NS1_API_URL)";
        let mut base_url = https_base_url(KIND, key, url.unwrap_or(DEFAULT_BASE_URL), &["/v1"])?;
        if let Ok(mut p) = base_url.path_segments_mut() {
            p.pop_if_empty().push("v1");
        }
        let zone = self
            .zone
            .as_deref()
            .map(str::trim)
            .filter(|z| !z.is_empty());
        let zone = zone
            .map(|z| DnsName::parse(z).map_err(|e| bad(format!("zone (NS1_ZONE) `{z}`: {e}"))))
            .transpose()?;
        Ok(Ns1Config {
            api_key,
            base_url,
            zone,
            timeout: Duration::from_secs(self.timeout.unwrap_or(10).max(1)),
            rate_limit_wait: Duration::from_secs(self.rate_limit_wait.unwrap_or(120)),
        })
    }
}

/// Validated configuration of the provider.
#[derive(Clone, Debug)]
pub struct Ns1Config {
    /// The API key.
    pub api_key: Secret,
    /// API root, ending in `/v1`.
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
    fn lego_names_certbot_keys_and_layers() {
        let file = object(serde_json::json!({ "kind": "ns1", "api_key": "file-secret" }));
        let e = env(&[
            ("NS1_API_KEY", "envKey123"),
            ("NS1_API_URL", "http://127.0.0.1:9/"),
            ("NS1_HTTP_TIMEOUT", "7"),
            ("NS1_ZONE", "Example.COM."),
        ]);
        let s = Ns1Settings::SPEC
            .layer(Some(&file), None, &e)
            .and_then(|l| Ns1Settings::from_layered(&l))
            .expect("layers");
        let cfg = s.validate().expect("valid");
        assert_eq!(cfg.api_key.expose(), "envKey123");
        assert_eq!(cfg.base_url.as_str(), "http://127.0.0.1:9/v1");
        assert_eq!(cfg.timeout, Duration::from_secs(7));
        assert_eq!(
            cfg.zone.map(|z| z.to_string()).as_deref(),
            Some("example.com")
        );
        assert!(!format!("{s:?}").contains("envKey123"));
        let d = Ns1Settings {
            api_key: Some(Secret::new("k")),
            base_url: Some("https://api.nsone.net/v1/".into()),
            ..Default::default()
        };
        assert_eq!(
            d.validate().expect("valid").base_url.as_str(),
            DEFAULT_BASE_URL
        );
        let d = Ns1Settings {
            api_key: Some(Secret::new("k")),
            ..Default::default()
        };
        assert_eq!(
            d.validate().expect("valid").base_url.as_str(),
            DEFAULT_BASE_URL
        );
    }

    #[test]
    fn bad_input_names_the_variable_and_never_the_secret() {
        let e = Ns1Settings::default().validate().expect_err("no key");
        assert!(e.to_string().contains("NS1_API_KEY"), "{e}");
        let with = |f: fn(&mut Ns1Settings)| {
            let mut s = Ns1Settings {
                api_key: Some(Secret::new("s3cretKey")),
                ..Default::default()
            };
            f(&mut s);
            s.validate().expect_err("refused").to_string()
        };
        let e = with(|s| s.base_url = Some("http://api.nsone.net/v1".into()));
        assert!(e.contains("NS1_API_URL") && e.contains("loopback"), "{e}");
        let e = with(|s| s.zone = Some("exa mple..com".into()));
        assert!(e.contains("NS1_ZONE"), "{e}");
        let e = with(|s| s.api_key = Some(Secret::new("s3cret\u{7f}Key")));
        assert!(e.contains("NS1_API_KEY") && !e.contains("s3cret"), "{e}");
        let r = Ns1Settings::from_env_map(&env(&[("NS1_HTTP_TIMEOUT", "soon")]));
        assert!(
            r.expect_err("seconds")
                .to_string()
                .contains("NS1_HTTP_TIMEOUT")
        );
        let r: Result<Ns1Settings, _> =
            serde_json::from_value(serde_json::json!({ "apikey": "x" }));
        assert!(r.is_err());
    }

    #[test]
    fn api_key_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("key");
        std::fs::write(&p, "fileKey\n").expect("write");
        let s = Ns1Settings {
            api_key_file: Some(p.clone()),
            ..Default::default()
        };
        assert_eq!(s.validate().expect("valid").api_key.expose(), "fileKey");
        std::fs::write(&p, "").expect("write");
        let e = s.validate().expect_err("empty");
        assert!(e.to_string().contains("api_key_file"), "{e}");
    }
}
