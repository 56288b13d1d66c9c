//! Orders end to end: wildcard + apex, badNonce storm, invalid challenge, alternate chains.

use wildcert_acme::{CertificateChain, Error, NewOrderOptions, OrderStatus, ProblemType};
use wildcert_testkit::PebbleOptions;

use crate::common::{authorize, deadline, env, issue, issue_with, new_account};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_and_apex_end_to_end() {
    let Some(env) = env(PebbleOptions::default()).await else {
        return;
    };
    let account = new_account(&env.client).await;
    let (order, key, chain) =
        issue(&env, &account, &["*.wild.example.com", "wild.example.com"]).await;
    assert_eq!(order.status(), OrderStatus::Valid);
    let mut names = chain.leaf_dns_names().expect("SANs");
    names.sort();
    assert_eq!(names, vec!["*.wild.example.com", "wild.example.com"]);
    assert!(
        chain.leaf_matches_key(&key).expect("parses"),
        "leaf certifies our key"
    );
    assert!(chain.certificates_der().len() >= 2, "leaf plus issuer");
    assert_eq!(
        chain.fullchain_pem(),
        format!("{}{}", chain.leaf_pem(), chain.issuers_pem())
    );
    // The chain leads to Pebble's root.
    let root = CertificateChain::from_pem("root", env.pebble.root_pem(0).await.expect("root"))
        .expect("root parses");
    assert_eq!(chain.top_issuer_cn(), root.issuer_cns().first().cloned());
    // A pending order can be resumed by URL.
    let resumed = account.order(&order.url).await.expect("refetch");
    assert_eq!(resumed.state.certificate, order.state.certificate);
    eprintln!("HTTP requests sent: {}", env.client.requests_sent());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_nonce_storm_still_issues_concurrently() {
    let Some(env) = env(PebbleOptions {
        nonce_reject_percent: 50,
        ..Default::default()
    })
    .await
    else {
        return;
    };
    let account = new_account(&env.client).await;
    let env = std::sync::Arc::new(env);
    let mut tasks = Vec::new();
    for i in 0..3 {
        let (env, account) = (env.clone(), account.clone());
        tasks.push(tokio::spawn(async move {
            let name = format!("n{i}.storm.example.com");
            issue(&env, &account, &[name.as_str()]).await.2
        }));
    }
    for t in tasks {
        let chain = t.await.expect("task");
        assert_eq!(chain.leaf_dns_names().expect("SANs").len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_challenge_names_the_identifier() {
    let Some(env) = env(PebbleOptions::default()).await else {
        return;
    };
    let account = new_account(&env.client).await;
    let names = vec!["*.fail.example.com".to_owned()];
    let order = account
        .new_order(&names, &NewOrderOptions::default())
        .await
        .expect("order");
    let authzs = account.authorizations(&order).await.expect("authzs");
    let a = &authzs[0];
    assert!(a.wildcard());
    // No TXT record published.
    account
        .respond(a.require_dns01().expect("dns-01"))
        .await
        .expect("responded");
    let err = account
        .wait_authorization(&a.url, deadline())
        .await
        .expect_err("must fail");
    match &err {
        Error::AuthorizationFailed {
            identifier,
            problem,
            ..
        } => {
            assert_eq!(identifier, "*.fail.example.com");
            assert!(problem.is_some(), "the challenge error is carried");
        }
        other => panic!("unexpected error: {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("*.fail.example.com") && !msg.contains('\n'),
        "{msg}"
    );
    let order = account.order(&order.url).await.expect("order");
    assert_eq!(order.status(), OrderStatus::Invalid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alternate_chain_by_preferred_issuer() {
    let Some(env) = env(PebbleOptions {
        alternate_roots: 1,
        ..Default::default()
    })
    .await
    else {
        return;
    };
    let account = new_account(&env.client).await;
    let order = authorize(&env, &account, &["alt.example.com"]).await;
    let key = wildcert_acme::CertKey::generate(wildcert_acme::CertKeyType::Ec384).expect("key");
    let order = account.finalize(&order, &key).await.expect("finalize");
    let order = account
        .wait_order_valid(&order.url, deadline())
        .await
        .expect("valid");
    let chains = account.certificate_chains(&order).await.expect("chains");
    assert_eq!(chains.len(), 2, "default chain plus one alternate");
    let tops: Vec<_> = chains.iter().map(|c| c.top_issuer_cn()).collect();
    assert_ne!(tops[0], tops[1], "the chains lead to different roots");
    // Prefer the second root by its subject CN, as a user would name it.
    let root1 = CertificateChain::from_pem("r1", env.pebble.root_pem(1).await.expect("root 1"))
        .expect("parses");
    let root1_cn = root1.issuer_cns().first().cloned().expect("root CN");
    let idx = tops
        .iter()
        .position(|t| t.as_deref() == Some(root1_cn.as_str()))
        .expect("root 1 offered");
    let picked = account
        .download_certificate(&order, Some(&root1_cn))
        .await
        .expect("download");
    assert_eq!(picked.url, chains[idx].url);
    assert_eq!(picked.top_issuer_cn().as_deref(), Some(root1_cn.as_str()));
    // Unknown preference falls back to the default chain.
    let default = account
        .download_certificate(&order, Some("No Such Root"))
        .await
        .expect("download");
    assert_eq!(default.url, chains[0].url);
    assert!(default.leaf_matches_key(&key).expect("parses"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_and_ari_absent_on_pebble_are_clear_errors() {
    let Some(env) = env(PebbleOptions::default()).await else {
        return;
    };
    let account = new_account(&env.client).await;
    let err = account
        .new_order(
            &["p.example.com".to_owned()],
            &NewOrderOptions {
                profile: Some("shortlived".into()),
                ..Default::default()
            },
        )
        .await
        .expect_err("no profiles");
    assert!(matches!(err, Error::Unsupported(_)), "{err}");
    assert!(err.to_string().contains("shortlived"));
    let (_, _, chain) = issue(&env, &account, &["ari.example.com"]).await;
    let id = wildcert_acme::CertId::from_pem(&chain.pem).expect("cert id");
    assert!(id.as_str().contains('.'));
    let err = env
        .client
        .renewal_info(&id)
        .await
        .expect_err("no ARI on Pebble 2.4");
    assert!(matches!(err, Error::Unsupported(_)), "{err}");
    let _ = ProblemType::BadNonce;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ed25519_certificate_key() {
    let Some(env) = env(PebbleOptions::default()).await else {
        return;
    };
    let account = new_account(&env.client).await;
    let (_, key, chain) = issue_with(
        &env,
        &account,
        &["ed.example.com"],
        wildcert_acme::CertKeyType::Ed25519,
    )
    .await;
    assert!(chain.leaf_matches_key(&key).expect("parses"));
}
