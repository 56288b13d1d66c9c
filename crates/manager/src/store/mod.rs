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
//!
//! What every backend promises (atomic objects, whole versions, exclusive locks, lock-free
//! reads) is the contract in [`Storage`] and [`Locker`]; the filesystem is the default backend.

mod contract;
mod error;
mod fs;
mod lock;
mod meta;
pub mod pg;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Where a store's objects live (`[store]`): with `url`, a PostgreSQL database shared by more
/// than one host (the state directory then keeps only local files); without, the state
/// directory holds everything.
#[derive(Debug, Clone, Default)]
pub struct StoreConfig {
    /// `[store] url` / `WILDCERT_STORE_URL` (holds a password: never printed).
    pub url: Option<crate::settings::Secret>,
    /// `[store] key_file` (default `<state_dir>/store.key`).
    pub key_file: Option<PathBuf>,
    /// `[store] lease` (default 60 s).
    pub lease: Option<Duration>,
}

impl StoreConfig {
    /// From the settings (`[store]`; durations were checked when they were loaded).
    pub fn from_settings(s: &crate::settings::StoreSection) -> Result<StoreConfig, StoreError> {
        let lease = s
            .lease
            .as_deref()
            .map(|v| {
                crate::settings::parse_duration(v).map_err(|message| {
                    StoreError::Database(pg::PgStoreError::BadUrl(format!(
                        "[store] lease `{v}`: {message}"
                    )))
                })
            })
            .transpose()?;
        Ok(StoreConfig {
            url: s.url.clone(),
            key_file: s.key_file.clone(),
            lease,
        })
    }

    /// `[store] lease`, or its default.
    pub fn lease(&self) -> Duration {
        self.lease.unwrap_or(pg::DEFAULT_LEASE)
    }

    /// The data key file: `key_file`, or `store.key` in the state directory.
    pub fn key_file_in(&self, state_dir: &Path) -> PathBuf {
        self.key_file
            .clone()
            .unwrap_or_else(|| state_dir.join("store.key"))
    }

    /// Connect to the database of `url`: a bastion ([`pg::Access::Write`]) creates the data
    /// key file when missing; a consumer ([`pg::Access::Read`]) must have been given a copy.
    fn connect(
        &self,
        url: &str,
        state_dir: &Path,
        access: pg::Access,
    ) -> Result<Arc<pg::PgBackend>, StoreError> {
        let handle = match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => h,
            _ => return Err(pg::PgStoreError::NeedsMultiThreadRuntime.into()),
        };
        let config = pg::PgConfig::from_url(Some(url))?;
        let key_file = self.key_file_in(state_dir);
        let created = access == pg::Access::Write && !key_file.exists();
        let key = match access {
            pg::Access::Write => pg::DataKey::load_or_create(&key_file)?,
            pg::Access::Read => pg::DataKey::load_given(&key_file)?,
        };
        let store = pg::block_in_place_on(&handle, async {
            let store = pg::PgStore::connect_as(&config, Some(key), access).await?;
            store.check_data_key().await?;
            Ok::<_, pg::PgStoreError>(store)
        });
        let store = match store {
            Ok(s) => s,
            Err(e) => {
                if created {
                    // A key made for a database that already has one would only mislead the
                    // next run: it goes, and the error says to copy the right one.
                    let _ = std::fs::remove_file(&key_file);
                }
                return Err(e.into());
            }
        };
        let leases = pg::LeaseSettings::with_ttl(self.lease());
        Ok(Arc::new(pg::PgBackend::new(store, leases)))
    }

    /// A consumer's read-only connection to the shared store (`wildcert sync`): nothing is
    /// created, neither the state directory nor the data key file (`[store] key_file`, by
    /// default `store.key` in `state_dir`, must be a copy of the bastions'); a role that may
    /// write is used read-only all the same. `None` without `[store] url`.
    pub fn open_consumer(
        &self,
        state_dir: &Path,
    ) -> Result<Option<Arc<pg::PgBackend>>, StoreError> {
        self.url
            .as_ref()
            .map(|url| self.connect(url.expose(), state_dir, pg::Access::Read))
            .transpose()
    }
}

impl Store {
    /// Open the store `config` selects: the state directory at `root` (created 0700), and the
    /// PostgreSQL database when `config.url` is set.
    ///
    /// A database role that may only read (a consumer's) is refused here, before the command
    /// does anything ([`pg::PgStoreError::ReadOnly`]); commands that only read open the store
    /// with [`Store::open_reading`].
    pub fn open_with(root: impl Into<PathBuf>, config: &StoreConfig) -> Result<Store, StoreError> {
        Store::open_for(root, config, pg::Access::Write)
    }

    /// [`Store::open_with`] for a command that only reads (`list`, `show`): a read-only
    /// database role is welcome, the schema is never migrated and the data key file is never
    /// created.
    pub fn open_reading(
        root: impl Into<PathBuf>,
        config: &StoreConfig,
    ) -> Result<Store, StoreError> {
        Store::open_for(root, config, pg::Access::Read)
    }

    fn open_for(
        root: impl Into<PathBuf>,
        config: &StoreConfig,
        access: pg::Access,
    ) -> Result<Store, StoreError> {
        let mut store = Store::open(root)?;
        if let Some(url) = &config.url {
            store.shared = Some(config.connect(url.expose(), &store.root, access)?);
        }
        Ok(store)
    }

    /// The PostgreSQL backend, when the store is shared.
    pub fn shared(&self) -> Option<&pg::PgBackend> {
        self.shared.as_deref()
    }
}

pub(crate) use contract::key_path;
pub use contract::{
    Locker, Storage, StorageExt, account_key, account_prefix, cert_key, check_contract, journal_key,
};
pub use error::StoreError;
pub use fs::Store;
pub(crate) use fs::*;
pub use lock::StoreLock;
pub use meta::{CertFiles, CertMeta, KeyPerms, RecordedRequest};

/// `bytes` as UTF-8 text; `what` (a path or key) names it when it is not.
pub(crate) fn utf8(bytes: Option<Vec<u8>>, what: &Path) -> Result<Option<String>, StoreError> {
    bytes
        .map(|b| {
            String::from_utf8(b).map_err(|_| StoreError::Corrupt {
                path: what.to_path_buf(),
                message: "not UTF-8 text".into(),
            })
        })
        .transpose()
}

/// File names in `live/` and in each archive version (the names certbot users know).
pub const CERT_FILES: [&str; 4] = ["cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"];

pub(crate) fn check_name(name: &str) -> Result<(), StoreError> {
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

pub(crate) fn ensure_newline(s: &str) -> String {
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
