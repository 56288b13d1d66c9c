//! The journal: records published and not yet removed. Written before every publish and
//! removed after cleanup, so a run that crashed (or was killed) leaves enough on disk for the
//! next run to remove its records.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use wildcert_dns::Plan;

use crate::store::{Store, StoreError, create_dir_private, read_json, write_json};

/// One journal entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JournalEntry {
    /// The provider id (`[providers.<id>]`) or kind that published the records.
    pub provider: String,
    /// What was (or was about to be) published.
    pub plan: Plan,
    /// Process that wrote the entry.
    pub pid: u32,
    /// RFC 3339 time of writing.
    pub created: String,
}

/// A handle on one written entry; `remove` deletes it after a successful cleanup.
#[derive(Debug)]
pub struct JournalHandle {
    path: PathBuf,
}

impl JournalHandle {
    /// Delete the entry.
    pub fn remove(self) -> Result<(), StoreError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::Io {
                op: "remove",
                path: self.path,
                source: e,
            }),
        }
    }

    /// The entry's file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

/// Write an entry before publishing.
pub fn record(store: &Store, provider: &str, plan: &Plan) -> Result<JournalHandle, StoreError> {
    let dir = store.journal_dir();
    create_dir_private(&dir)?;
    let id = format!(
        "{}-{}-{:08x}",
        time::OffsetDateTime::now_utc().unix_timestamp(),
        std::process::id(),
        rand::random::<u32>()
    );
    let path = dir.join(format!("{id}.json"));
    let entry = JournalEntry {
        provider: provider.to_string(),
        plan: plan.clone(),
        pid: std::process::id(),
        created: crate::verify::rfc3339(time::OffsetDateTime::now_utc()),
    };
    write_json(&path, &entry, 0o600)?;
    Ok(JournalHandle { path })
}

/// Entries left by runs that are no longer alive (or by this process, when `include_self`).
pub fn orphans(
    store: &Store,
    include_self: bool,
) -> Result<Vec<(JournalHandle, JournalEntry)>, StoreError> {
    let dir = store.journal_dir();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(StoreError::Io {
                op: "list",
                path: dir,
                source: e,
            });
        }
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let Some(j) = read_json::<JournalEntry>(&path)? else {
            continue;
        };
        let mine = j.pid == std::process::id();
        let alive = !mine && PathBuf::from(format!("/proc/{}", j.pid)).exists();
        if (mine && include_self) || (!mine && !alive) {
            out.push((JournalHandle { path }, j));
        }
    }
    Ok(out)
}
