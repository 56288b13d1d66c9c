//! The fake proven by Google's own clients: `tests/sdk/prove.py` drives it with
//! google-cloud-dns and google-auth (a service-account key whose `token_uri` is the fake, the
//! metadata server, impersonation; zones, paged RRsets, changes polled to `done`, the 409/412
//! traps, a private zone, 401/403).

use crate::fake::{ACCOUNT, FakeToken, GcloudFake, GcloudFakeOptions};

const CI: &str = "ci@wildcert-test.iam.gserviceaccount.com";
const READER: &str = "reader@wildcert-test.iam.gserviceaccount.com";

#[test]
fn the_official_sdk_accepts_the_fake() {
    let fake = GcloudFake::start(GcloudFakeOptions {
        zones: vec!["example.test".into(), "other.test".into()],
        private: vec!["example.test".into()],
        accounts: vec![
            FakeToken::full(ACCOUNT),
            FakeToken {
                zones: Some(Vec::new()),
                zone_read: false,
                dns_edit: false,
                ..FakeToken::full(CI)
            },
            FakeToken {
                dns_edit: false,
                ..FakeToken::full(READER)
            },
        ],
        metadata_account: Some(CI.into()),
        token_creators: vec![(CI.into(), ACCOUNT.into())],
        ..Default::default()
    })
    .expect("gcloud fake");
    // More RRsets than one page (100).
    for i in 0..150 {
        let name = format!("seed{i}.example.test");
        fake.seed_record("example.test", "TXT", &name, &format!("\"s{i}\""), 300)
            .expect("seed");
    }
    let env = [
        ("GC_BASE_URL", fake.base_url()),
        ("GC_KEY", fake.key_json(ACCOUNT)),
        ("GC_READER_KEY", fake.key_json(READER)),
        (
            "GC_UNKNOWN_KEY",
            fake.key_json("deleted@wildcert-test.iam.gserviceaccount.com"),
        ),
        ("GC_TARGET", ACCOUNT.into()),
        ("GCE_METADATA_HOST", fake.metadata_host()),
        ("GCE_METADATA_IP", fake.metadata_host()),
        ("NO_GCE_CHECK", "True".into()),
    ];
    wildcert_testkit::prove_with_sdk(
        env!("CARGO_MANIFEST_DIR"),
        &["google.cloud.dns", "google.auth"],
        &env,
    );
}
