//! `wildcert renew [--until-next]`.

use std::process::ExitCode;
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use wildcert_manager::renew::{Outcome, RenewOptions, RenewOutcome, RenewRound};
use wildcert_manager::session::{Session, Stopped};
use wildcert_manager::{IssueError, Loaded};

use crate::args::{Global, RenewArgs};
use crate::output::Output;
use crate::{load_settings, report_interrupted};

/// Longest sleep of `--until-next` between rounds (settings are re-read every round).
const MAX_SLEEP: Duration = Duration::from_secs(12 * 3600);
/// Retry delay after a failed round or certificate.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(3600);

/// Run `renew` once, or forever with `--until-next` (settings are re-read every round, so
/// config changes are picked up).
pub async fn run(g: &Global, a: RenewArgs, out: &Output) -> ExitCode {
    loop {
        let result = match prepare(g, a.challenge.clone()) {
            Err(e) => Err(Stopped::Failed(e)),
            Ok(mut loaded) => {
                // A dry run: staging CA, throwaway store, no hooks (kept until the round ends).
                let dry = match a.dry_run {
                    false => Ok(None),
                    true => {
                        wildcert_manager::config::DryRun::prepare(&mut loaded.settings).map(Some)
                    }
                };
                match dry {
                    Err(e) => Err(Stopped::Failed(e)),
                    Ok(dry) => {
                        if let (Some(d), Ok(url)) = (
                            &dry,
                            wildcert_manager::settings::resolve_server(
                                loaded.settings.acme.server.as_deref(),
                            ),
                        ) {
                            out.dry_run(&url, d.staging.is_some());
                        }
                        round(&loaded, &a, out).await
                    }
                }
            }
        };
        let (code, next) = match result {
            Ok(round) => (out.renewed(&round), next_wake(&round.outcomes)),
            Err(Stopped::Interrupted) => return report_interrupted(out),
            Err(Stopped::Failed(e)) => {
                let code = out.error(&e.to_string(), &e.hint(), e.exit_code());
                if !a.until_next {
                    return code;
                }
                (e.exit_code(), RETRY_AFTER_FAILURE)
            }
        };
        if !a.until_next {
            return code.into();
        }
        let sleep = next.min(MAX_SLEEP);
        tracing::info!("next round in {} s", sleep.as_secs());
        tokio::select! {
            () = tokio::time::sleep(sleep) => {}
            () = wildcert_manager::session::interrupted() => return ExitCode::SUCCESS,
        }
    }
}

fn prepare(g: &Global, challenge: Option<String>) -> Result<Loaded, IssueError> {
    let loaded = load_settings(g, |o| o.challenge = challenge)?;
    if loaded.settings.certificates.is_empty() && !has_recorded(&loaded)? {
        return Err(IssueError::Command {
            message: "no [[certificate]] entries: nothing to renew (add them to the --config file; the store holds no certificate made by `wildcert issue` either)"
                .into(),
            hint: "add [[certificate]] entries to the --config file (docs/configuration.md), or use `wildcert issue` \
                   (renew then renews what it made) (docs/troubleshooting.md, \"no [[certificate]] entries\")"
                .into(),
            code: wildcert_manager::ExitCode::Settings,
        });
    }
    Ok(loaded)
}

/// Whether the store holds certificates `issue` recorded (a missing state directory holds
/// none and is not created here).
fn has_recorded(loaded: &Loaded) -> Result<bool, IssueError> {
    let dir = loaded.state_dir();
    if !dir.exists() {
        return Ok(false);
    }
    let store = wildcert_manager::store::Store::open(&dir)?;
    Ok(!wildcert_manager::renew::recorded_requests(&store)?.is_empty())
}

async fn round(loaded: &Loaded, a: &RenewArgs, out: &Output) -> Result<RenewRound, Stopped> {
    let started = std::time::Instant::now();
    let result = run_round(loaded, a, out).await;
    if !matches!(result, Err(Stopped::Interrupted)) {
        write_metrics(loaded, started.elapsed());
    }
    result
}

/// Record the run and rewrite `[metrics] textfile`; a failure is a warning (the round's
/// outcome stands).
fn write_metrics(loaded: &Loaded, took: Duration) {
    use wildcert_manager::metrics;
    let Ok(store) = wildcert_manager::store::Store::open(loaded.state_dir()) else {
        return;
    };
    let now = OffsetDateTime::now_utc();
    if let Err(e) = metrics::record_run(&store, took, now) {
        tracing::warn!("the run's duration was not recorded: {e}");
    }
    let Some(path) = &loaded.settings.metrics.textfile else {
        return;
    };
    let written = metrics::render(&store, &loaded.settings.certificates, now)
        .map_err(|e| e.to_string())
        .and_then(|text| metrics::write_textfile(path, &text).map_err(|e| e.to_string()));
    if let Err(e) = written {
        tracing::warn!("metrics not written: {e}");
    }
}

async fn run_round(loaded: &Loaded, a: &RenewArgs, out: &Output) -> Result<RenewRound, Stopped> {
    let session = Session::open(loaded)?;
    let opts = RenewOptions {
        force: a.force,
        only: a.cert_names.clone(),
        parallel: a.parallel,
        deploy_hook: a.deploy_hook.clone().filter(|_| !a.dry_run),
        pre_hook: a.pre_hook.clone().filter(|_| !a.dry_run),
        post_hook: a.post_hook.clone().filter(|_| !a.dry_run),
        progress: out.progress(),
        challenge: a.challenge.clone(),
    };
    session.renew(&opts).await
}

/// When the next round is due: the earliest due time, or an hour after a failure.
fn next_wake(outcomes: &[RenewOutcome]) -> Duration {
    let now = OffsetDateTime::now_utc();
    let mut next = MAX_SLEEP;
    for o in outcomes {
        let wait = match o.outcome {
            Outcome::Failed => RETRY_AFTER_FAILURE,
            Outcome::Skipped => o
                .next_due
                .as_deref()
                .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
                .map(|t| Duration::try_from(t - now).unwrap_or(Duration::ZERO))
                .unwrap_or(MAX_SLEEP),
            _ => continue,
        };
        next = next.min(wait);
    }
    next.max(Duration::from_secs(1))
}
