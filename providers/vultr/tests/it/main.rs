//! Integration tests of the vultr provider against its Vultr API fake
//! (providers/vultr/tests/fake): the conformance suite, a wildcard + apex certificate issued by
//! Pebble through the fake and a real BIND zone, and Vultr's own traps (cursor pagination at
//! cleanup, quoted TXT data, the API key's IP access control told apart from an unknown key,
//! 403, 429 + Retry-After, zone lookup).

#[path = "../fake/mod.rs"]
mod fake;
mod sdk;
mod subject;

wildcert_conformance::conformance_suite!(crate::subject::Vultr);

use std::time::Duration;

use wildcert_conformance::{init_logs, issuance};
use wildcert_dns::{DnsName, DnsProvider, ProviderError, Secret, TxtSet, Zone};
use wildcert_vultr::{VultrProvider, VultrSettings};

use crate::fake::{DEFAULT_KEY, FakeToken, VultrFake, VultrFakeOptions, record_id};

const NAME: &str = "_acme-challenge.example.test";
const RECORDS: &str = "/domains/example.test/records";

/// A started fake.
pub fn fake(opts: VultrFakeOptions) -> VultrFake {
    init_logs();
    VultrFake::start(opts).expect("fake starts")
}

/// Settings for the fake's default key.
pub fn settings(fake: &VultrFake) -> VultrSettings {
    VultrSettings {
        api_key: Some(Secret::new(DEFAULT_KEY)),
        base_url: Some(fake.base_url()),
        ..Default::default()
    }
}

fn provider(s: &VultrSettings) -> VultrProvider {
    VultrProvider::new(s).expect("valid settings")
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

async fn zone_of(p: &VultrProvider, fqdn: &str) -> Zone {
    p.zone_for(&name(fqdn))
        .await
        .expect("zone_for")
        .expect("a zone")
}

/// The cursors of the record lists the provider asked for ("" for the first page).
fn cursors_read(fake: &VultrFake) -> Vec<String> {
    let lists = fake.requests().into_iter();
    let lists = lists.filter(|r| r.method == "GET" && r.path == RECORDS);
    let cursor = |q: &[(String, String)]| {
        let c = q.iter().find(|(k, _)| k == "cursor");
        c.map(|c| c.1.clone()).unwrap_or_default()
    };
    lists.map(|r| cursor(&r.query)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_and_apex_certificate_through_the_fake_and_bind() {
    let Some(topo) = issuance::topology() else {
        return;
    };
    let fake = fake(VultrFakeOptions::backed_by(&topo));
    fake.seed("example.test", "TXT", NAME, "\"keep-me\"", 60);
    let env = [
        ("VULTR_API_KEY", DEFAULT_KEY.to_string()),
        ("VULTR_API_URL", fake.base_url()),
    ];
    issuance::issue_wildcard_and_apex(&topo, "vultr", &env).await;
    assert_eq!(fake.txt_values(NAME), ["keep-me"], "no record of ours left");
    let dns = topo.txt_values(topo.primary_addr(), NAME).expect("dig");
    assert_eq!(dns, ["keep-me"]);
}

#[tokio::test]
async fn cleanup_reads_every_cursor_and_removes_exactly_ours() {
    // The fake serves no more than 20 a page whatever `per_page` asks, and 45 foreign values
    // sit at the same name.
    let fake = fake(VultrFakeOptions {
        max_per_page: 20,
        ..Default::default()
    });
    for i in 0..45 {
        fake.seed(
            "example.test",
            "TXT",
            NAME,
            &format!("\"foreign-{i:02}\""),
            60,
        );
    }
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    let ours = set(&[(NAME, "ours-wildcard"), (NAME, "ours-apex")]);
    p.publish(&zone, &ours).await.expect("publish");
    let all = fake.records("example.test");
    assert_eq!(all.len(), 47);
    // Ours are the newest, on the third page: a cleanup reading one page would leak both.
    let first_page: Vec<String> = all.iter().take(20).map(record_id).collect();
    let ours_ids: Vec<String> = all
        .iter()
        .filter(|r| r.content.contains("ours"))
        .map(record_id)
        .collect();
    assert!(ours_ids.iter().all(|id| !first_page.contains(id)));
    fake.clear_requests();
    p.unpublish(&zone, &ours).await.expect("unpublish");
    let cursors = cursors_read(&fake);
    assert_eq!(cursors.len(), 3, "every page read: {cursors:?}");
    assert!(cursors[0].is_empty() && !cursors[1].is_empty() && cursors[1] != cursors[2]);
    let left = fake.txt_values(NAME);
    assert_eq!(left.len(), 45, "{left:?}");
    assert!(left.iter().all(|v| v.starts_with("foreign-")));
    assert_eq!(
        fake.count_prefix("DELETE", "/domains/example.test/records/"),
        2
    );
    // Publishing reads every page too: a value on page 3 is not created twice.
    fake.seed("example.test", "TXT", NAME, "\"already-there\"", 60);
    p.publish(&zone, &set(&[(NAME, "already-there")]))
        .await
        .expect("publish");
    assert_eq!(fake.count("POST", RECORDS), 0);
}

#[tokio::test]
async fn txt_data_is_quoted_and_names_relative() {
    let fake = fake(VultrFakeOptions::default());
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    // A value written unquoted by another tool is recognised as there already.
    fake.seed("example.test", "TXT", NAME, "bare", 60);
    let mut s = TxtSet::with_ttl(90);
    s.insert(name(NAME), "sub");
    s.insert(name(NAME), "bare");
    s.insert(name("example.test"), "apex");
    p.publish(&zone, &s).await.expect("publish");
    let bodies: Vec<serde_json::Value> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| serde_json::from_str(&r.body).expect("json body"))
        .collect();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    let posted = |n: &str| bodies.iter().find(|b| b["name"] == n).cloned();
    let sub = posted("_acme-challenge").expect("relative name");
    assert_eq!(sub["data"], "\"sub\"");
    assert_eq!(sub["ttl"], 90);
    assert_eq!(posted("").expect("apex is \"\"")["data"], "\"apex\"");
    p.unpublish(&zone, &s).await.expect("unpublish");
    assert!(fake.txt_values(NAME).is_empty() && fake.txt_values("example.test").is_empty());
}

#[tokio::test]
async fn rate_limits_are_waited_out() {
    let fake = fake(VultrFakeOptions::default());
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    fake.clear_requests();
    fake.fail_next_with_429(2);
    let t = std::time::Instant::now();
    p.publish(&zone, &set(&[(NAME, "after-429")]))
        .await
        .expect("publish after 429s");
    assert!(
        t.elapsed() >= Duration::from_millis(1900),
        "Retry-After: 1 honoured twice"
    );
    assert_eq!(fake.txt_values(NAME), ["after-429"]);
    let limited = fake.requests().iter().filter(|r| r.status == 429).count();
    assert_eq!(limited, 2);
}

#[tokio::test]
async fn blocked_address_unknown_key_and_missing_permission_are_told_apart() {
    let no_dns = "VULTRKEYNODNS";
    let fake = fake(VultrFakeOptions {
        tokens: vec![
            FakeToken::full(DEFAULT_KEY),
            FakeToken {
                dns_edit: false,
                ..FakeToken::full(no_dns)
            },
        ],
        ..Default::default()
    });
    let unknown = provider(&VultrSettings {
        api_key: Some(Secret::new("S3CRETUNKNOWN")),
        ..settings(&fake)
    });
    let e = unknown.zone_for(&name(NAME)).await.expect_err("401");
    assert!(matches!(e, ProviderError::Auth { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("401") && text.contains("VULTR_API_KEY"),
        "{text}"
    );
    assert!(
        !text.contains("S3CRET") && !text.contains("Access Control"),
        "{text}"
    );
    let e = provider(&VultrSettings {
        api_key: Some(Secret::new(no_dns)),
        ..settings(&fake)
    })
    .zone_for(&name(NAME))
    .await
    .expect_err("403");
    assert!(matches!(e, ProviderError::Auth { .. }), "{e:?}");
    assert!(
        e.to_string().contains("403") && e.to_string().contains("DNS permission"),
        "{e}"
    );

    let blocked = VultrFake::start(VultrFakeOptions {
        blocked_ip: Some("2001:db8::7".into()),
        ..Default::default()
    })
    .expect("fake");
    let p = provider(&settings(&blocked));
    let e = p.zone_for(&name(NAME)).await.expect_err("blocked");
    assert!(matches!(e, ProviderError::Auth { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("refused requests from 2001:db8::7") && text.contains("Access Control"),
        "{text}"
    );
    assert!(!text.contains(DEFAULT_KEY), "{text}");
}

#[tokio::test]
async fn longest_domain_across_cursor_pages_and_names_only_when_missing() {
    let mut zones: Vec<String> = (0..25).map(|i| format!("z{i:02}.test")).collect();
    zones.extend([
        "example.test".into(),
        "sub.example.test".into(),
        "other-account.test".into(),
    ]);
    let visible: Vec<String> = zones
        .iter()
        .filter(|z| *z != "other-account.test")
        .cloned()
        .collect();
    let fake = fake(VultrFakeOptions {
        zones,
        tokens: vec![FakeToken {
            zones: Some(visible),
            ..FakeToken::full(DEFAULT_KEY)
        }],
        max_per_page: 20,
        ..Default::default()
    });
    let p = provider(&settings(&fake));
    let z = zone_of(&p, "_acme-challenge.www.sub.example.test").await;
    assert_eq!(z.name, name("sub.example.test"));
    assert_eq!(zone_of(&p, NAME).await.name, name("example.test"));
    assert_eq!(fake.count("GET", "/domains"), 4, "two pages per lookup");
    let e = p
        .zone_for(&name("_acme-challenge.other-account.test"))
        .await
        .expect_err("not in this account");
    assert!(matches!(e, ProviderError::ZoneNotFound { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("other-account.test")
            && text.contains("example.test")
            && text.contains("in all"),
        "{text}"
    );
    assert!(!text.contains(DEFAULT_KEY));
}

#[tokio::test]
async fn zone_setting_skips_the_lookup() {
    let fake = fake(VultrFakeOptions::default());
    let p = provider(&VultrSettings {
        zone: Some("example.test".into()),
        ..settings(&fake)
    });
    let zone = zone_of(&p, NAME).await;
    p.publish(&zone, &set(&[(NAME, "v")]))
        .await
        .expect("publish");
    assert_eq!(fake.count("GET", "/domains"), 0);
    let e = p
        .zone_for(&name("_acme-challenge.other.test"))
        .await
        .expect_err("outside");
    assert!(e.to_string().contains("VULTR_ZONE"), "{e}");
    let gone = Zone::new(name("gone.test"));
    let e = p
        .publish(&gone, &set(&[("_acme-challenge.gone.test", "v")]))
        .await
        .expect_err("404");
    assert!(matches!(e, ProviderError::ZoneNotFound { .. }), "{e:?}");
}
