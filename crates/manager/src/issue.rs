//! One issuance, as data (DESIGN.md "One issuance"): names → order → TXT records per zone →
//! publish once per zone → every authoritative server serves every value → answer the
//! challenges → finalize → verify → store atomically → remove exactly what we published.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::try_join_all;
use serde::Serialize;
use tracing::{info, warn};
use wildcert_acme::{Account, AcmeClient, AuthorizationStatus, CertKey, CertKeyType, ClientConfig, NewOrderOptions};
use wildcert_dns::{ChallengeRecord, Dns01, DnsName, DnsProvider, DnsSettings, Identifier, Plan, PropagationProgress};

use crate::account::{self, AccountOptions};
use crate::error::IssueError;
use crate::journal;
use crate::store::{CertFiles, CertMeta, Store};
use crate::verify;

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
    let cert_name = req.cert_name.clone().unwrap_or_else(|| first.base().to_string());
    Ok(Validated { cert_name, identifiers })
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
        Some(path) => Some(std::fs::read(path).map_err(|source| {
            IssueError::Settings(crate::settings::SettingsError::Read { path: path.clone(), source })
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
pub async fn recover_journal<F>(store: &Store, include_self: bool, provider_for: F, dns: &DnsSettings) -> Vec<String>
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
                problems.push(format!("journal {}: provider {}: {e}", handle.path().display(), entry.provider));
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

/// Issue one certificate and store it.
pub async fn issue(
    cfg: &RunConfig,
    req: &IssueRequest,
    provider: Arc<dyn DnsProvider>,
    progress: Option<Arc<dyn PropagationProgress>>,
) -> Result<Issued, IssueError> {
    let started = Instant::now();
    let v = validate(req)?;
    let store = Store::open(&cfg.state_dir)?;
    let _lock = store.lock(&v.cert_name, LOCK_WAIT)?;
    let client = acme_client(cfg).await?;
    let account = account::load_or_create(&store, &client, &cfg.account).await?;
    let mut dns = Dns01::new(provider, cfg.dns.clone());
    if let Some(p) = progress {
        dns = dns.with_progress(p);
    }
    let result = issue_with(&store, &account, &dns, req, &v, started).await;
    if let Err(e) = &result {
        // Record the failure next to the certificate; a working live/ stays untouched.
        if let Ok(Some(mut meta)) = store.read_meta(&v.cert_name) {
            meta.last_error = Some(e.to_string());
            let _ = store.write_meta(&v.cert_name, &meta);
        }
    }
    result
}

async fn issue_with(
    store: &Store,
    account: &Account,
    dns: &Dns01,
    req: &IssueRequest,
    v: &Validated,
    started: Instant,
) -> Result<Issued, IssueError> {
    let mut timings = Timings::default();
    let names: Vec<String> = v.identifiers.iter().map(Identifier::as_acme).collect();
    let opts = NewOrderOptions { profile: req.profile.clone(), replaces: None };
    let t = Instant::now();
    let order = account.new_order(&names, &opts).await?;
    info!(order = %order.url, names = ?names, "order created");
    let authzs = account.authorizations(&order).await?;
    let mut records = Vec::new();
    let mut pending = Vec::new();
    for authz in &authzs {
        match authz.status() {
            AuthorizationStatus::Valid => continue,
            AuthorizationStatus::Pending => {}
            other => {
                return Err(IssueError::Order(format!("authorization for {} is {other}", authz.name())));
            }
        }
        let challenge = authz.require_dns01()?;
        let fqdn = DnsName::parse(&authz.dns01_record_name())?;
        records.push(ChallengeRecord { fqdn, value: account.dns01_txt_value(challenge)? });
        pending.push((authz.url.clone(), challenge.clone()));
    }
    timings.order = ms(t);

    let mut zones = Vec::new();
    let mut dns_queries = 0;
    if !records.is_empty() {
        let t = Instant::now();
        let plan = dns.plan(&records).await?;
        zones = plan.zones.iter().map(|z| (z.zone.name.to_string(), z.records.len())).collect();
        let entry = journal::record(store, &req.provider_id, &plan)?;
        let outcome = answer_challenges(account, dns, &plan, &pending, &mut timings, t).await;
        // Always remove what we published: on success, on failure.
        let cleanup = dns.cleanup(&plan).await;
        match &cleanup {
            Ok(()) => {
                if let Err(e) = entry.remove() {
                    warn!("{e}");
                }
            }
            Err(e) => warn!("{e}; the journal keeps the records for the next run to remove"),
        }
        dns_queries = outcome?;
    }

    let t = Instant::now();
    let deadline = wildcert_acme::Instant::now() + CA_WAIT;
    let order = account.wait_order_ready(&order.url, deadline).await?;
    let key = CertKey::generate(req.key_type)?;
    let order = account.finalize(&order, &key).await?;
    let order = account.wait_order_valid(&order.url, deadline).await?;
    let chain = account.download_certificate(&order, req.preferred_chain.as_deref()).await?;
    timings.finalize = ms(t);

    // Check before it may replace live/.
    let info = verify::verify(&chain.fullchain_pem(), key.public_key_raw(), &names)?;
    let files = CertFiles { cert: info.leaf_pem.clone(), chain: info.chain_pem.clone(), privkey: key.to_pem() };
    let version = store.install(&v.cert_name, &files)?;
    let ari = wildcert_acme::CertId::from_pem(&info.leaf_pem).ok().map(|c| c.as_str().to_string());
    let meta = CertMeta {
        names: names.clone(),
        key_type: req.key_type.as_str().to_string(),
        provider: req.provider_id.clone(),
        version: Some(version),
        order_url: Some(order.url.clone()),
        ari_cert_id: ari,
        issued_at: Some(verify::rfc3339(time::OffsetDateTime::now_utc())),
        not_before: Some(verify::rfc3339(info.not_before)),
        not_after: Some(verify::rfc3339(info.not_after)),
        server: Some(account.client().directory_url().to_string()),
        last_error: None,
    };
    store.write_meta(&v.cert_name, &meta)?;
    timings.total = ms(started);
    info!(cert = %v.cert_name, version, ms = timings.total, "certificate stored");
    Ok(Issued {
        cert_name: v.cert_name.clone(),
        version,
        live_dir: store.live_dir(&v.cert_name)?,
        names,
        key_type: req.key_type.as_str().to_string(),
        not_before: verify::rfc3339(info.not_before),
        not_after: verify::rfc3339(info.not_after),
        issuer: info.issuer_cn,
        serial: info.serial_hex,
        order_url: order.url,
        timings_ms: timings,
        zones,
        acme_requests: account.client().requests_sent(),
        dns_queries,
    })
}

/// Publish, wait for every server, answer every challenge, wait for every authorization.
/// Returns the number of DNS queries the checker sent.
async fn answer_challenges(
    account: &Account,
    dns: &Dns01,
    plan: &Plan,
    pending: &[(String, wildcert_acme::Challenge)],
    timings: &mut Timings,
    t: Instant,
) -> Result<u64, IssueError> {
    let published = dns.publish(plan).await?;
    timings.publish = ms(t);
    let t = Instant::now();
    let report = dns.wait_propagated(&published).await?;
    timings.propagation = ms(t);
    info!(ms = timings.propagation, servers = report.servers.len(), "every authoritative server serves every value");
    let t = Instant::now();
    try_join_all(pending.iter().map(|(_, ch)| account.respond(ch))).await?;
    let deadline = wildcert_acme::Instant::now() + CA_WAIT;
    try_join_all(pending.iter().map(|(url, _)| account.wait_authorization(url, deadline))).await?;
    timings.validation = ms(t);
    Ok(report.queries)
}

fn ms(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
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
        }
    }

    #[test]
    fn default_cert_name_and_dedup() {
        let v = validate(&req(&["*.Example.com", "example.com", "EXAMPLE.com."])).expect("valid");
        assert_eq!(v.cert_name, "example.com");
        assert_eq!(v.identifiers.len(), 2);
        assert!(matches!(validate(&req(&[])), Err(IssueError::NoNames)));
        assert!(matches!(validate(&req(&["a.*.example.com"])), Err(IssueError::Name(_))));
    }
}

impl RunConfig {
    /// Resolve settings (already layered: defaults < file < environment < flags) into a run.
    pub fn from_settings(s: &crate::settings::Settings) -> Result<RunConfig, IssueError> {
        use crate::settings::{DEFAULT_STATE_DIR, SettingsError, parse_server_addr, resolve_server};
        let directory_url = resolve_server(s.acme.server.as_deref())?;
        let eab_key = match (&s.acme.eab_hmac_key, &s.acme.eab_hmac_key_file) {
            (Some(k), _) => Some(k.expose().trim().to_string()),
            (None, Some(path)) => Some(
                std::fs::read_to_string(path)
                    .map_err(|source| SettingsError::Read { path: path.clone(), source })?
                    .trim()
                    .to_string(),
            ),
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
        let mut dns = DnsSettings { resolvers, authoritative, propagation_timeout: s.propagation_timeout()?, ..Default::default() };
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
            state_dir: s.state_dir.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR)),
            account: AccountOptions { email: s.acme.email.clone(), agree_tos: s.acme.agree_tos.unwrap_or(false), eab },
            dns,
        })
    }
}
