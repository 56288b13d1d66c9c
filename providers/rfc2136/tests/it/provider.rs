//! The provider alone against the hidden primary.

use wildcert_dns::{DnsProvider, ProviderError};
use wildcert_rfc2136::{Rfc2136Provider, Rfc2136Settings};
use wildcert_testkit::BindOptions;

use crate::{name, primary_txt, provider, set, settings, topology, topology_with, zone};

const APEX: &str = "_acme-challenge.example.test";

async fn roundtrip_with_algorithm(alg: &str, spelled: &str) {
    let Some(topo) = topology_with(BindOptions {
        tsig_algorithm: alg.into(),
        tsig_key_name: "Acme-Key".into(),
        ..BindOptions::default()
    }) else {
        return;
    };
    // Any case, trailing dot: as users copy it around.
    let s = Rfc2136Settings {
        tsig_algorithm: Some(spelled.into()),
        tsig_key: Some("acme-key.".into()),
        ..settings(&topo)
    };
    let p = provider(&s);
    let v = set(&[(APEX, alg)]);
    p.publish(&zone("example.test"), &v).await.expect("publish");
    assert_eq!(primary_txt(&topo, APEX), [alg]);
    p.unpublish(&zone("example.test"), &v)
        .await
        .expect("unpublish");
    assert!(primary_txt(&topo, APEX).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hmac_sha384_key() {
    roundtrip_with_algorithm("hmac-sha384", "HMAC-SHA384.").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hmac_sha512_key() {
    roundtrip_with_algorithm("hmac-sha512", "sha512").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_file_from_tsig_keygen_over_tcp() {
    let Some(topo) = topology_with(BindOptions {
        tsig_algorithm: "hmac-sha512".into(),
        ..BindOptions::default()
    }) else {
        return;
    };
    let s = Rfc2136Settings {
        nameserver: Some(topo.primary_addr().to_string()),
        tsig_file: Some(topo.tsig_key_file_path().to_path_buf()),
        tcp: Some(true),
        ..Rfc2136Settings::default()
    };
    let p = provider(&s);
    let key = p.config().key.as_ref().expect("key from file");
    assert_eq!(key.name, topo.tsig_key_name());
    assert_eq!(key.algorithm.as_str(), "hmac-sha512");
    p.publish(&zone("example.test"), &set(&[(APEX, "from-file")]))
        .await
        .expect("publish over TCP");
    assert_eq!(primary_txt(&topo, APEX), ["from-file"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_update_goes_over_tcp() {
    let Some(topo) = topology(&["example.test"]) else {
        return;
    };
    let p = provider(&settings(&topo));
    let pairs: Vec<(String, String)> = (0..40)
        .map(|i| {
            (
                format!("_acme-challenge.h{i}.example.test"),
                format!("token-{i:02}-{}", "x".repeat(30)),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let big = set(&refs);
    p.publish(&zone("example.test"), &big)
        .await
        .expect("publish 40 names in one UPDATE");
    assert_eq!(
        primary_txt(&topo, "_acme-challenge.h39.example.test"),
        [pairs[39].1.clone()]
    );
    p.unpublish(&zone("example.test"), &big)
        .await
        .expect("unpublish");
    assert!(primary_txt(&topo, "_acme-challenge.h0.example.test").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_is_an_auth_error_and_changes_nothing() {
    let Some(topo) = topology(&["example.test"]) else {
        return;
    };
    let wrong = wildcert_dns::Secret::new("d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE=");
    let p = provider(&Rfc2136Settings {
        tsig_secret: Some(wrong),
        ..settings(&topo)
    });
    let err = p
        .publish(&zone("example.test"), &set(&[(APEX, "nope")]))
        .await
        .expect_err("refused");
    assert!(matches!(err, ProviderError::Auth { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("wrong secret") && text.contains("BADSIG"),
        "{text}"
    );
    assert!(
        !text.contains("Please file an issue"),
        "hickory's message is translated: {text}"
    );
    assert!(primary_txt(&topo, APEX).is_empty());

    // A wrong key name is an auth error too (named apart in servers.rs).
    let p = provider(&Rfc2136Settings {
        tsig_key: Some("no-such-key".into()),
        ..settings(&topo)
    });
    let err = p
        .publish(&zone("example.test"), &set(&[(APEX, "nope")]))
        .await
        .expect_err("refused");
    assert!(matches!(err, ProviderError::Auth { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_zone_and_unsigned_updates() {
    let Some(topo) = topology(&["example.test"]) else {
        return;
    };
    let p = provider(&settings(&topo));
    let err = p
        .zone_for(&name("_acme-challenge.nowhere.invalid"))
        .await
        .expect_err("no zone");
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err:?}");
    assert!(
        err.to_string().contains("_acme-challenge.nowhere.invalid"),
        "{err}"
    );

    // Updating a zone the server does not have.
    let err = p
        .publish(
            &zone("nowhere.invalid"),
            &set(&[("_acme-challenge.nowhere.invalid", "x")]),
        )
        .await
        .expect_err("refused");
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("not authoritative for zone nowhere.invalid"),
        "{err}"
    );

    // A configured zone that does not contain the name.
    let p2 = provider(&Rfc2136Settings {
        zone: Some("example.test".into()),
        ..settings(&topo)
    });
    assert!(
        p2.zone_for(&name("_acme-challenge.other.test"))
            .await
            .is_err()
    );

    // Unsigned updates, when explicitly asked for, are refused by this server's policy.
    let unsigned = Rfc2136Settings {
        nameserver: Some(topo.primary_addr().to_string()),
        insecure_unsigned: Some(true),
        ..Rfc2136Settings::default()
    };
    let p3 = Rfc2136Provider::new(&unsigned).expect("unsigned allowed when asked");
    let err = p3
        .publish(&zone("example.test"), &set(&[(APEX, "x")]))
        .await
        .expect_err("refused");
    assert!(matches!(err, ProviderError::Rejected { .. }), "{err:?}");
    assert!(err.to_string().contains("REFUSED"), "{err}");
    assert!(primary_txt(&topo, APEX).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nameserver_by_host_name_and_dead_server() {
    let Some(topo) = topology(&["example.test"]) else {
        return;
    };
    // A dead address: a clear "cannot reach" error, bounded in time.
    let dead = Rfc2136Settings {
        nameserver: Some("127.0.0.1:9".into()),
        timeout: Some(2),
        ..settings(&topo)
    };
    let started = std::time::Instant::now();
    let err = provider(&dead)
        .publish(&zone("example.test"), &set(&[(APEX, "x")]))
        .await
        .expect_err("unreachable");
    assert!(matches!(err, ProviderError::Unreachable { .. }), "{err:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    // "localhost" resolves; port 9 is still dead, but the name resolution path works.
    let named = Rfc2136Settings {
        nameserver: Some("localhost:9".into()),
        timeout: Some(1),
        ..settings(&topo)
    };
    let p = provider(&named);
    assert!(p.server_addr().await.is_ok_and(|a| a.port() == 9));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_sent_to_a_secondary_says_use_the_primary() {
    let Some(topo) = topology(&["example.test"]) else {
        return;
    };
    let s = Rfc2136Settings {
        nameserver: Some(topo.prompt_secondary_addr().to_string()),
        ..settings(&topo)
    };
    let err = provider(&s)
        .publish(&zone("example.test"), &set(&[(APEX, "x")]))
        .await
        .expect_err("secondary refuses");
    assert!(err.to_string().contains("primary"), "{err}");
    assert!(primary_txt(&topo, APEX).is_empty());
}
