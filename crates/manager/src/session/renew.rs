//! `wildcert renew [--dry-run] [--until-next]`: one round per run, or round after round with
//! `--until-next` (settings read afresh each round), and the metrics each round leaves.

use std::future::Future;
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::{info, warn};

use super::{Session, Stopped, interrupted};
use crate::config::Loaded;
use crate::error::{ExitCode, IssueError};
use crate::metrics;
use crate::renew::{Outcome, RenewOptions, RenewOutcome, RenewRound, recorded_requests};
use crate::store::Store;

/// Longest sleep of `--until-next` between rounds (settings are re-read every round).
pub const MAX_SLEEP: Duration = Duration::from_secs(12 * 3600);
/// Retry delay after a failed round or certificate.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(3600);

/// What `wildcert renew` was asked.
#[derive(Clone, Default)]
pub struct RenewCommand {
    /// The round's options (flags); a dry run drops its hooks.
    pub options: RenewOptions,
    /// `--dry-run`: staging CA, throwaway store, no hooks, no metrics file.
    pub dry_run: bool,
    /// `--until-next`: keep running, sleeping until the next certificate is due.
    pub until_next: bool,
}

/// What a `renew` run tells its caller as it goes (the CLI prints it).
pub trait RenewListener {
    /// The round about to run is a dry run against `directory` (`staging`: the CA's staging
    /// directory rather than the configured one).
    fn dry_run(&self, directory: &str, staging: bool);
    /// A round ended, or could not start.
    fn round(&self, result: &Result<RenewRound, Stopped>);
}

impl Session<'_> {
    /// `wildcert renew`: one round, or with `until_next` one round after another, each with
    /// settings from `load` (so config changes are picked up) and its own session. Returns
    /// the exit code: the round's ([`RenewRound::exit_code`], or its error's); with
    /// `until_next` a failed round is retried and a signal between rounds ends the run with
    /// [`ExitCode::Ok`]. An interrupted round ends it with [`ExitCode::Interrupted`].
    pub async fn renew_command(
        mut load: impl FnMut() -> Result<Loaded, IssueError>,
        cmd: &RenewCommand,
        listener: &dyn RenewListener,
    ) -> ExitCode {
        let round = || {
            let loaded = load();
            async move {
                let result = round(loaded, cmd, listener).await;
                listener.round(&result);
                result
            }
        };
        schedule(cmd.until_next, round, sleep_unless_interrupted).await
    }

    /// Record the round's duration in the store and rewrite `[metrics] textfile`; a failure
    /// is a warning (the round's outcome stands).
    pub fn write_metrics(&self, took: Duration) {
        let now = OffsetDateTime::now_utc();
        if let Err(e) = metrics::record_run(&self.store, took, now) {
            warn!("the run's duration was not recorded: {e}");
        }
        let Some(path) = &self.loaded.settings.metrics.textfile else {
            return;
        };
        let written = metrics::render(&self.store, &self.loaded.settings.certificates, now)
            .map_err(|e| e.to_string())
            .and_then(|text| metrics::write_textfile(path, &text).map_err(|e| e.to_string()));
        if let Err(e) = written {
            warn!("metrics not written: {e}");
        }
    }
}

/// One round: its session (a dry run's when asked), the renewals, the metrics.
async fn round(
    loaded: Result<Loaded, IssueError>,
    cmd: &RenewCommand,
    listener: &dyn RenewListener,
) -> Result<RenewRound, Stopped> {
    let mut loaded = loaded?;
    let session = open_round(&mut loaded, cmd.dry_run)?;
    let mut opts = cmd.options.clone();
    if let Some(d) = session.dry_run() {
        listener.dry_run(d.directory, d.staging);
        opts.deploy_hook = None;
        opts.pre_hook = None;
        opts.post_hook = None;
    }
    let started = Instant::now();
    let result = session.renew(&opts).await;
    if !matches!(result, Err(Stopped::Interrupted { .. })) {
        session.write_metrics(started.elapsed());
    }
    result
}

/// The round's session, once it is known that there is something to renew: a
/// `[[certificate]]` in the settings, or a certificate `issue` recorded in the store (a
/// missing state directory holds none and is not created). A dry run looks at the real store,
/// then works in a throwaway one.
fn open_round(loaded: &mut Loaded, dry_run: bool) -> Result<Session<'_>, IssueError> {
    let configured = !loaded.settings.certificates.is_empty();
    if !configured && !loaded.state_dir().exists() {
        return Err(nothing_to_renew());
    }
    if dry_run {
        // What `issue` (or an import) recorded in the real store is rehearsed too: the
        // throwaway store holds none of it.
        let recorded = match loaded.state_dir().exists() {
            true => recorded_requests(&Store::open_with(
                loaded.state_dir(),
                &crate::store::StoreConfig::from_settings(&loaded.settings.store)?,
            )?)?,
            false => Vec::new(),
        };
        if !configured && recorded.is_empty() {
            return Err(nothing_to_renew());
        }
        rehearse_recorded(loaded, recorded)?;
        return Session::open_run(loaded, true);
    }
    let session = Session::open(loaded)?;
    if !configured && recorded_requests(&session.store)?.is_empty() {
        return Err(nothing_to_renew());
    }
    Ok(session)
}

/// A dry run's entries for the certificates `issue` recorded (those of the run's CA that no
/// `[[certificate]]` names): added as entries, which the dry run then strips of hooks and
/// installs like any other.
fn rehearse_recorded(
    loaded: &mut Loaded,
    recorded: Vec<(String, crate::store::RecordedRequest)>,
) -> Result<(), IssueError> {
    let server = crate::settings::resolve_server(loaded.settings.acme.server.as_deref())?;
    for (name, r) in recorded {
        let named = loaded
            .settings
            .certificates
            .iter()
            .any(|c| crate::settings::store_name(c).as_deref() == Some(name.as_str()));
        if named {
            continue;
        }
        if r.server != server {
            warn!(
                cert = %name,
                "not rehearsed: issued by {} (give --server {} to rehearse it)",
                r.server,
                r.server
            );
            continue;
        }
        loaded
            .settings
            .certificates
            .push(crate::renew::recorded_settings(&name, &r));
    }
    Ok(())
}

fn nothing_to_renew() -> IssueError {
    IssueError::Command {
        message: "no [[certificate]] entries: nothing to renew (add them to the --config file; the store holds no certificate made by `wildcert issue` either)"
            .into(),
        hint: "add [[certificate]] entries to the --config file (docs/configuration.md), or use `wildcert issue` \
               (renew then renews what it made) (docs/troubleshooting.md, \"no [[certificate]] entries\")"
            .into(),
        code: ExitCode::Settings,
    }
}

/// Sleep `d`; false when SIGINT/SIGTERM came first.
async fn sleep_unless_interrupted(d: Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(d) => true,
        () = interrupted() => false,
    }
}

/// Run `round` once, or (`until_next`) again and again: after each round `wait` for the
/// time until the next certificate is due ([`next_wake`], at most [`MAX_SLEEP`]; an hour
/// after a failed round); `wait` returning false ends the run with [`ExitCode::Ok`].
async fn schedule<R, RF, W, WF>(until_next: bool, mut round: R, mut wait: W) -> ExitCode
where
    R: FnMut() -> RF,
    RF: Future<Output = Result<RenewRound, Stopped>>,
    W: FnMut(Duration) -> WF,
    WF: Future<Output = bool>,
{
    loop {
        let (code, next) = match round().await {
            Ok(r) => (
                r.exit_code(),
                next_wake(&r.outcomes, OffsetDateTime::now_utc()),
            ),
            Err(Stopped::Interrupted { .. }) => return ExitCode::Interrupted,
            Err(Stopped::Failed(e)) => (e.exit_code(), RETRY_AFTER_FAILURE),
        };
        if !until_next {
            return code;
        }
        let sleep = next.min(MAX_SLEEP);
        info!("next round in {}", seconds(sleep));
        if !wait(sleep).await {
            return ExitCode::Ok;
        }
    }
}

/// `12 s`, or with a tenth below ten seconds (`1.4 s`: a standby's wait for a short lease).
fn seconds(d: Duration) -> String {
    if d < Duration::from_secs(10) {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} s", d.as_secs())
    }
}

/// The shortest wait for a certificate another run holds (its lease is about to run out).
const MIN_BUSY_WAIT: Duration = Duration::from_millis(100);

/// How long after a round at `now` the next one is due: the earliest time a skipped
/// certificate becomes due (at least a second, so an overdue one is not a busy loop) or,
/// held by another run, is to be looked at again (its `retry_after`, at least
/// [`MIN_BUSY_WAIT`]); [`RETRY_AFTER_FAILURE`] after a failure; at most [`MAX_SLEEP`].
pub fn next_wake(outcomes: &[RenewOutcome], now: OffsetDateTime) -> Duration {
    let mut next = MAX_SLEEP;
    for o in outcomes {
        let wait = match o.outcome {
            Outcome::Failed => RETRY_AFTER_FAILURE,
            Outcome::Skipped => match o.retry_after {
                Some(d) => d.max(MIN_BUSY_WAIT),
                None => o
                    .next_due
                    .as_deref()
                    .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
                    .map(|t| Duration::try_from(t - now).unwrap_or(Duration::ZERO))
                    .unwrap_or(MAX_SLEEP)
                    .max(Duration::from_secs(1)),
            },
            _ => continue,
        };
        next = next.min(wait);
    }
    next
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::VecDeque;

    use super::*;
    use crate::config::Overrides;
    use crate::settings::CertificateSettings;

    fn outcome(outcome: Outcome, next_due: Option<&str>) -> RenewOutcome {
        RenewOutcome {
            name: "a.test".into(),
            outcome,
            detail: String::new(),
            next_due: next_due.map(String::from),
            retry_after: None,
            certificate: None,
            hook: None,
            hint: None,
            code: match outcome {
                Outcome::Failed => ExitCode::Dns,
                _ => ExitCode::Ok,
            },
        }
    }

    fn at(t: &str) -> OffsetDateTime {
        OffsetDateTime::parse(t, &Rfc3339).expect("time")
    }

    #[test]
    fn next_wake_is_the_earliest_due_time_bounded() {
        let now = at("2027-01-01T00:00:00Z");
        assert_eq!(next_wake(&[], now), MAX_SLEEP);
        let soon = outcome(Outcome::Skipped, Some("2027-01-01T02:00:00Z"));
        let later = outcome(Outcome::Skipped, Some("2027-01-09T00:00:00Z"));
        assert_eq!(
            next_wake(&[later, soon], now),
            Duration::from_secs(2 * 3600)
        );
        let failed = outcome(Outcome::Failed, None);
        let far = outcome(Outcome::Skipped, Some("2027-01-01T05:00:00Z"));
        assert_eq!(next_wake(&[far, failed], now), RETRY_AFTER_FAILURE);
        let past = outcome(Outcome::Skipped, Some("2026-12-31T00:00:00Z"));
        assert_eq!(
            next_wake(&[past], now),
            Duration::from_secs(1),
            "overdue: at once, not in a loop"
        );
        // Held by another run (a standby's view): looked at again after its retry time.
        let mut busy = outcome(Outcome::Skipped, None);
        busy.retry_after = Some(Duration::from_secs(30));
        let far = outcome(Outcome::Skipped, Some("2027-01-01T05:00:00Z"));
        assert_eq!(next_wake(&[far, busy], now), Duration::from_secs(30));
        // A lease about to run out is looked at again right then, not a second later; a
        // lease that ran out just now is not a busy loop either.
        let mut soon = outcome(Outcome::Skipped, None);
        soon.retry_after = Some(Duration::from_millis(350));
        let overdue = outcome(Outcome::Skipped, Some("2026-12-31T00:00:00Z"));
        assert_eq!(next_wake(&[overdue, soon], now), Duration::from_millis(350));
        let mut now_free = outcome(Outcome::Skipped, None);
        now_free.retry_after = Some(Duration::ZERO);
        assert_eq!(next_wake(&[now_free], now), MIN_BUSY_WAIT);
        assert_eq!(seconds(Duration::from_millis(1450)), "1.4 s");
        assert_eq!(seconds(Duration::from_secs(43200)), "43200 s");
        let unknown = outcome(Outcome::Skipped, Some("not a time"));
        let renewed = outcome(Outcome::Renewed, None);
        assert_eq!(next_wake(&[unknown, renewed], now), MAX_SLEEP);
    }

    /// Rounds from a script; every wait recorded; waits allowed until `stop_after`.
    async fn run_script(
        until_next: bool,
        rounds: Vec<Result<RenewRound, Stopped>>,
        stop_after: usize,
    ) -> (ExitCode, Vec<Duration>, usize) {
        let rounds = RefCell::new(VecDeque::from(rounds));
        let ran = RefCell::new(0);
        let waits = RefCell::new(Vec::new());
        let code = schedule(
            until_next,
            || {
                *ran.borrow_mut() += 1;
                let r = rounds
                    .borrow_mut()
                    .pop_front()
                    .unwrap_or(Err(Stopped::Interrupted {
                        records_kept: false,
                    }));
                async move { r }
            },
            |d| {
                waits.borrow_mut().push(d);
                let go_on = waits.borrow().len() < stop_after;
                async move { go_on }
            },
        )
        .await;
        (code, waits.into_inner(), ran.into_inner())
    }

    fn round_of(outcomes: Vec<RenewOutcome>) -> Result<RenewRound, Stopped> {
        Ok(RenewRound {
            outcomes,
            ..RenewRound::default()
        })
    }

    #[tokio::test]
    async fn once_returns_the_round_code_without_waiting() {
        let (code, waits, ran) = run_script(
            false,
            vec![round_of(vec![outcome(Outcome::Failed, None)])],
            9,
        )
        .await;
        assert_eq!((code, waits.len(), ran), (ExitCode::Dns, 0, 1));
        let failed = Err(Stopped::Failed(IssueError::NoNames));
        let (code, _, _) = run_script(false, vec![failed], 9).await;
        assert_eq!(code, ExitCode::Settings);
    }

    #[tokio::test]
    async fn until_next_sleeps_between_rounds_and_retries_failures() {
        let due_soon = outcome(
            Outcome::Skipped,
            Some(&crate::verify::rfc3339(
                OffsetDateTime::now_utc() + time::Duration::days(30),
            )),
        );
        let rounds = vec![
            round_of(vec![due_soon]),
            Err(Stopped::Failed(IssueError::NoNames)),
            round_of(Vec::new()),
        ];
        let (code, waits, ran) = run_script(true, rounds, 3).await;
        assert_eq!(
            code,
            ExitCode::Ok,
            "a signal while waiting ends the run cleanly"
        );
        assert_eq!(ran, 3);
        assert_eq!(waits, [MAX_SLEEP, RETRY_AFTER_FAILURE, MAX_SLEEP]);
    }

    #[tokio::test]
    async fn an_interrupted_round_ends_the_run() {
        let (code, waits, ran) = run_script(
            true,
            vec![Err(Stopped::Interrupted {
                records_kept: false,
            })],
            9,
        )
        .await;
        assert_eq!((code, waits.len(), ran), (ExitCode::Interrupted, 0, 1));
    }

    fn loaded(state: &std::path::Path, configured: bool) -> Loaded {
        let overrides = Overrides {
            server: Some("https://127.0.0.1:14000/dir".into()),
            state_dir: Some(state.to_path_buf()),
            ..Overrides::default()
        };
        let mut l = Loaded::load(None, Default::default(), &overrides).expect("settings");
        if configured {
            l.settings.certificates.push(CertificateSettings {
                name: None,
                domains: vec!["a.test".into()],
                provider: "rfc2136".into(),
                key_type: None,
                profile: None,
                preferred_chain: None,
                key_group: None,
                key_mode: None,
                deploy_hook: None,
                renew_before: None,
                challenge: None,
                install: Vec::new(),
                dns_credentials: None,
                reuse_key: None,
            });
        }
        l
    }

    fn is_nothing_to_renew(r: Result<Session<'_>, IssueError>) -> bool {
        matches!(r, Err(IssueError::Command { message, .. }) if message.starts_with("no [[certificate]] entries"))
    }

    #[test]
    fn nothing_to_renew_is_said_before_a_store_is_made() {
        let tmp = tempfile::tempdir().expect("tmp");
        let state = tmp.path().join("state");
        for dry_run in [false, true] {
            assert!(is_nothing_to_renew(open_round(
                &mut loaded(&state, false),
                dry_run
            )));
            assert!(!state.exists(), "the state directory was created");
        }
        std::fs::create_dir(&state).expect("mkdir");
        for dry_run in [false, true] {
            assert!(is_nothing_to_renew(open_round(
                &mut loaded(&state, false),
                dry_run
            )));
        }
        let mut l = loaded(&state, true);
        let s = open_round(&mut l, false).expect("a configured certificate");
        assert_eq!(s.store.root(), state.as_path());
        assert!(s.dry_run().is_none());
        drop(s);
        let mut l = loaded(&state, true);
        let s = open_round(&mut l, true).expect("a dry run");
        assert_ne!(s.store.root(), state.as_path(), "a throwaway store");
        assert!(s.dry_run().is_some());
        assert!(s.loaded.settings.metrics.textfile.is_none());
    }
}
