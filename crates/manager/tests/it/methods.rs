//! The validation methods in the engine: a failed order leaves no authorization pending,
//! two accounts validate the same names at once with dns-account-01, and a
//! `challenge = "dns-persist-01"` certificate renews with no provider at all.

use std::time::Duration;

use wildcert_acme::AuthorizationStatus;
use wildcert_manager::renew::{Outcome, RenewOptions, RenewOutcome};
use wildcert_manager::session::Session;
use wildcert_manager::store::Store;
use wildcert_manager::{Loaded, RunConfig, account};
use wildcert_testkit::PebbleOptions;

use crate::lab::Lab;

/// The CA's CAA identity (its dns-persist-01 issuer domain name).
const ISSUER: &str = "ca.wildcert.test";

async fn renew(loaded: &Loaded) -> Vec<RenewOutcome> {
    let session = Session::open(loaded).expect("session");
    let opts = RenewOptions {
        parallel: 2,
        ..Default::default()
    };
    match tokio::time::timeout(Duration::from_secs(240), session.renew(&opts)).await {
        Ok(Ok(o)) => o.outcomes,
        Ok(Err(e)) => panic!("renew did not run: {e:?}"),
        Err(_) => panic!("renew did not end within 240 s"),
    }
}

fn cert(names: &[&str], extra: &str) -> String {
    let list: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    format!(
        "[[certificate]]\ndomains = [{}]\n{extra}\n",
        list.join(", ")
    )
}

fn upstream() -> PebbleOptions {
    PebbleOptions {
        caa_identities: vec![ISSUER.into()],
        ..PebbleOptions::upstream()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_order_leaves_no_authorization_pending() {
    // Debian's Pebble offers dns-01 only: asking for dns-account-01 fails after the order.
    let Some(lab) = Lab::start(&["example.test"], PebbleOptions::default()) else {
        return;
    };
    let config = cert(
        &["*.example.test", "example.test"],
        "provider = \"rfc2136\"\nchallenge = \"dns-account-01\"",
    );
    let loaded = lab.loaded(&config, None);
    let outcomes = renew(&loaded).await;
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    let o = &outcomes[0];
    assert_eq!(o.outcome, Outcome::Failed, "{o:?}");
    assert!(
        o.detail.contains("dns-account-01") && o.detail.contains("dns-01"),
        "the error names the method asked for and the ones offered: {}",
        o.detail
    );
    // The order was placed: every one of its authorizations is now deactivated.
    let cfg = RunConfig::from_settings(&loaded.settings).expect("cfg");
    let store = Store::open(&cfg.state_dir).expect("store");
    let meta = store
        .read_meta("example.test")
        .expect("meta")
        .expect("meta exists");
    let url = meta.pending_order.expect("the order is recorded");
    let client = cfg.acme_client().await.expect("client");
    let acct = account::load_or_create(&store, &client, &cfg.account)
        .await
        .expect("account");
    // Pebble 2.4 reports such an order as `deactivated` (not an RFC 8555 order status); it
    // reads as invalid.
    let order = acct.order(&url).await.expect("the order parses");
    let authzs = acct.authorizations(&order).await.expect("authzs");
    assert_eq!(authzs.len(), 2);
    for a in &authzs {
        assert_eq!(
            a.status(),
            AuthorizationStatus::Deactivated,
            "{} left {}",
            a.name(),
            a.status()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_accounts_validate_the_same_names_at_once_with_dns_account_01() {
    let Some(lab) = Lab::start(&["example.test"], upstream()) else {
        return;
    };
    let config = cert(
        &["*.example.test", "example.test"],
        "provider = \"rfc2136\"\nchallenge = \"dns-account-01\"",
    );
    let one = lab.loaded_in("one", &config, None);
    let two = lab.loaded_in("two", &config, None);
    let (a, b) = tokio::join!(renew(&one), renew(&two));
    for (who, outcomes) in [("one", &a), ("two", &b)] {
        assert_eq!(outcomes.len(), 1, "{who}: {outcomes:?}");
        assert_eq!(
            outcomes[0].outcome,
            Outcome::Issued,
            "{who}: {:?}",
            outcomes[0]
        );
    }
    // Two accounts, two labels; both cleaned up.
    let url = |l: &Loaded| {
        let v: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(
                std::fs::read_dir(l.state_dir().join("accounts"))
                    .expect("accounts")
                    .flatten()
                    .next()
                    .expect("ca dir")
                    .path()
                    .join("default/account.json"),
            )
            .expect("account.json"),
        )
        .expect("json");
        v["url"].as_str().expect("url").to_string()
    };
    let (u1, u2) = (url(&one), url(&two));
    assert_ne!(u1, u2);
    for u in [u1, u2] {
        let label = wildcert_acme::dns_account_label(&u);
        let name = format!("_{label}._acme-challenge.example.test");
        assert!(lab.primary_txt(&name).is_empty(), "{name} left behind");
    }
    assert!(lab.journal().is_empty(), "{:?}", lab.journal());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persist_certificate_renews_without_any_provider() {
    let Some(lab) = Lab::start(&["example.test"], upstream()) else {
        return;
    };
    let config = cert(&["*.example.test"], "challenge = \"dns-persist-01\"");
    let mut loaded = lab.loaded(&config, None);
    // No provider credentials at all.
    loaded.env.clear();
    let cfg = RunConfig::from_settings(&loaded.settings).expect("cfg");
    let store = Store::open(&cfg.state_dir).expect("store");
    let client = cfg.acme_client().await.expect("client");
    let acct = account::load_or_create(&store, &client, &cfg.account)
        .await
        .expect("account");
    let value = format!("{ISSUER}; accounturi={}; policy=wildcard", acct.url());
    lab.bind
        .add_records(
            "example.test",
            &[&format!(
                "_validation-persist.example.test. 60 IN TXT \"{value}\""
            )],
        )
        .expect("add");
    // Wait (bounded) until both secondaries serve it.
    let start = std::time::Instant::now();
    for s in lab.bind.secondary_addrs() {
        while !lab
            .bind
            .txt_values(s, "_validation-persist.example.test")
            .unwrap_or_default()
            .contains(&value)
        {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{s} never served it"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let outcomes = renew(&loaded).await;
    assert_eq!(outcomes[0].outcome, Outcome::Issued, "{outcomes:?}");
    let meta = store
        .read_meta("example.test")
        .expect("meta")
        .expect("meta");
    assert_eq!(meta.challenge.as_deref(), Some("dns-persist-01"));
    assert_eq!(meta.provider, "none");
    assert!(lab.journal().is_empty(), "nothing was journaled");
}
