//! Settings of the godaddy provider, declared once: `wildcert providers godaddy`,
//! docs/providers/godaddy.md and the layering of section, certbot file (certbot-dns-godaddy's
//! `dns_godaddy_*` keys) and environment (lego's `GODADDY_*` names) come from
//! [`GoDaddySettings`]; [`GoDaddySettings::validate`] makes a [`GoDaddyConfig`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use wildcert_provider::settings::{config_error, https_base_url, secret_or_file};
use wildcert_provider::spec::{LayeredSettings, Registration};
use wildcert_provider::{Kind, ProviderError, Secret};

/// Provider kind.
pub const KIND: Kind = GoDaddySettings::KIND;

/// GoDaddy's production API root, as lego uses it; requests go to `{base}/v1/domains…`.
pub const DEFAULT_BASE_URL: &str = "https://api.godaddy.com";

/// Smallest TTL GoDaddy takes (and lego's default).
pub const MIN_TTL: u32 = 600;

/// The godaddy provider as the registry lists it.
pub const PROVIDER: Registration = Registration {
    spec: GoDaddySettings::SPEC,
    build: |layered, _| {
        let settings = GoDaddySettings::from_layered(layered)?;
        Ok(std::sync::Arc::new(crate::GoDaddyProvider::new(&settings)?))
    },
};

/// Settings as written in `[providers.<id>]` (with `kind = "godaddy"`), a certbot-dns-godaddy
/// credentials file or the environment. Every field is optional so layers can be merged.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, wildcert_provider::LayeredSettings)]
#[serde(deny_unknown_fields)]
#[provider(
    kind = "godaddy",
    summary = "GoDaddy Domains API v1 (API key + secret), TXT records by name read, appended (PATCH) and written back (PUT)",
    env_prefix = "GODADDY",
    certbot = ["dns_godaddy_"],
    hint_auth = "make a production API key at developer.godaddy.com/keys (not an OTE test key) and give both \
                 GODADDY_API_KEY and GODADDY_API_SECRET; GoDaddy opens its DNS API only to accounts with \
                 enough domains (10, or a Domain Pro / Discount Domain Club plan) and answers others \
                 403 ACCESS_DENIED: then delegate _acme-challenge with a CNAME to a host with an open API \
                 (e.g. acme-dns)",
    hint_zone_not_found = "the key sees the domains registered in its GoDaddy account only: use a key of the \
                           account that holds the domain",
    hint_rate_limited = "GoDaddy allows 60 requests a minute per API: wait, or raise rate_limit_wait"
)]
pub struct GoDaddySettings {
    /// API key (sent as `Authorization: sso-key KEY:SECRET`)
    #[setting(
        required = "one of `api_key` / `api_key_file`",
        env = ["GODADDY_API_KEY"],
        certbot = "key",
        pair = "api_key_file"
    )]
    pub api_key: Option<Secret>,
    /// File holding the API key
    #[setting(env = ["GODADDY_API_KEY_FILE"], pair = "api_key")]
    pub api_key_file: Option<PathBuf>,
    /// API secret belonging to the key
    #[setting(
        required = "one of `api_secret` / `api_secret_file`",
        env = ["GODADDY_API_SECRET"],
        certbot = "secret",
        pair = "api_secret_file"
    )]
    pub api_secret: Option<Secret>,
    /// File holding the API secret
    #[setting(env = ["GODADDY_API_SECRET_FILE"], pair = "api_secret")]
    pub api_secret_file: Option<PathBuf>,
    /// API root (for proxies, GoDaddy's OTE test environment `https://api.ote-godaddy.com` and
    /// tests); requests go to `{base_url}/v1/domains…`
    #[setting(default = "https://api.godaddy.com", env = ["GODADDY_API_URL"])]
    pub base_url: Option<String>,
    /// TTL of the TXT records, in seconds; GoDaddy takes no TTL below 600, so a lower one
    /// (here or in `[dns] ttl`) is raised to 600 with a warning
    #[setting(default = "600", env = ["GODADDY_TTL"])]
    pub ttl: Option<u32>,
    /// Seconds to wait for one API answer
    #[setting(default = "30", env = ["GODADDY_HTTP_TIMEOUT"], ty = "seconds")]
    pub timeout: Option<u64>,
    /// Seconds a run may spend waiting out HTTP 429 answers, in all
    #[setting(default = "120", env = ["GODADDY_RATE_LIMIT_WAIT"], ty = "seconds")]
    pub rate_limit_wait: Option<u64>,
}

fn bad(message: impl Into<String>) -> ProviderError {
    config_error(KIND, message)
}

/// A key or secret read from settings, refused (naming `var`, never the value) when it is
/// empty or cannot be part of the `sso-key KEY:SECRET` header.
fn credential(
    key: &str,
    var: &str,
    pair: (&Option<Secret>, &Option<PathBuf>),
) -> Result<Secret, ProviderError> {
    let secret = secret_or_file(KIND, key, pair.0, pair.1)?;
    let secret = secret.filter(|v| !v.expose().trim().is_empty());
    let secret = secret.ok_or_else(|| {
        bad(format!(
            "no {key}: set `{key}_file` ({var}_FILE) or `{key}` ({var}); GoDaddy needs both the API key \
             and its secret (developer.godaddy.com/keys)"
        ))
    })?;
    let text = secret.expose().trim();
    if text.contains(':') || !text.chars().all(|c| c.is_ascii_graphic()) {
        return Err(bad(format!(
            "{var} contains blanks, `:`, control or non-ASCII characters; check for a bad copy"
        )));
    }
    Ok(Secret::new(text))
}

impl GoDaddySettings {
    /// Check the settings, read the secret files, and build the provider's configuration.
    pub fn validate(&self) -> Result<GoDaddyConfig, ProviderError> {
        let key_pair = (&self.api_key, &self.api_key_file);
        let api_key = credential("api_key", "GODADDY_API_KEY", key_pair)?;
        let secret_pair = (&self.api_secret, &self.api_secret_file);
        let api_secret = credential("api_secret", "GODADDY_API_SECRET", secret_pair)?;
        let url = self.base_url.as_deref().filter(|u| !u.trim().is_empty());
        let key = "base_url (GODADDY_API_URL)";
        let base_url = https_base_url(KIND, key, url.unwrap_or(DEFAULT_BASE_URL), &["/v1"])?;
        let ttl = self.ttl.unwrap_or(MIN_TTL);
        if ttl < MIN_TTL {
            tracing::warn!(
                "godaddy: ttl {ttl} (GODADDY_TTL) is below GoDaddy's minimum; using {MIN_TTL} seconds"
            );
        }
        let secs = |v: Option<u64>, d: u64| Duration::from_secs(v.unwrap_or(d).max(1));
        Ok(GoDaddyConfig {
            api_key,
            api_secret,
            base_url,
            ttl: ttl.max(MIN_TTL),
            timeout: secs(self.timeout, 30),
            rate_limit_wait: Duration::from_secs(self.rate_limit_wait.unwrap_or(120)),
        })
    }
}

/// Validated configuration of the provider.
#[derive(Clone, Debug)]
pub struct GoDaddyConfig {
    /// The API key.
    pub api_key: Secret,
    /// The API secret.
    pub api_secret: Secret,
    /// API root, e.g. `https://api.godaddy.com`.
    pub base_url: reqwest::Url,
    /// TTL of the records we add (at least 600).
    pub ttl: u32,
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
        let s = GoDaddySettings::from_env_map(&env(&[
            ("GODADDY_API_KEY", "dKey_s3cret"),
            ("GODADDY_API_SECRET", "Secr3tPart"),
            ("GODADDY_HTTP_TIMEOUT", "7"),
        ]))
        .expect("env");
        let cfg = s.validate().expect("valid");
        assert_eq!(cfg.base_url.as_str(), "https://api.godaddy.com/");
        assert_eq!(cfg.api_key, Secret::new("dKey_s3cret"));
        assert_eq!(cfg.api_secret, Secret::new("Secr3tPart"));
        assert_eq!((cfg.timeout, cfg.ttl), (Duration::from_secs(7), 600));
        let shown = format!("{cfg:?} {s:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("Secr3t"),
            "{shown}"
        );
        let dir = tempfile::tempdir().expect("tmp");
        let ini = dir.path().join("godaddy.ini");
        std::fs::write(
            &ini,
            "dns_godaddy_key = ini-key\ndns_godaddy_secret = ini-secret\n",
        )
        .expect("ini");
        let e = env(&[("GODADDY_API_URL", "http://127.0.0.1:9/v1/")]);
        let section = object(serde_json::json!({ "kind": "godaddy", "ttl": 3600 }));
        let l = GoDaddySettings::SPEC
            .layer(Some(&section), Some(&ini), &e)
            .expect("layers");
        let cfg = GoDaddySettings::from_layered(&l)
            .and_then(|s| s.validate())
            .expect("valid");
        assert_eq!(cfg.api_key, Secret::new("ini-key"));
        assert_eq!(cfg.api_secret, Secret::new("ini-secret"));
        assert_eq!(cfg.base_url.as_str(), "http://127.0.0.1:9/");
        assert_eq!(cfg.ttl, 3600);
    }

    #[test]
    fn a_ttl_below_600_is_raised() {
        let s = GoDaddySettings {
            api_key: Some(Secret::new("k")),
            api_secret: Some(Secret::new("s")),
            ttl: Some(120),
            ..Default::default()
        };
        assert_eq!(s.validate().expect("raised, not refused").ttl, 600);
    }

    #[test]
    fn bad_input_names_the_variable_and_hides_the_secret() {
        let e = GoDaddySettings::default().validate().expect_err("none");
        assert!(e.to_string().contains("GODADDY_API_KEY"), "{e}");
        let with = |f: fn(&mut GoDaddySettings)| {
            let mut s = GoDaddySettings {
                api_key: Some(Secret::new("k")),
                api_secret: Some(Secret::new("s")),
                ..Default::default()
            };
            f(&mut s);
            s.validate().expect_err("refused").to_string()
        };
        assert!(with(|s| s.api_secret = None).contains("GODADDY_API_SECRET"));
        assert!(with(|s| s.api_secret = Some(Secret::new(" "))).contains("GODADDY_API_SECRET"));
        let e = with(|s| s.api_key = Some(Secret::new("key:s3cret")));
        assert!(
            e.contains("GODADDY_API_KEY") && !e.contains("s3cret"),
            "{e}"
        );
        let e = with(|s| s.api_secret = Some(Secret::new("s3cret\u{e9}")));
        assert!(
            e.contains("GODADDY_API_SECRET") && !e.contains("s3cret"),
            "{e}"
        );
        let e = with(|s| s.base_url = Some("http://api.godaddy.com".into()));
        assert!(
            e.contains("GODADDY_API_URL") && e.contains("loopback"),
            "{e}"
        );
        let r = GoDaddySettings::from_env_map(&env(&[("GODADDY_TTL", "soon")]));
        assert!(r.expect_err("number").to_string().contains("GODADDY_TTL"));
        let r: Result<GoDaddySettings, _> =
            serde_json::from_value(serde_json::json!({ "key": "x" }));
        assert!(r.is_err());
    }
}
