//! The fake proven by OVH's own client: `tests/sdk/prove.py` drives it with the official `ovh`
//! Python client (`/auth/time` and the time delta, signed GET/POST/DELETE with bodies, zones,
//! records with filters, refresh, 404, the errors its exceptions are keyed on, a skewed clock,
//! and OAuth2 client credentials).

use crate::fake::{APP_KEY, APP_SECRET, CLIENT, CONSUMER_KEY, FakeToken, OvhFake, OvhFakeOptions};

const READ_ONLY: &str = "ReadOnlyConsumerKey0000000000001";

#[test]
fn the_official_sdk_accepts_the_fake() {
    let read_only = FakeToken {
        dns_edit: false,
        ..FakeToken::full(READ_ONLY)
    };
    let fake = OvhFake::start(OvhFakeOptions {
        zones: vec!["example.test".into(), "other.test".into()],
        consumers: vec![FakeToken::full(CONSUMER_KEY), read_only],
        clock_offset: -7200,
        ..Default::default()
    })
    .expect("ovh fake");
    for i in 0..45 {
        fake.seed(
            "example.test",
            "many.example.test",
            &format!("seed-{i}"),
            60,
        );
    }
    let env = [
        ("PROOF_BASE_URL", fake.base_url()),
        ("PROOF_TOKEN_URL", fake.token_url()),
        ("PROOF_AK", APP_KEY.into()),
        ("PROOF_AS", APP_SECRET.into()),
        ("PROOF_CK", CONSUMER_KEY.into()),
        ("PROOF_CK_READ_ONLY", READ_ONLY.into()),
        ("PROOF_CLIENT_ID", CLIENT.0.into()),
        ("PROOF_CLIENT_SECRET", CLIENT.1.into()),
        ("PROOF_ZONE", "example.test".into()),
        ("OAUTHLIB_INSECURE_TRANSPORT", "1".into()),
    ];
    wildcert_testkit::prove_with_sdk(env!("CARGO_MANIFEST_DIR"), &["ovh"], &env);
}
