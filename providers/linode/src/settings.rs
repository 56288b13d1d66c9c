//! Settings of the linode provider, declared once: `wildcert providers linode`,
//! docs/providers/linode.md and the layering of section, certbot file and environment (lego's
//! `LINODE_*` names) come from [`LinodeSettings`]; `validate` makes a [`LinodeConfig`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use wildcert_provider::settings::{config_error, https_base_url, secret_or_file};
use wildcert_provider::spec::{LayeredSettings, Registration};
use wildcert_provider::{DnsName, Kind, ProviderError, Secret};

/// Provider kind.
pub const KIND: Kind = LinodeSettings::KIND;

/// The documented API root; requests go to `{base}/domains…`.
pub const DEFAULT_BASE_URL: &str = "https://api.linode.com/v4";

/// Default bound on the propagation wait: Linode's edge takes minutes to serve a change (up to
/// about 15), so the run's 120 s is too short; the checker stops as soon as every server has it.
pub const DEFAULT_PROPAGATION_TIMEOUT: u64 = 1200;

/// The linode provider as the registry lists it.
pub const PROVIDER: Registration = Registration {
    spec: LinodeSettings::SPEC,
    build: |layered, _| {
        let settings = LinodeSettings::from_layered(layered)?;
        Ok(std::sync::Arc::new(crate::LinodeProvider::new(&settings)?))
    },
};

/// Settings as written in `[providers.<id>]` (with `kind = "linode"`), a certbot credentials
/// file or the environment.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, wildcert_provider::LayeredSettings)]
#[serde(deny_unknown_fields)]
#[provider(
    kind = "linode",
    summary = "Linode (Akamai Cloud) API v4 domain records (personal access token), one record per value",
    env_prefix = "LINODE",
    certbot = ["dns_linode_"],
    hint_auth = "check the token (LINODE_TOKEN): a personal access token with Domains Read/Write, not expired or revoked; a restricted user also needs Read/Write access to the domain",
    hint_zone_not_found = "check that the domain is in this account's Domains (Cloud Manager → Domains) and that a restricted user has access to it, or set zone (LINODE_ZONE)",
    hint_rate_limited = "Linode limits API requests per token and endpoint: wait, or raise rate_limit_wait"
)]
pub struct LinodeSettings {
    /// Personal access token with the Domains Read/Write scope (prefer `token_file`)
    #[setting(
        required = "one of `token` / `token_file`",
        env = ["LINODE_TOKEN"],
        certbot = "key",
        pair = "token_file"
    )]
    pub token: Option<Secret>,
    /// File holding the token (no secret in the config file or the process environment)
    #[setting(
        required = "one of `token` / `token_file`",
        env = ["LINODE_TOKEN_FILE"],
        pair = "token"
    )]
    pub token_file: Option<PathBuf>,
    /// API root; requests go to `{base_url}/domains…` (plain http only to a loopback address)
    #[setting(default = "https://api.linode.com/v4", env = ["LINODE_API_URL"])]
    pub base_url: Option<String>,
    /// The domain (zone) to change, e.g. `example.com`; by default the longest domain of the
    /// account that contains the name
    #[setting(default = "looked up through the API", env = ["LINODE_ZONE"])]
    pub zone: Option<String>,
    /// TTL of the TXT records in seconds, at least 300 (Linode's smallest; other values are
    /// rounded to Linode's: 300, 3600, 7200, …); `[dns] ttl` wins when set, raised to 300
    #[setting(default = "300", env = ["LINODE_TTL"])]
    pub ttl: Option<u32>,
    /// Seconds to wait until every authoritative nameserver serves the records: Linode's
    /// nameservers take minutes to pick up a change; `[dns] propagation_timeout` /
    /// --propagation-timeout win when set
    #[setting(default = "1200", env = ["LINODE_PROPAGATION_TIMEOUT"], ty = "seconds")]
    pub propagation_timeout: Option<u64>,
    /// Seconds to wait for one API answer
    #[setting(default = "30", env = ["LINODE_HTTP_TIMEOUT"], ty = "seconds")]
    pub timeout: Option<u64>,
    /// Seconds a run may spend waiting out HTTP 429 answers, in all
    #[setting(default = "120", env = ["LINODE_RATE_LIMIT_WAIT"], ty = "seconds")]
    pub rate_limit_wait: Option<u64>,
}

fn bad(message: impl Into<String>) -> ProviderError {
    config_error(KIND, message)
}

impl LinodeSettings {
    /// Check the settings, read the token file, and build the provider's configuration.
    pub fn validate(&self) -> Result<LinodeConfig, ProviderError> {
        let token = secret_or_file(KIND, "token", &self.token, &self.token_file)?.ok_or_else(|| {
            bad("no API token: set `token_file` (LINODE_TOKEN_FILE) or `token` (LINODE_TOKEN) to a personal access token with Domains Read/Write")
        })?;
        if token.expose().chars().any(|c| !c.is_ascii_graphic()) {
            return Err(bad(
                "the token (LINODE_TOKEN) contains blanks, control or non-ASCII characters; check for a bad copy",
            ));
        }
        let url = self.base_url.as_deref().filter(|u| !u.trim().is_empty());
        let key = "base_url (LINODE_API_URL)";
        let base = https_base_url(KIND, key, url.unwrap_or(DEFAULT_BASE_URL), &[])?;
        let zone = self
            .zone
            .as_deref()
            .map(str::trim)
            .filter(|z| !z.is_empty());
        let zone = zone
            .map(|z| DnsName::parse(z).map_err(|e| bad(format!("zone (LINODE_ZONE) `{z}`: {e}"))))
            .transpose()?;
        let ttl = self.ttl.unwrap_or(crate::MIN_TTL);
        if ttl < crate::MIN_TTL {
            return Err(bad(format!(
                "ttl {ttl} (LINODE_TTL): Linode takes no TTL below 300 seconds"
            )));
        }
        let secs = |v: Option<u64>, d: u64| Duration::from_secs(v.unwrap_or(d).max(1));
        Ok(LinodeConfig {
            token,
            base_url: base,
            zone,
            ttl,
            propagation_timeout: secs(self.propagation_timeout, DEFAULT_PROPAGATION_TIMEOUT),
            timeout: secs(self.timeout, 30),
            rate_limit_wait: Duration::from_secs(self.rate_limit_wait.unwrap_or(120)),
        })
    }
}

/// Validated configuration of the provider.
#[derive(Clone, Debug)]
pub struct LinodeConfig {
    /// The bearer token.
    pub token: Secret,
    /// API root, e.g. `https://api.linode.com/v4`.
    pub base_url: reqwest::Url,
    /// The zone given explicitly.
    pub zone: Option<DnsName>,
    /// TTL of the records (at least 300).
    pub ttl: u32,
    /// Bound on the propagation wait.
    pub propagation_timeout: Duration,
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
        let file = object(serde_json::json!({ "kind": "linode", "token": "file-secret" }));
        let e = env(&[
            ("LINODE_TOKEN", "lin-env-secret"),
            ("LINODE_API_URL", "http://127.0.0.1:9/v4/"),
            ("LINODE_HTTP_TIMEOUT", "7"),
            ("LINODE_PROPAGATION_TIMEOUT", "90"),
            ("LINODE_ZONE", "Example.COM."),
            ("LINODE_TTL", "3600"),
        ]);
        let s = LinodeSettings::SPEC
            .layer(Some(&file), None, &e)
            .and_then(|l| LinodeSettings::from_layered(&l))
            .expect("layers");
        let cfg = s.validate().expect("valid");
        assert_eq!(cfg.token.expose(), "lin-env-secret");
        assert_eq!(cfg.base_url.as_str(), "http://127.0.0.1:9/v4");
        assert_eq!(cfg.timeout, Duration::from_secs(7));
        assert_eq!(cfg.propagation_timeout, Duration::from_secs(90));
        assert_eq!(cfg.ttl, 3600);
        assert_eq!(
            cfg.zone.map(|z| z.to_string()).as_deref(),
            Some("example.com")
        );
        assert!(!format!("{s:?}").contains("lin-env-secret"));
        let d = LinodeSettings {
            token: Some(Secret::new("t")),
            ..Default::default()
        };
        let cfg = d.validate().expect("valid");
        assert_eq!(cfg.base_url.as_str(), "https://api.linode.com/v4");
        assert_eq!(cfg.propagation_timeout, Duration::from_secs(1200));
        assert_eq!(cfg.ttl, 300);
    }

    #[test]
    fn certbot_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let ini = dir.path().join("linode.ini");
        std::fs::write(&ini, "dns_linode_key = lin-ini\ndns_linode_version = 4\n").expect("write");
        let l = LinodeSettings::SPEC.layer(None, Some(&ini), &env(&[]));
        let s = l
            .and_then(|l| LinodeSettings::from_layered(&l))
            .expect("layers");
        assert_eq!(s.validate().expect("valid").token.expose(), "lin-ini");
    }

    #[test]
    fn bad_input_names_the_variable_and_never_the_secret() {
        let e = LinodeSettings::default().validate().expect_err("no token");
        assert!(e.to_string().contains("LINODE_TOKEN"), "{e}");
        let with = |f: fn(&mut LinodeSettings)| {
            let mut s = LinodeSettings {
                token: Some(Secret::new("lin-s3cret")),
                ..Default::default()
            };
            f(&mut s);
            s.validate().expect_err("refused").to_string()
        };
        let e = with(|s| s.base_url = Some("http://api.example.net/v4".into()));
        assert!(
            e.contains("LINODE_API_URL") && e.contains("loopback"),
            "{e}"
        );
        let e = with(|s| s.base_url = Some("ftp://x".into()));
        assert!(
            e.contains("LINODE_API_URL") && e.contains("http or https"),
            "{e}"
        );
        let e = with(|s| s.ttl = Some(120));
        assert!(e.contains("LINODE_TTL") && e.contains("300"), "{e}");
        let e = with(|s| s.zone = Some("exa mple..com".into()));
        assert!(e.contains("LINODE_ZONE"), "{e}");
        let e = with(|s| s.token = Some(Secret::new("lin-s3cret\u{7f}")));
        assert!(e.contains("LINODE_TOKEN") && !e.contains("s3cret"), "{e}");
        let r = LinodeSettings::from_env_map(&env(&[("LINODE_HTTP_TIMEOUT", "soon")]));
        assert!(
            r.expect_err("seconds")
                .to_string()
                .contains("LINODE_HTTP_TIMEOUT")
        );
        let r = LinodeSettings::from_env_map(&env(&[("LINODE_PROPAGATION_TIMEOUT", "x")]));
        let e = r.expect_err("seconds").to_string();
        assert!(e.contains("LINODE_PROPAGATION_TIMEOUT"), "{e}");
        let r: Result<LinodeSettings, _> =
            serde_json::from_value(serde_json::json!({ "tokn": "x" }));
        assert!(r.is_err());
    }

    #[test]
    fn token_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("token");
        std::fs::write(&p, "lin-file\n").expect("write");
        let s = LinodeSettings {
            token_file: Some(p.clone()),
            ..Default::default()
        };
        assert_eq!(s.validate().expect("valid").token.expose(), "lin-file");
        std::fs::write(&p, "").expect("write");
        let e = s.validate().expect_err("empty");
        assert!(e.to_string().contains("token_file"), "{e}");
    }
}
