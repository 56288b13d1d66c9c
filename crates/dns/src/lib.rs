//! The DNS-01 layer of wildcert.
//!
//! - [`name`]: validated, normalised DNS names and certificate identifiers.
//! - [`record`]: TXT record sets grouped by zone, the unit every provider publishes.
//! - [`provider`]: the [`DnsProvider`] seam every DNS back end implements.
//! - [`http`]: the one HTTP client and retry policy of the HTTP providers (429 with
//!   `Retry-After`, 5xx, transport errors; jittered, bounded, a run-wide rate-limit budget).
//! - [`query`]: raw, uncached DNS exchanges with one server (UDP, TCP on truncation).
//! - [`discovery`]: zone apex (SOA walk), nameservers and their addresses, CNAME delegation.
//! - [`caa`]: CAA (RFC 8659/8657): the relevant record set and whether a CA may issue, and the
//!   gate before every order.
//! - [`diagnose`]: the probes `wildcert check` reports on (SOA per server, NS sets, the
//!   resolvers' view).
//! - [`propagation`]: the [`PropagationChecker`] over every authoritative address.
//! - [`persist`]: dns-persist-01 records: build the value and zone-file line, judge served
//!   values, ask every authoritative server.
//! - [`solver`]: [`Dns01`], the pipeline the manager drives (plan, publish, wait, cleanup).
//! - [`spec`]: a provider declared once ([`Spec`], [`Registration`]): layering, docs, hints.
//! - [`settings`]: [`Secret`], [`LayeredSettings`] and the parsers shared by
//!   provider settings.
//!
//! Data flow (see DESIGN.md): ACME hands us `ChallengeRecord`s, we follow CNAME delegation,
//! group the records by zone, publish each zone's set once, wait until every authoritative
//! nameserver serves every value, and remove exactly what we added afterwards.

pub mod caa;
pub mod diagnose;
pub mod discovery;
pub mod http;
pub mod name;
pub mod persist;
pub mod propagation;
pub mod provider;
pub mod query;
pub mod record;
pub mod settings;
pub mod solver;
pub mod spec;

pub use caa::{CaaLookup, CaaPolicy, CaaRecord, CaaReport, CaaResolver, CaaSet, CaaVerdict};
pub use discovery::{AuthServer, Delegation, Discovery, DiscoveryError};
pub use persist::{
    PersistMatch, PersistRecord, PersistReport, PersistRequirement, PersistServerReport,
    PersistServerState, PersistVerdict,
};
pub use propagation::{
    CheckTarget, CheckerSettings, PollSchedule, PropagationChecker, PropagationError,
    PropagationProgress, PropagationReport, ServerState, ServerVerdict,
};
pub use settings::{LayeredSettings, Secret};
pub use solver::{
    CleanupError, Dns01, Dns01Error, DnsSettings, ExplicitSettings, Plan, PlannedZone, Published,
};
pub use spec::{Registration, Setting, Spec, Type};

pub use name::{DnsName, Identifier, NameError};
pub use provider::{Applied, DnsProvider, ProviderError, ProviderTuning, ZoneCache};
pub use record::{ChallengeRecord, TxtSet, Zone};
