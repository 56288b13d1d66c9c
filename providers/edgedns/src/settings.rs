//! Settings of the edgedns provider, declared once: `wildcert providers edgedns`,
//! docs/providers/edgedns.md and the layering of section, certbot file (certbot-plugin-edgedns's
//! `edgedns_*` keys) and environment (lego's `AKAMAI_*` names) come from [`EdgeDnsSettings`];
//! [`EdgeDnsSettings::validate`] finds the EdgeGrid credentials as lego (edgegrid-golang) does
//! and makes an [`EdgeDnsConfig`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use wildcert_provider::settings::{config_error, env_value, https_base_url, secret_or_file};
use wildcert_provider::spec::{LayeredSettings, Registration};
use wildcert_provider::{DnsName, Kind, ProviderError, Secret};

use crate::edgegrid::EdgeGridCredentials;

/// Provider kind.
pub const KIND: Kind = EdgeDnsSettings::KIND;

/// lego's propagation timeout for Edge DNS, in seconds.
pub const DEFAULT_PROPAGATION_TIMEOUT: u64 = 180;

/// The edgedns provider as the registry lists it.
pub const PROVIDER: Registration = Registration {
    spec: EdgeDnsSettings::SPEC,
    build: |layered, ctx| {
        let mut settings = EdgeDnsSettings::from_layered(layered)?;
        settings.read_env_only(ctx.env)?;
        Ok(std::sync::Arc::new(crate::EdgeDnsProvider::new(&settings)?))
    },
};

/// Settings as written in `[providers.<id>]` (with `kind = "edgedns"`), a certbot-plugin-edgedns
/// credentials file or the environment. Every field is optional so layers can be merged.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, wildcert_provider::LayeredSettings)]
#[serde(deny_unknown_fields)]
#[provider(
    kind = "edgedns",
    summary = "Akamai Edge DNS (config-dns v2, EdgeGrid signing, .edgerc), TXT record sets read, merged and written back",
    env_prefix = "AKAMAI",
    certbot = ["edgedns_"],
    hint_auth = "check the EdgeGrid credentials (host, client_token, client_secret, access_token: AKAMAI_* or the \
                 .edgerc section) and the clock; the API client needs READ-WRITE access to \"DNS—Zone Record Management\"",
    hint_zone_not_found = "the API client sees only the zones of its contracts (and of AKAMAI_ACCOUNT_SWITCH_KEY's \
                           account): check them, or set `zone`",
    hint_rate_limited = "Akamai limits API requests per client: wait, or raise rate_limit_wait",
    env_only = "section_env"
)]
pub struct EdgeDnsSettings {
    /// EdgeGrid host, the API base (`akab-….luna.akamaiapis.net`; a URL is taken too)
    #[setting(
        required = "with the three tokens, unless an .edgerc section has them",
        env = ["AKAMAI_HOST"],
        certbot = "host"
    )]
    pub host: Option<String>,
    /// EdgeGrid client token
    #[setting(required = "with host", env = ["AKAMAI_CLIENT_TOKEN"], certbot = "client_token")]
    pub client_token: Option<Secret>,
    /// EdgeGrid client secret (the signing key; never sent)
    #[setting(
        required = "with host (or client_secret_file)",
        env = ["AKAMAI_CLIENT_SECRET"],
        certbot = "client_secret",
        pair = "client_secret_file"
    )]
    pub client_secret: Option<Secret>,
    /// File holding the client secret
    #[setting(env = ["AKAMAI_CLIENT_SECRET_FILE"], pair = "client_secret")]
    pub client_secret_file: Option<PathBuf>,
    /// EdgeGrid access token
    #[setting(required = "with host", env = ["AKAMAI_ACCESS_TOKEN"], certbot = "access_token")]
    pub access_token: Option<Secret>,
    /// The .edgerc file read when the four values above are not all given
    #[setting(default = "~/.edgerc", env = ["AKAMAI_EDGERC"], certbot = "edgerc_path")]
    pub edgerc: Option<PathBuf>,
    /// Section of the .edgerc file; also selects AKAMAI_{SECTION}_HOST, … in the environment
    #[setting(default = "default", env = ["AKAMAI_EDGERC_SECTION"], certbot = "edgerc_section")]
    pub edgerc_section: Option<String>,
    /// Account to act for, when the API client manages several accounts (`accountSwitchKey`)
    #[setting(env = ["AKAMAI_ACCOUNT_SWITCH_KEY"])]
    pub account_switch_key: Option<String>,
    /// The zone to write into; by default the longest zone the API client sees that contains
    /// the record name
    #[setting(default = "looked up through the API", env = ["AKAMAI_ZONE"])]
    pub zone: Option<String>,
    /// Seconds to wait until every authoritative nameserver serves the records (lego: 180);
    /// `[dns] propagation_timeout` / --propagation-timeout win when set
    #[setting(default = "180", env = ["AKAMAI_PROPAGATION_TIMEOUT"], ty = "seconds")]
    pub propagation_timeout: Option<u64>,
    /// Seconds to wait for one API answer
    #[setting(default = "30", env = ["AKAMAI_HTTP_TIMEOUT"], ty = "seconds")]
    pub timeout: Option<u64>,
    /// Seconds a run may spend waiting out HTTP 429 answers, in all
    #[setting(default = "120", env = ["AKAMAI_RATE_LIMIT_WAIT"], ty = "seconds")]
    pub rate_limit_wait: Option<u64>,
    /// `AKAMAI_{SECTION}_*` and `HOME`, read from the environment only.
    #[setting(skip)]
    #[serde(skip)]
    pub ambient: Ambient,
}

/// What the provider takes from the environment besides its settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ambient {
    /// `AKAMAI_{SECTION}_{HOST,CLIENT_TOKEN,CLIENT_SECRET,ACCESS_TOKEN}` when all four are set.
    pub section: Option<(String, [String; 4])>,
    /// `HOME`, for `~/.edgerc`.
    pub home: Option<PathBuf>,
}

const PARTS: [&str; 4] = ["HOST", "CLIENT_TOKEN", "CLIENT_SECRET", "ACCESS_TOKEN"];

/// edgegrid-golang's section variables: `AKAMAI_{SECTION}_…`, all four or none.
fn section_env(
    s: &mut EdgeDnsSettings,
    env: &HashMap<String, String>,
) -> Result<(), ProviderError> {
    let section = s.section_name();
    if section != "default" {
        let prefix = format!("AKAMAI_{}", section.to_uppercase().replace('-', "_"));
        let vals: Vec<String> = PARTS
            .iter()
            .filter_map(|p| env_value(env, &format!("{prefix}_{p}")))
            .collect();
        if let Ok(all) = <[String; 4]>::try_from(vals) {
            s.ambient.section = Some((prefix, all));
        }
    }
    s.ambient.home = env_value(env, "HOME").map(PathBuf::from);
    Ok(())
}

fn bad(message: impl Into<String>) -> ProviderError {
    config_error(KIND, message)
}

/// An .edgerc section, as Akamai's clients read it (INI; `-` in keys read as `_`; quotes
/// dropped); `Ok(None)` when the file does not exist.
pub fn read_edgerc(
    path: &Path,
    section: &str,
) -> Result<Option<HashMap<String, String>>, ProviderError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(bad(format!("cannot read {}: {e}", path.display()))),
    };
    let (mut current, mut found, mut out) = (String::new(), false, HashMap::new());
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.trim().to_string();
            found |= current == section;
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .or_else(|| line.split_once(':'))
            .ok_or_else(|| {
                bad(format!(
                    "{} line {}: not `key = value`",
                    path.display(),
                    n + 1
                ))
            })?;
        if current == section {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            out.insert(k.trim().replace('-', "_").to_lowercase(), v.to_string());
        }
    }
    if !found {
        return Err(bad(format!(
            "{} has no section [{section}] (AKAMAI_EDGERC_SECTION)",
            path.display()
        )));
    }
    Ok(Some(out))
}

impl EdgeDnsSettings {
    fn section_name(&self) -> String {
        let s = self.edgerc_section.as_deref().map(str::trim);
        s.filter(|s| !s.is_empty()).unwrap_or("default").to_string()
    }

    fn edgerc_path(&self) -> PathBuf {
        let p = self.edgerc.clone().unwrap_or_else(|| "~/.edgerc".into());
        match (p.strip_prefix("~"), &self.ambient.home) {
            (Ok(rest), Some(home)) => home.join(rest),
            _ => p,
        }
    }

    /// Host and credentials, from (in lego's order) the section's environment variables, the
    /// four settings, or the .edgerc section; and where they came from.
    fn credentials(
        &self,
    ) -> Result<(String, EdgeGridCredentials, String, Option<String>), ProviderError> {
        let secret = secret_or_file(
            KIND,
            "client_secret",
            &self.client_secret,
            &self.client_secret_file,
        )?;
        if let Some((prefix, [h, ct, cs, at])) = &self.ambient.section {
            let creds = EdgeGridCredentials {
                client_token: Secret::new(ct),
                client_secret: Secret::new(cs),
                access_token: Secret::new(at),
            };
            return Ok((h.clone(), creds, format!("{prefix}_HOST"), None));
        }
        let given = [
            ("AKAMAI_HOST", self.host.is_some()),
            ("AKAMAI_CLIENT_TOKEN", self.client_token.is_some()),
            ("AKAMAI_CLIENT_SECRET", secret.is_some()),
            ("AKAMAI_ACCESS_TOKEN", self.access_token.is_some()),
        ];
        if let (Some(h), Some(ct), Some(cs), Some(at)) =
            (&self.host, &self.client_token, &secret, &self.access_token)
        {
            let creds = EdgeGridCredentials {
                client_token: ct.clone(),
                client_secret: cs.clone(),
                access_token: at.clone(),
            };
            return Ok((h.clone(), creds, "host (AKAMAI_HOST)".into(), None));
        }
        let missing: Vec<&str> = given.iter().filter(|g| !g.1).map(|g| g.0).collect();
        let (path, section) = (self.edgerc_path(), self.section_name());
        let Some(rc) = read_edgerc(&path, &section)? else {
            return Err(bad(format!(
                "no EdgeGrid credentials: set {} (or AKAMAI_{{SECTION}}_… with AKAMAI_EDGERC_SECTION), \
                 or make an .edgerc file: {} does not exist (AKAMAI_EDGERC)",
                missing.join(", "),
                path.display()
            )));
        };
        if missing.len() < 4 {
            tracing::warn!(
                "edgedns: {} not set, so the credentials come from [{section}] of {}",
                missing.join(", "),
                path.display()
            );
        }
        let get = |k: &str| {
            rc.get(k).filter(|v| !v.is_empty()).cloned().ok_or_else(|| {
                bad(format!(
                    "`{k}` is missing from section [{section}] of {}",
                    path.display()
                ))
            })
        };
        let creds = EdgeGridCredentials {
            client_token: Secret::new(get("client_token")?),
            client_secret: Secret::new(get("client_secret")?),
            access_token: Secret::new(get("access_token")?),
        };
        let from = format!("host in [{section}] of {}", path.display());
        Ok((get("host")?, creds, from, rc.get("account_key").cloned()))
    }

    /// Check the settings, find the credentials, and build the provider's configuration.
    pub fn validate(&self) -> Result<EdgeDnsConfig, ProviderError> {
        let (host, credentials, from, account_key) = self.credentials()?;
        for (what, v) in [
            ("client_token", &credentials.client_token),
            ("client_secret", &credentials.client_secret),
            ("access_token", &credentials.access_token),
        ] {
            if !v.expose().chars().all(|c| c.is_ascii_graphic() && c != ';') {
                return Err(bad(format!(
                    "the EdgeGrid {what} contains blanks, `;`, control or non-ASCII characters; check for a bad copy"
                )));
            }
        }
        let host = host.trim().trim_end_matches('/');
        let url = match host.contains("://") {
            true => host.to_string(),
            false => format!("https://{host}"),
        };
        let base_url = https_base_url(KIND, &from, &url, &[])?;
        let zone = self
            .zone
            .as_deref()
            .map(str::trim)
            .filter(|z| !z.is_empty());
        let zone = zone
            .map(|z| DnsName::parse(z).map_err(|e| bad(format!("zone (AKAMAI_ZONE) `{z}`: {e}"))))
            .transpose()?;
        let key = self.account_switch_key.as_deref().map(str::trim);
        let account_switch_key = key
            .filter(|k| !k.is_empty())
            .map(str::to_string)
            .or(account_key);
        let secs = |v: Option<u64>, d: u64| Duration::from_secs(v.unwrap_or(d).max(1));
        Ok(EdgeDnsConfig {
            credentials,
            base_url,
            account_switch_key,
            zone,
            propagation_timeout: secs(self.propagation_timeout, DEFAULT_PROPAGATION_TIMEOUT),
            timeout: secs(self.timeout, 30),
            rate_limit_wait: Duration::from_secs(self.rate_limit_wait.unwrap_or(120)),
        })
    }
}

/// Validated configuration of the provider.
#[derive(Clone, Debug)]
pub struct EdgeDnsConfig {
    /// Client token, client secret and access token.
    pub credentials: EdgeGridCredentials,
    /// The API base: `https://{host}`.
    pub base_url: reqwest::Url,
    /// `accountSwitchKey` sent with every request, if any.
    pub account_switch_key: Option<String>,
    /// The zone given explicitly, if any.
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

    fn from_env(pairs: &[(&str, &str)]) -> Result<EdgeDnsConfig, ProviderError> {
        let map = env(pairs);
        let mut s = EdgeDnsSettings::from_env_map(&map)?;
        section_env(&mut s, &map)?;
        s.validate()
    }

    const FOUR: [(&str, &str); 4] = [
        ("AKAMAI_HOST", "akab-host.luna.akamaiapis.net"),
        ("AKAMAI_CLIENT_TOKEN", "akab-client"),
        ("AKAMAI_CLIENT_SECRET", "s3cret="),
        ("AKAMAI_ACCESS_TOKEN", "akab-access"),
    ];

    #[test]
    fn lego_variables_and_defaults() {
        let cfg = from_env(&FOUR).expect("valid");
        assert_eq!(
            cfg.base_url.as_str(),
            "https://akab-host.luna.akamaiapis.net/"
        );
        assert_eq!(cfg.credentials.client_secret, Secret::new("s3cret="));
        assert_eq!(cfg.propagation_timeout, Duration::from_secs(180));
        assert!(!format!("{cfg:?}").contains("s3cret"));
        let mut with = FOUR.to_vec();
        with.extend([
            ("AKAMAI_EDGERC_SECTION", "dns"),
            ("AKAMAI_DNS_HOST", "dns.example"),
        ]);
        with.extend([
            ("AKAMAI_DNS_CLIENT_TOKEN", "c"),
            ("AKAMAI_DNS_CLIENT_SECRET", "s"),
        ]);
        with.push(("AKAMAI_DNS_ACCESS_TOKEN", "a"));
        let cfg = from_env(&with).expect("section variables");
        assert_eq!(cfg.base_url.host_str(), Some("dns.example"));
        assert_eq!(cfg.credentials.access_token, Secret::new("a"));
    }

    #[test]
    fn edgerc_sections_and_errors() {
        let dir = tempfile::tempdir().expect("dir");
        let rc = dir.path().join("edgerc");
        std::fs::write(
            &rc,
            "[default]\nhost = a.example/\nclient-token = ct\nclient_secret = \"cs\"\naccess_token = at\n\
             [dns]\nhost: b.example\nclient_token = c2\nclient_secret = s2\naccess_token = a2\naccount_key = 1-ABC\n\
             [half]\nhost = c.example\n",
        )
        .expect("write");
        let p = rc.to_string_lossy().to_string();
        let cfg = from_env(&[("AKAMAI_EDGERC", &p)]).expect("default section");
        assert_eq!(cfg.base_url.as_str(), "https://a.example/");
        assert_eq!(cfg.credentials.client_secret, Secret::new("cs"));
        let cfg =
            from_env(&[("AKAMAI_EDGERC", &p), ("AKAMAI_EDGERC_SECTION", "dns")]).expect("dns");
        assert_eq!(cfg.account_switch_key.as_deref(), Some("1-ABC"));
        let err = |pairs: &[(&str, &str)]| from_env(pairs).expect_err("invalid").to_string();
        let e = err(&[("AKAMAI_EDGERC", &p), ("AKAMAI_EDGERC_SECTION", "half")]);
        assert!(
            e.contains("`client_token` is missing from section [half]"),
            "{e}"
        );
        assert!(
            err(&[("AKAMAI_EDGERC", &p), ("AKAMAI_EDGERC_SECTION", "x")])
                .contains("no section [x]")
        );
        let e = err(&[
            ("AKAMAI_EDGERC", "/nonexistent/edgerc"),
            ("AKAMAI_HOST", "h"),
        ]);
        assert!(
            e.contains("AKAMAI_CLIENT_TOKEN, AKAMAI_CLIENT_SECRET, AKAMAI_ACCESS_TOKEN")
                && e.contains("/nonexistent/edgerc"),
            "{e}"
        );
        let mut plain = FOUR.to_vec();
        plain[0] = ("AKAMAI_HOST", "http://akab-host.example");
        assert!(err(&plain).contains("plain http"));
        plain[0] = ("AKAMAI_HOST", "http://127.0.0.1:8080");
        assert!(from_env(&plain).is_ok());
        let mut bad_secret = FOUR.to_vec();
        bad_secret[2] = ("AKAMAI_CLIENT_SECRET", "two words");
        let e = err(&bad_secret);
        assert!(
            e.contains("client_secret") && !e.contains("two words"),
            "{e}"
        );
    }
}
