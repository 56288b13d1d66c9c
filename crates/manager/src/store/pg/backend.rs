//! [`PgBackend`]: the storage + locker contract ([`Storage`], [`Locker`]) on PostgreSQL.
//!
//! - **Sync over async.** The contract is synchronous (the filesystem store is, and the
//!   manager calls it from async code on the CLI's multi-thread runtime, often from
//!   `spawn_blocking`); the database client is async. Each call runs its database step with
//!   `block_in_place(|| handle.block_on(…))`: the worker hands its other tasks to the pool
//!   while it waits, so the runtime is never stalled. `block_in_place` panics on a
//!   current-thread runtime, so a call outside a multi-thread runtime (or outside any) is
//!   refused with [`PgStoreError::NeedsMultiThreadRuntime`] instead.
//! - **Layout.** The filesystem's keys: a version is `certs/<name>/archive/<n>/{cert.pem,
//!   chain.pem,fullchain.pem,privkey.pem,meta.json}` and `certs/<name>/live` holds `<n>`; an
//!   install writes all of them in ONE transaction ([`PgStore::put_version`]), `<n>` chosen
//!   inside it under the lease, so a version is whole or absent and numbers only grow.
//!   Hence [`Storage::recover`] has nothing to settle and returns nothing.
//! - **Fencing.** Writes of `certs/<name>/…` carry the lease of lock `<name>`, writes of
//!   `accounts/<ca>/…` that of `account-<ca>` (the names the manager locks). The backend keeps
//!   the leases its [`Locker::lock`] took; a write of such a key without its lease held here is
//!   refused ([`StoreError::NotLocked`]), never written unfenced. Other keys (`journal/<id>.json`,
//!   `last-run.json`) are written unfenced: no two runs write one journal record, and the last
//!   run's summary is last-writer-wins by design.
//! - **Leases** last [`LeaseSettings::ttl`] and are renewed every `renew_every` by one task
//!   per backend, all held leases in one statement; a lease the renewal finds lost is marked,
//!   and later writes under it fail with [`PgStoreError::LeaseLost`] (the database refuses
//!   them anyway: fencing). Dropping the lock releases the lease (bounded; a lease not
//!   released expires).
//! - `KeyPerms` (`key_group`, `key_mode`) are file modes: they apply where files are written
//!   (a consumer's `sync`), not in the database, where private keys are sealed instead.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::runtime::{Handle, RuntimeFlavor};

use super::{Lease, PgStore, PgStoreError};
use crate::store::{
    CertFiles, CertMeta, KeyPerms, Locker, Storage, StoreError, StoreLock, cert_key,
};

/// Lease timing of a [`PgBackend`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseSettings {
    /// How long a lock outlives a holder that stops renewing it (default 60 s): another
    /// bastion picks a dead one's certificates up within this.
    pub ttl: Duration,
    /// How often the holder renews (default `ttl / 3`). Tests set it past `ttl` to play a
    /// holder frozen past its lease.
    pub renew_every: Duration,
}

impl Default for LeaseSettings {
    fn default() -> Self {
        LeaseSettings::with_ttl(DEFAULT_LEASE)
    }
}

impl LeaseSettings {
    /// A lease of `ttl`, renewed every `ttl / 3`.
    pub fn with_ttl(ttl: Duration) -> Self {
        LeaseSettings {
            ttl,
            renew_every: ttl / 3,
        }
    }
}

/// Runs `step` to completion from sync code on a multi-thread runtime: in `block_in_place`
/// (the worker hands its other tasks on), polled on this thread, which parks between polls
/// with std's park rather than tokio's.
///
/// Not `Handle::block_on`: on the thread of a `Runtime::block_on` (the CLI's main thread,
/// where a command's future runs) the nested `block_on` parks on the same tokio park as the
/// outer one and consumes the wake-ups meant for it; the outer future then slept until some
/// timer woke it. Two bastions over 50 certificates stalled in 30 s steps (the heartbeat) or
/// for good.
pub(crate) fn block_in_place_on<F: Future>(handle: &Handle, step: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    tokio::task::block_in_place(|| {
        // block_in_place leaves the runtime's context: timers and the client need it.
        let _context = handle.enter();
        let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = std::task::Context::from_waker(&waker);
        let mut step = std::pin::pin!(step);
        // Bounded by the step itself: every database step has its own timeout.
        loop {
            if let std::task::Poll::Ready(v) = step.as_mut().poll(&mut cx) {
                return v;
            }
            std::thread::park();
        }
    })
}

/// The lease length when `[store] lease` is not set.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// Shortest lease and renewal interval taken (a zero would spin).
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// Longest wait for the release of a lease when its guard drops (it expires anyway).
const RELEASE_WAIT: Duration = Duration::from_secs(2);

/// Failed renewals in a row (not a lost lease: the database unreachable) after which the
/// lease counts as lost: by then it has expired.
const MAX_RENEW_FAILURES: u32 = 3;

/// The PostgreSQL store behind the storage + locker contract (see the module doc).
pub struct PgBackend {
    shared: Arc<Shared>,
    leases: LeaseSettings,
    holder: String,
}

struct Shared {
    store: PgStore,
    held: Mutex<HashMap<String, HeldLease>>,
    /// Whether the task renewing the held leases runs (it ends when none is held).
    renewing: AtomicBool,
}

#[derive(Clone)]
struct HeldLease {
    lease: Lease,
    lost: Arc<AtomicBool>,
}

impl std::fmt::Debug for PgBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgBackend")
            .field("store", &self.shared.store)
            .field("leases", &self.leases)
            .field("holder", &self.holder)
            .finish()
    }
}

impl PgBackend {
    /// The backend on a connected store; its leases are held as `<host> pid <pid>`.
    pub fn new(store: PgStore, leases: LeaseSettings) -> PgBackend {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "unknown-host".into());
        PgBackend {
            shared: Arc::new(Shared {
                store,
                held: Mutex::new(HashMap::new()),
                renewing: AtomicBool::new(false),
            }),
            leases: LeaseSettings {
                ttl: leases.ttl.max(MIN_INTERVAL),
                renew_every: leases.renew_every.max(MIN_INTERVAL),
            },
            holder: format!("{host} pid {}", std::process::id()),
        }
    }

    /// The database store underneath.
    pub fn store(&self) -> &PgStore {
        &self.shared.store
    }

    /// Runs one database step to completion from sync code (see the module doc).
    fn run<T>(&self, step: impl Future<Output = super::Result<T>>) -> Result<T, StoreError> {
        let handle = match Handle::try_current() {
            Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => h,
            _ => return Err(PgStoreError::NeedsMultiThreadRuntime.into()),
        };
        Ok(block_in_place_on(&handle, step)?)
    }

    /// The lease a write of `key` must carry: `None` for unfenced keys (see the module doc).
    fn lease_for(&self, key: &str) -> Result<Option<Lease>, StoreError> {
        let Some(lock) = lock_for(key) else {
            return Ok(None);
        };
        match self.shared.held().get(&lock) {
            Some(h) if h.lost.load(Ordering::SeqCst) => Err(PgStoreError::LeaseLost {
                name: lock,
                token: h.lease.token,
                holder: None,
            }
            .into()),
            Some(h) => Ok(Some(h.lease.clone())),
            None => Err(StoreError::NotLocked {
                key: key.into(),
                lock,
            }),
        }
    }

    /// `meta.json` of certificate `name`, reconciled with `live` as on the filesystem: when it
    /// names another version than `live` (a run that stopped between the install and the
    /// rewrite), the live version's own metadata.
    pub fn read_meta(&self, name: &str) -> Result<Option<CertMeta>, StoreError> {
        let (meta_key, live_key) = (cert_key(name, "meta.json")?, cert_key(name, "live")?);
        // Both in one statement: the common case (meta.json names the live version) costs one
        // round trip.
        let mut both = self
            .run(self.shared.store.get_many(&[&meta_key, &live_key]))?
            .into_iter();
        let (top, live) = (both.next().flatten(), both.next().flatten());
        match Self::head(name, top, live)? {
            Head::Settled(meta) => Ok(meta),
            Head::Lagging { live, top } => {
                let key = format!("certs/{name}/archive/{live}/meta.json");
                let vm = self.run(self.shared.store.get(&key))?;
                Self::settle(&key, live, top, vm)
            }
        }
    }

    /// Every certificate (as [`PgBackend::list_certs`]) with its `meta.json` as
    /// [`PgBackend::read_meta`] reads it (or why it cannot be read), sorted by name: one
    /// statement for all of them, and one more for those whose `meta.json` lags `live`.
    #[allow(clippy::type_complexity)]
    pub fn list_with_meta(
        &self,
    ) -> Result<Vec<(String, Result<Option<CertMeta>, StoreError>)>, StoreError> {
        let heads = self.run(self.shared.store.cert_heads())?;
        let mut out: Vec<(String, Result<Option<CertMeta>, StoreError>)> =
            Vec::with_capacity(heads.len());
        // (index in `out`, live version, top-level meta, key of the live version's meta.json)
        let mut lagging = Vec::new();
        for head in heads {
            if crate::store::check_name(&head.name).is_err() {
                continue;
            }
            match Self::head(&head.name, head.meta, head.live) {
                Ok(Head::Lagging { live, top }) => {
                    let key = format!("certs/{}/archive/{live}/meta.json", head.name);
                    lagging.push((out.len(), live, top, key));
                    out.push((head.name, Ok(None)));
                }
                Ok(Head::Settled(meta)) => out.push((head.name, Ok(meta))),
                Err(e) => out.push((head.name, Err(e))),
            }
        }
        if !lagging.is_empty() {
            let keys: Vec<&str> = lagging.iter().map(|(_, _, _, k)| k.as_str()).collect();
            let found = self.run(self.shared.store.get_many(&keys))?;
            for ((i, live, top, key), vm) in lagging.into_iter().zip(found) {
                out[i].1 = Self::settle(&key, live, top, vm);
            }
        }
        Ok(out)
    }

    /// What `meta.json` and `live` of `name` say: settled, or `meta.json` lags `live` and the
    /// live version's own metadata is needed.
    fn head(name: &str, top: Option<Vec<u8>>, live: Option<Vec<u8>>) -> Result<Head, StoreError> {
        let (meta_key, live_key) = (cert_key(name, "meta.json")?, cert_key(name, "live")?);
        let top: Option<CertMeta> = Self::json(&meta_key, top)?;
        let Some(live) = Self::version(&live_key, live)? else {
            return Ok(Head::Settled(top));
        };
        if top.as_ref().and_then(|m| m.version) == Some(live) {
            return Ok(Head::Settled(top));
        }
        Ok(Head::Lagging { live, top })
    }

    /// The metadata of a certificate whose `meta.json` (`top`) lags version `live`: that
    /// version's own `meta.json` (`vm`, at `key`), else `top`.
    fn settle(
        key: &str,
        live: u32,
        top: Option<CertMeta>,
        vm: Option<Vec<u8>>,
    ) -> Result<Option<CertMeta>, StoreError> {
        let vm: Option<CertMeta> = Self::json(key, vm)?;
        Ok(match vm {
            Some(mut vm) => {
                vm.version = Some(live);
                Some(vm)
            }
            None => top,
        })
    }

    /// Replace `meta.json` of certificate `name` (under its lease).
    pub fn write_meta(&self, name: &str, meta: &CertMeta) -> Result<(), StoreError> {
        use crate::store::StorageExt;
        self.save_json(&cert_key(name, "meta.json")?, meta, false)
    }

    /// Every certificate with metadata or a live version, sorted.
    pub fn list_certs(&self) -> Result<Vec<String>, StoreError> {
        let mut names = self.run(self.shared.store.cert_names())?;
        names.retain(|n| crate::store::check_name(n).is_ok());
        Ok(names)
    }

    /// `file` (`cert.pem`, `fullchain.pem`, …) of the live version of `name`.
    pub fn read_live_file(&self, name: &str, file: &str) -> Result<Option<String>, StoreError> {
        crate::store::check_name(file)?;
        let Some(version) = self.live_version(name)? else {
            return Ok(None);
        };
        let key = format!("certs/{name}/archive/{version}/{file}");
        Self::text(&key, self.run(self.shared.store.get(&key))?)
    }

    /// The stored version numbers of `name`, ascending.
    pub fn archive_versions(&self, name: &str) -> Result<Vec<u32>, StoreError> {
        let mut v: Vec<u32> = self
            .list(&cert_key(name, "archive")?)?
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect();
        v.sort_unstable();
        Ok(v)
    }

    /// Remove certificate `name` and every version of it (under its lease); whether there
    /// was anything.
    pub fn delete_cert(&self, name: &str) -> Result<bool, StoreError> {
        crate::store::check_name(name)?;
        let dir = format!("certs/{name}/");
        let keys = self.run(self.shared.store.list(&dir))?;
        for key in &keys {
            self.delete(key)?;
        }
        Ok(!keys.is_empty())
    }

    /// The live version of every certificate, by name, in one query (`wildcert sync`).
    pub fn live_stamps(&self) -> Result<Vec<(String, super::LiveStamp)>, StoreError> {
        self.run(self.shared.store.live_stamps())
    }

    /// Every file of version `version` of certificate `name` (`cert.pem`, `chain.pem`,
    /// `fullchain.pem`, `privkey.pem` opened, `meta.json`) by file name, in one query; empty
    /// when there is no such version.
    pub fn read_version(
        &self,
        name: &str,
        version: u32,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        crate::store::check_name(name)?;
        let dir = format!("certs/{name}/archive/{version}/");
        let objects = self.run(self.shared.store.get_prefix(&dir))?;
        Ok(objects
            .into_iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(&dir)?.to_owned(), v)))
            .collect())
    }

    /// Store `objects` (keys below `prefix`, a certificate's `certs/<name>/` or an account's
    /// `accounts/<ca>/<account>/`) as the whole of `prefix` in one transaction under the lease
    /// that fences `prefix` ([`PgStore::put_tree`]); `replace` removes what was there first.
    pub fn put_tree(
        &self,
        prefix: &str,
        objects: &[(String, Vec<u8>, bool)],
        replace: bool,
    ) -> Result<(), StoreError> {
        let dir = prefix.trim_end_matches('/');
        crate::store::key_path(dir)?;
        let prefix = format!("{dir}/");
        let lease = self
            .lease_for(&prefix)?
            .ok_or_else(|| StoreError::BadName(dir.into()))?;
        let mut rows = Vec::with_capacity(objects.len());
        for (key, value, private) in objects {
            crate::store::key_path(key)?;
            if !key.starts_with(&prefix) {
                return Err(StoreError::BadName(key.clone()));
            }
            rows.push((key.as_str(), &value[..], *private));
        }
        self.run(self.shared.store.put_tree(&prefix, &rows, replace, &lease))
    }

    /// Whether a run holding leases as `holder` still holds an unexpired one (a journal
    /// entry's writer on another host is alive while it does).
    pub fn holder_alive(&self, holder: &str) -> Result<bool, StoreError> {
        self.run(self.shared.store.holder_alive(holder))
    }

    /// Who this process's leases name as their holder (`<host> pid <pid>`).
    pub fn holder(&self) -> &str {
        &self.holder
    }

    fn text(key: &str, bytes: Option<Vec<u8>>) -> Result<Option<String>, StoreError> {
        crate::store::utf8(bytes, std::path::Path::new(key))
    }

    /// The version number a `live` object holds.
    fn version(key: &str, bytes: Option<Vec<u8>>) -> Result<Option<u32>, StoreError> {
        let Some(text) = Self::text(key, bytes)? else {
            return Ok(None);
        };
        text.trim()
            .parse()
            .map(Some)
            .map_err(|_| StoreError::Corrupt {
                path: key.into(),
                message: format!("`{}` is not a version number", text.trim()),
            })
    }

    /// A JSON object as [`crate::store::StorageExt::load_json`] reads it.
    fn json<T: serde::de::DeserializeOwned>(
        key: &str,
        bytes: Option<Vec<u8>>,
    ) -> Result<Option<T>, StoreError> {
        bytes
            .map(|b| crate::store::parse_json(&b, std::path::Path::new(key)))
            .transpose()
    }
}

/// A certificate's `meta.json` against its `live` ([`PgBackend::head`]).
enum Head {
    /// The metadata as it stands (`meta.json` names the live version, or there is none).
    Settled(Option<CertMeta>),
    /// `meta.json` (`top`) names another version than `live`.
    Lagging { live: u32, top: Option<CertMeta> },
}

impl Shared {
    fn held(&self) -> MutexGuard<'_, HashMap<String, HeldLease>> {
        // A panic elsewhere while holding it leaves the map itself consistent.
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The lock whose lease fences writes of `key`: `certs/<name>/…` → `<name>`,
/// `accounts/<ca>/…` → `account-<ca>`; `None` for the rest.
fn lock_for(key: &str) -> Option<String> {
    let mut parts = key.split('/');
    match (parts.next(), parts.next()) {
        (Some("certs"), Some(name)) => Some(name.to_owned()),
        (Some("accounts"), Some(ca)) => Some(format!("account-{ca}")),
        _ => None,
    }
}

impl Storage for PgBackend {
    fn load(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        crate::store::key_path(key)?;
        self.run(self.shared.store.get(key))
    }

    fn save(&self, key: &str, value: &[u8], private: bool) -> Result<(), StoreError> {
        crate::store::key_path(key)?;
        let store = &self.shared.store;
        match self.lease_for(key)? {
            Some(lease) => self.run(store.put(key, value, private, &lease)),
            None => self.run(store.put_unfenced(key, value, private)),
        }
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        crate::store::key_path(key)?;
        let store = &self.shared.store;
        match self.lease_for(key)? {
            Some(lease) => self.run(store.delete(key, &lease)).map(drop),
            None => self.run(store.delete_unfenced(key)).map(drop),
        }
    }

    fn replace(&self, from: &str, to: &str) -> Result<(), StoreError> {
        crate::store::key_path(from)?;
        crate::store::key_path(to)?;
        if lock_for(from) != lock_for(to) {
            return Err(PgStoreError::Database {
                detail: format!("moving `{from}` to `{to}` crosses two locks"),
            }
            .into());
        }
        let lease = self.lease_for(to)?;
        if self.run(self.shared.store.rename(from, to, lease.as_ref()))? {
            Ok(())
        } else {
            Err(StoreError::Io {
                op: "rename",
                path: from.into(),
                source: std::io::ErrorKind::NotFound.into(),
            })
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        crate::store::key_path(prefix)?;
        let dir = format!("{prefix}/");
        let keys = self.run(self.shared.store.list(&dir))?;
        let mut names: Vec<String> = keys
            .iter()
            .filter_map(|k| k.strip_prefix(&dir)?.split('/').next())
            .map(str::to_owned)
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn install(
        &self,
        name: &str,
        files: &CertFiles,
        meta: &CertMeta,
        _perms: &KeyPerms,
    ) -> Result<u32, StoreError> {
        let live = cert_key(name, "live")?;
        let lease = self
            .lease_for(&live)?
            .ok_or_else(|| StoreError::BadName(name.into()))?;
        let fullchain = format!(
            "{}{}",
            crate::store::ensure_newline(&files.cert),
            files.chain
        );
        let build = |version: u32| {
            let mut vmeta = meta.clone();
            vmeta.version = Some(version);
            let mut json =
                serde_json::to_vec_pretty(&vmeta).map_err(|e| PgStoreError::Database {
                    detail: format!("meta.json of `{name}`: {e}"),
                })?;
            json.push(b'\n');
            Ok(vec![
                ("cert.pem".into(), files.cert.clone().into_bytes(), false),
                ("chain.pem".into(), files.chain.clone().into_bytes(), false),
                ("fullchain.pem".into(), fullchain.into_bytes(), false),
                (
                    "privkey.pem".into(),
                    files.privkey.clone().into_bytes(),
                    true,
                ),
                ("meta.json".into(), json, false),
            ])
        };
        let dir = format!("certs/{name}");
        self.run(self.shared.store.put_version(&dir, &lease, build))
    }

    fn live_version(&self, name: &str) -> Result<Option<u32>, StoreError> {
        let key = cert_key(name, "live")?;
        Self::version(&key, self.run(self.shared.store.get(&key))?)
    }

    fn read_live(&self, name: &str) -> Result<Option<CertFiles>, StoreError> {
        let Some(version) = self.live_version(name)? else {
            return Ok(None);
        };
        let read = |file: &str| {
            let key = format!("certs/{name}/archive/{version}/{file}");
            Self::text(&key, self.run(self.shared.store.get(&key))?)
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

    /// Nothing to settle: a version is written in one transaction, whole or not at all.
    fn recover(&self, name: &str) -> Result<Vec<String>, StoreError> {
        cert_key(name, "live")?;
        Ok(Vec::new())
    }
}

#[async_trait::async_trait]
impl Locker for PgBackend {
    async fn lock(&self, name: &str, wait: Duration) -> Result<StoreLock, StoreError> {
        crate::store::check_name(name)?;
        // Not `Handle::current()`: polled outside tokio, that would panic.
        let handle = Handle::try_current().map_err(|_| PgStoreError::NeedsMultiThreadRuntime)?;
        // On a task of its own: a connection of the store is held across the awaits of a
        // waiting lock, and a future of the caller's that holds it while the caller's thread
        // blocks in another store call (`block_in_place`) would never be polled again (with
        // every connection held so, the other call waits for good).
        let (shared, holder, ttl) = (self.shared.clone(), self.holder.clone(), self.leases.ttl);
        let owned = name.to_owned();
        let lease = handle
            .spawn(async move { shared.store.lock(&owned, &holder, ttl, wait).await })
            .await
            .map_err(|e| PgStoreError::Database {
                detail: format!("taking lock `{name}`: {e}"),
            })??;
        let lost = Arc::new(AtomicBool::new(false));
        {
            let mut held = self.shared.held();
            held.insert(
                name.to_owned(),
                HeldLease {
                    lease: lease.clone(),
                    lost: lost.clone(),
                },
            );
            // Under the same mutex the renewer checks before it ends: never a held lease
            // without a renewer.
            if !self.shared.renewing.swap(true, Ordering::SeqCst) {
                drop(handle.spawn(renew_held(
                    self.shared.clone(),
                    self.leases.ttl,
                    self.leases.renew_every,
                )));
            }
        }
        Ok(StoreLock::lease(LeaseGuard {
            shared: self.shared.clone(),
            lease,
            handle,
            lost,
        }))
    }
}

/// Renews every lease this process holds, all in one statement, every `every`, while any is
/// held (one statement per round, not one per lease: a run holding 10,000 leases renewed
/// them one by one, 18 statements per certificate, and the longer the run the more). A lease
/// the database did not renew (expired, or taken) is marked lost; after
/// [`MAX_RENEW_FAILURES`] failed rounds in a row (the database away) every held lease is.
async fn renew_held(shared: Arc<Shared>, ttl: Duration, every: Duration) {
    let mut failures = 0;
    loop {
        tokio::time::sleep(every).await;
        let leases: Vec<Lease> = {
            let held = shared.held();
            if held.is_empty() {
                shared.renewing.store(false, Ordering::SeqCst);
                return;
            }
            held.values()
                .filter(|h| !h.lost.load(Ordering::SeqCst))
                .map(|h| h.lease.clone())
                .collect()
        };
        match shared.store.renew_many(&leases, ttl).await {
            Ok(renewed) => {
                failures = 0;
                let mut held = shared.held();
                for lease in &leases {
                    let Some(h) = held
                        .get_mut(&lease.name)
                        .filter(|h| h.lease.token == lease.token)
                    else {
                        continue; // released meanwhile
                    };
                    // By name: a lookup, not a scan of the answer for each of thousands.
                    match renewed.get(&lease.name) {
                        Some(&expires_at) => h.lease.expires_at = expires_at,
                        None => {
                            tracing::warn!(
                                "{}: this run's further writes of it are refused",
                                PgStoreError::LeaseLost {
                                    name: lease.name.clone(),
                                    token: lease.token,
                                    holder: None,
                                }
                            );
                            h.lost.store(true, Ordering::SeqCst);
                        }
                    }
                }
            }
            Err(e) => {
                failures += 1;
                tracing::warn!("renewing {} leases failed: {e}", leases.len());
                if failures >= MAX_RENEW_FAILURES {
                    for h in shared.held().values() {
                        h.lost.store(true, Ordering::SeqCst);
                    }
                }
            }
        }
    }
}

/// A held lease: renewed (with every other lease held here) while held; dropping it releases
/// the lease.
pub(crate) struct LeaseGuard {
    shared: Arc<Shared>,
    lease: Lease,
    handle: Handle,
    lost: Arc<AtomicBool>,
}

impl LeaseGuard {
    /// [`PgStoreError::LeaseLost`] once the renewal found the lease taken (or the database
    /// gone past the lease): the work under it should stop, its writes are refused.
    pub(crate) fn lost_error(&self) -> Option<PgStoreError> {
        self.lost
            .load(Ordering::SeqCst)
            .then(|| PgStoreError::LeaseLost {
                name: self.lease.name.clone(),
                token: self.lease.token,
                holder: None,
            })
    }
}

impl std::fmt::Debug for LeaseGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseGuard")
            .field("lease", &self.lease)
            .finish()
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        {
            let mut held = self.shared.held();
            if held
                .get(&self.lease.name)
                .is_some_and(|h| h.lease.token == self.lease.token)
            {
                held.remove(&self.lease.name);
            }
        }
        let (shared, lease) = (self.shared.clone(), self.lease.clone());
        let release = async move {
            match tokio::time::timeout(RELEASE_WAIT, shared.store.unlock(&lease)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!("releasing lease `{}`: {e} (it expires)", lease.name),
                Err(_) => {
                    tracing::debug!("releasing lease `{}`: no answer (it expires)", lease.name)
                }
            }
        };
        // Released before the guard is gone: a task spawned for it would not run when the
        // process exits right after (the last certificate of a run), and the next run on any
        // host would find the certificate held until the lease expired.
        match Handle::try_current() {
            Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
                block_in_place_on(&h, release)
            }
            _ => drop(self.handle.spawn(release)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::block_in_place_on;

    /// The CLI's shape: a command's future on the main thread (`Runtime::block_on`), one part
    /// of it waiting for a wake-up while another makes a sync store call. The wake-up that
    /// comes during the call must not be lost (with `Handle::block_on` it was: the future slept
    /// until the next timer, here a 5 s bound).
    #[test]
    fn a_wake_up_during_a_store_call_on_the_main_thread_is_not_lost() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let handle = rt.handle().clone();
        let took = rt.block_on(async move {
            let start = Instant::now();
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            // Polled after `woken` registered its wake-up (join! polls in order first); the
            // step wakes it, then waits once itself.
            let call = async {
                block_in_place_on(&handle, async move {
                    let _ = tx.send(());
                    tokio::task::yield_now().await;
                });
            };
            let woken = async {
                tokio::select! {
                    _ = rx => {}
                    () = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
            };
            tokio::join!(woken, call);
            start.elapsed()
        });
        assert!(
            took < Duration::from_secs(2),
            "the wake-up was lost: {took:?}"
        );
    }
}
