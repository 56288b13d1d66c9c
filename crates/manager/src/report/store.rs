//! The document of `store migrate`.

use std::path::PathBuf;

use serde::Serialize;

use crate::commands::migrate::{CopyStatus, MigrateReport, MigratedItem};
use crate::error::ExitCode;

/// `store migrate --json`: `{"ok", "from", "to", "certificates": […], "accounts": […],
/// "switch": […], "key_file", "exit_code"}`.
#[derive(Debug, Clone, Serialize)]
pub struct MigrateDoc {
    /// True when every certificate and account was copied and verified.
    pub ok: bool,
    /// The source (a directory, or the database URL without its password).
    pub from: String,
    /// The target (same forms).
    pub to: String,
    /// One per certificate of the source.
    pub certificates: Vec<MigratedDoc>,
    /// One per account of the source (`name` is `<ca>/<account>`).
    pub accounts: Vec<MigratedDoc>,
    /// The config lines that switch this host to the target.
    pub switch: Vec<String>,
    /// The data key file the database's private keys are sealed with (to a database).
    pub key_file: Option<PathBuf>,
    /// 0, or 5 when something was not copied or did not verify.
    pub exit_code: ExitCode,
}

/// One certificate or account of `store migrate --json`.
#[derive(Debug, Clone, Serialize)]
pub struct MigratedDoc {
    /// The certificate name, or `<ca>/<account>`.
    pub name: String,
    /// `copied`, `replaced` or `failed`.
    pub status: &'static str,
    /// Every file read back from the target equals the source's, byte for byte.
    pub verified: bool,
    /// The archive versions copied, ascending (certificates).
    pub versions: Vec<u32>,
    /// The live version (certificates).
    pub live: Option<u32>,
    /// How many files were copied and compared.
    pub files: usize,
    /// What failed.
    pub error: Option<String>,
}

impl From<&MigratedItem> for MigratedDoc {
    fn from(i: &MigratedItem) -> Self {
        MigratedDoc {
            name: i.name.clone(),
            status: match i.status {
                CopyStatus::Copied => "copied",
                CopyStatus::Replaced => "replaced",
                CopyStatus::Failed => "failed",
            },
            verified: i.verified,
            versions: i.versions.clone(),
            live: i.live,
            files: i.files,
            error: i.error.clone(),
        }
    }
}

impl From<&MigrateReport> for MigrateDoc {
    fn from(r: &MigrateReport) -> Self {
        MigrateDoc {
            ok: r.ok(),
            from: r.from.clone(),
            to: r.to.clone(),
            certificates: r.certificates.iter().map(Into::into).collect(),
            accounts: r.accounts.iter().map(Into::into).collect(),
            switch: r.switch.clone(),
            key_file: r.key_file.clone(),
            exit_code: if r.ok() {
                ExitCode::Ok
            } else {
                ExitCode::Store
            },
        }
    }
}
