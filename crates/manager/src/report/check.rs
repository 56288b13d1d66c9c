//! The document of `check`.

use serde::Serialize;

use crate::check::{Area, CheckReport, Finding, Status};
use crate::error::ExitCode;

/// `check --json`: `{"ok", "exit_code", "names", "findings"}`, keys in this order.
#[derive(Debug, Clone, Serialize)]
pub struct CheckDoc {
    /// True when no finding failed.
    pub ok: bool,
    /// 0, or 4 when CAA forbids, 2 for provider settings, 3 for other failures.
    pub exit_code: ExitCode,
    /// The names checked, as ordered (`*.example.com`).
    pub names: Vec<String>,
    /// Every finding, grouped (general, then each zone, then each name).
    pub findings: Vec<CheckFinding>,
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct CheckFinding {
    /// The group: `general`, `zone <apex>`, or the names sharing one `_acme-challenge` name.
    pub group: String,
    /// What was checked (`provider`, `zone`, `probe`, `caa`, …).
    pub check: String,
    /// `pass`, `warn` or `fail`.
    pub status: &'static str,
    /// What was found.
    pub message: String,
    /// What to do (warn and fail).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Which exit code a failure maps to: `dns`, `caa` or `settings`.
    pub area: &'static str,
}

impl From<&Finding> for CheckFinding {
    fn from(f: &Finding) -> Self {
        CheckFinding {
            group: f.group.clone(),
            check: f.check.clone(),
            status: match f.status {
                Status::Pass => "pass",
                Status::Warn => "warn",
                Status::Fail => "fail",
            },
            message: f.message.clone(),
            hint: f.hint.clone(),
            area: match f.area {
                Area::Dns => "dns",
                Area::Caa => "caa",
                Area::Settings => "settings",
            },
        }
    }
}

impl From<&CheckReport> for CheckDoc {
    fn from(r: &CheckReport) -> Self {
        CheckDoc {
            ok: r.ok,
            exit_code: r.exit_code,
            names: r.names.clone(),
            findings: r.findings.iter().map(Into::into).collect(),
        }
    }
}

impl CheckDoc {
    /// The line `check --json` prints: keys in their declared order (as the first release
    /// printed them, unlike [`super::json_line`]).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| super::unprintable("report", &e))
    }
}
