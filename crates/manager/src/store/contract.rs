//! The storage + locker contract every store backend keeps: the filesystem ([`Store`], the
//! default, laid out as the module doc of `store` shows) and, for more than one host, a database.
//!
//! Like Caddy certmagic's `Storage` and `Locker`, the contract is small:
//!
//! - **Objects** are named by keys: `/`-separated, relative, each part a plain name
//!   (`accounts/<ca-host>/default/key.pem`, `journal/<id>.json`). [`Storage::save`] replaces an
//!   object **atomically**: a reader sees the old value or the new one, never a part of either,
//!   and a crash leaves one of the two. A saved object is **durable** when `save` returns.
//!   `private` objects (keys, credentials) are readable by the owner only (filesystem: mode
//!   0600; a database: encrypted at rest with a key that is never in it).
//! - **Certificates** are versioned: [`Storage::install`] stores a complete new version and
//!   makes it live in one step — all of it or none of it, whatever fails on the way (disk full,
//!   a kill, the database going away). The live version never goes back.
//! - **Locks** ([`Locker::lock`]) are exclusive per name (a certificate, an account): at most one
//!   holder works on a name at a time, and a holder that dies releases it (filesystem: the
//!   kernel drops the `flock`; a database: the lease expires). A holder takes the lock before
//!   it writes anything of that name, re-reads what it will change after taking it, and settles
//!   what a killed holder left ([`Storage::recover`]) before its own work. A backend whose locks
//!   are leases must also refuse a write from a holder whose lease was lost (fencing).
//! - **Reads need no lock**: a read-only store (a bind mount, a SELECT-only role) lists and
//!   shows everything.
//!
//! [`check_contract`] is the suite every backend passes.

use std::path::{Component, Path};
use std::time::Duration;

use super::{CertFiles, CertMeta, KeyPerms, Store, StoreError, StoreLock};

/// Objects and certificate versions (see the module doc for what each call promises).
pub trait Storage: Send + Sync {
    /// The object at `key`; `None` when there is none.
    fn load(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Replace the object at `key` atomically and durably.
    fn save(&self, key: &str, value: &[u8], private: bool) -> Result<(), StoreError>;
    /// Remove the object at `key`; none there is fine.
    fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Move the object at `from` to `to` in one atomic step, replacing what `to` held: a
    /// reader sees `to`'s old value or `from`'s, never neither.
    fn replace(&self, from: &str, to: &str) -> Result<(), StoreError>;
    /// The names directly below `prefix` (objects and deeper prefixes), sorted.
    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
    /// Store a new, verified version of certificate `name` and make it live, all or nothing;
    /// returns its number.
    fn install(
        &self,
        name: &str,
        files: &CertFiles,
        meta: &CertMeta,
        perms: &KeyPerms,
    ) -> Result<u32, StoreError>;
    /// The live version of certificate `name`, if any.
    fn live_version(&self, name: &str) -> Result<Option<u32>, StoreError>;
    /// The files of the live version of `name`, if any.
    fn read_live(&self, name: &str) -> Result<Option<CertFiles>, StoreError>;
    /// Settle what a killed holder left of `name` (with its lock held); what was done.
    fn recover(&self, name: &str) -> Result<Vec<String>, StoreError>;
}

/// Exclusive locks by name.
#[async_trait::async_trait]
pub trait Locker: Send + Sync {
    /// Take the lock `name`, waiting up to `wait`; released when the guard drops.
    async fn lock(&self, name: &str, wait: Duration) -> Result<StoreLock, StoreError>;
}

/// Typed reads and writes on any [`Storage`].
pub trait StorageExt: Storage {
    /// The object at `key` as UTF-8 text.
    fn load_string(&self, key: &str) -> Result<Option<String>, StoreError> {
        super::utf8(self.load(key)?, Path::new(key))
    }

    /// The object at `key` as JSON.
    fn load_json<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        match self.load(key)? {
            None => Ok(None),
            Some(b) => super::parse_json(&b, Path::new(key)).map(Some),
        }
    }

    /// Save `value` as JSON at `key`.
    fn save_json<T: serde::Serialize>(
        &self,
        key: &str,
        value: &T,
        private: bool,
    ) -> Result<(), StoreError> {
        self.save(key, &super::to_json(value, Path::new(key))?, private)
    }
}

impl<S: Storage + ?Sized> StorageExt for S {}

/// `accounts/<ca-host>/<account>/<file>`.
pub fn account_key(ca_host: &str, account: &str, file: &str) -> Result<String, StoreError> {
    key_of(&["accounts", ca_host, account, file])
}

/// `accounts/<ca-host>/<account>`: the prefix of that account's objects.
pub fn account_prefix(ca_host: &str, account: &str) -> Result<String, StoreError> {
    key_of(&["accounts", ca_host, account])
}

/// `certs/<name>/<file>`.
pub fn cert_key(name: &str, file: &str) -> Result<String, StoreError> {
    key_of(&["certs", name, file])
}

/// `journal/<file>`.
pub fn journal_key(file: &str) -> Result<String, StoreError> {
    key_of(&["journal", file])
}

fn key_of(parts: &[&str]) -> Result<String, StoreError> {
    for p in parts {
        super::check_name(p)?;
    }
    Ok(parts.join("/"))
}

/// A key as a relative path, each part a plain name (no `.`, `..`, empty or hidden part).
pub(crate) fn key_path(key: &str) -> Result<&Path, StoreError> {
    let path = Path::new(key);
    let plain = !key.is_empty()
        && path.components().all(|c| match c {
            Component::Normal(n) => n.to_str().is_some_and(|n| super::check_name(n).is_ok()),
            _ => false,
        });
    if plain {
        Ok(path)
    } else {
        Err(StoreError::BadName(key.to_string()))
    }
}

impl Storage for Store {
    fn load(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(pg) = &self.shared {
            return pg.load(key);
        }
        self.read_file(&self.root().join(key_path(key)?))
    }

    fn save(&self, key: &str, value: &[u8], private: bool) -> Result<(), StoreError> {
        if let Some(pg) = &self.shared {
            return pg.save(key, value, private);
        }
        let mode = if private { 0o600 } else { 0o644 };
        self.write_atomic(&self.root().join(key_path(key)?), value, mode)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        if let Some(pg) = &self.shared {
            return pg.delete(key);
        }
        self.remove_file(&self.root().join(key_path(key)?))
    }

    fn replace(&self, from: &str, to: &str) -> Result<(), StoreError> {
        if let Some(pg) = &self.shared {
            return pg.replace(from, to);
        }
        let root = self.root();
        self.rename(&root.join(key_path(from)?), &root.join(key_path(to)?))
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        if let Some(pg) = &self.shared {
            return Storage::list(&**pg, prefix);
        }
        self.list_dir(&self.root().join(key_path(prefix)?))
    }

    fn install(
        &self,
        name: &str,
        files: &CertFiles,
        meta: &CertMeta,
        perms: &KeyPerms,
    ) -> Result<u32, StoreError> {
        Store::install(self, name, files, meta, perms)
    }

    fn live_version(&self, name: &str) -> Result<Option<u32>, StoreError> {
        Store::live_version(self, name)
    }

    fn read_live(&self, name: &str) -> Result<Option<CertFiles>, StoreError> {
        Store::read_live(self, name)
    }

    fn recover(&self, name: &str) -> Result<Vec<String>, StoreError> {
        Store::recover(self, name)
    }
}

#[async_trait::async_trait]
impl Locker for Store {
    async fn lock(&self, name: &str, wait: Duration) -> Result<StoreLock, StoreError> {
        Store::lock(self, name, wait).await
    }
}

/// The suite every backend passes: objects replace whole, list sorted, keys stay inside,
/// versions go live whole and in order. `s` is an empty store of the backend, holding locks
/// `c.example` and `account-ca` when its writes are fenced. For backends' tests: it panics
/// on the first breach.
pub fn check_contract(s: &dyn Storage) {
    let files = |tag: &str| CertFiles {
        cert: format!("CERT {tag}\n"),
        chain: format!("CHAIN {tag}\n"),
        privkey: format!("KEY {tag}\n"),
    };
    let meta = CertMeta {
        names: vec!["example.com".into()],
        ..CertMeta::default()
    };
    // Objects.
    assert_eq!(s.load("journal/a.json").expect("load"), None);
    s.save("journal/a.json", b"one", true).expect("save");
    s.save("journal/a.json", b"two", true).expect("replace");
    assert_eq!(
        s.load("journal/a.json").expect("load").as_deref(),
        Some(&b"two"[..])
    );
    s.save("journal/b.json", b"x", false).expect("save");
    assert_eq!(
        s.list("journal").expect("list"),
        ["a.json", "b.json"],
        "sorted direct children"
    );
    s.delete("journal/a.json").expect("delete");
    s.delete("journal/a.json")
        .expect("deleting what is gone is fine");
    assert_eq!(s.list("journal").expect("list"), ["b.json"]);
    s.save("accounts/ca/default/key.pem", b"old", true)
        .expect("save");
    s.save("accounts/ca/default/key.pem.new", b"new", true)
        .expect("save");
    s.replace(
        "accounts/ca/default/key.pem.new",
        "accounts/ca/default/key.pem",
    )
    .expect("replace");
    assert_eq!(
        s.load("accounts/ca/default/key.pem")
            .expect("load")
            .as_deref(),
        Some(&b"new"[..])
    );
    assert_eq!(s.list("accounts/ca/default").expect("list"), ["key.pem"]);
    assert_eq!(s.list("nothing/here").expect("list"), Vec::<String>::new());
    for bad in ["", "../x", "/etc/passwd", "a/../b", "a/.hidden", "./a"] {
        assert!(
            matches!(s.save(bad, b"x", true), Err(StoreError::BadName(_))),
            "{bad:?} accepted"
        );
        assert!(s.load(bad).is_err(), "{bad:?} read");
    }
    // Certificate versions.
    assert_eq!(s.live_version("c.example").expect("live"), None);
    assert!(s.read_live("c.example").expect("read").is_none());
    let v1 = s
        .install("c.example", &files("1"), &meta, &KeyPerms::default())
        .expect("install");
    let v2 = s
        .install("c.example", &files("2"), &meta, &KeyPerms::default())
        .expect("install");
    assert!(v2 > v1, "versions only grow: {v1} then {v2}");
    assert_eq!(s.live_version("c.example").expect("live"), Some(v2));
    let live = s.read_live("c.example").expect("read").expect("live files");
    assert_eq!(
        (live.cert.as_str(), live.privkey.as_str()),
        ("CERT 2\n", "KEY 2\n")
    );
    // Settling is idempotent: a second pass finds nothing left to do.
    s.recover("c.example").expect("recover");
    assert!(s.recover("c.example").expect("recover").is_empty());
    assert_eq!(s.live_version("c.example").expect("live"), Some(v2));
    assert!(
        s.install("../c", &files("x"), &meta, &KeyPerms::default())
            .is_err()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filesystem_store_keeps_the_contract() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("state")).expect("open");
        check_contract(&store);
    }

    #[tokio::test]
    async fn the_filesystem_locks_are_exclusive() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("state")).expect("open");
        let locker: &dyn Locker = &store;
        let held = locker
            .lock("c.example", Duration::ZERO)
            .await
            .expect("lock");
        let other = Store::open(dir.path().join("state")).expect("open");
        assert!(matches!(
            Locker::lock(&other, "c.example", Duration::from_millis(50)).await,
            Err(StoreError::Locked { .. })
        ));
        drop(held);
        Locker::lock(&other, "c.example", Duration::ZERO)
            .await
            .expect("free again");
    }
}
