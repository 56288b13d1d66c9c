//! wildcert-acme: a typed, async RFC 8555 (ACME) client for DNS-01 issuance.
//!
//! One [`AcmeClient`] per CA holds the HTTP/2 client, the directory and a shared nonce pool;
//! an [`Account`] (cheap to clone) creates and drives orders concurrently:
//! [`Account::new_order`] → [`Account::authorizations`] → publish
//! [`Account::dns01_txt_value`] at `_acme-challenge.<name>` → [`Account::respond`] →
//! [`Account::wait_authorization`] → [`Account::finalize`] → [`Account::wait_order_valid`] →
//! [`Account::download_certificate`]. This crate knows nothing about DNS.
//!
//! ```no_run
//! # async fn run() -> wildcert_acme::Result<()> {
//! use std::time::Duration;
//! use wildcert_acme::*;
//!
//! let client = AcmeClient::new(ClientConfig::new("https://acme-staging-v02.api.letsencrypt.org/directory")).await?;
//! let key = AccountKey::generate(AccountKeyType::EcdsaP256)?;
//! let account = client
//!     .new_account(key, &NewAccount { contact: vec!["me@example.com".into()], terms_of_service_agreed: true, ..Default::default() })
//!     .await?;
//! let names = vec!["*.example.com".to_owned(), "example.com".to_owned()];
//! let order = account.new_order(&names, &NewOrderOptions::default()).await?;
//! let deadline = Instant::now() + Duration::from_secs(300);
//! let authzs = account.authorizations(&order).await?;
//! for a in &authzs {
//!     let value = account.dns01_txt_value(a.require_dns01()?)?;
//!     // publish TXT `value` at `a.dns01_record_name()` and wait for propagation …
//! }
//! for a in &authzs {
//!     account.respond(a.require_dns01()?).await?;
//! }
//! for a in &authzs {
//!     account.wait_authorization(&a.url, deadline).await?;
//! }
//! let order = account.wait_order_ready(&order.url, deadline).await?;
//! let cert_key = CertKey::generate(CertKeyType::Ec256)?;
//! let order = account.finalize(&order, &cert_key).await?;
//! let order = account.wait_order_valid(&order.url, deadline).await?;
//! let chain = account.download_certificate(&order, None).await?;
//! println!("{}", chain.fullchain_pem());
//! # Ok(()) }
//! ```

mod account;
mod ari;
mod certkey;
mod chain;
mod client;
mod csr;
mod directory;
mod eab;
mod error;
mod http;
mod identifier;
mod jws;
mod key;
mod method;
mod nonce;
mod order;
mod problem;
mod revoke;
mod types;

pub use account::{Account, NewAccount};
pub use ari::{CertId, RenewalInfo, SuggestedWindow};
pub use certkey::{CertKey, CertKeyType};
pub use chain::{CertificateChain, select_chain};
pub use client::{AcmeClient, ClientConfig};
pub use csr::csr_der;
pub use directory::{Directory, DirectoryMeta};
pub use eab::Eab;
pub use error::{Error, Result, TransportKind};
pub use identifier::Identifier;
pub use key::{AccountKey, AccountKeyType, JwsAlgorithm, MacAlgorithm};
pub use method::{
    ACME_CHALLENGE_LABEL, PERSIST_LABEL, PersistChallenge, ValidationMethod, dns_account_label,
};
pub use order::{Authorization, AuthzDeactivation, ChainWarning, NewOrderOptions, Order};
pub use problem::{Problem, ProblemType, Subproblem};
pub use revoke::{RevocationReason, RevokeWith};
pub use types::{
    AccountState, AccountStatus, AuthorizationState, AuthorizationStatus, Challenge,
    ChallengeStatus, ChallengeType, OrderState, OrderStatus,
};

/// Re-exported so callers can build deadlines without naming tokio themselves.
pub use tokio::time::Instant;
