//! Benchmark of issue 11 point 6: how soon after a lagging secondary's zone transfer the
//! propagation checker sees the new value there.
//!
//! ```text
//! sudo CARGO_TARGET_DIR=target cargo run -p wildcert-dns --example lagging_secondary -- [ROUNDS]
//! ```
//! Starts the kit's BIND topology (the lagging secondary refreshes every 5 s, never NOTIFYed).
//! Each round adds a TXT value on the primary, then runs the checker against the lagging
//! secondary alone while a sampler asks that server for the zone's SOA every 5 ms: the moment
//! the serial changes is the transfer. Prints each round's delay (checker seeing the value minus
//! the transfer) and the median. Timing lives here, never in unit tests.

use std::time::Duration;

use hickory_proto::rr::{RData, RecordType};
use tokio::time::Instant;
use wildcert_dns::discovery::AuthServer;
use wildcert_dns::query;
use wildcert_dns::{CheckTarget, CheckerSettings, DnsName, PropagationChecker, TxtSet};
use wildcert_testkit::{BindOptions, BindTopology};

async fn serial(server: std::net::SocketAddr, zone: &DnsName) -> Option<u32> {
    let m = query::query(
        server,
        zone,
        RecordType::SOA,
        false,
        Duration::from_millis(500),
    )
    .await
    .ok()?;
    m.answers.iter().find_map(|r| match &r.data {
        RData::SOA(soa) => Some(soa.serial),
        _ => None,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), String> {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().map_err(|_| format!("`{a}` is not a number")))
        .transpose()?
        .unwrap_or(15)
        .max(1);
    let topo = BindTopology::start(BindOptions::default()).map_err(|e| e.to_string())?;
    let zone = DnsName::parse("example.test").map_err(|e| e.to_string())?;
    let lagging = topo.lagging_secondary_addr();
    let settings = CheckerSettings::default();
    println!(
        "checker: every {} ms for {} s, then every {} s; lagging secondary {lagging} (refresh 5 s)",
        settings.fast_interval.as_millis(),
        settings.fast_phase.as_secs(),
        settings.slow_interval.as_secs()
    );
    let mut delays = Vec::new();
    for round in 0..rounds {
        let before = serial(lagging, &zone)
            .await
            .ok_or("no SOA from the lagging secondary")?;
        let value = format!("round-{round}-{}", std::process::id());
        let fqdn = format!("_acme-challenge.r{round}.example.test");
        topo.add_records(
            "example.test",
            &[&format!("_acme-challenge.r{round} TXT {value}")],
        )
        .map_err(|e| e.to_string())?;
        let mut expected = TxtSet::new();
        expected.insert(DnsName::parse(&fqdn).map_err(|e| e.to_string())?, &value);
        let target = CheckTarget {
            zone: zone.clone(),
            servers: vec![AuthServer {
                name: None,
                addr: lagging,
            }],
            expected,
        };
        let sampler = {
            let zone = zone.clone();
            tokio::spawn(async move {
                // Bounded: 20 s at one query per 5 ms at most.
                let stop = Instant::now() + Duration::from_secs(20);
                while Instant::now() < stop {
                    let asked = Instant::now();
                    if serial(lagging, &zone).await.is_some_and(|s| s != before) {
                        return Some(asked);
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                None
            })
        };
        let checker = PropagationChecker::new(CheckerSettings {
            timeout: Duration::from_secs(20),
            ..CheckerSettings::default()
        });
        let start = Instant::now();
        let report = checker.wait(&[target]).await.map_err(|e| e.to_string())?;
        let transfer = sampler
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the serial never changed")?;
        let seen = start + report.servers[0].ready_after.ok_or("no ready time")?;
        let delay = seen.saturating_duration_since(transfer);
        println!(
            "round {round:>2}: transfer {:>5} ms after the update, seen {:>4} ms after the transfer",
            transfer.saturating_duration_since(start).as_millis(),
            delay.as_millis()
        );
        delays.push(delay);
    }
    delays.sort();
    let median = delays[delays.len() / 2];
    let max = delays.last().copied().unwrap_or_default();
    println!(
        "median {} ms, max {} ms over {} rounds",
        median.as_millis(),
        max.as_millis(),
        delays.len()
    );
    Ok(())
}
