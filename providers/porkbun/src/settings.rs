//! Settings of the porkbun provider, declared once: `wildcert providers porkbun`,
//! docs/providers/porkbun.md and the layering of section, certbot file and environment
//! (lego's `PORKBUN_*` names) come from [`PorkbunSettings`]; `validate` makes a
//! [`PorkbunConfig`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use wildcert_provider::settings::{config_error, https_base_url, secret_or_file};
use wildcert_provider::spec::{LayeredSettings, Registration};
use wildcert_provider::{DnsName, Kind, ProviderError, Secret};

/// Provider kind.
pub const KIND: Kind = PorkbunSettings::KIND;

/// The documented API host; requests go to `{base}/api/json/v3/…`.
pub const DEFAULT_BASE_URL: &str = "https://api.porkbun.com";

/// Porkbun's smallest (and default) TTL.
pub const MIN_TTL: u32 = 600;

/// lego's propagation timeout for Porkbun (10 minutes).
pub const DEFAULT_PROPAGATION_TIMEOUT: u64 = 600;

/// The porkbun provider as the registry lists it.
pub const PROVIDER: Registration = Registration {
    spec: PorkbunSettings::SPEC,
    build: |layered, _| {
        let settings = PorkbunSettings::from_layered(layered)?;
        Ok(std::sync::Arc::new(crate::PorkbunProvider::new(&settings)?))
    },
};

/// Settings as written in `[providers.<id>]` (with `kind = "porkbun"`), a certbot
/// credentials file or the environment.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, wildcert_provider::LayeredSettings)]
#[serde(deny_unknown_fields)]
#[provider(
    kind = "porkbun",
    summary = "Porkbun API v3 (API key + secret API key), one record per value",
    env_prefix = "PORKBUN",
    certbot = ["dns_porkbun_"],
    hint_auth = "check PORKBUN_API_KEY / PORKBUN_SECRET_API_KEY (porkbun.com → Account → API Access), and that \"API Access\" is switched on for the domain (Domain Management → the domain → Details)",
    hint_zone_not_found = "the domain must be registered in this Porkbun account (the API takes the registered domain, not a subdomain), or set zone (PORKBUN_ZONE)",
    hint_rate_limited = "Porkbun answers HTTP 503 beyond about one request per second per key: wait, or raise rate_limit_wait"
)]
pub struct PorkbunSettings {
    /// API key (`pk1_…`; prefer `api_key_file`)
    #[setting(
        required = "one of `api_key` / `api_key_file`",
        env = ["PORKBUN_API_KEY"],
        certbot = "key",
        pair = "api_key_file"
    )]
    pub api_key: Option<Secret>,
    /// File holding the API key
    #[setting(
        required = "one of `api_key` / `api_key_file`",
        env = ["PORKBUN_API_KEY_FILE"],
        pair = "api_key"
    )]
    pub api_key_file: Option<PathBuf>,
    /// Secret API key (`sk1_…`; prefer `secret_api_key_file`)
    #[setting(
        required = "one of `secret_api_key` / `secret_api_key_file`",
        env = ["PORKBUN_SECRET_API_KEY"],
        certbot = "secret",
        pair = "secret_api_key_file"
    )]
    pub secret_api_key: Option<Secret>,
    /// File holding the secret API key
    #[setting(
        required = "one of `secret_api_key` / `secret_api_key_file`",
        env = ["PORKBUN_SECRET_API_KEY_FILE"],
        pair = "secret_api_key"
    )]
    pub secret_api_key_file: Option<PathBuf>,
    /// API host; requests go to `{base_url}/api/json/v3/…` (a trailing `/api/json/v3` is
    /// accepted; plain http only to a loopback address)
    #[setting(default = "https://api.porkbun.com", env = ["PORKBUN_API_URL"])]
    pub base_url: Option<String>,
    /// The domain to change, e.g. `example.com`; by default the longest domain of the
    /// account that contains the name
    #[setting(env = ["PORKBUN_ZONE"])]
    pub zone: Option<String>,
    /// TTL of the TXT records in seconds; Porkbun's minimum (and default) is 600, and a
    /// smaller value (lego's 300 included) is raised to it
    #[setting(default = "600", env = ["PORKBUN_TTL"])]
    pub ttl: Option<u32>,
    /// Seconds to wait until every authoritative nameserver serves the records (lego's
    /// 600); `[dns] propagation_timeout` / --propagation-timeout win when set
    #[setting(default = "600", env = ["PORKBUN_PROPAGATION_TIMEOUT"], ty = "seconds")]
    pub propagation_timeout: Option<u64>,
    /// Seconds to wait for one API answer
    #[setting(default = "30", env = ["PORKBUN_HTTP_TIMEOUT"], ty = "seconds")]
    pub timeout: Option<u64>,
    /// Seconds a run may spend waiting out Porkbun's rate limit (HTTP 503), in all
    #[setting(default = "120", env = ["PORKBUN_RATE_LIMIT_WAIT"], ty = "seconds")]
    pub rate_limit_wait: Option<u64>,
}

fn bad(message: impl Into<String>) -> ProviderError {
    config_error(KIND, message)
}

/// One key of the pair, from its value or its file; `what` names the variable.
fn key(
    name: &str,
    var: &str,
    value: &Option<Secret>,
    file: &Option<PathBuf>,
) -> Result<Secret, ProviderError> {
    let k = secret_or_file(KIND, name, value, file)?.ok_or_else(|| {
        bad(format!(
            "no {name}: set `{name}_file` ({var}_FILE) or `{name}` ({var})"
        ))
    })?;
    if k.expose().chars().any(|c| !c.is_ascii_graphic()) {
        return Err(bad(format!(
            "{name} ({var}) contains blanks, control or non-ASCII characters; check for a bad copy"
        )));
    }
    Ok(k)
}

impl PorkbunSettings {
    /// Check the settings, read the key files, and build the provider's configuration.
    pub fn validate(&self) -> Result<PorkbunConfig, ProviderError> {
        let api_key = key(
            "api_key",
            "PORKBUN_API_KEY",
            &self.api_key,
            &self.api_key_file,
        )?;
        let secret_api_key = key(
            "secret_api_key",
            "PORKBUN_SECRET_API_KEY",
            &self.secret_api_key,
            &self.secret_api_key_file,
        )?;
        let url = self.base_url.as_deref().filter(|u| !u.trim().is_empty());
        let base = https_base_url(
            KIND,
            "base_url (PORKBUN_API_URL)",
            url.unwrap_or(DEFAULT_BASE_URL),
            &["/api/json/v3"],
        )?;
        let zone = self
            .zone
            .as_deref()
            .map(str::trim)
            .filter(|z| !z.is_empty());
        let zone = zone
            .map(|z| {
                let e = |e| {
                    bad(format!(
                        "zone (PORKBUN_ZONE) `{z}` is not a domain name: {e}"
                    ))
                };
                DnsName::parse(z).map_err(e)
            })
            .transpose()?;
        let ttl = self.ttl.unwrap_or(MIN_TTL);
        if ttl < MIN_TTL {
            tracing::warn!(
                "porkbun: ttl {ttl} (PORKBUN_TTL) is below Porkbun's minimum; using {MIN_TTL}"
            );
        }
        let secs = |v: Option<u64>, d: u64| Duration::from_secs(v.unwrap_or(d));
        Ok(PorkbunConfig {
            api_key,
            secret_api_key,
            base_url: base,
            zone,
            ttl: ttl.max(MIN_TTL),
            propagation_timeout: secs(self.propagation_timeout, DEFAULT_PROPAGATION_TIMEOUT),
            timeout: secs(self.timeout, 30).max(Duration::from_secs(1)),
            rate_limit_wait: secs(self.rate_limit_wait, 120),
        })
    }
}

/// Validated configuration of the provider.
#[derive(Clone, Debug)]
pub struct PorkbunConfig {
    /// The API key.
    pub api_key: Secret,
    /// The secret API key.
    pub secret_api_key: Secret,
    /// API host (without `/api/json/v3`).
    pub base_url: reqwest::Url,
    /// The domain given explicitly.
    pub zone: Option<DnsName>,
    /// TTL of the records (at least 600).
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
    use wildcert_provider::spec::env_map as env;
    use wildcert_provider::spec::object;

    fn keys() -> PorkbunSettings {
        PorkbunSettings {
            api_key: Some(Secret::new("pk1_visible")),
            secret_api_key: Some(Secret::new("sk1_s3cret")),
            ..Default::default()
        }
    }

    #[test]
    fn lego_names_and_layers() {
        let file = object(serde_json::json!({ "kind": "porkbun", "api_key": "pk1_file" }));
        let e = env(&[
            ("PORKBUN_API_KEY", "pk1_env"),
            ("PORKBUN_SECRET_API_KEY", "sk1_env"),
            ("PORKBUN_API_URL", "http://127.0.0.1:9/api/json/v3/"),
            ("PORKBUN_HTTP_TIMEOUT", "7"),
            ("PORKBUN_PROPAGATION_TIMEOUT", "90"),
            ("PORKBUN_ZONE", "Example.COM."),
            ("PORKBUN_TTL", "3600"),
        ]);
        let s = PorkbunSettings::SPEC
            .layer(Some(&file), None, &e)
            .and_then(|l| PorkbunSettings::from_layered(&l))
            .expect("layers");
        let cfg = s.validate().expect("valid");
        assert_eq!(cfg.api_key.expose(), "pk1_env");
        assert_eq!(cfg.secret_api_key.expose(), "sk1_env");
        assert_eq!(cfg.base_url.as_str(), "http://127.0.0.1:9/");
        assert_eq!(cfg.timeout, Duration::from_secs(7));
        assert_eq!(cfg.propagation_timeout, Duration::from_secs(90));
        assert_eq!(cfg.ttl, 3600);
        assert_eq!(
            cfg.zone.map(|z| z.to_string()).as_deref(),
            Some("example.com")
        );
        assert!(!format!("{s:?}").contains("sk1_env"));
        let d = keys().validate().expect("valid");
        assert_eq!(d.base_url.as_str(), "https://api.porkbun.com/");
        assert_eq!(d.ttl, 600);
        assert_eq!(d.propagation_timeout, Duration::from_secs(600));
    }

    #[test]
    fn ttl_below_600_is_raised() {
        let s = PorkbunSettings {
            ttl: Some(300),
            ..keys()
        };
        assert_eq!(s.validate().expect("valid").ttl, 600);
    }

    #[test]
    fn bad_input_names_the_variable_and_never_the_secret() {
        let e = PorkbunSettings::default().validate().expect_err("no key");
        assert!(e.to_string().contains("PORKBUN_API_KEY"), "{e}");
        let e = PorkbunSettings {
            api_key: Some(Secret::new("pk1_x")),
            ..Default::default()
        };
        let e = e.validate().expect_err("no secret").to_string();
        assert!(e.contains("PORKBUN_SECRET_API_KEY"), "{e}");
        let with = |f: fn(&mut PorkbunSettings)| {
            let mut s = keys();
            f(&mut s);
            s.validate().expect_err("refused").to_string()
        };
        let e = with(|s| s.base_url = Some("http://api.porkbun.com".into()));
        assert!(
            e.contains("PORKBUN_API_URL") && e.contains("loopback"),
            "{e}"
        );
        let e = with(|s| s.zone = Some("exa mple..com".into()));
        assert!(e.contains("PORKBUN_ZONE"), "{e}");
        let e = with(|s| s.secret_api_key = Some(Secret::new("sk1_s3cret\u{7f}")));
        assert!(
            e.contains("PORKBUN_SECRET_API_KEY") && !e.contains("s3cret"),
            "{e}"
        );
        let r = PorkbunSettings::from_env_map(&env(&[("PORKBUN_HTTP_TIMEOUT", "soon")]));
        assert!(
            r.expect_err("seconds")
                .to_string()
                .contains("PORKBUN_HTTP_TIMEOUT")
        );
        let r: Result<PorkbunSettings, _> =
            serde_json::from_value(serde_json::json!({ "apikey": "x" }));
        assert!(r.is_err());
    }

    #[test]
    fn key_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("secret");
        std::fs::write(&p, "sk1_file\n").expect("write");
        let s = PorkbunSettings {
            secret_api_key: None,
            secret_api_key_file: Some(p.clone()),
            ..keys()
        };
        assert_eq!(
            s.validate().expect("valid").secret_api_key.expose(),
            "sk1_file"
        );
        std::fs::write(&p, "").expect("write");
        let e = s.validate().expect_err("empty");
        assert!(e.to_string().contains("secret_api_key_file"), "{e}");
    }
}
