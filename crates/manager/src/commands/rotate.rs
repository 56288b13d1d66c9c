//! `wildcert store rotate-key --new-key-file FILE`: re-seal every private key in the PostgreSQL
//! store with a new data key, in one transaction (a dump taken before then holds only keys
//! sealed with the old one).

use std::path::{Path, PathBuf};

use crate::config::RunConfig;
use crate::error::IssueError;
use crate::settings::SettingsError;
use crate::store::StoreError;
use crate::store::pg::{Access, DataKey, PgConfig, PgStore, PgStoreError};

/// What a rotation did.
#[derive(Debug, Clone)]
pub struct Rotated {
    /// Sealed objects re-sealed with the new key.
    pub resealed: u64,
    /// Id of the data key they were sealed with.
    pub old_id: String,
    /// Id of the new data key.
    pub new_id: String,
    /// The data key file in use until now (`[store] key_file`).
    pub old_key_file: PathBuf,
    /// The new data key file (created, 0600, when it was missing).
    pub new_key_file: PathBuf,
}

/// Re-seal every sealed object of the configured PostgreSQL store with the key in
/// `new_key_file` (created when missing). The old key must open what is stored.
pub async fn rotate_key(cfg: &RunConfig, new_key_file: &Path) -> Result<Rotated, IssueError> {
    let Some(url) = &cfg.store.url else {
        return Err(IssueError::Settings(SettingsError::Value {
            key: "store.url".into(),
            message: "`store rotate-key` re-seals the keys in the PostgreSQL store: set [store] url (or WILDCERT_STORE_URL); a state directory holds its keys as 0600 files".into(),
        }));
    };
    let pg = |e: PgStoreError| IssueError::from(StoreError::from(e));
    let old_key_file = cfg.store.key_file_in(&cfg.state_dir);
    if same_file(&old_key_file, new_key_file) {
        return Err(IssueError::Settings(SettingsError::Value {
            key: "--new-key-file".into(),
            message: format!(
                "{} is the key in use ([store] key_file): give a new file",
                new_key_file.display()
            ),
        }));
    }
    let old = DataKey::load(&old_key_file).map_err(pg)?;
    let new = DataKey::load_or_create(new_key_file).map_err(pg)?;
    let config = PgConfig::from_url(Some(url.expose())).map_err(pg)?;
    let store = PgStore::connect_as(
        &config,
        Some(DataKey::load(&old_key_file).map_err(pg)?),
        Access::Write,
    )
    .await
    .map_err(pg)?;
    // The old key must be the one the store's keys are sealed with (or, after an interrupted
    // rotation that committed, the new one: nothing left to do then).
    if let Err(e) = store.check_data_key().await {
        let again = PgStore::connect_as(
            &config,
            Some(DataKey::load(new_key_file).map_err(pg)?),
            Access::Write,
        )
        .await
        .map_err(pg)?;
        again.check_data_key().await.map_err(|_| pg(e))?;
    }
    let resealed = store.rotate(&old, &new).await.map_err(pg)?;
    Ok(Rotated {
        resealed,
        old_id: old.id(),
        new_id: new.id(),
        old_key_file,
        new_key_file: new_key_file.to_path_buf(),
    })
}

/// Whether `a` and `b` name one file (the same inode), or the same path when either is missing.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => a == b,
    }
}
