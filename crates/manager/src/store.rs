//! The on-disk store (layout in DESIGN.md).
//!
//! ```text
//! accounts/<ca-host>/<account>/{account.json,key.pem}
//! certs/<name>/live -> archive/<n>            what servers point at (one atomic symlink swap)
//! certs/<name>/archive/<n>/{cert.pem,chain.pem,fullchain.pem,privkey.pem,meta.json}
//! certs/<name>/meta.json                      what is due; derived from archive/<live>/meta.json
//! journal/<id>.json                           records published, not yet removed
//! locks/<name>.lock                           "pid <n> since <time>" of the holder
//! ```
//!
//! Every file and directory below the state directory is opened from a directory handle with
//! `O_NOFOLLOW` (`openat`): a symbolic link planted anywhere inside is refused with
//! [`StoreError::Symlink`], and its target is never read, written or truncated. The only link
//! followed is `live`, which the store writes itself and reads with `readlinkat`.
//!
//! Every file is written to a temporary name in the same directory, fsynced, renamed into
//! place, and the directory fsynced. Modes are set with `fchmod` (the umask never widens
//! nor narrows them): private keys 0600 (or `key_mode`), directories 0700.
//!
//! A version is complete when `archive/<n>/meta.json` (written last) exists; `live` flips only
//! after that. The next run under the certificate's lock rolls a complete but unswitched version
//! forward, removes half-written versions and stale `*.tmp` files, and rewrites `meta.json`
//! to agree with `live`.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fs4::{FileExt, TryLockError};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;
use serde::{Deserialize, Serialize};

/// File names in `live/` and in each archive version (the names certbot users know).
pub const CERT_FILES: [&str; 4] = ["cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"];

/// The per-version metadata file inside `archive/<n>/` (its presence marks the version complete).
const VERSION_META: &str = "meta.json";

/// Width of the holder record in a lock file (rewritten in place, never truncated).
const LOCK_RECORD: usize = 80;

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
        /// The lock file.
        path: PathBuf,
        /// What the holder wrote into the lock (`pid <n> since <time>`), if readable.
        holder: Option<String>,
        /// The holder's process id, if readable.
        pid: Option<u32>,
        /// Since when (RFC 3339) the holder has the lock, if readable.
        since: Option<String>,
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
}

impl StoreError {
    fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
        move |source| StoreError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    fn errno<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(Errno) -> StoreError + 'a {
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
                "wait for the other run to finish; the lock is released when it exits".into()
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
            StoreError::BadPerms(_) => {
                "key_group is a group name or number; key_mode an octal mode without world bits, such as \"0640\""
                    .into()
            }
        }
    }
}

/// What `meta.json` records about a certificate.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CertMeta {
    /// The names in the certificate, in request order.
    pub names: Vec<String>,
    /// Key type (`ec256`, …).
    pub key_type: String,
    /// Provider id or kind used to answer the challenges.
    pub provider: String,
    /// Archive version that `live/` points at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// ACME order URL of the last issuance (or of the pending order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_url: Option<String>,
    /// ARI CertID (RFC 9773) of the live certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ari_cert_id: Option<String>,
    /// RFC 3339 time of issuance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<String>,
    /// RFC 3339 notBefore of the live certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    /// RFC 3339 notAfter of the live certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    /// Directory URL of the CA that issued it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The last error, if the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// An order placed and not yet finished: a re-run after a crash resumes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_order: Option<String>,
    /// RFC 3339 time ARI (RFC 9773) suggested for renewal (a random point in its window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ari_renew_at: Option<String>,
    /// RFC 3339 time before which the CA asked us not to fetch renewal information again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ari_next_check: Option<String>,
    /// RFC 3339 time of revocation, when revoked through wildcert (re-issue is then due).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// The validation method(s) the last issuance used (`dns-01`, `dns-account-01`,
    /// `dns-persist-01`; comma-separated when names used different ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
    /// The ACME profile the CA says the last order used (`Order::profile()`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// RFC 3339 time the last attempt failed (kept across later successes, for metrics).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure_at: Option<String>,
    /// What `issue` asked for: `renew` renews the certificate with it (unless a
    /// `[[certificate]]` entry names it, which wins). Absent for config-only certificates and
    /// in `meta.json` written before this field existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RecordedRequest>,
    /// The config file whose `[[certificate]]` entry it was last issued for (absolute): a
    /// `renew` with that file that no longer names it says so on every run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<PathBuf>,
}

/// The request `wildcert issue` recorded with a certificate (no secrets: the provider is an
/// id whose credentials come from the config or the environment at renewal).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// Directory URL of the CA it was issued by (renewed only by runs against that CA).
    pub server: String,
    /// The names asked for, in request order.
    pub domains: Vec<String>,
    /// Provider id or kind (empty for dns-persist-01).
    #[serde(default)]
    pub provider: String,
    /// Key type (`ec256`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_type: Option<String>,
    /// ACME profile asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Preferred chain asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_chain: Option<String>,
    /// Validation method asked for (`dns-01`, `auto`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
    /// Deploy hook command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_hook: Option<String>,
    /// Group of the private key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_group: Option<String>,
    /// Mode of the private key (octal string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_mode: Option<String>,
    /// The certbot credentials file the provider read (`issue --dns-credentials`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_credentials: Option<PathBuf>,
    /// The CA bundle trusted for the CA's HTTPS (`--ca-bundle`), as an absolute path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<PathBuf>,
    /// Resolvers for discovery (`--resolver`); empty: the system's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolvers: Vec<String>,
    /// Servers checked for propagation (`--authoritative`); empty: the zone's NS set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authoritative: Vec<String>,
    /// Propagation timeout (`--propagation-timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagation_timeout: Option<String>,
    /// Install targets given on the command line (`--install-dir`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub install: Vec<crate::settings::InstallTarget>,
    /// Keep the key across renewals (`--reuse-key`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reuse_key: bool,
}

/// The files of one issued certificate.
#[derive(Clone)]
pub struct CertFiles {
    /// Leaf certificate PEM.
    pub cert: String,
    /// Issuer chain PEM (without the leaf).
    pub chain: String,
    /// Private key PEM (PKCS#8).
    pub privkey: String,
}

impl std::fmt::Debug for CertFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertFiles")
            .field("privkey", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Group and mode for a certificate's private key (`key_group`, `key_mode` settings).
///
/// When set, they win over what the previous version had; the certificate's directories get
/// the group too (with group read and search), so a server running as that group can reach
/// the key. A key is never world-readable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyPerms {
    /// Numeric group id.
    pub group: Option<u32>,
    /// Mode bits (no world bits).
    pub mode: Option<u32>,
}

impl KeyPerms {
    /// Parse `key_group` (a name from `/etc/group` or a number) and `key_mode` (octal, `"0640"`).
    pub fn parse(group: Option<&str>, mode: Option<&str>) -> Result<KeyPerms, StoreError> {
        let group = group.map(lookup_group).transpose()?;
        let mode = match mode {
            None => None,
            Some(m) => {
                let bits = u32::from_str_radix(m.trim_start_matches("0o"), 8).map_err(|_| {
                    StoreError::BadPerms(format!("key_mode `{m}` is not an octal mode"))
                })?;
                if bits & !0o660 != 0 {
                    return Err(StoreError::BadPerms(format!(
                        "key_mode `{m}` would make the private key executable or readable by every user"
                    )));
                }
                if bits & 0o600 != 0o600 {
                    return Err(StoreError::BadPerms(format!(
                        "key_mode `{m}` must keep read and write for the owner (0600)"
                    )));
                }
                Some(bits)
            }
        };
        Ok(KeyPerms { group, mode })
    }
}

fn lookup_group(name: &str) -> Result<u32, StoreError> {
    if let Ok(n) = name.parse::<u32>() {
        return Ok(n);
    }
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    groups
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let n = f.next()?;
            let gid = f.nth(1)?.parse::<u32>().ok()?;
            (n == name).then_some(gid)
        })
        .next()
        .ok_or_else(|| StoreError::BadPerms(format!("key_group `{name}` is not a known group")))
}

/// Mode and group for one file or directory the store writes.
#[derive(Debug, Clone, Copy)]
struct Perms {
    mode: u32,
    gid: Option<u32>,
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    root_fd: Arc<OwnedFd>,
    /// `certs/`, opened (without following links) the first time it is needed and found.
    certs_fd: Arc<std::sync::OnceLock<OwnedFd>>,
}

impl Store {
    /// Open (and create, 0700) a store at `root`.
    ///
    /// Refuses (like OpenSSH's StrictModes) a state directory, or one of its top directories,
    /// that another user owns or that group or others may write to.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store, StoreError> {
        use std::os::unix::fs::DirBuilderExt;
        let root = root.into();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&root)
            .map_err(StoreError::io("create directory", &root))?;
        // The root itself may be a link the admin made (/etc/wildcert -> /srv/wildcert):
        // it is the admin's choice, so it is followed; nothing below it is.
        let fd = rustix::fs::open(
            &root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(StoreError::errno("open", &root))?;
        strict_modes(&root, &fd)?;
        let store = Store {
            root,
            root_fd: Arc::new(fd),
            certs_fd: Arc::default(),
        };
        for top in ["certs", "accounts", "locks", "journal"] {
            let path = store.root.join(top);
            if let Some(fd) = open_subdir(store.root_fd.as_fd(), OsStr::new(top), &path, None)? {
                strict_modes(&path, &fd)?;
            }
        }
        store.sweep_shared();
        Ok(store)
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `certs/<name>`.
    pub fn cert_dir(&self, name: &str) -> Result<PathBuf, StoreError> {
        check_name(name)?;
        Ok(self.root.join("certs").join(name))
    }

    /// `certs/<name>/live`.
    pub fn live_dir(&self, name: &str) -> Result<PathBuf, StoreError> {
        Ok(self.cert_dir(name)?.join("live"))
    }

    /// `accounts/<ca-host>/<account>`.
    pub fn account_dir(&self, ca_host: &str, account: &str) -> Result<PathBuf, StoreError> {
        check_name(ca_host)?;
        check_name(account)?;
        Ok(self.root.join("accounts").join(ca_host).join(account))
    }

    /// `journal/`.
    pub fn journal_dir(&self) -> PathBuf {
        self.root.join("journal")
    }

    // ----- path-level operations, none of which follows a link below the root -----

    /// The components of `path` below the root.
    fn components<'a>(&self, path: &'a Path) -> Result<Vec<&'a OsStr>, StoreError> {
        let rel = path
            .strip_prefix(&self.root)
            .map_err(|_| StoreError::Outside {
                path: path.to_path_buf(),
            })?;
        rel.components()
            .map(|c| match c {
                Component::Normal(n) => Ok(n),
                _ => Err(StoreError::Outside {
                    path: path.to_path_buf(),
                }),
            })
            .collect()
    }

    /// Open the directory `path` (below the root) component by component with `O_NOFOLLOW`;
    /// with `create`, missing directories are made with that mode. `None` when missing.
    fn dir_fd(&self, path: &Path, create: Option<Perms>) -> Result<Option<OwnedFd>, StoreError> {
        let mut fd: Option<OwnedFd> = None;
        let mut sofar = self.root.clone();
        for c in self.components(path)? {
            sofar.push(c);
            let parent = fd.as_ref().map_or(self.root_fd.as_fd(), |f| f.as_fd());
            match open_subdir(parent, c, &sofar, create)? {
                Some(f) => fd = Some(f),
                None => return Ok(None),
            }
        }
        match fd {
            Some(f) => Ok(Some(f)),
            None => self
                .root_fd
                .try_clone()
                .map(Some)
                .map_err(StoreError::io("open", &self.root)),
        }
    }

    fn parent_fd<'a>(
        &self,
        path: &'a Path,
        create: bool,
    ) -> Result<Option<(OwnedFd, &'a OsStr)>, StoreError> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(StoreError::Outside {
                path: path.to_path_buf(),
            });
        };
        let perms = create.then_some(Perms {
            mode: 0o700,
            gid: None,
        });
        Ok(self.dir_fd(parent, perms)?.map(|fd| (fd, name)))
    }

    /// Create a directory (and parents below the root) with mode 0700.
    pub fn create_dir_private(&self, path: &Path) -> Result<(), StoreError> {
        self.dir_fd(
            path,
            Some(Perms {
                mode: 0o700,
                gid: None,
            }),
        )
        .map(|_| ())
    }

    /// Write a file atomically: temp file in the same directory, fsync, rename, fsync the
    /// directory. A link at `path` (or on the way) is refused.
    pub fn write_atomic(&self, path: &Path, data: &[u8], mode: u32) -> Result<(), StoreError> {
        let Some((dir, name)) = self.parent_fd(path, true)? else {
            return Err(StoreError::Outside {
                path: path.to_path_buf(),
            });
        };
        write_in(&dir, name, path, data, Perms { mode, gid: None })
    }

    /// Read a file; `None` when it (or its directory) does not exist.
    pub fn read_file(&self, path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
        let Some((dir, name)) = self.parent_fd(path, false)? else {
            return Ok(None);
        };
        read_in(&dir, name, path)
    }

    /// Read a text file; `None` when it does not exist.
    pub fn read_string(&self, path: &Path) -> Result<Option<String>, StoreError> {
        match self.read_file(path)? {
            None => Ok(None),
            Some(b) => String::from_utf8(b)
                .map(Some)
                .map_err(|_| StoreError::Corrupt {
                    path: path.to_path_buf(),
                    message: "not UTF-8 text".into(),
                }),
        }
    }

    /// True when a file or directory exists at `path`; a link there is an error.
    pub fn exists(&self, path: &Path) -> Result<bool, StoreError> {
        let Some((dir, name)) = self.parent_fd(path, false)? else {
            return Ok(false);
        };
        match entry_type(&dir, name, path)? {
            None => Ok(false),
            Some(FileType::Symlink) => Err(StoreError::Symlink {
                path: path.to_path_buf(),
            }),
            Some(_) => Ok(true),
        }
    }

    /// Remove a file (never what a link points at); missing is fine.
    pub fn remove_file(&self, path: &Path) -> Result<(), StoreError> {
        let Some((dir, name)) = self.parent_fd(path, false)? else {
            return Ok(());
        };
        match rustix::fs::unlinkat(&dir, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(StoreError::errno("remove", path)(e)),
        }
    }

    /// Rename a file or directory within the store (links on the way are refused; the entry
    /// itself is moved, never followed), then fsync the directories.
    pub fn rename(&self, from: &Path, to: &Path) -> Result<(), StoreError> {
        let Some((from_dir, from_name)) = self.parent_fd(from, false)? else {
            return Err(StoreError::Io {
                op: "rename",
                path: from.to_path_buf(),
                source: io::ErrorKind::NotFound.into(),
            });
        };
        let Some((to_dir, to_name)) = self.parent_fd(to, true)? else {
            return Err(StoreError::Outside {
                path: to.to_path_buf(),
            });
        };
        if entry_type(&to_dir, to_name, to)? == Some(FileType::Symlink) {
            return Err(StoreError::Symlink {
                path: to.to_path_buf(),
            });
        }
        rustix::fs::renameat(&from_dir, from_name, &to_dir, to_name)
            .map_err(StoreError::errno("rename into", to))?;
        fsync_fd(&to_dir, to)?;
        fsync_fd(&from_dir, from)
    }

    /// The entries of a directory (names, sorted); empty when it does not exist. A link at
    /// the directory (or on the way) is an error.
    pub fn list_dir(&self, path: &Path) -> Result<Vec<String>, StoreError> {
        match self.dir_fd(path, None)? {
            None => Ok(Vec::new()),
            Some(fd) => Ok(entries(&fd, path)?.into_iter().map(|(n, _)| n).collect()),
        }
    }

    /// Read a JSON file; `None` when it does not exist.
    pub fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &Path,
    ) -> Result<Option<T>, StoreError> {
        match self.read_file(path)? {
            None => Ok(None),
            Some(bytes) => parse_json(&bytes, path).map(Some),
        }
    }

    /// Write a JSON file atomically.
    pub fn write_json<T: Serialize>(
        &self,
        path: &Path,
        value: &T,
        mode: u32,
    ) -> Result<(), StoreError> {
        self.write_atomic(path, &to_json(value, path)?, mode)
    }

    // ----- certificates -----

    /// Read `meta.json` of a certificate; `None` when the certificate is unknown.
    ///
    /// Reconciled with `live`: when `meta.json` names another version than `live` points at
    /// (a crash between the switch and the rewrite), the live version's own metadata is
    /// returned, and `meta.json` is repaired if no other run holds the certificate's lock.
    pub fn read_meta(&self, name: &str) -> Result<Option<CertMeta>, StoreError> {
        let (meta, suspect) = self.meta_at_a_glance(name)?;
        if !suspect {
            return Ok(meta);
        }
        // Something looks off: settle it when no other run holds the certificate (recover()
        // runs inside try_lock: meta.json then agrees with live, leftovers are gone), and read
        // the reconciled state either way.
        let _lock = self.try_lock(name).ok().flatten();
        Ok(self.reconciled_meta(name)?.0)
    }

    /// The common case in one walk (`renew` reads thousands of these): the certificate's
    /// directory is opened once, and `live`, `meta.json` and the listings are read through that
    /// handle. `true` when anything looks off (meta.json lags `live`, a version newer than
    /// `live`, a temporary file): the caller then takes the careful path.
    fn meta_at_a_glance(&self, name: &str) -> Result<(Option<CertMeta>, bool), StoreError> {
        let dir = self.cert_dir(name)?;
        let certs = match self.certs_fd.get() {
            Some(fd) => fd,
            None => {
                let Some(fd) = self.dir_fd(&self.root.join("certs"), None)? else {
                    return Ok((None, false));
                };
                self.certs_fd.get_or_init(|| fd)
            }
        };
        let Some(cfd) = open_subdir(certs.as_fd(), OsStr::new(name), &dir, None)? else {
            return Ok((None, false));
        };
        // One listing says what there is to read.
        let listing = entries(&cfd, &dir)?;
        let has = |n: &str| listing.iter().any(|(e, _)| e == n);
        let meta_path = dir.join("meta.json");
        let top: Option<CertMeta> = if has("meta.json") {
            match read_in(&cfd, OsStr::new("meta.json"), &meta_path)? {
                Some(bytes) => Some(parse_json(&bytes, &meta_path)?),
                None => None,
            }
        } else {
            None
        };
        if !has("live") {
            let leftovers = listing
                .iter()
                .any(|(n, _)| n == "archive" || (n.starts_with('.') && n.ends_with(".tmp")));
            return Ok((top, leftovers));
        }
        let live = match rustix::fs::readlinkat(&cfd, "live", Vec::new()) {
            Ok(t) => t
                .to_string_lossy()
                .strip_prefix("archive/")
                .and_then(|n| n.parse::<u32>().ok()),
            Err(Errno::NOENT) => None,
            // Not a link, or unreadable: the careful path says what is wrong.
            Err(_) => return Ok((top, true)),
        };
        let tmp = |n: &str| n.starts_with('.') && n.ends_with(".tmp");
        if top.as_ref().and_then(|m| m.version) != live && live.is_some() {
            return Ok((top, true));
        }
        if listing.iter().any(|(n, _)| tmp(n)) {
            return Ok((top, true));
        }
        let adir = dir.join("archive");
        let Some(afd) = open_subdir(cfd.as_fd(), OsStr::new("archive"), &adir, None)? else {
            return Ok((top, false));
        };
        let versions = entries(&afd, &adir)?;
        let newer = versions.iter().any(|(n, _)| {
            tmp(n)
                || n.parse::<u32>()
                    .ok()
                    .is_some_and(|v| live.is_none_or(|l| v > l))
        });
        if newer {
            return Ok((top, true));
        }
        if let Some(l) = live {
            let ldir = adir.join(l.to_string());
            if let Some(lfd) = open_subdir(afd.as_fd(), OsStr::new(&l.to_string()), &ldir, None)?
                && entries(&lfd, &ldir)?.iter().any(|(n, _)| tmp(n))
            {
                return Ok((top, true));
            }
        }
        Ok((top, false))
    }

    /// The reconciled metadata and whether `meta.json` on disk disagrees with it.
    fn reconciled_meta(&self, name: &str) -> Result<(Option<CertMeta>, bool), StoreError> {
        let dir = self.cert_dir(name)?;
        let top: Option<CertMeta> = self.read_json(&dir.join("meta.json"))?;
        let Some(live) = self.live_version(name)? else {
            return Ok((top, false));
        };
        if top.as_ref().and_then(|m| m.version) == Some(live) {
            return Ok((top, false));
        }
        let vpath = dir
            .join("archive")
            .join(live.to_string())
            .join(VERSION_META);
        match self.read_json::<CertMeta>(&vpath)? {
            // A version stored before archive metadata existed: meta.json is all there is.
            None => Ok((top, false)),
            Some(mut vm) => {
                vm.version = Some(live);
                Ok((Some(vm), true))
            }
        }
    }

    /// Write `meta.json` atomically.
    pub fn write_meta(&self, name: &str, meta: &CertMeta) -> Result<(), StoreError> {
        let dir = self.cert_dir(name)?;
        self.create_dir_private(&dir)?;
        self.write_json(&dir.join("meta.json"), meta, 0o600)
    }

    /// Names of every certificate in the store.
    pub fn list(&self) -> Result<Vec<String>, StoreError> {
        let certs = self.root.join("certs");
        let Some(fd) = self.dir_fd(&certs, None)? else {
            return Ok(Vec::new());
        };
        let mut names = Vec::new();
        for (n, t) in entries(&fd, &certs)? {
            let path = certs.join(&n);
            if t == Some(FileType::Symlink) {
                return Err(StoreError::Symlink { path });
            }
            if check_name(&n).is_err() || t != Some(FileType::Directory) {
                continue;
            }
            if self.exists(&path.join("meta.json"))? || self.live_version(&n)?.is_some() {
                names.push(n);
            }
        }
        names.sort();
        Ok(names)
    }

    /// The archive version `live` points at, if any (read with `readlinkat`, never followed).
    pub fn live_version(&self, name: &str) -> Result<Option<u32>, StoreError> {
        let dir = self.cert_dir(name)?;
        let Some(fd) = self.dir_fd(&dir, None)? else {
            return Ok(None);
        };
        let live = dir.join("live");
        let target = match rustix::fs::readlinkat(&fd, "live", Vec::new()) {
            Ok(t) => t,
            Err(Errno::NOENT) => return Ok(None),
            Err(Errno::INVAL) => {
                return Err(StoreError::NotPlain {
                    path: live,
                    what: "is not the symbolic link wildcert makes (live -> archive/<n>)".into(),
                });
            }
            Err(e) => return Err(StoreError::errno("read link", &live)(e)),
        };
        let target = target.to_string_lossy();
        target
            .strip_prefix("archive/")
            .and_then(|n| n.parse::<u32>().ok())
            .map(Some)
            .ok_or_else(|| StoreError::NotPlain {
                path: live,
                what: format!("points at `{target}`, not at archive/<n>"),
            })
    }

    /// Store a new, already verified version and switch `live/` to it in one atomic step.
    ///
    /// `archive/<n>/` gets the four PEM files and then `meta.json` (`meta` with `version` set),
    /// all fsynced, before `live` flips: a crash at any point leaves either the previous
    /// version live (and the half-written one removed by the next run) or the new one complete.
    /// Files and directories keep the group and mode of the previous version's; `perms`
    /// (`key_group`, `key_mode`) win for the key. Returns the new version number.
    pub fn install(
        &self,
        name: &str,
        files: &CertFiles,
        meta: &CertMeta,
        perms: &KeyPerms,
    ) -> Result<u32, StoreError> {
        let dir = self.cert_dir(name)?;
        let archive = dir.join("archive");
        let private = Some(Perms {
            mode: 0o700,
            gid: None,
        });
        let cert_fd = self
            .dir_fd(&dir, private)?
            .ok_or_else(|| StoreError::Outside { path: dir.clone() })?;
        let archive_fd = self
            .dir_fd(&archive, private)?
            .ok_or_else(|| StoreError::Outside {
                path: archive.clone(),
            })?;
        if let Some(gid) = perms.group {
            // The server's group must reach the key: group search on the way down.
            for (fd, path) in [(&cert_fd, &dir), (&archive_fd, &archive)] {
                let st = rustix::fs::fstat(fd).map_err(StoreError::errno("stat", path))?;
                set_perms(
                    fd,
                    path,
                    Perms {
                        mode: (st.st_mode & 0o7777 & !0o002) | 0o050,
                        gid: Some(gid),
                    },
                )?;
            }
        }
        let prev = self.live_version(name)?;
        let prev_dir = prev.map(|v| archive.join(v.to_string()));
        let prev_fd = match &prev_dir {
            Some(p) => self.dir_fd(p, None)?,
            None => None,
        };
        let stat_prev = |f: &str| -> Option<Perms> {
            let fd = prev_fd.as_ref()?;
            let st = rustix::fs::statat(fd, f, AtFlags::SYMLINK_NOFOLLOW).ok()?;
            (FileType::from_raw_mode(st.st_mode) == FileType::RegularFile).then_some(Perms {
                mode: st.st_mode & 0o777,
                gid: Some(st.st_gid),
            })
        };

        let mut version = 1;
        for (n, t) in entries(&archive_fd, &archive)? {
            let Ok(v) = n.parse::<u32>() else { continue };
            if t == Some(FileType::Symlink) {
                return Err(StoreError::Symlink {
                    path: archive.join(n),
                });
            }
            version = version.max(v + 1);
        }
        let vname = version.to_string();
        let vdir = archive.join(&vname);
        rustix::fs::mkdirat(&archive_fd, vname.as_str(), Mode::from_raw_mode(0o700))
            .map_err(StoreError::errno("create directory", &vdir))?;
        let vfd =
            open_subdir(archive_fd.as_fd(), OsStr::new(&vname), &vdir, None)?.ok_or_else(|| {
                StoreError::Io {
                    op: "open directory",
                    path: vdir.clone(),
                    source: io::ErrorKind::NotFound.into(),
                }
            })?;
        // The version directory: as the previous one was (certbot keeps the admin's chgrp /
        // chmod), never writable by others.
        let mut dir_perms = match &prev_fd {
            Some(fd) => {
                let st = rustix::fs::fstat(fd).map_err(StoreError::errno("stat", &vdir))?;
                Perms {
                    mode: st.st_mode & 0o7777 & !0o022,
                    gid: Some(st.st_gid),
                }
            }
            None => Perms {
                mode: 0o700,
                gid: None,
            },
        };
        if let Some(gid) = perms.group {
            dir_perms = Perms {
                mode: dir_perms.mode | 0o050,
                gid: Some(gid),
            };
        }
        set_perms(&vfd, &vdir, dir_perms)?;

        let public = |f: &str| {
            let p = stat_prev(f).unwrap_or(Perms {
                mode: 0o644,
                gid: None,
            });
            Perms {
                mode: p.mode & 0o666 & !0o022,
                gid: perms.group.or(p.gid),
            }
        };
        let key = {
            let p = stat_prev("privkey.pem").unwrap_or(Perms {
                mode: 0o600,
                gid: None,
            });
            Perms {
                mode: perms.mode.unwrap_or(p.mode) & 0o660,
                gid: perms.group.or(p.gid),
            }
        };
        let fullchain = format!("{}{}", ensure_newline(&files.cert), files.chain);
        // The version directory is fsynced once, after its last file (below).
        let write = |f: &str, data: &[u8], p: Perms| {
            write_in_then(&vfd, OsStr::new(f), &vdir.join(f), data, p, false)
        };
        write("privkey.pem", files.privkey.as_bytes(), key)?;
        write("cert.pem", files.cert.as_bytes(), public("cert.pem"))?;
        write("chain.pem", files.chain.as_bytes(), public("chain.pem"))?;
        write(
            "fullchain.pem",
            fullchain.as_bytes(),
            public("fullchain.pem"),
        )?;
        let mut vmeta = meta.clone();
        vmeta.version = Some(version);
        // Written last: its presence marks the version complete.
        write(
            VERSION_META,
            &to_json(&vmeta, &vdir.join(VERSION_META))?,
            Perms {
                mode: 0o600,
                gid: None,
            },
        )?;
        fsync_fd(&vfd, &vdir)?;
        fsync_fd(&archive_fd, &archive)?;
        switch_live(&cert_fd, &dir, version)?;
        Ok(version)
    }

    /// Read the live files of a certificate, if any.
    pub fn read_live(&self, name: &str) -> Result<Option<CertFiles>, StoreError> {
        let read = |f: &str| self.read_live_file(name, f);
        match (read("cert.pem")?, read("chain.pem")?, read("privkey.pem")?) {
            (Some(cert), Some(chain), Some(privkey)) => Ok(Some(CertFiles {
                cert,
                chain,
                privkey,
            })),
            _ => Ok(None),
        }
    }

    /// Read one file of the live version (`fullchain.pem`, …); `None` when there is none.
    pub fn read_live_file(&self, name: &str, file: &str) -> Result<Option<String>, StoreError> {
        let Some(v) = self.live_version(name)? else {
            return Ok(None);
        };
        let path = self
            .cert_dir(name)?
            .join("archive")
            .join(v.to_string())
            .join(file);
        self.read_string(&path)
    }

    /// The archive versions of a certificate, ascending.
    pub fn archive_versions(&self, name: &str) -> Result<Vec<u32>, StoreError> {
        let mut v: Vec<u32> = self
            .list_dir(&self.cert_dir(name)?.join("archive"))?
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect();
        v.sort_unstable();
        Ok(v)
    }

    /// Remove `certs/<name>` and everything in it (call with the certificate's lock held).
    /// `meta.json` goes first, so a crash half-way leaves no certificate that `list` or
    /// `renew` would see; links (`live`) are removed, never followed. Returns whether it existed.
    pub fn delete_cert(&self, name: &str) -> Result<bool, StoreError> {
        let dir = self.cert_dir(name)?;
        let Some(cert_fd) = self.dir_fd(&dir, None)? else {
            return Ok(false);
        };
        let meta = dir.join("meta.json");
        if entry_type(&cert_fd, OsStr::new("meta.json"), &meta)?.is_some() {
            rustix::fs::unlinkat(&cert_fd, "meta.json", AtFlags::empty())
                .map_err(StoreError::errno("remove", &meta))?;
            fsync_fd(&cert_fd, &dir)?;
        }
        remove_all(&cert_fd, &dir, 0)?;
        drop(cert_fd);
        let parent = dir.parent().unwrap_or(&self.root).to_path_buf();
        let certs_fd = self
            .dir_fd(&parent, None)?
            .ok_or_else(|| StoreError::NotPlain {
                path: parent.clone(),
                what: "vanished while deleting".into(),
            })?;
        rustix::fs::unlinkat(&certs_fd, OsStr::new(name), AtFlags::REMOVEDIR)
            .map_err(StoreError::errno("remove", &dir))?;
        fsync_fd(&certs_fd, &parent)?;
        Ok(true)
    }

    /// Settle what a killed run left in `certs/<name>` (call with the certificate's lock
    /// held): roll a complete but unswitched version forward, remove half-written versions and
    /// stale `*.tmp` files, and rewrite `meta.json` to agree with `live`. Returns what it did.
    pub fn recover(&self, name: &str) -> Result<Vec<String>, StoreError> {
        let mut done = Vec::new();
        let dir = self.cert_dir(name)?;
        let Some(cert_fd) = self.dir_fd(&dir, None)? else {
            return Ok(done);
        };
        done.extend(sweep_tmp(&cert_fd, &dir, true)?);
        let archive = dir.join("archive");
        if let Some(archive_fd) = self.dir_fd(&archive, None)? {
            done.extend(sweep_tmp(&archive_fd, &archive, true)?);
            let live = self.live_version(name)?;
            let mut versions: Vec<(u32, String, Option<FileType>)> =
                entries(&archive_fd, &archive)?
                    .into_iter()
                    .filter_map(|(n, t)| n.parse::<u32>().ok().map(|v| (v, n, t)))
                    .collect();
            versions.sort_unstable_by_key(|v| std::cmp::Reverse(v.0));
            let mut rolled = false;
            for (v, n, t) in versions {
                let vdir = archive.join(&n);
                if t == Some(FileType::Symlink) {
                    return Err(StoreError::Symlink { path: vdir });
                }
                let Some(vfd) = open_subdir(archive_fd.as_fd(), OsStr::new(&n), &vdir, None)?
                else {
                    continue;
                };
                done.extend(sweep_tmp(&vfd, &vdir, true)?);
                if live.is_some_and(|l| v <= l) {
                    continue;
                }
                let complete = CERT_FILES
                    .iter()
                    .chain(std::iter::once(&VERSION_META))
                    .all(|f| {
                        entry_type(&vfd, OsStr::new(f), &vdir.join(f))
                            .is_ok_and(|t| t == Some(FileType::RegularFile))
                    });
                if complete && !rolled {
                    switch_live(&cert_fd, &dir, v)?;
                    rolled = true;
                    done.push(format!("switched live to the complete version {n}"));
                } else if !complete {
                    remove_tree(&vfd, &vdir)?;
                    drop(vfd);
                    rustix::fs::unlinkat(&archive_fd, n.as_str(), AtFlags::REMOVEDIR)
                        .map_err(StoreError::errno("remove", &vdir))?;
                    done.push(format!("removed the half-written {}", vdir.display()));
                }
            }
            if !done.is_empty() {
                fsync_fd(&archive_fd, &archive)?;
            }
        }
        let (meta, stale) = self.reconciled_meta(name)?;
        if stale && let Some(meta) = meta {
            self.write_meta(name, &meta)?;
            done.push("rewrote meta.json to agree with live".into());
        }
        for d in &done {
            tracing::warn!(cert = name, "{d} (left by an interrupted run)");
        }
        Ok(done)
    }

    /// Remove stale `*.tmp` files of dead processes in the root, `journal/`, `accounts/*/*` and
    /// `providers/*` (best effort: errors show up in the command that uses those directories).
    fn sweep_shared(&self) {
        let _ = sweep_tmp(&self.root_fd, &self.root, false);
        let journal = self.journal_dir();
        if let Ok(Some(fd)) = self.dir_fd(&journal, None) {
            let _ = sweep_tmp(&fd, &journal, false);
        }
        // What providers remember for cleanup (`providers/<kind>/`).
        let providers = self.root.join("providers");
        for kind in self.list_dir(&providers).unwrap_or_default() {
            let p = providers.join(kind);
            if let Ok(Some(fd)) = self.dir_fd(&p, None) {
                let _ = sweep_tmp(&fd, &p, false);
            }
        }
        let accounts = self.root.join("accounts");
        for ca in self.list_dir(&accounts).unwrap_or_default() {
            for acc in self.list_dir(&accounts.join(&ca)).unwrap_or_default() {
                let p = accounts.join(&ca).join(acc);
                if let Ok(Some(fd)) = self.dir_fd(&p, None) {
                    let _ = sweep_tmp(&fd, &p, false);
                }
            }
        }
    }

    // ----- locks -----

    /// Take the lock of a certificate (or any other lock name), waiting up to `wait` without
    /// blocking the runtime. A certificate's leftovers from a killed run are settled
    /// ([`Store::recover`]) as soon as its lock is taken.
    pub async fn lock(&self, name: &str, wait: Duration) -> Result<StoreLock, StoreError> {
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
    fn try_lock(&self, name: &str) -> Result<Option<StoreLock>, StoreError> {
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
        let lock = StoreLock { _file: file, path };
        if self
            .cert_dir(name)
            .is_ok_and(|d| self.exists(&d).unwrap_or(false))
        {
            self.recover(name)?;
        }
        Ok(Some(lock))
    }

    fn locked_error(&self, name: &str) -> StoreError {
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
        }
    }

    fn lock_path(&self, name: &str) -> Result<PathBuf, StoreError> {
        check_name(name)?;
        Ok(self.root.join("locks").join(format!("{name}.lock")))
    }
}

/// An exclusive lock held until dropped (advisory `flock`; released by the kernel on exit).
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
    path: PathBuf,
}

impl StoreLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        let _ = FileExt::unlock(&self._file);
    }
}

fn check_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.starts_with('.')
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::BadName(name.to_string()))
    }
}

fn ensure_newline(s: &str) -> String {
    if s.ends_with('\n') {
        s.to_string()
    } else {
        format!("{s}\n")
    }
}

/// `'path'` for a shell command line.
/// `p` as one shell word: unchanged when it is plain, else in single quotes.
pub(crate) fn shell_quote(p: &Path) -> String {
    let s = p.display().to_string();
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+,:@".contains(c))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// OpenSSH StrictModes for a directory: owned by us, not writable by group or others.
fn strict_modes(path: &Path, fd: &OwnedFd) -> Result<(), StoreError> {
    let st = rustix::fs::fstat(fd).map_err(StoreError::errno("stat", path))?;
    let me = rustix::process::geteuid().as_raw();
    if st.st_uid != me {
        let user = user_name(me);
        return Err(StoreError::Unsafe {
            path: path.to_path_buf(),
            problem: format!("is owned by uid {}, not by {user} (uid {me})", st.st_uid),
            fix: format!("chown -R {user} {}", shell_quote(path)),
        });
    }
    let mode = st.st_mode & 0o7777;
    if mode & 0o022 != 0 {
        let who = match (mode & 0o020 != 0, mode & 0o002 != 0) {
            (true, true) => "its group and every user",
            (true, false) => "its group",
            _ => "every user",
        };
        return Err(StoreError::Unsafe {
            path: path.to_path_buf(),
            problem: format!("is writable by {who} (mode {mode:04o})"),
            fix: format!("chmod go-w {}", shell_quote(path)),
        });
    }
    Ok(())
}

fn user_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let id = f.nth(1)?.parse::<u32>().ok()?;
            (id == uid).then(|| name.to_string())
        })
        .unwrap_or_else(|| uid.to_string())
}

/// Map an `openat` failure: a link there becomes [`StoreError::Symlink`].
fn classify(dir: &impl AsFd, name: &OsStr, path: &Path, e: Errno, op: &'static str) -> StoreError {
    if matches!(e, Errno::LOOP | Errno::NOTDIR | Errno::MLINK)
        && let Ok(Some(t)) = entry_type(dir, name, path)
    {
        if t == FileType::Symlink {
            return StoreError::Symlink {
                path: path.to_path_buf(),
            };
        }
        if e == Errno::NOTDIR {
            return StoreError::NotPlain {
                path: path.to_path_buf(),
                what: "is not a directory".into(),
            };
        }
    }
    StoreError::errno(op, path)(e)
}

/// The type of `name` in `dir` without following it; `None` when missing.
fn entry_type(dir: &impl AsFd, name: &OsStr, path: &Path) -> Result<Option<FileType>, StoreError> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(FileType::from_raw_mode(st.st_mode))),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(StoreError::errno("stat", path)(e)),
    }
}

/// Open (or, with `create`, make) one directory below `parent` without following a link.
fn open_subdir(
    parent: BorrowedFd<'_>,
    name: &OsStr,
    path: &Path,
    create: Option<Perms>,
) -> Result<Option<OwnedFd>, StoreError> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match rustix::fs::openat(parent, name, flags, Mode::empty()) {
        // Every directory of the store, not only the top ones: another user's (or a
        // group-writable) certificate or account directory could swap what we read.
        Ok(fd) => strict_modes(path, &fd).map(|()| Some(fd)),
        Err(Errno::NOENT) => {
            let Some(perms) = create else {
                return Ok(None);
            };
            match rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(StoreError::errno("create directory", path)(e)),
            }
            let fd = rustix::fs::openat(parent, name, flags, Mode::empty())
                .map_err(|e| classify(&parent, name, path, e, "open directory"))?;
            set_perms(&fd, path, perms)?;
            Ok(Some(fd))
        }
        Err(e) => Err(classify(&parent, name, path, e, "open directory")),
    }
}

fn set_perms(fd: &impl AsFd, path: &Path, perms: Perms) -> Result<(), StoreError> {
    let st = rustix::fs::fstat(fd).map_err(StoreError::errno("stat", path))?;
    if let Some(gid) = perms.gid.filter(|g| *g != st.st_gid) {
        rustix::fs::fchown(fd, None, Some(rustix::process::Gid::from_raw(gid)))
            .map_err(StoreError::errno("chgrp", path))?;
    }
    rustix::fs::fchmod(fd, Mode::from_raw_mode(perms.mode))
        .map_err(StoreError::errno("chmod", path))
}

/// A regular file of ours with one name (no hard link to something else).
fn check_own_file(fd: &OwnedFd, path: &Path) -> Result<(), StoreError> {
    let st = rustix::fs::fstat(fd).map_err(StoreError::errno("stat", path))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(StoreError::NotPlain {
            path: path.to_path_buf(),
            what: "is not a regular file".into(),
        });
    }
    if st.st_nlink > 1 {
        return Err(StoreError::NotPlain {
            path: path.to_path_buf(),
            what: format!("has {} hard links; the store's files have one", st.st_nlink),
        });
    }
    Ok(())
}

fn read_in(dir: &OwnedFd, name: &OsStr, path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    let fd = match rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(None),
        Err(e) => return Err(classify(dir, name, path, e, "read")),
    };
    let st = rustix::fs::fstat(&fd).map_err(StoreError::errno("stat", path))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(StoreError::NotPlain {
            path: path.to_path_buf(),
            what: "is not a regular file".into(),
        });
    }
    let mut buf = Vec::new();
    File::from(fd)
        .read_to_end(&mut buf)
        .map_err(StoreError::io("read", path))?;
    Ok(Some(buf))
}

/// Atomic write of `name` in `dir`: a temporary file made 0600, then `fchown`/`fchmod` to
/// `perms` before any byte is written, fsync, `renameat`, fsync the directory.
fn write_in(
    dir: &OwnedFd,
    name: &OsStr,
    path: &Path,
    data: &[u8],
    perms: Perms,
) -> Result<(), StoreError> {
    write_in_then(dir, name, path, data, perms, true)
}

/// [`write_in`], with the directory's fsync left to the caller when `sync_dir` is false (a
/// new version directory: its files are each fsynced, and the directory once, after the last
/// one and before `live` can point at it).
fn write_in_then(
    dir: &OwnedFd,
    name: &OsStr,
    path: &Path,
    data: &[u8],
    perms: Perms,
    sync_dir: bool,
) -> Result<(), StoreError> {
    match entry_type(dir, name, path)? {
        Some(FileType::Symlink) => {
            return Err(StoreError::Symlink {
                path: path.to_path_buf(),
            });
        }
        Some(FileType::Directory) => {
            return Err(StoreError::NotPlain {
                path: path.to_path_buf(),
                what: "is a directory".into(),
            });
        }
        _ => {}
    }
    let tmp_name = format!(
        ".{}.{}.{:08x}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        rand::random::<u32>()
    );
    let tmp = path.with_file_name(&tmp_name);
    let fd = rustix::fs::openat(
        dir,
        tmp_name.as_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(StoreError::errno("create", &tmp))?;
    let result = (|| {
        set_perms(&fd, &tmp, perms)?;
        let mut f = File::from(fd);
        f.write_all(data).map_err(StoreError::io("write", &tmp))?;
        f.sync_all().map_err(StoreError::io("fsync", &tmp))?;
        rustix::fs::renameat(dir, tmp_name.as_str(), dir, name)
            .map_err(StoreError::errno("rename into", path))?;
        match sync_dir {
            true => fsync_fd(dir, path),
            false => Ok(()),
        }
    })();
    if result.is_err() {
        let _ = rustix::fs::unlinkat(dir, tmp_name.as_str(), AtFlags::empty());
    }
    result
}

/// `live -> archive/<n>`: a new link beside it, renamed over the old one, directory fsynced.
fn switch_live(cert_fd: &OwnedFd, dir: &Path, version: u32) -> Result<(), StoreError> {
    let tmp_name = format!(
        ".live.{}.{:08x}.tmp",
        std::process::id(),
        rand::random::<u32>()
    );
    let tmp = dir.join(&tmp_name);
    rustix::fs::symlinkat(format!("archive/{version}"), cert_fd, tmp_name.as_str())
        .map_err(StoreError::errno("symlink", &tmp))?;
    let live = dir.join("live");
    if let Err(e) = rustix::fs::renameat(cert_fd, tmp_name.as_str(), cert_fd, "live") {
        let _ = rustix::fs::unlinkat(cert_fd, tmp_name.as_str(), AtFlags::empty());
        return Err(StoreError::errno("switch", &live)(e));
    }
    fsync_fd(cert_fd, dir)
}

fn fsync_fd(fd: &impl AsFd, path: &Path) -> Result<(), StoreError> {
    rustix::fs::fsync(fd).map_err(StoreError::errno("fsync", path))
}

/// Entries of an open directory with their types (`None`: unknown), `.`/`..` left out.
fn entries(fd: &OwnedFd, path: &Path) -> Result<Vec<(String, Option<FileType>)>, StoreError> {
    let mut out = Vec::new();
    let dir = rustix::fs::Dir::read_from(fd).map_err(StoreError::errno("list", path))?;
    for entry in dir {
        let entry = entry.map_err(StoreError::errno("list", path))?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let name = OsStr::from_bytes(name).to_string_lossy().into_owned();
        let t = match entry.file_type() {
            FileType::Unknown => entry_type(fd, OsStr::new(&name), &path.join(&name))?,
            t => Some(t),
        };
        out.push((name, t));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Remove the stale temporary files (`.<name>.<pid>.<rand>.tmp`) in a directory: those of
/// dead processes, or, with `locked` (we hold the lock of everything written there), those
/// of any other process. Returns what was removed.
fn sweep_tmp(fd: &OwnedFd, path: &Path, locked: bool) -> Result<Vec<String>, StoreError> {
    let mut removed = Vec::new();
    let me = std::process::id();
    for (name, t) in entries(fd, path)? {
        let Some(stem) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) else {
            continue;
        };
        if t == Some(FileType::Directory) {
            continue;
        }
        let pid = stem.rsplit('.').nth(1).and_then(|p| p.parse::<u32>().ok());
        let stale = match pid {
            Some(p) if p == me => false,
            Some(p) => locked || !Path::new(&format!("/proc/{p}")).exists(),
            None => locked,
        };
        if stale {
            rustix::fs::unlinkat(fd, name.as_str(), AtFlags::empty())
                .map_err(StoreError::errno("remove", &path.join(&name)))?;
            removed.push(format!("removed the stale {}", path.join(&name).display()));
        }
    }
    Ok(removed)
}

/// Remove everything below `fd` (depth-bounded; links removed, never followed).
fn remove_all(fd: &OwnedFd, path: &Path, depth: usize) -> Result<(), StoreError> {
    if depth > 8 {
        return Err(StoreError::NotPlain {
            path: path.to_path_buf(),
            what: "is nested deeper than a certificate directory can be".into(),
        });
    }
    for (name, t) in entries(fd, path)? {
        let child = path.join(&name);
        let flags = if t == Some(FileType::Directory) {
            if let Some(sub) = open_subdir(fd.as_fd(), OsStr::new(&name), &child, None)? {
                remove_all(&sub, &child, depth + 1)?;
            }
            AtFlags::REMOVEDIR
        } else {
            AtFlags::empty()
        };
        rustix::fs::unlinkat(fd, name.as_str(), flags)
            .map_err(StoreError::errno("remove", &child))?;
    }
    Ok(())
}

/// Remove the files in a half-written version directory (links removed, never followed).
fn remove_tree(fd: &OwnedFd, path: &Path) -> Result<(), StoreError> {
    for (name, t) in entries(fd, path)? {
        let flags = if t == Some(FileType::Directory) {
            AtFlags::REMOVEDIR
        } else {
            AtFlags::empty()
        };
        rustix::fs::unlinkat(fd, name.as_str(), flags)
            .map_err(StoreError::errno("remove", &path.join(&name)))?;
    }
    Ok(())
}

fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8], path: &Path) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn to_json<T: Serialize>(value: &T, path: &Path) -> Result<Vec<u8>, StoreError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| StoreError::Corrupt {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn files(tag: &str) -> CertFiles {
        CertFiles {
            cert: format!("CERT {tag}\n"),
            chain: format!("CHAIN {tag}\n"),
            privkey: format!("KEY {tag}\n"),
        }
    }

    fn meta(tag: &str) -> CertMeta {
        CertMeta {
            names: vec!["example.com".into()],
            key_type: "ec256".into(),
            not_after: Some(format!("2030-01-0{tag}T00:00:00Z")),
            ..Default::default()
        }
    }

    fn install(store: &Store, tag: &str) -> Result<u32, StoreError> {
        store.install("example.com", &files(tag), &meta(tag), &KeyPerms::default())
    }

    fn mode(p: &Path) -> u32 {
        fs::symlink_metadata(p).expect("stat").permissions().mode() & 0o7777
    }

    #[test]
    fn install_switches_live_atomically_and_keeps_archive() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = Store::open(tmp.path().join("state")).expect("open");
        assert_eq!(install(&store, "1").expect("install"), 1);
        assert_eq!(install(&store, "2").expect("install"), 2);
        let live = store
            .read_live("example.com")
            .expect("read")
            .expect("present");
        assert_eq!(live.cert, "CERT 2\n");
        let full = fs::read_to_string(
            store
                .live_dir("example.com")
                .expect("dir")
                .join("fullchain.pem"),
        )
        .expect("read");
        assert_eq!(full, "CERT 2\nCHAIN 2\n");
        let dir = store.cert_dir("example.com").expect("dir");
        assert_eq!(
            fs::read_to_string(dir.join("archive/1/cert.pem")).expect("read"),
            "CERT 1\n"
        );
        assert_eq!(mode(&dir.join("live/privkey.pem")), 0o600);
        assert_eq!(mode(&dir.join("live/cert.pem")), 0o644);
        assert_eq!(mode(&dir), 0o700);
        // The version's metadata lives in the version, written before the switch.
        let vm: CertMeta = store
            .read_json(&dir.join("archive/2/meta.json"))
            .expect("read")
            .expect("present");
        assert_eq!(vm.version, Some(2));
        assert_eq!(vm.not_after.as_deref(), Some("2030-01-02T00:00:00Z"));
    }

    #[test]
    fn delete_cert_removes_every_version_and_never_follows_a_planted_link() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = Store::open(tmp.path().join("state")).expect("open");
        install(&store, "1").expect("install");
        install(&store, "2").expect("install");
        let mut m = meta("2");
        m.request = Some(RecordedRequest {
            server: "https://ca.example/dir".into(),
            domains: vec!["example.com".into()],
            ..Default::default()
        });
        store.write_meta("example.com", &m).expect("write");
        // A link planted inside points outside; the outside file must survive.
        let outside = tmp.path().join("outside");
        fs::create_dir(&outside).expect("mkdir");
        fs::write(outside.join("keep"), "keep").expect("write");
        let dir = store.cert_dir("example.com").expect("dir");
        std::os::unix::fs::symlink(&outside, dir.join("archive/1/planted")).expect("symlink");
        assert!(store.delete_cert("example.com").expect("delete"));
        assert!(!dir.exists());
        assert_eq!(
            fs::read_to_string(outside.join("keep")).expect("kept"),
            "keep"
        );
        assert!(store.list().expect("list").is_empty());
        assert!(!store.delete_cert("example.com").expect("delete again"));
    }

    #[test]
    fn meta_json_without_a_recorded_request_still_parses() {
        let old = r#"{"names":["a.example"],"key_type":"ec256","provider":"rfc2136","version":1}"#;
        let m: CertMeta = serde_json::from_str(old).expect("old meta.json");
        assert_eq!(m.request, None);
        let with = CertMeta {
            request: Some(RecordedRequest {
                server: "https://ca.example/dir".into(),
                domains: vec!["a.example".into()],
                provider: "lab".into(),
                key_type: Some("ec384".into()),
                deploy_hook: Some("true".into()),
                ..Default::default()
            }),
            ..m
        };
        let text = serde_json::to_string(&with).expect("json");
        assert_eq!(serde_json::from_str::<CertMeta>(&text).expect("back"), with);
    }

    #[test]
    fn meta_round_trip_and_list() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = Store::open(tmp.path()).expect("open");
        assert!(store.read_meta("a.example").expect("read").is_none());
        let meta = CertMeta {
            names: vec!["a.example".into()],
            key_type: "ec256".into(),
            ..Default::default()
        };
        store.write_meta("a.example", &meta).expect("write");
        assert_eq!(store.read_meta("a.example").expect("read"), Some(meta));
        assert_eq!(store.list().expect("list"), ["a.example"]);
    }

    #[test]
    fn refuses_path_tricks() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = Store::open(tmp.path()).expect("open");
        for bad in ["..", "../x", "a/b", "", ".hidden"] {
            assert!(
                matches!(store.cert_dir(bad), Err(StoreError::BadName(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            store.write_atomic(Path::new("/tmp/elsewhere"), b"x", 0o600),
            Err(StoreError::Outside { .. })
        ));
        assert!(matches!(
            store.write_atomic(&store.root().join("certs/../../x"), b"x", 0o600),
            Err(StoreError::Outside { .. })
        ));
    }

    #[tokio::test]
    async fn second_lock_waits_then_names_holder() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = Store::open(tmp.path()).expect("open");
        let first = store
            .lock("example.com", Duration::ZERO)
            .await
            .expect("first lock");
        let err = store
            .lock("example.com", Duration::from_millis(100))
            .await
            .expect_err("second lock");
        assert!(
            err.to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        match &err {
            StoreError::Locked { pid, since, .. } => {
                assert_eq!(*pid, Some(std::process::id()));
                assert!(
                    since.as_deref().is_some_and(|s| s.starts_with("20")),
                    "{since:?}"
                );
            }
            other => panic!("not Locked: {other}"),
        }
        assert!(err.hint().contains(&format!("pid {}", std::process::id())));
        drop(first);
        store
            .lock("example.com", Duration::ZERO)
            .await
            .expect("free again");
    }

    /// A directory outside the store with one file in it, to plant links at.
    struct Victim {
        _tmp: tempfile::TempDir,
        dir: PathBuf,
        file: PathBuf,
    }

    const VICTIM_BYTES: &[u8] = b"precious bytes that must never change\n";

    fn victim() -> Victim {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("target-dir");
        fs::create_dir(&dir).expect("mkdir");
        let file = dir.join("target-file");
        fs::write(&file, VICTIM_BYTES).expect("write");
        Victim {
            _tmp: tmp,
            dir,
            file,
        }
    }

    impl Victim {
        fn assert_untouched(&self) {
            assert_eq!(fs::read(&self.file).expect("read victim"), VICTIM_BYTES);
            let names: Vec<_> = fs::read_dir(&self.dir)
                .expect("list victim")
                .map(|e| e.expect("entry").file_name())
                .collect();
            assert_eq!(
                names,
                ["target-file"],
                "something was written through the link"
            );
        }
    }

    fn assert_symlink_error<T: std::fmt::Debug>(r: Result<T, StoreError>, link: &Path) {
        match r {
            Err(StoreError::Symlink { path }) => assert_eq!(path, link),
            other => panic!(
                "expected a Symlink error naming {}, got {other:?}",
                link.display()
            ),
        }
    }

    #[tokio::test]
    async fn planted_links_are_never_followed() {
        use std::os::unix::fs::symlink;
        // Directory levels: install must refuse and write nothing into the target.
        for level in [
            "certs",
            "certs/example.com",
            "certs/example.com/archive",
            "certs/example.com/archive/2",
        ] {
            let tmp = tempfile::tempdir().expect("tempdir");
            let store = Store::open(tmp.path()).expect("open");
            if level != "certs" {
                install(&store, "1").expect("first version");
            }
            let v = victim();
            let link = store.root().join(level);
            let _ = fs::remove_dir_all(&link);
            symlink(&v.dir, &link).expect("plant");
            let r = if level == "certs" {
                Store::open(tmp.path()).map(|_| ())
            } else {
                install(&store, "2").map(|_| ())
            };
            assert_symlink_error(r, &link);
            v.assert_untouched();
        }
        // File levels: meta.json, a version's key, the lock, a journal entry.
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = Store::open(tmp.path()).expect("open");
        install(&store, "1").expect("first version");
        let v = victim();
        let cert_dir = store.cert_dir("example.com").expect("dir");
        let meta_link = cert_dir.join("meta.json");
        symlink(&v.file, &meta_link).expect("plant");
        assert_symlink_error(store.write_meta("example.com", &meta("3")), &meta_link);
        assert_symlink_error(store.read_meta("example.com"), &meta_link);
        fs::remove_file(&meta_link).expect("unplant");
        let key_link = cert_dir.join("archive/1/privkey.pem");
        fs::remove_file(&key_link).expect("rm");
        symlink(&v.file, &key_link).expect("plant");
        assert_symlink_error(store.read_live("example.com"), &key_link);
        v.assert_untouched();

        let lock_link = store.root().join("locks/example.com.lock");
        fs::create_dir_all(store.root().join("locks")).expect("mkdir");
        symlink(&v.file, &lock_link).expect("plant");
        assert_symlink_error(store.lock("example.com", Duration::ZERO).await, &lock_link);
        v.assert_untouched();
        // A hard link to a file elsewhere is refused too (not truncated, not written).
        fs::remove_file(&lock_link).expect("unplant");
        let hard_victim = store.root().join("victim-hard");
        fs::write(&hard_victim, VICTIM_BYTES).expect("write");
        fs::hard_link(&hard_victim, &lock_link).expect("hard link");
        assert!(matches!(
            store.lock("example.com", Duration::ZERO).await,
            Err(StoreError::NotPlain { .. })
        ));
        assert_eq!(fs::read(&hard_victim).expect("read"), VICTIM_BYTES);

        let journal = store.journal_dir();
        symlink(&v.dir, &journal).expect("plant");
        assert_symlink_error(
            store.write_json(&journal.join("x.json"), &1, 0o600),
            &journal,
        );
        assert_symlink_error(store.list_dir(&journal), &journal);
        v.assert_untouched();
        fs::remove_file(&journal).expect("unplant");
        fs::create_dir(&journal).expect("mkdir");
        let entry = journal.join("1-1-1.json");
        symlink(&v.file, &entry).expect("plant");
        assert_symlink_error(store.read_json::<serde_json::Value>(&entry), &entry);
        assert_symlink_error(store.write_json(&entry, &1, 0o600), &entry);
        v.assert_untouched();

        let account = store.account_dir("ca.example", "default").expect("dir");
        fs::create_dir_all(account.parent().expect("parent")).expect("mkdir");
        symlink(&v.dir, &account).expect("plant");
        assert_symlink_error(
            store.write_atomic(&account.join("key.pem"), b"KEY", 0o600),
            &account,
        );
        assert_symlink_error(store.read_string(&account.join("key.pem")), &account);
        v.assert_untouched();
    }

    #[test]
    fn state_dirs_open_to_others_are_refused_with_the_fix() {
        for (m, who) in [
            (0o777, "every user"),
            (0o770, "group"),
            (0o702, "every user"),
        ] {
            let tmp = tempfile::tempdir().expect("tempdir");
            let root = tmp.path().join("state");
            fs::create_dir(&root).expect("mkdir");
            fs::set_permissions(&root, fs::Permissions::from_mode(m)).expect("chmod");
            let e = Store::open(&root).expect_err("refused");
            assert!(matches!(e, StoreError::Unsafe { .. }), "{e}");
            assert!(e.to_string().contains(who), "{e}");
            assert_eq!(e.hint(), format!("run: chmod go-w {}", root.display()));
            // A subdirectory opened to others is refused as well.
            fs::set_permissions(&root, fs::Permissions::from_mode(0o700)).expect("chmod");
            Store::open(&root).expect("fixed");
            fs::create_dir(root.join("certs")).expect("mkdir");
            fs::set_permissions(root.join("certs"), fs::Permissions::from_mode(m)).expect("chmod");
            assert!(matches!(Store::open(&root), Err(StoreError::Unsafe { .. })));
        }
        // Owned by another user.
        let me = rustix::process::geteuid().as_raw();
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = if me == 0 {
            let root = tmp.path().join("state");
            fs::create_dir(&root).expect("mkdir");
            std::os::unix::fs::chown(&root, Some(65534), None).expect("chown");
            root
        } else {
            // Not root: a directory root owns and nobody else may write.
            PathBuf::from("/usr")
        };
        let e = Store::open(&root).expect_err("foreign owner refused");
        assert!(e.to_string().contains("is owned by uid"), "{e}");
        assert_eq!(
            e.hint(),
            format!("run: chown -R {} {}", user_name(me), root.display())
        );
    }

    #[tokio::test]
    async fn a_killed_install_is_settled_by_the_next_lock() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = Store::open(tmp.path()).expect("open");
        install(&store, "1").expect("v1");
        let mut top = meta("1");
        top.version = Some(1);
        store.write_meta("example.com", &top).expect("meta");
        let dir = store.cert_dir("example.com").expect("dir");
        // Killed after archive/2 was complete, before live flipped.
        install(&store, "2").expect("v2");
        std::os::unix::fs::symlink("archive/1", dir.join(".live.1.0.tmp")).expect("link");
        fs::rename(dir.join(".live.1.0.tmp"), dir.join("live")).expect("unflip");
        // Killed while writing archive/3, with temporary files about.
        fs::create_dir(dir.join("archive/3")).expect("mkdir");
        fs::write(dir.join("archive/3/privkey.pem"), "KEY 3").expect("write");
        fs::write(dir.join("archive/3/.cert.pem.999999.0.tmp"), "half").expect("write");
        fs::write(dir.join("archive/1/.chain.pem.999999.1.tmp"), "half").expect("write");
        fs::write(dir.join(".meta.json.999999.2.tmp"), "{").expect("write");
        let lock = store
            .lock("example.com", Duration::ZERO)
            .await
            .expect("lock");
        assert_eq!(store.live_version("example.com").expect("live"), Some(2));
        assert!(!dir.join("archive/3").exists(), "half-written version left");
        assert!(!dir.join("archive/1/.chain.pem.999999.1.tmp").exists());
        assert!(!dir.join(".meta.json.999999.2.tmp").exists());
        let on_disk: CertMeta =
            serde_json::from_slice(&fs::read(dir.join("meta.json")).expect("read")).expect("json");
        assert_eq!(on_disk.version, Some(2), "meta.json disagrees with live");
        assert_eq!(on_disk.not_after.as_deref(), Some("2030-01-02T00:00:00Z"));
        drop(lock);
        assert_eq!(
            store.archive_versions("example.com").expect("versions"),
            [1, 2]
        );
    }

    #[test]
    fn read_meta_follows_live_when_meta_json_lags() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = Store::open(tmp.path()).expect("open");
        // A fresh store killed between the switch and meta.json: the reader still knows.
        install(&store, "1").expect("v1");
        let m = store
            .read_meta("example.com")
            .expect("read")
            .expect("known");
        assert_eq!(m.version, Some(1));
        assert_eq!(store.list().expect("list"), ["example.com"]);
        // ... and repaired meta.json on the way (no other run held the lock).
        let dir = store.cert_dir("example.com").expect("dir");
        let on_disk: CertMeta =
            serde_json::from_slice(&fs::read(dir.join("meta.json")).expect("read")).expect("json");
        assert_eq!(on_disk.version, Some(1));
    }

    #[test]
    fn new_versions_keep_group_and_mode_and_key_settings_win() {
        let me = rustix::process::geteuid().as_raw();
        // Root may pick any group; others their own.
        let gid = if me == 0 {
            4242
        } else {
            rustix::process::getegid().as_raw()
        };
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = Store::open(tmp.path()).expect("open");
        install(&store, "1").expect("v1");
        let dir = store.cert_dir("example.com").expect("dir");
        let v1 = dir.join("archive/1");
        for (p, m) in [
            (v1.clone(), 0o750),
            (v1.join("privkey.pem"), 0o640),
            (v1.join("cert.pem"), 0o640),
        ] {
            std::os::unix::fs::chown(&p, None, Some(gid)).expect("chgrp");
            fs::set_permissions(&p, fs::Permissions::from_mode(m)).expect("chmod");
        }
        install(&store, "2").expect("v2");
        let v2 = dir.join("archive/2");
        let st = |p: &Path| fs::metadata(p).expect("stat");
        assert_eq!((mode(&v2), st(&v2).gid()), (0o750, gid));
        assert_eq!(
            (
                mode(&v2.join("privkey.pem")),
                st(&v2.join("privkey.pem")).gid()
            ),
            (0o640, gid)
        );
        assert_eq!(
            (mode(&v2.join("cert.pem")), st(&v2.join("cert.pem")).gid()),
            (0o640, gid)
        );
        // A world-readable key is never carried over.
        fs::set_permissions(v2.join("privkey.pem"), fs::Permissions::from_mode(0o644))
            .expect("chmod");
        install(&store, "3").expect("v3");
        assert_eq!(mode(&dir.join("archive/3/privkey.pem")), 0o640);
        // key_group / key_mode win, and the directories let the group through.
        let perms = KeyPerms::parse(Some(&gid.to_string()), Some("0640")).expect("perms");
        fs::set_permissions(dir.join("archive/3"), fs::Permissions::from_mode(0o700))
            .expect("chmod");
        fs::set_permissions(
            dir.join("archive/3/privkey.pem"),
            fs::Permissions::from_mode(0o600),
        )
        .expect("chmod");
        store
            .install("example.com", &files("4"), &meta("4"), &perms)
            .expect("v4");
        let v4 = dir.join("archive/4");
        assert_eq!(
            (
                mode(&v4.join("privkey.pem")),
                st(&v4.join("privkey.pem")).gid()
            ),
            (0o640, gid)
        );
        assert_eq!(mode(&v4) & 0o050, 0o050);
        assert_eq!(st(&dir).gid(), gid);
        assert_eq!(mode(&dir) & 0o050, 0o050);
    }

    #[test]
    fn key_perms_parse() {
        assert_eq!(
            KeyPerms::parse(Some("0"), Some("0640")).expect("ok"),
            KeyPerms {
                group: Some(0),
                mode: Some(0o640)
            }
        );
        assert_eq!(
            KeyPerms::parse(Some("root"), None).expect("root").group,
            Some(0)
        );
        for bad in ["0644", "0604", "0700", "0440", "rw-r-----", "01640"] {
            assert!(KeyPerms::parse(None, Some(bad)).is_err(), "{bad}");
        }
        assert!(KeyPerms::parse(Some("no-such-group-here"), None).is_err());
    }
}
