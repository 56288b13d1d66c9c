//! lego's PDNS_TTL / PDNS_PROPAGATION_TIMEOUT take effect on a real PowerDNS, through the
//! registry's way in (the provider's spec).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use wildcert_dns::{ChallengeRecord, Dns01, Dns01Error, DnsSettings, PropagationError};

use crate::{name, server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lego_ttl_and_propagation_timeout_take_effect() {
    let Some(pdns) = server(&["example.test"]) else {
        return;
    };
    let env: HashMap<String, String> = [
        ("PDNS_API_URL", pdns.api_url()),
        ("PDNS_API_KEY", pdns.api_key().to_string()),
        ("PDNS_TTL", "300".to_string()),
        ("PDNS_PROPAGATION_TIMEOUT", "3".to_string()),
        ("PDNS_API_VERSION", "1".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let provider = wildcert_pdns::PROVIDER.from_env(&env).expect("builds");
    // Nothing answers at the address checked, so the wait can only end by its timeout.
    let dead = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let dead_addr = dead.local_addr().expect("addr");
    drop(dead);
    let dns = Dns01::new(
        provider,
        DnsSettings {
            resolvers: vec![pdns.dns_addr()],
            authoritative: vec![dead_addr],
            query_timeout: Duration::from_millis(500),
            ..DnsSettings::default()
        },
    );
    let fqdn = "_acme-challenge.example.test";
    let plan = dns
        .plan(&[ChallengeRecord {
            fqdn: name(fqdn),
            value: "ttl-300".into(),
        }])
        .await
        .expect("plan");
    let published = dns.publish(&plan).await.expect("publish");
    assert_eq!(pdns.txt_ttl(fqdn).expect("read"), Some(300));
    let started = Instant::now();
    let err = dns
        .wait_propagated(&published)
        .await
        .expect_err("times out");
    match &err {
        Dns01Error::Propagation(PropagationError::Timeout { after, .. }) => {
            assert_eq!(*after, Duration::from_secs(3), "{err}");
        }
        other => panic!("expected a propagation timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(60), "bounded");
    dns.cleanup(&plan).await.expect("cleanup");
    assert!(pdns.txt_values(fqdn).expect("read").is_empty());
}
