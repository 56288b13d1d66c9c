//! Zone, nameserver and CNAME discovery against BIND.

use wildcert_dns::DiscoveryError;

use crate::{discovery, name, topology};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zone_found_by_soa_walk() {
    let Some(topo) = topology(&["example.test"]) else {
        return;
    };
    let d = discovery(&topo);
    for n in [
        "_acme-challenge.example.test",
        "_acme-challenge.deep.sub.example.test",
        "example.test",
    ] {
        assert_eq!(
            d.find_zone(&name(n)).await.expect("zone"),
            name("example.test"),
            "{n}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_zone_is_a_clear_error() {
    let Some(topo) = topology(&["example.test"]) else {
        return;
    };
    let d = discovery(&topo);
    let err = d
        .find_zone(&name("_acme-challenge.nowhere.invalid"))
        .await
        .expect_err("no zone");
    assert!(matches!(err, DiscoveryError::NoZone { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("no zone found for _acme-challenge.nowhere.invalid"),
        "{text}"
    );
    assert!(text.contains("REFUSED"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nameservers_and_every_address() {
    let Some(topo) = topology(&["example.test"]) else {
        return;
    };
    let d = discovery(&topo);
    let servers = d.nameservers(&name("example.test")).await.expect("ns");
    let mut got: Vec<(String, String)> = servers
        .iter()
        .map(|s| {
            (
                s.name.as_ref().map(ToString::to_string).unwrap_or_default(),
                s.addr.to_string(),
            )
        })
        .collect();
    got.sort();
    let want = vec![
        (
            "ns1.example.test".to_string(),
            topo.prompt_secondary_addr().to_string(),
        ),
        (
            "ns2.example.test".to_string(),
            topo.lagging_secondary_addr().to_string(),
        ),
    ];
    assert_eq!(got, want);
    // The hidden primary is not in the NS set.
    assert!(servers.iter().all(|s| s.addr != topo.primary_addr()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cname_delegation_followed_and_loops_detected() {
    let Some(topo) = topology(&["example.test", "auth.test"]) else {
        return;
    };
    topo.add_records(
        "example.test",
        &[
            "_acme-challenge.deleg CNAME hop.example.test.",
            "hop CNAME _acme-challenge.deleg.auth.test.",
            "_acme-challenge.loop CNAME loop2.example.test.",
            "loop2 CNAME _acme-challenge.loop.example.test.",
        ],
    )
    .expect("add CNAMEs");
    // Wait for the records to reach both secondaries (the lagging one within ~5 s).
    let d = discovery(&topo);
    let from = name("_acme-challenge.deleg.example.test");
    let mut chain = None;
    for _ in 0..80 {
        let d1 = wildcert_dns::Discovery::new(
            vec![topo.lagging_secondary_addr()],
            std::time::Duration::from_secs(2),
        );
        let got = d1.follow_cnames(&from).await.expect("follow");
        if got.chain.len() == 2 {
            chain = Some(got);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let chain = chain.expect("CNAME chain visible on the lagging secondary");
    assert_eq!(chain.target(), &name("_acme-challenge.deleg.auth.test"));
    assert_eq!(
        chain.to_string(),
        "_acme-challenge.deleg.example.test → hop.example.test → _acme-challenge.deleg.auth.test"
    );
    assert_eq!(
        d.find_zone(chain.target()).await.expect("zone"),
        name("auth.test")
    );

    let err = d
        .follow_cnames(&name("_acme-challenge.loop.example.test"))
        .await
        .expect_err("loop");
    assert!(matches!(err, DiscoveryError::CnameLoop { .. }), "{err:?}");
    assert!(err.to_string().contains("CNAME loop"), "{err}");

    // No CNAME: the chain is empty and the target is the name itself.
    let plain = d
        .follow_cnames(&name("_acme-challenge.plain.example.test"))
        .await
        .expect("follow");
    assert!(plain.chain.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_through_a_recursive_resolver() {
    let Some(topo) = topology(&["example.test"]) else {
        return;
    };
    let resolver = topo.start_resolver().expect("resolver");
    let d = wildcert_dns::Discovery::new(vec![resolver.addr()], std::time::Duration::from_secs(2));
    assert_eq!(
        d.find_zone(&name("_acme-challenge.www.example.test"))
            .await
            .expect("zone"),
        name("example.test")
    );
    let servers = d.nameservers(&name("example.test")).await.expect("ns");
    let mut got: Vec<_> = servers.iter().map(|s| s.addr).collect();
    got.sort();
    let mut want = topo.secondary_addrs();
    want.sort();
    assert_eq!(got, want);
}
