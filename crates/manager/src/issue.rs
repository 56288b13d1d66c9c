//! One issuance, as data (DESIGN.md "One issuance"): names → order → TXT records per zone →
//! publish once per zone → every authoritative server serves every value → answer the
//! challenges → finalize → verify → store atomically → remove exactly what we published.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tracing::info;
use wildcert_acme::{AcmeClient, CertKeyType, ClientConfig};
use wildcert_dns::{Dns01, DnsProvider, DnsSettings, Identifier, PropagationProgress};

use crate::account::AccountOptions;
use crate::error::IssueError;
use crate::journal;
use crate::store::Store;

/// Bound on waiting for the CA after the challenges are answered (validation, finalize).
pub const CA_WAIT: Duration = Duration::from_secs(300);
/// How long a run waits for another run's lock on the same certificate.
pub const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Everything about the CA and the store that a run needs (settings resolved, flags applied).
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// ACME directory URL.
    pub directory_url: String,
    /// Extra trusted roots (PEM file) for the CA's HTTPS.
    pub ca_bundle: Option<PathBuf>,
    /// Allow `http://` on loopback.
    pub allow_insecure_http: bool,
    /// The store.
    pub state_dir: PathBuf,
    /// Account creation options.
    pub account: AccountOptions,
    /// DNS discovery and propagation settings.
    pub dns: DnsSettings,
    /// Check CAA before every order (`[dns] caa_check`, default true).
    pub caa_check: bool,
}

/// One certificate to issue.
#[derive(Debug, Clone)]
pub struct IssueRequest {
    /// Store name; default: the first name without `*.`.
    pub cert_name: Option<String>,
    /// The names, as given.
    pub names: Vec<String>,
    /// Provider id or kind (recorded in meta.json; the provider itself is passed separately).
    pub provider_id: String,
    /// Certificate key type.
    pub key_type: CertKeyType,
    /// ACME profile.
    pub profile: Option<String>,
    /// Preferred chain (issuer CN).
    pub preferred_chain: Option<String>,
    /// Group and mode of the private key (`key_group`, `key_mode`).
    pub key_perms: crate::store::KeyPerms,
}

/// A validated request: names parsed, store name chosen.
#[derive(Debug, Clone)]
pub struct Validated {
    /// Store name.
    pub cert_name: String,
    /// Identifiers, deduplicated, in request order.
    pub identifiers: Vec<Identifier>,
}

/// Validate names and choose the store name, before anything touches the network.
pub fn validate(req: &IssueRequest) -> Result<Validated, IssueError> {
    let mut seen = BTreeSet::new();
    let mut identifiers = Vec::new();
    for n in &req.names {
        let id = Identifier::parse(n)?;
        if seen.insert(id.clone()) {
            identifiers.push(id);
        }
    }
    let first = identifiers.first().ok_or(IssueError::NoNames)?;
    let cert_name = req
        .cert_name
        .clone()
        .unwrap_or_else(|| first.base().to_string());
    Ok(Validated {
        cert_name,
        identifiers,
    })
}

/// What an issuance produced (also the `--json` result).
#[derive(Debug, Clone, Serialize)]
pub struct Issued {
    /// Store name.
    pub cert_name: String,
    /// Archive version now live.
    pub version: u32,
    /// `certs/<name>/live`.
    pub live_dir: PathBuf,
    /// Names in the certificate.
    pub names: Vec<String>,
    /// Key type.
    pub key_type: String,
    /// RFC 3339 notBefore / notAfter.
    pub not_before: String,
    /// RFC 3339 notAfter.
    pub not_after: String,
    /// Issuer common name of the leaf.
    pub issuer: Option<String>,
    /// Serial number, hex.
    pub serial: String,
    /// The order URL.
    pub order_url: String,
    /// Time spent, milliseconds: total and per stage.
    pub timings_ms: Timings,
    /// DNS zones updated, and the number of TXT values in each.
    pub zones: Vec<(String, usize)>,
    /// HTTP requests sent to the CA.
    pub acme_requests: u64,
    /// DNS queries the propagation checker sent.
    pub dns_queries: u64,
}

/// Stage timings in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    /// Whole run.
    pub total: u64,
    /// Order + authorizations.
    pub order: u64,
    /// Planning + publish.
    pub publish: u64,
    /// Propagation wait.
    pub propagation: u64,
    /// CA validation.
    pub validation: u64,
    /// Finalize + download.
    pub finalize: u64,
}

/// Build the ACME client for a run.
pub async fn acme_client(cfg: &RunConfig) -> Result<AcmeClient, IssueError> {
    let extra_roots_pem = match &cfg.ca_bundle {
        Some(path) => Some(std::fs::read(path).map_err(|e| {
            IssueError::Settings(crate::settings::SettingsError::Value {
                key: "acme.ca_bundle".into(),
                message: format!("cannot read {}: {e}", path.display()),
            })
        })?),
        None => None,
    };
    let config = ClientConfig {
        directory_url: cfg.directory_url.clone(),
        extra_roots_pem,
        allow_insecure_http: cfg.allow_insecure_http,
        ..ClientConfig::default()
    };
    Ok(AcmeClient::new(config).await?)
}

/// Remove records left in the journal by runs that died (and, with `include_self`, by this
/// one). `provider_for` builds the provider named in each entry.
pub async fn recover_journal<F>(
    store: &Store,
    include_self: bool,
    provider_for: F,
    dns: &DnsSettings,
) -> Vec<String>
where
    F: Fn(&str) -> Result<Arc<dyn DnsProvider>, IssueError>,
{
    let mut problems = Vec::new();
    let entries = match journal::orphans(store, include_self) {
        Ok(e) => e,
        Err(e) => return vec![e.to_string()],
    };
    for (handle, entry) in entries {
        let provider = match provider_for(&entry.provider) {
            Ok(p) => p,
            Err(e) => {
                problems.push(format!(
                    "journal {}: provider {}: {e}",
                    handle.path().display(),
                    entry.provider
                ));
                continue;
            }
        };
        info!(records = entry.plan.len(), provider = %entry.provider, "removing records left by an interrupted run");
        match Dns01::new(provider, dns.clone()).cleanup(&entry.plan).await {
            Ok(()) => {
                if let Err(e) = handle.remove() {
                    problems.push(e.to_string());
                }
            }
            Err(e) => problems.push(format!("journal {}: {e}", handle.path().display())),
        }
    }
    problems
}

/// Issue one certificate and store it (a batch of one; see [`crate::pipeline`]).
pub async fn issue(
    cfg: &RunConfig,
    req: &IssueRequest,
    provider: Arc<dyn DnsProvider>,
    progress: Option<Arc<dyn PropagationProgress>>,
) -> Result<Issued, IssueError> {
    validate(req)?;
    let job = crate::pipeline::Job {
        req: req.clone(),
        provider,
        replaces: None,
        if_version: None,
        skip_if_locked: false,
    };
    let mut outcomes = crate::pipeline::run(cfg, vec![job], 1, progress).await?;
    match outcomes.pop() {
        Some(o) => o.result,
        None => Err(IssueError::Order("no result".into())),
    }
}

pub(crate) fn ms(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl RunConfig {
    /// Resolve settings (already layered: defaults < file < environment < flags) into a run.
    pub fn from_settings(s: &crate::settings::Settings) -> Result<RunConfig, IssueError> {
        use crate::settings::{
            DEFAULT_STATE_DIR, SettingsError, parse_server_addr, resolve_server,
        };
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
            allow_insecure_http: s.acme.allow_insecure_http.unwrap_or(false),
            state_dir: s
                .state_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR)),
            account: AccountOptions {
                email: s.acme.email.clone(),
                agree_tos: s.acme.agree_tos.unwrap_or(false),
                eab,
            },
            dns,
            caa_check: s.dns.caa_check.unwrap_or(true),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(names: &[&str]) -> IssueRequest {
        IssueRequest {
            cert_name: None,
            names: names.iter().map(|s| s.to_string()).collect(),
            provider_id: "rfc2136".into(),
            key_type: CertKeyType::default(),
            profile: None,
            preferred_chain: None,
            key_perms: Default::default(),
        }
    }

    #[test]
    fn default_cert_name_and_dedup() {
        let v = validate(&req(&["*.Example.com", "example.com", "EXAMPLE.com."])).expect("valid");
        assert_eq!(v.cert_name, "example.com");
        assert_eq!(v.identifiers.len(), 2);
        assert!(matches!(validate(&req(&[])), Err(IssueError::NoNames)));
        assert!(matches!(
            validate(&req(&["a.*.example.com"])),
            Err(IssueError::Name(_))
        ));
    }
}
