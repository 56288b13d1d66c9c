//! Settings of the pdns provider, declared once: `wildcert providers pdns`,
//! docs/providers/pdns.md and the layering of section, certbot file and environment (lego's
//! names) all come from [`PdnsSettings`]; [`PdnsSettings::validate`] makes a [`PdnsConfig`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use wildcert_provider::settings::{base_url, config_error, secret_or_file};
use wildcert_provider::spec::{LayeredSettings, Registration};
use wildcert_provider::{Kind, ProviderError, Secret};

/// Provider kind.
pub const KIND: Kind = PdnsSettings::KIND;

/// Default bound on one HTTP request to the API.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// PowerDNS's own server id; almost every installation uses it.
pub const DEFAULT_SERVER_ID: &str = "localhost";

/// The pdns provider as the registry lists it.
pub const PROVIDER: Registration = Registration {
    spec: PdnsSettings::SPEC,
    build: |layered, _| {
        let settings = PdnsSettings::from_layered(layered)?;
        Ok(std::sync::Arc::new(crate::PdnsProvider::new(&settings)?))
    },
};

/// Settings as written in `[providers.<id>]` (with `kind = "pdns"`), a certbot credentials
/// file or the environment. Every field is optional so layers can be merged;
/// [`PdnsSettings::validate`] checks the result.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, wildcert_provider::LayeredSettings)]
#[serde(deny_unknown_fields)]
#[provider(
    kind = "pdns",
    summary = "PowerDNS Authoritative HTTP API (X-API-Key), one PATCH per zone",
    env_prefix = "PDNS",
    certbot = ["dns_powerdns_", "dns_pdns_"]
)]
pub struct PdnsSettings {
    /// Base URL of the PowerDNS webserver, e.g. `http://ns1.example.com:8081`; a trailing
    /// `/api/v1` (or `/api`) is accepted
    #[setting(required, env = ["PDNS_API_URL"], certbot = "api_url")]
    pub api_url: Option<String>,
    /// The server's `api-key`, sent as the `X-API-Key` header (prefer `api_key_file`)
    #[setting(
        required = "one of `api_key` / `api_key_file`",
        env = ["PDNS_API_KEY"],
        certbot = "api_key",
        pair = "api_key_file"
    )]
    pub api_key: Option<Secret>,
    /// File holding the API key (no secret in the config file or the process environment)
    #[setting(
        required = "one of `api_key` / `api_key_file`",
        env = ["PDNS_API_KEY_FILE"],
        pair = "api_key"
    )]
    pub api_key_file: Option<PathBuf>,
    /// The server id in `/api/v1/servers/<id>` (PowerDNS Authoritative always calls itself
    /// `localhost`)
    #[setting(default = "localhost", env = ["PDNS_SERVER_NAME"])]
    pub server_id: Option<String>,
    /// API version (lego's `PDNS_API_VERSION`): only 1 (PowerDNS Authoritative 4.0 and later)
    /// is spoken
    #[setting(default = "1", env = ["PDNS_API_VERSION"])]
    pub api_version: Option<u64>,
    /// Seconds to wait for one API answer
    #[setting(default = "30", env = ["PDNS_HTTP_TIMEOUT"], ty = "seconds")]
    pub timeout: Option<u64>,
    /// Seconds a run may spend waiting out HTTP 429 answers (a proxy or load balancer in front
    /// of the API), in all
    #[setting(default = "120", env = ["PDNS_RATE_LIMIT_WAIT"], ty = "seconds")]
    pub rate_limit_wait: Option<u64>,
}

fn bad(message: impl Into<String>) -> ProviderError {
    config_error(KIND, message)
}

impl PdnsSettings {
    /// Check the settings, read the key file, and build the provider's configuration.
    pub fn validate(&self) -> Result<PdnsConfig, ProviderError> {
        let url = self.api_url.as_deref().filter(|u| !u.trim().is_empty()).ok_or_else(|| {
            bad("no API URL: set `api_url` (PDNS_API_URL) to the PowerDNS webserver, e.g. http://ns1.example.com:8081")
        })?;
        let api_url = base_url(KIND, "api_url", url, &["/api/v1", "/api"])?;
        let api_key = secret_or_file(KIND, "api_key", &self.api_key, &self.api_key_file)?
            .ok_or_else(|| match &self.api_key {
                Some(_) => bad("the API key is empty"),
                None => bad(
                    "no API key: set `api_key_file` (PDNS_API_KEY_FILE) or `api_key` (PDNS_API_KEY) to the server's `api-key`",
                ),
            })?;
        if api_key
            .expose()
            .chars()
            .any(|c| c.is_control() || !c.is_ascii())
        {
            return Err(bad(
                "the API key contains control or non-ASCII characters; check the key file",
            ));
        }
        let server_id = self
            .server_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let server_id = server_id.unwrap_or(DEFAULT_SERVER_ID).to_string();
        if let Some(v) = self.api_version.filter(|v| *v != 1) {
            return Err(bad(format!(
                "api_version {v} (PDNS_API_VERSION): wildcert speaks the PowerDNS API v1 (PowerDNS \
                 Authoritative 4.0 and later); remove the setting or set it to 1"
            )));
        }
        if server_id.contains('/') {
            return Err(bad(format!("server_id `{server_id}` must not contain `/`")));
        }
        Ok(PdnsConfig {
            api_url,
            api_key,
            server_id,
            timeout: Duration::from_secs(self.timeout.unwrap_or(DEFAULT_TIMEOUT.as_secs()).max(1)),
            rate_limit_wait: self
                .rate_limit_wait
                .map_or(crate::DEFAULT_RATE_LIMIT_WAIT, Duration::from_secs),
        })
    }
}

/// Validated configuration of the provider.
#[derive(Clone, Debug)]
pub struct PdnsConfig {
    /// Base URL of the webserver (without `/api/v1`).
    pub api_url: reqwest::Url,
    /// The API key.
    pub api_key: Secret,
    /// Server id.
    pub server_id: String,
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
    fn env_and_file_layers() {
        let file = object(serde_json::json!({
            "kind": "pdns", "api_url": "http://127.0.0.1:8081/api/v1/", "api_key": "s3cret", "server_id": "ns1"
        }));
        let env = env(&[
            ("PDNS_SERVER_NAME", "localhost"),
            ("PDNS_HTTP_TIMEOUT", "5"),
        ]);
        let merged = PdnsSettings::SPEC
            .layer(Some(&file), None, &env)
            .and_then(|l| PdnsSettings::from_layered(&l))
            .expect("layers");
        assert!(!format!("{merged:?}").contains("s3cret"));
        let cfg = merged.validate().expect("valid");
        assert_eq!(cfg.api_url.as_str(), "http://127.0.0.1:8081/");
        assert_eq!(cfg.server_id, "localhost");
        assert_eq!(cfg.timeout, Duration::from_secs(5));
        assert_eq!(cfg.api_key.expose(), "s3cret");
        assert!(!format!("{cfg:?}").contains("s3cret"));
    }

    #[test]
    fn key_file_layer_replaces_key() {
        let dir = std::env::temp_dir().join(format!("wildcert-pdns-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("key");
        std::fs::write(&path, "from-file\n").expect("write");
        let file = object(serde_json::json!({
            "api_url": "https://pdns.example.com/prefix/api", "api_key": "inline"
        }));
        let env = env(&[("PDNS_API_KEY_FILE", path.to_str().expect("utf-8 path"))]);
        let cfg = PdnsSettings::SPEC
            .layer(Some(&file), None, &env)
            .and_then(|l| PdnsSettings::from_layered(&l))
            .and_then(|s| s.validate())
            .expect("valid");
        assert_eq!(cfg.api_key.expose(), "from-file");
        assert_eq!(cfg.api_url.as_str(), "https://pdns.example.com/prefix");
        assert_eq!(cfg.server_id, "localhost");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn missing_and_wrong_settings_are_clear() {
        let e = PdnsSettings::default().validate().expect_err("no url");
        assert!(e.to_string().contains("PDNS_API_URL"), "{e}");
        let e = PdnsSettings {
            api_url: Some("http://127.0.0.1:8081".into()),
            ..Default::default()
        }
        .validate()
        .expect_err("no key");
        assert!(e.to_string().contains("PDNS_API_KEY"), "{e}");
        let e = PdnsSettings {
            api_url: Some("ftp://x".into()),
            api_key: Some(Secret::new("k")),
            ..Default::default()
        }
        .validate()
        .expect_err("scheme");
        assert!(e.to_string().contains("http or https"), "{e}");
        let r: Result<PdnsSettings, _> =
            serde_json::from_value(serde_json::json!({ "api_ur": "x" }));
        assert!(r.is_err());
        assert!(PdnsSettings::from_env_map(&env(&[("PDNS_HTTP_TIMEOUT", "soon")])).is_err());
        let e = PdnsSettings::from_env_map(&env(&[
            ("PDNS_API_URL", "http://127.0.0.1:8081"),
            ("PDNS_API_KEY", "k"),
            ("PDNS_API_VERSION", "0"),
        ]))
        .and_then(|s| s.validate())
        .expect_err("v0");
        assert!(e.to_string().contains("API v1"), "{e}");
    }
}
