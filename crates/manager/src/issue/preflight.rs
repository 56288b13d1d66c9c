//! Stage 1: everything that can be known before an order is placed. The certificate's lock
//! is taken, its stored version checked, every name's zone found (the provider's answer first,
//! else DNS), the CNAME delegations followed, the authoritative addresses looked up, and CAA
//! checked. A certificate that fails here is never ordered, so no pending order is left behind
//! for a mistyped zone.

use std::time::{Duration, Instant};

use wildcert_acme::Account;
use wildcert_dns::caa::{CaaPolicy, CaaResolver, DNS01};
use wildcert_dns::{ChallengeRecord, Dns01, DnsName, Plan};

use super::Job;
use crate::config::RunConfig;
use crate::error::IssueError;
use crate::model::{LOCK_WAIT, Names, ms};
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
    /// Preflight time, ms.
    pub preflight_ms: u64,
}

/// The dns-01 record names of a certificate's names (`_acme-challenge.<base>`, RFC 8555 §8.4).
pub(crate) fn record_names(names: &Names) -> Result<Vec<DnsName>, IssueError> {
    names
        .identifiers()
        .iter()
        .map(|id| Ok(DnsName::parse(&format!("_acme-challenge.{}", id.base()))?))
        .collect()
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
        return Err(fail(IssueError::CaNotAnswering));
    }
    let wait = if job.skip_if_locked {
        Duration::ZERO
    } else {
        LOCK_WAIT
    };
    let lock = match store.lock(&name, wait).await {
        Ok(l) => l,
        Err(StoreError::Locked { path, holder, .. }) if job.skip_if_locked => {
            return Err(fail(IssueError::Busy {
                name: name.clone(),
                holder: crate::error::lock_holder(&path, holder.as_deref()),
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
    let placeholders: Vec<ChallengeRecord> = record_names(&job.req.names)
        .map_err(fail)?
        .into_iter()
        .map(|fqdn| ChallengeRecord {
            fqdn,
            value: PLACEHOLDER.to_string(),
        })
        .collect();
    let dns = Dns01::new(job.provider.dns.clone(), cfg.dns.clone());
    let skeleton = dns
        .plan(&placeholders)
        .await
        .map_err(|e| fail(IssueError::Dns(e)))?;
    caa_gate(cfg, account, &job.req.names).await.map_err(fail)?;
    Ok(Prepared {
        index,
        job,
        lock,
        meta,
        skeleton,
        preflight_ms: ms(t),
    })
}

/// The CAA check before an order (`[dns] caa_check`): an error when a CAA record forbids the
/// CA for one of the names. Undecidable cases only log a warning; a CA without
/// `caaIdentities` is not checked.
async fn caa_gate(cfg: &RunConfig, account: &Account, names: &Names) -> Result<(), IssueError> {
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
        method: DNS01,
    };
    CaaResolver::new(resolvers, cfg.dns.query_timeout)
        .gate(names.identifiers(), &policy)
        .await
        .map_err(|r| IssueError::Caa {
            name: r.name,
            reason: r.verdict.reason().to_string(),
        })
}
