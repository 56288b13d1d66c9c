//! Integration tests of the dnsimple provider against its DNSimple API fake
//! (providers/dnsimple/tests/fake): the conformance suite, a wildcard + apex certificate issued
//! by Pebble through the fake and a real BIND zone, and DNSimple's own traps (the account in
//! the path, user vs account tokens, pagination at cleanup, the apex `name` filter, 401 vs 403,
//! 429 + Retry-After, zone lookup).

#[path = "../fake/mod.rs"]
mod fake;
mod sdk;
mod subject;

wildcert_conformance::conformance_suite!(crate::subject::Dnsimple);

use std::time::Duration;

use wildcert_conformance::{init_logs, issuance};
use wildcert_dns::{DnsName, DnsProvider, ProviderError, Secret, TxtSet, Zone};
use wildcert_dnsimple::{DnsimpleProvider, DnsimpleSettings};

use crate::fake::{
    ACCOUNT_ID, DEFAULT_TOKEN, DnsimpleFake, DnsimpleFakeOptions, FakeToken, record_id,
};

const NAME: &str = "_acme-challenge.example.test";
const USER: &str = "dnsimple_u_user";

/// A started fake.
pub fn fake(opts: DnsimpleFakeOptions) -> DnsimpleFake {
    init_logs();
    DnsimpleFake::start(opts).expect("fake starts")
}

/// Settings for the fake's default (account) token.
pub fn settings(fake: &DnsimpleFake) -> DnsimpleSettings {
    DnsimpleSettings {
        token: Some(Secret::new(DEFAULT_TOKEN)),
        base_url: Some(fake.base_url()),
        ..Default::default()
    }
}

fn provider(s: &DnsimpleSettings) -> DnsimpleProvider {
    DnsimpleProvider::new(s).expect("valid settings")
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

async fn zone_of(p: &DnsimpleProvider, fqdn: &str) -> Zone {
    p.zone_for(&name(fqdn))
        .await
        .expect("zone_for")
        .expect("a zone")
}

const RECORDS: &str = "/1010/zones/example.test/records";

/// Pages of the record list the provider asked for.
fn pages_read(fake: &DnsimpleFake) -> Vec<String> {
    let lists = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == RECORDS);
    let page = |q: &[(String, String)]| q.iter().find(|(k, _)| k == "page").map(|p| p.1.clone());
    lists.filter_map(|r| page(&r.query)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_and_apex_certificate_through_the_fake_and_bind() {
    let Some(topo) = issuance::topology() else {
        return;
    };
    let fake = fake(DnsimpleFakeOptions::backed_by(&topo));
    fake.seed("example.test", "TXT", NAME, "keep-me", 60);
    let env = [
        ("DNSIMPLE_OAUTH_TOKEN", DEFAULT_TOKEN.to_string()),
        ("DNSIMPLE_BASE_URL", fake.base_url()),
    ];
    issuance::issue_wildcard_and_apex(&topo, "dnsimple", &env).await;
    assert_eq!(fake.txt_values(NAME), ["keep-me"], "no record of ours left");
    let dns = topo.txt_values(topo.primary_addr(), NAME).expect("dig");
    assert_eq!(dns, ["keep-me"]);
    assert!(fake.count("POST", RECORDS) >= 2, "one record per value");
}

#[tokio::test]
async fn cleanup_reads_every_page_and_removes_exactly_ours() {
    // DNSimple's default page is 30 records, at most 100; here the fake serves no more than 30
    // a page whatever `per_page` asks, and 70 foreign values sit at the same name.
    let fake = fake(DnsimpleFakeOptions {
        max_per_page: 30,
        ..Default::default()
    });
    for i in 0..70 {
        fake.seed("example.test", "TXT", NAME, &format!("foreign-{i:02}"), 60);
    }
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    let ours = set(&[(NAME, "ours-wildcard"), (NAME, "ours-apex")]);
    p.publish(&zone, &ours).await.expect("publish");
    let all = fake.records("example.test");
    assert_eq!(all.len(), 72);
    // Ours are the newest, on the third page: a cleanup reading one page would leak both.
    let first_page: Vec<u64> = all.iter().take(30).map(record_id).collect();
    let ours_ids: Vec<u64> = all
        .iter()
        .filter(|r| r.content.starts_with("ours"))
        .map(record_id)
        .collect();
    assert!(ours_ids.iter().all(|id| !first_page.contains(id)));
    fake.clear_requests();
    p.unpublish(&zone, &ours).await.expect("unpublish");
    assert_eq!(pages_read(&fake), ["1", "2", "3"], "every page read");
    let left = fake.txt_values(NAME);
    assert_eq!(left.len(), 70, "{left:?}");
    assert!(left.iter().all(|v| v.starts_with("foreign-")));
    assert_eq!(fake.count_prefix("DELETE", &format!("{RECORDS}/")), 2);
    // Publishing reads every page too: a value on page 3 is not created twice.
    fake.seed("example.test", "TXT", NAME, "already-there", 60);
    fake.clear_requests();
    p.publish(&zone, &set(&[(NAME, "already-there")]))
        .await
        .expect("publish");
    assert_eq!(fake.count("POST", RECORDS), 0);
}

#[tokio::test]
async fn apex_values_are_told_apart_from_other_names() {
    // An empty `name` filter is ignored by DNSimple: the apex list holds every TXT record of the
    // zone, and cleanup at the apex must not take a value of the same text at another name.
    let fake = fake(DnsimpleFakeOptions::default());
    fake.seed("example.test", "TXT", NAME, "same-text", 60);
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, "example.test").await;
    let apex = set(&[("example.test", "same-text")]);
    p.publish(&zone, &apex).await.expect("publish at the apex");
    assert_eq!(fake.txt_values("example.test"), ["same-text"]);
    let posted: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.body)
        .collect();
    assert!(
        posted.iter().all(|b| b.contains("\"name\":\"\"")),
        "{posted:?}"
    );
    p.unpublish(&zone, &apex).await.expect("unpublish");
    assert!(fake.txt_values("example.test").is_empty());
    assert_eq!(fake.txt_values(NAME), ["same-text"], "the other name kept");
}

#[tokio::test]
async fn the_account_comes_from_whoami_once_or_from_the_setting() {
    let fake = fake(DnsimpleFakeOptions::default());
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    p.publish(&zone, &set(&[(NAME, "a"), ("x.example.test", "b")]))
        .await
        .expect("publish");
    assert_eq!(fake.count("GET", "/whoami"), 1, "asked once per run");
    assert_eq!(
        fake.count("GET", "/accounts"),
        0,
        "an account token needs no list"
    );
    fake.clear_requests();
    let given = provider(&DnsimpleSettings {
        account_id: Some(ACCOUNT_ID),
        zone: Some("example.test".into()),
        ..settings(&fake)
    });
    let zone = zone_of(&given, NAME).await;
    given
        .unpublish(&zone, &set(&[(NAME, "a")]))
        .await
        .expect("unpublish");
    assert_eq!(
        fake.count("GET", "/whoami") + fake.count("GET", "/1010/zones"),
        0
    );
    assert_eq!(fake.txt_values(NAME), Vec::<String>::new());
    // An account this token does not reach: a credentials error naming the setting.
    let wrong = provider(&DnsimpleSettings {
        account_id: Some(4242),
        ..settings(&fake)
    });
    let e = wrong.zone_for(&name(NAME)).await.expect_err("404");
    assert!(matches!(e, ProviderError::Auth { .. }), "{e:?}");
    assert!(e.to_string().contains("DNSIMPLE_ACCOUNT_ID"), "{e}");
}

#[tokio::test]
async fn a_user_token_uses_its_only_account_or_asks_which() {
    let one = fake(DnsimpleFakeOptions {
        user_tokens: vec![USER.into()],
        ..Default::default()
    });
    let user = |f: &DnsimpleFake| {
        provider(&DnsimpleSettings {
            token: Some(Secret::new(USER)),
            ..settings(f)
        })
    };
    let p = user(&one);
    let zone = zone_of(&p, NAME).await;
    p.publish(&zone, &set(&[(NAME, "by-user")]))
        .await
        .expect("publish");
    assert_eq!(one.txt_values(NAME), ["by-user"]);
    assert_eq!(one.count("GET", "/accounts"), 1);
    let two = fake(DnsimpleFakeOptions {
        user_tokens: vec![USER.into()],
        other_accounts: vec![2020],
        ..Default::default()
    });
    let e = user(&two).zone_for(&name(NAME)).await.expect_err("which");
    assert!(matches!(e, ProviderError::Config { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("DNSIMPLE_ACCOUNT_ID") && text.contains("1010") && text.contains("2020"),
        "{text}"
    );
    assert!(!text.contains(USER), "{text}");
    let chosen = provider(&DnsimpleSettings {
        token: Some(Secret::new(USER)),
        account_id: Some(ACCOUNT_ID),
        ..settings(&two)
    });
    assert_eq!(zone_of(&chosen, NAME).await.name, name("example.test"));
}

#[tokio::test]
async fn rate_limits_are_waited_out() {
    let fake = fake(DnsimpleFakeOptions::default());
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
async fn unknown_token_and_missing_permission_are_told_apart() {
    let read_only = "dnsimple_a_readonly";
    let fake = fake(DnsimpleFakeOptions {
        tokens: vec![
            FakeToken::full(DEFAULT_TOKEN),
            FakeToken {
                dns_edit: false,
                ..FakeToken::full(read_only)
            },
        ],
        ..Default::default()
    });
    let unknown = provider(&DnsimpleSettings {
        token: Some(Secret::new("dnsimple_s3cret_unknown")),
        ..settings(&fake)
    });
    let e = unknown.zone_for(&name(NAME)).await.expect_err("401");
    assert!(matches!(e, ProviderError::Auth { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("401") && text.contains("DNSIMPLE_OAUTH_TOKEN"),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");
    let ro = provider(&DnsimpleSettings {
        token: Some(Secret::new(read_only)),
        ..settings(&fake)
    });
    let zone = zone_of(&ro, NAME).await;
    let e = ro
        .publish(&zone, &set(&[(NAME, "v")]))
        .await
        .expect_err("403");
    assert!(matches!(e, ProviderError::Auth { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("403") && text.contains("Permission Denied"),
        "{text}"
    );
    assert!(!text.contains(read_only), "{text}");
    assert!(fake.txt_values(NAME).is_empty());
}

#[tokio::test]
async fn longest_zone_across_pages_and_names_only_when_missing() {
    let mut zones: Vec<String> = (0..35).map(|i| format!("z{i:02}.test")).collect();
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
    let fake = fake(DnsimpleFakeOptions {
        zones,
        tokens: vec![FakeToken {
            zones: Some(visible),
            ..FakeToken::full(DEFAULT_TOKEN)
        }],
        max_per_page: 30,
        ..Default::default()
    });
    let p = provider(&settings(&fake));
    let z = zone_of(&p, "_acme-challenge.www.sub.example.test").await;
    assert_eq!(z.name, name("sub.example.test"));
    assert_eq!(zone_of(&p, NAME).await.name, name("example.test"));
    assert_eq!(
        fake.count("GET", "/1010/zones"),
        4,
        "two pages per lookup (37 zones, 30 a page)"
    );
    let e = p
        .zone_for(&name("_acme-challenge.hidden.test"))
        .await
        .expect_err("hidden");
    assert!(matches!(e, ProviderError::ZoneNotFound { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("hidden.test") && text.contains("example.test") && text.contains("37 in all"),
        "{text}"
    );
    assert!(!text.contains(DEFAULT_TOKEN));
}

#[tokio::test]
async fn zone_setting_skips_the_lookup_and_a_gone_zone_is_not_found() {
    let fake = fake(DnsimpleFakeOptions::default());
    let p = provider(&DnsimpleSettings {
        zone: Some("example.test".into()),
        ..settings(&fake)
    });
    let zone = zone_of(&p, NAME).await;
    p.publish(&zone, &set(&[(NAME, "v")]))
        .await
        .expect("publish");
    assert_eq!(fake.count("GET", "/1010/zones"), 0);
    let e = p
        .zone_for(&name("_acme-challenge.other.test"))
        .await
        .expect_err("outside");
    assert!(e.to_string().contains("DNSIMPLE_ZONE"), "{e}");
    let gone = Zone::new(name("gone.test"));
    let e = p
        .publish(&gone, &set(&[("_acme-challenge.gone.test", "v")]))
        .await
        .expect_err("404");
    assert!(matches!(e, ProviderError::ZoneNotFound { .. }), "{e:?}");
    assert!(e.to_string().contains("gone.test"), "{e}");
}
