//! The whole dns-01 pipeline (wildcert_dns::Dns01) over the rfc2136 provider against BIND.

use std::sync::Arc;
use std::time::Duration;

use wildcert_dns::{ChallengeRecord, Dns01, DnsSettings, ServerState};

use crate::{name, primary_txt, provider, settings, topology};

fn rec(fqdn: &str, value: &str) -> ChallengeRecord {
    ChallengeRecord {
        fqdn: name(fqdn),
        value: value.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_publish_wait_cleanup() {
    let Some(topo) = topology(&["example.test"]) else {
        return;
    };
    topo.add_records("example.test", &["_acme-challenge TXT foreign"])
        .expect("foreign value");
    let dns = Dns01::new(
        Arc::new(provider(&settings(&topo))),
        DnsSettings {
            resolvers: topo.secondary_addrs(),
            propagation_timeout: Duration::from_secs(30),
            ..DnsSettings::default()
        },
    );
    // Wildcard + apex (two values at one name) and a second name: one zone, one UPDATE.
    let records = [
        rec("_acme-challenge.example.test", "apex-token"),
        rec("_acme-challenge.example.test", "wildcard-token"),
        rec("_acme-challenge.www.example.test", "www-token"),
    ];
    let plan = dns.plan(&records).await.expect("plan");
    assert_eq!(plan.zones.len(), 1);
    let pz = &plan.zones[0];
    assert_eq!(pz.zone.name, name("example.test"));
    assert_eq!(pz.records.len(), 3);
    let mut ns: Vec<_> = pz.servers.iter().map(|s| s.addr).collect();
    ns.sort();
    let mut want = topo.secondary_addrs();
    want.sort();
    assert_eq!(ns, want, "NS set discovered, hidden primary not in it");
    // The plan survives a journal round trip.
    let journal = serde_json::to_string(&plan).expect("serialise");
    let plan: wildcert_dns::Plan = serde_json::from_str(&journal).expect("deserialise");

    let published = dns.publish(&plan).await.expect("publish");
    let report = dns.wait_propagated(&published).await.expect("propagated");
    assert!(report.servers.iter().all(|s| s.state == ServerState::Ready));
    let mut lagging = topo
        .txt_values(
            topo.lagging_secondary_addr(),
            "_acme-challenge.example.test",
        )
        .expect("dig");
    lagging.sort();
    assert_eq!(
        lagging,
        ["apex-token", "foreign", "wildcard-token"],
        "the lagging secondary has every value"
    );
    assert_eq!(
        topo.txt_values(
            topo.lagging_secondary_addr(),
            "_acme-challenge.www.example.test"
        )
        .expect("dig"),
        ["www-token"]
    );

    dns.cleanup(&plan).await.expect("cleanup");
    assert_eq!(
        primary_txt(&topo, "_acme-challenge.example.test"),
        ["foreign"]
    );
    assert!(primary_txt(&topo, "_acme-challenge.www.example.test").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cname_delegation_to_another_zone() {
    let Some(topo) = topology(&["example.test", "auth.test"]) else {
        return;
    };
    topo.add_records(
        "example.test",
        &["_acme-challenge.deleg CNAME _acme-challenge.deleg.auth.test."],
    )
    .expect("CNAME");
    let dns = Dns01::new(
        Arc::new(provider(&settings(&topo))),
        DnsSettings {
            // The prompt secondary has the CNAME right after the NOTIFY.
            resolvers: vec![topo.prompt_secondary_addr()],
            propagation_timeout: Duration::from_secs(30),
            ..DnsSettings::default()
        },
    );
    let mut plan = None;
    for _ in 0..50 {
        let p = dns
            .plan(&[rec("_acme-challenge.deleg.example.test", "delegated-token")])
            .await
            .expect("plan");
        if !p.delegations.is_empty() {
            plan = Some(p);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let plan = plan.expect("CNAME seen");
    assert_eq!(
        plan.delegations[0].target(),
        &name("_acme-challenge.deleg.auth.test")
    );
    assert_eq!(plan.zones.len(), 1);
    assert_eq!(plan.zones[0].zone.name, name("auth.test"));
    assert!(plan.zones[0].servers.iter().any(|s| {
        s.name
            .as_ref()
            .is_some_and(|n| n.as_str() == "ns2.auth.test")
    }));

    let published = dns.publish(&plan).await.expect("publish");
    dns.wait_propagated(&published).await.expect("propagated");
    assert_eq!(
        topo.txt_values(
            topo.lagging_secondary_addr(),
            "_acme-challenge.deleg.auth.test"
        )
        .expect("dig"),
        ["delegated-token"]
    );
    dns.cleanup(&plan).await.expect("cleanup");
    assert!(primary_txt(&topo, "_acme-challenge.deleg.auth.test").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_zones_one_run_and_authoritative_override() {
    let Some(topo) = topology(&["example.test", "other.test"]) else {
        return;
    };
    let dns = Dns01::new(
        Arc::new(provider(&settings(&topo))),
        DnsSettings {
            follow_cname: false,
            // Hidden primary only: no resolver needed at all (zones come from the provider).
            authoritative: vec![topo.primary_addr()],
            propagation_timeout: Duration::from_secs(10),
            ..DnsSettings::default()
        },
    );
    let mut plan = dns
        .plan(&[rec("_acme-challenge.example.test", "a")])
        .await
        .expect("plan");
    plan.merge(
        dns.plan(&[
            rec("_acme-challenge.other.test", "b"),
            rec("_acme-challenge.x.example.test", "c"),
        ])
        .await
        .expect("plan"),
    );
    assert_eq!(plan.zones.len(), 2);
    assert_eq!(plan.len(), 3);
    assert!(
        plan.zones
            .iter()
            .all(|z| z.servers.len() == 1 && z.servers[0].addr == topo.primary_addr())
    );
    let published = dns.publish(&plan).await.expect("publish");
    let report = dns.wait_propagated(&published).await.expect("propagated");
    assert_eq!(report.servers.len(), 2);
    assert_eq!(primary_txt(&topo, "_acme-challenge.other.test"), ["b"]);
    dns.cleanup(&plan).await.expect("cleanup");
    assert!(primary_txt(&topo, "_acme-challenge.other.test").is_empty());
    assert!(primary_txt(&topo, "_acme-challenge.x.example.test").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_fails_at_publish_with_hint() {
    let Some(topo) = topology(&["example.test"]) else {
        return;
    };
    let s = wildcert_rfc2136::Rfc2136Settings {
        tsig_secret: Some(wildcert_dns::Secret::new(
            "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE=",
        )),
        ..settings(&topo)
    };
    let dns = Dns01::new(
        Arc::new(provider(&s)),
        DnsSettings {
            resolvers: topo.secondary_addrs(),
            ..DnsSettings::default()
        },
    );
    let plan = dns
        .plan(&[rec("_acme-challenge.example.test", "x")])
        .await
        .expect("plan");
    let err = dns.publish(&plan).await.expect_err("auth error");
    assert!(
        err.to_string().contains("wrong secret") && err.to_string().contains("BADSIG"),
        "{err}"
    );
    assert!(err.hint().contains("credentials"), "{}", err.hint());
    assert!(primary_txt(&topo, "_acme-challenge.example.test").is_empty());
}
