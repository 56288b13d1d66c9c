//! The ACME account kept in the store: `accounts/<ca-host>/default/{account.json,key.pem}`,
//! created on first use (RFC 8555 §7.3), and the recovery of a key rollover (§7.3.5) that was
//! interrupted between the CA's answer and the rename on disk.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tracing::{info, warn};
use wildcert_acme::{
    Account, AccountKey, AccountKeyType, AcmeClient, Eab, NewAccount, ProblemType,
};

use crate::error::IssueError;
use crate::store::{Storage, StorageExt, Store, account_key, account_prefix};

/// Name of the account key while a rollover is in flight (RFC 8555 §7.3.5).
pub(crate) const NEW_KEY: &str = "key.pem.new";

/// What `account.json` records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountRecord {
    /// The account URL (`kid`).
    pub url: String,
    /// The directory URL of the CA.
    pub directory: String,
    /// Contact addresses given at registration.
    #[serde(default)]
    pub contact: Vec<String>,
    /// RFC 3339 creation time.
    #[serde(default)]
    pub created: Option<String>,
}

/// How to create an account when none is stored.
#[derive(Debug, Clone, Default)]
pub struct AccountOptions {
    /// Contact e-mail.
    pub email: Option<String>,
    /// The user agreed to the terms of service.
    pub agree_tos: bool,
    /// External account binding.
    pub eab: Option<Eab>,
}

/// `<ca-host>` for a directory URL: host, plus `_port` when not 443.
pub fn ca_dir_name(directory_url: &str) -> String {
    let rest = directory_url.split("://").nth(1).unwrap_or(directory_url);
    let authority = rest.split('/').next().unwrap_or(rest);
    let cleaned: String = authority
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    cleaned.trim_end_matches("_443").to_string()
}

/// The account directory for this CA.
pub fn account_dir(store: &Store, client: &AcmeClient) -> Result<PathBuf, IssueError> {
    Ok(store.account_dir(&ca_dir_name(client.directory_url()), "default")?)
}

/// The store key of `file` in the account of the CA at `directory_url`.
pub(crate) fn account_file(directory_url: &str, file: &str) -> Result<String, IssueError> {
    Ok(account_key(&ca_dir_name(directory_url), "default", file)?)
}

/// The stored account of the CA at `directory_url`, if any.
pub(crate) fn stored_record(store: &Store, directory_url: &str) -> Option<AccountRecord> {
    let key = account_file(directory_url, "account.json").ok()?;
    store.load_json(&key).ok().flatten()
}

/// Load the stored account for this CA, or register a new one (RFC 8555 §7.3).
pub async fn load_or_create(
    store: &Store,
    client: &AcmeClient,
    opts: &AccountOptions,
) -> Result<Account, IssueError> {
    let url = client.directory_url();
    let key_path = account_file(url, "key.pem")?;
    let rec_path = account_file(url, "account.json")?;
    let _lock = store
        .lock(
            &format!("account-{}", ca_dir_name(client.directory_url())),
            std::time::Duration::from_secs(30),
        )
        .await?;
    // A key rollover interrupted between the CA's answer and the rename on disk: settle it
    // (switch to the key the CA holds) before the key is used.
    if store.load(&account_file(url, NEW_KEY)?)?.is_some() {
        finish_interrupted_rollover(store, client).await?;
    } else {
        remove_backups(store, url);
    }
    if let (Some(rec), Some(pem)) = (
        store.load_json::<AccountRecord>(&rec_path)?,
        store.load_string(&key_path)?,
    ) {
        let key = AccountKey::from_pem(&pem).map_err(IssueError::Acme)?;
        return Ok(client.account(key, rec.url));
    }
    let meta = &client.directory().meta;
    if let Some(tos) = &meta.terms_of_service
        && !opts.agree_tos
    {
        return Err(IssueError::TermsNotAgreed(tos.clone()));
    }
    if meta.external_account_required && opts.eab.is_none() {
        return Err(IssueError::EabRequired);
    }
    // A key left by an earlier, interrupted registration is reused: the CA then returns the
    // same account instead of creating a second one.
    let key = match store.load_string(&key_path)? {
        Some(pem) => AccountKey::from_pem(&pem).map_err(IssueError::Acme)?,
        None => {
            let key = AccountKey::generate(AccountKeyType::default()).map_err(IssueError::Acme)?;
            store.save(&key_path, key.to_pem().as_bytes(), true)?;
            key
        }
    };
    let contact: Vec<String> = opts.email.iter().cloned().collect();
    let req = NewAccount {
        contact: contact.clone(),
        terms_of_service_agreed: opts.agree_tos,
        eab: opts.eab.clone(),
        only_return_existing: false,
    };
    let account = client
        .new_account(key, &req)
        .await
        .map_err(IssueError::Acme)?;
    let rec = AccountRecord {
        url: account.url().to_string(),
        directory: client.directory_url().to_string(),
        contact,
        created: Some(crate::verify::rfc3339(time::OffsetDateTime::now_utc())),
    };
    store.save_json(&rec_path, &rec, true)?;
    tracing::debug!(account = %account.url(), "account stored");
    Ok(account)
}

/// Finish a rollover that was interrupted after `key.pem.new` was written: if the CA holds
/// the new key, switch to it; if not, drop it. Returns what was done.
pub(crate) async fn finish_interrupted_rollover(
    store: &Store,
    client: &AcmeClient,
) -> Result<Option<&'static str>, IssueError> {
    let url = client.directory_url();
    let new_path = account_file(url, NEW_KEY)?;
    let Some(pem) = store.load_string(&new_path)? else {
        // No rollover in flight: a copy of an old key left by one killed after its rename is
        // a private key nobody needs.
        remove_backups(store, url);
        return Ok(None);
    };
    let Some(record) = store.load_json::<AccountRecord>(&account_file(url, "account.json")?)?
    else {
        return Ok(None);
    };
    let Ok(new_key) = AccountKey::from_pem(&pem) else {
        let _ = store.delete(&new_path);
        return Ok(Some("undone"));
    };
    let outcome = match client.find_account(new_key).await {
        Ok(acc) if acc.url() == record.url => {
            store.replace(&new_path, &account_file(url, "key.pem")?)?;
            warn!("finished an interrupted account key rollover: the CA holds the new key");
            "completed"
        }
        Ok(_) => {
            let _ = store.delete(&new_path);
            "undone"
        }
        Err(e)
            if e.is_problem(&ProblemType::AccountDoesNotExist)
                || e.is_problem(&ProblemType::Unauthorized) =>
        {
            let _ = store.delete(&new_path);
            warn!(
                "dropped the key of an interrupted account key rollover: the CA kept the old key"
            );
            "undone"
        }
        Err(e) => return Err(e.into()),
    };
    remove_backups(store, url);
    Ok(Some(outcome))
}

/// Remove every `key.pem.old-<time>` (copies of replaced account keys) of the account of the
/// CA at `directory_url`.
fn remove_backups(store: &Store, directory_url: &str) {
    let Ok(dir) = account_prefix(&ca_dir_name(directory_url), "default") else {
        return;
    };
    for n in Storage::list(store, &dir).unwrap_or_default() {
        if n.starts_with("key.pem.old-") {
            let removed = account_file(directory_url, &n).and_then(|k| Ok(store.delete(&k)?));
            match removed {
                Ok(()) => info!("removed {n}, a copy of a replaced account key"),
                Err(e) => warn!("cannot remove {n}, a copy of a replaced account key: {e}"),
            }
        }
    }
}

/// `20261128T182719Z`: a time usable in file names.
pub(crate) fn file_stamp(t: OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_dir_names() {
        assert_eq!(
            ca_dir_name("https://acme-v02.api.letsencrypt.org/directory"),
            "acme-v02.api.letsencrypt.org"
        );
        assert_eq!(
            ca_dir_name("https://127.0.0.1:14000/dir"),
            "127.0.0.1_14000"
        );
        assert_eq!(ca_dir_name("https://[::1]:14000/dir"), "___1__14000");
    }
}
