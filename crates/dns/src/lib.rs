//! The DNS-01 layer of wildcert.
//!
//! The provider-facing pieces (names, TXT sets, the [`DnsProvider`] seam, errors, settings,
//! specs, the HTTP client) live in the provider SDK, `wildcert-provider`; they are re-exported
//! here under the same paths for the engine's users.
//!
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
//!
//! Data flow (see DESIGN.md): ACME hands us `ChallengeRecord`s, we follow CNAME delegation,
//! group the records by zone, publish each zone's set once, wait until every authoritative
//! nameserver serves every value, and remove exactly what we added afterwards.

pub mod caa;
pub mod diagnose;
pub mod discovery;
pub mod persist;
pub mod propagation;
pub mod query;
pub mod reach;
pub mod solver;

pub use wildcert_provider::{error, http, ini, name, provider, record, settings, spec};

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
pub use reach::ReachError;
pub use solver::{
    CleanupError, Dns01, Dns01Error, DnsSettings, ExplicitSettings, Plan, PlannedZone, Published,
};
pub use wildcert_provider::{
    Applied, ChallengeRecord, DnsName, DnsProvider, Hints, Identifier, Kind, NameError,
    ProviderError, ProviderTuning, Registration, Setting, Spec, TxtSet, Type, Zone, ZoneCache,
};
pub use wildcert_provider::{LayeredSettings, Secret};
