//! `wildcert check`: the preflight report (the probes themselves and the CAA rules live in
//! `wildcert-dns`: `diagnose` and `caa`).
//!
//! The report answers "can DNS-01 issuance work for these names, and if not, why?" without
//! touching the CA's order endpoints: provider and credentials (a probe TXT value published,
//! waited for on every authoritative server and removed), zone, nameservers and every address,
//! SOA agreement, CNAME delegation, split-horizon hints, leftover `_acme-challenge` values, and
//! CAA (RFC 8659/8657) against the CA's `caaIdentities`.
//!
//! Exit codes ([`CheckReport::exit_code`]): [`ExitCode::Ok`] no failure, [`ExitCode::Settings`],
//! [`ExitCode::Dns`], [`ExitCode::Ca`] when CAA forbids.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tracing::{debug, warn};
use wildcert_dns::caa::{CaaPolicy, CaaResolver, CaaVerdict, DNS01};
use wildcert_dns::diagnose::{self, SoaAnswer};
use wildcert_dns::propagation::PropagationError;
use wildcert_dns::{
    AuthServer, ChallengeRecord, Dns01, Dns01Error, DnsName, Identifier, Plan, PropagationProgress,
    ServerVerdict,
};

use crate::config::RunConfig;
use crate::error::{ExitCode, IssueError};
use crate::journal;
use crate::model::{NamedProvider, Names};
use crate::store::{Store, StoreError};

/// How a finding went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Fine.
    Pass,
    /// Issuance may work, but something deserves attention.
    Warn,
    /// Issuance will fail until this is fixed.
    Fail,
}

impl Status {
    /// `PASS`, `WARN`, `FAIL`.
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        }
    }
}

/// Which exit code a failure maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// DNS, provider, propagation (exit 3).
    Dns,
    /// CAA (exit 4).
    Caa,
    /// Settings (exit 2).
    Settings,
}

/// One line of the report.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The group: `general`, `zone <apex>`, or the names sharing one `_acme-challenge` name.
    pub group: String,
    /// What was checked (`provider`, `cname`, `zone`, `nameserver`, `serial`, `split-horizon`,
    /// `orphans`, `probe`, `propagation`, `cleanup`, `ca`, `caa`).
    pub check: String,
    /// The outcome.
    pub status: Status,
    /// What was found.
    pub message: String,
    /// What to do (warn and fail).
    pub hint: Option<String>,
    /// Which exit code a failure maps to.
    pub area: Area,
}

/// The whole report (`--json` prints it as `report::CheckDoc`).
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// True when no finding failed.
    pub ok: bool,
    /// 0, or 4 when CAA forbids, 2 for provider settings, 3 for other failures.
    pub exit_code: ExitCode,
    /// The names checked, as ordered (`*.example.com`).
    pub names: Vec<String>,
    /// Every finding, grouped (general, then each zone, then each name).
    pub findings: Vec<Finding>,
}

/// What to check.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Publish (and remove) a probe TXT value.
    pub probe: bool,
    /// The provider id or kind (`--dns`), recorded in the journal for the probe.
    pub provider_id: String,
    /// `--challenge dns-account-01`: check `_<label>._acme-challenge.<name>` (the label of the
    /// account stored for this CA) instead of `_acme-challenge.<name>`.
    pub dns_account: bool,
    /// The certbot credentials file the provider read (`--dns-credentials`), recorded in the
    /// journal so a later run's cleanup reads it again.
    pub credentials: Option<std::path::PathBuf>,
}

/// The general group's label.
pub const GENERAL: &str = "general";

#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn push(
        &mut self,
        group: &str,
        check: &str,
        status: Status,
        message: impl Into<String>,
        hint: Option<String>,
        area: Area,
    ) {
        let message = message.into();
        match status {
            Status::Pass => debug!(group, check, "pass: {message}"),
            Status::Warn | Status::Fail => debug!(group, check, ?status, "{message}"),
        }
        self.0.push(Finding {
            group: group.to_string(),
            check: check.to_string(),
            status,
            message,
            hint,
            area,
        });
    }
    fn pass(&mut self, group: &str, check: &str, message: impl Into<String>) {
        self.push(group, check, Status::Pass, message, None, Area::Dns);
    }
    fn warn(
        &mut self,
        group: &str,
        check: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.push(
            group,
            check,
            Status::Warn,
            message,
            Some(hint.into()),
            Area::Dns,
        );
    }
    fn fail(
        &mut self,
        group: &str,
        check: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.push(
            group,
            check,
            Status::Fail,
            message,
            Some(hint.into()),
            Area::Dns,
        );
    }
}

/// One `_acme-challenge` name and what DNS said about it.
struct Group {
    label: String,
    ids: Vec<Identifier>,
    challenge: DnsName,
    target: Option<DnsName>,
    zone: Option<DnsName>,
}

/// What we learned about one zone.
#[derive(Default)]
struct ZoneFacts {
    servers: Vec<AuthServer>,
}

const DEAD_NS_HINT: &str = "the CA may ask this server and fail, and wildcert waits for every nameserver: \
fix the server, remove its NS record, or give --authoritative with the servers that work";

/// Run every check for `names` (already validated). `store` is the run's store, or why it
/// could not be opened (a warning: leftover values are then not matched to the journal);
/// `provider` is the result of building the provider, so a settings error becomes a finding.
pub async fn run_check(
    cfg: &RunConfig,
    store: Result<&Store, &StoreError>,
    names: &Names,
    provider: Result<NamedProvider, IssueError>,
    opts: &CheckOptions,
) -> CheckReport {
    let ids = names.identifiers();
    let mut f = Findings::default();
    let names: Vec<String> = ids.iter().map(Identifier::as_acme).collect();

    // Provider.
    let provider = match provider {
        Ok(p) => {
            f.pass(
                GENERAL,
                "provider",
                format!(
                    "{} provider `{}` built from the settings",
                    p.dns.name(),
                    p.id
                ),
            );
            if let Some(source) = p.dns.credential_source() {
                // Where the credentials come from — never the values.
                f.pass(GENERAL, "credentials", format!("credentials from {source}"));
            }
            Some(p.dns)
        }
        Err(e) => {
            let area = if e.exit_code() == ExitCode::Settings {
                Area::Settings
            } else {
                Area::Dns
            };
            f.push(
                GENERAL,
                "provider",
                Status::Fail,
                e.to_string(),
                Some(e.hint()),
                area,
            );
            None
        }
    };

    // Resolvers.
    let qt = cfg.dns.query_timeout;
    let discovery = if cfg.dns.resolvers.is_empty() {
        wildcert_dns::Discovery::system(qt).await
    } else {
        Ok(wildcert_dns::Discovery::new(cfg.dns.resolvers.clone(), qt))
    };
    let discovery = match discovery {
        Ok(d) => {
            f.pass(
                GENERAL,
                "resolvers",
                format!("asking {}", join_addrs(d.resolvers())),
            );
            d
        }
        Err(e) => {
            f.fail(
                GENERAL,
                "resolvers",
                e.to_string(),
                "give --resolver ADDRESS",
            );
            return finish(names, f);
        }
    };

    // The store: the journal (orphans, probe) and the account URL (CAA accounturi).
    let store = match store {
        Ok(s) => Some(s),
        Err(e) => {
            f.warn(
                GENERAL,
                "store",
                format!("cannot open the store: {e}"),
                "give --state-dir; without it, leftover values cannot be matched to the journal",
            );
            None
        }
    };

    // dns-account-01: the records live under the stored account's own label.
    let label = if opts.dns_account {
        match store.and_then(|s| stored_account_url(s, &cfg.directory_url)) {
            Some(url) => {
                let label = wildcert_acme::dns_account_label(&url);
                f.pass(
                    GENERAL,
                    "account",
                    format!("dns-account-01 records go to _{label}._acme-challenge.<name> (account {url})"),
                );
                Some(label)
            }
            None => {
                f.fail(
                    GENERAL,
                    "account",
                    "no ACME account is stored for this CA: the dns-account-01 record name is not known yet",
                    "run `wildcert account register --agree-tos` first",
                );
                return finish(names, f);
            }
        }
    } else {
        None
    };

    // Groups: names sharing one `_acme-challenge` name (`*.x` and `x`).
    let mut groups: Vec<Group> = Vec::new();
    for id in ids {
        let challenge = match &label {
            Some(l) => match DnsName::parse(&format!("_{l}.{}", id.challenge_name())) {
                Ok(n) => n,
                Err(e) => {
                    f.fail(&id.as_acme(), "name", e.to_string(), "use a shorter name");
                    continue;
                }
            },
            None => id.challenge_name(),
        };
        match groups.iter_mut().find(|g| g.challenge == challenge) {
            Some(g) => {
                g.ids.push(id.clone());
                g.label = g
                    .ids
                    .iter()
                    .map(Identifier::as_acme)
                    .collect::<Vec<_>>()
                    .join(", ");
            }
            None => groups.push(Group {
                label: id.as_acme(),
                ids: vec![id.clone()],
                challenge,
                target: None,
                zone: None,
            }),
        }
    }

    // Delegation and zone per group.
    for g in &mut groups {
        let label = g.label.clone();
        let target = if cfg.dns.follow_cname {
            match discovery.follow_cnames(&g.challenge).await {
                Ok(d) if d.chain.is_empty() => {
                    f.pass(
                        &label,
                        "cname",
                        format!("no CNAME at {}: the TXT record goes there", g.challenge),
                    );
                    d.target().clone()
                }
                Ok(d) => {
                    f.pass(
                        &label,
                        "cname",
                        format!("delegated: {d}; the TXT record goes to {}", d.target()),
                    );
                    d.target().clone()
                }
                Err(e) => {
                    f.fail(
                        &label,
                        "cname",
                        e.to_string(),
                        "fix the _acme-challenge CNAME records, or turn CNAME following off (--no-cname)",
                    );
                    continue;
                }
            }
        } else {
            f.pass(
                &label,
                "cname",
                format!(
                    "CNAME following is off: the TXT record goes to {}",
                    g.challenge
                ),
            );
            g.challenge.clone()
        };
        g.target = Some(target.clone());
        let from_provider = match &provider {
            Some(p) => match p.zone_for(&target).await {
                Ok(z) => z,
                Err(e) => {
                    f.fail(&label, "zone", e.to_string(), e.hint());
                    continue;
                }
            },
            None => None,
        };
        let zone = match from_provider {
            Some(z) => {
                f.pass(
                    &label,
                    "zone",
                    format!("{target} is in zone {} (from the provider)", z.name),
                );
                z.name
            }
            None => match discovery.find_zone(&target).await {
                Ok(z) => {
                    f.pass(
                        &label,
                        "zone",
                        format!("{target} is in zone {z} (SOA via the resolvers)"),
                    );
                    z
                }
                Err(e) => {
                    f.fail(
                        &label,
                        "zone",
                        e.to_string(),
                        "check the name and that its zone is delegated; give --resolver to ask another resolver",
                    );
                    continue;
                }
            },
        };
        g.zone = Some(zone);
    }

    // Zone facts: nameservers, each address, serials, split horizon.
    let zones: BTreeSet<DnsName> = groups.iter().filter_map(|g| g.zone.clone()).collect();
    let mut facts: BTreeMap<DnsName, ZoneFacts> = BTreeMap::new();
    for zone in &zones {
        let fz = check_zone(cfg, &discovery, zone, &mut f).await;
        facts.insert(zone.clone(), fz);
    }

    // Leftover values at each target, before the probe.
    let journal_entries = store.map(journal_entries).unwrap_or_default();
    for g in &groups {
        let (Some(target), Some(zone)) = (&g.target, &g.zone) else {
            continue;
        };
        let servers = facts.get(zone).map(|z| z.servers.as_slice()).unwrap_or(&[]);
        check_orphans(g, target, servers, &journal_entries, qt, &mut f).await;
    }

    // The probe: publish, propagate, remove.
    match (&provider, opts.probe) {
        (Some(p), true) => {
            let records: Vec<ChallengeRecord> = groups
                .iter()
                .filter(|g| g.zone.is_some())
                .map(|g| ChallengeRecord {
                    fqdn: g.challenge.clone(),
                    value: String::new(),
                })
                .collect();
            if !records.is_empty() {
                probe(cfg, p.clone(), store, records, opts, &mut f).await;
            }
        }
        (Some(_), false) => f.warn(
            GENERAL,
            "probe",
            "skipped (--no-probe): credentials, write access and propagation were not tested",
            "run without --no-probe to publish and remove a test TXT value",
        ),
        (None, _) => {}
    }

    // CAA.
    check_caa(cfg, &discovery, store, &groups, &mut f).await;

    finish(names, f)
}

fn finish(names: Vec<String>, f: Findings) -> CheckReport {
    let findings = f.0;
    let failed = |a: Area| {
        findings
            .iter()
            .any(|x| x.status == Status::Fail && x.area == a)
    };
    let exit_code = if failed(Area::Caa) {
        ExitCode::Ca
    } else if failed(Area::Settings) {
        ExitCode::Settings
    } else if failed(Area::Dns) {
        ExitCode::Dns
    } else {
        ExitCode::Ok
    };
    CheckReport {
        ok: exit_code.is_ok(),
        exit_code,
        names,
        findings,
    }
}

fn join_addrs(a: &[SocketAddr]) -> String {
    a.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn zone_group(zone: &DnsName) -> String {
    format!("zone {zone}")
}

async fn check_zone(
    cfg: &RunConfig,
    discovery: &wildcert_dns::Discovery,
    zone: &DnsName,
    f: &mut Findings,
) -> ZoneFacts {
    let label = zone_group(zone);
    let qt = cfg.dns.query_timeout;
    let servers: Vec<AuthServer> = if !cfg.dns.authoritative.is_empty() {
        let s: Vec<AuthServer> = cfg
            .dns
            .authoritative
            .iter()
            .map(|a| AuthServer {
                name: None,
                addr: *a,
            })
            .collect();
        f.pass(
            &label,
            "nameservers",
            format!(
                "checking the given authoritative servers: {}",
                join_addrs(&cfg.dns.authoritative)
            ),
        );
        s
    } else {
        match discovery.nameservers(zone).await {
            Ok(s) => {
                let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for a in &s {
                    by_name
                        .entry(a.name.as_ref().map(ToString::to_string).unwrap_or_default())
                        .or_default()
                        .push(a.addr.ip().to_string());
                }
                let list = by_name
                    .iter()
                    .map(|(n, a)| format!("{n} ({})", a.join(", ")))
                    .collect::<Vec<_>>()
                    .join(", ");
                f.pass(&label, "nameservers", format!("NS set: {list}"));
                s
            }
            Err(e) => {
                f.fail(
                    &label,
                    "nameservers",
                    e.to_string(),
                    "check the zone's NS records and their A/AAAA records, or give --authoritative",
                );
                return ZoneFacts::default();
            }
        }
    };

    // SOA from every address, RD=0.
    let mut serials: Vec<(AuthServer, u32)> = Vec::new();
    for (s, a) in diagnose::soa_answers(&servers, zone, qt).await {
        match a {
            SoaAnswer::Rcode(rcode) => f.fail(
                &label,
                "nameserver",
                format!("{s} answers {rcode} for {zone}"),
                "the server does not serve the zone: fix its configuration or the NS records",
            ),
            SoaAnswer::NotAuthoritative => f.fail(
                &label,
                "nameserver",
                format!("{s} answers without the AA bit: it is not authoritative for {zone} (lame delegation)"),
                "load the zone on this server, or fix the NS records",
            ),
            SoaAnswer::Serial(serial) => {
                f.pass(
                    &label,
                    "nameserver",
                    format!("{s} answers authoritatively, SOA serial {serial}"),
                );
                serials.push((s.clone(), serial));
            }
            SoaAnswer::NoSoa => f.fail(
                &label,
                "nameserver",
                format!("{s} answers authoritatively but without the SOA of {zone}"),
                "check the server's zone configuration",
            ),
            SoaAnswer::NoRoute(why) => f.warn(
                &label,
                "nameserver",
                format!("{s} not checked: no route from this host ({why})"),
                "normal on a host without IPv6; the CA reaches it from the internet",
            ),
            SoaAnswer::NoAnswer(why) => f.fail(
                &label,
                "nameserver",
                format!("{s} does not answer: {why}"),
                DEAD_NS_HINT,
            ),
        }
    }
    // Serial agreement.
    let distinct: BTreeSet<u32> = serials.iter().map(|(_, n)| *n).collect();
    match distinct.len() {
        0 => {}
        1 => f.pass(
            &label,
            "serial",
            format!(
                "{} answering server(s) agree on serial {}",
                serials.len(),
                distinct.iter().next().copied().unwrap_or_default()
            ),
        ),
        _ => f.warn(
            &label,
            "serial",
            format!(
                "the nameservers disagree on the SOA serial: {}",
                serials
                    .iter()
                    .map(|(s, n)| format!("{s} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "a secondary lags behind the primary (NOTIFY, also-notify, allow-transfer, refresh timer); \
             wildcert waits for it, but the CA may ask it",
        ),
    }
    // The authoritative NS set, from the first server that answered.
    let auth_ns = match serials.first() {
        Some((s, _)) => diagnose::ns_set(s.addr, zone, qt).await,
        None => None,
    };
    // Split horizon: the resolvers' view against the authoritative one.
    let view = diagnose::resolver_view(discovery.resolvers(), zone, qt).await;
    let (resolver_serial, resolver_ns) = (view.serial, view.ns);
    let mut differences = Vec::new();
    if let Some(rs) = resolver_serial
        && !distinct.is_empty()
        && !distinct.contains(&rs)
    {
        differences.push(format!(
            "the resolvers see serial {rs}, the nameservers serve {}",
            distinct
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("/")
        ));
    }
    if cfg.dns.authoritative.is_empty()
        && let (Some(r), Some(a)) = (&resolver_ns, &auth_ns)
        && !r.is_empty()
        && r != a
    {
        differences.push(format!(
            "the resolvers see NS {}, the nameservers say NS {}",
            names_list(r),
            names_list(a)
        ));
    }
    if !differences.is_empty() {
        f.warn(
            &label,
            "split-horizon",
            format!("the resolvers' view of {zone} differs from the nameservers': {}", differences.join("; ")),
            "the CA sees the public view: make sure the nameservers the internet asks get the records \
             (give --resolver with a public resolver, --authoritative for the public servers)",
        );
    } else if resolver_serial.is_some() {
        f.pass(
            &label,
            "split-horizon",
            "the resolvers and the nameservers agree on the zone (serial and NS set)",
        );
    }
    ZoneFacts { servers }
}

fn names_list(s: &BTreeSet<DnsName>) -> String {
    s.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// One journal entry, and whether the run that wrote it is still alive.
struct JournalSeen {
    path: std::path::PathBuf,
    entry: journal::JournalEntry,
    alive: bool,
}

/// Every journal entry (read only: `check` never removes anything but its own probe).
fn journal_entries(store: &Store) -> Vec<JournalSeen> {
    let mut out = Vec::new();
    for (key, entry) in journal::entries(store).unwrap_or_default() {
        let path = store.root().join(key);
        let alive = entry.writer_alive(store);
        out.push(JournalSeen { path, entry, alive });
    }
    out
}

async fn check_orphans(
    g: &Group,
    target: &DnsName,
    servers: &[AuthServer],
    journal_entries: &[JournalSeen],
    qt: Duration,
    f: &mut Findings,
) {
    if servers.is_empty() {
        return;
    }
    let answers = join_all(servers.iter().map(|s| diagnose::txt_at(s.addr, target, qt))).await;
    let mut values: BTreeSet<String> = BTreeSet::new();
    for v in answers.into_iter().flatten() {
        values.extend(v);
    }
    if values.is_empty() {
        f.pass(&g.label, "orphans", format!("no TXT values at {target}"));
        return;
    }
    let mut ours: Vec<(String, String)> = Vec::new();
    let mut foreign: Vec<String> = Vec::new();
    let mut running: Vec<(String, u32)> = Vec::new();
    for v in &values {
        let entry = journal_entries.iter().find(|j| {
            j.entry
                .plan
                .zones
                .iter()
                .any(|z| z.records.values(target).any(|x| x == v))
        });
        match entry {
            Some(j) if j.alive => running.push((v.clone(), j.entry.pid)),
            Some(j) => ours.push((
                v.clone(),
                format!("{} (provider {})", j.path.display(), j.entry.provider),
            )),
            None => foreign.push(v.clone()),
        }
    }
    if !running.is_empty() {
        f.pass(
            &g.label,
            "orphans",
            format!(
                "{} value(s) at {target} belong to a wildcert run in progress: {}",
                running.len(),
                running
                    .iter()
                    .map(|(v, pid)| format!("\"{v}\" (pid {pid})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    if !ours.is_empty() {
        f.warn(
            &g.label,
            "orphans",
            format!(
                "{} value(s) at {target} left by an interrupted wildcert run: {}",
                ours.len(),
                ours.iter().map(|(v, j)| format!("\"{v}\" in journal {j}")).collect::<Vec<_>>().join(", ")
            ),
            "remove them with `wildcert renew` (or any `wildcert issue`) using the same --state-dir: \
             every run first removes what the journal lists",
        );
    }
    if !foreign.is_empty() {
        f.warn(
            &g.label,
            "orphans",
            format!(
                "{} value(s) at {target} not published by this wildcert (not in its journal): {}",
                foreign.len(),
                foreign.iter().map(|v| format!("\"{v}\"")).collect::<Vec<_>>().join(", ")
            ),
            "not ours, so wildcert leaves them alone; they do not block issuance — if they are stale \
             (another ACME client, a manual test), remove them at the DNS provider",
        );
    }
}

async fn probe(
    cfg: &RunConfig,
    provider: Arc<dyn wildcert_dns::DnsProvider>,
    store: Option<&Store>,
    mut records: Vec<ChallengeRecord>,
    opts: &CheckOptions,
    f: &mut Findings,
) {
    let value = format!("wildcert-check-{:016x}", rand::random::<u64>());
    for r in &mut records {
        r.value = value.clone();
    }
    let ready = Arc::new(ReadyCollector::default());
    let dns = Dns01::new(provider.clone(), cfg.dns.clone()).with_progress(ready.clone());
    let plan = match dns.plan(&records).await {
        Ok(p) => p,
        Err(e) => {
            f.fail(
                GENERAL,
                "probe",
                format!("cannot plan the probe: {e}"),
                e.hint(),
            );
            return;
        }
    };
    let entry = store.and_then(|s| {
        match journal::record(s, &opts.provider_id, opts.credentials.as_deref(), &plan) {
            Ok(e) => Some(e),
            Err(e) => {
                warn!("cannot write the journal for the probe: {e}");
                None
            }
        }
    });
    let t = Instant::now();
    let published = match dns.publish(&plan).await {
        Ok(p) => p,
        Err(e) => {
            let group = failed_zone_group(&e, &plan);
            f.fail(
                &group,
                "probe",
                format!("publishing the probe failed: {e}"),
                e.hint(),
            );
            if let Some(entry) = entry {
                let _ = entry.remove();
            }
            return;
        }
    };
    let publish_ms = t.elapsed().as_millis();
    for z in &plan.zones {
        let at = z
            .records
            .names()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        f.pass(
            &zone_group(&z.zone.name),
            "probe",
            format!(
                "published TXT \"{value}\" at {at} via {} in {publish_ms} ms: credentials accepted, zone writable",
                provider.name()
            ),
        );
    }
    match dns.wait_propagated(&published).await {
        Ok(report) => {
            for v in &report.servers {
                let after = v.ready_after.map(|d| d.as_secs_f64()).unwrap_or_default();
                let msg = format!("{} served the probe after {after:.2} s", v.server);
                if v.ready_after.is_some() {
                    f.pass(&zone_group(&v.zone), "propagation", msg);
                } else {
                    f.warn(
                        &zone_group(&v.zone),
                        "propagation",
                        format!("{} {}", v.server, v.state),
                        "normal on a host without IPv6",
                    );
                }
            }
        }
        Err(Dns01Error::Propagation(PropagationError::Timeout { after, pending })) => {
            for v in ready.take() {
                let after = v.ready_after.map(|d| d.as_secs_f64()).unwrap_or_default();
                f.pass(
                    &zone_group(&v.zone),
                    "propagation",
                    format!("{} served the probe after {after:.2} s", v.server),
                );
            }
            for v in &pending {
                f.fail(
                    &zone_group(&v.zone),
                    "propagation",
                    format!("{} did not serve the probe within {} s: {}", v.server, after.as_secs(), v.state),
                    match &v.state {
                        wildcert_dns::ServerState::Failed { .. } => DEAD_NS_HINT.to_string(),
                        _ => "a slow or stuck secondary: check zone transfers from the primary, or raise \
                              --propagation-timeout"
                            .to_string(),
                    },
                );
            }
        }
        Err(e) => f.fail(GENERAL, "propagation", e.to_string(), e.hint()),
    }
    // Always remove it, then confirm it is gone.
    match dns.cleanup(&plan).await {
        Ok(()) => {
            if let Some(entry) = entry {
                let _ = entry.remove();
            }
            confirm_removed(dns.settings(), &plan, &value, f).await;
        }
        Err(e) => f.fail(
            GENERAL,
            "cleanup",
            format!("removing the probe failed: {e}"),
            format!(
                "remove TXT \"{value}\" by hand; the journal keeps it, so the next `wildcert renew`/`issue` retries"
            ),
        ),
    }
}

/// Collects the servers that became ready, for the report when others time out.
#[derive(Default)]
struct ReadyCollector(std::sync::Mutex<Vec<ServerVerdict>>);

impl ReadyCollector {
    fn take(&self) -> Vec<ServerVerdict> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl PropagationProgress for ReadyCollector {
    fn server_ready(&self, verdict: &ServerVerdict) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(verdict.clone());
    }
}

fn failed_zone_group(e: &Dns01Error, plan: &Plan) -> String {
    match e {
        Dns01Error::Provider { zone, .. } => plan
            .zones
            .iter()
            .find(|z| z.zone.name.as_str() == zone)
            .map(|z| zone_group(&z.zone.name))
            .unwrap_or_else(|| GENERAL.to_string()),
        _ => GENERAL.to_string(),
    }
}

/// Poll every server (bounded by the propagation timeout) until the probe is gone.
async fn confirm_removed(
    dns: &wildcert_dns::DnsSettings,
    plan: &Plan,
    value: &str,
    f: &mut Findings,
) {
    let start = Instant::now();
    // The run's settings with the provider's tuning (e.g. RFC2136_PROPAGATION_TIMEOUT).
    let limit = dns.propagation_timeout;
    let qt = dns.query_timeout;
    for z in &plan.zones {
        let mut pending: Vec<&AuthServer> = z.servers.iter().collect();
        let mut pause = Duration::from_millis(100);
        // Bounded: by time (limit) and by count (every pause grows to 1 s at most).
        for _ in 0..10_000 {
            let answers = join_all(pending.iter().map(|s| async move {
                for name in z.records.names() {
                    // A dead server does not serve it either; the nameserver check says so.
                    if diagnose::txt_at(s.addr, name, qt)
                        .await
                        .is_some_and(|v| v.iter().any(|v| v == value))
                    {
                        return true;
                    }
                }
                false
            }))
            .await;
            pending = pending
                .into_iter()
                .zip(answers)
                .filter_map(|(s, still)| still.then_some(s))
                .collect();
            if pending.is_empty() || start.elapsed() >= limit {
                break;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 3 / 2).min(Duration::from_secs(1));
        }
        let group = zone_group(&z.zone.name);
        if pending.is_empty() {
            f.pass(
                &group,
                "cleanup",
                format!(
                    "probe removed; gone from every nameserver after {:.2} s",
                    start.elapsed().as_secs_f64()
                ),
            );
        } else {
            f.warn(
                &group,
                "cleanup",
                format!(
                    "probe removed at the provider, but still served after {} s by {}",
                    limit.as_secs(),
                    pending.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                ),
                "a lagging secondary drops it at its next zone transfer; nothing to do unless it never does",
            );
        }
    }
}

/// The stored account URL for this CA, if any.
fn stored_account_url(store: &Store, directory_url: &str) -> Option<String> {
    crate::account::stored_record(store, directory_url).map(|r| r.url)
}

async fn check_caa(
    cfg: &RunConfig,
    discovery: &wildcert_dns::Discovery,
    store: Option<&Store>,
    groups: &[Group],
    f: &mut Findings,
) {
    let identities = match cfg.acme_client().await {
        Ok(c) => {
            let ids = c.directory().meta.caa_identities.clone();
            if ids.is_empty() {
                f.warn(
                    GENERAL,
                    "ca",
                    format!("the CA's directory ({}) lists no caaIdentities", cfg.directory_url),
                    "CAA can only be judged for records that forbid every CA; the CA checks the rest itself",
                );
            } else {
                f.pass(
                    GENERAL,
                    "ca",
                    format!(
                        "the CA ({}) names itself in CAA as {}",
                        cfg.directory_url,
                        ids.join(", ")
                    ),
                );
            }
            ids
        }
        Err(e) => {
            f.warn(
                GENERAL,
                "ca",
                format!("cannot read the CA's directory: {e}"),
                format!(
                    "{}; CAA records are judged without the CA's identities",
                    e.hint()
                ),
            );
            Vec::new()
        }
    };
    let account = store.and_then(|s| stored_account_url(s, &cfg.directory_url));
    let resolver = CaaResolver::new(discovery.resolvers().to_vec(), cfg.dns.query_timeout);
    let policy = CaaPolicy {
        identities: &identities,
        account_uri: account.as_deref(),
        method: DNS01,
    };
    for g in groups {
        let reports = join_all(g.ids.iter().map(|id| resolver.check(id, &policy))).await;
        for r in reports {
            let prefix = if g.ids.len() > 1 {
                format!("{}: ", r.name)
            } else {
                String::new()
            };
            match &r.verdict {
                CaaVerdict::Allowed(why) => f.pass(&g.label, "caa", format!("{prefix}{why}")),
                CaaVerdict::Forbidden(why) => f.push(
                    &g.label,
                    "caa",
                    Status::Fail,
                    format!("{prefix}{why}"),
                    Some(caa_hint(&identities)),
                    Area::Caa,
                ),
                CaaVerdict::Undetermined(why) => {
                    let hint = if why.contains("accounturi") {
                        "register the account first (`wildcert account register`), then check again"
                            .to_string()
                    } else if identities.is_empty() {
                        "nothing to do if the record names your CA".to_string()
                    } else {
                        "check the resolvers (--resolver); the CA must be able to look CAA up"
                            .to_string()
                    };
                    f.push(
                        &g.label,
                        "caa",
                        Status::Warn,
                        format!("{prefix}{why}"),
                        Some(hint),
                        Area::Caa,
                    )
                }
            }
        }
    }
}

fn caa_hint(identities: &[String]) -> String {
    let ca = identities
        .first()
        .map(String::as_str)
        .unwrap_or("<the CA's domain>");
    format!(
        "add `0 issue \"{ca}\"` (for wildcards `0 issuewild \"{ca}\"`) to the CAA set named above, \
         fix its accounturi/validationmethods, or remove the critical unknown tag"
    )
}

/// `wildcert check --challenge dns-persist-01` (`strict`) or `auto`: what every authoritative
/// server serves at `_validation-persist.<name>` for each name, judged for this CA (its
/// `caaIdentities`) and the account stored for it; a `persistUntil` within 30 days warns.
/// Strict: a server without a matching record fails (exit 3); auto: it warns (dns-01 is
/// used for that name). `store` holds the account (none: the check says it is not known).
pub async fn run_persist_check(
    cfg: &RunConfig,
    store: Option<&Store>,
    names: &Names,
    strict: bool,
) -> CheckReport {
    let ids = names.identifiers();
    let list: Vec<String> = ids.iter().map(Identifier::as_acme).collect();
    let mut f = Findings::default();
    let issuers = match cfg.acme_client().await {
        Ok(c) => c.directory().meta.caa_identities.clone(),
        Err(e) => {
            f.fail(GENERAL, "ca", e.to_string(), e.hint());
            return finish(list, f);
        }
    };
    if issuers.is_empty() {
        f.fail(
            GENERAL,
            "persist",
            "the CA's directory lists no caaIdentities: its issuer domain name is unknown",
            "dns-persist-01 cannot be checked before an order with this CA",
        );
        return finish(list, f);
    }
    let account = store.and_then(|s| stored_account_url(s, &cfg.directory_url));
    let Some(account) = account else {
        f.fail(
            GENERAL,
            "account",
            "no ACME account is stored for this CA: the record's accounturi is not known yet",
            "run `wildcert account register --agree-tos` (or `wildcert persist --print`, which registers it)",
        );
        return finish(list, f);
    };
    f.pass(
        GENERAL,
        "account",
        format!(
            "records must name accounturi={account} and one of {}",
            issuers.join(", ")
        ),
    );
    let bad = |f: &mut Findings, group: &str, msg: String, hint: String| {
        if strict {
            f.fail(group, "persist", msg, hint)
        } else {
            f.warn(group, "persist", msg, hint)
        }
    };
    for id in ids {
        let group = id.as_acme();
        let req = crate::persist::requirement(&issuers, &account, id.is_wildcard());
        let publish = match req.record(None) {
            Ok(r) => crate::persist::publish_instructions(id, &r),
            Err(e) => e.to_string(),
        };
        let report = match crate::persist::report(&cfg.dns, id.base(), &req).await {
            Ok(r) => r,
            Err(e) => {
                bad(&mut f, &group, e.to_string(), e.hint());
                continue;
            }
        };
        if report.servers.is_empty() {
            bad(
                &mut f,
                &group,
                format!("no authoritative server found for {}", report.name),
                publish.clone(),
            );
        }
        for s in &report.servers {
            if s.matches() {
                f.pass(&group, "persist", format!("{}: {s}", report.name));
            } else if matches!(
                s.state,
                wildcert_dns::persist::PersistServerState::Skipped { .. }
            ) {
                f.pass(&group, "persist", s.to_string());
            } else {
                bad(
                    &mut f,
                    &group,
                    format!("{}: {s}", report.name),
                    publish.clone(),
                );
            }
        }
        if let Some(msg) = crate::persist::warn_if_expiring(&group, &report) {
            f.warn(
                &group,
                "persist-until",
                msg,
                "publish the record again with a later --until (or none)",
            );
        }
    }
    finish(list, f)
}

/// Two reports as one (`check --challenge auto`: the dns-01 checks and the dns-persist-01 ones).
pub fn merge_reports(a: CheckReport, b: CheckReport) -> CheckReport {
    let mut f = Findings(a.findings);
    f.0.extend(b.findings);
    finish(a.names, f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_code_prefers_caa_then_settings_then_dns() {
        let mut f = Findings::default();
        f.pass("g", "a", "ok");
        assert_eq!(
            finish(vec![], Findings(f.0.clone())).exit_code,
            ExitCode::Ok
        );
        f.warn("g", "b", "hmm", "h");
        let r = finish(vec![], Findings(f.0.clone()));
        assert!(r.ok);
        f.fail("g", "c", "bad", "h");
        assert_eq!(
            finish(vec![], Findings(f.0.clone())).exit_code,
            ExitCode::Dns
        );
        f.push("g", "provider", Status::Fail, "x", None, Area::Settings);
        assert_eq!(
            finish(vec![], Findings(f.0.clone())).exit_code,
            ExitCode::Settings
        );
        f.push("g", "caa", Status::Fail, "x", None, Area::Caa);
        let r = finish(vec!["a".into()], Findings(f.0.clone()));
        assert_eq!(r.exit_code, ExitCode::Ca);
        assert!(!r.ok);
        assert_eq!(r.findings[0].status, Status::Pass);
        assert!(r.findings[0].hint.is_none());
        assert_eq!(r.findings[1].hint.as_deref(), Some("h"));
    }
}
