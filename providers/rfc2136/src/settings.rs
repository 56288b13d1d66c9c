//! Settings of the rfc2136 provider, declared once: `wildcert providers rfc2136`,
//! docs/providers/rfc2136.md and the layering of section, certbot file and environment (lego's
//! names) all come from [`Rfc2136Settings`]; [`Rfc2136Settings::validate`] makes a
//! [`Rfc2136Config`].

#[cfg(test)]
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use wildcert_provider::settings::{config_error, read_secret_text, secret_or_file};
use wildcert_provider::spec::{LayeredSettings, Registration};
use wildcert_provider::{DnsName, Kind, ProviderError, Secret};

use crate::tsig::{Algorithm, TsigKey, parse_key_file, select_key};

/// Provider kind.
pub const KIND: Kind = Rfc2136Settings::KIND;

/// Default time we wait for the server's answer to one UPDATE or query.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The rfc2136 provider as the registry lists it.
pub const PROVIDER: Registration = Registration {
    spec: Rfc2136Settings::SPEC,
    build: |layered, _| {
        if let Some(path) = &layered.credentials
            && !layered.values.contains_key("tsig_algorithm")
            && !layered.values.contains_key("tsig_file")
        {
            tracing::warn!(
                "rfc2136: credentials {} gives no dns_rfc2136_algorithm; certbot then uses HMAC-MD5, wildcert uses \
                 hmac-sha256 (md5 is refused): if the server's key is an md5 key, make a new one with \
                 tsig-keygen -a hmac-sha256 NAME",
                path.display()
            );
        }
        let settings = Rfc2136Settings::from_layered(layered)?;
        Ok(std::sync::Arc::new(crate::Rfc2136Provider::new(&settings)?))
    },
};

/// Settings as written in `[providers.<id>]` (with `kind = "rfc2136"`), a certbot credentials
/// file or the environment. Every field is optional so layers can be merged;
/// [`Rfc2136Settings::validate`] checks the result.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, wildcert_provider::LayeredSettings)]
#[serde(deny_unknown_fields)]
#[provider(
    kind = "rfc2136",
    summary = "RFC 2136 dynamic DNS UPDATE signed with TSIG (BIND, Knot, PowerDNS, Windows DNS, …)",
    env_prefix = "RFC2136",
    certbot = ["dns_rfc2136_"],
    hint_auth = "check the TSIG credentials (key name, secret, algorithm) against the server's key, and the clock (BADTIME)",
    hint_rejected = "check the server's update-policy / allow-update for TXT records at _acme-challenge names, and that \
                     `nameserver` is the zone's primary"
)]
pub struct Rfc2136Settings {
    /// Server that takes the updates (usually the primary): host or address, optional :port
    /// (default 53)
    #[setting(required, env = ["RFC2136_NAMESERVER"], certbot = "server")]
    pub nameserver: Option<String>,
    /// Port of `nameserver` when it names none (certbot's `dns_rfc2136_port`)
    #[setting(default = "53", env = ["RFC2136_PORT"], certbot = "port")]
    pub port: Option<u64>,
    /// BIND key file (`tsig-keygen` output) giving key name, algorithm and secret; with several
    /// keys, `tsig_key` chooses
    #[setting(
        required = "one of `tsig_file` / `tsig_secret` / `tsig_secret_file`",
        env = ["RFC2136_TSIG_FILE"]
    )]
    pub tsig_file: Option<PathBuf>,
    /// TSIG key name, as in named.conf (`key "NAME"`)
    #[setting(
        required = "with `tsig_secret` / `tsig_secret_file`",
        env = ["RFC2136_TSIG_KEY"],
        certbot = "name"
    )]
    pub tsig_key: Option<String>,
    /// TSIG secret, base64 (prefer `tsig_secret_file` or `tsig_file`: no secret in config or
    /// environment)
    #[setting(
        required = "one of `tsig_file` / `tsig_secret` / `tsig_secret_file`",
        env = ["RFC2136_TSIG_SECRET"],
        certbot = "secret",
        pair = "tsig_secret_file"
    )]
    pub tsig_secret: Option<Secret>,
    /// File holding the base64 TSIG secret
    #[setting(
        required = "one of `tsig_file` / `tsig_secret` / `tsig_secret_file`",
        env = ["RFC2136_TSIG_SECRET_FILE"],
        pair = "tsig_secret"
    )]
    pub tsig_secret_file: Option<PathBuf>,
    /// hmac-sha256, hmac-sha384, hmac-sha512, or hmac-sha1 (accepted with a warning: not
    /// recommended) (any case, trailing dot optional); hmac-md5 is refused
    #[setting(default = "hmac-sha256", env = ["RFC2136_TSIG_ALGORITHM"], certbot = "algorithm")]
    pub tsig_algorithm: Option<String>,
    /// Zone to update, when the server's SOA answers are not wanted or not available
    #[setting(default = "asked from the nameserver (SOA)", env = ["RFC2136_ZONE"])]
    pub zone: Option<String>,
    /// Send updates over TCP (they go over TCP anyway when larger than 1200 bytes)
    #[setting(default = "false", env = ["RFC2136_TCP"])]
    pub tcp: Option<bool>,
    /// Seconds to wait for the server's answer
    #[setting(default = "10", env = ["RFC2136_DNS_TIMEOUT"], ty = "seconds")]
    pub timeout: Option<u64>,
    /// Send unsigned updates (only for servers that allow updates by IP address); no TSIG key
    /// is then needed
    #[setting(default = "false", env = ["RFC2136_INSECURE_UNSIGNED"])]
    pub insecure_unsigned: Option<bool>,
}

fn bad(message: impl Into<String>) -> ProviderError {
    config_error(KIND, message)
}

impl Rfc2136Settings {
    /// Check the settings, read key files, and build the provider's configuration.
    pub fn validate(&self) -> Result<Rfc2136Config, ProviderError> {
        let nameserver = self
            .nameserver
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let nameserver = nameserver.ok_or_else(|| {
            bad("no nameserver: set `nameserver` (RFC2136_NAMESERVER) to the server taking updates, e.g. ns1.example.com or 192.0.2.1:53")
        })?;
        let port = match self.port {
            None => 53,
            Some(p) => u16::try_from(p)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| bad(format!("port {p}: not a port number")))?,
        };
        let nameserver = Nameserver::parse_with_port(nameserver, port)?;
        let zone = self.zone.as_deref().map(DnsName::parse).transpose();
        let zone = zone.map_err(|e| bad(format!("zone: {e}")))?;
        let key = self.key()?;
        let insecure = self.insecure_unsigned.unwrap_or(false);
        if key.is_none() && !insecure {
            return Err(bad(
                "no TSIG key: set tsig_file (RFC2136_TSIG_FILE, a `tsig-keygen` key file) or tsig_key + \
                 tsig_secret_file/tsig_secret; to send unsigned updates (servers that allow updates by IP \
                 address only), set insecure_unsigned = true",
            ));
        }
        if key.is_some() && insecure {
            tracing::warn!(
                "rfc2136: insecure_unsigned is set but a TSIG key is given; updates are signed"
            );
        }
        if let Some(k) = &key
            && k.algorithm.is_discouraged()
        {
            tracing::warn!(
                "rfc2136: TSIG key `{}` uses {}, which RFC 8945 §6 does not recommend; it works, but make a \
                 new key with tsig-keygen -a hmac-sha256 NAME when you can",
                k.name,
                k.algorithm
            );
        }
        let timeout = Duration::from_secs(self.timeout.unwrap_or(DEFAULT_TIMEOUT.as_secs()).max(1));
        Ok(Rfc2136Config {
            nameserver,
            key,
            zone,
            tcp: self.tcp.unwrap_or(false),
            timeout,
        })
    }

    fn key(&self) -> Result<Option<TsigKey>, ProviderError> {
        let explicit_alg = self
            .tsig_algorithm
            .as_deref()
            .filter(|a| !a.trim().is_empty());
        let explicit_alg = explicit_alg.map(Algorithm::parse).transpose();
        let explicit_alg = explicit_alg.map_err(|m| bad(format!("tsig_algorithm: {m}")))?;
        if let Some(path) = &self.tsig_file {
            if self.tsig_secret.is_some() || self.tsig_secret_file.is_some() {
                return Err(bad(
                    "give either tsig_file or tsig_secret/tsig_secret_file, not both",
                ));
            }
            let text = read_secret_text(KIND, "tsig_file", path)?;
            let keys = parse_key_file(&text)
                .map_err(|m| bad(format!("tsig_file {}: {m}", path.display())))?;
            let entry = select_key(&keys, self.tsig_key.as_deref())
                .map_err(|m| bad(format!("tsig_file {}: {m}", path.display())))?;
            let file_alg = entry.algorithm.as_deref().map(Algorithm::parse).transpose();
            let file_alg = file_alg.map_err(|m| {
                bad(format!(
                    "tsig_file {}: key `{}`: {m}",
                    path.display(),
                    entry.name
                ))
            })?;
            let algorithm = match (file_alg, explicit_alg) {
                (Some(f), Some(e)) if f != e => {
                    return Err(bad(format!(
                        "tsig_algorithm is {e} but key `{}` in {} is {f}; remove tsig_algorithm or make them agree",
                        entry.name,
                        path.display()
                    )));
                }
                (Some(f), _) => f,
                (None, Some(e)) => e,
                (None, None) => Algorithm::HmacSha256,
            };
            let secret = entry.secret.as_deref().ok_or_else(|| {
                bad(format!(
                    "tsig_file {}: key `{}` has no secret",
                    path.display(),
                    entry.name
                ))
            })?;
            return TsigKey::new(&entry.name, algorithm, secret)
                .map(Some)
                .map_err(|m| bad(format!("tsig_file {}: {m}", path.display())));
        }
        let secret = secret_or_file(
            KIND,
            "tsig_secret",
            &self.tsig_secret,
            &self.tsig_secret_file,
        )?;
        match (
            self.tsig_key
                .as_deref()
                .map(str::trim)
                .filter(|k| !k.is_empty()),
            secret,
        ) {
            (None, None) => Ok(None),
            (Some(name), None) => Err(bad(format!(
                "tsig_key `{name}` has no secret: set tsig_secret_file (RFC2136_TSIG_SECRET_FILE) or tsig_secret"
            ))),
            (None, Some(_)) => Err(bad(
                "a TSIG secret is given but no key name: set tsig_key (RFC2136_TSIG_KEY)",
            )),
            (Some(name), Some(secret)) => TsigKey::new(
                name,
                explicit_alg.unwrap_or(Algorithm::HmacSha256),
                secret.expose(),
            )
            .map(Some)
            .map_err(bad),
        }
    }
}

/// The server taking updates: a host name or address and a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nameserver {
    /// Host name or IP address as given.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl Nameserver {
    /// Parse `host`, `host:port`, `192.0.2.1`, `2001:db8::1`, `[2001:db8::1]:5353`.
    pub fn parse(s: &str) -> Result<Self, ProviderError> {
        Self::parse_with_port(s, 53)
    }

    /// [`Nameserver::parse`], with `default_port` when `s` names no port.
    pub fn parse_with_port(s: &str, default_port: u16) -> Result<Self, ProviderError> {
        let s = s.trim();
        if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
            return Ok(Nameserver {
                host: sa.ip().to_string(),
                port: sa.port(),
            });
        }
        if let Ok(ip) = s
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
        {
            return Ok(Nameserver {
                host: ip.to_string(),
                port: default_port,
            });
        }
        let (host, port) = match s.rsplit_once(':') {
            Some((h, p)) => {
                let port = p
                    .parse::<u16>()
                    .map_err(|_| bad(format!("nameserver `{s}`: bad port `{p}`")))?;
                (h, port)
            }
            None => (s, default_port),
        };
        DnsName::parse(host).map_err(|e| bad(format!("nameserver `{s}`: {e}")))?;
        Ok(Nameserver {
            host: host.trim_end_matches('.').to_string(),
            port,
        })
    }
}

impl std::fmt::Display for Nameserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Validated configuration of the provider.
#[derive(Clone, Debug)]
pub struct Rfc2136Config {
    /// Server taking the updates.
    pub nameserver: Nameserver,
    /// TSIG key; `None` only when unsigned updates were asked for.
    pub key: Option<TsigKey>,
    /// Zone to update, if configured.
    pub zone: Option<DnsName>,
    /// Always use TCP.
    pub tcp: bool,
    /// Bound on one exchange.
    pub timeout: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    use wildcert_provider::spec::env_map as env;

    #[test]
    fn env_and_file_layers() {
        let file = wildcert_provider::spec::object(serde_json::json!({
            "kind": "rfc2136", "nameserver": "ns1.example.com", "tsig_key": "k", "tsig_secret": "c2VjcmV0", "tcp": true
        }));
        let envs = env(&[
            ("RFC2136_NAMESERVER", "192.0.2.1:5353"),
            ("RFC2136_TSIG_ALGORITHM", "HMAC-SHA512."),
            ("RFC2136_TCP", "false"),
        ]);
        let merged: Rfc2136Settings = Rfc2136Settings::SPEC
            .layer(Some(&file), None, &envs)
            .and_then(|l| l.settings(KIND))
            .expect("layers");
        let cfg = merged.validate().expect("valid");
        assert_eq!(
            cfg.nameserver,
            Nameserver {
                host: "192.0.2.1".into(),
                port: 5353
            }
        );
        assert!(!cfg.tcp);
        let key = cfg.key.expect("key");
        assert_eq!(key.algorithm, Algorithm::HmacSha512);
        assert_eq!(key.name, "k");
        assert!(!format!("{merged:?}").contains("c2VjcmV0"));
    }

    /// Run `f` with a subscriber that writes into a buffer; return what was logged.
    fn logged(f: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Buf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().expect("lock").extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let writer = buf.clone();
        let sub = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(sub, f);
        let bytes = buf.0.lock().expect("lock").clone();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[test]
    fn lego_tuning_variables_take_effect() {
        use wildcert_provider::ProviderTuning;
        let vars = env(&[
            ("RFC2136_NAMESERVER", "192.0.2.1"),
            ("RFC2136_TSIG_KEY", "k"),
            ("RFC2136_TSIG_SECRET", "c2VjcmV0"),
            ("RFC2136_TSIG_ALGORITHM", "hmac-sha1."),
            ("RFC2136_TTL", "300"),
            ("RFC2136_PROPAGATION_TIMEOUT", "5"),
            ("RFC2136_POLLING_INTERVAL", "1"),
            ("RFC2136_SEQUENCE_INTERVAL", "60"),
        ]);
        let mut built = None;
        let log = logged(|| built = Some(PROVIDER.from_env(&vars).expect("builds")));
        let provider = built.expect("provider");
        assert_eq!(
            provider.tuning(),
            ProviderTuning {
                ttl: Some(300),
                propagation_timeout: Some(Duration::from_secs(5)),
                polling_interval: Some(Duration::from_secs(1)),
            }
        );
        // One warning line naming the variable, one for hmac-sha1; none the second time.
        assert_eq!(log.matches("RFC2136_SEQUENCE_INTERVAL").count(), 1, "{log}");
        assert_eq!(log.matches("hmac-sha1, which RFC 8945").count(), 1, "{log}");
        assert_eq!(log.lines().count(), 2, "{log}");
        let again = logged(|| {
            let _ = PROVIDER.from_env(&vars);
        });
        assert!(!again.contains("RFC2136_SEQUENCE_INTERVAL"), "{again}");
        // The same settings from the config file; a file value loses to the environment.
        let file = wildcert_provider::spec::object(serde_json::json!({
            "nameserver": "ns1.example.com", "tsig_key": "k", "tsig_secret": "c2VjcmV0",
            "ttl": 120, "propagation_timeout": 30, "polling_interval": 4
        }));
        let layered = Rfc2136Settings::SPEC
            .layer(Some(&file), None, &vars)
            .expect("layers");
        assert_eq!(layered.tuning.ttl, Some(300));
        let t = Rfc2136Settings::SPEC
            .layer(Some(&file), None, &HashMap::new())
            .expect("layers")
            .tuning;
        assert_eq!(t.ttl, Some(120));
        assert_eq!(t.polling_interval, Some(Duration::from_secs(4)));
        // Nothing given: nothing asked of the pipeline.
        let plain = Rfc2136Settings::SPEC
            .layer(
                None,
                None,
                &env(&[
                    ("RFC2136_NAMESERVER", "192.0.2.1"),
                    ("RFC2136_INSECURE_UNSIGNED", "true"),
                ]),
            )
            .expect("layers");
        assert_eq!(plain.tuning, ProviderTuning::default());
        assert!(
            Rfc2136Settings::SPEC
                .layer(None, None, &env(&[("RFC2136_TTL", "soon")]))
                .is_err()
        );
        assert!(
            Rfc2136Settings::SPEC
                .layer(None, None, &env(&[("RFC2136_PROPAGATION_TIMEOUT", "0")]))
                .is_err()
        );
    }

    #[test]
    fn certbot_credentials_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("rfc2136.ini");
        std::fs::write(
            &path,
            "# Target DNS server\ndns_rfc2136_server = 192.0.2.1\ndns_rfc2136_port = 5353\n\
             dns_rfc2136_name = certbot.\ndns_rfc2136_secret = c2VjcmV0\n\
             dns_rfc2136_algorithm = HMAC-SHA512\ndns_rfc2136_sign_query = false\n",
        )
        .expect("write");
        let section = wildcert_provider::spec::object(
            serde_json::json!({ "credentials": path.to_str().expect("utf-8") }),
        );
        let s: Rfc2136Settings = Rfc2136Settings::SPEC
            .layer(Some(&section), None, &HashMap::new())
            .and_then(|l| l.settings(KIND))
            .expect("layers");
        let cfg = s.validate().expect("valid");
        assert_eq!(cfg.nameserver.to_string(), "192.0.2.1:5353");
        let key = cfg.key.expect("key");
        assert_eq!(
            (key.name.as_str(), key.algorithm),
            ("certbot", Algorithm::HmacSha512)
        );
    }

    #[test]
    fn unknown_keys_refused() {
        let r: Result<Rfc2136Settings, _> =
            serde_json::from_value(serde_json::json!({ "nameservr": "x" }));
        assert!(r.is_err());
    }

    #[test]
    fn missing_key_is_a_config_error_unless_insecure() {
        let s = Rfc2136Settings {
            nameserver: Some("127.0.0.1".into()),
            ..Default::default()
        };
        let e = s.validate().expect_err("no key");
        assert!(e.to_string().contains("no TSIG key"), "{e}");
        let s = Rfc2136Settings {
            insecure_unsigned: Some(true),
            ..s
        };
        assert!(s.validate().is_ok_and(|c| c.key.is_none()));
        let s = Rfc2136Settings {
            nameserver: Some("127.0.0.1".into()),
            tsig_key: Some("k".into()),
            ..Default::default()
        };
        assert!(
            s.validate()
                .expect_err("no secret")
                .to_string()
                .contains("no secret")
        );
        let s = Rfc2136Settings {
            nameserver: Some("127.0.0.1".into()),
            tsig_key: Some("k".into()),
            tsig_secret: Some(Secret::new("c2VjcmV0")),
            tsig_algorithm: Some("hmac-md5".into()),
            ..Default::default()
        };
        assert!(
            s.validate()
                .expect_err("md5")
                .to_string()
                .contains("hmac-md5 is insecure")
        );
    }

    #[test]
    fn nameserver_forms() {
        let p = |s: &str| Nameserver::parse(s).map(|n| n.to_string());
        assert_eq!(p("ns1.example.com").expect("ok"), "ns1.example.com:53");
        assert_eq!(
            p("ns1.example.com.:5353").expect("ok"),
            "ns1.example.com:5353"
        );
        assert_eq!(p("192.0.2.1").expect("ok"), "192.0.2.1:53");
        assert_eq!(p("2001:db8::1").expect("ok"), "[2001:db8::1]:53");
        assert_eq!(p("[2001:db8::1]:5353").expect("ok"), "[2001:db8::1]:5353");
        assert!(p("ns1.example.com:port").is_err());
        assert!(p("bad host").is_err());
    }

    #[test]
    fn key_file_and_algorithm_conflict() {
        let dir =
            std::env::temp_dir().join(format!("wildcert-rfc2136-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("k.conf");
        std::fs::write(
            &path,
            "key \"acme\" {\n algorithm hmac-sha384;\n secret \"c2VjcmV0\";\n};\n",
        )
        .expect("write");
        let base = Rfc2136Settings {
            nameserver: Some("127.0.0.1".into()),
            tsig_file: Some(path.clone()),
            ..Default::default()
        };
        let cfg = base.validate().expect("valid");
        assert_eq!(
            cfg.key.as_ref().map(|k| k.algorithm),
            Some(Algorithm::HmacSha384)
        );
        let conflict = Rfc2136Settings {
            tsig_algorithm: Some("hmac-sha256".into()),
            ..base.clone()
        };
        assert!(
            conflict
                .validate()
                .expect_err("conflict")
                .to_string()
                .contains("agree")
        );
        let both = Rfc2136Settings {
            tsig_secret: Some(Secret::new("eA==")),
            ..base
        };
        assert!(both.validate().is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
