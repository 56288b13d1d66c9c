//! rfc2136 as servers behave (issue 13 point 5): hmac-sha1 keys, a certificate with 1,000
//! names, and every kind of refusal told apart and named.

use std::sync::Arc;

use futures_util::future::join_all;
use hickory_proto::rr::RecordType;
use wildcert_dns::query;
use wildcert_dns::{ChallengeRecord, Dns01, DnsProvider, DnsSettings, ProviderError, TxtSet};
use wildcert_rfc2136::Rfc2136Settings;
use wildcert_testkit::{BindOptions, BindTopology};

use crate::{name, primary_txt, provider, set, settings, topology, topology_with, zone};

const APEX: &str = "_acme-challenge.example.test";

/// `count` names under `label.example.test`, one 43-character value each.
fn many(label: &str, count: usize) -> Vec<(String, String)> {
    (0..count)
        .map(|i| {
            (
                format!("_acme-challenge.h{i:04}.{label}.example.test"),
                format!("{i:04}-{}", "v".repeat(38)),
            )
        })
        .collect()
}

fn txt_set(pairs: &[(String, String)]) -> TxtSet {
    let mut s = TxtSet::new();
    for (n, v) in pairs {
        s.insert(name(n), v.clone());
    }
    s
}

/// How many of `pairs` the primary serves now (asked 50 at a time).
async fn served(topo: &BindTopology, pairs: &[(String, String)]) -> usize {
    let mut n = 0;
    for chunk in pairs.chunks(50) {
        let answers = join_all(chunk.iter().map(|(fqdn, value)| async move {
            let m = query::query(
                topo.primary_addr(),
                &name(fqdn),
                RecordType::TXT,
                false,
                std::time::Duration::from_secs(2),
            )
            .await
            .expect("query the primary");
            query::txt_values(&m, &name(fqdn)).contains(value)
        }))
        .await;
        n += answers.into_iter().filter(|b| *b).count();
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hmac_sha1_key_is_accepted() {
    let Some(topo) = topology_with(BindOptions {
        tsig_algorithm: "hmac-sha1".into(),
        ..BindOptions::default()
    }) else {
        return;
    };
    // lego's default algorithm, spelled as lego users write it, and from the key file.
    for s in [
        Rfc2136Settings {
            tsig_algorithm: Some("hmac-sha1.".into()),
            ..settings(&topo)
        },
        Rfc2136Settings {
            nameserver: Some(topo.primary_addr().to_string()),
            tsig_file: Some(topo.tsig_key_file_path().to_path_buf()),
            ..Rfc2136Settings::default()
        },
    ] {
        let p = provider(&s);
        assert_eq!(
            p.config().key.as_ref().map(|k| k.algorithm.as_str()),
            Some("hmac-sha1")
        );
        let v = set(&[(APEX, "sha1-token")]);
        p.publish(&zone("example.test"), &v).await.expect("publish");
        assert_eq!(primary_txt(&topo, APEX), ["sha1-token"]);
        p.unpublish(&zone("example.test"), &v)
            .await
            .expect("unpublish");
        assert!(primary_txt(&topo, APEX).is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_with_1000_names_is_published_and_removed() {
    let Some(topo) = topology(&["example.test"]) else {
        return;
    };
    let pairs = many("big", 1000);
    let records: Vec<ChallengeRecord> = pairs
        .iter()
        .map(|(n, v)| ChallengeRecord {
            fqdn: name(n),
            value: v.clone(),
        })
        .collect();
    let dns = Dns01::new(
        Arc::new(provider(&settings(&topo))),
        DnsSettings {
            resolvers: topo.secondary_addrs(),
            authoritative: vec![topo.primary_addr()],
            ..DnsSettings::default()
        },
    );
    let plan = dns.plan(&records).await.expect("plan");
    assert_eq!(plan.len(), 1000);
    let published = dns.publish(&plan).await.expect("publish 1000 values");
    assert_eq!(published.plan.len(), 1000);
    assert_eq!(served(&topo, &pairs).await, 1000);
    dns.wait_propagated(&published)
        .await
        .expect("the primary serves them");
    dns.cleanup(&plan).await.expect("cleanup 1000 values");
    assert_eq!(served(&topo, &pairs).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_that_refuses_is_named_and_leaves_nothing_behind() {
    // The key may change TXT records under ok.example.test only.
    let Some(topo) = topology_with(BindOptions {
        update_grants: Some("grant \"KEY\" subdomain ok.example.test. TXT;".into()),
        ..BindOptions::default()
    }) else {
        return;
    };
    let p = provider(&settings(&topo));
    let err = p
        .publish(&zone("example.test"), &set(&[(APEX, "refused")]))
        .await
        .expect_err("policy refuses");
    assert!(matches!(err, ProviderError::Rejected { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("the server refused the update by its policy (REFUSED, signed)")
            && text.contains("update-policy")
            && text.contains(APEX),
        "{text}"
    );
    assert!(!text.contains("credentials"), "{text}");
    assert!(err.hint().contains("update-policy"), "{}", err.hint());

    // 400 allowed values then 5 refused ones: several messages, the last one refused. What
    // the server took is removed again, so nothing is left for a journal to chase.
    let mut pairs = many("ok", 400);
    pairs.extend((0..5).map(|i| {
        (
            format!("_acme-challenge.z{i}.example.test"),
            format!("no-{i}"),
        )
    }));
    let err = p
        .publish(&zone("example.test"), &txt_set(&pairs))
        .await
        .expect_err("the last part is refused");
    let text = err.to_string();
    assert!(
        text.contains("refused the update by its policy") && text.contains("removed again"),
        "{text}"
    );
    assert_eq!(served(&topo, &pairs).await, 0);
    // The allowed part alone goes through.
    p.publish(&zone("example.test"), &txt_set(&pairs[..400]))
        .await
        .expect("allowed names");
    assert_eq!(served(&topo, &pairs).await, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_key_name_and_algorithm_are_told_apart() {
    let Some(topo) = topology(&["example.test"]) else {
        return;
    };
    let attempt = |s: Rfc2136Settings| async move {
        provider(&s)
            .publish(&zone("example.test"), &set(&[(APEX, "nope")]))
            .await
            .expect_err("refused")
    };
    let secret = attempt(Rfc2136Settings {
        tsig_secret: Some(wildcert_dns::Secret::new(
            "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE=",
        )),
        ..settings(&topo)
    })
    .await;
    let key = attempt(Rfc2136Settings {
        tsig_key: Some("no-such-key".into()),
        ..settings(&topo)
    })
    .await;
    let alg = attempt(Rfc2136Settings {
        tsig_algorithm: Some("hmac-sha512".into()),
        ..settings(&topo)
    })
    .await;
    for e in [&secret, &key, &alg] {
        assert!(matches!(e, ProviderError::Auth { .. }), "{e:?}");
    }
    let (secret, key, alg) = (secret.to_string(), key.to_string(), alg.to_string());
    assert!(
        secret.contains("wrong secret") && secret.contains("NOTAUTH/BADSIG"),
        "{secret}"
    );
    assert!(
        key.contains("unknown key")
            && key.contains("NOTAUTH/BADKEY")
            && key.contains("`no-such-key`"),
        "{key}"
    );
    assert!(
        alg.contains("unknown key") && alg.contains("(hmac-sha512)") && alg.contains("algorithm"),
        "{alg}"
    );
    assert!(!secret.contains("policy") && !key.contains("secondary"));
    assert!(primary_txt(&topo, APEX).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_sent_to_a_secondary_is_named() {
    let Some(topo) = topology(&["example.test"]) else {
        return;
    };
    for (addr, ns) in [
        (topo.prompt_secondary_addr(), "ns1.example.test"),
        (topo.lagging_secondary_addr(), "ns2.example.test"),
    ] {
        let err = provider(&Rfc2136Settings {
            nameserver: Some(addr.to_string()),
            ..settings(&topo)
        })
        .publish(&zone("example.test"), &set(&[(APEX, "x")]))
        .await
        .expect_err("a secondary refuses");
        let text = err.to_string();
        assert!(
            text.contains("update sent to a secondary")
                && text.contains(ns)
                && text.contains("primary"),
            "{text}"
        );
        assert!(!text.contains("credentials"), "{text}");
    }
    assert!(primary_txt(&topo, APEX).is_empty());
}
