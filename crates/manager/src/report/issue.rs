//! The documents of `issue` and `renew`.

use std::path::PathBuf;

use serde::Serialize;

use crate::hooks::HookReport;
use crate::install::{InstallError, InstallReport};
use crate::model::{Issued, Timings};
use crate::renew::{Outcome, RenewOutcome, RenewRound};
use crate::session::IssueReport;

/// A stored certificate.
#[derive(Debug, Serialize)]
pub struct Certificate {
    /// Store name.
    pub cert_name: String,
    /// Archive version now live.
    pub version: u32,
    /// `certs/<name>/live`.
    pub live_dir: PathBuf,
    /// Names in the certificate.
    pub names: Vec<String>,
    /// Key type.
    pub key_type: String,
    /// RFC 3339 notBefore.
    pub not_before: String,
    /// RFC 3339 notAfter.
    pub not_after: String,
    /// Issuer common name of the leaf.
    pub issuer: Option<String>,
    /// Serial number, hex.
    pub serial: String,
    /// The order URL.
    pub order_url: String,
    /// Milliseconds: total and per stage.
    pub timings_ms: StageTimes,
    /// DNS zones updated, and the number of TXT values in each.
    pub zones: Vec<(String, usize)>,
    /// HTTP requests sent to the CA.
    pub acme_requests: u64,
    /// DNS queries the propagation checker sent.
    pub dns_queries: u64,
}

/// Stage times in milliseconds.
#[derive(Debug, Serialize)]
pub struct StageTimes {
    /// Whole run.
    pub total: u64,
    /// Preflight, order and authorizations.
    pub order: u64,
    /// Publish.
    pub publish: u64,
    /// Propagation wait.
    pub propagation: u64,
    /// CA validation.
    pub validation: u64,
    /// Finalize and download.
    pub finalize: u64,
}

impl From<&Timings> for StageTimes {
    fn from(t: &Timings) -> Self {
        StageTimes {
            total: t.total,
            order: t.order,
            publish: t.publish,
            propagation: t.propagation,
            validation: t.validation,
            finalize: t.finalize,
        }
    }
}

impl From<&Issued> for Certificate {
    fn from(r: &Issued) -> Self {
        Certificate {
            cert_name: r.cert_name.clone(),
            version: r.version,
            live_dir: r.live_dir.clone(),
            names: r.names.clone(),
            key_type: r.key_type.clone(),
            not_before: r.not_before.clone(),
            not_after: r.not_after.clone(),
            issuer: r.issuer.clone(),
            serial: r.serial.clone(),
            order_url: r.order_url.clone(),
            timings_ms: StageTimes::from(&r.timings_ms),
            zones: r.zones.clone(),
            acme_requests: r.acme_requests,
            dns_queries: r.dns_queries,
        }
    }
}

/// A deploy hook's run.
#[derive(Debug, Serialize)]
pub struct Hook {
    /// The command.
    pub command: String,
    /// Exit code; `null` when killed (timeout) or not started.
    pub exit_code: Option<i32>,
    /// True when it exited 0.
    pub ok: bool,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<&HookReport> for Hook {
    fn from(h: &HookReport) -> Self {
        Hook {
            command: h.command.clone(),
            exit_code: h.exit_code,
            ok: h.ok,
            error: h.error.clone(),
        }
    }
}

/// `issue --json`.
#[derive(Debug, Serialize)]
pub struct IssueDoc {
    /// True unless the deploy hook failed (other failures print the error document).
    pub ok: bool,
    /// The certificate.
    pub certificate: Certificate,
    /// The deploy hook, when one ran (`null` otherwise).
    pub hook: Option<Hook>,
    /// One entry per `--install-dir` (absent without one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub install: Vec<Install>,
}

impl IssueDoc {
    /// The document of an issuance: `ok` unless a hook or an install target failed.
    pub fn of(r: &IssueReport) -> Self {
        IssueDoc {
            ok: r.exit_code().is_ok(),
            certificate: (&r.issued).into(),
            hook: r.hook.as_ref().map(Into::into),
            install: r.installs.iter().map(Into::into).collect(),
        }
    }
}

/// `issue --json` when a valid certificate with the same names is not due: nothing ordered.
#[derive(Debug, Serialize)]
pub struct NotDueDoc {
    /// Always true: nothing was wrong, nothing was ordered.
    pub ok: bool,
    /// Always false.
    pub ordered: bool,
    /// Store name.
    pub name: String,
    /// The names of the live certificate.
    pub names: Vec<String>,
    /// RFC 3339 notAfter of the live certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    /// RFC 3339 time it becomes due.
    pub due: String,
    /// The rule that made that time.
    pub rule: String,
}

impl NotDueDoc {
    /// The document of an `issue` that ordered nothing.
    pub fn of(n: &crate::session::NotDue) -> Self {
        NotDueDoc {
            ok: true,
            ordered: false,
            name: n.cert_name.clone(),
            names: n.names.clone(),
            not_after: n.not_after.clone(),
            due: n.due.clone(),
            rule: n.rule.clone(),
        }
    }
}

/// One install target of `issue --json`.
#[derive(Debug, Serialize)]
pub struct Install {
    /// The directory.
    pub dir: String,
    /// True when every file was written (and the reload, if any, exited 0).
    pub ok: bool,
    /// The files written.
    pub files: Vec<String>,
    /// Why the files could not be written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The reload command, when one ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reload: Option<Hook>,
}

impl From<&Result<InstallReport, InstallError>> for Install {
    fn from(r: &Result<InstallReport, InstallError>) -> Self {
        match r {
            Ok(r) => Install {
                dir: r.dir.display().to_string(),
                ok: r.reload.as_ref().is_none_or(|h| h.ok),
                files: r.files.iter().map(|f| f.display().to_string()).collect(),
                error: None,
                reload: r.reload.as_ref().map(Into::into),
            },
            Err(e) => Install {
                dir: e.dir().display().to_string(),
                ok: false,
                files: Vec::new(),
                error: Some(e.to_string()),
                reload: None,
            },
        }
    }
}

/// One certificate of `renew --json`.
#[derive(Debug, Serialize)]
pub struct Renewal {
    /// Store name.
    pub name: String,
    /// `issued`, `renewed`, `skipped` or `failed`.
    pub outcome: &'static str,
    /// Why.
    pub detail: String,
    /// When it is next due (skipped ones).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_due: Option<String>,
    /// The stored certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<Certificate>,
    /// The deploy hook's run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook: Option<Hook>,
    /// What to do about a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl From<&RenewOutcome> for Renewal {
    fn from(o: &RenewOutcome) -> Self {
        Renewal {
            name: o.name.clone(),
            outcome: o.outcome.as_str(),
            detail: o.detail.clone(),
            next_due: o.next_due.clone(),
            certificate: o.certificate.as_ref().map(Certificate::from),
            hook: o.hook.as_ref().map(Hook::from),
            hint: o.hint.clone(),
        }
    }
}

/// Counts per outcome.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// Issued for the first time.
    pub issued: usize,
    /// Renewed.
    pub renewed: usize,
    /// Not due, or done by another run.
    pub skipped: usize,
    /// Failed.
    pub failed: usize,
}

/// `renew --json`.
#[derive(Debug, Serialize)]
pub struct RenewDoc {
    /// True when nothing failed.
    pub ok: bool,
    /// Counts.
    pub summary: Summary,
    /// Every certificate.
    pub certificates: Vec<Renewal>,
    /// The run's pre hook, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_hook: Option<Hook>,
    /// The run's post hook, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_hook: Option<Hook>,
}

impl RenewDoc {
    /// The document of a round: `ok` when its exit code is.
    pub fn of(round: &RenewRound) -> Self {
        RenewDoc::new(&round.outcomes, round.exit_code().is_ok()).with_hooks(round)
    }

    /// The document for a round's outcomes.
    pub fn new(outcomes: &[RenewOutcome], ok: bool) -> Self {
        let count = |k: Outcome| outcomes.iter().filter(|o| o.outcome == k).count();
        RenewDoc {
            ok,
            summary: Summary {
                issued: count(Outcome::Issued),
                renewed: count(Outcome::Renewed),
                skipped: count(Outcome::Skipped),
                failed: count(Outcome::Failed),
            },
            certificates: outcomes.iter().map(Renewal::from).collect(),
            pre_hook: None,
            post_hook: None,
        }
    }

    /// Add the round's pre and post hook reports.
    pub fn with_hooks(mut self, round: &RenewRound) -> Self {
        self.pre_hook = round.pre_hook.as_ref().map(Into::into);
        self.post_hook = round.post_hook.as_ref().map(Into::into);
        self
    }
}
