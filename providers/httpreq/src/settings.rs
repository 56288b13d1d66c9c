//! Settings of the httpreq provider, declared once: `wildcert providers httpreq`,
//! docs/providers/httpreq.md and the layering of section and environment (lego's `HTTPREQ_*`
//! names) come from [`HttpreqSettings`]; `validate` makes an [`HttpreqConfig`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use wildcert_provider::settings::{base_url, config_error, secret_or_file};
use wildcert_provider::spec::{LayeredSettings, Registration};
use wildcert_provider::{Kind, ProviderError, Secret};

/// Provider kind.
pub const KIND: Kind = HttpreqSettings::KIND;

/// The httpreq provider as the registry lists it.
pub const PROVIDER: Registration = Registration {
    spec: HttpreqSettings::SPEC,
    build: |layered, _| {
        let settings = HttpreqSettings::from_layered(layered)?;
        Ok(std::sync::Arc::new(crate::HttpreqProvider::new(&settings)?))
    },
};

/// Settings as written in `[providers.<id>]` (with `kind = "httpreq"`) or the environment.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, wildcert_provider::LayeredSettings)]
#[serde(deny_unknown_fields)]
#[provider(
    kind = "httpreq",
    summary = "Your own HTTP service (lego's httpreq): POST {endpoint}/present and /cleanup with {fqdn, value}",
    env_prefix = "HTTPREQ",
    hint_auth = "check username / password (HTTPREQ_USERNAME, HTTPREQ_PASSWORD): the service refused them",
    hint_rejected = "the service refused the record: its answer says why; it must take {\"fqdn\", \"value\"} as lego's httpreq sends them",
    hint_unreachable = "check endpoint (HTTPREQ_ENDPOINT) and that the service is running"
)]
pub struct HttpreqSettings {
    /// The service's URL; wildcert POSTs to `{endpoint}/present` and `{endpoint}/cleanup`
    #[setting(required, env = ["HTTPREQ_ENDPOINT"])]
    pub endpoint: Option<String>,
    /// lego's mode: empty for the default body `{"fqdn", "value"}`; `RAW` (domain, token, key
    /// authorization) is not supported
    #[setting(env = ["HTTPREQ_MODE"])]
    pub mode: Option<String>,
    /// User name for HTTP basic authentication (with `password`)
    #[setting(env = ["HTTPREQ_USERNAME"])]
    pub username: Option<String>,
    /// Password for HTTP basic authentication (with `username`; prefer `password_file`)
    #[setting(env = ["HTTPREQ_PASSWORD"], pair = "password_file")]
    pub password: Option<Secret>,
    /// File holding the basic-authentication password
    #[setting(env = ["HTTPREQ_PASSWORD_FILE"], pair = "password")]
    pub password_file: Option<PathBuf>,
    /// Seconds to wait for one answer of the service
    #[setting(default = "30", env = ["HTTPREQ_HTTP_TIMEOUT"], ty = "seconds")]
    pub timeout: Option<u64>,
}

fn bad(message: impl Into<String>) -> ProviderError {
    config_error(KIND, message)
}

impl HttpreqSettings {
    /// Check the settings, read the password file, and build the provider's configuration.
    pub fn validate(&self) -> Result<HttpreqConfig, ProviderError> {
        let url = self
            .endpoint
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        let url = url.ok_or_else(|| {
            bad("no endpoint: set `endpoint` (HTTPREQ_ENDPOINT) to the service's URL")
        })?;
        let endpoint = base_url(KIND, "endpoint (HTTPREQ_ENDPOINT)", url, &[])?;
        match self.mode.as_deref().map(str::trim).unwrap_or_default() {
            "" => {}
            m if m.eq_ignore_ascii_case("raw") => {
                return Err(bad(
                    "mode `RAW` (HTTPREQ_MODE; lego's raw mode, which sends the domain, token and key \
                 authorization) is not supported: wildcert sends the TXT record to publish, \
                 {\"fqdn\", \"value\"}; unset HTTPREQ_MODE and let the service take that body",
                ));
            }
            m => {
                return Err(bad(format!(
                    "mode `{m}` (HTTPREQ_MODE): leave it empty (lego's default mode)"
                )));
            }
        }
        let password = secret_or_file(KIND, "password", &self.password, &self.password_file)?;
        let username = self.username.clone().filter(|u| !u.is_empty());
        let auth = match (username, password) {
            (None, None) => None,
            (Some(u), Some(p)) if !u.contains(':') => Some((u, p)),
            (Some(_), Some(_)) => {
                return Err(bad("username (HTTPREQ_USERNAME) may not contain `:`"));
            }
            (Some(_), None) => {
                return Err(bad(
                    "username (HTTPREQ_USERNAME) is set but no password: set `password_file` (HTTPREQ_PASSWORD_FILE) or `password` (HTTPREQ_PASSWORD)",
                ));
            }
            (None, Some(_)) => {
                return Err(bad(
                    "a password (HTTPREQ_PASSWORD) is set but no username: set `username` (HTTPREQ_USERNAME)",
                ));
            }
        };
        let loopback = endpoint.host_str().is_some_and(|h| {
            h == "localhost"
                || h.trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        });
        // Plain http only to loopback, as for every provider's API: a password would travel
        // in clear text, and an answer on the way could be forged.
        if endpoint.scheme() == "http" && !loopback {
            return Err(bad(format!(
                "endpoint (HTTPREQ_ENDPOINT) `{endpoint}`: plain http is accepted only to a loopback address \
                 (a basic-authentication password would travel in clear text, and answers could be forged); use https"
            )));
        }
        Ok(HttpreqConfig {
            endpoint,
            auth,
            timeout: Duration::from_secs(self.timeout.unwrap_or(30).max(1)),
        })
    }
}

/// Validated configuration of the provider.
#[derive(Clone, Debug)]
pub struct HttpreqConfig {
    /// The service's URL.
    pub endpoint: reqwest::Url,
    /// Basic authentication: user name and password.
    pub auth: Option<(String, Secret)>,
    /// Bound on one request.
    pub timeout: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;
    use wildcert_provider::spec::env_map as env;

    fn settings(pairs: &[(&str, &str)]) -> Result<HttpreqConfig, ProviderError> {
        HttpreqSettings::from_env_map(&env(pairs)).and_then(|s| s.validate())
    }

    #[test]
    fn lego_names() {
        let c = settings(&[
            ("HTTPREQ_ENDPOINT", "https://dns.internal.example/acme/"),
            ("HTTPREQ_USERNAME", "acme"),
            ("HTTPREQ_PASSWORD", "pw-secret"),
            ("HTTPREQ_HTTP_TIMEOUT", "7"),
            ("HTTPREQ_MODE", ""),
        ])
        .expect("valid");
        assert_eq!(c.endpoint.as_str(), "https://dns.internal.example/acme");
        assert_eq!(
            c.auth.as_ref().map(|a| (a.0.as_str(), a.1.expose())),
            Some(("acme", "pw-secret"))
        );
        assert_eq!(c.timeout, Duration::from_secs(7));
        assert!(!format!("{c:?}").contains("pw-secret"));
        // lego's example uses plain http to a host of the network: refused here (https, or
        // loopback), with or without credentials.
        let e = settings(&[("HTTPREQ_ENDPOINT", "http://my.server.com:9090")])
            .expect_err("plain http off loopback")
            .to_string();
        assert!(
            e.contains("loopback") && e.contains("HTTPREQ_ENDPOINT"),
            "{e}"
        );
        let c = settings(&[("HTTPREQ_ENDPOINT", "https://my.server.com:9090")]).expect("valid");
        assert!(c.auth.is_none());
    }

    #[test]
    fn bad_input_names_the_variable_and_never_the_secret() {
        let e = |pairs: &[(&str, &str)]| settings(pairs).expect_err("refused").to_string();
        assert!(e(&[]).contains("HTTPREQ_ENDPOINT"));
        let ep = ("HTTPREQ_ENDPOINT", "https://dns.example");
        let raw = e(&[ep, ("HTTPREQ_MODE", "RAW")]);
        assert!(raw.contains("RAW") && raw.contains("HTTPREQ_MODE"), "{raw}");
        assert!(e(&[ep, ("HTTPREQ_MODE", "json")]).contains("HTTPREQ_MODE"));
        assert!(e(&[ep, ("HTTPREQ_USERNAME", "u")]).contains("HTTPREQ_PASSWORD"));
        let only_pw = e(&[ep, ("HTTPREQ_PASSWORD", "pw-secret")]);
        assert!(
            only_pw.contains("HTTPREQ_USERNAME") && !only_pw.contains("pw-secret"),
            "{only_pw}"
        );
        let clear = e(&[
            ("HTTPREQ_ENDPOINT", "http://dns.example"),
            ("HTTPREQ_USERNAME", "u"),
            ("HTTPREQ_PASSWORD", "pw-secret"),
        ]);
        assert!(
            clear.contains("clear text") && !clear.contains("pw-secret"),
            "{clear}"
        );
        assert!(
            settings(&[
                ("HTTPREQ_ENDPOINT", "http://127.0.0.1:9"),
                ("HTTPREQ_USERNAME", "u"),
                ("HTTPREQ_PASSWORD", "p")
            ])
            .is_ok()
        );
        assert!(e(&[("HTTPREQ_ENDPOINT", "ftp://x")]).contains("http or https"));
        assert!(e(&[ep, ("HTTPREQ_HTTP_TIMEOUT", "soon")]).contains("HTTPREQ_HTTP_TIMEOUT"));
    }
}
