//! The session: how every command reaches the engine. One [`Session`] per command (per round
//! for `renew --until-next`) holds the settings, the run configuration, the store (opened once)
//! and the providers; the commands are its methods, so the CLI parses flags, calls the session
//! and prints [`crate::report`] documents.
//!
//! What every command that publishes records shares is written once here: records left by
//! runs that died are removed before the work starts; SIGINT/SIGTERM stop the work and remove
//! what it published (from the journal); the deploy hook runs after a certificate is stored,
//! for `issue` as for `renew`; a dry run ([`DryRun`]) swaps the store for a throwaway one.
//!
//! - `issue`: `issue` (flags → request → issue, install, deploy hook);
//! - `renew`: `renew` rounds, the metrics they leave and the `--until-next` schedule;
//! - `check`: the one `check` flow (with or without a usable store);
//! - `admin`: `list`, `show`, `revoke`, `delete`, `account …`, `persist`.
//!
//! [`request_for`]: crate::config::request_for

mod admin;
mod check;
mod issue;
mod renew;

pub use admin::PersistCommand;
pub use check::CheckCommand;
pub use issue::{IssueCommand, NotDue, PreparedIssue};
pub use renew::{MAX_SLEEP, RETRY_AFTER_FAILURE, RenewCommand, RenewListener, next_wake};

use std::future::Future;
use std::sync::Arc;

use tracing::{info, warn};
use wildcert_dns::{Dns01, DnsSettings, PropagationProgress};

use crate::config::{DryRun, Loaded, RunConfig};
use crate::error::{ExitCode, IssueError};
use crate::hooks::{DEFAULT_HOOK_TIMEOUT, HookReport, run_deploy_hook, run_hook};
use crate::install::{InstallError, InstallReport, InstallTarget, install_all};

use crate::journal;
use crate::model::{IssueRequest, Issued, NamedProvider};
use crate::providers::Providers;
use crate::renew::{OwedPostHook, RenewOptions, RenewRound, renew};
use crate::settings::CertificateSettings;
use crate::store::{RecordedRequest, Store};

/// How a guarded piece of work ended early.
#[derive(Debug)]
pub enum Stopped {
    /// It failed.
    Failed(IssueError),
    /// SIGINT or SIGTERM arrived; what it published was removed, or kept in the journal
    /// (`records_kept`) when its removal was not confirmed.
    Interrupted {
        /// Some records could not be removed: the journal keeps them for the next run.
        records_kept: bool,
    },
}

impl From<IssueError> for Stopped {
    fn from(e: IssueError) -> Self {
        Stopped::Failed(e)
    }
}

/// The loaded settings, the run configuration, the store and the providers of one command.
pub struct Session<'a> {
    /// The settings the session was opened with.
    pub loaded: &'a Loaded,
    /// The run configuration.
    pub cfg: RunConfig,
    /// The store.
    pub store: Store,
    /// The providers, built on first use.
    pub providers: Providers<'a>,
    /// A dry run's throwaway store (removed when the session ends); `None` for a real run.
    dry_run: Option<DryRun>,
}

/// Where a dry run goes, for the notice the CLI prints.
#[derive(Debug, Clone, Copy)]
pub struct DryRunTarget<'s> {
    /// The directory URL it talks to.
    pub directory: &'s str,
    /// It is the CA's staging directory (not the configured one).
    pub staging: bool,
}

/// What `issue` produced: the certificate, its install targets and the deploy hook's report.
#[derive(Debug)]
pub struct IssueReport {
    /// The stored certificate.
    pub issued: Issued,
    /// The deploy hook's report, when one ran.
    pub hook: Option<HookReport>,
    /// One result per install target, in order.
    pub installs: Vec<Result<InstallReport, InstallError>>,
}

impl IssueReport {
    /// The run's exit code: [`ExitCode::Store`] when an install target could not be written,
    /// else [`ExitCode::Hook`] when a reload or the deploy hook failed (the certificate is
    /// stored either way), else [`ExitCode::Ok`].
    pub fn exit_code(&self) -> ExitCode {
        let reload_failed = self.installs.iter().any(|i| {
            i.as_ref()
                .is_ok_and(|r| r.reload.as_ref().is_some_and(|h| !h.ok))
        });
        if self.installs.iter().any(Result::is_err) {
            ExitCode::Store
        } else if reload_failed || self.hook.as_ref().is_some_and(|h| !h.ok) {
            ExitCode::Hook
        } else {
            ExitCode::Ok
        }
    }
}

impl<'a> Session<'a> {
    /// Resolve the run configuration and open the store for a command that may write it: a
    /// shared store's read-only role is refused here, before anything is done.
    pub fn open(loaded: &'a Loaded) -> Result<Session<'a>, IssueError> {
        Session::open_for(loaded, Store::open_with)
    }

    /// [`Session::open`] for a command that only reads the store (`list`, `show`): a shared
    /// store's read-only role is welcome.
    pub fn open_reading(loaded: &'a Loaded) -> Result<Session<'a>, IssueError> {
        Session::open_for(loaded, Store::open_reading)
    }

    fn open_for(
        loaded: &'a Loaded,
        open: fn(
            std::path::PathBuf,
            &crate::store::StoreConfig,
        ) -> Result<Store, crate::store::StoreError>,
    ) -> Result<Session<'a>, IssueError> {
        let cfg = RunConfig::from_settings(&loaded.settings)?;
        crate::hooks::set_pass_env(loaded.settings.hooks.pass_env.clone());
        let store = open(cfg.state_dir.clone(), &cfg.store)?;
        Ok(Session {
            loaded,
            cfg,
            store,
            providers: Providers::new(loaded),
            dry_run: None,
        })
    }

    /// [`Session::open`] for a run that may be a dry run: with `dry_run`, the settings first
    /// become a dry run's ([`DryRun::prepare`]: the CA's staging directory, a throwaway store,
    /// no hooks, no metrics file), kept until the session ends.
    pub fn open_run(loaded: &'a mut Loaded, dry_run: bool) -> Result<Session<'a>, IssueError> {
        let dry = match dry_run {
            true => Some(DryRun::prepare(&mut loaded.settings)?),
            false => None,
        };
        let loaded: &'a Loaded = loaded;
        let mut session = Session::open(loaded)?;
        session.cfg.rehearsal = dry.is_some();
        session.dry_run = dry;
        Ok(session)
    }

    /// `wildcert import certbot|lego`: another tool's certificates, keys, accounts and hooks
    /// into this store ([`crate::import`]).
    pub async fn import(
        &self,
        source: &crate::import::ImportSource,
        write_config: Option<&std::path::Path>,
    ) -> Result<crate::import::ImportReport, IssueError> {
        crate::import::import(
            &self.store,
            &self.cfg,
            source,
            write_config,
            &self.loaded.env,
        )
        .await
    }

    /// The dry run this session is, if it is one.
    pub fn dry_run(&self) -> Option<DryRunTarget<'_>> {
        self.dry_run.as_ref().map(|d| DryRunTarget {
            directory: &self.cfg.directory_url,
            staging: d.staging.is_some(),
        })
    }

    /// Remove records left in the journal by runs that died (and, with `include_self`, by
    /// this one); problems are logged as warnings. True when every entry was removed.
    pub async fn clean_orphans(&self, include_self: bool) -> bool {
        let problems = recover_journal(
            &self.store,
            include_self,
            |id, creds| self.providers.get_with(id, creds),
            &self.cfg.dns,
        )
        .await;
        let clean = problems.is_empty();
        for p in problems {
            warn!("{p}");
        }
        clean
    }

    /// Run `work`; on SIGINT/SIGTERM drop it and remove what it published (the journal
    /// entries of this run, and of runs that died).
    pub async fn guard<T>(&self, work: impl Future<Output = T>) -> Result<T, Stopped> {
        tokio::select! {
            r = work => Ok(r),
            () = interrupted() => {
                // The work is dropped here; its journal entry says what it published.
                let removed = self.clean_orphans(true).await;
                Err(Stopped::Interrupted { records_kept: !removed })
            }
        }
    }

    /// `wildcert issue`: one certificate (its request made by [`crate::config::request_for`] from settings
    /// built from the flags: the same path `renew` takes), then its deploy hook.
    pub async fn issue(
        &self,
        req: &IssueRequest,
        cert: &CertificateSettings,
        progress: Option<Arc<dyn PropagationProgress>>,
    ) -> Result<IssueReport, Stopped> {
        self.issue_and_install(req, cert, &[], progress).await
    }

    /// [`Session::issue`] with install targets (`issue --install-dir`, `[[certificate]]
    /// install`): once the certificate is stored its files are copied into each target and
    /// the target's `reload` run, then the deploy hook runs (so a hook sees the installed
    /// files). One result per target, in order, in [`IssueReport::installs`].
    pub async fn issue_and_install(
        &self,
        req: &IssueRequest,
        cert: &CertificateSettings,
        targets: &[InstallTarget],
        progress: Option<Arc<dyn PropagationProgress>>,
    ) -> Result<IssueReport, Stopped> {
        // dns-persist-01 publishes nothing: no provider is built, no credentials are read.
        let provider = if req.challenge.needs_provider() {
            self.providers
                .get_with(&cert.provider, cert.dns_credentials.as_deref())?
        } else {
            NamedProvider::none()
        };
        let _ = self.clean_orphans(false).await;
        // Recorded with the certificate: `renew` renews it the same way.
        let mut req = req.clone();
        req.recorded = Some(RecordedRequest {
            server: self.cfg.directory_url.clone(),
            domains: cert.domains.clone(),
            provider: cert.provider.clone(),
            key_type: Some(req.key_type.as_str().to_string()),
            profile: req.profile.clone(),
            preferred_chain: req.preferred_chain.clone(),
            challenge: Some(req.challenge.as_str().to_string()),
            deploy_hook: cert.deploy_hook.clone(),
            key_group: cert.key_group.clone(),
            key_mode: cert.key_mode.clone(),
            dns_credentials: cert.dns_credentials.clone(),
            reuse_key: req.reuse_key,
            ca_bundle: self.cfg.ca_bundle.clone().map(issue::absolute),
            resolvers: self.loaded.settings.dns.resolvers.clone(),
            authoritative: self.loaded.settings.dns.authoritative.clone(),
            propagation_timeout: self.loaded.settings.dns.propagation_timeout.clone(),
            install: targets
                .iter()
                .cloned()
                .map(|mut t| {
                    t.dir = issue::absolute(t.dir);
                    t
                })
                .collect(),
        });
        let issued = self
            .guard(crate::issue::issue(&self.cfg, &req, provider, progress))
            .await??;
        // The certificate's own install targets (`install = […]`), then the command line's.
        let all: Vec<InstallTarget> = cert.install.iter().chain(targets).cloned().collect();
        let installs = install_all(&all, &issued, &self.store).await;
        let hook = match &cert.deploy_hook {
            Some(cmd) => Some(run_deploy_hook(cmd, &issued, DEFAULT_HOOK_TIMEOUT).await),
            None => None,
        };
        Ok(IssueReport {
            issued,
            hook,
            installs,
        })
    }

    /// `wildcert renew`: one round over the config's certificates (deploy hooks run per
    /// certificate; the pre and post hooks once, around the due ones).
    pub async fn renew(&self, opts: &RenewOptions) -> Result<RenewRound, Stopped> {
        let _ = self.clean_orphans(false).await;
        let started = time::OffsetDateTime::now_utc();
        let mut opts = opts.clone();
        opts.post_hook_owed = Default::default();
        let run = self
            .guard(renew(
                &self.cfg,
                &self.store,
                self.loaded,
                &opts,
                |id, creds| self.providers.get_with(id, creds),
            ))
            .await;
        if matches!(run, Err(Stopped::Interrupted { .. })) {
            // Stopped after the pre hook: the post hook still undoes what it did (bounded),
            // once the records are removed.
            let owed = opts.post_hook_owed.lock().ok().and_then(|mut o| o.take());
            if let Some(owed) = owed {
                self.run_owed_post_hook(&owed, started).await;
            }
        } else if self.store.shared().is_some() {
            // A bastion whose lease ran out during the round (a standby took its certificates
            // over) left records that should not wait for the next round, hours away.
            let _ = self.clean_orphans(false).await;
        }
        Ok(run??)
    }

    /// The post hook of a round stopped by a signal: `WILDCERT_INTERRUPTED=1`, the due
    /// certificates, those stored before the signal as renewed and the rest as failed.
    async fn run_owed_post_hook(&self, owed: &OwedPostHook, started: time::OffsetDateTime) {
        let stored = |name: &String| {
            self.store
                .read_meta(name)
                .ok()
                .flatten()
                .and_then(|m| m.issued_at)
                .and_then(|t| {
                    time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .is_some_and(|t| t >= started)
        };
        let (renewed, failed): (Vec<&String>, Vec<&String>) =
            owed.due.iter().partition(|n| stored(n));
        let join = |v: &[&String]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ");
        let env = vec![
            ("WILDCERT_DUE_CERTS".to_string(), owed.due.join(" ")),
            ("WILDCERT_RENEWED_CERTS".to_string(), join(&renewed)),
            ("WILDCERT_FAILED_CERTS".to_string(), join(&failed)),
            ("WILDCERT_INTERRUPTED".to_string(), "1".to_string()),
        ];
        let report = run_hook(&owed.command, &env, "post_hook", DEFAULT_HOOK_TIMEOUT).await;
        if !report.ok {
            warn!(
                "the post hook failed after the interruption: {:?}",
                report.error
            );
        }
    }
}

/// `wildcert sync --to DIR`: a consumer pulls the live versions from the shared store
/// (`[store]`, read-only) into DIR ([`crate::sync`]). Needs no CA, account or provider.
pub async fn sync(
    loaded: &Loaded,
    opts: &crate::sync::SyncOptions,
) -> Result<crate::sync::SyncReport, IssueError> {
    crate::hooks::set_pass_env(loaded.settings.hooks.pass_env.clone());
    let store = crate::store::StoreConfig::from_settings(&loaded.settings.store)?;
    crate::sync::sync(&store, &loaded.state_dir(), opts).await
}

/// Remove records left in the journal by runs that died (and, with `include_self`, by this
/// one). `provider_for` builds the provider named in each entry.
pub async fn recover_journal<F>(
    store: &Store,
    include_self: bool,
    provider_for: F,
    dns: &DnsSettings,
) -> Vec<String>
where
    F: Fn(&str, Option<&std::path::Path>) -> Result<NamedProvider, IssueError>,
{
    let mut problems = Vec::new();
    let entries = match journal::orphans(store, include_self) {
        Ok(e) => e,
        Err(e) => return vec![e.to_string()],
    };
    for (handle, entry) in entries {
        let provider = match provider_for(&entry.provider, entry.credentials.as_deref()) {
            Ok(p) => p,
            Err(e) => {
                problems.push(format!(
                    "journal {}: provider {}: {e}",
                    handle.path().display(),
                    entry.provider
                ));
                continue;
            }
        };
        info!(records = entry.plan.len(), provider = %entry.provider, "removing records left by an interrupted run");
        match Dns01::new(provider.dns, dns.clone())
            .cleanup(&entry.plan)
            .await
        {
            Ok(()) => {
                if let Err(e) = handle.remove() {
                    problems.push(e.to_string());
                }
            }
            Err(e) => problems.push(format!("journal {}: {e}", handle.path().display())),
        }
    }
    problems
}

/// Resolves when SIGINT or SIGTERM arrives.
pub async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Timings;

    fn hook(ok: bool) -> HookReport {
        HookReport {
            command: "reload".into(),
            exit_code: Some(if ok { 0 } else { 1 }),
            ok,
            error: (!ok).then(|| "exited with 1".into()),
        }
    }

    fn report(
        hook: Option<HookReport>,
        installs: Vec<Result<InstallReport, InstallError>>,
    ) -> IssueReport {
        IssueReport {
            issued: Issued {
                cert_name: "example.test".into(),
                version: 1,
                live_dir: "/s/certs/example.test/live".into(),
                names: vec!["example.test".into()],
                key_type: "ec256".into(),
                not_before: String::new(),
                not_after: String::new(),
                issuer: None,
                serial: String::new(),
                order_url: String::new(),
                timings_ms: Timings::default(),
                zones: Vec::new(),
                acme_requests: 0,
                dns_queries: 0,
            },
            hook,
            installs,
        }
    }

    fn installed(reload: Option<HookReport>) -> Result<InstallReport, InstallError> {
        Ok(InstallReport {
            dir: "/etc/nginx/ssl".into(),
            files: Vec::new(),
            reload,
        })
    }

    fn unwritable() -> Result<InstallReport, InstallError> {
        Err(InstallError::Settings {
            dir: "/etc/nginx/ssl".into(),
            message: "no such group".into(),
        })
    }

    #[test]
    fn issue_exit_code_store_before_hook() {
        assert_eq!(report(None, Vec::new()).exit_code(), ExitCode::Ok);
        assert_eq!(
            report(Some(hook(true)), vec![installed(Some(hook(true)))]).exit_code(),
            ExitCode::Ok
        );
        assert_eq!(
            report(Some(hook(false)), Vec::new()).exit_code(),
            ExitCode::Hook
        );
        assert_eq!(
            report(None, vec![installed(Some(hook(false)))]).exit_code(),
            ExitCode::Hook
        );
        assert_eq!(
            report(
                Some(hook(false)),
                vec![installed(Some(hook(false))), unwritable()]
            )
            .exit_code(),
            ExitCode::Store
        );
    }
}
