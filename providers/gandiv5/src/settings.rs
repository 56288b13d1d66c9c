//! Settings of the gandiv5 provider, declared once: `wildcert providers gandiv5`,
//! docs/providers/gandiv5.md and the layering of section, certbot file (certbot-dns-gandi's
//! `dns_gandi_*` keys) and environment (lego's `GANDIV5_*` names) come from
//! [`GandiV5Settings`]; [`GandiV5Settings::validate`] makes a [`GandiV5Config`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use wildcert_provider::settings::{config_error, https_base_url, secret_or_file};
use wildcert_provider::spec::{LayeredSettings, Registration};
use wildcert_provider::{DnsName, Kind, ProviderError, Secret};

/// Provider kind.
pub const KIND: Kind = GandiV5Settings::KIND;

/// The LiveDNS API root, as documented; requests go to `{base}/domains…`.
pub const DEFAULT_BASE_URL: &str = "https://api.gandi.net/v5/livedns";

/// Smallest TTL LiveDNS takes (and lego's default).
pub const MIN_TTL: u32 = 300;

/// lego's propagation timeout for Gandi: its nameservers are slow to serve a change.
pub const DEFAULT_PROPAGATION_TIMEOUT: u64 = 1200;

/// The gandiv5 provider as the registry lists it.
pub const PROVIDER: Registration = Registration {
    spec: GandiV5Settings::SPEC,
    build: |layered, _| {
        let settings = GandiV5Settings::from_layered(layered)?;
        Ok(std::sync::Arc::new(crate::GandiV5Provider::new(&settings)?))
    },
};

/// Settings as written in `[providers.<id>]` (with `kind = "gandiv5"`), a certbot-dns-gandi
/// credentials file or the environment. Every field is optional so layers can be merged.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, wildcert_provider::LayeredSettings)]
#[serde(deny_unknown_fields)]
#[provider(
    kind = "gandiv5",
    summary = "Gandi LiveDNS API v5 (personal access token), TXT RRsets read, merged and written back",
    env_prefix = "GANDIV5",
    certbot = ["dns_gandi_"],
    hint_auth = "use a Gandi personal access token (Organizations → Sharing → Personal Access Tokens) of the \
                 organization owning the domain, with the permission \"Manage domain name technical configurations\"; \
                 API keys are deprecated and old ones are refused with 403",
    hint_zone_not_found = "the token sees only the domains of its organization that use LiveDNS: pick that \
                           organization when making the token (or set sharing_id), or set `zone`",
    hint_rate_limited = "Gandi limits API requests per minute: wait, or raise rate_limit_wait"
)]
pub struct GandiV5Settings {
    /// Personal access token (sent as `Authorization: Bearer …`)
    #[setting(
        required = "one of `token` / `token_file` / `api_key` / `api_key_file`",
        env = ["GANDIV5_PERSONAL_ACCESS_TOKEN"],
        certbot = "token",
        pair = "token_file"
    )]
    pub token: Option<Secret>,
    /// File holding the personal access token
    #[setting(env = ["GANDIV5_PERSONAL_ACCESS_TOKEN_FILE"], pair = "token")]
    pub token_file: Option<PathBuf>,
    /// Deprecated LiveDNS API key (sent as `Authorization: Apikey …`); use `token` instead
    #[setting(env = ["GANDIV5_API_KEY"], certbot = "api_key", pair = "api_key_file")]
    pub api_key: Option<Secret>,
    /// File holding the deprecated API key
    #[setting(env = ["GANDIV5_API_KEY_FILE"], pair = "api_key")]
    pub api_key_file: Option<PathBuf>,
    /// Organization (sharing) id sent as `sharing_id` with every request, as certbot-dns-gandi does
    #[setting(env = ["GANDIV5_SHARING_ID"], certbot = "sharing_id")]
    pub sharing_id: Option<String>,
    /// The domain (zone) to write into; by default the longest LiveDNS domain the token sees
    /// that contains the record name
    #[setting(default = "looked up through the API", env = ["GANDIV5_ZONE"])]
    pub zone: Option<String>,
    /// API root (for proxies and tests); requests go to `{base_url}/domains…`
    #[setting(default = "https://api.gandi.net/v5/livedns", env = ["GANDIV5_API_URL"])]
    pub base_url: Option<String>,
    /// TTL of new TXT RRsets, in seconds, at least 300 (Gandi's minimum and lego's default);
    /// `[dns] ttl` wins when set, raised to 300
    #[setting(default = "300", env = ["GANDIV5_TTL"])]
    pub ttl: Option<u32>,
    /// Seconds to wait until every authoritative nameserver serves the records (lego waits
    /// 1,200 s for Gandi); `[dns] propagation_timeout` / --propagation-timeout win when set
    #[setting(default = "1200", env = ["GANDIV5_PROPAGATION_TIMEOUT"], ty = "seconds")]
    pub propagation_timeout: Option<u64>,
    /// Seconds to wait for one API answer
    #[setting(default = "30", env = ["GANDIV5_HTTP_TIMEOUT"], ty = "seconds")]
    pub timeout: Option<u64>,
    /// Seconds a run may spend waiting out HTTP 429 answers, in all
    #[setting(default = "120", env = ["GANDIV5_RATE_LIMIT_WAIT"], ty = "seconds")]
    pub rate_limit_wait: Option<u64>,
}

/// How the provider authenticates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A personal access token (`Bearer`).
    Token(Secret),
    /// A deprecated API key (`Apikey`).
    ApiKey(Secret),
}

fn bad(message: impl Into<String>) -> ProviderError {
    config_error(KIND, message)
}

/// Refuse a secret that cannot be a header value, naming where it came from (never the value).
fn plain(secret: Secret, var: &str) -> Result<Secret, ProviderError> {
    match secret.expose().chars().all(|c| c.is_ascii_graphic()) {
        true => Ok(secret),
        false => Err(bad(format!(
            "{var} contains blanks, control or non-ASCII characters; check for a bad copy"
        ))),
    }
}

impl GandiV5Settings {
    /// Check the settings, read the secret files, and build the provider's configuration.
    pub fn validate(&self) -> Result<GandiV5Config, ProviderError> {
        let token = secret_or_file(KIND, "token", &self.token, &self.token_file)?;
        let key = secret_or_file(KIND, "api_key", &self.api_key, &self.api_key_file)?;
        let credential = match (token, key) {
            (Some(t), _) => Credential::Token(plain(
                t,
                "the personal access token (GANDIV5_PERSONAL_ACCESS_TOKEN)",
            )?),
            (None, Some(k)) => {
                tracing::warn!(
                    "gandiv5: the API key (GANDIV5_API_KEY) is deprecated and Gandi refuses old keys (403); \
                     make a personal access token and set GANDIV5_PERSONAL_ACCESS_TOKEN"
                );
                Credential::ApiKey(plain(k, "the API key (GANDIV5_API_KEY)")?)
            }
            (None, None) => {
                return Err(bad(
                    "no credentials: set `token_file` (GANDIV5_PERSONAL_ACCESS_TOKEN_FILE) or `token` \
                     (GANDIV5_PERSONAL_ACCESS_TOKEN) to a Gandi personal access token",
                ));
            }
        };
        let url = self.base_url.as_deref().filter(|u| !u.trim().is_empty());
        let key = "base_url (GANDIV5_API_URL)";
        let base_url = https_base_url(KIND, key, url.unwrap_or(DEFAULT_BASE_URL), &[])?;
        let zone = self
            .zone
            .as_deref()
            .map(str::trim)
            .filter(|z| !z.is_empty());
        let zone = zone
            .map(|z| DnsName::parse(z).map_err(|e| bad(format!("zone (GANDIV5_ZONE) `{z}`: {e}"))))
            .transpose()?;
        let ttl = self.ttl.unwrap_or(MIN_TTL);
        if ttl < MIN_TTL {
            return Err(bad(format!(
                "ttl {ttl} (GANDIV5_TTL): Gandi LiveDNS takes no TTL below {MIN_TTL} seconds"
            )));
        }
        let sharing_id = self.sharing_id.as_deref().map(str::trim);
        let sharing_id = sharing_id.filter(|s| !s.is_empty()).map(str::to_string);
        if sharing_id
            .as_deref()
            .is_some_and(|s| !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        {
            return Err(bad(
                "sharing_id (GANDIV5_SHARING_ID) is not an organization id (letters, digits and -)",
            ));
        }
        let secs = |v: Option<u64>, d: u64| Duration::from_secs(v.unwrap_or(d).max(1));
        Ok(GandiV5Config {
            credential,
            base_url,
            zone,
            sharing_id,
            ttl,
            propagation_timeout: secs(self.propagation_timeout, DEFAULT_PROPAGATION_TIMEOUT),
            timeout: secs(self.timeout, 30),
            rate_limit_wait: Duration::from_secs(self.rate_limit_wait.unwrap_or(120)),
        })
    }
}

/// Validated configuration of the provider.
#[derive(Clone, Debug)]
pub struct GandiV5Config {
    /// The token or the deprecated key.
    pub credential: Credential,
    /// API root, e.g. `https://api.gandi.net/v5/livedns`.
    pub base_url: reqwest::Url,
    /// The zone given explicitly, if any.
    pub zone: Option<DnsName>,
    /// The organization id sent with every request, if any.
    pub sharing_id: Option<String>,
    /// TTL of new RRsets (at least 300).
    pub ttl: u32,
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
    use wildcert_provider::spec::{env_map as env, object};

    #[test]
    fn lego_names_certbot_keys_and_defaults() {
        let s = GandiV5Settings::from_env_map(&env(&[
            ("GANDIV5_PERSONAL_ACCESS_TOKEN", "pat_s3cret"),
            ("GANDIV5_HTTP_TIMEOUT", "7"),
            ("GANDIV5_PROPAGATION_TIMEOUT", "900"),
        ]))
        .expect("env");
        let cfg = s.validate().expect("valid");
        assert_eq!(cfg.base_url.as_str(), "https://api.gandi.net/v5/livedns");
        assert_eq!(cfg.credential, Credential::Token(Secret::new("pat_s3cret")));
        assert_eq!(cfg.timeout, Duration::from_secs(7));
        assert_eq!(cfg.propagation_timeout, Duration::from_secs(900));
        assert_eq!(cfg.ttl, 300);
        assert!(!format!("{cfg:?} {s:?}").contains("s3cret"));
        let dir = tempfile::tempdir().expect("tmp");
        let ini = dir.path().join("gandi.ini");
        std::fs::write(
            &ini,
            "dns_gandi_api_key = old-key\ndns_gandi_sharing_id = org-1\n",
        )
        .expect("ini");
        let e = env(&[
            ("GANDIV5_API_URL", "http://127.0.0.1:9/v5/livedns/"),
            ("GANDIV5_ZONE", "Example.COM."),
        ]);
        let section = object(serde_json::json!({ "kind": "gandiv5", "ttl": 600 }));
        let l = GandiV5Settings::SPEC
            .layer(Some(&section), Some(&ini), &e)
            .expect("layers");
        let cfg = GandiV5Settings::from_layered(&l)
            .and_then(|s| s.validate())
            .expect("valid");
        assert_eq!(cfg.credential, Credential::ApiKey(Secret::new("old-key")));
        assert_eq!(cfg.sharing_id.as_deref(), Some("org-1"));
        assert_eq!(cfg.base_url.as_str(), "http://127.0.0.1:9/v5/livedns");
        assert_eq!(cfg.ttl, 600);
        assert_eq!(
            cfg.zone.map(|z| z.to_string()).as_deref(),
            Some("example.com")
        );
        let both = GandiV5Settings {
            token: Some(Secret::new("pat")),
            api_key: Some(Secret::new("key")),
            ..Default::default()
        };
        let cfg = both.validate().expect("valid");
        assert_eq!(
            cfg.credential,
            Credential::Token(Secret::new("pat")),
            "the token wins"
        );
    }

    #[test]
    fn bad_input_names_the_variable_and_hides_the_secret() {
        let e = GandiV5Settings::default().validate().expect_err("none");
        assert!(
            e.to_string().contains("GANDIV5_PERSONAL_ACCESS_TOKEN"),
            "{e}"
        );
        let with = |f: fn(&mut GandiV5Settings)| {
            let mut s = GandiV5Settings {
                token: Some(Secret::new("t")),
                ..Default::default()
            };
            f(&mut s);
            s.validate().expect_err("refused").to_string()
        };
        let e = with(|s| s.token = Some(Secret::new("pat s3cret")));
        assert!(
            e.contains("GANDIV5_PERSONAL_ACCESS_TOKEN") && !e.contains("s3cret"),
            "{e}"
        );
        let e = with(|s| {
            s.token = None;
            s.api_key = Some(Secret::new("k\u{7f}ey-s3cret"));
        });
        assert!(
            e.contains("GANDIV5_API_KEY") && !e.contains("s3cret"),
            "{e}"
        );
        let e = with(|s| s.base_url = Some("ftp://x".into()));
        assert!(
            e.contains("GANDIV5_API_URL") && e.contains("http or https"),
            "{e}"
        );
        assert!(with(|s| s.zone = Some("a..b".into())).contains("GANDIV5_ZONE"));
        assert!(with(|s| s.ttl = Some(60)).contains("GANDIV5_TTL"));
        assert!(with(|s| s.sharing_id = Some("a/b".into())).contains("GANDIV5_SHARING_ID"));
        let r = GandiV5Settings::from_env_map(&env(&[("GANDIV5_PROPAGATION_TIMEOUT", "soon")]));
        assert!(
            r.expect_err("seconds")
                .to_string()
                .contains("GANDIV5_PROPAGATION_TIMEOUT")
        );
        let r: Result<GandiV5Settings, _> =
            serde_json::from_value(serde_json::json!({ "tokn": "x" }));
        assert!(r.is_err());
    }
}
