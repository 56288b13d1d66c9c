//! The account commands: register (RFC 8555 §7.3), show, key rollover (§7.3.5) and
//! deactivation (§7.3.6). Each takes the account's lock first and settles an interrupted
//! rollover before anything else.

use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use tracing::info;
use wildcert_acme::{AccountKey, AccountKeyType, AcmeClient, JwsAlgorithm, ProblemType};

use crate::account::{
    AccountRecord, NEW_KEY, account_dir, account_file, ca_dir_name, file_stamp,
    finish_interrupted_rollover, load_or_create,
};
use crate::config::RunConfig;
use crate::error::{ExitCode, IssueError};
use crate::store::{Storage, StorageExt, Store, StoreLock};

/// How long an account command waits for another run's account lock.
pub const ACCOUNT_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The account key, described without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// JWS algorithm (`ES256`).
    pub algorithm: String,
    /// Key type name (`ec256`, `ec384`, `ed25519`, `rsa2048`, `rsa4096`).
    pub key_type: String,
    /// RFC 7638 thumbprint of the public key.
    pub thumbprint: String,
}

impl KeyInfo {
    fn of(key: &AccountKey) -> KeyInfo {
        KeyInfo {
            algorithm: key.algorithm().as_str().to_string(),
            key_type: key_type_of(key).as_str().to_string(),
            thumbprint: key.thumbprint().to_string(),
        }
    }
}

/// The type of an existing key (RSA size told apart by the PKCS#8 length).
pub fn key_type_of(key: &AccountKey) -> AccountKeyType {
    match key.algorithm() {
        JwsAlgorithm::Es384 => AccountKeyType::EcdsaP384,
        JwsAlgorithm::EdDsa => AccountKeyType::Ed25519,
        JwsAlgorithm::Rs256 if key.to_pkcs8_der().len() > 1800 => AccountKeyType::Rsa4096,
        JwsAlgorithm::Rs256 => AccountKeyType::Rsa2048,
        _ => AccountKeyType::EcdsaP256,
    }
}

/// The account as the CA sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountAtCa {
    /// `valid`, `deactivated` or `revoked`.
    pub status: String,
    /// Contact URLs the CA holds.
    pub contact: Vec<String>,
    /// Whether the terms of service were agreed.
    pub terms_of_service_agreed: Option<bool>,
}

/// `wildcert account register|show`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    /// The account URL.
    pub url: String,
    /// The CA's directory URL.
    pub directory: String,
    /// Contact addresses given at registration.
    pub contact: Vec<String>,
    /// RFC 3339 time the account was stored.
    pub created: Option<String>,
    /// `accounts/<ca-host>/default`.
    pub dir: PathBuf,
    /// The account key.
    pub key: KeyInfo,
    /// The CA's terms of service, when it has some.
    pub terms_of_service: Option<String>,
    /// The account was created by this command (`register` only).
    pub registered_now: Option<bool>,
    /// The account as the CA sees it.
    pub ca: AccountAtCa,
    /// An interrupted key rollover this command finished (`completed` or `undone`).
    pub recovered_rollover: Option<&'static str>,
}

/// A stored account loaded without contacting the CA.
pub(crate) struct Stored {
    dir: PathBuf,
    record: AccountRecord,
    pub(crate) account: wildcert_acme::Account,
}

pub(crate) fn stored_account(store: &Store, client: &AcmeClient) -> Result<Stored, IssueError> {
    let dir = account_dir(store, client)?;
    let url = client.directory_url();
    let record = store.load_json::<AccountRecord>(&account_file(url, "account.json")?)?;
    let pem = store.load_string(&account_file(url, "key.pem")?)?;
    let (Some(record), Some(pem)) = (record, pem) else {
        return Err(IssueError::NoAccount(client.directory_url().to_string()));
    };
    let key = AccountKey::from_pem(&pem)?;
    let account = client.account(key, record.url.clone());
    Ok(Stored {
        dir,
        record,
        account,
    })
}

async fn account_lock(store: &Store, client: &AcmeClient) -> Result<StoreLock, IssueError> {
    let name = format!("account-{}", ca_dir_name(client.directory_url()));
    Ok(store.lock(&name, ACCOUNT_LOCK_WAIT).await?)
}

async fn ca_state(account: &wildcert_acme::Account) -> Result<AccountAtCa, IssueError> {
    let state = account.state().await.map_err(|e| {
        if e.is_problem(&ProblemType::Unauthorized)
            || e.is_problem(&ProblemType::AccountDoesNotExist)
        {
            IssueError::Command {
                message: format!("the CA no longer accepts the stored account: {e}"),
                hint: "it may be deactivated; move accounts/<ca-host>/default aside (or run \
                       `wildcert account deactivate --yes`) so the next run registers a new one"
                    .into(),
                code: ExitCode::Ca,
            }
        } else {
            e.into()
        }
    })?;
    Ok(AccountAtCa {
        status: state.status.as_str().to_string(),
        contact: state.contact,
        terms_of_service_agreed: state.terms_of_service_agreed,
    })
}

fn account_info(client: &AcmeClient, s: &Stored, ca: AccountAtCa) -> AccountInfo {
    AccountInfo {
        url: s.record.url.clone(),
        directory: s.record.directory.clone(),
        contact: s.record.contact.clone(),
        created: s.record.created.clone(),
        dir: s.dir.clone(),
        key: KeyInfo::of(&s.account.key()),
        terms_of_service: client.directory().meta.terms_of_service.clone(),
        registered_now: None,
        ca,
        recovered_rollover: None,
    }
}

/// `wildcert account register`: find the stored account or register one (needs the terms
/// agreed when the CA has terms).
pub async fn account_register(cfg: &RunConfig, store: &Store) -> Result<AccountInfo, IssueError> {
    let client = cfg.acme_client().await?;
    {
        let _lock = account_lock(store, &client).await?;
        finish_interrupted_rollover(store, &client).await?;
    }
    let existed = stored_account(store, &client).is_ok();
    load_or_create(store, &client, &cfg.account).await?;
    let stored = stored_account(store, &client)?;
    let ca = ca_state(&stored.account).await?;
    let mut info = account_info(&client, &stored, ca);
    info.registered_now = Some(!existed);
    Ok(info)
}

/// `wildcert account show`: the stored account and its state at the CA.
pub async fn account_show(cfg: &RunConfig, store: &Store) -> Result<AccountInfo, IssueError> {
    let client = cfg.acme_client().await?;
    // A read needs no lock: on a store this user cannot write (a read-only mount, a backup,
    // another user's), the account is shown without settling an interrupted rollover.
    let lock = match account_lock(store, &client).await {
        Ok(l) => Some(l),
        Err(IssueError::Store(e)) if e.is_read_only() => {
            tracing::debug!("account show without the account lock: {e}");
            None
        }
        Err(e) => return Err(e),
    };
    let recovered = match &lock {
        Some(_) => finish_interrupted_rollover(store, &client).await?,
        None => None,
    };
    let stored = stored_account(store, &client)?;
    let ca = ca_state(&stored.account).await?;
    let mut info = account_info(&client, &stored, ca);
    info.recovered_rollover = recovered;
    Ok(info)
}

/// What `wildcert account rollover` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolledOver {
    /// The account URL (unchanged).
    pub url: String,
    /// The key before.
    pub old_key: KeyInfo,
    /// The key now in `key.pem`.
    pub new_key: KeyInfo,
    /// `key.pem`.
    pub key_path: PathBuf,
}

/// `wildcert account rollover`: replace the account key (RFC 8555 §7.3.5).
///
/// On disk: the new key is written to `key.pem.new` and the old one copied to
/// `key.pem.old-<time>`; only after the CA accepted the new key does `key.pem.new` replace
/// `key.pem` (one rename) and the copy go away. If the CA refuses, `key.pem` is untouched. A
/// run interrupted between the CA's answer and the rename is finished by the next `account`
/// command, which asks the CA which key it holds.
pub async fn account_rollover(
    cfg: &RunConfig,
    store: &Store,
    key_type: Option<AccountKeyType>,
) -> Result<RolledOver, IssueError> {
    let client = cfg.acme_client().await?;
    let _lock = account_lock(store, &client).await?;
    finish_interrupted_rollover(store, &client).await?;
    let stored = stored_account(store, &client)?;
    let old = stored.account.key();
    let new = AccountKey::generate(key_type.unwrap_or_else(|| key_type_of(&old)))?;
    let url = client.directory_url();
    let key_file = account_file(url, "key.pem")?;
    let key_path = store.root().join(&key_file);
    let new_path = account_file(url, NEW_KEY)?;
    let backup = account_file(
        url,
        &format!("key.pem.old-{}", file_stamp(OffsetDateTime::now_utc())),
    )?;
    store.save(&new_path, new.to_pem().as_bytes(), true)?;
    store.save(&backup, old.to_pem().as_bytes(), true)?;
    if let Err(e) = stored.account.rollover(new.clone()).await {
        // The CA kept the old key: so do we.
        let _ = store.delete(&new_path);
        let _ = store.delete(&backup);
        return Err(IssueError::Command {
            message: format!("the CA refused the new account key: {e}"),
            hint: format!(
                "the old key is still in use ({}); run again with -v for the protocol steps",
                key_path.display()
            ),
            code: ExitCode::Ca,
        });
    }
    store.replace(&new_path, &key_file)?;
    let _ = store.delete(&backup);
    info!(account = %stored.record.url, "account key replaced");
    Ok(RolledOver {
        url: stored.record.url.clone(),
        old_key: KeyInfo::of(&old),
        new_key: KeyInfo::of(&new),
        key_path,
    })
}

/// What `wildcert account deactivate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deactivated {
    /// The account URL.
    pub url: String,
    /// The status the CA reports now (`deactivated`).
    pub status: String,
    /// Where the account directory was moved (the next run registers a new account).
    pub moved_to: PathBuf,
}

/// `wildcert account deactivate`: deactivate at the CA (irreversible), then move the account
/// directory aside to `default.deactivated-<time>` so the next run registers a new account.
pub async fn account_deactivate(cfg: &RunConfig, store: &Store) -> Result<Deactivated, IssueError> {
    let client = cfg.acme_client().await?;
    let _lock = account_lock(store, &client).await?;
    finish_interrupted_rollover(store, &client).await?;
    let stored = stored_account(store, &client)?;
    let state = stored.account.deactivate().await.map_err(|e| {
        if e.is_problem(&ProblemType::Unauthorized) {
            IssueError::Command {
                message: format!("the CA refused to deactivate the account: {e}"),
                hint: format!(
                    "it may be deactivated already; move {} aside so the next run registers a new account",
                    stored.dir.display()
                ),
                code: ExitCode::Ca,
            }
        } else {
            e.into()
        }
    })?;
    let moved_to = move_aside(store, &stored.dir, OffsetDateTime::now_utc()).map_err(|e| {
        IssueError::Command {
            message: format!("the account is deactivated at the CA, but {e}"),
            hint: format!(
                "move {} aside by hand so the next run registers a new account",
                stored.dir.display()
            ),
            code: ExitCode::Store,
        }
    })?;
    Ok(Deactivated {
        url: stored.record.url.clone(),
        status: state.status.as_str().to_string(),
        moved_to,
    })
}

/// Rename `<dir>` to `<dir>.deactivated-<time>` (with a suffix if that exists).
fn move_aside(store: &Store, dir: &Path, now: OffsetDateTime) -> Result<PathBuf, IssueError> {
    let base = format!(
        "{}.deactivated-{}",
        dir.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("default"),
        file_stamp(now)
    );
    let parent = dir.parent().unwrap_or(Path::new("."));
    let mut target = parent.join(&base);
    let mut n = 1;
    while store.exists(&target)? {
        n += 1;
        target = parent.join(format!("{base}.{n}"));
    }
    store.rename(dir, &target)?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn move_aside_keeps_both_when_the_name_is_taken() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let now = OffsetDateTime::now_utc();
        let store = Store::open(tmp.path()).expect("open");
        let a = store.root().join("default");
        fs::create_dir(&a).expect("mkdir");
        let first = move_aside(&store, &a, now).expect("move");
        fs::create_dir(&a).expect("mkdir");
        let second = move_aside(&store, &a, now).expect("move");
        assert!(first.exists() && second.exists() && !a.exists());
        assert_ne!(first, second);
        assert!(
            first
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("default.deactivated-2"))
        );
    }

    #[test]
    fn key_types_round_trip() {
        for t in [
            AccountKeyType::EcdsaP256,
            AccountKeyType::EcdsaP384,
            AccountKeyType::Ed25519,
        ] {
            let k = AccountKey::generate(t).expect("key");
            assert_eq!(key_type_of(&k), t);
        }
    }
}
