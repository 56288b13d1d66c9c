//! The on-disk store (layout in DESIGN.md).
//!
//! ```text
//! accounts/<ca-host>/<account>/{account.json,key.pem}
//! certs/<name>/live -> archive/<n>            what servers point at (one atomic symlink swap)
//! certs/<name>/archive/<n>/{cert.pem,chain.pem,fullchain.pem,privkey.pem}
//! certs/<name>/meta.json
//! journal/<id>.json                           records published, not yet removed
//! ```
//! Every file is written to a temporary name in the same directory, fsynced, renamed into
//! place, and the directory fsynced. Private keys are 0600, directories 0700.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fs4::{FileExt, TryLockError};
use serde::{Deserialize, Serialize};

/// File names in `live/` and in each archive version (the names certbot users know).
pub const CERT_FILES: [&str; 4] = ["cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"];

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
        /// What the holder wrote into the lock (pid), if readable.
        holder: Option<String>,
    },
    /// A certificate name that cannot be a directory name.
    #[error("`{0}` cannot be used as a certificate name (letters, digits, `.`, `-`, `_` only)")]
    BadName(String),
}

impl StoreError {
    fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
        move |source| StoreError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    /// A hint for the CLI's second line.
    pub fn hint(&self) -> &'static str {
        match self {
            StoreError::Io { source, .. } if source.kind() == io::ErrorKind::PermissionDenied => {
                "run as a user who may write the state directory, or pick another with --state-dir"
            }
            StoreError::Io { .. } => {
                "check that the state directory exists, is writable and the disk is not full"
            }
            StoreError::Corrupt { .. } => {
                "move the damaged file aside; the next run recreates what it needs"
            }
            StoreError::Locked { .. } => {
                "wait for the other run to finish; the lock is released when it exits"
            }
            StoreError::BadName(_) => "choose another --cert-name",
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

/// The state directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Open (and create, 0700) a store at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store, StoreError> {
        let root = root.into();
        create_dir_private(&root)?;
        Ok(Store { root })
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

    /// Read `meta.json` of a certificate; `None` when the certificate is unknown.
    pub fn read_meta(&self, name: &str) -> Result<Option<CertMeta>, StoreError> {
        read_json(&self.cert_dir(name)?.join("meta.json"))
    }

    /// Write `meta.json` atomically.
    pub fn write_meta(&self, name: &str, meta: &CertMeta) -> Result<(), StoreError> {
        let dir = self.cert_dir(name)?;
        create_dir_private(&dir)?;
        write_json(&dir.join("meta.json"), meta, 0o600)
    }

    /// Names of every certificate in the store.
    pub fn list(&self) -> Result<Vec<String>, StoreError> {
        let dir = self.root.join("certs");
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(StoreError::Io {
                    op: "list",
                    path: dir,
                    source: e,
                });
            }
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(StoreError::io("list", &dir))?;
            if let Some(n) = entry.file_name().to_str()
                && entry.path().join("meta.json").exists()
            {
                names.push(n.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Store a new, already verified version and switch `live/` to it in one atomic step.
    ///
    /// The previous version stays in `archive/`; if anything fails before the switch, `live/`
    /// still points at the previous, working certificate. Returns the new version number.
    pub fn install(&self, name: &str, files: &CertFiles) -> Result<u32, StoreError> {
        let dir = self.cert_dir(name)?;
        let archive = dir.join("archive");
        create_dir_private(&self.root.join("certs"))?;
        create_dir_private(&dir)?;
        create_dir_private(&archive)?;
        let version = next_version(&archive)?;
        let vdir = archive.join(version.to_string());
        create_dir_private(&vdir)?;
        let fullchain = format!("{}{}", ensure_newline(&files.cert), files.chain);
        write_atomic(&vdir.join("privkey.pem"), files.privkey.as_bytes(), 0o600)?;
        write_atomic(&vdir.join("cert.pem"), files.cert.as_bytes(), 0o644)?;
        write_atomic(&vdir.join("chain.pem"), files.chain.as_bytes(), 0o644)?;
        write_atomic(&vdir.join("fullchain.pem"), fullchain.as_bytes(), 0o644)?;
        // live -> archive/<n>: create a new symlink beside it and rename it over the old one.
        let tmp = dir.join(format!(".live.{}.tmp", std::process::id()));
        let _ = fs::remove_file(&tmp);
        symlink(Path::new("archive").join(version.to_string()), &tmp)?;
        let live = dir.join("live");
        fs::rename(&tmp, &live).map_err(StoreError::io("switch", &live))?;
        fsync_dir(&dir)?;
        Ok(version)
    }

    /// Read the live files of a certificate, if any.
    pub fn read_live(&self, name: &str) -> Result<Option<CertFiles>, StoreError> {
        let live = self.live_dir(name)?;
        let read = |f: &str| -> Result<Option<String>, StoreError> {
            let p = live.join(f);
            match fs::read_to_string(&p) {
                Ok(s) => Ok(Some(s)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(StoreError::Io {
                    op: "read",
                    path: p,
                    source: e,
                }),
            }
        };
        match (read("cert.pem")?, read("chain.pem")?, read("privkey.pem")?) {
            (Some(cert), Some(chain), Some(privkey)) => Ok(Some(CertFiles {
                cert,
                chain,
                privkey,
            })),
            _ => Ok(None),
        }
    }

    /// Take the lock of a certificate (or any other lock name), waiting up to `wait` without
    /// blocking the runtime.
    pub async fn lock(&self, name: &str, wait: Duration) -> Result<StoreLock, StoreError> {
        let path = self.lock_path(name)?;
        let start = Instant::now();
        let mut pause = Duration::from_millis(20);
        loop {
            if let Some(lock) = StoreLock::try_acquire(&path)? {
                return Ok(lock);
            }
            if start.elapsed() >= wait {
                return Err(StoreLock::locked_error(&path));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }

    fn lock_path(&self, name: &str) -> Result<PathBuf, StoreError> {
        check_name(name)?;
        let dir = self.root.join("locks");
        create_dir_private(&dir)?;
        Ok(dir.join(format!("{name}.lock")))
    }
}

/// An exclusive lock held until dropped (advisory `flock`; released by the kernel on exit).
#[derive(Debug)]
pub struct StoreLock {
    file: File,
    path: PathBuf,
}

impl StoreLock {
    /// One attempt; `None` when another process (or handle) holds the lock.
    fn try_acquire(path: &Path) -> Result<Option<StoreLock>, StoreError> {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(StoreError::io("open lock", path))?;
        match FileExt::try_lock(&file) {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => {
                return Err(StoreError::Io {
                    op: "lock",
                    path: path.to_path_buf(),
                    source: e,
                });
            }
        }
        file.set_len(0)
            .map_err(StoreError::io("write lock", path))?;
        let _ = write!(file, "pid {}", std::process::id());
        Ok(Some(StoreLock {
            file,
            path: path.to_path_buf(),
        }))
    }

    fn locked_error(path: &Path) -> StoreError {
        let holder = fs::read_to_string(path)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        StoreError::Locked {
            path: path.to_path_buf(),
            holder,
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = FileExt::unlock(&self.file);
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

fn next_version(archive: &Path) -> Result<u32, StoreError> {
    let mut max = 0;
    for entry in fs::read_dir(archive).map_err(StoreError::io("list", archive))? {
        let entry = entry.map_err(StoreError::io("list", archive))?;
        if let Some(n) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        {
            max = max.max(n);
        }
    }
    Ok(max + 1)
}

/// Create a directory (and parents) with mode 0700.
pub fn create_dir_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::DirBuilderExt;
    match fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
    {
        Ok(()) => Ok(()),
        Err(e) => Err(StoreError::Io {
            op: "create directory",
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

/// Write a file atomically: temp file in the same directory, fsync, rename, fsync the directory.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(
        ".{file_name}.{}.{}.tmp",
        std::process::id(),
        rand::random::<u32>()
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .map_err(StoreError::io("create", &tmp))?;
        f.write_all(data).map_err(StoreError::io("write", &tmp))?;
        f.sync_all().map_err(StoreError::io("fsync", &tmp))?;
        fs::rename(&tmp, path).map_err(StoreError::io("rename into", path))?;
        fsync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn fsync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::io("fsync", dir))
}

fn symlink(target: PathBuf, link: &Path) -> Result<(), StoreError> {
    std::os::unix::fs::symlink(&target, link).map_err(StoreError::io("symlink", link))
}

/// Read a JSON file; `None` when it does not exist.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, StoreError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(StoreError::Io {
                op: "read",
                path: path.to_path_buf(),
                source: e,
            });
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| StoreError::Corrupt {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

/// Write a JSON file atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T, mode: u32) -> Result<(), StoreError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| StoreError::Corrupt {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    bytes.push(b'\n');
    write_atomic(path, &bytes, mode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn files(tag: &str) -> CertFiles {
        CertFiles {
            cert: format!("CERT {tag}\n"),
            chain: format!("CHAIN {tag}\n"),
            privkey: format!("KEY {tag}\n"),
        }
    }

    #[test]
    fn install_switches_live_atomically_and_keeps_archive() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = Store::open(tmp.path().join("state")).expect("open");
        assert_eq!(
            store.install("example.com", &files("1")).expect("install"),
            1
        );
        assert_eq!(
            store.install("example.com", &files("2")).expect("install"),
            2
        );
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
        let old = store
            .cert_dir("example.com")
            .expect("dir")
            .join("archive/1/cert.pem");
        assert_eq!(fs::read_to_string(old).expect("read"), "CERT 1\n");
        let key = store
            .live_dir("example.com")
            .expect("dir")
            .join("privkey.pem");
        assert_eq!(
            fs::metadata(key).expect("stat").permissions().mode() & 0o777,
            0o600
        );
        let dir = store.cert_dir("example.com").expect("dir");
        assert_eq!(
            fs::metadata(dir).expect("stat").permissions().mode() & 0o777,
            0o700
        );
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
        drop(first);
        store
            .lock("example.com", Duration::ZERO)
            .await
            .expect("free again");
    }
}
