//! The provider conformance suite: one contract test per case, run against every provider
//! on its real server or fake (crate `wildcert-conformance`, a dev-dependency of each provider).
//!
//! A provider's tests implement [`Subject`] (start the server, build provider instances,
//! read what the server holds, plant a foreign value, and the error probes) and call
//! [`conformance_suite!`](crate::conformance_suite), which writes one `#[tokio::test]` per
//! [`Case`] into a module `conformance` (run them with `cargo test -p CRATE --test it
//! conformance`). Every case checks the contract of [`wildcert_dns::DnsProvider`]:
//!
//! - [`Case::WildcardAndApex`]: wildcard + apex values at one name, next to a foreign value;
//! - [`Case::ExactRemoval`]: cleanup removes exactly ours (foreign kept, an RRset that held
//!   only ours gone);
//! - [`Case::Republish`]: publishing the same values again adds no duplicate;
//! - [`Case::RemoveGone`]: removing values that are not there is no error and touches nothing;
//! - [`Case::SixHundred`]: 600 values (300 names × 2) in one zone in one call, all served, all
//!   removed by one call;
//! - [`Case::TwoInstances`]: two independent instances publishing into one RRset at once, and
//!   removing at once: both values there, then both gone;
//! - [`Case::BadCredentials`], [`Case::MissingZone`], [`Case::RateLimit`]: error mapping to
//!   [`ProviderError`] kinds.
//!
//! A subject that cannot offer a case (no rate limit in the protocol) or whose provider
//! guarantees less (PowerDNS has no compare-and-swap across processes) says so with a reason,
//! which the suite prints; nothing is passed silently. Every provider call is bounded in time.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wildcert_dns::{Applied, DnsName, DnsProvider, ProviderError, TxtSet, Zone};

pub use async_trait::async_trait;

pub mod issuance;

/// Bound on one provider call (publish, unpublish, zone lookup, waiting for INSYNC).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// Bound on a call of the 600-value case (a paced API may need a while).
pub const BIG_CALL_TIMEOUT: Duration = Duration::from_secs(300);
/// Rounds of the concurrency case (each at a fresh name: a lost update shows in any of them).
pub const CONCURRENCY_ROUNDS: usize = 4;

/// A provider instance shared between tasks.
pub type Provider = Arc<dyn DnsProvider>;

/// The kinds of [`ProviderError`], for expectations and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// [`ProviderError::Auth`].
    Auth,
    /// [`ProviderError::ZoneNotFound`].
    ZoneNotFound,
    /// [`ProviderError::Rejected`].
    Rejected,
    /// [`ProviderError::RateLimited`].
    RateLimited,
    /// [`ProviderError::Unreachable`].
    Unreachable,
    /// [`ProviderError::Config`].
    Config,
    /// [`ProviderError::Other`] (or a kind added later).
    Other,
}

impl Kind {
    /// The kind of `e`.
    pub fn of(e: &ProviderError) -> Kind {
        match e {
            ProviderError::Auth { .. } => Kind::Auth,
            ProviderError::ZoneNotFound { .. } => Kind::ZoneNotFound,
            ProviderError::Rejected { .. } => Kind::Rejected,
            ProviderError::RateLimited { .. } => Kind::RateLimited,
            ProviderError::Unreachable { .. } => Kind::Unreachable,
            ProviderError::Config { .. } => Kind::Config,
            _ => Kind::Other,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Whether a subject offers a case, or why not (printed by the suite).
pub enum Support<T> {
    /// The case applies; here is what it needs.
    Yes(T),
    /// The case does not apply to this provider, for this reason.
    NotApplicable(String),
}

/// What an error case runs against and what it expects.
pub struct ErrorProbe {
    /// The provider to call (bad credentials, a small rate-limit budget, …).
    pub provider: Provider,
    /// The kind the provider must report.
    pub expect: Kind,
    /// Why `expect` differs from the contract's kind, when it does (printed).
    pub why: Option<String>,
}

impl ErrorProbe {
    /// A probe expecting the contract's kind for its case.
    pub fn contract(provider: Provider, case: Case) -> ErrorProbe {
        ErrorProbe {
            provider,
            expect: case.contract_kind().unwrap_or(Kind::Other),
            why: None,
        }
    }
}

/// What two instances publishing into one RRset at once are guaranteed.
pub enum Concurrency {
    /// Two independent instances (own clients, locks and state) never lose a value.
    Independent(Provider),
    /// Only calls through one instance are safe (they are serialised); two instances may lose
    /// a value, for this reason. The suite then checks one instance shared by two tasks.
    OneInstance(String),
}

/// The provider under test, on its server or fake (started by [`Subject::start`]).
#[async_trait]
pub trait Subject: Send + Sync + Sized + 'static {
    /// Start the server and the subject; `None` when the server is missing and the test may
    /// be skipped (the kit's `require_*` helpers panic under `CI=true` instead).
    async fn start() -> Option<Self>;

    /// The apex of the zone the cases write into (it exists on the server).
    fn zone(&self) -> DnsName;

    /// A provider instance with good credentials.
    fn provider(&self) -> Provider;

    /// A second, independent instance for [`Case::TwoInstances`], or the weaker guarantee.
    fn second_instance(&self) -> Concurrency;

    /// The TXT values at `name` as the server holds them right now (an authoritative DNS
    /// query, or the API's/fake's own view), duplicates kept, in any order.
    async fn served(&self, name: &DnsName) -> Vec<String>;

    /// Put a value at `name` as someone else would (not through the provider).
    async fn plant(&self, name: &DnsName, value: &str);

    /// A provider whose credentials the server refuses.
    fn bad_credentials(&self) -> Support<ErrorProbe>;

    /// A provider and the apex of a zone the server does not have.
    fn missing_zone(&self) -> Support<(ErrorProbe, DnsName)>;

    /// Make the server rate-limit from now on; a provider with a small budget for waiting.
    async fn rate_limit(&self) -> Support<ErrorProbe>;
}

/// The cases of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// Wildcard + apex values at one name next to a foreign value.
    WildcardAndApex,
    /// Cleanup removes exactly our values.
    ExactRemoval,
    /// Publishing the same values again changes nothing.
    Republish,
    /// Removing values that are not there is no error.
    RemoveGone,
    /// 600 values in one zone in one call.
    SixHundred,
    /// Two instances publishing into one RRset at once.
    TwoInstances,
    /// Bad credentials are [`Kind::Auth`].
    BadCredentials,
    /// A zone the server lacks is [`Kind::ZoneNotFound`].
    MissingZone,
    /// A rate-limiting server is [`Kind::RateLimited`].
    RateLimit,
}

impl Case {
    /// The kind the contract asks for, for the error cases.
    pub fn contract_kind(self) -> Option<Kind> {
        match self {
            Case::BadCredentials => Some(Kind::Auth),
            Case::MissingZone => Some(Kind::ZoneNotFound),
            Case::RateLimit => Some(Kind::RateLimited),
            _ => None,
        }
    }
}

/// Writes one `#[tokio::test]` per [`Case`] for a [`Subject`] type, in a module `conformance`.
///
/// ```text
/// wildcert_conformance::conformance_suite!(crate::subject::Pdns);
/// ```
#[macro_export]
macro_rules! conformance_suite {
    ($subject:ty) => {
        /// The provider conformance suite (tests/conformance, crate wildcert-conformance).
        mod conformance {
            use $crate::{Case, run};
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn wildcard_and_apex_beside_a_foreign_value() {
                run::<$subject>(Case::WildcardAndApex).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn exact_removal() {
                run::<$subject>(Case::ExactRemoval).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn republishing_adds_no_duplicate() {
                run::<$subject>(Case::Republish).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn removing_values_that_are_gone() {
                run::<$subject>(Case::RemoveGone).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn six_hundred_values_in_one_call() {
                run::<$subject>(Case::SixHundred).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn two_instances_into_one_rrset() {
                run::<$subject>(Case::TwoInstances).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn bad_credentials_are_auth() {
                run::<$subject>(Case::BadCredentials).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn missing_zone_is_zone_not_found() {
                run::<$subject>(Case::MissingZone).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn rate_limit_is_rate_limited() {
                run::<$subject>(Case::RateLimit).await
            }
        }
    };
}

/// Start the subject and run one case; panics (fails the test) on any breach of the contract.
pub async fn run<S: Subject>(case: Case) {
    let Some(subject) = S::start().await else {
        return;
    };
    let start = Instant::now();
    let label = subject.provider().name();
    match case {
        Case::WildcardAndApex => wildcard_and_apex(&subject).await,
        Case::ExactRemoval => exact_removal(&subject).await,
        Case::Republish => republish(&subject).await,
        Case::RemoveGone => remove_gone(&subject).await,
        Case::SixHundred => six_hundred(&subject).await,
        Case::TwoInstances => two_instances(&subject).await,
        Case::BadCredentials => {
            if !bad_credentials(&subject).await {
                return;
            }
        }
        Case::MissingZone => {
            if !missing_zone(&subject).await {
                return;
            }
        }
        Case::RateLimit => {
            if !rate_limit(&subject).await {
                return;
            }
        }
    }
    eprintln!(
        "conformance {label} {case:?}: passed in {} ms",
        start.elapsed().as_millis()
    );
}

/// An ACME-like value (43 characters of base64url), distinct per `tag` and `i`.
pub fn token(tag: &str, i: usize) -> String {
    let base = format!("{tag}-{i:04}-");
    let fill: String = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ0123456789_"
        .chars()
        .cycle()
        .skip(i % 50)
        .take(43usize.saturating_sub(base.len()))
        .collect();
    format!("{base}{fill}")
}

/// `label.<zone>` as a name.
fn at(subject: &impl Subject, label: &str) -> DnsName {
    let zone = subject.zone();
    DnsName::parse(&format!("{label}.{zone}")).unwrap_or_else(|e| panic!("{label}.{zone}: {e}"))
}

fn set_of(pairs: &[(&DnsName, &str)]) -> TxtSet {
    let mut s = TxtSet::new();
    for (n, v) in pairs {
        s.insert((*n).clone(), *v);
    }
    s
}

fn sorted<I: IntoIterator<Item = S>, S: Into<String>>(values: I) -> Vec<String> {
    let mut v: Vec<String> = values.into_iter().map(Into::into).collect();
    v.sort();
    v
}

async fn served_sorted(subject: &impl Subject, name: &DnsName) -> Vec<String> {
    sorted(subject.served(name).await)
}

/// Run `fut`, bounded by `limit`.
async fn bounded<T>(what: &str, limit: Duration, fut: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(limit, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not finish within {limit:?}"),
    }
}

/// The zone the provider uses for `name` (its own lookup, or the subject's apex).
async fn zone_of(p: &Provider, subject: &impl Subject, name: &DnsName) -> Zone {
    let found = bounded("zone_for", CALL_TIMEOUT, p.zone_for(name)).await;
    match found {
        Ok(Some(z)) => {
            assert_eq!(
                z.name,
                subject.zone(),
                "zone_for({name}) found another zone"
            );
            z
        }
        Ok(None) => Zone::new(subject.zone()),
        Err(e) => panic!("zone_for({name}): {e}"),
    }
}

/// Publish and wait until the provider reports the change applied.
async fn publish(p: &Provider, zone: &Zone, set: &TxtSet, limit: Duration) {
    let applied: Applied = bounded("publish", limit, p.publish(zone, set))
        .await
        .unwrap_or_else(|e| panic!("publish of {} values: {e}", set.len()));
    bounded("wait_applied", limit, p.wait_applied(&applied, limit))
        .await
        .unwrap_or_else(|e| panic!("wait_applied: {e}"));
}

async fn unpublish(p: &Provider, zone: &Zone, set: &TxtSet, limit: Duration) {
    bounded("unpublish", limit, p.unpublish(zone, set))
        .await
        .unwrap_or_else(|e| panic!("unpublish of {} values: {e}", set.len()));
}

async fn wildcard_and_apex(subject: &impl Subject) {
    let p = subject.provider();
    let name = at(subject, "_acme-challenge");
    let www = at(subject, "_acme-challenge.www");
    subject.plant(&name, "foreign-value").await;
    let zone = zone_of(&p, subject, &name).await;
    let (wild, apex, w) = (token("wild", 1), token("apex", 2), token("www", 3));
    let set = set_of(&[(&name, &wild), (&name, &apex), (&www, &w)]);
    publish(&p, &zone, &set, CALL_TIMEOUT).await;
    assert_eq!(
        served_sorted(subject, &name).await,
        sorted([apex.as_str(), "foreign-value", wild.as_str()]),
        "wildcard and apex values next to the foreign one, each once"
    );
    assert_eq!(served_sorted(subject, &www).await, std::slice::from_ref(&w));
    unpublish(&p, &zone, &set, CALL_TIMEOUT).await;
    assert_eq!(served_sorted(subject, &name).await, ["foreign-value"]);
    assert!(served_sorted(subject, &www).await.is_empty());
}

async fn exact_removal(subject: &impl Subject) {
    let p = subject.provider();
    let shared = at(subject, "_acme-challenge.shared");
    let alone = at(subject, "_acme-challenge.alone");
    subject.plant(&shared, "foreign-value").await;
    let zone = zone_of(&p, subject, &shared).await;
    let (a, b, c) = (token("a", 1), token("b", 2), token("c", 3));
    let all = set_of(&[(&shared, &a), (&shared, &b), (&alone, &c)]);
    publish(&p, &zone, &all, CALL_TIMEOUT).await;
    // One value of two at a name: the other and the foreign one stay.
    unpublish(&p, &zone, &set_of(&[(&shared, &a)]), CALL_TIMEOUT).await;
    assert_eq!(
        served_sorted(subject, &shared).await,
        sorted([b.as_str(), "foreign-value"]),
        "exactly the removed value is gone"
    );
    assert_eq!(
        served_sorted(subject, &alone).await,
        std::slice::from_ref(&c)
    );
    // The rest: the foreign value stays, the RRset that held only ours is gone.
    unpublish(
        &p,
        &zone,
        &set_of(&[(&shared, &b), (&alone, &c)]),
        CALL_TIMEOUT,
    )
    .await;
    assert_eq!(served_sorted(subject, &shared).await, ["foreign-value"]);
    assert!(
        served_sorted(subject, &alone).await.is_empty(),
        "an RRset of ours alone is removed"
    );
}

async fn republish(subject: &impl Subject) {
    let p = subject.provider();
    let name = at(subject, "_acme-challenge.again");
    subject.plant(&name, "foreign-value").await;
    let zone = zone_of(&p, subject, &name).await;
    let (a, b) = (token("again-a", 1), token("again-b", 2));
    let set = set_of(&[(&name, &a), (&name, &b)]);
    publish(&p, &zone, &set, CALL_TIMEOUT).await;
    publish(&p, &zone, &set, CALL_TIMEOUT).await;
    // A second instance (a retried run after a crash) publishing the same values once more.
    let fresh = match subject.second_instance() {
        Concurrency::Independent(q) => q,
        Concurrency::OneInstance(_) => subject.provider(),
    };
    publish(&fresh, &zone, &set, CALL_TIMEOUT).await;
    assert_eq!(
        served_sorted(subject, &name).await,
        sorted([a.as_str(), b.as_str(), "foreign-value"]),
        "no duplicate after publishing the same values three times"
    );
    // One cleanup takes all of ours away (no copy left behind).
    unpublish(&p, &zone, &set, CALL_TIMEOUT).await;
    assert_eq!(served_sorted(subject, &name).await, ["foreign-value"]);
}

async fn remove_gone(subject: &impl Subject) {
    let p = subject.provider();
    let name = at(subject, "_acme-challenge.gone");
    let nobody = at(subject, "_acme-challenge.nobody");
    subject.plant(&name, "foreign-value").await;
    let zone = zone_of(&p, subject, &name).await;
    let never = token("never", 1);
    // Values never published, at a name with a foreign value and at a name without any.
    unpublish(
        &p,
        &zone,
        &set_of(&[(&name, &never), (&nobody, &never)]),
        CALL_TIMEOUT,
    )
    .await;
    assert_eq!(served_sorted(subject, &name).await, ["foreign-value"]);
    assert!(served_sorted(subject, &nobody).await.is_empty());
    // Removed twice; and one present value next to a gone one.
    let (a, b) = (token("gone-a", 2), token("gone-b", 3));
    publish(&p, &zone, &set_of(&[(&name, &a)]), CALL_TIMEOUT).await;
    unpublish(&p, &zone, &set_of(&[(&name, &a)]), CALL_TIMEOUT).await;
    unpublish(&p, &zone, &set_of(&[(&name, &a)]), CALL_TIMEOUT).await;
    publish(&p, &zone, &set_of(&[(&name, &b)]), CALL_TIMEOUT).await;
    unpublish(
        &p,
        &zone,
        &set_of(&[(&name, &a), (&name, &b)]),
        CALL_TIMEOUT,
    )
    .await;
    assert_eq!(served_sorted(subject, &name).await, ["foreign-value"]);
}

/// Names and values of the 600-value case: 300 names, a wildcard and an apex value each.
pub fn six_hundred_values(zone: &DnsName) -> TxtSet {
    let mut set = TxtSet::new();
    for i in 0..300 {
        let name = DnsName::parse(&format!("_acme-challenge.h{i:03}.{zone}"))
            .unwrap_or_else(|e| panic!("name {i}: {e}"));
        set.insert(name.clone(), token("w", i));
        set.insert(name, token("a", i));
    }
    set
}

async fn six_hundred(subject: &impl Subject) {
    let p = subject.provider();
    let set = six_hundred_values(&subject.zone());
    assert_eq!(set.len(), 600);
    let first = set
        .names()
        .next()
        .cloned()
        .unwrap_or_else(|| subject.zone());
    subject.plant(&first, "foreign-value").await;
    let zone = zone_of(&p, subject, &first).await;
    let t = Instant::now();
    publish(&p, &zone, &set, BIG_CALL_TIMEOUT).await;
    let published = t.elapsed();
    let mut missing = Vec::new();
    for (name, ours) in set.iter() {
        let served: BTreeSet<String> = subject.served(name).await.into_iter().collect();
        missing.extend(
            ours.iter()
                .filter(|v| !served.contains(*v))
                .map(|v| format!("{name} {v}")),
        );
    }
    assert!(
        missing.is_empty(),
        "{} of 600 values not served, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let t = Instant::now();
    unpublish(&p, &zone, &set, BIG_CALL_TIMEOUT).await;
    let removed = t.elapsed();
    let mut left = Vec::new();
    for name in set.names() {
        let served = subject.served(name).await;
        left.extend(
            served
                .into_iter()
                .filter(|v| v != "foreign-value")
                .map(|v| format!("{name} {v}")),
        );
    }
    assert!(
        left.is_empty(),
        "{} values left after cleanup, e.g. {:?}",
        left.len(),
        &left[..left.len().min(5)]
    );
    assert_eq!(served_sorted(subject, &first).await, ["foreign-value"]);
    eprintln!(
        "conformance {}: 600 values published in {} ms, removed in {} ms",
        p.name(),
        published.as_millis(),
        removed.as_millis()
    );
}

async fn two_instances(subject: &impl Subject) {
    let p = subject.provider();
    let q = match subject.second_instance() {
        Concurrency::Independent(q) => q,
        Concurrency::OneInstance(why) => {
            eprintln!(
                "conformance {}: two instances are not guaranteed ({why}); checking two tasks on one instance",
                p.name()
            );
            p.clone()
        }
    };
    for round in 0..CONCURRENCY_ROUNDS {
        let name = at(subject, &format!("_acme-challenge.race{round}"));
        subject.plant(&name, "foreign-value").await;
        let zone = zone_of(&p, subject, &name).await;
        let (a, b) = (token("one", round), token("two", round));
        let (sa, sb) = (set_of(&[(&name, &a)]), set_of(&[(&name, &b)]));
        let (ra, rb) = bounded("two publishes", CALL_TIMEOUT, async {
            tokio::join!(
                async {
                    let ap = p.publish(&zone, &sa).await?;
                    p.wait_applied(&ap, CALL_TIMEOUT).await
                },
                async {
                    let ap = q.publish(&zone, &sb).await?;
                    q.wait_applied(&ap, CALL_TIMEOUT).await
                }
            )
        })
        .await;
        ra.unwrap_or_else(|e| panic!("round {round}, first instance: {e}"));
        rb.unwrap_or_else(|e| panic!("round {round}, second instance: {e}"));
        assert_eq!(
            served_sorted(subject, &name).await,
            sorted([a.as_str(), b.as_str(), "foreign-value"]),
            "round {round}: both values after two publishes at once"
        );
        let (ra, rb) = bounded("two unpublishes", CALL_TIMEOUT, async {
            tokio::join!(p.unpublish(&zone, &sa), q.unpublish(&zone, &sb))
        })
        .await;
        ra.unwrap_or_else(|e| panic!("round {round}, first instance cleanup: {e}"));
        rb.unwrap_or_else(|e| panic!("round {round}, second instance cleanup: {e}"));
        assert_eq!(
            served_sorted(subject, &name).await,
            ["foreign-value"],
            "round {round}: both values gone after two cleanups at once"
        );
    }
}

/// Print why a case does not apply; false (the case did not run).
fn not_applicable(label: &str, case: Case, why: &str) -> bool {
    assert!(
        !why.trim().is_empty(),
        "a case declared not applicable needs a reason"
    );
    eprintln!("conformance {label} {case:?}: NOT APPLICABLE: {why}");
    false
}

fn check_kind(label: &str, case: Case, probe: &ErrorProbe, what: &str, e: &ProviderError) {
    if let Some(why) = &probe.why {
        eprintln!(
            "conformance {label} {case:?}: declared {} instead of {} ({why})",
            probe.expect,
            case.contract_kind().unwrap_or(Kind::Other)
        );
    }
    assert_eq!(
        Kind::of(e),
        probe.expect,
        "{what}: expected a {} error, got: {e}",
        probe.expect
    );
}

async fn bad_credentials(subject: &impl Subject) -> bool {
    let label = subject.provider().name();
    let probe = match subject.bad_credentials() {
        Support::Yes(p) => p,
        Support::NotApplicable(why) => return not_applicable(label, Case::BadCredentials, &why),
    };
    let good = subject.provider();
    let name = at(subject, "_acme-challenge.badcreds");
    let zone = zone_of(&good, subject, &name).await;
    let bad = &probe.provider;
    let mut errors = 0;
    match bounded("zone_for", CALL_TIMEOUT, bad.zone_for(&name)).await {
        Ok(_) => {}
        Err(e) => {
            check_kind(label, Case::BadCredentials, &probe, "zone_for", &e);
            errors += 1;
        }
    }
    let set = set_of(&[(&name, "never-published")]);
    match bounded("publish", CALL_TIMEOUT, bad.publish(&zone, &set)).await {
        Ok(_) => panic!("publish with bad credentials succeeded"),
        Err(e) => {
            check_kind(label, Case::BadCredentials, &probe, "publish", &e);
            errors += 1;
        }
    }
    assert!(errors >= 1);
    assert!(
        subject.served(&name).await.is_empty(),
        "nothing published with bad credentials"
    );
    true
}

async fn missing_zone(subject: &impl Subject) -> bool {
    let label = subject.provider().name();
    let (probe, apex) = match subject.missing_zone() {
        Support::Yes(p) => p,
        Support::NotApplicable(why) => return not_applicable(label, Case::MissingZone, &why),
    };
    let name = DnsName::parse(&format!("_acme-challenge.{apex}"))
        .unwrap_or_else(|e| panic!("{apex}: {e}"));
    let p = &probe.provider;
    // As the pipeline does: the provider's own lookup first; when it leaves the zone to DNS
    // discovery, the publish into the zone DNS would name.
    match bounded("zone_for", CALL_TIMEOUT, p.zone_for(&name)).await {
        Err(e) => {
            check_kind(label, Case::MissingZone, &probe, "zone_for", &e);
            assert!(
                e.to_string().contains(apex.as_str()),
                "the error names the zone or name: {e}"
            );
        }
        Ok(Some(z)) => panic!("zone_for({name}) found a zone the server lacks: {z}"),
        Ok(None) => {
            let set = set_of(&[(&name, "never-published")]);
            let zone = Zone::new(apex.clone());
            match bounded("publish", CALL_TIMEOUT, p.publish(&zone, &set)).await {
                Ok(_) => panic!("publish into a missing zone succeeded"),
                Err(e) => check_kind(label, Case::MissingZone, &probe, "publish", &e),
            }
        }
    }
    true
}

async fn rate_limit(subject: &impl Subject) -> bool {
    let label = subject.provider().name();
    let good = subject.provider();
    let name = at(subject, "_acme-challenge.limited");
    let zone = zone_of(&good, subject, &name).await;
    let probe = match subject.rate_limit().await {
        Support::Yes(p) => p,
        Support::NotApplicable(why) => return not_applicable(label, Case::RateLimit, &why),
    };
    let set = set_of(&[(&name, "rate-limited")]);
    let t = Instant::now();
    match bounded(
        "publish while rate limited",
        Duration::from_secs(60),
        probe.provider.publish(&zone, &set),
    )
    .await
    {
        Ok(_) => panic!("publish succeeded although every request was rate limited"),
        Err(e) => check_kind(label, Case::RateLimit, &probe, "publish", &e),
    }
    eprintln!(
        "conformance {label}: gave up on the rate limit after {} ms",
        t.elapsed().as_millis()
    );
    true
}

/// Log to the test output (shown for failing tests), at `info` unless `RUST_LOG` says
/// otherwise; once per test binary.
pub fn init_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
            )
            .with_test_writer()
            .try_init();
    });
}
