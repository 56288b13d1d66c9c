//! The propagation checker: asks every address of every authoritative nameserver directly
//! (RD=0, UDP with TCP on truncation, no cache) until each returns every expected TXT value.
//!
//! It never asks a recursive resolver for the TXT records (a resolver asked too early caches
//! the NXDOMAIN for the negative TTL, RFC 2308). It polls every 250 ms for the first 30 s, then every 2 s, and its
//! verdict names each server and what it still lacks.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::join_all;
use futures_util::stream::{self, StreamExt};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::discovery::AuthServer;
use crate::name::DnsName;
use crate::query::{self, rcode_name};
use crate::record::TxtSet;

/// Default bound on the whole wait.
pub const DEFAULT_PROPAGATION_TIMEOUT: Duration = Duration::from_secs(120);

/// What one zone must show on each of its servers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckTarget {
    /// The zone (for reports).
    pub zone: DnsName,
    /// Every address to ask.
    pub servers: Vec<AuthServer>,
    /// The values every server must return (foreign extra values are fine).
    pub expected: TxtSet,
}

/// Pause between polls of one server during the fast first phase: a secondary that picks up
/// a change on its refresh timer is seen within this much of its zone transfer.
pub const FAST_INTERVAL: Duration = Duration::from_millis(250);
/// How long the checker polls at [`FAST_INTERVAL`] before slowing down.
pub const FAST_PHASE: Duration = Duration::from_secs(30);
/// Pause between polls of one server after the fast phase.
pub const SLOW_INTERVAL: Duration = Duration::from_secs(2);

/// How long every server of a zone may refuse connections (or be unreachable, or time out)
/// before that zone fails: nothing will come from waiting longer.
pub const UNREACHABLE_AFTER: Duration = Duration::from_secs(15);

/// Timing of the checker.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckerSettings {
    /// Bound on the whole wait.
    pub timeout: Duration,
    /// Bound on one query to one server.
    pub query_timeout: Duration,
    /// Time between the starts of two polls of one server during the first `fast_phase`.
    pub fast_interval: Duration,
    /// How long to poll every `fast_interval`, counted from the start of the wait.
    pub fast_phase: Duration,
    /// Time between the starts of two polls of one server after the fast phase.
    pub slow_interval: Duration,
    /// How often progress is logged and reported.
    pub report_every: Duration,
    /// A zone every server of which has failed every poll (refused, unreachable, timed
    /// out) for this long fails at once instead of waiting for `timeout`.
    pub unreachable_after: Duration,
}

impl Default for CheckerSettings {
    fn default() -> Self {
        CheckerSettings {
            timeout: DEFAULT_PROPAGATION_TIMEOUT,
            query_timeout: query::DEFAULT_QUERY_TIMEOUT,
            fast_interval: FAST_INTERVAL,
            fast_phase: FAST_PHASE,
            slow_interval: SLOW_INTERVAL,
            report_every: Duration::from_secs(2),
            unreachable_after: UNREACHABLE_AFTER,
        }
    }
}

impl CheckerSettings {
    /// Use `interval` (a provider's or the run's polling interval, when given) after the fast
    /// phase; the fast phase never polls slower than it.
    pub fn with_polling_interval(mut self, interval: Option<Duration>) -> Self {
        if let Some(i) = interval {
            let i = i.max(Duration::from_millis(10));
            self.slow_interval = i;
            self.fast_interval = self.fast_interval.min(i);
        }
        self
    }

    /// The poll schedule these settings describe.
    pub fn schedule(&self) -> PollSchedule {
        PollSchedule {
            fast_interval: self.fast_interval,
            fast_phase: self.fast_phase,
            slow_interval: self.slow_interval,
        }
    }
}

/// First interval of the fast phase's ramp.
const RAMP_START: Duration = Duration::from_millis(25);

/// When one server is polled: every `fast_interval` for the first `fast_phase` of the wait,
/// then every `slow_interval`. Intervals count from the start of one poll to the start of the
/// next, so a slow answer does not stretch the schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollSchedule {
    /// Interval during the fast phase.
    pub fast_interval: Duration,
    /// Length of the fast phase.
    pub fast_phase: Duration,
    /// Interval afterwards.
    pub slow_interval: Duration,
}

impl PollSchedule {
    /// The interval after a poll that started `elapsed` into the wait. The fast phase opens
    /// with a short ramp (25 ms, then half the time waited so far plus 25 ms) up to
    /// `fast_interval`: a prompt secondary that a NOTIFY updates within milliseconds is seen
    /// at once, and nothing is ever polled less often than every `fast_interval`.
    pub fn interval_at(&self, elapsed: Duration) -> Duration {
        if elapsed < self.fast_phase {
            (RAMP_START + elapsed / 2).min(self.fast_interval)
        } else {
            self.slow_interval
        }
    }

    /// The start times of the polls (from the start of the wait) up to `until`, for tests and
    /// reports.
    pub fn starts(&self, until: Duration) -> Vec<Duration> {
        let mut out = Vec::new();
        let mut t = Duration::ZERO;
        // Bounded: every interval is at least 1 ms.
        while t <= until && out.len() < 1_000_000 {
            out.push(t);
            t += self.interval_at(t).max(Duration::from_millis(1));
        }
        out
    }
}

/// What one server showed at its last poll.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ServerState {
    /// Not asked or not answered yet.
    Waiting,
    /// Answered authoritatively but some values are missing.
    Lacking {
        /// (name, value) pairs still missing.
        missing: Vec<(DnsName, String)>,
    },
    /// Answered without the AA bit: it does not consider itself authoritative for the zone.
    NotAuthoritative,
    /// Answered with an error code (REFUSED, SERVFAIL, ...).
    Rcode {
        /// The code's name.
        rcode: String,
    },
    /// Did not answer (timeout, unreachable, bad answer).
    Failed {
        /// What happened.
        error: String,
    },
    /// Returned every expected value.
    Ready,
    /// An IPv6 address this host has no route to: skipped, as long as another address of the
    /// zone is checked.
    Skipped {
        /// Why.
        reason: String,
    },
}

impl ServerState {
    /// Refused the zone: REFUSED, NOTAUTH, or an answer without authority.
    pub fn is_refusal(&self) -> bool {
        match self {
            ServerState::NotAuthoritative => true,
            ServerState::Rcode { rcode } => rcode == "REFUSED" || rcode == "NOTAUTH",
            _ => false,
        }
    }

    /// Ready, or skipped for lack of a route from this host.
    fn is_done(&self) -> bool {
        matches!(self, ServerState::Ready | ServerState::Skipped { .. })
    }
}

impl fmt::Display for ServerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerState::Waiting => f.write_str("no answer yet"),
            ServerState::Lacking { missing } => {
                f.write_str("lacks ")?;
                for (i, (n, v)) in missing.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{n} \"{v}\"")?;
                }
                Ok(())
            }
            ServerState::NotAuthoritative => {
                f.write_str("answers without the AA bit (not authoritative for the zone)")
            }
            ServerState::Rcode { rcode } => write!(f, "answered {rcode}"),
            ServerState::Failed { error } => f.write_str(error),
            ServerState::Ready => f.write_str("has every value"),
            ServerState::Skipped { reason } => write!(f, "skipped: {reason}"),
        }
    }
}

/// One server's state in one zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerVerdict {
    /// The zone.
    pub zone: DnsName,
    /// The server.
    pub server: AuthServer,
    /// Its state at the last poll.
    pub state: ServerState,
    /// When it became ready, counted from the start of the wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_after: Option<Duration>,
}

impl fmt::Display for ServerVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [zone {}]: {}", self.server, self.zone, self.state)
    }
}

/// The checker gave up: some servers do not serve every value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PropagationError {
    /// Timed out.
    #[error("records not served by every authoritative nameserver after {} s:\n{}", .after.as_secs(), lines(.pending))]
    Timeout {
        /// The timeout.
        after: Duration,
        /// Every server that was not ready, with what it lacked or what error it gave.
        pending: Vec<ServerVerdict>,
    },
    /// Nothing to check against: a zone has no server.
    #[error("zone {zone}: no authoritative server to check")]
    NoServers {
        /// The zone.
        zone: DnsName,
    },
    /// Every server of some zone refused connections (or was unreachable, or timed out) at
    /// every poll for [`CheckerSettings::unreachable_after`]: those zones failed early.
    #[error("{}", unreachable_lines(.after, .unreachable))]
    Unreachable {
        /// How long they failed.
        after: Duration,
        /// The servers of the failed zones, with the error each gave.
        unreachable: Vec<ServerVerdict>,
        /// Every server that was not ready (the failed zones' and any other).
        pending: Vec<ServerVerdict>,
    },
}

fn unreachable_lines(after: &Duration, v: &[ServerVerdict]) -> String {
    let zones: BTreeSet<&str> = v.iter().map(|s| s.zone.as_str()).collect();
    format!(
        "zone {}: no authoritative nameserver could be reached for {} s (likely a wrong --authoritative address, \
         or a firewall blocking DNS to them):\n{}",
        zones.into_iter().collect::<Vec<_>>().join(", "),
        after.as_secs(),
        v.iter()
            .map(|s| format!("  {} {}", s.server, s.state))
            .collect::<Vec<_>>()
            .join("\n")
    )
}

impl PropagationError {
    /// A short hint for the CLI.
    pub fn hint(&self) -> &'static str {
        match self {
            PropagationError::Timeout { pending, .. }
                if !pending.is_empty() && pending.iter().all(|v| v.state.is_refusal()) =>
            {
                "a nameserver refuses the zone (REFUSED, NOTAUTH or no AA bit): waiting longer will not help; fix \
                 --authoritative, or the zone's NS records or the server's allow-query ACL"
            }
            PropagationError::Timeout { .. } => {
                "raise --propagation-timeout for slow secondaries, or give --authoritative ADDRESS when the listed \
                 nameservers cannot be reached from here (split horizon, hidden primary)"
            }
            PropagationError::NoServers { .. } => {
                "give --authoritative ADDRESS, or check the zone's NS records"
            }
            PropagationError::Unreachable { .. } => {
                "check --authoritative / [dns] authoritative (each address must be one of the zone's nameservers, \
                 reachable from here: `dig @ADDRESS ZONE SOA`) and that no firewall blocks DNS (UDP and TCP port 53) to them"
            }
        }
    }
}

fn lines(v: &[ServerVerdict]) -> String {
    v.iter()
        .map(|s| format!("  {s}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What the checker found when every server was ready.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PropagationReport {
    /// Time from start to the last server being ready.
    pub elapsed: Duration,
    /// Every server, all ready.
    pub servers: Vec<ServerVerdict>,
    /// Number of DNS queries sent.
    pub queries: u64,
}

/// Optional progress reports for a CLI (tracing lines are emitted anyway).
pub trait PropagationProgress: Send + Sync {
    /// A server now returns every expected value.
    fn server_ready(&self, verdict: &ServerVerdict) {
        let _ = verdict;
    }
    /// Periodic (about every 2 s): the servers still pending.
    fn waiting(&self, elapsed: Duration, pending: &[ServerVerdict]) {
        let _ = (elapsed, pending);
    }
}

/// Polls every authoritative server of every zone until each serves every value.
#[derive(Clone)]
pub struct PropagationChecker {
    settings: CheckerSettings,
    progress: Option<Arc<dyn PropagationProgress>>,
}

impl fmt::Debug for PropagationChecker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PropagationChecker")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl PropagationChecker {
    /// A checker with these timings.
    pub fn new(settings: CheckerSettings) -> Self {
        PropagationChecker {
            settings,
            progress: None,
        }
    }

    /// Report progress to `progress` as well as to the log.
    pub fn with_progress(mut self, progress: Arc<dyn PropagationProgress>) -> Self {
        self.progress = Some(progress);
        self
    }

    /// The timings in use.
    pub fn settings(&self) -> &CheckerSettings {
        &self.settings
    }

    /// Wait until every server of every target returns every expected value, or time out with
    /// a verdict per pending server. All servers are polled concurrently.
    pub async fn wait(
        &self,
        targets: &[CheckTarget],
    ) -> Result<PropagationReport, PropagationError> {
        let start = Instant::now();
        let deadline = start + self.settings.timeout;
        let mut verdicts = Vec::new();
        let mut jobs = Vec::new();
        for t in targets.iter().filter(|t| !t.expected.is_empty()) {
            if t.servers.is_empty() {
                return Err(PropagationError::NoServers {
                    zone: t.zone.clone(),
                });
            }
            for s in &t.servers {
                jobs.push((verdicts.len(), s.clone(), t.expected.clone()));
                verdicts.push(ServerVerdict {
                    zone: t.zone.clone(),
                    server: s.clone(),
                    state: ServerState::Waiting,
                    ready_after: None,
                });
            }
        }
        tracing::info!(
            servers = verdicts.len(),
            zones = targets.len(),
            timeout_s = self.settings.timeout.as_secs_f64().round(),
            "waiting until every authoritative nameserver serves every record"
        );
        let watch = Arc::new(Mutex::new(Watch {
            failing_since: vec![None; verdicts.len()],
            dead: BTreeSet::new(),
        }));
        let shared = Arc::new(Mutex::new(verdicts));
        let queries = Arc::new(AtomicU64::new(0));
        let polls = join_all(jobs.into_iter().map(|(idx, server, expected)| {
            self.poll_server(
                idx,
                server,
                expected,
                start,
                deadline,
                shared.clone(),
                watch.clone(),
                queries.clone(),
            )
        }));
        tokio::pin!(polls);
        let mut ticker = tokio::time::interval_at(
            start + self.settings.report_every,
            self.settings.report_every,
        );
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut polls => break,
                _ = ticker.tick() => self.report_pending(start, &shared),
            }
        }
        let verdicts = snapshot(&shared);
        // A zone none of whose servers was really checked does not pass on skips alone.
        let checked: BTreeSet<&DnsName> = verdicts
            .iter()
            .filter(|v| v.state == ServerState::Ready)
            .map(|v| &v.zone)
            .collect();
        let pending: Vec<ServerVerdict> = verdicts
            .iter()
            .filter(|v| !v.state.is_done() || !checked.contains(&v.zone))
            .cloned()
            .collect();
        let queries = queries.load(Ordering::Relaxed);
        let dead = watch.lock().unwrap_or_else(|p| p.into_inner()).dead.clone();
        if !dead.is_empty() {
            let unreachable: Vec<ServerVerdict> = verdicts
                .iter()
                .filter(|v| dead.contains(&v.zone))
                .cloned()
                .collect();
            for v in &unreachable {
                tracing::warn!(zone = %v.zone, server = %v.server, "gave up, unreachable: {}", v.state);
            }
            return Err(PropagationError::Unreachable {
                after: self.settings.unreachable_after,
                unreachable,
                pending,
            });
        }
        if pending.is_empty() {
            let elapsed = start.elapsed();
            tracing::info!(
                elapsed_ms = elapsed.as_millis() as u64,
                queries,
                "every authoritative nameserver serves every record"
            );
            Ok(PropagationReport {
                elapsed,
                servers: verdicts,
                queries,
            })
        } else {
            for v in &pending {
                tracing::warn!(zone = %v.zone, server = %v.server, "gave up: {}", v.state);
            }
            Err(PropagationError::Timeout {
                after: self.settings.timeout,
                pending,
            })
        }
    }

    fn report_pending(&self, start: Instant, shared: &Mutex<Vec<ServerVerdict>>) {
        let pending: Vec<ServerVerdict> = snapshot(shared)
            .into_iter()
            .filter(|v| !v.state.is_done())
            .collect();
        if pending.is_empty() {
            return;
        }
        let elapsed = start.elapsed();
        // One line per event: the progress reporter's (a terminal), else the log's.
        match &self.progress {
            Some(p) => {
                for v in &pending {
                    tracing::debug!(zone = %v.zone, server = %v.server, elapsed_s = elapsed.as_secs(), "still waiting: {}", v.state);
                }
                p.waiting(elapsed, &pending);
            }
            None => {
                for v in &pending {
                    tracing::info!(zone = %v.zone, server = %v.server, elapsed_s = elapsed.as_secs(), "still waiting: {}", v.state);
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn poll_server(
        &self,
        idx: usize,
        server: AuthServer,
        expected: TxtSet,
        start: Instant,
        deadline: Instant,
        shared: Arc<Mutex<Vec<ServerVerdict>>>,
        watch: Arc<Mutex<Watch>>,
        queries: Arc<AtomicU64>,
    ) {
        let schedule = self.settings.schedule();
        // Only the values not seen yet are asked for again.
        let mut remaining = expected;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            if self.zone_is_dead(idx, &shared, &watch) {
                return;
            }
            let poll_start = now;
            let qt = self
                .settings
                .query_timeout
                .min(deadline - now)
                .max(Duration::from_millis(200));
            queries.fetch_add(remaining.names().count() as u64, Ordering::Relaxed);
            let state = check_server(server.addr, &remaining, qt).await;
            if let ServerState::Lacking { missing } = &state {
                let mut still = TxtSet::with_ttl(remaining.ttl);
                for (n, v) in missing {
                    still.insert(n.clone(), v.clone());
                }
                remaining = still;
            }
            tracing::debug!(server = %server, "poll: {state}");
            let ready = state == ServerState::Ready;
            if let ServerState::Skipped { reason } = &state {
                tracing::warn!(server = %server, "not checked: {reason}");
            }
            let done = state.is_done();
            let verdict = {
                let mut guard = shared.lock().unwrap_or_else(|p| p.into_inner());
                let Some(v) = guard.get_mut(idx) else { return };
                let keep_previous = matches!(state, ServerState::Failed { .. })
                    && Instant::now() >= deadline
                    && v.state != ServerState::Waiting;
                if !keep_previous {
                    v.state = state;
                }
                if ready {
                    v.ready_after = Some(start.elapsed());
                }
                v.clone()
            };
            if self.note_failure(idx, poll_start, &shared, &watch) {
                tracing::warn!(zone = %verdict.zone,
                    "every nameserver of the zone failed for {} s: giving up on it",
                    self.settings.unreachable_after.as_secs());
                return;
            }
            if ready {
                let after_ms = start.elapsed().as_millis() as u64;
                // One line per event: the progress reporter's (a terminal), else the log's.
                match &self.progress {
                    Some(p) => {
                        tracing::debug!(zone = %verdict.zone, server = %verdict.server, after_ms, "nameserver serves every record");
                        p.server_ready(&verdict);
                    }
                    None => {
                        tracing::info!(zone = %verdict.zone, server = %verdict.server, after_ms, "nameserver serves every record");
                    }
                }
                return;
            }
            if done {
                return;
            }
            let next = poll_start + schedule.interval_at(poll_start - start);
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(next.min(deadline)).await;
        }
    }
}

impl PropagationChecker {
    /// True when the zone of server `idx` has been given up (every server unreachable).
    fn zone_is_dead(
        &self,
        idx: usize,
        shared: &Mutex<Vec<ServerVerdict>>,
        watch: &Mutex<Watch>,
    ) -> bool {
        let zone = match shared.lock().unwrap_or_else(|p| p.into_inner()).get(idx) {
            Some(v) => v.zone.clone(),
            None => return true,
        };
        watch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .dead
            .contains(&zone)
    }

    /// Record whether server `idx`'s last poll (started at `poll_start`) failed to reach it;
    /// true when that makes its zone dead: every server of the zone that is not skipped has
    /// failed every poll for at least `unreachable_after`.
    fn note_failure(
        &self,
        idx: usize,
        poll_start: Instant,
        shared: &Mutex<Vec<ServerVerdict>>,
        watch: &Mutex<Watch>,
    ) -> bool {
        let verdicts = snapshot(shared);
        let Some(me) = verdicts.get(idx) else {
            return false;
        };
        let mut w = watch.lock().unwrap_or_else(|p| p.into_inner());
        let failing = matches!(me.state, ServerState::Failed { .. });
        let Some(slot) = w.failing_since.get_mut(idx) else {
            return false;
        };
        *slot = if failing {
            Some(slot.unwrap_or(poll_start))
        } else {
            None
        };
        if !failing {
            return false;
        }
        let now = Instant::now();
        let members: Vec<usize> = verdicts
            .iter()
            .enumerate()
            .filter(|(_, v)| v.zone == me.zone && !matches!(v.state, ServerState::Skipped { .. }))
            .map(|(i, _)| i)
            .collect();
        let all_dead = !members.is_empty()
            && members.iter().all(|&i| {
                w.failing_since
                    .get(i)
                    .copied()
                    .flatten()
                    .is_some_and(|t| now.duration_since(t) >= self.settings.unreachable_after)
            });
        if all_dead {
            w.dead.insert(me.zone.clone());
        }
        all_dead
    }
}

/// Which servers have failed every poll since when, and the zones given up.
struct Watch {
    failing_since: Vec<Option<Instant>>,
    dead: BTreeSet<DnsName>,
}

fn snapshot(shared: &Mutex<Vec<ServerVerdict>>) -> Vec<ServerVerdict> {
    shared.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Queries one poll of one server has in flight at most: a round over 10,000 names held
/// 10,000 sockets and answers at once (most of a 10,000-certificate run's peak memory).
pub const QUERIES_IN_FLIGHT: usize = 128;

/// Ask one server (RD=0) for every name in `expected` once and say what it lacks. At most
/// [`QUERIES_IN_FLIGHT`] queries are in flight; each answer is looked at (and dropped) as
/// it comes, in the names' order.
pub async fn check_server(
    addr: std::net::SocketAddr,
    expected: &TxtSet,
    timeout: Duration,
) -> ServerState {
    let mut answers = stream::iter(expected.names())
        .map(|name| async move {
            (
                name,
                query::query(addr, name, RecordType::TXT, false, timeout).await,
            )
        })
        .buffered(QUERIES_IN_FLIGHT);
    let mut missing = Vec::new();
    while let Some((name, answer)) = answers.next().await {
        let m = match answer {
            Ok(m) => m,
            Err(e) if addr.is_ipv6() && e.is_no_route() => {
                return ServerState::Skipped {
                    reason: format!("no IPv6 route from this host ({})", e.short()),
                };
            }
            Err(e) => return ServerState::Failed { error: e.short() },
        };
        match m.metadata.response_code {
            ResponseCode::NoError | ResponseCode::NXDomain => {}
            code => {
                return ServerState::Rcode {
                    rcode: rcode_name(code),
                };
            }
        }
        if !m.metadata.authoritative {
            return ServerState::NotAuthoritative;
        }
        let have: BTreeSet<String> = query::txt_values(&m, name).into_iter().collect();
        for v in expected.values(name) {
            if !have.contains(v) {
                missing.push((name.clone(), v.to_string()));
            }
        }
    }
    if missing.is_empty() {
        ServerState::Ready
    } else {
        ServerState::Lacking { missing }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_schedule_fast_then_slow() {
        let sched = CheckerSettings::default().schedule();
        let starts = sched.starts(Duration::from_secs(60));
        let gaps: Vec<(Duration, Duration)> =
            starts.windows(2).map(|w| (w[0], w[1] - w[0])).collect();
        // Every poll in the first 30 s is followed by the next within 250 ms...
        let fast: Vec<_> = gaps
            .iter()
            .filter(|(t, _)| *t < Duration::from_secs(30))
            .collect();
        assert!(fast.len() >= 120, "{}", fast.len());
        assert!(fast.iter().all(|(_, g)| *g <= Duration::from_millis(250)));
        // ...then every 2 s.
        assert!(
            gaps.iter()
                .filter(|(t, _)| *t >= Duration::from_secs(30))
                .all(|(_, g)| *g == Duration::from_secs(2))
        );
        assert!(starts.last().is_some_and(|t| *t >= Duration::from_secs(58)));
        // The ramp: the second poll comes 25 ms after the first.
        assert_eq!(starts.get(1), Some(&Duration::from_millis(25)));
        // A provider's polling interval sets the slow phase and caps the fast one.
        let slow = CheckerSettings::default().with_polling_interval(Some(Duration::from_secs(10)));
        assert_eq!(
            slow.schedule().interval_at(Duration::from_secs(1)),
            FAST_INTERVAL
        );
        assert_eq!(
            slow.schedule().interval_at(Duration::from_secs(31)),
            Duration::from_secs(10)
        );
        let quick =
            CheckerSettings::default().with_polling_interval(Some(Duration::from_millis(100)));
        assert_eq!(
            quick.schedule().interval_at(Duration::from_secs(1)),
            Duration::from_millis(100)
        );
    }

    #[test]
    fn verdict_display_names_server_and_values() {
        let v = ServerVerdict {
            zone: DnsName::parse("example.test").expect("name"),
            server: AuthServer {
                name: Some(DnsName::parse("ns2.example.test").expect("name")),
                addr: "127.53.0.4:53".parse().expect("addr"),
            },
            state: ServerState::Lacking {
                missing: vec![(
                    DnsName::parse("_acme-challenge.example.test").expect("name"),
                    "tok".into(),
                )],
            },
            ready_after: None,
        };
        assert_eq!(
            v.to_string(),
            "ns2.example.test (127.53.0.4:53) [zone example.test]: lacks _acme-challenge.example.test \"tok\""
        );
    }

    /// A round over many names never has more than QUERIES_IN_FLIGHT queries out at once
    /// (it had one per name: 10,000 sockets and answers alive together at 10,000
    /// certificates). A server that never answers sees the first QUERIES_IN_FLIGHT queries,
    /// and the poll fails at the first name's timeout.
    #[tokio::test]
    async fn a_poll_over_many_names_has_a_bounded_number_of_queries_in_flight() {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .expect("timeout");
        let addr = sock.local_addr().expect("addr");
        let seen = Arc::new(AtomicU64::new(0));
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let server = {
            let (seen, done) = (seen.clone(), done.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 512];
                let start = std::time::Instant::now();
                while !done.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(30) {
                    if sock.recv_from(&mut buf).is_ok() {
                        seen.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        };
        let mut expected = TxtSet::new();
        for i in 0..(3 * QUERIES_IN_FLIGHT) {
            expected.insert(
                DnsName::parse(&format!("_acme-challenge.c{i}.example.test")).expect("name"),
                "v",
            );
        }
        let state = check_server(addr, &expected, Duration::from_millis(300)).await;
        assert!(matches!(state, ServerState::Failed { .. }), "{state:?}");
        done.store(true, Ordering::Relaxed);
        server.join().expect("server thread");
        let seen = seen.load(Ordering::Relaxed);
        assert!(
            (1..=QUERIES_IN_FLIGHT as u64).contains(&seen),
            "{seen} queries in flight at once"
        );
    }

    #[tokio::test]
    async fn zone_whose_servers_all_refuse_fails_early_naming_them() {
        // Two closed loopback ports: every poll is refused at once.
        let addrs: Vec<std::net::SocketAddr> = (0..2)
            .map(|_| {
                let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
                sock.local_addr().expect("addr")
            })
            .collect();
        let mut expected = TxtSet::new();
        expected.insert(
            DnsName::parse("_acme-challenge.example.test").expect("name"),
            "v",
        );
        let checker = PropagationChecker::new(CheckerSettings {
            timeout: Duration::from_secs(30),
            query_timeout: Duration::from_millis(200),
            unreachable_after: Duration::from_secs(1),
            ..CheckerSettings::default()
        });
        let target = CheckTarget {
            zone: DnsName::parse("example.test").expect("name"),
            servers: addrs
                .iter()
                .map(|&addr| AuthServer { name: None, addr })
                .collect(),
            expected,
        };
        let started = std::time::Instant::now();
        let err = checker.wait(&[target]).await.expect_err("must fail");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        let text = err.to_string();
        for a in &addrs {
            assert!(text.contains(&a.to_string()), "{text}");
        }
        assert!(
            text.contains("--authoritative") && text.contains("firewall"),
            "{text}"
        );
        assert!(
            matches!(err, PropagationError::Unreachable { .. }),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn dead_server_times_out_with_verdict() {
        // Nothing listens on this loopback port: the verdict names the address.
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let addr = sock.local_addr().expect("addr");
        drop(sock);
        let mut expected = TxtSet::new();
        expected.insert(
            DnsName::parse("_acme-challenge.example.test").expect("name"),
            "v",
        );
        let checker = PropagationChecker::new(CheckerSettings {
            timeout: Duration::from_millis(700),
            query_timeout: Duration::from_millis(200),
            ..CheckerSettings::default()
        });
        let target = CheckTarget {
            zone: DnsName::parse("example.test").expect("name"),
            servers: vec![AuthServer { name: None, addr }],
            expected,
        };
        let started = std::time::Instant::now();
        let err = checker.wait(&[target]).await.expect_err("must time out");
        assert!(started.elapsed() < Duration::from_secs(3));
        let text = err.to_string();
        assert!(text.contains(&addr.to_string()), "{text}");
    }
}
