//! The provider seam: every DNS back end (RFC 2136, Cloudflare, Route53, PowerDNS, exec, …)
//! implements [`DnsProvider`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

pub use crate::error::{Hints, Kind, ProviderError};
use crate::name::DnsName;
use crate::record::{TxtSet, Zone};

/// What a provider reports after a publish, so the pipeline can wait for it to be applied.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Applied {
    /// A provider-side change handle (Route53 change id), if the provider can report progress.
    pub change_id: Option<String>,
}

/// TTL and timing a provider's own settings ask for (lego's `*_TTL`, `*_PROPAGATION_TIMEOUT`,
/// `*_POLLING_INTERVAL`). The pipeline (`wildcert_dns::Dns01`) uses each value that the run's own
/// settings (`wildcert_dns::DnsSettings`) did not set explicitly; `None` leaves the run's value.
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

/// One async lock per zone, for read-modify-write APIs (read the RRset, merge, write it
/// back): two certificates of one run must not overwrite each other's values.
#[derive(Debug, Default)]
pub struct ZoneLocks(Mutex<HashMap<DnsName, Arc<tokio::sync::Mutex<()>>>>);

impl ZoneLocks {
    /// Wait for `zone`'s lock; it is held until the guard is dropped.
    pub async fn lock(&self, zone: &Zone) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(zone.name.clone())
            .or_default()
            .clone();
        lock.lock_owned().await
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
