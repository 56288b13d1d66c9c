//! `wildcert renew`: issue what is missing, renew what is due, skip the rest quickly.
//! [`plan`] decides offline from `meta.json`; [`run`] refreshes ARI where due and issues the
//! due certificates in one run of the issuance stages.

pub mod plan;
pub mod run;

pub use plan::{Decision, cert_name, decide};
pub use run::{
    ARI_DEFAULT_RECHECK, Outcome, OwedPostHook, RenewOptions, RenewOutcome, RenewRound,
    recorded_requests, recorded_settings, renew,
};
