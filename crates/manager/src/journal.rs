//! The journal: records published and not yet removed. Written before every publish and
//! removed after cleanup, so a run that crashed (or was killed) leaves enough on disk for the
//! next run to remove its records.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use wildcert_dns::Plan;

use crate::store::{Store, StoreError};

/// One journal entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JournalEntry {
    /// The provider id (`[providers.<id>]`) or kind that published the records.
    pub provider: String,
    /// The certbot credentials file the provider read, if any (cleanup reads it again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<PathBuf>,
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
    store: Store,
    path: PathBuf,
}

impl JournalHandle {
    /// Delete the entry.
    pub fn remove(self) -> Result<(), StoreError> {
        self.store.remove_file(&self.path)
    }

    /// The entry's file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

/// Write an entry before publishing.
pub fn record(
    store: &Store,
    provider: &str,
    credentials: Option<&std::path::Path>,
    plan: &Plan,
) -> Result<JournalHandle, StoreError> {
    let dir = store.journal_dir();
    store.create_dir_private(&dir)?;
    let id = format!(
        "{}-{}-{:08x}",
        time::OffsetDateTime::now_utc().unix_timestamp(),
        std::process::id(),
        rand::random::<u32>()
    );
    let path = dir.join(format!("{id}.json"));
    let entry = JournalEntry {
        provider: provider.to_string(),
        credentials: credentials.map(std::path::Path::to_path_buf),
        plan: plan.clone(),
        pid: std::process::id(),
        created: crate::verify::rfc3339(time::OffsetDateTime::now_utc()),
    };
    store.write_json(&path, &entry, 0o600)?;
    Ok(JournalHandle {
        store: store.clone(),
        path,
    })
}

/// Entries left by runs that are no longer alive (or by this process, when `include_self`).
pub fn orphans(
    store: &Store,
    include_self: bool,
) -> Result<Vec<(JournalHandle, JournalEntry)>, StoreError> {
    let mut out = Vec::new();
    for (path, j) in entries(store)? {
        let mine = j.pid == std::process::id();
        let alive = !mine && PathBuf::from(format!("/proc/{}", j.pid)).exists();
        if (mine && include_self) || (!mine && !alive) {
            out.push((
                JournalHandle {
                    store: store.clone(),
                    path,
                },
                j,
            ));
        }
    }
    Ok(out)
}

/// Every entry in `journal/` (read without following links: a link there is an error).
pub fn entries(store: &Store) -> Result<Vec<(PathBuf, JournalEntry)>, StoreError> {
    let dir = store.journal_dir();
    let mut out = Vec::new();
    for name in store.list_dir(&dir)? {
        if !name.ends_with(".json") || name.starts_with('.') {
            continue;
        }
        let path = dir.join(name);
        if let Some(j) = store.read_json::<JournalEntry>(&path)? {
            out.push((path, j));
        }
    }
    Ok(out)
}
