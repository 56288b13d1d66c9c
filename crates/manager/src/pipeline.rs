//! The issuance pipeline for any number of certificates in one run.
//!
//! One account, one HTTP/2 connection pool and one nonce pool serve every order. The records
//! of all orders that use one provider are merged into one plan: **one publish per zone**, one
//! propagation round that checks every server for every value, then every challenge is
//! answered at once. Orders and finalizations run with bounded concurrency (`parallel`).
//! A failure in one certificate never stops the others.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use futures_util::future::{join_all, try_join_all};
use futures_util::stream::{self, StreamExt};
use tracing::{info, warn};
use wildcert_acme::{
    Account, AuthorizationStatus, CertKey, Challenge, NewOrderOptions, Order, OrderStatus,
};
use wildcert_dns::{ChallengeRecord, Dns01, DnsName, DnsProvider, Identifier, PropagationProgress};

use crate::account;
use crate::error::IssueError;
use crate::issue::{
    CA_WAIT, IssueRequest, Issued, LOCK_WAIT, RunConfig, Timings, acme_client, ms, validate,
};
use crate::journal;
use crate::store::{CertFiles, CertMeta, Store, StoreLock};
use crate::verify;

/// One certificate to issue in a run.
#[derive(Clone)]
pub struct Job {
    /// What to issue.
    pub req: IssueRequest,
    /// The provider answering its challenges.
    pub provider: Arc<dyn DnsProvider>,
    /// ARI CertID of the certificate this one replaces (RFC 9773 `replaces`).
    pub replaces: Option<String>,
    /// Only proceed if the stored version is still this one once the lock is held (`renew`
    /// decides before locking; another run may have stored a new version meanwhile).
    pub if_version: Option<Option<u32>>,
    /// When another run holds the certificate's lock, skip it at once ([`IssueError::Busy`])
    /// instead of waiting (`renew`: the other run is doing the work).
    pub skip_if_locked: bool,
}

/// The result for one certificate.
#[derive(Debug)]
pub struct JobOutcome {
    /// Store name.
    pub cert_name: String,
    /// What happened.
    pub result: Result<Issued, IssueError>,
}

/// The outcome of placing one job's order: the active job, or its name and error.
type PlaceResult = Result<Active, (String, IssueError)>;

/// A job with its order placed.
struct Active {
    index: usize,
    cert_name: String,
    names: Vec<String>,
    req: IssueRequest,
    provider: Arc<dyn DnsProvider>,
    _lock: StoreLock,
    order: Order,
    pending: Vec<(String, Challenge)>,
    records: Vec<ChallengeRecord>,
    timings: Timings,
    zones: Vec<(String, usize)>,
    dns_queries: u64,
}

/// Run a batch: open the store, the ACME client and the account, then issue every job.
/// The outer error means nothing could start (store, CA directory, account).
pub async fn run(
    cfg: &RunConfig,
    jobs: Vec<Job>,
    parallel: usize,
    progress: Option<Arc<dyn PropagationProgress>>,
) -> Result<Vec<JobOutcome>, IssueError> {
    let store = Store::open(&cfg.state_dir)?;
    let client = acme_client(cfg).await?;
    let account = account::load_or_create(&store, &client, &cfg.account).await?;
    Ok(run_with(cfg, &store, &account, jobs, parallel, progress).await)
}

/// Issue every job with an existing store and account. Outcomes come back in job order.
pub async fn run_with(
    cfg: &RunConfig,
    store: &Store,
    account: &Account,
    jobs: Vec<Job>,
    parallel: usize,
    progress: Option<Arc<dyn PropagationProgress>>,
) -> Vec<JobOutcome> {
    let started = Instant::now();
    let parallel = parallel.max(1);
    let total = jobs.len();
    let mut outcomes: Vec<Option<JobOutcome>> = (0..total).map(|_| None).collect();

    // Stage 1: orders and authorizations, `parallel` at a time.
    let placed: Vec<(usize, PlaceResult)> = stream::iter(jobs.into_iter().enumerate())
        .map(|(index, job)| async move {
            // CAA first: never place an order that cannot succeed (`[dns] caa_check`).
            if let Err(e) = crate::check::caa_gate(cfg, account, &job.req).await {
                return (index, Err(e));
            }
            (index, place_order(store, account, index, job).await)
        })
        .buffer_unordered(parallel)
        .collect()
        .await;
    let mut groups: BTreeMap<String, Vec<Active>> = BTreeMap::new();
    for (index, r) in placed {
        match r {
            Ok(a) => groups.entry(a.req.provider_id.clone()).or_default().push(a),
            Err((cert_name, e)) => {
                outcomes[index] = Some(JobOutcome {
                    cert_name,
                    result: Err(e),
                })
            }
        }
    }

    // Stage 2: per provider, one plan over every record: publish per zone, wait, answer, clean up.
    let solved = join_all(
        groups
            .into_values()
            .map(|members| solve_group(cfg, store, account, members, progress.clone())),
    )
    .await;

    // Stage 3: finalize, download, verify, store, `parallel` at a time.
    let mut ready = Vec::new();
    for (active, result) in solved.into_iter().flatten() {
        match result {
            Ok(()) => ready.push(active),
            Err(e) => {
                outcomes[active.index] = Some(JobOutcome {
                    cert_name: active.cert_name.clone(),
                    result: Err(e),
                })
            }
        }
    }
    let finished: Vec<(usize, String, Result<Issued, IssueError>)> = stream::iter(ready)
        .map(|a| async move {
            let (index, name) = (a.index, a.cert_name.clone());
            (index, name, finish(store, account, a, started).await)
        })
        .buffer_unordered(parallel)
        .collect()
        .await;
    for (index, cert_name, result) in finished {
        outcomes[index] = Some(JobOutcome { cert_name, result });
    }
    let outcomes: Vec<JobOutcome> = outcomes
        .into_iter()
        .map(|o| {
            o.unwrap_or_else(|| JobOutcome {
                cert_name: String::new(),
                result: Err(IssueError::Order("lost".into())),
            })
        })
        .collect();
    // Record failures next to the certificates; a working live/ stays untouched.
    for o in &outcomes {
        if let Err(e) = &o.result
            && let Ok(Some(mut meta)) = store.read_meta(&o.cert_name)
        {
            meta.last_error = Some(e.to_string());
            let _ = store.write_meta(&o.cert_name, &meta);
        }
    }
    let _ = cfg;
    outcomes
}

/// Lock, place (or resume) the order, collect the dns-01 records.
async fn place_order(
    store: &Store,
    account: &Account,
    index: usize,
    job: Job,
) -> Result<Active, (String, IssueError)> {
    let fallback_name = job
        .req
        .cert_name
        .clone()
        .or_else(|| job.req.names.first().cloned())
        .unwrap_or_default();
    let v = validate(&job.req).map_err(|e| (fallback_name, e))?;
    let name = v.cert_name.clone();
    let fail = |e: IssueError| (name.clone(), e);
    let wait = if job.skip_if_locked {
        std::time::Duration::ZERO
    } else {
        LOCK_WAIT
    };
    let lock = match store.lock(&v.cert_name, wait).await {
        Ok(l) => l,
        Err(crate::store::StoreError::Locked { .. }) if job.skip_if_locked => {
            return Err(fail(IssueError::Busy(v.cert_name.clone())));
        }
        Err(e) => return Err(fail(e.into())),
    };
    let t = Instant::now();
    let names: Vec<String> = v.identifiers.iter().map(Identifier::as_acme).collect();
    let meta = store.read_meta(&v.cert_name).map_err(|e| fail(e.into()))?;
    if let Some(expected) = job.if_version {
        let now = meta.as_ref().and_then(|m| m.version);
        if now != expected {
            return Err(fail(IssueError::Superseded(v.cert_name.clone())));
        }
    }
    let order = match resume_order(account, meta.as_ref(), &names).await {
        Some(o) => o,
        None => new_order(account, &names, &job).await.map_err(fail)?,
    };
    // Record the order so a crashed run resumes it instead of placing another.
    let mut meta = meta.unwrap_or_else(|| CertMeta {
        names: names.clone(),
        key_type: job.req.key_type.as_str().to_string(),
        provider: job.req.provider_id.clone(),
        ..Default::default()
    });
    meta.pending_order = Some(order.url.clone());
    store
        .write_meta(&v.cert_name, &meta)
        .map_err(|e| fail(e.into()))?;

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
    let timings = Timings {
        order: ms(t),
        ..Default::default()
    };
    info!(cert = %v.cert_name, order = %order.url, pending = pending.len(), "order placed");
    Ok(Active {
        index,
        cert_name: v.cert_name,
        names,
        req: job.req,
        provider: job.provider,
        _lock: lock,
        order,
        pending,
        records,
        timings,
        zones: Vec::new(),
        dns_queries: 0,
    })
}

/// A pending order from an earlier, interrupted run, when it still fits the request.
async fn resume_order(
    account: &Account,
    meta: Option<&CertMeta>,
    names: &[String],
) -> Option<Order> {
    let url = meta?.pending_order.as_deref()?;
    let order = account.order(url).await.ok()?;
    let mut want: Vec<String> = names.to_vec();
    let mut have = order.names();
    want.sort();
    have.sort();
    let usable =
        matches!(order.status(), OrderStatus::Pending | OrderStatus::Ready) && want == have;
    if usable {
        info!(order = %url, status = %order.status(), "resuming the order of an interrupted run");
        Some(order)
    } else {
        None
    }
}

async fn new_order(account: &Account, names: &[String], job: &Job) -> Result<Order, IssueError> {
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

/// Publish every record of the group's orders (one provider), wait, answer, clean up.
async fn solve_group(
    cfg: &RunConfig,
    store: &Store,
    account: &Account,
    mut members: Vec<Active>,
    progress: Option<Arc<dyn PropagationProgress>>,
) -> Vec<(Active, Result<(), IssueError>)> {
    let records: Vec<ChallengeRecord> = members
        .iter()
        .flat_map(|m| m.records.iter().cloned())
        .collect();
    if records.is_empty() {
        return members.into_iter().map(|m| (m, Ok(()))).collect();
    }
    let Some(provider) = members.first().map(|m| m.provider.clone()) else {
        return Vec::new();
    };
    let provider_id = members
        .first()
        .map(|m| m.req.provider_id.clone())
        .unwrap_or_default();
    let mut dns = Dns01::new(provider, cfg.dns.clone());
    if let Some(p) = progress {
        dns = dns.with_progress(p);
    }
    let t = Instant::now();
    let plan = match dns.plan(&records).await {
        Ok(p) => p,
        Err(e) => return fail_all(members, IssueError::Dns(e)),
    };
    let zones: Vec<(String, usize)> = plan
        .zones
        .iter()
        .map(|z| (z.zone.name.to_string(), z.records.len()))
        .collect();
    let entry = match journal::record(store, &provider_id, &plan) {
        Ok(e) => e,
        Err(e) => return fail_all(members, IssueError::Store(e)),
    };
    let published = dns.publish(&plan).await;
    let publish_ms = ms(t);
    let (shared, answers) = match published {
        Err(e) => (Err(IssueError::Dns(e)), Vec::new()),
        Ok(published) => {
            let t = Instant::now();
            match dns.wait_propagated(&published).await {
                Err(e) => (Err(IssueError::Dns(e)), Vec::new()),
                Ok(report) => {
                    let propagation_ms = ms(t);
                    info!(
                        ms = propagation_ms,
                        servers = report.servers.len(),
                        "every authoritative server serves every value"
                    );
                    let answers = join_all(members.iter().map(|m| answer(account, m))).await;
                    for m in members.iter_mut() {
                        m.timings.publish = publish_ms;
                        m.timings.propagation = propagation_ms;
                        m.zones = zones_of(&m.records, &plan);
                        m.dns_queries = report.queries;
                    }
                    (Ok(()), answers)
                }
            }
        }
    };
    // Always remove what we published: on success, on failure.
    match dns.cleanup(&plan).await {
        Ok(()) => {
            if let Err(e) = entry.remove() {
                warn!("{e}");
            }
        }
        Err(e) => warn!("{e}; the journal keeps the records for the next run to remove"),
    }
    let _ = zones;
    match shared {
        Err(e) => fail_all(members, e),
        Ok(()) => members
            .into_iter()
            .zip(answers)
            .map(|(mut m, (ms_, r))| {
                m.timings.validation = ms_;
                (m, r)
            })
            .collect(),
    }
}

/// Answer one order's challenges and wait for its authorizations; returns (ms, result).
async fn answer(account: &Account, m: &Active) -> (u64, Result<(), IssueError>) {
    let t = Instant::now();
    let result = async {
        try_join_all(m.pending.iter().map(|(_, ch)| account.respond(ch))).await?;
        let deadline = wildcert_acme::Instant::now() + CA_WAIT;
        try_join_all(
            m.pending
                .iter()
                .map(|(url, _)| account.wait_authorization(url, deadline)),
        )
        .await?;
        Ok::<(), IssueError>(())
    }
    .await;
    (ms(t), result)
}

/// The zones (and value counts) that carry one order's records.
fn zones_of(records: &[ChallengeRecord], plan: &wildcert_dns::Plan) -> Vec<(String, usize)> {
    let delegated = |r: &ChallengeRecord| -> DnsName {
        plan.delegations
            .iter()
            .find(|d| d.from == r.fqdn)
            .map(|d| d.target().clone())
            .unwrap_or_else(|| r.fqdn.clone())
    };
    let mut out: BTreeMap<String, usize> = BTreeMap::new();
    for r in records {
        let name = delegated(r);
        if let Some(z) = plan
            .zones
            .iter()
            .filter(|z| name.is_within(&z.zone.name))
            .max_by_key(|z| z.zone.name.label_count())
        {
            *out.entry(z.zone.name.to_string()).or_default() += 1;
        }
    }
    out.into_iter().collect()
}

fn fail_all(members: Vec<Active>, e: IssueError) -> Vec<(Active, Result<(), IssueError>)> {
    let shared = e.share();
    members
        .into_iter()
        .map(|m| (m, Err(shared.share())))
        .collect()
}

/// Finalize with a fresh key, download, verify, store atomically.
async fn finish(
    store: &Store,
    account: &Account,
    mut a: Active,
    started: Instant,
) -> Result<Issued, IssueError> {
    let t = Instant::now();
    let deadline = wildcert_acme::Instant::now() + CA_WAIT;
    let order = account.wait_order_ready(&a.order.url, deadline).await?;
    let key = CertKey::generate(a.req.key_type)?;
    let order = account.finalize_and_wait(&order, &key, deadline).await?;
    let chain = account
        .download_certificate(&order, a.req.preferred_chain.as_deref())
        .await?;
    a.timings.finalize = ms(t);

    // Check before it may replace live/.
    let info = verify::verify(&chain.fullchain_pem(), key.public_key_raw(), &a.names)?;
    let files = CertFiles {
        cert: info.leaf_pem.clone(),
        chain: info.chain_pem.clone(),
        privkey: key.to_pem(),
    };
    let ari = wildcert_acme::CertId::from_pem(&info.leaf_pem)
        .ok()
        .map(|c| c.as_str().to_string());
    let mut meta = CertMeta {
        names: a.names.clone(),
        key_type: a.req.key_type.as_str().to_string(),
        provider: a.req.provider_id.clone(),
        version: None,
        order_url: Some(order.url.clone()),
        ari_cert_id: ari,
        issued_at: Some(verify::rfc3339(time::OffsetDateTime::now_utc())),
        not_before: Some(verify::rfc3339(info.not_before)),
        not_after: Some(verify::rfc3339(info.not_after)),
        server: Some(account.client().directory_url().to_string()),
        // With ARI, the next `renew` asks the CA for its window (RFC 9773).
        ari_next_check: account
            .client()
            .directory()
            .renewal_info
            .is_some()
            .then(|| verify::rfc3339(time::OffsetDateTime::now_utc())),
        ..Default::default()
    };
    // The version's own meta.json is written inside archive/<n> before live flips; the
    // top-level one follows (a crash in between is reconciled by the store's reader).
    let version = store.install(&a.cert_name, &files, &meta, &a.req.key_perms)?;
    meta.version = Some(version);
    store.write_meta(&a.cert_name, &meta)?;
    a.timings.total = ms(started);
    info!(cert = %a.cert_name, version, ms = a.timings.total, "certificate stored");
    Ok(Issued {
        cert_name: a.cert_name.clone(),
        version,
        live_dir: store.live_dir(&a.cert_name)?,
        names: a.names,
        key_type: a.req.key_type.as_str().to_string(),
        not_before: verify::rfc3339(info.not_before),
        not_after: verify::rfc3339(info.not_after),
        issuer: info.issuer_cn,
        serial: info.serial_hex,
        order_url: order.url,
        timings_ms: a.timings,
        zones: a.zones,
        acme_requests: account.client().requests_sent(),
        dns_queries: a.dns_queries,
    })
}
