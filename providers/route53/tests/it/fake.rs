//! Against the provider's Route53 fake (tests/fake): PENDING→INSYNC, throttling retries, SigV4 verification,
//! strict DELETE, and the number of calls per zone.

use std::time::{Duration, Instant};

use crate::route53_fake::{Route53Fake, Route53FakeOptions, Route53Fault};
use wildcert_dns::{DnsProvider, LayeredSettings, ProviderError, Secret, TxtSet, Zone};

use crate::common::{init_tracing, name, provider, settings, two_names};

fn fake(opts: Route53FakeOptions) -> (Route53Fake, String) {
    let fake = Route53Fake::start(opts).expect("fake starts");
    let id = fake.add_zone("example.test", false).expect("zone");
    (fake, id)
}

fn good(fake: &Route53Fake) -> wildcert_route53::Route53Settings {
    settings(
        &fake.endpoint_url(),
        &fake.access_key_id(),
        &fake.secret_access_key(),
    )
}

fn zone(id: &str) -> Zone {
    Zone {
        name: name("example.test"),
        provider_id: Some(id.to_string()),
    }
}

#[tokio::test]
async fn one_batch_per_zone_and_pending_change_waited_for() {
    init_tracing();
    let (fake, id) = fake(Route53FakeOptions {
        pending_polls: 3,
        ..Default::default()
    });
    fake.seed_txt(&id, "_acme-challenge.example.test", 120, &["foreign"])
        .expect("seed");
    let p = provider(&good(&fake));
    let z = p
        .zone_for(&name("_acme-challenge.www.example.test"))
        .await
        .expect("zone_for")
        .expect("zone");
    assert_eq!(z, zone(&id));
    // `_acme-challenge.www.example.test`, `www.example.test`, `example.test`: three lookups.
    assert_eq!(fake.count("ListHostedZonesByName"), 3);
    fake.clear_requests();

    let set = two_names("example.test");
    let applied = p.publish(&z, &set).await.expect("publish");
    let change = applied
        .change_id
        .clone()
        .expect("a PENDING change to wait for");
    assert!(!change.starts_with('/'), "normalised id: {change}");
    assert_eq!(fake.count("ListResourceRecordSets"), 2, "one read per name");
    assert_eq!(
        fake.count("ChangeResourceRecordSets"),
        1,
        "one batch per zone"
    );
    let start = Instant::now();
    p.wait_applied(&applied, Duration::from_secs(30))
        .await
        .expect("INSYNC");
    assert_eq!(fake.count("GetChange"), 4, "3 x PENDING then INSYNC");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "fast polling first: {:?}",
        start.elapsed()
    );
    let (ttl, mut values) = fake.txt("_acme-challenge.example.test").expect("rrset");
    values.sort();
    assert_eq!(
        (ttl, values),
        (
            120,
            vec![
                "apex-token".into(),
                "foreign".into(),
                "wildcard-token".into()
            ]
        )
    );

    fake.clear_requests();
    p.unpublish(&z, &set).await.expect("unpublish");
    assert_eq!(
        fake.count("ChangeResourceRecordSets"),
        1,
        "one batch per zone on cleanup too"
    );
    assert_eq!(
        fake.txt("_acme-challenge.example.test"),
        Some((120, vec!["foreign".to_string()]))
    );
    assert_eq!(fake.txt("_acme-challenge.www.example.test"), None);
}

#[tokio::test]
async fn wait_applied_is_bounded_by_the_timeout() {
    init_tracing();
    let (fake, id) = fake(Route53FakeOptions {
        pending_polls: 1_000,
        ..Default::default()
    });
    let p = provider(&good(&fake));
    let mut set = TxtSet::new();
    set.insert(name("_acme-challenge.example.test"), "slow");
    let applied = p.publish(&zone(&id), &set).await.expect("publish");
    let start = Instant::now();
    let e = p
        .wait_applied(&applied, Duration::from_secs(2))
        .await
        .expect_err("times out");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(e.to_string().contains("PENDING"), "{e}");
    let polls = fake.count("GetChange");
    assert!(
        (2..=6).contains(&polls),
        "backoff, not busy polling: {polls} calls"
    );
}

#[tokio::test]
async fn throttling_and_prior_request_are_retried() {
    init_tracing();
    let (fake, id) = fake(Route53FakeOptions::default());
    let p = provider(&good(&fake));
    fake.fail_next(Route53Fault::Throttling, 2);
    fake.fail_next(Route53Fault::TooManyRequests, 1);
    fake.fail_next(Route53Fault::PriorRequestNotComplete, 1);
    fake.fail_next(Route53Fault::ServiceUnavailable, 1);
    let mut set = TxtSet::new();
    set.insert(name("_acme-challenge.example.test"), "patient");
    p.publish(&zone(&id), &set)
        .await
        .expect("publish after retries");
    assert_eq!(
        fake.txt("_acme-challenge.example.test").map(|(_, v)| v),
        Some(vec!["patient".to_string()])
    );
    let errors: Vec<String> = fake
        .requests()
        .iter()
        .filter_map(|r| r.error.clone())
        .collect();
    assert_eq!(
        errors,
        [
            "Throttling",
            "Throttling",
            "429",
            "PriorRequestNotComplete",
            "ServiceUnavailable"
        ]
    );

    // Bounded: with 2 retries, a long throttle ends in RateLimited.
    let mut s = good(&fake);
    s.max_retries = Some(2);
    let p = provider(&s);
    fake.clear_requests();
    fake.fail_next(Route53Fault::Throttling, 10);
    let e = p.unpublish(&zone(&id), &set).await.expect_err("gives up");
    assert!(matches!(e, ProviderError::RateLimited { .. }), "{e}");
    assert_eq!(fake.requests().len(), 3, "1 try + 2 retries");
}

#[tokio::test]
async fn throttling_waits_draw_on_the_shared_budget() {
    init_tracing();
    let (fake, id) = fake(Route53FakeOptions::default());
    let budget = wildcert_dns::http::RateLimitBudget::new(Duration::from_secs(1), "test budget");
    let p = provider(&good(&fake)).with_rate_limit_budget(budget.clone());
    // A second provider of the same run shares the budget.
    let other = provider(&good(&fake)).with_rate_limit_budget(budget.clone());
    fake.fail_next(Route53Fault::Throttling, 1000);
    let mut set = TxtSet::new();
    set.insert(name("_acme-challenge.example.test"), "budget");
    let e = p
        .publish(&zone(&id), &set)
        .await
        .expect_err("throttled for good");
    assert!(matches!(e, ProviderError::RateLimited { .. }), "{e}");
    let first = fake.requests().len();
    assert!((2..=9).contains(&first), "{first} requests");
    assert!(budget.waited() > Duration::ZERO && budget.left() < Duration::from_secs(1));
    let e = other
        .publish(&zone(&id), &set)
        .await
        .expect_err("no budget left");
    assert!(matches!(e, ProviderError::RateLimited { .. }), "{e}");
    assert!(fake.requests().len() - first <= 4, "hardly any wait left");
}

#[tokio::test]
async fn wrong_secret_or_key_is_an_auth_error_without_secrets() {
    init_tracing();
    let token = "SESSIONTOKEN-very-secret-value";
    let (fake, id) = fake(Route53FakeOptions {
        session_token: Some(token.into()),
        ..Default::default()
    });
    let mut set = TxtSet::new();
    set.insert(name("_acme-challenge.example.test"), "x");

    // Right keys and token: fine.
    let mut s = good(&fake);
    s.session_token = Some(Secret::new(token));
    provider(&s)
        .publish(&zone(&id), &set)
        .await
        .expect("signed with a session token");

    // Wrong secret: the fake answers SignatureDoesNotMatch quoting the canonical request,
    // which carries the session token; our error must not.
    let mut wrong = s.clone();
    wrong.secret_access_key = Some(Secret::new("wrong-secret-value"));
    let e = provider(&wrong)
        .unpublish(&zone(&id), &set)
        .await
        .expect_err("refused");
    let text = e.to_string();
    assert!(matches!(e, ProviderError::Auth { .. }), "{text}");
    assert!(
        text.contains("SignatureDoesNotMatch") && text.contains("AWS_SECRET_ACCESS_KEY"),
        "{text}"
    );
    assert!(
        !text.contains(token) && !text.contains("wrong-secret-value"),
        "secret leaked: {text}"
    );
    assert!(!text.contains('\n'), "one line: {text}");

    // Unknown key id.
    let mut unknown = s.clone();
    unknown.access_key_id = Some("AKIANOBODY".into());
    let e = provider(&unknown)
        .zone_for(&name("_acme-challenge.example.test"))
        .await
        .expect_err("refused");
    assert!(
        matches!(e, ProviderError::Auth { .. }) && e.to_string().contains("InvalidClientTokenId"),
        "{e}"
    );

    // Missing session token.
    let mut no_token = s;
    no_token.session_token = None;
    let e = provider(&no_token)
        .publish(&zone(&id), &set)
        .await
        .expect_err("refused");
    assert!(matches!(e, ProviderError::Auth { .. }), "{e}");
    // Nothing was retried: auth errors are final.
    assert!(fake.requests().iter().filter(|r| r.status == 403).count() == 3);
}

#[tokio::test]
async fn strict_delete_uses_exact_values_and_ttl() {
    init_tracing();
    let (fake, id) = fake(Route53FakeOptions::default());
    // Our value already there with a foreign TTL (e.g. a previous run crashed).
    fake.seed_txt(&id, "_acme-challenge.example.test", 3600, &["ours"])
        .expect("seed");
    let p = provider(&good(&fake));
    let mut set = TxtSet::new();
    set.insert(name("_acme-challenge.example.test"), "ours");
    p.unpublish(&zone(&id), &set)
        .await
        .expect("DELETE with the current TTL passes the strict check");
    assert_eq!(fake.txt("_acme-challenge.example.test"), None);
    let delete = fake
        .requests()
        .into_iter()
        .find(|r| r.action == "ChangeResourceRecordSets")
        .expect("a change");
    assert!(
        delete.body.contains("<Action>DELETE</Action>") && delete.body.contains("<TTL>3600</TTL>"),
        "{}",
        delete.body
    );
}

#[tokio::test]
async fn refused_batches_and_unknown_zones_are_typed() {
    init_tracing();
    let (fake, _id) = fake(Route53FakeOptions::default());
    let other = fake.add_zone("other.test", false).expect("zone");
    let mut s = good(&fake);
    // The configured zone does not hold the name: Route53 refuses the batch.
    s.hosted_zone_id = Some(other);
    let mut set = TxtSet::new();
    set.insert(name("_acme-challenge.example.test"), "x");
    let e = provider(&s)
        .publish(&Zone::new(name("example.test")), &set)
        .await
        .expect_err("refused");
    assert!(matches!(e, ProviderError::Rejected { .. }), "{e}");
    assert!(e.to_string().contains("not permitted in zone"), "{e}");

    s.hosted_zone_id = Some("ZDOESNOTEXIST".into());
    let e = provider(&s)
        .publish(&Zone::new(name("example.test")), &set)
        .await
        .expect_err("no zone");
    assert!(matches!(e, ProviderError::ZoneNotFound { .. }), "{e}");

    s.hosted_zone_id = None;
    let e = provider(&s)
        .zone_for(&name("_acme-challenge.nowhere.test"))
        .await
        .expect_err("no zone");
    assert!(
        matches!(e, ProviderError::ZoneNotFound { .. }) && e.to_string().contains("nowhere.test"),
        "{e}"
    );
}

#[tokio::test]
async fn credentials_from_a_profile() {
    init_tracing();
    let (fake, id) = fake(Route53FakeOptions {
        session_token: Some("profile-token".into()),
        ..Default::default()
    });
    let dir = tempfile::tempdir().expect("tmp");
    let creds = dir.path().join("credentials");
    std::fs::write(
        &creds,
        format!(
            "[default]\naws_access_key_id = AKIAWRONG\naws_secret_access_key = nope\n\n[acme]\naws_access_key_id = {}\naws_secret_access_key = {}\naws_session_token = profile-token\n",
            fake.access_key_id(),
            fake.secret_access_key()
        ),
    )
    .expect("write");
    let env: std::collections::HashMap<String, String> = [
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            creds.to_string_lossy().to_string(),
        ),
        (
            "AWS_CONFIG_FILE",
            dir.path()
                .join("config-missing")
                .to_string_lossy()
                .to_string(),
        ),
        ("AWS_PROFILE", "acme".to_string()),
        ("AWS_ENDPOINT_URL_ROUTE_53", fake.endpoint_url()),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    // An explicitly named config file must exist...
    assert!(
        wildcert_route53::Route53Settings::from_env_map(&env)
            .expect("env")
            .validate()
            .is_err()
    );
    let mut env = env;
    env.remove("AWS_CONFIG_FILE");
    wildcert_testkit::install_crypto_provider();
    let p = provider(&wildcert_route53::Route53Settings::from_env_map(&env).expect("env"));
    let mut set = TxtSet::new();
    set.insert(name("_acme-challenge.example.test"), "from-profile");
    p.publish(&zone(&id), &set)
        .await
        .expect("profile credentials work");
}

#[tokio::test]
async fn unreachable_endpoint_fails_fast() {
    init_tracing();
    let port = wildcert_testkit::free_tcp_port().expect("port");
    let p = provider(&settings(&format!("http://127.0.0.1:{port}"), "AKIAX", "s"));
    let start = Instant::now();
    let e = p
        .zone_for(&name("_acme-challenge.example.test"))
        .await
        .expect_err("nobody listens");
    assert!(matches!(e, ProviderError::Unreachable { .. }), "{e}");
    assert!(e.to_string().contains(&port.to_string()), "{e}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

/// The fake's DELETE is as strict as AWS: values and TTL must match the current RRset.
#[tokio::test]
async fn fake_refuses_a_delete_that_does_not_match() {
    use wildcert_route53::sigv4;
    use wildcert_route53::xml::{self, Action, Change};
    init_tracing();
    let (fake, id) = fake(Route53FakeOptions::default());
    fake.seed_txt(&id, "_acme-challenge.example.test", 300, &["a", "b"])
        .expect("seed");
    let creds = wildcert_route53::Credentials {
        access_key_id: fake.access_key_id(),
        secret_access_key: Secret::new(fake.secret_access_key()),
        session_token: None,
    };
    wildcert_testkit::install_crypto_provider();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let send = |ttl: u32, values: &[&str]| {
        let body = xml::change_batch(&[Change {
            action: Action::Delete,
            name: "_acme-challenge.example.test.".into(),
            ttl,
            values: values.iter().map(|v| xml::quote_txt(v)).collect(),
        }]);
        let path = format!("/2013-04-01/hostedzone/{id}/rrset");
        let headers = vec![
            ("content-type".to_string(), "application/xml".to_string()),
            ("host".to_string(), fake.addr().to_string()),
        ];
        let date = sigv4::amz_date(time::OffsetDateTime::now_utc());
        let signed = sigv4::sign(
            &sigv4::Request {
                method: "POST",
                path: &path,
                query: &[],
                headers: &headers,
                body: body.as_bytes(),
            },
            &creds,
            "us-east-1",
            "route53",
            &date,
        );
        let mut req = client
            .post(format!("{}{path}", fake.endpoint_url()))
            .body(body);
        for (k, v) in headers.iter().chain(&signed) {
            req = req.header(k.as_str(), v.as_str());
        }
        async move {
            let resp = req.send().await.expect("answer");
            (resp.status().as_u16(), resp.text().await.expect("body"))
        }
    };
    let (status, body) = send(60, &["a", "b"]).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("<Code>InvalidChangeBatch</Code>") && body.contains("do not match"),
        "{body}"
    );
    let (status, body) = send(300, &["a"]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        fake.txt("_acme-challenge.example.test")
            .map(|(_, v)| v.len()),
        Some(2)
    );
    let (status, body) = send(300, &["b", "a"]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(fake.txt("_acme-challenge.example.test"), None);
    let (status, body) = send(300, &["a"]).await;
    assert!(
        status == 400 && body.contains("not found"),
        "{status} {body}"
    );
}
