//! Stage 2: place the order (or resume an interrupted run's), read its authorizations and turn
//! each pending dns-01 challenge into a record placed in the preflight's plan.

use std::time::Instant;

use tracing::{debug, info, warn};
use wildcert_acme::{Account, AuthorizationStatus, Challenge, NewOrderOptions, Order, OrderStatus};
use wildcert_dns::{ChallengeRecord, DnsName, Plan};

use super::preflight::Prepared;
use crate::error::IssueError;
use crate::model::{IssueRequest, NamedProvider, Timings, ms};
use crate::store::{CertMeta, Store, StoreLock};

/// A certificate with its order placed and its records planned.
pub(crate) struct Ordered {
    /// Position in the run's job list.
    pub index: usize,
    /// Store name.
    pub cert_name: String,
    /// The names as ordered.
    pub names: Vec<String>,
    /// The request.
    pub req: IssueRequest,
    /// The provider answering its challenges.
    pub provider: NamedProvider,
    /// The certificate's lock.
    pub _lock: StoreLock,
    /// The order.
    pub order: Order,
    /// (authorization URL, challenge) still to answer.
    pub pending: Vec<(String, Challenge)>,
    /// This certificate's records in their zones (empty when every authorization is valid).
    pub plan: Plan,
    /// Stage timings so far.
    pub timings: Timings,
    /// Zones and value counts of its records.
    pub zones: Vec<(String, usize)>,
    /// DNS queries the propagation round sent.
    pub dns_queries: u64,
}

/// Place (or resume) the order of a prepared certificate and plan its records.
pub(crate) async fn place(
    store: &Store,
    account: &Account,
    p: Prepared,
) -> Result<Ordered, (String, IssueError)> {
    let name = p.job.req.cert_name.clone();
    let fail = |e: IssueError| (name.clone(), e);
    let t = Instant::now();
    let names = p.job.req.names.as_acme();
    let order = match resume_order(account, p.meta.as_ref(), &p.job.req).await {
        Some(o) => o,
        None => new_order(account, &names, &p.job).await.map_err(fail)?,
    };
    // Record the order so a crashed run resumes it instead of placing another.
    let mut meta = p.meta.unwrap_or_else(|| CertMeta {
        names: names.clone(),
        key_type: p.job.req.key_type.as_str().to_string(),
        provider: p.job.provider.id.clone(),
        ..Default::default()
    });
    meta.pending_order = Some(order.url.clone());
    store.write_meta(&name, &meta).map_err(|e| fail(e.into()))?;

    let authzs = account
        .authorizations(&order)
        .await
        .map_err(|e| fail(e.into()))?;
    let mut records = Vec::new();
    let mut pending = Vec::new();
    for authz in &authzs {
        match authz.status() {
            AuthorizationStatus::Valid => continue,
            AuthorizationStatus::Pending => {}
            other => {
                return Err(fail(IssueError::Order(format!(
                    "authorization for {} is {other}",
                    authz.name()
                ))));
            }
        }
        let challenge = authz.require_dns01().map_err(|e| fail(e.into()))?;
        let fqdn = DnsName::parse(&authz.dns01_record_name()).map_err(|e| fail(e.into()))?;
        let value = account
            .dns01_txt_value(challenge)
            .map_err(|e| fail(e.into()))?;
        records.push(ChallengeRecord { fqdn, value });
        pending.push((authz.url.clone(), challenge.clone()));
    }
    let plan = p.skeleton.with_values(&records).map_err(|n| {
        fail(IssueError::Order(format!(
            "the CA asked for a record at {n}, which is not one of the ordered names"
        )))
    })?;
    let timings = Timings {
        order: p.preflight_ms + ms(t),
        ..Default::default()
    };
    info!(cert = %name, order = %order.url, pending = pending.len(), "order placed");
    Ok(Ordered {
        index: p.index,
        cert_name: name,
        names,
        req: p.job.req,
        provider: p.job.provider,
        _lock: p.lock,
        order,
        pending,
        plan,
        timings,
        zones: Vec::new(),
        dns_queries: 0,
    })
}

/// A pending order from an earlier, interrupted run, when it still fits the request.
async fn resume_order(
    account: &Account,
    meta: Option<&CertMeta>,
    req: &IssueRequest,
) -> Option<Order> {
    let url = meta?.pending_order.as_deref()?;
    let order = account.order(url).await.ok()?;
    let mut have = order.names();
    have.sort();
    let usable = matches!(order.status(), OrderStatus::Pending | OrderStatus::Ready)
        && req.names.sorted() == have;
    if usable {
        info!(order = %url, status = %order.status(), "resuming the order of an interrupted run");
        Some(order)
    } else {
        None
    }
}

async fn new_order(
    account: &Account,
    names: &[String],
    job: &super::Job,
) -> Result<Order, IssueError> {
    let opts = NewOrderOptions {
        profile: job.req.profile.clone(),
        replaces: job.replaces.clone(),
    };
    match account.new_order(names, &opts).await {
        Ok(o) => Ok(o),
        // A CA may refuse `replaces` (already replaced, unknown certificate): order without it,
        // as a renewal is still due.
        Err(e) if job.replaces.is_some() && e.problem().is_some() => {
            warn!("the CA refused `replaces` ({e}); ordering without it");
            let opts = NewOrderOptions {
                profile: job.req.profile.clone(),
                replaces: None,
            };
            Ok(account.new_order(names, &opts).await?)
        }
        Err(e) => Err(e.into()),
    }
}

/// After a certificate failed between ordering and validation: deactivate its pending
/// authorizations (RFC 8555 §7.5.2) so they do not linger at the CA. Best effort; nothing is
/// sent to a CA that stopped answering.
pub(crate) async fn give_up(account: &Account, o: &Ordered) {
    if account.client().is_not_answering() {
        return;
    }
    for (url, _) in &o.pending {
        match account.deactivate_authorization(url).await {
            Ok(_) => debug!(authz = %url, "authorization deactivated"),
            Err(e) => debug!(authz = %url, "could not deactivate the authorization: {e}"),
        }
    }
}
