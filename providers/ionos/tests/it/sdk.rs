//! The fake proven by an independent IONOS client: IONOS publishes no Python SDK for its
//! hosting DNS API, so `tests/sdk/prove.py` drives it with dns-lexicon's `ionos` provider (its
//! API root pointed at the fake): the zone lookup, create (a one-record array, TXT shown
//! quoted), list with `recordType`/`recordName`, update (delete + create), delete by id and by
//! content, 401 for an unknown key, 403 for a key without API access.

use crate::fake::{DEFAULT_KEY, FakeToken, IonosFake, IonosFakeOptions};

const NO_API: &str = "fedcba9876543210fedcba9876543210.NOAPIACCESSSECRET";

#[test]
fn an_independent_client_accepts_the_fake() {
    let no_api = FakeToken {
        dns_edit: false,
        ..FakeToken::full(NO_API)
    };
    let mut zones: Vec<String> = (0..4).map(|i| format!("a{i}.test")).collect();
    zones.push("example.test".into());
    let fake = IonosFake::start(IonosFakeOptions {
        zones,
        tokens: vec![FakeToken::full(DEFAULT_KEY), no_api],
        ..Default::default()
    })
    .expect("ionos fake");
    for i in 0..12 {
        fake.seed(
            "example.test",
            "TXT",
            "many.example.test",
            &format!("seed-{i}"),
            300,
        );
    }
    fake.seed("example.test", "A", "www.example.test", "192.0.2.7", 3600);
    let env = [
        ("IONOS_BASE_URL", fake.base_url()),
        ("IONOS_KEY", DEFAULT_KEY.into()),
        ("IONOS_KEY_NO_API", NO_API.into()),
        ("IONOS_DOMAIN", "example.test".into()),
        ("IONOS_ZONE_ID", fake.zone_uuid("example.test")),
    ];
    wildcert_testkit::prove_with_sdk(env!("CARGO_MANIFEST_DIR"), &["lexicon"], &env);
}
