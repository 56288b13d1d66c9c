//! Stage 2: place the order (or resume an interrupted run's), read its authorizations and turn
//! each pending dns-01 challenge into a record placed in the preflight's plan.

use std::time::Instant;

use std::collections::BTreeSet;
use tracing::{debug, info, warn};

use wildcert_acme::{
    Account, Authorization, AuthorizationStatus, Challenge, NewOrderOptions, Order, OrderStatus,
    ValidationMethod,
};
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
    /// The methods its authorizations are validated with.
    pub methods: BTreeSet<ValidationMethod>,
    /// When an earlier attempt last failed (`meta.json` as read under the lock), carried into
    /// the stored version's metadata without reading `meta.json` again.
    pub last_failure_at: Option<String>,
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
    let finalized_key = crate::store::cert_key(&name, super::finish::PENDING_KEY)
        .ok()
        .and_then(|k| crate::store::Storage::load(store, &k).ok())
        .is_some_and(|k| k.is_some());
    let order = match resume_order(account, p.meta.as_ref(), &p.job.req, finalized_key).await {
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
    let last_failure_at = meta.last_failure_at.clone();
    let n = name.clone();
    let ((), lock) = super::on_store(store, p.lock, move |s| s.write_meta(&n, &meta))
        .await
        .map_err(|e| fail(e.into()))?;

    let collected = async {
        let authzs = account.authorizations(&order).await?;
        let mut records = Vec::new();
        let mut pending = Vec::new();
        let mut methods = BTreeSet::new();
        for authz in &authzs {
            match authz.status() {
                AuthorizationStatus::Valid => continue,
                AuthorizationStatus::Pending => {}
                other => {
                    return Err(IssueError::Order(format!(
                        "authorization for {} is {other}",
                        authz.name()
                    )));
                }
            }
            let planned = p
                .methods
                .get(&authz.name())
                .copied()
                .unwrap_or(ValidationMethod::Dns01);
            let (method, challenge) = choose(authz, planned, p.job.req.challenge)?;
            if method.publishes_per_order() {
                let fqdn = DnsName::parse(&account.record_name(authz, method))?;
                let value = account.challenge_txt_value(challenge)?;
                records.push(ChallengeRecord { fqdn, value });
            }
            methods.insert(method);
            pending.push((authz.url.clone(), challenge.clone()));
        }
        let plan = p.skeleton.with_values(&records).map_err(|n| {
            IssueError::Order(format!(
                "the CA asked for a record at {n}, which is not one of the ordered names"
            ))
        })?;
        Ok((plan, pending, methods))
    }
    .await;
    let (plan, pending, methods) = match collected {
        Ok(x) => x,
        Err(e) => {
            // The order exists at the CA: leave none of its authorizations pending.
            deactivate_pending(account, &order).await;
            return Err(fail(e));
        }
    };
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
        _lock: lock,
        order,
        pending,
        plan,
        timings,
        zones: Vec::new(),
        dns_queries: 0,
        methods,
        last_failure_at,
    })
}

/// The challenge to answer for `authz`: the planned method; with `auto`, dns-01 when the CA
/// does not offer dns-persist-01 for it. Otherwise the error names the methods it offers.
fn choose(
    authz: &Authorization,
    planned: ValidationMethod,
    choice: crate::model::ChallengeChoice,
) -> Result<(ValidationMethod, &Challenge), IssueError> {
    if choice == crate::model::ChallengeChoice::Auto {
        if planned == ValidationMethod::DnsPersist01 && !authz.offers(planned) {
            info!(name = %authz.name(), "auto: the CA does not offer dns-persist-01 here; dns-01");
        }
        let prefs: &[ValidationMethod] = if planned == ValidationMethod::DnsPersist01 {
            &[ValidationMethod::DnsPersist01, ValidationMethod::Dns01]
        } else {
            &[ValidationMethod::Dns01]
        };
        return Ok(authz.choose(prefs)?);
    }
    Ok((planned, authz.require_challenge(planned)?))
}

/// A pending order from an earlier, interrupted run, when it still fits the request.
/// With `key_journaled`, also one that run finalized (`processing` or `valid`): its
/// certificate is fetched with the journaled key instead of being ordered again.
async fn resume_order(
    account: &Account,
    meta: Option<&CertMeta>,
    req: &IssueRequest,
    key_journaled: bool,
) -> Option<Order> {
    let url = meta?.pending_order.as_deref()?;
    let order = account.order(url).await.ok()?;
    let mut have = order.names();
    have.sort();
    let status_ok = match order.status() {
        OrderStatus::Pending | OrderStatus::Ready => true,
        OrderStatus::Processing | OrderStatus::Valid => key_journaled,
        _ => false,
    };
    let usable = status_ok && req.names.sorted() == have;
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
    deactivate_pending(account, &o.order).await;
}

/// Deactivate every authorization of `order` that is still pending (each one's state is read
/// first, so none the CA already validated or failed is touched). Best effort.
async fn deactivate_pending(account: &Account, order: &Order) {
    if account.client().is_not_answering() {
        return;
    }
    let done = account.deactivate_pending_authorizations(order).await;
    let deactivated = done.iter().filter(|d| d.deactivated()).count();
    debug!(order = %order.url, deactivated, "pending authorizations of the failed order deactivated");
}
