//! The fake proven by DigitalOcean's own client: `tests/sdk/prove.py` drives it with the
//! official `pydo` SDK (domains, records with filters and pages, create/get/PUT/PATCH/delete,
//! 404, 422 for a TTL below 30, 401 and 403).

use crate::fake::{DEFAULT_TOKEN, DoFake, DoFakeOptions, FakeToken};

const READ_ONLY: &str = "dop_v1_readonly000000000000000000000000000000000000000000000000000000";

#[test]
fn the_official_sdk_accepts_the_fake() {
    let read_only = FakeToken {
        dns_edit: false,
        ..FakeToken::full(READ_ONLY)
    };
    let fake = DoFake::start(DoFakeOptions {
        zones: vec!["example.test".into(), "other.test".into()],
        tokens: vec![FakeToken::full(DEFAULT_TOKEN), read_only],
        ..Default::default()
    })
    .expect("digitalocean fake");
    for i in 0..45 {
        fake.seed(
            "example.test",
            "TXT",
            "many.example.test",
            &format!("seed-{i}"),
            60,
        );
    }
    let env = [
        ("DO_BASE_URL", fake.base_url()),
        ("DO_TOKEN", DEFAULT_TOKEN.into()),
        ("DO_TOKEN_READ_ONLY", READ_ONLY.into()),
        ("DO_ZONE", "example.test".into()),
    ];
    wildcert_testkit::prove_with_sdk(env!("CARGO_MANIFEST_DIR"), &["pydo"], &env);
}
