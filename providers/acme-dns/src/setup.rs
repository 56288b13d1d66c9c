//! `wildcert acme-dns register`: one registration per name on the acme-dns server (kept in
//! the state dir), the `_acme-challenge` CNAME each name needs, and a bounded check that every
//! authoritative server of the name's zone serves that CNAME. The check asks the authoritative
//! servers directly (RD=0) and never asks a resolver for the `_acme-challenge` name itself, so no
//! resolver caches its absence (negative caching) before the CNAME is added.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::json;
use wildcert_dns::query::{self, from_hickory, rcode_name};
use wildcert_dns::{AuthServer, Discovery};
use wildcert_provider::api::{JsonApi, server_message};
use wildcert_provider::http::RateLimitBudget;
use wildcert_provider::settings::config_error;
use wildcert_provider::{DnsName, ProviderError};

use crate::accounts::{self, Account, domain_key};
use crate::settings::{AcmeDnsSettings, KIND, api_url};

/// Pause between two rounds of the CNAME check.
const POLL: Duration = Duration::from_secs(2);
/// Bound on one DNS question.
const QUERY_TIMEOUT: Duration = Duration::from_secs(3);

/// One name's registration after `register`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Registered {
    /// The registration key (the name without `*.`).
    pub domain: String,
    /// `_acme-challenge.<domain>`: where the CNAME goes.
    pub cname: DnsName,
    /// The registration's `fulldomain`: what the CNAME points at.
    pub target: DnsName,
    /// Made now (false: an existing registration was reused).
    pub new: bool,
    /// The file it is kept in.
    pub file: PathBuf,
}

impl Registered {
    /// The record to add, in zone-file form.
    pub fn record(&self) -> String {
        format!("{}. CNAME {}.", self.cname, self.target)
    }
}

/// Register every name that has no registration yet (one each; a wildcard shares its apex's)
/// on `api_base` (else the settings' api_base), accepting updates from `allowfrom` (else the
/// settings' allowlist), and keep it in the state dir; names with a
/// registration (wildcert's own, or the storage_path file's) keep theirs.
pub async fn register(
    settings: &AcmeDnsSettings,
    api_base: Option<&str>,
    allowfrom: Option<&[String]>,
    state_dir: &Path,
    names: &[String],
) -> Result<Vec<Registered>, ProviderError> {
    let config = settings.validate()?;
    let flag = api_base.map(|u| api_url("--api-base", u)).transpose()?;
    let base = flag.or(config.api_base.clone());
    let allow = allowfrom
        .map(<[String]>::to_vec)
        .unwrap_or(config.allowlist.clone());
    if let Some(bad) = allow.iter().find(|c| !crate::settings::valid_cidr(c)) {
        return Err(config_error(
            KIND,
            format!("--allowfrom `{bad}` is not a network in CIDR form"),
        ));
    }
    let mut known: BTreeMap<String, (Account, PathBuf)> = BTreeMap::new();
    let own = accounts::state_file(state_dir);
    for (path, setting) in [
        (Some(own.clone()), "registrations file"),
        (
            config.storage_path.clone(),
            "storage_path (ACME_DNS_STORAGE_PATH)",
        ),
    ] {
        let Some(path) = path else { continue };
        for (d, a) in accounts::read_file(&path, setting)?.unwrap_or_default() {
            known.insert(d, (a, path.clone()));
        }
    }
    let mut out: Vec<Registered> = Vec::new();
    for name in names {
        let domain = domain_key(name);
        let parsed = DnsName::parse(&domain)
            .map_err(|e| config_error(KIND, format!("name `{name}`: {e}")))?;
        if out.iter().any(|r| r.domain == domain) {
            continue;
        }
        let cname = parsed
            .child("_acme-challenge")
            .map_err(|e| config_error(KIND, format!("{name}: {e}")))?;
        if let Some((acct, file)) = known.get(&domain) {
            out.push(Registered {
                domain,
                cname,
                target: acct.target()?,
                new: false,
                file: file.clone(),
            });
            continue;
        }
        let Some(base) = &base else {
            return Err(config_error(
                KIND,
                format!(
                    "{domain} has no registration yet and no acme-dns server is given: add --api-base URL or set ACME_DNS_API_BASE"
                ),
            ));
        };
        let acct = register_one(base, &allow, config.timeout).await?;
        let file = accounts::save(state_dir, &domain, &acct)?;
        tracing::info!(%domain, fulldomain = %acct.fulldomain, "acme-dns: registered");
        out.push(Registered {
            domain,
            cname,
            target: acct.target()?,
            new: true,
            file,
        });
    }
    Ok(out)
}

/// `POST {base}/register` (with `allowfrom` when given).
async fn register_one(
    base: &reqwest::Url,
    allow: &[String],
    timeout: Duration,
) -> Result<Account, ProviderError> {
    let budget = RateLimitBudget::new(Duration::from_secs(60), "timeout");
    let api = JsonApi::new(KIND, base.clone(), HeaderMap::new(), timeout, budget)?;
    let body = (!allow.is_empty()).then(|| json!({ "allowfrom": allow }));
    let resp = api
        .send(Method::POST, api.url(&["register"]), body.as_ref())
        .await?;
    let msg = server_message(&resp.body);
    match resp.status {
        200..=299 => {}
        400 if msg.contains("invalid_allowfrom_cidr") => {
            return Err(config_error(
                KIND,
                format!(
                    "{} refused allowlist (ACME_DNS_ALLOWLIST) `{}`: {msg}",
                    api.base(),
                    allow.join(",")
                ),
            ));
        }
        404 | 405 => {
            return Err(config_error(
                KIND,
                format!(
                    "{} has no POST /register ({}): registration is disabled on that server (disable_registration), \
                 or api_base is not its API root",
                    api.base(),
                    resp.status
                ),
            ));
        }
        _ => return Err(api.status_error(&resp, None)),
    }
    let mut acct: Account =
        serde_json::from_slice(&resp.body).map_err(|e| ProviderError::Other {
            provider: KIND,
            message: format!(
                "{} answered /register with no registration ({e})",
                api.base()
            ),
        })?;
    acct.server_url = api.base();
    acct.target()?;
    Ok(acct)
}

/// What one authoritative server says about one CNAME.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CnameState {
    /// The CNAME's owner.
    pub cname: DnsName,
    /// The server asked.
    pub server: String,
    /// `None` when it serves the right target; else what it served instead.
    pub problem: Option<String>,
}

/// Where the CNAME check asks.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Resolvers for the zone and nameserver lookups (empty: the system's).
    pub resolvers: Vec<SocketAddr>,
    /// Ask exactly these servers instead of the zone's nameservers.
    pub authoritative: Vec<SocketAddr>,
    /// Bound on the whole wait.
    pub wait: Duration,
}

/// Ask every authoritative server of each name's zone for its `_acme-challenge` CNAME until
/// all serve the registration's target or `opts.wait` is over; `progress` gets one line per
/// round that still lacks some. Returns the last state of every (name, server).
pub async fn check_cnames(
    regs: &[Registered],
    opts: &CheckOptions,
    progress: impl Fn(&str),
) -> Result<Vec<CnameState>, ProviderError> {
    let discovery = match opts.resolvers.is_empty() {
        true => Discovery::system(QUERY_TIMEOUT).await,
        false => Ok(Discovery::new(opts.resolvers.clone(), QUERY_TIMEOUT)),
    };
    let unreachable = |e: String| ProviderError::Unreachable {
        provider: KIND,
        target: "DNS".into(),
        message: e,
    };
    let mut targets: Vec<(&Registered, Vec<AuthServer>)> = Vec::new();
    for r in regs {
        let servers = if opts.authoritative.is_empty() {
            let d = discovery.as_ref().map_err(|e| unreachable(e.to_string()))?;
            // The zone of the name itself: the `_acme-challenge` name is never asked of a resolver.
            let domain =
                DnsName::parse(&r.domain).map_err(|e| config_error(KIND, e.to_string()))?;
            let zone = d
                .find_zone(&domain)
                .await
                .map_err(|e| unreachable(e.to_string()))?;
            d.nameservers_within(&zone, Some(opts.wait.max(Duration::from_secs(10))))
                .await
                .map_err(|e| unreachable(e.to_string()))?
        } else {
            opts.authoritative
                .iter()
                .map(|a| AuthServer {
                    name: None,
                    addr: *a,
                })
                .collect()
        };
        targets.push((r, servers));
    }
    let deadline = Instant::now() + opts.wait;
    loop {
        let mut states = Vec::new();
        for (r, servers) in &targets {
            for s in servers {
                let problem = served_cname(s.addr, &r.cname, &r.target).await.err();
                states.push(CnameState {
                    cname: r.cname.clone(),
                    server: s.to_string(),
                    problem,
                });
            }
        }
        let lacking: Vec<String> = states
            .iter()
            .filter_map(|s| {
                Some(format!(
                    "{} on {}: {}",
                    s.cname,
                    s.server,
                    s.problem.as_ref()?
                ))
            })
            .collect();
        if lacking.is_empty() || Instant::now() + POLL > deadline {
            return Ok(states);
        }
        let left = deadline.saturating_duration_since(Instant::now()).as_secs();
        progress(&format!(
            "waiting ({left} s left) for {}",
            lacking.join("; ")
        ));
        tokio::time::sleep(POLL).await;
    }
}

/// `Ok` when `server` answers `cname` with a CNAME to `target`.
async fn served_cname(server: SocketAddr, cname: &DnsName, target: &DnsName) -> Result<(), String> {
    let m = query::query(server, cname, RecordType::CNAME, false, QUERY_TIMEOUT)
        .await
        .map_err(|e| e.short())?;
    let want = query::to_hickory(cname);
    let found = m.answers.iter().find_map(|r| match &r.data {
        RData::CNAME(c) if r.name == want => Some(from_hickory(&c.0)),
        _ => None,
    });
    match found {
        Some(Some(t)) if &t == target => Ok(()),
        Some(Some(t)) => Err(format!("CNAME to {t}, not {target}")),
        Some(None) => Err("a CNAME to the root".into()),
        None if m.metadata.response_code == ResponseCode::NXDomain => {
            Err("no such name (NXDOMAIN)".into())
        }
        None => Err(format!(
            "no CNAME ({})",
            rcode_name(m.metadata.response_code)
        )),
    }
}
