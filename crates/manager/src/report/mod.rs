//! The machine output of the `wildcert` command: every `--json` document and the exit code.
//!
//! The documents are types of their own, converted from the engine's, so the output is a
//! contract that does not move when the engine's types do. Field names are those of the first
//! release: add fields, never rename them. Every document is printed by [`json_line`] (one
//! line, keys sorted) except `check`'s, which keeps its declared key order
//! ([`CheckDoc::to_line`]), as it always has.

mod account;
mod certs;
mod check;
mod issue;
mod persist;
mod providers;
mod store;
mod sync;

use serde::Serialize;
use serde_json::{Value, json};

pub use crate::error::ExitCode;
pub use account::{Account, AccountAtCa, AccountDoc, AccountKey, DeactivateDoc, Deactivation};
pub use account::{Rollover, RolloverDoc};
pub use certs::{
    DeleteDoc, Deletion, ListDoc, ListedCertificate, LiveCertificate, Meta, PlannedAction,
    RecordedRequest, RenewalPlan, Revocation, RevokeDoc, ShowDoc, ShownCertificate,
};
pub use check::{CheckDoc, CheckFinding};
pub use issue::{
    Certificate, Hook, Install, IssueDoc, NotDueDoc, RenewDoc, Renewal, StageTimes, Summary,
};
pub use persist::{PersistDoc, Persisted, PersistedRecord};
pub use providers::{Provider, ProviderDoc, ProviderSetting, ProvidersDoc};
pub use store::{MigrateDoc, MigratedDoc};
pub use sync::{SyncDoc, Synced};

/// A failed command: `{"ok": false, "error", "hint", "exit_code"}`.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorDoc {
    /// Always false.
    pub ok: bool,
    /// What went wrong, one line.
    pub error: String,
    /// What to do.
    pub hint: String,
    /// The exit code the command ends with.
    pub exit_code: ExitCode,
}

impl ErrorDoc {
    /// The document of a failure.
    pub fn new(error: &str, hint: &str, exit_code: ExitCode) -> Self {
        ErrorDoc {
            ok: false,
            error: error.to_string(),
            hint: hint.to_string(),
            exit_code,
        }
    }
}

/// `wildcert config check --json`: `{"ok", "config", "certificates", "providers", "errors",
/// "warnings"}`, each finding `{"at", "message", "hint"}`.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigCheckDoc {
    /// True when there is no error.
    pub ok: bool,
    /// The config file (null when none was given).
    pub config: Option<String>,
    /// How many `[[certificate]]` entries.
    pub certificates: usize,
    /// The `[providers.<id>]` ids.
    pub providers: Vec<String>,
    /// What makes every command refuse to run.
    pub errors: Vec<ConfigFinding>,
    /// What is worth fixing.
    pub warnings: Vec<ConfigFinding>,
    /// 0, or 2 when there are errors.
    pub exit_code: ExitCode,
}

/// One finding of `wildcert config check`.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigFinding {
    /// `FILE:LINE` or the section.
    pub at: String,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub hint: String,
}

impl ConfigCheckDoc {
    /// The document of a report.
    pub fn new(r: &crate::validate::ConfigReport) -> Self {
        use crate::validate::Severity;
        let of = |sev: Severity| {
            r.problems
                .iter()
                .filter(|p| p.severity == sev)
                .map(|p| ConfigFinding {
                    at: p.at.clone(),
                    message: p.message.clone(),
                    hint: p.hint.clone(),
                })
                .collect::<Vec<_>>()
        };
        ConfigCheckDoc {
            ok: r.ok(),
            config: r.file.as_ref().map(|p| p.display().to_string()),
            certificates: r.certificates,
            providers: r.providers.clone(),
            errors: of(Severity::Error),
            warnings: of(Severity::Warning),
            exit_code: if r.ok() {
                ExitCode::Ok
            } else {
                ExitCode::Settings
            },
        }
    }
}

/// `wildcert import … --json`: `{"ok", "certificates":[{"name","names","versions","provider",
/// "server","skipped","not_carried"}], "accounts", "config"}`.
#[derive(Debug, Clone, Serialize)]
pub struct ImportDoc {
    /// True when no lineage was skipped.
    pub ok: bool,
    /// One entry per lineage found.
    pub certificates: Vec<ImportedCertificate>,
    /// One line per account.
    pub accounts: Vec<String>,
    /// The config file written, if any.
    pub config: Option<String>,
}

/// One lineage in [`ImportDoc`].
#[derive(Debug, Clone, Serialize)]
pub struct ImportedCertificate {
    /// Store name.
    pub name: String,
    /// Its names.
    pub names: Vec<String>,
    /// Versions imported.
    pub versions: u32,
    /// Provider it renews with.
    pub provider: Option<String>,
    /// CA it renews against.
    pub server: String,
    /// Why it was not imported.
    pub skipped: Option<String>,
    /// What could not be carried over.
    pub not_carried: Vec<String>,
}

impl From<&crate::import::ImportReport> for ImportDoc {
    fn from(r: &crate::import::ImportReport) -> Self {
        ImportDoc {
            ok: r.lineages.iter().all(|l| l.skipped.is_none()),
            certificates: r
                .lineages
                .iter()
                .map(|l| ImportedCertificate {
                    name: l.name.clone(),
                    names: l.names.clone(),
                    versions: l.versions,
                    provider: l.provider.clone(),
                    server: l.server.clone(),
                    skipped: l.skipped.clone(),
                    not_carried: l.not_carried.clone(),
                })
                .collect(),
            accounts: r.accounts.clone(),
            config: r.config.as_ref().map(|p| p.display().to_string()),
        }
    }
}

/// `wildcert man --dir DIR --json`: the pages written.
#[derive(Debug, Clone, Serialize)]
pub struct ManDoc {
    /// Always true.
    pub ok: bool,
    /// The files written.
    pub pages: Vec<String>,
}

impl ManDoc {
    /// The document for the pages written.
    pub fn new(paths: &[std::path::PathBuf]) -> Self {
        ManDoc {
            ok: true,
            pages: paths.iter().map(|p| p.display().to_string()).collect(),
        }
    }
}

/// What is printed instead of a document that cannot be serialised (a path that is not
/// UTF-8, say): `{"ok": false, "error": "cannot serialise the <what>: …"}`.
#[derive(Debug, Clone, Serialize)]
struct Unprintable {
    ok: bool,
    error: String,
}

fn unprintable(what: &str, e: &serde_json::Error) -> String {
    let doc = Unprintable {
        ok: false,
        error: format!("cannot serialise the {what}: {e}"),
    };
    // Two strings and a bool always serialise; the fallback of the fallback is a constant.
    serde_json::to_value(&doc)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| r#"{"ok":false}"#.to_string())
}

/// The line `--json` prints for `doc`: compact, keys sorted (serde_json's map), with
/// `"dry_run": "<directory>"` added for a dry run.
pub fn json_line<T: Serialize>(doc: &T, dry_run: Option<&str>) -> String {
    let value = serde_json::to_value(doc).map(|mut v| {
        if let (Some(d), Some(map)) = (dry_run, v.as_object_mut()) {
            map.insert("dry_run".into(), json!(d));
        }
        v
    });
    match value.and_then(|v: Value| serde_json::to_string(&v)) {
        Ok(s) => s,
        Err(e) => unprintable("result", &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_document_keeps_its_keys_and_sorts_them() {
        let doc = ErrorDoc::new("no names", "give -d", ExitCode::Settings);
        assert_eq!(
            json_line(&doc, None),
            r#"{"error":"no names","exit_code":2,"hint":"give -d","ok":false}"#
        );
    }

    #[test]
    fn dry_run_is_added_to_objects_only() {
        let doc = ManDoc::new(&["/m/wildcert.1".into()]);
        assert_eq!(
            json_line(&doc, Some("https://ca.test/dir")),
            r#"{"dry_run":"https://ca.test/dir","ok":true,"pages":["/m/wildcert.1"]}"#
        );
        assert_eq!(json_line(&vec![1, 2], Some("x")), "[1,2]");
    }

    #[test]
    fn a_path_that_is_not_utf8_gives_an_error_document() {
        use std::os::unix::ffi::OsStrExt;
        let bad = std::path::PathBuf::from(std::ffi::OsStr::from_bytes(b"/tmp/\xff"));
        let line = json_line(&bad, None);
        let v: Value = serde_json::from_str(&line).expect("json");
        assert_eq!(v["ok"], false);
        assert!(
            v["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("cannot serialise the result: ")),
            "{line}"
        );
    }

    #[test]
    fn exit_codes_are_the_documented_numbers() {
        let all = [
            (ExitCode::Ok, 0),
            (ExitCode::Internal, 1),
            (ExitCode::Settings, 2),
            (ExitCode::Dns, 3),
            (ExitCode::Ca, 4),
            (ExitCode::Store, 5),
            (ExitCode::Hook, 6),
            (ExitCode::Interrupted, 130),
        ];
        let doc = include_str!("../../../../docs/operations.md");
        for (c, n) in all {
            assert_eq!(c.code(), n);
            assert_eq!(serde_json::to_string(&c).expect("json"), n.to_string());
            assert_eq!(c.is_ok(), n == 0);
            assert!(!c.failure().is_ok());
            assert!(
                doc.contains(&format!("\n| {n} | ")),
                "docs/operations.md has no row for exit code {n}"
            );
        }
    }
}

#[cfg(test)]
mod golden;
