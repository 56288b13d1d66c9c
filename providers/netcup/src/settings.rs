//! Settings of the netcup provider, declared once: `wildcert providers netcup`,
//! docs/providers/netcup.md and the layering of section, certbot file (certbot-dns-netcup's
//! `dns_netcup_*` keys) and environment (lego's `NETCUP_*` names) come from
//! [`NetcupSettings`]; [`NetcupSettings::validate`] makes a [`NetcupConfig`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use wildcert_provider::settings::{config_error, https_base_url, secret_or_file};
use wildcert_provider::spec::{LayeredSettings, Registration};
use wildcert_provider::{Kind, ProviderError, Secret};

/// Provider kind.
pub const KIND: Kind = NetcupSettings::KIND;

/// The CCP API's JSON endpoint, as documented (the `?JSON` query selects JSON over SOAP).
pub const DEFAULT_BASE_URL: &str =
    "https://ccp.netcup.net/run/webservice/servers/endpoint.php?JSON";

/// The endpoint's path, added to a `base_url` given as a bare origin.
const ENDPOINT_PATH: &str = "/run/webservice/servers/endpoint.php";

/// lego's propagation timeout for netcup (15 minutes): netcup loads a changed zone into its
/// nameservers only about every 10 minutes.
pub const DEFAULT_PROPAGATION_TIMEOUT: u64 = 900;

/// How often netcup reloads a changed zone, roughly; a shorter propagation timeout is warned of.
pub const ZONE_RELOAD: Duration = Duration::from_secs(600);

/// The netcup provider as the registry lists it.
pub const PROVIDER: Registration = Registration {
    spec: NetcupSettings::SPEC,
    build: |layered, _| {
        let settings = NetcupSettings::from_layered(layered)?;
        Ok(std::sync::Arc::new(crate::NetcupProvider::new(&settings)?))
    },
};

/// Settings as written in `[providers.<id>]` (with `kind = "netcup"`), a certbot-dns-netcup
/// credentials file or the environment. Every field is optional so layers can be merged.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, wildcert_provider::LayeredSettings)]
#[serde(deny_unknown_fields)]
#[provider(
    kind = "netcup",
    summary = "netcup CCP DNS API (customer number, API key and API password; a session per change)",
    env_prefix = "NETCUP",
    certbot = ["dns_netcup_"],
    hint_auth = "check the customer number (NETCUP_CUSTOMER_NUMBER), the API key (NETCUP_API_KEY) and the API \
                 password (NETCUP_API_PASSWORD) in the CCP under Master Data → API; generating a new API password \
                 invalidates the old one",
    hint_zone_not_found = "the domain must be in this customer's CCP and use netcup's nameservers; domains moved to \
                           netcup's CloudDNS are not reachable through the CCP API",
    hint_rate_limited = "netcup allows 180 API requests a minute; netcup also gives this answer to a login with a \
                         wrong customer number, API key or API password: check those if waiting does not help"
)]
pub struct NetcupSettings {
    /// Customer number (shown in the CCP next to the customer's name)
    #[setting(
        required = "always",
        env = ["NETCUP_CUSTOMER_NUMBER"],
        certbot = "customer_id"
    )]
    pub customer_number: Option<String>,
    /// API key (CCP → Master Data → API)
    #[setting(
        required = "one of `api_key` / `api_key_file`",
        env = ["NETCUP_API_KEY"],
        certbot = "api_key",
        pair = "api_key_file"
    )]
    pub api_key: Option<Secret>,
    /// File holding the API key
    #[setting(env = ["NETCUP_API_KEY_FILE"], pair = "api_key")]
    pub api_key_file: Option<PathBuf>,
    /// API password (one per customer, shown once when generated)
    #[setting(
        required = "one of `api_password` / `api_password_file`",
        env = ["NETCUP_API_PASSWORD"],
        certbot = "api_password",
        pair = "api_password_file"
    )]
    pub api_password: Option<Secret>,
    /// File holding the API password
    #[setting(env = ["NETCUP_API_PASSWORD_FILE"], pair = "api_password")]
    pub api_password_file: Option<PathBuf>,
    /// The JSON endpoint (for proxies and tests; plain http only to a loopback address)
    #[setting(
        default = "https://ccp.netcup.net/run/webservice/servers/endpoint.php?JSON",
        env = ["NETCUP_API_URL"]
    )]
    pub base_url: Option<String>,
    /// Seconds to wait until every authoritative nameserver serves the records (lego's 900):
    /// netcup loads a changed zone only about every 10 minutes; `[dns] propagation_timeout` /
    /// --propagation-timeout win when set
    #[setting(default = "900", env = ["NETCUP_PROPAGATION_TIMEOUT"], ty = "seconds")]
    pub propagation_timeout: Option<u64>,
    /// Not used: netcup has one TTL per zone (set in the CCP), none per record
    #[setting(default = "the zone's TTL", env = ["NETCUP_TTL"])]
    pub ttl: Option<u32>,
    /// Seconds to wait for one API answer
    #[setting(default = "30", env = ["NETCUP_HTTP_TIMEOUT"], ty = "seconds")]
    pub timeout: Option<u64>,
    /// Seconds a run may spend waiting out netcup's limit of 180 requests a minute, in all
    #[setting(default = "90", env = ["NETCUP_RATE_LIMIT_WAIT"], ty = "seconds")]
    pub rate_limit_wait: Option<u64>,
}

/// Validated configuration of the provider.
#[derive(Clone, Debug)]
pub struct NetcupConfig {
    /// Customer number (digits).
    pub customer_number: String,
    /// API key.
    pub api_key: Secret,
    /// API password (sent only with `login`).
    pub api_password: Secret,
    /// The JSON endpoint, with its `?JSON` query.
    pub endpoint: reqwest::Url,
    /// How long the pipeline waits for the nameservers.
    pub propagation_timeout: Duration,
    /// Bound on one request.
    pub timeout: Duration,
    /// Bound on waiting out rate limiting, for the whole run.
    pub rate_limit_wait: Duration,
}

fn bad(message: impl Into<String>) -> ProviderError {
    config_error(KIND, message)
}

/// A secret that must be one printable ASCII word, refused naming `var` (never the value).
fn word(secret: Option<Secret>, var: &str, what: &str) -> Result<Secret, ProviderError> {
    let s = secret.ok_or_else(|| bad(format!("no {what}: set {var} (or {var}_FILE)")))?;
    match !s.is_empty() && s.expose().chars().all(|c| c.is_ascii_graphic()) {
        true => Ok(s),
        false => Err(bad(format!(
            "{var} is empty or contains blanks, control or non-ASCII characters; check for a bad copy"
        ))),
    }
}

/// The JSON endpoint from `base_url`: `?JSON` may be given or not, a bare origin gets the
/// endpoint's path.
fn endpoint(given: Option<&str>) -> Result<reqwest::Url, ProviderError> {
    let given = given.map(str::trim).filter(|u| !u.is_empty());
    let url = given.unwrap_or(DEFAULT_BASE_URL);
    let bare = url.strip_suffix("?JSON").unwrap_or(url);
    let mut u = https_base_url(KIND, "base_url (NETCUP_API_URL)", bare, &[])?;
    if u.path().trim_matches('/').is_empty() {
        u.set_path(ENDPOINT_PATH);
    }
    u.set_query(Some("JSON"));
    Ok(u)
}

impl NetcupSettings {
    /// Check the settings, read the secret files, and build the provider's configuration.
    pub fn validate(&self) -> Result<NetcupConfig, ProviderError> {
        let customer = self.customer_number.as_deref().map(str::trim);
        let customer = customer.filter(|c| !c.is_empty()).ok_or_else(|| {
            bad("no customer number: set `customer_number` (NETCUP_CUSTOMER_NUMBER)")
        })?;
        if !customer.chars().all(|c| c.is_ascii_digit()) || customer.len() > 12 {
            return Err(bad(format!(
                "customer_number (NETCUP_CUSTOMER_NUMBER) `{customer}` is not a customer number (digits only)"
            )));
        }
        let key = secret_or_file(KIND, "api_key", &self.api_key, &self.api_key_file)?;
        let api_key = word(key, "NETCUP_API_KEY", "API key")?;
        let pw = secret_or_file(
            KIND,
            "api_password",
            &self.api_password,
            &self.api_password_file,
        )?;
        let api_password = word(pw, "NETCUP_API_PASSWORD", "API password")?;
        let propagation_timeout = self
            .propagation_timeout
            .unwrap_or(DEFAULT_PROPAGATION_TIMEOUT);
        let propagation_timeout = Duration::from_secs(propagation_timeout.max(1));
        if propagation_timeout < ZONE_RELOAD {
            tracing::warn!(
                "netcup: propagation_timeout (NETCUP_PROPAGATION_TIMEOUT) is {} s, but netcup loads a changed \
                 zone into its nameservers only about every {} s: expect a propagation timeout",
                propagation_timeout.as_secs(),
                ZONE_RELOAD.as_secs()
            );
        }
        Ok(NetcupConfig {
            customer_number: customer.to_string(),
            api_key,
            api_password,
            endpoint: endpoint(self.base_url.as_deref())?,
            propagation_timeout,
            timeout: Duration::from_secs(self.timeout.unwrap_or(30).max(1)),
            rate_limit_wait: Duration::from_secs(self.rate_limit_wait.unwrap_or(90)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wildcert_provider::spec::env_map as env;

    fn from(pairs: &[(&str, &str)]) -> Result<NetcupConfig, String> {
        let s = NetcupSettings::from_env_map(&env(pairs)).map_err(|e| e.to_string())?;
        s.validate().map_err(|e| e.to_string())
    }

    const GOOD: [(&str, &str); 3] = [
        ("NETCUP_CUSTOMER_NUMBER", "123456"),
        ("NETCUP_API_KEY", "k3y-s3cret"),
        ("NETCUP_API_PASSWORD", "pw-s3cret"),
    ];

    #[test]
    fn lego_names_and_defaults() {
        let cfg = from(&GOOD).expect("valid");
        assert_eq!(cfg.endpoint.as_str(), DEFAULT_BASE_URL);
        assert_eq!(cfg.customer_number, "123456");
        assert_eq!(cfg.propagation_timeout, Duration::from_secs(900));
        assert!(cfg.propagation_timeout >= Duration::from_secs(15 * 60));
        assert_eq!(cfg.timeout, Duration::from_secs(30));
        assert!(!format!("{cfg:?}").contains("s3cret"), "{cfg:?}");
        let mut more = GOOD.to_vec();
        more.extend([
            ("NETCUP_PROPAGATION_TIMEOUT", "1800"),
            ("NETCUP_HTTP_TIMEOUT", "7"),
        ]);
        let cfg = from(&more).expect("valid");
        assert_eq!(cfg.propagation_timeout, Duration::from_secs(1800));
        assert_eq!(cfg.timeout, Duration::from_secs(7));
    }

    #[test]
    fn certbot_keys_and_secret_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let ini = dir.path().join("netcup.ini");
        std::fs::write(
            &ini,
            "dns_netcup_customer_id = 42\ndns_netcup_api_key = ini-key\ndns_netcup_api_password = ini-pw\n",
        )
        .expect("ini");
        let layered = NetcupSettings::SPEC
            .layer(None, Some(&ini), &env(&[]))
            .expect("layered");
        let cfg = NetcupSettings::from_layered(&layered)
            .expect("settings")
            .validate()
            .expect("valid");
        assert_eq!(
            (cfg.customer_number.as_str(), cfg.api_key.expose()),
            ("42", "ini-key")
        );
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "from-file\n").expect("pw");
        let cfg = from(&[
            ("NETCUP_CUSTOMER_NUMBER", "1"),
            ("NETCUP_API_KEY", "k"),
            ("NETCUP_API_PASSWORD_FILE", pw.to_str().expect("utf-8")),
        ])
        .expect("valid");
        assert_eq!(cfg.api_password.expose(), "from-file");
    }

    #[test]
    fn endpoint_forms() {
        let url = |u: &str| {
            endpoint(Some(u))
                .map(|u| u.to_string())
                .map_err(|e| e.to_string())
        };
        let full = "https://ccp.netcup.net/run/webservice/servers/endpoint.php?JSON";
        assert_eq!(url(full).as_deref(), Ok(full));
        assert_eq!(
            url("https://ccp.netcup.net/run/webservice/servers/endpoint.php").as_deref(),
            Ok(full)
        );
        assert_eq!(url("https://ccp.netcup.net").as_deref(), Ok(full));
        assert_eq!(
            url("http://127.0.0.1:8080/run/webservice/servers/endpoint.php?JSON").as_deref(),
            Ok("http://127.0.0.1:8080/run/webservice/servers/endpoint.php?JSON")
        );
        let e = url("http://ccp.example.net/endpoint.php").expect_err("plain http");
        assert!(e.contains("NETCUP_API_URL"), "{e}");
        assert!(url("https://ccp.netcup.net/e.php?WSDL").is_err());
    }

    #[test]
    fn bad_input_names_the_variable_never_the_secret() {
        let without = |var: &str| {
            let pairs: Vec<_> = GOOD.iter().copied().filter(|(k, _)| *k != var).collect();
            from(&pairs).expect_err("missing")
        };
        for var in [
            "NETCUP_CUSTOMER_NUMBER",
            "NETCUP_API_KEY",
            "NETCUP_API_PASSWORD",
        ] {
            let e = without(var);
            assert!(e.contains(var) && !e.contains("s3cret"), "{e}");
        }
        let with = |var: &str, v: &str| {
            let mut pairs: Vec<_> = GOOD.iter().copied().filter(|(k, _)| *k != var).collect();
            pairs.push((var, v));
            from(&pairs).expect_err("bad")
        };
        let e = with("NETCUP_CUSTOMER_NUMBER", "K-12");
        assert!(e.contains("NETCUP_CUSTOMER_NUMBER"), "{e}");
        let e = with("NETCUP_API_PASSWORD", "pw s3cret");
        assert!(
            e.contains("NETCUP_API_PASSWORD") && !e.contains("s3cret"),
            "{e}"
        );
        let e = with("NETCUP_PROPAGATION_TIMEOUT", "soon");
        assert!(e.contains("NETCUP_PROPAGATION_TIMEOUT"), "{e}");
        let r: Result<NetcupSettings, _> =
            serde_json::from_value(serde_json::json!({ "api_pasword": "x" }));
        assert!(r.is_err());
    }
}
