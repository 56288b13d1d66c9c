//! The commands over what a run left behind: the certificates in the store ([`certs`]:
//! `list`, `show`, `revoke`) and the ACME account ([`account`]: register, show, rollover,
//! deactivate), and moving the store between the filesystem and PostgreSQL ([`migrate`]).

pub mod account;
pub mod certs;
pub mod migrate;
pub mod rotate;

pub use account::{
    ACCOUNT_LOCK_WAIT, AccountAtCa, AccountInfo, Deactivated, KeyInfo, RolledOver,
    account_deactivate, account_register, account_rollover, account_show, key_type_of,
};
pub use certs::{
    CertDetails, CertSummary, Deleted, LiveCert, RenewalSource, RenewalState, Revoked, delete,
    list, parse_reason, revoke, show,
};
