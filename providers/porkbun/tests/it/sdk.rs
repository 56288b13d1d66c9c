//! The fake proven by independent Porkbun clients: `tests/sdk/prove.py` drives it with
//! `pkb_client` (the client certbot-dns-porkbun is built on) and dns-lexicon's `porkbun`
//! provider (ping, listAll in chunks, create/edit/retrieve/retrieveByNameType/delete/
//! deleteByNameType, TTL raised to 600, invalid key, not opted in, invalid domain).

use crate::fake::{API_KEY, PbFake, PbFakeOptions, SECRET_KEY};

#[test]
fn independent_clients_accept_the_fake() {
    let mut zones: Vec<String> = (0..1005).map(|i| format!("d{i:04}.test")).collect();
    zones.extend(["example.test".into(), "closed.test".into()]);
    let access: Vec<String> = zones
        .iter()
        .filter(|z| *z != "closed.test")
        .cloned()
        .collect();
    let fake = PbFake::start(PbFakeOptions {
        zones,
        api_access: Some(access),
        ..Default::default()
    })
    .expect("porkbun fake");
    fake.seed(
        "example.test",
        "TXT",
        "_acme-challenge.example.test",
        "foreign",
        600,
    );
    let env = [
        ("PB_API_URL", format!("{}/api/json/v3/", fake.base_url())),
        ("PB_API_KEY", API_KEY.into()),
        ("PB_SECRET_KEY", SECRET_KEY.into()),
        ("PB_ZONE", "example.test".into()),
        ("PB_CLOSED_ZONE", "closed.test".into()),
    ];
    wildcert_testkit::prove_with_sdk(env!("CARGO_MANIFEST_DIR"), &["pkb_client", "lexicon"], &env);
}
