//! Settings of the dnsimple provider, declared once: `wildcert providers dnsimple`,
//! docs/providers/dnsimple.md and the layering of section, certbot file and environment
//! (lego's `DNSIMPLE_*` names) come from [`DnsimpleSettings`]; `validate` makes a
//! [`DnsimpleConfig`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use wildcert_provider::settings::{config_error, https_base_url, secret_or_file};
use wildcert_provider::spec::{LayeredSettings, Registration};
use wildcert_provider::{DnsName, Kind, ProviderError, Secret};

/// Provider kind.
pub const KIND: Kind = DnsimpleSettings::KIND;

/// The documented API root; requests go to `{base}/v2/…`.
pub const DEFAULT_BASE_URL: &str = "https://api.dnsimple.com";
/// DNSimple's sandbox: a separate site with its own accounts and tokens, whose zones no
/// public nameserver serves.
pub const SANDBOX_BASE_URL: &str = "https://api.sandbox.dnsimple.com";

/// The dnsimple provider as the registry lists it.
pub const PROVIDER: Registration = Registration {
    spec: DnsimpleSettings::SPEC,
    build: |layered, _| {
        let settings = DnsimpleSettings::from_layered(layered)?;
        Ok(std::sync::Arc::new(crate::DnsimpleProvider::new(
            &settings,
        )?))
    },
};

/// Settings as written in `[providers.<id>]` (with `kind = "dnsimple"`), a certbot
/// credentials file or the environment.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, wildcert_provider::LayeredSettings)]
#[serde(deny_unknown_fields)]
#[provider(
    kind = "dnsimple",
    summary = "DNSimple API v2 zone records (account or user access token), one record per value",
    env_prefix = "DNSIMPLE",
    certbot = ["dns_dnsimple_"],
    ignored(
        var = "DNSIMPLE_DEBUG",
        reason = "wildcert logs every API request at debug level (RUST_LOG / -v), never the token"
    ),
    hint_auth = "check the token (DNSIMPLE_OAUTH_TOKEN): an account token of the account holding the zone, not expired or revoked, and for the sandbox a sandbox token with DNSIMPLE_BASE_URL=https://api.sandbox.dnsimple.com",
    hint_zone_not_found = "check that the zone is in this account (Domains → DNS), or set account_id (DNSIMPLE_ACCOUNT_ID) / zone (DNSIMPLE_ZONE)",
    hint_rate_limited = "DNSimple allows 2,400 requests per hour per account (fewer on some plans): wait, or raise rate_limit_wait"
)]
pub struct DnsimpleSettings {
    /// API access token: an account token, or a user token with `account_id` (prefer
    /// `token_file`)
    #[setting(
        required = "one of `token` / `token_file`",
        env = ["DNSIMPLE_OAUTH_TOKEN"],
        certbot = "token",
        pair = "token_file"
    )]
    pub token: Option<Secret>,
    /// File holding the access token (no secret in the config file or the process environment)
    #[setting(
        required = "one of `token` / `token_file`",
        env = ["DNSIMPLE_OAUTH_TOKEN_FILE"],
        pair = "token"
    )]
    pub token_file: Option<PathBuf>,
    /// API root; requests go to `{base_url}/v2/…` (a trailing `/v2` is accepted; plain http
    /// only to a loopback address); `https://api.sandbox.dnsimple.com` for the sandbox
    #[setting(default = "https://api.dnsimple.com", env = ["DNSIMPLE_BASE_URL"])]
    pub base_url: Option<String>,
    /// The account id (a number) in the API paths; by default the token's own account
    /// (`/v2/whoami`), or the only account a user token can reach (`/v2/accounts`)
    #[setting(env = ["DNSIMPLE_ACCOUNT_ID"])]
    pub account_id: Option<u64>,
    /// The zone to change, e.g. `example.com`; by default the longest zone of the account
    /// that contains the name
    #[setting(env = ["DNSIMPLE_ZONE"])]
    pub zone: Option<String>,
    /// Seconds to wait for one API answer
    #[setting(default = "30", env = ["DNSIMPLE_HTTP_TIMEOUT"], ty = "seconds")]
    pub timeout: Option<u64>,
    /// Seconds a run may spend waiting out HTTP 429 answers, in all
    #[setting(default = "120", env = ["DNSIMPLE_RATE_LIMIT_WAIT"], ty = "seconds")]
    pub rate_limit_wait: Option<u64>,
}

fn bad(message: impl Into<String>) -> ProviderError {
    config_error(KIND, message)
}

impl DnsimpleSettings {
    /// Check the settings, read the token file, and build the provider's configuration.
    pub fn validate(&self) -> Result<DnsimpleConfig, ProviderError> {
        let token = secret_or_file(KIND, "token", &self.token, &self.token_file)?.ok_or_else(|| {
            bad("no access token: set `token_file` (DNSIMPLE_OAUTH_TOKEN_FILE) or `token` (DNSIMPLE_OAUTH_TOKEN)")
        })?;
        if token.expose().chars().any(|c| !c.is_ascii_graphic()) {
            return Err(bad(
                "the token (DNSIMPLE_OAUTH_TOKEN) contains blanks, control or non-ASCII characters; check for a bad copy",
            ));
        }
        let url = self.base_url.as_deref().filter(|u| !u.trim().is_empty());
        let key = "base_url (DNSIMPLE_BASE_URL)";
        let base = https_base_url(KIND, key, url.unwrap_or(DEFAULT_BASE_URL), &["/v2"])?;
        if base.host_str() == Some("api.sandbox.dnsimple.com") {
            tracing::warn!(
                "dnsimple: using the DNSimple sandbox: its zones are not served by public nameservers, \
                 so a CA cannot validate them (fine for trying the API, not for certificates)"
            );
        }
        let zone = self
            .zone
            .as_deref()
            .map(str::trim)
            .filter(|z| !z.is_empty());
        let zone = zone
            .map(|z| DnsName::parse(z).map_err(|e| bad(format!("zone (DNSIMPLE_ZONE) `{z}`: {e}"))))
            .transpose()?;
        if self.account_id == Some(0) {
            return Err(bad(
                "account_id (DNSIMPLE_ACCOUNT_ID) 0: an account id is a positive number",
            ));
        }
        Ok(DnsimpleConfig {
            token,
            base_url: base,
            account_id: self.account_id,
            zone,
            timeout: Duration::from_secs(self.timeout.unwrap_or(30).max(1)),
            rate_limit_wait: Duration::from_secs(self.rate_limit_wait.unwrap_or(120)),
        })
    }
}

/// Validated configuration of the provider.
#[derive(Clone, Debug)]
pub struct DnsimpleConfig {
    /// The bearer token.
    pub token: Secret,
    /// API root (without `/v2`).
    pub base_url: reqwest::Url,
    /// The account given explicitly.
    pub account_id: Option<u64>,
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
    use wildcert_provider::spec::env_map as env;
    use wildcert_provider::spec::object;

    #[test]
    fn lego_names_and_layers() {
        let file = object(serde_json::json!({ "kind": "dnsimple", "token": "file-secret" }));
        let e = env(&[
            ("DNSIMPLE_OAUTH_TOKEN", "dnsimple_a_env"),
            ("DNSIMPLE_BASE_URL", "http://127.0.0.1:9/v2/"),
            ("DNSIMPLE_HTTP_TIMEOUT", "7"),
            ("DNSIMPLE_ACCOUNT_ID", "1010"),
            ("DNSIMPLE_ZONE", "Example.COM."),
        ]);
        let s = DnsimpleSettings::SPEC
            .layer(Some(&file), None, &e)
            .and_then(|l| DnsimpleSettings::from_layered(&l))
            .expect("layers");
        let cfg = s.validate().expect("valid");
        assert_eq!(cfg.token.expose(), "dnsimple_a_env");
        assert_eq!(cfg.base_url.as_str(), "http://127.0.0.1:9/");
        assert_eq!(cfg.timeout, Duration::from_secs(7));
        assert_eq!(cfg.account_id, Some(1010));
        assert_eq!(
            cfg.zone.map(|z| z.to_string()).as_deref(),
            Some("example.com")
        );
        let d = DnsimpleSettings {
            token: Some(Secret::new("t")),
            ..Default::default()
        };
        let cfg = d.validate().expect("valid");
        assert_eq!(cfg.base_url.as_str(), "https://api.dnsimple.com/");
        let sandbox = DnsimpleSettings {
            base_url: Some(format!("{SANDBOX_BASE_URL}/v2")),
            ..d
        };
        let cfg = sandbox.validate().expect("sandbox");
        assert_eq!(cfg.base_url.as_str(), "https://api.sandbox.dnsimple.com/");
    }

    #[test]
    fn bad_input_names_the_variable_and_never_the_secret() {
        let e = DnsimpleSettings::default()
            .validate()
            .expect_err("no token");
        assert!(e.to_string().contains("DNSIMPLE_OAUTH_TOKEN"), "{e}");
        let with = |f: fn(&mut DnsimpleSettings)| {
            let mut s = DnsimpleSettings {
                token: Some(Secret::new("dnsimple_s3cret")),
                ..Default::default()
            };
            f(&mut s);
            s.validate().expect_err("refused").to_string()
        };
        let e = with(|s| s.base_url = Some("http://api.example.net".into()));
        assert!(
            e.contains("DNSIMPLE_BASE_URL") && e.contains("loopback"),
            "{e}"
        );
        let e = with(|s| s.zone = Some("exa mple..com".into()));
        assert!(e.contains("DNSIMPLE_ZONE"), "{e}");
        let e = with(|s| s.account_id = Some(0));
        assert!(e.contains("DNSIMPLE_ACCOUNT_ID"), "{e}");
        let e = with(|s| s.token = Some(Secret::new("dnsimple_s3cret\u{7f}")));
        assert!(
            e.contains("DNSIMPLE_OAUTH_TOKEN") && !e.contains("s3cret"),
            "{e}"
        );
        assert!(with(|s| s.base_url = Some("ftp://x".into())).contains("http or https"));
        let r = DnsimpleSettings::from_env_map(&env(&[("DNSIMPLE_ACCOUNT_ID", "acme")]));
        let e = r.expect_err("number").to_string();
        assert!(e.contains("DNSIMPLE_ACCOUNT_ID"), "{e}");
        let r = DnsimpleSettings::from_env_map(&env(&[("DNSIMPLE_HTTP_TIMEOUT", "soon")]));
        let e = r.expect_err("seconds").to_string();
        assert!(e.contains("DNSIMPLE_HTTP_TIMEOUT"), "{e}");
        let r: Result<DnsimpleSettings, _> =
            serde_json::from_value(serde_json::json!({ "tokn": "x" }));
        assert!(r.is_err());
    }

    #[test]
    fn token_file_and_certbot_key() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("token");
        std::fs::write(&p, "dnsimple_file\n").expect("write");
        let s = DnsimpleSettings {
            token_file: Some(p.clone()),
            ..Default::default()
        };
        assert_eq!(s.validate().expect("valid").token.expose(), "dnsimple_file");
        std::fs::write(&p, "").expect("write");
        let e = s.validate().expect_err("empty");
        assert!(e.to_string().contains("token_file"), "{e}");
        let keys: Vec<String> = DnsimpleSettings::SPEC
            .settings
            .iter()
            .filter_map(|s| s.certbot.map(|k| format!("dns_dnsimple_{k}")))
            .collect();
        assert_eq!(keys, ["dns_dnsimple_token"]);
    }
}
