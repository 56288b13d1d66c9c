//! lego's RFC2136_TTL / RFC2136_PROPAGATION_TIMEOUT take effect through the provider's tuning.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;
use wildcert_dns::query;
use wildcert_dns::{ChallengeRecord, Dns01, Dns01Error, DnsSettings, PropagationError};

use crate::{name, topology};

const APEX: &str = "_acme-challenge.example.test";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lego_ttl_and_propagation_timeout_take_effect() {
    let Some(topo) = topology(&["example.test"]) else {
        return;
    };
    let env: HashMap<String, String> = [
        ("RFC2136_NAMESERVER", topo.primary_addr().to_string()),
        ("RFC2136_TSIG_KEY", topo.tsig_key_name().to_string()),
        ("RFC2136_TSIG_SECRET", topo.tsig_secret_b64().to_string()),
        ("RFC2136_TSIG_ALGORITHM", topo.tsig_algorithm().to_string()),
        ("RFC2136_TTL", "300".to_string()),
        ("RFC2136_PROPAGATION_TIMEOUT", "5".to_string()),
        ("RFC2136_SEQUENCE_INTERVAL", "60".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    // The registry's way in: lego's common variables are attached to the provider.
    let built = wildcert_rfc2136::PROVIDER.from_env(&env).expect("builds");
    // Nothing answers at the address checked, so the wait can only end by its timeout.
    let dead = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let dead_addr = dead.local_addr().expect("addr");
    drop(dead);
    let dns = Dns01::new(
        built,
        DnsSettings {
            resolvers: topo.secondary_addrs(),
            authoritative: vec![dead_addr],
            query_timeout: Duration::from_millis(500),
            ..DnsSettings::default()
        },
    );
    let plan = dns
        .plan(&[ChallengeRecord {
            fqdn: name(APEX),
            value: "ttl-300".into(),
        }])
        .await
        .expect("plan");
    let published = dns.publish(&plan).await.expect("publish");
    // The record carries lego's TTL, not wildcert's default 60.
    let m = query::query(
        topo.primary_addr(),
        &name(APEX),
        RecordType::TXT,
        false,
        Duration::from_secs(2),
    )
    .await
    .expect("query");
    let ttls: Vec<u32> = m.answers.iter().map(|r| r.ttl).collect();
    assert_eq!(ttls, [300]);
    // The wait ends at lego's 5 s, not wildcert's default 120 s.
    let started = Instant::now();
    let err = dns
        .wait_propagated(&published)
        .await
        .expect_err("times out");
    match &err {
        Dns01Error::Propagation(PropagationError::Timeout { after, .. }) => {
            assert_eq!(*after, Duration::from_secs(5), "{err}");
        }
        other => panic!("expected a propagation timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(60), "bounded");
    assert!(err.to_string().contains("after 5 s"), "{err}");
    dns.cleanup(&plan).await.expect("cleanup");
}
