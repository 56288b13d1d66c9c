//! `wildcert issue`: the command line's certificate becomes settings, then a request (the same
//! path `renew` takes), then an issuance with its install targets and deploy hook.

use std::path::PathBuf;
use std::sync::Arc;

use wildcert_dns::PropagationProgress;

use super::{IssueReport, Session, Stopped};
use crate::config::{DryRun, Loaded, request_for};
use crate::error::{ExitCode, IssueError};
use crate::install::InstallTarget;
use crate::model::IssueRequest;
use crate::settings::CertificateSettings;

/// What `wildcert issue` was asked.
#[derive(Debug, Clone)]
pub struct IssueCommand {
    /// The certificate, as the settings its flags make.
    pub cert: CertificateSettings,
    /// The `--install-dir` targets.
    pub install: Vec<InstallTarget>,
    /// `--dry-run`: staging CA, throwaway store, no deploy hook, no install.
    pub dry_run: bool,
    /// `--replace-names`: a certificate of that name may lose names it holds.
    pub replace_names: bool,
    /// `--force`: order even when a valid certificate with these names is not due.
    pub force: bool,
}

/// `issue` for names a valid certificate already holds, that is not due: nothing is ordered
/// (a CA counts duplicate certificates against a weekly limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotDue {
    /// Store name.
    pub cert_name: String,
    /// The names the live certificate holds.
    pub names: Vec<String>,
    /// RFC 3339 notAfter of the live certificate.
    pub not_after: Option<String>,
    /// RFC 3339 time it becomes due.
    pub due: String,
    /// The rule that made that time.
    pub rule: String,
}

/// `issue` with its request validated and its session open.
pub struct PreparedIssue<'a> {
    /// The session (a dry run's when asked).
    pub session: Session<'a>,
    req: IssueRequest,
    cert: CertificateSettings,
    install: Vec<InstallTarget>,
    not_due: Option<NotDue>,
}

impl<'a> Session<'a> {
    /// `wildcert issue`, before anything is sent: a dry run's settings when asked, the request
    /// made and validated (bad names and settings are refused before anything else happens),
    /// then the session opened.
    pub fn prepare_issue(
        loaded: &'a mut Loaded,
        cmd: IssueCommand,
    ) -> Result<PreparedIssue<'a>, IssueError> {
        let IssueCommand {
            mut cert,
            mut install,
            dry_run,
            replace_names,
            force,
        } = cmd;
        // What the real store holds under that name: names that would be dropped are refused
        // (unless --replace-names), and the same names, valid and not due, order nothing.
        let existing = existing_meta(loaded, &request_for(&loaded.settings, &cert)?)?;
        let mut not_due = None;
        if let Some(meta) = &existing {
            names_guard(&cert, meta, replace_names)?;
            if !dry_run && !force {
                not_due = skip_if_not_due(&cert, meta)?;
            }
        }
        let dry = match dry_run {
            true => Some(DryRun::prepare(&mut loaded.settings)?),
            false => None,
        };
        if dry.is_some() {
            cert.deploy_hook = None;
            install.clear();
        }
        // Absolute: the request is recorded, and `renew` reads it again from wherever it runs.
        cert.dns_credentials = cert.dns_credentials.map(absolute);
        let req = request_for(&loaded.settings, &cert)?;
        let loaded: &'a Loaded = loaded;
        let mut session = Session::open(loaded)?;
        // Nothing to order still checks the provider: a typo fails this run.
        if not_due.is_some() && req.challenge.needs_provider() {
            session
                .providers
                .get_with(&cert.provider, cert.dns_credentials.as_deref())?;
        }
        session.cfg.rehearsal = dry.is_some();
        session.dry_run = dry;
        Ok(PreparedIssue {
            session,
            req,
            cert,
            install,
            not_due,
        })
    }
}

/// The `meta.json` of the certificate `req` names in the store at `state_dir`, if any (a
/// missing store is not created).
fn existing_meta(
    loaded: &Loaded,
    req: &IssueRequest,
) -> Result<Option<crate::store::CertMeta>, IssueError> {
    let state_dir = loaded.state_dir();
    let config = crate::store::StoreConfig::from_settings(&loaded.settings.store)?;
    if config.url.is_none() {
        // Nothing is created for a look: no state directory yet, no certificate yet.
        let meta = state_dir
            .join("certs")
            .join(&req.cert_name)
            .join("meta.json");
        if !meta.exists() {
            return Ok(None);
        }
    }
    Ok(crate::store::Store::open_with(state_dir, &config)?.read_meta(&req.cert_name)?)
}

/// Names `cert` would drop from the certificate stored under its name; refused unless
/// `replace`.
fn names_guard(
    cert: &CertificateSettings,
    meta: &crate::store::CertMeta,
    replace: bool,
) -> Result<(), IssueError> {
    let asked: Vec<String> = cert
        .domains
        .iter()
        .map(|d| d.to_ascii_lowercase())
        .collect();
    let dropped: Vec<&str> = meta
        .names
        .iter()
        .filter(|n| !asked.contains(&n.to_ascii_lowercase()))
        .map(String::as_str)
        .collect();
    if dropped.is_empty() || replace {
        return Ok(());
    }
    let name = crate::renew::cert_name(cert)?;
    Err(IssueError::Command {
        message: format!(
            "the certificate {name} holds {}; this request would drop {}",
            meta.names.join(", "),
            dropped.join(", ")
        ),
        hint: format!(
            "add {} with -d to keep them, give --replace-names to drop them, or choose another --cert-name",
            dropped.join(" ")
        ),
        code: ExitCode::Settings,
    })
}

/// [`NotDue`] when the live certificate already has exactly these names and is not due.
fn skip_if_not_due(
    cert: &CertificateSettings,
    meta: &crate::store::CertMeta,
) -> Result<Option<NotDue>, IssueError> {
    let now = time::OffsetDateTime::now_utc();
    match crate::renew::decide(Some(meta), cert, now, false)? {
        crate::renew::Decision::Skip { due, rule } => Ok(Some(NotDue {
            cert_name: crate::renew::cert_name(cert)?,
            names: meta.names.clone(),
            not_after: meta.not_after.clone(),
            due,
            rule,
        })),
        _ => Ok(None),
    }
}

impl PreparedIssue<'_> {
    /// Issue the certificate, install it into each target, run the deploy hook.
    pub async fn run(
        &self,
        progress: Option<Arc<dyn PropagationProgress>>,
    ) -> Result<IssueReport, Stopped> {
        self.session
            .issue_and_install(&self.req, &self.cert, &self.install, progress)
            .await
    }

    /// Set when a valid certificate with exactly these names is not due (and neither
    /// `--force` nor `--dry-run` was given): [`PreparedIssue::run`] must not be called; nothing
    /// is ordered.
    pub fn not_due(&self) -> Option<&NotDue> {
        self.not_due.as_ref()
    }

    /// The request as validated (dry run applied).
    pub fn request(&self) -> &IssueRequest {
        &self.req
    }

    /// The certificate's settings as they will be used (dry run applied).
    pub fn certificate(&self) -> &CertificateSettings {
        &self.cert
    }

    /// The install targets as they will be used (none in a dry run).
    pub fn install_targets(&self) -> &[InstallTarget] {
        &self.install
    }
}

/// `p` made absolute against the current directory (as given when that fails).
pub(super) fn absolute(p: PathBuf) -> PathBuf {
    std::path::absolute(&p).unwrap_or(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;

    fn loaded(state: &std::path::Path) -> Loaded {
        let overrides = Overrides {
            server: Some("https://127.0.0.1:14000/dir".into()),
            state_dir: Some(state.to_path_buf()),
            ..Overrides::default()
        };
        Loaded::load(None, Default::default(), &overrides).expect("settings")
    }

    fn command(dry_run: bool) -> IssueCommand {
        IssueCommand {
            cert: CertificateSettings {
                name: None,
                domains: vec!["*.Example.test".into()],
                provider: "rfc2136".into(),
                key_type: None,
                profile: None,
                preferred_chain: None,
                key_group: None,
                key_mode: None,
                deploy_hook: Some("touch /nonexistent/hook".into()),
                renew_before: None,
                challenge: None,
                install: Vec::new(),
                dns_credentials: Some("creds.ini".into()),
                reuse_key: None,
            },
            install: vec![InstallTarget::dir("/etc/ssl/x")],
            dry_run,
            replace_names: false,
            force: false,
        }
    }

    #[test]
    fn a_dry_run_runs_no_hook_installs_nothing_and_uses_a_throwaway_store() {
        let tmp = tempfile::tempdir().expect("tmp");
        let state = tmp.path().join("state");
        let mut l = loaded(&state);
        let p = Session::prepare_issue(&mut l, command(true)).expect("prepared");
        let dry = p.session.dry_run().expect("a dry run");
        assert_eq!(dry.directory, "https://127.0.0.1:14000/dir");
        assert!(
            !dry.staging,
            "a CA without a known staging directory is used as given"
        );
        assert!(p.certificate().deploy_hook.is_none());
        assert!(p.install_targets().is_empty());
        assert_ne!(p.session.cfg.state_dir, state);
        assert!(!state.exists(), "the real store was not even created");
        assert_eq!(
            p.request().names.identifiers()[0].as_acme(),
            "*.example.test"
        );
        assert!(
            p.certificate()
                .dns_credentials
                .as_ref()
                .is_some_and(|c| c.is_absolute()),
            "recorded as an absolute path"
        );
    }

    #[test]
    fn a_real_run_keeps_hook_and_targets_and_refuses_bad_names_first() {
        let tmp = tempfile::tempdir().expect("tmp");
        let state = tmp.path().join("state");
        let mut l = loaded(&state);
        let p = Session::prepare_issue(&mut l, command(false)).expect("prepared");
        assert!(p.session.dry_run().is_none());
        assert!(p.certificate().deploy_hook.is_some());
        assert_eq!(p.install_targets().len(), 1);
        assert_eq!(p.session.cfg.state_dir, state);
        drop(p);

        let mut bad = command(false);
        bad.cert.domains = vec!["192.0.2.1".into()];
        let state = tmp.path().join("other");
        let mut l = loaded(&state);
        assert!(Session::prepare_issue(&mut l, bad).is_err());
        assert!(!state.exists(), "refused before the store was opened");
    }
}
