//! One issuance, as data (DESIGN.md "One issuance"), for any number of certificates in one run.
//!
//! The stages and the types they hand on:
//! 1. [`preflight`]: lock, names, every name's zone (provider and DNS), the authoritative
//!    addresses, CAA — a [`preflight::Prepared`] certificate; nothing is ordered for a
//!    certificate that cannot be solved.
//! 2. [`order`]: place (or resume) the order, collect the challenge records — `Ordered`.
//! 3. [`solve`]: per provider, the records of every order in one plan: **one publish per zone**,
//!    one propagation round over every server, then every challenge answered — `Solved`.
//! 4. [`finish`]: finalize with a fresh key, download, verify, store — [`Issued`].
//!
//! One account, one HTTP/2 connection pool and one nonce pool serve every order; orders and
//! finalizations run `parallel` at a time. A failure is charged to the certificates it concerns
//! (a zone, a record, an order): the others of the same run, zone and batch go on.

mod finish;
mod order;
mod preflight;
mod solve;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use tracing::info;
use wildcert_acme::Account;
use wildcert_dns::PropagationProgress;

use crate::account;
use crate::config::RunConfig;
use crate::error::IssueError;
use crate::model::{IssueRequest, Issued, NamedProvider};
use crate::store::{Store, StoreError};

/// How often a run says what it is waiting for (stderr, through the log).
pub const HEARTBEAT: Duration = Duration::from_secs(30);

/// One certificate to issue in a run.
#[derive(Clone, Debug)]
pub struct Job {
    /// What to issue.
    pub req: IssueRequest,
    /// The provider answering its challenges.
    pub provider: NamedProvider,
    /// ARI CertID of the certificate this one replaces (RFC 9773 `replaces`).
    pub replaces: Option<String>,
    /// Only proceed if the stored version is still this one once the lock is held (`renew`
    /// decides before locking; another run may have stored a new version meanwhile).
    pub if_version: Option<Option<u32>>,
    /// When another run holds the certificate's lock, skip it at once ([`IssueError::Busy`])
    /// instead of waiting (`renew`: the other run is doing the work).
    pub skip_if_locked: bool,
}

impl Job {
    /// A job for `req` through `provider`, with no renewal details.
    pub fn new(req: IssueRequest, provider: NamedProvider) -> Self {
        Job {
            req,
            provider,
            replaces: None,
            if_version: None,
            skip_if_locked: false,
        }
    }
}

/// The result for one certificate.
#[derive(Debug)]
pub struct JobOutcome {
    /// Store name.
    pub cert_name: String,
    /// What happened.
    pub result: Result<Issued, IssueError>,
}

/// Issue one certificate and store it (a batch of one).
pub async fn issue(
    cfg: &RunConfig,
    req: &IssueRequest,
    provider: NamedProvider,
    progress: Option<Arc<dyn PropagationProgress>>,
) -> Result<Issued, IssueError> {
    let mut outcomes = run(cfg, vec![Job::new(req.clone(), provider)], 1, progress).await?;
    match outcomes.pop() {
        Some(o) => o.result,
        None => Err(IssueError::Order("no result".into())),
    }
}

/// Run a batch: open the store, the ACME client and the account, then issue every job.
/// The outer error means nothing could start (store, CA directory, account).
pub async fn run(
    cfg: &RunConfig,
    jobs: Vec<Job>,
    parallel: usize,
    progress: Option<Arc<dyn PropagationProgress>>,
) -> Result<Vec<JobOutcome>, IssueError> {
    let store = Store::open_with(&cfg.state_dir, &cfg.store)?;
    let client = cfg.acme_client().await?;
    let account = account::load_or_create(&store, &client, &cfg.account).await?;
    Ok(run_with(cfg, &store, &account, jobs, parallel, progress).await)
}

/// A job after stages 1 and 2: ordered, or its name and why not.
type Placed = Result<order::Ordered, (String, IssueError)>;

/// How far a run has got, for the heartbeat line.
#[derive(Default)]
struct Counts {
    total: usize,
    ordered: AtomicUsize,
    solved: AtomicUsize,
    done: AtomicUsize,
}

impl Counts {
    fn line(&self, account: &Account, elapsed: Duration) -> String {
        let done = self.done.load(Ordering::Relaxed);
        let ordered = self.ordered.load(Ordering::Relaxed);
        let solved = self.solved.load(Ordering::Relaxed);
        let waiting = if account.client().is_not_answering() {
            "the CA is not answering; finishing up"
        } else if ordered < self.total {
            "placing orders"
        } else if solved < ordered {
            "waiting for DNS and the CA's validation"
        } else {
            "waiting for the CA to issue"
        };
        format!(
            "still working after {} s: {done} of {} certificate(s) done, {ordered} ordered, {solved} validated; {waiting}",
            elapsed.as_secs(),
            self.total
        )
    }
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
    let counts = Counts {
        total: jobs.len(),
        ..Counts::default()
    };
    let work = stages(
        cfg,
        store,
        account,
        jobs,
        parallel.max(1),
        progress,
        &counts,
        started,
    );
    tokio::pin!(work);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
    loop {
        tokio::select! {
            outcomes = &mut work => return outcomes,
            _ = tick.tick() => info!("{}", counts.line(account, started.elapsed())),
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn stages(
    cfg: &RunConfig,
    store: &Store,
    account: &Account,
    jobs: Vec<Job>,
    parallel: usize,
    progress: Option<Arc<dyn PropagationProgress>>,
    counts: &Counts,
    started: Instant,
) -> Vec<JobOutcome> {
    let total = jobs.len();
    let mut outcomes: Vec<Option<JobOutcome>> = (0..total).map(|_| None).collect();

    // Stages 1 and 2: preflight, then the order, `parallel` at a time.
    let placed: Vec<(usize, Placed)> = stream::iter(jobs.into_iter().enumerate())
        .map(|(index, job)| async move {
            let r = match preflight::prepare(cfg, store, account, index, job).await {
                Ok(p) => order::place(store, account, p).await,
                Err(e) => Err(e),
            };
            if r.is_ok() {
                counts.ordered.fetch_add(1, Ordering::Relaxed);
            }
            (index, r)
        })
        .buffer_unordered(parallel)
        .collect()
        .await;
    let mut groups: BTreeMap<String, Vec<order::Ordered>> = BTreeMap::new();
    for (index, r) in placed {
        match r {
            Ok(o) => groups.entry(o.provider.id.clone()).or_default().push(o),
            Err((cert_name, e)) => {
                counts.done.fetch_add(1, Ordering::Relaxed);
                outcomes[index] = Some(JobOutcome {
                    cert_name,
                    result: Err(e),
                })
            }
        }
    }

    // Stage 3: per provider, one plan over every record.
    let solved = futures_util::future::join_all(
        groups
            .into_values()
            .map(|members| solve::solve_group(cfg, store, account, members, progress.clone())),
    )
    .await;
    let mut ready = Vec::new();
    for result in solved.into_iter().flatten() {
        match result {
            Ok(solved) => {
                counts.solved.fetch_add(1, Ordering::Relaxed);
                ready.push(solved)
            }
            Err(failed) => {
                let (ordered, e) = *failed;
                counts.done.fetch_add(1, Ordering::Relaxed);
                order::give_up(account, &ordered).await;
                outcomes[ordered.index] = Some(JobOutcome {
                    cert_name: ordered.cert_name.clone(),
                    result: Err(e),
                })
            }
        }
    }

    // Stage 4: finalize, download, verify, store, `parallel` at a time.
    let finished: Vec<(usize, String, Result<Issued, IssueError>)> = stream::iter(ready)
        .map(|s| async move {
            let (index, name) = (s.index(), s.cert_name().to_string());
            let r = finish::finish(store, account, s, started).await;
            counts.done.fetch_add(1, Ordering::Relaxed);
            (index, name, r)
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
    // Once the CA stopped answering, say so for every certificate it failed, whatever request
    // was the one cut off.
    let outcomes: Vec<JobOutcome> = if account.client().is_not_answering() {
        outcomes
            .into_iter()
            .map(|mut o| {
                o.result = o.result.map_err(not_answering);
                o
            })
            .collect()
    } else {
        outcomes
    };
    // Record failures next to the certificates; a working live/ stays untouched.
    for o in &outcomes {
        if let Err(e) = &o.result
            && !matches!(e, IssueError::Busy { .. } | IssueError::Superseded(_))
        {
            record_failure(store, &o.cert_name, e);
        }
    }
    outcomes
}

/// Run blocking store work (files written and fsynced) on tokio's blocking pool. Every stage
/// drives its certificates in one task (`buffer_unordered`), so an fsync run there stalls all
/// of them: a run's `parallel` certificates were stored one after the other, each waiting for
/// the disk (wildcert-bench, docs/benchmarks.md).
///
/// `held` (the certificate's lock) goes with the work and comes back after it: a run dropped
/// meanwhile (a signal) cannot release the lock while the files are still being written.
pub(crate) async fn on_store<T: Send + 'static, H: Send + 'static>(
    store: &Store,
    held: H,
    work: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<(T, H), StoreError> {
    let store = store.clone();
    let root = store.root().to_path_buf();
    match tokio::task::spawn_blocking(move || (work(&store), held)).await {
        Ok((Ok(t), held)) => Ok((t, held)),
        Ok((Err(e), _)) => Err(e),
        Err(e) => Err(StoreError::Io {
            op: "write the store",
            path: root,
            source: std::io::Error::other(e.to_string()),
        }),
    }
}

/// Record a failed attempt in a stored certificate's `meta.json` (its last error and when,
/// for `show` and the metrics); a certificate not stored yet has nowhere to keep it.
pub fn record_failure(store: &Store, cert_name: &str, e: &IssueError) {
    if let Ok(Some(mut meta)) = store.read_meta(cert_name) {
        meta.last_error = Some(e.to_string());
        meta.last_failure_at = Some(crate::verify::rfc3339(time::OffsetDateTime::now_utc()));
        let _ = store.write_meta(cert_name, &meta);
    }
}

/// A transport failure of a run whose CA stopped answering, as "not answering".
fn not_answering(e: IssueError) -> IssueError {
    use wildcert_acme::{Error as A, TransportKind as K};
    match e {
        IssueError::Acme(a @ A::CaNotAnswering { .. }) => IssueError::CaNotAnswering(a.to_string()),
        IssueError::Acme(
            a @ A::Http {
                kind: K::Timeout | K::Connect,
                ..
            },
        ) => IssueError::CaNotAnswering(a.to_string()),
        other => other,
    }
}
