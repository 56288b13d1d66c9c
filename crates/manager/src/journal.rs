//! The journal: records published and not yet removed. Written before every publish and
//! removed after cleanup, so a run that crashed (or was killed) leaves enough on disk for the
//! next run to remove its records.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use wildcert_dns::Plan;

use crate::store::{Storage, StorageExt, Store, StoreError, journal_key};

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
    /// The lease holder of the run that wrote it (`<host> pid <n>`), when the store is shared
    /// by more than one host: the writer is alive while it holds a lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// RFC 3339 time of writing.
    pub created: String,
}

impl JournalEntry {
    /// True when this process wrote it.
    pub fn mine(&self, store: &Store) -> bool {
        match (&self.holder, store.shared()) {
            (Some(h), Some(pg)) => h == pg.holder(),
            _ => self.pid == std::process::id(),
        }
    }

    /// True when another process that is still running wrote it (its records may be in use):
    /// on this host, its pid is alive; on a shared store, it also still holds a lease (a run on
    /// another host that died, or was frozen past its lease, has none).
    pub fn writer_alive(&self, store: &Store) -> bool {
        if self.mine(store) {
            return false;
        }
        if let (Some(h), Some(pg)) = (&self.holder, store.shared()) {
            // Unknown (the database not answering): alive, so nothing is removed in doubt.
            let leased = pg.holder_alive(h).unwrap_or(true);
            let same_host = h.rsplit_once(" pid ").map(|(host, _)| host)
                == pg.holder().rsplit_once(" pid ").map(|(host, _)| host);
            let pid_alive = PathBuf::from(format!("/proc/{}", self.pid)).exists();
            return leased || (same_host && pid_alive);
        }
        PathBuf::from(format!("/proc/{}", self.pid)).exists()
    }
}

/// A handle on one written entry; `remove` deletes it after a successful cleanup.
#[derive(Debug)]
pub struct JournalHandle {
    store: Store,
    key: String,
}

impl JournalHandle {
    /// Delete the entry.
    pub fn remove(self) -> Result<(), StoreError> {
        self.store.delete(&self.key)
    }

    /// Where the entry is (its file, for the filesystem store).
    pub fn path(&self) -> PathBuf {
        self.store.root().join(&self.key)
    }
}

/// Write an entry before publishing.
pub fn record(
    store: &Store,
    provider: &str,
    credentials: Option<&std::path::Path>,
    plan: &Plan,
) -> Result<JournalHandle, StoreError> {
    let id = format!(
        "{}-{}-{:08x}",
        time::OffsetDateTime::now_utc().unix_timestamp(),
        std::process::id(),
        rand::random::<u32>()
    );
    let key = journal_key(&format!("{id}.json"))?;
    let entry = JournalEntry {
        provider: provider.to_string(),
        credentials: credentials.map(std::path::Path::to_path_buf),
        plan: plan.clone(),
        pid: std::process::id(),
        holder: store.shared().map(|pg| pg.holder().to_owned()),
        created: crate::verify::rfc3339(time::OffsetDateTime::now_utc()),
    };
    store.save_json(&key, &entry, true)?;
    Ok(JournalHandle {
        store: store.clone(),
        key,
    })
}

/// Entries left by runs that are no longer alive (or by this process, when `include_self`).
pub fn orphans(
    store: &Store,
    include_self: bool,
) -> Result<Vec<(JournalHandle, JournalEntry)>, StoreError> {
    let mut out = Vec::new();
    for (key, j) in entries(store)? {
        let mine = j.mine(store);
        if (mine && include_self) || (!mine && !j.writer_alive(store)) {
            out.push((
                JournalHandle {
                    store: store.clone(),
                    key,
                },
                j,
            ));
        }
    }
    Ok(out)
}

/// Every entry in `journal/`, by key (read without following links: a link there is an
/// error).
pub fn entries(store: &Store) -> Result<Vec<(String, JournalEntry)>, StoreError> {
    let mut out = Vec::new();
    for name in Storage::list(store, "journal")? {
        if !name.ends_with(".json") || name.starts_with('.') {
            continue;
        }
        let key = journal_key(&name)?;
        if let Some(j) = store.load_json::<JournalEntry>(&key)? {
            out.push((key, j));
        }
    }
    Ok(out)
}
