//! The fake proven by an independent client: Bunny publishes no Python SDK of its own, so
//! `tests/sdk/prove.py` drives it with octodns-bunny (octoDNS's Bunny provider and its
//! `BunnyClient`): zone pages, a zone with its records, add, delete, 401, 404, populate.

use crate::fake::{API_KEY, BunnyFake, BunnyFakeOptions};

#[test]
fn an_independent_client_accepts_the_fake() {
    let mut zones: Vec<String> = (0..1003).map(|i| format!("z{i:04}.test")).collect();
    zones.extend(["example.test".into(), "sub.example.test".into()]);
    let fake = BunnyFake::start(BunnyFakeOptions {
        zones,
        ..Default::default()
    })
    .expect("bunny fake");
    fake.seed(
        "example.test",
        "TXT",
        "_acme-challenge.example.test",
        "foreign",
        300,
    );
    fake.seed("example.test", "A", "www.example.test", "192.0.2.1", 300);
    let env = [
        ("BUNNY_BASE_URL", fake.base_url()),
        ("BUNNY_KEY", API_KEY.into()),
        ("BUNNY_ZONE", "example.test".into()),
    ];
    wildcert_testkit::prove_with_sdk(env!("CARGO_MANIFEST_DIR"), &["octodns_bunny"], &env);
}
