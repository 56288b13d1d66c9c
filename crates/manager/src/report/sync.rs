//! `wildcert sync --json`.

use std::path::PathBuf;

use serde::Serialize;

use super::Hook;
use crate::sync::{SyncReport, SyncStatus};

/// `sync --json`: `{"ok", "dir", "changed", "certificates": [{"name", "status", "version",
/// "files", "error"}], "reload"}`.
#[derive(Debug, Serialize)]
pub struct SyncDoc {
    /// False when a certificate could not be written or the reload failed.
    pub ok: bool,
    /// The directory synced (`--to`).
    pub dir: PathBuf,
    /// Whether any file was written.
    pub changed: bool,
    /// One entry per certificate, by name.
    pub certificates: Vec<Synced>,
    /// The reload, when one ran (only after a run that wrote something, or one owed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reload: Option<Hook>,
}

/// One certificate of `sync --json`.
#[derive(Debug, Clone, Serialize)]
pub struct Synced {
    /// The certificate's name in the store.
    pub name: String,
    /// `written`, `unchanged`, `not-issued` or `failed`.
    pub status: SyncStatus,
    /// The live version in the store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// The files written (empty unless `written`).
    pub files: Vec<PathBuf>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<&SyncReport> for SyncDoc {
    fn from(r: &SyncReport) -> Self {
        SyncDoc {
            ok: r.exit_code() == crate::error::ExitCode::Ok,
            dir: r.dir.clone(),
            changed: r.changed(),
            certificates: r
                .certs
                .iter()
                .map(|c| Synced {
                    name: c.name.clone(),
                    status: c.status,
                    version: c.version,
                    files: c.files.clone(),
                    error: c.error.clone(),
                })
                .collect(),
            reload: r.reload.as_ref().map(Into::into),
        }
    }
}
