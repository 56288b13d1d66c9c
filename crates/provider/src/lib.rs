//! The SDK a wildcert DNS provider compiles against, and nothing else.
//!
//! - [`name`]: validated, normalised DNS names and certificate identifiers.
//! - [`record`]: TXT record sets grouped by zone, the unit every provider publishes.
//! - [`error`]: [`ProviderError`], carrying the provider's [`Kind`] and with it its own hints.
//! - [`provider`]: the [`DnsProvider`] seam every DNS back end implements.
//! - [`settings`]: [`Secret`] and the parsers and file readers provider settings share.
//! - [`ini`]: the certbot credentials file format.
//! - [`spec`]: a provider declared once ([`Spec`], `#[derive(LayeredSettings)]`,
//!   [`Registration`]): layering (section < certbot file < environment), docs, hints.
//! - [`api`]: [`api::JsonApi`], a JSON HTTP API through the retry policy, errors mapped by
//!   status.
//! - [`http`]: the one HTTP client and retry policy of the HTTP providers (429 with
//!   `Retry-After`, 5xx, transport errors; jittered, bounded, a run-wide rate-limit budget).
//!
//! `docs/providers/writing-a-provider.md` walks through writing a provider with it.

pub mod api;
pub mod error;
pub mod http;
pub mod ini;
pub mod name;
pub mod provider;
pub mod record;
pub mod settings;
pub mod spec;

pub use error::{Hints, Kind, ProviderError};
pub use name::{DnsName, Identifier, NameError};
pub use provider::{Applied, DnsProvider, ProviderTuning, ZoneCache, ZoneLocks};
pub use record::{ChallengeRecord, Change, TxtSet, Zone};
pub use settings::Secret;
pub use spec::{BuildContext, Layered, LayeredSettings, Registration, Setting, Spec, Type};
/// `#[derive(LayeredSettings)]`: the settings struct and its [`Spec`] from one declaration.
pub use wildcert_provider_derive::LayeredSettings;
