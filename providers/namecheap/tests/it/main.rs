//! Integration tests of the namecheap provider against its Namecheap XML API fake
//! (providers/namecheap/tests/fake, on the kit's router), once backed by a real BIND zone with
//! Pebble validating a wildcard + apex certificate through it. The provider contract is the
//! conformance suite (`cargo test -p wildcert-namecheap --test it conformance`); the tests here
//! are Namecheap's own: setHosts replaces the whole zone (every host, TTL and the email
//! setting kept; no write after a partial read), the whitelisted client IP, the domain lookup
//! across pages, 429, key and domain errors.

#[allow(dead_code)]
#[path = "../fake/mod.rs"]
mod fake;
mod sdk;
mod subject;

wildcert_conformance::conformance_suite!(crate::subject::Namecheap);

use wildcert_conformance::{init_logs, issuance};
use wildcert_dns::{DnsName, DnsProvider, ProviderError, Secret, TxtSet, Zone};
use wildcert_namecheap::{NamecheapProvider, NamecheapSettings};
use wildcert_testkit::Reply;

use crate::fake::{KEY, NamecheapFake, NamecheapFakeOptions, USER};

const NAME: &str = "_acme-challenge.example.test";

/// A started fake.
pub fn fake(opts: NamecheapFakeOptions) -> NamecheapFake {
    init_logs();
    NamecheapFake::start(opts).expect("fake starts")
}

/// Settings for the fake's account; ClientIp discovered from the fake's `/getip`, as lego does.
pub fn settings(fake: &NamecheapFake) -> NamecheapSettings {
    NamecheapSettings {
        api_user: Some(USER.into()),
        api_key: Some(Secret::new(KEY)),
        base_url: Some(fake.base_url()),
        client_ip_url: Some(fake.ip_url()),
        ..Default::default()
    }
}

fn provider(s: &NamecheapSettings) -> NamecheapProvider {
    NamecheapProvider::new(s).expect("valid settings")
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

async fn zone_of(p: &NamecheapProvider, fqdn: &str) -> Zone {
    let zone = p.zone_for(&name(fqdn)).await.expect("zone lookup");
    zone.expect("the provider knows its zones")
}

/// A zone as people have them: web, mail, a redirect, SPF and DMARC, a CNAME.
fn seed_realistic(fake: &NamecheapFake, zone: &str, email: &str) {
    let hosts: &[(&str, &str, &str, &str, u32)] = &[
        ("@", "A", "192.0.2.10", "10", 1800),
        ("www", "CNAME", "parkingpage.namecheap.com.", "10", 1800),
        ("blog", "CNAME", "example.github.io.", "10", 3600),
        ("@", "MX", "mx1.privateemail.com.", "10", 1800),
        ("@", "MX", "mx2.privateemail.com.", "20", 1800),
        (
            "old",
            "URL301",
            "https://www.example.test/new?a=1&b=2",
            "10",
            1800,
        ),
        ("shop", "URL", "http://shop.example.net/", "10", 1799),
        (
            "@",
            "TXT",
            "v=spf1 include:spf.efwd.registrar-servers.com ~all",
            "10",
            1799,
        ),
        (
            "_dmarc",
            "TXT",
            "v=DMARC1; p=none; rua=mailto:\"d\"@example.test",
            "10",
            60,
        ),
        ("_acme-challenge", "TXT", "foreign-value", "10", 300),
    ];
    for (n, t, a, pref, ttl) in hosts {
        if *t == "MX" && email != "MX" {
            continue;
        }
        fake.seed_host(zone, (n, t, a, pref), *ttl, false);
    }
    fake.set_email_type(zone, email);
}

/// `setHosts` requests so far.
fn writes(fake: &NamecheapFake) -> Vec<String> {
    let all = fake.requests().into_iter().map(|r| r.body);
    all.filter(|b| b.contains("namecheap.domains.dns.setHosts"))
        .collect()
}

#[tokio::test]
async fn wildcard_and_apex_certificate_through_bind() {
    let Some(topo) = issuance::topology() else {
        return;
    };
    let fake = fake(NamecheapFakeOptions::backed_by(&topo));
    seed_realistic(&fake, issuance::ZONE, "MX");
    let before = fake.hosts(issuance::ZONE);
    let env = [
        ("NAMECHEAP_API_USER", USER.to_string()),
        ("NAMECHEAP_API_KEY", KEY.to_string()),
        ("NAMECHEAP_CLIENT_IP", "127.0.0.1".to_string()),
        ("NAMECHEAP_API_URL", fake.base_url()),
    ];
    issuance::issue_wildcard_and_apex(&topo, "namecheap", &env).await;
    assert_eq!(fake.txt_values(issuance::CHALLENGE), ["foreign-value"]);
    let served = topo.txt_values(topo.primary_addr(), issuance::CHALLENGE);
    assert_eq!(served.expect("BIND answers"), ["foreign-value"]);
    assert_eq!(fake.hosts(issuance::ZONE), before, "every host as it was");
    assert_eq!(fake.email_type(issuance::ZONE), "MX");
    assert!(writes(&fake).len() >= 2, "published and cleaned up");
}

#[tokio::test]
async fn every_host_ttl_and_email_setting_survive_publish_and_cleanup() {
    let fake = fake(NamecheapFakeOptions {
        zones: vec!["example.test".into(), "forward.test".into()],
        ..Default::default()
    });
    seed_realistic(&fake, "example.test", "MX");
    seed_realistic(&fake, "forward.test", "FWD"); // email forwarding: no MX hosts of its own
    let p = provider(&settings(&fake));
    for zone in ["example.test", "forward.test"] {
        let (before, email) = (fake.hosts(zone), fake.email_type(zone));
        let challenge = format!("_acme-challenge.{zone}");
        let pairs = [
            (challenge.as_str(), "wildcard-v"),
            (challenge.as_str(), "apex-v"),
        ];
        let z = zone_of(&p, &challenge).await;
        p.publish(&z, &set(&pairs)).await.expect("publish");
        let mut values = fake.txt_values(&challenge);
        values.sort();
        assert_eq!(values, ["apex-v", "foreign-value", "wildcard-v"], "{zone}");
        let during = fake.hosts(zone);
        assert_eq!(during.len(), before.len() + 2);
        assert!(
            before.iter().all(|h| during.contains(h)),
            "{zone}: nothing else changed"
        );
        assert_eq!(fake.email_type(zone), email);
        p.unpublish(&z, &set(&pairs)).await.expect("cleanup");
        assert_eq!(
            fake.hosts(zone),
            before,
            "{zone}: every host, MXPref and TTL as it was"
        );
        assert_eq!(
            fake.email_type(zone),
            email,
            "{zone}: the email setting kept"
        );
    }
    assert!(writes(&fake).iter().all(|b| b.contains("EmailType=")));
}

#[tokio::test]
async fn nothing_is_written_after_a_partial_or_unwritable_read() {
    let fake = fake(NamecheapFakeOptions::default());
    seed_realistic(&fake, "example.test", "MX");
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    let before = fake.hosts("example.test");
    // The next getHosts answer cut off in the middle, an HTML error page, another domain's.
    let cut = "<?xml version=\"1.0\"?><ApiResponse Status=\"OK\"><CommandResponse Type=\"namecheap.domains.dns.getHosts\">\
               <DomainDNSGetHostsResult Domain=\"example.test\" EmailType=\"MX\" IsUsingOurDNS=\"true\">\
               <host HostId=\"1\" Name=\"@\" Type=\"A\" Address=\"192.0.2.10\" MXPref=\"10\" TTL=\"1800\" />";
    for (reply, says) in [
        (Reply::text(200, "text/xml", cut), "cut off"),
        (
            Reply::text(200, "text/html", "<html><body>Service Unavailable"),
            "getHosts",
        ),
        (
            Reply::text(
                200,
                "text/xml",
                cut.replace("Domain=\"example.test\"", "Domain=\"other.test\"")
                    + "</DomainDNSGetHostsResult></CommandResponse></ApiResponse>",
            ),
            "other.test",
        ),
    ] {
        fake.fail_next(1, reply);
        let e = p
            .publish(&zone, &set(&[(NAME, "v")]))
            .await
            .expect_err(says);
        assert!(e.to_string().contains(says), "{e}");
    }
    // A dynamic-DNS host, and a type setHosts cannot write back: refused, named.
    fake.seed_host(
        "example.test",
        ("home", "A", "198.51.100.7", "10"),
        60,
        true,
    );
    let e = p
        .publish(&zone, &set(&[(NAME, "v")]))
        .await
        .expect_err("ddns");
    assert!(
        e.to_string().contains("IsDDNSEnabled") && e.to_string().contains("home"),
        "{e}"
    );
    assert!(writes(&fake).is_empty(), "not one setHosts");
    assert_eq!(fake.hosts("example.test").len(), before.len() + 1);
    let fake2 = crate::fake(NamecheapFakeOptions::default());
    fake2.seed_host(
        "example.test",
        ("_sip._tcp", "SRV", "10 5 5060 sip.example.test.", "10"),
        1800,
        false,
    );
    let p2 = provider(&settings(&fake2));
    let e = p2
        .publish(&zone, &set(&[(NAME, "v")]))
        .await
        .expect_err("srv");
    assert!(
        e.to_string().contains("SRV") && e.to_string().contains("nothing written"),
        "{e}"
    );
    assert!(writes(&fake2).is_empty());
}

#[tokio::test]
async fn invalid_request_ip_names_the_address_namecheap_saw_and_the_one_sent() {
    let fake = fake(NamecheapFakeOptions {
        whitelist: vec!["192.0.2.10".into()],
        request_ip: "203.0.113.7".into(),
        ..Default::default()
    });
    let p = provider(&NamecheapSettings {
        client_ip: Some("192.0.2.10".into()),
        ..settings(&fake)
    });
    let e = p.zone_for(&name(NAME)).await.expect_err("not whitelisted");
    let text = e.to_string();
    assert!(matches!(e, ProviderError::Auth { .. }), "{text}");
    assert!(
        text.contains("Invalid request IP: 203.0.113.7")
            && text.contains("ClientIp=192.0.2.10")
            && text.contains("Whitelist 203.0.113.7")
            && !text.contains(KEY),
        "{text}"
    );
    // Without client_ip the address is asked from the discovery service (as lego does).
    let p = provider(&settings(&fake));
    let e = p.zone_for(&name(NAME)).await.expect_err("not whitelisted");
    assert!(e.to_string().contains("ClientIp=203.0.113.7"), "{e}");
    let v6 = crate::fake(NamecheapFakeOptions {
        request_ip: "2001:db8::7".into(),
        ..Default::default()
    });
    let e = provider(&settings(&v6))
        .zone_for(&name(NAME))
        .await
        .expect_err("v6");
    assert!(
        e.to_string().contains("IPv6") && e.to_string().contains("NAMECHEAP_CLIENT_IP"),
        "{e}"
    );
}

#[tokio::test]
async fn domains_are_found_across_pages_and_errors_say_what_to_fix() {
    let mut zones: Vec<String> = (0..130).map(|i| format!("d{i:03}.test")).collect();
    zones.push("example.test".into());
    let fake = fake(NamecheapFakeOptions {
        zones,
        elsewhere: vec!["parked.test".into()],
        foreign: vec!["theirs.test".into()],
        ..Default::default()
    });
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, "_acme-challenge.www.example.test").await;
    assert_eq!(zone.name, name("example.test"), "found on the second page");
    let pages = fake
        .requests()
        .iter()
        .filter(|r| r.body.contains("getList"))
        .count();
    assert_eq!(pages, 2);
    let e = p
        .zone_for(&name("_acme-challenge.nowhere.test"))
        .await
        .expect_err("missing");
    assert!(
        matches!(e, ProviderError::ZoneNotFound { .. }) && e.to_string().contains("d000.test"),
        "{e}"
    );
    let e = p
        .zone_for(&name("_acme-challenge.parked.test"))
        .await
        .expect_err("elsewhere");
    assert!(e.to_string().contains("IsOurDNS=false"), "{e}");
    // An explicit zone: no listing; a domain of another account is not found.
    let explicit = |z: &str| {
        provider(&NamecheapSettings {
            zone: Some(z.into()),
            ..settings(&fake)
        })
    };
    let theirs = explicit("theirs.test");
    let z = zone_of(&theirs, "_acme-challenge.theirs.test").await;
    let e = theirs
        .publish(&z, &set(&[("_acme-challenge.theirs.test", "v")]))
        .await
        .expect_err("foreign");
    assert!(
        matches!(e, ProviderError::ZoneNotFound { .. }) && e.to_string().contains("2016166"),
        "{e}"
    );
    assert!(
        explicit("example.test")
            .zone_for(&name("x.other.test"))
            .await
            .is_err_and(|e| e.to_string().contains("NAMECHEAP_ZONE"))
    );
    // A wrong key: credentials refused, the variable named, the key never shown.
    let bad = provider(&NamecheapSettings {
        api_key: Some(Secret::new("abcdef0123456789")),
        ..settings(&fake)
    });
    let e = bad.zone_for(&name(NAME)).await.expect_err("bad key");
    let text = e.to_string();
    assert!(
        matches!(e, ProviderError::Auth { .. })
            && text.contains("NAMECHEAP_API_KEY")
            && !text.contains("abcdef0123456789"),
        "{text}"
    );
}

#[tokio::test]
async fn rate_limits_are_waited_out_and_writes_to_one_zone_serialised() {
    let fake = fake(NamecheapFakeOptions::default());
    let p = std::sync::Arc::new(provider(&settings(&fake)));
    let zone = zone_of(&p, NAME).await;
    fake.fail_next(2, crate::fake::rate_limited());
    p.publish(&zone, &set(&[(NAME, "after-429")]))
        .await
        .expect("publish after 429s");
    assert_eq!(fake.count_where(|r| r.status == 429), 2);
    // Eight writers at once through one instance: every value lands (no lost update).
    let names: Vec<String> = (0..8)
        .map(|i| format!("_acme-challenge.n{i}.example.test"))
        .collect();
    let tasks = names.iter().map(|n| {
        let (p, zone, s) = (p.clone(), zone.clone(), set(&[(n.as_str(), "v")]));
        tokio::spawn(async move { p.publish(&zone, &s).await })
    });
    for t in tasks.collect::<Vec<_>>() {
        t.await.expect("task").expect("publish");
    }
    assert!(names.iter().all(|n| fake.txt_values(n) == ["v"]));
}
