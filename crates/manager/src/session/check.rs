//! `wildcert check`: the one preflight flow. The settings are resolved as `issue` resolves
//! them; a store that cannot be opened is a finding (no journal, no account), not a failure.

use std::path::PathBuf;

use super::issue::absolute;
use super::{Session, Stopped};
use crate::check::{CheckOptions, CheckReport, merge_reports, run_check, run_persist_check};
use crate::config::{Loaded, RunConfig};
use crate::error::IssueError;
use crate::model::{NamedProvider, Names};
use crate::providers::Providers;
use crate::settings::SettingsError;
use crate::store::{Store, StoreError};

/// What `wildcert check` was asked.
#[derive(Debug, Clone, Default)]
pub struct CheckCommand {
    /// The names (`-d`).
    pub names: Vec<String>,
    /// `--dns`: a provider id or kind.
    pub provider: Option<String>,
    /// `--dns-credentials`: a certbot credentials file.
    pub credentials: Option<PathBuf>,
    /// Publish (and remove) a probe record (`--no-probe` turns it off).
    pub probe: bool,
    /// `--challenge`: `dns-01` (default), `dns-account-01`, `dns-persist-01` or `auto`.
    pub challenge: Option<String>,
}

impl Session<'_> {
    /// `wildcert check`: every check for `cmd.names`. With a store, the work is guarded
    /// (SIGINT/SIGTERM remove the probe record); without one the report says why.
    pub async fn check(loaded: &Loaded, cmd: &CheckCommand) -> Result<CheckReport, Stopped> {
        let names = Names::parse(&cmd.names)?;
        match Session::open(loaded) {
            Ok(session) => {
                let work = checks(
                    &session.cfg,
                    &session.providers,
                    Ok(&session.store),
                    &names,
                    cmd,
                );
                session.guard(work).await
            }
            Err(IssueError::Store(e)) => {
                let cfg = RunConfig::from_settings(&loaded.settings)?;
                let providers = Providers::new(loaded);
                Ok(checks(&cfg, &providers, Err(&e), &names, cmd).await)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The checks `cmd.challenge` asks for: dns-persist-01 the standing record only (no
/// provider, no credentials), auto both, else the DNS-01 checks.
async fn checks(
    cfg: &RunConfig,
    providers: &Providers<'_>,
    store: Result<&Store, &StoreError>,
    names: &Names,
    cmd: &CheckCommand,
) -> CheckReport {
    let challenge = cmd.challenge.as_deref().unwrap_or("dns-01");
    if challenge == "dns-persist-01" {
        return run_persist_check(cfg, store.ok(), names, true).await;
    }
    // Absolute: the journal records it for a later run's cleanup.
    let credentials = cmd.credentials.clone().map(absolute);
    let opts = CheckOptions {
        probe: cmd.probe,
        provider_id: cmd.provider.clone().unwrap_or_default(),
        dns_account: challenge == "dns-account-01",
        credentials: credentials.clone(),
    };
    let provider = provider_for(cmd.provider.as_deref(), |id| {
        providers.get_with(id, credentials.as_deref())
    });
    let report = run_check(cfg, store, names, provider, &opts).await;
    if challenge == "auto" {
        merge_reports(
            report,
            run_persist_check(cfg, store.ok(), names, false).await,
        )
    } else {
        report
    }
}

/// The provider `--dns` names; without `--dns`, a settings finding.
fn provider_for(
    id: Option<&str>,
    get: impl Fn(&str) -> Result<NamedProvider, IssueError>,
) -> Result<NamedProvider, IssueError> {
    match id {
        Some(id) => get(id),
        None => Err(IssueError::Settings(SettingsError::Value {
            key: "--dns".into(),
            message:
                "no DNS provider given: --dns PROVIDER is needed unless --challenge dns-persist-01"
                    .into(),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Status;
    use crate::config::Overrides;

    fn loaded(state: &std::path::Path) -> Loaded {
        let overrides = Overrides {
            server: Some("https://127.0.0.1:9/dir".into()),
            state_dir: Some(state.to_path_buf()),
            resolvers: vec!["127.0.0.1:9".into()],
            ..Overrides::default()
        };
        Loaded::load(None, Default::default(), &overrides).expect("settings")
    }

    #[tokio::test]
    async fn bad_names_fail_before_anything_is_checked() {
        let tmp = tempfile::tempdir().expect("tmp");
        let cmd = CheckCommand {
            names: vec!["bad name".into()],
            ..CheckCommand::default()
        };
        let r = Session::check(&loaded(&tmp.path().join("s")), &cmd).await;
        assert!(
            matches!(r, Err(Stopped::Failed(IssueError::Name(_)))),
            "{r:?}"
        );
        assert!(!tmp.path().join("s").exists());
    }

    #[tokio::test]
    async fn without_dns_the_provider_is_a_settings_finding_and_a_bad_store_a_warning() {
        let tmp = tempfile::tempdir().expect("tmp");
        // A state directory that is a file cannot be opened.
        let state = tmp.path().join("state");
        std::fs::write(&state, "").expect("file");
        // dns-account-01 without a stored account stops before any DNS query.
        let cmd = CheckCommand {
            names: vec!["example.test".into()],
            probe: false,
            challenge: Some("dns-account-01".into()),
            ..CheckCommand::default()
        };
        let r = Session::check(&loaded(&state), &cmd)
            .await
            .expect("a report");
        let provider = r
            .findings
            .iter()
            .find(|f| f.check == "provider")
            .expect("provider finding");
        assert_eq!(provider.status, Status::Fail);
        assert!(provider.message.contains("--dns PROVIDER"), "{provider:?}");
        let store = r
            .findings
            .iter()
            .find(|f| f.check == "store")
            .expect("store finding");
        assert_eq!(store.status, Status::Warn, "{store:?}");
        let account = r
            .findings
            .iter()
            .find(|f| f.check == "account")
            .expect("account finding");
        assert_eq!(account.status, Status::Fail, "{account:?}");
        assert!(!r.ok);
        assert_eq!(r.exit_code, crate::error::ExitCode::Settings);
    }
}
