//! The filesystem locker: one `flock`ed file per certificate or account (`locks/<name>.lock`),
//! released by the kernel when the holder exits.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fs4::{FileExt, TryLockError};
use rustix::fs::{Mode, OFlags};

use super::*;

/// Width of the holder record in a lock file (rewritten in place, never truncated).
const LOCK_RECORD: usize = 80;

impl Store {
    /// Take the lock of a certificate (or any other lock name), waiting up to `wait` without
    /// blocking the runtime. A certificate's leftovers from a killed run are settled
    /// ([`Store::recover`]) as soon as its lock is taken.
    pub async fn lock(&self, name: &str, wait: Duration) -> Result<StoreLock, StoreError> {
        if let Some(pg) = &self.shared {
            return Locker::lock(&**pg, name, wait).await;
        }
        let start = Instant::now();
        let mut pause = Duration::from_millis(20);
        loop {
            if let Some(lock) = self.try_lock(name)? {
                return Ok(lock);
            }
            if start.elapsed() >= wait {
                return Err(self.locked_error(name));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }

    /// One attempt; `None` when another process (or handle) holds the lock.
    pub(super) fn try_lock(&self, name: &str) -> Result<Option<StoreLock>, StoreError> {
        let path = self.lock_path(name)?;
        let Some((dir, file_name)) = self.parent_fd(&path, true)? else {
            return Err(StoreError::Outside { path });
        };
        let fd = rustix::fs::openat(
            &dir,
            file_name,
            OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| classify(&dir, file_name, &path, e, "open lock"))?;
        check_own_file(&fd, &path)?;
        // Created 0600 whatever the umask; an older, wider lock file is narrowed.
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o600))
            .map_err(StoreError::errno("chmod", &path))?;
        let file = File::from(fd);
        match FileExt::try_lock(&file) {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => {
                return Err(StoreError::Io {
                    op: "lock",
                    path,
                    source: e,
                });
            }
        }
        // The holder record is rewritten in place (fixed width): the file is never truncated.
        let mut record = format!(
            "pid {} since {}",
            std::process::id(),
            crate::verify::rfc3339(time::OffsetDateTime::now_utc())
        );
        while record.len() < LOCK_RECORD {
            record.push(' ');
        }
        record.push('\n');
        rustix::io::pwrite(&file, record.as_bytes(), 0)
            .map_err(StoreError::errno("write lock", &path))?;
        let lock = StoreLock {
            held: Held::File { file, path },
        };
        if self
            .cert_dir(name)
            .is_ok_and(|d| self.exists(&d).unwrap_or(false))
        {
            self.recover(name)?;
        }
        Ok(Some(lock))
    }

    pub(super) fn locked_error(&self, name: &str) -> StoreError {
        let path = match self.lock_path(name) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let holder = self
            .read_string(&path)
            .ok()
            .flatten()
            .and_then(|s| s.lines().next().map(|l| l.trim().to_string()))
            .filter(|s| !s.is_empty());
        let pid = holder
            .as_deref()
            .and_then(|h| h.strip_prefix("pid "))
            .and_then(|h| h.split_whitespace().next())
            .and_then(|p| p.parse().ok());
        let since = holder
            .as_deref()
            .and_then(|h| h.split_once(" since "))
            .map(|(_, s)| s.trim().to_string());
        StoreError::Locked {
            path,
            holder,
            pid,
            since,
            free_in: None,
        }
    }

    pub(super) fn lock_path(&self, name: &str) -> Result<PathBuf, StoreError> {
        check_name(name)?;
        Ok(self.root.join("locks").join(format!("{name}.lock")))
    }
}

/// An exclusive lock held until dropped: a `flock`ed file (released by the kernel on exit) or
/// a database lease (renewed while held; see [`crate::store::pg::PgBackend`]).
#[derive(Debug)]
pub struct StoreLock {
    held: Held,
}

#[derive(Debug)]
enum Held {
    File {
        file: File,
        path: PathBuf,
    },
    /// Held for its `Drop` (stops renewing, releases the lease).
    Lease {
        _guard: crate::store::pg::LeaseGuard,
    },
}

impl StoreLock {
    /// The lock file; `None` for a database lease.
    pub fn path(&self) -> Option<&Path> {
        match &self.held {
            Held::File { path, .. } => Some(path),
            Held::Lease { .. } => None,
        }
    }

    /// Why the work under this lock must stop: a database lease found lost (taken by another
    /// bastion after this one paused past it); `None` while held, and always for a file lock.
    pub fn lost(&self) -> Option<StoreError> {
        match &self.held {
            Held::File { .. } => None,
            Held::Lease { _guard: guard } => guard.lost_error().map(StoreError::from),
        }
    }

    /// A lock that is a database lease.
    pub(crate) fn lease(guard: crate::store::pg::LeaseGuard) -> StoreLock {
        StoreLock {
            held: Held::Lease { _guard: guard },
        }
    }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        // A lease stops renewing and unlocks when its guard drops.
        if let Held::File { file, .. } = &self.held {
            let _ = FileExt::unlock(file);
        }
    }
}
