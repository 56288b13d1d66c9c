//! The fake proven by Hetzner's own client: `tests/sdk/prove.py` drives it with the official
//! `hcloud` Python SDK (zones, paged RRsets, add/remove/set_records actions polled to the end, a
//! failing action, 401, a read-only token, a secondary zone).

use crate::fake::{FakeToken, HetznerFake, HetznerFakeOptions};

const TOKEN: &str = crate::fake::DEFAULT_TOKEN;
const READ_ONLY: &str = "wildcertFakeHetznerCloudProjectTokenReadOnly00000000000000000002";

#[test]
fn the_official_sdk_accepts_the_fake() {
    let fake = HetznerFake::start(HetznerFakeOptions {
        zones: vec!["example.test".into(), "other.test".into()],
        secondary: vec!["secondary.test".into()],
        tokens: vec![
            FakeToken::full(TOKEN),
            FakeToken {
                dns_edit: false,
                ..FakeToken::full(READ_ONLY)
            },
        ],
        failing_value: Some("action-fails".into()),
        ..Default::default()
    })
    .expect("hetzner fake");
    // More RRsets than one page (50).
    for i in 0..60 {
        let name = format!("seed{i}.example.test");
        fake.seed_record("example.test", "TXT", &name, &format!("\"s{i}\""), 300)
            .expect("seed");
    }
    let env = [
        ("HZ_BASE_URL", fake.base_url()),
        ("HZ_TOKEN", TOKEN.into()),
        ("HZ_TOKEN_READ_ONLY", READ_ONLY.into()),
        ("HZ_ZONE", "example.test".into()),
        ("HZ_ZONE_ID", fake.zone_id("example.test").expect("zone")),
    ];
    wildcert_testkit::prove_with_sdk(env!("CARGO_MANIFEST_DIR"), &["hcloud"], &env);
}
