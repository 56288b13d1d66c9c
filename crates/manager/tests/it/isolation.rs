//! Each certificate on its own: one bad certificate never fails the good ones, nothing is
//! ordered for a certificate that cannot be solved, one request path for `issue` and `renew`,
//! and a CA that stops answering ends the run quickly with every record removed.

use std::time::{Duration, Instant};

use wildcert_manager::renew::{Outcome, RenewOptions, RenewOutcome};
use wildcert_manager::session::Session;
use wildcert_manager::{ExitCode, Loaded};
use wildcert_testkit::{FaultProxy, PebbleOptions, ProxyMode};

use crate::lab::{Lab, certificates};

async fn renew(loaded: &Loaded, parallel: usize) -> Vec<RenewOutcome> {
    let session = Session::open(loaded).expect("session");
    let opts = RenewOptions {
        parallel,
        ..Default::default()
    };
    match tokio::time::timeout(Duration::from_secs(240), session.renew(&opts)).await {
        Ok(Ok(o)) => o.outcomes,
        Ok(Err(e)) => panic!("renew did not run: {e:?}"),
        Err(_) => panic!("renew did not end within 240 s"),
    }
}

fn outcome<'a>(outcomes: &'a [RenewOutcome], name: &str) -> &'a RenewOutcome {
    outcomes
        .iter()
        .find(|o| o.name == name)
        .unwrap_or_else(|| panic!("no outcome for {name}: {outcomes:?}"))
}

/// 236 + 4 bytes: a valid name whose `_acme-challenge.` record name is longer than 253 bytes.
fn long_name() -> String {
    format!(
        "{}.{}.{}.{}.example.test",
        "a".repeat(60),
        "b".repeat(60),
        "c".repeat(60),
        "d".repeat(44)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_certificate_among_good_ones_fails_alone_and_is_never_ordered() {
    let Some(lab) = Lab::start(&["example.test"], PebbleOptions::default()) else {
        return;
    };
    let long = long_name();
    let config = certificates(&[
        &["*.a.example.test", "a.example.test"],
        &["b.example.test"],
        &["www.nosuch.test"],
        &[long.as_str()],
    ]);
    let loaded = lab.loaded(&config, None);
    let outcomes = renew(&loaded, 4).await;
    assert_eq!(outcomes.len(), 4, "{outcomes:?}");
    for good in ["a.example.test", "b.example.test"] {
        let o = outcome(&outcomes, good);
        assert_eq!(o.outcome, Outcome::Issued, "{good}: {o:?}");
        assert!(
            lab.state_dir()
                .join("store/certs")
                .join(good)
                .join("live/fullchain.pem")
                .exists()
        );
    }
    let bad = outcome(&outcomes, "www.nosuch.test");
    assert_eq!(bad.outcome, Outcome::Failed, "{bad:?}");
    assert!(bad.detail.contains("nosuch.test"), "{}", bad.detail);
    assert_eq!(bad.code, ExitCode::Dns, "{bad:?}");
    let too_long = outcome(&outcomes, &long);
    assert_eq!(too_long.outcome, Outcome::Failed, "{too_long:?}");
    assert_eq!(too_long.code, ExitCode::Settings, "{too_long:?}");
    // Nothing was ordered for them: no order to "resume" on the next run.
    for name in ["www.nosuch.test", long.as_str()] {
        let meta = lab
            .state_dir()
            .join("store/certs")
            .join(name)
            .join("meta.json");
        assert!(
            !meta.exists(),
            "{} exists: an order was placed",
            meta.display()
        );
    }
    // Every value removed again.
    for name in [
        "_acme-challenge.a.example.test",
        "_acme-challenge.b.example.test",
    ] {
        assert!(lab.primary_txt(name).is_empty(), "{name} left behind");
    }
    assert!(lab.journal().is_empty(), "journal: {:?}", lab.journal());
}

/// The issuer CN of the last certificate of a PEM chain.
fn top_issuer(chain_pem: &str) -> String {
    let mut last = None;
    for pem in x509_parser::pem::Pem::iter_from_buffer(chain_pem.as_bytes()).flatten() {
        last = Some(pem);
    }
    let pem = last.expect("a certificate in the chain");
    let cert = pem.parse_x509().expect("certificate");
    cert.issuer()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn subject_cn(pem: &str) -> String {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).expect("pem");
    let cert = p.parse_x509().expect("certificate");
    cert.subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acme_preferred_chain_applies_to_renew_as_to_issue() {
    let Some(lab) = Lab::start(
        &["example.test"],
        PebbleOptions {
            alternate_roots: 1,
            ..Default::default()
        },
    ) else {
        return;
    };
    let alternate = subject_cn(&lab.pebble.root_pem(1).await.expect("alternate root"));
    let default_root = subject_cn(&lab.pebble.root_pem(0).await.expect("default root"));
    assert_ne!(alternate, default_root);
    let config = format!(
        "[acme]\npreferred_chain = \"{alternate}\"\n\n{}",
        certificates(&[&["chain.example.test"]])
    );
    let loaded = lab.loaded(&config, None);
    let outcomes = renew(&loaded, 1).await;
    let o = outcome(&outcomes, "chain.example.test");
    assert_eq!(o.outcome, Outcome::Issued, "{o:?}");
    let chain = std::fs::read_to_string(
        lab.state_dir()
            .join("store/certs/chain.example.test/live/chain.pem"),
    )
    .expect("chain.pem");
    assert_eq!(
        top_issuer(&chain),
        alternate,
        "the [acme] preferred_chain was ignored"
    );

    // The certificate's own setting wins over [acme].
    let config = format!(
        "[acme]\npreferred_chain = \"{alternate}\"\n\n[[certificate]]\ndomains = [\"own.example.test\"]\nprovider = \"rfc2136\"\npreferred_chain = \"{default_root}\"\n"
    );
    let loaded = lab.loaded(&config, None);
    let outcomes = renew(&loaded, 1).await;
    assert_eq!(
        outcome(&outcomes, "own.example.test").outcome,
        Outcome::Issued
    );
    let chain = std::fs::read_to_string(
        lab.state_dir()
            .join("store/certs/own.example.test/live/chain.pem"),
    )
    .expect("chain.pem");
    assert_eq!(top_issuer(&chain), default_root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_that_stops_answering_mid_run_ends_the_run_quickly_and_cleanly() {
    let Some(lab) = Lab::start(&["example.test"], PebbleOptions::default()) else {
        return;
    };
    let proxy = FaultProxy::start(lab.pebble.listen_addr()).expect("proxy");
    let names: Vec<String> = (1..=12).map(|i| format!("c{i}.example.test")).collect();
    let certs: Vec<Vec<&str>> = names.iter().map(|n| vec![n.as_str()]).collect();
    let certs: Vec<&[&str]> = certs.iter().map(Vec::as_slice).collect();
    let config = format!(
        "[acme]\nrequest_timeout = \"1s\"\n\n{}",
        certificates(&certs)
    );
    let loaded = lab.loaded(
        &config,
        Some(proxy.rewrite_url(&lab.pebble.directory_url())),
    );
    let started = Instant::now();
    let stall = async {
        // Mid-run: the account and the first orders are done, DNS is propagating.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        proxy.set_mode(ProxyMode::Stall);
    };
    let (outcomes, ()) = tokio::join!(renew(&loaded, 4), stall);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(60), "took {took:?}");
    assert_eq!(outcomes.len(), names.len(), "{outcomes:?}");
    let failed: Vec<&RenewOutcome> = outcomes
        .iter()
        .filter(|o| o.outcome != Outcome::Issued)
        .collect();
    assert!(!failed.is_empty(), "the stall came too late: {outcomes:?}");
    for o in &failed {
        assert_eq!(o.outcome, Outcome::Failed, "{o:?}");
        assert!(
            o.detail.contains("not answering"),
            "{}: {}",
            o.name,
            o.detail
        );
        assert_eq!(o.code, ExitCode::Ca, "{o:?}");
    }
    proxy.set_mode(ProxyMode::Pass);
    for n in &names {
        let rec = format!("_acme-challenge.{n}");
        assert!(lab.primary_txt(&rec).is_empty(), "{rec} left behind");
    }
    assert!(lab.journal().is_empty(), "journal: {:?}", lab.journal());
}
