//! The documents of `account register|show|rollover|deactivate`.

use std::path::PathBuf;

use serde::Serialize;

use crate::commands::{AccountAtCa as CaState, AccountInfo, Deactivated, KeyInfo, RolledOver};

/// `account register|show --json`: `{"ok": true, "account": …}`.
#[derive(Debug, Clone, Serialize)]
pub struct AccountDoc {
    /// Always true.
    pub ok: bool,
    /// The account.
    pub account: Account,
}

impl From<&AccountInfo> for AccountDoc {
    fn from(a: &AccountInfo) -> Self {
        AccountDoc {
            ok: true,
            account: a.into(),
        }
    }
}

/// The ACME account.
#[derive(Debug, Clone, Serialize)]
pub struct Account {
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
    pub key: AccountKey,
    /// The CA's terms of service, when it has some.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terms_of_service: Option<String>,
    /// The account was created by this command (`register` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered_now: Option<bool>,
    /// The account as the CA sees it.
    pub ca: AccountAtCa,
    /// An interrupted key rollover this command finished (`completed` or `undone`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovered_rollover: Option<&'static str>,
}

impl From<&AccountInfo> for Account {
    fn from(a: &AccountInfo) -> Self {
        Account {
            url: a.url.clone(),
            directory: a.directory.clone(),
            contact: a.contact.clone(),
            created: a.created.clone(),
            dir: a.dir.clone(),
            key: (&a.key).into(),
            terms_of_service: a.terms_of_service.clone(),
            registered_now: a.registered_now,
            ca: (&a.ca).into(),
            recovered_rollover: a.recovered_rollover,
        }
    }
}

/// The account key, described without its secret.
#[derive(Debug, Clone, Serialize)]
pub struct AccountKey {
    /// JWS algorithm (`ES256`).
    pub algorithm: String,
    /// Key type name (`ec256`, …).
    pub key_type: String,
    /// RFC 7638 thumbprint of the public key.
    pub thumbprint: String,
}

impl From<&KeyInfo> for AccountKey {
    fn from(k: &KeyInfo) -> Self {
        AccountKey {
            algorithm: k.algorithm.clone(),
            key_type: k.key_type.clone(),
            thumbprint: k.thumbprint.clone(),
        }
    }
}

/// The account as the CA sees it.
#[derive(Debug, Clone, Serialize)]
pub struct AccountAtCa {
    /// `valid`, `deactivated` or `revoked`.
    pub status: String,
    /// Contact URLs the CA holds.
    pub contact: Vec<String>,
    /// Whether the terms of service were agreed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terms_of_service_agreed: Option<bool>,
}

impl From<&CaState> for AccountAtCa {
    fn from(c: &CaState) -> Self {
        AccountAtCa {
            status: c.status.clone(),
            contact: c.contact.clone(),
            terms_of_service_agreed: c.terms_of_service_agreed,
        }
    }
}

/// `account rollover --json`: `{"ok": true, "rollover": …}`.
#[derive(Debug, Clone, Serialize)]
pub struct RolloverDoc {
    /// Always true.
    pub ok: bool,
    /// The rollover.
    pub rollover: Rollover,
}

/// What `wildcert account rollover` did.
#[derive(Debug, Clone, Serialize)]
pub struct Rollover {
    /// The account URL (unchanged).
    pub url: String,
    /// The key before.
    pub old_key: AccountKey,
    /// The key now in `key.pem`.
    pub new_key: AccountKey,
    /// `key.pem`.
    pub key_path: PathBuf,
}

impl From<&RolledOver> for RolloverDoc {
    fn from(r: &RolledOver) -> Self {
        RolloverDoc {
            ok: true,
            rollover: Rollover {
                url: r.url.clone(),
                old_key: (&r.old_key).into(),
                new_key: (&r.new_key).into(),
                key_path: r.key_path.clone(),
            },
        }
    }
}

/// `account deactivate --json`: `{"ok": true, "deactivated": …}`.
#[derive(Debug, Clone, Serialize)]
pub struct DeactivateDoc {
    /// Always true.
    pub ok: bool,
    /// The deactivation.
    pub deactivated: Deactivation,
}

/// What `wildcert account deactivate` did.
#[derive(Debug, Clone, Serialize)]
pub struct Deactivation {
    /// The account URL.
    pub url: String,
    /// The status the CA reports now (`deactivated`).
    pub status: String,
    /// Where the account directory was moved.
    pub moved_to: PathBuf,
}

impl From<&Deactivated> for DeactivateDoc {
    fn from(d: &Deactivated) -> Self {
        DeactivateDoc {
            ok: true,
            deactivated: Deactivation {
                url: d.url.clone(),
                status: d.status.clone(),
                moved_to: d.moved_to.clone(),
            },
        }
    }
}
