//! Certificate lifecycle for wildcert, as stages that import in one direction:
//!
//! - [`settings`] (the file model) → [`config`] (settings + command-line overrides → a
//!   [`RunConfig`], and the one function turning a certificate's settings into an
//!   [`IssueRequest`]) → [`model`] (requests, results, timings);
//! - [`store`], [`journal`], [`verify`] (the state directory) → [`account`] (including the
//!   recovery of an interrupted key rollover) → [`providers`] (the registry);
//! - [`issue`] (preflight → order → solve → finish) → [`renew`] (plan, run) → [`hooks`];
//! - [`import`] (certbot's and lego's state into the store);
//! - [`commands`] (list, show, revoke, delete, account) and [`check`] (the report only);
//! - [`session`]: every command, over one store per run (journal recovery, signals, deploy
//!   hooks, dry runs, the `renew --until-next` schedule, the one `check` flow);
//! - [`validate`]: the whole config checked before any command runs (`wildcert config check`);
//! - [`report`]: every `--json` document, converted from the types above, and the
//!   [`ExitCode`].
//!
//! The CLI parses flags, calls the [`session::Session`] and prints [`report`] documents (or
//! human text); its exit code is a [`report::ExitCode`].

pub mod account;
pub mod check;
pub mod commands;
pub mod config;
pub mod error;
pub mod hooks;
pub mod import;
pub mod install;
pub mod issue;
pub mod journal;
pub mod metrics;
pub mod model;
pub mod persist;
pub mod providers;
pub mod renew;
pub mod report;
pub mod session;
pub mod settings;
pub mod store;
pub mod sync;
pub mod validate;
pub mod verify;

pub use config::{Loaded, Overrides, RunConfig, request_for};
pub use error::{ExitCode, IssueError};
pub use issue::issue;
pub use model::{IssueRequest, Issued, NamedProvider, Names};
