//! wildcert-acme: a typed, async RFC 8555 (ACME) client for DNS-01 issuance.
//!
//! One [`AcmeClient`] per CA holds the HTTP/2 client, the directory and a shared nonce pool;
//! an [`Account`] (cheap to clone) creates and drives orders concurrently:
//! [`Account::new_order`] → [`Account::authorizations`] → publish
//! [`Account::dns01_txt_value`] at `_acme-challenge.<name>` → [`Account::respond`] →
//! [`Account::wait_authorization`] → [`Account::finalize`] → [`Account::wait_order_valid`] →
//! [`Account::download_certificate`]. This crate knows nothing about DNS.

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
mod jws;
mod key;
mod nonce;
mod order;
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
pub use error::{Error, Problem, ProblemType, Result, Subproblem};
pub use key::{AccountKey, AccountKeyType, JwsAlgorithm, MacAlgorithm};
pub use order::{Authorization, NewOrderOptions, Order};
pub use revoke::{RevocationReason, RevokeWith};
pub use types::{
    AccountState, AccountStatus, AuthorizationState, AuthorizationStatus, Challenge,
    ChallengeStatus, ChallengeType, Identifier, OrderState, OrderStatus,
};

/// Re-exported so callers can build deadlines without naming tokio themselves.
pub use tokio::time::Instant;
