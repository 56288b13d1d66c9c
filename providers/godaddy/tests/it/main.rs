//! Integration tests of the godaddy provider against its Domains API fake
//! (providers/godaddy/tests/fake, on the kit's router), once backed by a real BIND zone with
//! Pebble validating a wildcard + apex certificate through it. The provider contract is the
//! conformance suite (`cargo test -p wildcert-godaddy --test it conformance`); the tests here
//! are GoDaddy's own: PATCH appends, the set-replacing PUT only ever carries the other values,
//! a name left empty is deleted; TTLs below 600 raised; the domain list beyond one page; 429;
//! 403 ACCESS_DENIED for accounts without API access, 401, domains of another account.

#[allow(dead_code)]
#[path = "../fake/mod.rs"]
mod fake;
mod sdk;
mod subject;

wildcert_conformance::conformance_suite!(crate::subject::GoDaddy);

use wildcert_conformance::{init_logs, issuance};
use wildcert_dns::{DnsName, DnsProvider, ProviderError, Secret, TxtSet, Zone};
use wildcert_godaddy::{GoDaddyProvider, GoDaddySettings};

use crate::fake::{DEFAULT_KEY, DEFAULT_SECRET, FakeToken, GoDaddyFake, GoDaddyFakeOptions};

const NAME: &str = "_acme-challenge.example.test";
const WWW: &str = "_acme-challenge.www.example.test";
const RECORDS: &str = "/domains/example.test/records";

/// A started fake.
pub fn fake(opts: GoDaddyFakeOptions) -> GoDaddyFake {
    init_logs();
    GoDaddyFake::start(opts).expect("fake starts")
}

/// Settings for the fake's default key.
pub fn settings(fake: &GoDaddyFake) -> GoDaddySettings {
    GoDaddySettings {
        api_key: Some(Secret::new(DEFAULT_KEY)),
        api_secret: Some(Secret::new(DEFAULT_SECRET)),
        base_url: Some(fake.base_url()),
        ..Default::default()
    }
}

fn provider(s: &GoDaddySettings) -> GoDaddyProvider {
    GoDaddyProvider::new(s).expect("valid settings")
}

fn name(s: &str) -> DnsName {
    DnsName::parse(s).expect("valid name")
}

fn set(ttl: u32, pairs: &[(&str, &str)]) -> TxtSet {
    let mut s = TxtSet::with_ttl(ttl);
    for (n, v) in pairs {
        s.insert(name(n), *v);
    }
    s
}

/// The TTLs of the records at `name`, sorted.
fn ttls(fake: &GoDaddyFake, name: &str) -> Vec<u32> {
    let mut t: Vec<u32> = fake
        .records("example.test")
        .iter()
        .filter(|r| r.name == name)
        .map(|r| r.ttl)
        .collect();
    t.sort();
    t
}

async fn zone_of(p: &GoDaddyProvider, fqdn: &str) -> Zone {
    let zone = p.zone_for(&name(fqdn)).await.expect("zone_for");
    zone.expect("a zone")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_and_apex_certificate_issued_through_the_fake_and_bind() {
    let Some(topo) = issuance::topology() else {
        return;
    };
    let fake = fake(GoDaddyFakeOptions::backed_by(&topo));
    fake.seed_record("example.test", "TXT", NAME, "keep-me", 3600)
        .expect("foreign value");
    let env = [
        ("GODADDY_API_KEY", DEFAULT_KEY.to_string()),
        ("GODADDY_API_SECRET", DEFAULT_SECRET.to_string()),
        ("GODADDY_API_URL", fake.base_url()),
    ];
    issuance::issue_wildcard_and_apex(&topo, "godaddy", &env).await;
    assert!(fake.count("PATCH", RECORDS) >= 1, "published by PATCH");
    let put = format!("{RECORDS}/TXT/_acme-challenge");
    assert!(fake.count("PUT", &put) >= 1, "cleaned up by PUT");
    assert_eq!(fake.txt_values(NAME), ["keep-me"], "the foreign value kept");
    assert_eq!(ttls(&fake, NAME), [3600], "with its own TTL");
    let served = topo.txt_values(topo.primary_addr(), NAME).expect("dig");
    assert_eq!(served, ["keep-me"]);
}

#[tokio::test]
async fn publish_appends_and_cleanup_writes_back_only_the_others() {
    let fake = fake(GoDaddyFakeOptions::default());
    fake.seed_record("example.test", "TXT", NAME, "foreign", 3600)
        .expect("seed");
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    let values = set(
        600,
        &[(NAME, "wildcard"), (NAME, "apex"), (WWW, "www-token")],
    );
    p.publish(&zone, &values).await.expect("publish");
    assert_eq!(fake.txt_values(NAME), ["apex", "foreign", "wildcard"]);
    assert_eq!(fake.txt_values(WWW), ["www-token"]);
    assert_eq!(fake.count("PATCH", RECORDS), 1, "one PATCH for the zone");
    assert_eq!(fake.count_prefix("PUT", RECORDS), 0, "no set replaced");
    assert_eq!(ttls(&fake, NAME), [600, 600, 3600]);
    p.publish(&zone, &values).await.expect("publish again");
    assert_eq!(fake.count("PATCH", RECORDS), 1, "nothing appended twice");
    p.unpublish(&zone, &values).await.expect("unpublish");
    assert_eq!(fake.txt_values(NAME), ["foreign"]);
    assert_eq!(ttls(&fake, NAME), [3600], "the foreign value keeps its TTL");
    assert!(fake.txt_values(WWW).is_empty());
    let www = format!("{RECORDS}/TXT/_acme-challenge.www");
    assert_eq!(
        fake.count("DELETE", &www),
        1,
        "a name left empty is deleted"
    );
    let put = fake.requests().into_iter().find(|r| r.method == "PUT");
    let body: serde_json::Value = serde_json::from_str(&put.expect("a PUT").body).expect("json");
    assert_eq!(
        body,
        serde_json::json!([{ "data": "foreign", "ttl": 3600 }])
    );
    fake.clear_requests();
    p.unpublish(&zone, &values)
        .await
        .expect("values already gone");
    assert_eq!(
        fake.count_where(|r| r.method != "GET"),
        0,
        "nothing written"
    );
}

#[tokio::test]
async fn a_ttl_below_600_is_raised() {
    let fake = fake(GoDaddyFakeOptions::default());
    let p = provider(&GoDaddySettings {
        ttl: Some(300),
        ..settings(&fake)
    });
    assert_eq!(p.tuning().ttl, Some(600), "GODADDY_TTL raised");
    let zone = zone_of(&p, NAME).await;
    p.publish(&zone, &set(60, &[(NAME, "short")]))
        .await
        .expect("a 60 s TTL is raised, not refused");
    assert_eq!(ttls(&fake, NAME), [600]);
}

#[tokio::test]
async fn domains_beyond_one_page_and_the_longest_wins() {
    let mut zones: Vec<String> = (0..130).map(|i| format!("z{i:03}.test")).collect();
    zones.extend(["example.test".to_string(), "sub.example.test".to_string()]);
    let fake = fake(GoDaddyFakeOptions {
        zones,
        max_limit: 50,
        ..Default::default()
    });
    let p = provider(&settings(&fake));
    let sub = zone_of(&p, "_acme-challenge.www.sub.example.test").await;
    assert_eq!(sub.name, name("sub.example.test"), "the longest domain");
    assert_eq!(fake.count("GET", "/domains"), 4, "50 + 50 + 32, then empty");
    let marked = |r: &wildcert_testkit::Audited| r.query.iter().any(|(k, _)| k == "marker");
    assert_eq!(fake.count_where(marked), 3);
    assert_eq!(zone_of(&p, NAME).await.name, name("example.test"));
}

#[tokio::test]
async fn rate_limits_are_waited_out() {
    let fake = fake(GoDaddyFakeOptions::default());
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    fake.fail_next(2, crate::fake::rate_limited(1));
    p.publish(&zone, &set(600, &[(NAME, "after-429")]))
        .await
        .expect("publish after 429s");
    assert_eq!(fake.count_where(|r| r.status == 429), 2);
    assert_eq!(fake.txt_values(NAME), ["after-429"]);
}

#[tokio::test]
async fn access_denied_bad_keys_and_other_accounts_say_what_to_fix() {
    let small = "smallAccountKey:smallS3cret";
    let other = "otherAccountKey:otherS3cret";
    let mut opts = GoDaddyFakeOptions {
        zones: vec!["example.test".into(), "other.test".into(), "z.test".into()],
        ..Default::default()
    };
    opts.tokens.push(FakeToken {
        dns_edit: false,
        ..FakeToken::full(small)
    });
    opts.tokens.push(FakeToken {
        zones: Some(vec!["other.test".into(), "z.test".into()]),
        ..FakeToken::full(other)
    });
    let fake = fake(opts);
    let with = |pair: &str| {
        let (k, s) = pair.split_once(':').expect("pair");
        provider(&GoDaddySettings {
            api_key: Some(Secret::new(k)),
            api_secret: Some(Secret::new(s)),
            ..settings(&fake)
        })
    };
    // The trap: a valid key of an account GoDaddy does not open the API to.
    let err = with(small).zone_for(&name(NAME)).await.expect_err("403");
    let text = err.to_string();
    assert!(matches!(err, ProviderError::Auth { .. }), "{text}");
    assert!(
        text.contains("ACCESS_DENIED")
            && text.contains("enough domains")
            && !text.contains("S3cret"),
        "{text}"
    );
    let err = with("unknownKey:unknownS3cret")
        .zone_for(&name(NAME))
        .await
        .expect_err("401");
    let text = err.to_string();
    assert!(matches!(err, ProviderError::Auth { .. }), "{text}");
    assert!(
        text.contains("GODADDY_API_SECRET") && !text.contains("S3cret"),
        "{text}"
    );
    assert!(
        !text.contains("enough domains"),
        "401 and 403 told apart: {text}"
    );
    let err = with(other)
        .zone_for(&name(NAME))
        .await
        .expect_err("not here");
    let text = err.to_string();
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{text}");
    assert!(text.contains("other.test, z.test"), "{text}");
    // Records of a domain of another account: 404 UNKNOWN_DOMAIN, a zone error.
    let zone = Zone::new(name("example.test"));
    let err = with(other)
        .unpublish(&zone, &set(600, &[(NAME, "v")]))
        .await
        .expect_err("404");
    let text = err.to_string();
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{text}");
    assert!(text.contains("UNKNOWN_DOMAIN"), "{text}");
}
