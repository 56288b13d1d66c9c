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

use std::path::Path;

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
