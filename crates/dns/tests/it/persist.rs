//! dns-persist-01 records on a real BIND topology: every authoritative server asked directly,
//! the lagging secondary reported on its own until it catches up.

use std::time::{Duration, Instant};

use wildcert_dns::persist::{
    self, PersistMatch, PersistRecord, PersistRequirement, PersistServerState,
};

use crate::{discovery, name, topology};

const ISSUER: &str = "ca.wildcert.test";
const ACCT: &str = "https://127.0.0.1:14000/my-account/1";

fn req(wildcard: bool) -> PersistRequirement {
    PersistRequirement {
        issuer_domain_names: vec![ISSUER.into()],
        account_uri: ACCT.into(),
        wildcard,
        now: 1_800_000_000,
    }
}

/// The zone-file line's rdata, as `add_records` takes it (`NAME TYPE DATA` after the owner).
fn rdata(line: &str) -> String {
    line.split_once(" IN ")
        .map(|(_, r)| r.to_owned())
        .expect("zone-file line has IN")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_server_is_asked_and_the_lagging_one_is_named() {
    let Some(topo) = topology(&["example.test"]) else {
        return;
    };
    let disc = discovery(&topo);
    let base = name("bastion.example.test");
    let timeout = Duration::from_secs(2);

    // Nothing published: every server answers, none matches.
    let report = persist::check_name(&disc, &base, &req(false), timeout)
        .await
        .expect("check");
    assert_eq!(
        report.name.as_str(),
        "_validation-persist.bastion.example.test"
    );
    assert_eq!(report.servers.len(), 2, "{report:?}");
    assert!(!report.all_match());
    assert_eq!(report.failing().len(), 2);
    for s in &report.servers {
        assert!(
            matches!(&s.state, PersistServerState::Answered(v) if v.values.is_empty()),
            "{s}"
        );
        assert!(s.to_string().contains("no TXT record"), "{s}");
    }

    // Publish the record (plus a foreign value and another CA's record) on the primary.
    let record = PersistRecord::new(ISSUER, ACCT, true, Some(1_900_000_000)).expect("record");
    let line = record.zone_file_line(&base, 60);
    assert!(
        line.starts_with("_validation-persist.bastion.example.test. 60 IN TXT \""),
        "{line}"
    );
    topo.add_records(
        "example.test",
        &[
            &format!("_validation-persist.bastion {}", rdata(&line)),
            "_validation-persist.bastion TXT \"v=spf1 -all\"",
            "_validation-persist.bastion TXT \"other-ca.example; accounturi=https://x/1\"",
        ],
    )
    .expect("publish");

    // The prompt secondary has it at once; the lagging one only after its refresh (5 s).
    let started = Instant::now();
    let mut saw_split = false;
    let report = loop {
        let report = persist::check_name(&disc, &base, &req(true), timeout)
            .await
            .expect("check");
        if report.all_match() {
            break report;
        }
        if report.servers.iter().filter(|s| s.matches()).count() == 1 {
            saw_split = true;
            let lagging = topo.lagging_secondary_addr();
            let failing = report.failing();
            assert_eq!(failing.len(), 1, "{report:?}");
            assert_eq!(failing[0].server.addr, lagging, "{report:?}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not every server serves it: {report:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    // Almost always seen (the lagging secondary refreshes every 5 s); not asserted, so a
    // refresh landing right after the update cannot fail the test.
    if !saw_split {
        eprintln!("note: the lagging secondary caught up before the first check");
    }
    assert_eq!(report.earliest_persist_until(), Some(1_900_000_000));
    for s in &report.servers {
        let PersistServerState::Answered(v) = &s.state else {
            panic!("{s}");
        };
        assert_eq!(v.values.len(), 3, "{v:?}");
        assert_eq!(
            v.matching().map(|(val, _)| val.to_owned()),
            Some(record.value())
        );
    }

    // The same record judged for another account, or after persistUntil: no match anywhere.
    let other = PersistRequirement {
        account_uri: "https://127.0.0.1:14000/my-account/2".into(),
        ..req(true)
    };
    let report = persist::check_name(&disc, &base, &other, timeout)
        .await
        .expect("check");
    assert!(!report.all_match());
    for s in &report.servers {
        let PersistServerState::Answered(v) = &s.state else {
            panic!("{s}");
        };
        assert!(
            v.values
                .iter()
                .any(|(_, m)| matches!(m, PersistMatch::OtherAccount { .. })),
            "{v:?}"
        );
    }
    let late = PersistRequirement {
        now: 1_900_000_001,
        ..req(true)
    };
    let report = persist::check_name(&disc, &base, &late, timeout)
        .await
        .expect("check");
    assert!(!report.all_match());
    assert!(
        report.servers[0].to_string().contains("expired"),
        "{}",
        report.servers[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cname_delegated_record_is_checked_where_it_lives() {
    let Some(topo) = topology(&["example.test", "delegated.test"]) else {
        return;
    };
    let record = PersistRecord::new(ISSUER, ACCT, false, None).expect("record");
    topo.add_records(
        "example.test",
        &["_validation-persist.web CNAME persist-web.delegated.test."],
    )
    .expect("cname");
    topo.add_records(
        "delegated.test",
        &[&format!("persist-web TXT \"{}\"", record.value())],
    )
    .expect("txt");
    let disc = discovery(&topo);
    let started = Instant::now();
    loop {
        let report = persist::check_name(
            &disc,
            &name("web.example.test"),
            &req(false),
            Duration::from_secs(2),
        )
        .await
        .expect("check");
        assert_eq!(report.name.as_str(), "persist-web.delegated.test");
        if report.all_match() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{report:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
