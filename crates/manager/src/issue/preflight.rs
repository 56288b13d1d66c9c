//! Stage 1: everything that can be known before an order is placed. The certificate's lock
//! is taken, its stored version checked, every name's zone found (the provider's answer first,
//! else DNS), the CNAME delegations followed, the authoritative addresses looked up, and CAA
//! checked. A certificate that fails here is never ordered, so no pending order is left behind
//! for a mistyped zone.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use wildcert_acme::{Account, ValidationMethod};
use wildcert_dns::caa::{CaaPolicy, CaaResolver};
use wildcert_dns::persist::PersistReport;
use wildcert_dns::{ChallengeRecord, Dns01, DnsName, Plan};

use super::Job;
use crate::config::RunConfig;
use crate::error::IssueError;
use crate::model::{ChallengeChoice, LOCK_WAIT, Names, ms};
use crate::persist;
use crate::store::{CertMeta, Store, StoreError, StoreLock};

/// Value of the placeholder records a plan is made with before the CA gives the real ones.
const PLACEHOLDER: &str = "wildcert-preflight";

/// A certificate that passed the preflight: locked, its records' zones and servers known.
pub(crate) struct Prepared {
    /// Position in the run's job list.
    pub index: usize,
    /// The job.
    pub job: Job,
    /// The certificate's lock, held until the run is done with it.
    pub lock: StoreLock,
    /// `meta.json` as read under the lock.
    pub meta: Option<CertMeta>,
    /// Where every record will go: zones, delegations, servers (placeholder values).
    pub skeleton: Plan,
    /// The method planned for each name (as ordered: `*.example.com`).
    pub methods: BTreeMap<String, ValidationMethod>,
    /// Preflight time, ms.
    pub preflight_ms: u64,
}

/// The record names `method` publishes per order for a certificate's names
/// (`_acme-challenge.<base>` for dns-01, RFC 8555 §8.4; `_<label>._acme-challenge.<base>` for
/// dns-account-01, whose label comes from `account_url`), deduplicated (a wildcard and its
/// base share one). dns-persist-01 publishes nothing per order: no names.
pub(crate) fn record_names(
    names: &Names,
    method: ValidationMethod,
    account_url: &str,
) -> Result<Vec<DnsName>, IssueError> {
    if !method.publishes_per_order() {
        return Ok(Vec::new());
    }
    let mut out: Vec<DnsName> = Vec::new();
    for id in names.identifiers() {
        let n = DnsName::parse(&method.record_name(&id.as_acme(), account_url))?;
        if !out.contains(&n) {
            out.push(n);
        }
    }
    Ok(out)
}

/// The method for each name: the one asked for, or with `auto` dns-persist-01 where every
/// authoritative server serves a matching record (else dns-01). With dns-persist-01, a name
/// whose record is not served everywhere fails here (nothing is ordered). The reports of the
/// names checked come back for the `persistUntil` warning.
async fn plan_methods(
    cfg: &RunConfig,
    account: &Account,
    names: &Names,
    choice: ChallengeChoice,
) -> Result<
    (
        BTreeMap<String, ValidationMethod>,
        Vec<(String, PersistReport)>,
    ),
    IssueError,
> {
    let mut methods = BTreeMap::new();
    let mut reports = Vec::new();
    let issuers = persist::directory_issuers(account.client());
    for id in names.identifiers() {
        let method = match choice {
            ChallengeChoice::Method(ValidationMethod::DnsPersist01) => {
                match persist::check_identifier(&cfg.dns, &issuers, account.url(), id).await? {
                    Some(r) => reports.push((id.as_acme(), r)),
                    None => tracing::warn!(
                        "the CA lists no caaIdentities: the dns-persist-01 record of {id} is not checked before the order"
                    ),
                }
                ValidationMethod::DnsPersist01
            }
            ChallengeChoice::Method(m) => m,
            ChallengeChoice::Auto => {
                match persist::check_identifier(&cfg.dns, &issuers, account.url(), id).await {
                    Ok(Some(r)) => {
                        tracing::info!(name = %id, "auto: a matching dns-persist-01 record is served everywhere");
                        reports.push((id.as_acme(), r));
                        ValidationMethod::DnsPersist01
                    }
                    Ok(None) => ValidationMethod::Dns01,
                    Err(e) => {
                        tracing::info!(name = %id, "auto: dns-01 ({e})");
                        ValidationMethod::Dns01
                    }
                }
            }
        };
        methods.insert(id.as_acme(), method);
    }
    Ok((methods, reports))
}

/// Lock, check the stored version, plan the DNS side and check CAA.
pub(crate) async fn prepare(
    cfg: &RunConfig,
    store: &Store,
    account: &Account,
    index: usize,
    job: Job,
) -> Result<Prepared, (String, IssueError)> {
    let name = job.req.cert_name.clone();
    let fail = |e: IssueError| (name.clone(), e);
    if account.client().is_not_answering() {
        // Nothing more is sent to a CA that stopped answering; say so for every certificate.
        return Err(fail(IssueError::CaNotAnswering(
            "it stopped answering earlier in this run; no order was placed".into(),
        )));
    }
    let wait = if job.skip_if_locked {
        Duration::ZERO
    } else {
        LOCK_WAIT
    };
    let lock = match store.lock(&name, wait).await {
        Ok(l) => l,
        Err(StoreError::Locked {
            path,
            holder,
            free_in,
            ..
        }) if job.skip_if_locked => {
            return Err(fail(IssueError::Busy {
                name: name.clone(),
                holder: crate::error::lock_holder(&path, holder.as_deref()),
                free_in,
            }));
        }
        Err(e) => return Err(fail(e.into())),
    };
    let t = Instant::now();
    let meta = store.read_meta(&name).map_err(|e| fail(e.into()))?;
    if let Some(expected) = job.if_version {
        let now = meta.as_ref().and_then(|m| m.version);
        if now != expected {
            return Err(fail(IssueError::Superseded(name.clone())));
        }
    }
    let choice = job.req.challenge;
    let (methods, reports) = plan_methods(cfg, account, &job.req.names, choice)
        .await
        .map_err(fail)?;
    for (n, r) in &reports {
        persist::warn_if_expiring(n, r);
    }
    // The per-order records: with `auto`, dns-01 for every name (a name planned for
    // dns-persist-01 falls back to it when the CA does not offer that method).
    let publish_method = match choice {
        ChallengeChoice::Method(m) => m,
        ChallengeChoice::Auto => ValidationMethod::Dns01,
    };
    let placeholders: Vec<ChallengeRecord> =
        record_names(&job.req.names, publish_method, account.url())
            .map_err(fail)?
            .into_iter()
            .map(|fqdn| ChallengeRecord {
                fqdn,
                value: PLACEHOLDER.to_string(),
            })
            .collect();
    let skeleton = if placeholders.is_empty() {
        Plan {
            provider: job.provider.dns.name().to_string(),
            ..Plan::default()
        }
    } else {
        let dns = Dns01::new(job.provider.dns.clone(), cfg.dns.clone());
        let plan = dns
            .plan(&placeholders)
            .await
            .map_err(|e| fail(IssueError::Dns(e)))?;
        // Every server that will be checked answers for its zone before anything is ordered.
        dns.check_reachable(&plan)
            .await
            .map_err(|e| fail(IssueError::Dns(e)))?;
        plan
    };
    caa_gate(cfg, account, &job.req.names, publish_method)
        .await
        .map_err(fail)?;
    Ok(Prepared {
        index,
        job,
        lock,
        meta,
        skeleton,
        methods,
        preflight_ms: ms(t),
    })
}

/// The CAA check before an order (`[dns] caa_check`): an error when a CAA record forbids the
/// CA for one of the names. Undecidable cases only log a warning; a CA without
/// `caaIdentities` is not checked.
async fn caa_gate(
    cfg: &RunConfig,
    account: &Account,
    names: &Names,
    method: ValidationMethod,
) -> Result<(), IssueError> {
    if !cfg.caa_check {
        return Ok(());
    }
    let identities = &account.client().directory().meta.caa_identities;
    if identities.is_empty() {
        tracing::debug!("the CA lists no caaIdentities: CAA not checked before the order");
        return Ok(());
    }
    let resolvers = if cfg.dns.resolvers.is_empty() {
        match wildcert_dns::Discovery::system(cfg.dns.query_timeout).await {
            Ok(d) => d.resolvers().to_vec(),
            Err(e) => {
                tracing::warn!("CAA not checked before the order: {e}");
                return Ok(());
            }
        }
    } else {
        cfg.dns.resolvers.clone()
    };
    let policy = CaaPolicy {
        identities,
        account_uri: Some(account.url()),
        method: method.as_str(),
    };
    CaaResolver::new(resolvers, cfg.dns.query_timeout)
        .gate(names.identifiers(), &policy)
        .await
        .map_err(|r| IssueError::Caa {
            name: r.name,
            reason: r.verdict.reason().to_string(),
        })
}
