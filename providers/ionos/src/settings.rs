//! Settings of the ionos provider, declared once: `wildcert providers ionos`,
//! docs/providers/ionos.md and the layering of certbot file, section and environment (lego's
//! `IONOS_*` names) come from [`IonosSettings`]; `validate` makes an [`IonosConfig`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use wildcert_provider::settings::{config_error, https_base_url, secret_or_file};
use wildcert_provider::spec::{LayeredSettings, Registration};
use wildcert_provider::{DnsName, Kind, ProviderError, Secret};

/// Provider kind.
pub const KIND: Kind = IonosSettings::KIND;

/// The documented API root; requests go to `{base}/v1/zones…`.
pub const DEFAULT_BASE_URL: &str = "https://api.hosting.ionos.com/dns";

/// Default bound on the propagation wait (lego's 900 s): IONOS's nameservers take minutes to
/// serve a change and its zones carry a long negative TTL; the wait ends once all serve it.
pub const DEFAULT_PROPAGATION_TIMEOUT: u64 = 900;

/// The ionos provider as the registry lists it.
pub const PROVIDER: Registration = Registration {
    spec: IonosSettings::SPEC,
    build: |layered, _| {
        let settings = IonosSettings::from_layered(layered)?;
        Ok(std::sync::Arc::new(crate::IonosProvider::new(&settings)?))
    },
};

/// Settings as written in `[providers.<id>]` (with `kind = "ionos"`), a certbot-dns-ionos
/// credentials file or the environment.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, wildcert_provider::LayeredSettings)]
#[serde(deny_unknown_fields)]
#[provider(
    kind = "ionos",
    summary = "IONOS DNS API (X-API-Key `prefix.secret`), one record per value",
    env_prefix = "IONOS",
    certbot = ["dns_ionos_"],
    hint_auth = "check the API key (IONOS_API_KEY = `<public prefix>.<secret>`, from developer.hosting.ionos.com/keys) and that API access is enabled for the IONOS account (only the contract owner or an admin may use it)",
    hint_zone_not_found = "the domain's DNS must be managed by IONOS in the account the key belongs to (My IONOS → Domains & SSL), or set zone (IONOS_ZONE)",
    hint_rate_limited = "IONOS limits API requests per key: wait, or raise rate_limit_wait"
)]
pub struct IonosSettings {
    /// API key as IONOS shows it, `<public prefix>.<secret>` (prefer `api_key_file`)
    #[setting(
        required = "one of `api_key` / `api_key_file` / `prefix` + `secret`",
        env = ["IONOS_API_KEY"],
        pair = "api_key_file"
    )]
    pub api_key: Option<Secret>,
    /// File holding the API key `<public prefix>.<secret>`
    #[setting(env = ["IONOS_API_KEY_FILE"], pair = "api_key")]
    pub api_key_file: Option<PathBuf>,
    /// The key's public prefix, when given apart from its secret (certbot-dns-ionos, acme.sh)
    #[setting(env = ["IONOS_PREFIX"], certbot = "prefix")]
    pub prefix: Option<String>,
    /// The key's secret, when given apart from its prefix (certbot-dns-ionos, acme.sh)
    #[setting(env = ["IONOS_SECRET"], certbot = "secret")]
    pub secret: Option<Secret>,
    /// API root; requests go to `{base_url}/v1/zones…` (plain http only to a loopback address)
    #[setting(default = "https://api.hosting.ionos.com/dns", env = ["IONOS_API_URL"])]
    pub base_url: Option<String>,
    /// The zone to change, e.g. `example.com`; by default the longest zone of the account that
    /// contains the name
    #[setting(default = "looked up through the API", env = ["IONOS_ZONE"])]
    pub zone: Option<String>,
    /// Seconds to wait until every authoritative nameserver serves the records (lego's 900:
    /// IONOS is slow to publish); `[dns] propagation_timeout` / --propagation-timeout win when set
    #[setting(default = "900", env = ["IONOS_PROPAGATION_TIMEOUT"], ty = "seconds")]
    pub propagation_timeout: Option<u64>,
    /// Seconds to wait for one API answer
    #[setting(default = "30", env = ["IONOS_HTTP_TIMEOUT"], ty = "seconds")]
    pub timeout: Option<u64>,
    /// Seconds a run may spend waiting out HTTP 429 answers, in all
    #[setting(default = "120", env = ["IONOS_RATE_LIMIT_WAIT"], ty = "seconds")]
    pub rate_limit_wait: Option<u64>,
}

fn bad(message: impl Into<String>) -> ProviderError {
    config_error(KIND, message)
}

impl IonosSettings {
    /// Check the settings, read the key file, and build the provider's configuration.
    pub fn validate(&self) -> Result<IonosConfig, ProviderError> {
        let key = match secret_or_file(KIND, "api_key", &self.api_key, &self.api_key_file)? {
            Some(k) => k,
            None => self.key_from_parts()?,
        };
        let (prefix, secret) = key.expose().split_once('.').unwrap_or_default();
        if prefix.is_empty() || secret.is_empty() {
            return Err(bad(
                "the API key (IONOS_API_KEY) must be `<public prefix>.<secret>` as IONOS shows it; \
                 it is not (only the prefix or only the secret?)",
            ));
        }
        if key.expose().chars().any(|c| !c.is_ascii_graphic()) {
            return Err(bad(
                "the API key (IONOS_API_KEY) contains blanks, control or non-ASCII characters; check for a bad copy",
            ));
        }
        let url = self.base_url.as_deref().filter(|u| !u.trim().is_empty());
        let what = "base_url (IONOS_API_URL)";
        let base = https_base_url(KIND, what, url.unwrap_or(DEFAULT_BASE_URL), &["/v1"])?;
        let zone = self
            .zone
            .as_deref()
            .map(str::trim)
            .filter(|z| !z.is_empty());
        let zone = zone
            .map(|z| {
                DnsName::parse(z)
                    .map_err(|e| bad(format!("zone (IONOS_ZONE) `{z}` is not a domain name: {e}")))
            })
            .transpose()?;
        let secs = |v: Option<u64>, d: u64| Duration::from_secs(v.unwrap_or(d).max(1));
        Ok(IonosConfig {
            key,
            base_url: base,
            zone,
            propagation_timeout: secs(self.propagation_timeout, DEFAULT_PROPAGATION_TIMEOUT),
            timeout: secs(self.timeout, 30),
            rate_limit_wait: Duration::from_secs(self.rate_limit_wait.unwrap_or(120)),
        })
    }

    /// The key from `prefix` + `secret` (certbot-dns-ionos' and acme.sh's form).
    fn key_from_parts(&self) -> Result<Secret, ProviderError> {
        let prefix = self
            .prefix
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty());
        let secret = self
            .secret
            .as_ref()
            .filter(|s| !s.expose().trim().is_empty());
        match (prefix, secret) {
            (Some(p), Some(s)) => Ok(Secret::new(format!("{p}.{}", s.expose().trim()))),
            (Some(_), None) => Err(bad(
                "`prefix` (IONOS_PREFIX) is set but `secret` (IONOS_SECRET) is not",
            )),
            (None, Some(_)) => Err(bad(
                "`secret` (IONOS_SECRET) is set but `prefix` (IONOS_PREFIX) is not",
            )),
            (None, None) => Err(bad(
                "no API key: set `api_key_file` (IONOS_API_KEY_FILE) or `api_key` (IONOS_API_KEY) to `<public prefix>.<secret>`",
            )),
        }
    }
}

/// Validated configuration of the provider.
#[derive(Clone, Debug)]
pub struct IonosConfig {
    /// The API key `<public prefix>.<secret>`.
    pub key: Secret,
    /// API root, e.g. `https://api.hosting.ionos.com/dns`.
    pub base_url: reqwest::Url,
    /// The zone given explicitly.
    pub zone: Option<DnsName>,
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
        let file = object(serde_json::json!({ "kind": "ionos", "api_key": "file.secret" }));
        let e = env(&[
            ("IONOS_API_KEY", "envprefix.ENVSECRET"),
            ("IONOS_API_URL", "http://127.0.0.1:9/dns/v1/"),
            ("IONOS_HTTP_TIMEOUT", "7"),
            ("IONOS_PROPAGATION_TIMEOUT", "60"),
            ("IONOS_ZONE", "Example.COM."),
        ]);
        let s = IonosSettings::SPEC
            .layer(Some(&file), None, &e)
            .and_then(|l| IonosSettings::from_layered(&l))
            .expect("layers");
        let cfg = s.validate().expect("valid");
        assert_eq!(cfg.key.expose(), "envprefix.ENVSECRET");
        assert_eq!(cfg.base_url.as_str(), "http://127.0.0.1:9/dns");
        assert_eq!(cfg.timeout, Duration::from_secs(7));
        assert_eq!(cfg.propagation_timeout, Duration::from_secs(60));
        assert_eq!(
            cfg.zone.map(|z| z.to_string()).as_deref(),
            Some("example.com")
        );
        assert!(!format!("{s:?}").contains("ENVSECRET"));
        let d = IonosSettings {
            api_key: Some(Secret::new("p.k")),
            ..Default::default()
        };
        let cfg = d.validate().expect("valid");
        assert_eq!(cfg.base_url.as_str(), "https://api.hosting.ionos.com/dns");
        assert_eq!(cfg.propagation_timeout, Duration::from_secs(900));
    }

    #[test]
    fn certbot_prefix_and_secret() {
        let dir = tempfile::tempdir().expect("tmp");
        let ini = dir.path().join("ionos.ini");
        std::fs::write(
            &ini,
            "dns_ionos_prefix = abc123\ndns_ionos_secret = S3CRETPART\n",
        )
        .expect("write");
        let s = IonosSettings::SPEC
            .layer(None, Some(&ini), &env(&[]))
            .and_then(|l| IonosSettings::from_layered(&l))
            .expect("layers");
        assert_eq!(
            s.validate().expect("valid").key.expose(),
            "abc123.S3CRETPART"
        );
        let e = IonosSettings {
            secret: Some(Secret::new("S3CRETPART")),
            ..Default::default()
        }
        .validate()
        .expect_err("no prefix")
        .to_string();
        assert!(e.contains("IONOS_PREFIX") && !e.contains("S3CRET"), "{e}");
    }

    #[test]
    fn bad_input_names_the_variable_and_never_the_secret() {
        let e = IonosSettings::default().validate().expect_err("no key");
        assert!(e.to_string().contains("IONOS_API_KEY"), "{e}");
        let with = |f: fn(&mut IonosSettings)| {
            let mut s = IonosSettings {
                api_key: Some(Secret::new("prefix.S3CRETKEY")),
                ..Default::default()
            };
            f(&mut s);
            s.validate().expect_err("refused").to_string()
        };
        let e = with(|s| s.api_key = Some(Secret::new("S3CRETONLY")));
        assert!(
            e.contains("IONOS_API_KEY") && e.contains("prefix") && !e.contains("S3CRET"),
            "{e}"
        );
        let e = with(|s| s.api_key = Some(Secret::new("prefix.")));
        assert!(e.contains("<public prefix>.<secret>"), "{e}");
        let e = with(|s| s.api_key = Some(Secret::new("prefix.S3CRET KEY")));
        assert!(e.contains("IONOS_API_KEY") && !e.contains("S3CRET"), "{e}");
        let e = with(|s| s.base_url = Some("http://api.hosting.ionos.com/dns".into()));
        assert!(e.contains("IONOS_API_URL") && e.contains("loopback"), "{e}");
        let e = with(|s| s.zone = Some("exa mple..com".into()));
        assert!(e.contains("IONOS_ZONE"), "{e}");
        let r = IonosSettings::from_env_map(&env(&[("IONOS_HTTP_TIMEOUT", "soon")]));
        assert!(
            r.expect_err("seconds")
                .to_string()
                .contains("IONOS_HTTP_TIMEOUT")
        );
        let r: Result<IonosSettings, _> =
            serde_json::from_value(serde_json::json!({ "apikey": "x" }));
        assert!(r.is_err());
    }

    #[test]
    fn key_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("key");
        std::fs::write(&p, "filepfx.FILEKEY\n").expect("write");
        let s = IonosSettings {
            api_key_file: Some(p.clone()),
            ..Default::default()
        };
        assert_eq!(s.validate().expect("valid").key.expose(), "filepfx.FILEKEY");
        std::fs::write(&p, "").expect("write");
        let e = s.validate().expect_err("empty");
        assert!(e.to_string().contains("api_key_file"), "{e}");
    }
}
