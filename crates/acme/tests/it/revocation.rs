//! Revocation by account key and by certificate key, with reasons.

use wildcert_acme::{CertKeyType, ProblemType, RevocationReason, RevokeWith};
use wildcert_testkit::PebbleOptions;

use crate::common::{env, issue, issue_with, new_account};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_by_account_key() {
    let Some(env) = env(PebbleOptions::default()).await else {
        return;
    };
    let account = new_account(&env.client).await;
    let (_, _, chain) = issue(&env, &account, &["revoke-a.example.com"]).await;
    account
        .revoke(
            &chain.pem,
            Some(RevocationReason::Superseded),
            RevokeWith::AccountKey,
        )
        .await
        .expect("revoked");
    let err = account
        .revoke(&chain.pem, None, RevokeWith::AccountKey)
        .await
        .expect_err("already revoked");
    assert!(err.is_problem(&ProblemType::AlreadyRevoked), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_by_certificate_key() {
    let Some(env) = env(PebbleOptions::default()).await else {
        return;
    };
    let account = new_account(&env.client).await;
    // An RSA certificate key: ring signs the revocation with RS256.
    let (_, key, chain) = issue_with(
        &env,
        &account,
        &["revoke-c.example.com"],
        CertKeyType::Rsa2048,
    )
    .await;
    assert!(chain.leaf_matches_key(&key).expect("parses"));
    // No account involved: the certificate key signs (jwk).
    env.client
        .revoke_with_cert_key(&chain.pem, Some(RevocationReason::KeyCompromise), &key)
        .await
        .expect("revoked");
    let err = account
        .revoke(
            &chain.pem,
            Some(RevocationReason::KeyCompromise),
            RevokeWith::CertKey(&key),
        )
        .await
        .expect_err("already revoked");
    assert!(err.is_problem(&ProblemType::AlreadyRevoked), "{err}");
}
