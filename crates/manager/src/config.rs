//! From settings to a run: the layered settings (defaults < file < environment) with the
//! command line's overrides on top become a [`RunConfig`], and each certificate's settings
//! become an [`IssueRequest`] through **one** function, [`request_for`], that `issue` and
//! `renew` both use.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use wildcert_acme::{AcmeClient, ClientConfig};
use wildcert_dns::DnsSettings;

use crate::account::AccountOptions;
use crate::error::IssueError;
use crate::model::IssueRequest;
use crate::settings::{
    CertificateSettings, DEFAULT_STATE_DIR, Secret, Settings, SettingsError, parse_duration,
    parse_server_addr, read_config_file, resolve_server,
};
use crate::store::KeyPerms;

/// Everything about the CA and the store that a run needs (settings resolved, flags applied).
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// ACME directory URL.
    pub directory_url: String,
    /// Extra trusted roots (PEM file) for the CA's HTTPS.
    pub ca_bundle: Option<PathBuf>,
    /// More PEM files of trusted roots (lego's `LEGO_CA_CERTIFICATES`), read with `ca_bundle`.
    pub more_ca_bundles: Vec<PathBuf>,
    /// Allow `http://` on loopback.
    pub allow_insecure_http: bool,
    /// The store.
    pub state_dir: PathBuf,
    /// Where the store's objects live (`[store]`): the state directory, or PostgreSQL.
    pub store: crate::store::StoreConfig,
    /// Account creation options.
    pub account: AccountOptions,
    /// DNS discovery and propagation settings.
    pub dns: DnsSettings,
    /// Check CAA before every order (`[dns] caa_check`, default true).
    pub caa_check: bool,
    /// Bound on one HTTP request to the CA (`[acme] request_timeout`).
    pub request_timeout: Option<Duration>,
    /// A dry run: its journal goes with its throwaway store, so a cleanup that fails fails the
    /// run (the records left are named) instead of being left to the next run.
    pub rehearsal: bool,
}

/// What the command line sets on top of the file and the environment (flags win).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--server`.
    pub server: Option<String>,
    /// `--ca-bundle`.
    pub ca_bundle: Option<PathBuf>,
    /// `--state-dir`.
    pub state_dir: Option<PathBuf>,
    /// `--email`.
    pub email: Option<String>,
    /// `--agree-tos`.
    pub agree_tos: bool,
    /// `--eab-kid`.
    pub eab_kid: Option<String>,
    /// `--eab-hmac-key`.
    pub eab_hmac_key: Option<Secret>,
    /// `--resolver` (repeatable).
    pub resolvers: Vec<String>,
    /// `--authoritative` (repeatable).
    pub authoritative: Vec<String>,
    /// `--propagation-timeout`.
    pub propagation_timeout: Option<String>,
    /// `--no-cname` (as `Some(false)`).
    pub follow_cname: Option<bool>,
    /// `--challenge`: the method for every certificate (wins over `[acme]` and
    /// `[[certificate]] challenge`).
    pub challenge: Option<String>,
}

impl Overrides {
    /// Put the flags on top of `s`.
    pub fn apply(&self, s: &mut Settings) {
        if let Some(v) = &self.server {
            s.acme.server = Some(v.clone());
        }
        if let Some(v) = &self.ca_bundle {
            s.acme.ca_bundle = Some(v.clone());
        }
        if let Some(v) = &self.state_dir {
            s.state_dir = Some(v.clone());
        }
        if let Some(v) = &self.email {
            s.acme.email = Some(v.clone());
        }
        if self.agree_tos {
            s.acme.agree_tos = Some(true);
        }
        if let Some(v) = &self.eab_kid {
            s.acme.eab_kid = Some(v.clone());
        }
        if let Some(v) = &self.eab_hmac_key {
            s.acme.eab_hmac_key = Some(v.clone());
        }
        if !self.resolvers.is_empty() {
            s.dns.resolvers = self.resolvers.clone();
        }
        if !self.authoritative.is_empty() {
            s.dns.authoritative = self.authoritative.clone();
        }
        if let Some(v) = &self.propagation_timeout {
            s.dns.propagation_timeout = Some(v.clone());
        }
        if let Some(v) = self.follow_cname {
            s.dns.follow_cname = Some(v);
        }
        if let Some(v) = &self.challenge {
            s.acme.challenge = Some(v.clone());
            for c in &mut s.certificates {
                c.challenge = None;
            }
        }
    }
}

/// Settings after layering, with the config file's text kept for line numbers in provider
/// errors.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The layered settings, flags applied.
    pub settings: Settings,
    /// The config file and its text.
    pub file: Option<(PathBuf, String)>,
    /// The process environment the settings were layered from (providers read theirs).
    pub env: BTreeMap<String, String>,
    /// The command line's flags (already applied to `settings`): `renew` lets them win over
    /// what `issue` recorded, for that run only.
    pub overrides: Overrides,
}

impl Loaded {
    /// Layer defaults < `config` file < `env` < `overrides`. The file is read once.
    pub fn load(
        config: Option<&Path>,
        env: BTreeMap<String, String>,
        overrides: &Overrides,
    ) -> Result<Loaded, IssueError> {
        let file = match config {
            Some(p) => Some((p.to_path_buf(), read_config_file(p)?)),
            None => None,
        };
        let mut settings =
            Settings::from_source(file.as_ref().map(|(p, t)| (p.as_path(), t.as_str())), &env)?;
        overrides.apply(&mut settings);
        Ok(Loaded {
            settings,
            file,
            env,
            overrides: overrides.clone(),
        })
    }

    /// The store's root.
    pub fn state_dir(&self) -> PathBuf {
        self.settings
            .state_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR))
    }
}

/// The one way a certificate's settings become a request (`issue` builds a
/// [`CertificateSettings`] from its flags; `renew` has them from the config): names validated,
/// store name chosen, key type parsed, and `[acme] profile`/`preferred_chain`/`challenge` as
/// defaults for the certificate's own; a provider is required unless the method is
/// dns-persist-01.
pub fn request_for(s: &Settings, c: &CertificateSettings) -> Result<IssueRequest, IssueError> {
    let mut req = IssueRequest::new(&c.domains, c.name.clone())?;
    if let Some(k) = &c.key_type {
        // A settings error (exit 2), not the CA's: nothing was sent.
        req.key_type = k
            .parse()
            .map_err(|e: wildcert_acme::Error| SettingsError::Value {
                key: "key_type".into(),
                message: e.to_string(),
            })?;
    }
    req.reuse_key = c.reuse_key.unwrap_or(false);
    req.profile = c.profile.clone().or_else(|| s.acme.profile.clone());
    req.preferred_chain = c
        .preferred_chain
        .clone()
        .or_else(|| s.acme.preferred_chain.clone());
    req.key_perms =
        KeyPerms::parse(c.key_group.as_deref(), c.key_mode.as_deref()).map_err(|e| {
            SettingsError::Value {
                key: "certificate.key_group / key_mode".into(),
                message: e.to_string(),
            }
        })?;
    let (key, challenge) = match (&c.challenge, &s.acme.challenge) {
        (Some(v), _) => ("certificate.challenge", Some(v)),
        (None, Some(v)) => ("acme.challenge", Some(v)),
        (None, None) => ("", None),
    };
    if let Some(v) = challenge {
        req.challenge = v.parse().map_err(|message| SettingsError::Value {
            key: key.into(),
            message,
        })?;
    }
    if c.provider.trim().is_empty() && req.challenge.needs_provider() {
        return Err(SettingsError::Value {
            key: "certificate.provider".into(),
            message: format!(
                "{}: no DNS provider (provider = \"…\" or --dns); only challenge = \"dns-persist-01\" works without one",
                req.cert_name
            ),
        }
        .into());
    }
    Ok(req)
}

/// A dry run (`issue --dry-run`, `renew --dry-run`): the whole flow — publish, propagation,
/// validation, finalize — against the CA's staging directory where one is known, with a
/// throwaway store, no hooks, no metrics file and nothing changed in the real store or `live/`.
#[derive(Debug)]
pub struct DryRun {
    /// The throwaway store (removed when dropped).
    pub store: tempfile::TempDir,
    /// The directory the dry run talks to, when it differs from the configured one.
    pub staging: Option<&'static str>,
}

impl DryRun {
    /// Turn `s` into the settings of a dry run.
    pub fn prepare(s: &mut Settings) -> Result<DryRun, IssueError> {
        let store = tempfile::Builder::new()
            .prefix("wildcert-dry-run-")
            .tempdir()
            .map_err(|e| {
                IssueError::Settings(SettingsError::Value {
                    key: "--dry-run".into(),
                    message: format!("cannot make a temporary store: {e}"),
                })
            })?;
        let staging = crate::settings::staging_for(s.acme.server.as_deref());
        if let Some(st) = staging {
            s.acme.server = Some(st.to_string());
        }
        s.state_dir = Some(store.path().to_path_buf());
        // The throwaway store is a directory: a shared database is not touched either.
        s.store = Default::default();
        // A rehearsal touches nothing real: no hook, no install directory, no reload.
        for c in &mut s.certificates {
            c.deploy_hook = None;
            c.install.clear();
        }
        s.renew.pre_hook = None;
        s.renew.post_hook = None;
        // The metrics file describes the real store: a rehearsal leaves it alone.
        s.metrics.textfile = None;
        Ok(DryRun { store, staging })
    }
}

impl RunConfig {
    /// Resolve settings (already layered: defaults < file < environment < flags) into a run.
    pub fn from_settings(s: &Settings) -> Result<RunConfig, IssueError> {
        let directory_url = resolve_server(s.acme.server.as_deref())?;
        let eab_key = match (&s.acme.eab_hmac_key, &s.acme.eab_hmac_key_file) {
            (Some(k), _) => Some(k.expose().trim().to_string()),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| SettingsError::Value {
                    key: "acme.eab_hmac_key_file".into(),
                    message: format!("cannot read {}: {e}", path.display()),
                })?;
                wildcert_dns::settings::warn_if_readable_by_others(path, "acme.eab_hmac_key_file");
                Some(text.trim().to_string())
            }
            (None, None) => None,
        };
        let eab = match (&s.acme.eab_kid, eab_key) {
            (Some(kid), Some(key)) => Some(wildcert_acme::Eab::new(kid.clone(), &key)?),
            (None, None) => None,
            _ => {
                return Err(SettingsError::Value {
                    key: "acme.eab_kid".into(),
                    message: "external account binding needs both eab_kid and eab_hmac_key".into(),
                }
                .into());
            }
        };
        let resolvers = s
            .dns
            .resolvers
            .iter()
            .map(|r| parse_server_addr("dns.resolvers", r))
            .collect::<Result<Vec<_>, _>>()?;
        let authoritative = s
            .dns
            .authoritative
            .iter()
            .map(|r| parse_server_addr("dns.authoritative", r))
            .collect::<Result<Vec<_>, _>>()?;
        let mut dns = DnsSettings {
            resolvers,
            authoritative,
            propagation_timeout: s.propagation_timeout()?,
            // What the run sets itself wins over a provider's own tuning (RFC2136_TTL, …).
            explicit: wildcert_dns::ExplicitSettings {
                ttl: s.dns.ttl.is_some(),
                propagation_timeout: s.dns.propagation_timeout.is_some(),
            },
            ..Default::default()
        };
        if let Some(f) = s.dns.follow_cname {
            dns.follow_cname = f;
        }
        if let Some(ttl) = s.dns.ttl {
            dns.ttl = ttl;
        }
        Ok(RunConfig {
            directory_url,
            ca_bundle: s.acme.ca_bundle.clone(),
            more_ca_bundles: s.acme.lego_ca_certificates.clone(),
            allow_insecure_http: s.acme.allow_insecure_http.unwrap_or(false),
            state_dir: s
                .state_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR)),
            store: crate::store::StoreConfig::from_settings(&s.store)?,
            account: AccountOptions {
                email: s.acme.email.clone(),
                agree_tos: s.acme.agree_tos.unwrap_or(false),
                eab,
            },
            dns,
            caa_check: s.dns.caa_check.unwrap_or(true),
            request_timeout: s
                .acme
                .request_timeout
                .as_deref()
                .map(|t| {
                    parse_duration(t).map_err(|message| SettingsError::Value {
                        key: "acme.request_timeout".into(),
                        message,
                    })
                })
                .transpose()?,
            rehearsal: false,
        })
    }

    /// The run a certificate that `issue` recorded renews with: its CA, CA bundle, resolvers,
    /// authoritative servers and propagation timeout, unless this run's command line gave
    /// the value (`flags`), which wins for this run only.
    pub fn for_recorded(
        &self,
        r: &crate::store::RecordedRequest,
        flags: &Overrides,
    ) -> Result<RunConfig, IssueError> {
        let mut run = self.clone();
        let recorded = |what: &str, e: SettingsError| SettingsError::Value {
            key: format!("{what} recorded with the certificate"),
            message: e.to_string(),
        };
        if flags.server.is_none() {
            run.directory_url = r.server.clone();
            if flags.ca_bundle.is_none() {
                run.ca_bundle = r.ca_bundle.clone();
            }
        }
        if flags.resolvers.is_empty() && !r.resolvers.is_empty() {
            run.dns.resolvers = r
                .resolvers
                .iter()
                .map(|a| {
                    parse_server_addr("dns.resolvers", a).map_err(|e| recorded("resolvers", e))
                })
                .collect::<Result<_, _>>()?;
        }
        if flags.authoritative.is_empty() && !r.authoritative.is_empty() {
            run.dns.authoritative = r
                .authoritative
                .iter()
                .map(|a| {
                    parse_server_addr("dns.authoritative", a)
                        .map_err(|e| recorded("authoritative servers", e))
                })
                .collect::<Result<_, _>>()?;
        }
        if flags.propagation_timeout.is_none()
            && let Some(t) = &r.propagation_timeout
        {
            run.dns.propagation_timeout =
                parse_duration(t).map_err(|message| SettingsError::Value {
                    key: "propagation timeout recorded with the certificate".into(),
                    message,
                })?;
            run.dns.explicit.propagation_timeout = true;
        }
        Ok(run)
    }

    /// Whether two runs talk to the same CA the same way (one account, one client) and look
    /// at DNS the same way: their certificates can share one run of the issuance stages.
    pub fn same_run(&self, other: &RunConfig) -> bool {
        self.directory_url == other.directory_url
            && self.ca_bundle == other.ca_bundle
            && self.dns.resolvers == other.dns.resolvers
            && self.dns.authoritative == other.dns.authoritative
            && self.dns.propagation_timeout == other.dns.propagation_timeout
    }

    /// The ACME client for this run (reads the directory).
    pub async fn acme_client(&self) -> Result<AcmeClient, IssueError> {
        let files = self.ca_bundle.iter().map(|p| ("acme.ca_bundle", p)).chain(
            self.more_ca_bundles
                .iter()
                .map(|p| ("LEGO_CA_CERTIFICATES", p)),
        );
        let mut extra_roots_pem: Option<Vec<u8>> = None;
        for (key, path) in files {
            let pem = std::fs::read(path).map_err(|e| {
                IssueError::Settings(SettingsError::Value {
                    key: key.into(),
                    message: format!("cannot read {}: {e}", path.display()),
                })
            })?;
            let all = extra_roots_pem.get_or_insert_with(Vec::new);
            all.extend_from_slice(&pem);
            all.push(b'\n');
        }
        let config = ClientConfig {
            directory_url: self.directory_url.clone(),
            extra_roots_pem,
            allow_insecure_http: self.allow_insecure_http,
            request_timeout: self.request_timeout,
            ..ClientConfig::default()
        };
        Ok(AcmeClient::new(config).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(domains: &[&str]) -> CertificateSettings {
        CertificateSettings {
            name: None,
            domains: domains.iter().map(|s| s.to_string()).collect(),
            provider: "rfc2136".into(),
            key_type: None,
            profile: None,
            preferred_chain: None,
            key_group: None,
            key_mode: None,
            deploy_hook: None,
            renew_before: None,
            challenge: None,
            install: Vec::new(),
            dns_credentials: None,
            reuse_key: None,
        }
    }

    #[test]
    fn a_dry_run_goes_to_staging_with_a_throwaway_store_and_no_hooks() {
        let mut s = Settings {
            state_dir: Some("/var/lib/wildcert".into()),
            ..Settings::default()
        };
        let mut c = cert(&["example.com"]);
        c.deploy_hook = Some("systemctl reload nginx".into());
        c.install = vec![crate::settings::InstallTarget {
            dir: "/etc/nginx/tls".into(),
            owner: None,
            group: None,
            key_mode: None,
            reload: Some("systemctl reload nginx".into()),
            layout: Default::default(),
        }];
        s.certificates.push(c);
        s.renew.pre_hook = Some("pre".into());
        s.renew.post_hook = Some("post".into());
        s.metrics.textfile = Some("/var/lib/node-exporter/wildcert.prom".into());
        let d = DryRun::prepare(&mut s).expect("dry run");
        let staging = d.staging.expect("Let's Encrypt has a staging directory");
        assert_eq!(s.acme.server.as_deref(), Some(staging));
        assert_eq!(s.state_dir.as_deref(), Some(d.store.path()));
        assert!(s.certificates[0].deploy_hook.is_none());
        assert!(
            s.certificates[0].install.is_empty(),
            "a rehearsal writes into no install directory and reloads nothing"
        );
        assert!(s.renew.pre_hook.is_none() && s.renew.post_hook.is_none());
        assert!(
            s.metrics.textfile.is_none(),
            "the real metrics file is left alone"
        );
        let store = d.store.path().to_path_buf();
        drop(d);
        assert!(!store.exists(), "the throwaway store goes with the dry run");

        let mut s = Settings::default();
        s.acme.server = Some("https://127.0.0.1:14000/dir".into());
        let d = DryRun::prepare(&mut s).expect("dry run");
        assert!(
            d.staging.is_none(),
            "a CA without a known staging directory is kept"
        );
        assert_eq!(
            s.acme.server.as_deref(),
            Some("https://127.0.0.1:14000/dir")
        );
    }

    #[test]
    fn acme_defaults_apply_to_every_certificate_and_its_own_settings_win() {
        let mut s = Settings::default();
        s.acme.profile = Some("shortlived".into());
        s.acme.preferred_chain = Some("Root X2".into());
        let r = request_for(&s, &cert(&["*.example.com", "example.com"])).expect("request");
        assert_eq!(r.cert_name, "example.com");
        assert_eq!(r.profile.as_deref(), Some("shortlived"));
        assert_eq!(r.preferred_chain.as_deref(), Some("Root X2"));
        let mut own = cert(&["example.com"]);
        own.profile = Some("classic".into());
        own.preferred_chain = Some("Root X1".into());
        own.key_type = Some("rsa2048".into());
        own.name = Some("site".into());
        let r = request_for(&s, &own).expect("request");
        assert_eq!(
            (
                r.cert_name.as_str(),
                r.profile.as_deref(),
                r.preferred_chain.as_deref()
            ),
            ("site", Some("classic"), Some("Root X1"))
        );
        assert_eq!(r.key_type.as_str(), "rsa2048");
        let mut bad = cert(&["example.com"]);
        bad.key_type = Some("dsa".into());
        assert!(request_for(&s, &bad).is_err());
    }

    #[test]
    fn challenge_defaults_per_certificate_flag_wins_and_only_persist_goes_without_provider() {
        use crate::model::ChallengeChoice;
        use wildcert_acme::ValidationMethod as M;
        let mut s = Settings::default();
        let r = request_for(&s, &cert(&["example.com"])).expect("request");
        assert_eq!(r.challenge, ChallengeChoice::Method(M::Dns01));
        s.acme.challenge = Some("auto".into());
        let r = request_for(&s, &cert(&["example.com"])).expect("request");
        assert_eq!(r.challenge, ChallengeChoice::Auto);
        let mut own = cert(&["example.com"]);
        own.challenge = Some("DNS-Account-01".into());
        let r = request_for(&s, &own).expect("request");
        assert_eq!(r.challenge, ChallengeChoice::Method(M::DnsAccount01));
        // --challenge wins over [acme] and the certificate's own.
        s.certificates.push(own.clone());
        Overrides {
            challenge: Some("dns-persist-01".into()),
            ..Default::default()
        }
        .apply(&mut s);
        let r = request_for(&s, &s.certificates[0]).expect("request");
        assert_eq!(r.challenge, ChallengeChoice::Method(M::DnsPersist01));
        // No provider: fine for dns-persist-01 only.
        let mut bare = cert(&["example.com"]);
        bare.provider = String::new();
        assert!(request_for(&s, &bare).is_ok());
        s.acme.challenge = Some("dns-01".into());
        let e = request_for(&s, &bare).expect_err("needs a provider");
        assert!(e.to_string().contains("no DNS provider"), "{e}");
        bare.challenge = Some("http-01".into());
        let e = request_for(&s, &bare).expect_err("unknown");
        assert!(e.to_string().contains("certificate.challenge"), "{e}");
    }
}
