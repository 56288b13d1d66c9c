//! Accounts (RFC 8555 §7.3): create, find by key, update, deactivate, key rollover.

use std::fmt;
use std::sync::{Arc, RwLock};

use serde_json::json;
use tracing::{debug, info};

use crate::client::{AcmeClient, Repeat};
use crate::eab::Eab;
use crate::error::{Error, Result};
use crate::http::{JSON_LIMIT, Response};
use crate::jws::{self, KeyRef};
use crate::key::AccountKey;
use crate::types::AccountState;

/// What to send in a `newAccount` request (RFC 8555 §7.3).
#[derive(Debug, Clone, Default)]
pub struct NewAccount {
    /// Contact addresses: `mailto:` URLs, or bare e-mail addresses (prefixed for you).
    pub contact: Vec<String>,
    /// Agree to the CA's terms of service (`meta.termsOfService`).
    pub terms_of_service_agreed: bool,
    /// External account binding, when the CA requires it (§7.3.4).
    pub eab: Option<Eab>,
    /// Only look up the account for this key; never create one (§7.3.1).
    pub only_return_existing: bool,
}

/// An ACME account: client, key and account URL (`kid`). Cheap to clone and share
/// between many concurrent orders.
#[derive(Clone)]
pub struct Account {
    inner: Arc<AccountInner>,
}

struct AccountInner {
    client: AcmeClient,
    url: String,
    /// Behind a lock so a key rollover reaches every clone.
    key: RwLock<AccountKey>,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("url", &self.inner.url)
            .field("key", &self.key())
            .finish()
    }
}

/// A newAccount refusal that is about the binding we sent becomes [`Error::EabRejected`]:
/// `unauthorized` (unknown key id, wrong HMAC: RFC 8555 §7.3.4 steps 3–4),
/// `externalAccountRequired` (binding sent but not accepted), or `malformed` naming the
/// binding.
fn eab_rejection(e: Error, key_id: &str) -> Error {
    use crate::problem::ProblemType as P;
    let Error::Problem(problem) = e else {
        return e;
    };
    let about_binding = match problem.problem_type {
        P::Unauthorized | P::ExternalAccountRequired => true,
        P::Malformed => problem.detail.as_deref().is_some_and(|d| {
            let d = d.to_ascii_lowercase();
            ["external account", "binding", "eab", "mac", "kid"]
                .iter()
                .any(|w| d.contains(w))
        }),
        _ => false,
    };
    if about_binding {
        Error::EabRejected {
            key_id: key_id.to_owned(),
            problem,
        }
    } else {
        Error::Problem(problem)
    }
}

/// Turn bare e-mail addresses into `mailto:` URLs.
fn contact_urls(contact: &[String]) -> Vec<String> {
    contact
        .iter()
        .map(|c| {
            if c.contains(':') {
                c.clone()
            } else {
                format!("mailto:{c}")
            }
        })
        .collect()
}

impl AcmeClient {
    /// Create an account, or find the existing one for this key (RFC 8555 §7.3, §7.3.1).
    ///
    /// With `only_return_existing`, a missing account is the problem `accountDoesNotExist`.
    pub async fn new_account(&self, key: AccountKey, req: &NewAccount) -> Result<Account> {
        let url = self.directory().new_account.clone();
        let mut payload = serde_json::Map::new();
        if req.only_return_existing {
            payload.insert("onlyReturnExisting".into(), json!(true));
        } else {
            payload.insert(
                "termsOfServiceAgreed".into(),
                json!(req.terms_of_service_agreed),
            );
            if !req.contact.is_empty() {
                payload.insert("contact".into(), json!(contact_urls(&req.contact)));
            }
            if let Some(eab) = &req.eab {
                let binding = eab.binding(&key.public_jwk(), &url);
                payload.insert(
                    "externalAccountBinding".into(),
                    serde_json::to_value(binding).map_err(|e| Error::Eab(e.to_string()))?,
                );
            }
        }
        let body = serde_json::Value::Object(payload).to_string();
        // newAccount is idempotent per key (an existing account is returned), so it may be
        // repeated — except with EAB, where some CAs accept each binding only once.
        let repeat = if req.eab.is_some() {
            Repeat::Once
        } else {
            Repeat::Safe
        };
        let resp = self
            .post(
                key.signing_key(),
                KeyRef::Jwk,
                &url,
                body.as_bytes(),
                repeat,
                JSON_LIMIT,
            )
            .await
            .map_err(|e| match &req.eab {
                Some(eab) => eab_rejection(e, eab.kid()),
                None => e,
            })?;
        let account_url = resp.location()?;
        if resp.status == 201 {
            info!(account = %account_url, "created ACME account");
        } else {
            debug!(account = %account_url, "found existing ACME account");
        }
        Ok(self.account(key, account_url))
    }

    /// Find the account bound to `key` without creating one (`onlyReturnExisting`).
    pub async fn find_account(&self, key: AccountKey) -> Result<Account> {
        let req = NewAccount {
            only_return_existing: true,
            ..Default::default()
        };
        self.new_account(key, &req).await
    }

    /// An account from a stored key and URL, without a request.
    pub fn account(&self, key: AccountKey, url: impl Into<String>) -> Account {
        Account {
            inner: Arc::new(AccountInner {
                client: self.clone(),
                url: url.into(),
                key: RwLock::new(key),
            }),
        }
    }
}

impl Account {
    /// The account URL (the JWS `kid`).
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The current account key.
    pub fn key(&self) -> AccountKey {
        match self.inner.key.read() {
            Ok(k) => k.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The client this account talks through.
    pub fn client(&self) -> &AcmeClient {
        &self.inner.client
    }

    /// POST (or POST-as-GET when `payload` is empty) signed with the account key and `kid`.
    pub(crate) async fn post(
        &self,
        url: &str,
        payload: &[u8],
        repeat: Repeat,
        limit: usize,
    ) -> Result<Response> {
        let key = self.key();
        self.inner
            .client
            .post(
                key.signing_key(),
                KeyRef::Kid(&self.inner.url),
                url,
                payload,
                repeat,
                limit,
            )
            .await
    }

    /// Fetch the account object (POST-as-GET, §7.3).
    pub async fn state(&self) -> Result<AccountState> {
        self.post(self.url(), b"", Repeat::Safe, JSON_LIMIT)
            .await?
            .json()
    }

    /// Replace the contact addresses (§7.3.2).
    pub async fn update_contacts(&self, contact: &[String]) -> Result<AccountState> {
        let body = json!({ "contact": contact_urls(contact) }).to_string();
        self.post(self.url(), body.as_bytes(), Repeat::Safe, JSON_LIMIT)
            .await?
            .json()
    }

    /// Deactivate the account for good (§7.3.6); later requests fail with `unauthorized`.
    pub async fn deactivate(&self) -> Result<AccountState> {
        let body = json!({ "status": "deactivated" }).to_string();
        // Not repeated: a second attempt after a lost success would fail as unauthorized.
        let state = self
            .post(self.url(), body.as_bytes(), Repeat::Once, JSON_LIMIT)
            .await?
            .json()?;
        info!(account = %self.url(), "deactivated ACME account");
        Ok(state)
    }

    /// Replace the account key (§7.3.5). Every clone of this account uses the new key
    /// afterwards; requests already in flight with the old key may fail.
    pub async fn rollover(&self, new_key: AccountKey) -> Result<()> {
        let old_key = self.key();
        let url = self.client().directory().key_change.clone();
        // Inner JWS: signed by the new key, `jwk` header, no nonce.
        let inner_payload = json!({ "account": self.url(), "oldKey": old_key.public_jwk() });
        let inner = jws::sign(
            new_key.signing_key(),
            KeyRef::Jwk,
            None,
            &url,
            inner_payload.to_string().as_bytes(),
        )?;
        let body = serde_json::to_vec(&inner).map_err(|e| Error::Key(e.to_string()))?;
        self.post(&url, &body, Repeat::Once, JSON_LIMIT).await?;
        match self.inner.key.write() {
            Ok(mut k) => *k = new_key,
            Err(poisoned) => *poisoned.into_inner() = new_key,
        }
        info!(account = %self.url(), "rolled over the account key");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_emails_become_mailto() {
        assert_eq!(
            contact_urls(&["a@example.org".into(), "mailto:b@example.org".into()]),
            vec!["mailto:a@example.org", "mailto:b@example.org"]
        );
    }
}
