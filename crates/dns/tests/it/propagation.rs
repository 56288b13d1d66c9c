//! The propagation checker against a hidden primary, a prompt and a lagging secondary.

use std::time::Duration;

use wildcert_dns::{
    CheckTarget, CheckerSettings, PropagationChecker, PropagationError, ServerState, TxtSet,
};

use crate::{addrs, discovery, name, topology};

fn expected(values: &[&str]) -> TxtSet {
    let mut set = TxtSet::new();
    for v in values {
        set.insert(name("_acme-challenge.example.test"), *v);
    }
    set
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_for_the_lagging_secondary() {
    let Some(topo) = topology(&["example.test"]) else {
        return;
    };
    let servers = discovery(&topo)
        .nameservers(&name("example.test"))
        .await
        .expect("ns");
    assert_eq!(servers.len(), 2);
    // Two values at one name (wildcard + apex) plus a foreign value that must not matter.
    topo.add_records(
        "example.test",
        &[
            "_acme-challenge TXT tokenA",
            "_acme-challenge TXT tokenB",
            "_acme-challenge TXT foreign",
        ],
    )
    .expect("publish on the primary");
    let checker = PropagationChecker::new(CheckerSettings {
        timeout: Duration::from_secs(30),
        ..CheckerSettings::default()
    });
    let target = CheckTarget {
        zone: name("example.test"),
        servers,
        expected: expected(&["tokenA", "tokenB"]),
    };
    let report = checker.wait(&[target]).await.expect("propagated");
    // Right after the checker returns, the lagging secondary really serves both values.
    let lagging = topo
        .txt_values(
            topo.lagging_secondary_addr(),
            "_acme-challenge.example.test",
        )
        .expect("dig");
    assert!(
        lagging.contains(&"tokenA".to_string()) && lagging.contains(&"tokenB".to_string()),
        "{lagging:?}"
    );
    assert!(report.servers.iter().all(|s| s.state == ServerState::Ready));
    assert!(report.queries >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_out_naming_the_dead_server() {
    let Some(mut topo) = topology(&["example.test"]) else {
        return;
    };
    let servers = discovery(&topo)
        .nameservers(&name("example.test"))
        .await
        .expect("ns");
    topo.add_records("example.test", &["_acme-challenge TXT tokenA"])
        .expect("publish");
    let dead = topo.lagging_secondary_addr();
    topo.stop_secondary(dead).expect("stop lagging secondary");
    let checker = PropagationChecker::new(CheckerSettings {
        timeout: Duration::from_secs(3),
        query_timeout: Duration::from_millis(500),
        ..CheckerSettings::default()
    });
    let target = CheckTarget {
        zone: name("example.test"),
        servers: servers.clone(),
        expected: expected(&["tokenA"]),
    };
    let started = std::time::Instant::now();
    let err = checker.wait(&[target]).await.expect_err("must time out");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "bounded: {:?}",
        started.elapsed()
    );
    let PropagationError::Timeout { pending, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(pending.len(), 1, "only the dead server is pending: {err}");
    assert_eq!(pending[0].server.addr, dead);
    let text = err.to_string();
    assert!(
        text.contains("ns2.example.test") && text.contains(&dead.to_string()),
        "{text} {:?}",
        addrs(&[dead])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdict_lists_missing_values_per_server() {
    let Some(topo) = topology(&["example.test"]) else {
        return;
    };
    let servers = discovery(&topo)
        .nameservers(&name("example.test"))
        .await
        .expect("ns");
    topo.add_records("example.test", &["_acme-challenge TXT present"])
        .expect("publish");
    let checker = PropagationChecker::new(CheckerSettings {
        timeout: Duration::from_secs(1),
        ..CheckerSettings::default()
    });
    let target = CheckTarget {
        zone: name("example.test"),
        servers,
        expected: expected(&["never-published"]),
    };
    let err = checker.wait(&[target]).await.expect_err("must time out");
    let text = err.to_string();
    assert!(
        text.contains("ns1.example.test") && text.contains("ns2.example.test"),
        "{text}"
    );
    assert!(
        text.contains("lacks _acme-challenge.example.test \"never-published\""),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_is_not_authoritative_for_unknown_zone() {
    let Some(topo) = topology(&["example.test"]) else {
        return;
    };
    // Asking a server about a zone it does not serve: REFUSED, reported as such.
    let state = wildcert_dns::propagation::check_server(
        topo.prompt_secondary_addr(),
        &{
            let mut s = TxtSet::new();
            s.insert(name("_acme-challenge.other.invalid"), "x");
            s
        },
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(
        state,
        ServerState::Rcode {
            rcode: "REFUSED".into()
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recursive_resolver_never_counts_and_progress_is_reported() {
    use std::sync::Arc;
    use std::sync::Mutex;
    use wildcert_dns::{AuthServer, PropagationProgress, ServerVerdict};

    #[derive(Default)]
    struct Seen {
        ready: Mutex<Vec<String>>,
        waiting: Mutex<usize>,
    }
    impl PropagationProgress for Seen {
        fn server_ready(&self, v: &ServerVerdict) {
            self.ready
                .lock()
                .expect("lock")
                .push(v.server.addr.to_string());
        }
        fn waiting(&self, _: Duration, pending: &[ServerVerdict]) {
            assert!(!pending.is_empty());
            *self.waiting.lock().expect("lock") += 1;
        }
    }

    let Some(topo) = topology(&["example.test"]) else {
        return;
    };
    let resolver = topo.start_resolver().expect("resolver");
    topo.add_records("example.test", &["_acme-challenge TXT tokenA"])
        .expect("publish");
    let seen = Arc::new(Seen::default());
    let checker = PropagationChecker::new(CheckerSettings {
        timeout: Duration::from_millis(2500),
        report_every: Duration::from_millis(500),
        ..CheckerSettings::default()
    })
    .with_progress(seen.clone());
    // A recursive resolver (no AA bit) listed as authoritative, next to the prompt secondary.
    let target = CheckTarget {
        zone: name("example.test"),
        servers: vec![
            AuthServer {
                name: None,
                addr: resolver.addr(),
            },
            AuthServer {
                name: None,
                addr: topo.prompt_secondary_addr(),
            },
        ],
        expected: expected(&["tokenA"]),
    };
    let err = checker
        .wait(&[target])
        .await
        .expect_err("resolver is not authoritative");
    let PropagationError::Timeout { pending, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(pending.len(), 1);
    // BIND's resolver refuses RD=0 questions it has not cached; a caching resolver would
    // answer without the AA bit. Either way it never counts as ready.
    assert_eq!(pending[0].server.addr, resolver.addr());
    assert!(
        matches!(
            &pending[0].state,
            ServerState::NotAuthoritative | ServerState::Rcode { .. }
        ),
        "{err}"
    );
    assert_eq!(
        *seen.ready.lock().expect("lock"),
        [topo.prompt_secondary_addr().to_string()]
    );
    assert!(*seen.waiting.lock().expect("lock") >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_answers_fall_back_to_tcp() {
    let Some(topo) = topology(&["example.test"]) else {
        return;
    };
    // ~40 values of 60 characters: well over the 1232-byte EDNS size we advertise over UDP.
    let values: Vec<String> = (0..40)
        .map(|i| format!("{i:02}-{}", "v".repeat(57)))
        .collect();
    let lines: Vec<String> = values
        .iter()
        .map(|v| format!("_acme-challenge TXT {v}"))
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    topo.add_records("example.test", &refs).expect("publish");
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    let state = wildcert_dns::propagation::check_server(
        topo.primary_addr(),
        &expected(&refs),
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(state, ServerState::Ready);
}
