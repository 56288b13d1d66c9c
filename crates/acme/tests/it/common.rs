//! Shared setup: Pebble + challtestsrv + a client, and a whole issuance.

use std::time::Duration;

use wildcert_acme::{
    Account, AccountKey, AccountKeyType, AcmeClient, CertKey, CertKeyType, CertificateChain,
    ClientConfig, Instant, NewAccount, NewOrderOptions, Order,
};
use wildcert_testkit::{ChallTestSrv, Pebble, PebbleOptions, require_pebble};

/// A running Pebble, its DNS server and a client trusting it.
pub struct Env {
    pub pebble: Pebble,
    pub dns: ChallTestSrv,
    pub client: AcmeClient,
}

/// Start everything, or `None` when Pebble is not installed (skip; CI panics instead).
pub async fn env(opts: PebbleOptions) -> Option<Env> {
    if !require_pebble() {
        return None;
    }
    let dns = ChallTestSrv::start().expect("challtestsrv starts");
    let pebble = Pebble::start(PebbleOptions {
        dns_server: Some(dns.dns_addr()),
        ..opts
    })
    .expect("pebble starts");
    let client = client_for(&pebble).await;
    Some(Env {
        pebble,
        dns,
        client,
    })
}

/// A fresh client for this Pebble.
pub async fn client_for(pebble: &Pebble) -> AcmeClient {
    AcmeClient::new(ClientConfig {
        directory_url: pebble.directory_url(),
        extra_roots_pem: Some(pebble.ca_cert_pem().as_bytes().to_vec()),
        only_extra_roots: true,
        user_agent_suffix: Some("it".into()),
        ..Default::default()
    })
    .await
    .expect("client builds and fetches the directory")
}

/// A new account with a fresh P-256 key.
pub async fn new_account(client: &AcmeClient) -> Account {
    new_account_with(client, AccountKeyType::EcdsaP256).await
}

/// A new account with a fresh key of the given type.
pub async fn new_account_with(client: &AcmeClient, kind: AccountKeyType) -> Account {
    let key = AccountKey::generate(kind).expect("key");
    client
        .new_account(
            key,
            &NewAccount {
                contact: vec!["admin@example.com".into()],
                terms_of_service_agreed: true,
                ..Default::default()
            },
        )
        .await
        .expect("account created")
}

pub fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

/// Order `names`, publish every dns-01 value, respond, and wait until the order is ready.
pub async fn authorize(env: &Env, account: &Account, names: &[&str]) -> Order {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let order = account
        .new_order(&names, &NewOrderOptions::default())
        .await
        .expect("order created");
    let authzs = account
        .authorizations(&order)
        .await
        .expect("authorizations");
    assert_eq!(authzs.len(), names.len());
    for a in &authzs {
        let ch = a.require_dns01().expect("dns-01 offered");
        let value = account.dns01_txt_value(ch).expect("txt value");
        env.dns
            .set_txt(&a.dns01_record_name(), &value)
            .await
            .expect("TXT set");
    }
    for a in &authzs {
        account
            .respond(a.require_dns01().expect("dns-01"))
            .await
            .expect("responded");
    }
    for a in &authzs {
        account
            .wait_authorization(&a.url, deadline())
            .await
            .expect("authorization valid");
    }
    account
        .wait_order_ready(&order.url, deadline())
        .await
        .expect("order ready")
}

/// A whole issuance (authorize, finalize, wait, download) with a P-256 certificate key.
pub async fn issue(
    env: &Env,
    account: &Account,
    names: &[&str],
) -> (Order, CertKey, CertificateChain) {
    issue_with(env, account, names, CertKeyType::Ec256).await
}

/// A whole issuance with a certificate key of the given type.
pub async fn issue_with(
    env: &Env,
    account: &Account,
    names: &[&str],
    kind: CertKeyType,
) -> (Order, CertKey, CertificateChain) {
    let order = authorize(env, account, names).await;
    let key = CertKey::generate(kind).expect("cert key");
    let order = account
        .finalize_and_wait(&order, &key, deadline())
        .await
        .expect("finalized and valid");
    let chain = account
        .download_certificate(&order, None)
        .await
        .expect("downloaded");
    (order, key, chain)
}
