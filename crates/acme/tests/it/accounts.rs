//! Accounts: EAB, find by key, update, deactivate, key rollover.

use wildcert_acme::{
    AccountKey, AccountKeyType, AccountStatus, Eab, MacAlgorithm, NewAccount, ProblemType,
};
use wildcert_testkit::PebbleOptions;

use crate::common::{env, issue, new_account};

const EAB_KID: &str = "kid-1";
const EAB_KEY: &str = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_account_binding_required() {
    let Some(env) = env(PebbleOptions {
        eab_required: true,
        eab_keys: vec![(EAB_KID.into(), EAB_KEY.into())],
        ..Default::default()
    })
    .await
    else {
        return;
    };
    assert!(env.client.directory().meta.external_account_required);
    // An RSA account key: RS256 JWS, with an HS256 binding.
    let key = AccountKey::generate(AccountKeyType::Rsa2048).expect("key");
    let mut req = NewAccount {
        contact: vec!["admin@example.com".into()],
        terms_of_service_agreed: true,
        ..Default::default()
    };
    let err = env
        .client
        .new_account(key.clone(), &req)
        .await
        .expect_err("EAB required");
    assert!(
        err.is_problem(&ProblemType::ExternalAccountRequired),
        "{err}"
    );

    // A wrong MAC key and an unknown key id are refused as a rejected binding, with a hint
    // about the EAB credentials (not the generic "check --server").
    req.eab = Some(Eab::new(EAB_KID, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").expect("eab"));
    let err = env
        .client
        .new_account(key.clone(), &req)
        .await
        .expect_err("wrong HMAC key");
    assert!(
        matches!(&err, wildcert_acme::Error::EabRejected { key_id, .. } if key_id == EAB_KID),
        "{err:?}"
    );
    assert!(err.hint().is_some_and(|h| h.contains("HMAC")), "{err}");
    assert!(!err.to_string().contains("AAAAAAAA"), "{err}");
    req.eab = Some(Eab::new("no-such-kid", EAB_KEY).expect("eab"));
    let err = env
        .client
        .new_account(key.clone(), &req)
        .await
        .expect_err("unknown key id");
    assert!(
        matches!(&err, wildcert_acme::Error::EabRejected { key_id, .. } if key_id == "no-such-kid"),
        "{err:?}"
    );
    assert!(!err.to_string().contains(EAB_KEY), "{err}");

    req.eab = Some(Eab::new(EAB_KID, EAB_KEY).expect("eab"));
    assert_eq!(
        req.eab.as_ref().map(Eab::algorithm),
        Some(MacAlgorithm::Hs256)
    );
    let account = env
        .client
        .new_account(key, &req)
        .await
        .expect("bound account");
    let (_, _, chain) = issue(&env, &account, &["eab.example.com"]).await;
    assert_eq!(
        chain.leaf_dns_names().expect("SANs"),
        vec!["eab.example.com"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_update_and_deactivate() {
    let Some(env) = env(PebbleOptions::default()).await else {
        return;
    };
    let account = new_account(&env.client).await;
    let found = env
        .client
        .find_account(account.key())
        .await
        .expect("found by key");
    assert_eq!(found.url(), account.url());

    let stranger = AccountKey::generate(AccountKeyType::EcdsaP384).expect("key");
    let err = env
        .client
        .find_account(stranger)
        .await
        .expect_err("no account");
    assert!(err.is_problem(&ProblemType::AccountDoesNotExist), "{err}");

    let state = account
        .update_contacts(&["ops@example.com".into()])
        .await
        .expect("updated");
    assert_eq!(state.contact, vec!["mailto:ops@example.com"]);
    assert_eq!(account.state().await.expect("state").contact, state.contact);

    let state = account.deactivate().await.expect("deactivated");
    assert_eq!(state.status, AccountStatus::Deactivated);
    let err = account
        .state()
        .await
        .expect_err("deactivated account is refused");
    assert!(err.is_problem(&ProblemType::Unauthorized), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rollover() {
    let Some(env) = env(PebbleOptions::default()).await else {
        return;
    };
    let account = new_account(&env.client).await;
    let clone = account.clone();
    let old_key = account.key();
    // P-384 to also exercise ES384 (Pebble 2.4 refuses Ed25519 keys).
    let new_key = AccountKey::generate(AccountKeyType::EcdsaP384).expect("key");
    account
        .rollover(new_key.clone())
        .await
        .expect("rolled over");
    assert_eq!(
        clone.key().thumbprint(),
        new_key.thumbprint(),
        "clones see the new key"
    );

    let err = env
        .client
        .find_account(old_key)
        .await
        .expect_err("old key unbound");
    assert!(err.is_problem(&ProblemType::AccountDoesNotExist), "{err}");
    let found = env
        .client
        .find_account(new_key)
        .await
        .expect("new key bound");
    assert_eq!(found.url(), account.url());
    // The account keeps working with the new key (key authorizations use its thumbprint).
    let (_, _, chain) = issue(&env, &clone, &["rolled.example.com"]).await;
    assert_eq!(
        chain.leaf_dns_names().expect("SANs"),
        vec!["rolled.example.com"]
    );
}
