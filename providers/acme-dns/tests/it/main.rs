//! Integration tests of the acme-dns provider against its acme-dns fake (tests/fake, on the
//! kit's router), once backed by real BIND zones with Pebble validating a wildcard + apex
//! certificate through the `_acme-challenge` CNAME: after `register` (the set-up command's
//! library), and with a registrations file written by lego's own code (goacmedns, lego.rs). The
//! conformance cases that apply to acme-dns run from the suite; `not_applicable` says why the
//! others cannot and the tests beside it check what acme-dns offers instead.

#[allow(dead_code)]
#[path = "../fake/mod.rs"]
mod fake;
mod lego;
mod sdk;
mod subject;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use wildcert_acme_dns::setup::{self, CheckOptions, Registered};
use wildcert_acme_dns::{AcmeDnsProvider, AcmeDnsSettings};
use wildcert_conformance::{Case, init_logs, run, token};
use wildcert_dns::{DnsName, DnsProvider, ProviderError, TxtSet, Zone};
use wildcert_testkit::{BindOptions, BindTopology};

use crate::fake::{AcmeDnsFake, AcmeDnsFakeOptions, DOMAIN};

/// The conformance cases acme-dns can have, and why the others cannot.
mod conformance {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bad_credentials_are_auth() {
        run::<crate::subject::AcmeDns>(Case::BadCredentials).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn missing_zone_is_zone_not_found() {
        run::<crate::subject::AcmeDns>(Case::MissingZone).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rate_limit_is_rate_limited() {
        run::<crate::subject::AcmeDns>(Case::RateLimit).await
    }

    /// Cases the suite runs against a zone; on acme-dns a registration's name holds exactly
    /// its own two rolling values and nothing can be deleted.
    pub const NOT_APPLICABLE: &[(Case, &str)] = &[
        (
            Case::WildcardAndApex,
            "no foreign value can sit beside a registration's two values, and cleanup cannot delete (wildcard_and_apex_through_one_registration checks the pair)",
        ),
        (
            Case::ExactRemoval,
            "acme-dns has no delete: values stay until two later updates replace them (cleanup_sends_nothing_and_the_next_pair_replaces_the_values)",
        ),
        (
            Case::Republish,
            "its final step expects cleanup to delete (republishing_sends_no_value_twice checks that no value is sent twice)",
        ),
        (
            Case::RemoveGone,
            "its final step expects cleanup to delete (cleanup_sends_nothing_and_the_next_pair_replaces_the_values)",
        ),
        (
            Case::SixHundred,
            "a registration holds two values and 300 names would need 300 registrations and CNAMEs, then a delete",
        ),
        (
            Case::TwoInstances,
            "both values arrive (two_instances_into_one_registration) but cleanup cannot delete them",
        ),
    ];

    #[test]
    fn not_applicable() {
        for (case, why) in NOT_APPLICABLE {
            eprintln!("conformance acme-dns {case:?}: NOT APPLICABLE: {why}");
            assert!(!why.is_empty());
        }
    }
}

/// A started fake.
pub fn fake(opts: AcmeDnsFakeOptions) -> AcmeDnsFake {
    init_logs();
    AcmeDnsFake::start(opts).expect("fake starts")
}

fn settings(fake: &AcmeDnsFake) -> AcmeDnsSettings {
    AcmeDnsSettings {
        api_base: Some(fake.base_url()),
        ..Default::default()
    }
}

fn name(s: &str) -> DnsName {
    DnsName::parse(s).expect("valid name")
}

fn set(name_: &DnsName, values: &[&str]) -> TxtSet {
    let mut s = TxtSet::new();
    for v in values {
        s.insert(name_.clone(), *v);
    }
    s
}

/// Register `names` on the fake into `state`, and a provider reading them from there.
async fn registered(
    fake: &AcmeDnsFake,
    state: &Path,
    names: &[&str],
) -> (Vec<Registered>, AcmeDnsProvider) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let regs = setup::register(&settings(fake), None, None, state, &names)
        .await
        .expect("register");
    let p = AcmeDnsProvider::new(&AcmeDnsSettings::default(), Some(state)).expect("provider");
    (regs, p)
}

fn zone() -> Zone {
    Zone::new(name(DOMAIN))
}

#[tokio::test]
async fn wildcard_and_apex_through_one_registration() {
    let f = fake(AcmeDnsFakeOptions::default());
    let state = tempfile::tempdir().expect("dir");
    let (regs, p) = registered(
        &f,
        state.path(),
        &["*.example.test", "example.test", "www.example.test"],
    )
    .await;
    assert_eq!(
        regs.len(),
        2,
        "the wildcard shares its apex's registration: {regs:?}"
    );
    assert_eq!(
        regs[0].record(),
        format!("_acme-challenge.example.test. CNAME {}.", regs[0].target)
    );
    assert!(
        regs.iter()
            .all(|r| r.new && r.target.as_str().ends_with(DOMAIN))
    );
    let target = &regs[0].target;
    assert_eq!(
        p.zone_for(target).await.expect("zone"),
        None,
        "the zone comes from DNS"
    );
    let (w, a) = (token("wild", 1), token("apex", 2));
    p.publish(&zone(), &set(target, &[&w, &a]))
        .await
        .expect("publish");
    let mut want = vec![w.clone(), a.clone()];
    want.sort();
    assert_eq!(f.values(target.as_str()), want);
    assert!(
        f.values(regs[1].target.as_str()).is_empty(),
        "the other registration is untouched"
    );
    // Registering again reuses what is there.
    let again = setup::register(
        &settings(&f),
        None,
        None,
        state.path(),
        &["example.test".into()],
    )
    .await
    .expect("again");
    assert!(!again[0].new && again[0].target == *target);
    assert_eq!(f.with(|s| s.regs.len()), 2);
}

#[tokio::test]
async fn republishing_sends_no_value_twice() {
    let f = fake(AcmeDnsFakeOptions::default());
    let state = tempfile::tempdir().expect("dir");
    let (regs, p) = registered(&f, state.path(), &["example.test"]).await;
    let target = &regs[0].target;
    let (a, b) = (token("a", 1), token("b", 2));
    p.publish(&zone(), &set(target, &[&a, &b]))
        .await
        .expect("publish");
    p.publish(&zone(), &set(target, &[&a, &b]))
        .await
        .expect("again");
    p.publish(&zone(), &set(target, &[&b]))
        .await
        .expect("one of them");
    assert_eq!(
        f.count("POST", "/update"),
        2,
        "a repeat would push out its partner"
    );
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(f.values(target.as_str()), want);
}

#[tokio::test]
async fn a_third_value_is_refused_before_anything_is_sent() {
    let f = fake(AcmeDnsFakeOptions::default());
    let state = tempfile::tempdir().expect("dir");
    let (regs, p) = registered(&f, state.path(), &["example.test"]).await;
    let target = &regs[0].target;
    let (a, b, c) = (token("a", 1), token("b", 2), token("c", 3));
    let e = p
        .publish(&zone(), &set(target, &[&a, &b, &c]))
        .await
        .expect_err("three at once");
    assert!(
        matches!(e, ProviderError::Rejected { .. }) && e.to_string().contains("two latest"),
        "{e}"
    );
    assert_eq!(f.count("POST", "/update"), 0);
    // Two live values of another certificate of the run: a third is refused until cleanup.
    p.publish(&zone(), &set(target, &[&a, &b]))
        .await
        .expect("two");
    let e = p
        .publish(&zone(), &set(target, &[&c]))
        .await
        .expect_err("third while two in use");
    assert!(e.to_string().contains("2 still in use"), "{e}");
    p.unpublish(&zone(), &set(target, &[&a]))
        .await
        .expect("cleanup");
    p.publish(&zone(), &set(target, &[&c]))
        .await
        .expect("room again");
    let mut want = vec![b, c];
    want.sort();
    assert_eq!(
        f.values(target.as_str()),
        want,
        "the server keeps the two latest"
    );
}

#[tokio::test]
async fn cleanup_sends_nothing_and_the_next_pair_replaces_the_values() {
    let f = fake(AcmeDnsFakeOptions::default());
    let state = tempfile::tempdir().expect("dir");
    let (regs, p) = registered(&f, state.path(), &["example.test"]).await;
    let target = &regs[0].target;
    let (a, b) = (token("a", 1), token("b", 2));
    let pair = set(target, &[&a, &b]);
    p.publish(&zone(), &pair).await.expect("publish");
    f.clear_requests();
    p.unpublish(&zone(), &pair).await.expect("cleanup");
    p.unpublish(&zone(), &pair)
        .await
        .expect("cleanup of values already forgotten");
    let gone = name("_acme-challenge.unknown.test");
    p.unpublish(&zone(), &set(&gone, &[&a]))
        .await
        .expect("cleanup of an unknown name");
    assert!(
        f.requests().is_empty(),
        "acme-dns has no delete: cleanup sends nothing"
    );
    assert_eq!(
        f.values(target.as_str()).len(),
        2,
        "the values stay on the server"
    );
    // Sent within a second of the first pair: without the provider's SAME_SECOND wait the
    // server would overwrite `c` with `d` (a tie on the stamp takes the first row).
    let (c, d) = (token("c", 3), token("d", 4));
    p.publish(&zone(), &set(target, &[&c, &d]))
        .await
        .expect("next pair");
    let mut want = vec![c, d];
    want.sort();
    assert_eq!(f.values(target.as_str()), want);
}

#[tokio::test]
async fn two_instances_into_one_registration() {
    let f = fake(AcmeDnsFakeOptions::default());
    let state = tempfile::tempdir().expect("dir");
    let (regs, p) = registered(&f, state.path(), &["example.test"]).await;
    let q = AcmeDnsProvider::new(&AcmeDnsSettings::default(), Some(state.path())).expect("second");
    let target = &regs[0].target;
    let (a, b) = (token("one", 1), token("two", 2));
    let (z, sa, sb) = (zone(), set(target, &[&a]), set(target, &[&b]));
    let (ra, rb) = tokio::join!(p.publish(&z, &sa), q.publish(&z, &sb));
    ra.expect("first");
    rb.expect("second");
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(f.values(target.as_str()), want);
}

#[tokio::test]
async fn refusals_name_the_registration_never_the_password() {
    let f = fake(AcmeDnsFakeOptions::default());
    let state = tempfile::tempdir().expect("dir");
    // Updates only from 10.0.0.0/8; the fake sees 127.0.0.1.
    let s = AcmeDnsSettings {
        allowlist: Some("10.0.0.0/8".into()),
        ..settings(&f)
    };
    let regs = setup::register(&s, None, None, state.path(), &["example.test".into()])
        .await
        .expect("register");
    let p =
        AcmeDnsProvider::new(&AcmeDnsSettings::default(), Some(state.path())).expect("provider");
    let target = &regs[0].target;
    let e = p
        .publish(&zone(), &set(target, &[&token("a", 1)]))
        .await
        .expect_err("outside allowfrom");
    let password = f.with(|s| s.regs[0].password.clone());
    let text = e.to_string();
    assert!(matches!(e, ProviderError::Auth { .. }), "{e}");
    assert!(
        text.contains("10.0.0.0/8") && text.contains("`example.test`") && text.contains("401"),
        "{text}"
    );
    assert!(!text.contains(&password), "{text}");
    // A value acme-dns does not take.
    let (regs, p) = registered(
        &f,
        tempfile::tempdir().expect("dir").path(),
        &["other.test"],
    )
    .await;
    let e = p
        .publish(&zone(), &set(&regs[0].target, &["short"]))
        .await
        .expect_err("bad txt");
    assert!(
        matches!(e, ProviderError::Rejected { .. }) && e.to_string().contains("43"),
        "{e}"
    );
    // The name reached the provider without its CNAME.
    let e = p
        .zone_for(&name("_acme-challenge.other.test"))
        .await
        .expect_err("no cname");
    assert!(
        e.to_string().contains(&format!(
            "_acme-challenge.other.test. CNAME {}.",
            regs[0].target
        )),
        "{e}"
    );
}

#[tokio::test]
async fn bad_settings_and_servers_are_named() {
    let f = fake(AcmeDnsFakeOptions {
        disable_registration: true,
        ..Default::default()
    });
    let state = tempfile::tempdir().expect("dir");
    let names = ["example.test".to_string()];
    let e = setup::register(&settings(&f), None, None, state.path(), &names)
        .await
        .expect_err("disabled");
    assert!(e.to_string().contains("disable_registration"), "{e}");
    let e = setup::register(
        &AcmeDnsSettings::default(),
        None,
        None,
        state.path(),
        &names,
    )
    .await
    .expect_err("no server");
    assert!(
        e.to_string().contains("--api-base") && e.to_string().contains("ACME_DNS_API_BASE"),
        "{e}"
    );
    let e = AcmeDnsProvider::new(&AcmeDnsSettings::default(), Some(state.path()))
        .expect_err("nothing registered");
    assert!(e.to_string().contains("wildcert acme-dns register"), "{e}");
    let s = AcmeDnsSettings {
        storage_path: Some(state.path().join("lego.json")),
        ..Default::default()
    };
    let e = AcmeDnsProvider::new(&s, None).expect_err("missing file");
    assert!(
        e.to_string().contains("ACME_DNS_STORAGE_PATH") && e.to_string().contains("lego.json"),
        "{e}"
    );
    let e = setup::register(
        &AcmeDnsSettings::default(),
        Some("http://192.0.2.1"),
        None,
        state.path(),
        &names,
    )
    .await
    .expect_err("http");
    assert!(
        e.to_string().contains("--api-base") && e.to_string().contains("loopback"),
        "{e}"
    );
}

/// BIND serving example.test and the acme-dns domain as zones of their own (a primary, a
/// prompt and a lagging secondary), or `None` when the test may be skipped here.
pub fn topology() -> Option<BindTopology> {
    init_logs();
    if !wildcert_testkit::require_bind() || !wildcert_testkit::require_pebble() {
        return None;
    }
    let opts = BindOptions {
        zones: vec![wildcert_conformance::issuance::ZONE.into(), DOMAIN.into()],
        ..Default::default()
    };
    Some(BindTopology::start(opts).unwrap_or_else(|e| panic!("BIND topology: {e:#}")))
}

/// Issue `*.example.test` + `example.test` with `--dns acme-dns` from `state` (its
/// registrations) and `env`, through the whole tool, as `wildcert issue` does. Pebble asks a
/// recursive resolver in front of the lagging secondary: an authoritative server answers the
/// `_acme-challenge` CNAME without the target's TXT (another zone), and Pebble does not follow
/// CNAMEs itself; a CA's resolver does. (This is why the shared
/// `wildcert_conformance::issuance::issue_wildcard_and_apex`, which points Pebble at the
/// lagging secondary, cannot be used for a CNAME-delegated provider.)
pub async fn issue(topo: &BindTopology, state: &Path, env: &[(&str, String)]) {
    use wildcert_manager::renew::{Outcome, RenewOptions};
    use wildcert_manager::{Loaded, Overrides, session::Session};
    use wildcert_testkit::{Pebble, PebbleOptions, ResolverOptions};
    let resolver = topo
        .start_resolver_with(ResolverOptions { lagging_only: true })
        .expect("resolver");
    let pebble = Pebble::start(PebbleOptions {
        dns_server: Some(resolver.addr()),
        ..Default::default()
    })
    .expect("pebble");
    let config = state.join("wildcert.toml");
    let toml = "[[certificate]]\ndomains = [\"*.example.test\", \"example.test\"]\nprovider = \"acme-dns\"\n";
    std::fs::write(&config, toml).expect("config");
    let env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let o = Overrides {
        server: Some(pebble.directory_url()),
        ca_bundle: Some(pebble.ca_cert_path().to_path_buf()),
        state_dir: Some(state.to_path_buf()),
        agree_tos: true,
        resolvers: vec![topo.prompt_secondary_addr().to_string()],
        ..Default::default()
    };
    let loaded = Loaded::load(Some(&config), env, &o).expect("settings");
    let session = Session::open(&loaded).expect("session");
    let opts = RenewOptions::default();
    let run = tokio::time::timeout(Duration::from_secs(240), session.renew(&opts));
    let outcomes = match run.await {
        Ok(Ok(r)) => r.outcomes,
        Ok(Err(e)) => panic!("renew: {e:?}\n{}", pebble.log()),
        Err(_) => panic!("no certificate within 240 s\n{}", pebble.log()),
    };
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert_eq!(
        outcomes[0].outcome,
        Outcome::Issued,
        "{:?}\n{}",
        outcomes[0],
        pebble.log()
    );
}

/// `wildcert acme-dns register` (its library: register, print, check the CNAME on every
/// authoritative server), the CNAME added, then `issue --dns acme-dns` end to end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_then_issue_end_to_end() {
    let Some(topo) = topology() else { return };
    let f = fake(AcmeDnsFakeOptions::backed_by(&topo));
    let state = tempfile::tempdir().expect("dir");
    let names = ["*.example.test".to_string(), "example.test".to_string()];
    let regs = setup::register(&settings(&f), None, None, state.path(), &names)
        .await
        .expect("register");
    assert_eq!(regs.len(), 1);
    let opts = CheckOptions {
        resolvers: vec![topo.prompt_secondary_addr()],
        authoritative: vec![],
        wait: Duration::from_secs(3),
    };
    let lines = std::sync::Mutex::new(Vec::new());
    let states = setup::check_cnames(&regs, &opts, |l| {
        lines.lock().expect("lock").push(l.to_string())
    })
    .await
    .expect("check");
    assert!(
        states
            .iter()
            .all(|s| s.problem.as_deref() == Some("no such name (NXDOMAIN)")),
        "{states:?}"
    );
    assert!(
        !lines.lock().expect("lock").is_empty(),
        "progress while waiting"
    );
    let target = regs[0].target.clone();
    topo.add_records(
        "example.test",
        &[&format!("_acme-challenge 60 CNAME {target}.")],
    )
    .expect("cname");
    let opts = CheckOptions {
        wait: Duration::from_secs(30),
        ..opts
    };
    let states = setup::check_cnames(&regs, &opts, |_| {})
        .await
        .expect("check");
    assert!(
        states.len() >= 2 && states.iter().all(|s| s.problem.is_none()),
        "every authoritative server: {states:?}"
    );
    issue(&topo, state.path(), &[]).await;
    // Both values of the order are served at the registration, in the fake and in BIND.
    let served = f.values(target.as_str());
    assert_eq!(served.len(), 2, "{served:?}");
    assert!(served.iter().all(|v| v.len() == 43));
    let mut bind = topo
        .txt_values(topo.primary_addr(), target.as_str())
        .expect("dig");
    bind.sort();
    assert_eq!(bind, served, "the values acme-dns serves are in BIND");
}
