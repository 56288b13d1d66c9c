//! The dns-01 pipeline the manager drives: plan (delegation, zones, nameservers), publish once
//! per zone, wait until every authoritative server serves every value, clean up exactly what
//! was added.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::discovery::{AuthServer, Delegation, Discovery, DiscoveryError};
use crate::name::DnsName;
use crate::propagation::{
    CheckTarget, CheckerSettings, DEFAULT_PROPAGATION_TIMEOUT, PropagationChecker,
    PropagationError, PropagationProgress, PropagationReport, ServerState,
};
use crate::provider::{Applied, DnsProvider, ProviderError, ProviderTuning};
use crate::query::DEFAULT_QUERY_TIMEOUT;
use crate::record::{ChallengeRecord, DEFAULT_TTL, TxtSet, Zone};

/// How the pipeline finds zones and checks propagation.
#[derive(Clone, Debug, PartialEq)]
pub struct DnsSettings {
    /// Resolvers for discovery (zone, NS, addresses, CNAMEs); empty: the system's (/etc/resolv.conf).
    pub resolvers: Vec<SocketAddr>,
    /// When not empty, these addresses replace every zone's discovered nameservers in the
    /// propagation check (hidden primary, split horizon).
    pub authoritative: Vec<SocketAddr>,
    /// Bound on the propagation wait.
    pub propagation_timeout: Duration,
    /// Follow `_acme-challenge` CNAMEs and publish at their target.
    pub follow_cname: bool,
    /// TTL of the published records.
    pub ttl: u32,
    /// Bound on one DNS query.
    pub query_timeout: Duration,
    /// Pause between two polls of one nameserver after the fast first phase; `None`: the
    /// checker's default. A value given here wins over the provider's [`ProviderTuning`].
    pub polling_interval: Option<Duration>,
    /// Which of `ttl` and `propagation_timeout` the run set itself (config file or command
    /// line); a value not set explicitly yields to the provider's [`ProviderTuning`].
    pub explicit: ExplicitSettings,
}

/// Marks the [`DnsSettings`] values a run set explicitly (so a provider's tuning does not
/// override them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExplicitSettings {
    /// `ttl` was given (`[dns] ttl`).
    pub ttl: bool,
    /// `propagation_timeout` was given (`[dns] propagation_timeout`, `--propagation-timeout`).
    pub propagation_timeout: bool,
}

impl DnsSettings {
    /// These settings with the provider's tuning applied to every value the run did not set
    /// explicitly; logs each value taken from the provider.
    pub fn tuned(mut self, provider: &str, tuning: &ProviderTuning) -> Self {
        if let Some(ttl) = tuning.ttl
            && !self.explicit.ttl
        {
            tracing::info!(provider, ttl, "TTL from the provider's settings");
            self.ttl = ttl;
        }
        if let Some(t) = tuning.propagation_timeout
            && !self.explicit.propagation_timeout
        {
            tracing::info!(
                provider,
                timeout_s = t.as_secs_f64(),
                "propagation timeout from the provider's settings"
            );
            self.propagation_timeout = t;
        }
        if let Some(p) = tuning.polling_interval
            && self.polling_interval.is_none()
        {
            tracing::info!(
                provider,
                interval_s = p.as_secs_f64(),
                "polling interval from the provider's settings"
            );
            self.polling_interval = Some(p);
        }
        self
    }
}

impl Default for DnsSettings {
    fn default() -> Self {
        DnsSettings {
            resolvers: Vec::new(),
            authoritative: Vec::new(),
            propagation_timeout: DEFAULT_PROPAGATION_TIMEOUT,
            follow_cname: true,
            ttl: DEFAULT_TTL,
            query_timeout: DEFAULT_QUERY_TIMEOUT,
            polling_interval: None,
            explicit: ExplicitSettings::default(),
        }
    }
}

/// One zone of a plan: what goes in, and which servers must show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedZone {
    /// The zone.
    pub zone: Zone,
    /// Every value to add in this zone.
    pub records: TxtSet,
    /// The authoritative servers the checker asks.
    pub servers: Vec<AuthServer>,
}

/// Everything a run will publish, grouped by zone. Journal it before publishing: `cleanup` on
/// a deserialised plan removes the records after a crash.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Provider kind that publishes this plan.
    pub provider: String,
    /// One entry per zone, each published with one provider call.
    pub zones: Vec<PlannedZone>,
    /// CNAME delegations followed while planning.
    #[serde(default)]
    pub delegations: Vec<Delegation>,
}

impl Plan {
    /// Total number of (name, value) pairs.
    pub fn len(&self) -> usize {
        self.zones.iter().map(|z| z.records.len()).sum()
    }

    /// True when there is nothing to publish.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Merge another plan (another certificate's records) into this one, keeping one entry
    /// per zone.
    pub fn merge(&mut self, other: Plan) {
        for oz in other.zones {
            match self.zones.iter_mut().find(|z| z.zone == oz.zone) {
                Some(z) => {
                    z.records.extend(&oz.records);
                    let mut servers: BTreeSet<AuthServer> = z.servers.drain(..).collect();
                    servers.extend(oz.servers);
                    z.servers = servers.into_iter().collect();
                }
                None => self.zones.push(oz),
            }
        }
        for d in other.delegations {
            if !self.delegations.contains(&d) {
                self.delegations.push(d);
            }
        }
    }

    /// This plan's zones, servers and delegations with other values: `records` are placed
    /// where the plan put records of the same names (a plan made before ordering, with
    /// placeholder values, is filled with the CA's values without asking DNS again).
    /// `Err(name)` for a record whose name the plan does not cover.
    pub fn with_values(&self, records: &[ChallengeRecord]) -> Result<Plan, DnsName> {
        let mut zones: Vec<PlannedZone> = self
            .zones
            .iter()
            .map(|z| PlannedZone {
                zone: z.zone.clone(),
                records: TxtSet::with_ttl(z.records.ttl),
                servers: z.servers.clone(),
            })
            .collect();
        for r in records {
            let target = self
                .delegations
                .iter()
                .find(|d| d.from == r.fqdn)
                .map(|d| d.target().clone())
                .unwrap_or_else(|| r.fqdn.clone());
            let Some(i) = self
                .zones
                .iter()
                .position(|z| z.records.names().any(|n| *n == target))
            else {
                return Err(r.fqdn.clone());
            };
            zones[i].records.insert(target, r.value.clone());
        }
        zones.retain(|z| !z.records.is_empty());
        Ok(Plan {
            provider: self.provider.clone(),
            zones,
            delegations: self.delegations.clone(),
        })
    }

    /// The (name, value) pairs that `err` says some server did not serve: the missing values of
    /// a lacking server, every value of a zone whose server failed or had no server at all.
    pub fn unserved(&self, err: &PropagationError) -> BTreeSet<(DnsName, String)> {
        let all_of = |zone: &DnsName| -> Vec<(DnsName, String)> {
            self.zones
                .iter()
                .filter(|z| &z.zone.name == zone)
                .flat_map(|z| {
                    z.records
                        .pairs()
                        .map(|(n, v)| (n.clone(), v.to_string()))
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        let mut out = BTreeSet::new();
        match err {
            PropagationError::Timeout { pending, .. }
            | PropagationError::Unreachable { pending, .. } => {
                for v in pending {
                    match &v.state {
                        ServerState::Lacking { missing } => out.extend(missing.iter().cloned()),
                        ServerState::Ready | ServerState::Skipped { .. } => {}
                        _ => out.extend(all_of(&v.zone)),
                    }
                }
            }
            PropagationError::NoServers { zone } => out.extend(all_of(zone)),
        }
        out
    }

    /// The plan without one zone (its records failed and are not waited for).
    pub fn without_zone(&self, zone: &str) -> Plan {
        let mut p = self.clone();
        p.zones.retain(|z| z.zone.to_string() != zone);
        p
    }

    /// The name a record is published at (its CNAME target when delegated).
    pub fn published_name(&self, fqdn: &DnsName) -> DnsName {
        self.delegations
            .iter()
            .find(|d| &d.from == fqdn)
            .map(|d| d.target().clone())
            .unwrap_or_else(|| fqdn.clone())
    }

    /// The zone holding the published name of `fqdn`, if the plan has one.
    pub fn zone_of(&self, fqdn: &DnsName) -> Option<&PlannedZone> {
        let name = self.published_name(fqdn);
        self.zones
            .iter()
            .filter(|z| name.is_within(&z.zone.name))
            .max_by_key(|z| z.zone.name.label_count())
    }

    /// What the propagation checker must see.
    pub fn check_targets(&self) -> Vec<CheckTarget> {
        self.zones
            .iter()
            .map(|z| CheckTarget {
                zone: z.zone.name.clone(),
                servers: z.servers.clone(),
                expected: z.records.clone(),
            })
            .collect()
    }
}

/// A plan whose records are published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    /// The plan.
    pub plan: Plan,
    /// What the provider reported per zone, in `plan.zones` order.
    pub applied: Vec<Applied>,
}

/// A failure of the pipeline.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Dns01Error {
    /// Zone, nameserver or CNAME discovery failed.
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    /// The provider failed for one zone.
    #[error("zone {zone}: {source}")]
    Provider {
        /// The zone.
        zone: String,
        /// The provider's error.
        #[source]
        source: ProviderError,
    },
    /// The provider could not say which zone holds a name (API lookup failed).
    #[error("finding the zone of {name}: {source}")]
    ZoneLookup {
        /// The name whose zone was looked up.
        name: String,
        /// The provider's error.
        #[source]
        source: ProviderError,
    },
    /// Not every server served every value in time.
    #[error(transparent)]
    Propagation(#[from] PropagationError),
    /// Before the order: a zone's servers refuse it or none answers ([`crate::reach`]).
    #[error(transparent)]
    Reach(#[from] crate::reach::ReachError),
}

impl Dns01Error {
    /// A short hint for the CLI's second line.
    pub fn hint(&self) -> std::borrow::Cow<'static, str> {
        let fixed = match self {
            Dns01Error::Discovery(DiscoveryError::NoZone { .. }) => {
                "check the name's spelling and that its zone is delegated; give --resolver or the provider's zone setting"
            }
            Dns01Error::Discovery(
                DiscoveryError::CnameLoop { .. } | DiscoveryError::CnameTooDeep { .. },
            ) => "fix the _acme-challenge CNAME records, or turn CNAME following off",
            Dns01Error::Discovery(DiscoveryError::NoNameservers { .. }) => {
                "the resolvers know no nameserver address for the zone: give --resolver with a resolver that sees it, \
                 or --authoritative ADDRESS (docs/troubleshooting.md, \"No nameservers\")"
            }
            Dns01Error::Discovery(_) => {
                "give --resolver, or --authoritative for the propagation check"
            }
            Dns01Error::Provider { source, .. } | Dns01Error::ZoneLookup { source, .. } => {
                return source.hint();
            }
            Dns01Error::Propagation(p) => p.hint(),
            Dns01Error::Reach(r) => r.hint(),
        };
        fixed.into()
    }
}

/// Cleanup failed for some zones (the others were cleaned).
#[derive(Debug, thiserror::Error)]
#[error("cleanup failed in {} zone(s): {}", .failures.len(), .failures.iter().map(|(z, e)| format!("{z}: {e}")).collect::<Vec<_>>().join("; "))]
pub struct CleanupError {
    /// (zone, error) for each zone that could not be cleaned.
    pub failures: Vec<(String, ProviderError)>,
}

/// The dns-01 pipeline over one provider.
#[derive(Clone)]
pub struct Dns01 {
    provider: Arc<dyn DnsProvider>,
    settings: DnsSettings,
    progress: Option<Arc<dyn PropagationProgress>>,
}

impl fmt::Debug for Dns01 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dns01")
            .field("provider", &self.provider.name())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Dns01 {
    /// A pipeline publishing through `provider`; the provider's [`DnsProvider::tuning`] fills
    /// in what `settings` did not set explicitly ([`DnsSettings::tuned`]).
    pub fn new(provider: Arc<dyn DnsProvider>, settings: DnsSettings) -> Self {
        let settings = settings.tuned(provider.name(), &provider.tuning());
        Dns01 {
            provider,
            settings,
            progress: None,
        }
    }

    /// Report propagation progress to `progress` (the CLI's progress display).
    pub fn with_progress(mut self, progress: Arc<dyn PropagationProgress>) -> Self {
        self.progress = Some(progress);
        self
    }

    /// The settings in use (after the provider's tuning).
    pub fn settings(&self) -> &DnsSettings {
        &self.settings
    }

    async fn discovery(&self) -> Result<Discovery, Dns01Error> {
        if self.settings.resolvers.is_empty() {
            Ok(Discovery::system(self.settings.query_timeout).await?)
        } else {
            Ok(Discovery::new(
                self.settings.resolvers.clone(),
                self.settings.query_timeout,
            ))
        }
    }

    /// Follow delegations, find each target's zone (the provider's answer first, else DNS) and
    /// its authoritative servers, and group the records into one set per zone.
    pub async fn plan(&self, records: &[ChallengeRecord]) -> Result<Plan, Dns01Error> {
        let mut discovery: Option<Discovery> = None;
        let names: BTreeSet<DnsName> = records.iter().map(|r| r.fqdn.clone()).collect();

        // 1. CNAME delegation.
        let mut target_of: HashMap<DnsName, DnsName> = HashMap::new();
        let mut delegations = Vec::new();
        if self.settings.follow_cname && !names.is_empty() {
            let d = self.discovery().await?;
            let followed = join_all(names.iter().map(|n| d.follow_cnames(n))).await;
            for res in followed {
                let del = res?;
                if !del.chain.is_empty() {
                    tracing::info!("delegated: {del}");
                    delegations.push(del.clone());
                }
                target_of.insert(del.from.clone(), del.target().clone());
            }
            discovery = Some(d);
        }

        // 2. Zones of the targets: the provider's answer first, else DNS. All in parallel.
        let targets: Vec<DnsName> = names
            .iter()
            .map(|n| target_of.get(n).cloned().unwrap_or_else(|| n.clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let from_provider = join_all(targets.iter().map(|t| self.provider.zone_for(t))).await;
        let mut zone_of: HashMap<DnsName, Zone> = HashMap::new();
        let mut unknown = Vec::new();
        for (t, r) in targets.iter().zip(from_provider) {
            match r {
                Ok(Some(z)) => {
                    zone_of.insert(t.clone(), z);
                }
                Ok(None) => unknown.push(t.clone()),
                Err(source) => {
                    return Err(Dns01Error::ZoneLookup {
                        name: t.to_string(),
                        source,
                    });
                }
            }
        }
        if !unknown.is_empty() {
            if discovery.is_none() {
                discovery = Some(self.discovery().await?);
            }
            let d = discovery
                .as_ref()
                .ok_or_else(|| DiscoveryError::NoResolvers("unavailable".into()))?;
            let found = join_all(unknown.iter().map(|t| d.find_zone(t))).await;
            for (t, r) in unknown.iter().zip(found) {
                zone_of.insert(t.clone(), Zone::new(r?));
            }
        }
        for (t, z) in &zone_of {
            tracing::debug!(name = %t, zone = %z, "zone");
        }

        // 3. Group by zone.
        let mut sets: BTreeMap<Zone, TxtSet> = BTreeMap::new();
        for r in records {
            let target = target_of.get(&r.fqdn).unwrap_or(&r.fqdn);
            let Some(zone) = zone_of.get(target) else {
                continue;
            };
            let set = sets
                .entry(zone.clone())
                .or_insert_with(|| TxtSet::with_ttl(self.settings.ttl));
            set.insert(target.clone(), r.value.clone());
        }

        // 4. Authoritative servers, every zone in parallel.
        let servers: Vec<Vec<AuthServer>> = if !self.settings.authoritative.is_empty() {
            let fixed: Vec<AuthServer> = self
                .settings
                .authoritative
                .iter()
                .map(|a| AuthServer {
                    name: None,
                    addr: *a,
                })
                .collect();
            vec![fixed; sets.len()]
        } else {
            if discovery.is_none() {
                discovery = Some(self.discovery().await?);
            }
            let d = discovery
                .as_ref()
                .ok_or_else(|| DiscoveryError::NoResolvers("unavailable".into()))?;
            // Bounded by the propagation timeout: nameservers whose address does not come in
            // time could not be checked anyway.
            let bound = Some(self.settings.propagation_timeout);
            let found = join_all(sets.keys().map(|z| d.nameservers_within(&z.name, bound))).await;
            found.into_iter().collect::<Result<_, _>>()?
        };
        let mut zones = Vec::new();
        for ((zone, set), servers) in sets.into_iter().zip(servers) {
            tracing::info!(
                zone = %zone,
                values = set.len(),
                servers = %servers.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
                "planned"
            );
            zones.push(PlannedZone {
                zone,
                records: set,
                servers,
            });
        }
        Ok(Plan {
            provider: self.provider.name().to_string(),
            zones,
            delegations,
        })
    }

    /// Publish every zone's set with one provider call per zone, zones in parallel. If a zone
    /// fails, the zones already published are unpublished again (best effort) and the first
    /// error is returned.
    pub async fn publish(&self, plan: &Plan) -> Result<Published, Dns01Error> {
        let results = join_all(
            plan.zones
                .iter()
                .map(|z| self.provider.publish(&z.zone, &z.records)),
        )
        .await;
        let mut applied = Vec::new();
        let mut first_error = None;
        let mut done = Vec::new();
        for (z, r) in plan.zones.iter().zip(results) {
            match r {
                Ok(a) => {
                    tracing::info!(zone = %z.zone, values = z.records.len(), provider = self.provider.name(), "published");
                    applied.push(a);
                    done.push(z);
                }
                Err(source) => {
                    tracing::warn!(zone = %z.zone, "publish failed: {source}");
                    if first_error.is_none() {
                        first_error = Some(Dns01Error::Provider {
                            zone: z.zone.to_string(),
                            source,
                        });
                    }
                }
            }
        }
        if let Some(e) = first_error {
            let undo = join_all(
                done.iter()
                    .map(|z| self.provider.unpublish(&z.zone, &z.records)),
            )
            .await;
            for (z, r) in done.iter().zip(undo) {
                if let Err(u) = r {
                    tracing::warn!(zone = %z.zone, "could not remove the records again: {u}");
                }
            }
            return Err(e);
        }
        Ok(Published {
            plan: plan.clone(),
            applied,
        })
    }

    /// Publish every zone's set with one provider call per zone, zones in parallel; a zone
    /// that fails does not undo the others. Returns what was published and, per failed zone,
    /// the provider's error (the caller charges it to the certificates with records there).
    pub async fn publish_each(&self, plan: &Plan) -> (Published, Vec<(String, Dns01Error)>) {
        let results = join_all(
            plan.zones
                .iter()
                .map(|z| self.provider.publish(&z.zone, &z.records)),
        )
        .await;
        let mut published = Published {
            plan: Plan {
                provider: plan.provider.clone(),
                zones: Vec::new(),
                delegations: plan.delegations.clone(),
            },
            applied: Vec::new(),
        };
        let mut failed = Vec::new();
        for (z, r) in plan.zones.iter().zip(results) {
            match r {
                Ok(a) => {
                    tracing::info!(zone = %z.zone, values = z.records.len(), provider = self.provider.name(), "published");
                    published.plan.zones.push(z.clone());
                    published.applied.push(a);
                }
                Err(source) => {
                    tracing::warn!(zone = %z.zone, "publish failed: {source}");
                    failed.push((
                        z.zone.to_string(),
                        Dns01Error::Provider {
                            zone: z.zone.to_string(),
                            source,
                        },
                    ));
                }
            }
        }
        (published, failed)
    }

    /// Ask every authoritative server of every zone of `plan` once, before anything is
    /// ordered or published ([`crate::reach::check_plan`]).
    pub async fn check_reachable(&self, plan: &Plan) -> Result<(), Dns01Error> {
        Ok(crate::reach::check_plan(plan, self.settings.query_timeout).await?)
    }

    /// Wait for the provider to apply each change (Route53 INSYNC), then until every
    /// authoritative server of every zone serves every value.
    pub async fn wait_propagated(
        &self,
        published: &Published,
    ) -> Result<PropagationReport, Dns01Error> {
        let start = Instant::now();
        let timeout = self.settings.propagation_timeout;
        let waits = join_all(
            published
                .plan
                .zones
                .iter()
                .zip(&published.applied)
                .map(|(z, a)| async move { (z, self.provider.wait_applied(a, timeout).await) }),
        )
        .await;
        for (z, r) in waits {
            r.map_err(|source| Dns01Error::Provider {
                zone: z.zone.to_string(),
                source,
            })?;
        }
        let remaining = timeout.saturating_sub(start.elapsed());
        let mut checker = PropagationChecker::new(
            CheckerSettings {
                timeout: remaining,
                query_timeout: self.settings.query_timeout,
                ..CheckerSettings::default()
            }
            .with_polling_interval(self.settings.polling_interval),
        );
        if let Some(p) = &self.progress {
            checker = checker.with_progress(p.clone());
        }
        match checker.wait(&published.plan.check_targets()).await {
            Ok(report) => Ok(report),
            // Name the whole bound, not what was left of it after the provider's own wait.
            Err(PropagationError::Timeout { pending, .. }) => Err(PropagationError::Timeout {
                after: timeout,
                pending,
            }
            .into()),
            Err(e) => Err(e.into()),
        }
    }

    /// Remove every value of the plan: one call per zone, every zone tried even when one fails.
    pub async fn cleanup(&self, plan: &Plan) -> Result<(), CleanupError> {
        let results = join_all(
            plan.zones
                .iter()
                .map(|z| self.provider.unpublish(&z.zone, &z.records)),
        )
        .await;
        let mut failures = Vec::new();
        for (z, r) in plan.zones.iter().zip(results) {
            match r {
                Ok(()) => tracing::info!(zone = %z.zone, values = z.records.len(), "removed"),
                Err(e) => {
                    tracing::warn!(zone = %z.zone, "cleanup failed: {e}");
                    failures.push((z.zone.to_string(), e));
                }
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(CleanupError { failures })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use std::sync::Mutex;

    /// Records calls; fails publish for zones named in `fail`.
    #[derive(Default)]
    struct Recorder {
        calls: Mutex<Vec<String>>,
        fail: Vec<String>,
    }

    #[async_trait]
    impl DnsProvider for Recorder {
        fn name(&self) -> &'static str {
            "recorder"
        }
        async fn zone_for(&self, fqdn: &DnsName) -> Result<Option<Zone>, ProviderError> {
            // The zone is the last two labels.
            let labels: Vec<&str> = fqdn.labels().collect();
            let apex = labels[labels.len().saturating_sub(2)..].join(".");
            Ok(Some(Zone::new(DnsName::parse(&apex).map_err(|e| {
                ProviderError::Other {
                    provider: wildcert_provider::Kind::plain("recorder"),
                    message: e.to_string(),
                }
            })?)))
        }
        async fn publish(&self, zone: &Zone, set: &TxtSet) -> Result<Applied, ProviderError> {
            self.calls
                .lock()
                .expect("lock")
                .push(format!("publish {zone} {}", set.len()));
            if self.fail.contains(&zone.to_string()) {
                return Err(ProviderError::Rejected {
                    provider: wildcert_provider::Kind::plain("recorder"),
                    message: "no".into(),
                });
            }
            Ok(Applied::default())
        }
        async fn unpublish(&self, zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
            self.calls
                .lock()
                .expect("lock")
                .push(format!("unpublish {zone} {}", set.len()));
            Ok(())
        }
    }

    fn rec(name: &str, value: &str) -> ChallengeRecord {
        ChallengeRecord {
            fqdn: DnsName::parse(name).expect("name"),
            value: value.into(),
        }
    }

    fn settings() -> DnsSettings {
        DnsSettings {
            follow_cname: false,
            authoritative: vec!["127.0.0.1:53".parse().expect("addr")],
            ..DnsSettings::default()
        }
    }

    #[tokio::test]
    async fn one_publish_per_zone_and_undo_on_failure() {
        let p = Arc::new(Recorder {
            fail: vec!["b.test".into()],
            ..Recorder::default()
        });
        let dns = Dns01::new(p.clone(), settings());
        let plan = dns
            .plan(&[
                rec("_acme-challenge.a.test", "1"),
                rec("_acme-challenge.a.test", "2"),
                rec("_acme-challenge.x.a.test", "3"),
                rec("_acme-challenge.b.test", "4"),
            ])
            .await
            .expect("plan");
        assert_eq!(plan.zones.len(), 2);
        assert_eq!(plan.len(), 4);
        let json = serde_json::to_string(&plan).expect("json");
        let back: Plan = serde_json::from_str(&json).expect("json");
        assert_eq!(back, plan);

        let err = dns.publish(&plan).await.expect_err("b.test fails");
        assert!(err.to_string().contains("b.test"), "{err}");
        let calls = p.calls.lock().expect("lock").clone();
        assert!(calls.contains(&"publish a.test 3".to_string()), "{calls:?}");
        assert!(
            calls.contains(&"unpublish a.test 3".to_string()),
            "{calls:?}"
        );
        assert!(
            !calls.contains(&"unpublish b.test 1".to_string()),
            "{calls:?}"
        );
    }

    /// A provider whose settings ask for TTL 300, a 5 s timeout and 1 s polls.
    struct Tuned;

    #[async_trait]
    impl DnsProvider for Tuned {
        fn name(&self) -> &'static str {
            "tuned"
        }
        async fn publish(&self, _: &Zone, _: &TxtSet) -> Result<Applied, ProviderError> {
            Ok(Applied::default())
        }
        async fn unpublish(&self, _: &Zone, _: &TxtSet) -> Result<(), ProviderError> {
            Ok(())
        }
        fn tuning(&self) -> ProviderTuning {
            ProviderTuning {
                ttl: Some(300),
                propagation_timeout: Some(Duration::from_secs(5)),
                polling_interval: Some(Duration::from_secs(1)),
            }
        }
    }

    #[test]
    fn provider_tuning_fills_what_the_run_did_not_set() {
        let dns = Dns01::new(Arc::new(Tuned), settings());
        assert_eq!(dns.settings().ttl, 300);
        assert_eq!(dns.settings().propagation_timeout, Duration::from_secs(5));
        assert_eq!(
            dns.settings().polling_interval,
            Some(Duration::from_secs(1))
        );
        // What the run set explicitly wins.
        let explicit = DnsSettings {
            ttl: 30,
            propagation_timeout: Duration::from_secs(90),
            polling_interval: Some(Duration::from_secs(3)),
            explicit: ExplicitSettings {
                ttl: true,
                propagation_timeout: true,
            },
            ..settings()
        };
        let dns = Dns01::new(Arc::new(Tuned), explicit.clone());
        assert_eq!(dns.settings(), &explicit);
        // A provider without tuning changes nothing.
        let dns = Dns01::new(Arc::new(Recorder::default()), settings());
        assert_eq!(dns.settings(), &settings());
    }

    #[tokio::test]
    async fn merged_plans_keep_one_zone_entry() {
        let p = Arc::new(Recorder::default());
        let dns = Dns01::new(p.clone(), settings());
        let mut a = dns
            .plan(&[rec("_acme-challenge.a.test", "1")])
            .await
            .expect("plan");
        let b = dns
            .plan(&[rec("_acme-challenge.www.a.test", "2")])
            .await
            .expect("plan");
        a.merge(b);
        assert_eq!(a.zones.len(), 1);
        assert_eq!(a.len(), 2);
        dns.cleanup(&a).await.expect("cleanup");
        assert_eq!(
            p.calls.lock().expect("lock").clone(),
            ["unpublish a.test 2"]
        );
    }
}
