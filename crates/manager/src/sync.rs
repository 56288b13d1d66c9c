//! `wildcert sync --to DIR`: a consumer (a web server) pulls the live version of each
//! certificate from the shared store into DIR, with a database role that may only read.
//!
//! - **Read little when nothing changed.** One query gives every certificate's live version
//!   and the fencing token it was written under ([`LiveStamp`]); DIR's state file
//!   (`.wildcert-sync.json`) records the stamp it holds per certificate, with the layout and
//!   modes it was written with. A certificate is read from the database only when its stamp,
//!   its layout or modes differ, or one of its files is gone from DIR.
//! - **Atomic.** Each file is written as install targets write theirs
//!   ([`crate::install::write_files`]: a temporary file with owner, group and mode set before
//!   the bytes, fsynced, renamed); the state file is replaced after a certificate's files.
//!   A run killed in between writes them again next time, and removes the temporary files
//!   it left.
//! - **One run at a time.** An exclusive `flock` on `DIR/.wildcert-sync.lock` (released by
//!   the kernel when the holder exits): a second run waits for the first (bounded), then finds
//!   nothing left to do.
//! - **Reload once.** `--reload` runs once after a run that wrote something, never when
//!   nothing changed; a reload that failed is run again by the next run (the state file
//!   records that it is owed).
//! - Layout: `pem` writes `DIR/<name>/{cert,chain,fullchain,privkey}.pem` (several
//!   certificates share DIR); `lego` writes lego's `DIR/<domain>.{crt,issuer.crt,key,json}`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{ExitCode, IssueError};
use crate::hooks::{HookReport, run_hook};
use crate::install::{InstallTarget, Layout, RELOAD_TIMEOUT, VersionFiles};
use crate::store::pg::{LiveStamp, PgBackend};
use crate::store::{CertMeta, StoreConfig};

/// The state file in DIR: what each certificate's files there are.
pub const STATE_FILE: &str = ".wildcert-sync.json";

/// The lock file in DIR that keeps two runs apart.
pub const LOCK_FILE: &str = ".wildcert-sync.lock";

/// Longest wait for another `sync` into the same DIR to finish.
pub const LOCK_WAIT: Duration = Duration::from_secs(120);

/// What `wildcert sync` was asked.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// `--to DIR`.
    pub to: PathBuf,
    /// `--cert-name` (repeatable); empty: every certificate in the store.
    pub cert_names: Vec<String>,
    /// `--layout`.
    pub layout: Layout,
    /// `--owner` of the files written.
    pub owner: Option<String>,
    /// `--group` of the files written.
    pub group: Option<String>,
    /// `--key-mode` of the private key (default 0600).
    pub key_mode: Option<String>,
    /// `--reload`: run once after a run that wrote something.
    pub reload: Option<String>,
}

/// What happened to one certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SyncStatus {
    /// A version was written into DIR.
    Written,
    /// DIR already held the live version.
    Unchanged,
    /// The store has no version of it yet (only its metadata).
    NotIssued,
    /// Writing it failed (see `error`); DIR keeps what it had.
    Failed,
}

/// One certificate of a sync.
#[derive(Debug, Clone)]
pub struct SyncedCert {
    /// The certificate's name in the store.
    pub name: String,
    /// What happened.
    pub status: SyncStatus,
    /// The live version in the store (what DIR holds unless it failed).
    pub version: Option<u32>,
    /// The files written, when written.
    pub files: Vec<PathBuf>,
    /// Why it failed.
    pub error: Option<String>,
}

/// What one `wildcert sync` did.
#[derive(Debug, Clone)]
pub struct SyncReport {
    /// DIR.
    pub dir: PathBuf,
    /// One entry per certificate, by name.
    pub certs: Vec<SyncedCert>,
    /// The reload, when one ran.
    pub reload: Option<HookReport>,
}

impl SyncReport {
    /// Whether any file was written.
    pub fn changed(&self) -> bool {
        self.certs.iter().any(|c| c.status == SyncStatus::Written)
    }

    /// [`ExitCode::Store`] when a certificate could not be written, else [`ExitCode::Hook`]
    /// when the reload failed, else [`ExitCode::Ok`] (nothing changed included).
    pub fn exit_code(&self) -> ExitCode {
        if self.certs.iter().any(|c| c.status == SyncStatus::Failed) {
            ExitCode::Store
        } else if self.reload.as_ref().is_some_and(|h| !h.ok) {
            ExitCode::Hook
        } else {
            ExitCode::Ok
        }
    }
}

/// The state file: per certificate, what DIR holds and how it was written.
#[derive(Debug, Default, Serialize, Deserialize)]
struct SyncState {
    #[serde(default)]
    certs: BTreeMap<String, HeldVersion>,
    /// A reload failed after files were written: the next run runs it again.
    #[serde(default)]
    reload_owed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct HeldVersion {
    #[serde(flatten)]
    stamp: LiveStamp,
    /// The layout and modes the files were written with.
    how: How,
    /// The files, relative to DIR.
    files: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct How {
    layout: String,
    owner: Option<String>,
    group: Option<String>,
    key_mode: Option<String>,
}

fn dir_error(dir: &Path, message: String) -> IssueError {
    IssueError::Command {
        message: format!("sync into {}: {message}", dir.display()),
        hint: "check that DIR (--to) can be created and written by this user".into(),
        code: ExitCode::Store,
    }
}

/// `wildcert sync`: open the shared store read-only (`store`, the data key file from
/// `state_dir` unless `[store] key_file` names it), then bring DIR up to date.
pub async fn sync(
    store: &StoreConfig,
    state_dir: &Path,
    opts: &SyncOptions,
) -> Result<SyncReport, IssueError> {
    // The settings of the files are checked before anything is read or written.
    crate::install::check_target(&target(opts, &opts.to))
        .map_err(|e| IssueError::Command {
            message: e.to_string(),
            hint: "--owner is a user name or number, --group a group name or number, --key-mode an octal mode without world bits (e.g. 0640)".into(),
            code: ExitCode::Settings,
        })?;
    let Some(pg) = store.open_consumer(state_dir)? else {
        return Err(IssueError::Command {
            message: "`wildcert sync` pulls from a shared store, and no [store] url is set".into(),
            hint: "set [store] url in the config file or WILDCERT_STORE_URL (a role that may read the store is enough)".into(),
            code: ExitCode::Settings,
        });
    };
    let stamps: BTreeMap<String, LiveStamp> = pg.live_stamps()?.into_iter().collect();
    let known = pg.list_certs()?;
    for name in &opts.cert_names {
        if !known.contains(name) {
            return Err(IssueError::UnknownCertificate {
                name: name.clone(),
                suggestion: None,
            });
        }
    }
    let wanted: Vec<&String> = if opts.cert_names.is_empty() {
        known.iter().collect()
    } else {
        known
            .iter()
            .filter(|n| opts.cert_names.contains(n))
            .collect()
    };

    std::fs::create_dir_all(&opts.to)
        .map_err(|e| dir_error(&opts.to, format!("cannot create it: {e}")))?;
    let _lock = lock_dir(&opts.to).await?;
    // Temporary files of a sync killed mid-write (never another run's: we hold the lock).
    let mut dirs = vec![opts.to.clone()];
    if opts.layout == Layout::Pem {
        dirs.extend(wanted.iter().map(|n| opts.to.join(n)));
    }
    for d in dirs {
        crate::install::sweep(&target(opts, &d));
    }
    let mut state = read_state(&opts.to);
    let how = How {
        layout: layout_name(opts.layout).into(),
        owner: opts.owner.clone(),
        group: opts.group.clone(),
        key_mode: opts.key_mode.clone(),
    };
    let mut certs = Vec::new();
    for name in wanted {
        let Some(stamp) = stamps.get(name).copied() else {
            certs.push(SyncedCert {
                name: name.clone(),
                status: SyncStatus::NotIssued,
                version: None,
                files: Vec::new(),
                error: None,
            });
            continue;
        };
        let held = state.certs.get(name);
        let current = held.is_some_and(|h| {
            h.stamp == stamp && h.how == how && h.files.iter().all(|f| opts.to.join(f).exists())
        });
        if current {
            certs.push(SyncedCert {
                name: name.clone(),
                status: SyncStatus::Unchanged,
                version: Some(stamp.version),
                files: Vec::new(),
                error: None,
            });
            continue;
        }
        match write_cert(&pg, opts, name, stamp) {
            Ok(files) => {
                let rel = files
                    .iter()
                    .filter_map(|f| f.strip_prefix(&opts.to).ok().map(Path::to_path_buf))
                    .collect();
                state.certs.insert(
                    name.clone(),
                    HeldVersion {
                        stamp,
                        how: how.clone(),
                        files: rel,
                    },
                );
                state.reload_owed = opts.reload.is_some();
                write_state(&opts.to, &state)?;
                tracing::info!(cert = %name, version = stamp.version, "written into {}", opts.to.display());
                certs.push(SyncedCert {
                    name: name.clone(),
                    status: SyncStatus::Written,
                    version: Some(stamp.version),
                    files,
                    error: None,
                });
            }
            Err(e) => {
                tracing::error!(cert = %name, "not written: {e}");
                certs.push(SyncedCert {
                    name: name.clone(),
                    status: SyncStatus::Failed,
                    version: Some(stamp.version),
                    files: Vec::new(),
                    error: Some(e),
                });
            }
        }
    }
    let mut report = SyncReport {
        dir: opts.to.clone(),
        certs,
        reload: None,
    };
    if let Some(cmd) = &opts.reload
        && (report.changed() || state.reload_owed)
    {
        let synced: Vec<&str> = report
            .certs
            .iter()
            .filter(|c| c.status == SyncStatus::Written)
            .map(|c| c.name.as_str())
            .collect();
        let env = vec![
            (
                "WILDCERT_SYNC_DIR".to_string(),
                opts.to.display().to_string(),
            ),
            ("WILDCERT_SYNCED_CERTS".to_string(), synced.join(" ")),
        ];
        let hook = run_hook(cmd, &env, "sync reload", RELOAD_TIMEOUT).await;
        // Owed again when it failed; paid when it succeeded.
        let owed = !hook.ok;
        if state.reload_owed != owed {
            state.reload_owed = owed;
            write_state(&opts.to, &state)?;
        }
        report.reload = Some(hook);
    } else if opts.reload.is_none() && state.reload_owed {
        state.reload_owed = false;
        write_state(&opts.to, &state)?;
    }
    Ok(report)
}

/// The install target a certificate's files go to: DIR itself for lego's layout (its names
/// are the certificate's), `DIR/<name>` for pem.
fn target(opts: &SyncOptions, dir: &Path) -> InstallTarget {
    InstallTarget {
        dir: dir.to_path_buf(),
        owner: opts.owner.clone(),
        group: opts.group.clone(),
        key_mode: opts.key_mode.clone(),
        reload: None,
        layout: opts.layout,
    }
}

fn layout_name(layout: Layout) -> &'static str {
    match layout {
        Layout::Pem => "pem",
        Layout::Lego => "lego",
    }
}

/// Read version `stamp` of `name` and write it into DIR; the files written.
fn write_cert(
    pg: &PgBackend,
    opts: &SyncOptions,
    name: &str,
    stamp: LiveStamp,
) -> Result<Vec<PathBuf>, String> {
    let objects = pg
        .read_version(name, stamp.version)
        .map_err(|e| e.to_string())?;
    let names = objects
        .iter()
        .find(|(f, _)| f == "meta.json")
        .and_then(|(_, v)| serde_json::from_slice::<CertMeta>(v).ok())
        .map(|m| m.names)
        .unwrap_or_default();
    let files = VersionFiles::from_objects(objects).ok_or_else(|| {
        format!(
            "version {} of `{name}` is incomplete in the store",
            stamp.version
        )
    })?;
    let dir = match opts.layout {
        Layout::Pem => opts.to.join(name),
        Layout::Lego => opts.to.clone(),
    };
    let t = target(opts, &dir);
    crate::install::write_files(&t, &files, name, &names).map_err(|e| e.to_string())
}

/// Takes DIR's lock, waiting (bounded) while another `sync` holds it.
async fn lock_dir(dir: &Path) -> Result<std::fs::File, IssueError> {
    use fs4::{FileExt, TryLockError};
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&path)
        .map_err(|e| dir_error(dir, format!("cannot open {}: {e}", path.display())))?;
    let start = Instant::now();
    let mut pause = Duration::from_millis(20);
    loop {
        match FileExt::try_lock(&file) {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) if start.elapsed() < LOCK_WAIT => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(250));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(IssueError::Command {
                    message: format!(
                        "another `wildcert sync` into {} has been running for {}s",
                        dir.display(),
                        LOCK_WAIT.as_secs()
                    ),
                    hint: "nothing was written; the next run catches up once it is done".into(),
                    code: ExitCode::Store,
                });
            }
            Err(TryLockError::Error(e)) => {
                return Err(dir_error(
                    dir,
                    format!("cannot lock {}: {e}", path.display()),
                ));
            }
        }
    }
}

/// DIR's state file; an absent or unreadable one is an empty state (everything is
/// written again, which is harmless).
fn read_state(dir: &Path) -> SyncState {
    let path = dir.join(STATE_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(
                "{} is not understood ({e}): every certificate is written again",
                path.display()
            );
            SyncState::default()
        }),
        Err(_) => SyncState::default(),
    }
}

fn write_state(dir: &Path, state: &SyncState) -> Result<(), IssueError> {
    let mut data = serde_json::to_vec_pretty(state)
        .map_err(|e| dir_error(dir, format!("cannot encode {STATE_FILE}: {e}")))?;
    data.push(b'\n');
    crate::install::write_atomic(dir, STATE_FILE, &data, None, None, 0o644)
        .map_err(|e| dir_error(dir, format!("cannot write {STATE_FILE}: {e}")))
}
