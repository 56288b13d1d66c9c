//! `wildcert renew [--until-next]`.

use std::process::ExitCode;
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use wildcert_manager::IssueError;
use wildcert_manager::issue::RunConfig;
use wildcert_manager::renew::{RenewOptions, RenewOutcome, renew};
use wildcert_manager::store::Store;

use crate::args::{Global, RenewArgs};
use crate::output::Output;
use crate::{
    Loaded, build_provider, clean_orphans, interrupted, load_settings, report_interrupted,
};

/// Longest sleep of `--until-next` between rounds (settings are re-read every round).
const MAX_SLEEP: Duration = Duration::from_secs(12 * 3600);
/// Retry delay after a failed round or certificate.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(3600);

/// What one round works with; re-read every round so `--until-next` picks up config changes.
struct Round {
    loaded: Loaded,
    cfg: RunConfig,
    store: Store,
}

/// Run `renew` once, or forever with `--until-next`.
pub async fn run(g: &Global, a: RenewArgs, out: &Output) -> ExitCode {
    loop {
        let result = match prepare(g) {
            Err(e) => Err(e),
            Ok(r) => tokio::select! {
                res = round(&r, &a, out) => res,
                () = interrupted() => {
                    // The round is dropped here; its journal entry says what it published.
                    clean_orphans(&r.store, true, &r.loaded, &r.cfg).await;
                    return report_interrupted(out);
                }
            },
        };
        let (code, next) = match result {
            Ok(outcomes) => (out.renewed(&outcomes), next_wake(&outcomes)),
            Err(e) => {
                let code = out.error(&e.to_string(), &e.hint(), e.exit_code());
                if !a.until_next {
                    return code;
                }
                (e.exit_code(), RETRY_AFTER_FAILURE)
            }
        };
        if !a.until_next {
            return ExitCode::from(u8::try_from(code).unwrap_or(1));
        }
        let sleep = next.min(MAX_SLEEP);
        tracing::info!("next round in {} s", sleep.as_secs());
        tokio::select! {
            () = tokio::time::sleep(sleep) => {}
            () = interrupted() => return ExitCode::SUCCESS,
        }
    }
}

fn prepare(g: &Global) -> Result<Round, IssueError> {
    let loaded = load_settings(g)?;
    if loaded.settings.certificates.is_empty() {
        return Err(IssueError::Settings(
            wildcert_manager::settings::SettingsError::Value {
                key: "certificate".into(),
                message:
                    "no [[certificate]] entries: nothing to renew (add them to the --config file)"
                        .into(),
            },
        ));
    }
    let cfg = RunConfig::from_settings(&loaded.settings)?;
    let store = Store::open(&cfg.state_dir)?;
    Ok(Round { loaded, cfg, store })
}

async fn round(r: &Round, a: &RenewArgs, out: &Output) -> Result<Vec<RenewOutcome>, IssueError> {
    clean_orphans(&r.store, false, &r.loaded, &r.cfg).await;
    let opts = RenewOptions {
        force: a.force,
        only: a.cert_names.clone(),
        parallel: a.parallel,
        deploy_hook: a.deploy_hook.clone(),
        progress: out.progress(),
    };
    renew(&r.cfg, &r.loaded.settings.certificates, &opts, |id| {
        build_provider(id, &r.loaded)
    })
    .await
}

/// When the next round is due: the earliest due time, or an hour after a failure.
fn next_wake(outcomes: &[RenewOutcome]) -> Duration {
    let now = OffsetDateTime::now_utc();
    let mut next = MAX_SLEEP;
    for o in outcomes {
        let wait = match o.outcome {
            "failed" => RETRY_AFTER_FAILURE,
            "skipped" => o
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
