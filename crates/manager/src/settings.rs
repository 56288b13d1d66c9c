//! Settings: built-in defaults < config file (TOML) < environment < command-line flags.
//!
//! The file is validated with `toml` first so that every mistake names the file, the line and
//! the key; the `config` crate then layers the file under the `WILDCERT_*` environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Default location of the store.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/wildcert";
/// Default propagation timeout.
pub const DEFAULT_PROPAGATION_TIMEOUT: Duration = Duration::from_secs(120);

/// Secrets in settings (EAB key, provider tokens): the one redacting type of the DNS layer.
pub use wildcert_dns::Secret;

/// The whole settings tree.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where accounts, certificates and the journal live.
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
    /// `[acme]`: the CA and the account.
    #[serde(default)]
    pub acme: AcmeSettings,
    /// `[dns]`: discovery and propagation.
    #[serde(default)]
    pub dns: DnsSection,
    /// `[providers.<id>]`: named DNS provider instances.
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderSection>,
    /// `[[certificate]]` entries handled by `wildcert renew`.
    #[serde(default, rename = "certificate")]
    pub certificates: Vec<CertificateSettings>,
    /// `[renew]`: the run's pre and post hooks.
    #[serde(default)]
    pub renew: RenewSection,
    /// `[metrics]`: Prometheus metrics.
    #[serde(default)]
    pub metrics: MetricsSection,
    /// `[hooks]`: what hooks, reloads and `exec` see of wildcert's environment.
    #[serde(default)]
    pub hooks: HooksSection,
    /// `[store]`: a PostgreSQL store shared by more than one host.
    #[serde(default)]
    pub store: StoreSection,
}

/// `[store]`: where certificates, accounts, the journal and locks live when more than one host
/// works on them (docs/multi-host.md). Without `url` the state directory holds everything.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// `postgresql://user[:password]@host[:port]/db[?sslmode=…&sslrootcert=…]` (libpq's URL
    /// form; `PG*` variables and the password file fill what it leaves out).
    /// `WILDCERT_STORE_URL` sets it from the environment.
    pub url: Option<Secret>,
    /// The data key sealing private keys in the database: 32 random bytes, base64 on one line,
    /// mode 0600 (default `<state_dir>/store.key`, created on first use by a bastion).
    pub key_file: Option<PathBuf>,
    /// How long a lock outlives a bastion that stopped renewing it (`60s` by default): a
    /// standby picks a dead bastion's certificates up within this.
    pub lease: Option<String>,
}

/// `[hooks]`: hooks and reload commands start from a clean environment (`PATH`, `HOME`,
/// `LANG`, `LC_*`, … and the documented `WILDCERT_*`/`RENEWED_*`), never a credential a provider
/// reads; `pass_env` names more variables to pass on purpose.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HooksSection {
    /// Variables of wildcert's environment passed to every hook and reload, e.g. `["VAULT_ADDR"]`.
    #[serde(default)]
    pub pass_env: Vec<String>,
}

/// `[metrics]`: Prometheus metrics for node_exporter's textfile collector.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// Rewritten atomically after every `renew` run, e.g.
    /// `/var/lib/prometheus/node-exporter/wildcert.prom`.
    pub textfile: Option<PathBuf>,
}

/// `[renew]`: hooks run once per `renew` run, around the certificates that are due (certbot's
/// `pre_hook` / `post_hook`; neither runs when nothing is due).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewSection {
    /// Run before the first due certificate is issued (`--pre-hook` overrides it).
    pub pre_hook: Option<String>,
    /// Run after every due certificate was tried (`--post-hook` overrides it).
    pub post_hook: Option<String>,
}

/// `[acme]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmeSettings {
    /// Directory URL or a shortcut (`letsencrypt`, `letsencrypt-staging`, `zerossl`, `google`, `google-staging`).
    pub server: Option<String>,
    /// Contact e-mail for the account.
    pub email: Option<String>,
    /// Agree to the CA's terms of service.
    pub agree_tos: Option<bool>,
    /// Extra trusted roots (PEM) for the CA's HTTPS (Pebble, private CAs).
    pub ca_bundle: Option<PathBuf>,
    /// lego's `LEGO_CA_CERTIFICATES` (PEM files separated by `:`), used when `ca_bundle` is
    /// not set; not a config key.
    #[serde(skip)]
    pub lego_ca_certificates: Vec<PathBuf>,
    /// External account binding key id (RFC 8555 §7.3.4).
    pub eab_kid: Option<String>,
    /// External account binding HMAC key (base64url).
    pub eab_hmac_key: Option<Secret>,
    /// File holding the EAB HMAC key.
    pub eab_hmac_key_file: Option<PathBuf>,
    /// ACME profile to ask for (when the CA offers profiles).
    pub profile: Option<String>,
    /// Preferred chain: the issuer common name of the chain's top certificate.
    pub preferred_chain: Option<String>,
    /// Allow an `http://` directory on a loopback address (tests and local CAs only).
    pub allow_insecure_http: Option<bool>,
    /// Bound on one HTTP request to the CA (`30s` by default). Three requests in a row without
    /// an answer end the run's work with that CA.
    pub request_timeout: Option<String>,
    /// Validation method: `dns-01` (default), `dns-account-01`, `dns-persist-01` or `auto`
    /// (the default for every `[[certificate]]`).
    pub challenge: Option<String>,
}

/// `[dns]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSection {
    /// Resolvers used for every discovery lookup (`IP[:PORT]`).
    #[serde(default)]
    pub resolvers: Vec<String>,
    /// Check exactly these servers instead of the zone's NS set (`IP[:PORT]`).
    #[serde(default)]
    pub authoritative: Vec<String>,
    /// How long to wait for every nameserver to serve every value (`90s`, `2m`).
    pub propagation_timeout: Option<String>,
    /// Follow `_acme-challenge` CNAMEs (delegation); default true.
    pub follow_cname: Option<bool>,
    /// TTL of the TXT records we publish.
    pub ttl: Option<u32>,
    /// Check CAA (RFC 8659) before every order and refuse names it forbids; default true.
    pub caa_check: Option<bool>,
}

/// `[providers.<id>]`: a kind and that provider's own settings.
#[derive(Debug, Clone, Deserialize)]
pub struct ProviderSection {
    /// Provider kind (`rfc2136`, …).
    pub kind: String,
    /// Everything else in the section, validated by the provider.
    #[serde(flatten)]
    pub settings: BTreeMap<String, serde_json::Value>,
}

/// One `[[certificate]]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateSettings {
    /// Name of the certificate in the store (default: the first domain without `*.`).
    pub name: Option<String>,
    /// The names to certify.
    pub domains: Vec<String>,
    /// Provider id (`[providers.<id>]`) or kind; may be empty for `challenge = "dns-persist-01"`
    /// (nothing is published per order).
    #[serde(default)]
    pub provider: String,
    /// Key type: ec256 | ec384 | ed25519 | rsa2048 | rsa3072 | rsa4096.
    pub key_type: Option<String>,
    /// ACME profile (default: `[acme] profile`).
    pub profile: Option<String>,
    /// Preferred chain: the issuer common name of the chain's top certificate (default:
    /// `[acme] preferred_chain`).
    pub preferred_chain: Option<String>,
    /// Command run after the certificate is stored.
    pub deploy_hook: Option<String>,
    /// Renew this long before expiry instead of the default policy (`30d`).
    pub renew_before: Option<String>,
    /// Group of the private key (and of the certificate's directories), e.g. `www-data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_group: Option<String>,
    /// Mode of the private key, octal without world bits, e.g. `"0640"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_mode: Option<String>,
    /// Validation method (default: `[acme] challenge`, else `dns-01`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
    /// Copy the files here after each new version:
    /// `install = [{ dir, owner, group, key_mode, reload, layout }]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub install: Vec<InstallTarget>,
    /// A certbot credentials file for this certificate's provider (`issue --dns-credentials`):
    /// it replaces the provider section's `credentials`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_credentials: Option<PathBuf>,
    /// Keep the private key across renewals (DANE/TLSA or HPKP-style pins; certbot's
    /// `reuse_key`): a new key only when the key type changes or there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reuse_key: Option<bool>,
}

/// A settings error, phrased so the user finds the mistake.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// The file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid, or has an unknown key or a wrong type.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        /// The file (or `environment`).
        path: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        /// What is wrong and what is expected.
        message: String,
    },
    /// A value that parses but makes no sense (bad duration, bad address).
    #[error("setting `{key}`: {message}")]
    Value {
        /// The key, dotted (`dns.propagation_timeout`).
        key: String,
        /// What is wrong.
        message: String,
    },
}

impl Settings {
    /// Load settings: defaults < `file` (if any) < `WILDCERT_*` variables of `env`.
    ///
    /// Environment keys use `__` between levels: `WILDCERT_ACME__EMAIL`, `WILDCERT_DNS__PROPAGATION_TIMEOUT`.
    pub fn load_with_env(
        file: Option<&Path>,
        env: &BTreeMap<String, String>,
    ) -> Result<Settings, SettingsError> {
        let text = file.map(read_config_file).transpose()?;
        Settings::from_source(file.zip(text.as_deref()), env)
    }

    /// Layer a config file's text (already read, with its path for messages) under `env`.
    pub fn from_source(
        file: Option<(&Path, &str)>,
        env: &BTreeMap<String, String>,
    ) -> Result<Settings, SettingsError> {
        let mut builder = config::Config::builder();
        let mut from_file = None;
        if let Some((path, text)) = file {
            // Validate with toml first: its errors carry the line and the key.
            from_file = Some(validate_toml(path, text)?);
            builder = builder.add_source(config::File::from_str(text, config::FileFormat::Toml));
        }
        let file = file.map(|(path, _)| path);
        // Only the keys that belong to the settings tree; WILDCERT_CONFIG, WILDCERT_LOG and the
        // like are read by the CLI itself.
        let ours: config::Map<String, String> = env
            .iter()
            .filter(|(k, _)| {
                k.strip_prefix("WILDCERT_").is_some_and(|rest| {
                    rest.starts_with("ACME__")
                        || rest.starts_with("DNS__")
                        || rest.starts_with("PROVIDERS__")
                        || rest.starts_with("METRICS__")
                        || rest.starts_with("STORE__")
                        || rest == "STATE_DIR"
                })
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let merge_env = !ours.is_empty();
        builder = builder.add_source(
            config::Environment::with_prefix("WILDCERT")
                .prefix_separator("_")
                .separator("__")
                .list_separator(",")
                .with_list_parse_key("dns.resolvers")
                .with_list_parse_key("dns.authoritative")
                .try_parsing(true)
                .source(Some(ours)),
        );
        let mut settings = match from_file {
            // Nothing from the environment to merge: the file's settings as toml read them
            // (`config` would parse the same text again, to the same values: a second parse
            // of every `[[certificate]]` entry, a tenth of a none-due round over 10,000).
            Some(s) if !merge_env => s,
            _ => builder
                .build()
                .map_err(|e| from_config_error(file, e))?
                .try_deserialize::<Settings>()
                .map_err(|e| from_config_error(file, e))?,
        };
        // lego's variable for a private CA's roots, so a lego user's environment works as is.
        if settings.acme.ca_bundle.is_none()
            && let Some(v) = env.get("LEGO_CA_CERTIFICATES")
        {
            settings.acme.lego_ca_certificates = v
                .split(':')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .collect();
        }
        // The variable the docs name (`WILDCERT_STORE__URL` works too, as every nested key).
        if settings.store.url.is_none()
            && let Some(v) = env.get("WILDCERT_STORE_URL").filter(|v| !v.is_empty())
        {
            settings.store.url = Some(Secret::new(v.clone()));
        }
        // The file was checked above with its lines; what is wrong now came from the
        // environment.
        settings.validate(None).map_err(|e| match e {
            SettingsError::Value { key, message } => SettingsError::Invalid {
                path: PathBuf::from("environment (WILDCERT_*)"),
                line: None,
                message: format!("`{key}`: {message}"),
            },
            other => other,
        })?;
        Ok(settings)
    }

    /// Check what deserialising cannot: every duration parses, and no two `[[certificate]]`
    /// entries share a store name (they would overwrite each other's certificate on every
    /// run). With the file's text, the error names the file and the line.
    pub fn validate(&self, file: Option<(&Path, &str)>) -> Result<(), SettingsError> {
        let at = |key: &str, value: &str, message: String| match file {
            Some((path, text)) => SettingsError::Invalid {
                path: path.to_path_buf(),
                line: text
                    .lines()
                    .position(|l| {
                        let l = l.trim_start();
                        l.starts_with(key.rsplit('.').next().unwrap_or(key)) && l.contains(value)
                    })
                    .map(|i| i + 1),
                message: format!("`{key}`: {message}"),
            },
            None => SettingsError::Value {
                key: key.to_string(),
                message,
            },
        };
        let mut durations: Vec<(&str, &str)> = Vec::new();
        if let Some(v) = &self.dns.propagation_timeout {
            durations.push(("dns.propagation_timeout", v));
        }
        if let Some(v) = &self.acme.request_timeout {
            durations.push(("acme.request_timeout", v));
        }
        for c in &self.certificates {
            if let Some(v) = &c.renew_before {
                durations.push(("certificate.renew_before", v));
            }
        }
        if let Some(v) = &self.store.lease {
            durations.push(("store.lease", v));
        }
        for (key, value) in durations {
            let d = parse_duration(value).map_err(|m| at(key, value, m))?;
            if key == "store.lease" && d < Duration::from_secs(1) {
                return Err(at(
                    key,
                    value,
                    "a lease shorter than 1s cannot be renewed in time; the default is 60s".into(),
                ));
            }
        }
        if let Some(url) = &self.store.url {
            // A typo fails this run, not the first one that needs the database.
            // (The rest of the URL is parsed where it is used: the store needs settings, not the
            // other way round.)
            let u = url.expose();
            if !u.starts_with("postgresql://") && !u.starts_with("postgres://") {
                return Err(at(
                    "store.url",
                    "",
                    "it must begin with postgresql:// (libpq's URL form)".into(),
                ));
            }
        }
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for (i, c) in self.certificates.iter().enumerate() {
            let Some(name) = store_name(c) else { continue };
            if let Some(first) = seen.insert(name.clone(), i) {
                let header_lines = certificate_lines(file.map(|(_, text)| text));
                let message = format!(
                    "two [[certificate]] entries have the store name `{name}` (entries {} and {}{}); give each a distinct `name = \"…\"`, or merge their domains into one entry",
                    first + 1,
                    i + 1,
                    match (header_lines.get(first), header_lines.get(i)) {
                        (Some(a), Some(b)) => format!(", lines {a} and {b}"),
                        _ => String::new(),
                    }
                );
                return Err(match file {
                    Some((path, _)) => SettingsError::Invalid {
                        path: path.to_path_buf(),
                        line: header_lines.get(i).copied(),
                        message,
                    },
                    None => SettingsError::Value {
                        key: "certificate.name".into(),
                        message,
                    },
                });
            }
        }
        Ok(())
    }

    /// The propagation timeout, parsed.
    pub fn propagation_timeout(&self) -> Result<Duration, SettingsError> {
        match &self.dns.propagation_timeout {
            None => Ok(DEFAULT_PROPAGATION_TIMEOUT),
            Some(s) => parse_duration(s).map_err(|message| SettingsError::Value {
                key: "dns.propagation_timeout".into(),
                message,
            }),
        }
    }
}

/// Read a config file, naming it in the error.
pub fn read_config_file(path: &Path) -> Result<String, SettingsError> {
    std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Parse a duration: `90s`, `2m`, `1h 30m`, `500ms`, or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("`{s}` is not a duration ({e}); write e.g. `90s`, `2m` or `1h`"))
}

/// The 1-based lines of the `[[certificate]]` headers of a config file's text.
pub(crate) fn certificate_lines(text: Option<&str>) -> Vec<usize> {
    text.map(|t| {
        t.lines()
            .enumerate()
            .filter(|(_, l)| l.trim() == "[[certificate]]")
            .map(|(n, _)| n + 1)
            .collect()
    })
    .unwrap_or_default()
}

/// The store name of a certificate entry (`name`, or the first domain without `*.`), as
/// [`crate::renew::cert_name`] computes it; `None` when the first domain is not a name (that
/// is reported when the entry is used).
pub(crate) fn store_name(c: &CertificateSettings) -> Option<String> {
    if let Some(n) = &c.name {
        return Some(n.clone());
    }
    let first = c.domains.first()?;
    wildcert_dns::Identifier::parse(first)
        .ok()
        .map(|i| i.base().to_string())
}

fn validate_toml(path: &Path, text: &str) -> Result<Settings, SettingsError> {
    match toml::from_str::<Settings>(text) {
        // Bad values in the file: name the file and line, not only the key.
        Ok(s) => s.validate(Some((path, text))).map(|()| s),
        Err(e) => {
            let line = e
                .span()
                .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            let mut message = e.message().trim().to_string();
            // Type errors name no key: add the one on the reported line.
            if let Some(key) = line.and_then(|l| key_at_line(text, l)) {
                let last = key.rsplit('.').next().unwrap_or(&key);
                if !message.contains(last) {
                    message = format!("`{key}`: {message}");
                }
            }
            Err(SettingsError::Invalid {
                path: path.to_path_buf(),
                line,
                message,
            })
        }
    }
}

/// The dotted key (`acme.agree_tos`) assigned on 1-based `line`, if that line is `key = …`.
fn key_at_line(text: &str, line: usize) -> Option<String> {
    let mut section = String::new();
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        if i + 1 == line {
            let (key, _) = t.split_once('=')?;
            let key = key.trim().trim_matches('"');
            if key.is_empty() || key.starts_with('[') {
                return None;
            }
            return Some(if section.is_empty() {
                key.to_string()
            } else {
                format!("{section}.{key}")
            });
        }
        if let Some(h) = t.strip_prefix('[') {
            section = h
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
        }
    }
    None
}

fn from_config_error(file: Option<&Path>, e: config::ConfigError) -> SettingsError {
    // Errors that survive the toml pass come from the environment.
    let origin = match &e {
        config::ConfigError::Type {
            origin: Some(o), ..
        } if o.contains("WILDCERT") || o == "the environment" => {
            PathBuf::from("environment (WILDCERT_*)")
        }
        _ => file
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("environment (WILDCERT_*)")),
    };
    SettingsError::Invalid {
        path: origin,
        line: None,
        message: e.to_string(),
    }
}

/// The line of `key` inside `[providers.<id>]` in a config file, for error messages.
pub fn provider_key_line(text: &str, id: &str, key: &str) -> Option<usize> {
    let header = format!("[providers.{id}]");
    let mut inside = false;
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.starts_with('[') {
            inside = l == header || l == format!("[providers.\"{id}\"]");
            if inside && key.is_empty() {
                return Some(i + 1);
            }
            continue;
        }
        if inside && l.split('=').next().map(str::trim) == Some(key) {
            return Some(i + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(text.as_bytes()).expect("write");
        f
    }

    #[test]
    fn layers_file_then_environment() {
        let f = write(
            "[acme]\nemail = \"a@example.com\"\nserver = \"letsencrypt-staging\"\n\n[dns]\npropagation_timeout = \"30s\"\n\n[providers.home]\nkind = \"rfc2136\"\nnameserver = \"127.0.0.1:53\"\n\n[[certificate]]\ndomains = [\"*.example.com\", \"example.com\"]\nprovider = \"home\"\n",
        );
        let mut env = BTreeMap::new();
        env.insert(
            "WILDCERT_ACME__EMAIL".to_string(),
            "b@example.com".to_string(),
        );
        env.insert(
            "WILDCERT_DNS__RESOLVERS".to_string(),
            "127.0.0.1:5300,127.0.0.2".to_string(),
        );
        env.insert("WILDCERT_CONFIG".to_string(), "ignored".to_string());
        let s = Settings::load_with_env(Some(f.path()), &env).expect("valid settings");
        assert_eq!(s.acme.email.as_deref(), Some("b@example.com"));
        assert_eq!(s.acme.server.as_deref(), Some("letsencrypt-staging"));
        assert_eq!(s.dns.resolvers, ["127.0.0.1:5300", "127.0.0.2"]);
        assert_eq!(s.propagation_timeout().ok(), Some(Duration::from_secs(30)));
        assert_eq!(s.providers["home"].kind, "rfc2136");
        assert_eq!(s.providers["home"].settings["nameserver"], "127.0.0.1:53");
        assert_eq!(s.certificates.len(), 1);
    }

    #[test]
    fn the_store_section_comes_from_the_file_or_the_environment_and_typos_fail_now() {
        let pw = "s3cret-pw";
        let f = write(&format!(
            "[store]\nurl = \"postgresql://bastion:{pw}@db.internal/wildcert?sslmode=verify-full\"\nkey_file = \"/etc/wildcert/store.key\"\nlease = \"90s\"\n"
        ));
        let s = Settings::load_with_env(Some(f.path()), &BTreeMap::new()).expect("valid");
        assert_eq!(s.store.lease.as_deref(), Some("90s"));
        assert_eq!(
            s.store.key_file.as_deref(),
            Some(Path::new("/etc/wildcert/store.key"))
        );
        assert!(
            !format!("{s:?}").contains(pw),
            "the URL's password in Debug"
        );

        // The documented variable, and the nested form.
        for var in ["WILDCERT_STORE_URL", "WILDCERT_STORE__URL"] {
            let env = BTreeMap::from([(var.to_string(), "postgresql://u@h/db".to_string())]);
            let s = Settings::load_with_env(None, &env).expect(var);
            assert_eq!(
                s.store
                    .url
                    .as_ref()
                    .map(|u| u.expose().to_owned())
                    .as_deref(),
                Some("postgresql://u@h/db"),
                "{var}"
            );
        }

        // Each typo fails the run that reads it, with the file, line and key.
        for (text, needle) in [
            ("[store]\nulr = \"postgresql://h/db\"\n", "ulr"),
            ("[store]\nurl = \"postgres:/h/db\"\n", "store.url"),
            ("[store]\nurl = \"mysql://h/db\"\n", "postgresql://"),
            ("[store]\nlease = \"ten seconds\"\n", "store.lease"),
            ("[store]\nlease = \"200ms\"\n", "shorter than 1s"),
        ] {
            let f = write(text);
            let err = Settings::load_with_env(Some(f.path()), &BTreeMap::new())
                .expect_err(text)
                .to_string();
            assert!(err.contains(needle), "{text}: {err}");
            assert!(err.contains(&f.path().display().to_string()), "{err}");
        }
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let f = write("[acme]\nemail = \"a@example.com\"\nemial = \"typo\"\n");
        let err =
            Settings::load_with_env(Some(f.path()), &BTreeMap::new()).expect_err("unknown key");
        let msg = err.to_string();
        assert!(msg.contains(&format!("{}:3", f.path().display())), "{msg}");
        assert!(msg.contains("emial"), "{msg}");
    }

    #[test]
    fn wrong_type_is_reported_with_line() {
        let f = write("[dns]\nresolvers = \"not-a-list\"\n");
        let msg = Settings::load_with_env(Some(f.path()), &BTreeMap::new())
            .expect_err("wrong type")
            .to_string();
        assert!(msg.contains(":2"), "{msg}");
        assert!(msg.contains("dns.resolvers"), "{msg}");
    }

    #[test]
    fn secrets_do_not_debug_print() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn duplicate_certificate_names_are_refused_with_lines() {
        // Explicit names, and a name derived from the first domain (`*.example.com` →
        // `example.com`).
        for text in [
            "[[certificate]]\nname = \"www\"\ndomains = [\"www.example.com\"]\nprovider = \"p\"\n\n[[certificate]]\nname = \"www\"\ndomains = [\"web.example.com\"]\nprovider = \"p\"\n",
            "[[certificate]]\ndomains = [\"*.example.com\"]\nprovider = \"p\"\nkey_type = \"ec384\"\n\n[[certificate]]\ndomains = [\"example.com\", \"www.example.com\"]\nprovider = \"p\"\n",
        ] {
            let f = write(text);
            let msg = Settings::load_with_env(Some(f.path()), &BTreeMap::new())
                .expect_err("duplicate names")
                .to_string();
            assert!(msg.contains(&format!("{}:6", f.path().display())), "{msg}");
            assert!(msg.contains("entries 1 and 2, lines 1 and 6"), "{msg}");
        }
    }

    #[test]
    fn every_duration_is_checked_at_load() {
        let f = write(
            "[[certificate]]\ndomains = [\"www.example.com\"]\nprovider = \"p\"\nrenew_before = \"forever\"\n",
        );
        let msg = Settings::load_with_env(Some(f.path()), &BTreeMap::new())
            .expect_err("bad renew_before")
            .to_string();
        assert!(msg.contains(&format!("{}:4", f.path().display())), "{msg}");
        assert!(
            msg.contains("certificate.renew_before") && msg.contains("forever"),
            "{msg}"
        );
        let f = write("[acme]\nrequest_timeout = \"soon\"\n");
        let msg = Settings::load_with_env(Some(f.path()), &BTreeMap::new())
            .expect_err("bad request_timeout")
            .to_string();
        assert!(
            msg.contains(":2") && msg.contains("acme.request_timeout"),
            "{msg}"
        );
        // From the environment too.
        let mut env = BTreeMap::new();
        env.insert(
            "WILDCERT_DNS__PROPAGATION_TIMEOUT".to_string(),
            "a while".to_string(),
        );
        let msg = Settings::load_with_env(None, &env)
            .expect_err("bad env duration")
            .to_string();
        assert!(
            msg.contains("environment") && msg.contains("dns.propagation_timeout"),
            "{msg}"
        );
    }

    #[test]
    fn finds_provider_key_line() {
        let text = "[acme]\nx = 1\n[providers.home]\nkind = \"rfc2136\"\nbogus = 2\n";
        assert_eq!(provider_key_line(text, "home", "bogus"), Some(5));
        assert_eq!(provider_key_line(text, "home", ""), Some(3));
    }
}

/// Directory URLs of the `--server` shortcuts.
pub const SERVER_SHORTCUTS: &[(&str, &str)] = &[
    (
        "letsencrypt",
        "https://acme-v02.api.letsencrypt.org/directory",
    ),
    (
        "letsencrypt-staging",
        "https://acme-staging-v02.api.letsencrypt.org/directory",
    ),
    ("zerossl", "https://acme.zerossl.com/v2/DV90"),
    ("google", "https://dv.acme-v02.api.pki.goog/directory"),
    (
        "google-staging",
        "https://dv.acme-v02.test-api.pki.goog/directory",
    ),
];

/// The staging directory of a CA that has one (`--dry-run`): `letsencrypt` →
/// `letsencrypt-staging`, `google` → `google-staging` (by shortcut or by URL); `None` for a CA
/// without a known staging directory (the dry run then uses the CA itself).
pub fn staging_for(server: Option<&str>) -> Option<&'static str> {
    let s = server.unwrap_or("letsencrypt").trim();
    let url_of = |name: &str| {
        SERVER_SHORTCUTS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, u)| *u)
    };
    for (prod, staging) in [
        ("letsencrypt", "letsencrypt-staging"),
        ("google", "google-staging"),
    ] {
        if s.eq_ignore_ascii_case(prod) || Some(s) == url_of(prod) {
            return Some(staging);
        }
    }
    None
}

/// Resolve `--server`: a shortcut name or a URL (default: Let's Encrypt).
pub fn resolve_server(server: Option<&str>) -> Result<String, SettingsError> {
    let s = server
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("letsencrypt");
    if let Some((_, url)) = SERVER_SHORTCUTS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(s))
    {
        return Ok((*url).to_string());
    }
    if s.starts_with("https://") || s.starts_with("http://") {
        return Ok(s.to_string());
    }
    Err(SettingsError::Value {
        key: "acme.server".into(),
        message: format!(
            "`{s}` is neither a URL nor one of {}",
            SERVER_SHORTCUTS
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

/// Parse `IP[:PORT]` (`[v6]:port` for IPv6 with a port); the port defaults to 53.
pub fn parse_server_addr(key: &str, s: &str) -> Result<std::net::SocketAddr, SettingsError> {
    let t = s.trim();
    if let Ok(sa) = t.parse::<std::net::SocketAddr>() {
        return Ok(sa);
    }
    if let Ok(ip) = t
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
    {
        return Ok(std::net::SocketAddr::new(ip, 53));
    }
    Err(SettingsError::Value {
        key: key.into(),
        message: format!(
            "`{s}` is not an address; write IP or IP:PORT, e.g. 192.0.2.53 or [2001:db8::53]:5353"
        ),
    })
}

#[cfg(test)]
mod more_tests {
    use super::*;

    #[test]
    fn servers_and_addresses() {
        assert!(resolve_server(None).is_ok_and(|u| u.contains("letsencrypt.org")));
        assert!(resolve_server(Some("zerossl")).is_ok_and(|u| u.contains("zerossl")));
        assert_eq!(
            resolve_server(Some("https://x/dir")).ok().as_deref(),
            Some("https://x/dir")
        );
        assert!(resolve_server(Some("bogus")).is_err());
        assert_eq!(
            parse_server_addr("k", "127.0.0.1").ok(),
            "127.0.0.1:53".parse().ok()
        );
        assert_eq!(
            parse_server_addr("k", "127.0.0.1:5353").ok(),
            "127.0.0.1:5353".parse().ok()
        );
        assert_eq!(parse_server_addr("k", "::1").ok(), "[::1]:53".parse().ok());
        assert!(parse_server_addr("k", "ns1.example.com").is_err());
    }
}

/// File names written into an install directory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// `cert.pem`, `chain.pem`, `fullchain.pem`, `privkey.pem` (as in `live/`).
    #[default]
    Pem,
    /// lego's `--path` layout: `<domain>.crt` (full chain), `<domain>.key`, `<domain>.issuer.crt`,
    /// `<domain>.json`; `<domain>` is the first name, `_.` for a wildcard.
    Lego,
}

/// One install target of a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InstallTarget {
    /// The directory (created 0755 when missing).
    pub dir: PathBuf,
    /// Owner of every file: a user name from `/etc/passwd` or a number [default: unchanged].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Group of every file: a name from `/etc/group` or a number [default: unchanged].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Mode of the private key, octal without world bits [default: 0600].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_mode: Option<String>,
    /// Run through `sh -c` after the files are in place (the deploy hook's environment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reload: Option<String>,
    /// File names: `pem` (default) or `lego`.
    #[serde(default)]
    pub layout: Layout,
}
