//! The provider seam: every DNS back end (RFC 2136, Cloudflare, Route53, PowerDNS, exec)
//! implements [`DnsProvider`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::name::DnsName;
use crate::record::{TxtSet, Zone};

/// What a provider reports after a publish, so the pipeline can wait for it to be applied.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Applied {
    /// A provider-side change handle (Route53 change id), if the provider can report progress.
    pub change_id: Option<String>,
}

/// TTL and timing a provider's own settings ask for (lego's `*_TTL`, `*_PROPAGATION_TIMEOUT`,
/// `*_POLLING_INTERVAL`). The pipeline ([`crate::Dns01`]) uses each value that the run's own
/// settings ([`crate::DnsSettings`]) did not set explicitly; `None` leaves the run's value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProviderTuning {
    /// TTL of the published TXT records, in seconds.
    pub ttl: Option<u32>,
    /// Bound on the whole propagation wait.
    pub propagation_timeout: Option<Duration>,
    /// Pause between two polls of one nameserver once the fast first phase is over.
    pub polling_interval: Option<Duration>,
}

/// The zones a provider has found, by the name they were asked for: a lookup costs API calls
/// or queries, and one run asks about the same names again (publish, then cleanup).
#[derive(Debug, Default)]
pub struct ZoneCache(Mutex<HashMap<DnsName, Zone>>);

impl ZoneCache {
    /// The zone found for `fqdn` before, if any.
    pub fn get(&self, fqdn: &DnsName) -> Option<Zone> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(fqdn)
            .cloned()
    }

    /// Remember the zone of `fqdn`.
    pub fn insert(&self, fqdn: &DnsName, zone: &Zone) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(fqdn.clone(), zone.clone());
    }
}

/// A DNS back end that can add and remove TXT values.
///
/// Implementations must be *additive*: `publish` adds values to the RRset without removing
/// values that are already there (another certificate's token, a user's own record), and
/// `unpublish` deletes exactly the given values.
#[async_trait]
pub trait DnsProvider: Send + Sync {
    /// Short name of the provider kind, e.g. `rfc2136`.
    fn name(&self) -> &'static str;

    /// The zone holding `fqdn`, when the provider knows its zones better than DNS does
    /// (API listing, a configured zone). `None` means: discover it through DNS.
    async fn zone_for(&self, fqdn: &DnsName) -> Result<Option<Zone>, ProviderError> {
        let _ = fqdn;
        Ok(None)
    }

    /// Add every value of `set` to `zone`, in as few requests as the back end allows.
    async fn publish(&self, zone: &Zone, set: &TxtSet) -> Result<Applied, ProviderError>;

    /// Wait until a published change is live on the provider's side (Route53 `INSYNC`).
    /// The default returns at once: most back ends apply synchronously.
    async fn wait_applied(
        &self,
        applied: &Applied,
        timeout: Duration,
    ) -> Result<(), ProviderError> {
        let _ = (applied, timeout);
        Ok(())
    }

    /// Remove exactly the values of `set` from `zone`, leaving other values alone.
    async fn unpublish(&self, zone: &Zone, set: &TxtSet) -> Result<(), ProviderError>;

    /// Where the credentials come from, one line and never a secret value (e.g.
    /// "web identity (AWS_ROLE_ARN)"), for `wildcert check`; `None` when there is nothing to say.
    fn credential_source(&self) -> Option<String> {
        None
    }

    /// TTL and timing asked for in the provider's own settings (see [`ProviderTuning`]).
    /// The default asks for nothing.
    fn tuning(&self) -> ProviderTuning {
        ProviderTuning::default()
    }
}

/// A provider failure, phrased for the person who has to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// Credentials were refused (bad token, TSIG key, signature).
    #[error("{provider}: credentials refused: {message}")]
    Auth {
        /// Provider kind.
        provider: &'static str,
        /// What the server said, secrets removed.
        message: String,
    },
    /// The server does not know the zone, or our credentials may not touch it.
    #[error("{provider}: zone `{zone}` not found or not writable: {message}")]
    ZoneNotFound {
        /// Provider kind.
        provider: &'static str,
        /// The zone asked for.
        zone: String,
        /// What the server said.
        message: String,
    },
    /// The server refused the change itself.
    #[error("{provider}: change refused: {message}")]
    Rejected {
        /// Provider kind.
        provider: &'static str,
        /// What the server said.
        message: String,
    },
    /// Rate limited; retry after the given delay if known.
    #[error("{provider}: rate limited{}", retry_after.map(|d| format!(" (retry after {} s)", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// Provider kind.
        provider: &'static str,
        /// The server's Retry-After, if any.
        retry_after: Option<Duration>,
    },
    /// The server could not be reached or did not answer in time.
    #[error("{provider}: cannot reach {target}: {message}")]
    Unreachable {
        /// Provider kind.
        provider: &'static str,
        /// Host, address or URL we tried.
        target: String,
        /// The transport error.
        message: String,
    },
    /// The provider's settings are incomplete or wrong.
    #[error("{provider}: bad settings: {message}")]
    Config {
        /// Provider kind.
        provider: &'static str,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// Anything else the provider reported.
    #[error("{provider}: {message}")]
    Other {
        /// Provider kind.
        provider: &'static str,
        /// The message.
        message: String,
    },
}

impl ProviderError {
    /// A short hint on what to do about this error, for the CLI's second line.
    pub fn hint(&self) -> &'static str {
        let own = crate::spec::registered(self.provider()).map(|s| s.hints);
        let own = own.and_then(|h| match self {
            ProviderError::Auth { .. } => h.auth,
            ProviderError::ZoneNotFound { .. } => h.zone_not_found,
            ProviderError::Rejected { .. } => h.rejected,
            ProviderError::RateLimited { .. } => h.rate_limited,
            ProviderError::Unreachable { .. } => h.unreachable,
            _ => None,
        });
        if let Some(h) = own {
            return h;
        }
        match self {
            ProviderError::Auth { .. } => {
                "check the credentials and that they may edit DNS records of this zone"
            }
            ProviderError::ZoneNotFound { .. } => {
                "check that the zone exists on this server/account and that the credentials may edit it"
            }
            ProviderError::Rejected { .. } => {
                "the message above is the provider's own; fix what it names and run again"
            }
            ProviderError::RateLimited { .. } => "wait and try again, or lower --parallel",
            ProviderError::Unreachable { .. } => {
                "check the server address and port, and that it answers from this host"
            }
            ProviderError::Config { .. } => {
                "see `wildcert providers <NAME>` for the settings this provider needs"
            }
            ProviderError::Other { .. } => "run again with -v for details",
        }
    }

    /// The provider kind that reported the error.
    pub fn provider(&self) -> &'static str {
        match self {
            ProviderError::Auth { provider, .. }
            | ProviderError::ZoneNotFound { provider, .. }
            | ProviderError::Rejected { provider, .. }
            | ProviderError::RateLimited { provider, .. }
            | ProviderError::Unreachable { provider, .. }
            | ProviderError::Config { provider, .. }
            | ProviderError::Other { provider, .. } => provider,
        }
    }
}
