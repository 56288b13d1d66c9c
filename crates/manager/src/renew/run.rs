//! One `renew` round: decide offline, refresh ARI windows that are due, then issue every due
//! certificate in one run of the issuance stages, and report one [`RenewOutcome`] each.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tracing::{info, warn};
use wildcert_dns::PropagationProgress;

use super::plan::{Decision, cert_name, decide, parse_time};
use crate::config::{Loaded, RunConfig, request_for};
use crate::error::{ExitCode, IssueError};
use crate::hooks::{DEFAULT_HOOK_TIMEOUT, HookReport, run_deploy_hook, run_hook};
use crate::install::install_all;
use crate::issue::{self, Job};
use crate::model::{ChallengeChoice, Issued, NamedProvider};
use crate::settings::CertificateSettings;
use crate::store::{CertMeta, RecordedRequest, Store, StoreError};
use crate::verify::rfc3339;
use wildcert_acme::ValidationMethod;

/// How often to ask for ARI when the CA gives no `Retry-After` (RFC 9773 §4.3 suggests hours).
pub const ARI_DEFAULT_RECHECK: Duration = Duration::from_secs(6 * 3600);

/// What became of one certificate in a `renew` round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not in the store before: issued now.
    Issued,
    /// Due: a new version is stored.
    Renewed,
    /// Not due, or another run is doing (or just did) the work.
    Skipped,
    /// Failed; the certificate in `live/` (if any) is untouched.
    Failed,
}

impl Outcome {
    /// The word used in summaries and JSON (`issued`, `renewed`, `skipped`, `failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Issued => "issued",
            Outcome::Renewed => "renewed",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
        }
    }
}

/// One certificate's line in the summary.
#[derive(Debug)]
pub struct RenewOutcome {
    /// Store name.
    pub name: String,
    /// What happened.
    pub outcome: Outcome,
    /// Why (the decision's reason, or the error).
    pub detail: String,
    /// RFC 3339 time the certificate is next due (skipped ones), if known.
    pub next_due: Option<String>,
    /// Skipped because another run holds it: look again after this long (`--until-next`; a
    /// standby takes a dead holder's certificates over this way).
    pub retry_after: Option<Duration>,
    /// The issued certificate, when one was stored.
    pub certificate: Option<Issued>,
    /// The deploy hook's report, when one ran.
    pub hook: Option<HookReport>,
    /// Hint for a failure.
    pub hint: Option<String>,
    /// Exit code of a failure.
    pub code: ExitCode,
}

impl RenewOutcome {
    fn new(name: String, outcome: Outcome, detail: String) -> Self {
        RenewOutcome {
            name,
            outcome,
            detail,
            next_due: None,
            retry_after: None,
            certificate: None,
            hook: None,
            hint: None,
            code: ExitCode::Ok,
        }
    }

    fn failed(name: String, e: &IssueError) -> Self {
        RenewOutcome {
            hint: Some(e.hint()),
            code: e.exit_code(),
            ..RenewOutcome::new(name, Outcome::Failed, e.to_string())
        }
    }
}

/// Options of one `renew` run.
#[derive(Clone, Default)]
pub struct RenewOptions {
    /// Renew everything now.
    pub force: bool,
    /// Only these certificate names (empty: all).
    pub only: Vec<String>,
    /// Orders at once.
    pub parallel: usize,
    /// Overrides every certificate's deploy_hook.
    pub deploy_hook: Option<String>,
    /// Overrides `[renew] pre_hook`: run once before the due certificates are issued.
    pub pre_hook: Option<String>,
    /// Overrides `[renew] post_hook`: run once after the due certificates were tried.
    pub post_hook: Option<String>,
    /// Progress reporter.
    pub progress: Option<Arc<dyn PropagationProgress>>,
    /// `--challenge`: wins over the method `issue` recorded (the config's entries get it
    /// through [`crate::Overrides`]).
    pub challenge: Option<String>,
    /// Set while the post hook is owed (the due certificates were started on and the post
    /// hook has not run): a round stopped by a signal runs it from there
    /// ([`crate::session::Session::renew`]).
    pub post_hook_owed: Arc<std::sync::Mutex<Option<OwedPostHook>>>,
}

/// The post hook a round owes once its due certificates were started on.
#[derive(Debug, Clone)]
pub struct OwedPostHook {
    /// The command.
    pub command: String,
    /// The due certificates (`WILDCERT_DUE_CERTS`).
    pub due: Vec<String>,
}

/// What one `renew` round did: an outcome per certificate and the run's pre and post hooks
/// (which ran only when some certificate was due).
#[derive(Debug, Default)]
pub struct RenewRound {
    /// One outcome per certificate.
    pub outcomes: Vec<RenewOutcome>,
    /// The pre hook's report, when it ran.
    pub pre_hook: Option<HookReport>,
    /// The post hook's report, when it ran.
    pub post_hook: Option<HookReport>,
}

impl RenewRound {
    /// The round's exit code: the first failed certificate's, else [`ExitCode::Hook`] when a
    /// hook failed, else [`ExitCode::Ok`].
    pub fn exit_code(&self) -> ExitCode {
        match self.outcomes.iter().find(|o| o.outcome == Outcome::Failed) {
            Some(o) => o.code.failure(),
            None if self.failed_hooks().is_empty() => ExitCode::Ok,
            None => ExitCode::Hook,
        }
    }

    /// Every hook report of the round that failed: the pre hook, each deploy hook (with its
    /// certificate's name), the post hook.
    pub fn failed_hooks(&self) -> Vec<(&'static str, Option<&str>, &HookReport)> {
        let mut out = Vec::new();
        if let Some(h) = self.pre_hook.as_ref().filter(|h| !h.ok) {
            out.push(("pre hook", None, h));
        }
        for o in &self.outcomes {
            if let Some(h) = o.hook.as_ref().filter(|h| !h.ok) {
                out.push(("deploy hook", Some(o.name.as_str()), h));
            }
        }
        if let Some(h) = self.post_hook.as_ref().filter(|h| !h.ok) {
            out.push(("post hook", None, h));
        }
        out
    }
}

/// Every certificate in the store with the request `issue` recorded, sorted by name
/// (certificates whose `meta.json` cannot be read are left to the config's entries and `list`).
pub fn recorded_requests(store: &Store) -> Result<Vec<(String, RecordedRequest)>, IssueError> {
    Ok(recorded_in(&stored_metas(store)?))
}

/// What a round reads of the store once: every stored certificate's name and its `meta.json`
/// (or why it cannot be read), sorted by name. A round over 10,000 certificates read each one
/// twice before (for the recorded requests, then for the decision).
type StoredMetas = Vec<(String, Result<Option<CertMeta>, StoreError>)>;

fn stored_metas(store: &Store) -> Result<StoredMetas, IssueError> {
    // On PostgreSQL one statement for every certificate (two per certificate before).
    Ok(store.list_with_meta()?)
}

/// The recorded requests among `stored`.
fn recorded_in(stored: &StoredMetas) -> Vec<(String, RecordedRequest)> {
    let mut out = Vec::new();
    for (name, meta) in stored {
        match meta {
            Ok(Some(CertMeta {
                request: Some(r), ..
            })) => out.push((name.clone(), r.clone())),
            Ok(_) => {}
            Err(e) => warn!(cert = %name, "not renewed from its recorded request: {e}"),
        }
    }
    out
}

/// A recorded request as a certificate's settings (the same path to a request as the
/// config's entries take, through [`request_for`]).
pub fn recorded_settings(name: &str, r: &RecordedRequest) -> CertificateSettings {
    CertificateSettings {
        name: Some(name.to_string()),
        domains: r.domains.clone(),
        provider: r.provider.clone(),
        key_type: r.key_type.clone(),
        profile: r.profile.clone(),
        preferred_chain: r.preferred_chain.clone(),
        deploy_hook: r.deploy_hook.clone(),
        renew_before: None,
        key_group: r.key_group.clone(),
        key_mode: r.key_mode.clone(),
        challenge: r.challenge.clone(),
        install: r.install.clone(),
        dns_credentials: r.dns_credentials.clone(),
        reuse_key: r.reuse_key.then_some(true),
    }
}

/// The config file of a run, as an absolute path (what `meta.json` records).
fn config_file(loaded: &Loaded) -> Option<std::path::PathBuf> {
    let (path, _) = loaded.file.as_ref()?;
    Some(std::path::absolute(path).unwrap_or_else(|_| path.clone()))
}

/// Why `renew --server` does not renew a certificate `issue` made with another CA.
fn other_ca(name: &str, recorded: &str, run: &str) -> IssueError {
    IssueError::Command {
        message: format!(
            "{name}: recorded by `issue` with the CA {recorded}, and this run was given --server {run}: not renewed by this run"
        ),
        hint: format!(
            "run `wildcert renew` without --server (each certificate `issue` made renews with its own CA), or move it to {run} with `wildcert issue --server {run}`"
        ),
        code: ExitCode::Settings,
    }
}

/// Why a stored certificate that nothing names any more is a failure of every run.
fn unhandled(name: &str, meta: &CertMeta) -> IssueError {
    let expires = meta
        .not_after
        .as_deref()
        .map(|t| format!("; it expires at {t}"))
        .unwrap_or_default();
    IssueError::Command {
        message: format!(
            "{name}: no [[certificate]] entry names it any more and `issue` recorded no request for it, so nothing renews it{expires}"
        ),
        hint: format!(
            "put its [[certificate]] entry back in the config, or run `wildcert delete {name}` to stop renewing it on purpose"
        ),
        code: ExitCode::Settings,
    }
}

/// A certificate that is due, with what is needed to issue it.
struct Due {
    settings: CertificateSettings,
    name: String,
    decision: Decision,
    meta: Option<CertMeta>,
}

/// Run one round over `settings.certificates` and what `issue` recorded in `store`.
/// `provider_for` builds a provider by id; each
/// id is built once per round. The pre hook runs once before the first due certificate is
/// issued and the post hook once after every due one was tried; neither runs when nothing
/// is due.
pub async fn renew<F>(
    cfg: &RunConfig,
    store: &Store,
    loaded: &Loaded,
    opts: &RenewOptions,
    provider_for: F,
) -> Result<RenewRound, IssueError>
where
    F: Fn(&str, Option<&std::path::Path>) -> Result<NamedProvider, IssueError>,
{
    let settings = &loaded.settings;
    let flags = &loaded.overrides;
    let config_file = config_file(loaded);
    let now = OffsetDateTime::now_utc();
    let mut outcomes = Vec::new();
    let mut due: Vec<Due> = Vec::new();
    let mut ari_due: Vec<usize> = Vec::new();
    // The config's entries, then what `issue` recorded (an entry in the config wins for its
    // name); recorded with another CA: skipped, said why.
    let configured: Vec<String> = settings
        .certificates
        .iter()
        .filter_map(|c| cert_name(c).ok())
        .collect();
    let mut candidates: Vec<CertificateSettings> = settings.certificates.clone();
    // Every stored certificate's meta.json, read once for the whole round.
    let mut stored = stored_metas(store)?;
    let recorded = recorded_in(&stored);
    // Looked up once per stored certificate: sets, not lists (a list made a round over
    // 10,000 certificates quadratic).
    let is_configured: HashSet<&str> = configured.iter().map(String::as_str).collect();
    let is_recorded: HashSet<&str> = recorded.iter().map(|(r, _)| r.as_str()).collect();
    // `--cert-name` naming no certificate is a typo, not "nothing due".
    if let Some(unknown) = opts
        .only
        .iter()
        .find(|n| !configured.contains(n) && !recorded.iter().any(|(r, _)| r == *n))
    {
        let known = configured
            .iter()
            .chain(recorded.iter().map(|(r, _)| r))
            .map(String::as_str);
        return Err(IssueError::UnknownCertificate {
            name: unknown.clone(),
            suggestion: crate::error::did_you_mean(unknown, known),
        });
    }
    // A certificate this config file's entry made, that neither the config nor a recorded
    // request names any more, is no longer renewed: said on every run, as a failure, until
    // the entry is put back or the certificate deleted. (Another config file's certificates
    // in the same store are that file's business.)
    for (name, meta) in &stored {
        let selected = opts.only.is_empty() || opts.only.contains(name);
        if selected
            && !is_configured.contains(name.as_str())
            && !is_recorded.contains(name.as_str())
            && let Ok(Some(meta)) = meta
            && meta.config.is_some()
            && meta.config == config_file
        {
            outcomes.push(RenewOutcome::failed(name.clone(), &unhandled(name, meta)));
        }
    }
    // A recorded certificate renews as it was issued: its own CA, bundle, resolvers.
    let mut runs: HashMap<String, RunConfig> = HashMap::new();
    for (name, request) in recorded {
        if is_configured.contains(name.as_str())
            || (!opts.only.is_empty() && !opts.only.contains(&name))
        {
            continue;
        }
        // `--server` naming another CA than the one that issued it: not moved silently.
        if flags.server.is_some() && request.server != cfg.directory_url {
            let e = other_ca(&name, &request.server, &cfg.directory_url);
            outcomes.push(RenewOutcome::failed(name, &e));
            continue;
        }
        match cfg.for_recorded(&request, flags) {
            Ok(run) => {
                runs.insert(name.clone(), run);
            }
            Err(e) => {
                outcomes.push(RenewOutcome::failed(name, &e));
                continue;
            }
        }
        let mut c = recorded_settings(&name, &request);
        if cfg.rehearsal {
            // A dry run installs nothing, recorded targets included.
            c.install.clear();
        }
        if let Some(m) = &opts.challenge {
            c.challenge = Some(m.clone());
        }
        candidates.push(c);
    }
    // What killed installs left in the targets goes now, whether or not anything is due (a
    // rehearsal touches no target).
    if !cfg.rehearsal {
        for t in candidates.iter().flat_map(|c| &c.install) {
            crate::install::sweep(t);
        }
    }
    let mut taken = vec![false; stored.len()];
    for c in &candidates {
        let name = match cert_name(c) {
            Ok(n) => n,
            Err(e) => {
                outcomes.push(RenewOutcome::failed(
                    c.domains.first().cloned().unwrap_or_default(),
                    &e,
                ));
                continue;
            }
        };
        if !opts.only.is_empty() && !opts.only.contains(&name) {
            continue;
        }
        // Read above when the certificate is stored (moved out the first time its name comes
        // up); a name not stored yet is read now (nothing there, or what a killed first
        // issuance left, which read_meta settles).
        let read = match stored.binary_search_by(|(n, _)| n.as_str().cmp(name.as_str())) {
            Ok(i) if !taken[i] => {
                taken[i] = true;
                std::mem::replace(&mut stored[i].1, Ok(None))
            }
            _ => store.read_meta(&name),
        };
        let meta = match read {
            Ok(m) => m,
            Err(e) => {
                outcomes.push(RenewOutcome::failed(name, &e.into()));
                continue;
            }
        };
        if meta
            .as_ref()
            .and_then(|m| parse_time(&m.ari_next_check))
            .is_some_and(|t| t <= now)
        {
            ari_due.push(due.len());
        }
        match decide(meta.as_ref(), c, now, opts.force) {
            Ok(decision) => due.push(Due {
                settings: c.clone(),
                name,
                decision,
                meta,
            }),
            Err(e) => outcomes.push(RenewOutcome::failed(name, &e)),
        }
    }
    // ARI: refresh windows whose re-check time has come (needs the CA; everything else is offline).
    // The answer is shared by every bastion of a store: polled and written under the
    // certificate's lock (taken without waiting; a bastion holding it polls, or renews, for
    // all), after re-reading what another bastion may have stored since this round read it.
    let mut clients: HashMap<String, Option<wildcert_acme::AcmeClient>> = HashMap::new();
    for i in ari_due {
        let d = &mut due[i];
        let _lock = match store.lock(&d.name, Duration::ZERO).await {
            Ok(l) => l,
            Err(StoreError::Locked { .. }) => continue,
            Err(e) => {
                warn!(cert = %d.name, "renewal information (ARI) not refreshed: {e}");
                continue;
            }
        };
        match store.read_meta(&d.name) {
            Ok(Some(fresh)) => {
                let polled = parse_time(&fresh.ari_next_check).is_none_or(|t| t > now);
                d.meta = Some(fresh);
                if polled {
                    if let Ok(decision) = decide(d.meta.as_ref(), &d.settings, now, opts.force) {
                        d.decision = decision;
                    }
                    continue;
                }
            }
            Ok(None) => continue,
            Err(e) => {
                warn!(cert = %d.name, "renewal information (ARI) not refreshed: {e}");
                continue;
            }
        }
        let run = runs.get(&d.name).unwrap_or(cfg);
        if !clients.contains_key(&run.directory_url) {
            let client = run.acme_client().await;
            if let Err(e) = &client {
                warn!("renewal information (ARI) not refreshed: {e}");
            }
            clients.insert(run.directory_url.clone(), client.ok());
        }
        let Some(Some(client)) = clients.get(&run.directory_url) else {
            continue;
        };
        let Some(m) = d.meta.as_mut() else { continue };
        if refresh_ari(client, m).await {
            if let Err(e) = store.write_meta(&d.name, m) {
                warn!(cert = %d.name, "renewal information (ARI) not stored: {e}");
            }
            if let Ok(decision) = decide(Some(m), &d.settings, now, opts.force) {
                d.decision = decision;
            }
        }
    }
    // Build each provider once; a job for every due certificate.
    let mut providers: HashMap<String, Result<NamedProvider, (String, String, ExitCode)>> =
        HashMap::new();
    // Due certificates by the run they renew with (most rounds: one group, `cfg`).
    let mut groups: Vec<(RunConfig, Vec<Job>)> = Vec::new();
    let mut reasons: HashMap<String, (Outcome, String, Option<String>)> = HashMap::new();
    let mut install_targets: HashMap<String, Vec<crate::install::InstallTarget>> = HashMap::new();
    // Skipped certificates validated by a standing record: (outcome index, names).
    let mut standing: Vec<(usize, crate::model::Names)> = Vec::new();
    for d in due {
        let (kind, reason) = match &d.decision {
            Decision::Skip { due, rule } => {
                // A typo or a misconfiguration fails the very next run, due or not: the request
                // is made and the provider built (once) as for an issuance.
                let checked = request_for(settings, &d.settings).and_then(|r| {
                    if r.challenge.needs_provider() {
                        provider_for(&d.settings.provider, d.settings.dns_credentials.as_deref())?;
                    }
                    Ok(r)
                });
                match checked {
                    Err(e) => {
                        outcomes.push(RenewOutcome::failed(d.name, &e));
                        continue;
                    }
                    Ok(r)
                        if r.challenge
                            == ChallengeChoice::Method(ValidationMethod::DnsPersist01) =>
                    {
                        standing.push((outcomes.len(), r.names));
                    }
                    Ok(_) => {}
                }
                outcomes.push(RenewOutcome {
                    next_due: Some(due.clone()),
                    ..RenewOutcome::new(d.name, Outcome::Skipped, format!("not due ({rule})"))
                });
                continue;
            }
            Decision::Issue { reason } => (Outcome::Issued, reason.clone()),
            Decision::Renew { reason } => (Outcome::Renewed, reason.clone()),
        };
        let req = match request_for(settings, &d.settings) {
            // What `issue` recorded stays recorded across renewals; a config entry's
            // certificate remembers its config file.
            Ok(mut r) => {
                r.recorded = d.meta.as_ref().and_then(|m| m.request.clone());
                if is_configured.contains(d.name.as_str()) {
                    r.config_file = config_file.clone();
                }
                r
            }
            Err(e) => {
                outcomes.push(RenewOutcome::failed(d.name, &e));
                continue;
            }
        };
        // dns-persist-01 publishes nothing: no provider is built, no credentials are read.
        let provider = if req.challenge.needs_provider() {
            providers
                .entry(d.settings.provider.clone())
                .or_insert_with(|| {
                    provider_for(&d.settings.provider, d.settings.dns_credentials.as_deref())
                        .map_err(|e| (e.to_string(), e.hint(), e.exit_code()))
                })
                .clone()
        } else {
            Ok(NamedProvider::none())
        };
        let provider = match &provider {
            Ok(p) => p.clone(),
            Err((message, hint, code)) => {
                outcomes.push(RenewOutcome {
                    hint: Some(hint.clone()),
                    code: *code,
                    ..RenewOutcome::new(d.name, Outcome::Failed, message.clone())
                });
                continue;
            }
        };
        let replaces = match &d.decision {
            Decision::Renew { .. } => d
                .meta
                .as_ref()
                .filter(|m| m.ari_next_check.is_some())
                .and_then(|m| m.ari_cert_id.clone()),
            _ => None,
        };
        let hook = opts
            .deploy_hook
            .clone()
            .or_else(|| d.settings.deploy_hook.clone());
        let if_version = Some(d.meta.as_ref().and_then(|m| m.version));
        reasons.insert(d.name.clone(), (kind, reason, hook));
        install_targets.insert(d.name.clone(), d.settings.install.clone());
        let run = runs.get(&d.name).unwrap_or(cfg);
        let job = Job {
            req,
            provider,
            replaces,
            if_version,
            skip_if_locked: true,
        };
        match groups.iter_mut().find(|(r, _)| r.same_run(run)) {
            Some((_, jobs)) => jobs.push(job),
            None => groups.push((run.clone(), vec![job])),
        }
    }
    if !standing.is_empty() {
        check_standing(cfg, store, &mut outcomes, &standing).await;
    }
    if groups.is_empty() {
        return Ok(RenewRound {
            outcomes,
            ..RenewRound::default()
        });
    }
    let due_names: Vec<String> = groups
        .iter()
        .flat_map(|(_, jobs)| jobs.iter().map(|j| j.req.cert_name.clone()))
        .collect();
    info!(due = due_names.len(), "issuing and renewing");
    let pre_hook = match opts.pre_hook.as_ref().or(settings.renew.pre_hook.as_ref()) {
        Some(cmd) => {
            let env = vec![("WILDCERT_DUE_CERTS".to_string(), due_names.join(" "))];
            Some(run_hook(cmd, &env, "pre_hook", DEFAULT_HOOK_TIMEOUT).await)
        }
        None => None,
    };
    let post_hook = opts
        .post_hook
        .as_ref()
        .or(settings.renew.post_hook.as_ref());
    if let (Some(cmd), Ok(mut owed)) = (post_hook, opts.post_hook_owed.lock()) {
        *owed = Some(OwedPostHook {
            command: cmd.clone(),
            due: due_names.clone(),
        });
    }
    let mut results = Vec::new();
    for (run, jobs) in groups {
        let names: Vec<String> = jobs.iter().map(|j| j.req.cert_name.clone()).collect();
        match issue::run(&run, jobs, opts.parallel.max(1), opts.progress.clone()).await {
            Ok(r) => results.extend(r),
            // Nothing could start (store, CA, account): each of its certificates failed,
            // recorded as such (metrics, the post hook's WILDCERT_FAILED_CERTS).
            Err(e) => {
                for name in names {
                    issue::record_failure(store, &name, &e);
                    reasons.remove(&name);
                    outcomes.push(RenewOutcome::failed(name, &e));
                }
            }
        }
    }
    for r in results {
        let (kind, reason, hook) =
            reasons
                .remove(&r.cert_name)
                .unwrap_or((Outcome::Issued, String::new(), None));
        match r.result {
            Ok(issued) => {
                // Files where servers want them (`install = […]`), before the deploy hook.
                let targets = install_targets.remove(&r.cert_name).unwrap_or_default();
                let install_failure = install_all(&targets, &issued, store)
                    .await
                    .into_iter()
                    .find_map(|r| match r {
                        Err(e) => Some(HookReport {
                            command: "install".into(),
                            exit_code: None,
                            ok: false,
                            error: Some(e.to_string()),
                        }),
                        Ok(rep) => rep.reload.filter(|h| !h.ok),
                    });
                let mut hook = match &hook {
                    Some(cmd) => Some(run_deploy_hook(cmd, &issued, DEFAULT_HOOK_TIMEOUT).await),
                    None => None,
                };
                // A target that was not written (or whose reload failed) is as loud as a
                // failing deploy hook.
                if install_failure.is_some() && hook.as_ref().is_none_or(|h| h.ok) {
                    hook = install_failure;
                }
                outcomes.push(RenewOutcome {
                    certificate: Some(issued),
                    hook,
                    ..RenewOutcome::new(r.cert_name, kind, reason)
                });
            }
            Err(IssueError::Busy {
                holder, free_in, ..
            }) => outcomes.push(RenewOutcome {
                // Looked at again when the holder's lease runs out (`--until-next`): a
                // standby bastion takes a dead holder's certificates over then.
                retry_after: Some(busy_retry(cfg, free_in)),
                ..RenewOutcome::new(
                    r.cert_name,
                    Outcome::Skipped,
                    match holder {
                        Some(h) => format!("another run ({h}) is working on it"),
                        None => "another run is working on it".into(),
                    },
                )
            }),
            Err(IssueError::Superseded(_)) => outcomes.push(RenewOutcome::new(
                r.cert_name,
                Outcome::Skipped,
                "another run stored it meanwhile".into(),
            )),
            Err(e) => outcomes.push(RenewOutcome::failed(r.cert_name, &e)),
        }
    }
    if let Ok(mut owed) = opts.post_hook_owed.lock() {
        *owed = None;
    }
    let post_hook = match post_hook {
        Some(cmd) => {
            let stored = |k: Outcome| -> Vec<&str> {
                outcomes
                    .iter()
                    .filter(|o| o.outcome == k && due_names.contains(&o.name))
                    .map(|o| o.name.as_str())
                    .collect()
            };
            let mut renewed = stored(Outcome::Issued);
            renewed.extend(stored(Outcome::Renewed));
            let env = vec![
                ("WILDCERT_DUE_CERTS".to_string(), due_names.join(" ")),
                ("WILDCERT_RENEWED_CERTS".to_string(), renewed.join(" ")),
                (
                    "WILDCERT_FAILED_CERTS".to_string(),
                    stored(Outcome::Failed).join(" "),
                ),
            ];
            Some(run_hook(cmd, &env, "post_hook", DEFAULT_HOOK_TIMEOUT).await)
        }
        None => None,
    };
    Ok(RenewRound {
        outcomes,
        pre_hook,
        post_hook,
    })
}

/// When a certificate another run holds is looked at again. A database lease: just after it
/// runs out (`free_in`, the database's reckoning, plus [`BUSY_MARGIN`]) — a living holder has
/// renewed it by then and it is looked at again at its new end; a dead holder's lease is taken
/// over at once, so a standby takes over within one of the holder's leases of its death. A
/// `flock` (no end known): half the store's lease (`[store] lease`, 60 s by default).
fn busy_retry(cfg: &RunConfig, free_in: Option<Duration>) -> Duration {
    match free_in {
        Some(left) => left + BUSY_MARGIN,
        None => cfg.store.lease() / 2,
    }
}

/// How long after a holder's lease ends a standby looks again (the database decides expiry
/// to the millisecond; this covers the round trip).
const BUSY_MARGIN: Duration = Duration::from_millis(50);

/// For certificates not due that renew from a standing dns-persist-01 record: check the
/// record now (every authoritative server), so a `persistUntil` less than 30 days away, or a
/// record that is gone, is told while there is time to fix it (the outcome's detail and a
/// warning). Needs the CA's directory (`caaIdentities`) and a stored account; nothing is
/// registered or ordered.
async fn check_standing(
    cfg: &RunConfig,
    store: &Store,
    outcomes: &mut [RenewOutcome],
    standing: &[(usize, crate::model::Names)],
) {
    let client = match cfg.acme_client().await {
        Ok(c) => c,
        Err(e) => {
            warn!("dns-persist-01 records not checked: {e}");
            return;
        }
    };
    let issuers = crate::persist::directory_issuers(&client);
    let url = crate::account::stored_record(store, client.directory_url()).map(|r| r.url);
    let Some(url) = url else { return };
    for (i, names) in standing {
        for id in names.identifiers() {
            let note = match crate::persist::check_identifier(&cfg.dns, &issuers, &url, id).await {
                Ok(Some(report)) => crate::persist::warn_if_expiring(&id.as_acme(), &report),
                Ok(None) => None,
                Err(e) => {
                    let msg = format!("the next renewal will fail: {e}; {}", e.hint());
                    warn!("{msg}");
                    Some(msg)
                }
            };
            if let (Some(note), Some(o)) = (note, outcomes.get_mut(*i)) {
                o.detail.push_str(&format!("; warning: {note}"));
            }
        }
    }
}

/// Fetch ARI for one certificate and record the window; true when meta changed.
async fn refresh_ari(client: &wildcert_acme::AcmeClient, meta: &mut CertMeta) -> bool {
    let Some(id) = meta.ari_cert_id.clone() else {
        return false;
    };
    let now = OffsetDateTime::now_utc();
    match client
        .renewal_info(&wildcert_acme::CertId::from_string(id))
        .await
    {
        Ok(info) => {
            meta.ari_renew_at = Some(rfc3339(info.suggested_window.random_time()));
            let wait = info.retry_after.unwrap_or(ARI_DEFAULT_RECHECK);
            meta.ari_next_check = Some(rfc3339(now + wait));
            true
        }
        Err(e) => {
            warn!("renewal information (ARI): {e}");
            meta.ari_next_check = Some(rfc3339(now + time::Duration::hours(1)));
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(ok: bool) -> HookReport {
        HookReport {
            command: "post".into(),
            exit_code: Some(if ok { 0 } else { 1 }),
            ok,
            error: None,
        }
    }

    fn outcome(outcome: Outcome, code: ExitCode) -> RenewOutcome {
        RenewOutcome {
            code,
            ..RenewOutcome::new("a.test".into(), outcome, String::new())
        }
    }

    #[test]
    fn round_exit_code_first_failure_then_hooks() {
        let mut round = RenewRound {
            outcomes: vec![outcome(Outcome::Renewed, ExitCode::Ok)],
            ..RenewRound::default()
        };
        assert_eq!(round.exit_code(), ExitCode::Ok);
        round.post_hook = Some(hook(false));
        assert_eq!(round.exit_code(), ExitCode::Hook);
        round.outcomes.push(outcome(Outcome::Failed, ExitCode::Dns));
        round.outcomes.push(outcome(Outcome::Failed, ExitCode::Ca));
        assert_eq!(round.exit_code(), ExitCode::Dns, "the first failure's code");
        // A failure classified as nothing to do is still a failed run.
        round
            .outcomes
            .insert(0, outcome(Outcome::Failed, ExitCode::Ok));
        assert_eq!(round.exit_code(), ExitCode::Internal);
        round.outcomes.clear();
        round.post_hook = Some(hook(true));
        assert_eq!(round.exit_code(), ExitCode::Ok);
    }
}
