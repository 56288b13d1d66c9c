//! `wildcert store migrate --to postgresql://…|DIR`: move a filesystem store into the
//! PostgreSQL store, or the configured PostgreSQL store into a directory.
//!
//! What is copied, through the storage contract on both sides: every certificate with every
//! archive version under its own number, which version is live, its `meta.json` (and any other
//! object of the certificate, such as a journaled `pending-key.pem`), and every account
//! (`accounts/<ca>/<account>/*`). Each certificate is copied under its lock on both sides (on
//! PostgreSQL its lease, so the writes are fenced), then read back from the target and compared
//! byte for byte, file by file (the private key as the database opens it). The source is
//! never written (taking a filesystem lock settles what an interrupted run left, as every
//! command does).
//!
//! Refused before anything is copied: a journal that holds entries (records may still be
//! published), and a target that already holds a certificate or account of the same name
//! (unless `replace`). A certificate goes live in the target only whole: in the database in
//! one transaction; on the filesystem `live` flips after every version is written, and a copy
//! that fails or does not verify is removed again.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::RunConfig;
use crate::error::{ExitCode, IssueError};
use crate::model::LOCK_WAIT;

use crate::settings::Secret;
use crate::store::{KeyPerms, Storage, Store, StoreConfig, StoreError, cert_key};

/// Where `store migrate` copies to.
#[derive(Debug, Clone)]
pub enum MigrateTarget {
    /// A PostgreSQL URL (`postgresql://…`); the source is the filesystem store.
    Database(Secret),
    /// A directory; the source is the configured PostgreSQL store.
    Directory(PathBuf),
}

impl MigrateTarget {
    /// `--to`: a `postgresql://` or `postgres://` URL, else a directory.
    pub fn parse(to: &str) -> MigrateTarget {
        if to.starts_with("postgresql://") || to.starts_with("postgres://") {
            MigrateTarget::Database(Secret::new(to.to_owned()))
        } else {
            MigrateTarget::Directory(PathBuf::from(to))
        }
    }
}

/// How one certificate or account fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyStatus {
    /// Copied and verified.
    Copied,
    /// The target held one of this name: replaced (`--replace`), copied and verified.
    Replaced,
    /// Not copied, or copied and not verified (then removed from the target again).
    Failed,
}

/// One certificate (or account) of a migration.
#[derive(Debug, Clone)]
pub struct MigratedItem {
    /// The certificate name, or `<ca>/<account>`.
    pub name: String,
    /// The archive versions copied (certificates).
    pub versions: Vec<u32>,
    /// The live version (certificates).
    pub live: Option<u32>,
    /// Files copied and compared.
    pub files: usize,
    /// Every file read back from the target equals the source's.
    pub verified: bool,
    /// The outcome.
    pub status: CopyStatus,
    /// What failed, if anything.
    pub error: Option<String>,
}

/// What `store migrate` did.
#[derive(Debug, Clone)]
pub struct MigrateReport {
    /// The source (a directory, or the database as `host:port/db`).
    pub from: String,
    /// The target (same forms; never a password).
    pub to: String,
    /// One per certificate of the source.
    pub certificates: Vec<MigratedItem>,
    /// One per account of the source.
    pub accounts: Vec<MigratedItem>,
    /// The config lines that switch to the target.
    pub switch: Vec<String>,
    /// The data key file the database's private keys are sealed with (to the database).
    pub key_file: Option<PathBuf>,
}

impl MigrateReport {
    /// True when everything was copied and verified.
    pub fn ok(&self) -> bool {
        self.certificates
            .iter()
            .chain(&self.accounts)
            .all(|i| i.status != CopyStatus::Failed)
    }
}

/// The objects of one certificate: files directly under `certs/<name>/` (not `live`), each
/// archive version's files, and the live version.
#[derive(Debug, Default, PartialEq, Eq)]
struct CertTree {
    top: BTreeMap<String, Vec<u8>>,
    versions: BTreeMap<u32, BTreeMap<String, Vec<u8>>>,
    live: Option<u32>,
}

impl CertTree {
    fn files(&self) -> usize {
        self.top.len() + self.versions.values().map(BTreeMap::len).sum::<usize>()
    }
}

/// `wildcert store migrate`.
pub async fn migrate(
    cfg: &RunConfig,
    to: &MigrateTarget,
    replace: bool,
) -> Result<MigrateReport, IssueError> {
    let state_dir = &cfg.state_dir;
    let (source, target, from, to_text, switch, key_file) = match to {
        MigrateTarget::Database(url) => {
            if cfg.store.url.is_some() {
                return Err(refused(
                    "the configured store is already a PostgreSQL database ([store] url)",
                    "`store migrate --to postgresql://…` moves a filesystem store; to leave the database, migrate to a directory (`--to DIR`)",
                ));
            }
            let target_cfg = StoreConfig {
                url: Some(url.clone()),
                ..cfg.store.clone()
            };
            let key_file = target_cfg.key_file_in(state_dir);
            let source = Store::open(state_dir)?;
            let target = Store::open_with(state_dir, &target_cfg)?;
            let shown = redact_url(url.expose());
            let switch = vec![
                "[store]".to_owned(),
                format!("url = \"{shown}\""),
                format!("key_file = \"{}\"", key_file.display()),
            ];
            let to_text = shown;
            let from = state_dir.display().to_string();
            (source, target, from, to_text, switch, Some(key_file))
        }
        MigrateTarget::Directory(dir) => {
            let Some(url) = &cfg.store.url else {
                return Err(refused(
                    "the configured store is a directory, not a PostgreSQL database",
                    "`store migrate --to DIR` moves the configured PostgreSQL store ([store] url) into a directory; `--to postgresql://…` moves this one into a database",
                ));
            };
            let source = Store::open_with(state_dir, &cfg.store)?;
            let target = Store::open(dir)?;
            let mut switch =
                vec!["remove [store] url (and WILDCERT_STORE_URL from the environment)".to_owned()];
            if target.root() != state_dir.as_path() {
                switch.push(format!("state_dir = \"{}\"", target.root().display()));
            }
            let from = redact_url(url.expose());
            let to_text = target.root().display().to_string();
            (source, target, from, to_text, switch, None)
        }
    };

    let journal = names(&source, "journal")?;
    if !journal.is_empty() {
        return Err(IssueError::Command {
            message: format!(
                "the source's journal holds {} entr{} ({}): DNS records of an unfinished run may still be published",
                journal.len(),
                if journal.len() == 1 { "y" } else { "ies" },
                journal.join(", ")
            ),
            hint: "nothing was copied; run `wildcert renew` first (it removes what earlier runs left), then migrate again".into(),
            code: ExitCode::Store,
        });
    }

    let certs = source.list()?;
    let mut accounts = Vec::new();
    for ca in names(&source, "accounts")? {
        for account in names(&source, &format!("accounts/{ca}"))? {
            accounts.push((ca.clone(), account));
        }
    }
    // Refuse before copying anything when the target holds one of these names.
    let mut taken = Vec::new();
    for name in &certs {
        if !Storage::list(&target, &cert_prefix(name)?)?.is_empty() {
            taken.push(format!("certificate `{name}`"));
        }
    }
    for (ca, account) in &accounts {
        if !Storage::list(&target, &account_prefix(ca, account)?)?.is_empty() {
            taken.push(format!("account `{ca}/{account}`"));
        }
    }
    if !taken.is_empty() && !replace {
        return Err(IssueError::Command {
            message: format!("the target {to_text} already holds {}", taken.join(", ")),
            hint: "nothing was copied; pass --replace to overwrite them with the source's (the source stays as it is), or remove them from the target".into(),
            code: ExitCode::Store,
        });
    }

    let mut report = MigrateReport {
        from,
        to: to_text,
        certificates: Vec::new(),
        accounts: Vec::new(),
        switch,
        key_file,
    };
    // A lock of a holder that died is free on the filesystem at once, in the database when
    // its lease expires: wait that long.
    let wait = LOCK_WAIT.max(cfg.store.lease() + Duration::from_secs(2));
    for name in &certs {
        let item = match copy_cert(&source, &target, name, replace, wait).await {
            Ok(item) => item,
            Err(e) => failed(name, &e),
        };
        report.certificates.push(item);
    }
    for (ca, account) in &accounts {
        let name = format!("{ca}/{account}");
        let item = match copy_account(&source, &target, ca, account, replace, wait).await {
            Ok(item) => item,
            Err(e) => failed(&name, &e),
        };
        report.accounts.push(item);
    }
    for store in [&source, &target] {
        released(store).await;
    }
    Ok(report)
}

/// Waits (at most 2 s) until the database confirms this process's leases released: a lease
/// is released by a task when its lock drops, and the process must not exit before that,
/// or the next run would wait for the lease to expire.
async fn released(store: &Store) {
    let Some(pg) = store.shared() else { return };
    for _ in 0..100 {
        match pg.holder_alive(pg.holder()) {
            Ok(true) => tokio::time::sleep(Duration::from_millis(20)).await,
            Ok(false) => return,
            Err(e) => {
                tracing::debug!("checking this run's leases: {e}");
                return;
            }
        }
    }
}

fn refused(message: &str, hint: &str) -> IssueError {
    IssueError::Command {
        message: message.into(),
        hint: hint.into(),
        code: ExitCode::Settings,
    }
}

fn failed(name: &str, e: &StoreError) -> MigratedItem {
    MigratedItem {
        name: name.into(),
        versions: Vec::new(),
        live: None,
        files: 0,
        verified: false,
        status: CopyStatus::Failed,
        error: Some(format!("{e} ({})", e.hint())),
    }
}

/// A URL with its password replaced by `…`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.into();
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:…@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    // A password given as a query parameter.
    let path = match path.split_once('?') {
        Some((p, q)) => {
            let q: Vec<String> = q
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some(("password", _)) => "password=…".to_owned(),
                    _ => kv.to_owned(),
                })
                .collect();
            format!("{p}?{}", q.join("&"))
        }
        None => path.to_owned(),
    };
    format!("{scheme}://{authority}{path}")
}

/// Plain names directly below `prefix` (temporary and hidden entries left out).
fn names(store: &Store, prefix: &str) -> Result<Vec<String>, StoreError> {
    Ok(Storage::list(store, prefix)?
        .into_iter()
        .filter(|n| crate::store::check_name(n).is_ok())
        .collect())
}

fn cert_prefix(name: &str) -> Result<String, StoreError> {
    crate::store::check_name(name)?;
    Ok(format!("certs/{name}"))
}

fn account_prefix(ca: &str, account: &str) -> Result<String, StoreError> {
    crate::store::account_prefix(ca, account)
}

/// Reads every object of certificate `name`.
fn read_cert(store: &Store, name: &str) -> Result<CertTree, StoreError> {
    let dir = cert_prefix(name)?;
    let mut tree = CertTree {
        live: store.live_version(name)?,
        ..CertTree::default()
    };
    for entry in names(store, &dir)? {
        match entry.as_str() {
            "live" => {}
            "archive" => {
                for v in names(store, &format!("{dir}/archive"))? {
                    let Ok(n) = v.parse::<u32>() else { continue };
                    let vdir = format!("{dir}/archive/{v}");
                    let mut files = BTreeMap::new();
                    for f in names(store, &vdir)? {
                        let key = format!("{vdir}/{f}");
                        if let Some(bytes) = store.load(&key)? {
                            files.insert(f, bytes);
                        }
                    }
                    tree.versions.insert(n, files);
                }
            }
            file => {
                if let Some(bytes) = store.load(&cert_key(name, file)?)? {
                    tree.top.insert(file.to_owned(), bytes);
                }
            }
        }
    }
    Ok(tree)
}

/// Writes `tree` as certificate `name` of `target` (which holds its lock), live last.
fn write_cert(
    target: &Store,
    name: &str,
    tree: &CertTree,
    replace: bool,
) -> Result<(), StoreError> {
    let dir = cert_prefix(name)?;
    if let Some(pg) = target.shared() {
        let mut objects = Vec::new();
        for (file, bytes) in &tree.top {
            objects.push((format!("{dir}/{file}"), bytes.clone(), file.contains("key")));
        }
        for (n, files) in &tree.versions {
            for (file, bytes) in files {
                let key = format!("{dir}/archive/{n}/{file}");
                objects.push((key, bytes.clone(), file.contains("key")));
            }
        }
        if let Some(live) = tree.live {
            objects.push((format!("{dir}/live"), live.to_string().into_bytes(), false));
        }
        return pg.put_tree(&dir, &objects, replace);
    }
    if replace {
        target.delete_cert(name)?;
    }
    // The live version first: a copy cut short leaves it complete, so the store's recovery
    // (which rolls the newest complete version forward) never makes an older one live.
    let order = tree.live.into_iter().chain(
        tree.versions
            .keys()
            .copied()
            .filter(|v| Some(*v) != tree.live),
    );
    for n in order {
        let Some(files) = tree.versions.get(&n) else {
            continue;
        };
        let files: Vec<(String, Vec<u8>)> =
            files.iter().map(|(f, b)| (f.clone(), b.clone())).collect();
        target.write_version(name, n, &files, &KeyPerms::default())?;
    }
    for (file, bytes) in &tree.top {
        target.save(&cert_key(name, file)?, bytes, true)?;
    }
    if let Some(live) = tree.live {
        target.set_live(name, live)?;
    }
    Ok(())
}

/// Where two trees differ (file by file), empty when they are equal.
fn differences(source: &CertTree, copy: &CertTree) -> Vec<String> {
    let mut out = Vec::new();
    if source.live != copy.live {
        out.push(format!("live is {:?}, not {:?}", copy.live, source.live));
    }
    let compare = |out: &mut Vec<String>,
                   at: &str,
                   a: &BTreeMap<String, Vec<u8>>,
                   b: Option<&BTreeMap<String, Vec<u8>>>| {
        let empty = BTreeMap::new();
        let b = b.unwrap_or(&empty);
        for (file, bytes) in a {
            match b.get(file) {
                None => out.push(format!("{at}{file} is missing")),
                Some(c) if c != bytes => out.push(format!("{at}{file} differs")),
                Some(_) => {}
            }
        }
        for file in b.keys().filter(|f| !a.contains_key(*f)) {
            out.push(format!("{at}{file} is not in the source"));
        }
    };
    compare(&mut out, "", &source.top, Some(&copy.top));
    for (n, files) in &source.versions {
        compare(
            &mut out,
            &format!("archive/{n}/"),
            files,
            copy.versions.get(n),
        );
    }
    for n in copy
        .versions
        .keys()
        .filter(|n| !source.versions.contains_key(n))
    {
        out.push(format!("archive/{n} is not in the source"));
    }
    out
}

/// Copies certificate `name` under its lock on both sides and verifies the copy.
async fn copy_cert(
    source: &Store,
    target: &Store,
    name: &str,
    replace: bool,
    wait: Duration,
) -> Result<MigratedItem, StoreError> {
    let _source_lock = source.lock(name, wait).await?;
    let _target_lock = target.lock(name, wait).await?;
    let tree = read_cert(source, name)?;
    let existed = !Storage::list(target, &cert_prefix(name)?)?.is_empty();
    if existed && !replace {
        return Err(StoreError::NotPlain {
            path: PathBuf::from(cert_prefix(name)?),
            what: "appeared in the target while migrating; not replaced".into(),
        });
    }
    let mut item = MigratedItem {
        name: name.into(),
        versions: tree.versions.keys().copied().collect(),
        live: tree.live,
        files: tree.files(),
        verified: false,
        status: CopyStatus::Failed,
        error: None,
    };
    let written = write_cert(target, name, &tree, replace);
    let diff = match &written {
        Ok(()) => differences(&tree, &read_cert(target, name)?),
        Err(_) => Vec::new(),
    };
    match written {
        Ok(()) if diff.is_empty() => {
            item.verified = true;
            item.status = if existed {
                CopyStatus::Replaced
            } else {
                CopyStatus::Copied
            };
        }
        other => {
            // Nothing half-done stays in the target.
            if let Err(e) = target.delete_cert(name) {
                tracing::warn!(cert = name, "removing the failed copy: {e}");
            }
            item.error = Some(match other {
                Err(e) => format!("{e} ({})", e.hint()),
                Ok(()) => format!("the copy does not verify: {}", diff.join("; ")),
            });
        }
    }
    Ok(item)
}

/// Copies account `<ca>/<account>` under the CA's account lock on both sides and verifies it.
async fn copy_account(
    source: &Store,
    target: &Store,
    ca: &str,
    account: &str,
    replace: bool,
    wait: Duration,
) -> Result<MigratedItem, StoreError> {
    let lock = format!("account-{ca}");
    let _source_lock = source.lock(&lock, wait).await?;
    let _target_lock = target.lock(&lock, wait).await?;
    let dir = account_prefix(ca, account)?;
    let read = |store: &Store| -> Result<BTreeMap<String, Vec<u8>>, StoreError> {
        let mut files = BTreeMap::new();
        for f in names(store, &dir)? {
            if let Some(bytes) = store.load(&format!("{dir}/{f}"))? {
                files.insert(f, bytes);
            }
        }
        Ok(files)
    };
    let files = read(source)?;
    let existing = names(target, &dir)?;
    if !existing.is_empty() && !replace {
        return Err(StoreError::NotPlain {
            path: PathBuf::from(&dir),
            what: "appeared in the target while migrating; not replaced".into(),
        });
    }
    if let Some(pg) = target.shared() {
        let objects: Vec<(String, Vec<u8>, bool)> = files
            .iter()
            .map(|(f, b)| (format!("{dir}/{f}"), b.clone(), f.contains("key")))
            .collect();
        pg.put_tree(&dir, &objects, replace)?;
    } else {
        for f in existing.iter().filter(|f| !files.contains_key(*f)) {
            target.delete(&format!("{dir}/{f}"))?;
        }
        for (f, bytes) in &files {
            target.save(&format!("{dir}/{f}"), bytes, true)?;
        }
    }
    let copy = read(target)?;
    let verified = copy == files;
    Ok(MigratedItem {
        name: format!("{ca}/{account}"),
        versions: Vec::new(),
        live: None,
        files: files.len(),
        verified,
        status: match (verified, existing.is_empty()) {
            (false, _) => CopyStatus::Failed,
            (true, true) => CopyStatus::Copied,
            (true, false) => CopyStatus::Replaced,
        },
        error: (!verified).then(|| "the copy read back differs from the source".to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_never_shown() {
        assert_eq!(
            redact_url("postgresql://bastion:s3cret@db.example:5432/wildcert?sslmode=verify-full"),
            "postgresql://bastion:…@db.example:5432/wildcert?sslmode=verify-full"
        );
        assert_eq!(
            redact_url("postgres://db/w?user=u&password=s3cret"),
            "postgres://db/w?user=u&password=…"
        );
        assert_eq!(redact_url("postgresql://u@db/w"), "postgresql://u@db/w");
    }

    #[test]
    fn verification_names_every_difference() {
        let file = |b: &[u8]| BTreeMap::from([("cert.pem".to_owned(), b.to_vec())]);
        let source = CertTree {
            top: BTreeMap::from([("meta.json".to_owned(), b"{}".to_vec())]),
            versions: BTreeMap::from([(1, file(b"one")), (2, file(b"two"))]),
            live: Some(2),
        };
        assert!(differences(&source, &source).is_empty());
        let mut copy = CertTree {
            top: BTreeMap::new(),
            versions: BTreeMap::from([(2, file(b"tw0")), (3, file(b"x"))]),
            live: Some(3),
        };
        copy.versions
            .get_mut(&2)
            .expect("2")
            .insert("extra.pem".into(), Vec::new());
        let found = differences(&source, &copy).join("; ");
        for want in [
            "live is Some(3), not Some(2)",
            "meta.json is missing",
            "archive/1/cert.pem is missing",
            "archive/2/cert.pem differs",
            "archive/2/extra.pem is not in the source",
            "archive/3 is not in the source",
        ] {
            assert!(found.contains(want), "{want}: {found}");
        }
    }

    #[test]
    fn a_filesystem_copy_keeps_every_version_and_live_and_verifies() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let dir = tempfile::tempdir().expect("tempdir");
            let a = Store::open(dir.path().join("a")).expect("a");
            let b = Store::open(dir.path().join("b")).expect("b");
            let files = |t: &str| crate::store::CertFiles {
                cert: format!("CERT {t}\n"),
                chain: format!("CHAIN {t}\n"),
                privkey: format!("KEY {t}\n"),
            };
            let meta = crate::store::CertMeta::default();
            let perms = KeyPerms::default();
            for t in ["1", "2", "3"] {
                a.install("c", &files(t), &meta, &perms).expect("install");
            }
            let item = copy_cert(&a, &b, "c", false, LOCK_WAIT)
                .await
                .expect("copy");
            assert_eq!(item.status, CopyStatus::Copied, "{item:?}");
            assert_eq!((item.versions.len(), item.live), (3, Some(3)));
            assert_eq!(
                read_cert(&a, "c").expect("a"),
                read_cert(&b, "c").expect("b")
            );
            // A target that has it is refused unless replacing.
            assert!(copy_cert(&a, &b, "c", false, LOCK_WAIT).await.is_err());
            let item = copy_cert(&a, &b, "c", true, LOCK_WAIT)
                .await
                .expect("replace");
            assert_eq!(item.status, CopyStatus::Replaced);
        });
    }
}
