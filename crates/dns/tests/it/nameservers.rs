//! Nameserver address lookups that get no answer: concurrent, and inside the propagation
//! timeout (40 unanswered names once took 160 s).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hickory_proto::op::{Message, OpCode};
use hickory_proto::rr::rdata::{A, NS};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::net::UdpSocket;
use wildcert_dns::{
    Applied, ChallengeRecord, DiscoveryError, Dns01, Dns01Error, DnsProvider, DnsSettings,
    ProviderError, TxtSet, Zone,
};

use crate::name;

/// A resolver on loopback that answers `ZONE NS` with `count` names `nsN.unanswered.test`
/// (plus `ns-ok.ZONE`, with an address, when `one_answers`), and never answers the address
/// queries of the `unanswered.test` names.
async fn silent_resolver(zone: &'static str, count: usize, one_answers: bool) -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let addr = sock.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        // Bounded: the test's runtime ends the task.
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let Ok(req) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let Some(q) = req.queries.first().cloned() else {
                continue;
            };
            let qname = q.name().to_ascii().to_ascii_lowercase();
            let mut resp = Message::response(req.metadata.id, OpCode::Query);
            resp.metadata.authoritative = true;
            resp.add_query(q.clone());
            if qname == format!("{zone}.") && q.query_type() == RecordType::NS {
                let zone_name = Name::from_ascii(format!("{zone}.")).expect("zone");
                for i in 0..count {
                    let ns = Name::from_ascii(format!("ns{i}.unanswered.test.")).expect("ns");
                    resp.add_answer(Record::from_rdata(zone_name.clone(), 60, RData::NS(NS(ns))));
                }
                if one_answers {
                    let ns = Name::from_ascii(format!("ns-ok.{zone}.")).expect("ns");
                    resp.add_answer(Record::from_rdata(zone_name, 60, RData::NS(NS(ns))));
                }
            } else if qname == format!("ns-ok.{zone}.") {
                if q.query_type() == RecordType::A {
                    resp.add_answer(Record::from_rdata(
                        q.name().clone(),
                        60,
                        RData::A(A(Ipv4Addr::new(127, 0, 0, 1))),
                    ));
                }
            } else {
                // No answer at all: the query times out.
                continue;
            }
            if let Ok(bytes) = resp.to_vec() {
                let _ = sock.send_to(&bytes, peer).await;
            }
        }
    });
    addr
}

/// A provider that knows its zone and publishes nowhere (the test is about planning).
struct Fixed(&'static str);

#[async_trait]
impl DnsProvider for Fixed {
    fn name(&self) -> &'static str {
        "fixed"
    }
    async fn zone_for(&self, _: &wildcert_dns::DnsName) -> Result<Option<Zone>, ProviderError> {
        Ok(Some(Zone::new(name(self.0))))
    }
    async fn publish(&self, _: &Zone, _: &TxtSet) -> Result<Applied, ProviderError> {
        Ok(Applied::default())
    }
    async fn unpublish(&self, _: &Zone, _: &TxtSet) -> Result<(), ProviderError> {
        Ok(())
    }
}

fn pipeline(resolver: SocketAddr, zone: &'static str, timeout: Duration) -> Dns01 {
    Dns01::new(
        Arc::new(Fixed(zone)),
        DnsSettings {
            resolvers: vec![resolver],
            follow_cname: false,
            propagation_timeout: timeout,
            query_timeout: Duration::from_secs(2),
            ..DnsSettings::default()
        },
    )
}

fn record(zone: &str) -> ChallengeRecord {
    ChallengeRecord {
        fqdn: name(&format!("_acme-challenge.{zone}")),
        value: "v".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_unanswered_nameservers_end_within_the_propagation_timeout() {
    let resolver = silent_resolver("silent.test", 40, false).await;
    // The propagation timeout (1 s) is shorter than one query's timeout (2 s): it bounds.
    let dns = pipeline(resolver, "silent.test", Duration::from_secs(1));
    let started = Instant::now();
    let err = dns
        .plan(&[record("silent.test")])
        .await
        .expect_err("no nameserver address");
    let took = started.elapsed();
    // Sequential lookups took 40 × 2 × 2 s = 160 s; the bound is the 1 s propagation timeout.
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let text = err.to_string();
    assert!(
        matches!(
            err,
            Dns01Error::Discovery(DiscoveryError::NoNameservers { .. })
        ),
        "{err:?}"
    );
    assert!(
        text.contains("within 1 s")
            && text.contains("got no answer")
            && text.contains("ns0.unanswered.test")
            && text.contains("35 more"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nameserver_that_answers_is_kept() {
    let resolver = silent_resolver("half.test", 40, true).await;
    let dns = pipeline(resolver, "half.test", Duration::from_secs(3));
    let started = Instant::now();
    let plan = dns
        .plan(&[record("half.test")])
        .await
        .expect("one nameserver has an address");
    assert!(started.elapsed() < Duration::from_secs(6));
    let servers: Vec<String> = plan.zones[0]
        .servers
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(servers, ["ns-ok.half.test (127.0.0.1:53)"]);
}
