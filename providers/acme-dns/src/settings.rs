//! Settings of the acme-dns provider, declared once: `wildcert providers acme-dns`,
//! docs/providers/acme-dns.md and the layering of section, certbot-dns-acmedns credentials and
//! environment (lego's names) all come from [`AcmeDnsSettings`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use wildcert_provider::settings::config_error;
use wildcert_provider::spec::{LayeredSettings, Registration};
use wildcert_provider::{Kind, ProviderError};

/// Provider kind.
pub const KIND: Kind = AcmeDnsSettings::KIND;

/// The acme-dns provider as the registry lists it.
pub const PROVIDER: Registration = Registration {
    spec: AcmeDnsSettings::SPEC,
    build: |layered, ctx| {
        let settings = AcmeDnsSettings::from_layered(layered)?;
        let provider = crate::AcmeDnsProvider::new(&settings, ctx.state_dir)?;
        Ok(std::sync::Arc::new(provider))
    },
};

/// Settings as written in `[providers.<id>]` (with `kind = "acme-dns"`), a certbot-dns-acmedns
/// credentials file or the environment. Every field is optional so layers can be merged.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, wildcert_provider::LayeredSettings)]
#[serde(deny_unknown_fields)]
#[provider(
    kind = "acme-dns",
    summary = "acme-dns server (/register, /update): one registration per name, reached through the \
               _acme-challenge CNAME; two values per registration",
    env_prefix = "ACME_DNS",
    certbot = ["dns_acmedns_"],
    ignored(
        var = "ACME_DNS_STORAGE_BASE_URL",
        reason = "lego's HTTP account storage is not read: give the registrations as a file (ACME_DNS_STORAGE_PATH)"
    ),
    hint_auth = "the acme-dns server refused the registration (401): check its username and password in the \
                 registrations file, and that this host's address is inside the registration's allowfrom networks",
    hint_zone_not_found = "register the name first: `wildcert acme-dns register -d NAME`, then add the \
                           _acme-challenge CNAME it prints (or set ACME_DNS_STORAGE_PATH to lego's or certbot's registrations file)",
    hint_rejected = "an acme-dns registration holds only its two latest values: give each name its own \
                     registration (`wildcert acme-dns register -d NAME`) and its own CNAME"
)]
pub struct AcmeDnsSettings {
    /// acme-dns API root (`{api_base}/register`, `{api_base}/update`); by default each
    /// registration's own `server_url` (plain http only to a loopback address)
    #[setting(
        required = "for `register`, and for registrations without a `server_url`",
        env = ["ACME_DNS_API_BASE"],
        certbot = "api_url"
    )]
    pub api_base: Option<String>,
    /// Registrations file (JSON keyed by domain) written by lego or certbot-dns-acmedns, read
    /// as it is and never written; `wildcert acme-dns register` keeps its own in the state dir
    #[setting(env = ["ACME_DNS_STORAGE_PATH"], certbot = "registration_file")]
    pub storage_path: Option<PathBuf>,
    /// Networks (CIDR, comma-separated) a new registration accepts updates from; for
    /// `wildcert acme-dns register`
    #[setting(default = "any", env = ["ACME_DNS_ALLOWLIST"])]
    pub allowlist: Option<String>,
    /// Seconds to wait for one API answer
    #[setting(default = "30", env = ["ACME_DNS_HTTP_TIMEOUT"], ty = "seconds")]
    pub timeout: Option<u64>,
}

/// Validated configuration of the provider.
#[derive(Clone, Debug)]
pub struct AcmeDnsConfig {
    /// API root given explicitly, if any.
    pub api_base: Option<reqwest::Url>,
    /// The lego / certbot registrations file, if any.
    pub storage_path: Option<PathBuf>,
    /// `allowfrom` of new registrations.
    pub allowlist: Vec<String>,
    /// Bound on one request.
    pub timeout: Duration,
}

impl AcmeDnsSettings {
    /// Check the settings and build the provider's configuration.
    pub fn validate(&self) -> Result<AcmeDnsConfig, ProviderError> {
        let given = self.api_base.as_deref().filter(|u| !u.trim().is_empty());
        let api_base = given
            .map(|u| api_url("api_base (ACME_DNS_API_BASE)", u))
            .transpose()?;
        let storage_path = self
            .storage_path
            .clone()
            .filter(|p| !p.as_os_str().is_empty());
        let allowlist = self.allowlist.as_deref().unwrap_or_default();
        let allowlist: Vec<String> = allowlist
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect();
        for cidr in &allowlist {
            if !valid_cidr(cidr) {
                let m = format!(
                    "allowlist (ACME_DNS_ALLOWLIST): `{cidr}` is not a network in CIDR form (10.0.0.0/8, 2001:db8::/32)"
                );
                return Err(config_error(KIND, m));
            }
        }
        Ok(AcmeDnsConfig {
            api_base,
            storage_path,
            allowlist,
            timeout: Duration::from_secs(self.timeout.unwrap_or(30).max(1)),
        })
    }
}

/// An acme-dns API root given as `key` (the api_base setting, or a registration's
/// `server_url`): http or https, plain http only to a loopback address.
pub fn api_url(key: &str, url: &str) -> Result<reqwest::Url, ProviderError> {
    wildcert_provider::settings::https_base_url(KIND, key, url, &[])
}

/// Whether `s` is `ADDRESS/PREFIX` with a prefix that fits the address family.
pub fn valid_cidr(s: &str) -> bool {
    let Some((addr, bits)) = s.split_once('/') else {
        return false;
    };
    let Ok(bits) = bits.parse::<u8>() else {
        return false;
    };
    match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => bits <= 32,
        Ok(std::net::IpAddr::V6(_)) => bits <= 128,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use wildcert_provider::spec::env_map as env;

    #[test]
    fn lego_names_and_certbot_keys() {
        let s = AcmeDnsSettings::from_env_map(&env(&[
            ("ACME_DNS_API_BASE", "https://auth.example.org/"),
            ("ACME_DNS_STORAGE_PATH", "/etc/lego/acme-dns.json"),
            ("ACME_DNS_ALLOWLIST", "192.0.2.0/24, 2001:db8::/32"),
        ]))
        .expect("env");
        let cfg = s.validate().expect("valid");
        assert_eq!(
            cfg.api_base.map(|u| u.to_string()).as_deref(),
            Some("https://auth.example.org/")
        );
        assert_eq!(cfg.allowlist, ["192.0.2.0/24", "2001:db8::/32"]);
        assert_eq!(cfg.timeout, Duration::from_secs(30));
        let spec = AcmeDnsSettings::SPEC;
        let keys: Vec<_> = spec.settings.iter().filter_map(|s| s.certbot).collect();
        assert_eq!(keys, ["api_url", "registration_file"]);
    }

    #[test]
    fn bad_input_names_the_variable() {
        let with = |f: fn(&mut AcmeDnsSettings)| {
            let mut s = AcmeDnsSettings::default();
            f(&mut s);
            s.validate().expect_err("refused").to_string()
        };
        let e = with(|s| s.api_base = Some("ftp://auth.example.org".into()));
        assert!(
            e.contains("ACME_DNS_API_BASE") && e.contains("http or https"),
            "{e}"
        );
        let e = with(|s| s.api_base = Some("http://auth.example.org".into()));
        assert!(
            e.contains("ACME_DNS_API_BASE") && e.contains("loopback"),
            "{e}"
        );
        let e = with(|s| s.allowlist = Some("10.0.0.0/33".into()));
        assert!(
            e.contains("ACME_DNS_ALLOWLIST") && e.contains("10.0.0.0/33"),
            "{e}"
        );
        assert!(AcmeDnsSettings::from_env_map(&env(&[("ACME_DNS_HTTP_TIMEOUT", "soon")])).is_err());
        let ok = AcmeDnsSettings {
            api_base: Some("http://127.0.0.1:8053".into()),
            ..Default::default()
        };
        assert!(ok.validate().is_ok());
    }
}
