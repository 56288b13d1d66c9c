//! Settings of the cloudns provider, declared once: `wildcert providers cloudns`,
//! docs/providers/cloudns.md and the layering of section and environment (lego's `CLOUDNS_*`
//! names) come from [`CloudnsSettings`]; `validate` makes a [`CloudnsConfig`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use wildcert_provider::settings::{config_error, https_base_url, secret_or_file};
use wildcert_provider::spec::{LayeredSettings, Registration};
use wildcert_provider::{Kind, ProviderError, Secret};

/// Provider kind.
pub const KIND: Kind = CloudnsSettings::KIND;

/// The documented API root; requests go to `{base}/dns/<method>.json`.
pub const DEFAULT_BASE_URL: &str = "https://api.cloudns.net";

/// Default bound on the propagation wait (lego's 180 s); it ends once all servers serve it.
pub const DEFAULT_PROPAGATION_TIMEOUT: u64 = 180;

/// The cloudns provider as the registry lists it.
pub const PROVIDER: Registration = Registration {
    spec: CloudnsSettings::SPEC,
    build: |layered, _| {
        let settings = CloudnsSettings::from_layered(layered)?;
        Ok(std::sync::Arc::new(crate::CloudnsProvider::new(&settings)?))
    },
};

/// Settings as written in `[providers.<id>]` (with `kind = "cloudns"`) or the environment.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, wildcert_provider::LayeredSettings)]
#[serde(deny_unknown_fields)]
#[provider(
    kind = "cloudns",
    summary = "ClouDNS HTTP API (API user id or sub-user id + password), one record per value",
    env_prefix = "CLOUDNS",
    hint_auth = "check CLOUDNS_AUTH_ID (or CLOUDNS_SUB_AUTH_ID) and CLOUDNS_AUTH_PASSWORD under API & Resellers in the ClouDNS panel, and the API user's allowed IP addresses (ClouDNS answers a caller outside them as a wrong password)",
    hint_zone_not_found = "the zone must be in the ClouDNS account (a sub-user sees only the zones delegated to it)",
    hint_rate_limited = "ClouDNS allows 20 requests per second per address: wait, or raise rate_limit_wait"
)]
pub struct CloudnsSettings {
    /// Id of the API user (a number; API & Resellers in the ClouDNS panel)
    #[setting(required = "one of `auth_id` / `sub_auth_id`", env = ["CLOUDNS_AUTH_ID"])]
    pub auth_id: Option<String>,
    /// Id of an API sub-user (a number), used when `auth_id` is not set
    #[setting(env = ["CLOUDNS_SUB_AUTH_ID"])]
    pub sub_auth_id: Option<String>,
    /// Password of the API user or sub-user (prefer `auth_password_file`)
    #[setting(
        required = "one of `auth_password` / `auth_password_file`",
        env = ["CLOUDNS_AUTH_PASSWORD"],
        pair = "auth_password_file"
    )]
    pub auth_password: Option<Secret>,
    /// File holding the password
    #[setting(env = ["CLOUDNS_AUTH_PASSWORD_FILE"], pair = "auth_password")]
    pub auth_password_file: Option<PathBuf>,
    /// API root; requests go to `{base_url}/dns/…` (plain http only to a loopback address)
    #[setting(default = "https://api.cloudns.net", env = ["CLOUDNS_API_URL"])]
    pub base_url: Option<String>,
    /// Seconds to wait until every authoritative nameserver serves the records (lego's 180);
    /// `[dns] propagation_timeout` / --propagation-timeout win when set
    #[setting(default = "180", env = ["CLOUDNS_PROPAGATION_TIMEOUT"], ty = "seconds")]
    pub propagation_timeout: Option<u64>,
    /// Seconds to wait for one API answer
    #[setting(default = "30", env = ["CLOUDNS_HTTP_TIMEOUT"], ty = "seconds")]
    pub timeout: Option<u64>,
    /// Seconds a run may spend waiting out ClouDNS's "Request blocked" answers, in all
    #[setting(default = "120", env = ["CLOUDNS_RATE_LIMIT_WAIT"], ty = "seconds")]
    pub rate_limit_wait: Option<u64>,
}

fn bad(message: impl Into<String>) -> ProviderError {
    config_error(KIND, message)
}

/// Who signs the requests: the API user or a sub-user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Login {
    /// `auth-id`.
    User(String),
    /// `sub-auth-id`.
    SubUser(String),
}

impl CloudnsSettings {
    /// Check the settings, read the password file, and build the provider's configuration.
    pub fn validate(&self) -> Result<CloudnsConfig, ProviderError> {
        let id = |v: &Option<String>, var: &str| -> Result<Option<String>, ProviderError> {
            let v = v.as_deref().map(str::trim).filter(|v| !v.is_empty());
            match v {
                Some(v) if !v.chars().all(|c| c.is_ascii_digit()) => Err(bad(format!(
                    "{var} `{v}` is not a number: ClouDNS's API user ids are numbers"
                ))),
                v => Ok(v.map(str::to_owned)),
            }
        };
        let login = match (
            id(&self.auth_id, "CLOUDNS_AUTH_ID")?,
            id(&self.sub_auth_id, "CLOUDNS_SUB_AUTH_ID")?,
        ) {
            (Some(a), _) => Login::User(a),
            (None, Some(s)) => Login::SubUser(s),
            (None, None) => {
                return Err(bad(
                    "no API user: set `auth_id` (CLOUDNS_AUTH_ID) or `sub_auth_id` (CLOUDNS_SUB_AUTH_ID)",
                ));
            }
        };
        let what = "auth_password";
        let password = secret_or_file(KIND, what, &self.auth_password, &self.auth_password_file)?
            .ok_or_else(|| {
                bad("no password: set `auth_password_file` (CLOUDNS_AUTH_PASSWORD_FILE) or `auth_password` (CLOUDNS_AUTH_PASSWORD)")
            })?;
        let url = self.base_url.as_deref().filter(|u| !u.trim().is_empty());
        let what = "base_url (CLOUDNS_API_URL)";
        let base = https_base_url(KIND, what, url.unwrap_or(DEFAULT_BASE_URL), &["/dns"])?;
        let secs = |v: Option<u64>, d: u64| Duration::from_secs(v.unwrap_or(d).max(1));
        Ok(CloudnsConfig {
            login,
            password,
            base_url: base,
            propagation_timeout: secs(self.propagation_timeout, DEFAULT_PROPAGATION_TIMEOUT),
            timeout: secs(self.timeout, 30),
            rate_limit_wait: Duration::from_secs(self.rate_limit_wait.unwrap_or(120)),
        })
    }
}

/// Validated configuration of the provider.
#[derive(Clone, Debug)]
pub struct CloudnsConfig {
    /// The API user or sub-user.
    pub login: Login,
    /// Its password.
    pub password: Secret,
    /// API root, e.g. `https://api.cloudns.net`.
    pub base_url: reqwest::Url,
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
        let file = object(
            serde_json::json!({ "kind": "cloudns", "auth_id": "1", "auth_password": "file" }),
        );
        let e = env(&[
            ("CLOUDNS_AUTH_ID", "4321"),
            ("CLOUDNS_AUTH_PASSWORD", "ENVSECRET"),
            ("CLOUDNS_API_URL", "http://127.0.0.1:9/dns/"),
            ("CLOUDNS_HTTP_TIMEOUT", "7"),
        ]);
        let s = CloudnsSettings::SPEC
            .layer(Some(&file), None, &e)
            .and_then(|l| CloudnsSettings::from_layered(&l))
            .expect("layers");
        let cfg = s.validate().expect("valid");
        assert_eq!(cfg.login, Login::User("4321".into()));
        assert_eq!(cfg.password.expose(), "ENVSECRET");
        assert_eq!(cfg.base_url.as_str(), "http://127.0.0.1:9/");
        assert_eq!(cfg.timeout, Duration::from_secs(7));
        assert_eq!(cfg.propagation_timeout, Duration::from_secs(180));
        assert!(
            !format!("{s:?}").contains("ENVSECRET") && !format!("{cfg:?}").contains("ENVSECRET")
        );
        let sub = CloudnsSettings::from_env_map(&env(&[
            ("CLOUDNS_SUB_AUTH_ID", "77"),
            ("CLOUDNS_AUTH_PASSWORD", "p"),
        ]))
        .expect("env");
        let cfg = sub.validate().expect("valid");
        assert_eq!(cfg.login, Login::SubUser("77".into()));
        assert_eq!(cfg.base_url.as_str(), "https://api.cloudns.net/");
    }

    #[test]
    fn bad_input_names_the_variable_and_never_the_secret() {
        let e = CloudnsSettings::default()
            .validate()
            .expect_err("no id")
            .to_string();
        assert!(
            e.contains("CLOUDNS_AUTH_ID") && e.contains("CLOUDNS_SUB_AUTH_ID"),
            "{e}"
        );
        let with = |f: fn(&mut CloudnsSettings)| {
            let mut s = CloudnsSettings {
                auth_id: Some("12".into()),
                auth_password: Some(Secret::new("S3CRETPW")),
                ..Default::default()
            };
            f(&mut s);
            s.validate().expect_err("refused").to_string()
        };
        let e = with(|s| s.auth_password = None);
        assert!(e.contains("CLOUDNS_AUTH_PASSWORD"), "{e}");
        let e = with(|s| s.auth_id = Some("admin".into()));
        assert!(
            e.contains("CLOUDNS_AUTH_ID") && e.contains("number") && !e.contains("S3CRET"),
            "{e}"
        );
        let e = with(|s| (s.auth_id, s.sub_auth_id) = (None, Some("x1".into())));
        assert!(e.contains("CLOUDNS_SUB_AUTH_ID"), "{e}");
        let e = with(|s| s.base_url = Some("http://api.cloudns.net".into()));
        assert!(
            e.contains("CLOUDNS_API_URL") && e.contains("loopback"),
            "{e}"
        );
        let r = CloudnsSettings::from_env_map(&env(&[("CLOUDNS_HTTP_TIMEOUT", "soon")]));
        assert!(
            r.expect_err("seconds")
                .to_string()
                .contains("CLOUDNS_HTTP_TIMEOUT")
        );
    }
}
