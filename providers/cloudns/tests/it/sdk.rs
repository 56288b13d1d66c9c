//! The fake proven by an independent ClouDNS client: ClouDNS publishes no Python SDK, so
//! `tests/sdk/prove.py` drives it with dns-lexicon's `cloudns` provider (its API endpoint
//! pointed at the fake): zone info, create (relative host, ttl), list filtered by type and
//! host (`[]` when empty), update (`mod-record`), delete by id and by content, a sub-user, and
//! the `Failed` answers for a wrong password and a zone that does not exist.

use crate::fake::{CloudnsFake, CloudnsFakeOptions, DEFAULT_LOGIN, FakeToken};

#[test]
fn an_independent_client_accepts_the_fake() {
    let fake = CloudnsFake::start(CloudnsFakeOptions {
        tokens: vec![
            FakeToken::full(DEFAULT_LOGIN),
            FakeToken::full("sub:77:SUBPASSWORD"),
        ],
        ..Default::default()
    })
    .expect("cloudns fake");
    for i in 0..12 {
        fake.seed(
            "example.test",
            "TXT",
            "many.example.test",
            &format!("seed-{i}"),
            300,
        );
    }
    let env = [
        ("CLOUDNS_BASE_URL", fake.base_url()),
        ("CLOUDNS_ID", "4321".into()),
        ("CLOUDNS_PASSWORD", "CLOUDNSPASSWORD".into()),
        ("CLOUDNS_DOMAIN", "example.test".into()),
    ];
    wildcert_testkit::prove_with_sdk(env!("CARGO_MANIFEST_DIR"), &["lexicon"], &env);
}
