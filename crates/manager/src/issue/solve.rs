//! Stage 3: the records of every order that uses one provider, in one plan: one publish per
//! zone, one propagation round over every authoritative server, then every challenge answered
//! at once; the records are removed again whatever happened. A failure is charged to the
//! certificates whose records it concerns: a zone the provider refused fails the certificates
//! with records in that zone, a value some server never served fails the certificates that
//! need it, and the others are answered.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::try_join_all;
use futures_util::stream::{self, StreamExt};
use tracing::{info, warn};
use wildcert_acme::Account;
use wildcert_dns::{Dns01, Dns01Error, DnsName, Plan, PropagationProgress, Published};

use super::order::Ordered;
use crate::config::RunConfig;
use crate::error::{ExitCode, IssueError};
use crate::journal;
use crate::model::{CA_WAIT, ms};
use crate::store::Store;

/// Members whose challenges are answered (and authorizations waited for) at once.
const ANSWERS_AT_ONCE: usize = 256;

/// A certificate whose authorizations are all valid: ready to finalize.
pub(crate) struct Solved(pub(crate) Ordered);

impl Solved {
    /// Position in the run's job list.
    pub(crate) fn index(&self) -> usize {
        self.0.index
    }

    /// Store name.
    pub(crate) fn cert_name(&self) -> &str {
        &self.0.cert_name
    }
}

/// What became of one member of the group: solved, or the member and why it failed.
pub(crate) type MemberResult = Result<Solved, Box<(Ordered, IssueError)>>;

/// Publish, wait for and answer every record of the group's orders (one provider); clean up.
pub(crate) async fn solve_group(
    cfg: &RunConfig,
    store: &Store,
    account: &Account,
    members: Vec<Ordered>,
    progress: Option<Arc<dyn PropagationProgress>>,
) -> Vec<MemberResult> {
    let Some(provider) = members.first().map(|m| m.provider.clone()) else {
        return Vec::new();
    };
    let mut plan = Plan {
        provider: provider.dns.name().to_string(),
        ..Plan::default()
    };
    for m in &members {
        plan.merge(m.plan.clone());
    }
    // Failures so far, per member (same order as `members`).
    let mut failed: Vec<Option<IssueError>> = members.iter().map(|_| None).collect();
    if plan.is_empty() {
        // Nothing to publish: every authorization was valid already (reused by the CA), or
        // validated by a standing dns-persist-01 record. Answer what is pending.
        let answers: Vec<_> = stream::iter(&members)
            .map(|m| async move {
                if m.pending.is_empty() {
                    None
                } else {
                    Some(answer(account, m).await)
                }
            })
            .buffered(ANSWERS_AT_ONCE)
            .collect()
            .await;
        return settle(members, failed, answers);
    }
    let mut dns = Dns01::new(provider.dns.clone(), cfg.dns.clone());
    if let Some(p) = progress {
        dns = dns.with_progress(p);
    }
    let entry = match journal::record(store, &provider.id, provider.credentials.as_deref(), &plan) {
        Ok(e) => e,
        Err(e) => {
            let e = IssueError::Store(e);
            let failed = members.iter().map(|_| Some(e.share())).collect();
            return settle(members, failed, Vec::new());
        }
    };
    let t = Instant::now();
    let (published, refused) = dns.publish_each(&plan).await;
    let publish_ms = ms(t);
    for (zone, e) in refused {
        let e = IssueError::Dns(e);
        charge(&members, &mut failed, &e, |m| {
            m.plan.zones.iter().any(|z| z.zone.to_string() == zone)
        });
    }

    let t = Instant::now();
    let queries = wait(&dns, &members, &mut failed, published).await;
    let propagation_ms = ms(t);
    charge_lost(&members, &mut failed);
    // Answered ANSWERS_AT_ONCE at a time: every member at once held 10,000 answer futures
    // and their HTTP exchanges in a 10,000-certificate run.
    let answers: Vec<_> = stream::iter(members.iter().zip(&failed))
        .map(|(m, f)| async move {
            match f {
                Some(_) => None,
                None => Some(answer(account, m).await),
            }
        })
        .buffered(ANSWERS_AT_ONCE)
        .collect()
        .await;

    // Always remove what we published: on success, on failure.
    match dns.cleanup(&plan).await {
        Ok(()) => {
            if let Err(e) = entry.remove() {
                warn!(
                    "the records were removed, but not their journal entry ({e}); the next run removes it"
                );
            }
        }
        Err(e) if cfg.rehearsal => {
            // The dry run's journal goes with its throwaway store: nothing would ever remove
            // these records, so the run fails and names them.
            let names: Vec<String> = plan
                .zones
                .iter()
                .flat_map(|z| z.records.names().map(|n| n.to_string()))
                .collect();
            let failure = IssueError::Shared {
                message: format!(
                    "dry run: {e}; still published, and no journal keeps them: {}",
                    names.join(", ")
                ),
                hint:
                    "remove those TXT values by hand (a dry run's journal is not kept), then fix \
                       what refused the cleanup"
                        .into(),
                code: ExitCode::Dns,
            };
            for f in failed.iter_mut().filter(|f| f.is_none()) {
                *f = Some(failure.share());
            }
        }
        Err(e) => warn!("{e}; the journal keeps the records for the next run to remove"),
    }
    let mut members = members;
    for m in members.iter_mut() {
        m.timings.publish = publish_ms;
        m.timings.propagation = propagation_ms;
        m.zones = m
            .plan
            .zones
            .iter()
            .map(|z| (z.zone.name.to_string(), z.records.len()))
            .collect();
        m.dns_queries = queries;
    }
    settle(members, failed, answers)
}

/// Wait until every server serves every value that was published for members still in the
/// race; charge what is missing to the members that need it. Returns the queries sent.
async fn wait(
    dns: &Dns01,
    members: &[Ordered],
    failed: &mut [Option<IssueError>],
    mut published: Published,
) -> u64 {
    // A zone whose change the provider could not confirm (Route53 INSYNC) is dropped and the
    // rest waited for again: at most once per zone.
    for _ in 0..=published.plan.zones.len() {
        if published.plan.is_empty() {
            return 0;
        }
        // A bastion frozen past its leases (SIGSTOP, a paused VM) wakes up here with its
        // certificates renewed by another: it stops waiting for them at once.
        let waited = tokio::select! {
            r = dns.wait_propagated(&published) => Some(r),
            () = leases_lost(members, failed) => None,
        };
        let Some(waited) = waited else {
            charge_lost(members, failed);
            return 0;
        };
        match waited {
            Ok(report) => {
                info!(
                    ms = u64::try_from(report.elapsed.as_millis()).unwrap_or(u64::MAX),
                    servers = report.servers.len(),
                    "every authoritative server serves every value"
                );
                return report.queries;
            }
            Err(Dns01Error::Provider { zone, source }) => {
                let e = IssueError::Dns(Dns01Error::Provider {
                    zone: zone.clone(),
                    source,
                });
                charge(members, failed, &e, |m| {
                    m.plan.zones.iter().any(|z| z.zone.to_string() == zone)
                });
                let rest = published.plan.without_zone(&zone);
                let applied = published
                    .plan
                    .zones
                    .iter()
                    .zip(published.applied)
                    .filter(|(z, _)| z.zone.to_string() != zone)
                    .map(|(_, a)| a)
                    .collect();
                published = Published {
                    plan: rest,
                    applied,
                };
            }
            Err(Dns01Error::Propagation(p)) => {
                let unserved = published.plan.unserved(&p);
                let e = IssueError::Dns(Dns01Error::Propagation(p));
                charge(members, failed, &e, |m| needs_any(&m.plan, &unserved));
                return 0;
            }
            Err(other) => {
                let e = IssueError::Dns(other);
                charge(members, failed, &e, |_| true);
                return 0;
            }
        }
    }
    0
}

/// How often a propagation wait looks whether its certificates' leases were lost.
const LEASE_CHECK: Duration = Duration::from_millis(250);

/// Resolves once every member still in the race has lost its certificate's lease (a
/// database lock taken over by another bastion); never for file locks.
async fn leases_lost(members: &[Ordered], failed: &[Option<IssueError>]) {
    let mut tick = tokio::time::interval(LEASE_CHECK);
    loop {
        tick.tick().await;
        let mut racing = members
            .iter()
            .zip(failed)
            .filter(|(_, f)| f.is_none())
            .peekable();
        if racing.peek().is_some() && racing.all(|(m, _)| m._lock.lost().is_some()) {
            return;
        }
    }
}

/// Charge every member whose lease was lost with that: nothing more is done for it (its
/// challenges are not answered, nothing is stored), its records are removed with the rest.
fn charge_lost(members: &[Ordered], failed: &mut [Option<IssueError>]) {
    for (m, f) in members.iter().zip(failed.iter_mut()) {
        if f.is_none()
            && let Some(e) = m._lock.lost()
        {
            warn!(cert = %m.cert_name, "stopped: {e}");
            *f = Some(IssueError::Store(e));
        }
    }
}

/// True when one of the plan's (published name, value) pairs is in `unserved`.
fn needs_any(plan: &Plan, unserved: &BTreeSet<(DnsName, String)>) -> bool {
    plan.zones.iter().any(|z| {
        z.records
            .pairs()
            .any(|(n, v)| unserved.contains(&(n.clone(), v.to_string())))
    })
}

/// Charge `e` to every member still in the race that `concerns`.
fn charge(
    members: &[Ordered],
    failed: &mut [Option<IssueError>],
    e: &IssueError,
    concerns: impl Fn(&Ordered) -> bool,
) {
    for (m, f) in members.iter().zip(failed.iter_mut()) {
        if f.is_none() && concerns(m) {
            warn!(cert = %m.cert_name, "{e}");
            *f = Some(e.share());
        }
    }
}

/// Pair every member with its result.
fn settle(
    members: Vec<Ordered>,
    failed: Vec<Option<IssueError>>,
    answers: Vec<Option<(u64, Result<(), IssueError>)>>,
) -> Vec<MemberResult> {
    let mut answers = answers.into_iter();
    members
        .into_iter()
        .zip(failed)
        .map(|(mut m, f)| {
            let answer = answers.next().flatten();
            let result = match (f, answer) {
                (Some(e), _) => Err(e),
                (None, Some((ms_, r))) => {
                    m.timings.validation = ms_;
                    r
                }
                (None, None) => Ok(()),
            };
            match result {
                Ok(()) => Ok(Solved(m)),
                Err(e) => Err(Box::new((m, e))),
            }
        })
        .collect()
}

/// Answer one order's challenges and wait for its authorizations; returns (ms, result).
async fn answer(account: &Account, m: &Ordered) -> (u64, Result<(), IssueError>) {
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
