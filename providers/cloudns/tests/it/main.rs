//! Integration tests of the cloudns provider against its ClouDNS API fake
//! (providers/cloudns/tests/fake): the conformance suite, a wildcard + apex certificate issued
//! by Pebble through the fake and a real BIND zone, and ClouDNS's own traps (credentials as
//! parameters kept out of every URL, failures as HTTP 200 `Failed`, the rate limit as `Request
//! blocked`, TTLs rounded to ClouDNS's list, sub-users, zone pages).

#[path = "../fake/mod.rs"]
mod fake;
mod sdk;
mod subject;

wildcert_conformance::conformance_suite!(crate::subject::Cloudns);

use std::time::Duration;

use wildcert_cloudns::{CloudnsProvider, CloudnsSettings};
use wildcert_conformance::{init_logs, issuance};
use wildcert_dns::{DnsName, DnsProvider, ProviderError, Secret, TxtSet, Zone};

use crate::fake::{CloudnsFake, CloudnsFakeOptions, FakeToken};

const NAME: &str = "_acme-challenge.example.test";
const PASSWORD: &str = "CLOUDNSPASSWORD";

/// A started fake.
pub fn fake(opts: CloudnsFakeOptions) -> CloudnsFake {
    init_logs();
    CloudnsFake::start(opts).expect("fake starts")
}

/// Settings for the fake's default API user.
pub fn settings(fake: &CloudnsFake) -> CloudnsSettings {
    CloudnsSettings {
        auth_id: Some("4321".into()),
        auth_password: Some(Secret::new(PASSWORD)),
        base_url: Some(fake.base_url()),
        ..Default::default()
    }
}

fn provider(s: &CloudnsSettings) -> CloudnsProvider {
    CloudnsProvider::new(s).expect("valid settings")
}

fn name(s: &str) -> DnsName {
    DnsName::parse(s).expect("valid name")
}

fn set(pairs: &[(&str, &str)]) -> TxtSet {
    let mut s = TxtSet::new();
    for (n, v) in pairs {
        s.insert(name(n), *v);
    }
    s
}

async fn zone_of(p: &CloudnsProvider, fqdn: &str) -> Zone {
    p.zone_for(&name(fqdn))
        .await
        .expect("zone_for")
        .expect("a zone")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_and_apex_certificate_through_the_fake_and_bind() {
    let Some(topo) = issuance::topology() else {
        return;
    };
    let fake = fake(CloudnsFakeOptions::backed_by(&topo));
    fake.seed("example.test", "TXT", NAME, "keep-me", 60);
    let env = [
        ("CLOUDNS_AUTH_ID", "4321".to_string()),
        ("CLOUDNS_AUTH_PASSWORD", PASSWORD.to_string()),
        ("CLOUDNS_API_URL", fake.base_url()),
    ];
    issuance::issue_wildcard_and_apex(&topo, "cloudns", &env).await;
    assert_eq!(fake.txt_values(NAME), ["keep-me"], "no record of ours left");
    let dns = topo.txt_values(topo.primary_addr(), NAME).expect("dig");
    assert_eq!(dns, ["keep-me"]);
    let leaked = fake.requests().iter().any(|r| r.target.contains(PASSWORD));
    assert!(!leaked, "the password never travels in a URL");
}

#[tokio::test]
async fn credentials_in_the_form_body_relative_hosts_rounded_ttl() {
    let fake = fake(CloudnsFakeOptions::default());
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    fake.seed("example.test", "TXT", NAME, "there", 60);
    let mut s = TxtSet::with_ttl(120);
    s.insert(name(NAME), "sub");
    s.insert(name(NAME), "there");
    s.insert(name("example.test"), "apex");
    fake.clear_requests();
    p.publish(&zone, &s).await.expect("publish");
    let reqs = fake.requests();
    assert!(
        reqs.iter()
            .all(|r| r.method == "POST" && r.query.is_empty()),
        "{reqs:?}"
    );
    assert!(
        reqs.iter()
            .all(|r| r.body.contains("auth-id=4321") && r.body.contains("auth-password="))
    );
    let adds: Vec<_> = reqs
        .iter()
        .filter(|r| r.path == "/add-record.json")
        .collect();
    assert_eq!(adds.len(), 2, "only the missing values");
    let bodies: Vec<_> = adds
        .iter()
        .map(|r| wildcert_testkit::parse_query(&r.body))
        .collect();
    let field = |b: &Vec<(String, String)>, k: &str| {
        b.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut hosts: Vec<String> = bodies.iter().map(|b| field(b, "host")).collect();
    hosts.sort();
    assert_eq!(
        hosts,
        ["", "_acme-challenge"],
        "relative, \"\" for the apex"
    );
    assert!(
        bodies.iter().all(|b| field(b, "ttl") == "300"),
        "120 rounded up to 300"
    );
    assert_eq!(fake.txt_values(NAME), ["sub", "there"]);
    p.unpublish(&zone, &s).await.expect("unpublish");
    assert!(fake.txt_values(NAME).is_empty() && fake.txt_values("example.test").is_empty());
    // A record already gone is fine.
    p.unpublish(&zone, &s)
        .await
        .expect("nothing left to remove");
}

#[tokio::test]
async fn request_blocked_is_waited_out_then_rate_limited() {
    let fake = fake(CloudnsFakeOptions::default());
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    fake.fail_next_blocked(2);
    p.publish(&zone, &set(&[(NAME, "after-block")]))
        .await
        .expect("publish");
    assert_eq!(fake.txt_values(NAME), ["after-block"]);
    let blocked = fake
        .requests()
        .iter()
        .filter(|r| r.tag.as_deref() == Some("Request blocked"))
        .count();
    assert_eq!(blocked, 2);
    fake.block_for(Duration::from_secs(60));
    let impatient = provider(&CloudnsSettings {
        rate_limit_wait: Some(1),
        ..settings(&fake)
    });
    let e = impatient
        .publish(&zone, &set(&[(NAME, "x")]))
        .await
        .expect_err("still blocked");
    assert!(matches!(e, ProviderError::RateLimited { .. }), "{e:?}");
}

#[tokio::test]
async fn wrong_password_names_the_variables_and_the_ip_list() {
    let fake = fake(CloudnsFakeOptions {
        tokens: vec![FakeToken::full("sub:77:SUBPASSWORD")],
        ..Default::default()
    });
    let user = provider(&settings(&fake));
    let e = user.zone_for(&name(NAME)).await.expect_err("no such user");
    assert!(matches!(e, ProviderError::Auth { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("CLOUDNS_AUTH_ID") && text.contains("CLOUDNS_AUTH_PASSWORD"),
        "{text}"
    );
    assert!(
        text.contains("allowed IPs") && !text.contains(PASSWORD),
        "{text}"
    );
    let sub = provider(&CloudnsSettings {
        auth_id: None,
        sub_auth_id: Some("77".into()),
        auth_password: Some(Secret::new("WRONGSUBPW")),
        ..settings(&fake)
    });
    let e = sub.zone_for(&name(NAME)).await.expect_err("wrong password");
    let text = e.to_string();
    assert!(
        text.contains("sub-auth-id") && text.contains("CLOUDNS_SUB_AUTH_ID"),
        "{text}"
    );
    assert!(!text.contains("WRONGSUBPW"), "{text}");
}

#[tokio::test]
async fn zones_across_pages_sub_users_and_missing_zones() {
    let mut zones: Vec<String> = (0..130).map(|i| format!("z{i:03}.test")).collect();
    zones.extend([
        "example.test".into(),
        "sub.example.test".into(),
        "hidden.test".into(),
    ]);
    let visible: Vec<String> = zones
        .iter()
        .filter(|z| *z != "hidden.test")
        .cloned()
        .collect();
    let fake = fake(CloudnsFakeOptions {
        zones,
        tokens: vec![FakeToken {
            zones: Some(visible),
            ..FakeToken::full("sub:77:SUBPASSWORD")
        }],
        ..Default::default()
    });
    let p = provider(&CloudnsSettings {
        auth_id: None,
        sub_auth_id: Some("77".into()),
        auth_password: Some(Secret::new("SUBPASSWORD")),
        ..settings(&fake)
    });
    let z = zone_of(&p, "_acme-challenge.www.sub.example.test").await;
    assert_eq!(z.name, name("sub.example.test"));
    assert_eq!(
        fake.count("POST", "/list-zones.json"),
        2,
        "132 zones: two pages of 100"
    );
    let e = p
        .zone_for(&name("_acme-challenge.hidden.test"))
        .await
        .expect_err("not delegated");
    assert!(matches!(e, ProviderError::ZoneNotFound { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("it has: example.test") && text.contains("in all"),
        "{text}"
    );
    // A zone that is gone (or not the sub-user's) answers `Missing domain-name`.
    let gone = Zone::new(name("hidden.test"));
    let e = p
        .publish(&gone, &set(&[("_acme-challenge.hidden.test", "v")]))
        .await
        .expect_err("gone");
    assert!(matches!(e, ProviderError::ZoneNotFound { .. }), "{e:?}");
}
