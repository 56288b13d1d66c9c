//! Certificate lifecycle for wildcert: settings, the issuance pipeline (ACME + DNS), the
//! on-disk store, the journal and the provider registry.

pub mod account;
pub mod admin;
pub mod check;
pub mod error;
pub mod hooks;
pub mod issue;
pub mod journal;
pub mod pipeline;
pub mod providers;
pub mod renew;
pub mod settings;
pub mod store;
pub mod verify;

pub use error::IssueError;
pub use issue::{IssueRequest, Issued, RunConfig, issue};
