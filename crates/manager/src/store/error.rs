//! Store errors: each names the path involved and carries its hint.

use std::io;
use std::path::{Path, PathBuf};

use rustix::io::Errno;

use super::shell_quote;
use crate::store::pg::PgStoreError;

/// A store error; each names the path involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What we were doing.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A JSON file in the store is damaged.
    #[error("{} is damaged: {message}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Another run holds the lock.
    #[error("{} is locked by another wildcert run{}", path.display(), holder.as_ref().map(|h| format!(" ({h})")).unwrap_or_default())]
    Locked {
        /// The lock file (for a database lease: `locks/<name>`, not a file).
        path: PathBuf,
        /// What the holder wrote into the lock (`pid <n> since <time>`), if readable.
        holder: Option<String>,
        /// The holder's process id, if readable.
        pid: Option<u32>,
        /// Since when (RFC 3339) the holder has the lock, if readable.
        since: Option<String>,
        /// For a database lease: how long until it runs out unless its holder renews it
        /// (`None` for a `flock`, held until its holder exits).
        free_in: Option<std::time::Duration>,
    },
    /// A certificate name that cannot be a directory name.
    #[error("`{0}` cannot be used as a certificate name (letters, digits, `.`, `-`, `_` only)")]
    BadName(String),
    /// A symbolic link where the store expects a file or directory of its own.
    #[error("{} is a symbolic link; wildcert never follows links inside its state directory", path.display())]
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// Something other than the plain file or directory the store expects.
    #[error("{} {what}", path.display())]
    NotPlain {
        /// The path.
        path: PathBuf,
        /// What is wrong with it.
        what: String,
    },
    /// The state directory (or a directory in it) is open to other users (StrictModes).
    #[error("the state directory {} {problem}; wildcert refuses to use it", path.display())]
    Unsafe {
        /// The directory.
        path: PathBuf,
        /// What is wrong.
        problem: String,
        /// The exact command that fixes it.
        fix: String,
    },
    /// A path given to the store is not below its root.
    #[error("{} is outside the state directory", path.display())]
    Outside {
        /// The path.
        path: PathBuf,
    },
    /// A `key_group` / `key_mode` setting that cannot be used.
    #[error("{0}")]
    BadPerms(String),
    /// The database store failed (unavailable, refused, a stale lease fenced off, …).
    #[error(transparent)]
    Database(PgStoreError),
    /// A write of a locked name without its lock held here: refused, never written unfenced.
    #[error("write of `{key}` refused: this process does not hold lock `{lock}`")]
    NotLocked {
        /// The object key.
        key: String,
        /// The lock its writes need.
        lock: String,
    },
}

impl From<PgStoreError> for StoreError {
    /// A held lock stays [`StoreError::Locked`] (callers skip such certificates, as with a
    /// `flock`); everything else is [`StoreError::Database`].
    fn from(e: PgStoreError) -> StoreError {
        match e {
            PgStoreError::Locked {
                name,
                holder,
                expires_at,
                left,
            } => StoreError::Locked {
                path: PathBuf::from("locks").join(&name),
                holder: Some(format!(
                    "{holder}, lease until {}",
                    crate::verify::rfc3339(expires_at)
                )),
                pid: None,
                since: None,
                free_in: Some(left),
            },
            other => StoreError::Database(other),
        }
    }
}

impl StoreError {
    pub(super) fn io<'a>(
        op: &'static str,
        path: &'a Path,
    ) -> impl FnOnce(io::Error) -> StoreError + 'a {
        move |source| StoreError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    pub(super) fn errno<'a>(
        op: &'static str,
        path: &'a Path,
    ) -> impl FnOnce(Errno) -> StoreError + 'a {
        move |e| StoreError::Io {
            op,
            path: path.to_path_buf(),
            source: e.into(),
        }
    }

    /// True when the store cannot be written here: a read-only file system, or no permission.
    pub fn is_read_only(&self) -> bool {
        matches!(self, StoreError::Io { source, .. }
            if matches!(source.kind(), io::ErrorKind::ReadOnlyFilesystem | io::ErrorKind::PermissionDenied))
            || matches!(
                self,
                StoreError::Database(PgStoreError::PermissionDenied { .. })
            )
    }

    /// A hint for the CLI's second line.
    pub fn hint(&self) -> String {
        match self {
            StoreError::Io { source, .. } if source.kind() == io::ErrorKind::PermissionDenied => {
                "run as a user who may write the state directory, or pick another with --state-dir"
                    .into()
            }
            StoreError::Io { .. } => {
                "check that the state directory exists, is writable and the disk is not full".into()
            }
            StoreError::Corrupt { .. } => {
                "move the damaged file aside; the next run recreates what it needs".into()
            }
            StoreError::Locked { pid: Some(pid), .. } => format!(
                "wait for the other run (pid {pid}) to finish; the lock is released when it exits"
            ),
            StoreError::Locked { .. } => {
                "wait for the other run to finish; the lock is released when it exits (a database lease at the latest when it expires)".into()
            }
            StoreError::BadName(_) => "choose another --cert-name".into(),
            StoreError::Symlink { path } => format!(
                "someone planted a link: inspect it, then remove it (rm {}) and run again",
                shell_quote(path)
            ),
            StoreError::NotPlain { path, .. } => format!(
                "inspect {} and move it aside; the store creates its own files",
                shell_quote(path)
            ),
            StoreError::Unsafe { fix, .. } => format!("run: {fix}"),
            StoreError::Outside { .. } => "keep every store path below --state-dir".into(),
            StoreError::Database(e) => e.hint(),
            StoreError::NotLocked { lock, .. } => format!(
                "take lock `{lock}` before writing it (this is a wildcert bug: please report it)"
            ),
            StoreError::BadPerms(_) => {
                "key_group is a group name or number; key_mode an octal mode without world bits, such as \"0640\""
                    .into()
            }
        }
    }
}
