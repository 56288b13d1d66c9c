//! Settings of the namecheap provider, declared once: `wildcert providers namecheap`,
//! docs/providers/namecheap.md and the layering of certbot file, section and environment
//! (lego's names) all come from [`NamecheapSettings`]; [`NamecheapSettings::validate`] makes a
//! [`NamecheapConfig`].

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use wildcert_provider::settings::{config_error, https_base_url, secret_or_file};
use wildcert_provider::spec::{LayeredSettings, Registration};
use wildcert_provider::{DnsName, Kind, ProviderError, Secret};

/// Provider kind.
pub const KIND: Kind = NamecheapSettings::KIND;

/// Namecheap's API endpoint, as documented.
pub const DEFAULT_BASE_URL: &str = "https://api.namecheap.com/xml.response";
/// The sandbox's endpoint (`NAMECHEAP_SANDBOX=true`).
pub const SANDBOX_BASE_URL: &str = "https://api.sandbox.namecheap.com/xml.response";
/// Where lego asks for this host's public address (Namecheap's own service).
pub const DEFAULT_CLIENT_IP_URL: &str = "https://dynamicdns.park-your-domain.com/getip";
/// How long lego waits for Namecheap's nameservers (an hour).
pub const DEFAULT_PROPAGATION_TIMEOUT: u64 = 3600;

/// The namecheap provider as the registry lists it.
pub const PROVIDER: Registration = Registration {
    spec: NamecheapSettings::SPEC,
    build: |layered, _| {
        let settings = NamecheapSettings::from_layered(layered)?;
        Ok(std::sync::Arc::new(crate::NamecheapProvider::new(
            &settings,
        )?))
    },
};

/// Settings as written in `[providers.<id>]` (with `kind = "namecheap"`), a certbot
/// credentials file or the environment. Every field is optional so layers can be merged;
/// [`NamecheapSettings::validate`] checks them.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, wildcert_provider::LayeredSettings)]
#[serde(deny_unknown_fields)]
#[provider(
    kind = "namecheap",
    summary = "Namecheap XML API (API user + key from a whitelisted IPv4 address), whole-zone getHosts / setHosts",
    env_prefix = "NAMECHEAP",
    certbot = ["dns_namecheap_"],
    hint_auth = "enable API access (Profile, Tools, API Access), use that page's API key, and whitelist the public IPv4 \
                 address wildcert's requests come from (the error names the address Namecheap saw)",
    hint_zone_not_found = "the API lists only the domains registered in this account; for a domain shared with it, \
                           set `zone` (NAMECHEAP_ZONE)",
    hint_rejected = "wildcert writes the whole host list back exactly as read; fix the zone in the dashboard if \
                     Namecheap refuses it"
)]
pub struct NamecheapSettings {
    /// Namecheap account name the API key belongs to (sent as ApiUser and UserName)
    #[setting(required = "always", env = ["NAMECHEAP_API_USER"], certbot = "username")]
    pub api_user: Option<String>,
    /// API key (Profile, Tools, API Access)
    #[setting(
        required = "one of `api_key` / `api_key_file`",
        env = ["NAMECHEAP_API_KEY"],
        certbot = "api_key",
        pair = "api_key_file"
    )]
    pub api_key: Option<Secret>,
    /// File holding the API key
    #[setting(env = ["NAMECHEAP_API_KEY_FILE"], pair = "api_key")]
    pub api_key_file: Option<PathBuf>,
    /// This host's public IPv4 address, sent as ClientIp (it must be whitelisted)
    #[setting(
        default = "asked from client_ip_url",
        env = ["NAMECHEAP_CLIENT_IP", "NAMECHEAP_SOURCEIP"]
    )]
    pub client_ip: Option<String>,
    /// Where to ask for this host's public address when `client_ip` is not set
    #[setting(
        default = "https://dynamicdns.park-your-domain.com/getip",
        env = ["NAMECHEAP_CLIENT_IP_URL"]
    )]
    pub client_ip_url: Option<String>,
    /// Use Namecheap's sandbox (api.sandbox.namecheap.com) instead of the live API
    #[setting(default = "false", env = ["NAMECHEAP_SANDBOX"])]
    pub sandbox: Option<bool>,
    /// API endpoint (for proxies and tests); wins over `sandbox`
    #[setting(
        default = "https://api.namecheap.com/xml.response",
        env = ["NAMECHEAP_API_URL"]
    )]
    pub base_url: Option<String>,
    /// The domain to write into; by default the longest domain of the account that holds the
    /// record name (`domains.getList`)
    #[setting(default = "looked up through the API", env = ["NAMECHEAP_ZONE"])]
    pub zone: Option<String>,
    /// Seconds to wait until every authoritative nameserver serves the records (lego waits an
    /// hour for Namecheap); `[dns] propagation_timeout` / --propagation-timeout win when set
    #[setting(default = "3600", env = ["NAMECHEAP_PROPAGATION_TIMEOUT"], ty = "seconds")]
    pub propagation_timeout: Option<u64>,
    /// Seconds to wait for one API answer
    #[setting(default = "60", env = ["NAMECHEAP_HTTP_TIMEOUT"], ty = "seconds")]
    pub timeout: Option<u64>,
    /// Seconds a run may spend waiting out HTTP 429 answers, in all
    #[setting(default = "120", env = ["NAMECHEAP_RATE_LIMIT_WAIT"], ty = "seconds")]
    pub rate_limit_wait: Option<u64>,
}

fn bad(message: impl Into<String>) -> ProviderError {
    config_error(KIND, message)
}

/// A value given, blanks trimmed; `None` when empty.
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl NamecheapSettings {
    /// Check the settings, read the key file, and build the provider's configuration.
    pub fn validate(&self) -> Result<NamecheapConfig, ProviderError> {
        let api_user = given(&self.api_user).ok_or_else(|| {
            bad("no API user: set `api_user` (NAMECHEAP_API_USER) to the Namecheap account name")
        })?;
        if api_user.len() > 20 || !api_user.chars().all(|c| c.is_ascii_graphic()) {
            return Err(bad(format!(
                "api_user (NAMECHEAP_API_USER) `{api_user}` is not a Namecheap account name (up to 20 characters, no blanks)"
            )));
        }
        let api_key = secret_or_file(KIND, "api_key", &self.api_key, &self.api_key_file)?
            .ok_or_else(|| bad("no API key: set `api_key_file` (NAMECHEAP_API_KEY_FILE) or `api_key` (NAMECHEAP_API_KEY)"))?;
        let key = api_key.expose();
        if key.len() > 50 || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(bad(
                "the API key (NAMECHEAP_API_KEY) is not a Namecheap API key (up to 50 letters and digits)",
            ));
        }
        let client_ip = given(&self.client_ip)
            .map(|ip| {
                ip.parse::<Ipv4Addr>().map_err(|_| {
                    bad(format!(
                        "client_ip (NAMECHEAP_CLIENT_IP) `{ip}` is not an IPv4 address: Namecheap takes only IPv4"
                    ))
                })
            })
            .transpose()?;
        let default = match self.sandbox.unwrap_or(false) {
            true => SANDBOX_BASE_URL,
            false => DEFAULT_BASE_URL,
        };
        let url = given(&self.base_url).unwrap_or(default);
        let mut base_url = https_base_url(KIND, "base_url (NAMECHEAP_API_URL)", url, &[])?;
        if !base_url.path().ends_with("/xml.response") {
            let path = format!("{}/xml.response", base_url.path().trim_end_matches('/'));
            base_url.set_path(&path);
        }
        let ip_url = given(&self.client_ip_url).unwrap_or(DEFAULT_CLIENT_IP_URL);
        let client_ip_url =
            https_base_url(KIND, "client_ip_url (NAMECHEAP_CLIENT_IP_URL)", ip_url, &[])?;
        let zone = given(&self.zone)
            .map(|z| {
                DnsName::parse(z).map_err(|e| bad(format!("zone (NAMECHEAP_ZONE) `{z}`: {e}")))
            })
            .transpose()?;
        if zone.as_ref().is_some_and(|z| z.label_count() < 2) {
            return Err(bad(
                "zone (NAMECHEAP_ZONE) must be a registered domain (SLD.TLD)",
            ));
        }
        let secs = |v: Option<u64>, d: u64| Duration::from_secs(v.unwrap_or(d).max(1));
        Ok(NamecheapConfig {
            api_user: api_user.to_string(),
            api_key,
            client_ip,
            client_ip_url,
            base_url,
            zone,
            propagation_timeout: secs(self.propagation_timeout, DEFAULT_PROPAGATION_TIMEOUT),
            timeout: secs(self.timeout, 60),
            rate_limit_wait: Duration::from_secs(self.rate_limit_wait.unwrap_or(120)),
        })
    }
}

/// Validated configuration of the provider.
#[derive(Clone, Debug)]
pub struct NamecheapConfig {
    /// ApiUser and UserName.
    pub api_user: String,
    /// ApiKey.
    pub api_key: Secret,
    /// ClientIp, when given; else asked from `client_ip_url` on first use.
    pub client_ip: Option<Ipv4Addr>,
    /// Where this host's public address is asked for.
    pub client_ip_url: reqwest::Url,
    /// The `…/xml.response` endpoint.
    pub base_url: reqwest::Url,
    /// The domain given explicitly, if any.
    pub zone: Option<DnsName>,
    /// How long the pipeline waits for the nameservers.
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

    fn good() -> NamecheapSettings {
        NamecheapSettings {
            api_user: Some("alice".into()),
            api_key: Some(Secret::new("0123456789abcdef0123456789abcdef")),
            ..Default::default()
        }
    }

    #[test]
    fn lego_names_and_defaults() {
        let s = NamecheapSettings::from_env_map(&env(&[
            ("NAMECHEAP_API_USER", "alice"),
            ("NAMECHEAP_API_KEY", "s3cretKey0123"),
            ("NAMECHEAP_HTTP_TIMEOUT", "7"),
        ]))
        .expect("env");
        let cfg = s.validate().expect("valid");
        assert_eq!(cfg.base_url.as_str(), DEFAULT_BASE_URL);
        assert_eq!(cfg.client_ip_url.as_str(), DEFAULT_CLIENT_IP_URL);
        assert_eq!(
            (cfg.api_user.as_str(), cfg.api_key.expose()),
            ("alice", "s3cretKey0123")
        );
        assert_eq!(cfg.timeout, Duration::from_secs(7));
        assert_eq!(cfg.propagation_timeout, Duration::from_secs(3600));
        assert_eq!(cfg.client_ip, None);
        assert!(!format!("{cfg:?} {s:?}").contains("s3cretKey0123"));
        let s = NamecheapSettings::from_env_map(&env(&[
            ("NAMECHEAP_API_USER", "alice"),
            ("NAMECHEAP_API_KEY", "k"),
            ("NAMECHEAP_SANDBOX", "true"),
            ("NAMECHEAP_SOURCEIP", "203.0.113.7"),
            ("NAMECHEAP_ZONE", "Example.CO.uk."),
        ]))
        .expect("env");
        let cfg = s.validate().expect("valid");
        assert_eq!(cfg.base_url.as_str(), SANDBOX_BASE_URL);
        assert_eq!(cfg.client_ip, Some(Ipv4Addr::new(203, 0, 113, 7)));
        assert_eq!(
            cfg.zone.map(|z| z.to_string()).as_deref(),
            Some("example.co.uk")
        );
        let s = NamecheapSettings {
            base_url: Some("http://127.0.0.1:9/".into()),
            sandbox: Some(true),
            ..good()
        };
        let cfg = s.validate().expect("valid");
        assert_eq!(
            cfg.base_url.as_str(),
            "http://127.0.0.1:9/xml.response",
            "base_url wins"
        );
    }

    #[test]
    fn bad_input_names_the_variable_and_hides_the_secret() {
        let e = NamecheapSettings::default()
            .validate()
            .expect_err("no user");
        assert!(e.to_string().contains("NAMECHEAP_API_USER"), "{e}");
        let with = |f: fn(&mut NamecheapSettings)| {
            let mut s = good();
            f(&mut s);
            s.validate().expect_err("refused").to_string()
        };
        let e = with(|s| s.api_key = None);
        assert!(e.contains("NAMECHEAP_API_KEY"), "{e}");
        let e = with(|s| s.api_key = Some(Secret::new("bad key-secret")));
        assert!(
            e.contains("NAMECHEAP_API_KEY") && !e.contains("key-secret"),
            "{e}"
        );
        let e = with(|s| s.client_ip = Some("2001:db8::1".into()));
        assert!(
            e.contains("NAMECHEAP_CLIENT_IP") && e.contains("IPv4"),
            "{e}"
        );
        let e = with(|s| s.base_url = Some("http://api.namecheap.com/xml.response".into()));
        assert!(
            e.contains("NAMECHEAP_API_URL") && e.contains("plain http"),
            "{e}"
        );
        let e = with(|s| s.zone = Some("com".into()));
        assert!(e.contains("NAMECHEAP_ZONE"), "{e}");
        let e = with(|s| s.api_user = Some("a b".into()));
        assert!(e.contains("NAMECHEAP_API_USER"), "{e}");
        assert!(NamecheapSettings::from_env_map(&env(&[("NAMECHEAP_SANDBOX", "maybe")])).is_err());
    }
}
