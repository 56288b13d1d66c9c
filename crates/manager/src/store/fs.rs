//! The filesystem backend: every file and directory below the state directory is reached from
//! a directory handle with `O_NOFOLLOW` (`openat`); writes are temp file, fsync, rename, fsync
//! of the directory (see the module doc of `store`).

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;
use serde::Serialize;

use super::*;

/// The per-version metadata file inside `archive/<n>/` (its presence marks the version complete).
pub(super) const VERSION_META: &str = "meta.json";

/// The certificate key an order is finalized with, journaled before the CA sees it
/// (`certs/<name>/pending-key.pem`, 0600) and removed once the certificate is stored.
pub(crate) const PENDING_KEY: &str = "pending-key.pem";

#[derive(Debug, Clone, Copy)]
pub(super) struct Perms {
    mode: u32,
    gid: Option<u32>,
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct Store {
    pub(super) root: PathBuf,
    pub(super) root_fd: Arc<OwnedFd>,
    /// `certs/`, opened (without following links) the first time it is needed and found.
    pub(super) certs_fd: Arc<std::sync::OnceLock<OwnedFd>>,
    /// The database holding certificates, accounts, the journal and locks, when the store is
    /// shared by more than one host (`[store] url`); every object call goes there.
    pub(super) shared: Option<Arc<pg::PgBackend>>,
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
            shared: None,
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
    pub(super) fn components<'a>(&self, path: &'a Path) -> Result<Vec<&'a OsStr>, StoreError> {
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
    pub(super) fn dir_fd(
        &self,
        path: &Path,
        create: Option<Perms>,
    ) -> Result<Option<OwnedFd>, StoreError> {
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

    pub(super) fn parent_fd<'a>(
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
        super::utf8(self.read_file(path)?, path)
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
        if let Some(pg) = &self.shared {
            return pg.read_meta(name);
        }
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

    /// [`Store::read_meta`] of each of `names`, in that order: the same read and the same
    /// reconciliation with `live`. On the filesystem, a long list (a `renew` over thousands of
    /// certificates) is read by a few threads at once, each taking a contiguous part.
    pub fn read_metas(&self, names: &[String]) -> Vec<Result<Option<CertMeta>, StoreError>> {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(READ_THREADS);
        if self.shared.is_some() || threads < 2 || names.len() < PARALLEL_READS_FROM {
            return names.iter().map(|n| self.read_meta(n)).collect();
        }
        let read = |part: &[String]| -> Vec<_> { part.iter().map(|n| self.read_meta(n)).collect() };
        let span = tracing::Span::current();
        std::thread::scope(|scope| {
            let mut parts = names.chunks(names.len().div_ceil(threads));
            // The first part on this thread, the others on their own.
            let first = parts.next().unwrap_or_default();
            let others: Vec<_> = parts
                .map(|part| {
                    let span = span.clone();
                    let spawned = std::thread::Builder::new()
                        .name("wildcert-read".into())
                        .spawn_scoped(scope, move || span.in_scope(|| read(part)));
                    // No thread to be had: read that part here.
                    spawned.map_err(|_| part)
                })
                .collect();
            let mut out = read(first);
            for handle in others {
                match handle {
                    Ok(h) => match h.join() {
                        Ok(metas) => out.extend(metas),
                        Err(panic) => std::panic::resume_unwind(panic),
                    },
                    Err(part) => out.extend(read(part)),
                }
            }
            out
        })
    }

    /// The common case in one walk (`renew` reads thousands of these): the certificate's
    /// directory is opened once, and `live`, `meta.json` and the listings are read through that
    /// handle. `true` when anything looks off (meta.json lags `live`, a version newer than
    /// `live`, a temporary file): the caller then takes the careful path.
    pub(super) fn meta_at_a_glance(
        &self,
        name: &str,
    ) -> Result<(Option<CertMeta>, bool), StoreError> {
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
        let listing = fresh_entries(&cfd, &dir)?;
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
        let versions = fresh_entries(&afd, &adir)?;
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
                && fresh_entries(&lfd, &ldir)?.iter().any(|(n, _)| tmp(n))
            {
                return Ok((top, true));
            }
        }
        Ok((top, false))
    }

    /// The reconciled metadata and whether `meta.json` on disk disagrees with it.
    pub(super) fn reconciled_meta(
        &self,
        name: &str,
    ) -> Result<(Option<CertMeta>, bool), StoreError> {
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
        if let Some(pg) = &self.shared {
            return pg.write_meta(name, meta);
        }
        let dir = self.cert_dir(name)?;
        self.create_dir_private(&dir)?;
        self.write_json(&dir.join("meta.json"), meta, 0o600)
    }

    /// Every certificate in the store ([`Store::list`]) with its `meta.json` as
    /// [`Store::read_meta`] reads it, or why it cannot be read, sorted by name. On PostgreSQL
    /// one statement for all (and one more for any whose `meta.json` lags `live`).
    #[allow(clippy::type_complexity)]
    pub fn list_with_meta(
        &self,
    ) -> Result<Vec<(String, Result<Option<CertMeta>, StoreError>)>, StoreError> {
        if let Some(pg) = &self.shared {
            return pg.list_with_meta();
        }
        // On a few threads for a large store (`read_metas`).
        let names = self.list()?;
        let metas = self.read_metas(&names);
        Ok(names.into_iter().zip(metas).collect())
    }

    /// Names of every certificate in the store.
    pub fn list(&self) -> Result<Vec<String>, StoreError> {
        if let Some(pg) = &self.shared {
            return pg.list_certs();
        }
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
            // The certificate's directory is opened once (without following a link), and
            // `meta.json` and `live` looked up through it: the same answer as a walk from the
            // root for each (`exists`, `live_version`), a third of the system calls.
            let Some(cfd) = open_subdir(fd.as_fd(), OsStr::new(&n), &path, None)? else {
                continue;
            };
            let meta_path = path.join("meta.json");
            let has_meta = match entry_type(&cfd, OsStr::new("meta.json"), &meta_path)? {
                None => false,
                Some(FileType::Symlink) => return Err(StoreError::Symlink { path: meta_path }),
                Some(_) => true,
            };
            if has_meta || live_in(&cfd, &path)?.is_some() {
                names.push(n);
            }
        }
        names.sort();
        Ok(names)
    }

    /// The archive version `live` points at, if any (read with `readlinkat`, never followed).
    pub fn live_version(&self, name: &str) -> Result<Option<u32>, StoreError> {
        if let Some(pg) = &self.shared {
            return Storage::live_version(&**pg, name);
        }
        let dir = self.cert_dir(name)?;
        let Some(fd) = self.dir_fd(&dir, None)? else {
            return Ok(None);
        };
        live_in(&fd, &dir)
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
        if let Some(pg) = &self.shared {
            let version = Storage::install(&**pg, name, files, meta, perms)?;
            // The state directory keeps a copy of what this bastion installed, under the same
            // number, so that `live/`, install targets and hooks read files as on one host.
            if let Err(e) = self.local().install_at(name, files, meta, perms, version) {
                tracing::warn!(cert = %name, version, "version {version} is stored and live in the database, but its copy in {} was not written: {e}", self.root.display());
            }
            return Ok(version);
        }
        self.install_at(name, files, meta, perms, 1)
    }

    /// This store without its database: the state directory alone.
    pub(super) fn local(&self) -> Store {
        Store {
            shared: None,
            ..self.clone()
        }
    }

    /// [`Store::install`] on the filesystem, numbering the version at least `at_least`.
    fn install_at(
        &self,
        name: &str,
        files: &CertFiles,
        meta: &CertMeta,
        perms: &KeyPerms,
        at_least: u32,
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

        let mut version = at_least;
        for (n, t) in entries(&archive_fd, &archive)? {
            let Ok(v) = n.parse::<u32>() else { continue };
            if t == Some(FileType::Symlink) {
                return Err(StoreError::Symlink {
                    path: archive.join(n),
                });
            }
            version = version.max(v + 1);
        }
        let (vdir, vfd) = new_version_dir(archive_fd.as_fd(), &archive, version)?;
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
        // The journaled key, when it is this version's key with the key's mode and group, is
        // linked in rather than written again (it was fsynced when journaled): no new inode,
        // no second write of it, and none freed when the journal entry is removed.
        if !link_pending_key(&cert_fd, &dir, &vfd, &vdir, files.privkey.as_bytes(), key) {
            write("privkey.pem", files.privkey.as_bytes(), key)?;
        }
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

    /// Write archive version `version` of `name` with exactly these files (`(file, bytes)`;
    /// `meta.json` is written last, so its presence still marks the version complete), without
    /// switching `live`; refused when that version exists. Keys are 0600 (or `perms`), the
    /// metadata 0600, the rest 0644. For `store migrate`, which keeps version numbers. Call
    /// with the certificate's lock held; filesystem only.
    pub fn write_version(
        &self,
        name: &str,
        version: u32,
        files: &[(String, Vec<u8>)],
        perms: &KeyPerms,
    ) -> Result<(), StoreError> {
        let archive = self.cert_dir(name)?.join("archive");
        let private = Some(Perms {
            mode: 0o700,
            gid: None,
        });
        let archive_fd = self
            .dir_fd(&archive, private)?
            .ok_or_else(|| StoreError::Outside {
                path: archive.clone(),
            })?;
        let (vdir, vfd) = new_version_dir(archive_fd.as_fd(), &archive, version)?;
        let ordered = files
            .iter()
            .filter(|(f, _)| f != VERSION_META)
            .chain(files.iter().filter(|(f, _)| f == VERSION_META));
        for (file, data) in ordered {
            check_name(file)?;
            let mode = match file.as_str() {
                "privkey.pem" => perms.mode.unwrap_or(0o600) & 0o660,
                VERSION_META => 0o600,
                _ => 0o644,
            };
            let p = Perms {
                mode,
                gid: perms.group,
            };
            write_in_then(&vfd, OsStr::new(file), &vdir.join(file), data, p, false)?;
        }
        fsync_fd(&vfd, &vdir)?;
        fsync_fd(&archive_fd, &archive)
    }

    /// Point `live` of `name` at its archive version `version`, which holds the four PEM files
    /// (one atomic switch; call with the certificate's lock held). Filesystem only: for
    /// `store migrate` (a version from before archive metadata may lack `meta.json`).
    pub fn set_live(&self, name: &str, version: u32) -> Result<(), StoreError> {
        let dir = self.cert_dir(name)?;
        let vdir = dir.join("archive").join(version.to_string());
        for file in CERT_FILES {
            if !self.exists(&vdir.join(file))? {
                return Err(StoreError::NotPlain {
                    path: vdir.join(file),
                    what: "is missing: the version is not complete".into(),
                });
            }
        }
        let cert_fd = self
            .dir_fd(&dir, None)?
            .ok_or_else(|| StoreError::Outside { path: dir.clone() })?;
        switch_live(&cert_fd, &dir, version)
    }

    /// Read the live files of a certificate, if any.
    pub fn read_live(&self, name: &str) -> Result<Option<CertFiles>, StoreError> {
        if let Some(pg) = &self.shared {
            return Storage::read_live(&**pg, name);
        }
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
        if let Some(pg) = &self.shared {
            return pg.read_live_file(name, file);
        }
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
        if let Some(pg) = &self.shared {
            return pg.archive_versions(name);
        }
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
        if let Some(pg) = &self.shared {
            return pg.delete_cert(name);
        }
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
        if let Some(pg) = &self.shared {
            return Storage::recover(&**pg, name);
        }
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
    pub(super) fn sweep_shared(&self) {
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
}

/// OpenSSH StrictModes for a directory: owned by us, not writable by group or others.
pub(super) fn strict_modes(path: &Path, fd: &OwnedFd) -> Result<(), StoreError> {
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

pub(super) fn user_name(uid: u32) -> String {
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

/// The archive version the `live` link in the certificate directory `cfd` (at `dir`) points
/// at, if any (read with `readlinkat`, never followed).
pub(super) fn live_in(cfd: &OwnedFd, dir: &Path) -> Result<Option<u32>, StoreError> {
    let live = dir.join("live");
    let target = match rustix::fs::readlinkat(cfd, "live", Vec::new()) {
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

/// Map an `openat` failure: a link there becomes [`StoreError::Symlink`].
pub(super) fn classify(
    dir: &impl AsFd,
    name: &OsStr,
    path: &Path,
    e: Errno,
    op: &'static str,
) -> StoreError {
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
pub(super) fn entry_type(
    dir: &impl AsFd,
    name: &OsStr,
    path: &Path,
) -> Result<Option<FileType>, StoreError> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(FileType::from_raw_mode(st.st_mode))),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(StoreError::errno("stat", path)(e)),
    }
}

/// Creates `archive/<version>` (0700, not yet linked from `live`) and opens it without
/// following links: its path and handle.
fn new_version_dir(
    archive_fd: BorrowedFd<'_>,
    archive: &Path,
    version: u32,
) -> Result<(PathBuf, OwnedFd), StoreError> {
    let vname = version.to_string();
    let vdir = archive.join(&vname);
    rustix::fs::mkdirat(archive_fd, vname.as_str(), Mode::from_raw_mode(0o700))
        .map_err(StoreError::errno("create directory", &vdir))?;
    let vfd = open_subdir(archive_fd, OsStr::new(&vname), &vdir, None)?.ok_or_else(|| {
        StoreError::Io {
            op: "open directory",
            path: vdir.clone(),
            source: io::ErrorKind::NotFound.into(),
        }
    })?;
    Ok((vdir, vfd))
}

/// Open (or, with `create`, make) one directory below `parent` without following a link.
pub(super) fn open_subdir(
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

pub(super) fn set_perms(fd: &impl AsFd, path: &Path, perms: Perms) -> Result<(), StoreError> {
    let st = rustix::fs::fstat(fd).map_err(StoreError::errno("stat", path))?;
    if let Some(gid) = perms.gid.filter(|g| *g != st.st_gid) {
        rustix::fs::fchown(fd, None, Some(rustix::process::Gid::from_raw(gid)))
            .map_err(StoreError::errno("chgrp", path))?;
    }
    rustix::fs::fchmod(fd, Mode::from_raw_mode(perms.mode))
        .map_err(StoreError::errno("chmod", path))
}

/// A regular file of ours with one name (no hard link to something else).
pub(super) fn check_own_file(fd: &OwnedFd, path: &Path) -> Result<(), StoreError> {
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

/// Threads [`Store::read_metas`] reads with at most, and the list length from which it does.
const READ_THREADS: usize = 4;
const PARALLEL_READS_FROM: usize = 256;

/// The largest file the store reads (its files are a few KiB): a bound on the read loop.
const MAX_FILE: usize = 64 << 20;

pub(super) fn read_in(
    dir: &OwnedFd,
    name: &OsStr,
    path: &Path,
) -> Result<Option<Vec<u8>>, StoreError> {
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
    // Sized from the fstat above: `read_to_end` would ask the size again (`statx`, `lseek`).
    // A file that grew meanwhile is still read to its end.
    let size = usize::try_from(st.st_size).unwrap_or(0);
    let mut buf = vec![0u8; size.saturating_add(1).max(64)];
    let mut filled = 0;
    loop {
        if filled > MAX_FILE {
            return Err(StoreError::Corrupt {
                path: path.to_path_buf(),
                message: format!("larger than {} MiB", MAX_FILE >> 20),
            });
        }
        if filled == buf.len() {
            buf.resize(buf.len().saturating_mul(2), 0);
        }
        match rustix::io::read(&fd, &mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(StoreError::errno("read", path)(e)),
        }
    }
    buf.truncate(filled);
    Ok(Some(buf))
}

/// Atomic write of `name` in `dir`: a temporary file made 0600, then `fchown`/`fchmod` to
/// `perms` before any byte is written, fsync, `renameat`, fsync the directory.
pub(super) fn write_in(
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
pub(super) fn write_in_then(
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

/// Hard-link `certs/<name>/pending-key.pem` as `privkey.pem` into the new (not yet live)
/// version directory `vfd`, when it is a regular file of ours with one link, holds exactly
/// `key` and has `perms` already. The link's inode is fsynced (its link count is on disk with
/// the version directory's fsync that follows). `false`, with nothing left behind, when any of
/// that does not hold or a step fails: the caller writes the key as any other file.
fn link_pending_key(
    cert_fd: &OwnedFd,
    dir: &Path,
    vfd: &OwnedFd,
    vdir: &Path,
    key: &[u8],
    perms: Perms,
) -> bool {
    let Ok(fd) = rustix::fs::openat(
        cert_fd,
        PENDING_KEY,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK,
        Mode::empty(),
    ) else {
        return false;
    };
    let Ok(st) = rustix::fs::fstat(&fd) else {
        return false;
    };
    let ours = FileType::from_raw_mode(st.st_mode) == FileType::RegularFile
        && st.st_nlink == 1
        && st.st_uid == rustix::process::geteuid().as_raw()
        && st.st_mode & 0o7777 == perms.mode
        && perms.gid.is_none_or(|g| g == st.st_gid);
    if !ours || usize::try_from(st.st_size).ok() != Some(key.len()) {
        return false;
    }
    let mut held = Vec::with_capacity(key.len());
    let mut file = File::from(fd);
    if file.read_to_end(&mut held).is_err() || held != key {
        return false;
    }
    if rustix::fs::linkat(cert_fd, PENDING_KEY, vfd, "privkey.pem", AtFlags::empty()).is_err() {
        return false;
    }
    // The name in the version must be the file read above, not one swapped in meanwhile.
    let same = rustix::fs::statat(vfd, "privkey.pem", AtFlags::SYMLINK_NOFOLLOW)
        .is_ok_and(|l| l.st_ino == st.st_ino && l.st_dev == st.st_dev);
    if same && file.sync_all().is_ok() {
        return true;
    }
    let _ = rustix::fs::unlinkat(vfd, "privkey.pem", AtFlags::empty());
    tracing::debug!(
        "{} not linked into {}; written instead",
        dir.join(PENDING_KEY).display(),
        vdir.display()
    );
    false
}

/// `live -> archive/<n>`: a new link beside it, renamed over the old one, directory fsynced.
pub(super) fn switch_live(cert_fd: &OwnedFd, dir: &Path, version: u32) -> Result<(), StoreError> {
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

pub(super) fn fsync_fd(fd: &impl AsFd, path: &Path) -> Result<(), StoreError> {
    rustix::fs::fsync(fd).map_err(StoreError::errno("fsync", path))
}

/// Entries of an open directory with their types (`None`: unknown), `.`/`..` left out.
pub(super) fn entries(
    fd: &OwnedFd,
    path: &Path,
) -> Result<Vec<(String, Option<FileType>)>, StoreError> {
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

/// [`entries`] of a directory handle opened for this listing alone (never listed before, its
/// position never used after): read with `getdents` on the handle itself, without the second
/// handle (`fcntl`, `openat(".")`, `close`) [`entries`] opens. Unsorted.
pub(super) fn fresh_entries(
    fd: &OwnedFd,
    path: &Path,
) -> Result<Vec<(String, Option<FileType>)>, StoreError> {
    let mut out = Vec::new();
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
    let mut dir = rustix::fs::RawDir::new(fd, &mut buf);
    // Bounded: a directory ends; this bound is far above what a store directory holds.
    for _ in 0..1_000_000 {
        let Some(entry) = dir.next() else {
            return Ok(out);
        };
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
    Err(StoreError::Corrupt {
        path: path.to_path_buf(),
        message: "more than 1,000,000 entries".into(),
    })
}

/// Remove the stale temporary files (`.<name>.<pid>.<rand>.tmp`) in a directory: those of
/// dead processes, or, with `locked` (we hold the lock of everything written there), those
/// of any other process. Returns what was removed.
pub(super) fn sweep_tmp(
    fd: &OwnedFd,
    path: &Path,
    locked: bool,
) -> Result<Vec<String>, StoreError> {
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
pub(super) fn remove_all(fd: &OwnedFd, path: &Path, depth: usize) -> Result<(), StoreError> {
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
pub(super) fn remove_tree(fd: &OwnedFd, path: &Path) -> Result<(), StoreError> {
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

pub(super) fn parse_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    path: &Path,
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

pub(super) fn to_json<T: Serialize>(value: &T, path: &Path) -> Result<Vec<u8>, StoreError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| StoreError::Corrupt {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}
